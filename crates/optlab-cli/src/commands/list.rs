//! `optlab list`: what can be named in an experiment.

/// Arguments of `optlab list`.
#[derive(clap::Args)]
pub struct Args {}

/// Prints every optimizer with its PyTorch hyperparameter names and defaults.
pub fn run(_args: Args) -> anyhow::Result<()> {
    println!("Optimizers (PyTorch names; hyperparameters with defaults):");
    for info in optlab::optim::registry::CATALOG {
        let aliases = if info.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", info.aliases.join(", "))
        };
        println!("  {:<12} {}{aliases}", info.name, info.summary);
        println!("  {:<12} {}", "", (info.defaults)());
    }
    Ok(())
}
