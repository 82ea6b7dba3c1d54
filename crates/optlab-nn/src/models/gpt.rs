//! A decoder-only character-level transformer in the style of nanoGPT (Radford et al., "Language
//! Models are Unsupervised Multitask Learners", 2019; Karpathy's nanoGPT).
//!
//! ```text
//! x₀ = E_tok[idx] + E_pos[0..T]
//! x ← x + proj(softmax_causal(q kᵀ/√d_h) v)   with (q, k, v) = qkv(LN₁(x)), per head   (× n_layer)
//! x ← x + fc₂(GELU(fc₁(LN₂(x))))
//! logits = LN_f(x) E_tokᵀ   (tied head)   or   LN_f(x) W_head   (untied)
//! ```
//!
//! Activations are kept as `[batch·T, d]` matrices, so every `Linear` is one matrix product
//! (forward and backward) and nothing is transposed or copied between layers: attention reads
//! q, k and v of every head straight from the fused `qkv` output and writes the heads side by
//! side, ready for `proj` ([`fused::causal_self_attention`]); layer norms, GELU
//! ([`fused::gelu`], exact or `approximate = "tanh"`) and the loss are single fused operations
//! with their own backward on the CPU backend.
//!
//! Parameters: `tok_embed.weight` `[vocab, d]`, `pos_embed.weight` `[context, d]`,
//! `blocks.{l}.{ln1,ln2}.{gamma,beta}`, `blocks.{l}.attn.{qkv,proj}.{weight,bias}`,
//! `blocks.{l}.mlp.{fc,proj}.{weight,bias}`, `ln_f.{gamma,beta}` and, untied, `head.weight`; the
//! bridge presents the `Linear` weights in PyTorch's `[out, in]` layout (`qkv.weight` `[3d, d]`).
//! The standard Muon recipe (`MuonAdamW`'s default filter `"ndim>=2 & !*embed* & !*head*"`)
//! selects exactly the hidden matrices `blocks.*.weight`.
//! Initialization follows GPT-2: N(0, 0.02²) with residual projections (`*.proj.weight`)
//! scaled by 1/√(2·n_layer).

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use optlab::ParamFilter;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::fused::{self, Approximate};
use super::{Net, int_tensor, wrong_input};
use crate::batch::{DataShape, Inputs};
use crate::error::NnError;
use crate::init::{InitScheme, initialize};

/// GPT configuration (defaults: nanoGPT's CPU recipe for Shakespeare characters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GptConfig {
    /// Transformer blocks (default 4).
    pub n_layer: usize,
    /// Attention heads; must divide `n_embd` (default 4).
    pub n_head: usize,
    /// Model width d (default 128).
    pub n_embd: usize,
    /// Context length T (default 64).
    pub block_size: usize,
    /// Share the token embedding with the output head (default true).
    pub tied_head: bool,
    /// Weight initialization (default `normal`).
    pub init: InitScheme,
    /// σ of `normal` and embedding initialization (default 0.02).
    pub init_std: f64,
    /// The MLP's GELU, as PyTorch's `nn.GELU(approximate=...)`: `"none"` (exact, erf form;
    /// default) or `"tanh"` (GPT-2's approximation).
    pub approximate: Approximate,
}

impl Default for GptConfig {
    fn default() -> Self {
        GptConfig {
            n_layer: 4,
            n_head: 4,
            n_embd: 128,
            block_size: 64,
            tied_head: true,
            init: InitScheme::Normal,
            init_std: 0.02,
            approximate: Approximate::None,
        }
    }
}

/// ε of the layer norms (PyTorch's `nn.LayerNorm` default).
const LN_EPS: f64 = 1e-5;

impl GptConfig {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.n_head == 0 || self.n_embd == 0 || !self.n_embd.is_multiple_of(self.n_head) {
            return Err(NnError::config(
                "model.n_head",
                self.n_head,
                format!("≥ 1 and a divisor of n_embd = {}", self.n_embd),
            ));
        }
        if self.block_size == 0 {
            return Err(NnError::config("model.block_size", 0, "≥ 1"));
        }
        Ok(())
    }

    /// Builds the GPT for a vocabulary of `data.classes` symbols, initialized from `seed`.
    pub fn build<B: Backend>(
        &self,
        data: &DataShape,
        seed: u64,
        device: &B::Device,
    ) -> Result<Gpt<B>, NnError> {
        self.validate()?;
        let (d, v) = (self.n_embd, data.classes);
        let norm = || LayerNormConfig::new(d).with_epsilon(LN_EPS).init(device);
        let blocks = (0..self.n_layer)
            .map(|_| Block {
                ln1: norm(),
                attn: SelfAttention {
                    qkv: LinearConfig::new(d, 3 * d).init(device),
                    proj: LinearConfig::new(d, d).init(device),
                    n_head: self.n_head,
                },
                ln2: norm(),
                mlp: FeedForward {
                    fc: LinearConfig::new(d, 4 * d).init(device),
                    proj: LinearConfig::new(4 * d, d).init(device),
                    approximate: self.approximate,
                },
            })
            .collect();
        let gpt = Gpt {
            tok_embed: EmbeddingConfig::new(v, d).init(device),
            pos_embed: EmbeddingConfig::new(self.block_size, d).init(device),
            blocks,
            ln_f: norm(),
            head: (!self.tied_head).then(|| LinearConfig::new(d, v).with_bias(false).init(device)),
            block_size: self.block_size,
        };
        let residual = (2.0 * self.n_layer.max(1) as f64).sqrt().recip();
        initialize(
            gpt,
            self.init,
            self.init_std,
            seed,
            &[(ParamFilter::name("*.proj.weight"), residual)],
        )
    }
}

/// Causal multi-head self-attention.
#[derive(Module, Debug)]
pub struct SelfAttention<B: Backend> {
    /// Query, key and value projections together (`[3d, d]` as presented to optimizers).
    pub qkv: Linear<B>,
    /// Output projection (`[d, d]`).
    pub proj: Linear<B>,
    #[module(skip)]
    n_head: usize,
}

impl<B: Backend> SelfAttention<B> {
    /// `x`: `[b·t, d]`, `b` sequences of `t` positions.
    fn forward(&self, x: Tensor<B, 2>, b: usize, t: usize) -> Tensor<B, 2> {
        let qkv = self.qkv.forward(x);
        self.proj
            .forward(fused::causal_self_attention(qkv, b, t, self.n_head))
    }
}

/// The position-wise MLP of a block.
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    /// Expansion (`[4d, d]` as presented to optimizers).
    pub fc: Linear<B>,
    /// Projection back (`[d, 4d]` as presented to optimizers).
    pub proj: Linear<B>,
    #[module(skip)]
    approximate: Approximate,
}

/// Layer norm of `[rows, d]` activations through the fused kernel.
fn layer_norm<B: Backend>(ln: &LayerNorm<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let gamma = ln.gamma.val();
    let beta = match &ln.beta {
        Some(beta) => beta.val(),
        None => gamma.zeros_like(),
    };
    fused::layer_norm(x, gamma, beta, LN_EPS)
}

/// A pre-norm transformer block.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// Norm before attention.
    pub ln1: LayerNorm<B>,
    /// Attention.
    pub attn: SelfAttention<B>,
    /// Norm before the MLP.
    pub ln2: LayerNorm<B>,
    /// MLP.
    pub mlp: FeedForward<B>,
}

impl<B: Backend> Block<B> {
    /// `x`: `[b·t, d]`.
    fn forward(&self, x: Tensor<B, 2>, b: usize, t: usize) -> Tensor<B, 2> {
        let x = x.clone() + self.attn.forward(layer_norm(&self.ln1, x), b, t);
        let h = self.mlp.fc.forward(layer_norm(&self.ln2, x.clone()));
        x + self.mlp.proj.forward(fused::gelu(h, self.mlp.approximate))
    }
}

/// The GPT.
#[derive(Module, Debug)]
pub struct Gpt<B: Backend> {
    /// Token embedding `[vocab, d]` (also the output head when tied).
    pub tok_embed: Embedding<B>,
    /// Position embedding `[block_size, d]`.
    pub pos_embed: Embedding<B>,
    /// Transformer blocks.
    pub blocks: Vec<Block<B>>,
    /// Final norm.
    pub ln_f: LayerNorm<B>,
    /// Untied output head (`[vocab, d]` as presented to optimizers).
    pub head: Option<Linear<B>>,
    #[module(skip)]
    block_size: usize,
}

impl<B: Backend> Gpt<B> {
    /// Context length.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Logits `[b, t, vocab]` of token ids `[b, t]` (t ≤ block size).
    pub fn forward(&self, idx: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [b, t] = idx.dims();
        let logits = self.forward_rows(idx);
        let [_, v] = logits.dims();
        logits.reshape([b, t, v])
    }

    /// Logits `[b·t, vocab]` (one row per position, sequences one after the other) of token ids
    /// `[b, t]`.
    pub fn forward_rows(&self, idx: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [b, t] = idx.dims();
        let device = idx.device();
        let pos = Tensor::<B, 1, Int>::arange(0..t as i64, &device).reshape([1, t]);
        let x = self.tok_embed.forward(idx) + self.pos_embed.forward(pos);
        let [_, _, d] = x.dims();
        let mut x = x.reshape([b * t, d]);
        for block in &self.blocks {
            x = block.forward(x, b, t);
        }
        let x = layer_norm(&self.ln_f, x);
        match &self.head {
            Some(head) => head.forward(x),
            // x E_tokᵀ: the transpose is a strided view the product reads in place.
            None => x.matmul(self.tok_embed.weight.val().transpose()),
        }
    }
}

impl<B: Backend> Net<B> for Gpt<B> {
    fn logits(&self, inputs: &Inputs, device: &B::Device) -> Result<Tensor<B, 2>, NnError> {
        match inputs {
            Inputs::Tokens { ids, rows, len } if *len <= self.block_size => {
                Ok(self.forward_rows(int_tensor(ids, [*rows, *len], device)))
            }
            _ => Err(wrong_input(
                "gpt",
                &format!("token (context ≤ {})", self.block_size),
            )),
        }
    }

    /// Autoregressive sampling: the last `block_size` tokens in, the next token drawn from
    /// softmax(logits / temperature).
    fn generate(
        &self,
        prompt: &[i64],
        length: usize,
        temperature: f64,
        rng: &mut ChaCha8Rng,
        device: &B::Device,
    ) -> Option<Vec<i64>> {
        let mut ids = prompt.to_vec();
        if ids.is_empty() {
            ids.push(0);
        }
        for _ in 0..length {
            let start = ids.len().saturating_sub(self.block_size);
            let t = ids.len() - start;
            let logits = self.forward(int_tensor(&ids[start..], [1, t], device));
            let [_, _, v] = logits.dims();
            let last = logits.narrow(1, t - 1, 1).reshape([v]);
            let probs = softmax(last.div_scalar(temperature), 0).into_data();
            let probs = probs.convert::<f32>().to_vec::<f32>().ok()?;
            let u: f32 = rng.random();
            let mut acc = 0.0;
            let mut next = probs.len() - 1;
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if u < acc {
                    next = i;
                    break;
                }
            }
            ids.push(next as i64);
        }
        Some(ids.split_off(prompt.len().max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::Flex;

    fn tiny(tied: bool) -> Gpt<B> {
        let cfg = GptConfig {
            n_layer: 2,
            n_head: 2,
            n_embd: 8,
            block_size: 6,
            tied_head: tied,
            ..Default::default()
        };
        let shape = DataShape {
            features: 6,
            image: None,
            classes: 5,
        };
        cfg.build::<B>(&shape, 3, &Default::default()).unwrap()
    }

    fn logits(m: &Gpt<B>, ids: &[i64]) -> Vec<f32> {
        let out = m.forward(int_tensor(ids, [1, ids.len()], &Default::default()));
        out.into_data().to_vec::<f32>().unwrap()
    }

    #[test]
    fn attention_is_causal() {
        for tied in [true, false] {
            let m = tiny(tied);
            let a = logits(&m, &[1, 2, 3, 4, 0, 1]);
            let b = logits(&m, &[1, 2, 3, 0, 4, 4]);
            // positions 0..3 see only tokens 1, 2, 3: identical; position 3 differs
            assert_eq!(a[..15], b[..15], "tied = {tied}");
            assert_ne!(a[15..20], b[15..20], "tied = {tied}");
        }
    }

    #[test]
    fn parameters_follow_the_documented_names() {
        let names: Vec<String> = crate::bridge::read_params(&tiny(false))
            .unwrap()
            .into_iter()
            .map(|p| format!("{} {:?}", p.name, p.shape))
            .collect();
        for expected in [
            "tok_embed.weight [5, 8]",
            "pos_embed.weight [6, 8]",
            "blocks.1.attn.qkv.weight [24, 8]",
            "blocks.0.mlp.proj.weight [8, 32]",
            "blocks.0.ln1.gamma [8]",
            "ln_f.beta [8]",
            "head.weight [5, 8]",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} not in {names:?}"
            );
        }
        let tied = crate::bridge::read_params(&tiny(true)).unwrap();
        assert!(!tied.iter().any(|p| p.name.starts_with("head")));
    }

    #[test]
    fn initialization_depends_only_on_the_seed() {
        let a = crate::bridge::read_params(&tiny(true)).unwrap();
        let b = crate::bridge::read_params(&tiny(true)).unwrap();
        assert_eq!(a, b);
        let proj = a
            .iter()
            .find(|p| p.name == "blocks.0.attn.proj.weight")
            .unwrap();
        let std = (proj.data.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>()
            / proj.numel() as f64)
            .sqrt();
        // 0.02 / √(2·2) = 0.01 (64 samples: loose bound)
        assert!((std - 0.01).abs() < 0.004, "{std}");
    }

    #[test]
    fn generation_is_seeded_and_in_vocabulary() {
        let m = tiny(true);
        let mut r1 = crate::rng::stream(1, crate::rng::Purpose::Sample, 0);
        let mut r2 = crate::rng::stream(1, crate::rng::Purpose::Sample, 0);
        let d = Default::default();
        let a = m.generate(&[1, 2], 10, 1.0, &mut r1, &d).unwrap();
        let b = m.generate(&[1, 2], 10, 1.0, &mut r2, &d).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        assert!(a.iter().all(|&t| (0..5).contains(&t)));
    }
}
