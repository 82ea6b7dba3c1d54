//! Adamax, Adam with the infinity norm (PyTorch `torch.optim.Adamax`).
//!
//! Per coordinate j at step t (g_j negated first if `maximize`):
//!
//! ```text
//! g_j ← g_j + λ x_j                                   (weight_decay λ, L2 form)
//! m_j ← m_j + (1 − β₁)(g_j − m_j)
//! u_j ← max(β₂ u_j, |g_j| + ε)
//! x_j ← x_j − (α / (1 − β₁ᵗ)) · m_j / u_j
//! ```
//!
//! Paper: Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015), §7.1,
//! Algorithm 2. ε is added to |g| inside the maximum, as PyTorch does (the paper has no ε).
//! PyTorch's names and defaults: `lr = 2e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`,
//! `weight_decay = 0`, `maximize = false`; state keys `exp_avg` (m) and `exp_inf` (u).

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule};
use crate::error::{OptimError, check};
use crate::scalar::Scalar;

/// Adamax hyperparameters, PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamaxConfig {
    /// Learning rate α ≥ 0 (default 2e-3).
    pub lr: f64,
    /// (β₁, β₂), each in [0, 1) (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε ≥ 0 added to |g| in the running maximum (default 1e-8).
    pub eps: f64,
    /// L2 penalty λ ≥ 0 added to the gradient (default 0).
    pub weight_decay: f64,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for AdamaxConfig {
    fn default() -> Self {
        AdamaxConfig {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl Config for AdamaxConfig {
    const NAME: &'static str = "Adamax";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        check::unit_interval_open(Self::NAME, "betas[0]", self.betas.0)?;
        check::unit_interval_open(Self::NAME, "betas[1]", self.betas.1)?;
        check::non_negative(Self::NAME, "eps", self.eps)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)
    }
}

/// The Adamax rule (state: `exp_avg`, `exp_inf`).
pub struct AdamaxRule;

/// Per-step scalars of [`AdamaxRule`].
#[derive(Clone, Copy, Debug)]
pub struct AdamaxCoeffs<T> {
    sign: T,
    weight_decay: T,
    one_minus_beta1: T,
    beta2: T,
    eps: T,
    /// α / (1 − β₁ᵗ).
    step_size: T,
}

impl<T: Scalar> Rule<T, 2> for AdamaxRule {
    type Config = AdamaxConfig;
    type Coeffs = AdamaxCoeffs<T>;
    const STATE: [&'static str; 2] = ["exp_avg", "exp_inf"];

    fn coeffs(c: &AdamaxConfig, lr: f64, t: u64) -> AdamaxCoeffs<T> {
        let (b1, b2) = c.betas;
        AdamaxCoeffs {
            sign: if c.maximize { -T::one() } else { T::one() },
            weight_decay: T::of(c.weight_decay),
            one_minus_beta1: T::of(1.0 - b1),
            beta2: T::of(b2),
            eps: T::of(c.eps),
            step_size: T::of(lr / (1.0 - b1.powf(t as f64))),
        }
    }

    #[inline(always)]
    fn update(c: &AdamaxCoeffs<T>, x: &mut T, g: T, [m, u]: &mut [T; 2]) {
        let g = c.sign * g + c.weight_decay * *x;
        *m = *m + c.one_minus_beta1 * (g - *m);
        *u = (c.beta2 * *u).max(g.abs() + c.eps);
        *x = *x - c.step_size * *m / *u;
    }
}

/// Adamax: `Adamax::<f32>::new(AdamaxConfig::default())`.
pub type Adamax<T> = Elementwise<T, AdamaxRule, 2>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optimizer;
    use crate::param::Param;

    #[test]
    fn steps_are_bounded_by_the_bias_corrected_lr() -> Result<(), OptimError> {
        // |m| ≤ (1 − β₁ᵗ) max|g| and u ≥ max|g| decayed, so |Δx| ≤ α/(1 − β₁ᵗ)·(1 − β₁ᵗ) = α
        // while the gradient is constant.
        let mut p = vec![Param::<f64>::vector("x", vec![0.0, 0.0])];
        let mut opt = Adamax::new(AdamaxConfig {
            lr: 0.1,
            eps: 0.0,
            ..Default::default()
        })?;
        for _ in 0..5 {
            let before = p[0].data.clone();
            p[0].grad = vec![3.0, -1e-3];
            opt.step(&mut p)?;
            for (a, b) in p[0].data.iter().zip(&before) {
                assert!((a - b).abs() <= 0.1 * (1.0 + 1e-12), "{a} {b}");
            }
        }
        assert!(p[0].data[0] < 0.0 && p[0].data[1] > 0.0);
        Ok(())
    }
}
