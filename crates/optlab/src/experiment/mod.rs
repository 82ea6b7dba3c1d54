//! The experiment layer shared by `optlab run` (finite-sum problems, [`runner`](crate::runner))
//! and `optlab train` (networks, crate `optlab-nn`).
//!
//! Both kinds of experiment files have the same top-level fields ([`Common`]: name, seeds,
//! budget, logging cadence, `[target]`, `[plot]`) with one validation, name their optimizer the
//! same way ([`MethodOptimizer`]: a registry name and its hyperparameters, parsed once into a
//! typed [`OptimizerConfig`](crate::optim::registry::OptimizerConfig) when the plan is made, plus
//! the [`Wrappers`](crate::optim::wrap::Wrappers) `clip_grad_norm`, `sam`, `armijo`,
//! `averaging`), log [`Records`](crate::record::Records) whose columns are declared in a
//! [`Schema`](crate::record::Schema) (name, label, direction), resolve their `[target]` against
//! that schema ([`Target`]), report time to target the same way, and write their outputs through
//! one writer ([`RunDir`]: `metrics.csv`, `summary.json`, plots). The output directory is the
//! same for both commands: `--out D` *is* the run directory (default `runs/<name>/`).
//!
//! A program drives either kind of run the same way:
//!
//! ```text
//! parse:  ExperimentSpec::from_toml(text, sets)       TrainConfig::load(preset, sets)
//! run:    runner::run_observed(&spec, problem, &obs)  optlab_nn::train(&cfg, RunOptions { observer, .. })
//!         — the Observer sees every Record as it is logged and may stop the run (Control::Stop);
//!           `[target] stop = true` stops a run when its target is reached
//! get:    RunOutput { records, failures, .. }         Outcome { records, summary, .. }
//! write:  RunDir::create(dir) → records(), summary(), convergence(), ...
//! ```
//!
//! Evaluation happens at the optimizer's [`eval_params`](crate::Optimizer::eval_params) (an
//! average of the iterates; schedule-free methods' x): the runner's `loss_avg`/`subopt_avg`
//! columns and the trainer's evaluations both go through it.

pub mod common;
pub mod method;
pub mod output;
pub mod parse;
pub mod target;

use thiserror::Error;

use crate::error::OptimError;
use crate::overrides::OverrideError;
use crate::record::{Record, RecordError};

pub use common::{Common, PlotSpec, TargetSpec, log_schedule};
pub use method::{MethodOptimizer, OptimizerSpec};
pub use output::{OutputError, RunDir};
pub use target::{Target, TargetReport, TargetSummary};

/// A configuration error of an experiment, naming the field.
#[derive(Debug, Error)]
pub enum ExperimentError {
    /// A field with a value outside its allowed range.
    #[error("invalid `{field}` = {value}: must be {allowed}")]
    Invalid {
        /// Dotted field name, e.g. `"target.metric"`.
        field: String,
        /// The value given.
        value: String,
        /// The allowed values or range.
        allowed: String,
    },
    /// A field the file's schema does not have.
    #[error("unknown field `{field}`{context}, expected one of {valid}")]
    UnknownField {
        /// The field.
        field: String,
        /// Where (`" in methods[1]"`; empty at the top level).
        context: String,
        /// The valid fields, comma-separated and quoted.
        valid: String,
    },
    /// A file that does not parse, a value of the wrong type, or a rule between fields.
    #[error("{0}")]
    Message(String),
    /// An optimizer (or wrapper) that cannot be configured.
    #[error("{context}{source}")]
    Optimizer {
        /// Where (`"methods[0] (`GD`): "`; empty for a single optimizer).
        context: String,
        /// The optimizer's error.
        source: Box<OptimError>,
    },
    /// A metric the records do not have.
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl ExperimentError {
    /// An invalid field.
    pub fn invalid(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        ExperimentError::Invalid {
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// A message naming the field itself.
    pub fn message(m: impl Into<String>) -> Self {
        ExperimentError::Message(m.into())
    }

    /// An optimizer error at `context` (may be empty).
    pub fn optimizer(context: impl Into<String>, e: OptimError) -> Self {
        ExperimentError::Optimizer {
            context: context.into(),
            source: Box::new(e),
        }
    }

    /// A `--set` error, with `examples` of valid overrides for a syntax error.
    pub fn from_override(e: OverrideError, examples: &str) -> Self {
        match e {
            OverrideError::Syntax(_) => ExperimentError::message(format!("{e}, e.g. {examples}")),
            e => ExperimentError::message(e.to_string()),
        }
    }
}

/// What an [`Observer`] tells a run after a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// End this run now (its records so far are kept; the run is not a failure).
    Stop,
}

/// Hooks into a running experiment (AlgoPerf-style trials: evaluate at a cadence, stop at a
/// target, watch progress). `optlab run` calls them from worker threads, hence `Sync`.
pub trait Observer: Sync {
    /// A record was just logged (rows of one run in order; runs may interleave).
    fn record(&self, record: &Record) -> Control {
        let _ = record;
        Control::Continue
    }

    /// Whether [`iterate`](Observer::iterate) wants the iterate of each record the lab's runner
    /// logs (the runner copies it only then; default false).
    fn wants_iterates(&self) -> bool {
        false
    }

    /// The runner's iterate x_k (flattened, in f64) at a record it is about to log, before
    /// [`record`](Observer::record) sees the record; only when
    /// [`wants_iterates`](Observer::wants_iterates). For metrics the runner does not compute
    /// (e.g. the loss on groups of samples).
    fn iterate(&self, record: &Record, x: &[f64]) {
        let _ = (record, x);
    }

    /// `done` of `total` runs have finished.
    fn progress(&self, done: usize, total: usize) {
        let _ = (done, total);
    }
}

/// An observer that only reports progress.
pub struct Progress<'a>(pub &'a (dyn Fn(usize, usize) + Sync));

impl Observer for Progress<'_> {
    fn progress(&self, done: usize, total: usize) {
        (self.0)(done, total);
    }
}
