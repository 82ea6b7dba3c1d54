//! The training loop: data → model → loss → gradients → bridge → optimizer (+ schedule, clipping,
//! SAM) → records, with periodic evaluation, checkpoints and bit-identical resume.
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
use optlab::schedule::Schedule;
use optlab::{Optimizer, Param};
use serde::{Deserialize, Serialize};

use crate::bridge::{GradBridge, HostBridge, read_params, write_params};
use crate::clip::clip_grad_norm;
use crate::config::TrainConfig;
use crate::data::TaskData;
use crate::error::NnError;
use crate::models::{Batch, ModelSpec, Net, correct, cross_entropy};
use crate::records::{self, Record};
use crate::rng::{Purpose, stream};
use crate::sam::Sam;

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
    /// Write outputs to `<out>/<name>/` (metrics.csv, summary.json, loss.svg, checkpoint,
    /// sample.txt); `None` writes nothing.
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
    /// Mean wall time per step, milliseconds.
    pub ms_per_step: f64,
}

/// Result of a run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Records (one per logged or evaluated step).
    pub records: Vec<Record>,
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
    /// Training wall time so far, seconds.
    pub elapsed_s: f64,
    /// Model parameters (name, shape, values) in module order.
    pub params: Vec<Buffer<f32>>,
    /// Optimizer state (the base optimizer's under SAM).
    pub optimizer: OptimizerState<f32>,
    /// Records so far.
    pub records: Vec<Record>,
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

    fn name(&mut self) -> String {
        match self {
            Method::Plain(o) => o.name().to_string(),
            Method::Sam(s) => format!("SAM({})", s.base().name()),
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
        elapsed_s: f64,
        records: &[Record],
    ) -> Result<Checkpoint, NnError> {
        let params = read_params(self.model()?)?
            .into_iter()
            .map(|p| Buffer {
                name: p.name,
                shape: p.shape,
                data: p.data,
            })
            .collect();
        Ok(Checkpoint {
            config: self.config.clone(),
            step,
            elapsed_s,
            params,
            optimizer: self.method.optimizer().state(),
            records: records.to_vec(),
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
        let (mut first, mut elapsed0, mut records) = (0, 0.0, Vec::new());
        if let Some(ck) = checkpoint {
            self.restore(&ck)?;
            (first, elapsed0, records) = (ck.step, ck.elapsed_s, ck.records);
        }
        let dir = match &opts.out {
            Some(out) => {
                let d = out.join(&cfg.name);
                std::fs::create_dir_all(&d).map_err(|e| NnError::io(&d, e))?;
                Some(d)
            }
            None => None,
        };
        let method = self.method.name();
        let t0 = Instant::now();
        let mut losses = Vec::new();
        let mut last_eval = None;
        for k in first..total {
            let (loss, norm) = self.step(k)?;
            losses.push(loss);
            let step = k + 1;
            let eval = if step % cfg.eval_every == 0 || step == total {
                Some(self.evaluate()?)
            } else {
                None
            };
            let time_s = elapsed0 + t0.elapsed().as_secs_f64();
            if step % cfg.log_every == 0 || eval.is_some() {
                let e = eval.as_ref();
                records.push(Record {
                    method: method.clone(),
                    seed: cfg.seed,
                    iteration: step,
                    epoch: self.data.epoch(step),
                    samples: self.data.samples(step),
                    time_s,
                    lr: self.method.optimizer().lr(),
                    metrics: [
                        Some(loss),
                        Some(norm),
                        e.map(|e| e.train_loss),
                        e.map(|e| e.train_acc),
                        e.map(|e| e.val_loss),
                        e.map(|e| e.val_acc),
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
                self.checkpoint(step, time_s, &records)?
                    .save(&d.join("checkpoint.json.gz"))?;
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let final_eval = match last_eval {
            Some(e) => e,
            None => self.evaluate()?,
        };
        let evals: Vec<(f64, f64)> = records
            .iter()
            .filter_map(|r| Some((r.metrics[4]?, r.metrics[5]?)))
            .collect();
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
            steps: total.max(first),
            epochs: self.data.epoch(total.max(first)),
            final_eval,
            best_val_acc: evals.iter().map(|e| e.1).fold(final_eval.val_acc, f64::max),
            best_val_loss: evals
                .iter()
                .map(|e| e.0)
                .fold(final_eval.val_loss, f64::min),
            wall_time_s: elapsed0 + wall,
            ms_per_step: wall * 1e3 / (total.saturating_sub(first)).max(1) as f64,
        };
        let checkpoint = self.checkpoint(total.max(first), elapsed0 + wall, &records)?;
        if let Some(d) = &dir {
            records::write_csv(&d.join("metrics.csv"), &records)?;
            records::plot_losses(
                &d.join("loss.svg"),
                &format!("{} — {}", cfg.name, summary.optimizer),
                &records,
            )?;
            let json = serde_json::to_string_pretty(&summary)
                .map_err(|e| NnError::Parse(e.to_string()))?;
            let path = d.join("summary.json");
            std::fs::write(&path, json + "\n").map_err(|e| NnError::io(&path, e))?;
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
