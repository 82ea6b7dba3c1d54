//! Time each method of the lecture experiment (`optlab bench problems --case lecture`) alone:
//! 10 seeds × 10⁴ iterations on the calling thread pool, once with the experiment's record every
//! 10 iterations and once with records only at the start and the end, so that the cost of the
//! steps and the cost of the records (a `loss_grad` pass each) can be told apart. Prints the
//! minimum over 5 runs, in milliseconds (docs/PERFORMANCE.md, "Problems"):
//!
//! ```sh
//! cargo build --release -p optlab --example lecture_methods
//! RAYON_NUM_THREADS=1 target/release/examples/lecture_methods
//! ```

use std::time::Instant;

use optlab::bench::problems::LECTURE_EXPERIMENT;
use optlab::runner::{self, ExperimentSpec};

const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut parts = LECTURE_EXPERIMENT.split("[[methods]]");
    let head = parts.next().unwrap_or_default();
    for (mi, method) in parts.enumerate() {
        let mut line = Vec::new();
        for log_every in [10, 10_000] {
            let head = head.replace("log_every = 10", &format!("log_every = {log_every}"));
            let spec = ExperimentSpec::from_toml(&format!("{head}[[methods]]{method}"), &[])?;
            let problem = spec.problem.build::<f64>()?;
            let mut best = f64::INFINITY;
            for _ in 0..RUNS {
                let t = Instant::now();
                let out = runner::run(&spec, problem.as_ref(), &|_, _| {})?;
                std::hint::black_box(out.records.rows.len());
                best = best.min(t.elapsed().as_secs_f64());
            }
            line.push(format!("log_every {log_every}: {:.1} ms", best * 1e3));
        }
        let name = spec_name(method);
        println!("{mi} {name}: {}", line.join(", "));
    }
    Ok(())
}

/// The `name = "…"` of a `[[methods]]` block.
fn spec_name(block: &str) -> &str {
    block
        .lines()
        .find_map(|l| l.trim().strip_prefix("name = "))
        .map_or("?", |n| n.trim_matches('"'))
}
