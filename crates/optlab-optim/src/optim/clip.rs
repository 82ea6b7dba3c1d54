//! Global-norm gradient clipping around any optimizer, with PyTorch's
//! `torch.nn.utils.clip_grad_norm_` semantics (optax: `clip_by_global_norm`).
//!
//! ```text
//! ‖g‖ = (Σ_p ‖g_p‖₂²)^½                      (all selected parameters together)
//! g_p ← g_p · min(1, max_norm / (‖g‖ + 1e-6))
//! then the inner optimizer steps with the clipped gradients
//! ```
//!
//! Under [`step_with_closure`](Optimizer::step_with_closure) every gradient the closure produces
//! is clipped before the inner optimizer sees it (SAM's gradient at the perturbed point too). A
//! non-finite norm leaves the gradients alone, so the inner optimizer's non-finite policy sees
//! them as they are. [`last_norm`](ClipGradNorm::last_norm) is ‖g‖ before clipping, which
//! PyTorch's function returns.

use serde::{Deserialize, Serialize};

use super::{Closure, ClosureStep, Config, Eval, Optimizer, StepOutcome, Subset, global_grad_norm};
use crate::error::OptimError;
use crate::param::Param;
use crate::scalar::Scalar;

/// Hyperparameters of [`ClipGradNorm`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipGradNormConfig {
    /// Largest global gradient norm, finite and > 0 (PyTorch's `max_norm`; default 1).
    pub max_norm: f64,
}

impl Default for ClipGradNormConfig {
    fn default() -> Self {
        ClipGradNormConfig { max_norm: 1.0 }
    }
}

impl Config for ClipGradNormConfig {
    const NAME: &'static str = "ClipGradNorm";

    /// Clipping has no learning rate of its own (0).
    fn lr(&self) -> f64 {
        0.0
    }

    fn validate(&self) -> Result<(), OptimError> {
        crate::error::check::positive(Self::NAME, "max_norm", self.max_norm)
    }
}

/// Scales the selected gradients so that their global norm is at most `max_norm`; returns the
/// norm before clipping (positions past the end of `params` are ignored).
pub fn clip_grad_norm<T: Scalar>(
    params: &mut [Param<T>],
    subset: Subset<'_>,
    max_norm: f64,
) -> f64 {
    let total = global_grad_norm(params, subset);
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        let c = T::of(coef);
        for j in 0..subset.len(params.len()) {
            if let Some(p) = params.get_mut(subset.index(j)) {
                for g in &mut p.grad {
                    *g = *g * c;
                }
            }
        }
    }
    total
}

/// Global-norm clipping around an inner optimizer.
pub struct ClipGradNorm<T: Scalar> {
    max_norm: f64,
    inner: Box<dyn Optimizer<T>>,
    name: String,
    last_norm: f64,
}

impl<T: Scalar> ClipGradNorm<T> {
    /// Clips the gradients `inner` steps with.
    pub fn new(
        config: ClipGradNormConfig,
        inner: Box<dyn Optimizer<T>>,
    ) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(ClipGradNorm {
            max_norm: config.max_norm,
            name: format!("ClipGradNorm({})", inner.name()),
            inner,
            last_norm: f64::NAN,
        })
    }

    /// ‖g‖ before clipping of the last gradient clipped (NaN before the first).
    pub fn last_norm(&self) -> f64 {
        self.last_norm
    }

    /// The wrapped optimizer.
    pub fn inner(&self) -> &dyn Optimizer<T> {
        self.inner.as_ref()
    }
}

impl<T: Scalar> Optimizer<T> for ClipGradNorm<T> {
    delegate_to_inner!(
        name,
        steps,
        lr,
        base_lr,
        set_lrs,
        set_nonfinite_policy,
        requires_closure,
        accepts_layout,
        eval_params,
        state,
        load_state,
        step_with_closure
    );

    fn step_subset(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError> {
        if self.inner.requires_closure() {
            return Err(OptimError::ClosureRequired {
                optimizer: self.name.clone(),
            });
        }
        self.last_norm = clip_grad_norm(params, subset, self.max_norm);
        self.inner.step_subset(params, subset)
    }

    fn step_subset_with_closure(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
        closure: &mut dyn Closure<T>,
    ) -> Result<ClosureStep, OptimError> {
        let max_norm = self.max_norm;
        let mut first_norm = None;
        let mut clipped = |ps: &mut [Param<T>], eval: Eval| -> Result<f64, OptimError> {
            let value = closure.evaluate(ps, eval)?;
            if eval == Eval::ValueAndGrad {
                let norm = clip_grad_norm(ps, subset, max_norm);
                first_norm.get_or_insert(norm);
            }
            Ok(value)
        };
        let result = self
            .inner
            .step_subset_with_closure(params, subset, &mut clipped);
        if let Some(n) = first_norm {
            self.last_norm = n;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::sgd::{Sgd, SgdConfig};

    fn sgd(lr: f64) -> Box<dyn Optimizer<f64>> {
        match Sgd::new(SgdConfig {
            lr,
            ..Default::default()
        }) {
            Ok(s) => Box::new(s),
            Err(e) => panic!("{e}"),
        }
    }

    /// f(x, y) = ½(x² + 4y²) at (3, 1): g = (3, 4), ‖g‖ = 5; max_norm 1 scales g by
    /// 1/(5 + 1e-6); SGD with lr 0.5 steps to (3, 1) − 0.5 g/(5 + 1e-6).
    #[test]
    fn clips_to_max_norm_like_pytorch_on_a_quadratic() -> Result<(), OptimError> {
        let mut opt = ClipGradNorm::new(ClipGradNormConfig { max_norm: 1.0 }, sgd(0.5))?;
        assert_eq!(opt.name(), "ClipGradNorm(SGD)");
        let mut ps = vec![Param::vector("x", vec![3.0, 1.0])];
        ps[0].grad = vec![3.0, 4.0];
        opt.step(&mut ps)?;
        let c = 1.0 / (5.0 + 1e-6);
        assert_eq!(ps[0].grad, vec![3.0 * c, 4.0 * c]);
        assert_eq!(
            ps[0].data,
            vec![3.0 - 0.5 * (3.0 * c), 1.0 - 0.5 * (4.0 * c)]
        );
        assert_eq!(opt.last_norm(), 5.0);
        // below the threshold the gradient is left exactly as it is
        let mut opt = ClipGradNorm::new(ClipGradNormConfig { max_norm: 10.0 }, sgd(0.5))?;
        ps[0].grad = vec![3.0, 4.0];
        opt.step(&mut ps)?;
        assert_eq!(ps[0].grad, vec![3.0, 4.0]);
        assert!(ClipGradNorm::new(ClipGradNormConfig { max_norm: 0.0 }, sgd(0.1)).is_err());
        Ok(())
    }

    #[test]
    fn clips_every_gradient_of_a_closure_and_only_the_subset() -> Result<(), OptimError> {
        let mut opt = ClipGradNorm::new(ClipGradNormConfig { max_norm: 1.0 }, sgd(1.0))?;
        let mut ps = vec![
            Param::vector("a", vec![0.0, 0.0]),
            Param::vector("b", vec![0.0]),
        ];
        let mut closure = |ps: &mut [Param<f64>], _: Eval| {
            ps[0].grad = vec![6.0, 8.0];
            ps[1].grad = vec![100.0];
            Ok(1.0)
        };
        let r = opt.step_subset_with_closure(&mut ps, Subset::Indices(&[0]), &mut closure)?;
        assert_eq!(r.loss, 1.0);
        let c = 1.0 / (10.0 + 1e-6);
        assert_eq!(ps[0].data, vec![-6.0 * c, -8.0 * c]);
        assert_eq!(ps[1].data, vec![0.0], "not selected: not stepped");
        assert_eq!(ps[1].grad, vec![100.0], "not selected: not clipped");
        // state: the inner optimizer's, under the wrapper's name (or the inner's own)
        let s = opt.state();
        assert_eq!(s.optimizer, "ClipGradNorm(SGD)");
        opt.load_state(&s)?;
        let mut bare = s.clone();
        bare.optimizer = "SGD".into();
        opt.load_state(&bare)?;
        bare.optimizer = "Adam".into();
        assert!(opt.load_state(&bare).is_err());
        Ok(())
    }
}
