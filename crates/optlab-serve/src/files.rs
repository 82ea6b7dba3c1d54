//! The read-only browser of `runs/` and `reports/` under the directory the server was started in
//! (`GET /api/files?path=runs/logreg`, `GET /files/runs/logreg/convergence.png`).
//!
//! A path is a `/`-separated list of plain names whose first is `runs` or `reports`: `..`, `.`,
//! empty names, backslashes, drive prefixes and absolute paths are refused before the file system
//! is touched, and the resolved path (symbolic links followed) must still lie inside the
//! resolved root, so nothing outside the two folders can be read.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::ApiError;

/// The folders that can be browsed.
pub const ROOTS: &[&str] = &["runs", "reports"];

/// Largest file served (bytes).
pub const MAX_FILE: u64 = 64 << 20;

/// The file-system path of `rel` under `base`, checked as described in the module docs.
pub fn resolve(base: &Path, rel: &str) -> Result<PathBuf, ApiError> {
    let rel = rel.trim_end_matches('/');
    let parts: Vec<&str> = rel.split('/').collect();
    let bad = || {
        ApiError::bad(format!(
            "`path` = {rel:?}: not a path under runs/ or reports/"
        ))
    };
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains(['\\', ':', '\0']))
    {
        return Err(bad());
    }
    let first = parts.first().copied().unwrap_or_default();
    if !ROOTS.contains(&first) {
        return Err(bad());
    }
    let root = base.join(first);
    let path = parts[1..].iter().fold(root.clone(), |p, c| p.join(c));
    let missing = || ApiError::NotFound(format!("`{rel}` does not exist"));
    let root = root.canonicalize().map_err(|_| missing())?;
    let real = path.canonicalize().map_err(|_| missing())?;
    if !real.starts_with(&root) {
        return Err(bad());
    }
    Ok(real)
}

/// The listing of a folder (or of the roots that exist, for an empty path): names, `dir`/`file`,
/// sizes, folders first.
pub fn list(base: &Path, rel: &str) -> Result<Value, ApiError> {
    if rel.trim_matches('/').is_empty() {
        let entries: Vec<Value> = ROOTS
            .iter()
            .filter(|r| base.join(r).is_dir())
            .map(|r| json!({ "name": r, "path": r, "kind": "dir" }))
            .collect();
        return Ok(json!({ "path": "", "entries": entries }));
    }
    let rel = rel.trim_matches('/');
    let dir = resolve(base, rel)?;
    if !dir.is_dir() {
        return Err(ApiError::bad(format!("`path` = {rel:?}: not a folder")));
    }
    let io = |e: std::io::Error| ApiError::Internal(format!("cannot list `{rel}`: {e}"));
    let mut entries: Vec<(bool, String, u64)> = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(io)? {
        let e = e.map_err(io)?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(e.path()) else {
            continue;
        };
        entries.push((meta.is_dir(), name, meta.len()));
    }
    entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|(is_dir, name, size)| {
            let path = format!("{rel}/{name}");
            if is_dir {
                json!({ "name": name, "path": path, "kind": "dir" })
            } else {
                json!({ "name": name, "path": path, "kind": "file", "size": size })
            }
        })
        .collect();
    Ok(json!({ "path": rel, "entries": entries }))
}

/// The content type of a file by its extension.
pub fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("json") => "application/json",
        Some("csv") => "text/csv; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("txt" | "md" | "toml" | "log") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A file's bytes and content type.
pub fn read(base: &Path, rel: &str) -> Result<(&'static str, Vec<u8>), ApiError> {
    let path = resolve(base, rel)?;
    let meta = std::fs::metadata(&path)
        .map_err(|e| ApiError::Internal(format!("cannot read `{rel}`: {e}")))?;
    if !meta.is_file() {
        return Err(ApiError::bad(format!("`{rel}` is not a file")));
    }
    if meta.len() > MAX_FILE {
        return Err(ApiError::bad(format!(
            "`{rel}` is {} bytes, more than the {MAX_FILE} served",
            meta.len()
        )));
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| ApiError::Internal(format!("cannot read `{rel}`: {e}")))?;
    Ok((content_type(&path), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> PathBuf {
        let base = std::env::temp_dir().join(format!("optlab-serve-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let ok = std::fs::create_dir_all(base.join("runs/a"))
            .and_then(|_| std::fs::write(base.join("runs/a/metrics.csv"), "k,loss\n0,1\n"))
            .and_then(|_| std::fs::write(base.join("secret.txt"), "no"));
        assert!(ok.is_ok(), "{ok:?}");
        base
    }

    #[test]
    fn lists_and_reads_inside_the_roots_only() {
        let base = tree();
        let l = list(&base, "").map_err(|e| e.to_string());
        assert!(l.is_ok_and(|l| l["entries"].as_array().map(Vec::len) == Some(1)));
        let l = list(&base, "runs").map_err(|e| e.to_string());
        assert!(l.is_ok_and(|l| l["entries"][0]["path"] == "runs/a"));
        let f = read(&base, "runs/a/metrics.csv").map_err(|e| e.to_string());
        assert!(f.is_ok_and(|(t, b)| t.starts_with("text/csv") && b.starts_with(b"k,loss")));
        for evil in [
            "runs/../secret.txt",
            "../secret.txt",
            "/etc/passwd",
            "runs//a",
            "secret.txt",
            "runs/./a",
            "runs\\..\\secret.txt",
            "C:/x",
        ] {
            let e = read(&base, evil);
            assert!(
                matches!(e, Err(ApiError::BadRequest(_))),
                "{evil}: {:?}",
                e.map(|x| x.0)
            );
        }
        assert!(matches!(
            read(&base, "reports/x"),
            Err(ApiError::NotFound(_))
        ));
        #[cfg(unix)]
        {
            let link = std::os::unix::fs::symlink(base.join("secret.txt"), base.join("runs/l"));
            assert!(link.is_ok());
            assert!(matches!(
                read(&base, "runs/l"),
                Err(ApiError::BadRequest(_))
            ));
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
