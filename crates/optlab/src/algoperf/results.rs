//! The results directory: its version marker, the plan, the finished-trial markers and the
//! status of a benchmark.
//!
//! ```text
//! DIR/optlab-algoperf.json          {"format": "optlab-algoperf-results", "version": 1, ...}
//! DIR/plan.json                     the full trial list (every shard writes the same one)
//! DIR/workloads.json                targets of the workloads run (written by the runner)
//! DIR/<submission>/submission.toml  the submission file the trials ran
//! DIR/<submission>/study_<k>/<workload>_optlab/trial_<j>/
//!     eval_measurements.csv, hparams.json, meta_data_0.json, flags_0.json,
//!     trial_done.json               written last: the trial is finished
//! ```
//!
//! The rules that make runs idempotent and shardable:
//!
//! - a trial is **finished** when `trial_done.json` exists (it is written atomically after
//!   everything else); a finished trial is skipped;
//! - a trial directory without it was **started and not finished**: running in another process,
//!   or interrupted; [`ResultsDir::begin`] deletes it and the trial restarts from scratch (no
//!   resumption: its time would not be comparable);
//! - the marker's `version` must be [`FORMAT_VERSION`]: a directory written by an incompatible
//!   optlab is refused with a clear error instead of being mixed with new results;
//! - `plan.json` and each `submission.toml` are written once; a later run with a different plan
//!   or a changed submission file is refused (its results would not belong together).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::logs::{self, MEASUREMENTS_FILE};
use super::study::{Plan, Trial};
use super::{AlgoPerfError, format_err, io_err, read_json, write_atomic, write_json};

/// The version marker's file name.
pub const MARKER_FILE: &str = "optlab-algoperf.json";
/// The plan's file name.
pub const PLAN_FILE: &str = "plan.json";
/// A finished trial's marker (written last).
pub const DONE_FILE: &str = "trial_done.json";
/// The submission file copied into `DIR/<submission>/`.
pub const SUBMISSION_FILE: &str = "submission.toml";
/// The marker's `format`.
pub const FORMAT: &str = "optlab-algoperf-results";
/// The results-directory format this optlab reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// `optlab-algoperf.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the optlab that created the directory.
    pub version: u32,
    /// The optlab version that created it.
    pub optlab: String,
}

/// `plan.json`: the whole benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    /// Studies per workload.
    pub studies: u32,
    /// Trials per study.
    pub trials_per_study: u32,
    /// The plan's seed.
    pub seed: u32,
    /// Submission names, in order.
    pub submissions: Vec<String>,
    /// Workload names, in order.
    pub workloads: Vec<String>,
    /// Every trial.
    pub trials: Vec<Trial>,
}

/// Why a trial stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// An evaluation met the validation target.
    TargetReached,
    /// The step budget was used up.
    StepBudget,
    /// The time budget (accumulated submission time) was used up.
    TimeBudget,
    /// The target metric became NaN or infinite (the trial cannot reach the target any more).
    Diverged,
}

/// `trial_done.json`: a finished trial's summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialDone {
    /// Why it stopped.
    pub stop: StopReason,
    /// Whether an evaluation met the target.
    pub reached_target: bool,
    /// Evaluations logged.
    pub evals: usize,
    /// Steps taken.
    pub global_step: u64,
    /// Training time in seconds (AlgoPerf's `accumulated_submission_time`).
    pub accumulated_submission_time: f64,
    /// Evaluation time in seconds.
    pub accumulated_eval_time: f64,
    /// Wall time of the trial in seconds.
    pub total_duration: f64,
    /// The training seed.
    pub seed: u64,
    /// The optlab version that ran it.
    pub optlab: String,
}

/// What is on disk for a trial.
#[derive(Clone, Debug, PartialEq)]
pub enum TrialState {
    /// Finished (its marker).
    Finished(TrialDone),
    /// Its directory exists without a marker: running elsewhere or interrupted.
    Started,
    /// Nothing yet.
    New,
}

/// A results directory.
#[derive(Clone, Debug)]
pub struct ResultsDir {
    root: PathBuf,
}

fn check_marker(path: &Path) -> Result<Marker, AlgoPerfError> {
    let m: Marker = read_json(path)?;
    if m.format != FORMAT {
        return Err(format_err(
            path,
            format!("`format` is `{}`, expected `{FORMAT}`", m.format),
        ));
    }
    if m.version != FORMAT_VERSION {
        return Err(AlgoPerfError::Version {
            path: path.display().to_string(),
            found: m.version,
            expected: FORMAT_VERSION,
        });
    }
    Ok(m)
}

impl ResultsDir {
    /// Opens `root` for writing: creates it with a marker, or checks the marker of an existing
    /// one. A non-empty directory without a marker is refused (it is not ours).
    pub fn create(root: &Path) -> Result<ResultsDir, AlgoPerfError> {
        let marker = root.join(MARKER_FILE);
        let dir = ResultsDir {
            root: root.to_path_buf(),
        };
        if marker.is_file() {
            check_marker(&marker)?;
            return Ok(dir);
        }
        if root.is_dir() {
            // Shards started together race to create the marker: another process's
            // half-written marker (its temporary file) does not make the directory foreign.
            let tmp_prefix = format!(".{MARKER_FILE}.");
            let mut entries = std::fs::read_dir(root).map_err(|e| io_err(root, e))?;
            let foreign = entries.any(|e| match e {
                Ok(e) => !e.file_name().to_string_lossy().starts_with(&tmp_prefix),
                Err(_) => true,
            });
            if marker.is_file() {
                check_marker(&marker)?;
                return Ok(dir);
            }
            if foreign {
                return Err(AlgoPerfError::Invalid(format!(
                    "{}: exists, is not empty and has no {MARKER_FILE}: not an optlab \
                     algoperf results directory; choose another --out",
                    root.display()
                )));
            }
        }
        std::fs::create_dir_all(root).map_err(|e| io_err(root, e))?;
        write_json(
            &marker,
            &Marker {
                format: FORMAT.into(),
                version: FORMAT_VERSION,
                optlab: env!("CARGO_PKG_VERSION").into(),
            },
        )?;
        Ok(dir)
    }

    /// Opens an existing directory for reading: its marker is checked when present (AlgoPerf's
    /// own result trees have none).
    pub fn open(root: &Path) -> Result<(ResultsDir, Option<Marker>), AlgoPerfError> {
        if !root.is_dir() {
            return Err(io_err(root, "not a directory"));
        }
        let marker = root.join(MARKER_FILE);
        let m = if marker.is_file() {
            Some(check_marker(&marker)?)
        } else {
            None
        };
        Ok((
            ResultsDir {
                root: root.to_path_buf(),
            },
            m,
        ))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `plan.json` and each submission's `submission.toml` (`sources`: name → text), or
    /// checks that those already there are the same.
    pub fn write_plan(
        &self,
        plan: &PlanFile,
        sources: &[(String, String)],
    ) -> Result<(), AlgoPerfError> {
        let path = self.root.join(PLAN_FILE);
        if path.is_file() {
            let old: PlanFile = read_json(&path)?;
            if old != *plan {
                return Err(AlgoPerfError::Invalid(format!(
                    "{}: holds a different plan (submissions {:?}, workloads {:?}, {} studies × \
                     {} trials, seed {}); write this one to another --out",
                    path.display(),
                    old.submissions,
                    old.workloads,
                    old.studies,
                    old.trials_per_study,
                    old.seed
                )));
            }
        } else {
            write_json(&path, plan)?;
        }
        for (name, text) in sources {
            let dir = self.root.join(name);
            std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
            let p = dir.join(SUBMISSION_FILE);
            if p.is_file() {
                let old = std::fs::read_to_string(&p).map_err(|e| io_err(&p, e))?;
                if old != *text {
                    return Err(AlgoPerfError::Invalid(format!(
                        "{}: submission `{name}` differs from the file its trials ran with; \
                         write to another --out",
                        p.display()
                    )));
                }
            } else {
                write_atomic(&p, text.as_bytes())?;
            }
        }
        Ok(())
    }

    /// [`write_plan`](Self::write_plan) for `plan` with its expanded `trials`.
    pub fn write_plan_of(&self, plan: &Plan, trials: &[Trial]) -> Result<(), AlgoPerfError> {
        let file = PlanFile {
            studies: plan.studies,
            trials_per_study: plan.trials,
            seed: plan.seed,
            submissions: plan.submissions.iter().map(|s| s.name.clone()).collect(),
            workloads: plan.workloads.clone(),
            trials: trials.to_vec(),
        };
        let sources: Vec<(String, String)> = plan
            .submissions
            .iter()
            .map(|s| (s.name.clone(), s.source.clone()))
            .collect();
        self.write_plan(&file, &sources)
    }

    /// `plan.json`, if written.
    pub fn read_plan(&self) -> Result<Option<PlanFile>, AlgoPerfError> {
        let path = self.root.join(PLAN_FILE);
        if path.is_file() {
            read_json(&path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The trial's directory.
    pub fn trial_dir(&self, t: &Trial) -> PathBuf {
        logs::trial_dir(&self.root, &t.submission, t.study, &t.workload, t.trial)
    }

    /// What is on disk for `t`.
    pub fn state(&self, t: &Trial) -> Result<TrialState, AlgoPerfError> {
        state_of(&self.trial_dir(t))
    }

    /// Prepares `t` to run: an empty trial directory (a started, unfinished one is deleted);
    /// an error for a finished trial.
    pub fn begin(&self, t: &Trial) -> Result<PathBuf, AlgoPerfError> {
        let dir = self.trial_dir(t);
        match state_of(&dir)? {
            TrialState::Finished(_) => {
                return Err(AlgoPerfError::Invalid(format!(
                    "{}: finished already (delete {} to rerun it)",
                    t.label(),
                    dir.join(DONE_FILE).display()
                )));
            }
            TrialState::Started => {
                std::fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
            }
            TrialState::New => {}
        }
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(dir)
    }

    /// Marks `t` finished (the last file written).
    pub fn finish(&self, t: &Trial, done: &TrialDone) -> Result<(), AlgoPerfError> {
        write_json(&self.trial_dir(t).join(DONE_FILE), done)
    }

    /// What is done, per submission and workload: from the plan when there is one, and from
    /// the trial directories on disk.
    pub fn status(&self) -> Result<Status, AlgoPerfError> {
        let plan = self.read_plan()?;
        // (submission, workload, planned?, state), planned trials first
        let mut seen = std::collections::BTreeSet::new();
        let mut entries = Vec::new();
        if let Some(p) = &plan {
            for t in &p.trials {
                let dir = self.trial_dir(t);
                entries.push((
                    t.submission.clone(),
                    t.workload.clone(),
                    true,
                    state_of(&dir)?,
                ));
                seen.insert(dir);
            }
        }
        for (sub, wl, dir) in scan(&self.root)? {
            if !seen.contains(&dir) {
                entries.push((sub, wl, false, state_of(&dir)?));
            }
        }
        let mut rows: Vec<StatusRow> = Vec::new();
        let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (sub, wl, planned, state) in entries {
            let i = *index.entry((sub.clone(), wl.clone())).or_insert_with(|| {
                rows.push(StatusRow {
                    submission: sub,
                    workload: wl,
                    ..Default::default()
                });
                rows.len() - 1
            });
            let r = &mut rows[i];
            r.planned += usize::from(planned);
            count(r, state);
        }
        Ok(Status { plan, rows })
    }
}

fn count(r: &mut StatusRow, s: TrialState) {
    match s {
        TrialState::Finished(d) => {
            r.finished += 1;
            if d.reached_target {
                r.reached_target += 1;
            }
        }
        TrialState::Started => r.started += 1,
        TrialState::New => {}
    }
}

/// The state of a trial directory.
pub fn state_of(dir: &Path) -> Result<TrialState, AlgoPerfError> {
    let done = dir.join(DONE_FILE);
    if done.is_file() {
        return Ok(TrialState::Finished(read_json(&done)?));
    }
    if dir.is_dir() {
        Ok(TrialState::Started)
    } else {
        Ok(TrialState::New)
    }
}

/// Every `<submission>/study_<k>/<workload>_<framework>/trial_<j>` directory under `root`.
fn scan(root: &Path) -> Result<Vec<(String, String, PathBuf)>, AlgoPerfError> {
    let mut out = Vec::new();
    let dirs = |p: &Path| -> Result<Vec<(String, PathBuf)>, AlgoPerfError> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(p).map_err(|e| io_err(p, e))? {
            let e = e.map_err(|e| io_err(p, e))?;
            if e.path().is_dir() {
                v.push((e.file_name().to_string_lossy().into_owned(), e.path()));
            }
        }
        v.sort();
        Ok(v)
    };
    for (sub, sp) in dirs(root)? {
        for (study, stp) in dirs(&sp)? {
            if !study.starts_with("study_") {
                continue;
            }
            for (wd, wp) in dirs(&stp)? {
                let Some((wl, _)) = logs::split_workload_dir(&wd) else {
                    continue;
                };
                for (td, tp) in dirs(&wp)? {
                    if td.starts_with("trial_")
                        && (tp.join(MEASUREMENTS_FILE).is_file() || tp.join(DONE_FILE).is_file())
                    {
                        out.push((sub.clone(), wl.to_string(), tp));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// One line of `optlab algoperf status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatusRow {
    /// Submission.
    pub submission: String,
    /// Workload.
    pub workload: String,
    /// Trials in the plan (0 without a plan).
    pub planned: usize,
    /// Finished trials.
    pub finished: usize,
    /// Finished trials that reached the target.
    pub reached_target: usize,
    /// Started and not finished: running in another process, or interrupted (restarted on the
    /// next run).
    pub started: usize,
}

impl StatusRow {
    /// Planned trials not started yet.
    pub fn pending(&self) -> usize {
        self.planned.saturating_sub(self.finished + self.started)
    }
}

/// The status of a results directory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    /// The plan, when written.
    pub plan: Option<PlanFile>,
    /// Per (submission, workload), in plan order then directory order.
    pub rows: Vec<StatusRow>,
}
