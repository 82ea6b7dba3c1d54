//! Golden tests: every case of `../shared/fixtures/muon_traces.json` (PyTorch 2.15
//! `torch.optim.Muon`, Newton–Schulz in float64) replayed through the registry name "Muon".

mod common;

use optlab_optim::verify::{TraceFile, replay};

#[test]
fn muon_traces_match_pytorch_in_f64() {
    let Some(text) = common::fixture("muon_traces.json") else {
        return;
    };
    let file = TraceFile::from_json(&text).expect("fixture parses");
    assert_eq!(file.cases.len(), 3);
    let mut failures = Vec::new();
    for r in replay::<f64>(&file) {
        match r {
            Ok(rep) => {
                println!(
                    "{:<24} {:<6} {} steps, max rel err {:.3e} (step {}), loss rel err {:.3e}",
                    rep.name,
                    rep.optimizer,
                    rep.steps,
                    rep.max_rel_err,
                    rep.worst_step,
                    rep.loss_rel_err
                );
                if !(rep.max_rel_err <= 1e-10 && rep.loss_rel_err <= 1e-10) {
                    failures.push(format!("{}: {:.3e}", rep.name, rep.max_rel_err));
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}

#[test]
fn muon_traces_in_f32_stay_close() {
    let Some(text) = common::fixture("muon_traces.json") else {
        return;
    };
    let file = TraceFile::from_json(&text).expect("fixture parses");
    for r in replay::<f32>(&file) {
        let rep = r.expect("replay");
        println!("f32 {:<24} max rel err {:.3e}", rep.name, rep.max_rel_err);
        // 30 steps of f32 rounding (ε = 6e-8) through NS5, whose slope at small singular values
        // can amplify input errors by up to a⁵ ≈ 490: bound 490·ε·(a few) ≈ 1e-4; measured ≈ 1e-6.
        assert!(rep.max_rel_err <= 1e-4, "{rep:?}");
    }
}
