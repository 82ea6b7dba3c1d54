//! `POST /api/trajectory`: methods on a function from a start point, through optlab's runner
//! (problem → oracle → optimizer, schedules, divergence detection), and `POST /api/contours`:
//! the function on a grid with log-spaced contour lines (optlab's plot module).
//!
//! Caps ([`LIMITS`]) bound the work of one request so that it answers in about 100 ms at most
//! (measured in docs/playground.md): at most 10,000 steps per method and 20,000 over all methods
//! (methods run in parallel), mini-batches of at most 64 samples, grids of at most 256².

use optlab::experiment::Common;
use optlab::oracle::BatchSize;
use optlab::plot::{log_levels, marching_squares};
use optlab::problem::ProblemSpec;
use optlab::problem::testfn::Minimizer;
use optlab::runner::{self, ExperimentSpec, MethodSpec, ScheduleArg};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::functions::{self, AsMatrix};

/// Caps on one request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most steps per method.
    pub steps: u64,
    /// Most steps over all methods of a request (steps × methods).
    pub total_steps: u64,
    /// Most methods per request.
    pub methods: usize,
    /// Largest mini-batch.
    pub batch: u64,
    /// Most grid points per side of a contour grid (2-D).
    pub grid: usize,
    /// Most points of a 1-D function's curve.
    pub curve: usize,
    /// Most contour levels.
    pub levels: usize,
}

/// The caps of this server.
pub const LIMITS: Limits = Limits {
    steps: 10_000,
    total_steps: 20_000,
    methods: 8,
    batch: 64,
    grid: 256,
    curve: 2048,
    levels: 40,
};

impl Limits {
    /// As JSON (in the catalog).
    pub fn to_json(&self) -> Value {
        json!({
            "steps": self.steps, "total_steps": self.total_steps,
            "methods": self.methods, "batch": self.batch,
            "grid": self.grid, "curve": self.curve, "levels": self.levels,
        })
    }
}

/// Samples per step: `"full"` or a number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Batch {
    /// All samples (the exact gradient of a finite sum).
    #[default]
    Full,
    /// b samples drawn with replacement.
    Samples(u64),
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::N(b)) => Ok(Batch::Samples(b)),
            Ok(Raw::S(s)) if s == "full" => Ok(Batch::Full),
            _ => Err(serde::de::Error::custom(
                "expected \"full\" or a number of samples ≥ 1",
            )),
        }
    }
}

impl Serialize for Batch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Batch::Full => s.serialize_str("full"),
            Batch::Samples(b) => s.serialize_u64(*b),
        }
    }
}

/// One method of a request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodRequest {
    /// A registry name (`optlab list`) or `ArmijoGD`.
    pub optimizer: String,
    /// Hyperparameters under PyTorch's names, `lr` included.
    #[serde(default)]
    pub hyper: Map<String, Value>,
    /// A schedule spec (`{"kind": "CosineAnnealingLR", "T_max": 100}`).
    #[serde(default)]
    pub schedule: Option<Value>,
    /// Label (default: the optimizer's name, numbered when repeated).
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/trajectory`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryRequest {
    /// Function name (`rosenbrock`).
    pub function: String,
    /// Function parameters (`{"kappa": 100}`).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Start point (default: the function's).
    #[serde(default)]
    pub start: Option<Vec<f64>>,
    /// Steps per method (default 200).
    #[serde(default = "default_steps")]
    pub steps: u64,
    /// The methods.
    pub methods: Vec<MethodRequest>,
    /// Standard deviation σ of a single-sample gradient's noise (default 0).
    #[serde(default)]
    pub noise: f64,
    /// Samples per step (default `"full"`).
    #[serde(default)]
    pub batch: Batch,
    /// Seed of the noise (default 0).
    #[serde(default)]
    pub seed: u64,
}

fn default_steps() -> u64 {
    200
}

/// One method's path.
#[derive(Clone, Debug, Serialize)]
pub struct Path {
    /// Label.
    pub method: String,
    /// Optimizer name as given.
    pub optimizer: String,
    /// Iterates x_k (each of the function's dimension).
    pub points: Vec<Vec<f64>>,
    /// k of each point.
    pub iterations: Vec<u64>,
    /// f(x_k) at each point.
    pub losses: Vec<f64>,
    /// Why the run stopped early (NaN/Inf, an optimizer error), if it did.
    pub failure: Option<Value>,
}

/// The answer to `POST /api/trajectory`.
#[derive(Clone, Debug, Serialize)]
pub struct TrajectoryResponse {
    /// Function name.
    pub function: String,
    /// 1 or 2.
    pub dim: usize,
    /// Steps run per method.
    pub steps: u64,
    /// Seed.
    pub seed: u64,
    /// f* where known.
    pub f_star: Option<f64>,
    /// Known minimizers.
    pub minimizers: Vec<Minimizer>,
    /// One path per method, in request order.
    pub paths: Vec<Path>,
}

/// Checks a request against the caps and runs it.
pub fn trajectory(req: TrajectoryRequest) -> Result<TrajectoryResponse, ApiError> {
    let info = functions::lookup(&req.function)?;
    if req.steps == 0 || req.steps > LIMITS.steps {
        return Err(ApiError::bad(format!(
            "`steps` = {}: must be in 1..={}",
            req.steps, LIMITS.steps
        )));
    }
    if req.methods.is_empty() || req.methods.len() > LIMITS.methods {
        return Err(ApiError::bad(format!(
            "`methods`: {} given, must be 1..={}",
            req.methods.len(),
            LIMITS.methods
        )));
    }
    let total = req.steps * req.methods.len() as u64;
    if total > LIMITS.total_steps {
        return Err(ApiError::bad(format!(
            "`steps` × methods = {} × {} = {total}: at most {} steps over all methods of a \
             request (fewer steps or fewer methods)",
            req.steps,
            req.methods.len(),
            LIMITS.total_steps
        )));
    }
    if let Batch::Samples(b) = req.batch
        && (b == 0 || b > LIMITS.batch)
    {
        return Err(ApiError::bad(format!(
            "`batch` = {b}: must be \"full\" or in 1..={}",
            LIMITS.batch
        )));
    }
    let surface = functions::build(info, &req.params, req.start.as_deref(), req.noise)?;
    // a deterministic problem: the batch does not change the gradient, use the exact one
    let batch_size = match req.batch {
        Batch::Samples(b) if req.noise > 0.0 => BatchSize::Samples(b as usize),
        _ => BatchSize::Full,
    };
    let mut labels: Vec<String> = Vec::new();
    let mut methods = Vec::with_capacity(req.methods.len());
    for (i, m) in req.methods.iter().enumerate() {
        let base = m.name.clone().unwrap_or_else(|| m.optimizer.clone());
        let mut label = base.clone();
        let mut k = 2;
        while labels.contains(&label) {
            label = format!("{base} #{k}");
            k += 1;
        }
        labels.push(label.clone());
        methods.push(MethodSpec {
            name: Some(label),
            optimizer: m.optimizer.clone(),
            hyper: m.hyper.clone(),
            schedule: m
                .schedule
                .clone()
                .map(ScheduleArg::parse)
                .transpose()
                .map_err(|e| ApiError::bad(format!("methods[{i}].schedule: {e}")))?,
            batch_size,
            ..Default::default()
        });
    }
    let spec = ExperimentSpec {
        common: Common {
            name: "playground".into(),
            seeds: Some(1),
            seed: req.seed,
            steps: Some(req.steps),
            // the paths carry f(x_k); the runner's own records are not needed
            log_points: Some(2),
            ..Common::default()
        },
        // the runner takes the problem handed to it; this field only names a kind in summaries
        problem: ProblemSpec::default(),
        methods,
        ..Default::default()
    };
    spec.validate().map_err(|e| ApiError::bad(e.to_string()))?;
    let out = runner::run::<f64>(&spec, &AsMatrix(surface.problem()), &|_, _| {})
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let stride = runner::trajectory_stride(req.steps);
    let paths = labels
        .iter()
        .zip(&req.methods)
        .map(|(label, m)| {
            let t = out.trajectories.iter().find(|t| &t.method == label);
            let pts: Vec<Vec<f64>> = t
                .map(|t| {
                    t.points
                        .iter()
                        .map(|&(x, y)| if info.dim == 1 { vec![x] } else { vec![x, y] })
                        .collect()
                })
                .unwrap_or_default();
            let iterations = (0..pts.len() as u64)
                .map(|j| (j * stride).min(req.steps))
                .collect();
            let losses = pts.iter().map(|p| surface.value(p)).collect();
            let failure = out
                .failures
                .iter()
                .find(|f| &f.method == label)
                .map(|f| json!({ "step": f.step, "message": f.message }));
            Path {
                method: label.clone(),
                optimizer: m.optimizer.clone(),
                points: pts,
                iterations,
                losses,
                failure,
            }
        })
        .collect();
    Ok(TrajectoryResponse {
        function: info.name.into(),
        dim: info.dim,
        steps: req.steps,
        seed: req.seed,
        f_star: surface.constants().f_star,
        minimizers: surface.minimizers(),
        paths,
    })
}

/// `POST /api/contours`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContoursRequest {
    /// Function name.
    pub function: String,
    /// Function parameters.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// `[x_min, x_max, y_min, y_max]` (default: the function's view; for 1-D functions only the
    /// x range is used).
    #[serde(default)]
    pub view: Option<[f64; 4]>,
    /// Grid points along x (default 128; 1-D: points of the curve, default 512).
    #[serde(default)]
    pub nx: Option<usize>,
    /// Grid points along y (default 128).
    #[serde(default)]
    pub ny: Option<usize>,
    /// Contour levels (default 16).
    #[serde(default)]
    pub levels: Option<usize>,
}

fn in_range(field: &str, v: usize, lo: usize, hi: usize) -> Result<usize, ApiError> {
    if v < lo || v > hi {
        return Err(ApiError::bad(format!(
            "`{field}` = {v}: must be in {lo}..={hi}"
        )));
    }
    Ok(v)
}

/// The function on a grid: values (row-major, `ny` rows of `nx`), log-spaced contour levels and
/// each level's segments `[x₁, y₁, x₂, y₂, ...]`; for 1-D functions the curve f(x).
pub fn contours(req: ContoursRequest) -> Result<Value, ApiError> {
    let info = functions::lookup(&req.function)?;
    let surface = functions::build(info, &req.params, None, 0.0)?;
    let view = req.view.unwrap_or(info.view);
    let ok = |lo: f64, hi: f64| lo.is_finite() && hi.is_finite() && lo < hi && hi - lo <= 1e6;
    if !ok(view[0], view[1]) || (info.dim == 2 && !ok(view[2], view[3])) {
        return Err(ApiError::bad(format!(
            "`view` = {view:?}: must be finite [x_min, x_max, y_min, y_max] with min < max and \
             a width ≤ 1e6"
        )));
    }
    let minimizers = surface.minimizers();
    let f_star = surface.constants().f_star;
    let axis = |lo: f64, hi: f64, n: usize| -> Vec<f64> {
        (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect()
    };
    if info.dim == 1 {
        let n = in_range("nx", req.nx.unwrap_or(512), 2, LIMITS.curve)?;
        let xs = axis(view[0], view[1], n);
        let values: Vec<f64> = xs.iter().map(|&x| surface.value(&[x])).collect();
        return Ok(json!({
            "function": info.name, "dim": 1, "view": view, "xs": xs, "values": values,
            "minimizers": minimizers, "f_star": f_star,
        }));
    }
    let nx = in_range("nx", req.nx.unwrap_or(128), 2, LIMITS.grid)?;
    let ny = in_range("ny", req.ny.unwrap_or(128), 2, LIMITS.grid)?;
    let nl = in_range("levels", req.levels.unwrap_or(16), 2, LIMITS.levels)?;
    let xs = axis(view[0], view[1], nx);
    let ys = axis(view[2], view[3], ny);
    let z: Vec<f64> = ys
        .iter()
        .flat_map(|&y| xs.iter().map(move |&x| (x, y)))
        .map(|(x, y)| surface.value(&[x, y]))
        .collect();
    let levels = log_levels(&z, nl);
    let lines: Vec<Vec<f32>> = levels
        .iter()
        .map(|&c| {
            marching_squares(&z, &xs, &ys, c)
                .into_iter()
                .flat_map(|((a, b), (c, d))| [a as f32, b as f32, c as f32, d as f32])
                .collect()
        })
        .collect();
    let finite = z.iter().copied().filter(|v| v.is_finite());
    let min = finite.clone().fold(f64::INFINITY, f64::min);
    let max = finite.fold(f64::NEG_INFINITY, f64::max);
    let values: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    Ok(json!({
        "function": info.name, "dim": 2, "view": view, "nx": nx, "ny": ny,
        "values": values, "min": min, "max": max, "levels": levels, "lines": lines,
        "minimizers": minimizers, "f_star": f_star,
    }))
}
