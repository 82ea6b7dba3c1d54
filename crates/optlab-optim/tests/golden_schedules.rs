//! Golden tests: every case of `../shared/fixtures/schedules.json` (PyTorch 2.15 schedulers on SGD
//! with base lr 1.0; `lrs[k]` is the lr used at step k, read before the k-th `scheduler.step()`).
//!
//! optlab's schedules are closed forms in k. Six of PyTorch's schedulers are computed
//! *recursively* by `scheduler.step()` (their "chainable" `get_lr`: new lr = current lr × a
//! factor): `StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`, `LinearLR` and
//! `PolynomialLR`; the fixture was produced that way. `OneCycleLR` and
//! `CosineAnnealingWarmRestarts` are closed forms in PyTorch too. Besides the fixture check, this
//! file replays the recursive forms (transcribed from `torch/optim/lr_scheduler.py`) over a
//! longer horizon to show where the two forms could part:
//!
//! - rounding accumulates in the recursive form, one rounding per step (γ·γ·…·γ against γᵏ,
//!   products of cosine ratios against one cosine), i.e. O(k·ε) relative drift: over 2000 steps
//!   (80 periods of the fixture's `CosineAnnealingLR`) the two forms part by ~5e-13 relative,
//!   the others by ≤ 3e-15;
//! - `CosineAnnealingLR` at k ≡ T_max + 1 (mod 2·T_max): the ratio form would divide by
//!   1 + cos(π) = 0, so PyTorch switches to an additive branch there; both forms give exactly
//!   η_min at k = T_max (cos(π) = −1 exactly), so even with η_min = 0 the relative error stays
//!   at the drift level (checked below);
//! - `LinearLR`/`PolynomialLR` stop updating after `total_iters`, so the recursive form freezes
//!   its last rounded value (e.g. 1.0000000000000002 for the fixture's LinearLR) where the closed
//!   form recomputes `end_factor`·α₀ (1.0);
//! - and whenever something else changes the group's lr between steps (another scheduler, a
//!   manual change): the recursive form builds on it, the closed form ignores it.
//!
//! Over the 40 reference steps every closed form agrees with PyTorch to ≤ 1e-10 relative (the
//! test's bar; the observed errors are ~1e-15).

mod common;

use optlab_optim::schedule::ScheduleSpec;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Fixture {
    #[allow(dead_code)]
    doc: String,
    cases: BTreeMap<String, Case>,
}

#[derive(Deserialize)]
struct Case {
    spec: Value,
    lrs: Vec<f64>,
}

/// |a − ref| / |ref|, or |a − ref| / 1e-12 · 1e-10 where the reference is 0 (so that an absolute
/// error of 1e-12 there counts as the 1e-10 relative bar).
fn rel_err(a: f64, reference: f64) -> f64 {
    if reference == 0.0 {
        (a - reference).abs() / 1e-12 * 1e-10
    } else {
        ((a - reference) / reference).abs()
    }
}

fn load() -> Option<Fixture> {
    let text = common::fixture("schedules.json")?;
    match serde_json::from_str(&text) {
        Ok(f) => Some(f),
        Err(e) => panic!("schedules.json does not parse: {e}"),
    }
}

#[test]
fn schedules_match_pytorch_in_f64() {
    let Some(fixture) = load() else {
        return;
    };
    assert!(!fixture.cases.is_empty());
    let mut failures = Vec::new();
    for (name, case) in &fixture.cases {
        let spec: ScheduleSpec = serde_json::from_value(case.spec.clone())
            .unwrap_or_else(|e| panic!("{name}: spec {} does not parse: {e}", case.spec));
        let schedule = spec
            .build()
            .unwrap_or_else(|e| panic!("{name}: spec does not build: {e}"));
        assert_eq!(case.lrs.len(), 40, "{name}");
        let (worst, at) = case
            .lrs
            .iter()
            .enumerate()
            .map(|(k, &r)| (rel_err(schedule.lr(1.0, k as u64), r), k))
            .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
        println!(
            "{name:<14} {:<28} max rel err {worst:.3e} (step {at})",
            spec.kind()
        );
        if worst > 1e-10 {
            failures.push(format!("{name}: {worst:.3e} at step {at}"));
        }
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}

/// PyTorch's chainable `get_lr` for the recursive schedulers, from the fixture's spec (base lr
/// `base`), for steps 0..n; `None` for schedulers PyTorch defines in closed form.
fn chainable(spec: &Value, base: f64, n: usize) -> Option<Vec<f64>> {
    let f = |key: &str, default: f64| spec.get(key).and_then(Value::as_f64).unwrap_or(default);
    let u = |key: &str, default: u64| spec.get(key).and_then(Value::as_u64).unwrap_or(default);
    let kind = spec.get("kind")?.as_str()?;
    let mut lrs = Vec::with_capacity(n);
    let mut lr = base;
    for e in 0..n as u64 {
        lr = match kind {
            "StepLR" => {
                let (step_size, gamma) = (u("step_size", 0), f("gamma", 0.1));
                if e == 0 || e % step_size != 0 {
                    lr
                } else {
                    lr * gamma
                }
            }
            "MultiStepLR" => {
                let gamma = f("gamma", 0.1);
                let hits = spec["milestones"]
                    .as_array()?
                    .iter()
                    .filter(|m| m.as_u64() == Some(e))
                    .count();
                if hits == 0 {
                    lr
                } else {
                    lr * gamma.powi(hits as i32)
                }
            }
            "ExponentialLR" => {
                if e == 0 {
                    lr
                } else {
                    lr * f("gamma", 0.0)
                }
            }
            "CosineAnnealingLR" => {
                let (t_max, eta_min) = (u("T_max", 0) as f64, f("eta_min", 0.0));
                let pi = std::f64::consts::PI;
                let e = e as f64;
                if e == 0.0 {
                    lr
                } else if (e - 1.0 - t_max) % (2.0 * t_max) == 0.0 {
                    lr + (base - eta_min) * (1.0 - (pi / t_max).cos()) / 2.0
                } else {
                    (1.0 + (pi * e / t_max).cos()) / (1.0 + (pi * (e - 1.0) / t_max).cos())
                        * (lr - eta_min)
                        + eta_min
                }
            }
            "LinearLR" => {
                let (s, end, total) = (
                    f("start_factor", 1.0 / 3.0),
                    f("end_factor", 1.0),
                    u("total_iters", 5),
                );
                if e == 0 {
                    lr * s
                } else if e > total {
                    lr
                } else {
                    lr * (1.0 + (end - s) / (total as f64 * s + (e as f64 - 1.0) * (end - s)))
                }
            }
            "PolynomialLR" => {
                let (total, power) = (u("total_iters", 5), f("power", 1.0));
                if e == 0 || e > total {
                    lr
                } else {
                    let (e, t) = (e as f64, total as f64);
                    lr * ((1.0 - e / t) / (1.0 - (e - 1.0) / t)).powf(power)
                }
            }
            _ => return None,
        };
        lrs.push(lr);
    }
    Some(lrs)
}

#[test]
fn recursive_and_closed_forms_agree() {
    let Some(fixture) = load() else {
        return;
    };
    let mut recursive_kinds = 0;
    let mut failures = Vec::new();
    for (name, case) in &fixture.cases {
        let Some(rec) = chainable(&case.spec, 1.0, 40) else {
            continue;
        };
        recursive_kinds += 1;
        // The transcription reproduces PyTorch's numbers (to the last bits: same operations).
        let replica_err = rec
            .iter()
            .zip(&case.lrs)
            .map(|(&a, &r)| rel_err(a, r))
            .fold(0.0, f64::max);
        // Over a long horizon (many cosine periods, decays far below the fixture's 40 steps) the
        // closed form stays within the recursive form's accumulated rounding.
        let spec: ScheduleSpec = serde_json::from_value(case.spec.clone()).unwrap();
        let schedule = spec.build().unwrap();
        let n = 2000;
        let long = chainable(&case.spec, 1.0, n).unwrap();
        let drift = long
            .iter()
            .enumerate()
            .map(|(k, &r)| rel_err(schedule.lr(1.0, k as u64), r))
            .fold(0.0, f64::max);
        println!(
            "{name:<14} recursive replica vs PyTorch {replica_err:.2e}; closed vs recursive over {n} steps {drift:.2e}"
        );
        if replica_err > 1e-14 || drift > 1e-11 {
            failures.push(format!(
                "{name}: replica {replica_err:.2e}, drift {drift:.2e}"
            ));
        }
    }
    assert_eq!(
        recursive_kinds, 6,
        "the six chainable schedulers are in the fixture"
    );
    assert!(failures.is_empty(), "failures: {failures:#?}");
}

#[test]
fn cosine_with_zero_eta_min_agrees_near_zero() {
    // The case most exposed to relative error: η_min = 0, lr → 0 at k = T_max (mod 2·T_max).
    let spec = serde_json::json!({"kind": "CosineAnnealingLR", "T_max": 25});
    let schedule = serde_json::from_value::<ScheduleSpec>(spec.clone())
        .unwrap()
        .build()
        .unwrap();
    let rec = chainable(&spec, 1.0, 2000).unwrap();
    let worst = rec
        .iter()
        .enumerate()
        .map(|(k, &r)| rel_err(schedule.lr(1.0, k as u64), r))
        .fold(0.0, f64::max);
    println!(
        "CosineAnnealingLR(T_max = 25, eta_min = 0): closed vs recursive over 2000 steps {worst:.2e}"
    );
    assert!(worst < 1e-11, "{worst:e}");
    // At the minimum both are exactly 0 (cos(π) = −1 exactly), in every period.
    for k in [25, 75, 1975] {
        assert_eq!(schedule.lr(1.0, k), 0.0);
        assert_eq!(rec[k as usize], 0.0);
    }
}

#[test]
fn fixture_specs_roundtrip_through_toml() {
    let Some(fixture) = load() else {
        return;
    };
    #[derive(serde::Serialize, Deserialize)]
    struct Experiment {
        schedule: ScheduleSpec,
    }
    for (name, case) in &fixture.cases {
        let spec: ScheduleSpec = serde_json::from_value(case.spec.clone()).unwrap();
        let text = toml::to_string(&Experiment {
            schedule: spec.clone(),
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let back: Experiment = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back.schedule, spec, "{name}: {text}");
    }
}
