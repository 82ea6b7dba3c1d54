//! `rosenbrock-methods`: the "many methods" slide — every optimizer of the registry on
//! Rosenbrock's banana f(x, y) = (1 − x)² + 100 (y − x²)², from x₀ = (−1.5, 2), with exact
//! gradients.
//!
//! Two settings:
//!
//! - **lr = 0.003 for every method**, as on the slide;
//! - **tuned**: each method's lr chosen from the log grid 1e-5, 3e-5, ..., 0.3, 1 (half decades)
//!   as the one with the smallest f(x_K) (a run that diverges counts as +∞).
//!
//! Methods (PyTorch names, default hyperparameters unless stated): SGD, SGD with momentum 0.9
//! (heavy ball), SGD with Nesterov momentum 0.9, Adagrad, RMSprop, Adam, AdamW, and — when this
//! build has them — NormalizedGD, SignGD and the ℓ1 LMO (SteepestDescent with `norm = "l1"`,
//! a greedy coordinate step). A method the registry does not know is skipped and named in the
//! report's notes.
//!
//! Numbers checked: at lr 0.003, f(x_K) of Adam and of AdamW below that of SGD; with tuned lrs,
//! f(x_K) < 1e-3 for heavy ball, Nesterov and Adam, and the best tuned method below plain SGD's
//! best. The tuned lr and f(x_K) of every method are reported.

use std::path::Path;

use serde_json::{Value, json};

use super::{Check, Figure, Image, Output, Progress, ReproError, Size, convergence, write_csv};
use crate::experiment::Common;
use crate::optim::registry::{self, HyperMap};
use crate::plot::{self, ContourOptions, ConvergenceOptions};
use crate::problem::ProblemSpec;
use crate::problem::testfn::RosenbrockSpec;
use crate::record::{Band, XAxis};
use crate::runner::{self, ExperimentSpec, LrValue, MethodSpec, RunOutput};

/// The figure.
pub const FIGURE: Figure = Figure {
    name: "rosenbrock-methods",
    title: "Many methods on Rosenbrock's function",
    claim: "On Rosenbrock's narrow curved valley, the step size decides everything: at the slide's \
            lr = 0.003, plain SGD is unstable (0.003 > 2/λ_max(∇²f) in the valley) while Adam-type \
            methods, whose steps are bounded by lr, make steady progress; with a tuned lr, momentum \
            and adaptive methods reach the minimum (f < 1e-3) and beat plain SGD.",
    run,
};

/// (label, registry name, hyperparameters as JSON).
const METHODS: &[(&str, &str, &str)] = &[
    ("SGD", "SGD", "{}"),
    ("Momentum", "SGD", r#"{"momentum": 0.9}"#),
    ("Nesterov", "SGD", r#"{"momentum": 0.9, "nesterov": true}"#),
    ("Adagrad", "Adagrad", "{}"),
    ("RMSProp", "RMSprop", "{}"),
    ("Adam", "Adam", "{}"),
    ("AdamW", "AdamW", "{}"),
    ("NormalizedGD", "NormalizedGD", "{}"),
    ("SignGD", "SignGD", "{}"),
    ("LMO ℓ1", "SteepestDescent", r#"{"norm": "l1"}"#),
];

/// The slide's learning rate.
const SLIDE_LR: f64 = 0.003;
/// The tuning grid: half decades from 1e-5 to 1.
const GRID: [f64; 11] = [
    1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0,
];
/// f(x_K) below which a method "reaches the minimum".
const TARGET: f64 = 1e-3;
/// Methods that must reach the target when tuned.
const MUST_REACH: [&str; 3] = ["Momentum", "Nesterov", "Adam"];

fn run_label(method: &str, lr: f64) -> String {
    format!("{method} @ {lr:e}")
}

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    let iterations = size.pick(5_000, 3_000);
    let mut notes = Vec::new();
    let mut methods: Vec<(&str, &str, HyperMap)> = Vec::new();
    for &(label, name, hyper) in METHODS {
        if registry::lookup(name).is_err() {
            notes.push(format!(
                "{label} ({name}) is not in this build's optimizer registry: skipped"
            ));
            continue;
        }
        let hyper: HyperMap = serde_json::from_str(hyper).map_err(|e| ReproError::Figure {
            figure: FIGURE.name,
            message: format!("hyperparameters of {label}: {e}"),
        })?;
        methods.push((label, name, hyper));
    }
    let problem_spec = RosenbrockSpec::default();
    let spec = ExperimentSpec {
        common: Common {
            name: FIGURE.name.into(),
            seeds: Some(1),
            steps: Some(iterations),
            log_points: Some(150),
            ..Common::default()
        },
        problem: ProblemSpec::Rosenbrock(problem_spec.clone()),
        methods: methods
            .iter()
            .flat_map(|(label, name, hyper)| {
                GRID.iter().map(move |&lr| MethodSpec {
                    name: Some(run_label(label, lr)),
                    optimizer: (*name).into(),
                    lr: Some(LrValue::Number(lr)),
                    hyper: hyper.clone(),
                    ..Default::default()
                })
            })
            .collect(),
        ..Default::default()
    };
    let problem = spec.problem.build::<f64>()?;
    let out = runner::run(&spec, problem.as_ref(), progress)?;
    let rec = &out.records;
    let csv = write_csv(dir, "metrics", rec)?;

    // final f of every (method, lr): +∞ when the run stopped (non-finite iterate or loss)
    let finals: Vec<Vec<f64>> = methods
        .iter()
        .map(|(label, _, _)| {
            GRID.iter()
                .map(|&lr| final_loss(&out, &run_label(label, lr)))
                .collect()
        })
        .collect();
    let tuned: Vec<(f64, f64)> = finals
        .iter()
        .map(|row| {
            GRID.iter()
                .zip(row)
                .fold((f64::NAN, f64::INFINITY), |best, (&lr, &f)| {
                    if f < best.1 { (lr, f) } else { best }
                })
        })
        .collect();
    for ((label, _, _), t) in methods.iter().zip(&tuned) {
        if t.0 == GRID[0] || t.0 == GRID[GRID.len() - 1] {
            notes.push(format!(
                "{label}: the tuned lr {:e} is at the edge of the grid (a lr outside it may do better)",
                t.0
            ));
        }
    }
    let idx = |label: &str| methods.iter().position(|m| m.0 == label);
    let slide =
        |label: &str| idx(label).map(|i| final_loss(&out, &run_label(methods[i].0, SLIDE_LR)));
    let sgd_slide = slide("SGD").unwrap_or(f64::NAN);
    let mut checks = Vec::new();
    for adam in ["Adam", "AdamW"] {
        let f = slide(adam).unwrap_or(f64::NAN);
        checks.push(Check::new(
            format!("{adam} beats plain SGD at lr = {SLIDE_LR}"),
            format!(
                "f(x_K) of {adam} < f(x_K) of SGD, both with lr = {SLIDE_LR}, K = {iterations} (a diverged run counts as +∞)"
            ),
            [
                (format!("f(x_K), {adam}"), f),
                ("f(x_K), SGD".to_string(), sgd_slide),
            ],
            f < sgd_slide,
        ));
    }
    let reach: Vec<(String, f64)> = MUST_REACH
        .iter()
        .map(|m| {
            (
                format!("tuned f(x_K), {m}"),
                idx(m).map_or(f64::NAN, |i| tuned[i].1),
            )
        })
        .collect();
    checks.push(Check::new(
        format!("tuned momentum and Adam reach f < {TARGET:e}"),
        format!(
            "with the best lr of the grid, f(x_K) < {TARGET:e} after K = {iterations} steps for {}",
            MUST_REACH.join(", ")
        ),
        reach.clone(),
        reach.iter().all(|(_, f)| *f < TARGET),
    ));
    let sgd_tuned = idx("SGD").map_or(f64::NAN, |i| tuned[i].1);
    let (best_i, best) =
        tuned.iter().enumerate().fold(
            (0, f64::INFINITY),
            |b, (i, t)| if t.1 < b.1 { (i, t.1) } else { b },
        );
    checks.push(Check::new(
        "tuned methods beat tuned SGD",
        "the smallest tuned f(x_K) over all methods is below plain SGD's tuned f(x_K)",
        [
            (format!("best: {}", methods[best_i].0), best),
            ("tuned SGD".to_string(), sgd_tuned),
        ],
        best < sgd_tuned,
    ));
    let mut table: Vec<(String, f64)> = vec![
        (
            format!("methods with tuned f(x_K) < {TARGET:e}"),
            tuned.iter().filter(|t| t.1 < TARGET).count() as f64,
        ),
        (
            format!("methods with f(x_K) < {TARGET:e} at lr {SLIDE_LR}"),
            methods
                .iter()
                .filter(|m| slide(m.0).is_some_and(|f| f < TARGET))
                .count() as f64,
        ),
    ];
    for (i, (label, _, _)) in methods.iter().enumerate() {
        table.push((format!("{label}: tuned lr"), tuned[i].0));
        table.push((format!("{label}: f(x_K) at the tuned lr"), tuned[i].1));
        table.push((
            format!("{label}: f(x_K) at lr {SLIDE_LR}"),
            slide(label).unwrap_or(f64::NAN),
        ));
    }
    // ∇²f(1, 1) = [[802, −400], [−400, 200]]: gradient steps are stable near x* only below 2/λ_max
    let (h11, h12, h22) = (802.0f64, -400.0f64, 200.0f64);
    let lam_max = 0.5 * (h11 + h22 + ((h11 - h22).powi(2) + 4.0 * h12 * h12).sqrt());
    table.insert(
        0,
        ("2/λ_max(∇²f(x*)), x* = (1, 1)".to_string(), 2.0 / lam_max),
    );
    let measured = super::quantities(table);

    // plots: curves and contours for both settings, GIF animations
    let f2 = |x: f64, y: f64| problem.loss(&[x, y]);
    let window = [-2.0, 2.0, -1.0, 3.0];
    let mut files = vec![csv];
    let mut images = Vec::new();
    for (stem, what, lrs) in [
        (
            "slide",
            format!("lr = {SLIDE_LR}"),
            vec![SLIDE_LR; methods.len()],
        ),
        (
            "tuned",
            "tuned lr".to_string(),
            tuned.iter().map(|t| t.0).collect(),
        ),
    ] {
        let mut bands: Vec<Band> = Vec::new();
        let mut paths: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for (i, (label, _, _)) in methods.iter().enumerate() {
            let lr = lrs[i];
            if !lr.is_finite() {
                continue;
            }
            let run = run_label(label, lr);
            let legend = if stem == "slide" {
                (*label).to_string()
            } else {
                format!("{label}, lr = {lr:e}")
            };
            let mut b = rec.band(&run, "loss", XAxis::Iterations)?;
            b.label = legend.clone();
            bands.push(b);
            if let Some(t) = out.trajectories.iter().find(|t| t.method == run) {
                paths.push((legend, t.points.clone()));
            }
        }
        files.extend(convergence(
            dir,
            &format!("curves_{stem}"),
            &bands,
            &ConvergenceOptions {
                title: format!("Rosenbrock, {what}: f(x_k) (runs that diverged stop)"),
                x_label: "iteration k".into(),
                y_label: "f(x_k)".into(),
                log_x: true,
                ..Default::default()
            },
        )?);
        let copts = ContourOptions {
            title: format!("Rosenbrock from (−1.5, 2), {what}, K = {iterations}"),
            optimum: Some((1.0, 1.0)),
            bounds: Some(window),
            size: (900, 860),
            ..Default::default()
        };
        for ext in ["png", "svg"] {
            let name = format!("contours_{stem}.{ext}");
            plot::contour_plot(&dir.join(&name), &f2, &paths, &copts)?;
            files.push(name);
        }
        let gif = format!("paths_{stem}.gif");
        let gopts = ContourOptions {
            title: format!("Rosenbrock, {what}"),
            size: size.pick((540, 520), (300, 290)),
            grid: size.pick(120, 50),
            ..copts
        };
        plot::contour_gif(&dir.join(&gif), &f2, &paths, &gopts, size.pick(30, 6), 150)?;
        files.push(gif.clone());
        images.push(Image {
            file: format!("contours_{stem}.png"),
            caption: format!("Paths over the contours of f, {what}"),
        });
        images.push(Image {
            file: format!("curves_{stem}.png"),
            caption: format!("f(x_k) against k, {what} (log–log)"),
        });
        images.push(Image {
            file: gif,
            caption: format!("Animation of the paths, {what}"),
        });
    }
    let grid_table: Value = methods
        .iter()
        .zip(&finals)
        .map(|((label, _, _), row)| {
            (
                (*label).to_string(),
                GRID.iter()
                    .zip(row)
                    .map(|(lr, f)| json!({ "lr": lr, "final_f": if f.is_finite() { json!(f) } else { json!("diverged") } }))
                    .collect::<Vec<_>>()
                    .into(),
            )
        })
        .collect::<serde_json::Map<String, Value>>()
        .into();
    let settings = json!({
        "problem": spec.problem,
        "x0": problem_spec.x0,
        "iterations": iterations,
        "gradient": "exact (no noise)",
        "methods": methods.iter().map(|(label, name, hyper)| json!({
            "name": label, "optimizer": name, "hyper": hyper
        })).collect::<Vec<_>>(),
        "slide lr": SLIDE_LR,
        "grid": GRID,
        "tuning": "per method, the grid lr with the smallest f(x_K); diverged runs count as +∞",
        "tuned": methods.iter().zip(&tuned).map(|((label, _, _), t)| json!({
            "name": label, "lr": t.0, "final_f": t.1
        })).collect::<Vec<_>>(),
        "final f over the grid": grid_table,
        "precision": "f64",
    });
    Ok(Output {
        checks,
        settings,
        notes,
        measured,
        images,
        files,
    })
}

/// f at the last record of a run, or +∞ when the run stopped early.
pub(super) fn final_loss(out: &RunOutput, run: &str) -> f64 {
    if out.failures.iter().any(|f| f.method == run) {
        return f64::INFINITY;
    }
    let j = out.records.column("loss").ok();
    out.records
        .rows
        .iter()
        .rfind(|r| r.method == run)
        .and_then(|r| j.map(|j| r.get(j)))
        .filter(|v| v.is_finite())
        .unwrap_or(f64::INFINITY)
}
