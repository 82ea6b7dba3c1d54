//! The composition wrappers of an experiment, in one fixed order (optax's `chain`).
//!
//! An experiment (an `optlab run` method, an `optlab train` file) may put these around its
//! optimizer; [`Wrappers::wrap`] applies them from the inside out:
//!
//! ```text
//! Averaged( ClipGradNorm( SAM( Armijo( optimizer ))))
//! ```
//!
//! - [`armijo`](super::armijo): the line search scales the optimizer's update;
//! - [`sam`](super::sam): the optimizer steps from the gradient at the perturbed point;
//! - [`clip`](super::clip): every gradient the closure produces is clipped first (also SAM's
//!   second one), as `clip_grad_norm_` after each `backward()` would;
//! - [`averaging`](super::averaging): averages the iterates the whole chain produces; x̄ is what
//!   [`eval_params`](super::Optimizer::eval_params) returns.
//!
//! SAM and the line search both evaluate the objective during the step in different ways and
//! are not combined.

use serde::{Deserialize, Serialize};

use super::armijo::{Armijo, ArmijoConfig};
use super::averaging::{Averaged, Averaging};
use super::clip::{ClipGradNorm, ClipGradNormConfig};
use super::sam::{Sam, SamConfig};
use super::{Config, Optimizer};
use crate::error::OptimError;
use crate::scalar::Scalar;

/// Which wrappers to apply: the fields `clip_grad_norm`, `sam`, `armijo` and `averaging` of an
/// experiment (each absent by default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Wrappers {
    /// Global-norm gradient clipping threshold (PyTorch's `max_norm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// Sharpness-aware minimization (`sam = { rho = 0.05 }`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sam: Option<SamConfig>,
    /// Armijo backtracking line search (`armijo = { c = 1e-4, rho = 0.5 }`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub armijo: Option<ArmijoConfig>,
    /// Iterate averaging (`"uniform"`, `"step_weighted"`, `"ema"` or
    /// `{ kind = "ema", decay = 0.99 }`; default `"none"`).
    #[serde(skip_serializing_if = "Averaging::is_none")]
    pub averaging: Averaging,
}

impl Wrappers {
    /// The field names (for configuration files that flatten this struct into theirs).
    pub const FIELDS: &'static [&'static str] = &["clip_grad_norm", "sam", "armijo", "averaging"];

    /// Checks every field; an invalid value is named by its field (`sam.rho`, `clip_grad_norm`).
    pub fn validate(&self) -> Result<(), OptimError> {
        if let Some(max_norm) = self.clip_grad_norm {
            ClipGradNormConfig { max_norm }
                .validate()
                .map_err(|e| match e {
                    OptimError::InvalidHyperparameter {
                        optimizer,
                        value,
                        allowed,
                        ..
                    } => OptimError::InvalidHyperparameter {
                        optimizer,
                        field: "clip_grad_norm".into(),
                        value,
                        allowed,
                    },
                    other => other,
                })?;
        }
        if let Some(s) = &self.sam {
            s.validate().map_err(|e| e.within("sam"))?;
        }
        if let Some(a) = &self.armijo {
            a.validate().map_err(|e| e.within("armijo"))?;
        }
        self.averaging
            .validate()
            .map_err(|e| e.within("averaging"))?;
        if self.sam.is_some() && self.armijo.is_some() {
            return Err(OptimError::BadHyperparameters {
                optimizer: SamConfig::NAME.into(),
                message: "`sam` and `armijo` both evaluate the objective during a step; use one"
                    .into(),
            });
        }
        Ok(())
    }

    /// Whether no wrapper is configured.
    pub fn is_empty(&self) -> bool {
        *self == Wrappers::default()
    }

    /// Gradient evaluations per step, for methods whose cost is fixed: 2 under SAM, else 1 (a
    /// line search's count varies: count closure calls instead).
    pub fn gradients_per_step(&self) -> u64 {
        if self.sam.is_some() { 2 } else { 1 }
    }

    /// The label of a method around `base` (`"SAM(AdamW)"`, `"Armijo(SGD)"`): the wrappers
    /// that change the method; clipping and averaging keep the base's label.
    pub fn label(&self, base: &str) -> String {
        if self.sam.is_some() {
            format!("SAM({base})")
        } else if self.armijo.is_some() {
            format!("Armijo({base})")
        } else {
            base.to_string()
        }
    }

    /// `base` inside the configured wrappers, in the order of the module documentation.
    pub fn wrap<T: Scalar>(
        &self,
        base: Box<dyn Optimizer<T>>,
    ) -> Result<Box<dyn Optimizer<T>>, OptimError> {
        self.validate()?;
        let mut opt = base;
        if let Some(c) = &self.armijo {
            opt = Box::new(Armijo::new(c.clone(), opt)?);
        }
        if let Some(c) = &self.sam {
            opt = Box::new(Sam::new(c.clone(), opt)?);
        }
        if let Some(max_norm) = self.clip_grad_norm {
            opt = Box::new(ClipGradNorm::new(ClipGradNormConfig { max_norm }, opt)?);
        }
        if !self.averaging.is_none() {
            opt = Box::new(Averaged::new(self.averaging, opt)?);
        }
        Ok(opt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::sgd::{Sgd, SgdConfig};
    use crate::optim::{Eval, Subset};
    use crate::param::Param;

    fn sgd(lr: f64) -> Result<Box<dyn Optimizer<f64>>, OptimError> {
        Ok(Box::new(Sgd::new(SgdConfig {
            lr,
            ..Default::default()
        })?))
    }

    #[test]
    fn order_and_validation() -> Result<(), OptimError> {
        let w = Wrappers {
            clip_grad_norm: Some(1.0),
            sam: Some(SamConfig { rho: 0.1 }),
            averaging: Averaging::Uniform,
            ..Default::default()
        };
        let o = w.wrap(sgd(0.1)?)?;
        assert_eq!(o.name(), "Averaged(ClipGradNorm(SAM(SGD)))");
        assert!(o.requires_closure());
        assert_eq!(w.label("SGD"), "SAM(SGD)");
        assert_eq!(w.gradients_per_step(), 2);
        let bad = Wrappers {
            sam: Some(SamConfig { rho: 0.0 }),
            ..Default::default()
        };
        let e = bad
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("sam.rho"), "{e}");
        let bad = Wrappers {
            clip_grad_norm: Some(-1.0),
            ..Default::default()
        };
        let e = bad
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`clip_grad_norm`"), "{e}");
        let both = Wrappers {
            sam: Some(SamConfig::default()),
            armijo: Some(ArmijoConfig::default()),
            ..Default::default()
        };
        assert!(both.wrap(sgd(0.1)?).is_err());
        assert!(Wrappers::default().is_empty());
        Ok(())
    }

    /// Clip outside SAM clips both gradients: on f = ½‖w‖² from w = (30, 40) (‖g‖ = 50) with
    /// max_norm 1, ρ = 0.5, lr 1: g₁ = w/50·(50/(50+1e-6)), w + ε = w + 0.5 ĝ₁/(‖ĝ₁‖+1e-12),
    /// g₂ = clip(w + ε), w ← w − g₂.
    #[test]
    fn clip_around_sam_by_hand() -> Result<(), OptimError> {
        let w = Wrappers {
            clip_grad_norm: Some(1.0),
            sam: Some(SamConfig { rho: 0.5 }),
            ..Default::default()
        };
        let mut o = w.wrap(sgd(1.0)?)?;
        let mut ps = vec![Param::vector("w", vec![30.0, 40.0])];
        let mut f = |ps: &mut [Param<f64>], _: Eval| {
            ps[0].grad = ps[0].data.clone();
            Ok(0.0)
        };
        o.step_subset_with_closure(&mut ps, Subset::All, &mut f)?;
        let clip = |v: [f64; 2]| {
            let n = (v[0] * v[0] + v[1] * v[1]).sqrt();
            let c = 1.0 / (n + 1e-6);
            if c < 1.0 { [v[0] * c, v[1] * c] } else { v }
        };
        let g1 = clip([30.0, 40.0]);
        let n1 = (g1[0] * g1[0] + g1[1] * g1[1]).sqrt();
        let s = 0.5 / (n1 + 1e-12);
        let g2 = clip([30.0 + s * g1[0], 40.0 + s * g1[1]]);
        let expect = [30.0 - g2[0], 40.0 - g2[1]];
        for (a, b) in ps[0].data.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        Ok(())
    }
}
