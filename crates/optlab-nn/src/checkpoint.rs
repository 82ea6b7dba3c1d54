//! Checkpoints: one directory per checkpoint, tensors in safetensors files under PyTorch-style
//! names, everything else in a small JSON manifest; written crash-safely and verified on load.
//!
//! A run directory holds its checkpoints under `checkpoints/step-<N>` (N zero-padded to 8
//! digits) and the configuration it was started with in `config.json`:
//!
//! ```text
//! RUN_DIR/config.json
//! RUN_DIR/checkpoints/step-00000100/
//!     model.safetensors       model parameters, f32, names and shapes as PyTorch's state_dict
//!                             (`layers.0.weight` [out, in]); metadata {"format": "pt"}
//!     optimizer.safetensors   optimizer state buffers, f32: `state.<param>.<buffer>`
//!                             (`state.layers.0.weight.exp_avg`, under any wrapper; a
//!                             wrapper's own buffers: `state.average/layers.0.weight.sum`)
//!     averaged.safetensors    the evaluation parameters (the average of the iterates under
//!                             `averaging`, schedule-free's x), only for such optimizers
//!     records.csv             the records so far (the shared CSV of `optlab::record`)
//!     checkpoint.json         format and version, step, clocks, configuration, optimizer
//!                             scalars (name, step, learning rates) and the layout of its
//!                             tensors, schedule state, and the size and SHA-256 of every file
//! ```
//!
//! The RNG state is `(seed, step)`: every batch, shift and window is drawn from a stream keyed
//! by the configuration's seed and the step (see [`rng`](crate::rng)), so the manifest's `step`
//! and `config.seed` restore it.
//!
//! **Writing** ([`Checkpoint::save`]): the files go to a hidden temporary directory next to
//! the target (`.step-00000100.tmp-<pid>`), each is fsync'd, then the directory; it is renamed
//! to its final name and the parent directory fsync'd. Only then are older checkpoints of the
//! run removed ([`save_in_run`]), so a process killed at any moment leaves the previous complete
//! checkpoint in place. **Reading** ([`Checkpoint::load`]): every file's size and SHA-256 are
//! checked against the manifest, the safetensors headers are validated (by the `safetensors`
//! crate), and every tensor's dtype and shape against the manifest; a truncated or corrupt
//! checkpoint is an error naming the file, never loaded.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use optlab::optim::{Buffer, OptimizerState, ParamState};
use optlab::record::Records;
use optlab::schedule::ScheduleState;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::TrainConfig;
use crate::error::NnError;
use crate::metrics;

/// The manifest's `format` field.
pub const FORMAT: &str = "optlab-checkpoint";
/// The manifest's `version`: 2 is the directory of safetensors files (1 was the gzip'd JSON
/// file `checkpoint.json.gz`, no longer read).
pub const VERSION: u32 = 2;
/// The manifest's file name inside a checkpoint directory.
pub const MANIFEST: &str = "checkpoint.json";
/// The model parameters.
pub const MODEL_FILE: &str = "model.safetensors";
/// The optimizer state buffers.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The evaluation parameters (averaged iterates), when the optimizer has them.
pub const AVERAGED_FILE: &str = "averaged.safetensors";
/// The records.
pub const RECORDS_FILE: &str = "records.csv";
/// The folder of a run directory that holds its checkpoints.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The configuration of a run, in its run directory (for `--resume` before any checkpoint).
pub const CONFIG_FILE: &str = "config.json";
/// The file name of the old (version 1) checkpoint format.
pub const OLD_CHECKPOINT: &str = "checkpoint.json.gz";

/// Everything needed to continue a run identically.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The experiment.
    pub config: TrainConfig,
    /// Steps completed (the data position: the next batch is batch `step`).
    pub step: u64,
    /// Wall time so far (evaluations included), seconds.
    pub elapsed_s: f64,
    /// Training time so far (the records' `time_s` clock), seconds.
    pub train_time_s: f64,
    /// Examples evaluated so far (the records' `grad_evals`).
    pub evals: Option<u64>,
    /// Model parameters (name, PyTorch shape, row-major values) in module order.
    pub params: Vec<Buffer<f32>>,
    /// The evaluation parameters ([`eval_params`](optlab::Optimizer::eval_params): the average
    /// of the iterates under `averaging`), in module order; empty when the optimizer evaluates
    /// at its iterate. Written for readers of the files; resuming uses the optimizer state.
    pub averaged: Vec<Buffer<f32>>,
    /// Optimizer state (of the optimizer inside its wrappers).
    pub optimizer: OptimizerState<f32>,
    /// State of a metric-driven schedule (`ReduceLROnPlateau`); absent for closed forms.
    pub schedule: Option<ScheduleState>,
    /// Records so far, as `metrics.csv` text (the shared CSV format of [`optlab::record`],
    /// which round-trips every value exactly, `NaN` included).
    pub records_csv: String,
}

/// A tensor of a safetensors file as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorEntry {
    /// Parameter or buffer name.
    name: String,
    /// Shape.
    shape: Vec<usize>,
    /// The tensor's name in the safetensors file.
    key: String,
}

/// One parameter's optimizer state: its buffers' names, shapes and keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamEntry {
    name: String,
    shape: Vec<usize>,
    buffers: Vec<TensorEntry>,
}

/// The optimizer's scalars and the layout of its tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimizerEntry {
    optimizer: String,
    step: u64,
    lrs: Vec<f64>,
    params: Vec<ParamEntry>,
}

/// Size and SHA-256 of a file of the checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    bytes: u64,
    sha256: String,
}

/// `checkpoint.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    version: u32,
    step: u64,
    elapsed_s: f64,
    train_time_s: f64,
    evals: Option<u64>,
    config: TrainConfig,
    params: Vec<TensorEntry>,
    #[serde(default)]
    averaged: Vec<TensorEntry>,
    optimizer: OptimizerEntry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<ScheduleState>,
    files: BTreeMap<String, FileEntry>,
}

/// The first fields of a manifest, read before the rest to report another format or version.
#[derive(Deserialize)]
struct Head {
    format: Option<String>,
    version: Option<u64>,
}

const KNOWN_FILES: [&str; 4] = [MODEL_FILE, OPTIMIZER_FILE, AVERAGED_FILE, RECORDS_FILE];

/// The SHA-256 of `bytes` in lowercase hex, as the manifest lists each file's.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A safetensors file of f32 tensors `(key, shape, values)`.
fn safetensors_file(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<u8>)],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<Vec<u8>, NnError> {
    let bad = |message: String| NnError::Checkpoint {
        path: path.into(),
        message,
    };
    let views = tensors
        .iter()
        .map(|(k, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (k.clone(), v))
                .map_err(|e| bad(format!("tensor `{k}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, metadata).map_err(|e| bad(e.to_string()))
}

/// Unique keys: `base`, then `base#1`, `base#2`, ... if taken.
fn unique(key: String, taken: &mut std::collections::HashSet<String>) -> String {
    let mut k = key.clone();
    let mut n = 1;
    while !taken.insert(k.clone()) {
        k = format!("{key}#{n}");
        n += 1;
    }
    k
}

/// A parameter's name without the `inner/` prefixes that wrappers (clipping, SAM, averaging,
/// line search) put on the state of the optimizer they wrap: the keys of the optimizer's own
/// buffers read as PyTorch's (`state.layers.0.weight.exp_avg`) under any wrapper.
fn strip_inner(mut name: &str) -> &str {
    while let Some(rest) = name.strip_prefix("inner/") {
        name = rest;
    }
    name
}

fn tensor_entries(buffers: &[Buffer<f32>]) -> Vec<(TensorEntry, Vec<u8>)> {
    let mut taken = std::collections::HashSet::new();
    buffers
        .iter()
        .map(|b| {
            let entry = TensorEntry {
                name: b.name.clone(),
                shape: b.shape.clone(),
                key: unique(b.name.clone(), &mut taken),
            };
            (entry, f32_bytes(&b.data))
        })
        .collect()
}

impl Checkpoint {
    /// The files of the checkpoint directory, `checkpoint.json` last: `(name, contents)`.
    /// `dir` only names the checkpoint in errors.
    pub fn encode(&self, dir: &Path) -> Result<Vec<(&'static str, Vec<u8>)>, NnError> {
        let triples = |entries: Vec<(TensorEntry, Vec<u8>)>| {
            let (list, tensors): (Vec<_>, Vec<_>) = entries
                .into_iter()
                .map(|(e, bytes)| {
                    let t = (e.key.clone(), e.shape.clone(), bytes);
                    (e, t)
                })
                .unzip();
            (list, tensors)
        };
        let (params, model_tensors) = triples(tensor_entries(&self.params));
        let pt = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        let mut files = vec![(
            MODEL_FILE,
            safetensors_file(&dir.join(MODEL_FILE), &model_tensors, Some(pt))?,
        )];
        let (averaged, avg_tensors) = triples(tensor_entries(&self.averaged));
        if !averaged.is_empty() {
            let path = dir.join(AVERAGED_FILE);
            files.push((AVERAGED_FILE, safetensors_file(&path, &avg_tensors, None)?));
        }
        let mut taken = std::collections::HashSet::new();
        let mut opt_tensors = Vec::new();
        let opt_params = self
            .optimizer
            .params
            .iter()
            .map(|ps| ParamEntry {
                name: ps.name.clone(),
                shape: ps.shape.clone(),
                buffers: ps
                    .buffers
                    .iter()
                    .map(|b| {
                        let param = strip_inner(&ps.name);
                        let key = unique(format!("state.{param}.{}", b.name), &mut taken);
                        opt_tensors.push((key.clone(), b.shape.clone(), f32_bytes(&b.data)));
                        TensorEntry {
                            name: b.name.clone(),
                            shape: b.shape.clone(),
                            key,
                        }
                    })
                    .collect(),
            })
            .collect();
        let path = dir.join(OPTIMIZER_FILE);
        files.push((OPTIMIZER_FILE, safetensors_file(&path, &opt_tensors, None)?));
        files.push((RECORDS_FILE, self.records_csv.as_bytes().to_vec()));
        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            step: self.step,
            elapsed_s: self.elapsed_s,
            train_time_s: self.train_time_s,
            evals: self.evals,
            config: self.config.clone(),
            params,
            averaged,
            optimizer: OptimizerEntry {
                optimizer: self.optimizer.optimizer.clone(),
                step: self.optimizer.step,
                lrs: self.optimizer.lrs.clone(),
                params: opt_params,
            },
            schedule: self.schedule.clone(),
            files: files
                .iter()
                .map(|(name, bytes)| {
                    let entry = FileEntry {
                        bytes: bytes.len() as u64,
                        sha256: sha256_hex(bytes),
                    };
                    (name.to_string(), entry)
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| NnError::Checkpoint {
            path: dir.join(MANIFEST),
            message: e.to_string(),
        })?;
        files.push((MANIFEST, json));
        Ok(files)
    }

    /// Writes the checkpoint directory `dir` crash-safely (temporary directory, fsync, rename;
    /// an existing `dir` is replaced only once the new one is complete).
    pub fn save(&self, dir: &Path) -> Result<(), NnError> {
        let files = self.encode(dir)?;
        write_dir_atomically(dir, &files, self.step)
    }

    /// Reads and verifies the checkpoint directory `dir` written by [`save`](Checkpoint::save).
    /// A `checkpoint.json.gz` (the old format) or a run directory is refused with a message
    /// saying what to do.
    pub fn load(dir: &Path) -> Result<Self, NnError> {
        if dir.is_file() {
            return Err(not_a_checkpoint_dir(dir));
        }
        let manifest = dir.join(MANIFEST);
        if !manifest.is_file() {
            if dir.join(CHECKPOINTS_DIR).is_dir() || dir.join(OLD_CHECKPOINT).is_file() {
                return Err(NnError::Checkpoint {
                    path: dir.into(),
                    message: "a run directory, not a checkpoint: resume it with \
                              `optlab train --resume <run dir>`, or load its latest checkpoint \
                              (train::latest_in)"
                        .into(),
                });
            }
            return Err(NnError::Checkpoint {
                path: dir.into(),
                message: format!("no {MANIFEST}: not a checkpoint directory"),
            });
        }
        let bytes = std::fs::read(&manifest).map_err(|e| NnError::io(&manifest, e))?;
        Self::decode(dir, &bytes, &mut |name| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|e| NnError::io(p, e))
        })
    }

    /// Decodes a checkpoint from its manifest's bytes and a reader of its other files (by
    /// name), verifying sizes, checksums, safetensors headers, dtypes and shapes. `dir` only
    /// names the checkpoint in errors.
    pub fn decode(
        dir: &Path,
        manifest: &[u8],
        read: &mut dyn FnMut(&str) -> Result<Vec<u8>, NnError>,
    ) -> Result<Self, NnError> {
        let mpath = dir.join(MANIFEST);
        let bad = |path: &Path, message: String| NnError::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let head: Head = serde_json::from_slice(manifest).map_err(|e| {
            bad(
                &mpath,
                format!("not a checkpoint manifest (JSON: {e}); truncated or corrupt"),
            )
        })?;
        match (head.format.as_deref(), head.version) {
            (Some(FORMAT), Some(v)) if v == u64::from(VERSION) => {}
            (Some(FORMAT), Some(v)) => {
                return Err(bad(
                    &mpath,
                    format!(
                        "format version {v}; this optlab reads version {VERSION} (written by \
                         another optlab version)"
                    ),
                ));
            }
            _ => {
                return Err(bad(
                    &mpath,
                    format!("no `format: \"{FORMAT}\"` and `version`: not an optlab checkpoint"),
                ));
            }
        }
        let m: Manifest =
            serde_json::from_slice(manifest).map_err(|e| bad(&mpath, e.to_string()))?;
        for name in m.files.keys() {
            if !KNOWN_FILES.contains(&name.as_str()) {
                return Err(bad(
                    &mpath,
                    format!(
                        "`files` lists `{name}`; a checkpoint's files are {}",
                        KNOWN_FILES.join(", ")
                    ),
                ));
            }
        }
        let mut file = |name: &str| -> Result<Vec<u8>, NnError> {
            let path = dir.join(name);
            let Some(entry) = m.files.get(name) else {
                return Err(bad(&mpath, format!("`files` does not list `{name}`")));
            };
            let bytes = read(name)?;
            if bytes.len() as u64 != entry.bytes {
                return Err(bad(
                    &path,
                    format!(
                        "{} bytes, the manifest says {}: truncated or corrupt, not loaded",
                        bytes.len(),
                        entry.bytes
                    ),
                ));
            }
            let sha = sha256_hex(&bytes);
            if sha != entry.sha256 {
                return Err(bad(
                    &path,
                    format!(
                        "SHA-256 {sha}, the manifest says {}: corrupt, not loaded",
                        entry.sha256
                    ),
                ));
            }
            Ok(bytes)
        };
        let model_bytes = file(MODEL_FILE)?;
        let params = read_tensors(&dir.join(MODEL_FILE), &model_bytes, &m.params)?;
        let averaged = if m.averaged.is_empty() {
            Vec::new()
        } else {
            let bytes = file(AVERAGED_FILE)?;
            read_tensors(&dir.join(AVERAGED_FILE), &bytes, &m.averaged)?
        };
        let opt_path = dir.join(OPTIMIZER_FILE);
        let opt_bytes = file(OPTIMIZER_FILE)?;
        let opt =
            SafeTensors::deserialize(&opt_bytes).map_err(|e| bad(&opt_path, e.to_string()))?;
        let mut states = Vec::with_capacity(m.optimizer.params.len());
        for p in &m.optimizer.params {
            let buffers = p
                .buffers
                .iter()
                .map(|e| tensor(&opt_path, &opt, e))
                .collect::<Result<_, _>>()?;
            states.push(ParamState {
                name: p.name.clone(),
                shape: p.shape.clone(),
                buffers,
            });
        }
        let records = file(RECORDS_FILE)?;
        let records_csv = String::from_utf8(records)
            .map_err(|e| bad(&dir.join(RECORDS_FILE), format!("not UTF-8: {e}")))?;
        Ok(Checkpoint {
            config: m.config,
            step: m.step,
            elapsed_s: m.elapsed_s,
            train_time_s: m.train_time_s,
            evals: m.evals,
            params,
            averaged,
            optimizer: OptimizerState {
                optimizer: m.optimizer.optimizer,
                step: m.optimizer.step,
                lrs: m.optimizer.lrs,
                params: states,
            },
            schedule: m.schedule,
            records_csv,
        })
    }

    /// The records saved in the checkpoint (with the declared [`metrics::schema`]).
    pub fn records(&self) -> Result<Records, NnError> {
        Records::read_csv_as(self.records_csv.as_bytes(), &metrics::schema()).map_err(|e| {
            NnError::Records(format!(
                "in the checkpoint of `{}`: {e}",
                self.config.common.name
            ))
        })
    }
}

/// The tensors `entries` of the safetensors file `bytes` (at `path`, for errors).
fn read_tensors(
    path: &Path,
    bytes: &[u8],
    entries: &[TensorEntry],
) -> Result<Vec<Buffer<f32>>, NnError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| NnError::Checkpoint {
        path: path.into(),
        message: e.to_string(),
    })?;
    entries.iter().map(|e| tensor(path, &st, e)).collect()
}

/// The f32 tensor `entry.key` of `st`, checked against the manifest's shape.
fn tensor(path: &Path, st: &SafeTensors<'_>, entry: &TensorEntry) -> Result<Buffer<f32>, NnError> {
    let bad = |message: String| NnError::Checkpoint {
        path: path.into(),
        message: format!("tensor `{}`: {message}", entry.key),
    };
    let view = st.tensor(&entry.key).map_err(|e| bad(e.to_string()))?;
    if view.dtype() != Dtype::F32 {
        return Err(bad(format!("dtype {:?}, expected F32", view.dtype())));
    }
    if view.shape() != entry.shape.as_slice() {
        return Err(bad(format!(
            "shape {:?}, the manifest says {:?}",
            view.shape(),
            entry.shape
        )));
    }
    let data = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Buffer {
        name: entry.name.clone(),
        shape: entry.shape.clone(),
        data,
    })
}

fn not_a_checkpoint_dir(path: &Path) -> NnError {
    let old = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".json.gz"));
    let gzip = std::fs::read(path)
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    NnError::Checkpoint {
        path: path.into(),
        message: if old || gzip {
            format!(
                "an old-format checkpoint (version 1: gzip'd JSON), which this optlab no longer \
                 reads; checkpoints are now directories of safetensors files \
                 (RUN_DIR/{CHECKPOINTS_DIR}/step-N). Finish or re-run the run with this optlab \
                 (`optlab train EXPERIMENT`), or resume it with the optlab that wrote it"
            )
        } else {
            "a file, not a checkpoint directory (RUN_DIR/checkpoints/step-N) or run directory"
                .into()
        },
    }
}

/// `checkpoints/step-<N>` of a run directory.
pub fn checkpoint_dir(run_dir: &Path, step: u64) -> PathBuf {
    run_dir
        .join(CHECKPOINTS_DIR)
        .join(format!("step-{step:08}"))
}

/// Saves `ck` as `RUN_DIR/checkpoints/step-<N>`, then removes the run's other checkpoints and
/// any interrupted writes (only after the new one is complete). Returns its directory.
pub fn save_in_run(run_dir: &Path, ck: &Checkpoint) -> Result<PathBuf, NnError> {
    let dir = checkpoint_dir(run_dir, ck.step);
    ck.save(&dir)?;
    stall_point("checkpoint-prune", ck.step);
    let parent = run_dir.join(CHECKPOINTS_DIR);
    let entries = std::fs::read_dir(&parent).map_err(|e| NnError::io(&parent, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path != dir {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|source| NnError::Write { path, source })?;
        }
    }
    Ok(dir)
}

/// The step of a complete checkpoint directory's name (`step-<N>`); `None` for anything else
/// (temporary directories start with a dot).
fn step_of(name: &str) -> Option<u64> {
    name.strip_prefix("step-")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
}

/// What a run directory holds for resuming.
#[derive(Debug, Default)]
pub struct RunCheckpoints {
    /// The complete checkpoint with the highest step (renamed into place; its files are only
    /// verified when it is loaded).
    pub latest: Option<PathBuf>,
    /// Checkpoint writes that were interrupted (temporary directories left by a killed run).
    pub interrupted: Vec<PathBuf>,
    /// An old-format `checkpoint.json.gz`, if there is one.
    pub old_format: Option<PathBuf>,
}

/// Lists the checkpoints of the run directory `run_dir`.
pub fn scan_run(run_dir: &Path) -> Result<RunCheckpoints, NnError> {
    let mut found = RunCheckpoints::default();
    let old = run_dir.join(OLD_CHECKPOINT);
    if old.is_file() {
        found.old_format = Some(old);
    }
    let parent = run_dir.join(CHECKPOINTS_DIR);
    if !parent.is_dir() {
        return Ok(found);
    }
    let mut best: Option<(u64, PathBuf)> = None;
    let entries = std::fs::read_dir(&parent).map_err(|e| NnError::io(&parent, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| NnError::io(&parent, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        match step_of(&name) {
            Some(step) if path.is_dir() && best.as_ref().is_none_or(|(s, _)| step > *s) => {
                best = Some((step, path));
            }
            Some(_) if path.is_dir() => {}
            _ if name.starts_with('.') => found.interrupted.push(path),
            _ => {}
        }
    }
    found.interrupted.sort();
    found.latest = best.map(|(_, p)| p);
    Ok(found)
}

/// Where `optlab train --resume PATH` continues from.
#[derive(Debug)]
pub enum ResumePoint {
    /// A verified checkpoint.
    Checkpoint {
        /// Its directory.
        dir: PathBuf,
        /// The checkpoint.
        checkpoint: Box<Checkpoint>,
        /// The run directory it belongs to (`RUN_DIR` of `RUN_DIR/checkpoints/step-N`).
        run_dir: Option<PathBuf>,
        /// Interrupted checkpoint writes found beside it (ignored).
        interrupted: Vec<PathBuf>,
    },
    /// A run directory in which no checkpoint completed: its configuration, from step 0.
    Fresh {
        /// The run directory.
        run_dir: PathBuf,
        /// Its `config.json`.
        config: Box<TrainConfig>,
        /// Interrupted checkpoint writes found in it (ignored).
        interrupted: Vec<PathBuf>,
    },
}

/// Resolves `path` for resuming: a run directory (its latest complete checkpoint, or its
/// configuration when none completed) or a checkpoint directory. The checkpoint is loaded and
/// verified; a corrupt one is an error, never replaced silently by an older one. An old-format
/// `checkpoint.json.gz` (or a run directory holding only one) is refused with a message.
pub fn resume_point(path: &Path) -> Result<ResumePoint, NnError> {
    if path.is_file() {
        return Err(not_a_checkpoint_dir(path));
    }
    if path.join(MANIFEST).is_file() {
        let run_dir = path
            .parent()
            .filter(|p| p.file_name().is_some_and(|n| n == CHECKPOINTS_DIR))
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let interrupted = match &run_dir {
            Some(r) => scan_run(r)?.interrupted,
            None => Vec::new(),
        };
        return Ok(ResumePoint::Checkpoint {
            dir: path.into(),
            checkpoint: Box::new(Checkpoint::load(path)?),
            run_dir,
            interrupted,
        });
    }
    if !path.is_dir() {
        return Err(NnError::Checkpoint {
            path: path.into(),
            message: "no such run or checkpoint directory".into(),
        });
    }
    let found = scan_run(path)?;
    if let Some(dir) = found.latest {
        let checkpoint = Box::new(Checkpoint::load(&dir)?);
        return Ok(ResumePoint::Checkpoint {
            dir,
            checkpoint,
            run_dir: Some(path.into()),
            interrupted: found.interrupted,
        });
    }
    if path.join(CONFIG_FILE).is_file() {
        return Ok(ResumePoint::Fresh {
            run_dir: path.into(),
            config: Box::new(load_config(path)?),
            interrupted: found.interrupted,
        });
    }
    if let Some(old) = found.old_format {
        return Err(not_a_checkpoint_dir(&old));
    }
    Err(NnError::Checkpoint {
        path: path.into(),
        message: format!(
            "neither {CHECKPOINTS_DIR}/step-N nor {CONFIG_FILE}: not a run directory of \
             `optlab train`"
        ),
    })
}

/// Writes `config.json` into the run directory (crash-safely: temporary file, fsync, rename).
pub fn save_config(run_dir: &Path, config: &TrainConfig) -> Result<(), NnError> {
    let path = run_dir.join(CONFIG_FILE);
    let json = serde_json::to_vec_pretty(config).map_err(|e| NnError::Checkpoint {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let tmp = run_dir.join(format!(".{CONFIG_FILE}.tmp-{}", std::process::id()));
    write_synced(&tmp, &json)?;
    std::fs::rename(&tmp, &path).map_err(|source| NnError::Write {
        path: path.clone(),
        source,
    })?;
    sync_dir(run_dir)
}

/// Reads `config.json` of a run directory.
pub fn load_config(run_dir: &Path) -> Result<TrainConfig, NnError> {
    let path = run_dir.join(CONFIG_FILE);
    let bytes = std::fs::read(&path).map_err(|e| NnError::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| NnError::Checkpoint {
        path,
        message: e.to_string(),
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), NnError> {
    let write = |source| NnError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::create(path).map_err(write)?;
    f.write_all(bytes).map_err(write)?;
    f.sync_all().map_err(write)
}

/// fsync of a directory (its entries: created and renamed files). Directories cannot be
/// opened for syncing on Windows; there this is a no-op.
fn sync_dir(dir: &Path) -> Result<(), NnError> {
    #[cfg(unix)]
    {
        let f = std::fs::File::open(dir).map_err(|e| NnError::io(dir, e))?;
        f.sync_all().map_err(|source| NnError::Write {
            path: dir.into(),
            source,
        })?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `files` into a temporary sibling of `dir`, fsyncs them and it, and renames it to
/// `dir` (an existing `dir` is moved aside first and removed after).
fn write_dir_atomically(dir: &Path, files: &[(&str, Vec<u8>)], step: u64) -> Result<(), NnError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| NnError::Checkpoint {
            path: dir.into(),
            message: "a checkpoint directory needs a name".into(),
        })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let write = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NnError::Write { path, source }
    };
    std::fs::create_dir_all(&parent).map_err(write(&parent))?;
    let pid = std::process::id();
    let tmp = parent.join(format!(".{name}.tmp-{pid}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(write(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(write(&tmp))?;
    for (file, bytes) in files {
        let path = tmp.join(file);
        if *file == OPTIMIZER_FILE && stall_requested("checkpoint-write", step) {
            // the test hook: leave a truncated file behind, as a kill mid-write does
            let half = &bytes[..bytes.len() / 2];
            std::fs::File::create(&path)
                .and_then(|mut f| f.write_all(half))
                .map_err(write(&path))?;
            stall_point("checkpoint-write", step);
        }
        write_synced(&path, bytes)?;
    }
    sync_dir(&tmp)?;
    let old = parent.join(format!(".{name}.old-{pid}"));
    let replacing = dir.exists();
    if replacing {
        std::fs::rename(dir, &old).map_err(write(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(write(dir))?;
    sync_dir(&parent)?;
    if replacing {
        std::fs::remove_dir_all(&old).map_err(write(&old))?;
    }
    Ok(())
}

/// The environment variable of the test hook [`stall_point`].
pub const STALL_ENV: &str = "OPTLAB_TEST_STALL";

fn stall_spec() -> Option<(String, PathBuf)> {
    let spec = std::env::var(STALL_ENV).ok()?;
    let (at, marker) = spec.split_once(':')?;
    Some((at.to_string(), PathBuf::from(marker)))
}

fn stall_requested(stage: &str, step: u64) -> bool {
    stall_spec().is_some_and(|(at, _)| at == format!("{stage}@{step}"))
}

/// Test hook for crash tests: with `OPTLAB_TEST_STALL=<stage>@<step>:<marker file>` in the
/// environment, the process creates the marker file and sleeps forever when it reaches that
/// point, so a test can kill it there deterministically. Stages: `step` (after training step
/// `step`), `checkpoint-write` (the checkpoint of step `step` half-written: model written, the
/// optimizer file truncated), `checkpoint-prune` (that checkpoint complete, the older not yet
/// removed). Without the variable this does nothing.
#[doc(hidden)]
pub fn stall_point(stage: &str, step: u64) {
    let Some((at, marker)) = stall_spec() else {
        return;
    };
    if at != format!("{stage}@{step}") {
        return;
    }
    // the marker's content is irrelevant; failing to write it only makes the test time out
    let _ = std::fs::write(&marker, format!("{stage}@{step}\n"));
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names() {
        assert_eq!(step_of("step-00000100"), Some(100));
        assert_eq!(step_of("step-"), None);
        assert_eq!(step_of(".step-00000100.tmp-12"), None);
        assert_eq!(step_of("step-12a"), None);
        assert_eq!(step_of("step-99999999999999999999999"), None);
    }

    #[test]
    fn unique_keys() {
        let mut taken = std::collections::HashSet::new();
        assert_eq!(unique("a".into(), &mut taken), "a");
        assert_eq!(unique("a".into(), &mut taken), "a#1");
        assert_eq!(unique("a".into(), &mut taken), "a#2");
    }
}
