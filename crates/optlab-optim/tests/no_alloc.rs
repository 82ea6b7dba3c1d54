//! A small step (p = 10) performs no heap allocation, for every optimizer of the catalog, in
//! f32 and f64, once the state exists (the first step allocates it).
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
use optlab_optim::{Param, Scalar};
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
        _ => json!({}),
    }
}

fn steps_without_allocating<T: Scalar>() {
    for info in CATALOG {
        let plain = if info.name == "Shampoo" {
            json!({"precondition_frequency": 1000})
        } else {
            json!({})
        };
        for hyper in [plain, full_state_hyper(info.name)] {
            let Value::Object(hyper) = hyper else {
                unreachable!("literal objects")
            };
            let hyper: HyperMap = hyper;
            let mut opt = registry::build::<T>(info.name, &hyper).expect("builds");
            // p = 10 parameters: a 2×5 matrix (so that matrix methods apply too).
            let data = (0..10).map(|i| T::of(0.1 * i as f64 - 0.3)).collect();
            let mut params = vec![Param::new("w", [2, 5], data).expect("10 values")];
            let grads = |params: &mut [Param<T>], k: usize| {
                for (i, (g, x)) in params[0].grad.iter_mut().zip(&params[0].data).enumerate() {
                    *g = *x + T::of(0.01 * ((i + k) as f64).sin());
                }
            };
            for k in 0..2 {
                grads(&mut params, k);
                opt.step(&mut params).expect("finite gradients");
            }
            let before = allocations();
            for k in 2..8 {
                grads(&mut params, k);
                opt.set_lrs(&|base| base * 0.9); // what a schedule does between steps
                opt.step(&mut params).expect("finite gradients");
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
