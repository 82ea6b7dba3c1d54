//! `optlab`: a thin command-line front end over the `optlab` library crates.
//!
//! Each subcommand lives in `commands/<name>.rs`; this file only parses arguments and dispatches.

mod commands;
#[cfg(feature = "mpi")]
mod mpi;
mod world;

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
    let world = world::World::init()?;
    let comm = world.comm();
    let result = dispatch(cli.command, comm.clone());
    if let Err(e) = &result
        && comm.size() > 1
    {
        // one rank failing must not leave the others waiting: MPI_Abort ends them all
        comm.abort(
            1,
            &format!(
                "optlab: rank {} of {}: error: {e:#} (aborting all ranks)",
                comm.rank(),
                comm.size()
            ),
        );
    }
    result
}

fn dispatch(
    command: Command,
    comm: std::sync::Arc<dyn optlab::dist::Communicator>,
) -> anyhow::Result<()> {
    let distributed = matches!(&command, Command::Run(_) | Command::Algoperf(_));
    #[cfg(feature = "nn")]
    let distributed = distributed || matches!(&command, Command::Train(_));
    if comm.size() > 1 && !distributed {
        anyhow::bail!(
            "this command does not run across MPI ranks (train, run and algoperf run do): \
             launch it as one process"
        );
    }
    match command {
        Command::List(args) => commands::list::run(args),
        Command::Run(args) => commands::run::run(args, comm),
        Command::Verify(args) => commands::verify::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Reproduce(args) => commands::reproduce::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Algoperf(args) => commands::algoperf::run(args, comm),
        #[cfg(feature = "nn")]
        Command::Train(args) => commands::train::run(args, comm),
    }
}
