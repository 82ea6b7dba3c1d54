//! The fields every experiment file has, at its top level: name, seeds, budget, logging cadence,
//! `[target]` and `[plot]`. `optlab run` specs and `optlab train` configs flatten [`Common`] into
//! themselves and validate it with [`Common::validate`]; where the two commands need different
//! defaults (seeds, budget, cadence, x-axis) the field is optional and each command documents its
//! default.

use serde::{Deserialize, Serialize};

use super::ExperimentError;
use crate::record::{Direction, XAxis};

/// The common top-level fields of an experiment file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Common {
    /// Name: the run directory is `runs/<name>/` unless `--out` names one (default
    /// `"experiment"`); letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// First seed; runs use `seed, seed + 1, ...` (default 0).
    pub seed: u64,
    /// Runs per method, 1..=100000 (default: 10 for `optlab run`, 1 for `optlab train`, which
    /// trains one seed per invocation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeds: Option<u64>,
    /// Budget in optimizer steps (also spelled `iterations`).
    #[serde(alias = "iterations", skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Budget in passes over the training data instead (exclusive with `steps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<f64>,
    /// Log a record every k steps (exclusive with `log_points`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_every: Option<u64>,
    /// Log at about this many log-spaced steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_points: Option<u64>,
    /// A target whose first hit is reported (time to target), optionally ending the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
    /// Plot options.
    pub plot: PlotSpec,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            name: "experiment".into(),
            seed: 0,
            seeds: None,
            steps: None,
            epochs: None,
            log_every: None,
            log_points: None,
            target: None,
            plot: PlotSpec::default(),
        }
    }
}

/// `[target]`: a threshold on a metric column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// A metric column of the records (the command's schema), e.g. `"val_acc"` or `"subopt"`.
    pub metric: String,
    /// The threshold (finite).
    pub threshold: f64,
    /// `"below"` (reached at ≤) or `"above"` (reached at ≥); default: the direction the metric
    /// declares (losses below, accuracies above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// End each run at its first record reaching the target (default false: run the budget).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop: bool,
}

/// `[plot]`: how the curves are drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlotSpec {
    /// Metric of `convergence.png` (`optlab run`: default `subopt` when f* is known, else
    /// `loss`; `optlab train`: no such plot unless set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// x-axis: `"iterations"`, `"epochs"`, `"seconds"` or `"grad_evals"` (default: `epochs` for
    /// `optlab run`, `iterations` for `optlab train`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_axis: Option<XAxis>,
    /// Title (default: the problem's description, or `"<name> — <optimizer>"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Also draw `<metric>_avg` of averaging methods, dashed (default true).
    pub averages: bool,
}

impl Default for PlotSpec {
    fn default() -> Self {
        PlotSpec {
            metric: None,
            x_axis: None,
            title: None,
            averages: true,
        }
    }
}

impl Common {
    /// The field names (for the unknown-field check of files that flatten `Common`).
    pub const FIELDS: &'static [&'static str] = &[
        "name",
        "seed",
        "seeds",
        "steps",
        "iterations",
        "epochs",
        "log_every",
        "log_points",
        "target",
        "plot",
    ];

    /// Checks every field (ranges, exclusive pairs, the name as a directory name).
    pub fn validate(&self) -> Result<(), ExperimentError> {
        let name_ok = !self.name.is_empty()
            && !self.name.starts_with('.')
            && self
                .name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(ExperimentError::invalid(
                "name",
                format!("{:?}", self.name),
                "letters, digits, '-', '_' and '.' (it names the output directory)",
            ));
        }
        if let Some(s) = self.seeds
            && !(1..=100_000).contains(&s)
        {
            return Err(ExperimentError::invalid("seeds", s, "in 1..=100000"));
        }
        check_budget("", self.steps, self.epochs)?;
        check_cadence(self.log_every, self.log_points)?;
        if let Some(t) = &self.target
            && !t.threshold.is_finite()
        {
            return Err(ExperimentError::invalid(
                "target.threshold",
                t.threshold,
                "a finite number",
            ));
        }
        Ok(())
    }

    /// Runs per method: `seeds`, or the command's `default`.
    pub fn seeds_or(&self, default: u64) -> u64 {
        self.seeds.unwrap_or(default)
    }
}

/// Checks a budget (`prefix` locates it, e.g. `"methods[1]."`): `steps` ≤ 1e9 and `epochs`
/// finite and > 0, not both.
pub fn check_budget(
    prefix: &str,
    steps: Option<u64>,
    epochs: Option<f64>,
) -> Result<(), ExperimentError> {
    if steps.is_some() && epochs.is_some() {
        return Err(ExperimentError::message(format!(
            "set only one of `{prefix}iterations` and `{prefix}epochs` (`steps` is `iterations`)"
        )));
    }
    if let Some(e) = epochs
        && !(e.is_finite() && e > 0.0)
    {
        return Err(ExperimentError::invalid(
            format!("{prefix}epochs"),
            e,
            "finite and > 0",
        ));
    }
    if let Some(s) = steps
        && s > 1_000_000_000
    {
        return Err(ExperimentError::invalid(
            format!("{prefix}iterations"),
            s,
            "≤ 1e9",
        ));
    }
    Ok(())
}

fn check_cadence(every: Option<u64>, points: Option<u64>) -> Result<(), ExperimentError> {
    if every.is_some() && points.is_some() {
        return Err(ExperimentError::message(
            "set only one of `log_every` and `log_points`",
        ));
    }
    if every == Some(0) {
        return Err(ExperimentError::invalid("log_every", 0, "≥ 1"));
    }
    if let Some(p) = points
        && p < 2
    {
        return Err(ExperimentError::invalid(
            "log_points",
            p,
            "≥ 2 (the first and the last iteration)",
        ));
    }
    Ok(())
}

/// Steps at which to log: `0, every, 2·every, ..., total`, or about `points` log-spaced steps
/// (default 200) — always including 0 and `total`.
pub fn log_schedule(total: u64, every: Option<u64>, points: Option<u64>) -> Vec<u64> {
    let mut out: Vec<u64> = match every {
        Some(e) => (0..=total).step_by(e.max(1) as usize).collect(),
        None => {
            let p = points.unwrap_or(200).max(2);
            if total < p {
                (0..=total).collect()
            } else {
                let lt = (total as f64).ln();
                (0..p)
                    .map(|j| (j as f64 / (p - 1) as f64 * lt).exp().round() as u64)
                    .collect()
            }
        }
    };
    out.push(0);
    out.push(total);
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_validation_names_the_field() {
        let ok = Common::default();
        assert!(ok.validate().is_ok());
        let bad = |c: Common| c.validate().unwrap_err().to_string();
        let e = bad(Common {
            name: "a/b".into(),
            ..Common::default()
        });
        assert!(e.contains("`name`"), "{e}");
        let e = bad(Common {
            seeds: Some(0),
            ..Common::default()
        });
        assert!(e.contains("`seeds`"), "{e}");
        let e = bad(Common {
            steps: Some(5),
            epochs: Some(1.0),
            ..Common::default()
        });
        assert!(e.contains("only one of `iterations` and `epochs`"), "{e}");
        let e = bad(Common {
            log_every: Some(2),
            log_points: Some(3),
            ..Common::default()
        });
        assert!(e.contains("log_every") && e.contains("log_points"), "{e}");
        let e = bad(Common {
            target: Some(TargetSpec {
                metric: "loss".into(),
                threshold: f64::NAN,
                direction: None,
                stop: false,
            }),
            ..Common::default()
        });
        assert!(e.contains("target.threshold"), "{e}");
    }

    #[test]
    fn field_list_matches_the_struct() {
        // every serialized field is listed (with everything set, nothing is skipped)
        let full = Common {
            seeds: Some(1),
            steps: Some(1),
            epochs: Some(1.0),
            log_every: Some(1),
            log_points: Some(2),
            target: Some(TargetSpec {
                metric: "loss".into(),
                threshold: 0.0,
                direction: Some(Direction::Below),
                stop: true,
            }),
            ..Common::default()
        };
        let v = serde_json::to_value(&full).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        for k in &keys {
            assert!(Common::FIELDS.contains(&k.as_str()), "{k} not in FIELDS");
        }
        assert_eq!(
            keys.len() + 1,
            Common::FIELDS.len(),
            "FIELDS = keys + the alias"
        );
    }

    #[test]
    fn log_schedules_include_first_and_last() {
        assert_eq!(log_schedule(10, Some(4), None), vec![0, 4, 8, 10]);
        assert_eq!(log_schedule(3, None, Some(10)), vec![0, 1, 2, 3]);
        let l = log_schedule(1_000_000, None, Some(50));
        assert_eq!((l[0], l[1], *l.last().unwrap()), (0, 1, 1_000_000));
        assert!(l.len() <= 51 && l.len() > 30);
        assert!(l.windows(2).all(|w| w[0] < w[1]));
    }
}
