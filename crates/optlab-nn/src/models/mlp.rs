//! Multilayer perceptron: `depth` hidden layers of `width` units, optionally with dropout and
//! residual connections.
//!
//! ```text
//! h₀ = x,   h_l = D_l ⊙ σ(h_{l−1} W_l + b_l)            (l = 1..depth),
//!           h_l = h_{l−1} + D_l ⊙ σ(h_{l−1} W_l + b_l)   (residual, l = 2..depth),
//! logits = h_depth W_out + b_out
//! ```
//!
//! D_l is inverted dropout (Srivastava et al. 2014; PyTorch `nn.Dropout(p)`): in training, each
//! unit is kept with probability 1 − p and scaled by 1/(1 − p); in evaluation D_l = 1. Training
//! means the autodiff backend (burn's convention: a model's `valid()` copy on the inner backend
//! evaluates). The masks of training step k are drawn from
//! [`rng::stream`](crate::rng::stream)`(seed, Dropout, k)` — the step is set by the training loop
//! through [`Net::set_step`] — so they do not depend on threads, and a resumed run draws the
//! same masks; the steps' evaluations within one step (SAM's second gradient) share them.
//!
//! Parameters (as the bridge presents them, PyTorch layouts): `layers.{l}.weight` `[d_out, d_in]`
//! and `layers.{l}.bias`; the last layer is the
//! output head.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Activation, Net, dense_tensor, wrong_input};
use crate::batch::{DataShape, Inputs};
use crate::error::NnError;
use crate::init::{InitScheme, initialize};
use crate::rng::{Purpose, stream};

/// MLP configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    /// Number of hidden layers (default 2).
    pub depth: usize,
    /// Units per hidden layer ≥ 1 (default 512).
    pub width: usize,
    /// Hidden activation (default `relu`).
    pub activation: Activation,
    /// Weight initialization (default `kaiming_normal`).
    pub init: InitScheme,
    /// σ of `normal` initialization (default 0.02).
    pub init_std: f64,
    /// Dropout probability p ∈ [0, 1) after each hidden activation, in training (default 0).
    pub dropout: f64,
    /// Residual connections h_l = h_{l−1} + σ(h_{l−1} W_l + b_l) around hidden layers 2..depth
    /// (those whose input and output widths agree; default false).
    pub residual: bool,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            depth: 2,
            width: 512,
            activation: Activation::Relu,
            init: InitScheme::KaimingNormal,
            init_std: 0.02,
            dropout: 0.0,
            residual: false,
        }
    }
}

impl MlpConfig {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.width == 0 {
            return Err(NnError::config("model.width", self.width, "≥ 1"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(NnError::config("model.dropout", self.dropout, "in [0, 1)"));
        }
        Ok(())
    }

    /// Builds the MLP for `data`, initialized from `seed`.
    pub fn build<B: Backend>(
        &self,
        data: &DataShape,
        seed: u64,
        device: &B::Device,
    ) -> Result<Mlp<B>, NnError> {
        self.validate()?;
        let mut dims = vec![data.features];
        dims.extend(std::iter::repeat_n(self.width, self.depth));
        dims.push(data.classes);
        let layers = dims
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        let mlp = Mlp {
            layers,
            activation: self.activation,
            features: data.features,
            dropout: self.dropout,
            residual: self.residual,
            seed,
            step: Arc::new(AtomicU64::new(0)),
        };
        initialize(mlp, self.init, self.init_std, seed, &[])
    }
}

/// The MLP.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Hidden layers, then the output head.
    pub layers: Vec<Linear<B>>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    features: usize,
    #[module(skip)]
    dropout: f64,
    #[module(skip)]
    residual: bool,
    /// The seed of the dropout masks.
    #[module(skip)]
    seed: u64,
    /// The training step whose dropout masks the next forward passes draw (shared by clones).
    #[module(skip)]
    step: Arc<AtomicU64>,
}

impl<B: Backend> Mlp<B> {
    /// Logits of a `[rows, features]` batch. On the autodiff backend with `dropout > 0`, the
    /// hidden units are dropped with the masks of the step last given to [`Net::set_step`].
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.pass(x, false).0
    }

    /// The hidden layers' outputs h_1 … h_depth `[rows, width]` (after the activation, dropout
    /// and the residual sum) for a `[rows, features]` batch, and the logits.
    pub fn hidden(&self, x: Tensor<B, 2>) -> (Vec<Tensor<B, 2>>, Tensor<B, 2>) {
        let (logits, hidden) = self.pass(x, true);
        (hidden, logits)
    }

    /// The forward pass; keeps the hidden layers' outputs when `keep`.
    fn pass(&self, x: Tensor<B, 2>, keep: bool) -> (Tensor<B, 2>, Vec<Tensor<B, 2>>) {
        let last = self.layers.len().saturating_sub(1);
        let device = x.device();
        let rows = x.dims()[0];
        let mut masks = (self.dropout > 0.0 && B::ad_enabled(&device)).then(|| {
            let step = self.step.load(Ordering::Relaxed);
            (stream(self.seed, Purpose::Dropout, step), self.dropout)
        });
        let mut kept = Vec::new();
        let mut h = x;
        for (l, layer) in self.layers.iter().enumerate() {
            if l == last {
                return (layer.forward(h), kept);
            }
            let mut a = self.activation.apply(layer.forward(h.clone()));
            if let Some((rng, p)) = masks.as_mut() {
                let width = a.dims()[1];
                let q = 1.0 - *p;
                let scale = (1.0 / q) as f32;
                let mask: Vec<f32> = (0..rows * width)
                    .map(|_| if rng.random::<f64>() < q { scale } else { 0.0 })
                    .collect();
                a = a * Tensor::<B, 2>::from_data(TensorData::new(mask, [rows, width]), &device);
            }
            h = if self.residual && l > 0 { h + a } else { a };
            if keep {
                kept.push(h.clone());
            }
        }
        (h, kept)
    }
}

impl<B: Backend> Net<B> for Mlp<B> {
    fn set_step(&self, step: u64) {
        self.step.store(step, Ordering::Relaxed);
    }

    fn logits(&self, inputs: &Inputs, device: &B::Device) -> Result<Tensor<B, 2>, NnError> {
        match inputs {
            Inputs::Dense { values, rows, dim } if *dim == self.features => {
                Ok(self.forward(dense_tensor(values, *rows, *dim, device)))
            }
            _ => Err(wrong_input(
                "mlp",
                &format!("dense {}-feature", self.features),
            )),
        }
    }
}
