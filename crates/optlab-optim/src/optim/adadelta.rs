//! Adadelta (PyTorch `torch.optim.Adadelta`).
//!
//! Per coordinate j (g_j negated first if `maximize`):
//!
//! ```text
//! g_j ← g_j + λ x_j                                   (weight_decay λ, L2 form)
//! v_j ← ρ v_j + (1 − ρ) g_j²
//! Δ_j = √(u_j + ε) / √(v_j + ε) · g_j
//! u_j ← ρ u_j + (1 − ρ) Δ_j²
//! x_j ← x_j − α Δ_j
//! ```
//!
//! Paper: Zeiler, "ADADELTA: An Adaptive Learning Rate Method" (arXiv:1212.5701, 2012), Algorithm
//! 1, with PyTorch's extra learning rate α scaling Δ. ε sits *inside* both square roots, as in
//! the paper and PyTorch (it is what lets the first steps move at all, since u starts at 0).
//! PyTorch's names and defaults: `lr = 1.0`, `rho = 0.9`, `eps = 1e-6`, `weight_decay = 0`,
//! `maximize = false`; the state keys are `square_avg` (v) and `acc_delta` (u).

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule};
use crate::error::{OptimError, check};
use crate::scalar::Scalar;

/// Adadelta hyperparameters, PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdadeltaConfig {
    /// Learning rate α ≥ 0 scaling the step Δ (default 1.0).
    pub lr: f64,
    /// Decay ρ ∈ [0, 1] of both running averages (default 0.9).
    pub rho: f64,
    /// ε ≥ 0 inside both square roots (default 1e-6).
    pub eps: f64,
    /// L2 penalty λ ≥ 0 added to the gradient (default 0).
    pub weight_decay: f64,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for AdadeltaConfig {
    fn default() -> Self {
        AdadeltaConfig {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl Config for AdadeltaConfig {
    const NAME: &'static str = "Adadelta";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        check::unit_interval(Self::NAME, "rho", self.rho)?;
        check::non_negative(Self::NAME, "eps", self.eps)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)
    }
}

/// The Adadelta rule (state: `square_avg`, `acc_delta`).
pub struct AdadeltaRule;

/// Per-step scalars of [`AdadeltaRule`].
#[derive(Clone, Copy, Debug)]
pub struct AdadeltaCoeffs<T> {
    sign: T,
    weight_decay: T,
    lr: T,
    rho: T,
    one_minus_rho: T,
    eps: T,
}

impl<T: Scalar> Rule<T, 2> for AdadeltaRule {
    type Config = AdadeltaConfig;
    type Coeffs = AdadeltaCoeffs<T>;
    const STATE: [&'static str; 2] = ["square_avg", "acc_delta"];

    fn coeffs(c: &AdadeltaConfig, lr: f64, _t: u64) -> AdadeltaCoeffs<T> {
        AdadeltaCoeffs {
            sign: if c.maximize { -T::one() } else { T::one() },
            weight_decay: T::of(c.weight_decay),
            lr: T::of(lr),
            rho: T::of(c.rho),
            one_minus_rho: T::of(1.0 - c.rho),
            eps: T::of(c.eps),
        }
    }

    #[inline(always)]
    fn update(c: &AdadeltaCoeffs<T>, x: &mut T, g: T, [v, u]: &mut [T; 2]) {
        let g = c.sign * g + c.weight_decay * *x;
        *v = c.rho * *v + c.one_minus_rho * g * g;
        let delta = (*u + c.eps).sqrt() / (*v + c.eps).sqrt() * g;
        *u = c.rho * *u + c.one_minus_rho * delta * delta;
        *x = *x - c.lr * delta;
    }
}

/// Adadelta: `Adadelta::<f32>::new(AdadeltaConfig::default())`.
pub type Adadelta<T> = Elementwise<T, AdadeltaRule, 2>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optimizer;
    use crate::param::Param;

    #[test]
    fn first_step_is_sqrt_eps_over_rms_of_gradient() -> Result<(), OptimError> {
        let mut p = vec![Param::<f64>::vector("x", vec![0.0])];
        p[0].grad = vec![1.0];
        let mut opt = Adadelta::new(AdadeltaConfig {
            rho: 0.5,
            eps: 0.25,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        // v = 0.5, Δ = √0.25 / √0.75 · 1.
        assert_eq!(p[0].data[0], -(0.25f64.sqrt() / 0.75f64.sqrt()));
        let u = &opt.state().params[0].buffers[1];
        assert_eq!(u.name, "acc_delta");
        assert!((u.data[0] - 0.5 / 3.0).abs() < 1e-15, "{}", u.data[0]);
        Ok(())
    }
}
