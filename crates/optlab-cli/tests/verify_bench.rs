//! End-to-end tests of the `optlab` binary: `verify` and `bench optim`.

// Test helpers may panic on what the test itself set up.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn optlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_optlab"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("optlab runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `../shared/fixtures/optim_traces.json`, or `None` with a skip message.
fn fixture() -> Option<PathBuf> {
    shared_fixture("optim_traces.json")
}

/// `../shared/fixtures/NAME`, or `None` with a skip message.
fn shared_fixture(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} not found (../shared beside the repository root)",
            p.display()
        );
        None
    }
}

/// A small trace file written by the test itself: SGD on the trace problem, computed here.
fn own_trace(lr: f64, perturb: f64, extra: Value) -> Value {
    let x0: [f64; 3] = [0.5, -1.0, 2.0];
    let c = [0.0, 0.5, -0.5];
    let d = [1.0, 2.0, 3.0];
    let mut x = x0;
    let mut trace = Vec::new();
    for _ in 0..5 {
        for i in 0..3 {
            let g = d[i] * (x[i] - c[i]) + 0.5 * (3.0 * x[i]).sin();
            x[i] -= lr * g;
        }
        trace.push(x.to_vec());
    }
    trace[3][1] += perturb;
    let mut hyper = json!({"lr": lr});
    for (k, v) in extra.as_object().into_iter().flatten() {
        hyper[k] = v.clone();
    }
    json!({
        "problem": {"shapes": [[3]], "x0": x0, "c": c, "d": d},
        "cases": [{"name": "mine", "optimizer": "SGD", "hyper": hyper, "trace": trace}]
    })
}

fn write_temp(name: &str, v: &Value) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "optlab-cli-test-{}-{name}.json",
        std::process::id()
    ));
    std::fs::write(&p, serde_json::to_string(v).unwrap()).unwrap();
    p
}

#[test]
fn verify_passes_the_pytorch_fixture_in_f64_and_f32() {
    let Some(path) = fixture() else { return };
    let path = path.to_str().unwrap();
    let o = optlab(&["verify", path]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("nadam_default") && out.contains("max rel err"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("20 passed, 0 failed"));
    let o = optlab(&["verify", path, "--precision", "f32"]);
    assert!(o.status.success(), "{}", stdout(&o));
    // f32 cannot meet the f64 bar: a failure, a non-zero exit.
    let o = optlab(&["verify", path, "--precision", "f32", "--tolerance", "1e-12"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("exceed the tolerance"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn verify_accepts_a_correct_trace_and_rejects_a_wrong_one() {
    let good = write_temp("good", &own_trace(0.1, 0.0, json!({"foreach": false})));
    let o = optlab(&["verify", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("note: PyTorch implementation flags"),
        "{}",
        stdout(&o)
    );

    let bad = write_temp("bad", &own_trace(0.1, 1e-6, json!({})));
    let o = optlab(&["verify", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let out = stdout(&o);
    assert!(out.contains("FAIL") && out.contains("at step 4"), "{out}");
    // A looser tolerance accepts it.
    let o = optlab(&["verify", bad.to_str().unwrap(), "--tolerance", "1e-5"]);
    assert!(o.status.success(), "{}", stdout(&o));

    let unknown = write_temp("unknown", &own_trace(0.1, 0.0, json!({"momentun": 0.9})));
    let o = optlab(&["verify", unknown.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("momentun") && stdout(&o).contains("momentum"),
        "{}",
        stdout(&o)
    );

    let other = write_temp("other", &json!({"matrices": []}));
    let o = optlab(&["verify", other.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unrecognised trace format"),
        "{}",
        stderr(&o)
    );
    for p in [good, bad, unknown, other] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn verify_replays_orthogonalize_and_muon_fixtures() {
    let Some(ortho) = shared_fixture("orthogonalize.json") else {
        return;
    };
    let o = optlab(&["verify", ortho.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("NS5") && out.contains("PE8"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    assert!(
        out.lines().last().unwrap_or("").ends_with(", 0 failed"),
        "{out}"
    );
    // Changing one reference value makes that case fail.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&ortho).unwrap()).unwrap();
    let x = v["cases"][0]["polar"][0].as_f64().unwrap();
    v["cases"][0]["polar"][0] = json!(x + 1e-6);
    let bad = write_temp("ortho-bad", &v);
    let o = optlab(&["verify", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stdout(&o).contains("FAIL"), "{}", stdout(&o));
    // Other coefficients are refused, not reported as a mismatch.
    v["kj"][0] = json!(3.0);
    let other = write_temp("ortho-kj", &v);
    let o = optlab(&["verify", other.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("coefficients"), "{}", stderr(&o));
    for p in [bad, other] {
        let _ = std::fs::remove_file(p);
    }

    let Some(muon) = shared_fixture("muon_traces.json") else {
        return;
    };
    let o = optlab(&["verify", muon.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Muon"), "{}", stdout(&o));
}

#[test]
fn verify_replays_the_parity_and_schedule_fixtures() {
    for (name, cases, needles) in [
        (
            "parity_traces.json",
            13,
            &["closure calls match", "eval-mode rel err", "LBFGS", "Lion"][..],
        ),
        (
            "parity_schedules.json",
            7,
            &["ReduceLROnPlateau", "CyclicLR"][..],
        ),
        ("schedules.json", 8, &["OneCycleLR", "base lr 1"][..]),
    ] {
        let Some(path) = shared_fixture(name) else {
            return;
        };
        let o = optlab(&["verify", path.to_str().unwrap()]);
        let out = stdout(&o);
        assert!(o.status.success(), "{name}: {out}{}", stderr(&o));
        for n in needles {
            assert!(out.contains(n), "{name}: `{n}` not in {out}");
        }
        assert_eq!(
            out.lines().last(),
            Some(format!("{cases} passed, 0 failed").as_str()),
            "{name}"
        );
    }
}

#[test]
fn verify_checks_closure_calls_eval_points_metrics_and_unknown_fields() {
    let Some(traces) = shared_fixture("parity_traces.json") else {
        return;
    };
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&traces).unwrap()).unwrap();
    let case = |name: &str| {
        let mut file = v.clone();
        let cases = file["cases"].as_array().unwrap();
        let one = cases.iter().find(|c| c["name"] == name).unwrap().clone();
        file["cases"] = json!([one]);
        file
    };
    // One closure call more at step 3 than PyTorch made: a failure naming the step.
    let mut lbfgs = case("lbfgs_strong_wolfe");
    lbfgs["cases"][0]["evals"][2] = json!(6);
    let p = write_temp("evals", &lbfgs);
    let o = optlab(&["verify", p.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("closure calls differ at step 3: 5 (reference 6)"),
        "{}",
        stdout(&o)
    );
    // A wrong evaluation point fails even though the training point matches.
    let mut sf = case("sf_sgd");
    let x = sf["cases"][0]["eval_trace"][9][0].as_f64().unwrap();
    sf["cases"][0]["eval_trace"][9][0] = json!(x + 1e-6);
    let p2 = write_temp("eval-trace", &sf);
    let o = optlab(&["verify", p2.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stdout(&o).contains("eval-mode rel err"), "{}", stdout(&o));
    // Unknown fields of a case are errors, not ignored.
    let mut unknown = case("lion_default");
    unknown["cases"][0]["eval_traces"] = json!([]);
    let p3 = write_temp("unknown-field", &unknown);
    let o = optlab(&["verify", p3.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown field `eval_traces`"),
        "{}",
        stderr(&o)
    );

    let Some(schedules) = shared_fixture("parity_schedules.json") else {
        return;
    };
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&schedules).unwrap()).unwrap();
    // Without its metrics a ReduceLROnPlateau case cannot be replayed; another kind, an unknown
    // argument or a changed lr fail their case.
    let mut s = v.clone();
    s["cases"]["plateau"]
        .as_object_mut()
        .unwrap()
        .remove("metrics");
    s["cases"]["constant"]["spec"]["kind"] = json!("ConstantLr");
    s["cases"]["multiplicative"]["spec"]["lr_lambda"] = json!(0.95);
    let lr = s["cases"]["chained"]["lrs"][5].as_f64().unwrap();
    s["cases"]["chained"]["lrs"][5] = json!(lr * (1.0 + 1e-6));
    let p4 = write_temp("schedules-bad", &s);
    let o = optlab(&["verify", p4.to_str().unwrap()]);
    assert!(!o.status.success());
    let out = stdout(&o);
    for needle in [
        "needs `metrics`",
        "ConstantLr",
        "lr_lambda",
        "chained",
        "3 passed, 4 failed",
    ] {
        assert!(out.contains(needle), "`{needle}` not in {out}");
    }
    for p in [p, p2, p3, p4] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn bench_optim_prints_throughput_last() {
    let o = optlab(&[
        "bench",
        "optim",
        "--optimizer",
        "adamw",
        "--params",
        "20000",
        "--steps",
        "3",
        "--warmup",
        "1",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.contains("ms/step") && last.contains("Mparam/s") && last.contains("GB/s"),
        "{out}"
    );
    assert!(
        out.contains("AdamW f32") && out.contains("2 state values"),
        "{out}"
    );
    let o = optlab(&["bench", "optim", "--optimizer", "adamz", "--params", "10"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown optimizer"), "{}", stderr(&o));
    let o = optlab(&[
        "bench",
        "optim",
        "--optimizer",
        "sgd",
        "--params",
        "10",
        "--hyper",
        r#"{"lr": -1}"#,
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("`lr`"), "{}", stderr(&o));
}
