//! `heavy-tail-classes`: Adam against GD on heavy-tailed class imbalance (Kunstner et al. 2024,
//! "Heavy-tailed class imbalance and why Adam outperforms gradient descent on language models").
//!
//! Their synthetic data ([`heavy_tail_classes`]): `levels` levels, level i with 2^i classes of
//! 2^(levels−i) samples each, features uniform in [0, 1)^d with d < m; a linear softmax model
//! without regularization (optlab's `softmax` problem), full-batch steps from W = 0. Each method
//! (GD, Adam, sign descent, normalized GD) runs with every learning rate of its log grid; the one
//! with the lowest largest loss over the second half of the run (robust to GD oscillating at the
//! edge of stability) is its best and is run again with its iterate observed at each
//! logged step, to measure the loss of each frequency group: classes sorted by frequency, cut
//! into groups of ≈ 10 % of the samples (a class belongs to the group where its samples start).
//!
//! Checks: Adam's final loss on each of the three rarest groups is ≤ 1/10 of GD's; GD's
//! progress is concentrated on frequent classes: the fraction of the initial loss it removes on
//! the most frequent group is ≥ 3× the fraction it removes on the rarest group; Adam's overall
//! final loss is below GD's. Sign descent's and normalized GD's per-group losses are reported.

use std::path::Path;
use std::sync::Mutex;

use serde_json::json;

use super::{
    Check, Figure, Image, Output, Progress, Quantity, ReproError, Size, convergence, io_err,
    rosenbrock_methods::final_loss,
};
use crate::experiment::{Common, Observer};
use crate::plot::ConvergenceOptions;
use crate::problem::softmax::{SoftmaxSpec, Synthetic, heavy_tail_classes};
use crate::problem::{Problem, ProblemSpec};
use crate::record::{Band, BandPoint, Record, Stats, XAxis};
use crate::runner::{self, ExperimentSpec, LrValue, MethodSpec};

/// The figure.
pub const FIGURE: Figure = Figure {
    name: "heavy-tail-classes",
    title: "Heavy-tailed classes: Adam makes progress on rare classes, GD does not",
    claim: "On data with heavy-tailed class imbalance (most samples belong to rare classes), \
            gradient descent reduces the loss of frequent classes but barely moves that of rare \
            ones, so the average loss falls slowly; Adam (and sign descent) make progress on all \
            classes (Kunstner et al. 2024).",
    run,
};

/// Number of frequency groups.
const GROUPS: usize = 10;

/// `(label, optimizer, hyperparameters, learning-rate grid at the full size, at the quick size)`.
type Method = (
    &'static str,
    &'static str,
    &'static str,
    &'static [f64],
    &'static [f64],
);

const METHODS: &[Method] = &[
    ("GD", "SGD", "{}", &[0.1, 0.3, 1.0, 3.0], &[0.3, 1.0]),
    (
        "Adam",
        "Adam",
        "{}",
        &[0.01, 0.03, 0.1, 0.3, 1.0],
        &[0.1, 0.3],
    ),
    (
        "sign descent",
        "SignGD",
        "{}",
        &[3e-4, 1e-3, 3e-3, 1e-2],
        &[1e-3, 3e-3],
    ),
    (
        "normalized GD",
        "NormalizedGD",
        "{}",
        &[0.3, 1.0, 3.0, 10.0],
        &[1.0, 3.0],
    ),
];

fn figure_err(message: impl Into<String>) -> ReproError {
    ReproError::Figure {
        figure: FIGURE.name,
        message: message.into(),
    }
}

fn run_label(method: &str, lr: f64) -> String {
    format!("{method}, lr = {lr}")
}

/// The largest loss logged at iterations ≥ `from` by `run`, or +∞ when it stopped early.
fn late_worst_loss(out: &runner::RunOutput, run: &str, from: u64) -> f64 {
    if out.failures.iter().any(|f| f.method == run) {
        return f64::INFINITY;
    }
    let Ok(j) = out.records.column("loss") else {
        return f64::INFINITY;
    };
    out.records
        .rows
        .iter()
        .filter(|r| r.method == run && r.iteration >= from)
        .map(|r| r.get(j))
        .fold(f64::NEG_INFINITY, |a, v| {
            if v.is_nan() { f64::INFINITY } else { a.max(v) }
        })
}

/// Group of each sample: classes in order of decreasing frequency (the generator numbers them
/// so), a class in the group where its first sample falls when the samples are cut into
/// [`GROUPS`] equal parts.
fn sample_groups(labels: &[usize], classes: usize) -> Vec<usize> {
    let m = labels.len();
    let mut count = vec![0usize; classes];
    labels.iter().for_each(|&c| count[c] += 1);
    let mut start = 0;
    let mut group_of_class = vec![0; classes];
    for (c, n) in count.iter().enumerate() {
        group_of_class[c] = (GROUPS * start / m.max(1)).min(GROUPS - 1);
        start += n;
    }
    labels.iter().map(|&c| group_of_class[c]).collect()
}

/// Records the mean loss of each group at every logged iterate.
struct GroupLosses<'a> {
    problem: &'a dyn Problem<f64>,
    groups: &'a [usize],
    progress: Progress<'a>,
    /// `(method, iteration, loss per group)`.
    seen: Mutex<Vec<(String, u64, Vec<f64>)>>,
}

impl Observer for GroupLosses<'_> {
    fn wants_iterates(&self) -> bool {
        true
    }

    fn iterate(&self, record: &Record, x: &[f64]) {
        let mut sum = [0.0; GROUPS];
        let mut n = [0usize; GROUPS];
        for (i, &g) in self.groups.iter().enumerate() {
            sum[g] += self.problem.sample_loss(x, i);
            n[g] += 1;
        }
        let mean = sum
            .iter()
            .zip(&n)
            .map(|(s, &n)| if n > 0 { s / n as f64 } else { f64::NAN })
            .collect();
        if let Ok(mut v) = self.seen.lock() {
            v.push((record.method.clone(), record.iteration, mean));
        }
    }

    fn progress(&self, done: usize, total: usize) {
        (self.progress)(done, total);
    }
}

/// The curve of group `g` of `method` from the observed losses.
fn group_band(seen: &[(String, u64, Vec<f64>)], method: &str, g: usize, label: String) -> Band {
    let mut points: Vec<BandPoint> = seen
        .iter()
        .filter(|(m, _, _)| m == method)
        .filter_map(|(_, k, v)| {
            Stats::of([v[g]]).map(|stats| BandPoint {
                x: *k as f64,
                stats,
            })
        })
        .collect();
    points.sort_by(|a, b| a.x.total_cmp(&b.x));
    Band {
        label,
        points,
        dashed: false,
    }
}

fn first_last(b: &Band) -> (f64, f64) {
    (
        b.points.first().map_or(f64::NAN, |p| p.stats.mean),
        b.points.last().map_or(f64::NAN, |p| p.stats.mean),
    )
}

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    let (levels, d) = (7, 256);
    let steps = size.pick(300u64, 150);
    let seed = 0;
    let problem_spec = SoftmaxSpec {
        synthetic: Synthetic::HeavyTail,
        levels,
        n: d,
        l2: 0.0,
        seed,
        ..Default::default()
    };
    let (_, labels, classes) = heavy_tail_classes(levels, d, seed)?;
    let groups = sample_groups(&labels, classes);
    let spec = |methods: Vec<MethodSpec>, log_points: u64| ExperimentSpec {
        common: Common {
            name: FIGURE.name.into(),
            seeds: Some(1),
            steps: Some(steps),
            log_points: Some(log_points),
            ..Common::default()
        },
        problem: ProblemSpec::Softmax(problem_spec.clone()),
        methods,
        ..Default::default()
    };
    let method = |label: String, optimizer: &str, hyper: &str, lr: f64| {
        let hyper = serde_json::from_str(hyper)
            .map_err(|e| figure_err(format!("hyperparameters of {optimizer}: {e}")))?;
        Ok::<_, ReproError>(MethodSpec {
            name: Some(label),
            optimizer: optimizer.into(),
            lr: Some(LrValue::Number(lr)),
            hyper,
            ..Default::default()
        })
    };
    let mut grid_methods = Vec::new();
    let grid_of = |m: &Method| size.pick(m.3, m.4);
    for m in METHODS {
        let (label, opt, hyper) = (m.0, m.1, m.2);
        for &lr in grid_of(m) {
            grid_methods.push(method(run_label(label, lr), opt, hyper, lr)?);
        }
    }
    let problem = ProblemSpec::Softmax(problem_spec.clone()).build::<f64>()?;
    let grid_spec = spec(grid_methods, 20);
    let grid = runner::run(&grid_spec, problem.as_ref(), progress)?;

    // best lr of each method: the lowest score = largest loss logged over the second half of
    // the run (a run oscillating at the edge of stability is not picked for a lucky last step;
    // a diverged run scores +∞)
    let mut notes = Vec::new();
    let mut best = Vec::new();
    let mut grid_table = serde_json::Map::new();
    for m in METHODS {
        let (label, lrs) = (m.0, grid_of(m));
        let finals: Vec<f64> = lrs
            .iter()
            .map(|&lr| late_worst_loss(&grid, &run_label(label, lr), steps / 2))
            .collect();
        let (lr, f) = lrs
            .iter()
            .zip(&finals)
            .fold(
                (f64::NAN, f64::INFINITY),
                |b, (&lr, &f)| {
                    if f < b.1 { (lr, f) } else { b }
                },
            );
        if !f.is_finite() {
            return Err(figure_err(format!("{label}: every learning rate diverged")));
        }
        if lr == lrs[0] || lr == lrs[lrs.len() - 1] {
            notes.push(format!(
                "{label}: the best lr {lr} is at the edge of its grid (a lr outside it may do better)"
            ));
        }
        grid_table.insert(
            label.into(),
            json!(lrs.iter().zip(&finals).map(|(lr, f)| json!({ "lr": lr, "largest loss over the second half": if f.is_finite() { json!(f) } else { json!("diverged") } })).collect::<Vec<_>>()),
        );
        best.push((label, lr, f));
    }

    // the best runs again, observing the loss of each group
    let mut best_methods = Vec::new();
    for (&(label, opt, hyper, _, _), &(_, lr, _)) in METHODS.iter().zip(&best) {
        best_methods.push(method(run_label(label, lr), opt, hyper, lr)?);
    }
    let best_spec = spec(best_methods, size.pick(60, 40));
    let observer = GroupLosses {
        problem: problem.as_ref(),
        groups: &groups,
        progress,
        seen: Mutex::new(Vec::new()),
    };
    let out = runner::run_observed(&best_spec, problem.as_ref(), &observer)?;
    if let Some(f) = out.failures.first() {
        return Err(figure_err(format!("the best run failed again: {f:?}")));
    }
    let seen = observer
        .seen
        .into_inner()
        .map_err(|_| figure_err("a run panicked while observing"))?;

    // metrics.csv: loss per group of the best runs
    let csv_path = dir.join("metrics.csv");
    let mut w = csv::Writer::from_path(&csv_path).map_err(|e| io_err(&csv_path, e))?;
    let mut header = vec!["method".to_string(), "iteration".into(), "loss".into()];
    header.extend((0..GROUPS).map(|g| format!("loss_group_{g}")));
    w.write_record(&header).map_err(|e| io_err(&csv_path, e))?;
    let loss_col = out.records.column("loss")?;
    for r in &out.records.rows {
        let mut row = vec![
            r.method.clone(),
            r.iteration.to_string(),
            format!("{:e}", r.get(loss_col)),
        ];
        let g = seen
            .iter()
            .find(|(m, k, _)| *m == r.method && *k == r.iteration)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_else(|| vec![f64::NAN; GROUPS]);
        row.extend(g.iter().map(|v| format!("{v:e}")));
        w.write_record(&row).map_err(|e| io_err(&csv_path, e))?;
    }
    w.flush().map_err(|e| io_err(&csv_path, e))?;

    let label_of = |i: usize| run_label(best[i].0, best[i].1);
    let bands_of = |i: usize| -> Vec<Band> {
        (0..GROUPS)
            .map(|g| group_band(&seen, &label_of(i), g, format!("group {}", g + 1)))
            .filter(|b| !b.points.is_empty() && b.points.iter().all(|p| p.stats.mean.is_finite()))
            .collect()
    };
    let per_group: Vec<Vec<(f64, f64)>> = (0..METHODS.len())
        .map(|i| {
            (0..GROUPS)
                .map(|g| first_last(&group_band(&seen, &label_of(i), g, String::new())))
                .collect()
        })
        .collect();
    let (gd, adam) = (&per_group[0], &per_group[1]);
    let rare: Vec<usize> = (GROUPS - 3..GROUPS).collect();
    let mut rare_numbers = Vec::new();
    let mut rare_holds = true;
    for &g in &rare {
        rare_numbers.push((format!("group {}: GD final loss", g + 1), gd[g].1));
        rare_numbers.push((format!("group {}: Adam final loss", g + 1), adam[g].1));
        rare_holds &= adam[g].1 * 10.0 <= gd[g].1;
    }
    let frequent_cut = 1.0 - gd[0].1 / gd[0].0;
    let rarest_cut = 1.0 - gd[GROUPS - 1].1 / gd[GROUPS - 1].0;
    let overall = |i: usize| final_loss(&out, &label_of(i));
    let checks = vec![
        Check::new(
            "Adam fits the rare classes, GD does not",
            format!(
                "at the best lr of each, after {steps} full-batch steps, Adam's mean loss on each of the 3 rarest groups (≈ 30 % of the samples) is ≤ 1/10 of GD's"
            ),
            rare_numbers,
            rare_holds,
        ),
        Check::new(
            "GD's progress is on frequent classes",
            "the fraction of its initial loss GD removes on the most frequent group, 1 − final/initial, is ≥ 3 × the fraction it removes on the rarest group",
            [
                (
                    "GD, group 1 (most frequent): 1 − final/initial",
                    frequent_cut,
                ),
                ("GD, group 10 (rarest): 1 − final/initial", rarest_cut),
                ("ratio", frequent_cut / rarest_cut),
            ],
            frequent_cut > 0.0 && frequent_cut >= 3.0 * rarest_cut,
        ),
        Check::new(
            "Adam's average loss is lower",
            "Adam's overall final loss < GD's (each at its best lr)",
            [
                ("GD: final loss", overall(0)),
                ("GD: best lr", best[0].1),
                ("Adam: final loss", overall(1)),
                ("Adam: best lr", best[1].1),
            ],
            overall(1) < overall(0),
        ),
    ];
    let mut measured = Vec::new();
    for (i, (label, lr, _)) in best.iter().enumerate() {
        measured.push(Quantity {
            name: format!("{label} (best lr {lr}): final loss"),
            value: overall(i),
        });
        for g in [0, GROUPS - 1] {
            measured.push(Quantity {
                name: format!("{label}: final loss, group {}", g + 1),
                value: per_group[i][g].1,
            });
        }
    }

    let overall_bands: Vec<Band> = (0..METHODS.len())
        .map(|i| {
            let mut b = out.records.band(&label_of(i), "loss", XAxis::Iterations)?;
            b.label = label_of(i);
            Ok(b)
        })
        .collect::<Result<_, crate::record::RecordError>>()?;
    let opts = |title: String| ConvergenceOptions {
        title,
        x_label: "full-batch step".into(),
        y_label: "training loss".into(),
        ..Default::default()
    };
    let m = labels.len();
    let mut files = convergence(
        dir,
        "overall",
        &overall_bands,
        &opts(format!(
            "linear softmax, m = {m}, d = {d}, K = {classes} heavy-tailed classes: overall loss, best lr of each"
        )),
    )?;
    let mut images = vec![Image {
        file: "overall.png".into(),
        caption: "Overall training loss of each method at its best learning rate".into(),
    }];
    for (i, stem) in [(0, "groups_gd"), (1, "groups_adam"), (2, "groups_sign")] {
        files.extend(convergence(
            dir,
            stem,
            &bands_of(i),
            &opts(format!(
                "{}: loss per frequency group (group 1: most frequent classes, 10: rarest)",
                label_of(i)
            )),
        )?);
        images.push(Image {
            file: format!("{stem}.png"),
            caption: format!(
                "{}: training loss of each group of ≈ 10 % of the samples, classes sorted by frequency",
                label_of(i)
            ),
        });
    }
    files.push("metrics.csv".into());
    let group_sizes: Vec<usize> = (0..GROUPS)
        .map(|g| groups.iter().filter(|&&x| x == g).count())
        .collect();
    let settings = json!({
        "problem": best_spec.problem,
        "samples": m,
        "classes": classes,
        "features d": d,
        "steps": steps,
        "start": "W = 0",
        "batch": "full",
        "groups": { "rule": "classes by decreasing frequency; a class in the group where its first sample falls when the samples are cut into 10 equal parts", "samples per group": group_sizes },
        "learning-rate grids (score: largest loss logged over the second half of the run; 20 log-spaced records)": grid_table,
        "best lr": best.iter().map(|(l, lr, _)| json!({ "method": l, "lr": lr })).collect::<Vec<_>>(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_hold_about_a_tenth_of_the_samples_each() {
        let (_, y, k) = heavy_tail_classes(7, 2, 0).unwrap();
        let g = sample_groups(&y, k);
        let sizes: Vec<usize> = (0..GROUPS)
            .map(|j| g.iter().filter(|&&x| x == j).count())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 896);
        assert!(sizes.iter().all(|&s| (60..=150).contains(&s)), "{sizes:?}");
        // groups are ordered by frequency: the first is class 0 alone, the last rare classes
        assert!(g.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(sizes[0], 128);
    }
}
