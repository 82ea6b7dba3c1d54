//! The data matrix `A` (m samples × n features) of a finite-sum problem, dense or sparse, and
//! the one pass over its rows that every loss and gradient is built from.
//!
//! - **Dense**: row-major `m × n` values.
//! - **Sparse**: compressed sparse rows, faer's [`SparseRowMat`] (u32 indices), plus a
//!   compressed-column copy ([`SparseColMat`], made by faer's `to_col_major`) so that `Aᵀs` is a
//!   gather per column instead of a scatter. Memory: 2 × (8 + 4) bytes per stored entry for f64.
//!
//! ## The pass
//!
//! A linear model's loss and gradient are `Σᵢ φ(⟨aᵢ, x⟩)` and `Aᵀ φ'(A x)`, and a softmax
//! model's with K score columns `Z = A Xᵀ` (X: K × n, row-major) and `G = Sᵀ A`.
//! [`Design::pass`] computes `Z` for a set of rows (all samples, or a mini-batch), hands each
//! block of it to a coefficient function that turns scores into coefficients `S` in place and
//! returns a partial loss, then adds `Sᵀ A` to the gradient:
//!
//! - dense with at most [`SMALL_DENSE`] values (the lecture's 200 × 10), one score column:
//!   the whole pass in one vectorized call ([`small`](super::small)), from a column-major copy
//!   of A; dense mini-batches of one chunk of work take the same call, gathering their rows;
//! - dense, all rows: fused and blocked — for each block of rows (≤ 32 KiB of A in f64),
//!   `Z_b = A_b Xᵀ` and `G += S_bᵀ A_b` while the block is in cache, so A is read from memory
//!   once per gradient: with one score column by two vectorized loops of our own (four rows at a time,
//!   fixed-order lanes), with K by faer's matrix products;
//! - sparse, all rows: `Z = A Xᵀ` row by row (CSR gather), then `G = Sᵀ A` column by column
//!   (CSC gather), both parallel over disjoint outputs;
//! - mini-batches (repeats allowed), either storage: row by row, `zᵢ = ⟨aᵢ, x⟩`, then
//!   `g += sᵢ aᵢ`.
//!
//! **Determinism.** Work is split into chunks whose boundaries depend only on the shape of the
//! data and of the request (never on the number of threads); chunks run in parallel on rayon
//! when the work is large enough, and their partial gradients and losses are added in chunk
//! order. Each output of a product is a fixed sequence of floating-point operations, so results
//! are identical for any number of threads (and from run to run).

use std::any::Any;

use faer::linalg::matmul::matmul;
use faer::sparse::{SparseColMat, SparseRowMat, SymbolicSparseColMat, SymbolicSparseRowMat};
use faer::{Accum, MatMut, MatRef, Par};
use num_traits::Float;
use rayon::prelude::*;

use super::small::{self, SMALL_DENSE, Small};
use crate::scalar::Scalar;

/// Index type of the sparse storage.
pub type SparseIndex = u32;

/// Most columns of a sparse matrix: 2²⁷ = 134,217,728, above the widest LIBSVM benchmark
/// (kdd2012, 54,686,452 features). The column-major copy holds n + 1 offsets whatever the number
/// of entries, so a file with one entry at column 2·10⁹ would otherwise allocate gigabytes
/// (found by fuzzing the LIBSVM reader).
pub const MAX_SPARSE_COLS: usize = 1 << 27;

/// Target work (multiply-adds) of one parallel chunk; below it a pass runs on the calling thread.
const CHUNK_WORK: usize = 1 << 15;

/// Target size (elements) of a dense block of rows kept in cache by the fused pass.
const BLOCK_ELEMS: usize = 1 << 12;

/// A set of samples a pass runs over: a contiguous range or a list of indices (a mini-batch;
/// repeats allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span<'a> {
    /// Samples `start..end`.
    Range(usize, usize),
    /// These samples, in this order.
    Batch(&'a [usize]),
}

impl<'a> Span<'a> {
    /// Number of positions.
    pub fn len(&self) -> usize {
        match *self {
            Span::Range(a, b) => b.saturating_sub(a),
            Span::Batch(s) => s.len(),
        }
    }

    /// Whether there are no positions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample at position `p < len`.
    #[inline]
    pub fn sample(&self, p: usize) -> usize {
        match *self {
            Span::Range(a, _) => a + p,
            Span::Batch(s) => s[p],
        }
    }

    /// Positions `from..to` of this span.
    pub fn sub(&self, from: usize, to: usize) -> Span<'a> {
        match *self {
            Span::Range(a, _) => Span::Range(a + from, a + to),
            Span::Batch(s) => Span::Batch(&s[from..to]),
        }
    }
}

/// One row `aᵢ` of the data matrix.
#[derive(Clone, Copy, Debug)]
pub enum Row<'a, T> {
    /// All n values.
    Dense(&'a [T]),
    /// The stored entries: column indices (increasing) and values.
    Sparse(&'a [SparseIndex], &'a [T]),
}

impl<T: Scalar> Row<'_, T> {
    /// `⟨aᵢ, x⟩` (dense: the fixed-order 8-lane sum of [`crate::kernels::dot`]).
    #[inline]
    pub fn dot(&self, x: &[T]) -> T {
        match *self {
            Row::Dense(a) => crate::kernels::dot(a, x),
            Row::Sparse(idx, val) => idx
                .iter()
                .zip(val)
                .fold(T::zero(), |s, (&j, &v)| s + v * x[j as usize]),
        }
    }

    /// `g ← g + c aᵢ`.
    #[inline]
    pub fn axpy(&self, c: T, g: &mut [T]) {
        match *self {
            Row::Dense(a) => {
                for (g, &a) in g.iter_mut().zip(a) {
                    *g = *g + c * a;
                }
            }
            Row::Sparse(idx, val) => {
                for (&j, &v) in idx.iter().zip(val) {
                    let g = &mut g[j as usize];
                    *g = *g + c * v;
                }
            }
        }
    }

    /// `‖aᵢ‖²`, summed in order.
    pub fn norm_sq(&self) -> T {
        let values = match *self {
            Row::Dense(a) => a,
            Row::Sparse(_, val) => val,
        };
        values.iter().fold(T::zero(), |s, &v| s + v * v)
    }
}

/// Compressed sparse rows with a compressed-column copy (see the module documentation).
#[derive(Clone, Debug)]
pub struct Csr<T> {
    rows: SparseRowMat<SparseIndex, T>,
    cols: SparseColMat<SparseIndex, T>,
}

/// The data matrix A, dense or sparse (see the module documentation).
#[derive(Clone, Debug)]
pub enum Design<T> {
    /// Row-major m × n values.
    Dense {
        /// Rows m.
        m: usize,
        /// Columns n.
        n: usize,
        /// Values, row-major.
        a: Vec<T>,
        /// The same values column-major when there are at most [`SMALL_DENSE`] of them (the
        /// one-call pass of [`small`](super::small)), else empty.
        cols: Vec<T>,
    },
    /// Compressed sparse rows.
    Sparse(Csr<T>),
}

impl<T: Scalar> Design<T> {
    /// A dense matrix from row-major values.
    ///
    /// # Errors
    /// When `a.len() != m · n`.
    pub fn dense(m: usize, n: usize, a: Vec<T>) -> Result<Self, String> {
        if Some(a.len()) != m.checked_mul(n) {
            return Err(format!(
                "{} values for a {m} × {n} matrix (expected {})",
                a.len(),
                m.saturating_mul(n)
            ));
        }
        let cols = if a.len() <= SMALL_DENSE {
            small::transpose(m, n, &a)
        } else {
            Vec::new()
        };
        Ok(Design::Dense { m, n, a, cols })
    }

    /// A sparse matrix from CSR arrays: `row_ptr` (m + 1 non-decreasing offsets from 0 to the
    /// number of entries), `col_idx` (strictly increasing within each row, < n) and `values`.
    ///
    /// # Errors
    /// When the arrays are not a valid CSR matrix (the message says what is wrong), or it has
    /// 2³² entries or more, or more than [`MAX_SPARSE_COLS`] columns.
    pub fn csr(
        m: usize,
        n: usize,
        row_ptr: Vec<SparseIndex>,
        col_idx: Vec<SparseIndex>,
        values: Vec<T>,
    ) -> Result<Self, String> {
        let nnz = col_idx.len();
        if n > MAX_SPARSE_COLS {
            return Err(format!(
                "{n} columns: at most {MAX_SPARSE_COLS} (2^27; the widest LIBSVM benchmark, kdd2012, has 54,686,452) — is a feature index or `n_features` wrong?"
            ));
        }
        if nnz > SparseIndex::MAX as usize {
            return Err(format!(
                "{n} columns and {nnz} stored entries: sparse storage holds fewer than 2^32 of each"
            ));
        }
        if row_ptr.len() != m + 1 || row_ptr.first() != Some(&0) {
            return Err(format!(
                "row_ptr has {} offsets starting at {:?} (expected {} starting at 0)",
                row_ptr.len(),
                row_ptr.first(),
                m + 1
            ));
        }
        if values.len() != nnz || row_ptr[m] as usize != nnz {
            return Err(format!(
                "{} values and {nnz} column indices, row_ptr ends at {}",
                values.len(),
                row_ptr[m]
            ));
        }
        for i in 0..m {
            let (s, e) = (row_ptr[i] as usize, row_ptr[i + 1] as usize);
            if s > e {
                return Err(format!("row_ptr decreases at row {i}"));
            }
            let cols = &col_idx[s..e];
            if cols.iter().any(|&j| j as usize >= n) {
                return Err(format!("row {i} has a column index ≥ n = {n}"));
            }
            if cols.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("row {i}: column indices not strictly increasing"));
            }
        }
        let symbolic = SymbolicSparseRowMat::new_checked(m, n, row_ptr, None, col_idx);
        let rows = SparseRowMat::new(symbolic, values);
        let cols = rows
            .to_col_major()
            .map_err(|e| format!("CSR to CSC conversion failed: {e:?}"))?;
        Ok(Design::Sparse(Csr { rows, cols }))
    }

    /// Rows m.
    pub fn rows(&self) -> usize {
        match self {
            Design::Dense { m, .. } => *m,
            Design::Sparse(c) => c.rows.nrows(),
        }
    }

    /// Columns n.
    pub fn cols(&self) -> usize {
        match self {
            Design::Dense { n, .. } => *n,
            Design::Sparse(c) => c.rows.ncols(),
        }
    }

    /// Stored values (m · n when dense).
    pub fn nnz(&self) -> usize {
        match self {
            Design::Dense { a, .. } => a.len(),
            Design::Sparse(c) => c.rows.val().len(),
        }
    }

    /// Whether the storage is sparse.
    pub fn is_sparse(&self) -> bool {
        matches!(self, Design::Sparse(_))
    }

    /// `"dense"` or `"sparse (CSR, nnz = …)"`, for descriptions.
    pub fn storage(&self) -> String {
        match self {
            Design::Dense { .. } => "dense".into(),
            Design::Sparse(c) => format!("sparse CSR, {} non-zeros", c.rows.val().len()),
        }
    }

    /// Row `i < m`.
    #[inline]
    pub fn row(&self, i: usize) -> Row<'_, T> {
        match self {
            Design::Dense { n, a, .. } => Row::Dense(&a[i * n..(i + 1) * n]),
            Design::Sparse(c) => {
                let r = c.rows.as_ref();
                let range = r.symbolic().row_range(i);
                Row::Sparse(&r.symbolic().col_idx()[range.clone()], &r.val()[range])
            }
        }
    }

    /// The values as a dense row-major m × n array.
    pub fn to_dense(&self) -> Vec<T> {
        match self {
            Design::Dense { a, .. } => a.clone(),
            Design::Sparse(_) => {
                let (m, n) = (self.rows(), self.cols());
                let mut out = vec![T::zero(); m * n];
                for i in 0..m {
                    if let Row::Sparse(idx, val) = self.row(i) {
                        for (&j, &v) in idx.iter().zip(val) {
                            out[i * n + j as usize] = v;
                        }
                    }
                }
                out
            }
        }
    }

    /// The same matrix in precision `U` (moved without a copy when `U` is `T`).
    pub fn convert<U: Scalar>(self) -> Design<U> {
        let boxed: Box<dyn Any> = Box::new(self);
        match boxed.downcast::<Design<U>>() {
            Ok(same) => *same,
            Err(boxed) => match boxed.downcast::<Design<T>>() {
                Ok(d) => d.map(|v| U::of(v.as_f64())),
                // unreachable: the box holds a Design<T>
                Err(_) => Design::Dense {
                    m: 0,
                    n: 0,
                    a: Vec::new(),
                    cols: Vec::new(),
                },
            },
        }
    }

    fn map<U: Scalar>(&self, f: impl Fn(T) -> U) -> Design<U> {
        match self {
            Design::Dense { m, n, a, cols } => Design::Dense {
                m: *m,
                n: *n,
                a: a.iter().map(|&v| f(v)).collect(),
                cols: cols.iter().map(|&v| f(v)).collect(),
            },
            Design::Sparse(c) => {
                let r = c.rows.symbolic();
                let rows = SparseRowMat::new(
                    SymbolicSparseRowMat::new_checked(
                        r.nrows(),
                        r.ncols(),
                        r.row_ptr().to_vec(),
                        None,
                        r.col_idx().to_vec(),
                    ),
                    c.rows.val().iter().map(|&v| f(v)).collect(),
                );
                let s = c.cols.symbolic();
                let cols = SparseColMat::new(
                    SymbolicSparseColMat::new_checked(
                        s.nrows(),
                        s.ncols(),
                        s.col_ptr().to_vec(),
                        None,
                        s.row_idx().to_vec(),
                    ),
                    c.cols.val().iter().map(|&v| f(v)).collect(),
                );
                Design::Sparse(Csr { rows, cols })
            }
        }
    }

    /// Largest `‖aᵢ‖²` over the rows (0 for no rows).
    pub fn max_row_norm_sq(&self) -> f64 {
        (0..self.rows())
            .map(|i| self.row(i).norm_sq().as_f64())
            .fold(0.0, f64::max)
    }

    /// Multiply-adds of one row with one score column (n dense, the mean stored entries per row
    /// sparse; at least 1).
    fn row_cost(&self) -> usize {
        match self {
            Design::Dense { n, .. } => (*n).max(1),
            Design::Sparse(c) => (c.rows.val().len() / c.rows.nrows().max(1)).max(1),
        }
    }

    /// One pass over the samples of `span` (see the module documentation).
    ///
    /// `x` is the parameter, `k × n` row-major (k = 1: a vector of length n). For each block of
    /// positions, `coef(block, z)` receives the scores `z` (block length × k, row-major:
    /// `z[p·k + c] = ⟨a_{block.sample(p)}, x_c⟩`), must overwrite them with the coefficients
    /// `s`, and returns a partial loss. When `g` is given (length k · n) it is overwritten with
    /// `Sᵀ A_span`. Returns the sum of the partial losses.
    pub fn pass(
        &self,
        span: Span<'_>,
        k: usize,
        x: &[T],
        g: Option<&mut [T]>,
        coef: &(dyn Fn(Span<'_>, &mut [T]) -> f64 + Sync),
    ) -> f64 {
        if let Some(small) = self.small(span, k) {
            return small::pass(small, span, x, g, coef);
        }
        match (self, span) {
            (Design::Dense { n, a, .. }, Span::Range(..)) => {
                dense_fused(a, *n, span, k, x, g, coef)
            }
            (Design::Sparse(c), Span::Range(0, end)) if end == c.rows.nrows() => {
                sparse_full(c, k, x, g, coef)
            }
            _ => self.rowwise(span, k, x, g, coef),
        }
    }

    /// The one-call pass's matrix ([`small::pass`]) when a pass over `span` with `k` score
    /// columns takes it: small dense problems (a range of their rows), and mini-batches of at
    /// most one chunk of work of dense rows, with one score column.
    pub fn small(&self, span: Span<'_>, k: usize) -> Option<Small<'_, T>> {
        match self {
            Design::Dense { m, n, a, cols }
                if k == 1
                    && match span {
                        Span::Range(..) => !cols.is_empty(),
                        Span::Batch(b) => b.len().saturating_mul(*n) <= CHUNK_WORK,
                    } =>
            {
                Some(Small {
                    m: *m,
                    n: *n,
                    rows: a,
                    cols,
                })
            }
            _ => None,
        }
    }

    /// Positions per chunk for a pass over `len` positions whose gradient partials have `width`
    /// entries: enough work per chunk to pay for a task, and for adding its partial gradient.
    fn chunk_len(&self, len: usize, k: usize, width: usize) -> usize {
        let per_row = self.row_cost() * k.max(1);
        let by_work = CHUNK_WORK.div_ceil(per_row);
        let by_partial = (2 * width).div_ceil(per_row);
        by_work.max(by_partial).max(64).min(len.max(1))
    }

    /// Mini-batches (and partial ranges of sparse rows): row-wise gather and axpy.
    fn rowwise(
        &self,
        span: Span<'_>,
        k: usize,
        x: &[T],
        g: Option<&mut [T]>,
        coef: &(dyn Fn(Span<'_>, &mut [T]) -> f64 + Sync),
    ) -> f64 {
        let n = self.cols();
        let len = span.len();
        let width = k * n;
        let chunk = self.chunk_len(len, k, width);
        let want_grad = g.is_some();
        let run = |from: usize, to: usize, acc: &mut [T]| -> f64 {
            let part = span.sub(from, to);
            let mut z = vec![T::zero(); part.len() * k];
            for p in 0..part.len() {
                let row = self.row(part.sample(p));
                for c in 0..k {
                    z[p * k + c] = row.dot(&x[c * n..(c + 1) * n]);
                }
            }
            let loss = coef(part, &mut z);
            if want_grad {
                for p in 0..part.len() {
                    let row = self.row(part.sample(p));
                    for c in 0..k {
                        row.axpy(z[p * k + c], &mut acc[c * n..(c + 1) * n]);
                    }
                }
            }
            loss
        };
        chunked(len, chunk, width, g, &run)
    }
}

/// Runs `run(from, to, partial)` over fixed chunks of `0..len` (in parallel when there are
/// several), adds the partial gradients into `g` and the returned losses in chunk order.
fn chunked<T: Scalar>(
    len: usize,
    chunk: usize,
    width: usize,
    g: Option<&mut [T]>,
    run: &(dyn Fn(usize, usize, &mut [T]) -> f64 + Sync),
) -> f64 {
    let chunks = len.div_ceil(chunk.max(1)).max(1);
    let grad_width = if g.is_some() { width } else { 0 };
    if chunks == 1 {
        return match g {
            Some(g) => {
                g.iter_mut().for_each(|v| *v = T::zero());
                run(0, len, g)
            }
            None => run(0, len, &mut []),
        };
    }
    let partials: Vec<(f64, Vec<T>)> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut acc = vec![T::zero(); grad_width];
            let loss = run(c * chunk, ((c + 1) * chunk).min(len), &mut acc);
            (loss, acc)
        })
        .collect();
    let mut total = 0.0;
    let mut first = true;
    let mut g = g;
    for (loss, acc) in partials {
        total += loss;
        if let Some(g) = g.as_deref_mut() {
            if first {
                g.copy_from_slice(&acc);
            } else {
                for (g, v) in g.iter_mut().zip(&acc) {
                    *g = *g + *v;
                }
            }
        }
        first = false;
    }
    total
}

/// Dense rows `span` (a range): blocked `Z_b = A_b Xᵀ`, coefficients, `G += S_bᵀ A_b`; with one
/// score column in one vectorized call per chunk ([`DenseChunk`]), with several by faer's
/// matrix products.
fn dense_fused<T: Scalar>(
    a: &[T],
    n: usize,
    span: Span<'_>,
    k: usize,
    x: &[T],
    g: Option<&mut [T]>,
    coef: &(dyn Fn(Span<'_>, &mut [T]) -> f64 + Sync),
) -> f64 {
    let Span::Range(start, end) = span else {
        return 0.0;
    };
    let len = end - start;
    let per_row = n.max(1) * k.max(1);
    let chunk = CHUNK_WORK.div_ceil(per_row).max(64).min(len.max(1));
    let block = (BLOCK_ELEMS / n.max(1)).clamp(1, chunk);
    let want_grad = g.is_some();
    if k == 1 {
        let run = |from: usize, to: usize, acc: &mut [T]| -> f64 {
            let (r0, r1) = (start + from, start + to);
            pulp::Arch::new().dispatch(DenseChunk {
                rows: &a[r0 * n..r1 * n],
                ahead: &a[r1 * n..(r1 + block).min(end) * n],
                n,
                r0,
                block,
                x,
                acc: want_grad.then_some(acc),
                coef,
            })
        };
        return chunked(len, chunk, n, g, &run);
    }
    // X is k × n row-major, i.e. Xᵀ is n × k column-major
    let xt = MatRef::from_column_major_slice(x, n, k);
    let run = |from: usize, to: usize, acc: &mut [T]| -> f64 {
        let mut z = vec![T::zero(); block.min(to - from) * k];
        let mut loss = 0.0;
        let mut b0 = from;
        let mut first = true;
        while b0 < to {
            let b1 = (b0 + block).min(to);
            let rows = b1 - b0;
            let (r0, r1) = (start + b0, start + b1);
            let ab = MatRef::from_row_major_slice(&a[r0 * n..r1 * n], rows, n);
            let zb = &mut z[..rows * k];
            matmul(
                MatMut::from_row_major_slice_mut(zb, rows, k),
                Accum::Replace,
                ab,
                xt,
                T::one(),
                Par::Seq,
            );
            loss += coef(Span::Range(r0, r1), zb);
            if want_grad {
                let beta = if first { Accum::Replace } else { Accum::Add };
                matmul(
                    MatMut::from_row_major_slice_mut(acc, k, n),
                    beta,
                    MatRef::from_column_major_slice(zb, k, rows),
                    ab,
                    T::one(),
                    Par::Seq,
                );
            }
            first = false;
            b0 = b1;
        }
        loss
    };
    chunked(len, chunk, k * n, g, &run)
}

/// Rows of a dense pass with one score column (a chunk), compiled for the CPU's widest vector
/// instruction set: per block of `block` rows (≤ 32 KiB in f64, so that the block is still in
/// L1 when it is read the second time), the scores `zᵢ = ⟨aᵢ, x⟩` four rows at a time (each
/// [`small::dot_lanes`]: eight fused multiply-add lanes, added in a fixed order), the
/// coefficients, then `acc ← acc + Σᵢ sᵢ aᵢ` four rows per sweep of `acc` (each `acc_j` the chain
/// of fused multiply-adds over the rows in order). For a 20 000 × 100 matrix faer's products on
/// these blocks spent much of their time being called; this is two loops per block.
///
/// While it scores a block it prefetches the next one into L2, a few lines per four rows. A
/// matrix larger than the caches streams from memory, and the scores' four interleaved rows are
/// short streams that the hardware prefetcher picks up late: on a Zen 3 host the 20 000 × 100
/// pass (16 MB, read once) ran about a quarter faster with the prefetches (docs/PERFORMANCE.md).
struct DenseChunk<'a, T> {
    /// The chunk's rows, row-major (`rows.len() / n` of them).
    rows: &'a [T],
    /// The rows after the chunk's, up to one block: prefetched while its last block is scored
    /// (the next chunk usually runs next on the same thread).
    ahead: &'a [T],
    n: usize,
    /// Sample index of the first row.
    r0: usize,
    block: usize,
    x: &'a [T],
    /// The partial gradient to add to (zero on entry), when wanted.
    acc: Option<&'a mut [T]>,
    coef: &'a (dyn Fn(Span<'_>, &mut [T]) -> f64 + Sync),
}

impl<T: Scalar> pulp::WithSimd for DenseChunk<'_, T> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f64 {
        let DenseChunk {
            rows,
            ahead,
            n,
            r0,
            block,
            x,
            mut acc,
            coef,
        } = self;
        let len = rows.len() / n.max(1);
        let mut z = vec![T::zero(); block.min(len)];
        let mut loss = 0.0;
        let mut b0 = 0;
        while b0 < len {
            let b1 = (b0 + block).min(len);
            let ab = &rows[b0 * n..b1 * n];
            let next = if b1 < len {
                &rows[b1 * n..(b1 + block).min(len) * n]
            } else {
                ahead
            };
            let zb = &mut z[..b1 - b0];
            scores_rows(ab, n, x, zb, next);
            loss += coef(Span::Range(r0 + b0, r0 + b1), zb);
            if let Some(acc) = acc.as_deref_mut() {
                add_rows(ab, n, zb, acc);
            }
            b0 = b1;
        }
        loss
    }
}

/// `z[p] ← ⟨a_p, x⟩` for the rows `a_p` of the row-major `rows` (n columns), four at a time,
/// prefetching `next` into L2 alongside: with each four rows the same stretch of `next`, and its
/// rest (longer than `rows`, or past the last whole four) at the end.
#[inline(always)]
fn scores_rows<T: Scalar>(rows: &[T], n: usize, x: &[T], z: &mut [T], next: &[T]) {
    let row = |p: usize| &rows[p * n..(p + 1) * n];
    let p0 = z.len() / 4 * 4;
    let mut groups = z.chunks_exact_mut(4);
    for (q, zq) in groups.by_ref().enumerate() {
        let p = 4 * q;
        prefetch_l2(next, p * n, (p + 4) * n);
        small::dot_lanes_cols([row(p), row(p + 1), row(p + 2), row(p + 3)], x, zq);
    }
    prefetch_l2(next, p0 * n, next.len());
    for (p, z) in groups.into_remainder().iter_mut().enumerate() {
        *z = small::dot_lanes(row(p0 + p), x);
    }
}

/// Asks the CPU to bring `v[from..to]` (clamped to `v`) into L2, one request per 64-byte line;
/// nothing on other architectures.
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch_l2<T>(v: &[T], from: usize, to: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        let size = core::mem::size_of::<T>();
        let (from, to) = (from.min(v.len()) * size, to.min(v.len()) * size);
        let base = v.as_ptr().cast::<i8>();
        let mut off = from;
        while off < to {
            // SAFETY: `off < v.len() · size_of::<T>()`, so `base + off` lies inside `v`'s
            // allocation; a prefetch is a hint that never faults and writes nothing.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(base.add(off)) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, from, to);
}

/// `acc_j ← fma(a_{p,j}, s_p, acc_j)` for the rows p of `rows` in order (n columns), four rows
/// per sweep of `acc`.
#[inline(always)]
fn add_rows<T: Scalar>(rows: &[T], n: usize, s: &[T], acc: &mut [T]) {
    let acc = &mut acc[..n];
    let row = |p: usize| &rows[p * n..(p + 1) * n];
    let mut p = 0;
    while p + 4 <= s.len() {
        let (a0, a1, a2, a3) = (row(p), row(p + 1), row(p + 2), row(p + 3));
        let (s0, s1, s2, s3) = (s[p], s[p + 1], s[p + 2], s[p + 3]);
        for ((((g, &a0), &a1), &a2), &a3) in acc.iter_mut().zip(a0).zip(a1).zip(a2).zip(a3) {
            let v = Float::mul_add(a0, s0, *g);
            let v = Float::mul_add(a1, s1, v);
            let v = Float::mul_add(a2, s2, v);
            *g = Float::mul_add(a3, s3, v);
        }
        p += 4;
    }
    for (q, &sq) in s.iter().enumerate().skip(p) {
        for (g, &a) in acc.iter_mut().zip(row(q)) {
            *g = Float::mul_add(a, sq, *g);
        }
    }
}

/// All rows of a sparse matrix: `Z = A Xᵀ` (CSR), coefficients, `G = Sᵀ A` (CSC).
fn sparse_full<T: Scalar>(
    c: &Csr<T>,
    k: usize,
    x: &[T],
    g: Option<&mut [T]>,
    coef: &(dyn Fn(Span<'_>, &mut [T]) -> f64 + Sync),
) -> f64 {
    let (m, n) = (c.rows.nrows(), c.rows.ncols());
    let nnz = c.rows.val().len();
    let per_row = (nnz / m.max(1)).max(1) * k.max(1);
    let chunk = CHUNK_WORK.div_ceil(per_row).max(64).min(m.max(1));
    let rows = c.rows.as_ref();
    let mut z = vec![T::zero(); m * k];
    let score = |i0: usize, zc: &mut [T]| -> f64 {
        let len = zc.len() / k.max(1);
        for p in 0..len {
            let i = i0 + p;
            let range = rows.symbolic().row_range(i);
            let idx = &rows.symbolic().col_idx()[range.clone()];
            let val = &rows.val()[range];
            for cl in 0..k {
                let xc = &x[cl * n..(cl + 1) * n];
                zc[p * k + cl] = idx
                    .iter()
                    .zip(val)
                    .fold(T::zero(), |s, (&j, &v)| s + v * xc[j as usize]);
            }
        }
        coef(Span::Range(i0, i0 + len), zc)
    };
    let losses: Vec<f64> = if m * per_row < CHUNK_WORK {
        vec![score(0, &mut z)]
    } else {
        z.par_chunks_mut(chunk * k)
            .enumerate()
            .map(|(ci, zc)| score(ci * chunk, zc))
            .collect()
    };
    let loss = losses.into_iter().fold(0.0, |a, b| a + b);
    let Some(g) = g else {
        return loss;
    };
    // G[c, j] = Σ_{i ∈ column j} A_ij S[i, c], one column at a time
    let cols = c.cols.as_ref();
    let col_chunk = CHUNK_WORK
        .div_ceil((nnz / n.max(1)).max(1) * k.max(1))
        .max(64);
    let gather = |j0: usize, out: &mut [T]| {
        // out: columns j0.. as rows of Gᵀ (n × k row-major)
        let len = out.len() / k.max(1);
        for q in 0..len {
            let j = j0 + q;
            let range = cols.symbolic().col_range(j);
            let idx = &cols.symbolic().row_idx()[range.clone()];
            let val = &cols.val()[range];
            for cl in 0..k {
                out[q * k + cl] = idx
                    .iter()
                    .zip(val)
                    .fold(T::zero(), |s, (&i, &v)| s + v * z[i as usize * k + cl]);
            }
        }
    };
    if k == 1 {
        if nnz < CHUNK_WORK {
            gather(0, g);
        } else {
            g.par_chunks_mut(col_chunk)
                .enumerate()
                .for_each(|(ci, out)| gather(ci * col_chunk, out));
        }
    } else {
        let mut gt = vec![T::zero(); n * k];
        if nnz * k < CHUNK_WORK {
            gather(0, &mut gt);
        } else {
            gt.par_chunks_mut(col_chunk * k)
                .enumerate()
                .for_each(|(ci, out)| gather(ci * col_chunk, out));
        }
        for j in 0..n {
            for cl in 0..k {
                g[cl * n + j] = gt[j * k + cl];
            }
        }
    }
    loss
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random m × n matrix with about `density` of its entries non-zero (some explicit zeros
    /// stored in the sparse copy), dense and sparse.
    fn pair(m: usize, n: usize, density: f64, seed: u64) -> (Design<f64>, Design<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut dense = vec![0.0; m * n];
        let (mut ptr, mut idx, mut val) = (vec![0u32], Vec::new(), Vec::new());
        for i in 0..m {
            for j in 0..n {
                let r: f64 = rng.random();
                if r < density {
                    let v = if r < density * 0.05 {
                        0.0
                    } else {
                        rng.random_range(-2.0..2.0)
                    };
                    dense[i * n + j] = v;
                    idx.push(j as u32);
                    val.push(v);
                }
            }
            ptr.push(idx.len() as u32);
        }
        (
            Design::dense(m, n, dense).unwrap(),
            Design::csr(m, n, ptr, idx, val).unwrap(),
        )
    }

    /// Reference: plain loops.
    fn reference(
        a: &Design<f64>,
        span: Span<'_>,
        k: usize,
        x: &[f64],
        f: impl Fn(usize, &mut [f64]),
    ) -> Vec<f64> {
        let n = a.cols();
        let dense = a.to_dense();
        let mut g = vec![0.0; k * n];
        for p in 0..span.len() {
            let i = span.sample(p);
            let mut z: Vec<f64> = (0..k)
                .map(|c| (0..n).map(|j| dense[i * n + j] * x[c * n + j]).sum())
                .collect();
            f(i, &mut z);
            for c in 0..k {
                for j in 0..n {
                    g[c * n + j] += z[c] * dense[i * n + j];
                }
            }
        }
        g
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        let scale = b.iter().fold(1e-300f64, |s, v| s.max(v.abs()));
        for (u, v) in a.iter().zip(b) {
            assert!((u - v).abs() <= tol * scale, "{u} vs {v}");
        }
    }

    #[test]
    fn passes_match_plain_loops_dense_and_sparse() {
        for &(m, n, density, k) in &[
            (37, 5, 0.6, 1),
            (3000, 40, 0.1, 1),
            (2003, 29, 0.2, 1),
            (2500, 300, 0.02, 3),
            (5, 2000, 0.3, 2),
        ] {
            let (d, s) = pair(m, n, density, m as u64);
            let x: Vec<f64> = (0..k * n)
                .map(|j| ((j * 7 % 13) as f64 - 6.0) * 0.1)
                .collect();
            let w = |i: usize| 1.0 + (i % 5) as f64;
            let coef = |span: Span<'_>, z: &mut [f64]| -> f64 {
                let mut loss = 0.0;
                for p in 0..span.len() {
                    for c in 0..k {
                        loss += z[p * k + c];
                        z[p * k + c] *= w(span.sample(p));
                    }
                }
                loss
            };
            let batch: Vec<usize> = (0..m).rev().step_by(3).chain([0, 0]).collect();
            for span in [
                Span::Range(0, m),
                Span::Range(m / 3, m),
                Span::Batch(&batch),
            ] {
                let want = reference(&d, span, k, &x, |i, z| {
                    z.iter_mut().for_each(|v| *v *= w(i))
                });
                for a in [&d, &s] {
                    let mut g = vec![f64::NAN; k * n];
                    let loss = a.pass(span, k, &x, Some(&mut g), &coef);
                    close(&g, &want, 1e-12);
                    let loss_only = a.pass(span, k, &x, None, &coef);
                    assert_eq!(loss.to_bits(), loss_only.to_bits());
                }
            }
        }
    }

    #[test]
    fn passes_are_thread_count_independent() {
        let (d, s) = pair(4000, 200, 0.05, 9);
        let x: Vec<f64> = (0..200).map(|j| (j as f64).sin()).collect();
        let coef = |span: Span<'_>, z: &mut [f64]| -> f64 {
            z.iter_mut().enumerate().fold(0.0, |l, (p, v)| {
                let t = (*v + span.sample(p) as f64 * 1e-3).tanh();
                *v = t;
                l + t * t
            })
        };
        let batch: Vec<usize> = (0..3000).map(|i| (i * 17) % 4000).collect();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut out = Vec::new();
                    for a in [&d, &s] {
                        for span in [Span::Range(0, 4000), Span::Batch(&batch)] {
                            let mut g = vec![0.0; 200];
                            out.push(a.pass(span, 1, &x, Some(&mut g), &coef).to_bits());
                            out.extend(g.iter().map(|v| v.to_bits()));
                        }
                    }
                    out
                })
        };
        assert_eq!(run(1), run(2));
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn conversion_and_validation() {
        let (d, s) = pair(20, 7, 0.4, 3);
        assert_eq!(s.to_dense(), d.to_dense());
        let f: Design<f32> = s.clone().convert();
        assert_eq!((f.rows(), f.cols(), f.nnz()), (20, 7, s.nnz()));
        let back: Design<f64> = f.convert();
        let rounded: Vec<f64> = d.to_dense().iter().map(|&v| f64::from(v as f32)).collect();
        assert_eq!(back.to_dense(), rounded);
        let same: Design<f64> = d.clone().convert();
        assert_eq!(same.to_dense(), d.to_dense());
        assert!(Design::<f64>::dense(2, 3, vec![0.0; 5]).is_err());
        assert!(Design::<f64>::csr(2, 3, vec![0, 1, 2], vec![0, 3], vec![1.0, 1.0]).is_err());
        assert!(Design::<f64>::csr(1, 3, vec![0, 2], vec![1, 1], vec![1.0, 1.0]).is_err());
        assert!(Design::<f64>::csr(2, 3, vec![0, 2], vec![1], vec![1.0]).is_err());
        assert!(Design::<f64>::csr(1, 3, vec![0, 2], vec![0, 2], vec![1.0, 1.0]).is_ok());
        // fuzz finding: one entry at column 2,222,222,240 once allocated n + 1 column offsets
        let wide = Design::<f64>::csr(1, 2_222_222_241, vec![0, 1], vec![2_222_222_240], vec![1.0]);
        assert!(wide.is_err_and(|e| e.contains("at most 134217728")));
    }
}
