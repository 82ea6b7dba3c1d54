//! Optimizers: the [`Optimizer`] trait, parameter groups, non-finite gradient policy and
//! serializable state.
//!
//! Each method family lives in its own file whose update reads like the lecture's per-coordinate
//! formula. Elementwise methods (SGD, Adagrad, RMSProp, Adadelta, the Adam family, Rprop, ASGD,
//! Lion, schedule-free AdamW/SGD, sign descent) are a [`Rule`](elementwise::Rule) — the formula
//! for one coordinate — run by the shared fused driver [`Elementwise`](elementwise::Elementwise):
//! one pass over `(param, grad, state)` per step, split across threads for large tensors,
//! allocation-free for small ones. Methods that need a global quantity (normalized gradient
//! descent: ‖g‖₂ over all parameters; Adafactor: RMS of each parameter and row/column means)
//! implement [`Optimizer`] themselves with the same [`Groups`], [`sync_slots`] and
//! [`screen_gradients`].
//!
//! Two extensions of a plain step, both with defaults that every optimizer inherits:
//! [`Optimizer::step_with_closure`] for methods that evaluate the objective during their step
//! (L-BFGS, whose plain `step` is [`OptimError::ClosureRequired`]), and
//! [`Optimizer::eval_params`] for methods evaluated elsewhere than where gradients are taken
//! (ASGD's average, schedule-free's x).
//!
//! Composition (optax's transforms): [`clip`], [`sam`], [`averaging`] and [`armijo`] wrap a boxed
//! inner optimizer and are optimizers themselves (state included, saved and restored exactly);
//! [`wrap::Wrappers`] applies them in a fixed order. Methods that evaluate the objective during
//! a step (SAM's second gradient, a line search's trial values) step through
//! [`Optimizer::step_with_closure`], PyTorch's `step(closure)`; evaluation-time parameters (an
//! average of the iterates) come from [`Optimizer::eval_params`].
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

/// The [`Optimizer`] methods a wrapper (a struct with `name: String` and
/// `inner: Box<dyn Optimizer<T>>`) passes through to the optimizer it wraps, one name per method:
/// `name` (the wrapper's own), `steps`, `lr`, `base_lr`, `set_lrs`, `set_nonfinite_policy`,
/// `accepts_layout` (for wrappers that act elementwise), `requires_closure`, `eval_params`,
/// `state`/`load_state` (the inner state under the wrapper's name), `step_with_closure` (its
/// `step_subset_with_closure` on every parameter), and `step_subset_closure_required` (for
/// wrappers that cannot step without a closure: a plain step is
/// [`OptimError::ClosureRequired`]).
macro_rules! delegate_to_inner {
    ($($method:ident),* $(,)?) => { $( delegate_to_inner!(@ $method); )* };
    (@name) => {
        fn name(&self) -> &str {
            &self.name
        }
    };
    (@steps) => {
        fn steps(&self) -> u64 {
            self.inner.steps()
        }
    };
    (@lr) => {
        fn lr(&self) -> f64 {
            self.inner.lr()
        }
    };
    (@base_lr) => {
        fn base_lr(&self) -> f64 {
            self.inner.base_lr()
        }
    };
    (@set_lrs) => {
        fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64) {
            self.inner.set_lrs(f);
        }
    };
    (@set_nonfinite_policy) => {
        fn set_nonfinite_policy(&mut self, policy: $crate::optim::NonFinitePolicy) {
            self.inner.set_nonfinite_policy(policy);
        }
    };
    (@accepts_layout) => {
        fn accepts_layout(&self, param: &$crate::param::Param<T>, layout: $crate::param::Layout) -> bool {
            self.inner.accepts_layout(param, layout)
        }
    };
    (@requires_closure) => {
        fn requires_closure(&self) -> bool {
            self.inner.requires_closure()
        }
    };
    (@eval_params) => {
        fn eval_params(
            &self,
            params: &[$crate::param::Param<T>],
            out: &mut [$crate::param::Param<T>],
        ) -> Result<bool, $crate::error::OptimError> {
            self.inner.eval_params(params, out)
        }
    };
    (@state) => {
        fn state(&self) -> $crate::optim::OptimizerState<T> {
            $crate::optim::rename_state(&self.name, self.inner.state())
        }
    };
    (@load_state) => {
        fn load_state(
            &mut self,
            state: &$crate::optim::OptimizerState<T>,
        ) -> Result<(), $crate::error::OptimError> {
            $crate::optim::load_renamed(&self.name, self.inner.as_mut(), state)
        }
    };
    (@step_subset_closure_required) => {
        fn step_subset(
            &mut self,
            _: &mut [$crate::param::Param<T>],
            _: $crate::optim::Subset<'_>,
        ) -> Result<$crate::optim::StepOutcome, $crate::error::OptimError> {
            Err($crate::error::OptimError::ClosureRequired {
                optimizer: self.name.clone(),
            })
        }
    };
    (@step_with_closure) => {
        fn step_with_closure(
            &mut self,
            params: &mut [$crate::param::Param<T>],
            closure: &mut dyn $crate::optim::Closure<T>,
        ) -> Result<$crate::optim::ClosureStep, $crate::error::OptimError> {
            self.step_subset_with_closure(params, $crate::optim::Subset::All, closure)
        }
    };
}

pub mod adadelta;
pub mod adafactor;
pub mod adagrad;
pub mod adam;
pub mod adamax;
pub mod armijo;
pub mod asgd;
pub mod averaging;
pub mod clip;
pub mod elementwise;
pub mod lbfgs;
pub mod lion;
pub mod lmo;
pub mod muon;
pub mod nadam;
pub mod normalized;
pub mod partition;
pub mod radam;
pub mod registry;
pub mod rmsprop;
pub mod rprop;
pub mod sam;
pub mod schedule_free;
pub mod sgd;
pub mod shampoo;
pub mod wrap;

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
    ///
    /// Contract for implementations: the **first** call is `Eval::ValueAndGrad` at the
    /// parameters as handed in, so a caller that has just computed that gradient may answer it
    /// from memory (the network trainer does: its forward/backward pass of the step is that
    /// first evaluation).
    fn step_with_closure(
        &mut self,
        params: &mut [Param<T>],
        closure: &mut dyn Closure<T>,
    ) -> Result<ClosureStep, OptimError> {
        let loss = closure.evaluate(params, Eval::ValueAndGrad)?;
        let outcome = self.step(params)?;
        Ok(ClosureStep { outcome, loss })
    }

    /// [`step_with_closure`](Optimizer::step_with_closure) on the selected parameters of
    /// `params` (the closure still sees, and evaluates, the whole list). The default hands
    /// [`Subset::All`] to `step_with_closure`, so a closure-based method that only implements
    /// that works through both; otherwise it evaluates the closure once and calls
    /// [`step_subset`](Optimizer::step_subset). The composition wrappers ([`clip`], [`sam`],
    /// [`averaging`], [`armijo`]) implement this one.
    fn step_subset_with_closure(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
        closure: &mut dyn Closure<T>,
    ) -> Result<ClosureStep, OptimError> {
        if let Subset::All = subset {
            return self.step_with_closure(params, closure);
        }
        let loss = closure.evaluate(params, Eval::ValueAndGrad)?;
        let outcome = self.step_subset(params, subset)?;
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

/// What an optimizer built on parameter groups keeps besides its method's own state: the
/// [`Groups`], one [`Slot`] per parameter with state `S`, the step count and the non-finite
/// policy. [`grouped_accessors!`] implements the [`Optimizer`] methods that only read or set
/// these.
#[derive(Clone, Debug)]
pub struct Grouped<C, S> {
    /// Configurations, filters and current learning rates.
    pub groups: Groups<C>,
    /// Per-parameter state, created at the first step.
    pub slots: Vec<Slot<S>>,
    /// Steps applied.
    pub step: u64,
    /// What to do with a non-finite gradient.
    pub policy: NonFinitePolicy,
}

impl<C: Config, S> Grouped<C, S> {
    /// Validated groups, no slots yet, step 0, [`NonFinitePolicy::Error`].
    pub fn new(default: C, groups: Vec<(ParamFilter, C)>) -> Result<Self, OptimError> {
        Ok(Grouped {
            groups: Groups::new(default, groups)?,
            slots: Vec::new(),
            step: 0,
            policy: NonFinitePolicy::default(),
        })
    }

    /// A state snapshot: the step, the current learning rates and `buffers(slot)` for each
    /// parameter.
    pub fn snapshot<T>(
        &self,
        name: &str,
        buffers: impl FnMut(&Slot<S>) -> Vec<Buffer<T>>,
    ) -> OptimizerState<T> {
        snapshot(name, self.step, &self.groups, &self.slots, buffers)
    }

    /// Restores a snapshot of `name`'s state, each parameter's `S` from `state_of`.
    pub fn load<T>(
        &mut self,
        state: &OptimizerState<T>,
        name: &str,
        state_of: impl FnMut(&ParamState<T>) -> Result<S, OptimError>,
    ) -> Result<(), OptimError> {
        let slots = load_slots(&self.groups, state, name, state_of)?;
        self.groups.load_lrs(&state.lrs)?;
        self.slots = slots;
        self.step = state.step;
        Ok(())
    }
}

/// A state snapshot of an optimizer named `name` at step `step`: the groups' current learning
/// rates and `buffers(slot)` for each parameter.
pub fn snapshot<T, C: Config, S>(
    name: &str,
    step: u64,
    groups: &Groups<C>,
    slots: &[Slot<S>],
    mut buffers: impl FnMut(&Slot<S>) -> Vec<Buffer<T>>,
) -> OptimizerState<T> {
    OptimizerState {
        optimizer: name.to_string(),
        step,
        lrs: groups.lrs().to_vec(),
        params: slots
            .iter()
            .map(|slot| ParamState {
                name: slot.name.clone(),
                shape: slot.shape.clone(),
                buffers: buffers(slot),
            })
            .collect(),
    }
}

/// The slots of a saved state of the optimizer `name` (refusing another's), each parameter's
/// state from `state_of` and its group from `groups`.
pub fn load_slots<T, C: Config, S>(
    groups: &Groups<C>,
    state: &OptimizerState<T>,
    name: &str,
    mut state_of: impl FnMut(&ParamState<T>) -> Result<S, OptimError>,
) -> Result<Vec<Slot<S>>, OptimError> {
    check_state_owner(state, name)?;
    state
        .params
        .iter()
        .map(|ps| {
            Ok(Slot {
                name: ps.name.clone(),
                shape: ps.shape.clone(),
                group: groups.group_of(&ps.name, &ps.shape),
                state: state_of(ps)?,
            })
        })
        .collect()
}

/// The [`Optimizer`] methods that only read or set a [`Grouped`] (`name` from the config's
/// [`Config::NAME`], `steps`, `lr`, `base_lr`, `set_lrs`, `set_nonfinite_policy`), for an
/// optimizer whose field `$base` is one; invoked inside its `impl Optimizer<T>` block.
macro_rules! grouped_accessors {
    ($cfg:ty, $base:tt) => {
        fn name(&self) -> &str {
            <$cfg as $crate::optim::Config>::NAME
        }

        fn steps(&self) -> u64 {
            self.$base.step
        }

        fn lr(&self) -> f64 {
            self.$base.groups.lr(0)
        }

        fn base_lr(&self) -> f64 {
            $crate::optim::Config::lr(self.$base.groups.config(0))
        }

        fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64) {
            self.$base.groups.set_lrs(f);
        }

        fn set_nonfinite_policy(&mut self, policy: $crate::optim::NonFinitePolicy) {
            self.$base.policy = policy;
        }
    };
}
pub(crate) use grouped_accessors;

/// Refuses a state saved by another optimizer than `name`.
pub fn check_state_owner<T>(state: &OptimizerState<T>, name: &str) -> Result<(), OptimError> {
    if state.optimizer == name {
        Ok(())
    } else {
        Err(OptimError::StateMismatch(format!(
            "state of `{}` loaded into `{name}`",
            state.optimizer
        )))
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
#[inline]
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
            return non_finite_outcome(policy, p, k, value, next_step);
        }
    }
    Ok(None)
}

/// What [`screen_gradients`] answers for the non-finite `value` at flat index `k` of `p`'s
/// gradient (kept out of the per-step path).
#[cold]
#[inline(never)]
fn non_finite_outcome<T: Scalar>(
    policy: NonFinitePolicy,
    p: &Param<T>,
    k: usize,
    value: T,
    next_step: u64,
) -> Result<Option<StepOutcome>, OptimError> {
    let index = match p.matrix_dims() {
        Some((rows, cols)) => p.layout.row_major_index(k, rows, cols),
        None => k,
    };
    match policy {
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
    }
}

/// The state of a composition wrapper ([`averaging`], [`armijo`]): the inner optimizer's state
/// under the wrapper's `name`, its parameters' entries renamed `inner/<name>`, followed by the
/// wrapper's own entries (named `<tag>/...` by the wrapper).
pub(crate) fn nest_state<T: Scalar>(
    name: &str,
    inner: OptimizerState<T>,
    own: Vec<ParamState<T>>,
) -> OptimizerState<T> {
    let mut params: Vec<ParamState<T>> = inner
        .params
        .into_iter()
        .map(|p| ParamState {
            name: format!("inner/{}", p.name),
            ..p
        })
        .collect();
    params.extend(own);
    OptimizerState {
        optimizer: name.to_string(),
        step: inner.step,
        lrs: inner.lrs,
        params,
    }
}

/// Undoes [`nest_state`]: the inner optimizer's state (named `inner_name`) and the wrapper's own
/// entries (those named `<tag>/...`), after checking that `state` was saved by `name`.
pub(crate) fn split_state<T: Scalar>(
    state: &OptimizerState<T>,
    name: &str,
    inner_name: &str,
    tag: &str,
) -> Result<(OptimizerState<T>, Vec<ParamState<T>>), OptimError> {
    if state.optimizer != name {
        return Err(OptimError::StateMismatch(format!(
            "state of `{}` loaded into `{name}`",
            state.optimizer
        )));
    }
    let mut inner = OptimizerState {
        optimizer: inner_name.to_string(),
        step: state.step,
        lrs: state.lrs.clone(),
        params: Vec::new(),
    };
    let mut own = Vec::new();
    let prefix = format!("{tag}/");
    for p in &state.params {
        if let Some(n) = p.name.strip_prefix("inner/") {
            inner.params.push(ParamState {
                name: n.to_string(),
                ..p.clone()
            });
        } else if p.name.starts_with(&prefix) {
            own.push(p.clone());
        } else {
            return Err(OptimError::StateMismatch(format!(
                "entry `{}` of `{name}` is neither `inner/...` nor `{prefix}...`",
                p.name
            )));
        }
    }
    Ok((inner, own))
}

/// The state of a stateless wrapper (clipping, SAM): the inner optimizer's state under the
/// wrapper's name.
pub(crate) fn rename_state<T: Scalar>(name: &str, inner: OptimizerState<T>) -> OptimizerState<T> {
    OptimizerState {
        optimizer: name.to_string(),
        ..inner
    }
}

/// Loads a state saved by a stateless wrapper named `name` — or by its inner optimizer alone
/// (a checkpoint written before the wrapper was added) — into `inner`.
pub(crate) fn load_renamed<T: Scalar>(
    name: &str,
    inner: &mut dyn Optimizer<T>,
    state: &OptimizerState<T>,
) -> Result<(), OptimError> {
    if state.optimizer == name {
        let inner_state = OptimizerState {
            optimizer: inner.name().to_string(),
            ..state.clone()
        };
        inner.load_state(&inner_state)
    } else if state.optimizer == inner.name() {
        inner.load_state(state)
    } else {
        Err(OptimError::StateMismatch(format!(
            "state of `{}` loaded into `{name}`",
            state.optimizer
        )))
    }
}

/// `f64` values (a wrapper's running sums, an accepted step) as buffer entries of `T`, exactly:
/// each value's 64 bits as three integers below 2²² (exact in `f32` and `f64`, and in JSON).
pub(crate) fn encode_f64<T: Scalar>(values: &[f64]) -> Vec<T> {
    let mut out = Vec::with_capacity(3 * values.len());
    for v in values {
        let bits = v.to_bits();
        for shift in [42u32, 21, 0] {
            out.push(T::of(((bits >> shift) & ((1 << 22) - 1)) as f64));
        }
    }
    out
}

/// Inverse of [`encode_f64`]; `what` names the buffer in the error.
pub(crate) fn decode_f64<T: Scalar>(data: &[T], what: &str) -> Result<Vec<f64>, OptimError> {
    if !data.len().is_multiple_of(3) {
        return Err(OptimError::StateMismatch(format!(
            "buffer `{what}` has {} entries, not a multiple of 3",
            data.len()
        )));
    }
    let mut out = Vec::with_capacity(data.len() / 3);
    for chunk in data.chunks_exact(3) {
        let mut bits = 0u64;
        for (&c, shift) in chunk.iter().zip([42u32, 21, 0]) {
            let v = c.as_f64();
            if !(v.fract() == 0.0 && (0.0..4_194_304.0).contains(&v)) {
                return Err(OptimError::StateMismatch(format!(
                    "buffer `{what}` holds {v}, not an encoded f64"
                )));
            }
            bits |= (v as u64) << shift;
        }
        out.push(f64::from_bits(bits));
    }
    Ok(out)
}

/// ‖g‖₂ over the selected parameters' gradients, summed in `f64` parameter by parameter (the
/// global norm of `torch.nn.utils.clip_grad_norm_` and of SAM's ascent step). Positions past
/// the end of `params` are ignored (the optimizer stepping them reports them).
pub fn global_grad_norm<T: Scalar>(params: &[Param<T>], subset: Subset<'_>) -> f64 {
    (0..subset.len(params.len()))
        .filter_map(|j| params.get(subset.index(j)))
        .map(|p| crate::kernels::norm2_sq(&p.grad).as_f64())
        .sum::<f64>()
        .sqrt()
}

/// Checks that every selected position exists in `params` (wrappers index the list before the
/// inner optimizer checks it).
pub(crate) fn check_subset<T: Scalar>(
    params: &[Param<T>],
    subset: Subset<'_>,
) -> Result<(), OptimError> {
    for j in 0..subset.len(params.len()) {
        let i = subset.index(j);
        if i >= params.len() {
            return Err(OptimError::ParamMismatch {
                index: i,
                expected: "a parameter".into(),
                found: format!("a list of {} parameters", params.len()),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod wrapper_helper_tests {
    use super::*;

    #[test]
    fn f64_codec_is_exact_in_f32_and_f64() -> Result<(), OptimError> {
        let values = [0.1, -3.5e300, f64::MIN_POSITIVE / 3.0, 0.0, -0.0, 1.0 / 3.0];
        let a: Vec<f32> = encode_f64(&values);
        let b: Vec<f64> = encode_f64(&values);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&decode_f64(&a, "t")?), bits(&values));
        assert_eq!(bits(&decode_f64(&b, "t")?), bits(&values));
        // through JSON too
        let json = serde_json::to_string(&a).map_err(|e| OptimError::Objective(e.to_string()))?;
        let back: Vec<f32> =
            serde_json::from_str(&json).map_err(|e| OptimError::Objective(e.to_string()))?;
        assert_eq!(bits(&decode_f64(&back, "t")?), bits(&values));
        assert!(decode_f64(&[0.5f32, 0.0, 0.0], "t").is_err());
        assert!(decode_f64(&[1.0f32], "t").is_err());
        Ok(())
    }
}
