//! AlgoPerf's scrambled Halton sequence (`algorithmic_efficiency/halton.py`, after Bousquet et
//! al. 2017, "Critical hyper-parameters: no random, no cry", arXiv:1706.03200), reproduced bit
//! for bit.
//!
//! Dimension d of a point is a Van der Corput sequence in base p_d with permuted digits and a
//! random shift:
//!
//! - **bases**: the `num_dims` largest odd primes below 1000 except the largest (for more
//!   dimensions than that, below 2000, 3000, ...): AlgoPerf's `primes[-num_dims-1:-1]` of its
//!   Sieve of Sundaram;
//! - **digit permutation** σ_d: 0 fixed, 1..p_d−1 shuffled by numpy's `RandomState(p_d)` (an
//!   MT19937 seeded with the base itself, so the scramble is the same on every run);
//! - **shift** s_d: the next `random_sample()` of that generator;
//! - **point i** (i = 1, 2, ...): x_{i,d} = fmod(Σ_k σ_d(digit_k(i)) p_d^{−(k+1)} + s_d, 1);
//! - the first `skip` = 100 points are dropped, and the remaining points are **shuffled** by
//!   numpy's global generator, here `RandomState(seed)`: `np.random.seed(seed)` before
//!   `halton.generate_search(...)` in AlgoPerf gives the same points in the same order.
//!
//! The generator is numpy's legacy `RandomState` (MT19937 from the `rand_mt` crate, numpy's
//! `random_interval` rejection sampling for shuffles and its 53-bit `random_sample`), so the
//! points equal AlgoPerf's to the last bit; a test checks them against numpy.
//!
//! [`centered_l2_discrepancy`] measures how uniformly points fill [0, 1)^d (Hickernell 1998;
//! the squared value, as `scipy.stats.qmc.discrepancy` returns it).

use rand_mt::Mt;

/// Points dropped from the start of the sequence (AlgoPerf's default `skip`).
pub const DEFAULT_SKIP: usize = 100;

/// numpy's legacy `RandomState` on MT19937: the three draws AlgoPerf's Halton code uses.
pub struct NumpyRandomState {
    mt: Mt,
}

impl NumpyRandomState {
    /// `numpy.random.RandomState(seed)` (numpy's legacy seeding = MT19937's `init_genrand`).
    pub fn new(seed: u32) -> Self {
        NumpyRandomState { mt: Mt::new(seed) }
    }

    /// numpy's `random_interval(max)`: uniform in 0..=max by masked rejection sampling.
    pub fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for s in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> s;
        }
        if max <= u64::from(u32::MAX) {
            loop {
                let v = u64::from(self.mt.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let hi = u64::from(self.mt.next_u32());
            let v = ((hi << 32) | u64::from(self.mt.next_u32())) & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `RandomState.shuffle(list)`: Fisher–Yates from the end, j = random_interval(i).
    pub fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            // i < x.len() ≤ usize::MAX, so both conversions are exact
            let j = self.random_interval(i as u64) as usize;
            x.swap(i, j);
        }
    }

    /// `RandomState.random_sample()`: a 53-bit float in [0, 1).
    pub fn random_sample(&mut self) -> f64 {
        let a = f64::from(self.mt.next_u32() >> 5);
        let b = f64::from(self.mt.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }
}

/// AlgoPerf's `generate_primes(n)`: the odd primes below n (Sieve of Sundaram; 2 is left out).
pub fn odd_primes_below(n: u64) -> Vec<u64> {
    let half = (n.saturating_sub(2) / 2) as usize;
    let mut sieve = vec![false; half + 1];
    for outer in 1..=half {
        let mut inner = outer;
        while outer + inner + 2 * outer * inner <= half {
            sieve[outer + inner + 2 * outer * inner] = true;
            inner += 1;
        }
    }
    (1..=half)
        .filter(|&i| !sieve[i])
        .map(|i| 2 * i as u64 + 1)
        .collect()
}

/// The bases of a `num_dims`-dimensional sequence: `primes[-num_dims-1:-1]` of the first sieve
/// bound (1000, 2000, ...) that gives more than `num_dims` odd primes.
pub fn bases(num_dims: usize) -> Vec<u64> {
    let mut bound = 1000;
    let mut primes = odd_primes_below(bound);
    while primes.len() < num_dims + 1 {
        bound += 1000;
        primes = odd_primes_below(bound);
    }
    let n = primes.len();
    primes[n - 1 - num_dims..n - 1].to_vec()
}

/// One dimension: the scrambled, shifted Van der Corput points 1..=count in `base`.
fn dimension(count: usize, base: u64) -> Vec<f64> {
    let mut rng = NumpyRandomState::new(base as u32);
    let mut perm: Vec<u64> = (1..base).collect();
    rng.shuffle(&mut perm);
    perm.insert(0, 0);
    let shift = rng.random_sample();
    (1..=count as u64)
        .map(|mut i| {
            let mut num = 0.0;
            let mut denominator = base as f64;
            while i > 0 {
                num += perm[(i % base) as usize] as f64 / denominator;
                denominator *= base as f64;
                i /= base;
            }
            (num + shift) % 1.0
        })
        .collect()
}

/// AlgoPerf's `generate_sequence(num_samples, num_dims, skip)` with the final shuffle drawn from
/// `RandomState(seed)`: `num_samples` points of `num_dims` coordinates in [0, 1).
pub fn sequence(num_samples: usize, num_dims: usize, skip: usize, seed: u32) -> Vec<Vec<f64>> {
    let dims: Vec<Vec<f64>> = bases(num_dims)
        .into_iter()
        .map(|b| dimension(num_samples + skip, b))
        .collect();
    let mut points: Vec<Vec<f64>> = (skip..skip + num_samples)
        .map(|i| dims.iter().map(|d| d[i]).collect())
        .collect();
    NumpyRandomState::new(seed).shuffle(&mut points);
    points
}

/// The squared centered L² discrepancy of `points` in [0, 1)^d (Hickernell 1998, eq. 5.1b;
/// `scipy.stats.qmc.discrepancy(points, method="CD")`): smaller is more uniform. O(n² d).
pub fn centered_l2_discrepancy(points: &[Vec<f64>]) -> f64 {
    let n = points.len();
    let Some(d) = points.first().map(Vec::len) else {
        return f64::NAN;
    };
    let term1 = (13.0f64 / 12.0).powi(d as i32);
    let term2: f64 = points
        .iter()
        .map(|x| {
            x.iter()
                .map(|&v| {
                    let a = (v - 0.5).abs();
                    1.0 + 0.5 * a - 0.5 * a * a
                })
                .product::<f64>()
        })
        .sum::<f64>()
        * 2.0
        / n as f64;
    let mut term3 = 0.0;
    for x in points {
        for y in points {
            term3 += x
                .iter()
                .zip(y)
                .map(|(&a, &b)| {
                    1.0 + 0.5 * (a - 0.5).abs() + 0.5 * (b - 0.5).abs() - 0.5 * (a - b).abs()
                })
                .product::<f64>();
        }
    }
    term1 - term2 + term3 / (n * n) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sieve_and_bases_are_algoperfs() {
        assert_eq!(odd_primes_below(20), [3, 5, 7, 11, 13, 17, 19]);
        assert_eq!(odd_primes_below(1000).len(), 167);
        assert_eq!(bases(5), [967, 971, 977, 983, 991]);
        assert_eq!(bases(1), [991]);
        // more dimensions than odd primes below 1000: the next bound
        let b = bases(200);
        assert_eq!(b.len(), 200);
        assert!(b.iter().all(|&p| p < 2000));
    }

    #[test]
    fn shuffles_are_permutations_and_seeded() {
        let mut a: Vec<u32> = (0..50).collect();
        NumpyRandomState::new(7).shuffle(&mut a);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        let mut b: Vec<u32> = (0..50).collect();
        NumpyRandomState::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        let mut r = NumpyRandomState::new(1);
        for _ in 0..1000 {
            let v = r.random_sample();
            assert!((0.0..1.0).contains(&v));
            assert!(r.random_interval(6) <= 6);
        }
    }

    #[test]
    fn discrepancy_of_a_grid_and_of_one_point() {
        // one point at the centre in 1-D: 13/12 − 2(1) + 1 = 1/12
        assert!((centered_l2_discrepancy(&[vec![0.5]]) - 1.0 / 12.0).abs() < 1e-15);
        let grid: Vec<Vec<f64>> = (0..64).map(|i| vec![(i as f64 + 0.5) / 64.0]).collect();
        let clumped: Vec<Vec<f64>> = (0..64).map(|i| vec![i as f64 / 640.0]).collect();
        assert!(centered_l2_discrepancy(&grid) < 1e-4);
        assert!(centered_l2_discrepancy(&clumped) > 100.0 * centered_l2_discrepancy(&grid));
    }
}
