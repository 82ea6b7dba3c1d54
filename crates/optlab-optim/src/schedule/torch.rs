//! PyTorch's learning-rate schedulers (`torch.optim.lr_scheduler`), as closed forms in k.
//!
//! Names, arguments and defaults are PyTorch's; `k` is PyTorch's `last_epoch` when the step is
//! taken (0 for the first step: the lr a PyTorch training loop uses *before* its k-th
//! `scheduler.step()`), and `base_lr` is the group's `initial_lr`.
//!
//! # Chainable (recursive) versus closed forms
//!
//! PyTorch computes most of these schedulers *recursively* ("chainable form", `get_lr`): the new
//! lr is the group's current lr times a factor, so that several schedulers can act on one
//! optimizer. That is the case of `StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`,
//! `LinearLR` and `PolynomialLR`. PyTorch also gives their closed forms
//! (`_get_closed_form_lr`, used when `step(epoch)` is called), which are what optlab
//! implements: a schedule here is a pure function of `(base_lr, k)` with no state to drift or to
//! save. `OneCycleLR` and `CosineAnnealingWarmRestarts` are defined in closed form by PyTorch
//! too.
//!
//! The two forms are equal in exact arithmetic as long as nothing else changes the group's lr
//! between steps. They differ
//! - by rounding: the recursive form accumulates one rounding error per step (e.g. γ·γ·…·γ
//!   versus γᵏ, or the products of cosine ratios), so it drifts by O(k·ε) relative; over the 40
//!   reference steps both agree to ~1e-15, over 2000 steps (80 cosine periods) to ~5e-13 (see
//!   `tests/golden_schedules.rs`, which replays the recursive forms);
//! - for `CosineAnnealingLR` at k ≡ `T_max` + 1 (mod 2·`T_max`), where the ratio would divide
//!   by 1 + cos(π) = 0: PyTorch switches to an additive branch there; both forms continue along
//!   the same cosine (period 2·`T_max`, back up to the base lr after `T_max`);
//! - for `LinearLR`/`PolynomialLR` after `total_iters`: the recursive form freezes its last
//!   rounded value (1.0000000000000002 for the reference `LinearLR`), the closed form recomputes
//!   it from `end_factor` (1.0);
//! - when something else changes the lr between steps: PyTorch's chained schedulers (two
//!   schedulers stepping the same optimizer) multiply their factors; optlab composes explicitly
//!   with [`Warmup`](super::Warmup) and [`Sequential`](super::Sequential) instead.
//!
//! Every formula here is evaluated with integer arithmetic on `k` where it matters (floor
//! divisions, restart positions), so it is exact and cannot overflow or index out of bounds for
//! any `k: u64`.

use serde::{Deserialize, Serialize};

use super::{Schedule, check};
use crate::error::OptimError;

/// PyTorch's `StepLR`: **α_k = α₀ γ^⌊k / step_size⌋**.
///
/// Arguments: `step_size` (required, ≥ 1), `gamma` = 0.1 in (0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepLR {
    /// Period of the decay, in steps.
    pub step_size: u64,
    /// Multiplicative factor applied every `step_size` steps.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
}

fn default_gamma() -> f64 {
    0.1
}

impl StepLR {
    pub(crate) const KIND: &'static str = "StepLR";

    /// Checks `step_size` and `gamma`.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::at_least_one(Self::KIND, "step_size", self.step_size)?;
        check::decay(Self::KIND, "gamma", self.gamma)
    }
}

impl Schedule for StepLR {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        let decays = k / self.step_size.max(1);
        base_lr * self.gamma.powf(decays as f64)
    }
}

/// PyTorch's `MultiStepLR`: **α_k = α₀ γ^#{i : milestones[i] ≤ k}**.
///
/// Arguments: `milestones` (required; a non-decreasing list of steps; a repeated milestone applies
/// γ once per repetition, as PyTorch's `Counter` does), `gamma` = 0.1 in (0, 1]. PyTorch sorts
/// an unsorted list silently; optlab rejects it as a likely typo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiStepLR {
    /// Steps at which the lr is multiplied by `gamma`.
    pub milestones: Vec<u64>,
    /// Multiplicative factor applied at each milestone.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
}

impl MultiStepLR {
    pub(crate) const KIND: &'static str = "MultiStepLR";

    /// Checks `milestones` and `gamma`.
    pub fn validate(&self) -> Result<(), OptimError> {
        if self.milestones.windows(2).any(|w| w[0] > w[1]) {
            return Err(OptimError::invalid(
                Self::KIND,
                "milestones",
                format!("{:?}", self.milestones),
                "a non-decreasing list of steps",
            ));
        }
        check::decay(Self::KIND, "gamma", self.gamma)
    }
}

impl Schedule for MultiStepLR {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        // bisect_right(milestones, k) of PyTorch's closed form.
        let passed = self.milestones.partition_point(|&m| m <= k);
        base_lr * self.gamma.powf(passed as f64)
    }
}

/// PyTorch's `ExponentialLR`: **α_k = α₀ γᵏ** (the lecture's [`Exponential`](super::Exponential)).
///
/// Argument: `gamma` (required) in (0, 1] (PyTorch allows γ > 1, which overflows for large k).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialLR {
    /// Decay factor per step.
    pub gamma: f64,
}

impl ExponentialLR {
    pub(crate) const KIND: &'static str = "ExponentialLR";

    /// Checks `gamma`.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::decay(Self::KIND, "gamma", self.gamma)
    }
}

impl Schedule for ExponentialLR {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        base_lr * self.gamma.powf(k as f64)
    }
}

/// PyTorch's `CosineAnnealingLR`:
/// **α_k = η_min + (α₀ − η_min)(1 + cos(π k / T_max)) / 2**.
///
/// For k > `T_max` this continues along the cosine (period 2·`T_max`), as PyTorch does — it is
/// *not* a restart schedule (that is [`CosineAnnealingWarmRestarts`]). k is reduced modulo
/// 2·`T_max` in integers first, which is exact and keeps the argument of cos small.
///
/// Arguments: `T_max` (required, ≥ 1), `eta_min` = 0.0 (finite, ≥ 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineAnnealingLR {
    /// Half period of the cosine, in steps.
    #[serde(rename = "T_max")]
    pub t_max: u64,
    /// Minimum learning rate, reached at k = T_max.
    #[serde(default)]
    pub eta_min: f64,
}

impl CosineAnnealingLR {
    pub(crate) const KIND: &'static str = "CosineAnnealingLR";

    /// Checks `T_max` and `eta_min`.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::at_least_one(Self::KIND, "T_max", self.t_max)?;
        check::non_negative(Self::KIND, "eta_min", self.eta_min)
    }
}

/// η_min + (α₀ − η_min)(1 + cos(π t / T)) / 2, PyTorch's cosine annealing term.
fn cosine_anneal(base_lr: f64, eta_min: f64, t: f64, period: f64) -> f64 {
    // Halving the factor (exact) before the product: (α₀ − η_min)(1 + cos) could overflow.
    eta_min + (base_lr - eta_min) * (0.5 * (1.0 + (std::f64::consts::PI * t / period).cos()))
}

impl Schedule for CosineAnnealingLR {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        let t_max = self.t_max.max(1);
        let t = u128::from(k) % (2 * u128::from(t_max));
        // For k < 2·T_max this is exactly PyTorch's `math.pi * last_epoch / T_max` expression.
        cosine_anneal(base_lr, self.eta_min, t as f64, t_max as f64)
    }
}

/// PyTorch's `LinearLR`:
/// **α_k = α₀ (s + (e − s) · min(k, total_iters) / total_iters)** with s = `start_factor`,
/// e = `end_factor`.
///
/// Arguments: `start_factor` = 1/3 in (0, 1], `end_factor` = 1.0 in [0, 1], `total_iters` = 5
/// (≥ 1). The ranges are PyTorch's. (With `total_iters` = 0 PyTorch's recursive form stays at
/// s·α₀ forever while its closed form divides by zero; optlab rejects it.)
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearLR {
    /// Factor of the base lr at k = 0.
    #[serde(default = "one_third")]
    pub start_factor: f64,
    /// Factor of the base lr from k = total_iters on.
    #[serde(default = "one")]
    pub end_factor: f64,
    /// Number of steps of the linear ramp.
    #[serde(default = "five")]
    pub total_iters: u64,
}

/// PyTorch's default `start_factor` of `LinearLR` and `factor` of `ConstantLR`.
fn one_third() -> f64 {
    1.0 / 3.0
}

fn one() -> f64 {
    1.0
}

fn five() -> u64 {
    5
}

impl Default for LinearLR {
    fn default() -> Self {
        LinearLR {
            start_factor: one_third(),
            end_factor: one(),
            total_iters: five(),
        }
    }
}

impl LinearLR {
    pub(crate) const KIND: &'static str = "LinearLR";

    /// Checks the factors and `total_iters`.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::decay(Self::KIND, "start_factor", self.start_factor)?;
        check::in_unit_interval(Self::KIND, "end_factor", self.end_factor)?;
        check::at_least_one(Self::KIND, "total_iters", self.total_iters)
    }
}

impl Schedule for LinearLR {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        let total = self.total_iters.max(1);
        let t = k.min(total) as f64 / total as f64;
        base_lr * (self.start_factor + (self.end_factor - self.start_factor) * t)
    }
}

/// PyTorch's `PolynomialLR`:
/// **α_k = α₀ (1 − min(k, total_iters) / total_iters)^power** (0 from k = total_iters on).
///
/// Arguments: `total_iters` = 5 (≥ 1), `power` = 1.0 (finite, ≥ 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolynomialLR {
    /// Number of steps until the lr reaches 0.
    #[serde(default = "five")]
    pub total_iters: u64,
    /// Exponent of the decay.
    #[serde(default = "one")]
    pub power: f64,
}

impl Default for PolynomialLR {
    fn default() -> Self {
        PolynomialLR {
            total_iters: five(),
            power: one(),
        }
    }
}

impl PolynomialLR {
    pub(crate) const KIND: &'static str = "PolynomialLR";

    /// Checks `total_iters` and `power`.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::at_least_one(Self::KIND, "total_iters", self.total_iters)?;
        check::non_negative(Self::KIND, "power", self.power)
    }
}

impl Schedule for PolynomialLR {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        let total = self.total_iters.max(1);
        let t = k.min(total) as f64 / total as f64;
        base_lr * (1.0 - t).powf(self.power)
    }
}

/// How [`OneCycleLR`] interpolates within a phase (PyTorch's `anneal_strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnnealStrategy {
    /// Cosine: `end + (start − end)(1 + cos(π p)) / 2`.
    #[default]
    #[serde(rename = "cos")]
    Cos,
    /// Linear: `start + (end − start) p`.
    #[serde(rename = "linear")]
    Linear,
}

impl AnnealStrategy {
    /// The lr a fraction `pct` ∈ [0, 1] of the way from `start` to `end` (PyTorch's
    /// `_annealing_cos` / `_annealing_linear`, same expressions).
    fn anneal(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => {
                let cos_out = (std::f64::consts::PI * pct).cos() + 1.0;
                end + (start - end) / 2.0 * cos_out
            }
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }
}

/// PyTorch's `OneCycleLR` (Smith & Topin, "Super-Convergence", 2017) — absolute: it ignores the
/// base lr, as PyTorch overwrites the group's lr.
///
/// With η_max = `max_lr`, η₀ = η_max / `div_factor`, η_min = η₀ / `final_div_factor`,
/// T = `total_steps` and p = `pct_start`, the lr anneals (cosine or linear, `anneal_strategy`)
/// - two phases (default): η₀ → η_max over k ∈ [0, pT − 1], then η_max → η_min up to k = T − 1;
/// - `three_phase`: η₀ → η_max over [0, pT − 1], η_max → η₀ up to 2pT − 2, then η₀ → η_min up
///   to T − 1.
///
/// Within a phase from step a to step b, the fraction is (k − a) / (b − a) (PyTorch's float phase
/// ends, same expressions). Two deviations, both where PyTorch fails: a phase of zero length
/// (b = a, e.g. pT = 1) gives fraction 1 instead of PyTorch's 0/0 = NaN, and for k ≥ T the lr
/// stays at its value for k = T − 1 (η_min) where PyTorch raises `ValueError` (after extrapolating
/// the last phase at k = T).
///
/// Arguments (PyTorch defaults): `max_lr` (required, finite, > 0), `total_steps` (required, ≥ 1),
/// `pct_start` = 0.3 in [0, 1], `anneal_strategy` = "cos" ("cos" or "linear"), `div_factor` = 25.0
/// (> 0), `final_div_factor` = 1e4 (> 0), `three_phase` = false. PyTorch's alternative
/// `epochs`/`steps_per_epoch` and its momentum cycling (`cycle_momentum`, ...) are not part of a
/// learning-rate schedule here.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneCycleLR {
    /// Peak learning rate.
    pub max_lr: f64,
    /// Length of the cycle in steps.
    pub total_steps: u64,
    /// Fraction of the cycle spent increasing the lr.
    #[serde(default = "default_pct_start")]
    pub pct_start: f64,
    /// Cosine or linear interpolation.
    #[serde(default)]
    pub anneal_strategy: AnnealStrategy,
    /// initial lr = max_lr / div_factor.
    #[serde(default = "default_div_factor")]
    pub div_factor: f64,
    /// minimum lr = initial lr / final_div_factor.
    #[serde(default = "default_final_div_factor")]
    pub final_div_factor: f64,
    /// Three phases (up, back down to the initial lr, annihilation) instead of two.
    #[serde(default)]
    pub three_phase: bool,
}

fn default_pct_start() -> f64 {
    0.3
}

fn default_div_factor() -> f64 {
    25.0
}

fn default_final_div_factor() -> f64 {
    1e4
}

impl OneCycleLR {
    pub(crate) const KIND: &'static str = "OneCycleLR";

    /// PyTorch's defaults for a given peak lr and cycle length.
    pub fn new(max_lr: f64, total_steps: u64) -> Self {
        OneCycleLR {
            max_lr,
            total_steps,
            pct_start: default_pct_start(),
            anneal_strategy: AnnealStrategy::Cos,
            div_factor: default_div_factor(),
            final_div_factor: default_final_div_factor(),
            three_phase: false,
        }
    }

    /// Checks every argument (and that the derived initial and minimum lrs are finite).
    pub fn validate(&self) -> Result<(), OptimError> {
        check::positive(Self::KIND, "max_lr", self.max_lr)?;
        check::at_least_one(Self::KIND, "total_steps", self.total_steps)?;
        check::in_unit_interval(Self::KIND, "pct_start", self.pct_start)?;
        check::positive(Self::KIND, "div_factor", self.div_factor)?;
        check::positive(Self::KIND, "final_div_factor", self.final_div_factor)?;
        // Every phase must hold a step after its start. PyTorch's phases end at the float steps
        // pct_start·T − 1 (warm-up), [2·pct_start·T − 2 (the way down, three_phase)] and T − 1;
        // a warm-up ending at step 0 has zero length and interpolates 0/0 (ZeroDivisionError in
        // PyTorch), one ending before step 0 holds no step at all, and the same goes for the
        // phases after it.
        let t = self.total_steps as f64;
        let up_end = self.pct_start * t - 1.0;
        if up_end <= 0.0 {
            return Err(OptimError::invalid(
                Self::KIND,
                "pct_start",
                self.pct_start,
                format!(
                    "such that pct_start · total_steps > 1 (here {}): the warm-up phase ends at \
                     step pct_start · total_steps − 1, which must come after step 0",
                    self.pct_start * t
                ),
            ));
        }
        let (next_end, phase) = if self.three_phase {
            (
                2.0 * self.pct_start * t - 2.0,
                "the third (final annealing) phase",
            )
        } else {
            (up_end, "the annealing phase")
        };
        if next_end >= t - 1.0 {
            let allowed = if self.three_phase {
                format!(
                    "such that 2 · pct_start · total_steps − 2 < total_steps − 1 (here {} ≥ {}): \
                     {phase} would be empty",
                    next_end,
                    t - 1.0
                )
            } else {
                format!(
                    "< 1: {phase}, from step pct_start · total_steps − 1 to total_steps − 1, would be empty"
                )
            };
            return Err(OptimError::invalid(
                Self::KIND,
                "pct_start",
                self.pct_start,
                allowed,
            ));
        }
        if !(self.max_lr / self.div_factor).is_finite() {
            return Err(OptimError::invalid(
                Self::KIND,
                "div_factor",
                self.div_factor,
                "large enough that max_lr / div_factor is finite",
            ));
        }
        Ok(())
    }

    /// (phase end step, start lr, end lr) for each phase, as PyTorch builds them.
    fn phases(&self) -> ([(f64, f64, f64); 3], usize) {
        let initial = self.max_lr / self.div_factor;
        let min = initial / self.final_div_factor;
        let t = self.total_steps as f64;
        let up_end = self.pct_start * t - 1.0;
        let last = t - 1.0;
        if self.three_phase {
            let down_end = 2.0 * self.pct_start * t - 2.0;
            (
                [
                    (up_end, initial, self.max_lr),
                    (down_end, self.max_lr, initial),
                    (last, initial, min),
                ],
                3,
            )
        } else {
            (
                [
                    (up_end, initial, self.max_lr),
                    (last, self.max_lr, min),
                    (last, min, min),
                ],
                2,
            )
        }
    }
}

impl Schedule for OneCycleLR {
    fn lr(&self, _base_lr: f64, k: u64) -> f64 {
        let step = k.min(self.total_steps.saturating_sub(1)) as f64;
        let (phases, n) = self.phases();
        let mut start_step = 0.0;
        for (i, &(end_step, start_lr, end_lr)) in phases.iter().take(n).enumerate() {
            if step <= end_step || i == n - 1 {
                let span = end_step - start_step;
                let pct = if span == 0.0 {
                    1.0
                } else {
                    (step - start_step) / span
                };
                return self.anneal_strategy.anneal(start_lr, end_lr, pct);
            }
            start_step = end_step;
        }
        // Unreachable: the last phase always returns.
        self.max_lr / self.div_factor / self.final_div_factor
    }
}

/// PyTorch's `CosineAnnealingWarmRestarts` (SGDR, Loshchilov & Hutter, ICLR 2017):
/// **α_k = η_min + (α₀ − η_min)(1 + cos(π T_cur / T_i)) / 2**, where the i-th cycle lasts
/// T_i = T_0 · T_multⁱ steps and T_cur counts the steps since the last restart.
///
/// The cycle containing k is found with exact integer arithmetic (PyTorch's `step(epoch)` uses a
/// floating-point logarithm; its usual `step()` increments T_cur, which is what this reproduces).
///
/// Arguments: `T_0` (required, ≥ 1), `T_mult` = 1 (≥ 1), `eta_min` = 0.0 (finite, ≥ 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineAnnealingWarmRestarts {
    /// Length of the first cycle.
    #[serde(rename = "T_0")]
    pub t_0: u64,
    /// Growth factor of the cycle length after each restart.
    #[serde(rename = "T_mult", default = "one_u64")]
    pub t_mult: u64,
    /// Minimum learning rate.
    #[serde(default)]
    pub eta_min: f64,
}

fn one_u64() -> u64 {
    1
}

impl CosineAnnealingWarmRestarts {
    pub(crate) const KIND: &'static str = "CosineAnnealingWarmRestarts";

    /// Checks `T_0`, `T_mult` and `eta_min`.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::at_least_one(Self::KIND, "T_0", self.t_0)?;
        check::at_least_one(Self::KIND, "T_mult", self.t_mult)?;
        check::non_negative(Self::KIND, "eta_min", self.eta_min)
    }

    /// (T_cur, T_i) at step k.
    fn position(&self, k: u64) -> (u128, u128) {
        let k = u128::from(k);
        let t_0 = u128::from(self.t_0.max(1));
        let t_mult = u128::from(self.t_mult.max(1));
        if t_mult == 1 {
            return (k % t_0, t_0);
        }
        // Cycles grow geometrically, so this loop runs at most ~64 times; T_i ≤ 2^64·T_mult
        // fits in u128.
        let (mut start, mut t_i) = (0u128, t_0);
        while k - start >= t_i {
            start += t_i;
            t_i *= t_mult;
        }
        (k - start, t_i)
    }
}

impl Schedule for CosineAnnealingWarmRestarts {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        let (t_cur, t_i) = self.position(k);
        cosine_anneal(base_lr, self.eta_min, t_cur as f64, t_i as f64)
    }
}

/// PyTorch's `ConstantLR`: **α_k = factor · α₀ for k < total_iters, α₀ from then on**.
///
/// Arguments: `factor` = 1/3 in [0, 1], `total_iters` = 5 (≥ 1). The ranges are PyTorch's
/// except `total_iters` = 0, which PyTorch accepts but then keeps `factor` forever in its
/// recursive form while its closed form never applies it; optlab rejects it. From
/// k = `total_iters` on the lr is exactly α₀ (PyTorch's recursive form multiplies by
/// 1/`factor`, which can be an ulp off, and divides by zero for `factor` = 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantLR {
    /// Factor of the base lr during the first `total_iters` steps.
    #[serde(default = "one_third")]
    pub factor: f64,
    /// Number of steps at the reduced lr.
    #[serde(default = "five")]
    pub total_iters: u64,
}

impl Default for ConstantLR {
    fn default() -> Self {
        ConstantLR {
            factor: one_third(),
            total_iters: five(),
        }
    }
}

impl ConstantLR {
    pub(crate) const KIND: &'static str = "ConstantLR";

    /// Checks `factor` and `total_iters`.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::in_unit_interval(Self::KIND, "factor", self.factor)?;
        check::at_least_one(Self::KIND, "total_iters", self.total_iters)
    }
}

impl Schedule for ConstantLR {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        if k < self.total_iters {
            base_lr * self.factor
        } else {
            base_lr
        }
    }
}

/// PyTorch's `MultiplicativeLR` with a constant factor: **α_k = α₀ · factorᵏ**.
///
/// PyTorch's argument is a function `lr_lambda(epoch)` whose value multiplies the lr at every
/// `scheduler.step()`; a configuration file cannot carry a function, so optlab takes the
/// constant `factor` (the common `lambda epoch: 0.95`). The closed form factorᵏ equals
/// PyTorch's product of k factors up to one rounding per step.
///
/// Argument: `factor` (required) in (0, 1] (a factor > 1 would overflow to ∞ for large k).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiplicativeLR {
    /// Factor applied at every step.
    pub factor: f64,
}

impl MultiplicativeLR {
    pub(crate) const KIND: &'static str = "MultiplicativeLR";

    /// Checks `factor`.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::decay(Self::KIND, "factor", self.factor)
    }
}

impl Schedule for MultiplicativeLR {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        base_lr * self.factor.powf(k as f64)
    }
}

/// The amplitude policy of [`CyclicLR`] (PyTorch's `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CyclicMode {
    /// Constant amplitude: scale 1.
    #[default]
    Triangular,
    /// The amplitude halves every cycle: scale 1/2^(cycle − 1).
    Triangular2,
    /// The amplitude decays per step: scale γᵏ.
    ExpRange,
}

/// PyTorch's `CyclicLR` (Smith, "Cyclical Learning Rates for Training Neural Networks", WACV
/// 2017) — absolute: it ignores the base lr, as PyTorch overwrites the group's lr with
/// `base_lr`.
///
/// With u = `step_size_up`, d = `step_size_down` (default u), T = u + d, the cycle
/// c = 1 + ⌊k/T⌋ and the position x = (k mod T)/T ∈ [0, 1):
///
/// ```text
/// h = x · T/u                  if x ≤ u/T   (rising)
///   = (x − 1)/(u/T − 1)        otherwise    (falling)
/// α_k = base_lr + (max_lr − base_lr) · h · scale
/// scale = 1 (triangular), 1/2^(c−1) (triangular2), γᵏ (exp_range)
/// ```
///
/// Arguments (PyTorch's names and defaults): `base_lr`, `max_lr` (required, finite, ≥ 0;
/// `max_lr` < `base_lr` inverts the cycle, as in PyTorch), `step_size_up` = 2000 (≥ 1),
/// `step_size_down` = `step_size_up` (≥ 0), `mode` = `"triangular"` (`"triangular2"`,
/// `"exp_range"`), `gamma` = 1.0 in (0, 1] (exp_range only).
///
/// Deviations: x and c come from integer arithmetic on k (PyTorch computes
/// `1 + k/T − floor(1 + k/T)` in floating point, which can be an ulp off); a custom `scale_fn`
/// cannot be given in a file; and there is no momentum cycling: `cycle_momentum` is accepted
/// only as `false`, which is also its default here (PyTorch's default `true` cycles SGD's
/// momentum or Adam's β₁ between `base_momentum` and `max_momentum`, which a learning-rate
/// schedule cannot reach).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CyclicLR {
    /// Lower boundary of the cycle (the lr at k = 0).
    pub base_lr: f64,
    /// Upper boundary of the cycle (reached after `step_size_up` steps).
    pub max_lr: f64,
    /// Steps of the rising half of a cycle.
    #[serde(default = "two_thousand")]
    pub step_size_up: u64,
    /// Steps of the falling half (`null`: the same as `step_size_up`).
    #[serde(default)]
    pub step_size_down: Option<u64>,
    /// Amplitude policy.
    #[serde(default)]
    pub mode: CyclicMode,
    /// Decay per step of `exp_range`.
    #[serde(default = "one")]
    pub gamma: f64,
    /// Must be false: optlab's schedules set learning rates only.
    #[serde(default)]
    pub cycle_momentum: bool,
}

fn two_thousand() -> u64 {
    2000
}

impl CyclicLR {
    pub(crate) const KIND: &'static str = "CyclicLR";

    /// PyTorch's defaults for the given bounds.
    pub fn new(base_lr: f64, max_lr: f64) -> Self {
        CyclicLR {
            base_lr,
            max_lr,
            step_size_up: two_thousand(),
            step_size_down: None,
            mode: CyclicMode::default(),
            gamma: one(),
            cycle_momentum: false,
        }
    }

    /// Checks every argument.
    pub fn validate(&self) -> Result<(), OptimError> {
        check::non_negative(Self::KIND, "base_lr", self.base_lr)?;
        check::non_negative(Self::KIND, "max_lr", self.max_lr)?;
        check::at_least_one(Self::KIND, "step_size_up", self.step_size_up)?;
        check::decay(Self::KIND, "gamma", self.gamma)?;
        if self.cycle_momentum {
            return Err(OptimError::invalid(
                Self::KIND,
                "cycle_momentum",
                true,
                "false (optlab's schedules set the learning rate only; momentum cycling is not \
                 implemented)",
            ));
        }
        Ok(())
    }

    /// (cycle c ≥ 1, position x ∈ [0, 1), rising fraction u/T) at step k.
    fn position(&self, k: u64) -> (u128, f64, f64) {
        let up = u128::from(self.step_size_up.max(1));
        let total = up + u128::from(self.step_size_down.unwrap_or(self.step_size_up));
        let k = u128::from(k);
        let x = (k % total) as f64 / total as f64;
        (1 + k / total, x, up as f64 / total as f64)
    }
}

impl Schedule for CyclicLR {
    fn lr(&self, _base_lr: f64, k: u64) -> f64 {
        let (cycle, x, ratio) = self.position(k);
        let height = if x <= ratio {
            x / ratio
        } else {
            (x - 1.0) / (ratio - 1.0)
        };
        let scale = match self.mode {
            CyclicMode::Triangular => 1.0,
            CyclicMode::Triangular2 => 1.0 / 2f64.powf((cycle - 1) as f64),
            CyclicMode::ExpRange => self.gamma.powf(k as f64),
        };
        self.base_lr + (self.max_lr - self.base_lr) * height * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lr_floors() {
        let s = StepLR {
            step_size: 3,
            gamma: 0.5,
        };
        let lrs: Vec<f64> = (0..7).map(|k| s.lr(2.0, k)).collect();
        assert_eq!(lrs, [2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.5]);
        assert_eq!(s.lr(2.0, u64::MAX), 0.0);
    }

    #[test]
    fn multistep_counts_repeated_milestones() {
        let s = MultiStepLR {
            milestones: vec![2, 4, 4],
            gamma: 0.5,
        };
        let lrs: Vec<f64> = (0..6).map(|k| s.lr(1.0, k)).collect();
        assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.125, 0.125]);
        assert!(
            MultiStepLR {
                milestones: vec![5, 3],
                gamma: 0.1
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn cosine_is_periodic_and_hits_eta_min() {
        let s = CosineAnnealingLR {
            t_max: 10,
            eta_min: 0.1,
        };
        assert_eq!(s.lr(1.0, 0), 1.0);
        assert!((s.lr(1.0, 10) - 0.1).abs() < 1e-15);
        assert!((s.lr(1.0, 5) - 0.55).abs() < 1e-15);
        assert_eq!(s.lr(1.0, 3), s.lr(1.0, 23));
        assert_eq!(s.lr(1.0, 0), s.lr(1.0, 20_000_000_000));
        let big = CosineAnnealingLR {
            t_max: u64::MAX,
            eta_min: 0.0,
        };
        assert!(big.lr(1.0, u64::MAX).is_finite());
    }

    #[test]
    fn linear_and_polynomial_ramps() {
        let l = LinearLR::default();
        assert!((l.lr(3.0, 0) - 1.0).abs() < 1e-15);
        assert_eq!(l.lr(3.0, 5), 3.0);
        assert_eq!(l.lr(3.0, u64::MAX), 3.0);
        let p = PolynomialLR {
            total_iters: 4,
            power: 2.0,
        };
        assert_eq!(p.lr(1.0, 2), 0.25);
        assert_eq!(p.lr(1.0, 4), 0.0);
        assert_eq!(p.lr(1.0, u64::MAX), 0.0);
        // power 0 is constant (0⁰ = 1, as PyTorch's recursive form keeps the lr).
        let p0 = PolynomialLR {
            total_iters: 4,
            power: 0.0,
        };
        assert_eq!(p0.lr(1.0, 100), 1.0);
    }

    #[test]
    fn one_cycle_phases() {
        let s = OneCycleLR::new(1.0, 100);
        assert!((s.lr(0.0, 0) - 0.04).abs() < 1e-15);
        assert!((s.lr(0.0, 29) - 1.0).abs() < 1e-15);
        assert!((s.lr(0.0, 99) - 4e-6).abs() < 1e-18);
        assert_eq!(s.lr(0.0, 99), s.lr(0.0, u64::MAX));
        let lin = OneCycleLR {
            anneal_strategy: AnnealStrategy::Linear,
            three_phase: true,
            pct_start: 0.25,
            ..OneCycleLR::new(1.0, 101)
        };
        // phase ends: 24.25, 48.5, 100
        assert_eq!(lin.lr(0.0, 0), 0.04);
        assert!((lin.lr(0.0, 48) - (0.04 + 0.96 * 0.5 / 24.25)).abs() < 1e-15);
        assert!((lin.lr(0.0, 100) - 4e-6).abs() < 1e-16);
    }

    #[test]
    fn one_cycle_empty_or_zero_length_phases_are_refused() {
        let one_cycle = |pct_start, total_steps, three_phase| OneCycleLR {
            pct_start,
            three_phase,
            ..OneCycleLR::new(1.0, total_steps)
        };
        // pct_start·T = 1: PyTorch divides 0 by 0 at k = 0 (ZeroDivisionError); pct_start·T < 1:
        // the warm-up ends before step 0 and holds no step (PyTorch silently skips it);
        // pct_start = 1: the annealing phase is empty; three phases need 2·pct_start·T − 2 <
        // T − 1.
        for (pct_start, total_steps, three_phase, says) in [
            (0.1, 10, false, "> 1 (here 1)"),
            (0.5, 2, false, "> 1 (here 1)"),
            (1.0, 1, false, "> 1 (here 1)"),
            (0.05, 10, false, "> 1 (here 0.5)"),
            (0.0, 100, false, "> 1 (here 0)"),
            (0.3, 1, false, "> 1 (here 0.3)"),
            (1.0, 100, false, "< 1: the annealing phase"),
            (
                0.51,
                100,
                true,
                "the third (final annealing) phase would be empty",
            ),
            (0.1, 10, true, "> 1 (here 1)"),
        ] {
            let err = one_cycle(pct_start, total_steps, three_phase)
                .validate()
                .expect_err("degenerate OneCycleLR accepted");
            let text = err.to_string();
            assert!(
                text.contains("OneCycleLR") && text.contains("pct_start") && text.contains(says),
                "{pct_start} {total_steps} {three_phase}: {text}"
            );
        }
        // the smallest valid ones: a warm-up ending after step 0, an annealing step after it
        for (pct_start, total_steps, three_phase) in [
            (0.75, 2, false),
            (0.15, 10, false),
            (0.49, 100, true),
            (0.3, 100, true),
        ] {
            let s = one_cycle(pct_start, total_steps, three_phase);
            assert!(s.validate().is_ok(), "{s:?}");
            let lrs: Vec<f64> = (0..total_steps).map(|k| s.lr(0.0, k)).collect();
            assert!(lrs.iter().all(|lr| lr.is_finite() && *lr > 0.0), "{lrs:?}");
            assert!(
                (lrs[0] - 0.04).abs() < 1e-15,
                "starts at max_lr / div_factor"
            );
        }
    }

    #[test]
    fn warm_restarts_cycle_positions() {
        let s = CosineAnnealingWarmRestarts {
            t_0: 2,
            t_mult: 3,
            eta_min: 0.0,
        };
        // cycles: [0, 2), [2, 8), [8, 26), ...
        assert_eq!(s.position(0), (0, 2));
        assert_eq!(s.position(1), (1, 2));
        assert_eq!(s.position(2), (0, 6));
        assert_eq!(s.position(7), (5, 6));
        assert_eq!(s.position(8), (0, 18));
        assert_eq!(s.position(26), (0, 54));
        let (t_cur, t_i) = s.position(u64::MAX);
        assert!(t_cur < t_i);
        let s1 = CosineAnnealingWarmRestarts {
            t_0: 7,
            t_mult: 1,
            eta_min: 0.0,
        };
        assert_eq!(s1.position(22), (1, 7));
        let huge = CosineAnnealingWarmRestarts {
            t_0: u64::MAX,
            t_mult: u64::MAX,
            eta_min: 0.0,
        };
        assert!(huge.lr(1.0, u64::MAX).is_finite());
    }

    #[test]
    fn constant_lr_switches_to_the_base_lr() {
        let s = ConstantLR {
            factor: 0.5,
            total_iters: 3,
        };
        let lrs: Vec<f64> = (0..5).map(|k| s.lr(2.0, k)).collect();
        assert_eq!(lrs, [1.0, 1.0, 1.0, 2.0, 2.0]);
        assert_eq!(ConstantLR::default().lr(3.0, 0), 1.0);
        assert!(
            ConstantLR {
                factor: 1.5,
                total_iters: 3
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn multiplicative_is_a_power() {
        let s = MultiplicativeLR { factor: 0.5 };
        assert_eq!(s.lr(4.0, 3), 0.5);
        assert_eq!(s.lr(4.0, u64::MAX), 0.0);
    }

    #[test]
    fn cyclic_modes() {
        let tri = CyclicLR {
            step_size_up: 2,
            step_size_down: Some(4),
            ..CyclicLR::new(1.0, 4.0)
        };
        // up over 2 steps, down over 4: 1, 2.5, 4, 3.25, 2.5, 1.75, then again.
        for (k, want) in [1.0, 2.5, 4.0, 3.25, 2.5, 1.75, 1.0, 2.5]
            .into_iter()
            .enumerate()
        {
            let lr = tri.lr(99.0, k as u64);
            assert!((lr - want).abs() < 1e-15, "k = {k}: {lr} vs {want}");
        }
        let tri2 = CyclicLR {
            mode: CyclicMode::Triangular2,
            ..tri
        };
        assert_eq!(tri2.lr(0.0, 8), 2.5); // second cycle: half the amplitude
        assert!((tri2.lr(0.0, 15) - 1.5625).abs() < 1e-15);
        assert_eq!(tri2.lr(0.0, u64::MAX), 1.0);
        let exp = CyclicLR {
            mode: CyclicMode::ExpRange,
            gamma: 0.5,
            ..tri
        };
        assert_eq!(exp.lr(0.0, 2), 1.0 + 3.0 * 0.25);
        let e = CyclicLR {
            cycle_momentum: true,
            ..tri
        }
        .validate()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("cycle_momentum"), "{e}");
        let big = CyclicLR {
            step_size_up: u64::MAX,
            step_size_down: Some(u64::MAX),
            ..tri
        };
        assert!(big.lr(0.0, u64::MAX).is_finite());
    }

    /// `step_size_down` = 0 is PyTorch's sawtooth (rise over u steps, drop back at once), not a
    /// division by zero: the falling branch is never reached.
    #[test]
    fn cyclic_without_falling_half_is_a_sawtooth() {
        let saw = CyclicLR {
            step_size_up: 4,
            step_size_down: Some(0),
            ..CyclicLR::new(1.0, 5.0)
        };
        assert!(saw.validate().is_ok());
        let lrs: Vec<f64> = (0..9).map(|k| saw.lr(0.0, k)).collect();
        assert_eq!(lrs, [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0]);
    }
}
