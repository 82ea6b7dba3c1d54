//! Partitions: different optimizers for different parameters (optax's `partition` /
//! `multi_transform`).
//!
//! A [`Partition`] holds routes `(filter, optimizer)` and an optional default optimizer. Each
//! parameter goes to the first route whose [`ParamFilter`] matches it, else to the default; a
//! parameter no route takes (and no default) is an error naming it. The index lists are computed
//! at the first step, cached, and checked against the parameter names at every step. Each step:
//!
//! 1. the non-finite gradient policy screens **all** selected gradients once, before any
//!    sub-optimizer runs, so a refused or skipped step changes nothing (the sub-optimizers run
//!    with [`NonFinitePolicy::Ignore`]);
//! 2. every route's optimizer steps its own parameters through
//!    [`step_subset`](Optimizer::step_subset) (also when it holds none, so all step counters stay
//!    equal).
//!
//! Learning rates: [`set_lrs`](Optimizer::set_lrs) is forwarded to every route, each applying
//! `f` to its own configured rates (a schedule scales Muon's 0.02 and AdamW's 3e-4 alike);
//! [`lr`](Optimizer::lr) and [`base_lr`](Optimizer::base_lr) report the first route's.
//! State: each route's parameters are saved with names prefixed `"{route}/{optimizer}/"` (e.g.
//! `"0/Muon/blocks.0.attn.weight"`), and the learning rates of all routes are concatenated.
//!
//! Errors a route only finds while stepping — a configuration error it sees with its parameters
//! (Muon handed a vector, a parameter list that changed) or a numerical refusal (Shampoo's
//! eigendecomposition or an SVD refusing a non-finite input: under [`NonFinitePolicy::Ignore`],
//! or after an overflow) — abort the step where they occur. Each route's own step is
//! all-or-nothing, but routes stepped before the failing one have then been updated: making the
//! whole partition all-or-nothing would need a prepare/commit split of the [`Optimizer`] trait.
//!
//! Hyperparameter errors of a route are located in the partition's config: an invalid value
//! is reported with its path (`routes[1].betas[0]`, `default.lr`), anything else names the route
//! and its optimizer.
//!
//! Registry names: `"Partition"` (explicit routes) and `"MuonAdamW"` (the standard Muon recipe,
//! a partition that reports — and saves its state under — the name `"MuonAdamW"`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::adam::{AdamW, AdamWConfig};
use super::muon::{AdjustLrFn, Muon, MuonConfig};
use super::registry::{self, Buildable, HyperMap};
use super::{
    Config, NonFinitePolicy, Optimizer, OptimizerState, ParamState, StepOutcome, Subset,
    screen_gradients,
};
use crate::error::OptimError;
use crate::linalg::{NS_COEFFICIENTS, NS_STEPS, OrthoMethod};
use crate::param::{Layout, Param, ParamFilter};
use crate::scalar::Scalar;

/// The filter of the standard Muon recipe: hidden weight matrices (2 or more dimensions), not
/// embeddings and not the output head.
pub const MUON_PARAMS: &str = "ndim>=2 & !*embed* & !*head*";

/// Routes parameters to sub-optimizers by filter.
pub struct Partition<T: Scalar> {
    name: &'static str,
    routes: Vec<(ParamFilter, Box<dyn Optimizer<T>>)>,
    default: Option<Box<dyn Optimizer<T>>>,
    cache: Option<RouteCache>,
    step: u64,
    policy: NonFinitePolicy,
}

/// Index lists computed at the first step.
#[derive(Clone, Debug)]
struct RouteCache {
    /// Position and name of every selected parameter, in subset order.
    seen: Vec<(usize, String)>,
    /// Positions per optimizer (routes in order, then the default).
    indices: Vec<Vec<usize>>,
}

impl<T: Scalar> Partition<T> {
    /// Routes tried in order (first match wins), without a default.
    pub fn new(routes: Vec<(ParamFilter, Box<dyn Optimizer<T>>)>) -> Self {
        let mut routes = routes;
        for (_, o) in &mut routes {
            o.set_nonfinite_policy(NonFinitePolicy::Ignore);
        }
        Partition {
            name: PartitionConfig::NAME,
            routes,
            default: None,
            cache: None,
            step: 0,
            policy: NonFinitePolicy::default(),
        }
    }

    /// Sets the name reported by [`Optimizer::name`] and checked when a state is loaded
    /// (default `"Partition"`; `"MuonAdamW"` for the recipe built under that name).
    pub fn with_name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Sets the optimizer of the parameters no route selects.
    pub fn with_default(mut self, mut default: Box<dyn Optimizer<T>>) -> Self {
        default.set_nonfinite_policy(NonFinitePolicy::Ignore);
        self.default = Some(default);
        self.cache = None;
        self
    }

    /// Number of optimizers (routes plus the default, if any).
    pub fn len(&self) -> usize {
        self.routes.len() + usize::from(self.default.is_some())
    }

    /// Whether there is no route and no default.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The optimizer of route `k` (the default is route `routes.len()`).
    pub fn optimizer(&self, k: usize) -> Option<&dyn Optimizer<T>> {
        if k < self.routes.len() {
            Some(self.routes[k].1.as_ref())
        } else if k == self.routes.len() {
            self.default.as_deref()
        } else {
            None
        }
    }

    /// Names of the parameters route `k` received (after the first step).
    pub fn route_params(&self, k: usize) -> Vec<String> {
        let Some(cache) = &self.cache else {
            return Vec::new();
        };
        let Some(ix) = cache.indices.get(k) else {
            return Vec::new();
        };
        ix.iter()
            .filter_map(|i| cache.seen.iter().find(|(p, _)| p == i))
            .map(|(_, n)| n.clone())
            .collect()
    }

    fn optimizers_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Optimizer<T>>> {
        self.routes
            .iter_mut()
            .map(|(_, o)| o)
            .chain(self.default.as_mut())
    }

    fn optimizers(&self) -> impl Iterator<Item = &Box<dyn Optimizer<T>>> {
        self.routes
            .iter()
            .map(|(_, o)| o)
            .chain(self.default.as_ref())
    }

    fn route_of(&self, p: &Param<T>) -> Result<usize, OptimError> {
        if let Some(k) = self.routes.iter().position(|(f, _)| f.matches_param(p)) {
            return Ok(k);
        }
        if self.default.is_some() {
            return Ok(self.routes.len());
        }
        let filters: Vec<String> = self.routes.iter().map(|(f, _)| format!("`{f}`")).collect();
        Err(OptimError::UnsupportedParam {
            optimizer: self.name.to_string(),
            param: p.name.clone(),
            shape: p.shape.clone(),
            reason: format!(
                "matches no route (filters {}); add a route with params = \"all\" or a default",
                filters.join(", ")
            ),
        })
    }

    /// Builds the index lists at the first step; afterwards checks the names.
    fn sync_cache(&mut self, params: &[Param<T>], subset: Subset<'_>) -> Result<(), OptimError> {
        let n = subset.len(params.len());
        let param = |j: usize| {
            let i = subset.index(j);
            params
                .get(i)
                .map(|p| (i, p))
                .ok_or_else(|| OptimError::ParamMismatch {
                    index: i,
                    expected: "a parameter".into(),
                    found: format!("a list of {} parameters", params.len()),
                })
        };
        if let Some(cache) = &self.cache {
            // Steady state: compare against the cached routing without allocating.
            if cache.seen.len() != n {
                return Err(OptimError::ParamMismatch {
                    index: cache.seen.len().min(n),
                    expected: format!("{} parameters", cache.seen.len()),
                    found: format!("{n} parameters"),
                });
            }
            for (j, (i0, name)) in cache.seen.iter().enumerate() {
                let (i, p) = param(j)?;
                if *i0 != i || *name != p.name {
                    return Err(OptimError::ParamMismatch {
                        index: j,
                        expected: format!("`{name}` at position {i0}"),
                        found: format!("`{}` at position {i}", p.name),
                    });
                }
            }
            return Ok(());
        }
        let seen = (0..n).map(param).collect::<Result<Vec<_>, _>>()?;
        let mut indices = vec![Vec::new(); self.len()];
        for (i, p) in &seen {
            indices[self.route_of(p)?].push(*i);
        }
        self.cache = Some(RouteCache {
            seen: seen.iter().map(|(i, p)| (*i, p.name.clone())).collect(),
            indices,
        });
        Ok(())
    }
}

impl<T: Scalar> Optimizer<T> for Partition<T> {
    fn name(&self) -> &str {
        self.name
    }

    fn steps(&self) -> u64 {
        self.step
    }

    fn lr(&self) -> f64 {
        self.optimizers().next().map_or(0.0, |o| o.lr())
    }

    fn base_lr(&self) -> f64 {
        self.optimizers().next().map_or(0.0, |o| o.base_lr())
    }

    fn set_lrs(&mut self, f: &dyn Fn(f64) -> f64) {
        for o in self.optimizers_mut() {
            o.set_lrs(f);
        }
    }

    fn set_nonfinite_policy(&mut self, policy: NonFinitePolicy) {
        self.policy = policy;
    }

    fn step_subset(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError> {
        self.sync_cache(params, subset)?;
        if let Some(skipped) = screen_gradients(self.policy, params, subset, self.step + 1)? {
            return Ok(skipped);
        }
        let Some(cache) = self.cache.take() else {
            return Err(OptimError::StateMismatch(
                "partition routes were not computed".into(),
            ));
        };
        let mut result = Ok(());
        for (o, ix) in self
            .routes
            .iter_mut()
            .map(|(_, o)| o)
            .chain(self.default.as_mut())
            .zip(&cache.indices)
        {
            if let Err(e) = o.step_subset(params, Subset::Indices(ix)) {
                result = Err(e);
                break;
            }
        }
        self.cache = Some(cache);
        result?;
        self.step += 1;
        Ok(StepOutcome::Applied)
    }

    /// What the optimizer of the route `param` takes says (false when no route takes it).
    fn accepts_layout(&self, param: &Param<T>, layout: Layout) -> bool {
        let optimizer = self.route_of(param).ok().and_then(|k| self.optimizer(k));
        optimizer.is_some_and(|o| o.accepts_layout(param, layout))
    }

    fn state(&self) -> OptimizerState<T> {
        let mut lrs = Vec::new();
        let mut params = Vec::new();
        for (k, o) in self.optimizers().enumerate() {
            let s = o.state();
            lrs.extend_from_slice(&s.lrs);
            params.extend(s.params.into_iter().map(|ps| ParamState {
                name: format!("{k}/{}/{}", s.optimizer, ps.name),
                ..ps
            }));
        }
        OptimizerState {
            optimizer: self.name().to_string(),
            step: self.step,
            lrs,
            params,
        }
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        if state.optimizer != self.name() {
            return Err(OptimError::StateMismatch(format!(
                "state of `{}` loaded into `{}`",
                state.optimizer, self.name
            )));
        }
        let mut per_route: Vec<OptimizerState<T>> = self
            .optimizers()
            .map(|o| OptimizerState {
                optimizer: o.name().to_string(),
                step: state.step,
                lrs: Vec::new(),
                params: Vec::new(),
            })
            .collect();
        for ps in &state.params {
            let mut parts = ps.name.splitn(3, '/');
            let (Some(k), Some(opt), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(OptimError::StateMismatch(format!(
                    "parameter `{}` is not namespaced as `route/optimizer/name`",
                    ps.name
                )));
            };
            let route = k
                .parse::<usize>()
                .ok()
                .and_then(|k| per_route.get_mut(k))
                .ok_or_else(|| {
                    OptimError::StateMismatch(format!(
                        "parameter `{}` names route {k}; this partition has {} optimizers",
                        ps.name,
                        self.len()
                    ))
                })?;
            if route.optimizer != opt {
                return Err(OptimError::StateMismatch(format!(
                    "parameter `{}` was saved by `{opt}`, route {k} is `{}`",
                    ps.name, route.optimizer
                )));
            }
            route.params.push(ParamState {
                name: name.to_string(),
                ..ps.clone()
            });
        }
        // Split the concatenated learning rates by each route's group count.
        let mut offset = 0;
        for (o, s) in self.optimizers().zip(per_route.iter_mut()) {
            let n = o.state().lrs.len();
            let Some(chunk) = state.lrs.get(offset..offset + n) else {
                return Err(OptimError::StateMismatch(format!(
                    "{} learning rates saved, the routes need more",
                    state.lrs.len()
                )));
            };
            s.lrs = chunk.to_vec();
            offset += n;
        }
        if offset != state.lrs.len() {
            return Err(OptimError::StateMismatch(format!(
                "{} learning rates saved, the routes have {offset} groups",
                state.lrs.len()
            )));
        }
        for (o, s) in self.optimizers_mut().zip(&per_route) {
            o.load_state(s)?;
        }
        self.step = state.step;
        self.cache = None;
        Ok(())
    }
}

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
    const NAME: &'static str = "Partition";

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
                registry::lookup(&first.optimizer)
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
        for (k, r) in self.routes.iter().enumerate() {
            registry::lookup(&r.optimizer).map_err(|e| bad(format!("routes[{k}]: {e}")))?;
        }
        if let Some(d) = &self.default {
            registry::lookup(&d.optimizer).map_err(|e| bad(format!("default: {e}")))?;
        }
        Ok(())
    }
}

impl Buildable for PartitionConfig {
    fn build<T: Scalar>(
        default: Self,
        groups: Vec<(ParamFilter, Self)>,
    ) -> Result<Box<dyn Optimizer<T>>, OptimError> {
        let bad = |message: String| OptimError::BadHyperparameters {
            optimizer: Self::NAME.to_string(),
            message,
        };
        if !groups.is_empty() {
            return Err(bad(
                "`groups` is not supported at the top level; give a route its own `groups`".into(),
            ));
        }
        default.validate()?;
        let mut routes = Vec::with_capacity(default.routes.len());
        for (k, r) in default.routes.iter().enumerate() {
            let o = registry::build::<T>(&r.optimizer, &r.hyper)
                .map_err(|e| in_route(&format!("routes[{k}]"), &r.optimizer, e))?;
            routes.push((r.params.clone(), o));
        }
        let mut p = Partition::new(routes);
        if let Some(d) = &default.default {
            let o = registry::build::<T>(&d.optimizer, &d.hyper)
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
    fn build<T: Scalar>(
        default: Self,
        groups: Vec<(ParamFilter, Self)>,
    ) -> Result<Box<dyn Optimizer<T>>, OptimError> {
        if !groups.is_empty() {
            return Err(OptimError::BadHyperparameters {
                optimizer: Self::NAME.to_string(),
                message: "`groups` is not supported; use \"Partition\" with per-route groups"
                    .into(),
            });
        }
        default.validate()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::sgd::{Sgd, SgdConfig};
    use serde_json::json;

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

    fn map(v: Value) -> HyperMap {
        route_hyper(v)
    }

    #[test]
    fn muon_recipe_routes_hidden_matrices_to_muon() -> Result<(), OptimError> {
        let mut opt = registry::build::<f64>("MuonAdamW", &HyperMap::new())?;
        assert_eq!(opt.name(), "MuonAdamW");
        let mut ps = model();
        opt.step(&mut ps)?;
        let state = opt.state();
        assert_eq!(state.optimizer, "MuonAdamW");
        // The same routes under the name "Partition" refuse the state (and the reverse).
        let mut same = registry::build::<f64>("Partition", &HyperMap::new())?;
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
        let mut part = registry::build::<f64>("Partition", &hyper)?;
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
        let mut opt = registry::build::<f32>("MuonAdamW", &HyperMap::new())?;
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
        let mut opt = registry::build::<f64>("MuonAdamW", &HyperMap::new())?;
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
    fn unrouted_parameter_and_changed_list_are_errors() -> Result<(), OptimError> {
        let sgd: Box<dyn Optimizer<f64>> = Box::new(Sgd::new(SgdConfig::default())?);
        let mut p = Partition::new(vec![(ParamFilter::name("*.weight"), sgd)]);
        let mut ps = model();
        let e = p.step(&mut ps).unwrap_err().to_string();
        assert!(
            e.contains("blocks.0.fc.bias") && e.contains("no route"),
            "{e}"
        );
        let sgd: Box<dyn Optimizer<f64>> = Box::new(Sgd::new(SgdConfig::default())?);
        let mut p = Partition::new(Vec::new()).with_default(sgd);
        p.step(&mut ps)?;
        assert_eq!(p.len(), 1);
        assert_eq!(p.route_params(0).len(), ps.len());
        assert!(
            p.optimizer(0)
                .is_some_and(|o| o.name() == "SGD" && o.steps() == 1)
        );
        ps.swap(0, 1);
        assert!(p.step(&mut ps).is_err());
        Ok(())
    }

    #[test]
    fn state_roundtrip_continues_bit_identically() -> Result<(), OptimError> {
        let mut a = model();
        let mut opt = registry::build::<f64>("MuonAdamW", &map(json!({"lr": 0.05})))?;
        opt.step(&mut a)?;
        opt.set_lrs(&|b| b * 0.3);
        let json = serde_json::to_string(&opt.state()).unwrap();
        let mut b = a.clone();
        let mut opt2 = registry::build::<f64>("MuonAdamW", &map(json!({"lr": 0.05})))?;
        opt2.load_state(&serde_json::from_str(&json).unwrap())?;
        for _ in 0..2 {
            opt.step(&mut a)?;
            opt2.step(&mut b)?;
        }
        assert_eq!(a, b);
        // A state from a different layout is refused.
        let mut other = registry::build::<f64>(
            "Partition",
            &map(json!({"routes": [{"params": "all", "optimizer": "SGD"}]})),
        )?;
        assert!(other.load_state(&opt.state()).is_err());
        Ok(())
    }

    #[test]
    fn config_errors_name_the_route() {
        let e = registry::build::<f64>(
            "Partition",
            &map(json!({"routes": [
                {"params": "all", "optimizer": "AdamW", "betas": [0.9, 1.5]}
            ]})),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("routes[0]") && e.contains("betas[1]"), "{e}");
        let e = registry::build::<f64>(
            "Partition",
            &map(json!({"routes": [{"params": "all", "optimizer": "Adamz"}]})),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("routes[0]") && e.contains("Adamz"), "{e}");
        let e = registry::build::<f64>("Partition", &map(json!({"routes": []}))).err();
        assert!(e.is_some());
        let e = registry::build::<f64>("MuonAdamW", &map(json!({"adamw_beta": 0.9})))
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
