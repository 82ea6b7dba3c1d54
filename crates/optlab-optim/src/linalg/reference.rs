//! Replay of orthogonalization reference files (the format of `orthogonalize.json`).
//!
//! A file holds the Newton–Schulz coefficients `kj`, the Polar Express coefficient table
//! `polar_express` (published values, before the safety factor) and cases: a `shape`
//! `[rows, cols]`, the input `g` (row-major), and the references `polar` (exact `U Vᵀ` from an
//! SVD), `newton_schulz5` (5 quintic steps) and `polar_express8` (8 Polar Express steps).
//!
//! [`replay`] recomputes the three with optlab's kernels and reports normwise relative errors
//! `‖X − X_ref‖∞ / ‖X_ref‖∞` (largest entry of the difference over largest entry of the
//! reference), plus how far each iteration is from the exact polar factor and the spread of the
//! singular values after Newton–Schulz.

use serde::Deserialize;

use super::{
    LinalgError, NS_COEFFICIENTS, Normalization, OrthoWorkspace, Orthogonalizer, PE_COEFFICIENTS,
    polar,
};
use crate::scalar::Scalar;

/// An orthogonalization reference file.
#[derive(Clone, Debug, Deserialize)]
pub struct OrthoFile {
    /// Free text describing how the references were computed.
    #[serde(default)]
    pub doc: Option<String>,
    /// Newton–Schulz coefficients `(a, b, c)`.
    pub kj: [f64; 3],
    /// Polar Express coefficients, one row per step, before the safety factor.
    pub polar_express: Vec<[f64; 3]>,
    /// The matrices.
    pub cases: Vec<OrthoCase>,
}

/// One input matrix and its references (all row-major).
#[derive(Clone, Debug, Deserialize)]
pub struct OrthoCase {
    /// `[rows, cols]`.
    pub shape: [usize; 2],
    /// The input.
    pub g: Vec<f64>,
    /// `U Vᵀ`.
    pub polar: Vec<f64>,
    /// 5 Newton–Schulz steps.
    pub newton_schulz5: Vec<f64>,
    /// 8 Polar Express steps.
    pub polar_express8: Vec<f64>,
}

/// Why a reference file could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// Not a file of this format.
    #[error("not an orthogonalization reference file: {0}")]
    Format(String),
    /// The file's coefficients are not the ones optlab implements.
    #[error("the file's {what} coefficients {found:?} differ from optlab's {expected:?}")]
    Coefficients {
        /// Which table.
        what: &'static str,
        /// In the file.
        found: Vec<[f64; 3]>,
        /// In optlab.
        expected: Vec<[f64; 3]>,
    },
    /// A decomposition failed.
    #[error("case {case}: {source}")]
    Linalg {
        /// Case index.
        case: usize,
        /// The failure.
        source: LinalgError,
    },
}

/// Result of replaying one case.
#[derive(Clone, Debug, PartialEq)]
pub struct OrthoReport {
    /// `[rows, cols]`.
    pub shape: [usize; 2],
    /// optlab's Newton–Schulz (5 steps) vs the file's.
    pub newton_schulz5_err: f64,
    /// optlab's Polar Express (8 steps) vs the file's.
    pub polar_express8_err: f64,
    /// optlab's SVD polar factor vs the file's.
    pub polar_err: f64,
    /// optlab's Polar Express (8 steps) vs the file's exact polar factor.
    pub polar_express8_vs_polar: f64,
    /// optlab's Newton–Schulz (5 steps) vs the file's exact polar factor.
    pub newton_schulz5_vs_polar: f64,
    /// Smallest and largest singular value of optlab's Newton–Schulz output.
    pub newton_schulz5_singular_range: (f64, f64),
}

/// One line: the shape, the three errors against the file's references, then (information
/// only) the distances to the exact polar factor and the Newton–Schulz singular-value range.
impl std::fmt::Display for OrthoReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>4}×{:<4}  NS5 {:.3e}  PE8 {:.3e}  SVD {:.3e}  |  vs polar: PE8 {:.3e}  NS5 {:.3e}  NS5 σ ∈ [{:.3}, {:.3}]",
            self.shape[0],
            self.shape[1],
            self.newton_schulz5_err,
            self.polar_express8_err,
            self.polar_err,
            self.polar_express8_vs_polar,
            self.newton_schulz5_vs_polar,
            self.newton_schulz5_singular_range.0,
            self.newton_schulz5_singular_range.1,
        )
    }
}

impl OrthoFile {
    /// Parses a file, checking lengths against shapes and the coefficients against optlab's.
    pub fn from_json(text: &str) -> Result<Self, ReferenceError> {
        let file: OrthoFile =
            serde_json::from_str(text).map_err(|e| ReferenceError::Format(e.to_string()))?;
        if file.kj != NS_COEFFICIENTS {
            return Err(ReferenceError::Coefficients {
                what: "Newton–Schulz (kj)",
                found: vec![file.kj],
                expected: vec![NS_COEFFICIENTS],
            });
        }
        if file.polar_express != PE_COEFFICIENTS {
            return Err(ReferenceError::Coefficients {
                what: "Polar Express",
                found: file.polar_express.clone(),
                expected: PE_COEFFICIENTS.to_vec(),
            });
        }
        for (i, c) in file.cases.iter().enumerate() {
            let n = c.shape[0] * c.shape[1];
            for (what, len) in [
                ("g", c.g.len()),
                ("polar", c.polar.len()),
                ("newton_schulz5", c.newton_schulz5.len()),
                ("polar_express8", c.polar_express8.len()),
            ] {
                if len != n {
                    return Err(ReferenceError::Format(format!(
                        "cases[{i}].{what} has {len} values, shape {:?} needs {n}",
                        c.shape
                    )));
                }
            }
        }
        Ok(file)
    }
}

/// Replays every case in precision `T` (inputs rounded to `T`, errors measured in `f64`).
pub fn replay<T: Scalar>(file: &OrthoFile) -> Result<Vec<OrthoReport>, ReferenceError> {
    let ns = Orthogonalizer::NewtonSchulz {
        coefficients: file.kj,
        steps: 5,
        normalization: Normalization::AddEps {
            safety: 1.0,
            eps: 1e-7,
        },
    };
    let pe = Orthogonalizer::polar_express8();
    let mut out = Vec::with_capacity(file.cases.len());
    for (i, case) in file.cases.iter().enumerate() {
        let wrap = |source| ReferenceError::Linalg { case: i, source };
        let [rows, cols] = case.shape;
        let g: Vec<T> = case.g.iter().map(|&v| T::of(v)).collect();
        let mut ws = OrthoWorkspace::<T>::new(rows, cols);
        let mut x = vec![T::zero(); rows * cols];
        ws.orthogonalize_into(&g, rows, cols, &ns, &mut x)
            .map_err(wrap)?;
        let ns_out = widen(&x);
        let sv = polar::singular_values(&x, rows, cols).map_err(wrap)?;
        let lo = sv.iter().fold(f64::INFINITY, |m, s| m.min(s.as_f64()));
        let hi = sv.iter().fold(0.0f64, |m, s| m.max(s.as_f64()));
        ws.orthogonalize_into(&g, rows, cols, &pe, &mut x)
            .map_err(wrap)?;
        let pe_out = widen(&x);
        let p = polar::polar_factor_row_major(&g, rows, cols).map_err(wrap)?;
        let p_out = widen(&p);
        out.push(OrthoReport {
            shape: case.shape,
            newton_schulz5_err: rel_err(&ns_out, &case.newton_schulz5),
            polar_express8_err: rel_err(&pe_out, &case.polar_express8),
            polar_err: rel_err(&p_out, &case.polar),
            polar_express8_vs_polar: rel_err(&pe_out, &case.polar),
            newton_schulz5_vs_polar: rel_err(&ns_out, &case.polar),
            newton_schulz5_singular_range: (lo, hi),
        });
    }
    Ok(out)
}

/// `‖a − b‖∞ / ‖b‖∞` (NaN if `a` holds a NaN).
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let mut diff = 0.0f64;
    let mut scale = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs();
        if d.is_nan() {
            return f64::NAN;
        }
        diff = diff.max(d);
        scale = scale.max(y.abs());
    }
    if scale > 0.0 { diff / scale } else { diff }
}

fn widen<T: Scalar>(x: &[T]) -> Vec<f64> {
    x.iter().map(|v| v.as_f64()).collect()
}

/// Whether a JSON value looks like an orthogonalization reference file.
pub fn looks_like_ortho(v: &serde_json::Value) -> bool {
    v.get("cases").is_some_and(serde_json::Value::is_array)
        && v.get("kj").is_some()
        && v.get("polar_express").is_some()
}
