//! Training loop: resume continues identically, errors are clear, small runs learn.
// Test helpers (outside #[test] functions) may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use optlab_nn::train::{self, RunOptions};
use optlab_nn::{Checkpoint, NnError, TrainConfig};

fn config(preset: &str, sets: &[&str]) -> TrainConfig {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    TrainConfig::load(preset, &sets).unwrap()
}

fn steps(n: u64) -> RunOptions<'static> {
    RunOptions {
        steps: Some(n),
        ..Default::default()
    }
}

/// Runs 8 steps straight, and 4 + (checkpoint file round trip) + 4: same losses, same weights.
fn resume_is_identical(cfg: &TrainConfig) {
    let full = train::train(cfg, steps(8)).unwrap();
    assert_eq!(full.losses.len(), 8);
    let half = train::train(cfg, steps(4)).unwrap();
    assert_eq!(half.losses[..], full.losses[..4]);
    // one folder per call: tests run in parallel threads of one process, often with one name
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "optlab-nn-resume-{}-{}-{call}",
        cfg.common.name,
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("checkpoint");
    half.checkpoint.save(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();
    assert_eq!(loaded, half.checkpoint);
    let rest = train::resume(loaded, steps(8)).unwrap();
    assert_eq!(
        rest.losses[..],
        full.losses[4..],
        "{}: resumed losses differ",
        cfg.common.name
    );
    assert_eq!(rest.checkpoint.params, full.checkpoint.params);
    assert_eq!(rest.checkpoint.optimizer, full.checkpoint.optimizer);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mlp_resume_gives_the_same_loss_sequence() {
    // 1,437 / 64 = 23 steps per epoch: stay inside epoch 0 and cross nothing special
    resume_is_identical(&config(
        "digits-mlp",
        &["model.width=32", "eval_every=3", "log_every=1"],
    ));
}

#[test]
fn mlp_resume_across_an_epoch_boundary_with_schedule_clipping_and_augmentation() {
    resume_is_identical(&config(
        "digits-mlp",
        &[
            "model.width=16",
            "data.batch_size=400",
            "data.shift=1",
            "clip_grad_norm=0.5",
            "schedule.kind=\"Constant\"",
        ],
    ));
}

#[test]
fn gpt_resume_gives_the_same_loss_sequence() {
    resume_is_identical(&config(
        "shakespeare-gpt",
        &[
            "model.n_layer=1",
            "model.n_embd=16",
            "model.n_head=2",
            "model.block_size=8",
            "data.batch_size=4",
            "data.eval_batches=2",
            "eval_every=4",
        ],
    ));
}

#[test]
fn reduce_lr_on_plateau_follows_the_validation_loss_and_resumes() {
    // threshold 0.9: an evaluation must cut the best validation loss by 90 % to count as an
    // improvement, so the lr halves at (almost) every evaluation after the first
    let cfg = config(
        "digits-mlp",
        &[
            "model.width=16",
            "eval_every=2",
            "log_every=1",
            "schedule={ kind = \"ReduceLROnPlateau\", factor = 0.5, patience = 0, threshold = 0.9 }",
        ],
    );
    let run = train::train(&cfg, steps(8)).unwrap();
    let records = run.checkpoint.records().unwrap();
    let lrs: Vec<f64> = records.rows.iter().map(|r| r.lr).collect();
    assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "{lrs:?}");
    assert!(lrs.last().unwrap() <= &(lrs[0] / 4.0), "{lrs:?}");
    assert!(run.checkpoint.schedule.is_some());
    resume_is_identical(&cfg);
}

#[test]
fn sam_resume_gives_the_same_loss_sequence() {
    resume_is_identical(&config(
        "digits-mlp",
        &[
            "model.width=16",
            "sam.rho=0.05",
            "optimizer.name=\"SGD\"",
            "optimizer.lr=0.1",
            "optimizer.momentum=0.9",
            "optimizer.weight_decay=0.0",
        ],
    ));
}

/// `averaging` (an optimizer wrapper shared with `optlab run`) leaves the iterates alone and
/// moves the evaluation to the average; its sums resume bit-identically.
#[test]
fn averaging_from_a_train_config_evaluates_at_the_average_and_resumes() {
    let base = [
        "model.width=16",
        "optimizer.name=\"SGD\"",
        "optimizer.lr=0.1",
        "optimizer.weight_decay=0.0",
        "eval_every=6",
    ];
    let plain = train::train(&config("digits-mlp", &base), steps(6)).unwrap();
    let mut with = base.to_vec();
    with.push("averaging=\"uniform\"");
    let avg_cfg = config("digits-mlp", &with);
    let avg = train::train(&avg_cfg, steps(6)).unwrap();
    assert_eq!(
        avg.losses, plain.losses,
        "averaging must not change the iterates"
    );
    assert_ne!(
        avg.summary.final_eval.val_loss, plain.summary.final_eval.val_loss,
        "evaluated at the average, not at the last iterate"
    );
    resume_is_identical(&avg_cfg);
}

/// `armijo` (the shared line-search wrapper) from a train config: trial losses on the step's
/// batch are counted in `grad_evals`, and its state resumes bit-identically.
#[test]
fn armijo_from_a_train_config_counts_its_trials_and_resumes() {
    let cfg = config(
        "digits-mlp",
        &[
            "model.width=16",
            "optimizer.name=\"SGD\"",
            "optimizer.lr=1.0",
            "optimizer.weight_decay=0.0",
            "armijo={ c = 0.1, rho = 0.5 }",
            "log_every=1",
        ],
    );
    let out = train::train(&cfg, steps(4)).unwrap();
    assert_eq!(out.summary.optimizer, "Armijo(SGD)");
    let last = out.records.rows.last().unwrap();
    assert_eq!(last.method, "Armijo(SGD)");
    // per step: the batch's forward/backward and at least one trial loss on it
    assert!(last.grad_evals >= 4 * 64 * 2, "{last:?}");
    assert_eq!(last.grad_evals % 64, 0);
    // an accepted step is lr · ρ^j ≤ 1
    assert!(last.lr > 0.0 && last.lr <= 1.0, "{last:?}");
    resume_is_identical(&cfg);
}

#[test]
fn digits_mlp_learns_in_a_few_epochs() {
    let cfg = config(
        "digits-mlp",
        &["model.width=64", "epochs=3", "eval_every=1000"],
    );
    let out = train::train(&cfg, RunOptions::default()).unwrap();
    assert!(out.summary.final_eval.val_acc > 0.85, "{:?}", out.summary);
    assert!(out.losses.last().unwrap() < &out.losses[0]);
}

#[test]
fn exploding_training_reports_the_step() {
    let cfg = config(
        "digits-mlp",
        &[
            "model.width=16",
            "optimizer.name=\"SGD\"",
            "optimizer.lr=1e12",
            "optimizer.weight_decay=0.0",
        ],
    );
    let e = train::train(&cfg, steps(50)).unwrap_err();
    let step = match &e {
        NnError::NonFiniteLoss { step, .. } => *step,
        NnError::Optim(optlab::OptimError::NonFiniteGradient { step, .. }) => *step,
        other => panic!("unexpected error {other}"),
    };
    assert!(step > 1 && step <= 50, "{e}");
    assert!(e.to_string().contains(&format!("step {step}")), "{e}");
}

#[test]
fn outputs_are_written() {
    let cfg = config(
        "shakespeare-gpt",
        &[
            "model.n_layer=1",
            "model.n_embd=16",
            "model.n_head=2",
            "model.block_size=8",
            "data.batch_size=4",
            "data.eval_batches=1",
            "sample.length=20",
            "name=\"tiny-gpt\"",
            "eval_every=2",
            "log_every=1",
            "target.metric=\"val_loss\"",
            "target.threshold=100.0",
        ],
    );
    let dir = std::env::temp_dir().join(format!("optlab-nn-out-{}", std::process::id()));
    let out = train::train(
        &cfg,
        RunOptions {
            steps: Some(3),
            out: Some(dir.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let run = dir.clone(); // `out` is the run directory itself
    for f in [
        "metrics.csv",
        "summary.json",
        "loss.png",
        "loss.svg",
        "accuracy.png",
        "accuracy.svg",
        "config.json",
        "checkpoints/step-00000003/checkpoint.json",
        "checkpoints/step-00000003/model.safetensors",
        "checkpoints/step-00000003/optimizer.safetensors",
        "checkpoints/step-00000003/records.csv",
        "sample.txt",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let in_checkpoints: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(in_checkpoints, ["step-00000003"], "only the latest is kept");
    // the shared records format: read back through optlab::record
    let text = std::fs::read(run.join("metrics.csv")).unwrap();
    assert!(
        text.starts_with(
            b"method,seed,iteration,epoch,grad_evals,time_s,lr,\
              loss,grad_norm,train_loss,train_acc,val_loss,val_acc\n"
        ),
        "{}",
        String::from_utf8_lossy(&text)
    );
    let mut again = Vec::new();
    out.records.write_csv(&mut again).unwrap();
    assert_eq!(again, text, "metrics.csv is the outcome's records");
    let records = optlab::record::Records::read_csv(text.as_slice()).unwrap();
    let its: Vec<u64> = records.rows.iter().map(|r| r.iteration).collect();
    assert_eq!(its, [1, 2, 3], "a row per step (log_every = 1)");
    let val = records.column("val_loss").unwrap();
    let evaluated: Vec<bool> = records
        .rows
        .iter()
        .map(|r| r.get(val).is_finite())
        .collect();
    assert_eq!(
        evaluated,
        [false, true, true],
        "eval_every = 2 and the last step"
    );
    assert_eq!(records.rows[2].grad_evals, 12, "3 steps of 4 sequences");
    assert!(records.rows.windows(2).all(|w| w[0].time_s <= w[1].time_s));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let target = &summary["target"];
    assert_eq!(target["metric"], "val_loss");
    assert_eq!(target["direction"], "below");
    assert_eq!(
        target["step"], 2,
        "first evaluation below 100 nats: {summary}"
    );
    assert_eq!(out.summary.final_eval.val_loss, records.rows[2].get(val));
    let png = std::fs::read(run.join("loss.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let svg = std::fs::read_to_string(run.join("accuracy.svg")).unwrap();
    assert!(svg.contains("validation accuracy"), "legend missing");
    let sample = out.sample.unwrap();
    assert_eq!(
        sample.chars().count(),
        21,
        "prompt + 20 characters: {sample:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mismatched_data_and_model_are_errors() {
    let e = train::train(
        &config("mnist-mlp", &["data.name=\"shakespeare\""]),
        steps(1),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("gpt"), "{e}");
    let e = train::train(
        &config("shakespeare-gpt", &["data.name=\"digits\""]),
        steps(1),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("gpt"), "{e}");
    let e = train::train(
        &config("digits-mlp", &["optimizer.name=\"Adamz\""]),
        steps(1),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Adamz") && e.contains("AdamW"), "{e}");
    let e = train::train(
        &config("digits-mlp", &["data.path=\"no/such/file.csv\""]),
        steps(1),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no/such/file.csv"), "{e}");
    // Augmentation: a shift must be less than the image side, and there is none for text.
    let e = train::train(&config("digits-mlp", &["data.shift=8"]), steps(1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("data.shift") && e.contains("0..=7"), "{e}");
    let e = train::train(&config("shakespeare-gpt", &["data.shift=1"]), steps(1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("data.shift") && e.contains("text"), "{e}");
}
