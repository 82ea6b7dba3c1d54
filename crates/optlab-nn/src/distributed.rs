//! Data-parallel training: each rank of a [`Communicator`] computes the gradient of its part of
//! every global batch, and the ranks sum the weighted gradients with one all-reduce of one flat
//! buffer per step (bucketed, in a fixed rank order: [`optlab::dist::all_reduce_sum_f32`]).
//!
//! **Splitting a batch.** The global batch of step k is the same on every rank (it depends only
//! on the seed and k); rank `r` of `R` takes its contiguous rows `⌊rN/R⌋..⌊(r+1)N/R⌋`
//! ([`shard_rows`]). The loss is a mean over the batch, so the global gradient is
//! `Σ_r (n_r/N)·∇(mean loss over rank r's rows)`: each rank scales its gradients and its loss by
//! `n_r/N` ([`Reducer::reduce`]) before the sum. That is the math of one process on the whole
//! batch in another floating-point order (per-rank means, then a weighted sum), hence equal up to
//! rounding, not bit for bit; the tolerances measured are in docs/distributed.md.
//!
//! After the reduction every rank holds the same gradients (bit for bit: every rank adds in the
//! same order), steps the same optimizer (or its share of it, [`optlab::dist::Sharded`]) and so
//! holds the same parameters. Methods that evaluate the loss again inside their step (SAM, a line
//! search, L-BFGS) are refused with more than one rank.

use std::sync::Arc;

use optlab::dist::{Communicator, all_reduce_sum_f32};

use crate::batch::{Batch, Inputs};
use crate::bridge::HostBridge;
use crate::error::NnError;

/// The communicator of runs that give none: one process.
pub fn single_process() -> Arc<dyn Communicator> {
    Arc::new(optlab::dist::SingleProcess)
}

/// Rows `lo..hi` of a batch of `rows` for rank `rank` of `size`: `⌊rank·rows/size⌋` to
/// `⌊(rank+1)·rows/size⌋`.
pub fn row_range(rows: usize, rank: usize, size: usize) -> (usize, usize) {
    let size = size.max(1);
    (rank * rows / size, (rank + 1) * rows / size)
}

/// Rank `rank`'s part of `batch` (see [`row_range`]).
///
/// # Errors
/// A batch with fewer rows than ranks (some rank would get none), or whose targets do not
/// divide into its rows.
pub fn shard_rows(batch: &Batch, rank: usize, size: usize) -> Result<Batch, NnError> {
    let rows = batch.rows();
    if rows < size {
        return Err(NnError::config(
            "data.batch_size",
            rows,
            format!("at least the number of ranks ({size}) to split each batch across them"),
        ));
    }
    if rows == 0 || !batch.targets.len().is_multiple_of(rows) {
        return Err(NnError::ParamMismatch(format!(
            "a batch of {rows} rows has {} targets",
            batch.targets.len()
        )));
    }
    let (lo, hi) = row_range(rows, rank, size);
    let per_row = batch.targets.len() / rows;
    let inputs = match &batch.inputs {
        Inputs::Dense { values, dim, .. } => Inputs::Dense {
            values: values[lo * dim..hi * dim].to_vec(),
            rows: hi - lo,
            dim: *dim,
        },
        Inputs::Tokens { ids, len, .. } => Inputs::Tokens {
            ids: ids[lo * len..hi * len].to_vec(),
            rows: hi - lo,
            len: *len,
        },
    };
    Ok(Batch {
        inputs,
        targets: batch.targets[lo * per_row..hi * per_row].to_vec(),
    })
}

/// The per-step gradient reduction of a data-parallel trainer, with its flat buffer (allocated
/// once).
pub struct Reducer {
    comm: Arc<dyn Communicator>,
    flat: Vec<f32>,
}

impl Reducer {
    /// A reducer over `comm`'s ranks.
    pub fn new(comm: Arc<dyn Communicator>) -> Self {
        Reducer {
            comm,
            flat: Vec::new(),
        }
    }

    /// The communicator.
    pub fn comm(&self) -> &Arc<dyn Communicator> {
        &self.comm
    }

    /// Whether there is more than one rank.
    pub fn is_distributed(&self) -> bool {
        self.comm.size() > 1
    }

    /// Replaces the loaded gradients of `bridge` and `loss` (this rank's mean over its `rows` of
    /// a global batch of `total` rows) by the global batch's: `Σ_r (n_r/N)·g_r` and
    /// `Σ_r (n_r/N)·loss_r`, summed over the ranks in rank order, all in one flat `f32` buffer
    /// (gradients in parameter order, then the loss). Returns the global loss.
    pub fn reduce(
        &mut self,
        bridge: &mut HostBridge,
        loss: f64,
        rows: usize,
        total: usize,
    ) -> Result<f64, NnError> {
        let w = rows as f32 / total.max(1) as f32;
        self.flat.clear();
        for g in bridge.grads_mut() {
            self.flat.extend(g.iter().map(|v| *v * w));
        }
        self.flat.push(loss as f32 * w);
        all_reduce_sum_f32(self.comm.as_ref(), &mut self.flat)?;
        let mut at = 0;
        for g in bridge.grads_mut() {
            let n = g.len();
            g.copy_from_slice(&self.flat[at..at + n]);
            at += n;
        }
        Ok(self.flat.get(at).map_or(f64::NAN, |v| f64::from(*v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_contiguously_and_cover_the_batch() {
        assert_eq!(row_range(10, 0, 3), (0, 3));
        assert_eq!(row_range(10, 1, 3), (3, 6));
        assert_eq!(row_range(10, 2, 3), (6, 10));
        let b = Batch {
            inputs: Inputs::Tokens {
                ids: (0..12).collect(),
                rows: 3,
                len: 4,
            },
            targets: (100..112).collect(),
        };
        let s = shard_rows(&b, 1, 2).unwrap();
        assert_eq!(s.rows(), 2);
        assert_eq!(s.targets, (104..112).collect::<Vec<_>>());
        let e = shard_rows(&b, 0, 4).unwrap_err().to_string();
        assert!(e.contains("batch_size") && e.contains("4"), "{e}");
    }
}
