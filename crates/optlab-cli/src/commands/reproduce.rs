//! `optlab reproduce <figure> | --all | --list [--out DIR] [--quick] [--quiet]`: reproduces the
//! lecture's figures, checks their claims numerically and writes `DIR/<figure>/` (PNG, SVG,
//! GIF, `metrics.csv`, `verdict.json`) and the self-contained report `DIR/index.html`.
//!
//! Exit status: 0 when every verdict holds, 2 when a verdict does not hold (everything is still
//! written and the summary printed), 1 on an error (unknown figure, unwritable directory, ...).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use optlab::reproduce::{self, Figure, Size};

/// Arguments of `optlab reproduce`.
#[derive(clap::Args)]
pub struct Args {
    /// The figure to reproduce (`--list` names them).
    pub figure: Option<String>,
    /// Reproduce every figure.
    #[arg(long, conflicts_with = "figure")]
    pub all: bool,
    /// List the figures and exit.
    #[arg(long, conflicts_with_all = ["figure", "all"])]
    pub list: bool,
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Fewer seeds and iterations (the tests' size); the same claims are checked.
    #[arg(long)]
    pub quick: bool,
    /// No progress bar and no summary on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Every figure of this build, in report order: the lab's classical figures, then (with the
/// `nn` feature) the network figures of `optlab-nn`.
pub fn figures() -> Vec<&'static Figure> {
    let all = optlab::reproduce::FIGURES.iter();
    #[cfg(feature = "nn")]
    let all = all.chain(optlab_nn::reproduce::FIGURES.iter());
    all.collect()
}

/// Runs the figures, writes the report, prints the summary table; exits with status 2 when a
/// verdict does not hold.
pub fn run(args: Args) -> anyhow::Result<()> {
    let all = figures();
    if args.list {
        for f in &all {
            println!("{:<20} {}", f.name, f.title);
        }
        return Ok(());
    }
    let figures: Vec<&Figure> = match (&args.figure, args.all) {
        (Some(name), _) => vec![reproduce::figure_in(all.iter().copied(), name)?],
        (None, true) => all,
        (None, false) => bail!(
            "name a figure or use --all; figures: {}",
            all.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
        ),
    };
    let size = if args.quick { Size::Quick } else { Size::Full };
    let started = Instant::now();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} {msg:<20} [{bar:30}] {pos}/{len} runs, {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut reports = Vec::new();
    for (i, fig) in figures.iter().enumerate() {
        bar.set_prefix(format!("[{}/{}]", i + 1, figures.len()));
        bar.set_message(fig.name);
        bar.set_position(0);
        let progress = |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        };
        let report = fig
            .run(size, &args.out, &progress)
            .with_context(|| format!("figure `{}`", fig.name))?;
        reports.push(report);
    }
    bar.finish_and_clear();
    let index = reproduce::write_index(&args.out, &reports)?;
    let failed = reports.iter().filter(|r| !r.verdict.holds).count();
    if !args.quiet {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{:<20}  {:<16}  {:>6}  {:>8}",
            "figure", "verdict", "checks", "time"
        )?;
        for r in &reports {
            let v = &r.verdict;
            writeln!(
                out,
                "{:<20}  {:<16}  {:>6}  {:>7.1}s",
                v.figure,
                if v.holds { "holds" } else { "DOES NOT HOLD" },
                format!(
                    "{}/{}",
                    v.checks.iter().filter(|c| c.holds).count(),
                    v.checks.len()
                ),
                r.seconds
            )?;
            for c in v.checks.iter().filter(|c| !c.holds) {
                writeln!(out, "  does not hold: {}: {}", c.name, c.statement)?;
            }
        }
        writeln!(
            out,
            "{} figure(s) in {:.1} s ({} size); report: {}",
            reports.len(),
            started.elapsed().as_secs_f64(),
            if args.quick { "quick" } else { "full" },
            index.display()
        )?;
        out.flush()?;
    }
    if failed > 0 {
        eprintln!("{failed} verdict(s) do not hold (see {})", index.display());
        std::process::exit(2);
    }
    Ok(())
}
