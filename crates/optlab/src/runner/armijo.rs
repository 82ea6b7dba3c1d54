//! Gradient descent with Armijo backtracking line search (`optimizer = "ArmijoGD"`).
//!
//! ```text
//! g_k = ∇f(x_k)
//! α ← α₀(k)                              (lr, scaled by the method's schedule)
//! while f(x_k − α g_k) > f(x_k) − c α ‖g_k‖²:   α ← ρ α
//! x_{k+1} = x_k − α g_k
//! ```
//!
//! Armijo (1966), "Minimization of functions having Lipschitz continuous first partial
//! derivatives"; with c ∈ (0, 1) the accepted step satisfies α ≥ min(α₀, 2ρ(1 − c)/L) on an
//! L-smooth f. The method needs function values, so it lives in the runner layer (not in
//! [`optim`](crate::optim)) and needs the full gradient (`batch_size = "full"`). Each trial
//! value f(x_k − α g_k) and the value f(x_k) cost m per-sample evaluations, which are added to
//! the run's `grad_evals` count.
//!
//! Hyperparameters (`hyper` table): `c` (default 1e-4), `rho` (default 0.5), `max_backtracks`
//! (default 60); the initial trial step is the method's `lr` (default 1).

use serde::{Deserialize, Serialize};

use crate::oracle::Oracle;
use crate::problem::Problem;
use crate::scalar::Scalar;

/// Line-search hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArmijoConfig {
    /// Initial trial step α₀ > 0 (default 1; usually set through the method's `lr`, e.g. "1/L").
    pub lr: f64,
    /// Sufficient-decrease constant c ∈ (0, 1) (default 1e-4).
    pub c: f64,
    /// Backtracking factor ρ ∈ (0, 1) (default 0.5).
    pub rho: f64,
    /// Backtracks allowed per step before the run is stopped (default 60).
    pub max_backtracks: u32,
}

impl Default for ArmijoConfig {
    fn default() -> Self {
        ArmijoConfig {
            lr: 1.0,
            c: 1e-4,
            rho: 0.5,
            max_backtracks: 60,
        }
    }
}

impl ArmijoConfig {
    /// Checks the ranges; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!(
                "invalid `lr` = {}: must be finite and > 0",
                self.lr
            ));
        }
        if !(self.c > 0.0 && self.c < 1.0) {
            return Err(format!("invalid `c` = {}: must be in (0, 1)", self.c));
        }
        if !(self.rho > 0.0 && self.rho < 1.0) {
            return Err(format!("invalid `rho` = {}: must be in (0, 1)", self.rho));
        }
        Ok(())
    }
}

/// State of the line search: the current trial step and scratch vectors.
#[derive(Clone, Debug)]
pub struct ArmijoGd<T> {
    cfg: ArmijoConfig,
    alpha0: f64,
    last: f64,
    trial: Vec<T>,
}

impl<T: Scalar> ArmijoGd<T> {
    /// A line search with these hyperparameters for vectors of length `dim`.
    pub fn new(cfg: ArmijoConfig, dim: usize) -> Self {
        ArmijoGd {
            alpha0: cfg.lr,
            last: cfg.lr,
            cfg,
            trial: vec![T::zero(); dim],
        }
    }

    /// Sets the initial trial step of the next step (schedule applied to `lr`).
    pub fn set_initial_step(&mut self, alpha0: f64) {
        self.alpha0 = alpha0;
    }

    /// The step accepted last (α₀ before the first step).
    pub fn last_step(&self) -> f64 {
        self.last
    }

    /// One step from `x` (gradient into `g`); returns the accepted step size.
    pub fn step(
        &mut self,
        problem: &dyn Problem<T>,
        oracle: &mut Oracle<'_, T>,
        x: &mut [T],
        g: &mut [T],
    ) -> Result<f64, String> {
        oracle.gradient(x, g);
        let m = problem.num_samples() as u64;
        let f0 = problem.loss(x).as_f64();
        oracle.charge(m);
        let gg = crate::kernels::norm2_sq(g).as_f64();
        let mut alpha = self.alpha0;
        for _ in 0..=self.cfg.max_backtracks {
            let a = T::of(alpha);
            for ((t, &x), &g) in self.trial.iter_mut().zip(x.iter()).zip(g.iter()) {
                *t = x - a * g;
            }
            let ft = problem.loss(&self.trial).as_f64();
            oracle.charge(m);
            if ft <= f0 - self.cfg.c * alpha * gg {
                x.copy_from_slice(&self.trial);
                self.last = alpha;
                return Ok(alpha);
            }
            alpha *= self.cfg.rho;
        }
        Err(format!(
            "Armijo line search found no sufficient decrease after {} backtracks (f = {f0}, ‖∇f‖² = {gg})",
            self.cfg.max_backtracks
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::{Sampling, run_rng};
    use crate::problem::testfn::QuadraticSpec;

    #[test]
    fn accepted_steps_decrease_f_and_respect_the_lower_bound() {
        let q = QuadraticSpec {
            kappa: 50.0,
            ..Default::default()
        }
        .build()
        .unwrap();
        let mut o = Oracle::<f64>::new(&q, Sampling::Full, run_rng(0, 0));
        let mut ls = ArmijoGd::new(
            ArmijoConfig {
                lr: 1.0,
                ..Default::default()
            },
            2,
        );
        let mut x = vec![2.0, 1.0];
        let mut g = vec![0.0; 2];
        let mut f = q.loss(&x);
        for _ in 0..1000 {
            let a = ls.step(&q, &mut o, &mut x, &mut g).unwrap();
            assert!(a >= 2.0 * 0.5 * (1.0 - 1e-4) / 50.0 - 1e-15);
            let fnew = q.loss(&x);
            assert!(fnew <= f);
            f = fnew;
        }
        assert!(f < 1e-20, "{f}");
        // 1 gradient + at least 2 function values per step, m = 1 each
        assert!(o.evals() >= 3000);
        assert!(
            ArmijoConfig {
                rho: 1.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
