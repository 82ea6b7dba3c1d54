//! `optlab list`: what can be named in an experiment.

/// Arguments of `optlab list`.
#[derive(clap::Args)]
pub struct Args {}

/// Prints every optimizer with its PyTorch hyperparameter names and defaults, every step-size
/// schedule with its formula, aliases and arguments, the runner's own methods, and the problems
/// with their parameters and defaults.
pub fn run(_args: Args) -> anyhow::Result<()> {
    println!("Optimizers (PyTorch names; hyperparameters with defaults):");
    let w = width(optlab::optim::registry::CATALOG.iter().map(|i| i.name));
    for info in optlab::optim::registry::CATALOG {
        let aliases = if info.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", info.aliases.join(", "))
        };
        println!("  {:<w$} {}{aliases}", info.name, info.summary);
        println!("  {:<w$} {}", "", (info.defaults)());
    }
    println!();
    println!(
        "Schedules (`schedule = {{ kind = ..., <arguments> }}`; α₀ = the optimizer's lr, k = 0, 1, ...):"
    );
    let w = width(optlab::schedule::CATALOG.iter().map(|i| i.kind));
    for info in optlab::schedule::CATALOG {
        println!("  {:<w$} {}", info.kind, info.formula);
        if !info.aliases.is_empty() {
            println!("  {:<w$} also: {}", "", info.aliases.join(", "));
        }
        println!("  {:<w$} args: {}", "", info.args_summary());
    }
    println!();
    println!("Runner methods (problem-aware, full gradient):");
    println!(
        "  {:<10} gradient descent with Armijo backtracking line search (aliases: armijo, linesearch)",
        "ArmijoGD"
    );
    println!(
        "  {:<10} {}",
        "",
        serde_json::to_value(optlab::runner::armijo::ArmijoConfig::default())?
    );
    println!();
    println!("Problems (`kind` in [problem]; parameters with defaults):");
    let w = width(optlab::problem::CATALOG.iter().map(|i| i.kind));
    for info in optlab::problem::CATALOG {
        println!("  {:<w$} {}", info.kind, info.summary);
        println!("  {:<w$} {}", "", (info.defaults)());
    }
    Ok(())
}

/// Column width for a list of names: the longest name (in characters).
fn width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(|n| n.chars().count()).max().unwrap_or(0)
}
