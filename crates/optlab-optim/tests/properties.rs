//! Property tests of the optimizers: Adam's step bound (Kingma & Ba §2.1), lr = 0 is a no-op,
//! state round-trips through JSON bit-identically, the non-finite gradient policy, and typed
//! errors for invalid hyperparameters. Every optimizer of the registry's catalog is covered in
//! f32 and f64, the matrix-aware ones (Muon, Shampoo, SteepestDescent, Partition, MuonAdamW) in
//! several configurations (`cases`), on matrix-shaped parameters. Methods that step through a
//! closure (L-BFGS) are stepped with one ([`step`]), the same gradient as a function of x.

// Test helpers may panic on what the test itself set up.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use optlab_optim::optim::registry::{self, CATALOG, HyperMap};
use optlab_optim::{
    Eval, NonFinitePolicy, OptimError, Optimizer, OptimizerState, Param, Scalar, StepOutcome,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn map(v: Value) -> HyperMap {
    match v {
        Value::Object(m) => m,
        other => panic!("not a JSON object: {other}"),
    }
}

fn build<T: Scalar>(name: &str, hyper: &Value) -> Box<dyn Optimizer<T>> {
    registry::build::<T>(name, &map(hyper.clone()))
        .unwrap_or_else(|e| panic!("building {name} with {hyper}: {e}"))
}

/// Hyperparameters that switch on every state buffer an optimizer has (momentum, centering,
/// AMSGrad, grafting, ...) so that round-trips exercise the full state; defaults for the others.
fn full_state_hyper(name: &str) -> Value {
    match name {
        "SGD" => json!({"lr": 0.01, "momentum": 0.9, "nesterov": true, "weight_decay": 0.01}),
        "Adam" | "AdamW" => json!({"lr": 0.01, "amsgrad": true, "weight_decay": 0.01}),
        "RMSprop" => json!({"centered": true, "momentum": 0.5, "eps_root": 1e-8}),
        "Adagrad" => json!({"lr_decay": 0.01, "initial_accumulator_value": 0.1}),
        "NAdam" | "RAdam" => json!({"decoupled_weight_decay": true, "weight_decay": 0.01}),
        // Full left/right factors for layer.weight (4×3); head.weight (2×5) has a full left and
        // a diagonal right factor (5 > max_preconditioner_dim).
        "Shampoo" => json!({"momentum": 0.9, "grafting": "adam", "max_preconditioner_dim": 4,
                            "weight_decay": 0.01, "epsilon": 1e-6}),
        "SteepestDescent" => json!({"norm": "spectral", "normalized": false}),
        "Adafactor" => json!({"beta2_decay": -0.5, "weight_decay": 0.01, "d": 1.5}),
        "ASGD" => json!({"lambd": 0.01, "t0": 2.0, "weight_decay": 0.01}),
        // step_sizes[0] = 0: with lr = 0 the step sizes start (and stay) at 0. (PyTorch's
        // default minimum 1e-6 makes lr = 0 move by 1e-6: the lr only sets the initial size.)
        "Rprop" => json!({"etas": [0.4, 1.3], "step_sizes": [0.0, 10.0]}),
        "LBFGS" => json!({"history_size": 3, "max_iter": 4, "line_search_fn": "strong_wolfe"}),
        "AdamWScheduleFree" => json!({"warmup_steps": 2, "weight_decay": 0.01, "r": 1.0}),
        "SGDScheduleFree" => json!({"warmup_steps": 2, "weight_decay": 0.01}),
        "Lion" => json!({"betas": [0.95, 0.98], "weight_decay": 0.1}),
        // layer.weight → Shampoo (roots every second step), head.weight → the default (AMSGrad).
        "Partition" => json!({
            "routes": [{"params": "layer.*", "optimizer": "Shampoo", "momentum": 0.5,
                        "grafting": "adagrad", "precondition_frequency": 2, "epsilon": 1e-6}],
            "default": {"optimizer": "Adam", "amsgrad": true, "weight_decay": 0.01}
        }),
        _ => json!({}),
    }
}

/// What a NaN or ±∞ gradient entry does to a step under [`NonFinitePolicy::Ignore`] (no check).
#[derive(Clone, Copy, Debug, PartialEq)]
enum OnIgnore {
    /// The step is applied and the value flows into the parameters (a NaN reaches them).
    Applied,
    /// The step needs a decomposition that refuses a non-finite input (Shampoo's
    /// eigendecomposition on a step that recomputes its roots, an SVD): it is refused with
    /// [`OptimError::Numerical`] naming the parameter and step, and changes nothing.
    Refused,
}

/// An optimizer configuration under test.
struct Case {
    name: &'static str,
    hyper: Value,
    on_ignore: OnIgnore,
}

/// Every optimizer of the catalog with [`full_state_hyper`], then further configurations of the
/// matrix-aware methods (other orthogonalizers, root schedules, nested partitions).
fn cases() -> Vec<Case> {
    let refusing = ["Shampoo", "SteepestDescent"];
    let mut out: Vec<Case> = CATALOG
        .iter()
        .map(|info| Case {
            name: info.name,
            hyper: full_state_hyper(info.name),
            on_ignore: if refusing.contains(&info.name) {
                OnIgnore::Refused
            } else {
                OnIgnore::Applied
            },
        })
        .collect();
    let more = [
        // L-BFGS without line search (one closure call per iteration, none at the last).
        (
            "LBFGS",
            json!({"max_iter": 3, "history_size": 2}),
            OnIgnore::Applied,
        ),
        (
            "Muon",
            json!({"orthogonalizer": "svd", "nesterov": false, "weight_decay": 0.05}),
            OnIgnore::Refused,
        ),
        (
            "Muon",
            json!({"orthogonalizer": "polar_express", "ns_steps": 8,
                   "adjust_lr_fn": "match_rms_adamw"}),
            OnIgnore::Applied,
        ),
        // Step 2 reuses the roots of step 1: the non-finite statistic is not decomposed.
        (
            "Shampoo",
            json!({"precondition_frequency": 2, "momentum": 0.5, "beta2": 0.9, "epsilon": 1e-6}),
            OnIgnore::Applied,
        ),
        // Step 1 before preconditioning (grafted Adagrad step), step 2 computes the first roots.
        (
            "Shampoo",
            json!({"start_preconditioning_step": 2, "precondition_frequency": 3,
                   "grafting": "adagrad", "epsilon": 1e-6}),
            OnIgnore::Refused,
        ),
        (
            "SteepestDescent",
            json!({"norm": "spectral", "spectral_method": "newton_schulz"}),
            OnIgnore::Applied,
        ),
        (
            "SteepestDescent",
            json!({"norm": "linf", "groups": [{"params": "head.*", "norm": "l1"}]}),
            OnIgnore::Applied,
        ),
        (
            "MuonAdamW",
            json!({"orthogonalizer": "polar_express", "adamw_lr": 0.01}),
            OnIgnore::Applied,
        ),
        // The refusing route is the first one stepped, so the partition changes nothing.
        (
            "Partition",
            json!({"routes": [{"params": "head.*", "optimizer": "SteepestDescent",
                               "norm": "spectral"}],
                   "default": {"optimizer": "RMSprop", "centered": true, "momentum": 0.9}}),
            OnIgnore::Refused,
        ),
        // A nested partition, and Muon (SVD) on the other matrix.
        (
            "Partition",
            json!({"routes": [
                {"params": "head.*", "optimizer": "Partition",
                 "routes": [{"params": "all", "optimizer": "SGD", "momentum": 0.9}]},
                {"params": "all", "optimizer": "Muon", "orthogonalizer": "svd"}
            ]}),
            OnIgnore::Applied,
        ),
    ];
    out.extend(more.into_iter().map(|(name, hyper, on_ignore)| Case {
        name,
        hyper,
        on_ignore,
    }));
    out
}

/// Paths of every learning rate of `name`'s map `hyper`, as errors name them, with the map
/// that sets only that one to `lr`: the fields `lr` and `*_lr` of the optimizer's defaults (set
/// or not), and recursively those of a partition's routes and default (the default routes
/// written out when `hyper` has none).
fn lr_variants(name: &str, hyper: &Value, lr: f64) -> Vec<(String, Value)> {
    let defaults = (registry::lookup(name).expect("a catalog name").defaults)();
    let mut hyper = hyper.clone();
    let mut out = Vec::new();
    for key in defaults.as_object().into_iter().flatten().map(|(k, _)| k) {
        if key == "lr" || key.ends_with("_lr") {
            let mut h = hyper.clone();
            h[key] = json!(lr);
            out.push((key.clone(), h));
        }
    }
    if let Some(routes) = defaults.get("routes") {
        if hyper.get("routes").is_none() {
            hyper["routes"] = routes.clone();
        }
        let routes = hyper["routes"].as_array().cloned().unwrap_or_default();
        for (k, r) in routes.iter().enumerate() {
            let opt = r["optimizer"]
                .as_str()
                .expect("a route names its optimizer");
            for (path, r) in lr_variants(opt, r, lr) {
                let mut h = hyper.clone();
                h["routes"][k] = r;
                out.push((format!("routes[{k}].{path}"), h));
            }
        }
        if let Some(d) = hyper.get("default").filter(|d| d.is_object()).cloned() {
            let opt = d["optimizer"]
                .as_str()
                .expect("the default names its optimizer");
            for (path, d) in lr_variants(opt, &d, lr) {
                let mut h = hyper.clone();
                h["default"] = d;
                out.push((format!("default.{path}"), h));
            }
        }
    }
    out
}

/// `hyper` with every learning rate (see [`lr_variants`]) set to `lr`.
fn with_all_lrs(name: &str, hyper: &Value, lr: f64) -> Value {
    let defaults = (registry::lookup(name).expect("a catalog name").defaults)();
    let mut h = hyper.clone();
    for key in defaults.as_object().into_iter().flatten().map(|(k, _)| k) {
        if key == "lr" || key.ends_with("_lr") {
            h[key] = json!(lr);
        }
    }
    if let Some(routes) = defaults.get("routes") {
        if h.get("routes").is_none() {
            h["routes"] = routes.clone();
        }
        for r in h["routes"].as_array_mut().into_iter().flatten() {
            let opt = r["optimizer"]
                .as_str()
                .expect("a route names its optimizer")
                .to_string();
            *r = with_all_lrs(&opt, r, lr);
        }
        if let Some(d) = h.get_mut("default").filter(|d| d.is_object()) {
            let opt = d["optimizer"]
                .as_str()
                .expect("the default names its optimizer")
                .to_string();
            *d = with_all_lrs(&opt, d, lr);
        }
    }
    h
}

/// Parameters a 4×3 matrix and a 2×5 matrix (matrices so that matrix methods apply too).
fn params<T: Scalar>(x0: &[f64]) -> Vec<Param<T>> {
    let mut it = x0.iter().map(|&v| T::of(v));
    let a: Vec<T> = it.by_ref().take(12).collect();
    let b: Vec<T> = it.take(10).collect();
    vec![
        Param::new("layer.weight", [4, 3], a).expect("12 values"),
        Param::new("head.weight", [2, 5], b).expect("10 values"),
    ]
}

/// A deterministic gradient that changes with the step: g = x − c + 0.3 sin(k + i), the
/// gradient of f_k(x) = Σ ½ (x_i − c_i)² + 0.3 sin(k + i) x_i, which it returns.
fn set_grads<T: Scalar>(ps: &mut [Param<T>], c: &[f64], k: usize) -> f64 {
    let mut i = 0;
    let mut f = 0.0;
    for p in ps.iter_mut() {
        for (g, x) in p.grad.iter_mut().zip(&p.data) {
            let (x, w) = (x.as_f64(), 0.3 * ((k + i) as f64).sin());
            *g = T::of(x - c[i] + w);
            f += 0.5 * (x - c[i]) * (x - c[i]) + w * x;
            i += 1;
        }
    }
    f
}

/// Step k on f_k ([`set_grads`]), with `bad` written into head.weight[7] of every gradient:
/// through a closure for methods that need one, else with the gradient set first.
fn step<T: Scalar>(
    opt: &mut dyn Optimizer<T>,
    ps: &mut [Param<T>],
    c: &[f64],
    k: usize,
    bad: Option<f64>,
) -> Result<StepOutcome, OptimError> {
    let grads = |ps: &mut [Param<T>]| {
        let f = set_grads(ps, c, k);
        if let Some(b) = bad {
            ps[1].grad[7] = T::of(b);
        }
        f
    };
    if opt.requires_closure() {
        let mut closure = |ps: &mut [Param<T>], _: Eval| Ok(grads(ps));
        opt.step_with_closure(ps, &mut closure).map(|s| s.outcome)
    } else {
        grads(ps);
        opt.step(ps)
    }
}

fn bits<T: Scalar>(ps: &[Param<T>]) -> Vec<u64> {
    ps.iter()
        .flat_map(|p| p.data.iter().map(|x| x.as_f64().to_bits()))
        .collect()
}

fn state_bits<T: Scalar>(s: &OptimizerState<T>) -> Vec<u64> {
    s.params
        .iter()
        .flat_map(|p| p.buffers.iter())
        .flat_map(|b| b.data.iter().map(|x| x.as_f64().to_bits()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Adam's step bound.
// ---------------------------------------------------------------------------------------------

/// Kingma & Ba (2015), §2.1: |Δ_t| ≤ α (1 − β₁)/√(1 − β₂) if (1 − β₁) > √(1 − β₂), else ≤ α.
fn kingma_ba_bound(b1: f64, b2: f64) -> f64 {
    if 1.0 - b1 > (1.0 - b2).sqrt() {
        (1.0 - b1) / (1.0 - b2).sqrt()
    } else {
        1.0
    }
}

/// The bound that holds for every gradient sequence (ε = 0; ε > 0 only shrinks the step). With
/// m_t = (1 − β₁) Σ β₁^(t−i) g_i and v_t = (1 − β₂) Σ β₂^(t−i) g_i², Cauchy–Schwarz on
/// Σ (β₁/√β₂)^(t−i) · √β₂^(t−i) g_i gives
///
/// ```text
/// |Δ_t| / α = |m_t|/(1 − β₁ᵗ) / √(v_t/(1 − β₂ᵗ))
///           ≤ (1 − β₁)/(1 − β₁ᵗ) · √( (1 − β₂ᵗ)/(1 − β₂) · Σ_{k<t} (β₁²/β₂)^k ).
/// ```
///
/// It equals 1 at t = 1 and tends to K&B's (1 − β₁)/√(1 − β₂) · 1/√(1 − β₁²/β₂): K&B's bound is
/// exact for the cases §2.1 discusses (constant gradient magnitude: ≤ α; a gradient that was
/// zero until now: α(1 − β₁)/√(1 − β₂)), but a gradient growing by β₂/β₁ per step exceeds it by
/// up to 1/√(1 − β₁²/β₂) (≈ 2.3 for the default betas); see `kingma_ba_bound_is_not_universal`.
fn cauchy_schwarz_bound(b1: f64, b2: f64, t: i32) -> f64 {
    let r = b1 * b1 / b2;
    let s: f64 = (0..t).map(|k| r.powi(k)).sum();
    (1.0 - b1) / (1.0 - b1.powi(t)) * ((1.0 - b2.powi(t)) / (1.0 - b2) * s).sqrt()
}

/// Runs Adam (f64) on one coordinate per gradient sequence and returns, for each step t, the
/// largest |Δ_t| over coordinates and the largest |x| (for the rounding slack).
fn adam_steps(lr: f64, b1: f64, b2: f64, eps: f64, seqs: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let n = seqs.len();
    let steps = seqs.iter().map(Vec::len).max().unwrap_or(0);
    let mut p = vec![Param::<f64>::vector("x", vec![0.0; n])];
    let mut opt = build::<f64>("Adam", &json!({"lr": lr, "betas": [b1, b2], "eps": eps}));
    let mut out = Vec::with_capacity(steps);
    for t in 0..steps {
        for (g, s) in p[0].grad.iter_mut().zip(seqs) {
            *g = s.get(t).copied().unwrap_or(0.0);
        }
        let before = p[0].data.clone();
        opt.step(&mut p).expect("finite gradients");
        let step = p[0]
            .data
            .iter()
            .zip(&before)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let xmax = p[0].data.iter().map(|x| x.abs()).fold(0.0, f64::max);
        out.push((step, xmax));
    }
    out
}

/// Gradient entries spanning many magnitudes, both signs, and exact zeros.
fn grad_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        1 => Just(0.0),
        8 => (-6.0f64..6.0, any::<bool>())
            .prop_map(|(e, neg)| if neg { -(10f64.powf(e)) } else { 10f64.powf(e) }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every gradient sequence: |Δ_t| ≤ α · cauchy_schwarz_bound(β₁, β₂, t) (ε only helps).
    #[test]
    fn adam_step_is_bounded_for_every_gradient_sequence(
        lr in 1e-3f64..1.0,
        b1 in 0.0f64..0.99,
        b2 in 0.5f64..0.9999,
        eps in prop_oneof![Just(1e-8), Just(1e-12), Just(1e-3)],
        seqs in prop::collection::vec(prop::collection::vec(grad_value(), 1..40), 1..6),
    ) {
        for (t, (step, xmax)) in adam_steps(lr, b1, b2, eps, &seqs).into_iter().enumerate() {
            let bound = lr * cauchy_schwarz_bound(b1, b2, t as i32 + 1);
            let slack = 1e-12 * (1.0 + xmax);
            prop_assert!(step <= bound * (1.0 + 1e-9) + slack,
                "step {} of size {step} > {bound} (lr {lr}, betas ({b1}, {b2}))", t + 1);
        }
    }

    /// Gradients of constant magnitude G (any signs), K&B's typical case: m̂ is an average of
    /// ±G and v̂ = G² exactly, so |Δ_t| ≤ α ≤ α · kingma_ba_bound.
    #[test]
    fn adam_step_obeys_kingma_ba_for_constant_magnitude_gradients(
        lr in 1e-3f64..1.0,
        b1 in 0.0f64..0.99,
        b2 in 0.5f64..0.9999,
        magnitude in 1e-4f64..1e4,
        signs in (1usize..60).prop_flat_map(|len| {
            // Sequences of one length: a shorter one would be padded with zero gradients.
            prop::collection::vec(prop::collection::vec(any::<bool>(), len), 1..6)
        }),
    ) {
        let seqs: Vec<Vec<f64>> = signs
            .iter()
            .map(|s| s.iter().map(|&neg| if neg { -magnitude } else { magnitude }).collect())
            .collect();
        for (t, (step, xmax)) in adam_steps(lr, b1, b2, 0.0, &seqs).into_iter().enumerate() {
            let slack = 1e-12 * (1.0 + xmax);
            prop_assert!(step <= lr * (1.0 + 1e-12) + slack, "step {}: {step} > {lr}", t + 1);
            prop_assert!(step <= lr * kingma_ba_bound(b1, b2) * (1.0 + 1e-12) + slack);
        }
    }
}

#[test]
fn kingma_ba_bound_is_reached_by_a_sparse_gradient() {
    // Zero gradient for 20000 steps, then one nonzero: Δ = α(1 − β₁)/√(1 − β₂) (bias
    // corrections → 1), K&B's first case, with equality. (ε > 0 keeps the zero steps 0/ε = 0
    // instead of 0/0; at the last step it is negligible next to √v̂ ≈ 0.08.)
    let (lr, b1, b2) = (0.1, 0.9, 0.999);
    let mut seq = vec![0.0; 20_000];
    seq.push(2.5);
    let steps = adam_steps(lr, b1, b2, 1e-12, &[seq]);
    let last = steps.last().map(|s| s.0).unwrap_or(0.0);
    let kb = lr * kingma_ba_bound(b1, b2);
    assert!((last - kb).abs() <= 1e-6 * kb, "{last} vs {kb}");
}

#[test]
fn kingma_ba_bound_is_not_universal() {
    // A flat history, then a gradient growing by β₂/β₁ per step (the Cauchy–Schwarz extremal
    // sequence): the step exceeds K&B's α(1 − β₁)/√(1 − β₂) ≈ 3.16α but stays within the
    // universal bound (→ 7.27α).
    let (lr, b1, b2): (f64, f64, f64) = (1.0, 0.9, 0.999);
    let mut seq = vec![1e-3; 3000];
    seq.extend((0..80).map(|k| (b2 / b1).powi(k)));
    let steps = adam_steps(lr, b1, b2, 1e-8, std::slice::from_ref(&seq));
    let worst = steps.iter().map(|s| s.0).fold(0.0, f64::max);
    let kb = lr * kingma_ba_bound(b1, b2);
    let cs = lr * cauchy_schwarz_bound(b1, b2, seq.len() as i32);
    println!("largest step {worst:.4}, K&B bound {kb:.4}, Cauchy–Schwarz bound {cs:.4}");
    assert!(worst > 2.0 * kb, "{worst} vs {kb}");
    assert!(worst <= cs * (1.0 + 1e-9), "{worst} vs {cs}");
}

// ---------------------------------------------------------------------------------------------
// lr = 0 and state round-trips, for every optimizer of the catalog.
// ---------------------------------------------------------------------------------------------

fn lr_zero_is_a_no_op<T: Scalar>(x0: &[f64], c: &[f64], steps: usize) {
    for case in cases() {
        // Every learning rate: a partition's routes and default, MuonAdamW's `adamw_lr`.
        let hyper = with_all_lrs(case.name, &case.hyper, 0.0);
        let mut opt = build::<T>(case.name, &hyper);
        assert_eq!(opt.lr(), 0.0, "{} {hyper}", case.name);
        let mut ps = params::<T>(x0);
        let before = bits(&ps);
        for k in 0..steps {
            step(opt.as_mut(), &mut ps, c, k, None).expect("finite gradients");
        }
        assert_eq!(opt.steps(), steps as u64);
        assert_eq!(
            bits(&ps),
            before,
            "{} {} ({}) moved with lr = 0",
            case.name,
            case.hyper,
            T::NAME
        );
    }
}

fn state_round_trip<T: Scalar>(x0: &[f64], c: &[f64], k: usize, m: usize) {
    for case in cases() {
        let label = format!("{} {} ({})", case.name, case.hyper, T::NAME);
        let mut a = build::<T>(case.name, &case.hyper);
        let mut pa = params::<T>(x0);
        for s in 0..k {
            step(a.as_mut(), &mut pa, c, s, None).expect("finite gradients");
        }
        let json = serde_json::to_string(&a.state()).expect("state serializes");
        let loaded: OptimizerState<T> = serde_json::from_str(&json).expect("state parses");
        assert_eq!(state_bits(&loaded), state_bits(&a.state()), "{label}");
        let mut b = build::<T>(case.name, &case.hyper);
        b.load_state(&loaded).expect("state loads");
        assert_eq!(b.steps(), a.steps());
        let mut pb = pa.clone();
        for s in k..k + m {
            step(a.as_mut(), &mut pa, c, s, None).expect("finite gradients");
            step(b.as_mut(), &mut pb, c, s, None).expect("finite gradients");
            assert_eq!(
                bits(&pa),
                bits(&pb),
                "{label}: step {} differs after reload",
                s + 1
            );
        }
        assert_eq!(state_bits(&a.state()), state_bits(&b.state()), "{label}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn lr_zero_leaves_parameters_unchanged(
        x0 in prop::collection::vec(-3.0f64..3.0, 22),
        c in prop::collection::vec(-3.0f64..3.0, 22),
        steps in 1usize..6,
    ) {
        lr_zero_is_a_no_op::<f32>(&x0, &c, steps);
        lr_zero_is_a_no_op::<f64>(&x0, &c, steps);
    }

    #[test]
    fn state_round_trips_through_json_bit_identically(
        x0 in prop::collection::vec(-3.0f64..3.0, 22),
        c in prop::collection::vec(-3.0f64..3.0, 22),
        k in 1usize..8,
        m in 1usize..5,
    ) {
        state_round_trip::<f32>(&x0, &c, k, m);
        state_round_trip::<f64>(&x0, &c, k, m);
    }
}

#[test]
fn state_of_another_optimizer_is_refused() {
    let x0: Vec<f64> = (0..22).map(|i| i as f64 * 0.1).collect();
    let mut a = build::<f64>("Adagrad", &json!({}));
    let mut ps = params::<f64>(&x0);
    step(a.as_mut(), &mut ps, &x0, 0, None).expect("finite gradients");
    let mut b = build::<f64>("RMSprop", &json!({}));
    let e = b
        .load_state(&a.state())
        .expect_err("Adagrad state into RMSprop");
    assert!(e.to_string().contains("Adagrad"), "{e}");
    // Same optimizer, different layout (centered RMSprop has `grad_avg`).
    let mut c = build::<f64>("RMSprop", &json!({"centered": true}));
    c.step(&mut ps).expect("finite gradients");
    let e = b
        .load_state(&c.state())
        .expect_err("centered state into plain RMSprop");
    assert!(e.to_string().contains("grad_avg"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Non-finite gradients.
// ---------------------------------------------------------------------------------------------

fn nonfinite_policies<T: Scalar>(bad: f64) {
    let x0: Vec<f64> = (0..22).map(|i| (i as f64 * 0.7).sin()).collect();
    let c: Vec<f64> = (0..22).map(|i| (i as f64 * 0.3).cos()).collect();
    for case in cases() {
        let label = format!("{} {} ({}, gradient {bad})", case.name, case.hyper, T::NAME);
        // One finite step; step 2 has `bad` at head.weight[7].
        let setup = |policy| {
            let mut opt = build::<T>(case.name, &case.hyper);
            opt.set_nonfinite_policy(policy);
            let mut ps = params::<T>(&x0);
            step(opt.as_mut(), &mut ps, &c, 0, None).expect("finite gradients");
            (opt, ps)
        };
        let bad_step = |opt: &mut Box<dyn Optimizer<T>>, ps: &mut Vec<Param<T>>| {
            step(opt.as_mut(), ps, &c, 1, Some(bad))
        };
        // Two finite steps: what a refused or skipped step 2 must not have changed.
        let reference = {
            let mut opt = build::<T>(case.name, &case.hyper);
            let mut ps = params::<T>(&x0);
            for k in 0..2 {
                step(opt.as_mut(), &mut ps, &c, k, None).expect("finite gradients");
            }
            (bits(&ps), state_bits(&opt.state()))
        };
        // After a step that changed nothing, the finite step 2 gives exactly the reference.
        let retry = |opt: &mut Box<dyn Optimizer<T>>, ps: &mut Vec<Param<T>>| {
            assert_eq!(
                step(opt.as_mut(), ps, &c, 1, None),
                Ok(StepOutcome::Applied),
                "{label}"
            );
            assert_eq!(opt.steps(), 2, "{label}");
            assert_eq!((bits(ps), state_bits(&opt.state())), reference, "{label}");
        };

        // Error: names parameter, index and step; changes nothing.
        let (mut opt, mut ps) = setup(NonFinitePolicy::Error);
        let (before, state_before) = (bits(&ps), state_bits(&opt.state()));
        match bad_step(&mut opt, &mut ps) {
            Err(OptimError::NonFiniteGradient {
                param, index, step, ..
            }) => {
                assert_eq!(
                    (param.as_str(), index, step),
                    ("head.weight", 7, 2),
                    "{label}"
                );
            }
            other => panic!("{label}: expected NonFiniteGradient, got {other:?}"),
        }
        assert_eq!(bits(&ps), before, "{label}");
        assert_eq!(state_bits(&opt.state()), state_before, "{label}");
        assert_eq!(opt.steps(), 1);
        retry(&mut opt, &mut ps);

        // Skip: reports, changes nothing, the next finite step proceeds as step 2.
        let (mut opt, mut ps) = setup(NonFinitePolicy::Skip);
        let (before, state_before) = (bits(&ps), state_bits(&opt.state()));
        let outcome = bad_step(&mut opt, &mut ps).expect("skipped, not an error");
        assert_eq!(
            outcome,
            StepOutcome::Skipped {
                param: "head.weight".into(),
                index: 7
            },
            "{label}"
        );
        assert_eq!(bits(&ps), before, "{label}");
        assert_eq!(state_bits(&opt.state()), state_before, "{label}");
        assert_eq!(opt.steps(), 1);
        retry(&mut opt, &mut ps);

        // Ignore: no check.
        let (mut opt, mut ps) = setup(NonFinitePolicy::Ignore);
        let (before, state_before) = (bits(&ps), state_bits(&opt.state()));
        match case.on_ignore {
            // The step is applied; a NaN reaches the parameter (±∞ may not: sign descent
            // turns it into a finite step).
            OnIgnore::Applied => {
                assert_eq!(
                    bad_step(&mut opt, &mut ps),
                    Ok(StepOutcome::Applied),
                    "{label}"
                );
                assert_eq!(opt.steps(), 2);
                assert_ne!(bits(&ps), before, "{label}");
                if bad.is_nan() {
                    assert!(
                        ps[1].data.iter().any(|x| x.is_nan()),
                        "{label}: NaN did not reach the parameter"
                    );
                }
            }
            // A decomposition refuses the non-finite input: a typed error, and nothing changed
            // (layer.weight, handled before head.weight, included).
            OnIgnore::Refused => {
                match bad_step(&mut opt, &mut ps) {
                    Err(OptimError::Numerical { param, step, .. }) => {
                        assert_eq!((param.as_str(), step), ("head.weight", 2), "{label}");
                    }
                    other => panic!("{label}: expected a Numerical error, got {other:?}"),
                }
                assert_eq!(bits(&ps), before, "{label}");
                assert_eq!(state_bits(&opt.state()), state_before, "{label}");
                assert_eq!(opt.steps(), 1);
                retry(&mut opt, &mut ps);
            }
        }
    }
}

#[test]
fn nonfinite_gradient_policies() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        nonfinite_policies::<f32>(bad);
        nonfinite_policies::<f64>(bad);
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid hyperparameters.
// ---------------------------------------------------------------------------------------------

/// `(optimizer, hyperparameters, field named in the error, allowed range named in the error)`.
const INVALID: &[(&str, &str, &str, &str)] = &[
    ("SGD", r#"{"momentum": 1.5}"#, "momentum", "[0, 1]"),
    ("SGD", r#"{"dampening": -0.1}"#, "dampening", "[0, 1]"),
    ("SGD", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    ("Adam", r#"{"betas": [1.0, 0.999]}"#, "betas[0]", "[0, 1)"),
    ("Adam", r#"{"betas": [0.9, -0.1]}"#, "betas[1]", "[0, 1)"),
    ("Adam", r#"{"eps": -1e-8}"#, "eps", "≥ 0"),
    ("AdamW", r#"{"weight_decay": -0.01}"#, "weight_decay", "≥ 0"),
    ("Adagrad", r#"{"lr_decay": -1}"#, "lr_decay", "≥ 0"),
    ("Adagrad", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    (
        "Adagrad",
        r#"{"initial_accumulator_value": -0.1}"#,
        "initial_accumulator_value",
        "≥ 0",
    ),
    ("Adagrad", r#"{"eps": -1}"#, "eps", "≥ 0"),
    ("Adagrad", r#"{"eps_root": -1}"#, "eps_root", "≥ 0"),
    ("RMSprop", r#"{"alpha": 1.01}"#, "alpha", "[0, 1]"),
    ("RMSprop", r#"{"eps": -1}"#, "eps", "≥ 0"),
    ("RMSprop", r#"{"eps_root": -1}"#, "eps_root", "≥ 0"),
    ("RMSprop", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    ("RMSprop", r#"{"momentum": -0.5}"#, "momentum", "[0, 1]"),
    ("Adadelta", r#"{"rho": 1.5}"#, "rho", "[0, 1]"),
    ("Adadelta", r#"{"eps": -1}"#, "eps", "≥ 0"),
    ("Adadelta", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    ("NAdam", r#"{"betas": [0.9, 1.0]}"#, "betas[1]", "[0, 1)"),
    ("NAdam", r#"{"eps": -1}"#, "eps", "≥ 0"),
    ("NAdam", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    (
        "NAdam",
        r#"{"momentum_decay": -1}"#,
        "momentum_decay",
        "≥ 0",
    ),
    ("RAdam", r#"{"betas": [-0.1, 0.999]}"#, "betas[0]", "[0, 1)"),
    ("RAdam", r#"{"eps": -1}"#, "eps", "≥ 0"),
    ("RAdam", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    ("Adamax", r#"{"betas": [0.9, 2.0]}"#, "betas[1]", "[0, 1)"),
    ("Adamax", r#"{"eps": -1}"#, "eps", "≥ 0"),
    ("Adamax", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    ("Adam", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    ("AdamW", r#"{"betas": [0.9, 1.0]}"#, "betas[1]", "[0, 1)"),
    ("AdamW", r#"{"eps": -1}"#, "eps", "≥ 0"),
    ("Muon", r#"{"momentum": 1.5}"#, "momentum", "[0, 1]"),
    ("Muon", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    ("Muon", r#"{"eps": 0}"#, "eps", "> 0"),
    ("Muon", r#"{"ns_steps": 100}"#, "ns_steps", "[0, 100)"),
    ("Shampoo", r#"{"beta2": 0}"#, "beta2", "(0, 1]"),
    ("Shampoo", r#"{"beta2": 1.5}"#, "beta2", "(0, 1]"),
    ("Shampoo", r#"{"epsilon": 0}"#, "epsilon", "> 0"),
    ("Shampoo", r#"{"momentum": 1.0}"#, "momentum", "[0, 1)"),
    ("Shampoo", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    (
        "Shampoo",
        r#"{"precondition_frequency": 0}"#,
        "precondition_frequency",
        "≥ 1",
    ),
    (
        "Shampoo",
        r#"{"start_preconditioning_step": 0}"#,
        "start_preconditioning_step",
        "≥ 1",
    ),
    (
        "Shampoo",
        r#"{"max_preconditioner_dim": 0}"#,
        "max_preconditioner_dim",
        "≥ 1",
    ),
    (
        "Shampoo",
        r#"{"grafting_beta2": 1.0}"#,
        "grafting_beta2",
        "[0, 1)",
    ),
    (
        "Shampoo",
        r#"{"grafting_epsilon": 0}"#,
        "grafting_epsilon",
        "> 0",
    ),
    (
        "SteepestDescent",
        r#"{"spectral_steps": 100}"#,
        "spectral_steps",
        "[0, 100)",
    ),
    ("Adafactor", r#"{"beta2_decay": 0.5}"#, "beta2_decay", "≤ 0"),
    ("Adafactor", r#"{"eps": [-1, 0.001]}"#, "eps[0]", "≥ 0"),
    ("Adafactor", r#"{"eps": [null, -1]}"#, "eps[1]", "≥ 0"),
    ("Adafactor", r#"{"d": 0.5}"#, "d", "≥ 1"),
    (
        "Adafactor",
        r#"{"weight_decay": -1}"#,
        "weight_decay",
        "≥ 0",
    ),
    ("ASGD", r#"{"lambd": -1}"#, "lambd", "≥ 0"),
    ("ASGD", r#"{"alpha": -1}"#, "alpha", "≥ 0"),
    ("ASGD", r#"{"t0": -1}"#, "t0", "≥ 0"),
    ("ASGD", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    ("Rprop", r#"{"etas": [1.0, 1.2]}"#, "etas[0]", "(0, 1)"),
    ("Rprop", r#"{"etas": [0.5, 1.0]}"#, "etas[1]", "> 1"),
    (
        "Rprop",
        r#"{"step_sizes": [-1, 50]}"#,
        "step_sizes[0]",
        "≥ 0",
    ),
    (
        "Rprop",
        r#"{"step_sizes": [1.0, 0.5]}"#,
        "step_sizes[1]",
        "≥ step_sizes[0]",
    ),
    ("LBFGS", r#"{"max_iter": 0}"#, "max_iter", "≥ 1"),
    ("LBFGS", r#"{"max_eval": 0}"#, "max_eval", "≥ 1"),
    (
        "LBFGS",
        r#"{"tolerance_grad": -1}"#,
        "tolerance_grad",
        "≥ 0",
    ),
    (
        "LBFGS",
        r#"{"tolerance_change": -1}"#,
        "tolerance_change",
        "≥ 0",
    ),
    ("LBFGS", r#"{"history_size": 0}"#, "history_size", "≥ 1"),
    (
        "AdamWScheduleFree",
        r#"{"betas": [0.0, 0.999]}"#,
        "betas[0]",
        "(0, 1)",
    ),
    (
        "AdamWScheduleFree",
        r#"{"betas": [0.9, 1.0]}"#,
        "betas[1]",
        "[0, 1)",
    ),
    ("AdamWScheduleFree", r#"{"eps": -1}"#, "eps", "≥ 0"),
    (
        "AdamWScheduleFree",
        r#"{"weight_decay": -1}"#,
        "weight_decay",
        "≥ 0",
    ),
    ("AdamWScheduleFree", r#"{"r": -1}"#, "r", "≥ 0"),
    (
        "AdamWScheduleFree",
        r#"{"weight_lr_power": -1}"#,
        "weight_lr_power",
        "≥ 0",
    ),
    (
        "SGDScheduleFree",
        r#"{"momentum": 1.0}"#,
        "momentum",
        "(0, 1)",
    ),
    (
        "SGDScheduleFree",
        r#"{"weight_decay": -1}"#,
        "weight_decay",
        "≥ 0",
    ),
    ("SGDScheduleFree", r#"{"r": -1}"#, "r", "≥ 0"),
    (
        "SGDScheduleFree",
        r#"{"weight_lr_power": -1}"#,
        "weight_lr_power",
        "≥ 0",
    ),
    ("Lion", r#"{"betas": [1.5, 0.99]}"#, "betas[0]", "[0, 1]"),
    ("Lion", r#"{"betas": [0.9, -0.1]}"#, "betas[1]", "[0, 1]"),
    ("Lion", r#"{"weight_decay": -1}"#, "weight_decay", "≥ 0"),
    // MuonAdamW: Muon's fields under their names, AdamW's with the `adamw_` prefix.
    ("MuonAdamW", r#"{"momentum": 1.5}"#, "momentum", "[0, 1]"),
    (
        "MuonAdamW",
        r#"{"weight_decay": -1}"#,
        "weight_decay",
        "≥ 0",
    ),
    ("MuonAdamW", r#"{"eps": 0}"#, "eps", "> 0"),
    ("MuonAdamW", r#"{"ns_steps": 100}"#, "ns_steps", "[0, 100)"),
    (
        "MuonAdamW",
        r#"{"adamw_betas": [1.0, 0.95]}"#,
        "adamw_betas[0]",
        "[0, 1)",
    ),
    ("MuonAdamW", r#"{"adamw_eps": -1}"#, "adamw_eps", "≥ 0"),
    (
        "MuonAdamW",
        r#"{"adamw_weight_decay": -1}"#,
        "adamw_weight_decay",
        "≥ 0",
    ),
    // Partition: the field's path in the partition's config.
    (
        "Partition",
        r#"{"routes": [{"params": "ndim>=2", "optimizer": "Shampoo", "beta2": 0}]}"#,
        "routes[0].beta2",
        "(0, 1]",
    ),
    (
        "Partition",
        r#"{"routes": [{"params": "ndim>=2", "optimizer": "Muon"}],
            "default": {"optimizer": "SGD", "momentum": 1.5}}"#,
        "default.momentum",
        "[0, 1]",
    ),
    (
        "Partition",
        r#"{"routes": [{"params": "*.weight", "optimizer": "Muon"},
                       {"params": "all", "optimizer": "Partition",
                        "routes": [{"params": "all", "optimizer": "AdamW", "betas": [0.9, 1.0]}]}]}"#,
        "routes[1].routes[0].betas[1]",
        "[0, 1)",
    ),
    (
        "Partition",
        r#"{"routes": [{"params": "all", "optimizer": "SGD",
                        "groups": [{"params": "*.bias", "dampening": 2}]}]}"#,
        "routes[0].dampening",
        "[0, 1]",
    ),
];

/// Values of the wrong type or outside an enumeration, and malformed routes: the error names the
/// field (or route) and lists what is accepted. `(optimizer, hyperparameters, substrings)`.
const MALFORMED: &[(&str, &str, &[&str])] = &[
    (
        "SGD",
        r#"{"momentum": 0.9, "lr": "fast"}"#,
        &["`lr`", "fast"],
    ),
    (
        "Shampoo",
        r#"{"grafting": "sgd"}"#,
        &["`grafting`", "adagrad"],
    ),
    (
        "Muon",
        r#"{"orthogonalizer": "qr"}"#,
        &["`orthogonalizer`", "polar_express"],
    ),
    (
        "Muon",
        r#"{"adjust_lr_fn": "sqrt"}"#,
        &["`adjust_lr_fn`", "match_rms_adamw"],
    ),
    (
        "SteepestDescent",
        r#"{"norm": "l3"}"#,
        &["`norm`", "spectral"],
    ),
    (
        "SteepestDescent",
        r#"{"spectral_method": "qr"}"#,
        &["`spectral_method`", "newton_schulz"],
    ),
    (
        "MuonAdamW",
        r#"{"muon_params": "ndim>>2"}"#,
        &["`muon_params`"],
    ),
    (
        "MuonAdamW",
        r#"{"adamw_beta": 0.9}"#,
        &["adamw_beta", "adamw_betas"],
    ),
    (
        "Partition",
        r#"{"lr": 0.1}"#,
        &["`lr`", "routes", "default"],
    ),
    (
        "Partition",
        r#"{"routes": [{"params": "all"}]}"#,
        &["`routes`", "optimizer"],
    ),
    (
        "Partition",
        r#"{"routes": [{"params": "all", "optimizer": "Muon", "ns_step": 5}]}"#,
        &["routes[0] (Muon)", "ns_step", "ns_steps"],
    ),
    (
        "Partition",
        r#"{"routes": [{"params": "all", "optimizer": "Adamz"}]}"#,
        &["routes[0]", "Adamz", "AdamW"],
    ),
    ("Partition", r#"{"routes": []}"#, &["routes", "default"]),
    // Integer counts: a negative or fractional value is refused by type.
    (
        "AdamWScheduleFree",
        r#"{"warmup_steps": -1}"#,
        &["`warmup_steps`"],
    ),
    (
        "SGDScheduleFree",
        r#"{"warmup_steps": 2.5}"#,
        &["`warmup_steps`"],
    ),
    (
        "LBFGS",
        r#"{"line_search_fn": "wolfe"}"#,
        &["`line_search_fn`", "strong_wolfe"],
    ),
    ("Adafactor", r#"{"eps": 0.001}"#, &["`eps`"]),
];

fn invalid_field(name: &str, hyper: &Value) -> Option<(String, String)> {
    match registry::build::<f64>(name, &map(hyper.clone())) {
        Err(OptimError::InvalidHyperparameter { field, allowed, .. }) => Some((field, allowed)),
        _ => None,
    }
}

/// Whether the optimizer takes parameter groups at the top level (partitions take them per route).
fn takes_groups(name: &str) -> bool {
    registry::build::<f64>(name, &map(json!({"groups": [{"params": "*.bias"}]}))).is_ok()
}

#[test]
fn invalid_hyperparameters_name_field_and_range() {
    for (name, hyper, field, allowed) in INVALID {
        let hyper: Value = serde_json::from_str(hyper).expect("valid JSON in the table");
        let got = invalid_field(name, &hyper);
        assert!(
            got.as_ref()
                .is_some_and(|(f, a)| f == field && a.contains(allowed)),
            "{name} {hyper}: expected `{field}` with range {allowed}, got {got:?}"
        );
        // The same check through parameter groups: a group inherits and overrides fields.
        let mut grouped = json!({"groups": [{"params": "*.bias"}]});
        for (k, v) in hyper.as_object().into_iter().flatten() {
            grouped["groups"][0][k] = v.clone();
        }
        if takes_groups(name) {
            let got = invalid_field(name, &grouped);
            assert!(
                got.is_some_and(|(f, _)| &f == field),
                "{name}: group override not validated"
            );
        } else {
            let e = registry::build::<f64>(name, &map(grouped))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("`groups` is not supported"), "{name}: {e}");
        }
    }
    // Every learning rate of every optimizer is checked, where it lives: `lr`, MuonAdamW's
    // `adamw_lr`, a partition's `routes[k].lr` and `default.lr` (also NaN, which JSON cannot
    // carry, via the typed config).
    for case in cases() {
        let variants = lr_variants(case.name, &case.hyper, -0.1);
        assert!(!variants.is_empty(), "{}", case.name);
        for (path, hyper) in variants {
            let got = invalid_field(case.name, &hyper);
            assert!(
                got.as_ref()
                    .is_some_and(|(f, a)| *f == path && a.contains("≥ 0")),
                "{} {hyper}: expected `{path}`, got {got:?}",
                case.name
            );
        }
    }
    let nan = optlab_optim::optim::adagrad::Adagrad::<f32>::new(
        optlab_optim::optim::adagrad::AdagradConfig {
            lr: f64::NAN,
            ..Default::default()
        },
    );
    assert!(matches!(nan, Err(OptimError::InvalidHyperparameter { field, .. }) if field == "lr"));
    let nan = optlab_optim::optim::muon::Muon::<f32>::new(optlab_optim::optim::muon::MuonConfig {
        ns_coefficients: [3.4445, f64::NAN, 2.0315],
        ..Default::default()
    });
    assert!(
        matches!(nan, Err(OptimError::InvalidHyperparameter { field, .. }) if field == "ns_coefficients[1]")
    );
    // Unknown fields are listed with the valid ones.
    let e = registry::build::<f64>("RAdam", &map(json!({"momentum": 0.9})))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("momentum") && e.contains("decoupled_weight_decay"),
        "{e}"
    );
    for (name, hyper, needles) in MALFORMED {
        let hyper: Value = serde_json::from_str(hyper).expect("valid JSON in the table");
        match registry::build::<f64>(name, &map(hyper.clone())) {
            Err(e @ OptimError::BadHyperparameters { .. }) => {
                let e = e.to_string();
                for n in *needles {
                    assert!(e.contains(n), "{name} {hyper}: `{n}` not in: {e}");
                }
            }
            other => panic!(
                "{name} {hyper}: expected BadHyperparameters, got {:?}",
                other.map(|o| o.name().to_string())
            ),
        }
    }
}

/// Every numeric field of every optimizer's defaults has a row in [`INVALID`], or in
/// [`MALFORMED`] for integer counts whose every value is valid (`warmup_steps`); the learning
/// rates are covered for all optimizers above; `ns_coefficients` accept any finite value and
/// are checked through the typed config, since JSON cannot carry a non-finite number.
#[test]
fn every_numeric_hyperparameter_has_an_invalid_value_tested() {
    let mut missing = Vec::new();
    for info in CATALOG {
        let defaults = (info.defaults)();
        for (key, value) in defaults.as_object().into_iter().flatten() {
            let numeric = value.is_number()
                || value
                    .as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_number));
            let exempt = key == "lr" || key.ends_with("_lr") || key == "ns_coefficients";
            let covered = INVALID.iter().any(|(name, _, field, _)| {
                *name == info.name && (field == key || field.starts_with(&format!("{key}[")))
            }) || MALFORMED.iter().any(|(name, _, needles)| {
                *name == info.name && needles.contains(&format!("`{key}`").as_str())
            });
            if numeric && !exempt && !covered {
                missing.push(format!("{}.{key}", info.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no invalid value tested for {missing:?}"
    );
    // Partitions: a route's field, the default's, a nested partition's, a route's groups.
    let paths: Vec<&str> = INVALID
        .iter()
        .filter(|r| r.0 == "Partition")
        .map(|r| r.2)
        .collect();
    assert!(paths.iter().any(|p| p.starts_with("routes[0].")));
    assert!(paths.iter().any(|p| p.starts_with("default.")));
    assert!(paths.iter().any(|p| p.matches("routes[").count() == 2));
}

/// `v` without its null fields (TOML has none: a field left at null, or a pair with a null
/// element such as Adafactor's default `eps = [null, 1e-3]`, is omitted, i.e. left at its
/// default).
fn without_nulls(v: &Value) -> Value {
    let has_null =
        |v: &Value| v.is_null() || v.as_array().is_some_and(|a| a.iter().any(Value::is_null));
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !has_null(v))
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// `name` built from `hyper` is the optimizer built from `{}`: same learning rate `lr`, and
/// three steps give bit-identical parameters and state.
fn same_as_defaults<T: Scalar>(name: &str, hyper: &Value, lr: f64) {
    let mut a = build::<T>(name, &json!({}));
    let mut b = build::<T>(name, hyper);
    assert_eq!((a.lr(), b.lr()), (lr, lr), "{name} {hyper}");
    let x0: Vec<f64> = (0..22).map(|i| (i as f64 * 0.37).sin()).collect();
    let (mut pa, mut pb) = (params::<T>(&x0), params::<T>(&x0));
    for k in 0..3 {
        step(a.as_mut(), &mut pa, &x0, k, None).expect("finite gradients");
        step(b.as_mut(), &mut pb, &x0, k, None).expect("finite gradients");
    }
    assert_eq!(bits(&pa), bits(&pb), "{name} {hyper}");
    assert_eq!(a.state(), b.state(), "{name} {hyper}");
}

#[test]
fn every_optimizer_builds_by_name_and_alias_with_its_defaults() {
    for info in CATALOG {
        for name in std::iter::once(&info.name).chain(info.aliases) {
            let opt = build::<f32>(name, &json!({}));
            assert_eq!(opt.name(), info.name, "{name}");
        }
        // The defaults `optlab list` prints build the same optimizer as `{}`, as JSON and
        // written as TOML (an experiment file). The learning rate reported is the `lr` field,
        // or for a partition its first route's.
        let defaults = (info.defaults)();
        let lr = defaults
            .get("lr")
            .or_else(|| defaults["routes"][0].get("lr"))
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{}: no learning rate in {defaults}", info.name));
        let text = toml::to_string(&without_nulls(&defaults)).expect("defaults write as TOML");
        let table: toml::Table = toml::from_str(&text).expect("TOML parses");
        let from_toml = serde_json::to_value(table).expect("TOML converts to JSON");
        for hyper in [&defaults, &from_toml] {
            same_as_defaults::<f32>(info.name, hyper, lr);
            same_as_defaults::<f64>(info.name, hyper, lr);
        }
    }
}
