//! `[target]` resolved against a records [`Schema`]: the metric must be one of its columns (an
//! error lists them), and the direction is the one the metric declares unless the file sets it.
//! Time to target is the first logged record that reaches the threshold, on every x-axis.

use serde::{Deserialize, Serialize};

use super::{ExperimentError, TargetSpec};
use crate::record::{Column, Direction, Record, Records, Schema, Stats, XAxis};

/// A target on a column of a known schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The metric's name.
    pub metric: String,
    /// Its column.
    pub column: Column,
    /// The threshold.
    pub threshold: f64,
    /// Reached at ≤ (`Below`) or ≥ (`Above`) the threshold.
    pub direction: Direction,
    /// Whether a run ends at its first hit.
    pub stop: bool,
}

impl Target {
    /// Resolves `spec` against `schema`; `target.metric` must be a column, and a metric without
    /// a declared direction needs `target.direction`.
    pub fn resolve(spec: &TargetSpec, schema: &Schema) -> Result<Self, ExperimentError> {
        let column = schema.column(&spec.metric).map_err(|_| {
            ExperimentError::invalid(
                "target.metric",
                &spec.metric,
                format!("one of {}", schema.names().collect::<Vec<_>>().join(", ")),
            )
        })?;
        let direction = match (spec.direction, schema.metric(column).direction) {
            (Some(d), _) | (None, Some(d)) => d,
            (None, None) => {
                return Err(ExperimentError::invalid(
                    "target.direction",
                    "(none)",
                    format!(
                        "\"below\" or \"above\": `{}` declares no direction",
                        spec.metric
                    ),
                ));
            }
        };
        if !spec.threshold.is_finite() {
            return Err(ExperimentError::invalid(
                "target.threshold",
                spec.threshold,
                "a finite number",
            ));
        }
        Ok(Target {
            metric: spec.metric.clone(),
            column,
            threshold: spec.threshold,
            direction,
            stop: spec.stop,
        })
    }

    /// Whether `r` reaches the target.
    pub fn reached(&self, r: &Record) -> bool {
        let v = r.get(self.column);
        match self.direction {
            Direction::Below => v <= self.threshold,
            Direction::Above => v >= self.threshold,
        }
    }

    /// The first row of `rows` (one run, in logging order) that reaches the target.
    pub fn first_hit<'r>(&self, rows: impl IntoIterator<Item = &'r Record>) -> Option<&'r Record> {
        rows.into_iter().find(|r| self.reached(r))
    }

    /// The report of one run (its rows, in logging order).
    pub fn report<'r>(&self, rows: impl IntoIterator<Item = &'r Record>) -> TargetReport {
        let hit = self.first_hit(rows);
        TargetReport {
            metric: self.metric.clone(),
            threshold: self.threshold,
            direction: self.direction,
            reached: hit.is_some(),
            step: hit.map(|r| r.iteration),
            epoch: hit.map(|r| r.epoch),
            seconds: hit.map(|r| r.time_s),
            grad_evals: hit.map(|r| r.grad_evals),
        }
    }

    /// The summary over the runs of `method` in `records`.
    pub fn summary(&self, records: &Records, method: &str) -> TargetSummary {
        let hits: Vec<Option<&Record>> = records
            .runs()
            .into_iter()
            .filter(|((m, _), _)| m == method)
            .map(|(_, rows)| self.first_hit(rows))
            .collect();
        let reached: Vec<&Record> = hits.iter().flatten().copied().collect();
        let axis = |a: XAxis| Stats::of(reached.iter().map(|r| a.of(r)));
        TargetSummary {
            metric: self.metric.clone(),
            threshold: self.threshold,
            direction: self.direction,
            runs: hits.len(),
            reached: reached.len(),
            step: axis(XAxis::Iterations),
            epoch: axis(XAxis::Epochs),
            seconds: axis(XAxis::Seconds),
            grad_evals: axis(XAxis::GradEvals),
        }
    }
}

/// When one run first reached its target (`summary.json` of `optlab train`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The metric.
    pub metric: String,
    /// The threshold.
    pub threshold: f64,
    /// Reached at ≥ (`above`) or ≤ (`below`) the threshold.
    pub direction: Direction,
    /// Whether some logged value reached it.
    pub reached: bool,
    /// The first logged step at which it was reached.
    pub step: Option<u64>,
    /// The epoch at that step.
    pub epoch: Option<f64>,
    /// The training time (`time_s`) at that step, seconds.
    pub seconds: Option<f64>,
    /// The evaluations (`grad_evals`) at that step.
    #[serde(default)]
    pub grad_evals: Option<u64>,
}

/// Time to target of one method over its runs (`summary.json` of `optlab run`): statistics over
/// the runs that reached it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// The metric.
    pub metric: String,
    /// The threshold.
    pub threshold: f64,
    /// Reached at ≥ (`above`) or ≤ (`below`) the threshold.
    pub direction: Direction,
    /// Runs of the method.
    pub runs: usize,
    /// Runs that reached the target.
    pub reached: usize,
    /// First step reaching it.
    pub step: Option<Stats>,
    /// Epoch at that step.
    pub epoch: Option<Stats>,
    /// `time_s` at that step.
    pub seconds: Option<Stats>,
    /// `grad_evals` at that step.
    pub grad_evals: Option<Stats>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Metric;

    fn schema() -> Schema {
        Schema::new(vec![
            Metric::new("val_loss", "validation loss", Direction::Below),
            Metric::new("val_acc", "validation accuracy", Direction::Above),
            Metric::undeclared("custom"),
        ])
        .unwrap()
    }

    fn spec(metric: &str) -> TargetSpec {
        TargetSpec {
            metric: metric.into(),
            threshold: 0.5,
            direction: None,
            stop: false,
        }
    }

    #[test]
    fn direction_comes_from_the_declaration_not_the_name() {
        let s = schema();
        assert_eq!(
            Target::resolve(&spec("val_acc"), &s).unwrap().direction,
            Direction::Above
        );
        assert_eq!(
            Target::resolve(&spec("val_loss"), &s).unwrap().direction,
            Direction::Below
        );
        // a metric named like an accuracy but declared below is reached below
        let odd = Schema::new(vec![Metric::new("top1_acc_gap", "gap", Direction::Below)]).unwrap();
        assert_eq!(
            Target::resolve(&spec("top1_acc_gap"), &odd)
                .unwrap()
                .direction,
            Direction::Below
        );
        let e = Target::resolve(&spec("custom"), &s)
            .unwrap_err()
            .to_string();
        assert!(e.contains("target.direction"), "{e}");
        let mut explicit = spec("custom");
        explicit.direction = Some(Direction::Above);
        assert!(Target::resolve(&explicit, &s).is_ok());
    }

    #[test]
    fn a_misspelled_metric_lists_the_valid_ones() {
        let e = Target::resolve(&spec("val_accuracy"), &schema())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("target.metric")
                && e.contains("val_accuracy")
                && e.contains("val_loss, val_acc, custom"),
            "{e}"
        );
    }
}
