//! A training run killed with SIGKILL at several moments — before its first checkpoint, in the
//! middle of writing one, between a completed checkpoint and the removal of the previous one,
//! and between checkpoints — and resumed each time with `optlab train --resume RUN_DIR` ends
//! with the same final evaluation, weights and optimizer state as the run never interrupted.
//!
//! The kills are deterministic: the hidden test hook `OPTLAB_TEST_STALL=<stage>@<step>:<marker>`
//! (optlab_nn::checkpoint::stall_point) makes the process create the marker and sleep at that
//! point; the test waits for the marker and kills the process there.
// Test helpers (outside #[test] functions) may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]
#![cfg(all(feature = "nn", unix))]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STEPS: &str = "24";

fn train_args(out: &Path) -> Vec<String> {
    [
        "train",
        "digits-mlp",
        "--set",
        "model.width=16",
        "--set",
        "checkpoint_every=4",
        "--set",
        "eval_every=5",
        "--steps",
        STEPS,
        "--quiet",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

fn resume_args(run: &Path) -> Vec<String> {
    [
        "train".to_string(),
        "--resume".into(),
        run.display().to_string(),
        "--steps".into(),
        STEPS.into(),
        "--quiet".into(),
    ]
    .to_vec()
}

fn optlab(args: &[String], stall: Option<(&str, &Path)>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_optlab"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    match stall {
        Some((at, marker)) => cmd.env("OPTLAB_TEST_STALL", format!("{at}:{}", marker.display())),
        None => cmd.env_remove("OPTLAB_TEST_STALL"),
    };
    cmd
}

/// Runs `args` until it stalls at `at`, then kills it with SIGKILL; returns its stderr.
fn run_and_kill(args: &[String], at: &str, marker: &Path) -> String {
    std::fs::remove_file(marker).ok();
    let mut child = optlab(args, Some((at, marker))).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "optlab exited ({status}) before reaching {at}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "{at} not reached in 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `args` to the end; returns its stderr.
fn run_to_end(args: &[String]) -> String {
    let out = optlab(args, None).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

fn final_eval(run: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["steps"], 24);
    summary["final_eval"].clone()
}

fn last_checkpoint(run: &Path, file: &str) -> Vec<u8> {
    std::fs::read(run.join("checkpoints/step-00000024").join(file)).unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn killed_runs_resume_to_the_uninterrupted_result() {
    let root: PathBuf =
        std::env::temp_dir().join(format!("optlab-crash-test-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    std::fs::create_dir_all(&root).unwrap();
    let (straight, run, marker) = (
        root.join("straight"),
        root.join("run"),
        root.join("stalled"),
    );
    run_to_end(&train_args(&straight));

    // 1. killed after step 2, before any checkpoint: the resume starts afresh and says so
    run_and_kill(&train_args(&run), "step@2", &marker);
    assert!(!run.join("checkpoints").exists());
    // 2. killed while writing the checkpoint of step 8 (optimizer file half written)
    let err = run_and_kill(&resume_args(&run), "checkpoint-write@8", &marker);
    assert!(err.contains("no complete checkpoint"), "{err}");
    let left = entries(&run.join("checkpoints"));
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[1], "step-00000004", "the previous checkpoint survives");
    assert!(left[0].starts_with(".step-00000008.tmp-"), "{left:?}");
    // 3. killed after the checkpoint of step 12 completed, before step 8's was removed
    let err = run_and_kill(&resume_args(&run), "checkpoint-prune@12", &marker);
    assert!(err.contains("step-00000004 (step 4)"), "{err}");
    assert!(
        err.contains("ignoring") && err.contains(".step-00000008.tmp-"),
        "{err}"
    );
    assert_eq!(
        entries(&run.join("checkpoints")),
        ["step-00000008", "step-00000012"]
    );
    // 4. killed between checkpoints, after step 18: resumed from the latest, step 12
    let err = run_and_kill(&resume_args(&run), "step@18", &marker);
    assert!(err.contains("step-00000012 (step 12)"), "{err}");
    // 5. to the end, from step 16
    let err = run_to_end(&resume_args(&run));
    assert!(err.contains("step-00000016 (step 16)"), "{err}");

    assert_eq!(final_eval(&run), final_eval(&straight));
    for file in ["model.safetensors", "optimizer.safetensors"] {
        assert!(
            last_checkpoint(&run, file) == last_checkpoint(&straight, file),
            "{file} differs from the uninterrupted run's"
        );
    }
    assert_eq!(entries(&run.join("checkpoints")), ["step-00000024"]);
    std::fs::remove_dir_all(&root).ok();
}
