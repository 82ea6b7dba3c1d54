//! Multinomial (softmax) regression
//!
//! The parameter is a matrix W (classes K × features n, row-major). With scores s = W aᵢ and
//! p = softmax(s):
//!
//! ```text
//! f(W) = (λ/2)‖W‖²_F + (1/m) Σᵢ [ log Σₖ exp(sₖ) − s_{yᵢ} ]
//! ∇ℓᵢ(W) = (p − e_{yᵢ}) aᵢᵀ          (row k: (pₖ − [k = yᵢ]) aᵢ)
//! ∇f(W)  = Rᵀ A / m + λ W,            R = P − Y  (m × K)
//! ```
//!
//! log-sum-exp is evaluated after subtracting the largest score. Full and mini-batch gradients
//! are one pass over the data ([`Design::pass`]): scores `S = A Wᵀ` (faer products on blocks of
//! dense rows, or sparse rows), the vectorized exponentials of [`vmath`](super::vmath), then
//! `Rᵀ A`.
//!
//! **Constants.** L = λ_max(AᵀA/m)/2 + λ (the Hessian of log-sum-exp, diag(p) − ppᵀ, has norm
//! ≤ 1/2), L_max = maxᵢ ‖aᵢ‖²/2 + λ, μ = λ. *Dense data with K·n ≤ 4096*: λ_max from faer's
//! symmetric eigensolver; f* and W* from damped Newton's method on the full objective (Hessian
//! (1/m) Σᵢ (diag(pᵢ) − pᵢpᵢᵀ) ⊗ aᵢaᵢᵀ + λI, assembled block by block with faer products,
//! Cholesky solves, stopped at a Newton decrement below 1e-28 or when, taking full steps in the
//! region of quadratic convergence, it stops shrinking). *Sparse data, or K·n > 4096*
//! (matrix-free): λ_max by power iteration, f* and W* by Newton–CG with Hessian–vector products
//! `V ↦ λV + Rᵀ A / m`, `Rᵢ = pᵢ ⊙ (uᵢ − ⟨pᵢ, uᵢ⟩)`, `U = A Vᵀ`, to `‖∇f‖ ≤ 1e-10 ‖∇f(0)‖`.
//! Both need λ > 0: with λ = 0 the infimum need not be attained (separable classes), so f*, W*,
//! μ are left unknown.
//!
//! **Synthetic generators** (`synthetic`), with a ChaCha8 stream seeded by `seed`:
//! - `"gaussian"` (default): class centres cₖ ~ N(0, Iₙ), then for each sample a class yᵢ
//!   uniform in 0..K and aᵢ = c_{yᵢ} + εᵢ, εᵢ ~ N(0, Iₙ);
//! - `"heavy_tail"`: Kunstner et al. (2024, "Heavy-tailed class imbalance and why Adam
//!   outperforms gradient descent on language models", §3), [`heavy_tail_classes`]: `levels`
//!   levels; level i = 0..levels−1 has 2^i classes of 2^(levels−i) samples each (every level
//!   holds 2^levels samples, so m = levels·2^levels and K = 2^levels − 1), features uniform in
//!   [0, 1)ⁿ. With levels = 7: m = 896, K = 127, the rarest 64 classes have 2 samples each.
//!
//! **Real data**: labels must be class indices 0, 1, ..., K−1 (e.g. `digits.csv.gz`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::data::{Dataset, Format, LabelColumn};
use super::design::{Design, Span};
use super::libsvm::{LibsvmOptions, ZeroBased};
use super::logistic::{grad_norm, power_iteration_gram};
use super::solve::{self, Reference, Smooth};
use super::{Constants, Problem, ProblemError, add_l2, linalg, resolve_data_path, vmath};
use crate::scalar::Scalar;

/// Configuration of [`SoftmaxRegression`] (`kind = "softmax"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoftmaxSpec {
    /// Samples of the synthetic problem (default 300; ignored with `data`).
    pub m: usize,
    /// Features of the synthetic problem (default 10; ignored with `data`).
    pub n: usize,
    /// Classes of the synthetic problem (default 3; with `data`: largest label + 1).
    pub classes: usize,
    /// ℓ2 coefficient λ ≥ 0 (default 0.01).
    pub l2: f64,
    /// Seed of the synthetic generator (default 0).
    pub seed: u64,
    /// Data file (CSV or LIBSVM, optionally .gz) with class labels 0..K−1 (default none).
    pub data: Option<String>,
    /// Directory to find `data` in (default: `data/` of the workspace, then the current directory).
    pub data_dir: Option<String>,
    /// File format: "auto", "csv" or "libsvm" (default "auto").
    pub format: Format,
    /// CSV label column: index (−1 = last, the default) or header name.
    pub label: LabelColumn,
    /// LIBSVM index base: "auto" (default), true or false (scikit-learn's `zero_based`).
    pub zero_based: ZeroBased,
    /// LIBSVM number of features (default: the largest index in the file).
    pub n_features: Option<usize>,
    /// Standardize features to mean 0, standard deviation 1 (default false).
    pub standardize: bool,
    /// Synthetic generator without `data`: "gaussian" (default) or "heavy_tail" (then `m` and
    /// `classes` follow from `levels`).
    pub synthetic: Synthetic,
    /// Levels of the "heavy_tail" generator, in 1..=16 (default 7: m = 896, K = 127).
    pub levels: usize,
}

/// The synthetic data of [`SoftmaxSpec`] (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synthetic {
    /// Gaussian class centres plus Gaussian noise, classes uniform.
    #[default]
    Gaussian,
    /// Kunstner et al. (2024): heavy-tailed class frequencies, uniform features.
    HeavyTail,
}

/// Kunstner et al. (2024)'s heavy-tailed classes: `levels` levels, level i = 0..levels−1 with
/// 2^i classes of 2^(levels−i) samples each, features uniform in [0, 1)ⁿ drawn from a ChaCha8
/// stream seeded by `seed`. Returns the row-major features (m × n, m = levels·2^levels, samples
/// grouped by class, classes numbered from the most frequent), the labels and K = 2^levels − 1.
///
/// # Errors
/// `levels` outside 1..=16 or `n = 0`.
pub fn heavy_tail_classes(
    levels: usize,
    n: usize,
    seed: u64,
) -> Result<(Vec<f64>, Vec<usize>, usize), ProblemError> {
    if !(1..=16).contains(&levels) {
        return Err(ProblemError::invalid(
            "softmax",
            "levels",
            levels,
            "in 1..=16",
        ));
    }
    if n == 0 {
        return Err(ProblemError::invalid("softmax", "n", n, "≥ 1"));
    }
    let mut y = Vec::with_capacity(levels << levels);
    let mut class = 0;
    for i in 0..levels {
        for _ in 0..1usize << i {
            y.extend(std::iter::repeat_n(class, 1 << (levels - i)));
            class += 1;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a = (0..y.len() * n).map(|_| rng.random::<f64>()).collect();
    Ok((a, y, class))
}

impl Default for SoftmaxSpec {
    fn default() -> Self {
        SoftmaxSpec {
            m: 300,
            n: 10,
            classes: 3,
            l2: 0.01,
            seed: 0,
            data: None,
            data_dir: None,
            format: Format::Auto,
            label: LabelColumn::default(),
            zero_based: ZeroBased::Auto,
            n_features: None,
            standardize: false,
            synthetic: Synthetic::Gaussian,
            levels: 7,
        }
    }
}

impl SoftmaxSpec {
    /// Generates or loads the data and solves for the constants.
    pub fn build<T: Scalar>(&self) -> Result<SoftmaxRegression<T>, ProblemError> {
        const P: &str = "softmax";
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(ProblemError::invalid(P, "l2", self.l2, "finite and ≥ 0"));
        }
        let (x, y, k, source) = match &self.data {
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
                let (y, k) = ds.class_labels()?;
                (ds.x, y, k.max(2), file.clone())
            }
            None if self.synthetic == Synthetic::HeavyTail => {
                let (a, y, k) = heavy_tail_classes(self.levels, self.n, self.seed)?;
                let x = Design::dense(y.len(), self.n, a).map_err(|message| {
                    ProblemError::Numerical {
                        problem: P,
                        message,
                    }
                })?;
                (
                    x,
                    y,
                    k,
                    format!(
                        "heavy-tailed classes (Kunstner et al. 2024), {} levels, seed {}",
                        self.levels, self.seed
                    ),
                )
            }
            None => {
                if self.m == 0 {
                    return Err(ProblemError::invalid(P, "m", self.m, "≥ 1"));
                }
                if self.n == 0 {
                    return Err(ProblemError::invalid(P, "n", self.n, "≥ 1"));
                }
                if !(2..=1000).contains(&self.classes) {
                    return Err(ProblemError::invalid(
                        P,
                        "classes",
                        self.classes,
                        "in 2..=1000",
                    ));
                }
                let (m, n, k) = (self.m, self.n, self.classes);
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                let centres: Vec<f64> = (0..k * n).map(|_| rng.sample(StandardNormal)).collect();
                let mut a = Vec::with_capacity(m * n);
                let mut y = Vec::with_capacity(m);
                for _ in 0..m {
                    let c = rng.random_range(0..k);
                    y.push(c);
                    for j in 0..n {
                        a.push(centres[c * n + j] + rng.sample::<f64, _>(StandardNormal));
                    }
                }
                let x = Design::dense(m, n, a).map_err(|message| ProblemError::Numerical {
                    problem: P,
                    message,
                })?;
                (x, y, k, format!("synthetic, seed {}", self.seed))
            }
        };
        SoftmaxRegression::from_design(x, y, k, self.l2, source)
    }
}

/// Multinomial softmax regression (see the module documentation).
#[derive(Clone, Debug)]
pub struct SoftmaxRegression<T> {
    a: Design<T>,
    y: Vec<usize>,
    k: usize,
    l2: f64,
    constants: Constants,
    source: String,
}

/// `Σ_{i ∈ span} (log Σₖ exp(sₖ) − s_{yᵢ})` and/or `G ← w Σ (pᵢ − e_{yᵢ}) aᵢᵀ` in one pass.
fn softmax_pass<T: Scalar>(
    a: &Design<T>,
    y: &[usize],
    k: usize,
    span: Span<'_>,
    w: T,
    x: &[T],
    g: Option<&mut [T]>,
) -> f64 {
    let want_grad = g.is_some();
    let coef = |part: Span<'_>, z: &mut [T]| -> f64 {
        let mut e: Vec<f64> = z.iter().map(|v| v.as_f64()).collect();
        let mut top = Vec::with_capacity(part.len());
        for row in e.chunks_mut(k) {
            let mx = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            row.iter_mut().for_each(|v| *v -= mx);
            top.push(mx);
        }
        let shifted = if want_grad { Vec::new() } else { e.clone() };
        vmath::exp_in_place(&mut e);
        let mut loss = 0.0;
        for (p, (row, zr)) in e.chunks(k).zip(z.chunks_mut(k)).enumerate() {
            let yi = y[part.sample(p)];
            let sum: f64 = row.iter().sum();
            let log_sum = sum.ln();
            // ℓᵢ = log Σ exp(s) − s_y = log Σ exp(s − max) − (s_y − max)
            let sy = if want_grad {
                zr[yi].as_f64() - top[p]
            } else {
                shifted[p * k + yi]
            };
            loss += log_sum - sy;
            if want_grad {
                let inv = 1.0 / sum;
                for (c, (z, &ev)) in zr.iter_mut().zip(row).enumerate() {
                    let prob = ev * inv;
                    let r = if c == yi { prob - 1.0 } else { prob };
                    *z = w * T::of(r);
                }
            }
        }
        loss
    };
    a.pass(span, k, x, g, &coef)
}

impl<T: Scalar> SoftmaxRegression<T> {
    /// From features (row-major m × n), class labels < k and λ.
    pub fn from_data(
        a: &[f64],
        y: &[usize],
        m: usize,
        n: usize,
        k: usize,
        l2: f64,
        source: String,
    ) -> Result<Self, ProblemError> {
        let x = Design::dense(m, n, a.to_vec()).map_err(|message| ProblemError::Numerical {
            problem: "softmax",
            message,
        })?;
        Self::from_design(x, y.to_vec(), k, l2, source)
    }

    /// From a data matrix (dense or sparse), class labels < k and λ; computes the constants and
    /// (λ > 0) f*, W* (see the module documentation for which method).
    pub fn from_design(
        a: Design<f64>,
        y: Vec<usize>,
        k: usize,
        l2: f64,
        source: String,
    ) -> Result<Self, ProblemError> {
        let num = |message: String| ProblemError::Numerical {
            problem: "softmax",
            message,
        };
        let (m, n) = (a.rows(), a.cols());
        if y.len() != m || m == 0 || n == 0 || k < 2 || y.iter().any(|&c| c >= k) {
            return Err(num(format!(
                "{m} × {n} data with {} labels for {k} classes",
                y.len()
            )));
        }
        let l_max = a.max_row_norm_sq() / 2.0 + l2;
        let obj = Objective {
            a: &a,
            y: &y,
            k,
            l2,
        };
        let (hi, f_star, x_star, reference) = match &a {
            Design::Dense { a: dense, .. } if k * n <= 4096 => {
                let gram = linalg::gram_over_m(dense, m, n);
                let (_, hi) = linalg::eig_extremes(&gram)
                    .ok_or_else(|| num("eigenvalues of AᵀA/m failed".into()))?;
                if l2 > 0.0 {
                    let (w, f) = newton(dense, &y, m, n, k, l2).map_err(num)?;
                    let reference = Reference {
                        method: "Newton's method (dense Hessian, Cholesky)".into(),
                        l_method: "largest eigenvalue of AᵀA/m (dense, faer)".into(),
                        ..Default::default()
                    }
                    .certify(
                        grad_norm(&obj, &w),
                        grad_norm(&obj, &vec![0.0; k * n]),
                        l2,
                    );
                    (hi, Some(f), Some(w), Some(reference))
                } else {
                    (hi, None, None, None)
                }
            }
            _ => {
                let (hi, products) = power_iteration_gram(&a);
                if l2 > 0.0 {
                    let s = solve::newton_cg(&obj, 1e-10, 100).map_err(num)?;
                    let reference = Reference {
                        method: "Newton–CG (Hessian–vector products)".into(),
                        iterations: s.iterations,
                        hessian_products: Some(s.hvps),
                        l_method: format!("power iteration on AᵀA/m ({products} products)"),
                        ..Default::default()
                    }
                    .certify(s.grad_norm, s.grad0_norm, l2);
                    (hi, Some(s.f), Some(s.x), Some(reference))
                } else {
                    (hi, None, None, None)
                }
            }
        };
        let storage = if a.is_sparse() {
            format!("; {}", a.storage())
        } else {
            String::new()
        };
        Ok(SoftmaxRegression {
            a: a.convert(),
            y,
            k,
            l2,
            constants: Constants {
                l_smooth: Some(hi / 2.0 + l2),
                l_max: Some(l_max),
                mu: (l2 > 0.0).then_some(l2),
                f_star,
                x_star,
                reference,
            },
            source: source + &storage,
        })
    }

    /// Scores s = W aᵢ into `s` (length K).
    fn scores(&self, w: &[T], i: usize, s: &mut [T]) {
        let n = self.a.cols();
        let row = self.a.row(i);
        for (k, s) in s.iter_mut().enumerate() {
            *s = row.dot(&w[k * n..(k + 1) * n]);
        }
    }
}

/// The objective in f64 for the reference solve.
struct Objective<'a> {
    a: &'a Design<f64>,
    y: &'a [usize],
    k: usize,
    l2: f64,
}

impl Smooth for Objective<'_> {
    fn dim(&self) -> usize {
        self.k * self.a.cols()
    }

    fn value(&self, x: &[f64]) -> f64 {
        let m = self.a.rows();
        softmax_pass(self.a, self.y, self.k, Span::Range(0, m), 1.0, x, None) / m as f64
            + 0.5 * self.l2 * x.iter().map(|v| v * v).sum::<f64>()
    }

    fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
        let m = self.a.rows();
        let w = 1.0 / m as f64;
        let data = softmax_pass(self.a, self.y, self.k, Span::Range(0, m), w, x, Some(g));
        add_l2(self.l2, x, g);
        data * w + 0.5 * self.l2 * x.iter().map(|v| v * v).sum::<f64>()
    }

    /// Class probabilities P (m × K).
    fn curvature(&self, x: &[f64]) -> Vec<f64> {
        let (n, k) = (self.a.cols(), self.k);
        let mut p = vec![0.0; self.a.rows() * k];
        for (i, pr) in p.chunks_mut(k).enumerate() {
            let row = self.a.row(i);
            for (c, v) in pr.iter_mut().enumerate() {
                *v = row.dot(&x[c * n..(c + 1) * n]);
            }
            let mx = pr.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            pr.iter_mut().for_each(|v| *v = (*v - mx).exp());
            let s: f64 = pr.iter().sum();
            pr.iter_mut().for_each(|v| *v /= s);
        }
        p
    }

    fn hvp(&self, p: &[f64], v: &[f64], out: &mut [f64]) {
        let (m, k) = (self.a.rows(), self.k);
        let w = 1.0 / m as f64;
        let r = |part: Span<'_>, u: &mut [f64]| -> f64 {
            for (q, ur) in u.chunks_mut(k).enumerate() {
                let i = part.sample(q);
                let pr = &p[i * k..(i + 1) * k];
                let pu: f64 = pr.iter().zip(ur.iter()).map(|(p, u)| p * u).sum();
                for (u, &pc) in ur.iter_mut().zip(pr) {
                    *u = w * pc * (*u - pu);
                }
            }
            0.0
        };
        self.a.pass(Span::Range(0, m), k, v, Some(out), &r);
        add_l2(self.l2, v, out);
    }
}

/// log Σ exp(s), shifted by the maximum.
fn log_sum_exp<T: Scalar>(s: &[T]) -> T {
    let mx = s.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
    mx + s.iter().fold(T::zero(), |a, &v| a + (v - mx).exp()).ln()
}

/// Classes above which the per-sample scratch is heap-allocated.
const STACK_CLASSES: usize = 32;

impl<T: Scalar> Problem<T> for SoftmaxRegression<T> {
    fn describe(&self) -> String {
        format!(
            "softmax regression (m = {}, n = {}, K = {}, λ = {}; {})",
            self.a.rows(),
            self.a.cols(),
            self.k,
            self.l2,
            self.source
        )
    }

    fn num_samples(&self) -> usize {
        self.a.rows()
    }

    fn dim(&self) -> usize {
        self.k * self.a.cols()
    }

    fn shape(&self) -> Vec<usize> {
        vec![self.k, self.a.cols()]
    }

    fn l2(&self) -> f64 {
        self.l2
    }

    /// ℓᵢ(W) = log Σₖ exp(sₖ) − s_{yᵢ}.
    fn sample_loss(&self, w: &[T], i: usize) -> T {
        let mut buf = [T::zero(); STACK_CLASSES];
        let mut heap = Vec::new();
        let s = scratch(self.k, &mut buf, &mut heap);
        self.scores(w, i, s);
        log_sum_exp(s) - s[self.y[i]]
    }

    /// argmaxₖ sₖ = yᵢ (the first largest score, as `argmax` picks).
    fn sample_correct(&self, w: &[T], i: usize) -> Option<bool> {
        let mut buf = [T::zero(); STACK_CLASSES];
        let mut heap = Vec::new();
        let s = scratch(self.k, &mut buf, &mut heap);
        self.scores(w, i, s);
        let best = s
            .iter()
            .enumerate()
            .fold(0, |b, (k, &v)| if v > s[b] { k } else { b });
        Some(best == self.y[i])
    }

    /// ∇ℓᵢ(W) = (p − e_{yᵢ}) aᵢᵀ.
    fn add_sample_grad(&self, w: &[T], i: usize, wt: T, g: &mut [T]) {
        let mut buf = [T::zero(); STACK_CLASSES];
        let mut heap = Vec::new();
        let s = scratch(self.k, &mut buf, &mut heap);
        self.scores(w, i, s);
        let lse = log_sum_exp(s);
        let n = self.a.cols();
        let row = self.a.row(i);
        for (k, &sk) in s.iter().enumerate() {
            let p = (sk - lse).exp();
            let c = wt * (if k == self.y[i] { p - T::one() } else { p });
            row.axpy(c, &mut g[k * n..(k + 1) * n]);
        }
    }

    fn constants(&self) -> &Constants {
        &self.constants
    }

    fn loss(&self, w: &[T]) -> T {
        let m = self.a.rows();
        let data = softmax_pass(
            &self.a,
            &self.y,
            self.k,
            Span::Range(0, m),
            T::one(),
            w,
            None,
        );
        T::of(data / m as f64) + T::of(0.5 * self.l2) * crate::kernels::norm2_sq(w)
    }

    fn grad(&self, w: &[T], g: &mut [T]) -> usize {
        let m = self.a.rows();
        let wt = T::one() / T::of(m as f64);
        softmax_pass(&self.a, &self.y, self.k, Span::Range(0, m), wt, w, Some(g));
        add_l2(self.l2, w, g);
        m
    }

    fn batch_grad(&self, w: &[T], batch: &[usize], g: &mut [T]) {
        if let [i] = batch {
            g.iter_mut().for_each(|v| *v = T::zero());
            self.add_sample_grad(w, *i, T::one(), g);
        } else {
            let wt = T::one() / T::of(batch.len().max(1) as f64);
            softmax_pass(&self.a, &self.y, self.k, Span::Batch(batch), wt, w, Some(g));
        }
        add_l2(self.l2, w, g);
    }
}

fn scratch<'a, T: Scalar>(
    k: usize,
    buf: &'a mut [T; STACK_CLASSES],
    heap: &'a mut Vec<T>,
) -> &'a mut [T] {
    if k <= STACK_CLASSES {
        &mut buf[..k]
    } else {
        heap.resize(k, T::zero());
        heap.as_mut_slice()
    }
}

/// Class probabilities of every sample (m × K) and the objective at W.
fn probs_and_objective(
    a: &[f64],
    y: &[usize],
    m: usize,
    n: usize,
    k: usize,
    l2: f64,
    w: &[f64],
) -> (Vec<f64>, f64) {
    let mut p = vec![0.0; m * k];
    let mut total = 0.0;
    for i in 0..m {
        let ai = &a[i * n..(i + 1) * n];
        let s: Vec<f64> = (0..k)
            .map(|c| {
                w[c * n..(c + 1) * n]
                    .iter()
                    .zip(ai)
                    .map(|(w, a)| w * a)
                    .sum()
            })
            .collect();
        let lse = log_sum_exp(&s);
        total += lse - s[y[i]];
        for c in 0..k {
            p[i * k + c] = (s[c] - lse).exp();
        }
    }
    let f = total / m as f64 + 0.5 * l2 * w.iter().map(|v| v * v).sum::<f64>();
    (p, f)
}

/// Damped Newton's method on the full objective; returns (W*, f*).
fn newton(
    a: &[f64],
    y: &[usize],
    m: usize,
    n: usize,
    k: usize,
    l2: f64,
) -> Result<(Vec<f64>, f64), String> {
    let d = k * n;
    let am = linalg::mat(a, m, n);
    let mut w = vec![0.0; d];
    let (mut p, mut f) = probs_and_objective(a, y, m, n, k, l2, &w);
    let mut prev: Option<f64> = None;
    for _ in 0..200 {
        let inv_m = 1.0 / m as f64;
        let mut g: Vec<f64> = w.iter().map(|v| l2 * v).collect();
        for i in 0..m {
            for c in 0..k {
                let r = (p[i * k + c] - if c == y[i] { 1.0 } else { 0.0 }) * inv_m;
                for j in 0..n {
                    g[c * n + j] += r * a[i * n + j];
                }
            }
        }
        let mut h = faer::Mat::<f64>::zeros(d, d);
        for c in 0..k {
            for e in 0..=c {
                let scaled = faer::Mat::from_fn(m, n, |i, j| {
                    let pc = p[i * k + c];
                    let coef = if c == e {
                        pc - pc * pc
                    } else {
                        -pc * p[i * k + e]
                    };
                    coef * inv_m * a[i * n + j]
                });
                let block = scaled.transpose() * &am;
                for r in 0..n {
                    for s in 0..n {
                        h[(c * n + r, e * n + s)] = block[(r, s)];
                        h[(e * n + s, c * n + r)] = block[(r, s)];
                    }
                }
            }
        }
        for j in 0..d {
            h[(j, j)] += l2;
        }
        let step = linalg::solve_spd(&h, &g).ok_or("Newton system could not be solved")?;
        let decrement: f64 = g.iter().zip(&step).map(|(g, s)| g * s).sum();
        if decrement <= 1e-28 {
            return Ok((w, f));
        }
        if decrement < 1e-8 {
            // quadratic-convergence region: full steps until the decrement stops shrinking
            if prev.is_some_and(|q: f64| decrement >= 0.25 * q) {
                return Ok((w, f));
            }
            prev = Some(decrement);
            w.iter_mut().zip(&step).for_each(|(w, s)| *w -= s);
            (p, f) = probs_and_objective(a, y, m, n, k, l2, &w);
            continue;
        }
        let mut t = 1.0;
        let mut moved = false;
        while t >= 1e-12 {
            let trial: Vec<f64> = w.iter().zip(&step).map(|(w, s)| w - t * s).collect();
            let (pt, ft) = probs_and_objective(a, y, m, n, k, l2, &trial);
            if ft <= f - 0.25 * t * decrement {
                w = trial;
                p = pt;
                f = ft;
                moved = true;
                break;
            }
            t *= 0.5;
        }
        if !moved {
            return Ok((w, f));
        }
    }
    Err("Newton's method did not converge in 200 iterations".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::check;

    #[test]
    fn gradients_and_newton_optimum() {
        let p = SoftmaxSpec {
            m: 60,
            n: 4,
            ..Default::default()
        }
        .build::<f64>()
        .unwrap();
        assert_eq!(p.shape(), vec![3, 4]);
        let x: Vec<f64> = (0..12).map(|j| (j as f64 * 0.9).cos()).collect();
        check::all_gradients(&p, &x, 1e-7);
        let c = p.constants();
        let ws = c.x_star.clone().unwrap();
        let mut g = vec![0.0; 12];
        p.grad(&ws, &mut g);
        assert!(crate::kernels::norm2(&g) < 1e-12, "{g:?}");
        // long GD with 1/L reaches the same value
        let l = c.l_smooth.unwrap();
        let mut w = vec![0.0; 12];
        for _ in 0..20_000 {
            p.grad(&w, &mut g);
            for (w, g) in w.iter_mut().zip(&g) {
                *w -= g / l;
            }
        }
        assert!((p.loss(&w) - c.f_star.unwrap()).abs() < 1e-10);
    }

    #[test]
    fn heavy_tail_levels_hold_equal_shares_of_samples() {
        let (a, y, k) = heavy_tail_classes(7, 5, 3).unwrap();
        assert_eq!((y.len(), k, a.len()), (896, 127, 896 * 5));
        let mut count = vec![0usize; k];
        y.iter().for_each(|&c| count[c] += 1);
        // level i: classes 2^i − 1 .. 2^(i+1) − 1, 2^(7−i) samples each
        for i in 0..7 {
            let level = &count[(1 << i) - 1..(1 << (i + 1)) - 1];
            assert!(
                level.iter().all(|&n| n == 1 << (7 - i)),
                "level {i}: {level:?}"
            );
        }
        assert!(a.iter().all(|v| (0.0..1.0).contains(v)));
        assert_eq!(heavy_tail_classes(7, 5, 3).unwrap().0, a, "seeded");
        assert!(heavy_tail_classes(0, 5, 3).is_err() && heavy_tail_classes(17, 5, 3).is_err());
        let p = SoftmaxSpec {
            synthetic: Synthetic::HeavyTail,
            levels: 3,
            n: 4,
            l2: 0.0,
            ..Default::default()
        }
        .build::<f64>()
        .unwrap();
        assert_eq!((p.num_samples(), p.shape()), (24, vec![7, 4]));
        let spec: SoftmaxSpec =
            toml::from_str("synthetic = \"heavy_tail\"\nlevels = 2\nn = 3").unwrap();
        assert_eq!(spec.build::<f64>().unwrap().num_samples(), 8);
    }

    #[test]
    fn digits_loads_ten_classes() {
        let p = SoftmaxSpec {
            data: Some("digits.csv.gz".into()),
            standardize: true,
            l2: 0.01,
            ..Default::default()
        }
        .build::<f32>()
        .unwrap();
        assert_eq!(p.shape(), vec![10, 64]);
        assert_eq!(p.num_samples(), 1797);
        let f_star = p.constants().f_star.unwrap();
        assert!(f_star > 0.0 && f_star < 10f64.ln());
    }
}
