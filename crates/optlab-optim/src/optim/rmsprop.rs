//! RMSprop, optionally centered and with momentum (PyTorch `torch.optim.RMSprop`).
//!
//! Per coordinate j (g_j negated first if `maximize`):
//!
//! ```text
//! g_j ← g_j + λ x_j                                   (weight_decay λ, L2 form)
//! v_j ← a v_j + (1 − a) g_j²                          (alpha a)
//! ḡ_j ← ḡ_j + (1 − a)(g_j − ḡ_j)                      (centered only)
//! r_j = √(v_j − ḡ_j² + ε_root) + ε                    (ḡ_j = 0 unless centered)
//! b_j ← μ b_j + g_j / r_j,   x_j ← x_j − α b_j        (momentum μ > 0)
//! x_j ← x_j − α g_j / r_j                             (μ = 0)
//! ```
//!
//! Source: Tieleman & Hinton, Lecture 6.5 of "Neural Networks for Machine Learning" (Coursera,
//! 2012); the centered variant is Graves, "Generating Sequences With Recurrent Neural Networks"
//! (2013), eq. (38)–(45). PyTorch's defaults: `lr = 1e-2`, `alpha = 0.99`, `eps = 1e-8`,
//! `weight_decay = 0`, `momentum = 0`, `centered = false`, `maximize = false`. PyTorch only asks
//! `alpha ≥ 0` and `momentum ≥ 0`; optlab requires both in [0, 1] (outside it `v` can turn
//! negative or the iteration diverges by construction).
//!
//! **Where ε goes.** PyTorch adds `eps` *outside* the square root (`√v + ε`); the lecture writes
//! RMSProp with ε *inside* (`g/√(v + ε)`). Both are exact special cases: `eps` is added outside,
//! `eps_root` (an optlab field, named as in optax) inside. The defaults (`eps = 1e-8`,
//! `eps_root = 0`) are PyTorch's form; the lecture's form is `eps = 0, eps_root = ε`.
//!
//! The state layout (PyTorch's keys `square_avg`, then `momentum_buffer` when μ > 0, then
//! `grad_avg` when centered) is fixed at construction, so `centered` and whether μ > 0 must agree
//! across parameter groups.

use serde::{Deserialize, Serialize};

use super::elementwise::{Elementwise, Rule};
use super::{Config, NonFinitePolicy, Optimizer, OptimizerState, StepOutcome, Subset};
use crate::error::{OptimError, check};
use crate::param::{Layout, Param, ParamFilter};
use crate::scalar::Scalar;

/// RMSprop hyperparameters, PyTorch's names and defaults (plus `eps_root`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RmspropConfig {
    /// Learning rate α ≥ 0 (default 1e-2).
    pub lr: f64,
    /// Smoothing constant a ∈ [0, 1] of the squared-gradient average (default 0.99).
    pub alpha: f64,
    /// ε ≥ 0 added outside the square root, PyTorch's form (default 1e-8).
    pub eps: f64,
    /// ε_root ≥ 0 added inside the square root, the lecture's form (default 0; not in PyTorch).
    pub eps_root: f64,
    /// L2 penalty λ ≥ 0 added to the gradient (default 0).
    pub weight_decay: f64,
    /// Momentum μ ∈ [0, 1] applied to the normalized step (default 0).
    pub momentum: f64,
    /// Normalize by the estimated variance v − ḡ² instead of v (default false).
    pub centered: bool,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        RmspropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            eps_root: 0.0,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl Config for RmspropConfig {
    const NAME: &'static str = "RMSprop";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        check::unit_interval(Self::NAME, "alpha", self.alpha)?;
        check::non_negative(Self::NAME, "eps", self.eps)?;
        check::non_negative(Self::NAME, "eps_root", self.eps_root)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        check::unit_interval(Self::NAME, "momentum", self.momentum)
    }
}

/// Per-step scalars of the RMSprop rules.
#[derive(Clone, Copy, Debug)]
pub struct RmspropCoeffs<T> {
    sign: T,
    weight_decay: T,
    lr: T,
    alpha: T,
    one_minus_alpha: T,
    eps: T,
    eps_root: T,
    momentum: T,
}

fn rmsprop_coeffs<T: Scalar>(c: &RmspropConfig, lr: f64) -> RmspropCoeffs<T> {
    RmspropCoeffs {
        sign: if c.maximize { -T::one() } else { T::one() },
        weight_decay: T::of(c.weight_decay),
        lr: T::of(lr),
        alpha: T::of(c.alpha),
        one_minus_alpha: T::of(1.0 - c.alpha),
        eps: T::of(c.eps),
        eps_root: T::of(c.eps_root),
        momentum: T::of(c.momentum),
    }
}

/// One coordinate of RMSprop; `grad_avg` and `buf` are present exactly when the variant is
/// centered / uses momentum (the `Option`s are resolved at compile time in each rule).
#[inline(always)]
fn rmsprop_update<T: Scalar>(
    c: &RmspropCoeffs<T>,
    x: &mut T,
    g: T,
    v: &mut T,
    grad_avg: Option<&mut T>,
    buf: Option<&mut T>,
) {
    let g = c.sign * g + c.weight_decay * *x;
    *v = c.alpha * *v + c.one_minus_alpha * g * g;
    let var = match grad_avg {
        Some(m) => {
            *m = *m + c.one_minus_alpha * (g - *m);
            *v - *m * *m
        }
        None => *v,
    };
    let r = (var + c.eps_root).sqrt() + c.eps;
    match buf {
        Some(b) => {
            *b = c.momentum * *b + g / r;
            *x = *x - c.lr * *b;
        }
        None => *x = *x - c.lr * g / r,
    }
}

/// An RMSprop rule; `CENTERED` and `MOMENTUM` select the state layout.
pub struct RmspropRule<const CENTERED: bool, const MOMENTUM: bool>;

impl<T: Scalar> Rule<T, 1> for RmspropRule<false, false> {
    type Config = RmspropConfig;
    type Coeffs = RmspropCoeffs<T>;
    const STATE: [&'static str; 1] = ["square_avg"];

    fn coeffs(c: &RmspropConfig, lr: f64, _t: u64) -> RmspropCoeffs<T> {
        rmsprop_coeffs(c, lr)
    }

    #[inline(always)]
    fn update(c: &RmspropCoeffs<T>, x: &mut T, g: T, [v]: &mut [T; 1]) {
        rmsprop_update(c, x, g, v, None, None);
    }
}

impl<T: Scalar> Rule<T, 2> for RmspropRule<false, true> {
    type Config = RmspropConfig;
    type Coeffs = RmspropCoeffs<T>;
    const STATE: [&'static str; 2] = ["square_avg", "momentum_buffer"];

    fn coeffs(c: &RmspropConfig, lr: f64, _t: u64) -> RmspropCoeffs<T> {
        rmsprop_coeffs(c, lr)
    }

    #[inline(always)]
    fn update(c: &RmspropCoeffs<T>, x: &mut T, g: T, [v, b]: &mut [T; 2]) {
        rmsprop_update(c, x, g, v, None, Some(b));
    }
}

impl<T: Scalar> Rule<T, 2> for RmspropRule<true, false> {
    type Config = RmspropConfig;
    type Coeffs = RmspropCoeffs<T>;
    const STATE: [&'static str; 2] = ["square_avg", "grad_avg"];

    fn coeffs(c: &RmspropConfig, lr: f64, _t: u64) -> RmspropCoeffs<T> {
        rmsprop_coeffs(c, lr)
    }

    #[inline(always)]
    fn update(c: &RmspropCoeffs<T>, x: &mut T, g: T, [v, m]: &mut [T; 2]) {
        rmsprop_update(c, x, g, v, Some(m), None);
    }
}

impl<T: Scalar> Rule<T, 3> for RmspropRule<true, true> {
    type Config = RmspropConfig;
    type Coeffs = RmspropCoeffs<T>;
    const STATE: [&'static str; 3] = ["square_avg", "momentum_buffer", "grad_avg"];

    fn coeffs(c: &RmspropConfig, lr: f64, _t: u64) -> RmspropCoeffs<T> {
        rmsprop_coeffs(c, lr)
    }

    #[inline(always)]
    fn update(c: &RmspropCoeffs<T>, x: &mut T, g: T, [v, b, m]: &mut [T; 3]) {
        rmsprop_update(c, x, g, v, Some(m), Some(b));
    }
}

/// RMSprop with the state layout chosen from the default group's `centered` and `momentum`.
pub enum Rmsprop<T: Scalar> {
    /// `square_avg`.
    Plain(Elementwise<T, RmspropRule<false, false>, 1>),
    /// `square_avg`, `momentum_buffer`.
    Momentum(Elementwise<T, RmspropRule<false, true>, 2>),
    /// `square_avg`, `grad_avg`.
    Centered(Elementwise<T, RmspropRule<true, false>, 2>),
    /// `square_avg`, `momentum_buffer`, `grad_avg`.
    CenteredMomentum(Elementwise<T, RmspropRule<true, true>, 3>),
}

impl<T: Scalar> Rmsprop<T> {
    /// One group for every parameter.
    pub fn new(config: RmspropConfig) -> Result<Self, OptimError> {
        Self::with_groups(config, Vec::new())
    }

    /// A default config and `(filter, config)` parameter groups (which must agree with it on
    /// `centered` and on whether momentum is used).
    pub fn with_groups(
        default: RmspropConfig,
        groups: Vec<(ParamFilter, RmspropConfig)>,
    ) -> Result<Self, OptimError> {
        let (centered, momentum) = (default.centered, default.momentum > 0.0);
        for (_, g) in &groups {
            if g.centered != centered {
                return Err(OptimError::invalid(
                    RmspropConfig::NAME,
                    "centered",
                    g.centered,
                    format!("the same in every parameter group ({centered} in the default group)"),
                ));
            }
            if (g.momentum > 0.0) != momentum {
                return Err(OptimError::invalid(
                    RmspropConfig::NAME,
                    "momentum",
                    g.momentum,
                    format!(
                        "{} in every parameter group, as in the default group ({})",
                        if momentum { "> 0" } else { "0" },
                        default.momentum
                    ),
                ));
            }
        }
        Ok(match (centered, momentum) {
            (false, false) => Rmsprop::Plain(Elementwise::with_groups(default, groups)?),
            (false, true) => Rmsprop::Momentum(Elementwise::with_groups(default, groups)?),
            (true, false) => Rmsprop::Centered(Elementwise::with_groups(default, groups)?),
            (true, true) => Rmsprop::CenteredMomentum(Elementwise::with_groups(default, groups)?),
        })
    }
}

macro_rules! delegate {
    ($self:ident, $o:ident => $e:expr) => {
        match $self {
            Rmsprop::Plain($o) => $e,
            Rmsprop::Momentum($o) => $e,
            Rmsprop::Centered($o) => $e,
            Rmsprop::CenteredMomentum($o) => $e,
        }
    };
}

impl<T: Scalar> Optimizer<T> for Rmsprop<T> {
    fn name(&self) -> &str {
        RmspropConfig::NAME
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
    fn state_layout_follows_pytorch_keys() -> Result<(), OptimError> {
        let names = |cfg: RmspropConfig| -> Result<Vec<String>, OptimError> {
            let mut p = vec![Param::<f32>::vector("x", vec![1.0, 2.0])];
            p[0].grad = vec![0.5, -0.5];
            let mut opt = Rmsprop::new(cfg)?;
            opt.step(&mut p)?;
            Ok(opt.state().params[0]
                .buffers
                .iter()
                .map(|b| b.name.clone())
                .collect())
        };
        assert_eq!(names(RmspropConfig::default())?, ["square_avg"]);
        let both = RmspropConfig {
            momentum: 0.9,
            centered: true,
            ..Default::default()
        };
        assert_eq!(names(both)?, ["square_avg", "momentum_buffer", "grad_avg"]);
        Ok(())
    }

    #[test]
    fn first_step_and_eps_root() -> Result<(), OptimError> {
        // v = (1 − a) g² after one step; lecture form: x = −α g / √(v + ε).
        let mut p = vec![Param::<f64>::vector("x", vec![0.0])];
        p[0].grad = vec![2.0];
        let mut opt = Rmsprop::new(RmspropConfig {
            lr: 1.0,
            alpha: 0.75,
            eps: 0.0,
            eps_root: 0.5,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        assert_eq!(p[0].data[0], -2.0 / (0.25f64 * 4.0 + 0.5).sqrt());
        Ok(())
    }

    #[test]
    fn layout_must_agree_across_groups() {
        let r = Rmsprop::<f64>::with_groups(
            RmspropConfig::default(),
            vec![(
                ParamFilter::name("*.bias"),
                RmspropConfig {
                    momentum: 0.5,
                    ..Default::default()
                },
            )],
        );
        let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("momentum"), "{msg}");
        assert!(
            Rmsprop::<f64>::new(RmspropConfig {
                alpha: 1.5,
                ..Default::default()
            })
            .is_err()
        );
    }
}
