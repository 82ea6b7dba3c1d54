//! `optlab train`: train a neural network (preset or EXPERIMENT.toml) with any optlab optimizer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use optlab::dist::Communicator;
use optlab_nn::checkpoint::{self, ResumePoint};
use optlab_nn::train::{self, Progress};
use optlab_nn::{Checkpoint, RunOptions, TrainConfig};

/// Arguments of `optlab train`.
#[derive(clap::Args)]
pub struct Args {
    /// A preset (mnist-mlp, mnist-cnn, digits-mlp, grokking, shakespeare-gpt, shakespeare-gpt-muon)
    /// or an EXPERIMENT.toml.
    #[arg(required_unless_present = "resume")]
    experiment: Option<String>,
    /// Override a field: `--set optimizer.lr=3e-4 --set model.width=256` (dotted keys, list
    /// elements by index, TOML values; the syntax of `optlab run --set`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Total training steps (overrides the experiment's steps/epochs).
    #[arg(long)]
    steps: Option<u64>,
    /// Run directory: the outputs go into it (default: runs/<name>), as for `optlab run`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// No progress bar or evaluation lines (the final summary is still printed).
    #[arg(long)]
    quiet: bool,
    /// Continue a run: a run directory (e.g. runs/mnist-mlp) continues from its latest complete
    /// checkpoint, or from step 0 with its config.json when none completed; a checkpoint
    /// directory (RUN_DIR/checkpoints/step-N) continues from that one. Outputs go to the run
    /// directory unless --out says otherwise.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["experiment", "set"])]
    resume: Option<PathBuf>,
    /// Only time N training steps (forward, backward, update; after 3 warm-up steps) and print
    /// milliseconds per step; writes nothing.
    #[arg(long, value_name = "N")]
    bench: Option<u64>,
    /// Backend device.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
}

/// Where the model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Device {
    /// burn's flex CPU backend.
    Cpu,
    /// burn's CUDA backend (build with `--features cuda`).
    Cuda,
}

/// Runs `optlab train`; across MPI ranks (`comm`), data-parallel (docs/distributed.md): rank 0
/// alone prints and writes.
pub fn run(args: Args, comm: Arc<dyn Communicator>) -> anyhow::Result<()> {
    let root = comm.is_root();
    let (checkpoint, resumed_config, run_dir) = match &args.resume {
        Some(p) => resume_point(p)?,
        None => (None, None, None),
    };
    let config = match (&checkpoint, resumed_config, &args.experiment) {
        (Some(ck), _, _) => ck.config.clone(),
        (None, Some(c), _) => c,
        (None, None, Some(e)) => TrainConfig::load(e, &args.set)?,
        (None, None, None) => {
            anyhow::bail!("give a preset or EXPERIMENT.toml, or --resume RUN_DIR")
        }
    };
    if let Some(n) = args.bench {
        if comm.size() > 1 {
            anyhow::bail!("--bench times one process: run it without mpirun");
        }
        let ms = bench(&config, n, args.device)?;
        println!(
            "{}: {ms:.2} ms/step over {n} steps (forward + backward + {} update)",
            config.common.name, config.optimizer.name
        );
        return Ok(());
    }
    let bar = (!args.quiet && root).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let progress = bar.clone().map(|bar| {
        Box::new(move |p: &Progress| {
            bar.set_length(p.total);
            bar.set_position(p.step);
            bar.set_message(format!(
                "loss {:.4} | {:.0} samples/s",
                p.loss, p.samples_per_s
            ));
            if let Some(e) = &p.eval {
                let line = format!(
                    "step {:>6}: train loss {:.4} acc {:.4} | val loss {:.4} acc {:.4}",
                    p.step, e.train_loss, e.train_acc, e.val_loss, e.val_acc
                );
                // indicatif draws nothing when stderr is not a terminal; keep the evaluations
                if bar.is_hidden() {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
            }
        }) as Box<dyn FnMut(&Progress)>
    });
    let dir = args
        .out
        .clone()
        .or(run_dir)
        .unwrap_or_else(|| Path::new("runs").join(&config.common.name));
    let opts = RunOptions {
        steps: args.steps,
        out: Some(dir.clone()),
        progress,
        comm: Some(comm.clone()),
        ..Default::default()
    };
    let outcome = match args.device {
        Device::Cpu => match checkpoint {
            Some(ck) => train::resume(ck, opts)?,
            None => train::train(&config, opts)?,
        },
        Device::Cuda if comm.size() > 1 => {
            anyhow::bail!("--device cuda trains in one process: run it without mpirun")
        }
        Device::Cuda => cuda_run(&config, checkpoint, opts)?,
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if !root {
        return Ok(());
    }
    let s = &outcome.summary;
    let e = &s.final_eval;
    if s.world_size > 1 {
        println!(
            "data-parallel over {} ranks; optimizer state per rank: {:?} bytes",
            s.world_size, s.optimizer_state_bytes_per_rank
        );
    }
    println!(
        "{}: {} ({} parameters) with {}, {} steps ({:.1} epochs) in {:.1} s ({:.1} s training, {:.2} ms/step)",
        s.name,
        s.model,
        s.parameters,
        s.optimizer,
        s.steps,
        s.epochs,
        s.wall_time_s,
        s.train_time_s,
        s.ms_per_step
    );
    println!(
        "final: train loss {:.4} acc {:.4} | validation loss {:.4} acc {:.4} (best acc {:.4}, best loss {:.4})",
        e.train_loss, e.train_acc, e.val_loss, e.val_acc, s.best_val_acc, s.best_val_loss
    );
    if let Some(t) = &s.target {
        let cmp = match t.direction {
            optlab::record::Direction::Above => "≥",
            optlab::record::Direction::Below => "≤",
        };
        match (t.step, t.epoch, t.seconds) {
            (Some(step), Some(epoch), Some(sec)) => println!(
                "target {} {cmp} {}: reached at step {step} (epoch {epoch:.2}, {sec:.1} s training)",
                t.metric, t.threshold
            ),
            _ => println!("target {} {cmp} {}: not reached", t.metric, t.threshold),
        }
    }
    if let Some(text) = &outcome.sample {
        println!("--- sample ---\n{text}\n--------------");
    }
    println!("outputs in {}", dir.display());
    Ok(())
}

/// What `--resume PATH` continues from: a checkpoint, or the configuration of a run directory
/// in which no checkpoint completed (said on stderr), and the run directory.
fn resume_point(
    path: &Path,
) -> anyhow::Result<(Option<Checkpoint>, Option<TrainConfig>, Option<PathBuf>)> {
    let note = |interrupted: &[PathBuf]| {
        for p in interrupted {
            eprintln!(
                "note: ignoring {} (a checkpoint write that did not complete)",
                p.display()
            );
        }
    };
    Ok(match checkpoint::resume_point(path)? {
        ResumePoint::Checkpoint {
            dir,
            checkpoint,
            run_dir,
            interrupted,
        } => {
            note(&interrupted);
            eprintln!("resuming from {} (step {})", dir.display(), checkpoint.step);
            (Some(*checkpoint), None, run_dir)
        }
        ResumePoint::Fresh {
            run_dir,
            config,
            interrupted,
        } => {
            note(&interrupted);
            eprintln!(
                "no complete checkpoint in {}: starting `{}` afresh from step 0 with its {}",
                run_dir.display(),
                config.common.name,
                checkpoint::CONFIG_FILE
            );
            (None, Some(*config), Some(run_dir))
        }
    })
}

fn bench(config: &TrainConfig, steps: u64, device: Device) -> anyhow::Result<f64> {
    match device {
        Device::Cpu => Ok(train::bench_cpu(config, 3, steps)?),
        Device::Cuda => cuda_bench(config, steps),
    }
}

#[cfg(feature = "cuda")]
fn cuda_run(
    config: &TrainConfig,
    checkpoint: Option<Checkpoint>,
    opts: RunOptions<'_>,
) -> anyhow::Result<optlab_nn::Outcome> {
    Ok(train::run::<train::CudaBackend>(
        config,
        checkpoint,
        opts,
        &Default::default(),
    )?)
}

#[cfg(feature = "cuda")]
fn cuda_bench(config: &TrainConfig, steps: u64) -> anyhow::Result<f64> {
    Ok(train::bench::<train::CudaBackend>(
        config,
        3,
        steps,
        &Default::default(),
    )?)
}

#[cfg(not(feature = "cuda"))]
fn cuda_run(
    _: &TrainConfig,
    _: Option<Checkpoint>,
    _: RunOptions<'_>,
) -> anyhow::Result<optlab_nn::Outcome> {
    no_cuda()
}

#[cfg(not(feature = "cuda"))]
fn cuda_bench(_: &TrainConfig, _: u64) -> anyhow::Result<f64> {
    no_cuda()
}

#[cfg(not(feature = "cuda"))]
fn no_cuda<T>() -> anyhow::Result<T> {
    use anyhow::Context;
    Err(anyhow::anyhow!(
        "this optlab was built without CUDA support"
    ))
    .context(
        "rebuild with `cargo build --release -p optlab-cli --features cuda` to use --device cuda",
    )
}
