//! Finite-sum workloads: a [`Problem`] trained by mini-batch gradients, scored on a held-out
//! split.
//!
//! - **`logreg`**: ℓ2-regularized logistic regression (μ = 1e-3) on the Wisconsin breast-cancer
//!   data (`data/breast_cancer.csv`, 569 × 30, standardized), a fixed seeded 80/20 split (455
//!   training, 114 validation samples), mini-batches of 32 drawn with replacement; validation
//!   metric: cross-entropy `validation/loss` (minimized). Parameters: 30.
//!
//! Each trial's seed draws its mini-batches; the split and the starting point (zeros) are the same
//! for every trial, as AlgoPerf's workloads fix their data splits. Metrics: `train/loss` and
//! `train/accuracy` on the whole training split, `validation/loss`, `validation/accuracy` and
//! `validation/num_examples` (data terms only: the ℓ2 term is part of training, not of the
//! validation loss).

use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::optim::Optimizer;
use crate::oracle::{Oracle, Sampling, run_rng};
use crate::param::Param;
use crate::problem::data::{BinaryLabels, Dataset, Format, LabelColumn};
use crate::problem::libsvm::LibsvmOptions;
use crate::problem::logistic::LogisticRegression;
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

/// Decides whether sample `i` of a problem is classified correctly at `x`.
type Correct = fn(&dyn Problem<f64>, &[f64], usize) -> bool;

/// A finite-sum workload: training and validation problems on one parameter vector.
pub struct FiniteSum {
    spec: WorkloadSpec,
    train: Box<dyn Problem<f64>>,
    validation: Box<dyn Problem<f64>>,
    correct: Correct,
    batch_size: usize,
    settings: Value,
}

/// Logistic regression classifies sample i correctly iff yᵢ⟨aᵢ, x⟩ > 0, i.e. iff its loss
/// softplus(−yᵢ⟨aᵢ, x⟩) is below ln 2.
fn logistic_correct(p: &dyn Problem<f64>, x: &[f64], i: usize) -> bool {
    p.sample_loss(x, i) < std::f64::consts::LN_2
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
            validation: Box::new(validation),
            correct: logistic_correct,
            batch_size: BATCH,
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

    /// Loss and accuracy of `p` at `x` (data terms only).
    fn measure(&self, p: &dyn Problem<f64>, x: &[f64]) -> (f64, f64) {
        let m = p.num_samples();
        let l2 = 0.5 * p.l2() * x.iter().map(|v| v * v).sum::<f64>();
        let loss = p.loss(x) - l2;
        let hits = (0..m).filter(|&i| (self.correct)(p, x, i)).count();
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
        let oracle = Oracle::new(
            this.train.as_ref(),
            Sampling::WithReplacement(self.batch_size),
            run_rng(trial.seed, 1),
        );
        Ok((
            Box::new(FiniteSumTraining {
                workload: this,
                params: vec![param],
                optimizer: built.optimizer,
                schedule: built.schedule,
                oracle,
                k: 0,
            }),
            this.settings.clone(),
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
        let (train_loss, train_acc) = w.measure(w.train.as_ref(), x);
        let (val_loss, val_acc) = w.measure(w.validation.as_ref(), x);
        Ok(classification_metrics(
            (train_loss, train_acc),
            (val_loss, val_acc),
            w.validation.num_samples(),
        ))
    }
}
