//! `grokking`: validation accuracy on modular addition jumps long after the training set is
//! fitted — with weight decay (Power et al. 2022, "Grokking: generalization beyond overfitting
//! on small algorithmic datasets"; the lecture's "grokking" slide).
//!
//! Data: (a + b) mod p over all p² pairs (p = 97, 40 % for training; quick: p = 47, 60 %), the
//! training pairs drawn by a seeded permutation
//! ([`ModularData`](crate::data::ModularData)). Model: the MLP on token embeddings (one table of
//! `EMBED` dimensions per token, the two operands' embeddings concatenated → `WIDTH` ReLU units
//! → p logits). Optimizer: the catalog's AdamW with β = (0.9, 0.98), lr 3e-3, full batch, trained
//! through the crate's training loop ([`train`](crate::train)) — once with weight decay 1, once
//! with weight decay 0, same seed and budget. Training and validation accuracy are measured on
//! the whole training and validation sets every 10 steps (quick size: every 20).
//!
//! Checks: with weight decay, training accuracy reaches 99 % at step T_fit and validation
//! accuracy reaches 95 % at step T_gen ≥ 5·T_fit; validation accuracy at the end ≥ 95 %; without
//! weight decay, validation accuracy stays below 50 % over the whole budget.

use std::path::Path;

use optlab::experiment::{Common, OptimizerSpec};
use optlab::plot::ConvergenceOptions;
use optlab::record::{Records, XAxis};
use optlab::reproduce::{
    Check, Figure, Image, Output, Progress, Quantity, ReproError, Size, convergence, write_csv,
};
use serde_json::json;

use crate::config::TrainConfig;
use crate::data::{DataName, DataSpec};
use crate::models::ModelSpec;
use crate::models::mlp::MlpConfig;
use crate::train::{RunOptions, train};

/// The figure.
pub const FIGURE: Figure = Figure::new(
    "grokking",
    "Grokking: generalization long after fitting the training set, with weight decay",
    "Trained on 40 % of the pairs of (a + b) mod 97 (quick: 60 % of mod 47) with AdamW and weight \
     decay 1, a small network fits its training set early but reaches high validation accuracy only much later \
     (≥ 5× more steps); without weight decay it memorizes and does not generalize within the \
     same budget (Power et al. 2022).",
    run,
);

/// Embedding dimension per operand.
const EMBED: usize = 32;
/// Hidden ReLU units.
const WIDTH: usize = 256;
/// Learning rate.
const LR: f64 = 3e-3;
/// Training accuracy counted as "fitted".
const FIT: f64 = 0.99;
/// Validation accuracy counted as "generalized".
const GEN: f64 = 0.95;
/// Validation accuracy below which the run without weight decay has not generalized.
const NO_GEN: f64 = 0.5;

fn config(
    modulus: usize,
    train_fraction: f64,
    steps: u64,
    eval_every: u64,
    weight_decay: f64,
) -> TrainConfig {
    let mut hyper = optlab::optim::registry::HyperMap::new();
    hyper.insert("lr".into(), json!(LR));
    hyper.insert("betas".into(), json!([0.9, 0.98]));
    hyper.insert("weight_decay".into(), json!(weight_decay));
    TrainConfig {
        common: Common {
            name: "grokking".into(),
            seed: 0,
            steps: Some(steps),
            log_every: Some(eval_every),
            ..Common::default()
        },
        eval_every,
        model: ModelSpec::Mlp(MlpConfig {
            depth: 1,
            width: WIDTH,
            embedding: Some(EMBED),
            init_std: 1.0,
            ..MlpConfig::default()
        }),
        data: DataSpec {
            name: DataName::Modular,
            modulus,
            train_fraction,
            batch_size: modulus * modulus,
            ..DataSpec::default()
        },
        optimizer: OptimizerSpec {
            name: "AdamW".into(),
            hyper,
        },
        ..TrainConfig::default()
    }
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> ReproError {
    ReproError::External {
        figure: FIGURE.name,
        source: Box::new(e),
    }
}

/// First logged step at which `metric` ≥ `level` (∞: never).
fn first_at(rec: &Records, metric: &str, level: f64) -> Result<f64, ReproError> {
    let j = rec.column(metric)?;
    Ok(rec
        .rows
        .iter()
        .find(|r| r.get(j) >= level)
        .map_or(f64::INFINITY, |r| r.iteration as f64))
}

/// Last and largest finite value of `metric`.
fn last_and_max(rec: &Records, metric: &str) -> Result<(f64, f64), ReproError> {
    let j = rec.column(metric)?;
    let v: Vec<f64> = rec
        .rows
        .iter()
        .map(|r| r.get(j))
        .filter(|v| v.is_finite())
        .collect();
    Ok((
        v.last().copied().unwrap_or(f64::NAN),
        v.iter().copied().fold(f64::NAN, f64::max),
    ))
}

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    // Quick: a smaller group with a larger training share groks sooner (measured: fitted at
    // step ~100, validation accuracy ≥ 95 % at ~1040; without weight decay ≤ 0.3 % at 1500).
    let modulus = size.pick(97usize, 47);
    let train_fraction = size.pick(0.4, 0.6);
    let steps = size.pick(3000u64, 1500);
    let eval_every = size.pick(10u64, 20);
    let mut all: Option<Records> = None;
    let mut runs = Vec::new();
    for (i, wd) in [1.0, 0.0].into_iter().enumerate() {
        let cfg = config(modulus, train_fraction, steps, eval_every, wd);
        let out = train(
            &cfg,
            RunOptions {
                progress: Some(Box::new(|p: &crate::train::Progress| {
                    if p.step.is_multiple_of(100) || p.step == p.total {
                        progress(i * steps as usize + p.step as usize, 2 * steps as usize);
                    }
                })),
                ..RunOptions::default()
            },
        )
        .map_err(external)?;
        let mut rec = out.records;
        let label = format!("AdamW, weight_decay = {wd}");
        rec.rows.iter_mut().for_each(|r| r.method = label.clone());
        runs.push((wd, label, rec.clone(), out.summary.ms_per_step));
        match &mut all {
            Some(a) => a.rows.extend(rec.rows),
            None => all = Some(rec),
        }
    }
    let all = all.ok_or_else(|| ReproError::Figure {
        figure: FIGURE.name,
        message: "no run".into(),
    })?;
    let csv = write_csv(dir, "metrics", &all)?;
    let (_, _, wd_rec, _) = &runs[0];
    let (_, _, no_wd_rec, _) = &runs[1];
    let t_fit = first_at(wd_rec, "train_acc", FIT)?;
    let t_gen = first_at(wd_rec, "val_acc", GEN)?;
    let (val_end, _) = last_and_max(wd_rec, "val_acc")?;
    let (no_val_end, no_val_max) = last_and_max(no_wd_rec, "val_acc")?;
    let (no_train_end, _) = last_and_max(no_wd_rec, "train_acc")?;
    let t_fit_no = first_at(no_wd_rec, "train_acc", FIT)?;
    let checks = vec![
        Check::new(
            "generalization comes ≥ 5× after fitting",
            format!(
                "with weight decay 1: the first evaluated step T_gen with validation accuracy ≥ {GEN} is ≥ 5 × the first step T_fit with training accuracy ≥ {FIT} (both finite)"
            ),
            [
                ("T_fit", t_fit),
                ("T_gen", t_gen),
                ("T_gen / T_fit", t_gen / t_fit),
            ],
            t_fit.is_finite() && t_gen.is_finite() && t_gen >= 5.0 * t_fit,
        ),
        Check::new(
            "weight decay generalizes",
            format!("with weight decay 1: validation accuracy at the last step ({steps}) ≥ {GEN}"),
            [("validation accuracy at the end", val_end)],
            val_end >= GEN,
        ),
        Check::new(
            "no weight decay: memorization only",
            format!(
                "with weight decay 0, same budget: training accuracy reaches {FIT} but validation accuracy stays < {NO_GEN} at every evaluation"
            ),
            [
                ("first step with training accuracy ≥ FIT", t_fit_no),
                ("training accuracy at the end", no_train_end),
                ("largest validation accuracy", no_val_max),
                ("validation accuracy at the end", no_val_end),
            ],
            t_fit_no.is_finite() && no_val_max < NO_GEN,
        ),
    ];
    let mut bands = Vec::new();
    for (_, label, rec, _) in &runs {
        // validation (solid) first: a dashed band takes the colour of the solid band before it
        for (metric, what) in [("val_acc", "validation"), ("train_acc", "train")] {
            let mut b = rec.band(label, metric, XAxis::Iterations)?;
            b.label = format!("{what}, {}", label.replace("AdamW, ", ""));
            b.dashed = metric == "train_acc";
            bands.push(b);
        }
    }
    let mut files = convergence(
        dir,
        "accuracy",
        &bands,
        &ConvergenceOptions {
            title: format!(
                "(a + b) mod {modulus}, {:.0} % of pairs for training; AdamW lr {LR}, full batch",
                100.0 * train_fraction
            ),
            x_label: "step".into(),
            y_label: "accuracy".into(),
            log_x: true,
            log_y: false,
            y_range: Some((0.0, 1.02)),
            ..Default::default()
        },
    )?;
    files.push(csv);
    let measured = runs
        .iter()
        .map(|(_, label, _, ms)| Quantity {
            name: format!("{label}: ms per step"),
            value: *ms,
        })
        .collect();
    let settings = json!({
        "data": { "task": format!("(a + b) mod {modulus}"), "pairs": modulus * modulus, "train_fraction": train_fraction, "split seed": 0 },
        "model": format!("MLP: embedding {EMBED} per operand (shared table, init N(0, 1)), concatenated → {WIDTH} ReLU (Kaiming normal) → {modulus}"),
        "optimizer": { "name": "AdamW", "lr": LR, "betas": [0.9, 0.98], "weight_decay": [1.0, 0.0], "batch": "full (all training pairs)" },
        "steps": steps,
        "evaluation": format!("training and validation accuracy on the whole sets every {eval_every} steps"),
        "precision": "f32",
    });
    Ok(Output {
        checks,
        settings,
        notes: Vec::new(),
        measured,
        images: vec![Image {
            file: "accuracy.png".into(),
            caption: "Training (dashed) and validation (solid) accuracy against the step (log \
                      axis), with weight decay 1 and 0"
                .into(),
        }],
        files,
    })
}
