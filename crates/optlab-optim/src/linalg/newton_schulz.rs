//! Quintic Newton–Schulz orthogonalization, and the workspace that runs every odd quintic
//! polynomial iteration on a matrix.
//!
//! For `G = U Σ Vᵀ` (`rows × cols`), the iteration works on the wide orientation `X` (`r × c`,
//! `r = min(rows, cols)`; tall matrices are transposed first), scaled so that `‖X‖₂ ≤ 1`:
//!
//! ```text
//! X₀ = G / (‖G‖_F + ε)                        (ε = 1e-7)
//! A  = X Xᵀ                                   (r × r, symmetric)
//! X ← a X + (b A + c A²) X                    = X·p(σ) on each singular value σ,
//!                                               p(σ) = aσ + bσ³ + cσ⁵
//! ```
//!
//! Each step maps every singular value through the same odd quintic, so `X_k = U p_k(Σ) Vᵀ`: the
//! singular vectors are those of `G` and only the singular values move towards 1. Keller
//! Jordan's coefficients `(a, b, c) = (3.4445, −4.7750, 2.0315)` maximize the slope at 0 at the
//! price of not converging to exactly 1: after 5 steps the singular values lie roughly in
//! [0.7, 1.2] ("Muon: An optimizer for hidden layers in neural networks", 2024;
//! `torch.optim.Muon`'s `ns_coefficients`, `ns_steps = 5`).
//!
//! # Implementation
//!
//! [`OrthoWorkspace`] stores `Y = Xᵀ` (`c × r`) column-major, so that the row-major input (or its
//! transpose) is loaded with one copy, and writes each step as two products plus one
//! symmetric product:
//!
//! ```text
//! A  = Yᵀ Y                 (lower triangle only: r²c multiply-adds instead of 2·)
//! B  = c·A·A + b·A + a·I    (lower triangle of A·A only, then mirrored)
//! Y ← Y·B                   (= (aX + (bA + cA²)X)ᵀ since B is symmetric)
//! ```
//!
//! All buffers are allocated once per shape; the products are faer's matmul, on the rayon pool
//! for large matrices.

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatMut, MatRef};

use super::{LinalgError, Normalization, Orthogonalizer, par_for, polar, polar_express};
use crate::scalar::Scalar;

/// Keller Jordan's quintic coefficients `(a, b, c)` (PyTorch's default `ns_coefficients`).
pub const NS_COEFFICIENTS: [f64; 3] = [3.4445, -4.7750, 2.0315];

/// Default number of Newton–Schulz steps (PyTorch's `ns_steps`).
pub const NS_STEPS: usize = 5;

/// Reusable buffers for orthogonalizing `rows × cols` matrices.
///
/// Create one per shape (or let it resize: [`OrthoWorkspace::orthogonalize`] reallocates only
/// when the shape changes) and call it every step; nothing is allocated inside the iteration.
#[derive(Clone, Debug)]
pub struct OrthoWorkspace<T: Scalar> {
    rows: usize,
    cols: usize,
    /// `Y = Xᵀ`, `c × r`.
    y: Mat<T>,
    /// Next iterate.
    y_next: Mat<T>,
    /// `A = YᵀY`, `r × r`.
    a: Mat<T>,
    /// `B = cA² + bA + aI`, `r × r`.
    b: Mat<T>,
    /// Whether the symmetric products compute one triangle only.
    symmetric: bool,
}

impl<T: Scalar> OrthoWorkspace<T> {
    /// Buffers for `rows × cols` inputs.
    pub fn new(rows: usize, cols: usize) -> Self {
        let (r, c) = (rows.min(cols), rows.max(cols));
        OrthoWorkspace {
            rows,
            cols,
            y: Mat::zeros(c, r),
            y_next: Mat::zeros(c, r),
            a: Mat::zeros(r, r),
            b: Mat::zeros(r, r),
            symmetric: true,
        }
    }

    /// Whether `XXᵀ` and `A²` are computed as one triangle and mirrored (default `true`); `false`
    /// computes the full products (for benchmarks comparing the two).
    pub fn set_symmetric(&mut self, symmetric: bool) {
        self.symmetric = symmetric;
    }

    /// The input shape this workspace is sized for.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    fn ensure_shape(&mut self, rows: usize, cols: usize) {
        if (rows, cols) != (self.rows, self.cols) {
            let symmetric = self.symmetric;
            *self = Self::new(rows, cols);
            self.symmetric = symmetric;
        }
    }

    /// Orthogonalizes the row-major `rows × cols` matrix `g` with `how`; the result is returned
    /// as a `rows × cols` view into the workspace (valid until the next call).
    pub fn orthogonalize(
        &mut self,
        g: &[T],
        rows: usize,
        cols: usize,
        how: &Orthogonalizer,
    ) -> Result<MatRef<'_, T>, LinalgError> {
        if g.len() != rows * cols {
            return Err(LinalgError::Shape(format!(
                "{} values for a {rows} × {cols} matrix",
                g.len()
            )));
        }
        self.orthogonalize_view(MatRef::from_row_major_slice(g, rows, cols), how)
    }

    /// Orthogonalizes the matrix `g` (any strides: a column-major matrix gives bit for bit the
    /// result of its row-major copy, since the input is copied into the workspace first); the
    /// result is returned as a view of `g`'s shape into the workspace (valid until the next
    /// call).
    pub fn orthogonalize_view(
        &mut self,
        g: MatRef<'_, T>,
        how: &Orthogonalizer,
    ) -> Result<MatRef<'_, T>, LinalgError> {
        let (rows, cols) = (g.nrows(), g.ncols());
        self.ensure_shape(rows, cols);
        match how {
            Orthogonalizer::NewtonSchulz {
                coefficients,
                steps,
                normalization,
            } => {
                self.load(g, *normalization);
                let abc = coefficients.map(T::of);
                for _ in 0..*steps {
                    self.quintic_step(abc);
                }
            }
            Orthogonalizer::PolarExpress { steps, eps } => {
                self.load(
                    g,
                    Normalization::AddEps {
                        safety: polar_express::SAFETY,
                        eps: *eps,
                    },
                );
                for k in 0..*steps {
                    self.quintic_step(polar_express::step_coefficients(k).map(T::of));
                }
            }
            Orthogonalizer::Svd => {
                // The SVD sees a row-major copy whatever `g`'s strides are.
                let g_t = transposed_copy(g);
                let p = polar::polar_factor(g_t.as_ref().transpose())?;
                let mut dst = self.y.as_mut();
                if rows <= cols {
                    dst.copy_from(p.transpose());
                } else {
                    dst.copy_from(&p);
                }
            }
        }
        Ok(self.result())
    }

    /// Orthogonalizes `g` and writes the result, row-major, into `out`.
    pub fn orthogonalize_into(
        &mut self,
        g: &[T],
        rows: usize,
        cols: usize,
        how: &Orthogonalizer,
        out: &mut [T],
    ) -> Result<(), LinalgError> {
        if out.len() != rows * cols {
            return Err(LinalgError::Shape(format!(
                "output has {} values for a {rows} × {cols} matrix",
                out.len()
            )));
        }
        let res = self.orthogonalize(g, rows, cols, how)?;
        MatMut::from_row_major_slice_mut(out, rows, cols).copy_from(res);
        Ok(())
    }

    /// The current iterate in the input's `rows × cols` orientation.
    pub fn result(&self) -> MatRef<'_, T> {
        if self.rows <= self.cols {
            self.y.as_ref().transpose()
        } else {
            self.y.as_ref()
        }
    }

    /// `Y ← (G or Gᵀ) / den(‖G‖_F)`.
    fn load(&mut self, view: MatRef<'_, T>, normalization: Normalization) {
        if self.rows <= self.cols {
            self.y.copy_from(view.transpose());
        } else {
            self.y.copy_from(view);
        }
        let fro = self.y.norm_l2().as_f64();
        let den = T::of(normalization.denominator(fro));
        faer::zip!(self.y.as_mut()).for_each(|faer::unzip!(x)| *x = *x / den);
    }

    /// One step `Y ← Y·(cA² + bA + aI)`, `A = YᵀY`.
    fn quintic_step(&mut self, [a, b, c]: [T; 3]) {
        let (cn, r) = (self.y.nrows(), self.y.ncols());
        if r == 0 || cn == 0 {
            return;
        }
        let par_gram = par_for(r, r, cn);
        let par_sq = par_for(r, r, r);
        if self.symmetric {
            // A = YᵀY, lower triangle.
            triangular::matmul(
                self.a.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Replace,
                self.y.as_ref().transpose(),
                BlockStructure::Rectangular,
                self.y.as_ref(),
                BlockStructure::Rectangular,
                T::one(),
                par_gram,
            );
            mirror_lower(self.a.as_mut());
            // B = c·A·A, lower triangle.
            triangular::matmul(
                self.b.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Replace,
                self.a.as_ref(),
                BlockStructure::Rectangular,
                self.a.as_ref(),
                BlockStructure::Rectangular,
                c,
                par_sq,
            );
            // B += b·A + a·I on the lower triangle, then mirror.
            faer::zip!(self.b.as_mut(), self.a.as_ref()).for_each_triangular_lower(
                faer::linalg::zip::Diag::Include,
                |faer::unzip!(bij, aij)| *bij = *bij + b * *aij,
            );
            add_to_diagonal(self.b.as_mut(), a);
            mirror_lower(self.b.as_mut());
        } else {
            matmul(
                self.a.as_mut(),
                Accum::Replace,
                self.y.as_ref().transpose(),
                self.y.as_ref(),
                T::one(),
                par_gram,
            );
            matmul(
                self.b.as_mut(),
                Accum::Replace,
                self.a.as_ref(),
                self.a.as_ref(),
                c,
                par_sq,
            );
            faer::zip!(self.b.as_mut(), self.a.as_ref())
                .for_each(|faer::unzip!(bij, aij)| *bij = *bij + b * *aij);
            add_to_diagonal(self.b.as_mut(), a);
        }
        // Y_next = Y·B.
        matmul(
            self.y_next.as_mut(),
            Accum::Replace,
            self.y.as_ref(),
            self.b.as_ref(),
            T::one(),
            par_for(cn, r, r),
        );
        std::mem::swap(&mut self.y, &mut self.y_next);
    }
}

/// `gᵀ` as an owned (column-major) matrix: its transpose is `g` laid out row-major.
fn transposed_copy<T: Scalar>(g: MatRef<'_, T>) -> Mat<T> {
    let mut t = Mat::zeros(g.ncols(), g.nrows());
    t.copy_from(g.transpose());
    t
}

/// Workspaces for several shapes (one per distinct `rows × cols`), for optimizers that
/// orthogonalize every matrix parameter each step.
#[derive(Clone, Debug, Default)]
pub struct WorkspaceCache<T: Scalar> {
    workspaces: Vec<OrthoWorkspace<T>>,
}

impl<T: Scalar> WorkspaceCache<T> {
    /// An empty cache.
    pub fn new() -> Self {
        WorkspaceCache {
            workspaces: Vec::new(),
        }
    }

    /// The workspace for `rows × cols`, created on first use.
    pub fn get(&mut self, rows: usize, cols: usize) -> &mut OrthoWorkspace<T> {
        let pos = match self
            .workspaces
            .iter()
            .position(|w| w.shape() == (rows, cols))
        {
            Some(i) => i,
            None => {
                self.workspaces.push(OrthoWorkspace::new(rows, cols));
                self.workspaces.len() - 1
            }
        };
        &mut self.workspaces[pos]
    }
}

/// `M ← M + a·I`.
fn add_to_diagonal<T: Scalar>(m: MatMut<'_, T>, a: T) {
    faer::zip!(m.diagonal_mut().column_vector_mut()).for_each(|faer::unzip!(d)| *d = *d + a);
}

/// Copies the strict lower triangle onto the upper one: recursively, `A₁₂ ← A₂₁ᵀ` in cache-sized
/// tiles, then the two diagonal blocks.
fn mirror_lower<T: Scalar>(mut m: MatMut<'_, T>) {
    let n = m.nrows();
    if n <= MIRROR_LEAF {
        for j in 0..n {
            for i in j + 1..n {
                let v = m[(i, j)];
                m[(j, i)] = v;
            }
        }
        return;
    }
    let h = n / 2;
    let (tl, mut tr, bl, br) = m.split_at_mut(h, h);
    let (p, q) = (tr.nrows(), tr.ncols());
    for j0 in (0..q).step_by(MIRROR_TILE) {
        let w = MIRROR_TILE.min(q - j0);
        for i0 in (0..p).step_by(MIRROR_TILE) {
            let hh = MIRROR_TILE.min(p - i0);
            tr.as_mut()
                .submatrix_mut(i0, j0, hh, w)
                .copy_from(bl.as_ref().submatrix(j0, i0, w, hh).transpose());
        }
    }
    mirror_lower(tl);
    mirror_lower(br);
}

/// Below this size [`mirror_lower`] copies element by element.
const MIRROR_LEAF: usize = 64;
/// Tile edge of the transposed copies in [`mirror_lower`].
const MIRROR_TILE: usize = 32;

/// `steps` Newton–Schulz steps with `coefficients` on the row-major `rows × cols` matrix `g`,
/// after `X ← G/(‖G‖_F + eps)`; returns the result row-major. Allocates a workspace: use
/// [`OrthoWorkspace`] in loops.
pub fn newton_schulz<T: Scalar>(
    g: &[T],
    rows: usize,
    cols: usize,
    coefficients: [f64; 3],
    steps: usize,
    eps: f64,
) -> Result<Vec<T>, LinalgError> {
    let mut out = vec![T::zero(); rows * cols];
    OrthoWorkspace::new(rows, cols).orthogonalize_into(
        g,
        rows,
        cols,
        &Orthogonalizer::NewtonSchulz {
            coefficients,
            steps,
            normalization: Normalization::AddEps { safety: 1.0, eps },
        },
        &mut out,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic test matrix with entries in (−1, 1).
    fn matrix(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..rows * cols)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    /// Plain triple-loop reference: X ← aX + (bA + cA²)X on the wide orientation.
    fn naive_ns(g: &[f64], rows: usize, cols: usize, steps: usize) -> Vec<f64> {
        let (r, c) = (rows.min(cols), rows.max(cols));
        let mut x = vec![0.0; r * c]; // r × c row-major
        for i in 0..rows {
            for j in 0..cols {
                if rows <= cols {
                    x[i * c + j] = g[i * cols + j];
                } else {
                    x[j * c + i] = g[i * cols + j];
                }
            }
        }
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        x.iter_mut().for_each(|v| *v /= norm + 1e-7);
        let [a, b, cc] = NS_COEFFICIENTS;
        for _ in 0..steps {
            let mut am = vec![0.0; r * r];
            for i in 0..r {
                for j in 0..r {
                    am[i * r + j] = (0..c).map(|k| x[i * c + k] * x[j * c + k]).sum();
                }
            }
            let mut bm = vec![0.0; r * r];
            for i in 0..r {
                for j in 0..r {
                    let a2: f64 = (0..r).map(|k| am[i * r + k] * am[k * r + j]).sum();
                    bm[i * r + j] = b * am[i * r + j] + cc * a2;
                }
            }
            let mut xn = vec![0.0; r * c];
            for i in 0..r {
                for j in 0..c {
                    let bx: f64 = (0..r).map(|k| bm[i * r + k] * x[k * c + j]).sum();
                    xn[i * c + j] = a * x[i * c + j] + bx;
                }
            }
            x = xn;
        }
        let mut out = vec![0.0; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                out[i * cols + j] = if rows <= cols {
                    x[i * c + j]
                } else {
                    x[j * c + i]
                };
            }
        }
        out
    }

    #[test]
    fn matches_naive_reference_wide_tall_square() -> Result<(), LinalgError> {
        for (rows, cols) in [(5, 9), (9, 5), (7, 7), (1, 4), (4, 1)] {
            let g = matrix(rows, cols, (rows * 31 + cols) as u64);
            let want = naive_ns(&g, rows, cols, 5);
            let got = newton_schulz(&g, rows, cols, NS_COEFFICIENTS, 5, 1e-7)?;
            let err = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 1e-13, "{rows}×{cols}: {err}");
        }
        Ok(())
    }

    #[test]
    fn symmetric_and_full_products_agree() -> Result<(), LinalgError> {
        let (rows, cols) = (70, 90);
        let g = matrix(rows, cols, 3);
        let how = Orthogonalizer::newton_schulz5();
        let mut ws = OrthoWorkspace::<f64>::new(rows, cols);
        let mut sym = vec![0.0; rows * cols];
        ws.orthogonalize_into(&g, rows, cols, &how, &mut sym)?;
        ws.set_symmetric(false);
        let mut full = vec![0.0; rows * cols];
        ws.orthogonalize_into(&g, rows, cols, &how, &mut full)?;
        let err = sym
            .iter()
            .zip(&full)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-12, "{err}");
        Ok(())
    }

    #[test]
    fn mirror_copies_the_lower_triangle_at_every_recursion_level() {
        for n in [1, 5, 64, 65, 200] {
            let mut m =
                Mat::<f64>::from_fn(n, n, |i, j| if i >= j { (i * n + j) as f64 } else { -1.0 });
            mirror_lower(m.as_mut());
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(
                        m[(i, j)],
                        (i.max(j) * n + i.min(j)) as f64,
                        "{n}: ({i}, {j})"
                    );
                }
            }
        }
    }

    #[test]
    fn result_does_not_depend_on_the_thread_count() -> Result<(), LinalgError> {
        // Large enough for the parallel products (≥ PAR_MIN_MADDS multiply-adds).
        let (rows, cols) = (96, 200);
        let g = matrix(rows, cols, 11);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| LinalgError::Shape(e.to_string()))?
                .install(|| {
                    let mut out = vec![0.0; rows * cols];
                    OrthoWorkspace::new(rows, cols).orthogonalize_into(
                        &g,
                        rows,
                        cols,
                        &Orthogonalizer::newton_schulz5(),
                        &mut out,
                    )?;
                    Ok::<_, LinalgError>(out)
                })
        };
        let one = run(1)?;
        for threads in [2, 3] {
            let many = run(threads)?;
            assert!(
                one.iter()
                    .zip(&many)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{threads}"
            );
        }
        Ok(())
    }

    #[test]
    fn zero_and_empty_inputs_stay_zero() -> Result<(), LinalgError> {
        let out = newton_schulz(&[0.0f32; 6], 2, 3, NS_COEFFICIENTS, 5, 1e-7)?;
        assert!(out.iter().all(|v| *v == 0.0));
        let out = newton_schulz::<f64>(&[], 0, 3, NS_COEFFICIENTS, 5, 1e-7)?;
        assert!(out.is_empty());
        assert!(newton_schulz(&[1.0f64; 5], 2, 3, NS_COEFFICIENTS, 5, 1e-7).is_err());
        Ok(())
    }

    #[test]
    fn workspace_resizes_between_shapes() -> Result<(), LinalgError> {
        let mut ws = OrthoWorkspace::<f64>::new(3, 4);
        let how = Orthogonalizer::newton_schulz5();
        let g = matrix(6, 2, 9);
        let mut out = vec![0.0; 12];
        ws.orthogonalize_into(&g, 6, 2, &how, &mut out)?;
        assert_eq!(ws.shape(), (6, 2));
        let want = newton_schulz(&g, 6, 2, NS_COEFFICIENTS, 5, 1e-7)?;
        assert_eq!(out, want);
        Ok(())
    }
}
