//! `optlab algoperf` end to end on the finite-sum workload `logreg`: trials run through the
//! registry into AlgoPerf's layout, shards partition the plan, targets are derived by AlgoPerf's
//! procedure, and the speedrun summarizes seeds with a Welch test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use optlab::algoperf::finite_sum::FiniteSum;
use optlab::algoperf::logs::{EvalMeasurements, MEASUREMENTS_FILE, columns};
use optlab::algoperf::registry::{Registry, Workload};
use optlab::algoperf::report::score_results;
use optlab::algoperf::results::ResultsDir;
use optlab::algoperf::speedrun::{self, SpeedrunPlan};
use optlab::algoperf::study::{Plan, Shard};
use optlab::algoperf::submission::Submission;
use optlab::algoperf::targets::{TargetsPlan, derive};
use optlab::algoperf::trial::{WallClock, run_trials};
use optlab::algoperf::workloads::{WORKLOADS_FILE, WorkloadTarget, WorkloadsFile};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("optlab-algoperf-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A registry with `logreg` and a target on its validation loss.
fn registry(target: f64) -> Registry {
    let w: Vec<Box<dyn Workload>> = vec![Box::new(FiniteSum::logreg(None).unwrap())];
    let mut r = Registry::new().unwrap().with(w);
    let mut t = WorkloadsFile::default();
    t.workloads.insert(
        "logreg".into(),
        WorkloadTarget {
            metric: "validation/loss".into(),
            target,
            minimize: Some(true),
        },
    );
    r.set_targets(t);
    r
}

fn plan() -> Plan {
    Plan {
        submissions: vec![
            Submission::load("adamw").unwrap(),
            Submission::load("sgd_nesterov").unwrap(),
        ],
        workloads: vec!["logreg".into()],
        studies: 2,
        trials: 2,
        seed: 0,
    }
}

/// Runs `trials` of `plan` into `dir`; returns the trial directories finished.
fn run(dir: &Path, shard: Shard, target: f64) -> BTreeSet<PathBuf> {
    let p = plan();
    let all = p.trials().unwrap();
    let results = ResultsDir::create(dir).unwrap();
    let mut reg = registry(target);
    let report = run_trials(
        &results,
        &p.submissions,
        &shard.select(&all),
        &mut reg,
        &WallClock::default(),
        &mut |_| {},
    )
    .unwrap();
    reg.targets_file(&["logreg".into()])
        .unwrap()
        .write(&dir.join(WORKLOADS_FILE))
        .unwrap();
    report
        .ran
        .iter()
        .map(|(t, _)| results.trial_dir(t))
        .map(|d| d.strip_prefix(dir).unwrap().to_path_buf())
        .collect()
}

#[test]
fn trials_log_algoperf_columns_and_shards_partition_the_plan() {
    let target = 0.12;
    let whole = tempdir("whole");
    let all = run(&whole, Shard::default(), target);
    assert_eq!(all.len(), 8, "2 submissions × 2 studies × 2 trials");
    let a = tempdir("shard0");
    let b = tempdir("shard1");
    let s0 = run(&a, "0/2".parse().unwrap(), target);
    let s1 = run(&b, "1/2".parse().unwrap(), target);
    assert!(s0.is_disjoint(&s1));
    assert_eq!(s0.union(&s1).cloned().collect::<BTreeSet<_>>(), all);
    // A finished trial is skipped on a second run.
    assert!(run(&whole, Shard::default(), target).is_empty());

    let one = whole.join(all.iter().next().unwrap());
    let m = EvalMeasurements::read(&one.join(MEASUREMENTS_FILE)).unwrap();
    for c in [
        columns::ACCUMULATED_EVAL_TIME,
        columns::ACCUMULATED_LOGGING_TIME,
        columns::ACCUMULATED_SUBMISSION_TIME,
        columns::GLOBAL_STEP,
        columns::PREEMPTION_COUNT,
        columns::SCORE,
        columns::TOTAL_DURATION,
        "train/loss",
        "train/accuracy",
        "validation/loss",
        "validation/accuracy",
        "validation/num_examples",
    ] {
        assert!(m.column(c).is_some(), "{c} missing: {:?}", m.columns);
    }
    let acc = m.column("validation/accuracy").unwrap();
    assert!(acc.iter().all(|a| (0.0..=1.0).contains(a)));
    assert_eq!(m.column("validation/num_examples").unwrap()[0], 114.0);
    // Every trial evaluates every 50 steps (the cadence), until the target or the budget.
    let steps = m.column(columns::GLOBAL_STEP).unwrap();
    assert_eq!(steps[0], 50.0);
    assert!(steps.windows(2).all(|w| w[1] > w[0]));
    for f in [
        "hparams.json",
        "flags_0.json",
        "meta_data_0.json",
        "trial_done.json",
    ] {
        assert!(one.join(f).is_file(), "{f}");
    }

    // Scoring the run: both submissions get a score in [0, 1].
    let report = score_results(&whole, None, "score").unwrap();
    let scores = report.scores_json();
    for s in ["adamw", "sgd_nesterov"] {
        let v = scores["scores"][s].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{s}: {v}");
    }
    for d in [whole, a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn targets_follow_algoperfs_procedure() {
    let dir = tempdir("targets");
    let mut reg = registry(0.12);
    let plan = TargetsPlan {
        baselines: vec![
            Submission::load("adamw").unwrap(),
            Submission::load("sgd_nesterov").unwrap(),
        ],
        workloads: vec!["logreg".into()],
        trials: 2,
        reruns: 3,
        seed: 0,
    };
    let (file, ds) = derive(
        &mut reg,
        &plan,
        &WorkloadsFile::default(),
        &dir,
        &WallClock::default(),
        &mut |_| {},
    )
    .unwrap();
    let d = &ds[0];
    assert_eq!(d.tuning.len(), 4);
    // The selected trial is the best of the tuning trials.
    let best = d
        .tuning
        .iter()
        .map(|t| t.best)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(d.selected.best, best);
    // The target is the median of the three reruns' best validation losses.
    let mut r = d.reruns.clone();
    r.sort_by(f64::total_cmp);
    assert_eq!(d.target, r[1]);
    assert_eq!(file.workloads["logreg"].target, d.target);
    // Training improved on the first evaluation, so the target was set.
    assert_eq!(d.first_evaluation.len(), 3);
    assert!(d.refused.is_none(), "{:?}", d.refused);
    // Full budget: the tuning trials were not stopped by the (unreachable) target.
    let m = EvalMeasurements::read(
        &dir.join("tune/adamw/study_0/logreg_optlab/trial_1")
            .join(MEASUREMENTS_FILE),
    )
    .unwrap();
    assert_eq!(
        *m.column(columns::GLOBAL_STEP).unwrap().last().unwrap(),
        2000.0
    );
    assert!(dir.join("derivation.json").is_file());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn speedrun_summarizes_seeds_and_tests_the_difference() {
    let dir = tempdir("speedrun");
    let mut reg = registry(0.12);
    let subs = ["adamw", "sgd_nesterov"].map(|n| Submission::load(n).unwrap());
    let entries = subs
        .into_iter()
        .map(|s| {
            let p = s.points(1, 0).unwrap().remove(0);
            (s, p)
        })
        .collect();
    let plan = SpeedrunPlan {
        workload: "logreg".into(),
        entries,
        seeds: 3,
        seed: 0,
    };
    let report = speedrun::run(
        &mut reg,
        &plan,
        &dir.join("logs"),
        &WallClock::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.arms.len(), 2);
    for a in &report.arms {
        assert_eq!(a.steps.len(), 3);
        let reached: Vec<f64> = a.steps.iter().flatten().copied().collect();
        assert_eq!(a.steps_summary.values, reached);
        if reached.len() >= 2 {
            assert!(a.steps_summary.ci95.is_finite());
        }
    }
    let files = report.write(&dir).unwrap();
    for f in [
        "speedrun.json",
        "validation_curves.png",
        "validation_curves.svg",
        "index.html",
    ] {
        assert!(files.iter().any(|x| x == f) && dir.join(f).is_file(), "{f}");
    }
    assert!(report.verdict.contains("adamw") && report.verdict.contains("Welch"));
    let _ = std::fs::remove_dir_all(dir);
}

/// `heavy-tail-softmax`: a training-loss workload without a held-out split; its rarest level's
/// loss is logged beside the overall loss. (Adam against GD with tuned learning rates is the
/// `heavy-tail-classes` figure's check; here the hyperparameters are the search's first points.)
#[test]
fn heavy_tail_softmax_logs_training_metrics() {
    let dir = tempdir("heavy-tail");
    let w: Vec<Box<dyn Workload>> = vec![Box::new(FiniteSum::heavy_tail_softmax().unwrap())];
    let mut reg = Registry::new().unwrap().with(w);
    let mut t = WorkloadsFile::default();
    t.workloads.insert(
        "heavy-tail-softmax".into(),
        WorkloadTarget {
            metric: "train/loss".into(),
            target: 1e-9,
            minimize: Some(true),
        },
    );
    reg.set_targets(t);
    let p = Plan {
        workloads: vec!["heavy-tail-softmax".into()],
        studies: 1,
        trials: 1,
        ..plan()
    };
    let results = ResultsDir::create(&dir).unwrap();
    let all = p.trials().unwrap();
    let report = run_trials(
        &results,
        &p.submissions,
        &all,
        &mut reg,
        &WallClock::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.ran.len(), 2);
    for (trial, _) in &report.ran {
        let m = EvalMeasurements::read(&results.trial_dir(trial).join(MEASUREMENTS_FILE)).unwrap();
        assert!(m.column("validation/loss").is_none(), "{:?}", m.columns);
        let loss = m.column("train/loss").unwrap();
        let r = m.column("train/rare_classes_loss").unwrap();
        assert_eq!(m.column(columns::GLOBAL_STEP).unwrap().last(), Some(&300.0));
        assert!(loss.iter().chain(&r).all(|v| v.is_finite() && *v >= 0.0));
        // from W = 0 (loss ln 127 everywhere) both make progress
        assert!(loss[loss.len() - 1] < 127f64.ln(), "{loss:?}");
        assert_eq!(r.len(), loss.len());
        assert_ne!(r, loss, "the rarest level's loss is its own measure");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
