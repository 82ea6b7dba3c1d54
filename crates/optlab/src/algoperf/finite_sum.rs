//! Finite-sum workloads: a [`Problem`] trained by mini-batch gradients, scored on a held-out
//! split.
//!
//! - **`logreg`**: ℓ2-regularized logistic regression (μ = 1e-3) on the Wisconsin breast-cancer
//!   data (`data/breast_cancer.csv`, 569 × 30, standardized), a fixed seeded 80/20 split (455
//!   training, 114 validation samples), mini-batches of 32 drawn with replacement; validation
//!   metric: cross-entropy `validation/loss` (minimized). Parameters: 30.
//!
//! - **`heavy-tail-softmax`**: Kunstner et al. (2024, "Heavy-tailed class imbalance and why Adam
//!   outperforms gradient descent on language models", §3)'s synthetic data — 7 levels, level i
//!   with 2^i classes of 2^(7−i) samples (896 samples, 127 classes, each level 1/7 of the
//!   samples), features uniform in [0, 1)^256 (seed 0) —, a linear softmax model without bias or
//!   ℓ2 (127 × 256 = 32,512 parameters), full-batch gradients. The features carry no information
//!   about the class: the task is to fit the training set, so there is no held-out split and the
//!   metric is `train/loss` (minimized), as in the paper's figures. `train/rare_classes_loss` is
//!   the mean loss of the rarest level (64 classes of 2 samples), where GD lags Adam.
//!
//! Each trial's seed draws its mini-batches; the split and the starting point (zeros) are the same
//! for every trial, as AlgoPerf's workloads fix their data splits. Metrics: `train/loss` and
//! `train/accuracy` on the whole training split, `validation/loss`, `validation/accuracy` and
//! `validation/num_examples` (data terms only: the ℓ2 term is part of training, not of the
//! validation loss) when the workload has a validation split.

use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::optim::Optimizer;
use crate::oracle::{Oracle, Sampling, run_rng};
use crate::param::Param;
use crate::problem::data::{BinaryLabels, Dataset, Format, LabelColumn};
use crate::problem::libsvm::LibsvmOptions;
use crate::problem::logistic::LogisticRegression;
use crate::problem::softmax::{SoftmaxRegression, heavy_tail_classes};
use crate::problem::{Problem, resolve_data_path};
use crate::runner::oracle_step;
use crate::schedule::Schedule;

use super::AlgoPerfError;
use super::registry::{Workload, WorkloadSpec};
use super::study::Trial;
use super::submission::{HeldSchedule, Submission};
use super::trial::{
    Budget, Cadence, Diverged, Metrics, Training, TrainingError, classification_metrics,
};

/// A finite-sum workload: training (and validation) problems on one parameter vector.
pub struct FiniteSum {
    spec: WorkloadSpec,
    train: Box<dyn Problem<f64>>,
    /// The held-out split (`None`: the workload's metric is a training metric).
    validation: Option<Box<dyn Problem<f64>>>,
    /// Training samples whose mean loss is also reported, and the metric's name.
    subset: Option<(&'static str, Vec<usize>)>,
    sampling: Sampling,
    settings: Value,
}

/// A seeded split of `m` row indices: `(training, validation)` with `validation` rows.
fn split(m: usize, validation: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..m).collect();
    idx.shuffle(&mut run_rng(seed, 0));
    let v = idx.split_off(m - validation.min(m));
    (idx, v)
}

/// The rows `rows` of a dense row-major `m × n` matrix and their labels.
fn take(a: &[f64], y: &[f64], n: usize, rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let mut xs = Vec::with_capacity(rows.len() * n);
    let mut ys = Vec::with_capacity(rows.len());
    for &i in rows {
        xs.extend_from_slice(&a[i * n..(i + 1) * n]);
        ys.push(y[i]);
    }
    (xs, ys)
}

impl FiniteSum {
    /// The `logreg` workload (see the module documentation). `data_dir`: where to find
    /// `breast_cancer.csv` (default: the workspace's `data/`, then the current directory).
    pub fn logreg(data_dir: Option<&str>) -> Result<FiniteSum, AlgoPerfError> {
        const MU: f64 = 1e-3;
        const VALIDATION: usize = 114;
        const BATCH: usize = 32;
        let prob = |e: crate::problem::ProblemError| AlgoPerfError::Invalid(format!("logreg: {e}"));
        let path = resolve_data_path("breast_cancer.csv", data_dir).map_err(prob)?;
        let mut ds = Dataset::read(
            &path,
            Format::Csv,
            &LabelColumn::default(),
            &LibsvmOptions::default(),
        )
        .map_err(prob)?;
        ds.standardize().map_err(prob)?;
        let y = ds.binary_labels(&BinaryLabels::default()).map_err(prob)?;
        let (m, n) = (ds.rows(), ds.cols());
        let a = ds.x.to_dense();
        let (tr, va) = split(m, VALIDATION, 0);
        let (xt, yt) = take(&a, &y, n, &tr);
        let (xv, yv) = take(&a, &y, n, &va);
        let source = path.display().to_string();
        let train = LogisticRegression::<f64>::from_data(&xt, &yt, tr.len(), n, MU, source.clone())
            .map_err(prob)?;
        let validation = LogisticRegression::<f64>::from_data(&xv, &yv, va.len(), n, 0.0, source)
            .map_err(prob)?;
        Ok(FiniteSum {
            spec: WorkloadSpec {
                name: "logreg".into(),
                description: format!(
                    "logistic regression, mu = {MU}, breast cancer ({} train / {} validation × {n} \
                     standardized features), mini-batches of {BATCH} with replacement",
                    tr.len(),
                    va.len()
                ),
                metric: "validation/loss".into(),
                minimize: true,
                step_hint: 2000,
                budget: Budget {
                    max_steps: Some(2000),
                    max_seconds: Some(60.0),
                },
                cadence: Cadence::Steps(50),
            },
            train: Box::new(train),
            validation: Some(Box::new(validation)),
            subset: None,
            sampling: Sampling::WithReplacement(BATCH),
            settings: json!({
                "data": "breast_cancer.csv",
                "standardize": true,
                "split": { "train": tr.len(), "validation": va.len(), "seed": 0 },
                "mu": MU,
                "batch_size": BATCH,
                "replacement": true,
                "x0": "zeros",
            }),
        })
    }

    /// The `heavy-tail-softmax` workload (see the module documentation).
    pub fn heavy_tail_softmax() -> Result<FiniteSum, AlgoPerfError> {
        const LEVELS: usize = 7;
        const FEATURES: usize = 256;
        const STEPS: u64 = 300;
        let prob = |e: crate::problem::ProblemError| {
            AlgoPerfError::Invalid(format!("heavy-tail-softmax: {e}"))
        };
        let (a, y, k) = heavy_tail_classes(LEVELS, FEATURES, 0).map_err(prob)?;
        let m = y.len();
        // the rarest level: classes 2^(L−1) − 1 … 2^L − 2, 2 samples each, the last samples
        let rare_from = (1 << (LEVELS - 1)) - 1;
        let rare: Vec<usize> = (0..m).filter(|&i| y[i] >= rare_from).collect();
        let source =
            format!("heavy-tailed classes (Kunstner et al. 2024), {LEVELS} levels, seed 0");
        let train = SoftmaxRegression::<f64>::from_data(&a, &y, m, FEATURES, k, 0.0, source)
            .map_err(prob)?;
        Ok(FiniteSum {
            spec: WorkloadSpec {
                name: "heavy-tail-softmax".into(),
                description: format!(
                    "linear softmax on Kunstner et al.'s heavy-tailed classes ({m} samples × \
                     {FEATURES} uniform features, {k} classes in {LEVELS} levels of equal mass), \
                     full batch; training loss (no held-out split)"
                ),
                metric: "train/loss".into(),
                minimize: true,
                step_hint: STEPS,
                budget: Budget {
                    max_steps: Some(STEPS),
                    max_seconds: Some(60.0),
                },
                cadence: Cadence::Steps(10),
            },
            train: Box::new(train),
            validation: None,
            subset: Some(("train/rare_classes_loss", rare)),
            sampling: Sampling::Full,
            settings: json!({
                "data": { "generator": "heavy_tail", "levels": LEVELS, "features": FEATURES, "samples": m, "classes": k, "seed": 0 },
                "model": "linear softmax, no bias",
                "l2": 0.0,
                "batch_size": "full",
                "x0": "zeros",
            }),
        })
    }

    /// Loss and accuracy of `p` at `x` (data terms only).
    fn measure(p: &dyn Problem<f64>, x: &[f64]) -> (f64, f64) {
        let m = p.num_samples();
        let l2 = 0.5 * p.l2() * x.iter().map(|v| v * v).sum::<f64>();
        let loss = p.loss(x) - l2;
        let hits = (0..m)
            .filter(|&i| p.sample_correct(x, i) == Some(true))
            .count();
        (loss, hits as f64 / m.max(1) as f64)
    }
}

impl Workload for FiniteSum {
    fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }

    fn training(
        &mut self,
        trial: &Trial,
        submission: &Submission,
    ) -> Result<(Box<dyn Training + '_>, Value), AlgoPerfError> {
        let this: &FiniteSum = self;
        let built = submission.build::<f64>(&trial.hyperparameters, this.spec.step_hint)?;
        let param = Param::new("weight", this.train.shape(), this.train.x0())?;
        let oracle = Oracle::new(this.train.as_ref(), this.sampling, run_rng(trial.seed, 1));
        // Linear models without dropout, losses without label smoothing: AlgoPerf's workload
        // hyperparameters have nothing to act on here, and the settings say so.
        let mut settings = this.settings.clone();
        if !built.resolved.workload.is_empty()
            && let Some(map) = settings.as_object_mut()
        {
            let ignored: Vec<&String> = built.resolved.workload.keys().collect();
            map.insert(
                "ignored_workload_hyperparameters".into(),
                serde_json::json!(ignored),
            );
        }
        Ok((
            Box::new(FiniteSumTraining {
                workload: this,
                params: vec![param],
                optimizer: built.optimizer,
                schedule: built.schedule,
                oracle,
                k: 0,
            }),
            settings,
        ))
    }
}

/// One trial on a [`FiniteSum`] workload.
struct FiniteSumTraining<'w> {
    workload: &'w FiniteSum,
    params: Vec<Param<f64>>,
    optimizer: Box<dyn Optimizer<f64>>,
    schedule: HeldSchedule,
    oracle: Oracle<'w, f64>,
    k: u64,
}

impl Training for FiniteSumTraining<'_> {
    fn step(&mut self) -> Result<(), TrainingError> {
        let (k, schedule) = (self.k, &self.schedule);
        self.optimizer.set_lrs(&|base| schedule.lr(base, k));
        oracle_step(self.optimizer.as_mut(), &mut self.params, &mut self.oracle)?;
        self.k += 1;
        if let Some((i, v)) = crate::kernels::first_non_finite(&self.params[0].data) {
            return Err(Box::new(Diverged(format!(
                "x[{i}] = {v} after step {}",
                self.k
            ))));
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<Metrics, TrainingError> {
        let mut at = self.params.clone();
        let x = if self.optimizer.eval_params(&self.params, &mut at)? {
            &at[0].data
        } else {
            &self.params[0].data
        };
        let w = self.workload;
        let train = FiniteSum::measure(w.train.as_ref(), x);
        let mut metrics = match &w.validation {
            Some(v) => {
                classification_metrics(train, FiniteSum::measure(v.as_ref(), x), v.num_samples())
            }
            None => vec![
                ("train/loss".into(), train.0),
                ("train/accuracy".into(), train.1),
            ],
        };
        if let Some((name, rows)) = &w.subset {
            let sum: f64 = rows.iter().map(|&i| w.train.sample_loss(x, i)).sum();
            metrics.push(((*name).into(), sum / rows.len().max(1) as f64));
        }
        Ok(metrics)
    }
}
