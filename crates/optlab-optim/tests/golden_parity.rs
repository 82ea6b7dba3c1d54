//! Golden tests: every case of `../shared/fixtures/parity_traces.json` (torch.optim `Adafactor`,
//! `ASGD`, `Rprop`, `LBFGS`; schedulefree 1.4.1 `AdamWScheduleFree`, `SGDScheduleFree`;
//! lion-pytorch 0.2.5 `Lion`; all float64) and of `parity_schedules.json` (`ConstantLR`,
//! `MultiplicativeLR`, `CyclicLR`, `ChainedScheduler`, `ReduceLROnPlateau` with its metrics),
//! replayed in f64 through the same code as `optlab verify`.
//!
//! The bar: at every step, ‖x_k − x_k^ref‖∞ / ‖x_k^ref‖∞ ≤ 1e-10 for the parameters, the losses
//! and (schedule-free) the evaluation-mode parameters x; for L-BFGS the number of closure calls
//! of every step equals PyTorch's; for schedules |α_k − α_k^ref| / |α_k^ref| ≤ 1e-10.

// Test helpers may panic on what the test itself set up.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use optlab_optim::verify::{self, ScheduleFile, TraceFile};

const F64_TOL: f64 = 1e-10;

#[test]
fn parity_traces_match_the_references_in_f64() {
    let Some(text) = common::fixture("parity_traces.json") else {
        return;
    };
    let file = TraceFile::from_json(&text).expect("fixture parses");
    let optimizers: std::collections::BTreeSet<&str> =
        file.cases.iter().map(|c| c.optimizer.as_str()).collect();
    assert_eq!(
        optimizers.into_iter().collect::<Vec<_>>(),
        [
            "ASGD",
            "Adafactor",
            "AdamWScheduleFree",
            "LBFGS",
            "Lion",
            "Rprop",
            "SGDScheduleFree"
        ]
    );
    let mut failures = Vec::new();
    let mut closure_cases = 0;
    let mut eval_cases = 0;
    for r in verify::replay::<f64>(&file) {
        match r {
            Ok(rep) => {
                let ok = rep.passes(F64_TOL);
                closure_cases += usize::from(rep.evals.is_some());
                eval_cases += usize::from(rep.eval_rel_err.is_some());
                println!(
                    "{:<20} {:<18} max rel err {:.3e} (step {}), loss {:.3e}{} {}",
                    rep.name,
                    rep.optimizer,
                    rep.max_rel_err,
                    rep.worst_step,
                    rep.loss_rel_err,
                    rep.details(),
                    if ok { "ok" } else { "FAIL" }
                );
                if !ok {
                    failures.push(format!("{}: {rep:?}", rep.name));
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
    assert_eq!(
        closure_cases, 2,
        "both L-BFGS cases replayed through a closure"
    );
    assert_eq!(eval_cases, 3, "the three schedule-free cases compared at x");
}

fn schedules(name: &str, expect_cases: usize) {
    let Some(text) = common::fixture(name) else {
        return;
    };
    let file = ScheduleFile::from_json(&text).expect("fixture parses");
    assert_eq!(file.cases.len(), expect_cases, "{name}");
    let mut failures = Vec::new();
    for r in verify::replay_schedules(&file) {
        match r {
            Ok(rep) => {
                println!(
                    "{:<20} {:<28} max rel err {:.3e} (step {})",
                    rep.name, rep.kind, rep.max_rel_err, rep.worst_step
                );
                // NaN fails too
                if rep.max_rel_err.is_nan() || rep.max_rel_err > F64_TOL {
                    failures.push(format!("{}: {:.3e}", rep.name, rep.max_rel_err));
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(failures.is_empty(), "{name}: {failures:#?}");
}

#[test]
fn parity_schedules_match_pytorch_in_f64() {
    schedules("parity_schedules.json", 7);
}

#[test]
fn schedules_replay_through_verify() {
    schedules("schedules.json", 8);
}
