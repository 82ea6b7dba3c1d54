//! Data-parallel training without MPI: two ranks as two threads of this process, through a
//! [`Communicator`] that gathers in a shared table. The training loop's distributed path (batch
//! split, weighted rank-ordered reduction, sharded state, rank-0-only outputs) is exercised by the
//! default test suite; the MPI transport itself by `optlab-cli`'s `tests/mpi.rs` (feature `mpi`).
// Test helpers (outside #[test] functions) may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier, Mutex};

use optlab::dist::Communicator;
use optlab_nn::train::{self, RunOptions};
use optlab_nn::{Outcome, TrainConfig};

/// Rank `rank` of `size` threads.
struct Threads {
    rank: usize,
    size: usize,
    barrier: Arc<Barrier>,
    slots: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Communicator for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        self.slots.lock().unwrap()[self.rank] = local.to_vec();
        self.barrier.wait();
        let all = self.slots.lock().unwrap().clone();
        self.barrier.wait();
        all
    }
    fn barrier(&self) {
        self.barrier.wait();
    }
    fn abort(&self, code: i32, message: &str) -> ! {
        eprintln!("{message}");
        std::process::exit(code)
    }
}

fn ranks(size: usize) -> Vec<Arc<dyn Communicator>> {
    let barrier = Arc::new(Barrier::new(size));
    let slots = Arc::new(Mutex::new(vec![Vec::new(); size]));
    (0..size)
        .map(|rank| {
            Arc::new(Threads {
                rank,
                size,
                barrier: barrier.clone(),
                slots: slots.clone(),
            }) as Arc<dyn Communicator>
        })
        .collect()
}

fn config(sets: &[&str]) -> TrainConfig {
    let mut all = vec!["model.width=32".to_string(), "eval_every=10".to_string()];
    all.extend(sets.iter().map(|s| s.to_string()));
    TrainConfig::load("digits-mlp", &all).unwrap()
}

fn on_ranks(cfg: &TrainConfig, size: usize, steps: u64) -> Vec<Outcome> {
    let comms = ranks(size);
    std::thread::scope(|s| {
        let hs: Vec<_> = comms
            .iter()
            .map(|c| {
                let c = c.clone();
                s.spawn(move || {
                    train::train(
                        cfg,
                        RunOptions {
                            steps: Some(steps),
                            comm: Some(c),
                            ..Default::default()
                        },
                    )
                    .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

#[test]
fn two_thread_ranks_train_as_one_process_and_sharding_changes_nothing() {
    for sets in [
        &["optimizer.name=\"SGD\"", "optimizer.lr=0.05"][..],
        &["optimizer.name=\"MuonAdamW\"", "optimizer.lr=0.02"][..],
    ] {
        let cfg = config(sets);
        let one = train::train(
            &cfg,
            RunOptions {
                steps: Some(20),
                ..Default::default()
            },
        )
        .unwrap();
        let two = on_ranks(&cfg, 2, 20);
        let mut sharded_cfg = cfg.clone();
        sharded_cfg.shard_optimizer_state = true;
        let sharded = on_ranks(&sharded_cfg, 2, 20);
        // every rank ends with the same parameters, bit for bit, sharded or not
        for run in [&two, &sharded] {
            assert_eq!(run[0].checkpoint.params, run[1].checkpoint.params);
            assert_eq!(run[0].losses, run[1].losses);
            assert_eq!(run[0].summary.world_size, 2);
        }
        assert_eq!(two[0].losses, sharded[0].losses, "{sets:?}");
        assert_eq!(
            two[0].checkpoint.params, sharded[0].checkpoint.params,
            "{sets:?}"
        );
        for (a, b) in one.losses.iter().zip(&two[0].losses) {
            assert!(rel(*b, *a) < 1e-5, "{sets:?}: {a} vs {b}");
        }
        let total = one.summary.optimizer_state_bytes_per_rank[0];
        let split = &sharded[0].summary.optimizer_state_bytes_per_rank;
        assert_eq!(split.iter().sum::<u64>(), total, "{split:?}");
        assert!(split.iter().all(|&b| b < total), "{split:?}");
    }
}

#[test]
fn closure_methods_and_tiny_batches_are_refused_on_several_ranks() {
    let cfg = config(&["sam.rho=0.05"]);
    let comms = ranks(1);
    // one rank: SAM is fine
    train::train(
        &cfg,
        RunOptions {
            steps: Some(2),
            comm: Some(comms[0].clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let comms = ranks(2);
    let e = train::train(
        &cfg,
        RunOptions {
            steps: Some(2),
            comm: Some(comms[0].clone()),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("SAM") && e.contains("2 ranks"), "{e}");
    let cfg = config(&["data.batch_size=1"]);
    let results: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = comms
            .iter()
            .map(|c| {
                let c = c.clone();
                let cfg = &cfg;
                s.spawn(move || {
                    train::train(
                        cfg,
                        RunOptions {
                            steps: Some(2),
                            comm: Some(c),
                            ..Default::default()
                        },
                    )
                    .unwrap_err()
                    .to_string()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for e in results {
        assert!(e.contains("batch_size") && e.contains("ranks"), "{e}");
    }
}
