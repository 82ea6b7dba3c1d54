//! The metric columns of a training run's records, declared once: name, label (plots) and the
//! direction in which a `[target]` on them is reached.
//!
//! `loss` and `grad_norm` (the global gradient norm before clipping) are the minibatch's, logged
//! every `log_every` steps; `train_*` (fixed training batches) and `val_*` (the validation set)
//! come from the evaluations, every `eval_every` steps and at the end, at the optimizer's
//! evaluation parameters ([`eval_params`](optlab::Optimizer::eval_params): the average of the
//! iterates under `averaging`). `NaN` where not measured.

use optlab::record::{Column, Direction, Metric, Schema};

/// Names of the metric columns, in order.
pub const METRICS: [&str; 6] = [
    "loss",
    "grad_norm",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
];

/// The declared schema of [`METRICS`].
pub fn schema() -> Schema {
    let below = |n: &str, l: &str| Metric::new(n, l, Direction::Below);
    let above = |n: &str, l: &str| Metric::new(n, l, Direction::Above);
    // distinct names, none a fixed column: cannot fail
    Schema::new(vec![
        below("loss", "minibatch loss"),
        below("grad_norm", "gradient norm"),
        below("train_loss", "training loss"),
        above("train_acc", "training accuracy"),
        below("val_loss", "validation loss"),
        above("val_acc", "validation accuracy"),
    ])
    .unwrap_or_default()
}

/// Column handles of [`schema`].
#[derive(Clone, Copy, Debug)]
pub struct Columns {
    /// Minibatch loss.
    pub loss: Column,
    /// Gradient norm before clipping.
    pub grad_norm: Column,
    /// Loss on the fixed training batches.
    pub train_loss: Column,
    /// Accuracy on the fixed training batches.
    pub train_acc: Column,
    /// Validation loss.
    pub val_loss: Column,
    /// Validation accuracy.
    pub val_acc: Column,
}

impl Columns {
    /// The handles of `schema` (which must be [`schema`]'s).
    pub fn of(schema: &Schema) -> Result<Self, optlab::record::RecordError> {
        Ok(Columns {
            loss: schema.column("loss")?,
            grad_norm: schema.column("grad_norm")?,
            train_loss: schema.column("train_loss")?,
            train_acc: schema.column("train_acc")?,
            val_loss: schema.column("val_loss")?,
            val_acc: schema.column("val_acc")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_declared_in_order() {
        let s = schema();
        assert!(s.names().eq(METRICS));
        let c = Columns::of(&s).unwrap();
        assert_eq!(s.metric(c.val_acc).direction, Some(Direction::Above));
        assert_eq!(s.metric(c.train_loss).direction, Some(Direction::Below));
    }
}
