//! RAdam, rectified Adam (PyTorch `torch.optim.RAdam`).
//!
//! Per coordinate j at step t (g_j negated first if `maximize`), with ρ_∞ = 2/(1 − β₂) − 1 and
//! ρ_t = ρ_∞ − 2 t β₂ᵗ / (1 − β₂ᵗ) (the length of the approximated simple moving average):
//!
//! ```text
//! g_j ← g_j + λ x_j                  (weight_decay λ, L2 form), or
//! x_j ← (1 − α λ) x_j                (decoupled_weight_decay = true, AdamW-style)
//! m_j ← m_j + (1 − β₁)(g_j − m_j)
//! v_j ← β₂ v_j + (1 − β₂) g_j²
//! m̂_j = m_j / (1 − β₁ᵗ)
//! x_j ← x_j − α m̂_j · r_t √(1 − β₂ᵗ) / (√v_j + ε)      if ρ_t > 5
//! x_j ← x_j − α m̂_j                                     otherwise (SGD with momentum)
//! r_t = √( (ρ_t − 4)(ρ_t − 2) ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2) ρ_t) )
//! ```
//!
//! Paper: Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate
//! and Beyond" (ICLR 2020), Algorithm 2, with PyTorch's threshold ρ_t > 5. PyTorch's names and
//! defaults: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8` (outside the square root),
//! `weight_decay = 0`, `decoupled_weight_decay = false`, `maximize = false`; state keys
//! `exp_avg`, `exp_avg_sq`.

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule};
use crate::error::{OptimError, check};
use crate::scalar::Scalar;

/// RAdam hyperparameters, PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RadamConfig {
    /// Learning rate α ≥ 0 (default 1e-3).
    pub lr: f64,
    /// (β₁, β₂), each in [0, 1) (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε ≥ 0 added to the denominator (default 1e-8).
    pub eps: f64,
    /// Weight decay λ ≥ 0: an L2 term, or decoupled (default 0).
    pub weight_decay: f64,
    /// Decay the weights directly, x ← (1 − αλ) x, instead of adding λx to the gradient
    /// (default false).
    pub decoupled_weight_decay: bool,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for RadamConfig {
    fn default() -> Self {
        RadamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl Config for RadamConfig {
    const NAME: &'static str = "RAdam";

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

impl RadamConfig {
    /// `(ρ_t, r_t)`: the SMA length at step `t` and the rectification term (`None` when
    /// ρ_t ≤ 5, where RAdam takes an un-normalized momentum step).
    pub fn rectification(&self, t: u64) -> (f64, Option<f64>) {
        let b2 = self.betas.1;
        let t = t as f64;
        let bias_correction2 = 1.0 - b2.powf(t);
        let rho_inf = 2.0 / (1.0 - b2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * b2.powf(t) / bias_correction2;
        let rect = (rho_t > 5.0).then(|| {
            ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                .sqrt()
        });
        (rho_t, rect)
    }
}

/// The RAdam rule (state: `exp_avg`, `exp_avg_sq`).
pub struct RadamRule;

/// Per-step scalars of [`RadamRule`].
#[derive(Clone, Copy, Debug)]
pub struct RadamCoeffs<T> {
    sign: T,
    /// λ for the L2 term (0 when decoupled).
    l2: T,
    /// 1 − αλ when decoupled (1 otherwise).
    decay: T,
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
    /// 1 − β₁ᵗ.
    bias_correction1: T,
    lr: T,
    /// Whether ρ_t > 5 (the adaptive, rectified step).
    rectified: bool,
    /// √(1 − β₂ᵗ).
    bias_correction2_sqrt: T,
    /// r_t.
    rect: T,
    eps: T,
}

impl<T: Scalar> Rule<T, 2> for RadamRule {
    type Config = RadamConfig;
    type Coeffs = RadamCoeffs<T>;
    const STATE: [&'static str; 2] = ["exp_avg", "exp_avg_sq"];

    fn coeffs(c: &RadamConfig, lr: f64, t: u64) -> RadamCoeffs<T> {
        let (b1, b2) = c.betas;
        let (l2, decay) = if c.decoupled_weight_decay {
            (0.0, 1.0 - lr * c.weight_decay)
        } else {
            (c.weight_decay, 1.0)
        };
        let (_, rect) = c.rectification(t);
        RadamCoeffs {
            sign: if c.maximize { -T::one() } else { T::one() },
            l2: T::of(l2),
            decay: T::of(decay),
            one_minus_beta1: T::of(1.0 - b1),
            beta2: T::of(b2),
            one_minus_beta2: T::of(1.0 - b2),
            bias_correction1: T::of(1.0 - b1.powf(t as f64)),
            lr: T::of(lr),
            rectified: rect.is_some(),
            bias_correction2_sqrt: T::of((1.0 - b2.powf(t as f64)).sqrt()),
            rect: T::of(rect.unwrap_or(1.0)),
            eps: T::of(c.eps),
        }
    }

    #[inline(always)]
    fn update(c: &RadamCoeffs<T>, x: &mut T, g: T, [m, v]: &mut [T; 2]) {
        let g = c.sign * g + c.l2 * *x;
        *x = *x * c.decay;
        *m = *m + c.one_minus_beta1 * (g - *m);
        *v = c.beta2 * *v + c.one_minus_beta2 * g * g;
        let m_hat = *m / c.bias_correction1;
        let step = if c.rectified {
            m_hat * c.lr * (c.bias_correction2_sqrt / (v.sqrt() + c.eps)) * c.rect
        } else {
            m_hat * c.lr
        };
        *x = *x - step;
    }
}

/// RAdam: `Radam::<f32>::new(RadamConfig::default())`.
pub type Radam<T> = Elementwise<T, RadamRule, 2>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectification_starts_after_the_sma_exceeds_five() {
        let c = RadamConfig::default();
        // β₂ = 0.999: ρ_t ≈ t for small t, so the first five steps are momentum steps.
        assert!((1..=5).all(|t| c.rectification(t).1.is_none()));
        let (rho6, r6) = c.rectification(6);
        assert!(rho6 > 5.0);
        assert!(r6.is_some_and(|r| r > 0.0 && r < 1.0));
        // r_t → 1 as t → ∞.
        assert!(
            c.rectification(1_000_000)
                .1
                .is_some_and(|r| (r - 1.0).abs() < 1e-3)
        );
    }
}
