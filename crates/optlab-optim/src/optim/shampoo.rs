//! Shampoo: Kronecker-factored preconditioning of matrix gradients.
//!
//! Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization" (ICML 2018).
//! For a matrix parameter W (`m × n`; tensors of more dimensions use the 2D view
//! `shape[0] × Π shape[1..]`) with gradient G, at step t:
//!
//! ```text
//! L ← L + G Gᵀ,   R ← R + Gᵀ G                         (beta2 = 1, the paper's sums)
//! L ← β₂ L + (1 − β₂) G Gᵀ,  R ← β₂ R + (1 − β₂) Gᵀ G   (beta2 < 1: exponential averages)
//! every precondition_frequency steps from start_preconditioning_step:
//!     P_L ← (L + εI)^{-1/4},  P_R ← (R + εI)^{-1/4}       (eigendecomposition, linalg::inv_root)
//! D ← P_L G P_R                           (t ≥ start_preconditioning_step)
//! D ← A                                   (earlier steps: the grafted direction, or G if none)
//! D ← D · ‖A‖_F / ‖D‖_F                   (grafting: layer-wise norm of the grafted step A)
//! W ← W (1 − η λ)                         (decoupled weight decay λ)
//! M ← μ M + D,  W ← W − η M               (momentum μ; μ = 0: W ← W − η D)
//! ```
//!
//! L and R start at 0 and the damping ε is added when the roots are taken: for `beta2 = 1`
//! this is exactly the paper's `L₀ = R₀ = εI`; for `beta2 < 1` it keeps the damping ε instead
//! of letting `β₂ᵗ ε` vanish. A side longer than `max_preconditioner_dim` uses the diagonal of
//! its statistic (`l_i ← l_i + Σ_j G_ij²`, preconditioner `(l_i + ε)^{-1/4}`), the Adagrad-like
//! fallback that keeps memory and eigendecompositions bounded. Vectors and scalars (biases, norm
//! gains) use the diagonal form with exponent −1/2 — Adagrad (with the same `beta2`).
//!
//! A step either completes or changes nothing. The eigendecompositions are the only part that can
//! fail (a non-finite statistic: a NaN gradient under [`NonFinitePolicy::Ignore`], or a finite
//! gradient whose Gram matrix overflows); on a step that recomputes the roots, every parameter's
//! new roots are computed from its would-be statistics first, and parameters, statistics, roots,
//! buffers and the step counter change only once all have succeeded. Otherwise the step returns
//! [`OptimError::Numerical`] naming the parameter and the step. The price is one extra root per
//! full side (not part of the saved state).
//!
//! Grafting (Agarwal, Anil, Hazan, Koren & Zhang, "Disentangling Adaptive Gradient Methods from
//! Learning Rates", 2020) runs a second, diagonal method on the same gradients and takes its step
//! length per parameter: `"adagrad"` (`v ← v + g²`, `A = g/(√v + ε_g)`) or `"adam"` (the
//! second-moment part, as in Meta's Distributed Shampoo: `v ← β v + (1 − β) g²`,
//! `A = g/(√(v/(1 − βᵗ)) + ε_g)`); momentum is applied once, after grafting.
//!
//! Hyperparameters (optlab's names, after Distributed Shampoo's where it has them) and
//! defaults: `lr` 0.01, `beta2` 1.0, `epsilon` 1e-12, `momentum` 0, `weight_decay` 0,
//! `precondition_frequency` 1, `start_preconditioning_step` 1, `max_preconditioner_dim` 1024,
//! `grafting` "none", `grafting_beta2` 0.999, `grafting_epsilon` 1e-8.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef};
use serde::{Deserialize, Serialize};

use super::{
    Buffer, Config, Groups, NonFinitePolicy, Optimizer, OptimizerState, ParamState, Slot,
    StepOutcome, Subset, screen_gradients, sync_slots,
};
use crate::error::{OptimError, check};
use crate::kernels;
use crate::linalg::inv_root::inv_root_into;
use crate::linalg::{LinalgError, par_for};
use crate::param::{Param, ParamFilter};
use crate::scalar::Scalar;

/// Which diagonal method's step length Shampoo grafts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grafting {
    /// No grafting: the step is η·P_L G P_R (default).
    #[default]
    None,
    /// Adagrad's step length.
    Adagrad,
    /// Adam's (bias-corrected RMSprop) step length.
    Adam,
}

/// Shampoo hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShampooConfig {
    /// Learning rate η ≥ 0 (default 0.01).
    pub lr: f64,
    /// 1 (default): L, R are sums; in (0, 1): exponential averages.
    pub beta2: f64,
    /// Damping ε > 0 of the inverse roots (default 1e-12).
    pub epsilon: f64,
    /// Heavy-ball momentum μ ∈ [0, 1) on the (grafted) direction (default 0).
    pub momentum: f64,
    /// Decoupled weight decay λ ≥ 0 (default 0).
    pub weight_decay: f64,
    /// Recompute the inverse roots every this many steps, ≥ 1 (default 1).
    pub precondition_frequency: u64,
    /// First (1-based) step that uses the preconditioner, ≥ 1 (default 1); earlier steps take
    /// the grafted direction (or the plain gradient without grafting).
    pub start_preconditioning_step: u64,
    /// Sides longer than this use a diagonal preconditioner, ≥ 1 (default 1024).
    pub max_preconditioner_dim: usize,
    /// "none" (default), "adagrad" or "adam".
    pub grafting: Grafting,
    /// β of Adam grafting, in [0, 1) (default 0.999).
    pub grafting_beta2: f64,
    /// ε of the grafted method, > 0 (default 1e-8).
    pub grafting_epsilon: f64,
}

impl Default for ShampooConfig {
    fn default() -> Self {
        ShampooConfig {
            lr: 0.01,
            beta2: 1.0,
            epsilon: 1e-12,
            momentum: 0.0,
            weight_decay: 0.0,
            precondition_frequency: 1,
            start_preconditioning_step: 1,
            max_preconditioner_dim: 1024,
            grafting: Grafting::None,
            grafting_beta2: 0.999,
            grafting_epsilon: 1e-8,
        }
    }
}

impl Config for ShampooConfig {
    const NAME: &'static str = "Shampoo";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        if !(self.beta2 > 0.0 && self.beta2 <= 1.0) {
            return Err(OptimError::invalid(
                Self::NAME,
                "beta2",
                self.beta2,
                "in (0, 1]",
            ));
        }
        check::positive(Self::NAME, "epsilon", self.epsilon)?;
        check::unit_interval_open(Self::NAME, "momentum", self.momentum)?;
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)?;
        for (field, v) in [
            ("precondition_frequency", self.precondition_frequency),
            (
                "start_preconditioning_step",
                self.start_preconditioning_step,
            ),
            ("max_preconditioner_dim", self.max_preconditioner_dim as u64),
        ] {
            if v == 0 {
                return Err(OptimError::invalid(Self::NAME, field, v, "≥ 1"));
            }
        }
        check::unit_interval_open(Self::NAME, "grafting_beta2", self.grafting_beta2)?;
        check::positive(Self::NAME, "grafting_epsilon", self.grafting_epsilon)
    }
}

/// One side's statistic and inverse root: full `n × n` (column-major) or diagonal.
#[derive(Clone, Debug)]
struct Side<T> {
    n: usize,
    full: bool,
    stat: Vec<T>,
    root: Vec<T>,
}

impl<T: Scalar> Side<T> {
    fn new(n: usize, full: bool) -> Self {
        let len = if full { n * n } else { n };
        Side {
            n,
            full,
            stat: vec![T::zero(); len],
            root: vec![T::zero(); len],
        }
    }

    fn shape(&self) -> Vec<usize> {
        if self.full {
            vec![self.n, self.n]
        } else {
            vec![self.n]
        }
    }
}

/// Per-parameter Shampoo state.
#[derive(Clone, Debug)]
pub struct ShampooSlot<T> {
    rows: usize,
    cols: usize,
    /// Matrix (two sides, exponent −1/4) or vector (left side only, diagonal, exponent −1/2).
    matrix: bool,
    left: Side<T>,
    right: Side<T>,
    graft: Vec<T>,
    momentum: Vec<T>,
}

impl<T: Scalar> ShampooSlot<T> {
    fn new(shape: &[usize], cfg: &ShampooConfig) -> Self {
        let numel = shape.iter().product();
        let dims = match shape {
            [rows, rest @ ..] if !rest.is_empty() => Some((*rows, rest.iter().product())),
            _ => None,
        };
        let (rows, cols, matrix) = dims.map_or((numel, 1, false), |(r, c)| (r, c, true));
        let cap = cfg.max_preconditioner_dim;
        ShampooSlot {
            rows,
            cols,
            matrix,
            left: Side::new(rows, matrix && rows <= cap),
            right: Side::new(if matrix { cols } else { 0 }, matrix && cols <= cap),
            graft: if cfg.grafting == Grafting::None {
                Vec::new()
            } else {
                vec![T::zero(); numel]
            },
            momentum: if cfg.momentum > 0.0 {
                vec![T::zero(); numel]
            } else {
                Vec::new()
            },
        }
    }

    /// Named buffers with their shapes (the layout of [`OptimizerState`]).
    fn buffers(&mut self) -> Vec<(&'static str, Vec<usize>, &mut Vec<T>)> {
        let mut out = Vec::new();
        let (ls, rs) = (self.left.shape(), self.right.shape());
        let numel = self.rows * self.cols;
        out.push(("left_stat", ls.clone(), &mut self.left.stat));
        out.push(("left_inv_root", ls, &mut self.left.root));
        if self.matrix {
            out.push(("right_stat", rs.clone(), &mut self.right.stat));
            out.push(("right_inv_root", rs, &mut self.right.root));
        }
        if !self.graft.is_empty() {
            out.push(("graft_sq", vec![numel], &mut self.graft));
        }
        if !self.momentum.is_empty() {
            out.push(("momentum_buffer", vec![numel], &mut self.momentum));
        }
        out
    }
}

/// The Shampoo optimizer.
pub struct Shampoo<T: Scalar> {
    groups: Groups<ShampooConfig>,
    slots: Vec<Slot<ShampooSlot<T>>>,
    step: u64,
    policy: NonFinitePolicy,
    /// `P_L G` (column-major), the direction (row-major), the grafted direction, root scratch.
    tmp: Vec<T>,
    dir: Vec<T>,
    graft_dir: Vec<T>,
    scratch: Vec<T>,
    /// The would-be statistic of the side whose candidate root is being computed.
    next_stat: Vec<T>,
    /// Per slot, the new inverse roots of its full (left, right) sides on a step that recomputes
    /// them; swapped in once every parameter's roots succeeded.
    next_roots: Vec<(Vec<T>, Vec<T>)>,
}

impl<T: Scalar> Shampoo<T> {
    /// One group with `config` for every parameter.
    pub fn new(config: ShampooConfig) -> Result<Self, OptimError> {
        Self::with_groups(config, Vec::new())
    }

    /// A default config and `(filter, config)` parameter groups.
    pub fn with_groups(
        default: ShampooConfig,
        groups: Vec<(ParamFilter, ShampooConfig)>,
    ) -> Result<Self, OptimError> {
        Ok(Shampoo {
            groups: Groups::new(default, groups)?,
            slots: Vec::new(),
            step: 0,
            policy: NonFinitePolicy::default(),
            tmp: Vec::new(),
            dir: Vec::new(),
            graft_dir: Vec::new(),
            scratch: Vec::new(),
            next_stat: Vec::new(),
            next_roots: Vec::new(),
        })
    }
}

/// `S ← β S + (1 − β) X Xᵀ` (or `S + X Xᵀ` for β = 1) on a full `n × n` (column-major)
/// statistic, for `X` = G (left) or Gᵀ (right); row sums of G∘G for a diagonal one.
fn accumulate<T: Scalar>(stat: &mut [T], full: bool, n: usize, x: MatRef<'_, T>, beta2: f64) {
    let (keep, take) = if beta2 < 1.0 {
        (T::of(beta2), T::of(1.0 - beta2))
    } else {
        (T::one(), T::one())
    };
    if full {
        if beta2 < 1.0 {
            stat.iter_mut().for_each(|s| *s = *s * keep);
        }
        let s = MatMut::from_column_major_slice_mut(stat, n, n);
        matmul(
            s,
            Accum::Add,
            x,
            x.transpose(),
            take,
            par_for(n, n, x.ncols()),
        );
    } else {
        for (i, s) in stat.iter_mut().enumerate() {
            let mut sq = T::zero();
            for j in 0..x.ncols() {
                sq = sq + x[(i, j)] * x[(i, j)];
            }
            *s = keep * *s + take * sq;
        }
    }
}

/// The inverse root a full side will have after this step's statistics update, computed without
/// changing the side: `stat ← S` updated with `X` (as [`accumulate`] will do it in place), then
/// `root ← (stat + εI)^{-1/p}`. This is the only part of a Shampoo step that can fail (the
/// eigendecomposition refuses a non-finite statistic), so it runs for every parameter before
/// anything is committed.
fn candidate_root<T: Scalar>(
    side: &Side<T>,
    x: MatRef<'_, T>,
    cfg: &ShampooConfig,
    p: u32,
    work: (&mut Vec<T>, &mut Vec<T>),
    root: &mut Vec<T>,
) -> Result<(), LinalgError> {
    let n = side.n;
    let (stat, scratch) = work;
    stat.clear();
    stat.extend_from_slice(&side.stat);
    accumulate(stat, true, n, x, cfg.beta2);
    root.resize(n * n, T::zero());
    scratch.resize(n * n, T::zero());
    inv_root_into(
        MatRef::from_column_major_slice(stat, n, n),
        p,
        cfg.epsilon,
        MatMut::from_column_major_slice_mut(root, n, n),
        MatMut::from_column_major_slice_mut(scratch, n, n),
    )
}

/// `P = (S + εI)^{-1/p}` elementwise on a diagonal side (cannot fail: a non-finite statistic
/// gives a non-finite root).
fn diagonal_root<T: Scalar>(side: &mut Side<T>, p: u32, eps: f64) {
    let e = T::of(-1.0 / f64::from(p));
    let eps = T::of(eps);
    for (r, &s) in side.root.iter_mut().zip(&side.stat) {
        *r = num_traits::Float::powf(s.max(T::zero()) + eps, e);
    }
}

/// Whether step `t` (1-based) recomputes the inverse roots.
fn recomputes(cfg: &ShampooConfig, t: u64) -> bool {
    t >= cfg.start_preconditioning_step
        && (t - cfg.start_preconditioning_step).is_multiple_of(cfg.precondition_frequency)
}

impl<T: Scalar> Optimizer<T> for Shampoo<T> {
    fn name(&self) -> &str {
        ShampooConfig::NAME
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
        sync_slots(&mut self.slots, &self.groups, params, subset, |p, cfg| {
            ShampooSlot::new(&p.shape, cfg)
        })?;
        if let Some(skipped) = screen_gradients(self.policy, params, subset, self.step + 1)? {
            return Ok(skipped);
        }
        let t = self.step + 1;
        // Built lazily (naming the parameter allocates, which a step must not do).
        let numerical = |p: &Param<T>, e: LinalgError| {
            OptimError::numerical(ShampooConfig::NAME, &p.name, t, e)
        };

        // Phase 1, the only fallible part: on a step that recomputes the inverse roots, every full
        // side's new root is computed (from its would-be statistic) into `next_roots` before any
        // parameter or state changes, so a failed eigendecomposition (a non-finite statistic,
        // e.g. from a NaN gradient under `NonFinitePolicy::Ignore`, or an overflow) refuses the
        // step and leaves everything as it was.
        self.next_roots
            .resize_with(self.slots.len(), Default::default);
        for (j, slot) in self.slots.iter().enumerate() {
            let cfg = self.groups.config(slot.group);
            if !recomputes(cfg, t) {
                continue;
            }
            let p = &params[subset.index(j)];
            let st = &slot.state;
            let order = if st.matrix { 4 } else { 2 };
            let g = MatRef::from_row_major_slice(&p.grad, st.rows, st.cols);
            let (next_left, next_right) = &mut self.next_roots[j];
            for (side, x, next) in [
                (&st.left, g, next_left),
                (&st.right, g.transpose(), next_right),
            ] {
                if side.full {
                    let work = (&mut self.next_stat, &mut self.scratch);
                    candidate_root(side, x, cfg, order, work, next).map_err(|e| numerical(p, e))?;
                }
            }
        }

        // Phase 2: commit (cannot fail).
        self.step = t;
        for (j, slot) in self.slots.iter_mut().enumerate() {
            let p = &mut params[subset.index(j)];
            let cfg = self.groups.config(slot.group);
            let lr = self.groups.lr(slot.group);
            let st = &mut slot.state;
            let (rows, cols) = (st.rows, st.cols);
            let numel = rows * cols;
            let g = MatRef::from_row_major_slice(&p.grad, rows, cols);

            // Statistics (bit-identical to the would-be statistics of phase 1).
            accumulate(&mut st.left.stat, st.left.full, rows, g, cfg.beta2);
            if st.matrix {
                accumulate(
                    &mut st.right.stat,
                    st.right.full,
                    cols,
                    g.transpose(),
                    cfg.beta2,
                );
            }

            // Grafted direction A.
            let graft_norm = match cfg.grafting {
                Grafting::None => None,
                Grafting::Adagrad | Grafting::Adam => {
                    self.graft_dir.resize(numel, T::zero());
                    let eps = T::of(cfg.grafting_epsilon);
                    if cfg.grafting == Grafting::Adagrad {
                        for ((a, v), &g) in
                            self.graft_dir.iter_mut().zip(&mut st.graft).zip(&p.grad)
                        {
                            *v = *v + g * g;
                            *a = g / (v.sqrt() + eps);
                        }
                    } else {
                        let b = cfg.grafting_beta2;
                        let (keep, take) = (T::of(b), T::of(1.0 - b));
                        let bc = T::of((1.0 - b.powf(t as f64)).sqrt());
                        for ((a, v), &g) in
                            self.graft_dir.iter_mut().zip(&mut st.graft).zip(&p.grad)
                        {
                            *v = keep * *v + take * g * g;
                            *a = g / (v.sqrt() / bc + eps);
                        }
                    }
                    Some(kernels::norm2(&self.graft_dir))
                }
            };

            // Direction D.
            self.dir.resize(numel, T::zero());
            let start = cfg.start_preconditioning_step;
            if t >= start {
                if recomputes(cfg, t) {
                    let order = if st.matrix { 4 } else { 2 };
                    let (next_left, next_right) = &mut self.next_roots[j];
                    for (side, next) in [(&mut st.left, next_left), (&mut st.right, next_right)] {
                        if side.full {
                            std::mem::swap(&mut side.root, next);
                        } else {
                            diagonal_root(side, order, cfg.epsilon);
                        }
                    }
                }
                // tmp = P_L G (column-major rows × cols).
                self.tmp.resize(numel, T::zero());
                let mut tmp = MatMut::from_column_major_slice_mut(&mut self.tmp, rows, cols);
                if st.left.full {
                    let pl = MatRef::from_column_major_slice(&st.left.root, rows, rows);
                    matmul(
                        tmp.as_mut(),
                        Accum::Replace,
                        pl,
                        g,
                        T::one(),
                        par_for(rows, cols, rows),
                    );
                } else {
                    let pl = &st.left.root;
                    faer::zip!(tmp.as_mut(), g)
                        .for_each_with_index(|i, _, faer::unzip!(d, g)| *d = pl[i] * *g);
                }
                // D = tmp·P_R (row-major, the parameter's layout).
                let mut d = MatMut::from_row_major_slice_mut(&mut self.dir, rows, cols);
                let tmp = tmp.as_ref();
                if !st.matrix {
                    d.copy_from(tmp);
                } else if st.right.full {
                    let pr = MatRef::from_column_major_slice(&st.right.root, cols, cols);
                    matmul(
                        d,
                        Accum::Replace,
                        tmp,
                        pr,
                        T::one(),
                        par_for(rows, cols, cols),
                    );
                } else {
                    let pr = &st.right.root;
                    faer::zip!(d, tmp)
                        .for_each_with_index(|_, j, faer::unzip!(d, x)| *d = *x * pr[j]);
                }
                if let Some(a_norm) = graft_norm {
                    let d_norm = kernels::norm2(&self.dir);
                    if d_norm > T::zero() {
                        let s = a_norm / d_norm;
                        self.dir.iter_mut().for_each(|d| *d = *d * s);
                    }
                }
            } else if graft_norm.is_some() {
                self.dir.copy_from_slice(&self.graft_dir);
            } else {
                self.dir.copy_from_slice(&p.grad);
            }

            // Weight decay, momentum, update.
            let decay = T::of(1.0 - lr * cfg.weight_decay);
            let eta = T::of(lr);
            if st.momentum.is_empty() {
                for (w, &d) in p.data.iter_mut().zip(&self.dir) {
                    *w = *w * decay - eta * d;
                }
            } else {
                let mu = T::of(cfg.momentum);
                for ((w, m), &d) in p.data.iter_mut().zip(&mut st.momentum).zip(&self.dir) {
                    *m = mu * *m + d;
                    *w = *w * decay - eta * *m;
                }
            }
        }
        Ok(StepOutcome::Applied)
    }

    fn state(&self) -> OptimizerState<T> {
        let params = self
            .slots
            .iter()
            .map(|slot| {
                let mut s = slot.state.clone();
                ParamState {
                    name: slot.name.clone(),
                    shape: slot.shape.clone(),
                    buffers: s
                        .buffers()
                        .into_iter()
                        .map(|(name, shape, data)| Buffer {
                            name: name.to_string(),
                            shape,
                            data: std::mem::take(data),
                        })
                        .collect(),
                }
            })
            .collect();
        OptimizerState {
            optimizer: self.name().to_string(),
            step: self.step,
            lrs: self.groups.lrs().to_vec(),
            params,
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
            let group = self.groups.group_of(&ps.name, &ps.shape);
            let mut st = ShampooSlot::new(&ps.shape, self.groups.config(group));
            {
                let expected = st.buffers();
                let names: Vec<&str> = expected.iter().map(|(n, _, _)| *n).collect();
                let found: Vec<&str> = ps.buffers.iter().map(|b| b.name.as_str()).collect();
                if names != found {
                    return Err(OptimError::StateMismatch(format!(
                        "parameter `{}` has buffers {found:?}, this Shampoo expects {names:?}",
                        ps.name
                    )));
                }
                for ((name, shape, data), b) in expected.into_iter().zip(&ps.buffers) {
                    if b.shape != shape || b.data.len() != data.len() {
                        return Err(OptimError::StateMismatch(format!(
                            "buffer `{name}` of `{}` has shape {:?} ({} values), expected {shape:?}",
                            ps.name,
                            b.shape,
                            b.data.len()
                        )));
                    }
                    data.copy_from_slice(&b.data);
                }
            }
            slots.push(Slot {
                name: ps.name.clone(),
                shape: ps.shape.clone(),
                group,
                state: st,
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

    /// Independent reference: symmetric eigendecomposition by cyclic Jacobi rotations, then
    /// `(A + εI)^{-1/4}` = Q diag((λ + ε)^{-1/4}) Qᵀ. Row-major n × n.
    fn jacobi_inv_root(a: &[f64], n: usize, eps: f64, p: f64) -> Vec<f64> {
        let mut m = a.to_vec();
        let mut q = vec![0.0; n * n];
        for i in 0..n {
            q[i * n + i] = 1.0;
        }
        for _sweep in 0..100 {
            let off: f64 = (0..n)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| m[i * n + j] * m[i * n + j])
                .sum();
            if off < 1e-30 {
                break;
            }
            for pp in 0..n {
                for qq in pp + 1..n {
                    let apq = m[pp * n + qq];
                    if apq.abs() < 1e-300 {
                        continue;
                    }
                    let theta = (m[qq * n + qq] - m[pp * n + pp]) / (2.0 * apq);
                    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                    let t = if theta == 0.0 { 1.0 } else { t };
                    let c = 1.0 / (t * t + 1.0).sqrt();
                    let s = t * c;
                    for k in 0..n {
                        let (mkp, mkq) = (m[k * n + pp], m[k * n + qq]);
                        m[k * n + pp] = c * mkp - s * mkq;
                        m[k * n + qq] = s * mkp + c * mkq;
                    }
                    for k in 0..n {
                        let (mpk, mqk) = (m[pp * n + k], m[qq * n + k]);
                        m[pp * n + k] = c * mpk - s * mqk;
                        m[qq * n + k] = s * mpk + c * mqk;
                    }
                    for k in 0..n {
                        let (qkp, qkq) = (q[k * n + pp], q[k * n + qq]);
                        q[k * n + pp] = c * qkp - s * qkq;
                        q[k * n + qq] = s * qkp + c * qkq;
                    }
                }
            }
        }
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] = (0..n)
                    .map(|k| {
                        q[i * n + k] * (m[k * n + k].max(0.0) + eps).powf(-1.0 / p) * q[j * n + k]
                    })
                    .sum();
            }
        }
        out
    }

    fn matmul_rm(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        c
    }

    fn transpose(a: &[f64], m: usize, n: usize) -> Vec<f64> {
        let mut t = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                t[j * m + i] = a[i * n + j];
            }
        }
        t
    }

    /// Deterministic gradient of W (a smooth nonlinear function, so the statistics change).
    fn grad_of(w: &[f64]) -> Vec<f64> {
        w.iter()
            .enumerate()
            .map(|(i, x)| (i as f64 * 0.37).sin() * 2.0 + 0.5 * x + (3.0 * x).cos())
            .collect()
    }

    /// Plain Shampoo, written from the paper's formulas with the Jacobi reference root.
    fn reference_run(
        w0: &[f64],
        m: usize,
        n: usize,
        steps: usize,
        cfg: &ShampooConfig,
    ) -> Vec<f64> {
        let mut w = w0.to_vec();
        let mut l = vec![0.0; m * m];
        let mut r = vec![0.0; n * n];
        for _ in 0..steps {
            let g = grad_of(&w);
            let gt = transpose(&g, m, n);
            let ggt = matmul_rm(&g, &gt, m, n, m);
            let gtg = matmul_rm(&gt, &g, n, m, n);
            let b = cfg.beta2;
            for (s, x) in l.iter_mut().zip(&ggt) {
                *s = if b < 1.0 {
                    b * *s + (1.0 - b) * x
                } else {
                    *s + x
                };
            }
            for (s, x) in r.iter_mut().zip(&gtg) {
                *s = if b < 1.0 {
                    b * *s + (1.0 - b) * x
                } else {
                    *s + x
                };
            }
            let pl = jacobi_inv_root(&l, m, cfg.epsilon, 4.0);
            let pr = jacobi_inv_root(&r, n, cfg.epsilon, 4.0);
            let d = matmul_rm(&matmul_rm(&pl, &g, m, m, n), &pr, m, n, n);
            for (x, d) in w.iter_mut().zip(&d) {
                *x -= cfg.lr * d;
            }
        }
        w
    }

    fn run(w0: &[f64], m: usize, n: usize, steps: usize, cfg: &ShampooConfig) -> Vec<f64> {
        let mut p = vec![Param::new("w", [m, n], w0.to_vec()).unwrap()];
        let mut opt = Shampoo::new(cfg.clone()).unwrap();
        for _ in 0..steps {
            p[0].grad = grad_of(&p[0].data);
            opt.step(&mut p).unwrap();
        }
        p[0].data.clone()
    }

    #[test]
    fn matches_independent_eigendecomposition_reference() {
        let (m, n) = (3, 5);
        let w0: Vec<f64> = (0..m * n)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0)
            .collect();
        for cfg in [
            ShampooConfig {
                lr: 0.05,
                epsilon: 1e-6,
                ..Default::default()
            },
            ShampooConfig {
                lr: 0.05,
                epsilon: 1e-4,
                beta2: 0.9,
                ..Default::default()
            },
        ] {
            let want = reference_run(&w0, m, n, 6, &cfg);
            let got = run(&w0, m, n, 6, &cfg);
            let err = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 1e-10, "{cfg:?}: {err}");
        }
    }

    #[test]
    fn oversized_side_falls_back_to_diagonal() {
        // cols = 5 > max_preconditioner_dim = 4: the right side is diagonal.
        let (m, n) = (3, 5);
        let w0: Vec<f64> = (0..m * n).map(|i| (i as f64 * 0.3).cos()).collect();
        let cfg = ShampooConfig {
            lr: 0.05,
            epsilon: 1e-6,
            max_preconditioner_dim: 4,
            ..Default::default()
        };
        let got = run(&w0, m, n, 1, &cfg);
        let g = grad_of(&w0);
        let gt = transpose(&g, m, n);
        let pl = jacobi_inv_root(&matmul_rm(&g, &gt, m, n, m), m, 1e-6, 4.0);
        let pg = matmul_rm(&pl, &g, m, m, n);
        for i in 0..m {
            for j in 0..n {
                let rj: f64 = (0..m).map(|k| g[k * n + j] * g[k * n + j]).sum();
                let want = w0[i * n + j] - 0.05 * pg[i * n + j] * (rj + 1e-6).powf(-0.25);
                assert!((got[i * n + j] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn vectors_are_adagrad() -> Result<(), OptimError> {
        let mut p = vec![Param::<f64>::vector("b", vec![1.0, 2.0])];
        let mut opt = Shampoo::new(ShampooConfig {
            lr: 0.1,
            epsilon: 1e-12,
            ..Default::default()
        })?;
        p[0].grad = vec![3.0, -4.0];
        opt.step(&mut p)?;
        p[0].grad = vec![4.0, 3.0];
        opt.step(&mut p)?;
        // x − 0.1·(3/3 + 4/5), y − 0.1·(−4/4 + 3/5)
        assert!((p[0].data[0] - (1.0 - 0.1 * (1.0 + 0.8))).abs() < 1e-9);
        assert!((p[0].data[1] - (2.0 - 0.1 * (-1.0 + 0.6))).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn grafting_takes_the_grafted_step_length() -> Result<(), OptimError> {
        let (m, n) = (4, 3);
        let w0: Vec<f64> = (0..m * n).map(|i| (i as f64 * 0.7).sin()).collect();
        let mut p = vec![Param::new("w", [m, n], w0.clone())?];
        p[0].grad = grad_of(&w0);
        let mut opt = Shampoo::new(ShampooConfig {
            lr: 1.0,
            grafting: Grafting::Adagrad,
            grafting_epsilon: 1e-30,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        // Adagrad's first step is sign(g): its norm is √(mn).
        let step: f64 = p[0]
            .data
            .iter()
            .zip(&w0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        assert!((step - ((m * n) as f64).sqrt()).abs() < 1e-9, "{step}");
        Ok(())
    }

    #[test]
    fn before_start_the_step_is_plain_sgd_and_roots_wait() -> Result<(), OptimError> {
        let mut p = vec![Param::<f64>::zeros("w", [2, 2])];
        p[0].grad = vec![1.0, 2.0, 3.0, 4.0];
        let mut opt = Shampoo::new(ShampooConfig {
            lr: 0.5,
            start_preconditioning_step: 3,
            precondition_frequency: 2,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        assert_eq!(p[0].data, vec![-0.5, -1.0, -1.5, -2.0]);
        let roots = |o: &Shampoo<f64>| o.state().params[0].buffers[1].data.clone();
        assert!(roots(&opt).iter().all(|v| *v == 0.0));
        opt.step(&mut p)?;
        assert!(roots(&opt).iter().all(|v| *v == 0.0));
        opt.step(&mut p)?; // t = 3: first roots
        let r3 = roots(&opt);
        assert!(r3.iter().any(|v| *v != 0.0));
        opt.step(&mut p)?; // t = 4: stale roots
        assert_eq!(roots(&opt), r3);
        opt.step(&mut p)?; // t = 5: recomputed
        assert_ne!(roots(&opt), r3);
        Ok(())
    }

    #[test]
    fn state_roundtrip_continues_bit_identically() -> Result<(), OptimError> {
        let cfg = ShampooConfig {
            lr: 0.05,
            momentum: 0.9,
            grafting: Grafting::Adam,
            precondition_frequency: 3,
            max_preconditioner_dim: 3,
            ..Default::default()
        };
        let mut a = vec![
            Param::new("w", [3, 4], (0..12).map(|i| i as f64 / 7.0).collect())?,
            Param::new("k", [2, 2, 2], (0..8).map(|i| (i as f64).cos()).collect())?,
            Param::vector("b", vec![0.5, -0.5]),
        ];
        let mut opt = Shampoo::new(cfg.clone())?;
        let set = |ps: &mut Vec<Param<f64>>| {
            for p in ps.iter_mut() {
                p.grad = grad_of(&p.data);
            }
        };
        for _ in 0..2 {
            set(&mut a);
            opt.step(&mut a)?;
        }
        let json = serde_json::to_string(&opt.state()).unwrap();
        let mut b = a.clone();
        let mut opt2 = Shampoo::<f64>::new(cfg)?;
        opt2.load_state(&serde_json::from_str(&json).unwrap())?;
        for _ in 0..3 {
            set(&mut a);
            set(&mut b);
            opt.step(&mut a)?;
            opt2.step(&mut b)?;
        }
        assert_eq!(a, b);
        let other = Shampoo::<f64>::new(ShampooConfig::default())?.load_state(&opt.state());
        assert!(other.is_err());
        Ok(())
    }

    /// A step refused by a failed eigendecomposition changes nothing: the parameters, every
    /// buffer and the step counter are as before, and the next step is exactly the step an
    /// optimizer that never saw the refused one takes.
    #[test]
    fn refused_step_leaves_parameters_and_state_untouched() -> Result<(), OptimError> {
        let cfg = ShampooConfig {
            lr: 0.05,
            momentum: 0.9,
            grafting: Grafting::Adam,
            max_preconditioner_dim: 3,
            ..Default::default()
        };
        let model = || -> Result<Vec<Param<f64>>, OptimError> {
            Ok(vec![
                Param::new("w", [3, 4], (0..12).map(|i| i as f64 / 7.0).collect())?,
                Param::new("v", [2, 3], (0..6).map(|i| (i as f64).cos()).collect())?,
            ])
        };
        let set = |ps: &mut Vec<Param<f64>>| {
            for p in ps.iter_mut() {
                p.grad = grad_of(&p.data);
            }
        };
        // (policy, bad gradient entry): a NaN that is not screened, and a finite gradient
        // whose Gram matrix overflows (passes the screen of the default policy).
        for (policy, bad) in [
            (NonFinitePolicy::Ignore, f64::NAN),
            (NonFinitePolicy::Error, 1e200),
        ] {
            let mut opt = Shampoo::<f64>::new(cfg.clone())?;
            opt.set_nonfinite_policy(policy);
            let mut reference = Shampoo::<f64>::new(cfg.clone())?;
            let mut a = model()?;
            let mut b = model()?;
            for _ in 0..2 {
                set(&mut a);
                set(&mut b);
                opt.step(&mut a)?;
                reference.step(&mut b)?;
            }
            let (params_before, state_before) = (a.clone(), opt.state());
            set(&mut a);
            a[1].grad[4] = bad;
            match opt.step(&mut a) {
                Err(OptimError::Numerical { param, step, .. }) => {
                    assert_eq!((param.as_str(), step), ("v", 3), "{policy:?}");
                }
                other => panic!("{policy:?}: expected a Numerical error, got {other:?}"),
            }
            for (p, q) in a.iter().zip(&params_before) {
                assert_eq!(p.data, q.data, "{policy:?}: `{}` changed", p.name);
            }
            assert_eq!(opt.state(), state_before, "{policy:?}");
            assert_eq!(opt.steps(), 2);
            for _ in 0..2 {
                set(&mut a);
                set(&mut b);
                opt.step(&mut a)?;
                reference.step(&mut b)?;
            }
            assert_eq!(a, b, "{policy:?}");
            assert_eq!(opt.state(), reference.state(), "{policy:?}");
        }
        Ok(())
    }

    #[test]
    fn validation_names_fields() {
        for (cfg, field) in [
            (
                ShampooConfig {
                    beta2: 0.0,
                    ..Default::default()
                },
                "beta2",
            ),
            (
                ShampooConfig {
                    precondition_frequency: 0,
                    ..Default::default()
                },
                "precondition_frequency",
            ),
            (
                ShampooConfig {
                    epsilon: -1.0,
                    ..Default::default()
                },
                "epsilon",
            ),
        ] {
            let e = Shampoo::<f64>::new(cfg).err().map(|e| e.to_string());
            assert!(e.as_deref().is_some_and(|e| e.contains(field)), "{e:?}");
        }
    }
}
