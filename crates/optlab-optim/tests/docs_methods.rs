//! Every TOML block of `docs/methods.md` is a valid hyperparameter map: it parses, builds in f32
//! and f64 through the registry, and steps a small model with embeddings, hidden matrices, a
//! conv kernel, biases, norm gains and an output head.

use optlab_optim::optim::registry::{self, HyperMap};
use optlab_optim::{Eval, OptimError, Optimizer, Param, Scalar};

fn toml_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let Some(end) = body.find("```") else { break };
        out.push(body[..end].to_string());
        rest = &body[end + 3..];
    }
    out
}

fn model<T: Scalar>() -> Vec<Param<T>> {
    let shapes: [(&str, &[usize]); 7] = [
        ("tok_embed.weight", &[10, 4]),
        ("blocks.0.attn.weight", &[4, 4]),
        ("blocks.0.attn.bias", &[4]),
        ("blocks.0.conv.weight", &[4, 2, 3, 1]),
        ("blocks.0.norm.weight", &[4]),
        ("head.weight", &[10, 4]),
        ("scale", &[]),
    ];
    shapes
        .iter()
        .map(|(name, shape)| {
            let mut p = Param::zeros(*name, shape.to_vec());
            for (i, (x, g)) in p.data.iter_mut().zip(p.grad.iter_mut()).enumerate() {
                *x = T::of(((i * 7 % 5) as f64 - 2.0) / 4.0);
                *g = T::of(((i * 3 % 7) as f64 - 3.0) / 3.0);
            }
            p
        })
        .collect()
}

fn check<T: Scalar>(map: &HyperMap, name: &str) {
    let mut opt: Box<dyn Optimizer<T>> =
        registry::build::<T>(name, map).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut ps = model::<T>();
    let before: Vec<Vec<T>> = ps.iter().map(|p| p.data.clone()).collect();
    // Methods that re-evaluate the objective get f = Σ ½ (x − x₀ + g₀)², whose gradient at the
    // start is the model's g₀.
    let targets: Vec<Vec<T>> = ps
        .iter()
        .map(|p| p.data.iter().zip(&p.grad).map(|(&x, &g)| x - g).collect())
        .collect();
    let mut closure = |ps: &mut [Param<T>], _: Eval| -> Result<f64, OptimError> {
        let mut f = 0.0;
        for (p, c) in ps.iter_mut().zip(&targets) {
            for ((g, &x), &c) in p.grad.iter_mut().zip(&p.data).zip(c) {
                *g = x - c;
                f += 0.5 * (x - c).as_f64().powi(2);
            }
        }
        Ok(f)
    };
    for _ in 0..2 {
        let r = if opt.requires_closure() {
            opt.step_with_closure(&mut ps, &mut closure)
                .map(|s| s.outcome)
        } else {
            opt.step(&mut ps)
        };
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (p, b) in ps.iter().zip(&before) {
        assert!(p.data != *b, "{name}: `{}` did not move", p.name);
        assert!(p.data.iter().all(|x| x.is_finite()), "{name}: `{}`", p.name);
    }
}

#[test]
fn every_toml_block_builds_and_steps() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/methods.md");
    let text = std::fs::read_to_string(path).expect("docs/methods.md is readable");
    let blocks = toml_blocks(&text);
    assert!(blocks.len() >= 4, "found {} TOML blocks", blocks.len());
    for block in blocks {
        let table: toml::Table = toml::from_str(&block).expect("block parses as TOML");
        let opt = table
            .get("optimizer")
            .and_then(toml::Value::as_table)
            .expect("an [optimizer] table");
        let mut map: HyperMap = match serde_json::to_value(opt).expect("TOML converts to JSON") {
            serde_json::Value::Object(m) => m,
            other => panic!("not a table: {other}"),
        };
        let name = match map.remove("name") {
            Some(serde_json::Value::String(s)) => s,
            other => panic!("`name` must be a string, got {other:?}"),
        };
        check::<f32>(&map, &name);
        check::<f64>(&map, &name);
    }
}
