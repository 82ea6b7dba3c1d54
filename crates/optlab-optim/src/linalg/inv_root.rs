//! Inverse p-th roots of symmetric positive semi-definite matrices (Shampoo's preconditioners).
//!
//! For `A = Q Λ Qᵀ` (faer's self-adjoint eigendecomposition),
//!
//! ```text
//! (A + εI)^{-1/p} = Q · diag((max(λᵢ, 0) + ε)^{-1/p}) · Qᵀ
//! ```
//!
//! Eigenvalues below zero can only come from rounding (`A` is a sum of Gram matrices); they are
//! clamped to 0 before the damping ε is added, so the result is symmetric positive definite for
//! any ε > 0.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Side};

use super::{LinalgError, par_for};
use crate::scalar::Scalar;

/// Writes `(A + damping·I)^{-1/p}` into `out` (both `n × n`; only the lower triangle of `a` is
/// read). `scratch` must be `n × n` too (it receives `Q·diag(·)`).
pub fn inv_root_into<T: Scalar>(
    a: MatRef<'_, T>,
    p: u32,
    damping: f64,
    out: MatMut<'_, T>,
    scratch: MatMut<'_, T>,
) -> Result<(), LinalgError> {
    let n = a.nrows();
    if a.ncols() != n || out.nrows() != n || out.ncols() != n {
        return Err(LinalgError::Shape(format!(
            "inverse root of a {} × {} matrix into {} × {}",
            n,
            a.ncols(),
            out.nrows(),
            out.ncols()
        )));
    }
    if p == 0 {
        return Err(LinalgError::Shape("root order p must be ≥ 1".into()));
    }
    if n == 0 {
        return Ok(());
    }
    for j in 0..n {
        for i in j..n {
            if !a[(i, j)].is_finite() {
                return Err(LinalgError::NoConvergence("eigendecomposition"));
            }
        }
    }
    let evd = a
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| LinalgError::NoConvergence("eigendecomposition"))?;
    let q = evd.U();
    let lambda = evd.S().column_vector();
    let exponent = T::of(-1.0 / f64::from(p));
    let damping_t = T::of(damping);
    let mut scratch = scratch;
    for i in 0..n {
        let l = lambda[i];
        let l = if l > T::zero() { l } else { T::zero() } + damping_t;
        if l <= T::zero() || !l.is_finite() {
            return Err(LinalgError::NotPositiveDefinite {
                damping,
                min_eigenvalue: l.as_f64(),
            });
        }
        let s = num_traits::Float::powf(l, exponent);
        for r in 0..n {
            scratch[(r, i)] = q[(r, i)] * s;
        }
    }
    matmul(
        out,
        Accum::Replace,
        scratch.as_ref(),
        q.transpose(),
        T::one(),
        par_for(n, n, n),
    );
    Ok(())
}

/// `(A + damping·I)^{-1/p}` of the `n × n` matrix `a`.
pub fn inv_root<T: Scalar>(a: MatRef<'_, T>, p: u32, damping: f64) -> Result<Mat<T>, LinalgError> {
    let n = a.nrows();
    let mut out = Mat::zeros(n, n);
    let mut scratch = Mat::zeros(n, n);
    inv_root_into(a, p, damping, out.as_mut(), scratch.as_mut())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_square_root_squares_to_the_inverse() -> Result<(), LinalgError> {
        // A = MᵀM + I is SPD.
        let n = 6;
        let m = Mat::<f64>::from_fn(n, n, |i, j| ((i * 5 + j * 3) % 7) as f64 - 3.0);
        let a = Mat::<f64>::from_fn(n, n, |i, j| {
            (0..n).map(|k| m[(k, i)] * m[(k, j)]).sum::<f64>() + if i == j { 1.0 } else { 0.0 }
        });
        let r = inv_root(a.as_ref(), 2, 0.0)?;
        // r·r·a = I
        let rra = &r * &r * &a;
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (rra[(i, j)] - want).abs() < 1e-10,
                    "{i},{j}: {}",
                    rra[(i, j)]
                );
            }
        }
        // fourth root: r4⁴ = r²
        let r4 = inv_root(a.as_ref(), 4, 0.0)?;
        let r4sq = &r4 * &r4;
        for i in 0..n {
            for j in 0..n {
                assert!((r4sq[(i, j)] - r[(i, j)]).abs() < 1e-10);
            }
        }
        Ok(())
    }

    #[test]
    fn singular_needs_damping() {
        let a = Mat::<f64>::zeros(3, 3);
        assert!(matches!(
            inv_root(a.as_ref(), 4, 0.0),
            Err(LinalgError::NotPositiveDefinite { .. })
        ));
        let r = inv_root(a.as_ref(), 4, 1e-4).unwrap();
        assert!((r[(1, 1)] - 10.0).abs() < 1e-9);
        let nan = Mat::<f64>::from_fn(2, 2, |_, _| f64::NAN);
        assert!(inv_root(nan.as_ref(), 2, 1.0).is_err());
    }
}
