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
//! name or the lecture rule's name) and the scheduler's arguments under PyTorch's names, e.g.
//! `{ kind = "StepLR", step_size = 7, gamma = 0.5 }`.

use serde::{Deserialize, Serialize};

use crate::error::OptimError;

/// A learning-rate schedule.
pub trait Schedule: Send + Sync + std::fmt::Debug {
    /// Learning rate of step `k` (0-based) for an optimizer group configured with `base_lr`.
    fn lr(&self, base_lr: f64, k: u64) -> f64;
}

/// Serializable description of a schedule (TOML/JSON: `kind` + PyTorch's argument names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// α_k = base_lr.
    #[serde(alias = "constant")]
    Constant,
}

impl ScheduleSpec {
    /// Validates the arguments and builds the schedule.
    pub fn build(&self) -> Result<Box<dyn Schedule>, OptimError> {
        match self {
            ScheduleSpec::Constant => Ok(Box::new(Constant)),
        }
    }
}

/// α_k = base_lr.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Constant;

impl Schedule for Constant {
    fn lr(&self, base_lr: f64, _k: u64) -> f64 {
        base_lr
    }
}
