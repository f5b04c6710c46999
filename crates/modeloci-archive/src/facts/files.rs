//! What a file is by its name: the extension tables facts and profiles share.

/// Weight file extensions, with the format facts name for them (`None`: a weight, in no
/// format facts name).
const WEIGHTS: &[(&str, Option<&str>)] = &[
    ("safetensors", Some("safetensors")),
    ("gguf", Some("gguf")),
    ("bin", Some("pytorch")),
    ("pt", Some("pytorch")),
    ("pth", Some("pytorch")),
    ("onnx", Some("onnx")),
    ("ckpt", Some("pytorch")),
    ("h5", Some("keras")),
    ("keras", Some("keras")),
    ("tflite", Some("tflite")),
    ("msgpack", Some("flax")),
    ("npy", None),
    ("npz", None),
    ("pb", None),
    ("mlmodel", None),
    ("engine", None),
    ("plan", None),
    ("ot", None),
    ("joblib", None),
    ("pkl", None),
];

/// The lower-cased extension of a path's file name (after its last `.`), or `""`.
pub(crate) fn extension(rel: &str) -> String {
    rel.rsplit('/')
        .next()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether `ext` (lower-cased) is a weight file's extension.
pub(crate) fn is_weight(ext: &str) -> bool {
    WEIGHTS.iter().any(|(e, _)| *e == ext)
}

/// The format of weights with extension `ext` (lower-cased), when facts name one.
pub(crate) fn weight_format(ext: &str) -> Option<&'static str> {
    WEIGHTS
        .iter()
        .find(|(e, _)| *e == ext)
        .and_then(|(_, f)| *f)
}
