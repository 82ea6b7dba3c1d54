//! Global-norm gradient clipping with PyTorch's `torch.nn.utils.clip_grad_norm_` semantics.
//!
//! ```text
//! ‖g‖ = (Σ_p ‖g_p‖₂²)^½                      (all parameters together)
//! g_p ← g_p · min(1, max_norm / (‖g‖ + 1e-6))
//! ```
//!
//! Returns ‖g‖ before clipping, as PyTorch does. Works on whatever a [`GradBridge`] holds, so it
//! applies to every optimizer and to SAM's second gradient alike.

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

use crate::bridge::GradBridge;
use crate::error::NnError;

/// Checks a `max_norm` setting (`> 0` and finite).
pub fn check_max_norm(max_norm: f64) -> Result<(), NnError> {
    if max_norm.is_finite() && max_norm > 0.0 {
        Ok(())
    } else {
        Err(NnError::config(
            "clip_grad_norm",
            max_norm,
            "finite and > 0",
        ))
    }
}

/// Scales the gradients held by `bridge` so that their global norm is at most `max_norm`;
/// returns the norm before clipping.
pub fn clip_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    bridge: &mut impl GradBridge<B, M>,
    max_norm: f64,
) -> f64 {
    let total = bridge.grad_norm();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        bridge.scale_grads(coef);
    }
    total
}
