//! `optlab list`: what can be named in an experiment.

/// Arguments of `optlab list`.
#[derive(clap::Args)]
pub struct Args {}

/// Prints every optimizer with its PyTorch hyperparameter names and defaults, and every
/// step-size schedule with its formula, aliases and arguments.
pub fn run(_args: Args) -> anyhow::Result<()> {
    println!("Optimizers (PyTorch names; hyperparameters with defaults):");
    for info in optlab::optim::registry::CATALOG {
        let aliases = if info.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", info.aliases.join(", "))
        };
        println!("  {:<10} {}{aliases}", info.name, info.summary);
        println!("  {:<10} {}", "", (info.defaults)());
    }
    println!();
    println!(
        "Schedules (`schedule = {{ kind = ..., <arguments> }}`; α₀ = the optimizer's lr, k = 0, 1, ...):"
    );
    for info in optlab::schedule::CATALOG {
        println!("  {:<27} {}", info.kind, info.formula);
        if !info.aliases.is_empty() {
            println!("  {:<27} also: {}", "", info.aliases.join(", "));
        }
        println!("  {:<27} args: {}", "", info.args_summary());
    }
    Ok(())
}
