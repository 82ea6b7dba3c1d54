//! Performance profiles (Dolan & Moré 2002) and AlgoPerf's score.
//!
//! For a submission with ratios r_w = t_w / min_s t_{s,w} (time to target over the fastest
//! submission's, per workload w), the performance profile is
//!
//! **ρ(τ) = |{w : r_w ≤ τ}| / N**,
//!
//! N the number of base workloads (those of `workloads.json`, run or not). AlgoPerf evaluates ρ
//! on τ = `numpy.linspace(1, 4, 100)` and scores a submission by the trapezoid integral of ρ
//! over that grid divided by its length 3 (`score_submissions.py`: `compute_leaderboard_score`
//! with `normalize=True`): 1 for a submission fastest everywhere, 0 for one that never reaches a
//! target within 4× of the best.

/// Smallest τ of AlgoPerf's grid.
pub const MIN_TAU: f64 = 1.0;
/// Largest τ of AlgoPerf's grid.
pub const MAX_TAU: f64 = 4.0;
/// Number of τ points.
pub const NUM_POINTS: usize = 100;

/// `numpy.linspace(start, stop, num)` exactly: `start + i·step` with step = (stop − start)/(num −
/// 1), the last point set to `stop`.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    match num {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (stop - start) / (num - 1) as f64;
            let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
            v[num - 1] = stop;
            v
        }
    }
}

/// AlgoPerf's τ grid: `linspace(1, 4, 100)`.
pub fn tau_grid() -> Vec<f64> {
    linspace(MIN_TAU, MAX_TAU, NUM_POINTS)
}

/// ρ(τ) for each τ: the fraction of the `num_workloads` base workloads whose ratio is ≤ τ
/// (`ratios` holds one entry per workload the submission has; NaN and +∞ never count).
pub fn rho(ratios: &[f64], taus: &[f64], num_workloads: usize) -> Vec<f64> {
    taus.iter()
        .map(|&t| ratios.iter().filter(|&&r| r <= t).count() as f64 / num_workloads.max(1) as f64)
        .collect()
}

/// `numpy.trapz(y, x)`: Σ (x_{i+1} − x_i)(y_{i+1} + y_i)/2.
pub fn trapezoid(y: &[f64], x: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0)
        .sum()
}

/// The score of a profile: its trapezoid integral over `taus` divided by the grid's length.
pub fn score(rho: &[f64], taus: &[f64]) -> f64 {
    let (Some(first), Some(last)) = (taus.first(), taus.last()) else {
        return f64::NAN;
    };
    trapezoid(rho, taus) / (last - first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_matches_numpy_linspace() {
        let t = tau_grid();
        assert_eq!(t.len(), 100);
        assert_eq!(t[0], 1.0);
        assert_eq!(t[99], 4.0);
        // numpy.linspace(1, 4, 100)[1] and [50] (printed with repr)
        assert_eq!(t[1], 1.0303030303030303);
        assert_eq!(t[50], 2.515151515151515);
        assert_eq!(linspace(0.0, 1.0, 1), [0.0]);
        assert!(linspace(0.0, 1.0, 0).is_empty());
    }

    #[test]
    fn profile_and_score_of_simple_cases() {
        let t = tau_grid();
        // fastest everywhere
        let r = rho(&[1.0, 1.0, 1.0], &t, 3);
        assert!(r.iter().all(|&v| v == 1.0));
        assert!((score(&r, &t) - 1.0).abs() < 1e-15);
        // never within the grid
        let r = rho(&[f64::INFINITY, f64::NAN], &t, 3);
        assert_eq!(score(&r, &t), 0.0);
        // one of two workloads at ratio 2.5 (between grid points 49 and 50), the other fastest:
        // the exact integral is (0.5·3 + 0.5·1.5)/3 = 0.75 up to half a grid cell.
        let r = rho(&[1.0, 2.5], &t, 2);
        assert!((score(&r, &t) - 0.75).abs() < 0.5 * 3.0 / 99.0 / 3.0);
        // trapezoid of a straight line is exact
        assert!((trapezoid(&[0.0, 1.0, 2.0], &[0.0, 1.0, 2.0]) - 2.0).abs() < 1e-15);
    }
}
