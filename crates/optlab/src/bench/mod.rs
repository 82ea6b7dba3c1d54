//! Benchmark utilities shared by `optlab bench ...`: warm-up, timed repetitions, robust summaries
//! (median, minimum) and throughput.
//!
//! Timings are wall-clock ([`std::time::Instant`]) per repetition. Report the median (robust to
//! the occasional preemption on a shared machine) and the minimum (the best the code can do);
//! compare two variants only by ratios measured in the same run on the same machine. Nothing here
//! is used by tests with timing assertions.
//!
//! - [`optim`]: one optimizer step on N parameters (ms/step, Mparam/s, effective GB/s).
//! - [`orthogonalize`]: Newton–Schulz and Polar Express against faer's matmul and the SVD route.
//! - [`problems`]: gradient-descent iterations on dense and sparse logistic regression at
//!   LIBSVM-benchmark scale, and the lecture's SGD experiment (next to numpy/scipy).

pub mod optim;
pub mod orthogonalize;
pub mod problems;

use std::time::{Duration, Instant};

/// Wall-clock times of timed repetitions, in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Timings {
    samples: Vec<f64>,
}

impl Timings {
    /// From samples in seconds (any order).
    pub fn new(samples: Vec<f64>) -> Self {
        Timings { samples }
    }

    /// The samples, in the order they were taken.
    pub fn samples(&self) -> &[f64] {
        &self.samples
    }

    /// Number of repetitions.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Median (mean of the two middle values for an even count; NaN when empty).
    pub fn median(&self) -> f64 {
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        match s.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => s[n / 2],
            n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
        }
    }

    /// Fastest repetition (NaN when empty).
    pub fn min(&self) -> f64 {
        self.samples
            .iter()
            .copied()
            .reduce(f64::min)
            .unwrap_or(f64::NAN)
    }

    /// Arithmetic mean (NaN when empty).
    pub fn mean(&self) -> f64 {
        self.samples.iter().sum::<f64>() / self.samples.len() as f64
    }
}

/// Runs `f` `warmup` times untimed, then `reps` times timed individually.
///
/// Stops at the first error. `f` gets the repetition index (warm-up runs first, 0-based over
/// all runs).
pub fn measure<E>(
    warmup: usize,
    reps: usize,
    mut f: impl FnMut(usize) -> Result<(), E>,
) -> Result<Timings, E> {
    for i in 0..warmup {
        f(i)?;
    }
    let mut samples = Vec::with_capacity(reps);
    for i in warmup..warmup + reps {
        let start = Instant::now();
        f(i)?;
        samples.push(start.elapsed().as_secs_f64());
    }
    Ok(Timings::new(samples))
}

/// Times several closures in interleaved rounds (each round calls every closure once, after one
/// warm-up round) until `min_time` per closure has elapsed and at least `min_rounds` rounds ran
/// (at most 10 000): on a shared machine every entry then sees the same mix of quiet and busy
/// moments, so their fastest calls are comparable.
pub fn time_interleaved(
    fs: &mut [&mut dyn FnMut()],
    min_time: Duration,
    min_rounds: usize,
) -> Vec<Timings> {
    for f in fs.iter_mut() {
        f();
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); fs.len()];
    let budget = min_time.mul_f64(fs.len() as f64);
    let start = Instant::now();
    let mut rounds = 0;
    while (start.elapsed() < budget || rounds < min_rounds.max(1)) && rounds < 10_000 {
        for (f, s) in fs.iter_mut().zip(samples.iter_mut()) {
            let t = Instant::now();
            f();
            s.push(t.elapsed().as_secs_f64());
        }
        rounds += 1;
    }
    samples.into_iter().map(Timings::new).collect()
}

/// `amount / seconds` (items or bytes per second).
pub fn throughput(amount: f64, seconds: f64) -> f64 {
    amount / seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let t = Timings::new(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!(t.median(), 2.5);
        assert_eq!(t.min(), 1.0);
        assert_eq!(t.mean(), 4.0);
        assert_eq!(Timings::new(vec![5.0, 1.0, 4.0]).median(), 4.0);
        assert!(Timings::new(Vec::new()).median().is_nan());
        assert_eq!(throughput(1e6, 0.5), 2e6);
    }

    #[test]
    fn measure_runs_warmup_then_timed_reps_and_stops_on_error() {
        let mut seen = Vec::new();
        let t = measure::<()>(2, 3, |i| {
            seen.push(i);
            Ok(())
        });
        assert_eq!(t.map(|t| t.len()), Ok(3));
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        let r = measure(1, 5, |i| if i == 2 { Err(i) } else { Ok(()) });
        assert_eq!(r, Err(2));
    }

    #[test]
    fn interleaved_rounds_call_every_closure_equally() {
        let (mut a, mut b) = (0, 0);
        let ts = time_interleaved(
            &mut [&mut || a += 1, &mut || b += 1],
            Duration::from_millis(1),
            4,
        );
        assert_eq!(ts.len(), 2);
        assert_eq!(ts[0].len(), ts[1].len());
        assert!(ts[0].len() >= 4);
        assert_eq!(a, b);
        assert!(ts[0].min() <= ts[0].median());
    }
}
