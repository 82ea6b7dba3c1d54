//! Shared helpers for integration tests: locating `../shared/fixtures`.

#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/fixtures` beside the repository root, if present. Tests that need it print a clear
/// message and return early when it is absent (a user's clone still tests).
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: reference fixtures not found at {} (../shared beside the repository root)",
            dir.display()
        );
        None
    }
}

/// Reads a fixture file as text, or `None` (with the skip message) when fixtures are absent.
pub fn fixture(name: &str) -> Option<String> {
    let dir = fixtures_dir()?;
    match std::fs::read_to_string(dir.join(name)) {
        Ok(s) => Some(s),
        Err(e) => panic!("fixture {name} exists but cannot be read: {e}"),
    }
}
