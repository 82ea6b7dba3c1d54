//! The lecture's step-size rules for SGD.
//!
//! | rule | α_k (k = 0, 1, 2, …) | uses base lr α₀ |
//! |---|---|---|
//! | [`Constant`] | α₀ | yes |
//! | [`InvSqrt`] | α₀ / √(k+1) | yes |
//! | [`StronglyConvex`] | (2k+1) / (2μ(k+1)²) | no (absolute) |
//! | [`Exponential`] | α₀ γᵏ | yes |
//!
//! All are closed forms in `k` (no state), defined for every `k: u64` without overflow.

use serde::{Deserialize, Serialize};

use super::{Schedule, check};
use crate::error::OptimError;

/// Constant step size: **α_k = α₀** (the optimizer's configured lr).
///
/// SGD with a constant step converges linearly to a neighbourhood of the minimizer whose size is
/// proportional to α₀ (the lecture's "constant step, noise floor" regime).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Constant;

impl Schedule for Constant {
    fn lr(&self, base_lr: f64, _k: u64) -> f64 {
        base_lr
    }
}

/// Inverse square root decay: **α_k = α₀ / √(k+1)**.
///
/// The classical step size of the convex (not strongly convex) SGD analysis: with it the averaged
/// iterate reaches f(x̄_K) − f* = O(log K / √K). No arguments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InvSqrt;

impl Schedule for InvSqrt {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        base_lr / (k as f64 + 1.0).sqrt()
    }
}

/// Decreasing step size for μ-strongly convex problems:
/// **α_k = (2k+1) / (2μ(k+1)²)** — absolute: it ignores the base lr.
///
/// From the lecture's theorem on SGD for μ-strongly convex, L-smooth finite sums (the decreasing
/// regime of the switching step size of Gower et al., "SGD: General Analysis and Improved Rates",
/// ICML 2019, Thm. 3.2, in the lecture's normalisation): with it E‖x_k − x*‖² = O(1/k). In
/// practice it is preceded by a constant phase (use [`Sequential`](super::Sequential) with a
/// `Constant` first), since α₀ = 1/(2μ) is usually far above 1/L.
///
/// Argument: `mu` (μ, required), finite and ≥ `f64::MIN_POSITIVE` (so that α₀ = 1/(2μ) is finite).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StronglyConvex {
    /// Strong convexity constant μ.
    pub mu: f64,
}

impl StronglyConvex {
    pub(crate) const KIND: &'static str = "StronglyConvex";

    /// Checks `mu`.
    pub fn validate(&self) -> Result<(), OptimError> {
        // 1/(2μ) must be finite: μ ≥ MIN_POSITIVE (the smallest normal f64) guarantees it.
        if self.mu.is_finite() && self.mu >= f64::MIN_POSITIVE {
            Ok(())
        } else {
            Err(OptimError::invalid(
                Self::KIND,
                "mu",
                self.mu,
                "finite and ≥ 2.2250738585072014e-308 (f64::MIN_POSITIVE), so that 1/(2μ) is finite",
            ))
        }
    }
}

impl Schedule for StronglyConvex {
    fn lr(&self, _base_lr: f64, k: u64) -> f64 {
        let k = k as f64;
        // (2k+1)/(2μ(k+1)²) written as ((2k+1)/(k+1)) / (k+1) / (2μ): no intermediate overflows
        // even for k near u64::MAX, and the first factor stays in [1, 2).
        (2.0 * k + 1.0) / (k + 1.0) / (k + 1.0) / (2.0 * self.mu)
    }
}

/// Exponential decay: **α_k = α₀ γᵏ**.
///
/// The same function as PyTorch's [`ExponentialLR`](super::ExponentialLR) (closed form).
///
/// Argument: `gamma` (γ, required) in (0, 1] (γ > 1 would overflow to ∞ for large k).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exponential {
    /// Decay factor per step γ.
    pub gamma: f64,
}

impl Exponential {
    pub(crate) const KIND: &'static str = "Exponential";

    /// Checks `gamma`.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::decay(Self::KIND, "gamma", self.gamma)
    }
}

impl Schedule for Exponential {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        base_lr * self.gamma.powf(k as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_ignores_k() {
        assert_eq!(Constant.lr(0.3, 0), 0.3);
        assert_eq!(Constant.lr(0.3, u64::MAX), 0.3);
    }

    #[test]
    fn inv_sqrt_exact_values() {
        assert_eq!(InvSqrt.lr(2.0, 0), 2.0);
        assert_eq!(InvSqrt.lr(2.0, 3), 1.0); // 2/√4
        assert_eq!(InvSqrt.lr(1.0, 99), 0.1); // 1/√100
        assert_eq!(InvSqrt.lr(1.0, 999_999), 1e-3);
    }

    #[test]
    fn strongly_convex_exact_values() {
        let s = StronglyConvex { mu: 0.5 };
        // k = 0: 1/(2μ) = 1; k = 1: 3/(2·0.5·4) = 0.75; k = 3: 7/(1·16) = 0.4375.
        assert_eq!(s.lr(123.0, 0), 1.0);
        assert_eq!(s.lr(123.0, 1), 0.75);
        assert_eq!(s.lr(123.0, 3), 0.4375);
        let s = StronglyConvex { mu: 2.0 };
        // k = 9: 19/(4·100) = 0.0475
        assert!((s.lr(1.0, 9) - 0.0475).abs() <= 1e-17);
        // asymptotically 1/(μ k)
        let k = 1_000_000_000u64;
        assert!((s.lr(1.0, k) * 2.0 * k as f64 - 1.0).abs() < 1e-8);
    }

    #[test]
    fn strongly_convex_is_finite_at_the_extremes() {
        let s = StronglyConvex {
            mu: f64::MIN_POSITIVE,
        };
        assert!(s.validate().is_ok());
        assert!(s.lr(1.0, 0).is_finite());
        let s = StronglyConvex { mu: 1e-3 };
        let lr = s.lr(1.0, u64::MAX);
        assert!(lr.is_finite() && lr > 0.0, "{lr}");
        assert!(StronglyConvex { mu: 1e-310 }.validate().is_err());
        assert!(StronglyConvex { mu: 0.0 }.validate().is_err());
        assert!(StronglyConvex { mu: f64::NAN }.validate().is_err());
    }

    #[test]
    fn exponential_exact_values() {
        let e = Exponential { gamma: 0.5 };
        assert_eq!(e.lr(3.0, 0), 3.0);
        assert_eq!(e.lr(3.0, 1), 1.5);
        assert_eq!(e.lr(3.0, 4), 0.1875);
        assert_eq!(e.lr(3.0, u64::MAX), 0.0);
        assert_eq!(Exponential { gamma: 1.0 }.lr(3.0, u64::MAX), 3.0);
        assert!(Exponential { gamma: 1.5 }.validate().is_err());
        assert!(Exponential { gamma: 0.0 }.validate().is_err());
    }
}
