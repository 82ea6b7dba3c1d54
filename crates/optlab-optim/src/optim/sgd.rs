//! Stochastic gradient descent with heavy-ball or Nesterov momentum (PyTorch `torch.optim.SGD`).
//!
//! Per coordinate j, at step t with gradient g_j (negated first if `maximize`):
//!
//! ```text
//! g_j ← g_j + λ x_j                                  (weight_decay λ, L2 form)
//! b_j ← g_j                      if t = 1            (momentum μ > 0)
//! b_j ← μ b_j + (1 − τ) g_j      otherwise           (dampening τ)
//! d_j ← g_j + μ b_j  if nesterov,  b_j  if μ > 0,  g_j  otherwise
//! x_j ← x_j − α d_j
//! ```
//!
//! Papers: Robbins & Monro, "A Stochastic Approximation Method" (1951); Polyak, "Some methods of
//! speeding up the convergence of iteration methods" (1964, heavy ball); Nesterov (1983) in the
//! form of Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum in
//! deep learning" (ICML 2013), which is what PyTorch implements.

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule};
use crate::error::{OptimError, check};
use crate::scalar::Scalar;

/// SGD hyperparameters, PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate α ≥ 0 (default 1e-3).
    pub lr: f64,
    /// Momentum μ ∈ [0, 1] (default 0: plain SGD).
    pub momentum: f64,
    /// Dampening τ ∈ [0, 1] of the gradient in the momentum buffer (default 0).
    pub dampening: f64,
    /// L2 penalty λ ≥ 0 added to the gradient (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (needs μ > 0 and τ = 0; default false).
    pub nesterov: bool,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl Config for SgdConfig {
    const NAME: &'static str = "SGD";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        check::unit_interval(Self::NAME, "momentum", self.momentum)?;
        check::unit_interval(Self::NAME, "dampening", self.dampening)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        if self.nesterov && self.momentum <= 0.0 {
            return Err(OptimError::invalid(
                Self::NAME,
                "momentum",
                self.momentum,
                "> 0 when nesterov = true",
            ));
        }
        if self.nesterov && self.dampening != 0.0 {
            return Err(OptimError::invalid(
                Self::NAME,
                "dampening",
                self.dampening,
                "0 when nesterov = true",
            ));
        }
        Ok(())
    }
}

/// The SGD rule (one state value: PyTorch's `momentum_buffer`).
pub struct SgdRule;

/// Per-step scalars of [`SgdRule`].
#[derive(Clone, Copy, Debug)]
pub struct SgdCoeffs<T> {
    lr: T,
    weight_decay: T,
    sign: T,
    use_momentum: bool,
    nesterov: bool,
    /// Weight of the old buffer: μ, or 0 at the first step (buffer := gradient).
    keep: T,
    /// Weight of the gradient in the buffer: 1 − τ, or 1 at the first step.
    take: T,
    momentum: T,
}

impl<T: Scalar> Rule<T, 1> for SgdRule {
    type Config = SgdConfig;
    type Coeffs = SgdCoeffs<T>;
    const STATE: [&'static str; 1] = ["momentum_buffer"];

    fn coeffs(c: &SgdConfig, lr: f64, t: u64) -> SgdCoeffs<T> {
        let first = t == 1;
        SgdCoeffs {
            lr: T::of(lr),
            weight_decay: T::of(c.weight_decay),
            sign: if c.maximize { -T::one() } else { T::one() },
            use_momentum: c.momentum != 0.0,
            nesterov: c.nesterov,
            keep: if first { T::zero() } else { T::of(c.momentum) },
            take: if first {
                T::one()
            } else {
                T::of(1.0 - c.dampening)
            },
            momentum: T::of(c.momentum),
        }
    }

    #[inline(always)]
    fn update(c: &SgdCoeffs<T>, x: &mut T, g: T, [b]: &mut [T; 1]) {
        let g = c.sign * g + c.weight_decay * *x;
        let d = if c.use_momentum {
            *b = c.keep * *b + c.take * g;
            if c.nesterov { g + c.momentum * *b } else { *b }
        } else {
            g
        };
        *x = *x - c.lr * d;
    }
}

/// SGD: `Sgd::<f32>::new(SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() })`.
pub type Sgd<T> = Elementwise<T, SgdRule, 1>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optimizer;
    use crate::param::Param;

    #[test]
    fn nesterov_requires_momentum_without_dampening() {
        let e = Sgd::<f64>::new(SgdConfig {
            nesterov: true,
            ..Default::default()
        });
        assert!(e.is_err());
        let e = Sgd::<f64>::new(SgdConfig {
            nesterov: true,
            momentum: 0.9,
            dampening: 0.1,
            ..Default::default()
        });
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("dampening"), "{msg}");
        assert!(
            Sgd::<f64>::new(SgdConfig {
                lr: -1.0,
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn plain_step_is_x_minus_lr_g() -> Result<(), OptimError> {
        let mut p = vec![Param::<f64>::vector("x", vec![1.0, 2.0])];
        p[0].grad = vec![0.5, -1.0];
        let mut opt = Sgd::new(SgdConfig {
            lr: 0.1,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        assert_eq!(p[0].data, vec![1.0 - 0.1 * 0.5, 2.0 + 0.1]);
        Ok(())
    }
}
