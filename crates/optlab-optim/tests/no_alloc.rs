//! A small step (p = 10) performs no heap allocation, for every optimizer of the catalog, in
//! f32 and f64, once the state exists (the first step allocates it; L-BFGS's history grows, as
//! PyTorch's lists do, until it holds `history_size` pairs, and later steps reuse the memory of
//! the pairs they drop). Methods that need a closure step through one that writes the gradient.
//!
//! This binary installs a counting global allocator, which needs `unsafe impl GlobalAlloc`; it
//! only forwards to the system allocator and counts, per thread, so that the test harness's
//! own threads do not disturb the count.

// Test helpers may panic on what the test itself set up.
#![allow(clippy::expect_used, clippy::unwrap_used)]
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use optlab_optim::optim::registry::{self, CATALOG, HyperMap};
use optlab_optim::{Eval, Optimizer, Param, Scalar};
use serde_json::{Value, json};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the slot may already be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees carry over; counting touches only a const-initialised thread-local `Cell`, which
// does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Every state buffer switched on (momentum, centering, AMSGrad, NAdam's scalar state, ...).
fn full_state_hyper(name: &str) -> Value {
    match name {
        "SGD" => json!({"lr": 0.01, "momentum": 0.9, "nesterov": true}),
        "Adam" | "AdamW" => json!({"amsgrad": true}),
        "RMSprop" => json!({"centered": true, "momentum": 0.5}),
        // Recomputing Shampoo's inverse roots (an eigendecomposition, O(n³)) allocates inside
        // faer; the steps between recomputations must not.
        "Shampoo" => json!({"precondition_frequency": 1000, "momentum": 0.9, "grafting": "adam"}),
        "LBFGS" => json!({"history_size": 2, "line_search_fn": "strong_wolfe"}),
        "ASGD" => json!({"t0": 1.0}),
        _ => json!({}),
    }
}

/// The gradient of step k, g = x + 0.01 sin(i + k), written into `params` (the gradient of
/// f = Σ ½ x_i² + 0.01 sin(i + k) x_i, which it returns).
fn grads<T: Scalar>(params: &mut [Param<T>], k: usize) -> f64 {
    let mut f = 0.0;
    for (i, (g, x)) in params[0].grad.iter_mut().zip(&params[0].data).enumerate() {
        let w = 0.01 * ((i + k) as f64).sin();
        *g = *x + T::of(w);
        f += 0.5 * x.as_f64() * x.as_f64() + w * x.as_f64();
    }
    f
}

/// One step with the gradient of step k: through a closure for methods that need one.
fn step<T: Scalar>(opt: &mut dyn Optimizer<T>, params: &mut [Param<T>], k: usize) {
    if opt.requires_closure() {
        let mut closure = |ps: &mut [Param<T>], _: Eval| Ok(grads(ps, k));
        opt.step_with_closure(params, &mut closure)
            .expect("finite gradients");
    } else {
        grads(params, k);
        opt.step(params).expect("finite gradients");
    }
}

fn steps_without_allocating<T: Scalar>() {
    for info in CATALOG {
        let plain = match info.name {
            "Shampoo" => json!({"precondition_frequency": 1000}),
            // A history of 2 pairs fills within the warm-up steps.
            "LBFGS" => json!({"history_size": 2}),
            _ => json!({}),
        };
        // L-BFGS: until each step has added as many pairs as any later one will, a step may
        // need a new pair's memory.
        let warmup = if info.name == "LBFGS" { 10 } else { 2 };
        for hyper in [plain, full_state_hyper(info.name)] {
            let Value::Object(hyper) = hyper else {
                unreachable!("literal objects")
            };
            let hyper: HyperMap = hyper;
            let mut opt = registry::build::<T>(info.name, &hyper).expect("builds");
            // p = 10 parameters: a 2×5 matrix (so that matrix methods apply too).
            let data = (0..10).map(|i| T::of(0.1 * i as f64 - 0.3)).collect();
            let mut params = vec![Param::new("w", [2, 5], data).expect("10 values")];
            for k in 0..warmup {
                step(opt.as_mut(), &mut params, k);
            }
            let before = allocations();
            for k in warmup..warmup + 6 {
                opt.set_lrs(&|base| base * 0.9); // what a schedule does between steps
                step(opt.as_mut(), &mut params, k);
            }
            let n = allocations() - before;
            assert_eq!(
                n,
                0,
                "{} ({}, {hyper:?}) allocated {n} times in 6 steps",
                info.name,
                T::NAME
            );
        }
    }
}

#[test]
fn small_steps_do_not_allocate() {
    // The counter itself works.
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 3]);
    assert!(allocations() > before && v.len() == 3);

    steps_without_allocating::<f32>();
    steps_without_allocating::<f64>();
}
