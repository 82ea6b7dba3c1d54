//! L-BFGS (PyTorch `torch.optim.LBFGS`): a quasi-Newton method that evaluates the objective
//! several times per step, through a closure ([`Optimizer::step_with_closure`]).
//!
//! One step runs up to `max_iter` iterations on the flattened parameters x (all parameters
//! concatenated in list order), starting from f and g = ∇f at x (the closure's first call):
//!
//! ```text
//! if ‖g‖∞ ≤ tolerance_grad: stop (no move)
//! repeat:
//!   first iteration ever:  d = −g,  H₀ = 1
//!   otherwise:             y = g − g_prev,  s = t·d;  if yᵀs > 1e-10: keep (y, s, ρ = 1/yᵀs)
//!                          (the last history_size pairs) and H₀ = yᵀs/yᵀy;
//!                          d = −H g by the two-loop recursion (Nocedal & Wright, Alg. 7.4)
//!   t = min(1, 1/‖g‖₁)·α on the first iteration ever, α afterwards
//!   if gᵀd > −tolerance_change: stop
//!   line_search_fn = null:           x ← x + t d;  f, g ← closure(x) (except at the last iteration)
//!   line_search_fn = "strong_wolfe": t from a line search satisfying the strong Wolfe
//!                                    conditions (c₁ = 1e-4, c₂ = 0.9, ≤ 25 evaluations,
//!                                    cubic interpolation, Moré–Thuente style zoom);  x ← x + t d
//!   stop after max_iter iterations, max_eval closure calls, when ‖g‖∞ ≤ tolerance_grad,
//!   ‖t d‖∞ ≤ tolerance_change or |f − f_prev| < tolerance_change
//! ```
//!
//! Every branch, stopping test and evaluation count is PyTorch's (`lbfgs.py`, including its
//! `_strong_wolfe` and `_cubic_interpolate`), so the number of closure calls per step matches
//! (checked against PyTorch's traces). The state — direction d, step t, the (y, s, ρ) history,
//! H₀, the previous gradient and the iteration/evaluation counters — persists across steps, as in
//! PyTorch, and is saved with PyTorch's names, registered on the first parameter as PyTorch does.
//! It is kept in the parameters' precision.
//!
//! Differences from PyTorch: a non-finite gradient at *any* closure call of a step (not only the
//! first) is handled by the [`NonFinitePolicy`]: under `Error` and `Skip` the parameters and the
//! state return to where the step started (PyTorch has no policy and continues with NaNs); a
//! closure error does the same and is returned. The previous loss is not part of the saved state
//! (PyTorch saves `prev_loss` but overwrites it before reading it).
//!
//! Papers: Liu & Nocedal, "On the limited memory BFGS method for large scale optimization" (Math.
//! Programming, 1989); Nocedal & Wright, "Numerical Optimization" (2006), §7.2 and §3.5 (strong
//! Wolfe line search); PyTorch's port follows Mark Schmidt's minFunc.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{
    Buffer, Closure, ClosureStep, Config, Eval, NonFinitePolicy, Optimizer, OptimizerState,
    ParamState, StepOutcome, Subset, screen_gradients,
};
use crate::error::{OptimError, check};
use crate::kernels;
use crate::param::{Param, ParamFilter};
use crate::scalar::Scalar;

/// The line search of [`LbfgsConfig::line_search_fn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineSearchFn {
    /// PyTorch's `"strong_wolfe"`.
    StrongWolfe,
}

/// L-BFGS hyperparameters, PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LbfgsConfig {
    /// Learning rate α ≥ 0: the step length along d (the line search's first trial) (default 1).
    pub lr: f64,
    /// Iterations per step, ≥ 1 (default 20).
    pub max_iter: u64,
    /// Closure calls per step, ≥ 1 (`null`: ⌊5·max_iter/4⌋) (default null).
    pub max_eval: Option<u64>,
    /// Stop when ‖g‖∞ ≤ this, ≥ 0 (default 1e-7).
    pub tolerance_grad: f64,
    /// Stop when a step or a loss change is below this, ≥ 0 (default 1e-9).
    pub tolerance_change: f64,
    /// Correction pairs kept, ≥ 1 (default 100).
    pub history_size: usize,
    /// `null` (fixed step α) or `"strong_wolfe"` (default null).
    pub line_search_fn: Option<LineSearchFn>,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            lr: 1.0,
            max_iter: 20,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search_fn: None,
        }
    }
}

impl Config for LbfgsConfig {
    const NAME: &'static str = "LBFGS";

    fn lr(&self) -> f64 {
        self.lr
    }

    fn validate(&self) -> Result<(), OptimError> {
        let at_least_one = |field: &str, v: u64| {
            if v >= 1 {
                Ok(())
            } else {
                Err(OptimError::invalid(Self::NAME, field, v, "an integer ≥ 1"))
            }
        };
        check::non_negative(Self::NAME, "lr", self.lr)?;
        at_least_one("max_iter", self.max_iter)?;
        if let Some(e) = self.max_eval {
            at_least_one("max_eval", e)?;
        }
        check::non_negative(Self::NAME, "tolerance_grad", self.tolerance_grad)?;
        check::non_negative(Self::NAME, "tolerance_change", self.tolerance_change)?;
        at_least_one("history_size", self.history_size as u64)
    }
}

impl LbfgsConfig {
    /// `max_eval`, or PyTorch's default ⌊5·max_iter/4⌋.
    pub fn max_eval(&self) -> u64 {
        self.max_eval
            .unwrap_or_else(|| self.max_iter.saturating_mul(5) / 4)
    }
}

/// A correction pair: y = Δg, s = Δx, ρ = 1/yᵀs.
#[derive(Clone, Debug)]
struct Pair<T> {
    y: Vec<T>,
    s: Vec<T>,
    ro: T,
}

/// What a step changes, to restore it when the step is refused.
#[derive(Clone, Copy, Debug)]
struct Saved<T> {
    n_iter: u64,
    func_evals: u64,
    t: T,
    h_diag: T,
    has_direction: bool,
    history: usize,
}

/// Why a step stopped early.
enum Abort {
    /// A non-finite gradient skipped under [`NonFinitePolicy::Skip`] (with the loss of that
    /// evaluation).
    Skipped(StepOutcome, f64),
    /// A non-finite gradient under [`NonFinitePolicy::Error`], or a closure error.
    Failed(OptimError),
}

impl From<OptimError> for Abort {
    fn from(e: OptimError) -> Self {
        Abort::Failed(e)
    }
}

/// L-BFGS: `Lbfgs::<f64>::new(LbfgsConfig { line_search_fn: Some(LineSearchFn::StrongWolfe),
/// ..Default::default() })`, stepped with [`Optimizer::step_with_closure`].
pub struct Lbfgs<T: Scalar> {
    config: LbfgsConfig,
    lr: f64,
    policy: NonFinitePolicy,
    /// Steps applied.
    steps: u64,
    /// Names and shapes of the parameters seen at the first step.
    layout: Vec<(String, Vec<usize>)>,
    // PyTorch's state.
    func_evals: u64,
    n_iter: u64,
    has_direction: bool,
    d: Vec<T>,
    t: T,
    h_diag: T,
    prev_flat_grad: Vec<T>,
    /// The pairs, oldest first; during a step it may hold more than `history_size` (the
    /// recursion uses the newest ones; the oldest are dropped when the step succeeds).
    history: VecDeque<Pair<T>>,
    // Scratch, reused from step to step.
    pool: Vec<Pair<T>>,
    flat_grad: Vec<T>,
    x_start: Vec<T>,
    x_ls: Vec<T>,
    saved_d: Vec<T>,
    saved_prev: Vec<T>,
    al: Vec<T>,
    ls: [Vec<T>; 4],
}

impl<T: Scalar> Lbfgs<T> {
    /// L-BFGS with `config`.
    pub fn new(config: LbfgsConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Lbfgs {
            lr: config.lr,
            config,
            policy: NonFinitePolicy::default(),
            steps: 0,
            layout: Vec::new(),
            func_evals: 0,
            n_iter: 0,
            has_direction: false,
            d: Vec::new(),
            t: T::zero(),
            h_diag: T::one(),
            prev_flat_grad: Vec::new(),
            history: VecDeque::new(),
            pool: Vec::new(),
            flat_grad: Vec::new(),
            x_start: Vec::new(),
            x_ls: Vec::new(),
            saved_d: Vec::new(),
            saved_prev: Vec::new(),
            al: Vec::new(),
            ls: Default::default(),
        })
    }

    /// As [`new`](Lbfgs::new); parameter groups are refused (one history spans all parameters,
    /// and PyTorch refuses them too).
    pub fn with_groups(
        default: LbfgsConfig,
        groups: Vec<(ParamFilter, LbfgsConfig)>,
    ) -> Result<Self, OptimError> {
        if !groups.is_empty() {
            return Err(OptimError::BadHyperparameters {
                optimizer: LbfgsConfig::NAME.to_string(),
                message: "`groups` is not supported: one L-BFGS history spans all parameters \
                          (PyTorch refuses parameter groups too)"
                    .into(),
            });
        }
        Self::new(default)
    }

    /// The configuration.
    pub fn config(&self) -> &LbfgsConfig {
        &self.config
    }

    /// Closure calls made by all steps so far (PyTorch's `func_evals`).
    pub fn func_evals(&self) -> u64 {
        self.func_evals
    }

    /// Checks the parameter list against the first one; sizes the buffers at the first step.
    fn sync(&mut self, params: &[Param<T>]) -> Result<(), OptimError> {
        for p in params {
            p.check()?;
        }
        if self.layout.is_empty() && !self.has_direction {
            self.layout = params
                .iter()
                .map(|p| (p.name.clone(), p.shape.clone()))
                .collect();
        } else {
            if params.len() != self.layout.len() {
                return Err(OptimError::ParamMismatch {
                    index: params.len().min(self.layout.len()),
                    expected: format!("{} parameters", self.layout.len()),
                    found: format!("{} parameters", params.len()),
                });
            }
            for (j, (p, (name, shape))) in params.iter().zip(&self.layout).enumerate() {
                if &p.name != name || &p.shape != shape {
                    return Err(OptimError::ParamMismatch {
                        index: j,
                        expected: format!("`{name}` {shape:?}"),
                        found: format!("`{}` {:?}", p.name, p.shape),
                    });
                }
            }
        }
        let n: usize = params.iter().map(Param::numel).sum();
        let z = T::zero();
        for v in [
            &mut self.d,
            &mut self.prev_flat_grad,
            &mut self.flat_grad,
            &mut self.x_start,
            &mut self.saved_d,
            &mut self.saved_prev,
        ] {
            v.resize(n, z);
        }
        if self.config.line_search_fn.is_some() {
            self.x_ls.resize(n, z);
            for v in &mut self.ls {
                v.resize(n, z);
            }
        }
        self.al.resize(self.config.history_size, z);
        Ok(())
    }

    /// Calls the closure for f and ∇f at the parameters, screens the gradient under the
    /// policy, and gathers it into `out`.
    fn evaluate(
        &mut self,
        params: &mut [Param<T>],
        closure: &mut dyn Closure<T>,
        out: Option<usize>,
    ) -> Result<f64, Abort> {
        let loss = closure.evaluate(params, Eval::ValueAndGrad)?;
        if let Some(skipped) = screen_gradients(self.policy, params, Subset::All, self.steps + 1)? {
            return Err(Abort::Skipped(skipped, loss));
        }
        let dst = match out {
            None => &mut self.flat_grad,
            Some(i) => &mut self.ls[i],
        };
        gather(params.iter().map(|p| p.grad.as_slice()), dst);
        Ok(loss)
    }

    /// The pairs the two-loop recursion uses: the newest `history_size`.
    fn active(&self) -> std::collections::vec_deque::Iter<'_, Pair<T>> {
        let skip = self.history.len().saturating_sub(self.config.history_size);
        self.history.range(skip..)
    }

    /// d = −H g by the two-loop recursion over the active pairs (PyTorch's collapsed form).
    fn direction(&mut self) {
        let skip = self.history.len().saturating_sub(self.config.history_size);
        let pairs = self.history.range(skip..);
        let num_old = pairs.len();
        // q = −g, then q ← q − α_i y_i from the newest pair to the oldest.
        let d = &mut self.d;
        for (q, &g) in d.iter_mut().zip(&self.flat_grad) {
            *q = -g;
        }
        for (i, p) in pairs.clone().enumerate().rev() {
            let a = kernels::dot(&p.s, d) * p.ro;
            self.al[i] = a;
            axpy(-a, &p.y, d);
        }
        // r = H₀ q, then r ← r + (α_i − β_i) s_i from the oldest pair to the newest.
        let h = self.h_diag;
        d.iter_mut().for_each(|r| *r = *r * h);
        for (i, p) in pairs.enumerate() {
            let be = kernels::dot(&p.y, d) * p.ro;
            axpy(self.al[i] - be, &p.s, d);
        }
        debug_assert!(num_old <= self.al.len());
    }

    /// Pushes (y = g − g_prev, s = t d) if yᵀs > 1e-10 and updates H₀.
    fn update_history(&mut self) {
        let mut pair = self.pool.pop().unwrap_or_else(|| Pair {
            y: Vec::with_capacity(self.d.len()),
            s: Vec::with_capacity(self.d.len()),
            ro: T::zero(),
        });
        pair.y.clear();
        pair.y.extend(
            self.flat_grad
                .iter()
                .zip(&self.prev_flat_grad)
                .map(|(&g, &p)| g - p),
        );
        pair.s.clear();
        let t = self.t;
        pair.s.extend(self.d.iter().map(|&d| d * t));
        let ys = kernels::dot(&pair.y, &pair.s);
        if ys.as_f64() > 1e-10 {
            pair.ro = T::one() / ys;
            self.h_diag = ys / kernels::dot(&pair.y, &pair.y);
            self.history.push_back(pair);
        } else {
            self.pool.push(pair);
        }
    }

    /// The iterations of one step (PyTorch's `step` after the first evaluation).
    fn iterate(
        &mut self,
        params: &mut [Param<T>],
        closure: &mut dyn Closure<T>,
        mut loss: f64,
    ) -> Result<(), Abort> {
        let cfg = self.config.clone();
        let lr = self.lr;
        let tol_change = cfg.tolerance_change;
        let mut current_evals = 1u64;
        let mut n_iter = 0u64;
        while n_iter < cfg.max_iter {
            n_iter += 1;
            self.n_iter += 1;
            if self.n_iter == 1 {
                for (d, &g) in self.d.iter_mut().zip(&self.flat_grad) {
                    *d = -g;
                }
                self.h_diag = T::one();
            } else {
                self.update_history();
                self.direction();
            }
            self.has_direction = true;
            self.prev_flat_grad.copy_from_slice(&self.flat_grad);
            let prev_loss = loss;
            // Initial step: min(1, 1/‖g‖₁)·α the first time, α afterwards.
            let t = if self.n_iter == 1 {
                let inv = 1.0 / kernels::norm1(&self.flat_grad).as_f64();
                py_min(1.0, inv) * lr
            } else {
                lr
            };
            let gtd = kernels::dot(&self.flat_grad, &self.d).as_f64();
            if gtd > -tol_change {
                self.t = T::of(t);
                break;
            }
            let (t, ls_evals, opt_cond) = if cfg.line_search_fn.is_some() {
                gather(params.iter().map(|p| p.data.as_slice()), &mut self.x_ls);
                let (f, t, evals) = self.strong_wolfe(params, closure, t, loss, gtd)?;
                loss = f;
                add_scaled(params, T::of(t), &self.d);
                (t, evals, max_abs(&self.flat_grad) <= cfg.tolerance_grad)
            } else {
                add_scaled(params, T::of(t), &self.d);
                if n_iter != cfg.max_iter {
                    loss = self.evaluate(params, closure, None)?;
                    (t, 1, max_abs(&self.flat_grad) <= cfg.tolerance_grad)
                } else {
                    (t, 0, false)
                }
            };
            self.t = T::of(t);
            current_evals += ls_evals;
            self.func_evals += ls_evals;
            if n_iter == cfg.max_iter
                || current_evals >= cfg.max_eval()
                || opt_cond
                || max_abs_scaled(&self.d, self.t) <= tol_change
                || (loss - prev_loss).abs() < tol_change
            {
                break;
            }
        }
        Ok(())
    }

    /// f and ∇f at x_ls + t d (into `ls[buf]`), the parameters back at x_ls afterwards.
    fn directional(
        &mut self,
        params: &mut [Param<T>],
        closure: &mut dyn Closure<T>,
        t: f64,
        buf: usize,
    ) -> Result<(f64, f64), Abort> {
        add_scaled(params, T::of(t), &self.d);
        let f = self.evaluate(params, closure, Some(buf));
        scatter(&self.x_ls, params);
        let f = f?;
        Ok((f, kernels::dot(&self.ls[buf], &self.d).as_f64()))
    }

    /// PyTorch's `_strong_wolfe` (c₁ = 1e-4, c₂ = 0.9, tolerance_change = 1e-9, max_ls = 25)
    /// from x_ls along d: returns (f, t, evaluations) and leaves the gradient at t in
    /// `flat_grad`. Gradients live in `ls[0..4]`: `ls[0]` holds g at t = 0, the others are
    /// handed out as the brackets move (PyTorch clones instead).
    fn strong_wolfe(
        &mut self,
        params: &mut [Param<T>],
        closure: &mut dyn Closure<T>,
        t0: f64,
        f: f64,
        gtd: f64,
    ) -> Result<(f64, f64, u64), Abort> {
        const C1: f64 = 1e-4;
        const C2: f64 = 0.9;
        const TOLERANCE_CHANGE: f64 = 1e-9;
        const MAX_LS: u32 = 25;
        let d_norm = max_abs(&self.d);
        self.ls[0].copy_from_slice(&self.flat_grad);
        let free = |used: &[usize]| (1..4).find(|i| !used.contains(i)).unwrap_or(3);

        let mut t = t0;
        let mut new = 1;
        let (mut f_new, mut gtd_new) = self.directional(params, closure, t, new)?;
        let mut evals = 1u64;
        let (mut t_prev, mut f_prev, mut g_prev, mut gtd_prev) = (0.0, f, 0usize, gtd);
        let mut done = false;
        let mut ls_iter = 0u32;
        // bracket: positions, values, gradient buffers, slopes (`single` when done at once).
        let mut bracket = [0.0f64; 2];
        let mut bracket_f = [0.0f64; 2];
        let mut bracket_g = [0usize; 2];
        let mut bracket_gtd = [0.0f64; 2];
        let mut single = false;
        while ls_iter < MAX_LS {
            if f_new > f + C1 * t * gtd || (ls_iter > 1 && f_new >= f_prev) {
                bracket = [t_prev, t];
                bracket_f = [f_prev, f_new];
                bracket_g = [g_prev, new];
                bracket_gtd = [gtd_prev, gtd_new];
                break;
            }
            if gtd_new.abs() <= -C2 * gtd {
                bracket = [t, t];
                bracket_f = [f_new, f_new];
                bracket_g = [new, new];
                single = true;
                done = true;
                break;
            }
            if gtd_new >= 0.0 {
                bracket = [t_prev, t];
                bracket_f = [f_prev, f_new];
                bracket_g = [g_prev, new];
                bracket_gtd = [gtd_prev, gtd_new];
                break;
            }
            // Extrapolate.
            let min_step = t + 0.01 * (t - t_prev);
            let max_step = t * 10.0;
            let tmp = t;
            t = cubic_interpolate(
                t_prev,
                f_prev,
                gtd_prev,
                t,
                f_new,
                gtd_new,
                Some((min_step, max_step)),
            );
            t_prev = tmp;
            f_prev = f_new;
            g_prev = new;
            gtd_prev = gtd_new;
            new = free(&[g_prev]);
            (f_new, gtd_new) = self.directional(params, closure, t, new)?;
            evals += 1;
            ls_iter += 1;
        }
        if ls_iter == MAX_LS {
            bracket = [0.0, t];
            bracket_f = [f, f_new];
            bracket_g = [0, new];
        }

        // Zoom.
        let mut insuf_progress = false;
        let (mut low, mut high) = if bracket_f[0] <= bracket_f[1] {
            (0, 1)
        } else {
            (1, 0)
        };
        if single {
            (low, high) = (0, 1);
        }
        while !done && ls_iter < MAX_LS {
            if (bracket[1] - bracket[0]).abs() * d_norm < TOLERANCE_CHANGE {
                break;
            }
            t = cubic_interpolate(
                bracket[0],
                bracket_f[0],
                bracket_gtd[0],
                bracket[1],
                bracket_f[1],
                bracket_gtd[1],
                None,
            );
            let (b_max, b_min) = (
                py_max(bracket[0], bracket[1]),
                py_min(bracket[0], bracket[1]),
            );
            let eps = 0.1 * (b_max - b_min);
            if py_min(b_max - t, t - b_min) < eps {
                if insuf_progress || t >= b_max || t <= b_min {
                    t = if (t - b_max).abs() < (t - b_min).abs() {
                        b_max - eps
                    } else {
                        b_min + eps
                    };
                    insuf_progress = false;
                } else {
                    insuf_progress = true;
                }
            } else {
                insuf_progress = false;
            }
            new = free(&bracket_g);
            (f_new, gtd_new) = self.directional(params, closure, t, new)?;
            evals += 1;
            ls_iter += 1;
            if f_new > f + C1 * t * gtd || f_new >= bracket_f[low] {
                bracket[high] = t;
                bracket_f[high] = f_new;
                bracket_g[high] = new;
                bracket_gtd[high] = gtd_new;
                (low, high) = if bracket_f[0] <= bracket_f[1] {
                    (0, 1)
                } else {
                    (1, 0)
                };
            } else {
                if gtd_new.abs() <= -C2 * gtd {
                    done = true;
                } else if gtd_new * (bracket[high] - bracket[low]) >= 0.0 {
                    bracket[high] = bracket[low];
                    bracket_f[high] = bracket_f[low];
                    bracket_g[high] = bracket_g[low];
                    bracket_gtd[high] = bracket_gtd[low];
                }
                bracket[low] = t;
                bracket_f[low] = f_new;
                bracket_g[low] = new;
                bracket_gtd[low] = gtd_new;
            }
        }
        let g = bracket_g[low];
        let (flat_grad, ls) = (&mut self.flat_grad, &self.ls);
        flat_grad.copy_from_slice(&ls[g]);
        Ok((bracket_f[low], bracket[low], evals))
    }

    fn save(&mut self) -> Saved<T> {
        self.saved_d.copy_from_slice(&self.d);
        self.saved_prev.copy_from_slice(&self.prev_flat_grad);
        Saved {
            n_iter: self.n_iter,
            func_evals: self.func_evals,
            t: self.t,
            h_diag: self.h_diag,
            has_direction: self.has_direction,
            history: self.history.len(),
        }
    }

    fn restore(&mut self, s: Saved<T>, params: &mut [Param<T>]) {
        scatter(&self.x_start, params);
        self.d.copy_from_slice(&self.saved_d);
        self.prev_flat_grad.copy_from_slice(&self.saved_prev);
        self.n_iter = s.n_iter;
        self.func_evals = s.func_evals;
        self.t = s.t;
        self.h_diag = s.h_diag;
        self.has_direction = s.has_direction;
        while self.history.len() > s.history {
            if let Some(p) = self.history.pop_back() {
                self.pool.push(p);
            }
        }
    }
}

/// `x ← x + a·y`.
fn axpy<T: Scalar>(a: T, y: &[T], x: &mut [T]) {
    for (x, &y) in x.iter_mut().zip(y) {
        *x = *x + a * y;
    }
}

/// Each parameter `p ← p + t·d[its range]` (PyTorch's `_add_grad`).
fn add_scaled<T: Scalar>(params: &mut [Param<T>], t: T, d: &[T]) {
    let mut o = 0;
    for p in params {
        let n = p.numel();
        axpy(t, &d[o..o + n], &mut p.data);
        o += n;
    }
}

/// Concatenates slices into `out`.
fn gather<'a, T: Scalar>(parts: impl Iterator<Item = &'a [T]>, out: &mut [T]) {
    let mut o = 0;
    for part in parts {
        out[o..o + part.len()].copy_from_slice(part);
        o += part.len();
    }
}

/// Splits `x` into the parameters' data.
fn scatter<T: Scalar>(x: &[T], params: &mut [Param<T>]) {
    let mut o = 0;
    for p in params {
        let n = p.numel();
        p.data.copy_from_slice(&x[o..o + n]);
        o += n;
    }
}

/// ‖x‖∞ as f64 (NaN if any entry is NaN).
fn max_abs<T: Scalar>(x: &[T]) -> f64 {
    kernels::norm_inf(x).as_f64()
}

/// max_i |d_i t| (PyTorch's `d.mul(t).abs().max()`).
fn max_abs_scaled<T: Scalar>(d: &[T], t: T) -> f64 {
    let mut m = 0.0f64;
    for &v in d {
        let a = (v * t).abs().as_f64();
        if a > m || a.is_nan() {
            m = a;
            if a.is_nan() {
                break;
            }
        }
    }
    m
}

/// Python's `min(a, b)`: `b` if `b < a`, else `a`.
fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// Python's `max(a, b)`: `b` if `b > a`, else `a`.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// PyTorch's `_cubic_interpolate`: the minimizer of the cubic through (x₁, f₁, g₁) and
/// (x₂, f₂, g₂), clamped to `bounds` (default: the interval between x₁ and x₂); the midpoint of
/// the bounds when the cubic has no minimizer.
fn cubic_interpolate(
    x1: f64,
    f1: f64,
    g1: f64,
    x2: f64,
    f2: f64,
    g2: f64,
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        py_min(py_max(min_pos, lo), hi)
    } else {
        (lo + hi) / 2.0
    }
}

impl<T: Scalar> Optimizer<T> for Lbfgs<T> {
    fn name(&self) -> &str {
        LbfgsConfig::NAME
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn base_lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64) {
        self.lr = f(self.config.lr);
    }

    fn set_nonfinite_policy(&mut self, policy: NonFinitePolicy) {
        self.policy = policy;
    }

    /// Always [`OptimError::ClosureRequired`]: L-BFGS evaluates the objective during its step.
    fn step_subset(
        &mut self,
        _params: &mut [Param<T>],
        _subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError> {
        Err(OptimError::ClosureRequired {
            optimizer: LbfgsConfig::NAME.to_string(),
        })
    }

    fn step_with_closure(
        &mut self,
        params: &mut [Param<T>],
        closure: &mut dyn Closure<T>,
    ) -> Result<ClosureStep, OptimError> {
        self.sync(params)?;
        let saved = self.save();
        gather(params.iter().map(|p| p.data.as_slice()), &mut self.x_start);
        self.func_evals += 1;
        let mut orig_loss = None;
        let run = match self.evaluate(params, closure, None) {
            Ok(loss) => {
                orig_loss = Some(loss);
                if max_abs(&self.flat_grad) <= self.config.tolerance_grad {
                    Ok(loss)
                } else {
                    self.iterate(params, closure, loss).map(|()| loss)
                }
            }
            Err(e) => Err(e),
        };
        match run {
            Ok(loss) => {
                while self.history.len() > self.config.history_size {
                    if let Some(p) = self.history.pop_front() {
                        self.pool.push(p);
                    }
                }
                self.steps += 1;
                Ok(ClosureStep {
                    outcome: StepOutcome::Applied,
                    loss,
                })
            }
            Err(abort) => {
                self.restore(saved, params);
                match abort {
                    Abort::Skipped(outcome, loss) => Ok(ClosureStep {
                        outcome,
                        loss: orig_loss.unwrap_or(loss),
                    }),
                    Abort::Failed(e) => Err(e),
                }
            }
        }
    }

    fn requires_closure(&self) -> bool {
        true
    }

    fn state(&self) -> OptimizerState<T> {
        let m = self.history.len().min(self.config.history_size);
        let pairs: Vec<&Pair<T>> = self.active().collect();
        let mut params = Vec::with_capacity(self.layout.len());
        let mut o = 0;
        for (k, (name, shape)) in self.layout.iter().enumerate() {
            let n: usize = shape.iter().product();
            let mut buffers = Vec::new();
            let slice = |v: &[T]| v[o..o + n].to_vec();
            if k == 0 {
                let scalar = |name: &str, v: T| Buffer {
                    name: name.into(),
                    shape: Vec::new(),
                    data: vec![v],
                };
                buffers.push(scalar("func_evals", T::of(self.func_evals as f64)));
                buffers.push(scalar("n_iter", T::of(self.n_iter as f64)));
                if self.has_direction {
                    buffers.push(scalar("t", self.t));
                    buffers.push(scalar("H_diag", self.h_diag));
                    buffers.push(Buffer {
                        name: "ro".into(),
                        shape: vec![m],
                        data: pairs.iter().map(|p| p.ro).collect(),
                    });
                }
            }
            if self.has_direction {
                let rows_shape: Vec<usize> = [m].into_iter().chain(shape.iter().copied()).collect();
                let dirs = Buffer {
                    name: "old_dirs".into(),
                    shape: rows_shape.clone(),
                    data: pairs
                        .iter()
                        .flat_map(|p| p.y[o..o + n].iter().copied())
                        .collect(),
                };
                let stps = Buffer {
                    name: "old_stps".into(),
                    shape: rows_shape,
                    data: pairs
                        .iter()
                        .flat_map(|p| p.s[o..o + n].iter().copied())
                        .collect(),
                };
                buffers.push(Buffer {
                    name: "d".into(),
                    shape: shape.clone(),
                    data: slice(&self.d),
                });
                buffers.push(Buffer {
                    name: "prev_flat_grad".into(),
                    shape: shape.clone(),
                    data: slice(&self.prev_flat_grad),
                });
                buffers.push(dirs);
                buffers.push(stps);
            }
            params.push(ParamState {
                name: name.clone(),
                shape: shape.clone(),
                buffers,
            });
            o += n;
        }
        OptimizerState {
            optimizer: self.name().to_string(),
            step: self.steps,
            lrs: vec![self.lr],
            params,
        }
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        let mismatch = |what: String| OptimError::StateMismatch(format!("LBFGS: {what}"));
        if state.optimizer != self.name() {
            return Err(mismatch(format!("state of `{}`", state.optimizer)));
        }
        let [lr] = state.lrs[..] else {
            return Err(mismatch(format!(
                "{} learning rates saved, L-BFGS has one",
                state.lrs.len()
            )));
        };
        let find = |ps: &ParamState<T>, name: &str, len: usize| -> Result<Vec<T>, OptimError> {
            let b = ps
                .buffers
                .iter()
                .find(|b| b.name == name)
                .ok_or_else(|| mismatch(format!("parameter `{}` has no `{name}`", ps.name)))?;
            if b.data.len() != len {
                return Err(mismatch(format!(
                    "`{name}` of `{}` has {} values, expected {len}",
                    ps.name,
                    b.data.len()
                )));
            }
            Ok(b.data.clone())
        };
        let counter = |v: T| v.as_f64().max(0.0) as u64;
        let first = state.params.first();
        let (func_evals, n_iter) = match first {
            Some(ps) => (
                counter(find(ps, "func_evals", 1)?[0]),
                counter(find(ps, "n_iter", 1)?[0]),
            ),
            None => (0, 0),
        };
        let has_direction = first.is_some_and(|ps| ps.buffers.iter().any(|b| b.name == "d"));
        let n: usize = state
            .params
            .iter()
            .map(|ps| ps.shape.iter().product::<usize>())
            .sum();
        let (mut d, mut prev) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut history: VecDeque<Pair<T>> = VecDeque::new();
        let (mut t, mut h_diag) = (T::zero(), T::one());
        if let (true, Some(ps)) = (has_direction, first) {
            t = find(ps, "t", 1)?[0];
            h_diag = find(ps, "H_diag", 1)?[0];
            let ro_len = ps
                .buffers
                .iter()
                .find(|b| b.name == "ro")
                .map_or(0, |b| b.data.len());
            if ro_len > self.config.history_size {
                return Err(mismatch(format!(
                    "{ro_len} pairs saved, history_size is {}",
                    self.config.history_size
                )));
            }
            for ro in find(ps, "ro", ro_len)? {
                history.push_back(Pair {
                    y: Vec::with_capacity(n),
                    s: Vec::with_capacity(n),
                    ro,
                });
            }
        }
        let m = history.len();
        for ps in &state.params {
            let numel: usize = ps.shape.iter().product();
            if !has_direction {
                continue;
            }
            d.extend(find(ps, "d", numel)?);
            prev.extend(find(ps, "prev_flat_grad", numel)?);
            let dirs = find(ps, "old_dirs", m * numel)?;
            let stps = find(ps, "old_stps", m * numel)?;
            for (i, pair) in history.iter_mut().enumerate() {
                pair.y.extend_from_slice(&dirs[i * numel..(i + 1) * numel]);
                pair.s.extend_from_slice(&stps[i * numel..(i + 1) * numel]);
            }
        }
        self.layout = state
            .params
            .iter()
            .map(|ps| (ps.name.clone(), ps.shape.clone()))
            .collect();
        self.lr = lr;
        self.steps = state.step;
        self.func_evals = func_evals;
        self.n_iter = n_iter;
        self.has_direction = has_direction;
        d.resize(n, T::zero());
        prev.resize(n, T::zero());
        self.d = d;
        self.prev_flat_grad = prev;
        self.t = t;
        self.h_diag = h_diag;
        self.pool.clear();
        self.history = history;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::registry::{self, HyperMap};

    /// f(x) = ½ Σ a_i x_i² on one parameter.
    fn quadratic(a: Vec<f64>) -> impl FnMut(&mut [Param<f64>], Eval) -> Result<f64, OptimError> {
        move |ps: &mut [Param<f64>], _| {
            let p = &mut ps[0];
            let mut f = 0.0;
            for ((g, &x), &a) in p.grad.iter_mut().zip(&p.data).zip(&a) {
                *g = a * x;
                f += 0.5 * a * x * x;
            }
            Ok(f)
        }
    }

    #[test]
    fn solves_a_quadratic_and_needs_a_closure() -> Result<(), OptimError> {
        for line_search_fn in [None, Some(LineSearchFn::StrongWolfe)] {
            let mut opt = Lbfgs::new(LbfgsConfig {
                line_search_fn,
                ..Default::default()
            })?;
            let mut p = vec![Param::<f64>::vector("x", vec![1.0, -2.0, 3.0, 0.5])];
            let mut f = quadratic(vec![1.0, 10.0, 100.0, 0.5]);
            assert!(matches!(
                opt.step(&mut p),
                Err(OptimError::ClosureRequired { .. })
            ));
            let first = opt.step_with_closure(&mut p, &mut f)?;
            assert!((first.loss - (0.5 + 20.0 + 450.0 + 0.0625)).abs() < 1e-12);
            for _ in 0..5 {
                opt.step_with_closure(&mut p, &mut f)?;
            }
            // PyTorch's stopping tests end a step once f changes by < tolerance_change = 1e-9.
            let worst = p[0].data.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(worst < 1e-4, "{line_search_fn:?}: {:?}", p[0].data);
            assert!(opt.func_evals() > 6);
        }
        Ok(())
    }

    #[test]
    fn groups_are_refused_and_fields_checked() {
        let mut groups = HyperMap::new();
        groups.insert(
            "groups".into(),
            serde_json::json!([{"params": "*.bias", "lr": 0.1}]),
        );
        let e = registry::build::<f64>("LBFGS", &groups)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`groups` is not supported"), "{e}");
        let e = Lbfgs::<f64>::new(LbfgsConfig {
            history_size: 0,
            ..Default::default()
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("history_size"), "{e}");
        assert_eq!(LbfgsConfig::default().max_eval(), 25);
    }

    #[test]
    fn a_closure_error_restores_parameters_and_state() -> Result<(), OptimError> {
        // Two iterations per step: the closure is called at the start and after the first move.
        let mut opt = Lbfgs::new(LbfgsConfig {
            max_iter: 2,
            ..Default::default()
        })?;
        let mut p = vec![Param::<f64>::vector("x", vec![1.0, -2.0, 0.5])];
        let a = vec![1.0, 10.0, 100.0];
        let mut f = quadratic(a.clone());
        opt.step_with_closure(&mut p, &mut f)?;
        let (before, state) = (p.clone(), opt.state());
        // The closure fails at its second call, after the parameters have moved.
        let mut calls = 0;
        let mut failing = |ps: &mut [Param<f64>], e: Eval| {
            calls += 1;
            if calls == 2 {
                assert_ne!(ps[0].data, before[0].data);
                Err(OptimError::Objective("data read failed".into()))
            } else {
                quadratic(a.clone())(ps, e)
            }
        };
        let e = opt.step_with_closure(&mut p, &mut failing);
        assert!(matches!(e, Err(OptimError::Objective(_))), "{e:?}");
        assert_eq!(p[0].data, before[0].data);
        assert_eq!(opt.state(), state);
        Ok(())
    }

    #[test]
    fn cubic_interpolation_finds_the_minimizer_of_a_cubic() {
        // f(x) = x³/3 − x (minimum at 1): samples at 0 and 2.
        let f = |x: f64| x * x * x / 3.0 - x;
        let g = |x: f64| x * x - 1.0;
        let t = cubic_interpolate(0.0, f(0.0), g(0.0), 2.0, f(2.0), g(2.0), None);
        assert!((t - 1.0).abs() < 1e-12, "{t}");
        // No minimizer inside: the midpoint of the bounds.
        let t = cubic_interpolate(0.0, 0.0, 1.0, 1.0, 2.0, 3.0, Some((0.5, 0.7)));
        assert!((0.5..=0.7).contains(&t), "{t}");
    }
}
