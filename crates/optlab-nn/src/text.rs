//! Character-level text: a vocabulary of the distinct characters, a contiguous train/validation
//! split (the last `val_fraction` of the text is validation, as in nanoGPT) and random context
//! windows: step k's batch draws `batch_size` offsets from the stream `(seed, Windows, k)`.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::batch::{Batch, DataShape, Inputs};
use crate::error::NnError;
use crate::rng::{Purpose, stream};

/// The sorted distinct characters of a text; token id = position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharVocab {
    chars: Vec<char>,
}

impl CharVocab {
    /// The vocabulary of `text`.
    pub fn new(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharVocab { chars }
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Token id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<i64> {
        self.chars.binary_search(&c).ok().map(|i| i as i64)
    }

    /// Token ids of `text`; errors on a character outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, NnError> {
        text.chars()
            .map(|c| {
                self.id(c).ok_or_else(|| {
                    NnError::config(
                        "prompt",
                        format!("{c:?}"),
                        "characters of the training text",
                    )
                })
            })
            .collect()
    }

    /// The text of token ids (ids outside the vocabulary are skipped).
    pub fn decode(&self, ids: &[i64]) -> String {
        ids.iter()
            .filter_map(|&i| usize::try_from(i).ok().and_then(|i| self.chars.get(i)))
            .collect()
    }
}

/// Encoded text split into training and validation parts, served as context windows.
pub struct TextData {
    vocab: CharVocab,
    train: Vec<i64>,
    val: Vec<i64>,
    context: usize,
    batch_size: usize,
    seed: u64,
    validation: Vec<Batch>,
    train_eval: Vec<Batch>,
}

impl TextData {
    /// Encodes `text`, holds out its last `val_fraction` and prepares `eval_batches` fixed
    /// validation batches of random windows.
    pub fn new(
        text: &str,
        val_fraction: f64,
        context: usize,
        batch_size: usize,
        eval_batches: usize,
        seed: u64,
    ) -> Result<Self, NnError> {
        let vocab = CharVocab::new(text);
        let ids = vocab.encode(text)?;
        let n_train = ((1.0 - val_fraction) * ids.len() as f64) as usize;
        let (train, val) = ids.split_at(n_train);
        for (part, len) in [("training", train.len()), ("validation", val.len())] {
            if len <= context + 1 {
                return Err(NnError::config(
                    "model.block_size",
                    context,
                    format!("shorter than the {part} text ({len} characters)"),
                ));
            }
        }
        let mut d = TextData {
            vocab,
            train: train.to_vec(),
            val: val.to_vec(),
            context,
            batch_size,
            seed,
            validation: Vec::new(),
            train_eval: Vec::new(),
        };
        let mut rng = stream(seed, Purpose::EvalWindows, 0);
        d.validation = (0..eval_batches)
            .map(|_| windows(&d.val, context, batch_size, &mut rng))
            .collect();
        let mut rng = stream(seed, Purpose::EvalWindows, 1);
        d.train_eval = (0..eval_batches)
            .map(|_| windows(&d.train, context, batch_size, &mut rng))
            .collect();
        Ok(d)
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &CharVocab {
        &self.vocab
    }

    /// Context length.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Sequences per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Length of the training part in characters.
    pub fn train_len(&self) -> usize {
        self.train.len()
    }

    pub(crate) fn shape(&self) -> DataShape {
        DataShape {
            features: self.context,
            image: None,
            classes: self.vocab.len(),
        }
    }

    pub(crate) fn validation(&self) -> &[Batch] {
        &self.validation
    }

    pub(crate) fn train_eval(&self) -> &[Batch] {
        &self.train_eval
    }

    pub(crate) fn steps_per_epoch(&self) -> u64 {
        (self.train.len() / (self.batch_size * self.context)).max(1) as u64
    }

    pub(crate) fn epoch(&self, k: u64) -> f64 {
        (k * (self.batch_size * self.context) as u64) as f64 / self.train.len() as f64
    }

    /// Random training windows of step `k`.
    pub fn train_batch(&self, k: u64) -> Batch {
        let mut rng = stream(self.seed, Purpose::Windows, k);
        windows(&self.train, self.context, self.batch_size, &mut rng)
    }
}

/// `rows` windows: inputs `ids[i..i+T]`, targets `ids[i+1..i+T+1]` at uniform offsets i.
fn windows(ids: &[i64], context: usize, rows: usize, rng: &mut impl Rng) -> Batch {
    let mut x = Vec::with_capacity(rows * context);
    let mut y = Vec::with_capacity(rows * context);
    for _ in 0..rows {
        let i = rng.random_range(0..ids.len() - context);
        x.extend_from_slice(&ids[i..i + context]);
        y.extend_from_slice(&ids[i + 1..i + context + 1]);
    }
    Batch {
        inputs: Inputs::Tokens {
            ids: x,
            rows,
            len: context,
        },
        targets: y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_round_trips_and_windows_shift_by_one() {
        let text = "to be, or not to be: that is the question. ".repeat(20);
        let d = TextData::new(&text, 0.1, 8, 3, 2, 5).unwrap();
        let v = d.vocab();
        assert_eq!(v.decode(&v.encode("to be").unwrap()), "to be");
        assert!(v.encode("Z").is_err());
        let b = d.train_batch(4);
        let Inputs::Tokens { ids, rows, len } = &b.inputs else {
            panic!("token batch expected")
        };
        assert_eq!((*rows, *len), (3, 8));
        for r in 0..3 {
            assert_eq!(ids[r * 8 + 1..r * 8 + 8], b.targets[r * 8..r * 8 + 7]);
        }
        assert_eq!(b, d.train_batch(4));
        assert_ne!(b, d.train_batch(5));
        assert_eq!(d.validation().len(), 2);
    }
}
