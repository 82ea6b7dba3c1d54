//! The fused driver for elementwise optimizers.
//!
//! An elementwise method is a [`Rule`]: per-step scalars ([`Rule::coeffs`], e.g. Adam's bias
//! corrections) and the update of one coordinate ([`Rule::update`]) given its gradient and its `N`
//! state values. [`Elementwise`] runs the rule as a single pass over `(x, g, s)` per parameter:
//! the state of a coordinate is stored interleaved (`Vec<[T; N]>`), so the pass streams three
//! arrays and the compiler vectorizes the loop. Tensors of at least
//! [`PAR_MIN`](crate::kernels::PAR_MIN) elements are split into fixed chunks processed by rayon;
//! smaller ones run on the calling thread without allocating.
//!
//! The update of a coordinate reads only that coordinate, so the driver accepts parameters in any
//! [`Layout`]: the state is kept in the parameter's storage order, and reported row-major by
//! [`state`](Optimizer::state).
//!
//! A rule may also carry per-parameter *scalar* state advanced once per step
//! ([`Rule::SCALARS`], [`Rule::advance`]), as PyTorch keeps NAdam's `mu_product`; most rules have
//! none, and their [`Rule::coeffs`] depends only on the config, the learning rate and the step.
//!
//! A rule whose model is evaluated elsewhere than at the training point (ASGD's average,
//! schedule-free's x) says so with [`Rule::EVAL`] and gives the evaluation-mode value of a
//! coordinate in [`Rule::eval`]; the driver then implements [`Optimizer::eval_params`].

use std::marker::PhantomData;

use rayon::prelude::*;

use super::{
    Buffer, Config, Groups, NonFinitePolicy, Optimizer, OptimizerState, Slot, StepOutcome, Subset,
    load_slots, screen_gradients, snapshot, sync_slots,
};
use crate::error::OptimError;
use crate::kernels::{PAR_CHUNK, PAR_MIN};
use crate::param::{Layout, Param, ParamFilter};
use crate::scalar::Scalar;

/// The per-coordinate formula of an elementwise optimizer with `N` state values per coordinate.
pub trait Rule<T: Scalar, const N: usize>: Send + Sync + 'static {
    /// Hyperparameters.
    type Config: Config;
    /// Scalars computed once per step and parameter group (learning rate, bias corrections...).
    type Coeffs: Copy + Send + Sync;

    /// Names of the state values, PyTorch's where it has them (`["exp_avg", "exp_avg_sq"]`).
    const STATE: [&'static str; N];

    /// Initial state of every coordinate (zeros unless the method says otherwise).
    fn init(_config: &Self::Config) -> [T; N] {
        [T::zero(); N]
    }

    /// Per-step scalars for step `t` (1-based) at learning rate `lr`.
    fn coeffs(config: &Self::Config, lr: f64, t: u64) -> Self::Coeffs;

    /// Names of the per-parameter scalar state carried from step to step besides the step count
    /// (PyTorch's keys, e.g. NAdam's `["mu_product"]`). Empty for most rules.
    const SCALARS: &'static [&'static str] = &[];

    /// Initial values of the scalar state, one per name in [`SCALARS`](Rule::SCALARS).
    fn init_scalars(_config: &Self::Config) -> Vec<T> {
        Vec::new()
    }

    /// Per-step scalars of a rule with scalar state: advances `scalars` (one value per name in
    /// [`SCALARS`](Rule::SCALARS)) from step `t − 1` to step `t`, then returns the coefficients.
    /// Called once per step and parameter. The default (rules without scalar state) is
    /// [`coeffs`](Rule::coeffs).
    fn advance(config: &Self::Config, lr: f64, t: u64, _scalars: &mut [T]) -> Self::Coeffs {
        Self::coeffs(config, lr, t)
    }

    /// Updates one coordinate `x` with gradient `g` and state `s`.
    fn update(c: &Self::Coeffs, x: &mut T, g: T, s: &mut [T; N]);

    /// Whether the model is evaluated at a point other than the training parameters (then
    /// [`Elementwise`] implements [`Optimizer::eval_params`] with [`eval`](Rule::eval)).
    const EVAL: bool = false;

    /// The evaluation-mode value of a coordinate whose training value is `x` and state `s`.
    fn eval(_config: &Self::Config, x: T, _s: &[T; N]) -> T {
        x
    }
}

/// The coefficients of step `t` of a rule with scalar state when the learning rate has been
/// `lr` since step 1: [`Rule::advance`] replayed from [`Rule::init_scalars`] (O(t)). What
/// [`Rule::coeffs`] of such a rule returns; the driver itself advances the saved scalars.
pub fn coeffs_from_start<T: Scalar, R: Rule<T, N>, const N: usize>(
    config: &R::Config,
    lr: f64,
    t: u64,
) -> R::Coeffs {
    let mut scalars = R::init_scalars(config);
    let mut out = R::advance(config, lr, 1, &mut scalars);
    for i in 2..=t {
        out = R::advance(config, lr, i, &mut scalars);
    }
    out
}

/// The state of one parameter: `N` interleaved values per coordinate (in the storage order of the
/// parameter's `layout` at the last step) and the rule's scalars.
#[derive(Clone, Debug)]
struct RuleState<T, const N: usize> {
    coords: Vec<[T; N]>,
    scalars: Vec<T>,
    layout: Layout,
}

impl<T: Copy, const N: usize> RuleState<T, N> {
    /// Reorders the coordinates to the storage order of `layout` (a `[rows, cols]` matrix).
    fn relayout(&mut self, layout: Layout, shape: &[usize]) {
        if let [rows, cols] = *shape {
            self.layout.convert(layout, &mut self.coords, rows, cols);
        }
        self.layout = layout;
    }
}

/// An elementwise optimizer: a [`Rule`] with parameter groups, state and the fused driver.
pub struct Elementwise<T: Scalar, R: Rule<T, N>, const N: usize> {
    groups: Groups<R::Config>,
    slots: Vec<Slot<RuleState<T, N>>>,
    step: u64,
    policy: NonFinitePolicy,
    _rule: PhantomData<R>,
}

impl<T: Scalar, R: Rule<T, N>, const N: usize> Clone for Elementwise<T, R, N> {
    fn clone(&self) -> Self {
        Elementwise {
            groups: self.groups.clone(),
            slots: self.slots.clone(),
            step: self.step,
            policy: self.policy,
            _rule: PhantomData,
        }
    }
}

impl<T: Scalar, R: Rule<T, N>, const N: usize> Elementwise<T, R, N> {
    /// One group with `config` for every parameter.
    pub fn new(config: R::Config) -> Result<Self, OptimError> {
        Self::with_groups(config, Vec::new())
    }

    /// A default config and parameter groups: a parameter takes the config of the first filter
    /// that matches it (e.g. `("*.bias | ndim=1", no weight decay)`), else the default.
    pub fn with_groups(
        default: R::Config,
        groups: Vec<(ParamFilter, R::Config)>,
    ) -> Result<Self, OptimError> {
        Ok(Elementwise {
            groups: Groups::new(default, groups)?,
            slots: Vec::new(),
            step: 0,
            policy: NonFinitePolicy::default(),
            _rule: PhantomData,
        })
    }

    /// The default group's configuration.
    pub fn config(&self) -> &R::Config {
        self.groups.config(0)
    }
}

/// Runs the rule over one contiguous block.
///
/// The loop is compiled once more for the widest vector instruction set the CPU offers
/// (AVX-512 or AVX2 + FMA on x86-64, chosen at run time by [`pulp::Arch`]; the portable build
/// only assumes SSE2) and auto-vectorized there: [`Block`] is a [`pulp::WithSimd`] operation,
/// so the rule's `#[inline(always)]` update is inlined into pulp's target-feature function (a
/// closure passed to `dispatch` is not; see [`vectorized!`](crate::vectorized)). The
/// arithmetic is the same IEEE operations in the same order (Rust neither reassociates nor
/// contracts into FMA), so results are bit-identical whichever path runs.
#[inline]
fn run_block<T: Scalar, R: Rule<T, N>, const N: usize>(
    c: &R::Coeffs,
    x: &mut [T],
    g: &[T],
    s: &mut [[T; N]],
) {
    pulp::Arch::new().dispatch(Block::<T, R, N> {
        c,
        x,
        g,
        s,
        _rule: PhantomData,
    });
}

/// One block of [`run_block`] as a pulp operation.
struct Block<'a, T: Scalar, R: Rule<T, N>, const N: usize> {
    c: &'a R::Coeffs,
    x: &'a mut [T],
    g: &'a [T],
    s: &'a mut [[T; N]],
    _rule: PhantomData<R>,
}

impl<T: Scalar, R: Rule<T, N>, const N: usize> pulp::WithSimd for Block<'_, T, R, N> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for ((x, &g), s) in self.x.iter_mut().zip(self.g).zip(self.s.iter_mut()) {
            R::update(self.c, x, g, s);
        }
    }
}

/// Runs the rule over a whole parameter: on this thread when small, else in parallel chunks.
pub fn run_rule<T: Scalar, R: Rule<T, N>, const N: usize>(
    c: &R::Coeffs,
    x: &mut [T],
    g: &[T],
    s: &mut [[T; N]],
) {
    if x.len() < PAR_MIN {
        run_block::<T, R, N>(c, x, g, s);
    } else {
        x.par_chunks_mut(PAR_CHUNK)
            .zip(g.par_chunks(PAR_CHUNK))
            .zip(s.par_chunks_mut(PAR_CHUNK))
            .for_each(|((x, g), s)| run_block::<T, R, N>(c, x, g, s));
    }
}

impl<T: Scalar, R: Rule<T, N>, const N: usize> Optimizer<T> for Elementwise<T, R, N> {
    fn name(&self) -> &str {
        R::Config::NAME
    }

    fn steps(&self) -> u64 {
        self.step
    }

    fn lr(&self) -> f64 {
        self.groups.lr(0)
    }

    fn base_lr(&self) -> f64 {
        self.groups.config(0).lr()
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
            RuleState {
                coords: vec![R::init(cfg); p.numel()],
                scalars: R::init_scalars(cfg),
                layout: p.layout,
            }
        })?;
        if let Some(skipped) = screen_gradients(self.policy, params, subset, self.step + 1)? {
            return Ok(skipped);
        }
        self.step += 1;
        for (j, slot) in self.slots.iter_mut().enumerate() {
            let p = &mut params[subset.index(j)];
            let g = slot.group;
            let state = &mut slot.state;
            if state.layout != p.layout {
                state.relayout(p.layout, &slot.shape);
            }
            let c = R::advance(
                self.groups.config(g),
                self.groups.lr(g),
                self.step,
                &mut state.scalars,
            );
            run_rule::<T, R, N>(&c, &mut p.data, &p.grad, &mut state.coords);
        }
        Ok(StepOutcome::Applied)
    }

    fn accepts_layout(&self, _param: &Param<T>, _layout: Layout) -> bool {
        true
    }

    /// The evaluation-mode values ([`Rule::eval`]) of the parameters this optimizer steps, found
    /// by name in `params` and written at the same positions of `out` (a partition's route
    /// writes its own parameters only); `false` for rules without an evaluation point.
    fn eval_params(&self, params: &[Param<T>], out: &mut [Param<T>]) -> Result<bool, OptimError> {
        if !R::EVAL || self.slots.is_empty() {
            return Ok(false);
        }
        // Slots are in list order: search forward from the last match.
        let mut next = 0;
        for (j, slot) in self.slots.iter().enumerate() {
            let found = (next..params.len())
                .chain(0..next)
                .find(|&i| params[i].name == slot.name);
            let i = match found {
                Some(i)
                    if params[i].shape == slot.shape
                        && params[i].data.len() == slot.state.coords.len()
                        && out.get(i).is_some_and(|o| {
                            o.name == slot.name && o.data.len() == params[i].data.len()
                        }) =>
                {
                    i
                }
                _ => {
                    return Err(OptimError::ParamMismatch {
                        index: j,
                        expected: format!(
                            "`{}` {:?} in the parameters and the output",
                            slot.name, slot.shape
                        ),
                        found: format!("{} parameters, {} outputs", params.len(), out.len()),
                    });
                }
            };
            next = i + 1;
            let cfg = self.groups.config(slot.group);
            let x = &params[i].data;
            for ((o, &x), s) in out[i].data.iter_mut().zip(x).zip(&slot.state.coords) {
                *o = R::eval(cfg, x, s);
            }
        }
        Ok(true)
    }

    fn state(&self) -> OptimizerState<T> {
        snapshot(self.name(), self.step, &self.groups, &self.slots, |slot| {
            // saved in PyTorch's (row-major) order whatever the storage order of the last step
            let mut state = slot.state.clone();
            state.relayout(Layout::RowMajor, &slot.shape);
            (0..N)
                .map(|k| Buffer {
                    name: R::STATE[k].to_string(),
                    shape: slot.shape.clone(),
                    data: state.coords.iter().map(|s| s[k]).collect(),
                })
                .chain(R::SCALARS.iter().zip(&state.scalars).map(|(name, &v)| {
                    // A 0-d tensor, as PyTorch stores NAdam's `mu_product`.
                    Buffer {
                        name: name.to_string(),
                        shape: Vec::new(),
                        data: vec![v],
                    }
                }))
                .collect()
        })
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        let name = self.name();
        let slots = load_slots(&self.groups, state, name, |ps| {
            let numel: usize = ps.shape.iter().product();
            let names: Vec<&str> = ps.buffers.iter().map(|b| b.name.as_str()).collect();
            let expected: Vec<&str> = R::STATE.iter().chain(R::SCALARS).copied().collect();
            if names != expected {
                return Err(OptimError::StateMismatch(format!(
                    "parameter `{}` has buffers {names:?}, {name} expects {expected:?}",
                    ps.name,
                )));
            }
            let (coord_buffers, scalar_buffers) = ps.buffers.split_at(N);
            if let Some(b) = coord_buffers.iter().find(|b| b.data.len() != numel) {
                return Err(OptimError::StateMismatch(format!(
                    "buffer `{}` of `{}` has {} values, shape {:?} needs {numel}",
                    b.name,
                    ps.name,
                    b.data.len(),
                    ps.shape
                )));
            }
            if let Some(b) = scalar_buffers.iter().find(|b| b.data.len() != 1) {
                return Err(OptimError::StateMismatch(format!(
                    "scalar state `{}` of `{}` has {} values, expected 1",
                    b.name,
                    ps.name,
                    b.data.len()
                )));
            }
            Ok(RuleState {
                coords: (0..numel)
                    .map(|i| std::array::from_fn(|k| coord_buffers[k].data[i]))
                    .collect(),
                scalars: scalar_buffers.iter().map(|b| b.data[0]).collect(),
                layout: Layout::RowMajor,
            })
        })?;
        self.groups.load_lrs(&state.lrs)?;
        self.slots = slots;
        self.step = state.step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::adagrad::AdagradRule;
    use crate::optim::adam::{AdamWConfig, AmsGradRule};
    use crate::optim::nadam::NadamRule;
    use crate::optim::rmsprop::RmspropRule;

    /// The plain loop, compiled for the portable baseline only.
    fn reference<T: Scalar, R: Rule<T, N>, const N: usize>(
        c: &R::Coeffs,
        x: &mut [T],
        g: &[T],
        s: &mut [[T; N]],
    ) {
        for ((x, &g), s) in x.iter_mut().zip(g).zip(s.iter_mut()) {
            R::update(c, x, g, s);
        }
    }

    /// The dispatched (possibly AVX2) path gives the same bits as the baseline loop.
    fn same_bits<T: Scalar, R: Rule<T, N>, const N: usize>(config: R::Config) {
        let n = 1003; // not a multiple of any vector width
        let val = |i: usize, k: usize| T::of(((i * 7 + k * 13) as f64 * 0.37).sin() * 1.5);
        let mut xa: Vec<T> = (0..n).map(|i| val(i, 0)).collect();
        let mut xb = xa.clone();
        let mut sa: Vec<[T; N]> = (0..n)
            .map(|i| std::array::from_fn(|k| val(i, k + 1).abs()))
            .collect();
        let mut sb = sa.clone();
        let mut scalars = R::init_scalars(&config);
        for t in 1..=5 {
            let g: Vec<T> = (0..n).map(|i| val(i, 10 + t)).collect();
            let c = R::advance(&config, 0.01, t as u64, &mut scalars);
            run_block::<T, R, N>(&c, &mut xa, &g, &mut sa);
            reference::<T, R, N>(&c, &mut xb, &g, &mut sb);
        }
        let bits = |x: &[T]| x.iter().map(|v| v.as_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&xa), bits(&xb));
        let flat = |s: &[[T; N]]| {
            s.iter()
                .flatten()
                .map(|v| v.as_f64().to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(flat(&sa), flat(&sb));
    }

    #[test]
    fn dispatched_loop_is_bit_identical_to_the_baseline_loop() {
        let adamw = AdamWConfig {
            weight_decay: 0.1,
            ..Default::default()
        };
        same_bits::<f32, AmsGradRule<AdamWConfig>, 3>(adamw.clone());
        same_bits::<f64, AmsGradRule<AdamWConfig>, 3>(adamw);
        same_bits::<f32, AdagradRule, 1>(Default::default());
        same_bits::<f32, NadamRule, 2>(Default::default());
        let centered = crate::optim::rmsprop::RmspropConfig {
            centered: true,
            momentum: 0.9,
            ..Default::default()
        };
        same_bits::<f32, RmspropRule<true, true>, 3>(centered);
    }
}
