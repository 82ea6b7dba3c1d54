//! Optimizer step benchmark: warm-up steps, then timed steps on one tensor of N parameters.
//!
//! **Bytes per step** count what the fused elementwise pass must move through memory at the
//! least: it reads x, g and the S per-coordinate state values and writes x and the state, so
//! `bytes = N · B · ((2 + S) + (1 + S)) = N · B · (3 + 2S)` for elements of B bytes (f32: B = 4;
//! Adam: S = 2, 28 bytes per parameter). Effective bandwidth is bytes / median step time. Not
//! counted: the non-finite gradient screen (one more read of g unless the policy is `ignore`)
//! and, for NormalizedGD, the read of g by the norm reduction.

use serde::Serialize;

use super::{Timings, measure, throughput};
use crate::error::OptimError;
use crate::optim::NonFinitePolicy;
use crate::optim::registry::{self, HyperMap};
use crate::param::Param;
use crate::scalar::Scalar;

/// What to benchmark.
#[derive(Clone, Debug)]
pub struct OptimBench {
    /// Registry name (or alias) of the optimizer.
    pub optimizer: String,
    /// Hyperparameters (PyTorch names); empty for the defaults.
    pub hyper: HyperMap,
    /// Number of parameters N (one tensor of shape `[N]`).
    pub params: usize,
    /// Timed steps.
    pub steps: usize,
    /// Untimed warm-up steps (the first one allocates the state).
    pub warmup: usize,
    /// Non-finite gradient policy (the screen costs one read of g unless `Ignore`).
    pub policy: NonFinitePolicy,
}

/// Result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct OptimBenchReport {
    /// Canonical optimizer name.
    pub optimizer: String,
    /// `"f32"` or `"f64"`.
    pub precision: &'static str,
    /// Bytes per element B (4 or 8).
    pub element_bytes: usize,
    /// N.
    pub params: usize,
    /// Per-coordinate state values S.
    pub state_per_param: usize,
    /// Rayon threads available to the step.
    pub threads: usize,
    /// Non-finite policy used.
    pub policy: NonFinitePolicy,
    /// `N · B · (3 + 2S)`.
    pub bytes_per_step: f64,
    /// Median step time, seconds.
    pub median_s: f64,
    /// Fastest step, seconds.
    pub min_s: f64,
    /// Timed steps.
    pub steps: usize,
}

impl OptimBenchReport {
    /// Median milliseconds per step.
    pub fn ms_per_step(&self) -> f64 {
        self.median_s * 1e3
    }

    /// Millions of parameters updated per second (at the median).
    pub fn mparams_per_s(&self) -> f64 {
        throughput(self.params as f64, self.median_s) / 1e6
    }

    /// Effective bandwidth in GB/s (10⁹ bytes) at the median.
    pub fn gb_per_s(&self) -> f64 {
        throughput(self.bytes_per_step, self.median_s) / 1e9
    }
}

/// Deterministic, well-scaled values ±[0.5, 1) (no zeros, NaN or subnormals): a fixed
/// multiplicative hash of the index, so that inputs depend on nothing else.
fn value(i: usize, salt: u64) -> f64 {
    let h = (i as u64 ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let magnitude = 0.5 + 0.5 * ((h >> 11) as f64 / (1u64 << 53) as f64);
    if h & (1 << 10) == 0 {
        magnitude
    } else {
        -magnitude
    }
}

/// Builds the optimizer and N parameters, runs `warmup` + `steps` steps (the gradient is fixed,
/// so the timing is that of the update alone) and reports the timing.
pub fn run<T: Scalar>(b: &OptimBench) -> Result<OptimBenchReport, OptimError> {
    let mut opt = registry::build::<T>(&b.optimizer, &b.hyper)?;
    opt.set_nonfinite_policy(b.policy);
    let mut params = vec![Param::<T>::vector(
        "x",
        (0..b.params).map(|i| T::of(value(i, 1))).collect(),
    )];
    for (i, g) in params[0].grad.iter_mut().enumerate() {
        *g = T::of(0.1 * value(i, 2));
    }
    let mut state_per_param = None;
    let timings: Timings = measure(b.warmup.max(1), b.steps, |i| {
        opt.step(&mut params)?;
        if i == 0 {
            // After the first step the state exists: count its per-coordinate values.
            let st = opt.state();
            let per_coord: usize = st
                .params
                .iter()
                .flat_map(|p| &p.buffers)
                .filter(|buf| buf.data.len() == b.params && b.params > 0)
                .count();
            state_per_param = Some(per_coord);
        }
        Ok::<(), OptimError>(())
    })?;
    let s = state_per_param.unwrap_or(0);
    Ok(OptimBenchReport {
        optimizer: opt.name().to_string(),
        precision: T::NAME,
        element_bytes: T::BYTES,
        params: b.params,
        state_per_param: s,
        threads: rayon::current_num_threads(),
        policy: b.policy,
        bytes_per_step: (b.params * T::BYTES * (3 + 2 * s)) as f64,
        median_s: timings.median(),
        min_s: timings.min(),
        steps: timings.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_state_and_bytes() -> Result<(), OptimError> {
        let hyper = match json!({"lr": 1e-3}) {
            serde_json::Value::Object(m) => m,
            _ => HyperMap::new(),
        };
        let mut b = OptimBench {
            optimizer: "adamw".into(),
            hyper,
            params: 1000,
            steps: 3,
            warmup: 1,
            policy: NonFinitePolicy::Error,
        };
        let r = run::<f32>(&b)?;
        assert_eq!((r.optimizer.as_str(), r.state_per_param), ("AdamW", 2));
        assert_eq!(r.bytes_per_step, 1000.0 * 4.0 * 7.0);
        assert_eq!(r.steps, 3);
        assert!(r.median_s > 0.0 && r.min_s <= r.median_s);
        b.optimizer = "SignGD".into();
        let r = run::<f64>(&b)?;
        assert_eq!(
            (r.state_per_param, r.bytes_per_step),
            (0, 1000.0 * 8.0 * 3.0)
        );
        b.optimizer = "nope".into();
        assert!(run::<f64>(&b).is_err());
        Ok(())
    }

    #[test]
    fn inputs_are_well_scaled() {
        let negative = (0..10_000).filter(|&i| value(i, 1) < 0.0).count();
        assert!((4_000..6_000).contains(&negative), "{negative}");
        for i in 0..10_000 {
            let v = value(i, 1);
            assert!((0.5..1.0).contains(&v.abs()), "{v}");
        }
    }
}
