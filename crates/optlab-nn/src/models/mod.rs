//! Models: one file each ([`mlp`], [`cnn`], [`gpt`]), all classifiers of a host
//! [`Batch`](crate::batch::Batch) into logits, so one training loop serves them all.
//!
//! A model is described in configuration files by a [`ModelSpec`] (`kind = "mlp" | "cnn" |
//! "gpt"` plus the model's fields) and built for a data set's
//! [`DataShape`](crate::batch::DataShape).

pub mod cnn;
pub mod fused;
pub mod gpt;
pub mod mlp;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::batch::Inputs;
use crate::error::NnError;

/// A network mapping a batch to logits, one row per target.
pub trait Net<B: Backend>: Module<B> {
    /// Logits `[targets, classes]` for `inputs`.
    fn logits(&self, inputs: &Inputs, device: &B::Device) -> Result<Tensor<B, 2>, NnError>;

    /// The training step (0-based) the next forward passes belong to: models that draw random
    /// numbers in training (dropout) draw them from `(seed, step)`, so a step's randomness does
    /// not depend on threads or on how the run was resumed. The training loop calls it before
    /// each step; the default does nothing.
    fn set_step(&self, _step: u64) {}

    /// Continues `prompt` by `length` tokens sampled at `temperature` from `rng`; `None` for
    /// models that do not generate (classifiers).
    fn generate(
        &self,
        _prompt: &[i64],
        _length: usize,
        _temperature: f64,
        _rng: &mut rand_chacha::ChaCha8Rng,
        _device: &B::Device,
    ) -> Option<Vec<i64>> {
        None
    }
}

/// Activation functions for MLPs and CNNs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, x) (default).
    #[default]
    Relu,
    /// x·Φ(x) (exact, erf form).
    Gelu,
    /// tanh x.
    Tanh,
    /// 1/(1 + e^(−x)) (AlgoPerf's MNIST MLP).
    Sigmoid,
}

impl Activation {
    /// Applies the activation.
    pub fn apply<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Relu => burn::tensor::activation::relu(x),
            Activation::Gelu => fused::gelu(x, fused::Approximate::None),
            Activation::Tanh => burn::tensor::activation::tanh(x),
            Activation::Sigmoid => burn::tensor::activation::sigmoid(x),
        }
    }
}

/// A model configuration (`[model]` table with `kind`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSpec {
    /// Multilayer perceptron.
    Mlp(mlp::MlpConfig),
    /// LeNet-like convolutional network.
    Cnn(cnn::CnnConfig),
    /// Decoder-only character-level transformer.
    Gpt(gpt::GptConfig),
}

impl ModelSpec {
    /// Model kind names, for error messages.
    pub const KINDS: &'static str = "mlp, cnn, gpt";

    /// Checks the fields that do not depend on the data.
    pub fn validate(&self) -> Result<(), NnError> {
        match self {
            ModelSpec::Mlp(c) => c.validate(),
            ModelSpec::Cnn(c) => c.validate(),
            ModelSpec::Gpt(c) => c.validate(),
        }
    }
}

/// Tensor of host inputs (`[rows, dim]` floats).
pub fn dense_tensor<B: Backend>(
    values: &[f32],
    rows: usize,
    dim: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [rows, dim]), device)
}

/// Tensor of class or token ids.
pub fn int_tensor<B: Backend, const D: usize>(
    ids: &[i64],
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), shape), device)
}

/// Mean cross-entropy of `logits` `[n, classes]` against `targets` (length n), as a 1-element
/// tensor: `−(1/n) Σᵢ log softmax(logitsᵢ)[targetᵢ]` (one fused operation,
/// [`fused::cross_entropy`]).
pub fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: &[i64],
    device: &B::Device,
) -> Tensor<B, 1> {
    fused::cross_entropy(logits, targets, device)
}

/// [`cross_entropy`] against label-smoothed targets (1 − ε)·onehot + ε/K (PyTorch's
/// `label_smoothing = ε`, in [0, 1]; [`fused::cross_entropy_smoothed`]).
pub fn cross_entropy_smoothed<B: Backend>(
    logits: Tensor<B, 2>,
    targets: &[i64],
    label_smoothing: f64,
    device: &B::Device,
) -> Tensor<B, 1> {
    fused::cross_entropy_smoothed(logits, targets, label_smoothing, device)
}

/// Number of rows of `logits` whose arg-max equals the target.
pub fn correct<B: Backend>(
    logits: Tensor<B, 2>,
    targets: &[i64],
    device: &B::Device,
) -> Tensor<B, 1, Int> {
    let t = int_tensor::<B, 2>(targets, [targets.len(), 1], device);
    logits.argmax(1).equal(t).int().sum()
}

/// The input error for a model that got the wrong kind of batch.
pub(crate) fn wrong_input(model: &str, expected: &str) -> NnError {
    NnError::WrongInput {
        model: model.to_string(),
        expected: expected.to_string(),
    }
}
