//! Linear least squares
//!
//! ```text
//! f(x) = (1/2m) ‖Ax − b‖² + (λ/2)‖x‖² = (1/m) Σᵢ [ ½(⟨aᵢ, x⟩ − bᵢ)² + (λ/2)‖x‖² ]
//! ∇fᵢ(x) = (⟨aᵢ, x⟩ − bᵢ) aᵢ + λ x
//! ```
//!
//! **Constants.** L = λ_max(AᵀA/m) + λ and μ = λ_min(AᵀA/m) + λ (faer's symmetric eigenvalue
//! solver), L_max = maxᵢ ‖aᵢ‖² + λ. x* is exact: Householder QR least squares of `A x ≈ b` when
//! λ = 0 (A must have full column rank), else a Cholesky solve of (AᵀA/m + λI) x = Aᵀb/m;
//! f* = f(x*) in f64.
//!
//! **Synthetic generator**: with a ChaCha8 stream seeded by `seed`, aᵢ ~ N(0, Iₙ) row by row,
//! then x_true ~ N(0, Iₙ), then bᵢ = ⟨aᵢ, x_true⟩ + `noise`·εᵢ with εᵢ ~ N(0, 1).
//! **Real data**: the label column of a CSV/LIBSVM file is the target b.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::data::{Dataset, Format, LabelColumn};
use super::{Constants, Problem, ProblemError, linalg, resolve_data_path};
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
        let (a, b, m, n, source) = match &self.data {
            Some(file) => {
                let path = resolve_data_path(file, self.data_dir.as_deref())?;
                let mut ds = Dataset::read(&path, self.format, &self.label)?;
                if self.standardize {
                    ds.standardize();
                }
                (ds.features, ds.labels, ds.rows, ds.cols, file.clone())
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
                (a, b, m, n, format!("synthetic, seed {}", self.seed))
            }
        };
        LeastSquares::from_data(&a, &b, m, n, self.l2, source)
    }
}

/// Linear least squares (see the module documentation).
#[derive(Clone, Debug)]
pub struct LeastSquares<T> {
    a: Vec<T>,
    b: Vec<T>,
    m: usize,
    n: usize,
    l2: f64,
    constants: Constants,
    source: String,
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
        let num = |message: &str| ProblemError::Numerical {
            problem: "least_squares",
            message: message.to_string(),
        };
        let gram = linalg::gram_over_m(a, m, n);
        let (lo, hi) =
            linalg::eig_extremes(&gram).ok_or_else(|| num("eigenvalues of AᵀA/m failed"))?;
        let x_star = if l2 == 0.0 {
            if m < n || lo <= 1e-13 * hi {
                return Err(ProblemError::invalid(
                    "least_squares",
                    "l2",
                    l2,
                    "> 0 when A does not have full column rank (x* would not be unique)",
                ));
            }
            linalg::lstsq(a, m, n, b).ok_or_else(|| num("QR least squares failed"))?
        } else {
            let mut h = gram.clone();
            for j in 0..n {
                h[(j, j)] += l2;
            }
            let rhs: Vec<f64> = (0..n)
                .map(|j| (0..m).map(|i| a[i * n + j] * b[i]).sum::<f64>() / m as f64)
                .collect();
            linalg::solve_spd(&h, &rhs).ok_or_else(|| num("normal equations failed"))?
        };
        let f_star = (0..m)
            .map(|i| {
                let r: f64 = a[i * n..(i + 1) * n]
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
        let l_max = (0..m)
            .map(|i| a[i * n..(i + 1) * n].iter().map(|v| v * v).sum::<f64>())
            .fold(0.0f64, f64::max)
            + l2;
        Ok(LeastSquares {
            a: a.iter().map(|&v| T::of(v)).collect(),
            b: b.iter().map(|&v| T::of(v)).collect(),
            m,
            n,
            l2,
            constants: Constants {
                l_smooth: Some(hi + l2),
                l_max: Some(l_max),
                mu: Some(lo.max(0.0) + l2),
                f_star: Some(f_star),
                x_star: Some(x_star),
            },
            source,
        })
    }
}

impl<T: Scalar> Problem<T> for LeastSquares<T> {
    fn describe(&self) -> String {
        format!(
            "least squares (m = {}, n = {}, λ = {}; {})",
            self.m, self.n, self.l2, self.source
        )
    }

    fn num_samples(&self) -> usize {
        self.m
    }

    fn dim(&self) -> usize {
        self.n
    }

    fn l2(&self) -> f64 {
        self.l2
    }

    /// ℓᵢ(x) = ½(⟨aᵢ, x⟩ − bᵢ)².
    fn sample_loss(&self, x: &[T], i: usize) -> T {
        let r = crate::kernels::dot(&self.a[i * self.n..(i + 1) * self.n], x) - self.b[i];
        T::of(0.5) * r * r
    }

    /// ∇ℓᵢ(x) = (⟨aᵢ, x⟩ − bᵢ) aᵢ.
    fn add_sample_grad(&self, x: &[T], i: usize, w: T, g: &mut [T]) {
        let a = &self.a[i * self.n..(i + 1) * self.n];
        let r = crate::kernels::dot(a, x) - self.b[i];
        let c = w * r;
        for (g, &a) in g.iter_mut().zip(a) {
            *g = *g + c * a;
        }
    }

    fn constants(&self) -> &Constants {
        &self.constants
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
