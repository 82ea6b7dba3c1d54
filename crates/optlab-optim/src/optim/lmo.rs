//! Steepest descent under a chosen norm, through its linear minimization oracle (LMO).
//!
//! Bernstein & Newhouse, "Old Optimizer, New Norm: An Anthology" (2024): for a norm ‖·‖ with
//! dual norm ‖·‖*, the LMO of the unit ball and the two steepest-descent steps are
//!
//! ```text
//! LMO(g) = argmin_{‖d‖ ≤ 1} ⟨g, d⟩,           ⟨g, LMO(g)⟩ = −‖g‖*
//! x ← x + α · LMO(g)                          (normalized = true)
//! x ← x + α · ‖g‖* · LMO(g)                   (normalized = false: argmin ⟨g,d⟩ + ‖d‖²/(2α))
//! ```
//!
//! | `norm`        | LMO(g)                                   | ‖g‖*                       |
//! |---------------|------------------------------------------|----------------------------|
//! | `"l2"`        | −g / ‖g‖₂                                | ‖g‖₂                       |
//! | `"frobenius"` | −G / ‖G‖_F (ℓ2 of the flattened matrix)  | ‖G‖_F                      |
//! | `"linf"`      | −sign(g) (sign descent)                  | ‖g‖₁                       |
//! | `"l1"`        | −sign(g_i) e_i, i = argmax |g_j| (first) | ‖g‖∞ (greedy coordinate)   |
//! | `"spectral"`  | −U Vᵀ for G = U Σ Vᵀ                     | ‖G‖_nuclear = Σ σᵢ         |
//!
//! With `g = 0` the LMO is taken to be 0 (every feasible d minimizes); a NaN entry of `g` is not
//! dropped (sign(NaN) = NaN as in `torch.sign`, and ℓ1 picks it as the largest entry), so under
//! [`NonFinitePolicy::Ignore`] it reaches the parameters as with every other method. The norm is applied per
//! parameter (each tensor is its own block, as in the anthology's per-layer view; use parameter
//! groups to give tensors different norms), and so is the dual in the unnormalized step.
//!
//! The spectral LMO needs a matrix: a tensor with two or more dimensions uses its 2D view
//! `shape[0] × Π shape[1..]` ([`Param::matrix_dims`]); **a vector or scalar under `"spectral"` falls
//! back to `"l2"`**, which is exact (the spectral norm of an n × 1 matrix is its ℓ2 norm). `U Vᵀ`
//! comes from a thin SVD (`spectral_method = "svd"`, default: exact), or from Newton–Schulz /
//! Polar Express (`"newton_schulz"`, `"polar_express"`, `spectral_steps` steps, default 5 / 8).
//! The iterations are approximate LMOs: the dual used is then ⟨G, O⟩ for their output O (so
//! ⟨g, LMO(g)⟩ = −‖g‖* still holds), and Newton–Schulz's O has singular values up to ≈ 1.2.
//!
//! A step either completes or moves nothing: the LMOs that can fail (the spectral one by SVD,
//! which refuses a non-finite gradient, e.g. under [`NonFinitePolicy::Ignore`]) are computed for
//! every parameter before any parameter changes; the refusal is an [`OptimError::Numerical`]
//! naming the parameter and the step.
//!
//! Hyperparameters (optlab's; PyTorch has no such optimizer): `lr` (1e-3), `norm` ("l2"),
//! `normalized` (true), `spectral_method` ("svd"), `spectral_steps` (null = method default).

use serde::{Deserialize, Serialize};

use super::{
    Config, Groups, NonFinitePolicy, Optimizer, OptimizerState, ParamState, Slot, StepOutcome,
    Subset, screen_gradients, sync_slots,
};
use crate::error::{OptimError, check};
use crate::kernels;
use crate::linalg::{
    LinalgError, NS_COEFFICIENTS, NS_STEPS, Normalization, OrthoMethod, Orthogonalizer, PE_STEPS,
    WorkspaceCache,
};
use crate::param::{Param, ParamFilter};
use crate::scalar::Scalar;

/// The norm whose unit ball the LMO minimizes over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// Euclidean norm of the flattened tensor (normalized gradient descent).
    #[default]
    L2,
    /// Frobenius norm (same as `l2` on the flattened matrix).
    Frobenius,
    /// Max norm: the LMO is −sign(g) (sign descent).
    Linf,
    /// ℓ1 norm: the LMO moves the single largest coordinate (greedy coordinate descent).
    L1,
    /// Spectral norm of the 2D view: the LMO is −U Vᵀ (vectors fall back to `l2`).
    Spectral,
}

impl Norm {
    /// The name in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Norm::L2 => "l2",
            Norm::Frobenius => "frobenius",
            Norm::Linf => "linf",
            Norm::L1 => "l1",
            Norm::Spectral => "spectral",
        }
    }
}

/// Steepest-descent hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SteepestDescentConfig {
    /// Step size α ≥ 0 (default 1e-3).
    pub lr: f64,
    /// "l2" (default), "frobenius", "linf", "l1" or "spectral".
    pub norm: Norm,
    /// true (default): x ← x + α·LMO(g); false: x ← x + α‖g‖*·LMO(g).
    pub normalized: bool,
    /// How the spectral LMO computes U Vᵀ: "svd" (default), "newton_schulz", "polar_express".
    pub spectral_method: OrthoMethod,
    /// Steps of the iterative spectral methods (default null: 5 for Newton–Schulz, 8 for Polar
    /// Express); at most 99.
    pub spectral_steps: Option<usize>,
}

impl Default for SteepestDescentConfig {
    fn default() -> Self {
        SteepestDescentConfig {
            lr: 1e-3,
            norm: Norm::L2,
            normalized: true,
            spectral_method: OrthoMethod::Svd,
            spectral_steps: None,
        }
    }
}

impl Config for SteepestDescentConfig {
    const NAME: &'static str = "SteepestDescent";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        if let Some(k) = self.spectral_steps
            && k >= 100
        {
            return Err(OptimError::invalid(
                Self::NAME,
                "spectral_steps",
                k,
                "an integer in [0, 100)",
            ));
        }
        Ok(())
    }
}

impl SteepestDescentConfig {
    /// Whether the LMO of a parameter with 2D view `dims` can fail: only the spectral one
    /// computed by an SVD (which refuses a non-finite input) can.
    pub fn lmo_can_fail(&self, dims: Option<(usize, usize)>) -> bool {
        self.norm == Norm::Spectral && self.spectral_method == OrthoMethod::Svd && dims.is_some()
    }

    /// The orthogonalizer of the spectral LMO.
    pub fn orthogonalizer(&self) -> Orthogonalizer {
        let steps = self.spectral_steps.unwrap_or(match self.spectral_method {
            OrthoMethod::PolarExpress => PE_STEPS,
            _ => NS_STEPS,
        });
        Orthogonalizer::from_method(
            self.spectral_method,
            steps,
            NS_COEFFICIENTS,
            Normalization::AddEps {
                safety: 1.0,
                eps: 1e-7,
            },
        )
    }
}

/// Writes `d = LMO(g)` for `norm` into `d` and returns the dual norm `‖g‖*`.
///
/// `dims` is the 2D view used by the spectral norm (`None`: vector, falls back to ℓ2);
/// `workspaces` caches the orthogonalization buffers between calls.
pub fn lmo<T: Scalar>(
    norm: Norm,
    g: &[T],
    dims: Option<(usize, usize)>,
    spectral: &Orthogonalizer,
    workspaces: &mut WorkspaceCache<T>,
    d: &mut [T],
) -> Result<T, LinalgError> {
    if d.len() != g.len() {
        return Err(LinalgError::Shape(format!(
            "LMO output has {} values for a gradient of {}",
            d.len(),
            g.len()
        )));
    }
    let norm = match (norm, dims) {
        (Norm::Spectral, None) => Norm::L2,
        (n, _) => n,
    };
    match norm {
        Norm::L2 | Norm::Frobenius => {
            let n = kernels::norm2(g);
            if n > T::zero() {
                for (d, &g) in d.iter_mut().zip(g) {
                    *d = -g / n;
                }
            } else {
                d.fill(T::zero());
            }
            Ok(n)
        }
        Norm::Linf => {
            for (d, &g) in d.iter_mut().zip(g) {
                *d = -sign(g);
            }
            Ok(kernels::norm1(g))
        }
        Norm::L1 => {
            d.fill(T::zero());
            let mut best: Option<(usize, T)> = None;
            for (i, &v) in g.iter().enumerate() {
                let a = v.abs();
                // A NaN counts as the largest entry: it is not silently dropped.
                if best.is_none_or(|(_, b)| a > b || (a.is_nan() && !b.is_nan())) {
                    best = Some((i, a));
                }
            }
            match best {
                Some((i, m)) if m > T::zero() || m.is_nan() => {
                    d[i] = -sign(g[i]);
                    Ok(m)
                }
                _ => Ok(T::zero()),
            }
        }
        Norm::Spectral => {
            if g.iter().all(|v| *v == T::zero()) {
                d.fill(T::zero());
                return Ok(T::zero());
            }
            let (rows, cols) = dims.unwrap_or((g.len(), 1));
            let ws = workspaces.get(rows, cols);
            let o = ws.orthogonalize(g, rows, cols, spectral)?;
            let mut dual = T::zero();
            let gm = faer::MatRef::from_row_major_slice(g, rows, cols);
            let dm = faer::MatMut::from_row_major_slice_mut(d, rows, cols);
            faer::zip!(dm, o, gm).for_each(|faer::unzip!(d, o, g)| {
                *d = -*o;
                dual = dual + *g * *o;
            });
            Ok(dual)
        }
    }
}

/// sign(x) ∈ {−1, 0, 1} with sign(0) = 0; NaN stays NaN (as `torch.sign` and SignGD).
#[inline]
fn sign<T: Scalar>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else if x.is_nan() {
        x
    } else {
        T::zero()
    }
}

/// Steepest descent under per-parameter norms (stateless apart from buffers reused each step).
pub struct SteepestDescent<T: Scalar> {
    groups: Groups<SteepestDescentConfig>,
    slots: Vec<Slot<()>>,
    step: u64,
    policy: NonFinitePolicy,
    workspaces: WorkspaceCache<T>,
    direction: Vec<T>,
    /// Per slot, the direction and dual norm of an LMO that can fail, computed before any
    /// parameter changes.
    pending: Vec<(Vec<T>, T)>,
}

impl<T: Scalar> SteepestDescent<T> {
    /// One group with `config` for every parameter.
    pub fn new(config: SteepestDescentConfig) -> Result<Self, OptimError> {
        Self::with_groups(config, Vec::new())
    }

    /// A default config and `(filter, config)` groups (e.g. spectral for matrices, ℓ∞ for the rest).
    pub fn with_groups(
        default: SteepestDescentConfig,
        groups: Vec<(ParamFilter, SteepestDescentConfig)>,
    ) -> Result<Self, OptimError> {
        Ok(SteepestDescent {
            groups: Groups::new(default, groups)?,
            slots: Vec::new(),
            step: 0,
            policy: NonFinitePolicy::default(),
            workspaces: WorkspaceCache::new(),
            direction: Vec::new(),
            pending: Vec::new(),
        })
    }
}

impl<T: Scalar> Optimizer<T> for SteepestDescent<T> {
    fn name(&self) -> &str {
        SteepestDescentConfig::NAME
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
        sync_slots(&mut self.slots, &self.groups, params, subset, |_, _| ())?;
        if let Some(skipped) = screen_gradients(self.policy, params, subset, self.step + 1)? {
            return Ok(skipped);
        }
        let t = self.step + 1;
        // Built lazily (naming the parameter allocates, which a step must not do).
        let numerical = |p: &Param<T>, e: LinalgError| {
            OptimError::numerical(SteepestDescentConfig::NAME, &p.name, t, e)
        };
        // The LMOs that can fail (the spectral one through an SVD, which refuses a non-finite
        // gradient, e.g. under `NonFinitePolicy::Ignore`) run first, for every parameter, into
        // `pending`: a refused step changes no parameter.
        self.pending.resize_with(self.slots.len(), Default::default);
        for (j, slot) in self.slots.iter().enumerate() {
            let p = &params[subset.index(j)];
            let cfg = self.groups.config(slot.group);
            if !cfg.lmo_can_fail(p.matrix_dims()) {
                continue;
            }
            let (direction, dual) = &mut self.pending[j];
            direction.resize(p.numel(), T::zero());
            *dual = lmo(
                cfg.norm,
                &p.grad,
                p.matrix_dims(),
                &cfg.orthogonalizer(),
                &mut self.workspaces,
                direction,
            )
            .map_err(|e| numerical(p, e))?;
        }
        self.step = t;
        for (j, slot) in self.slots.iter().enumerate() {
            let p = &mut params[subset.index(j)];
            let cfg = self.groups.config(slot.group);
            let lr = self.groups.lr(slot.group);
            let (direction, dual) = if cfg.lmo_can_fail(p.matrix_dims()) {
                let (d, dual) = &self.pending[j];
                (d.as_slice(), *dual)
            } else {
                self.direction.resize(p.numel(), T::zero());
                // Cannot fail: only the SVD route of the spectral LMO can.
                let dual = lmo(
                    cfg.norm,
                    &p.grad,
                    p.matrix_dims(),
                    &cfg.orthogonalizer(),
                    &mut self.workspaces,
                    &mut self.direction,
                )
                .map_err(|e| numerical(p, e))?;
                (self.direction.as_slice(), dual)
            };
            let scale = if cfg.normalized {
                T::of(lr)
            } else {
                T::of(lr) * dual
            };
            for (x, &d) in p.data.iter_mut().zip(direction) {
                *x = *x + scale * d;
            }
        }
        Ok(StepOutcome::Applied)
    }

    fn state(&self) -> OptimizerState<T> {
        OptimizerState {
            optimizer: self.name().to_string(),
            step: self.step,
            lrs: self.groups.lrs().to_vec(),
            params: self
                .slots
                .iter()
                .map(|s| ParamState {
                    name: s.name.clone(),
                    shape: s.shape.clone(),
                    buffers: Vec::new(),
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
        if let Some(ps) = state.params.iter().find(|ps| !ps.buffers.is_empty()) {
            return Err(OptimError::StateMismatch(format!(
                "parameter `{}` has buffers; SteepestDescent keeps none",
                ps.name
            )));
        }
        self.groups.load_lrs(&state.lrs)?;
        self.slots = state
            .params
            .iter()
            .map(|ps| Slot {
                name: ps.name.clone(),
                shape: ps.shape.clone(),
                group: self.groups.group_of(&ps.name, &ps.shape),
                state: (),
            })
            .collect();
        self.step = state.step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::polar::singular_values;
    use proptest::prelude::*;

    const NORMS: [Norm; 5] = [
        Norm::L2,
        Norm::Frobenius,
        Norm::Linf,
        Norm::L1,
        Norm::Spectral,
    ];

    /// The primal norm of `d`, computed directly from its definition.
    fn primal(norm: Norm, d: &[f64], dims: Option<(usize, usize)>) -> f64 {
        match (norm, dims) {
            (Norm::L2 | Norm::Frobenius, _) | (Norm::Spectral, None) => {
                d.iter().map(|v| v * v).sum::<f64>().sqrt()
            }
            (Norm::Linf, _) => d.iter().fold(0.0, |m, v| m.max(v.abs())),
            (Norm::L1, _) => d.iter().map(|v| v.abs()).sum(),
            (Norm::Spectral, Some((r, c))) => singular_values(d, r, c).unwrap()[0],
        }
    }

    /// The dual norm of `g`, computed directly from its definition.
    fn dual(norm: Norm, g: &[f64], dims: Option<(usize, usize)>) -> f64 {
        match (norm, dims) {
            (Norm::L2 | Norm::Frobenius, _) | (Norm::Spectral, None) => {
                g.iter().map(|v| v * v).sum::<f64>().sqrt()
            }
            (Norm::Linf, _) => g.iter().map(|v| v.abs()).sum(),
            (Norm::L1, _) => g.iter().fold(0.0, |m, v| m.max(v.abs())),
            (Norm::Spectral, Some((r, c))) => singular_values(g, r, c).unwrap().iter().sum(),
        }
    }

    fn tensor() -> impl Strategy<Value = (Vec<f64>, Option<(usize, usize)>)> {
        prop_oneof![
            prop::collection::vec(-10.0f64..10.0, 1..24).prop_map(|v| (v, None)),
            (1usize..6, 1usize..6).prop_flat_map(|(r, c)| {
                prop::collection::vec(-10.0f64..10.0, r * c).prop_map(move |v| (v, Some((r, c))))
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn lmo_attains_minus_dual_norm_inside_unit_ball((g, dims) in tensor()) {
            let how = Orthogonalizer::Svd;
            let mut ws = WorkspaceCache::new();
            let mut d = vec![0.0; g.len()];
            for norm in NORMS {
                let reported = lmo(norm, &g, dims, &how, &mut ws, &mut d).unwrap();
                let want = dual(norm, &g, dims);
                let inner: f64 = g.iter().zip(&d).map(|(a, b)| a * b).sum();
                let tol = 1e-10 * (1.0 + want);
                prop_assert!((reported - want).abs() <= tol, "{norm:?}: dual {reported} vs {want}");
                prop_assert!((inner + want).abs() <= tol, "{norm:?}: ⟨g, d⟩ = {inner}, ‖g‖* = {want}");
                prop_assert!(primal(norm, &d, dims) <= 1.0 + 1e-10, "{norm:?}: ‖d‖ > 1");
            }
        }
    }

    #[test]
    fn zero_gradient_gives_zero_direction() {
        let mut ws = WorkspaceCache::new();
        let mut d = vec![1.0; 6];
        for norm in NORMS {
            let n = lmo(
                norm,
                &[0.0; 6],
                Some((2, 3)),
                &Orthogonalizer::Svd,
                &mut ws,
                &mut d,
            )
            .unwrap();
            assert_eq!(n, 0.0, "{norm:?}");
            assert!(d.iter().all(|v| *v == 0.0), "{norm:?}: {d:?}");
        }
    }

    #[test]
    fn newton_schulz_spectral_lmo_is_consistent_but_approximate() {
        let g: Vec<f64> = (0..12).map(|i| ((i * 5 % 7) as f64 - 3.0) / 2.0).collect();
        let mut ws = WorkspaceCache::new();
        let mut d = vec![0.0; 12];
        let how = SteepestDescentConfig {
            spectral_method: OrthoMethod::NewtonSchulz,
            ..Default::default()
        }
        .orthogonalizer();
        let n = lmo(Norm::Spectral, &g, Some((3, 4)), &how, &mut ws, &mut d).unwrap();
        let inner: f64 = g.iter().zip(&d).map(|(a, b)| a * b).sum();
        assert!((inner + n).abs() < 1e-12);
        let exact = dual(Norm::Spectral, &g, Some((3, 4)));
        assert!((n - exact).abs() < 0.3 * exact, "{n} vs {exact}");
    }

    #[test]
    fn sign_descent_and_unnormalized_l2_steps() -> Result<(), OptimError> {
        let mut p = vec![Param::<f64>::vector("x", vec![1.0, 1.0, 1.0])];
        p[0].grad = vec![2.0, -0.5, 0.0];
        let mut opt = SteepestDescent::new(SteepestDescentConfig {
            lr: 0.1,
            norm: Norm::Linf,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        assert_eq!(p[0].data, vec![0.9, 1.1, 1.0]);
        // Unnormalized ℓ2 steepest descent is gradient descent: x − α‖g‖·g/‖g‖ = x − αg.
        let mut q = vec![Param::<f64>::vector("x", vec![1.0, 1.0])];
        q[0].grad = vec![3.0, 4.0];
        let mut gd = SteepestDescent::new(SteepestDescentConfig {
            lr: 0.1,
            normalized: false,
            ..Default::default()
        })?;
        gd.step(&mut q)?;
        assert!((q[0].data[0] - 0.7).abs() < 1e-15 && (q[0].data[1] - 0.6).abs() < 1e-15);
        Ok(())
    }

    #[test]
    fn spectral_on_a_vector_falls_back_to_l2() -> Result<(), OptimError> {
        let mut p = vec![
            Param::<f64>::vector("b", vec![0.0, 0.0]),
            Param::<f64>::zeros("w", [2, 2]),
        ];
        p[0].grad = vec![3.0, 4.0];
        p[1].grad = vec![2.0, 0.0, 0.0, 0.5];
        let mut opt = SteepestDescent::new(SteepestDescentConfig {
            lr: 1.0,
            norm: Norm::Spectral,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        assert!((p[0].data[0] + 0.6).abs() < 1e-15 && (p[0].data[1] + 0.8).abs() < 1e-15);
        // diag(2, 0.5) has polar factor I.
        let want = [-1.0, 0.0, 0.0, -1.0];
        assert!(
            p[1].data
                .iter()
                .zip(want)
                .all(|(a, b)| (a - b).abs() < 1e-12)
        );
        Ok(())
    }

    /// The spectral LMO by SVD cannot take a non-finite gradient: under
    /// `NonFinitePolicy::Ignore` the step is refused and no parameter moves (the matrix before
    /// the offending one included); Newton–Schulz lets the NaN through.
    #[test]
    fn refused_spectral_step_moves_nothing() -> Result<(), OptimError> {
        let model = || -> Result<Vec<Param<f64>>, OptimError> {
            let mut ps = vec![
                Param::new("a", [2, 3], vec![1.0; 6])?,
                Param::new("b", [3, 2], vec![2.0; 6])?,
            ];
            for p in &mut ps {
                for (i, g) in p.grad.iter_mut().enumerate() {
                    *g = ((i * 5 % 7) as f64 - 3.0) / 3.0;
                }
            }
            Ok(ps)
        };
        let cfg = SteepestDescentConfig {
            lr: 0.1,
            norm: Norm::Spectral,
            normalized: false,
            ..Default::default()
        };
        let mut opt = SteepestDescent::<f64>::new(cfg.clone())?;
        opt.set_nonfinite_policy(NonFinitePolicy::Ignore);
        let mut ps = model()?;
        ps[1].grad[2] = f64::NAN;
        let e = opt.step(&mut ps);
        assert!(
            matches!(&e, Err(OptimError::Numerical { param, step: 1, .. }) if param == "b"),
            "{e:?}"
        );
        assert_eq!(ps[0].data, vec![1.0; 6]);
        assert_eq!(ps[1].data, vec![2.0; 6]);
        assert_eq!(opt.steps(), 0);
        // The same step on finite gradients is what a fresh optimizer does.
        ps[1].grad[2] = model()?[1].grad[2];
        opt.step(&mut ps)?;
        let mut fresh = model()?;
        SteepestDescent::<f64>::new(cfg.clone())?.step(&mut fresh)?;
        assert_eq!(ps, fresh);

        let mut ns = SteepestDescent::<f64>::new(SteepestDescentConfig {
            spectral_method: OrthoMethod::NewtonSchulz,
            ..cfg
        })?;
        ns.set_nonfinite_policy(NonFinitePolicy::Ignore);
        let mut ps = model()?;
        ps[1].grad[2] = f64::NAN;
        assert_eq!(ns.step(&mut ps), Ok(StepOutcome::Applied));
        assert!(ps[1].data.iter().all(|x| x.is_nan()));
        Ok(())
    }
}
