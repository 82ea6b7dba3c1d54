//! A small LeNet-like convolutional network (LeCun et al., "Gradient-based learning applied to
//! document recognition", 1998), with "same" padding so it fits 28×28 MNIST and 8×8 digits alike.
//!
//! ```text
//! x [N, C, H, W] → conv 5×5 (channels[0]) → σ → max-pool 2 → conv 5×5 (channels[1]) → σ
//!   → max-pool 2 → flatten → fc (hidden[0]) → σ → fc (hidden[1]) → σ → fc (classes)
//! ```
//!
//! Parameters (as the bridge presents them, PyTorch layouts): `conv1.weight` `[c₁, C, 5, 5]`,
//! `conv2.weight`, `fc.{0,1,2}.weight` `[d_out, d_in]` and their biases.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use super::{Activation, Net, dense_tensor, wrong_input};
use crate::batch::{DataShape, Inputs};
use crate::error::NnError;
use crate::init::{InitScheme, initialize};

/// CNN configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CnnConfig {
    /// Output channels of the two convolutions (default [6, 16], LeNet-5's).
    pub channels: [usize; 2],
    /// Units of the two hidden fully connected layers (default [120, 84]).
    pub hidden: [usize; 2],
    /// Activation (default `relu`).
    pub activation: Activation,
    /// Weight initialization (default `kaiming_normal`).
    pub init: InitScheme,
    /// σ of `normal` initialization (default 0.02).
    pub init_std: f64,
}

impl Default for CnnConfig {
    fn default() -> Self {
        CnnConfig {
            channels: [6, 16],
            hidden: [120, 84],
            activation: Activation::Relu,
            init: InitScheme::KaimingNormal,
            init_std: 0.02,
        }
    }
}

impl CnnConfig {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.channels.contains(&0) {
            return Err(NnError::config(
                "model.channels",
                format!("{:?}", self.channels),
                "two counts ≥ 1",
            ));
        }
        if self.hidden.contains(&0) {
            return Err(NnError::config(
                "model.hidden",
                format!("{:?}", self.hidden),
                "two widths ≥ 1",
            ));
        }
        Ok(())
    }

    /// Builds the CNN for image data, initialized from `seed`.
    pub fn build<B: Backend>(
        &self,
        data: &DataShape,
        seed: u64,
        device: &B::Device,
    ) -> Result<Cnn<B>, NnError> {
        self.validate()?;
        let Some([c, h, w]) = data.image else {
            return Err(NnError::config(
                "model.kind",
                "cnn",
                "a model for image data (mnist, digits)",
            ));
        };
        if h < 4 || w < 4 {
            return Err(NnError::config(
                "data",
                format!("{h}×{w} images"),
                "images of at least 4×4",
            ));
        }
        let conv = |cin, cout| {
            Conv2dConfig::new([cin, cout], [5, 5])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        let flat = self.channels[1] * (h / 4) * (w / 4);
        let cnn = Cnn {
            conv1: conv(c, self.channels[0]),
            conv2: conv(self.channels[0], self.channels[1]),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc: vec![
                LinearConfig::new(flat, self.hidden[0]).init(device),
                LinearConfig::new(self.hidden[0], self.hidden[1]).init(device),
                LinearConfig::new(self.hidden[1], data.classes).init(device),
            ],
            activation: self.activation,
            image: [c, h, w],
        };
        initialize(cnn, self.init, self.init_std, seed, &[])
    }
}

/// The CNN.
#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    /// First convolution.
    pub conv1: Conv2d<B>,
    /// Second convolution.
    pub conv2: Conv2d<B>,
    /// 2×2 max-pooling (no parameters).
    pub pool: MaxPool2d,
    /// Fully connected layers; the last is the output head.
    pub fc: Vec<Linear<B>>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    image: [usize; 3],
}

impl<B: Backend> Cnn<B> {
    /// Logits of a `[rows, C, H, W]` batch.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let act = self.activation;
        let x = self.pool.forward(act.apply(self.conv1.forward(x)));
        let x = self.pool.forward(act.apply(self.conv2.forward(x)));
        let mut h: Tensor<B, 2> = x.flatten(1, 3);
        let last = self.fc.len().saturating_sub(1);
        for (l, layer) in self.fc.iter().enumerate() {
            h = layer.forward(h);
            if l < last {
                h = act.apply(h);
            }
        }
        h
    }
}

impl<B: Backend> Net<B> for Cnn<B> {
    fn logits(&self, inputs: &Inputs, device: &B::Device) -> Result<Tensor<B, 2>, NnError> {
        let [c, h, w] = self.image;
        match inputs {
            Inputs::Dense { values, rows, dim } if *dim == c * h * w => {
                let x = dense_tensor::<B>(values, *rows, *dim, device).reshape([*rows, c, h, w]);
                Ok(self.forward(x))
            }
            _ => Err(wrong_input("cnn", &format!("{c}×{h}×{w} image"))),
        }
    }
}
