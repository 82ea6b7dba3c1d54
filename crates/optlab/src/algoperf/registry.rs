//! The workload registry: what `optlab algoperf run` trains.
//!
//! A [`Workload`] says what it is held to ([`WorkloadSpec`]: validation metric and goal, step
//! hint, budget on these 2-core machines, evaluation cadence) and builds the [`Training`] of a
//! trial from the submission's optimizer and schedule. The targets are not part of the code: they
//! come from a `workloads.json` ([`TARGETS`], the committed file `algoperf/workloads.json`,
//! produced by `optlab algoperf targets`; see docs/algoperf.md), so that re-deriving them never
//! touches a workload's definition.
//!
//! A [`Registry`] holds workloads from any crate (this one defines the finite-sum workloads in
//! [`finite_sum`](super::finite_sum); `optlab-nn` the networks) and is the [`TrialRunner`] that
//! [`run_trials`](super::trial::run_trials) drives.

use serde::Serialize;
use serde_json::{Value, json};

use super::AlgoPerfError;
use super::study::Trial;
use super::submission::Submission;
use super::trial::{Budget, Cadence, Training, TrialRunner, TrialSetup};
use super::workloads::{WorkloadTarget, WorkloadsFile};

/// The committed targets (`algoperf/workloads.json` at the repository root): the metric, target
/// and goal of every registered workload, with how they were obtained in its `doc`.
pub const TARGETS: &str = include_str!("../../../../algoperf/workloads.json");

/// What a workload is held to (everything but its target, which comes from a targets file).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadSpec {
    /// Name on the command line and in the logs (`<name>_optlab`).
    pub name: String,
    /// Data, model and loss, in words.
    pub description: String,
    /// The `eval_measurements.csv` column the target applies to (`validation/accuracy`).
    pub metric: String,
    /// Whether smaller is better.
    pub minimize: bool,
    /// AlgoPerf's step hint: the steps a schedule is laid out over.
    pub step_hint: u64,
    /// When a trial stops without reaching the target.
    pub budget: Budget,
    /// When it is evaluated.
    pub cadence: Cadence,
}

/// A workload: data, model, loss, validation metric, budget and cadence.
pub trait Workload {
    /// What it is held to.
    fn spec(&self) -> &WorkloadSpec;

    /// The training of `trial` (its seed, its hyperparameter point) with `submission`'s optimizer
    /// and schedule (built with [`Submission::build`] at the spec's step hint), and the workload's
    /// resolved settings for `meta_data_0.json`.
    fn training(
        &mut self,
        trial: &Trial,
        submission: &Submission,
    ) -> Result<(Box<dyn Training + '_>, Value), AlgoPerfError>;
}

/// Workloads by name, with their targets: the [`TrialRunner`] of `optlab algoperf run`.
pub struct Registry {
    workloads: Vec<Box<dyn Workload>>,
    targets: WorkloadsFile,
    /// Whether trials stop at the target (false while deriving targets: every trial uses its
    /// whole budget).
    stop_at_target: bool,
    /// Factor on every budget (1, or 3 for self-tuning).
    budget_factor: f64,
}

impl Registry {
    /// An empty registry with the committed [`TARGETS`].
    pub fn new() -> Result<Registry, AlgoPerfError> {
        let targets: WorkloadsFile =
            serde_json::from_str(TARGETS).map_err(|e| AlgoPerfError::Format {
                path: "algoperf/workloads.json (built in)".into(),
                message: e.to_string(),
            })?;
        Ok(Registry {
            workloads: Vec::new(),
            targets,
            stop_at_target: true,
            budget_factor: 1.0,
        })
    }

    /// Adds workloads (a name already registered is replaced).
    pub fn with(mut self, workloads: impl IntoIterator<Item = Box<dyn Workload>>) -> Registry {
        for w in workloads {
            self.workloads
                .retain(|old| old.spec().name != w.spec().name);
            self.workloads.push(w);
        }
        self
    }

    /// Replaces the targets (e.g. `--targets FILE`); workloads it does not name keep none.
    pub fn set_targets(&mut self, targets: WorkloadsFile) {
        self.targets = targets;
    }

    /// The targets in use.
    pub fn targets(&self) -> &WorkloadsFile {
        &self.targets
    }

    /// Multiplies every workload's budget (steps and seconds) by `factor` (AlgoPerf's
    /// self-tuning ruleset: 3× the external-tuning budget).
    pub fn scale_budgets(&mut self, factor: f64) {
        self.budget_factor = factor;
    }

    /// Trials run their whole budget (the target never stops them): for deriving targets.
    pub fn run_full_budget(&mut self) {
        self.stop_at_target = false;
    }

    /// The registered workloads, in registration order.
    pub fn workloads(&self) -> impl Iterator<Item = &dyn Workload> {
        self.workloads.iter().map(|w| w.as_ref())
    }

    /// The workload called `name`, or an error listing the registered ones.
    pub fn get(&self, name: &str) -> Result<&dyn Workload, AlgoPerfError> {
        self.workloads()
            .find(|w| w.spec().name == name)
            .ok_or_else(|| {
                AlgoPerfError::Invalid(format!(
                    "unknown workload `{name}`; workloads: {}",
                    self.workloads()
                        .map(|w| w.spec().name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The target of workload `name`: from the targets file, checked against the workload's
    /// metric and goal.
    pub fn target(&self, name: &str) -> Result<WorkloadTarget, AlgoPerfError> {
        let spec = self.get(name)?.spec();
        let t = self.targets.workloads.get(name).ok_or_else(|| {
            AlgoPerfError::Invalid(format!(
                "workload `{name}` has no target in the targets file (it has: {}); derive one \
                 with `optlab algoperf targets --workloads {name}`",
                self.targets
                    .workloads
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if t.metric != spec.metric || t.minimizes().ok() != Some(spec.minimize) {
            return Err(AlgoPerfError::Invalid(format!(
                "targets file: workloads.{name} is for `{}` (minimize {:?}), the workload logs `{}` \
                 (minimize {})",
                t.metric, t.minimize, spec.metric, spec.minimize
            )));
        }
        Ok(t.clone())
    }

    /// The targets of `names` as a `workloads.json` (what a results directory holds).
    pub fn targets_file(&self, names: &[String]) -> Result<WorkloadsFile, AlgoPerfError> {
        let mut out = WorkloadsFile {
            doc: self.targets.doc.clone(),
            workloads: Default::default(),
        };
        for n in names {
            out.workloads.insert(n.clone(), self.target(n)?);
        }
        Ok(out)
    }
}

impl TrialRunner for Registry {
    fn prepare(
        &mut self,
        trial: &Trial,
        submission: &Submission,
    ) -> Result<TrialSetup<'_>, AlgoPerfError> {
        let target = if self.stop_at_target {
            self.target(&trial.workload)?
        } else {
            let s = self.get(&trial.workload)?.spec();
            WorkloadTarget {
                metric: s.metric.clone(),
                target: if s.minimize {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                },
                minimize: Some(s.minimize),
            }
        };
        let spec = self.get(&trial.workload)?.spec().clone();
        let w = self
            .workloads
            .iter_mut()
            .find(|w| w.spec().name == trial.workload)
            .ok_or_else(|| {
                AlgoPerfError::Invalid(format!("unknown workload `{}`", trial.workload))
            })?;
        let (training, settings) = w.training(trial, submission)?;
        let factor = self.budget_factor;
        let config = json!({
            "workload": spec,
            "settings": settings,
            "submission": submission.resolve(&trial.hyperparameters, spec.step_hint)?,
        });
        Ok(TrialSetup {
            training,
            target,
            budget: Budget {
                max_steps: spec
                    .budget
                    .max_steps
                    .map(|n| (n as f64 * factor).round() as u64),
                max_seconds: spec.budget.max_seconds.map(|s| s * factor),
            },
            cadence: spec.cadence,
            step_hint: spec.step_hint,
            config,
        })
    }
}
