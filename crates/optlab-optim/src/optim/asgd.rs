//! Averaged stochastic gradient descent (PyTorch `torch.optim.ASGD`): SGD with a decaying step
//! and a running average of the iterates, which is where the model is evaluated.
//!
//! Per coordinate j at step t (g_j negated first if `maximize`), with the per-step scalars η_t
//! (step size) and μ_t (averaging weight) of the previous step:
//!
//! ```text
//! g_j ← g_j + λ_wd x_j                       (weight_decay, L2 form)
//! x_j ← (1 − λ η_t) x_j − η_t g_j           (lambd λ: a decay proportional to the step)
//! a_j ← x_j                   if μ_t = 1     (the average `ax`: a copy until averaging starts)
//! a_j ← a_j + μ_t (x_j − a_j) otherwise
//! η_{t+1} = α / (1 + λ α t)^p                (alpha p; α the lr of step t)
//! μ_{t+1} = 1 / max(1, t − t₀)               (t0: averaging starts after t₀ steps)
//! ```
//!
//! with η₁ = α (the lr of the first step) and μ₁ = 1. For an integer t₀, a is the iterate itself
//! up to step t₀ + 2 and from then on the Polyak–Ruppert average of the iterates x_{t₀+2}, …,
//! x_t. The averaged parameters `ax` are
//! what [`Optimizer::eval_params`](super::Optimizer::eval_params) gives.
//!
//! Papers: Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging" (SIAM J.
//! Control Optim., 1992); Ruppert (1988); the η schedule is Bottou's, "Large-Scale Machine
//! Learning with Stochastic Gradient Descent" (COMPSTAT 2010).

use serde::{Deserialize, Serialize};

use super::Config;
use super::elementwise::{Elementwise, Rule, coeffs_from_start};
use crate::error::{OptimError, check};
use crate::scalar::Scalar;

/// ASGD hyperparameters, PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsgdConfig {
    /// Learning rate α ≥ 0 (default 1e-2).
    pub lr: f64,
    /// Decay term λ ≥ 0 of the step size and of the weights (default 1e-4).
    pub lambd: f64,
    /// Power p ≥ 0 of the step-size decay (default 0.75).
    pub alpha: f64,
    /// Step t₀ ≥ 0 after which the average starts (default 1e6).
    pub t0: f64,
    /// L2 penalty ≥ 0 added to the gradient (default 0).
    pub weight_decay: f64,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for AsgdConfig {
    fn default() -> Self {
        AsgdConfig {
            lr: 1e-2,
            lambd: 1e-4,
            alpha: 0.75,
            t0: 1e6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl Config for AsgdConfig {
    const NAME: &'static str = "ASGD";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        check::non_negative(Self::NAME, "lambd", self.lambd)?;
        check::non_negative(Self::NAME, "alpha", self.alpha)?;
        check::non_negative(Self::NAME, "t0", self.t0)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)
    }
}

/// The ASGD rule (state: `ax`; scalar state `eta`, `mu`).
pub struct AsgdRule;

/// Per-step scalars of [`AsgdRule`].
#[derive(Clone, Copy, Debug)]
pub struct AsgdCoeffs<T> {
    sign: T,
    weight_decay: T,
    /// 1 − λ η_t.
    decay: T,
    /// −η_t.
    neg_eta: T,
    /// μ_t.
    mu: T,
    /// μ_t = 1: the average is a copy.
    copy: bool,
}

impl<T: Scalar> Rule<T, 1> for AsgdRule {
    type Config = AsgdConfig;
    type Coeffs = AsgdCoeffs<T>;
    const STATE: [&'static str; 1] = ["ax"];
    const SCALARS: &'static [&'static str] = &["eta", "mu"];
    const EVAL: bool = true;

    fn init_scalars(c: &AsgdConfig) -> Vec<T> {
        vec![T::of(c.lr), T::one()]
    }

    /// The coefficients of step `t` for a learning rate constant at `lr` since step 1 (the
    /// driver uses [`advance`](Rule::advance) with the running η and μ instead).
    fn coeffs(c: &AsgdConfig, lr: f64, t: u64) -> AsgdCoeffs<T> {
        coeffs_from_start::<T, Self, 1>(c, lr, t)
    }

    /// The coefficients from η_t, μ_t, then η_{t+1}, μ_{t+1} into the scalars.
    fn advance(c: &AsgdConfig, lr: f64, t: u64, scalars: &mut [T]) -> AsgdCoeffs<T> {
        if let [eta, mu] = scalars {
            if t == 1 {
                // PyTorch creates the state at the first step: η = the group's lr then, μ = 1.
                *eta = T::of(lr);
                *mu = T::one();
            }
            let (eta_t, mu_t) = (eta.as_f64(), *mu);
            let step = t as f64;
            *eta = T::of(lr / (1.0 + c.lambd * lr * step).powf(c.alpha));
            *mu = T::of(1.0 / (step - c.t0).max(1.0));
            AsgdCoeffs {
                sign: if c.maximize { -T::one() } else { T::one() },
                weight_decay: T::of(c.weight_decay),
                decay: T::of(1.0 - c.lambd * eta_t),
                neg_eta: T::of(-eta_t),
                mu: mu_t,
                copy: mu_t == T::one(),
            }
        } else {
            // Not reachable: the driver keeps one value per name in SCALARS.
            AsgdCoeffs {
                sign: T::one(),
                weight_decay: T::zero(),
                decay: T::one(),
                neg_eta: T::zero(),
                mu: T::one(),
                copy: true,
            }
        }
    }

    #[inline(always)]
    fn update(c: &AsgdCoeffs<T>, x: &mut T, g: T, [ax]: &mut [T; 1]) {
        let g = c.sign * g + c.weight_decay * *x;
        *x = *x * c.decay;
        *x = *x + c.neg_eta * g;
        *ax = if c.copy { *x } else { *ax + (*x - *ax) * c.mu };
    }

    /// The average `ax`.
    fn eval(_c: &AsgdConfig, _x: T, [ax]: &[T; 1]) -> T {
        *ax
    }
}

/// ASGD: `Asgd::<f64>::new(AsgdConfig { t0: 100.0, ..Default::default() })`.
pub type Asgd<T> = Elementwise<T, AsgdRule, 1>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optimizer;
    use crate::param::Param;

    #[test]
    fn the_average_is_polyak_ruppert_after_t0() -> Result<(), OptimError> {
        // λ = 0: plain SGD with a constant step; t₀ = 2: steps 3, 4, ... are averaged.
        let mut opt = Asgd::new(AsgdConfig {
            lr: 0.1,
            lambd: 0.0,
            t0: 2.0,
            ..Default::default()
        })?;
        let mut p = vec![Param::<f64>::vector("x", vec![1.0])];
        let mut out = p.clone();
        assert!(!opt.eval_params(&p, &mut out)?, "nothing to average yet");
        let mut iterates = Vec::new();
        for _ in 0..6 {
            p[0].grad = vec![2.0 * p[0].data[0]];
            opt.step(&mut p)?;
            iterates.push(p[0].data[0]);
        }
        assert!(opt.eval_params(&p, &mut out)?);
        // μ_t = 1/max(1, t − 1 − t₀): 1 up to step 4 (a copy), then 1/2, 1/3: the average of
        // the iterates of steps 4, 5, 6.
        let mean = iterates[3..].iter().sum::<f64>() / 3.0;
        assert!(
            (out[0].data[0] - mean).abs() < 1e-15,
            "{} vs {mean}",
            out[0].data[0]
        );
        let mut wrong = vec![Param::<f64>::vector("y", vec![0.0])];
        assert!(opt.eval_params(&p, &mut wrong).is_err());
        Ok(())
    }
}
