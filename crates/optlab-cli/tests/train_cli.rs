//! `optlab train` from the command line: errors are clear and exit non-zero; a tiny run writes
//! its outputs.
// Test helpers (outside #[test] functions) may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "nn")]

use std::process::Command;

fn optlab(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_optlab"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_preset_lists_the_valid_ones() {
    let (ok, _, err) = optlab(&["train", "mnist-mpl"]);
    assert!(!ok);
    for name in [
        "mnist-mpl",
        "mnist-mlp",
        "mnist-cnn",
        "digits-mlp",
        "shakespeare-gpt",
    ] {
        assert!(err.contains(name), "{name} not in {err}");
    }
}

#[test]
fn bad_field_names_the_valid_ones() {
    let (ok, _, err) = optlab(&["train", "digits-mlp", "--set", "model.widht=8"]);
    assert!(!ok);
    assert!(err.contains("widht") && err.contains("width"), "{err}");
    let (ok, _, err) = optlab(&["train", "digits-mlp", "--set", "optimizer.beta1=0.9"]);
    assert!(!ok);
    assert!(err.contains("beta1") && err.contains("betas"), "{err}");
}

#[test]
fn tiny_run_writes_outputs_and_resumes() {
    let out = std::env::temp_dir().join(format!("optlab-cli-train-{}", std::process::id()));
    let out_s = out.to_str().unwrap();
    let (ok, stdout, err) = optlab(&[
        "train",
        "digits-mlp",
        "--set",
        "model.width=16",
        "--set",
        "name=\"cli-digits\"",
        "--steps",
        "5",
        "--out",
        out_s,
        "--quiet",
    ]);
    assert!(ok, "{err}");
    assert!(
        stdout.contains("5 steps") && stdout.contains("validation loss"),
        "{stdout}"
    );
    // --out is the run directory itself, as for `optlab run`
    let dir = out.clone();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["steps"], 5);
    // the run directory resumes from its latest checkpoint, and keeps its outputs there
    let (ok, stdout, err) = optlab(&["train", "--resume", out_s, "--steps", "8", "--quiet"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("resuming from") && err.contains("step-00000005"),
        "{err}"
    );
    assert!(stdout.contains("8 steps"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["steps"], 8);
    // a checkpoint directory too
    let ck = dir.join("checkpoints/step-00000008");
    let (ok, stdout, err) = optlab(&[
        "train",
        "--resume",
        ck.to_str().unwrap(),
        "--steps",
        "9",
        "--quiet",
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("9 steps"), "{stdout}");
    // the old format: a clear message
    let old = dir.join("checkpoint.json.gz");
    std::fs::write(&old, [0x1f, 0x8b, 8, 0]).unwrap();
    let (ok, _, err) = optlab(&["train", "--resume", old.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("old-format checkpoint"), "{err}");
    std::fs::remove_dir_all(&out).ok();
}
