//! Finite-sum problems `f(x) = (λ/2)‖x‖² + (1/m) Σᵢ ℓᵢ(x)`.
//!
//! A [`Problem`] exposes the number of samples `m`, the dimension, the per-sample data terms `ℓᵢ`
//! and their gradients; the full objective, its gradient and mini-batch gradients are provided
//! methods built on them, with the ℓ2 term `(λ/2)‖x‖²` ([`Problem::l2`]) added exactly once.
//! Each sample's function is `fᵢ(x) = (λ/2)‖x‖² + ℓᵢ(x)`, so `f = (1/m) Σ fᵢ` and the mean of the
//! per-sample gradients is the full gradient. Where known, [`Constants`] give L, μ, f* and x*.
//!
//! Reductions over samples (the loss, a full or mini-batch gradient) use a fixed chunking of the
//! sample list and add the chunk results in order, in parallel on rayon when the work is large
//! enough to pay for it: their value never depends on the number of threads.
//!
//! Problems: [`logistic`] (ℓ2-regularized binary logistic regression, synthetic or from a CSV /
//! LIBSVM file), [`least_squares`], [`softmax`] (multinomial regression) and the 2D test functions
//! of [`testfn`]. Data files are read by [`data`]; [`ProblemSpec`] builds any of them from a
//! configuration table (`kind = "logistic"`, ...).

pub mod data;
pub mod design;
pub mod least_squares;
pub mod libsvm;
mod linalg;
pub mod logistic;
pub mod small;
pub mod softmax;
mod solve;
pub mod testfn;
pub(crate) mod vmath;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::scalar::Scalar;
pub use solve::Reference;

/// What can go wrong when building a problem: bad configuration, unreadable or malformed data,
/// a failed reference solve.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ProblemError {
    /// A configuration field outside its allowed range.
    #[error("problem `{problem}`: invalid `{field}` = {value}: must be {allowed}")]
    Invalid {
        /// Problem kind.
        problem: &'static str,
        /// Field name.
        field: &'static str,
        /// The value given.
        value: String,
        /// Allowed values.
        allowed: String,
    },
    /// A data file that cannot be read.
    #[error("cannot read data file {file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// The system's message.
        message: String,
    },
    /// A malformed data file: the file, the 1-based line and what is wrong.
    #[error("{file}:{line}: {message}")]
    Data {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A data file that cannot be found in any of the searched locations.
    #[error("data file `{file}` not found; looked in: {tried}")]
    NotFound {
        /// The name given.
        file: String,
        /// The locations tried.
        tried: String,
    },
    /// The reference solver (Newton, least squares, eigenvalues) failed.
    #[error("problem `{problem}`: {message}")]
    Numerical {
        /// Problem kind.
        problem: &'static str,
        /// What failed.
        message: String,
    },
}

impl ProblemError {
    pub(crate) fn invalid(
        problem: &'static str,
        field: &'static str,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        ProblemError::Invalid {
            problem,
            field,
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}

/// Known constants of a problem (each `None` where not known or not defined).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Constants {
    /// Smoothness constant L of f (Lipschitz constant of ∇f).
    #[serde(rename = "L")]
    pub l_smooth: Option<f64>,
    /// Largest smoothness constant of the sample functions fᵢ (SGD step-size theory).
    #[serde(rename = "L_max")]
    pub l_max: Option<f64>,
    /// Strong convexity constant μ of f.
    pub mu: Option<f64>,
    /// Optimal value f* = min f.
    pub f_star: Option<f64>,
    /// The minimizer x* (flattened).
    pub x_star: Option<Vec<f64>>,
    /// How f* and x* (and L) were computed, with the gradient norm at x* as a certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// A finite-sum objective `f(x) = (λ/2)‖x‖² + (1/m) Σᵢ ℓᵢ(x)` over a flat parameter vector.
///
/// Implementors give the data terms `ℓᵢ` ([`sample_loss`](Problem::sample_loss)) and their
/// gradients ([`add_sample_grad`](Problem::add_sample_grad)); everything else is provided.
pub trait Problem<T: Scalar>: Send + Sync {
    /// Short description, e.g. `"logistic regression (m = 200, n = 10, μ = 1)"`.
    fn describe(&self) -> String;

    /// Number of samples m.
    fn num_samples(&self) -> usize;

    /// Number of parameters (length of x).
    fn dim(&self) -> usize;

    /// Shape of the parameter (`[dim]` for a vector; `[classes, features]` for softmax).
    fn shape(&self) -> Vec<usize> {
        vec![self.dim()]
    }

    /// The ℓ2 coefficient λ of `(λ/2)‖x‖²` (0 when none).
    fn l2(&self) -> f64 {
        0.0
    }

    /// The data term `ℓᵢ(x)` of sample `i < m`.
    fn sample_loss(&self, x: &[T], i: usize) -> T;

    /// `g ← g + w ∇ℓᵢ(x)` for sample `i < m`.
    fn add_sample_grad(&self, x: &[T], i: usize, w: T, g: &mut [T]);

    /// Whether sample `i < m` is classified correctly at `x` (`None`: not a classification
    /// problem). Logistic regression: yᵢ⟨aᵢ, x⟩ > 0; softmax: the first largest score is yᵢ's.
    fn sample_correct(&self, _x: &[T], _i: usize) -> Option<bool> {
        None
    }

    /// L, L_max, μ, f*, x* where known.
    fn constants(&self) -> &Constants;

    /// Standard deviation σ of the additive Gaussian noise on each coordinate of a per-sample
    /// gradient (0: exact gradients); an oracle's batch of b samples carries σ/√b. Used by the 2D
    /// test functions to make them stochastic.
    fn grad_noise(&self) -> f64 {
        0.0
    }

    /// The starting point x₀ (default: zeros).
    fn x0(&self) -> Vec<T> {
        vec![T::zero(); self.dim()]
    }

    /// f(x), summed in fixed chunks of samples (thread-count independent).
    fn loss(&self, x: &[T]) -> T {
        let m = self.num_samples();
        let data = chunked_sum(m, self.dim(), |r| {
            r.fold(T::zero(), |s, i| s + self.sample_loss(x, i))
        });
        let l2 = T::of(self.l2());
        data / T::of(m as f64) + T::of(0.5) * l2 * crate::kernels::norm2_sq(x)
    }

    /// fᵢ(x) = (λ/2)‖x‖² + ℓᵢ(x).
    fn sample_value(&self, x: &[T], i: usize) -> T {
        self.sample_loss(x, i) + T::of(0.5 * self.l2()) * crate::kernels::norm2_sq(x)
    }

    /// `g ← ∇fᵢ(x)`.
    fn sample_grad(&self, x: &[T], i: usize, g: &mut [T]) {
        self.batch_grad(x, &[i], g);
    }

    /// `g ← (1/|B|) Σ_{i∈B} ∇fᵢ(x)` for a batch of sample indices (repeats allowed).
    fn batch_grad(&self, x: &[T], batch: &[usize], g: &mut [T]) {
        let n = self.dim();
        let w = T::one() / T::of(batch.len().max(1) as f64);
        chunked_grad(batch.len(), n, g, |range, acc| {
            for &i in &batch[range] {
                self.add_sample_grad(x, i, w, acc);
            }
        });
        add_l2(self.l2(), x, g);
    }

    /// f(x), and `g ← ∇f(x)` (what a logged record needs): [`grad`](Problem::grad) then
    /// [`loss`](Problem::loss) unless a problem computes both in one pass over the data (with
    /// the same values).
    fn loss_grad(&self, x: &[T], g: &mut [T]) -> T {
        self.grad(x, g);
        self.loss(x)
    }

    /// `g ← ∇f(x)`; returns the number of per-sample gradients evaluated (m).
    fn grad(&self, x: &[T], g: &mut [T]) -> usize {
        let m = self.num_samples();
        let n = self.dim();
        let w = T::one() / T::of(m as f64);
        chunked_grad(m, n, g, |range, acc| {
            for i in range {
                self.add_sample_grad(x, i, w, acc);
            }
        });
        add_l2(self.l2(), x, g);
        m
    }
}

/// `g ← g + λ x`.
pub(crate) fn add_l2<T: Scalar>(l2: f64, x: &[T], g: &mut [T]) {
    if l2 != 0.0 {
        let l = T::of(l2);
        for (g, &x) in g.iter_mut().zip(x) {
            *g = *g + l * x;
        }
    }
}

/// Samples per work item of a parallel reduction.
pub const SAMPLE_CHUNK: usize = 64;

/// Below this much work (samples × dimension) a reduction runs serially in one pass.
pub const PAR_WORK: usize = 1 << 15;

/// Deterministic sum of `f(range)` over the samples `0..len`: one serial pass when the work is
/// small, else fixed chunks of [`SAMPLE_CHUNK`] samples on rayon, added in chunk order.
pub fn chunked_sum<T: Scalar>(
    len: usize,
    dim: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync,
) -> T {
    if len.saturating_mul(dim.max(1)) < PAR_WORK || len <= SAMPLE_CHUNK {
        return f(0..len);
    }
    let chunks = len.div_ceil(SAMPLE_CHUNK);
    let partials: Vec<T> = (0..chunks)
        .into_par_iter()
        .map(|c| f(c * SAMPLE_CHUNK..((c + 1) * SAMPLE_CHUNK).min(len)))
        .collect();
    partials.into_iter().fold(T::zero(), |a, b| a + b)
}

/// Deterministic vector reduction: `g ← Σ_chunks acc(chunk)`, where `add(range, acc)` adds the
/// contributions of the samples in `range` to `acc`. Serial in one pass for small work, else fixed
/// chunks on rayon whose partial vectors are added in chunk order.
pub fn chunked_grad<T: Scalar>(
    len: usize,
    dim: usize,
    g: &mut [T],
    add: impl Fn(std::ops::Range<usize>, &mut [T]) + Sync,
) {
    g.iter_mut().for_each(|v| *v = T::zero());
    if len.saturating_mul(dim.max(1)) < PAR_WORK || len <= SAMPLE_CHUNK {
        add(0..len, g);
        return;
    }
    let chunks = len.div_ceil(SAMPLE_CHUNK);
    let partials: Vec<Vec<T>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut acc = vec![T::zero(); dim];
            add(
                c * SAMPLE_CHUNK..((c + 1) * SAMPLE_CHUNK).min(len),
                &mut acc,
            );
            acc
        })
        .collect();
    for p in partials {
        for (g, v) in g.iter_mut().zip(p) {
            *g = *g + v;
        }
    }
}

/// Numerically stable `log(1 + exp(u))`.
#[inline]
pub fn softplus<T: Scalar>(u: T) -> T {
    u.max(T::zero()) + (-u.abs()).exp().ln_1p()
}

/// Numerically stable logistic function `σ(u) = 1 / (1 + exp(−u))`.
#[inline]
pub fn sigmoid<T: Scalar>(u: T) -> T {
    if u >= T::zero() {
        T::one() / (T::one() + (-u).exp())
    } else {
        let e = u.exp();
        e / (T::one() + e)
    }
}

/// Where a problem's data file is: [`datafile::resolve`](crate::datafile::resolve) (the one
/// lookup of the lab: `data_dir` when given; else the current directory, `data/`, then the
/// vendored `data/` of the optlab source tree).
pub fn resolve_data_path(file: &str, data_dir: Option<&str>) -> Result<PathBuf, ProblemError> {
    crate::datafile::resolve(Path::new(file), data_dir.map(Path::new)).map_err(|e| match e {
        crate::datafile::DataFileError::NotFound { file, tried } => {
            ProblemError::NotFound { file, tried }
        }
        crate::datafile::DataFileError::Io { path, source } => ProblemError::Io {
            file: path.display().to_string(),
            message: source.to_string(),
        },
    })
}

/// A problem described in a configuration file: `kind` plus the problem's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProblemSpec {
    /// ℓ2-regularized binary logistic regression ([`logistic::LogisticSpec`]).
    #[serde(alias = "logreg", alias = "LogisticRegression")]
    Logistic(logistic::LogisticSpec),
    /// Linear least squares ([`least_squares::LeastSquaresSpec`]).
    #[serde(alias = "LeastSquares")]
    LeastSquares(least_squares::LeastSquaresSpec),
    /// Multinomial (softmax) regression ([`softmax::SoftmaxSpec`]).
    #[serde(alias = "SoftmaxRegression")]
    Softmax(softmax::SoftmaxSpec),
    /// Rosenbrock's banana ([`testfn::RosenbrockSpec`]).
    #[serde(alias = "Rosenbrock")]
    Rosenbrock(testfn::RosenbrockSpec),
    /// Rastrigin's function ([`testfn::RastriginSpec`]).
    #[serde(alias = "Rastrigin")]
    Rastrigin(testfn::RastriginSpec),
    /// Ill-conditioned quadratic ([`testfn::QuadraticSpec`]).
    #[serde(alias = "Quadratic")]
    Quadratic(testfn::QuadraticSpec),
    /// Beale's function ([`testfn::BealeSpec`]).
    #[serde(alias = "Beale")]
    Beale(testfn::BealeSpec),
    /// Himmelblau's function ([`testfn::HimmelblauSpec`]).
    #[serde(alias = "Himmelblau")]
    Himmelblau(testfn::HimmelblauSpec),
    /// The lecture's double well along x, a valley along y ([`testfn::TwoWellSpec`]).
    #[serde(alias = "TwoWell")]
    TwoWell(testfn::TwoWellSpec),
    /// The lecture's scalar double well as a finite sum of 2 ([`testfn::DoubleWellSpec`]).
    #[serde(alias = "DoubleWell")]
    DoubleWell(testfn::DoubleWellSpec),
}

impl Default for ProblemSpec {
    fn default() -> Self {
        ProblemSpec::Logistic(logistic::LogisticSpec::default())
    }
}

impl ProblemSpec {
    /// Builds the problem in precision `T` (constants are always computed in f64).
    pub fn build<T: Scalar>(&self) -> Result<Box<dyn Problem<T>>, ProblemError> {
        Ok(match self {
            ProblemSpec::Logistic(s) => Box::new(s.build::<T>()?),
            ProblemSpec::LeastSquares(s) => Box::new(s.build::<T>()?),
            ProblemSpec::Softmax(s) => Box::new(s.build::<T>()?),
            ProblemSpec::Rosenbrock(s) => Box::new(s.build()?),
            ProblemSpec::Rastrigin(s) => Box::new(s.build()?),
            ProblemSpec::Quadratic(s) => Box::new(s.build()?),
            ProblemSpec::Beale(s) => Box::new(s.build()?),
            ProblemSpec::Himmelblau(s) => Box::new(s.build()?),
            ProblemSpec::TwoWell(s) => Box::new(s.build()?),
            ProblemSpec::DoubleWell(s) => Box::new(s.build()?),
        })
    }

    /// The `kind` name.
    pub fn kind(&self) -> &'static str {
        match self {
            ProblemSpec::Logistic(_) => "logistic",
            ProblemSpec::LeastSquares(_) => "least_squares",
            ProblemSpec::Softmax(_) => "softmax",
            ProblemSpec::Rosenbrock(_) => "rosenbrock",
            ProblemSpec::Rastrigin(_) => "rastrigin",
            ProblemSpec::Quadratic(_) => "quadratic",
            ProblemSpec::Beale(_) => "beale",
            ProblemSpec::Himmelblau(_) => "himmelblau",
            ProblemSpec::TwoWell(_) => "two_well",
            ProblemSpec::DoubleWell(_) => "double_well",
        }
    }
}

/// What `optlab list` shows about a problem kind.
#[derive(Clone, Copy, Debug)]
pub struct ProblemInfo {
    /// The `kind` name.
    pub kind: &'static str,
    /// One line: what it is.
    pub summary: &'static str,
    /// The parameters with their defaults, as a JSON object.
    pub defaults: fn() -> serde_json::Value,
}

fn to_json<S: Serialize>(s: S) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or(serde_json::Value::Null)
}

/// Every problem kind that can be named in an experiment.
pub const CATALOG: &[ProblemInfo] = &[
    ProblemInfo {
        kind: "logistic",
        summary: "ℓ2-regularized binary logistic regression (synthetic, or CSV/LIBSVM data with labels {0,1} or {−1,+1})",
        defaults: || to_json(logistic::LogisticSpec::default()),
    },
    ProblemInfo {
        kind: "least_squares",
        summary: "linear least squares (1/2m)‖Ax − b‖² (+ optional ℓ2), synthetic or from data",
        defaults: || to_json(least_squares::LeastSquaresSpec::default()),
    },
    ProblemInfo {
        kind: "softmax",
        summary: "multinomial softmax regression, parameter classes × features (synthetic or data, e.g. digits.csv.gz)",
        defaults: || to_json(softmax::SoftmaxSpec::default()),
    },
    ProblemInfo {
        kind: "rosenbrock",
        summary: "2D Rosenbrock (a − x)² + b (y − x²)², minimum 0 at (a, a²)",
        defaults: || to_json(testfn::RosenbrockSpec::default()),
    },
    ProblemInfo {
        kind: "rastrigin",
        summary: "2D Rastrigin 2A + Σ (xᵢ² − A cos 2πxᵢ), global minimum 0 at the origin",
        defaults: || to_json(testfn::RastriginSpec::default()),
    },
    ProblemInfo {
        kind: "quadratic",
        summary: "2D ill-conditioned quadratic ½(x² + κ y²), L = κ, μ = 1, minimum 0 at the origin",
        defaults: || to_json(testfn::QuadraticSpec::default()),
    },
    ProblemInfo {
        kind: "beale",
        summary: "2D Beale function, minimum 0 at (3, 0.5)",
        defaults: || to_json(testfn::BealeSpec::default()),
    },
    ProblemInfo {
        kind: "himmelblau",
        summary: "2D Himmelblau (x² + y − 11)² + (x + y² − 7)², four global minima 0 (one at (3, 2))",
        defaults: || to_json(testfn::HimmelblauSpec::default()),
    },
    ProblemInfo {
        kind: "two_well",
        summary: "2D two-well (x² − 1)² + t x + y²: the lecture's double well along x (global and local minimum)",
        defaults: || to_json(testfn::TwoWellSpec::default()),
    },
    ProblemInfo {
        kind: "double_well",
        summary: "1D double well (x² − 1)² + t x as the finite sum ½Σ (f(x) ± σx): the lecture's scalar stories",
        defaults: || to_json(testfn::DoubleWellSpec::default()),
    },
];

/// Central finite-difference gradient check helpers shared by the problems' tests.
#[cfg(test)]
pub(crate) mod check {
    use super::Problem;

    /// Max relative error between `grad` and a central difference of `f` at `x`.
    pub fn fd_error(f: impl Fn(&[f64]) -> f64, grad: &[f64], x: &[f64]) -> f64 {
        let mut worst = 0.0f64;
        let scale = grad.iter().fold(1e-8f64, |a, g| a.max(g.abs()));
        let mut y = x.to_vec();
        for j in 0..x.len() {
            let h = 1e-6 * (1.0 + x[j].abs());
            y[j] = x[j] + h;
            let fp = f(&y);
            y[j] = x[j] - h;
            let fm = f(&y);
            y[j] = x[j];
            let fd = (fp - fm) / (2.0 * h);
            worst = worst.max((fd - grad[j]).abs() / scale);
        }
        worst
    }

    /// Checks full, per-sample and mini-batch gradients of `p` at `x` against finite differences,
    /// and that the mean of the per-sample gradients is the full gradient.
    pub fn all_gradients(p: &dyn Problem<f64>, x: &[f64], tol: f64) {
        let n = p.dim();
        let m = p.num_samples();
        let mut g = vec![0.0; n];
        assert_eq!(p.grad(x, &mut g), m);
        let e = fd_error(|y| p.loss(y), &g, x);
        assert!(e < tol, "full gradient: finite-difference error {e:e}");
        let mut mean = vec![0.0; n];
        let mut gi = vec![0.0; n];
        for i in 0..m {
            p.sample_grad(x, i, &mut gi);
            if i < 3 {
                let e = fd_error(|y| p.sample_value(y, i), &gi, x);
                assert!(e < tol, "sample {i}: finite-difference error {e:e}");
            }
            for (a, b) in mean.iter_mut().zip(&gi) {
                *a += b / m as f64;
            }
        }
        let scale = g.iter().fold(1e-12f64, |a, v| a.max(v.abs()));
        for (a, b) in mean.iter().zip(&g) {
            assert!(
                (a - b).abs() <= 1e-12 * scale,
                "mean of sample gradients {a} vs {b}"
            );
        }
        let batch: Vec<usize> = (0..m.min(7)).chain([0]).collect();
        let mut gb = vec![0.0; n];
        p.batch_grad(x, &batch, &mut gb);
        let fb = |y: &[f64]| {
            batch.iter().map(|&i| p.sample_value(y, i)).sum::<f64>() / batch.len() as f64
        };
        let e = fd_error(fb, &gb, x);
        assert!(
            e < tol,
            "mini-batch gradient: finite-difference error {e:e}"
        );
        let mean_f: f64 = (0..m).map(|i| p.sample_value(x, i)).sum::<f64>() / m as f64;
        let f = p.loss(x);
        assert!(
            (mean_f - f).abs() <= 1e-12 * (1.0 + f.abs()),
            "{mean_f} vs {f}"
        );
    }
}
