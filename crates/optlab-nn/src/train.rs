//! The training loop: data → model → loss → gradients → bridge → optimizer (+ schedule and the
//! wrappers: clipping, SAM, averaging, line search) → records, with periodic evaluation,
//! checkpoints and bit-identical resume.
//!
//! Records go through the lab's shared path: an [`optlab::record::Records`] table with the fixed
//! columns (`method, seed, iteration, epoch, grad_evals, time_s, lr`) and the declared metric
//! columns of [`metrics`](crate::metrics), written with the lab's one run-directory writer
//! ([`RunDir`]: `metrics.csv`, `summary.json`, `loss.png`/`.svg`, `accuracy.png`/`.svg`);
//! time to target through the shared [`Target`]. `time_s` is the training time (steps, not
//! evaluations or checkpoints), as in the lab's runs; `grad_evals` counts the training examples
//! (sequences) evaluated: once per step, twice under SAM, once more per trial of a line search.
//!
//! A method that evaluates the loss again during its step
//! ([`requires_closure`](optlab::Optimizer::requires_closure): SAM, the line search) steps
//! through [`GradBridge::step_with_closure`] on the step's batch. Evaluations use the
//! optimizer's [`eval_params`](optlab::Optimizer::eval_params) (the average of the iterates
//! under `averaging`). An [`Observer`] sees each record as it is logged and may stop the run;
//! `[target] stop = true` stops it at the first evaluation reaching the target.
//!
//! The batch of step k depends only on `(seed, k)`, the model's values, the optimizer's state and
//! the schedule's `k` are all in a [`Checkpoint`], so a run resumed at step k continues with the
//! same losses as the uninterrupted run.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::ElementConversion;
use burn::tensor::backend::AutodiffBackend;
use optlab::dist::{Communicator, ShardCost, Sharded, state_bytes_per_rank};
use optlab::experiment::{Control, MethodOptimizer, Observer, RunDir, TargetReport, log_schedule};
use optlab::optim::{Buffer, Eval as Ask};
use optlab::plot::ConvergenceOptions;
use optlab::record::{Record, Records, XAxis};
use optlab::schedule::Schedule;
use optlab::{Optimizer, Param};
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::bridge::{GradBridge, HostBridge, read_params, write_params};
use crate::checkpoint::{self, stall_point};
use crate::config::{DEFAULT_LOG_EVERY, TrainConfig};
use crate::data::TaskData;
use crate::distributed::{Reducer, shard_rows, single_process};
use crate::error::NnError;
use crate::metrics::{self, Columns};
use crate::models::{ModelSpec, Net, correct, cross_entropy, cross_entropy_smoothed};
use crate::rng::{Purpose, stream};

pub use crate::checkpoint::Checkpoint;
pub use crate::metrics::METRICS;

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
    /// The run directory: outputs go into it (metrics.csv, summary.json, loss.png/.svg,
    /// accuracy.png/.svg, config.json, checkpoints/step-N/, sample.txt; see
    /// [`checkpoint`](crate::checkpoint)); `None` writes nothing. `optlab train`
    /// passes `--out D`, default `runs/<name>` — the same meaning as for `optlab run`.
    pub out: Option<PathBuf>,
    /// Called after every step.
    pub progress: Option<ProgressFn<'a>>,
    /// Sees every record as it is logged; may stop the run.
    pub observer: Option<&'a dyn Observer>,
    /// Keep the parameters every N steps (at the first step of the call, every multiple of N
    /// and at the end) in [`Outcome::snapshots`]: the training trajectory θ_k (default none).
    pub snapshot_every: Option<u64>,
    /// The ranks of a data-parallel run ([`crate::distributed`]; default: one process). Every
    /// rank calls [`run`] with the same configuration; each computes the gradients of its part
    /// of every global batch, and only rank 0 writes into `out`.
    pub comm: Option<Arc<dyn Communicator>>,
}

/// The parameters after `step` steps (row-major values, PyTorch shapes, module order, as
/// [`read_params`] gives them).
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Steps completed.
    pub step: u64,
    /// The parameters.
    pub params: Vec<Param<f32>>,
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
    /// Optimizer name as configured (`"SAM(...)"` under SAM).
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
    /// Processes of the data-parallel run (1: one process; see docs/distributed.md).
    #[serde(default = "one")]
    pub world_size: usize,
    /// Bytes of optimizer state held by each rank at the end (the values of its state buffers,
    /// 4 bytes each): the same on every rank unless `shard_optimizer_state` splits it.
    #[serde(default)]
    pub optimizer_state_bytes_per_rank: Vec<u64>,
}

fn one() -> usize {
    1
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
    /// The parameters every [`RunOptions::snapshot_every`] steps (empty without it).
    pub snapshots: Vec<Snapshot>,
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
    let (c, s) = (config, config.common.seed);
    let comm = opts.comm.clone().unwrap_or_else(single_process);
    let k = comm.clone();
    match &config.model {
        ModelSpec::Mlp(m) => Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device, k)?
            .run(checkpoint, opts),
        ModelSpec::Cnn(m) => Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device, k)?
            .run(checkpoint, opts),
        ModelSpec::Gpt(m) => Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device, k)?
            .run(checkpoint, opts),
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
    let (c, s) = (config, config.common.seed);
    let k = single_process();
    match &config.model {
        ModelSpec::Mlp(m) => {
            Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device, k)?.bench(warmup, steps)
        }
        ModelSpec::Cnn(m) => {
            Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device, k)?.bench(warmup, steps)
        }
        ModelSpec::Gpt(m) => {
            Trainer::new(c, m.build::<B>(&shape, s, device)?, data, device, k)?.bench(warmup, steps)
        }
    }
}

/// Loads the data of `config` and checks that the model fits it.
pub(crate) fn load_data(config: &TrainConfig) -> Result<TaskData, NnError> {
    config.validate()?;
    let data = config.data.load(config.common.seed, context(config))?;
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

pub(crate) struct Trainer<'c, B: AutodiffBackend, M> {
    config: &'c TrainConfig,
    model: Option<M>,
    data: TaskData,
    bridge: HostBridge,
    /// The optimizer inside its wrappers.
    optimizer: Box<dyn Optimizer<f32>>,
    /// The label of records and summaries.
    label: String,
    schedule: Option<Box<dyn Schedule>>,
    /// Examples evaluated so far (`grad_evals`).
    evals: u64,
    device: B::Device,
    /// The ranks of a data-parallel run and the gradient reduction (one process by default).
    reducer: Reducer,
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
        comm: Arc<dyn Communicator>,
    ) -> Result<Self, NnError> {
        let typed = MethodOptimizer::parse(
            &config.optimizer.name,
            &config.optimizer.hyper,
            &config.wrappers,
        )?;
        let schedule = config.schedule.as_ref().map(|s| s.build()).transpose()?;
        let optimizer = if config.shard_optimizer_state {
            // ZeRO-1: the base optimizer sharded, inside the wrappers (clipping sees every
            // gradient, averaging every parameter)
            let cost = ShardCost::for_optimizer(&config.optimizer.name);
            let base = typed.config.build::<f32>()?;
            typed
                .wrappers
                .wrap(Box::new(Sharded::new(base, comm.clone(), cost)))?
        } else {
            typed.build::<f32>()?
        };
        if comm.size() > 1 && optimizer.requires_closure() {
            return Err(NnError::config(
                "optimizer",
                typed.label(),
                format!(
                    "a method that does not evaluate the loss again inside its step (not SAM, \
                     a line search or L-BFGS) to train on {} ranks",
                    comm.size()
                ),
            ));
        }
        let mut trainer = Self::with_optimizer(
            config,
            model,
            data,
            device,
            optimizer,
            typed.label(),
            schedule,
        )?;
        trainer.reducer = Reducer::new(comm);
        Ok(trainer)
    }

    /// A trainer whose optimizer and schedule are built by the caller (AlgoPerf submissions);
    /// the config's `[optimizer]`, `[schedule]` and wrappers are not used.
    pub(crate) fn with_optimizer(
        config: &'c TrainConfig,
        model: M,
        data: TaskData,
        device: &B::Device,
        optimizer: Box<dyn Optimizer<f32>>,
        label: String,
        schedule: Option<Box<dyn Schedule>>,
    ) -> Result<Self, NnError> {
        Ok(Trainer {
            config,
            bridge: HostBridge::new(&model)?,
            model: Some(model),
            data,
            optimizer,
            label,
            schedule,
            evals: 0,
            device: device.clone(),
            reducer: Reducer::new(single_process()),
        })
    }

    /// Examples in the validation batches (AlgoPerf's `validation/num_examples`).
    pub(crate) fn validation_examples(&self) -> usize {
        self.data.validation().iter().map(|b| b.rows()).sum()
    }

    pub(crate) fn model(&self) -> Result<&M, NnError> {
        self.model
            .as_ref()
            .ok_or_else(|| NnError::ParamMismatch("model lost after a failed step".into()))
    }

    /// Training step `k` (0-based): returns the minibatch loss and the gradient norm (before
    /// clipping).
    pub(crate) fn step(&mut self, k: u64) -> Result<(f64, f64), NnError> {
        if let Some(s) = &self.schedule {
            self.optimizer.set_lrs(&|base| s.lr(base, k));
        }
        let batch = self.data.train_batch(k);
        let distributed = self.reducer.is_distributed();
        // this rank's rows of the global batch
        let local = if distributed {
            let c = self.reducer.comm();
            Cow::Owned(shard_rows(&batch, c.rank(), c.size())?)
        } else {
            Cow::Borrowed(&batch)
        };
        let model = self
            .model
            .take()
            .ok_or_else(|| NnError::ParamMismatch("model lost after a failed step".into()))?;
        model.set_step(k);
        let smoothing = self.config.label_smoothing;
        let loss = cross_entropy_smoothed(
            model.logits(&local.inputs, &self.device)?,
            &local.targets,
            smoothing,
            &self.device,
        );
        let mut value: f64 = loss.clone().into_scalar().elem();
        // one rank stopping alone would leave the others waiting in the reduction: with several
        // ranks, the loss is checked once reduced (a non-finite part makes the sum non-finite)
        if !distributed && !value.is_finite() {
            return Err(NnError::NonFiniteLoss { step: k + 1, value });
        }
        let grads = loss.backward();
        self.bridge.load_grads(&model, &grads)?;
        if distributed {
            value = self
                .reducer
                .reduce(&mut self.bridge, value, local.rows(), batch.rows())?;
            if !value.is_finite() {
                return Err(NnError::NonFiniteLoss { step: k + 1, value });
            }
        }
        drop(local);
        let norm = GradBridge::<B, M>::grad_norm(&self.bridge);
        let rows = batch.rows() as u64;
        self.evals += rows;
        let model = if self.optimizer.requires_closure() {
            // Later evaluations of the step (SAM's second gradient, line-search trials) on the
            // same batch; the first is the forward/backward pass above.
            let device = &self.device;
            let mut extra = 0u64;
            let mut eval = |m: &M, ask: Ask| -> Result<(f64, Option<B::Gradients>), NnError> {
                extra += rows;
                let logits = m.logits(&batch.inputs, device)?;
                let loss = cross_entropy_smoothed(logits, &batch.targets, smoothing, device);
                let v: f64 = loss.clone().into_scalar().elem();
                Ok((v, (ask == Ask::ValueAndGrad).then(|| loss.backward())))
            };
            let (model, _) =
                self.bridge
                    .step_with_closure(model, self.optimizer.as_mut(), value, &mut eval)?;
            self.evals += extra;
            model
        } else {
            self.bridge.step(model, self.optimizer.as_mut())?.0
        };
        self.model = Some(model);
        Ok((value, norm))
    }

    /// Loss and accuracy at the optimizer's evaluation parameters
    /// ([`eval_params`](Optimizer::eval_params)).
    pub(crate) fn evaluate(&self) -> Result<Eval, NnError> {
        let current = self.model()?;
        let params = read_params(current)?;
        let mut at = params.clone();
        let averaged = if self.optimizer.eval_params(&params, &mut at)? {
            Some(write_params(current.clone(), &at, None)?)
        } else {
            None
        };
        let model = averaged.as_ref().unwrap_or(current).valid();
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
        let current = read_params(self.model()?)?;
        let mut at = current.clone();
        let averaged = if self.optimizer.eval_params(&current, &mut at)? {
            at.into_iter().map(buffer).collect()
        } else {
            Vec::new()
        };
        let params = current.into_iter().map(buffer).collect();
        let mut csv = Vec::new();
        records
            .write_csv(&mut csv)
            .map_err(|e| NnError::Records(e.to_string()))?;
        Ok(Checkpoint {
            config: self.config.clone(),
            step,
            elapsed_s: clocks.wall_s,
            train_time_s: clocks.train_s,
            evals: Some(self.evals),
            params,
            averaged,
            optimizer: self.optimizer.state(),
            schedule: self
                .schedule
                .as_ref()
                .filter(|s| s.is_metric_driven())
                .map(|s| s.state()),
            records_csv: String::from_utf8_lossy(&csv).into_owned(),
        })
    }

    fn restore(&mut self, ck: &Checkpoint) -> Result<(), NnError> {
        if ck.config.model != self.config.model
            || ck.config.data != self.config.data
            || ck.config.optimizer != self.config.optimizer
            || ck.config.wrappers != self.config.wrappers
            || ck.config.common.seed != self.config.common.seed
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
        self.optimizer.load_state(&ck.optimizer)?;
        if let (Some(s), Some(state)) = (self.schedule.as_mut(), &ck.schedule) {
            s.load_state(state)?;
        }
        self.evals = ck.evals.unwrap_or_else(|| {
            self.config.wrappers.gradients_per_step() * self.data.samples(ck.step)
        });
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
        let schema = metrics::schema();
        let cols = Columns::of(&schema).map_err(|e| NnError::Records(e.to_string()))?;
        let target = cfg.target()?;
        let log_every = match (cfg.common.log_every, cfg.common.log_points) {
            (None, None) => Some(DEFAULT_LOG_EVERY),
            (every, _) => every,
        };
        let log_at = log_schedule(total, log_every, cfg.common.log_points);
        let (mut first, mut before) = (0, Clocks::default());
        let mut records = Records::new(schema.clone());
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
        let root = self.reducer.comm().is_root();
        let world_size = self.reducer.comm().size();
        // only rank 0 writes; every rank takes the checkpoints (a sharded state is gathered)
        let mut dir = opts
            .out
            .as_ref()
            .filter(|_| root)
            .map(RunDir::create)
            .transpose()?;
        let checkpoints = opts.out.is_some();
        if let Some(d) = &dir {
            // what `optlab train --resume RUN_DIR` starts from when no checkpoint completed
            checkpoint::save_config(d.path(), cfg)?;
        }
        let method = self.label.clone();
        let t0 = Instant::now();
        let mut other_s = 0.0; // evaluations and checkpoints, not training
        let clocks = |other_s: f64| Clocks {
            wall_s: before.wall_s + t0.elapsed().as_secs_f64(),
            train_s: before.train_s + t0.elapsed().as_secs_f64() - other_s,
        };
        let mut losses = Vec::new();
        let mut last_eval = None;
        let mut done = first;
        let mut snapshots = Vec::new();
        let snapshot_every = opts.snapshot_every.filter(|&n| n > 0);
        if snapshot_every.is_some() {
            snapshots.push(Snapshot {
                step: first,
                params: read_params(self.model()?)?,
            });
        }
        for k in first..total {
            let (loss, norm) = self.step(k)?;
            losses.push(loss);
            let step = k + 1;
            done = step;
            if snapshot_every.is_some_and(|n| step % n == 0 || step == total) {
                snapshots.push(Snapshot {
                    step,
                    params: read_params(self.model()?)?,
                });
            }
            stall_point("step", step);
            let time_s = clocks(other_s).train_s;
            let eval = if step % cfg.eval_every == 0 || step == total {
                let t = Instant::now();
                let e = self.evaluate()?;
                other_s += t.elapsed().as_secs_f64();
                if let Some(s) = self.schedule.as_mut().filter(|s| s.is_metric_driven()) {
                    // ReduceLROnPlateau: scheduler.step(val_loss) after each evaluation; the
                    // next steps use its new lr
                    s.observe(step, e.val_loss);
                }
                Some(e)
            } else {
                None
            };
            let mut stop = false;
            if log_at.binary_search(&step).is_ok() || eval.is_some() {
                let mut rec = Record {
                    method: method.clone(),
                    seed: cfg.common.seed,
                    iteration: step,
                    epoch: self.data.epoch(step),
                    grad_evals: self.evals,
                    time_s,
                    lr: self.optimizer.lr(),
                    values: schema.empty_values(),
                };
                rec.set(cols.loss, loss);
                rec.set(cols.grad_norm, norm);
                if let Some(e) = &eval {
                    rec.set(cols.train_loss, e.train_loss);
                    rec.set(cols.train_acc, e.train_acc);
                    rec.set(cols.val_loss, e.val_loss);
                    rec.set(cols.val_acc, e.val_acc);
                }
                stop = opts
                    .observer
                    .is_some_and(|o| o.record(&rec) == Control::Stop)
                    || target.as_ref().is_some_and(|t| t.stop && t.reached(&rec));
                records.rows.push(rec);
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
            if let Some(e) = eval {
                last_eval = Some((step, e));
            }
            if stop {
                break;
            }
            if let Some(every) = cfg.checkpoint_every
                && checkpoints
                && step % every == 0
                && step < total
            {
                let t = Instant::now();
                let ck = self.checkpoint(step, clocks(other_s), &records)?;
                if let Some(d) = &dir {
                    checkpoint::save_in_run(d.path(), &ck)?;
                }
                other_s += t.elapsed().as_secs_f64();
            }
        }
        if snapshot_every.is_some() && snapshots.last().is_some_and(|s: &Snapshot| s.step != done) {
            // stopped early (observer or target): the trajectory ends where the run did
            snapshots.push(Snapshot {
                step: done,
                params: read_params(self.model()?)?,
            });
        }
        let now = clocks(other_s);
        let final_eval = match last_eval {
            Some((step, e)) if step == done => e,
            _ => self.evaluate()?,
        };
        let val = |c| {
            records
                .rows
                .iter()
                .map(move |r: &Record| r.get(c))
                .filter(|v| v.is_finite())
        };
        let best_val_acc = val(cols.val_acc).fold(final_eval.val_acc, f64::max);
        let best_val_loss = val(cols.val_loss).fold(final_eval.val_loss, f64::min);
        let model_ref = self.model()?;
        let parameters = read_params(model_ref)?.iter().map(Param::numel).sum();
        let sample = match (&cfg.sample, self.data.text()) {
            (Some(s), Some(text)) => {
                let prompt = text.vocab().encode(&s.prompt)?;
                let mut rng = stream(cfg.common.seed, Purpose::Sample, 0);
                model_ref
                    .valid()
                    .generate(&prompt, s.length, s.temperature, &mut rng, &self.device)
                    .map(|ids| format!("{}{}", s.prompt, text.vocab().decode(&ids)))
            }
            _ => None,
        };
        let checkpoint = self.checkpoint(done, now, &records)?;
        let summary = Summary {
            name: cfg.common.name.clone(),
            model: match cfg.model {
                ModelSpec::Mlp(_) => "mlp",
                ModelSpec::Cnn(_) => "cnn",
                ModelSpec::Gpt(_) => "gpt",
            }
            .into(),
            parameters,
            optimizer: method,
            seed: cfg.common.seed,
            steps: done,
            epochs: self.data.epoch(done),
            final_eval,
            best_val_acc,
            best_val_loss,
            wall_time_s: now.wall_s,
            train_time_s: now.train_s,
            ms_per_step: (now.train_s - before.train_s) * 1e3
                / (done.saturating_sub(first)).max(1) as f64,
            target: target.as_ref().map(|t| t.report(&records.rows)),
            world_size,
            optimizer_state_bytes_per_rank: state_bytes_per_rank(
                &checkpoint.optimizer,
                world_size,
                size_of::<f32>(),
            ),
        };
        if let Some(d) = &mut dir {
            write_outputs(d, cfg, &summary, &records)?;
            checkpoint::save_in_run(d.path(), &checkpoint)?;
            if let Some(s) = &sample {
                d.text("sample.txt", s)?;
            }
        }
        Ok(Outcome {
            records,
            losses,
            summary,
            sample,
            checkpoint,
            snapshots,
        })
    }
}

/// Wall time and training time of a run, seconds.
#[derive(Clone, Copy, Debug, Default)]
struct Clocks {
    wall_s: f64,
    train_s: f64,
}

/// `metrics.csv`, `summary.json`, the plots `loss.{png,svg}` (minibatch, training and validation
/// loss; log scale) and `accuracy.{png,svg}` (training and validation accuracy), and with
/// `[plot] metric` its `convergence.{png,svg}`, through the lab's run-directory writer.
fn write_outputs(
    dir: &mut RunDir,
    cfg: &TrainConfig,
    summary: &Summary,
    records: &Records,
) -> Result<(), NnError> {
    dir.records(records)?;
    dir.summary(summary)?;
    let axis = cfg.common.plot.x_axis.unwrap_or(XAxis::Iterations);
    let title = cfg
        .common
        .plot
        .title
        .clone()
        .unwrap_or_else(|| format!("{} — {}", cfg.common.name, summary.optimizer));
    let mut plots = vec![
        (
            "loss",
            "cross-entropy (nats)".to_string(),
            true,
            vec!["loss", "train_loss", "val_loss"],
        ),
        (
            "accuracy",
            "accuracy".to_string(),
            false,
            vec!["train_acc", "val_acc"],
        ),
    ];
    if let Some(m) = &cfg.common.plot.metric {
        let c = records
            .column(m)
            .map_err(|e| NnError::config("plot.metric", m, format!("a metric column: {e}")))?;
        let label = records.schema.metric(c).label.clone();
        plots.push(("convergence", label, false, vec![m.as_str()]));
    }
    for (file, y_label, log_y, metrics) in plots {
        let bands = optlab::plot::metric_bands(records, &summary.optimizer, &metrics, axis)
            .map_err(|e| NnError::Plot {
                path: dir.file(&format!("{file}.png")),
                message: e.to_string(),
            })?;
        let opts = ConvergenceOptions {
            title: title.clone(),
            x_label: axis.label().into(),
            y_label,
            log_y,
            ..Default::default()
        };
        dir.curves(file, &bands, &opts)?;
    }
    Ok(())
}

fn buffer(p: Param<f32>) -> Buffer<f32> {
    Buffer {
        name: p.name,
        shape: p.shape,
        data: p.data,
    }
}
