//! Beyond one process: the collective operations a data-parallel run needs, behind a small
//! [`Communicator`] trait, and [`Sharded`], the ZeRO-1 optimizer wrapper (each rank keeps the
//! state of, and updates, only its share of the parameters; the parameters are then
//! all-gathered).
//!
//! This crate knows nothing of MPI: [`SingleProcess`] is the one-rank communicator every run uses
//! by default, and the `optlab` binary built with its `mpi` feature supplies an MPI one
//! (`crates/optlab-cli/src/mpi.rs`). Any implementation that gathers bytes in rank order works
//! (the tests use threads).
//!
//! **Fixed reduction order.** [`all_reduce_sum_f32`] gathers every rank's buffer and adds them
//! on every rank in rank order (`((x₀ + x₁) + x₂) + …`), bucket by bucket: every rank computes
//! bit-identical sums, so every rank holds the same parameters after its update, and a rerun
//! reduces in the same order. (An MPI `Allreduce` with `MPI_SUM` does not promise either.)
//! The price is `R·n` values received per rank instead of a ring all-reduce's `2n`; at the
//! handful of ranks this lab is for, that is a small part of a step.
//!
//! **Sharded state.** [`Sharded`] assigns whole parameters to ranks ([`balance`]: largest cost
//! first to the least-loaded rank), with a cost model ([`ShardCost`]) that, for matrix methods
//! (Muon), counts the Newton–Schulz flops of each matrix — each rank orthogonalizes its own
//! matrices, as the distributed Muon implementations do. Its [`state`](Optimizer::state) and
//! [`eval_params`](Optimizer::eval_params) are collective: every rank must call them at the same
//! point (the training loop does).

use crate::error::OptimError;
use crate::optim::{
    NonFinitePolicy, Optimizer, OptimizerState, ParamState, StepOutcome, Subset, screen_gradients,
};
use crate::param::{Layout, Param};
use crate::scalar::Scalar;
use std::sync::Arc;

/// Values per bucket of [`all_reduce_sum_f32`] (4 Mi `f32` = 16 MiB): a large gradient is
/// reduced in buckets of this size, so a rank never holds more than `R` buckets of others'
/// values at once.
pub const BUCKET: usize = 1 << 22;

/// The collective operations of a group of `size` processes (ranks `0..size`).
///
/// Every rank must call the same collective operations in the same order (with the same
/// `counts`); a rank that cannot go on calls [`abort`](Communicator::abort), which ends every
/// rank with its message rather than leaving the others waiting.
pub trait Communicator: Send + Sync {
    /// This process's rank, in `0..size()`.
    fn rank(&self) -> usize;

    /// Number of processes.
    fn size(&self) -> usize;

    /// Every rank's `local` bytes, in rank order (lengths may differ between ranks).
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>>;

    /// Every rank's `local` values concatenated in rank order; rank `r` sends `counts[r]` values.
    /// The default goes through [`all_gather_bytes`](Communicator::all_gather_bytes).
    fn all_gather_f32(&self, local: &[f32], counts: &[usize]) -> Vec<f32> {
        let _ = counts;
        let bytes: Vec<u8> = local.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.all_gather_bytes(&bytes)
            .iter()
            .flat_map(|b| {
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            })
            .collect()
    }

    /// As [`all_gather_f32`](Communicator::all_gather_f32), for `f64`.
    fn all_gather_f64(&self, local: &[f64], counts: &[usize]) -> Vec<f64> {
        let _ = counts;
        let bytes: Vec<u8> = local.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.all_gather_bytes(&bytes)
            .iter()
            .flat_map(|b| {
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            })
            .collect()
    }

    /// Waits until every rank has called it.
    fn barrier(&self);

    /// Ends every rank: prints `message` (on this rank) and exits all processes with `code`.
    fn abort(&self, code: i32, message: &str) -> !;

    /// Whether this is rank 0, the one that writes outputs.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// The communicator of a run in one process: rank 0 of 1; every collective is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        vec![local.to_vec()]
    }

    fn all_gather_f32(&self, local: &[f32], _counts: &[usize]) -> Vec<f32> {
        local.to_vec()
    }

    fn all_gather_f64(&self, local: &[f64], _counts: &[usize]) -> Vec<f64> {
        local.to_vec()
    }

    fn barrier(&self) {}

    fn abort(&self, code: i32, message: &str) -> ! {
        eprintln!("{message}");
        std::process::exit(code)
    }
}

/// Sums `buf` over all ranks in place, in rank order (see the module documentation), in buckets
/// of [`BUCKET`] values. Every rank must pass a buffer of the same length; afterwards every rank
/// holds the same, bit-identical sums.
pub fn all_reduce_sum_f32(comm: &dyn Communicator, buf: &mut [f32]) -> Result<(), OptimError> {
    let r = comm.size();
    if r <= 1 {
        return Ok(());
    }
    for chunk in buf.chunks_mut(BUCKET) {
        let n = chunk.len();
        let all = comm.all_gather_f32(chunk, &vec![n; r]);
        if all.len() != n * r {
            return Err(OptimError::StateMismatch(format!(
                "all-reduce: rank {} has {n} values, the ranks sent {} in all (expected {})",
                comm.rank(),
                all.len(),
                n * r
            )));
        }
        chunk.copy_from_slice(&all[..n]);
        for part in all[n..].chunks_exact(n) {
            for (x, y) in chunk.iter_mut().zip(part) {
                *x = *x + *y;
            }
        }
    }
    Ok(())
}

/// The owner rank of each item: items by decreasing cost (ties by position) to the rank with the
/// least cost so far (ties to the lower rank) — the longest-processing-time rule, within 4/3 of
/// the best balance. Deterministic, so every rank computes the same assignment.
pub fn balance(costs: &[f64], ranks: usize) -> Vec<usize> {
    let ranks = ranks.max(1);
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    let mut load = vec![0.0f64; ranks];
    let mut owner = vec![0; costs.len()];
    for i in order {
        let mut best = 0;
        for (r, l) in load.iter().enumerate() {
            if *l < load[best] {
                best = r;
            }
        }
        owner[i] = best;
        load[best] += costs[i].max(0.0);
    }
    owner
}

/// How [`Sharded`] weighs a parameter's update when balancing the shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardCost {
    /// Elementwise methods: the number of values.
    Elementwise,
    /// Matrix methods that orthogonalize (Muon): a matrix's Newton–Schulz flops,
    /// `5·(4m²n + 2m³)` for `m = min(rows, cols)`, `n = max` (five iterations of
    /// `A = XXᵀ`, `B = bA + cA²`, `X ← aX + BX`); other parameters their number of values.
    NewtonSchulz,
}

impl ShardCost {
    /// The cost model for an optimizer's registry name: [`NewtonSchulz`](ShardCost::NewtonSchulz)
    /// for Muon and its combinations, else [`Elementwise`](ShardCost::Elementwise).
    pub fn for_optimizer(name: &str) -> ShardCost {
        if name.to_ascii_lowercase().contains("muon") {
            ShardCost::NewtonSchulz
        } else {
            ShardCost::Elementwise
        }
    }

    /// The cost of updating a parameter of `shape` (arbitrary units, comparable between
    /// parameters).
    pub fn of(self, shape: &[usize]) -> f64 {
        let numel: f64 = shape.iter().map(|&d| d as f64).product();
        match (self, shape) {
            (ShardCost::NewtonSchulz, [rows, cols]) if *rows > 1 && *cols > 1 => {
                let m = (*rows).min(*cols) as f64;
                let n = (*rows).max(*cols) as f64;
                5.0 * (4.0 * m * m * n + 2.0 * m * m * m) + numel
            }
            _ => numel,
        }
    }
}

/// The shares of [`Sharded`], fixed at its first step.
#[derive(Clone, Debug)]
struct Shares {
    /// Positions (in the full list) of the parameters stepped, in order.
    stepped: Vec<usize>,
    /// Owner rank of each stepped parameter.
    owner: Vec<usize>,
    /// Positions of this rank's parameters, in order.
    mine: Vec<usize>,
}

/// ZeRO-1 sharding of an optimizer's state across the ranks of a [`Communicator`].
///
/// At each step every rank holds the full (already averaged) gradients; the parameters stepped
/// are split into whole-parameter shares by [`balance`] with a [`ShardCost`]; rank `r` steps only
/// its share with its inner optimizer (so only that share has state on rank `r`: about `1/R` of
/// the state), then the new values of every share are all-gathered, so every rank ends the step
/// with all parameters. The update of each parameter is its inner optimizer's, bit for bit.
///
/// The non-finite policy is applied to all stepped gradients before the shares step, so every
/// rank skips (or refuses) the same steps.
///
/// [`state`](Optimizer::state) gathers every rank's inner state (entries `rank<r>/<name>`, plus
/// `sharded/world_size`): it is collective, and a checkpoint of a sharded run resumes with the
/// same number of ranks. [`eval_params`](Optimizer::eval_params) is collective too.
pub struct Sharded<T: Scalar> {
    inner: Box<dyn Optimizer<T>>,
    comm: Arc<dyn Communicator>,
    cost: ShardCost,
    name: String,
    policy: NonFinitePolicy,
    shares: Option<Shares>,
}

impl<T: Scalar> Sharded<T> {
    /// `inner` sharded over the ranks of `comm`, shares balanced by `cost`.
    pub fn new(inner: Box<dyn Optimizer<T>>, comm: Arc<dyn Communicator>, cost: ShardCost) -> Self {
        let name = format!("Sharded({})", inner.name());
        Sharded {
            inner,
            comm,
            cost,
            name,
            policy: NonFinitePolicy::default(),
            shares: None,
        }
    }

    /// Positions (in the list handed to the steps) of this rank's parameters; empty before the
    /// first step.
    pub fn mine(&self) -> &[usize] {
        self.shares.as_ref().map_or(&[], |s| &s.mine)
    }

    fn shares(&mut self, params: &[Param<T>], subset: Subset<'_>) -> Result<&Shares, OptimError> {
        let n = subset.len(params.len());
        let stepped: Vec<usize> = (0..n).map(|j| subset.index(j)).collect();
        if let Some(i) = stepped.iter().find(|&&i| i >= params.len()) {
            return Err(OptimError::ParamMismatch {
                index: *i,
                expected: "a parameter".into(),
                found: format!("a list of {} parameters", params.len()),
            });
        }
        if let Some(s) = &self.shares
            && s.stepped != stepped
        {
            return Err(OptimError::ParamMismatch {
                index: 0,
                expected: format!("the {} parameters of the first step", s.stepped.len()),
                found: format!("{} parameters", stepped.len()),
            });
        }
        let shares = match self.shares.take() {
            Some(s) => s,
            None => {
                let costs: Vec<f64> = stepped
                    .iter()
                    .map(|&i| self.cost.of(&params[i].shape))
                    .collect();
                let owner = balance(&costs, self.comm.size());
                let me = self.comm.rank();
                let mine = stepped
                    .iter()
                    .zip(&owner)
                    .filter(|(_, o)| **o == me)
                    .map(|(&i, _)| i)
                    .collect();
                Shares {
                    stepped,
                    owner,
                    mine,
                }
            }
        };
        Ok(self.shares.insert(shares))
    }

    /// Sends this rank's parameters' values (or those of `out`) and writes everyone's into
    /// `params`.
    fn gather_values(&self, params: &mut [Param<T>], shares: &Shares) -> Result<(), OptimError> {
        let r = self.comm.size();
        if r <= 1 {
            return Ok(());
        }
        let mut counts = vec![0usize; r];
        for (&i, &o) in shares.stepped.iter().zip(&shares.owner) {
            counts[o] += params[i].data.len();
        }
        let values = shares.mine.iter().flat_map(|&i| params[i].data.iter());
        // f32 values travel as f32 (exactly: `as_f64` widens them)
        let all: Vec<f64> = if size_of::<T>() == 4 {
            let local: Vec<f32> = values.map(|v| v.as_f64() as f32).collect();
            let all = self.comm.all_gather_f32(&local, &counts);
            all.into_iter().map(f64::from).collect()
        } else {
            let local: Vec<f64> = values.map(|v| v.as_f64()).collect();
            self.comm.all_gather_f64(&local, &counts)
        };
        let total: usize = counts.iter().sum();
        if all.len() != total {
            return Err(OptimError::StateMismatch(format!(
                "sharded step: received {} values, expected {total}",
                all.len()
            )));
        }
        let mut offsets = vec![0usize; r];
        for o in 1..r {
            offsets[o] = offsets[o - 1] + counts[o - 1];
        }
        for (&i, &o) in shares.stepped.iter().zip(&shares.owner) {
            let n = params[i].data.len();
            let src = &all[offsets[o]..offsets[o] + n];
            for (x, v) in params[i].data.iter_mut().zip(src) {
                *x = T::of(*v);
            }
            offsets[o] += n;
        }
        Ok(())
    }
}

impl<T: Scalar> Optimizer<T> for Sharded<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn steps(&self) -> u64 {
        self.inner.steps()
    }

    fn lr(&self) -> f64 {
        self.inner.lr()
    }

    fn base_lr(&self) -> f64 {
        self.inner.base_lr()
    }

    fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64) {
        self.inner.set_lrs(f);
    }

    fn set_nonfinite_policy(&mut self, policy: NonFinitePolicy) {
        self.policy = policy;
        self.inner.set_nonfinite_policy(policy);
    }

    fn accepts_layout(&self, param: &Param<T>, layout: Layout) -> bool {
        self.inner.accepts_layout(param, layout)
    }

    fn step_subset(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError> {
        let shares = self.shares(params, subset)?.clone();
        if let Some(skipped) =
            screen_gradients(self.policy, params, subset, self.inner.steps() + 1)?
        {
            return Ok(skipped);
        }
        let outcome = self
            .inner
            .step_subset(params, Subset::Indices(&shares.mine))?;
        self.gather_values(params, &shares)?;
        Ok(outcome)
    }

    fn eval_params(&self, params: &[Param<T>], out: &mut [Param<T>]) -> Result<bool, OptimError> {
        let Some(shares) = &self.shares else {
            return self.inner.eval_params(params, out);
        };
        if self.comm.size() <= 1 {
            return self.inner.eval_params(params, out);
        }
        // The inner optimizer knows its share only: ask about that sub-list.
        let sub: Vec<Param<T>> = shares.mine.iter().map(|&i| params[i].clone()).collect();
        let mut sub_out = sub.clone();
        let has = self.inner.eval_params(&sub, &mut sub_out)?;
        let flags = self.comm.all_gather_bytes(&[u8::from(has)]);
        if !flags.iter().any(|f| f.first() == Some(&1)) {
            return Ok(false);
        }
        for (&i, p) in shares.mine.iter().zip(&sub_out) {
            out[i].data.clone_from(&p.data);
        }
        for (i, p) in out.iter_mut().enumerate() {
            if !shares.stepped.contains(&i) {
                p.data.clone_from(&params[i].data);
            }
        }
        self.gather_values(out, shares)?;
        Ok(true)
    }

    fn state(&self) -> OptimizerState<T> {
        let own = self.inner.state();
        let (step, lrs, inner_name) = (own.step, own.lrs.clone(), own.optimizer.clone());
        let all = self.comm.all_gather_bytes(&encode_state(&own));
        let size = self.comm.size();
        let mut params = vec![ParamState {
            name: "sharded/world_size".into(),
            shape: vec![1],
            buffers: vec![crate::optim::Buffer {
                name: "world_size".into(),
                shape: vec![1],
                data: vec![T::of(size as f64)],
            }],
        }];
        for (r, bytes) in all.iter().enumerate() {
            // A rank's own state is taken as it is; the others' decoded (all written by the same
            // encoder, so decoding cannot fail short of memory corruption).
            let state = if r == self.comm.rank() {
                Some(own.clone())
            } else {
                decode_state::<T>(bytes)
            };
            for p in state.map(|s| s.params).unwrap_or_default() {
                params.push(ParamState {
                    name: format!("rank{r}/{}", p.name),
                    ..p
                });
            }
        }
        OptimizerState {
            optimizer: format!("Sharded({inner_name})"),
            step,
            lrs,
            params,
        }
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        if state.optimizer != self.name {
            return Err(OptimError::StateMismatch(format!(
                "state of `{}` loaded into `{}`",
                state.optimizer, self.name
            )));
        }
        let world = state
            .params
            .iter()
            .find(|p| p.name == "sharded/world_size")
            .and_then(|p| p.buffers.first())
            .and_then(|b| b.data.first())
            .map(|v| v.as_f64());
        let size = self.comm.size();
        if world != Some(size as f64) {
            return Err(OptimError::StateMismatch(format!(
                "sharded optimizer state saved by {} rank(s), loaded by {size}: resume a sharded \
                 run with the same number of ranks",
                world.map_or("an unknown number of".to_string(), |w| w.to_string())
            )));
        }
        let prefix = format!("rank{}/", self.comm.rank());
        let inner = OptimizerState {
            optimizer: self.inner.name().to_string(),
            step: state.step,
            lrs: state.lrs.clone(),
            params: state
                .params
                .iter()
                .filter_map(|p| {
                    p.name.strip_prefix(&prefix).map(|n| ParamState {
                        name: n.to_string(),
                        ..p.clone()
                    })
                })
                .collect(),
        };
        self.inner.load_state(&inner)
    }
}

/// Bytes of optimizer state held by each rank, from a state snapshot: the entries of a
/// [`Sharded`] state (`rank<r>/...`, also inside wrappers: `inner/rank<r>/...`) count for rank
/// `r`; every other entry (a wrapper's own, or a whole unsharded state) is held by every one of
/// `world_size` ranks. `size_of_value` is 4 for `f32`, 8 for `f64`.
pub fn state_bytes_per_rank<T>(
    state: &OptimizerState<T>,
    world_size: usize,
    size_of_value: usize,
) -> Vec<u64> {
    let world_size = world_size.max(1);
    let mut out = vec![0u64; world_size];
    for p in &state.params {
        let bytes: u64 = p
            .buffers
            .iter()
            .map(|b| (b.data.len() * size_of_value) as u64)
            .sum();
        let mut name = p.name.as_str();
        while let Some(rest) = name.strip_prefix("inner/") {
            name = rest;
        }
        if name == "sharded/world_size" {
            continue; // bookkeeping, not state
        }
        let rank = name
            .strip_prefix("rank")
            .and_then(|s| s.split_once('/'))
            .and_then(|(r, _)| r.parse::<usize>().ok())
            .filter(|&r| r < world_size);
        match rank {
            Some(r) => out[r] += bytes,
            None => out.iter_mut().for_each(|o| *o += bytes),
        }
    }
    out
}

/// A little-endian byte writer for what ranks exchange (states, records).
#[derive(Debug, Default)]
pub struct Encoder(pub Vec<u8>);

impl Encoder {
    /// A `u64`.
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// An `f64`, exactly (its bits; NaN and ±Inf included).
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// A string (length, UTF-8 bytes).
    pub fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    /// A list of `f64` (length, values).
    pub fn f64s(&mut self, v: impl ExactSizeIterator<Item = f64>) {
        self.u64(v.len() as u64);
        for x in v {
            self.f64(x);
        }
    }
}

/// Reads what an [`Encoder`] wrote; `None` on truncated or malformed input.
#[derive(Debug)]
pub struct Decoder<'a>(pub &'a [u8]);

impl Decoder<'_> {
    /// A `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_at_checked(8)?;
        self.0 = rest;
        Some(u64::from_le_bytes(head.try_into().ok()?))
    }

    /// An `f64`.
    pub fn f64(&mut self) -> Option<f64> {
        self.u64().map(f64::from_bits)
    }

    /// A length, bounded by the bytes left (each element at least `min_bytes`).
    pub fn len(&mut self, min_bytes: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n.checked_mul(min_bytes.max(1))? <= self.0.len()).then_some(n)
    }

    /// A string.
    pub fn str(&mut self) -> Option<String> {
        let n = self.len(1)?;
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        String::from_utf8(head.to_vec()).ok()
    }

    /// A list of `f64`.
    pub fn f64s(&mut self) -> Option<Vec<f64>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.f64()).collect()
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn encode_state<T: Scalar>(s: &OptimizerState<T>) -> Vec<u8> {
    let mut e = Encoder::default();
    e.str(&s.optimizer);
    e.u64(s.step);
    e.f64s(s.lrs.iter().copied());
    e.u64(s.params.len() as u64);
    for p in &s.params {
        e.str(&p.name);
        e.f64s(p.shape.iter().map(|&d| d as f64));
        e.u64(p.buffers.len() as u64);
        for b in &p.buffers {
            e.str(&b.name);
            e.f64s(b.shape.iter().map(|&d| d as f64));
            e.f64s(b.data.iter().map(|v| v.as_f64()));
        }
    }
    e.0
}

fn decode_state<T: Scalar>(bytes: &[u8]) -> Option<OptimizerState<T>> {
    let mut d = Decoder(bytes);
    let shape = |v: Vec<f64>| v.into_iter().map(|x| x as usize).collect::<Vec<_>>();
    let optimizer = d.str()?;
    let step = d.u64()?;
    let lrs = d.f64s()?;
    let n = d.len(8)?;
    let mut params = Vec::with_capacity(n);
    for _ in 0..n {
        let name = d.str()?;
        let pshape = shape(d.f64s()?);
        let nb = d.len(8)?;
        let mut buffers = Vec::with_capacity(nb);
        for _ in 0..nb {
            let bname = d.str()?;
            let bshape = shape(d.f64s()?);
            let data = d.f64s()?.into_iter().map(T::of).collect();
            buffers.push(crate::optim::Buffer {
                name: bname,
                shape: bshape,
                data,
            });
        }
        params.push(ParamState {
            name,
            shape: pshape,
            buffers,
        });
    }
    d.is_empty().then_some(OptimizerState {
        optimizer,
        step,
        lrs,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::registry::{self, HyperMap};
    use serde_json::json;
    use std::sync::{Barrier, Mutex};

    /// `size` ranks as threads of one process: all-gather through a shared table and a barrier.
    struct Threads {
        rank: usize,
        shared: Arc<Shared>,
    }

    struct Shared {
        size: usize,
        barrier: Barrier,
        slots: Mutex<Vec<Vec<u8>>>,
    }

    impl Communicator for Threads {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.shared.size
        }
        fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
            if let Ok(mut s) = self.shared.slots.lock() {
                s[self.rank] = local.to_vec();
            }
            self.shared.barrier.wait();
            let all = self
                .shared
                .slots
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default();
            self.shared.barrier.wait();
            all
        }
        fn barrier(&self) {
            self.shared.barrier.wait();
        }
        fn abort(&self, code: i32, message: &str) -> ! {
            eprintln!("{message}");
            std::process::exit(code)
        }
    }

    fn ranks(size: usize) -> Vec<Arc<dyn Communicator>> {
        let shared = Arc::new(Shared {
            size,
            barrier: Barrier::new(size),
            slots: Mutex::new(vec![Vec::new(); size]),
        });
        (0..size)
            .map(|rank| {
                Arc::new(Threads {
                    rank,
                    shared: shared.clone(),
                }) as Arc<dyn Communicator>
            })
            .collect()
    }

    fn params() -> Vec<Param<f32>> {
        let mk = |name: &str, shape: Vec<usize>, seed: f32| {
            let n: usize = shape.iter().product();
            let data = (0..n).map(|i| ((i as f32 + seed) * 0.37).sin()).collect();
            Param::new(name, shape, data).unwrap()
        };
        vec![
            mk("embed.weight", vec![12, 4], 1.0),
            mk("h.0.weight", vec![8, 4], 2.0),
            mk("h.0.bias", vec![8], 3.0),
            mk("h.1.weight", vec![6, 8], 4.0),
            mk("out.weight", vec![3, 6], 5.0),
            mk("out.bias", vec![3], 6.0),
        ]
    }

    fn set_grads(ps: &mut [Param<f32>], k: usize) {
        for p in ps {
            for (j, (g, x)) in p.grad.iter_mut().zip(&p.data).enumerate() {
                *g = *x * 0.5 + ((j + k) as f32 * 0.11).cos() * 0.1;
            }
        }
    }

    fn hyper(v: serde_json::Value) -> HyperMap {
        match v {
            serde_json::Value::Object(m) => m,
            _ => HyperMap::new(),
        }
    }

    /// Sharded over 1, 2 and 3 ranks = unsharded, bit for bit (AdamW, Muon + AdamW), on every
    /// rank; the state is split, and a checkpoint round trip continues identically.
    #[test]
    fn sharded_steps_equal_unsharded_on_every_rank() {
        for (name, h) in [
            ("AdamW", json!({"lr": 0.01, "weight_decay": 0.1})),
            ("MuonAdamW", json!({"lr": 0.02})),
        ] {
            let mut reference = params();
            let mut opt = registry::build::<f32>(name, &hyper(h.clone())).unwrap();
            for k in 0..5 {
                set_grads(&mut reference, k);
                opt.step(&mut reference).unwrap();
            }
            let total = state_bytes_per_rank(&opt.state(), 1, 4)[0];
            for size in [1usize, 2, 3] {
                let comms = ranks(size);
                let results: Vec<(Vec<Param<f32>>, Vec<u64>)> = std::thread::scope(|s| {
                    let handles: Vec<_> = comms
                        .iter()
                        .map(|c| {
                            let c = c.clone();
                            let h = h.clone();
                            s.spawn(move || {
                                let inner =
                                    registry::build::<f32>(name, &hyper(h.clone())).unwrap();
                                let cost = ShardCost::for_optimizer(name);
                                let mut opt = Sharded::new(inner, c.clone(), cost);
                                let mut ps = params();
                                for k in 0..3 {
                                    set_grads(&mut ps, k);
                                    opt.step(&mut ps).unwrap();
                                }
                                // checkpoint and continue in a fresh optimizer
                                let state = opt.state();
                                let inner =
                                    registry::build::<f32>(name, &hyper(h.clone())).unwrap();
                                let mut opt = Sharded::new(inner, c.clone(), cost);
                                opt.load_state(&state).unwrap();
                                for k in 3..5 {
                                    set_grads(&mut ps, k);
                                    opt.step(&mut ps).unwrap();
                                }
                                (ps, state_bytes_per_rank(&opt.state(), c.size(), 4))
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).collect()
                });
                for (rank, (ps, bytes)) in results.iter().enumerate() {
                    assert_eq!(ps, &reference, "{name}, {size} ranks, rank {rank}");
                    assert_eq!(bytes.iter().sum::<u64>(), total, "{name}: {bytes:?}");
                    if size > 1 {
                        assert!(bytes.iter().all(|&b| b < total), "{name}: {bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn all_reduce_sums_in_rank_order_in_buckets() {
        let comms = ranks(3);
        let out: Vec<Vec<f32>> = std::thread::scope(|s| {
            let hs: Vec<_> = comms
                .iter()
                .map(|c| {
                    s.spawn(move || {
                        let r = c.rank() as f32;
                        let mut v = vec![r + 1.0, 1e8 * (1.0 - r), 0.5];
                        all_reduce_sum_f32(c.as_ref(), &mut v).unwrap();
                        v
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // ((1e8 + 0) + -1e8) = 0 in rank order (a different order would lose nothing here, but
        // the first entry checks the sum and all ranks agree bit for bit)
        for v in &out {
            assert_eq!(v, &vec![6.0, 0.0, 1.5]);
        }
    }

    #[test]
    fn balance_is_greedy_and_muon_costs_count_flops() {
        assert_eq!(balance(&[1.0, 5.0, 3.0, 3.0], 2), vec![0, 0, 1, 1]);
        assert_eq!(balance(&[1.0, 2.0], 1), vec![0, 0]);
        let ns = ShardCost::NewtonSchulz;
        assert!(ns.of(&[64, 64]) > 50.0 * ns.of(&[64 * 64]));
        assert_eq!(ShardCost::Elementwise.of(&[64, 64]), 4096.0);
        assert_eq!(ShardCost::for_optimizer("MuonAdamW"), ns);
    }

    #[test]
    fn state_bytes_follow_the_ranks_inside_wrappers() {
        let entry = |name: &str, n: usize| ParamState {
            name: name.into(),
            shape: vec![n],
            buffers: vec![crate::optim::Buffer {
                name: "b".into(),
                shape: vec![n],
                data: vec![0.0f32; n],
            }],
        };
        let state = OptimizerState {
            optimizer: "Averaged".into(),
            step: 1,
            lrs: vec![0.1],
            params: vec![
                entry("inner/sharded/world_size", 1),
                entry("inner/rank0/a", 10),
                entry("inner/rank1/b", 3),
                entry("average/a", 5),
            ],
        };
        assert_eq!(state_bytes_per_rank(&state, 2, 4), vec![60, 32]);
        let plain = OptimizerState {
            optimizer: "AdamW".into(),
            params: vec![entry("a", 10)],
            ..state
        };
        assert_eq!(state_bytes_per_rank(&plain, 2, 4), vec![40, 40]);
    }

    #[test]
    fn codec_round_trips_states() {
        let mut opt = registry::build::<f32>("AdamW", &HyperMap::new()).unwrap();
        let mut ps = params();
        set_grads(&mut ps, 0);
        opt.step(&mut ps).unwrap();
        let s = opt.state();
        assert_eq!(decode_state::<f32>(&encode_state(&s)), Some(s.clone()));
        let bytes = encode_state(&s);
        assert_eq!(decode_state::<f32>(&bytes[..bytes.len() - 1]), None);
    }
}
