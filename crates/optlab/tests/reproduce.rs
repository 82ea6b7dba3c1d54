//! Every figure of `optlab reproduce`, at the quick size: its numerical verdict holds, its files
//! are written, and the report page embeds everything it shows. Verdicts are checked, not pixels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use optlab::reproduce::{self, FIGURES, FigureReport, Size};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("optlab-reproduce-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `name` at the quick size into `dir` and checks the verdict and the files.
fn reproduce_quick(name: &str, dir: &Path) -> FigureReport {
    let fig = reproduce::figure(name).unwrap();
    let report = fig.run(Size::Quick, dir, &|_, _| {}).unwrap();
    let v = &report.verdict;
    let failing: Vec<String> = v
        .checks
        .iter()
        .filter(|c| !c.holds)
        .map(|c| format!("{}: {} {:?}", c.name, c.statement, c.numbers))
        .collect();
    assert!(v.holds, "{name}: checks that do not hold: {failing:#?}");
    assert!(!v.checks.is_empty());
    assert_eq!(v.size, Size::Quick);
    for f in &report.files {
        let p = dir.join(name).join(f);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{name}: {} missing or empty", p.display());
    }
    for ext in [".csv", ".png", ".svg"] {
        assert!(
            report.files.iter().any(|f| f.ends_with(ext)),
            "{name}: no {ext} file in {:?}",
            report.files
        );
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(name).join("verdict.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["holds"], true);
    assert_eq!(json["figure"], name);
    assert!(json["claim"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(
        json["checks"].as_array().map(Vec::len),
        Some(v.checks.len())
    );
    report
}

/// The value of the number called `name` in the check called `check`.
fn number(report: &FigureReport, check: &str, name: &str) -> f64 {
    let c = report
        .verdict
        .checks
        .iter()
        .find(|c| c.name.contains(check))
        .unwrap_or_else(|| panic!("no check `{check}`"));
    c.numbers
        .iter()
        .find(|q| q.name == name)
        .unwrap_or_else(|| panic!("no number `{name}` in `{check}`"))
        .value
}

#[test]
fn sgd_strongly_convex_bounds_hold_and_constant_step_stalls() {
    let dir = tempdir("sc");
    let r = reproduce_quick("sgd-strongly-convex", &dir);
    // σ² is at least ‖∇f‖² at x₀ = 0 averaged over samples: ‖aᵢ‖²/4 ≈ n/4
    let s2 = number(&r, "constant step below", "σ² (max logged E‖∇f_i(x_k)‖²)");
    assert!(s2 > 1.0 && s2 < 10.0, "{s2}");
    assert!(number(&r, "stalls", "ratio") > 5.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sgd_convex_averaged_iterates_stay_below_their_bounds() {
    let dir = tempdir("convex");
    let r = reproduce_quick("sgd-convex", &dir);
    assert!(number(&r, "constant step", "R² = ‖x₀ − x*‖²") > 0.0);
    let exact = number(&r, "α₀/√(k+1)", "bound at K (exact sums)");
    let closed = number(&r, "α₀/√(k+1)", "bound at K (closed form)");
    assert!(exact <= closed, "{exact} > {closed}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn minibatch_floors_fall_roughly_like_one_over_b() {
    let dir = tempdir("mb");
    let r = reproduce_quick("minibatch", &dir);
    // variance ∝ 1/b: the floor ratio to b = 1 is about b (measured, within a factor 2)
    for b in [10.0, 50.0, 100.0] {
        let ratio = number(&r, "noise floor", &format!("floor(b = 1) / floor(b = {b})"));
        assert!(ratio > b / 2.0 && ratio < 2.0 * b, "b = {b}: {ratio}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn divergence_threshold_is_two_over_l() {
    let dir = tempdir("div");
    let r = reproduce_quick("sgd-divergence", &dir);
    assert!(r.files.iter().any(|f| f.ends_with(".gif")));
    // the measured growth follows |1 − αL|^{2K} within an order of magnitude
    let measured = number(&r, "2.1/L", "(f(x_K) − f*) / (f(x₀) − f*)");
    let predicted = number(&r, "2.1/L", "predicted ratio (|1 − αL|^{2K})");
    assert!(measured > predicted / 10.0 && measured < predicted * 10.0);
    // the report is the same on every run
    let again = tempdir("div-again");
    let r2 = reproduce_quick("sgd-divergence", &again);
    assert_eq!(
        serde_json::to_string(&r.verdict).unwrap(),
        serde_json::to_string(&r2.verdict).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&again).unwrap();
}

#[test]
fn rosenbrock_methods_verdict_and_tuned_grid() {
    let dir = tempdir("rosen");
    let r = reproduce_quick("rosenbrock-methods", &dir);
    let grid = &r.verdict.settings["final f over the grid"];
    for m in ["SGD", "Momentum", "Nesterov", "Adam", "AdamW"] {
        assert_eq!(grid[m].as_array().map(Vec::len), Some(11), "{m}");
    }
    for n in &r.verdict.notes {
        assert!(
            n.contains("not in this build's optimizer registry") || n.contains("edge of the grid"),
            "{n}"
        );
    }
    // every method the registry knows was run on the whole grid
    let names: Vec<&str> = grid
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for (label, optimizer) in [
        ("Adagrad", "Adagrad"),
        ("RMSProp", "RMSprop"),
        ("SignGD", "SignGD"),
    ] {
        let known = optlab::optim::registry::lookup(optimizer).is_ok();
        assert_eq!(names.contains(&label), known, "{label}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scalar_stories_converge_get_stuck_and_escape() {
    let dir = tempdir("scalar");
    let r = reproduce_quick("scalar-stories", &dir);
    let gifs = r.files.iter().filter(|f| f.ends_with(".gif")).count();
    assert_eq!(gifs, 3);
    let stuck = number(&r, "stuck", "f(x_K) − f*");
    assert!(stuck > 0.5, "the local minimum is {stuck} above f*");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn double_descent_peaks_at_the_interpolation_threshold() {
    let dir = tempdir("dd");
    let r = reproduce_quick("double-descent", &dir);
    assert_eq!(number(&r, "peaks at p ≈ n", "n"), 200.0);
    assert!(number(&r, "both sides", "peak / MSE at the largest p") >= 10.0);
    // every (seed, p) fit is in metrics.csv
    let csv = std::fs::read_to_string(dir.join("double-descent/metrics.csv")).unwrap();
    let grid = r.verdict.settings["p grid"].as_array().unwrap().len();
    assert_eq!(csv.lines().count(), 1 + 3 * grid);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stochastic_acceleration_rates_are_one_over_k_and_nesterov_accelerates_gd() {
    let dir = tempdir("accel");
    let r = reproduce_quick("stochastic-acceleration", &dir);
    let names: Vec<&str> = r.verdict.checks.iter().map(|c| c.name.as_str()).collect();
    let rates = names.iter().filter(|n| n.ends_with(": rate 1/k")).count();
    assert_eq!(rates, 3, "SGD, heavy ball, Nesterov: {names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.contains("L-BFGS") && n.ends_with("no better than 1/k"))
    );
    let ratio = number(&r, "Nesterov improves", "(1 − ρ_Nesterov) / (1 − ρ_GD)");
    assert!(ratio >= 2.0, "{ratio}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn heavy_tail_classes_adam_fits_rare_classes() {
    let dir = tempdir("heavy");
    let r = reproduce_quick("heavy-tail-classes", &dir);
    let csv = std::fs::read_to_string(dir.join("heavy-tail-classes/metrics.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with("loss_group_9"));
    assert!(r.files.iter().any(|f| f == "groups_adam.png"));
    // the same verdict on every run (seeded data, deterministic reductions)
    let again = tempdir("heavy-again");
    let r2 = reproduce_quick("heavy-tail-classes", &again);
    assert_eq!(
        serde_json::to_string(&r.verdict).unwrap(),
        serde_json::to_string(&r2.verdict).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&again).unwrap();
}

#[test]
fn index_page_is_self_contained() {
    let dir = tempdir("index");
    let reports: Vec<FigureReport> = ["sgd-divergence", "scalar-stories"]
        .iter()
        .map(|n| {
            reproduce::figure(n)
                .unwrap()
                .run(Size::Quick, &dir, &|_, _| {})
                .unwrap()
        })
        .collect();
    let index = reproduce::write_index(&dir, &reports).unwrap();
    let html = std::fs::read_to_string(&index).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for r in &reports {
        assert!(html.contains(&format!("id=\"{}\"", r.verdict.figure)));
        for img in &r.images {
            assert!(html.contains(&img.caption.replace('\'', "&#39;")));
        }
    }
    assert!(html.contains("data:image/png;base64,") && html.contains("data:image/gif;base64,"));
    // nothing is loaded from elsewhere: every src is a data URI, no stylesheet or script links
    for (i, _) in html.match_indices("src=\"") {
        assert!(html[i + 5..].starts_with("data:"), "external src at {i}");
    }
    for s in ["<link", "<script", "http://", "https://", "url("] {
        assert!(!html.contains(s), "found {s}");
    }
    assert_eq!(
        html.matches("<figure>").count(),
        reports.iter().map(|r| r.images.len()).sum::<usize>()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(FIGURES.len(), 9);
}
