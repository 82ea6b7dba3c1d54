//! `workloads.json`: the validation metric, target and goal of each base workload.
//!
//! ```json
//! { "doc": "...",
//!   "workloads": {
//!     "mnist_mlp": { "metric": "validation/accuracy", "target": 0.97, "minimize": false },
//!     "char_gpt":  { "metric": "validation/loss", "target": 2.0, "minimize": true } } }
//! ```
//!
//! A target is met when `metric ≤ target` (minimize) or `metric ≥ target` (maximize); NaN never
//! meets it. `minimize` may be left out for AlgoPerf's metric names: the goal is then inferred as
//! AlgoPerf's `check_if_minimized` does (`loss`, `ce_loss`, `error_rate`, `ctc_loss`, `wer`,
//! `l1_loss` are minimized; `accuracy`, `mean_average_precision`, `ssim`, `bleu` maximized).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{AlgoPerfError, format_err, read_json, write_json};

/// The file name in a results directory.
pub const WORKLOADS_FILE: &str = "workloads.json";

/// A workload's validation target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadTarget {
    /// The `eval_measurements.csv` column compared with the target (`validation/accuracy`).
    pub metric: String,
    /// The target value.
    pub target: f64,
    /// Whether smaller is better (default: inferred from the metric name, as AlgoPerf does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimize: Option<bool>,
}

const MIN_METRICS: [&str; 6] = [
    "ce_loss",
    "error_rate",
    "ctc_loss",
    "wer",
    "l1_loss",
    "loss",
];
const MAX_METRICS: [&str; 4] = ["mean_average_precision", "ssim", "accuracy", "bleu"];

/// AlgoPerf's `check_if_minimized`: the first of `train/<m>`, `validation/<m>` (minimized
/// metrics first) contained in the column name decides; `None` when none is.
pub fn infer_minimize(metric: &str) -> Option<bool> {
    let name = metric.replace("best_", "").replace("final_", "");
    let keys = |ms: &'static [&'static str], min: bool| {
        ["train", "validation"]
            .into_iter()
            .flat_map(move |split| ms.iter().map(move |m| (format!("{split}/{m}"), min)))
    };
    keys(&MIN_METRICS, true)
        .chain(keys(&MAX_METRICS, false))
        .find(|(k, _)| name.contains(k.as_str()))
        .map(|(_, min)| min)
}

impl WorkloadTarget {
    /// Whether the metric is minimized (explicit, else inferred; an error when neither).
    pub fn minimizes(&self) -> Result<bool, String> {
        self.minimize
            .or_else(|| infer_minimize(&self.metric))
            .ok_or_else(|| {
                format!(
                    "cannot tell whether `{}` is minimized: set `minimize` (true or false)",
                    self.metric
                )
            })
    }

    /// Whether `value` meets the target (`false` for NaN).
    pub fn reached(&self, value: f64, minimize: bool) -> bool {
        if minimize {
            value <= self.target
        } else {
            value >= self.target
        }
    }
}

/// The contents of `workloads.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadsFile {
    /// A description (how the targets were obtained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Base workloads by name (the workload directory name without `_<framework>`).
    pub workloads: BTreeMap<String, WorkloadTarget>,
}

impl WorkloadsFile {
    /// Reads and validates `path`.
    pub fn read(path: &Path) -> Result<WorkloadsFile, AlgoPerfError> {
        let f: WorkloadsFile = read_json(path)?;
        f.validate().map_err(|m| format_err(path, m))?;
        Ok(f)
    }

    /// Checks every workload: a metric name, a finite target, a known goal; at least one.
    pub fn validate(&self) -> Result<(), String> {
        if self.workloads.is_empty() {
            return Err("`workloads` is empty".into());
        }
        for (name, w) in &self.workloads {
            if w.metric.trim().is_empty() {
                return Err(format!("workloads.{name}.metric is empty"));
            }
            if !w.target.is_finite() {
                return Err(format!(
                    "workloads.{name}.target must be a finite number, got {}",
                    w.target
                ));
            }
            w.minimizes()
                .map_err(|m| format!("workloads.{name}.minimize: {m}"))?;
        }
        Ok(())
    }

    /// Writes `path` (pretty JSON).
    pub fn write(&self, path: &Path) -> Result<(), AlgoPerfError> {
        write_json(path, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_are_inferred_like_algoperf() {
        assert_eq!(infer_minimize("validation/loss"), Some(true));
        assert_eq!(infer_minimize("validation/ce_loss"), Some(true));
        assert_eq!(infer_minimize("validation/wer"), Some(true));
        assert_eq!(infer_minimize("validation/accuracy"), Some(false));
        assert_eq!(infer_minimize("validation/ssim"), Some(false));
        assert_eq!(infer_minimize("best_validation/bleu"), Some(false));
        assert_eq!(infer_minimize("validation/perplexity"), None);
    }

    #[test]
    fn files_validate_and_name_the_field() {
        let ok: WorkloadsFile = serde_json::from_str(
            r#"{"workloads": {"a": {"metric": "validation/accuracy", "target": 0.9}}}"#,
        )
        .unwrap();
        assert!(ok.validate().is_ok());
        let w = &ok.workloads["a"];
        assert!(!w.minimizes().unwrap());
        assert!(w.reached(0.9, false) && !w.reached(f64::NAN, false));
        let bad: WorkloadsFile = serde_json::from_str(
            r#"{"workloads": {"a": {"metric": "validation/perplexity", "target": 10}}}"#,
        )
        .unwrap();
        let e = bad.validate().unwrap_err();
        assert!(e.contains("workloads.a.minimize"), "{e}");
        let e = serde_json::from_str::<WorkloadsFile>(
            r#"{"workloads": {"a": {"metric": "m", "target": 1, "goal": "min"}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `goal`"), "{e}");
    }
}
