//! The processes of this invocation: one, or the ranks of an MPI job (`mpirun -np R optlab ...`,
//! `srun --mpi=pmix optlab ...`) when the binary is built with the `mpi` feature and finds itself
//! launched by an MPI launcher. See docs/distributed.md.

use std::sync::Arc;

use optlab::dist::{Communicator, SingleProcess};

/// The world of this process; keeps MPI initialized while it lives.
pub struct World {
    comm: Arc<dyn Communicator>,
    #[cfg(feature = "mpi")]
    _universe: Option<crate::mpi::Universe>,
}

/// The number of processes an MPI launcher says this job has, from its environment (Open MPI,
/// PMIx as under `srun --mpi=pmix`, MPICH's PMI); `None` when not launched by one.
pub fn launcher_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.trim().parse::<usize>().ok())
        .or_else(|| std::env::var("PMIX_RANK").ok().map(|_| 0))
}

impl World {
    /// The world: MPI's when launched by an MPI launcher (feature `mpi`), else one process.
    ///
    /// # Errors
    /// Launched as several processes by an MPI launcher without the `mpi` feature (each would
    /// run the whole command and write the same outputs).
    pub fn init() -> anyhow::Result<World> {
        let launched = launcher_size();
        #[cfg(feature = "mpi")]
        if launched.is_some() {
            let (universe, comm) = crate::mpi::init()?;
            return Ok(World {
                comm,
                _universe: Some(universe),
            });
        }
        if let Some(n) = launched.filter(|&n| n > 1) {
            anyhow::bail!(
                "launched as {n} MPI processes, but this optlab was built without MPI support: \
                 rebuild with `cargo build --release -p optlab-cli --features mpi`"
            );
        }
        Ok(World {
            comm: Arc::new(SingleProcess),
            #[cfg(feature = "mpi")]
            _universe: None,
        })
    }

    /// The communicator of the world.
    pub fn comm(&self) -> Arc<dyn Communicator> {
        self.comm.clone()
    }
}
