//! Small vector kernels shared by optimizers and problems: non-finite scans and reductions.
//!
//! Reductions over large vectors run on rayon with a *fixed* chunking and combine the partial
//! results in chunk order, so their value does not depend on the number of threads.

use rayon::prelude::*;

use crate::scalar::Scalar;

/// pulp, for [`vectorized!`](crate::vectorized) in other crates.
#[doc(hidden)]
pub use pulp;

/// Defines `fn $name(args) -> out { body }` whose body (a loop over slices) is compiled for the
/// CPU's widest vector instruction set, chosen at run time by [`pulp::Arch`] (AVX-512 or
/// AVX2 + FMA on x86-64; the portable build assumes SSE2): the body becomes a
/// [`pulp::WithSimd`] operation, so that it — and the `#[inline(always)]` functions it calls —
/// are inlined into pulp's target-feature function and auto-vectorized there.
///
/// A closure passed to `Arch::dispatch` is not enough: pulp calls it through its `FnOnce`
/// shim, which LLVM does not inline into the target-feature function once the body is more
/// than a few instructions, so the loop stays baseline scalar code and every `mul_add` becomes
/// a library call (`objdump` of the release binary; `perf`: the GPT's GELU took a fifth of its
/// step that way). Arguments are named with their types, references with the lifetime `'a`:
///
/// ```
/// optlab_optim::vectorized! {
///     /// `ys ← 2·xs`.
///     pub fn double(ys: &'a mut [f32], xs: &'a [f32]) -> () {
///         for (y, &x) in ys.iter_mut().zip(xs) {
///             *y = 2.0 * x;
///         }
///     }
/// }
/// let mut y = [0.0; 3];
/// double(&mut y, &[1.0, 2.0, 3.0]);
/// assert_eq!(y, [2.0, 4.0, 6.0]);
/// ```
#[macro_export]
macro_rules! vectorized {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $out:ty $body:block) => {
        $(#[$doc])*
        $vis fn $name<'a>($($arg: $ty),*) -> $out {
            #[allow(non_camel_case_types)]
            struct $name<'a> {
                $($arg: $ty,)*
                _life: ::std::marker::PhantomData<&'a ()>,
            }
            impl $crate::kernels::pulp::WithSimd for $name<'_> {
                type Output = $out;
                #[inline(always)]
                fn with_simd<S: $crate::kernels::pulp::Simd>(self, _simd: S) -> $out {
                    let $name { $($arg,)* .. } = self;
                    $body
                }
            }
            $crate::kernels::pulp::Arch::new()
                .dispatch($name { $($arg,)* _life: ::std::marker::PhantomData })
        }
    };
}

/// Elements per parallel work item. Tensors shorter than [`PAR_MIN`] stay on the calling thread.
pub const PAR_CHUNK: usize = 1 << 15;

/// Below this many elements a kernel runs on one thread (no rayon, no allocation).
pub const PAR_MIN: usize = 1 << 16;

/// Lanes of the accumulators used by reductions (lets the compiler vectorize without
/// reassociating floating-point sums).
const LANES: usize = 8;

/// Position and value of the first NaN/±Inf in `xs`, if any.
#[inline]
pub fn first_non_finite<T: Scalar>(xs: &[T]) -> Option<(usize, T)> {
    let all_finite = if xs.len() >= PAR_MIN {
        xs.par_chunks(PAR_CHUNK).all(all_finite_chunk)
    } else {
        all_finite_chunk(xs)
    };
    if all_finite {
        None
    } else {
        xs.iter().position(|x| !x.is_finite()).map(|i| (i, xs[i]))
    }
}

/// `0·x` is 0 for finite `x` and NaN otherwise; lane-wise sums of it stay finite iff all are.
#[inline]
fn all_finite_chunk<T: Scalar>(xs: &[T]) -> bool {
    let mut acc = [T::zero(); LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for k in 0..LANES {
            acc[k] = acc[k] + c[k] * T::zero();
        }
    }
    let tail_ok = chunks.remainder().iter().all(|x| x.is_finite());
    tail_ok && acc.iter().all(|a| a.is_finite())
}

/// Deterministic sum of `f(chunk)` over fixed chunks of `xs` (parallel for long inputs).
fn chunked_sum<T: Scalar>(len: usize, f: impl Fn(std::ops::Range<usize>) -> T + Sync) -> T {
    if len < PAR_MIN {
        return f(0..len);
    }
    let n_chunks = len.div_ceil(PAR_CHUNK);
    let partials: Vec<T> = (0..n_chunks)
        .into_par_iter()
        .map(|c| f(c * PAR_CHUNK..((c + 1) * PAR_CHUNK).min(len)))
        .collect();
    partials.into_iter().fold(T::zero(), |a, b| a + b)
}

/// `Σ xᵢ yᵢ`, with a fixed summation order.
pub fn dot<T: Scalar>(x: &[T], y: &[T]) -> T {
    debug_assert_eq!(x.len(), y.len());
    chunked_sum(x.len().min(y.len()), |r| dot_serial(&x[r.clone()], &y[r]))
}

fn dot_serial<T: Scalar>(x: &[T], y: &[T]) -> T {
    let mut acc = [T::zero(); LANES];
    let xc = x.chunks_exact(LANES);
    let yc = y.chunks_exact(LANES);
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for k in 0..LANES {
            acc[k] = acc[k] + a[k] * b[k];
        }
    }
    let mut s = acc.iter().fold(T::zero(), |s, &a| s + a);
    for (a, b) in xr.iter().zip(yr) {
        s = s + *a * *b;
    }
    s
}

/// `‖x‖₂²`.
pub fn norm2_sq<T: Scalar>(x: &[T]) -> T {
    dot(x, x)
}

/// `‖x‖₂`.
pub fn norm2<T: Scalar>(x: &[T]) -> T {
    norm2_sq(x).sqrt()
}

/// `‖x‖₁`.
pub fn norm1<T: Scalar>(x: &[T]) -> T {
    chunked_sum(x.len(), |r| {
        let mut acc = [T::zero(); LANES];
        let c = x[r].chunks_exact(LANES);
        let rem = c.remainder();
        for a in c {
            for k in 0..LANES {
                acc[k] = acc[k] + a[k].abs();
            }
        }
        acc.iter().fold(T::zero(), |s, &a| s + a) + rem.iter().fold(T::zero(), |s, a| s + a.abs())
    })
}

/// `‖x‖∞` (NaN-propagating: returns NaN if any entry is NaN).
pub fn norm_inf<T: Scalar>(x: &[T]) -> T {
    let mut m = T::zero();
    for &v in x {
        let a = v.abs();
        if a > m || a.is_nan() {
            m = a;
            if a.is_nan() {
                return a;
            }
        }
    }
    m
}

/// `a + w (b − a)`, evaluated as `torch.lerp` does: `a + w·(b − a)` for |w| < ½, else
/// `b − (b − a)·(1 − w)` (exact at both ends: w = 0 gives a, w = 1 gives b).
#[inline(always)]
pub fn lerp<T: Scalar>(a: T, b: T, w: T) -> T {
    if w.abs() < T::of(0.5) {
        a + w * (b - a)
    } else {
        b - (b - a) * (T::one() - w)
    }
}

/// `dst` (`cols × rows`, row-major) ← `srcᵀ` (`src`: `rows × cols`, row-major), in 16 × 16 tiles so
/// that both sides are read and written in cache-sized pieces. Both slices hold `rows · cols`
/// elements.
pub fn transpose_into<E: Copy>(src: &[E], rows: usize, cols: usize, dst: &mut [E]) {
    const TILE: usize = 16;
    debug_assert_eq!(src.len(), rows * cols);
    debug_assert_eq!(dst.len(), rows * cols);
    for i0 in (0..rows).step_by(TILE) {
        let i1 = (i0 + TILE).min(rows);
        for j0 in (0..cols).step_by(TILE) {
            let j1 = (j0 + TILE).min(cols);
            for j in j0..j1 {
                let out = &mut dst[j * rows + i0..j * rows + i1];
                for (di, o) in out.iter_mut().enumerate() {
                    *o = src[(i0 + di) * cols + j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_first_non_finite() {
        let mut v = vec![1.0f64; 200_000];
        assert_eq!(first_non_finite(&v), None);
        v[150_001] = f64::INFINITY;
        v[170_000] = f64::NAN;
        assert_eq!(first_non_finite(&v), Some((150_001, f64::INFINITY)));
        let w = [1.0f32, f32::NAN];
        assert!(first_non_finite(&w).is_some_and(|(i, x)| i == 1 && x.is_nan()));
    }

    #[test]
    fn reductions_match_naive_and_are_thread_independent() {
        let x: Vec<f64> = (0..300_001).map(|i| ((i as f64) * 0.37).sin()).collect();
        let naive: f64 = x.iter().map(|a| a * a).sum();
        let d = norm2_sq(&x);
        assert!((d - naive).abs() <= 1e-9 * naive);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| norm2_sq(&x));
        assert_eq!(one.to_bits(), d.to_bits());
        let l1: f64 = x.iter().map(|a| a.abs()).sum();
        assert!((norm1(&x) - l1).abs() <= 1e-9 * l1);
        assert_eq!(norm_inf(&[1.0, -3.0, 2.0]), 3.0);
    }

    #[test]
    fn lerp_is_exact_at_the_ends() {
        let (a, b) = (0.1f64, 0.7f64);
        assert_eq!(lerp(a, b, 0.0), a);
        assert_eq!(lerp(a, b, 1.0), b);
        assert!((lerp(a, b, 0.25) - 0.25).abs() < 1e-16);
        assert!((lerp(a, b, -0.5) + 0.2).abs() < 1e-16);
    }
}
