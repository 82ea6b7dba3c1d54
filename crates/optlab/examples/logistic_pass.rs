//! Time one pass of the lecture's logistic regression (m = 200, n = 10): the small dense pass
//! alone (scores; scores + `Aᵀs`, with a no-op coefficient step), then `grad`, `loss_grad`,
//! `loss` and a mini-batch gradient of 10 rows. Prints the minimum over 8 rounds of 50 000 calls
//! each, in nanoseconds per call (docs/PERFORMANCE.md, "Problems"):
//!
//! ```sh
//! cargo run --release -p optlab --example logistic_pass
//! ```

use std::hint::black_box;
use std::time::Instant;

use optlab::problem::Problem;
use optlab::problem::design::Span;
use optlab::problem::logistic::{self, LogisticRegression};
use optlab::problem::small::{self, Small};

const CALLS: usize = 50_000;
const ROUNDS: usize = 8;

/// Nanoseconds per call of `f(k)` over `CALLS` calls.
fn time(mut f: impl FnMut(usize)) -> f64 {
    let t = Instant::now();
    for k in 0..CALLS {
        f(k);
    }
    t.elapsed().as_secs_f64() / CALLS as f64 * 1e9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (m, n) = (200, 10);
    let (a, y) = logistic::synthetic(m, n, 0);
    let p = LogisticRegression::<f64>::from_data(&a, &y, m, n, 1.0, "synthetic".into())?;
    let cols = small::transpose(m, n, &a);
    let sm = Small {
        m,
        n,
        rows: &a,
        cols: &cols,
    };
    let keep = |_: Span<'_>, _: &mut [f64]| -> f64 { 0.0 };
    let batch = [3usize, 17, 55, 190, 4, 99, 123, 7, 8, 150];
    let names = [
        "scores",
        "scores+Aᵀs",
        "grad",
        "loss_grad",
        "loss",
        "batch_grad(10)",
    ];
    let mut best = [f64::INFINITY; 6];
    let (mut x, mut g) = (vec![0.1; n], vec![0.0; n]);
    for _ in 0..ROUNDS {
        // x moves a little before every call: nothing can be hoisted out of the loops
        let nudge = |x: &mut [f64], k: usize| x[k % n] += 1e-9;
        let t = [
            time(|k| {
                nudge(&mut x, k);
                black_box(small::pass(sm, Span::Range(0, m), &x, None, &keep));
            }),
            time(|k| {
                nudge(&mut x, k);
                black_box(small::pass(sm, Span::Range(0, m), &x, Some(&mut g), &keep));
            }),
            time(|k| {
                nudge(&mut x, k);
                black_box(p.grad(&x, &mut g));
            }),
            time(|k| {
                nudge(&mut x, k);
                black_box(p.loss_grad(&x, &mut g));
            }),
            time(|k| {
                nudge(&mut x, k);
                black_box(p.loss(&x));
            }),
            time(|k| {
                nudge(&mut x, k);
                p.batch_grad(&x, &batch, &mut g);
                black_box(&g);
            }),
        ];
        for (b, t) in best.iter_mut().zip(t) {
            *b = b.min(t);
        }
    }
    let line: Vec<String> = names
        .iter()
        .zip(best)
        .map(|(name, t)| format!("{name} {t:.0} ns"))
        .collect();
    println!("minimum of {ROUNDS} rounds: {}", line.join(", "));
    Ok(())
}
