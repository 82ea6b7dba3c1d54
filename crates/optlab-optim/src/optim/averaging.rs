//! Iterate averaging around any optimizer (Polyak–Ruppert; optax: `ema`; PyTorch:
//! `torch.optim.swa_utils.AveragedModel`).
//!
//! ```text
//! uniform         x̄_k = (1/k) Σ_{t<k} x_t
//! step_weighted   x̄_k = Σ_{t<k} α_t x_t / Σ_{t<k} α_t        (the lecture's weighting)
//! ema             x̄_1 = x_0,  x̄_{k+1} = β x̄_k + (1 − β) x_k   (decay β)
//! ```
//!
//! x_t is the iterate at which step t was taken (the parameters before the step) and α_t that
//! step's size: the inner optimizer's learning rate after the step (a line search's accepted
//! step). Averaging does not change the iterates: the inner optimizer steps as it would alone,
//! and x̄ is what [`eval_params`](Optimizer::eval_params) returns — the point at which a runner
//! or trainer evaluates and checkpoints the model (before the first step, the training
//! parameters themselves). The sums are kept in `f64` whatever the precision of the parameters,
//! and saved exactly in the state.

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    Buffer, Closure, ClosureStep, Optimizer, OptimizerState, ParamState, StepOutcome, Subset,
    check_subset, decode_f64, encode_f64, nest_state, split_state,
};
use crate::error::OptimError;
use crate::param::Param;
use crate::scalar::Scalar;

/// Which average of the iterates (`averaging = "step_weighted"`, or
/// `averaging = { kind = "ema", decay = 0.999 }`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Averaging {
    /// No averaging (default; `"none"`).
    #[default]
    None,
    /// x̄_k = (1/k) Σ_{t<k} x_t (`"uniform"`).
    Uniform,
    /// x̄_k = Σ_{t<k} α_t x_t / Σ_{t<k} α_t (`"step_weighted"`).
    StepWeighted,
    /// Exponential moving average with `decay` β ∈ [0, 1) (`"ema"`: β = 0.999).
    Ema {
        /// β.
        decay: f64,
    },
}

/// The EMA decay of `averaging = "ema"`.
pub const EMA_DECAY: f64 = 0.999;

impl Averaging {
    /// The names accepted in configuration files.
    pub const VALID: &'static str =
        "none, uniform, step_weighted, ema (or { kind = \"ema\", decay = 0.999 })";

    /// Whether anything is averaged.
    pub fn is_none(&self) -> bool {
        *self == Averaging::None
    }

    /// Checks `decay` ∈ [0, 1).
    pub fn validate(&self) -> Result<(), OptimError> {
        match *self {
            Averaging::Ema { decay } => {
                crate::error::check::unit_interval_open("Averaging", "decay", decay)
            }
            _ => Ok(()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Averaging::None => "none",
            Averaging::Uniform => "uniform",
            Averaging::StepWeighted => "step_weighted",
            Averaging::Ema { .. } => "ema",
        }
    }

    fn from_kind(kind: &str, decay: Option<f64>) -> Result<Self, String> {
        let a = match kind {
            "none" => Averaging::None,
            "uniform" => Averaging::Uniform,
            "step_weighted" => Averaging::StepWeighted,
            "ema" => Averaging::Ema {
                decay: decay.unwrap_or(EMA_DECAY),
            },
            other => {
                return Err(format!(
                    "unknown averaging `{other}`, expected one of {}",
                    Self::VALID
                ));
            }
        };
        if decay.is_some() && !matches!(a, Averaging::Ema { .. }) {
            return Err(format!("`decay` applies to kind = \"ema\", not `{kind}`"));
        }
        Ok(a)
    }
}

impl Serialize for Averaging {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Averaging::Ema { decay } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("kind", "ema")?;
                m.serialize_entry("decay", decay)?;
                m.end()
            }
            other => s.serialize_str(other.kind()),
        }
    }
}

impl<'de> Deserialize<'de> for Averaging {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Averaging;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "one of {}", Averaging::VALID)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Averaging, E> {
                Averaging::from_kind(v, None).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Averaging, A::Error> {
                let (mut kind, mut decay) = (None::<String>, None::<f64>);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "kind" => kind = Some(map.next_value()?),
                        "decay" => decay = Some(map.next_value()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["kind", "decay"]));
                        }
                    }
                }
                let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
                Averaging::from_kind(&kind, decay).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// One averaged parameter.
#[derive(Clone, Debug)]
struct Slot {
    name: String,
    shape: Vec<usize>,
    sum: Vec<f64>,
}

/// Iterate averaging around an inner optimizer; x̄ through
/// [`eval_params`](Optimizer::eval_params).
pub struct Averaged<T: Scalar> {
    kind: Averaging,
    inner: Box<dyn Optimizer<T>>,
    name: String,
    /// Selected parameters in subset order (created at the first step).
    slots: Vec<Slot>,
    /// Their positions in the list of the last step (empty after `load_state`).
    positions: Vec<usize>,
    weight: f64,
    count: u64,
    /// x_t, saved before each step (reused).
    prev: Vec<Vec<T>>,
}

impl<T: Scalar> Averaged<T> {
    /// Averages the iterates of `inner`; `kind` must not be [`Averaging::None`].
    pub fn new(kind: Averaging, inner: Box<dyn Optimizer<T>>) -> Result<Self, OptimError> {
        kind.validate()?;
        if kind.is_none() {
            return Err(OptimError::BadHyperparameters {
                optimizer: "Averaging".into(),
                message: format!(
                    "averaging `none` averages nothing; use one of {}",
                    Averaging::VALID
                ),
            });
        }
        Ok(Averaged {
            kind,
            name: format!("Averaged({})", inner.name()),
            inner,
            slots: Vec::new(),
            positions: Vec::new(),
            weight: 0.0,
            count: 0,
            prev: Vec::new(),
        })
    }

    /// The wrapped optimizer.
    pub fn inner(&self) -> &dyn Optimizer<T> {
        self.inner.as_ref()
    }

    /// Σ of the weights added so far (the number of steps for `uniform`).
    pub fn total_weight(&self) -> f64 {
        self.weight
    }

    /// Creates the slots at the first step, afterwards checks the names; saves x_t.
    fn before(&mut self, params: &[Param<T>], subset: Subset<'_>) -> Result<(), OptimError> {
        check_subset(params, subset)?;
        let n = subset.len(params.len());
        if self.slots.is_empty() {
            self.slots = (0..n)
                .map(|j| {
                    let p = &params[subset.index(j)];
                    Slot {
                        name: p.name.clone(),
                        shape: p.shape.clone(),
                        sum: vec![0.0; p.data.len()],
                    }
                })
                .collect();
        }
        if self.slots.len() != n {
            return Err(OptimError::ParamMismatch {
                index: self.slots.len().min(n),
                expected: format!("{} parameters", self.slots.len()),
                found: format!("{n} parameters"),
            });
        }
        self.positions.clear();
        self.prev.resize_with(n, Vec::new);
        for (j, slot) in self.slots.iter().enumerate() {
            let p = &params[subset.index(j)];
            if p.name != slot.name || p.data.len() != slot.sum.len() {
                return Err(OptimError::ParamMismatch {
                    index: j,
                    expected: format!("`{}` {:?}", slot.name, slot.shape),
                    found: format!("`{}` {:?}", p.name, p.shape),
                });
            }
            self.positions.push(subset.index(j));
            self.prev[j].clear();
            self.prev[j].extend_from_slice(&p.data);
        }
        Ok(())
    }

    /// Adds x_t (saved by `before`) for a step of size `alpha`.
    fn add(&mut self, alpha: f64) {
        let w = match self.kind {
            Averaging::None => return,
            Averaging::Uniform => 1.0,
            Averaging::StepWeighted => alpha,
            Averaging::Ema { decay } => {
                let first = self.count == 0;
                for (slot, x) in self.slots.iter_mut().zip(&self.prev) {
                    for (s, v) in slot.sum.iter_mut().zip(x) {
                        *s = if first {
                            v.as_f64()
                        } else {
                            decay * *s + (1.0 - decay) * v.as_f64()
                        };
                    }
                }
                self.weight = 1.0;
                self.count += 1;
                return;
            }
        };
        for (slot, x) in self.slots.iter_mut().zip(&self.prev) {
            for (s, v) in slot.sum.iter_mut().zip(x) {
                *s += w * v.as_f64();
            }
        }
        self.weight += w;
        self.count += 1;
    }

    fn after(&mut self, outcome: &StepOutcome) {
        if *outcome == StepOutcome::Applied {
            let alpha = self.inner.lr();
            self.add(alpha);
        }
    }
}

impl<T: Scalar> Optimizer<T> for Averaged<T> {
    delegate_to_inner!(
        name,
        steps,
        lr,
        base_lr,
        set_lrs,
        set_nonfinite_policy,
        requires_closure,
        step_with_closure
    );

    fn step_subset(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
    ) -> Result<StepOutcome, OptimError> {
        self.before(params, subset)?;
        let outcome = self.inner.step_subset(params, subset)?;
        self.after(&outcome);
        Ok(outcome)
    }

    fn step_subset_with_closure(
        &mut self,
        params: &mut [Param<T>],
        subset: Subset<'_>,
        closure: &mut dyn Closure<T>,
    ) -> Result<ClosureStep, OptimError> {
        self.before(params, subset)?;
        let r = self
            .inner
            .step_subset_with_closure(params, subset, closure)?;
        self.after(&r.outcome);
        Ok(r)
    }

    /// x̄ for the averaged parameters, the training values for the others; `Ok(false)` (the
    /// training parameters are the evaluation point) before anything was averaged.
    fn eval_params(&self, params: &[Param<T>], out: &mut [Param<T>]) -> Result<bool, OptimError> {
        if self.weight.is_nan() || self.weight <= 0.0 {
            return Ok(false);
        }
        if out.len() != params.len() {
            return Err(OptimError::ParamMismatch {
                index: out.len().min(params.len()),
                expected: format!("{} parameters", params.len()),
                found: format!("{} in the output list", out.len()),
            });
        }
        for (o, p) in out.iter_mut().zip(params) {
            if o.data.len() != p.data.len() {
                return Err(OptimError::ParamMismatch {
                    index: 0,
                    expected: format!("`{}` {:?}", p.name, p.shape),
                    found: format!("`{}` {:?} in the output list", o.name, o.shape),
                });
            }
            o.data.copy_from_slice(&p.data);
        }
        for (j, slot) in self.slots.iter().enumerate() {
            let i = match self.positions.get(j) {
                Some(&i) => i,
                None => params
                    .iter()
                    .position(|p| p.name == slot.name)
                    .ok_or_else(|| OptimError::ParamMismatch {
                        index: j,
                        expected: format!("`{}` {:?}", slot.name, slot.shape),
                        found: "no parameter of that name".into(),
                    })?,
            };
            let o = out.get_mut(i).filter(|o| o.data.len() == slot.sum.len());
            let Some(o) = o else {
                return Err(OptimError::ParamMismatch {
                    index: i,
                    expected: format!("`{}` {:?}", slot.name, slot.shape),
                    found: "another parameter".into(),
                });
            };
            for (x, s) in o.data.iter_mut().zip(&slot.sum) {
                *x = T::of(s / self.weight);
            }
        }
        Ok(true)
    }

    fn state(&self) -> OptimizerState<T> {
        let mut own: Vec<ParamState<T>> = self
            .slots
            .iter()
            .map(|s| ParamState {
                name: format!("average/{}", s.name),
                shape: s.shape.clone(),
                buffers: vec![Buffer {
                    name: "sum".into(),
                    shape: vec![s.sum.len(), 3],
                    data: encode_f64(&s.sum),
                }],
            })
            .collect();
        own.push(ParamState {
            name: "average/".into(),
            shape: Vec::new(),
            buffers: vec![Buffer {
                name: "weight_count".into(),
                shape: vec![2, 3],
                data: encode_f64(&[self.weight, self.count as f64]),
            }],
        });
        nest_state(&self.name, self.inner.state(), own)
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        let (inner, own) = split_state(state, &self.name, self.inner.name(), "average")?;
        let Some((totals, slots)) = own.split_last() else {
            return Err(OptimError::StateMismatch(format!(
                "`{}` state has no `average/` entry",
                self.name
            )));
        };
        let wc = match totals.buffers.as_slice() {
            [b] if totals.name == "average/" && b.name == "weight_count" => {
                decode_f64(&b.data, "weight_count")?
            }
            _ => {
                return Err(OptimError::StateMismatch(format!(
                    "`{}` state: the last entry must be `average/` with `weight_count`",
                    self.name
                )));
            }
        };
        let [weight, count] = wc[..] else {
            return Err(OptimError::StateMismatch(
                "weight_count needs 2 values".into(),
            ));
        };
        let mut new_slots = Vec::with_capacity(slots.len());
        for ps in slots {
            let numel: usize = ps.shape.iter().product();
            let sum = match ps.buffers.as_slice() {
                [b] if b.name == "sum" => decode_f64(&b.data, "sum")?,
                _ => {
                    return Err(OptimError::StateMismatch(format!(
                        "entry `{}` needs one buffer `sum`",
                        ps.name
                    )));
                }
            };
            if sum.len() != numel {
                return Err(OptimError::StateMismatch(format!(
                    "entry `{}` holds {} sums for shape {:?}",
                    ps.name,
                    sum.len(),
                    ps.shape
                )));
            }
            new_slots.push(Slot {
                name: ps.name["average/".len()..].to_string(),
                shape: ps.shape.clone(),
                sum,
            });
        }
        self.inner.load_state(&inner)?;
        self.slots = new_slots;
        self.positions.clear();
        self.weight = weight;
        self.count = count as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::sgd::{Sgd, SgdConfig};

    fn sgd(lr: f64) -> Result<Box<dyn Optimizer<f64>>, OptimError> {
        Ok(Box::new(Sgd::new(SgdConfig {
            lr,
            ..Default::default()
        })?))
    }

    /// f(x) = ½x², ∇f = x, SGD from x₀ = 8 with the learning rates `lrs` (set before each
    /// step); returns x̄ after each step.
    fn run(kind: Averaging, lrs: &[f64]) -> Result<(Vec<f64>, Averaged<f64>), OptimError> {
        let mut opt = Averaged::new(kind, sgd(1.0)?)?;
        let mut ps = vec![Param::vector("x", vec![8.0])];
        let mut out = ps.clone();
        let mut seen = Vec::new();
        assert!(!opt.eval_params(&ps, &mut out)?, "nothing averaged yet");
        for &lr in lrs {
            opt.set_lrs(&|b| b * lr);
            ps[0].grad = ps[0].data.clone();
            opt.step(&mut ps)?;
            assert!(opt.eval_params(&ps, &mut out)?);
            seen.push(out[0].data[0]);
        }
        Ok((seen, opt))
    }

    #[test]
    fn uniform_step_weighted_and_ema_by_hand() -> Result<(), OptimError> {
        // iterates x₀ = 8, x₁ = 8 − 0.5·8 = 4, x₂ = 4 − 0.25·4 = 3
        let lrs = [0.5, 0.25, 0.5];
        let (u, _) = run(Averaging::Uniform, &lrs)?;
        assert_eq!(u, vec![8.0, 6.0, 5.0]);
        let (w, _) = run(Averaging::StepWeighted, &lrs)?;
        assert_eq!(
            w,
            vec![
                8.0,
                (0.5 * 8.0 + 0.25 * 4.0) / 0.75,
                (0.5 * 8.0 + 0.25 * 4.0 + 0.5 * 3.0) / 1.25
            ]
        );
        let (e, _) = run(Averaging::Ema { decay: 0.5 }, &lrs)?;
        assert_eq!(e, vec![8.0, 6.0, 4.5]);
        Ok(())
    }

    #[test]
    fn state_roundtrip_is_exact_and_iterates_are_untouched() -> Result<(), OptimError> {
        let (_, opt) = run(Averaging::StepWeighted, &[0.3, 0.7])?;
        let json = serde_json::to_string(&opt.state())
            .map_err(|e| OptimError::Objective(e.to_string()))?;
        let back: OptimizerState<f64> =
            serde_json::from_str(&json).map_err(|e| OptimError::Objective(e.to_string()))?;
        let mut fresh = Averaged::new(Averaging::StepWeighted, sgd(1.0)?)?;
        fresh.load_state(&back)?;
        assert_eq!(fresh.state(), opt.state());
        let ps = vec![Param::vector("x", vec![1.0])];
        let (mut a, mut b) = (ps.clone(), ps.clone());
        opt.eval_params(&ps, &mut a)?;
        fresh.eval_params(&ps, &mut b)?;
        assert_eq!(a, b);
        // plain SGD gives the same iterates as the averaged one
        let mut plain = sgd(1.0)?;
        let mut avg = Averaged::new(Averaging::Uniform, sgd(1.0)?)?;
        let (mut x, mut y) = (
            vec![Param::vector("x", vec![2.0, -1.0])],
            vec![Param::vector("x", vec![2.0, -1.0])],
        );
        for _ in 0..3 {
            x[0].grad = x[0].data.clone();
            y[0].grad = y[0].data.clone();
            plain.step(&mut x)?;
            avg.step(&mut y)?;
        }
        assert_eq!(x, y);
        Ok(())
    }

    #[test]
    fn config_forms() {
        let parse = |s: &str| serde_json::from_str::<Averaging>(s).map_err(|e| e.to_string());
        assert_eq!(parse("\"step_weighted\""), Ok(Averaging::StepWeighted));
        assert_eq!(parse("\"ema\""), Ok(Averaging::Ema { decay: EMA_DECAY }));
        assert_eq!(
            parse("{\"kind\": \"ema\", \"decay\": 0.9}"),
            Ok(Averaging::Ema { decay: 0.9 })
        );
        let e = parse("\"polyak\"").unwrap_err();
        assert!(e.contains("polyak") && e.contains("step_weighted"), "{e}");
        assert!(parse("{\"kind\": \"uniform\", \"decay\": 0.9}").is_err());
        assert!(Averaging::Ema { decay: 1.0 }.validate().is_err());
        assert_eq!(
            serde_json::to_string(&Averaging::StepWeighted)
                .ok()
                .as_deref(),
            Some("\"step_weighted\"")
        );
    }
}
