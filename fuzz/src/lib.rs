//! optlab's fuzz entry points (see `fuzz/entries.rs`), for the targets in `fuzz/fuzz_targets/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../entries.rs"]
mod entries;

pub use entries::*;
