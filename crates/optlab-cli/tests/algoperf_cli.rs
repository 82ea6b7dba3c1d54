//! `optlab algoperf` end to end: scoring the shared AlgoPerf fixture, plans and shards, status,
//! submission checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn optlab(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_optlab"));
    c.args(args)
        .current_dir(cwd)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("SLURM_ARRAY_TASK_MIN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the optlab binary runs")
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("optlab-cli-algoperf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fixture() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/algoperf_scoring")
        .canonicalize()
        .ok()?;
    if d.join("expected.json").is_file() {
        Some(d)
    } else {
        None
    }
}

#[test]
fn score_reproduces_expected_json() {
    let Some(fx) = fixture() else {
        eprintln!("SKIPPED: ../shared/fixtures/algoperf_scoring not found");
        return;
    };
    let dir = tempdir("score");
    let subs = fx.join("submissions");
    let wl = fx.join("workloads.json");
    // the command line, with the default --out
    let o = optlab(
        &[
            "algoperf",
            "score",
            subs.to_str().unwrap(),
            "--workloads",
            wl.to_str().unwrap(),
        ],
        &dir,
        &[],
    );
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("| muon | 0.9444 |"), "{stdout}");
    assert!(stdout.contains("by `global_step`"), "{stdout}");
    let out = dir.join("algoperf_scores");
    let got: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("scores.json")).unwrap()).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("expected.json")).unwrap()).unwrap();
    for (s, e) in expected["scores"].as_object().unwrap() {
        let g = got["scores"][s].as_f64().unwrap();
        assert!((g - e.as_f64().unwrap()).abs() <= 1e-9, "{s}: {g} vs {e}");
    }
    for (s, per) in expected["time_to_target"].as_object().unwrap() {
        for (w, e) in per.as_object().unwrap() {
            let g = &got["time_to_target"][s][w];
            match e.as_f64() {
                Some(e) => assert!((g.as_f64().unwrap() - e).abs() <= 1e-9, "{s} {w}"),
                None => assert!(g.is_null(), "{s} {w}: {g}"),
            }
        }
    }
    for f in [
        "time_to_target.md",
        "time_to_target.csv",
        "time_to_target_global_step.md",
        "performance_profile.png",
        "performance_profile.svg",
        "performance_profile_global_step.svg",
        "index.html",
    ] {
        let p = out.join(f);
        assert!(
            p.is_file() && std::fs::metadata(&p).unwrap().len() > 100,
            "{f}"
        );
    }
    // a missing targets file is a clear error
    let o = optlab(&["algoperf", "score", subs.to_str().unwrap()], &dir, &[]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("--workloads"),
        "{}",
        text(&o.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn trial_keys(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            format!(
                "{}/{}/{}/{}",
                v["submission"], v["workload"], v["study"], v["trial"]
            )
        })
        .collect()
}

#[test]
fn two_shards_are_disjoint_and_make_the_whole_plan() {
    let dir = tempdir("shards");
    let base = [
        "algoperf",
        "plan",
        "adamw",
        "nadamw",
        "--workloads",
        "mnist_mlp,logreg",
        "--studies",
        "2",
        "--trials",
        "3",
        "--json",
    ];
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        let o = optlab(&a, &dir, env);
        assert!(o.status.success(), "stderr: {}", text(&o.stderr));
        trial_keys(&text(&o.stdout))
    };
    let all = run(&[], &[]);
    assert_eq!(all.len(), 2 * 2 * 2 * 3);
    let s0 = run(&["--shard", "0/2"], &[]);
    let s1 = run(&["--shard", "1/2"], &[]);
    assert!(s0.is_disjoint(&s1));
    assert_eq!(s0.union(&s1).cloned().collect::<BTreeSet<_>>(), all);
    // Slurm's variables give the same shards
    let slurm = run(
        &[],
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ],
    );
    assert_eq!(slurm, s1);
    let o = optlab(
        &[
            "algoperf",
            "plan",
            "adamw",
            "--workloads",
            "a",
            "--shard",
            "2/2",
        ],
        &dir,
        &[],
    );
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("below 2"), "{}", text(&o.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plan_out_then_status_and_version_errors() {
    let dir = tempdir("status");
    let o = optlab(
        &[
            "algoperf",
            "plan",
            "sgd_nesterov",
            "--workloads",
            "logreg",
            "--studies",
            "1",
            "--trials",
            "2",
            "--out",
            "res",
        ],
        &dir,
        &[],
    );
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(dir.join("res/plan.json").is_file());
    assert!(dir.join("res/sgd_nesterov/submission.toml").is_file());
    let o = optlab(&["algoperf", "status", "res"], &dir, &[]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let s = text(&o.stdout);
    assert!(s.contains("plan of 2 trials"), "{s}");
    assert!(s.contains("sgd_nesterov/logreg"), "{s}");
    // an incompatible results directory
    let marker = dir.join("res/optlab-algoperf.json");
    let m = std::fs::read_to_string(&marker)
        .unwrap()
        .replace("\"version\": 1", "\"version\": 7");
    std::fs::write(&marker, m).unwrap();
    let o = optlab(&["algoperf", "status", "res"], &dir, &[]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("format version 7"),
        "{}",
        text(&o.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_validates_submissions() {
    let dir = tempdir("check");
    let o = optlab(&["algoperf", "check"], &dir, &[]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let s = text(&o.stdout);
    for n in ["nadamw", "adamw", "sgd_nesterov", "muon_adamw", "shampoo"] {
        assert!(s.contains(&format!("{n}: ok")), "{s}");
    }
    std::fs::write(
        dir.join("bad.toml"),
        "[optimizer]\nname = \"AdamW\"\n[search_space]\nlearning_rate = { min = 1e-2, max = 1e-4, scaling = \"log\" }\n",
    )
    .unwrap();
    let o = optlab(&["algoperf", "check", "bad.toml"], &dir, &[]);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(
        e.contains("search_space.learning_rate.max") && e.contains("inverted"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "nn")]
#[test]
fn run_quick_end_to_end() {
    let dir = tempdir("quick");
    let o = optlab(
        &["algoperf", "run", "--quick", "--out", "q", "--quiet"],
        &dir,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let q = dir.join("q");
    // AlgoPerf's layout: 2 submissions × 1 study × 2 workloads × 2 trials.
    for s in ["adamw", "sgd_nesterov"] {
        for w in ["logreg", "digits-mlp"] {
            for t in [1, 2] {
                let d = q.join(format!("{s}/study_0/{w}_optlab/trial_{t}"));
                for f in ["eval_measurements.csv", "hparams.json", "trial_done.json"] {
                    assert!(d.join(f).is_file(), "{}", d.join(f).display());
                }
            }
        }
    }
    let wl: Value =
        serde_json::from_str(&std::fs::read_to_string(q.join("workloads.json")).unwrap()).unwrap();
    assert_eq!(
        wl["workloads"]["digits-mlp"]["metric"],
        "validation/accuracy"
    );
    let scores: Value =
        serde_json::from_str(&std::fs::read_to_string(q.join("scores/scores.json")).unwrap())
            .unwrap();
    for s in ["adamw", "sgd_nesterov"] {
        let v = scores["scores"][s].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{s}: {v}");
    }
    for f in [
        "performance_profile.png",
        "performance_profile.svg",
        "index.html",
    ] {
        assert!(q.join("scores").join(f).is_file(), "{f}");
    }
    // A second run skips every finished trial.
    let o = optlab(
        &["algoperf", "run", "--quick", "--out", "q", "--quiet"],
        &dir,
        &[],
    );
    assert!(o.status.success());
    assert!(
        text(&o.stdout).contains("0 trial(s) run"),
        "{}",
        text(&o.stdout)
    );
    // Errors: unknown workload, no submission.
    let o = optlab(
        &[
            "algoperf",
            "run",
            "adamw",
            "--workloads",
            "mnist_mpl",
            "--out",
            "x",
        ],
        &dir,
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("unknown workload `mnist_mpl`"),
        "{}",
        text(&o.stderr)
    );
    let o = optlab(&["algoperf", "run", "--out", "x"], &dir, &[]);
    assert!(text(&o.stderr).contains("name at least one submission"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn targets_update_one_file_keeping_every_workloads_provenance_once() {
    let dir = tempdir("targets");
    // the file's directory does not exist yet: the command creates it
    let out = dir.join("targets/workloads.json");
    let out_s = out.to_str().unwrap();
    // one workload, then another into the same file, then the first again
    for (w, logs) in [
        ("heavy-tail-softmax", "logs-a"),
        ("logreg", "logs-b"),
        ("heavy-tail-softmax", "logs-c"),
    ] {
        let o = optlab(
            &[
                "algoperf",
                "targets",
                "--workloads",
                w,
                "--baselines",
                "sgd_nesterov",
                "--trials",
                "1",
                "--reruns",
                "1",
                "--logs",
                logs,
                "--out",
                out_s,
                "-q",
            ],
            &dir,
            &[],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let doc = file["doc"].as_str().unwrap();
    // no nested copies of earlier doc strings: each workload's line appears once
    assert!(!doc.contains("Earlier"), "{doc}");
    for w in ["heavy-tail-softmax:", "logreg:"] {
        assert_eq!(doc.matches(w).count(), 1, "{w} in {doc}");
    }
    // the built-in targets of the other workloads are kept in the file
    assert!(file["workloads"]["mnist-cnn"]["target"].is_number());
    let d: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("targets/derivation.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = d
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["workload"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["logreg", "heavy-tail-softmax"]);
    assert_eq!(
        d[1]["target"].as_f64().unwrap(),
        file["workloads"]["heavy-tail-softmax"]["target"]
            .as_f64()
            .unwrap()
    );
}
