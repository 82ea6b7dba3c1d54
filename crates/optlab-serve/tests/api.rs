//! Every endpoint over real HTTP: the happy paths (numbers checked against optlab and closed
//! forms) and the bad-input cases (HTTP 400 with a JSON error naming the field, the server still
//! answering afterwards).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, temp_dir};
use serde_json::{Value, json};

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_catalog() {
    let s = Server::start(temp_dir("catalog")).await;
    let (st, h) = s.get("/api/health").await;
    assert_eq!(st, 200);
    assert_eq!(h["ok"], true);
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));

    let (st, c) = s.get("/api/catalog").await;
    assert_eq!(st, 200);
    let names: Vec<&str> = c["optimizers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    for info in optlab::optim::registry::CATALOG {
        assert!(names.contains(&info.name), "{} missing", info.name);
    }
    assert!(names.contains(&"ArmijoGD"));
    let funcs = c["functions"].as_array().unwrap();
    let fnames: Vec<&str> = funcs.iter().filter_map(|f| f["name"].as_str()).collect();
    for f in [
        "rosenbrock",
        "rastrigin",
        "quadratic",
        "beale",
        "himmelblau",
        "two_well",
        "double_well",
    ] {
        assert!(fnames.contains(&f), "{f} missing");
    }
    let him = funcs.iter().find(|f| f["name"] == "himmelblau").unwrap();
    assert_eq!(him["minimizers"].as_array().map(Vec::len), Some(4));
    assert_eq!(f64s(&him["view"]).len(), 4);
    let quad = funcs.iter().find(|f| f["name"] == "quadratic").unwrap();
    assert_eq!(quad["params"][0]["name"], "kappa");
    assert_eq!(quad["params"][0]["scale"], "log");
    let kinds: Vec<&str> = c["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect();
    assert_eq!(kinds.len(), optlab::schedule::CATALOG.len());
    assert!(kinds.contains(&"CosineAnnealingLR"));
    assert_eq!(c["stories"].as_array().map(Vec::len), Some(3));
    assert_eq!(c["limits"]["steps"], 10_000);
    assert_eq!(c["limits"]["total_steps"], 20_000);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trajectory_is_the_method_run_by_optlab() {
    let s = Server::start(temp_dir("traj")).await;
    // GD with α = 0.1 on ½(x² + κy²), κ = 5: x_k = 2·0.9^k, y_k = 0.5^k
    let (st, t) = s
        .post(
            "/api/trajectory",
            &json!({
                "function": "quadratic", "params": {"kappa": 5.0}, "start": [2.0, 1.0],
                "steps": 30, "methods": [{"optimizer": "SGD", "hyper": {"lr": 0.1}}],
            }),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    let p = &t["paths"][0];
    assert_eq!(p["method"], "SGD");
    let pts = p["points"].as_array().unwrap();
    assert_eq!(pts.len(), 31);
    assert_eq!(
        f64s(&p["iterations"]),
        (0..=30).map(f64::from).collect::<Vec<_>>()
    );
    for (k, pt) in pts.iter().enumerate() {
        let xy = f64s(pt);
        let (x, y) = (2.0 * 0.9f64.powi(k as i32), 0.5f64.powi(k as i32));
        assert!(
            (xy[0] - x).abs() < 1e-12 && (xy[1] - y).abs() < 1e-12,
            "k = {k}: {xy:?}"
        );
        let f = 0.5 * (x * x + 5.0 * y * y);
        assert!((p["losses"][k].as_f64().unwrap() - f).abs() < 1e-12);
    }
    assert_eq!(t["f_star"], 0.0);
    assert!(p["failure"].is_null());

    // two methods with the same optimizer get distinct labels; Adam reaches Rosenbrock's valley
    let (st, t) = s
        .post(
            "/api/trajectory",
            &json!({
                "function": "rosenbrock", "steps": 2000,
                "methods": [{"optimizer": "Adam", "hyper": {"lr": 0.05}},
                            {"optimizer": "Adam", "hyper": {"lr": 0.01}}],
            }),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["paths"][0]["method"], "Adam");
    assert_eq!(t["paths"][1]["method"], "Adam #2");
    let start = f64s(&t["paths"][0]["points"][0]);
    assert_eq!(start, vec![-1.5, 2.0], "the function's default start");
    let losses = f64s(&t["paths"][0]["losses"]);
    assert!(
        losses[losses.len() - 1] < 1e-2 * losses[0],
        "{:?}",
        &losses[losses.len() - 3..]
    );

    // long runs keep about 2000 points, the last one at the last step
    let (st, t) = s
        .post(
            "/api/trajectory",
            &json!({"function": "beale", "steps": 5001,
                    "methods": [{"optimizer": "SignGD", "hyper": {"lr": 0.001}}]}),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    let it = f64s(&t["paths"][0]["iterations"]);
    assert_eq!((it[1], it[it.len() - 1], it.len()), (2.0, 5001.0, 2502));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noise_is_seeded_and_batches_reduce_it() {
    let s = Server::start(temp_dir("noise")).await;
    let req = |seed: u64, batch: Value| {
        json!({"function": "quadratic", "start": [2.0, 1.0], "steps": 400, "noise": 2.0,
               "batch": batch, "seed": seed,
               "methods": [{"optimizer": "SGD", "hyper": {"lr": 0.02}}]})
    };
    let run = |v: Value| {
        let s = &s;
        async move {
            let (st, t) = s.post("/api/trajectory", &v).await;
            assert_eq!(st, 200, "{t}");
            t["paths"][0]["points"].clone()
        }
    };
    let a = run(req(1, json!(1))).await;
    assert_eq!(a, run(req(1, json!(1))).await, "same seed, same path");
    assert_ne!(a, run(req(2, json!(1))).await, "another seed, another path");
    // the exact path for comparison
    let (_, exact) = s
        .post(
            "/api/trajectory",
            &json!({"function": "quadratic", "start": [2.0, 1.0], "steps": 400,
                    "methods": [{"optimizer": "SGD", "hyper": {"lr": 0.02}}]}),
        )
        .await;
    let exact = exact["paths"][0]["points"].clone();
    let dev = |p: &Value| -> f64 {
        let (p, e) = (p.as_array().unwrap(), exact.as_array().unwrap());
        p.iter()
            .zip(e)
            .map(|(a, b)| {
                let (a, b) = (f64s(a), f64s(b));
                (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
            })
            .sum::<f64>()
            / p.len() as f64
    };
    let (mut d1, mut d64) = (0.0, 0.0);
    for seed in 0..4 {
        d1 += dev(&run(req(seed, json!(1))).await);
        d64 += dev(&run(req(seed, json!(64))).await);
    }
    // the noise of a batch of b has variance σ²/b: 64 times less (allow a wide margin)
    assert!(d64 * 8.0 < d1, "batch 1: {d1}, batch 64: {d64}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalog_optimizer_runs_on_a_2d_function() {
    let s = Server::start(temp_dir("all")).await;
    let (_, c) = s.get("/api/catalog").await;
    for o in c["optimizers"].as_array().unwrap() {
        let name = o["name"].as_str().unwrap();
        for function in ["quadratic", "double_well"] {
            let (mut st, mut t) = s
                .post(
                    "/api/trajectory",
                    &json!({"function": function, "steps": 200,
                            "methods": [{"optimizer": name}]}),
                )
                .await;
            assert_eq!(st, 200, "{name} on {function}: {t}");
            if t["paths"][0]["failure"]["step"].is_u64() {
                // the reference default lr may diverge here (schedule-free SGD's lr = 1, the
                // package's default): the page shows the failure with its step; the method must
                // then run at a small lr
                (st, t) = s
                    .post(
                        "/api/trajectory",
                        &json!({"function": function, "steps": 200,
                                "methods": [{"optimizer": name, "hyper": {"lr": 0.01}}]}),
                    )
                    .await;
                assert_eq!(st, 200, "{name} on {function} at lr 0.01: {t}");
            }
            let p = &t["paths"][0];
            assert!(
                p["failure"].is_null(),
                "{name} on {function}: {}",
                p["failure"]
            );
            let l = f64s(&p["losses"]);
            assert_eq!(l.len(), 201, "{name}");
            assert!(
                l[200] < l[0],
                "{name} on {function}: f {} → {}",
                l[0],
                l[200]
            );
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scalar_stories_through_the_same_endpoint() {
    let s = Server::start(temp_dir("stories")).await;
    let (_, c) = s.get("/api/catalog").await;
    let stories = c["stories"].as_array().unwrap();
    let ms = c["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "double_well")
        .map(|f| f["minimizers"].clone())
        .unwrap();
    let (xg, xl) = (
        ms[0]["x"][0].as_f64().unwrap(),
        ms[1]["x"][0].as_f64().unwrap(),
    );
    let last = |t: &Value| {
        let p = t["paths"][0]["points"].as_array().unwrap();
        p[p.len() - 1][0].as_f64().unwrap()
    };
    let (st, t1) = s.post("/api/trajectory", &stories[0]["request"]).await;
    assert_eq!(st, 200, "{t1}");
    assert!(
        (last(&t1) - xg).abs() < 1e-6,
        "story 1 ends at {}",
        last(&t1)
    );
    let (st, t2) = s.post("/api/trajectory", &stories[1]["request"]).await;
    assert_eq!(st, 200, "{t2}");
    assert!(
        (last(&t2) - xl).abs() < 1e-6,
        "story 2 ends at {}",
        last(&t2)
    );
    // story 3: SGD escapes in most seeds (the figure checks ≥ 70% over 100 seeds)
    let mut escaped = 0;
    for seed in 0..10 {
        let mut r = stories[2]["request"].clone();
        r["seed"] = json!(seed);
        let (st, t3) = s.post("/api/trajectory", &r).await;
        assert_eq!(st, 200, "{t3}");
        assert_eq!(t3["dim"], 1);
        escaped += usize::from((last(&t3) - xg).abs() < 0.05);
    }
    assert!(escaped >= 5, "{escaped}/10 seeds escaped");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contours_are_the_function_on_a_grid() {
    let s = Server::start(temp_dir("contours")).await;
    let (st, c) = s
        .post(
            "/api/contours",
            &json!({"function": "rosenbrock", "params": {"b": 10.0},
                    "view": [-2.0, 2.0, -1.0, 3.0], "nx": 41, "ny": 21, "levels": 12}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    let v = f64s(&c["values"]);
    assert_eq!(v.len(), 41 * 21);
    let f = |x: f64, y: f64| (1.0 - x).powi(2) + 10.0 * (y - x * x).powi(2);
    // row j is y_j = −1 + 4j/20, column i is x_i = −2 + 4i/40
    for (i, j) in [(0, 0), (40, 0), (20, 10), (7, 13)] {
        let (x, y) = (-2.0 + 0.1 * i as f64, -1.0 + 0.2 * j as f64);
        let z = v[j * 41 + i];
        assert!(
            (z - f(x, y)).abs() <= 1e-6 * f(x, y).max(1.0),
            "({x}, {y}): {z}"
        );
    }
    assert_eq!(f64s(&c["levels"]).len(), 12);
    let lines = c["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 12);
    assert!(lines.iter().all(|l| {
        l.as_array()
            .is_some_and(|a| !a.is_empty() && a.len() % 4 == 0)
    }));
    assert_eq!(f64s(&c["minimizers"][0]["x"]), vec![1.0, 1.0]);

    let (st, c) = s
        .post(
            "/api/contours",
            &json!({"function": "double_well", "nx": 101}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["dim"], 1);
    let (xs, vals) = (f64s(&c["xs"]), f64s(&c["values"]));
    assert_eq!((xs.len(), vals.len()), (101, 101));
    for (x, v) in xs.iter().zip(&vals) {
        assert!((v - ((x * x - 1.0f64).powi(2) + 0.3 * x)).abs() < 1e-12);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_400_naming_the_field() {
    let s = Server::start(temp_dir("bad")).await;
    let ok = json!({"function": "rosenbrock", "start": [0.0, 0.0], "steps": 10,
                    "methods": [{"optimizer": "SGD", "hyper": {"lr": 0.001}}]});
    let with = |path: &str, v: Value| {
        let mut r = ok.clone();
        let mut cur = &mut r;
        let parts: Vec<&str> = path.split('.').collect();
        for (i, p) in parts.iter().enumerate() {
            let key: Value = p.parse::<usize>().map_or(json!(p), |n| json!(n));
            if i + 1 == parts.len() {
                match key {
                    Value::Number(n) => cur[n.as_u64().unwrap() as usize] = v.clone(),
                    _ => cur[*p] = v.clone(),
                }
                break;
            }
            cur = match key {
                Value::Number(n) => &mut cur[n.as_u64().unwrap() as usize],
                _ => &mut cur[*p],
            };
        }
        r.to_string()
    };
    let nine: Vec<Value> = (0..9).map(|_| json!({"optimizer": "SGD"})).collect();
    let cases: Vec<(String, &str)> =
        vec![
        (r#"{"function": "rosenbrock", "#.into(), "malformed"),
        ("hello".into(), "malformed"),
        ("[1, 2]".into(), "malformed"),
        (with("function", json!("banana")), "`function`"),
        (with("function", json!("logistic")), "`function`"),
        (with("methods.0.optimizer", json!("Adamz")), "methods[0]"),
        (with("start", json!([1.0])), "`start`"),
        (with("start", json!([1.0, 2.0, 3.0])), "`start`"),
        (with("start", json!([1e7, 0.0])), "`start`"),
        (
            r#"{"function": "rosenbrock", "start": [1e999, 0], "methods": [{"optimizer": "SGD"}]}"#
                .into(),
            "`start[0]`",
        ),
        (with("steps", json!(0)), "`steps`"),
        (with("steps", json!(1_000_000)), "`steps`"),
        (with("steps", json!(10_001)), "`steps`"),
        (format!("{{\"function\": \"beale\", \"steps\": 3000, \"methods\": {}}}",
                 json!((0..7).map(|_| json!({"optimizer": "SGD"})).collect::<Vec<_>>())),
         "`steps` × methods"),
        (with("steps", json!(-3)), "`steps`"),
        (with("steps", json!(2.5)), "`steps`"),
        (with("methods", json!([])), "`methods`"),
        (with("methods", json!(nine)), "`methods`"),
        (with("batch", json!(1000)), "`batch`"),
        (with("batch", json!(0)), "`batch`"),
        (with("batch", json!("half")), "`batch`"),
        (with("noise", json!(-1.0)), "`noise`"),
        (with("noise", json!(1e9)), "`noise`"),
        (with("methods.0.hyper", json!({"lr": -1.0})), "lr"),
        (with("methods.0.hyper", json!({"lr": "fast"})), "`lr`"),
        (with("methods.0.hyper", json!({"beta1": 0.9})), "beta1"),
        (
            with("methods.0.schedule", json!({"kind": "nope"})),
            "schedule",
        ),
        (
            with("methods.0.schedule", json!({"kind": "StepLR"})),
            "step_size",
        ),
        (with("methods.0.lr", json!(0.1)), "`methods[0].lr`"),
        (with("params", json!({"b": -1.0})), "`b`"),
        (with("params", json!({"kappa": 3.0})), "kappa"),
        (with("params", json!({"x0": [0, 0]})), "`params.x0`"),
        (with("extra", json!(1)), "extra"),
        (with("seed", json!(-1)), "`seed`"),
    ];
    for (body, needle) in &cases {
        let (st, b, head) = s.raw("POST", "/api/trajectory", body.as_bytes()).await;
        let v: Value = serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{e}: {head}"));
        let e = v["error"].as_str().unwrap_or_default();
        assert_eq!(st, 400, "{body}: {v}");
        assert!(e.contains(needle), "{body}: `{e}` does not name {needle}");
    }
    let contour_cases = [
        (json!({"function": "beale", "nx": 100_000}), "`nx`"),
        (json!({"function": "beale", "ny": 1}), "`ny`"),
        (json!({"function": "beale", "levels": 1000}), "`levels`"),
        (
            json!({"function": "beale", "view": [1.0, 0.0, 0.0, 1.0]}),
            "`view`",
        ),
        (json!({"function": "beale", "view": [0.0, 1.0]}), "`view`"),
        (json!({"function": "double_well", "nx": 1}), "`nx`"),
        (json!({"function": "nope"}), "`function`"),
        (
            json!({"function": "quadratic", "params": {"kappa": -2}}),
            "`kappa`",
        ),
    ];
    for (body, needle) in &contour_cases {
        let (st, v) = s.post("/api/contours", body).await;
        assert_eq!(st, 400, "{body}: {v}");
        let e = v["error"].as_str().unwrap_or_default();
        assert!(e.contains(needle), "{body}: `{e}` does not name {needle}");
    }
    // an oversized body
    let big = format!(
        r#"{{"function": "rosenbrock", "methods": [{{"optimizer": "SGD", "name": "{}"}}]}}"#,
        "x".repeat(optlab_serve::BODY_LIMIT)
    );
    let (st, b, _) = s.raw("POST", "/api/trajectory", big.as_bytes()).await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than"),
        "{v}"
    );
    // unknown endpoints, wrong methods and the file browser's refusals
    let (st, v) = s.get("/api/nothing").await;
    assert_eq!((st, v["error"].is_string()), (404, true));
    let (st, v) = s.get("/api/trajectory").await;
    assert_eq!(st, 405, "{v}");
    assert!(
        v["error"].as_str().unwrap_or_default().contains("use POST"),
        "{v}"
    );
    let (st, v) = s.post("/api/health", &json!({})).await;
    assert_eq!(st, 405, "{v}");
    for evil in [
        "/files/runs/../secret.txt",
        "/files/runs/%2e%2e/secret.txt",
        "/files/secret.txt",
        "/files/runs/%2e%2e%2f..%2fsecret.txt",
    ] {
        let (st, v) = s.get(evil).await;
        assert_eq!(st, 400, "{evil}: {v}");
    }
    let (st, v) = s.get("/api/files?path=..").await;
    assert_eq!(st, 400, "{v}");
    // still answering
    let (st, h) = s.get("/api/health").await;
    assert_eq!((st, &h["ok"]), (200, &json!(true)));
    let (st, _) = s.post("/api/trajectory", &ok).await;
    assert_eq!(st, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_the_file_browser() {
    let base = temp_dir("files");
    std::fs::create_dir_all(base.join("runs/logreg")).unwrap();
    std::fs::write(
        base.join("runs/logreg/summary.json"),
        r#"{"name": "logreg"}"#,
    )
    .unwrap();
    std::fs::write(base.join("secret.txt"), "private").unwrap();
    let s = Server::start(base.clone()).await;
    for (path, kind, needle) in [
        ("/", "text/html", "optlab playground"),
        ("/index.html", "text/html", "/app.js"),
        ("/app.js", "text/javascript", "/api/trajectory"),
        ("/style.css", "text/css", ".controls"),
        ("/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let (st, body, head) = s.raw("GET", path, b"").await;
        assert_eq!(st, 200, "{path}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-type: {kind}")),
            "{head}"
        );
        assert!(String::from_utf8_lossy(&body).contains(needle), "{path}");
    }
    let (st, _, _) = s.raw("GET", "/nothing.js", b"").await;
    assert_eq!(st, 404);
    let (st, l) = s.get("/api/files").await;
    assert_eq!(st, 200);
    assert_eq!(
        l["entries"],
        json!([{"name": "runs", "path": "runs", "kind": "dir"}])
    );
    let (st, l) = s.get("/api/files?path=runs/logreg").await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(l["entries"][0]["path"], "runs/logreg/summary.json");
    let (st, f) = s.get("/files/runs/logreg/summary.json").await;
    assert_eq!((st, &f["name"]), (200, &json!("logreg")));
    let (st, _) = s.get("/files/reports/index.html").await;
    assert_eq!(st, 404);
    s.stop().await;
    let _ = std::fs::remove_dir_all(base);
}
