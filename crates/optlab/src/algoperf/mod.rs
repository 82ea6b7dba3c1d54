//! AlgoPerf-style benchmarking of training algorithms (`optlab algoperf`).
//!
//! [AlgoPerf](https://github.com/mlcommons/algorithmic-efficiency) (Dahl et al. 2023,
//! "Benchmarking Neural Network Training Algorithms") compares training algorithms by the time
//! they need to reach a fixed validation target on a set of workloads, with hyperparameters tuned
//! by quasi-random search under a fixed budget, and aggregates the times into performance
//! profiles and one score. This module implements that procedure on optlab's side, in AlgoPerf's
//! own file formats, so that optlab's logs can be scored by AlgoPerf's scripts and AlgoPerf's
//! logs by optlab:
//!
//! - [`logs`] — `DIR/<submission>/study_<k>/<workload>_<framework>/trial_<j>/eval_measurements.csv`
//!   (AlgoPerf's columns; empty cells are failed evaluations), `hparams.json`, reading whole result
//!   trees written by AlgoPerf (`_jax`, `_pytorch`) or optlab (`_optlab`);
//! - [`workloads`] — `workloads.json`, the validation metric, target and goal of each workload;
//! - [`scoring`] — AlgoPerf v0.6 external-tuning scoring (time to target per trial, fastest trial
//!   per study, median over studies, the 4× cap, ratios to the best);
//! - [`profile`] — performance profiles ρ(τ) on AlgoPerf's τ grid and the score (their integral);
//! - [`halton`] — AlgoPerf's scrambled Halton sequence, bit for bit (numpy's MT19937 draws), and
//!   the centered L² discrepancy;
//! - [`search`] — search spaces (log/linear ranges, discrete sets) and fixed lists of points;
//! - [`submission`] — submission files (TOML): optimizer, schedule over the step hint, search space;
//! - [`study`] — the deterministic trial list (submission × workload × study × trial) and shards;
//! - [`results`] — the results directory (version marker, finished-trial markers, status);
//! - [`registry`] — the workloads ([`registry::Workload`]: metric, goal, step hint, budget,
//!   cadence; the [`Training`](trial::Training) of a trial) and their targets (the committed
//!   `algoperf/workloads.json`); [`finite_sum`] — the finite-sum workloads (`logreg`);
//! - [`speedrun`] — fixed hyperparameters × K seeds: steps and time to the target, 95 % CIs,
//!   Welch's t-test (the NanoGPT speedrun's comparison, Muon vs AdamW);
//! - [`targets`] — AlgoPerf's target-setting procedure at our scale (tune the baselines, rerun
//!   the best configuration, median of the best validation metrics);
//! - [`trial`] — **the seam to the training code** — [`trial::TrialRunner`] / [`trial::Training`]
//!   (implemented by the workloads) and [`trial::run_trial`], which owns the loop, AlgoPerf's
//!   clocks, the eval cadence, the stop at target or budget, and the logs;
//! - [`report`] — time-to-target tables, `scores.json`, the profile plot and the HTML page.
//!
//! The scoring reproduces `../shared/fixtures/algoperf_scoring/expected.json` to 1e-9 (a test).

pub mod finite_sum;
pub mod halton;
pub mod logs;
pub mod profile;
pub mod registry;
pub mod report;
pub mod results;
pub mod scoring;
pub mod search;
pub mod speedrun;
pub mod study;
pub mod submission;
pub mod targets;
pub mod trial;
pub mod workloads;

use std::path::Path;

use thiserror::Error;

use crate::error::OptimError;
use crate::plot::PlotError;

/// Everything that can go wrong in `optlab algoperf`.
#[derive(Debug, Error)]
pub enum AlgoPerfError {
    /// A file or directory could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// The system's message.
        message: String,
    },
    /// A file has the wrong content (CSV, JSON, TOML): the message names the line or field.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong, and where.
        message: String,
    },
    /// A submission file (or search space) has an invalid field.
    #[error("submission {submission}: `{field}`: {message}")]
    Submission {
        /// The submission's file or name.
        submission: String,
        /// The field, as a TOML path (`search_space.learning_rate.min`).
        field: String,
        /// What is wrong, with the allowed values.
        message: String,
    },
    /// A command-line or plan setting is invalid (a shard, a number of trials, a name).
    #[error("{0}")]
    Invalid(String),
    /// A results directory written by an incompatible version of optlab.
    #[error(
        "{path}: results directory of format version {found}; this optlab reads and writes \
         version {expected}: use a new output directory (or the optlab that wrote it)"
    )]
    Version {
        /// The marker file.
        path: String,
        /// The version found.
        found: u32,
        /// The version this build uses.
        expected: u32,
    },
    /// Nothing to score or no usable data.
    #[error("{0}")]
    Empty(String),
    /// The optimizer of a submission could not be built.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// A plot could not be written.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The training code failed (phase 2's workloads report through this).
    #[error("trial {trial}: {message}")]
    Training {
        /// The trial (`submission/study_k/workload/trial_j`).
        trial: String,
        /// The failure.
        message: String,
    },
}

/// `AlgoPerfError::Io` for `path`.
pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> AlgoPerfError {
    AlgoPerfError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// `AlgoPerfError::Format` for `path`.
pub(crate) fn format_err(path: &Path, message: impl Into<String>) -> AlgoPerfError {
    AlgoPerfError::Format {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Writes `bytes` to `path` atomically: into a temporary file beside it, then renamed over it, so
/// that a reader (or an interrupted writer) never sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AlgoPerfError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// Pretty JSON of `value` followed by a newline, written atomically.
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(
    path: &Path,
    value: &T,
) -> Result<(), AlgoPerfError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| format_err(path, e.to_string()))?;
    write_atomic(path, (text + "\n").as_bytes())
}

/// Reads and parses a JSON file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, AlgoPerfError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    serde_json::from_str(&text).map_err(|e| format_err(path, e.to_string()))
}
