//! Column-major matrices ([`Layout::ColumnMajor`]): every optimizer of the catalog that accepts
//! them (through `accepts_layout`) updates a column-major parameter bit for bit as it updates the
//! same values stored row-major, reports the same (row-major) state, and continues identically
//! from a state saved in either layout. The elementwise methods and Muon must accept them (the
//! burn bridge relies on it to skip transposing `Linear` weights); the others must refuse rather
//! than deviate.

// Test helpers may panic on what the test itself set up.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use optlab_optim::optim::registry::{self, CATALOG, HyperMap};
use optlab_optim::{Layout, Optimizer, Param};
use serde_json::{Value, json};

fn build(name: &str, hyper: &Value) -> Box<dyn Optimizer<f64>> {
    let Value::Object(map) = hyper.clone() else {
        panic!("not an object: {hyper}")
    };
    let map: HyperMap = map;
    registry::build::<f64>(name, &map).unwrap_or_else(|e| panic!("{name} {hyper}: {e}"))
}

/// The configurations tried per optimizer (every state buffer and shape rule switched on).
fn cases(name: &str) -> Vec<Value> {
    match name {
        "SGD" => vec![json!({"lr": 0.05, "momentum": 0.9, "nesterov": true, "weight_decay": 0.1})],
        "Adam" | "AdamW" => vec![json!({"lr": 0.01, "amsgrad": true, "weight_decay": 0.1})],
        "RMSprop" => vec![json!({"centered": true, "momentum": 0.5})],
        "Muon" => vec![
            json!({"lr": 0.02}),
            json!({"lr": 0.02, "adjust_lr_fn": "match_rms_adamw", "nesterov": false}),
            json!({"lr": 0.02, "orthogonalizer": "polar_express", "ns_steps": 8}),
            json!({"lr": 0.02, "orthogonalizer": "svd"}),
        ],
        "Partition" => vec![json!({"routes": [
            {"params": "w*", "optimizer": "Muon", "lr": 0.05},
            {"params": "all", "optimizer": "Adam", "lr": 0.01},
        ]})],
        _ => vec![json!({})],
    }
}

/// Two matrices, wide (`w`: 3 × 5) and tall (`v`: 6 × 2), with values from `seed`.
fn matrices(seed: f64) -> Vec<Param<f64>> {
    [("w", 3, 5), ("v", 6, 2)]
        .into_iter()
        .map(|(name, r, c)| {
            let data = (0..r * c)
                .map(|i| ((i as f64 + seed) * 0.77).sin() * 0.8)
                .collect();
            Param::new(name, [r, c], data).unwrap()
        })
        .collect()
}

/// A gradient that depends on the values (so that steps differ): g_ij = x_ij³ + cos(i + 2j + k).
fn set_grads(params: &mut [Param<f64>], k: usize) {
    for p in params {
        let (rows, cols) = (p.shape[0], p.shape[1]);
        for i in 0..rows {
            for j in 0..cols {
                let s = p.layout.index(i, j, rows, cols);
                p.grad[s] = p.data[s].powi(3) + ((i + 2 * j + k) as f64).cos();
            }
        }
    }
}

fn column_major(params: &[Param<f64>]) -> Vec<Param<f64>> {
    params
        .iter()
        .map(|p| p.to_layout(Layout::ColumnMajor))
        .collect()
}

fn row_major(params: &[Param<f64>]) -> Vec<Param<f64>> {
    params
        .iter()
        .map(|p| p.to_layout(Layout::RowMajor))
        .collect()
}

#[test]
fn layout_helpers_agree() {
    let p = &matrices(0.0)[0];
    let c = p.to_layout(Layout::ColumnMajor);
    assert_eq!(c.layout, Layout::ColumnMajor);
    for i in 0..3 {
        for j in 0..5 {
            let (r, s) = (
                Layout::RowMajor.index(i, j, 3, 5),
                Layout::ColumnMajor.index(i, j, 3, 5),
            );
            assert_eq!(p.data[r], c.data[s]);
            assert_eq!(Layout::ColumnMajor.row_major_index(s, 3, 5), r);
        }
    }
    assert_eq!(&c.to_layout(Layout::RowMajor), p);
    let mut bad = Param::<f64>::zeros("t", [2, 2, 2]);
    bad.layout = Layout::ColumnMajor;
    assert!(bad.check().is_err(), "column-major is for matrices only");
}

#[test]
fn accepted_layouts_give_bit_identical_steps_and_states() {
    let mut accepted = Vec::new();
    for info in CATALOG {
        for hyper in cases(info.name) {
            let (mut a, mut b) = (build(info.name, &hyper), build(info.name, &hyper));
            let mut rm = matrices(1.0);
            let mut cm = column_major(&rm);
            if !cm.iter().all(|p| b.accepts_layout(p, Layout::ColumnMajor)) {
                continue;
            }
            accepted.push(info.name);
            assert!(
                rm.iter().all(|p| a.accepts_layout(p, Layout::RowMajor)),
                "{}",
                info.name
            );
            for k in 0..4 {
                set_grads(&mut rm, k);
                set_grads(&mut cm, k);
                a.step(&mut rm).unwrap();
                b.step(&mut cm).unwrap();
                assert_eq!(row_major(&cm), rm, "{} {hyper} step {}", info.name, k + 1);
                assert_eq!(a.state(), b.state(), "{} {hyper}: state", info.name);
            }
            // A state saved from the column-major run continues a row-major run and the
            // reverse (the state is row-major whatever the layout it was built in).
            let (saved_rm, saved_cm) = (a.state(), b.state());
            let (mut c, mut d) = (build(info.name, &hyper), build(info.name, &hyper));
            c.load_state(&saved_cm).unwrap();
            d.load_state(&saved_rm).unwrap();
            let (mut rm2, mut cm2) = (rm.clone(), cm.clone());
            for k in 4..6 {
                for ps in [&mut rm, &mut cm, &mut rm2, &mut cm2] {
                    set_grads(ps, k);
                }
                a.step(&mut rm).unwrap();
                b.step(&mut cm).unwrap();
                c.step(&mut rm2).unwrap();
                d.step(&mut cm2).unwrap();
            }
            assert_eq!(rm2, rm, "{} {hyper}: resumed row-major", info.name);
            assert_eq!(
                row_major(&cm2),
                rm,
                "{} {hyper}: resumed col-major",
                info.name
            );
            assert_eq!(row_major(&cm), rm, "{} {hyper}: after resume", info.name);
        }
    }
    for name in [
        "SGD",
        "Adam",
        "AdamW",
        "Adagrad",
        "RMSprop",
        "Adadelta",
        "NAdam",
        "RAdam",
        "Adamax",
        "Muon",
        "Partition",
        "MuonAdamW",
    ] {
        assert!(accepted.contains(&name), "{name} refuses column-major");
    }
}

/// A non-finite gradient is reported at its row-major (PyTorch) index whatever the layout.
#[test]
fn nonfinite_index_is_row_major() {
    let mut cm = column_major(&matrices(2.0));
    set_grads(&mut cm, 0);
    // entry (1, 3) of the 3 × 5 matrix: row-major index 8
    let s = Layout::ColumnMajor.index(1, 3, 3, 5);
    cm[0].grad[s] = f64::NAN;
    let e = build("Adam", &json!({})).step(&mut cm).unwrap_err();
    match e {
        optlab_optim::OptimError::NonFiniteGradient { param, index, .. } => {
            assert_eq!((param.as_str(), index), ("w", 8));
        }
        other => panic!("{other}"),
    }
}
