//! Adagrad (PyTorch `torch.optim.Adagrad`).
//!
//! Per coordinate j at step t (g_j negated first if `maximize`):
//!
//! ```text
//! g_j ← g_j + λ x_j                                  (weight_decay λ, L2 form)
//! α_t = α / (1 + (t − 1) η)                          (lr_decay η)
//! s_j ← s_j + g_j²                                   (s_j starts at initial_accumulator_value)
//! x_j ← x_j − α_t g_j / (√(s_j + ε_root) + ε)
//! ```
//!
//! Paper: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
//! Optimization" (JMLR 2011). PyTorch's defaults: `lr = 1e-2`, `lr_decay = 0`,
//! `weight_decay = 0`, `initial_accumulator_value = 0`, `eps = 1e-10`, `maximize = false`.
//!
//! **Where ε goes.** PyTorch adds `eps` *outside* the square root (`√s + ε`); the lecture writes
//! Adagrad with ε *inside* (`g/√(s + ε)`). Both are exact special cases here: `eps` is added
//! outside, `eps_root` (an optlab field, named as in optax) inside. The defaults (`eps = 1e-10`,
//! `eps_root = 0`) are PyTorch's form; the lecture's form is `eps = 0, eps_root = ε`.

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule};
use crate::error::{OptimError, check};
use crate::scalar::Scalar;

/// Adagrad hyperparameters, PyTorch's names and defaults (plus `eps_root`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdagradConfig {
    /// Learning rate α ≥ 0 (default 1e-2).
    pub lr: f64,
    /// Decay η ≥ 0 of the learning rate: α_t = α / (1 + (t − 1) η) (default 0).
    pub lr_decay: f64,
    /// L2 penalty λ ≥ 0 added to the gradient (default 0).
    pub weight_decay: f64,
    /// Initial value ≥ 0 of the accumulator `sum` (default 0).
    pub initial_accumulator_value: f64,
    /// ε ≥ 0 added outside the square root, PyTorch's form (default 1e-10).
    pub eps: f64,
    /// ε_root ≥ 0 added inside the square root, the lecture's form (default 0; not in PyTorch).
    pub eps_root: f64,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            eps_root: 0.0,
            maximize: false,
        }
    }
}

impl Config for AdagradConfig {
    const NAME: &'static str = "Adagrad";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        check::non_negative(Self::NAME, "lr_decay", self.lr_decay)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        check::non_negative(
            Self::NAME,
            "initial_accumulator_value",
            self.initial_accumulator_value,
        )?;
        check::non_negative(Self::NAME, "eps", self.eps)?;
        check::non_negative(Self::NAME, "eps_root", self.eps_root)
    }
}

/// The Adagrad rule (one state value: PyTorch's `sum`).
pub struct AdagradRule;

/// Per-step scalars of [`AdagradRule`].
#[derive(Clone, Copy, Debug)]
pub struct AdagradCoeffs<T> {
    sign: T,
    weight_decay: T,
    /// α_t = α / (1 + (t − 1) η).
    lr: T,
    eps: T,
    eps_root: T,
}

impl<T: Scalar> Rule<T, 1> for AdagradRule {
    type Config = AdagradConfig;
    type Coeffs = AdagradCoeffs<T>;
    const STATE: [&'static str; 1] = ["sum"];

    fn init(c: &AdagradConfig) -> [T; 1] {
        [T::of(c.initial_accumulator_value)]
    }

    fn coeffs(c: &AdagradConfig, lr: f64, t: u64) -> AdagradCoeffs<T> {
        AdagradCoeffs {
            sign: if c.maximize { -T::one() } else { T::one() },
            weight_decay: T::of(c.weight_decay),
            lr: T::of(lr / (1.0 + (t - 1) as f64 * c.lr_decay)),
            eps: T::of(c.eps),
            eps_root: T::of(c.eps_root),
        }
    }

    #[inline(always)]
    fn update(c: &AdagradCoeffs<T>, x: &mut T, g: T, [s]: &mut [T; 1]) {
        let g = c.sign * g + c.weight_decay * *x;
        *s = *s + g * g;
        let denom = (*s + c.eps_root).sqrt() + c.eps;
        *x = *x - c.lr * g / denom;
    }
}

/// Adagrad: `Adagrad::<f32>::new(AdagradConfig { lr: 0.1, ..Default::default() })`.
pub type Adagrad<T> = Elementwise<T, AdagradRule, 1>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optimizer;
    use crate::param::Param;

    #[test]
    fn first_step_is_lr_times_sign_without_eps() -> Result<(), OptimError> {
        // s = g² after one step from s = 0, so the step is α g/|g|.
        let mut p = vec![Param::<f64>::vector("x", vec![0.0, 0.0])];
        p[0].grad = vec![4.0, -0.25];
        let mut opt = Adagrad::new(AdagradConfig {
            lr: 0.5,
            eps: 0.0,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        assert_eq!(p[0].data, vec![-0.5, 0.5]);
        Ok(())
    }

    #[test]
    fn eps_inside_or_outside_the_root() -> Result<(), OptimError> {
        let g = 0.5f64;
        let step = |eps: f64, eps_root: f64| -> Result<f64, OptimError> {
            let mut p = vec![Param::<f64>::vector("x", vec![0.0])];
            p[0].grad = vec![g];
            let mut opt = Adagrad::new(AdagradConfig {
                lr: 1.0,
                eps,
                eps_root,
                ..Default::default()
            })?;
            opt.step(&mut p)?;
            Ok(-p[0].data[0])
        };
        assert_eq!(step(0.1, 0.0)?, g / (g + 0.1));
        assert_eq!(step(0.0, 0.1)?, g / (g * g + 0.1).sqrt());
        Ok(())
    }

    #[test]
    fn lr_decay_and_initial_accumulator() -> Result<(), OptimError> {
        let mut p = vec![Param::<f64>::vector("x", vec![0.0])];
        let mut opt = Adagrad::new(AdagradConfig {
            lr: 1.0,
            lr_decay: 1.0,
            initial_accumulator_value: 3.0,
            eps: 0.0,
            ..Default::default()
        })?;
        p[0].grad = vec![1.0];
        opt.step(&mut p)?; // α₁ = 1, s = 4
        assert_eq!(p[0].data[0], -0.5);
        opt.step(&mut p)?; // α₂ = 1/2, s = 5
        assert_eq!(p[0].data[0], -0.5 - 0.5 / 5f64.sqrt());
        Ok(())
    }
}
