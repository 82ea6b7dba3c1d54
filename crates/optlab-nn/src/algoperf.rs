//! The network workloads of `optlab algoperf` (the lab's [`optlab::algoperf::registry`]).
//!
//! | workload | data, model | metric (goal) | step hint | budget (2 cores) |
//! |---|---|---|---|---|
//! | `mnist-mlp` | MNIST-5k (4,000 train / 1,000 validation), AlgoPerf's MNIST MLP 784 → 128 sigmoid → 10, batch 128 | `validation/accuracy` (max) | 1,000 | 2,000 steps, 120 s |
//! | `mnist-cnn` | MNIST-5k, LeNet-like CNN (the `mnist-cnn` preset), batch 64 | `validation/accuracy` (max) | 1,250 | 2,500 steps, 240 s |
//! | `shakespeare-gpt` | Shakespeare characters, the `shakespeare-gpt` preset's 4-layer GPT, batch 12 × 64 | `validation/loss` (min) | 2,000 | 3,000 steps, 600 s |
//! | `digits-mlp` | UCI 8×8 digits (1,437 / 360), MLP 64 → 256 → 256 → 10 ReLU, batch 64 | `validation/accuracy` (max) | 600 | 1,200 steps, 30 s |
//! | `grokking` | (a + b) mod 97, 40 % of the pairs for training (the `grokking` preset), MLP on token embeddings 2 × 32 → 256 ReLU → 97, full batch | `validation/accuracy` (max) | 3,000 | 4,000 steps, 300 s |
//!
//! Each is a [`TrainConfig`] (a preset with overrides) whose `[optimizer]`, `[schedule]` and
//! wrappers are replaced by the submission's; the trial's seed sets the initialization, the
//! split where the data has a seeded one, and the batch order. Metrics: `train/loss`,
//! `train/accuracy` (on the training-evaluation batches), `validation/loss`,
//! `validation/accuracy`, `validation/num_examples`.

use optlab::algoperf::AlgoPerfError;
use optlab::algoperf::registry::{Workload, WorkloadSpec};
use optlab::algoperf::study::Trial;
use optlab::algoperf::submission::Submission;
use optlab::algoperf::trial::{
    Budget, Cadence, Diverged, Metrics, Training, TrainingError, classification_metrics,
};
use serde_json::Value;

use crate::config::TrainConfig;
use crate::error::NnError;
use crate::models::ModelSpec;
use crate::session::Session;

/// A network workload: a training configuration and what it is held to.
pub struct NetWorkload {
    spec: WorkloadSpec,
    preset: &'static str,
    overrides: Vec<String>,
    /// The running trial's configuration (the session borrows it).
    current: Option<TrainConfig>,
}

impl NetWorkload {
    fn new(
        spec: WorkloadSpec,
        preset: &'static str,
        overrides: &[&str],
    ) -> Result<NetWorkload, AlgoPerfError> {
        let w = NetWorkload {
            spec,
            preset,
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            current: None,
        };
        w.config(0)?;
        Ok(w)
    }

    /// The configuration of a trial with `seed`.
    fn config(&self, seed: u64) -> Result<TrainConfig, AlgoPerfError> {
        // The seed is set on the parsed config: trial seeds use all 64 bits, TOML integers 63.
        let mut config = TrainConfig::load(self.preset, &self.overrides)
            .map_err(|e| AlgoPerfError::Invalid(format!("workload `{}`: {e}", self.spec.name)))?;
        config.common.seed = seed;
        Ok(config)
    }
}

fn spec(
    name: &str,
    description: &str,
    metric: &str,
    step_hint: u64,
    budget: (u64, f64),
    every: u64,
) -> WorkloadSpec {
    WorkloadSpec {
        name: name.into(),
        description: description.into(),
        metric: metric.into(),
        minimize: metric.ends_with("loss"),
        step_hint,
        budget: Budget {
            max_steps: Some(budget.0),
            max_seconds: Some(budget.1),
        },
        cadence: Cadence::Steps(every),
    }
}

/// The network workloads (see the module documentation).
///
/// # Errors
/// A preset or override that no longer parses (a bug, reported rather than panicking).
pub fn workloads() -> Result<Vec<Box<dyn Workload>>, AlgoPerfError> {
    let acc = "validation/accuracy";
    Ok(vec![
        Box::new(NetWorkload::new(
            spec(
                "mnist-mlp",
                "MNIST-5k (4,000 train / 1,000 validation), MLP 784-128-10 with sigmoid (AlgoPerf's MNIST workload), batch 128",
                acc,
                1000,
                (2000, 120.0),
                50,
            ),
            "mnist-mlp",
            &[
                "model.depth=1",
                "model.width=128",
                "model.activation=\"sigmoid\"",
                "model.init=\"xavier_uniform\"",
                "data.shift=0",
            ],
        )?),
        Box::new(NetWorkload::new(
            spec(
                "mnist-cnn",
                "MNIST-5k, LeNet-like CNN (conv 6, conv 16, 120, 84), batch 64",
                acc,
                1250,
                (2500, 240.0),
                125,
            ),
            "mnist-cnn",
            &[],
        )?),
        Box::new(NetWorkload::new(
            spec(
                "shakespeare-gpt",
                "Shakespeare characters, GPT 4 layers × 4 heads × 128, context 64, batch 12",
                "validation/loss",
                2000,
                (3000, 600.0),
                100,
            ),
            "shakespeare-gpt",
            &[],
        )?),
        Box::new(NetWorkload::new(
            spec(
                "digits-mlp",
                "UCI digits 8×8 (1,437 / 360), MLP 64-256-256-10 ReLU, batch 64",
                acc,
                600,
                (1200, 30.0),
                50,
            ),
            "digits-mlp",
            &[],
        )?),
        Box::new(NetWorkload::new(
            spec(
                "grokking",
                "(a + b) mod 97, 40 % of the 9,409 pairs for training, MLP on token embeddings (2 × 32 → 256 ReLU → 97), full batch",
                acc,
                3000,
                (4000, 300.0),
                50,
            ),
            "grokking",
            &[],
        )?),
    ])
}

impl Workload for NetWorkload {
    fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }

    fn training(
        &mut self,
        trial: &Trial,
        submission: &Submission,
    ) -> Result<(Box<dyn Training + '_>, Value), AlgoPerfError> {
        let built = submission.build::<f32>(&trial.hyperparameters, self.spec.step_hint)?;
        let mut config = self.config(trial.seed)?;
        let ignored = apply_workload_hyperparameters(&mut config, &built.resolved.workload)?;
        config
            .validate()
            .map_err(|e| AlgoPerfError::Invalid(format!("workload `{}`: {e}", self.spec.name)))?;
        let mut settings = serde_json::to_value(&config)
            .map_err(|e| AlgoPerfError::Invalid(format!("workload `{}`: {e}", self.spec.name)))?;
        if !ignored.is_empty()
            && let Some(map) = settings.as_object_mut()
        {
            map.insert("ignored_workload_hyperparameters".into(), ignored.into());
        }
        let name = self.spec.name.clone();
        let config = self.current.insert(config);
        let session = Session::new(
            config,
            built.optimizer,
            built.resolved.optimizer.clone(),
            Some(Box::new(built.schedule)),
        )
        .map_err(|e| AlgoPerfError::Invalid(format!("workload `{name}`: {e}")))?;
        Ok((Box::new(NetTraining(session)), settings))
    }
}

/// Applies a trial's workload hyperparameters (AlgoPerf's `label_smoothing` and `dropout_rate`)
/// to the training configuration: `label_smoothing` → the loss's ε (every network workload
/// trains with cross-entropy); `dropout_rate` → `model.dropout` of an MLP. The CNN and the GPT
/// have no dropout layers, so there — as in AlgoPerf's own MNIST workload, whose model takes
/// `dropout_rate` and does not use it — it is returned as ignored (the trial's settings say so).
///
/// # Errors
/// A value that is not a number.
fn apply_workload_hyperparameters(
    config: &mut TrainConfig,
    workload: &serde_json::Map<String, Value>,
) -> Result<Vec<String>, AlgoPerfError> {
    let mut ignored = Vec::new();
    for (name, value) in workload {
        let x = value.as_f64().ok_or_else(|| {
            AlgoPerfError::Invalid(format!(
                "workload hyperparameter `{name}` = {value}: not a number"
            ))
        })?;
        match (name.as_str(), &mut config.model) {
            ("label_smoothing", _) => config.label_smoothing = x,
            ("dropout_rate", ModelSpec::Mlp(m)) => m.dropout = x,
            _ => ignored.push(name.clone()),
        }
    }
    Ok(ignored)
}

/// One trial on a network workload.
struct NetTraining<'c>(Session<'c>);

impl Training for NetTraining<'_> {
    fn step(&mut self) -> Result<(), TrainingError> {
        match self.0.step() {
            Ok(_) => Ok(()),
            Err(e @ NnError::NonFiniteLoss { .. }) => Err(Box::new(Diverged(e.to_string()))),
            Err(e) => Err(Box::new(e)),
        }
    }

    fn evaluate(&mut self) -> Result<Metrics, TrainingError> {
        let e = self.0.evaluate()?;
        Ok(classification_metrics(
            (e.train_loss, e.train_acc),
            (e.val_loss, e.val_acc),
            self.0.validation_examples(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use optlab::algoperf::study::Plan;

    /// The token-input workload trains through the session: a few AdamW steps, then the
    /// validation metrics over the held-out pairs.
    #[test]
    fn grokking_workload_trains_on_token_pairs() {
        let mut all = workloads().unwrap();
        let w = all
            .iter_mut()
            .find(|w| w.spec().name == "grokking")
            .unwrap();
        let plan = Plan {
            submissions: vec![Submission::load("adamw").unwrap()],
            workloads: vec!["grokking".into()],
            studies: 1,
            trials: 1,
            seed: 0,
        };
        let trial = plan.trials().unwrap().remove(0);
        let (mut training, settings) = w.training(&trial, &plan.submissions[0]).unwrap();
        assert_eq!(settings["data"]["name"], "modular");
        for _ in 0..3 {
            training.step().unwrap();
        }
        let m = training.evaluate().unwrap();
        let get = |k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap();
        // ⌈0.4 · 97²⌉ = 3,764 training pairs; the other 5,645 are held out
        assert_eq!(get("validation/num_examples"), 5645.0);
        assert!((0.0..=1.0).contains(&get("validation/accuracy")));
        assert!(get("train/loss").is_finite());
    }

    /// AlgoPerf's workload hyperparameters reach the loss and the MLP; the GPT has no dropout
    /// layers, so there `dropout_rate` is reported as ignored.
    #[test]
    fn workload_hyperparameters_are_applied_or_reported() {
        let map = |pairs: &[(&str, f64)]| -> serde_json::Map<String, Value> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                .collect()
        };
        let mut mlp = TrainConfig::load("digits-mlp", &[]).unwrap();
        let ignored = apply_workload_hyperparameters(
            &mut mlp,
            &map(&[("dropout_rate", 0.1), ("label_smoothing", 0.2)]),
        )
        .unwrap();
        assert!(ignored.is_empty());
        assert_eq!(mlp.label_smoothing, 0.2);
        assert!(matches!(&mlp.model, ModelSpec::Mlp(m) if m.dropout == 0.1));
        let mut gpt = TrainConfig::load("shakespeare-gpt", &[]).unwrap();
        let ignored =
            apply_workload_hyperparameters(&mut gpt, &map(&[("dropout_rate", 0.1)])).unwrap();
        assert_eq!(ignored, vec!["dropout_rate".to_string()]);
        let bad: serde_json::Map<String, Value> =
            [("label_smoothing".to_string(), serde_json::json!("x"))]
                .into_iter()
                .collect();
        assert!(apply_workload_hyperparameters(&mut gpt, &bad).is_err());
        // out of range: the config's own check names the field
        gpt.label_smoothing = 1.5;
        assert!(
            gpt.validate()
                .unwrap_err()
                .to_string()
                .contains("label_smoothing")
        );
    }
}
