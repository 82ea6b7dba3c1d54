//! AlgoPerf v0.6 external-tuning scoring (`scoring/performance_profile.py` and
//! `score_submissions.py` of mlcommons/algorithmic-efficiency).
//!
//! For each submission s and base workload w, with T(row) the chosen time column (`score` =
//! `accumulated_submission_time`, or `global_step` for the machine-independent view):
//!
//! 1. **trial**: the time at the first evaluation whose validation metric meets the target
//!    (`≤` when minimized, `≥` otherwise; an empty cell or NaN never does); ∞ if none does;
//! 2. **study**: the fastest trial of the study (smallest time; ties go to the lower trial
//!    number);
//! 3. **workload**: the median over the studies that ran the workload (numpy's median: the mean
//!    of the two middle values for an even count; ∞ counts as a value);
//! 4. **cap**: times above 4× the per-workload best over submissions become ∞;
//! 5. **ratio**: time / per-workload best;
//! 6. **profile and score**: [`profile`](super::profile) — ρ(τ) on `linspace(1, 4, 100)` over the
//!    N workloads of `workloads.json`, score = trapezoid integral / 3.
//!
//! A workload a submission never ran counts as not reached (AlgoPerf's NaN). Workloads in the
//! logs but not in `workloads.json` are ignored and reported.
//!
//! One difference from AlgoPerf's code: its `get_best_trial_index` picks the trial that reaches
//! the target at the *smallest evaluation index* and takes that trial's time, which is the
//! fastest trial when the trials evaluate at the same cadence (always, in AlgoPerf's harness);
//! here the fastest trial is picked by time, as the rules state it, so trials with different
//! cadences are compared correctly.

use std::collections::BTreeMap;

use serde::Serialize;

use super::AlgoPerfError;
use super::logs::{SubmissionLogs, TrialLog};
use super::profile;
use super::workloads::{WorkloadTarget, WorkloadsFile};

/// The time column AlgoPerf scores (= `accumulated_submission_time`).
pub const DEFAULT_TIME_COLUMN: &str = "score";
/// Times above this multiple of the per-workload best count as not reached.
pub const CAP_FACTOR: f64 = 4.0;

/// The result of one study on one workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StudyResult {
    /// Study number.
    pub study: u32,
    /// Trials found.
    pub trials: usize,
    /// Trials that reached the target.
    pub trials_reached: usize,
    /// The fastest trial's number (`None`: no trial reached the target).
    pub best_trial: Option<u32>,
    /// Its time at the first evaluation meeting the target (`None` = ∞).
    #[serde(serialize_with = "finite_or_null")]
    pub time: f64,
    /// That trial's hyperparameters (`hparams.json`), when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hparams: Option<serde_json::Value>,
}

/// A submission's result on one workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadResult {
    /// Median over studies of the fastest trial's time (∞: not reached; NaN: never run).
    #[serde(serialize_with = "finite_or_null")]
    pub time_to_target: f64,
    /// Ratio to the per-workload best after the 4× cap (∞ or NaN: does not count).
    #[serde(serialize_with = "finite_or_null")]
    pub ratio: f64,
    /// Per-study results.
    pub studies: Vec<StudyResult>,
}

/// One submission's scores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SubmissionScore {
    /// Name.
    pub name: String,
    /// The integral of ρ over τ ∈ [1, 4], divided by 3.
    pub score: f64,
    /// ρ(τ) on [`Scoring::taus`].
    pub rho: Vec<f64>,
    /// Per base workload (every workload of `workloads.json`).
    pub workloads: BTreeMap<String, WorkloadResult>,
}

/// Scores of a set of submissions for one time column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scoring {
    /// The time column (`score`, `global_step`, ...).
    pub time_column: String,
    /// The base workloads (from `workloads.json`), sorted.
    pub workloads: Vec<String>,
    /// Per-workload best time over submissions (∞ when nobody reached the target).
    #[serde(serialize_with = "map_finite_or_null")]
    pub best: BTreeMap<String, f64>,
    /// The τ grid.
    pub taus: Vec<f64>,
    /// Submissions, sorted by name.
    pub submissions: Vec<SubmissionScore>,
    /// Workloads found in the logs but not in `workloads.json` (ignored), per submission.
    pub ignored_workloads: BTreeMap<String, Vec<String>>,
}

fn finite_or_null<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

fn map_finite_or_null<S: serde::Serializer>(
    m: &BTreeMap<String, f64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        map.serialize_entry(k, &v.is_finite().then_some(*v))?;
    }
    map.end()
}

/// Whether every trial of every submission has `column` (the views to report).
pub fn has_column(logs: &BTreeMap<String, SubmissionLogs>, column: &str) -> bool {
    logs.values()
        .flat_map(SubmissionLogs::trials)
        .all(|(_, _, t)| t.measurements.column_index(column).is_some())
}

/// The time of the first evaluation of `trial` that meets the target, if any (an evaluation
/// whose time cell is empty is skipped as failed).
fn trial_time(
    trial: &TrialLog,
    target: &WorkloadTarget,
    minimize: bool,
    time_column: &str,
) -> Result<Option<f64>, AlgoPerfError> {
    let m = &trial.measurements;
    let path = trial.dir.join(super::logs::MEASUREMENTS_FILE);
    let missing = |col: &str| {
        super::format_err(
            &path,
            format!("no column `{col}` (columns: {})", m.columns.join(", ")),
        )
    };
    let jm = m
        .column_index(&target.metric)
        .ok_or_else(|| missing(&target.metric))?;
    let jt = m
        .column_index(time_column)
        .ok_or_else(|| missing(time_column))?;
    Ok(m.rows
        .iter()
        .find(|r| target.reached(r[jm], minimize) && !r[jt].is_nan())
        .map(|r| r[jt]))
}

/// numpy's median (mean of the two middle values for an even count); NaN for no values.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The per-study results of one submission on one workload (empty when it never ran it).
fn study_results(
    logs: &SubmissionLogs,
    workload: &str,
    target: &WorkloadTarget,
    minimize: bool,
    time_column: &str,
) -> Result<Vec<StudyResult>, AlgoPerfError> {
    let mut out = Vec::new();
    for (&study, workloads) in &logs.studies {
        let Some(wl) = workloads.get(workload) else {
            continue;
        };
        let mut best: Option<(f64, &TrialLog)> = None;
        let mut reached = 0;
        for t in &wl.trials {
            if let Some(time) = trial_time(t, target, minimize, time_column)? {
                reached += 1;
                if best.is_none_or(|(b, _)| time < b) {
                    best = Some((time, t));
                }
            }
        }
        out.push(StudyResult {
            study,
            trials: wl.trials.len(),
            trials_reached: reached,
            best_trial: best.map(|(_, t)| t.trial),
            time: best.map_or(f64::INFINITY, |(time, _)| time),
            hparams: best.and_then(|(_, t)| t.hparams.clone()),
        });
    }
    Ok(out)
}

/// Scores `logs` (submission name → logs) against `workloads` by `time_column`.
pub fn score(
    logs: &BTreeMap<String, SubmissionLogs>,
    workloads: &WorkloadsFile,
    time_column: &str,
) -> Result<Scoring, AlgoPerfError> {
    if logs.is_empty() {
        return Err(AlgoPerfError::Empty("no submission to score".into()));
    }
    workloads
        .validate()
        .map_err(|m| AlgoPerfError::Invalid(format!("workloads: {m}")))?;
    let names: Vec<String> = workloads.workloads.keys().cloned().collect();
    // time to target per (submission, workload) before the cap
    let mut results: BTreeMap<String, BTreeMap<String, WorkloadResult>> = BTreeMap::new();
    let mut ignored = BTreeMap::new();
    for (sub, l) in logs {
        let extra: Vec<String> = l
            .workloads()
            .into_iter()
            .filter(|w| !workloads.workloads.contains_key(w))
            .collect();
        if !extra.is_empty() {
            ignored.insert(sub.clone(), extra);
        }
        let mut per = BTreeMap::new();
        for (w, target) in &workloads.workloads {
            let minimize = target
                .minimizes()
                .map_err(|m| AlgoPerfError::Invalid(format!("workloads.{w}: {m}")))?;
            let studies = study_results(l, w, target, minimize, time_column)?;
            let times: Vec<f64> = studies.iter().map(|s| s.time).collect();
            per.insert(
                w.clone(),
                WorkloadResult {
                    time_to_target: median(&times),
                    ratio: f64::NAN,
                    studies,
                },
            );
        }
        results.insert(sub.clone(), per);
    }
    // per-workload best (NaN = never run is skipped, as pandas' min does)
    let mut best = BTreeMap::new();
    for w in &names {
        let b = results
            .values()
            .map(|per| per[w].time_to_target)
            .filter(|t| !t.is_nan())
            .fold(f64::INFINITY, f64::min);
        best.insert(w.clone(), b);
    }
    let taus = profile::tau_grid();
    let mut submissions = Vec::new();
    for (sub, mut per) in results {
        for (w, r) in per.iter_mut() {
            let b = best[w];
            let t = r.time_to_target;
            let capped = if t > CAP_FACTOR * b { f64::INFINITY } else { t };
            r.ratio = if capped.is_nan() || capped.is_infinite() {
                capped
            } else if capped == b {
                // includes b = 0 (AlgoPerf's df.update keeps 0/0 at 0, which counts for every τ)
                1.0
            } else {
                capped / b
            };
        }
        let ratios: Vec<f64> = per.values().map(|r| r.ratio).collect();
        let rho = profile::rho(&ratios, &taus, names.len());
        submissions.push(SubmissionScore {
            score: profile::score(&rho, &taus),
            name: sub,
            rho,
            workloads: per,
        });
    }
    Ok(Scoring {
        time_column: time_column.to_string(),
        workloads: names,
        best,
        taus,
        submissions,
        ignored_workloads: ignored,
    })
}

impl Scoring {
    /// The submission called `name`.
    pub fn submission(&self, name: &str) -> Option<&SubmissionScore> {
        self.submissions.iter().find(|s| s.name == name)
    }

    /// Submissions ordered by score, best first (ties by name).
    pub fn ranking(&self) -> Vec<&SubmissionScore> {
        let mut v: Vec<&SubmissionScore> = self.submissions.iter().collect();
        v.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.name.cmp(&b.name)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algoperf::logs::{EvalMeasurements, WorkloadLogs};
    use std::path::PathBuf;

    fn trial(j: u32, rows: &[(f64, f64)]) -> TrialLog {
        let mut m = EvalMeasurements::default();
        for &(time, acc) in rows {
            m.push(&[
                ("score".into(), time),
                ("global_step".into(), time * 10.0),
                ("validation/accuracy".into(), acc),
            ]);
        }
        TrialLog {
            trial: j,
            dir: PathBuf::from(format!("trial_{j}")),
            measurements: m,
            hparams: None,
        }
    }

    fn submission(name: &str, studies: Vec<Vec<TrialLog>>) -> SubmissionLogs {
        let mut l = SubmissionLogs {
            name: name.into(),
            ..Default::default()
        };
        for (k, trials) in studies.into_iter().enumerate() {
            let mut m = BTreeMap::new();
            m.insert(
                "w".to_string(),
                WorkloadLogs {
                    framework: "optlab".into(),
                    trials,
                },
            );
            l.studies.insert(k as u32, m);
        }
        l
    }

    fn workloads() -> WorkloadsFile {
        serde_json::from_str(
            r#"{"workloads": {"w": {"metric": "validation/accuracy", "target": 0.9},
                              "v": {"metric": "validation/accuracy", "target": 0.9}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn median_is_numpys() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[1.0, 4.0]), 2.5);
        assert_eq!(median(&[f64::INFINITY, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[f64::INFINITY, 1.0]), f64::INFINITY);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn first_eval_meeting_the_target_fastest_trial_median_cap_and_ratio() {
        let nan = f64::NAN;
        let a = submission(
            "a",
            vec![
                // study 0: trial 1 first meets at t=30 (NaN at 20 does not count), trial 2 at 20
                vec![
                    trial(1, &[(10.0, 0.5), (20.0, nan), (30.0, 0.95), (40.0, 0.2)]),
                    trial(2, &[(10.0, 0.8), (20.0, 0.91)]),
                ],
                vec![trial(1, &[(10.0, 0.95)])],
                vec![trial(1, &[(10.0, 0.1)])], // never: ∞
            ],
        );
        let b = submission("b", vec![vec![trial(1, &[(100.0, 0.99)])]]);
        let mut logs = BTreeMap::new();
        logs.insert("a".to_string(), a);
        logs.insert("b".to_string(), b);
        let s = score(&logs, &workloads(), "score").unwrap();
        let ra = &s.submission("a").unwrap().workloads["w"];
        let times: Vec<f64> = ra.studies.iter().map(|x| x.time).collect();
        assert_eq!(times, [20.0, 10.0, f64::INFINITY]);
        assert_eq!(ra.studies[0].best_trial, Some(2));
        assert_eq!(ra.studies[0].trials_reached, 2);
        assert_eq!(ra.time_to_target, 20.0);
        assert_eq!(ra.ratio, 1.0);
        let rb = &s.submission("b").unwrap().workloads["w"];
        assert_eq!(rb.time_to_target, 100.0);
        assert_eq!(rb.ratio, f64::INFINITY, "100 > 4 × 20");
        // workload v was never run: NaN, never counts; rho over N = 2 workloads
        assert!(
            s.submission("a").unwrap().workloads["v"]
                .time_to_target
                .is_nan()
        );
        assert!((s.submission("a").unwrap().score - 0.5).abs() < 1e-15);
        assert_eq!(s.submission("b").unwrap().score, 0.0);
        assert_eq!(s.ranking()[0].name, "a");
        // the step view
        let g = score(&logs, &workloads(), "global_step").unwrap();
        assert_eq!(
            g.submission("a").unwrap().workloads["w"].time_to_target,
            200.0
        );
        assert!(has_column(&logs, "global_step") && !has_column(&logs, "steps"));
        let e = score(&logs, &workloads(), "steps").unwrap_err().to_string();
        assert!(e.contains("no column `steps`"), "{e}");
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["best"]["v"], serde_json::Value::Null);
        assert_eq!(
            j["submissions"][1]["workloads"]["w"]["ratio"],
            serde_json::Value::Null
        );
    }
}
