//! The playground's functions: optlab's 2D test functions and the lecture's 1-D double well
//! ([`optlab::problem::testfn`]), built from a request through [`ProblemSpec`] (so names,
//! parameters and their checks are those of `optlab list` and experiment files), with the view
//! and slider ranges the page uses.

use optlab::problem::testfn::{DoubleWell, Minimizer, TestFunction};
use optlab::problem::{self, Constants, Problem, ProblemSpec};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// How a slider maps its position to a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Uniform in the value.
    Linear,
    /// Uniform in log10 of the value (`min > 0`).
    Log,
    /// Uniform in log10 of 1 − value: for decay rates such as β₂ = 0.999 (`min`, `max` are
    /// the values' range, `max < 1`).
    OneMinusLog,
    /// Integers from `min` to `max`.
    Integer,
}

/// A slider's range.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Slider {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mapping from position to value.
    pub scale: Scale,
}

impl Slider {
    /// A slider from `min` to `max`.
    pub const fn new(min: f64, max: f64, scale: Scale) -> Self {
        Slider { min, max, scale }
    }
}

/// A parameter of a function with its slider.
#[derive(Clone, Copy, Debug)]
pub struct FunctionParam {
    /// Name in the problem's spec (`kappa`).
    pub name: &'static str,
    /// Label on the page.
    pub label: &'static str,
    /// Slider range (the spec's own checks still apply).
    pub slider: Slider,
}

/// A function the playground offers.
#[derive(Clone, Copy, Debug)]
pub struct FunctionInfo {
    /// The problem kind, as `optlab list` prints it.
    pub name: &'static str,
    /// Title on the page.
    pub title: &'static str,
    /// 1 or 2.
    pub dim: usize,
    /// Parameters with sliders.
    pub params: &'static [FunctionParam],
    /// Default view: `[x_min, x_max, y_min, y_max]` (for 1-D functions the x range and the
    /// f range).
    pub view: [f64; 4],
}

const fn param(name: &'static str, label: &'static str, slider: Slider) -> FunctionParam {
    FunctionParam {
        name,
        label,
        slider,
    }
}

const TILT: FunctionParam = param("tilt", "tilt t", Slider::new(-1.5, 1.5, Scale::Linear));

/// Every function of the playground, in the page's order.
pub const FUNCTIONS: &[FunctionInfo] = &[
    FunctionInfo {
        name: "rosenbrock",
        title: "Rosenbrock",
        dim: 2,
        params: &[
            param("a", "a", Slider::new(-1.5, 1.5, Scale::Linear)),
            param("b", "b", Slider::new(1.0, 1000.0, Scale::Log)),
        ],
        view: [-2.0, 2.0, -1.0, 3.0],
    },
    FunctionInfo {
        name: "quadratic",
        title: "Ill-conditioned quadratic",
        dim: 2,
        params: &[param(
            "kappa",
            "condition number κ",
            Slider::new(1.0, 1e4, Scale::Log),
        )],
        view: [-2.5, 2.5, -1.5, 1.5],
    },
    FunctionInfo {
        name: "two_well",
        title: "Two wells (2-D double well)",
        dim: 2,
        params: &[TILT],
        view: [-2.0, 2.0, -1.5, 1.5],
    },
    FunctionInfo {
        name: "rastrigin",
        title: "Rastrigin",
        dim: 2,
        params: &[param("a", "A", Slider::new(0.0, 20.0, Scale::Linear))],
        view: [-3.0, 3.0, -3.0, 3.0],
    },
    FunctionInfo {
        name: "beale",
        title: "Beale",
        dim: 2,
        params: &[],
        view: [-4.5, 4.5, -4.5, 4.5],
    },
    FunctionInfo {
        name: "himmelblau",
        title: "Himmelblau",
        dim: 2,
        params: &[],
        view: [-5.0, 5.0, -5.0, 5.0],
    },
    FunctionInfo {
        name: "double_well",
        title: "Double well, 1-D (the stories)",
        dim: 1,
        params: &[TILT],
        view: [-2.1, 2.1, -0.6, 6.0],
    },
];

/// The playground's entry for `name` (exact, as in the catalog).
pub fn lookup(name: &str) -> Result<&'static FunctionInfo, ApiError> {
    FUNCTIONS.iter().find(|f| f.name == name).ok_or_else(|| {
        ApiError::bad(format!(
            "`function`: unknown function `{name}`; valid: {}",
            FUNCTIONS
                .iter()
                .map(|f| f.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// A built function: a 2D test function or the 1-D double well.
pub enum Surface {
    /// A 2D test function.
    Plane(TestFunction),
    /// The double well.
    Line(DoubleWell),
}

impl Surface {
    /// The problem (for the runner).
    pub fn problem(&self) -> &dyn Problem<f64> {
        match self {
            Surface::Plane(p) => p,
            Surface::Line(p) => p,
        }
    }

    /// f at a point of the function's dimension.
    pub fn value(&self, x: &[f64]) -> f64 {
        match self {
            Surface::Plane(p) => p.kind.value(x[0], x[1]),
            Surface::Line(p) => p.value(x[0]),
        }
    }

    /// Known minimizers (global ones first).
    pub fn minimizers(&self) -> Vec<Minimizer> {
        match self {
            Surface::Plane(p) => p.kind.minimizers(),
            Surface::Line(p) => p.minimizers(),
        }
    }

    /// L, μ, f*, x* where known.
    pub fn constants(&self) -> &Constants {
        self.problem().constants()
    }
}

/// The function `name` with `params` (the spec's fields other than `x0` and `sigma`), start
/// point `start` (default: the spec's) and gradient noise `noise`.
pub fn build(
    info: &FunctionInfo,
    params: &Map<String, Value>,
    start: Option<&[f64]>,
    noise: f64,
) -> Result<Surface, ApiError> {
    let mut spec = Map::new();
    spec.insert("kind".into(), json!(info.name));
    for (k, v) in params {
        if k == "x0" || k == "sigma" || k == "kind" {
            return Err(ApiError::bad(format!(
                "`params.{k}`: set the start point with `start` and the noise with `noise`"
            )));
        }
        spec.insert(k.clone(), v.clone());
    }
    if let Some(x) = start {
        if x.len() != info.dim {
            return Err(ApiError::bad(format!(
                "`start`: {} has {} coordinates; `{}` is {}-dimensional",
                fmt_point(x),
                x.len(),
                info.name,
                info.dim
            )));
        }
        if let Some(v) = x.iter().find(|v| !(v.is_finite() && v.abs() <= 1e6)) {
            return Err(ApiError::bad(format!(
                "`start`: coordinate {v} must be finite with |x| ≤ 1e6"
            )));
        }
        spec.insert(
            "x0".into(),
            if info.dim == 1 { json!(x[0]) } else { json!(x) },
        );
    }
    if !(noise.is_finite() && (0.0..=100.0).contains(&noise)) {
        return Err(ApiError::bad(format!(
            "`noise` = {noise}: must be in [0, 100]"
        )));
    }
    spec.insert("sigma".into(), json!(noise));
    let spec: ProblemSpec = serde_json::from_value(Value::Object(spec))
        .map_err(|e| ApiError::bad(format!("`params` of `{}`: {e}", info.name)))?;
    let bad = |e: problem::ProblemError| ApiError::bad(format!("`params`: {e}"));
    Ok(match spec {
        ProblemSpec::Rosenbrock(s) => Surface::Plane(s.build().map_err(bad)?),
        ProblemSpec::Rastrigin(s) => Surface::Plane(s.build().map_err(bad)?),
        ProblemSpec::Quadratic(s) => Surface::Plane(s.build().map_err(bad)?),
        ProblemSpec::Beale(s) => Surface::Plane(s.build().map_err(bad)?),
        ProblemSpec::Himmelblau(s) => Surface::Plane(s.build().map_err(bad)?),
        ProblemSpec::TwoWell(s) => Surface::Plane(s.build().map_err(bad)?),
        ProblemSpec::DoubleWell(s) => Surface::Line(s.build().map_err(bad)?),
        other => {
            return Err(ApiError::bad(format!(
                "`function`: `{}` is not a 1-D or 2-D test function",
                other.kind()
            )));
        }
    })
}

/// `(x, y)` or `(x)`.
fn fmt_point(x: &[f64]) -> String {
    let parts: Vec<String> = x.iter().map(|v| v.to_string()).collect();
    format!("({})", parts.join(", "))
}

/// The catalog entry of a function: its parameters with defaults and sliders, view, default
/// start, minimizers and f* at the defaults.
pub fn describe(info: &FunctionInfo) -> Value {
    let summary = problem::CATALOG
        .iter()
        .find(|p| p.kind == info.name)
        .map(|p| (p.summary, (p.defaults)()));
    let (summary, defaults) = summary.unwrap_or(("", Value::Null));
    let default = |k: &str| defaults.get(k).cloned().unwrap_or(Value::Null);
    let params: Vec<Value> = info
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name, "label": p.label, "default": default(p.name),
                "min": p.slider.min, "max": p.slider.max, "scale": p.slider.scale,
            })
        })
        .collect();
    let start = match default("x0") {
        Value::Number(n) => json!([n]),
        v => v,
    };
    let built = build(info, &Map::new(), None, 0.0).ok();
    json!({
        "name": info.name,
        "title": info.title,
        "summary": summary,
        "dim": info.dim,
        "params": params,
        "view": info.view,
        "start": start,
        "minimizers": built.as_ref().map(Surface::minimizers),
        "f_star": built.as_ref().and_then(|s| s.constants().f_star),
    })
}

/// A problem seen by the runner with its parameter held as a 1 × d matrix, so that matrix-aware
/// methods (Muon, Shampoo, spectral steepest descent) apply to the point: Muon's orthogonalized
/// update of a 1 × 2 matrix u is u/‖u‖, Shampoo's left factor is 1 × 1 and its right one 2 × 2.
/// Elementwise methods do not see the difference.
pub struct AsMatrix<'a>(pub &'a dyn Problem<f64>);

impl Problem<f64> for AsMatrix<'_> {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn num_samples(&self) -> usize {
        self.0.num_samples()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn shape(&self) -> Vec<usize> {
        vec![1, self.0.dim()]
    }
    fn l2(&self) -> f64 {
        self.0.l2()
    }
    fn sample_loss(&self, x: &[f64], i: usize) -> f64 {
        self.0.sample_loss(x, i)
    }
    fn add_sample_grad(&self, x: &[f64], i: usize, w: f64, g: &mut [f64]) {
        self.0.add_sample_grad(x, i, w, g);
    }
    fn constants(&self) -> &Constants {
        self.0.constants()
    }
    fn grad_noise(&self) -> f64 {
        self.0.grad_noise()
    }
    fn x0(&self) -> Vec<f64> {
        self.0.x0()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_builds_at_its_defaults_with_minimizers_in_view() {
        for info in FUNCTIONS {
            let s = build(info, &Map::new(), None, 0.0);
            let Ok(s) = s else {
                panic!("{}: does not build", info.name)
            };
            assert_eq!(s.problem().dim(), info.dim, "{}", info.name);
            let ms = s.minimizers();
            assert!(!ms.is_empty(), "{}", info.name);
            for m in ms {
                let v = info.view;
                assert!(m.x[0] >= v[0] && m.x[0] <= v[1], "{}: {m:?}", info.name);
                if info.dim == 2 {
                    assert!(m.x[1] >= v[2] && m.x[1] <= v[3], "{}: {m:?}", info.name);
                }
                assert!((s.value(&m.x) - m.f).abs() < 1e-12);
            }
            let d = describe(info);
            assert_eq!(
                d["params"].as_array().map(Vec::len),
                Some(info.params.len())
            );
            for p in info.params {
                assert!(d.to_string().contains(p.name));
            }
            assert_eq!(d["start"].as_array().map(Vec::len), Some(info.dim));
            // every slider's default lies in its range
            for p in d["params"].as_array().into_iter().flatten() {
                let (v, lo, hi) = (&p["default"], &p["min"], &p["max"]);
                let (v, lo, hi) = (v.as_f64(), lo.as_f64(), hi.as_f64());
                assert!(
                    matches!((v, lo, hi), (Some(v), Some(lo), Some(hi)) if lo <= v && v <= hi),
                    "{}: {p}",
                    info.name
                );
            }
        }
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let q = lookup("quadratic").map_err(|e| e.to_string());
        let Ok(q) = q else { panic!("{q:?}") };
        let mut params = Map::new();
        params.insert("kappa".into(), json!(-1.0));
        let e = build(q, &params, None, 0.0).err().map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| e.contains("`kappa`")), "{e:?}");
        params.clear();
        params.insert("kapa".into(), json!(1.0));
        let e = build(q, &params, None, 0.0).err().map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| e.contains("kapa")), "{e:?}");
        let e = build(q, &Map::new(), Some(&[1.0]), 0.0)
            .err()
            .map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| e.contains("`start`")), "{e:?}");
        let e = build(q, &Map::new(), None, -1.0)
            .err()
            .map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| e.contains("`noise`")), "{e:?}");
        assert!(lookup("logistic").is_err());
    }
}
