//! 2D test functions with known minima (m = 1 sample: the function itself).
//!
//! ```text
//! Rosenbrock  f(x, y) = (a − x)² + b (y − x²)²                       f* = 0 at (a, a²)
//! Rastrigin   f(x, y) = 2A + Σ_{u∈{x,y}} (u² − A cos 2πu)            f* = 0 at (0, 0)
//! Quadratic   f(x, y) = ½ (x² + κ y²)                                 f* = 0 at (0, 0), L = max(1, κ), μ = min(1, κ)
//! Beale       f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²   f* = 0 at (3, 0.5)
//! ```
//!
//! Rastrigin's gradient is Lipschitz with L = 2 + 4π²A; Rosenbrock and Beale have no global L.
//! Every function takes a start point `x0` and an optional noise level `sigma`: an oracle then
//! adds independent N(0, σ²) noise to each gradient coordinate (seeded by the run), turning the
//! function into a stochastic problem.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::{Constants, Problem, ProblemError};
use crate::scalar::Scalar;

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Rosenbrock with parameters a, b.
    Rosenbrock {
        /// a (minimum at (a, a²)).
        a: f64,
        /// b (valley steepness).
        b: f64,
    },
    /// Rastrigin with amplitude A.
    Rastrigin {
        /// A.
        a: f64,
    },
    /// ½(x² + κy²).
    Quadratic {
        /// κ.
        kappa: f64,
    },
    /// Beale's function.
    Beale,
}

impl Kind {
    /// f(x, y) in f64 (also what contour plots draw).
    pub fn value(&self, x: f64, y: f64) -> f64 {
        match *self {
            Kind::Rosenbrock { a, b } => (a - x).powi(2) + b * (y - x * x).powi(2),
            Kind::Rastrigin { a } => {
                2.0 * a + x * x - a * (2.0 * PI * x).cos() + y * y - a * (2.0 * PI * y).cos()
            }
            Kind::Quadratic { kappa } => 0.5 * (x * x + kappa * y * y),
            Kind::Beale => {
                (1.5 - x + x * y).powi(2)
                    + (2.25 - x + x * y * y).powi(2)
                    + (2.625 - x + x * y * y * y).powi(2)
            }
        }
    }

    fn value_t<T: Scalar>(&self, x: T, y: T) -> T {
        let c = |v: f64| T::of(v);
        match *self {
            Kind::Rosenbrock { a, b } => {
                let d = c(a) - x;
                let e = y - x * x;
                d * d + c(b) * e * e
            }
            Kind::Rastrigin { a } => {
                let tp = c(2.0 * PI);
                c(2.0 * a) + x * x - c(a) * (tp * x).cos() + y * y - c(a) * (tp * y).cos()
            }
            Kind::Quadratic { kappa } => c(0.5) * (x * x + c(kappa) * y * y),
            Kind::Beale => {
                let t1 = c(1.5) - x + x * y;
                let t2 = c(2.25) - x + x * y * y;
                let t3 = c(2.625) - x + x * y * y * y;
                t1 * t1 + t2 * t2 + t3 * t3
            }
        }
    }

    fn grad_t<T: Scalar>(&self, x: T, y: T) -> (T, T) {
        let c = |v: f64| T::of(v);
        match *self {
            Kind::Rosenbrock { a, b } => {
                let e = y - x * x;
                (c(-2.0) * (c(a) - x) - c(4.0 * b) * x * e, c(2.0 * b) * e)
            }
            Kind::Rastrigin { a } => {
                let tp = c(2.0 * PI);
                (
                    c(2.0) * x + tp * c(a) * (tp * x).sin(),
                    c(2.0) * y + tp * c(a) * (tp * y).sin(),
                )
            }
            Kind::Quadratic { kappa } => (x, c(kappa) * y),
            Kind::Beale => {
                let t1 = c(1.5) - x + x * y;
                let t2 = c(2.25) - x + x * y * y;
                let t3 = c(2.625) - x + x * y * y * y;
                let two = c(2.0);
                (
                    two * (t1 * (y - T::one())
                        + t2 * (y * y - T::one())
                        + t3 * (y * y * y - T::one())),
                    two * (t1 * x + t2 * c(2.0) * x * y + t3 * c(3.0) * x * y * y),
                )
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Kind::Rosenbrock { .. } => "rosenbrock",
            Kind::Rastrigin { .. } => "rastrigin",
            Kind::Quadratic { .. } => "quadratic",
            Kind::Beale => "beale",
        }
    }
}

/// A 2D test function as a one-sample finite-sum problem.
#[derive(Clone, Debug)]
pub struct TestFunction {
    /// The function.
    pub kind: Kind,
    x0: [f64; 2],
    sigma: f64,
    constants: Constants,
}

impl TestFunction {
    /// Builds the function with start point `x0` and gradient noise σ.
    pub fn new(kind: Kind, x0: [f64; 2], sigma: f64) -> Result<Self, ProblemError> {
        let p = kind.name();
        if !(sigma.is_finite() && sigma >= 0.0) {
            return Err(ProblemError::invalid(p, "sigma", sigma, "finite and ≥ 0"));
        }
        if !x0.iter().all(|v| v.is_finite()) {
            return Err(ProblemError::invalid(
                p,
                "x0",
                format!("{x0:?}"),
                "two finite numbers",
            ));
        }
        let constants = match kind {
            Kind::Rosenbrock { a, b } => {
                if !(a.is_finite() && b.is_finite() && b > 0.0) {
                    return Err(ProblemError::invalid(
                        p,
                        "b",
                        b,
                        "finite and > 0 (a finite)",
                    ));
                }
                Constants {
                    f_star: Some(0.0),
                    x_star: Some(vec![a, a * a]),
                    ..Default::default()
                }
            }
            Kind::Rastrigin { a } => {
                if !(a.is_finite() && a >= 0.0) {
                    return Err(ProblemError::invalid(p, "a", a, "finite and ≥ 0"));
                }
                let l = 2.0 + 4.0 * PI * PI * a;
                Constants {
                    l_smooth: Some(l),
                    l_max: Some(l),
                    f_star: Some(0.0),
                    x_star: Some(vec![0.0, 0.0]),
                    ..Default::default()
                }
            }
            Kind::Quadratic { kappa } => {
                if !(kappa.is_finite() && kappa > 0.0) {
                    return Err(ProblemError::invalid(p, "kappa", kappa, "finite and > 0"));
                }
                Constants {
                    l_smooth: Some(kappa.max(1.0)),
                    l_max: Some(kappa.max(1.0)),
                    mu: Some(kappa.min(1.0)),
                    f_star: Some(0.0),
                    x_star: Some(vec![0.0, 0.0]),
                    reference: None,
                }
            }
            Kind::Beale => Constants {
                f_star: Some(0.0),
                x_star: Some(vec![3.0, 0.5]),
                ..Default::default()
            },
        };
        Ok(TestFunction {
            kind,
            x0,
            sigma,
            constants,
        })
    }
}

impl<T: Scalar> Problem<T> for TestFunction {
    fn describe(&self) -> String {
        let noise = if self.sigma > 0.0 {
            format!(", gradient noise σ = {}", self.sigma)
        } else {
            String::new()
        };
        let f = match self.kind {
            Kind::Rosenbrock { a, b } => format!("Rosenbrock (a = {a}, b = {b})"),
            Kind::Rastrigin { a } => format!("Rastrigin (A = {a})"),
            Kind::Quadratic { kappa } => format!("quadratic ½(x² + κy²), κ = {kappa}"),
            Kind::Beale => "Beale".into(),
        };
        format!("{f} from ({}, {}){noise}", self.x0[0], self.x0[1])
    }

    fn num_samples(&self) -> usize {
        1
    }

    fn dim(&self) -> usize {
        2
    }

    fn sample_loss(&self, x: &[T], _i: usize) -> T {
        self.kind.value_t(x[0], x[1])
    }

    fn add_sample_grad(&self, x: &[T], _i: usize, w: T, g: &mut [T]) {
        let (gx, gy) = self.kind.grad_t(x[0], x[1]);
        g[0] = g[0] + w * gx;
        g[1] = g[1] + w * gy;
    }

    fn constants(&self) -> &Constants {
        &self.constants
    }

    fn grad_noise(&self) -> f64 {
        self.sigma
    }

    fn x0(&self) -> Vec<T> {
        vec![T::of(self.x0[0]), T::of(self.x0[1])]
    }
}

macro_rules! spec {
    ($(#[$doc:meta])* $name:ident, x0 = $x0:expr, { $($(#[$fdoc:meta])* $field:ident : $fdef:expr),* } => |$s:ident| $build:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $( $(#[$fdoc])* pub $field: f64, )*
            /// Start point (default given in `optlab list`).
            pub x0: [f64; 2],
            /// Standard deviation of additive Gaussian gradient noise (default 0: exact gradients).
            pub sigma: f64,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $fdef, )* x0: $x0, sigma: 0.0 }
            }
        }

        impl $name {
            /// Builds the function.
            pub fn build(&self) -> Result<TestFunction, ProblemError> {
                let $s = self;
                TestFunction::new($build, $s.x0, $s.sigma)
            }
        }
    };
}

spec!(
    /// `kind = "rosenbrock"`: a = 1, b = 100, x0 = [−1.5, 2].
    RosenbrockSpec, x0 = [-1.5, 2.0],
    { /// a (default 1).
      a: 1.0, /// b (default 100).
      b: 100.0 } => |s| Kind::Rosenbrock { a: s.a, b: s.b }
);
spec!(
    /// `kind = "rastrigin"`: A = 10, x0 = [2.3, −1.7].
    RastriginSpec, x0 = [2.3, -1.7],
    { /// A (default 10).
      a: 10.0 } => |s| Kind::Rastrigin { a: s.a }
);
spec!(
    /// `kind = "quadratic"`: κ = 10, x0 = [2, 1].
    QuadraticSpec, x0 = [2.0, 1.0],
    { /// κ, the condition number (default 10).
      kappa: 10.0 } => |s| Kind::Quadratic { kappa: s.kappa }
);
spec!(
    /// `kind = "beale"`: x0 = [1, 1.5].
    BealeSpec, x0 = [1.0, 1.5], { } => |_s| Kind::Beale
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::check;

    fn all() -> Vec<TestFunction> {
        vec![
            RosenbrockSpec::default().build().unwrap(),
            RastriginSpec::default().build().unwrap(),
            QuadraticSpec::default().build().unwrap(),
            BealeSpec::default().build().unwrap(),
        ]
    }

    #[test]
    fn gradients_match_finite_differences_and_minima_are_stationary() {
        for p in all() {
            for x in [[0.3, -0.7], [1.1, 0.4], [-1.5, 2.0]] {
                check::all_gradients(&p, &x, 1e-6);
            }
            let xs = p.constants.x_star.clone().unwrap();
            let mut g = vec![0.0; 2];
            Problem::<f64>::grad(&p, &xs, &mut g);
            assert!(g.iter().all(|v| v.abs() < 1e-12), "{:?}: {g:?}", p.kind);
            assert!(Problem::<f64>::loss(&p, &xs).abs() < 1e-12);
            assert!((p.kind.value(0.3, 0.2) - Problem::<f64>::loss(&p, &[0.3, 0.2])).abs() < 1e-14);
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        let e = QuadraticSpec {
            kappa: 0.0,
            ..Default::default()
        }
        .build()
        .unwrap_err();
        assert!(e.to_string().contains("`kappa`"), "{e}");
        let e = BealeSpec {
            sigma: -1.0,
            ..Default::default()
        }
        .build()
        .unwrap_err();
        assert!(e.to_string().contains("`sigma`"), "{e}");
        assert!(
            RosenbrockSpec {
                b: f64::NAN,
                ..Default::default()
            }
            .build()
            .is_err()
        );
    }
}
