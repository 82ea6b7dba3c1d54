//! `GET /api/catalog`: what the page can offer, read from optlab's own catalogs — the optimizer
//! registry (names, aliases, defaults), the runner's line search, the schedule catalog, the
//! playground's functions and the lecture's scalar stories. An optimizer added to the registry
//! appears here without a change to this crate.
//!
//! Each hyperparameter gets a *control* for the page: a slider whose range and scale come from
//! its PyTorch name (`lr`: log scale from 1e-4 to 10; `betas`: log scale in 1 − β), a checkbox
//! for a flag, a text field for a string. Unknown numeric names get a slider around their
//! default. The ranges are the page's, not limits: the optimizer's own validation decides what
//! is accepted, and its error is shown.

use optlab::experiment::method::SHORTHANDS;
use optlab::optim::armijo::ArmijoConfig;
use optlab::optim::registry;
use optlab::oracle::BatchSize;
use optlab::reproduce::{Size, scalar_stories};
use optlab::runner::{LrValue, MethodSpec};
use optlab::schedule;
use serde_json::{Map, Value, json};

use crate::functions::{self, FUNCTIONS, Scale, Slider};

/// Hyperparameters not shown on the page (they keep their defaults): bookkeeping flags and
/// parameter-group machinery.
const HIDDEN: &[&str] = &["maximize", "groups", "nonfinite", "foreach", "params"];

/// The slider of a numeric hyperparameter by its (PyTorch) name.
fn known_slider(name: &str) -> Option<Slider> {
    use Scale::*;
    Some(match name {
        "lr" | "adamw_lr" | "max_lr" => Slider::new(1e-4, 10.0, Log),
        "momentum" | "dampening" => Slider::new(0.0, 0.99, Linear),
        "betas" | "adamw_betas" | "alpha" | "rho" | "grafting_beta2" => {
            Slider::new(0.0, 0.9999, OneMinusLog)
        }
        "beta2" => Slider::new(0.0, 1.0, Linear),
        "eps" | "epsilon" | "grafting_epsilon" | "adamw_eps" => Slider::new(1e-12, 1.0, Log),
        "weight_decay" | "adamw_weight_decay" => Slider::new(0.0, 1.0, Linear),
        "lr_decay" => Slider::new(0.0, 1.0, Linear),
        "initial_accumulator_value" => Slider::new(0.0, 10.0, Linear),
        "momentum_decay" => Slider::new(1e-4, 1.0, Log),
        "c" => Slider::new(0.0, 0.5, Linear),
        "ns_steps" => Slider::new(1.0, 10.0, Integer),
        "max_backtracks" => Slider::new(1.0, 100.0, Integer),
        _ => return None,
    })
}

/// The page's control for a hyperparameter with this default, or `None` to hide it.
pub fn control(name: &str, default: &Value) -> Option<Value> {
    if HIDDEN.contains(&name) {
        return None;
    }
    let slider = |s: Slider, kind: &str| {
        json!({ "name": name, "type": kind, "default": default,
                "min": s.min, "max": s.max, "scale": s.scale })
    };
    match default {
        Value::Bool(_) => Some(json!({ "name": name, "type": "bool", "default": default })),
        Value::String(_) => Some(json!({ "name": name, "type": "string", "default": default })),
        Value::Number(n) => {
            let v = n.as_f64()?;
            let s = known_slider(name).unwrap_or_else(|| {
                if n.is_f64() {
                    if v > 0.0 {
                        Slider::new(v / 1000.0, v * 1000.0, Scale::Log)
                    } else {
                        Slider::new(0.0, 1.0, Scale::Linear)
                    }
                } else {
                    Slider::new(0.0, (4.0 * v).max(10.0), Scale::Integer)
                }
            });
            Some(slider(s, "number"))
        }
        // a pair such as betas = [β₁, β₂]: one slider each
        Value::Array(items) if items.len() == 2 && items.iter().all(Value::is_f64) => {
            known_slider(name).map(|s| slider(s, "numbers"))
        }
        _ => None,
    }
}

/// The controls of a default hyperparameter map, in the map's (alphabetical) order with `lr`
/// first.
fn controls(defaults: &Value) -> Vec<Value> {
    let Value::Object(map) = defaults else {
        return Vec::new();
    };
    let mut out: Vec<Value> = map.iter().filter_map(|(k, v)| control(k, v)).collect();
    out.sort_by_key(|c| c["name"] != "lr");
    out
}

/// The optimizers: every registry entry, then the runner's line search.
fn optimizers() -> Vec<Value> {
    let mut out: Vec<Value> = registry::CATALOG
        .iter()
        .map(|info| {
            let defaults = (info.defaults)();
            json!({
                "name": info.name,
                "aliases": info.aliases,
                "summary": info.summary,
                "defaults": defaults,
                "controls": controls(&defaults),
            })
        })
        .collect();
    // the shorthands (ArmijoGD = SGD inside the Armijo line search): the line search's
    // defaults and the first trial step lr = 1
    let mut armijo = serde_json::to_value(ArmijoConfig::default()).unwrap_or(Value::Null);
    if let Some(o) = armijo.as_object_mut() {
        o.insert("lr".into(), json!(1.0));
    }
    for (name, aliases, summary) in SHORTHANDS {
        out.push(json!({
            "name": name,
            "aliases": aliases,
            "summary": format!("{summary} (exact gradients only)"),
            "defaults": armijo,
            "controls": controls(&armijo),
        }));
    }
    out
}

/// The schedules of the schedule catalog: kind, aliases, formula, arguments (default as JSON,
/// allowed range) and a minimal spec (the catalog's example, as JSON).
fn schedules() -> Vec<Value> {
    schedule::CATALOG
        .iter()
        .map(|s| {
            let example = toml::from_str::<toml::Table>(&format!("s = {}", s.example))
                .ok()
                .and_then(|t| t.get("s").cloned())
                .and_then(|v| serde_json::to_value(v).ok())
                .unwrap_or(Value::Null);
            let args: Vec<Value> = s
                .args
                .iter()
                .map(|a| {
                    json!({
                        "name": a.name,
                        "default": a.default.and_then(|d| serde_json::from_str::<Value>(d).ok()),
                        "range": a.range,
                    })
                })
                .collect();
            json!({
                "kind": s.kind, "aliases": s.aliases, "formula": s.formula,
                "args": args, "example": example,
            })
        })
        .collect()
}

/// A runner method as a playground method: optimizer, hyperparameters (lr included) and schedule.
fn method_json(m: &MethodSpec) -> Value {
    let mut hyper: Map<String, Value> = m.hyper.clone();
    match &m.lr {
        Some(LrValue::Number(v)) => {
            hyper.insert("lr".into(), json!(v));
        }
        Some(LrValue::Expr(e)) => {
            hyper.insert("lr".into(), json!(e));
        }
        None => {}
    }
    let mut out = json!({ "optimizer": m.optimizer, "hyper": hyper });
    if let Some(s) = &m.schedule {
        out["schedule"] = serde_json::to_value(s).unwrap_or(Value::Null);
    }
    out
}

/// The lecture's three scalar stories (`optlab reproduce scalar-stories`, at the size its tests
/// check: SGD for 10,000 steps) as trajectory requests.
pub fn stories() -> Vec<Value> {
    scalar_stories::stories(Size::Quick)
        .iter()
        .map(|s| {
            let batch = match s.method.batch_size {
                BatchSize::Full => json!("full"),
                BatchSize::Samples(b) => json!(b),
            };
            json!({
                "name": s.stem,
                "title": s.title,
                "request": {
                    "function": "double_well",
                    "params": { "tilt": s.problem.tilt },
                    "start": [s.problem.x0],
                    "steps": s.iterations,
                    "noise": s.problem.sigma,
                    "batch": batch,
                    "seed": 0,
                    "methods": [method_json(&s.method)],
                },
            })
        })
        .collect()
}

/// The whole catalog.
pub fn catalog() -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "optimizers": optimizers(),
        "schedules": schedules(),
        "functions": FUNCTIONS.iter().map(functions::describe).collect::<Vec<_>>(),
        "stories": stories(),
        "limits": crate::trajectory::LIMITS.to_json(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_optimizer_is_listed_with_an_lr_slider_first() {
        let c = catalog();
        let opts = c["optimizers"].as_array().cloned().unwrap_or_default();
        assert_eq!(opts.len(), registry::CATALOG.len() + SHORTHANDS.len());
        for o in &opts {
            let controls = o["controls"].as_array().cloned().unwrap_or_default();
            if o["defaults"].get("lr").is_some() {
                assert_eq!(controls[0]["name"], "lr", "{}", o["name"]);
                assert_eq!(controls[0]["scale"], "log", "{}", o["name"]);
            }
            for c in &controls {
                assert!(!HIDDEN.contains(&c["name"].as_str().unwrap_or("")));
                if c["type"] == "number" {
                    let (lo, hi) = (c["min"].as_f64(), c["max"].as_f64());
                    let d = c["default"].as_f64();
                    assert!(
                        matches!((lo, hi, d), (Some(lo), Some(hi), Some(_)) if lo < hi),
                        "{}: {c}",
                        o["name"]
                    );
                }
            }
        }
        let adam = opts.iter().find(|o| o["name"] == "Adam");
        let betas = adam.and_then(|a| {
            a["controls"]
                .as_array()?
                .iter()
                .find(|c| c["name"] == "betas")
                .cloned()
        });
        assert!(betas.is_some_and(|b| b["type"] == "numbers" && b["scale"] == "one_minus_log"));
    }

    #[test]
    fn schedules_carry_their_example_as_json() {
        let s = schedules();
        assert_eq!(s.len(), schedule::CATALOG.len());
        for v in &s {
            assert!(v["example"]["kind"].is_string(), "{v}");
        }
        let cos = s.iter().find(|v| v["kind"] == "CosineAnnealingLR");
        assert!(cos.is_some_and(|c| c["example"]["T_max"] == 100));
    }

    #[test]
    fn stories_are_the_figure_settings() {
        let s = stories();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0]["request"]["start"][0], -1.8);
        assert_eq!(s[2]["request"]["batch"], 1);
        assert_eq!(
            s[2]["request"]["methods"][0]["schedule"]["kind"],
            "CosineAnnealingLR"
        );
        assert_eq!(s[1]["request"]["batch"], "full");
    }
}
