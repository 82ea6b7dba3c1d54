//! The orthogonal polar factor from a thin SVD, and singular values.
//!
//! For `G = U Σ Vᵀ` (thin SVD, `U: rows × k`, `V: cols × k`, `k = min(rows, cols)`), the polar
//! factor is `U Vᵀ`: the closest semi-orthogonal matrix to `G` in every unitarily invariant norm,
//! and `−U Vᵀ` is the linear minimization oracle of the spectral-norm ball (Bernstein & Newhouse
//! 2024). It is what Newton–Schulz and Polar Express approximate; this module is the exact (and
//! slow: O(k²·max(rows, cols)) with a large constant) reference.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef};

use super::{LinalgError, par_for};
use crate::scalar::Scalar;

/// `U Vᵀ` of `g` (same shape as `g`).
pub fn polar_factor<T: Scalar>(g: MatRef<'_, T>) -> Result<Mat<T>, LinalgError> {
    let (rows, cols) = (g.nrows(), g.ncols());
    let mut out = Mat::zeros(rows, cols);
    if rows == 0 || cols == 0 {
        return Ok(out);
    }
    let svd = g
        .thin_svd()
        .map_err(|_| LinalgError::NoConvergence("SVD"))?;
    let k = rows.min(cols);
    matmul(
        out.as_mut(),
        Accum::Replace,
        svd.U(),
        svd.V().transpose(),
        T::one(),
        par_for(rows, cols, k),
    );
    Ok(out)
}

/// `U Vᵀ` of the row-major `rows × cols` matrix `g`, row-major.
pub fn polar_factor_row_major<T: Scalar>(
    g: &[T],
    rows: usize,
    cols: usize,
) -> Result<Vec<T>, LinalgError> {
    if g.len() != rows * cols {
        return Err(LinalgError::Shape(format!(
            "{} values for a {rows} × {cols} matrix",
            g.len()
        )));
    }
    let p = polar_factor(MatRef::from_row_major_slice(g, rows, cols))?;
    let mut out = vec![T::zero(); rows * cols];
    faer::MatMut::from_row_major_slice_mut(&mut out, rows, cols).copy_from(&p);
    Ok(out)
}

/// Singular values of the row-major `rows × cols` matrix `g`, largest first.
pub fn singular_values<T: Scalar>(
    g: &[T],
    rows: usize,
    cols: usize,
) -> Result<Vec<T>, LinalgError> {
    if g.len() != rows * cols {
        return Err(LinalgError::Shape(format!(
            "{} values for a {rows} × {cols} matrix",
            g.len()
        )));
    }
    if rows == 0 || cols == 0 {
        return Ok(Vec::new());
    }
    MatRef::from_row_major_slice(g, rows, cols)
        .singular_values()
        .map_err(|_| LinalgError::NoConvergence("SVD"))
}

/// Nuclear norm `Σ σᵢ` and spectral norm `σ₁` of a row-major matrix.
pub fn nuclear_and_spectral<T: Scalar>(
    g: &[T],
    rows: usize,
    cols: usize,
) -> Result<(T, T), LinalgError> {
    let s = singular_values(g, rows, cols)?;
    let nuclear = s.iter().fold(T::zero(), |acc, &v| acc + v);
    let spectral = s.first().copied().unwrap_or(T::zero());
    Ok((nuclear, spectral))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polar_of_a_diagonal_scaling_is_the_rotation() -> Result<(), LinalgError> {
        // G = R·diag(3, 0.5) with R a rotation: the polar factor is R.
        let (c, s) = (0.6f64, 0.8f64);
        let g = [c * 3.0, -s * 0.5, s * 3.0, c * 0.5];
        let p = polar_factor_row_major(&g, 2, 2)?;
        for (x, y) in p.iter().zip([c, -s, s, c]) {
            assert!((x - y).abs() < 1e-14, "{p:?}");
        }
        let sv = singular_values(&g, 2, 2)?;
        assert!((sv[0] - 3.0).abs() < 1e-14 && (sv[1] - 0.5).abs() < 1e-14);
        let (nuc, spec) = nuclear_and_spectral(&g, 2, 2)?;
        assert!((nuc - 3.5).abs() < 1e-14 && (spec - 3.0).abs() < 1e-14);
        Ok(())
    }

    #[test]
    fn rectangular_polar_has_unit_singular_values() -> Result<(), LinalgError> {
        let g: Vec<f64> = (0..15).map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0).collect();
        for (r, c) in [(3, 5), (5, 3)] {
            let p = polar_factor_row_major(&g, r, c)?;
            let sv = singular_values(&p, r, c)?;
            assert!(sv.iter().all(|s| (s - 1.0).abs() < 1e-12), "{sv:?}");
        }
        Ok(())
    }
}
