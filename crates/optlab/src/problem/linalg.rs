//! Dense f64 linear algebra for reference solutions (faer): Gram matrices, extreme eigenvalues,
//! SPD solves and least squares.

use faer::Mat;
use faer::linalg::solvers::{Solve, SolveLstsq};

/// `A` as a faer matrix from row-major data.
pub fn mat(a: &[f64], rows: usize, cols: usize) -> Mat<f64> {
    Mat::from_fn(rows, cols, |i, j| a[i * cols + j])
}

/// `AᵀA / m` for row-major `A` (m × n).
pub fn gram_over_m(a: &[f64], m: usize, n: usize) -> Mat<f64> {
    let am = mat(a, m, n);
    let mut g = am.transpose() * &am;
    let s = 1.0 / m.max(1) as f64;
    for j in 0..n {
        for i in 0..n {
            g[(i, j)] *= s;
        }
    }
    g
}

/// Smallest and largest eigenvalue of a symmetric matrix.
pub fn eig_extremes(s: &Mat<f64>) -> Option<(f64, f64)> {
    if s.nrows() == 0 {
        return Some((0.0, 0.0));
    }
    let ev = s.self_adjoint_eigenvalues(faer::Side::Lower).ok()?;
    Some((*ev.first()?, *ev.last()?))
}

/// Solves `H d = r` for symmetric positive definite `H` (Cholesky, falling back to LU).
pub fn solve_spd(h: &Mat<f64>, r: &[f64]) -> Option<Vec<f64>> {
    let n = r.len();
    let rhs = Mat::from_fn(n, 1, |i, _| r[i]);
    let sol = match h.llt(faer::Side::Lower) {
        Ok(llt) => llt.solve(&rhs),
        Err(_) => h.partial_piv_lu().solve(&rhs),
    };
    let out: Vec<f64> = (0..n).map(|i| sol[(i, 0)]).collect();
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// `argmin ‖A x − b‖₂` by Householder QR (A is m × n with m ≥ n and full column rank).
pub fn lstsq(a: &[f64], m: usize, n: usize, b: &[f64]) -> Option<Vec<f64>> {
    let am = mat(a, m, n);
    let rhs = Mat::from_fn(m, 1, |i, _| b[i]);
    let sol = am.qr().solve_lstsq(&rhs);
    let out: Vec<f64> = (0..n).map(|i| sol[(i, 0)]).collect();
    out.iter().all(|v| v.is_finite()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_systems() {
        let h = mat(&[4.0, 1.0, 1.0, 3.0], 2, 2);
        let x = solve_spd(&h, &[1.0, 2.0]).unwrap();
        assert!((4.0 * x[0] + x[1] - 1.0).abs() < 1e-14);
        assert!((x[0] + 3.0 * x[1] - 2.0).abs() < 1e-14);
        let (lo, hi) = eig_extremes(&h).unwrap();
        let d = (1.0f64 + 4.0).sqrt();
        assert!((lo - (3.5 - d / 2.0)).abs() < 1e-12 && (hi - (3.5 + d / 2.0)).abs() < 1e-12);
        // overdetermined: fit y = 2x + 1 exactly
        let a = [0.0, 1.0, 1.0, 1.0, 2.0, 1.0];
        let x = lstsq(&a, 3, 2, &[1.0, 3.0, 5.0]).unwrap();
        assert!((x[0] - 2.0).abs() < 1e-13 && (x[1] - 1.0).abs() < 1e-13);
        let g = gram_over_m(&a, 3, 2);
        assert!((g[(0, 0)] - 5.0 / 3.0).abs() < 1e-15);
    }
}
