//! A training run driven one step at a time from outside the training loop: the model, data and
//! batches of a [`TrainConfig`], with an optimizer and schedule built by the caller. This is what
//! an AlgoPerf trial ([`crate::algoperf`]) trains: the submission owns the optimizer, the workload
//! owns model and data, and the benchmark owns the loop and its clocks.

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use optlab::Optimizer;
use optlab::schedule::Schedule;

use crate::config::TrainConfig;
use crate::data::TaskData;
use crate::error::NnError;
use crate::models::{ModelSpec, Net};
use crate::train::{CpuBackend, Eval, Trainer, load_data};

/// What a [`Session`] needs of a trainer, whatever its model type.
trait Steps {
    fn step(&mut self, k: u64) -> Result<f64, NnError>;
    fn evaluate(&self) -> Result<Eval, NnError>;
    fn validation_examples(&self) -> usize;
}

impl<B, M> Steps for Trainer<'_, B, M>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Net<B>,
    M::InnerModule: Net<B::InnerBackend>,
{
    fn step(&mut self, k: u64) -> Result<f64, NnError> {
        Trainer::step(self, k).map(|(loss, _)| loss)
    }

    fn evaluate(&self) -> Result<Eval, NnError> {
        Trainer::evaluate(self)
    }

    fn validation_examples(&self) -> usize {
        Trainer::validation_examples(self)
    }
}

/// What a trainer is made of besides its model.
type Parts<'c> = (
    &'c TrainConfig,
    TaskData,
    Box<dyn Optimizer<f32>>,
    String,
    Option<Box<dyn Schedule>>,
);

/// A CPU trainer of `model` as a [`Steps`] object.
fn boxed<'c, M>(model: M, parts: Parts<'c>) -> Result<Box<dyn Steps + 'c>, NnError>
where
    M: AutodiffModule<CpuBackend> + Net<CpuBackend> + 'c,
    M::InnerModule: Net<<CpuBackend as AutodiffBackend>::InnerBackend>,
{
    let (config, data, optimizer, label, schedule) = parts;
    let device = Default::default();
    Ok(Box::new(Trainer::<CpuBackend, M>::with_optimizer(
        config, model, data, &device, optimizer, label, schedule,
    )?))
}

/// A training run on the CPU backend advanced by [`step`](Session::step).
pub struct Session<'c> {
    inner: Box<dyn Steps + 'c>,
    k: u64,
}

impl<'c> Session<'c> {
    /// The model (initialized with `config.seed`), data and batch order of `config`, trained by
    /// `optimizer` with the learning rates of `schedule` (`None`: the optimizer's own). The
    /// config's `[optimizer]`, `[schedule]` and wrappers are not used; `label` names the method.
    ///
    /// # Errors
    /// An invalid config, data that cannot be loaded, a model that does not fit the data.
    pub fn new(
        config: &'c TrainConfig,
        optimizer: Box<dyn Optimizer<f32>>,
        label: String,
        schedule: Option<Box<dyn Schedule>>,
    ) -> Result<Session<'c>, NnError> {
        let data = load_data(config)?;
        let shape = data.shape();
        let (s, device) = (config.common.seed, Default::default());
        let parts = (config, data, optimizer, label, schedule);
        let inner = match &config.model {
            ModelSpec::Mlp(m) => boxed(m.build::<CpuBackend>(&shape, s, &device)?, parts)?,
            ModelSpec::Cnn(m) => boxed(m.build::<CpuBackend>(&shape, s, &device)?, parts)?,
            ModelSpec::Gpt(m) => boxed(m.build::<CpuBackend>(&shape, s, &device)?, parts)?,
        };
        Ok(Session { inner, k: 0 })
    }

    /// One optimizer step on the next training batch; returns the batch's loss (before the step).
    ///
    /// # Errors
    /// A non-finite loss (with its step), an optimizer error.
    pub fn step(&mut self) -> Result<f64, NnError> {
        let loss = self.inner.step(self.k)?;
        self.k += 1;
        Ok(loss)
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.k
    }

    /// Loss and accuracy on the training-evaluation and validation batches, at the optimizer's
    /// evaluation parameters (averaged / schedule-free iterates where it has them).
    pub fn evaluate(&self) -> Result<Eval, NnError> {
        self.inner.evaluate()
    }

    /// Examples in the validation batches.
    pub fn validation_examples(&self) -> usize {
        self.inner.validation_examples()
    }
}
