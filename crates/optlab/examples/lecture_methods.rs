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
    for log_every in [10u64, 10_000] {
        let set = [("log_every".to_string(), log_every.to_string())];
        let full = ExperimentSpec::from_toml(LECTURE_EXPERIMENT, &set)?;
        let problem = full.problem.build::<f64>()?;
        for method in &full.methods {
            // the experiment with this one method
            let spec = ExperimentSpec {
                methods: vec![method.clone()],
                ..full.clone()
            };
            let mut best = f64::INFINITY;
            for _ in 0..RUNS {
                let t = Instant::now();
                let out = runner::run(&spec, problem.as_ref(), &|_, _| {})?;
                std::hint::black_box(out.records.rows.len());
                best = best.min(t.elapsed().as_secs_f64());
            }
            let name = method.name.as_deref().unwrap_or(&method.optimizer);
            println!("log_every {log_every}, {name}: {:.1} ms", best * 1e3);
        }
    }
    Ok(())
}
