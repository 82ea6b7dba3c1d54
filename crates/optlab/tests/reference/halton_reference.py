"""Reference values for crates/optlab/tests/algoperf_halton.rs.

AlgoPerf's quasi-random search (algorithmic_efficiency/halton.py of mlcommons/algorithmic-
efficiency, `generate_sequence` with its defaults skip=100, per_dim_shift=True,
shuffle_sequence=True), written out from its description with numpy's legacy RandomState, and
the centered L2 discrepancy from scipy.stats.qmc. Run with numpy and scipy installed:

    python3 crates/optlab/tests/reference/halton_reference.py

It prints the numbers the Rust test embeds.
"""
import math

import numpy as np
from scipy.stats import qmc


def odd_primes_below(n):
    return [p for p in range(3, 2 * ((n - 2) // 2) + 2, 2)
            if all(p % q for q in range(3, int(p ** 0.5) + 1, 2))]


def bases(num_dims):
    bound = 1000
    primes = odd_primes_below(bound)
    while len(primes) < num_dims + 1:
        bound += 1000
        primes = odd_primes_below(bound)
    return primes[-num_dims - 1:-1]


def dimension(count, base):
    rng = np.random.RandomState(base)
    perm = list(range(1, base))
    rng.shuffle(perm)          # numpy's legacy shuffle of a Python list
    perm = [0] + perm
    shift = rng.random_sample()
    out = []
    for i in range(1, count + 1):
        num, denom = 0.0, base
        while i:
            num += perm[i % base] / denom
            denom *= base
            i //= base
        out.append(math.fmod(num + shift, 1.0))
    return out


def sequence(num_samples, num_dims, skip, seed):
    dims = [dimension(num_samples + skip, b)[skip:] for b in bases(num_dims)]
    points = [list(p) for p in zip(*dims)]
    np.random.seed(seed)       # AlgoPerf shuffles with numpy's global generator
    np.random.shuffle(points)
    return points


if __name__ == "__main__":
    pts = sequence(1000, 5, 100, 0)
    print("first points (seed 0):")
    for p in pts[:3]:
        print("  [" + ", ".join(repr(v) for v in p) + "],")
    print("bases:", bases(5))
    print("CD^2 of the 1000 points (scipy):", repr(qmc.discrepancy(np.array(pts), method="CD")))
    rng = np.random.default_rng(0)
    print("CD^2 of 1000 iid uniform points (scipy, default_rng(0)):",
          repr(qmc.discrepancy(rng.random((1000, 5)), method="CD")))
    sobol_like = qmc.Halton(d=5, scramble=True, seed=0).random(1000)
    print("CD^2 of scipy's scrambled Halton (seed 0):", repr(qmc.discrepancy(sobol_like, method="CD")))
    s7 = sequence(5, 3, 100, 7)
    print("5 points in 3 dims, seed 7:")
    for p in s7:
        print("  [" + ", ".join(repr(v) for v in p) + "],")
