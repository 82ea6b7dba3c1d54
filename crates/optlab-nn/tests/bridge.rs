//! The bridge drives burn parameters exactly as optlab's optimizers drive plain `Param`s, and
//! presents them in PyTorch's layouts (`Linear` weights as `[out, in]`).
// Test helpers (outside #[test] functions) may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use burn::module::{Module, ParamId};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use optlab::optim::registry::{self, HyperMap};
use optlab::optim::sam::SamConfig;
use optlab::optim::wrap::Wrappers;
use optlab::param::Layout;
use optlab::{Eval, Param};
use optlab_nn::bridge::{GradBridge, HostBridge, read_params, write_params};
use optlab_nn::train::CpuBackend;
use serde_json::json;

type B = CpuBackend;

#[derive(Module, Debug)]
struct Tiny<B: Backend> {
    lin: Linear<B>,
    norm: LayerNorm<B>,
    blocks: Vec<Linear<B>>,
}

fn tiny() -> Tiny<B> {
    let device = Default::default();
    let model = Tiny {
        lin: LinearConfig::new(4, 3).init(&device),
        norm: LayerNormConfig::new(3).init(&device),
        blocks: vec![LinearConfig::new(3, 2).init(&device)],
    };
    // Deterministic values (burn's default init is random): w_i = sin(i + 1).
    let mut params = read_params(&model).unwrap();
    let mut i = 0.0f32;
    for p in &mut params {
        for x in &mut p.data {
            i += 1.0;
            *x = (i * 0.7).sin() * 0.5 + if p.name.ends_with("gamma") { 1.0 } else { 0.0 };
        }
    }
    write_params(model, &params, None).unwrap()
}

fn input() -> Tensor<B, 2> {
    let x: Vec<f32> = (0..20).map(|i| ((i as f32) * 0.37).cos()).collect();
    Tensor::from_data(TensorData::new(x, [5, 4]), &Default::default())
}

fn loss(m: &Tiny<B>) -> Tensor<B, 1> {
    let h = m
        .norm
        .forward(burn::tensor::activation::tanh(m.lin.forward(input())));
    let y = m.blocks[0].forward(h);
    (y.clone() * y).sum()
}

type Grads = <B as burn::tensor::backend::AutodiffBackend>::Gradients;

/// A parameter and its gradient read directly through burn's API (not the bridge).
fn p<const D: usize>(name: &str, t: Tensor<B, D>, grads: &Grads) -> Param<f32> {
    let shape = t.dims().to_vec();
    let g = t.grad(grads).unwrap().into_data().to_vec::<f32>().unwrap();
    let mut param = Param::new(name, shape, t.into_data().to_vec::<f32>().unwrap()).unwrap();
    param.grad = g;
    param
}

/// A `Linear` weight read through burn and transposed by burn (`[in, out]` → PyTorch's
/// `[out, in]`): the layout the bridge must present.
fn linear_weight(name: &str, t: Tensor<B, 2>, grads: &Grads) -> Param<f32> {
    let g = t.grad(grads).unwrap().transpose();
    let v = t.transpose();
    let shape = v.dims().to_vec();
    let mut param = Param::new(name, shape, v.into_data().to_vec::<f32>().unwrap()).unwrap();
    param.grad = g.into_data().to_vec::<f32>().unwrap();
    param
}

/// A model the bridge tests run: its loss, its parameters read directly through burn, and the
/// ids of some parameters.
trait Probe: burn::module::AutodiffModule<B> + Clone {
    fn loss(&self) -> Tensor<B, 1>;
    fn direct(&self, grads: &Grads) -> Vec<Param<f32>>;
    fn ids(&self) -> Vec<ParamId>;
}

impl Probe for Tiny<B> {
    fn loss(&self) -> Tensor<B, 1> {
        loss(self)
    }

    fn direct(&self, grads: &Grads) -> Vec<Param<f32>> {
        let m = self;
        vec![
            linear_weight("lin.weight", m.lin.weight.val(), grads),
            p("lin.bias", m.lin.bias.as_ref().unwrap().val(), grads),
            p("norm.gamma", m.norm.gamma.val(), grads),
            p("norm.beta", m.norm.beta.as_ref().unwrap().val(), grads),
            linear_weight("blocks.0.weight", m.blocks[0].weight.val(), grads),
            p(
                "blocks.0.bias",
                m.blocks[0].bias.as_ref().unwrap().val(),
                grads,
            ),
        ]
    }

    fn ids(&self) -> Vec<ParamId> {
        vec![
            self.lin.weight.id,
            self.norm.gamma.id,
            self.blocks[0].weight.id,
        ]
    }
}

/// Only weight matrices (no biases or norms): what plain Muon accepts.
#[derive(Module, Debug)]
struct Mats<B: Backend> {
    lin: Linear<B>,
    blocks: Vec<Linear<B>>,
}

fn mats() -> Mats<B> {
    let device = Default::default();
    let model = Mats {
        lin: LinearConfig::new(4, 3).with_bias(false).init(&device),
        blocks: vec![LinearConfig::new(3, 2).with_bias(false).init(&device)],
    };
    let mut params = read_params(&model).unwrap();
    let mut i = 0.0f32;
    for p in &mut params {
        for x in &mut p.data {
            i += 1.0;
            *x = (i * 0.9).cos() * 0.5;
        }
    }
    write_params(model, &params, None).unwrap()
}

impl Probe for Mats<B> {
    fn loss(&self) -> Tensor<B, 1> {
        let h = burn::tensor::activation::tanh(self.lin.forward(input()));
        let y = self.blocks[0].forward(h);
        (y.clone() * y).sum()
    }

    fn direct(&self, grads: &Grads) -> Vec<Param<f32>> {
        vec![
            linear_weight("lin.weight", self.lin.weight.val(), grads),
            linear_weight("blocks.0.weight", self.blocks[0].weight.val(), grads),
        ]
    }

    fn ids(&self) -> Vec<ParamId> {
        vec![self.lin.weight.id, self.blocks[0].weight.id]
    }
}

fn hyper(v: serde_json::Value) -> HyperMap {
    v.as_object().cloned().unwrap()
}

#[test]
fn params_are_named_by_module_path_with_pytorch_shapes() {
    let names: Vec<(String, Vec<usize>)> = read_params(&tiny())
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.shape))
        .collect();
    let expected = [
        ("lin.weight", vec![3, 4]), // burn stores Linear(4, 3) as [4, 3]
        ("lin.bias", vec![3]),
        ("norm.gamma", vec![3]),
        ("norm.beta", vec![3]),
        ("blocks.0.weight", vec![2, 3]),
        ("blocks.0.bias", vec![2]),
    ];
    let expected: Vec<(String, Vec<usize>)> = expected
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    assert_eq!(names, expected);
    // and the values are the transposes of burn's
    let model = tiny();
    let grads = loss(&model).backward();
    let direct = model.direct(&grads);
    let read = read_params(&model).unwrap();
    for (a, b) in read.iter().zip(&direct) {
        assert_eq!((&a.name, &a.shape, &a.data), (&b.name, &b.shape, &b.data));
    }
    // write_params takes the presented layout back to burn's
    let mut moved = read.clone();
    moved[0].data[1] = 42.0; // row 0 (output 0), column 1 (input 1)
    let model = write_params(model, &moved, None).unwrap();
    let w = model.lin.weight.val().into_data().to_vec::<f32>().unwrap();
    assert_eq!(
        w[3], 42.0,
        "burn [in, out]: input 1, output 0 is element 1·3 + 0"
    );
}

/// Three steps through the bridge equal three steps of the same optimizer on plain Params
/// holding the same values and gradients in PyTorch's layout, read and transposed by burn itself
/// (bit for bit: same f32 arithmetic). Returns the layouts the bridge held the parameters in.
fn bridge_matches_core<M: Probe>(mut model: M, name: &str, h: serde_json::Value) -> Vec<Layout> {
    let mut bridge = HostBridge::new(&model).unwrap();
    let mut through_bridge = registry::build::<f32>(name, &hyper(h.clone())).unwrap();
    let mut core = registry::build::<f32>(name, &hyper(h)).unwrap();
    let mut plain: Vec<Param<f32>> = Vec::new();
    let ids_before = model.ids();
    for step in 0..3 {
        let grads = model.loss().backward();
        let now = model.direct(&grads);
        if step == 0 {
            plain = now.clone();
        } else {
            // the plain copy has the values the core optimizer produced; take the new gradients
            for (p, n) in plain.iter_mut().zip(&now) {
                assert_eq!(p.data, n.data, "{name} step {step}: `{}` drifted", p.name);
                p.grad.clone_from(&n.grad);
            }
        }
        core.step(&mut plain).unwrap();
        GradBridge::<B, M>::load_grads(&mut bridge, &model, &grads).unwrap();
        for (b, c) in bridge.params().iter().zip(&now) {
            // the same logical gradient, whatever layout the bridge holds it in
            let b = b.to_layout(Layout::RowMajor);
            assert_eq!((&b.shape, &b.grad), (&c.shape, &c.grad), "`{}`", c.name);
        }
        model = GradBridge::<B, M>::step(&mut bridge, model, through_bridge.as_mut())
            .unwrap()
            .0;
    }
    let after = read_params(&model).unwrap();
    for (a, p) in after.iter().zip(&plain) {
        assert_eq!(a.data, p.data, "{name}: `{}` differs after 3 steps", p.name);
    }
    assert_eq!(ids_before, model.ids(), "parameter ids stay stable");
    assert_eq!(
        core.state(),
        through_bridge.state(),
        "{name}: optimizer states"
    );
    bridge.params().iter().map(|p| p.layout).collect()
}

/// `Linear` weights stay in burn's storage order (column-major in PyTorch's shape) for the
/// methods that accept it: no transposition per step.
fn weights_untransposed(layouts: &[Layout], weights: &[usize]) {
    for (i, l) in layouts.iter().enumerate() {
        let expected = if weights.contains(&i) {
            Layout::ColumnMajor
        } else {
            Layout::RowMajor
        };
        assert_eq!(*l, expected, "parameter {i}");
    }
}

/// Positions of the `Linear` weights of `tiny()`.
const TINY_WEIGHTS: [usize; 2] = [0, 4];

#[test]
fn sgd_through_bridge_equals_core() {
    let layouts = bridge_matches_core(
        tiny(),
        "SGD",
        json!({"lr": 0.1, "momentum": 0.9, "nesterov": true, "weight_decay": 0.01}),
    );
    weights_untransposed(&layouts, &TINY_WEIGHTS);
}

#[test]
fn adam_through_bridge_equals_core() {
    let layouts = bridge_matches_core(tiny(), "Adam", json!({"lr": 0.01, "weight_decay": 0.1}));
    weights_untransposed(&layouts, &TINY_WEIGHTS);
}

#[test]
fn adamw_with_groups_through_bridge_equals_core() {
    let layouts = bridge_matches_core(
        tiny(),
        "AdamW",
        json!({"lr": 0.01, "weight_decay": 0.1,
               "groups": [{"params": "ndim=1 | norm.*", "weight_decay": 0.0, "lr": 0.02}]}),
    );
    weights_untransposed(&layouts, &TINY_WEIGHTS);
}

#[test]
fn muon_through_bridge_equals_core_on_pytorch_layouts() {
    // "original" scales by √max(1, rows/cols): 1 for [3, 4] and [2, 3] (PyTorch's layout), but
    // √(4/3) and √(3/2) for burn's [4, 3] and [3, 2] — the layout is part of the semantics.
    // Muon steps the weights column-major (burn's storage order) with PyTorch's shapes.
    let layouts = bridge_matches_core(mats(), "Muon", json!({"lr": 0.02, "weight_decay": 0.1}));
    weights_untransposed(&layouts, &[0, 1]);
    let layouts = bridge_matches_core(
        mats(),
        "Muon",
        json!({"lr": 0.02, "adjust_lr_fn": "match_rms_adamw", "nesterov": false}),
    );
    weights_untransposed(&layouts, &[0, 1]);
}

#[test]
fn muon_adamw_partition_through_bridge_equals_core() {
    // the standard recipe: lin.weight and blocks.0.weight to Muon, biases and norm to AdamW
    let layouts = bridge_matches_core(tiny(), "MuonAdamW", json!({"lr": 0.02, "adamw_lr": 0.01}));
    weights_untransposed(&layouts, &TINY_WEIGHTS);
    let layouts = bridge_matches_core(
        tiny(),
        "Partition",
        json!({"routes": [
            {"params": "ndim>=2", "optimizer": "Muon", "lr": 0.05},
            {"params": "all", "optimizer": "SGD", "lr": 0.1, "momentum": 0.9},
        ]}),
    );
    weights_untransposed(&layouts, &TINY_WEIGHTS);
}

/// Shampoo preconditions rows and columns: the bridge hands it the weights transposed to
/// PyTorch's row-major layout (it does not accept column-major), with the same result as the
/// core optimizer on PyTorch's tensors; vectors take its diagonal form.
#[test]
fn shampoo_through_bridge_equals_core() {
    let layouts = bridge_matches_core(
        tiny(),
        "Shampoo",
        json!({"lr": 0.05, "momentum": 0.5, "grafting": "adagrad"}),
    );
    weights_untransposed(&layouts, &[]);
    // a partition sends only what goes to Shampoo through the transposition
    let layouts = bridge_matches_core(
        tiny(),
        "Partition",
        json!({"routes": [
            {"params": "lin.weight", "optimizer": "Shampoo", "lr": 0.05},
            {"params": "all", "optimizer": "AdamW", "lr": 0.01},
        ]}),
    );
    weights_untransposed(&layouts, &[4]);
}

/// Clipping is the optimizer wrapper `ClipGradNorm`: through the bridge, SGD(lr 1) moves the
/// weights by exactly −clip(g), with PyTorch's coefficient max_norm/(‖g‖ + 1e-6).
#[test]
fn clipping_scales_to_max_norm_like_pytorch() {
    let model = tiny();
    let grads = loss(&model).backward();
    let plain = model.direct(&grads);
    let norm: f64 = plain
        .iter()
        .flat_map(|p| p.grad.iter())
        .map(|&g| f64::from(g).powi(2))
        .sum::<f64>()
        .sqrt();
    for (max_norm, clipped) in [(norm / 4.0, true), (10.0 * norm, false)] {
        let w = Wrappers {
            clip_grad_norm: Some(max_norm),
            ..Default::default()
        };
        let mut opt = w
            .wrap(registry::build::<f32>("SGD", &hyper(json!({"lr": 1.0}))).unwrap())
            .unwrap();
        let mut bridge = HostBridge::new(&model).unwrap();
        GradBridge::<B, Tiny<B>>::load_grads(&mut bridge, &model, &grads).unwrap();
        let total = GradBridge::<B, Tiny<B>>::grad_norm(&bridge);
        assert!((total - norm).abs() < 1e-5 * norm, "{total} vs {norm}");
        let (after, _) =
            GradBridge::<B, Tiny<B>>::step(&mut bridge, model.clone(), opt.as_mut()).unwrap();
        let coef = if clipped {
            (max_norm / (total + 1e-6)) as f32
        } else {
            1.0
        };
        let mut moved = 0.0f64;
        for (a, p) in read_params(&after).unwrap().iter().zip(&plain) {
            for ((x, x0), g) in a.data.iter().zip(&p.data).zip(&p.grad) {
                let expected = x0 - g * coef;
                assert!(
                    (x - expected).abs() <= 1e-6 * (1.0 + expected.abs()),
                    "`{}`",
                    a.name
                );
                moved += f64::from(x0 - x).powi(2);
            }
        }
        let expected = if clipped { max_norm } else { norm };
        assert!((moved.sqrt() - expected).abs() < 1e-4 * expected, "{moved}");
    }
}

/// SAM with SGD: w ← w − lr ∇L(w + ρ g/‖g‖), computed by hand with burn; through the bridge
/// the wrapper `Sam` gets the second gradient from the bridge's closure.
#[test]
fn sam_uses_the_gradient_at_the_perturbed_point() {
    let (rho, lr) = (0.05f64, 0.1f64);
    let model = tiny();
    // by hand
    let g0 = model.direct(&loss(&model).backward());
    let norm = g0
        .iter()
        .flat_map(|p| p.grad.iter())
        .map(|&g| f64::from(g).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut shifted = g0.clone();
    for p in &mut shifted {
        for (x, g) in p.data.iter_mut().zip(&p.grad) {
            *x = *x + (rho / (norm + 1e-12)) as f32 * g;
        }
    }
    let perturbed = write_params(model.clone(), &shifted, None).unwrap();
    let g1 = perturbed.direct(&loss(&perturbed).backward());
    let expected: Vec<Vec<f32>> = g0
        .iter()
        .zip(&g1)
        .map(|(p, q)| {
            p.data
                .iter()
                .zip(&q.grad)
                .map(|(x, g)| x - lr as f32 * g)
                .collect()
        })
        .collect();
    // through the bridge and the SAM wrapper
    let w = Wrappers {
        sam: Some(SamConfig { rho }),
        ..Default::default()
    };
    let mut sam = w
        .wrap(registry::build::<f32>("SGD", &hyper(json!({"lr": lr}))).unwrap())
        .unwrap();
    let mut bridge = HostBridge::new(&model).unwrap();
    let l0 = loss(&model);
    let value: f64 = l0.clone().into_scalar().elem();
    GradBridge::<B, Tiny<B>>::load_grads(&mut bridge, &model, &l0.backward()).unwrap();
    let mut calls = 0;
    let (model, step) = GradBridge::<B, Tiny<B>>::step_with_closure(
        &mut bridge,
        model,
        sam.as_mut(),
        value,
        &mut |m: &Tiny<B>, ask: Eval| {
            calls += 1;
            let l = loss(m);
            let v: f64 = l.clone().into_scalar().elem();
            Ok((v, (ask == Eval::ValueAndGrad).then(|| l.backward())))
        },
    )
    .unwrap();
    assert_eq!(calls, 1, "the first gradient is the loaded one");
    assert_eq!(step.loss, value);
    for (a, e) in read_params(&model).unwrap().iter().zip(&expected) {
        for (x, y) in a.data.iter().zip(e) {
            assert!(
                (x - y).abs() <= 1e-6 * (1.0 + y.abs()),
                "`{}`: {x} vs {y}",
                a.name
            );
        }
    }
    let bad = Wrappers {
        sam: Some(SamConfig { rho: 0.0 }),
        ..Default::default()
    };
    assert!(
        bad.wrap(registry::build::<f32>("SGD", &HyperMap::new()).unwrap())
            .is_err()
    );
}

/// `used` always takes part in the loss, `unused` only when asked.
#[derive(Module, Debug)]
struct Partly<B: Backend> {
    used: Linear<B>,
    unused: Linear<B>,
}

fn partly() -> Partly<B> {
    let device = Default::default();
    let model = Partly {
        used: LinearConfig::new(4, 3).init(&device),
        unused: LinearConfig::new(4, 3).init(&device),
    };
    let mut params = read_params(&model).unwrap();
    let mut i = 0.0f32;
    for p in &mut params {
        for x in &mut p.data {
            i += 1.0;
            *x = (i * 0.3).sin() * 0.5;
        }
    }
    write_params(model, &params, None).unwrap()
}

fn partly_loss(m: &Partly<B>, with_unused: bool) -> Tensor<B, 1> {
    let mut y = m.used.forward(input());
    if with_unused {
        y = y + m.unused.forward(input());
    }
    (y.clone() * y).sum()
}

/// PyTorch skips a parameter whose `grad` is None: no update, no weight decay, no state. The
/// bridge steps the others exactly as the core optimizer steps them alone.
#[test]
fn a_parameter_without_gradient_is_skipped_like_pytorch() {
    for (name, h) in [
        (
            "SGD",
            json!({"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
        ),
        ("AdamW", json!({"lr": 0.01, "weight_decay": 0.5})),
        ("MuonAdamW", json!({"lr": 0.05, "adamw_weight_decay": 0.5})),
    ] {
        let mut model = partly();
        let start = read_params(&model).unwrap();
        let mut bridge = HostBridge::new(&model).unwrap();
        let mut through_bridge = registry::build::<f32>(name, &hyper(h.clone())).unwrap();
        let mut core = registry::build::<f32>(name, &hyper(h)).unwrap();
        let mut plain: Vec<Param<f32>> = Vec::new();
        for step in 0..3 {
            let grads = partly_loss(&model, false).backward();
            let now = vec![
                linear_weight("used.weight", model.used.weight.val(), &grads),
                p("used.bias", model.used.bias.as_ref().unwrap().val(), &grads),
            ];
            if step == 0 {
                plain = now;
            } else {
                for (q, n) in plain.iter_mut().zip(&now) {
                    q.grad.clone_from(&n.grad);
                }
            }
            core.step(&mut plain).unwrap();
            GradBridge::<B, Partly<B>>::load_grads(&mut bridge, &model, &grads).unwrap();
            assert_eq!(bridge.has_grad(), [true, true, false, false]);
            model = GradBridge::<B, Partly<B>>::step(&mut bridge, model, through_bridge.as_mut())
                .unwrap()
                .0;
        }
        let after = read_params(&model).unwrap();
        assert_eq!(after[0].data, plain[0].data, "{name}: used.weight");
        assert_eq!(after[1].data, plain[1].data, "{name}: used.bias");
        assert_eq!(
            after[2..],
            start[2..],
            "{name}: the unused layer did not move"
        );
        let state = through_bridge.state();
        assert_eq!(state, core.state(), "{name}: state only for the used layer");
        assert!(
            state.params.iter().all(|p| !p.name.contains("unused")),
            "{name}: {:?}",
            state.params.iter().map(|p| &p.name).collect::<Vec<_>>()
        );
    }
}

/// A parameter that has a gradient at the first step and none later (or the reverse) cannot be
/// skipped the way PyTorch skips it with position-keyed state: a clear error, not a silent
/// zero-gradient step.
#[test]
fn a_gradient_that_comes_and_goes_is_an_error() {
    for (first, second, now) in [(true, false, false), (false, true, true)] {
        let model = partly();
        let mut bridge = HostBridge::new(&model).unwrap();
        let mut opt = registry::build::<f32>("Adam", &hyper(json!({"lr": 0.01}))).unwrap();
        let grads = partly_loss(&model, first).backward();
        GradBridge::<B, Partly<B>>::load_grads(&mut bridge, &model, &grads).unwrap();
        let model = GradBridge::<B, Partly<B>>::step(&mut bridge, model, opt.as_mut())
            .unwrap()
            .0;
        let grads = partly_loss(&model, second).backward();
        GradBridge::<B, Partly<B>>::load_grads(&mut bridge, &model, &grads).unwrap();
        let e = GradBridge::<B, Partly<B>>::step(&mut bridge, model, opt.as_mut()).unwrap_err();
        match &e {
            optlab_nn::NnError::GradientComesAndGoes {
                param,
                step,
                now: n,
            } => {
                assert_eq!((param.as_str(), *step, *n), ("unused.weight", 2, now));
            }
            other => panic!("unexpected error {other}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("`unused.weight`") && text.contains("step 2"),
            "{text}"
        );
        assert_eq!(opt.steps(), 1, "the refused step changed nothing");
    }
}
