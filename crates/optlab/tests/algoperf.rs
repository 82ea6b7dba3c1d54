//! AlgoPerf scoring against the shared fixture, the Halton sequence against an independent
//! reference, and reading AlgoPerf's own log layout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use optlab::algoperf::halton;
use optlab::algoperf::logs::read_results;
use optlab::algoperf::report::score_results;
use optlab::algoperf::search::SearchSpace;
use optlab::algoperf::submission::{Submission, Tuning};
use serde_json::Value;

fn fixture_dir() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/algoperf_scoring");
    if dir.join("expected.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} not found (../shared beside the repository root)",
            dir.display()
        );
        None
    }
}

/// Largest |a − b| over the `scores` and `time_to_target` of `expected`; panics on a null/number
/// mismatch or a missing entry.
fn max_error(got: &Value, expected: &Value) -> f64 {
    let mut worst = 0.0f64;
    let subs = expected["scores"].as_object().unwrap();
    assert_eq!(
        got["scores"].as_object().unwrap().len(),
        subs.len(),
        "submissions"
    );
    for (s, e) in subs {
        let g = got["scores"][s]
            .as_f64()
            .unwrap_or_else(|| panic!("score of {s}"));
        worst = worst.max((g - e.as_f64().unwrap()).abs());
    }
    for key in ["time_to_target", "ratios"] {
        for (s, per) in expected[key].as_object().unwrap() {
            for (w, e) in per.as_object().unwrap() {
                let g = &got[key][s][w];
                match (g.as_f64(), e.as_f64()) {
                    (Some(g), Some(e)) => worst = worst.max((g - e).abs()),
                    (None, None) => {
                        assert!(g.is_null() && e.is_null(), "{key} {s} {w}: {g} vs {e}")
                    }
                    _ => panic!("{key} {s} {w}: got {g}, expected {e}"),
                }
            }
        }
    }
    worst
}

#[test]
fn scoring_reproduces_the_algoperf_fixture() {
    let Some(dir) = fixture_dir() else { return };
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let report = score_results(
        &dir.join("submissions"),
        Some(&dir.join("workloads.json")),
        "score",
    )
    .unwrap();
    let got = report.scores_json();
    let err = max_error(&got, &expected);
    println!("max |error| over scores, times to target and ratios: {err:e}");
    assert!(err <= 1e-9, "max error {err}");
    // the step view is there too, and ranks the same submissions
    assert_eq!(report.views.len(), 1);
    assert_eq!(report.views[0].time_column, "global_step");
    let steps = &got["views"]["global_step"];
    assert_eq!(steps["scores"].as_object().unwrap().len(), 3);
    // the fixture's log rows are 100 steps and 20 s apart: times in steps are 5× the seconds
    let t = got["time_to_target"]["muon"]["char_gpt"].as_f64().unwrap();
    let s = steps["time_to_target"]["muon"]["char_gpt"]
        .as_f64()
        .unwrap();
    assert_eq!(s, 5.0 * t);
}

#[test]
fn halton_points_match_the_numpy_reference() {
    // crates/optlab/tests/reference/halton_reference.py: AlgoPerf's generate_sequence(1000, 5)
    // with np.random.seed(0) before the shuffle, written independently with numpy's RandomState.
    let first = [
        [
            0.05226319133622859,
            0.3711846858229898,
            0.9418329885334764,
            0.9642037578930159,
            0.36101932158260874,
        ],
        [
            0.21626148454682137,
            0.7625083554555154,
            0.12384003075010885,
            0.5832318126468214,
            0.6090304326824061,
        ],
        [
            0.6340484545571625,
            0.43192133176859465,
            0.7000938690305593,
            0.0196509377739833,
            0.9339547515522345,
        ],
    ];
    let pts = halton::sequence(1000, 5, halton::DEFAULT_SKIP, 0);
    assert_eq!(pts.len(), 1000);
    for (p, e) in pts.iter().zip(first) {
        assert_eq!(p.as_slice(), e.as_slice(), "bit for bit");
    }
    // same seed, same points; another seed, the same set in another order
    assert_eq!(pts, halton::sequence(1000, 5, halton::DEFAULT_SKIP, 0));
    let other = halton::sequence(1000, 5, halton::DEFAULT_SKIP, 1);
    assert_ne!(pts, other);
    let mut a: Vec<Vec<u64>> = pts
        .iter()
        .map(|p| p.iter().map(|v| v.to_bits()).collect())
        .collect();
    let mut b: Vec<Vec<u64>> = other
        .iter()
        .map(|p| p.iter().map(|v| v.to_bits()).collect())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // discrepancy: scipy.stats.qmc.discrepancy(points, method="CD") of these very points
    let cd = halton::centered_l2_discrepancy(&pts);
    let scipy = 0.000_351_796_060_265_252_56;
    assert!((cd - scipy).abs() <= 1e-12 * scipy, "{cd} vs scipy {scipy}");
    // and it is lower than that of 1000 iid uniform points (scipy, default_rng(0): 1.164e-3)
    assert!(cd < 0.5 * 0.001_164_001_957_688_620_7);
    // a small case with another seed and dimension
    let small = halton::sequence(5, 3, halton::DEFAULT_SKIP, 7);
    let expected = [
        [0.13714606964468423, 0.2739744372653363, 0.28612427728381884],
        [0.1750171034215522, 0.3757038370618775, 0.47482256184486826],
        [0.2569004196958611, 0.23023079535282354, 0.36079632571974196],
        [0.8065421801871611, 0.9911667058309517, 0.8300193327833143],
        [0.16989939615440774, 0.47539864886248795, 0.87441892915062],
    ];
    for (p, e) in small.iter().zip(expected) {
        assert_eq!(p.as_slice(), e.as_slice());
    }
}

#[test]
fn adamw_points_follow_the_halton_coordinates() {
    let s = Submission::load("adamw").unwrap();
    let Tuning::Space(space) = &s.tuning else {
        panic!("adamw has a search space")
    };
    let SearchSpace { dims } = space;
    let u = halton::sequence(5, dims.len(), halton::DEFAULT_SKIP, 0);
    let pts = s.points(5, 0).unwrap();
    for (p, u) in pts.iter().zip(&u) {
        let lr = p.get("learning_rate").unwrap().as_f64().unwrap();
        assert_eq!(lr, 1e-4 * (u[0] * (1e-2f64 / 1e-4).ln()).exp());
        let ls = p.get("label_smoothing").unwrap().as_f64().unwrap();
        assert_eq!(ls, if u[5] < 0.5 { 0.1 } else { 0.2 });
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn reads_algoperf_layouts_jax_pytorch_and_single_study() {
    let root = std::env::temp_dir().join(format!("optlab-algoperf-layout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let header = "accumulated_eval_time,accumulated_logging_time,accumulated_submission_time,global_step,preemption_count,score,total_duration,validation/loss,validation/num_examples\n";
    // a: studies, jax
    write(
        &root.join("a/study_0/mnist_jax/trial_1/eval_measurements.csv"),
        &format!(
            "{header}1.0,0.0,10.0,100,0,10.0,11.0,0.5,100\n2.0,0.0,20.0,200,0,20.0,22.0,0.2,100\n"
        ),
    );
    write(
        &root.join("a/study_0/mnist_jax/trial_1/hparams.json"),
        r#"{"learning_rate": 0.001}"#,
    );
    // b: no study level, pytorch, a NaN and an empty cell before the target
    write(
        &root.join("b/mnist_pytorch/trial_1/eval_measurements.csv"),
        &format!(
            "{header}1.0,0.0,5.0,50,0,5.0,6.0,nan,100\n2.0,0.0,8.0,80,0,8.0,9.0,,100\n3.0,0.0,30.0,300,0,30.0,33.0,0.1,100\n"
        ),
    );
    write(&root.join("b/mnist_pytorch/trial_2/notes.txt"), "no csv");
    write(&root.join("scores/readme.txt"), "not a submission");
    write(
        &root.join("workloads.json"),
        r#"{"workloads": {"mnist": {"metric": "validation/loss", "target": 0.25}}}"#,
    );
    let (logs, notes) = read_results(&root).unwrap();
    assert_eq!(logs.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(logs["b"].studies[&0]["mnist"].framework, "pytorch");
    assert!(
        notes.notes.iter().any(|n| n.contains("trial_2")),
        "{:?}",
        notes.notes
    );
    assert!(
        notes.notes.iter().any(|n| n.contains("scores")),
        "{:?}",
        notes.notes
    );
    let report = score_results(&root, None, "score").unwrap();
    let j = report.scores_json();
    assert_eq!(j["time_to_target"]["a"]["mnist"], 20.0);
    assert_eq!(j["time_to_target"]["b"]["mnist"], 30.0);
    assert_eq!(j["ratios"]["b"]["mnist"], 1.5);
    assert_eq!(
        j["studies"]["a"]["mnist"][0]["hparams"]["learning_rate"],
        0.001
    );
    let out = root.join("scores_out");
    let files = report.write(&out).unwrap();
    for f in [
        "scores.json",
        "time_to_target.md",
        "time_to_target.csv",
        "performance_profile.png",
        "performance_profile.svg",
        "performance_profile_global_step.png",
        "index.html",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} in {files:?}");
        assert!(out.join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(out.join("time_to_target.md")).unwrap();
    assert!(md.contains("| a | 1.0000 | 20 (1.00×) |"), "{md}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("data:image/png;base64,") && !html.contains("src=\"http"));
    std::fs::remove_dir_all(&root).unwrap();
}
