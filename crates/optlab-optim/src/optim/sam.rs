//! Sharpness-Aware Minimization around any optimizer.
//!
//! Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware Minimization for Efficiently Improving
//! Generalization" (ICLR 2021), Algorithm 1. With g = ∇L(w) (the closure's first gradient) and
//! the global norm ‖g‖₂ over the selected parameters:
//!
//! ```text
//! ε = ρ g / (‖g‖₂ + 1e-12)        (ascent to the worst point of the ρ-ball, first order)
//! g_SAM = ∇L(w + ε)               (the closure's second gradient, same mini-batch)
//! w ← inner_step(w, g_SAM)        (w restored first; any optimizer: SGD, AdamW, Muon, ...)
//! ```
//!
//! The second gradient is the caller's: SAM only steps through
//! [`step_with_closure`](Optimizer::step_with_closure) ([`requires_closure`] is true), and each
//! step calls the closure twice. As in the reference implementation, 1e-12 is added to ‖g‖₂.
//! The non-finite policy screens the first gradient; the inner optimizer's screens the second.
//!
//! [`requires_closure`]: Optimizer::requires_closure

use serde::{Deserialize, Serialize};

use super::{
    Closure, ClosureStep, Config, Eval, NonFinitePolicy, Optimizer, Subset, check_subset,
    global_grad_norm, screen_gradients,
};
use crate::error::OptimError;
use crate::param::Param;
use crate::scalar::Scalar;

/// Hyperparameters of [`Sam`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamConfig {
    /// Radius ρ > 0 of the neighbourhood (default 0.05, the paper's).
    pub rho: f64,
}

impl Default for SamConfig {
    fn default() -> Self {
        SamConfig { rho: 0.05 }
    }
}

impl Config for SamConfig {
    const NAME: &'static str = "SAM";

    /// SAM has no learning rate of its own (0).
    fn lr(&self) -> f64 {
        0.0
    }

    fn validate(&self) -> Result<(), OptimError> {
        crate::error::check::positive(Self::NAME, "rho", self.rho)
    }
}

/// SAM around an inner optimizer.
pub struct Sam<T: Scalar> {
    rho: f64,
    inner: Box<dyn Optimizer<T>>,
    name: String,
    policy: NonFinitePolicy,
    /// w, saved while the closure is evaluated at w + ε (reused every step).
    saved: Vec<Vec<T>>,
}

impl<T: Scalar> Sam<T> {
    /// Wraps `inner`, which must step from a gradient (not itself need a closure).
    pub fn new(config: SamConfig, inner: Box<dyn Optimizer<T>>) -> Result<Self, OptimError> {
        config.validate()?;
        if inner.requires_closure() {
            return Err(OptimError::BadHyperparameters {
                optimizer: SamConfig::NAME.into(),
                message: format!(
                    "cannot wrap `{}`, which evaluates the objective itself (a line search, \
                     L-BFGS): SAM's inner optimizer steps from the gradient at w + ε",
                    inner.name()
                ),
            });
        }
        Ok(Sam {
            rho: config.rho,
            name: format!("SAM({})", inner.name()),
            inner,
            policy: NonFinitePolicy::default(),
            saved: Vec::new(),
        })
    }

    /// The wrapped optimizer.
    pub fn inner(&self) -> &dyn Optimizer<T> {
        self.inner.as_ref()
    }

    fn restore(&self, params: &mut [Param<T>], subset: Subset<'_>) {
        for (j, saved) in self.saved.iter().enumerate() {
            params[subset.index(j)].data.copy_from_slice(saved);
        }
    }
}

impl<T: Scalar> Optimizer<T> for Sam<T> {
    delegate_to_inner!(
        name,
        steps,
        lr,
        base_lr,
        set_lrs,
        accepts_layout,
        eval_params,
        state,
        load_state,
        step_with_closure,
        step_subset_closure_required
    );

    fn set_nonfinite_policy(&mut self, policy: NonFinitePolicy) {
        self.policy = policy;
        self.inner.set_nonfinite_policy(policy);
    }

    fn step_subset_with_closure(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
        closure: &mut dyn Closure<T>,
    ) -> Result<ClosureStep, OptimError> {
        let loss = closure.evaluate(params, Eval::ValueAndGrad)?;
        check_subset(params, subset)?;
        let n = subset.len(params.len());
        if let Some(skipped) = screen_gradients(self.policy, params, subset, self.steps() + 1)? {
            return Ok(ClosureStep {
                outcome: skipped,
                loss,
            });
        }
        let c = T::of(self.rho / (global_grad_norm(params, subset) + 1e-12));
        self.saved.resize_with(n, Vec::new);
        for j in 0..n {
            let p = &mut params[subset.index(j)];
            let saved = &mut self.saved[j];
            saved.clear();
            saved.extend_from_slice(&p.data);
            for (x, g) in p.data.iter_mut().zip(&p.grad) {
                *x = *x + c * *g;
            }
        }
        let second = closure.evaluate(params, Eval::ValueAndGrad);
        self.restore(params, subset);
        second?;
        let outcome = self.inner.step_subset(params, subset)?;
        Ok(ClosureStep { outcome, loss })
    }

    fn requires_closure(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::sgd::{Sgd, SgdConfig};

    fn sgd(lr: f64) -> Result<Box<dyn Optimizer<f64>>, OptimError> {
        Ok(Box::new(Sgd::new(SgdConfig {
            lr,
            ..Default::default()
        })?))
    }

    /// f(x, y) = ½(x² + 4y²), ∇f = (x, 4y), at w = (3, 1): g = (3, 4), ‖g‖ = 5,
    /// w + ε = (3, 1) + 0.05 (3, 4)/(5 + 1e-12) = (3.03, 1.04), g_SAM = (3.03, 4.16),
    /// w ← (3, 1) − 0.1 g_SAM.
    #[test]
    fn steps_with_the_gradient_at_the_perturbed_point() -> Result<(), OptimError> {
        let mut sam = Sam::new(SamConfig { rho: 0.05 }, sgd(0.1)?)?;
        assert!(sam.requires_closure());
        let mut ps = vec![Param::vector("w", vec![3.0, 1.0])];
        let mut evals = Vec::new();
        let mut f = |ps: &mut [Param<f64>], eval: Eval| {
            let (x, y) = (ps[0].data[0], ps[0].data[1]);
            evals.push((x, y, eval));
            ps[0].grad = vec![x, 4.0 * y];
            Ok(0.5 * (x * x + 4.0 * y * y))
        };
        let r = sam.step_with_closure(&mut ps, &mut f)?;
        assert_eq!(r.loss, 0.5 * (9.0 + 4.0));
        let c = 0.05 / (5.0 + 1e-12);
        let (px, py) = (3.0 + c * 3.0, 1.0 + c * 4.0);
        assert_eq!(evals.len(), 2);
        assert_eq!(evals[1], (px, py, Eval::ValueAndGrad));
        assert!((px - 3.03).abs() < 1e-12 && (py - 1.04).abs() < 1e-12);
        assert_eq!(ps[0].data, vec![3.0 - 0.1 * px, 1.0 - 0.1 * (4.0 * py)]);
        assert_eq!(sam.steps(), 1);
        assert_eq!(sam.name(), "SAM(SGD)");
        // a plain step is refused: the second gradient is the caller's
        let e = sam.step(&mut ps).err();
        assert!(matches!(e, Some(OptimError::ClosureRequired { .. })));
        assert!(Sam::new(SamConfig { rho: -1.0 }, sgd(0.1)?).is_err());
        Ok(())
    }

    #[test]
    fn a_failing_second_evaluation_restores_w() -> Result<(), OptimError> {
        let mut sam = Sam::new(SamConfig::default(), sgd(0.1)?)?;
        let mut ps = vec![Param::vector("w", vec![1.0, 2.0])];
        let mut calls = 0;
        let mut f = |ps: &mut [Param<f64>], _: Eval| {
            calls += 1;
            if calls == 2 {
                return Err(OptimError::Objective("forward pass failed".into()));
            }
            ps[0].grad = vec![1.0, 1.0];
            Ok(0.0)
        };
        assert!(sam.step_with_closure(&mut ps, &mut f).is_err());
        assert_eq!(ps[0].data, vec![1.0, 2.0]);
        assert_eq!(sam.steps(), 0);
        Ok(())
    }
}
