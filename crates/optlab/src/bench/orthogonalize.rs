//! `optlab bench orthogonalize`: Newton–Schulz and Polar Express against faer's matmul and the
//! SVD polar factor, on one `rows × cols` f32 matrix, all measured in the same run.
//!
//! Flop counts (each dense product `m×k · k×n` counted as `2mkn`, elementwise work ignored),
//! with `r = min(rows, cols)`, `c = max(rows, cols)`:
//!
//! ```text
//! one polynomial step:  A = XXᵀ (2r²c) + A·A (2r³) + B·X (2r²c)  = 4r²c + 2r³
//! Newton–Schulz, 5 steps: 5·(4r²c + 2r³);  Polar Express, 8 steps: 8·(4r²c + 2r³)
//! ```
//!
//! These are *nominal* counts: the implementation computes the symmetric products `XXᵀ` and `A²`
//! as one triangle ([`OrthoWorkspace`]), executing about `3r²c + r³` flops per step instead of
//! `4r²c + 2r³` (2/3 of the nominal count for a square matrix), so its nominal GFLOP/s can exceed
//! the matmul rate. The reference rate is
//! faer's matmul on exactly the iteration's three product shapes (`r×c·c×r`, `r×r·r×r`,
//! `c×r·r×r`), timed as one sequence with full (non-symmetric) products; the SVD row is faer's
//! thin SVD followed by `U·Vᵀ`. The entries are timed in interleaved rounds
//! ([`time_interleaved`]) and rates and speedups use each entry's fastest call (medians are
//! printed too): on a shared machine every entry sees the same load, and the minimum is the least
//! disturbed estimate.

use std::cell::RefCell;
use std::time::Duration;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};

use super::{Timings, time_interleaved};
use crate::linalg::{LinalgError, OrthoWorkspace, Orthogonalizer, polar};

/// What to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct OrthoBenchConfig {
    /// Rows of the matrix.
    pub rows: usize,
    /// Columns of the matrix.
    pub cols: usize,
    /// Minimum time spent timing each entry.
    pub min_time: Duration,
    /// Rayon threads (0: the global pool, i.e. all cores or `RAYON_NUM_THREADS`).
    pub threads: usize,
}

/// One measured entry.
#[derive(Clone, Debug, PartialEq)]
pub struct OrthoBenchRow {
    /// What was timed.
    pub name: String,
    /// Timing of one call.
    pub timing: Timings,
    /// Nominal flops of one call (`None` for the SVD).
    pub flops: Option<f64>,
}

impl OrthoBenchRow {
    /// Nominal GFLOP/s at the fastest call (the least disturbed by other load on the machine).
    pub fn gflops(&self) -> Option<f64> {
        self.flops.map(|f| f / self.timing.min() / 1e9)
    }
}

/// All entries of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct OrthoBenchReport {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Rayon threads available.
    pub threads: usize,
    /// Entries: `matmul (iteration shapes)`, `newton_schulz5`, `newton_schulz5 (full products)`,
    /// `polar_express8`, `svd polar`.
    pub entries: Vec<OrthoBenchRow>,
}

impl OrthoBenchReport {
    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&OrthoBenchRow> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Newton–Schulz's nominal rate as a fraction of the matmul rate.
    pub fn ns_fraction_of_matmul(&self) -> Option<f64> {
        Some(self.entry(NS5)?.gflops()? / self.entry(MATMUL)?.gflops()?)
    }

    /// How many times faster Newton–Schulz is than the SVD route.
    pub fn ns_speedup_over_svd(&self) -> Option<f64> {
        Some(self.entry(SVD)?.timing.min() / self.entry(NS5)?.timing.min())
    }
}

/// Entry names.
pub const MATMUL: &str = "matmul (iteration shapes)";
/// Entry names.
pub const NS5: &str = "newton_schulz5";
/// Entry names.
pub const NS5_FULL: &str = "newton_schulz5 (full products)";
/// Entry names.
pub const PE8: &str = "polar_express8";
/// Entry names.
pub const SVD: &str = "svd polar";

/// A deterministic, well-spread test matrix (row-major), entries in [−1, 1].
pub fn test_matrix(rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols)
        .map(|i| {
            let x = i as f64;
            ((x * 0.618_033_988_75).fract() * 2.0 - 1.0) as f32 * (1.0 + (x * 1e-3).sin() as f32)
                / 2.0
        })
        .collect()
}

/// Runs the benchmark (on a pool of `cfg.threads` threads when that is not 0).
pub fn run(cfg: &OrthoBenchConfig) -> Result<OrthoBenchReport, LinalgError> {
    if cfg.threads == 0 {
        return run_here(cfg);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .map_err(|e| LinalgError::Shape(format!("cannot start {} threads: {e}", cfg.threads)))?
        .install(|| run_here(cfg))
}

fn run_here(cfg: &OrthoBenchConfig) -> Result<OrthoBenchReport, LinalgError> {
    let (rows, cols) = (cfg.rows, cfg.cols);
    if rows == 0 || cols == 0 {
        return Err(LinalgError::Shape(format!(
            "benchmark needs a non-empty matrix, got {rows} × {cols}"
        )));
    }
    let g = test_matrix(rows, cols);
    let (r, c) = (rows.min(cols), rows.max(cols));
    let par = if rayon::current_num_threads() > 1 {
        Par::rayon(0)
    } else {
        Par::Seq
    };
    // faer's matmul on the three product shapes of one step.
    let y = Mat::<f32>::from_fn(c, r, |i, j| g[(i * r + j) % g.len()]);
    let mut a = Mat::<f32>::zeros(r, r);
    let mut b = Mat::<f32>::zeros(r, r);
    let mut y2 = Mat::<f32>::zeros(c, r);
    let step_flops = 4.0 * (r * r * c) as f64 + 2.0 * (r * r * r) as f64;
    let mut matmul_step = || {
        matmul(
            a.as_mut(),
            Accum::Replace,
            y.transpose(),
            y.as_ref(),
            1.0,
            par,
        );
        matmul(
            b.as_mut(),
            Accum::Replace,
            a.as_ref(),
            a.as_ref(),
            1e-3,
            par,
        );
        matmul(
            y2.as_mut(),
            Accum::Replace,
            y.as_ref(),
            b.as_ref(),
            1.0,
            par,
        );
    };

    // The iterations, each with its own workspace and output. A failure (which would mean a
    // non-finite test matrix) is kept and returned after timing.
    let ns = Orthogonalizer::newton_schulz5();
    let pe = Orthogonalizer::polar_express8();
    let mut ws_ns = OrthoWorkspace::<f32>::new(rows, cols);
    let mut ws_full = OrthoWorkspace::<f32>::new(rows, cols);
    ws_full.set_symmetric(false);
    let mut ws_pe = OrthoWorkspace::<f32>::new(rows, cols);
    let [mut o1, mut o2, mut o3, mut o4] = [(); 4].map(|_| vec![0.0f32; rows * cols]);
    let error: RefCell<Option<LinalgError>> = RefCell::new(None);
    let keep = |r: Result<(), LinalgError>| {
        if let Err(e) = r {
            error.borrow_mut().get_or_insert(e);
        }
    };
    let timings = time_interleaved(
        &mut [
            &mut matmul_step,
            &mut || keep(ws_ns.orthogonalize_into(&g, rows, cols, &ns, &mut o1)),
            &mut || keep(ws_full.orthogonalize_into(&g, rows, cols, &ns, &mut o2)),
            &mut || keep(ws_pe.orthogonalize_into(&g, rows, cols, &pe, &mut o3)),
            &mut || {
                keep(polar::polar_factor_row_major(&g, rows, cols).map(|p| o4.copy_from_slice(&p)))
            },
        ],
        cfg.min_time,
        3,
    );
    if let Some(e) = error.into_inner() {
        return Err(e);
    }
    let flops = [
        Some(step_flops),
        ns.nominal_flops(rows, cols),
        ns.nominal_flops(rows, cols),
        pe.nominal_flops(rows, cols),
        None,
    ];
    let entries = [MATMUL, NS5, NS5_FULL, PE8, SVD]
        .into_iter()
        .zip(timings)
        .zip(flops)
        .map(|((name, timing), flops)| OrthoBenchRow {
            name: name.into(),
            timing,
            flops,
        })
        .collect();
    Ok(OrthoBenchReport {
        rows,
        cols,
        threads: rayon::current_num_threads(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_reports_every_entry() -> Result<(), LinalgError> {
        let rep = run(&OrthoBenchConfig {
            rows: 24,
            cols: 40,
            min_time: Duration::from_millis(1),
            threads: 1,
        })?;
        assert_eq!(rep.threads, 1);
        for name in [MATMUL, NS5, NS5_FULL, PE8, SVD] {
            let e = rep.entry(name).expect("entry present");
            assert!(e.timing.median() > 0.0 && e.timing.len() >= 2, "{e:?}");
        }
        let ns = rep.entry(NS5).and_then(OrthoBenchRow::gflops);
        assert!(ns.is_some_and(|g| g > 0.0));
        assert!(rep.ns_fraction_of_matmul().is_some());
        assert!(rep.entry(SVD).and_then(OrthoBenchRow::gflops).is_none());
        assert!(
            run(&OrthoBenchConfig {
                rows: 0,
                cols: 3,
                min_time: Duration::ZERO,
                threads: 0,
            })
            .is_err()
        );
        Ok(())
    }
}
