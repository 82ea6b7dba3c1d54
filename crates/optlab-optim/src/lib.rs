//! # optlab-optim
//!
//! optlab's optimizers as a drop-in crate: fused single-pass kernels on plain named tensors,
//! generic over `f32`/`f64`, verified against PyTorch 2.15 float64 traces (`torch.optim` names,
//! hyperparameter names and semantics). It depends only on faer, rayon, pulp, serde (+json),
//! num-traits and thiserror — none of the laboratory around it (`optlab`: problems, runner,
//! plots, reports).
//!
//! - [`param`]: [`Param`] (a named tensor `{name, shape, data, grad}`, row-major) and
//!   [`ParamFilter`] (`"*.bias | ndim=1"`, `"ndim>=2 & !*embed*"`);
//! - [`optim`]: the [`Optimizer`] trait, one file per method family (SGD, Adagrad, RMSprop,
//!   Adadelta, Adam/AMSGrad/AdamW, NAdam, RAdam, Adamax, Adafactor, ASGD, Rprop, L-BFGS,
//!   schedule-free AdamW/SGD, Lion, normalized and sign descent, steepest descent through an LMO,
//!   Muon, Shampoo), [`Partition`](optim::partition::Partition) routing parameters to different
//!   optimizers, composition wrappers that are optimizers themselves
//!   ([global-norm clipping](optim::clip), [SAM](optim::sam), [iterate averaging](optim::averaging),
//!   an [Armijo line search](optim::armijo); [`Wrappers`](optim::wrap::Wrappers) chains them), and
//!   the [`registry`](optim::registry) that parses any optimizer's hyperparameter map once into a
//!   typed [`OptimizerConfig`](optim::registry::OptimizerConfig) and builds it;
//! - [`schedule`]: the lecture's step-size rules and PyTorch's `lr_scheduler` (closed forms in k,
//!   and the metric-driven `ReduceLROnPlateau`);
//! - [`linalg`]: Newton–Schulz, Polar Express, SVD polar factor and inverse p-th roots on faer;
//! - [`verify`]: replay of PyTorch reference traces;
//! - [`kernels`], [`scalar`], [`error`]: deterministic reductions, the `f32`/`f64` abstraction and
//!   the typed errors (each names the field and its allowed range).
//!
//! Muon for the hidden matrices and AdamW for everything else, on your own tensors (the update
//! reads the gradients you wrote into `grad`):
//!
//! ```
//! use optlab_optim::optim::registry::{Buildable, HyperMap, MuonAdamWConfig};
//! use optlab_optim::{Optimizer, Param, registry};
//!
//! let mut params = vec![
//!     Param::<f32>::new("embed.weight", [100, 16], vec![0.01; 1600])?,
//!     Param::<f32>::new("blocks.0.mlp.weight", [64, 16], vec![0.02; 1024])?,
//!     Param::<f32>::new("blocks.0.mlp.bias", [64], vec![0.0; 64])?,
//! ];
//! // By type (hyperparameters as fields) or by name (PyTorch's field names), same optimizer:
//! let mut opt = MuonAdamWConfig { lr: 0.02, ..Default::default() }.into_optimizer::<f32>()?;
//! let _same = registry::build::<f32>("MuonAdamW", &HyperMap::new())?;
//! for _ in 0..10 {
//!     for p in &mut params {
//!         for (g, x) in p.grad.iter_mut().zip(&p.data) {
//!             *g = *x - 0.5; // your backward pass writes here
//!         }
//!     }
//!     opt.step(&mut params)?;
//! }
//! assert_eq!(opt.steps(), 10);
//! # Ok::<(), optlab_optim::OptimError>(())
//! ```

pub mod dist;
pub mod error;
pub mod kernels;
pub mod linalg;
pub mod optim;
pub mod param;
pub mod scalar;
pub mod schedule;
pub mod verify;

pub use error::OptimError;
pub use optim::registry;
pub use optim::{
    Closure, ClosureStep, Eval, NonFinitePolicy, Optimizer, OptimizerState, StepOutcome,
};
pub use param::{Layout, Param, ParamFilter};
pub use scalar::Scalar;
