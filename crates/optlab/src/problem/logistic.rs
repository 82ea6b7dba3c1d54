//! ℓ2-regularized binary logistic regression
//!
//! ```text
//! f(x) = (μ/2)‖x‖² + (1/m) Σᵢ log(1 + exp(−yᵢ⟨aᵢ, x⟩)),   yᵢ ∈ {−1, +1}
//! ∇fᵢ(x) = μ x − yᵢ σ(−yᵢ⟨aᵢ, x⟩) aᵢ,                      σ(u) = 1/(1 + e^{−u})
//! ∇f(x)  = μ x + Aᵀs / m,   sᵢ = −yᵢ σ(−yᵢ (Ax)ᵢ)
//! ```
//!
//! `log(1 + e^u)` is evaluated as `max(u, 0) + log1p(e^{−|u|})` and σ without overflow.
//!
//! **Gradients.** The full gradient is one pass over the data ([`Design::pass`]): `z = Ax`
//! (faer matrix–vector products on blocks of dense rows, or sparse rows), the vectorized σ of
//! [`vmath`](super::vmath), then `Aᵀs`; mini-batches gather their rows the same way. A single
//! sample (SGD with batch size 1) keeps the direct path: one dot product, one σ, one axpy.
//!
//! **Constants.** L = λ_max(AᵀA)/(4m) + μ (σ' ≤ 1/4), L_max = maxᵢ ‖aᵢ‖²/4 + μ, μ from the
//! regularizer. Two ways to f*, x* and λ_max, recorded in [`Constants::reference`]:
//!
//! - *dense and small* (dense data, n ≤ 4096 and m·n² ≤ 2²⁶): λ_max from faer's symmetric
//!   eigensolver on AᵀA/m; f* and x* from damped Newton's method on the full objective in f64
//!   (Cholesky solves of the Hessian μI + (1/m) Σ σ(zᵢ)σ(−zᵢ) aᵢaᵢᵀ, Armijo backtracking,
//!   stopped when the Newton decrement λ² = ∇fᵀH⁻¹∇f falls below 1e-28 or, in the region of
//!   quadratic convergence (λ² < 1e-8, full steps), stops shrinking — the rounding floor — so f*
//!   is accurate to the rounding of f). With μ = 0 (convex, not strongly convex: μ is left
//!   unknown) the minimizer exists only if the data are not separable; Newton's point x̂ is kept
//!   as x* only with a certificate of that (see [`minimizer_certified`]), else f* and x* are left
//!   unknown.
//! - *matrix-free* (sparse data, or larger): λ_max by power iteration on AᵀA/m; f* and x* by
//!   Newton–CG with Hessian–vector products `μv + Aᵀ(d ⊙ Av)/m`, `dᵢ = σ(zᵢ)σ(−zᵢ)`, to
//!   `‖∇f‖ ≤ 1e-10 ‖∇f(0)‖` ([`solve`](super::solve)); certified by `f(x*) − f* ≤ ‖∇f(x*)‖²/(2μ)`.
//!   Only for μ > 0 (with μ = 0 the certificate of the dense path is not available, and f*, x*
//!   are left unknown).
//!
//! **Synthetic generators** (the lecture's setting: m = 200, n = 10, μ = 1): with a ChaCha8
//! stream seeded by `seed`, draw the features aᵢ ~ N(0, Iₙ) (row by row), then a ground truth
//! x_true ~ N(0, Iₙ), then labels yᵢ = +1 with probability σ(⟨aᵢ, x_true⟩), else −1.
//! [`synthetic_sparse`] draws LIBSVM-like sparse rows instead (text-like: a fixed number of
//! non-zeros per row at uniformly random columns, positive values scaled to unit norm).
//!
//! **Real data**: `data = "breast_cancer.csv"` (CSV, held dense) or a LIBSVM file (held sparse;
//! `zero_based`, `n_features` as in scikit-learn). Labels: `labels = "auto"` ({0, 1} with
//! 0 ↦ −1, or {−1, +1}), `"zero_one"`, `"plus_minus_one"` or `[negative, positive]`; anything
//! else is an error naming the file and line. `standardize = true` rescales every feature to mean
//! 0 and standard deviation 1 over the data set (recommended for raw measurements such as
//! breast_cancer.csv, whose features span five orders of magnitude; it makes sparse data dense).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::data::{BinaryLabels, Dataset, Format, LabelColumn};
use super::design::{Design, Span};
use super::libsvm::{LibsvmOptions, ZeroBased};
use super::small::{self, Coefficients};
use super::solve::{self, Reference, Smooth};
use super::{
    Constants, Problem, ProblemError, add_l2, linalg, resolve_data_path, sigmoid, softplus, vmath,
};
use crate::scalar::Scalar;

/// Dense data up to this much Hessian work (m · n²) gets the dense Newton reference solve.
pub const DENSE_NEWTON_WORK: usize = 1 << 26;

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
    /// Label map: "auto" (default), "zero_one", "plus_minus_one" or [negative, positive].
    pub labels: BinaryLabels,
    /// LIBSVM index base: "auto" (default), true or false (scikit-learn's `zero_based`).
    pub zero_based: ZeroBased,
    /// LIBSVM number of features (default: the largest index in the file).
    pub n_features: Option<usize>,
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
            labels: BinaryLabels::default(),
            zero_based: ZeroBased::Auto,
            n_features: None,
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
        let (x, y, source) = match &self.data {
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
                let y = ds.binary_labels(&self.labels)?;
                (ds.x, y, file.clone())
            }
            None => {
                if self.m == 0 {
                    return Err(ProblemError::invalid(P, "m", self.m, "≥ 1"));
                }
                if self.n == 0 {
                    return Err(ProblemError::invalid(P, "n", self.n, "≥ 1"));
                }
                if self
                    .m
                    .checked_mul(self.n)
                    .is_none_or(|mn| mn > super::data::DENSIFY_MAX)
                {
                    return Err(ProblemError::invalid(
                        P,
                        "m · n",
                        format!("{} · {}", self.m, self.n),
                        format!("≤ {} for synthetic dense data", super::data::DENSIFY_MAX),
                    ));
                }
                let (a, y) = synthetic(self.m, self.n, self.seed);
                let x = Design::dense(self.m, self.n, a).map_err(|message| {
                    ProblemError::Numerical {
                        problem: P,
                        message,
                    }
                })?;
                (x, y, format!("synthetic, seed {}", self.seed))
            }
        };
        LogisticRegression::from_design(x, y, self.mu, source)
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

/// Sparse synthetic data like a text corpus in LIBSVM form: with a ChaCha8 stream seeded by
/// `seed`, each of the m rows has `nnz_per_row` (≤ n) distinct uniformly random columns with
/// values uniform in (0, 1], scaled to unit ℓ2 norm; then x_true ~ N(0, Iₙ) · √(n / nnz_per_row)
/// and labels yᵢ = +1 with probability σ(⟨aᵢ, x_true⟩), else −1. Returns CSR arrays
/// (row_ptr, col_idx, values) and the labels.
pub fn synthetic_sparse(
    m: usize,
    n: usize,
    nnz_per_row: usize,
    seed: u64,
) -> (Vec<u32>, Vec<u32>, Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = nnz_per_row.min(n);
    let mut row_ptr = Vec::with_capacity(m + 1);
    let mut col_idx = Vec::with_capacity(m * k);
    let mut values = Vec::with_capacity(m * k);
    row_ptr.push(0u32);
    let mut cols: Vec<u32> = Vec::with_capacity(k);
    for _ in 0..m {
        cols.clear();
        while cols.len() < k {
            cols.push(rng.random_range(0..n as u32));
            if cols.len() == k {
                cols.sort_unstable();
                cols.dedup();
            }
        }
        let vals: Vec<f64> = (0..k).map(|_| 1.0 - rng.random::<f64>()).collect();
        let norm = vals.iter().map(|v| v * v).sum::<f64>().sqrt();
        col_idx.extend_from_slice(&cols);
        values.extend(vals.iter().map(|v| v / norm));
        row_ptr.push(col_idx.len() as u32);
    }
    let scale = (n as f64 / k.max(1) as f64).sqrt();
    let x_true: Vec<f64> = (0..n)
        .map(|_| scale * rng.sample::<f64, _>(StandardNormal))
        .collect();
    let y = (0..m)
        .map(|i| {
            let (s, e) = (row_ptr[i] as usize, row_ptr[i + 1] as usize);
            let z: f64 = col_idx[s..e]
                .iter()
                .zip(&values[s..e])
                .map(|(&j, v)| v * x_true[j as usize])
                .sum();
            if rng.random::<f64>() < sigmoid(z) {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    (row_ptr, col_idx, values, y)
}

/// ℓ2-regularized binary logistic regression (see the module documentation).
#[derive(Clone, Debug)]
pub struct LogisticRegression<T> {
    a: Design<T>,
    y: Vec<T>,
    mu: f64,
    constants: Constants,
    source: String,
}

/// What a logistic pass computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Loss,
    Grad,
    Both,
}

/// `Σ_{i ∈ span} log(1 + exp(−yᵢ⟨aᵢ, x⟩))` and/or `g ← w Σ −yᵢ σ(−yᵢ⟨aᵢ, x⟩) aᵢ` in one pass.
fn logistic_pass<T: Scalar>(
    a: &Design<T>,
    y: &[T],
    span: Span<'_>,
    w: T,
    x: &[T],
    g: Option<&mut [T]>,
    want: Want,
) -> f64 {
    let coef = LogisticCoef { y, w, want };
    match a.small(span, 1) {
        // the coefficients compiled into the one vectorized call
        Some(small) => small::pass(small, span, x, g, &coef),
        // per block of rows, the coefficients in a vectorized call of their own
        None => a.pass(span, 1, x, g, &|part: Span<'_>, z: &mut [T]| {
            pulp::Arch::new().dispatch(Vectorized(&coef, part, z))
        }),
    }
}

/// Positions per vector piece of [`LogisticCoef`] (fixed-length loops, which the compiler turns
/// into whole vectors without a scalar remainder): 32 (four AVX-512 vectors of f64, whose
/// exponentials' dependency chains overlap), 16 for spans of at most 16 positions (a
/// mini-batch of 10 would be computed a third time over in zero padding).
const PIECE: usize = 32;
const SHORT_PIECE: usize = 16;

/// Lanes of the loss sum.
const LOSS_LANES: usize = 8;

/// The logistic coefficients `sᵢ = −w yᵢ σ(−yᵢ zᵢ)` and the loss `Σ softplus(−yᵢ zᵢ)` (with
/// σ and softplus sharing `e^{−|u|}`), written as fixed-length loops of [`PIECE`] (or
/// [`SHORT_PIECE`]) positions (the tail padded with zeros and masked out of the loss) over
/// vmath's branch-free scalar functions: inlined into a vectorized body they become vector
/// code. The loss is summed
/// position p into lane p mod [`LOSS_LANES`], the lanes added in a fixed order at the end, so
/// a pass's loss has the same bits for `Loss` and `Both`, and the coefficients for `Grad`
/// and `Both`.
struct LogisticCoef<'a, T> {
    y: &'a [T],
    w: T,
    want: Want,
}

impl<T: Scalar> Coefficients<T> for LogisticCoef<'_, T> {
    #[inline(always)]
    fn apply(&self, span: Span<'_>, z: &mut [T]) -> f64 {
        // position p is summed into lane p mod LOSS_LANES either way: the same bits
        if z.len() <= SHORT_PIECE {
            self.pieces::<SHORT_PIECE>(span, z)
        } else {
            self.pieces::<PIECE>(span, z)
        }
    }
}

impl<T: Scalar> LogisticCoef<'_, T> {
    /// [`Coefficients::apply`] in pieces of `P` positions (a multiple of [`LOSS_LANES`]).
    #[inline(always)]
    fn pieces<const P: usize>(&self, span: Span<'_>, z: &mut [T]) -> f64 {
        let mut lanes = [0.0f64; LOSS_LANES];
        // scratch zeroed once per call, not per piece (positions past a short last piece keep
        // the previous piece's values: computed on and discarded)
        let mut gathered = [T::zero(); P];
        let mut u = [0.0f64; P];
        let mut e = [0.0f64; P];
        let mut sp = [0.0f64; P];
        for (c, zc) in z.chunks_mut(P).enumerate() {
            let len = zc.len();
            // a range's labels are read in place; a mini-batch's are gathered
            let yv: &[T] = match span {
                Span::Range(r0, _) => &self.y[r0 + c * P..r0 + c * P + len],
                Span::Batch(rows) => {
                    for (yv, &i) in gathered.iter_mut().zip(&rows[c * P..c * P + len]) {
                        *yv = self.y[i];
                    }
                    &gathered[..len]
                }
            };
            for ((u, &yi), &zi) in u.iter_mut().zip(yv).zip(zc.iter()) {
                *u = (-yi * zi).as_f64();
            }
            for (e, &u) in e.iter_mut().zip(&u) {
                *e = vmath::exp_neg(-u.abs());
            }
            if self.want != Want::Grad {
                for ((sp, &u), &e) in sp.iter_mut().zip(&u).zip(&e) {
                    *sp = vmath::softplus_with(u, e);
                }
                for sp in &mut sp[len..] {
                    *sp = 0.0;
                }
                for piece in sp.chunks_exact(LOSS_LANES) {
                    for (l, &v) in lanes.iter_mut().zip(piece) {
                        *l += v;
                    }
                }
            }
            if self.want != Want::Loss {
                for ((z, &yi), (&u, &e)) in zc.iter_mut().zip(yv).zip(u.iter().zip(&e)) {
                    *z = -self.w * yi * T::of(vmath::sigmoid_with(u, e));
                }
            }
        }
        ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
            + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
    }
}

/// [`LogisticCoef`] on one block of positions, compiled for the CPU's widest vector
/// instruction set.
struct Vectorized<'c, 'z, T>(&'c LogisticCoef<'c, T>, Span<'z>, &'z mut [T]);

impl<T: Scalar> pulp::WithSimd for Vectorized<'_, '_, T> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f64 {
        let Vectorized(coef, span, z) = self;
        coef.apply(span, z)
    }
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
        let x = Design::dense(m, n, a.to_vec()).map_err(|message| ProblemError::Numerical {
            problem: "logistic",
            message,
        })?;
        Self::from_design(x, y.to_vec(), mu, source)
    }

    /// From a data matrix (dense or sparse), ±1 labels and μ; computes L, L_max and f*, x* (see
    /// the module documentation for which method).
    pub fn from_design(
        a: Design<f64>,
        y: Vec<f64>,
        mu: f64,
        source: String,
    ) -> Result<Self, ProblemError> {
        let num = |message: String| ProblemError::Numerical {
            problem: "logistic",
            message,
        };
        let (m, n) = (a.rows(), a.cols());
        if y.len() != m || m == 0 || n == 0 {
            return Err(num(format!("{m} × {n} data with {} labels", y.len())));
        }
        let l_max = a.max_row_norm_sq() / 4.0 + mu;
        let dense_small = n <= 4096 && m.saturating_mul(n * n) <= DENSE_NEWTON_WORK;
        let obj = Objective { a: &a, y: &y, mu };
        let (lam_max, f_star, x_star, reference) = match &a {
            Design::Dense { a: dense, .. } if dense_small => {
                let gram = linalg::gram_over_m(dense, m, n);
                let (lam_min, lam_max) = linalg::eig_extremes(&gram)
                    .ok_or_else(|| num("eigenvalues of AᵀA/m did not converge".into()))?;
                let (f_star, x_star) = if mu > 0.0 {
                    let (x, f) = newton(dense, &y, m, n, mu).map_err(num)?;
                    (Some(f), Some(x))
                } else {
                    match newton(dense, &y, m, n, 0.0) {
                        Ok((x, f)) if minimizer_certified(dense, &y, m, n, lam_min, &x) => {
                            (Some(f), Some(x))
                        }
                        _ => (None, None),
                    }
                };
                let reference = x_star.as_ref().map(|xs| {
                    Reference {
                        method: "Newton's method (dense Hessian, Cholesky)".into(),
                        l_method: "largest eigenvalue of AᵀA/m (dense, faer)".into(),
                        ..Default::default()
                    }
                    .certify(
                        grad_norm(&obj, xs),
                        grad_norm(&obj, &vec![0.0; n]),
                        mu,
                    )
                });
                (lam_max, f_star, x_star, reference)
            }
            _ => {
                let (lam_max, products) = power_iteration_gram(&a);
                let l_method = format!("power iteration on AᵀA/m ({products} products)");
                if mu > 0.0 {
                    let s = solve::newton_cg(&obj, 1e-10, 100).map_err(num)?;
                    let reference = Reference {
                        method: "Newton–CG (Hessian–vector products)".into(),
                        iterations: s.iterations,
                        hessian_products: Some(s.hvps),
                        l_method,
                        ..Default::default()
                    }
                    .certify(s.grad_norm, s.grad0_norm, mu);
                    (lam_max, Some(s.f), Some(s.x), Some(reference))
                } else {
                    (lam_max, None, None, None)
                }
            }
        };
        let storage = if a.is_sparse() {
            format!("; {}", a.storage())
        } else {
            String::new()
        };
        Ok(LogisticRegression {
            a: a.convert(),
            y: y.iter().map(|&v| T::of(v)).collect(),
            mu,
            constants: Constants {
                l_smooth: Some(lam_max / 4.0 + mu),
                l_max: Some(l_max),
                mu: (mu > 0.0).then_some(mu),
                f_star,
                x_star,
                reference,
            },
            source: source + &storage,
        })
    }

    /// The data matrix.
    pub fn design(&self) -> &Design<T> {
        &self.a
    }
}

/// λ_max(AᵀA/m) by power iteration with fused passes `v ↦ Aᵀ(Av)/m`.
pub(crate) fn power_iteration_gram(a: &Design<f64>) -> (f64, usize) {
    let inv_m = 1.0 / a.rows().max(1) as f64;
    let op = |v: &[f64], out: &mut [f64]| {
        let scale = |_: Span<'_>, z: &mut [f64]| -> f64 {
            z.iter_mut().for_each(|z| *z *= inv_m);
            0.0
        };
        a.pass(Span::Range(0, a.rows()), 1, v, Some(out), &scale);
    };
    solve::power_iteration(a.cols(), &op, 0)
}

/// `‖∇f(x)‖` of a reference objective.
pub(crate) fn grad_norm(obj: &dyn Smooth, x: &[f64]) -> f64 {
    let mut g = vec![0.0; x.len()];
    obj.value_grad(x, &mut g);
    g.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// The objective in f64 for the reference solve.
struct Objective<'a> {
    a: &'a Design<f64>,
    y: &'a [f64],
    mu: f64,
}

impl Objective<'_> {
    fn all(&self) -> Span<'static> {
        Span::Range(0, self.a.rows())
    }

    fn inv_m(&self) -> f64 {
        1.0 / self.a.rows() as f64
    }
}

impl Smooth for Objective<'_> {
    fn dim(&self) -> usize {
        self.a.cols()
    }

    fn value(&self, x: &[f64]) -> f64 {
        let data = logistic_pass(self.a, self.y, self.all(), 1.0, x, None, Want::Loss);
        data * self.inv_m() + 0.5 * self.mu * x.iter().map(|v| v * v).sum::<f64>()
    }

    fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
        let w = self.inv_m();
        let data = logistic_pass(self.a, self.y, self.all(), w, x, Some(g), Want::Both);
        add_l2(self.mu, x, g);
        data * w + 0.5 * self.mu * x.iter().map(|v| v * v).sum::<f64>()
    }

    /// dᵢ = σ(zᵢ)σ(−zᵢ)/m.
    fn curvature(&self, x: &[f64]) -> Vec<f64> {
        let w = self.inv_m();
        let mut d = Vec::with_capacity(self.a.rows());
        for i in 0..self.a.rows() {
            let s = sigmoid(self.a.row(i).dot(x));
            d.push(s * (1.0 - s) * w);
        }
        d
    }

    fn hvp(&self, d: &[f64], v: &[f64], out: &mut [f64]) {
        let scale = |part: Span<'_>, z: &mut [f64]| -> f64 {
            for (p, z) in z.iter_mut().enumerate() {
                *z *= d[part.sample(p)];
            }
            0.0
        };
        self.a.pass(self.all(), 1, v, Some(out), &scale);
        add_l2(self.mu, v, out);
    }
}

impl<T: Scalar> Problem<T> for LogisticRegression<T> {
    fn describe(&self) -> String {
        format!(
            "logistic regression (m = {}, n = {}, μ = {}; {})",
            self.a.rows(),
            self.a.cols(),
            self.mu,
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
        self.mu
    }

    /// ℓᵢ(x) = log(1 + exp(−yᵢ⟨aᵢ, x⟩)).
    fn sample_loss(&self, x: &[T], i: usize) -> T {
        let z = self.a.row(i).dot(x);
        softplus(-self.y[i] * z)
    }

    /// yᵢ⟨aᵢ, x⟩ > 0.
    fn sample_correct(&self, x: &[T], i: usize) -> Option<bool> {
        Some(self.y[i] * self.a.row(i).dot(x) > T::zero())
    }

    /// ∇ℓᵢ(x) = −yᵢ σ(−yᵢ⟨aᵢ, x⟩) aᵢ.
    fn add_sample_grad(&self, x: &[T], i: usize, w: T, g: &mut [T]) {
        let row = self.a.row(i);
        let yi = self.y[i];
        let c = -w * yi * sigmoid(-yi * row.dot(x));
        row.axpy(c, g);
    }

    fn constants(&self) -> &Constants {
        &self.constants
    }

    fn loss(&self, x: &[T]) -> T {
        let m = self.a.rows();
        let data = logistic_pass(
            &self.a,
            &self.y,
            Span::Range(0, m),
            T::one(),
            x,
            None,
            Want::Loss,
        );
        T::of(data / m as f64) + T::of(0.5 * self.mu) * crate::kernels::norm2_sq(x)
    }

    fn grad(&self, x: &[T], g: &mut [T]) -> usize {
        let m = self.a.rows();
        let w = T::one() / T::of(m as f64);
        logistic_pass(
            &self.a,
            &self.y,
            Span::Range(0, m),
            w,
            x,
            Some(g),
            Want::Grad,
        );
        add_l2(self.mu, x, g);
        m
    }

    /// One pass for both: σ(u) and softplus(u) share e^{−|u|}.
    fn loss_grad(&self, x: &[T], g: &mut [T]) -> T {
        let m = self.a.rows();
        let w = T::one() / T::of(m as f64);
        let data = logistic_pass(
            &self.a,
            &self.y,
            Span::Range(0, m),
            w,
            x,
            Some(g),
            Want::Both,
        );
        add_l2(self.mu, x, g);
        T::of(data / m as f64) + T::of(0.5 * self.mu) * crate::kernels::norm2_sq(x)
    }

    fn batch_grad(&self, x: &[T], batch: &[usize], g: &mut [T]) {
        if let [i] = batch {
            // single-sample SGD: the direct path
            g.iter_mut().for_each(|v| *v = T::zero());
            self.add_sample_grad(x, *i, T::one(), g);
        } else {
            let w = T::one() / T::of(batch.len().max(1) as f64);
            logistic_pass(
                &self.a,
                &self.y,
                Span::Batch(batch),
                w,
                x,
                Some(g),
                Want::Grad,
            );
        }
        add_l2(self.mu, x, g);
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
    fn loss_grad_is_loss_and_grad_bit_for_bit() {
        let p = lecture();
        let x: Vec<f64> = (0..10).map(|j| 0.7 * (j as f64) - 3.0).collect();
        let (mut g1, mut g2) = (vec![0.0; 10], vec![0.0; 10]);
        let f = p.loss_grad(&x, &mut g1);
        p.grad(&x, &mut g2);
        assert_eq!(f.to_bits(), p.loss(&x).to_bits());
        assert_eq!(g1, g2);
        // f32, and data larger than one small pass
        let p32 = LogisticSpec::default().build::<f32>().unwrap();
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (mut h1, mut h2) = (vec![0.0f32; 10], vec![0.0f32; 10]);
        assert_eq!(p32.loss_grad(&x32, &mut h1), p32.loss(&x32));
        p32.grad(&x32, &mut h2);
        assert_eq!(h1, h2);
        let big = LogisticSpec {
            m: 5000,
            n: 12,
            ..Default::default()
        }
        .build::<f64>()
        .unwrap();
        let (mut b1, mut b2) = (vec![0.0; 12], vec![0.0; 12]);
        let xb = vec![0.1; 12];
        assert_eq!(
            big.loss_grad(&xb, &mut b1).to_bits(),
            big.loss(&xb).to_bits()
        );
        big.grad(&xb, &mut b2);
        assert_eq!(b1, b2);
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
