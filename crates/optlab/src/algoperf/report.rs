//! What `optlab algoperf score` writes: `scores.json`, the time-to-target tables (Markdown and
//! CSV), the performance-profile plots (PNG and SVG) and a self-contained HTML page, for the
//! primary time column and for every other view (e.g. `global_step`, the machine-independent
//! one).
//!
//! `scores.json` holds, for the primary time column, `scores` (submission → score),
//! `time_to_target` (submission → workload → median time over studies, `null` when not reached
//! or not run; before the 4× cap) and `ratios` (after the cap, `null` when it does not count),
//! the per-study details, ρ(τ), and the same three maps for each other view under `views`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::scoring::{Scoring, SubmissionScore, WorkloadResult};
use super::workloads::WorkloadsFile;
use super::{AlgoPerfError, io_err, write_atomic, write_json};
use crate::plot::{self, ProfileCurve};
use crate::reproduce::{CSS, base64, esc, fmt_num};

/// The scores of one set of logs, for one or more time columns.
#[derive(Clone, Debug)]
pub struct ScoreReport {
    /// The logs' directory.
    pub results_dir: PathBuf,
    /// The workloads file used.
    pub workloads_file: PathBuf,
    /// The targets.
    pub workloads: WorkloadsFile,
    /// The primary view (the `--time-column`).
    pub primary: Scoring,
    /// Other views (time columns every trial has).
    pub views: Vec<Scoring>,
    /// Remarks (skipped directories, ignored workloads, ...).
    pub notes: Vec<String>,
}

const DOC: &str = "AlgoPerf v0.6 external-tuning scoring (optlab algoperf score). time_to_target: \
    per trial the time at the first evaluation meeting the validation target, per study the \
    fastest trial, per workload the median over studies (null: not reached or not run); ratios: \
    to the per-workload best after setting times above 4x the best to infinity (null: does not \
    count); scores: trapezoid integral of rho(tau) over tau = linspace(1, 4, 100) divided by 3, \
    rho(tau) = fraction of the workloads of workloads.json with ratio <= tau.";

fn num_or_null(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

/// `scores`, `time_to_target` and `ratios` of a view.
fn maps(s: &Scoring) -> (Map<String, Value>, Map<String, Value>, Map<String, Value>) {
    let (mut scores, mut ttt, mut ratios) = (Map::new(), Map::new(), Map::new());
    for sub in &s.submissions {
        scores.insert(sub.name.clone(), json!(sub.score));
        let mut t = Map::new();
        let mut r = Map::new();
        for (w, res) in &sub.workloads {
            t.insert(w.clone(), num_or_null(res.time_to_target));
            r.insert(w.clone(), num_or_null(res.ratio));
        }
        ttt.insert(sub.name.clone(), Value::Object(t));
        ratios.insert(sub.name.clone(), Value::Object(r));
    }
    (scores, ttt, ratios)
}

impl ScoreReport {
    /// The contents of `scores.json`.
    pub fn scores_json(&self) -> Value {
        let p = &self.primary;
        let (scores, ttt, ratios) = maps(p);
        let studies: Map<String, Value> = p
            .submissions
            .iter()
            .map(|s| {
                let per: Map<String, Value> = s
                    .workloads
                    .iter()
                    .map(|(w, r)| (w.clone(), json!(r.studies)))
                    .collect();
                (s.name.clone(), Value::Object(per))
            })
            .collect();
        let rho: Map<String, Value> = p
            .submissions
            .iter()
            .map(|s| (s.name.clone(), json!(s.rho)))
            .collect();
        let views: Map<String, Value> = self
            .views
            .iter()
            .map(|v| {
                let (s, t, r) = maps(v);
                (
                    v.time_column.clone(),
                    json!({"scores": s, "time_to_target": t, "ratios": r}),
                )
            })
            .collect();
        json!({
            "doc": DOC,
            "time_column": p.time_column,
            "workloads": p.workloads,
            "scores": scores,
            "time_to_target": ttt,
            "ratios": ratios,
            "best": p.best.iter().map(|(w, b)| (w.clone(), num_or_null(*b))).collect::<Map<_, _>>(),
            "studies": studies,
            "tau": p.taus,
            "rho": rho,
            "views": views,
            "ignored_workloads": p.ignored_workloads,
            "notes": self.notes,
        })
    }

    /// Every view, primary first.
    pub fn all_views(&self) -> impl Iterator<Item = &Scoring> {
        std::iter::once(&self.primary).chain(&self.views)
    }

    /// Writes everything into `out` (created); returns the file names written.
    pub fn write(&self, out: &Path) -> Result<Vec<String>, AlgoPerfError> {
        std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
        let mut files = Vec::new();
        write_json(&out.join("scores.json"), &self.scores_json())?;
        files.push("scores.json".to_string());
        for (i, v) in self.all_views().enumerate() {
            let suffix = if i == 0 {
                String::new()
            } else {
                format!("_{}", file_safe(&v.time_column))
            };
            let md = format!("time_to_target{suffix}.md");
            write_atomic(&out.join(&md), markdown_table(v).as_bytes())?;
            let csv = format!("time_to_target{suffix}.csv");
            write_atomic(&out.join(&csv), csv_table(v).as_bytes())?;
            files.extend([md, csv]);
            for ext in ["png", "svg"] {
                let name = format!("performance_profile{suffix}.{ext}");
                profile_plot(&out.join(&name), v)?;
                files.push(name);
            }
        }
        let html = self.html(out)?;
        write_atomic(&out.join("index.html"), html.as_bytes())?;
        files.push("index.html".into());
        Ok(files)
    }

    fn html(&self, out: &Path) -> Result<String, AlgoPerfError> {
        let mut h = String::new();
        h.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>optlab algoperf — scores</title>\n<style>\n",
        );
        h.push_str(CSS);
        h.push_str("td.num{text-align:right}</style>\n</head>\n<body>\n<main>\n");
        h.push_str("<h1>optlab algoperf — AlgoPerf v0.6 external-tuning scores</h1>\n");
        let p = &self.primary;
        let _ = writeln!(
            h,
            "<p class=\"meta\">optlab {} · logs <code>{}</code> · targets <code>{}</code> · {} \
             submission(s) × {} workload(s) · time columns: {}</p>",
            env!("CARGO_PKG_VERSION"),
            esc(&self.results_dir.display().to_string()),
            esc(&self.workloads_file.display().to_string()),
            p.submissions.len(),
            p.workloads.len(),
            self.all_views()
                .map(|v| format!("<code>{}</code>", esc(&v.time_column)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        // leaderboard
        h.push_str(
            "<section>\n<h2>Leaderboard</h2>\n<table>\n<tr><th>rank</th><th>submission</th>",
        );
        for v in self.all_views() {
            let _ = write!(h, "<th>score by <code>{}</code></th>", esc(&v.time_column));
        }
        h.push_str("<th>targets reached</th></tr>\n");
        for (rank, s) in p.ranking().iter().enumerate() {
            let reached = s
                .workloads
                .values()
                .filter(|r| r.time_to_target.is_finite())
                .count();
            let _ = write!(h, "<tr><td>{}</td><td>{}</td>", rank + 1, esc(&s.name));
            for v in self.all_views() {
                let sc = v.submission(&s.name).map_or(f64::NAN, |x| x.score);
                let _ = write!(h, "<td class=\"num\">{sc:.4}</td>");
            }
            let _ = writeln!(h, "<td>{reached}/{}</td></tr>", p.workloads.len());
        }
        h.push_str("</table>\n</section>\n");
        for (i, v) in self.all_views().enumerate() {
            let suffix = if i == 0 {
                String::new()
            } else {
                format!("_{}", file_safe(&v.time_column))
            };
            let png = out.join(format!("performance_profile{suffix}.png"));
            let bytes = std::fs::read(&png).map_err(|e| io_err(&png, e))?;
            let _ = writeln!(
                h,
                "<section>\n<h2>Time column <code>{c}</code></h2>\n<figure><img alt=\"performance \
                 profile by {c}\" src=\"data:image/png;base64,{data}\"><figcaption>Performance \
                 profiles by <code>{c}</code>: ρ(τ) = fraction of the {n} workloads reached within \
                 τ × the best submission's {c}; score = area under the curve / 3.</figcaption>\
                 </figure>",
                c = esc(&v.time_column),
                data = base64(&bytes),
                n = v.workloads.len(),
            );
            h.push_str(&html_table(v));
            h.push_str("</section>\n");
        }
        // workloads
        h.push_str(
            "<section>\n<h2>Workloads</h2>\n<table>\n<tr><th>workload</th><th>metric</th>\
             <th>target</th><th>goal</th>",
        );
        for v in self.all_views() {
            let _ = write!(h, "<th>best <code>{}</code></th>", esc(&v.time_column));
        }
        h.push_str("</tr>\n");
        for (w, t) in &self.workloads.workloads {
            let goal = match t.minimizes() {
                Ok(true) => "≤ target",
                Ok(false) => "≥ target",
                Err(_) => "?",
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td>{goal}</td>",
                esc(w),
                esc(&t.metric),
                fmt_num(t.target)
            );
            for v in self.all_views() {
                let b = v.best.get(w).copied().unwrap_or(f64::NAN);
                let _ = write!(h, "<td class=\"num\">{}</td>", time_text(b));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n</section>\n");
        // per-study details
        h.push_str(&format!(
            "<section>\n<h2>Studies (by <code>{}</code>)</h2>\n",
            esc(&p.time_column)
        ));
        for s in &p.submissions {
            let _ = writeln!(h, "<details><summary>{}</summary>", esc(&s.name));
            h.push_str(
                "<table>\n<tr><th>workload</th><th>study</th><th>trials reaching the target</th>\
                 <th>fastest trial</th><th>its time</th><th>its hyperparameters</th></tr>\n",
            );
            for (w, r) in &s.workloads {
                if r.studies.is_empty() {
                    let _ = writeln!(
                        h,
                        "<tr><td>{}</td><td colspan=\"5\">not run</td></tr>",
                        esc(w)
                    );
                }
                for st in &r.studies {
                    let hp = st
                        .hparams
                        .as_ref()
                        .map(|v| serde_json::to_string(v).unwrap_or_default())
                        .unwrap_or_default();
                    let _ = writeln!(
                        h,
                        "<tr><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td class=\"num\">{}</td>\
                         <td><code>{}</code></td></tr>",
                        esc(w),
                        st.study,
                        st.trials_reached,
                        st.trials,
                        st.best_trial.map_or("—".into(), |t| t.to_string()),
                        time_text(st.time),
                        esc(&hp)
                    );
                }
            }
            h.push_str("</table>\n</details>\n");
        }
        h.push_str("</section>\n");
        h.push_str(RULES_HTML);
        if !self.notes.is_empty() || !p.ignored_workloads.is_empty() {
            h.push_str("<section>\n<h2>Notes</h2>\n<ul class=\"notes\">\n");
            for (s, ws) in &p.ignored_workloads {
                let _ = writeln!(
                    h,
                    "<li>{}: workloads not in the targets file, ignored: {}</li>",
                    esc(s),
                    esc(&ws.join(", "))
                );
            }
            for n in &self.notes {
                let _ = writeln!(h, "<li>{}</li>", esc(n));
            }
            h.push_str("</ul>\n</section>\n");
        }
        h.push_str("</main>\n</body>\n</html>\n");
        Ok(h)
    }
}

const RULES_HTML: &str = "<section>\n<h2>Rules</h2>\n<ol>\n\
<li>Per trial: the time at the first evaluation whose validation metric meets the target \
(an empty cell or NaN never does); ∞ if none does.</li>\n\
<li>Per study: the fastest trial.</li>\n\
<li>Per workload: the median over studies.</li>\n\
<li>Times above 4× the per-workload best over submissions become ∞; ratios are to that best.</li>\n\
<li>ρ(τ) = fraction of the workloads of the targets file (run or not) with ratio ≤ τ, on \
τ = linspace(1, 4, 100); score = trapezoid integral of ρ over τ, divided by 3.</li>\n\
</ol>\n</section>\n";

/// A time for a table: the number, `—` for ∞ (not reached), `not run` for NaN.
fn time_text(t: f64) -> String {
    if t.is_nan() {
        "not run".into()
    } else if t.is_infinite() {
        "—".into()
    } else {
        fmt_num(t)
    }
}

/// A cell: time and ratio, or why the workload does not count.
fn cell(r: &WorkloadResult) -> String {
    let t = r.time_to_target;
    if t.is_nan() {
        "not run".into()
    } else if t.is_infinite() {
        "not reached".into()
    } else if r.ratio.is_infinite() {
        format!("{} (> 4× best)", fmt_num(t))
    } else {
        format!("{} ({:.2}×)", fmt_num(t), r.ratio)
    }
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The time-to-target table as Markdown: one row per submission (best score first).
pub fn markdown_table(s: &Scoring) -> String {
    let mut t = format!(
        "Time to target by `{}` (median over studies of the fastest trial; ratio to the best)\n\n\
         | submission | score |",
        s.time_column
    );
    for w in &s.workloads {
        let _ = write!(t, " {w} |");
    }
    t.push_str("\n|---|---|");
    for _ in &s.workloads {
        t.push_str("---|");
    }
    t.push('\n');
    for sub in s.ranking() {
        let _ = write!(t, "| {} | {:.4} |", sub.name, sub.score);
        for w in &s.workloads {
            let _ = write!(t, " {} |", sub.workloads.get(w).map_or(String::new(), cell));
        }
        t.push('\n');
    }
    t
}

/// The time-to-target table as CSV: one row per (submission, workload); empty = not reached.
pub fn csv_table(s: &Scoring) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record([
        "submission",
        "workload",
        "time_column",
        "time_to_target",
        "ratio",
        "studies",
        "studies_reached",
        "score",
    ]);
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v:?}")
        } else {
            String::new()
        }
    };
    for sub in &s.submissions {
        write_rows(&mut w, s, sub, &num);
    }
    String::from_utf8_lossy(&w.into_inner().unwrap_or_default()).into_owned()
}

fn write_rows(
    w: &mut csv::Writer<Vec<u8>>,
    s: &Scoring,
    sub: &SubmissionScore,
    num: &dyn Fn(f64) -> String,
) {
    for (wl, r) in &sub.workloads {
        let reached = r.studies.iter().filter(|x| x.time.is_finite()).count();
        let _ = w.write_record([
            sub.name.clone(),
            wl.clone(),
            s.time_column.clone(),
            num(r.time_to_target),
            num(r.ratio),
            r.studies.len().to_string(),
            reached.to_string(),
            format!("{:?}", sub.score),
        ]);
    }
}

fn html_table(s: &Scoring) -> String {
    let mut h = String::from("<table>\n<tr><th>submission</th><th>score</th>");
    for w in &s.workloads {
        let _ = write!(h, "<th>{}</th>", esc(w));
    }
    h.push_str("</tr>\n");
    for sub in s.ranking() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{:.4}</td>",
            esc(&sub.name),
            sub.score
        );
        for w in &s.workloads {
            let _ = write!(
                h,
                "<td class=\"num\">{}</td>",
                esc(&sub.workloads.get(w).map_or(String::new(), cell))
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    h
}

/// Draws the profiles of a view (curves labelled with their scores, best first).
pub fn profile_plot(path: &Path, s: &Scoring) -> Result<(), AlgoPerfError> {
    let curves: Vec<ProfileCurve> = s
        .ranking()
        .into_iter()
        .map(|sub| ProfileCurve {
            label: format!("{} (score {:.3})", sub.name, sub.score),
            points: s
                .taus
                .iter()
                .copied()
                .zip(sub.rho.iter().copied())
                .collect(),
        })
        .collect();
    plot::performance_profile_plot(
        path,
        &curves,
        &format!("Performance profiles by {}", s.time_column),
        &format!("τ ({c} to target / best {c} to target)", c = s.time_column),
    )?;
    Ok(())
}

/// Scores the logs under `dir` against `workloads` (default `dir/workloads.json`) by
/// `time_column`, and also by `global_step` (or by `score` when the primary column is
/// `global_step`) when every trial has that column.
pub fn score_results(
    dir: &Path,
    workloads: Option<&Path>,
    time_column: &str,
) -> Result<ScoreReport, AlgoPerfError> {
    let workloads_file = workloads.map_or_else(
        || dir.join(super::workloads::WORKLOADS_FILE),
        Path::to_path_buf,
    );
    if !workloads_file.is_file() {
        return Err(AlgoPerfError::Invalid(format!(
            "{}: no such workloads file (give --workloads FILE with each workload's metric, \
             target and goal)",
            workloads_file.display()
        )));
    }
    let targets = WorkloadsFile::read(&workloads_file)?;
    let (logs, read) = super::logs::read_results(dir)?;
    if logs.is_empty() {
        return Err(AlgoPerfError::Empty(format!(
            "{}: no submission logs (<submission>/study_<k>/<workload>_<framework>/trial_<j>/\
             eval_measurements.csv)",
            dir.display()
        )));
    }
    let mut notes = read.notes;
    for (name, l) in &logs {
        for (k, w, t) in l.trials() {
            for (row, col, text) in &t.measurements.non_numeric {
                notes.push(format!(
                    "{name}/study_{k}/{w}/trial_{}: row {} column {col}: `{text}` is not a \
                     number (read as a failed evaluation)",
                    t.trial,
                    row + 1
                ));
            }
        }
    }
    let primary = super::scoring::score(&logs, &targets, time_column)?;
    let other = if time_column == "global_step" {
        super::scoring::DEFAULT_TIME_COLUMN
    } else {
        "global_step"
    };
    let mut views = Vec::new();
    if super::scoring::has_column(&logs, other) {
        views.push(super::scoring::score(&logs, &targets, other)?);
    } else {
        notes.push(format!(
            "no `{other}` view: not every trial's eval_measurements.csv has that column"
        ));
    }
    Ok(ScoreReport {
        results_dir: dir.to_path_buf(),
        workloads_file,
        workloads: targets,
        primary,
        views,
        notes,
    })
}
