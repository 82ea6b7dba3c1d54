//! # optlab
//!
//! A laboratory for stochastic, adaptive and matrix-aware optimization.
//!
//! The data path goes one way: **problem → oracle → optimizer (+ schedule) → runner → records →
//! plots/report**. This crate holds the library side of it:
//!
//! - [`param`]: named tensors with gradients, and filters selecting them by name and shape;
//! - [`optim`]: every optimizer of the lecture as a fused kernel with PyTorch semantics, parameter
//!   groups, non-finite gradient policy and serializable state;
//! - [`kernels`]: deterministic vector reductions shared by optimizers and problems;
//! - [`verify`]: replay of PyTorch reference traces.
//!
//! ```
//! use optlab::optim::{Optimizer, sgd::{Sgd, SgdConfig}};
//! use optlab::Param;
//!
//! // minimize f(x) = ½‖x‖² with heavy-ball momentum
//! let mut params = vec![Param::<f64>::vector("x", vec![3.0, -4.0])];
//! let mut opt = Sgd::new(SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() })?;
//! for _ in 0..200 {
//!     let x = &mut params[0];
//!     x.grad.copy_from_slice(&x.data); // ∇f(x) = x
//!     opt.step(&mut params)?;
//! }
//! assert!(params[0].data.iter().all(|x| x.abs() < 1e-3)); // rate √μ ≈ 0.95 per step
//! # Ok::<(), optlab::OptimError>(())
//! ```

pub mod error;
pub mod kernels;
pub mod optim;
pub mod param;
pub mod scalar;
pub mod schedule;
pub mod verify;

pub use error::OptimError;
pub use optim::{NonFinitePolicy, Optimizer, OptimizerState, StepOutcome};
pub use param::{Param, ParamFilter};
pub use scalar::Scalar;
