//! `optlab` across MPI ranks (feature `mpi`): `mpirun -np 2 --oversubscribe` on the built binary.
//!
//! - data-parallel training = one process with the same global batch: final losses within 1e-5
//!   relative after 50 steps of SGD, 1e-4 for AdamW and Muon (see TOLERANCES);
//! - sharded optimizer state = unsharded (bit for bit on two ranks; against one process the
//!   same tolerance) with about half the state bytes on each rank;
//! - `optlab run` across 2 ranks writes the metrics of one process;
//! - a rank that fails (its experiment file missing) ends every rank with its message.
//!
//! Needs Open MPI's `mpirun` (Debian: openmpi-bin); .ci/run installs it.
#![cfg(feature = "mpi")]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn optlab() -> &'static str {
    env!("CARGO_BIN_EXE_optlab")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("optlab-mpi-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `mpirun` with what a container needs: root allowed, oversubscription (2 ranks on few cores),
/// no single-copy shared-memory mechanism (ptrace is often not permitted), one thread per rank.
fn mpirun(np: usize) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["-np", &np.to_string(), "--oversubscribe"])
        .args(["--mca", "btl_vader_single_copy_mechanism", "none"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .env("RAYON_NUM_THREADS", "1");
    c
}

fn single() -> Command {
    let mut c = Command::new(optlab());
    c.env("RAYON_NUM_THREADS", "1");
    c
}

fn ok(mut c: Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fields of a CSV line (double-quoted fields may hold commas).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Columns `name` of a metrics.csv, row by row (empty cells as NaN).
fn column(csv: &Path, name: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header = fields(lines.next().unwrap());
    let i = header.iter().position(|h| h == name).unwrap();
    lines
        .map(|l| fields(l)[i].parse().unwrap_or(f64::NAN))
        .collect()
}

/// Minibatch loss of the last step and final training loss of a run directory.
fn finals(dir: &Path) -> (f64, f64) {
    let loss = *column(&dir.join("metrics.csv"), "loss").last().unwrap();
    let s = json(&dir.join("summary.json"));
    (loss, s["final_eval"]["train_loss"].as_f64().unwrap())
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

/// `optlab train digits-mlp` for 50 steps with `sets`, in one process or on 2 ranks.
fn train(dir: &Path, ranks: usize, sets: &[&str]) -> Output {
    let mut c = if ranks == 1 {
        single()
    } else {
        let mut c = mpirun(ranks);
        c.arg(optlab());
        c
    };
    c.args(["train", "digits-mlp", "--quiet", "--steps", "50"])
        .args(["--set", "eval_every=25", "--set", "log_every=1"])
        .arg("--out")
        .arg(dir);
    for s in sets {
        c.args(["--set", s]);
    }
    ok(c)
}

/// The relative tolerances on final losses after 50 steps, by method. Ranks average per-rank
/// means with weights n_r/N instead of one mean over N rows: the same gradient up to f32
/// rounding (~1e-7 relative per entry). SGD carries that difference linearly; AdamW divides by
/// √v̂ (a gradient entry near 0 at the first steps has its rounding magnified) and Muon
/// orthogonalizes (its Newton–Schulz iteration amplifies small singular-value differences), so
/// they get 1e-4.
const TOLERANCES: &[(&str, &[&str], f64)] = &[
    (
        "SGD",
        &["optimizer.name=\"SGD\"", "optimizer.lr=0.05"],
        1e-5,
    ),
    ("AdamW", &[], 1e-4),
    (
        "MuonAdamW",
        &["optimizer.name=\"MuonAdamW\"", "optimizer.lr=0.02"],
        1e-4,
    ),
];

#[test]
fn data_parallel_and_sharded_training_equal_one_process() {
    let root = tmp("train");
    for (name, sets, tol) in TOLERANCES {
        let one = root.join(format!("{name}-1"));
        let two = root.join(format!("{name}-2"));
        let sharded = root.join(format!("{name}-2-sharded"));
        train(&one, 1, sets);
        train(&two, 2, sets);
        let mut sharded_sets = sets.to_vec();
        sharded_sets.push("shard_optimizer_state=true");
        train(&sharded, 2, &sharded_sets);
        let (l1, t1) = finals(&one);
        let (l2, t2) = finals(&two);
        let (ls, ts) = finals(&sharded);
        eprintln!(
            "{name}: 1 process loss {l1:.9} train {t1:.9} | 2 ranks {:.2e} {:.2e} | sharded {:.2e} {:.2e}",
            rel(l2, l1),
            rel(t2, t1),
            rel(ls, l1),
            rel(ts, t1)
        );
        for (what, v) in [("2 ranks", l2), ("2 ranks, sharded", ls)] {
            assert!(rel(v, l1) <= *tol, "{name} {what}: loss {v} vs {l1}");
        }
        for (what, v) in [("2 ranks", t2), ("2 ranks, sharded", ts)] {
            assert!(rel(v, t1) <= *tol, "{name} {what}: train loss {v} vs {t1}");
        }
        // sharding changes who updates what, not the arithmetic: the same as unsharded 2 ranks
        assert_eq!(
            column(&two.join("metrics.csv"), "loss"),
            column(&sharded.join("metrics.csv"), "loss"),
            "{name}"
        );
        let s1 = json(&one.join("summary.json"));
        let s2 = json(&two.join("summary.json"));
        let ss = json(&sharded.join("summary.json"));
        assert_eq!(s1["world_size"], 1);
        assert_eq!(s2["world_size"], 2);
        let bytes = |s: &serde_json::Value| -> Vec<u64> {
            s["optimizer_state_bytes_per_rank"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect()
        };
        let (b1, b2, bs) = (bytes(&s1), bytes(&s2), bytes(&ss));
        assert_eq!(
            b2,
            vec![b1[0]; 2],
            "{name}: unsharded, every rank holds it all"
        );
        if b1[0] > 0 {
            assert_eq!(bs.iter().sum::<u64>(), b1[0], "{name}: {bs:?}");
            // whole parameters per rank: the 256×256 hidden matrix alone is 77% of this MLP's
            // state, so the split is as even as whole matrices allow, not 1/2 each
            assert!(
                bs.iter().all(|&b| 0 < b && b < b1[0]),
                "{name}: sharded state per rank {bs:?} of {}",
                b1[0]
            );
        }
        // only rank 0 wrote: one summary, one final checkpoint
        assert!(two.join("checkpoints").is_dir());
    }
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn runs_across_ranks_write_the_metrics_of_one_process() {
    let root = tmp("run");
    let sets = ["--set", "seeds=3", "--set", "epochs=5", "--quiet", "--out"];
    let mut c = single();
    c.arg("run").args(sets).arg(root.join("one"));
    ok(c);
    let mut c = mpirun(2);
    c.args([optlab(), "run"]).args(sets).arg(root.join("two"));
    ok(c);
    let read = |d: &str| {
        let text = std::fs::read_to_string(root.join(d).join("metrics.csv")).unwrap();
        let mut lines = text.lines();
        let header = fields(lines.next().unwrap());
        let t = header.iter().position(|h| h == "time_s").unwrap();
        // every column but the clock
        let rows: Vec<Vec<String>> = lines
            .map(|l| {
                let mut f = fields(l);
                f.remove(t);
                f
            })
            .collect();
        (header, rows)
    };
    let (h1, r1) = read("one");
    let (h2, r2) = read("two");
    assert_eq!(h1, h2);
    assert!(r1.len() > 10);
    assert_eq!(r1.len(), r2.len());
    for (a, b) in r1.iter().zip(&r2) {
        assert_eq!(a, b, "metrics.csv differ beyond time_s");
    }
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn a_failing_rank_ends_every_rank_with_its_message() {
    let root = tmp("fail");
    let missing = root.join("missing-experiment.toml");
    // rank 0 trains long enough to be waiting in the first collective; rank 1 cannot start
    let started = Instant::now();
    let mut c = mpirun(1);
    c.args([
        optlab(),
        "train",
        "digits-mlp",
        "--quiet",
        "--steps",
        "100000",
    ])
    .arg("--out")
    .arg(root.join("out"))
    .args([":", "-np", "1", optlab(), "train"])
    .arg(&missing)
    .args(["--quiet", "--out"])
    .arg(root.join("out"));
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("rank 1 of 2") && text.contains("missing-experiment.toml"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(120), "{text}");
    std::fs::remove_dir_all(&root).ok();
}
