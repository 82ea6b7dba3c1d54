//! Typed errors of the neural-network layer.
//!
//! Everything a user supplies (an experiment file, a `--set` override, a data file, a checkpoint)
//! fails with an [`NnError`] naming the file and line, the field and its allowed values, or the
//! step and parameter — never with a panic.

use std::path::PathBuf;

use optlab::datafile::DataFileError;
use optlab::experiment::{ExperimentError, OutputError};
use thiserror::Error;

/// Everything that can go wrong when loading data, building a model or training it.
#[derive(Debug, Error)]
pub enum NnError {
    /// A file that cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A data file with a malformed line.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },

    /// A configuration field with an invalid value.
    #[error("invalid `{field}` = {value}: must be {allowed}")]
    Config {
        /// Dotted field name, e.g. `"model.depth"`.
        field: String,
        /// The value given.
        value: String,
        /// The allowed values or range.
        allowed: String,
    },

    /// An experiment file or override that does not parse, has unknown fields or an invalid
    /// shared field (name, budget, cadence, `[target]`, `[plot]`).
    #[error(transparent)]
    Experiment(#[from] ExperimentError),

    /// An error in the experiment file `path`.
    #[error("{path}: {source}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        source: Box<NnError>,
    },

    /// A data file that cannot be found or opened.
    #[error(transparent)]
    DataFile(#[from] DataFileError),

    /// A model handed a batch of the wrong kind.
    #[error("{model} expects {expected} inputs; the data set gives another kind")]
    WrongInput {
        /// The model kind.
        model: String,
        /// The inputs it takes.
        expected: String,
    },

    /// An output file (run directory, checkpoint, sample) that cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },

    /// A plot that cannot be drawn.
    #[error("cannot draw {path}: {message}")]
    Plot {
        /// The plot file.
        path: PathBuf,
        /// The plot's error.
        message: String,
    },

    /// Records that cannot be written or read back (a checkpoint's).
    #[error("records: {0}")]
    Records(String),

    /// An unknown preset name.
    #[error("unknown preset `{name}`; valid presets: {valid} (or a path to an EXPERIMENT.toml)")]
    UnknownPreset {
        /// The name given.
        name: String,
        /// Comma-separated list of presets.
        valid: String,
    },

    /// The training loss became NaN or infinite.
    #[error("non-finite training loss {value} at step {step}")]
    NonFiniteLoss {
        /// 1-based step at which the loss was computed.
        step: u64,
        /// The loss value.
        value: f64,
    },

    /// The optimizer refused a step or could not be built.
    #[error("optimizer: {0}")]
    Optim(#[from] optlab::OptimError),

    /// A model and a host buffer (or checkpoint) that disagree on parameters.
    #[error("parameter mismatch: {0}")]
    ParamMismatch(String),

    /// A parameter that has a gradient at some steps and none at others (see
    /// [`bridge`](crate::bridge)).
    #[error(
        "parameter `{param}` {} at optimizer step {step}, but {} at the first step: optimizer \
         state is kept for the parameters that had a gradient at the first step, so a \
         parameter's gradient cannot come and go; make it take part in every loss or in none",
        if *now { "has a gradient" } else { "has no gradient" },
        if *now { "had none" } else { "had one" }
    )]
    GradientComesAndGoes {
        /// Parameter name.
        param: String,
        /// The optimizer step about to be taken (1-based).
        step: u64,
        /// Whether it has a gradient now.
        now: bool,
    },

    /// A tensor whose data cannot be read as `f32`.
    #[error("tensor data of `{param}`: {message}")]
    TensorData {
        /// Parameter name.
        param: String,
        /// What is wrong.
        message: String,
    },

    /// A checkpoint that cannot be used.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl From<OutputError> for NnError {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::Write { path, source } => NnError::Write { path, source },
            OutputError::Plot { path, source } => NnError::Plot {
                path,
                message: source.to_string(),
            },
            OutputError::Records { path, source } => {
                NnError::Records(format!("{}: {source}", path.display()))
            }
            OutputError::Summary { path, message } => NnError::Write {
                path,
                source: std::io::Error::other(message),
            },
        }
    }
}

impl NnError {
    /// An invalid configuration field.
    pub fn config(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        NnError::Config {
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NnError::Io {
            path: path.into(),
            source,
        }
    }
}
