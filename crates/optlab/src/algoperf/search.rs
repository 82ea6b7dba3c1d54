//! Hyperparameter search spaces and points, in AlgoPerf's `tuning_search_space.json` terms.
//!
//! A search space maps hyperparameter names, in file order, to a **range**
//! (`{ min, max, scaling = "log" | "linear" }`, min < max, min > 0 for log) or a **discrete set**
//! (`{ feasible_points = [...] }`, non-empty; numbers, strings or booleans). AlgoPerf's
//! `halton.generate_search` turns it into points: coordinate u ∈ [0, 1) of a
//! [Halton point](super::halton) becomes `min·exp(u·ln(max/min))` (log), `min + u·(max − min)`
//! (linear) or `feasible_points[⌊u·len⌋]` (discrete). The dimensions take the Halton bases in
//! file order, so a space written in AlgoPerf's key order gives AlgoPerf's points.
//!
//! A submission may give a fixed list of points instead (AlgoPerf's list form of
//! `tuning_search_space.json`, used by its prize-qualification baselines); trial j uses point j.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::halton;

/// An ordered list of `(name, value)` pairs: a TOML table or JSON object whose key order is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<T> Ordered<T> {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, T)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.iter().any(|(n, _)| *n == k) {
                        return Err(de::Error::custom(format!("`{k}` appears twice")));
                    }
                    let v = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The entries of a TOML table in the order they appear in the file. The `toml` crate hands a
/// table's keys over sorted; each value's span gives its position back.
pub fn in_file_order<T>(table: Ordered<toml::Spanned<T>>) -> Ordered<T> {
    let mut v = table.0;
    v.sort_by_key(|(_, x)| x.span().start);
    Ordered(v.into_iter().map(|(k, x)| (k, x.into_inner())).collect())
}

/// A point: hyperparameter name → value, in search-space order (written as `hparams.json`).
pub type Point = Ordered<Value>;

/// How a range is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    /// Uniform in [min, max).
    Linear,
    /// Uniform in log space.
    Log,
}

/// One dimension as written (validated by [`Dimension::check`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// Lower end of a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper end of a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// `"log"` or `"linear"` (required with min/max).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Scaling>,
    /// The values of a discrete dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feasible_points: Option<Vec<Value>>,
}

/// A checked dimension.
#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    /// A range.
    Range {
        /// Lower end.
        min: f64,
        /// Upper end (> min).
        max: f64,
        /// Sampling.
        scaling: Scaling,
    },
    /// A discrete set (non-empty).
    Discrete(Vec<Value>),
}

impl Dimension {
    /// The domain, or `(field, message)` naming what is wrong (`min`, `max`, `scaling`,
    /// `feasible_points`).
    pub fn check(&self) -> Result<Domain, (&'static str, String)> {
        match (self.min, self.max, self.scaling, &self.feasible_points) {
            (None, None, None, Some(points)) => {
                if points.is_empty() {
                    return Err((
                        "feasible_points",
                        "is empty: give at least one value".into(),
                    ));
                }
                if let Some(v) = points.iter().find(|v| v.is_array() || v.is_object()) {
                    return Err((
                        "feasible_points",
                        format!("{v}: values must be numbers, strings or booleans"),
                    ));
                }
                Ok(Domain::Discrete(points.clone()))
            }
            (_, _, _, Some(_)) => Err((
                "feasible_points",
                "a dimension is either a range (min, max, scaling) or a discrete set \
                 (feasible_points), not both"
                    .into(),
            )),
            (None, _, _, None) => {
                Err(("min", "missing (a range needs min, max and scaling)".into()))
            }
            (_, None, _, None) => {
                Err(("max", "missing (a range needs min, max and scaling)".into()))
            }
            (_, _, None, None) => Err(("scaling", "missing: \"log\" or \"linear\"".into())),
            (Some(min), Some(max), Some(scaling), None) => {
                if !min.is_finite() {
                    return Err(("min", format!("must be finite, got {min}")));
                }
                if !max.is_finite() {
                    return Err(("max", format!("must be finite, got {max}")));
                }
                if max < min {
                    return Err(("max", format!("{max} < min = {min}: the range is inverted")));
                }
                if max == min {
                    return Err((
                        "max",
                        format!(
                            "equals min = {min}: the range is empty (for a fixed value use \
                             feasible_points = [{min}])"
                        ),
                    ));
                }
                if scaling == Scaling::Log && min <= 0.0 {
                    return Err(("min", format!("{min}: a log range needs min > 0")));
                }
                Ok(Domain::Range { min, max, scaling })
            }
        }
    }
}

impl Domain {
    /// The value at Halton coordinate `u` ∈ [0, 1) (AlgoPerf's `_generate_double_point` /
    /// `_generate_discrete_point`).
    pub fn value(&self, u: f64) -> Value {
        match self {
            Domain::Range {
                min,
                max,
                scaling: Scaling::Log,
            } => Value::from(min * (u * (max / min).ln()).exp()),
            Domain::Range {
                min,
                max,
                scaling: Scaling::Linear,
            } => Value::from(u * (max - min) + min),
            Domain::Discrete(points) => {
                let i = ((u * points.len() as f64).floor() as usize).min(points.len() - 1);
                points[i].clone()
            }
        }
    }

    /// The values a dimension can take at its ends: (min, max) of a range, every value of a set.
    pub fn extremes(&self) -> Vec<Value> {
        match self {
            Domain::Range { min, max, .. } => vec![Value::from(*min), Value::from(*max)],
            Domain::Discrete(points) => points.clone(),
        }
    }
}

/// A checked search space (dimension names in file order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchSpace {
    /// Dimensions.
    pub dims: Vec<(String, Domain)>,
}

impl SearchSpace {
    /// Checks every dimension of `raw`; the error is `(field path, message)`, the path relative
    /// to the space (`learning_rate.min`).
    pub fn check(raw: &Ordered<Dimension>) -> Result<SearchSpace, (String, String)> {
        let mut dims = Vec::new();
        for (name, d) in &raw.0 {
            let dom = d
                .check()
                .map_err(|(field, m)| (format!("{name}.{field}"), m))?;
            dims.push((name.clone(), dom));
        }
        Ok(SearchSpace { dims })
    }

    /// `num_trials` points by AlgoPerf's quasi-random search (`halton.generate_search` with
    /// `np.random.seed(seed)`); the same `seed` gives the same points.
    pub fn sample(&self, num_trials: usize, seed: u32) -> Vec<Point> {
        let seq = halton::sequence(num_trials, self.dims.len(), halton::DEFAULT_SKIP, seed);
        seq.into_iter()
            .map(|u| {
                Ordered(
                    self.dims
                        .iter()
                        .zip(u)
                        .map(|((name, d), u)| (name.clone(), d.value(u)))
                        .collect(),
                )
            })
            .collect()
    }

    /// The corner points used to validate a submission: all-min, all-max, and one point per
    /// value of each discrete dimension (others at their min).
    pub fn corners(&self) -> Vec<Point> {
        let base: Vec<(String, Value)> = self
            .dims
            .iter()
            .map(|(n, d)| (n.clone(), d.extremes()[0].clone()))
            .collect();
        let mut out = vec![Ordered(base.clone())];
        out.push(Ordered(
            self.dims
                .iter()
                .map(|(n, d)| {
                    (
                        n.clone(),
                        d.extremes().last().cloned().unwrap_or(Value::Null),
                    )
                })
                .collect(),
        ));
        for (i, (_, d)) in self.dims.iter().enumerate() {
            if let Domain::Discrete(points) = d {
                for v in points.iter().skip(1) {
                    let mut p = base.clone();
                    p[i].1 = v.clone();
                    out.push(Ordered(p));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(toml_text: &str) -> Result<SearchSpace, (String, String)> {
        let raw: Ordered<toml::Spanned<Dimension>> = toml::from_str(toml_text).unwrap();
        SearchSpace::check(&in_file_order(raw))
    }

    #[test]
    fn toml_keeps_file_order_and_checks_fields() {
        let s = space(
            r#"
            zeta = { min = 1e-4, max = 1e-2, scaling = "log" }
            alpha = { feasible_points = [0.1, 0.2] }
            mid = { min = 0.0, max = 1.0, scaling = "linear" }
            "#,
        )
        .unwrap();
        let names: Vec<&str> = s.dims.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "mid"]);
        let cases = [
            (
                "a = { min = 2.0, max = 1.0, scaling = \"log\" }",
                "a.max",
                "inverted",
            ),
            (
                "a = { min = 1.0, max = 1.0, scaling = \"log\" }",
                "a.max",
                "empty",
            ),
            (
                "a = { min = 0.0, max = 1.0, scaling = \"log\" }",
                "a.min",
                "min > 0",
            ),
            ("a = { min = 0.0, max = 1.0 }", "a.scaling", "missing"),
            (
                "a = { max = 1.0, scaling = \"linear\" }",
                "a.min",
                "missing",
            ),
            ("a = { feasible_points = [] }", "a.feasible_points", "empty"),
            (
                "a = { feasible_points = [[1]] }",
                "a.feasible_points",
                "numbers",
            ),
            (
                "a = { min = 0.1, max = 1.0, scaling = \"log\", feasible_points = [1] }",
                "a.feasible_points",
                "not both",
            ),
        ];
        for (text, field, msg) in cases {
            let (f, m) = space(text).unwrap_err();
            assert_eq!(f, field, "{text}");
            assert!(m.contains(msg), "{text}: {m}");
        }
        let e = toml::from_str::<Ordered<Dimension>>("a = { min = 1, max = 2, scale = \"log\" }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `scale`"), "{e}");
    }

    #[test]
    fn values_follow_algoperf_mappings() {
        let log = Domain::Range {
            min: 1e-4,
            max: 1e-2,
            scaling: Scaling::Log,
        };
        assert_eq!(log.value(0.0), Value::from(1e-4));
        assert!((log.value(0.5).as_f64().unwrap() - 1e-3).abs() < 1e-15);
        let lin = Domain::Range {
            min: 1.0,
            max: 3.0,
            scaling: Scaling::Linear,
        };
        assert_eq!(lin.value(0.25), Value::from(1.5));
        let d = Domain::Discrete(vec![Value::from("a"), Value::from("b"), Value::from("c")]);
        assert_eq!(d.value(0.0), Value::from("a"));
        assert_eq!(d.value(0.34), Value::from("b"));
        assert_eq!(d.value(0.99), Value::from("c"));
    }

    #[test]
    fn samples_are_seeded_and_inside_the_space() {
        let s = space(
            r#"
            learning_rate = { min = 1e-4, max = 1e-2, scaling = "log" }
            weight_decay = { min = 0.0, max = 0.5, scaling = "linear" }
            dropout_rate = { feasible_points = [0.0, 0.1] }
            "#,
        )
        .unwrap();
        let a = s.sample(5, 0);
        assert_eq!(a, s.sample(5, 0));
        assert_ne!(a, s.sample(5, 1), "another seed reorders the points");
        for p in &a {
            let lr = p.get("learning_rate").and_then(Value::as_f64).unwrap();
            assert!((1e-4..1e-2).contains(&lr));
            let wd = p.get("weight_decay").and_then(Value::as_f64).unwrap();
            assert!((0.0..0.5).contains(&wd));
        }
        let j = serde_json::to_string(&a[0]).unwrap();
        assert!(j.starts_with("{\"learning_rate\":"), "{j}");
        assert_eq!(s.corners().len(), 3);
    }
}
