//! Parameters (named tensors with their gradients) and filters that select them by name and shape.
//!
//! A [`Param`] is what every optimizer updates in place: a name, a shape, contiguous data (row-major
//! unless its [`Layout`] says otherwise) and a gradient of the same length. A [`ParamFilter`] picks
//! parameters for a parameter group or a partition (`"*.bias | ndim=1"`, `"ndim>=2 & !*embed*"`), the
//! same way everywhere in optlab.

use std::fmt;
use std::str::FromStr;

use faer::{MatMut, MatRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::OptimError;
use crate::scalar::Scalar;

/// A named tensor with its gradient: `data` and `grad` are contiguous, of length
/// `shape.iter().product()` (1 for a scalar with `shape = []`), in the order `layout` says
/// (row-major unless the parameter is a matrix stored column-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Param<T> {
    /// Unique name, e.g. `"blocks.0.attn.qkv.weight"`.
    pub name: String,
    /// Dimensions, outermost first (the logical shape, whatever the layout).
    pub shape: Vec<usize>,
    /// Values, in `layout` order.
    pub data: Vec<T>,
    /// Gradient of the loss with respect to `data`, same layout.
    pub grad: Vec<T>,
    /// The order of `data` and `grad` (default [`Layout::RowMajor`]).
    pub layout: Layout,
}

/// How `data` and `grad` of a [`Param`] hold its values.
///
/// Elementwise methods do not care; a matrix method reads the matrix through
/// [`Layout::view`] and says which layouts it handles through
/// [`Optimizer::accepts_layout`](crate::optim::Optimizer::accepts_layout) (the default handles
/// [`Layout::RowMajor`] only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Row-major in `shape`: PyTorch's contiguous layout (default).
    #[default]
    RowMajor,
    /// A matrix (`shape = [rows, cols]`, 2-D only) stored column-major: entry (i, j) at
    /// `j·rows + i`, i.e. the row-major storage of its `cols × rows` transpose. A burn `Linear`
    /// weight (`[d_input, d_output]` row-major) is PyTorch's `[out_features, in_features]`
    /// weight in this layout, so it can be presented in PyTorch's shape without moving data.
    ColumnMajor,
}

impl Layout {
    /// Storage position of entry (i, j) of a `rows × cols` matrix.
    #[inline]
    pub fn index(self, i: usize, j: usize, rows: usize, cols: usize) -> usize {
        match self {
            Layout::RowMajor => i * cols + j,
            Layout::ColumnMajor => j * rows + i,
        }
    }

    /// Row-major position (PyTorch's flat index) of storage position `k` of a `rows × cols`
    /// matrix.
    #[inline]
    pub fn row_major_index(self, k: usize, rows: usize, cols: usize) -> usize {
        match self {
            Layout::RowMajor => k,
            Layout::ColumnMajor if rows > 0 => (k % rows) * cols + k / rows,
            Layout::ColumnMajor => k,
        }
    }

    /// The `rows × cols` matrix stored in `s` in this layout, as a faer view.
    pub fn view<E>(self, s: &[E], rows: usize, cols: usize) -> MatRef<'_, E> {
        match self {
            Layout::RowMajor => MatRef::from_row_major_slice(s, rows, cols),
            Layout::ColumnMajor => MatRef::from_column_major_slice(s, rows, cols),
        }
    }

    /// Mutable [`view`](Layout::view).
    pub fn view_mut<E>(self, s: &mut [E], rows: usize, cols: usize) -> MatMut<'_, E> {
        match self {
            Layout::RowMajor => MatMut::from_row_major_slice_mut(s, rows, cols),
            Layout::ColumnMajor => MatMut::from_column_major_slice_mut(s, rows, cols),
        }
    }

    /// Copies the `rows × cols` matrix `src` (in this layout) into `dst` in layout `to`
    /// (a cache-blocked transpose when the layouts differ).
    pub fn copy_to<E: Copy>(self, src: &[E], to: Layout, rows: usize, cols: usize, dst: &mut [E]) {
        match (self, to) {
            (Layout::RowMajor, Layout::ColumnMajor) => {
                crate::kernels::transpose_into(src, rows, cols, dst);
            }
            (Layout::ColumnMajor, Layout::RowMajor) => {
                crate::kernels::transpose_into(src, cols, rows, dst);
            }
            _ => dst.copy_from_slice(src),
        }
    }

    /// Reorders `buf`, a `rows × cols` matrix in this layout, into layout `to` (allocates one
    /// buffer when the layouts differ).
    pub fn convert<E: Copy>(self, to: Layout, buf: &mut Vec<E>, rows: usize, cols: usize) {
        if self != to && buf.len() == rows * cols {
            let mut out = buf.clone();
            self.copy_to(buf, to, rows, cols, &mut out);
            *buf = out;
        }
    }
}

impl<T: Scalar> Param<T> {
    /// A parameter with the given values and a zero gradient; errors if `data` does not fit `shape`.
    pub fn new(
        name: impl Into<String>,
        shape: impl Into<Vec<usize>>,
        data: Vec<T>,
    ) -> Result<Self, OptimError> {
        let grad = vec![T::zero(); data.len()];
        let p = Param {
            name: name.into(),
            shape: shape.into(),
            data,
            grad,
            layout: Layout::RowMajor,
        };
        p.check()?;
        Ok(p)
    }

    /// A zero-initialised parameter of the given shape.
    pub fn zeros(name: impl Into<String>, shape: impl Into<Vec<usize>>) -> Self {
        let shape = shape.into();
        let n = shape.iter().product();
        Param {
            name: name.into(),
            shape,
            data: vec![T::zero(); n],
            grad: vec![T::zero(); n],
            layout: Layout::RowMajor,
        }
    }

    /// A flat vector parameter `x ∈ Rⁿ` (the classical optimization setting).
    pub fn vector(name: impl Into<String>, data: Vec<T>) -> Self {
        let n = data.len();
        Param {
            name: name.into(),
            shape: vec![n],
            grad: vec![T::zero(); n],
            data,
            layout: Layout::RowMajor,
        }
    }

    /// Checks that data, gradient, shape and layout agree.
    #[inline]
    pub fn check(&self) -> Result<(), OptimError> {
        let expected: usize = self.shape.iter().product();
        if self.data.len() != expected
            || self.grad.len() != expected
            || (self.layout == Layout::ColumnMajor && self.shape.len() != 2)
        {
            return Err(self.check_error(expected));
        }
        Ok(())
    }

    /// The error of a failed [`check`](Param::check) (kept out of the per-step path).
    #[cold]
    #[inline(never)]
    fn check_error(&self, expected: usize) -> OptimError {
        if self.data.len() != expected || self.grad.len() != expected {
            return OptimError::ShapeMismatch {
                name: self.name.clone(),
                shape: self.shape.clone(),
                expected,
                data: self.data.len(),
                grad: self.grad.len(),
            };
        }
        OptimError::UnsupportedParam {
            optimizer: "Param".into(),
            param: self.name.clone(),
            shape: self.shape.clone(),
            reason: "the column-major layout is for matrices (2 dimensions) only".into(),
        }
    }

    /// The same parameter in `layout` (values and gradient reordered; a copy).
    pub fn to_layout(&self, layout: Layout) -> Self {
        let mut p = self.clone();
        if let Some((rows, cols)) = self.matrix_dims().filter(|_| self.shape.len() == 2) {
            self.layout.convert(layout, &mut p.data, rows, cols);
            self.layout.convert(layout, &mut p.grad, rows, cols);
            p.layout = layout;
        }
        p
    }
}

impl<T> Param<T> {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The 2D view `rows × cols` used by matrix methods: `shape[0] × Π shape[1..]` for tensors of
    /// two or more dimensions (a conv kernel `out×in×kh×kw` becomes `out × (in·kh·kw)`), `None`
    /// for scalars and vectors.
    pub fn matrix_dims(&self) -> Option<(usize, usize)> {
        match self.shape.as_slice() {
            [] | [_] => None,
            [rows, rest @ ..] => Some((*rows, rest.iter().product())),
        }
    }

    /// Sets the gradient to zero.
    pub fn zero_grad(&mut self)
    where
        T: Copy + num_traits::Zero,
    {
        self.grad.iter_mut().for_each(|g| *g = T::zero());
    }
}

/// Selects parameters by name (glob with `*` and `?`) and number of dimensions.
///
/// Text syntax (used in TOML configs): terms combined with `&` (and, binds tighter), `|` (or) and a
/// prefix `!` (not); a term is `ndim=K`, `ndim>=K`, `ndim<=K`, `ndim>K`, `ndim<K`, `all`, or a name
/// glob (optionally written `name:GLOB`). Examples: `"*.bias | ndim=1"`, `"ndim>=2 & !*embed*"`.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamFilter {
    /// Every parameter.
    All,
    /// Parameters whose name matches the glob.
    Name(String),
    /// Parameters whose number of dimensions satisfies the comparison.
    Ndim(Cmp, usize),
    /// Not the inner filter.
    Not(Box<ParamFilter>),
    /// Both filters (all of them).
    And(Vec<ParamFilter>),
    /// Either filter (any of them).
    Or(Vec<ParamFilter>),
}

/// Comparison used by [`ParamFilter::Ndim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `=`
    Eq,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `<`
    Lt,
}

impl ParamFilter {
    /// Parameters whose name matches `glob`.
    pub fn name(glob: impl Into<String>) -> Self {
        ParamFilter::Name(glob.into())
    }

    /// Whether a parameter with this name and shape is selected.
    pub fn matches(&self, name: &str, shape: &[usize]) -> bool {
        match self {
            ParamFilter::All => true,
            ParamFilter::Name(glob) => glob_match(glob.as_bytes(), name.as_bytes()),
            ParamFilter::Ndim(cmp, k) => {
                let n = shape.len();
                match cmp {
                    Cmp::Eq => n == *k,
                    Cmp::Ge => n >= *k,
                    Cmp::Le => n <= *k,
                    Cmp::Gt => n > *k,
                    Cmp::Lt => n < *k,
                }
            }
            ParamFilter::Not(f) => !f.matches(name, shape),
            ParamFilter::And(fs) => fs.iter().all(|f| f.matches(name, shape)),
            ParamFilter::Or(fs) => fs.iter().any(|f| f.matches(name, shape)),
        }
    }

    /// Whether `param` is selected.
    pub fn matches_param<T>(&self, param: &Param<T>) -> bool {
        self.matches(&param.name, &param.shape)
    }
}

/// Glob matching with `*` (any run, including empty) and `?` (one byte), iterative with
/// backtracking to the last `*`.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A filter expression that could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid parameter filter `{text}`: {reason}")]
pub struct FilterParseError {
    /// The expression.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for ParamFilter {
    type Err = FilterParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| FilterParseError {
            text: s.to_string(),
            reason,
        };
        let mut alternatives = Vec::new();
        for alt in s.split('|') {
            let mut conj = Vec::new();
            for term in alt.split('&') {
                conj.push(parse_term(term.trim()).map_err(err)?);
            }
            alternatives.push(if conj.len() == 1 {
                conj.remove(0)
            } else {
                ParamFilter::And(conj)
            });
        }
        Ok(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            ParamFilter::Or(alternatives)
        })
    }
}

fn parse_term(term: &str) -> Result<ParamFilter, String> {
    if term.is_empty() {
        return Err("empty term (expected `ndim=K`, `all` or a name glob)".into());
    }
    if let Some(rest) = term.strip_prefix('!') {
        return Ok(ParamFilter::Not(Box::new(parse_term(rest.trim())?)));
    }
    if term == "all" || term == "*" {
        return Ok(ParamFilter::All);
    }
    if let Some(rest) = term.strip_prefix("ndim") {
        let rest = rest.trim_start();
        let (cmp, num) = if let Some(n) = rest.strip_prefix(">=") {
            (Cmp::Ge, n)
        } else if let Some(n) = rest.strip_prefix("<=") {
            (Cmp::Le, n)
        } else if let Some(n) = rest.strip_prefix("==") {
            (Cmp::Eq, n)
        } else if let Some(n) = rest.strip_prefix('=') {
            (Cmp::Eq, n)
        } else if let Some(n) = rest.strip_prefix('>') {
            (Cmp::Gt, n)
        } else if let Some(n) = rest.strip_prefix('<') {
            (Cmp::Lt, n)
        } else {
            return Err(format!(
                "`{term}`: expected a comparison (=, >=, <=, >, <) after `ndim`"
            ));
        };
        let k = num
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("`{term}`: `{}` is not a dimension count", num.trim()))?;
        return Ok(ParamFilter::Ndim(cmp, k));
    }
    let glob = term.strip_prefix("name:").unwrap_or(term).trim();
    if glob.is_empty() || glob.contains(char::is_whitespace) {
        return Err(format!("`{term}` is not a name glob"));
    }
    Ok(ParamFilter::Name(glob.to_string()))
}

impl fmt::Display for ParamFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamFilter::All => write!(f, "all"),
            ParamFilter::Name(g) => write!(f, "{g}"),
            ParamFilter::Ndim(cmp, k) => {
                let op = match cmp {
                    Cmp::Eq => "=",
                    Cmp::Ge => ">=",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Lt => "<",
                };
                write!(f, "ndim{op}{k}")
            }
            ParamFilter::Not(inner) => write!(f, "!{inner}"),
            ParamFilter::And(fs) => join(f, fs, " & "),
            ParamFilter::Or(fs) => join(f, fs, " | "),
        }
    }
}

fn join(f: &mut fmt::Formatter<'_>, fs: &[ParamFilter], sep: &str) -> fmt::Result {
    for (i, x) in fs.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{x}")?;
    }
    Ok(())
}

impl Serialize for ParamFilter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ParamFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match(b"*.bias", b"fc1.bias"));
        assert!(!glob_match(b"*.bias", b"fc1.weight"));
        assert!(glob_match(b"*embed*", b"tok_embed.weight"));
        assert!(glob_match(b"h?.w", b"h1.w"));
        assert!(!glob_match(b"h?.w", b"h12.w"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"a*b*c", b"aXXbYYc"));
        assert!(!glob_match(b"a*b*c", b"aXXbYY"));
    }

    #[test]
    fn parse_and_match() {
        let f: ParamFilter = "ndim>=2 & !*embed* | head.weight".parse().unwrap();
        assert!(f.matches("fc.weight", &[3, 4]));
        assert!(!f.matches("fc.bias", &[3]));
        assert!(!f.matches("tok_embed.weight", &[10, 4]));
        assert!(f.matches("head.weight", &[10, 4]));
        let g: ParamFilter = f.to_string().parse().unwrap();
        assert_eq!(f, g);
        assert!("ndim~2".parse::<ParamFilter>().is_err());
        assert!("a & ".parse::<ParamFilter>().is_err());
    }

    #[test]
    fn param_checks_lengths() {
        assert!(Param::<f64>::new("w", [2, 3], vec![0.0; 5]).is_err());
        let p = Param::<f32>::new("w", [2, 3], vec![0.0; 6]).unwrap();
        assert_eq!(p.matrix_dims(), Some((2, 3)));
        let conv = Param::<f32>::zeros("k", [8, 3, 3, 3]);
        assert_eq!(conv.matrix_dims(), Some((8, 27)));
        assert_eq!(
            Param::<f64>::vector("x", vec![1.0, 2.0]).matrix_dims(),
            None
        );
    }
}
