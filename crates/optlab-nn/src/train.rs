//! The training loop: data → model → loss → gradients → bridge → optimizer (+ schedule, clipping,
//! SAM) → records, with periodic evaluation, checkpoints and bit-identical resume.
//!
//! Records go through the lab's shared path: an [`optlab::record::Records`] table with the fixed
//! columns (`method, seed, iteration, epoch, grad_evals, time_s, lr`) and the metric columns
//! [`METRICS`], written as `metrics.csv`; plots through [`optlab::plot`] (`loss.png`/`.svg`,
//! `accuracy.png`/`.svg`); time-to-target through [`Records::time_to_target`]. `time_s` is the
//! training time (steps, not evaluations or checkpoints), as in the lab's runs; `grad_evals`
//! counts the training examples whose gradient was computed (twice per example under SAM).
//!
//! The batch of step k depends only on `(seed, k)`, the model's values, the optimizer's state and
//! the schedule's `k` are all in a [`Checkpoint`], so a run resumed at step k continues with the
//! same losses as the uninterrupted run.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::ElementConversion;
use burn::tensor::backend::AutodiffBackend;
use optlab::optim::registry;
use optlab::optim::{Buffer, OptimizerState};
use optlab::plot::{self, ConvergenceOptions};
use optlab::record::{Direction, Record, Records, XAxis};
use optlab::schedule::Schedule;
use optlab::{Optimizer, Param};
use serde::{Deserialize, Serialize};

use crate::bridge::{GradBridge, HostBridge, read_params, write_params};
use crate::clip::clip_grad_norm;
use crate::config::TrainConfig;
use crate::data::TaskData;
use crate::error::NnError;
use crate::models::{Batch, ModelSpec, Net, correct, cross_entropy};
use crate::rng::{Purpose, stream};
use crate::sam::Sam;

/// Metric columns of the training records, in order: the minibatch loss and the global gradient
/// norm (before clipping) every `log_every` steps, and the evaluation (`train_*` on fixed
/// training batches, `val_*` on the validation set) every `eval_every` steps and at the end;
/// `NaN` where not measured.
pub const METRICS: [&str; 6] = [
    "loss",
    "grad_norm",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
];

/// The default backend: burn's flex CPU backend with autodiff.
pub type CpuBackend = burn::backend::Autodiff<burn::backend::Flex>;

/// burn's CUDA backend with autodiff (feature `cuda`).
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Autodiff<burn::backend::Cuda>;

/// Loss and accuracy over fixed batches.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    /// Mean cross-entropy on the training batches (nats per example/character).
    pub train_loss: f64,
    /// Accuracy on the training batches.
    pub train_acc: f64,
    /// Mean cross-entropy on the validation batches.
    pub val_loss: f64,
    /// Accuracy on the validation batches (next-character accuracy for text).
    pub val_acc: f64,
}

/// What the progress callback sees after each step.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Steps completed.
    pub step: u64,
    /// Steps of the run.
    pub total: u64,
    /// Minibatch loss of this step.
    pub loss: f64,
    /// Training examples per second since the start (or resume).
    pub samples_per_s: f64,
    /// The evaluation, when one ran at this step.
    pub eval: Option<Eval>,
}

/// The progress callback.
pub type ProgressFn<'a> = Box<dyn FnMut(&Progress) + 'a>;

/// How to run an experiment (beyond its configuration).
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Stop after this many steps in total (overrides the configuration's steps/epochs).
    pub steps: Option<u64>,
    /// Write outputs to `<out>/<name>/` (metrics.csv, summary.json, loss.png/.svg,
    /// accuracy.png/.svg, checkpoint, sample.txt); `None` writes nothing.
    pub out: Option<PathBuf>,
    /// Called after every step.
    pub progress: Option<ProgressFn<'a>>,
}

/// Final figures of a run (`summary.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// Model kind.
    pub model: String,
    /// Number of scalar parameters.
    pub parameters: usize,
    /// Optimizer name (with "SAM(...)" when wrapped).
    pub optimizer: String,
    /// Seed.
    pub seed: u64,
    /// Steps completed.
    pub steps: u64,
    /// Epochs completed.
    pub epochs: f64,
    /// Final evaluation.
    pub final_eval: Eval,
    /// Best validation accuracy over the evaluations.
    pub best_val_acc: f64,
    /// Lowest validation loss over the evaluations.
    pub best_val_loss: f64,
    /// Wall time of training (including evaluations, excluding data loading), seconds.
    pub wall_time_s: f64,
    /// Training time: the steps alone (evaluations and checkpoints excluded), seconds; the
    /// records' `time_s` clock.
    pub train_time_s: f64,
    /// Mean training time per step, milliseconds.
    pub ms_per_step: f64,
    /// When the configured `[target]` was first reached (absent without a target).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<TargetReport>,
}

/// First hit of the configured target (from [`Records::time_to_target`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The metric.
    pub metric: String,
    /// The threshold.
    pub threshold: f64,
    /// Reached at ≥ (`above`) or ≤ (`below`) the threshold.
    pub direction: Direction,
    /// Whether some logged value reached it.
    pub reached: bool,
    /// The first logged step at which it was reached.
    pub step: Option<u64>,
    /// The epoch at that step.
    pub epoch: Option<f64>,
    /// The training time (`time_s`) at that step, seconds.
    pub seconds: Option<f64>,
}

/// Result of a run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Records (one row per logged or evaluated step), columns [`METRICS`].
    pub records: Records,
    /// Minibatch loss of every step run in this call, in order.
    pub losses: Vec<f64>,
    /// Final figures.
    pub summary: Summary,
    /// Generated text (GPT with `[sample]`).
    pub sample: Option<String>,
    /// The state at the end, for resuming.
    pub checkpoint: Checkpoint,
}

/// Everything needed to continue a run identically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The experiment.
    pub config: TrainConfig,
    /// Steps completed (the data position: the next batch is batch `step`).
    pub step: u64,
    /// Wall time so far (evaluations included), seconds.
    pub elapsed_s: f64,
    /// Training time so far (the records' `time_s` clock), seconds.
    pub train_time_s: f64,
    /// Model parameters (name, shape, values) in module order.
    pub params: Vec<Buffer<f32>>,
    /// Optimizer state (the base optimizer's under SAM).
    pub optimizer: OptimizerState<f32>,
    /// Records so far, as `metrics.csv` text (the shared CSV format of [`optlab::record`],
    /// which round-trips every value exactly, `NaN` included).
    pub records_csv: String,
}

impl Checkpoint {
    /// Writes the checkpoint as gzip-compressed JSON.
    pub fn save(&self, path: &Path) -> Result<(), NnError> {
        let file = std::fs::File::create(path).map_err(|e| NnError::io(path, e))?;
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        serde_json::to_writer(&mut gz, self).map_err(|e| NnError::Checkpoint {
            path: path.into(),
            message: e.to_string(),
        })?;
        gz.finish()
            .and_then(|mut f| f.flush())
            .map_err(|e| NnError::io(path, e))
    }

    /// The records saved in the checkpoint.
    pub fn records(&self) -> Result<Records, NnError> {
        Records::read_csv(self.records_csv.as_bytes()).map_err(|e| {
            NnError::Parse(format!(
                "records in the checkpoint of `{}`: {e}",
                self.config.name
            ))
        })
    }

    /// Reads a checkpoint written by [`save`](Checkpoint::save).
    pub fn load(path: &Path) -> Result<Self, NnError> {
        let file = std::fs::File::open(path).map_err(|e| NnError::io(path, e))?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .map_err(|e| NnError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| NnError::Checkpoint {
            path: path.into(),
            message: e.to_string(),
        })
    }
}

/// Trains `config` on the CPU backend.
pub fn train(config: &TrainConfig, opts: RunOptions<'_>) -> Result<Outcome, NnError> {
    run::<CpuBackend>(config, None, opts, &Default::default())
}

/// Continues the run saved in `checkpoint` on the CPU backend (until `opts.steps` or the
/// configuration's end).
pub fn resume(checkpoint: Checkpoint, opts: RunOptions<'_>) -> Result<Outcome, NnError> {
    let config = checkpoint.config.clone();
    run::<CpuBackend>(&config, Some(checkpoint), opts, &Default::default())
}

/// Trains (or resumes) on any autodiff backend and device.
pub fn run<B: AutodiffBackend>(
    config: &TrainConfig,
    checkpoint: Option<Checkpoint>,
    opts: RunOptions<'_>,
    device: &B::Device,
) -> Result<Outcome, NnError> {
    let data = load_data(config)?;
    let shape = data.shape();
    let (c, s) = (config, config.seed);
    match &config.model {
        ModelSpec::Mlp(m) => {
            Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device)?.run(checkpoint, opts)
        }
        ModelSpec::Cnn(m) => {
            Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device)?.run(checkpoint, opts)
        }
        ModelSpec::Gpt(m) => {
            Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device)?.run(checkpoint, opts)
        }
    }
}

/// [`bench`] on the CPU backend.
pub fn bench_cpu(config: &TrainConfig, warmup: u64, steps: u64) -> Result<f64, NnError> {
    bench::<CpuBackend>(config, warmup, steps, &Default::default())
}

/// Milliseconds per training step (forward, backward, update), mean over `steps` steps after
/// `warmup` steps, on any autodiff backend.
pub fn bench<B: AutodiffBackend>(
    config: &TrainConfig,
    warmup: u64,
    steps: u64,
    device: &B::Device,
) -> Result<f64, NnError> {
    let data = load_data(config)?;
    let shape = data.shape();
    let (c, s) = (config, config.seed);
    match &config.model {
        ModelSpec::Mlp(m) => {
            Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device)?.bench(warmup, steps)
        }
        ModelSpec::Cnn(m) => {
            Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device)?.bench(warmup, steps)
        }
        ModelSpec::Gpt(m) => {
            Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device)?.bench(warmup, steps)
        }
    }
}

/// Loads the data of `config` and checks that the model fits it.
fn load_data(config: &TrainConfig) -> Result<TaskData, NnError> {
    config.validate()?;
    let data = config.data.load(config.seed, context(config))?;
    if matches!(config.model, ModelSpec::Gpt(_)) && data.text().is_none() {
        return Err(NnError::config(
            "data.name",
            format!("{:?}", config.data.name).to_lowercase(),
            "shakespeare (text) for a gpt model",
        ));
    }
    Ok(data)
}

fn context(config: &TrainConfig) -> Option<usize> {
    match &config.model {
        ModelSpec::Gpt(g) => Some(g.block_size),
        _ => None,
    }
}

/// The optimizer, bare or wrapped in SAM.
enum Method {
    Plain(Box<dyn Optimizer<f32>>),
    Sam(Sam),
}

impl Method {
    fn optimizer(&mut self) -> &mut dyn Optimizer<f32> {
        match self {
            Method::Plain(o) => o.as_mut(),
            Method::Sam(s) => s.base_mut(),
        }
    }

    /// The label of records and summaries: the configured optimizer name (`"MuonAdamW"`, not
    /// the `"Partition"` it builds), wrapped as `"SAM(...)"` under SAM.
    fn label(&self, configured: &str) -> String {
        match self {
            Method::Plain(_) => configured.to_string(),
            Method::Sam(_) => format!("SAM({configured})"),
        }
    }
}

struct Trainer<'c, B: AutodiffBackend, M> {
    config: &'c TrainConfig,
    model: Option<M>,
    data: TaskData,
    bridge: HostBridge,
    method: Method,
    schedule: Option<Box<dyn Schedule>>,
    device: B::Device,
}

impl<'c, B, M> Trainer<'c, B, M>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Net<B>,
    M::InnerModule: Net<B::InnerBackend>,
{
    fn new(
        config: &'c TrainConfig,
        model: M,
        data: TaskData,
        device: &B::Device,
    ) -> Result<Self, NnError> {
        let optimizer = registry::build::<f32>(&config.optimizer.name, &config.optimizer.hyper)?;
        let method = match &config.sam {
            Some(sam) => Method::Sam(Sam::new(sam, optimizer)?),
            None => Method::Plain(optimizer),
        };
        let schedule = config.schedule.as_ref().map(|s| s.build()).transpose()?;
        Ok(Trainer {
            config,
            bridge: HostBridge::new(&model)?,
            model: Some(model),
            data,
            method,
            schedule,
            device: device.clone(),
        })
    }

    fn model(&self) -> Result<&M, NnError> {
        self.model
            .as_ref()
            .ok_or_else(|| NnError::ParamMismatch("model lost after a failed step".into()))
    }

    /// Training step `k` (0-based): returns the minibatch loss and the gradient norm.
    fn step(&mut self, k: u64) -> Result<(f64, f64), NnError> {
        if let Some(s) = &self.schedule {
            self.method.optimizer().set_lrs(&|base| s.lr(base, k));
        }
        let batch = self.data.train_batch(k);
        let model = self
            .model
            .take()
            .ok_or_else(|| NnError::ParamMismatch("model lost after a failed step".into()))?;
        let loss = cross_entropy(
            model.logits(&batch.inputs, &self.device)?,
            &batch.targets,
            &self.device,
        );
        let value: f64 = loss.clone().into_scalar().elem();
        if !value.is_finite() {
            return Err(NnError::NonFiniteLoss { step: k + 1, value });
        }
        let grads = loss.backward();
        self.bridge.load_grads(&model, &grads)?;
        let clip = self.config.clip_grad_norm;
        let norm = match clip {
            Some(max) => clip_grad_norm::<B, M>(&mut self.bridge, max),
            None => GradBridge::<B, M>::grad_norm(&self.bridge),
        };
        let device = &self.device;
        let (model, _) = match &mut self.method {
            Method::Plain(opt) => self.bridge.step(model, opt.as_mut())?,
            Method::Sam(sam) => sam.step(&mut self.bridge, model, |bridge, m: &M| {
                let loss = cross_entropy(m.logits(&batch.inputs, device)?, &batch.targets, device);
                let grads = loss.backward();
                bridge.load_grads(m, &grads)?;
                if let Some(max) = clip {
                    clip_grad_norm::<B, M>(bridge, max);
                }
                Ok(())
            })?,
        };
        self.model = Some(model);
        Ok((value, norm))
    }

    fn evaluate(&self) -> Result<Eval, NnError> {
        let model = self.model()?.valid();
        let measure = |batches: &[Batch]| -> Result<(f64, f64), NnError> {
            let (mut loss, mut hits, mut n) = (0.0, 0.0, 0usize);
            for b in batches {
                let logits = model.logits(&b.inputs, &self.device)?;
                let rows = b.targets.len();
                let l: f64 = cross_entropy(logits.clone(), &b.targets, &self.device)
                    .into_scalar()
                    .elem();
                let c: f64 = correct(logits, &b.targets, &self.device)
                    .into_scalar()
                    .elem();
                loss += l * rows as f64;
                hits += c;
                n += rows;
            }
            let n = n.max(1) as f64;
            Ok((loss / n, hits / n))
        };
        let (train_loss, train_acc) = measure(self.data.train_eval())?;
        let (val_loss, val_acc) = measure(self.data.validation())?;
        Ok(Eval {
            train_loss,
            train_acc,
            val_loss,
            val_acc,
        })
    }

    fn checkpoint(
        &mut self,
        step: u64,
        clocks: Clocks,
        records: &Records,
    ) -> Result<Checkpoint, NnError> {
        let params = read_params(self.model()?)?
            .into_iter()
            .map(|p| Buffer {
                name: p.name,
                shape: p.shape,
                data: p.data,
            })
            .collect();
        let mut csv = Vec::new();
        records
            .write_csv(&mut csv)
            .map_err(|e| NnError::Parse(format!("records: {e}")))?;
        Ok(Checkpoint {
            config: self.config.clone(),
            step,
            elapsed_s: clocks.wall_s,
            train_time_s: clocks.train_s,
            params,
            optimizer: self.method.optimizer().state(),
            records_csv: String::from_utf8_lossy(&csv).into_owned(),
        })
    }

    fn restore(&mut self, ck: &Checkpoint) -> Result<(), NnError> {
        if ck.config.model != self.config.model
            || ck.config.data != self.config.data
            || ck.config.optimizer != self.config.optimizer
            || ck.config.seed != self.config.seed
        {
            return Err(NnError::ParamMismatch(
                "checkpoint was written for another model, data, optimizer or seed".into(),
            ));
        }
        let params: Vec<Param<f32>> = ck
            .params
            .iter()
            .map(|b| Param::new(b.name.clone(), b.shape.clone(), b.data.clone()))
            .collect::<Result<_, _>>()?;
        let model = self
            .model
            .take()
            .ok_or_else(|| NnError::ParamMismatch("model lost after a failed step".into()))?;
        self.model = Some(write_params(model, &params, None)?);
        self.method.optimizer().load_state(&ck.optimizer)?;
        Ok(())
    }

    fn bench(mut self, warmup: u64, steps: u64) -> Result<f64, NnError> {
        for k in 0..warmup {
            self.step(k)?;
        }
        let t = Instant::now();
        for k in warmup..warmup + steps {
            self.step(k)?;
        }
        Ok(t.elapsed().as_secs_f64() * 1e3 / steps.max(1) as f64)
    }

    fn run(
        mut self,
        checkpoint: Option<Checkpoint>,
        mut opts: RunOptions<'_>,
    ) -> Result<Outcome, NnError> {
        let cfg = self.config;
        let total = opts
            .steps
            .unwrap_or_else(|| cfg.total_steps(self.data.steps_per_epoch()));
        let (mut first, mut before) = (0, Clocks::default());
        let mut records = Records::new(METRICS.iter().map(|m| m.to_string()).collect());
        if let Some(ck) = checkpoint {
            self.restore(&ck)?;
            records = ck.records()?;
            (first, before) = (
                ck.step,
                Clocks {
                    wall_s: ck.elapsed_s,
                    train_s: ck.train_time_s,
                },
            );
        }
        let dir = match &opts.out {
            Some(out) => {
                let d = out.join(&cfg.name);
                std::fs::create_dir_all(&d).map_err(|e| NnError::io(&d, e))?;
                Some(d)
            }
            None => None,
        };
        let method = self.method.label(&cfg.optimizer.name);
        // gradient evaluations per training example (SAM computes two gradients)
        let grads_per_example = if cfg.sam.is_some() { 2 } else { 1 };
        let t0 = Instant::now();
        let mut other_s = 0.0; // evaluations and checkpoints, not training
        let clocks = |other_s: f64| Clocks {
            wall_s: before.wall_s + t0.elapsed().as_secs_f64(),
            train_s: before.train_s + t0.elapsed().as_secs_f64() - other_s,
        };
        let mut losses = Vec::new();
        let mut last_eval = None;
        for k in first..total {
            let (loss, norm) = self.step(k)?;
            losses.push(loss);
            let step = k + 1;
            let time_s = clocks(other_s).train_s;
            let eval = if step % cfg.eval_every == 0 || step == total {
                let t = Instant::now();
                let e = self.evaluate()?;
                other_s += t.elapsed().as_secs_f64();
                Some(e)
            } else {
                None
            };
            if step % cfg.log_every == 0 || eval.is_some() {
                let e = |f: fn(&Eval) -> f64| eval.as_ref().map_or(f64::NAN, f);
                records.rows.push(Record {
                    method: method.clone(),
                    seed: cfg.seed,
                    iteration: step,
                    epoch: self.data.epoch(step),
                    grad_evals: grads_per_example * self.data.samples(step),
                    time_s,
                    lr: self.method.optimizer().lr(),
                    values: vec![
                        loss,
                        norm,
                        e(|e| e.train_loss),
                        e(|e| e.train_acc),
                        e(|e| e.val_loss),
                        e(|e| e.val_acc),
                    ],
                });
            }
            if let Some(f) = opts.progress.as_mut() {
                let served = self.data.samples(step) - self.data.samples(first);
                f(&Progress {
                    step,
                    total,
                    loss,
                    samples_per_s: served as f64 / t0.elapsed().as_secs_f64().max(1e-9),
                    eval,
                });
            }
            if eval.is_some() {
                last_eval = eval;
            }
            if let (Some(every), Some(d)) = (cfg.checkpoint_every, &dir)
                && step % every == 0
                && step < total
            {
                let t = Instant::now();
                self.checkpoint(step, clocks(other_s), &records)?
                    .save(&d.join("checkpoint.json.gz"))?;
                other_s += t.elapsed().as_secs_f64();
            }
        }
        let now = clocks(other_s);
        let final_eval = match last_eval {
            Some(e) => e,
            None => self.evaluate()?,
        };
        let val = |m: &str| {
            let j = METRICS.iter().position(|x| *x == m).unwrap_or(0);
            records
                .rows
                .iter()
                .map(move |r| r.values[j])
                .filter(|v| v.is_finite())
        };
        let best_val_acc = val("val_acc").fold(final_eval.val_acc, f64::max);
        let best_val_loss = val("val_loss").fold(final_eval.val_loss, f64::min);
        let target = match &cfg.target {
            Some(t) => Some(target_report(&records, t)?),
            None => None,
        };
        let model_ref = self.model()?;
        let parameters = read_params(model_ref)?.iter().map(Param::numel).sum();
        let sample = match (&cfg.sample, self.data.text()) {
            (Some(s), Some(text)) => {
                let prompt = text.vocab().encode(&s.prompt)?;
                let mut rng = stream(cfg.seed, Purpose::Sample, 0);
                model_ref
                    .valid()
                    .generate(&prompt, s.length, s.temperature, &mut rng, &self.device)
                    .map(|ids| format!("{}{}", s.prompt, text.vocab().decode(&ids)))
            }
            _ => None,
        };
        let done = total.max(first);
        let summary = Summary {
            name: cfg.name.clone(),
            model: match cfg.model {
                ModelSpec::Mlp(_) => "mlp",
                ModelSpec::Cnn(_) => "cnn",
                ModelSpec::Gpt(_) => "gpt",
            }
            .into(),
            parameters,
            optimizer: method,
            seed: cfg.seed,
            steps: done,
            epochs: self.data.epoch(done),
            final_eval,
            best_val_acc,
            best_val_loss,
            wall_time_s: now.wall_s,
            train_time_s: now.train_s,
            ms_per_step: (now.train_s - before.train_s) * 1e3
                / (total.saturating_sub(first)).max(1) as f64,
            target,
        };
        let checkpoint = self.checkpoint(done, now, &records)?;
        if let Some(d) = &dir {
            write_outputs(d, cfg, &summary, &records)?;
            checkpoint.save(&d.join("checkpoint.json.gz"))?;
            if let Some(s) = &sample {
                let path = d.join("sample.txt");
                std::fs::write(&path, s).map_err(|e| NnError::io(&path, e))?;
            }
        }
        Ok(Outcome {
            records,
            losses,
            summary,
            sample,
            checkpoint,
        })
    }
}

/// Wall time and training time of a run, seconds.
#[derive(Clone, Copy, Debug, Default)]
struct Clocks {
    wall_s: f64,
    train_s: f64,
}

/// The configured target's first hit, on the step, epoch and training-time axes.
fn target_report(
    records: &Records,
    t: &crate::config::TargetConfig,
) -> Result<TargetReport, NnError> {
    let direction = t.direction();
    let first = |axis: XAxis| -> Result<Option<f64>, NnError> {
        let hits = records
            .time_to_target(&t.metric, t.threshold, direction, axis)
            .map_err(|e| NnError::config("target.metric", &t.metric, e.to_string()))?;
        Ok(hits.first().and_then(|h| h.at))
    };
    let step = first(XAxis::Iterations)?;
    Ok(TargetReport {
        metric: t.metric.clone(),
        threshold: t.threshold,
        direction,
        reached: step.is_some(),
        step: step.map(|s| s as u64),
        epoch: first(XAxis::Epochs)?,
        seconds: first(XAxis::Seconds)?,
    })
}

/// `metrics.csv`, `summary.json` and the plots `loss.{png,svg}` (minibatch, training and
/// validation loss; log scale) and `accuracy.{png,svg}` (training and validation accuracy).
fn write_outputs(
    dir: &Path,
    cfg: &TrainConfig,
    summary: &Summary,
    records: &Records,
) -> Result<(), NnError> {
    let path = dir.join("metrics.csv");
    let file = std::fs::File::create(&path).map_err(|e| NnError::io(&path, e))?;
    records
        .write_csv(std::io::BufWriter::new(file))
        .map_err(|e| NnError::Parse(format!("{}: {e}", path.display())))?;
    let json = serde_json::to_string_pretty(summary).map_err(|e| NnError::Parse(e.to_string()))?;
    let path = dir.join("summary.json");
    std::fs::write(&path, json + "\n").map_err(|e| NnError::io(&path, e))?;
    let axis = cfg.plot.x_axis;
    let title = cfg
        .plot
        .title
        .clone()
        .unwrap_or_else(|| format!("{} — {}", cfg.name, summary.optimizer));
    let plots = [
        (
            "loss",
            "cross-entropy (nats)",
            true,
            &[
                ("loss", "minibatch loss"),
                ("train_loss", "training loss"),
                ("val_loss", "validation loss"),
            ][..],
        ),
        (
            "accuracy",
            "accuracy",
            false,
            &[
                ("train_acc", "training accuracy"),
                ("val_acc", "validation accuracy"),
            ][..],
        ),
    ];
    for (file, y_label, log_y, metrics) in plots {
        let bands = plot::metric_bands(records, &summary.optimizer, metrics, axis)
            .map_err(|e| NnError::Parse(format!("plot {file}: {e}")))?;
        if bands.iter().all(|b| b.points.is_empty()) {
            continue;
        }
        let opts = ConvergenceOptions {
            title: title.clone(),
            x_label: axis.label().into(),
            y_label: y_label.into(),
            log_y,
            ..Default::default()
        };
        for ext in ["png", "svg"] {
            let path = dir.join(format!("{file}.{ext}"));
            plot::convergence_plot(&path, &bands, &opts)
                .map_err(|e| NnError::Parse(e.to_string()))?;
        }
    }
    Ok(())
}
