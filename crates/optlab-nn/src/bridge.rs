//! The bridge between a burn model and optlab's optimizers.
//!
//! Any [`Optimizer<f32>`] drives a burn model's parameters through a [`GradBridge`]: after
//! `loss.backward()`, [`load_grads`](GradBridge::load_grads) hands each parameter's gradient to
//! an optlab [`Param`] named by the parameter's module path (`"blocks.0.attn.qkv.weight"`) with
//! PyTorch's shape, so [`ParamFilter`](optlab::ParamFilter)s, parameter groups and matrix
//! methods see names and shapes as they would in PyTorch; [`step`](GradBridge::step) runs the
//! optimizer and writes the new values back into the model through burn's `ModuleMapper`,
//! keeping every `ParamId`.
//!
//! **Layout.** burn's `Linear` stores its weight as `[d_input, d_output]` (it computes `x W`),
//! PyTorch's `nn.Linear` as `[out_features, in_features]` (`x Wᵀ`). Shape-dependent rules differ
//! between the two: Muon's `adjust_lr_fn` scale √max(1, rows/cols), which side Shampoo
//! preconditions, fan-in, 2-D views. The bridge therefore presents every `Linear` weight (a 2-D
//! parameter named `weight` directly inside a burn `Linear`, also inside burn's own composite
//! modules) **in PyTorch's shape `[d_output, d_input]`**, and every other parameter (embeddings
//! `[n, d]`, convolution kernels `[c_out, c_in, k_h, k_w]`, norms, biases), which already has
//! PyTorch's layout, as is.
//!
//! Burn's row-major `[d_input, d_output]` buffer *is* the `[d_output, d_input]` matrix stored
//! column-major, so a `Linear` weight is presented without moving data, as a [`Param`] with
//! [`Layout::ColumnMajor`]: elementwise methods do not care about the order, and Muon
//! orthogonalizes through a strided view (Muon on Gᵀ is the transpose of Muon on G; its shape
//! scale comes from the logical shape). At each step the bridge asks the optimizer
//! ([`Optimizer::accepts_layout`]) and transposes, once, to row-major only the weights the
//! optimizer (for a partition: the route a weight takes) does not handle column-major —
//! Shampoo, steepest descent, any method that says nothing. The updates are bit for bit those of
//! the core optimizer on the same tensors in PyTorch's row-major layout, and
//! [`Optimizer::state`] is reported row-major either way. [`read_params`]/[`write_params`]
//! (initialization, checkpoints) give and take row-major values, as PyTorch's `state_dict` holds
//! them.
//!
//! **Host round trip.** On burn's flex CPU backend the bridge reads values and gradients straight
//! from the tensors' storage (one copy each into the host buffers, no intermediate
//! allocation) and writes the updated values into the buffer of the tensor it replaces (burn's
//! tensors own their memory; the old parameter tensor's buffer is taken back once backward has
//! released it), so a step allocates no parameter- or gradient-sized buffer after the first.
//! Other backends go through burn's `TensorData`.
//!
//! **Parameters without a gradient.** A parameter the loss does not depend on gets no gradient
//! from burn's `backward()`. PyTorch's optimizers skip such a parameter (`p.grad is None`): no
//! update, no weight decay, no state. The bridge does the same through
//! [`Optimizer::step_subset`]: the optimizer steps only the parameters that have a gradient, and
//! never creates state for the others. optlab keeps optimizer state by position in the list the
//! optimizer saw at its first step ([`sync_slots`](optlab::optim::sync_slots)), so that set is
//! fixed at the bridge's first step: a parameter whose gradient comes and goes (present at the
//! first step and missing later, or the reverse) is an error naming it and the step
//! ([`NnError::GradientComesAndGoes`]), not a silent deviation — PyTorch would skip it at those
//! steps only (and, for Adam, not advance its per-parameter step count), which a per-position
//! state with one step counter cannot reproduce. For clipping and SAM (which act on the
//! parameters the optimizer steps) such a parameter is not there: it adds nothing to the global
//! norm and is not perturbed, as in PyTorch.
//!
//! [`HostBridge`] is the implementation for backends whose tensors live in host memory (burn's
//! flex CPU backend): it keeps one host copy of the values and gradients, allocated once and
//! reused every step. A device-resident update path (GPU) implements the same trait without
//! changing the training loop, which only talks to the trait; gradient clipping, SAM, averaging
//! and the line search are optimizers (wrappers of `optlab::optim`), so they run wherever the
//! optimizer does.
//!

use std::any::{Any, TypeId};

use burn::backend::flex::FlexTensor;
use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param as BurnParam, ParamId};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use optlab::optim::Subset;
use optlab::param::Layout;
use optlab::{ClosureStep, Eval, OptimError, Optimizer, Param, StepOutcome};

use crate::error::NnError;

/// Moves gradients out of a model, lets optimizers and gradient transforms act on them, and
/// writes updated parameters back.
pub trait GradBridge<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// Reads the current values and the gradients (from `grads` of a `backward()`) of every
    /// parameter of `model`. A parameter without a gradient is marked as such (its buffer reads
    /// zero) and left out of the next [`step`](GradBridge::step).
    fn load_grads(&mut self, model: &M, grads: &B::Gradients) -> Result<(), NnError>;

    /// Global Euclidean norm of all loaded gradients, ‖g‖₂ = (Σ_p ‖g_p‖₂²)^½.
    fn grad_norm(&self) -> f64;

    /// One optimizer step with the loaded gradients on the parameters that have one (the same
    /// set at every step, see the module documentation); returns the updated model.
    fn step(
        &mut self,
        model: M,
        optimizer: &mut dyn Optimizer<f32>,
    ) -> Result<(M, StepOutcome), NnError>;

    /// One [`Optimizer::step_with_closure`] for methods that evaluate the loss again during
    /// their step (SAM's gradient at w + ε, a line search's trial values), on the same
    /// parameters as [`step`](GradBridge::step). The gradients at the model's current values
    /// must be loaded and `loss` be their loss: the optimizer's first closure call (at those
    /// values) is answered from them. For each later call the bridge writes the parameters the
    /// optimizer asks about into the model, calls `eval(model, what)` — the loss, and for
    /// [`Eval::ValueAndGrad`] the gradients of its backward pass — and loads the gradients.
    /// Returns the model at the parameters the step ends with.
    fn step_with_closure(
        &mut self,
        model: M,
        optimizer: &mut dyn Optimizer<f32>,
        loss: f64,
        eval: &mut LossEval<'_, M, B::Gradients>,
    ) -> Result<(M, ClosureStep), NnError>;

    /// The parameters as the optimizer sees them (names, shapes, last loaded values and
    /// gradients).
    fn params(&self) -> &[Param<f32>];
}

/// The loss evaluation a closure-based step calls: `eval(model, what)` returns the loss at the
/// model's values and, for [`Eval::ValueAndGrad`], the gradients of its backward pass.
pub type LossEval<'a, M, G> = dyn FnMut(&M, Eval) -> Result<(f64, Option<G>), NnError> + 'a;

/// [`GradBridge`] through host memory: one `Param<f32>` per burn parameter, reused every step.
pub struct HostBridge {
    params: Vec<Param<f32>>,
    ids: Vec<ParamId>,
    /// How burn stores each parameter, relative to its presented (PyTorch) shape:
    /// [`Layout::ColumnMajor`] for a `Linear` weight, [`Layout::RowMajor`] otherwise.
    stored: Vec<Layout>,
    /// Whether each parameter got a gradient from the last `load_grads`.
    has_grad: Vec<bool>,
    /// Positions of the parameters with a gradient at the first step: what the optimizer steps.
    active: Option<Vec<usize>>,
}

impl HostBridge {
    /// Builds the host buffers for `model`'s parameters (in module order) and reads their values.
    /// `Linear` weights are held column-major (burn's storage order) until an optimizer that
    /// does not accept that layout steps them.
    pub fn new<B: Backend, M: burn::module::Module<B>>(model: &M) -> Result<Self, NnError> {
        let mut collect = Collect::<B>::default();
        model.visit(&mut collect);
        if let Some(e) = collect.error {
            return Err(e);
        }
        Ok(HostBridge {
            has_grad: vec![true; collect.params.len()],
            params: collect.params,
            ids: collect.ids,
            stored: collect.stored,
            active: None,
        })
    }

    /// The host parameters (names, PyTorch shapes, layouts, last loaded values and gradients).
    pub fn params(&self) -> &[Param<f32>] {
        &self.params
    }

    /// The loaded gradients, mutable, in parameter order (the data-parallel trainer sums them
    /// across ranks in place: [`crate::distributed`]).
    pub fn grads_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
        self.params.iter_mut().map(|p| p.grad.as_mut_slice())
    }

    /// Whether each parameter got a gradient from the last `load_grads`.
    pub fn has_grad(&self) -> &[bool] {
        &self.has_grad
    }

    /// Fixes the set of parameters the optimizer steps at the first step; afterwards checks that
    /// the parameters with a gradient are exactly that set. `step` is the optimizer step about
    /// to be taken (for the error).
    fn check_active(&mut self, step: u64) -> Result<(), NnError> {
        check_active(&mut self.active, &self.has_grad, &self.params, step)
    }

    /// Transposes to row-major (once) every column-major parameter that `optimizer` does not
    /// update column-major.
    fn negotiate_layouts(&mut self, optimizer: &dyn Optimizer<f32>) {
        for p in &mut self.params {
            if p.layout != Layout::RowMajor && !optimizer.accepts_layout(p, p.layout) {
                let (rows, cols) = dims2(&p.shape);
                p.layout.convert(Layout::RowMajor, &mut p.data, rows, cols);
                p.layout.convert(Layout::RowMajor, &mut p.grad, rows, cols);
                p.layout = Layout::RowMajor;
            }
        }
    }

    /// Writes the host values into `model`, reusing the replaced tensors' buffers.
    fn write_back<B: AutodiffBackend, M: AutodiffModule<B>>(&self, model: M) -> Result<M, NnError> {
        let mut w = WriteBack {
            params: &self.params,
            ids: &self.ids,
            stored: &self.stored,
            next: 0,
            error: None,
        };
        let model = model.map(&mut w);
        if let Some(e) = w.error {
            return Err(e);
        }
        if w.next != self.params.len() {
            return Err(NnError::ParamMismatch(format!(
                "model has {} parameters, bridge was built for {}",
                w.next,
                self.params.len()
            )));
        }
        Ok(model)
    }
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> GradBridge<B, M> for HostBridge {
    fn load_grads(&mut self, model: &M, grads: &B::Gradients) -> Result<(), NnError> {
        load_grads::<B, M>(
            model,
            grads,
            &mut self.params,
            &self.ids,
            &self.stored,
            &mut self.has_grad,
        )
    }

    fn grad_norm(&self) -> f64 {
        self.params
            .iter()
            .map(|p| f64::from(optlab::kernels::norm2_sq(&p.grad)))
            .sum::<f64>()
            .sqrt()
    }

    fn step(
        &mut self,
        model: M,
        optimizer: &mut dyn Optimizer<f32>,
    ) -> Result<(M, StepOutcome), NnError> {
        self.check_active(optimizer.steps() + 1)?;
        self.negotiate_layouts(optimizer);
        let subset = match &self.active {
            Some(ix) if ix.len() < self.params.len() => Subset::Indices(ix),
            _ => Subset::All,
        };
        let outcome = optimizer.step_subset(&mut self.params, subset)?;
        let model = match outcome {
            StepOutcome::Applied => self.write_back(model)?,
            StepOutcome::Skipped { .. } => model,
        };
        Ok((model, outcome))
    }

    fn step_with_closure(
        &mut self,
        model: M,
        optimizer: &mut dyn Optimizer<f32>,
        loss: f64,
        eval: &mut LossEval<'_, M, B::Gradients>,
    ) -> Result<(M, ClosureStep), NnError> {
        let step = optimizer.steps() + 1;
        self.check_active(step)?;
        self.negotiate_layouts(optimizer);
        let HostBridge {
            params,
            ids,
            stored,
            has_grad,
            active,
        } = self;
        let subset = match &*active {
            Some(ix) if ix.len() < params.len() => Subset::Indices(ix),
            _ => Subset::All,
        };
        let mut model = Some(model);
        let mut first = true;
        let mut failure: Option<NnError> = None;
        let mut closure = |ps: &mut [Param<f32>], what: Eval| -> Result<f64, OptimError> {
            if std::mem::take(&mut first) {
                return Ok(loss); // the gradients at these values are loaded
            }
            let mut evaluate = || -> Result<f64, NnError> {
                let m = model.take().ok_or_else(|| {
                    NnError::ParamMismatch("model lost after a failed evaluation".into())
                })?;
                let m = write_params(m, ps, Some(ids))?;
                let (value, grads) = eval(&m, what)?;
                if let Some(grads) = grads {
                    load_grads::<B, M>(&m, &grads, ps, ids, stored, has_grad)?;
                    let mut fixed = active.clone();
                    check_active(&mut fixed, has_grad, ps, step)?;
                }
                model = Some(m);
                Ok(value)
            };
            evaluate().map_err(|e| {
                let message = e.to_string();
                failure = Some(e);
                OptimError::Objective(message)
            })
        };
        let result = optimizer.step_subset_with_closure(params, subset, &mut closure);
        if let Some(e) = failure {
            return Err(e);
        }
        let outcome = result?;
        let model = model
            .ok_or_else(|| NnError::ParamMismatch("model lost after a failed evaluation".into()))?;
        // The model holds the last point evaluated; give it the parameters the step ends with.
        let model = write_params(model, params, Some(ids))?;
        Ok((model, outcome))
    }

    fn params(&self) -> &[Param<f32>] {
        HostBridge::params(self)
    }
}

/// Fixes `active` (the parameters with a gradient) at the first step; afterwards checks that the
/// parameters with a gradient are exactly that set. `step` is the optimizer step about to be
/// taken (for the error).
fn check_active(
    active: &mut Option<Vec<usize>>,
    has_grad: &[bool],
    params: &[Param<f32>],
    step: u64,
) -> Result<(), NnError> {
    let Some(fixed) = active.as_ref() else {
        *active = Some((0..params.len()).filter(|&i| has_grad[i]).collect());
        return Ok(());
    };
    let mut a = fixed.iter().peekable();
    for (i, &has) in has_grad.iter().enumerate() {
        let was = a.next_if_eq(&&i).is_some();
        if has != was {
            return Err(NnError::GradientComesAndGoes {
                param: params[i].name.clone(),
                step,
                now: has,
            });
        }
    }
    Ok(())
}

/// Reads the values and gradients of `model`'s parameters into `params` (see
/// [`GradBridge::load_grads`]).
fn load_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &B::Gradients,
    params: &mut [Param<f32>],
    ids: &[ParamId],
    stored: &[Layout],
    has_grad: &mut [bool],
) -> Result<(), NnError> {
    let expected = params.len();
    let mut v = LoadGrads::<B> {
        params,
        ids,
        stored,
        has_grad,
        grads,
        next: 0,
        error: None,
    };
    model.visit(&mut v);
    if let Some(e) = v.error {
        return Err(e);
    }
    if v.next != expected {
        return Err(NnError::ParamMismatch(format!(
            "model has {} parameters, bridge was built for {expected}",
            v.next
        )));
    }
    Ok(())
}

/// The parameters of `model` (names, PyTorch shapes, row-major values as in PyTorch's
/// `state_dict`; zero gradients), in module order.
pub fn read_params<B: Backend, M: burn::module::Module<B>>(
    model: &M,
) -> Result<Vec<Param<f32>>, NnError> {
    Ok(HostBridge::new(model)?
        .params
        .iter()
        .map(|p| p.to_layout(Layout::RowMajor))
        .collect())
}

/// Replaces the values of `model`'s parameters by `params` (same order, names and PyTorch
/// shapes, as given by [`read_params`]; values in each param's `layout`, row-major unless it
/// says otherwise); when `ids` is given, the parameter ids must match too.
pub fn write_params<B: Backend, M: burn::module::Module<B>>(
    model: M,
    params: &[Param<f32>],
    ids: Option<&[ParamId]>,
) -> Result<M, NnError> {
    let mut w = Write {
        params,
        ids,
        path: Vec::new(),
        containers: Vec::new(),
        next: 0,
        error: None,
    };
    let model = model.map(&mut w);
    if let Some(e) = w.error {
        return Err(e);
    }
    if w.next != params.len() {
        return Err(NnError::ParamMismatch(format!(
            "model has {} parameters, {} values given",
            w.next,
            params.len()
        )));
    }
    Ok(model)
}

/// How burn stores a `D`-dimensional parameter reached through `path` (where `containers[i]` is
/// the container type burn reported when entering `path[i]`, e.g. `"Struct:Linear"`), relative
/// to its presented (PyTorch) shape: a `Linear` weight, burn `[d_input, d_output]` row-major, is
/// `[d_output, d_input]` column-major; everything else is row-major in its own shape.
fn stored_layout(path: &[String], containers: &[String], dims: usize) -> Layout {
    let linear_weight = dims == 2
        && path.last().is_some_and(|n| n == "weight")
        && containers.last().is_some_and(|c| c == "Struct:Linear");
    if linear_weight {
        Layout::ColumnMajor
    } else {
        Layout::RowMajor
    }
}

/// The presented (PyTorch) shape of a parameter burn stores with `burn_shape` in `stored`.
fn presented_shape(stored: Layout, burn_shape: &[usize]) -> Vec<usize> {
    match (stored, burn_shape) {
        (Layout::ColumnMajor, [r, c]) => vec![*c, *r],
        _ => burn_shape.to_vec(),
    }
}

/// The 2-D view `rows × cols` of a shape (`(n, 1)` for vectors and scalars), for layout
/// conversions (which only ever reorder matrices).
fn dims2(shape: &[usize]) -> (usize, usize) {
    match shape {
        [rows, rest @ ..] if !rest.is_empty() => (*rows, rest.iter().product()),
        _ => (shape.iter().product(), 1),
    }
}

/// Copies a tensor's values, stored as `stored` relative to the presented `shape`, into `dst`
/// in `layout` (converting to `f32` if the backend's float differs). On burn's flex backend the
/// tensor's storage is read in place; other backends go through `TensorData`.
fn copy_into<B: Backend, const D: usize>(
    tensor: Tensor<B, D>,
    stored: Layout,
    dst: &mut [f32],
    shape: &[usize],
    layout: Layout,
    name: &str,
) -> Result<(), NnError> {
    let bad = |message: String| NnError::TensorData {
        param: name.to_string(),
        message,
    };
    let (rows, cols) = dims2(shape);
    let copy = |src: &[f32], dst: &mut [f32]| {
        if src.len() != dst.len() {
            return Err(bad(format!(
                "{} values, buffer has {}",
                src.len(),
                dst.len()
            )));
        }
        stored.copy_to(src, layout, rows, cols, dst);
        Ok(())
    };
    let primitive = match tensor.into_primitive() {
        TensorPrimitive::Float(t) => t,
        q @ TensorPrimitive::QFloat(_) => q.tensor(),
    };
    if let Some(src) = (&primitive as &dyn Any)
        .downcast_ref::<FlexTensor>()
        .and_then(FlexTensor::as_slice::<f32>)
    {
        return copy(src, dst);
    }
    let data = Tensor::<B, D>::from_primitive(TensorPrimitive::Float(primitive)).into_data();
    let data = if data.dtype == burn::tensor::DType::F32 {
        data
    } else {
        data.convert::<f32>()
    };
    let src = data.as_slice::<f32>().map_err(|e| bad(format!("{e:?}")))?;
    copy(src, dst)
}

/// A host buffer of `n` values for the tensor that replaces `old`: on burn's flex backend,
/// `old`'s own buffer when it is the last reference to it (no allocation), else a new one.
fn recycle<B: AutodiffBackend, const D: usize>(old: Tensor<B, D>, n: usize) -> Vec<f32> {
    let inner_is_flex = TypeId::of::<FloatTensor<B::InnerBackend>>() == TypeId::of::<FlexTensor>();
    if inner_is_flex {
        let data = old.inner().into_data();
        if data.dtype == burn::tensor::DType::F32
            && let Ok(v) = data.into_vec::<f32>()
            && v.len() == n
        {
            return v;
        }
    }
    vec![0.0; n]
}

#[derive(Default)]
struct Collect<B> {
    path: Vec<String>,
    containers: Vec<String>,
    params: Vec<Param<f32>>,
    ids: Vec<ParamId>,
    stored: Vec<Layout>,
    error: Option<NnError>,
    _b: std::marker::PhantomData<B>,
}

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &BurnParam<Tensor<B, D>>) {
        if self.error.is_some() {
            return;
        }
        let value = param.val();
        let stored = stored_layout(&self.path, &self.containers, D);
        let shape = presented_shape(stored, &value.dims());
        let mut p = Param::zeros(self.path.join("."), shape);
        // Held as burn stores it: no data moves.
        p.layout = stored;
        match copy_into(value, stored, &mut p.data, &p.shape, p.layout, &p.name) {
            Ok(()) => {
                self.params.push(p);
                self.ids.push(param.id);
                self.stored.push(stored);
            }
            Err(e) => self.error = Some(e),
        }
    }
}

struct LoadGrads<'a, B: AutodiffBackend> {
    params: &'a mut [Param<f32>],
    ids: &'a [ParamId],
    stored: &'a [Layout],
    has_grad: &'a mut [bool],
    grads: &'a B::Gradients,
    next: usize,
    error: Option<NnError>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for LoadGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &BurnParam<Tensor<B, D>>) {
        if self.error.is_some() {
            return;
        }
        let i = self.next;
        self.next += 1;
        let (Some(p), Some(id), Some(&stored), Some(has_grad)) = (
            self.params.get_mut(i),
            self.ids.get(i),
            self.stored.get(i),
            self.has_grad.get_mut(i),
        ) else {
            return; // counted; reported after the visit
        };
        if *id != param.id {
            self.error = Some(NnError::ParamMismatch(format!(
                "parameter {i} (`{}`) has a different id than when the bridge was built",
                p.name
            )));
            return;
        }
        let value = param.val();
        let grad = value.grad(self.grads);
        *has_grad = grad.is_some();
        let result = match grad {
            Some(g) => copy_into(g, stored, &mut p.grad, &p.shape, p.layout, &p.name),
            None => {
                p.zero_grad();
                Ok(())
            }
        }
        .and_then(|()| {
            copy_into(
                value.inner(),
                stored,
                &mut p.data,
                &p.shape,
                p.layout,
                &p.name,
            )
        });
        if let Err(e) = result {
            self.error = Some(e);
        }
    }
}

/// The per-step write-back: parameters matched by position and id (no names built).
struct WriteBack<'a> {
    params: &'a [Param<f32>],
    ids: &'a [ParamId],
    stored: &'a [Layout],
    next: usize,
    error: Option<NnError>,
}

impl<B: AutodiffBackend> ModuleMapper<B> for WriteBack<'_> {
    fn map_float<const D: usize>(
        &mut self,
        param: BurnParam<Tensor<B, D>>,
    ) -> BurnParam<Tensor<B, D>> {
        let i = self.next;
        self.next += 1;
        if self.error.is_some() {
            return param;
        }
        let (Some(p), Some(&stored)) = (self.params.get(i), self.stored.get(i)) else {
            return param; // counted; reported after the map
        };
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        if self.ids.get(i) != Some(&id) || shape.num_elements() != p.numel() {
            self.error = Some(NnError::ParamMismatch(format!(
                "parameter {i} (`{}`) is not the one the bridge was built for",
                p.name
            )));
            return BurnParam::from_mapped_value(id, tensor, mapper);
        }
        let require_grad = tensor.is_require_grad();
        let device = tensor.device();
        let mut values = recycle(tensor, p.numel());
        let (rows, cols) = dims2(&p.shape);
        p.layout.copy_to(&p.data, stored, rows, cols, &mut values);
        let mut fresh = Tensor::<B, D>::from_data(TensorData::new(values, shape), &device);
        if require_grad {
            fresh = fresh.require_grad();
        }
        BurnParam::from_mapped_value(id, fresh, mapper)
    }
}

/// [`write_params`]: parameters matched by position, name, presented shape and (optionally) id.
struct Write<'a> {
    params: &'a [Param<f32>],
    ids: Option<&'a [ParamId]>,
    path: Vec<String>,
    containers: Vec<String>,
    next: usize,
    error: Option<NnError>,
}

impl<B: Backend> ModuleMapper<B> for Write<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn map_float<const D: usize>(
        &mut self,
        param: BurnParam<Tensor<B, D>>,
    ) -> BurnParam<Tensor<B, D>> {
        let i = self.next;
        self.next += 1;
        if self.error.is_some() {
            return param;
        }
        let Some(p) = self.params.get(i) else {
            return param; // counted; reported after the map
        };
        let name = self.path.join(".");
        let (id, tensor, mapper) = param.consume();
        let burn_shape = tensor.shape().dims::<D>().to_vec();
        let stored = stored_layout(&self.path, &self.containers, D);
        let shape = presented_shape(stored, &burn_shape);
        let id_ok = self.ids.is_none_or(|ids| ids.get(i) == Some(&id));
        if p.name != name || p.shape != shape || !id_ok || p.check().is_err() {
            self.error = Some(NnError::ParamMismatch(format!(
                "parameter {i}: model has `{name}` {shape:?}, values are for `{}` {:?}",
                p.name, p.shape
            )));
            return BurnParam::from_mapped_value(id, tensor, mapper);
        }
        let mut values = vec![0.0; p.numel()];
        let (rows, cols) = dims2(&p.shape);
        p.layout.copy_to(&p.data, stored, rows, cols, &mut values);
        let require_grad = tensor.is_require_grad();
        let device = tensor.device();
        let mut fresh = Tensor::<B, D>::from_data(TensorData::new(values, burn_shape), &device);
        if require_grad {
            fresh = fresh.require_grad();
        }
        BurnParam::from_mapped_value(id, fresh, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_linear_weights_are_column_major() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let lin = p(&[
            "Struct:Gpt",
            "Vec",
            "Struct:Block",
            "Struct:FeedForward",
            "Struct:Linear",
        ]);
        let path = p(&["blocks", "0", "mlp", "fc", "weight"]);
        assert_eq!(stored_layout(&path, &lin, 2), Layout::ColumnMajor);
        assert_eq!(presented_shape(Layout::ColumnMajor, &[4, 3]), vec![3, 4]);
        let bias = p(&["blocks", "0", "mlp", "fc", "bias"]);
        assert_eq!(stored_layout(&bias, &lin, 1), Layout::RowMajor);
        let emb = p(&["Struct:Gpt", "Struct:Embedding"]);
        assert_eq!(
            stored_layout(&p(&["tok_embed", "weight"]), &emb, 2),
            Layout::RowMajor
        );
        let conv = p(&["Struct:Cnn", "Struct:Conv2d"]);
        assert_eq!(
            stored_layout(&p(&["conv1", "weight"]), &conv, 4),
            Layout::RowMajor
        );
        assert_eq!(
            presented_shape(Layout::RowMajor, &[6, 1, 5, 5]),
            vec![6, 1, 5, 5]
        );
    }
}
