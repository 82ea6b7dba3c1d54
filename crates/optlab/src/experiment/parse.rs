//! Reading an experiment file: TOML, `--set key=value` overrides ([`overrides`]), and the
//! unknown-field check of tables that flatten [`Common`](super::Common) and
//! [`Wrappers`](crate::optim::wrap::Wrappers) into their own fields (serde cannot combine
//! `flatten` with `deny_unknown_fields`, so the check is done here, on the table, with the
//! complete list of valid names).

use serde::de::DeserializeOwned;

use super::ExperimentError;
use crate::overrides;

/// The top-level budget fields: setting one of them with `--set` replaces the file's budget.
const BUDGET: [&str; 3] = ["steps", "iterations", "epochs"];

/// The parsed table of `text` with `overrides` applied (`examples` of valid overrides are
/// shown with a malformed one). An override of a top-level budget field (`steps`/`iterations`
/// or `epochs`) replaces the budget the file sets (`--set steps=50` on a file with
/// `epochs = 30`); a file that sets both is an error of the file.
pub fn table(
    text: &str,
    overrides: &[(String, String)],
    examples: &str,
) -> Result<toml::Table, ExperimentError> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| ExperimentError::message(e.to_string()))?;
    for (k, v) in overrides {
        if BUDGET.contains(&k.as_str()) {
            for other in BUDGET.iter().filter(|b| **b != k) {
                if !overrides.iter().any(|(o, _)| o == other) {
                    table.remove(*other);
                }
            }
        }
        overrides::apply_override(&mut table, k, v)
            .map_err(|e| ExperimentError::from_override(e, examples))?;
    }
    Ok(table)
}

/// Parses `--set` arguments (`key=value`).
pub fn sets(args: &[String], examples: &str) -> Result<Vec<(String, String)>, ExperimentError> {
    args.iter()
        .map(|s| overrides::parse_set(s).map_err(|e| ExperimentError::from_override(e, examples)))
        .collect()
}

/// Every key of `table` must be in one of `valid`; `context` locates the table in messages
/// (`" in methods[1]"`, empty at the top level).
pub fn check_fields(
    table: &toml::Table,
    valid: &[&[&str]],
    context: &str,
) -> Result<(), ExperimentError> {
    for key in table.keys() {
        if !valid.iter().any(|v| v.contains(&key.as_str())) {
            return Err(ExperimentError::UnknownField {
                field: key.clone(),
                context: context.to_string(),
                valid: valid
                    .iter()
                    .flat_map(|v| v.iter())
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

/// Deserializes the (checked) table: from `text` itself when nothing was overridden, so that
/// messages point at the file's line and column, else from the table.
pub fn deserialize<S: DeserializeOwned>(
    text: &str,
    table: toml::Table,
    overridden: bool,
) -> Result<S, ExperimentError> {
    if !overridden {
        return toml::from_str(text).map_err(|e| ExperimentError::message(e.to_string()));
    }
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            ExperimentError::message(format!("after --set overrides: {}", e.message()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_list_every_valid_name() {
        let t = table("seedz = 3\nname = \"x\"", &[], "seeds=3").unwrap();
        let e = check_fields(&t, &[&["name", "seeds"], &["plot"]], "")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `seedz`") && e.contains("`seeds`") && e.contains("`plot`"),
            "{e}"
        );
        let t = table("epochs = 3", &[("steps".into(), "5".into())], "seeds=3").unwrap();
        assert_eq!(
            t.keys().collect::<Vec<_>>(),
            ["steps"],
            "--set steps replaces epochs"
        );
        let e = sets(&["nokey".into()], "seeds=3").unwrap_err().to_string();
        assert!(e.contains("key=value") && e.contains("seeds=3"), "{e}");
    }
}
