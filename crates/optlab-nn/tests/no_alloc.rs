//! After warm-up, the bridge's part of a training step allocates no parameter- or
//! gradient-sized buffer: reading the gradients and values from burn allocates nothing large
//! (host buffers reused, no transposes: `Linear` weights stay column-major for methods that
//! accept it), the optimizer updates in place, and the write-back hands each new parameter
//! tensor the buffer of the tensor it replaces (`bridge::recycle`). What remains is
//! bookkeeping whose size does not depend on the parameters' (both traced with a backtrace
//! from this allocator): burn's `require_grad()` registers each new leaf in a fresh autodiff
//! graph (an `Arc<Graph>` of 272 bytes, plus tensor handles and shapes), and rayon's job queue,
//! through which faer runs Muon's parallel Newton–Schulz products, grows by a block of 1,520
//! bytes every 63 jobs. The test therefore counts allocations of at least [`LARGE`] bytes:
//! at most the smallest parameter of the model, above that bookkeeping.
//!
//! This binary installs a counting global allocator, which needs `unsafe impl GlobalAlloc`; it
//! only forwards to the system allocator and counts, per thread, so that the test harness's
//! own threads do not disturb the count.

// Test helpers may panic on what the test itself set up.
#![allow(clippy::expect_used, clippy::unwrap_used)]
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use optlab::optim::registry::{self, HyperMap};
use optlab_nn::bridge::{GradBridge, HostBridge};
use optlab_nn::train::CpuBackend;
use serde_json::json;

/// Inputs and outputs of the test network.
const IO: usize = 64;
/// Its hidden width: the smallest parameters (the hidden bias, the layer-norm vectors) have
/// `WIDTH` f32 values; the weights are `WIDTH × IO` (Muon orthogonalizes them through their
/// 64 × 64 Gram matrices, cheaply).
const WIDTH: usize = 1024;

/// Allocations of at least this many bytes are counted: the smallest parameter has 4 KiB
/// (`WIDTH` f32 values), the weights 256 KiB; the bookkeeping above is smaller.
const LARGE: usize = WIDTH * 4;

struct Counting;

thread_local! {
    static LARGE_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count(size: usize) {
    if size >= LARGE {
        // `try_with`: the slot may already be gone while a thread shuts down.
        let _ = LARGE_ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees carry over; counting touches only a const-initialised thread-local `Cell`, which
// does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
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

fn large_allocations() -> u64 {
    LARGE_ALLOCATIONS.with(Cell::get)
}

type B = CpuBackend;

#[derive(Module, Debug)]
struct Net<B: Backend> {
    fc1: Linear<B>,
    norm: LayerNorm<B>,
    fc2: Linear<B>,
}

fn net() -> Net<B> {
    let device = Default::default();
    Net {
        fc1: LinearConfig::new(IO, WIDTH).init(&device),
        norm: LayerNormConfig::new(WIDTH).init(&device),
        // No bias: it would have only IO values.
        fc2: LinearConfig::new(WIDTH, IO).with_bias(false).init(&device),
    }
}

fn loss(m: &Net<B>) -> Tensor<B, 1> {
    let x: Vec<f32> = (0..8 * IO).map(|i| ((i as f32) * 0.37).cos()).collect();
    let x = Tensor::<B, 2>::from_data(TensorData::new(x, [8, IO]), &Default::default());
    let h = m
        .norm
        .forward(burn::tensor::activation::tanh(m.fc1.forward(x)));
    let y = m.fc2.forward(h);
    (y.clone() * y).mean()
}

/// Large allocations `(load_grads, step)` of the bridge in each of `steps` training steps after
/// 3 warm-up steps, in the training loop's order (the gradients are alive during the step).
fn bridge_large_allocations(name: &str, h: serde_json::Value, steps: usize) -> Vec<(u64, u64)> {
    let hyper: HyperMap = serde_json::from_value(h).unwrap();
    let mut optimizer = registry::build::<f32>(name, &hyper).unwrap();
    let mut model = net();
    let mut bridge = HostBridge::new(&model).unwrap();
    let mut counts = Vec::new();
    for step in 0..3 + steps {
        let grads = loss(&model).backward();
        let before = large_allocations();
        GradBridge::<B, Net<B>>::load_grads(&mut bridge, &model, &grads).unwrap();
        let loaded = large_allocations();
        let (m, _) = GradBridge::<B, Net<B>>::step(&mut bridge, model, optimizer.as_mut()).unwrap();
        let after = large_allocations();
        model = m;
        drop(grads);
        if step >= 3 {
            counts.push((loaded - before, after - loaded));
        }
    }
    counts
}

#[test]
fn bridge_steps_allocate_no_parameter_buffer_after_warm_up() {
    for (name, h) in [
        ("SGD", json!({"lr": 0.01, "momentum": 0.9})),
        ("AdamW", json!({"lr": 0.001})),
        ("MuonAdamW", json!({"lr": 0.02, "adamw_lr": 0.001})),
    ] {
        let counts = bridge_large_allocations(name, h, 3);
        assert!(
            counts.iter().all(|&(load, step)| load == 0 && step == 0),
            "{name}: allocations of >= {LARGE} bytes (load_grads, step) per step after warm-up: \
             {counts:?}"
        );
    }
}
