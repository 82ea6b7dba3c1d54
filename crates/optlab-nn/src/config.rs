//! Experiment configuration: a TOML file or a preset, with `key=value` overrides.
//!
//! The top-level fields every experiment has (`name`, `seed`, `steps`/`epochs`, `log_every`,
//! `[target]`, `[plot]`) are the lab's shared [`Common`] fields with their one validation, and
//! the optimizer's wrappers (`clip_grad_norm`, `[sam]`, `[armijo]`, `averaging`) are the shared
//! [`Wrappers`]; `optlab run` reads the same fields the same way.
//!
//! ```toml
//! name = "mnist-mlp"        # run directory runs/<name> (or --out)
//! seed = 0
//! epochs = 30               # or steps = N (not both)
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
//! metric = "val_acc"        # a metric column; reached in the direction it declares
//! threshold = 0.95
//! ```

use std::path::{Path, PathBuf};

use optlab::experiment::{Common, OptimizerSpec, Target, parse};
use optlab::optim::wrap::Wrappers;
use optlab::schedule::ScheduleSpec;
use serde::{Deserialize, Serialize};

use crate::data::DataSpec;
use crate::error::NnError;
use crate::metrics;
use crate::models::ModelSpec;
use crate::models::mlp::MlpConfig;

/// The presets shipped with optlab: `(name, TOML)`.
pub const PRESETS: &[(&str, &str)] = &[
    ("mnist-mlp", include_str!("../presets/mnist-mlp.toml")),
    ("mnist-cnn", include_str!("../presets/mnist-cnn.toml")),
    ("digits-mlp", include_str!("../presets/digits-mlp.toml")),
    ("grokking", include_str!("../presets/grokking.toml")),
    (
        "shakespeare-gpt",
        include_str!("../presets/shakespeare-gpt.toml"),
    ),
    (
        "shakespeare-gpt-muon",
        include_str!("../presets/shakespeare-gpt-muon.toml"),
    ),
];

/// Training epochs when neither `steps` nor `epochs` is set.
pub const DEFAULT_EPOCHS: f64 = 10.0;

/// A minibatch record every this many steps when neither `log_every` nor `log_points` is set.
pub const DEFAULT_LOG_EVERY: u64 = 10;

/// A whole training experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// `name`, `seed` (default 0), `seeds` (1: one seed per run), `steps` or `epochs`
    /// (default 10 epochs), `log_every` (default 10) or `log_points`, `[target]`, `[plot]`
    /// (default x-axis: iterations).
    #[serde(flatten)]
    pub common: Common,
    /// Validation every N steps, and at the end (default 100).
    pub eval_every: u64,
    /// Save a checkpoint every N steps (and at the end) into the run directory
    /// (`checkpoints/step-N/`, see [`checkpoint`](crate::checkpoint); default none: only at the
    /// end).
    pub checkpoint_every: Option<u64>,
    /// Label smoothing ε of the training loss, in [0, 1] (default 0): each example's target is
    /// (1 − ε)·onehot + ε/K over the K classes (PyTorch's `nn.CrossEntropyLoss(label_smoothing=ε)`;
    /// AlgoPerf's `label_smoothing` hyperparameter). Validation losses are unsmoothed.
    pub label_smoothing: f64,
    /// The model.
    pub model: ModelSpec,
    /// The data.
    pub data: DataSpec,
    /// The optimizer.
    pub optimizer: OptimizerSpec,
    /// Learning-rate schedule (default constant).
    pub schedule: Option<ScheduleSpec>,
    /// Wrappers around the optimizer: `clip_grad_norm`, `sam`, `armijo`, `averaging`.
    #[serde(flatten)]
    pub wrappers: Wrappers,
    /// Text generated at the end (GPT only).
    pub sample: Option<SampleConfig>,
    /// Shard the optimizer state across the ranks of a data-parallel run (ZeRO-1: each rank
    /// keeps the state of, and updates, only its share of the parameters, which are then
    /// all-gathered; for Muon whole matrices, balanced by Newton–Schulz flops). Default false;
    /// no effect in one process. See docs/distributed.md.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shard_optimizer_state: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            common: Common::default(),
            eval_every: 100,
            checkpoint_every: None,
            label_smoothing: 0.0,
            model: ModelSpec::Mlp(MlpConfig::default()),
            data: DataSpec::default(),
            optimizer: OptimizerSpec::default(),
            schedule: None,
            wrappers: Wrappers::default(),
            sample: None,
            shard_optimizer_state: false,
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

/// Examples of `--set` for error messages.
const SET_EXAMPLES: &str = "optimizer.lr=3e-4, model.width=256 or optimizer.groups.0.lr=0.01";

impl TrainConfig {
    /// Its own top-level field names (besides [`Common::FIELDS`] and [`Wrappers::FIELDS`]).
    pub const FIELDS: &'static [&'static str] = &[
        "eval_every",
        "checkpoint_every",
        "label_smoothing",
        "model",
        "data",
        "optimizer",
        "schedule",
        "sample",
        "shard_optimizer_state",
    ];

    /// Checks every field that does not need the data.
    pub fn validate(&self) -> Result<(), NnError> {
        self.common.validate()?;
        if let Some(s) = self.common.seeds
            && s != 1
        {
            return Err(NnError::config(
                "seeds",
                s,
                "1: optlab train runs one seed; run it again with --set seed=N",
            ));
        }
        if self.common.steps == Some(0) {
            return Err(NnError::config("steps", 0, "≥ 1"));
        }
        if self.eval_every == 0 {
            return Err(NnError::config("eval_every", 0, "≥ 1"));
        }
        if self.checkpoint_every == Some(0) {
            return Err(NnError::config("checkpoint_every", 0, "≥ 1"));
        }
        if !(0.0..=1.0).contains(&self.label_smoothing) {
            return Err(NnError::config(
                "label_smoothing",
                self.label_smoothing,
                "in [0, 1]",
            ));
        }
        self.wrappers.validate()?;
        if let Some(s) = &self.sample
            && !(s.temperature.is_finite() && s.temperature > 0.0)
        {
            return Err(NnError::config(
                "sample.temperature",
                s.temperature,
                "finite and > 0",
            ));
        }
        self.target()?;
        self.model.validate()?;
        self.data.validate()
    }

    /// The `[target]` resolved against the records' schema ([`metrics::schema`]).
    pub fn target(&self) -> Result<Option<Target>, NnError> {
        Ok(self
            .common
            .target
            .as_ref()
            .map(|t| Target::resolve(t, &metrics::schema()))
            .transpose()?)
    }

    /// Parses a TOML experiment and applies `key=value` overrides with the shared
    /// [`optlab::overrides`] syntax (dotted keys, list elements by index, TOML values; a value
    /// that is not valid TOML is taken as a string).
    pub fn from_toml(text: &str, overrides: &[String]) -> Result<Self, NnError> {
        let sets = parse::sets(overrides, SET_EXAMPLES)?;
        let table = parse::table(text, &sets, SET_EXAMPLES)?;
        parse::check_fields(
            &table,
            &[Common::FIELDS, Self::FIELDS, Wrappers::FIELDS],
            "",
        )?;
        let cfg: TrainConfig = parse::deserialize(text, table, !sets.is_empty())?;
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
            return Self::from_toml(&text, overrides).map_err(|e| NnError::InFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            });
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

    /// Total training steps for `steps_per_epoch`: `steps`, or `epochs` (default 10) passes
    /// rounded up to whole steps.
    pub fn total_steps(&self, steps_per_epoch: u64) -> u64 {
        self.common.steps.unwrap_or_else(|| {
            let e = self.common.epochs.unwrap_or(DEFAULT_EPOCHS);
            ((e * steps_per_epoch as f64) - 1e-9).ceil().max(1.0) as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optlab::record::{Direction, XAxis};

    #[test]
    fn presets_parse_and_overrides_apply() {
        for (name, _) in PRESETS {
            let c = TrainConfig::load(name, &[]).unwrap();
            assert_eq!(&c.common.name, name);
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
        assert_eq!(c.common.steps, Some(5));
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
        assert!(c.schedule.clone().unwrap().build().is_ok());
        assert_eq!(c.wrappers.sam.clone().unwrap().rho, 0.05);
        assert_eq!(c.common.plot.x_axis, Some(XAxis::Iterations));
        let t = c.target().unwrap().unwrap();
        assert_eq!((t.metric.as_str(), t.threshold), ("val_loss", 2.0));
        assert_eq!(t.direction, Direction::Below);
    }

    #[test]
    fn targets_are_checked_and_directions_follow_the_metric() {
        let c = TrainConfig::load("digits-mlp", &["target.threshold=0.5".into()]);
        let t = c.unwrap().target().unwrap().unwrap();
        assert_eq!(
            t.direction,
            Direction::Above,
            "val_acc declares above: reached at ≥"
        );
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
        let e = TrainConfig::load("digits-mlp", &["eval_evry=3".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("eval_evry") && e.contains("`eval_every`") && e.contains("`clip_grad_norm`"),
            "{e}"
        );
        let e = TrainConfig::load("digits-mlp", &["sam.rho=0".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sam.rho"), "{e}");
        let e = TrainConfig::load("digits-mlp", &["seeds=3".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("seeds"), "{e}");
        let e = TrainConfig::from_toml("steps = 10\nepochs = 2", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("only one of"), "{e}");
    }
}
