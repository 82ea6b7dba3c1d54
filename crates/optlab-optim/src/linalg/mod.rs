//! Dense linear algebra for matrix-aware optimizers, on faer.
//!
//! - [`newton_schulz`]: the quintic Newton–Schulz iteration that Muon uses to approximate the
//!   orthogonal polar factor `U Vᵀ` of a gradient `G = U Σ Vᵀ`, and the allocation-free
//!   [`OrthoWorkspace`] that runs every polynomial iteration of that form;
//! - [`polar_express`]: the Polar Express iteration (per-step optimal coefficients);
//! - [`polar`]: the exact polar factor from a thin SVD (reference and fallback);
//! - [`inv_root`]: `(A + εI)^{-1/p}` of a symmetric positive semi-definite matrix (Shampoo);
//! - [`reference`](mod@reference): replay of `orthogonalize.json`-format reference files.
//!
//! Matrices handed in by optimizers are row-major slices (a [`Param`](crate::Param)'s data in its
//! [`matrix_dims`](crate::Param::matrix_dims) view); results come back as faer views in the same
//! `rows × cols` orientation, or are written into row-major slices.

pub mod inv_root;
pub mod newton_schulz;
pub mod polar;
pub mod polar_express;
pub mod reference;

use faer::Par;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use newton_schulz::{NS_COEFFICIENTS, NS_STEPS, OrthoWorkspace, WorkspaceCache};
pub use polar_express::{PE_COEFFICIENTS, PE_STEPS};

/// Why a matrix computation failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LinalgError {
    /// An iterative decomposition (SVD, eigendecomposition) did not converge, typically because
    /// the input holds NaN or ±Inf.
    #[error("{0} did not converge (non-finite input?)")]
    NoConvergence(&'static str),
    /// A matrix that must be positive definite is not, after damping.
    #[error(
        "matrix is not positive definite after damping {damping} (smallest eigenvalue {min_eigenvalue}); use a damping > 0"
    )]
    NotPositiveDefinite {
        /// The damping that was added.
        damping: f64,
        /// Smallest eigenvalue of the damped matrix.
        min_eigenvalue: f64,
    },
    /// Inconsistent dimensions.
    #[error("shape mismatch: {0}")]
    Shape(String),
}

/// Which orthogonalization `G ↦ ≈ U Vᵀ` a matrix method uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrthoMethod {
    /// Quintic Newton–Schulz with fixed coefficients (default (3.4445, −4.7750, 2.0315)).
    #[default]
    NewtonSchulz,
    /// Polar Express (Amsel, Persson, Musco & Gower 2025): per-step optimal coefficients.
    PolarExpress,
    /// Exact `U Vᵀ` from a thin SVD (slow, for reference).
    Svd,
}

impl OrthoMethod {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            OrthoMethod::NewtonSchulz => "newton_schulz",
            OrthoMethod::PolarExpress => "polar_express",
            OrthoMethod::Svd => "svd",
        }
    }
}

/// How the input is scaled before a polynomial iteration: `X ← G / den(‖G‖_F)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Normalization {
    /// `den = safety·‖G‖_F + eps` (Keller Jordan's Muon, Polar Express with `safety = 1.01`).
    AddEps {
        /// Multiplier of the norm (≥ 1 keeps the spectral norm strictly below 1).
        safety: f64,
        /// Added to the denominator.
        eps: f64,
    },
    /// `den = max(‖G‖_F, eps)` (PyTorch's `torch.optim.Muon`: `norm().clamp(min=eps)`).
    Clamp {
        /// Lower bound of the denominator.
        eps: f64,
    },
}

impl Normalization {
    /// The denominator for a Frobenius norm `fro`.
    #[inline]
    pub fn denominator(self, fro: f64) -> f64 {
        match self {
            Normalization::AddEps { safety, eps } => safety * fro + eps,
            Normalization::Clamp { eps } => fro.max(eps),
        }
    }
}

/// A complete orthogonalization recipe: method, steps, coefficients and input scaling.
#[derive(Clone, Debug, PartialEq)]
pub enum Orthogonalizer {
    /// `steps` quintic steps `X ← aX + (bA + cA²)X`, `A = XXᵀ`, with fixed `(a, b, c)`.
    NewtonSchulz {
        /// `(a, b, c)`.
        coefficients: [f64; 3],
        /// Number of steps.
        steps: usize,
        /// Input scaling.
        normalization: Normalization,
    },
    /// `steps` Polar Express steps (published coefficients with the 1.01 safety factor).
    PolarExpress {
        /// Number of steps (beyond the table the last coefficients repeat).
        steps: usize,
        /// Added to `1.01‖G‖_F` in the input scaling.
        eps: f64,
    },
    /// Exact `U Vᵀ` from a thin SVD.
    Svd,
}

impl Orthogonalizer {
    /// Newton–Schulz with the default coefficients and 5 steps, `X ← G/(‖G‖_F + 1e-7)`.
    pub fn newton_schulz5() -> Self {
        Orthogonalizer::NewtonSchulz {
            coefficients: NS_COEFFICIENTS,
            steps: NS_STEPS,
            normalization: Normalization::AddEps {
                safety: 1.0,
                eps: 1e-7,
            },
        }
    }

    /// Polar Express with 8 steps and `eps = 1e-7`.
    pub fn polar_express8() -> Self {
        Orthogonalizer::PolarExpress {
            steps: PE_STEPS,
            eps: 1e-7,
        }
    }

    /// The recipe for `method` with `steps` steps (ignored for SVD), NS coefficients and eps.
    pub fn from_method(
        method: OrthoMethod,
        steps: usize,
        coefficients: [f64; 3],
        normalization: Normalization,
    ) -> Self {
        match method {
            OrthoMethod::NewtonSchulz => Orthogonalizer::NewtonSchulz {
                coefficients,
                steps,
                normalization,
            },
            OrthoMethod::PolarExpress => Orthogonalizer::PolarExpress {
                steps,
                eps: match normalization {
                    Normalization::AddEps { eps, .. } | Normalization::Clamp { eps } => eps,
                },
            },
            OrthoMethod::Svd => Orthogonalizer::Svd,
        }
    }

    /// Nominal floating-point operations of one call on a `rows × cols` matrix, counting each
    /// dense product `m×k · k×n` as `2mkn`: with `r = min(rows, cols)`, `c = max(rows, cols)`,
    /// every polynomial step is `A = XXᵀ` (2r²c), `A·A` (2r³) and `(…)·X` (2r²c), i.e.
    /// `4r²c + 2r³`. Elementwise work (scaling, adding `bA + aI`) is not counted. `None` for SVD.
    pub fn nominal_flops(&self, rows: usize, cols: usize) -> Option<f64> {
        let (r, c) = (rows.min(cols) as f64, rows.max(cols) as f64);
        let per_step = 4.0 * r * r * c + 2.0 * r * r * r;
        match self {
            Orthogonalizer::NewtonSchulz { steps, .. }
            | Orthogonalizer::PolarExpress { steps, .. } => Some(per_step * *steps as f64),
            Orthogonalizer::Svd => None,
        }
    }
}

/// Products of at least this many multiply-adds (`m·n·k`) run on the rayon pool; smaller ones on
/// the calling thread (thread start-up would cost more than it saves).
pub const PAR_MIN_MADDS: usize = 1 << 18;

/// Sequential or rayon parallelism for an `m×k · k×n` product.
#[inline]
pub fn par_for(m: usize, n: usize, k: usize) -> Par {
    if m.saturating_mul(n).saturating_mul(k) >= PAR_MIN_MADDS && rayon::current_num_threads() > 1 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}
