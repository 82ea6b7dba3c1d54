//! Data files: where a relative path is looked up, and reading a file that may be
//! gzip-compressed. The one resolver and reader of the lab's problems
//! ([`problem`](crate::problem)) and of the networks' data sets (`optlab-nn`).
//!
//! **Lookup** of a relative `file` (absolute paths are used as given):
//!
//! 1. with an explicit directory (a problem's `data_dir`): `<data_dir>/<file>` only;
//! 2. otherwise, in order: `<file>` relative to the current directory, `data/<file>` in the
//!    current directory, `data/<file>` in the optlab source tree (the vendored data sets,
//!    located from this crate's source directory at build time), and `<file>` relative to the
//!    source tree's root (so `data/mnist_5k.csv.gz` is found from any directory).
//!
//! The first existing file wins; if none exists, the error lists every path tried. Nothing is
//! downloaded.
//!
//! **Reading**: a name ending in `.gz` (any case) is decompressed on the fly (flate2).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A data file that cannot be found or opened.
#[derive(Debug, Error)]
pub enum DataFileError {
    /// No candidate path exists.
    #[error("data file `{file}` not found (tried {tried})")]
    NotFound {
        /// The path as given.
        file: String,
        /// Every path tried, comma-separated.
        tried: String,
    },
    /// The file exists but cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The root of the optlab source tree (this crate lives in `crates/optlab`).
pub fn source_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `data/` of the optlab source tree, where the vendored data sets are.
pub fn vendored_data_dir() -> PathBuf {
    source_root().join("data")
}

/// The paths tried for `file`, in order (see the module documentation).
pub fn candidates(file: &Path, data_dir: Option<&Path>) -> Vec<PathBuf> {
    if file.is_absolute() {
        return vec![file.to_path_buf()];
    }
    match data_dir {
        Some(dir) => vec![dir.join(file)],
        None => vec![
            file.to_path_buf(),
            Path::new("data").join(file),
            vendored_data_dir().join(file),
            source_root().join(file),
        ],
    }
}

/// The first existing file among the [`candidates`] of `file`.
pub fn resolve(file: &Path, data_dir: Option<&Path>) -> Result<PathBuf, DataFileError> {
    let tried = candidates(file, data_dir);
    if let Some(found) = tried.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    Err(DataFileError::NotFound {
        file: file.display().to_string(),
        tried: tried
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Whether `path` names a gzip file (`.gz`, any case).
pub fn is_gzip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Opens `path` for reading, decompressing `.gz` files.
pub fn open(path: &Path) -> Result<Box<dyn Read>, DataFileError> {
    let file = std::fs::File::open(path).map_err(|source| DataFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(if is_gzip(path) {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

/// [`open`] with a line buffer.
pub fn open_buffered(path: &Path) -> Result<Box<dyn BufRead>, DataFileError> {
    Ok(Box::new(BufReader::new(open(path)?)))
}

/// The whole (decompressed) file as UTF-8 text.
pub fn read_to_string(path: &Path) -> Result<String, DataFileError> {
    let mut s = String::new();
    open(path)?
        .read_to_string(&mut s)
        .map_err(|source| DataFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_files_are_found_from_any_directory_and_gz_is_read() {
        let p = resolve(Path::new("digits.csv.gz"), None).unwrap();
        assert!(p.ends_with("data/digits.csv.gz"), "{}", p.display());
        let q = resolve(Path::new("data/digits.csv.gz"), None).unwrap();
        let mut first = String::new();
        open_buffered(&q).unwrap().read_line(&mut first).unwrap();
        assert_eq!(
            first.trim_end().split(',').count(),
            65,
            "64 pixels and a label"
        );
        assert!(is_gzip(Path::new("a.CSV.GZ")) && !is_gzip(Path::new("a.csv")));
    }

    #[test]
    fn a_missing_file_lists_every_path_tried() {
        let e = resolve(Path::new("no_such.csv"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no_such.csv") && e.contains("data/no_such.csv"),
            "{e}"
        );
        let e = resolve(Path::new("x.csv"), Some(Path::new("/nowhere")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nowhere/x.csv"), "{e}");
        assert!(matches!(
            open(Path::new("/no/such/file")),
            Err(DataFileError::Io { .. })
        ));
    }
}
