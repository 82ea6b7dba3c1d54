//! Performance profiles (Dolan & Moré 2002): for each method, the fraction of problems ρ(τ) it
//! solves within a factor τ of the best method, against τ (AlgoPerf's leaderboard plot).
//!
//! A profile is drawn by the [convergence plot](super::convergence) on linear axes with y in
//! [0, 1]: each curve is the polyline through its (τ, ρ) points. With AlgoPerf's 100-point τ grid
//! that is exactly the function whose trapezoid integral is the score, so the area under a drawn
//! curve is the score times the grid's length.

use std::path::Path;

use super::PlotError;
use super::convergence::{ConvergenceOptions, convergence_plot};
use crate::record::{Band, BandPoint, Stats};

/// One method's profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileCurve {
    /// Legend label (e.g. `"muon (score 0.944)"`).
    pub label: String,
    /// (τ, ρ(τ)) points, τ increasing, ρ in [0, 1].
    pub points: Vec<(f64, f64)>,
}

/// Draws `curves` to `path` (`.png` or `.svg`) with `title` and the x-axis label `x_label`;
/// the y axis is "ρ(τ): fraction of workloads" on [0, 1].
pub fn performance_profile_plot(
    path: &Path,
    curves: &[ProfileCurve],
    title: &str,
    x_label: &str,
) -> Result<(), PlotError> {
    let (lo, hi) = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    if !(lo.is_finite() && hi > lo) {
        return Err(PlotError::Empty {
            file: path.display().to_string(),
            message: "a profile needs at least two distinct τ values".into(),
        });
    }
    let bands: Vec<Band> = curves
        .iter()
        .map(|c| Band {
            label: c.label.clone(),
            dashed: false,
            points: c
                .points
                .iter()
                .map(|&(x, v)| BandPoint {
                    x,
                    stats: Stats {
                        count: 1,
                        mean: v,
                        q10: v,
                        q50: v,
                        q90: v,
                    },
                })
                .collect(),
        })
        .collect();
    let opts = ConvergenceOptions {
        title: title.to_string(),
        x_label: x_label.to_string(),
        y_label: "ρ(τ): fraction of workloads".into(),
        log_y: false,
        log_x: false,
        y_range: Some((-0.02, 1.05)),
        ..Default::default()
    };
    convergence_plot(path, &bands, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_draw_as_png_and_svg() {
        let out = std::env::temp_dir().join(format!("optlab-profile-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let a = ProfileCurve {
            label: "a (score 1.000)".into(),
            points: vec![(1.0, 1.0), (4.0, 1.0)],
        };
        let b = ProfileCurve {
            label: "b (score 0.500)".into(),
            points: vec![(1.0, 0.0), (2.0, 0.0), (2.0, 1.0), (4.0, 1.0)],
        };
        let curves = [a, b];
        for name in ["p.png", "p.svg"] {
            performance_profile_plot(&out.join(name), &curves, "t", "τ").unwrap();
        }
        assert_eq!(&std::fs::read(out.join("p.png")).unwrap()[1..4], b"PNG");
        let svg = std::fs::read_to_string(out.join("p.svg")).unwrap();
        assert!(svg.contains("b (score 0.500)") && svg.contains("fraction of workloads"));
        let flat = [ProfileCurve {
            label: "x".into(),
            points: vec![(1.0, 0.0)],
        }];
        assert!(performance_profile_plot(&out.join("q.png"), &flat, "t", "τ").is_err());
        std::fs::remove_dir_all(&out).unwrap();
    }
}
