//! Fused kernels for the models, each one pass forward and one pass backward: GELU (exact, or
//! PyTorch's `approximate = "tanh"`), layer normalization, causal multi-head self-attention read
//! straight from a fused `qkv` projection, and the mean cross-entropy of logits against class
//! targets.
//!
//! Under autodiff, burn 0.21 evaluates these as chains of separate operations, each with its own
//! output tensor and backward node: attention as transpose, matmul, scale, mask, max, subtract,
//! exp, sum, divide, matmul (plus strided copies for the head transposes), layer norm and
//! log-softmax likewise; flex's GELU is one pass but calls scalar libm `erf` per element.
//!
//! Here, on burn's flex CPU backend (`Autodiff<Flex>` when training, `Flex` when evaluating), each
//! function is one operation whose kernels read and write the tensors' host storage directly:
//! elementwise loops compiled for the CPU's vector units through pulp's run-time dispatch
//! (AVX2 + FMA, AVX-512), products through faer, batches in parallel on rayon. On any other
//! backend (CUDA) they fall back to burn's own operations, with the same results up to rounding.
//!
//! Shapes: activations are `[rows, features]` matrices (a batch of sequences flattened to
//! `rows = batch · time`), row-major.

use std::any::Any;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::ops::{AttentionModuleOptions, FloatTensor};
use burn::tensor::{DType, Tensor, TensorData, TensorMetadata, TensorPrimitive};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use optlab::vectorized;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

type AdFlex = Autodiff<Flex>;

/// Elements per parallel work item of the elementwise kernels.
const CHUNK: usize = 1 << 14;

// ---------------------------------------------------------------------------------------------
// Routing: which implementation a tensor of backend `B` takes.

/// `x` as a `T` when `S` is `T` (a safe downcast of a generic value).
fn cast<S: 'static, T: 'static>(x: S) -> Result<T, S> {
    let mut slot = Some(x);
    if let Some(t) = (&mut slot as &mut dyn Any).downcast_mut::<Option<T>>()
        && let Some(t) = t.take()
    {
        return Ok(t);
    }
    match slot {
        Some(x) => Err(x),
        None => unreachable!("the value is taken only when the downcast succeeds"),
    }
}

/// A primitive of the backend the kernels were routed from (the inverse of [`route`]).
fn back<B: Backend, T: 'static>(t: T) -> FloatTensor<B> {
    match cast::<T, FloatTensor<B>>(t) {
        Ok(t) => t,
        Err(_) => unreachable!("route() only takes the fused path for B's own primitive"),
    }
}

/// Where a float primitive of backend `B` is computed.
enum Route<B: Backend> {
    /// Training on flex: the fused autodiff operation.
    Train(FloatTensor<AdFlex>),
    /// Evaluation on flex: the forward kernel.
    Eval(FlexTensor),
    /// Any other backend or dtype: burn's operations.
    Other(FloatTensor<B>),
}

fn route<B: Backend>(p: FloatTensor<B>) -> Route<B> {
    if p.dtype() != DType::F32 {
        return Route::Other(p);
    }
    match cast::<_, FloatTensor<AdFlex>>(p) {
        Ok(t) => Route::Train(t),
        Err(p) => match cast::<_, FlexTensor>(p) {
            Ok(t) => Route::Eval(t),
            Err(p) => Route::Other(p),
        },
    }
}

fn primitive<B: Backend, const D: usize>(x: Tensor<B, D>) -> FloatTensor<B> {
    x.into_primitive().tensor()
}

fn tensor<B: Backend, const D: usize>(p: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

/// The values of a flex f32 tensor, row-major (a contiguous copy when it is strided).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().map_or_else(
            || t.clone().into_data().to_vec::<f32>().unwrap_or_default(),
            <[f32]>::to_vec,
        )),
    }
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Runs `f` over `out` with `a` and `b` (all of the same length) split alike, in chunks on rayon
/// for long tensors. `f` is a [`vectorized!`] function, compiled for the CPU's vector units.
fn map_chunks(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    f: impl for<'x> Fn(&'x mut [f32], &'x [f32], &'x [f32]) + Sync,
) {
    if out.len() < 4 * CHUNK {
        f(out, a, b);
    } else {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(o, (a, b))| f(o, a, b));
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar math written so that loops over it vectorize (no libm calls, no branches).

/// eˣ (Cephes' `expf`: range reduction x = n ln 2 + r, a degree-6 polynomial on |r| ≤ ln2/2,
/// 2ⁿ through the exponent bits); relative error ≈ 1e-7; inputs clamped to [−87.3, 88.4].
#[inline(always)]
fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer
    let x = x.clamp(-87.336_55, 88.376_26);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = (x - n * 0.693_359_4) - n * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * r * r + r + 1.0;
    let n = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    y * f32::from_bits(((n + 127) as u32) << 23)
}

/// The standard normal distribution function Φ(x) = ½ erfc(−x/√2), with erfc from Numerical
/// Recipes' Chebyshev fit (`erfcc`: relative error < 1.2e-7 on the whole line), so that the
/// negative tail keeps its relative accuracy.
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204
                                + t * (1.488_515_9 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    // e^{poly − z²}, with z² = x²/2 = hi + lo split exactly (FMA; from x, not from the rounded
    // z) and poly − hi = s + err exactly (Knuth's TwoSum), so that no rounding of the exponent
    // (≈ 3e-6 relative at z ≈ 5, growing with z²) reaches the tail:
    // e^{poly − z²} = e^s · e^{err − lo} ≈ e^s (1 + err − lo).
    let xx = x * x;
    let hi = 0.5 * xx;
    let lo = 0.5 * x.mul_add(x, -xx);
    let s = poly - hi;
    let b = s - poly;
    let err = (poly - (s - b)) + (-hi - b);
    let half_erfc = 0.5 * t * exp(s) * (1.0 + (err - lo)); // ½ erfc(|x|/√2) = Φ(−|x|)
    if x < 0.0 { half_erfc } else { 1.0 - half_erfc }
}

/// φ(x) = e^{−x²/2}/√(2π).
#[inline(always)]
fn normal_pdf(x: f32) -> f32 {
    0.398_942_3 * exp(-0.5 * x * x)
}

/// tanh u = sign(u)(1 − e^{−2|u|})/(1 + e^{−2|u|}).
#[inline(always)]
fn tanh(u: f32) -> f32 {
    let e = exp(-2.0 * u.abs());
    let t = (1.0 - e) / (1.0 + e);
    if u < 0.0 { -t } else { t }
}

// ---------------------------------------------------------------------------------------------
// GELU

/// Which GELU, as PyTorch's `nn.GELU(approximate=...)` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approximate {
    /// GELU(x) = x Φ(x), Φ the standard normal distribution function (exact, erf form;
    /// default).
    #[default]
    None,
    /// GELU(x) ≈ ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (Hendrycks & Gimpel's approximation;
    /// GPT-2's).
    Tanh,
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_TANH_C: f32 = 0.044_715;

vectorized! {
    /// y = x Φ(x) (exact GELU).
    fn gelu_exact(y: &'a mut [f32], x: &'a [f32], _unused: &'a [f32]) -> () {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x * normal_cdf(x);
        }
    }
}

vectorized! {
    /// y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (PyTorch's `approximate = "tanh"`).
    fn gelu_tanh(y: &'a mut [f32], x: &'a [f32], _unused: &'a [f32]) -> () {
        for (y, &x) in y.iter_mut().zip(x) {
            let u = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
            *y = 0.5 * x * (1.0 + tanh(u));
        }
    }
}

vectorized! {
    /// dx = dy (Φ(x) + x φ(x)).
    fn gelu_exact_backward(dx: &'a mut [f32], x: &'a [f32], dy: &'a [f32]) -> () {
        for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
            *dx = g * (normal_cdf(x) + x * normal_pdf(x));
        }
    }
}

vectorized! {
    /// The derivative of [`gelu_tanh`] times dy.
    fn gelu_tanh_backward(dx: &'a mut [f32], x: &'a [f32], dy: &'a [f32]) -> () {
        for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
            let x2 = x * x;
            let th = tanh(SQRT_2_OVER_PI * (x + GELU_TANH_C * x2 * x));
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * x2);
            *dx = g * (0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du);
        }
    }
}

fn gelu_forward(x: &[f32], approximate: Approximate) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    match approximate {
        Approximate::None => map_chunks(&mut y, x, x, gelu_exact),
        Approximate::Tanh => map_chunks(&mut y, x, x, gelu_tanh),
    }
    y
}

fn gelu_backward(x: &[f32], dy: &[f32], approximate: Approximate) -> Vec<f32> {
    let mut dx = vec![0.0; x.len()];
    match approximate {
        Approximate::None => map_chunks(&mut dx, x, dy, gelu_exact_backward),
        Approximate::Tanh => map_chunks(&mut dx, x, dy, gelu_tanh_backward),
    }
    dx
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = (FlexTensor, Approximate);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = parent {
            let (x, approximate) = ops.state;
            let dx = gelu_backward(&values(&x), &values(&dy), approximate);
            grads.register::<Flex>(node.id, flex(dx, dims(&x)));
        }
    }
}

/// GELU, elementwise (PyTorch's `F.gelu(x, approximate=...)`).
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>, approximate: Approximate) -> Tensor<B, D> {
    let out = match route::<B>(primitive(x)) {
        Route::Train(x) => {
            let y = flex(
                gelu_forward(&values(&x.primitive), approximate),
                dims(&x.primitive),
            );
            let prep = GeluBackward
                .prepare::<NoCheckpointing>([x.node.clone()])
                .compute_bound()
                .stateful();
            back::<B, _>(match prep {
                OpsKind::Tracked(prep) => prep.finish((x.primitive, approximate), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            })
        }
        Route::Eval(x) => back::<B, _>(flex(gelu_forward(&values(&x), approximate), dims(&x))),
        Route::Other(x) => {
            let x = tensor::<B, D>(x);
            return match approximate {
                Approximate::None => burn::tensor::activation::gelu(x),
                Approximate::Tanh => burn::tensor::activation::gelu_approximate(x),
            };
        }
    };
    tensor(out)
}

// ---------------------------------------------------------------------------------------------
// Layer normalization

/// Per row of `x` (`rows × d`): x̂ = (x − μ)/√(σ² + ε) (σ² the biased variance), y = γ ∘ x̂ + β.
/// Returns y and, per row, (μ, 1/√(σ² + ε)).
fn layer_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<[f32; 2]>) {
    let d = gamma.len();
    let rows = x.len() / d.max(1);
    let mut y = vec![0.0; x.len()];
    let mut stats = vec![[0.0; 2]; rows];
    let per_row = |(y, (x, s)): (&mut [f32], (&[f32], &mut [f32; 2]))| {
        layer_norm_row(y, x, s, gamma, beta, eps);
    };
    y.par_chunks_mut(d)
        .zip(x.par_chunks(d).zip(stats.par_iter_mut()))
        .with_min_len(64)
        .for_each(per_row);
    (y, stats)
}

vectorized! {
    /// One row of [`layer_norm_forward`].
    fn layer_norm_row(
        y: &'a mut [f32],
        x: &'a [f32],
        s: &'a mut [f32; 2],
        gamma: &'a [f32],
        beta: &'a [f32],
        eps: f32,
    ) -> () {
        let d = gamma.len();
        let mean = x.iter().sum::<f32>() / d as f32;
        let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let rstd = 1.0 / (var + eps).sqrt();
        for (((y, &x), &g), &b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
            *y = (x - mean) * rstd * g + b;
        }
        *s = [mean, rstd];
    }
}

vectorized! {
    /// One row of dx in [`layer_norm_backward`].
    fn layer_norm_row_backward(
        dx: &'a mut [f32],
        x: &'a [f32],
        dy: &'a [f32],
        gamma: &'a [f32],
        mean: f32,
        rstd: f32,
    ) -> () {
        let d = gamma.len();
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for ((&x, &dy), &g) in x.iter().zip(dy).zip(gamma) {
            let gh = g * dy;
            s1 += gh;
            s2 += gh * (x - mean) * rstd;
        }
        let (m1, m2) = (s1 / d as f32, s2 / d as f32);
        for (((dx, &x), &dy), &g) in dx.iter_mut().zip(x).zip(dy).zip(gamma) {
            let xh = (x - mean) * rstd;
            *dx = rstd * (g * dy - m1 - xh * m2);
        }
    }
}

/// Gradients of [`layer_norm_forward`]: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ∘x̂)) with ĝ = γ∘dy,
/// dγ = Σ_rows dy∘x̂, dβ = Σ_rows dy.
fn layer_norm_backward(
    x: &[f32],
    gamma: &[f32],
    stats: &[[f32; 2]],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = gamma.len();
    let mut dx = vec![0.0; x.len()];
    dx.par_chunks_mut(d)
        .zip(x.par_chunks(d).zip(dy.par_chunks(d)).zip(stats.par_iter()))
        .with_min_len(64)
        .for_each(|(dx, ((x, dy), &[mean, rstd]))| {
            layer_norm_row_backward(dx, x, dy, gamma, mean, rstd);
        });
    // Column sums in a fixed order (row blocks in parallel, combined in block order).
    let rows = stats.len();
    let block = 64;
    let partial: Vec<Vec<f32>> = (0..rows.div_ceil(block))
        .into_par_iter()
        .map(|k| {
            let mut acc = vec![0.0f32; 2 * d];
            for r in k * block..((k + 1) * block).min(rows) {
                let [mean, rstd] = stats[r];
                let (x, dy) = (&x[r * d..(r + 1) * d], &dy[r * d..(r + 1) * d]);
                let (dg, db) = acc.split_at_mut(d);
                for j in 0..d {
                    dg[j] += dy[j] * (x[j] - mean) * rstd;
                    db[j] += dy[j];
                }
            }
            acc
        })
        .collect();
    let mut dgamma = vec![0.0; d];
    let mut dbeta = vec![0.0; d];
    for acc in &partial {
        for j in 0..d {
            dgamma[j] += acc[j];
            dbeta[j] += acc[d + j];
        }
    }
    (dx, dgamma, dbeta)
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = (FlexTensor, FlexTensor, std::sync::Arc<Vec<[f32; 2]>>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, gamma, stats) = ops.state;
        let (dx, dgamma, dbeta) =
            layer_norm_backward(&values(&x), &values(&gamma), &stats, &values(&dy));
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex(dx, dims(&x)));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex(dgamma, dims(&gamma)));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex(dbeta, dims(&gamma)));
        }
    }
}

/// Layer normalization over the last dimension of `x` (`[rows, d]`) with gain `gamma` and bias
/// `beta` (`[d]`): PyTorch's `F.layer_norm(x, (d,), gamma, beta, eps)`.
pub fn layer_norm<B: Backend>(
    x: Tensor<B, 2>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, 2> {
    let (gp, bp) = (primitive(gamma), primitive(beta));
    let out = match (route::<B>(primitive(x)), route::<B>(gp), route::<B>(bp)) {
        (Route::Train(x), Route::Train(g), Route::Train(b)) => {
            let (y, stats) = layer_norm_forward(
                &values(&x.primitive),
                &values(&g.primitive),
                &values(&b.primitive),
                eps as f32,
            );
            let y = flex(y, dims(&x.primitive));
            let nodes = [x.node.clone(), g.node.clone(), b.node.clone()];
            let prep = LayerNormBackward
                .prepare::<NoCheckpointing>(nodes)
                .compute_bound()
                .stateful();
            back::<B, _>(match prep {
                OpsKind::Tracked(prep) => {
                    prep.finish((x.primitive, g.primitive, std::sync::Arc::new(stats)), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(y),
            })
        }
        (Route::Eval(x), Route::Eval(g), Route::Eval(b)) => {
            let (y, _) = layer_norm_forward(&values(&x), &values(&g), &values(&b), eps as f32);
            back::<B, _>(flex(y, dims(&x)))
        }
        (x, g, b) => {
            let unroute = |r: Route<B>| match r {
                Route::Train(t) => back::<B, _>(t),
                Route::Eval(t) => back::<B, _>(t),
                Route::Other(t) => t,
            };
            let (x, g, b) = (
                tensor::<B, 2>(unroute(x)),
                tensor::<B, 1>(unroute(g)),
                tensor::<B, 1>(unroute(b)),
            );
            let mean = x.clone().mean_dim(1);
            let centered = x - mean;
            let var = centered.clone().powi_scalar(2).mean_dim(1);
            let xh = centered / (var + eps).sqrt();
            return xh * g.unsqueeze::<2>() + b.unsqueeze::<2>();
        }
    };
    tensor(out)
}

// ---------------------------------------------------------------------------------------------
// Causal self-attention

/// The shape of an attention call: `batch` sequences of `time` positions, `heads` heads of
/// `head_dim` features (`d = heads · head_dim`).
#[derive(Clone, Copy, Debug)]
struct AttnShape {
    batch: usize,
    time: usize,
    heads: usize,
    head_dim: usize,
}

impl AttnShape {
    fn d(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// A `nrows × ncols` row-major view with `row_stride` into `slice`. (faer 0.24.4's
/// `MatMut::from_row_major_slice_with_stride_mut` builds a *column*-major view — strides
/// swapped — after checking the bounds of the row-major one, so it writes out of bounds;
/// fixed upstream by sarah-quinones/faer-rs#267, not released. Its transposed column-major
/// constructor is correct.)
fn rows_mut(slice: &mut [f32], nrows: usize, ncols: usize, row_stride: usize) -> MatMut<'_, f32> {
    MatMut::from_column_major_slice_with_stride_mut(slice, ncols, nrows, row_stride).transpose_mut()
}

/// Forward: for every sequence b and head h, with Q, K, V the head's columns of `qkv`
/// (`[batch·time, 3d]`: q | k | v, heads side by side in each),
/// P = softmax_causal(Q Kᵀ/√head_dim), Y = P V, written into the head's columns of
/// `y` (`[batch·time, d]`). Returns y and P (`[batch, heads, time, time]`, zero above the
/// diagonal).
fn attention_forward(qkv: &[f32], s: AttnShape) -> (Vec<f32>, Vec<f32>) {
    let (t, d, dh) = (s.time, s.d(), s.head_dim);
    let scale = 1.0 / (dh as f32).sqrt();
    let mut y = vec![0.0; s.batch * t * d];
    let mut p = vec![0.0; s.batch * s.heads * t * t];
    y.par_chunks_mut(t * d)
        .zip(p.par_chunks_mut(s.heads * t * t))
        .zip(qkv.par_chunks(t * 3 * d))
        .for_each(|((y, p), qkv)| {
            for h in 0..s.heads {
                let q = MatRef::from_row_major_slice_with_stride(&qkv[h * dh..], t, dh, 3 * d);
                let k = MatRef::from_row_major_slice_with_stride(&qkv[d + h * dh..], t, dh, 3 * d);
                let v =
                    MatRef::from_row_major_slice_with_stride(&qkv[2 * d + h * dh..], t, dh, 3 * d);
                let ph = &mut p[h * t * t..(h + 1) * t * t];
                let scores = MatMut::from_row_major_slice_mut(ph, t, t);
                matmul(scores, Accum::Replace, q, k.transpose(), scale, Par::Seq);
                causal_softmax_rows(ph, t);
                let out = rows_mut(&mut y[h * dh..], t, dh, d);
                matmul(
                    out,
                    Accum::Replace,
                    MatRef::from_row_major_slice(ph, t, t),
                    v,
                    1.0,
                    Par::Seq,
                );
            }
        });
    (y, p)
}

vectorized! {
    /// Row i of the `t × t` scores: softmax over columns 0..=i, zero after.
    fn causal_softmax_rows(scores: &'a mut [f32], t: usize) -> () {
        for (i, row) in scores.chunks_exact_mut(t).enumerate() {
            let (live, masked) = row.split_at_mut(i + 1);
            let max = live.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0.0;
            for v in live.iter_mut() {
                *v = exp(*v - max);
                sum += *v;
            }
            let inv = 1.0 / sum;
            live.iter_mut().for_each(|v| *v *= inv);
            masked.iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

vectorized! {
    /// dS = P ∘ (dP − rowsum(P ∘ dP)) · scale, in place of dP (`ds`), rows of length `t`.
    fn softmax_rows_backward(ds: &'a mut [f32], p: &'a [f32], t: usize, scale: f32) -> () {
        for (dsr, pr) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)) {
            let dot: f32 = dsr.iter().zip(pr).map(|(a, b)| a * b).sum();
            for (g, &pv) in dsr.iter_mut().zip(pr) {
                *g = pv * (*g - dot) * scale;
            }
        }
    }
}

/// Backward of [`attention_forward`] given dY (`[batch·time, d]`): per sequence and head,
/// dV = Pᵀ dY, dP = dY Vᵀ, dS = P ∘ (dP − rowsum(P ∘ dP)) /√head_dim, dQ = dS K, dK = dSᵀ Q,
/// written into the head's columns of d(qkv).
fn attention_backward(qkv: &[f32], p: &[f32], dy: &[f32], s: AttnShape) -> Vec<f32> {
    let (t, d, dh) = (s.time, s.d(), s.head_dim);
    let scale = 1.0 / (dh as f32).sqrt();
    let mut dqkv = vec![0.0; qkv.len()];
    dqkv.par_chunks_mut(t * 3 * d)
        .zip(qkv.par_chunks(t * 3 * d))
        .zip(p.par_chunks(s.heads * t * t).zip(dy.par_chunks(t * d)))
        .for_each(|((dqkv, qkv), (p, dy))| {
            let mut ds = vec![0.0f32; t * t];
            for h in 0..s.heads {
                let ph = &p[h * t * t..(h + 1) * t * t];
                let pm = MatRef::from_row_major_slice(ph, t, t);
                let q = MatRef::from_row_major_slice_with_stride(&qkv[h * dh..], t, dh, 3 * d);
                let k = MatRef::from_row_major_slice_with_stride(&qkv[d + h * dh..], t, dh, 3 * d);
                let v =
                    MatRef::from_row_major_slice_with_stride(&qkv[2 * d + h * dh..], t, dh, 3 * d);
                let dyh = MatRef::from_row_major_slice_with_stride(&dy[h * dh..], t, dh, d);
                let dv = rows_mut(&mut dqkv[2 * d + h * dh..], t, dh, 3 * d);
                matmul(dv, Accum::Replace, pm.transpose(), dyh, 1.0, Par::Seq);
                let dp = MatMut::from_row_major_slice_mut(&mut ds, t, t);
                matmul(dp, Accum::Replace, dyh, v.transpose(), 1.0, Par::Seq);
                softmax_rows_backward(&mut ds, ph, t, scale);
                let dsm = MatRef::from_row_major_slice(&ds, t, t);
                let dq = rows_mut(&mut dqkv[h * dh..], t, dh, 3 * d);
                matmul(dq, Accum::Replace, dsm, k, 1.0, Par::Seq);
                let dk = rows_mut(&mut dqkv[d + h * dh..], t, dh, 3 * d);
                matmul(dk, Accum::Replace, dsm.transpose(), q, 1.0, Par::Seq);
            }
        });
    dqkv
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 1> for AttentionBackward {
    type State = (FlexTensor, std::sync::Arc<Vec<f32>>, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = parent {
            let (qkv, p, [batch, time, heads, head_dim]) = ops.state;
            let s = AttnShape {
                batch,
                time,
                heads,
                head_dim,
            };
            let dqkv = attention_backward(&values(&qkv), &p, &values(&dy), s);
            grads.register::<Flex>(node.id, flex(dqkv, dims(&qkv)));
        }
    }
}

/// Causal multi-head self-attention of `batch` sequences of `time` positions from their fused
/// projection `qkv` (`[batch·time, 3d]`, q | k | v, each with the `heads` heads side by side, as
/// nanoGPT's `c_attn` produces them): per head, softmax(q kᵀ/√(d/heads), causal) v, returned
/// with the heads side by side (`[batch·time, d]`), ready for the output projection. PyTorch:
/// `F.scaled_dot_product_attention(q, k, v, is_causal=True)` on the split, transposed heads,
/// transposed back. `d` must be a multiple of `heads`.
pub fn causal_self_attention<B: Backend>(
    qkv: Tensor<B, 2>,
    batch: usize,
    time: usize,
    heads: usize,
) -> Tensor<B, 2> {
    let [_, d3] = qkv.dims();
    let d = d3 / 3;
    let s = AttnShape {
        batch,
        time,
        heads,
        head_dim: d / heads.max(1),
    };
    let out_shape = vec![batch * time, d];
    let out = match route::<B>(primitive(qkv)) {
        Route::Train(x) => {
            let (y, p) = attention_forward(&values(&x.primitive), s);
            let y = flex(y, out_shape);
            let prep = AttentionBackward
                .prepare::<NoCheckpointing>([x.node.clone()])
                .compute_bound()
                .stateful();
            back::<B, _>(match prep {
                OpsKind::Tracked(prep) => prep.finish(
                    (
                        x.primitive,
                        std::sync::Arc::new(p),
                        [batch, time, heads, s.head_dim],
                    ),
                    y,
                ),
                OpsKind::UnTracked(prep) => prep.finish(y),
            })
        }
        Route::Eval(x) => back::<B, _>(flex(attention_forward(&values(&x), s).0, out_shape)),
        Route::Other(x) => {
            let qkv = tensor::<B, 2>(x).reshape([batch, time, 3 * d]);
            let heads_of =
                |z: Tensor<B, 3>| z.reshape([batch, time, heads, s.head_dim]).swap_dims(1, 2);
            let q = heads_of(qkv.clone().narrow(2, 0, d));
            let k = heads_of(qkv.clone().narrow(2, d, d));
            let v = heads_of(qkv.narrow(2, 2 * d, d));
            let options = AttentionModuleOptions {
                is_causal: true,
                ..Default::default()
            };
            let y = burn::tensor::module::attention(q, k, v, None, None, options);
            return y.swap_dims(1, 2).reshape([batch * time, d]);
        }
    };
    tensor(out)
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy

vectorized! {
    /// p = e^{z − max}; returns Σ p (summed in order).
    fn exp_shifted(p: &'a mut [f32], z: &'a [f32], max: f32) -> f32 {
        let mut sum = 0.0;
        for (p, &z) in p.iter_mut().zip(z) {
            *p = exp(z - max);
            sum += *p;
        }
        sum
    }
}

/// Per row: the loss and the probabilities softmax(z). The loss is −Σₖ qₖ log softmax(z)ₖ for
/// the label-smoothed target q = (1 − ε)·onehot(target) + ε/K (K = `classes`), i.e.
/// (1 − ε)(lse − z_target) + ε(lse − mean z); with ε = 0 it is lse − z_target. A target outside
/// `0..classes` gives a NaN loss.
fn cross_entropy_forward(
    logits: &[f32],
    targets: &[i64],
    classes: usize,
    smoothing: f64,
) -> (f64, Vec<f32>) {
    let mut probs = vec![0.0; logits.len()];
    let losses: Vec<f64> = probs
        .par_chunks_mut(classes)
        .zip(logits.par_chunks(classes).zip(targets.par_iter()))
        .with_min_len(32)
        .map(|(p, (z, &target))| {
            let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let sum = exp_shifted(p, z, max);
            let inv = 1.0 / sum;
            p.iter_mut().for_each(|p| *p *= inv);
            let lse = f64::from(max) + f64::from(sum).ln();
            let nll = match usize::try_from(target).ok().and_then(|t| z.get(t)) {
                Some(&zt) => lse - f64::from(zt),
                None => return f64::NAN,
            };
            if smoothing == 0.0 {
                return nll;
            }
            let mean = z.iter().map(|&v| f64::from(v)).sum::<f64>() / classes as f64;
            (1.0 - smoothing) * nll + smoothing * (lse - mean)
        })
        .collect();
    let n = targets.len().max(1) as f64;
    (losses.iter().sum::<f64>() / n, probs)
}

/// `v`, or 0 when it is subnormal (|v| < 2⁻¹²⁶ ≈ 1.18e-38): flush-to-zero for the logits'
/// gradient. A network that fits its training set drives the wrong classes' probabilities below
/// f32's normal range, and subnormal operands make every multiply of the backward matrix products
/// take a microcode assist: `optlab reproduce grokking` without weight decay ran 9× slower per step
/// (282 vs 31 ms; `perf`: 62 % in the gemm microkernel) once its training loss reached ~1e-8. The
/// change to the gradient is below 1.2e-38 per entry; PyTorch keeps the subnormals (unless
/// `torch.set_flush_denormal(True)`).
#[inline(always)]
fn flush_subnormal(v: f32) -> f32 {
    if v.abs() < f32::MIN_POSITIVE { 0.0 } else { v }
}

#[derive(Debug)]
struct CrossEntropyBackward;

impl Backward<Flex, 1> for CrossEntropyBackward {
    /// Probabilities, targets, `[rows, classes]`, label smoothing ε.
    type State = (
        std::sync::Arc<Vec<f32>>,
        std::sync::Arc<Vec<i64>>,
        [usize; 2],
        f32,
    );

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let dloss = grads.consume::<Flex>(&ops.node);
        if let Some(node) = parent {
            let (probs, targets, [rows, classes], smoothing) = ops.state;
            let g = values(&dloss).first().copied().unwrap_or(0.0) / rows.max(1) as f32;
            // ∂loss/∂z = g·(p − q), q = (1 − ε)·onehot(target) + ε/K
            let (off, on) = (g * smoothing / classes as f32, g * (1.0 - smoothing));
            let mut dz = vec![0.0; probs.len()];
            dz.par_chunks_mut(classes)
                .zip(probs.par_chunks(classes).zip(targets.par_iter()))
                .with_min_len(32)
                .for_each(|(dz, (p, &target))| {
                    if smoothing == 0.0 {
                        for (dz, &p) in dz.iter_mut().zip(p) {
                            *dz = flush_subnormal(g * p);
                        }
                    } else {
                        for (dz, &p) in dz.iter_mut().zip(p) {
                            *dz = flush_subnormal(g * p - off);
                        }
                    }
                    if let Some(dz) = usize::try_from(target).ok().and_then(|t| dz.get_mut(t)) {
                        *dz -= on;
                    }
                });
            grads.register::<Flex>(node.id, flex(dz, vec![rows, classes]));
        }
    }
}

/// Mean cross-entropy of `logits` (`[n, classes]`) against `targets` (length n), as a 1-element
/// tensor: −(1/n) Σᵢ log softmax(logitsᵢ)[targetᵢ] (PyTorch's `F.cross_entropy`). A target
/// outside `0..classes` makes the loss NaN.
pub fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: &[i64],
    device: &B::Device,
) -> Tensor<B, 1> {
    cross_entropy_smoothed(logits, targets, 0.0, device)
}

/// [`cross_entropy`] with label smoothing ε (`label_smoothing`, in [0, 1]; PyTorch's
/// `F.cross_entropy(..., label_smoothing=ε)`, Szegedy et al. 2016): the target of row i is
/// q = (1 − ε)·onehot(targetᵢ) + ε/K over the K classes, and the loss
/// −(1/n) Σᵢ Σₖ qₖ log softmax(logitsᵢ)ₖ. ε = 0 is [`cross_entropy`], bit for bit.
pub fn cross_entropy_smoothed<B: Backend>(
    logits: Tensor<B, 2>,
    targets: &[i64],
    label_smoothing: f64,
    device: &B::Device,
) -> Tensor<B, 1> {
    let [rows, classes] = logits.dims();
    let out = match route::<B>(primitive(logits)) {
        Route::Train(z) if rows == targets.len() => {
            let (loss, probs) =
                cross_entropy_forward(&values(&z.primitive), targets, classes, label_smoothing);
            let y = flex(vec![loss as f32], vec![1]);
            let prep = CrossEntropyBackward
                .prepare::<NoCheckpointing>([z.node.clone()])
                .compute_bound()
                .stateful();
            back::<B, _>(match prep {
                OpsKind::Tracked(prep) => prep.finish(
                    (
                        std::sync::Arc::new(probs),
                        std::sync::Arc::new(targets.to_vec()),
                        [rows, classes],
                        label_smoothing as f32,
                    ),
                    y,
                ),
                OpsKind::UnTracked(prep) => prep.finish(y),
            })
        }
        Route::Eval(z) if rows == targets.len() => {
            let (loss, _) = cross_entropy_forward(&values(&z), targets, classes, label_smoothing);
            back::<B, _>(flex(vec![loss as f32], vec![1]))
        }
        other => {
            let z = match other {
                Route::Train(t) => back::<B, _>(t),
                Route::Eval(t) => back::<B, _>(t),
                Route::Other(t) => t,
            };
            let t = super::int_tensor::<B, 2>(targets, [targets.len(), 1], device);
            let logp = burn::tensor::activation::log_softmax(tensor::<B, 2>(z), 1);
            let nll = logp.clone().gather(1, t).mean().neg();
            if label_smoothing == 0.0 {
                return nll;
            }
            let uniform = logp.mean().neg();
            return nll.mul_scalar(1.0 - label_smoothing) + uniform.mul_scalar(label_smoothing);
        }
    };
    tensor(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use burn::tensor::ElementConversion;

    #[test]
    fn logits_gradient_flushes_subnormals_only() {
        assert_eq!(flush_subnormal(1e-39), 0.0);
        assert_eq!(flush_subnormal(-1e-40), 0.0);
        assert_eq!(flush_subnormal(f32::MIN_POSITIVE), f32::MIN_POSITIVE);
        assert_eq!(flush_subnormal(-0.25), -0.25);
        assert_eq!(flush_subnormal(0.0), 0.0);
    }

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0.0f64;
        for i in -8000..=8000 {
            let x = i as f32 * 0.01;
            let e = f64::from(x).exp();
            worst = worst.max(((f64::from(exp(x)) - e) / e).abs());
        }
        assert!(worst < 3e-7, "{worst}");
    }

    /// Φ against the f64 reference ½ erfc(−x/√2): relative error ≤ 1e-6 in both tails, down to
    /// x = −12 (Φ ≈ 1.8e-33; below, f32 goes subnormal). PyTorch's f32
    /// `0.5·(1 + erf(x/√2))` cancels to nothing below x ≈ −5.5.
    #[test]
    fn normal_cdf_is_accurate() {
        let mut worst = (0.0f64, 0.0f32);
        for i in -1200..=800 {
            let x = i as f32 * 0.01;
            let r = 0.5 * libm_erfc(-f64::from(x) / std::f64::consts::SQRT_2);
            let e = ((f64::from(normal_cdf(x)) - r) / r).abs();
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(worst.0 < 1e-6, "{worst:?}");
    }

    fn libm_erfc(x: f64) -> f64 {
        // erfc via the complementary series of the f64 libm in std's absence: 1 − erf for
        // |x| < 0.5, continued fraction otherwise (Lentz), accurate to ~1e-14.
        if x.abs() < 0.5 {
            let mut sum = 0.0;
            let mut term = x;
            let mut n = 0;
            while term.abs() > 1e-17 {
                sum += term / (2 * n + 1) as f64;
                n += 1;
                term *= -x * x / n as f64;
            }
            1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum
        } else if x < 0.0 {
            2.0 - libm_erfc(-x)
        } else {
            // erfc(x) = e^{-x²}/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
            let mut f = x;
            for k in (1..200).rev() {
                f = x + (k as f64 / 2.0) / f;
            }
            (-x * x).exp() / std::f64::consts::PI.sqrt() / f
        }
    }

    fn seq(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.713).sin()).collect()
    }

    /// Attention by definition, in f64: per (b, h), S = Q Kᵀ/√dh masked above the diagonal,
    /// P = softmax rows, Y = P V.
    fn naive_attention(qkv: &[f32], s: AttnShape) -> Vec<f64> {
        let (t, d, dh) = (s.time, s.d(), s.head_dim);
        let mut y = vec![0.0; s.batch * t * d];
        for b in 0..s.batch {
            for h in 0..s.heads {
                let at = |i: usize, part: usize, e: usize| {
                    f64::from(qkv[(b * t + i) * 3 * d + part * d + h * dh + e])
                };
                for i in 0..t {
                    let scores: Vec<f64> = (0..=i)
                        .map(|j| {
                            (0..dh).map(|e| at(i, 0, e) * at(j, 1, e)).sum::<f64>()
                                / (dh as f64).sqrt()
                        })
                        .collect();
                    let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = scores.iter().map(|v| (v - m).exp()).sum();
                    for e in 0..dh {
                        y[(b * t + i) * d + h * dh + e] = (0..=i)
                            .map(|j| (scores[j] - m).exp() / z * at(j, 2, e))
                            .sum();
                    }
                }
            }
        }
        y
    }

    #[test]
    fn attention_forward_matches_the_definition() {
        for (batch, time, heads, head_dim) in [(1, 6, 2, 4), (3, 5, 2, 3), (2, 17, 4, 8)] {
            let s = AttnShape {
                batch,
                time,
                heads,
                head_dim,
            };
            let qkv = seq(batch * time * 3 * s.d(), 0.5);
            let (y, _) = attention_forward(&qkv, s);
            let r = naive_attention(&qkv, s);
            for (a, b) in y.iter().zip(&r) {
                assert!((f64::from(*a) - b).abs() < 1e-5, "{s:?}: {a} vs {b}");
            }
        }
    }

    /// The backward of attention against central differences of the f64 definition.
    #[test]
    fn attention_backward_matches_finite_differences() {
        let s = AttnShape {
            batch: 2,
            time: 4,
            heads: 2,
            head_dim: 3,
        };
        let qkv = seq(s.batch * s.time * 3 * s.d(), 1.5);
        let dy = seq(s.batch * s.time * s.d(), 7.0);
        let (_, p) = attention_forward(&qkv, s);
        let g = attention_backward(&qkv, &p, &dy, s);
        let loss = |x: &[f32]| -> f64 {
            naive_attention(x, s)
                .iter()
                .zip(&dy)
                .map(|(y, w)| y * f64::from(*w))
                .sum()
        };
        for k in 0..qkv.len() {
            let h = 1e-3f32;
            let (mut up, mut down) = (qkv.clone(), qkv.clone());
            up[k] += h;
            down[k] -= h;
            let fd = (loss(&up) - loss(&down)) / (2.0 * f64::from(h));
            assert!((fd - f64::from(g[k])).abs() < 2e-3, "{k}: {fd} vs {}", g[k]);
        }
    }

    #[test]
    fn layer_norm_matches_the_definition_and_its_gradient() {
        let (rows, d) = (5, 7);
        let x = seq(rows * d, 0.3);
        let gamma = seq(d, 4.0);
        let beta = seq(d, 9.0);
        let dy = seq(rows * d, 2.0);
        let (y, stats) = layer_norm_forward(&x, &gamma, &beta, 1e-5);
        let naive = |x: &[f32], gamma: &[f32], beta: &[f32]| -> Vec<f64> {
            x.chunks(d)
                .flat_map(|r| {
                    let m = r.iter().map(|&v| f64::from(v)).sum::<f64>() / d as f64;
                    let v = r.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / d as f64;
                    r.iter()
                        .zip(gamma)
                        .zip(beta)
                        .map(move |((&x, &g), &b)| {
                            (f64::from(x) - m) / (v + 1e-5).sqrt() * f64::from(g) + f64::from(b)
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        for (a, b) in y.iter().zip(naive(&x, &gamma, &beta)) {
            assert!((f64::from(*a) - b).abs() < 1e-5);
        }
        let (dx, dg, db) = layer_norm_backward(&x, &gamma, &stats, &dy);
        let loss = |x: &[f32], g: &[f32], b: &[f32]| -> f64 {
            naive(x, g, b)
                .iter()
                .zip(&dy)
                .map(|(y, w)| y * f64::from(*w))
                .sum()
        };
        let h = 1e-3f32;
        let fd = |v: &[f32], k: usize, f: &dyn Fn(&[f32]) -> f64| {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[k] += h;
            down[k] -= h;
            (f(&up) - f(&down)) / (2.0 * f64::from(h))
        };
        for (k, &dxk) in dx.iter().enumerate() {
            let e = fd(&x, k, &|x| loss(x, &gamma, &beta));
            assert!((e - f64::from(dxk)).abs() < 2e-3, "dx {k}: {e} vs {dxk}");
        }
        for k in 0..d {
            let e = fd(&gamma, k, &|g| loss(&x, g, &beta));
            assert!((e - f64::from(dg[k])).abs() < 2e-3, "dgamma {k}");
            let e = fd(&beta, k, &|b| loss(&x, &gamma, b));
            assert!((e - f64::from(db[k])).abs() < 2e-3, "dbeta {k}");
        }
    }

    #[test]
    fn gelu_gradients_match_finite_differences() {
        let x: Vec<f32> = (-600..600).map(|i| i as f32 * 0.01).collect();
        let ones = vec![1.0; x.len()];
        for approximate in [Approximate::None, Approximate::Tanh] {
            let dx = gelu_backward(&x, &ones, approximate);
            let f = |x: f64| match approximate {
                Approximate::None => x * 0.5 * libm_erfc(-x / std::f64::consts::SQRT_2),
                Approximate::Tanh => {
                    0.5 * x
                        * (1.0
                            + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3)))
                                .tanh())
                }
            };
            let y = gelu_forward(&x, approximate);
            for ((&x, &d), &y) in x.iter().zip(&dx).zip(&y) {
                let x = f64::from(x);
                assert!(
                    (f64::from(y) - f(x)).abs() < 1e-6 * (1.0 + x.abs()),
                    "{approximate:?} {x}"
                );
                let fd = (f(x + 1e-5) - f(x - 1e-5)) / 2e-5;
                assert!(
                    (fd - f64::from(d)).abs() < 1e-5,
                    "{approximate:?} {x}: {fd} vs {d}"
                );
            }
        }
    }

    #[test]
    fn cross_entropy_matches_the_definition() {
        let (rows, classes) = (6, 5);
        let z = seq(rows * classes, 3.0);
        let targets = [0i64, 4, 2, 2, 1, 3];
        let (loss, probs) = cross_entropy_forward(&z, &targets, classes, 0.0);
        let mut expected = 0.0;
        for (r, &t) in z.chunks(classes).zip(&targets) {
            let lse = r.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
            expected += lse - f64::from(r[t as usize]);
        }
        assert!((loss - expected / rows as f64).abs() < 1e-6);
        for r in probs.chunks(classes) {
            assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        let (bad, _) = cross_entropy_forward(&z, &[0, 9, 0, 0, 0, 0], classes, 0.0);
        assert!(bad.is_nan());
    }

    /// Through burn's autodiff (`Autodiff<Flex>`, as training runs them), the fused operations
    /// give the values and input gradients of burn's own decomposed operations.
    #[test]
    fn fused_ops_match_burn_operations_under_autodiff() {
        type A = AdFlex;
        let dev = Default::default();
        let input = |v: Vec<f32>, shape: [usize; 2]| {
            Tensor::<A, 2>::from_data(TensorData::new(v, shape), &dev).require_grad()
        };
        let close = |a: Tensor<Flex, 2>, b: Tensor<Flex, 2>, what: &str| {
            let (a, b) = (
                a.into_data().to_vec::<f32>().unwrap(),
                b.into_data().to_vec::<f32>().unwrap(),
            );
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 2e-5 * (1.0 + y.abs()), "{what}: {x} vs {y}");
            }
        };
        let (rows, d) = (12, 8);
        let w = Tensor::<A, 2>::from_data(TensorData::new(seq(rows * d, 5.0), [rows, d]), &dev);
        // GELU, both forms
        for approximate in [Approximate::None, Approximate::Tanh] {
            let (x1, x2) = (
                input(seq(rows * d, 1.0), [rows, d]),
                input(seq(rows * d, 1.0), [rows, d]),
            );
            let y1 = gelu(x1.clone(), approximate);
            let y2 = match approximate {
                Approximate::None => burn::tensor::activation::gelu(x2.clone()),
                Approximate::Tanh => burn::tensor::activation::gelu_approximate(x2.clone()),
            };
            close(y1.clone().inner(), y2.clone().inner(), "gelu");
            let (g1, g2) = (
                (y1 * w.clone()).sum().backward(),
                (y2 * w.clone()).sum().backward(),
            );
            close(x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap(), "gelu grad");
        }
        // layer norm
        let (x1, x2) = (
            input(seq(rows * d, 2.0), [rows, d]),
            input(seq(rows * d, 2.0), [rows, d]),
        );
        let gamma =
            Tensor::<A, 1>::from_data(TensorData::new(seq(d, 3.0), [d]), &dev).require_grad();
        let beta =
            Tensor::<A, 1>::from_data(TensorData::new(seq(d, 4.0), [d]), &dev).require_grad();
        let y1 = layer_norm(x1.clone(), gamma.clone(), beta.clone(), 1e-5);
        let mean = x2.clone().mean_dim(1);
        let c = x2.clone() - mean;
        let var = c.clone().powi_scalar(2).mean_dim(1);
        let y2 = c / (var + 1e-5).sqrt() * gamma.clone().unsqueeze::<2>()
            + beta.clone().unsqueeze::<2>();
        close(y1.clone().inner(), y2.clone().inner(), "layer norm");
        let (g1, g2) = (
            (y1 * w.clone()).sum().backward(),
            (y2 * w.clone()).sum().backward(),
        );
        close(
            x1.grad(&g1).unwrap(),
            x2.grad(&g2).unwrap(),
            "layer norm dx",
        );
        close(
            gamma.grad(&g1).unwrap().unsqueeze::<2>(),
            gamma.grad(&g2).unwrap().unsqueeze::<2>(),
            "layer norm dgamma",
        );
        // attention: 3 sequences of 4 positions, 2 heads of 4
        let (batch, time, heads) = (3, 4, 2);
        let (x1, x2) = (
            input(seq(rows * 3 * d, 6.0), [rows, 3 * d]),
            input(seq(rows * 3 * d, 6.0), [rows, 3 * d]),
        );
        let y1 = causal_self_attention(x1.clone(), batch, time, heads);
        let qkv = x2.clone().reshape([batch, time, 3 * d]);
        let split = |z: Tensor<A, 3>| z.reshape([batch, time, heads, d / heads]).swap_dims(1, 2);
        let options = AttentionModuleOptions {
            is_causal: true,
            ..Default::default()
        };
        let y2 = burn::tensor::module::attention(
            split(qkv.clone().narrow(2, 0, d)),
            split(qkv.clone().narrow(2, d, d)),
            split(qkv.narrow(2, 2 * d, d)),
            None,
            None,
            options,
        )
        .swap_dims(1, 2)
        .reshape([rows, d]);
        close(y1.clone().inner(), y2.clone().inner(), "attention");
        let (g1, g2) = (
            (y1 * w.clone()).sum().backward(),
            (y2 * w.clone()).sum().backward(),
        );
        close(
            x1.grad(&g1).unwrap(),
            x2.grad(&g2).unwrap(),
            "attention grad",
        );
        // cross-entropy
        let targets: Vec<i64> = (0..rows as i64).map(|i| (i * 5) % d as i64).collect();
        let (z1, z2) = (
            input(seq(rows * d, 8.0), [rows, d]),
            input(seq(rows * d, 8.0), [rows, d]),
        );
        let l1 = cross_entropy(z1.clone(), &targets, &dev);
        let t = super::super::int_tensor::<A, 2>(&targets, [rows, 1], &dev);
        let l2 = burn::tensor::activation::log_softmax(z2.clone(), 1)
            .gather(1, t)
            .mean()
            .neg();
        close(
            l1.clone().inner().unsqueeze::<2>(),
            l2.clone().inner().unsqueeze::<2>(),
            "cross-entropy",
        );
        let (g1, g2) = (l1.backward(), l2.backward());
        close(
            z1.grad(&g1).unwrap(),
            z2.grad(&g2).unwrap(),
            "cross-entropy grad",
        );
    }

    /// Label smoothing: the fused loss and its gradient against the definition written with
    /// burn's ops, −(1/n) Σᵢ Σₖ qₖ log softmax(zᵢ)ₖ with q = (1 − ε)·onehot + ε/K.
    #[test]
    fn label_smoothing_matches_the_definition() {
        type A = burn::backend::Autodiff<Flex>;
        let dev = Default::default();
        let (rows, k) = (37, 11);
        let z: Vec<f32> = (0..rows * k)
            .map(|i| ((i as f32) * 0.71).sin() * 3.0)
            .collect();
        let targets: Vec<i64> = (0..rows as i64).map(|i| (i * 7) % k as i64).collect();
        let input = || {
            Tensor::<A, 2>::from_data(TensorData::new(z.clone(), [rows, k]), &dev).require_grad()
        };
        for eps in [0.0, 0.1, 1.0] {
            let (z1, z2) = (input(), input());
            let l1 = cross_entropy_smoothed(z1.clone(), &targets, eps, &dev);
            let mut q = vec![eps as f32 / k as f32; rows * k];
            for (i, &t) in targets.iter().enumerate() {
                q[i * k + t as usize] += 1.0 - eps as f32;
            }
            let q = Tensor::<A, 2>::from_data(TensorData::new(q, [rows, k]), &dev);
            let l2 = (burn::tensor::activation::log_softmax(z2.clone(), 1) * q)
                .sum()
                .neg()
                .div_scalar(rows as f32);
            let (v1, v2): (f32, f32) = (
                l1.clone().into_scalar().elem(),
                l2.clone().into_scalar().elem(),
            );
            assert!(
                (v1 - v2).abs() <= 1e-5 * v2.abs(),
                "ε = {eps}: {v1} vs {v2}"
            );
            let (g1, g2) = (l1.backward(), l2.backward());
            let (d1, d2) = (
                z1.grad(&g1).unwrap().into_data().to_vec::<f32>().unwrap(),
                z2.grad(&g2).unwrap().into_data().to_vec::<f32>().unwrap(),
            );
            for (a, b) in d1.iter().zip(&d2) {
                assert!((a - b).abs() <= 1e-6, "ε = {eps}: gradient {a} vs {b}");
            }
        }
        // ε = 0 is the plain loss, bit for bit
        let plain: f32 = cross_entropy(input(), &targets, &dev).into_scalar().elem();
        let zero: f32 = cross_entropy_smoothed(input(), &targets, 0.0, &dev)
            .into_scalar()
            .elem();
        assert_eq!(plain.to_bits(), zero.to_bits());
    }

    #[test]
    fn tanh_is_accurate() {
        for i in -2000..=2000 {
            let u = i as f32 * 0.005;
            assert!(
                (f64::from(tanh(u)) - f64::from(u).tanh()).abs() < 3e-7,
                "{u}"
            );
        }
    }
}
