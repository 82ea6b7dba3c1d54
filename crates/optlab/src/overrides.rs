//! `--set key=value` overrides of TOML configuration files, shared by `optlab run` (experiment
//! files) and `optlab train` (network experiments).
//!
//! A key is a dotted path into the document; list elements are addressed by index
//! (`methods.0.lr`, `optimizer.groups.1.weight_decay`). A value is TOML (`3`, `0.1`, `true`,
//! `"text"`, `[1, 2]`, `{ kind = "Constant" }`); anything that does not parse as TOML is taken as
//! a string (`--set plot.x_axis=iterations`). Missing tables on the way are created; an index past
//! the end of a list, or a path through a number or a string, is an error naming the path.
//!
//! The overrides are applied to the parsed table before it is deserialized, so the
//! configuration's own validation (serde `deny_unknown_fields`, ranges) sees the result and
//! reports unknown fields with the valid names.

use thiserror::Error;

/// A malformed `--set` argument or a path that does not fit the document.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OverrideError {
    /// No `=` in the argument.
    #[error("--set `{0}`: expected key=value")]
    Syntax(String),
    /// `=value` with nothing before it.
    #[error("--set `{0}`: empty key")]
    EmptyKey(String),
    /// A path that cannot be followed or set.
    #[error("--set {key}: {message}")]
    Path {
        /// The dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Splits `--set` text `key=value` (both trimmed).
pub fn parse_set(s: &str) -> Result<(String, String), OverrideError> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| OverrideError::Syntax(s.to_string()))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(OverrideError::EmptyKey(s.to_string()));
    }
    Ok((k.to_string(), v.trim().to_string()))
}

/// A `--set` value: TOML syntax (`3`, `0.1`, `true`, `"text"`, `[1, 2]`, `{ kind = "..." }`),
/// anything that does not parse is taken as a string.
pub fn parse_value(v: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {v}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(v.to_string()))
}

/// Sets the dotted path `key` (array elements by index: `methods.0.lr`) to `value`; missing
/// tables on the way are created.
pub fn apply_override(
    table: &mut toml::Table,
    key: &str,
    value: &str,
) -> Result<(), OverrideError> {
    let err = |message: String| OverrideError::Path {
        key: key.to_string(),
        message,
    };
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(err("empty path segment".into()));
    }
    let v = parse_value(value);
    let (first, rest) = (parts[0], &parts[1..]);
    let Some((last, middle)) = rest.split_last() else {
        table.insert(first.to_string(), v);
        return Ok(());
    };
    let mut cur = table
        .entry(first.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let mut walked = first.to_string();
    for p in middle {
        cur = step_into(cur, p, &walked).map_err(err)?;
        walked.push('.');
        walked.push_str(p);
    }
    match cur {
        toml::Value::Table(t) => {
            t.insert(last.to_string(), v);
        }
        toml::Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| {
                err(format!(
                    "`{walked}` is a list: use an index, e.g. {walked}.0"
                ))
            })?;
            let n = a.len();
            let slot = a
                .get_mut(i)
                .ok_or_else(|| err(format!("`{walked}` has {n} elements (index {i})")))?;
            *slot = v;
        }
        _ => return Err(err(format!("`{walked}` is not a table or a list"))),
    }
    Ok(())
}

/// Applies `overrides` (`(key, value)` pairs from [`parse_set`]) in order.
pub fn apply_all(
    table: &mut toml::Table,
    overrides: &[(String, String)],
) -> Result<(), OverrideError> {
    for (k, v) in overrides {
        apply_override(table, k, v)?;
    }
    Ok(())
}

fn step_into<'a>(
    cur: &'a mut toml::Value,
    part: &str,
    walked: &str,
) -> Result<&'a mut toml::Value, String> {
    match cur {
        toml::Value::Table(t) => Ok(t
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))),
        toml::Value::Array(a) => {
            let n = a.len();
            let i: usize = part
                .parse()
                .map_err(|_| format!("`{walked}` is a list: use an index, e.g. {walked}.0"))?;
            a.get_mut(i)
                .ok_or_else(|| format!("`{walked}` has {n} elements (index {i})"))
        }
        _ => Err(format!("`{walked}` is not a table or a list")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn paths_values_and_lists() {
        let mut t = table("a = 1\n[b]\nc = [1, 2]\n[[m]]\nlr = 0.1\n[[m]]\nlr = 0.2\n");
        let sets: Vec<(String, String)> = [
            "a=2",
            "b.c.1 = 5",
            "m.1.lr=0.5",
            "x.y.z=word",
            "s=\"quoted\"",
            "m.0.schedule={ kind = \"Constant\" }",
        ]
        .iter()
        .map(|s| parse_set(s).unwrap())
        .collect();
        apply_all(&mut t, &sets).unwrap();
        assert_eq!(t["a"].as_integer(), Some(2));
        assert_eq!(t["b"]["c"][1].as_integer(), Some(5));
        assert_eq!(t["m"][1]["lr"].as_float(), Some(0.5));
        assert_eq!(t["m"][0]["lr"].as_float(), Some(0.1));
        assert_eq!(t["x"]["y"]["z"].as_str(), Some("word"));
        assert_eq!(t["s"].as_str(), Some("quoted"));
        assert_eq!(t["m"][0]["schedule"]["kind"].as_str(), Some("Constant"));
    }

    #[test]
    fn errors_name_the_argument_and_path() {
        assert_eq!(
            parse_set("seeds"),
            Err(OverrideError::Syntax("seeds".into()))
        );
        assert!(
            parse_set(" =3")
                .unwrap_err()
                .to_string()
                .contains("empty key")
        );
        let mut t = table("a = 1\nm = [{ lr = 0.1 }]\n");
        let e = apply_override(&mut t, "m.3.lr", "1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--set m.3.lr") && e.contains("has 1 elements"),
            "{e}"
        );
        let e = apply_override(&mut t, "m.lr", "1").unwrap_err().to_string();
        assert!(e.contains("is a list: use an index, e.g. m.0"), "{e}");
        let e = apply_override(&mut t, "a.b", "1").unwrap_err().to_string();
        assert!(e.contains("`a` is not a table or a list"), "{e}");
        let e = apply_override(&mut t, "a..b", "1").unwrap_err().to_string();
        assert!(e.contains("empty path segment"), "{e}");
    }
}
