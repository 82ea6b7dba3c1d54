//! # optlab-nn
//!
//! Neural networks on [burn](https://burn.dev) 0.21 (flex CPU backend with autodiff; `cuda`
//! feature for burn's CUDA backend) trained by optlab's optimizers.
//!
//! The data path goes one way: **data → [`batch`] → model → loss → gradients → [`bridge`] →
//! optimizer (+ schedule and the lab's wrappers: clipping, SAM, averaging, line search) →
//! [`train`] loop → records ([`metrics`]) → plots/summary**.
//!
//! - [`bridge`]: any `Box<dyn optlab::Optimizer<f32>>` updates a burn model's parameters, which
//!   it sees as optlab [`Param`](optlab::Param)s named by module path with PyTorch's shapes
//!   (`Linear` weights as `[out, in]`);
//! - [`models`]: MLP, LeNet-like CNN and a nanoGPT-style character transformer, with seeded
//!   [`init`]ializations;
//! - [`data`] and [`text`]: the vendored data sets, seeded splits, shuffled batches and windows,
//!   handed to the models as [`batch::Batch`]es;
//! - [`config`]: experiments as TOML (presets `mnist-mlp`, `mnist-cnn`, `digits-mlp`,
//!   `shakespeare-gpt`, `shakespeare-gpt-muon`) with `key=value` overrides, on the lab's shared
//!   experiment layer ([`optlab::experiment`]: common fields, typed optimizer, wrappers, target);
//! - [`checkpoint`]: crash-safe checkpoint directories (safetensors tensors, a JSON manifest
//!   with checksums) and the run directory's layout for resuming;
//! - [`train`]: the loop, evaluation, checkpoints and resume; records ([`metrics`]: the declared
//!   columns), plots and time-to-target through the lab's shared run-directory writer.

pub mod algoperf;
pub mod batch;
pub mod bridge;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod distributed;
pub mod error;
pub mod init;
pub mod metrics;
pub mod models;
pub mod reproduce;
pub mod rng;
pub mod session;
pub mod text;
pub mod train;

pub use config::TrainConfig;
pub use error::NnError;
pub use train::{Checkpoint, Outcome, RunOptions, Snapshot, Summary, resume, train};
