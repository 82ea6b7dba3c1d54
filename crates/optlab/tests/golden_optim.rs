//! Golden tests: every case of `../shared/fixtures/optim_traces.json` (PyTorch 2.15, float64).

mod common;

use optlab::verify::{TraceFile, replay};

#[test]
fn optim_traces_match_pytorch_in_f64() {
    let Some(text) = common::fixture("optim_traces.json") else {
        return;
    };
    let file = TraceFile::from_json(&text).expect("fixture parses");
    let mut failures = Vec::new();
    for r in replay::<f64>(&file) {
        match r {
            Ok(rep) => {
                println!(
                    "{:<28} {:<8} max rel err {:.3e} (step {})",
                    rep.name, rep.optimizer, rep.max_rel_err, rep.worst_step
                );
                let ok = rep.max_rel_err <= 1e-10 && rep.loss_rel_err <= 1e-10;
                if !ok {
                    failures.push(format!("{}: {:.3e}", rep.name, rep.max_rel_err));
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}
