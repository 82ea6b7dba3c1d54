//! Benchmarks as library code (driven by `optlab bench ...`): timing utilities and one module
//! per benchmark family.
//!
//! Timings are wall-clock medians over repetitions after a warm-up run; rates are computed from
//! flop counts stated next to each benchmark. Compare numbers only within one run (the machine's
//! load changes between runs).

pub mod orthogonalize;

use std::time::{Duration, Instant};

/// Repetitions of a timed closure.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// Median wall-clock seconds of one call.
    pub median: f64,
    /// Fastest call.
    pub best: f64,
    /// Number of timed calls.
    pub reps: usize,
}

/// Times `f`: one warm-up call, then calls until `min_time` has elapsed and at least `min_reps`
/// calls were made (at most 10 000).
pub fn time<F: FnMut()>(mut f: F, min_time: Duration, min_reps: usize) -> Timing {
    f();
    let mut samples = Vec::new();
    let start = Instant::now();
    while (start.elapsed() < min_time || samples.len() < min_reps.max(1)) && samples.len() < 10_000
    {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(f64::total_cmp);
    Timing {
        median: samples[samples.len() / 2],
        best: samples[0],
        reps: samples.len(),
    }
}

/// Times several closures in interleaved rounds (each round calls every closure once, after one
/// warm-up round) until `min_time` per closure has elapsed and at least `min_rounds` rounds ran:
/// on a shared machine every entry then sees the same mix of quiet and busy moments, so their
/// fastest calls are comparable.
pub fn time_interleaved(
    fs: &mut [&mut dyn FnMut()],
    min_time: Duration,
    min_rounds: usize,
) -> Vec<Timing> {
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
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            Timing {
                median: s[s.len() / 2],
                best: s[0],
                reps: s.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_reports_ordered_statistics() {
        let mut calls = 0;
        let t = time(|| calls += 1, Duration::from_millis(1), 5);
        assert!(t.reps >= 5);
        assert_eq!(calls, t.reps + 1);
        assert!(t.best <= t.median);
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
        assert_eq!(ts[0].reps, ts[1].reps);
        assert!(ts[0].reps >= 4);
        assert_eq!(a, b);
    }
}
