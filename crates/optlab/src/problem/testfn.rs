//! 2D test functions with known minima (m = 1 sample: the function itself), and the lecture's
//! scalar double well as a finite sum of m = 2 functions.
//!
//! ```text
//! Rosenbrock  f(x, y) = (a − x)² + b (y − x²)²                       f* = 0 at (a, a²)
//! Rastrigin   f(x, y) = 2A + Σ_{u∈{x,y}} (u² − A cos 2πu)            f* = 0 at (0, 0)
//! Quadratic   f(x, y) = ½ (x² + κ y²)                                 f* = 0 at (0, 0), L = max(1, κ), μ = min(1, κ)
//! Beale       f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²   f* = 0 at (3, 0.5)
//! Himmelblau  f(x, y) = (x² + y − 11)² + (x + y² − 7)²                f* = 0 at (3, 2) and three more points
//! TwoWell     f(x, y) = w(x) + y²,  w(x) = (x² − 1)² + t x            global minimum (x_g, 0), local (x_l, 0)
//! DoubleWell  f(x) = w(x) = ½ Σ_{i=1,2} (w(x) ± σ x)   (1-D, m = 2)   global minimum x_g, local x_l
//! ```
//!
//! Rastrigin's gradient is Lipschitz with L = 2 + 4π²A; Rosenbrock, Beale, Himmelblau and the
//! wells have no global L. With the default tilt t = 0.3 (the lecture's), x_g ≈ −1.036,
//! x_l ≈ 0.961 and the barrier between them is at ≈ 0.075. Every 2D function takes a start point
//! `x0` and an optional noise level `sigma`: an oracle then adds N(0, σ²) noise to each sample's
//! gradient coordinates (seeded by the run), turning the function into a stochastic problem. The
//! double well's stochasticity is the lecture's own: its two sample functions are w(x) ± σx, so a
//! single-sample gradient is w'(x) ± σ — unbiased, with standard deviation σ, as for the 2D
//! functions.

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
    /// Himmelblau's function (four global minima).
    Himmelblau,
    /// The lecture's tilted double well along x, a quadratic valley along y.
    TwoWell {
        /// Tilt t of w(x) = (x² − 1)² + t x (the lecture's: 0.3).
        tilt: f64,
    },
}

/// The lecture's tilted double well w(x) = (x² − 1)² + t x.
pub fn well(x: f64, tilt: f64) -> f64 {
    (x * x - 1.0).powi(2) + tilt * x
}

/// w'(x) = 4x(x² − 1) + t.
pub fn well_grad(x: f64, tilt: f64) -> f64 {
    4.0 * x * (x * x - 1.0) + tilt
}

/// The critical point of w reached by Newton's method on w' from `x` (from −1: the global
/// minimum x_g for t > 0; from +1: the local minimum x_l for 0 < t < 8/(3√3) ≈ 1.54; from 0: the
/// barrier).
pub fn well_critical_point(tilt: f64, mut x: f64) -> f64 {
    for _ in 0..100 {
        let step = well_grad(x, tilt) / (12.0 * x * x - 4.0);
        x -= step;
        if step.abs() < 1e-15 {
            break;
        }
    }
    x
}

/// The minima of w, global first: `(x, is_global)`; two of them while |t| < 8/(3√3) ≈ 1.54.
pub fn well_minima(tilt: f64) -> Vec<(f64, bool)> {
    let (a, b) = (
        well_critical_point(tilt, -1.0),
        well_critical_point(tilt, 1.0),
    );
    let (g, l) = if well(a, tilt) <= well(b, tilt) {
        (a, b)
    } else {
        (b, a)
    };
    let mut out = vec![(g, true)];
    if (l - g).abs() > 1e-6 && 12.0 * l * l - 4.0 > 0.0 {
        out.push((l, well(l, tilt) - well(g, tilt) <= 1e-12));
    }
    out
}

/// A local minimum of a test function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Minimizer {
    /// The point (length: the function's dimension).
    pub x: Vec<f64>,
    /// f there.
    pub f: f64,
    /// Whether f is the global minimum value there.
    pub global: bool,
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
            Kind::Himmelblau => (x * x + y - 11.0).powi(2) + (x + y * y - 7.0).powi(2),
            Kind::TwoWell { tilt } => well(x, tilt) + y * y,
        }
    }

    /// ∇f(x, y) in f64.
    pub fn gradient(&self, x: f64, y: f64) -> [f64; 2] {
        let (gx, gy) = self.grad_t(x, y);
        [gx, gy]
    }

    /// The function's minimizers with their values: the global ones (Himmelblau: all four) and,
    /// for the two-well function, the local minimum; Rastrigin's many local minima are not listed.
    /// Points not known in closed form are refined by Newton's method to ‖∇f‖ ≲ 1e-12.
    pub fn minimizers(&self) -> Vec<Minimizer> {
        let at = |x: f64, y: f64, global: bool| Minimizer {
            x: vec![x, y],
            f: self.value(x, y),
            global,
        };
        match *self {
            Kind::Rosenbrock { a, .. } => vec![at(a, a * a, true)],
            Kind::Rastrigin { .. } | Kind::Quadratic { .. } => vec![at(0.0, 0.0, true)],
            Kind::Beale => vec![at(3.0, 0.5, true)],
            Kind::Himmelblau => [(3.0, 2.0), (-2.8, 3.1), (-3.8, -3.3), (3.6, -1.8)]
                .iter()
                .map(|&(x, y)| {
                    let [x, y] = self.newton([x, y]);
                    at(x, y, true)
                })
                .collect(),
            Kind::TwoWell { tilt } => well_minima(tilt)
                .into_iter()
                .map(|(x, global)| at(x, 0.0, global))
                .collect(),
        }
    }

    /// Newton's method on ∇f = 0 from `p` (Hessian by central differences of the exact gradient).
    fn newton(&self, mut p: [f64; 2]) -> [f64; 2] {
        for _ in 0..50 {
            let g = self.gradient(p[0], p[1]);
            let h = 1e-6;
            let col = |d: [f64; 2]| {
                let a = self.gradient(p[0] + d[0], p[1] + d[1]);
                let b = self.gradient(p[0] - d[0], p[1] - d[1]);
                [(a[0] - b[0]) / (2.0 * h), (a[1] - b[1]) / (2.0 * h)]
            };
            let (c0, c1) = (col([h, 0.0]), col([0.0, h]));
            let det = c0[0] * c1[1] - c1[0] * c0[1];
            if det == 0.0 || !det.is_finite() {
                break;
            }
            let step = [
                (c1[1] * g[0] - c1[0] * g[1]) / det,
                (c0[0] * g[1] - c0[1] * g[0]) / det,
            ];
            p = [p[0] - step[0], p[1] - step[1]];
            if step[0].abs().max(step[1].abs()) < 1e-15 {
                break;
            }
        }
        p
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
            Kind::Himmelblau => {
                let u = x * x + y - c(11.0);
                let v = x + y * y - c(7.0);
                u * u + v * v
            }
            Kind::TwoWell { tilt } => {
                let u = x * x - T::one();
                u * u + c(tilt) * x + y * y
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
            Kind::Himmelblau => {
                let u = x * x + y - c(11.0);
                let v = x + y * y - c(7.0);
                (c(4.0) * x * u + c(2.0) * v, c(2.0) * u + c(4.0) * y * v)
            }
            Kind::TwoWell { tilt } => (c(4.0) * x * (x * x - T::one()) + c(tilt), c(2.0) * y),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Kind::Rosenbrock { .. } => "rosenbrock",
            Kind::Rastrigin { .. } => "rastrigin",
            Kind::Quadratic { .. } => "quadratic",
            Kind::Beale => "beale",
            Kind::Himmelblau => "himmelblau",
            Kind::TwoWell { .. } => "two_well",
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
            Kind::Beale | Kind::Himmelblau => Constants {
                f_star: Some(0.0),
                x_star: kind.minimizers().first().map(|m| m.x.clone()),
                ..Default::default()
            },
            Kind::TwoWell { tilt } => {
                if !(tilt.is_finite() && tilt.abs() <= 1.5) {
                    return Err(ProblemError::invalid(
                        p,
                        "tilt",
                        tilt,
                        "finite with |tilt| ≤ 1.5",
                    ));
                }
                let g = kind.minimizers().into_iter().find(|m| m.global);
                Constants {
                    f_star: g.as_ref().map(|m| m.f),
                    x_star: g.map(|m| m.x),
                    ..Default::default()
                }
            }
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
            Kind::Himmelblau => "Himmelblau".into(),
            Kind::TwoWell { tilt } => format!("two-well (x² − 1)² + {tilt}x + y²"),
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
spec!(
    /// `kind = "himmelblau"`: x0 = [0, −4].
    HimmelblauSpec, x0 = [0.0, -4.0], { } => |_s| Kind::Himmelblau
);
spec!(
    /// `kind = "two_well"`: t = 0.3, x0 = [1.8, 1].
    TwoWellSpec, x0 = [1.8, 1.0],
    { /// tilt t of the double well along x (default 0.3, the lecture's; |t| ≤ 1.5).
      tilt: 0.3 } => |s| Kind::TwoWell { tilt: s.tilt }
);

/// The lecture's scalar double well w(x) = (x² − 1)² + t x as the finite sum of its two tilted
/// copies fᵢ(x) = w(x) + cᵢ x, c = (+σ, −σ): a single-sample gradient is w'(x) ± σ (`optlab
/// reproduce scalar-stories`).
#[derive(Clone, Debug)]
pub struct DoubleWell {
    tilt: f64,
    sigma: f64,
    x0: f64,
    constants: Constants,
}

impl DoubleWell {
    /// The tilt t.
    pub fn tilt(&self) -> f64 {
        self.tilt
    }

    /// w(x).
    pub fn value(&self, x: f64) -> f64 {
        well(x, self.tilt)
    }

    /// The global minimum x_g and, when w has two wells, the local one x_l.
    pub fn minimizers(&self) -> Vec<Minimizer> {
        well_minima(self.tilt)
            .into_iter()
            .map(|(x, global)| Minimizer {
                x: vec![x],
                f: well(x, self.tilt),
                global,
            })
            .collect()
    }

    fn shift(&self, i: usize) -> f64 {
        if i == 0 { self.sigma } else { -self.sigma }
    }
}

impl<T: Scalar> Problem<T> for DoubleWell {
    fn describe(&self) -> String {
        format!(
            "double well (x² − 1)² + {}x as ½Σ (f(x) ± {}x), x₀ = {}",
            self.tilt, self.sigma, self.x0
        )
    }

    fn num_samples(&self) -> usize {
        2
    }

    fn dim(&self) -> usize {
        1
    }

    /// fᵢ(x) = w(x) + cᵢ x with c = (+σ, −σ).
    fn sample_loss(&self, x: &[T], i: usize) -> T {
        let u = x[0] * x[0] - T::one();
        u * u + T::of(self.tilt + self.shift(i)) * x[0]
    }

    /// fᵢ'(x) = w'(x) + cᵢ.
    fn add_sample_grad(&self, x: &[T], i: usize, w: T, g: &mut [T]) {
        let d = T::of(4.0) * x[0] * (x[0] * x[0] - T::one()) + T::of(self.tilt + self.shift(i));
        g[0] = g[0] + w * d;
    }

    fn constants(&self) -> &Constants {
        &self.constants
    }

    fn x0(&self) -> Vec<T> {
        vec![T::of(self.x0)]
    }
}

/// `kind = "double_well"`: the lecture's scalar double well (1-D, m = 2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DoubleWellSpec {
    /// Tilt t of w(x) = (x² − 1)² + t x (default 0.3, the lecture's; |t| ≤ 1.5).
    pub tilt: f64,
    /// The sample functions' spread σ: fᵢ(x) = w(x) ± σx (default 0; the lecture's SGD story
    /// uses 4).
    pub sigma: f64,
    /// Start point (default 1.8, in the local well).
    pub x0: f64,
}

impl Default for DoubleWellSpec {
    fn default() -> Self {
        DoubleWellSpec {
            tilt: 0.3,
            sigma: 0.0,
            x0: 1.8,
        }
    }
}

impl DoubleWellSpec {
    /// Builds the problem.
    pub fn build(&self) -> Result<DoubleWell, ProblemError> {
        let p = "double_well";
        if !(self.tilt.is_finite() && self.tilt.abs() <= 1.5) {
            return Err(ProblemError::invalid(
                p,
                "tilt",
                self.tilt,
                "finite with |tilt| ≤ 1.5",
            ));
        }
        if !(self.sigma.is_finite() && self.sigma >= 0.0) {
            return Err(ProblemError::invalid(
                p,
                "sigma",
                self.sigma,
                "finite and ≥ 0",
            ));
        }
        if !self.x0.is_finite() {
            return Err(ProblemError::invalid(p, "x0", self.x0, "finite"));
        }
        let mut w = DoubleWell {
            tilt: self.tilt,
            sigma: self.sigma,
            x0: self.x0,
            constants: Constants::default(),
        };
        let g = w.minimizers().into_iter().find(|m| m.global);
        w.constants = Constants {
            f_star: g.as_ref().map(|m| m.f),
            x_star: g.map(|m| m.x),
            ..Default::default()
        };
        Ok(w)
    }
}

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
            HimmelblauSpec::default().build().unwrap(),
            TwoWellSpec::default().build().unwrap(),
        ]
    }

    #[test]
    fn listed_minimizers_are_minima() {
        for p in all() {
            let ms = p.kind.minimizers();
            assert!(ms.iter().any(|m| m.global), "{:?}", p.kind);
            for m in &ms {
                let g = p.kind.gradient(m.x[0], m.x[1]);
                assert!(
                    g[0].abs().max(g[1].abs()) < 1e-9,
                    "{:?} {m:?}: {g:?}",
                    p.kind
                );
                // a minimum: f grows in every direction on a small circle
                for k in 0..16 {
                    let a = k as f64 * std::f64::consts::PI / 8.0;
                    let f = p
                        .kind
                        .value(m.x[0] + 1e-3 * a.cos(), m.x[1] + 1e-3 * a.sin());
                    assert!(f > m.f, "{:?} {m:?}", p.kind);
                }
                if m.global {
                    assert!((m.f - p.constants.f_star.unwrap()).abs() < 1e-12);
                }
            }
        }
        let h = Kind::Himmelblau.minimizers();
        assert_eq!(h.len(), 4);
        assert!(h.iter().all(|m| m.f.abs() < 1e-20));
        assert!((h[1].x[0] + 2.805118).abs() < 1e-6 && (h[1].x[1] - 3.131312).abs() < 1e-6);
        let w = Kind::TwoWell { tilt: 0.3 }.minimizers();
        assert_eq!(w.len(), 2);
        assert!((w[0].x[0] + 1.036).abs() < 1e-3 && (w[1].x[0] - 0.961).abs() < 1e-3);
        assert!(w[0].f < w[1].f);
    }

    #[test]
    fn double_well_is_the_lecture_finite_sum() {
        let p = DoubleWellSpec {
            sigma: 4.0,
            ..Default::default()
        }
        .build()
        .unwrap();
        for x in [-1.7, -0.3, 0.2, 1.4] {
            check::all_gradients(&p, &[x], 1e-6);
            let mut g = [0.0];
            Problem::<f64>::sample_grad(&p, &[x], 0, &mut g);
            assert!((g[0] - well_grad(x, 0.3) - 4.0).abs() < 1e-12);
        }
        let ms = p.minimizers();
        assert_eq!(ms.len(), 2);
        assert!((ms[0].x[0] + 1.036).abs() < 1e-3 && ms[0].global && !ms[1].global);
        assert!(well_grad(ms[1].x[0], 0.3).abs() < 1e-12);
        assert_eq!(Problem::<f64>::constants(&p).f_star, Some(ms[0].f));
        // the opposite tilt swaps the wells
        let m = DoubleWellSpec {
            tilt: -0.3,
            ..Default::default()
        }
        .build()
        .unwrap()
        .minimizers();
        assert!((m[0].x[0] - 1.036).abs() < 1e-3 && m[0].global && !m[1].global);
        assert!(
            DoubleWellSpec {
                tilt: 2.0,
                ..Default::default()
            }
            .build()
            .is_err()
        );
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
            let f_star = p.constants.f_star.unwrap();
            assert!((Problem::<f64>::loss(&p, &xs) - f_star).abs() < 1e-12);
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
