//! Composition of schedules: a linear warmup before any schedule, and PyTorch's `SequentialLR`.
//!
//! Both are specified by [`ScheduleSpec`]s of their parts ([`Warmup`], [`Sequential`]) and built
//! into [`WarmupSchedule`] / [`SequentialSchedule`], which hold the built parts. Each part runs
//! on its own step index, which starts at 0 when the part takes over.

use serde::{Deserialize, Serialize};

use super::{Schedule, ScheduleSpec};
use crate::error::OptimError;

/// Linear warmup, then any schedule.
///
/// With W = `warmup_steps`, s = `start_factor`, α₀ the base lr and `then` the inner schedule:
///
/// - **α_k = s·α₀ + (then(0) − s·α₀) · k / W** for k < W (a linear ramp from s·α₀ at k = 0
///   towards the inner schedule's first value; k = W would reach it);
/// - **α_k = then(k − W)** for k ≥ W: the inner schedule starts its own step index at 0 when the
///   warmup ends, so a `CosineAnnealingLR` with `T_max` = 1000 after 100 warmup steps reaches its
///   minimum at k = 1100.
///
/// With the default s = 0 the first step has lr 0 (as in the common `lr = α₀ k / W` warmup); set
/// `start_factor` > 0 to start moving at once. W = 0 is allowed and means no warmup.
///
/// Arguments: `warmup_steps` (required, ≥ 0), `start_factor` = 0.0 in [0, 1], `then` (required,
/// any schedule, e.g. `{ kind = "cosine", T_max = 1000 }`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warmup {
    /// Number of warmup steps W.
    pub warmup_steps: u64,
    /// Fraction of the base lr at k = 0.
    #[serde(default)]
    pub start_factor: f64,
    /// The schedule that runs after the warmup (with its step index shifted by W).
    pub then: Box<ScheduleSpec>,
}

impl Warmup {
    pub(crate) const KIND: &'static str = "Warmup";

    /// Validates the arguments and the inner schedule, and builds.
    pub fn build(&self) -> Result<WarmupSchedule, OptimError> {
        super::check::in_unit_interval(Self::KIND, "start_factor", self.start_factor)?;
        let then = self.then.build().map_err(|e| e.within("then"))?;
        Ok(WarmupSchedule {
            warmup_steps: self.warmup_steps,
            start_factor: self.start_factor,
            then,
        })
    }
}

/// A built [`Warmup`].
#[derive(Debug)]
pub struct WarmupSchedule {
    warmup_steps: u64,
    start_factor: f64,
    then: Box<dyn Schedule>,
}

impl Schedule for WarmupSchedule {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        if k < self.warmup_steps {
            let start = self.start_factor * base_lr;
            let target = self.then.lr(base_lr, 0);
            let t = k as f64 / self.warmup_steps as f64;
            start + (target - start) * t
        } else {
            self.then.lr(base_lr, k - self.warmup_steps)
        }
    }
}

/// Schedules one after another, like PyTorch's `SequentialLR`.
///
/// With milestones m₁ < m₂ < … < m_{n−1} (m₀ = 0): **α_k = schedules[i](k − m_i)** for
/// m_i ≤ k < m_{i+1}. Each schedule restarts its own step index at 0 at its milestone (PyTorch
/// calls `scheduler.step(0)` there) and is evaluated from the base lr, so e.g.
/// `[LinearLR, ExponentialLR]` with milestone 10 is a 10-step linear warmup followed by
/// α₀γ^(k−10).
///
/// Arguments (both required): `schedules` (a non-empty list of schedules), `milestones`
/// (`len(schedules) − 1` strictly increasing steps, each ≥ 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sequential {
    /// The schedules, in order.
    pub schedules: Vec<ScheduleSpec>,
    /// The steps at which the next schedule takes over.
    pub milestones: Vec<u64>,
}

impl Sequential {
    pub(crate) const KIND: &'static str = "Sequential";

    /// Validates the milestones and every schedule, and builds.
    pub fn build(&self) -> Result<SequentialSchedule, OptimError> {
        if self.schedules.is_empty() {
            return Err(OptimError::invalid(
                Self::KIND,
                "schedules",
                "[]",
                "a non-empty list of schedules",
            ));
        }
        let increasing = self.milestones.windows(2).all(|w| w[0] < w[1]);
        let positive = self.milestones.first().is_none_or(|&m| m >= 1);
        if self.milestones.len() + 1 != self.schedules.len() || !increasing || !positive {
            return Err(OptimError::invalid(
                Self::KIND,
                "milestones",
                format!("{:?}", self.milestones),
                format!(
                    "a strictly increasing list of len(schedules) − 1 = {} steps, each ≥ 1",
                    self.schedules.len() - 1
                ),
            ));
        }
        let schedules = self
            .schedules
            .iter()
            .enumerate()
            .map(|(i, s)| s.build().map_err(|e| e.within(&format!("schedules[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SequentialSchedule {
            schedules,
            milestones: self.milestones.clone(),
        })
    }
}

/// A built [`Sequential`].
#[derive(Debug)]
pub struct SequentialSchedule {
    schedules: Vec<Box<dyn Schedule>>,
    milestones: Vec<u64>,
}

impl Schedule for SequentialSchedule {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        // bisect_right(milestones, k), as PyTorch's SequentialLR.
        let i = self.milestones.partition_point(|&m| m <= k);
        let start = if i == 0 { 0 } else { self.milestones[i - 1] };
        match self.schedules.get(i) {
            Some(s) => s.lr(base_lr, k - start),
            // Not reachable after `build` (len(milestones) = len(schedules) − 1).
            None => base_lr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{CosineAnnealingLR, Exponential, LinearLR, StepLR};

    #[test]
    fn warmup_ramps_then_shifts_the_inner_index() {
        let w = Warmup {
            warmup_steps: 4,
            start_factor: 0.0,
            then: Box::new(ScheduleSpec::StepLR(StepLR {
                step_size: 2,
                gamma: 0.5,
            })),
        }
        .build()
        .unwrap();
        let lrs: Vec<f64> = (0..9).map(|k| w.lr(2.0, k)).collect();
        assert_eq!(lrs, [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 1.0, 1.0, 0.5]);
    }

    #[test]
    fn warmup_targets_the_inner_first_value_and_start_factor() {
        let w = Warmup {
            warmup_steps: 2,
            start_factor: 0.5,
            then: Box::new(ScheduleSpec::Exponential(Exponential { gamma: 0.5 })),
        }
        .build()
        .unwrap();
        assert_eq!(w.lr(4.0, 0), 2.0);
        assert_eq!(w.lr(4.0, 1), 3.0);
        assert_eq!(w.lr(4.0, 2), 4.0);
        assert_eq!(w.lr(4.0, 3), 2.0);
        // W = 0 is the inner schedule itself.
        let w0 = Warmup {
            warmup_steps: 0,
            start_factor: 0.0,
            then: Box::new(ScheduleSpec::Exponential(Exponential { gamma: 0.5 })),
        }
        .build()
        .unwrap();
        assert_eq!(w0.lr(4.0, 0), 4.0);
        assert_eq!(w0.lr(4.0, 1), 2.0);
    }

    #[test]
    fn sequential_restarts_each_schedule_at_its_milestone() {
        let s = Sequential {
            schedules: vec![
                ScheduleSpec::LinearLR(LinearLR {
                    start_factor: 0.25,
                    end_factor: 1.0,
                    total_iters: 3,
                }),
                ScheduleSpec::Exponential(Exponential { gamma: 0.5 }),
                ScheduleSpec::CosineAnnealingLR(CosineAnnealingLR {
                    t_max: 2,
                    eta_min: 0.0,
                }),
            ],
            milestones: vec![3, 5],
        }
        .build()
        .unwrap();
        let lrs: Vec<f64> = (0..8).map(|k| s.lr(4.0, k)).collect();
        let expect = [1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 2.0, 0.0];
        for (k, (a, b)) in lrs.iter().zip(expect).enumerate() {
            assert!((a - b).abs() < 1e-15, "k = {k}: {a} vs {b}");
        }
    }

    #[test]
    fn sequential_rejects_bad_milestones() {
        let two = || {
            vec![
                ScheduleSpec::Constant,
                ScheduleSpec::Exponential(Exponential { gamma: 0.5 }),
            ]
        };
        for milestones in [vec![], vec![0], vec![3, 4]] {
            let e = Sequential {
                schedules: two(),
                milestones: milestones.clone(),
            }
            .build()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(e.contains("milestones") && e.contains("= 1 steps"), "{e}");
        }
        let e = Sequential {
            schedules: vec![],
            milestones: vec![],
        }
        .build()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("schedules") && e.contains("non-empty"), "{e}");
        let e = Sequential {
            schedules: vec![
                ScheduleSpec::Constant,
                ScheduleSpec::Constant,
                ScheduleSpec::Constant,
            ],
            milestones: vec![4, 4],
        }
        .build();
        assert!(e.is_err());
    }
}
