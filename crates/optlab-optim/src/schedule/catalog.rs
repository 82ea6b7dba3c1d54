//! Every schedule kind with its aliases, formula and arguments (what `optlab list` prints).
//!
//! The tests below keep this table honest: every `kind` of [`ScheduleSpec`] has exactly one
//! entry, every alias parses to its kind, every example builds, and every documented default is
//! the one serde fills in.

/// One argument of a schedule.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleArg {
    /// Name in a config (PyTorch's).
    pub name: &'static str,
    /// Default as JSON text (`None`: required).
    pub default: Option<&'static str>,
    /// Allowed values.
    pub range: &'static str,
}

/// What `optlab list` shows about a schedule kind.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleInfo {
    /// Canonical `kind` (PyTorch's class name or the lecture rule's name).
    pub kind: &'static str,
    /// Other accepted spellings of `kind` (exact).
    pub aliases: &'static [&'static str],
    /// The learning rate of step k (α₀ = the optimizer group's base lr).
    pub formula: &'static str,
    /// Arguments, with defaults and ranges.
    pub args: &'static [ScheduleArg],
    /// A minimal spec as a TOML inline table.
    pub example: &'static str,
}

impl ScheduleInfo {
    /// `name (required, range)` / `name = default (range)`, comma-separated.
    pub fn args_summary(&self) -> String {
        if self.args.is_empty() {
            return "none".to_string();
        }
        self.args
            .iter()
            .map(|a| match a.default {
                Some(d) => format!("{} = {d} ({})", a.name, a.range),
                None => format!("{} (required; {})", a.name, a.range),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

const fn req(name: &'static str, range: &'static str) -> ScheduleArg {
    ScheduleArg {
        name,
        default: None,
        range,
    }
}

const fn opt(name: &'static str, default: &'static str, range: &'static str) -> ScheduleArg {
    ScheduleArg {
        name,
        default: Some(default),
        range,
    }
}

const GAMMA_RANGE: &str = "in (0, 1]";
const STEPS: &str = "integer ≥ 1";

/// Every schedule kind.
pub const CATALOG: &[ScheduleInfo] = &[
    ScheduleInfo {
        kind: "Constant",
        aliases: &["constant"],
        formula: "α_k = α₀",
        args: &[],
        example: r#"{ kind = "constant" }"#,
    },
    ScheduleInfo {
        kind: "InvSqrt",
        aliases: &["inv_sqrt", "invsqrt"],
        formula: "α_k = α₀ / √(k+1)",
        args: &[],
        example: r#"{ kind = "inv_sqrt" }"#,
    },
    ScheduleInfo {
        kind: "StronglyConvex",
        aliases: &["strongly_convex"],
        formula: "α_k = (2k+1) / (2μ(k+1)²)  (absolute: ignores α₀)",
        args: &[req("mu", "finite, ≥ f64::MIN_POSITIVE")],
        example: r#"{ kind = "strongly_convex", mu = 1.0 }"#,
    },
    ScheduleInfo {
        kind: "Exponential",
        aliases: &["exponential"],
        formula: "α_k = α₀ γ^k",
        args: &[req("gamma", GAMMA_RANGE)],
        example: r#"{ kind = "exponential", gamma = 0.99 }"#,
    },
    ScheduleInfo {
        kind: "StepLR",
        aliases: &["step", "step_lr"],
        formula: "α_k = α₀ γ^⌊k / step_size⌋",
        args: &[req("step_size", STEPS), opt("gamma", "0.1", GAMMA_RANGE)],
        example: r#"{ kind = "StepLR", step_size = 30 }"#,
    },
    ScheduleInfo {
        kind: "MultiStepLR",
        aliases: &["multistep", "multi_step", "multi_step_lr"],
        formula: "α_k = α₀ γ^#{milestones ≤ k}",
        args: &[
            req("milestones", "non-decreasing list of steps"),
            opt("gamma", "0.1", GAMMA_RANGE),
        ],
        example: r#"{ kind = "MultiStepLR", milestones = [30, 80] }"#,
    },
    ScheduleInfo {
        kind: "ExponentialLR",
        aliases: &["exponential_lr"],
        formula: "α_k = α₀ γ^k",
        args: &[req("gamma", GAMMA_RANGE)],
        example: r#"{ kind = "ExponentialLR", gamma = 0.9 }"#,
    },
    ScheduleInfo {
        kind: "CosineAnnealingLR",
        aliases: &["cosine", "cosine_annealing"],
        formula: "α_k = η_min + (α₀ − η_min)(1 + cos(π k / T_max)) / 2  (period 2·T_max)",
        args: &[req("T_max", STEPS), opt("eta_min", "0.0", "finite, ≥ 0")],
        example: r#"{ kind = "CosineAnnealingLR", T_max = 100 }"#,
    },
    ScheduleInfo {
        kind: "LinearLR",
        aliases: &["linear", "linear_lr"],
        formula: "α_k = α₀ (s + (e − s) min(k, total_iters) / total_iters)",
        args: &[
            opt("start_factor", "0.3333333333333333", "s in (0, 1]"),
            opt("end_factor", "1.0", "e in [0, 1]"),
            opt("total_iters", "5", STEPS),
        ],
        example: r#"{ kind = "LinearLR" }"#,
    },
    ScheduleInfo {
        kind: "PolynomialLR",
        aliases: &["polynomial", "poly"],
        formula: "α_k = α₀ (1 − min(k, total_iters) / total_iters)^power",
        args: &[
            opt("total_iters", "5", STEPS),
            opt("power", "1.0", "finite, ≥ 0"),
        ],
        example: r#"{ kind = "PolynomialLR" }"#,
    },
    ScheduleInfo {
        kind: "OneCycleLR",
        aliases: &["onecycle", "one_cycle"],
        formula: "η₀ = max_lr/div_factor → max_lr over pct_start·T steps → η₀/final_div_factor at \
                  T − 1 (absolute: ignores α₀; three_phase: → η₀ → min)",
        args: &[
            req("max_lr", "finite, > 0"),
            req("total_steps", STEPS),
            opt("pct_start", "0.3", "in [0, 1]"),
            opt("anneal_strategy", "\"cos\"", "\"cos\" or \"linear\""),
            opt("div_factor", "25.0", "finite, > 0"),
            opt("final_div_factor", "10000.0", "finite, > 0"),
            opt("three_phase", "false", "true or false"),
        ],
        example: r#"{ kind = "OneCycleLR", max_lr = 0.1, total_steps = 1000 }"#,
    },
    ScheduleInfo {
        kind: "CosineAnnealingWarmRestarts",
        aliases: &["warm_restarts", "cosine_warm_restarts", "sgdr"],
        formula: "α_k = η_min + (α₀ − η_min)(1 + cos(π T_cur / T_i)) / 2, T_i = T_0·T_mult^i",
        args: &[
            req("T_0", STEPS),
            opt("T_mult", "1", STEPS),
            opt("eta_min", "0.0", "finite, ≥ 0"),
        ],
        example: r#"{ kind = "CosineAnnealingWarmRestarts", T_0 = 10, T_mult = 2 }"#,
    },
    ScheduleInfo {
        kind: "ConstantLR",
        aliases: &["constant_lr"],
        formula: "α_k = factor·α₀ for k < total_iters, α₀ after",
        args: &[
            opt("factor", "0.3333333333333333", "in [0, 1]"),
            opt("total_iters", "5", STEPS),
        ],
        example: r#"{ kind = "ConstantLR", factor = 0.5, total_iters = 10 }"#,
    },
    ScheduleInfo {
        kind: "MultiplicativeLR",
        aliases: &["multiplicative", "multiplicative_lr"],
        formula: "α_k = α₀ factor^k  (PyTorch's lr_lambda as a constant factor)",
        args: &[req("factor", GAMMA_RANGE)],
        example: r#"{ kind = "MultiplicativeLR", factor = 0.95 }"#,
    },
    ScheduleInfo {
        kind: "CyclicLR",
        aliases: &["cyclic", "cyclic_lr", "clr"],
        formula: "base_lr ↗ max_lr over step_size_up steps ↘ base_lr over step_size_down, \
                  amplitude × 1 (triangular), 1/2^(cycle−1) (triangular2), γ^k (exp_range) \
                  (absolute: ignores α₀)",
        args: &[
            req("base_lr", "finite, ≥ 0"),
            req("max_lr", "finite, ≥ 0"),
            opt("step_size_up", "2000", STEPS),
            opt("step_size_down", "null", "integer ≥ 0; null: step_size_up"),
            opt(
                "mode",
                "\"triangular\"",
                "\"triangular\", \"triangular2\" or \"exp_range\"",
            ),
            opt("gamma", "1.0", GAMMA_RANGE),
            opt("cycle_momentum", "false", "false (no momentum cycling)"),
        ],
        example: r#"{ kind = "CyclicLR", base_lr = 0.001, max_lr = 0.1, step_size_up = 500 }"#,
    },
    ScheduleInfo {
        kind: "ReduceLROnPlateau",
        aliases: &["plateau", "reduce_on_plateau", "reduce_lr_on_plateau"],
        formula: "metric-driven: α ← max(α·factor, min_lr) after more than `patience` \
                  observations without improvement (then `cooldown` observations ignored)",
        args: &[
            opt("mode", "\"min\"", "\"min\" or \"max\""),
            opt("factor", "0.1", "in [0, 1)"),
            opt("patience", "10", "integer ≥ 0"),
            opt("threshold", "0.0001", "finite, ≥ 0"),
            opt("threshold_mode", "\"rel\"", "\"rel\" or \"abs\""),
            opt("cooldown", "0", "integer ≥ 0"),
            opt("min_lr", "0.0", "finite, ≥ 0"),
            opt("eps", "1e-8", "finite, ≥ 0"),
        ],
        example: r#"{ kind = "ReduceLROnPlateau", factor = 0.5, patience = 5 }"#,
    },
    ScheduleInfo {
        kind: "Warmup",
        aliases: &["warmup"],
        formula: "α_k = s·α₀ + (then(0) − s·α₀) k / W for k < W, then(k − W) after",
        args: &[
            req("warmup_steps", "W, integer ≥ 0"),
            opt("start_factor", "0.0", "s in [0, 1]"),
            req("then", "any schedule"),
        ],
        example: r#"{ kind = "warmup", warmup_steps = 100, then = { kind = "cosine", T_max = 900 } }"#,
    },
    ScheduleInfo {
        kind: "Sequential",
        aliases: &["sequential", "SequentialLR"],
        formula: "α_k = schedules[i](k − milestones[i−1]) for milestones[i−1] ≤ k < milestones[i]",
        args: &[
            req("schedules", "non-empty list of schedules"),
            req(
                "milestones",
                "len(schedules) − 1 strictly increasing steps ≥ 1",
            ),
        ],
        example: r#"{ kind = "sequential", milestones = [50], schedules = [{ kind = "constant" }, { kind = "strongly_convex", mu = 0.1 }] }"#,
    },
    ScheduleInfo {
        kind: "ChainedScheduler",
        aliases: &["chained", "chain"],
        formula: "α_k = s_n(… s_1(α₀, k) …, k): each schedule scales the previous one's lr",
        args: &[req("schedulers", "non-empty list of schedules")],
        example: r#"{ kind = "ChainedScheduler", schedulers = [{ kind = "ConstantLR", factor = 0.1, total_iters = 4 }, { kind = "ExponentialLR", gamma = 0.9 }] }"#,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleSpec;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// Parses a catalog example (a TOML inline table) into a spec.
    fn parse_example(example: &str) -> Result<ScheduleSpec, String> {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            schedule: ScheduleSpec,
        }
        toml::from_str::<Wrapper>(&format!("schedule = {example}"))
            .map(|w| w.schedule)
            .map_err(|e| e.to_string())
    }

    /// The kinds and aliases serde lists for an unknown `kind`: the authoritative set of names.
    fn serde_names() -> BTreeSet<String> {
        let e = serde_json::from_str::<ScheduleSpec>(r#"{"kind": "no such kind"}"#)
            .unwrap_err()
            .to_string();
        let list = e.split("expected one of").nth(1).unwrap_or_default();
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn one_entry_per_kind_and_every_alias_listed() {
        let kinds: BTreeSet<&str> = CATALOG.iter().map(|i| i.kind).collect();
        assert_eq!(kinds.len(), CATALOG.len(), "duplicate kind in CATALOG");
        let listed: BTreeSet<String> = CATALOG
            .iter()
            .flat_map(|i| std::iter::once(&i.kind).chain(i.aliases))
            .map(|n| n.to_string())
            .collect();
        let names = serde_names();
        assert!(
            names.contains("StepLR") && names.contains("warmup"),
            "{names:?}"
        );
        assert_eq!(listed, names);
    }

    #[test]
    fn examples_build_and_aliases_parse() {
        for info in CATALOG {
            let spec = parse_example(info.example).unwrap_or_else(|e| panic!("{}: {e}", info.kind));
            assert_eq!(spec.kind(), info.kind);
            let lr = spec.build().unwrap().lr(0.1, 12345);
            assert!(lr.is_finite() && lr >= 0.0, "{}: {lr}", info.kind);
            let mut json = serde_json::to_value(&spec).unwrap();
            for name in std::iter::once(&info.kind).chain(info.aliases) {
                json["kind"] = Value::from(*name);
                let again: ScheduleSpec =
                    serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(again, spec, "{name}");
            }
        }
    }

    #[test]
    fn documented_arguments_are_the_real_ones() {
        for info in CATALOG {
            let spec = parse_example(info.example).unwrap();
            let Value::Object(full) = serde_json::to_value(&spec).unwrap() else {
                panic!("{} serializes to a non-object", info.kind);
            };
            let documented: BTreeSet<&str> = info.args.iter().map(|a| a.name).collect();
            let actual: BTreeSet<&str> = full.keys().map(String::as_str).collect();
            let mut expected = documented.clone();
            expected.insert("kind");
            assert_eq!(actual, expected, "{}", info.kind);
            for arg in info.args {
                let mut without = full.clone();
                without.remove(arg.name);
                let parsed = serde_json::from_value::<ScheduleSpec>(Value::Object(without));
                match arg.default {
                    Some(d) => {
                        let d: Value = serde_json::from_str(d).unwrap();
                        let filled = serde_json::to_value(parsed.unwrap()).unwrap();
                        assert_eq!(filled[arg.name], d, "{}.{}", info.kind, arg.name);
                    }
                    None => {
                        let e = parsed.err().map(|e| e.to_string()).unwrap_or_default();
                        assert!(
                            e.contains("missing field"),
                            "{}.{}: {e}",
                            info.kind,
                            arg.name
                        );
                    }
                }
            }
        }
    }

    /// Each `schedule = ...` line or `[schedule]` table in the ```toml blocks of a Markdown file.
    fn toml_examples(markdown: &str) -> Vec<String> {
        let mut docs: Vec<String> = Vec::new();
        let mut in_block = false;
        for line in markdown.lines() {
            if line.starts_with("```") {
                in_block = line == "```toml";
                continue;
            }
            if !in_block {
                continue;
            }
            if line.starts_with("schedule =") || line == "[schedule]" {
                docs.push(String::new());
            }
            if let Some(doc) = docs.last_mut() {
                doc.push_str(line);
                doc.push('\n');
            }
        }
        docs
    }

    #[test]
    fn docs_examples_parse_and_build() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/schedules.md");
        let markdown = std::fs::read_to_string(path).expect("docs/schedules.md is in the repo");
        let examples = toml_examples(&markdown);
        assert!(
            examples.len() >= CATALOG.len(),
            "{} examples",
            examples.len()
        );
        let mut kinds = BTreeSet::new();
        for text in &examples {
            #[derive(serde::Deserialize)]
            struct Experiment {
                schedule: ScheduleSpec,
            }
            let spec = toml::from_str::<Experiment>(text)
                .unwrap_or_else(|e| panic!("{text}: {e}"))
                .schedule;
            spec.build().unwrap_or_else(|e| panic!("{text}: {e}"));
            kinds.insert(spec.kind());
        }
        // every kind has an example
        assert_eq!(kinds.len(), CATALOG.len(), "{kinds:?}");
    }

    #[test]
    fn summary_lists_every_argument() {
        let info = CATALOG.iter().find(|i| i.kind == "StepLR").unwrap();
        assert_eq!(
            info.args_summary(),
            "step_size (required; integer ≥ 1), gamma = 0.1 (in (0, 1])"
        );
    }
}
