//! Step-size schedules: the learning rate as a function of the step index k = 0, 1, 2, ...
//!
//! A [`Schedule`] maps `(base_lr, k)` to the learning rate of step k. Rules that scale the
//! optimizer's configured rate (PyTorch's schedulers, α₀/√(k+1), warmup) use `base_lr`; rules
//! that define the rate absolutely (the lecture's strongly convex rule (2k+1)/(2μ(k+1)²),
//! OneCycle's `max_lr`) ignore it. Drive an optimizer with
//! `opt.set_lrs(&|base| schedule.lr(base, k))` before step k (what the runner does), which sets
//! every parameter group from its own configured rate, as PyTorch's schedulers do.
//!
//! In configuration files a schedule is a [`ScheduleSpec`]: a table with `kind` (PyTorch's class
//! name or the lecture rule's name, or one of the lowercase aliases listed in [`CATALOG`]) and
//! the scheduler's arguments under PyTorch's names, e.g.
//! `{ kind = "StepLR", step_size = 7, gamma = 0.5 }`.
//!
//! The families live in one file each: [`lecture`] (the lecture's rules), [`torch`] (PyTorch's
//! schedulers, closed forms), [`compose`] (warmup and sequential composition), and
//! [`catalog`] (what `optlab list` prints). Every schedule is a closed form in k: defined for
//! every `k: u64` (no overflow, no indexing past the end) and finite and non-negative for a
//! finite non-negative base lr once [`ScheduleSpec::build`] has accepted its arguments.
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
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod catalog;
pub mod compose;
pub mod lecture;
pub mod torch;

use serde::{Deserialize, Serialize};

use crate::error::OptimError;

pub use catalog::{CATALOG, ScheduleInfo};
pub use compose::{Sequential, SequentialSchedule, Warmup, WarmupSchedule};
pub use lecture::{Constant, Exponential, InvSqrt, StronglyConvex};
pub use torch::{
    AnnealStrategy, CosineAnnealingLR, CosineAnnealingWarmRestarts, ExponentialLR, LinearLR,
    MultiStepLR, OneCycleLR, PolynomialLR, StepLR,
};

/// A learning-rate schedule.
pub trait Schedule: Send + Sync + std::fmt::Debug {
    /// Learning rate of step `k` (0-based) for an optimizer group configured with `base_lr`.
    fn lr(&self, base_lr: f64, k: u64) -> f64;
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
/// | `CosineAnnealingWarmRestarts` | `warm_restarts`, `cosine_warm_restarts`, `sgdr` |
/// | `Warmup` | `warmup` |
/// | `Sequential` | `sequential`, `SequentialLR` |
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
    /// Linear warmup, then any schedule (shifted by the warmup length).
    Warmup(Warmup),
    /// Schedules one after the other at milestones (PyTorch's SequentialLR).
    Sequential(Sequential),
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
    #[serde(alias = "warmup")]
    Warmup(Warmup),
    #[serde(alias = "sequential", alias = "SequentialLR")]
    Sequential(Sequential),
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
            SpecRepr::Warmup(s) => ScheduleSpec::Warmup(s),
            SpecRepr::Sequential(s) => ScheduleSpec::Sequential(s),
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
            ScheduleSpec::Warmup(_) => Warmup::KIND,
            ScheduleSpec::Sequential(_) => Sequential::KIND,
        }
    }

    /// Validates the arguments and builds the schedule.
    ///
    /// Every argument out of its range is an [`OptimError::InvalidHyperparameter`] naming the
    /// schedule, the field (with its path inside `Warmup`/`Sequential`, e.g.
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
            ScheduleSpec::Warmup(s) => Box::new(s.build()?),
            ScheduleSpec::Sequential(s) => Box::new(s.build()?),
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
