//! Step-size schedules: the learning rate as a function of the step index k = 0, 1, 2, ...
//!
//! A [`Schedule`] maps `(base_lr, k)` to the learning rate of step k. Rules that scale the
//! optimizer's configured rate (PyTorch's schedulers, α₀/√(k+1), warmup) use `base_lr`; rules
//! that define the rate absolutely (the lecture's strongly convex rule (2k+1)/(2μ(k+1)²),
//! OneCycle's `max_lr`, CyclicLR's `base_lr`/`max_lr`) ignore it. Drive an optimizer with
//! `opt.set_lrs(&|base| schedule.lr(base, k))` before step k (what the runner does), which sets
//! every parameter group from its own configured rate, as PyTorch's schedulers do.
//!
//! In configuration files a schedule is a [`ScheduleSpec`]: a table with `kind` (PyTorch's class
//! name or the lecture rule's name, or one of the lowercase aliases listed in [`CATALOG`]) and
//! the scheduler's arguments under PyTorch's names, e.g.
//! `{ kind = "StepLR", step_size = 7, gamma = 0.5 }`.
//!
//! The families live in one file each: [`lecture`] (the lecture's rules), [`torch`] (PyTorch's
//! schedulers, closed forms), [`plateau`] (`ReduceLROnPlateau`, driven by a metric),
//! [`compose`] (warmup, sequential and chained composition), and [`catalog`] (what `optlab
//! list` prints). Every schedule but `ReduceLROnPlateau` is a closed form in k: defined for
//! every `k: u64` (no overflow, no indexing past the end) and finite and non-negative for a
//! finite non-negative base lr once [`ScheduleSpec::build`] has accepted its arguments.
//!
//! # Metric-driven schedules
//!
//! A schedule containing a `ReduceLROnPlateau` ([`Schedule::is_metric_driven`]) also needs the
//! monitored metric: after step k, call [`Schedule::observe`]`(k, metric)` (PyTorch's
//! `scheduler.step(metric)`); `lr(base, k + 1)` then reflects it. What it has learned is a
//! [`ScheduleState`] ([`Schedule::state`], [`Schedule::load_state`]), part of a run's
//! resumable state; closed forms have an empty one, so saving and restoring every schedule
//! the same way is always correct.
//!
//! ```
//! use optlab_optim::schedule::{Schedule, ScheduleSpec};
//!
//! let spec: ScheduleSpec = serde_json::from_str(
//!     r#"{"kind": "warmup", "warmup_steps": 10, "then": {"kind": "cosine", "T_max": 90}}"#,
//! )?;
//! let schedule = spec.build()?;
//! assert_eq!(schedule.lr(0.1, 0), 0.0);
//! assert!((schedule.lr(0.1, 5) - 0.05).abs() < 1e-15);
//! assert_eq!(schedule.lr(0.1, 10), 0.1);
//!
//! // Halve the lr when the loss has not improved for 2 observations.
//! let spec: ScheduleSpec = serde_json::from_str(
//!     r#"{"kind": "ReduceLROnPlateau", "factor": 0.5, "patience": 2}"#,
//! )?;
//! let mut plateau = spec.build()?;
//! for (k, loss) in [1.0, 0.9, 0.9, 0.9, 0.9].into_iter().enumerate() {
//!     assert_eq!(plateau.lr(0.1, k as u64), 0.1);
//!     plateau.observe(k as u64, loss); // after step k
//! }
//! assert_eq!(plateau.lr(0.1, 5), 0.05);
//! let saved = serde_json::to_string(&plateau.state())?; // with the optimizer's state
//! let mut resumed = spec.build()?;
//! resumed.load_state(&serde_json::from_str(&saved)?)?;
//! assert_eq!(resumed.lr(0.1, 5), 0.05);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod catalog;
pub mod compose;
pub mod lecture;
pub mod plateau;
pub mod torch;

use serde::{Deserialize, Serialize};

use crate::error::OptimError;

pub use catalog::{CATALOG, ScheduleInfo};
pub use compose::{
    ChainedSchedule, ChainedScheduler, Sequential, SequentialSchedule, Warmup, WarmupSchedule,
};
pub use lecture::{Constant, Exponential, InvSqrt, StronglyConvex};
pub use plateau::{PlateauMode, PlateauSchedule, PlateauState, ReduceLROnPlateau, ThresholdMode};
pub use torch::{
    AnnealStrategy, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR,
    CyclicMode, ExponentialLR, LinearLR, MultiStepLR, MultiplicativeLR, OneCycleLR, PolynomialLR,
    StepLR,
};

/// A learning-rate schedule.
///
/// Closed forms implement [`lr`](Schedule::lr) only. A schedule driven by a metric
/// (`ReduceLROnPlateau`, or a composition containing one) also implements
/// [`observe`](Schedule::observe) and saves what it learned through
/// [`save_parts`](Schedule::save_parts) / [`load_parts`](Schedule::load_parts); compositions
/// forward all three to their parts.
pub trait Schedule: Send + Sync + std::fmt::Debug {
    /// Learning rate of step `k` (0-based) for an optimizer group configured with `base_lr`.
    ///
    /// For a metric-driven schedule, the rate given the metrics observed so far (those of steps
    /// 0..k−1 when driven as documented in [`observe`](Schedule::observe)).
    fn lr(&self, base_lr: f64, k: u64) -> f64;

    /// Whether [`observe`](Schedule::observe) changes the schedule (a caller that has no metric
    /// to feed should refuse such a schedule rather than run it as a constant).
    fn is_metric_driven(&self) -> bool {
        false
    }

    /// Feeds `metric`, measured after step `k` (PyTorch's `scheduler.step(metric)` after the
    /// k-th `optimizer.step()`): the next [`lr`](Schedule::lr) reflects it. Closed forms ignore
    /// it.
    fn observe(&mut self, k: u64, metric: f64) {
        let _ = (k, metric);
    }

    /// Appends the state of each metric-driven part, depth-first in the order of the spec
    /// (nothing for a closed form).
    fn save_parts(&self, out: &mut Vec<PartState>) {
        let _ = out;
    }

    /// Restores the parts written by [`save_parts`](Schedule::save_parts), taking them from the
    /// front of `parts` and leaving the rest.
    fn load_parts(&mut self, parts: &mut &[PartState]) -> Result<(), OptimError> {
        let _ = parts;
        Ok(())
    }

    /// A snapshot of what the schedule has learned from metrics (empty for closed forms).
    fn state(&self) -> ScheduleState {
        let mut parts = Vec::new();
        self.save_parts(&mut parts);
        ScheduleState { parts }
    }

    /// Restores a snapshot taken by [`state`](Schedule::state) of a schedule built from the same
    /// spec; the following learning rates are those the original would give.
    fn load_state(&mut self, state: &ScheduleState) -> Result<(), OptimError> {
        let mut rest = state.parts.as_slice();
        self.load_parts(&mut rest)?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(OptimError::StateMismatch(format!(
                "the schedule state has {} parts, this schedule has {}",
                state.parts.len(),
                state.parts.len() - rest.len()
            )))
        }
    }
}

/// The serializable state of a schedule: one entry per metric-driven part, depth-first in the
/// order of its spec (empty for closed forms).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleState {
    /// The parts' states.
    pub parts: Vec<PartState>,
}

/// The state of one metric-driven part of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum PartState {
    /// A [`ReduceLROnPlateau`].
    ReduceLROnPlateau(PlateauState),
}

/// Serializable description of a schedule (TOML/JSON: `kind` + PyTorch's argument names).
///
/// Each variant's arguments are the fields of the struct of the same name (see its doc for the
/// formula, the defaults and the allowed ranges); unknown fields are rejected with the list of
/// valid ones. The `kind` is the variant name or one of its aliases (exact spelling):
///
/// | kind | aliases |
/// |---|---|
/// | `Constant` | `constant` |
/// | `InvSqrt` | `inv_sqrt`, `invsqrt` |
/// | `StronglyConvex` | `strongly_convex` |
/// | `Exponential` | `exponential` |
/// | `StepLR` | `step`, `step_lr` |
/// | `MultiStepLR` | `multistep`, `multi_step`, `multi_step_lr` |
/// | `ExponentialLR` | `exponential_lr` |
/// | `CosineAnnealingLR` | `cosine`, `cosine_annealing` |
/// | `LinearLR` | `linear`, `linear_lr` |
/// | `PolynomialLR` | `polynomial`, `poly` |
/// | `OneCycleLR` | `onecycle`, `one_cycle` |
/// | `ConstantLR` | `constant_lr` |
/// | `MultiplicativeLR` | `multiplicative`, `multiplicative_lr` |
/// | `CyclicLR` | `cyclic`, `cyclic_lr`, `clr` |
/// | `ReduceLROnPlateau` | `plateau`, `reduce_on_plateau`, `reduce_lr_on_plateau` |
/// | `CosineAnnealingWarmRestarts` | `warm_restarts`, `cosine_warm_restarts`, `sgdr` |
/// | `Warmup` | `warmup` |
/// | `Sequential` | `sequential`, `SequentialLR` |
/// | `ChainedScheduler` | `chained`, `chain` |
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", from = "SpecRepr")]
pub enum ScheduleSpec {
    /// α_k = α₀.
    #[default]
    Constant,
    /// α_k = α₀ / √(k+1).
    InvSqrt,
    /// α_k = (2k+1) / (2μ(k+1)²).
    StronglyConvex(StronglyConvex),
    /// α_k = α₀ γᵏ (lecture).
    Exponential(Exponential),
    /// α_k = α₀ γ^⌊k/step_size⌋.
    StepLR(StepLR),
    /// α_k = α₀ γ^(number of milestones ≤ k).
    MultiStepLR(MultiStepLR),
    /// α_k = α₀ γᵏ (PyTorch).
    ExponentialLR(ExponentialLR),
    /// Cosine from α₀ down to η_min over T_max steps.
    CosineAnnealingLR(CosineAnnealingLR),
    /// Linear factor from start_factor to end_factor over total_iters steps.
    LinearLR(LinearLR),
    /// α₀ (1 − k/total_iters)^power.
    PolynomialLR(PolynomialLR),
    /// One cycle up to max_lr and down to max_lr/(div_factor·final_div_factor).
    OneCycleLR(OneCycleLR),
    /// Cosine annealing with restarts after T_0, T_0·T_mult, ... steps.
    CosineAnnealingWarmRestarts(CosineAnnealingWarmRestarts),
    /// α₀·factor for the first total_iters steps, then α₀.
    ConstantLR(ConstantLR),
    /// α₀ factorᵏ.
    MultiplicativeLR(MultiplicativeLR),
    /// Triangular cycles between base_lr and max_lr.
    CyclicLR(CyclicLR),
    /// Divide the lr when a monitored metric stops improving.
    ReduceLROnPlateau(ReduceLROnPlateau),
    /// Linear warmup, then any schedule (shifted by the warmup length).
    Warmup(Warmup),
    /// Schedules one after the other at milestones (PyTorch's SequentialLR).
    Sequential(Sequential),
    /// Schedules applied on top of each other (product of their factors).
    ChainedScheduler(ChainedScheduler),
}

/// What a spec deserializes from: [`ScheduleSpec`] with the aliases, and with the argument-less
/// kinds as empty structs so that unknown fields are rejected for them too (serde ignores extra
/// fields of a unit variant of an internally tagged enum).
#[derive(Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
enum SpecRepr {
    #[serde(alias = "constant")]
    Constant(NoArgs),
    #[serde(alias = "inv_sqrt", alias = "invsqrt")]
    InvSqrt(NoArgs),
    #[serde(alias = "strongly_convex")]
    StronglyConvex(StronglyConvex),
    #[serde(alias = "exponential")]
    Exponential(Exponential),
    #[serde(alias = "step", alias = "step_lr")]
    StepLR(StepLR),
    #[serde(alias = "multistep", alias = "multi_step", alias = "multi_step_lr")]
    MultiStepLR(MultiStepLR),
    #[serde(alias = "exponential_lr")]
    ExponentialLR(ExponentialLR),
    #[serde(alias = "cosine", alias = "cosine_annealing")]
    CosineAnnealingLR(CosineAnnealingLR),
    #[serde(alias = "linear", alias = "linear_lr")]
    LinearLR(LinearLR),
    #[serde(alias = "polynomial", alias = "poly")]
    PolynomialLR(PolynomialLR),
    #[serde(alias = "onecycle", alias = "one_cycle")]
    OneCycleLR(OneCycleLR),
    #[serde(
        alias = "warm_restarts",
        alias = "cosine_warm_restarts",
        alias = "sgdr"
    )]
    CosineAnnealingWarmRestarts(CosineAnnealingWarmRestarts),
    #[serde(alias = "constant_lr")]
    ConstantLR(ConstantLR),
    #[serde(alias = "multiplicative", alias = "multiplicative_lr")]
    MultiplicativeLR(MultiplicativeLR),
    #[serde(alias = "cyclic", alias = "cyclic_lr", alias = "clr")]
    CyclicLR(CyclicLR),
    #[serde(
        alias = "plateau",
        alias = "reduce_on_plateau",
        alias = "reduce_lr_on_plateau"
    )]
    ReduceLROnPlateau(ReduceLROnPlateau),
    #[serde(alias = "warmup")]
    Warmup(Warmup),
    #[serde(alias = "sequential", alias = "SequentialLR")]
    Sequential(Sequential),
    #[serde(alias = "chained", alias = "chain")]
    ChainedScheduler(ChainedScheduler),
}

/// The (empty) arguments of `Constant` and `InvSqrt`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

impl From<SpecRepr> for ScheduleSpec {
    fn from(r: SpecRepr) -> Self {
        match r {
            SpecRepr::Constant(NoArgs {}) => ScheduleSpec::Constant,
            SpecRepr::InvSqrt(NoArgs {}) => ScheduleSpec::InvSqrt,
            SpecRepr::StronglyConvex(s) => ScheduleSpec::StronglyConvex(s),
            SpecRepr::Exponential(s) => ScheduleSpec::Exponential(s),
            SpecRepr::StepLR(s) => ScheduleSpec::StepLR(s),
            SpecRepr::MultiStepLR(s) => ScheduleSpec::MultiStepLR(s),
            SpecRepr::ExponentialLR(s) => ScheduleSpec::ExponentialLR(s),
            SpecRepr::CosineAnnealingLR(s) => ScheduleSpec::CosineAnnealingLR(s),
            SpecRepr::LinearLR(s) => ScheduleSpec::LinearLR(s),
            SpecRepr::PolynomialLR(s) => ScheduleSpec::PolynomialLR(s),
            SpecRepr::OneCycleLR(s) => ScheduleSpec::OneCycleLR(s),
            SpecRepr::CosineAnnealingWarmRestarts(s) => {
                ScheduleSpec::CosineAnnealingWarmRestarts(s)
            }
            SpecRepr::ConstantLR(s) => ScheduleSpec::ConstantLR(s),
            SpecRepr::MultiplicativeLR(s) => ScheduleSpec::MultiplicativeLR(s),
            SpecRepr::CyclicLR(s) => ScheduleSpec::CyclicLR(s),
            SpecRepr::ReduceLROnPlateau(s) => ScheduleSpec::ReduceLROnPlateau(s),
            SpecRepr::Warmup(s) => ScheduleSpec::Warmup(s),
            SpecRepr::Sequential(s) => ScheduleSpec::Sequential(s),
            SpecRepr::ChainedScheduler(s) => ScheduleSpec::ChainedScheduler(s),
        }
    }
}

impl ScheduleSpec {
    /// The canonical `kind` (variant name).
    pub fn kind(&self) -> &'static str {
        match self {
            ScheduleSpec::Constant => "Constant",
            ScheduleSpec::InvSqrt => "InvSqrt",
            ScheduleSpec::StronglyConvex(_) => StronglyConvex::KIND,
            ScheduleSpec::Exponential(_) => Exponential::KIND,
            ScheduleSpec::StepLR(_) => StepLR::KIND,
            ScheduleSpec::MultiStepLR(_) => MultiStepLR::KIND,
            ScheduleSpec::ExponentialLR(_) => ExponentialLR::KIND,
            ScheduleSpec::CosineAnnealingLR(_) => CosineAnnealingLR::KIND,
            ScheduleSpec::LinearLR(_) => LinearLR::KIND,
            ScheduleSpec::PolynomialLR(_) => PolynomialLR::KIND,
            ScheduleSpec::OneCycleLR(_) => OneCycleLR::KIND,
            ScheduleSpec::CosineAnnealingWarmRestarts(_) => CosineAnnealingWarmRestarts::KIND,
            ScheduleSpec::ConstantLR(_) => ConstantLR::KIND,
            ScheduleSpec::MultiplicativeLR(_) => MultiplicativeLR::KIND,
            ScheduleSpec::CyclicLR(_) => CyclicLR::KIND,
            ScheduleSpec::ReduceLROnPlateau(_) => ReduceLROnPlateau::KIND,
            ScheduleSpec::Warmup(_) => Warmup::KIND,
            ScheduleSpec::Sequential(_) => Sequential::KIND,
            ScheduleSpec::ChainedScheduler(_) => ChainedScheduler::KIND,
        }
    }

    /// Validates the arguments and builds the schedule.
    ///
    /// Every argument out of its range is an [`OptimError::InvalidHyperparameter`] naming the
    /// schedule, the field (with its path inside `Warmup`/`Sequential`/`ChainedScheduler`, e.g.
    /// `schedules[1].gamma`) and the allowed range.
    pub fn build(&self) -> Result<Box<dyn Schedule>, OptimError> {
        Ok(match self {
            ScheduleSpec::Constant => Box::new(Constant),
            ScheduleSpec::InvSqrt => Box::new(InvSqrt),
            ScheduleSpec::StronglyConvex(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::Exponential(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::StepLR(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::MultiStepLR(s) => {
                s.validate()?;
                Box::new(s.clone())
            }
            ScheduleSpec::ExponentialLR(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::CosineAnnealingLR(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::LinearLR(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::PolynomialLR(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::OneCycleLR(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::CosineAnnealingWarmRestarts(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::ConstantLR(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::MultiplicativeLR(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::CyclicLR(s) => {
                s.validate()?;
                Box::new(*s)
            }
            ScheduleSpec::ReduceLROnPlateau(s) => Box::new(s.build()?),
            ScheduleSpec::Warmup(s) => Box::new(s.build()?),
            ScheduleSpec::Sequential(s) => Box::new(s.build()?),
            ScheduleSpec::ChainedScheduler(s) => Box::new(s.build()?),
        })
    }
}

/// Range checks of schedule arguments (each error names the field and the range).
mod check {
    use crate::error::OptimError;
    pub(super) use crate::error::check::{non_negative, positive};

    /// A decay factor: 0 < value ≤ 1 (γ > 1 would overflow for large k).
    pub fn decay(kind: &'static str, field: &str, value: f64) -> Result<(), OptimError> {
        if value > 0.0 && value <= 1.0 {
            Ok(())
        } else {
            Err(OptimError::invalid(kind, field, value, "in (0, 1]"))
        }
    }

    /// 0 ≤ value ≤ 1.
    pub fn in_unit_interval(kind: &'static str, field: &str, value: f64) -> Result<(), OptimError> {
        crate::error::check::unit_interval(kind, field, value)
    }

    /// A step count ≥ 1.
    pub fn at_least_one(kind: &'static str, field: &str, value: u64) -> Result<(), OptimError> {
        if value >= 1 {
            Ok(())
        } else {
            Err(OptimError::invalid(kind, field, value, "an integer ≥ 1"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<ScheduleSpec, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    fn build_err(v: serde_json::Value) -> String {
        match parse(v) {
            Ok(spec) => spec
                .build()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            Err(e) => format!("parse error: {e}"),
        }
    }

    #[test]
    fn parses_pytorch_names_aliases_and_defaults() {
        let s = parse(json!({"kind": "StepLR", "step_size": 30})).unwrap();
        assert_eq!(
            s,
            ScheduleSpec::StepLR(StepLR {
                step_size: 30,
                gamma: 0.1
            })
        );
        let s = parse(json!({"kind": "cosine", "T_max": 25, "eta_min": 0.05})).unwrap();
        assert_eq!(
            s,
            ScheduleSpec::CosineAnnealingLR(CosineAnnealingLR {
                t_max: 25,
                eta_min: 0.05
            })
        );
        assert_eq!(
            parse(json!({"kind": "constant"})).unwrap(),
            ScheduleSpec::Constant
        );
        assert_eq!(
            parse(json!({"kind": "inv_sqrt"})).unwrap(),
            ScheduleSpec::InvSqrt
        );
        let s = parse(json!({"kind": "onecycle", "max_lr": 0.1, "total_steps": 100})).unwrap();
        assert_eq!(s, ScheduleSpec::OneCycleLR(OneCycleLR::new(0.1, 100)));
        let s = parse(json!({"kind": "linear"})).unwrap();
        assert_eq!(s, ScheduleSpec::LinearLR(LinearLR::default()));
        // integers are accepted for float arguments
        let s = parse(json!({"kind": "exponential", "gamma": 1})).unwrap();
        assert_eq!(s, ScheduleSpec::Exponential(Exponential { gamma: 1.0 }));
    }

    #[test]
    fn unknown_fields_kinds_and_missing_arguments_are_errors() {
        let e = parse(json!({"kind": "StepLR", "step_size": 3, "gama": 0.5})).unwrap_err();
        assert!(e.contains("gama") && e.contains("gamma"), "{e}");
        let e = parse(json!({"kind": "CosineAnnealingLR", "t_max": 3})).unwrap_err();
        assert!(e.contains("t_max") && e.contains("T_max"), "{e}");
        let e = parse(json!({"kind": "constant", "lr": 0.1})).unwrap_err();
        assert!(e.contains("lr"), "{e}");
        let e = parse(json!({"kind": "inv_sqrt", "alpha": 0.1})).unwrap_err();
        assert!(e.contains("alpha"), "{e}");
        let e = parse(json!({"kind": "Cosine", "T_max": 3})).unwrap_err();
        assert!(
            e.contains("Cosine") && e.contains("CosineAnnealingLR"),
            "{e}"
        );
        let e = parse(json!({"kind": "StepLR"})).unwrap_err();
        assert!(e.contains("step_size"), "{e}");
        let e = parse(
            json!({"kind": "OneCycleLR", "max_lr": 0.1, "total_steps": 9,
            "anneal_strategy": "cosine"}),
        )
        .unwrap_err();
        assert!(e.contains("cos") && e.contains("linear"), "{e}");
        let e = parse(json!({"kind": "StepLR", "step_size": -3})).unwrap_err();
        assert!(e.contains("-3"), "{e}");
        let e = parse(json!({"step_size": 3})).unwrap_err();
        assert!(e.contains("kind"), "{e}");
    }

    #[test]
    fn validation_errors_name_field_and_range() {
        let cases = [
            (
                json!({"kind": "StepLR", "step_size": 0}),
                "step_size",
                "≥ 1",
            ),
            (
                json!({"kind": "StepLR", "step_size": 3, "gamma": 1.5}),
                "gamma",
                "(0, 1]",
            ),
            (
                json!({"kind": "StepLR", "step_size": 3, "gamma": 0.0}),
                "gamma",
                "(0, 1]",
            ),
            (
                json!({"kind": "MultiStepLR", "milestones": [3, 2]}),
                "milestones",
                "non-decreasing",
            ),
            (
                json!({"kind": "ExponentialLR", "gamma": -0.5}),
                "gamma",
                "(0, 1]",
            ),
            (
                json!({"kind": "Exponential", "gamma": 2.0}),
                "gamma",
                "(0, 1]",
            ),
            (json!({"kind": "StronglyConvex", "mu": 0.0}), "mu", "finite"),
            (
                json!({"kind": "StronglyConvex", "mu": -1.0}),
                "mu",
                "finite",
            ),
            (
                json!({"kind": "CosineAnnealingLR", "T_max": 0}),
                "T_max",
                "≥ 1",
            ),
            (
                json!({"kind": "CosineAnnealingLR", "T_max": 5, "eta_min": -0.1}),
                "eta_min",
                "≥ 0",
            ),
            (
                json!({"kind": "LinearLR", "start_factor": 0.0}),
                "start_factor",
                "(0, 1]",
            ),
            (
                json!({"kind": "LinearLR", "end_factor": 1.5}),
                "end_factor",
                "[0, 1]",
            ),
            (
                json!({"kind": "LinearLR", "total_iters": 0}),
                "total_iters",
                "≥ 1",
            ),
            (
                json!({"kind": "PolynomialLR", "total_iters": 0}),
                "total_iters",
                "≥ 1",
            ),
            (
                json!({"kind": "PolynomialLR", "power": -1.0}),
                "power",
                "≥ 0",
            ),
            (
                json!({"kind": "OneCycleLR", "max_lr": 0.0, "total_steps": 9}),
                "max_lr",
                "> 0",
            ),
            (
                json!({"kind": "OneCycleLR", "max_lr": 1.0, "total_steps": 0}),
                "total_steps",
                "≥ 1",
            ),
            (
                json!({"kind": "OneCycleLR", "max_lr": 1.0, "total_steps": 9, "pct_start": 1.2}),
                "pct_start",
                "[0, 1]",
            ),
            (
                json!({"kind": "OneCycleLR", "max_lr": 1.0, "total_steps": 9, "div_factor": 0.0}),
                "div_factor",
                "> 0",
            ),
            (
                json!({"kind": "OneCycleLR", "max_lr": 1e300, "total_steps": 9, "div_factor": 1e-300}),
                "div_factor",
                "finite",
            ),
            (
                json!({"kind": "OneCycleLR", "max_lr": 1.0, "total_steps": 9,
                "final_div_factor": -1.0}),
                "final_div_factor",
                "> 0",
            ),
            (
                json!({"kind": "CosineAnnealingWarmRestarts", "T_0": 0}),
                "T_0",
                "≥ 1",
            ),
            (
                json!({"kind": "CosineAnnealingWarmRestarts", "T_0": 3, "T_mult": 0}),
                "T_mult",
                "≥ 1",
            ),
            (
                json!({"kind": "warmup", "warmup_steps": 3, "start_factor": 2.0,
                "then": {"kind": "constant"}}),
                "start_factor",
                "[0, 1]",
            ),
            (
                json!({"kind": "warmup", "warmup_steps": 3,
                "then": {"kind": "step", "step_size": 0}}),
                "then.step_size",
                "≥ 1",
            ),
            (
                json!({"kind": "sequential", "milestones": [4],
                "schedules": [{"kind": "constant"}, {"kind": "exponential", "gamma": 7.0}]}),
                "schedules[1].gamma",
                "(0, 1]",
            ),
            (
                json!({"kind": "sequential", "milestones": [4, 9],
                "schedules": [{"kind": "constant"}, {"kind": "constant"}]}),
                "milestones",
                "strictly increasing",
            ),
        ];
        for (spec, field, range) in cases {
            let e = build_err(spec.clone());
            assert!(
                e.contains(&format!("`{field}`")) && e.contains(range),
                "{spec}: {e}"
            );
        }
    }

    #[test]
    fn specs_roundtrip_through_json() {
        let spec = parse(json!({"kind": "warmup", "warmup_steps": 5, "then": {
        "kind": "Sequential", "milestones": [10],
        "schedules": [
            {"kind": "OneCycleLR", "max_lr": 0.5, "total_steps": 10, "anneal_strategy": "linear"},
            {"kind": "CosineAnnealingWarmRestarts", "T_0": 3, "T_mult": 2}
        ]}}))
        .unwrap();
        let text = serde_json::to_string(&spec).unwrap();
        assert!(
            text.contains("\"T_0\":3") && text.contains("\"kind\":\"Warmup\""),
            "{text}"
        );
        let back: ScheduleSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, spec);
        assert_eq!(back.kind(), "Warmup");
        assert!(back.build().is_ok());
    }

    #[test]
    fn default_spec_is_constant() {
        let s = ScheduleSpec::default().build().unwrap();
        assert_eq!(s.lr(0.25, 1_000_000), 0.25);
    }
}
