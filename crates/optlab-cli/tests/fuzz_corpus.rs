//! Replays the fuzz corpus (`fuzz/corpus/<target>/*`, kept small and minimized, findings
//! included) through the fuzz targets' own entry points (`fuzz/entries.rs`), so that CI checks
//! every stored input without a fuzzing toolchain: none may panic. See docs/fuzzing.md.
#![cfg(feature = "nn")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../fuzz/entries.rs"]
mod entries;

use std::path::Path;

#[test]
fn the_fuzz_corpus_replays_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut failures = Vec::new();
    for (name, entry) in entries::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: empty corpus", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "inputs that panic: {failures:#?}");
}

#[test]
fn split_at_the_part_separator() {
    let sep = entries::PART;
    let joined = [b"a".as_slice(), sep, b"", sep, b"bc"].concat();
    assert_eq!(entries::split(&joined, sep), [&b"a"[..], b"", b"bc"]);
    assert_eq!(entries::split(b"", sep), [&b""[..]]);
}
