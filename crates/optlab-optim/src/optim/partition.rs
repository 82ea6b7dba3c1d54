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
//! a partition that reports — and saves its state under — the name `"MuonAdamW"`); their
//! configurations (`PartitionConfig`, `MuonAdamWConfig`) are defined next to the
//! [registry](super::registry), since routes name other registry entries. This file only routes.

use super::{
    NonFinitePolicy, Optimizer, OptimizerState, ParamState, StepOutcome, Subset, screen_gradients,
};
use crate::error::OptimError;
use crate::param::{Layout, Param, ParamFilter};
use crate::scalar::Scalar;

/// The name a [`Partition`] reports unless given another ([`Partition::with_name`]).
pub const NAME: &str = "Partition";

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
            name: NAME,
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

    /// Each route's evaluation point for its parameters (ASGD, schedule-free), the training
    /// values for the parameters of routes that have none.
    fn eval_params(&self, params: &[Param<T>], out: &mut [Param<T>]) -> Result<bool, OptimError> {
        let Some(cache) = &self.cache else {
            return Ok(false);
        };
        let mut plain = Vec::new();
        for (o, ix) in self.optimizers().zip(&cache.indices) {
            if !o.eval_params(params, out)? {
                plain.push(ix);
            }
        }
        if plain.len() == cache.indices.len() {
            return Ok(false);
        }
        for &i in plain.into_iter().flatten() {
            match (params.get(i), out.get_mut(i)) {
                (Some(p), Some(o)) if o.data.len() == p.data.len() => {
                    o.data.copy_from_slice(&p.data)
                }
                _ => {
                    return Err(OptimError::ParamMismatch {
                        index: i,
                        expected: "an output parameter like the input".into(),
                        found: format!("{} inputs, {} outputs", params.len(), out.len()),
                    });
                }
            }
        }
        Ok(true)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::sgd::{Sgd, SgdConfig};

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
}
