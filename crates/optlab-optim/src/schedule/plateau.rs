//! PyTorch's `ReduceLROnPlateau`: the learning rate is divided when a monitored metric stops
//! improving — the one schedule driven by what training measures rather than by the step index.
//!
//! It is used like every other [`Schedule`]: `opt.set_lrs(&|base| schedule.lr(base, k))` before
//! step k, and after step k the caller feeds the metric it monitors (the training loss, a
//! validation loss, an accuracy with `mode = "max"`) through [`Schedule::observe`], PyTorch's
//! `scheduler.step(metric)`. The lr of step k therefore depends on the metrics of steps
//! 0..k−1. What it has learned from them (best value, bad-epoch and cooldown counters, number of
//! reductions) is a [`PlateauState`], saved and restored with [`Schedule::state`] /
//! [`Schedule::load_state`] so that a resumed run continues identically.
//!
//! The lr is a function of the base lr and the number n of reductions so far: n times
//! `lr ← max(lr·factor, min_lr)`, each applied only if it lowers the lr by more than `eps`
//! (PyTorch applies the same rule to the group's current lr at each reduction, so the values
//! are identical, per parameter group).

use serde::{Deserialize, Serialize};

use super::{PartState, Schedule, check};
use crate::error::OptimError;

/// Whether the monitored metric should decrease or increase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateauMode {
    /// Lower is better (a loss).
    #[default]
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// How `threshold` defines a significant improvement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    /// Better than best·(1 ∓ threshold).
    #[default]
    Rel,
    /// Better than best ∓ threshold.
    Abs,
}

/// PyTorch's `ReduceLROnPlateau` arguments, names and defaults.
///
/// After each observed metric: if it improves on the best one seen (by `threshold`, relative
/// or absolute), the bad-epoch counter resets, else it grows; during a cooldown it is held at
/// 0; when it exceeds `patience`, the lr is reduced (lr ← max(lr·factor, min_lr), skipped if
/// that changes it by ≤ `eps`), the cooldown starts and the counter resets.
///
/// Arguments: `mode` = `"min"` (`"max"`), `factor` = 0.1 in [0, 1), `patience` = 10 (integer
/// ≥ 0), `threshold` = 1e-4 (finite, ≥ 0), `threshold_mode` = `"rel"` (`"abs"`), `cooldown` = 0
/// (integer ≥ 0), `min_lr` = 0.0 (finite, ≥ 0; one value for every parameter group where PyTorch
/// also accepts a list), `eps` = 1e-8 (finite, ≥ 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReduceLROnPlateau {
    /// Minimize or maximize the metric.
    pub mode: PlateauMode,
    /// Multiplier of the lr at a reduction.
    pub factor: f64,
    /// Bad epochs tolerated before reducing.
    pub patience: u64,
    /// Minimal significant improvement.
    pub threshold: f64,
    /// Relative or absolute threshold.
    pub threshold_mode: ThresholdMode,
    /// Observations after a reduction during which bad epochs are not counted.
    pub cooldown: u64,
    /// Lower bound of the lr.
    pub min_lr: f64,
    /// Reductions smaller than this are skipped.
    pub eps: f64,
}

impl Default for ReduceLROnPlateau {
    fn default() -> Self {
        ReduceLROnPlateau {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

impl ReduceLROnPlateau {
    pub(crate) const KIND: &'static str = "ReduceLROnPlateau";

    /// Checks every argument.
    pub fn validate(&self) -> Result<(), OptimError> {
        if !(0.0..1.0).contains(&self.factor) {
            return Err(OptimError::invalid(
                Self::KIND,
                "factor",
                self.factor,
                "in [0, 1)",
            ));
        }
        check::non_negative(Self::KIND, "threshold", self.threshold)?;
        check::non_negative(Self::KIND, "min_lr", self.min_lr)?;
        check::non_negative(Self::KIND, "eps", self.eps)
    }

    /// Validates the arguments and builds the schedule, with nothing observed yet.
    pub fn build(&self) -> Result<PlateauSchedule, OptimError> {
        self.validate()?;
        Ok(PlateauSchedule {
            args: *self,
            state: PlateauState::initial(self.mode),
        })
    }
}

/// What a [`PlateauSchedule`] has learned from the metrics observed so far.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlateauState {
    /// Best metric so far (+∞ for `min`, −∞ for `max` before any; non-finite values are written
    /// as the strings `"inf"`, `"-inf"`, `"NaN"` in JSON).
    #[serde(with = "non_finite")]
    pub best: f64,
    /// Consecutive observations without a significant improvement.
    pub num_bad_epochs: u64,
    /// Observations left in the current cooldown.
    pub cooldown_counter: u64,
    /// Reductions applied so far.
    pub reductions: u64,
}

impl PlateauState {
    /// Nothing observed yet: PyTorch's `mode_worse` as the best value.
    pub fn initial(mode: PlateauMode) -> Self {
        PlateauState {
            best: match mode {
                PlateauMode::Min => f64::INFINITY,
                PlateauMode::Max => f64::NEG_INFINITY,
            },
            num_bad_epochs: 0,
            cooldown_counter: 0,
            reductions: 0,
        }
    }
}

/// A built [`ReduceLROnPlateau`]: its arguments and its [`PlateauState`].
#[derive(Clone, Debug)]
pub struct PlateauSchedule {
    args: ReduceLROnPlateau,
    state: PlateauState,
}

impl PlateauSchedule {
    /// The state (also available, depth-first within compositions, through
    /// [`Schedule::state`]).
    pub fn plateau_state(&self) -> &PlateauState {
        &self.state
    }

    /// PyTorch's `is_better(a, best)` (false for a NaN metric).
    fn is_better(&self, a: f64, best: f64) -> bool {
        let t = self.args.threshold;
        match (self.args.mode, self.args.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - t),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - t,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (t + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + t,
        }
    }
}

impl Schedule for PlateauSchedule {
    fn lr(&self, base_lr: f64, _k: u64) -> f64 {
        let mut lr = base_lr;
        for _ in 0..self.state.reductions {
            let new = (lr * self.args.factor).max(self.args.min_lr);
            if lr - new > self.args.eps {
                lr = new;
            } else {
                // Every later reduction computes the same `new` from the same lr: a fixed point.
                break;
            }
        }
        lr
    }

    fn is_metric_driven(&self) -> bool {
        true
    }

    /// PyTorch's `ReduceLROnPlateau.step(metrics)` (a NaN metric is never an improvement).
    fn observe(&mut self, _k: u64, metric: f64) {
        if self.is_better(metric, self.state.best) {
            self.state.best = metric;
            self.state.num_bad_epochs = 0;
        } else {
            self.state.num_bad_epochs = self.state.num_bad_epochs.saturating_add(1);
        }
        if self.state.cooldown_counter > 0 {
            self.state.cooldown_counter -= 1;
            self.state.num_bad_epochs = 0;
        }
        if self.state.num_bad_epochs > self.args.patience {
            self.state.reductions = self.state.reductions.saturating_add(1);
            self.state.cooldown_counter = self.args.cooldown;
            self.state.num_bad_epochs = 0;
        }
    }

    fn save_parts(&self, out: &mut Vec<PartState>) {
        out.push(PartState::ReduceLROnPlateau(self.state));
    }

    fn load_parts(&mut self, parts: &mut &[PartState]) -> Result<(), OptimError> {
        match parts.split_first() {
            Some((PartState::ReduceLROnPlateau(s), rest)) => {
                self.state = *s;
                *parts = rest;
                Ok(())
            }
            None => Err(OptimError::StateMismatch(
                "the schedule state has no entry for a ReduceLROnPlateau".into(),
            )),
        }
    }
}

/// Serde for an `f64` that may be ±∞ or NaN: a JSON number when finite, else one of the strings
/// `"inf"`, `"-inf"`, `"NaN"` (JSON has no non-finite numbers; serde_json would write `null`).
mod non_finite {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Number(v) => Ok(v),
            Repr::Text(t) => match t.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "NaN" => Ok(f64::NAN),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"inf\", \"-inf\" or \"NaN\", got \"{other}\""
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: ReduceLROnPlateau, metrics: &[f64]) -> Vec<f64> {
        let mut s = args.build().unwrap();
        let mut lrs = Vec::new();
        for (k, &m) in metrics.iter().enumerate() {
            lrs.push(s.lr(1.0, k as u64));
            s.observe(k as u64, m);
        }
        lrs
    }

    #[test]
    fn reduces_after_patience_and_waits_for_the_cooldown() {
        let args = ReduceLROnPlateau {
            factor: 0.5,
            patience: 1,
            cooldown: 2,
            ..Default::default()
        };
        // improvement, then flat: bad epochs 1, 2 (> patience: reduce after k = 2), two cooldown
        // observations (k = 3, 4), bad epochs 1, 2: reduce after k = 6.
        let lrs = run(args, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(lrs, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn max_mode_abs_threshold_min_lr_and_eps() {
        let args = ReduceLROnPlateau {
            mode: PlateauMode::Max,
            threshold_mode: ThresholdMode::Abs,
            threshold: 0.1,
            factor: 0.1,
            patience: 0,
            min_lr: 0.05,
            ..Default::default()
        };
        // 0.5 improves on −∞; 0.55 is not 0.1 better: reduce; 0.7 improves; 0.7: reduce to
        // max(0.01, 0.05) = 0.05; later reductions change nothing.
        let lrs = run(args, &[0.5, 0.55, 0.7, 0.7, 0.7, 0.7]);
        assert_eq!(lrs, [1.0, 1.0, 0.1, 0.1, 0.05, 0.05]);
        let tiny = ReduceLROnPlateau {
            patience: 0,
            eps: 0.5,
            ..Default::default()
        };
        // 1 → 0.1 lowers by 0.9 > eps; 0.1 → 0.01 only by 0.09 ≤ eps: kept.
        assert_eq!(run(tiny, &[1.0, 1.0, 1.0, 1.0]), [1.0, 1.0, 0.1, 0.1]);
    }

    #[test]
    fn nan_metrics_are_never_better_and_state_round_trips() {
        let args = ReduceLROnPlateau {
            patience: 0,
            ..Default::default()
        };
        let mut s = args.build().unwrap();
        s.observe(0, f64::NAN);
        assert_eq!(s.plateau_state().best, f64::INFINITY);
        assert_eq!(s.plateau_state().reductions, 1);
        let json = serde_json::to_string(&s.state()).unwrap();
        assert!(json.contains("\"inf\""), "{json}");
        let mut t = args.build().unwrap();
        t.load_state(&serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(t.plateau_state(), s.plateau_state());
        for k in 1..5 {
            s.observe(k, 2.0 - k as f64 * 0.1);
            t.observe(k, 2.0 - k as f64 * 0.1);
            assert_eq!(s.lr(0.3, k), t.lr(0.3, k));
        }
        assert!(
            serde_json::from_str::<PlateauState>(
                r#"{"best": "big", "num_bad_epochs": 0, "cooldown_counter": 0, "reductions": 0}"#
            )
            .is_err()
        );
    }

    #[test]
    fn factor_range() {
        for factor in [1.0, -0.1, f64::NAN] {
            let e = ReduceLROnPlateau {
                factor,
                ..Default::default()
            }
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(e.contains("factor") && e.contains("[0, 1)"), "{e}");
        }
    }
}
