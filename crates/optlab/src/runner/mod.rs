//! The runner: problem × methods × seeds → [`Records`].
//!
//! A method is an optimizer from the [registry](crate::optim::registry) (or the `ArmijoGD`
//! shorthand), parsed once into a typed [`MethodOptimizer`] when the [`plan`] is made, with the
//! composition wrappers of its table around it (`clip_grad_norm`, `sam`, `armijo`, `averaging`:
//! [`Wrappers`](crate::optim::wrap::Wrappers)), a learning rate (a number or an [expression](expr)
//! such as `"1/L"`), a schedule ([`ScheduleSpec`], driving `opt.set_lrs(|base| s.lr(base, k))`
//! before step k) and an [oracle](crate::oracle) (batch size, replacement).
//!
//! Each step asks the oracle for a gradient at x and steps; a method that evaluates the objective
//! during its step (SAM's second gradient, the line search's trial values:
//! [`requires_closure`](crate::Optimizer::requires_closure)) steps through
//! [`step_with_closure`](crate::Optimizer::step_with_closure) with a closure on the step's
//! mini-batch: the first call draws the batch, later calls in the same step evaluate the same
//! batch. Every per-sample gradient and every per-sample function value a step asks for is
//! counted in `grad_evals`.
//!
//! Each (method, seed) pair is an independent run with its own random stream
//! [`run_rng`]`(seed, method index)`; runs execute in parallel on rayon's threads, longest
//! first from a shared queue, and their records are concatenated in (method, seed) order, so
//! everything but the `time_s` column is identical whatever the number of threads. Records are
//! logged at a fixed cadence (every k iterations, or log-spaced), always including the first
//! (k = 0, the start point) and the last iteration. A run
//! whose loss, iterate or gradient becomes NaN/±Inf stops and is reported as a [`Failure`]
//! (method, seed, step) instead of producing garbage. An [`Observer`] sees every record as it is
//! logged and may end a run; `[target] stop = true` ends a run at its first record reaching the
//! target.
//!
//! Metrics (the records' [`Schema`], declared in [`metric_schema`]): `loss` = f(x) and
//! `grad_norm` = ‖∇f(x)‖ always; `subopt` = f(x) − f* when f* is known; `dist_to_opt` = ‖x − x*‖
//! when x* is known; `loss_avg` and `subopt_avg` (f at the method's evaluation point
//! [`eval_params`](crate::Optimizer::eval_params): the averaged iterate) when some method
//! averages; `grad_moment` = (1/m) Σᵢ ‖∇fᵢ(x)‖² (+ d σ² with gradient noise), the second moment
//! of the single-sample stochastic gradient, when the experiment sets `grad_moment = true`.
//! Metric evaluations use the full objective and are not counted in `grad_evals` nor in
//! `time_s`.

pub mod expr;
pub mod report;
pub mod spec;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::Value;
use thiserror::Error;

use crate::error::OptimError;
use crate::experiment::{
    Control, ExperimentError, MethodOptimizer, Observer, Progress, Target, log_schedule,
};
use crate::optim::Eval;
use crate::oracle::{Oracle, Sampling, run_rng};
use crate::param::Param;
use crate::problem::{Constants, Problem, ProblemError};
use crate::record::{Column, Direction, Failure, Metric, Record, Records, Schema};
use crate::scalar::Scalar;
use crate::schedule::ScheduleSpec;
pub use report::{MethodReport, ProblemReport, RunSummary, summary, write_outputs};
pub use spec::{ExperimentSpec, LrValue, MethodSpec, Precision, ScheduleArg};

/// Everything that can stop an experiment before it runs.
#[derive(Debug, Error)]
pub enum RunError {
    /// An invalid experiment description; the message names the field.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// The problem could not be built.
    #[error(transparent)]
    Problem(#[from] ProblemError),
    /// A method's optimizer could not be built.
    #[error("methods[{index}] (`{method}`): {source}")]
    Optimizer {
        /// Position in `methods`.
        index: usize,
        /// Method name.
        method: String,
        /// The optimizer's error (boxed: it is large and this path is cold).
        source: Box<OptimError>,
    },
    /// The outputs could not be written.
    #[error(transparent)]
    Output(#[from] crate::experiment::OutputError),
}

impl From<crate::record::RecordError> for RunError {
    fn from(e: crate::record::RecordError) -> Self {
        RunError::Experiment(e.into())
    }
}

/// Why one run stopped early (reported as a [`Failure`] with this message; the records logged
/// before are kept).
#[derive(Debug, Error)]
pub enum StepError {
    /// The objective or its gradient at a logged iterate is NaN or ±Inf.
    #[error("non-finite f(x) = {loss} or ‖∇f(x)‖ = {grad_norm} after {step} steps")]
    NonFiniteMetric {
        /// Steps done.
        step: u64,
        /// f(x).
        loss: f64,
        /// ‖∇f(x)‖.
        grad_norm: f64,
    },
    /// A coordinate of the iterate became NaN or ±Inf.
    #[error("iterate became non-finite (x[{index}] = {value}) at step {step}")]
    NonFiniteIterate {
        /// The 1-based step that produced it.
        step: u64,
        /// The coordinate.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// The optimizer, its schedule or the parameter (setting up the run, stepping, or
    /// evaluating the averaged iterate), e.g. a line search without sufficient decrease.
    #[error(transparent)]
    Optimizer(#[from] OptimError),
}

/// A method ready to run: typed optimizer, resolved learning rate, schedule, sampling, budget
/// and log points.
#[derive(Clone, Debug)]
pub struct MethodPlan {
    /// Label in records.
    pub label: String,
    /// The optimizer and its wrappers, parsed and validated.
    pub optimizer: MethodOptimizer,
    /// The resolved base learning rate (`None`: the optimizer's default).
    pub lr: Option<f64>,
    /// The schedule, with its expressions evaluated.
    pub schedule: ScheduleSpec,
    /// Oracle sampling.
    pub sampling: Sampling,
    /// Iterations to run.
    pub iterations: u64,
    /// Iterations at which a record is logged (sorted, first 0, last `iterations`).
    pub log_at: Vec<u64>,
}

impl MethodPlan {
    /// The work of one run in sample gradients, to order runs longest first: a step costs its
    /// batch (m for the full gradient) plus [`STEP_COST`], a record the full pass of its
    /// `loss_grad` (m samples).
    fn work(&self, m: usize) -> u64 {
        let batch = match self.sampling {
            Sampling::Full => m,
            Sampling::WithReplacement(b) | Sampling::WithoutReplacement(b) => b,
        } as u64;
        // saturating: an ordering key, and `iterations` comes from the user's config
        let steps = self
            .iterations
            .saturating_mul(batch.saturating_add(STEP_COST));
        steps.saturating_add((self.log_at.len() as u64).saturating_mul(m as u64))
    }

    /// Whether the method is evaluated at its own point ([`eval_params`]: an average of the
    /// iterates, ASGD's `ax`, schedule-free's x), logged in `loss_avg` and `subopt_avg`.
    ///
    /// [`eval_params`]: crate::Optimizer::eval_params
    pub fn has_eval_point(&self) -> bool {
        !self.optimizer.wrappers.averaging.is_none() || self.optimizer.config.has_eval_point()
    }
}

/// A step's fixed cost (optimizer update, checks, sampling) in sample gradients, for
/// [`MethodPlan::work`]: callgrind of the lecture's logistic regression (n = 10, AVX2;
/// docs/PERFORMANCE.md, Problems): a full pass is about 37 instructions a sample, an SGD step
/// about 800 besides its gradient.
const STEP_COST: u64 = 20;

/// The constants an `lr` expression may use.
pub fn expr_vars(c: &Constants, m: usize, dim: usize) -> expr::Vars {
    expr::Vars {
        l: c.l_smooth,
        l_max: c.l_max,
        mu: c.mu,
        m: m as f64,
        d: dim as f64,
    }
}

/// Resolves every method of `spec` against a problem's constants: learning-rate and schedule
/// expressions are evaluated, each optimizer is parsed and validated once into its typed
/// configuration (every configuration error is found before anything runs); each run then
/// builds its own optimizer from that configuration without parsing again.
pub fn plan<T: Scalar>(
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
) -> Result<Vec<MethodPlan>, RunError> {
    let m = problem.num_samples();
    let vars = expr_vars(problem.constants(), m, problem.dim());
    let mut plans = Vec::with_capacity(spec.methods.len());
    for (i, ms) in spec.methods.iter().enumerate() {
        let label = ms.label();
        let cfg = |msg: String| {
            RunError::from(ExperimentError::message(format!(
                "methods[{i}] (`{label}`): {msg}"
            )))
        };
        let lr = match &ms.lr {
            None => None,
            Some(LrValue::Number(v)) => Some(*v),
            Some(LrValue::Expr(e)) => {
                Some(expr::eval(e, &vars).map_err(|msg| cfg(format!("lr = \"{e}\": {msg}")))?)
            }
        };
        if let Some(v) = lr
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(cfg(format!("lr = {v}: must be finite and ≥ 0")));
        }
        let schedule = match &ms.schedule {
            None => ScheduleSpec::Constant,
            Some(s) => s
                .resolve(&vars)
                .map_err(|msg| cfg(format!("schedule.{msg}")))?,
        };
        schedule
            .build()
            .map_err(|e| cfg(format!("schedule: {e}")))?;
        let mut hyper = ms.hyper.clone();
        if let Some(v) = lr {
            if hyper.contains_key("lr") {
                return Err(cfg(
                    "`lr` given both in the method and in `hyper`: keep one".into(),
                ));
            }
            hyper.insert("lr".into(), Value::from(v));
        }
        let optimizer_error = |source: OptimError| match source {
            OptimError::UnknownOptimizer { .. } => cfg(source.to_string()),
            source => RunError::Optimizer {
                index: i,
                method: label.clone(),
                source: Box::new(source),
            },
        };
        let optimizer =
            MethodOptimizer::parse(&ms.optimizer, &hyper, &ms.wrappers).map_err(optimizer_error)?;
        let sampling = Sampling::new(ms.batch_size, ms.replacement);
        let (it, ep) = if ms.iterations.is_some() || ms.epochs.is_some() {
            (ms.iterations, ms.epochs)
        } else {
            (spec.common.steps, spec.common.epochs)
        };
        let iterations = match (it, ep) {
            (Some(k), _) => k,
            (None, Some(e)) => {
                let per_epoch = match sampling {
                    Sampling::Full => 1.0,
                    Sampling::WithReplacement(b) => m as f64 / b as f64,
                    Sampling::WithoutReplacement(b) => m.div_ceil(b.clamp(1, m.max(1))) as f64,
                };
                ((e * per_epoch) - 1e-9).ceil().max(1.0) as u64
            }
            (None, None) => spec::DEFAULT_ITERATIONS,
        };
        plans.push(MethodPlan {
            label,
            optimizer,
            lr,
            schedule,
            sampling,
            iterations,
            log_at: log_schedule(iterations, spec.common.log_every, spec.common.log_points),
        });
    }
    Ok(plans)
}

/// The metric columns for a problem with these constants, declared with their labels and
/// directions (`grad_moment` last when asked for).
pub fn metric_schema(c: &Constants, averaging: bool, grad_moment: bool) -> Schema {
    let below = |name: &str, label: &str| Metric::new(name, label, Direction::Below);
    let mut s = vec![below("loss", "f(x)")];
    if c.f_star.is_some() {
        s.push(below("subopt", "f(x) − f*"));
    }
    s.push(below("grad_norm", "‖∇f(x)‖"));
    if c.x_star.is_some() {
        s.push(below("dist_to_opt", "‖x − x*‖"));
    }
    if averaging {
        s.push(below("loss_avg", "f(x̄)"));
        if c.f_star.is_some() {
            s.push(below("subopt_avg", "f(x̄) − f*"));
        }
    }
    if grad_moment {
        s.push(below("grad_moment", "E‖g‖² (single sample)"));
    }
    // The names above are distinct and none is a fixed column.
    Schema::new(s).unwrap_or_default()
}

/// The iterates of one run of a 1D or 2D problem (for trajectory plots; the second coordinate
/// is 0 for 1D problems).
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// Method.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// (x, y) points, at most about 2000, including the first and the last iterate.
    pub points: Vec<(f64, f64)>,
}

/// Every how many iterations a [`Trajectory`] keeps a point for a run of `iterations` steps:
/// point j is iterate min(j·stride, iterations), at most about 2000 points.
pub fn trajectory_stride(iterations: u64) -> u64 {
    (iterations / 2000).max(1)
}

/// What an experiment produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// All records, in (method, seed, iteration) order.
    pub records: Records,
    /// Runs that stopped early.
    pub failures: Vec<Failure>,
    /// Iterate paths (1D and 2D problems only).
    pub trajectories: Vec<Trajectory>,
    /// The resolved methods.
    pub plans: Vec<MethodPlan>,
    /// The resolved `[target]`.
    pub target: Option<Target>,
}

struct RunResult {
    records: Vec<Record>,
    failure: Option<Failure>,
    trajectory: Option<Trajectory>,
}

/// Runs every method of `spec` on `problem` for every seed. `progress(done, total)` is called
/// after each finished run (from worker threads).
pub fn run<T: Scalar>(
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<RunOutput, RunError> {
    run_observed(spec, problem, &Progress(progress))
}

/// [`run`] across the ranks of `comm` ([`run_distributed`]); `progress` counts this rank's runs.
pub fn run_across<T: Scalar>(
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
    progress: &(dyn Fn(usize, usize) + Sync),
    comm: &dyn crate::dist::Communicator,
) -> Result<RunOutput, RunError> {
    run_distributed(spec, problem, &Progress(progress), comm)
}

/// [`run`] with an [`Observer`] that sees every record as it is logged and may end a run.
pub fn run_observed<T: Scalar>(
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
    observer: &dyn Observer,
) -> Result<RunOutput, RunError> {
    run_distributed(spec, problem, observer, &crate::dist::SingleProcess)
}

/// [`run_observed`] across the ranks of `comm`: run `t` of the (method, seed) list (methods
/// outermost) is done by rank `t mod R` — the partition of `optlab algoperf run --shard` — and
/// every rank then receives every run's records, failures and trajectories (exchanged exactly,
/// as bits), so every rank returns the output one process would (the observer sees this rank's
/// runs only). Collective: every rank calls it with the same experiment.
pub fn run_distributed<T: Scalar>(
    spec: &ExperimentSpec,
    problem: &dyn Problem<T>,
    observer: &dyn Observer,
    comm: &dyn crate::dist::Communicator,
) -> Result<RunOutput, RunError> {
    let plans = plan(spec, problem)?;
    let averaging = plans.iter().any(MethodPlan::has_eval_point);
    let schema = metric_schema(problem.constants(), averaging, spec.grad_moment);
    let target = spec
        .common
        .target
        .as_ref()
        .map(|t| Target::resolve(t, &schema))
        .transpose()?;
    if let Some(m) = &spec.common.plot.metric {
        schema
            .column(m)
            .map_err(|e| ExperimentError::message(format!("invalid `plot.metric`: {e}")))?;
    }
    let tasks: Vec<(usize, u64)> = (0..plans.len())
        .flat_map(|mi| (0..spec.seeds()).map(move |s| (mi, spec.common.seed + s)))
        .collect();
    let total = tasks.len();
    let (rank, size) = (comm.rank(), comm.size().max(1));
    let mine: Vec<usize> = (0..total).filter(|t| t % size == rank).collect();
    let done = AtomicUsize::new(0);
    let ctx = Ctx {
        problem,
        schema: &schema,
        target: target.as_ref(),
        observer,
    };
    // Longest runs first, each thread taking the next one from a shared queue (Graham's LPT
    // schedule): the runs still going when a thread runs out of work are the short ones. Split
    // in the listed order, one thread could be left with the ten gradient-descent runs of the
    // lecture's experiment while the other idles. Each result carries its run's position and
    // they are put back in order: the output does not depend on which thread ran what.
    let m = problem.num_samples();
    let mut order: Vec<usize> = (0..mine.len()).collect();
    order.sort_by_key(|&p| std::cmp::Reverse(plans[tasks[mine[p]].0].work(m)));
    let next = AtomicUsize::new(0);
    let mut ran: Vec<(usize, RunResult)> = (0..rayon::current_num_threads().min(mine.len()))
        .into_par_iter()
        .with_max_len(1)
        .flat_map_iter(|_| {
            let mut mine_ran = Vec::new();
            while let Some(&p) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                let (mi, seed) = tasks[mine[p]];
                let r = run_one(&plans[mi], mi as u64, seed, &ctx);
                observer.progress(done.fetch_add(1, Ordering::Relaxed) + 1, mine.len());
                mine_ran.push((p, r));
            }
            mine_ran
        })
        .collect();
    ran.sort_unstable_by_key(|&(p, _)| p);
    let mut results: Vec<RunResult> = ran.into_iter().map(|(_, r)| r).collect();
    if size > 1 {
        results = exchange_results(comm, &results, total, schema.len())?;
    }
    let mut records = Records::new(schema.clone());
    let mut failures = Vec::new();
    let mut trajectories = Vec::new();
    for r in results {
        records.rows.extend(r.records);
        failures.extend(r.failure);
        trajectories.extend(r.trajectory);
    }
    Ok(RunOutput {
        records,
        failures,
        trajectories,
        plans,
        target,
    })
}

/// What every run of an experiment shares.
struct Ctx<'a, T: Scalar> {
    problem: &'a dyn Problem<T>,
    schema: &'a Schema,
    target: Option<&'a Target>,
    observer: &'a dyn Observer,
}

/// The metric columns a run writes (absent from the schema: `None`).
struct Cols {
    loss: Option<Column>,
    subopt: Option<Column>,
    grad_norm: Option<Column>,
    dist_to_opt: Option<Column>,
    loss_avg: Option<Column>,
    subopt_avg: Option<Column>,
    grad_moment: Option<Column>,
}

impl Cols {
    fn of(schema: &Schema) -> Self {
        let c = |name: &str| schema.column(name).ok();
        Cols {
            loss: c("loss"),
            subopt: c("subopt"),
            grad_norm: c("grad_norm"),
            dist_to_opt: c("dist_to_opt"),
            loss_avg: c("loss_avg"),
            subopt_avg: c("subopt_avg"),
            grad_moment: c("grad_moment"),
        }
    }
}

fn run_one<T: Scalar>(plan: &MethodPlan, stream: u64, seed: u64, ctx: &Ctx<'_, T>) -> RunResult {
    let problem = ctx.problem;
    let dim = problem.dim();
    let mut out = RunResult {
        records: Vec::with_capacity(plan.log_at.len()),
        failure: None,
        trajectory: None,
    };
    let fail = |step: u64, e: StepError| Failure {
        method: plan.label.clone(),
        seed,
        step,
        message: e.to_string(),
    };
    let mut params = match Param::new("x", problem.shape(), problem.x0()) {
        Ok(p) => vec![p],
        Err(e) => {
            out.failure = Some(fail(0, e.into()));
            return out;
        }
    };
    let mut opt = match plan.optimizer.build::<T>() {
        Ok(o) => o,
        Err(e) => {
            out.failure = Some(fail(0, e.into()));
            return out;
        }
    };
    let mut schedule = match plan.schedule.build() {
        Ok(s) => s,
        Err(e) => {
            out.failure = Some(fail(0, e.into()));
            return out;
        }
    };
    let mut oracle = Oracle::new(problem, plan.sampling, run_rng(seed, stream));
    let c = problem.constants();
    let cols = Cols::of(ctx.schema);
    let eval_point = plan.has_eval_point();
    let mut scratch = vec![T::zero(); dim];
    let mut eval_params = if eval_point {
        params.clone()
    } else {
        Vec::new()
    };
    let stride = trajectory_stride(plan.iterations);
    let mut path = Vec::new();
    let mut elapsed = Duration::ZERO;
    let mut segment: Option<Instant> = None;
    let mut next_log = 0usize;
    for k in 0..=plan.iterations {
        // a record at x_k leaves ∇f(x_k) in `scratch`: gradient descent's step from x_k is
        // taken with it rather than a second pass (10 % of GD's passes when logging every 10)
        let mut logged_grad = false;
        opt.set_lrs(&|b| schedule.lr(b, k));
        let x = &params[0].data;
        if dim <= 2 && (k % stride == 0 || k == plan.iterations) {
            let y = if dim == 2 { x[1].as_f64() } else { 0.0 };
            path.push((x[0].as_f64(), y));
        }
        if plan.log_at.get(next_log) == Some(&k) {
            next_log += 1;
            let loss = problem.loss_grad(x, &mut scratch).as_f64();
            logged_grad = true;
            let gnorm = crate::kernels::norm2(&scratch).as_f64();
            if !loss.is_finite() || !gnorm.is_finite() {
                out.failure = Some(fail(
                    k,
                    StepError::NonFiniteMetric {
                        step: k,
                        loss,
                        grad_norm: gnorm,
                    },
                ));
                break;
            }
            if k > 0 && schedule.is_metric_driven() {
                // ReduceLROnPlateau: PyTorch's scheduler.step(loss) after the k-th step, with
                // f(x_k) at each logged iteration; the steps from k on use its new lr
                schedule.observe(k, loss);
                opt.set_lrs(&|b| schedule.lr(b, k));
            }
            let mut rec = Record {
                method: plan.label.clone(),
                seed,
                iteration: k,
                epoch: oracle.epochs(),
                grad_evals: oracle.evals(),
                time_s: elapsed.as_secs_f64(),
                lr: opt.lr(),
                values: ctx.schema.empty_values(),
            };
            let mut put = |col: Option<Column>, v: f64| {
                if let Some(col) = col {
                    rec.set(col, v);
                }
            };
            put(cols.loss, loss);
            put(cols.grad_norm, gnorm);
            if let Some(fs) = c.f_star {
                put(cols.subopt, loss - fs);
            }
            if let Some(xs) = &c.x_star {
                let d: f64 = x
                    .iter()
                    .zip(xs)
                    .map(|(a, b)| (a.as_f64() - b).powi(2))
                    .sum::<f64>()
                    .sqrt();
                put(cols.dist_to_opt, d);
            }
            if eval_point {
                let at = match opt.eval_params(&params, &mut eval_params) {
                    Ok(true) => &eval_params[0].data,
                    Ok(false) => &params[0].data,
                    Err(e) => {
                        out.failure = Some(fail(k, e.into()));
                        break;
                    }
                };
                let la = problem.loss(at).as_f64();
                put(cols.loss_avg, la);
                if let Some(fs) = c.f_star {
                    put(cols.subopt_avg, la - fs);
                }
            }
            if let Some(col) = cols.grad_moment {
                rec.set(col, grad_moment(problem, &params[0].data, &mut scratch));
                logged_grad = false;
            }
            if ctx.observer.wants_iterates() {
                let xf: Vec<f64> = params[0].data.iter().map(|v| v.as_f64()).collect();
                ctx.observer.iterate(&rec, &xf);
            }
            let stop = ctx.observer.record(&rec) == Control::Stop
                || ctx.target.is_some_and(|t| t.stop && t.reached(&rec));
            out.records.push(rec);
            if stop {
                break;
            }
        }
        if k == plan.iterations {
            break;
        }
        // the clock runs over the steps between two records (reading it around every step
        // cost 8 % of the lecture experiment's time)
        let t0 = *segment.get_or_insert_with(Instant::now);
        let known = logged_grad.then_some(scratch.as_slice());
        let stepped = oracle_step_known(opt.as_mut(), &mut params, &mut oracle, known);
        if let Err(e) = stepped {
            out.failure = Some(fail(k + 1, e.into()));
            break;
        }
        if let Some((i, v)) = crate::kernels::first_non_finite(&params[0].data) {
            out.failure = Some(fail(
                k + 1,
                StepError::NonFiniteIterate {
                    step: k + 1,
                    index: i,
                    value: v.as_f64(),
                },
            ));
            break;
        }
        if plan.log_at.get(next_log) == Some(&(k + 1)) || k + 1 == plan.iterations {
            elapsed += t0.elapsed();
            segment = None;
        }
    }
    if dim <= 2 {
        out.trajectory = Some(Trajectory {
            method: plan.label.clone(),
            seed,
            points: path,
        });
    }
    out
}

/// One optimizer step on `params[0]` (a flat parameter vector) with the gradient of `oracle`'s
/// next batch; optimizers that evaluate again (PyTorch's `step(closure)`: L-BFGS, SAM, line
/// searches) get a closure whose later gradients are on the same batch
/// ([`Oracle::regradient`]).
///
/// # Errors
/// The optimizer's (invalid hyperparameters, a non-finite gradient under the error policy).
pub fn oracle_step<T: Scalar>(
    opt: &mut dyn crate::Optimizer<T>,
    params: &mut [Param<T>],
    oracle: &mut Oracle<'_, T>,
) -> Result<(), OptimError> {
    oracle_step_known(opt, params, oracle, None)
}

/// [`oracle_step`] from a point whose full gradient ∇f(x) the caller already has (`known`,
/// see [`Oracle::gradient_or_known`]; used by optimizers that take the gradient at the
/// parameters as they are, not by closure-driven ones); the step's result is the same bits.
///
/// # Errors
/// As [`oracle_step`].
pub fn oracle_step_known<T: Scalar>(
    opt: &mut dyn crate::Optimizer<T>,
    params: &mut [Param<T>],
    oracle: &mut Oracle<'_, T>,
    known: Option<&[T]>,
) -> Result<(), OptimError> {
    if opt.requires_closure() {
        let mut first = true;
        let mut closure = |ps: &mut [Param<T>], eval: Eval| -> Result<f64, OptimError> {
            let p = &mut ps[0];
            if eval == Eval::ValueAndGrad {
                if first {
                    // (a closure may be called at a point the optimizer moved to: no reuse)
                    oracle.gradient(&p.data, &mut p.grad);
                    first = false;
                } else {
                    oracle.regradient(&p.data, &mut p.grad);
                }
            }
            Ok(oracle.value(&p.data))
        };
        opt.step_with_closure(params, &mut closure).map(|_| ())
    } else {
        let p = &mut params[0];
        oracle.gradient_or_known(&p.data, known, &mut p.grad);
        opt.step(params).map(|_| ())
    }
}

/// E‖g‖² of the single-sample oracle at x: (1/m) Σᵢ ‖∇fᵢ(x)‖² + d σ² (σ: gradient noise).
fn grad_moment<T: Scalar>(problem: &dyn Problem<T>, x: &[T], scratch: &mut [T]) -> f64 {
    let m = problem.num_samples();
    let mut s = 0.0;
    for i in 0..m {
        problem.sample_grad(x, i, scratch);
        s += crate::kernels::norm2_sq(scratch).as_f64();
    }
    let sigma = problem.grad_noise();
    s / m.max(1) as f64 + problem.dim() as f64 * sigma * sigma
}

/// Every rank's run results, in task order (task `t` from rank `t mod R`).
fn exchange_results(
    comm: &dyn crate::dist::Communicator,
    mine: &[RunResult],
    total: usize,
    metrics: usize,
) -> Result<Vec<RunResult>, RunError> {
    use crate::dist::{Decoder, Encoder};
    let mut e = Encoder::default();
    e.u64(mine.len() as u64);
    for r in mine {
        e.u64(r.records.len() as u64);
        for rec in &r.records {
            e.str(&rec.method);
            e.u64(rec.seed);
            e.u64(rec.iteration);
            e.f64(rec.epoch);
            e.u64(rec.grad_evals);
            e.f64(rec.time_s);
            e.f64(rec.lr);
            e.f64s(rec.values.iter().copied());
        }
        match &r.failure {
            Some(f) => {
                e.u64(1);
                e.str(&f.method);
                e.u64(f.seed);
                e.u64(f.step);
                e.str(&f.message);
            }
            None => e.u64(0),
        }
        match &r.trajectory {
            Some(t) => {
                e.u64(1);
                e.str(&t.method);
                e.u64(t.seed);
                e.f64s(t.points.iter().map(|p| p.0));
                e.f64s(t.points.iter().map(|p| p.1));
            }
            None => e.u64(0),
        }
    }
    let all = comm.all_gather_bytes(&e.0);
    let size = all.len().max(1);
    let bad = |r: usize| ExperimentError::message(format!("rank {r} sent malformed run results"));
    let mut per_rank: Vec<std::vec::IntoIter<RunResult>> = Vec::with_capacity(size);
    for (r, bytes) in all.iter().enumerate() {
        let mut d = Decoder(bytes);
        let decode = |d: &mut Decoder<'_>| -> Option<Vec<RunResult>> {
            let n = d.len(8)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let nr = d.len(8)?;
                let mut records = Vec::with_capacity(nr);
                for _ in 0..nr {
                    let rec = Record {
                        method: d.str()?,
                        seed: d.u64()?,
                        iteration: d.u64()?,
                        epoch: d.f64()?,
                        grad_evals: d.u64()?,
                        time_s: d.f64()?,
                        lr: d.f64()?,
                        values: d.f64s()?,
                    };
                    if rec.values.len() != metrics {
                        return None;
                    }
                    records.push(rec);
                }
                let failure = match d.u64()? {
                    0 => None,
                    _ => Some(Failure {
                        method: d.str()?,
                        seed: d.u64()?,
                        step: d.u64()?,
                        message: d.str()?,
                    }),
                };
                let trajectory = match d.u64()? {
                    0 => None,
                    _ => {
                        let method = d.str()?;
                        let seed = d.u64()?;
                        let xs = d.f64s()?;
                        let ys = d.f64s()?;
                        Some(Trajectory {
                            method,
                            seed,
                            points: xs.into_iter().zip(ys).collect(),
                        })
                    }
                };
                out.push(RunResult {
                    records,
                    failure,
                    trajectory,
                });
            }
            d.is_empty().then_some(out)
        };
        let results = decode(&mut d).ok_or_else(|| bad(r))?;
        if results.len() != (0..total).filter(|t| t % size == r).count() {
            return Err(bad(r).into());
        }
        per_rank.push(results.into_iter());
    }
    let mut out = Vec::with_capacity(total);
    for t in 0..total {
        out.push(per_rank[t % size].next().ok_or_else(|| bad(t % size))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::ProblemSpec;

    const TOML: &str = r#"
name = "t"
seeds = 3
epochs = 5
log_every = 50

[problem]
kind = "logistic"
m = 60
n = 4

[[methods]]
name = "GD"
optimizer = "SGD"
lr = "1/L"

[[methods]]
name = "SGD"
optimizer = "SGD"
lr = "0.5/Lmax"
batch_size = 1
averaging = "step_weighted"

[[methods]]
name = "minibatch"
optimizer = "SGD"
lr = 0.1
batch_size = 8
replacement = false
hyper = { momentum = 0.5 }

[[methods]]
name = "Armijo"
optimizer = "ArmijoGD"
lr = "4/L"
"#;

    fn setup(text: &str, sets: &[(&str, &str)]) -> (ExperimentSpec, Box<dyn Problem<f64>>) {
        let sets: Vec<(String, String)> = sets
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let spec = ExperimentSpec::from_toml(text, &sets).unwrap();
        let p = spec.problem.build::<f64>().unwrap();
        (spec, p)
    }

    #[test]
    fn runs_all_methods_with_budgets_and_schema() {
        let (spec, p) = setup(TOML, &[]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        assert_eq!(
            out.records.schema.names().collect::<Vec<_>>(),
            [
                "loss",
                "subopt",
                "grad_norm",
                "dist_to_opt",
                "loss_avg",
                "subopt_avg"
            ]
        );
        let its: Vec<u64> = out.plans.iter().map(|p| p.iterations).collect();
        assert_eq!(its, vec![5, 300, 40, 5]);
        let s = out.records.summary("subopt").unwrap();
        assert_eq!(s.len(), 4);
        assert!(s.iter().all(|m| m.runs == 3));
        // GD with 1/L: monotone decrease; the averaged SGD iterate beats the start
        let gd = out
            .records
            .band("GD", "subopt", crate::record::XAxis::Iterations)
            .unwrap();
        assert!(
            gd.points
                .windows(2)
                .all(|w| w[1].stats.mean <= w[0].stats.mean)
        );
        let sgd_rows: Vec<&Record> = out
            .records
            .rows
            .iter()
            .filter(|r| r.method == "SGD")
            .collect();
        assert_eq!(sgd_rows.first().map(|r| r.iteration), Some(0));
        assert!(sgd_rows.iter().any(|r| r.iteration == 300));
        assert_eq!(sgd_rows.iter().filter(|r| r.seed == 0).count(), 7); // 0, 50, ..., 300
        let last = sgd_rows.last().unwrap();
        assert!((last.epoch - 5.0).abs() < 1e-12 && last.grad_evals == 300);
        let col = |n: &str| out.records.column(n).unwrap();
        assert!(last.get(col("subopt_avg")) < sgd_rows[0].get(col("subopt")));
        // Armijo charges function evaluations: more than one pass per iteration
        let arm = out
            .records
            .rows
            .iter()
            .rfind(|r| r.method == "Armijo")
            .unwrap();
        assert!(arm.grad_evals >= 5 * 60 * 3);
        let sum = summary(&spec, p.as_ref(), &out, "subopt").unwrap();
        assert_eq!(sum.problem.n, 60);
        let json = serde_json::to_value(&sum).unwrap();
        assert_eq!(json["methods"][1]["averaging"], "step_weighted");
        assert!(json["methods"][0].get("averaging").is_none());
        assert!(sum.methods[0].last.unwrap().mean >= 0.0);
    }

    #[test]
    fn closure_and_eval_point_methods_run_from_a_toml() {
        // L-BFGS steps through the runner's closure (full batch); schedule-free AdamW and ASGD
        // are recorded at their evaluation point in loss_avg/subopt_avg
        let text = r#"
name = "parity"
seeds = 2
iterations = 60
log_every = 10

[problem]
kind = "logistic"
m = 80
n = 5

[[methods]]
name = "lbfgs"
optimizer = "LBFGS"
lr = 1.0
hyper = { line_search_fn = "strong_wolfe" }

[[methods]]
name = "sf"
optimizer = "AdamWScheduleFree"
lr = 0.05

[[methods]]
name = "plain"
optimizer = "SGD"
lr = "1/L"

[[methods]]
name = "plateau"
optimizer = "SGD"
lr = "4/L"
schedule = { kind = "ReduceLROnPlateau", factor = 0.5, patience = 0, threshold = 0.5 }
"#;
        let (spec, p) = setup(text, &[]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        let col = |n: &str| out.records.column(n).unwrap();
        let last = |m: &str| {
            out.records
                .rows
                .iter()
                .rfind(|r| r.method == m)
                .unwrap()
                .clone()
        };
        let lbfgs = last("lbfgs");
        assert!(
            lbfgs.get(col("subopt")) < 1e-9,
            "{}",
            lbfgs.get(col("subopt"))
        );
        // each L-BFGS step evaluates f and ∇f at least once (charged as full passes)
        assert!(lbfgs.grad_evals >= 60 * 80);
        let sf = last("sf");
        let (train, eval) = (sf.get(col("subopt")), sf.get(col("subopt_avg")));
        assert!(
            eval.is_finite() && eval >= 0.0 && eval != train,
            "{train} {eval}"
        );
        let plan = |m: &str| out.plans.iter().find(|p| p.label == m).unwrap();
        assert!(plan("sf").has_eval_point() && !plan("plain").has_eval_point());
        assert!(last("plain").get(col("subopt_avg")).is_nan());
        // the plateau schedule sees f(x_k) at every logged step: a relative improvement below
        // 50 % halves the lr, so it falls below the base 4/L
        let lrs: Vec<f64> = out
            .records
            .rows
            .iter()
            .filter(|r| r.method == "plateau" && r.seed == spec.common.seed)
            .map(|r| r.lr)
            .collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "{lrs:?}");
        assert!(lrs.last().unwrap() < &(lrs[0] * 0.3), "{lrs:?}");
    }

    #[test]
    fn records_do_not_depend_on_the_thread_count() {
        let (spec, p) = setup(TOML, &[("seeds", "4")]);
        let go = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| run(&spec, p.as_ref(), &|_, _| {}).unwrap())
        };
        let (a, b) = (go(1), go(2));
        assert_eq!(a.records.rows.len(), b.records.rows.len());
        for (x, y) in a.records.rows.iter().zip(&b.records.rows) {
            assert_eq!(
                (&x.method, x.seed, x.iteration, x.grad_evals),
                (&y.method, y.seed, y.iteration, y.grad_evals)
            );
            assert_eq!(x.epoch.to_bits(), y.epoch.to_bits());
            assert_eq!(x.lr.to_bits(), y.lr.to_bits());
            let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x.values), bits(&y.values));
        }
    }

    #[test]
    fn grad_moment_is_the_mean_squared_sample_gradient() {
        let (spec, p) = setup(TOML, &[("grad_moment", "true"), ("seeds", "1")]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        let j = out.records.column("grad_moment").unwrap();
        assert_eq!(j.index() + 1, out.records.schema.len());
        // at x₀ = 0 every method logs the same value: (1/m) Σᵢ ‖∇fᵢ(0)‖²
        let x0 = vec![0.0; 4];
        let mut g = vec![0.0; 4];
        let m = p.num_samples();
        let direct = (0..m)
            .map(|i| {
                p.sample_grad(&x0, i, &mut g);
                g.iter().map(|v| v * v).sum::<f64>()
            })
            .sum::<f64>()
            / m as f64;
        let firsts: Vec<f64> = out
            .records
            .rows
            .iter()
            .filter(|r| r.iteration == 0)
            .map(|r| r.get(j))
            .collect();
        assert_eq!(firsts.len(), 4);
        assert!(firsts.iter().all(|v| (v - direct).abs() <= 1e-14 * direct));
        // E‖g‖² = ‖∇f‖² + Var ≥ ‖∇f‖² at every logged point
        let gn = out.records.column("grad_norm").unwrap();
        assert!(
            out.records
                .rows
                .iter()
                .all(|r| r.get(j) >= r.get(gn).powi(2) * (1.0 - 1e-12))
        );
    }

    #[test]
    fn one_dimensional_problems_have_trajectories() {
        let text = r#"
seeds = 1
iterations = 30
[problem]
kind = "least_squares"
m = 20
n = 1
[[methods]]
optimizer = "SGD"
lr = "1/L"
"#;
        let (spec, p) = setup(text, &[]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        let t = &out.trajectories[0];
        assert_eq!(t.points.len(), 31);
        assert!(t.points.iter().all(|&(_, y)| y == 0.0));
        let xs = p.constants().x_star.clone().unwrap();
        assert!((t.points[30].0 - xs[0]).abs() < 1e-10);
    }

    #[test]
    fn divergence_is_reported_not_recorded() {
        let text = r#"
seeds = 2
iterations = 400
[problem]
kind = "quadratic"
kappa = 10.0
[[methods]]
optimizer = "SGD"
lr = "30/L"
"#;
        let (spec, p) = setup(text, &[]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        assert_eq!(out.failures.len(), 2);
        let f = &out.failures[0];
        assert_eq!((f.method.as_str(), f.seed), ("SGD", 0));
        assert!(f.step > 100 && f.step <= 400, "{f:?}");
        let loss = out.records.column("loss").unwrap();
        assert!(out.records.rows.iter().all(|r| r.get(loss).is_finite()));
        assert_eq!(out.trajectories.len(), 2);
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = |text: &str, sets: &[(&str, &str)]| -> String {
            let sets: Vec<(String, String)> = sets
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            match ExperimentSpec::from_toml(text, &sets) {
                Err(e) => e.to_string(),
                Ok(spec) => {
                    let p = spec.problem.build::<f64>();
                    match p {
                        Err(e) => e.to_string(),
                        Ok(p) => run(&spec, p.as_ref(), &|_, _| {})
                            .err()
                            .map(|e| e.to_string())
                            .unwrap_or_default(),
                    }
                }
            }
        };
        let e = err("seedz = 3\n[[methods]]\noptimizer = \"SGD\"\n", &[]);
        assert!(
            e.contains("unknown field `seedz`") && e.contains("seeds"),
            "{e}"
        );
        let e = err(TOML, &[("methods.0.optimizer", "Adamz")]);
        assert!(
            e.contains("unknown optimizer `Adamz`")
                && e.contains("ArmijoGD")
                && e.contains("AdamW"),
            "{e}"
        );
        let e = err(TOML, &[("methods.0.lr", "\"1/Lx\"")]);
        assert!(
            e.contains("methods[0] (`GD`): lr = \"1/Lx\": unknown variable"),
            "{e}"
        );
        let e = err(TOML, &[("methods.3.sam", "{ rho = 0.1 }")]);
        assert!(e.contains("`sam` and `armijo`"), "{e}");
        let e = err(TOML, &[("methods.1.averagin", "\"uniform\"")]);
        assert!(
            e.contains("unknown field `averagin` in methods[1]") && e.contains("`averaging`"),
            "{e}"
        );
        let e = err(TOML, &[("methods.1.averaging", "\"polyak\"")]);
        assert!(e.contains("polyak") && e.contains("step_weighted"), "{e}");
        let e = err(TOML, &[("methods.0.sam", "{ rho = -1.0 }")]);
        assert!(e.contains("sam.rho"), "{e}");
        let e = err(
            TOML,
            &[("target", "{ metric = \"subopt_av\", threshold = 1e-3 }")],
        );
        assert!(
            e.contains("target.metric") && e.contains("subopt_av") && e.contains("subopt_avg"),
            "{e}"
        );
        let e = err(TOML, &[("problem.kind", "logistik")]);
        assert!(e.contains("logistik") && e.contains("least_squares"), "{e}");
        let e = err(TOML, &[("problem.mu", "-1")]);
        assert!(e.contains("`mu`"), "{e}");
        let e = err(TOML, &[("methods.2.hyper.momentun", "0.9")]);
        assert!(e.contains("momentun") && e.contains("momentum"), "{e}");
        let e = err(TOML, &[("methods.9.lr", "1")]);
        assert!(e.contains("4 elements"), "{e}");
        let e = err(&format!("iterations = 10\n{TOML}"), &[]);
        assert!(e.contains("only one of `iterations` and `epochs`"), "{e}");
        let e = err(TOML, &[("methods.1.name", "GD")]);
        assert!(e.contains("duplicate"), "{e}");
        let e = err(TOML, &[("methods.0.schedule", "{ kind = \"Nope\" }")]);
        assert!(e.contains("schedule") && e.contains("Nope"), "{e}");
    }

    #[test]
    fn overrides_and_schedule_expressions() {
        let (spec, p) = setup(
            TOML,
            &[
                ("seeds", "2"),
                ("methods.1.schedule", "{ kind = \"Constant\" }"),
                ("plot.x_axis", "iterations"),
                ("name", "renamed"),
            ],
        );
        assert_eq!(spec.seeds(), 2);
        assert_eq!(spec.common.name, "renamed");
        assert_eq!(
            spec.common.plot.x_axis,
            Some(crate::record::XAxis::Iterations)
        );
        let plans = plan(&spec, p.as_ref()).unwrap();
        let l = p.constants().l_smooth.unwrap();
        assert_eq!(plans[0].lr, Some(1.0 / l));
        assert!(matches!(spec.problem, ProblemSpec::Logistic(_)));
    }

    /// The wrappers from TOML, each against a hand-written loop on the same quadratic.
    #[test]
    fn wrappers_from_toml_match_their_definition() {
        let text = r#"
seeds = 1
iterations = 6
log_every = 1
[problem]
kind = "quadratic"
kappa = 4.0
[[methods]]
name = "clip"
optimizer = "SGD"
lr = 0.1
clip_grad_norm = 0.5
[[methods]]
name = "sam"
optimizer = "SGD"
lr = 0.1
sam = { rho = 0.05 }
[[methods]]
name = "ema"
optimizer = "SGD"
lr = 0.1
averaging = { kind = "ema", decay = 0.5 }
[[methods]]
name = "armijo"
optimizer = "SGD"
lr = 1.0
armijo = { c = 0.5, rho = 0.5 }
"#;
        let (spec, p) = setup(text, &[]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        let last = |m: &str| {
            out.trajectories
                .iter()
                .find(|t| t.method == m)
                .unwrap()
                .points[6]
        };
        // f = ½(x² + 4y²) from x0 = (2, 1)
        let grad = |x: [f64; 2]| [x[0], 4.0 * x[1]];
        let norm = |g: [f64; 2]| (g[0] * g[0] + g[1] * g[1]).sqrt();
        let f = |x: [f64; 2]| 0.5 * (x[0] * x[0] + 4.0 * x[1] * x[1]);
        let close = |a: (f64, f64), b: [f64; 2]| {
            assert!(
                (a.0 - b[0]).abs() < 1e-12 && (a.1 - b[1]).abs() < 1e-12,
                "{a:?} vs {b:?}"
            )
        };
        // clip
        let mut x = [2.0, 1.0];
        for _ in 0..6 {
            let g = grad(x);
            let c = (0.5 / (norm(g) + 1e-6)).min(1.0);
            x = [x[0] - 0.1 * c * g[0], x[1] - 0.1 * c * g[1]];
        }
        close(last("clip"), x);
        // sam
        let mut x = [2.0, 1.0];
        for _ in 0..6 {
            let g = grad(x);
            let s = 0.05 / (norm(g) + 1e-12);
            let g2 = grad([x[0] + s * g[0], x[1] + s * g[1]]);
            x = [x[0] - 0.1 * g2[0], x[1] - 0.1 * g2[1]];
        }
        close(last("sam"), x);
        // armijo: backtrack from 1 until f(x − t g) ≤ f(x) − ½ t ‖g‖²
        let mut x = [2.0, 1.0];
        for _ in 0..6 {
            let g = grad(x);
            let mut t = 1.0;
            while f([x[0] - t * g[0], x[1] - t * g[1]]) > f(x) - 0.5 * t * norm(g).powi(2) {
                t *= 0.5;
            }
            x = [x[0] - t * g[0], x[1] - t * g[1]];
        }
        close(last("armijo"), x);
        // ema of the iterates x_0..x_5 of plain GD with 0.1, evaluated in loss_avg
        let (mut x, mut avg) = ([2.0, 1.0], None::<[f64; 2]>);
        for _ in 0..6 {
            avg = Some(match avg {
                None => x,
                Some(a) => [0.5 * a[0] + 0.5 * x[0], 0.5 * a[1] + 0.5 * x[1]],
            });
            let g = grad(x);
            x = [x[0] - 0.1 * g[0], x[1] - 0.1 * g[1]];
        }
        let la = out.records.column("loss_avg").unwrap();
        let row = out
            .records
            .rows
            .iter()
            .rfind(|r| r.method == "ema")
            .unwrap();
        assert!((row.get(la) - f(avg.unwrap())).abs() < 1e-12);
        // SAM evaluates twice per step (gradient and value each), the line search more
        let evals = |m: &str| {
            out.records
                .rows
                .iter()
                .rfind(|r| r.method == m)
                .unwrap()
                .grad_evals
        };
        assert_eq!(evals("clip"), 6);
        assert_eq!(evals("sam"), 6 * 4);
        assert!(evals("armijo") >= 6 * 3);
    }

    #[test]
    fn a_stochastic_line_search_evaluates_one_batch_per_step() {
        let (spec, p) = setup(TOML, &[("methods.3.batch_size", "4"), ("seeds", "1")]);
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        let arm = out
            .records
            .rows
            .iter()
            .rfind(|r| r.method == "Armijo")
            .unwrap();
        // per step: the batch gradient, f on the batch, ≥ 1 trial value on the batch
        assert!(arm.grad_evals >= arm.iteration * 4 * 3, "{arm:?}");
        assert_eq!(arm.grad_evals % 4, 0);
    }

    #[test]
    fn targets_report_time_to_target_and_can_stop_runs() {
        let (spec, p) = setup(
            TOML,
            &[(
                "target",
                "{ metric = \"subopt\", threshold = 1e-2, stop = true }",
            )],
        );
        let out = run(&spec, p.as_ref(), &|_, _| {}).unwrap();
        let t = out.target.clone().unwrap();
        assert_eq!(
            t.direction,
            crate::record::Direction::Below,
            "declared by subopt"
        );
        let sum = summary(&spec, p.as_ref(), &out, "subopt").unwrap();
        let reports: Vec<_> = sum
            .methods
            .iter()
            .map(|m| m.target.clone().unwrap())
            .collect();
        assert!(reports.iter().all(|r| r.runs == 3));
        assert!(reports.iter().any(|r| r.reached > 0), "{reports:?}");
        // each run stopped at its first hit: its last row is the hit
        for (_, rows) in out.records.runs() {
            let hits = rows.iter().filter(|r| t.reached(r)).count();
            assert!(hits <= 1);
        }
        // an observer can stop every run after its first record
        struct First;
        impl Observer for First {
            fn record(&self, _: &Record) -> Control {
                Control::Stop
            }
        }
        let out = run_observed(&spec, p.as_ref(), &First).unwrap();
        assert!(out.records.rows.iter().all(|r| r.iteration == 0));
    }
}
