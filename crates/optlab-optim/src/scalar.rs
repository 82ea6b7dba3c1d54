//! The floating-point element type of parameters, gradients and optimizer state.
//!
//! Every optimizer, schedule-driven update and linear-algebra kernel in optlab is generic over
//! [`Scalar`], which is implemented for exactly `f32` (networks) and `f64` (theory experiments,
//! golden tests against PyTorch's float64 traces). Hyperparameters are always given as `f64` and
//! converted once per step with [`Scalar::of`].

use std::fmt::{Debug, Display};
use std::iter::Sum;

use serde::Serialize;
use serde::de::DeserializeOwned;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// `f32` or `f64`: arithmetic from [`num_traits::Float`], matrix kernels from faer's
/// [`RealField`](faer::traits::RealField), and serde for optimizer state.
pub trait Scalar:
    sealed::Sealed
    + num_traits::Float
    + num_traits::FloatConst
    + num_traits::FromPrimitive
    + faer::traits::RealField
    + Sum
    + Serialize
    + DeserializeOwned
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// `"f32"` or `"f64"`.
    const NAME: &'static str;
    /// Size in bytes (for bandwidth figures).
    const BYTES: usize;

    /// Converts a hyperparameter or constant given in `f64` (rounding to nearest for `f32`).
    fn of(x: f64) -> Self;

    /// Widens to `f64` (exact for both types).
    fn as_f64(self) -> f64;
}

impl Scalar for f32 {
    const NAME: &'static str = "f32";
    const BYTES: usize = 4;

    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }

    #[inline(always)]
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Scalar for f64 {
    const NAME: &'static str = "f64";
    const BYTES: usize = 8;

    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }

    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::Scalar;

    fn roundtrip<T: Scalar>(x: f64) -> f64 {
        T::of(x).as_f64()
    }

    #[test]
    fn conversions_are_exact_where_representable() {
        assert_eq!(roundtrip::<f64>(0.1), 0.1);
        assert_eq!(roundtrip::<f32>(0.5), 0.5);
        assert_eq!(roundtrip::<f32>(0.1), f64::from(0.1f32));
        assert_eq!(<f32 as Scalar>::BYTES, 4);
        assert_eq!(<f64 as Scalar>::NAME, "f64");
    }
}
