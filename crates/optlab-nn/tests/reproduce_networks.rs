//! The network figures of `optlab reproduce` (init-depth, loss-landscape, sharp-flat-sam,
//! grokking) at their quick size: every verdict holds, and the files the report needs are written.
// Test helpers (outside #[test] functions) may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use optlab::reproduce::{FigureReport, Size, figure_in};
use optlab_nn::reproduce::FIGURES;

fn run(name: &str) -> FigureReport {
    run_at(name, Size::Quick)
}

fn run_at(name: &str, size: Size) -> FigureReport {
    let dir = std::env::temp_dir().join(format!(
        "optlab-nn-repro-{name}-{size:?}-{}",
        std::process::id()
    ));
    let fig = figure_in(FIGURES.iter(), name).unwrap();
    let t = std::time::Instant::now();
    let report = fig.run(size, &dir, &|_, _| {}).unwrap();
    eprintln!("{name}: {:.1} s", t.elapsed().as_secs_f64());
    for c in &report.verdict.checks {
        eprintln!("  {} [{}]: {:?}", c.name, c.holds, c.numbers);
    }
    for q in &report.verdict.measured {
        eprintln!("  measured {} = {}", q.name, q.value);
    }
    for f in &report.files {
        assert!(report.dir.join(f).is_file(), "{f} written");
    }
    for img in &report.images {
        assert!(report.dir.join(&img.file).is_file(), "{} written", img.file);
    }
    assert!(report.files.iter().any(|f| f == "metrics.csv"));
    assert!(report.files.iter().any(|f| f == "verdict.json"));
    assert!(report.files.iter().any(|f| f.ends_with(".svg")));
    let _ = std::fs::remove_dir_all(&dir);
    report
}

#[test]
fn init_depth_quick_verdict_holds() {
    let r = run("init-depth");
    assert!(r.verdict.holds, "{:#?}", r.verdict.checks);
    assert_eq!(r.verdict.checks.len(), 3);
}

#[test]
fn loss_landscape_quick_verdict_holds() {
    let r = run("loss-landscape");
    assert!(r.verdict.holds, "{:#?}", r.verdict.checks);
    assert_eq!(r.verdict.checks.len(), 3);
}

#[test]
fn sharp_flat_sam_quick_verdict_holds() {
    let r = run("sharp-flat-sam");
    assert!(r.verdict.holds, "{:#?}", r.verdict.checks);
    assert_eq!(r.verdict.checks.len(), 3);
}

#[test]
fn grokking_quick_generalizes_late_with_weight_decay_only() {
    let r = run("grokking");
    assert!(r.verdict.holds, "{:#?}", r.verdict.checks);
    assert_eq!(r.verdict.checks.len(), 3);
}
