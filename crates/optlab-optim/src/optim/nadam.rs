//! NAdam, Adam with Nesterov momentum (PyTorch `torch.optim.NAdam`).
//!
//! Per coordinate j at step t (g_j negated first if `maximize`), with the momentum schedule
//! μ_t = β₁ (1 − ½ · 0.96^(t ψ)) (momentum_decay ψ) and its running product π_t = μ₁ ⋯ μ_t:
//!
//! ```text
//! g_j ← g_j + λ x_j                  (weight_decay λ, L2 form), or
//! x_j ← (1 − α λ) x_j                (decoupled_weight_decay = true, AdamW-style)
//! m_j ← m_j + (1 − β₁)(g_j − m_j)
//! v_j ← β₂ v_j + (1 − β₂) g_j²
//! d_j = √(v_j / (1 − β₂ᵗ)) + ε
//! x_j ← x_j − α (1 − μ_t)/(1 − π_t) · g_j / d_j − α μ_{t+1}/(1 − π_t μ_{t+1}) · m_j / d_j
//! ```
//!
//! Paper: Dozat, "Incorporating Nesterov Momentum into Adam" (ICLR 2016 workshop); the
//! decoupled decay is Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019).
//! PyTorch's names and defaults: `lr = 2e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8` (outside the
//! square root), `weight_decay = 0`, `momentum_decay = 4e-3`, `decoupled_weight_decay = false`,
//! `maximize = false`; state keys `exp_avg`, `exp_avg_sq` and the scalar `mu_product` (π_t).
//!
//! π_t is kept as per-parameter scalar state ([`Rule::SCALARS`]) and advanced once per step
//! (O(1) per step), in the parameters' precision as PyTorch keeps it (its scalar dtype follows the
//! default dtype: float64 for the float64 reference traces).

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule};
use crate::error::{OptimError, check};
use crate::scalar::Scalar;

/// NAdam hyperparameters, PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NadamConfig {
    /// Learning rate α ≥ 0 (default 2e-3).
    pub lr: f64,
    /// (β₁, β₂), each in [0, 1) (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε ≥ 0 added to the denominator (default 1e-8).
    pub eps: f64,
    /// Weight decay λ ≥ 0: an L2 term, or decoupled (default 0).
    pub weight_decay: f64,
    /// ψ ≥ 0 in the momentum schedule μ_t = β₁ (1 − ½ · 0.96^(t ψ)) (default 4e-3).
    pub momentum_decay: f64,
    /// Decay the weights directly, x ← (1 − αλ) x, instead of adding λx to the gradient
    /// (default false).
    pub decoupled_weight_decay: bool,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for NadamConfig {
    fn default() -> Self {
        NadamConfig {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl Config for NadamConfig {
    const NAME: &'static str = "NAdam";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        check::unit_interval_open(Self::NAME, "betas[0]", self.betas.0)?;
        check::unit_interval_open(Self::NAME, "betas[1]", self.betas.1)?;
        check::non_negative(Self::NAME, "eps", self.eps)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        check::non_negative(Self::NAME, "momentum_decay", self.momentum_decay)
    }
}

impl NadamConfig {
    /// μ_t = β₁ (1 − ½ · 0.96^(t ψ)).
    pub fn mu(&self, t: u64) -> f64 {
        self.betas.0 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * self.momentum_decay))
    }
}

/// The NAdam rule (state: `exp_avg`, `exp_avg_sq`; scalar state `mu_product`).
pub struct NadamRule;

/// Per-step scalars of [`NadamRule`].
#[derive(Clone, Copy, Debug)]
pub struct NadamCoeffs<T> {
    sign: T,
    /// λ for the L2 term (0 when decoupled).
    l2: T,
    /// 1 − αλ when decoupled (1 otherwise).
    decay: T,
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
    /// 1 − β₂ᵗ.
    bias_correction2: T,
    eps: T,
    /// α (1 − μ_t) / (1 − π_t).
    grad_step: T,
    /// α μ_{t+1} / (1 − π_t μ_{t+1}).
    momentum_step: T,
}

/// Coefficients of step `t` given π_t = μ₁ ⋯ μ_t.
fn nadam_coeffs<T: Scalar>(c: &NadamConfig, lr: f64, t: u64, mu_product: T) -> NadamCoeffs<T> {
    let (b1, b2) = c.betas;
    let (mu, mu_next) = (c.mu(t), c.mu(t + 1));
    let mu_product = mu_product.as_f64();
    let (l2, decay) = if c.decoupled_weight_decay {
        (0.0, 1.0 - lr * c.weight_decay)
    } else {
        (c.weight_decay, 1.0)
    };
    NadamCoeffs {
        sign: if c.maximize { -T::one() } else { T::one() },
        l2: T::of(l2),
        decay: T::of(decay),
        one_minus_beta1: T::of(1.0 - b1),
        beta2: T::of(b2),
        one_minus_beta2: T::of(1.0 - b2),
        bias_correction2: T::of(1.0 - b2.powf(t as f64)),
        eps: T::of(c.eps),
        grad_step: T::of(lr * (1.0 - mu) / (1.0 - mu_product)),
        momentum_step: T::of(lr * mu_next / (1.0 - mu_product * mu_next)),
    }
}

impl<T: Scalar> Rule<T, 2> for NadamRule {
    type Config = NadamConfig;
    type Coeffs = NadamCoeffs<T>;
    const STATE: [&'static str; 2] = ["exp_avg", "exp_avg_sq"];
    const SCALARS: &'static [&'static str] = &["mu_product"];

    fn init_scalars(_c: &NadamConfig) -> Vec<T> {
        vec![T::one()]
    }

    /// Coefficients of step `t` with π_t recomputed from scratch (O(t)); the driver uses
    /// [`advance`](Rule::advance) with the running product instead, which gives the same value.
    fn coeffs(c: &NadamConfig, lr: f64, t: u64) -> NadamCoeffs<T> {
        let mu_product = (1..=t).fold(T::one(), |p, i| p * T::of(c.mu(i)));
        nadam_coeffs(c, lr, t, mu_product)
    }

    /// π_t ← π_{t−1} μ_t, then the coefficients of step `t`.
    fn advance(c: &NadamConfig, lr: f64, t: u64, scalars: &mut [T]) -> NadamCoeffs<T> {
        let mut mu_product = T::one();
        if let Some(p) = scalars.first_mut() {
            *p = *p * T::of(c.mu(t));
            mu_product = *p;
        }
        nadam_coeffs(c, lr, t, mu_product)
    }

    #[inline(always)]
    fn update(c: &NadamCoeffs<T>, x: &mut T, g: T, [m, v]: &mut [T; 2]) {
        let g = c.sign * g + c.l2 * *x;
        *x = *x * c.decay;
        *m = *m + c.one_minus_beta1 * (g - *m);
        *v = c.beta2 * *v + c.one_minus_beta2 * g * g;
        let d = (*v / c.bias_correction2).sqrt() + c.eps;
        *x = *x - c.grad_step * g / d;
        *x = *x - c.momentum_step * *m / d;
    }
}

/// NAdam: `Nadam::<f32>::new(NadamConfig::default())`.
pub type Nadam<T> = Elementwise<T, NadamRule, 2>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optimizer;
    use crate::param::Param;

    #[test]
    fn running_product_matches_the_product_from_scratch() -> Result<(), OptimError> {
        let cfg = NadamConfig {
            lr: 0.01,
            ..Default::default()
        };
        let mut opt = Nadam::<f64>::new(cfg.clone())?;
        let mut p = vec![Param::<f64>::vector("x", vec![1.0, -2.0])];
        for _ in 0..200 {
            p[0].grad = p[0].data.clone();
            opt.step(&mut p)?;
        }
        let st = opt.state();
        let saved = &st.params[0].buffers[2];
        assert_eq!((saved.name.as_str(), saved.shape.len()), ("mu_product", 0));
        let scratch: f64 = (1..=200).map(|i| cfg.mu(i)).product();
        assert!(
            (saved.data[0] - scratch).abs() <= 1e-14 * scratch,
            "{} vs {scratch}",
            saved.data[0]
        );
        let a: NadamCoeffs<f64> = <NadamRule as Rule<f64, 2>>::coeffs(&cfg, 0.01, 201);
        let mut s = vec![saved.data[0]];
        let b: NadamCoeffs<f64> = <NadamRule as Rule<f64, 2>>::advance(&cfg, 0.01, 201, &mut s);
        assert!((a.grad_step - b.grad_step).abs() <= 1e-14 * a.grad_step);
        assert!((a.momentum_step - b.momentum_step).abs() <= 1e-14 * a.momentum_step);
        Ok(())
    }

    #[test]
    fn decoupled_decay_shrinks_weights_without_gradient_signal() -> Result<(), OptimError> {
        // With g = 0 the Adam part is 0/ε = 0 and only the decay acts.
        let mut p = vec![Param::<f64>::vector("x", vec![2.0])];
        let mut opt = Nadam::new(NadamConfig {
            lr: 0.1,
            weight_decay: 0.5,
            decoupled_weight_decay: true,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        assert_eq!(p[0].data[0], 2.0 * (1.0 - 0.05));
        Ok(())
    }
}
