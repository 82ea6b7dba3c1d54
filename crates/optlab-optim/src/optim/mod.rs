//! Optimizers: the [`Optimizer`] trait, parameter groups, non-finite gradient policy and
//! serializable state.
//!
//! Each method family lives in its own file whose update reads like the lecture's per-coordinate
//! formula. Elementwise methods (SGD, Adagrad, RMSProp, Adadelta, the Adam family, sign descent)
//! are a [`Rule`](elementwise::Rule) — the formula for one coordinate — run by the shared fused
//! driver [`Elementwise`](elementwise::Elementwise): one pass over `(param, grad, state)` per
//! step, split across threads for large tensors, allocation-free for small ones. Methods that need
//! a global quantity (normalized gradient descent: ‖g‖₂ over all parameters) implement
//! [`Optimizer`] themselves with the same [`Groups`], [`sync_slots`] and [`screen_gradients`].
//!
//! ```
//! use optlab_optim::optim::{Optimizer, adam::{AdamW, AdamWConfig}};
//! use optlab_optim::Param;
//!
//! let mut params = vec![Param::<f64>::vector("x", vec![1.0, -2.0])];
//! let mut opt = AdamW::new(AdamWConfig { lr: 0.1, ..Default::default() })?;
//! for _ in 0..100 {
//!     let p = &mut params[0];
//!     for (g, x) in p.grad.iter_mut().zip(&p.data) {
//!         *g = 2.0 * x; // ∇‖x‖²
//!     }
//!     opt.step(&mut params)?;
//! }
//! assert!(params[0].data.iter().all(|x| x.abs() < 0.1));
//! # Ok::<(), optlab_optim::OptimError>(())
//! ```

pub mod adadelta;
pub mod adagrad;
pub mod adam;
pub mod adamax;
pub mod elementwise;
pub mod lmo;
pub mod muon;
pub mod nadam;
pub mod normalized;
pub mod partition;
pub mod radam;
pub mod registry;
pub mod rmsprop;
pub mod sgd;
pub mod shampoo;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::OptimError;
use crate::param::{Layout, Param, ParamFilter};
use crate::scalar::Scalar;

/// What an optimizer does with a gradient that contains NaN or ±Inf.
///
/// The check is a separate read-only pass over the gradients before anything is updated, so a
/// refused step leaves parameters and state untouched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonFinitePolicy {
    /// Refuse the step and return [`OptimError::NonFiniteGradient`] (default).
    #[default]
    Error,
    /// Skip the whole step (no parameter, state or step counter changes) and report it.
    Skip,
    /// Do not check (saves one read of the gradients per step).
    Ignore,
}

/// Result of a successful call to [`Optimizer::step`].
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    /// The update was applied; the step counter advanced.
    Applied,
    /// The step was skipped under [`NonFinitePolicy::Skip`].
    Skipped {
        /// Parameter holding the first non-finite gradient entry.
        param: String,
        /// Flat index of that entry.
        index: usize,
    },
}

/// Which parameters of the list a step updates: all of them, or the given positions (used by
/// partitions, which route disjoint subsets of one list to different optimizers).
#[derive(Clone, Copy, Debug)]
pub enum Subset<'a> {
    /// Every parameter of the list, in order.
    All,
    /// These positions, in this order.
    Indices(&'a [usize]),
}

impl Subset<'_> {
    /// Number of parameters selected from a list of `total`.
    pub fn len(&self, total: usize) -> usize {
        match self {
            Subset::All => total,
            Subset::Indices(ix) => ix.len(),
        }
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self, total: usize) -> bool {
        self.len(total) == 0
    }

    /// Position in the full list of the `j`-th selected parameter.
    #[inline]
    pub fn index(&self, j: usize) -> usize {
        match self {
            Subset::All => j,
            Subset::Indices(ix) => ix[j],
        }
    }
}

/// What a closure-based step asks of the objective ([`Closure::evaluate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eval {
    /// The value f(x) only (a line search's trial points).
    Value,
    /// The value f(x), and ∇f(x) written into every parameter's `grad`.
    ValueAndGrad,
}

/// The objective at the parameters' current values — PyTorch's `closure` argument of
/// `optimizer.step(closure)`. It reads `params[i].data` (every parameter of the list handed to
/// the step), returns f as `f64` and, for [`Eval::ValueAndGrad`], overwrites every `grad`.
///
/// A stochastic caller decides what one step sees: a runner's mini-batch closure evaluates the
/// same batch at every call within a step (a line search on one mini-batch), and draws the next
/// batch for the next step. Any `FnMut(&mut [Param<T>], Eval) -> Result<f64, OptimError>` is a
/// closure.
pub trait Closure<T: Scalar> {
    /// f at `params` (and ∇f into the gradients when asked).
    fn evaluate(&mut self, params: &mut [Param<T>], eval: Eval) -> Result<f64, OptimError>;
}

impl<T: Scalar, F> Closure<T> for F
where
    F: FnMut(&mut [Param<T>], Eval) -> Result<f64, OptimError>,
{
    fn evaluate(&mut self, params: &mut [Param<T>], eval: Eval) -> Result<f64, OptimError> {
        self(params, eval)
    }
}

/// Result of [`Optimizer::step_with_closure`].
#[derive(Clone, Debug, PartialEq)]
pub struct ClosureStep {
    /// What the step did.
    pub outcome: StepOutcome,
    /// The loss at the parameters the step started from (the closure's first value), as
    /// PyTorch's `step(closure)` returns it.
    pub loss: f64,
}

/// A first-order optimizer updating a list of parameters in place from their gradients.
///
/// State is kept per parameter, by position in the list handed to the first step (the names are
/// checked at every step). Learning rates can be changed between steps (schedules) through
/// [`set_lrs`](Optimizer::set_lrs).
pub trait Optimizer<T: Scalar>: Send {
    /// Display name, e.g. `"AdamW"`.
    fn name(&self) -> &str;

    /// Number of steps applied so far (skipped steps do not count).
    fn steps(&self) -> u64;

    /// The learning rate the default group will use at the next step.
    fn lr(&self) -> f64;

    /// The learning rate configured for the default group (what schedules scale).
    fn base_lr(&self) -> f64;

    /// Sets every group's learning rate for the next steps from its configured (base) rate:
    /// `lr_g ← f(base_lr_g)`. Schedules call this with `|base| schedule.lr(base, k)`.
    fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64);

    /// Sets the default group's learning rate to `lr`; other groups keep their ratio to it.
    fn set_lr(&mut self, lr: f64) {
        let base = self.base_lr();
        if base > 0.0 {
            let factor = lr / base;
            self.set_lrs(&|b| b * factor);
        } else {
            self.set_lrs(&|_| lr);
        }
    }

    /// How non-finite gradients are treated (default: [`NonFinitePolicy::Error`]).
    fn set_nonfinite_policy(&mut self, policy: NonFinitePolicy);

    /// One step on the selected parameters of `params`.
    fn step_subset(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError>;

    /// One step on all of `params`.
    fn step(&mut self, params: &mut [Param<T>]) -> Result<StepOutcome, OptimError> {
        self.step_subset(params, Subset::All)
    }

    /// One step that may evaluate the objective again — PyTorch's `optimizer.step(closure)`.
    ///
    /// As in PyTorch, the closure is called first, at the current parameters, for the value and
    /// the gradient; gradient-only methods then step as [`step`](Optimizer::step) would (the
    /// default). Methods that need more evaluations (L-BFGS, a line search, SAM's second
    /// gradient) call it again; the caller counts the evaluations in its closure.
    fn step_with_closure(
        &mut self,
        params: &mut [Param<T>],
        closure: &mut dyn Closure<T>,
    ) -> Result<ClosureStep, OptimError> {
        let loss = closure.evaluate(params, Eval::ValueAndGrad)?;
        let outcome = self.step(params)?;
        Ok(ClosureStep { outcome, loss })
    }

    /// Whether the method can only step through
    /// [`step_with_closure`](Optimizer::step_with_closure) (its [`step`](Optimizer::step)
    /// returns [`OptimError::ClosureRequired`]). Default false.
    fn requires_closure(&self) -> bool {
        false
    }

    /// The parameters at which to evaluate and checkpoint the model, when they differ from those
    /// gradients are taken at: an average of the iterates, ASGD's `ax`, schedule-free's `x`.
    /// Writes them into `out` (the same list layout as `params`: names, shapes) and returns
    /// `Ok(true)`; returns `Ok(false)` and leaves `out` alone when the training parameters are
    /// the evaluation point (the default).
    fn eval_params(&self, params: &[Param<T>], out: &mut [Param<T>]) -> Result<bool, OptimError> {
        let _ = (params, out);
        Ok(false)
    }

    /// Whether a step on `param` stored in `layout` (its values and gradient reordered, its
    /// logical `shape` unchanged) updates it exactly — bit for bit — as a step on the same values
    /// stored row-major would. Callers that hold a matrix in another layout (the burn bridge
    /// keeps a `Linear` weight column-major, [`Layout::ColumnMajor`]) ask before presenting it so,
    /// and transpose it otherwise.
    ///
    /// The default accepts [`Layout::RowMajor`] only. Elementwise methods accept every layout;
    /// Muon accepts column-major matrices (it orthogonalizes through a strided view and takes
    /// its shape scale from the logical shape); a partition answers for the route `param` takes.
    /// Whatever the layout at the steps, [`state`](Optimizer::state) reports every buffer in the
    /// row-major layout of the parameter's shape, and [`load_state`](Optimizer::load_state)
    /// expects it so.
    fn accepts_layout(&self, param: &Param<T>, layout: Layout) -> bool {
        let _ = param;
        layout == Layout::RowMajor
    }

    /// A snapshot of the state (step count, learning rates, per-parameter buffers).
    fn state(&self) -> OptimizerState<T>;

    /// Restores a snapshot taken by [`state`](Optimizer::state) of an optimizer of the same kind;
    /// the following steps are bit-identical to those of the optimizer it was taken from.
    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError>;
}

/// Serializable optimizer state: enough to continue bit-identically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Scalar")]
pub struct OptimizerState<T> {
    /// Optimizer name ([`Optimizer::name`]); checked on load.
    pub optimizer: String,
    /// Steps applied.
    pub step: u64,
    /// Current learning rate of each group (default group first).
    pub lrs: Vec<f64>,
    /// One entry per parameter seen, in order.
    pub params: Vec<ParamState<T>>,
}

/// State of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Scalar")]
pub struct ParamState<T> {
    /// Parameter name.
    pub name: String,
    /// Parameter shape.
    pub shape: Vec<usize>,
    /// Named buffers (PyTorch's names where PyTorch has them, e.g. `exp_avg`).
    pub buffers: Vec<Buffer<T>>,
}

/// A named state tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Scalar")]
pub struct Buffer<T> {
    /// Name, e.g. `"exp_avg_sq"`.
    pub name: String,
    /// Shape (the parameter's for elementwise state; `[n, n]` for a preconditioner).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<T>,
}

/// A plain hyperparameter struct: serde (with `deny_unknown_fields` and documented defaults),
/// validation with typed errors, and a learning rate.
pub trait Config:
    Clone + std::fmt::Debug + Default + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Optimizer name as PyTorch spells it (`"SGD"`, `"AdamW"`, ...).
    const NAME: &'static str;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Checks every field; the error names the field and its allowed range.
    fn validate(&self) -> Result<(), OptimError>;
}

/// Parameter groups: a default configuration and `(filter, config)` overrides. A parameter
/// belongs to the first group whose filter matches it, else to the default group.
#[derive(Clone, Debug)]
pub struct Groups<C> {
    configs: Vec<C>,
    filters: Vec<ParamFilter>,
    lrs: Vec<f64>,
}

impl<C: Config> Groups<C> {
    /// Validates and stores the configs; the current learning rates start at the configured ones.
    pub fn new(default: C, groups: Vec<(ParamFilter, C)>) -> Result<Self, OptimError> {
        default.validate()?;
        let mut configs = vec![default];
        let mut filters = Vec::with_capacity(groups.len());
        for (f, c) in groups {
            c.validate()?;
            filters.push(f);
            configs.push(c);
        }
        let lrs = configs.iter().map(Config::lr).collect();
        Ok(Groups {
            configs,
            filters,
            lrs,
        })
    }

    /// Index of the group (0 = default) a parameter belongs to.
    pub fn group_of(&self, name: &str, shape: &[usize]) -> usize {
        self.filters
            .iter()
            .position(|f| f.matches(name, shape))
            .map_or(0, |i| i + 1)
    }

    /// Configuration of group `g`.
    pub fn config(&self, g: usize) -> &C {
        &self.configs[g]
    }

    /// Current learning rate of group `g`.
    pub fn lr(&self, g: usize) -> f64 {
        self.lrs[g]
    }

    /// All current learning rates.
    pub fn lrs(&self) -> &[f64] {
        &self.lrs
    }

    /// `lr_g ← f(base_lr_g)` for every group.
    pub fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64) {
        for (lr, c) in self.lrs.iter_mut().zip(&self.configs) {
            *lr = f(c.lr());
        }
    }

    /// Restores saved learning rates (one per group).
    pub fn load_lrs(&mut self, lrs: &[f64]) -> Result<(), OptimError> {
        if lrs.len() != self.lrs.len() {
            return Err(OptimError::StateMismatch(format!(
                "{} learning rates saved, optimizer has {} groups",
                lrs.len(),
                self.lrs.len()
            )));
        }
        self.lrs.copy_from_slice(lrs);
        Ok(())
    }
}

/// Per-parameter bookkeeping shared by optimizers: the name, length and group of each parameter
/// seen at the first step, and its state `S`.
#[derive(Clone, Debug)]
pub struct Slot<S> {
    /// Parameter name.
    pub name: String,
    /// Parameter shape.
    pub shape: Vec<usize>,
    /// Group index.
    pub group: usize,
    /// Optimizer state for this parameter.
    pub state: S,
}

/// Makes sure `slots` matches the selected parameters: creates the slots at the first step (with
/// `init`), afterwards checks names and shapes. Also checks each parameter's own consistency.
pub fn sync_slots<T: Scalar, C: Config, S>(
    slots: &mut Vec<Slot<S>>,
    groups: &Groups<C>,
    params: &[Param<T>],
    subset: Subset<'_>,
    mut init: impl FnMut(&Param<T>, &C) -> S,
) -> Result<(), OptimError> {
    let n = subset.len(params.len());
    for j in 0..n {
        let i = subset.index(j);
        let p = params.get(i).ok_or_else(|| OptimError::ParamMismatch {
            index: i,
            expected: "a parameter".into(),
            found: format!("a list of {} parameters", params.len()),
        })?;
        p.check()?;
    }
    if slots.is_empty() {
        slots.reserve(n);
        for j in 0..n {
            let p = &params[subset.index(j)];
            let group = groups.group_of(&p.name, &p.shape);
            slots.push(Slot {
                name: p.name.clone(),
                shape: p.shape.clone(),
                group,
                state: init(p, groups.config(group)),
            });
        }
        return Ok(());
    }
    if slots.len() != n {
        return Err(OptimError::ParamMismatch {
            index: slots.len().min(n),
            expected: format!("{} parameters", slots.len()),
            found: format!("{n} parameters"),
        });
    }
    for (j, slot) in slots.iter().enumerate() {
        let p = &params[subset.index(j)];
        if p.name != slot.name || p.shape != slot.shape {
            return Err(OptimError::ParamMismatch {
                index: j,
                expected: format!("`{}` {:?}", slot.name, slot.shape),
                found: format!("`{}` {:?}", p.name, p.shape),
            });
        }
    }
    Ok(())
}

/// Applies the non-finite policy to the selected gradients before any update.
///
/// Returns `Ok(None)` when the step may proceed, `Ok(Some(outcome))` when it must be skipped.
pub fn screen_gradients<T: Scalar>(
    policy: NonFinitePolicy,
    params: &[Param<T>],
    subset: Subset<'_>,
    next_step: u64,
) -> Result<Option<StepOutcome>, OptimError> {
    if policy == NonFinitePolicy::Ignore {
        return Ok(None);
    }
    for j in 0..subset.len(params.len()) {
        let p = &params[subset.index(j)];
        if let Some((k, value)) = crate::kernels::first_non_finite(&p.grad) {
            let index = match p.matrix_dims() {
                Some((rows, cols)) => p.layout.row_major_index(k, rows, cols),
                None => k,
            };
            return match policy {
                NonFinitePolicy::Error => Err(OptimError::NonFiniteGradient {
                    param: p.name.clone(),
                    index,
                    step: next_step,
                    value: value.as_f64(),
                }),
                _ => Ok(Some(StepOutcome::Skipped {
                    param: p.name.clone(),
                    index,
                })),
            };
        }
    }
    Ok(None)
}
