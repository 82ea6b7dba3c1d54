//! Golden tests: every case of `../shared/fixtures/optim_traces.json` (PyTorch 2.15, float64),
//! replayed through optlab's optimizer of that name in f64 and in f32.

// Test helpers may panic on what the test itself set up.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use optlab_optim::verify::{CaseReport, TraceFile, TraceProblem, replay};

/// The bar for "same semantics as PyTorch" in f64: at every step,
/// ‖x_k − x_k^ref‖∞ / ‖x_k^ref‖∞ ≤ 1e-10 (and the same for the losses).
const F64_TOL: f64 = 1e-10;

fn load() -> Option<TraceFile> {
    let text = common::fixture("optim_traces.json")?;
    Some(TraceFile::from_json(&text).expect("fixture parses"))
}

/// Replays every case in precision `T`, prints one line per case and returns the failures.
fn check<T: optlab_optim::Scalar>(file: &TraceFile, tol: f64) -> Vec<String> {
    let mut failures = Vec::new();
    for r in replay::<T>(file) {
        match r {
            Ok(CaseReport {
                name,
                optimizer,
                max_rel_err,
                worst_step,
                loss_rel_err,
                ..
            }) => {
                let ok = max_rel_err <= tol && loss_rel_err <= tol;
                println!(
                    "{} {name:<28} {optimizer:<8} max rel err {max_rel_err:.3e} (step {worst_step}), \
                     loss {loss_rel_err:.3e}, tol {tol:.1e} {}",
                    T::NAME,
                    if ok { "ok" } else { "FAIL" }
                );
                if !ok {
                    failures.push(format!(
                        "{name}: {max_rel_err:.3e} (loss {loss_rel_err:.3e})"
                    ));
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    failures
}

#[test]
fn optim_traces_match_pytorch_in_f64() {
    let Some(file) = load() else {
        return;
    };
    assert_eq!(file.cases.len(), 20, "the fixture has 20 cases");
    let failures = check::<f64>(&file, F64_TOL);
    assert!(failures.is_empty(), "failures: {failures:#?}");
}

/// The f32 tolerance for a trace problem, derived from f32's machine epsilon and the problem's
/// conditioning.
///
/// Running in f32 rounds x₀, c, d and every gradient to f32 and evaluates each update in f32, so
/// each step adds a local error of a few roundings relative to ‖x‖∞: we count `C = 4` that are
/// not absorbed (the stored x, the gradient, the state, the update itself), each at most
/// ε = `f32::EPSILON` = 2⁻²³. An earlier error δ in x changes the gradient by at most L·δ with
/// L = max_i d_i + 1.5 the largest curvature of f(x) = Σ ½ d_i (x_i − c_i)² − cos(3 x_i)/6
/// (|∂²/∂x² cos(3x)/6| ≤ 1.5), while the quadratic part pulls errors back at rate μ = min_i d_i;
/// so each local error is amplified by at most about κ = L/μ before being damped, and K steps
/// accumulate at most K of them:
///
/// ```text
/// tol = K · C · κ · ε      (here K = 30, κ = 4.5/1 = 4.5: tol ≈ 6.4e-5)
/// ```
///
/// For scale: PyTorch's own float32 replay of these cases (the same script as in
/// docs/verify.md, parameters in float32) stays below 8.5e-7; a wrong formula (a missed bias
/// correction, a wrong ε placement with ε ≥ 1e-4, a wrong momentum form) shows up far above
/// 1e-4 within 30 steps. Differences below f32 resolution are what the f64 test is for.
fn f32_tolerance(p: &TraceProblem, steps: usize) -> f64 {
    const C: f64 = 4.0;
    let max_d = p.d.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min_d = p.d.iter().copied().fold(f64::INFINITY, f64::min);
    let kappa = (max_d + 1.5) / min_d;
    steps as f64 * C * kappa * f64::from(f32::EPSILON)
}

#[test]
fn optim_traces_match_pytorch_in_f32() {
    let Some(file) = load() else {
        return;
    };
    let steps = file.cases.iter().map(|c| c.trace.len()).max().unwrap_or(0);
    let tol = f32_tolerance(&file.problem, steps);
    assert!(tol > 1e-5 && tol < 1e-4, "tolerance {tol:.2e}");
    let failures = check::<f32>(&file, tol);
    assert!(failures.is_empty(), "failures: {failures:#?}");
}
