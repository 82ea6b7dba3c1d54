//! `loss-landscape`: projections of a trained MLP's loss on a line and on planes (Li, Xu,
//! Taylor, Studer & Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018).
//!
//! An MLP (2 hidden ReLU layers of 64 units) is trained on MNIST-5k by SGD with momentum, once
//! without and once with dropout. On a fixed batch of training examples:
//!
//! - (a) 1-D: L(θ* + α d), α ∈ [−1, 1], along a filter-normalized random direction d, for both
//!   nets;
//! - (b) 2-D: L(θ* + α d₁ + β d₂) on a grid over [−1, 1]² for two filter-normalized random
//!   directions (each filter of d scaled to the norm of the same filter of θ*, biases zeroed:
//!   Li et al. §4), evaluated in parallel, each point independently;
//! - (c) the training trajectory θ_t projected on the first two principal directions of
//!   θ_t − θ_final (Li et al. §7), over the loss contours of that plane.

use std::path::Path;

use optlab::plot::{ContourOptions, ConvergenceOptions, contour_plot};
use optlab::reproduce::{
    Check, Figure, Image, Output, Progress, Quantity, ReproError, Size, convergence, write_csv,
};
use serde_json::json;

use super::common::{
    Probe, config, cosine, curve, dot, external, final_params, linspace, load, offset, pca2,
    train_batch, train_run, write_table,
};

/// The figure.
pub const FIGURE: Figure = Figure::new(
    "loss-landscape",
    "Loss landscape: a line, a random plane and the trajectory's PCA plane",
    "Around a trained network's weights θ*, the loss on random filter-normalized directions \
     looks like a basin: on a 2-D random plane θ* + αd₁ + βd₂ the trained point is the minimum, \
     the loss rises along every ray from it, and two random directions in this high-dimensional \
     space are nearly orthogonal; the training trajectory lies mostly in a low-dimensional \
     subspace (its first two PCA directions).",
    run,
);

/// Dropout probability of the second net.
const DROPOUT: f64 = 0.3;

fn toml(dropout: f64, steps: u64, snapshot: u64) -> String {
    format!(
        "name = \"loss-landscape\"\nseed = 0\nsteps = {steps}\neval_every = {steps}\n\
         log_every = {snapshot}\n\
         [model]\nkind = \"mlp\"\ndepth = 2\nwidth = 64\ndropout = {dropout}\n\
         [data]\nname = \"mnist\"\nvalidation = 1000\nbatch_size = 128\n\
         [optimizer]\nname = \"SGD\"\nlr = 0.05\nmomentum = 0.9\n"
    )
}

/// The 16 grid rays from the centre: directions (dx, dy) with max(|dx|, |dy|) ≤ 2, coprime.
const RAYS: [(i64, i64); 16] = [
    (1, 0),
    (2, 1),
    (1, 1),
    (1, 2),
    (0, 1),
    (-1, 2),
    (-1, 1),
    (-2, 1),
    (-1, 0),
    (-2, -1),
    (-1, -1),
    (-1, -2),
    (0, -1),
    (1, -2),
    (1, -1),
    (2, -1),
];

fn run(size: Size, dir: &Path, progress: Progress<'_>) -> Result<Output, ReproError> {
    let name = FIGURE.name;
    let steps: u64 = size.pick(800, 200);
    let snapshot = steps / 40;
    let n = size.pick(51, 21); // grid points per side
    let n_pca = size.pick(31, 15);
    let n_line = size.pick(51, 21);
    let rows = size.pick(1000, 250);
    let steps_total = 6;
    progress(0, steps_total);

    let plain = config(name, &toml(0.0, steps, snapshot))?;
    let dropped = config(name, &toml(DROPOUT, steps, snapshot))?;
    let data = load(name, &plain)?;
    let batch = train_batch(&data, rows);
    let probe = Probe::new(name, &plain, &data)?;
    let out = train_run(name, &plain, Some(snapshot))?;
    progress(1, steps_total);
    let out_drop = train_run(name, &dropped, None)?;
    progress(2, steps_total);
    let theta = final_params(&out);
    let theta_drop = final_params(&out_drop);
    let err = external(name);

    // (a) 1-D interpolation along a filter-normalized random direction of each net.
    let alphas = linspace(-1.0, 1.0, n_line);
    let line = |t: &[f32]| -> Result<Vec<f64>, ReproError> {
        let d = super::common::filter_normalized(&probe.like, t, 0, 0);
        let pts: Vec<Vec<f32>> = alphas.iter().map(|&a| offset(t, &[(a, &d)])).collect();
        probe.losses(&pts, &batch).map_err(&err)
    };
    let line_plain = line(&theta)?;
    let line_drop = line(&theta_drop)?;
    progress(3, steps_total);

    // (b) 2-D random plane.
    let d1 = super::common::filter_normalized(&probe.like, &theta, 0, 1);
    let d2 = super::common::filter_normalized(&probe.like, &theta, 0, 2);
    let xs = linspace(-1.0, 1.0, n);
    let grid = probe
        .plane(&theta, &d1, &d2, &xs, &xs, &batch)
        .map_err(&err)?;
    progress(4, steps_total);
    let c = (n / 2) as i64;
    let at = |i: i64, j: i64| grid[(j * n as i64 + i) as usize];
    let (imin, min) =
        grid.iter().enumerate().fold(
            (0, f64::INFINITY),
            |(bi, bv), (i, &v)| {
                if v < bv { (i, v) } else { (bi, bv) }
            },
        );
    let (mi, mj) = ((imin % n) as i64, (imin / n) as i64);
    let centre = at(c, c);
    let cells_off = (mi - c).abs().max((mj - c).abs());
    let cos12 = cosine(&d1, &d2);
    let nonzero = d1.iter().filter(|v| **v != 0.0).count() as f64;
    let cos_bound = 5.0 / nonzero.sqrt();
    // Rays: the loss at successive grid points from the first cell outward.
    let mut worst_drop = f64::NEG_INFINITY; // largest decrease between consecutive points
    let mut rises = 0;
    let mut min_rise = f64::INFINITY;
    for &(dx, dy) in &RAYS {
        let kmax = c / dx.abs().max(dy.abs());
        let vals: Vec<f64> = (0..=kmax).map(|k| at(c + k * dx, c + k * dy)).collect();
        let mut ok = true;
        for w in vals[1..].windows(2) {
            let drop = w[0] - w[1];
            worst_drop = worst_drop.max(drop);
            ok &= drop <= 0.0;
        }
        let rise = vals[vals.len() - 1] - vals[0];
        min_rise = min_rise.min(rise);
        if ok && rise > 0.0 {
            rises += 1;
        }
    }

    // (c) the trajectory on its PCA plane.
    let points: Vec<Vec<f32>> = out
        .snapshots
        .iter()
        .map(|s| super::common::flatten(&s.params))
        .collect();
    let ([u1, u2], explained) = pca2(&points, &theta).ok_or_else(|| ReproError::Figure {
        figure: name,
        message: "the trajectory does not span two directions".into(),
    })?;
    let coords: Vec<(f64, f64)> = points
        .iter()
        .map(|p| {
            let diff = offset(p, &[(-1.0, &theta)]);
            (dot(&diff, &u1), dot(&diff, &u2))
        })
        .collect();
    let span = |f: fn(&(f64, f64)) -> f64| {
        let (lo, hi) = coords
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        let m = 0.15 * (hi - lo).max(1e-6);
        (lo - m, hi + m)
    };
    let (bx, by) = (span(|p| p.0), span(|p| p.1));
    let pxs = linspace(bx.0, bx.1, n_pca);
    let pys = linspace(by.0, by.1, n_pca);
    let pgrid = probe
        .plane(&theta, &u1, &u2, &pxs, &pys, &batch)
        .map_err(&err)?;
    progress(5, steps_total);

    // Files.
    let mut records = out.records.clone();
    let label_drop = format!("SGD, dropout {DROPOUT}");
    records
        .rows
        .iter_mut()
        .for_each(|r| r.method = "SGD".into());
    records
        .rows
        .extend(out_drop.records.rows.iter().cloned().map(|mut r| {
            r.method = label_drop.clone();
            r
        }));
    let mut files = vec![write_csv(dir, "metrics", &records)?];
    files.push(write_table(
        dir,
        "line.csv",
        &["alpha", "loss", "loss_dropout"],
        alphas
            .iter()
            .zip(line_plain.iter().zip(&line_drop))
            .map(|(a, (l, d))| vec![a.to_string(), l.to_string(), d.to_string()]),
    )?);
    let cells = |xs: &[f64], ys: &[f64], z: &[f64]| -> Vec<Vec<String>> {
        ys.iter()
            .enumerate()
            .flat_map(|(j, y)| {
                xs.iter()
                    .enumerate()
                    .map(move |(i, x)| (i, j, *x, *y))
                    .collect::<Vec<_>>()
            })
            .map(|(i, j, x, y)| {
                vec![
                    x.to_string(),
                    y.to_string(),
                    z[j * xs.len() + i].to_string(),
                ]
            })
            .collect()
    };
    files.push(write_table(
        dir,
        "plane.csv",
        &["alpha", "beta", "loss"],
        cells(&xs, &xs, &grid),
    )?);
    files.push(write_table(
        dir,
        "pca_plane.csv",
        &["pc1", "pc2", "loss"],
        cells(&pxs, &pys, &pgrid),
    )?);
    files.push(write_table(
        dir,
        "trajectory.csv",
        &["step", "pc1", "pc2"],
        out.snapshots
            .iter()
            .zip(&coords)
            .map(|(s, (x, y))| vec![s.step.to_string(), x.to_string(), y.to_string()]),
    )?);

    files.extend(convergence(
        dir,
        "line",
        &[
            curve(
                "SGD",
                alphas.iter().copied().zip(line_plain.iter().copied()),
            ),
            curve(
                label_drop.clone(),
                alphas.iter().copied().zip(line_drop.iter().copied()),
            ),
        ],
        &ConvergenceOptions {
            title: "L(θ* + α d) along a filter-normalized random direction d".into(),
            x_label: "α".into(),
            y_label: format!("cross-entropy on {rows} training examples"),
            ..Default::default()
        },
    )?);
    let lookup = |xs: Vec<f64>, ys: Vec<f64>, z: Vec<f64>| {
        move |x: f64, y: f64| {
            let idx = |v: &[f64], t: f64| {
                let step = (v[v.len() - 1] - v[0]) / (v.len() - 1) as f64;
                (((t - v[0]) / step).round().max(0.0) as usize).min(v.len() - 1)
            };
            z[idx(&ys, y) * xs.len() + idx(&xs, x)]
        }
    };
    let f_plane = lookup(xs.clone(), xs.clone(), grid.clone());
    let f_pca = lookup(pxs.clone(), pys.clone(), pgrid.clone());
    let trajectory = vec![("SGD trajectory".to_string(), coords.clone())];
    for ext in ["png", "svg"] {
        let file = format!("plane.{ext}");
        contour_plot(
            &dir.join(&file),
            &f_plane,
            &[],
            &ContourOptions {
                title: format!(
                    "L(θ* + α d₁ + β d₂), filter-normalized random d₁, d₂ ({n}×{n} grid)"
                ),
                optimum: Some((0.0, 0.0)),
                bounds: Some([-1.0, 1.0, -1.0, 1.0]),
                grid: n - 1,
                levels: 20,
                ..Default::default()
            },
        )?;
        files.push(file);
        let file = format!("trajectory.{ext}");
        contour_plot(
            &dir.join(&file),
            &f_pca,
            &trajectory,
            &ContourOptions {
                title: format!(
                    "trajectory on its PCA plane ({:.1}% + {:.1}% of the variance)",
                    100.0 * explained[0],
                    100.0 * explained[1]
                ),
                optimum: Some((0.0, 0.0)),
                bounds: Some([bx.0, bx.1, by.0, by.1]),
                grid: n_pca - 1,
                levels: 20,
                ..Default::default()
            },
        )?;
        files.push(file);
    }
    progress(6, steps_total);

    let checks = vec![
        Check::new(
            "trained point is the grid minimum",
            format!(
                "the smallest loss of the {n}×{n} grid over [−1, 1]² lies within one cell of \
                 the centre θ* (max(|Δi|, |Δj|) ≤ 1)"
            ),
            [
                ("cells between the minimum and θ*", cells_off as f64),
                ("grid minimum", min),
                ("loss at θ*", centre),
            ],
            cells_off <= 1,
        ),
        Check::new(
            "random directions nearly orthogonal",
            format!(
                "|cos∠(d₁, d₂)| ≤ 5/√n = {cos_bound:.4}, n = {nonzero} nonzero coordinates \
                 (five standard deviations of the cosine of independent random directions)"
            ),
            [("|cos∠(d₁, d₂)|", cos12.abs()), ("bound 5/√n", cos_bound)],
            cos12.abs() <= cos_bound,
        ),
        Check::new(
            "loss rises along every grid ray",
            "along each of the 16 grid rays from θ* (directions (dx, dy), max(|dx|, |dy|) ≤ 2), \
             the loss never decreases from the first grid point outward, and ends above L(θ*)",
            [
                ("rays rising", f64::from(rises)),
                ("rays", RAYS.len() as f64),
                ("largest decrease between consecutive points", worst_drop),
                ("smallest rise end − centre", min_rise),
            ],
            rises == RAYS.len() as i32,
        ),
    ];
    let edge = |v: &[f64]| (v[0] + v[v.len() - 1]) / 2.0 - v[v.len() / 2];
    let measured = vec![
        Quantity {
            name: "SGD: training loss at θ* (fixed batch)".into(),
            value: line_plain[n_line / 2],
        },
        Quantity {
            name: format!("dropout {DROPOUT}: training loss at θ* (fixed batch)"),
            value: line_drop[n_line / 2],
        },
        Quantity {
            name: "SGD: mean rise of the 1-D loss at α = ±1".into(),
            value: edge(&line_plain),
        },
        Quantity {
            name: format!("dropout {DROPOUT}: mean rise of the 1-D loss at α = ±1"),
            value: edge(&line_drop),
        },
        Quantity {
            name: "SGD: validation accuracy".into(),
            value: out.summary.final_eval.val_acc,
        },
        Quantity {
            name: format!("dropout {DROPOUT}: validation accuracy"),
            value: out_drop.summary.final_eval.val_acc,
        },
        Quantity {
            name: "variance explained by PC1".into(),
            value: explained[0],
        },
        Quantity {
            name: "variance explained by PC2".into(),
            value: explained[1],
        },
    ];
    let images = vec![
        Image {
            file: "line.png".into(),
            caption: format!(
                "(a) 1-D: loss along a filter-normalized random direction around each trained \
                 net, without and with dropout {DROPOUT} (log scale)"
            ),
        },
        Image {
            file: "plane.png".into(),
            caption: format!(
                "(b) 2-D: loss contours on the plane of two filter-normalized random directions \
                 ({n}×{n} grid over [−1, 1]², levels log-spaced above the minimum); θ* marked"
            ),
        },
        Image {
            file: "trajectory.png".into(),
            caption: "(c) the SGD trajectory θ_t projected on the first two PCA directions of \
                      θ_t − θ_final, over the loss contours of that plane"
                .into(),
        },
    ];
    let settings = json!({
        "data": "MNIST-5k: 4,000 training, 1,000 validation images, standardized",
        "model": { "kind": "mlp", "depth": 2, "width": 64, "activation": "relu", "init": "kaiming_normal" },
        "dropout of the second net": DROPOUT,
        "optimizer": { "name": "SGD", "lr": 0.05, "momentum": 0.9, "batch_size": 128 },
        "steps": steps,
        "trajectory snapshots every": snapshot,
        "evaluation batch": format!("{rows} fixed training examples, evaluation mode (no dropout)"),
        "grid": { "points per side": n, "range": [-1.0, 1.0] },
        "PCA grid points per side": n_pca,
        "line points": n_line,
        "directions": "Gaussian, per-filter (row) rescaled to the weights' row norms, biases zero; seeded",
        "seed": 0,
    });
    Ok(Output {
        checks,
        settings,
        notes: vec![
            "The grid is evaluated in parallel (rayon), each point independently on the same \
             fixed batch, so its values do not depend on the number of threads."
                .into(),
        ],
        measured,
        images,
        files,
    })
}
