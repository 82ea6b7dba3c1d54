//! Sparse and dense storage of the same data give the same losses and gradients (full,
//! mini-batch and single-sample) for every linear-model problem, and the same reference values
//! f*, although those come from different solvers (dense Newton vs matrix-free Newton–CG).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab::problem::Problem;
use optlab::problem::design::Design;
use optlab::problem::least_squares::LeastSquares;
use optlab::problem::logistic::LogisticRegression;
use optlab::problem::softmax::SoftmaxRegression;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random m × n matrix with about `density` non-zeros (a few stored zeros in the sparse one).
fn pair(m: usize, n: usize, density: f64, seed: u64) -> (Design<f64>, Design<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut dense = vec![0.0; m * n];
    let (mut ptr, mut idx, mut val) = (vec![0u32], Vec::new(), Vec::new());
    for i in 0..m {
        for j in 0..n {
            let r: f64 = rng.random();
            if r < density {
                let v = if r < 0.03 * density {
                    0.0
                } else {
                    rng.random_range(-2.0..2.0)
                };
                dense[i * n + j] = v;
                idx.push(j as u32);
                val.push(v);
            }
        }
        ptr.push(idx.len() as u32);
    }
    (
        Design::dense(m, n, dense).unwrap(),
        Design::csr(m, n, ptr, idx, val).unwrap(),
    )
}

fn rel_close(a: f64, b: f64, scale: f64, tol: f64, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        (a - b).abs() <= tol * scale.max(1e-300),
        "{what}: {a:e} vs {b:e} (scale {scale:e})"
    );
    Ok(())
}

/// Loss, full gradient, a mini-batch gradient and a single-sample gradient agree to `tol`
/// (relative to the largest entry), and so do f*.
fn same(
    d: &dyn Problem<f64>,
    s: &dyn Problem<f64>,
    x: &[f64],
    batch: &[usize],
    tol: f64,
) -> Result<(), TestCaseError> {
    let f = d.loss(x);
    rel_close(f, s.loss(x), f.abs(), tol, "loss")?;
    let n = d.dim();
    let (mut gd, mut gs) = (vec![0.0; n], vec![0.0; n]);
    for which in 0..3 {
        match which {
            0 => {
                d.grad(x, &mut gd);
                s.grad(x, &mut gs);
            }
            1 => {
                d.batch_grad(x, batch, &mut gd);
                s.batch_grad(x, batch, &mut gs);
            }
            _ => {
                d.sample_grad(x, batch[0], &mut gd);
                s.sample_grad(x, batch[0], &mut gs);
            }
        }
        let scale = gd.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (a, b) in gd.iter().zip(&gs) {
            rel_close(
                *a,
                *b,
                scale,
                tol,
                ["gradient", "batch gradient", "sample gradient"][which],
            )?;
        }
    }
    if let (Some(a), Some(b)) = (d.constants().f_star, s.constants().f_star) {
        rel_close(a, b, a.abs(), 1e-12, "f*")?;
    }
    let (ld, ls) = (
        d.constants().l_smooth.unwrap(),
        s.constants().l_smooth.unwrap(),
    );
    // L: exact eigenvalue vs power iteration (Rayleigh quotient, ≤ the exact value)
    prop_assert!(
        ls <= ld * (1.0 + 1e-12) && ls >= ld * (1.0 - 1e-6),
        "L {ld} vs {ls}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn sparse_and_dense_paths_agree(
        m in 20usize..300,
        n in 2usize..40,
        density in 0.05f64..0.9,
        seed in 0u64..1000,
        reg in prop_oneof![Just(1e-3), Just(0.1), Just(1.0)],
    ) {
        let (dd, ds) = pair(m, n, density, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let x: Vec<f64> = (0..3 * n).map(|_| rng.random_range(-1.5..1.5)).collect();
        let batch: Vec<usize> = (0..(m / 3).max(2)).map(|_| rng.random_range(0..m)).collect();
        let labels: Vec<f64> = (0..m).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect();
        let targets: Vec<f64> = (0..m).map(|_| rng.random_range(-3.0..3.0)).collect();
        let classes: Vec<usize> = (0..m).map(|i| (i + (seed as usize)) % 3).collect();

        let d = LogisticRegression::<f64>::from_design(dd.clone(), labels.clone(), reg, "d".into()).unwrap();
        let s = LogisticRegression::<f64>::from_design(ds.clone(), labels, reg, "s".into()).unwrap();
        prop_assert!(s.design().is_sparse() && !d.design().is_sparse());
        same(&d, &s, &x[..n], &batch, 1e-12)?;

        let d = LeastSquares::<f64>::from_design(dd.clone(), targets.clone(), reg, "d".into()).unwrap();
        let s = LeastSquares::<f64>::from_design(ds.clone(), targets, reg, "s".into()).unwrap();
        same(&d, &s, &x[..n], &batch, 1e-12)?;

        let d = SoftmaxRegression::<f64>::from_design(dd, classes.clone(), 3, reg, "d".into()).unwrap();
        let s = SoftmaxRegression::<f64>::from_design(ds, classes, 3, reg, "s".into()).unwrap();
        same(&d, &s, &x, &batch, 1e-12)?;
    }
}

#[test]
fn large_passes_agree_and_take_the_parallel_paths() {
    // m · n beyond one chunk: the dense fused pass and the sparse CSR/CSC pass run in chunks
    let (m, n) = (3000, 120);
    let (dd, ds) = pair(m, n, 0.1, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let labels: Vec<f64> = (0..m)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect();
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(-0.3..0.3)).collect();
    let d = LogisticRegression::<f64>::from_design(dd, labels.clone(), 0.01, "d".into()).unwrap();
    let s = LogisticRegression::<f64>::from_design(ds, labels, 0.01, "s".into()).unwrap();
    let batch: Vec<usize> = (0..2500).map(|i| (i * 37) % m).collect();
    same(&d, &s, &x, &batch, 1e-12).unwrap();
    // the certificate of the matrix-free f*: ‖∇f(x*)‖ ≤ 1e-10 ‖∇f(0)‖
    let r = s.constants().reference.clone().unwrap();
    assert!(
        r.method.starts_with("Newton–CG") && r.rel_grad_norm <= 1e-10,
        "{r:?}"
    );
    assert!(r.f_gap_bound.unwrap() < 1e-15, "{r:?}");
}

/// Every value a linear-model problem computes — f*, x*, L, losses, full, mini-batch and
/// single-sample gradients, on dense and sparse data — is bit-identical with 1 and 2 rayon
/// threads (the chunking depends on the data, never on the thread count).
#[test]
fn problems_are_bit_identical_for_any_thread_count() {
    let (m, n) = (3000, 60);
    let (dd, ds) = pair(m, n, 0.2, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let labels: Vec<f64> = (0..m)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect();
    let targets: Vec<f64> = (0..m).map(|_| rng.random_range(-3.0..3.0)).collect();
    let classes: Vec<usize> = (0..m).map(|i| i % 4).collect();
    let x: Vec<f64> = (0..4 * n).map(|_| rng.random_range(-0.5..0.5)).collect();
    let batch: Vec<usize> = (0..1500).map(|i| (i * 53) % m).collect();
    let bits = |p: &dyn Problem<f64>, out: &mut Vec<u64>| {
        let c = p.constants();
        out.extend(c.f_star.iter().chain(&c.l_smooth).map(|v| v.to_bits()));
        out.extend(c.x_star.iter().flatten().map(|v| v.to_bits()));
        let x = &x[..p.dim()];
        let mut g = vec![0.0; p.dim()];
        out.push(p.loss(x).to_bits());
        p.grad(x, &mut g);
        out.extend(g.iter().map(|v| v.to_bits()));
        p.batch_grad(x, &batch, &mut g);
        out.extend(g.iter().map(|v| v.to_bits()));
        p.sample_grad(x, batch[1], &mut g);
        out.extend(g.iter().map(|v| v.to_bits()));
    };
    let run = |threads: usize| -> Vec<u64> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let mut out = Vec::new();
                for a in [&dd, &ds] {
                    let p = LogisticRegression::<f64>::from_design(
                        a.clone(),
                        labels.clone(),
                        1e-3,
                        "t".into(),
                    )
                    .unwrap();
                    bits(&p, &mut out);
                    let p = LeastSquares::<f64>::from_design(
                        a.clone(),
                        targets.clone(),
                        1e-3,
                        "t".into(),
                    )
                    .unwrap();
                    bits(&p, &mut out);
                    let p = SoftmaxRegression::<f64>::from_design(
                        a.clone(),
                        classes.clone(),
                        4,
                        1e-3,
                        "t".into(),
                    )
                    .unwrap();
                    bits(&p, &mut out);
                }
                out
            })
    };
    let one = run(1);
    assert!(one.len() > 10 * n);
    assert_eq!(one, run(2));
}
