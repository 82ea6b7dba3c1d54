//! Muon: momentum orthogonalized by Newton–Schulz (PyTorch `torch.optim.Muon`).
//!
//! For a matrix parameter W (`rows × cols`; a tensor of more dimensions uses its 2D view
//! `shape[0] × Π shape[1..]`, see [`Param::matrix_dims`]) with gradient G, at every step:
//!
//! ```text
//! B ← B + (1 − μ)(G − B)                      (= μB + (1 − μ)G, momentum μ; B₀ = 0)
//! U ← G + μ(B − G)      if nesterov           (= lerp(G, B, μ))
//! U ← B                 otherwise
//! O ← NS_k(U)           ≈ U_polar = U_U V_Uᵀ  (k quintic Newton–Schulz steps, (a, b, c),
//!                                              after U / max(‖U‖_F, ε))
//! W ← W (1 − α λ)                              (decoupled weight decay λ)
//! W ← W − α · s(rows, cols) · O
//! ```
//!
//! with the shape scale `s = √max(1, rows/cols)` (`adjust_lr_fn = None` or `"original"`, Keller
//! Jordan's) or `s = 0.2·√max(rows, cols)` (`"match_rms_adamw"`, Moonshot's: the update then has
//! the RMS of a typical AdamW update, so AdamW's learning rate and weight decay carry over).
//! Per coordinate, everything but NS is elementwise; NS is the matrix step that turns the
//! momentum into (approximately) the steepest-descent direction under the spectral norm.
//!
//! PyTorch's hyperparameters and defaults: `lr = 1e-3`, `weight_decay = 0.1`, `momentum = 0.95`,
//! `nesterov = true`, `ns_coefficients = (3.4445, −4.7750, 2.0315)`, `eps = 1e-7`,
//! `ns_steps = 5`, `adjust_lr_fn = None`. optlab adds `orthogonalizer`
//! (`"newton_schulz"` (default), `"polar_express"` — `ns_steps` Polar Express steps with the
//! published coefficients, input scaled by `1.01‖U‖_F + ε` — or `"svd"`, the exact polar factor).
//! The iteration runs in the parameter's precision (PyTorch runs it in bfloat16; its reference
//! traces for optlab were generated in float64).
//!
//! A step either completes or changes nothing: with `orthogonalizer = "svd"` (the only one that
//! can fail: the SVD refuses a non-finite input, e.g. a NaN gradient under
//! [`NonFinitePolicy::Ignore`]) every parameter's orthogonalized update is computed before any
//! momentum buffer or parameter changes; the refusal is an [`OptimError::Numerical`] naming the
//! parameter and the step.
//!
//! Layout: a 2-D parameter may be stored column-major ([`Layout::ColumnMajor`], how the burn
//! bridge holds a `Linear` weight in PyTorch's `[out, in]` shape). Muon on the stored transpose
//! `Gᵀ` is the transpose of Muon on `G`; optlab reads the matrix through a strided view, takes
//! the shape scale from the logical shape, and keeps the momentum buffer in storage order, so the
//! update is bit for bit the row-major one (the state is reported row-major).
//!
//! Like PyTorch's, this Muon only accepts matrices (two or more dimensions): a vector or scalar
//! parameter is an error naming it. Route biases, gains and embeddings to another optimizer with
//! a [`Partition`](super::partition::Partition) (the `MuonAdamW` recipe does exactly this).
//!
//! Papers: Jordan et al., "Muon: An optimizer for hidden layers in neural networks" (2024);
//! Liu et al., "Muon is Scalable for LLM Training" (Moonshot AI, 2025); Bernstein & Newhouse,
//! "Old Optimizer, New Norm: An Anthology" (2024).

use faer::{MatMut, MatRef};
use serde::{Deserialize, Serialize};

use super::{
    Buffer, Config, Groups, NonFinitePolicy, Optimizer, OptimizerState, ParamState, Slot,
    StepOutcome, Subset, screen_gradients, sync_slots,
};
use crate::error::{OptimError, check};
use crate::linalg::{
    LinalgError, NS_COEFFICIENTS, NS_STEPS, Normalization, OrthoMethod, Orthogonalizer,
    WorkspaceCache,
};
use crate::param::{Layout, Param, ParamFilter};
use crate::scalar::Scalar;

/// How Muon scales its learning rate with the matrix shape (PyTorch's `adjust_lr_fn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustLrFn {
    /// `√max(1, rows/cols)` (Keller Jordan's; also what `None` means).
    Original,
    /// `0.2·√max(rows, cols)` (Moonshot's: match AdamW's update RMS).
    MatchRmsAdamw,
}

/// Muon hyperparameters, PyTorch's names and defaults (plus `orthogonalizer`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MuonConfig {
    /// Learning rate α ≥ 0 (default 1e-3).
    pub lr: f64,
    /// Decoupled weight decay λ ≥ 0: W ← W(1 − αλ) (default 0.1).
    pub weight_decay: f64,
    /// Momentum μ ∈ [0, 1] of the EMA buffer (default 0.95).
    pub momentum: f64,
    /// Nesterov momentum: orthogonalize lerp(G, B, μ) instead of B (default true).
    pub nesterov: bool,
    /// Newton–Schulz coefficients (a, b, c) (default (3.4445, −4.7750, 2.0315); not used by
    /// the "polar_express" and "svd" orthogonalizers).
    pub ns_coefficients: [f64; 3],
    /// ε > 0: the input is divided by max(‖U‖_F, ε) (default 1e-7).
    pub eps: f64,
    /// Number of orthogonalization steps (Newton–Schulz or Polar Express), < 100 (default 5).
    pub ns_steps: usize,
    /// Shape scaling of the learning rate: null (= "original"), "original" or
    /// "match_rms_adamw" (default null).
    pub adjust_lr_fn: Option<AdjustLrFn>,
    /// optlab: "newton_schulz" (default), "polar_express" (`ns_steps` steps) or "svd".
    pub orthogonalizer: OrthoMethod,
}

impl Default for MuonConfig {
    fn default() -> Self {
        MuonConfig {
            lr: 1e-3,
            weight_decay: 0.1,
            momentum: 0.95,
            nesterov: true,
            ns_coefficients: NS_COEFFICIENTS,
            eps: 1e-7,
            ns_steps: NS_STEPS,
            adjust_lr_fn: None,
            orthogonalizer: OrthoMethod::NewtonSchulz,
        }
    }
}

impl Config for MuonConfig {
    const NAME: &'static str = "Muon";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        check::unit_interval(Self::NAME, "momentum", self.momentum)?;
        check::positive(Self::NAME, "eps", self.eps)?;
        if self.ns_steps >= 100 {
            return Err(OptimError::invalid(
                Self::NAME,
                "ns_steps",
                self.ns_steps,
                "an integer in [0, 100)",
            ));
        }
        for (k, c) in self.ns_coefficients.iter().enumerate() {
            if !c.is_finite() {
                return Err(OptimError::invalid(
                    Self::NAME,
                    format!("ns_coefficients[{k}]"),
                    c,
                    "finite",
                ));
            }
        }
        Ok(())
    }
}

impl MuonConfig {
    /// The learning-rate multiplier for a `rows × cols` matrix.
    pub fn shape_scale(&self, rows: usize, cols: usize) -> f64 {
        let (a, b) = (rows as f64, cols as f64);
        match self.adjust_lr_fn {
            None | Some(AdjustLrFn::Original) => (a / b).max(1.0).sqrt(),
            Some(AdjustLrFn::MatchRmsAdamw) => 0.2 * a.max(b).sqrt(),
        }
    }

    /// The orthogonalization recipe of this config.
    pub fn orthogonalizer(&self) -> Orthogonalizer {
        Orthogonalizer::from_method(
            self.orthogonalizer,
            self.ns_steps,
            self.ns_coefficients,
            Normalization::Clamp { eps: self.eps },
        )
    }
}

/// `start + w·(end − start)`, evaluated as PyTorch's `lerp` does (from the nearer end).
#[inline(always)]
pub(crate) fn lerp<T: Scalar>(start: T, end: T, w: T) -> T {
    if w.abs() < T::of(0.5) {
        start + w * (end - start)
    } else {
        end - (end - start) * (T::one() - w)
    }
}

/// Per-parameter state: the 2D view and the momentum buffer (in the storage order of `layout`,
/// the parameter's layout at the last step).
#[derive(Clone, Debug)]
pub struct MuonSlot<T> {
    rows: usize,
    cols: usize,
    momentum_buffer: Vec<T>,
    layout: Layout,
}

/// The Muon optimizer (matrix parameters only).
pub struct Muon<T: Scalar> {
    groups: Groups<MuonConfig>,
    slots: Vec<Slot<MuonSlot<T>>>,
    step: u64,
    policy: NonFinitePolicy,
    /// One workspace per distinct matrix shape.
    workspaces: WorkspaceCache<T>,
    /// The Nesterov update before orthogonalization.
    scratch: Vec<T>,
    /// Per slot, the orthogonalized update computed before committing (SVD only).
    pending: Vec<Vec<T>>,
}

impl<T: Scalar> Muon<T> {
    /// One group with `config` for every parameter.
    pub fn new(config: MuonConfig) -> Result<Self, OptimError> {
        Self::with_groups(config, Vec::new())
    }

    /// A default config and `(filter, config)` parameter groups.
    pub fn with_groups(
        default: MuonConfig,
        groups: Vec<(ParamFilter, MuonConfig)>,
    ) -> Result<Self, OptimError> {
        Ok(Muon {
            groups: Groups::new(default, groups)?,
            slots: Vec::new(),
            step: 0,
            policy: NonFinitePolicy::default(),
            workspaces: WorkspaceCache::new(),
            scratch: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// The default group's configuration.
    pub fn config(&self) -> &MuonConfig {
        self.groups.config(0)
    }
}

/// The 2D view of a parameter, or the error Muon (and other matrix-only methods) report.
pub(crate) fn require_matrix<T>(
    optimizer: &str,
    p: &Param<T>,
) -> Result<(usize, usize), OptimError> {
    p.matrix_dims().ok_or_else(|| OptimError::UnsupportedParam {
        optimizer: optimizer.to_string(),
        param: p.name.clone(),
        shape: p.shape.clone(),
        reason: "only matrices (2 or more dimensions) are supported; route vectors and scalars \
                 to another optimizer with a Partition (e.g. MuonAdamW)"
            .to_string(),
    })
}

impl<T: Scalar> Optimizer<T> for Muon<T> {
    fn name(&self) -> &str {
        MuonConfig::NAME
    }

    fn steps(&self) -> u64 {
        self.step
    }

    fn lr(&self) -> f64 {
        self.groups.lr(0)
    }

    fn base_lr(&self) -> f64 {
        self.groups.config(0).lr
    }

    fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64) {
        self.groups.set_lrs(f);
    }

    fn set_nonfinite_policy(&mut self, policy: NonFinitePolicy) {
        self.policy = policy;
    }

    fn step_subset(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError> {
        for j in 0..subset.len(params.len()) {
            if let Some(p) = params.get(subset.index(j)) {
                require_matrix(self.name(), p)?;
            }
        }
        sync_slots(&mut self.slots, &self.groups, params, subset, |p, _| {
            let (rows, cols) = p.matrix_dims().unwrap_or((p.numel(), 1));
            MuonSlot {
                rows,
                cols,
                momentum_buffer: vec![T::zero(); p.numel()],
                layout: p.layout,
            }
        })?;
        for (j, slot) in self.slots.iter_mut().enumerate() {
            let st = &mut slot.state;
            let layout = params[subset.index(j)].layout;
            if st.layout != layout {
                st.layout
                    .convert(layout, &mut st.momentum_buffer, st.rows, st.cols);
                st.layout = layout;
            }
        }
        if let Some(skipped) = screen_gradients(self.policy, params, subset, self.step + 1)? {
            return Ok(skipped);
        }
        let t = self.step + 1;
        // Built lazily (naming the parameter allocates, which a step must not do).
        let numerical =
            |p: &Param<T>, e: LinalgError| OptimError::numerical(MuonConfig::NAME, &p.name, t, e);

        // Phase 1: the orthogonalizations that can fail (the SVD refuses a non-finite input,
        // e.g. a NaN gradient under `NonFinitePolicy::Ignore`) run on the would-be update of
        // every such parameter, into `pending`, before anything changes: a refused step leaves
        // parameters, momentum buffers and the step counter untouched. Newton–Schulz and Polar
        // Express are products and sums only (a non-finite input gives a non-finite output) and
        // run in phase 2.
        self.pending.resize_with(self.slots.len(), Vec::new);
        for (j, slot) in self.slots.iter().enumerate() {
            let cfg = self.groups.config(slot.group);
            if cfg.orthogonalizer != OrthoMethod::Svd {
                continue;
            }
            let p = &params[subset.index(j)];
            let st = &slot.state;
            let (mu, one_minus_mu) = (T::of(cfg.momentum), T::of(1.0 - cfg.momentum));
            self.scratch.clear();
            self.scratch
                .extend(p.grad.iter().zip(&st.momentum_buffer).map(|(&g, &b)| {
                    let b = lerp(b, g, one_minus_mu);
                    if cfg.nesterov { lerp(g, b, mu) } else { b }
                }));
            self.pending[j].resize(p.numel(), T::zero());
            let o = self
                .workspaces
                .get(st.rows, st.cols)
                .orthogonalize_view(
                    st.layout.view(&self.scratch, st.rows, st.cols),
                    &cfg.orthogonalizer(),
                )
                .map_err(|e| numerical(p, e))?;
            MatMut::from_row_major_slice_mut(&mut self.pending[j], st.rows, st.cols).copy_from(o);
        }

        // Phase 2: commit.
        self.step = t;
        for (j, slot) in self.slots.iter_mut().enumerate() {
            let p = &mut params[subset.index(j)];
            let cfg = self.groups.config(slot.group);
            let lr = self.groups.lr(slot.group);
            let st = &mut slot.state;
            let (rows, cols) = (st.rows, st.cols);
            let mu = T::of(cfg.momentum);
            let one_minus_mu = T::of(1.0 - cfg.momentum);
            for (b, &g) in st.momentum_buffer.iter_mut().zip(&p.grad) {
                *b = lerp(*b, g, one_minus_mu);
            }
            let o = if cfg.orthogonalizer == OrthoMethod::Svd {
                MatRef::from_row_major_slice(&self.pending[j], rows, cols)
            } else {
                let update: &[T] = if cfg.nesterov {
                    self.scratch.clear();
                    self.scratch.extend(
                        p.grad
                            .iter()
                            .zip(&st.momentum_buffer)
                            .map(|(&g, &b)| lerp(g, b, mu)),
                    );
                    &self.scratch
                } else {
                    &st.momentum_buffer
                };
                // Cannot fail: the workspace is sized for the slot's shape.
                self.workspaces
                    .get(rows, cols)
                    .orthogonalize_view(st.layout.view(update, rows, cols), &cfg.orthogonalizer())
                    .map_err(|e| numerical(p, e))?
            };
            let decay = T::of(1.0 - lr * cfg.weight_decay);
            let step = T::of(lr * cfg.shape_scale(rows, cols));
            let w = st.layout.view_mut(&mut p.data, rows, cols);
            faer::zip!(w, o).for_each(|faer::unzip!(w, o)| {
                *w = *w * decay;
                *w = *w - step * *o;
            });
        }
        Ok(StepOutcome::Applied)
    }

    fn accepts_layout(&self, param: &Param<T>, layout: Layout) -> bool {
        layout == Layout::RowMajor || param.shape.len() == 2
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState {
            optimizer: self.name().to_string(),
            step: self.step,
            lrs: self.groups.lrs().to_vec(),
            params: self
                .slots
                .iter()
                .map(|slot| {
                    let st = &slot.state;
                    let mut data = st.momentum_buffer.clone();
                    st.layout
                        .convert(Layout::RowMajor, &mut data, st.rows, st.cols);
                    ParamState {
                        name: slot.name.clone(),
                        shape: slot.shape.clone(),
                        buffers: vec![Buffer {
                            name: "momentum_buffer".into(),
                            shape: slot.shape.clone(),
                            data,
                        }],
                    }
                })
                .collect(),
        }
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        if state.optimizer != self.name() {
            return Err(OptimError::StateMismatch(format!(
                "state of `{}` loaded into `{}`",
                state.optimizer,
                self.name()
            )));
        }
        let mut slots = Vec::with_capacity(state.params.len());
        for ps in &state.params {
            let numel: usize = ps.shape.iter().product();
            let [b] = ps.buffers.as_slice() else {
                return Err(OptimError::StateMismatch(format!(
                    "parameter `{}` has {} buffers, Muon expects [\"momentum_buffer\"]",
                    ps.name,
                    ps.buffers.len()
                )));
            };
            if b.name != "momentum_buffer" || b.data.len() != numel {
                return Err(OptimError::StateMismatch(format!(
                    "parameter `{}`: buffer `{}` with {} values, Muon expects `momentum_buffer` \
                     with {numel}",
                    ps.name,
                    b.name,
                    b.data.len()
                )));
            }
            let dims = match ps.shape.as_slice() {
                [rows, rest @ ..] if !rest.is_empty() => (*rows, rest.iter().product()),
                _ => {
                    return Err(OptimError::StateMismatch(format!(
                        "parameter `{}` has shape {:?}; Muon only holds matrices",
                        ps.name, ps.shape
                    )));
                }
            };
            slots.push(Slot {
                name: ps.name.clone(),
                shape: ps.shape.clone(),
                group: self.groups.group_of(&ps.name, &ps.shape),
                state: MuonSlot {
                    rows: dims.0,
                    cols: dims.1,
                    momentum_buffer: b.data.clone(),
                    layout: Layout::RowMajor,
                },
            });
        }
        self.groups.load_lrs(&state.lrs)?;
        self.slots = slots;
        self.step = state.step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<Param<f64>> {
        let mut w = Param::<f64>::zeros("fc.weight", [3, 5]);
        let mut k = Param::<f64>::zeros("conv.weight", [2, 2, 3, 1]);
        for (i, g) in w.grad.iter_mut().enumerate() {
            *g = ((i * 7 % 5) as f64 - 2.0) * 0.3;
        }
        for (i, g) in k.grad.iter_mut().enumerate() {
            *g = ((i * 5 % 7) as f64 - 3.0) * 0.1;
        }
        vec![w, k]
    }

    #[test]
    fn vectors_are_rejected_with_their_name() {
        let mut p = vec![Param::<f64>::vector("fc.bias", vec![1.0, 2.0])];
        let mut opt = Muon::new(MuonConfig::default()).unwrap();
        let e = opt.step(&mut p).unwrap_err().to_string();
        assert!(e.contains("fc.bias") && e.contains("Partition"), "{e}");
        assert_eq!(p[0].data, vec![1.0, 2.0]);
    }

    #[test]
    fn first_step_is_scaled_polar_direction() -> Result<(), OptimError> {
        // Step 1 without Nesterov and weight decay: B = (1 − μ)G, W = −α·s·NS(B). With the SVD
        // orthogonalizer NS(B) = polar(G), so W = −α·s·UVᵀ and each singular value of W is α·s.
        let mut p = params();
        let cfg = MuonConfig {
            lr: 0.1,
            weight_decay: 0.0,
            nesterov: false,
            orthogonalizer: OrthoMethod::Svd,
            ..Default::default()
        };
        let mut opt = Muon::new(cfg)?;
        opt.step(&mut p)?;
        let sv = crate::linalg::polar::singular_values(&p[0].data, 3, 5).unwrap();
        assert!(sv.iter().all(|s| (s - 0.1).abs() < 1e-12), "{sv:?}");
        // conv kernel 2×2×3×1 uses the 2 × 6 view; shape scale √max(1, 2/6) = 1.
        let sv = crate::linalg::polar::singular_values(&p[1].data, 2, 6).unwrap();
        assert!(sv.iter().all(|s| (s - 0.1).abs() < 1e-12), "{sv:?}");
        Ok(())
    }

    #[test]
    fn shape_scales() {
        let c = MuonConfig::default();
        assert_eq!(c.shape_scale(16, 4), 2.0);
        assert_eq!(c.shape_scale(4, 16), 1.0);
        let m = MuonConfig {
            adjust_lr_fn: Some(AdjustLrFn::MatchRmsAdamw),
            ..Default::default()
        };
        assert!((m.shape_scale(4, 100) - 2.0).abs() < 1e-15);
    }

    #[test]
    fn state_roundtrip_continues_bit_identically() -> Result<(), OptimError> {
        let mut a = params();
        let mut opt = Muon::new(MuonConfig {
            lr: 0.02,
            ..Default::default()
        })?;
        opt.step(&mut a)?;
        let saved = opt.state();
        let json = serde_json::to_string(&saved).unwrap();
        let mut b = a.clone();
        let mut opt2 = Muon::<f64>::new(MuonConfig {
            lr: 0.02,
            ..Default::default()
        })?;
        opt2.load_state(&serde_json::from_str(&json).unwrap())?;
        opt.step(&mut a)?;
        opt2.step(&mut b)?;
        assert_eq!(a, b);
        assert_eq!(opt2.steps(), 2);
        Ok(())
    }

    #[test]
    fn validation_names_fields() {
        for (cfg, field) in [
            (
                MuonConfig {
                    momentum: 1.5,
                    ..Default::default()
                },
                "momentum",
            ),
            (
                MuonConfig {
                    ns_steps: 100,
                    ..Default::default()
                },
                "ns_steps",
            ),
            (
                MuonConfig {
                    eps: 0.0,
                    ..Default::default()
                },
                "eps",
            ),
        ] {
            let e = Muon::<f32>::new(cfg).err().map(|e| e.to_string());
            assert!(e.as_deref().is_some_and(|e| e.contains(field)), "{e:?}");
        }
    }

    #[test]
    fn nonfinite_gradient_changes_nothing() {
        let mut p = params();
        p[1].grad[3] = f64::NAN;
        let before = p.clone();
        let mut opt = Muon::new(MuonConfig::default()).unwrap();
        let e = opt.step(&mut p).unwrap_err().to_string();
        assert!(e.contains("conv.weight") && e.contains("step 1"), "{e}");
        assert_eq!(p[0].data, before[0].data);
        assert_eq!(p[1].data, before[1].data);
        assert_eq!(opt.steps(), 0);
    }

    /// With the SVD orthogonalizer a non-finite update cannot be orthogonalized: under
    /// `NonFinitePolicy::Ignore` the step is refused with a typed error and changes nothing
    /// (the other matrix was not updated first), and the next step is the one an optimizer that
    /// never saw the refused one takes. Newton–Schulz instead lets the NaN through.
    #[test]
    fn refused_svd_step_leaves_parameters_and_state_untouched() -> Result<(), OptimError> {
        let cfg = MuonConfig {
            lr: 0.05,
            orthogonalizer: OrthoMethod::Svd,
            ..Default::default()
        };
        let mut opt = Muon::<f64>::new(cfg.clone())?;
        opt.set_nonfinite_policy(NonFinitePolicy::Ignore);
        let mut reference = Muon::<f64>::new(cfg)?;
        let (mut a, mut b) = (params(), params());
        opt.step(&mut a)?;
        reference.step(&mut b)?;
        let (before, state_before) = (a.clone(), opt.state());
        a[1].grad[3] = f64::NAN;
        match opt.step(&mut a) {
            Err(OptimError::Numerical { param, step, .. }) => {
                assert_eq!((param.as_str(), step), ("conv.weight", 2));
            }
            other => panic!("expected a Numerical error, got {other:?}"),
        }
        for (p, q) in a.iter().zip(&before) {
            assert_eq!(p.data, q.data, "`{}` changed", p.name);
        }
        assert_eq!(opt.state(), state_before);
        assert_eq!(opt.steps(), 1);
        a[1].grad[3] = b[1].grad[3];
        opt.step(&mut a)?;
        reference.step(&mut b)?;
        assert_eq!(a, b);
        assert_eq!(opt.state(), reference.state());

        let mut ns = Muon::<f64>::new(MuonConfig::default())?;
        ns.set_nonfinite_policy(NonFinitePolicy::Ignore);
        let mut c = params();
        c[1].grad[3] = f64::NAN;
        assert_eq!(ns.step(&mut c), Ok(StepOutcome::Applied));
        assert!(c[1].data.iter().all(|x| x.is_nan()));
        Ok(())
    }
}
