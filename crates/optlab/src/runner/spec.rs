//! The experiment file (TOML): problem, methods, seeds, budget, logging and plot options, with
//! `--set key=value` overrides. Every table rejects unknown fields with the list of valid names.
//! The schema is documented field by field in `docs/experiments.md`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::RunError;
use super::averaging::Averaging;
use crate::optim::registry::HyperMap;
use crate::oracle::BatchSize;
use crate::overrides::{self, OverrideError};
use crate::problem::ProblemSpec;
use crate::record::XAxis;

/// Floating-point precision of a run's parameters and problem data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32.
    F32,
    /// f64 (default; theory experiments).
    #[default]
    F64,
}

/// A learning rate: a number, or an expression in the problem's constants (`"1/L"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LrValue {
    /// A plain number.
    Number(f64),
    /// An expression (see [`expr`](super::expr)).
    Expr(String),
}

/// One method of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MethodSpec {
    /// Label in records, legends and the summary (default: the optimizer name); must be unique.
    pub name: Option<String>,
    /// Optimizer: a registry name (`optlab list`: SGD, Adam, AdamW, ...) or `ArmijoGD`.
    pub optimizer: String,
    /// Learning rate: number or expression (`"1/L"`, `"0.5/L"`, `"1/(2mu)"`).
    pub lr: Option<LrValue>,
    /// Other hyperparameters under PyTorch's names (`{ momentum = 0.9 }`), incl. `groups`.
    pub hyper: HyperMap,
    /// Step-size schedule (`{ kind = "StronglyConvex", mu = 1.0 }`; default constant). String
    /// arguments that parse as expressions (`mu = "mu"`) are evaluated like `lr`.
    pub schedule: Option<Value>,
    /// `"full"` (default) or a number of samples per step.
    pub batch_size: BatchSize,
    /// Sample with replacement (default true); false: reshuffle every epoch.
    pub replacement: bool,
    /// Report an average of the iterates: "none" (default), "uniform", "step_weighted".
    pub averaging: Averaging,
    /// Iterations for this method (overrides the experiment's budget).
    pub iterations: Option<u64>,
    /// Epochs for this method (overrides the experiment's budget).
    pub epochs: Option<f64>,
}

impl Default for MethodSpec {
    fn default() -> Self {
        MethodSpec {
            name: None,
            optimizer: String::new(),
            lr: None,
            hyper: HyperMap::new(),
            schedule: None,
            batch_size: BatchSize::Full,
            replacement: true,
            averaging: Averaging::None,
            iterations: None,
            epochs: None,
        }
    }
}

impl MethodSpec {
    /// The label used in records.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.optimizer.clone())
    }
}

/// Plot options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlotSpec {
    /// Metric on the y-axis (default: `subopt` when f* is known, else `loss`).
    pub metric: Option<String>,
    /// x-axis: "iterations", "epochs" (default), "seconds" or "grad_evals".
    pub x_axis: XAxis,
    /// Title (default: the problem's description).
    pub title: Option<String>,
    /// Also draw the averaged iterates of methods with averaging, dashed (default true).
    pub averages: bool,
}

impl Default for PlotSpec {
    fn default() -> Self {
        PlotSpec {
            metric: None,
            x_axis: XAxis::Epochs,
            title: None,
            averages: true,
        }
    }
}

/// An experiment: a problem, methods, seeds and a budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Name: output goes to `runs/<name>/` (default "experiment").
    pub name: String,
    /// Number of seeds per method (default 10).
    pub seeds: u64,
    /// First seed; runs use seed, seed+1, ... (default 0).
    pub seed: u64,
    /// "f64" (default) or "f32".
    pub precision: Precision,
    /// Iterations per run (default 1000 when neither this nor `epochs` is set).
    pub iterations: Option<u64>,
    /// Budget in passes over the data instead of iterations.
    pub epochs: Option<f64>,
    /// Log every k iterations (exclusive with `log_points`).
    pub log_every: Option<u64>,
    /// Log at about this many log-spaced iterations (default 200).
    pub log_points: Option<u64>,
    /// Also log `grad_moment` = E‖g‖² of the single-sample oracle at x_k, i.e.
    /// (1/m) Σᵢ ‖∇fᵢ(x_k)‖² (+ d σ² with gradient noise σ): the σ² of the SGD theorems
    /// (default false; costs m per-sample gradients per logged point, not counted).
    pub grad_moment: bool,
    /// The problem.
    pub problem: ProblemSpec,
    /// The methods.
    pub methods: Vec<MethodSpec>,
    /// Plot options.
    pub plot: PlotSpec,
}

impl Default for ExperimentSpec {
    fn default() -> Self {
        ExperimentSpec {
            name: "experiment".into(),
            seeds: 10,
            seed: 0,
            precision: Precision::F64,
            iterations: None,
            epochs: None,
            log_every: None,
            log_points: None,
            grad_moment: false,
            problem: ProblemSpec::default(),
            methods: Vec::new(),
            plot: PlotSpec::default(),
        }
    }
}

/// Names of the methods the runner implements itself (beyond the optimizer registry).
pub const RUNNER_METHODS: &[&str] = &["ArmijoGD"];

/// Whether `name` is the runner's line-search method.
pub fn is_armijo(name: &str) -> bool {
    ["armijogd", "armijo", "gd-armijo", "linesearch"].contains(&name.to_ascii_lowercase().as_str())
}

impl ExperimentSpec {
    /// Parses a TOML experiment and applies `overrides` (`("methods.0.lr", "0.1")`, values in
    /// TOML syntax, bare words taken as strings).
    pub fn from_toml(text: &str, overrides: &[(String, String)]) -> Result<Self, RunError> {
        let spec: ExperimentSpec = if overrides.is_empty() {
            toml::from_str(text).map_err(|e| RunError::Config(e.to_string()))?
        } else {
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| RunError::Config(e.to_string()))?;
            for (k, v) in overrides {
                apply_override(&mut table, k, v)?;
            }
            let text = toml::to_string(&table).map_err(|e| RunError::Config(e.to_string()))?;
            toml::from_str(&text)
                .map_err(|e| RunError::Config(format!("after --set overrides: {e}")))?
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks what serde cannot: counts, exclusive fields, unique names.
    pub fn validate(&self) -> Result<(), RunError> {
        let bad = |m: String| Err(RunError::Config(m));
        if self.seeds == 0 || self.seeds > 100_000 {
            return bad(format!("`seeds` = {}: must be in 1..=100000", self.seeds));
        }
        if self.methods.is_empty() {
            return bad("no methods: add at least one [[methods]] table".into());
        }
        check_budget("", self.iterations, self.epochs)?;
        if self.log_every.is_some() && self.log_points.is_some() {
            return bad("set only one of `log_every` and `log_points`".into());
        }
        if self.log_every == Some(0) {
            return bad("`log_every` must be ≥ 1".into());
        }
        if self.log_points.is_some_and(|p| p < 2) {
            return bad("`log_points` must be ≥ 2 (the first and the last iteration)".into());
        }
        if self.name.is_empty()
            || self
                .name
                .contains(|c: char| !(c.is_alphanumeric() || "-_.".contains(c)))
            || self.name.starts_with('.')
        {
            return bad(format!(
                "`name` = {:?}: use letters, digits, '-', '_' and '.' (it names the output directory)",
                self.name
            ));
        }
        for (i, m) in self.methods.iter().enumerate() {
            if m.optimizer.is_empty() {
                return bad(format!(
                    "methods[{i}]: missing `optimizer` (see `optlab list`)"
                ));
            }
            check_budget(&format!("methods[{i}]."), m.iterations, m.epochs)?;
            if m.batch_size == BatchSize::Samples(0) {
                return bad(format!(
                    "methods[{i}].batch_size = 0: must be \"full\" or ≥ 1"
                ));
            }
            let label = m.label();
            if self.methods[..i].iter().any(|o| o.label() == label) {
                return bad(format!(
                    "methods[{i}]: duplicate method name `{label}`: give each method a distinct `name`"
                ));
            }
        }
        Ok(())
    }
}

fn check_budget(
    prefix: &str,
    iterations: Option<u64>,
    epochs: Option<f64>,
) -> Result<(), RunError> {
    if iterations.is_some() && epochs.is_some() {
        return Err(RunError::Config(format!(
            "set only one of `{prefix}iterations` and `{prefix}epochs`"
        )));
    }
    if let Some(e) = epochs
        && !(e.is_finite() && e > 0.0)
    {
        return Err(RunError::Config(format!(
            "`{prefix}epochs` = {e}: must be finite and > 0"
        )));
    }
    if iterations.is_some_and(|i| i > 1_000_000_000) {
        return Err(RunError::Config(format!(
            "`{prefix}iterations` must be ≤ 1e9"
        )));
    }
    Ok(())
}

/// Parses `--set` text `key=value` (the shared [`overrides`](crate::overrides) syntax).
pub fn parse_set(s: &str) -> Result<(String, String), RunError> {
    overrides::parse_set(s).map_err(override_error)
}

/// Sets the dotted path `key` (array elements by index: `methods.0.lr`) to `value`
/// ([`overrides::apply_override`]).
pub fn apply_override(table: &mut toml::Table, key: &str, value: &str) -> Result<(), RunError> {
    overrides::apply_override(table, key, value).map_err(override_error)
}

/// A `--set` error as a configuration error, with examples from the experiment schema.
fn override_error(e: OverrideError) -> RunError {
    match e {
        OverrideError::Syntax(_) => {
            RunError::Config(format!("{e}, e.g. seeds=3 or methods.0.lr=0.1"))
        }
        e => RunError::Config(e.to_string()),
    }
}
