//! Lion, "EvoLved Sign Momentum" (lion-pytorch 0.2.5 `lion_pytorch.Lion`).
//!
//! Per coordinate j at step t, with learning rate α and weight decay λ:
//!
//! ```text
//! x_j ← (1 − α λ') x_j                          λ' = λ, or λ/α₀ with decoupled_weight_decay
//! x_j ← x_j − α sign(β₁ m_j + (1 − β₁) g_j)     sign(0) = 0
//! m_j ← β₂ m_j + (1 − β₂) g_j
//! ```
//!
//! The update is the sign of an interpolation between the momentum and the current gradient
//! (β₁), while the momentum itself is an EMA with a longer memory (β₂): every coordinate moves
//! by exactly α (or 0), like sign descent. With `decoupled_weight_decay`, λ is divided by the
//! configured lr α₀, so the decay per step is λ·α/α₀, independent of the lr's scale (lion-pytorch
//! divides by the constructor's lr; optlab by the parameter group's configured lr, the same
//! without groups).
//!
//! Paper: Chen, Liang, Huang, Real, Wang, Pham, Dong, Luong, Hsieh, Lu & Le, "Symbolic Discovery
//! of Optimization Algorithms" (NeurIPS 2023), Algorithm 2.

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule};
use super::normalized::sign;
use crate::error::{OptimError, check};
use crate::scalar::Scalar;

/// Lion hyperparameters: lion-pytorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LionConfig {
    /// Learning rate α ≥ 0: every coordinate moves by α or 0 (default 1e-4).
    pub lr: f64,
    /// (β₁, β₂), each in [0, 1]: β₁ mixes momentum and gradient for the sign, β₂ is the momentum
    /// EMA (default (0.9, 0.99)).
    pub betas: (f64, f64),
    /// Weight decay λ ≥ 0: x ← (1 − αλ) x before the step (default 0).
    pub weight_decay: f64,
    /// Divide λ by the configured lr, so the decay per step is λ α/α₀ (default false).
    pub decoupled_weight_decay: bool,
}

impl Default for LionConfig {
    fn default() -> Self {
        LionConfig {
            lr: 1e-4,
            betas: (0.9, 0.99),
            weight_decay: 0.0,
            decoupled_weight_decay: false,
        }
    }
}

impl Config for LionConfig {
    const NAME: &'static str = "Lion";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        check::unit_interval(Self::NAME, "betas[0]", self.betas.0)?;
        check::unit_interval(Self::NAME, "betas[1]", self.betas.1)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        if self.decoupled_weight_decay && self.weight_decay > 0.0 && self.lr == 0.0 {
            return Err(OptimError::invalid(
                Self::NAME,
                "lr",
                self.lr,
                "> 0 when decoupled_weight_decay is set with weight_decay > 0 (the decay is \
                 weight_decay / lr per unit of lr)",
            ));
        }
        Ok(())
    }
}

/// The Lion rule (state: `exp_avg`).
pub struct LionRule;

/// Per-step scalars of [`LionRule`].
#[derive(Clone, Copy, Debug)]
pub struct LionCoeffs<T> {
    /// 1 − α λ'.
    decay: T,
    /// −α.
    neg_lr: T,
    beta1: T,
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
}

impl<T: Scalar> Rule<T, 1> for LionRule {
    type Config = LionConfig;
    type Coeffs = LionCoeffs<T>;
    const STATE: [&'static str; 1] = ["exp_avg"];

    fn coeffs(c: &LionConfig, lr: f64, _t: u64) -> LionCoeffs<T> {
        let wd = if c.decoupled_weight_decay && c.weight_decay > 0.0 {
            c.weight_decay / c.lr
        } else {
            c.weight_decay
        };
        let (b1, b2) = c.betas;
        LionCoeffs {
            decay: T::of(1.0 - lr * wd),
            neg_lr: T::of(-lr),
            beta1: T::of(b1),
            one_minus_beta1: T::of(1.0 - b1),
            beta2: T::of(b2),
            one_minus_beta2: T::of(1.0 - b2),
        }
    }

    #[inline(always)]
    fn update(c: &LionCoeffs<T>, x: &mut T, g: T, [m]: &mut [T; 1]) {
        *x = *x * c.decay;
        let u = sign(*m * c.beta1 + c.one_minus_beta1 * g);
        *x = *x + c.neg_lr * u;
        *m = *m * c.beta2 + c.one_minus_beta2 * g;
    }
}

/// Lion: `Lion::<f32>::new(LionConfig { lr: 3e-4, ..Default::default() })`.
pub type Lion<T> = Elementwise<T, LionRule, 1>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optimizer;
    use crate::param::Param;

    #[test]
    fn every_coordinate_moves_by_lr_or_not_at_all() -> Result<(), OptimError> {
        let mut p = vec![Param::<f64>::vector("x", vec![1.0, 1.0, 1.0])];
        p[0].grad = vec![1e-12, -3.0, 0.0];
        let mut opt = Lion::new(LionConfig {
            lr: 0.25,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        assert_eq!(p[0].data, vec![0.75, 1.25, 1.0]);
        Ok(())
    }

    #[test]
    fn decoupled_decay_is_relative_to_the_configured_lr() -> Result<(), OptimError> {
        let cfg = LionConfig {
            lr: 0.5,
            weight_decay: 0.1,
            decoupled_weight_decay: true,
            ..Default::default()
        };
        let mut opt = Lion::new(cfg.clone())?;
        opt.set_lr(0.05); // a schedule at a tenth of the base lr
        let mut p = vec![Param::<f64>::vector("x", vec![2.0])];
        opt.step(&mut p)?; // g = 0: decay only
        assert!((p[0].data[0] - 2.0 * (1.0 - 0.05 * 0.1 / 0.5)).abs() < 1e-15);
        let e = Lion::<f64>::new(LionConfig { lr: 0.0, ..cfg })
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`lr`") && e.contains("decoupled"), "{e}");
        Ok(())
    }
}
