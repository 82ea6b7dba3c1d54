//! `optlab`: a thin command-line front end over the `optlab` library.

use clap::{Parser, Subcommand};

/// optlab: stochastic, adaptive and matrix-aware optimization lab.
#[derive(Parser)]
#[command(name = "optlab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List optimizers with their PyTorch hyperparameter names and defaults.
    List,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            for info in optlab::optim::registry::CATALOG {
                println!("{:<10} {}", info.name, info.summary);
                println!("           defaults: {}", (info.defaults)());
            }
        }
    }
    Ok(())
}
