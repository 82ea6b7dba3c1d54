//! Sharpness-Aware Minimization as a wrapper around any optimizer.
//!
//! Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware Minimization for Efficiently Improving
//! Generalization" (ICLR 2021). With the gradient g = ∇L(w) and the global norm ‖g‖₂:
//!
//! ```text
//! ε = ρ g / ‖g‖₂                 (ascent to the worst point of the ρ-ball, first order)
//! g_SAM = ∇L(w + ε)              (second forward/backward pass)
//! w ← base_step(w, g_SAM)        (w restored first; any optimizer: SGD, AdamW, Muon, ...)
//! ```
//!
//! Hyperparameter: `rho` ρ > 0 (default 0.05, the paper's). As in the reference implementation,
//! 1e-12 is added to ‖g‖₂. Each SAM step costs two gradient evaluations.

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use optlab::{Optimizer, StepOutcome};
use serde::{Deserialize, Serialize};

use crate::bridge::GradBridge;
use crate::error::NnError;

/// SAM hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamConfig {
    /// Radius ρ > 0 of the neighbourhood (default 0.05).
    pub rho: f64,
}

impl Default for SamConfig {
    fn default() -> Self {
        SamConfig { rho: 0.05 }
    }
}

/// SAM around a base optimizer.
pub struct Sam {
    rho: f64,
    base: Box<dyn Optimizer<f32>>,
}

impl Sam {
    /// Wraps `base`; errors unless ρ is finite and positive.
    pub fn new(config: &SamConfig, base: Box<dyn Optimizer<f32>>) -> Result<Self, NnError> {
        if !(config.rho.is_finite() && config.rho > 0.0) {
            return Err(NnError::config("sam.rho", config.rho, "finite and > 0"));
        }
        Ok(Sam {
            rho: config.rho,
            base,
        })
    }

    /// The base optimizer (for schedules and state).
    pub fn base(&self) -> &dyn Optimizer<f32> {
        self.base.as_ref()
    }

    /// The base optimizer, mutably.
    pub fn base_mut(&mut self) -> &mut dyn Optimizer<f32> {
        self.base.as_mut()
    }

    /// One SAM step. `bridge` must hold the gradient at the current weights w; `reload` must
    /// load into `bridge` the gradient of the model it is given (at w + ε), and may transform it
    /// (e.g. clip it).
    pub fn step<B, M, Br>(
        &mut self,
        bridge: &mut Br,
        model: M,
        mut reload: impl FnMut(&mut Br, &M) -> Result<(), NnError>,
    ) -> Result<(M, StepOutcome), NnError>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B>,
        Br: GradBridge<B, M>,
    {
        let norm = bridge.grad_norm();
        let model = bridge.perturb(model, self.rho / (norm + 1e-12))?;
        reload(bridge, &model)?;
        let model = bridge.restore(model)?;
        bridge.step(model, self.base.as_mut())
    }
}
