//! Seeded parameter initialization: Kaiming/He, Xavier/Glorot and plain N(0, σ²).
//!
//! Every model applies [`initialize`] after building its layers, so the initial weights depend
//! only on the seed (not on burn's global RNG, the backend or the number of threads): parameter
//! number i (in module order) draws from [`rng::stream`](crate::rng::stream)`(seed, Init, i)`.
//!
//! Which rule a parameter gets is decided by its name and shape:
//!
//! | parameter | rule |
//! |---|---|
//! | `*bias`, `*beta` (norm shift) | 0 |
//! | `*gamma` (norm gain) | 1 |
//! | name containing `embed` | N(0, σ²) with σ = `init_std` |
//! | any other weight | the model's [`InitScheme`] |
//!
//! Parameters are seen as the [bridge](crate::bridge) presents them, in PyTorch's layouts, and
//! fans follow PyTorch's `_calculate_fan_in_and_fan_out`: a `Linear` weight `[d_out, d_in]` has
//! fan_in = d_in, fan_out = d_out; a conv kernel `[c_out, c_in, k_h, k_w]` has
//! fan_in = c_in·k_h·k_w, fan_out = c_out·k_h·k_w.
//!
//! - Kaiming normal (He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015), fan-in
//!   mode, gain √2 (PyTorch `kaiming_normal_` with its defaults): σ = √2 / √fan_in.
//! - Xavier normal / uniform (Glorot & Bengio, "Understanding the difficulty of training deep
//!   feedforward neural networks", AISTATS 2010): σ = √(2 / (fan_in + fan_out)), or
//!   U(−a, a) with a = √(6 / (fan_in + fan_out)).
//! - LeCun normal (LeCun, Bottou, Orr & Müller, "Efficient BackProp", 1998): σ = 1 / √fan_in,
//!   the lecture's "Xavier" √(1/fan_in) (Glorot & Bengio's forward condition n·Var(w) = 1).
//! - Normal: N(0, σ²) with σ = `init_std` (GPT-2/nanoGPT use 0.02).

use burn::module::Module;
use burn::tensor::backend::Backend;
use optlab::{Param, ParamFilter};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::bridge::{read_params, write_params};
use crate::error::NnError;
use crate::rng::Purpose;

/// How weight matrices and kernels are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// N(0, 2/fan_in) (default).
    #[default]
    KaimingNormal,
    /// N(0, 2/(fan_in + fan_out)).
    XavierNormal,
    /// N(0, 1/fan_in): the variance-preserving rule for linear units (LeCun et al. 1998;
    /// JAX `lecun_normal`, PyTorch `kaiming_normal_(nonlinearity="linear")`) — what the lecture
    /// calls "Xavier", √(1/fan_in); equal to `xavier_normal` for square layers.
    LecunNormal,
    /// U(−a, a), a = √(6/(fan_in + fan_out)).
    XavierUniform,
    /// N(0, σ²) with σ = `init_std`.
    Normal,
}

/// `(fan_in, fan_out)` of a weight of this shape in PyTorch's layout `[out, in, kernel...]`.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [out, inp, kernel @ ..] => {
            let k: usize = kernel.iter().product();
            (inp * k, out * k)
        }
    }
}

/// Initializes every parameter of `model` from `seed`: biases 0, norm gains 1, embeddings
/// N(0, `std`²), other weights by `scheme` (with `std` for [`InitScheme::Normal`]). Weights
/// matching a filter of `rescale` are multiplied by its factor afterwards (e.g. GPT-2's
/// 1/√(2·n_layer) on residual projections).
pub fn initialize<B: Backend, M: Module<B>>(
    model: M,
    scheme: InitScheme,
    std: f64,
    seed: u64,
    rescale: &[(ParamFilter, f64)],
) -> Result<M, NnError> {
    if !(std.is_finite() && std > 0.0) {
        return Err(NnError::config("model.init_std", std, "finite and > 0"));
    }
    let mut params = read_params(&model)?;
    for (i, p) in params.iter_mut().enumerate() {
        let mut rng = crate::rng::stream(seed, Purpose::Init, i as u64);
        fill(p, scheme, std, &mut rng)?;
        if let Some((_, factor)) = rescale.iter().find(|(f, _)| f.matches_param(p)) {
            let c = *factor as f32;
            p.data.iter_mut().for_each(|x| *x = *x * c);
        }
    }
    write_params(model, &params, None)
}

fn fill(
    p: &mut Param<f32>,
    scheme: InitScheme,
    std: f64,
    rng: &mut ChaCha8Rng,
) -> Result<(), NnError> {
    let leaf = p.name.rsplit('.').next().unwrap_or(&p.name);
    if leaf == "bias" || leaf == "beta" {
        p.data.iter_mut().for_each(|x| *x = 0.0);
        return Ok(());
    }
    if leaf == "gamma" {
        p.data.iter_mut().for_each(|x| *x = 1.0);
        return Ok(());
    }
    let (fan_in, fan_out) = fans(&p.shape);
    let (fan_in, fan_out) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
    let sigma = if p.name.contains("embed") {
        std
    } else {
        match scheme {
            InitScheme::KaimingNormal => (2.0 / fan_in).sqrt(),
            InitScheme::XavierNormal => (2.0 / (fan_in + fan_out)).sqrt(),
            InitScheme::LecunNormal => (1.0 / fan_in).sqrt(),
            InitScheme::Normal => std,
            InitScheme::XavierUniform => {
                let a = (6.0 / (fan_in + fan_out)).sqrt();
                p.data
                    .iter_mut()
                    .for_each(|x| *x = rng.random_range(-a..a) as f32);
                return Ok(());
            }
        }
    };
    let normal = Normal::new(0.0, sigma).map_err(|e| {
        NnError::config(
            format!("init of `{}`", p.name),
            sigma,
            format!("a valid σ ({e})"),
        )
    })?;
    p.data
        .iter_mut()
        .for_each(|x| *x = normal.sample(rng) as f32);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fans_follow_pytorch_layouts() {
        assert_eq!(
            fans(&[512, 784]),
            (784, 512),
            "Linear(784, 512) as [out, in]"
        );
        assert_eq!(fans(&[16, 6, 5, 5]), (150, 400));
        assert_eq!(fans(&[10]), (10, 10));
    }

    #[test]
    fn kaiming_variance_matches_fan_in() {
        let mut p = Param::<f32>::zeros("fc.weight", [300, 400]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        fill(&mut p, InitScheme::KaimingNormal, 0.02, &mut rng).unwrap();
        let var: f64 = p.data.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / 120_000.0;
        assert!((var - 2.0 / 400.0).abs() < 0.03 * 2.0 / 400.0, "{var}");
        let mut b = Param::<f32>::vector("fc.bias", vec![1.0; 4]);
        fill(&mut b, InitScheme::KaimingNormal, 0.02, &mut rng).unwrap();
        assert!(b.data.iter().all(|&x| x == 0.0));
        let mut e = Param::<f32>::zeros("tok_embed.weight", [100, 100]);
        fill(&mut e, InitScheme::XavierUniform, 0.5, &mut rng).unwrap();
        let var: f64 = e.data.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / 1e4;
        assert!((var - 0.25).abs() < 0.02, "{var}");
    }
}
