//! The pass of a small dense problem in one vectorized call (the lecture's m = 200, n = 10).
//!
//! For a 200 × 10 matrix a gradient is 4 000 multiply-adds and 200 exponentials: a general
//! matrix–vector product (faer's, on blocks of rows) spends more time being called and
//! dispatched than multiplying, and code compiled for baseline x86-64 is SSE2 only. Here the
//! whole pass — `z = A x`, the coefficient function, `g = Aᵀ s` — is one [`pulp::WithSimd`]
//! body, compiled for the CPU's widest vector instruction set and entered once per gradient:
//!
//! - **scores** `zᵢ = ⟨aᵢ, x⟩` from a column-major copy of A (kept by [`Design`] for matrices
//!   of at most [`SMALL_DENSE`] values): `z ← z + x_j a_{:,j}` column after column, vectorized
//!   across rows, in register blocks of [`BLOCK`] rows. Every `zᵢ` is the same chain of fused
//!   multiply-adds `fma(a_{i,n−1}, x_{n−1}, … fma(a_{i,1}, x_1, a_{i,0} x_0))` — also for a row
//!   of a mini-batch, gathered from the row-major values ([`score_row`]): a sample's score is
//!   the same number in a full pass and in a mini-batch;
//! - **gradient**, all rows: `g_j = ⟨a_{:,j}, s⟩`, a dot product with eight interleaved partial
//!   sums added in a fixed order ([`dot_lanes`]); mini-batch rows: `g ← g + s_p a_{i_p}` in
//!   batch order, blocks of columns kept in registers across the rows ([`add_batch_rows`]), the
//!   rows' scores four chains at a time ([`scores_batch`]).
//!
//! Every operation is an exactly rounded IEEE operation in a fixed order (explicit fused
//! multiply-adds, explicit lanes), so the result has the same bits whichever instruction set
//! runs it, and for any number of threads (the pass runs on the calling thread: it is one
//! chunk of work).
//!
//! [`Design`]: super::design::Design

use num_traits::Float;

use super::design::Span;
use crate::scalar::Scalar;

/// Dense matrices of at most this many values keep a column-major copy and take this pass
/// (2¹⁵: one chunk of work, below which a pass runs on one thread anyway; 256 KiB in f64).
pub const SMALL_DENSE: usize = 1 << 15;

/// Rows per register block of the scores: four independent AVX-512 vectors of f64 (eight AVX2),
/// so that the fused multiply-adds of consecutive columns are not waiting on one another's
/// latency (a block of 16, two chains, ran at half the FMA throughput).
const BLOCK: usize = 32;

/// Columns of the gradient `g_j = ⟨a_{:,j}, s⟩` computed together by [`dot_lanes_cols`]: four
/// independent accumulator chains sharing each load of `s`.
const COLS: usize = 4;

/// Interleaved partial sums of [`dot_lanes`].
const LANES: usize = 8;

/// `zᵢ ← ⟨aᵢ, x⟩` for rows `r0..r0 + z.len()` of the m-row column-major matrix `cols`
/// (`cols[j·m + i] = a_ij`), each a chain of fused multiply-adds over j = 0..n in order: in
/// register blocks of [`BLOCK`] rows, then blocks of 16, 8 and 4, then row by row (the same
/// chain).
#[inline(always)]
pub fn scores_cols<T: Scalar>(cols: &[T], m: usize, r0: usize, x: &[T], z: &mut [T]) {
    let mut done = 0;
    while z.len() - done >= BLOCK {
        score_block::<T, BLOCK>(cols, m, r0 + done, x, &mut z[done..done + BLOCK]);
        done += BLOCK;
    }
    if z.len() - done >= 16 {
        score_block::<T, 16>(cols, m, r0 + done, x, &mut z[done..done + 16]);
        done += 16;
    }
    if z.len() - done >= 8 {
        score_block::<T, 8>(cols, m, r0 + done, x, &mut z[done..done + 8]);
        done += 8;
    }
    if z.len() - done >= 4 {
        score_block::<T, 4>(cols, m, r0 + done, x, &mut z[done..done + 4]);
        done += 4;
    }
    for (p, z) in z.iter_mut().enumerate().skip(done) {
        score_block::<T, 1>(cols, m, r0 + p, x, std::slice::from_mut(z));
    }
}

/// `z[l] ← ⟨a_{i0+l}, x⟩` for `l < B` (see [`scores_cols`]).
#[inline(always)]
fn score_block<T: Scalar, const B: usize>(cols: &[T], m: usize, i0: usize, x: &[T], z: &mut [T]) {
    let mut acc = [T::zero(); B];
    if let Some((&x0, rest)) = x.split_first() {
        let c0 = &cols[i0..i0 + B];
        for l in 0..B {
            acc[l] = c0[l] * x0;
        }
        for (j, &xj) in rest.iter().enumerate() {
            let from = (j + 1) * m + i0;
            let c = &cols[from..from + B];
            for l in 0..B {
                acc[l] = Float::mul_add(c[l], xj, acc[l]);
            }
        }
    }
    z[..B].copy_from_slice(&acc);
}

/// `⟨a, x⟩` for one row-major row: the same chain of fused multiply-adds as [`scores_cols`].
#[inline(always)]
pub fn score_row<T: Scalar>(row: &[T], x: &[T]) -> T {
    let mut pairs = row.iter().zip(x);
    let Some((&a0, &x0)) = pairs.next() else {
        return T::zero();
    };
    pairs.fold(a0 * x0, |s, (&a, &x)| Float::mul_add(a, x, s))
}

/// `z[p] ← ⟨a_{rows[p]}, x⟩` for the rows of a mini-batch, from the row-major `values` (n
/// columns): each exactly [`score_row`]'s chain, four rows' chains interleaved in one loop so
/// that their fused multiply-adds overlap (one row's chain alone waits n times on the latency;
/// eight rows per loop, through an array of row slices, measured slower).
#[inline(always)]
fn scores_batch<T: Scalar>(values: &[T], n: usize, rows: &[usize], x: &[T], z: &mut [T]) {
    let row = |i: usize| &values[i * n..(i + 1) * n];
    let mut zs = z.chunks_exact_mut(4);
    let mut is = rows.chunks_exact(4);
    for (zq, iq) in zs.by_ref().zip(is.by_ref()) {
        let (r0, r1, r2, r3) = (row(iq[0]), row(iq[1]), row(iq[2]), row(iq[3]));
        let Some((&x0, xs)) = x.split_first() else {
            zq.fill(T::zero());
            continue;
        };
        let mut acc = [r0[0] * x0, r1[0] * x0, r2[0] * x0, r3[0] * x0];
        let tails = r0[1..]
            .iter()
            .zip(&r1[1..])
            .zip(r2[1..].iter().zip(&r3[1..]));
        for (&xj, ((&a0, &a1), (&a2, &a3))) in xs.iter().zip(tails) {
            acc[0] = Float::mul_add(a0, xj, acc[0]);
            acc[1] = Float::mul_add(a1, xj, acc[1]);
            acc[2] = Float::mul_add(a2, xj, acc[2]);
            acc[3] = Float::mul_add(a3, xj, acc[3]);
        }
        zq.copy_from_slice(&acc);
    }
    for (z, &i) in zs.into_remainder().iter_mut().zip(is.remainder()) {
        *z = score_row(row(i), x);
    }
}

/// `g ← Σ_p s_p a_{rows[p]}` for the rows of a mini-batch (row-major `values`, n columns): each
/// `g_j` the chain of fused multiply-adds over the rows in batch order, from 0. Computed in blocks
/// of eight and four columns (then single columns) whose sums stay in registers across the rows,
/// instead of a load and a store of g per row.
#[inline(always)]
fn add_batch_rows<T: Scalar>(values: &[T], n: usize, rows: &[usize], s: &[T], g: &mut [T]) {
    let g = &mut g[..n];
    let mut j0 = 0;
    while n - j0 >= 8 {
        batch_columns::<T, 8>(values, n, j0, rows, s, &mut g[j0..j0 + 8]);
        j0 += 8;
    }
    if n - j0 >= 4 {
        batch_columns::<T, 4>(values, n, j0, rows, s, &mut g[j0..j0 + 4]);
        j0 += 4;
    }
    for j in j0..n {
        batch_columns::<T, 1>(values, n, j, rows, s, &mut g[j..=j]);
    }
}

/// `g[l] ← Σ_p s_p a_{rows[p], j0+l}` for `l < B` (see [`add_batch_rows`]).
#[inline(always)]
fn batch_columns<T: Scalar, const B: usize>(
    values: &[T],
    n: usize,
    j0: usize,
    rows: &[usize],
    s: &[T],
    g: &mut [T],
) {
    let mut acc = [T::zero(); B];
    for (&sp, &i) in s.iter().zip(rows) {
        let from = i * n + j0;
        let v = &values[from..from + B];
        for l in 0..B {
            acc[l] = Float::mul_add(v[l], sp, acc[l]);
        }
    }
    g[..B].copy_from_slice(&acc);
}

/// `⟨a, s⟩` with eight interleaved partial sums (fused multiply-adds), added in a fixed order.
#[inline(always)]
pub fn dot_lanes<T: Scalar>(a: &[T], s: &[T]) -> T {
    let mut acc = [T::zero(); LANES];
    let ac = a.chunks_exact(LANES);
    let sc = s.chunks_exact(LANES);
    let (ar, sr) = (ac.remainder(), sc.remainder());
    for (a, s) in ac.zip(sc) {
        for l in 0..LANES {
            acc[l] = Float::mul_add(a[l], s[l], acc[l]);
        }
    }
    for (l, (&a, &s)) in ar.iter().zip(sr).enumerate() {
        acc[l] = Float::mul_add(a, s, acc[l]);
    }
    lane_total(&acc)
}

/// `g_j ← ⟨a_{:,j}, s⟩` for the `COLS` columns `a_{:,j} = cols[j]`: each column exactly
/// [`dot_lanes`] (the same eight lanes, the same order, the same bits), the columns' chains
/// interleaved so that each load of `s` feeds `COLS` independent fused multiply-adds.
#[inline(always)]
pub fn dot_lanes_cols<T: Scalar>(cols: [&[T]; COLS], s: &[T], g: &mut [T]) {
    let mut acc = [[T::zero(); LANES]; COLS];
    let whole = s.len() / LANES * LANES;
    let cols = cols.map(|c| &c[..s.len()]);
    let mut k = 0;
    while k < whole {
        let sk = lanes_at(s, k);
        fma_lanes(&mut acc[0], lanes_at(cols[0], k), sk);
        fma_lanes(&mut acc[1], lanes_at(cols[1], k), sk);
        fma_lanes(&mut acc[2], lanes_at(cols[2], k), sk);
        fma_lanes(&mut acc[3], lanes_at(cols[3], k), sk);
        k += LANES;
    }
    for (acc, col) in acc.iter_mut().zip(cols) {
        for (l, (&a, &s)) in col[whole..].iter().zip(&s[whole..]).enumerate() {
            acc[l] = Float::mul_add(a, s, acc[l]);
        }
    }
    for (g, acc) in g.iter_mut().zip(&acc) {
        *g = lane_total(acc);
    }
}

/// `v[k..k + LANES]`.
#[inline(always)]
fn lanes_at<T: Scalar>(v: &[T], k: usize) -> &[T] {
    &v[k..k + LANES]
}

/// `acc[l] ← fma(a[l], s[l], acc[l])` for every lane (`a`, `s`: LANES values).
#[inline(always)]
fn fma_lanes<T: Scalar>(acc: &mut [T; LANES], a: &[T], s: &[T]) {
    let (a, s) = (&a[..LANES], &s[..LANES]);
    for l in 0..LANES {
        acc[l] = Float::mul_add(a[l], s[l], acc[l]);
    }
}

#[inline(always)]
fn lane_total<T: Scalar>(acc: &[T; LANES]) -> T {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// The matrix of a small pass: row-major values and their column-major copy.
#[derive(Clone, Copy)]
pub struct Small<'a, T> {
    /// Rows m.
    pub m: usize,
    /// Columns n.
    pub n: usize,
    /// Row-major values (`a[i·n + j]`).
    pub rows: &'a [T],
    /// Column-major values (`cols[j·m + i]`).
    pub cols: &'a [T],
}

/// The coefficient step of a pass: overwrite the scores `zₚ = ⟨a_{span(p)}, x⟩` of `span`'s
/// samples with the coefficients `sₚ` of `g = Σₚ sₚ a_{span(p)}` and return the samples' loss.
///
/// Any `Fn(Span, &mut [T]) -> f64` is one (called through a pointer). A problem's own type with
/// an `#[inline(always)]` [`apply`](Coefficients::apply) is compiled into the vectorized body
/// of [`pass`] (scores, coefficients and gradient in one call, the coefficients' loops
/// vectorized for the same instruction set).
pub trait Coefficients<T>: Sync {
    /// Scores in, coefficients out (`z.len() == span.len()`); returns the partial loss.
    fn apply(&self, span: Span<'_>, z: &mut [T]) -> f64;
}

impl<T, F> Coefficients<T> for F
where
    F: Fn(Span<'_>, &mut [T]) -> f64 + Sync + ?Sized,
{
    #[inline(always)]
    fn apply(&self, span: Span<'_>, z: &mut [T]) -> f64 {
        self(span, z)
    }
}

/// Positions whose scores a pass keeps on the stack (larger spans allocate).
const STACK_SCORES: usize = 256;

/// One pass of [`Design::pass`](super::design::Design::pass) with one score column, in one
/// vectorized call (see the module documentation): scores, `coef` (which overwrites them with
/// the coefficients and returns a partial loss), then `g ← Aᵀ s` when `g` is given.
pub fn pass<T: Scalar, C: Coefficients<T> + ?Sized>(
    a: Small<'_, T>,
    span: Span<'_>,
    x: &[T],
    g: Option<&mut [T]>,
    coef: &C,
) -> f64 {
    pulp::Arch::new().dispatch(SmallPass {
        a,
        span,
        x,
        g,
        coef,
    })
}

struct SmallPass<'a, 'c, T, C: ?Sized> {
    a: Small<'a, T>,
    span: Span<'a>,
    x: &'a [T],
    g: Option<&'a mut [T]>,
    coef: &'c C,
}

impl<T: Scalar, C: Coefficients<T> + ?Sized> pulp::WithSimd for SmallPass<'_, '_, T, C> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f64 {
        let len = self.span.len();
        if len <= 16 {
            let mut z = [T::zero(); 16];
            self.run(&mut z[..len])
        } else if len <= STACK_SCORES {
            let mut z = [T::zero(); STACK_SCORES];
            self.run(&mut z[..len])
        } else {
            let mut z = vec![T::zero(); len];
            self.run(&mut z)
        }
    }
}

impl<T: Scalar, C: Coefficients<T> + ?Sized> SmallPass<'_, '_, T, C> {
    /// The pass with `z` (of the span's length) as the scores' storage.
    #[inline(always)]
    fn run(self, z: &mut [T]) -> f64 {
        let SmallPass {
            a,
            span,
            x,
            g,
            coef,
        } = self;
        let n = a.n;
        match span {
            Span::Range(r0, _) => scores_cols(a.cols, a.m, r0, x, z),
            Span::Batch(rows) => scores_batch(a.rows, n, rows, x, z),
        }
        let loss = coef.apply(span, z);
        if let Some(g) = g {
            match span {
                Span::Range(r0, _) => {
                    let col = |j: usize| &a.cols[j * a.m + r0..j * a.m + r0 + z.len()];
                    let mut groups = g.chunks_exact_mut(COLS);
                    for (q, gq) in groups.by_ref().enumerate() {
                        let j = q * COLS;
                        dot_lanes_cols([col(j), col(j + 1), col(j + 2), col(j + 3)], z, gq);
                    }
                    let rest = groups.into_remainder();
                    let j0 = n - rest.len();
                    for (j, g) in rest.iter_mut().enumerate() {
                        *g = dot_lanes(col(j0 + j), z);
                    }
                }
                Span::Batch(rows) => add_batch_rows(a.rows, n, rows, z, g),
            }
        }
        loss
    }
}

/// The column-major copy of a row-major m × n matrix.
pub fn transpose<T: Scalar>(m: usize, n: usize, rows: &[T]) -> Vec<T> {
    let mut cols = vec![T::zero(); m * n];
    for i in 0..m {
        for j in 0..n {
            cols[j * m + i] = rows[i * n + j];
        }
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(len: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.random_range(-2.0..2.0)).collect()
    }

    /// `|u − v| ≤ tol · Σ |terms|` (the error bound of a sum of these terms).
    fn close(u: f64, v: f64, terms: f64, tol: f64) {
        assert!((u - v).abs() <= tol * terms, "{u} vs {v}");
    }

    #[test]
    fn scores_are_the_row_dot_products_and_agree_with_gathered_rows() {
        // blocks of 16, 8 and 4 and single rows; r0 > 0 for a partial range
        for (m, n, r0) in [
            (37, 5, 0),
            (37, 5, 3),
            (200, 10, 0),
            (9, 1, 2),
            (16, 3, 0),
            (31, 4, 2),
        ] {
            let rows = random(m * n, m as u64);
            let cols = transpose(m, n, &rows);
            let x = random(n, 7);
            let mut z = vec![f64::NAN; m - r0];
            scores_cols(&cols, m, r0, &x, &mut z);
            for (p, &zp) in z.iter().enumerate() {
                let row = &rows[(r0 + p) * n..(r0 + p + 1) * n];
                let plain: f64 = row.iter().zip(&x).map(|(a, x)| a * x).sum();
                let terms: f64 = row.iter().zip(&x).map(|(a, x)| (a * x).abs()).sum();
                close(zp, plain, terms, 1e-15);
                // the same fused chain from the row-major row: the same bits
                assert_eq!(zp.to_bits(), score_row(row, &x).to_bits());
            }
        }
    }

    #[test]
    fn batch_scores_and_gradients_are_the_in_order_chains_bit_for_bit() {
        // batch sizes around the four-row groups, widths around the 8- and 4-column blocks
        for n in [1, 3, 4, 5, 8, 10, 13, 20] {
            let m = 31;
            let rows = random(m * n, n as u64);
            let x = random(n, 40 + n as u64);
            for len in 0..=13 {
                let batch: Vec<usize> = (0..len).map(|p| (7 * p + 3) % m).collect();
                let mut z = vec![f64::NAN; len];
                scores_batch(&rows, n, &batch, &x, &mut z);
                let s = random(len, 90 + len as u64);
                let mut g = vec![f64::NAN; n];
                add_batch_rows(&rows, n, &batch, &s, &mut g);
                for (p, &i) in batch.iter().enumerate() {
                    let row = &rows[i * n..(i + 1) * n];
                    assert_eq!(z[p].to_bits(), score_row(row, &x).to_bits(), "n {n}, {len}");
                }
                for (j, gj) in g.iter().enumerate() {
                    let want = batch
                        .iter()
                        .zip(&s)
                        .fold(0.0, |acc: f64, (&i, &sp)| rows[i * n + j].mul_add(sp, acc));
                    assert_eq!(gj.to_bits(), want.to_bits(), "n {n}, {len}, column {j}");
                }
            }
        }
    }

    #[test]
    fn dot_lanes_is_the_dot_product() {
        for len in [0, 1, 7, 8, 9, 200, 1001] {
            let (a, s) = (random(len, 1), random(len, 2));
            let plain: f64 = a.iter().zip(&s).map(|(a, s)| a * s).sum();
            let terms: f64 = a.iter().zip(&s).map(|(a, s)| (a * s).abs()).sum();
            close(dot_lanes(&a, &s), plain, terms, 1e-15);
        }
        assert_eq!(score_row::<f64>(&[], &[]), 0.0);
    }

    #[test]
    fn dot_lanes_cols_is_dot_lanes_per_column_bit_for_bit() {
        for len in [0, 1, 7, 8, 9, 200, 1001] {
            let s = random(len, 11);
            let cols: Vec<Vec<f64>> = (0..COLS).map(|c| random(len, 20 + c as u64)).collect();
            let mut g = [f64::NAN; COLS];
            dot_lanes_cols([&cols[0], &cols[1], &cols[2], &cols[3]], &s, &mut g);
            for (gj, col) in g.iter().zip(&cols) {
                assert_eq!(gj.to_bits(), dot_lanes(col, &s).to_bits(), "length {len}");
            }
        }
    }

    #[test]
    fn pass_is_the_plain_formula_for_ranges_and_batches() {
        let (m, n) = (53, 7);
        let rows = random(m * n, 3);
        let cols = transpose(m, n, &rows);
        let a = Small {
            m,
            n,
            rows: &rows,
            cols: &cols,
        };
        let x = random(n, 4);
        // s_i = w_i z_i, loss Σ z_i
        let w = |i: usize| 0.5 + (i % 3) as f64;
        let coef = |span: Span<'_>, z: &mut [f64]| -> f64 {
            let mut loss = 0.0;
            for (p, z) in z.iter_mut().enumerate() {
                loss += *z;
                *z *= w(span.sample(p));
            }
            loss
        };
        let batch = [5, 0, 52, 5, 17];
        for span in [Span::Range(0, m), Span::Range(10, 40), Span::Batch(&batch)] {
            let (mut want, mut want_loss, mut terms) = (vec![0.0; n], 0.0, 0.0);
            for p in 0..span.len() {
                let i = span.sample(p);
                let row = &rows[i * n..(i + 1) * n];
                let z: f64 = row.iter().zip(&x).map(|(a, x)| a * x).sum();
                want_loss += z;
                terms += row.iter().map(|a| a.abs()).sum::<f64>();
                for (g, a) in want.iter_mut().zip(row) {
                    *g += w(i) * z * a;
                }
            }
            let mut g = vec![f64::NAN; n];
            let loss = pass(a, span, &x, Some(&mut g), &coef);
            let scale = terms * x.iter().map(|v| v.abs()).sum::<f64>() * 3.0;
            close(loss, want_loss, scale, 1e-14);
            for (u, v) in g.iter().zip(&want) {
                close(*u, *v, scale, 1e-14);
            }
            assert_eq!(loss.to_bits(), pass(a, span, &x, None, &coef).to_bits());
        }
    }

    #[test]
    fn f32_pass_matches_f64() {
        let (m, n) = (40, 4);
        let rows = random(m * n, 5);
        let rows32: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
        let cols32 = transpose(m, n, &rows32);
        let x32 = [0.5f32, -0.25, 1.0, 0.125];
        let a = Small {
            m,
            n,
            rows: &rows32,
            cols: &cols32,
        };
        let coef = |_: Span<'_>, z: &mut [f32]| -> f64 { z.iter().map(|&v| f64::from(v)).sum() };
        let mut g = vec![0.0f32; n];
        pass(a, Span::Range(0, m), &x32, Some(&mut g), &coef);
        for (j, &gj) in g.iter().enumerate() {
            let want: f64 = (0..m)
                .map(|i| {
                    let r = &rows32[i * n..(i + 1) * n];
                    let z: f64 = r.iter().zip(&x32).map(|(&a, &x)| f64::from(a * x)).sum();
                    z * f64::from(r[j])
                })
                .sum();
            assert!(
                (f64::from(gj) - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{gj} vs {want}"
            );
        }
    }
}
