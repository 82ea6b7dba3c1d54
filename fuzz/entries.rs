//! The fuzz entry points: one function per reader of user files, fed arbitrary bytes. Each
//! must return (an `Err` is fine) without panicking, and checks what a successful parse
//! promises. Shared, through `#[path]`, by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and
//! by the corpus replay test that CI runs (`crates/optlab-cli/tests/fuzz_corpus.rs`).

use std::path::Path;

use optlab::problem::data::{Dataset, Format, LabelColumn};
use optlab::problem::libsvm::{self, LibsvmOptions, ZeroBased};

/// A fuzz target: its name and its entry function.
pub type Target = (&'static str, fn(&[u8]));

/// The targets, by name (the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*/`).
pub const TARGETS: [Target; 6] = [
    ("experiment_toml", experiment_toml),
    ("train_config", train_config),
    ("libsvm", libsvm),
    ("csv", csv),
    ("trace_json", trace_json),
    ("checkpoint", checkpoint),
];

/// `optlab run EXPERIMENT.toml`: parse and validate the experiment.
pub fn experiment_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = optlab::runner::spec::ExperimentSpec::from_toml(text, &[]) {
        let _ = spec.validate();
    }
}

/// `optlab train EXPERIMENT.toml`: parse and validate the training configuration.
pub fn train_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = optlab_nn::TrainConfig::from_toml(text, &[]) {
        let _ = cfg.validate();
    }
}

/// LIBSVM files: the first byte picks the options (`zero_based`, `query_id`, `n_features`);
/// the in-memory and the streaming reader must agree, and a parsed file is well-formed CSR.
pub fn libsvm(data: &[u8]) {
    let Some((&opt, body)) = data.split_first() else {
        return;
    };
    let opts = LibsvmOptions {
        zero_based: match opt % 3 {
            0 => ZeroBased::Auto,
            1 => ZeroBased::Fixed(true),
            _ => ZeroBased::Fixed(false),
        },
        query_id: opt & 4 != 0,
        n_features: (opt & 8 != 0).then_some(usize::from(opt >> 4)),
    };
    let parsed = libsvm::parse(body, "fuzz.svm", &opts);
    let streamed = libsvm::read(body, "fuzz.svm", &opts);
    match (&parsed, &streamed) {
        // compared as text: NaN values (`1:nan`) are equal there
        (Ok(a), Ok(b)) => assert_eq!(
            format!("{a:?}"),
            format!("{b:?}"),
            "parse and read disagree"
        ),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("parse: {parsed:?}, read: {streamed:?}"),
    }
    if let Ok(d) = parsed {
        assert_eq!(d.row_ptr.len(), d.rows + 1);
        assert_eq!(d.labels.len(), d.rows);
        assert_eq!(d.col_idx.len(), d.values.len());
        assert!(d.col_idx.iter().all(|&c| (c as usize) < d.cols));
        if let Some(n) = opts.n_features {
            assert_eq!(d.cols, n);
        }
    }
    let ds = Dataset::from_reader(
        body,
        "fuzz.svm",
        Format::Libsvm,
        &LabelColumn::default(),
        &opts,
    );
    if let Ok(ds) = ds {
        assert_eq!(ds.labels.len(), ds.rows());
    }
}

/// CSV data files (label column by index or name, from the first byte) and records CSV
/// (`metrics.csv`, a checkpoint's `records.csv`).
pub fn csv(data: &[u8]) {
    let Some((&opt, body)) = data.split_first() else {
        return;
    };
    let label = match opt % 4 {
        0 => LabelColumn::default(),
        1 => LabelColumn::Index(0),
        2 => LabelColumn::Index(i64::from(opt >> 2) - 32),
        _ => LabelColumn::Name("y".into()),
    };
    let svm = LibsvmOptions::default();
    if let Ok(ds) = Dataset::from_reader(body, "fuzz.csv", Format::Csv, &label, &svm) {
        assert_eq!(ds.labels.len(), ds.rows());
        assert_eq!(ds.lines.len(), ds.rows());
    }
    if let Ok(records) = optlab::record::Records::read_csv(body) {
        let mut again = Vec::new();
        records.write_csv(&mut again).expect("records write back");
        let back = optlab::record::Records::read_csv(again.as_slice()).expect("records read back");
        assert_eq!(back.rows.len(), records.rows.len());
    }
}

/// `optlab verify`: trace files (parsed, each case's optimizer built) and schedule files
/// (each case replayed: one lr per step of its reference).
pub fn trace_json(data: &[u8]) {
    use optlab::verify;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = verify::TraceFile::from_json(text) {
        for case in &file.cases {
            let _ = verify::case_optimizer::<f64>(case);
        }
    }
    if let Ok(file) = verify::ScheduleFile::from_json(text) {
        for (name, case) in &file.cases {
            let _ = verify::replay_schedule_case(name, case);
        }
    }
}

/// The separator of a checkpoint fuzz input's parts: manifest, model, optimizer, averaged,
/// records.
pub const PART: &[u8] = b"\n\x00PART\x00\n";

/// A checkpoint directory given as its files joined by [`PART`]; the manifest's sizes and
/// checksums are set to those of the given files (when it is a JSON object with `files`), so
/// that inputs reach the safetensors and records readers rather than stop at the checksum.
pub fn checkpoint(data: &[u8]) {
    use optlab_nn::checkpoint as ck;
    let mut parts = split(data, PART);
    let manifest = parts.remove(0);
    let names = [
        ck::MODEL_FILE,
        ck::OPTIMIZER_FILE,
        ck::AVERAGED_FILE,
        ck::RECORDS_FILE,
    ];
    let files: Vec<(&str, &[u8])> = names.into_iter().zip(parts).collect();
    let mut manifest = manifest.to_vec();
    if let Ok(mut m) = serde_json::from_slice::<serde_json::Value>(&manifest)
        && let Some(listed) = m.get_mut("files").and_then(|f| f.as_object_mut())
    {
        for (name, bytes) in &files {
            if let Some(entry) = listed.get_mut(*name).and_then(|e| e.as_object_mut()) {
                entry.insert("bytes".into(), bytes.len().into());
                entry.insert("sha256".into(), ck::sha256_hex(bytes).into());
            }
        }
        manifest = serde_json::to_vec(&m).expect("a JSON value serializes");
    }
    let mut read = |name: &str| -> Result<Vec<u8>, optlab_nn::NnError> {
        files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.to_vec())
            .ok_or_else(|| {
                optlab_nn::NnError::io(name, std::io::Error::from(std::io::ErrorKind::NotFound))
            })
    };
    if let Ok(c) = optlab_nn::Checkpoint::decode(Path::new("fuzz"), &manifest, &mut read) {
        // what loads must encode again and decode to the same checkpoint
        let again = c
            .encode(Path::new("fuzz"))
            .expect("a loaded checkpoint encodes");
        let (last, rest) = again.split_last().expect("files");
        let mut read = |name: &str| -> Result<Vec<u8>, optlab_nn::NnError> {
            Ok(rest
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, b)| b.clone())
                .unwrap_or_default())
        };
        let back = optlab_nn::Checkpoint::decode(Path::new("fuzz"), &last.1, &mut read)
            .expect("a re-encoded checkpoint decodes");
        let twice = back
            .encode(Path::new("fuzz"))
            .expect("a loaded checkpoint encodes");
        assert!(twice == again, "decode ∘ encode is not the identity");
    }
}

/// `data` split at every `sep` (always at least one part).
pub fn split<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        parts.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    parts.push(rest);
    parts
}
