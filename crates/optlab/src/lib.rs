//! # optlab
//!
//! A laboratory for stochastic, adaptive and matrix-aware optimization.
//!
//! The data path goes one way: **problem → oracle → optimizer (+ schedule) → runner → records →
//! plots/report**. This crate holds the library side of it; the optimizers themselves (with
//! `param`, `schedule`, `linalg`, `kernels`, `verify`) are the lean crate `optlab-optim`, re-exported
//! here under the same paths:
//!
//! - [`param`]: named tensors with gradients, and filters selecting them by name and shape;
//! - [`optim`]: every optimizer of the lecture as a fused kernel with PyTorch semantics, parameter
//!   groups, non-finite gradient policy and serializable state;
//! - [`kernels`]: deterministic vector reductions shared by optimizers and problems;
//! - [`verify`]: replay of PyTorch reference traces;
//! - [`problem`]: finite-sum problems (logistic, least squares, softmax regression, 2D test
//!   functions) with known constants, and data-file loaders;
//! - [`oracle`]: full, mini-batch and single-sample gradient oracles with seeded streams;
//! - [`experiment`]: what `optlab run` and `optlab train` share — the common fields of an
//!   experiment file and their validation, typed optimizer configurations with their wrappers
//!   (clipping, SAM, averaging, line search), targets resolved against a records schema, hooks
//!   ([`Observer`](experiment::Observer)) and the one writer of a run directory;
//! - [`runner`]: experiments on problems (problem × methods × seeds);
//! - [`record`]: records (fixed columns + declared metric columns), CSV, summaries,
//!   time-to-target;
//! - [`datafile`]: the one lookup (`data/`) and gzip-aware reader of data files;
//! - [`plot`]: convergence curves, contour/trajectory and function plots (PNG, SVG, GIF);
//! - [`algoperf`]: AlgoPerf-style benchmarking: its log layout, v0.6 scoring, performance
//!   profiles, Halton search, submission files, shards and the seam to the training code;
//! - [`reproduce`]: the lecture's figures with their claims checked numerically, and the
//!   HTML report (`optlab reproduce`);
//! - [`linalg`]: Newton–Schulz, Polar Express, SVD polar factor and inverse roots on faer
//!   (Muon, Shampoo, spectral steepest descent);
//! - [`bench`]: timing utilities and the optimizer step benchmark (`optlab bench`);
//! - [`overrides`]: `--set key=value` overrides of TOML configurations (`optlab run`, `optlab
//!   train`).
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

pub mod algoperf;
pub mod bench;
pub mod datafile;
pub mod experiment;
pub mod oracle;
pub mod overrides;
pub mod plot;
pub mod problem;
pub mod record;
pub mod reproduce;
pub mod runner;

// The optimizers are the drop-in crate `optlab-optim`; re-exported so that `optlab::optim::...`,
// `optlab::schedule::...` and the other paths work from here as well.
pub use optlab_optim::vectorized;
pub use optlab_optim::{dist, error, kernels, linalg, optim, param, scalar, schedule, verify};

pub use error::OptimError;
pub use optim::{
    Closure, ClosureStep, Eval, NonFinitePolicy, Optimizer, OptimizerState, StepOutcome,
};
pub use param::{Param, ParamFilter};
pub use scalar::Scalar;

/// The README's library example, compiled and run as a doc test.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
