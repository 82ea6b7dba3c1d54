//! Optimizers by name: build one from a hyperparameter map (TOML experiment files, `optlab
//! verify` traces) and list what exists (`optlab list`).
//!
//! Names are PyTorch's (`"SGD"`, `"RMSprop"`, `"AdamW"`), matched case-insensitively, plus a few
//! aliases. Hyperparameter maps use PyTorch's field names; an unknown field or a value of the wrong
//! type is an error that lists the valid fields. A map may carry parameter groups:
//!
//! ```text
//! { "lr": 0.1, "weight_decay": 0.01,
//!   "groups": [ { "params": "*.bias | ndim=1", "weight_decay": 0.0 } ] }
//! ```
//!
//! Each group inherits every field it does not set from the top-level map, as in torch.optim.

use serde_json::{Map, Value};

use super::adadelta::{Adadelta, AdadeltaConfig};
use super::adafactor::{Adafactor, AdafactorConfig};
use super::adagrad::{Adagrad, AdagradConfig};
use super::adam::{Adam, AdamConfig, AdamW, AdamWConfig};
use super::adamax::{Adamax, AdamaxConfig};
use super::asgd::{Asgd, AsgdConfig};
use super::lbfgs::{Lbfgs, LbfgsConfig};
use super::lion::{Lion, LionConfig};
use super::lmo::{SteepestDescent, SteepestDescentConfig};
use super::muon::{Muon, MuonConfig};
use super::nadam::{Nadam, NadamConfig};
use super::normalized::{NormalizedGd, NormalizedGdConfig, SignGd, SignGdConfig};
use super::partition::{MuonAdamWConfig, PartitionConfig};
use super::radam::{Radam, RadamConfig};
use super::rmsprop::{Rmsprop, RmspropConfig};
use super::rprop::{Rprop, RpropConfig};
use super::schedule_free::{
    AdamWScheduleFree, AdamWScheduleFreeConfig, SgdScheduleFree, SgdScheduleFreeConfig,
};
use super::sgd::{Sgd, SgdConfig};
use super::shampoo::{Shampoo, ShampooConfig};
use super::{Config, Optimizer};
use crate::error::OptimError;
use crate::param::ParamFilter;
use crate::scalar::Scalar;

/// A hyperparameter map (JSON object; TOML tables convert to it losslessly).
pub type HyperMap = Map<String, Value>;

/// A config type that can be turned into a boxed optimizer.
pub trait Buildable: Config {
    /// Builds the optimizer for a default config and parameter groups.
    fn build<T: Scalar>(
        default: Self,
        groups: Vec<(ParamFilter, Self)>,
    ) -> Result<Box<dyn Optimizer<T>>, OptimError>;

    /// Builds the optimizer for this config alone (no parameter groups).
    fn into_optimizer<T: Scalar>(self) -> Result<Box<dyn Optimizer<T>>, OptimError> {
        Self::build(self, Vec::new())
    }
}

/// `impl Buildable for Config { Optimizer::<T>::with_groups(default, groups) }`.
macro_rules! buildable {
    ($($cfg:ty => $opt:ident),* $(,)?) => {
        $( impl Buildable for $cfg {
            fn build<T: Scalar>(
                default: Self,
                groups: Vec<(ParamFilter, Self)>,
            ) -> Result<Box<dyn Optimizer<T>>, OptimError> {
                Ok(Box::new($opt::<T>::with_groups(default, groups)?))
            }
        } )*
    };
}

buildable! {
    SgdConfig => Sgd,
    AdamConfig => Adam,
    AdamWConfig => AdamW,
    AdagradConfig => Adagrad,
    RmspropConfig => Rmsprop,
    AdadeltaConfig => Adadelta,
    NadamConfig => Nadam,
    RadamConfig => Radam,
    AdamaxConfig => Adamax,
    NormalizedGdConfig => NormalizedGd,
    SignGdConfig => SignGd,
    MuonConfig => Muon,
    SteepestDescentConfig => SteepestDescent,
    ShampooConfig => Shampoo,
    AdafactorConfig => Adafactor,
    AsgdConfig => Asgd,
    RpropConfig => Rprop,
    LbfgsConfig => Lbfgs,
    AdamWScheduleFreeConfig => AdamWScheduleFree,
    SgdScheduleFreeConfig => SgdScheduleFree,
    LionConfig => Lion,
}

/// What `optlab list` shows about an optimizer.
#[derive(Clone, Copy, Debug)]
pub struct OptimizerInfo {
    /// Canonical (PyTorch) name.
    pub name: &'static str,
    /// Other accepted names (all matching is case-insensitive).
    pub aliases: &'static [&'static str],
    /// One line: what it is.
    pub summary: &'static str,
    /// The default hyperparameters, as a JSON object.
    pub defaults: fn() -> Value,
}

macro_rules! registry {
    ($( $cfg:ty { aliases: [$($alias:literal),*], summary: $summary:literal } ),* $(,)?) => {
        /// Every optimizer that can be built by name.
        pub const CATALOG: &[OptimizerInfo] = &[
            $( OptimizerInfo {
                name: <$cfg as Config>::NAME,
                aliases: &[$($alias),*],
                summary: $summary,
                defaults: || serde_json::to_value(<$cfg>::default()).unwrap_or(Value::Null),
            } ),*
        ];

        fn dispatch<T: Scalar>(
            canonical: &str,
            hyper: &HyperMap,
        ) -> Result<Box<dyn Optimizer<T>>, OptimError> {
            $( if canonical == <$cfg as Config>::NAME {
                let (default, groups) = parse_groups::<$cfg>(hyper)?;
                return <$cfg as Buildable>::build::<T>(default, groups);
            } )*
            Err(unknown(canonical))
        }
    };
}

registry! {
    SgdConfig { aliases: ["sgd", "gd", "momentum", "nesterov"],
        summary: "SGD with heavy-ball/Nesterov momentum, dampening, L2 weight decay" },
    AdamConfig { aliases: ["adam", "amsgrad"],
        summary: "Adam with L2 weight decay (amsgrad = true for AMSGrad)" },
    AdamWConfig { aliases: ["adamw"],
        summary: "Adam with decoupled weight decay" },
    AdagradConfig { aliases: ["adagrad"],
        summary: "Adagrad: per-coordinate steps α/√(Σ g²); lr_decay, initial accumulator, eps_root" },
    RmspropConfig { aliases: ["rmsprop"],
        summary: "RMSprop: steps normalized by an EMA of g²; centered, momentum, eps_root" },
    AdadeltaConfig { aliases: ["adadelta"],
        summary: "Adadelta: RMS of past steps over RMS of gradients" },
    NadamConfig { aliases: ["nadam"],
        summary: "Adam with Nesterov momentum (momentum_decay schedule; decoupled_weight_decay)" },
    RadamConfig { aliases: ["radam"],
        summary: "Rectified Adam: momentum steps until the variance estimate is reliable" },
    AdamaxConfig { aliases: ["adamax"],
        summary: "Adam with the infinity norm: steps α m / max(β₂ u, |g|)" },
    NormalizedGdConfig { aliases: ["normalizedgd", "normalized_gd", "ngd"],
        summary: "Normalized gradient descent x ← x − α g/‖g‖₂ (norm over all parameters)" },
    SignGdConfig { aliases: ["signgd", "sign_gd", "signsgd", "sign"],
        summary: "Sign descent x ← x − α sign(g) (normalized ℓ∞ steepest descent)" },
    MuonConfig { aliases: ["muon"],
        summary: "Muon: Nesterov momentum orthogonalized by Newton–Schulz (matrices only)" },
    ShampooConfig { aliases: ["shampoo"],
        summary: "Shampoo: W − η (L+εI)^{-1/4} G (R+εI)^{-1/4}, diagonal fallback, grafting, momentum" },
    SteepestDescentConfig { aliases: ["lmo", "steepest_descent"],
        summary: "Steepest descent x + α·LMO(g) (or α‖g‖*·LMO(g)) under l2/frobenius/linf/l1/spectral norms" },
    PartitionConfig { aliases: ["partition", "multi_transform"],
        summary: "Routes parameters to sub-optimizers by filter (first match wins); defaults: the Muon recipe" },
    MuonAdamWConfig { aliases: ["muon_adamw", "muonwithauxadam"],
        summary: "Muon for hidden weight matrices, AdamW for embeddings, head, biases and gains" },
    AdafactorConfig { aliases: ["adafactor"],
        summary: "Adafactor: factored second moment (rows + columns), relative step, update clipping" },
    AsgdConfig { aliases: ["asgd"],
        summary: "Averaged SGD: decaying step, Polyak–Ruppert average `ax` (the eval-mode parameters)" },
    RpropConfig { aliases: ["rprop"],
        summary: "Rprop: per-coordinate step sizes grown/shrunk by the sign of successive gradients" },
    LbfgsConfig { aliases: ["lbfgs", "l-bfgs", "l_bfgs"],
        summary: "L-BFGS with optional strong-Wolfe line search; steps through a closure (re-evaluates f)" },
    AdamWScheduleFreeConfig { aliases: ["adamw_schedule_free", "adamwschedulefree", "sf_adamw"],
        summary: "Schedule-free AdamW: gradients at y, evaluation at the average x (no lr schedule)" },
    SgdScheduleFreeConfig { aliases: ["sgd_schedule_free", "sgdschedulefree", "sf_sgd"],
        summary: "Schedule-free SGD: gradients at y, evaluation at the average x (no lr schedule)" },
    LionConfig { aliases: ["lion"],
        summary: "Lion: sign of an interpolated momentum, decoupled weight decay (lion-pytorch)" },
}

fn unknown(name: &str) -> OptimError {
    OptimError::UnknownOptimizer {
        name: name.to_string(),
        valid: CATALOG
            .iter()
            .map(|i| i.name)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The catalog entry for `name` (canonical name or alias, case-insensitive).
pub fn lookup(name: &str) -> Result<&'static OptimizerInfo, OptimError> {
    CATALOG
        .iter()
        .find(|i| {
            i.name.eq_ignore_ascii_case(name)
                || i.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| unknown(name))
}

/// Builds the optimizer `name` from a hyperparameter map (with optional `groups`).
///
/// The aliases `amsgrad`, `momentum` and `nesterov` set the corresponding field when the map does
/// not: `build("nesterov", {"lr": 0.1, "momentum": 0.9})` is SGD with Nesterov momentum.
pub fn build<T: Scalar>(name: &str, hyper: &HyperMap) -> Result<Box<dyn Optimizer<T>>, OptimError> {
    let info = lookup(name)?;
    let mut hyper = hyper.clone();
    let implied: &[(&str, Value)] = match name.to_ascii_lowercase().as_str() {
        "amsgrad" => &[("amsgrad", Value::Bool(true))],
        "momentum" => &[("momentum", Value::from(0.9))],
        "nesterov" => &[
            ("nesterov", Value::Bool(true)),
            ("momentum", Value::from(0.9)),
        ],
        _ => &[],
    };
    for (k, v) in implied {
        hyper.entry(k.to_string()).or_insert_with(|| v.clone());
    }
    dispatch::<T>(info.name, &hyper)
}

/// Splits a map into the default config and the parameter groups, each group inheriting the
/// fields it does not set.
pub fn parse_groups<C: Config>(hyper: &HyperMap) -> Result<(C, Vec<(ParamFilter, C)>), OptimError> {
    let bad = |message: String| OptimError::BadHyperparameters {
        optimizer: C::NAME.to_string(),
        message,
    };
    let mut top = hyper.clone();
    let groups = top.remove("groups");
    let default: C = serde_json::from_value(Value::Object(top.clone()))
        .map_err(|e| bad(describe::<C>("hyperparameters", &top, &e)))?;
    let mut out = Vec::new();
    if let Some(groups) = groups {
        let Value::Array(groups) = groups else {
            return Err(bad(
                "`groups` must be a list of tables, each with `params` (a filter) and overrides"
                    .into(),
            ));
        };
        for (i, g) in groups.into_iter().enumerate() {
            let Value::Object(mut g) = g else {
                return Err(bad(format!("groups[{i}] must be a table")));
            };
            let filter = match g.remove("params") {
                Some(Value::String(s)) => s
                    .parse::<ParamFilter>()
                    .map_err(|e| bad(format!("groups[{i}].params: {e}")))?,
                _ => {
                    return Err(bad(format!(
                        "groups[{i}] needs `params`, a filter such as \"*.bias | ndim=1\""
                    )));
                }
            };
            let mut merged = top.clone();
            merged.extend(g);
            let cfg: C = serde_json::from_value(Value::Object(merged.clone()))
                .map_err(|e| bad(describe::<C>(&format!("groups[{i}]"), &merged, &e)))?;
            out.push((filter, cfg));
        }
    }
    Ok((default, out))
}

/// `"{context}: {e}"` for a map that does not deserialize into `C`, naming the field at fault
/// when serde's message does not (a value of the wrong type, an unknown enum variant): each
/// field of `map` is tried alone on top of `C`'s defaults, and the first one refused is named.
fn describe<C: Config>(context: &str, map: &HyperMap, e: &serde_json::Error) -> String {
    let message = e.to_string();
    let culprit = match serde_json::to_value(C::default()) {
        Ok(Value::Object(defaults)) if !message.starts_with("unknown field") => {
            map.iter().find_map(|(k, v)| {
                let mut one = defaults.clone();
                one.insert(k.clone(), v.clone());
                serde_json::from_value::<C>(Value::Object(one))
                    .is_err()
                    .then_some(k)
            })
        }
        _ => None,
    };
    match culprit {
        Some(field) => format!("{context}: `{field}`: {message}"),
        None => format!("{context}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> HyperMap {
        match v {
            Value::Object(m) => m,
            _ => HyperMap::new(),
        }
    }

    #[test]
    fn builds_by_torch_name_case_insensitively() {
        let o = build::<f64>("adamw", &map(json!({"lr": 0.01, "betas": [0.9, 0.95]})));
        assert!(o.is_ok_and(|o| o.name() == "AdamW" && o.lr() == 0.01));
        let o = build::<f32>("Nesterov", &map(json!({"lr": 0.1})));
        assert!(o.is_ok_and(|o| o.name() == "SGD"));
    }

    #[test]
    fn unknown_names_and_fields_are_errors() {
        let e = build::<f64>("adamz", &HyperMap::new())
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("AdamW") && e.contains("adamz")));
        let e = build::<f64>("Adam", &map(json!({"lr": 0.1, "beta1": 0.9})))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("beta1") && e.contains("betas"), "{e}");
        let e = build::<f64>("SGD", &map(json!({"momentum": 0.9, "lr": "fast"})))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`lr`") && e.contains("fast"), "{e}");
        let e = build::<f64>(
            "Shampoo",
            &map(json!({"groups": [{"params": "all", "grafting": "sgd"}]})),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.contains("groups[0]") && e.contains("`grafting`") && e.contains("adagrad"),
            "{e}"
        );
    }

    #[test]
    fn groups_inherit_unset_fields() -> Result<(), OptimError> {
        let (d, g) = parse_groups::<SgdConfig>(&map(json!({
            "lr": 0.5, "momentum": 0.9, "weight_decay": 0.1,
            "groups": [{"params": "*.bias", "weight_decay": 0.0}]
        })))?;
        assert_eq!(d.weight_decay, 0.1);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].1.weight_decay, 0.0);
        assert_eq!(g[0].1.momentum, 0.9);
        assert!(g[0].0.matches("fc.bias", &[3]));
        Ok(())
    }
}
