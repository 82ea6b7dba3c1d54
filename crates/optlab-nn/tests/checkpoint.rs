//! Checkpoint directories: safetensors files under PyTorch-style names readable by the
//! safetensors reader, corruption and truncation detected, the old format refused with a
//! message, a run directory resolved to its latest complete checkpoint.
// Test helpers (outside #[test] functions) may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use optlab_nn::checkpoint::{self, ResumePoint};
use optlab_nn::train::{self, RunOptions};
use optlab_nn::{Checkpoint, TrainConfig};
use safetensors::{Dtype, SafeTensors};

fn config(sets: &[&str]) -> TrainConfig {
    let mut all = vec!["model.width=16".to_string()];
    all.extend(sets.iter().map(|s| s.to_string()));
    TrainConfig::load("digits-mlp", &all).unwrap()
}

fn checkpoint_after(sets: &[&str], steps: u64) -> Checkpoint {
    let opts = RunOptions {
        steps: Some(steps),
        ..Default::default()
    };
    train::train(&config(sets), opts).unwrap().checkpoint
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("optlab-ck-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn tensors_are_safetensors_under_pytorch_names() {
    let ck = checkpoint_after(&["averaging=\"uniform\""], 3);
    let dir = temp("names").join("step");
    ck.save(&dir).unwrap();
    let model = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&model).unwrap();
    assert_eq!(st.len(), ck.params.len());
    let names: Vec<&str> = ck.params.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"layers.0.weight"), "{names:?}");
    for p in &ck.params {
        let t = st.tensor(&p.name).unwrap();
        assert_eq!(t.dtype(), Dtype::F32);
        assert_eq!(t.shape(), p.shape.as_slice(), "{}", p.name);
        assert_eq!(f32s(t.data()), p.data, "{}", p.name);
    }
    let (_, meta) = SafeTensors::read_metadata(&model).unwrap();
    let format = meta.metadata().as_ref().and_then(|m| m.get("format"));
    assert_eq!(format.map(String::as_str), Some("pt"));
    // AdamW's moments under state.<param>.<buffer>, as torch.optim's state_dict names them
    let opt = std::fs::read(dir.join("optimizer.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&opt).unwrap();
    let w0 = ck
        .params
        .iter()
        .find(|p| p.name == "layers.0.weight")
        .unwrap();
    for buffer in ["exp_avg", "exp_avg_sq"] {
        let t = st
            .tensor(&format!("state.layers.0.weight.{buffer}"))
            .unwrap();
        assert_eq!(t.shape(), w0.shape.as_slice());
    }
    // the averaged iterates, in the model's names and shapes
    assert_eq!(ck.averaged.len(), ck.params.len());
    let avg = std::fs::read(dir.join("averaged.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&avg).unwrap();
    let t = st.tensor("layers.0.weight").unwrap();
    assert_eq!(t.shape(), w0.shape.as_slice());
    assert_ne!(
        f32s(t.data()),
        w0.data,
        "the average is not the last iterate"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("checkpoint.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "optlab-checkpoint");
    assert_eq!(manifest["version"], 2);
    assert_eq!(manifest["step"], 3);
    assert_eq!(manifest["optimizer"]["step"], 3);
    assert_eq!(Checkpoint::load(&dir).unwrap(), ck);
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}

/// Replaces `file` of the checkpoint `dir` by `f(contents)`.
fn damage(dir: &Path, file: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(dir.join(file)).unwrap();
    f(&mut bytes);
    std::fs::write(dir.join(file), bytes).unwrap();
}

#[test]
fn corrupt_or_truncated_files_are_reported_not_loaded() {
    let ck = checkpoint_after(&[], 2);
    let root = temp("corrupt");
    type Case<'a> = (&'a str, fn(&mut Vec<u8>), &'a [&'a str]);
    let cases: [Case<'_>; 6] = [
        (
            "optimizer.safetensors",
            |b| {
                let n = b.len();
                b[n - 3] ^= 1;
            },
            &["optimizer.safetensors", "SHA-256", "corrupt"],
        ),
        (
            "model.safetensors",
            |b| b.truncate(b.len() / 2),
            &["model.safetensors", "truncated"],
        ),
        ("records.csv", |b| b.clear(), &["records.csv", "truncated"]),
        (
            "checkpoint.json",
            |b| b.truncate(b.len() / 2),
            &["checkpoint.json", "truncated or corrupt"],
        ),
        (
            "checkpoint.json",
            |b| {
                let s = String::from_utf8(b.clone()).unwrap();
                *b = s
                    .replacen("\"version\": 2", "\"version\": 7", 1)
                    .into_bytes();
            },
            &["version 7", "reads version 2"],
        ),
        (
            "checkpoint.json",
            |b| {
                let s = String::from_utf8(b.clone()).unwrap();
                *b = s
                    .replacen("\"records.csv\"", "\"../../etc/passwd\"", 1)
                    .into_bytes();
            },
            &["../../etc/passwd", "a checkpoint's files are"],
        ),
    ];
    for (i, (file, f, expect)) in cases.into_iter().enumerate() {
        let dir = root.join(format!("case{i}"));
        ck.save(&dir).unwrap();
        damage(&dir, file, f);
        let e = Checkpoint::load(&dir).unwrap_err().to_string();
        for x in expect {
            assert!(e.contains(x), "case {i} ({file}): `{x}` not in: {e}");
        }
    }
    // a header the safetensors reader refuses, with a matching checksum: still an error
    let dir = root.join("header");
    ck.save(&dir).unwrap();
    let manifest = dir.join("checkpoint.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let bogus = b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1} ".to_vec();
    std::fs::write(dir.join("model.safetensors"), &bogus).unwrap();
    m["files"]["model.safetensors"] = serde_json::json!({
        "bytes": bogus.len(),
        "sha256": sha256(&bogus),
    });
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    let e = Checkpoint::load(&dir).unwrap_err().to_string();
    assert!(e.contains("model.safetensors"), "{e}");
    std::fs::remove_dir_all(&root).ok();
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_old_format_gets_a_clear_message() {
    let root = temp("old");
    let old = root.join("checkpoint.json.gz");
    std::fs::write(&old, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    for path in [&old, &root] {
        let e = checkpoint::resume_point(path).unwrap_err().to_string();
        assert!(
            e.contains("old-format checkpoint") && e.contains("checkpoints/step-N"),
            "{e}"
        );
    }
    let e = Checkpoint::load(&old).unwrap_err().to_string();
    assert!(e.contains("old-format checkpoint"), "{e}");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn a_run_directory_resumes_from_its_latest_complete_checkpoint() {
    let cfg = config(&["checkpoint_every=2"]);
    let run = temp("run");
    let opts = RunOptions {
        steps: Some(5),
        out: Some(run.clone()),
        ..Default::default()
    };
    let out = train::train(&cfg, opts).unwrap();
    // a write that was interrupted, of a later step: ignored, reported
    let tmp = run.join("checkpoints/.step-00000006.tmp-1");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("model.safetensors"), b"partial").unwrap();
    match checkpoint::resume_point(&run).unwrap() {
        ResumePoint::Checkpoint {
            dir,
            checkpoint,
            run_dir,
            interrupted,
        } => {
            assert_eq!(dir, checkpoint::checkpoint_dir(&run, 5));
            assert_eq!(*checkpoint, out.checkpoint);
            assert_eq!(run_dir.as_deref(), Some(run.as_path()));
            assert_eq!(interrupted, std::slice::from_ref(&tmp));
        }
        other => panic!("{other:?}"),
    }
    // the checkpoint directory itself names its run
    let dir = checkpoint::checkpoint_dir(&run, 5);
    match checkpoint::resume_point(&dir).unwrap() {
        ResumePoint::Checkpoint { run_dir, .. } => assert_eq!(run_dir, Some(run.clone())),
        other => panic!("{other:?}"),
    }
    // a corrupt latest checkpoint is an error, not a silent fallback
    damage(&dir, "model.safetensors", |b| b.truncate(10));
    let e = checkpoint::resume_point(&run).unwrap_err().to_string();
    assert!(e.contains("model.safetensors"), "{e}");
    // no complete checkpoint: the run's configuration, from step 0
    std::fs::remove_dir_all(&dir).unwrap();
    match checkpoint::resume_point(&run).unwrap() {
        ResumePoint::Fresh { config, .. } => assert_eq!(*config, cfg),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&run).ok();
}

#[test]
fn saving_over_a_checkpoint_replaces_it() {
    let root = temp("replace");
    let dir = root.join("ck");
    let a = checkpoint_after(&[], 1);
    let b = checkpoint_after(&[], 2);
    a.save(&dir).unwrap();
    b.save(&dir).unwrap();
    assert_eq!(Checkpoint::load(&dir).unwrap(), b);
    let left: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["ck"], "no temporary directory left");
    std::fs::remove_dir_all(&root).ok();
}
