//! Linear least squares
//!
//! ```text
//! f(x) = (1/2m) ‖Ax − b‖² + (λ/2)‖x‖² = (1/m) Σᵢ [ ½(⟨aᵢ, x⟩ − bᵢ)² + (λ/2)‖x‖² ]
//! ∇fᵢ(x) = (⟨aᵢ, x⟩ − bᵢ) aᵢ + λ x,      ∇f(x) = Aᵀ(Ax − b)/m + λ x
//! ```
//!
//! Gradients are one pass over the data ([`Design::pass`]; dense or sparse), mini-batches gather
//! their rows, a single sample is one dot product and one axpy.
//!
//! **Constants.** *Dense data with n ≤ 4096*: L = λ_max(AᵀA/m) + λ and μ = λ_min(AᵀA/m) + λ
//! (faer's symmetric eigensolver); x* is exact: Householder QR least squares of `A x ≈ b` when
//! λ = 0 (A must have full column rank), else a Cholesky solve of (AᵀA/m + λI) x = Aᵀb/m;
//! f* = f(x*) in f64. *Sparse data, or n > 4096* (matrix-free): L = λ_max(AᵀA/m) + λ by power
//! iteration, μ = λ (when λ > 0), and f*, x* by Newton–CG — conjugate gradients on the normal
//! equations — to `‖∇f‖ ≤ 1e-10 ‖∇f(0)‖`; x* is reported only when λ > 0 (unique), f* always,
//! with the gradient norm at the solution as its certificate ([`Constants::reference`]).
//! L_max = maxᵢ ‖aᵢ‖² + λ.
//!
//! **Synthetic generator**: with a ChaCha8 stream seeded by `seed`, aᵢ ~ N(0, Iₙ) row by row,
//! then x_true ~ N(0, Iₙ), then bᵢ = ⟨aᵢ, x_true⟩ + `noise`·εᵢ with εᵢ ~ N(0, 1).
//! **Real data**: the label column of a CSV/LIBSVM file is the target b.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::data::{Dataset, Format, LabelColumn};
use super::design::{Design, Span};
use super::libsvm::{LibsvmOptions, ZeroBased};
use super::logistic::{grad_norm, power_iteration_gram};
use super::solve::{self, Reference, Smooth};
use super::{Constants, Problem, ProblemError, add_l2, linalg, resolve_data_path};
use crate::scalar::Scalar;

/// Configuration of [`LeastSquares`] (`kind = "least_squares"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeastSquaresSpec {
    /// Samples of the synthetic problem (default 200; ignored with `data`).
    pub m: usize,
    /// Features of the synthetic problem (default 10; ignored with `data`).
    pub n: usize,
    /// Standard deviation of the synthetic targets' noise (default 0.1).
    pub noise: f64,
    /// ℓ2 coefficient λ ≥ 0 (default 0).
    pub l2: f64,
    /// Seed of the synthetic generator (default 0).
    pub seed: u64,
    /// Data file (CSV or LIBSVM, optionally .gz); its label column is the target (default none).
    pub data: Option<String>,
    /// Directory to find `data` in (default: `data/` of the workspace, then the current directory).
    pub data_dir: Option<String>,
    /// File format: "auto", "csv" or "libsvm" (default "auto").
    pub format: Format,
    /// CSV target column: index (−1 = last, the default) or header name.
    pub label: LabelColumn,
    /// LIBSVM index base: "auto" (default), true or false (scikit-learn's `zero_based`).
    pub zero_based: ZeroBased,
    /// LIBSVM number of features (default: the largest index in the file).
    pub n_features: Option<usize>,
    /// Standardize features to mean 0, standard deviation 1 (default false).
    pub standardize: bool,
}

impl Default for LeastSquaresSpec {
    fn default() -> Self {
        LeastSquaresSpec {
            m: 200,
            n: 10,
            noise: 0.1,
            l2: 0.0,
            seed: 0,
            data: None,
            data_dir: None,
            format: Format::Auto,
            label: LabelColumn::default(),
            zero_based: ZeroBased::Auto,
            n_features: None,
            standardize: false,
        }
    }
}

impl LeastSquaresSpec {
    /// Generates or loads the data and computes x*, f*, L, μ.
    pub fn build<T: Scalar>(&self) -> Result<LeastSquares<T>, ProblemError> {
        const P: &str = "least_squares";
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(ProblemError::invalid(P, "l2", self.l2, "finite and ≥ 0"));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(ProblemError::invalid(
                P,
                "noise",
                self.noise,
                "finite and ≥ 0",
            ));
        }
        let (x, b, source) = match &self.data {
            Some(file) => {
                let path = resolve_data_path(file, self.data_dir.as_deref())?;
                let svm = LibsvmOptions {
                    zero_based: self.zero_based,
                    n_features: self.n_features,
                    query_id: false,
                };
                let mut ds = Dataset::read(&path, self.format, &self.label, &svm)?;
                if self.standardize {
                    ds.standardize()?;
                }
                (ds.x, ds.labels, file.clone())
            }
            None => {
                if self.m == 0 {
                    return Err(ProblemError::invalid(P, "m", self.m, "≥ 1"));
                }
                if self.n == 0 || self.n > 4096 {
                    return Err(ProblemError::invalid(P, "n", self.n, "in 1..=4096"));
                }
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                let (m, n) = (self.m, self.n);
                let a: Vec<f64> = (0..m * n).map(|_| rng.sample(StandardNormal)).collect();
                let xt: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
                let b = (0..m)
                    .map(|i| {
                        let z: f64 = a[i * n..(i + 1) * n]
                            .iter()
                            .zip(&xt)
                            .map(|(a, x)| a * x)
                            .sum();
                        z + self.noise * rng.sample::<f64, _>(StandardNormal)
                    })
                    .collect();
                let x = Design::dense(m, n, a).map_err(|message| ProblemError::Numerical {
                    problem: P,
                    message,
                })?;
                (x, b, format!("synthetic, seed {}", self.seed))
            }
        };
        LeastSquares::from_design(x, b, self.l2, source)
    }
}

/// Linear least squares (see the module documentation).
#[derive(Clone, Debug)]
pub struct LeastSquares<T> {
    a: Design<T>,
    b: Vec<T>,
    l2: f64,
    constants: Constants,
    source: String,
}

/// `Σ_{i ∈ span} ½(⟨aᵢ, x⟩ − bᵢ)²` and/or `g ← w Σ (⟨aᵢ, x⟩ − bᵢ) aᵢ` in one pass.
fn residual_pass<T: Scalar>(
    a: &Design<T>,
    b: &[T],
    span: Span<'_>,
    w: T,
    x: &[T],
    g: Option<&mut [T]>,
) -> f64 {
    let coef = |part: Span<'_>, z: &mut [T]| -> f64 {
        let mut loss = 0.0;
        for (p, z) in z.iter_mut().enumerate() {
            let r = *z - b[part.sample(p)];
            loss += 0.5 * r.as_f64() * r.as_f64();
            *z = w * r;
        }
        loss
    };
    a.pass(span, 1, x, g, &coef)
}

impl<T: Scalar> LeastSquares<T> {
    /// From A (row-major m × n), b and λ; computes the exact solution and the constants.
    pub fn from_data(
        a: &[f64],
        b: &[f64],
        m: usize,
        n: usize,
        l2: f64,
        source: String,
    ) -> Result<Self, ProblemError> {
        let x = Design::dense(m, n, a.to_vec()).map_err(|message| ProblemError::Numerical {
            problem: "least_squares",
            message,
        })?;
        Self::from_design(x, b.to_vec(), l2, source)
    }

    /// From a data matrix (dense or sparse), targets and λ; computes the constants and x*, f*
    /// (see the module documentation for which method).
    pub fn from_design(
        a: Design<f64>,
        b: Vec<f64>,
        l2: f64,
        source: String,
    ) -> Result<Self, ProblemError> {
        let num = |message: &str| ProblemError::Numerical {
            problem: "least_squares",
            message: message.to_string(),
        };
        let (m, n) = (a.rows(), a.cols());
        if b.len() != m || m == 0 || n == 0 {
            return Err(num(&format!("{m} × {n} data with {} targets", b.len())));
        }
        let l_max = a.max_row_norm_sq() + l2;
        let obj = Objective { a: &a, b: &b, l2 };
        let (l_smooth, mu, f_star, x_star, reference) = match &a {
            Design::Dense { a: dense, .. } if n <= 4096 => {
                let gram = linalg::gram_over_m(dense, m, n);
                let (lo, hi) = linalg::eig_extremes(&gram)
                    .ok_or_else(|| num("eigenvalues of AᵀA/m failed"))?;
                let (x_star, method) = if l2 == 0.0 {
                    if m < n || lo <= 1e-13 * hi {
                        return Err(ProblemError::invalid(
                            "least_squares",
                            "l2",
                            l2,
                            "> 0 when A does not have full column rank (x* would not be unique)",
                        ));
                    }
                    let x = linalg::lstsq(dense, m, n, &b)
                        .ok_or_else(|| num("QR least squares failed"))?;
                    (x, "least squares by Householder QR (dense, faer)")
                } else {
                    let mut h = gram.clone();
                    for j in 0..n {
                        h[(j, j)] += l2;
                    }
                    let rhs: Vec<f64> = (0..n)
                        .map(|j| (0..m).map(|i| dense[i * n + j] * b[i]).sum::<f64>() / m as f64)
                        .collect();
                    let x = linalg::solve_spd(&h, &rhs)
                        .ok_or_else(|| num("normal equations failed"))?;
                    (x, "normal equations by Cholesky (dense, faer)")
                };
                let f_star = (0..m)
                    .map(|i| {
                        let r: f64 = dense[i * n..(i + 1) * n]
                            .iter()
                            .zip(&x_star)
                            .map(|(a, x)| a * x)
                            .sum::<f64>()
                            - b[i];
                        0.5 * r * r
                    })
                    .sum::<f64>()
                    / m as f64
                    + 0.5 * l2 * x_star.iter().map(|v| v * v).sum::<f64>();
                let mu = lo.max(0.0) + l2;
                let reference = Reference {
                    method: method.into(),
                    l_method: "extreme eigenvalues of AᵀA/m (dense, faer)".into(),
                    ..Default::default()
                }
                .certify(
                    grad_norm(&obj, &x_star),
                    grad_norm(&obj, &vec![0.0; n]),
                    mu,
                );
                (hi + l2, Some(mu), Some(f_star), Some(x_star), reference)
            }
            _ => {
                let (hi, products) = power_iteration_gram(&a);
                let s = solve::newton_cg(&obj, 1e-10, 100).map_err(|e| num(&e))?;
                let reference = Reference {
                    method: "Newton–CG: conjugate gradients on the normal equations".into(),
                    iterations: s.iterations,
                    hessian_products: Some(s.hvps),
                    l_method: format!("power iteration on AᵀA/m ({products} products)"),
                    ..Default::default()
                }
                .certify(s.grad_norm, s.grad0_norm, l2);
                let x_star = (l2 > 0.0).then_some(s.x);
                (
                    hi + l2,
                    (l2 > 0.0).then_some(l2),
                    Some(s.f),
                    x_star,
                    reference,
                )
            }
        };
        let storage = if a.is_sparse() {
            format!("; {}", a.storage())
        } else {
            String::new()
        };
        Ok(LeastSquares {
            a: a.convert(),
            b: b.iter().map(|&v| T::of(v)).collect(),
            l2,
            constants: Constants {
                l_smooth: Some(l_smooth),
                l_max: Some(l_max),
                mu,
                f_star,
                x_star,
                reference: Some(reference),
            },
            source: source + &storage,
        })
    }
}

/// The objective in f64 for the reference solve.
struct Objective<'a> {
    a: &'a Design<f64>,
    b: &'a [f64],
    l2: f64,
}

impl Smooth for Objective<'_> {
    fn dim(&self) -> usize {
        self.a.cols()
    }

    fn value(&self, x: &[f64]) -> f64 {
        let m = self.a.rows();
        residual_pass(self.a, self.b, Span::Range(0, m), 1.0, x, None) / m as f64
            + 0.5 * self.l2 * x.iter().map(|v| v * v).sum::<f64>()
    }

    fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
        let m = self.a.rows();
        let w = 1.0 / m as f64;
        let data = residual_pass(self.a, self.b, Span::Range(0, m), w, x, Some(g));
        add_l2(self.l2, x, g);
        data * w + 0.5 * self.l2 * x.iter().map(|v| v * v).sum::<f64>()
    }

    fn curvature(&self, _x: &[f64]) -> Vec<f64> {
        Vec::new()
    }

    fn hvp(&self, _: &[f64], v: &[f64], out: &mut [f64]) {
        let m = self.a.rows();
        let w = 1.0 / m as f64;
        let scale = |_: Span<'_>, z: &mut [f64]| -> f64 {
            z.iter_mut().for_each(|z| *z *= w);
            0.0
        };
        self.a.pass(Span::Range(0, m), 1, v, Some(out), &scale);
        add_l2(self.l2, v, out);
    }
}

impl<T: Scalar> Problem<T> for LeastSquares<T> {
    fn describe(&self) -> String {
        format!(
            "least squares (m = {}, n = {}, λ = {}; {})",
            self.a.rows(),
            self.a.cols(),
            self.l2,
            self.source
        )
    }

    fn num_samples(&self) -> usize {
        self.a.rows()
    }

    fn dim(&self) -> usize {
        self.a.cols()
    }

    fn l2(&self) -> f64 {
        self.l2
    }

    /// ℓᵢ(x) = ½(⟨aᵢ, x⟩ − bᵢ)².
    fn sample_loss(&self, x: &[T], i: usize) -> T {
        let r = self.a.row(i).dot(x) - self.b[i];
        T::of(0.5) * r * r
    }

    /// ∇ℓᵢ(x) = (⟨aᵢ, x⟩ − bᵢ) aᵢ.
    fn add_sample_grad(&self, x: &[T], i: usize, w: T, g: &mut [T]) {
        let row = self.a.row(i);
        let r = row.dot(x) - self.b[i];
        row.axpy(w * r, g);
    }

    fn constants(&self) -> &Constants {
        &self.constants
    }

    fn loss(&self, x: &[T]) -> T {
        let m = self.a.rows();
        let data = residual_pass(&self.a, &self.b, Span::Range(0, m), T::one(), x, None);
        T::of(data / m as f64) + T::of(0.5 * self.l2) * crate::kernels::norm2_sq(x)
    }

    fn grad(&self, x: &[T], g: &mut [T]) -> usize {
        let m = self.a.rows();
        let w = T::one() / T::of(m as f64);
        residual_pass(&self.a, &self.b, Span::Range(0, m), w, x, Some(g));
        add_l2(self.l2, x, g);
        m
    }

    fn batch_grad(&self, x: &[T], batch: &[usize], g: &mut [T]) {
        if let [i] = batch {
            g.iter_mut().for_each(|v| *v = T::zero());
            self.add_sample_grad(x, *i, T::one(), g);
        } else {
            let w = T::one() / T::of(batch.len().max(1) as f64);
            residual_pass(&self.a, &self.b, Span::Batch(batch), w, x, Some(g));
        }
        add_l2(self.l2, x, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::check;

    #[test]
    fn gradients_and_exact_solution() {
        for l2 in [0.0, 0.5] {
            let p = LeastSquaresSpec {
                l2,
                ..Default::default()
            }
            .build::<f64>()
            .unwrap();
            let x: Vec<f64> = (0..10).map(|j| (j as f64 * 0.7).sin()).collect();
            check::all_gradients(&p, &x, 1e-7);
            let c = p.constants();
            let xs = c.x_star.clone().unwrap();
            let mut g = vec![0.0; 10];
            p.grad(&xs, &mut g);
            assert!(crate::kernels::norm2(&g) < 1e-13, "∇f(x*) = {g:?}");
            assert!((p.loss(&xs) - c.f_star.unwrap()).abs() < 1e-15);
            // the quadratic's curvature along any direction lies in [μ, L]
            let d = [1.0, -2.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 3.0, -1.0];
            let y: Vec<f64> = xs.iter().zip(&d).map(|(a, b)| a + b).collect();
            let curv = 2.0 * (p.loss(&y) - p.loss(&xs)) / d.iter().map(|v| v * v).sum::<f64>();
            assert!(curv >= c.mu.unwrap() - 1e-12 && curv <= c.l_smooth.unwrap() + 1e-12);
        }
    }

    #[test]
    fn underdetermined_without_l2_is_an_error() {
        let e = LeastSquaresSpec {
            m: 5,
            n: 10,
            ..Default::default()
        }
        .build::<f64>()
        .unwrap_err();
        assert!(e.to_string().contains("`l2`"), "{e}");
        assert!(
            LeastSquaresSpec {
                m: 5,
                n: 10,
                l2: 0.1,
                ..Default::default()
            }
            .build::<f32>()
            .is_ok()
        );
    }
}
