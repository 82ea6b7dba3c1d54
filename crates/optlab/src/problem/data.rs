//! Reading data sets: CSV (label column chosen by index or header name) and LIBSVM/SVMlight,
//! either optionally gzip-compressed (`.gz`). Nothing is downloaded.
//!
//! - **CSV**: comma-separated numbers, one sample per line. A first line that is not all numbers
//!   is a header (e.g. scikit-learn's `569,30,malignant,benign`, or column names); blank lines and
//!   lines starting with `#` are skipped. Every data line must have the same number of fields.
//! - **LIBSVM**: `label [qid:Q] index:value ...`, read as scikit-learn's `load_svmlight_file`
//!   reads it (index base `zero_based = "auto" | true | false`, `n_features`; see [`libsvm`]),
//!   into sparse rows: memory is proportional to the stored entries.
//!
//! CSV data is held dense and LIBSVM data sparse ([`Design`]); the problems' losses and gradients
//! follow the storage. Any malformed line, and any non-finite feature or label, is an error
//! naming the file and the 1-based line number.
//!
//! [`libsvm`]: super::libsvm

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ProblemError;
use super::design::Design;
use super::libsvm::{self, LibsvmOptions};

/// File format of a data set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// From the extension: `.csv` / `.csv.gz` → CSV, anything else → LIBSVM.
    #[default]
    Auto,
    /// Comma-separated values.
    Csv,
    /// LIBSVM / SVMlight sparse format.
    #[serde(alias = "svmlight")]
    Libsvm,
}

/// Which CSV column holds the label: a 0-based index (negative counts from the end: −1 = last)
/// or a header name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LabelColumn {
    /// Column index; −1 is the last column.
    Index(i64),
    /// Column name from the header line.
    Name(String),
}

impl Default for LabelColumn {
    fn default() -> Self {
        LabelColumn::Index(-1)
    }
}

/// How the labels of a binary problem map to the classes −1 and +1: `"auto"` ({0, 1} or
/// {−1, +1}, whichever the file uses; a file mixing 0 and −1 is an error), `"zero_one"`,
/// `"plus_minus_one"`, or two given values `[negative, positive]` (e.g. `[2, 4]`). Any other
/// label is an error naming the file and line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BinaryLabels {
    /// `"auto"`, `"zero_one"` or `"plus_minus_one"`.
    Named(LabelSet),
    /// `[negative, positive]`.
    Values([f64; 2]),
}

impl Default for BinaryLabels {
    fn default() -> Self {
        BinaryLabels::Named(LabelSet::Auto)
    }
}

/// The named label sets of [`BinaryLabels`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelSet {
    /// {0, 1} or {−1, +1}, detected.
    #[default]
    Auto,
    /// 0 ↦ −1, 1 ↦ +1.
    ZeroOne,
    /// −1 ↦ −1, +1 ↦ +1.
    PlusMinusOne,
}

/// Above this many values (m · n), sparse data is not made dense for standardization (2 GiB).
pub const DENSIFY_MAX: usize = 1 << 28;

/// A data set read from a file: the feature matrix (dense for CSV, sparse for LIBSVM) and one
/// label per row.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The file it came from (for messages).
    pub file: String,
    /// Features, m × n.
    pub x: Design<f64>,
    /// Labels (raw values as read).
    pub labels: Vec<f64>,
    /// 1-based line number of each sample in the file.
    pub lines: Vec<usize>,
}

impl Dataset {
    /// Reads `path` in `format` (label column for CSV, reading options for LIBSVM).
    pub fn read(
        path: &Path,
        format: Format,
        label: &LabelColumn,
        svm: &LibsvmOptions,
    ) -> Result<Self, ProblemError> {
        let file = path.display().to_string();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let format = match format {
            Format::Auto if name.trim_end_matches(".gz").ends_with(".csv") => Format::Csv,
            Format::Auto => Format::Libsvm,
            f => f,
        };
        let reader = crate::datafile::open_buffered(path).map_err(|e| ProblemError::Io {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::from_reader(reader, &file, format, label, svm)
    }

    /// Reads a data set from `reader` (`file` names it in errors): CSV with `Format::Csv`,
    /// LIBSVM otherwise (`Format::Auto` is LIBSVM here: there is no file name to look at).
    /// Non-finite values are refused. No file system access.
    pub fn from_reader(
        reader: impl BufRead,
        file: &str,
        format: Format,
        label: &LabelColumn,
        svm: &LibsvmOptions,
    ) -> Result<Self, ProblemError> {
        let ds = match format {
            Format::Csv => parse_csv(reader, file, label)?,
            _ => from_libsvm(libsvm::read(reader, file, svm)?, file)?,
        };
        ds.check_finite()?;
        Ok(ds)
    }

    /// Number of samples m.
    pub fn rows(&self) -> usize {
        self.x.rows()
    }

    /// Number of features n.
    pub fn cols(&self) -> usize {
        self.x.cols()
    }

    /// Every feature and label finite, else an error naming the line.
    fn check_finite(&self) -> Result<(), ProblemError> {
        for i in 0..self.rows() {
            let bad = match self.x.row(i) {
                super::design::Row::Dense(a) => {
                    a.iter().position(|v| !v.is_finite()).map(|j| (j, a[j]))
                }
                super::design::Row::Sparse(idx, val) => val
                    .iter()
                    .position(|v| !v.is_finite())
                    .map(|k| (idx[k] as usize, val[k])),
            };
            if let Some((j, v)) = bad {
                return Err(data_err(
                    &self.file,
                    self.lines[i],
                    format!("feature {j} (zero-based column) is {v}: data must be finite"),
                ));
            }
            if !self.labels[i].is_finite() {
                return Err(data_err(
                    &self.file,
                    self.lines[i],
                    format!("label {} is not finite", self.labels[i]),
                ));
            }
        }
        Ok(())
    }

    /// Standardizes every feature column to mean 0 and standard deviation 1 (population formula,
    /// 1/m); a constant column is only centred. Centring makes sparse data dense: it is converted
    /// first, up to [`DENSIFY_MAX`] values.
    ///
    /// # Errors
    /// Sparse data with more than [`DENSIFY_MAX`] values once dense.
    pub fn standardize(&mut self) -> Result<(), ProblemError> {
        let (m, n) = (self.rows(), self.cols());
        if m == 0 {
            return Ok(());
        }
        if self.x.is_sparse() && m.saturating_mul(n) > DENSIFY_MAX {
            return Err(ProblemError::invalid(
                "data",
                "standardize",
                true,
                format!(
                    "false for sparse data this large: centring makes its {m} × {n} values dense (at most {DENSIFY_MAX})"
                ),
            ));
        }
        let mut a = self.x.to_dense();
        for j in 0..n {
            let mean = (0..m).map(|i| a[i * n + j]).sum::<f64>() / m as f64;
            let var = (0..m).map(|i| (a[i * n + j] - mean).powi(2)).sum::<f64>() / m as f64;
            let sd = var.sqrt();
            let scale = if sd > 1e-12 { 1.0 / sd } else { 1.0 };
            for i in 0..m {
                let v = &mut a[i * n + j];
                *v = (*v - mean) * scale;
            }
        }
        self.x = Design::dense(m, n, a).map_err(|message| ProblemError::Numerical {
            problem: "data",
            message,
        })?;
        Ok(())
    }

    /// Labels as ±1 for binary classification, mapped by `map` (see [`BinaryLabels`]).
    pub fn binary_labels(&self, map: &BinaryLabels) -> Result<Vec<f64>, ProblemError> {
        let (neg, pos, name) = match map {
            BinaryLabels::Named(LabelSet::Auto) => return self.auto_binary_labels(),
            BinaryLabels::Named(LabelSet::ZeroOne) => (0.0, 1.0, "zero_one".to_string()),
            BinaryLabels::Named(LabelSet::PlusMinusOne) => {
                (-1.0, 1.0, "plus_minus_one".to_string())
            }
            BinaryLabels::Values([a, b]) => (*a, *b, format!("[{a}, {b}]")),
        };
        if neg == pos {
            return Err(ProblemError::invalid(
                "data",
                "labels",
                name,
                "two different values [negative, positive]",
            ));
        }
        self.labels
            .iter()
            .enumerate()
            .map(|(k, &y)| {
                if y == pos {
                    Ok(1.0)
                } else if y == neg {
                    Ok(-1.0)
                } else {
                    Err(data_err(
                        &self.file,
                        self.lines[k],
                        format!("label {y} is neither {neg} (negative) nor {pos} (positive) of labels = {name}"),
                    ))
                }
            })
            .collect()
    }

    /// {0, 1} (0 ↦ −1) or {−1, +1}, detected from the file.
    fn auto_binary_labels(&self) -> Result<Vec<f64>, ProblemError> {
        let mut zero_line = None;
        let mut minus_line = None;
        for (k, &y) in self.labels.iter().enumerate() {
            let line = self.lines[k];
            if y == 0.0 {
                zero_line.get_or_insert(line);
            } else if y == -1.0 {
                minus_line.get_or_insert(line);
            } else if y != 1.0 {
                return Err(ProblemError::Data {
                    file: self.file.clone(),
                    line,
                    message: format!(
                        "label {y} is not binary: labels must be {{0, 1}} or {{-1, +1}} (or set `labels = [negative, positive]`)"
                    ),
                });
            }
            if let (Some(a), Some(b)) = (zero_line, minus_line) {
                return Err(ProblemError::Data {
                    file: self.file.clone(),
                    line: a.max(b),
                    message: format!(
                        "labels mix 0 (line {a}) and -1 (line {b}): use {{0, 1}} or {{-1, +1}}"
                    ),
                });
            }
        }
        Ok(self
            .labels
            .iter()
            .map(|&y| if y == 1.0 { 1.0 } else { -1.0 })
            .collect())
    }

    /// Labels as class indices 0..K for multi-class problems; returns them and K. Each label must
    /// be a non-negative integer (below 100 000).
    pub fn class_labels(&self) -> Result<(Vec<usize>, usize), ProblemError> {
        let mut out = Vec::with_capacity(self.rows());
        for (k, &y) in self.labels.iter().enumerate() {
            if !(y >= 0.0 && y.fract() == 0.0 && y < 100_000.0) {
                return Err(ProblemError::Data {
                    file: self.file.clone(),
                    line: self.lines[k],
                    message: format!("label {y} is not a class index (an integer 0, 1, 2, ...)"),
                });
            }
            out.push(y as usize);
        }
        let k = out.iter().max().map_or(0, |&c| c + 1);
        Ok((out, k))
    }
}

fn data_err(file: &str, line: usize, message: String) -> ProblemError {
    ProblemError::Data {
        file: file.to_string(),
        line,
        message,
    }
}

fn read_lines(
    reader: impl BufRead,
    file: &str,
) -> impl Iterator<Item = Result<(usize, String), ProblemError>> {
    reader.lines().enumerate().map(move |(k, l)| {
        l.map(|l| (k + 1, l)).map_err(|e| {
            data_err(
                file,
                k + 1,
                format!("cannot read line (not UTF-8 text, or a corrupt gzip stream): {e}"),
            )
        })
    })
}

fn parse_csv(
    reader: impl BufRead,
    file: &str,
    label: &LabelColumn,
) -> Result<Dataset, ProblemError> {
    let mut header: Option<Vec<String>> = None;
    let mut width: Option<usize> = None;
    let mut label_col: Option<usize> = None;
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut lines = Vec::new();
    let mut first = true;
    for item in read_lines(reader, file) {
        let (line, text) = item?;
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if first {
            first = false;
            if fields.iter().any(|f| f.parse::<f64>().is_err()) {
                header = Some(fields.iter().map(|s| s.to_string()).collect());
                continue;
            }
        }
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w {
            return Err(data_err(
                file,
                line,
                format!(
                    "{} fields, expected {w} like the first data line",
                    fields.len()
                ),
            ));
        }
        if w < 2 {
            return Err(data_err(
                file,
                line,
                "a data line needs at least one feature and a label".into(),
            ));
        }
        let lc = match label_col {
            Some(c) => c,
            None => {
                let c = resolve_label_column(label, w, header.as_deref(), file, line)?;
                label_col = Some(c);
                c
            }
        };
        for (j, f) in fields.iter().enumerate() {
            let v: f64 = f.parse().map_err(|_| {
                data_err(
                    file,
                    line,
                    format!("field {} (`{f}`) is not a number", j + 1),
                )
            })?;
            if !v.is_finite() {
                return Err(data_err(
                    file,
                    line,
                    format!("field {} is not finite ({f})", j + 1),
                ));
            }
            if j == lc {
                labels.push(v);
            } else {
                features.push(v);
            }
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(data_err(file, 1, "no data lines".into()));
    }
    let cols = width.unwrap_or(1) - 1;
    let x = Design::dense(lines.len(), cols, features).map_err(|m| data_err(file, 1, m))?;
    Ok(Dataset {
        file: file.to_string(),
        x,
        labels,
        lines,
    })
}

fn resolve_label_column(
    label: &LabelColumn,
    width: usize,
    header: Option<&[String]>,
    file: &str,
    line: usize,
) -> Result<usize, ProblemError> {
    match label {
        LabelColumn::Index(i) => {
            let w = width as i64;
            let c = if *i < 0 { w + i } else { *i };
            if (0..w).contains(&c) {
                Ok(c as usize)
            } else {
                Err(data_err(
                    file,
                    line,
                    format!(
                        "label column {i} does not exist: lines have {width} fields (valid: 0..{} or -1..-{width})",
                        width - 1
                    ),
                ))
            }
        }
        LabelColumn::Name(name) => {
            let Some(h) = header else {
                return Err(data_err(
                    file,
                    line,
                    format!("label column `{name}` given by name but the file has no header line"),
                ));
            };
            h.iter().position(|c| c == name).ok_or_else(|| {
                data_err(
                    file,
                    1,
                    format!(
                        "no column named `{name}` in the header; columns: {}",
                        h.join(", ")
                    ),
                )
            })
        }
    }
}

/// A parsed LIBSVM file as a sparse data set (an empty one is an error here: a problem needs
/// samples).
fn from_libsvm(d: libsvm::LibsvmData, file: &str) -> Result<Dataset, ProblemError> {
    if d.rows == 0 {
        return Err(data_err(file, 1, "no data lines".into()));
    }
    let x = Design::csr(d.rows, d.cols, d.row_ptr, d.col_idx, d.values)
        .map_err(|m| data_err(file, 1, m))?;
    Ok(Dataset {
        file: file.to_string(),
        x,
        labels: d.labels,
        lines: d.lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTO: BinaryLabels = BinaryLabels::Named(LabelSet::Auto);

    fn csv(text: &str, label: LabelColumn) -> Result<Dataset, ProblemError> {
        parse_csv(text.as_bytes(), "t.csv", &label)
    }

    fn svm(text: &str) -> Result<Dataset, ProblemError> {
        let d = from_libsvm(
            libsvm::parse(text.as_bytes(), "t.svm", &LibsvmOptions::default())?,
            "t.svm",
        )?;
        d.check_finite()?;
        Ok(d)
    }

    #[test]
    fn csv_with_header_and_label_column() {
        let d = csv("a,b,y\n1,2,0\n3,4,1\n", LabelColumn::Name("y".into())).unwrap();
        assert_eq!((d.rows(), d.cols()), (2, 2));
        assert!(!d.x.is_sparse());
        assert_eq!(d.x.to_dense(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.binary_labels(&AUTO).unwrap(), vec![-1.0, 1.0]);
        let d = csv("1,2,0\n3,4,1\n", LabelColumn::Index(0)).unwrap();
        assert_eq!(d.labels, vec![1.0, 3.0]);
        assert_eq!(d.lines, vec![1, 2]);
    }

    #[test]
    fn csv_errors_name_file_and_line() {
        let e = csv("1,2,0\n3,x,1\n", LabelColumn::default()).unwrap_err();
        assert_eq!(e.to_string(), "t.csv:2: field 2 (`x`) is not a number");
        let e = csv("1,2,0\n3,1\n", LabelColumn::default()).unwrap_err();
        assert!(e.to_string().starts_with("t.csv:2: 2 fields"), "{e}");
        let e = csv("1,2,0\n3,4,2\n", LabelColumn::default())
            .unwrap()
            .binary_labels(&AUTO)
            .unwrap_err();
        assert!(
            e.to_string().starts_with("t.csv:2: label 2 is not binary"),
            "{e}"
        );
        let e = csv("1,2,0\n3,4,-1\n", LabelColumn::default())
            .unwrap()
            .binary_labels(&AUTO)
            .unwrap_err();
        assert!(e.to_string().contains("mix"), "{e}");
        let e = csv("1,2,0\n", LabelColumn::Index(5)).unwrap_err();
        assert!(e.to_string().contains("label column 5"), "{e}");
        let e = csv("a,b\n1,0\n", LabelColumn::Name("z".into())).unwrap_err();
        assert!(e.to_string().contains("columns: a, b"), "{e}");
    }

    #[test]
    fn libsvm_sparse_rows() {
        let d = svm("+1 1:0.5 3:2\n-1 2:1 # comment\n").unwrap();
        assert_eq!((d.rows(), d.cols()), (2, 3));
        assert!(d.x.is_sparse());
        assert_eq!(d.x.to_dense(), vec![0.5, 0.0, 2.0, 0.0, 1.0, 0.0]);
        assert_eq!(d.binary_labels(&AUTO).unwrap(), vec![1.0, -1.0]);
        let e = svm("1 2:1 1:3\n").unwrap_err();
        assert!(e.to_string().starts_with("t.svm:1:"), "{e}");
        let e = svm("1 1:1\n1 a\n").unwrap_err();
        assert!(e.to_string().starts_with("t.svm:2:"), "{e}");
        let e = svm("# only a comment\n").unwrap_err();
        assert_eq!(e.to_string(), "t.svm:1: no data lines");
        let e = svm("1 1:1\n1 2:nan\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.svm:2: feature 1 (zero-based column) is NaN: data must be finite"
        );
        let e = svm("1 1:1\ninf 2:1\n").unwrap_err();
        assert_eq!(e.to_string(), "t.svm:2: label inf is not finite");
        // standardizing centres, so sparse data becomes dense
        let mut d = svm("1 1:1\n-1 1:3 2:5\n").unwrap();
        d.standardize().unwrap();
        assert!(!d.x.is_sparse());
        assert_eq!(d.x.to_dense(), vec![-1.0, -1.0, 1.0, 1.0]);
    }

    #[test]
    fn explicit_binary_label_maps() {
        let d = csv("1,2\n3,4\n5,2\n", LabelColumn::default()).unwrap();
        let map = |v: &str| -> BinaryLabels {
            toml::from_str::<toml::Value>(&format!("l = {v}")).unwrap()["l"]
                .clone()
                .try_into()
                .unwrap()
        };
        assert_eq!(
            d.binary_labels(&map("[2, 4]")).unwrap(),
            vec![-1.0, 1.0, -1.0]
        );
        assert_eq!(
            d.binary_labels(&map("[4, 2]")).unwrap(),
            vec![1.0, -1.0, 1.0]
        );
        let e = d.binary_labels(&map("\"zero_one\"")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv:1: label 2 is neither 0 (negative) nor 1 (positive) of labels = zero_one"
        );
        assert!(d.binary_labels(&map("[2, 2]")).is_err());
        let d = csv("1,-1\n3,1\n", LabelColumn::default()).unwrap();
        assert_eq!(
            d.binary_labels(&map("\"plus_minus_one\"")).unwrap(),
            vec![-1.0, 1.0]
        );
        assert!(d.binary_labels(&map("\"zero_one\"")).is_err());
        assert_eq!(d.binary_labels(&map("\"auto\"")).unwrap(), vec![-1.0, 1.0]);
        assert!(
            toml::from_str::<toml::Value>("l = \"both\"").unwrap()["l"]
                .clone()
                .try_into::<BinaryLabels>()
                .is_err()
        );
    }

    #[test]
    fn standardize_and_classes() {
        let mut d = csv("1,5,0\n3,5,2\n", LabelColumn::default()).unwrap();
        d.standardize().unwrap();
        assert_eq!(d.x.to_dense(), vec![-1.0, 0.0, 1.0, 0.0]);
        assert_eq!(d.class_labels().unwrap(), (vec![0, 2], 3));
        let e = csv("1,0.5\n", LabelColumn::default())
            .unwrap()
            .class_labels()
            .unwrap_err();
        assert!(e.to_string().contains("t.csv:1: label 0.5"), "{e}");
    }
}
