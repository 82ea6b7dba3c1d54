//! Reading data sets: CSV (label column chosen by index or header name) and LIBSVM/SVMlight,
//! either optionally gzip-compressed (`.gz`). Nothing is downloaded.
//!
//! - **CSV**: comma-separated numbers, one sample per line. A first line that is not all numbers
//!   is a header (e.g. scikit-learn's `569,30,malignant,benign`, or column names); blank lines and
//!   lines starting with `#` are skipped. Every data line must have the same number of fields.
//! - **LIBSVM**: `label index:value index:value ...` with 1-based increasing indices; missing
//!   indices are zeros; the dimension is the largest index seen.
//!
//! Any malformed line is an error naming the file and the 1-based line number.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ProblemError;

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

/// A dense data set read from a file: features row-major `rows × cols` and one label per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The file it came from (for messages).
    pub file: String,
    /// Number of samples.
    pub rows: usize,
    /// Number of features.
    pub cols: usize,
    /// Features, row-major.
    pub features: Vec<f64>,
    /// Labels (raw values as read).
    pub labels: Vec<f64>,
    /// 1-based line number of each sample in the file.
    pub lines: Vec<usize>,
}

impl Dataset {
    /// Reads `path` in `format` (label column for CSV).
    pub fn read(path: &Path, format: Format, label: &LabelColumn) -> Result<Self, ProblemError> {
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
        match format {
            Format::Csv => parse_csv(reader, &file, label),
            _ => parse_libsvm(reader, &file),
        }
    }

    /// The feature row of sample `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.features[i * self.cols..(i + 1) * self.cols]
    }

    /// Standardizes every feature column to mean 0 and standard deviation 1 (population formula,
    /// 1/m); a constant column is only centred.
    pub fn standardize(&mut self) {
        let (m, n) = (self.rows, self.cols);
        if m == 0 {
            return;
        }
        for j in 0..n {
            let mean = (0..m).map(|i| self.features[i * n + j]).sum::<f64>() / m as f64;
            let var = (0..m)
                .map(|i| (self.features[i * n + j] - mean).powi(2))
                .sum::<f64>()
                / m as f64;
            let sd = var.sqrt();
            let scale = if sd > 1e-12 { 1.0 / sd } else { 1.0 };
            for i in 0..m {
                let v = &mut self.features[i * n + j];
                *v = (*v - mean) * scale;
            }
        }
    }

    /// Labels as ±1 for binary classification: the file must use {0, 1} (0 ↦ −1) or {−1, +1};
    /// anything else is an error naming the file and line.
    pub fn binary_labels(&self) -> Result<Vec<f64>, ProblemError> {
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
                        "label {y} is not binary: labels must be {{0, 1}} or {{-1, +1}}"
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
        let mut out = Vec::with_capacity(self.rows);
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
    let mut ds = Dataset {
        file: file.to_string(),
        rows: 0,
        cols: 0,
        features: Vec::new(),
        labels: Vec::new(),
        lines: Vec::new(),
    };
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
                ds.labels.push(v);
            } else {
                ds.features.push(v);
            }
        }
        ds.lines.push(line);
        ds.rows += 1;
    }
    if ds.rows == 0 {
        return Err(data_err(file, 1, "no data lines".into()));
    }
    ds.cols = width.unwrap_or(1) - 1;
    Ok(ds)
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

fn parse_libsvm(reader: impl BufRead, file: &str) -> Result<Dataset, ProblemError> {
    let mut rows: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut labels = Vec::new();
    let mut lines = Vec::new();
    let mut dim = 0usize;
    for item in read_lines(reader, file) {
        let (line, text) = item?;
        let text = text.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            continue;
        }
        let mut tokens = text.split_whitespace();
        let label_tok = tokens.next().unwrap_or("");
        let y: f64 = label_tok.parse().map_err(|_| {
            data_err(
                file,
                line,
                format!("label `{label_tok}` is not a number (LIBSVM lines start with the label)"),
            )
        })?;
        let mut row = Vec::new();
        let mut last = 0usize;
        for tok in tokens {
            if tok.starts_with("qid:") {
                continue;
            }
            let (i, v) = tok
                .split_once(':')
                .ok_or_else(|| data_err(file, line, format!("`{tok}` is not `index:value`")))?;
            let i: usize = i.parse().map_err(|_| {
                data_err(file, line, format!("index `{i}` is not a positive integer"))
            })?;
            let v: f64 = v
                .parse()
                .map_err(|_| data_err(file, line, format!("value `{v}` is not a number")))?;
            if i == 0 || i <= last {
                return Err(data_err(
                    file,
                    line,
                    format!("index {i} must be ≥ 1 and larger than the previous index {last}"),
                ));
            }
            if !v.is_finite() {
                return Err(data_err(file, line, format!("value {v} is not finite")));
            }
            last = i;
            dim = dim.max(i);
            row.push((i - 1, v));
        }
        rows.push(row);
        labels.push(y);
        lines.push(line);
    }
    if rows.is_empty() {
        return Err(data_err(file, 1, "no data lines".into()));
    }
    let mut features = vec![0.0; rows.len() * dim];
    for (r, row) in rows.iter().enumerate() {
        for &(j, v) in row {
            features[r * dim + j] = v;
        }
    }
    Ok(Dataset {
        file: file.to_string(),
        rows: rows.len(),
        cols: dim,
        features,
        labels,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str, label: LabelColumn) -> Result<Dataset, ProblemError> {
        parse_csv(text.as_bytes(), "t.csv", &label)
    }

    #[test]
    fn csv_with_header_and_label_column() {
        let d = csv("a,b,y\n1,2,0\n3,4,1\n", LabelColumn::Name("y".into())).unwrap();
        assert_eq!((d.rows, d.cols), (2, 2));
        assert_eq!(d.features, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.binary_labels().unwrap(), vec![-1.0, 1.0]);
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
            .binary_labels()
            .unwrap_err();
        assert!(
            e.to_string().starts_with("t.csv:2: label 2 is not binary"),
            "{e}"
        );
        let e = csv("1,2,0\n3,4,-1\n", LabelColumn::default())
            .unwrap()
            .binary_labels()
            .unwrap_err();
        assert!(e.to_string().contains("mix"), "{e}");
        let e = csv("1,2,0\n", LabelColumn::Index(5)).unwrap_err();
        assert!(e.to_string().contains("label column 5"), "{e}");
        let e = csv("a,b\n1,0\n", LabelColumn::Name("z".into())).unwrap_err();
        assert!(e.to_string().contains("columns: a, b"), "{e}");
    }

    #[test]
    fn libsvm_sparse_rows() {
        let d = parse_libsvm("+1 1:0.5 3:2\n-1 2:1 # comment\n".as_bytes(), "t.svm").unwrap();
        assert_eq!((d.rows, d.cols), (2, 3));
        assert_eq!(d.features, vec![0.5, 0.0, 2.0, 0.0, 1.0, 0.0]);
        assert_eq!(d.binary_labels().unwrap(), vec![1.0, -1.0]);
        let e = parse_libsvm("1 2:1 1:3\n".as_bytes(), "t.svm").unwrap_err();
        assert!(e.to_string().starts_with("t.svm:1:"), "{e}");
        let e = parse_libsvm("1 1:1\n1 a\n".as_bytes(), "t.svm").unwrap_err();
        assert!(e.to_string().starts_with("t.svm:2:"), "{e}");
    }

    #[test]
    fn standardize_and_classes() {
        let mut d = csv("1,5,0\n3,5,2\n", LabelColumn::default()).unwrap();
        d.standardize();
        assert_eq!(d.features, vec![-1.0, 0.0, 1.0, 0.0]);
        assert_eq!(d.class_labels().unwrap(), (vec![0, 2], 3));
        let e = csv("1,0.5\n", LabelColumn::default())
            .unwrap()
            .class_labels()
            .unwrap_err();
        assert!(e.to_string().contains("t.csv:1: label 0.5"), "{e}");
    }
}
