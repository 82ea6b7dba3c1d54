//! `sgd-divergence`: the step-size threshold 2/L of gradient descent on a least-squares problem.
//!
//! ```text
//! f(x) = (1/2m) ‖Ax − b‖²,  x ∈ R², m = 50
//! ```
//!
//! with anisotropic Gaussian features (seeded ChaCha8): aᵢ = (zᵢ₁, 0.5 zᵢ₁ + 0.4 zᵢ₂), zᵢⱼ ~ N(0, 1),
//! bᵢ = ⟨aᵢ, x_true⟩ + 0.1 εᵢ, x_true = (2, −1.5). f is a quadratic with Hessian AᵀA/m, whose
//! eigenvalues are μ and L; x* and f* are exact (QR least squares). Full-gradient steps
//! (GD, i.e. SGD with the full batch) from x₀ = 0 with α = 1/L, 1.9/L and 2.1/L: along the
//! eigenvector of L, the error is multiplied by 1 − αL per step, so |1 − αL| < 1 ⇔ α < 2/L.
//! f(x_k) − f* then behaves like max(|1 − αL|, |1 − αμ|)^{2k}.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::json;

use super::{Check, Figure, Image, Output, Progress, ReproError, Size, convergence, write_csv};
use crate::experiment::Common;
use crate::plot::{self, ContourOptions, ConvergenceOptions};
use crate::problem::least_squares::LeastSquares;
use crate::problem::{Problem, ProblemSpec};
use crate::record::XAxis;
use crate::runner::{self, ExperimentSpec, LrValue, MethodSpec};

/// The figure.
pub const FIGURE: Figure = Figure {
    name: "sgd-divergence",
    title: "Step size above 2/L diverges, below converges",
    claim: "On an L-smooth quadratic, gradient steps with α < 2/L converge (oscillating across the \
            valley when α > 1/L), while α > 2/L makes the error grow geometrically by |1 − αL| per \
            step along the top eigenvector: the iterates diverge.",
    run,
};

const M: usize = 50;
const X_TRUE: [f64; 2] = [2.0, -1.5];
const FACTORS: [f64; 3] = [1.0, 1.9, 2.1];

fn label(factor: f64) -> String {
    format!("α = {factor}/L")
}

/// The data: aᵢ = (z₁, 0.5 z₁ + 0.4 z₂), bᵢ = ⟨aᵢ, x_true⟩ + 0.1 ε (ChaCha8, seed 0).
fn data() -> (Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut a = Vec::with_capacity(2 * M);
    let mut b = Vec::with_capacity(M);
    for _ in 0..M {
        let z1: f64 = rng.sample(StandardNormal);
        let z2: f64 = rng.sample(StandardNormal);
        let e: f64 = rng.sample(StandardNormal);
        let row = [z1, 0.5 * z1 + 0.4 * z2];
        a.extend_from_slice(&row);
        b.push(row[0] * X_TRUE[0] + row[1] * X_TRUE[1] + 0.1 * e);
    }
    (a, b)
}

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    let iterations = 100;
    let (a, b) = data();
    let problem = LeastSquares::<f64>::from_data(
        &a,
        &b,
        M,
        2,
        0.0,
        "synthetic anisotropic 2D design, seed 0".into(),
    )?;
    let c = problem.constants().clone();
    let (Some(l), Some(mu), Some(x_star), Some(f_star)) =
        (c.l_smooth, c.mu, c.x_star.clone(), c.f_star)
    else {
        return Err(ReproError::Figure {
            figure: FIGURE.name,
            message: "least squares without L, μ, x*, f*".into(),
        });
    };
    let spec = ExperimentSpec {
        common: Common {
            name: FIGURE.name.into(),
            seeds: Some(1),
            steps: Some(iterations),
            log_every: Some(1),
            ..Common::default()
        },
        // the runner takes the problem built above; this only names its kind in summaries
        problem: ProblemSpec::LeastSquares(Default::default()),
        methods: FACTORS
            .iter()
            .map(|&f| MethodSpec {
                name: Some(label(f)),
                optimizer: "SGD".into(),
                lr: Some(LrValue::Expr(format!("{f}/L"))),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let out = runner::run(&spec, &problem, progress)?;
    let rec = &out.records;
    let csv = write_csv(dir, "metrics", rec)?;
    let bands = plot::bands(rec, "subopt", XAxis::Iterations, false)?;
    let ratio = |i: usize| {
        let b = &bands[i];
        match (b.points.first(), b.points.last()) {
            (Some(p), Some(q)) => q.stats.mean / p.stats.mean,
            _ => f64::NAN,
        }
    };
    let rate = |f: f64| {
        let alpha = f / l;
        (1.0 - alpha * l).abs().max((1.0 - alpha * mu).abs())
    };
    let k = iterations as f64;
    let mut checks = Vec::new();
    for (i, &f) in FACTORS.iter().enumerate() {
        let r = ratio(i);
        let predicted = rate(f).powf(2.0 * k);
        if f < 2.0 {
            checks.push(Check::new(
                format!("α = {f}/L < 2/L converges"),
                format!("(f(x_K) − f*) / (f(x₀) − f*) ≤ 1e-6 after K = {iterations} steps"),
                [
                    ("(f(x_K) − f*) / (f(x₀) − f*)", r),
                    ("contraction max(|1 − αL|, |1 − αμ|)", rate(f)),
                    ("predicted ratio (contraction^{2K})", predicted),
                ],
                r <= 1e-6,
            ));
        } else {
            checks.push(Check::new(
                format!("α = {f}/L > 2/L diverges"),
                format!(
                    "(f(x_K) − f*) / (f(x₀) − f*) ≥ 1e3 after K = {iterations} steps (grows by orders of magnitude)"
                ),
                [
                    ("(f(x_K) − f*) / (f(x₀) − f*)", r),
                    ("growth per step |1 − αL|", rate(f)),
                    ("predicted ratio (|1 − αL|^{2K})", predicted),
                ],
                r >= 1e3,
            ));
        }
    }
    let mut files = convergence(
        dir,
        "curves",
        &bands,
        &ConvergenceOptions {
            title: format!("least squares in 2D, L = {l:.3}, μ = {mu:.3}: gradient steps"),
            x_label: "iteration k".into(),
            y_label: "f(x_k) − f*".into(),
            ..Default::default()
        },
    )?;
    files.push(csv);
    let trajectories: Vec<(String, Vec<(f64, f64)>)> = out
        .trajectories
        .iter()
        .map(|t| (t.method.clone(), t.points.clone()))
        .collect();
    let x0 = problem.x0();
    let radius = 1.4 * ((x0[0] - x_star[0]).powi(2) + (x0[1] - x_star[1]).powi(2)).sqrt();
    let f2 = |x: f64, y: f64| problem.loss(&[x, y]);
    let copts = ContourOptions {
        title: "iterates over the contours of f (x₀ = 0; the diverging path leaves the window)"
            .into(),
        optimum: Some((x_star[0], x_star[1])),
        bounds: Some([
            x_star[0] - radius,
            x_star[0] + radius,
            x_star[1] - radius,
            x_star[1] + radius,
        ]),
        size: (820, 760),
        ..Default::default()
    };
    for ext in ["png", "svg"] {
        let name = format!("contours.{ext}");
        plot::contour_plot(&dir.join(&name), &f2, &trajectories, &copts)?;
        files.push(name);
    }
    let gif = "contours.gif";
    let gopts = ContourOptions {
        title: "gradient steps over the contours of f".into(),
        size: size.pick((520, 480), (320, 300)),
        grid: size.pick(120, 60),
        ..copts.clone()
    };
    plot::contour_gif(
        &dir.join(gif),
        &f2,
        &trajectories,
        &gopts,
        size.pick(30, 8),
        120,
    )?;
    files.push(gif.into());
    let images = vec![
        Image {
            file: "curves.png".into(),
            caption: "f(x_k) − f* against k (log scale)".into(),
        },
        Image {
            file: "contours.png".into(),
            caption: "The iterates in the plane, over the contour lines of f".into(),
        },
        Image {
            file: gif.into(),
            caption: "Animation of the same iterates".into(),
        },
    ];
    let settings = json!({
        "problem": {
            "kind": "least_squares", "m": M, "n": 2, "l2": 0.0,
            "design": "aᵢ = (z₁, 0.5 z₁ + 0.4 z₂), zⱼ ~ N(0, 1); bᵢ = ⟨aᵢ, x_true⟩ + 0.1 ε, ε ~ N(0, 1); ChaCha8 seed 0",
            "x_true": X_TRUE,
        },
        "constants": { "L": l, "mu": mu, "kappa": l / mu, "f_star": f_star, "x_star": x_star },
        "x0": x0,
        "iterations": iterations,
        "methods": FACTORS.iter().map(|f| json!({
            "name": label(*f), "optimizer": "SGD", "lr": f / l, "batch": "full"
        })).collect::<Vec<_>>(),
        "precision": "f64",
    });
    Ok(Output {
        checks,
        settings,
        notes: Vec::new(),
        measured: Vec::new(),
        images,
        files,
    })
}
