//! Data: labelled image tables (MNIST-5k, UCI digits) and character text (Shakespeare), seeded
//! train/validation splits, per-epoch shuffled batches and random context windows.
//!
//! A data set is described by a [`DataSpec`] (`[data]` table) and loaded into a [`TaskData`],
//! which serves the batch of any training step k as a pure function of `(seed, k)` — resuming at
//! step k needs no saved generator state.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::batch::{Batch, DataShape, Inputs};
use crate::error::NnError;
use crate::rng::{Purpose, stream};
use crate::text::TextData;

/// Which data set (`[data] name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataName {
    /// 5,000 MNIST digits (28×28, 0..255), `data/mnist_5k.csv.gz`.
    Mnist,
    /// 1,797 UCI optical digits (8×8, 0..16), `data/digits.csv.gz`.
    Digits,
    /// Eight Shakespeare tragedies as characters, `data/shakespeare_plays.txt`.
    Shakespeare,
    /// Modular addition (a + b) mod `modulus` over all pairs, generated (no file; Power et al.
    /// 2022, "Grokking"): [`ModularData`].
    Modular,
}

impl DataName {
    /// Valid names, for error messages.
    pub const VALID: &'static str = "mnist, digits, shakespeare, modular";

    /// The vendored file, under `data/`.
    pub fn default_path(self) -> &'static str {
        match self {
            DataName::Mnist => "mnist_5k.csv.gz",
            DataName::Digits => "digits.csv.gz",
            DataName::Shakespeare => "shakespeare_plays.txt",
            DataName::Modular => "",
        }
    }

    /// `(side, max pixel value)` of the square grayscale images.
    fn image(self) -> Option<(usize, f32)> {
        match self {
            DataName::Mnist => Some((28, 255.0)),
            DataName::Digits => Some((8, 16.0)),
            DataName::Shakespeare | DataName::Modular => None,
        }
    }
}

/// The `[data]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSpec {
    /// Data set (default `mnist`).
    pub name: DataName,
    /// File to read; default the vendored file of `data/` (looked up by
    /// [`optlab::datafile::resolve`]: as given, in `data/`, then in the optlab source tree).
    pub path: Option<PathBuf>,
    /// Held-out validation examples for image data (default 1000); for text, ignored.
    pub validation: usize,
    /// Fraction of the text (its end) held out for validation (default 0.1, as nanoGPT).
    pub val_fraction: f64,
    /// Examples (sequences for text) per step (default 128).
    pub batch_size: usize,
    /// Validation batches of random windows for text (default 20); image data evaluates the whole
    /// validation set.
    pub eval_batches: usize,
    /// Image data augmentation (default 0 = none): each training image of a step is translated
    /// by (dx, dy), each drawn uniformly from −`shift`..=`shift` pixels, the uncovered border
    /// filled with the background (pixel value 0). Validation and the training-set evaluation
    /// see the images as they are. Drawn from `(seed, step)`, so resuming is unaffected.
    pub shift: usize,
    /// The modulus p of the `modular` data set, in 2..=1000 (default 97).
    pub modulus: usize,
    /// Fraction of the p² pairs of the `modular` data set used for training, in (0, 1)
    /// (default 0.4; the rest is the validation set).
    pub train_fraction: f64,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            name: DataName::Mnist,
            path: None,
            validation: 1000,
            val_fraction: 0.1,
            batch_size: 128,
            eval_batches: 20,
            shift: 0,
            modulus: 97,
            train_fraction: 0.4,
        }
    }
}

impl DataSpec {
    /// Checks the fields that do not depend on the file.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.batch_size == 0 {
            return Err(NnError::config("data.batch_size", 0, "≥ 1"));
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return Err(NnError::config(
                "data.val_fraction",
                self.val_fraction,
                "in (0, 1)",
            ));
        }
        if self.eval_batches == 0 {
            return Err(NnError::config("data.eval_batches", 0, "≥ 1"));
        }
        if !(2..=1000).contains(&self.modulus) {
            return Err(NnError::config("data.modulus", self.modulus, "in 2..=1000"));
        }
        if !(self.train_fraction > 0.0 && self.train_fraction < 1.0) {
            return Err(NnError::config(
                "data.train_fraction",
                self.train_fraction,
                "in (0, 1)",
            ));
        }
        Ok(())
    }

    /// Loads the data set; `context` is the model's context length (text only). The split and
    /// every batch derive from `seed`.
    pub fn load(&self, seed: u64, context: Option<usize>) -> Result<TaskData, NnError> {
        self.validate()?;
        if self.name == DataName::Modular {
            return Ok(TaskData::Modular(ModularData::new(
                self.modulus,
                self.train_fraction,
                self.batch_size,
                seed,
            )?));
        }
        let path = resolve(
            self.path
                .as_deref()
                .unwrap_or(Path::new(self.name.default_path())),
        )?;
        match self.name.image() {
            Some((side, max)) => {
                if self.shift >= side {
                    return Err(NnError::config(
                        "data.shift",
                        self.shift,
                        format!(
                            "in 0..={} (pixels, less than the {side}-pixel side)",
                            side - 1
                        ),
                    ));
                }
                let (x, y) = read_labeled_csv(&path, side * side)?;
                let mut d = ImageData::new(
                    x,
                    y,
                    [1, side, side],
                    max,
                    self.validation,
                    self.batch_size,
                    seed,
                )?;
                d.shift = self.shift;
                Ok(TaskData::Images(d))
            }
            None => {
                let context = context.ok_or_else(|| {
                    NnError::config("model.kind", "not gpt", "gpt for the shakespeare data set")
                })?;
                if self.shift != 0 {
                    return Err(NnError::config(
                        "data.shift",
                        self.shift,
                        "0 for text data (translation applies to images)",
                    ));
                }
                let text = read_text(&path)?;
                Ok(TaskData::Text(TextData::new(
                    &text,
                    self.val_fraction,
                    context,
                    self.batch_size,
                    self.eval_batches,
                    seed,
                )?))
            }
        }
    }
}

/// The data file `path` by the lab's one lookup ([`optlab::datafile::resolve`]: as given, in
/// `data/`, then in the optlab source tree's `data/`, so the vendored files are found from any
/// directory).
pub fn resolve(path: &Path) -> Result<PathBuf, NnError> {
    Ok(optlab::datafile::resolve(path, None)?)
}

/// Reads a headerless CSV (optionally gzip-compressed) of `features` numbers and an integer
/// label per line; errors name the file and line.
pub fn read_labeled_csv(path: &Path, features: usize) -> Result<(Vec<f32>, Vec<i64>), NnError> {
    let reader = optlab::datafile::open_buffered(path)?;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (i, line) in reader.lines().enumerate() {
        let bad = |message: String| NnError::Data {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let line = line.map_err(|e| bad(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != features + 1 {
            return Err(bad(format!(
                "{} fields, expected {} features and a label",
                fields.len(),
                features
            )));
        }
        for (j, f) in fields[..features].iter().enumerate() {
            let v: f32 = f
                .parse()
                .map_err(|_| bad(format!("field {}: `{f}` is not a number", j + 1)))?;
            if !v.is_finite() {
                return Err(bad(format!("field {}: `{f}` is not finite", j + 1)));
            }
            x.push(v);
        }
        let label = fields[features];
        let l: i64 = label
            .parse()
            .ok()
            .filter(|l| *l >= 0)
            .ok_or_else(|| bad(format!("label `{label}` is not a class index ≥ 0")))?;
        y.push(l);
    }
    if y.is_empty() {
        return Err(NnError::Data {
            path: path.to_path_buf(),
            line: 1,
            message: "no examples".into(),
        });
    }
    Ok((x, y))
}

/// Reads a text file (UTF-8).
pub fn read_text(path: &Path) -> Result<String, NnError> {
    let s = optlab::datafile::read_to_string(path)?;
    if s.is_empty() {
        return Err(NnError::Data {
            path: path.to_path_buf(),
            line: 1,
            message: "empty text".into(),
        });
    }
    Ok(s)
}

/// A loaded data set serving training and validation batches.
pub enum TaskData {
    /// Labelled images.
    Images(ImageData),
    /// Character text.
    Text(TextData),
    /// Modular arithmetic on token pairs.
    Modular(ModularData),
}

impl TaskData {
    /// What the model needs to know.
    pub fn shape(&self) -> DataShape {
        match self {
            TaskData::Images(d) => d.shape(),
            TaskData::Modular(d) => d.shape(),
            TaskData::Text(d) => d.shape(),
        }
    }

    /// The batch of training step `k` (0-based).
    pub fn train_batch(&mut self, k: u64) -> Batch {
        match self {
            TaskData::Images(d) => d.train_batch(k),
            TaskData::Modular(d) => d.train_batch(k),
            TaskData::Text(d) => d.train_batch(k),
        }
    }

    /// The fixed validation batches.
    pub fn validation(&self) -> &[Batch] {
        match self {
            TaskData::Images(d) => &d.validation,
            TaskData::Modular(d) => &d.validation,
            TaskData::Text(d) => d.validation(),
        }
    }

    /// Fixed batches of training data for measuring the training loss and accuracy (images: up
    /// to 1,000 training examples; text: as many windows as validation).
    pub fn train_eval(&self) -> &[Batch] {
        match self {
            TaskData::Images(d) => &d.train_eval,
            TaskData::Modular(d) => &d.train_eval,
            TaskData::Text(d) => d.train_eval(),
        }
    }

    /// Epochs completed after `k` steps (fractional).
    pub fn epoch(&self, k: u64) -> f64 {
        match self {
            TaskData::Images(d) => k as f64 / d.batches_per_epoch() as f64,
            TaskData::Modular(d) => k as f64 / d.epochs.batches_per_epoch() as f64,
            TaskData::Text(d) => d.epoch(k),
        }
    }

    /// Steps per epoch (image data: ⌈n_train / batch⌉; text: train characters / (batch·context)).
    pub fn steps_per_epoch(&self) -> u64 {
        match self {
            TaskData::Images(d) => d.batches_per_epoch(),
            TaskData::Modular(d) => d.epochs.batches_per_epoch(),
            TaskData::Text(d) => d.steps_per_epoch(),
        }
    }

    /// Training examples served up to step `k` (sequences for text).
    pub fn samples(&self, k: u64) -> u64 {
        match self {
            TaskData::Images(d) => d.samples(k),
            TaskData::Modular(d) => d.epochs.samples(k),
            TaskData::Text(d) => k * d.batch_size() as u64,
        }
    }

    /// The text data, if this is text.
    pub fn text(&self) -> Option<&TextData> {
        match self {
            TaskData::Text(d) => Some(d),
            TaskData::Images(_) | TaskData::Modular(_) => None,
        }
    }
}

/// Modular addition (Power et al. 2022, "Grokking: generalization beyond overfitting on small
/// algorithmic datasets"): every pair (a, b) ∈ {0..p−1}² as the 2-token input `[a, b]` with
/// target (a + b) mod p. A permutation drawn from `(seed, Split)` puts the first
/// ⌈fraction·p²⌉ pairs in the training set, the rest in the validation set; the training set is
/// served by [`Epochs`] (full batch when `batch_size` ≥ its size). A model sees a vocabulary of
/// p tokens (= the p classes) and 2 tokens per example.
pub struct ModularData {
    modulus: usize,
    epochs: Epochs,
    validation: Vec<Batch>,
    train_eval: Vec<Batch>,
}

impl ModularData {
    /// Generates and splits the pairs.
    pub fn new(
        modulus: usize,
        train_fraction: f64,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self, NnError> {
        let n = modulus * modulus;
        let n_train = (train_fraction * n as f64).ceil() as usize;
        if n_train == 0 || n_train >= n {
            return Err(NnError::config(
                "data.train_fraction",
                train_fraction,
                format!("leaving both sets non-empty ({n} pairs)"),
            ));
        }
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut stream(seed, Purpose::Split, 0));
        let (train, val) = perm.split_at(n_train);
        let mut d = ModularData {
            modulus,
            epochs: Epochs::new(train.to_vec(), batch_size, seed),
            validation: Vec::new(),
            train_eval: Vec::new(),
        };
        d.validation = val.chunks(4096).map(|ix| d.gather(ix)).collect();
        d.train_eval = train.chunks(4096).map(|ix| d.gather(ix)).collect();
        Ok(d)
    }

    /// Pairs `i = a·p + b` as token rows `[a, b]` with targets (a + b) mod p.
    fn gather(&self, ix: &[usize]) -> Batch {
        let p = self.modulus;
        let ids = ix
            .iter()
            .flat_map(|&i| [(i / p) as i64, (i % p) as i64])
            .collect();
        Batch {
            inputs: Inputs::Tokens {
                ids,
                rows: ix.len(),
                len: 2,
            },
            targets: ix.iter().map(|&i| ((i / p + i % p) % p) as i64).collect(),
        }
    }

    fn train_batch(&mut self, k: u64) -> Batch {
        let ix = self.epochs.batch(k);
        self.gather(&ix)
    }

    fn shape(&self) -> DataShape {
        DataShape {
            features: 2,
            image: None,
            classes: self.modulus,
        }
    }
}

/// Images with labels, split and normalized, batched with per-epoch shuffling.
pub struct ImageData {
    x: Vec<f32>,
    y: Vec<i64>,
    dim: usize,
    image: [usize; 3],
    classes: usize,
    /// The training indices and their per-epoch order.
    epochs: Epochs,
    seed: u64,
    /// Largest random translation of a training image, in pixels (0: no augmentation).
    shift: usize,
    /// The standardized value of a 0 pixel, filling what a translation uncovers.
    background: f32,
    validation: Vec<Batch>,
    train_eval: Vec<Batch>,
}

/// A training set served in batches, epoch after epoch, each epoch in the order of a permutation
/// drawn from `(seed, epoch)`; the last batch of an epoch may be smaller. Batch k is a function
/// of `(seed, k)`.
struct Epochs {
    train: Vec<usize>,
    batch_size: usize,
    seed: u64,
    /// `(epoch, permutation of the training indices)` of the last epoch served.
    order: Option<(u64, Vec<usize>)>,
}

impl Epochs {
    fn new(train: Vec<usize>, batch_size: usize, seed: u64) -> Self {
        Epochs {
            train,
            batch_size,
            seed,
            order: None,
        }
    }

    fn batches_per_epoch(&self) -> u64 {
        self.train.len().div_ceil(self.batch_size) as u64
    }

    /// Examples served by the first `k` batches.
    fn samples(&self, k: u64) -> u64 {
        let bpe = self.batches_per_epoch();
        let (epochs, rest) = (k / bpe, k % bpe);
        epochs * self.train.len() as u64
            + (rest * self.batch_size as u64).min(self.train.len() as u64)
    }

    /// The indices of batch `k`.
    fn batch(&mut self, k: u64) -> Vec<usize> {
        let bpe = self.batches_per_epoch();
        let (epoch, j) = (k / bpe, (k % bpe) as usize);
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let mut perm = self.train.clone();
            perm.shuffle(&mut stream(self.seed, Purpose::Shuffle, epoch));
            self.order = Some((epoch, perm));
        }
        let perm = self
            .order
            .as_ref()
            .map(|(_, p)| p.as_slice())
            .unwrap_or(&[]);
        let end = ((j + 1) * self.batch_size).min(perm.len());
        perm[j * self.batch_size..end].to_vec()
    }
}

impl ImageData {
    /// Splits `n_val` examples off at random (seeded), scales pixels to [0, 1] by `max` and
    /// standardizes with the training set's mean and standard deviation.
    pub fn new(
        mut x: Vec<f32>,
        y: Vec<i64>,
        image: [usize; 3],
        max: f32,
        n_val: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self, NnError> {
        let n = y.len();
        let dim = image.iter().product::<usize>();
        if n_val == 0 || n_val >= n {
            return Err(NnError::config(
                "data.validation",
                n_val,
                format!("in 1..{n} (the data set has {n} examples)"),
            ));
        }
        let classes = y.iter().copied().max().unwrap_or(0) as usize + 1;
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut stream(seed, Purpose::Split, 0));
        let (val, train) = perm.split_at(n_val);
        let (val, train) = (val.to_vec(), train.to_vec());
        // Standardize with statistics of the training pixels only.
        let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
        for &i in &train {
            for &v in &x[i * dim..(i + 1) * dim] {
                let v = f64::from(v / max);
                sum += v;
                sum_sq += v * v;
            }
        }
        let count = (train.len() * dim) as f64;
        let mean = sum / count;
        let std = (sum_sq / count - mean * mean).max(1e-12).sqrt();
        let (mean, std) = (mean as f32, std as f32);
        x.iter_mut().for_each(|v| *v = (*v / max - mean) / std);
        let mut d = ImageData {
            x,
            y,
            dim,
            image,
            classes,
            epochs: Epochs::new(train, batch_size, seed),
            seed,
            shift: 0,
            background: -mean / std,
            validation: Vec::new(),
            train_eval: Vec::new(),
        };
        d.validation = val.chunks(500).map(|ix| d.gather(ix)).collect();
        let n_eval = d.epochs.train.len().min(1000);
        d.train_eval = d.epochs.train[..n_eval]
            .chunks(500)
            .map(|ix| d.gather(ix))
            .collect();
        Ok(d)
    }

    fn shape(&self) -> DataShape {
        DataShape {
            features: self.dim,
            image: Some(self.image),
            classes: self.classes,
        }
    }

    fn gather(&self, ix: &[usize]) -> Batch {
        let mut values = Vec::with_capacity(ix.len() * self.dim);
        for &i in ix {
            values.extend_from_slice(&self.x[i * self.dim..(i + 1) * self.dim]);
        }
        Batch {
            inputs: Inputs::Dense {
                values,
                rows: ix.len(),
                dim: self.dim,
            },
            targets: ix.iter().map(|&i| self.y[i]).collect(),
        }
    }

    fn batches_per_epoch(&self) -> u64 {
        self.epochs.batches_per_epoch()
    }

    fn samples(&self, k: u64) -> u64 {
        self.epochs.samples(k)
    }

    /// Batch `k` of the training set's epochs (see [`Epochs`]), translated when `shift > 0`.
    fn train_batch(&mut self, k: u64) -> Batch {
        let ix = self.epochs.batch(k);
        let mut batch = self.gather(&ix);
        if let (true, Inputs::Dense { values, .. }) = (self.shift > 0, &mut batch.inputs) {
            self.translate(values, k);
        }
        batch
    }

    /// Translates each image of a training batch in place by its own random (dx, dy) in
    /// −shift..=shift, drawn from `(seed, step)`: output pixel (r, c) is input pixel
    /// (r − dy, c − dx), or the background where that lies outside the image.
    fn translate(&self, values: &mut [f32], step: u64) {
        let [channels, h, w] = self.image;
        let s = self.shift as i64;
        let mut rng = stream(self.seed, Purpose::Augment, step);
        let mut src = vec![0.0f32; h * w];
        for image in values.chunks_exact_mut(self.dim) {
            let (dx, dy) = (rng.random_range(-s..=s), rng.random_range(-s..=s));
            for plane in image.chunks_exact_mut(h * w).take(channels) {
                src.copy_from_slice(plane);
                for (r, row) in plane.chunks_exact_mut(w).enumerate() {
                    let sr = r as i64 - dy;
                    for (c, v) in row.iter_mut().enumerate() {
                        let sc = c as i64 - dx;
                        *v = if (0..h as i64).contains(&sr) && (0..w as i64).contains(&sc) {
                            src[sr as usize * w + sc as usize]
                        } else {
                            self.background
                        };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> ImageData {
        let x: Vec<f32> = (0..n * 4).map(|i| (i % 7) as f32).collect();
        let y: Vec<i64> = (0..n).map(|i| (i % 3) as i64).collect();
        ImageData::new(x, y, [1, 2, 2], 6.0, 4, 5, 11).unwrap()
    }

    /// The image `src` (h×w) translated by (dx, dy) with `fill` outside.
    fn shifted(src: &[f32], h: usize, w: usize, dx: i64, dy: i64, fill: f32) -> Vec<f32> {
        let mut out = vec![fill; h * w];
        for r in 0..h as i64 {
            for c in 0..w as i64 {
                let (sr, sc) = (r - dy, c - dx);
                if (0..h as i64).contains(&sr) && (0..w as i64).contains(&sc) {
                    out[(r as usize) * w + c as usize] = src[sr as usize * w + sc as usize];
                }
            }
        }
        out
    }

    #[test]
    fn shift_translates_each_training_image_within_range_reproducibly() {
        let n = 30;
        let x: Vec<f32> = (0..n * 16).map(|i| ((i * 7) % 11) as f32).collect();
        let y: Vec<i64> = (0..n).map(|i| (i % 3) as i64).collect();
        let mut d = ImageData::new(x, y, [1, 4, 4], 10.0, 5, 8, 3).unwrap();
        let mut offsets = std::collections::BTreeSet::new();
        for k in 0..6 {
            let plain = d.train_batch(k);
            d.shift = 1;
            let aug = d.train_batch(k);
            assert_eq!(
                aug,
                d.train_batch(k),
                "a step's batch is a function of (seed, k)"
            );
            assert_eq!(plain.targets, aug.targets);
            d.shift = 0;
            let (Inputs::Dense { values: p, .. }, Inputs::Dense { values: a, .. }) =
                (&plain.inputs, &aug.inputs)
            else {
                panic!("image batches are dense");
            };
            for (pi, ai) in p.chunks(16).zip(a.chunks(16)) {
                let found = (-1..=1)
                    .flat_map(|dx| (-1..=1).map(move |dy| (dx, dy)))
                    .find(|&(dx, dy)| shifted(pi, 4, 4, dx, dy, d.background) == ai);
                let Some(off) = found else {
                    panic!("not a translation by at most one pixel: {pi:?} → {ai:?}");
                };
                offsets.insert(off);
            }
        }
        assert!(offsets.len() >= 5, "offsets drawn: {offsets:?}");
    }

    #[test]
    fn epochs_visit_every_training_example_once_in_a_seeded_order() {
        let mut d = toy(20);
        assert_eq!(d.batches_per_epoch(), 4); // 16 train examples, batches of 5
        let mut seen = Vec::new();
        for k in 0..4 {
            let b = d.train_batch(k);
            seen.push(b.rows());
        }
        assert_eq!(seen, vec![5, 5, 5, 1]);
        let first = d.train_batch(0);
        let again = toy(20).train_batch(0);
        assert_eq!(first, again);
        assert_ne!(d.train_batch(4), first, "epoch 1 reshuffles");
        assert_eq!(d.samples(4), 16);
        assert_eq!(d.validation.iter().map(Batch::rows).sum::<usize>(), 4);
    }

    #[test]
    fn modular_pairs_split_seeded_and_sum_mod_p() {
        let mut d = ModularData::new(7, 0.4, 1000, 5).unwrap();
        let b = d.train_batch(0);
        assert_eq!(b.rows(), 20, "⌈0.4·49⌉ pairs, one full batch");
        let Inputs::Tokens { ids, len: 2, .. } = &b.inputs else {
            panic!("token pairs");
        };
        for (pair, t) in ids.chunks(2).zip(&b.targets) {
            assert_eq!((pair[0] + pair[1]) % 7, *t);
        }
        let val: usize = d.validation.iter().map(Batch::rows).sum();
        assert_eq!(val, 29);
        let again = ModularData::new(7, 0.4, 1000, 5).unwrap();
        assert_eq!(
            again.train_eval, d.train_eval,
            "the split is a function of the seed"
        );
        let other = ModularData::new(7, 0.4, 1000, 6).unwrap();
        assert_ne!(other.train_eval, d.train_eval);
        assert!(
            ModularData::new(7, 0.999, 10, 0).is_err(),
            "⌈0.999·49⌉ = 49 leaves no validation pair"
        );
        let spec = DataSpec {
            name: DataName::Modular,
            modulus: 1,
            ..DataSpec::default()
        };
        assert!(
            spec.validate()
                .unwrap_err()
                .to_string()
                .contains("data.modulus")
        );
    }

    #[test]
    fn csv_errors_name_file_and_line() {
        let dir = std::env::temp_dir().join(format!("optlab-nn-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.csv");
        std::fs::write(&p, "1,2,3,0\n4,x,6,1\n").unwrap();
        let e = read_labeled_csv(&p, 3).unwrap_err().to_string();
        assert!(e.contains("bad.csv:2") && e.contains("`x`"), "{e}");
        std::fs::write(&p, "1,2,0\n").unwrap();
        let e = read_labeled_csv(&p, 3).unwrap_err().to_string();
        assert!(e.contains("bad.csv:1") && e.contains("3 fields"), "{e}");
        let e = read_labeled_csv(&dir.join("missing.csv"), 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.csv"), "{e}");
    }
}
