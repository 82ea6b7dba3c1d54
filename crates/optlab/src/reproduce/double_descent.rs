//! `double-descent`: random ReLU features regression, minimum-norm least squares (Belkin et al.
//! 2019, "Reconciling modern machine learning practice and the bias–variance trade-off").
//!
//! ```text
//! x ~ N(0, I_d),  d = 20;   y = tanh(2 βᵀx) + 0.5 ε,  ε ~ N(0, 1),  β ~ N(0, I_d)/‖·‖ (unit norm)
//! features φ(x) = ReLU(Wᵀx),  W ∈ R^{d×p},  W_jk ~ N(0, 1/d)       (nested: p columns of one W)
//! θ = Φ⁺ y   (n = 200 training rows; minimum-norm least-squares solution, thin SVD of Φ)
//! ```
//!
//! The pseudo-inverse drops singular values below `max(n, p) · ε_mach · σ_max` (NumPy's `pinv` /
//! `lstsq` cut-off). Test MSE on fresh noisy samples (so it includes the noise variance 0.25);
//! train MSE on the n training points (0 for p ≥ n: interpolation).
//!
//! Checks: the mean test MSE over seeds peaks at the grid point nearest p = n (within a factor
//! 1.25 of n); it is ≥ 10× smaller at the best p of the classical regime (p ≤ n/2) and at the
//! largest p; and beyond the peak it decreases: every grid point p ≥ 2n has a mean test MSE
//! below the one at the grid point before it (second descent).

use std::path::Path;

use faer::Mat;
use rand::SeedableRng;
use rand::prelude::Distribution;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde_json::json;

use super::{Check, Figure, Image, Output, Progress, ReproError, Size, convergence, io_err};
use crate::plot::ConvergenceOptions;
use crate::record::{Band, BandPoint, Stats};

/// The figure.
pub const FIGURE: Figure = Figure {
    name: "double-descent",
    title: "Double descent: random ReLU features, minimum-norm least squares",
    claim: "With p random ReLU features and the minimum-norm least-squares fit on n training \
            points, the test error first follows the classical U-curve, peaks at the \
            interpolation threshold p ≈ n, and decreases again as p grows beyond n (Belkin et \
            al. 2019).",
    run,
};

/// Input dimension d.
const D: usize = 20;
/// Training points n.
const N: usize = 200;
/// Standard deviation of the label noise.
const NOISE: f64 = 0.5;
/// The target's slope: y = tanh(SLOPE · βᵀx) + noise.
const SLOPE: f64 = 2.0;

/// Log-spaced integers from `lo` to `hi` (`points` of them, deduplicated), with `N` included.
fn p_grid(lo: usize, hi: usize, points: usize) -> Vec<usize> {
    let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
    let mut g: Vec<usize> = (0..points)
        .map(|i| (a + (b - a) * i as f64 / (points - 1) as f64).exp().round() as usize)
        .chain([N])
        .collect();
    g.sort_unstable();
    g.dedup();
    g
}

/// One seed's data: training and test inputs (row-major), labels, and the features' weights
/// (d × p_max, row-major) of which each p uses the first p columns.
struct Data {
    x_train: Vec<f64>,
    y_train: Vec<f64>,
    x_test: Vec<f64>,
    y_test: Vec<f64>,
    w: Vec<f64>,
    p_max: usize,
}

impl Data {
    fn new(seed: u64, n_test: usize, p_max: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut normal = move || -> f64 { StandardNormal.sample(&mut rng) };
        let mut beta: Vec<f64> = (0..D).map(|_| normal()).collect();
        let norm = beta.iter().map(|b| b * b).sum::<f64>().sqrt();
        beta.iter_mut().for_each(|b| *b /= norm);
        let mut sample = |rows: usize| {
            let x: Vec<f64> = (0..rows * D).map(|_| normal()).collect();
            let y: Vec<f64> = x
                .chunks(D)
                .map(|r| {
                    let z: f64 = r.iter().zip(&beta).map(|(a, b)| a * b).sum();
                    (SLOPE * z).tanh() + NOISE * normal()
                })
                .collect();
            (x, y)
        };
        let (x_train, y_train) = sample(N);
        let (x_test, y_test) = sample(n_test);
        let scale = 1.0 / (D as f64).sqrt();
        let w = (0..D * p_max).map(|_| scale * normal()).collect();
        Data {
            x_train,
            y_train,
            x_test,
            y_test,
            w,
            p_max,
        }
    }

    /// ReLU(X W[:, ..p]) for row-major `x` with `rows` rows.
    fn features(&self, x: &[f64], p: usize) -> Mat<f64> {
        let rows = x.len() / D;
        Mat::from_fn(rows, p, |i, k| {
            let s: f64 = (0..D)
                .map(|j| x[i * D + j] * self.w[j * self.p_max + k])
                .sum();
            s.max(0.0)
        })
    }
}

/// One fit: train and test MSE, the smallest kept singular value and how many were dropped.
#[derive(Clone, Copy, Debug)]
struct Fit {
    train_mse: f64,
    test_mse: f64,
    sigma_min: f64,
    rank: usize,
    theta_norm: f64,
}

fn mse(phi: &Mat<f64>, theta: &[f64], y: &[f64]) -> f64 {
    let mut s = 0.0;
    for (i, yi) in y.iter().enumerate() {
        let pred: f64 = theta.iter().enumerate().map(|(k, t)| phi[(i, k)] * t).sum();
        s += (pred - yi).powi(2);
    }
    s / y.len() as f64
}

/// The minimum-norm least-squares fit θ = Φ⁺ y with p features.
fn fit(data: &Data, p: usize) -> Result<Fit, String> {
    let phi = data.features(&data.x_train, p);
    let svd = phi
        .thin_svd()
        .map_err(|e| format!("SVD of the {N} × {p} feature matrix: {e:?}"))?;
    let (u, s, v) = (svd.U(), svd.S().column_vector(), svd.V());
    let r = s.nrows();
    let s_max = (0..r).map(|i| s[i]).fold(0.0f64, f64::max);
    let tol = N.max(p) as f64 * f64::EPSILON * s_max;
    let mut theta = vec![0.0; p];
    let mut rank = 0;
    let mut sigma_min = f64::INFINITY;
    for i in 0..r {
        if s[i] <= tol {
            continue;
        }
        rank += 1;
        sigma_min = sigma_min.min(s[i]);
        let c: f64 = (0..N).map(|j| u[(j, i)] * data.y_train[j]).sum::<f64>() / s[i];
        for (k, t) in theta.iter_mut().enumerate() {
            *t += c * v[(k, i)];
        }
    }
    let test = data.features(&data.x_test, p);
    Ok(Fit {
        train_mse: mse(&phi, &theta, &data.y_train),
        test_mse: mse(&test, &theta, &data.y_test),
        sigma_min,
        rank,
        theta_norm: theta.iter().map(|t| t * t).sum::<f64>().sqrt(),
    })
}

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    let seeds = size.pick(5u64, 3);
    let n_test = size.pick(2000, 500);
    let (p_lo, p_hi) = (10, size.pick(4000, 2000));
    let grid = p_grid(p_lo, p_hi, size.pick(30, 14));
    let datas: Vec<Data> = (0..seeds)
        .into_par_iter()
        .map(|s| Data::new(s, n_test, p_hi))
        .collect();
    let tasks: Vec<(usize, usize)> = (0..datas.len())
        .flat_map(|s| (0..grid.len()).map(move |j| (s, j)))
        .collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let fits: Vec<Fit> = tasks
        .par_iter()
        .map(|&(s, j)| {
            let f = fit(&datas[s], grid[j]);
            let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(k, tasks.len());
            f
        })
        .collect::<Result<_, _>>()
        .map_err(|message| ReproError::Figure {
            figure: FIGURE.name,
            message,
        })?;
    let at = |s: usize, j: usize| fits[s * grid.len() + j];

    // metrics.csv: one row per (seed, p)
    let csv_path = dir.join("metrics.csv");
    let mut w = csv::Writer::from_path(&csv_path).map_err(|e| io_err(&csv_path, e))?;
    w.write_record([
        "seed",
        "p",
        "train_mse",
        "test_mse",
        "rank",
        "sigma_min",
        "theta_norm",
    ])
    .map_err(|e| io_err(&csv_path, e))?;
    for (s, j) in &tasks {
        let f = at(*s, *j);
        w.write_record([
            s.to_string(),
            grid[*j].to_string(),
            format!("{:e}", f.train_mse),
            format!("{:e}", f.test_mse),
            f.rank.to_string(),
            format!("{:e}", f.sigma_min),
            format!("{:e}", f.theta_norm),
        ])
        .map_err(|e| io_err(&csv_path, e))?;
    }
    w.flush().map_err(|e| io_err(&csv_path, e))?;

    let band = |label: &str, metric: fn(&Fit) -> f64| Band {
        label: label.into(),
        dashed: false,
        points: grid
            .iter()
            .enumerate()
            .filter_map(|(j, &p)| {
                Stats::of((0..datas.len()).map(|s| metric(&at(s, j))))
                    .map(|stats| BandPoint { x: p as f64, stats })
            })
            .collect(),
    };
    let test = band("test MSE", |f| f.test_mse);
    let train = band("train MSE", |f| f.train_mse);
    let norm = band("‖θ‖₂ (minimum-norm solution)", |f| f.theta_norm);
    let mean: Vec<f64> = test.points.iter().map(|p| p.stats.mean).collect();
    let (j_peak, peak) =
        mean.iter().enumerate().fold(
            (0, f64::NEG_INFINITY),
            |a, (j, &v)| if v > a.1 { (j, v) } else { a },
        );
    let p_peak = grid[j_peak] as f64;
    let (j_left, left_min) = mean
        .iter()
        .enumerate()
        .filter(|(j, _)| grid[*j] * 2 <= N)
        .fold(
            (0, f64::INFINITY),
            |a, (j, &v)| if v < a.1 { (j, v) } else { a },
        );
    let last = *mean.last().unwrap_or(&f64::NAN);
    let right: Vec<usize> = (1..grid.len()).filter(|&j| grid[j] >= 2 * N).collect();
    let increases: Vec<usize> = right
        .iter()
        .copied()
        .filter(|&j| mean[j] >= mean[j - 1])
        .collect();
    let near = |p: f64| p >= N as f64 / 1.25 && p <= N as f64 * 1.25;
    let train_at_peak_side = train
        .points
        .iter()
        .filter(|p| p.x >= N as f64)
        .map(|p| p.stats.mean)
        .fold(0.0f64, f64::max);

    let checks = vec![
        Check::new(
            "test error peaks at p ≈ n",
            format!(
                "the grid point p maximizing the mean test MSE over {seeds} seeds lies in [n/1.25, 1.25 n] = [{}, {}]",
                N as f64 / 1.25,
                N as f64 * 1.25
            ),
            [
                ("p at the peak", p_peak),
                ("n", N as f64),
                ("mean test MSE at the peak", peak),
            ],
            near(p_peak),
        ),
        Check::new(
            "descent on both sides",
            "mean test MSE at the best p ≤ n/2 (classical regime) and at the largest p are both ≤ peak / 10",
            [
                ("best p ≤ n/2", grid[j_left] as f64),
                ("mean test MSE there", left_min),
                ("largest p", p_hi as f64),
                ("mean test MSE at the largest p", last),
                ("peak / classical minimum", peak / left_min),
                ("peak / MSE at the largest p", peak / last),
            ],
            left_min * 10.0 <= peak && last * 10.0 <= peak,
        ),
        Check::new(
            "second descent is monotone",
            "for every grid point p ≥ 2n, the mean test MSE is below that of the previous grid point",
            [
                ("grid points p ≥ 2n", right.len() as f64),
                ("of which not decreasing", increases.len() as f64),
                (
                    "first p not decreasing (0: none)",
                    increases.first().map_or(0.0, |&j| grid[j] as f64),
                ),
            ],
            !right.is_empty() && increases.is_empty(),
        ),
        Check::new(
            "interpolation beyond n",
            "mean train MSE ≤ 1e-12 at every p ≥ n (the minimum-norm solution interpolates)",
            [("largest mean train MSE at p ≥ n", train_at_peak_side)],
            train_at_peak_side <= 1e-12,
        ),
    ];

    let opts = |title: String, y: &str| ConvergenceOptions {
        title,
        x_label: "number of random features p".into(),
        y_label: y.into(),
        log_x: true,
        ..Default::default()
    };
    let mut files = convergence(
        dir,
        "test_mse",
        &[
            test.clone(),
            super::dashed(
                "p = n",
                [(N as f64, peak * 2.0), (N as f64, left_min / 2.0)],
            ),
        ],
        &opts(
            format!("random ReLU features, n = {N}, d = {D}: mean and 10–90% over {seeds} seeds"),
            "mean squared error",
        ),
    )?;
    files.extend(convergence(
        dir,
        "theta_norm",
        &[norm],
        &opts("norm of the minimum-norm solution".into(), "‖θ‖₂"),
    )?);
    files.push("metrics.csv".into());
    let images = vec![
        Image {
            file: "test_mse.png".into(),
            caption: format!(
                "Test MSE against p (log–log): it peaks at the interpolation threshold p = n = {N} \
                 (dashed) and falls on both sides (train MSE, 0 from p = n on, in metrics.csv)"
            ),
        },
        Image {
            file: "theta_norm.png".into(),
            caption: "‖θ‖₂ of the minimum-norm fit: it blows up at the interpolation threshold, \
                      where Φ has tiny singular values, and shrinks as p grows"
                .into(),
        },
    ];
    let measured = grid
        .iter()
        .zip(&mean)
        .filter(|(p, _)| [10, 50, N, 1000, p_hi].contains(p))
        .map(|(p, m)| super::Quantity {
            name: format!("mean test MSE at p = {p}"),
            value: *m,
        })
        .collect();
    let settings = json!({
        "d": D,
        "n (training points)": N,
        "test points": n_test,
        "target": format!("y = tanh({SLOPE} βᵀx) + {NOISE} ε, x ~ N(0, I_d), β uniform on the unit sphere, ε ~ N(0, 1)"),
        "features": "ReLU(Wᵀx), W_jk ~ N(0, 1/d); the p features are the first p columns of one W per seed",
        "fit": "θ = Φ⁺y by faer's thin SVD, singular values ≤ max(n, p)·ε·σ_max dropped",
        "p grid": grid,
        "seeds": format!("0 .. {}", seeds - 1),
        "precision": "f64",
    });
    Ok(Output {
        checks,
        settings,
        notes: Vec::new(),
        measured,
        images,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_norm_fit_interpolates_and_has_rank_min_n_p() {
        let data = Data::new(3, 50, 400);
        let over = fit(&data, 400).unwrap();
        assert_eq!(over.rank, N);
        assert!(over.train_mse < 1e-20, "{}", over.train_mse);
        let under = fit(&data, 20).unwrap();
        assert!(under.rank <= 20 && under.train_mse > 1e-3);
        assert_eq!(p_grid(10, 4000, 5), [10, 45, 200, 894, 4000]);
        assert_eq!(p_grid(10, 100, 3), [10, 32, 100, 200]);
    }
}
