//! Gradient oracles: how an iterative method queries a finite-sum [`Problem`].
//!
//! - **full** (`batch_size = "full"`): g = ∇f(x), costing m per-sample gradients (GD);
//! - **with replacement**: indices i₁..i_b drawn independently and uniformly from {0..m−1},
//!   g = (1/b) Σ ∇f_{iⱼ}(x) — single-sample SGD is b = 1; an unbiased estimate of ∇f(x);
//! - **without replacement**: each epoch walks a fresh uniformly random permutation of the samples
//!   in consecutive batches of b (the last batch of an epoch is smaller when b does not divide m,
//!   as with PyTorch's `drop_last = false`), so every sample is used exactly once per epoch.
//!
//! Each call reports how many per-sample gradients it evaluated (b, or m for the full gradient).
//! When the problem has gradient noise σ > 0 ([`Problem::grad_noise`]), every per-sample gradient
//! carries independent N(0, σ²) noise on each coordinate, so the returned average of b of them
//! carries N(0, σ²/b) (b = m for the full gradient): a larger batch is a less noisy gradient, as
//! for the sampling noise of a finite sum.
//!
//! Randomness comes from one [`ChaCha8Rng`] per run, derived from `(seed, stream)` by
//! [`run_rng`] — never from thread identity — so a run's gradients are reproducible whatever the
//! number of threads; batch gradients themselves are thread-count independent (see
//! [`problem`](crate::problem)).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::problem::Problem;
use crate::scalar::Scalar;

/// The random stream of one run: ChaCha8 seeded with `seed`, on stream `stream` (the method's
/// index in the experiment), so runs are independent of each other and of scheduling.
pub fn run_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Mini-batch size: the full sum, or a number of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchSize {
    /// All m samples: the exact gradient.
    #[default]
    Full,
    /// b ≥ 1 samples.
    Samples(usize),
}

impl BatchSize {
    /// Samples per call for a problem with m samples.
    pub fn per_call(&self, m: usize) -> usize {
        match *self {
            BatchSize::Full => m,
            BatchSize::Samples(b) => b,
        }
    }
}

/// How an oracle samples (the `batch_size` and `replacement` fields of a method).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// The full gradient.
    Full,
    /// b indices uniform with replacement.
    WithReplacement(usize),
    /// Consecutive batches of b from a permutation reshuffled every epoch.
    WithoutReplacement(usize),
}

impl Sampling {
    /// From a batch size and the replacement flag (b = 0 is the caller's error to report).
    pub fn new(batch: BatchSize, replacement: bool) -> Self {
        match batch {
            BatchSize::Full => Sampling::Full,
            BatchSize::Samples(b) if replacement => Sampling::WithReplacement(b),
            BatchSize::Samples(b) => Sampling::WithoutReplacement(b),
        }
    }
}

/// A stochastic gradient oracle over a problem (see the module documentation).
pub struct Oracle<'p, T: Scalar> {
    problem: &'p dyn Problem<T>,
    sampling: Sampling,
    rng: ChaCha8Rng,
    perm: Vec<usize>,
    cursor: usize,
    batch: Vec<usize>,
    evals: u64,
}

impl<'p, T: Scalar> Oracle<'p, T> {
    /// An oracle drawing its samples (and gradient noise) from `rng`.
    pub fn new(problem: &'p dyn Problem<T>, sampling: Sampling, rng: ChaCha8Rng) -> Self {
        let m = problem.num_samples();
        let sampling = match sampling {
            Sampling::WithReplacement(b) => Sampling::WithReplacement(b.max(1)),
            Sampling::WithoutReplacement(b) => Sampling::WithoutReplacement(b.clamp(1, m.max(1))),
            s => s,
        };
        Oracle {
            problem,
            sampling,
            rng,
            perm: (0..m).collect(),
            cursor: m, // forces a shuffle before the first batch
            batch: Vec::new(),
            evals: 0,
        }
    }

    /// `g ←` a gradient estimate at `x`; returns the per-sample gradients it cost.
    pub fn gradient(&mut self, x: &[T], g: &mut [T]) -> usize {
        let m = self.problem.num_samples();
        let cost = match self.sampling {
            Sampling::Full => {
                self.batch.clear();
                self.problem.grad(x, g)
            }
            Sampling::WithReplacement(b) => {
                self.batch.clear();
                for _ in 0..b {
                    self.batch.push(self.rng.random_range(0..m));
                }
                self.problem.batch_grad(x, &self.batch, g);
                b
            }
            Sampling::WithoutReplacement(b) => {
                if self.cursor >= m {
                    self.perm.shuffle(&mut self.rng);
                    self.cursor = 0;
                }
                let end = (self.cursor + b).min(m);
                self.batch.clear();
                self.batch.extend_from_slice(&self.perm[self.cursor..end]);
                self.cursor = end;
                self.problem.batch_grad(x, &self.batch, g);
                self.batch.len()
            }
        };
        // the mean of `cost` independent N(0, σ²) per-sample noises
        let sigma = self.problem.grad_noise() / (cost.max(1) as f64).sqrt();
        if sigma > 0.0 {
            for g in g.iter_mut() {
                let z: f64 = self.rng.sample(StandardNormal);
                *g = *g + T::of(sigma * z);
            }
        }
        self.evals += cost as u64;
        cost
    }

    /// Whether [`gradient`](Oracle::gradient) is the exact ∇f(x): the full batch and no
    /// gradient noise (gradient descent's oracle).
    pub fn is_exact(&self) -> bool {
        matches!(self.sampling, Sampling::Full) && self.problem.grad_noise() == 0.0
    }

    /// [`gradient`](Oracle::gradient), given `known` = ∇f(x) at this same `x` when the caller
    /// has it (a record's [`Problem::loss_grad`], which has the bits of [`Problem::grad`]): an
    /// exact oracle copies it instead of a second pass over the data and counts the evaluation
    /// as its own (m per-sample gradients); any other computes as usual.
    pub fn gradient_or_known(&mut self, x: &[T], known: Option<&[T]>, g: &mut [T]) -> usize {
        match known {
            Some(known) if self.is_exact() && known.len() == g.len() => {
                g.copy_from_slice(known);
                self.batch.clear();
                let m = self.problem.num_samples();
                self.evals += m as u64;
                m
            }
            _ => self.gradient(x, g),
        }
    }

    /// `g ←` the gradient estimate at `x` on the batch of the last [`gradient`](Oracle::gradient)
    /// call (a method evaluating several points within one step: SAM's second gradient);
    /// returns its cost. Gradient noise is drawn afresh.
    pub fn regradient(&mut self, x: &[T], g: &mut [T]) -> usize {
        let cost = match self.sampling {
            Sampling::Full => self.problem.grad(x, g),
            _ => {
                self.problem.batch_grad(x, &self.batch, g);
                self.batch.len()
            }
        };
        let sigma = self.problem.grad_noise();
        if sigma > 0.0 {
            for g in g.iter_mut() {
                let z: f64 = self.rng.sample(StandardNormal);
                *g = *g + T::of(sigma * z);
            }
        }
        self.evals += cost as u64;
        cost
    }

    /// f at `x` on the batch of the last [`gradient`](Oracle::gradient) call — f itself for the
    /// full oracle, `(1/|B|) Σ_{i∈B} fᵢ(x)` otherwise (a line search's trial values); charges
    /// the batch size to the evaluation count.
    pub fn value(&mut self, x: &[T]) -> f64 {
        let (v, cost) = match self.sampling {
            Sampling::Full => (self.problem.loss(x).as_f64(), self.problem.num_samples()),
            _ => {
                let b = self.batch.len().max(1);
                let data: f64 = self
                    .batch
                    .iter()
                    .map(|&i| self.problem.sample_loss(x, i).as_f64())
                    .sum();
                let l2 = 0.5 * self.problem.l2() * crate::kernels::norm2_sq(x).as_f64();
                (data / b as f64 + l2, self.batch.len())
            }
        };
        self.evals += cost as u64;
        v
    }

    /// Sample indices of the last call (empty for the full gradient).
    pub fn last_batch(&self) -> &[usize] {
        &self.batch
    }

    /// Per-sample gradients evaluated so far.
    pub fn evals(&self) -> u64 {
        self.evals
    }

    /// Adds evaluations made outside [`gradient`](Oracle::gradient) (e.g. a line search's
    /// function values) to the count.
    pub fn charge(&mut self, evals: u64) {
        self.evals += evals;
    }

    /// Passes over the data so far: evaluations / m.
    pub fn epochs(&self) -> f64 {
        self.evals as f64 / self.problem.num_samples().max(1) as f64
    }

    /// The sampling scheme in use.
    pub fn sampling(&self) -> Sampling {
        self.sampling
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::logistic::LogisticSpec;
    use crate::problem::testfn::QuadraticSpec;

    fn problem() -> Box<dyn Problem<f64>> {
        Box::new(
            LogisticSpec {
                m: 50,
                n: 4,
                ..Default::default()
            }
            .build::<f64>()
            .unwrap(),
        )
    }

    #[test]
    fn stochastic_gradients_are_unbiased() {
        let p = problem();
        let x = [0.5, -1.0, 0.25, 2.0];
        let mut full = vec![0.0; 4];
        p.grad(&x, &mut full);
        for sampling in [Sampling::WithReplacement(1), Sampling::WithReplacement(5)] {
            let mut o = Oracle::new(p.as_ref(), sampling, run_rng(3, 0));
            let mut mean = [0.0; 4];
            let mut g = vec![0.0; 4];
            let draws = 40_000;
            for _ in 0..draws {
                o.gradient(&x, &mut g);
                for (a, b) in mean.iter_mut().zip(&g) {
                    *a += b / draws as f64;
                }
            }
            // standard error of a single-sample gradient coordinate is < 1; 40 000 draws → < 0.005
            for (a, b) in mean.iter().zip(&full) {
                assert!((a - b).abs() < 0.02, "{sampling:?}: {a} vs {b}");
            }
            let per = match sampling {
                Sampling::WithReplacement(b) => b as u64,
                _ => 0,
            };
            assert_eq!(o.evals(), draws * per);
        }
        // without replacement, an epoch's batch gradients average to the full gradient exactly
        let mut o = Oracle::new(p.as_ref(), Sampling::WithoutReplacement(10), run_rng(3, 1));
        let mut mean = [0.0; 4];
        let mut g = vec![0.0; 4];
        for _ in 0..5 {
            o.gradient(&x, &mut g);
            for (a, b) in mean.iter_mut().zip(&g) {
                *a += b / 5.0;
            }
        }
        for (a, b) in mean.iter().zip(&full) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
    }

    #[test]
    fn without_replacement_covers_each_sample_once_per_epoch() {
        let p = problem();
        let x = [0.0; 4];
        let mut g = vec![0.0; 4];
        let mut o = Oracle::new(p.as_ref(), Sampling::WithoutReplacement(8), run_rng(1, 2));
        let mut epochs = Vec::new();
        for _ in 0..3 {
            let mut seen = Vec::new();
            while seen.len() < 50 {
                let cost = o.gradient(&x, &mut g);
                assert_eq!(cost, o.last_batch().len());
                seen.extend_from_slice(o.last_batch());
            }
            assert_eq!(
                seen.len(),
                50,
                "epochs end exactly at m samples (last batch 50 mod 8)"
            );
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..50).collect::<Vec<_>>());
            epochs.push(seen);
        }
        assert_ne!(epochs[0], epochs[1], "reshuffled every epoch");
        assert_eq!(o.epochs(), 3.0);
    }

    #[test]
    fn full_gradient_costs_m_and_streams_are_reproducible() {
        let p = problem();
        let x = [0.1; 4];
        let mut g = vec![0.0; 4];
        let mut o = Oracle::new(p.as_ref(), Sampling::Full, run_rng(0, 0));
        assert_eq!(o.gradient(&x, &mut g), 50);
        let draw = |seed, stream| {
            let mut o = Oracle::new(
                p.as_ref(),
                Sampling::WithReplacement(3),
                run_rng(seed, stream),
            );
            let mut g = vec![0.0; 4];
            (0..5)
                .flat_map(|_| {
                    o.gradient(&x, &mut g);
                    o.last_batch().to_vec()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(4, 1), draw(4, 1));
        assert_ne!(draw(4, 1), draw(4, 2));
        assert_ne!(draw(4, 1), draw(5, 1));
    }

    #[test]
    fn a_known_gradient_is_reused_only_by_an_exact_oracle() {
        let p = problem();
        let x = [0.3, -0.2, 0.1, 1.0];
        let (mut want, mut g) = (vec![0.0; 4], vec![0.0; 4]);
        p.grad(&x, &mut want);
        let marker = [7.0; 4];
        // exact: the known gradient is taken as is and costs m
        let mut o = Oracle::new(p.as_ref(), Sampling::Full, run_rng(0, 0));
        assert!(o.is_exact());
        assert_eq!(o.gradient_or_known(&x, Some(&marker), &mut g), 50);
        assert_eq!((g.as_slice(), o.evals()), (marker.as_slice(), 50));
        assert_eq!(o.gradient_or_known(&x, None, &mut g), 50);
        assert_eq!(g, want);
        // stochastic: computed from its own batch, the known one ignored
        let mut o = Oracle::new(p.as_ref(), Sampling::WithReplacement(3), run_rng(0, 0));
        assert!(!o.is_exact());
        assert_eq!(o.gradient_or_known(&x, Some(&marker), &mut g), 3);
        assert_ne!(g.as_slice(), marker.as_slice());
        // noisy full gradients are not exact either
        let q = QuadraticSpec {
            sigma: 0.5,
            ..Default::default()
        }
        .build()
        .unwrap();
        assert!(!Oracle::<f64>::new(&q, Sampling::Full, run_rng(0, 0)).is_exact());
    }

    #[test]
    fn gradient_noise_has_the_configured_variance() {
        let q = QuadraticSpec {
            sigma: 0.5,
            ..Default::default()
        }
        .build()
        .unwrap();
        // per-sample variance σ² = 0.25; a batch of b averages b samples: σ²/b
        for (sampling, b) in [
            (Sampling::Full, 1.0),
            (Sampling::WithReplacement(1), 1.0),
            (Sampling::WithReplacement(4), 4.0),
        ] {
            let mut o = Oracle::<f64>::new(&q, sampling, run_rng(9, 0));
            let x = [1.0, 1.0];
            let mut g = vec![0.0; 2];
            let n = 20_000;
            let (mut s, mut s2) = (0.0, 0.0);
            for _ in 0..n {
                o.gradient(&x, &mut g);
                let e = g[0] - 1.0;
                s += e;
                s2 += e * e;
            }
            let mean = s / n as f64;
            let var = s2 / n as f64 - mean * mean;
            assert!(
                mean.abs() < 0.02 && (var - 0.25 / b).abs() < 0.02 / b,
                "{sampling:?}: {mean} {var}"
            );
        }
    }

    #[test]
    fn batch_gradients_are_thread_count_independent() {
        // large enough to take the parallel path (m·n ≥ PAR_WORK)
        let p = LogisticSpec {
            m: 3000,
            n: 20,
            ..Default::default()
        }
        .build::<f64>()
        .unwrap();
        let x: Vec<f64> = (0..20).map(|j| (j as f64).sin()).collect();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut o = Oracle::new(&p, Sampling::WithoutReplacement(2000), run_rng(1, 0));
                    let mut g = vec![0.0; 20];
                    let mut out = Vec::new();
                    for _ in 0..3 {
                        o.gradient(&x, &mut g);
                        out.extend(g.iter().map(|v| v.to_bits()));
                    }
                    let mut full = vec![0.0; 20];
                    p.grad(&x, &mut full);
                    out.extend(full.iter().map(|v| v.to_bits()));
                    out.push(Problem::loss(&p, &x).to_bits());
                    out
                })
        };
        assert_eq!(run(1), run(2));
    }
}
