//! The one writer of a run directory, used by `optlab run` and `optlab train`: `metrics.csv`
//! (the records), `summary.json` (a command's typed summary), plots as PNG + SVG pairs, and any
//! other file a command adds (checkpoints, samples). It remembers what it wrote.

use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::plot::{self, ConvergenceOptions, PlotError};
use crate::record::{Band, RecordError, Records};

/// A file of the run directory that could not be written, naming what failed.
#[derive(Debug, Error)]
pub enum OutputError {
    /// Creating the directory or writing a file.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// Drawing a plot.
    #[error("cannot draw {path}: {source}")]
    Plot {
        /// The plot file.
        path: PathBuf,
        /// The plot's error.
        source: PlotError,
    },
    /// Writing the records (or reading curves from them).
    #[error("cannot write the records to {path}: {source}")]
    Records {
        /// `metrics.csv`, or the plot the curves were for.
        path: PathBuf,
        /// The records' error.
        source: RecordError,
    },
    /// Serializing the summary.
    #[error("cannot serialize {path}: {message}")]
    Summary {
        /// `summary.json`.
        path: PathBuf,
        /// serde's message.
        message: String,
    },
}

/// A run directory being written.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    written: Vec<PathBuf>,
}

impl RunDir {
    /// Creates `path` (and its parents) if needed.
    pub fn create(path: impl Into<PathBuf>) -> Result<Self, OutputError> {
        let path = path.into();
        std::fs::create_dir_all(&path).map_err(|source| OutputError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(RunDir {
            path,
            written: Vec::new(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The files written so far, in order.
    pub fn written(&self) -> &[PathBuf] {
        &self.written
    }

    /// `<dir>/<name>`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// `metrics.csv`.
    pub fn records(&mut self, records: &Records) -> Result<(), OutputError> {
        let path = self.file("metrics.csv");
        let file = std::fs::File::create(&path).map_err(|source| OutputError::Write {
            path: path.clone(),
            source,
        })?;
        records
            .write_csv(std::io::BufWriter::new(file))
            .map_err(|source| OutputError::Records {
                path: path.clone(),
                source,
            })?;
        self.written.push(path);
        Ok(())
    }

    /// `summary.json`: `summary` as pretty JSON and a newline.
    pub fn summary(&mut self, summary: &impl Serialize) -> Result<(), OutputError> {
        let path = self.file("summary.json");
        let json = serde_json::to_string_pretty(summary).map_err(|e| OutputError::Summary {
            path: path.clone(),
            message: e.to_string(),
        })?;
        self.text("summary.json", &(json + "\n"))
    }

    /// A text file `name`.
    pub fn text(&mut self, name: &str, text: &str) -> Result<(), OutputError> {
        let path = self.file(name);
        std::fs::write(&path, text).map_err(|source| OutputError::Write {
            path: path.clone(),
            source,
        })?;
        self.written.push(path);
        Ok(())
    }

    /// A file written by `write` (a checkpoint, a plot of another kind): the writer is given the
    /// path and its error is reported as a write error of that path.
    pub fn with_file<E: std::fmt::Display>(
        &mut self,
        name: &str,
        write: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<(), OutputError> {
        let path = self.file(name);
        write(&path).map_err(|e| OutputError::Write {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        self.written.push(path);
        Ok(())
    }

    /// `<stem>.png` and `<stem>.svg` drawn by `draw` (contours, function graphs).
    pub fn plot_pair(
        &mut self,
        stem: &str,
        mut draw: impl FnMut(&Path) -> Result<(), PlotError>,
    ) -> Result<(), OutputError> {
        for ext in ["png", "svg"] {
            let path = self.file(&format!("{stem}.{ext}"));
            draw(&path).map_err(|source| OutputError::Plot {
                path: path.clone(),
                source,
            })?;
            self.written.push(path);
        }
        Ok(())
    }

    /// `<stem>.png` and `<stem>.svg`: curves over seeds; nothing when no band has a point.
    pub fn curves(
        &mut self,
        stem: &str,
        bands: &[Band],
        opts: &ConvergenceOptions,
    ) -> Result<(), OutputError> {
        if bands.iter().all(|b| b.points.is_empty()) {
            return Ok(());
        }
        self.plot_pair(stem, |p| plot::convergence_plot(p, bands, opts))
    }

    /// The bands of `metric` for every method (with dashed `<metric>_avg` when `averages`), or
    /// the error naming the plot they were for.
    pub fn bands(
        &self,
        stem: &str,
        records: &Records,
        metric: &str,
        axis: crate::record::XAxis,
        averages: bool,
    ) -> Result<Vec<Band>, OutputError> {
        plot::bands(records, metric, axis, averages).map_err(|source| OutputError::Plot {
            path: self.file(&format!("{stem}.png")),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Direction, Metric, Record, Schema, XAxis};

    #[test]
    fn writes_records_summary_and_curves_and_names_failures() {
        let dir = std::env::temp_dir().join(format!("optlab-rundir-{}", std::process::id()));
        let mut out = RunDir::create(dir.join("run")).unwrap();
        let schema = Schema::new(vec![Metric::new("loss", "f(x)", Direction::Below)]).unwrap();
        let mut r = Records::new(schema);
        for k in 0..3u64 {
            r.rows.push(Record {
                method: "GD".into(),
                seed: 0,
                iteration: k,
                epoch: k as f64,
                grad_evals: k,
                time_s: 0.0,
                lr: 0.1,
                values: vec![1.0 / (k + 1) as f64],
            });
        }
        out.records(&r).unwrap();
        out.summary(&serde_json::json!({"name": "t"})).unwrap();
        let bands = out
            .bands("convergence", &r, "loss", XAxis::Iterations, true)
            .unwrap();
        out.curves("convergence", &bands, &ConvergenceOptions::default())
            .unwrap();
        let names: Vec<String> = out
            .written()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "metrics.csv",
                "summary.json",
                "convergence.png",
                "convergence.svg"
            ]
        );
        let e = out
            .bands("convergence", &r, "nope", XAxis::Iterations, true)
            .unwrap_err();
        assert!(
            e.to_string().contains("convergence.png") && e.to_string().contains("loss"),
            "{e}"
        );
        // a directory where a file is
        let e = RunDir::create(dir.join("run/metrics.csv")).unwrap_err();
        assert!(matches!(e, OutputError::Write { .. }), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
