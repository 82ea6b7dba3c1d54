//! The matrix products of one training step of the presets' networks, timed one by one: burn's
//! flex backend (the `gemm` crate, what optlab-nn trains with) against faer on the same shapes
//! and threads. `docs/bench/torch_matmul.py` times the same list in PyTorch.
//!
//! ```sh
//! cargo run --release -p optlab-nn --example matmul [ROUNDS]
//! ```
//!
//! Each line: the product `m×k · k×n` (and what it is in the step), the best time of each library
//! over `ROUNDS` interleaved rounds (default 30; each round runs every entry once after a
//! warm-up round), and GFLOP/s at that time (2mkn flops).

use std::time::Instant;

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};

/// (what, m, k, n): the products of the GPT (4 layers of width 128, batch 12 × 64 positions) and
/// of the MNIST MLP (batch 128), forward and backward.
const SHAPES: [(&str, usize, usize, usize); 10] = [
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
];

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let threads = rayon::current_num_threads();
    let device = Default::default();
    let fill = |len: usize, seed: f32| -> Vec<f32> {
        (0..len).map(|i| ((i as f32 + seed) * 0.37).sin()).collect()
    };
    let mut best = vec![[f64::INFINITY; 2]; SHAPES.len()];
    for round in 0..=rounds {
        for (s, &(_, m, k, n)) in SHAPES.iter().enumerate() {
            let a =
                Tensor::<Flex, 2>::from_data(TensorData::new(fill(m * k, 1.0), [m, k]), &device);
            let b =
                Tensor::<Flex, 2>::from_data(TensorData::new(fill(k * n, 2.0), [k, n]), &device);
            let t = Instant::now();
            let c = a.matmul(b);
            let burn_s = t.elapsed().as_secs_f64();
            std::hint::black_box(c);

            let fa = Mat::<f32>::from_fn(m, k, |i, j| ((i * k + j) as f32 * 0.37).sin());
            let fb = Mat::<f32>::from_fn(k, n, |i, j| ((i * n + j) as f32 * 0.37).cos());
            let mut fc = Mat::<f32>::zeros(m, n);
            let par = if threads > 1 {
                Par::rayon(threads)
            } else {
                Par::Seq
            };
            let t = Instant::now();
            matmul(
                fc.as_mut(),
                Accum::Replace,
                fa.as_ref(),
                fb.as_ref(),
                1.0,
                par,
            );
            let faer_s = t.elapsed().as_secs_f64();
            std::hint::black_box(&fc);
            if round > 0 {
                best[s][0] = best[s][0].min(burn_s);
                best[s][1] = best[s][1].min(faer_s);
            }
        }
    }
    println!("{threads} threads, best of {rounds} interleaved rounds");
    println!(
        "{:<26} {:>16} {:>10} {:>9} {:>10} {:>9}",
        "product", "m×k·k×n", "burn µs", "GFLOP/s", "faer µs", "GFLOP/s"
    );
    for (&(what, m, k, n), [b, f]) in SHAPES.iter().zip(&best) {
        let flops = 2.0 * (m * k * n) as f64;
        println!(
            "{what:<26} {:>16} {:>10.1} {:>9.1} {:>10.1} {:>9.1}",
            format!("{m}×{k}·{k}×{n}"),
            b * 1e6,
            flops / b / 1e9,
            f * 1e6,
            flops / f / 1e9,
        );
    }
}
