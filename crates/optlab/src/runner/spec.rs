//! The experiment file of `optlab run` (TOML): the [common fields](crate::experiment::Common)
//! every experiment has (name, seeds, budget, logging, `[target]`, `[plot]`), the precision, the
//! problem and the methods, with `--set key=value` overrides. Every table rejects unknown fields
//! with the list of valid names. The schema is documented field by field in
//! `docs/experiments.md`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::RunError;
use super::expr;
use crate::experiment::common::check_budget;
use crate::experiment::{Common, ExperimentError, parse};
use crate::optim::registry::HyperMap;
use crate::optim::wrap::Wrappers;
use crate::oracle::BatchSize;
use crate::problem::ProblemSpec;
use crate::schedule::ScheduleSpec;

/// Floating-point precision of a run's parameters and problem data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32.
    F32,
    /// f64 (default; theory experiments).
    #[default]
    F64,
}

/// A learning rate: a number, or an expression in the problem's constants (`"1/L"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LrValue {
    /// A plain number.
    Number(f64),
    /// An expression (see [`expr`](super::expr)).
    Expr(String),
}

/// A method's schedule, typed when the file is read: a [`ScheduleSpec`] whose top-level string
/// arguments that are expressions in the problem's constants (`mu = "mu"`, `T_max = "m"`) are
/// filled in when the plan is made ([`ScheduleArg::resolve`]). An unknown kind or argument is an
/// error of the file, before any problem is built.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleArg {
    /// The schedule, with 1 in place of each expression.
    spec: ScheduleSpec,
    /// `(argument, expression)` pairs.
    exprs: Vec<(String, String)>,
}

impl ScheduleArg {
    /// A schedule without expressions.
    pub fn new(spec: ScheduleSpec) -> Self {
        ScheduleArg {
            spec,
            exprs: Vec::new(),
        }
    }

    /// Parses a schedule table (`{ kind = "StronglyConvex", mu = "mu" }`).
    pub fn parse(v: Value) -> Result<Self, String> {
        let Value::Object(mut map) = v else {
            return Err("must be a table such as { kind = \"StepLR\", step_size = 10 }".into());
        };
        // A string is an expression if it evaluates with every constant known.
        let probe = expr::Vars {
            l: Some(1.0),
            l_max: Some(1.0),
            mu: Some(1.0),
            m: 1.0,
            d: 1.0,
        };
        let mut exprs = Vec::new();
        for (k, val) in map.iter_mut() {
            if k == "kind" {
                continue;
            }
            if let Value::String(s) = val
                && expr::eval(s, &probe).is_ok()
            {
                exprs.push((k.clone(), s.clone()));
                *val = Value::from(1);
            }
        }
        let spec = serde_json::from_value::<ScheduleSpec>(Value::Object(map))
            .map_err(|e| format!("schedule: {e}"))?;
        Ok(ScheduleArg { spec, exprs })
    }

    /// The schedule with its expressions evaluated in `vars` (integral values as integers, so
    /// that counts such as `T_max = "m"` fit integer fields); the error names the argument.
    pub fn resolve(&self, vars: &expr::Vars) -> Result<ScheduleSpec, String> {
        if self.exprs.is_empty() {
            return Ok(self.spec.clone());
        }
        let mut v = serde_json::to_value(&self.spec).map_err(|e| e.to_string())?;
        for (k, e) in &self.exprs {
            let x = expr::eval(e, vars).map_err(|m| format!("{k} = \"{e}\": {m}"))?;
            let num = if x.fract() == 0.0 && x.abs() < 9e15 {
                Value::from(x as i64)
            } else {
                Value::from(x)
            };
            if let Some(m) = v.as_object_mut() {
                m.insert(k.clone(), num);
            }
        }
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
}

impl Serialize for ScheduleArg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(&self.spec).map_err(serde::ser::Error::custom)?;
        if let Some(m) = v.as_object_mut() {
            for (k, e) in &self.exprs {
                m.insert(k.clone(), Value::String(e.clone()));
            }
        }
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ScheduleArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ScheduleArg::parse(Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// One method of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MethodSpec {
    /// Label in records, legends and the summary (default: the optimizer name); must be unique.
    pub name: Option<String>,
    /// Optimizer: a registry name (`optlab list`: SGD, Adam, AdamW, ...) or `ArmijoGD`.
    pub optimizer: String,
    /// Learning rate: number or expression (`"1/L"`, `"0.5/L"`, `"1/(2mu)"`).
    pub lr: Option<LrValue>,
    /// Other hyperparameters under PyTorch's names (`{ momentum = 0.9 }`), incl. `groups`.
    pub hyper: HyperMap,
    /// Step-size schedule (`{ kind = "StronglyConvex", mu = 1.0 }`; default constant). String
    /// arguments that are expressions (`mu = "mu"`) are evaluated like `lr`.
    pub schedule: Option<ScheduleArg>,
    /// `"full"` (default) or a number of samples per step.
    pub batch_size: BatchSize,
    /// Sample with replacement (default true); false: reshuffle every epoch.
    pub replacement: bool,
    /// Wrappers around the optimizer: `clip_grad_norm`, `sam`, `armijo`, `averaging`.
    #[serde(flatten)]
    pub wrappers: Wrappers,
    /// Iterations for this method (overrides the experiment's budget).
    pub iterations: Option<u64>,
    /// Epochs for this method (overrides the experiment's budget).
    pub epochs: Option<f64>,
}

impl Default for MethodSpec {
    fn default() -> Self {
        MethodSpec {
            name: None,
            optimizer: String::new(),
            lr: None,
            hyper: HyperMap::new(),
            schedule: None,
            batch_size: BatchSize::Full,
            replacement: true,
            wrappers: Wrappers::default(),
            iterations: None,
            epochs: None,
        }
    }
}

impl MethodSpec {
    /// Its own field names (besides [`Wrappers::FIELDS`]).
    pub const FIELDS: &'static [&'static str] = &[
        "name",
        "optimizer",
        "lr",
        "hyper",
        "schedule",
        "batch_size",
        "replacement",
        "iterations",
        "epochs",
    ];

    /// The label used in records.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.optimizer.clone())
    }
}

/// An experiment: the common fields, a problem, methods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentSpec {
    /// Name, seeds (default 10), budget (default 1000 iterations), logging (default 200
    /// log-spaced points), `[target]`, `[plot]`.
    #[serde(flatten)]
    pub common: Common,
    /// "f64" (default) or "f32".
    pub precision: Precision,
    /// Also log `grad_moment` = E‖g‖² of the single-sample oracle at x_k, i.e.
    /// (1/m) Σᵢ ‖∇fᵢ(x_k)‖² (+ d σ² with gradient noise σ): the σ² of the SGD theorems
    /// (default false; costs m per-sample gradients per logged point, not counted).
    pub grad_moment: bool,
    /// The problem.
    pub problem: ProblemSpec,
    /// The methods.
    pub methods: Vec<MethodSpec>,
}

impl Default for ExperimentSpec {
    fn default() -> Self {
        ExperimentSpec {
            common: Common::default(),
            precision: Precision::F64,
            grad_moment: false,
            problem: ProblemSpec::default(),
            methods: Vec::new(),
        }
    }
}

/// Seeds per method when `seeds` is not set.
pub const DEFAULT_SEEDS: u64 = 10;

/// Iterations per run when neither `iterations` nor `epochs` is set.
pub const DEFAULT_ITERATIONS: u64 = 1000;

/// Examples of `--set` for error messages.
const SET_EXAMPLES: &str = "seeds=3 or methods.0.lr=0.1";

impl ExperimentSpec {
    /// Its own top-level field names (besides [`Common::FIELDS`]).
    pub const FIELDS: &'static [&'static str] = &["precision", "grad_moment", "problem", "methods"];

    /// Runs per method.
    pub fn seeds(&self) -> u64 {
        self.common.seeds_or(DEFAULT_SEEDS)
    }

    /// Parses a TOML experiment and applies `overrides` (`("methods.0.lr", "0.1")`, values in
    /// TOML syntax, bare words taken as strings).
    pub fn from_toml(text: &str, overrides: &[(String, String)]) -> Result<Self, RunError> {
        let table = parse::table(text, overrides, SET_EXAMPLES)?;
        parse::check_fields(&table, &[Common::FIELDS, Self::FIELDS], "")?;
        if let Some(toml::Value::Array(methods)) = table.get("methods") {
            for (i, m) in methods.iter().enumerate() {
                if let toml::Value::Table(t) = m {
                    parse::check_fields(
                        t,
                        &[MethodSpec::FIELDS, Wrappers::FIELDS],
                        &format!(" in methods[{i}]"),
                    )?;
                }
            }
        }
        let spec: ExperimentSpec = parse::deserialize(text, table, !overrides.is_empty())?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks what serde cannot: the common fields, counts, budgets, unique names.
    pub fn validate(&self) -> Result<(), RunError> {
        self.common.validate()?;
        let bad = |m: String| Err(RunError::from(ExperimentError::message(m)));
        if self.methods.is_empty() {
            return bad("no methods: add at least one [[methods]] table".into());
        }
        for (i, m) in self.methods.iter().enumerate() {
            if m.optimizer.is_empty() {
                return bad(format!(
                    "methods[{i}]: missing `optimizer` (see `optlab list`)"
                ));
            }
            check_budget(&format!("methods[{i}]."), m.iterations, m.epochs)?;
            if m.batch_size == BatchSize::Samples(0) {
                return bad(format!(
                    "methods[{i}].batch_size = 0: must be \"full\" or ≥ 1"
                ));
            }
            let label = m.label();
            if self.methods[..i].iter().any(|o| o.label() == label) {
                return bad(format!(
                    "methods[{i}]: duplicate method name `{label}`: give each method a distinct `name`"
                ));
            }
        }
        Ok(())
    }
}

/// Parses `--set` text `key=value` (the shared [`overrides`](crate::overrides) syntax).
pub fn parse_set(s: &str) -> Result<(String, String), RunError> {
    Ok(parse::sets(&[s.to_string()], SET_EXAMPLES)?
        .pop()
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_typed_when_read_and_resolved_with_the_constants() {
        let s =
            ScheduleArg::parse(serde_json::json!({"kind": "StronglyConvex", "mu": "mu"})).unwrap();
        let vars = expr::Vars {
            mu: Some(0.5),
            ..Default::default()
        };
        let r = s.resolve(&vars).unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap()["mu"], 0.5);
        let e = s.resolve(&expr::Vars::default()).unwrap_err();
        assert!(e.contains("mu = \"mu\""), "{e}");
        // an integer argument from a count
        let s = ScheduleArg::parse(serde_json::json!({"kind": "CosineAnnealingLR", "T_max": "m"}))
            .unwrap();
        let vars = expr::Vars {
            m: 200.0,
            ..Default::default()
        };
        assert!(s.resolve(&vars).is_ok());
        let e = ScheduleArg::parse(serde_json::json!({"kind": "Nope"})).unwrap_err();
        assert!(e.contains("Nope"), "{e}");
        // round trip keeps the expressions
        let back: ScheduleArg = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
