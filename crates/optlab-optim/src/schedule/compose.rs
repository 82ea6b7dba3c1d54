//! Composition of schedules: a linear warmup before any schedule, PyTorch's `SequentialLR` and
//! `ChainedScheduler`.
//!
//! Each is specified by [`ScheduleSpec`]s of its parts ([`Warmup`], [`Sequential`],
//! [`ChainedScheduler`]) and built into [`WarmupSchedule`] / [`SequentialSchedule`] /
//! [`ChainedSchedule`], which hold the built parts. In a warmup or a sequence each part runs on
//! its own step index, which starts at 0 when the part takes over; in a chain every part sees
//! the same k. Metrics ([`Schedule::observe`]) go to the parts that are running (after the
//! warmup, the current schedule of a sequence, every schedule of a chain), with the part's own
//! step index, and the parts' states are saved depth-first in spec order.

use serde::{Deserialize, Serialize};

use super::{PartState, Schedule, ScheduleSpec};
use crate::error::OptimError;

/// Builds every spec of a list, naming a failing one's fields `{field}[i].…`.
fn build_all(specs: &[ScheduleSpec], field: &str) -> Result<Vec<Box<dyn Schedule>>, OptimError> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.build().map_err(|e| e.within(&format!("{field}[{i}]"))))
        .collect()
}

/// Saves the metric-driven parts of every schedule of a list, in order.
fn save_all(schedules: &[Box<dyn Schedule>], out: &mut Vec<PartState>) {
    for s in schedules {
        s.save_parts(out);
    }
}

/// Restores what [`save_all`] saved.
fn load_all(
    schedules: &mut [Box<dyn Schedule>],
    parts: &mut &[PartState],
) -> Result<(), OptimError> {
    schedules.iter_mut().try_for_each(|s| s.load_parts(parts))
}

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

    fn is_metric_driven(&self) -> bool {
        self.then.is_metric_driven()
    }

    /// Metrics observed during the warmup are not passed on: the inner schedule starts at the
    /// end of the warmup, with its own step index.
    fn observe(&mut self, k: u64, metric: f64) {
        if k >= self.warmup_steps {
            self.then.observe(k - self.warmup_steps, metric);
        }
    }

    fn save_parts(&self, out: &mut Vec<PartState>) {
        self.then.save_parts(out);
    }

    fn load_parts(&mut self, parts: &mut &[PartState]) -> Result<(), OptimError> {
        self.then.load_parts(parts)
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
        let schedules = build_all(&self.schedules, "schedules")?;
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

impl SequentialSchedule {
    /// Index of the schedule running at step k and the step at which it started.
    fn running(&self, k: u64) -> (usize, u64) {
        // bisect_right(milestones, k), as PyTorch's SequentialLR.
        let i = self.milestones.partition_point(|&m| m <= k);
        (i, if i == 0 { 0 } else { self.milestones[i - 1] })
    }
}

impl Schedule for SequentialSchedule {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        let (i, start) = self.running(k);
        match self.schedules.get(i) {
            Some(s) => s.lr(base_lr, k - start),
            // Not reachable after `build` (len(milestones) = len(schedules) − 1).
            None => base_lr,
        }
    }

    fn is_metric_driven(&self) -> bool {
        self.schedules.iter().any(|s| s.is_metric_driven())
    }

    /// The metric of step k goes to the schedule running at k, at its own step index.
    fn observe(&mut self, k: u64, metric: f64) {
        let (i, start) = self.running(k);
        if let Some(s) = self.schedules.get_mut(i) {
            s.observe(k - start, metric);
        }
    }

    fn save_parts(&self, out: &mut Vec<PartState>) {
        save_all(&self.schedules, out);
    }

    fn load_parts(&mut self, parts: &mut &[PartState]) -> Result<(), OptimError> {
        load_all(&mut self.schedules, parts)
    }
}

/// Schedules applied on top of each other, like PyTorch's `ChainedScheduler`:
/// **α_k = s_n(… s_2(s_1(α₀, k), k) …, k)**, each schedule taking the previous one's lr as its
/// base lr.
///
/// For schedules that scale their base lr (all but the absolute ones) this is α₀ times the
/// product of their factors at step k, which is what PyTorch's `ChainedScheduler` computes by
/// letting each scheduler multiply the group's current lr in turn. An absolute schedule in the
/// chain (`OneCycleLR`, `CyclicLR`, `StronglyConvex`) sets the lr from which the later ones
/// scale; PyTorch's recursive form would instead multiply the overwritten lr by the later
/// schedulers' step-to-step ratios. A `ReduceLROnPlateau` in the chain receives every metric
/// and scales what the schedules before it give.
///
/// Argument: `schedulers` (required), a non-empty list of schedules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainedScheduler {
    /// The schedules, applied in order.
    pub schedulers: Vec<ScheduleSpec>,
}

impl ChainedScheduler {
    pub(crate) const KIND: &'static str = "ChainedScheduler";

    /// Validates every schedule, and builds.
    pub fn build(&self) -> Result<ChainedSchedule, OptimError> {
        if self.schedulers.is_empty() {
            return Err(OptimError::invalid(
                Self::KIND,
                "schedulers",
                "[]",
                "a non-empty list of schedules",
            ));
        }
        let schedules = build_all(&self.schedulers, "schedulers")?;
        Ok(ChainedSchedule { schedules })
    }
}

/// A built [`ChainedScheduler`].
#[derive(Debug)]
pub struct ChainedSchedule {
    schedules: Vec<Box<dyn Schedule>>,
}

impl Schedule for ChainedSchedule {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        self.schedules.iter().fold(base_lr, |lr, s| s.lr(lr, k))
    }

    fn is_metric_driven(&self) -> bool {
        self.schedules.iter().any(|s| s.is_metric_driven())
    }

    fn observe(&mut self, k: u64, metric: f64) {
        for s in &mut self.schedules {
            s.observe(k, metric);
        }
    }

    fn save_parts(&self, out: &mut Vec<PartState>) {
        save_all(&self.schedules, out);
    }

    fn load_parts(&mut self, parts: &mut &[PartState]) -> Result<(), OptimError> {
        load_all(&mut self.schedules, parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{
        ConstantLR, CosineAnnealingLR, Exponential, ExponentialLR, LinearLR, ReduceLROnPlateau,
        StepLR,
    };

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

    #[test]
    fn chained_multiplies_the_factors() {
        let c = ChainedScheduler {
            schedulers: vec![
                ScheduleSpec::ConstantLR(ConstantLR {
                    factor: 0.5,
                    total_iters: 2,
                }),
                ScheduleSpec::ExponentialLR(ExponentialLR { gamma: 0.5 }),
            ],
        }
        .build()
        .unwrap();
        let lrs: Vec<f64> = (0..4).map(|k| c.lr(8.0, k)).collect();
        assert_eq!(lrs, [4.0, 2.0, 2.0, 1.0]);
        let e = ChainedScheduler { schedulers: vec![] }
            .build()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("schedulers") && e.contains("non-empty"), "{e}");
    }

    #[test]
    fn metrics_reach_the_running_parts_and_states_nest() {
        let plateau = || {
            ScheduleSpec::ReduceLROnPlateau(ReduceLROnPlateau {
                factor: 0.5,
                patience: 0,
                ..Default::default()
            })
        };
        // A plateau after a 2-step warmup: metrics of the warmup steps are not seen.
        let mut w = Warmup {
            warmup_steps: 2,
            start_factor: 0.5,
            then: Box::new(plateau()),
        }
        .build()
        .unwrap();
        assert!(w.is_metric_driven());
        for k in 0..2 {
            w.observe(k, 1.0);
        }
        assert_eq!(w.lr(1.0, 2), 1.0);
        w.observe(2, 1.0); // first metric the plateau sees: its best
        w.observe(3, 1.0); // not better: halve
        assert_eq!(w.lr(1.0, 4), 0.5);
        // A sequence: constant, then the plateau from step 3; a chain of the two.
        let spec = Sequential {
            schedules: vec![ScheduleSpec::Constant, plateau()],
            milestones: vec![3],
        };
        let mut s = spec.build().unwrap();
        for k in 0..6 {
            s.observe(k, 1.0);
        }
        // The plateau saw k = 3, 4, 5: best, halve, halve.
        assert_eq!(s.lr(1.0, 6), 0.25);
        let state = s.state();
        assert_eq!(state.parts.len(), 1);
        let mut t = spec.build().unwrap();
        t.load_state(&state).unwrap();
        assert_eq!(t.lr(1.0, 6), 0.25);
        let mut chain = ChainedScheduler {
            schedulers: vec![plateau(), ScheduleSpec::Constant, plateau()],
        }
        .build()
        .unwrap();
        chain.observe(0, 1.0);
        chain.observe(1, 1.0);
        assert_eq!(chain.lr(1.0, 2), 0.25);
        assert_eq!(chain.state().parts.len(), 2);
        // A state with the wrong number of parts is refused.
        assert!(t.load_state(&chain.state()).is_err());
        assert!(chain.load_state(&state).is_err());
        let closed = ScheduleSpec::Constant.build().unwrap();
        assert!(!closed.is_metric_driven());
        assert!(closed.state().parts.is_empty());
    }

    #[test]
    fn sequential_constant_then_exponential_is_pytorchs_warmup_recipe() {
        // SequentialLR([ConstantLR(factor=0.1, total_iters=5), ExponentialLR(gamma=0.95)],
        // milestones=[5]): 0.1·α₀ for five steps, then α₀·0.95^(k−5) (PyTorch restarts the
        // exponential with step(0) at the milestone).
        let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
            "kind": "SequentialLR", "milestones": [5],
            "schedules": [{"kind": "ConstantLR", "factor": 0.1, "total_iters": 5},
                          {"kind": "ExponentialLR", "gamma": 0.95}]
        }))
        .unwrap();
        let s = spec.build().unwrap();
        for k in 0..5 {
            assert!((s.lr(2.0, k) - 0.2).abs() < 1e-16, "k = {k}");
        }
        for k in 5..40u64 {
            let want = 2.0 * 0.95f64.powi((k - 5) as i32);
            // closed form vs the product PyTorch chains: a few ulps apart after 35 steps
            assert!((s.lr(2.0, k) - want).abs() <= 1e-14 * want, "k = {k}");
        }
    }
}
