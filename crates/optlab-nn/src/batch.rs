//! What flows from the data to the models: a [`Batch`] of host [`Inputs`] with its targets, and
//! the [`DataShape`] a model is built for. The data sets ([`data`](crate::data),
//! [`text`](crate::text)) produce them and the [`models`](crate::models) consume them; neither
//! side depends on the other.

/// Inputs of one batch, in host memory.
#[derive(Clone, Debug, PartialEq)]
pub enum Inputs {
    /// `rows` feature vectors of length `dim`, row-major.
    Dense {
        /// Values.
        values: Vec<f32>,
        /// Batch size.
        rows: usize,
        /// Features per example.
        dim: usize,
    },
    /// `rows` token sequences of length `len`.
    Tokens {
        /// Token ids.
        ids: Vec<i64>,
        /// Batch size.
        rows: usize,
        /// Sequence length.
        len: usize,
    },
}

/// A batch: inputs and one class target per output row (per token for sequences).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The inputs.
    pub inputs: Inputs,
    /// Target class of each output row.
    pub targets: Vec<i64>,
}

impl Batch {
    /// Number of examples (sequences for token batches).
    pub fn rows(&self) -> usize {
        match self.inputs {
            Inputs::Dense { rows, .. } | Inputs::Tokens { rows, .. } => rows,
        }
    }
}

/// What a model needs to know about its data.
#[derive(Clone, Debug, PartialEq)]
pub struct DataShape {
    /// Features per example (pixels for images).
    pub features: usize,
    /// `[channels, height, width]` for images.
    pub image: Option<[usize; 3]>,
    /// Number of classes (vocabulary size for text).
    pub classes: usize,
}
