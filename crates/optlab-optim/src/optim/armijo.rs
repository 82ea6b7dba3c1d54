//! Armijo backtracking line search around any optimizer (optax:
//! `scale_by_backtracking_linesearch`).
//!
//! ```text
//! f₀, g = f(x), ∇f(x)                      (the closure's first call)
//! d = inner_step(x, g) − x                  (the inner optimizer's update at its lr α₀)
//! t ← 1;  while f(x + t d) > f₀ + c t ⟨d, g⟩:   t ← ρ t      (value-only closure calls)
//! x ← x + t d
//! ```
//!
//! Armijo (1966), "Minimization of functions having Lipschitz continuous first partial
//! derivatives". Around SGD (`d = −α₀ g`) this is gradient descent with backtracking,
//! `f(x − α g) ≤ f(x) − c α ‖g‖²` from α = α₀: on an L-smooth f the accepted step satisfies
//! α ≥ min(α₀, 2ρ(1 − c)/L). For optimizers whose update is linear in the learning rate (SGD,
//! the Adam family, Muon) `x + t d` is the inner step at learning rate t·α₀; the inner
//! optimizer's state (momentum, moments) is that of its one step, as in optax.
//!
//! Only [`step_with_closure`](Optimizer::step_with_closure) steps
//! ([`requires_closure`](Optimizer::requires_closure) is true): the first call is
//! [`Eval::ValueAndGrad`] at x, each trial point costs one [`Eval::Value`] call (a stochastic
//! caller evaluates the same mini-batch throughout a step). [`lr`](Optimizer::lr) reports the
//! step t·α₀ accepted last. A step with no sufficient decrease after `max_backtracks` trials
//! restores x and fails with [`OptimError::NoSufficientDecrease`].

use serde::{Deserialize, Serialize};

use super::{
    Buffer, Closure, ClosureStep, Config, Eval, NonFinitePolicy, Optimizer, OptimizerState,
    ParamState, StepOutcome, Subset, check_subset, decode_f64, encode_f64, nest_state,
    screen_gradients, split_state,
};
use crate::error::OptimError;
use crate::param::Param;
use crate::scalar::Scalar;

/// Hyperparameters of [`Armijo`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArmijoConfig {
    /// Sufficient-decrease constant c ∈ (0, 1) (default 1e-4).
    pub c: f64,
    /// Backtracking factor ρ ∈ (0, 1) (default 0.5).
    pub rho: f64,
    /// Backtracks allowed per step before the step fails (default 60).
    pub max_backtracks: u32,
}

impl Default for ArmijoConfig {
    fn default() -> Self {
        ArmijoConfig {
            c: 1e-4,
            rho: 0.5,
            max_backtracks: 60,
        }
    }
}

impl Config for ArmijoConfig {
    const NAME: &'static str = "Armijo";

    /// The line search has no learning rate of its own (0): its first trial is the inner
    /// optimizer's.
    fn lr(&self) -> f64 {
        0.0
    }

    fn validate(&self) -> Result<(), OptimError> {
        for (field, v) in [("c", self.c), ("rho", self.rho)] {
            if !(v > 0.0 && v < 1.0) {
                return Err(OptimError::InvalidHyperparameter {
                    optimizer: Self::NAME,
                    field: field.into(),
                    value: v.to_string(),
                    allowed: "in (0, 1)".into(),
                });
            }
        }
        Ok(())
    }
}

/// Backtracking line search around an inner optimizer.
pub struct Armijo<T: Scalar> {
    config: ArmijoConfig,
    inner: Box<dyn Optimizer<T>>,
    name: String,
    policy: NonFinitePolicy,
    /// The step t·α₀ accepted last (NaN before the first).
    last: f64,
    /// x and d of the current step (reused).
    x0: Vec<Vec<T>>,
    dir: Vec<Vec<T>>,
}

impl<T: Scalar> Armijo<T> {
    /// A line search along the updates of `inner` (which must step from a gradient).
    pub fn new(config: ArmijoConfig, mut inner: Box<dyn Optimizer<T>>) -> Result<Self, OptimError> {
        config.validate()?;
        if inner.requires_closure() {
            return Err(OptimError::BadHyperparameters {
                optimizer: ArmijoConfig::NAME.into(),
                message: format!(
                    "cannot search along `{}`, which evaluates the objective itself",
                    inner.name()
                ),
            });
        }
        // The line search screens the gradient itself, before the inner step.
        inner.set_nonfinite_policy(NonFinitePolicy::Ignore);
        Ok(Armijo {
            config,
            name: format!("Armijo({})", inner.name()),
            inner,
            policy: NonFinitePolicy::default(),
            last: f64::NAN,
            x0: Vec::new(),
            dir: Vec::new(),
        })
    }

    /// The wrapped optimizer.
    pub fn inner(&self) -> &dyn Optimizer<T> {
        self.inner.as_ref()
    }

    /// Sets the selected parameters to x + t d.
    fn put(&self, params: &mut [Param<T>], subset: Subset<'_>, t: f64) {
        let t = T::of(t);
        for (j, (x0, d)) in self.x0.iter().zip(&self.dir).enumerate() {
            let p = &mut params[subset.index(j)];
            for ((x, &a), &b) in p.data.iter_mut().zip(x0).zip(d) {
                *x = a + t * b;
            }
        }
    }

    fn restore(&self, params: &mut [Param<T>], subset: Subset<'_>) {
        for (j, x0) in self.x0.iter().enumerate() {
            params[subset.index(j)].data.copy_from_slice(x0);
        }
    }
}

impl<T: Scalar> Optimizer<T> for Armijo<T> {
    delegate_to_inner!(
        name,
        steps,
        base_lr,
        set_lrs,
        accepts_layout,
        eval_params,
        step_with_closure,
        step_subset_closure_required
    );

    /// The step t·α₀ accepted last (the inner optimizer's learning rate before the first step).
    fn lr(&self) -> f64 {
        if self.last.is_nan() {
            self.inner.lr()
        } else {
            self.last
        }
    }

    fn set_nonfinite_policy(&mut self, policy: NonFinitePolicy) {
        self.policy = policy;
    }

    fn step_subset_with_closure(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
        closure: &mut dyn Closure<T>,
    ) -> Result<ClosureStep, OptimError> {
        let f0 = closure.evaluate(params, Eval::ValueAndGrad)?;
        check_subset(params, subset)?;
        let step = self.inner.steps() + 1;
        if let Some(skipped) = screen_gradients(self.policy, params, subset, step)? {
            return Ok(ClosureStep {
                outcome: skipped,
                loss: f0,
            });
        }
        let n = subset.len(params.len());
        self.x0.resize_with(n, Vec::new);
        self.dir.resize_with(n, Vec::new);
        for (j, x0) in self.x0.iter_mut().enumerate() {
            x0.clear();
            x0.extend_from_slice(&params[subset.index(j)].data);
        }
        let alpha0 = self.inner.lr();
        let outcome = self.inner.step_subset(params, subset)?;
        if outcome != StepOutcome::Applied {
            return Ok(ClosureStep { outcome, loss: f0 });
        }
        let mut slope = 0.0;
        for (j, (x0, d)) in self.x0.iter().zip(&mut self.dir).enumerate() {
            let p = &params[subset.index(j)];
            d.clear();
            d.extend(p.data.iter().zip(x0).map(|(&x1, &x0)| x1 - x0));
            slope += d
                .iter()
                .zip(&p.grad)
                .map(|(d, g)| d.as_f64() * g.as_f64())
                .sum::<f64>();
        }
        // t = 1 is the inner step itself, already in `params`.
        let mut t = 1.0;
        for j in 0..=self.config.max_backtracks {
            if j > 0 {
                t *= self.config.rho;
                self.put(params, subset, t);
            }
            let f = match closure.evaluate(params, Eval::Value) {
                Ok(f) => f,
                Err(e) => {
                    self.restore(params, subset);
                    return Err(e);
                }
            };
            if f <= f0 + self.config.c * t * slope {
                self.last = t * alpha0;
                return Ok(ClosureStep { outcome, loss: f0 });
            }
        }
        self.restore(params, subset);
        Err(OptimError::NoSufficientDecrease {
            optimizer: self.name.clone(),
            step,
            backtracks: self.config.max_backtracks,
            value: f0,
            slope,
        })
    }

    fn requires_closure(&self) -> bool {
        true
    }

    fn state(&self) -> OptimizerState<T> {
        let own = vec![ParamState {
            name: "armijo/".into(),
            shape: Vec::new(),
            buffers: vec![Buffer {
                name: "last_lr".into(),
                shape: vec![1, 3],
                data: encode_f64(&[self.last]),
            }],
        }];
        nest_state(&self.name, self.inner.state(), own)
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        let (inner, own) = split_state(state, &self.name, self.inner.name(), "armijo")?;
        let last = match own.as_slice() {
            [ps] => match ps.buffers.as_slice() {
                [b] if b.name == "last_lr" => decode_f64(&b.data, "last_lr")?,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let [last] = last[..] else {
            return Err(OptimError::StateMismatch(format!(
                "`{}` state needs one `armijo/` entry with `last_lr`",
                self.name
            )));
        };
        self.inner.load_state(&inner)?;
        self.last = last;
        Ok(())
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

    fn quad(ps: &mut [Param<f64>], eval: Eval, calls: &mut Vec<Eval>) -> f64 {
        // f(x, y) = ½(x² + 4y²)
        let (x, y) = (ps[0].data[0], ps[0].data[1]);
        calls.push(eval);
        if eval == Eval::ValueAndGrad {
            ps[0].grad = vec![x, 4.0 * y];
        }
        0.5 * (x * x + 4.0 * y * y)
    }

    /// From (1, 1): f₀ = 2.5, g = (1, 4), d = −g, ⟨d, g⟩ = −17. With α₀ = 1 the trial (0, −3)
    /// has f = 18 > 2.5 − 1e-4·17; t = ½ gives (0.5, −1) with f = 2.125 ≤ 2.5 − 0.5e-4·17:
    /// accepted, lr = 0.5.
    #[test]
    fn backtracks_to_sufficient_decrease_by_hand() -> Result<(), OptimError> {
        let mut ls = Armijo::new(ArmijoConfig::default(), sgd(1.0)?)?;
        let mut ps = vec![Param::vector("x", vec![1.0, 1.0])];
        let mut calls = Vec::new();
        let r = ls.step_with_closure(&mut ps, &mut |ps: &mut [Param<f64>], e| {
            Ok(quad(ps, e, &mut calls))
        })?;
        assert_eq!(r.loss, 2.5);
        assert_eq!(ps[0].data, vec![0.5, -1.0]);
        assert_eq!(calls, vec![Eval::ValueAndGrad, Eval::Value, Eval::Value]);
        assert_eq!(ls.lr(), 0.5);
        assert_eq!(ls.steps(), 1);
        Ok(())
    }

    #[test]
    fn converges_with_the_lower_bound_on_accepted_steps() -> Result<(), OptimError> {
        let mut ls = Armijo::new(ArmijoConfig::default(), sgd(1.0)?)?;
        let mut ps = vec![Param::vector("x", vec![2.0, 1.0])];
        let mut calls = Vec::new();
        let mut f = 2.0 + 2.0;
        for _ in 0..200 {
            let r = ls.step_with_closure(&mut ps, &mut |ps: &mut [Param<f64>], e| {
                Ok(quad(ps, e, &mut calls))
            })?;
            assert!(r.loss <= f);
            f = r.loss;
            // L = 4: α ≥ min(1, 2·0.5·(1 − 1e-4)/4)
            assert!(ls.lr() >= 0.25 * (1.0 - 1e-4) - 1e-15, "{}", ls.lr());
        }
        assert!(f < 1e-20, "{f}");
        // refused without a closure; state round trip
        assert!(matches!(
            ls.step(&mut ps),
            Err(OptimError::ClosureRequired { .. })
        ));
        let s = ls.state();
        let mut other = Armijo::new(ArmijoConfig::default(), sgd(1.0)?)?;
        other.load_state(&s)?;
        assert_eq!(other.lr(), ls.lr());
        assert_eq!(other.state(), s);
        Ok(())
    }

    #[test]
    fn no_decrease_restores_x_and_names_the_step() -> Result<(), OptimError> {
        let mut ls = Armijo::new(
            ArmijoConfig {
                max_backtracks: 3,
                ..Default::default()
            },
            sgd(1.0)?,
        )?;
        let mut ps = vec![Param::vector("x", vec![1.0])];
        // the gradient points uphill: no step decreases f
        let e = ls
            .step_with_closure(&mut ps, &mut |ps: &mut [Param<f64>], e| {
                if e == Eval::ValueAndGrad {
                    ps[0].grad = vec![-1.0];
                }
                Ok(ps[0].data[0])
            })
            .err();
        assert!(
            matches!(
                e,
                Some(OptimError::NoSufficientDecrease {
                    step: 1,
                    backtracks: 3,
                    ..
                })
            ),
            "{e:?}"
        );
        assert_eq!(ps[0].data, vec![1.0]);
        assert!(
            ArmijoConfig {
                rho: 1.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        Ok(())
    }
}
