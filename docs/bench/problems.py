"""optlab's finite-sum problems next to numpy / scipy.sparse, interleaved in one session.

Usage (from the repository root, after `cargo build --release -p optlab-cli`):

    python3 docs/bench/problems.py [--optlab target/release/optlab] [--data runs/bench-data]
                                   [--rounds 3] [--notebook ../shared/bench/numpy_logreg_notebook.py]

Three comparisons, each round running optlab and then Python on the same data:

- dense: one gradient-descent iteration (full gradient + update) of ℓ2-regularized logistic
  regression on the 20 000 × 100 CSV written by `optlab bench problems --write-only`; numpy
  computes it the notebook's way (`A @ x`, vectorized exp, `A.T @ s`).
- sparse: the same on the 20 000 × 50 000 LIBSVM file (50 non-zeros per row, 1 M stored values,
  rcv1-sized); scipy.sparse CSR matrix–vector products.
- lecture: the whole lecture experiment (GD, SGD constant, SGD decreasing, mini-batch 10;
  10 seeds × 10⁴ iterations, f logged every 10) — `optlab bench problems --case lecture` vs the
  numpy notebook run as a subprocess (its own printed time, which excludes its setup too).

Prints one table row per round and the median ratios. Needs numpy and scipy (`pip install numpy
scipy`). Peak RSS: optlab's is its process's VmHWM; Python's is this process's ru_maxrss after
loading both data sets (so it holds both).
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

MU = 5e-5  # optlab::bench::problems::MU (1/m)


def optlab_bench(exe, case, data, reps, warmup):
    out = subprocess.run(
        [exe, "bench", "problems", "--case", case, "--data", data, "--reps", str(reps),
         "--warmup", str(warmup)],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def read_libsvm(path):
    """1-based LIBSVM into CSR (the generated file has no comments or qid)."""
    indptr, indices, data, y = [0], [], [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            y.append(float(parts[0]))
            for tok in parts[1:]:
                j, v = tok.split(":")
                indices.append(int(j) - 1)
                data.append(float(v))
            indptr.append(len(indices))
    n = max(indices) + 1
    a = sp.csr_matrix((np.array(data), np.array(indices, dtype=np.int32),
                       np.array(indptr, dtype=np.int64)), shape=(len(y), n))
    return a, np.array(y)


def power_gram(a, iters=50):
    """λ_max(AᵀA/m) by power iteration (L = λ_max/4 + μ)."""
    v = np.random.default_rng(0).standard_normal(a.shape[1])
    lam = 0.0
    for _ in range(iters):
        w = a.T @ (a @ v) / a.shape[0]
        lam = v @ w / (v @ v)
        v = w / np.linalg.norm(w)
    return lam


def gd_times(a, y, alpha, reps, warmup):
    """Median seconds of `x ← x − α ∇f(x)`, the notebook's gradient."""
    m, n = a.shape
    x = np.zeros(n)
    at = a.T  # free for numpy (a view) and scipy (a CSC view of the same arrays)
    times = []
    for k in range(warmup + reps):
        t = time.perf_counter()
        s = -y / (1 + np.exp(y * (a @ x)))
        g = MU * x + (at @ s) / m
        x = x - alpha * g
        if k >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--optlab", default="target/release/optlab")
    p.add_argument("--data", default="runs/bench-data")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--notebook", default="../shared/bench/numpy_logreg_notebook.py")
    args = p.parse_args()

    subprocess.run([args.optlab, "bench", "problems", "--case", "dense", "--data", args.data,
                    "--write-only"], check=True, capture_output=True)
    t = time.perf_counter()
    dense = np.loadtxt(f"{args.data}/dense_20000x100.csv", delimiter=",", skiprows=1)
    ad, yd = np.ascontiguousarray(dense[:, :-1]), dense[:, -1].copy()
    t_dense = time.perf_counter() - t
    t = time.perf_counter()
    asp, ysp = read_libsvm(f"{args.data}/sparse_20000x50000.svm")
    t_sparse = time.perf_counter() - t
    py_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"numpy {np.__version__}, scipy {__import__('scipy').__version__}; python read: "
          f"dense {t_dense:.2f} s, sparse {t_sparse:.2f} s; python peak RSS {py_rss:.0f} MB")

    alpha_dense = 1.0 / (np.linalg.eigvalsh(ad.T @ ad / ad.shape[0]).max() / 4 + MU)
    alpha_sparse = 1.0 / (power_gram(asp) / 4 + MU)
    rows = {"dense": [], "sparse": [], "lecture": []}
    for r in range(args.rounds):
        o = optlab_bench(args.optlab, "dense", args.data, 200, 10)
        nd = gd_times(ad, yd, alpha_dense, 200, 10)
        rows["dense"].append((o["median_s"], nd, o["peak_rss_mb"]))

        o = optlab_bench(args.optlab, "sparse", args.data, 50, 3)
        ns = gd_times(asp, ysp, alpha_sparse, 50, 3)
        rows["sparse"].append((o["median_s"], ns, o["peak_rss_mb"]))

        o = optlab_bench(args.optlab, "lecture", args.data, 5, 1)
        out = subprocess.run([sys.executable, args.notebook], check=True, capture_output=True,
                             text=True).stdout
        nb = float(re.search(r"baseline: ([0-9.]+) s", out).group(1))
        rows["lecture"].append((o["median_s"], nb, o["peak_rss_mb"]))

        print(f"round {r + 1} (load average {os.getloadavg()[0]:.1f}): " + "; ".join(
            f"{k} optlab {v[-1][0] * 1e3:.3f} ms vs {'numpy' if k != 'sparse' else 'scipy'} "
            f"{v[-1][1] * 1e3:.3f} ms ({v[-1][1] / v[-1][0]:.1f}×)" for k, v in rows.items()),
            flush=True)

    print("\n| case | optlab (median of rounds) | numpy/scipy | ratio | optlab peak RSS |")
    print("|---|---|---|---|---|")
    unit = {"dense": "ms / GD iteration", "sparse": "ms / GD iteration", "lecture": "ms / experiment"}
    for k, v in rows.items():
        o = statistics.median(x[0] for x in v)
        n = statistics.median(x[1] for x in v)
        ratio = statistics.median(x[1] / x[0] for x in v)
        print(f"| {k} | {o * 1e3:.3f} {unit[k]} | {n * 1e3:.3f} | {ratio:.1f}× | "
              f"{v[-1][2]:.0f} MB |")


if __name__ == "__main__":
    main()
