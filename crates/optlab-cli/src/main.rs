//! `optlab`: a thin command-line front end over the `optlab` library crates.
//!
//! Each subcommand lives in `commands/<name>.rs`; this file only parses arguments and dispatches.

mod commands;

use clap::{Parser, Subcommand};

/// optlab: a laboratory for stochastic, adaptive and matrix-aware optimization.
#[derive(Parser)]
#[command(name = "optlab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List optimizers, schedules and problems with their hyperparameters and defaults.
    List(commands::list::Args),
    /// Run an experiment (problem × methods × seeds): records, summary and plots.
    Run(commands::run::Args),
    /// Replay reference traces (PyTorch) through optlab; non-zero exit if a case is off.
    Verify(commands::verify::Args),
    /// Micro-benchmarks (`optlab bench optim ...`, `optlab bench orthogonalize ...`).
    Bench(commands::bench::Args),
    /// Reproduce the lecture's figures, check their claims, write an HTML report.
    Reproduce(commands::reproduce::Args),
    /// The interactive playground in the browser: methods on 2-D functions, live.
    Serve(commands::serve::Args),
    /// AlgoPerf-style benchmarking: score logs, plan and shard trials, check submissions.
    Algoperf(commands::algoperf::Args),
    /// Train a neural network (preset or EXPERIMENT.toml) with any optlab optimizer.
    #[cfg(feature = "nn")]
    Train(commands::train::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::List(args) => commands::list::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Reproduce(args) => commands::reproduce::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Algoperf(args) => commands::algoperf::run(args),
        #[cfg(feature = "nn")]
        Command::Train(args) => commands::train::run(args),
    }
}
