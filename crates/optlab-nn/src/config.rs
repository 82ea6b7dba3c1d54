//! Experiment configuration: a TOML file or a preset, with `key=value` overrides.
//!
//! ```toml
//! name = "mnist-mlp"        # output folder runs/<name>
//! seed = 0
//! epochs = 30               # or steps = N (steps wins when both are set)
//! eval_every = 100          # validation every N steps (and at the end)
//! clip_grad_norm = 1.0      # optional, PyTorch clip_grad_norm_ semantics
//!
//! [model]                   # kind = "mlp" | "cnn" | "gpt" and the model's fields
//! kind = "mlp"
//!
//! [data]                    # name = "mnist" | "digits" | "shakespeare"
//! name = "mnist"
//!
//! [optimizer]               # any optlab optimizer by PyTorch name + its hyperparameters,
//! name = "AdamW"            # optionally with parameter groups (see optlab::optim::registry)
//! lr = 1e-3
//!
//! [schedule]                # optional, an optlab ScheduleSpec
//! kind = "Constant"
//!
//! [sam]                     # optional: SAM around the optimizer
//! rho = 0.05
//!
//! [sample]                  # optional (GPT): text generated at the end
//! length = 500
//!
//! [plot]                    # optional: x-axis of loss.png/accuracy.png, title
//! x_axis = "iterations"     # iterations | epochs | seconds | grad_evals
//!
//! [target]                  # optional: time-to-target in summary.json
//! metric = "val_acc"        # any metric column; reached at >= (accuracies) or <= (losses)
//! threshold = 0.95
//! ```

use std::path::{Path, PathBuf};

use optlab::optim::registry::HyperMap;
use optlab::overrides::OverrideError;
use optlab::record::{Direction, XAxis};
use optlab::schedule::ScheduleSpec;
use serde::{Deserialize, Serialize};

use crate::data::DataSpec;
use crate::error::NnError;
use crate::models::ModelSpec;
use crate::models::mlp::MlpConfig;
use crate::sam::SamConfig;

/// The presets shipped with optlab: `(name, TOML)`.
pub const PRESETS: &[(&str, &str)] = &[
    ("mnist-mlp", include_str!("../presets/mnist-mlp.toml")),
    ("mnist-cnn", include_str!("../presets/mnist-cnn.toml")),
    ("digits-mlp", include_str!("../presets/digits-mlp.toml")),
    (
        "shakespeare-gpt",
        include_str!("../presets/shakespeare-gpt.toml"),
    ),
    (
        "shakespeare-gpt-muon",
        include_str!("../presets/shakespeare-gpt-muon.toml"),
    ),
];

/// A whole training experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name: outputs go to `<out>/<name>/` (default `"train"`).
    pub name: String,
    /// Seed of initialization, split, shuffling and windows (default 0).
    pub seed: u64,
    /// Training steps; overrides `epochs` when set.
    pub steps: Option<u64>,
    /// Training epochs (default 10 when `steps` is not set).
    pub epochs: Option<u64>,
    /// Validation every N steps, and at the end (default 100).
    pub eval_every: u64,
    /// A record of the minibatch loss every N steps (default 10).
    pub log_every: u64,
    /// Global-norm gradient clipping threshold (default none).
    pub clip_grad_norm: Option<f64>,
    /// Save a checkpoint every N steps (and at the end) to `<out>/<name>/checkpoint.json.gz`
    /// (default none: only at the end).
    pub checkpoint_every: Option<u64>,
    /// The model.
    pub model: ModelSpec,
    /// The data.
    pub data: DataSpec,
    /// The optimizer.
    pub optimizer: OptimizerSpec,
    /// Learning-rate schedule (default constant).
    pub schedule: Option<ScheduleSpec>,
    /// SAM around the optimizer (default off).
    pub sam: Option<SamConfig>,
    /// Text generated at the end (GPT only).
    pub sample: Option<SampleConfig>,
    /// Plot options (default: x-axis iterations).
    pub plot: PlotConfig,
    /// A target whose first hit is reported in `summary.json` (default none).
    pub target: Option<TargetConfig>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            name: "train".into(),
            seed: 0,
            steps: None,
            epochs: None,
            eval_every: 100,
            log_every: 10,
            clip_grad_norm: None,
            checkpoint_every: None,
            model: ModelSpec::Mlp(MlpConfig::default()),
            data: DataSpec::default(),
            optimizer: OptimizerSpec::default(),
            schedule: None,
            sam: None,
            sample: None,
            plot: PlotConfig::default(),
            target: None,
        }
    }
}

/// `[optimizer]`: a registry name and its hyperparameter map (PyTorch names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpec {
    /// Optimizer name, e.g. `"AdamW"` (see `optlab list`).
    pub name: String,
    /// Hyperparameters and optional `groups`.
    #[serde(flatten)]
    pub hyper: HyperMap,
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec {
            name: "AdamW".into(),
            hyper: HyperMap::new(),
        }
    }
}

/// `[sample]`: text generation after training (GPT).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    /// Characters to generate (default 500).
    pub length: usize,
    /// Softmax temperature > 0 (default 0.8).
    pub temperature: f64,
    /// Text to start from, made of training characters (default a newline).
    pub prompt: String,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            length: 500,
            temperature: 0.8,
            prompt: "\n".into(),
        }
    }
}

/// `[plot]`: how `loss.png`/`.svg` and `accuracy.png`/`.svg` are drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlotConfig {
    /// x-axis: `"iterations"` (optimizer steps, default), `"epochs"`, `"seconds"` (training
    /// time, evaluations excluded) or `"grad_evals"` (examples whose gradient was computed).
    pub x_axis: XAxis,
    /// Title (default: `"<name> — <optimizer>"`).
    pub title: Option<String>,
}

impl Default for PlotConfig {
    fn default() -> Self {
        PlotConfig {
            x_axis: XAxis::Iterations,
            title: None,
        }
    }
}

/// `[target]`: the first step, epoch and second at which a metric reaches a threshold
/// (`optlab::record::Records::time_to_target`), reported in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// A metric column (see [`METRICS`](crate::train::METRICS)), e.g. `"val_acc"`.
    pub metric: String,
    /// The threshold.
    pub threshold: f64,
    /// `"above"` (reached at ≥) or `"below"` (reached at ≤); default: `above` for the
    /// accuracies (`*_acc`), `below` for the losses and the gradient norm.
    #[serde(default)]
    pub direction: Option<Direction>,
}

impl TargetConfig {
    /// The direction, explicit or from the metric's kind.
    pub fn direction(&self) -> Direction {
        self.direction.unwrap_or(if self.metric.ends_with("_acc") {
            Direction::Above
        } else {
            Direction::Below
        })
    }

    fn validate(&self) -> Result<(), NnError> {
        if !crate::train::METRICS.contains(&self.metric.as_str()) {
            return Err(NnError::config(
                "target.metric",
                &self.metric,
                format!("one of {}", crate::train::METRICS.join(", ")),
            ));
        }
        if !self.threshold.is_finite() {
            return Err(NnError::config(
                "target.threshold",
                self.threshold,
                "a finite number",
            ));
        }
        Ok(())
    }
}

impl TrainConfig {
    /// Checks every field that does not need the data.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name == ".." {
            return Err(NnError::config(
                "name",
                &self.name,
                "a non-empty folder name without `/`",
            ));
        }
        if self.eval_every == 0 {
            return Err(NnError::config("eval_every", 0, "≥ 1"));
        }
        if self.log_every == 0 {
            return Err(NnError::config("log_every", 0, "≥ 1"));
        }
        if self.checkpoint_every == Some(0) {
            return Err(NnError::config("checkpoint_every", 0, "≥ 1"));
        }
        if let Some(m) = self.clip_grad_norm {
            crate::clip::check_max_norm(m)?;
        }
        if self.steps == Some(0) || self.epochs == Some(0) {
            return Err(NnError::config("steps/epochs", 0, "≥ 1"));
        }
        if let Some(s) = &self.sample
            && !(s.temperature.is_finite() && s.temperature > 0.0)
        {
            return Err(NnError::config(
                "sample.temperature",
                s.temperature,
                "finite and > 0",
            ));
        }
        if let Some(t) = &self.target {
            t.validate()?;
        }
        self.model.validate()?;
        self.data.validate()
    }

    /// Parses a TOML experiment and applies `key=value` overrides with the shared
    /// [`optlab::overrides`] syntax (dotted keys, list elements by index, TOML values; a value
    /// that is not valid TOML is taken as a string).
    pub fn from_toml(text: &str, overrides: &[String]) -> Result<Self, NnError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| NnError::Parse(format!("experiment: {e}")))?;
        for o in overrides {
            let (key, value) = optlab::overrides::parse_set(o).map_err(override_error)?;
            optlab::overrides::apply_override(&mut table, &key, &value).map_err(override_error)?;
        }
        let cfg: TrainConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| NnError::Parse(format!("experiment: {}", e.message())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// A preset by name or an `EXPERIMENT.toml` path, with overrides.
    pub fn load(preset_or_path: &str, overrides: &[String]) -> Result<Self, NnError> {
        if let Some((_, text)) = PRESETS.iter().find(|(n, _)| *n == preset_or_path) {
            return Self::from_toml(text, overrides);
        }
        let path = Path::new(preset_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            let text =
                std::fs::read_to_string(path).map_err(|e| NnError::io(PathBuf::from(path), e))?;
            return Self::from_toml(&text, overrides)
                .map_err(|e| NnError::Parse(format!("{}: {e}", path.display())));
        }
        Err(NnError::UnknownPreset {
            name: preset_or_path.to_string(),
            valid: PRESETS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Total training steps for `steps_per_epoch`.
    pub fn total_steps(&self, steps_per_epoch: u64) -> u64 {
        self.steps
            .unwrap_or_else(|| self.epochs.unwrap_or(10) * steps_per_epoch)
    }
}

/// A `--set` error, with examples from the experiment schema.
fn override_error(e: OverrideError) -> NnError {
    match e {
        OverrideError::Syntax(_) => NnError::Parse(format!(
            "{e}, e.g. optimizer.lr=3e-4, model.width=256 or optimizer.groups.0.lr=0.01"
        )),
        e => NnError::Parse(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_overrides_apply() {
        for (name, _) in PRESETS {
            let c = TrainConfig::load(name, &[]).unwrap();
            assert_eq!(&c.name, name);
        }
        let c = TrainConfig::load(
            "mnist-mlp",
            &[
                "model.width=64".into(),
                "optimizer.lr=0.01".into(),
                "steps=5".into(),
            ],
        )
        .unwrap();
        assert!(matches!(&c.model, ModelSpec::Mlp(m) if m.width == 64));
        assert_eq!(
            c.optimizer.hyper.get("lr").and_then(|v| v.as_f64()),
            Some(0.01)
        );
        assert_eq!(c.steps, Some(5));
        // list elements by index (the shared override syntax of `optlab run`)
        let c = TrainConfig::load(
            "mnist-cnn",
            &[
                "model.channels.1=8".into(),
                "optimizer.groups=[{ params = \"ndim=1\", weight_decay = 0.0 }]".into(),
                "optimizer.groups.0.lr=0.01".into(),
            ],
        )
        .unwrap();
        assert!(matches!(&c.model, ModelSpec::Cnn(m) if m.channels == [6, 8]));
        assert_eq!(
            c.optimizer.hyper["groups"][0]["lr"].as_f64(),
            Some(0.01),
            "{:?}",
            c.optimizer.hyper
        );
        let e = TrainConfig::load("mnist-cnn", &["model.channels.2=8".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.channels") && e.contains("2 elements"),
            "{e}"
        );
    }

    #[test]
    fn the_experiment_example_in_the_docs_parses() {
        let doc = include_str!("../../../docs/nn.md");
        let start = doc.find("```toml\n").unwrap() + 8;
        let end = start + doc[start..].find("```").unwrap();
        let c = TrainConfig::from_toml(&doc[start..end], &[]).unwrap();
        assert!(matches!(c.model, ModelSpec::Gpt(_)));
        assert!(c.schedule.unwrap().build().is_ok());
        assert_eq!(c.sam.unwrap().rho, 0.05);
        assert_eq!(c.plot.x_axis, XAxis::Iterations);
        let t = c.target.unwrap();
        assert_eq!((t.metric.as_str(), t.threshold), ("val_loss", 2.0));
        assert_eq!(t.direction(), Direction::Below);
    }

    #[test]
    fn targets_are_checked_and_directions_follow_the_metric() {
        let c = TrainConfig::load("digits-mlp", &["target.threshold=0.5".into()]);
        let t = c.unwrap().target.unwrap();
        assert_eq!(t.direction(), Direction::Above, "val_acc: reached at ≥");
        let e = TrainConfig::load("digits-mlp", &["target.metric=\"val_accuracy\"".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("val_accuracy") && e.contains("val_acc"), "{e}");
        let e = TrainConfig::load("digits-mlp", &["target.threshold=nan".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("target.threshold"), "{e}");
        let e = TrainConfig::load("digits-mlp", &["plot.x_axis=\"steps\"".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("steps") && e.contains("iterations"), "{e}");
    }

    #[test]
    fn bad_names_and_fields_are_clear_errors() {
        let e = TrainConfig::load("mnist-mpl", &[]).unwrap_err().to_string();
        assert!(
            e.contains("mnist-mpl") && e.contains("mnist-mlp") && e.contains("shakespeare-gpt"),
            "{e}"
        );
        let e = TrainConfig::load("mnist-mlp", &["model.widht=3".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("widht") && e.contains("width"), "{e}");
        let e = TrainConfig::load("mnist-mlp", &["model.kind=rnn".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("rnn") && e.contains("gpt"), "{e}");
        let e = TrainConfig::load("digits-mlp", &["data.batch_size=0".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.batch_size"), "{e}");
        let e = TrainConfig::load("digits-mlp", &["eval_every".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("key=value"), "{e}");
    }
}
