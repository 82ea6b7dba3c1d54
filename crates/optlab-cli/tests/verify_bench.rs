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
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/optim_traces.json");
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
