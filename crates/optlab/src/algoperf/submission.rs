//! Submission files (TOML): an optimizer, a learning-rate schedule over the workload's step hint,
//! and the hyperparameters to tune — a search space or a fixed list of points.
//!
//! ```toml
//! name = "adamw"                        # default: the file stem; names the results directory
//! description = "AdamW, AlgoPerf's paper-baseline search space"
//!
//! [optimizer]                           # any optlab optimizer (`optlab list`), PyTorch names
//! name = "AdamW"
//! eps = 1e-8                            # fixed hyperparameters, `groups` and routes included
//!
//! [schedule]                            # over the workload's step hint
//! kind = "warmup_cosine"                # constant | warmup_cosine | warmup_linear | custom
//! warmup_factor = 0.05                  # warmup steps = ⌊warmup_factor · hint⌋
//!
//! [search_space]                        # AlgoPerf's tuning_search_space.json, in TOML
//! learning_rate = { min = 1e-4, max = 1e-2, scaling = "log" }
//! one_minus_beta1 = { min = 2e-2, max = 0.5, scaling = "log" }
//! weight_decay = { min = 5e-3, max = 1.0, scaling = "log" }
//!
//! [targets]                             # where a hyperparameter goes, if not by convention
//! one_minus_beta1 = { set = "betas[0]", transform = "one_minus" }
//! ```
//!
//! Instead of `[search_space]`, `[[points]]` lists fixed points (trial j uses point j).
//!
//! **Targets.** A hyperparameter named in the search space (or a point) is written into the
//! optimizer's hyperparameters, the schedule or the workload. `[targets]` says where, as a path
//! (`"lr"`, `"betas[1]"`, `"groups[0].lr"`, `"routes[1].weight_decay"`, `"schedule.warmup_factor"`,
//! `"workload.dropout_rate"`) or a table `{ set = PATH, transform = "one_minus" }` (value 1 − x).
//! Without an entry, AlgoPerf's names follow its baselines: `learning_rate` → `lr`,
//! `one_minus_beta1` → `betas[0]` = 1 − x, `beta1` → `betas[0]`, `beta2` → `betas[1]`,
//! `one_minus_beta2` → `betas[1]` = 1 − x, `weight_decay` → `weight_decay`, `warmup_factor`,
//! `decay_steps_factor`, `end_factor`, `step_hint_factor` → the schedule's fields,
//! `label_smoothing`, `dropout_rate` → the workload; any other name is an optimizer field of that
//! name. A path's first key missing from `[optimizer]` is taken from the optimizer's defaults
//! (so `betas[0]` works without writing `betas`).
//!
//! **Schedules** (H = ⌊step_hint_factor · step hint⌋; W = ⌊warmup_factor · H⌋; D =
//! ⌊decay_steps_factor · H⌋; the rate is held at its value at D afterwards):
//!
//! | kind | fields (defaults) | rate at step k |
//! |---|---|---|
//! | `constant` | — | α |
//! | `warmup_cosine` | `warmup_factor` (0), `decay_steps_factor` (1), `step_hint_factor` (1) | linear 0 → α over W, then cosine to 0 at D |
//! | `warmup_linear` | the same and `end_factor` (0) | linear 0 → α over W, then linear to `end_factor`·α at D |
//! | `custom` | `spec`: any optlab schedule in steps (`{ kind = "StepLR", step_size = 100 }`) | as given |
//!
//! AlgoPerf's NAdamW baseline (`step_hint_factor` 0.75) and SGD + Nesterov baseline
//! (`decay_steps_factor` 0.9, `end_factor`) are both of these forms.
//!
//! Every field is checked when the file is loaded: unknown fields, empty or inverted ranges,
//! targets that do not exist, and the optimizer and schedule are built at the corners of the
//! search space (and at every fixed point) so that a bad value fails before any training.

use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AlgoPerfError;
use super::search::{Dimension, Ordered, Point, SearchSpace, in_file_order};
use crate::error::OptimError;
use crate::optim::Optimizer;
use crate::optim::registry::{self, HyperMap};
use crate::scalar::Scalar;
use crate::schedule::{CosineAnnealingLR, LinearLR, Schedule, ScheduleSpec, Warmup};

/// The submissions shipped with optlab (`algoperf/submissions/*.toml`), by name.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "nadamw",
        include_str!("../../../../algoperf/submissions/nadamw.toml"),
    ),
    (
        "adamw",
        include_str!("../../../../algoperf/submissions/adamw.toml"),
    ),
    (
        "sgd_nesterov",
        include_str!("../../../../algoperf/submissions/sgd_nesterov.toml"),
    ),
    (
        "muon_adamw",
        include_str!("../../../../algoperf/submissions/muon_adamw.toml"),
    ),
    (
        "shampoo",
        include_str!("../../../../algoperf/submissions/shampoo.toml"),
    ),
    (
        "schedule_free_adamw",
        include_str!("../../../../algoperf/submissions/schedule_free_adamw.toml"),
    ),
];

/// Hyperparameters that go to the workload rather than the optimizer (AlgoPerf's baselines tune
/// them; the workloads read them from [`Resolved::workload`]).
pub const WORKLOAD_HYPERPARAMETERS: [&str; 2] = ["dropout_rate", "label_smoothing"];

/// The step hint used to validate schedules when a file is loaded.
const VALIDATION_STEP_HINT: u64 = 10_000;

/// `[optimizer]`: a registry name and fixed hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSection {
    /// Any optimizer `optlab list` shows (name or alias).
    pub name: String,
    /// Fixed hyperparameters under PyTorch's names (incl. `groups`, or a partition's `routes`).
    #[serde(flatten)]
    pub hyperparameters: HyperMap,
}

/// The schedule kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// The optimizer's rate throughout.
    #[default]
    Constant,
    /// Linear warmup, then cosine decay to 0.
    WarmupCosine,
    /// Linear warmup, then linear decay to `end_factor`·α.
    WarmupLinear,
    /// Any optlab schedule with absolute step counts.
    Custom,
}

/// `[schedule]` as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    /// The kind (default `constant`).
    #[serde(default)]
    pub kind: ScheduleKind,
    /// Warmup length as a fraction of H, in [0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_factor: Option<f64>,
    /// End of the decay as a fraction of H, in (0, ∞) and after the warmup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_steps_factor: Option<f64>,
    /// H = ⌊step_hint_factor · step hint⌋, step_hint_factor > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_hint_factor: Option<f64>,
    /// Final rate of `warmup_linear` as a fraction of α, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_factor: Option<f64>,
    /// The schedule of `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ScheduleSpec>,
}

/// How a target transforms the value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// The value itself.
    #[default]
    Identity,
    /// 1 − value (AlgoPerf's `one_minus_beta1`).
    OneMinus,
}

/// Where a hyperparameter goes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    /// The path (`lr`, `betas[0]`, `schedule.warmup_factor`, `workload.dropout_rate`).
    pub set: String,
    /// The transform.
    pub transform: Transform,
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Target;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a path such as \"betas[0]\", or a table { set = PATH, transform = \"one_minus\" }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Target, E> {
                Ok(Target {
                    set: v.to_string(),
                    transform: Transform::Identity,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Target, A::Error> {
                let (mut set, mut transform) = (None, Transform::Identity);
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "set" => set = Some(map.next_value::<String>()?),
                        "transform" => transform = map.next_value()?,
                        other => {
                            return Err(de::Error::unknown_field(other, &["set", "transform"]));
                        }
                    }
                }
                let set = set.ok_or_else(|| de::Error::missing_field("set"))?;
                Ok(Target { set, transform })
            }
        }
        d.deserialize_any(V)
    }
}

/// The file as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmissionFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    optimizer: OptimizerSection,
    #[serde(default)]
    schedule: ScheduleSection,
    search_space: Option<Ordered<toml::Spanned<Dimension>>>,
    points: Option<Vec<Ordered<toml::Spanned<Value>>>>,
    #[serde(default)]
    targets: Ordered<Target>,
}

/// What is tuned.
#[derive(Clone, Debug, PartialEq)]
pub enum Tuning {
    /// Quasi-random search over a space.
    Space(SearchSpace),
    /// A fixed list of points.
    Points(Vec<Point>),
    /// Nothing: every trial runs the same configuration (self-tuning submissions).
    Fixed,
}

/// A checked submission.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    /// Name (the results directory `DIR/<name>/`).
    pub name: String,
    /// Description.
    pub description: String,
    /// `[optimizer]`.
    pub optimizer: OptimizerSection,
    /// `[schedule]`.
    pub schedule: ScheduleSection,
    /// The search space or points.
    pub tuning: Tuning,
    /// Explicit targets (`[targets]`).
    pub targets: Ordered<Target>,
    /// The file's text (copied into results directories).
    pub source: String,
}

/// The configuration of one trial: what the training code builds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Resolved {
    /// Optimizer registry name.
    pub optimizer: String,
    /// Its hyperparameters (for [`registry::build`]).
    pub hyperparameters: HyperMap,
    /// The learning-rate schedule.
    pub schedule: ResolvedSchedule,
    /// Workload hyperparameters (`dropout_rate`, `label_smoothing`).
    pub workload: Map<String, Value>,
}

/// A trial's optimizer and schedule, built ([`Submission::build`]).
pub struct Built<T: Scalar> {
    /// The optimizer (parameter groups and partitions included).
    pub optimizer: Box<dyn Optimizer<T>>,
    /// The learning-rate schedule.
    pub schedule: HeldSchedule,
    /// What they were built from.
    pub resolved: Resolved,
}

/// A schedule in steps, held constant from `hold_from` on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedSchedule {
    /// The schedule.
    pub spec: ScheduleSpec,
    /// The step from which the rate stays at its value there (the end of the decay).
    pub hold_from: Option<u64>,
}

/// A built [`ResolvedSchedule`].
#[derive(Debug)]
pub struct HeldSchedule {
    inner: Box<dyn Schedule>,
    hold_from: Option<u64>,
}

impl Schedule for HeldSchedule {
    fn lr(&self, base_lr: f64, k: u64) -> f64 {
        let k = self.hold_from.map_or(k, |h| k.min(h));
        self.inner.lr(base_lr, k)
    }
}

impl ResolvedSchedule {
    /// Builds the schedule.
    pub fn build(&self) -> Result<HeldSchedule, OptimError> {
        Ok(HeldSchedule {
            inner: self.spec.build()?,
            hold_from: self.hold_from,
        })
    }
}

/// One segment of a target path: a key and indices (`betas[0]` → ("betas", [0])).
fn parse_path(path: &str) -> Result<Vec<(String, Vec<usize>)>, String> {
    let mut out = Vec::new();
    for seg in path.split('.') {
        let (key, mut rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        let ok_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok_key {
            return Err(format!(
                "`{path}` is not a path (keys of letters, digits and _, joined by `.`, with \
                 optional [index])"
            ));
        }
        let mut idx = Vec::new();
        while !rest.is_empty() {
            let close = rest
                .find(']')
                .filter(|_| rest.starts_with('['))
                .ok_or_else(|| format!("`{path}`: unbalanced [ ]"))?;
            let n = rest[1..close]
                .parse::<usize>()
                .map_err(|_| format!("`{path}`: index `{}` is not a number", &rest[1..close]))?;
            idx.push(n);
            rest = &rest[close + 1..];
        }
        out.push((key.to_string(), idx));
    }
    Ok(out)
}

/// Writes `value` at `path` into `map`; the first key, when missing, comes from `defaults`.
fn set_path(map: &mut HyperMap, defaults: &Value, path: &str, value: Value) -> Result<(), String> {
    let segs = parse_path(path)?;
    let mut cur: &mut Value = {
        let (k0, _) = &segs[0];
        if !map.contains_key(k0) {
            let d = defaults.get(k0).cloned().ok_or_else(|| {
                let valid: Vec<&str> = defaults
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                format!(
                    "`{k0}` is not a hyperparameter of this optimizer (valid: {})",
                    valid.join(", ")
                )
            })?;
            map.insert(k0.clone(), d);
        }
        map.get_mut(k0)
            .ok_or_else(|| format!("`{k0}` is missing"))?
    };
    for (i, (key, idx)) in segs.iter().enumerate() {
        if i > 0 {
            let obj = cur.as_object_mut().ok_or_else(|| {
                format!("`{path}`: `{key}` is inside a value that is not a table")
            })?;
            cur = obj.entry(key.clone()).or_insert(Value::Null);
        }
        for &n in idx {
            let arr = cur
                .as_array_mut()
                .ok_or_else(|| format!("`{path}`: `{key}` is not a list"))?;
            let len = arr.len();
            cur = arr
                .get_mut(n)
                .ok_or_else(|| format!("`{path}`: index {n} out of range (length {len})"))?;
        }
    }
    *cur = value;
    Ok(())
}

/// The default target of a hyperparameter name (AlgoPerf's baseline conventions).
fn default_target(name: &str) -> Target {
    let (set, transform) = match name {
        "learning_rate" => ("lr".to_string(), Transform::Identity),
        "one_minus_beta1" => ("betas[0]".into(), Transform::OneMinus),
        "beta1" => ("betas[0]".into(), Transform::Identity),
        "beta2" => ("betas[1]".into(), Transform::Identity),
        "one_minus_beta2" => ("betas[1]".into(), Transform::OneMinus),
        "warmup_factor" | "decay_steps_factor" | "end_factor" | "step_hint_factor" => {
            (format!("schedule.{name}"), Transform::Identity)
        }
        n if WORKLOAD_HYPERPARAMETERS.contains(&n) => {
            (format!("workload.{n}"), Transform::Identity)
        }
        n => (n.to_string(), Transform::Identity),
    };
    Target { set, transform }
}

fn check_fraction(
    field: &str,
    v: f64,
    ok: impl Fn(f64) -> bool,
    range: &str,
) -> Result<(), (String, String)> {
    if v.is_finite() && ok(v) {
        Ok(())
    } else {
        Err((
            format!("schedule.{field}"),
            format!("{v}: must be in {range}"),
        ))
    }
}

impl ScheduleSection {
    /// Checks the fields for the kind; the error is `(field path, message)`.
    pub fn check(&self) -> Result<(), (String, String)> {
        let allowed: &[&str] = match self.kind {
            ScheduleKind::Constant => &[],
            ScheduleKind::WarmupCosine => {
                &["warmup_factor", "decay_steps_factor", "step_hint_factor"]
            }
            ScheduleKind::WarmupLinear => &[
                "warmup_factor",
                "decay_steps_factor",
                "step_hint_factor",
                "end_factor",
            ],
            ScheduleKind::Custom => &["spec"],
        };
        let given = [
            ("warmup_factor", self.warmup_factor.is_some()),
            ("decay_steps_factor", self.decay_steps_factor.is_some()),
            ("step_hint_factor", self.step_hint_factor.is_some()),
            ("end_factor", self.end_factor.is_some()),
            ("spec", self.spec.is_some()),
        ];
        for (f, set) in given {
            if set && !allowed.contains(&f) {
                return Err((
                    format!("schedule.{f}"),
                    format!(
                        "not a field of kind {:?} (its fields: {})",
                        self.kind,
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                ));
            }
        }
        if let Some(v) = self.warmup_factor {
            check_fraction("warmup_factor", v, |v| (0.0..1.0).contains(&v), "[0, 1)")?;
        }
        if let Some(v) = self.decay_steps_factor {
            check_fraction("decay_steps_factor", v, |v| v > 0.0, "(0, ∞)")?;
            if v <= self.warmup_factor.unwrap_or(0.0) {
                return Err((
                    "schedule.decay_steps_factor".into(),
                    format!(
                        "{v}: the decay must end after the warmup (warmup_factor = {})",
                        self.warmup_factor.unwrap_or(0.0)
                    ),
                ));
            }
        }
        if let Some(v) = self.step_hint_factor {
            check_fraction("step_hint_factor", v, |v| v > 0.0, "(0, ∞)")?;
        }
        if let Some(v) = self.end_factor {
            check_fraction("end_factor", v, |v| (0.0..=1.0).contains(&v), "[0, 1]")?;
        }
        if self.kind == ScheduleKind::Custom && self.spec.is_none() {
            return Err((
                "schedule.spec".into(),
                "missing: kind = \"custom\" needs spec = { kind = ..., ... } (steps)".into(),
            ));
        }
        Ok(())
    }

    /// The schedule in steps for a workload with `step_hint` steps.
    pub fn resolve(&self, step_hint: u64) -> ResolvedSchedule {
        let h = (self.step_hint_factor.unwrap_or(1.0) * step_hint as f64).floor();
        let warmup = (self.warmup_factor.unwrap_or(0.0) * h).floor() as u64;
        let decay_end =
            ((self.decay_steps_factor.unwrap_or(1.0) * h).floor() as u64).max(warmup + 1);
        let t = decay_end - warmup;
        match self.kind {
            ScheduleKind::Constant => ResolvedSchedule {
                spec: ScheduleSpec::Constant,
                hold_from: None,
            },
            ScheduleKind::Custom => ResolvedSchedule {
                spec: self.spec.clone().unwrap_or_default(),
                hold_from: None,
            },
            ScheduleKind::WarmupCosine => ResolvedSchedule {
                spec: ScheduleSpec::Warmup(Warmup {
                    warmup_steps: warmup,
                    start_factor: 0.0,
                    then: Box::new(ScheduleSpec::CosineAnnealingLR(CosineAnnealingLR {
                        t_max: t,
                        eta_min: 0.0,
                    })),
                }),
                hold_from: Some(decay_end),
            },
            ScheduleKind::WarmupLinear => ResolvedSchedule {
                spec: ScheduleSpec::Warmup(Warmup {
                    warmup_steps: warmup,
                    start_factor: 0.0,
                    then: Box::new(ScheduleSpec::LinearLR(LinearLR {
                        start_factor: 1.0,
                        end_factor: self.end_factor.unwrap_or(0.0),
                        total_iters: t,
                    })),
                }),
                hold_from: Some(decay_end),
            },
        }
    }
}

/// Checks a submission name: it names a directory.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}`: a submission name is letters, digits, `_`, `-` and `.` (it names a \
             directory), not starting with `.`"
        ))
    }
}

impl Submission {
    /// Parses and checks a submission from TOML text; `origin` names it in errors and gives
    /// the default name (its file stem).
    pub fn parse(text: &str, origin: &str) -> Result<Submission, AlgoPerfError> {
        let err = |field: &str, message: String| AlgoPerfError::Submission {
            submission: origin.to_string(),
            field: field.to_string(),
            message,
        };
        let file: SubmissionFile = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            let field = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.starts_with("unknown field"))
                .unwrap_or("(file)")
                .to_string();
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].lines().count().max(1);
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            err(&field, format!("{msg}{at}"))
        })?;
        let stem = Path::new(origin)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| origin.to_string());
        let name = file.name.clone().unwrap_or(stem);
        check_name(&name).map_err(|m| err("name", m))?;
        registry::lookup(&file.optimizer.name).map_err(|e| err("optimizer.name", e.to_string()))?;
        file.schedule.check().map_err(|(f, m)| err(&f, m))?;
        let search_space = file.search_space.map(in_file_order);
        let points: Option<Vec<Point>> = file
            .points
            .map(|ps| ps.into_iter().map(in_file_order).collect());
        let tuning = match (&search_space, &points) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "points",
                    "give either [search_space] or [[points]], not both".into(),
                ));
            }
            (Some(raw), None) => Tuning::Space(
                SearchSpace::check(raw).map_err(|(f, m)| err(&format!("search_space.{f}"), m))?,
            ),
            (None, Some(points)) => {
                if points.is_empty() {
                    return Err(err("points", "is empty".into()));
                }
                let first: Vec<&str> = points[0].names().collect();
                for (i, p) in points.iter().enumerate() {
                    let names: Vec<&str> = p.names().collect();
                    let mut a = names.clone();
                    let mut b = first.clone();
                    a.sort_unstable();
                    b.sort_unstable();
                    if a != b {
                        return Err(err(
                            &format!("points[{i}]"),
                            format!(
                                "has hyperparameters [{}] but points[0] has [{}]: every point \
                                 names the same ones",
                                names.join(", "),
                                first.join(", ")
                            ),
                        ));
                    }
                }
                Tuning::Points(points.clone())
            }
            (None, None) => Tuning::Fixed,
        };
        let sub = Submission {
            name,
            description: file.description,
            optimizer: file.optimizer,
            schedule: file.schedule,
            tuning,
            targets: file.targets,
            source: text.to_string(),
        };
        // every explicit target names a tuned hyperparameter
        let tuned = sub.hyperparameter_names();
        for (n, _) in &sub.targets.0 {
            if !tuned.iter().any(|t| t == n) {
                return Err(err(
                    &format!("targets.{n}"),
                    format!(
                        "`{n}` is not a tuned hyperparameter (tuned: {})",
                        if tuned.is_empty() {
                            "none".to_string()
                        } else {
                            tuned.join(", ")
                        }
                    ),
                ));
            }
        }
        for p in sub.validation_points() {
            sub.resolve(&p, VALIDATION_STEP_HINT)
                .and_then(|r| sub.build_resolved::<f64>(&r, &p).map(|_| ()))?;
        }
        Ok(sub)
    }

    /// Reads a submission file, or a built-in submission by name (`nadamw`, ...) when no file
    /// of that name exists.
    pub fn load(path_or_name: &str) -> Result<Submission, AlgoPerfError> {
        let path = Path::new(path_or_name);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| super::io_err(path, e))?;
            return Submission::parse(&text, path_or_name);
        }
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == path_or_name) {
            return Submission::parse(text, &format!("{name}.toml"));
        }
        Err(AlgoPerfError::Invalid(format!(
            "{path_or_name}: no such file and no built-in submission of that name (built-in: {})",
            BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// The tuned hyperparameter names, in order.
    pub fn hyperparameter_names(&self) -> Vec<String> {
        match &self.tuning {
            Tuning::Space(s) => s.dims.iter().map(|(n, _)| n.clone()).collect(),
            Tuning::Points(p) => p
                .first()
                .map(|p| p.names().map(str::to_string).collect())
                .unwrap_or_default(),
            Tuning::Fixed => Vec::new(),
        }
    }

    /// Where hyperparameter `name` goes.
    pub fn target(&self, name: &str) -> Target {
        self.targets
            .get(name)
            .cloned()
            .unwrap_or_else(|| default_target(name))
    }

    /// The points of trials 1..=num_trials (AlgoPerf's quasi-random search with `seed`, or the
    /// first `num_trials` fixed points, or empty points); the same for every workload and study.
    pub fn points(&self, num_trials: usize, seed: u32) -> Result<Vec<Point>, AlgoPerfError> {
        match &self.tuning {
            Tuning::Space(s) => Ok(s.sample(num_trials, seed)),
            Tuning::Points(p) => {
                if num_trials > p.len() {
                    return Err(AlgoPerfError::Invalid(format!(
                        "submission {}: {num_trials} trials but only {} fixed points",
                        self.name,
                        p.len()
                    )));
                }
                Ok(p[..num_trials].to_vec())
            }
            Tuning::Fixed => Ok(vec![Point::default(); num_trials]),
        }
    }

    fn validation_points(&self) -> Vec<Point> {
        match &self.tuning {
            Tuning::Space(s) => {
                let mut v = s.corners();
                v.extend(s.sample(8, 0));
                v
            }
            Tuning::Points(p) => p.clone(),
            Tuning::Fixed => vec![Point::default()],
        }
    }

    /// The configuration of a trial at `point` for a workload with `step_hint` steps.
    pub fn resolve(&self, point: &Point, step_hint: u64) -> Result<Resolved, AlgoPerfError> {
        let err = |field: String, message: String| AlgoPerfError::Submission {
            submission: self.name.clone(),
            field,
            message,
        };
        let info = registry::lookup(&self.optimizer.name)?;
        let defaults = (info.defaults)();
        let mut hyper = self.optimizer.hyperparameters.clone();
        let mut schedule = serde_json::to_value(&self.schedule)
            .map_err(|e| err("schedule".into(), e.to_string()))?;
        let mut workload = Map::new();
        for (name, value) in &point.0 {
            let target = self.target(name);
            let field = format!("targets.{name}");
            let v = match target.transform {
                Transform::Identity => value.clone(),
                Transform::OneMinus => {
                    let x = value.as_f64().ok_or_else(|| {
                        err(
                            field.clone(),
                            format!("one_minus needs a number, got {value}"),
                        )
                    })?;
                    Value::from(1.0 - x)
                }
            };
            if let Some(f) = target.set.strip_prefix("schedule.") {
                let allowed = [
                    "warmup_factor",
                    "decay_steps_factor",
                    "step_hint_factor",
                    "end_factor",
                ];
                if !allowed.contains(&f) {
                    return Err(err(
                        field,
                        format!("`schedule.{f}`: schedule fields are {}", allowed.join(", ")),
                    ));
                }
                if let Some(o) = schedule.as_object_mut() {
                    o.insert(f.to_string(), v);
                }
            } else if let Some(f) = target.set.strip_prefix("workload.") {
                if !WORKLOAD_HYPERPARAMETERS.contains(&f) {
                    return Err(err(
                        field,
                        format!(
                            "`workload.{f}`: workload hyperparameters are {}",
                            WORKLOAD_HYPERPARAMETERS.join(", ")
                        ),
                    ));
                }
                workload.insert(f.to_string(), v);
            } else {
                set_path(&mut hyper, &defaults, &target.set, v)
                    .map_err(|m| err(field, format!("{} ({}): {m}", target.set, info.name)))?;
            }
        }
        let schedule: ScheduleSection =
            serde_json::from_value(schedule).map_err(|e| err("schedule".into(), e.to_string()))?;
        schedule.check().map_err(|(f, m)| err(f, m))?;
        Ok(Resolved {
            optimizer: info.name.to_string(),
            hyperparameters: hyper,
            schedule: schedule.resolve(step_hint),
            workload,
        })
    }

    fn build_resolved<T: Scalar>(
        &self,
        r: &Resolved,
        point: &Point,
    ) -> Result<(Box<dyn Optimizer<T>>, HeldSchedule), AlgoPerfError> {
        let at = || serde_json::to_string(point).unwrap_or_default();
        let opt = registry::build::<T>(&r.optimizer, &r.hyperparameters).map_err(|e| {
            AlgoPerfError::Submission {
                submission: self.name.clone(),
                field: "optimizer".into(),
                message: format!("at hyperparameters {}: {e}", at()),
            }
        })?;
        let schedule = r.schedule.build().map_err(|e| AlgoPerfError::Submission {
            submission: self.name.clone(),
            field: "schedule".into(),
            message: format!("at hyperparameters {}: {e}", at()),
        })?;
        Ok((opt, schedule))
    }

    /// The optimizer and schedule of a trial at `point` for a workload with `step_hint` steps
    /// (what the training code drives: `opt.set_lrs(&|base| schedule.lr(base, k))` before step
    /// k), with the resolved configuration.
    pub fn build<T: Scalar>(
        &self,
        point: &Point,
        step_hint: u64,
    ) -> Result<Built<T>, AlgoPerfError> {
        let resolved = self.resolve(point, step_hint)?;
        let (optimizer, schedule) = self.build_resolved(&resolved, point)?;
        Ok(Built {
            optimizer,
            schedule,
            resolved,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Submission, AlgoPerfError> {
        Submission::parse(text, "test.toml")
    }

    #[test]
    fn builtins_parse_and_resolve() {
        for (name, text) in BUILTIN {
            let s = Submission::parse(text, &format!("{name}.toml"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&s.name, name);
            let points = s.points(5, 0).unwrap();
            assert_eq!(points.len(), 5);
            for p in &points {
                let b = s.build::<f32>(p, 1000).unwrap();
                assert!(b.schedule.lr(1.0, 500).is_finite());
                assert!(!b.resolved.optimizer.is_empty());
            }
        }
        assert!(Submission::load("nadamw").is_ok());
        let e = Submission::load("nadam").unwrap_err().to_string();
        assert!(e.contains("nadamw, adamw"), "{e}");
    }

    #[test]
    fn targets_write_into_the_optimizer_schedule_and_workload() {
        let s = parse(
            r#"
            [optimizer]
            name = "AdamW"
            eps = 1e-8
            [schedule]
            kind = "warmup_cosine"
            [search_space]
            learning_rate = { min = 1e-4, max = 1e-2, scaling = "log" }
            one_minus_beta1 = { feasible_points = [0.1] }
            warmup_factor = { feasible_points = [0.05] }
            dropout_rate = { feasible_points = [0.1] }
            "#,
        )
        .unwrap();
        assert_eq!(s.name, "test");
        let p = &s.points(1, 0).unwrap()[0];
        let r = s.resolve(p, 1000).unwrap();
        let lr = r.hyperparameters["lr"].as_f64().unwrap();
        assert!((1e-4..1e-2).contains(&lr));
        assert_eq!(r.hyperparameters["betas"], serde_json::json!([0.9, 0.999]));
        assert_eq!(r.hyperparameters["eps"], serde_json::json!(1e-8));
        assert_eq!(r.workload["dropout_rate"], serde_json::json!(0.1));
        let sched = r.schedule.build().unwrap();
        // W = 50: linear warmup from 0, cosine to 0 at 1000, held there
        assert_eq!(sched.lr(1.0, 0), 0.0);
        assert!((sched.lr(1.0, 25) - 0.5).abs() < 1e-15);
        assert!((sched.lr(1.0, 50) - 1.0).abs() < 1e-15);
        assert!(sched.lr(1.0, 1000).abs() < 1e-15);
        assert!(
            sched.lr(1.0, 1900).abs() < 1e-15,
            "held at 0 after the decay"
        );
        // one_minus_beta1 = 0.1 → betas[0] = 0.9 with betas taken from the defaults
        let r0 = &r.hyperparameters["betas"][0];
        assert!((r0.as_f64().unwrap() - 0.9).abs() < 1e-15);
    }

    #[test]
    fn schedules_resolve_like_algoperfs_baselines() {
        // NAdamW: H = 0.75·hint, W = ⌊0.05·H⌋, cosine over H − W
        let sec = ScheduleSection {
            kind: ScheduleKind::WarmupCosine,
            warmup_factor: Some(0.05),
            step_hint_factor: Some(0.75),
            ..Default::default()
        };
        let r = sec.resolve(1000);
        assert_eq!(r.hold_from, Some(750));
        match &r.spec {
            ScheduleSpec::Warmup(w) => assert_eq!(w.warmup_steps, 37),
            other => panic!("{other:?}"),
        }
        // Nesterov: linear decay to end_factor at 0.9·hint
        let sec = ScheduleSection {
            kind: ScheduleKind::WarmupLinear,
            warmup_factor: Some(0.05),
            decay_steps_factor: Some(0.9),
            end_factor: Some(0.01),
            ..Default::default()
        };
        let s = sec.resolve(1000).build().unwrap();
        assert!((s.lr(2.0, 50) - 2.0).abs() < 1e-12);
        assert!((s.lr(2.0, 900) - 0.02).abs() < 1e-12);
        assert!((s.lr(2.0, 5000) - 0.02).abs() < 1e-12);
    }

    #[test]
    fn bad_files_name_the_field() {
        let cases = [
            (
                "[optimizer]\nname = \"AdamW\"\n[schedule]\nkind = \"constant\"\nwarmup = 0.1\n",
                "warmup",
            ),
            ("[optimizer]\nname = \"AdamZ\"\n", "optimizer.name"),
            ("nmae = \"x\"\n[optimizer]\nname = \"AdamW\"\n", "nmae"),
            (
                "[optimizer]\nname = \"AdamW\"\n[search_space]\nlearning_rate = { min = 1e-2, max = 1e-4, scaling = \"log\" }\n",
                "search_space.learning_rate.max",
            ),
            (
                "[optimizer]\nname = \"AdamW\"\n[search_space]\nmomentum = { feasible_points = [0.9] }\n",
                "targets.momentum",
            ),
            (
                "[optimizer]\nname = \"AdamW\"\n[search_space]\nlearning_rate = { min = 1e-4, max = 10.0, scaling = \"log\" }\n[targets]\nlearning_rate = \"betas[5]\"\n",
                "targets.learning_rate",
            ),
            (
                "[optimizer]\nname = \"AdamW\"\n[search_space]\none_minus_beta1 = { min = 0.5, max = 2.0, scaling = \"linear\" }\n",
                "optimizer",
            ),
            (
                "[optimizer]\nname = \"AdamW\"\n[schedule]\nkind = \"warmup_cosine\"\nwarmup_factor = 1.5\n",
                "schedule.warmup_factor",
            ),
            (
                "[optimizer]\nname = \"AdamW\"\n[schedule]\nkind = \"warmup_cosine\"\nend_factor = 0.5\n",
                "schedule.end_factor",
            ),
            (
                "[optimizer]\nname = \"AdamW\"\n[[points]]\nlr = 0.1\n[[points]]\nweight_decay = 0.1\n",
                "points[1]",
            ),
            (
                "[optimizer]\nname = \"AdamW\"\n[search_space]\nx = { feasible_points = [1] }\n[targets]\ny = \"lr\"\n",
                "targets.y",
            ),
            ("name = \"../x\"\n[optimizer]\nname = \"AdamW\"\n", "name"),
        ];
        for (text, field) in cases {
            let e = parse(text).expect_err(text);
            match &e {
                AlgoPerfError::Submission { field: f, .. } => {
                    assert!(f.contains(field), "{text}: field `{f}`, error {e}")
                }
                other => panic!("{text}: {other}"),
            }
        }
        // an out-of-range value found when building names the optimizer field
        let e = parse(
            "[optimizer]\nname = \"AdamW\"\n[search_space]\none_minus_beta1 = { min = 0.5, max = 2.0, scaling = \"linear\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("betas"), "{e}");
    }

    #[test]
    fn paths_parse_and_set() {
        assert_eq!(
            parse_path("groups[1].lr").unwrap(),
            vec![("groups".to_string(), vec![1]), ("lr".to_string(), vec![])]
        );
        assert!(parse_path("a[x]").is_err());
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a[1").is_err());
        let mut m = HyperMap::new();
        let defaults = serde_json::json!({"betas": [0.9, 0.999], "lr": 0.001});
        set_path(&mut m, &defaults, "betas[1]", Value::from(0.95)).unwrap();
        assert_eq!(m["betas"], serde_json::json!([0.9, 0.95]));
        let e = set_path(&mut m, &defaults, "gamma", Value::from(1)).unwrap_err();
        assert!(e.contains("betas, lr"), "{e}");
        let e = set_path(&mut m, &defaults, "betas[2]", Value::from(1)).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
    }
}
