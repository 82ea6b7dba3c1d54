//! The speedrun comparison (`optlab algoperf speedrun`): fixed hyperparameters, K seeds, steps
//! and time to a fixed validation target, and whether the difference is significant.
//!
//! The NanoGPT speedrun (Keller Jordan et al. 2024) compares training algorithms by the steps or
//! wall time they need to reach a fixed validation loss, and requires a new record to be shown
//! significant over several seeds. Here each submission runs at one hyperparameter point (e.g.
//! the fastest trial of a tuning run) with `seeds` seeds — seed r is the same for every
//! submission (same initialization and data order) — on one workload, each trial stopping at the
//! workload's target or budget. Per submission: the mean and the 95 % confidence interval
//! (Student's t) of the steps (`global_step`) and of the training time
//! (`accumulated_submission_time`) to the target; between the first two submissions: Welch's
//! unequal-variance t-test (two-sided) on both. Runs that do not reach the target are counted and
//! left out of the means and tests (stated in the report).
//!
//! The lecture's claim (the speedrun's optimization track: Muon 3,600 vs AdamW 5,625 steps): Muon
//! on the hidden matrices (+ AdamW on the rest) reaches the target in fewer steps than AdamW.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::logs::{EvalMeasurements, MEASUREMENTS_FILE, columns};
use super::registry::Registry;
use super::results::ResultsDir;
use super::search::Point;
use super::study::{Trial, trial_seed};
use super::submission::Submission;
use super::trial::{Clock, TrialEvent, run_trials};
use super::{AlgoPerfError, io_err, write_atomic, write_json};
use crate::plot::{self, ConvergenceOptions};
use crate::record::{Band, BandPoint, Stats};
use crate::reproduce::{CSS, base64, esc, fmt_num};

/// What to run.
#[derive(Clone, Debug)]
pub struct SpeedrunPlan {
    /// The workload.
    pub workload: String,
    /// Submissions with their hyperparameter points (at least two; the first two are tested).
    pub entries: Vec<(Submission, Point)>,
    /// Seeds per submission (≥ 2 for a confidence interval).
    pub seeds: u32,
    /// Seed of the training seeds.
    pub seed: u32,
}

/// Mean and 95 % confidence interval of a sample.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Values (of the runs that reached the target).
    pub values: Vec<f64>,
    /// Their mean (NaN when empty).
    pub mean: f64,
    /// Sample standard deviation (NaN below two values).
    pub sd: f64,
    /// Half-width of the 95 % interval, t_{0.975, n−1} · sd/√n (NaN below two values).
    pub ci95: f64,
}

impl Summary {
    /// The summary of `values`.
    pub fn of(values: Vec<f64>) -> Summary {
        let n = values.len() as f64;
        let mean = if values.is_empty() {
            f64::NAN
        } else {
            values.iter().sum::<f64>() / n
        };
        let sd = if values.len() < 2 {
            f64::NAN
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        let ci95 = StudentsT::new(0.0, 1.0, n - 1.0)
            .map_or(f64::NAN, |t| t.inverse_cdf(0.975) * sd / n.sqrt());
        Summary {
            values,
            mean,
            sd,
            ci95,
        }
    }
}

/// Welch's t-test of two samples (two-sided).
#[derive(Clone, Debug, Serialize)]
pub struct Welch {
    /// t = (mean_a − mean_b) / √(s_a²/n_a + s_b²/n_b).
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value, 2·P(T_df ≥ |t|).
    pub p: f64,
}

/// Welch's test of `a` against `b`; `None` with fewer than two values in either or no variance.
pub fn welch(a: &Summary, b: &Summary) -> Option<Welch> {
    let (na, nb) = (a.values.len() as f64, b.values.len() as f64);
    if na < 2.0 || nb < 2.0 {
        return None;
    }
    let (va, vb) = (a.sd * a.sd / na, b.sd * b.sd / nb);
    let se2 = va + vb;
    if se2.is_nan() || se2 <= 0.0 {
        return None;
    }
    let t = (a.mean - b.mean) / se2.sqrt();
    let df = se2 * se2 / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let p = 2.0 * (1.0 - dist.cdf(t.abs()));
    Some(Welch { t, df, p })
}

/// One submission's runs.
#[derive(Clone, Debug, Serialize)]
pub struct Arm {
    /// Submission name.
    pub submission: String,
    /// Its hyperparameters.
    pub hyperparameters: Point,
    /// Per seed: steps at the first evaluation meeting the target (None: not reached).
    pub steps: Vec<Option<f64>>,
    /// Per seed: training seconds at that evaluation.
    pub seconds: Vec<Option<f64>>,
    /// Steps to the target over the seeds that reached it.
    pub steps_summary: Summary,
    /// Seconds to the target over the seeds that reached it.
    pub seconds_summary: Summary,
    /// Per seed: the validation curve `(global_step, metric)`.
    #[serde(skip)]
    pub curves: Vec<Vec<(f64, f64)>>,
}

/// The speedrun's result.
#[derive(Clone, Debug, Serialize)]
pub struct SpeedrunReport {
    /// Workload.
    pub workload: String,
    /// Validation metric, target and goal.
    pub metric: String,
    /// The target.
    pub target: f64,
    /// Whether the metric is minimized.
    pub minimize: bool,
    /// Seeds per submission.
    pub seeds: u32,
    /// The submissions' runs.
    pub arms: Vec<Arm>,
    /// Welch's test of the first two arms' steps to the target.
    pub steps_test: Option<Welch>,
    /// Welch's test of their training seconds to the target.
    pub seconds_test: Option<Welch>,
    /// The claim and whether the runs support it: the first submission reaches the target in
    /// fewer steps than the second, significantly (p < 0.05), every run reaching it.
    pub verdict: String,
    /// Whether the claim holds.
    pub holds: bool,
}

/// Runs the plan into `root` (AlgoPerf's layout, study r = seed r, trial 1; idempotent) and
/// summarizes it.
///
/// # Errors
/// Fewer than two submissions or seeds, an unknown workload or one without a target, a trial
/// that fails.
pub fn run(
    registry: &mut Registry,
    plan: &SpeedrunPlan,
    root: &Path,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(&TrialEvent<'_>),
) -> Result<SpeedrunReport, AlgoPerfError> {
    if plan.entries.len() < 2 {
        return Err(AlgoPerfError::Invalid(
            "a speedrun compares at least two submissions".into(),
        ));
    }
    if plan.seeds < 2 {
        return Err(AlgoPerfError::Invalid(
            "--seeds must be at least 2 (a confidence interval needs two runs)".into(),
        ));
    }
    let target = registry.target(&plan.workload)?;
    let minimize = registry.get(&plan.workload)?.spec().minimize;
    let mut trials = Vec::new();
    for (s, p) in &plan.entries {
        for r in 0..plan.seeds {
            trials.push(Trial {
                index: trials.len(),
                submission: s.name.clone(),
                workload: plan.workload.clone(),
                study: r,
                trial: 1,
                hyperparameters: p.clone(),
                seed: trial_seed(plan.seed, &plan.workload, r, 1),
            });
        }
    }
    let subs: Vec<Submission> = plan.entries.iter().map(|(s, _)| s.clone()).collect();
    let results = ResultsDir::create(root)?;
    run_trials(&results, &subs, &trials, registry, clock, progress)?;
    let mut arms = Vec::new();
    for (s, p) in &plan.entries {
        let (mut steps, mut seconds, mut curves) = (Vec::new(), Vec::new(), Vec::new());
        for t in trials.iter().filter(|t| t.submission == s.name) {
            let path = results.trial_dir(t).join(MEASUREMENTS_FILE);
            if !path.is_file() {
                // Diverged before its first evaluation: never reached the target.
                steps.push(None);
                seconds.push(None);
                curves.push(Vec::new());
                continue;
            }
            let m = EvalMeasurements::read(&path)?;
            let col = |name: &str| {
                m.column(name).ok_or_else(|| AlgoPerfError::Format {
                    path: path.display().to_string(),
                    message: format!("no column `{name}`"),
                })
            };
            let (gs, sec, val) = (
                col(columns::GLOBAL_STEP)?,
                col(columns::ACCUMULATED_SUBMISSION_TIME)?,
                col(&target.metric)?,
            );
            let hit = val.iter().position(|&v| target.reached(v, minimize));
            steps.push(hit.map(|i| gs[i]));
            seconds.push(hit.map(|i| sec[i]));
            curves.push(gs.iter().copied().zip(val.iter().copied()).collect());
        }
        arms.push(Arm {
            submission: s.name.clone(),
            hyperparameters: p.clone(),
            steps_summary: Summary::of(steps.iter().flatten().copied().collect()),
            seconds_summary: Summary::of(seconds.iter().flatten().copied().collect()),
            steps,
            seconds,
            curves,
        });
    }
    let steps_test = welch(&arms[0].steps_summary, &arms[1].steps_summary);
    let seconds_test = welch(&arms[0].seconds_summary, &arms[1].seconds_summary);
    let all_reached = arms[..2]
        .iter()
        .all(|a| a.steps.iter().all(Option::is_some));
    let fewer = arms[0].steps_summary.mean < arms[1].steps_summary.mean;
    let significant = steps_test.as_ref().is_some_and(|w| w.p < 0.05);
    let holds = all_reached && fewer && significant;
    let verdict = format!(
        "claim: {a} reaches {metric} {op} {target} in fewer steps than {b}. Measured over {k} \
         seeds: {a} {ma} ± {ca} steps ({ra}/{k} reached), {b} {mb} ± {cb} steps ({rb}/{k} \
         reached) (mean ± 95 % CI); Welch's t-test: {test}. {result}",
        a = arms[0].submission,
        b = arms[1].submission,
        metric = target.metric,
        op = if minimize { "≤" } else { "≥" },
        target = fmt_num(target.target),
        k = plan.seeds,
        ma = fmt_num(arms[0].steps_summary.mean),
        ca = fmt_num(arms[0].steps_summary.ci95),
        mb = fmt_num(arms[1].steps_summary.mean),
        cb = fmt_num(arms[1].steps_summary.ci95),
        ra = arms[0].steps_summary.values.len(),
        rb = arms[1].steps_summary.values.len(),
        test = steps_test
            .as_ref()
            .map_or("not computable".to_string(), |w| format!(
                "t = {}, df = {}, p = {}",
                fmt_num(w.t),
                fmt_num(w.df),
                fmt_num(w.p)
            )),
        result = if holds {
            "The claim holds (fewer steps, p < 0.05, every run reached the target)."
        } else if !all_reached {
            "Not shown: some runs did not reach the target within the budget."
        } else if !fewer {
            "The claim does not hold here: the first submission needed more steps."
        } else {
            "Not significant at the 5 % level with these seeds."
        }
    );
    Ok(SpeedrunReport {
        workload: plan.workload.clone(),
        metric: target.metric.clone(),
        target: target.target,
        minimize,
        seeds: plan.seeds,
        arms,
        steps_test,
        seconds_test,
        verdict,
        holds,
    })
}

/// The validation curves of an arm as a band over seeds (mean, 10–90 % quantiles at each
/// evaluated step; seeds stopped at the target drop out of later points).
fn band(arm: &Arm) -> Band {
    let mut xs: Vec<f64> = arm.curves.iter().flatten().map(|(x, _)| *x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let points = xs
        .into_iter()
        .filter_map(|x| {
            let vals = arm
                .curves
                .iter()
                .filter_map(|c| c.iter().find(|(s, _)| *s == x).map(|(_, v)| *v));
            Stats::of(vals).map(|stats| BandPoint { x, stats })
        })
        .collect();
    Band {
        label: arm.submission.clone(),
        points,
        dashed: false,
    }
}

impl SpeedrunReport {
    /// Writes `speedrun.json`, the validation-curve plot (PNG, SVG) and `index.html` into `out`;
    /// returns the file names.
    pub fn write(&self, out: &Path) -> Result<Vec<String>, AlgoPerfError> {
        std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
        write_json(&out.join("speedrun.json"), self)?;
        let bands: Vec<Band> = self.arms.iter().map(band).collect();
        let opts = ConvergenceOptions {
            title: format!(
                "{}: {} over {} seeds (target {})",
                self.workload,
                self.metric,
                self.seeds,
                fmt_num(self.target)
            ),
            x_label: "global_step".into(),
            y_label: self.metric.clone(),
            log_y: false,
            ..ConvergenceOptions::default()
        };
        let mut files = vec!["speedrun.json".to_string()];
        for ext in ["png", "svg"] {
            let name = format!("validation_curves.{ext}");
            plot::convergence_plot(&out.join(&name), &bands, &opts)?;
            files.push(name);
        }
        let png = std::fs::read(out.join("validation_curves.png"))
            .map_err(|e| io_err(&out.join("validation_curves.png"), e))?;
        let mut h = String::new();
        h.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>optlab algoperf — speedrun</title>\n<style>\n",
        );
        h.push_str(CSS);
        // hyperparameter points are long one-line JSON: let them wrap inside their cell
        h.push_str(
            "td.num{text-align:right}td code{white-space:normal;overflow-wrap:anywhere}</style>\n\
             </head>\n<body>\n<main>\n",
        );
        let _ = writeln!(
            h,
            "<h1>Speedrun: {}</h1>\n<p class=\"meta\">optlab {} · {} seeds per submission · \
             target {} {} {}</p>\n<section>\n<h2>Verdict: {}</h2>\n<p>{}</p>\n<table>\n\
             <tr><th>submission</th><th>reached</th><th>steps to target (mean ± 95 % CI)</th>\
             <th>seconds to target</th><th>hyperparameters</th></tr>",
            esc(&self.workload),
            env!("CARGO_PKG_VERSION"),
            self.seeds,
            esc(&self.metric),
            if self.minimize { "≤" } else { "≥" },
            fmt_num(self.target),
            if self.holds { "holds" } else { "not shown" },
            esc(&self.verdict)
        );
        for a in &self.arms {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}/{}</td><td class=\"num\">{} ± {}</td>\
                 <td class=\"num\">{} ± {}</td><td><code>{}</code></td></tr>",
                esc(&a.submission),
                a.steps_summary.values.len(),
                a.steps.len(),
                fmt_num(a.steps_summary.mean),
                fmt_num(a.steps_summary.ci95),
                fmt_num(a.seconds_summary.mean),
                fmt_num(a.seconds_summary.ci95),
                esc(&serde_json::to_string(&a.hyperparameters).unwrap_or_default())
            );
        }
        h.push_str("</table>\n");
        if let Some(w) = &self.seconds_test {
            let _ = writeln!(
                h,
                "<p>Training seconds: Welch's t = {}, df = {}, p = {} (wall-clock time on a \
                 shared machine: steps are the reproducible measure).</p>",
                fmt_num(w.t),
                fmt_num(w.df),
                fmt_num(w.p)
            );
        }
        let _ = writeln!(
            h,
            "<figure><img alt=\"validation curves\" src=\"data:image/png;base64,{}\">\
             <figcaption>{} against steps: mean over seeds, 10–90 % band; a run stops at the \
             target.</figcaption></figure>\n</section>\n</main>\n</body>\n</html>",
            base64(&png),
            esc(&self.metric)
        );
        write_atomic(&out.join("index.html"), h.as_bytes())?;
        files.push("index.html".into());
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_matches_scipy() {
        // scipy.stats.ttest_ind([3600, 3650, 3580, 3700], [5600, 5700, 5625], equal_var=False):
        // t = -49.830644412822735, df = 4.5433247639125955, p = 2.1333608270278327e-07.
        let a = Summary::of(vec![3600.0, 3650.0, 3580.0, 3700.0]);
        let b = Summary::of(vec![5600.0, 5700.0, 5625.0]);
        let w = welch(&a, &b).unwrap();
        assert!((w.t + 49.830644412822735).abs() < 1e-9, "{w:?}");
        assert!((w.df - 4.5433247639125955).abs() < 1e-9, "{w:?}");
        assert!((w.p / 2.1333608270278327e-07 - 1.0).abs() < 1e-6, "{w:?}");
        // Equal samples: t = 0, p = 1.
        let c = Summary::of(vec![1.0, 2.0, 3.0]);
        let w = welch(&c, &c).unwrap();
        assert!(w.t.abs() < 1e-15 && (w.p - 1.0).abs() < 1e-12);
        // One value: no test.
        assert!(welch(&Summary::of(vec![1.0]), &c).is_none());
    }

    #[test]
    fn confidence_interval_uses_students_t() {
        // n = 4, sd = 1: t_{0.975,3} = 3.1824463052837078 → half-width 3.1824/2.
        let s = Summary::of(vec![-1.5, -0.5, 0.5, 1.5]);
        let sd = (5.0f64 / 3.0).sqrt();
        assert!((s.sd - sd).abs() < 1e-15);
        assert!(
            (s.ci95 - 3.1824463052837078 * sd / 2.0).abs() < 1e-9,
            "{}",
            s.ci95
        );
        assert!(Summary::of(vec![]).mean.is_nan());
    }
}
