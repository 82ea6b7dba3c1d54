//! Schedule-free SGD and AdamW (package `schedulefree` 1.4.1: `SGDScheduleFree`,
//! `AdamWScheduleFree`).
//!
//! Schedule-free methods replace the learning-rate schedule by an online average. Three
//! sequences are kept: z (the base method's iterates), x (a weighted average of the z's, where
//! the model is evaluated) and y = (1 − β) z + β x (an interpolation, where gradients are
//! taken). Only y (the parameters) and z (state) are stored; x is recovered from them. Per
//! coordinate at step t (k = t − 1), with lr α:
//!
//! ```text
//! α_t = α · min(1, (k + 1)/warmup_steps)                           (linear warmup)
//! α_max ← max(α_max, α_t);  w_t = (k + 1)^r · α_max^weight_lr_power;  W ← W + w_t
//! c = w_t / W                                                     (0 when W = 0)
//! d = g / (√(v/(1 − β₂ᵗ)) + ε)  with  v ← β₂ v + (1 − β₂) g²      (AdamW; SGD: d = g)
//! d ← d + λ y                                                     (weight decay, at y)
//! y ← y + c (z − y);  y ← y + α_t (β (1 − c) − 1) d
//! z ← z − α_t d
//! x = y + (1 − 1/β)(z − y)                                        (evaluation point)
//! ```
//!
//! with β = `betas[0]` (AdamW) or `momentum` (SGD), z = y at the first step. The update of y is
//! the algebraic form of y = (1 − β) z + β x with x ← (1 − c) x + c z, as in the package. The
//! evaluation point x is what [`Optimizer::eval_params`](super::Optimizer::eval_params)
//! gives (the package's `optimizer.eval()`); the parameters stay at y, the package's train mode.
//! The scalar state (`weight_sum` W and `lr_max`) belongs to a parameter group in the package;
//! optlab keeps a copy per parameter (equal within a group).
//!
//! Paper: Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled"
//! (NeurIPS 2024); the `schedulefree` package by the same authors.

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule, coeffs_from_start};
use crate::error::{OptimError, check};
use crate::kernels::lerp;
use crate::scalar::Scalar;

/// AdamWScheduleFree hyperparameters: the package's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWScheduleFreeConfig {
    /// Learning rate α ≥ 0 (default 0.0025).
    pub lr: f64,
    /// (β₁, β₂): β₁ ∈ (0, 1) interpolates y between z and x, β₂ ∈ [0, 1) the second-moment EMA
    /// (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε ≥ 0 added to the denominator, outside the square root (default 1e-8).
    pub eps: f64,
    /// Weight decay λ ≥ 0, applied at y after the normalisation (default 0).
    pub weight_decay: f64,
    /// Steps of the linear warmup of the lr (default 0).
    pub warmup_steps: u64,
    /// Power r ≥ 0 of the polynomial weighting (k + 1)^r of the average (default 0).
    pub r: f64,
    /// Power ≥ 0 of the largest lr so far in the averaging weights (default 2).
    pub weight_lr_power: f64,
}

impl Default for AdamWScheduleFreeConfig {
    fn default() -> Self {
        AdamWScheduleFreeConfig {
            lr: 0.0025,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
        }
    }
}

/// SGDScheduleFree hyperparameters: the package's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdScheduleFreeConfig {
    /// Learning rate α ≥ 0 (default 1.0).
    pub lr: f64,
    /// Interpolation β ∈ (0, 1) of y between z and x (default 0.9).
    pub momentum: f64,
    /// L2 weight decay λ ≥ 0, added to the gradient at y (default 0).
    pub weight_decay: f64,
    /// Steps of the linear warmup of the lr (default 0).
    pub warmup_steps: u64,
    /// Power r ≥ 0 of the polynomial weighting (k + 1)^r of the average (default 0).
    pub r: f64,
    /// Power ≥ 0 of the largest lr so far in the averaging weights (default 2).
    pub weight_lr_power: f64,
}

impl Default for SgdScheduleFreeConfig {
    fn default() -> Self {
        SgdScheduleFreeConfig {
            lr: 1.0,
            momentum: 0.9,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
        }
    }
}

/// What the averaging of the two methods shares.
struct Averaging {
    lr: f64,
    warmup_steps: u64,
    r: f64,
    weight_lr_power: f64,
    weight_decay: f64,
}

/// `(0, 1)`, the range of the interpolation β (x = y + (1 − 1/β)(z − y) needs β > 0).
fn check_beta(opt: &'static str, field: &str, beta: f64) -> Result<(), OptimError> {
    if beta > 0.0 && beta < 1.0 {
        Ok(())
    } else {
        Err(OptimError::invalid(opt, field, beta, "in (0, 1)"))
    }
}

impl Averaging {
    fn validate(&self, opt: &'static str) -> Result<(), OptimError> {
        check::non_negative(opt, "lr", self.lr)?;
        check::non_negative(opt, "weight_decay", self.weight_decay)?;
        check::non_negative(opt, "r", self.r)?;
        check::non_negative(opt, "weight_lr_power", self.weight_lr_power)
    }

    /// Advances `[weight_sum, lr_max]` to step t; returns the warmed-up lr α_t and c = w_t/W.
    fn advance<T: Scalar>(&self, lr: f64, t: u64, scalars: &mut [T]) -> (f64, f64) {
        let k = t.saturating_sub(1);
        let sched = if k < self.warmup_steps {
            (k + 1) as f64 / self.warmup_steps as f64
        } else {
            1.0
        };
        let lr = lr * sched;
        let [weight_sum, lr_max] = scalars else {
            // Not reachable: the driver keeps one value per name in SCALARS.
            return (lr, 0.0);
        };
        let m = lr.max(lr_max.as_f64());
        *lr_max = T::of(m);
        let weight = ((k + 1) as f64).powf(self.r) * m.powf(self.weight_lr_power);
        let sum = weight_sum.as_f64() + weight;
        *weight_sum = T::of(sum);
        (lr, if sum == 0.0 { 0.0 } else { weight / sum })
    }

    /// Initial `[weight_sum, lr_max]`: 0 and the package's −1.
    fn init<T: Scalar>() -> Vec<T> {
        vec![T::zero(), -T::one()]
    }
}

impl Config for AdamWScheduleFreeConfig {
    const NAME: &'static str = "AdamWScheduleFree";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check_beta(Self::NAME, "betas[0]", self.betas.0)?;
        check::unit_interval_open(Self::NAME, "betas[1]", self.betas.1)?;
        check::non_negative(Self::NAME, "eps", self.eps)?;
        self.averaging().validate(Self::NAME)
    }
}

impl AdamWScheduleFreeConfig {
    fn averaging(&self) -> Averaging {
        Averaging {
            lr: self.lr,
            warmup_steps: self.warmup_steps,
            r: self.r,
            weight_lr_power: self.weight_lr_power,
            weight_decay: self.weight_decay,
        }
    }
}

impl Config for SgdScheduleFreeConfig {
    const NAME: &'static str = "SGDScheduleFree";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check_beta(Self::NAME, "momentum", self.momentum)?;
        self.averaging().validate(Self::NAME)
    }
}

impl SgdScheduleFreeConfig {
    fn averaging(&self) -> Averaging {
        Averaging {
            lr: self.lr,
            warmup_steps: self.warmup_steps,
            r: self.r,
            weight_lr_power: self.weight_lr_power,
            weight_decay: self.weight_decay,
        }
    }
}

/// Per-step scalars of the schedule-free rules.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleFreeCoeffs<T> {
    /// Step 1: z starts at y.
    first: bool,
    beta2: T,
    one_minus_beta2: T,
    /// 1 − β₂ᵗ.
    bias_correction2: T,
    eps: T,
    weight_decay: T,
    /// c = w_t / W.
    ckp1: T,
    /// α_t (β (1 − c) − 1).
    y_step: T,
    /// α_t.
    lr: T,
}

fn coeffs<T: Scalar>(
    (lr, ckp1): (f64, f64),
    beta: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    t: u64,
) -> ScheduleFreeCoeffs<T> {
    ScheduleFreeCoeffs {
        first: t == 1,
        beta2: T::of(beta2),
        one_minus_beta2: T::of(1.0 - beta2),
        bias_correction2: T::of(1.0 - beta2.powf(t as f64)),
        eps: T::of(eps),
        weight_decay: T::of(weight_decay),
        ckp1: T::of(ckp1),
        y_step: T::of(lr * (beta * (1.0 - ckp1) - 1.0)),
        lr: T::of(lr),
    }
}

/// y ← y + c (z − y) + α_t (β (1 − c) − 1) d; z ← z − α_t d (d with the weight decay at y).
#[inline(always)]
fn interpolate<T: Scalar>(c: &ScheduleFreeCoeffs<T>, y: &mut T, d: T, z: &mut T) {
    let d = d + c.weight_decay * *y;
    *y = lerp(*y, *z, c.ckp1);
    *y = *y + c.y_step * d;
    *z = *z - c.lr * d;
}

/// The AdamWScheduleFree rule (state: `z`, `exp_avg_sq`; scalar state `weight_sum`, `lr_max`).
pub struct AdamWScheduleFreeRule;

impl<T: Scalar> Rule<T, 2> for AdamWScheduleFreeRule {
    type Config = AdamWScheduleFreeConfig;
    type Coeffs = ScheduleFreeCoeffs<T>;
    const STATE: [&'static str; 2] = ["z", "exp_avg_sq"];
    const SCALARS: &'static [&'static str] = &["weight_sum", "lr_max"];
    const EVAL: bool = true;

    fn init_scalars(_c: &AdamWScheduleFreeConfig) -> Vec<T> {
        Averaging::init()
    }

    /// The coefficients of step `t` for a learning rate constant at `lr` since step 1 (the
    /// driver uses [`advance`](Rule::advance) with the running sums instead).
    fn coeffs(c: &AdamWScheduleFreeConfig, lr: f64, t: u64) -> ScheduleFreeCoeffs<T> {
        coeffs_from_start::<T, Self, 2>(c, lr, t)
    }

    fn advance(
        c: &AdamWScheduleFreeConfig,
        lr: f64,
        t: u64,
        scalars: &mut [T],
    ) -> ScheduleFreeCoeffs<T> {
        let step = c.averaging().advance(lr, t, scalars);
        coeffs(step, c.betas.0, c.betas.1, c.eps, c.weight_decay, t)
    }

    #[inline(always)]
    fn update(c: &ScheduleFreeCoeffs<T>, y: &mut T, g: T, [z, v]: &mut [T; 2]) {
        if c.first {
            *z = *y;
        }
        *v = *v * c.beta2 + c.one_minus_beta2 * g * g;
        let denom = (*v / c.bias_correction2).sqrt() + c.eps;
        interpolate(c, y, g / denom, z);
    }

    /// x = y + (1 − 1/β₁)(z − y).
    fn eval(c: &AdamWScheduleFreeConfig, y: T, [z, _]: &[T; 2]) -> T {
        lerp(y, *z, T::of(1.0 - 1.0 / c.betas.0))
    }
}

/// The SGDScheduleFree rule (state: `z`; scalar state `weight_sum`, `lr_max`).
pub struct SgdScheduleFreeRule;

impl<T: Scalar> Rule<T, 1> for SgdScheduleFreeRule {
    type Config = SgdScheduleFreeConfig;
    type Coeffs = ScheduleFreeCoeffs<T>;
    const STATE: [&'static str; 1] = ["z"];
    const SCALARS: &'static [&'static str] = &["weight_sum", "lr_max"];
    const EVAL: bool = true;

    fn init_scalars(_c: &SgdScheduleFreeConfig) -> Vec<T> {
        Averaging::init()
    }

    /// The coefficients of step `t` for a learning rate constant at `lr` since step 1.
    fn coeffs(c: &SgdScheduleFreeConfig, lr: f64, t: u64) -> ScheduleFreeCoeffs<T> {
        coeffs_from_start::<T, Self, 1>(c, lr, t)
    }

    fn advance(
        c: &SgdScheduleFreeConfig,
        lr: f64,
        t: u64,
        scalars: &mut [T],
    ) -> ScheduleFreeCoeffs<T> {
        let step = c.averaging().advance(lr, t, scalars);
        coeffs(step, c.momentum, 0.0, 0.0, c.weight_decay, t)
    }

    #[inline(always)]
    fn update(c: &ScheduleFreeCoeffs<T>, y: &mut T, g: T, [z]: &mut [T; 1]) {
        if c.first {
            *z = *y;
        }
        interpolate(c, y, g, z);
    }

    /// x = y + (1 − 1/β)(z − y).
    fn eval(c: &SgdScheduleFreeConfig, y: T, [z]: &[T; 1]) -> T {
        lerp(y, *z, T::of(1.0 - 1.0 / c.momentum))
    }
}

/// Schedule-free AdamW: `AdamWScheduleFree::<f32>::new(AdamWScheduleFreeConfig::default())`.
pub type AdamWScheduleFree<T> = Elementwise<T, AdamWScheduleFreeRule, 2>;

/// Schedule-free SGD: `SgdScheduleFree::<f64>::new(SgdScheduleFreeConfig::default())`.
pub type SgdScheduleFree<T> = Elementwise<T, SgdScheduleFreeRule, 1>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optimizer;
    use crate::param::Param;

    /// x, y, z of the paper for schedule-free SGD on f(x) = x²/2, written from its definition
    /// (x ← (1 − c) x + c z after z's step, y = (1 − β) z + β x), against the package's algebra.
    #[test]
    fn sgd_matches_the_three_sequence_definition() -> Result<(), OptimError> {
        let (lr, beta) = (0.3, 0.9);
        let mut opt = SgdScheduleFree::new(SgdScheduleFreeConfig {
            lr,
            momentum: beta,
            ..Default::default()
        })?;
        let mut p = vec![Param::<f64>::vector("w", vec![2.0])];
        let mut out = p.clone();
        let (mut x, mut z) = (2.0f64, 2.0f64);
        for t in 1..=20u32 {
            let y = (1.0 - beta) * z + beta * x;
            assert!((p[0].data[0] - y).abs() < 1e-13, "step {t}");
            p[0].grad = vec![p[0].data[0]];
            opt.step(&mut p)?;
            z -= lr * y;
            let c = 1.0 / f64::from(t); // constant lr: uniform weights
            x = (1.0 - c) * x + c * z;
            assert!(opt.eval_params(&p, &mut out)?);
            assert!((out[0].data[0] - x).abs() < 1e-13, "step {t}");
        }
        Ok(())
    }

    #[test]
    fn warmup_scales_the_lr_and_beta_is_checked() -> Result<(), OptimError> {
        let cfg = AdamWScheduleFreeConfig {
            warmup_steps: 4,
            ..Default::default()
        };
        let mut s: Vec<f64> = Averaging::init();
        let (lr1, c1) = cfg.averaging().advance(0.1, 1, &mut s);
        assert!((lr1 - 0.025).abs() < 1e-17 && c1 == 1.0);
        let (lr2, c2) = cfg.averaging().advance(0.1, 2, &mut s);
        // weights ∝ α_max²: 0.025², 0.05²
        assert!((lr2 - 0.05).abs() < 1e-17);
        assert!((c2 - 0.05f64.powi(2) / (0.025f64.powi(2) + 0.05f64.powi(2))).abs() < 1e-15);
        for beta in [0.0, 1.0] {
            let e = AdamWScheduleFree::<f64>::new(AdamWScheduleFreeConfig {
                betas: (beta, 0.999),
                ..Default::default()
            })
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(e.contains("betas[0]") && e.contains("(0, 1)"), "{e}");
        }
        Ok(())
    }

    #[test]
    fn a_partition_route_evaluates_at_x_and_the_others_at_their_parameters()
    -> Result<(), OptimError> {
        use crate::optim::registry::{self, HyperMap};
        let hyper: HyperMap = serde_json::from_value(serde_json::json!({
            "routes": [{"params": "layer.*", "optimizer": "AdamWScheduleFree", "lr": 0.1}],
            "default": {"optimizer": "SGD", "lr": 0.1}
        }))
        .unwrap();
        let mut opt = registry::build::<f64>("Partition", &hyper)?;
        let mut alone = AdamWScheduleFree::<f64>::new(AdamWScheduleFreeConfig {
            lr: 0.1,
            ..Default::default()
        })?;
        let mut ps = vec![
            Param::<f64>::new("head.bias", [2], vec![1.0, -1.0])?,
            Param::<f64>::new("layer.weight", [2, 2], vec![0.5, -0.5, 2.0, 1.0])?,
        ];
        let mut layer = vec![ps[1].clone()];
        let mut out = ps.clone();
        assert!(!opt.eval_params(&ps, &mut out)?);
        for _ in 0..3 {
            for p in ps.iter_mut().chain(layer.iter_mut()) {
                p.grad = p.data.iter().map(|x| x - 0.25).collect();
            }
            opt.step(&mut ps)?;
            alone.step(&mut layer)?;
        }
        assert!(opt.eval_params(&ps, &mut out)?);
        let mut x = layer.clone();
        assert!(alone.eval_params(&layer, &mut x)?);
        assert_eq!(out[1].data, x[0].data);
        assert_ne!(out[1].data, ps[1].data);
        assert_eq!(out[0].data, ps[0].data);
        Ok(())
    }
}
