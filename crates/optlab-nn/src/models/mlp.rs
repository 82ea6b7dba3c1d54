//! Multilayer perceptron: `depth` hidden layers of `width` units.
//!
//! ```text
//! h₀ = x,   h_l = σ(h_{l−1} W_l + b_l)  (l = 1..depth),   logits = h_depth W_out + b_out
//! ```
//!
//! Parameters (as the bridge presents them, PyTorch layouts): `layers.{l}.weight` `[d_out, d_in]`
//! and `layers.{l}.bias`; the last layer is the
//! output head.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use super::{Activation, Net, dense_tensor, wrong_input};
use crate::batch::{DataShape, Inputs};
use crate::error::NnError;
use crate::init::{InitScheme, initialize};

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
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            depth: 2,
            width: 512,
            activation: Activation::Relu,
            init: InitScheme::KaimingNormal,
            init_std: 0.02,
        }
    }
}

impl MlpConfig {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.width == 0 {
            return Err(NnError::config("model.width", self.width, "≥ 1"));
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
}

impl<B: Backend> Mlp<B> {
    /// Logits of a `[rows, features]` batch.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len().saturating_sub(1);
        let mut h = x;
        for (l, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if l < last {
                h = self.activation.apply(h);
            }
        }
        h
    }
}

impl<B: Backend> Net<B> for Mlp<B> {
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
