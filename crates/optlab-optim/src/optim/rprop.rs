//! Resilient backpropagation (PyTorch `torch.optim.Rprop`).
//!
//! Every coordinate has its own step size η_j, adapted from the sign of successive gradients
//! only (the gradient's magnitude is never used). Per coordinate j at step t (g_j negated first
//! if `maximize`), with (η⁻, η⁺) = `etas` and [η_min, η_max] = `step_sizes`:
//!
//! ```text
//! η_j ← α                                    at t = 1 (the lr of the first step)
//! s = g_j · p_j                              (p_j: the previous step's gradient, 0 at t = 1)
//! η_j ← clamp(η_j · (η⁺ if s > 0, η⁻ if s < 0, 1 if s = 0), η_min, η_max)
//! g_j ← 0 if s < 0                           (a sign change: no move now, no sign next time)
//! x_j ← x_j − η_j sign(g_j)
//! p_j ← g_j
//! ```
//!
//! As in PyTorch the learning rate only sets the initial step size: changing it afterwards
//! (a schedule) has no effect, and lr = 0 still moves by η_min once the step sizes are clamped.
//!
//! Paper: Riedmiller & Braun, "A Direct Adaptive Method for Faster Backpropagation Learning: The
//! RPROP Algorithm" (ICNN 1993); PyTorch implements the variant without weight backtracking
//! (Igel & Hüsken's Rprop⁻ with the gradient zeroed after a sign change).

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule};
use super::normalized::sign;
use crate::error::{OptimError, check};
use crate::scalar::Scalar;

/// Rprop hyperparameters, PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpropConfig {
    /// Initial step size α ≥ 0 of every coordinate (default 1e-2).
    pub lr: f64,
    /// (η⁻, η⁺): step-size factors after a sign change and after a repeated sign,
    /// 0 < η⁻ < 1 < η⁺ (default (0.5, 1.2)).
    pub etas: (f64, f64),
    /// (η_min, η_max): bounds of the step sizes, 0 ≤ η_min ≤ η_max, finite (default (1e-6, 50)).
    pub step_sizes: (f64, f64),
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for RpropConfig {
    fn default() -> Self {
        RpropConfig {
            lr: 1e-2,
            etas: (0.5, 1.2),
            step_sizes: (1e-6, 50.0),
            maximize: false,
        }
    }
}

impl Config for RpropConfig {
    const NAME: &'static str = "Rprop";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        let (minus, plus) = self.etas;
        if !(minus > 0.0 && minus < 1.0) {
            return Err(OptimError::invalid(
                Self::NAME,
                "etas[0]",
                minus,
                "in (0, 1)",
            ));
        }
        if !(plus > 1.0 && plus.is_finite()) {
            return Err(OptimError::invalid(
                Self::NAME,
                "etas[1]",
                plus,
                "finite and > 1",
            ));
        }
        let (lo, hi) = self.step_sizes;
        check::non_negative(Self::NAME, "step_sizes[0]", lo)?;
        if !(hi.is_finite() && hi >= lo) {
            return Err(OptimError::invalid(
                Self::NAME,
                "step_sizes[1]",
                hi,
                format!("finite and ≥ step_sizes[0] = {lo}"),
            ));
        }
        Ok(())
    }
}

/// The Rprop rule (state: `prev`, `step_size`).
pub struct RpropRule;

/// Per-step scalars of [`RpropRule`].
#[derive(Clone, Copy, Debug)]
pub struct RpropCoeffs<T> {
    sign: T,
    eta_minus: T,
    eta_plus: T,
    min: T,
    max: T,
    /// Step 1: the step sizes start at `lr`.
    first: bool,
    lr: T,
}

impl<T: Scalar> Rule<T, 2> for RpropRule {
    type Config = RpropConfig;
    type Coeffs = RpropCoeffs<T>;
    const STATE: [&'static str; 2] = ["prev", "step_size"];

    fn coeffs(c: &RpropConfig, lr: f64, t: u64) -> RpropCoeffs<T> {
        RpropCoeffs {
            sign: if c.maximize { -T::one() } else { T::one() },
            eta_minus: T::of(c.etas.0),
            eta_plus: T::of(c.etas.1),
            min: T::of(c.step_sizes.0),
            max: T::of(c.step_sizes.1),
            first: t == 1,
            lr: T::of(lr),
        }
    }

    #[inline(always)]
    fn update(c: &RpropCoeffs<T>, x: &mut T, g: T, [prev, step]: &mut [T; 2]) {
        let g = c.sign * g;
        if c.first {
            *step = c.lr;
        }
        let s = g * *prev;
        let factor = if s > T::zero() {
            c.eta_plus
        } else if s < T::zero() {
            c.eta_minus
        } else if s == T::zero() {
            T::one()
        } else {
            s // NaN, as PyTorch leaves it
        };
        // clamp that lets NaN through, as `torch.clamp`
        let eta = *step * factor;
        *step = if eta < c.min {
            c.min
        } else if eta > c.max {
            c.max
        } else {
            eta
        };
        let g = if s < T::zero() { T::zero() } else { g };
        *x = *x - sign(g) * *step;
        *prev = g;
    }
}

/// Rprop: `Rprop::<f64>::new(RpropConfig::default())`.
pub type Rprop<T> = Elementwise<T, RpropRule, 2>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optimizer;
    use crate::param::Param;

    #[test]
    fn step_sizes_grow_on_repeated_signs_and_shrink_on_changes() -> Result<(), OptimError> {
        let mut opt = Rprop::new(RpropConfig {
            lr: 0.1,
            ..Default::default()
        })?;
        let mut p = vec![Param::<f64>::vector("x", vec![0.0, 0.0])];
        let mut moves = Vec::new();
        for g in [[1.0, 1.0], [1.0, -1.0], [1.0, -1.0], [1.0, 1.0]] {
            let before = p[0].data.clone();
            p[0].grad = g.to_vec();
            opt.step(&mut p)?;
            moves.push([p[0].data[0] - before[0], p[0].data[1] - before[1]]);
        }
        let close = |a: f64, b: f64| (a - b).abs() < 1e-15;
        // x₀: −0.1, −0.12, −0.144, −0.1728; x₁: −0.1, then a sign change (η = 0.05, no move),
        // then −(−0.05) = +0.05 (prev was zeroed), then a change again: no move.
        let want = [[-0.1, -0.1], [-0.12, 0.0], [-0.144, 0.05], [-0.1728, 0.0]];
        for (m, w) in moves.iter().zip(want) {
            assert!(close(m[0], w[0]) && close(m[1], w[1]), "{moves:?}");
        }
        Ok(())
    }

    #[test]
    fn etas_and_step_sizes_are_checked() {
        for (etas, sizes, field) in [
            ((1.0, 1.2), (1e-6, 50.0), "etas[0]"),
            ((0.5, 1.0), (1e-6, 50.0), "etas[1]"),
            ((0.5, 1.2), (-1.0, 50.0), "step_sizes[0]"),
            ((0.5, 1.2), (1.0, 0.5), "step_sizes[1]"),
        ] {
            let e = Rprop::<f64>::new(RpropConfig {
                etas,
                step_sizes: sizes,
                ..Default::default()
            })
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(e.contains(&format!("`{field}`")), "{e}");
        }
    }
}
