"""PyTorch timings of the matrix products listed by `cargo run --release -p optlab-nn --example matmul`
(same shapes, same interleaved best-of-rounds method, float32 on the CPU).

    python3 docs/bench/torch_matmul.py [ROUNDS]     # threads: torch.set_num_threads(2)
"""

import sys
import time

import torch

SHAPES = [
    ("gpt qkv forward", 768, 128, 384),
    ("gpt fc forward", 768, 128, 512),
    ("gpt fc.proj fwd, fc dX", 768, 512, 128),
    ("gpt fc dW = Xᵀ·dY", 128, 768, 512),
    ("gpt tied head forward", 768, 128, 73),
    ("mlp layer 1 forward", 128, 784, 512),
    ("mlp layer 2 forward", 128, 512, 512),
    ("mlp layer 1 dW = Xᵀ·dY", 784, 128, 512),
    ("mlp layer 2 dX = dY·Wᵀ", 128, 512, 512),
    ("square 1024", 1024, 1024, 1024),
]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    torch.set_num_threads(2)
    best = [float("inf")] * len(SHAPES)
    for r in range(rounds + 1):
        for s, (_, m, k, n) in enumerate(SHAPES):
            a, b = torch.randn(m, k), torch.randn(k, n)
            t = time.perf_counter()
            c = a @ b
            dt = time.perf_counter() - t
            del c
            if r > 0:
                best[s] = min(best[s], dt)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {rounds} rounds")
    for (what, m, k, n), b in zip(SHAPES, best):
        print(f"{what:<26} {f'{m}×{k}·{k}×{n}':>16} {b * 1e6:>10.1} {2 * m * k * n / b / 1e9:>9.1}")


if __name__ == "__main__":
    main()
