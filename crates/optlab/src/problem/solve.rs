//! Matrix-free reference solutions: f*, x* by Newton–CG with Hessian–vector products, and the
//! smoothness constant L by power iteration — for problems too large (or too sparse) for the dense
//! Hessians and eigendecompositions of the small-problem path.
//!
//! **Newton–CG** (truncated Newton; Nocedal & Wright, *Numerical Optimization*, Algorithm 7.1):
//! at x, conjugate gradients on `H d = −∇f` using only products `H v` (one pass over the data
//! each), stopped at the forcing tolerance `‖H d + ∇f‖ ≤ η ‖∇f‖` with
//! `η = min(0.5, √(‖∇f‖/‖∇f(x₀)‖))` (superlinear convergence), then a backtracking (Armijo)
//! line search from the full step — on f while f can resolve the predicted decrease, on ‖∇f‖
//! once that decrease is below the rounding of f (near x*). It stops when `‖∇f(x)‖ ≤ rtol · ‖∇f(x₀)‖` (rtol = 1e-10 by
//! default), or when no step decreases f any more, or, below 1e-6 of the initial gradient norm, four
//! steps in a row fail to halve the best one (the rounding floor of f64; the certificate then reports the norm reached).
//!
//! **Certificate.** The gradient norm at the returned x is evaluated in f64 and reported. For a
//! μ-strongly convex f, `f(x) − f* ≤ ‖∇f(x)‖²/(2μ)` and `‖x − x*‖ ≤ ‖∇f(x)‖/μ` (e.g. Nesterov,
//! *Lectures on Convex Optimization*, Thm. 2.1.10): the reported bounds.
//!
//! **Power iteration** on a symmetric positive semi-definite operator B: `v ← Bv/‖Bv‖` from a
//! seeded random start, with the Rayleigh quotient `λ = vᵀBv` (≤ λ_max) as the estimate, stopped
//! when it changes by less than 1e-9 relative (at most 2000 products).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// A smooth convex objective given by values, gradients and Hessian–vector products.
pub(crate) trait Smooth: Sync {
    /// Dimension of x.
    fn dim(&self) -> usize;
    /// `f(x)`.
    fn value(&self, x: &[f64]) -> f64;
    /// `f(x)`, and `g ← ∇f(x)`.
    fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64;
    /// What [`Smooth::hvp`] needs at `x` (e.g. the per-sample curvature weights).
    fn curvature(&self, x: &[f64]) -> Vec<f64>;
    /// `out ← ∇²f(x) v`, with `curv` from [`Smooth::curvature`] at x.
    fn hvp(&self, curv: &[f64], v: &[f64], out: &mut [f64]);
}

/// How a problem's reference values were obtained, and how accurate they are (written to
/// `summary.json` under `problem.reference`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// How f* and x* were computed, e.g. `"Newton–CG (Hessian–vector products)"`.
    pub method: String,
    /// `‖∇f(x*)‖` at the returned x*, evaluated in f64.
    pub grad_norm: f64,
    /// `‖∇f(x*)‖ / ‖∇f(x₀)‖` (x₀ = 0).
    pub rel_grad_norm: f64,
    /// Upper bound on `f(x*) − min f`: `‖∇f(x*)‖² / (2μ)`, when f is μ-strongly convex.
    pub f_gap_bound: Option<f64>,
    /// Upper bound on the distance from x* to the true minimizer: `‖∇f(x*)‖ / μ`.
    pub x_dist_bound: Option<f64>,
    /// Newton iterations.
    pub iterations: usize,
    /// Hessian–vector products (matrix-free methods).
    pub hessian_products: Option<usize>,
    /// How L was obtained, e.g. `"largest eigenvalue of AᵀA/m (dense, faer)"`.
    pub l_method: String,
}

impl Reference {
    /// Fills the certificate fields from the gradient norms and μ (0: not strongly convex).
    pub fn certify(mut self, grad_norm: f64, grad0_norm: f64, mu: f64) -> Self {
        self.grad_norm = grad_norm;
        self.rel_grad_norm = if grad0_norm > 0.0 {
            grad_norm / grad0_norm
        } else {
            0.0
        };
        if mu > 0.0 {
            self.f_gap_bound = Some(grad_norm * grad_norm / (2.0 * mu));
            self.x_dist_bound = Some(grad_norm / mu);
        }
        self
    }
}

/// The result of [`newton_cg`].
#[derive(Clone, Debug)]
pub(crate) struct Solution {
    pub x: Vec<f64>,
    pub f: f64,
    pub grad_norm: f64,
    pub grad0_norm: f64,
    pub iterations: usize,
    pub hvps: usize,
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// Newton steps without halving the gradient norm (once it is below 1e-6 of the initial one)
/// after which [`newton_cg`] stops at the rounding floor (Newton converges superlinearly there,
/// so this does not trigger before it).
const STALL_STEPS: usize = 4;

/// Newton–CG from x = 0 to `‖∇f‖ ≤ rtol ‖∇f(0)‖` (see the module documentation).
///
/// # Errors
/// A non-finite value or gradient, or no convergence in `max_iter` Newton steps.
pub(crate) fn newton_cg(obj: &dyn Smooth, rtol: f64, max_iter: usize) -> Result<Solution, String> {
    let n = obj.dim();
    let mut x = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut f = obj.value_grad(&x, &mut g);
    let g0 = norm(&g);
    let mut gn = g0;
    let mut hvps = 0;
    let (mut d, mut r, mut p, mut hp) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut trial = vec![0.0; n];
    let mut gt = vec![0.0; n];
    // Newton steps in a row that did not halve the best gradient norm so far: at the rounding
    // floor of f64 the steps only shuffle noise, so a few of them end the solve
    let (mut best, mut stalled) = (g0, 0usize);
    for it in 0..max_iter {
        if !(f.is_finite() && gn.is_finite()) {
            return Err(format!(
                "Newton–CG: f = {f}, ‖∇f‖ = {gn} at iteration {it} (non-finite)"
            ));
        }
        if gn <= rtol * g0 {
            return Ok(Solution {
                x,
                f,
                grad_norm: gn,
                grad0_norm: g0,
                iterations: it,
                hvps,
            });
        }
        // CG on H d = −g from d = 0
        let curv = obj.curvature(&x);
        let eta = (gn / g0).sqrt().min(0.5);
        d.iter_mut().for_each(|v| *v = 0.0);
        r.iter_mut().zip(&g).for_each(|(r, g)| *r = -g);
        p.copy_from_slice(&r);
        let mut rr = dot(&r, &r);
        for _ in 0..n.clamp(10, 1000) {
            obj.hvp(&curv, &p, &mut hp);
            hvps += 1;
            let php = dot(&p, &hp);
            if php <= 0.0 || !php.is_finite() {
                break;
            }
            let alpha = rr / php;
            d.iter_mut().zip(&p).for_each(|(d, p)| *d += alpha * p);
            r.iter_mut().zip(&hp).for_each(|(r, h)| *r -= alpha * h);
            let rr_new = dot(&r, &r);
            if rr_new.sqrt() <= eta * gn {
                break;
            }
            let beta = rr_new / rr;
            rr = rr_new;
            p.iter_mut().zip(&r).for_each(|(p, r)| *p = r + beta * *p);
        }
        let mut slope = dot(&g, &d);
        if slope.is_nan() || slope >= 0.0 {
            // no descent direction from CG (should not happen for convex f): steepest descent
            d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
            slope = -gn * gn;
        }
        // Armijo on f while f can resolve the predicted decrease; below that (near x*, where the
        // decrease t·|slope| is under the rounding of f) a step is accepted when it reduces ‖∇f‖
        let noise = 1e3 * f64::EPSILON * f.abs().max(f64::MIN_POSITIVE);
        let mut t = 1.0;
        let mut moved = false;
        while t >= 1e-12 {
            trial
                .iter_mut()
                .zip(x.iter().zip(&d))
                .for_each(|(y, (x, d))| *y = x + t * d);
            let resolvable = -t * slope > noise;
            if resolvable {
                let ft = obj.value(&trial);
                if ft.is_nan() || ft > f + 1e-4 * t * slope {
                    t *= 0.5;
                    continue;
                }
            }
            let fg = obj.value_grad(&trial, &mut gt);
            let gtn = norm(&gt);
            if resolvable || gtn < gn {
                std::mem::swap(&mut x, &mut trial);
                std::mem::swap(&mut g, &mut gt);
                f = fg;
                gn = gtn;
                moved = true;
                break;
            }
            t *= 0.5;
        }
        if gn < 0.5 * best || gn > 1e-6 * g0 {
            best = best.min(gn);
            stalled = 0;
        } else {
            stalled += 1;
        }
        if !moved || stalled >= STALL_STEPS {
            // no step decreases f (or the gradient norm) in floating point: the rounding floor
            return Ok(Solution {
                x,
                f,
                grad_norm: gn,
                grad0_norm: g0,
                iterations: it + 1,
                hvps,
            });
        }
    }
    Err(format!(
        "Newton–CG did not reach ‖∇f‖ ≤ {rtol:e}·‖∇f(0)‖ in {max_iter} iterations (‖∇f‖ = {gn:e})"
    ))
}

/// Largest eigenvalue of a symmetric positive semi-definite operator by power iteration (see the
/// module documentation); returns the estimate and the number of products.
pub(crate) fn power_iteration(
    n: usize,
    op: &dyn Fn(&[f64], &mut [f64]),
    seed: u64,
) -> (f64, usize) {
    if n == 0 {
        return (0.0, 0);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    let s = norm(&v);
    v.iter_mut().for_each(|x| *x /= s);
    let mut w = vec![0.0; n];
    let mut lambda = 0.0;
    for k in 1..=2000 {
        op(&v, &mut w);
        let next = dot(&v, &w);
        let wn = norm(&w);
        if wn == 0.0 || !wn.is_finite() {
            return (next.max(0.0), k);
        }
        if k > 1 && (next - lambda).abs() <= 1e-9 * next.abs() {
            return (next, k);
        }
        lambda = next;
        v.iter_mut().zip(&w).for_each(|(v, w)| *v = w / wn);
    }
    (lambda, 2000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x) = ½ xᵀ D x − bᵀx + Σ log cosh(xᵢ) / 10: strongly convex (μ = min D), smooth.
    struct Toy {
        d: Vec<f64>,
        b: Vec<f64>,
    }

    impl Smooth for Toy {
        fn dim(&self) -> usize {
            self.d.len()
        }
        fn value(&self, x: &[f64]) -> f64 {
            x.iter()
                .zip(&self.d)
                .zip(&self.b)
                .map(|((x, d), b)| 0.5 * d * x * x - b * x + x.cosh().ln() / 10.0)
                .sum()
        }
        fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
            for (i, g) in g.iter_mut().enumerate() {
                *g = self.d[i] * x[i] - self.b[i] + x[i].tanh() / 10.0;
            }
            self.value(x)
        }
        fn curvature(&self, x: &[f64]) -> Vec<f64> {
            x.iter()
                .zip(&self.d)
                .map(|(x, d)| d + (1.0 - x.tanh().powi(2)) / 10.0)
                .collect()
        }
        fn hvp(&self, curv: &[f64], v: &[f64], out: &mut [f64]) {
            for ((o, c), v) in out.iter_mut().zip(curv).zip(v) {
                *o = c * v;
            }
        }
    }

    #[test]
    fn newton_cg_reaches_the_requested_gradient_norm() {
        let n = 50;
        let toy = Toy {
            d: (0..n).map(|i| 0.01 + i as f64).collect(),
            b: (0..n).map(|i| ((i * 7) % 5) as f64 - 2.0).collect(),
        };
        let s = newton_cg(&toy, 1e-10, 100).unwrap();
        assert!(
            s.grad_norm <= 1e-10 * s.grad0_norm,
            "{} vs {}",
            s.grad_norm,
            s.grad0_norm
        );
        let mut g = vec![0.0; n];
        toy.value_grad(&s.x, &mut g);
        assert_eq!(norm(&g), s.grad_norm);
        let r = Reference::default().certify(s.grad_norm, s.grad0_norm, 0.01);
        assert!(r.f_gap_bound.unwrap() < 1e-18 && r.rel_grad_norm <= 1e-10);
    }

    #[test]
    fn power_iteration_finds_the_largest_eigenvalue() {
        // diag(1..=30) plus a rank-one term: λ_max from the characteristic equation, checked loosely
        let n = 30;
        let op = |v: &[f64], out: &mut [f64]| {
            let s: f64 = v.iter().sum();
            for (i, o) in out.iter_mut().enumerate() {
                *o = (i + 1) as f64 * v[i] + 0.5 * s;
            }
        };
        let (lambda, k) = power_iteration(n, &op, 0);
        // Rayleigh quotient ≤ λ_max, and Bv ≈ λ v at convergence
        let mut v = vec![1.0; n];
        let mut w = vec![0.0; n];
        for _ in 0..5000 {
            op(&v, &mut w);
            let s = norm(&w);
            v.iter_mut().zip(&w).for_each(|(v, w)| *v = w / s);
        }
        op(&v, &mut w);
        let exact = dot(&v, &w);
        assert!(
            (lambda - exact).abs() <= 1e-7 * exact,
            "{lambda} vs {exact} after {k}"
        );
        assert!(lambda <= exact * (1.0 + 1e-12));
    }
}
