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
//!
//! A map is parsed once into an [`OptimizerConfig`] — one variant per catalog entry, holding the
//! typed config of the default group and of each parameter group — which builds the optimizer
//! (for any element type) as often as needed without parsing again.
//!
//! **Adding an optimizer** is one entry in the `registry!` list below: its variant, config type
//! and optimizer type (`Variant(Config => Optimizer)`, the optimizer having
//! `with_groups(default, groups)`), aliases and a one-line summary. Composite configs that build
//! their optimizer themselves (`Partition`, `MuonAdamW`, defined in this file because their
//! routes name other registry entries) leave out `=> Optimizer` and implement [`Buildable`].

use serde::{Deserialize, Serialize};
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
use super::muon::{AdjustLrFn, Muon, MuonConfig};
use super::nadam::{Nadam, NadamConfig};
use super::normalized::{NormalizedGd, NormalizedGdConfig, SignGd, SignGdConfig};
use super::partition::{self, Partition};
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
use crate::linalg::{NS_COEFFICIENTS, NS_STEPS, OrthoMethod};
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

    /// Why `groups` cannot be given, for configs without parameter groups (default: they can).
    fn no_groups() -> Option<&'static str> {
        None
    }
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

/// The typed configuration of one optimizer: its default group and its parameter groups
/// (`(filter, config)`, first match wins), as parsed from a hyperparameter map.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouped<C> {
    /// The configuration of the parameters no group selects.
    pub default: C,
    /// Parameter groups with their own configuration.
    pub groups: Vec<(ParamFilter, C)>,
}

macro_rules! registry {
    ($( $variant:ident($cfg:ty $(=> $opt:ident)?) {
        aliases: [$($alias:literal),*], summary: $summary:literal
    } ),* $(,)?) => {
        $( $( impl Buildable for $cfg {
            fn build<T: Scalar>(
                default: Self,
                groups: Vec<(ParamFilter, Self)>,
            ) -> Result<Box<dyn Optimizer<T>>, OptimError> {
                Ok(Box::new($opt::<T>::with_groups(default, groups)?))
            }
        } )? )*

        /// Every optimizer that can be built by name.
        pub const CATALOG: &[OptimizerInfo] = &[
            $( OptimizerInfo {
                name: <$cfg as Config>::NAME,
                aliases: &[$($alias),*],
                summary: $summary,
                defaults: || serde_json::to_value(<$cfg>::default()).unwrap_or(Value::Null),
            } ),*
        ];

        /// A parsed optimizer configuration: one variant per [`CATALOG`] entry.
        #[derive(Clone, Debug, PartialEq)]
        pub enum OptimizerConfig {
            $( #[doc = $summary] $variant(Grouped<$cfg>), )*
        }

        impl OptimizerConfig {
            /// Parses the map of the optimizer with this canonical name.
            fn parse_canonical(canonical: &str, hyper: &HyperMap) -> Result<Self, OptimError> {
                $( if canonical == <$cfg as Config>::NAME {
                    let (default, groups) = parse_groups::<$cfg>(hyper)?;
                    return Ok(OptimizerConfig::$variant(Grouped { default, groups }));
                } )*
                Err(unknown(canonical))
            }

            /// The canonical (PyTorch) name.
            pub fn name(&self) -> &'static str {
                match self {
                    $( OptimizerConfig::$variant(_) => <$cfg as Config>::NAME, )*
                }
            }

            /// The default group's learning rate.
            pub fn lr(&self) -> f64 {
                match self {
                    $( OptimizerConfig::$variant(g) => g.default.lr(), )*
                }
            }

            /// Checks every field of the default group and of each parameter group.
            pub fn validate(&self) -> Result<(), OptimError> {
                match self {
                    $( OptimizerConfig::$variant(g) => {
                        if let Some(why) = <$cfg as Buildable>::no_groups()
                            && !g.groups.is_empty()
                        {
                            return Err(OptimError::BadHyperparameters {
                                optimizer: <$cfg as Config>::NAME.to_string(),
                                message: why.into(),
                            });
                        }
                        g.default.validate()?;
                        g.groups.iter().try_for_each(|(_, c)| c.validate())
                    } )*
                }
            }

            /// Builds the optimizer.
            pub fn build<T: Scalar>(&self) -> Result<Box<dyn Optimizer<T>>, OptimError> {
                match self {
                    $( OptimizerConfig::$variant(g) => {
                        <$cfg as Buildable>::build::<T>(g.default.clone(), g.groups.clone())
                    } )*
                }
            }
        }
    };
}

registry! {
    Sgd(SgdConfig => Sgd) { aliases: ["sgd", "gd", "momentum", "nesterov"],
        summary: "SGD with heavy-ball/Nesterov momentum, dampening, L2 weight decay" },
    Adam(AdamConfig => Adam) { aliases: ["adam", "amsgrad"],
        summary: "Adam with L2 weight decay (amsgrad = true for AMSGrad)" },
    AdamW(AdamWConfig => AdamW) { aliases: ["adamw"],
        summary: "Adam with decoupled weight decay" },
    Adagrad(AdagradConfig => Adagrad) { aliases: ["adagrad"],
        summary: "Adagrad: per-coordinate steps α/√(Σ g²); lr_decay, initial accumulator, eps_root" },
    Rmsprop(RmspropConfig => Rmsprop) { aliases: ["rmsprop"],
        summary: "RMSprop: steps normalized by an EMA of g²; centered, momentum, eps_root" },
    Adadelta(AdadeltaConfig => Adadelta) { aliases: ["adadelta"],
        summary: "Adadelta: RMS of past steps over RMS of gradients" },
    Nadam(NadamConfig => Nadam) { aliases: ["nadam"],
        summary: "Adam with Nesterov momentum (momentum_decay schedule; decoupled_weight_decay)" },
    Radam(RadamConfig => Radam) { aliases: ["radam"],
        summary: "Rectified Adam: momentum steps until the variance estimate is reliable" },
    Adamax(AdamaxConfig => Adamax) { aliases: ["adamax"],
        summary: "Adam with the infinity norm: steps α m / max(β₂ u, |g|)" },
    NormalizedGd(NormalizedGdConfig => NormalizedGd) { aliases: ["normalizedgd", "normalized_gd", "ngd"],
        summary: "Normalized gradient descent x ← x − α g/‖g‖₂ (norm over all parameters)" },
    SignGd(SignGdConfig => SignGd) { aliases: ["signgd", "sign_gd", "signsgd", "sign"],
        summary: "Sign descent x ← x − α sign(g) (normalized ℓ∞ steepest descent)" },
    Muon(MuonConfig => Muon) { aliases: ["muon"],
        summary: "Muon: Nesterov momentum orthogonalized by Newton–Schulz (matrices only)" },
    Shampoo(ShampooConfig => Shampoo) { aliases: ["shampoo"],
        summary: "Shampoo: W − η (L+εI)^{-1/4} G (R+εI)^{-1/4}, diagonal fallback, grafting, momentum" },
    SteepestDescent(SteepestDescentConfig => SteepestDescent) { aliases: ["lmo", "steepest_descent"],
        summary: "Steepest descent x + α·LMO(g) (or α‖g‖*·LMO(g)) under l2/frobenius/linf/l1/spectral norms" },
    Partition(PartitionConfig) { aliases: ["partition", "multi_transform"],
        summary: "Routes parameters to sub-optimizers by filter (first match wins); defaults: the Muon recipe" },
    MuonAdamW(MuonAdamWConfig) { aliases: ["muon_adamw", "muonwithauxadam"],
        summary: "Muon for hidden weight matrices, AdamW for embeddings, head, biases and gains" },
    Adafactor(AdafactorConfig => Adafactor) { aliases: ["adafactor"],
        summary: "Adafactor: factored second moment (rows + columns), relative step, update clipping" },
    Asgd(AsgdConfig => Asgd) { aliases: ["asgd"],
        summary: "Averaged SGD: decaying step, Polyak–Ruppert average `ax` (the eval-mode parameters)" },
    Rprop(RpropConfig => Rprop) { aliases: ["rprop"],
        summary: "Rprop: per-coordinate step sizes grown/shrunk by the sign of successive gradients" },
    Lbfgs(LbfgsConfig) { aliases: ["lbfgs", "l-bfgs", "l_bfgs"],
        summary: "L-BFGS with optional strong-Wolfe line search; steps through a closure (re-evaluates f)" },
    AdamWScheduleFree(AdamWScheduleFreeConfig => AdamWScheduleFree) { aliases: ["adamw_schedule_free", "adamwschedulefree", "sf_adamw"],
        summary: "Schedule-free AdamW: gradients at y, evaluation at the average x (no lr schedule)" },
    SgdScheduleFree(SgdScheduleFreeConfig => SgdScheduleFree) { aliases: ["sgd_schedule_free", "sgdschedulefree", "sf_sgd"],
        summary: "Schedule-free SGD: gradients at y, evaluation at the average x (no lr schedule)" },
    Lion(LionConfig => Lion) { aliases: ["lion"],
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

/// Builds the optimizer `name` from a hyperparameter map (with optional `groups`):
/// [`OptimizerConfig::parse`] then [`OptimizerConfig::build`].
pub fn build<T: Scalar>(name: &str, hyper: &HyperMap) -> Result<Box<dyn Optimizer<T>>, OptimError> {
    OptimizerConfig::parse(name, hyper)?.build()
}

impl OptimizerConfig {
    /// Parses the hyperparameter map of the optimizer `name` (canonical name or alias,
    /// case-insensitive; with optional `groups`) and checks every value.
    ///
    /// The aliases `amsgrad`, `momentum` and `nesterov` set the corresponding field when the map
    /// does not: `parse("nesterov", {"lr": 0.1, "momentum": 0.9})` is SGD with Nesterov momentum.
    pub fn parse(name: &str, hyper: &HyperMap) -> Result<Self, OptimError> {
        let info = lookup(name)?;
        let hyper = with_implied(name, hyper);
        let config = Self::parse_canonical(info.name, &hyper)?;
        config.validate()?;
        Ok(config)
    }

    /// Whether the optimizer is evaluated at a point other than the one where it takes
    /// gradients ([`Optimizer::eval_params`]: ASGD's average `ax`, schedule-free's x), for
    /// itself or on one of its routes.
    pub fn has_eval_point(&self) -> bool {
        let named = |name: &str| {
            lookup(name).is_ok_and(|i| {
                [
                    <AsgdConfig as Config>::NAME,
                    <AdamWScheduleFreeConfig as Config>::NAME,
                    <SgdScheduleFreeConfig as Config>::NAME,
                ]
                .contains(&i.name)
            })
        };
        match self {
            OptimizerConfig::Asgd(_)
            | OptimizerConfig::AdamWScheduleFree(_)
            | OptimizerConfig::SgdScheduleFree(_) => true,
            OptimizerConfig::Partition(g) => {
                g.default.routes.iter().any(|r| named(&r.optimizer))
                    || g.default
                        .default
                        .as_ref()
                        .is_some_and(|d| named(&d.optimizer))
            }
            _ => false,
        }
    }
}

/// `hyper` with the fields an alias implies (`amsgrad`, `momentum`, `nesterov`) where unset.
fn with_implied(name: &str, hyper: &HyperMap) -> HyperMap {
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
    hyper
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

// ---------------------------------------------------------------------------------------------
// Partition configurations. They live next to the registry because their routes name other
// registry entries: the registry depends on `partition` (the routing optimizer), not the reverse.
// ---------------------------------------------------------------------------------------------

/// The filter of the standard Muon recipe: hidden weight matrices (2 or more dimensions), not
/// embeddings and not the output head.
pub const MUON_PARAMS: &str = "ndim>=2 & !*embed* & !*head*";

/// One route of a [`PartitionConfig`]: a filter, an optimizer name and its hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteSpec {
    /// Which parameters (filter syntax of [`ParamFilter`], e.g. `"ndim>=2 & !*embed*"`).
    pub params: ParamFilter,
    /// Registry name of the optimizer (any, including another `Partition`).
    pub optimizer: String,
    /// The optimizer's hyperparameters (PyTorch names; may hold `groups`).
    #[serde(flatten)]
    pub hyper: HyperMap,
}

/// The default optimizer of a [`PartitionConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefaultRouteSpec {
    /// Registry name of the optimizer.
    pub optimizer: String,
    /// Its hyperparameters.
    #[serde(flatten)]
    pub hyper: HyperMap,
}

/// Hyperparameters of `"Partition"`: routes and an optional default.
///
/// ```toml
/// [optimizer]
/// name = "Partition"
/// routes = [
///   { params = "ndim>=2 & !*embed* & !*head*", optimizer = "Muon", lr = 0.02 },
///   { params = "all", optimizer = "AdamW", lr = 3e-4, betas = [0.9, 0.95] },
/// ]
/// ```
///
/// The default value is the standard Muon recipe (the same as `"MuonAdamW"`'s defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartitionConfig {
    /// Routes, tried in order; a parameter goes to the first that selects it.
    pub routes: Vec<RouteSpec>,
    /// Optimizer of the parameters no route selects (default: none, which makes such a
    /// parameter an error).
    pub default: Option<DefaultRouteSpec>,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        MuonAdamWConfig::default().to_partition()
    }
}

fn route_hyper(v: Value) -> HyperMap {
    match v {
        Value::Object(m) => m,
        _ => HyperMap::new(),
    }
}

impl Config for PartitionConfig {
    const NAME: &'static str = partition::NAME;

    /// The first route's `lr` (or its optimizer's default).
    fn lr(&self) -> f64 {
        let Some(first) = self.routes.first() else {
            return 0.0;
        };
        first
            .hyper
            .get("lr")
            .and_then(Value::as_f64)
            .or_else(|| {
                lookup(&first.optimizer)
                    .ok()
                    .and_then(|i| (i.defaults)().get("lr").and_then(Value::as_f64))
            })
            .unwrap_or(0.0)
    }

    fn validate(&self) -> Result<(), OptimError> {
        let bad = |message: String| OptimError::BadHyperparameters {
            optimizer: Self::NAME.to_string(),
            message,
        };
        if self.routes.is_empty() && self.default.is_none() {
            return Err(bad(
                "needs `routes` (a list of tables with `params`, `optimizer` and its \
                 hyperparameters) or a `default`"
                    .into(),
            ));
        }
        // Every route's configuration, fully: a typo deep in a route fails when the plan is made.
        for (k, r) in self.routes.iter().enumerate() {
            OptimizerConfig::parse(&r.optimizer, &r.hyper)
                .map_err(|e| in_route(&format!("routes[{k}]"), &r.optimizer, e))?;
        }
        if let Some(d) = &self.default {
            OptimizerConfig::parse(&d.optimizer, &d.hyper)
                .map_err(|e| in_route("default", &d.optimizer, e))?;
        }
        Ok(())
    }
}

impl Buildable for PartitionConfig {
    fn no_groups() -> Option<&'static str> {
        Some("`groups` is not supported at the top level; give a route its own `groups`")
    }

    fn build<T: Scalar>(
        default: Self,
        groups: Vec<(ParamFilter, Self)>,
    ) -> Result<Box<dyn Optimizer<T>>, OptimError> {
        OptimizerConfig::Partition(Grouped {
            default: default.clone(),
            groups,
        })
        .validate()?;
        let mut routes = Vec::with_capacity(default.routes.len());
        for (k, r) in default.routes.iter().enumerate() {
            let o = build::<T>(&r.optimizer, &r.hyper)
                .map_err(|e| in_route(&format!("routes[{k}]"), &r.optimizer, e))?;
            routes.push((r.params.clone(), o));
        }
        let mut p = Partition::new(routes);
        if let Some(d) = &default.default {
            let o = build::<T>(&d.optimizer, &d.hyper)
                .map_err(|e| in_route("default", &d.optimizer, e))?;
            p = p.with_default(o);
        }
        Ok(Box::new(p))
    }
}

/// An error building the optimizer of a route, located in the partition's config: an invalid
/// hyperparameter stays typed with its field prefixed by the route (`routes[1].betas[0]`,
/// `default.lr`; nested partitions prefix again), anything else names the route and its optimizer.
fn in_route(route: &str, optimizer: &str, e: OptimError) -> OptimError {
    match e.within(route) {
        e @ OptimError::InvalidHyperparameter { .. } => e,
        other => OptimError::BadHyperparameters {
            optimizer: PartitionConfig::NAME.to_string(),
            message: format!("{route} ({optimizer}): {other}"),
        },
    }
}

/// Hyperparameters of `"MuonAdamW"`: the standard Muon recipe as one optimizer.
///
/// Hidden weight matrices (`muon_params`, default `"ndim>=2 & !*embed* & !*head*"`) go to
/// [`Muon`]; everything else — embeddings, the output head, biases, norm gains — to [`AdamW`].
/// The defaults are Keller Jordan's `MuonWithAuxAdam` recipe (github.com/KellerJordan/Muon):
/// Muon with `lr = 0.02`, `weight_decay = 0.01`, momentum 0.95 (Nesterov), 5 Newton–Schulz
/// steps; AdamW with `lr = 3e-4`, `betas = (0.9, 0.95)`, `eps = 1e-10`, `weight_decay = 0.01`.
/// Muon's fields keep their `torch.optim.Muon` names; AdamW's carry the prefix `adamw_`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MuonAdamWConfig {
    /// Parameters for Muon (default `"ndim>=2 & !*embed* & !*head*"`); the rest go to AdamW.
    pub muon_params: ParamFilter,
    /// Muon's learning rate (default 0.02).
    pub lr: f64,
    /// Muon's decoupled weight decay (default 0.01).
    pub weight_decay: f64,
    /// Muon's momentum (default 0.95).
    pub momentum: f64,
    /// Muon's Nesterov flag (default true).
    pub nesterov: bool,
    /// Muon's Newton–Schulz coefficients (default (3.4445, −4.7750, 2.0315)).
    pub ns_coefficients: [f64; 3],
    /// Muon's eps (default 1e-7).
    pub eps: f64,
    /// Muon's orthogonalization steps (default 5).
    pub ns_steps: usize,
    /// Muon's shape scaling (default null = "original").
    pub adjust_lr_fn: Option<AdjustLrFn>,
    /// Muon's orthogonalizer (default "newton_schulz").
    pub orthogonalizer: OrthoMethod,
    /// AdamW's learning rate (default 3e-4).
    pub adamw_lr: f64,
    /// AdamW's betas (default (0.9, 0.95)).
    pub adamw_betas: (f64, f64),
    /// AdamW's eps (default 1e-10).
    pub adamw_eps: f64,
    /// AdamW's decoupled weight decay (default 0.01).
    pub adamw_weight_decay: f64,
}

impl Default for MuonAdamWConfig {
    fn default() -> Self {
        MuonAdamWConfig {
            muon_params: ParamFilter::And(vec![
                ParamFilter::Ndim(crate::param::Cmp::Ge, 2),
                ParamFilter::Not(Box::new(ParamFilter::name("*embed*"))),
                ParamFilter::Not(Box::new(ParamFilter::name("*head*"))),
            ]),
            lr: 0.02,
            weight_decay: 0.01,
            momentum: 0.95,
            nesterov: true,
            ns_coefficients: NS_COEFFICIENTS,
            eps: 1e-7,
            ns_steps: NS_STEPS,
            adjust_lr_fn: None,
            orthogonalizer: OrthoMethod::NewtonSchulz,
            adamw_lr: 3e-4,
            adamw_betas: (0.9, 0.95),
            adamw_eps: 1e-10,
            adamw_weight_decay: 0.01,
        }
    }
}

impl MuonAdamWConfig {
    /// Muon's config.
    pub fn muon(&self) -> MuonConfig {
        MuonConfig {
            lr: self.lr,
            weight_decay: self.weight_decay,
            momentum: self.momentum,
            nesterov: self.nesterov,
            ns_coefficients: self.ns_coefficients,
            eps: self.eps,
            ns_steps: self.ns_steps,
            adjust_lr_fn: self.adjust_lr_fn,
            orthogonalizer: self.orthogonalizer,
        }
    }

    /// AdamW's config.
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            lr: self.adamw_lr,
            betas: self.adamw_betas,
            eps: self.adamw_eps,
            weight_decay: self.adamw_weight_decay,
            ..AdamWConfig::default()
        }
    }

    /// The same recipe as explicit `"Partition"` routes.
    pub fn to_partition(&self) -> PartitionConfig {
        PartitionConfig {
            routes: vec![
                RouteSpec {
                    params: self.muon_params.clone(),
                    optimizer: MuonConfig::NAME.into(),
                    hyper: route_hyper(serde_json::to_value(self.muon()).unwrap_or(Value::Null)),
                },
                RouteSpec {
                    params: ParamFilter::All,
                    optimizer: AdamWConfig::NAME.into(),
                    hyper: route_hyper(serde_json::to_value(self.adamw()).unwrap_or(Value::Null)),
                },
            ],
            default: None,
        }
    }
}

impl Config for MuonAdamWConfig {
    const NAME: &'static str = "MuonAdamW";

    fn lr(&self) -> f64 {
        self.lr
    }

    /// Muon's fields keep their names; AdamW's are reported with their `adamw_` prefix.
    fn validate(&self) -> Result<(), OptimError> {
        let rename = |prefix: &str, e: OptimError| match e {
            OptimError::InvalidHyperparameter {
                field,
                value,
                allowed,
                ..
            } => OptimError::InvalidHyperparameter {
                optimizer: Self::NAME,
                field: format!("{prefix}{field}"),
                value,
                allowed,
            },
            other => other,
        };
        self.muon().validate().map_err(|e| rename("", e))?;
        self.adamw().validate().map_err(|e| rename("adamw_", e))
    }
}

impl Buildable for MuonAdamWConfig {
    fn no_groups() -> Option<&'static str> {
        Some("`groups` is not supported; use \"Partition\" with per-route groups")
    }

    fn build<T: Scalar>(
        default: Self,
        groups: Vec<(ParamFilter, Self)>,
    ) -> Result<Box<dyn Optimizer<T>>, OptimError> {
        OptimizerConfig::MuonAdamW(Grouped {
            default: default.clone(),
            groups,
        })
        .validate()?;
        let muon: Box<dyn Optimizer<T>> = Box::new(Muon::<T>::new(default.muon())?);
        let adamw: Box<dyn Optimizer<T>> = Box::new(AdamW::<T>::new(default.adamw())?);
        Ok(Box::new(
            Partition::new(vec![
                (default.muon_params.clone(), muon),
                (ParamFilter::All, adamw),
            ])
            .with_name(Self::NAME),
        ))
    }
}

impl Buildable for LbfgsConfig {
    fn build<T: Scalar>(
        default: Self,
        groups: Vec<(ParamFilter, Self)>,
    ) -> Result<Box<dyn Optimizer<T>>, OptimError> {
        Ok(Box::new(Lbfgs::<T>::with_groups(default, groups)?))
    }

    fn no_groups() -> Option<&'static str> {
        Some(
            "`groups` is not supported: one L-BFGS history spans all parameters \
             (PyTorch refuses parameter groups too)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{NonFinitePolicy, StepOutcome, Subset};
    use crate::param::Param;
    use serde_json::json;

    fn map(v: Value) -> HyperMap {
        match v {
            Value::Object(m) => m,
            _ => HyperMap::new(),
        }
    }

    fn model() -> Vec<Param<f64>> {
        let mut ps = vec![
            Param::<f64>::zeros("tok_embed.weight", [6, 4]),
            Param::<f64>::zeros("blocks.0.fc.weight", [4, 4]),
            Param::<f64>::zeros("blocks.0.fc.bias", [4]),
            Param::<f64>::zeros("blocks.0.norm.weight", [4]),
            Param::<f64>::zeros("head.weight", [6, 4]),
        ];
        for (k, p) in ps.iter_mut().enumerate() {
            for (i, g) in p.grad.iter_mut().enumerate() {
                *g = (((i + 3 * k) * 7 % 11) as f64 - 5.0) / 5.0;
            }
        }
        ps
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

    #[test]
    fn muon_recipe_routes_hidden_matrices_to_muon() -> Result<(), OptimError> {
        let mut opt = build::<f64>("MuonAdamW", &HyperMap::new())?;
        assert_eq!(opt.name(), "MuonAdamW");
        let mut ps = model();
        opt.step(&mut ps)?;
        let state = opt.state();
        assert_eq!(state.optimizer, "MuonAdamW");
        // The same routes under the name "Partition" refuse the state (and the reverse).
        let mut same = build::<f64>("Partition", &HyperMap::new())?;
        let e = same.load_state(&state).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("MuonAdamW")));
        let names: Vec<&str> = state.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "0/Muon/blocks.0.fc.weight",
                "1/AdamW/tok_embed.weight",
                "1/AdamW/blocks.0.fc.bias",
                "1/AdamW/blocks.0.norm.weight",
                "1/AdamW/head.weight",
            ]
        );
        assert_eq!(state.lrs, vec![0.02, 3e-4]);
        Ok(())
    }

    #[test]
    fn each_route_steps_exactly_like_its_optimizer_alone() -> Result<(), OptimError> {
        let hyper = map(json!({"routes": [
            {"params": "ndim>=2 & !*embed* & !*head*", "optimizer": "Muon", "lr": 0.02},
            {"params": "all", "optimizer": "AdamW", "lr": 3e-4, "betas": [0.9, 0.95]}
        ]}));
        let mut part = build::<f64>("Partition", &hyper)?;
        let mut muon = Muon::<f64>::new(MuonConfig {
            lr: 0.02,
            ..Default::default()
        })?;
        let mut adamw = AdamW::<f64>::new(AdamWConfig {
            lr: 3e-4,
            betas: (0.9, 0.95),
            ..Default::default()
        })?;
        let mut a = model();
        let mut b = model();
        for _ in 0..3 {
            part.step(&mut a)?;
            muon.step_subset(&mut b, Subset::Indices(&[1]))?;
            adamw.step_subset(&mut b, Subset::Indices(&[0, 2, 3, 4]))?;
        }
        assert_eq!(a, b);
        assert_eq!(part.steps(), 3);
        Ok(())
    }

    #[test]
    fn set_lrs_scales_each_route_from_its_own_base() -> Result<(), OptimError> {
        let mut opt = build::<f32>("MuonAdamW", &HyperMap::new())?;
        opt.set_lrs(&|base| base * 0.5);
        assert_eq!(opt.state().lrs, vec![0.01, 1.5e-4]);
        assert_eq!(opt.lr(), 0.01);
        assert_eq!(opt.base_lr(), 0.02);
        opt.set_lr(0.04);
        let lrs = opt.state().lrs;
        assert!(
            (lrs[0] - 0.04).abs() < 1e-15 && (lrs[1] - 6e-4).abs() < 1e-15,
            "{lrs:?}"
        );
        Ok(())
    }

    #[test]
    fn nonfinite_gradient_anywhere_refuses_the_whole_step() -> Result<(), OptimError> {
        let mut opt = build::<f64>("MuonAdamW", &HyperMap::new())?;
        let mut ps = model();
        for p in &mut ps {
            p.data.iter_mut().for_each(|x| *x = 1.0);
        }
        ps[4].grad[2] = f64::INFINITY; // head (AdamW route, after Muon's route)
        let before: Vec<Vec<f64>> = ps.iter().map(|p| p.data.clone()).collect();
        let e = opt.step(&mut ps).unwrap_err().to_string();
        assert!(e.contains("head.weight"), "{e}");
        let after: Vec<Vec<f64>> = ps.iter().map(|p| p.data.clone()).collect();
        assert_eq!(before, after);
        opt.set_nonfinite_policy(NonFinitePolicy::Skip);
        assert!(matches!(opt.step(&mut ps)?, StepOutcome::Skipped { .. }));
        assert_eq!(opt.steps(), 0);
        ps[4].grad[2] = 0.0;
        opt.step(&mut ps)?;
        assert_eq!(opt.steps(), 1);
        Ok(())
    }

    #[test]
    fn state_roundtrip_continues_bit_identically() -> Result<(), OptimError> {
        let mut a = model();
        let mut opt = build::<f64>("MuonAdamW", &map(json!({"lr": 0.05})))?;
        opt.step(&mut a)?;
        opt.set_lrs(&|b| b * 0.3);
        let json = serde_json::to_string(&opt.state()).unwrap();
        let mut b = a.clone();
        let mut opt2 = build::<f64>("MuonAdamW", &map(json!({"lr": 0.05})))?;
        opt2.load_state(&serde_json::from_str(&json).unwrap())?;
        for _ in 0..2 {
            opt.step(&mut a)?;
            opt2.step(&mut b)?;
        }
        assert_eq!(a, b);
        // A state from a different layout is refused.
        let mut other = build::<f64>(
            "Partition",
            &map(json!({"routes": [{"params": "all", "optimizer": "SGD"}]})),
        )?;
        assert!(other.load_state(&opt.state()).is_err());
        Ok(())
    }

    #[test]
    fn config_errors_name_the_route() {
        let e = build::<f64>(
            "Partition",
            &map(json!({"routes": [
                {"params": "all", "optimizer": "AdamW", "betas": [0.9, 1.5]}
            ]})),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("routes[0]") && e.contains("betas[1]"), "{e}");
        let e = build::<f64>(
            "Partition",
            &map(json!({"routes": [{"params": "all", "optimizer": "Adamz"}]})),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("routes[0]") && e.contains("Adamz"), "{e}");
        let e = build::<f64>("Partition", &map(json!({"routes": []}))).err();
        assert!(e.is_some());
        let e = build::<f64>("MuonAdamW", &map(json!({"adamw_beta": 0.9})))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("adamw_betas"), "{e}");
    }

    #[test]
    fn partition_defaults_are_the_muon_recipe() {
        let p = PartitionConfig::default();
        assert_eq!(p.routes.len(), 2);
        assert_eq!(p.routes[0].params.to_string(), MUON_PARAMS);
        assert_eq!(p.routes[0].optimizer, "Muon");
        assert_eq!(p.routes[1].hyper.get("lr"), Some(&json!(3e-4)));
        assert_eq!(p.lr(), 0.02);
        let text = serde_json::to_string(&p).unwrap();
        let back: PartitionConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
    }
}
