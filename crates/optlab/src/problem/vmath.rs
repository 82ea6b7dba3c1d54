//! Vectorizable `exp`, `log1p`, logistic sigmoid and softplus (f64).
//!
//! The functions are written as branch-free scalar code — fused multiply-adds ([`f64::mul_add`]),
//! integer operations on the bits, and selects — and are `#[inline(always)]`: called in a loop
//! inside a [`pulp::WithSimd`] body (the logistic coefficients of a pass, [`exp_in_place`]),
//! they are compiled for the widest vector instruction set the CPU offers (AVX-512 or AVX2 +
//! FMA on x86-64) and LLVM vectorizes the loop there. Every operation is an exactly rounded IEEE
//! operation (a fused multiply-add is exact before its one rounding), so the vector and scalar
//! paths return the same bits, on every machine and for any thread count.
//!
//! Accuracy (tested against the system's libm over wide ranges): [`exp`] within 1 ulp
//! (Cody–Waite reduction `x = k ln 2 + t`, |t| ≤ ln 2 / 2, a degree-11 near-minimax polynomial by
//! Estrin's scheme, `2^k` applied in two halves so that results near the underflow threshold
//! stay exact; [`exp_neg`], for x ≤ 0, one factor and 0 where the result is subnormal);
//! [`log1p_unit`] within 2 ulp on [0, 1] (`w = 1 + e` with the rounding error of that sum carried
//! as a first-order correction, `log w = k ln 2 + 2 atanh((f − 1)/(f + 1))`, `f ∈ [1/√2, √2]`,
//! the atanh series by fdlibm's minimax polynomial, as in fdlibm's `log1p`).
//!
//! NaN propagates through every function (an iterate that became NaN gives a NaN loss and
//! gradient, which the runner reports).

/// `1.5 · 2⁵²`: adding and subtracting it rounds a double of magnitude < 2⁵¹ to an integer, and
/// the low bits of the sum are that integer.
const ROUND: f64 = 6_755_399_441_055_744.0;
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split so that `k · LN2_HI` is exact for |k| < 2¹¹ (fdlibm).
/// (6.93147180369123816490e-1 and 1.90821492927058770002e-10, written as their bits.)
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// `2^j` for integer-valued `j` with −1022 ≤ j ≤ 1023, from the bits.
#[inline(always)]
fn pow2(j: f64) -> f64 {
    pow2_rounded(j + ROUND)
}

/// `2^j` from `r = ROUND + j` (j integer-valued, −1022 ≤ j ≤ 1023): the low bits of `r` are j.
#[inline(always)]
fn pow2_rounded(r: f64) -> f64 {
    let k = r.to_bits().wrapping_sub(ROUND.to_bits());
    f64::from_bits(k.wrapping_add(1023) << 52)
}

/// `eᵗ` for `|t| ≤ 0.3466` (⊇ [−ln 2 / 2, ln 2 / 2]): `1 + t q(t)`, q of degree 10 a near-minimax
/// (Chebyshev) fit of `(eᵗ − 1)/t` on that interval, whose relative error in `1 + t q(t)` is below
/// 10⁻¹⁷ (0.1 ulp) with the coefficients rounded to doubles; evaluated by Estrin's scheme (pairs,
/// then powers t², t⁴, t⁸: a dependency chain of five operations instead of Horner's eleven, so
/// that the vectorized loops are not waiting on the latency of one long chain). (The degree-13
/// Taylor series it replaces needed three more multiply-adds for the same accuracy.)
#[inline(always)]
fn exp_reduced(t: f64) -> f64 {
    // the coefficients' bits (their decimal values: 1, 0.5000000000000006, 0.1666666666666667,
    // 0.041666666666573086, …, 2.5105214474751413e-8)
    const A: [f64; 11] = [
        f64::from_bits(0x3ff0_0000_0000_0000),
        f64::from_bits(0x3fe0_0000_0000_0005),
        f64::from_bits(0x3fc5_5555_5555_5557),
        f64::from_bits(0x3fa5_5555_5555_20a7),
        f64::from_bits(0x3f81_1111_1111_00dc),
        f64::from_bits(0x3f56_c16c_17f4_5e48),
        f64::from_bits(0x3f2a_01a0_1abe_78f9),
        f64::from_bits(0x3efa_019a_6635_643c),
        f64::from_bits(0x3ec7_1de0_232f_4775),
        f64::from_bits(0x3e92_8a2c_810d_05b6),
        f64::from_bits(0x3e5a_f4de_6a36_d4fc),
    ];
    let t2 = t * t;
    let t4 = t2 * t2;
    let t8 = t4 * t4;
    let b0 = A[1].mul_add(t, A[0]);
    let b1 = A[3].mul_add(t, A[2]);
    let b2 = A[5].mul_add(t, A[4]);
    let b3 = A[7].mul_add(t, A[6]);
    let b4 = A[9].mul_add(t, A[8]);
    let c0 = b1.mul_add(t2, b0);
    let c1 = b3.mul_add(t2, b2);
    let c2 = A[10].mul_add(t2, b4);
    let q = c2.mul_add(t8, c1.mul_add(t4, c0));
    t.mul_add(q, 1.0)
}

/// The Cody–Waite reduction `x = k ln 2 + t`: `(r, k, t)` with k integer-valued (the nearest
/// integer to `x log₂e`, rounded once by a fused multiply-add), `r = ROUND + k` (whose bits give
/// 2ᵏ, [`pow2_rounded`]) and |t| ≤ 0.3466, for |x| < 2⁵⁰.
#[inline(always)]
fn reduce(x: f64) -> (f64, f64, f64) {
    let r = x.mul_add(LOG2E, ROUND);
    let k = r - ROUND;
    let t = (-k).mul_add(LN2_HI, x);
    (r, k, (-k).mul_add(LN2_LO, t))
}

/// `eˣ` within 1 ulp: 0 below −746, +∞ above 710, NaN for NaN.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // comparisons with NaN are false: NaN passes through unclamped
    let x = if x < -746.0 { -746.0 } else { x };
    let x = if x > 710.0 { 710.0 } else { x };
    let (_, k, t) = reduce(x);
    let p = exp_reduced(t);
    // 2ᵏ in two factors, each a normal number for k ∈ [−1077, 1025]
    let k1 = (k * 0.5 + ROUND) - ROUND;
    p * pow2(k1) * pow2(k - k1)
}

/// `eˣ` for `x ≤ 0` (the `e^{−|u|}` of σ and softplus), within 1 ulp where the result is a
/// normal number (x ≥ −708.39), and 0 below (where [`exp`] gives a subnormal or 0): one factor
/// `2ᵏ` instead of two. NaN for NaN.
#[inline(always)]
pub fn exp_neg(x: f64) -> f64 {
    // ln(2⁻¹⁰²²) = −708.396…: below it the result would not be normal
    const LOW: f64 = -708.39;
    let flush = x < LOW;
    let (r, _, t) = reduce(if flush { 0.0 } else { x });
    let v = exp_reduced(t) * pow2_rounded(r);
    if flush { 0.0 } else { v }
}

/// `log(1 + e)` for `e ∈ [0, 1]` (the argument range of softplus), within 2 ulp (the atanh series
/// by Estrin's scheme; its polynomial's relative error in the result is about 10⁻¹⁸).
#[inline(always)]
pub fn log1p_unit(e: f64) -> f64 {
    let w = 1.0 + e;
    // the rounding error of 1 + e, to first order in its relative size
    let c = (e - (w - 1.0)) / w;
    let big = w > std::f64::consts::SQRT_2;
    let f = if big { 0.5 * w } else { w };
    let k: f64 = if big { 1.0 } else { 0.0 };
    let s = (f - 1.0) / (f + 1.0);
    let z = s * s;
    // 2 atanh(s) = 2s + 2s z r(z), r(z) ≈ 1/3 + z/5 + z²/7 + … on z ≤ 0.0295: fdlibm's minimax
    // polynomial (`e_log.c`, Lg1…Lg7, here halved) of degree 6, by Estrin's scheme
    const R: [f64; 7] = [
        f64::from_bits(0x3fd5_5555_5555_5593),
        f64::from_bits(0x3fc9_9999_9997_fa04),
        f64::from_bits(0x3fc2_4924_9422_9359),
        f64::from_bits(0x3fbc_71c5_1d8e_78af),
        f64::from_bits(0x3fb7_4664_96cb_03de),
        f64::from_bits(0x3fb3_9a09_d078_c69f),
        f64::from_bits(0x3fb2_f112_df3e_5244),
    ];
    let z2 = z * z;
    let z4 = z2 * z2;
    let b0 = R[1].mul_add(z, R[0]);
    let b1 = R[3].mul_add(z, R[2]);
    let b2 = R[5].mul_add(z, R[4]);
    let c0 = b1.mul_add(z2, b0);
    let c1 = R[6].mul_add(z2, b2);
    let r = c1.mul_add(z4, c0);
    let s2 = s + s;
    let tail = (s2 * z).mul_add(r, k.mul_add(LN2_LO, c));
    k.mul_add(LN2_HI, s2 + tail)
}

/// The logistic function `σ(u) = 1/(1 + e^{−u})` from `e = e^{−|u|}`, without overflow for
/// any u (`e` is shared with [`softplus_with`]: one exponential serves both).
#[inline(always)]
pub fn sigmoid_with(u: f64, e: f64) -> f64 {
    let num = if u >= 0.0 { 1.0 } else { e };
    num / (1.0 + e)
}

/// `softplus(u) = log(1 + eᵘ) = max(u, 0) + log1p(e^{−|u|})` from `e = e^{−|u|}`, without
/// overflow for any u.
#[inline(always)]
pub fn softplus_with(u: f64, e: f64) -> f64 {
    let pos = if u > 0.0 { u } else { 0.0 };
    // NaN: `pos` is 0 but the log term carries the NaN
    pos + log1p_unit(e)
}

// `vectorized!` (optlab-optim's kernels): the loop below is compiled for the CPU's widest
// vector instruction set, with the `#[inline(always)]` functions above inlined and vectorized.
// (The logistic coefficients inline σ and softplus into their own vectorized pass.)
use optlab_optim::vectorized;

vectorized! {
    /// `xs ← exp(xs)` elementwise.
    pub fn exp_in_place(xs: &'a mut [f64]) -> () {
        for x in xs.iter_mut() {
            *x = exp(*x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn sigmoid(u: f64) -> f64 {
        sigmoid_with(u, exp_neg(-u.abs()))
    }

    fn softplus(u: f64) -> f64 {
        softplus_with(u, exp_neg(-u.abs()))
    }

    /// Distance in units in the last place (both finite, same sign).
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn exp_matches_libm_within_one_ulp() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut worst = 0;
        for i in 0..400_000 {
            let x: f64 = match i % 4 {
                0 => rng.random_range(-1.0..1.0),
                1 => rng.random_range(-40.0..40.0),
                2 => rng.random_range(-708.0..709.0),
                _ => rng.random_range(-1e-6..1e-6),
            };
            let (a, b) = (exp(x), x.exp());
            worst = worst.max(ulps(a, b));
            assert!(ulps(a, b) <= 1, "exp({x:e}) = {a:e}, libm {b:e}");
        }
        assert!(worst <= 1);
        for x in [0.0, -0.0, 1.0, -1.0, 709.78, -700.0, -708.3, -745.0, -745.2] {
            let (a, b) = (exp(x), x.exp());
            assert!(
                ulps(a, b) <= 1 || (a - b).abs() <= 5e-324,
                "exp({x}) = {a:e} vs {b:e}"
            );
        }
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert!(exp(f64::NAN).is_nan());
    }

    #[test]
    fn exp_neg_is_exp_on_normal_results_and_zero_below() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for i in 0..400_000 {
            let x: f64 = match i % 3 {
                0 => rng.random_range(-1.0..=0.0),
                1 => rng.random_range(-40.0..=0.0),
                _ => rng.random_range(-708.39..=0.0),
            };
            let (a, b) = (exp_neg(x), x.exp());
            assert!(ulps(a, b) <= 1, "exp_neg({x:e}) = {a:e}, libm {b:e}");
        }
        assert_eq!(exp_neg(0.0), 1.0);
        assert_eq!(exp_neg(-0.0), 1.0);
        for x in [-708.4, -720.0, -745.2, -1e300, f64::NEG_INFINITY] {
            assert_eq!(exp_neg(x), 0.0, "exp_neg({x})");
        }
        assert!(exp_neg(f64::NAN).is_nan());
    }

    #[test]
    fn log1p_matches_libm_within_two_ulp() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for i in 0..400_000 {
            let e: f64 = match i % 3 {
                0 => rng.random_range(0.0..1.0),
                1 => (-rng.random_range(0.0..700.0f64)).exp(),
                _ => rng.random_range(0.40..0.43), // around the √2 switch
            };
            let (a, b) = (log1p_unit(e), e.ln_1p());
            assert!(ulps(a, b) <= 2, "log1p({e:e}) = {a:e}, libm {b:e}");
        }
        assert_eq!(log1p_unit(0.0), 0.0);
        assert_eq!(log1p_unit(1.0), std::f64::consts::LN_2);
        assert_eq!(log1p_unit(1e-300), 1e-300);
        assert!(log1p_unit(f64::NAN).is_nan());
    }

    #[test]
    fn sigmoid_and_softplus_agree_with_the_scalar_formulas() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100_000 {
            let u: f64 = rng.random_range(-50.0..50.0);
            let s = crate::problem::sigmoid(u);
            let p = crate::problem::softplus(u);
            assert!((sigmoid(u) - s).abs() <= 4e-16 * s, "σ({u})");
            assert!(
                (softplus(u) - p).abs() <= 8e-16 * p.max(1e-300),
                "softplus({u})"
            );
        }
        assert_eq!(sigmoid(1e300), 1.0);
        assert_eq!(sigmoid(-1e300), 0.0);
        assert_eq!(softplus(-1e300), 0.0);
        assert_eq!(softplus(1e300), 1e300);
        assert_eq!(softplus(f64::INFINITY), f64::INFINITY);
        assert!(sigmoid(f64::NAN).is_nan() && softplus(f64::NAN).is_nan());
    }

    #[test]
    fn exp_in_place_equals_the_scalar_function_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let xs: Vec<f64> = (0..1003).map(|_| rng.random_range(-30.0..30.0)).collect();
        let mut e = xs.clone();
        exp_in_place(&mut e);
        for (a, &x) in e.iter().zip(&xs) {
            assert_eq!(a.to_bits(), exp(x).to_bits());
        }
    }
}
