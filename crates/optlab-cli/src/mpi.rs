//! The MPI [`Communicator`] (feature `mpi`): rsmpi over the system's MPI library.
//!
//! Gathers are `MPI_Allgather` (the counts) and `MPI_Allgatherv`; sums are done by the caller in
//! rank order ([`optlab::dist::all_reduce_sum_f32`]), never by `MPI_Allreduce`, so that every
//! rank gets bit-identical results. MPI's default error handler (`MPI_ERRORS_ARE_FATAL`) ends the
//! job on a communication error; a rank whose own work fails calls [`Communicator::abort`]
//! (`MPI_Abort`), which ends every rank.

use std::sync::Arc;

use mpi::Count;
use mpi::Threading;
use mpi::collective::CommunicatorCollectives;
use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use optlab::dist::Communicator;

pub use mpi::environment::Universe;

/// `MPI_COMM_WORLD`: its handle is a constant, so this holds only the rank and size (and is
/// `Send + Sync`); every call runs on the thread that initialized MPI (`MPI_THREAD_FUNNELED`).
#[derive(Clone, Copy, Debug)]
pub struct Mpi {
    rank: usize,
    size: usize,
}

/// Initializes MPI (thread level funneled).
pub fn init() -> anyhow::Result<(Universe, Arc<dyn Communicator>)> {
    let (universe, _level) = mpi::initialize_with_threading(Threading::Funneled)
        .ok_or_else(|| anyhow::anyhow!("MPI was already initialized"))?;
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    let comm = Mpi {
        rank: usize::try_from(rank)?,
        size: usize::try_from(size)?,
    };
    Ok((universe, Arc::new(comm)))
}

impl Mpi {
    fn world() -> SimpleCommunicator {
        SimpleCommunicator::world()
    }

    /// Counts and displacements as MPI's `int`s; a message of 2³¹ values or more aborts.
    fn layout(&self, counts: &[usize]) -> (Vec<Count>, Vec<Count>, usize) {
        let mut c = Vec::with_capacity(counts.len());
        let mut d = Vec::with_capacity(counts.len());
        let mut total = 0usize;
        for &n in counts {
            match (Count::try_from(n), Count::try_from(total)) {
                (Ok(n), Ok(at)) => {
                    c.push(n);
                    d.push(at);
                }
                _ => self.abort(
                    1,
                    &format!("rank {}: an all-gather of 2^31 values or more", self.rank),
                ),
            }
            total += n;
        }
        (c, d, total)
    }

    fn gather<T: mpi::datatype::Equivalence + Copy + Default>(
        &self,
        local: &[T],
        counts: &[usize],
    ) -> Vec<T> {
        if counts.len() != self.size || counts.get(self.rank) != Some(&local.len()) {
            self.abort(
                1,
                &format!(
                    "rank {}: all-gather of {} values with counts {counts:?}",
                    self.rank,
                    local.len()
                ),
            );
        }
        let (c, d, total) = self.layout(counts);
        let mut out = vec![T::default(); total];
        {
            let mut part = PartitionMut::new(&mut out[..], &c[..], &d[..]);
            Self::world().all_gather_varcount_into(local, &mut part);
        }
        out
    }
}

impl Communicator for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        let n = match Count::try_from(local.len()) {
            Ok(n) => n,
            Err(_) => self.abort(
                1,
                &format!("rank {}: a message of 2 GiB or more", self.rank),
            ),
        };
        let mut counts: Vec<Count> = vec![0; self.size];
        Self::world().all_gather_into(&n, &mut counts[..]);
        let counts: Vec<usize> = counts.iter().map(|&c| c.max(0) as usize).collect();
        let flat = self.gather(local, &counts);
        let mut out = Vec::with_capacity(self.size);
        let mut at = 0;
        for n in counts {
            out.push(flat[at..at + n].to_vec());
            at += n;
        }
        out
    }

    fn all_gather_f32(&self, local: &[f32], counts: &[usize]) -> Vec<f32> {
        self.gather(local, counts)
    }

    fn all_gather_f64(&self, local: &[f64], counts: &[usize]) -> Vec<f64> {
        self.gather(local, counts)
    }

    fn barrier(&self) {
        Self::world().barrier();
    }

    fn abort(&self, code: i32, message: &str) -> ! {
        eprintln!("{message}");
        Self::world().abort(code)
    }
}
