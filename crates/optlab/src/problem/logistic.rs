//! ℓ2-regularized binary logistic regression
//!
//! ```text
//! f(x) = (μ/2)‖x‖² + (1/m) Σᵢ log(1 + exp(−yᵢ⟨aᵢ, x⟩)),   yᵢ ∈ {−1, +1}
//! ∇fᵢ(x) = μ x − yᵢ σ(−yᵢ⟨aᵢ, x⟩) aᵢ,                      σ(u) = 1/(1 + e^{−u})
//! ```
//!
//! `log(1 + e^u)` is evaluated as `max(u, 0) + log1p(e^{−|u|})` and σ without overflow.
//!
//! **Constants.** L = λ_max(AᵀA)/(4m) + μ (σ' ≤ 1/4), L_max = maxᵢ ‖aᵢ‖²/4 + μ, μ from the
//! regularizer. f* and x* come from damped Newton's method on the full objective in f64 (Cholesky
//! solves of the Hessian μI + (1/m) Σ σ(zᵢ)σ(−zᵢ) aᵢaᵢᵀ, Armijo backtracking, stopped when the
//! Newton decrement λ² = ∇fᵀH⁻¹∇f falls below 1e-28 or, in the region of quadratic convergence
//! (λ² < 1e-8, full steps), stops shrinking — the rounding floor — so f* is accurate to the
//! rounding of f). With μ = 0 (convex, not strongly convex: μ is left unknown) the minimizer
//! exists only if the data are not separable; Newton's point x̂ is kept as x* only with a
//! certificate of that (see [`minimizer_certified`]), else f* and x* are left unknown.
//!
//! **Synthetic generator** (the lecture's setting: m = 200, n = 10, μ = 1): with a ChaCha8 stream
//! seeded by `seed`, draw the features aᵢ ~ N(0, Iₙ) (row by row), then a ground truth
//! x_true ~ N(0, Iₙ), then labels yᵢ = +1 with probability σ(⟨aᵢ, x_true⟩), else −1.
//!
//! **Real data**: `data = "breast_cancer.csv"` (CSV or LIBSVM; labels {0, 1} with 0 ↦ −1, or
//! {−1, +1}; anything else is an error naming the file and line). `standardize = true` rescales
//! every feature to mean 0 and standard deviation 1 over the data set (recommended for raw
//! measurements such as breast_cancer.csv, whose features span five orders of magnitude).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::data::{Dataset, Format, LabelColumn};
use super::{Constants, Problem, ProblemError, linalg, resolve_data_path, sigmoid, softplus};
use crate::scalar::Scalar;

/// Configuration of [`LogisticRegression`] (`kind = "logistic"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticSpec {
    /// Samples of the synthetic problem (default 200; ignored with `data`).
    pub m: usize,
    /// Features of the synthetic problem (default 10; ignored with `data`).
    pub n: usize,
    /// ℓ2 coefficient μ ≥ 0 (default 1).
    pub mu: f64,
    /// Seed of the synthetic generator (default 0).
    pub seed: u64,
    /// Data file (CSV or LIBSVM, optionally .gz) instead of synthetic data (default none).
    pub data: Option<String>,
    /// Directory to find `data` in (default: `data/` of the workspace, then the current directory).
    pub data_dir: Option<String>,
    /// File format: "auto" (by extension), "csv" or "libsvm" (default "auto").
    pub format: Format,
    /// CSV label column: index (−1 = last, the default) or header name.
    pub label: LabelColumn,
    /// Standardize features to mean 0, standard deviation 1 (default false).
    pub standardize: bool,
}

impl Default for LogisticSpec {
    fn default() -> Self {
        LogisticSpec {
            m: 200,
            n: 10,
            mu: 1.0,
            seed: 0,
            data: None,
            data_dir: None,
            format: Format::Auto,
            label: LabelColumn::default(),
            standardize: false,
        }
    }
}

impl LogisticSpec {
    /// Generates or loads the data and solves for the constants.
    pub fn build<T: Scalar>(&self) -> Result<LogisticRegression<T>, ProblemError> {
        const P: &str = "logistic";
        if !(self.mu.is_finite() && self.mu >= 0.0) {
            return Err(ProblemError::invalid(P, "mu", self.mu, "finite and ≥ 0"));
        }
        let (a, y, m, n, source) = match &self.data {
            Some(file) => {
                let path = resolve_data_path(file, self.data_dir.as_deref())?;
                let mut ds = Dataset::read(&path, self.format, &self.label)?;
                if self.standardize {
                    ds.standardize();
                }
                let y = ds.binary_labels()?;
                (ds.features, y, ds.rows, ds.cols, file.clone())
            }
            None => {
                if self.m == 0 {
                    return Err(ProblemError::invalid(P, "m", self.m, "≥ 1"));
                }
                if self.n == 0 {
                    return Err(ProblemError::invalid(P, "n", self.n, "≥ 1"));
                }
                let (a, y) = synthetic(self.m, self.n, self.seed);
                (
                    a,
                    y,
                    self.m,
                    self.n,
                    format!("synthetic, seed {}", self.seed),
                )
            }
        };
        if n > 4096 {
            return Err(ProblemError::invalid(
                P,
                "n",
                n,
                "≤ 4096 features (the reference Newton solve is dense)",
            ));
        }
        LogisticRegression::from_data(&a, &y, m, n, self.mu, source)
    }
}

/// The synthetic generator (see the module documentation): features row-major and ±1 labels.
pub fn synthetic(m: usize, n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a: Vec<f64> = (0..m * n).map(|_| rng.sample(StandardNormal)).collect();
    let x_true: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    let y = (0..m)
        .map(|i| {
            let z: f64 = a[i * n..(i + 1) * n]
                .iter()
                .zip(&x_true)
                .map(|(a, x)| a * x)
                .sum();
            if rng.random::<f64>() < sigmoid(z) {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    (a, y)
}

/// ℓ2-regularized binary logistic regression (see the module documentation).
#[derive(Clone, Debug)]
pub struct LogisticRegression<T> {
    a: Vec<T>,
    y: Vec<T>,
    m: usize,
    n: usize,
    mu: f64,
    constants: Constants,
    source: String,
}

impl<T: Scalar> LogisticRegression<T> {
    /// From features (row-major m × n), ±1 labels and μ; computes L, L_max and (μ > 0) f*, x*.
    pub fn from_data(
        a: &[f64],
        y: &[f64],
        m: usize,
        n: usize,
        mu: f64,
        source: String,
    ) -> Result<Self, ProblemError> {
        let num = |message: String| ProblemError::Numerical {
            problem: "logistic",
            message,
        };
        let gram = linalg::gram_over_m(a, m, n);
        let (lam_min, lam_max) = linalg::eig_extremes(&gram)
            .ok_or_else(|| num("eigenvalues of AᵀA/m did not converge".into()))?;
        let l_max = (0..m)
            .map(|i| a[i * n..(i + 1) * n].iter().map(|v| v * v).sum::<f64>() / 4.0)
            .fold(0.0f64, f64::max)
            + mu;
        let (f_star, x_star) = if mu > 0.0 {
            let (x, f) = newton(a, y, m, n, mu).map_err(num)?;
            (Some(f), Some(x))
        } else {
            match newton(a, y, m, n, 0.0) {
                Ok((x, f)) if minimizer_certified(a, y, m, n, lam_min, &x) => (Some(f), Some(x)),
                _ => (None, None),
            }
        };
        Ok(LogisticRegression {
            a: a.iter().map(|&v| T::of(v)).collect(),
            y: y.iter().map(|&v| T::of(v)).collect(),
            m,
            n,
            mu,
            constants: Constants {
                l_smooth: Some(lam_max / 4.0 + mu),
                l_max: Some(l_max),
                mu: (mu > 0.0).then_some(mu),
                f_star,
                x_star,
            },
            source,
        })
    }

    fn row(&self, i: usize) -> &[T] {
        &self.a[i * self.n..(i + 1) * self.n]
    }
}

impl<T: Scalar> Problem<T> for LogisticRegression<T> {
    fn describe(&self) -> String {
        format!(
            "logistic regression (m = {}, n = {}, μ = {}; {})",
            self.m, self.n, self.mu, self.source
        )
    }

    fn num_samples(&self) -> usize {
        self.m
    }

    fn dim(&self) -> usize {
        self.n
    }

    fn l2(&self) -> f64 {
        self.mu
    }

    /// ℓᵢ(x) = log(1 + exp(−yᵢ⟨aᵢ, x⟩)).
    fn sample_loss(&self, x: &[T], i: usize) -> T {
        let z = crate::kernels::dot(self.row(i), x);
        softplus(-self.y[i] * z)
    }

    /// ∇ℓᵢ(x) = −yᵢ σ(−yᵢ⟨aᵢ, x⟩) aᵢ.
    fn add_sample_grad(&self, x: &[T], i: usize, w: T, g: &mut [T]) {
        let a = self.row(i);
        let yi = self.y[i];
        let c = -w * yi * sigmoid(-yi * crate::kernels::dot(a, x));
        for (g, &a) in g.iter_mut().zip(a) {
            *g = *g + c * a;
        }
    }

    fn constants(&self) -> &Constants {
        &self.constants
    }
}

/// Whether `x` (Newton's output for μ = 0) certifies that the unregularized objective has a
/// minimizer, i.e. that the data are not separable.
///
/// With λᵢ = σ(−yᵢ⟨aᵢ, x⟩) > 0, the gradient is r = −(1/m) Σ λᵢ yᵢ aᵢ. If some λ' > 0 (all
/// entries) has Σ λ'ᵢ yᵢ aᵢ = 0 and the aᵢ span Rⁿ, no direction w ≠ 0 has yᵢ⟨aᵢ, w⟩ ≥ 0 for
/// every i, so f is coercive and attains its minimum. λ' = λ + δ with δ = Bᵀ(BBᵀ)⁻¹ m r
/// (B = [yᵢ aᵢ], BBᵀ = AᵀA, λ_min(AᵀA) = m λ_min(AᵀA/m)) works when ‖δ‖ ≤ √m ‖r‖ / √λ_min(AᵀA/m)
/// is below minᵢ λᵢ; the test asks for a factor 2 of margin and adds to ‖r‖ a bound on its
/// rounding error.
fn minimizer_certified(a: &[f64], y: &[f64], m: usize, n: usize, lam_min: f64, x: &[f64]) -> bool {
    if m < n || lam_min.is_nan() || lam_min <= 0.0 {
        return false;
    }
    let mut r = vec![0.0; n];
    let (mut min_lambda, mut scale) = (f64::INFINITY, 0.0);
    for i in 0..m {
        let ai = &a[i * n..(i + 1) * n];
        let z: f64 = ai.iter().zip(x).map(|(a, x)| a * x).sum();
        let l = sigmoid(-y[i] * z);
        min_lambda = min_lambda.min(l);
        scale += l * ai.iter().map(|v| v * v).sum::<f64>().sqrt();
        for (r, a) in r.iter_mut().zip(ai) {
            *r -= y[i] * l * a / m as f64;
        }
    }
    let r_norm = r.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-14 * scale / m as f64;
    2.0 * (m as f64).sqrt() * r_norm / lam_min.sqrt() < min_lambda
}

fn objective(a: &[f64], y: &[f64], m: usize, n: usize, mu: f64, x: &[f64]) -> f64 {
    let data: f64 = (0..m)
        .map(|i| {
            let z: f64 = a[i * n..(i + 1) * n]
                .iter()
                .zip(x)
                .map(|(a, x)| a * x)
                .sum();
            softplus(-y[i] * z)
        })
        .sum();
    data / m as f64 + 0.5 * mu * x.iter().map(|v| v * v).sum::<f64>()
}

/// Damped Newton's method on the full objective; returns (x*, f*).
fn newton(a: &[f64], y: &[f64], m: usize, n: usize, mu: f64) -> Result<(Vec<f64>, f64), String> {
    let mut x = vec![0.0; n];
    let mut f = objective(a, y, m, n, mu, &x);
    let mut prev: Option<f64> = None;
    for _ in 0..200 {
        let mut g: Vec<f64> = x.iter().map(|v| mu * v).collect();
        let mut h = faer::Mat::<f64>::zeros(n, n);
        for j in 0..n {
            h[(j, j)] = mu;
        }
        let w = 1.0 / m as f64;
        for i in 0..m {
            let ai = &a[i * n..(i + 1) * n];
            let z: f64 = ai.iter().zip(&x).map(|(a, x)| a * x).sum();
            let c = -y[i] * sigmoid(-y[i] * z) * w;
            let d = sigmoid(z) * sigmoid(-z) * w;
            for j in 0..n {
                g[j] += c * ai[j];
                for k in 0..=j {
                    h[(j, k)] += d * ai[j] * ai[k];
                }
            }
        }
        for j in 0..n {
            for k in 0..j {
                h[(k, j)] = h[(j, k)];
            }
        }
        let step = linalg::solve_spd(&h, &g).ok_or("Newton system could not be solved")?;
        let decrement: f64 = g.iter().zip(&step).map(|(g, s)| g * s).sum();
        if decrement <= 1e-28 {
            return Ok((x, f));
        }
        if decrement < 1e-8 {
            // Quadratic-convergence region: full steps, each squaring the decrement, until it
            // stops shrinking (rounding floor of the gradient).
            if prev.is_some_and(|p: f64| decrement >= 0.25 * p) {
                return Ok((x, f));
            }
            prev = Some(decrement);
            x.iter_mut().zip(&step).for_each(|(x, s)| *x -= s);
            f = objective(a, y, m, n, mu, &x);
            continue;
        }
        let mut t = 1.0;
        loop {
            let trial: Vec<f64> = x.iter().zip(&step).map(|(x, s)| x - t * s).collect();
            let ft = objective(a, y, m, n, mu, &trial);
            if ft <= f - 0.25 * t * decrement || t < 1e-12 {
                if ft <= f {
                    x = trial;
                    f = ft;
                }
                break;
            }
            t *= 0.5;
        }
        if t < 1e-12 {
            // no further progress is possible in floating point
            return Ok((x, f));
        }
    }
    Err("Newton's method did not converge in 200 iterations".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::check;

    fn lecture() -> LogisticRegression<f64> {
        LogisticSpec::default().build().unwrap()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let p = lecture();
        let x: Vec<f64> = (0..10).map(|j| 0.3 * (j as f64) - 1.2).collect();
        check::all_gradients(&p, &x, 1e-7);
    }

    #[test]
    fn newton_optimum_agrees_with_long_gradient_descent() {
        let p = lecture();
        let c = p.constants().clone();
        let (l, mu) = (c.l_smooth.unwrap(), c.mu.unwrap());
        assert!(l > mu && mu == 1.0);
        // GD with 1/L contracts by (1 − μ/L) per step: 2000 steps are far past convergence.
        let mut x = vec![0.0; 10];
        let mut g = vec![0.0; 10];
        for _ in 0..2000 {
            p.grad(&x, &mut g);
            for (x, g) in x.iter_mut().zip(&g) {
                *x -= g / l;
            }
        }
        let f_gd = p.loss(&x);
        let f_star = c.f_star.unwrap();
        assert!((f_gd - f_star).abs() <= 1e-10, "{f_gd} vs {f_star}");
        let xs = c.x_star.unwrap();
        let dist: f64 = x
            .iter()
            .zip(&xs)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(dist < 1e-8, "‖x_GD − x*‖ = {dist}");
        p.grad(&xs, &mut g);
        assert!(crate::kernels::norm2(&g) < 1e-13);
    }

    #[test]
    fn generator_is_seeded_and_l_bounds_curvature() {
        let (a1, y1) = synthetic(20, 3, 7);
        let (a2, y2) = synthetic(20, 3, 7);
        let (a3, _) = synthetic(20, 3, 8);
        assert_eq!((a1.clone(), y1.clone()), (a2, y2));
        assert_ne!(a1, a3);
        assert!(y1.contains(&1.0) && y1.contains(&-1.0));
        let p = lecture();
        let c = p.constants();
        assert!(c.l_max.unwrap() >= c.l_smooth.unwrap());
    }

    #[test]
    fn invalid_config_is_an_error() {
        let e = LogisticSpec {
            mu: -1.0,
            ..Default::default()
        }
        .build::<f64>()
        .unwrap_err();
        assert!(e.to_string().contains("`mu`"), "{e}");
        let e = LogisticSpec {
            m: 0,
            ..Default::default()
        }
        .build::<f32>()
        .unwrap_err();
        assert!(e.to_string().contains("`m`"), "{e}");
        let e = LogisticSpec {
            data: Some("no_such_file.csv".into()),
            ..Default::default()
        }
        .build::<f64>()
        .unwrap_err();
        assert!(e.to_string().contains("no_such_file.csv"), "{e}");
    }

    #[test]
    fn unregularized_optimum_only_with_a_certificate() {
        // non-separable (noisy labels, m ≫ n): f*, x* with ∇f(x*) = 0; μ unknown
        let p = LogisticSpec {
            mu: 0.0,
            ..Default::default()
        }
        .build::<f64>()
        .unwrap();
        let c = p.constants().clone();
        assert_eq!(c.mu, None);
        let xs = c.x_star.unwrap();
        let mut g = vec![0.0; 10];
        p.grad(&xs, &mut g);
        assert!(crate::kernels::norm2(&g) < 1e-12, "{g:?}");
        assert!((p.loss(&xs) - c.f_star.unwrap()).abs() < 1e-15);
        // separable: labels are the sign of a linear function; no minimizer, nothing claimed
        let (a, _) = synthetic(60, 3, 1);
        let y: Vec<f64> = (0..60)
            .map(|i| {
                if a[3 * i] + 0.5 * a[3 * i + 1] > 0.0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let s =
            LogisticRegression::<f64>::from_data(&a, &y, 60, 3, 0.0, "separable".into()).unwrap();
        assert_eq!(s.constants().f_star, None);
        assert_eq!(s.constants().x_star, None);
    }

    #[test]
    fn breast_cancer_loads_with_labels_mapped() {
        let spec = LogisticSpec {
            data: Some("breast_cancer.csv".into()),
            standardize: true,
            mu: 0.01,
            ..Default::default()
        };
        let p = spec.build::<f64>().unwrap();
        assert_eq!((p.num_samples(), p.dim()), (569, 30));
        let f_star = p.constants().f_star.unwrap();
        assert!(f_star > 0.0 && f_star < std::f64::consts::LN_2);
    }
}
