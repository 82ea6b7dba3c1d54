//! The seam between the benchmark and the training code: what a workload implements, and the
//! loop that runs a trial with AlgoPerf's clocks and logs.
//!
//! A workload (phase 2: `mnist-mlp`, `shakespeare-gpt`, ...) implements two small traits:
//!
//! - [`Training`]: one trial's model, data and optimizer — `step()` takes one optimizer step,
//!   `evaluate()` returns the metrics under AlgoPerf's column names (`train/loss`,
//!   `validation/accuracy`, `validation/num_examples`, ...);
//! - [`TrialRunner`]: builds the [`Training`] of a [`Trial`] (typically with
//!   [`Submission::build`](super::submission::Submission::build) at the trial's hyperparameters
//!   and the workload's step hint) and says what the trial is held to: the workload's target,
//!   budget and evaluation cadence ([`TrialSetup`]).
//!
//! [`run_trial`] owns everything else, the same way for every workload: the trial directory
//! (`hparams.json`, `flags_0.json`, `meta_data_0.json`), the loop (step; evaluate at the cadence;
//! stop at the target, at the budget, or when the target metric stops being finite, with a final
//! evaluation at a budget stop), AlgoPerf's clocks, `eval_measurements.csv` (rewritten
//! atomically after every evaluation, so an interrupted trial leaves whole rows) and the
//! finished marker. [`run_trials`] runs a list of trials (a shard) idempotently: finished trials
//! are skipped, started ones restart from scratch.
//!
//! **Clocks** (AlgoPerf's `submission_runner.py`), in seconds of the [`Clock`]:
//!
//! - `accumulated_submission_time` (= `score`): the time inside `step()` only — no evaluation,
//!   no logging;
//! - `accumulated_eval_time`: the time inside `evaluate()`, the current evaluation included;
//! - `accumulated_logging_time`: the time spent writing the logs before this row;
//! - `total_duration`: wall time from the trial's start to the end of this evaluation.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::logs::{EvalMeasurements, HPARAMS_FILE, MEASUREMENTS_FILE, columns};
use super::results::{ResultsDir, StopReason, TrialDone, TrialState};
use super::study::Trial;
use super::submission::Submission;
use super::workloads::WorkloadTarget;
use super::{AlgoPerfError, write_json};

/// An error of the training code (any error type converts with `?`).
pub type TrainingError = Box<dyn std::error::Error + Send + Sync>;

/// What [`Training::step`] returns when the training diverged (a non-finite loss or iterate):
/// the trial stops as [`StopReason::Diverged`] — a trial that cannot reach the target, as in
/// AlgoPerf — instead of failing the run.
#[derive(Debug)]
pub struct Diverged(pub String);

impl std::fmt::Display for Diverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "diverged: {}", self.0)
    }
}

impl std::error::Error for Diverged {}

/// One evaluation's metrics: `(column, value)` under AlgoPerf's names.
pub type Metrics = Vec<(String, f64)>;

/// The metrics of a classification workload under AlgoPerf's names: `train/loss`,
/// `train/accuracy`, `validation/loss`, `validation/accuracy` (from `(loss, accuracy)` pairs) and
/// `validation/num_examples`.
pub fn classification_metrics(
    train: (f64, f64),
    validation: (f64, f64),
    validation_examples: usize,
) -> Metrics {
    vec![
        ("train/loss".into(), train.0),
        ("train/accuracy".into(), train.1),
        ("validation/loss".into(), validation.0),
        ("validation/accuracy".into(), validation.1),
        ("validation/num_examples".into(), validation_examples as f64),
    ]
}

/// One trial's training: implemented by the workloads.
pub trait Training {
    /// Takes one optimizer step (its time is the submission's time).
    fn step(&mut self) -> Result<(), TrainingError>;

    /// Evaluates the current model: `train/…`, `validation/…`, `test/…` metrics (its time is
    /// evaluation time). Must include the target's metric.
    fn evaluate(&mut self) -> Result<Metrics, TrainingError>;
}

/// When to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// Every this many steps (≥ 1): machine-independent.
    Steps(u64),
    /// Every this many seconds of submission time (> 0), like AlgoPerf's `eval_period_time_sec`.
    Seconds(f64),
}

/// When to stop if the target is not reached (at least one limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Steps.
    pub max_steps: Option<u64>,
    /// Seconds of submission time (AlgoPerf's `max_allowed_runtime_sec`).
    pub max_seconds: Option<f64>,
}

/// What a trial is held to, and its training.
pub struct TrialSetup<'a> {
    /// The model, data and optimizer.
    pub training: Box<dyn Training + 'a>,
    /// The workload's validation target (training stops when an evaluation meets it).
    pub target: WorkloadTarget,
    /// The budget.
    pub budget: Budget,
    /// The evaluation cadence.
    pub cadence: Cadence,
    /// The workload's step hint (recorded in `flags_0.json`).
    pub step_hint: u64,
    /// The resolved configuration (optimizer, schedule, workload settings), recorded in
    /// `meta_data_0.json`.
    pub config: Value,
}

/// Builds the training of a trial: implemented by phase 2's workload registry.
pub trait TrialRunner {
    /// The training of `trial` of `submission`, and what it is held to.
    fn prepare(
        &mut self,
        trial: &Trial,
        submission: &Submission,
    ) -> Result<TrialSetup<'_>, AlgoPerfError>;
}

/// A source of seconds.
pub trait Clock {
    /// Seconds since some fixed origin.
    fn now(&self) -> f64;
}

/// The wall clock (monotonic).
pub struct WallClock(Instant);

impl Default for WallClock {
    fn default() -> Self {
        WallClock(Instant::now())
    }
}

impl Clock for WallClock {
    fn now(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// What happens, for progress bars.
#[derive(Clone, Debug)]
pub enum TrialEvent<'a> {
    /// A finished trial is skipped.
    Skipped(&'a Trial),
    /// A trial starts (`restarted`: an unfinished earlier attempt was deleted).
    Started {
        /// The trial.
        trial: &'a Trial,
        /// Whether an earlier attempt was found and deleted.
        restarted: bool,
    },
    /// An evaluation was logged.
    Evaluated {
        /// The trial.
        trial: &'a Trial,
        /// Evaluations so far.
        evals: usize,
        /// Steps so far.
        global_step: u64,
        /// The target metric's value.
        value: f64,
    },
    /// A trial finished.
    Finished {
        /// The trial.
        trial: &'a Trial,
        /// Its summary.
        done: &'a TrialDone,
    },
}

impl Budget {
    fn check(&self) -> Result<(), String> {
        match (self.max_steps, self.max_seconds) {
            (None, None) => Err("a budget needs max_steps or max_seconds".into()),
            (Some(0), _) => Err("budget: max_steps must be at least 1".into()),
            (_, Some(s)) if !(s.is_finite() && s > 0.0) => {
                Err(format!("budget: max_seconds must be > 0, got {s}"))
            }
            _ => Ok(()),
        }
    }

    fn exhausted(&self, steps: u64, seconds: f64) -> Option<StopReason> {
        if self.max_steps.is_some_and(|m| steps >= m) {
            Some(StopReason::StepBudget)
        } else if self.max_seconds.is_some_and(|m| seconds >= m) {
            Some(StopReason::TimeBudget)
        } else {
            None
        }
    }
}

impl Cadence {
    fn check(&self) -> Result<(), String> {
        match *self {
            Cadence::Steps(0) => Err("cadence: steps must be at least 1".into()),
            Cadence::Seconds(s) if !(s.is_finite() && s > 0.0) => {
                Err(format!("cadence: seconds must be > 0, got {s}"))
            }
            _ => Ok(()),
        }
    }
}

/// The running clocks of a trial (AlgoPerf's `train_state`).
struct Clocks {
    start: f64,
    submission: f64,
    eval: f64,
    logging: f64,
    step: u64,
    last_eval_step: Option<u64>,
    last_eval_submission: f64,
}

/// Everything `run_trial` needs besides the training.
struct Logger<'a> {
    trial: &'a Trial,
    csv: std::path::PathBuf,
    table: EvalMeasurements,
    target: WorkloadTarget,
    minimize: bool,
}

impl Logger<'_> {
    /// Runs an evaluation, logs its row; returns the target metric's value.
    fn evaluate(
        &mut self,
        training: &mut dyn Training,
        clock: &dyn Clock,
        c: &mut Clocks,
    ) -> Result<f64, AlgoPerfError> {
        let t0 = clock.now();
        let metrics = training
            .evaluate()
            .map_err(|e| self.failed(&e.to_string()))?;
        let t1 = clock.now();
        c.eval += t1 - t0;
        let value = metrics
            .iter()
            .find(|(k, _)| *k == self.target.metric)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                self.failed(&format!(
                    "the evaluation has no `{}` (it has: {})",
                    self.target.metric,
                    metrics
                        .iter()
                        .map(|(k, _)| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let mut row = metrics;
        row.extend([
            (columns::ACCUMULATED_EVAL_TIME.to_string(), c.eval),
            (columns::ACCUMULATED_LOGGING_TIME.to_string(), c.logging),
            (
                columns::ACCUMULATED_SUBMISSION_TIME.to_string(),
                c.submission,
            ),
            (columns::GLOBAL_STEP.to_string(), c.step as f64),
            (columns::PREEMPTION_COUNT.to_string(), 0.0),
            (columns::SCORE.to_string(), c.submission),
            (columns::TOTAL_DURATION.to_string(), t1 - c.start),
        ]);
        let l0 = clock.now();
        self.table.push(&row);
        self.table.write(&self.csv)?;
        c.logging += clock.now() - l0;
        c.last_eval_step = Some(c.step);
        c.last_eval_submission = c.submission;
        Ok(value)
    }

    fn failed(&self, message: &str) -> AlgoPerfError {
        AlgoPerfError::Training {
            trial: self.trial.label(),
            message: message.to_string(),
        }
    }
}

fn meta(trial: &Trial, setup: &TrialSetup<'_>, submission: &Submission) -> (Value, Value) {
    let flags = json!({
        "submission": submission.name,
        "workload": trial.workload,
        "framework": super::logs::FRAMEWORK,
        "tuning_ruleset": "external",
        "study": trial.study,
        "trial": trial.trial,
        "rng_seed": trial.seed,
        "step_hint": setup.step_hint,
        "budget": setup.budget,
        "cadence": setup.cadence,
        "target": setup.target,
    });
    let meta = json!({
        "optlab_version": env!("CARGO_PKG_VERSION"),
        "os_platform": format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        "cpu_count": std::thread::available_parallelism().map_or(0, usize::from),
        "rng_seed": trial.seed,
        "config": setup.config,
    });
    (flags, meta)
}

/// Runs one trial into `dir` (an empty trial directory from [`ResultsDir::begin`]) and returns
/// its summary; the caller writes the finished marker.
pub fn run_trial_in(
    dir: &Path,
    trial: &Trial,
    submission: &Submission,
    mut setup: TrialSetup<'_>,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(&TrialEvent<'_>),
) -> Result<TrialDone, AlgoPerfError> {
    let invalid = |m: String| AlgoPerfError::Invalid(format!("{}: {m}", trial.label()));
    setup.budget.check().map_err(invalid)?;
    setup.cadence.check().map_err(invalid)?;
    let minimize = setup
        .target
        .minimizes()
        .map_err(|m| invalid(format!("target: {m}")))?;
    write_json(&dir.join(HPARAMS_FILE), &trial.hyperparameters)?;
    let (flags, meta) = meta(trial, &setup, submission);
    write_json(&dir.join("flags_0.json"), &flags)?;
    write_json(&dir.join("meta_data_0.json"), &meta)?;
    let mut log = Logger {
        trial,
        csv: dir.join(MEASUREMENTS_FILE),
        table: EvalMeasurements::default(),
        target: setup.target.clone(),
        minimize,
    };
    let training = setup.training.as_mut();
    let mut c = Clocks {
        start: clock.now(),
        submission: 0.0,
        eval: 0.0,
        logging: 0.0,
        step: 0,
        last_eval_step: None,
        last_eval_submission: 0.0,
    };
    let mut reached = false;
    let stop = loop {
        if let Some(reason) = setup.budget.exhausted(c.step, c.submission) {
            if c.last_eval_step != Some(c.step) {
                let v = log.evaluate(training, clock, &mut c)?;
                reached = log.target.reached(v, log.minimize);
                progress(&TrialEvent::Evaluated {
                    trial,
                    evals: log.table.rows.len(),
                    global_step: c.step,
                    value: v,
                });
                if reached {
                    break StopReason::TargetReached;
                }
            }
            break reason;
        }
        let t0 = clock.now();
        match training.step() {
            Ok(()) => {}
            Err(e) if e.downcast_ref::<Diverged>().is_some() => break StopReason::Diverged,
            Err(e) => return Err(log.failed(&e.to_string())),
        }
        c.submission += clock.now() - t0;
        c.step += 1;
        let due = match setup.cadence {
            Cadence::Steps(n) => c.step.is_multiple_of(n),
            Cadence::Seconds(s) => c.submission - c.last_eval_submission >= s,
        };
        if due {
            let v = log.evaluate(training, clock, &mut c)?;
            progress(&TrialEvent::Evaluated {
                trial,
                evals: log.table.rows.len(),
                global_step: c.step,
                value: v,
            });
            if log.target.reached(v, log.minimize) {
                reached = true;
                break StopReason::TargetReached;
            }
            if !v.is_finite() {
                break StopReason::Diverged;
            }
        }
    };
    Ok(TrialDone {
        stop,
        reached_target: reached,
        evals: log.table.rows.len(),
        global_step: c.step,
        accumulated_submission_time: c.submission,
        accumulated_eval_time: c.eval,
        total_duration: clock.now() - c.start,
        seed: trial.seed,
        optlab: env!("CARGO_PKG_VERSION").into(),
    })
}

/// What [`run_trials`] did.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    /// Trials run now, with their summaries.
    pub ran: Vec<(Trial, TrialDone)>,
    /// Trials skipped as finished.
    pub skipped: Vec<Trial>,
    /// Trials whose unfinished earlier attempt was deleted and rerun.
    pub restarted: Vec<Trial>,
}

/// Runs `trials` (e.g. a shard of a plan) into `results`: finished trials are skipped, started
/// ones restart from scratch, each finished trial gets its marker last. `submissions` must hold
/// every submission the trials name.
pub fn run_trials(
    results: &ResultsDir,
    submissions: &[Submission],
    trials: &[Trial],
    runner: &mut dyn TrialRunner,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(&TrialEvent<'_>),
) -> Result<RunReport, AlgoPerfError> {
    let mut report = RunReport::default();
    for t in trials {
        let sub = submissions
            .iter()
            .find(|s| s.name == t.submission)
            .ok_or_else(|| {
                AlgoPerfError::Invalid(format!(
                    "{}: submission `{}` not given",
                    t.label(),
                    t.submission
                ))
            })?;
        let restarted = match results.state(t)? {
            TrialState::Finished(_) => {
                progress(&TrialEvent::Skipped(t));
                report.skipped.push(t.clone());
                continue;
            }
            TrialState::Started => true,
            TrialState::New => false,
        };
        let dir = results.begin(t)?;
        progress(&TrialEvent::Started {
            trial: t,
            restarted,
        });
        let setup = runner.prepare(t, sub)?;
        let done = run_trial_in(&dir, t, sub, setup, clock, progress)?;
        results.finish(t, &done)?;
        progress(&TrialEvent::Finished {
            trial: t,
            done: &done,
        });
        if restarted {
            report.restarted.push(t.clone());
        }
        report.ran.push((t.clone(), done));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algoperf::logs::read_results;
    use crate::algoperf::results::{DONE_FILE, PlanFile, ResultsDir};
    use crate::algoperf::study::{Plan, Shard};
    use std::cell::Cell;
    use std::rc::Rc;

    /// A fake clock advanced by the fake training: steps take 1 s, evaluations 0.25 s.
    #[derive(Clone, Default)]
    struct FakeClock(Rc<Cell<f64>>);

    impl Clock for FakeClock {
        fn now(&self) -> f64 {
            self.0.get()
        }
    }

    /// Validation accuracy 1 − 1/(1 + steps/10·lr·1000): reaches 0.9 at a step set by lr.
    struct Fake {
        clock: FakeClock,
        steps: u64,
        rate: f64,
        fail_at: Option<u64>,
    }

    impl Training for Fake {
        fn step(&mut self) -> Result<(), TrainingError> {
            if self.fail_at == Some(self.steps) {
                return Err("simulated crash".into());
            }
            self.clock.0.set(self.clock.0.get() + 1.0);
            self.steps += 1;
            Ok(())
        }

        fn evaluate(&mut self) -> Result<Metrics, TrainingError> {
            self.clock.0.set(self.clock.0.get() + 0.25);
            let acc = 1.0 - 1.0 / (1.0 + self.steps as f64 * self.rate);
            Ok(vec![
                ("train/loss".into(), 1.0 - acc),
                ("validation/accuracy".into(), acc),
                ("validation/num_examples".into(), 100.0),
            ])
        }
    }

    struct Runner {
        clock: FakeClock,
        fail_at: Option<u64>,
        prepared: usize,
    }

    impl TrialRunner for Runner {
        fn prepare(
            &mut self,
            trial: &Trial,
            submission: &Submission,
        ) -> Result<TrialSetup<'_>, AlgoPerfError> {
            self.prepared += 1;
            let resolved = submission
                .build::<f32>(&trial.hyperparameters, 100)?
                .resolved;
            let lr = resolved.hyperparameters["lr"].as_f64().unwrap_or(1e-3);
            Ok(TrialSetup {
                training: Box::new(Fake {
                    clock: self.clock.clone(),
                    steps: 0,
                    rate: lr * 100.0,
                    fail_at: self.fail_at,
                }),
                target: WorkloadTarget {
                    metric: "validation/accuracy".into(),
                    target: 0.9,
                    minimize: None,
                },
                budget: Budget {
                    max_steps: Some(60),
                    max_seconds: None,
                },
                cadence: Cadence::Steps(7),
                step_hint: 100,
                config: serde_json::to_value(&resolved).unwrap_or_default(),
            })
        }
    }

    fn tempdir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("optlab-algoperf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn plan() -> Plan {
        Plan {
            submissions: vec![Submission::load("adamw").unwrap()],
            workloads: vec!["fake".into()],
            studies: 2,
            trials: 3,
            seed: 0,
        }
    }

    #[test]
    fn clocks_logs_and_stops_follow_algoperf() {
        let root = tempdir("clocks");
        let results = ResultsDir::create(&root).unwrap();
        let p = plan();
        let trials = p.trials().unwrap();
        let clock = FakeClock::default();
        let mut runner = Runner {
            clock: clock.clone(),
            fail_at: None,
            prepared: 0,
        };
        let mut evals = 0;
        let report = run_trials(
            &results,
            &p.submissions,
            &trials,
            &mut runner,
            &clock,
            &mut |e| {
                if matches!(e, TrialEvent::Evaluated { .. }) {
                    evals += 1;
                }
            },
        )
        .unwrap();
        assert_eq!(report.ran.len(), 6);
        assert!(evals > 6);
        for (t, done) in &report.ran {
            let dir = results.trial_dir(t);
            let m = EvalMeasurements::read(&dir.join(MEASUREMENTS_FILE)).unwrap();
            assert_eq!(
                m.columns,
                [
                    "accumulated_eval_time",
                    "accumulated_logging_time",
                    "accumulated_submission_time",
                    "global_step",
                    "preemption_count",
                    "score",
                    "total_duration",
                    "train/loss",
                    "validation/accuracy",
                    "validation/num_examples"
                ]
            );
            let steps = m.column("global_step").unwrap();
            let sub = m.column("accumulated_submission_time").unwrap();
            let ev = m.column("accumulated_eval_time").unwrap();
            let total = m.column("total_duration").unwrap();
            let score = m.column("score").unwrap();
            for i in 0..steps.len() {
                // 1 s per step, 0.25 s per evaluation: submission time excludes evaluations
                assert_eq!(sub[i], steps[i]);
                assert_eq!(score[i], sub[i]);
                assert_eq!(ev[i], 0.25 * (i + 1) as f64);
                assert_eq!(total[i], sub[i] + ev[i]);
            }
            let acc = m.column("validation/accuracy").unwrap();
            match done.stop {
                StopReason::TargetReached => {
                    assert!(*acc.last().unwrap() >= 0.9);
                    assert!(acc[..acc.len() - 1].iter().all(|&a| a < 0.9));
                    assert!(done.reached_target);
                }
                StopReason::StepBudget => {
                    assert_eq!(
                        *steps.last().unwrap(),
                        60.0,
                        "final evaluation at the budget"
                    );
                    assert!(acc.iter().all(|&a| a < 0.9));
                }
                other => panic!("{other:?}"),
            }
            assert!(dir.join(DONE_FILE).is_file());
            assert!(dir.join("hparams.json").is_file());
            let hp: Value = crate::algoperf::read_json(&dir.join("hparams.json")).unwrap();
            assert!(hp.get("learning_rate").is_some());
        }
        // the logs read back as a submission (optlab framework suffix)
        let (subs, _) = read_results(&root).unwrap();
        assert_eq!(subs["adamw"].studies.len(), 2);
        // a second run skips everything
        let again = run_trials(
            &results,
            &p.submissions,
            &trials,
            &mut runner,
            &clock,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!((again.ran.len(), again.skipped.len()), (0, 6));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn interrupted_trials_restart_and_status_counts() {
        let root = tempdir("restart");
        let results = ResultsDir::create(&root).unwrap();
        let p = plan();
        let trials = p.trials().unwrap();
        let plan_file = PlanFile {
            studies: p.studies,
            trials_per_study: p.trials,
            seed: p.seed,
            submissions: vec!["adamw".into()],
            workloads: p.workloads.clone(),
            trials: trials.clone(),
        };
        let sources = vec![("adamw".to_string(), p.submissions[0].source.clone())];
        results.write_plan(&plan_file, &sources).unwrap();
        results.write_plan(&plan_file, &sources).unwrap();
        let clock = FakeClock::default();
        // shard 0/2 runs; trial 0 crashes at step 3, leaving a started directory
        let shard = Shard::new(0, 2).unwrap().select(&trials);
        let mut crashing = Runner {
            clock: clock.clone(),
            fail_at: Some(3),
            prepared: 0,
        };
        let e = run_trials(
            &results,
            &p.submissions,
            &shard,
            &mut crashing,
            &clock,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("simulated crash"), "{e}");
        let st = results.status().unwrap();
        assert_eq!(st.rows.len(), 1);
        assert_eq!(
            (st.rows[0].planned, st.rows[0].finished, st.rows[0].started),
            (6, 0, 1)
        );
        let mut ok = Runner {
            clock: clock.clone(),
            fail_at: None,
            prepared: 0,
        };
        let r = run_trials(
            &results,
            &p.submissions,
            &shard,
            &mut ok,
            &clock,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r.ran.len(), 3);
        assert_eq!(r.restarted.len(), 1);
        let st = results.status().unwrap();
        assert_eq!(
            (
                st.rows[0].finished,
                st.rows[0].started,
                st.rows[0].pending()
            ),
            (3, 0, 3)
        );
        // shard 1/2 completes the plan
        let other = Shard::new(1, 2).unwrap().select(&trials);
        run_trials(
            &results,
            &p.submissions,
            &other,
            &mut ok,
            &clock,
            &mut |_| {},
        )
        .unwrap();
        let st = results.status().unwrap();
        assert_eq!((st.rows[0].finished, st.rows[0].pending()), (6, 0));
        // a different plan or a changed submission is refused
        let mut other_plan = plan_file.clone();
        other_plan.seed = 1;
        assert!(results.write_plan(&other_plan, &sources).is_err());
        let changed = vec![("adamw".to_string(), "# changed\n".to_string())];
        assert!(results.write_plan(&plan_file, &changed).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn incompatible_or_foreign_directories_are_refused() {
        let root = tempdir("version");
        ResultsDir::create(&root).unwrap();
        let marker = root.join(crate::algoperf::results::MARKER_FILE);
        let text = std::fs::read_to_string(&marker)
            .unwrap()
            .replace("\"version\": 1", "\"version\": 99");
        std::fs::write(&marker, text).unwrap();
        let e = ResultsDir::create(&root).unwrap_err().to_string();
        assert!(
            e.contains("format version 99") && e.contains("version 1"),
            "{e}"
        );
        assert!(ResultsDir::open(&root).is_err());
        std::fs::remove_file(&marker).unwrap();
        std::fs::write(root.join("notes.txt"), "x").unwrap();
        let e = ResultsDir::create(&root).unwrap_err().to_string();
        assert!(
            e.contains("not an optlab algoperf results directory"),
            "{e}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn settings_are_checked() {
        assert!(Budget::default().check().is_err());
        assert!(
            Budget {
                max_steps: Some(0),
                max_seconds: None
            }
            .check()
            .is_err()
        );
        assert!(
            Budget {
                max_steps: None,
                max_seconds: Some(f64::NAN)
            }
            .check()
            .is_err()
        );
        assert!(Cadence::Steps(0).check().is_err());
        assert!(Cadence::Seconds(-1.0).check().is_err());
        assert!(Cadence::Seconds(2.0).check().is_ok());
    }
}
