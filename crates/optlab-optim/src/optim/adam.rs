//! Adam, AMSGrad and AdamW (PyTorch `torch.optim.Adam` / `torch.optim.AdamW`).
//!
//! Per coordinate j at step t (g_j negated first if `maximize`):
//!
//! ```text
//! g_j ← g_j + λ x_j                          (Adam: weight_decay λ as an L2 term)
//! x_j ← (1 − α λ) x_j                        (AdamW: decoupled weight decay)
//! m_j ← m_j + (1 − β₁)(g_j − m_j)            (= β₁ m_j + (1 − β₁) g_j)
//! v_j ← β₂ v_j + (1 − β₂) g_j²
//! v̂_j ← max(v̂_j, v_j)  and use v̂_j for v_j below             (AMSGrad)
//! x_j ← x_j − (α / (1 − β₁ᵗ)) · m_j / (√v_j / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! Papers: Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015); Reddi, Kale &
//! Kumar, "On the Convergence of Adam and Beyond" (ICLR 2018, AMSGrad); Loshchilov & Hutter,
//! "Decoupled Weight Decay Regularization" (ICLR 2019, AdamW). ε is added outside the square root,
//! as in the paper and PyTorch.

use serde::{Deserialize, Serialize};

use super::elementwise::{Elementwise, Rule};
use super::{Config, NonFinitePolicy, Optimizer, OptimizerState, StepOutcome, Subset};
use crate::error::{OptimError, check};
use crate::param::{Layout, Param, ParamFilter};
use crate::scalar::Scalar;

/// Adam hyperparameters (L2 weight decay), PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate α ≥ 0 (default 1e-3).
    pub lr: f64,
    /// (β₁, β₂), each in [0, 1) (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε ≥ 0 added to the denominator (default 1e-8).
    pub eps: f64,
    /// L2 penalty λ ≥ 0 added to the gradient (default 0).
    pub weight_decay: f64,
    /// Use AMSGrad's running maximum of v (default false).
    pub amsgrad: bool,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
        }
    }
}

/// AdamW hyperparameters (decoupled weight decay), PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    /// Learning rate α ≥ 0 (default 1e-3).
    pub lr: f64,
    /// (β₁, β₂), each in [0, 1) (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε ≥ 0 added to the denominator (default 1e-8).
    pub eps: f64,
    /// Decoupled decay λ ≥ 0: x ← (1 − αλ) x before the Adam step (default 0.01).
    pub weight_decay: f64,
    /// Use AMSGrad's running maximum of v (default false).
    pub amsgrad: bool,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 1e-2,
            amsgrad: false,
            maximize: false,
        }
    }
}

/// What the Adam rules need from a config: the common hyperparameters and the decay form.
pub trait AdamFamilyConfig: Config {
    /// `(betas, eps, weight_decay, amsgrad, maximize)`.
    fn hyper(&self) -> AdamHyper;
    /// Whether weight decay is decoupled (AdamW) rather than an L2 term (Adam).
    const DECOUPLED: bool;
}

/// The hyperparameters shared by Adam and AdamW.
#[derive(Clone, Copy, Debug)]
pub struct AdamHyper {
    /// (β₁, β₂).
    pub betas: (f64, f64),
    /// ε.
    pub eps: f64,
    /// λ.
    pub weight_decay: f64,
    /// AMSGrad.
    pub amsgrad: bool,
    /// Maximize.
    pub maximize: bool,
}

fn validate_adam(name: &'static str, lr: f64, h: &AdamHyper) -> Result<(), OptimError> {
    check::non_negative(name, "lr", lr)?;
    check::unit_interval_open(name, "betas[0]", h.betas.0)?;
    check::unit_interval_open(name, "betas[1]", h.betas.1)?;
    check::non_negative(name, "eps", h.eps)?;
    check::non_negative(name, "weight_decay", h.weight_decay)
}

macro_rules! adam_family_config {
    ($cfg:ty, $name:literal, $decoupled:literal) => {
        impl Config for $cfg {
            const NAME: &'static str = $name;

            fn lr(&self) -> f64 {
                self.lr
            }

            fn validate(&self) -> Result<(), OptimError> {
                validate_adam(Self::NAME, self.lr, &self.hyper())
            }
        }

        impl AdamFamilyConfig for $cfg {
            const DECOUPLED: bool = $decoupled;

            fn hyper(&self) -> AdamHyper {
                AdamHyper {
                    betas: self.betas,
                    eps: self.eps,
                    weight_decay: self.weight_decay,
                    amsgrad: self.amsgrad,
                    maximize: self.maximize,
                }
            }
        }
    };
}

adam_family_config!(AdamConfig, "Adam", false);
adam_family_config!(AdamWConfig, "AdamW", true);

/// Per-step scalars of the Adam rules.
#[derive(Clone, Copy, Debug)]
pub struct AdamCoeffs<T> {
    sign: T,
    /// λ for Adam's L2 term (0 for AdamW).
    l2: T,
    /// 1 − αλ for AdamW (1 for Adam).
    decay: T,
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
    /// α / (1 − β₁ᵗ).
    step_size: T,
    /// √(1 − β₂ᵗ).
    bias_correction2_sqrt: T,
    eps: T,
}

fn adam_coeffs<T: Scalar, C: AdamFamilyConfig>(c: &C, lr: f64, t: u64) -> AdamCoeffs<T> {
    let h = c.hyper();
    let (b1, b2) = h.betas;
    let t = t as f64;
    AdamCoeffs {
        sign: if h.maximize { -T::one() } else { T::one() },
        l2: T::of(if C::DECOUPLED { 0.0 } else { h.weight_decay }),
        decay: T::of(if C::DECOUPLED {
            1.0 - lr * h.weight_decay
        } else {
            1.0
        }),
        one_minus_beta1: T::of(1.0 - b1),
        beta2: T::of(b2),
        one_minus_beta2: T::of(1.0 - b2),
        step_size: T::of(lr / (1.0 - b1.powf(t))),
        bias_correction2_sqrt: T::of((1.0 - b2.powf(t)).sqrt()),
        eps: T::of(h.eps),
    }
}

/// The Adam/AdamW rule (state: `exp_avg`, `exp_avg_sq`).
pub struct AdamRule<C>(std::marker::PhantomData<C>);

impl<T: Scalar, C: AdamFamilyConfig> Rule<T, 2> for AdamRule<C> {
    type Config = C;
    type Coeffs = AdamCoeffs<T>;
    const STATE: [&'static str; 2] = ["exp_avg", "exp_avg_sq"];

    fn coeffs(c: &C, lr: f64, t: u64) -> AdamCoeffs<T> {
        adam_coeffs(c, lr, t)
    }

    #[inline(always)]
    fn update(c: &AdamCoeffs<T>, x: &mut T, g: T, [m, v]: &mut [T; 2]) {
        let g = c.sign * g + c.l2 * *x;
        *x = *x * c.decay;
        *m = *m + c.one_minus_beta1 * (g - *m);
        *v = c.beta2 * *v + c.one_minus_beta2 * g * g;
        let denom = v.sqrt() / c.bias_correction2_sqrt + c.eps;
        *x = *x - c.step_size * (*m / denom);
    }
}

/// The AMSGrad variant (state: `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`).
pub struct AmsGradRule<C>(std::marker::PhantomData<C>);

impl<T: Scalar, C: AdamFamilyConfig> Rule<T, 3> for AmsGradRule<C> {
    type Config = C;
    type Coeffs = AdamCoeffs<T>;
    const STATE: [&'static str; 3] = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    fn coeffs(c: &C, lr: f64, t: u64) -> AdamCoeffs<T> {
        adam_coeffs(c, lr, t)
    }

    #[inline(always)]
    fn update(c: &AdamCoeffs<T>, x: &mut T, g: T, [m, v, v_max]: &mut [T; 3]) {
        let g = c.sign * g + c.l2 * *x;
        *x = *x * c.decay;
        *m = *m + c.one_minus_beta1 * (g - *m);
        *v = c.beta2 * *v + c.one_minus_beta2 * g * g;
        *v_max = v_max.max(*v);
        let denom = v_max.sqrt() / c.bias_correction2_sqrt + c.eps;
        *x = *x - c.step_size * (*m / denom);
    }
}

/// Adam or AdamW, with or without AMSGrad (the state layout differs, so the variant is chosen at
/// construction from `amsgrad`, which must agree across parameter groups).
pub enum AdamFamily<T: Scalar, C: AdamFamilyConfig> {
    /// Two state values per coordinate.
    Plain(Elementwise<T, AdamRule<C>, 2>),
    /// Three state values per coordinate.
    AmsGrad(Elementwise<T, AmsGradRule<C>, 3>),
}

/// Adam with L2 weight decay: `Adam::<f32>::new(AdamConfig::default())`.
pub type Adam<T> = AdamFamily<T, AdamConfig>;
/// AdamW (decoupled weight decay): `AdamW::<f32>::new(AdamWConfig::default())`.
pub type AdamW<T> = AdamFamily<T, AdamWConfig>;

impl<T: Scalar, C: AdamFamilyConfig> AdamFamily<T, C> {
    /// One group for every parameter.
    pub fn new(config: C) -> Result<Self, OptimError> {
        Self::with_groups(config, Vec::new())
    }

    /// A default config and `(filter, config)` parameter groups.
    pub fn with_groups(default: C, groups: Vec<(ParamFilter, C)>) -> Result<Self, OptimError> {
        let ams = default.hyper().amsgrad;
        if let Some((_, g)) = groups.iter().find(|(_, g)| g.hyper().amsgrad != ams) {
            return Err(OptimError::invalid(
                C::NAME,
                "amsgrad",
                g.hyper().amsgrad,
                format!("the same in every parameter group ({ams} in the default group)"),
            ));
        }
        Ok(if ams {
            AdamFamily::AmsGrad(Elementwise::with_groups(default, groups)?)
        } else {
            AdamFamily::Plain(Elementwise::with_groups(default, groups)?)
        })
    }
}

macro_rules! delegate {
    ($self:ident, $o:ident => $e:expr) => {
        match $self {
            AdamFamily::Plain($o) => $e,
            AdamFamily::AmsGrad($o) => $e,
        }
    };
}

impl<T: Scalar, C: AdamFamilyConfig> Optimizer<T> for AdamFamily<T, C> {
    fn name(&self) -> &str {
        C::NAME
    }
    fn steps(&self) -> u64 {
        delegate!(self, o => o.steps())
    }
    fn lr(&self) -> f64 {
        delegate!(self, o => o.lr())
    }
    fn base_lr(&self) -> f64 {
        delegate!(self, o => o.base_lr())
    }
    fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64) {
        delegate!(self, o => o.set_lrs(f))
    }
    fn set_nonfinite_policy(&mut self, policy: NonFinitePolicy) {
        delegate!(self, o => o.set_nonfinite_policy(policy))
    }
    fn step_subset(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError> {
        delegate!(self, o => o.step_subset(params, subset))
    }
    fn accepts_layout(&self, param: &Param<T>, layout: Layout) -> bool {
        delegate!(self, o => o.accepts_layout(param, layout))
    }
    fn state(&self) -> OptimizerState<T> {
        delegate!(self, o => o.state())
    }
    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        delegate!(self, o => o.load_state(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn betas_are_checked() {
        let e = Adam::<f64>::new(AdamConfig {
            betas: (0.9, 1.0),
            ..Default::default()
        });
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("betas[1]") && msg.contains("[0, 1)"), "{msg}");
    }

    #[test]
    fn first_step_moves_each_coordinate_by_lr() -> Result<(), OptimError> {
        // At t = 1, m̂ = g and v̂ = g², so the step is α·g/(|g| + ε) ≈ α·sign(g).
        let mut p = vec![Param::<f64>::vector("x", vec![0.0, 0.0, 0.0])];
        p[0].grad = vec![3.0, -0.5, 1e-3];
        let mut opt = Adam::new(AdamConfig {
            lr: 0.1,
            eps: 0.0,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        for (x, g) in p[0].data.iter().zip([3.0f64, -0.5, 1e-3]) {
            assert!((x + 0.1 * g.signum()).abs() < 1e-12, "{x}");
        }
        Ok(())
    }

    #[test]
    fn amsgrad_must_agree_across_groups() {
        let r = AdamW::<f32>::with_groups(
            AdamWConfig::default(),
            vec![(
                ParamFilter::name("*.bias"),
                AdamWConfig {
                    amsgrad: true,
                    ..Default::default()
                },
            )],
        );
        assert!(r.is_err());
    }
}
