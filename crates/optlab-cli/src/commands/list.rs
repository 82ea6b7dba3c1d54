//! `optlab list`: what can be named in an experiment.

/// Arguments of `optlab list`.
#[derive(clap::Args)]
pub struct Args {}

/// Prints every optimizer with its PyTorch hyperparameter names and defaults, every step-size
/// schedule with its formula, aliases and arguments, the shorthands and wrappers, and the problems
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
    println!("Shorthands (`optimizer = ...` in `optlab run` and `optlab train`):");
    for (name, aliases, summary) in optlab::experiment::method::SHORTHANDS {
        println!("  {name:<10} {summary} (also: {})", aliases.join(", "));
    }
    println!();
    println!(
        "Wrappers (fields of a [[methods]] table or of a train file; applied as \
         averaging(clip(sam(armijo(optimizer))))):"
    );
    let wrappers: [(&str, &str, serde_json::Value); 4] = [
        (
            "clip_grad_norm",
            "global-norm gradient clipping, PyTorch's clip_grad_norm_ (a max_norm > 0)",
            serde_json::to_value(optlab::optim::clip::ClipGradNormConfig::default().max_norm)?,
        ),
        (
            "sam",
            "sharpness-aware minimization: the gradient at w + ρ g/‖g‖ (table)",
            serde_json::to_value(optlab::optim::sam::SamConfig::default())?,
        ),
        (
            "armijo",
            "Armijo backtracking line search along the optimizer's update (table)",
            serde_json::to_value(optlab::optim::armijo::ArmijoConfig::default())?,
        ),
        (
            "averaging",
            "iterate averaging, evaluated at the average: none, uniform, step_weighted, ema",
            serde_json::to_value(optlab::optim::averaging::Averaging::Ema {
                decay: optlab::optim::averaging::EMA_DECAY,
            })?,
        ),
    ];
    let w = width(wrappers.iter().map(|(n, _, _)| *n));
    for (name, summary, example) in wrappers {
        println!("  {name:<w$} {summary}");
        println!("  {:<w$} e.g. {example}", "");
    }
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
