//! Pieces the network figures share: training an MLP experiment (keeping its trajectory), the
//! parameters as one flat vector, filter-normalized random directions, the loss of a network on
//! a fixed batch at any parameter vector (and its gradient), Hessian-vector products by finite
//! differences with power iteration, the first principal directions of a trajectory, curves for
//! the lab's plots and CSV tables.
//!
//! Parameters are flattened in module order, each in PyTorch's row-major layout (as
//! [`read_params`](crate::bridge::read_params) gives them), so row r of a `Linear` weight
//! `[d_out, d_in]` — the filter of output unit r — is a contiguous slice.

use std::path::Path;

use burn::tensor::ElementConversion;
use optlab::Param;
use optlab::param::Layout;
use optlab::record::{Band, BandPoint, Stats};
use optlab::reproduce::{ReproError, io_err};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::batch::{Batch, Inputs};
use crate::bridge::{GradBridge, HostBridge, read_params, write_params};
use crate::config::TrainConfig;
use crate::data::TaskData;
use crate::error::NnError;
use crate::models::ModelSpec;
use crate::models::mlp::Mlp;
use crate::models::{Net, correct, cross_entropy};
use crate::rng::stream;
use crate::train::{CpuBackend, Outcome, RunOptions, train};

/// The evaluation backend (burn's flex CPU backend without autodiff).
type Plain = burn::backend::Flex;

/// A training error of `figure` as a [`ReproError`].
pub(crate) fn external(figure: &'static str) -> impl Fn(NnError) -> ReproError {
    move |e| ReproError::External {
        figure,
        source: Box::new(e),
    }
}

/// The experiment described by `toml` (a `TrainConfig` in TOML).
pub(crate) fn config(figure: &'static str, toml: &str) -> Result<TrainConfig, ReproError> {
    TrainConfig::from_toml(toml, &[]).map_err(external(figure))
}

/// Trains `cfg` through the training loop ([`train`]), keeping the parameters every
/// `snapshot_every` steps.
pub(crate) fn train_run(
    figure: &'static str,
    cfg: &TrainConfig,
    snapshot_every: Option<u64>,
) -> Result<Outcome, ReproError> {
    train(
        cfg,
        RunOptions {
            snapshot_every,
            ..Default::default()
        },
    )
    .map_err(external(figure))
}

/// The final parameters of a run, flattened.
pub(crate) fn final_params(outcome: &Outcome) -> Vec<f32> {
    outcome
        .checkpoint
        .params
        .iter()
        .flat_map(|b| b.data.iter().copied())
        .collect()
}

/// The parameters as one vector (module order, row-major).
pub fn flatten(params: &[Param<f32>]) -> Vec<f32> {
    params
        .iter()
        .flat_map(|p| p.to_layout(Layout::RowMajor).data)
        .collect()
}

/// `like` (names, shapes) with the values of `flat` (as [`flatten`] lays them out).
pub fn unflatten(like: &[Param<f32>], flat: &[f32]) -> Result<Vec<Param<f32>>, NnError> {
    let total: usize = like.iter().map(Param::numel).sum();
    if total != flat.len() {
        return Err(NnError::ParamMismatch(format!(
            "{} values for {total} parameters",
            flat.len()
        )));
    }
    let mut at = 0;
    like.iter()
        .map(|p| {
            let n = p.numel();
            let q = Param::new(p.name.clone(), p.shape.clone(), flat[at..at + n].to_vec())?;
            at += n;
            Ok(q)
        })
        .collect()
}

/// A random direction, filter-normalized (Li, Xu, Taylor, Studer & Goldstein, "Visualizing the
/// Loss Landscape of Neural Nets", NeurIPS 2018, §4): Gaussian entries, then each filter — row r
/// of a weight `[d_out, ...]`, the weights into output unit r — scaled to the norm of the same
/// filter of `theta`; biases and other 1-D parameters (norm gains) set to 0. Drawn from
/// `stream(seed, purpose, index)`, so independent of threads.
pub fn filter_normalized(like: &[Param<f32>], theta: &[f32], seed: u64, index: u64) -> Vec<f32> {
    let mut rng = stream(seed, crate::rng::Purpose::Direction, index);
    let mut d = vec![0.0f32; theta.len()];
    let mut at = 0;
    for p in like {
        let n = p.numel();
        if let (Some((rows, cols)), true) = (p.matrix_dims(), p.ndim() >= 2) {
            for r in 0..rows {
                let span = at + r * cols..at + (r + 1) * cols;
                let row = &mut d[span.clone()];
                for v in row.iter_mut() {
                    *v = StandardNormal.sample(&mut rng);
                }
                let target = norm(&theta[span]);
                let have = norm(row);
                let s = if have > 0.0 { target / have } else { 0.0 };
                row.iter_mut().for_each(|v| *v = (f64::from(*v) * s) as f32);
            }
        }
        at += n;
    }
    d
}

/// Σ aᵢbᵢ in f64.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// ‖a‖₂ in f64.
pub fn norm(a: &[f32]) -> f64 {
    dot(a, a).sqrt()
}

/// cos∠(a, b).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    dot(a, b) / (norm(a) * norm(b))
}

/// θ + Σ cᵢ dᵢ.
pub fn offset(theta: &[f32], moves: &[(f64, &[f32])]) -> Vec<f32> {
    let mut out = theta.to_vec();
    for (c, d) in moves {
        for (o, &v) in out.iter_mut().zip(d.iter()) {
            *o = (f64::from(*o) + c * f64::from(v)) as f32;
        }
    }
    out
}

/// One batch holding every example of `batches` (dense inputs).
pub fn concat(batches: &[Batch]) -> Batch {
    let (mut values, mut targets, mut rows, mut dim) = (Vec::new(), Vec::new(), 0, 0);
    for b in batches {
        if let Inputs::Dense {
            values: v,
            rows: r,
            dim: d,
        } = &b.inputs
        {
            values.extend_from_slice(v);
            rows += r;
            dim = *d;
            targets.extend_from_slice(&b.targets);
        }
    }
    Batch {
        inputs: Inputs::Dense { values, rows, dim },
        targets,
    }
}

/// The data of `cfg` (loaded once per figure: every run of a figure shares data and seed).
pub(crate) fn load(figure: &'static str, cfg: &TrainConfig) -> Result<TaskData, ReproError> {
    cfg.data
        .load(cfg.common.seed, None)
        .map_err(external(figure))
}

/// A fixed training batch: every example of the training-set evaluation batches of `data` (up
/// to 1,000 training examples), or its first `limit`.
pub fn train_batch(data: &TaskData, limit: usize) -> Batch {
    let mut b = concat(data.train_eval());
    if let Inputs::Dense { values, rows, dim } = &mut b.inputs
        && *rows > limit
    {
        values.truncate(limit * *dim);
        *rows = limit;
        b.targets.truncate(limit);
    }
    b
}

/// An MLP experiment's network, evaluated at any parameter vector: the loss and accuracy on a
/// fixed batch (in evaluation mode: no dropout), and the gradient.
pub struct Probe {
    model: Mlp<Plain>,
    train_model: Mlp<CpuBackend>,
    /// The parameters' names and shapes (module order).
    pub like: Vec<Param<f32>>,
}

impl Probe {
    /// The network of `cfg` (an MLP experiment) for `data`, initialized as `cfg`'s training is.
    pub fn new(
        figure: &'static str,
        cfg: &TrainConfig,
        data: &TaskData,
    ) -> Result<Self, ReproError> {
        let ModelSpec::Mlp(mlp) = &cfg.model else {
            return Err(ReproError::Figure {
                figure,
                message: "the probe needs an MLP experiment".into(),
            });
        };
        let build = || -> Result<Self, NnError> {
            let shape = data.shape();
            let seed = cfg.common.seed;
            let model = mlp.build::<Plain>(&shape, seed, &Default::default())?;
            let train_model = mlp.build::<CpuBackend>(&shape, seed, &Default::default())?;
            Ok(Probe {
                like: read_params(&model)?,
                model,
                train_model,
            })
        };
        build().map_err(external(figure))
    }

    /// The initial parameters (the experiment's seeded initialization), flattened.
    pub fn initial(&self) -> Vec<f32> {
        flatten(&self.like)
    }

    /// Mean cross-entropy and accuracy on `batch` at `theta` (evaluation mode).
    pub fn loss_acc(&self, theta: &[f32], batch: &Batch) -> Result<(f64, f64), NnError> {
        let m = write_params(self.model.clone(), &unflatten(&self.like, theta)?, None)?;
        let device = Default::default();
        let logits = m.logits(&batch.inputs, &device)?;
        let loss: f64 = cross_entropy(logits.clone(), &batch.targets, &device)
            .into_scalar()
            .elem();
        let hits: f64 = correct(logits, &batch.targets, &device)
            .into_scalar()
            .elem();
        Ok((loss, hits / batch.targets.len().max(1) as f64))
    }

    /// Mean cross-entropy on `batch` at `theta`.
    pub fn loss(&self, theta: &[f32], batch: &Batch) -> Result<f64, NnError> {
        Ok(self.loss_acc(theta, batch)?.0)
    }

    /// The losses at many points, in parallel (each point independent: the results do not
    /// depend on the number of threads).
    pub fn losses(&self, points: &[Vec<f32>], batch: &Batch) -> Result<Vec<f64>, NnError> {
        points.par_iter().map(|p| self.loss(p, batch)).collect()
    }

    /// L(θ + a·d₁ + b·d₂) at every `(a, b)` of `xs × ys` (row-major: `ys.len()` rows of
    /// `xs.len()` values), in parallel.
    pub fn plane(
        &self,
        theta: &[f32],
        d1: &[f32],
        d2: &[f32],
        xs: &[f64],
        ys: &[f64],
        batch: &Batch,
    ) -> Result<Vec<f64>, NnError> {
        let cells: Vec<(f64, f64)> = ys
            .iter()
            .flat_map(|&b| xs.iter().map(move |&a| (a, b)))
            .collect();
        cells
            .par_iter()
            .map(|&(a, b)| self.loss(&offset(theta, &[(a, d1), (b, d2)]), batch))
            .collect()
    }

    /// Mean cross-entropy on `batch` at `theta` and its gradient (flattened like `theta`).
    pub fn grad(&self, theta: &[f32], batch: &Batch) -> Result<(f64, Vec<f32>), NnError> {
        let m = write_params(
            self.train_model.clone(),
            &unflatten(&self.like, theta)?,
            None,
        )?;
        let device = Default::default();
        let loss = cross_entropy(m.logits(&batch.inputs, &device)?, &batch.targets, &device);
        let value: f64 = loss.clone().into_scalar().elem();
        let grads = loss.backward();
        let mut bridge = HostBridge::new(&m)?;
        GradBridge::<CpuBackend, Mlp<CpuBackend>>::load_grads(&mut bridge, &m, &grads)?;
        let g = bridge
            .params()
            .iter()
            .flat_map(|p| p.to_layout(Layout::RowMajor).grad)
            .collect();
        Ok((value, g))
    }

    /// Standard deviation of each hidden layer's output h_1 … h_depth on `batch` at `theta`
    /// (evaluation mode), over all rows and units.
    pub fn activation_stds(&self, theta: &[f32], batch: &Batch) -> Result<Vec<f64>, NnError> {
        let m = write_params(self.model.clone(), &unflatten(&self.like, theta)?, None)?;
        let Inputs::Dense { values, rows, dim } = &batch.inputs else {
            return Err(NnError::ParamMismatch("dense inputs expected".into()));
        };
        let x = crate::models::dense_tensor::<Plain>(values, *rows, *dim, &Default::default());
        let (hidden, _) = m.hidden(x);
        hidden
            .into_iter()
            .map(|h| {
                let v: Vec<f32> = h
                    .into_data()
                    .into_vec::<f32>()
                    .map_err(|e| NnError::ParamMismatch(format!("{e:?}")))?;
                let n = v.len().max(1) as f64;
                let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
                let var = v
                    .iter()
                    .map(|&x| (f64::from(x) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                Ok(var.sqrt())
            })
            .collect()
    }
}

/// A gradient oracle: θ (flattened) ↦ ∇L(θ).
pub type GradFn<'a, E> = dyn Fn(&[f32]) -> Result<Vec<f32>, E> + 'a;

/// Hessian-vector product by central differences of gradients:
/// H v ≈ (∇L(θ + εv) − ∇L(θ − εv)) / (2ε) (exact for quadratics up to rounding; error O(ε²)).
pub fn hvp<E>(grad: &GradFn<'_, E>, theta: &[f32], v: &[f32], eps: f64) -> Result<Vec<f32>, E> {
    let gp = grad(&offset(theta, &[(eps, v)]))?;
    let gm = grad(&offset(theta, &[(-eps, v)]))?;
    Ok(gp
        .iter()
        .zip(&gm)
        .map(|(&a, &b)| ((f64::from(a) - f64::from(b)) / (2.0 * eps)) as f32)
        .collect())
}

/// The eigenvalue of largest magnitude of the Hessian at `theta`, by power iteration on
/// [`hvp`]s (`iters` iterations from a seeded Gaussian start, ‖v‖ = 1, ε = `eps`): returns the
/// Rayleigh quotients vᵀHv of every iteration (the last is the estimate).
pub fn top_eigenvalue<E>(
    grad: &GradFn<'_, E>,
    theta: &[f32],
    iters: usize,
    eps: f64,
    seed: u64,
) -> Result<Vec<f64>, E> {
    let mut rng = stream(seed, crate::rng::Purpose::Direction, u64::MAX);
    let mut v: Vec<f32> = (0..theta.len())
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let mut history = Vec::with_capacity(iters);
    for _ in 0..iters {
        let n = norm(&v);
        v.iter_mut().for_each(|x| *x = (f64::from(*x) / n) as f32);
        let hv = hvp(grad, theta, &v, eps)?;
        history.push(dot(&v, &hv));
        v = hv;
    }
    Ok(history)
}

/// The first two principal directions of the points `θ_t − θ_end` (Li et al. 2018, §7: PCA of
/// the trajectory's differences to the final point), orthonormal, with the fractions of the
/// total variance (Σ‖θ_t − θ_end‖²) they explain. Computed from the T×T Gram matrix (T points).
pub fn pca2(points: &[Vec<f32>], end: &[f32]) -> Option<([Vec<f32>; 2], [f64; 2])> {
    let diffs: Vec<Vec<f32>> = points.iter().map(|p| offset(p, &[(-1.0, end)])).collect();
    let t = diffs.len();
    let gram = faer::Mat::<f64>::from_fn(t, t, |i, j| dot(&diffs[i], &diffs[j]));
    let total: f64 = (0..t).map(|i| gram[(i, i)]).sum();
    let evd = gram.self_adjoint_eigen(faer::Side::Lower).ok()?;
    let (u, s) = (evd.U(), evd.S().column_vector());
    // eigenvalues ascending: the last two
    let mut dirs: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    let mut explained = [0.0; 2];
    for (k, idx) in [t.checked_sub(1)?, t.checked_sub(2)?]
        .into_iter()
        .enumerate()
    {
        let lambda = s[idx];
        if lambda <= 0.0 || total <= 0.0 {
            return None;
        }
        let mut d = vec![0.0f64; end.len()];
        for (i, diff) in diffs.iter().enumerate() {
            let c = u[(i, idx)];
            for (o, &x) in d.iter_mut().zip(diff) {
                *o += c * f64::from(x);
            }
        }
        let n = d.iter().map(|x| x * x).sum::<f64>().sqrt();
        dirs[k] = d.iter().map(|x| (x / n) as f32).collect();
        explained[k] = lambda / total;
    }
    Some((dirs, explained))
}

/// A curve through `(x, y)` points for the lab's convergence plots (one value per point;
/// non-finite values are left out).
pub fn curve(label: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Band {
    Band {
        label: label.into(),
        dashed: false,
        points: points
            .into_iter()
            .filter_map(|(x, v)| Stats::of([v]).map(|stats| BandPoint { x, stats }))
            .collect(),
    }
}

/// `n` evenly spaced values from `a` to `b` (inclusive).
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| a + (b - a) * i as f64 / (n.max(2) - 1) as f64)
        .collect()
}

/// Writes a CSV table `dir/<name>` with `header` and `rows`; returns the file name.
pub fn write_table(
    dir: &Path,
    name: &str,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<String, ReproError> {
    let mut text = header.join(",");
    text.push('\n');
    for r in rows {
        text.push_str(&r.join(","));
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| io_err(&path, e))?;
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like() -> Vec<Param<f32>> {
        vec![
            Param::zeros("layers.0.weight", [3, 4]),
            Param::zeros("layers.0.bias", [3]),
            Param::zeros("layers.1.weight", [2, 3]),
            Param::zeros("layers.1.bias", [2]),
        ]
    }

    #[test]
    fn filter_normalized_rows_match_the_weights_and_biases_are_zero() {
        let like = like();
        let theta: Vec<f32> = (0..23).map(|i| (i as f32 - 10.0) * 0.3).collect();
        let d = filter_normalized(&like, &theta, 7, 0);
        let mut at = 0;
        for p in &like {
            let n = p.numel();
            if p.ndim() == 2 {
                let cols = p.shape[1];
                for r in 0..p.shape[0] {
                    let s = at + r * cols..at + (r + 1) * cols;
                    let (a, b) = (norm(&d[s.clone()]), norm(&theta[s]));
                    assert!(
                        (a - b).abs() < 1e-5 * b,
                        "row {r} of {}: {a} vs {b}",
                        p.name
                    );
                }
            } else {
                assert!(d[at..at + n].iter().all(|&x| x == 0.0), "{}", p.name);
            }
            at += n;
        }
        assert_eq!(d, filter_normalized(&like, &theta, 7, 0), "seeded");
        assert_ne!(d, filter_normalized(&like, &theta, 7, 1), "index selects");
        // scale invariance: the direction of 2θ is twice the direction of θ
        let twice: Vec<f32> = theta.iter().map(|x| 2.0 * x).collect();
        let d2 = filter_normalized(&like, &twice, 7, 0);
        for (a, b) in d.iter().zip(&d2) {
            assert!((2.0 * a - b).abs() < 1e-5, "{a} {b}");
        }
    }

    #[test]
    fn flatten_round_trips() {
        let mut like = like();
        like[0].data = (0..12).map(|i| i as f32).collect();
        let flat = flatten(&like);
        assert_eq!(flat.len(), 23);
        let back = unflatten(&like, &flat).unwrap();
        assert_eq!(back[0].data, like[0].data);
        assert!(unflatten(&like, &flat[1..]).is_err());
    }

    /// f(x) = ½ xᵀAx with A = diag(1..n) + a rank-one term: ∇f = Ax.
    type Grad = Box<GradFn<'static, ()>>;

    fn quadratic(n: usize) -> (Vec<Vec<f64>>, Grad) {
        let u: Vec<f64> = (0..n).map(|i| ((i + 1) as f64).sqrt() / n as f64).collect();
        let a: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| f64::from(u8::from(i == j)) * (i + 1) as f64 + 3.0 * u[i] * u[j])
                    .collect()
            })
            .collect();
        let a2 = a.clone();
        let grad = Box::new(move |x: &[f32]| -> Result<Vec<f32>, ()> {
            Ok(a2
                .iter()
                .map(|row| {
                    row.iter()
                        .zip(x)
                        .map(|(r, &v)| r * f64::from(v))
                        .sum::<f64>() as f32
                })
                .collect())
        });
        (a, grad)
    }

    #[test]
    fn hessian_vector_products_of_a_quadratic_are_exact() {
        let n = 6;
        let (a, grad) = quadratic(n);
        let theta: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
        let v: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.3).collect();
        let hv = hvp(&grad, &theta, &v, 1e-2).unwrap();
        for (i, row) in a.iter().enumerate() {
            let want: f64 = row.iter().zip(&v).map(|(r, &x)| r * f64::from(x)).sum();
            assert!(
                (f64::from(hv[i]) - want).abs() < 1e-3,
                "{i}: {} {want}",
                hv[i]
            );
        }
        let history = top_eigenvalue(&grad, &theta, 200, 1e-2, 3).unwrap();
        // largest eigenvalue of A, by faer
        let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[i][j]);
        let ev = m.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        let top = ev[n - 1];
        let est = *history.last().unwrap();
        assert!((est - top).abs() < 1e-3 * top, "{est} vs {top}");
    }

    #[test]
    fn pca_finds_the_directions_of_a_planar_trajectory() {
        let n = 5;
        let e1 = [1.0f32, 0.0, 0.0, 0.0, 0.0];
        let e2 = [0.0f32, 0.6, 0.8, 0.0, 0.0];
        let end = vec![1.0f32; n];
        let pts: Vec<Vec<f32>> = (0..8)
            .map(|t| {
                let t = t as f64;
                offset(
                    &end,
                    &[(3.0 * t, &e1[..]), (0.5 * (t * 1.3).sin(), &e2[..])],
                )
            })
            .collect();
        let ([d1, d2], explained) = pca2(&pts, &end).unwrap();
        assert!(cosine(&d1, &e1).abs() > 0.99);
        assert!(dot(&d1, &d2).abs() < 1e-5);
        for d in [&d1, &d2] {
            let in_plane = (dot(d, &e1).powi(2) + dot(d, &e2).powi(2)).sqrt();
            assert!((in_plane - 1.0).abs() < 1e-5, "{in_plane}");
        }
        assert!((explained[0] + explained[1] - 1.0).abs() < 1e-6);
        assert!(explained[0] > explained[1]);
    }

    #[test]
    fn planes_do_not_depend_on_the_number_of_threads() {
        let cfg = TrainConfig::from_toml(
            "[model]\nkind = \"mlp\"\ndepth = 1\nwidth = 8\n[data]\nname = \"digits\"\nvalidation = 200\n",
            &[],
        )
        .unwrap();
        let data = load("test", &cfg).unwrap();
        let probe = Probe::new("test", &cfg, &data).unwrap();
        let batch = train_batch(&data, 300);
        let theta = probe.initial();
        let d1 = filter_normalized(&probe.like, &theta, 0, 1);
        let d2 = filter_normalized(&probe.like, &theta, 0, 2);
        let xs = linspace(-1.0, 1.0, 5);
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| probe.plane(&theta, &d1, &d2, &xs, &xs, &batch).unwrap())
        };
        let one = on(1);
        assert_eq!(one, on(2));
        assert_eq!(one, on(3));
        let centre = probe.loss(&theta, &batch).unwrap();
        assert_eq!(one[12], centre, "the grid's centre is θ");
    }
}
