//! LIBSVM / SVMlight files, read as scikit-learn's `load_svmlight_file` reads them, straight into
//! compressed sparse rows (memory ≈ the stored entries, never m × n).
//!
//! A line is `label [qid:Q] index:value index:value ... [# comment]`:
//!
//! - everything from the first `#` on is a comment; lines left empty are skipped (they are not
//!   samples); a line with only a label is a sample with no stored entries;
//! - tokens are separated by ASCII whitespace (spaces, tabs, `\r` of Windows line ends);
//! - the label is a float (`+1`, `-1`, `0`, `2.5`, `1e3`, ...);
//! - `qid:Q` is recognized only as the first token after the label (as by scikit-learn): ignored,
//!   or returned as [`LibsvmData::query_ids`] with [`LibsvmOptions::query_id`];
//! - indices are integers, strictly increasing within a line; values are floats; a stored value
//!   of 0 (`3:0`) is kept as an explicit entry, as scikit-learn keeps it.
//!
//! **Index base** ([`ZeroBased`], scikit-learn's `zero_based`): `auto` (default) reads the file as
//! zero-based when any index 0 appears and as one-based otherwise (a file with no stored entries
//! at all counts as zero-based); `true` takes indices as given (index 0 is column 0); `false`
//! refuses index 0 and shifts every index down by one.
//!
//! **Width**: the largest column index + 1, or exactly [`LibsvmOptions::n_features`] when given
//! (an error when the file needs more). A file without stored entries has width 1, and an empty
//! file 0 rows — scikit-learn's shapes.
//!
//! **Errors** name the file, the 1-based line and the offending token (scikit-learn raises for the
//! same inputs): a token without `:`, an index that is not an integer or is negative (or 0 with
//! `zero_based = false`), indices not strictly increasing, a value or label that is not a
//! number, a bad `qid` when query ids are asked for, or more features than `n_features`. Values
//! are returned as written, including NaN and ±inf, as scikit-learn returns them; the problems
//! refuse non-finite data when they are built.
//!
//! [`parse`] works on bytes in memory and [`read`] streams from any reader; both are pure (no
//! file system access) and return typed errors on every input.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::ProblemError;
use super::design::SparseIndex;

/// scikit-learn's `zero_based`: `"auto"`, `true` or `false` (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZeroBased {
    /// `"auto"`: zero-based when any index 0 appears, else one-based.
    #[default]
    Auto,
    /// `true`: zero-based; `false`: one-based.
    Fixed(bool),
}

impl Serialize for ZeroBased {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ZeroBased::Auto => s.serialize_str("auto"),
            ZeroBased::Fixed(b) => s.serialize_bool(*b),
        }
    }
}

impl<'de> Deserialize<'de> for ZeroBased {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(b) => Ok(ZeroBased::Fixed(b)),
            Raw::Str(s) if s == "auto" => Ok(ZeroBased::Auto),
            Raw::Str(s) => Err(serde::de::Error::custom(format!(
                "zero_based = \"{s}\": must be \"auto\", true or false"
            ))),
        }
    }
}

/// Reading options, named as scikit-learn's `load_svmlight_file` names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LibsvmOptions {
    /// Index base (default `"auto"`).
    pub zero_based: ZeroBased,
    /// Number of columns (default: the largest index + 1). Fixes the width, e.g. of a test set
    /// that does not use the last features.
    pub n_features: Option<usize>,
    /// Return the `qid:` of each line (lines without one get 0, like scikit-learn's array).
    pub query_id: bool,
}

/// A LIBSVM file as compressed sparse rows.
#[derive(Clone, Debug, PartialEq)]
pub struct LibsvmData {
    /// Samples (non-empty lines).
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// CSR offsets: row i's entries are `row_ptr[i]..row_ptr[i + 1]` (length rows + 1).
    pub row_ptr: Vec<SparseIndex>,
    /// Column index of each entry (zero-based, strictly increasing within a row).
    pub col_idx: Vec<SparseIndex>,
    /// Value of each entry, as written (explicit zeros kept).
    pub values: Vec<f64>,
    /// One label per row.
    pub labels: Vec<f64>,
    /// The `qid` of each row, when [`LibsvmOptions::query_id`] is set.
    pub query_ids: Option<Vec<i64>>,
    /// 1-based line number of each row in the file.
    pub lines: Vec<usize>,
}

/// Parses a whole file held in memory (`file` names it in errors).
pub fn parse(bytes: &[u8], file: &str, opts: &LibsvmOptions) -> Result<LibsvmData, ProblemError> {
    let mut st = State::new(opts);
    for (k, line) in bytes.split(|&b| b == b'\n').enumerate() {
        st.line(line, k + 1, file)?;
    }
    st.finish(file, opts)
}

/// Parses a file from a reader, line by line (`file` names it in errors).
pub fn read(
    mut reader: impl BufRead,
    file: &str,
    opts: &LibsvmOptions,
) -> Result<LibsvmData, ProblemError> {
    let mut st = State::new(opts);
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let got = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| ProblemError::Data {
                file: file.to_string(),
                line: line_no + 1,
                message: format!("cannot read line (a corrupt gzip stream?): {e}"),
            })?;
        if got == 0 {
            break;
        }
        line_no += 1;
        st.line(&buf, line_no, file)?;
    }
    st.finish(file, opts)
}

/// Writes rows in LIBSVM format (one-based indices, like scikit-learn's `dump_svmlight_file`
/// with `zero_based = False`); values are written with Rust's shortest round-trip formatting.
pub fn write(
    mut out: impl std::io::Write,
    row_ptr: &[SparseIndex],
    col_idx: &[SparseIndex],
    values: &[f64],
    labels: &[f64],
) -> std::io::Result<()> {
    for (i, y) in labels.iter().enumerate() {
        write!(out, "{y}")?;
        let (s, e) = (row_ptr[i] as usize, row_ptr[i + 1] as usize);
        for (j, v) in col_idx[s..e].iter().zip(&values[s..e]) {
            write!(out, " {}:{v}", j + 1)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Parsing state: the CSR arrays grow line by line.
struct State {
    data: LibsvmData,
    zero_allowed: bool,
    /// Smallest and largest index seen, with the line of the largest.
    min_index: Option<u64>,
    max_index: Option<(u64, usize)>,
}

/// The indices a file may hold (stored as u32 after the base shift).
const MAX_INDEX: u64 = SparseIndex::MAX as u64 - 1;

fn err(file: &str, line: usize, message: String) -> ProblemError {
    ProblemError::Data {
        file: file.to_string(),
        line,
        message,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// scikit-learn's `float(token)` on the characters Rust's parser shares with it.
fn number(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.parse::<f64>().ok()
}

impl State {
    fn new(opts: &LibsvmOptions) -> Self {
        State {
            data: LibsvmData {
                rows: 0,
                cols: 0,
                row_ptr: vec![0],
                col_idx: Vec::new(),
                values: Vec::new(),
                labels: Vec::new(),
                query_ids: opts.query_id.then(Vec::new),
                lines: Vec::new(),
            },
            zero_allowed: opts.zero_based != ZeroBased::Fixed(false),
            min_index: None,
            max_index: None,
        }
    }

    fn line(&mut self, raw: &[u8], line: usize, file: &str) -> Result<(), ProblemError> {
        let content = match raw.iter().position(|&b| b == b'#') {
            Some(h) => &raw[..h],
            None => raw,
        };
        // Python's bytes.split(): ASCII whitespace including \x0b
        let mut tokens = content
            .split(|b| b.is_ascii_whitespace() || *b == 0x0b)
            .filter(|t| !t.is_empty());
        let Some(label_tok) = tokens.next() else {
            return Ok(());
        };
        let label = number(label_tok).ok_or_else(|| {
            err(
                file,
                line,
                format!(
                    "label `{}` is not a number (a LIBSVM line starts with its label)",
                    text(label_tok)
                ),
            )
        })?;
        let mut tokens = tokens.peekable();
        if let Some(first) = tokens.peek().copied()
            && first.starts_with(b"qid:")
        {
            tokens.next();
            if let Some(q) = self.data.query_ids.as_mut() {
                let v = &first[4..];
                let id = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| {
                        err(
                            file,
                            line,
                            format!(
                                "`{}`: the query id `{}` is not an integer",
                                text(first),
                                text(v)
                            ),
                        )
                    })?;
                q.push(id);
            }
        } else if let Some(q) = self.data.query_ids.as_mut() {
            q.push(0);
        }
        let mut prev: Option<u64> = None;
        for tok in tokens {
            let Some(colon) = tok.iter().position(|&b| b == b':') else {
                return Err(err(
                    file,
                    line,
                    format!("`{}` is not `index:value`", text(tok)),
                ));
            };
            let (idx_s, val_s) = (&tok[..colon], &tok[colon + 1..]);
            let idx: i64 = std::str::from_utf8(idx_s)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    err(
                        file,
                        line,
                        format!("`{}`: index `{}` is not an integer", text(tok), text(idx_s)),
                    )
                })?;
            if idx < 0 || (idx == 0 && !self.zero_allowed) {
                let why = if idx < 0 {
                    "indices are ≥ 0".to_string()
                } else {
                    "index 0 with zero_based = false (one-based indices start at 1)".to_string()
                };
                return Err(err(
                    file,
                    line,
                    format!("`{}`: invalid index {idx}: {why}", text(tok)),
                ));
            }
            let idx = idx as u64;
            if idx > MAX_INDEX {
                return Err(err(
                    file,
                    line,
                    format!(
                        "`{}`: index {idx} is too large (at most {MAX_INDEX})",
                        text(tok)
                    ),
                ));
            }
            if let Some(p) = prev
                && idx <= p
            {
                return Err(err(
                    file,
                    line,
                    format!(
                        "`{}`: index {idx} after {p}: indices must be sorted and unique within a line",
                        text(tok)
                    ),
                ));
            }
            let v = number(val_s).ok_or_else(|| {
                err(
                    file,
                    line,
                    format!(
                        "`{}`: value `{}` of index {idx} is not a number",
                        text(tok),
                        text(val_s)
                    ),
                )
            })?;
            prev = Some(idx);
            self.min_index = Some(self.min_index.map_or(idx, |m| m.min(idx)));
            if self.max_index.is_none_or(|(m, _)| idx > m) {
                self.max_index = Some((idx, line));
            }
            self.data.col_idx.push(idx as SparseIndex);
            self.data.values.push(v);
        }
        let nnz = self.data.col_idx.len();
        if nnz > SparseIndex::MAX as usize {
            return Err(err(
                file,
                line,
                format!("more than {} stored entries", SparseIndex::MAX),
            ));
        }
        self.data.row_ptr.push(nnz as SparseIndex);
        self.data.labels.push(label);
        self.data.lines.push(line);
        self.data.rows += 1;
        Ok(())
    }

    fn finish(mut self, file: &str, opts: &LibsvmOptions) -> Result<LibsvmData, ProblemError> {
        let one_based = match opts.zero_based {
            ZeroBased::Fixed(z) => !z,
            ZeroBased::Auto => self.min_index.is_some_and(|m| m > 0),
        };
        if one_based {
            self.data.col_idx.iter_mut().for_each(|j| *j -= 1);
        }
        let needed = match self.max_index {
            Some((m, _)) => m as usize + usize::from(!one_based),
            None => 1,
        };
        self.data.cols = match opts.n_features {
            None => needed,
            Some(n) if n >= needed => n,
            Some(n) => {
                let (m, line) = self.max_index.unwrap_or((0, 1));
                let base = if one_based { "one-based" } else { "zero-based" };
                return Err(err(
                    file,
                    line,
                    format!("n_features = {n}, but index {m} ({base}) needs {needed} features"),
                ));
            }
        };
        Ok(self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, opts: LibsvmOptions) -> Result<LibsvmData, ProblemError> {
        let a = parse(text.as_bytes(), "t.svm", &opts);
        let b = read(text.as_bytes(), "t.svm", &opts);
        assert_eq!(
            format!("{a:?}"),
            format!("{b:?}"),
            "parse and read disagree"
        );
        a
    }

    fn dense(d: &LibsvmData) -> Vec<Vec<f64>> {
        (0..d.rows)
            .map(|i| {
                let mut r = vec![0.0; d.cols];
                let (s, e) = (d.row_ptr[i] as usize, d.row_ptr[i + 1] as usize);
                for (j, v) in d.col_idx[s..e].iter().zip(&d.values[s..e]) {
                    r[*j as usize] = *v;
                }
                r
            })
            .collect()
    }

    /// (rows × cols, dense values, labels, stored entries): the expectations below are what
    /// scikit-learn 1.9.1's `load_svmlight_file` returns for the same text and options.
    fn check(
        text: &str,
        opts: LibsvmOptions,
        shape: (usize, usize),
        values: &[&[f64]],
        labels: &[f64],
        nnz: usize,
    ) -> LibsvmData {
        let d = load(text, opts).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!((d.rows, d.cols), shape, "{text:?}");
        assert_eq!(
            dense(&d),
            values.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
            "{text:?}"
        );
        assert_eq!(d.labels, labels, "{text:?}");
        assert_eq!(d.values.len(), nnz, "{text:?}");
        d
    }

    fn opts(zero_based: ZeroBased, n_features: Option<usize>, query_id: bool) -> LibsvmOptions {
        LibsvmOptions {
            zero_based,
            n_features,
            query_id,
        }
    }

    const AUTO: ZeroBased = ZeroBased::Auto;

    #[test]
    fn index_base_as_scikit_learn() {
        // one-based (auto: no index 0)
        check(
            "1 1:0.5 3:2\n-1 2:1\n",
            LibsvmOptions::default(),
            (2, 3),
            &[&[0.5, 0.0, 2.0], &[0.0, 1.0, 0.0]],
            &[1.0, -1.0],
            3,
        );
        // zero-based (auto: an index 0 appears)
        check(
            "1 0:1 2:3\n0 1:2\n",
            LibsvmOptions::default(),
            (2, 3),
            &[&[1.0, 0.0, 3.0], &[0.0, 2.0, 0.0]],
            &[1.0, 0.0],
            3,
        );
        // forced zero-based on a one-based file: column 0 stays empty
        check(
            "1 1:0.5 3:2\n-1 2:1\n",
            opts(ZeroBased::Fixed(true), None, false),
            (2, 4),
            &[&[0.0, 0.5, 0.0, 2.0], &[0.0, 0.0, 1.0, 0.0]],
            &[1.0, -1.0],
            3,
        );
        check(
            "1 1:0.5 3:2\n",
            opts(ZeroBased::Fixed(false), None, false),
            (1, 3),
            &[&[0.5, 0.0, 2.0]],
            &[1.0],
            2,
        );
        // forced one-based refuses index 0
        let e = load("1 0:1 2:3\n", opts(ZeroBased::Fixed(false), None, false)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.svm:1: `0:1`: invalid index 0: index 0 with zero_based = false (one-based indices start at 1)"
        );
    }

    #[test]
    fn qid_comments_label_only_and_explicit_zeros() {
        let d = check(
            "3 qid:1 1:0.5 2:1\n2 qid:1 3:1\n1 qid:2 1:1\n",
            opts(AUTO, None, true),
            (3, 3),
            &[&[0.5, 1.0, 0.0], &[0.0, 0.0, 1.0], &[1.0, 0.0, 0.0]],
            &[3.0, 2.0, 1.0],
            4,
        );
        assert_eq!(d.query_ids, Some(vec![1, 1, 2]));
        // ignored (and not even parsed) unless asked for
        let d = check(
            "3 qid:1 1:0.5 2:1\n2 qid:x 3:1\n",
            LibsvmOptions::default(),
            (2, 3),
            &[&[0.5, 1.0, 0.0], &[0.0, 0.0, 1.0]],
            &[3.0, 2.0],
            3,
        );
        assert_eq!(d.query_ids, None);
        let d = check(
            "# header\n1 1:1 # trailing\n\n  \n-1 2:2#x\n",
            LibsvmOptions::default(),
            (2, 2),
            &[&[1.0, 0.0], &[0.0, 2.0]],
            &[1.0, -1.0],
            2,
        );
        assert_eq!(d.lines, vec![2, 5]);
        check(
            "1\n-1 2:1\n1\n",
            LibsvmOptions::default(),
            (3, 2),
            &[&[0.0, 0.0], &[0.0, 1.0], &[0.0, 0.0]],
            &[1.0, -1.0, 1.0],
            1,
        );
        // no stored entries at all: one (empty) column, zero-based
        check(
            "1\n0\n",
            LibsvmOptions::default(),
            (2, 1),
            &[&[0.0], &[0.0]],
            &[1.0, 0.0],
            0,
        );
        check(
            "1 1:0 2:0.0 3:1\n",
            LibsvmOptions::default(),
            (1, 3),
            &[&[0.0, 0.0, 1.0]],
            &[1.0],
            3,
        );
        // CRLF, tabs, signs, exponents, a leading '+' on an index
        check(
            "+1\t1:1e-1  3:-2.5E1\r\n-1 2:.5\r\n",
            LibsvmOptions::default(),
            (2, 3),
            &[&[0.1, 0.0, -25.0], &[0.0, 0.5, 0.0]],
            &[1.0, -1.0],
            3,
        );
        check(
            "1 +2:1\n",
            LibsvmOptions::default(),
            (1, 2),
            &[&[0.0, 1.0]],
            &[1.0],
            1,
        );
        // empty files: no rows, one column
        for text in ["", "# x\n\n"] {
            check(text, LibsvmOptions::default(), (0, 1), &[], &[], 0);
        }
        // non-finite values are returned as written (the problems refuse them)
        let d = load("1 1:nan\ninf 1:1\n", LibsvmOptions::default()).unwrap();
        assert!(d.values[0].is_nan() && d.labels[1].is_infinite());
    }

    #[test]
    fn n_features_fixes_the_width() {
        check(
            "1 1:1 5:1\n",
            opts(AUTO, Some(8), false),
            (1, 8),
            &[&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]],
            &[1.0],
            2,
        );
        let e = load("1 1:1\n1 1:1 5:1\n", opts(AUTO, Some(3), false)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.svm:2: n_features = 3, but index 5 (one-based) needs 5 features"
        );
        check(
            "1 0:1 4:1\n",
            opts(AUTO, Some(5), false),
            (1, 5),
            &[&[1.0, 0.0, 0.0, 0.0, 1.0]],
            &[1.0],
            2,
        );
        assert!(load("1 0:1 4:1\n", opts(AUTO, Some(4), false)).is_err());
    }

    #[test]
    fn bad_tokens_name_file_line_and_token() {
        // every case raises in scikit-learn too
        let cases = [
            ("1 1:1 2\n", "t.svm:1: `2` is not `index:value`"),
            ("1 a:1\n", "t.svm:1: `a:1`: index `a` is not an integer"),
            (
                "1 1.0:1\n",
                "t.svm:1: `1.0:1`: index `1.0` is not an integer",
            ),
            (
                "1 1:x\n",
                "t.svm:1: `1:x`: value `x` of index 1 is not a number",
            ),
            (
                "1 1:2:3\n",
                "t.svm:1: `1:2:3`: value `2:3` of index 1 is not a number",
            ),
            (
                "1 1:1\nx 1:1\n",
                "t.svm:2: label `x` is not a number (a LIBSVM line starts with its label)",
            ),
            (
                "1 2:1 1:1\n",
                "t.svm:1: `1:1`: index 1 after 2: indices must be sorted and unique within a line",
            ),
            (
                "1 1:1 1:2\n",
                "t.svm:1: `1:2`: index 1 after 1: indices must be sorted and unique within a line",
            ),
            (
                "1 -1:1\n",
                "t.svm:1: `-1:1`: invalid index -1: indices are ≥ 0",
            ),
            (
                "1 63: .50\n",
                "t.svm:1: `63:`: value `` of index 63 is not a number",
            ),
            (
                "1 1:1 qid:3\n",
                "t.svm:1: `qid:3`: index `qid` is not an integer",
            ),
            (
                "1 99999999999:1\n",
                "t.svm:1: `99999999999:1`: index 99999999999 is too large (at most 4294967294)",
            ),
        ];
        for (text, want) in cases {
            let e = load(text, LibsvmOptions::default()).unwrap_err();
            assert_eq!(e.to_string(), want, "{text:?}");
        }
        let e = load("3 qid:x 1:0.5\n", opts(AUTO, None, true)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.svm:1: `qid:x`: the query id `x` is not an integer"
        );
        let e = load("1 1:\u{e9}\n", LibsvmOptions::default()).unwrap_err();
        assert!(e.to_string().contains("is not a number"), "{e}");
        // invalid UTF-8 is a bad token, not a panic
        let e = parse(b"1 1:\xff\n", "t.svm", &LibsvmOptions::default()).unwrap_err();
        assert!(e.to_string().starts_with("t.svm:1: `1:\u{fffd}`"), "{e}");
    }

    #[test]
    fn written_files_read_back() {
        let (ptr, idx, val, y) = (
            vec![0, 2, 2, 3],
            vec![0, 4, 1],
            vec![0.5, -1e-3, 3.0],
            vec![1.0, -1.0, 1.0],
        );
        let mut out = Vec::new();
        write(&mut out, &ptr, &idx, &val, &y).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "1 1:0.5 5:-0.001\n-1\n1 2:3\n"
        );
        let d = load(std::str::from_utf8(&out).unwrap(), LibsvmOptions::default()).unwrap();
        assert_eq!(
            (d.row_ptr, d.col_idx, d.values, d.labels),
            (ptr, idx, val, y)
        );
    }

    #[test]
    fn zero_based_config_values() {
        #[derive(Deserialize, Serialize)]
        struct C {
            zero_based: ZeroBased,
        }
        for (text, want) in [
            ("zero_based = \"auto\"", ZeroBased::Auto),
            ("zero_based = true", ZeroBased::Fixed(true)),
            ("zero_based = false", ZeroBased::Fixed(false)),
        ] {
            let c: C = toml::from_str(text).unwrap();
            assert_eq!(c.zero_based, want);
            assert_eq!(toml::to_string(&c).unwrap().trim(), text);
        }
        assert!(toml::from_str::<C>("zero_based = \"yes\"").is_err());
    }
}
