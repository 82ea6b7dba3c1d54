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
//!
//! With `embedding = e`, the inputs are token sequences of the data's length (e.g. the two
//! operands of modular arithmetic) over a vocabulary of the data's classes: each token is looked
//! up in `embedding.weight` `[vocab, e]` (one table shared by the positions) and the embeddings
//! are concatenated, h₀ = [E[t₁], ..., E[t_len]] ∈ R^{len·e} (Power et al. 2022's MLP baseline).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Activation, Net, dense_tensor, int_tensor, wrong_input};
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
    /// σ of `normal` initialization and of the embedding (default 0.02).
    pub init_std: f64,
    /// Dropout probability p ∈ [0, 1) after each hidden activation, in training (default 0).
    pub dropout: f64,
    /// Residual connections h_l = h_{l−1} + σ(h_{l−1} W_l + b_l) around hidden layers 2..depth
    /// (those whose input and output widths agree; default false).
    pub residual: bool,
    /// Token inputs: embedding dimension per token (default none: dense features).
    pub embedding: Option<usize>,
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
            embedding: None,
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
        if self.embedding == Some(0) {
            return Err(NnError::config("model.embedding", 0, "≥ 1"));
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
        let input = data.features * self.embedding.unwrap_or(1);
        let mut dims = vec![input];
        dims.extend(std::iter::repeat_n(self.width, self.depth));
        dims.push(data.classes);
        let layers = dims
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        let mlp = Mlp {
            embedding: self
                .embedding
                .map(|e| EmbeddingConfig::new(data.classes, e).init(device)),
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
    /// Token embedding (token inputs only).
    pub embedding: Option<Embedding<B>>,
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
        match (inputs, &self.embedding) {
            (Inputs::Dense { values, rows, dim }, None) if *dim == self.features => {
                Ok(self.forward(dense_tensor(values, *rows, *dim, device)))
            }
            (Inputs::Tokens { ids, rows, len }, Some(e)) if *len == self.features => {
                let x = e.forward(int_tensor::<B, 2>(ids, [*rows, *len], device));
                let [_, _, d] = x.dims();
                Ok(self.forward(x.reshape([*rows, *len * d])))
            }
            (_, None) => Err(wrong_input(
                "mlp",
                &format!("dense {}-feature", self.features),
            )),
            (_, Some(_)) => Err(wrong_input("mlp", &format!("{}-token", self.features))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::CpuBackend;

    type Plain = burn::backend::Flex;

    fn shape() -> DataShape {
        DataShape {
            features: 6,
            image: None,
            classes: 3,
        }
    }

    fn x<B: Backend>() -> Tensor<B, 2> {
        let v: Vec<f32> = (0..5 * 6)
            .map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0)
            .collect();
        Tensor::from_data(TensorData::new(v, [5, 6]), &Default::default())
    }

    fn values<B: Backend>(t: Tensor<B, 2>) -> Vec<f32> {
        t.into_data().into_vec::<f32>().unwrap()
    }

    fn config(dropout: f64, residual: bool) -> MlpConfig {
        MlpConfig {
            depth: 3,
            width: 16,
            dropout,
            residual,
            ..MlpConfig::default()
        }
    }

    #[test]
    fn dropout_must_be_a_probability_below_one() {
        for bad in [-0.1, 1.0, f64::NAN] {
            let e = config(bad, false).validate().unwrap_err().to_string();
            assert!(e.contains("model.dropout"), "{e}");
        }
        assert!(config(0.5, false).validate().is_ok());
    }

    #[test]
    fn dropout_is_seeded_by_step_in_training_and_off_in_evaluation() {
        let d = Default::default();
        let plain = config(0.0, false).build::<Plain>(&shape(), 3, &d).unwrap();
        let eval = config(0.5, false).build::<Plain>(&shape(), 3, &d).unwrap();
        assert_eq!(
            values(plain.forward(x())),
            values(eval.forward(x())),
            "evaluation mode: no dropout"
        );
        let train = config(0.5, false)
            .build::<CpuBackend>(&shape(), 3, &d)
            .unwrap();
        train.set_step(4);
        let a = values(train.forward(x()));
        let b = values(train.forward(x()));
        train.set_step(5);
        let c = values(train.forward(x()));
        assert_eq!(a, b, "a step's masks are a function of (seed, step)");
        assert_ne!(a, c, "another step draws other masks");
        assert_ne!(a, values(plain.forward(x())));
        // Inverted dropout: kept units are scaled by 1/(1 − p), dropped ones are 0.
        train.set_step(4);
        let (h_drop, _) = train.hidden(x());
        let full = config(0.0, false)
            .build::<CpuBackend>(&shape(), 3, &d)
            .unwrap();
        let (h_full, _) = full.hidden(x());
        let (hd, hf) = (values(h_drop[0].clone()), values(h_full[0].clone()));
        let mut dropped = 0;
        for (a, b) in hd.iter().zip(&hf) {
            if *a == 0.0 && *b != 0.0 {
                dropped += 1;
            } else {
                assert!((a - 2.0 * b).abs() < 1e-5, "{a} vs 2·{b}");
            }
        }
        let active = hf.iter().filter(|v| **v != 0.0).count();
        assert!(
            dropped > active / 4 && dropped < 3 * active / 4,
            "{dropped}/{active}"
        );
    }

    #[test]
    fn residual_layers_add_their_activation_to_their_input() {
        let d = Default::default();
        let res = config(0.0, true).build::<Plain>(&shape(), 1, &d).unwrap();
        let (h, _) = res.hidden(x());
        assert_eq!(h.len(), 3);
        let (h1, h2) = (values(h[0].clone()), values(h[1].clone()));
        // h2 = h1 + relu(h1 W + b) ≥ h1, with equality only where the ReLU is off
        assert!(h1.iter().zip(&h2).all(|(a, b)| b >= a));
        assert!(h1.iter().zip(&h2).any(|(a, b)| b > a));
        let plain = config(0.0, false).build::<Plain>(&shape(), 1, &d).unwrap();
        let (p, _) = plain.hidden(x());
        assert_eq!(values(p[0].clone()), h1, "the first layer has no residual");
        assert_ne!(values(p[1].clone()), h2);
    }
}
