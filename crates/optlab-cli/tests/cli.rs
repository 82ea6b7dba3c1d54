//! End-to-end tests of the `optlab` binary on temporary directories.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn optlab(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_optlab"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("the optlab binary runs")
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("optlab-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn default_run_writes_the_four_files_with_documented_columns() {
    let dir = tempdir("default");
    let o = optlab(&["run", "--out", "out"], &dir);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    for f in [
        "metrics.csv",
        "summary.json",
        "convergence.png",
        "convergence.svg",
    ] {
        let p = dir.join("out").join(f);
        assert!(
            p.is_file() && std::fs::metadata(&p).unwrap().len() > 100,
            "{f} missing"
        );
    }
    let csv = std::fs::read_to_string(dir.join("out/metrics.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "method,seed,iteration,epoch,grad_evals,time_s,lr,loss,subopt,grad_norm,dist_to_opt,loss_avg,subopt_avg"
    );
    let seeds: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| {
            l.rsplit_once("\",")
                .map_or("", |(_, r)| r)
                .split(',')
                .next()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(seeds.len(), 10, "10 seeds: {seeds:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/summary.json")).unwrap())
            .unwrap();
    let p = &summary["problem"];
    assert_eq!(
        (p["n"].as_u64(), p["dimension"].as_u64(), p["mu"].as_f64()),
        (Some(200), Some(10), Some(1.0))
    );
    assert!(p["f_star"].as_f64().is_some_and(|f| f > 0.0 && f < 0.7));
    assert!(p["L"].as_f64().is_some_and(|l| l > 1.0));
    let methods = summary["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 5);
    for m in methods {
        assert!(
            m["final"]["mean"].is_number() && m["final"]["q90"].is_number(),
            "{m}"
        );
        assert!(m["wall_time_s"]["mean"].is_number(), "{m}");
    }
    // GD with 1/L reaches f* to rounding in 30 iterations
    assert!(methods[0]["final"]["mean"].as_f64().unwrap().abs() < 1e-12);
    let png = std::fs::read(dir.join("out/convergence.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let out = text(&o.stdout);
    assert!(
        out.contains("wrote out/metrics.csv") || out.contains("wrote out"),
        "{out}"
    );
    // stdout carries no progress-bar control characters
    assert!(!out.contains('\r') && !out.contains('\u{1b}'));
}

#[test]
fn experiment_file_with_overrides_quiet_and_contours() {
    let dir = tempdir("rosen");
    let exp = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/rosenbrock.toml"
    );
    let o = optlab(
        &[
            "run",
            exp,
            "--quiet",
            "--out",
            "r",
            "--set",
            "iterations=300",
            "--set",
            "methods.0.lr=0.002",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        o.stdout.is_empty(),
        "--quiet prints nothing: {}",
        text(&o.stdout)
    );
    for f in [
        "contours.png",
        "contours.svg",
        "convergence.png",
        "metrics.csv",
    ] {
        assert!(dir.join("r").join(f).is_file(), "{f}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r/summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["methods"][0]["lr"].as_f64(), Some(0.002));
    assert_eq!(s["methods"][0]["iterations"].as_u64(), Some(300));
}

#[test]
fn bad_configs_fail_with_the_documented_messages() {
    let dir = tempdir("bad");
    let write = |name: &str, body: &str| {
        std::fs::write(dir.join(name), body).unwrap();
        name.to_string()
    };
    let f = write(
        "unknown_field.toml",
        "seeds = 2\nitrations = 5\n[[methods]]\noptimizer = \"SGD\"\n",
    );
    let o = optlab(&["run", &f], &dir);
    let e = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        e.contains("unknown field `itrations`") && e.contains("iterations"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");

    let f = write(
        "unknown_opt.toml",
        "seeds = 1\niterations = 5\n[[methods]]\noptimizer = \"Adamm\"\n",
    );
    let o = optlab(&["run", &f], &dir);
    let e = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        e.contains("unknown optimizer `Adamm`") && e.contains("SGD") && e.contains("ArmijoGD"),
        "{e}"
    );

    let f = write(
        "unknown_problem.toml",
        "[problem]\nkind = \"rosenbrok\"\n[[methods]]\noptimizer = \"SGD\"\n",
    );
    let o = optlab(&["run", &f], &dir);
    let e = text(&o.stderr);
    assert!(
        !o.status.success() && e.contains("rosenbrok") && e.contains("rosenbrock"),
        "{e}"
    );

    let o = optlab(&["run", "--set", "seeds"], &dir);
    assert!(!o.status.success() && text(&o.stderr).contains("key=value"));
    let o = optlab(&["run", "missing.toml"], &dir);
    assert!(!o.status.success() && text(&o.stderr).contains("missing.toml"));
    let o = optlab(&["run", "--set", "methods.0.lr=\"1/Lq\""], &dir);
    let e = text(&o.stderr);
    assert!(
        !o.status.success() && e.contains("unknown variable `Lq`"),
        "{e}"
    );
}

#[test]
fn bad_data_files_name_file_and_line() {
    let dir = tempdir("data");
    std::fs::write(dir.join("bad.csv"), "f1,f2,y\n1.0,2.0,1\n0.5,oops,0\n").unwrap();
    std::fs::write(dir.join("labels.csv"), "1.0,2.0,1\n0.5,1.5,3\n").unwrap();
    let exp = |file: &str| {
        format!(
            "seeds = 1\niterations = 3\n[problem]\nkind = \"logistic\"\ndata = \"{file}\"\ndata_dir = \"{}\"\n[[methods]]\noptimizer = \"SGD\"\n",
            dir.display()
        )
    };
    std::fs::write(dir.join("a.toml"), exp("bad.csv")).unwrap();
    let o = optlab(&["run", "a.toml"], &dir);
    let e = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        e.contains("bad.csv:3: field 2 (`oops`) is not a number"),
        "{e}"
    );
    std::fs::write(dir.join("b.toml"), exp("labels.csv")).unwrap();
    let o = optlab(&["run", "b.toml"], &dir);
    let e = text(&o.stderr);
    assert!(!o.status.success());
    assert!(e.contains("labels.csv:2: label 3 is not binary"), "{e}");
}

#[test]
fn list_shows_optimizers_and_problems() {
    let o = optlab(&["list"], &std::env::temp_dir());
    assert!(o.status.success());
    let out = text(&o.stdout);
    for s in [
        "SGD",
        "AdamW",
        "ArmijoGD",
        "logistic",
        "softmax",
        "rosenbrock",
        "\"mu\":1.0",
    ] {
        assert!(out.contains(s), "{s} missing from:\n{out}");
    }
}

#[test]
fn reproduce_lists_figures_and_rejects_unknown_ones() {
    let dir = tempdir("reproduce-list");
    let o = optlab(&["reproduce", "--list"], &dir);
    assert!(o.status.success());
    let out = text(&o.stdout);
    let figures = optlab::reproduce::FIGURES.iter();
    #[cfg(feature = "nn")]
    let figures = figures.chain(optlab_nn::reproduce::FIGURES);
    for f in figures {
        assert!(out.contains(f.name), "{} missing from:\n{out}", f.name);
    }
    let o = optlab(&["reproduce", "sgd-convx"], &dir);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("unknown figure `sgd-convx`") && e.contains("sgd-convex, minibatch"),
        "{e}"
    );
    let o = optlab(&["reproduce"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("name a figure or use --all"));
    let o = optlab(&["reproduce", "minibatch", "--all"], &dir);
    assert!(!o.status.success());
    assert!(!dir.join("reports").exists(), "nothing written on errors");
}

#[test]
fn reproduce_one_figure_writes_its_directory_and_the_index() {
    let dir = tempdir("reproduce-one");
    let o = optlab(
        &["reproduce", "sgd-divergence", "--quick", "--out", "rep"],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("sgd-divergence") && out.contains("holds"),
        "{out}"
    );
    assert!(out.contains("rep/index.html"), "{out}");
    for f in [
        "curves.png",
        "curves.svg",
        "contours.png",
        "contours.gif",
        "metrics.csv",
        "verdict.json",
    ] {
        assert!(dir.join("rep/sgd-divergence").join(f).is_file(), "{f}");
    }
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("rep/sgd-divergence/verdict.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v["holds"], true);
    assert!(dir.join("rep/index.html").is_file());
    let o = optlab(
        &[
            "reproduce",
            "scalar-stories",
            "--quick",
            "--quiet",
            "--out",
            "q",
        ],
        &dir,
    );
    assert!(o.status.success());
    assert!(
        o.stdout.is_empty() && o.stderr.is_empty(),
        "{}",
        text(&o.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
