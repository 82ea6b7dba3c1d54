//! AlgoPerf's log layout: reading and writing `eval_measurements.csv`, `hparams.json`, and whole
//! result trees.
//!
//! ```text
//! DIR/<submission>/study_<k>/<workload>_<framework>/trial_<j>/eval_measurements.csv
//!                                                            /hparams.json
//!                                                            /meta_data_0.json, flags_0.json
//! ```
//!
//! `<framework>` is `jax` or `pytorch` for AlgoPerf's own logs and `optlab` for ours; studies are
//! numbered from 0 and trials from 1, as AlgoPerf's `submission_runner.py` numbers them.
//! `eval_measurements.csv` has one row per evaluation and AlgoPerf's columns in sorted order
//! (as its `MetricLogger` writes them with pandas): `accumulated_eval_time`,
//! `accumulated_logging_time`, `accumulated_submission_time`, `global_step`, `preemption_count`,
//! `score` (= `accumulated_submission_time`), `test/…`, `total_duration`, `train/…`,
//! `validation/…`. Times are seconds. An empty cell (pandas' NaN) is a failed evaluation; `nan`,
//! `inf` and `-inf` are read as such.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{AlgoPerfError, format_err, io_err, write_atomic};

/// File name of a trial's evaluations.
pub const MEASUREMENTS_FILE: &str = "eval_measurements.csv";
/// File name of a trial's hyperparameters (the search-space point), as AlgoPerf writes it.
pub const HPARAMS_FILE: &str = "hparams.json";
/// The framework suffixes recognised in workload directory names.
pub const FRAMEWORKS: [&str; 3] = ["jax", "pytorch", "optlab"];
/// The framework suffix optlab writes.
pub const FRAMEWORK: &str = "optlab";

/// AlgoPerf's timing and bookkeeping columns (every row has them).
pub mod columns {
    /// Seconds spent in evaluations so far (including the current one).
    pub const ACCUMULATED_EVAL_TIME: &str = "accumulated_eval_time";
    /// Seconds spent writing logs before this row.
    pub const ACCUMULATED_LOGGING_TIME: &str = "accumulated_logging_time";
    /// Seconds spent in the submission's training steps (no evaluation, no logging).
    pub const ACCUMULATED_SUBMISSION_TIME: &str = "accumulated_submission_time";
    /// Optimizer steps taken.
    pub const GLOBAL_STEP: &str = "global_step";
    /// Times the trial was preempted and resumed (optlab restarts instead: always 0).
    pub const PREEMPTION_COUNT: &str = "preemption_count";
    /// The time AlgoPerf scores: `accumulated_submission_time`.
    pub const SCORE: &str = "score";
    /// Wall time since the trial started, at the end of this evaluation.
    pub const TOTAL_DURATION: &str = "total_duration";
}

/// `study_<k>`.
pub fn study_dir_name(study: u32) -> String {
    format!("study_{study}")
}

/// `trial_<j>` (AlgoPerf numbers trials from 1).
pub fn trial_dir_name(trial: u32) -> String {
    format!("trial_{trial}")
}

/// `<workload>_optlab`.
pub fn workload_dir_name(workload: &str) -> String {
    format!("{workload}_{FRAMEWORK}")
}

/// `root/<submission>/study_<k>/<workload>_optlab/trial_<j>`.
pub fn trial_dir(root: &Path, submission: &str, study: u32, workload: &str, trial: u32) -> PathBuf {
    root.join(submission)
        .join(study_dir_name(study))
        .join(workload_dir_name(workload))
        .join(trial_dir_name(trial))
}

/// Splits `mnist_jax` into `("mnist", "jax")`; `None` without a known framework suffix.
pub fn split_workload_dir(name: &str) -> Option<(&str, &str)> {
    FRAMEWORKS.iter().find_map(|fw| {
        name.strip_suffix(fw)
            .and_then(|w| w.strip_suffix('_'))
            .filter(|w| !w.is_empty())
            .map(|w| (w, *fw))
    })
}

/// The number in `study_<k>` / `trial_<j>`.
fn numbered(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.parse().ok()
}

/// The contents of one `eval_measurements.csv`: column names and one row of values per
/// evaluation (NaN where a cell is empty or not a number).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvalMeasurements {
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// One row per evaluation, `columns.len()` values each.
    pub rows: Vec<Vec<f64>>,
    /// Cells that were neither empty nor a number: `(row, column, text)` (read as NaN).
    pub non_numeric: Vec<(usize, String, String)>,
}

/// A cell: empty → NaN (a failed evaluation); `nan`/`inf`/`-inf` in any case; otherwise a number.
fn parse_cell(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(f64::NAN);
    }
    match t.to_ascii_lowercase().as_str() {
        "nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => t.parse().ok(),
    }
}

/// Columns written as integers.
fn integer_column(name: &str) -> bool {
    name == columns::GLOBAL_STEP
        || name == columns::PREEMPTION_COUNT
        || name.ends_with("num_examples")
}

/// A value as pandas writes it: NaN → empty, integers in integer columns without a decimal
/// point, other numbers with the shortest representation that reads back exactly.
fn format_cell(column: &str, v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if integer_column(column) && v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{v:.0}")
    } else {
        format!("{v:?}")
    }
}

impl EvalMeasurements {
    /// Parses CSV text (`path` names the file in errors). The header is required; a row with a
    /// different number of cells is an error naming its line.
    pub fn parse(text: &str, path: &Path) -> Result<EvalMeasurements, AlgoPerfError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| format_err(path, format!("header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if columns.iter().all(String::is_empty) {
            return Err(format_err(path, "no header line"));
        }
        let mut out = EvalMeasurements {
            columns,
            ..Default::default()
        };
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(i + 2, |p| p.line() as usize);
                format_err(path, format!("line {line}: {e}"))
            })?;
            let mut row = Vec::with_capacity(out.columns.len());
            for (j, cell) in record.iter().enumerate() {
                match parse_cell(cell) {
                    Some(v) => row.push(v),
                    None => {
                        out.non_numeric
                            .push((i, out.columns[j].clone(), cell.to_string()));
                        row.push(f64::NAN);
                    }
                }
            }
            out.rows.push(row);
        }
        Ok(out)
    }

    /// Reads `path`.
    pub fn read(path: &Path) -> Result<EvalMeasurements, AlgoPerfError> {
        let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
        Self::parse(&text, path)
    }

    /// Index of column `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The values of column `name`, one per evaluation.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let j = self.column_index(name)?;
        Some(self.rows.iter().map(|r| r[j]).collect())
    }

    /// Appends one evaluation given as `(column, value)` pairs. A column not seen before is
    /// added (empty in the earlier rows) and the columns are kept in sorted order, as AlgoPerf's
    /// logger writes them; a column this row lacks is left empty.
    pub fn push(&mut self, values: &[(String, f64)]) {
        for (name, _) in values {
            if self.column_index(name).is_none() {
                let at = self.columns.partition_point(|c| c.as_str() < name.as_str());
                self.columns.insert(at, name.clone());
                for row in &mut self.rows {
                    row.insert(at, f64::NAN);
                }
            }
        }
        let mut row = vec![f64::NAN; self.columns.len()];
        for (name, v) in values {
            if let Some(j) = self.column_index(name) {
                row[j] = *v;
            }
        }
        self.rows.push(row);
    }

    /// The CSV text (header, then one line per evaluation).
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        // Writing into a Vec cannot fail; a failed record would only drop that line.
        let _ = w.write_record(&self.columns);
        for row in &self.rows {
            let cells: Vec<String> = self
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| format_cell(c, *v))
                .collect();
            let _ = w.write_record(&cells);
        }
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Writes the CSV atomically (a reader never sees a partial file).
    pub fn write(&self, path: &Path) -> Result<(), AlgoPerfError> {
        write_atomic(path, self.to_csv().as_bytes())
    }
}

/// One trial's logs.
#[derive(Clone, Debug)]
pub struct TrialLog {
    /// Trial number (`trial_<j>`).
    pub trial: u32,
    /// The trial's directory.
    pub dir: PathBuf,
    /// Its evaluations.
    pub measurements: EvalMeasurements,
    /// `hparams.json`, when present.
    pub hparams: Option<Value>,
}

/// The trials of one workload in one study.
#[derive(Clone, Debug)]
pub struct WorkloadLogs {
    /// Framework suffix of the directory (`jax`, `pytorch`, `optlab`).
    pub framework: String,
    /// Trials, by trial number.
    pub trials: Vec<TrialLog>,
}

/// All logs of one submission: study → workload (without the framework suffix) → trials.
#[derive(Clone, Debug, Default)]
pub struct SubmissionLogs {
    /// The submission's name (its directory).
    pub name: String,
    /// Studies by number.
    pub studies: BTreeMap<u32, BTreeMap<String, WorkloadLogs>>,
}

impl SubmissionLogs {
    /// Every workload this submission has logs for, sorted.
    pub fn workloads(&self) -> Vec<String> {
        let mut w: Vec<String> = self
            .studies
            .values()
            .flat_map(|s| s.keys().cloned())
            .collect();
        w.sort();
        w.dedup();
        w
    }

    /// Every trial log, in (study, workload, trial) order.
    pub fn trials(&self) -> impl Iterator<Item = (u32, &str, &TrialLog)> {
        self.studies.iter().flat_map(|(k, ws)| {
            ws.iter()
                .flat_map(move |(w, l)| l.trials.iter().map(move |t| (*k, w.as_str(), t)))
        })
    }
}

/// What [`read_results`] found besides the submissions.
#[derive(Clone, Debug, Default)]
pub struct ReadNotes {
    /// Remarks: directories that are not submissions, trials without measurements, ...
    pub notes: Vec<String>,
}

fn sorted_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, AlgoPerfError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let e = e.map_err(|e| io_err(dir, e))?;
        let p = e.path();
        if p.is_dir() {
            out.push((e.file_name().to_string_lossy().into_owned(), p));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the trials of `<workload>_<framework>/` (directories `trial_<j>` holding an
/// `eval_measurements.csv`; those without one are noted and skipped, as AlgoPerf skips them).
fn read_workload_dir(dir: &Path, notes: &mut ReadNotes) -> Result<Vec<TrialLog>, AlgoPerfError> {
    let mut trials = Vec::new();
    for (name, path) in sorted_dirs(dir)? {
        let Some(trial) = numbered(&name, "trial_") else {
            continue;
        };
        let csv = path.join(MEASUREMENTS_FILE);
        if !csv.is_file() {
            notes.notes.push(format!(
                "{}: no {MEASUREMENTS_FILE}, skipped",
                path.display()
            ));
            continue;
        }
        let measurements = EvalMeasurements::read(&csv)?;
        let hp = path.join(HPARAMS_FILE);
        let hparams = if hp.is_file() {
            Some(super::read_json::<Value>(&hp)?)
        } else {
            None
        };
        trials.push(TrialLog {
            trial,
            dir: path,
            measurements,
            hparams,
        });
    }
    trials.sort_by_key(|t| t.trial);
    Ok(trials)
}

/// Reads one study directory (its `<workload>_<framework>` subdirectories).
fn read_study_dir(
    dir: &Path,
    notes: &mut ReadNotes,
) -> Result<BTreeMap<String, WorkloadLogs>, AlgoPerfError> {
    let mut out: BTreeMap<String, WorkloadLogs> = BTreeMap::new();
    for (name, path) in sorted_dirs(dir)? {
        let Some((workload, framework)) = split_workload_dir(&name) else {
            continue;
        };
        if let Some(prev) = out.get(workload) {
            return Err(format_err(
                dir,
                format!(
                    "workload `{workload}` appears twice ({workload}_{} and {name}); keep one \
                     framework per study",
                    prev.framework
                ),
            ));
        }
        let trials = read_workload_dir(&path, notes)?;
        if trials.is_empty() {
            notes
                .notes
                .push(format!("{}: no trial with measurements", path.display()));
            continue;
        }
        out.insert(
            workload.to_string(),
            WorkloadLogs {
                framework: framework.to_string(),
                trials,
            },
        );
    }
    Ok(out)
}

/// Reads one submission directory: `study_<k>/` subdirectories, or — for a single study as
/// AlgoPerf's `submission_runner.py` writes it without `--experiment_name .../study_k` —
/// workload directories directly (read as study 0).
pub fn read_submission(dir: &Path, notes: &mut ReadNotes) -> Result<SubmissionLogs, AlgoPerfError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut logs = SubmissionLogs {
        name,
        studies: BTreeMap::new(),
    };
    let dirs = sorted_dirs(dir)?;
    let has_studies = dirs.iter().any(|(n, _)| numbered(n, "study_").is_some());
    if has_studies {
        for (n, path) in &dirs {
            if let Some(k) = numbered(n, "study_") {
                let s = read_study_dir(path, notes)?;
                if !s.is_empty() {
                    logs.studies.insert(k, s);
                }
            }
        }
    } else {
        let s = read_study_dir(dir, notes)?;
        if !s.is_empty() {
            logs.studies.insert(0, s);
        }
    }
    Ok(logs)
}

/// Reads every submission under `dir` (each subdirectory with at least one trial); other
/// directories are noted and skipped.
pub fn read_results(
    dir: &Path,
) -> Result<(BTreeMap<String, SubmissionLogs>, ReadNotes), AlgoPerfError> {
    let mut notes = ReadNotes::default();
    let mut out = BTreeMap::new();
    if !dir.is_dir() {
        return Err(io_err(dir, "not a directory"));
    }
    for (name, path) in sorted_dirs(dir)? {
        let logs = read_submission(&path, &mut notes)?;
        if logs.studies.is_empty() {
            notes.notes.push(format!(
                "{}: no study_<k>/<workload>_<framework>/trial_<j>/{MEASUREMENTS_FILE}, not a \
                 submission",
                path.display()
            ));
            continue;
        }
        out.insert(name, logs);
    }
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_directory_names_split_by_framework() {
        assert_eq!(split_workload_dir("mnist_jax"), Some(("mnist", "jax")));
        assert_eq!(
            split_workload_dir("imagenet_resnet_pytorch"),
            Some(("imagenet_resnet", "pytorch"))
        );
        assert_eq!(
            split_workload_dir("mnist_mlp_optlab"),
            Some(("mnist_mlp", "optlab"))
        );
        assert_eq!(split_workload_dir("mnist"), None);
        assert_eq!(split_workload_dir("_jax"), None);
        assert_eq!(split_workload_dir("mnistjax"), None);
        assert_eq!(numbered("study_12", "study_"), Some(12));
        assert_eq!(numbered("study_x", "study_"), None);
        let d = trial_dir(Path::new("out"), "adamw", 2, "logreg", 5);
        assert_eq!(d, Path::new("out/adamw/study_2/logreg_optlab/trial_5"));
    }

    #[test]
    fn empty_cells_nan_and_inf_parse() {
        let text = "global_step,score,validation/loss\n100,1.5,\n200,3.0,nan\n300,4.5,inf\n400,6,-Infinity\n";
        let m = EvalMeasurements::parse(text, Path::new("x.csv")).unwrap();
        assert_eq!(m.rows.len(), 4);
        let loss = m.column("validation/loss").unwrap();
        assert!(loss[0].is_nan() && loss[1].is_nan());
        assert_eq!(loss[2], f64::INFINITY);
        assert_eq!(loss[3], f64::NEG_INFINITY);
        assert_eq!(
            m.column("global_step").unwrap(),
            [100.0, 200.0, 300.0, 400.0]
        );
        assert!(m.non_numeric.is_empty());
        let bad = "a,b\n1,2\n3\n";
        let e = EvalMeasurements::parse(bad, Path::new("x.csv")).unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let odd = EvalMeasurements::parse("a,b\n1,oops\n", Path::new("x.csv")).unwrap();
        assert_eq!(odd.non_numeric, vec![(0, "b".into(), "oops".into())]);
    }

    #[test]
    fn push_keeps_sorted_columns_and_round_trips() {
        let mut m = EvalMeasurements::default();
        m.push(&[
            ("score".into(), 1.25),
            ("global_step".into(), 10.0),
            ("validation/loss".into(), 0.1 + 0.2),
        ]);
        m.push(&[
            ("score".into(), 2.5),
            ("global_step".into(), 20.0),
            ("validation/loss".into(), f64::NAN),
            ("train/loss".into(), 0.5),
        ]);
        assert_eq!(
            m.columns,
            ["global_step", "score", "train/loss", "validation/loss"]
        );
        let text = m.to_csv();
        assert_eq!(
            text,
            "global_step,score,train/loss,validation/loss\n10,1.25,,0.30000000000000004\n20,2.5,0.5,\n"
        );
        let back = EvalMeasurements::parse(&text, Path::new("x.csv")).unwrap();
        assert_eq!(back.columns, m.columns);
        for (a, b) in back.rows.iter().flatten().zip(m.rows.iter().flatten()) {
            assert!(a == b || (a.is_nan() && b.is_nan()));
        }
    }
}
