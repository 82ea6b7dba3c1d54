//! The optimizer of an experiment: a registry name with its hyperparameters, and the
//! composition wrappers around it, parsed once into a typed [`MethodOptimizer`] when the plan is
//! made (errors name the field), then built for each run without parsing again.
//!
//! Besides the registry's names (`optlab list`), one shorthand is understood: `ArmijoGD` =
//! `SGD` inside the Armijo line search, its hyperparameters `c`, `rho`, `max_backtracks` going to
//! the line search and the others to SGD (`lr`, the first trial step, defaults to 1).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ExperimentError;
use crate::error::OptimError;
use crate::optim::Optimizer;
use crate::optim::armijo::ArmijoConfig;
use crate::optim::registry::{HyperMap, OptimizerConfig};
use crate::optim::sgd::SgdConfig;
use crate::optim::wrap::Wrappers;
use crate::scalar::Scalar;

/// The shorthands understood besides registry names: `(name, aliases, summary)`.
pub const SHORTHANDS: &[(&str, &[&str], &str)] = &[(
    "ArmijoGD",
    &["armijogd", "armijo", "gd-armijo", "linesearch"],
    "gradient descent with Armijo backtracking: SGD inside `armijo` (hyperparameters: lr, c, rho, max_backtracks)",
)];

/// Whether `name` is the `ArmijoGD` shorthand (case-insensitive, with its aliases).
pub fn is_armijo_gd(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SHORTHANDS[0].1.contains(&n.as_str())
}

/// An `[optimizer]` table: a registry name and its hyperparameters (PyTorch's names, optional
/// `groups`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpec {
    /// Optimizer name, e.g. `"AdamW"` (see `optlab list`).
    pub name: String,
    /// Hyperparameters and optional `groups`.
    #[serde(flatten)]
    pub hyper: HyperMap,
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec {
            name: "AdamW".into(),
            hyper: HyperMap::new(),
        }
    }
}

/// A method's optimizer, typed: the registry configuration and the wrappers around it.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodOptimizer {
    /// The name as configured (`"SGD"`, `"nesterov"`, `"ArmijoGD"`).
    pub name: String,
    /// The parsed, validated configuration.
    pub config: OptimizerConfig,
    /// The validated wrappers.
    pub wrappers: Wrappers,
}

impl MethodOptimizer {
    /// Parses `name` with `hyper` and `wrappers`; an unknown name lists the registry's names and
    /// the shorthands.
    pub fn parse(name: &str, hyper: &HyperMap, wrappers: &Wrappers) -> Result<Self, OptimError> {
        let mut wrappers = wrappers.clone();
        let config = if is_armijo_gd(name) {
            let mut base = hyper.clone();
            // the first trial step α₀ defaults to 1, not SGD's 1e-3
            base.entry("lr").or_insert_with(|| Value::from(1.0));
            let mut ls = HyperMap::new();
            for k in ["c", "rho", "max_backtracks"] {
                if let Some(v) = base.remove(k) {
                    ls.insert(k.into(), v);
                }
            }
            if wrappers.armijo.is_some() {
                return Err(OptimError::BadHyperparameters {
                    optimizer: SHORTHANDS[0].0.into(),
                    message:
                        "is already SGD inside `armijo`: configure the line search in one place"
                            .into(),
                });
            }
            let armijo: ArmijoConfig = serde_json::from_value(Value::Object(ls)).map_err(|e| {
                OptimError::BadHyperparameters {
                    optimizer: SHORTHANDS[0].0.into(),
                    message: e.to_string(),
                }
            })?;
            wrappers.armijo = Some(armijo);
            OptimizerConfig::parse(<SgdConfig as crate::optim::Config>::NAME, &base)?
        } else {
            OptimizerConfig::parse(name, hyper).map_err(|e| match e {
                OptimError::UnknownOptimizer { name, valid } => OptimError::UnknownOptimizer {
                    name,
                    valid: format!(
                        "{valid}, {}",
                        SHORTHANDS
                            .iter()
                            .map(|s| s.0)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
                other => other,
            })?
        };
        wrappers.validate()?;
        Ok(MethodOptimizer {
            name: name.to_string(),
            config,
            wrappers,
        })
    }

    /// [`parse`](MethodOptimizer::parse) with the error located at `context`.
    pub fn parse_at(
        context: &str,
        name: &str,
        hyper: &HyperMap,
        wrappers: &Wrappers,
    ) -> Result<Self, ExperimentError> {
        Self::parse(name, hyper, wrappers).map_err(|e| ExperimentError::optimizer(context, e))
    }

    /// The optimizer inside its wrappers, for one run.
    pub fn build<T: Scalar>(&self) -> Result<Box<dyn Optimizer<T>>, OptimError> {
        self.wrappers.wrap(self.config.build::<T>()?)
    }

    /// The label of records and summaries: the configured name, as `"SAM(...)"` under SAM
    /// (`ArmijoGD` stays `ArmijoGD`).
    pub fn label(&self) -> String {
        if is_armijo_gd(&self.name) {
            self.name.clone()
        } else {
            self.wrappers.label(&self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::sam::SamConfig;
    use serde_json::json;

    fn map(v: Value) -> HyperMap {
        match v {
            Value::Object(m) => m,
            _ => HyperMap::new(),
        }
    }

    #[test]
    fn shorthand_and_wrappers_parse_once() {
        let m = MethodOptimizer::parse(
            "ArmijoGD",
            &map(json!({"lr": 2.0, "c": 0.1})),
            &Wrappers::default(),
        )
        .unwrap();
        assert_eq!(m.config.name(), "SGD");
        assert_eq!(m.config.lr(), 2.0);
        assert_eq!(m.wrappers.armijo.as_ref().map(|a| a.c), Some(0.1));
        let o = m.build::<f64>().unwrap();
        assert_eq!(o.name(), "Armijo(SGD)");
        assert!(o.requires_closure());
        let w = Wrappers {
            sam: Some(SamConfig { rho: 0.1 }),
            ..Default::default()
        };
        let m = MethodOptimizer::parse("adamw", &HyperMap::new(), &w).unwrap();
        assert_eq!(m.label(), "SAM(adamw)");
        let e = MethodOptimizer::parse("Adamz", &HyperMap::new(), &Wrappers::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Adamz") && e.contains("AdamW") && e.contains("ArmijoGD"),
            "{e}"
        );
        let e = MethodOptimizer::parse("ArmijoGD", &map(json!({"rho": 2.0})), &Wrappers::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("armijo.rho"), "{e}");
    }
}
