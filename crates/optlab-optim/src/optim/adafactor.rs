//! Adafactor (PyTorch `torch.optim.Adafactor`): Adam-like steps with a factored second moment —
//! O(rows + columns) memory per matrix instead of O(rows · columns) — a relative step size and
//! update clipping.
//!
//! At step t, for each parameter X (gradient G, negated first if `maximize`), with
//! β̂₂ = 1 − t^τ (τ = `beta2_decay`), ρ_t = min(α, 1/√t), RMS(A) = ‖A‖₂/√numel(A) and
//! (ε₁, ε₂) = `eps`:
//!
//! ```text
//! a_t = max(ε₂, RMS(X)) · ρ_t                         (relative step: scaled by the weights)
//! X ← (1 − α λ) X                                     (weight_decay λ, decoupled)
//! ≥ 2-D (rows i, columns j of the last two dimensions, per leading index):
//!     R_i ← β̂₂ R_i + (1 − β̂₂) mean_j G_ij²            (row_var)
//!     C_j ← β̂₂ C_j + (1 − β̂₂) mean_i G_ij²            (col_var)
//!     V_ij = R_i C_j / max(mean_i R_i, ε₁)
//! 0-D and 1-D:
//!     V ← β̂₂ V + (1 − β̂₂) G²                         (variance)
//! U = G / √max(V, ε₁²)
//! X ← X − a_t · U / max(1, RMS(U)/d)                   (update clipping at d)
//! ```
//!
//! ε₁ defaults to the machine epsilon of the parameters' type (PyTorch's `eps = (None, 1e-3)`).
//! With ε₁² = 0 (ε₁ = 0, or ε₁ < 1e-19 in f32, where ε₁² underflows) a coordinate whose second
//! moment is 0 gets U = 0/0 = NaN, as in PyTorch.
//! As in PyTorch, ε₁ enters after the row and column factors (not added to G², as in the
//! paper), the means replace the paper's sums, and the lr α bounds ρ_t and scales the weight
//! decay (the paper uses 0.01 for the former and has no weight decay).
//!
//! Paper: Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost"
//! (ICML 2018).

use serde::{Deserialize, Serialize};

use super::{
    Buffer, Config, Grouped, Optimizer, OptimizerState, StepOutcome, Subset, grouped_accessors,
    screen_gradients, sync_slots,
};
use crate::error::{OptimError, check};
use crate::kernels::{self, lerp};
use crate::param::{Param, ParamFilter};
use crate::scalar::Scalar;

/// Adafactor hyperparameters, PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdafactorConfig {
    /// Learning rate α ≥ 0: the largest relative step ρ_t and the scale of the weight decay
    /// (default 1e-2).
    pub lr: f64,
    /// τ ≤ 0: β̂₂ = 1 − t^τ (default −0.8).
    pub beta2_decay: f64,
    /// (ε₁, ε₂): ε₁ ≥ 0 bounds the second moment from below (`null`: the machine epsilon of the
    /// parameters' type), ε₂ ≥ 0 bounds the RMS of the weights in the relative step (default
    /// (null, 1e-3)).
    pub eps: (Option<f64>, f64),
    /// Clipping threshold d ≥ 1 of the update's RMS (default 1).
    pub d: f64,
    /// Decoupled weight decay λ ≥ 0: X ← (1 − αλ) X (default 0).
    pub weight_decay: f64,
    /// Maximize instead of minimize (default false).
    pub maximize: bool,
}

impl Default for AdafactorConfig {
    fn default() -> Self {
        AdafactorConfig {
            lr: 1e-2,
            beta2_decay: -0.8,
            eps: (None, 1e-3),
            d: 1.0,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl Config for AdafactorConfig {
    const NAME: &'static str = "Adafactor";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::NAME, "lr", self.lr)?;
        if !(self.beta2_decay.is_finite() && self.beta2_decay <= 0.0) {
            return Err(OptimError::invalid(
                Self::NAME,
                "beta2_decay",
                self.beta2_decay,
                "finite and ≤ 0",
            ));
        }
        if let Some(eps1) = self.eps.0 {
            check::non_negative(Self::NAME, "eps[0]", eps1)?;
        }
        check::non_negative(Self::NAME, "eps[1]", self.eps.1)?;
        if !(self.d.is_finite() && self.d >= 1.0) {
            return Err(OptimError::invalid(
                Self::NAME,
                "d",
                self.d,
                "finite and ≥ 1",
            ));
        }
        check::non_negative(Self::NAME, "weight_decay", self.weight_decay)
    }
}

/// The factored second moment of a ≥ 2-D parameter: `batch` matrices of `rows × cols` (the last
/// two dimensions), their row and column factors, and a scratch row for the column sums.
#[derive(Clone, Debug)]
struct Factored<T> {
    batch: usize,
    rows: usize,
    cols: usize,
    row_var: Vec<T>,
    col_var: Vec<T>,
    col_sums: Vec<T>,
}

/// The second-moment statistics of one parameter.
#[derive(Clone, Debug)]
enum Moments<T> {
    /// ≥ 2-D.
    Factored(Factored<T>),
    /// 0-D and 1-D: the full second moment.
    Full { variance: Vec<T> },
}

impl<T: Scalar> Moments<T> {
    fn new(shape: &[usize]) -> Self {
        match shape {
            [lead @ .., rows, cols] => {
                let batch = lead.iter().product();
                Moments::Factored(Factored {
                    batch,
                    rows: *rows,
                    cols: *cols,
                    row_var: vec![T::zero(); batch * rows],
                    col_var: vec![T::zero(); batch * cols],
                    col_sums: vec![T::zero(); *cols],
                })
            }
            _ => Moments::Full {
                variance: vec![T::zero(); shape.iter().product()],
            },
        }
    }

    /// Updates the statistics with the gradient `g` (signed) and weight `w` = 1 − β̂₂.
    fn update(&mut self, g: &[T], sign: T, w: T) {
        match self {
            Moments::Factored(f) => {
                let (r, c) = (f.rows, f.cols);
                for b in 0..f.batch {
                    let m = &g[b * r * c..(b + 1) * r * c];
                    f.col_sums.iter_mut().for_each(|s| *s = T::zero());
                    for (i, row) in m.chunks_exact(c).enumerate() {
                        let mut s = T::zero();
                        for (cs, &gij) in f.col_sums.iter_mut().zip(row) {
                            let gij = sign * gij;
                            s = s + gij * gij;
                            *cs = *cs + gij * gij;
                        }
                        // PyTorch: vector_norm(G, dim=-1)² / cols.
                        let mean = s.sqrt().powi(2) / T::of(c as f64);
                        let rv = &mut f.row_var[b * r + i];
                        *rv = lerp(*rv, mean, w);
                    }
                    let cols = f.col_var[b * c..(b + 1) * c].iter_mut();
                    for (cv, &s) in cols.zip(f.col_sums.iter()) {
                        let mean = s.sqrt().powi(2) / T::of(r as f64);
                        *cv = lerp(*cv, mean, w);
                    }
                }
            }
            Moments::Full { variance } => {
                for (v, &g) in variance.iter_mut().zip(g) {
                    let g = sign * g;
                    *v = lerp(*v, g * g, w);
                }
            }
        }
    }

    /// Calls `f(j, V_j)` for every coordinate j, with V the variance estimate.
    fn for_each_estimate(&self, eps1: T, mut f: impl FnMut(usize, T)) {
        match self {
            Moments::Factored(fac) => {
                let (r, c) = (fac.rows, fac.cols);
                for b in 0..fac.batch {
                    let rv = &fac.row_var[b * r..(b + 1) * r];
                    let cv = &fac.col_var[b * c..(b + 1) * c];
                    let mean = rv.iter().fold(T::zero(), |s, &v| s + v) / T::of(r as f64);
                    let scale = if mean < eps1 { eps1 } else { mean };
                    for (i, &ri) in rv.iter().enumerate() {
                        for (j, &cj) in cv.iter().enumerate() {
                            f(b * r * c + i * c + j, ri * cj / scale);
                        }
                    }
                }
            }
            Moments::Full { variance } => {
                for (j, &v) in variance.iter().enumerate() {
                    f(j, v);
                }
            }
        }
    }

    /// Named buffers with PyTorch's keys and shapes (`row_var` `[..., rows, 1]`, `col_var`
    /// `[..., 1, cols]`, or `variance`).
    fn buffers(&self, shape: &[usize]) -> Vec<Buffer<T>> {
        match self {
            Moments::Factored(Factored {
                row_var, col_var, ..
            }) => {
                let (mut rs, mut cs) = (shape.to_vec(), shape.to_vec());
                let n = shape.len();
                rs[n - 1] = 1;
                cs[n - 2] = 1;
                vec![
                    Buffer {
                        name: "row_var".into(),
                        shape: rs,
                        data: row_var.clone(),
                    },
                    Buffer {
                        name: "col_var".into(),
                        shape: cs,
                        data: col_var.clone(),
                    },
                ]
            }
            Moments::Full { variance } => vec![Buffer {
                name: "variance".into(),
                shape: shape.to_vec(),
                data: variance.clone(),
            }],
        }
    }

    /// Restores [`buffers`](Moments::buffers) of a parameter of shape `shape`.
    fn load(&mut self, name: &str, buffers: &[Buffer<T>]) -> Result<(), OptimError> {
        let mismatch = |what: String| {
            OptimError::StateMismatch(format!("Adafactor parameter `{name}`: {what}"))
        };
        let names: Vec<&str> = buffers.iter().map(|b| b.name.as_str()).collect();
        match self {
            Moments::Factored(Factored {
                row_var, col_var, ..
            }) => {
                let [r, c] = buffers else {
                    return Err(mismatch(format!(
                        "buffers {names:?}, expected [\"row_var\", \"col_var\"]"
                    )));
                };
                for (b, dst) in [(r, row_var), (c, col_var)] {
                    if b.data.len() != dst.len() {
                        return Err(mismatch(format!(
                            "`{}` has {} values, expected {}",
                            b.name,
                            b.data.len(),
                            dst.len()
                        )));
                    }
                    dst.copy_from_slice(&b.data);
                }
                if names != ["row_var", "col_var"] {
                    return Err(mismatch(format!(
                        "buffers {names:?}, expected [\"row_var\", \"col_var\"]"
                    )));
                }
            }
            Moments::Full { variance } => match buffers {
                [b] if b.name == "variance" && b.data.len() == variance.len() => {
                    variance.copy_from_slice(&b.data);
                }
                _ => {
                    return Err(mismatch(format!(
                        "buffers {names:?}, expected [\"variance\"] with {} values",
                        variance.len()
                    )));
                }
            },
        }
        Ok(())
    }
}

/// Adafactor: `Adafactor::<f32>::new(AdafactorConfig::default())`.
pub struct Adafactor<T: Scalar>(Grouped<AdafactorConfig, Moments<T>>);

impl<T: Scalar> Adafactor<T> {
    /// One group for every parameter.
    pub fn new(config: AdafactorConfig) -> Result<Self, OptimError> {
        Self::with_groups(config, Vec::new())
    }

    /// A default config and `(filter, config)` parameter groups.
    pub fn with_groups(
        default: AdafactorConfig,
        groups: Vec<(ParamFilter, AdafactorConfig)>,
    ) -> Result<Self, OptimError> {
        Ok(Adafactor(Grouped::new(default, groups)?))
    }
}

/// `max(a, b)` as Python's: `a` unless `b > a` (so a NaN `b` gives `a`).
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

impl<T: Scalar> Optimizer<T> for Adafactor<T> {
    grouped_accessors!(AdafactorConfig, 0);

    fn step_subset(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError> {
        let base = &mut self.0;
        sync_slots(&mut base.slots, &base.groups, params, subset, |p, _| {
            Moments::new(&p.shape)
        })?;
        if let Some(skipped) = screen_gradients(base.policy, params, subset, base.step + 1)? {
            return Ok(skipped);
        }
        base.step += 1;
        let t = base.step as f64;
        for (j, slot) in base.slots.iter_mut().enumerate() {
            let p = &mut params[subset.index(j)];
            let cfg = base.groups.config(slot.group);
            let lr = base.groups.lr(slot.group);
            let sign = if cfg.maximize { -T::one() } else { T::one() };
            let eps1 = cfg.eps.0.map_or(T::epsilon(), T::of);
            let numel_sqrt = (p.numel() as f64).sqrt();
            let rho = lr.min(1.0 / t.sqrt());
            let rms = kernels::norm2(&p.data).as_f64() / numel_sqrt;
            let alpha = py_max(cfg.eps.1, rms) * rho;
            if cfg.weight_decay != 0.0 {
                let decay = T::of(1.0 - lr * cfg.weight_decay);
                p.data.iter_mut().for_each(|x| *x = *x * decay);
            }
            slot.state
                .update(&p.grad, sign, T::of(t.powf(cfg.beta2_decay)));
            // U = G / √max(V, ε₁²): its RMS first (clipping), then the step.
            let floor = eps1 * eps1;
            let u =
                |g: T, v: T| (T::one() / (if v < floor { floor } else { v }).sqrt()) * (sign * g);
            let mut sum_sq = T::zero();
            slot.state.for_each_estimate(eps1, |k, v| {
                let uk = u(p.grad[k], v);
                sum_sq = sum_sq + uk * uk;
            });
            let denom = py_max(1.0, sum_sq.sqrt().as_f64() / (numel_sqrt * cfg.d));
            let scale = T::of(-alpha / denom);
            let (data, grad) = (&mut p.data, &p.grad);
            slot.state.for_each_estimate(eps1, |k, v| {
                data[k] = data[k] + scale * u(grad[k], v);
            });
        }
        Ok(StepOutcome::Applied)
    }

    fn state(&self) -> OptimizerState<T> {
        self.0
            .snapshot(self.name(), |slot| slot.state.buffers(&slot.shape))
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        self.0.load(state, AdafactorConfig::NAME, |ps| {
            let mut moments = Moments::new(&ps.shape);
            moments.load(&ps.name, &ps.buffers)?;
            Ok(moments)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factored_moments_are_the_row_column_outer_product() -> Result<(), OptimError> {
        // One step (β̂₂ = 0): R = row means of G², C = column means, V = R Cᵀ / mean(R).
        let g = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut m = Moments::<f64>::new(&[2, 3]);
        m.update(&g, 1.0, 1.0);
        let r = [14.0 / 3.0, 77.0 / 3.0];
        let c = [17.0 / 2.0, 29.0 / 2.0, 45.0 / 2.0];
        let mean_r = (r[0] + r[1]) / 2.0;
        m.for_each_estimate(1e-30, |k, v| {
            let want = r[k / 3] * c[k % 3] / mean_r;
            assert!((v - want).abs() < 1e-13 * want, "{k}: {v} vs {want}");
        });
        let st = m.buffers(&[2, 3]);
        assert_eq!(
            (st[0].shape.clone(), st[1].shape.clone()),
            (vec![2, 1], vec![1, 3])
        );
        Ok(())
    }

    #[test]
    fn the_update_is_clipped_to_rms_d_and_scaled_by_the_weights() -> Result<(), OptimError> {
        // A vector at step 1: V = G², U = sign(G) (RMS 1 ≤ d), a = max(ε₂, RMS(x)) · min(α, 1).
        let mut p = vec![Param::<f64>::vector("v", vec![3.0, -4.0])];
        p[0].grad = vec![0.5, 2.0];
        let mut opt = Adafactor::new(AdafactorConfig {
            lr: 0.1,
            ..Default::default()
        })?;
        opt.step(&mut p)?;
        let a = (12.5f64).sqrt() * 0.1; // RMS(3, −4) = √12.5
        assert!((p[0].data[0] - (3.0 - a)).abs() < 1e-14);
        assert!((p[0].data[1] - (-4.0 - a)).abs() < 1e-14);
        for (hyper, field) in [
            (r#"{"beta2_decay": 0.1}"#, "beta2_decay"),
            (r#"{"d": 0.5}"#, "d"),
            (r#"{"eps": [-1.0, 0.001]}"#, "eps[0]"),
        ] {
            let cfg: AdafactorConfig = serde_json::from_str(hyper).unwrap();
            let e = Adafactor::<f64>::new(cfg)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(&format!("`{field}`")), "{e}");
        }
        Ok(())
    }
}
