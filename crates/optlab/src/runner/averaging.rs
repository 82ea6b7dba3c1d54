//! Iterate averaging, reported alongside the last iterate.
//!
//! ```text
//! uniform         x̄_k = (1/k) Σ_{t<k} x_t
//! step_weighted   x̄_k = Σ_{t<k} α_t x_t / Σ_{t<k} α_t        (the lecture's weighting)
//! ```
//!
//! where x_t is the iterate at which step t (size α_t) was taken; x̄_0 = x_0. The sums are kept in
//! f64 whatever the precision of the run. Averaging does not change the iterates: the runner
//! evaluates f(x̄_k) into the extra record columns `loss_avg` and `subopt_avg`.

use serde::{Deserialize, Serialize};

use crate::scalar::Scalar;

/// Which average of the iterates to report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Averaging {
    /// No averaging (default).
    #[default]
    None,
    /// x̄_k = (1/k) Σ_{t<k} x_t.
    Uniform,
    /// x̄_k = Σ_{t<k} α_t x_t / Σ_{t<k} α_t.
    StepWeighted,
}

/// Running weighted sum of iterates.
#[derive(Clone, Debug)]
pub struct Averager {
    kind: Averaging,
    sum: Vec<f64>,
    weight: f64,
}

impl Averager {
    /// An empty average over vectors of length `dim`.
    pub fn new(kind: Averaging, dim: usize) -> Self {
        Averager {
            kind,
            sum: vec![0.0; if kind == Averaging::None { 0 } else { dim }],
            weight: 0.0,
        }
    }

    /// Whether anything is averaged.
    pub fn enabled(&self) -> bool {
        self.kind != Averaging::None
    }

    /// Adds the iterate `x_t` at which a step of size `alpha` was taken.
    pub fn add<T: Scalar>(&mut self, x: &[T], alpha: f64) {
        let w = match self.kind {
            Averaging::None => return,
            Averaging::Uniform => 1.0,
            Averaging::StepWeighted => alpha,
        };
        for (s, v) in self.sum.iter_mut().zip(x) {
            *s += w * v.as_f64();
        }
        self.weight += w;
    }

    /// x̄ into `out`; `x0` when nothing (or only zero weight) has been added yet.
    pub fn current<T: Scalar>(&self, x0: &[T], out: &mut [T]) {
        if self.weight > 0.0 {
            for (o, s) in out.iter_mut().zip(&self.sum) {
                *o = T::of(s / self.weight);
            }
        } else {
            out.copy_from_slice(x0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_and_uniform_averages() {
        let mut u = Averager::new(Averaging::Uniform, 1);
        let mut w = Averager::new(Averaging::StepWeighted, 1);
        for (x, a) in [(1.0f64, 1.0), (4.0, 0.5), (7.0, 0.5)] {
            u.add(&[x], a);
            w.add(&[x], a);
        }
        let mut out = [0.0];
        u.current(&[9.0], &mut out);
        assert_eq!(out, [4.0]);
        w.current(&[9.0], &mut out);
        assert_eq!(out, [(1.0 + 2.0 + 3.5) / 2.0]);
        let n = Averager::new(Averaging::StepWeighted, 1);
        n.current(&[9.0], &mut out);
        assert_eq!(out, [9.0]);
        assert!(!Averager::new(Averaging::None, 3).enabled());
    }
}
