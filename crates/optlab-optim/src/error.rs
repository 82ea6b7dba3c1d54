//! Typed errors of the optimizer layer.
//!
//! Nothing a user supplies (a hyperparameter, a gradient, a saved state, a parameter list) panics:
//! it becomes an [`OptimError`] that names the offending field or parameter and, for
//! hyperparameters, the allowed range.

use thiserror::Error;

/// Everything that can go wrong when building or stepping an optimizer.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptimError {
    /// A hyperparameter outside its allowed range.
    #[error("{optimizer}: invalid hyperparameter `{field}` = {value}: must be {allowed}")]
    InvalidHyperparameter {
        /// Optimizer (or schedule) whose config is wrong, e.g. `"Adam"`.
        optimizer: &'static str,
        /// The field, with PyTorch's name, e.g. `"betas[1]"`.
        field: String,
        /// The value given, printed.
        value: String,
        /// The allowed range, e.g. `"in [0, 1)"`.
        allowed: String,
    },

    /// A hyperparameter map with an unknown key or a value of the wrong type.
    #[error("{optimizer}: {message}")]
    BadHyperparameters {
        /// Optimizer being configured.
        optimizer: String,
        /// What is wrong, including the valid field names where relevant.
        message: String,
    },

    /// An optimizer name that is not in the registry.
    #[error("unknown optimizer `{name}`; valid names: {valid}")]
    UnknownOptimizer {
        /// The name given.
        name: String,
        /// Comma-separated list of valid names.
        valid: String,
    },

    /// A gradient with a NaN or ±Inf entry, under [`NonFinitePolicy::Error`](crate::optim::NonFinitePolicy).
    #[error("non-finite gradient {value} in parameter `{param}` at element {index}, step {step}")]
    NonFiniteGradient {
        /// Parameter name.
        param: String,
        /// Flat (row-major) index of the first offending element.
        index: usize,
        /// The 1-based step that was refused.
        step: u64,
        /// The offending value (`NaN`, `inf` or `-inf`).
        value: f64,
    },

    /// A parameter whose data, gradient and shape disagree.
    #[error(
        "parameter `{name}`: shape {shape:?} has {expected} elements but data has {data} and gradient has {grad}"
    )]
    ShapeMismatch {
        /// Parameter name.
        name: String,
        /// Declared shape.
        shape: Vec<usize>,
        /// Product of the shape.
        expected: usize,
        /// Length of the data.
        data: usize,
        /// Length of the gradient.
        grad: usize,
    },

    /// The list of parameters differs from the one the optimizer saw at its first step.
    #[error("parameter list changed at position {index}: expected {expected}, found {found}")]
    ParamMismatch {
        /// Position in the list handed to the optimizer.
        index: usize,
        /// What the optimizer's state was built for (name and length).
        expected: String,
        /// What was handed now.
        found: String,
    },

    /// A saved state that does not fit this optimizer or these parameters.
    #[error("optimizer state does not fit: {0}")]
    StateMismatch(String),

    /// A parameter this optimizer cannot update (e.g. a vector handed to Muon, or a parameter
    /// that no route of a partition selects).
    #[error("{optimizer}: parameter `{param}` with shape {shape:?}: {reason}")]
    UnsupportedParam {
        /// Optimizer that refused it.
        optimizer: String,
        /// Parameter name.
        param: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Why, and what to do instead.
        reason: String,
    },

    /// A matrix computation (SVD, eigendecomposition) failed on a parameter's data.
    #[error("{optimizer}: parameter `{param}` at step {step}: {message}")]
    Numerical {
        /// Optimizer.
        optimizer: String,
        /// Parameter name.
        param: String,
        /// The 1-based step.
        step: u64,
        /// What failed.
        message: String,
    },

    /// [`Optimizer::step`](crate::optim::Optimizer::step) called on a method that needs the
    /// objective again during its step (L-BFGS, a line search, SAM): use
    /// [`step_with_closure`](crate::optim::Optimizer::step_with_closure).
    #[error("{optimizer} evaluates the objective during its step: call step_with_closure")]
    ClosureRequired {
        /// The optimizer.
        optimizer: String,
    },

    /// A line search that found no step with sufficient decrease (the run's iterate is left at
    /// the start of the step).
    #[error(
        "{optimizer}: no sufficient decrease at step {step} after {backtracks} backtracks \
         (f = {value}, directional derivative ⟨d, ∇f⟩ = {slope})"
    )]
    NoSufficientDecrease {
        /// The line search.
        optimizer: String,
        /// The 1-based step.
        step: u64,
        /// Backtracks tried.
        backtracks: u32,
        /// f at the start of the step.
        value: f64,
        /// ⟨d, ∇f⟩ of the search direction d.
        slope: f64,
    },

    /// The objective handed to [`step_with_closure`](crate::optim::Optimizer::step_with_closure)
    /// failed (its own error, as text: a network's forward pass, a data read).
    #[error("objective evaluation failed: {0}")]
    Objective(String),
}

impl OptimError {
    pub(crate) fn invalid(
        optimizer: &'static str,
        field: impl Into<String>,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        OptimError::InvalidHyperparameter {
            optimizer,
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// An invalid hyperparameter of a nested config located in the outer config: its field is
    /// prefixed by `path` (`then.gamma`, `routes[1].betas[0]`); other errors are returned as
    /// they are.
    pub fn within(self, path: &str) -> Self {
        match self {
            OptimError::InvalidHyperparameter {
                optimizer,
                field,
                value,
                allowed,
            } => OptimError::InvalidHyperparameter {
                optimizer,
                field: format!("{path}.{field}"),
                value,
                allowed,
            },
            other => other,
        }
    }

    /// A numerical failure (an SVD or eigendecomposition that refused its input) at 1-based
    /// `step` of `optimizer` on parameter `param`.
    pub(crate) fn numerical(
        optimizer: &str,
        param: &str,
        step: u64,
        e: impl std::fmt::Display,
    ) -> Self {
        OptimError::Numerical {
            optimizer: optimizer.to_string(),
            param: param.to_string(),
            step,
            message: e.to_string(),
        }
    }
}

/// Range checks for hyperparameters; each returns an error naming the field and the range.
pub(crate) mod check {
    use super::OptimError;

    /// `value ≥ 0` and finite (learning rates, weight decays, eps).
    pub fn non_negative(opt: &'static str, field: &str, value: f64) -> Result<(), OptimError> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(OptimError::invalid(opt, field, value, "finite and ≥ 0"))
        }
    }

    /// `value > 0` and finite.
    #[allow(dead_code)] // used by schedules and matrix methods
    pub fn positive(opt: &'static str, field: &str, value: f64) -> Result<(), OptimError> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(OptimError::invalid(opt, field, value, "finite and > 0"))
        }
    }

    /// `0 ≤ value < 1` (betas, momentum coefficients of EMAs).
    pub fn unit_interval_open(
        opt: &'static str,
        field: &str,
        value: f64,
    ) -> Result<(), OptimError> {
        if (0.0..1.0).contains(&value) {
            Ok(())
        } else {
            Err(OptimError::invalid(opt, field, value, "in [0, 1)"))
        }
    }

    /// `0 ≤ value ≤ 1` (dampening, rho, alpha).
    pub fn unit_interval(opt: &'static str, field: &str, value: f64) -> Result<(), OptimError> {
        if (0.0..=1.0).contains(&value) {
            Ok(())
        } else {
            Err(OptimError::invalid(opt, field, value, "in [0, 1]"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_field_and_range() {
        let e = check::unit_interval_open("Adam", "betas[1]", 1.0).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("betas[1]"), "{text}");
        assert!(text.contains("[0, 1)"), "{text}");
        assert!(check::non_negative("SGD", "lr", f64::NAN).is_err());
        assert!(check::non_negative("SGD", "lr", 0.0).is_ok());
        assert!(check::positive("SGD", "lr", 0.0).is_err());
        assert!(check::unit_interval("SGD", "dampening", 1.0).is_ok());
    }
}
