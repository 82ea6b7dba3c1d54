//! `optlab bench`: kernel benchmarks (one sub-subcommand per family).

use std::time::Duration;

use anyhow::{Context, bail};
use optlab::bench::orthogonalize::{self, OrthoBenchConfig};

/// Arguments of `optlab bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: BenchCommand,
}

/// What to benchmark.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Newton–Schulz (5 steps) and Polar Express (8 steps) on a ROWS × COLS f32 matrix, next to
    /// faer's matmul on the same product shapes and the thin-SVD polar factor.
    Orthogonalize(OrthogonalizeArgs),
}

/// Arguments of `optlab bench orthogonalize`.
#[derive(clap::Args)]
pub struct OrthogonalizeArgs {
    /// Rows of the matrix.
    #[arg(long, default_value_t = 1024)]
    rows: usize,
    /// Columns of the matrix.
    #[arg(long, default_value_t = 1024)]
    cols: usize,
    /// Seconds spent timing each entry (at least 3 repetitions each).
    #[arg(long, default_value_t = 2.0)]
    min_time: f64,
    /// Threads for the parallel products (0: all cores, or RAYON_NUM_THREADS).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// Runs the selected benchmark and prints its table.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        BenchCommand::Orthogonalize(a) => run_orthogonalize(a),
    }
}

fn run_orthogonalize(a: OrthogonalizeArgs) -> anyhow::Result<()> {
    if a.rows == 0 || a.cols == 0 {
        bail!(
            "--rows and --cols must be ≥ 1 (got {} × {})",
            a.rows,
            a.cols
        );
    }
    if !(a.min_time.is_finite() && a.min_time >= 0.0) {
        bail!(
            "--min-time must be a finite number of seconds ≥ 0 (got {})",
            a.min_time
        );
    }
    let report = orthogonalize::run(&OrthoBenchConfig {
        rows: a.rows,
        cols: a.cols,
        min_time: Duration::from_secs_f64(a.min_time),
        threads: a.threads,
    })
    .context("orthogonalization benchmark")?;
    println!(
        "orthogonalize {} × {} f32, {} rayon threads (nominal flops: 2mkn per product, \
         4r²c + 2r³ per step, r = min, c = max)",
        report.rows, report.cols, report.threads
    );
    println!(
        "{:<32} {:>12} {:>12} {:>6} {:>10}",
        "entry", "median ms", "best ms", "reps", "GFLOP/s"
    );
    for e in &report.entries {
        let gf = e
            .gflops()
            .map_or_else(|| "-".to_string(), |g| format!("{g:.1}"));
        println!(
            "{:<32} {:>12.3} {:>12.3} {:>6} {:>10}",
            e.name,
            e.timing.median * 1e3,
            e.timing.best * 1e3,
            e.timing.reps,
            gf
        );
    }
    if let (Some(frac), Some(speedup)) =
        (report.ns_fraction_of_matmul(), report.ns_speedup_over_svd())
    {
        println!(
            "newton_schulz5: {:.0}% of the matmul rate (nominal), {speedup:.1}× faster than the SVD polar factor",
            frac * 100.0
        );
    }
    Ok(())
}
