//! A LIBSVM-benchmark-sized sparse problem end to end (alone in this test binary, so that the
//! process's peak resident memory is this test's): a 20 000 × 50 000 file with 50 non-zeros per
//! row (1 M stored entries, ~26 MB of text), generated from a seed, loads as sparse rows with peak
//! RSS ≤ 400 MB, gets f* from the matrix-free solver with its certificate, and gradient descent
//! with α = 1/L decreases f monotonically. (Dense, these data would take 8 GB.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufWriter, Write};
use std::time::Instant;

use optlab::problem::logistic::{LogisticSpec, synthetic_sparse};
use optlab::problem::{Problem, libsvm};

/// Peak resident set size of this process in MB (Linux `VmHWM`; `None` elsewhere).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[test]
fn sparse_20000_by_50000_loads_solves_and_descends() {
    let (m, n, nnz) = (20_000, 50_000, 50);
    let t0 = Instant::now();
    let dir = std::env::temp_dir().join(format!("optlab-sparse-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sparse_20000x50000.svm");
    {
        let (ptr, idx, val, y) = synthetic_sparse(m, n, nnz, 42);
        let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
        libsvm::write(&mut out, &ptr, &idx, &val, &y).unwrap();
        out.flush().unwrap();
    }
    let bytes = std::fs::metadata(&path).unwrap().len();
    let generated = t0.elapsed();

    let spec = LogisticSpec {
        data: Some(path.display().to_string()),
        mu: 1e-4,
        ..Default::default()
    };
    let t1 = Instant::now();
    let p = spec.build::<f64>().unwrap();
    let built = t1.elapsed();
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!((p.num_samples(), p.dim()), (m, n));
    assert!(p.design().is_sparse());
    assert_eq!(p.design().nnz(), m * nnz);
    let c = p.constants().clone();
    let (f_star, l) = (c.f_star.unwrap(), c.l_smooth.unwrap());
    let r = c.reference.clone().unwrap();
    assert!(r.method.starts_with("Newton–CG"), "{r:?}");
    // ‖∇f(x*)‖ ≤ 1e-10 ‖∇f(0)‖ (measured: 1.2e-14), and f* certified to far below anything a
    // run can resolve
    assert!(r.rel_grad_norm <= 1e-10, "{r:?}");
    assert!(r.f_gap_bound.is_some_and(|b| b <= 1e-15), "{r:?}");
    assert!(
        f_star > 0.0 && f_star < std::f64::consts::LN_2,
        "f* = {f_star}"
    );

    // GD with α = 1/L from 0: f decreases at every step and stays above f*
    let t2 = Instant::now();
    let mut x = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut f = p.loss(&x);
    for k in 0..30 {
        p.grad(&x, &mut g);
        x.iter_mut().zip(&g).for_each(|(x, g)| *x -= g / l);
        let next = p.loss(&x);
        assert!(next < f, "step {k}: f went from {f} to {next}");
        assert!(
            next >= f_star - 1e-12,
            "step {k}: f = {next} below f* = {f_star}"
        );
        f = next;
    }
    let descended = t2.elapsed();
    let peak = peak_rss_mb();
    eprintln!(
        "file {:.1} MB written in {:.2} s; loaded + L + f* in {:.2} s ({r:?}); 30 GD steps in {:.2} s; \
         f_30 − f* = {:.3e}; peak RSS {peak:?} MB",
        bytes as f64 / 1e6,
        generated.as_secs_f64(),
        built.as_secs_f64(),
        descended.as_secs_f64(),
        f - f_star
    );
    if let Some(mb) = peak {
        assert!(mb <= 400.0, "peak RSS {mb:.0} MB");
    }
}
