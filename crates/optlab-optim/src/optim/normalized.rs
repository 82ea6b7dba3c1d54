//! Normalized steepest descent: normalized gradient descent (ℓ₂) and sign descent (ℓ∞).
//!
//! Steepest descent for a norm ‖·‖ moves a fixed length α along the direction of steepest
//! decrease, d = argmin_{‖d‖ ≤ 1} ⟨g, d⟩:
//!
//! ```text
//! ℓ₂ (NormalizedGD):  x ← x − α g / ‖g‖₂       ‖g‖₂ over ALL parameters of the step (x ∈ Rⁿ)
//! ℓ∞ (SignGD):        x_j ← x_j − α sign(g_j)   per coordinate, sign(0) = 0
//! ```
//!
//! (g negated first if `maximize`.) NormalizedGD needs the global norm, so it is its own
//! [`Optimizer`] (one deterministic reduction through [`crate::kernels`], then one scaled pass);
//! when g = 0 it does not move. SignGD is an elementwise [`Rule`] without state.
//!
//! References: Nesterov, "Introductory Lectures on Convex Optimization" (2004), on normalized
//! gradient methods; Boyd & Vandenberghe, "Convex Optimization" (2004), §9.4 (steepest descent
//! for a norm: the ℓ∞ step is the sign vector); Bernstein, Wang, Azizzadenesheli & Anandkumar,
//! "signSGD: Compressed Optimisation for Non-Convex Problems" (ICML 2018). PyTorch has neither:
//! the names are optlab's (`NormalizedGD`, `SignGD`), with `lr` defaulting to 1e-3 as in
//! PyTorch's SGD.

use std::marker::PhantomData;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::elementwise::{Elementwise, Rule};
use super::{
    Config, Groups, NonFinitePolicy, Optimizer, OptimizerState, ParamState, Slot, StepOutcome,
    Subset, screen_gradients, sync_slots,
};
use crate::error::{OptimError, check};
use crate::kernels::{self, PAR_CHUNK, PAR_MIN};
use crate::param::{Param, ParamFilter};
use crate::scalar::Scalar;

/// NormalizedGD hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NormalizedGdConfig {
    /// Step length α ≥ 0: ‖x_{k+1} − x_k‖₂ = α over the parameters of a group (default 1e-3).
    pub lr: f64,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for NormalizedGdConfig {
    fn default() -> Self {
        NormalizedGdConfig {
            lr: 1e-3,
            maximize: false,
        }
    }
}

impl Config for NormalizedGdConfig {
    const NAME: &'static str = "NormalizedGD";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)
    }
}

/// Normalized gradient descent x ← x − α g/‖g‖₂, the norm taken over every parameter of the step.
///
/// Parameter groups may set their own α (and `maximize`); the direction g/‖g‖₂ is always the
/// global one. No per-coordinate state.
pub struct NormalizedGd<T: Scalar> {
    groups: Groups<NormalizedGdConfig>,
    slots: Vec<Slot<()>>,
    step: u64,
    policy: NonFinitePolicy,
    _t: PhantomData<fn() -> T>,
}

impl<T: Scalar> NormalizedGd<T> {
    /// One group for every parameter.
    pub fn new(config: NormalizedGdConfig) -> Result<Self, OptimError> {
        Self::with_groups(config, Vec::new())
    }

    /// A default config and `(filter, config)` parameter groups.
    pub fn with_groups(
        default: NormalizedGdConfig,
        groups: Vec<(ParamFilter, NormalizedGdConfig)>,
    ) -> Result<Self, OptimError> {
        Ok(NormalizedGd {
            groups: Groups::new(default, groups)?,
            slots: Vec::new(),
            step: 0,
            policy: NonFinitePolicy::default(),
            _t: PhantomData,
        })
    }
}

/// `x ← x − s g` over one parameter, in parallel chunks when large.
fn scaled_step<T: Scalar>(s: T, x: &mut [T], g: &[T]) {
    let block = |x: &mut [T], g: &[T]| {
        for (x, &g) in x.iter_mut().zip(g) {
            *x = *x - s * g;
        }
    };
    if x.len() < PAR_MIN {
        block(x, g);
    } else {
        x.par_chunks_mut(PAR_CHUNK)
            .zip(g.par_chunks(PAR_CHUNK))
            .for_each(|(x, g)| block(x, g));
    }
}

impl<T: Scalar> Optimizer<T> for NormalizedGd<T> {
    fn name(&self) -> &str {
        NormalizedGdConfig::NAME
    }

    fn steps(&self) -> u64 {
        self.step
    }

    fn lr(&self) -> f64 {
        self.groups.lr(0)
    }

    fn base_lr(&self) -> f64 {
        self.groups.config(0).lr
    }

    fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64) {
        self.groups.set_lrs(f);
    }

    fn set_nonfinite_policy(&mut self, policy: NonFinitePolicy) {
        self.policy = policy;
    }

    fn step_subset(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError> {
        sync_slots(&mut self.slots, &self.groups, params, subset, |_, _| ())?;
        if let Some(skipped) = screen_gradients(self.policy, params, subset, self.step + 1)? {
            return Ok(skipped);
        }
        self.step += 1;
        // ‖g‖₂² summed over parameters in list order (each sum deterministic), in f64 so that
        // large f32 gradients do not overflow.
        let norm_sq: f64 = (0..self.slots.len())
            .map(|j| kernels::norm2_sq(&params[subset.index(j)].grad).as_f64())
            .sum();
        let norm = norm_sq.sqrt();
        if norm == 0.0 {
            return Ok(StepOutcome::Applied);
        }
        for (j, slot) in self.slots.iter().enumerate() {
            let p = &mut params[subset.index(j)];
            let cfg = self.groups.config(slot.group);
            let sign = if cfg.maximize { -1.0 } else { 1.0 };
            let s = T::of(sign * self.groups.lr(slot.group) / norm);
            scaled_step(s, &mut p.data, &p.grad);
        }
        Ok(StepOutcome::Applied)
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState {
            optimizer: self.name().to_string(),
            step: self.step,
            lrs: self.groups.lrs().to_vec(),
            params: self
                .slots
                .iter()
                .map(|s| ParamState {
                    name: s.name.clone(),
                    shape: s.shape.clone(),
                    buffers: Vec::new(),
                })
                .collect(),
        }
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        if state.optimizer != self.name() {
            return Err(OptimError::StateMismatch(format!(
                "state of `{}` loaded into `{}`",
                state.optimizer,
                self.name()
            )));
        }
        if let Some(ps) = state.params.iter().find(|ps| !ps.buffers.is_empty()) {
            return Err(OptimError::StateMismatch(format!(
                "parameter `{}` has {} buffers, {} keeps none",
                ps.name,
                ps.buffers.len(),
                self.name()
            )));
        }
        self.groups.load_lrs(&state.lrs)?;
        self.slots = state
            .params
            .iter()
            .map(|ps| Slot {
                name: ps.name.clone(),
                shape: ps.shape.clone(),
                group: self.groups.group_of(&ps.name, &ps.shape),
                state: (),
            })
            .collect();
        self.step = state.step;
        Ok(())
    }
}

/// SignGD hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignGdConfig {
    /// Step α ≥ 0 per coordinate: ‖x_{k+1} − x_k‖∞ = α unless g = 0 (default 1e-3).
    pub lr: f64,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for SignGdConfig {
    fn default() -> Self {
        SignGdConfig {
            lr: 1e-3,
            maximize: false,
        }
    }
}

impl Config for SignGdConfig {
    const NAME: &'static str = "SignGD";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)
    }
}

/// The sign-descent rule (no state).
pub struct SignGdRule;

/// Per-step scalars of [`SignGdRule`].
#[derive(Clone, Copy, Debug)]
pub struct SignGdCoeffs<T> {
    /// ±α (negative when maximizing).
    lr: T,
}

/// sign(g) ∈ {−1, 0, 1}, as `torch.sign` (NaN stays NaN).
#[inline(always)]
pub(crate) fn sign<T: Scalar>(g: T) -> T {
    if g > T::zero() {
        T::one()
    } else if g < T::zero() {
        -T::one()
    } else {
        g
    }
}

impl<T: Scalar> Rule<T, 0> for SignGdRule {
    type Config = SignGdConfig;
    type Coeffs = SignGdCoeffs<T>;
    const STATE: [&'static str; 0] = [];

    fn coeffs(c: &SignGdConfig, lr: f64, _t: u64) -> SignGdCoeffs<T> {
        SignGdCoeffs {
            lr: T::of(if c.maximize { -lr } else { lr }),
        }
    }

    #[inline(always)]
    fn update(c: &SignGdCoeffs<T>, x: &mut T, g: T, _: &mut [T; 0]) {
        *x = *x - c.lr * sign(g);
    }
}

/// Sign descent: `SignGd::<f32>::new(SignGdConfig { lr: 0.01, ..Default::default() })`.
pub type SignGd<T> = Elementwise<T, SignGdRule, 0>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_step_has_length_lr_over_all_parameters() -> Result<(), OptimError> {
        let mut p = vec![
            Param::<f64>::vector("a", vec![0.0, 0.0]),
            Param::<f64>::vector("b", vec![0.0]),
        ];
        p[0].grad = vec![3.0, 0.0];
        p[1].grad = vec![-4.0];
        let mut opt = NormalizedGd::new(NormalizedGdConfig {
            lr: 2.5,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        // g/‖g‖ = (0.6, 0, −0.8) over both parameters, times α = 2.5.
        assert_eq!(p[0].data, vec![-1.5, 0.0]);
        assert_eq!(p[1].data, vec![2.0]);
        // A zero gradient does not move (and is no error).
        p[0].zero_grad();
        p[1].zero_grad();
        opt.step(&mut p)?;
        assert_eq!(p[1].data, vec![2.0]);
        assert_eq!(opt.steps(), 2);
        Ok(())
    }

    #[test]
    fn sign_step_moves_each_coordinate_by_lr() -> Result<(), OptimError> {
        let mut p = vec![Param::<f32>::vector("x", vec![1.0, 1.0, 1.0])];
        p[0].grad = vec![1e-30, -7.0, 0.0];
        let mut opt = SignGd::new(SignGdConfig {
            lr: 0.25,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        assert_eq!(p[0].data, vec![0.75, 1.25, 1.0]);
        assert!(opt.state().params[0].buffers.is_empty());
        Ok(())
    }
}
