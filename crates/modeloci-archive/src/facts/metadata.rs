//! What a model is, read from its files without loading a tensor: safetensors headers, GGUF
//! metadata and tensor infos, and a Hugging Face `config.json`.
//!
//! Every reader here is bounded: header lengths, string lengths, array and tensor counts and
//! dimensions are capped and overflow-checked. A file that breaks a cap or does not parse
//! gives a warning and no facts, never a panic or a large allocation.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};

use crate::facts::files::{extension, weight_format};
use crate::facts::pickles;
use crate::source::SourceFile;

/// The largest safetensors header read (the format's own limit is 100 MB; real ones are a
/// few MB).
const MAX_SAFETENSORS_HEADER: u64 = 32 << 20;
/// The largest `config.json` read.
const MAX_CONFIG_JSON: u64 = 1 << 20;
/// GGUF caps: keys, strings, counts, dimensions.
const MAX_GGUF_KEY: u64 = 64 << 10;
const MAX_GGUF_STRING: u64 = 16 << 20;
const MAX_GGUF_COUNT: u64 = 1 << 28;
const MAX_GGUF_DIMS: u32 = 8;

/// Facts about a model, as far as its files tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelFacts {
    /// The number of parameters (tensor elements) in the weights.
    pub parameters: Option<u64>,
    /// The dominant data type of the weights, by element count: `bf16`, `f16`, `f32`, ...
    pub dtype: Option<String>,
    /// The weights' file format: `safetensors`, `gguf`, `pytorch`, `onnx`, ... When the
    /// model holds weights of several formats, all of them, comma-separated, the most
    /// specific first (`safetensors,gguf`); [`Self::main_format`] is the first.
    pub format: Option<String>,
    /// The quantization: `gptq`, `awq`, `q4_k_m`, ...
    pub quantization: Option<String>,
    /// The architecture a `config.json` or GGUF file names (`LlamaForCausalLM`, `llama`).
    pub architecture: Option<String>,
}

impl ModelFacts {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The most specific of the weights' formats: the first of [`Self::format`].
    pub fn main_format(&self) -> Option<&str> {
        self.format.as_deref().and_then(|f| f.split(',').next())
    }

    /// The framework that loads weights of the [main format](Self::main_format):
    ///
    /// | format        | framework    |
    /// |---------------|--------------|
    /// | `safetensors` | `pytorch`    |
    /// | `pytorch`     | `pytorch`    |
    /// | `gguf`        | `llama.cpp`  |
    /// | `onnx`        | `onnx`       |
    /// | `keras`       | `keras`      |
    /// | `tflite`      | `tensorflow` |
    /// | `flax`        | `jax`        |
    ///
    /// `None` when no format was detected.
    pub fn framework(&self) -> Option<&'static str> {
        Some(match self.main_format()? {
            "safetensors" | "pytorch" => "pytorch",
            "gguf" => "llama.cpp",
            "onnx" => "onnx",
            "keras" => "keras",
            "tflite" => "tensorflow",
            "flax" => "jax",
            _ => return None,
        })
    }
}

/// Facts, and warnings about files that could not be read for them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Detection {
    pub(crate) facts: ModelFacts,
    pub(crate) warnings: Vec<String>,
    /// Weight files whose header parsed, or whose first bytes showed them to be what
    /// `torch.save` writes (their media type is then "tested").
    pub(crate) checked: Vec<String>,
}

/// A reader of a file's bytes, and its size.
pub(crate) type Opened<'a> = (Box<dyn Read + 'a>, u64);

/// A file the facts may come from: its path in the model, and how to read it.
pub(crate) struct Candidate<'a> {
    pub(crate) rel: String,
    pub(crate) open: Box<dyn Fn() -> io::Result<Opened<'a>> + 'a>,
}

/// Whether a path names a file [`detect`] takes facts from: a weight of a format facts
/// name (safetensors and GGUF headers and the first bytes of pickles are read, the others
/// count by their extension), or `config.json`.
pub(crate) fn is_inspected(rel: &str) -> bool {
    weight_format(&extension(rel)).is_some() || rel == "config.json"
}

/// Reads what the model's files (in the model directory) say about it.
pub(crate) fn detect_files(files: &[SourceFile]) -> Detection {
    let candidates: Vec<Candidate<'_>> = files
        .iter()
        .map(|f| Candidate {
            rel: f.rel.clone(),
            open: Box::new(move || {
                Ok((
                    Box::new(crate::source::open_regular(&f.path)?) as Box<dyn Read>,
                    f.size,
                ))
            }),
        })
        .collect();
    detect(&candidates)
}

/// Reads what the given files say about the model.
pub(crate) fn detect(files: &[Candidate<'_>]) -> Detection {
    let mut tally = Tally::default();
    for file in files {
        tally.weight(file);
    }
    if let Some(config) = files.iter().find(|f| f.rel == "config.json") {
        tally.hf_config(config);
    }
    tally.finish()
}

/// Weight formats, the most specific first: safetensors or gguf over pickles.
const FORMAT_PREFERENCE: [&str; 7] = [
    "safetensors",
    "gguf",
    "onnx",
    "pytorch",
    "keras",
    "tflite",
    "flax",
];

/// What [`detect`] has found so far.
#[derive(Default)]
struct Tally {
    detection: Detection,
    /// Tensor elements, once any tensor (or GGUF file) was counted.
    parameters: Option<u64>,
    /// Elements per data type.
    dtypes: BTreeMap<String, u64>,
    /// The formats of the weight files seen.
    formats: Vec<&'static str>,
}

impl Tally {
    fn count(&mut self, n: u64) {
        self.parameters = Some(self.parameters.unwrap_or(0).saturating_add(n));
    }

    fn warn(&mut self, rel: &str, why: &str) {
        self.detection
            .warnings
            .push(format!("{rel}: {why}; no metadata from it"));
    }

    /// A weight file: safetensors and GGUF headers are read; pickle extensions count as
    /// `pytorch` only when the first bytes are a pickle or torch's zip ([`pickles::sniff`]);
    /// other weights count by their extension alone.
    fn weight(&mut self, file: &Candidate<'_>) {
        let ext = extension(&file.rel);
        let Some(format) = weight_format(&ext) else {
            return;
        };
        let open = || (file.open)().map_err(|e| e.to_string());
        let parsed = match format {
            "safetensors" => Some(
                open()
                    .and_then(|(r, size)| safetensors(r, size))
                    .map(|tensors| self.add_tensors(tensors)),
            ),
            "gguf" => Some(
                open()
                    .and_then(|(r, size)| gguf(r, size))
                    .map(|g| self.add_gguf(g)),
            ),
            "pytorch" => match open().and_then(|(r, _)| pickles::sniff(r)) {
                // A weight of a format facts do not know: no format, and no warning.
                Ok(false) => return,
                result => Some(result.map(drop)),
            },
            _ => None,
        };
        match parsed {
            Some(Err(why)) => return self.warn(&file.rel, &why),
            Some(Ok(())) => self.detection.checked.push(file.rel.clone()),
            None => {}
        }
        self.formats.push(format);
    }

    fn add_tensors(&mut self, tensors: Vec<(String, u64)>) {
        for (dtype, count) in tensors {
            self.count(count);
            self.add_dtype(dtype, count);
        }
    }

    /// `count` more elements of `dtype`; counts from hostile headers saturate, never wrap.
    fn add_dtype(&mut self, dtype: String, count: u64) {
        let n = self.dtypes.entry(dtype).or_default();
        *n = n.saturating_add(count);
    }

    /// A GGUF file; the first to name a quantization or an architecture wins.
    fn add_gguf(&mut self, g: Gguf) {
        self.count(g.parameters);
        match &g.file_type {
            Some(t) => self.add_dtype(t.clone(), g.parameters),
            None => {
                for (name, count) in g.tensor_types {
                    self.add_dtype(name.to_owned(), count);
                }
            }
        }
        let facts = &mut self.detection.facts;
        facts.quantization = facts.quantization.take().or(g.quantization);
        facts.architecture = facts.architecture.take().or(g.architecture);
    }

    /// A Hugging Face `config.json`: its architecture and quantization win; its dtype counts
    /// only when no weight header named one.
    fn hf_config(&mut self, config: &Candidate<'_>) {
        match (config.open)()
            .map_err(|e| e.to_string())
            .and_then(|(r, size)| hf_config(r, size))
        {
            Ok(hf) => {
                let facts = &mut self.detection.facts;
                facts.architecture = hf.architecture.or(facts.architecture.take());
                facts.quantization = hf.quantization.or(facts.quantization.take());
                if self.dtypes.is_empty() {
                    facts.dtype = hf.dtype;
                }
            }
            Err(why) => self.warn(&config.rel, &why),
        }
    }

    /// The facts: the parameters counted, the data type with the most elements (ties to the
    /// first name), the formats seen, the most specific first.
    fn finish(mut self) -> Detection {
        let facts = &mut self.detection.facts;
        facts.parameters = self.parameters;
        if let Some((dtype, _)) = self
            .dtypes
            .iter()
            .max_by_key(|(name, n)| (**n, std::cmp::Reverse((*name).clone())))
        {
            facts.dtype = Some(dtype.clone());
        }
        let formats: Vec<&str> = FORMAT_PREFERENCE
            .into_iter()
            .filter(|f| self.formats.contains(f))
            .collect();
        facts.format = (!formats.is_empty()).then(|| formats.join(","));
        let detection = &mut self.detection;
        for (what, value) in [
            ("a data type", &mut detection.facts.dtype),
            ("a quantization", &mut detection.facts.quantization),
            ("an architecture", &mut detection.facts.architecture),
        ] {
            if let Some(why) = value.as_deref().and_then(implausible) {
                detection
                    .warnings
                    .push(format!("the weights name {what} that {why}; not recorded"));
                *value = None;
            }
        }
        self.detection
    }
}

/// The longest name a fact is recorded with (real architectures, dtypes and quantizations
/// are under 64 bytes); a longer one would bloat the manifest it is an annotation of.
const MAX_FACT_NAME: usize = 128;

/// Why a name from a weight header or `config.json` is not recorded as a fact: empty, too
/// long, or holding characters that must not reach a terminal.
fn implausible(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("is empty".into())
    } else if name.len() > MAX_FACT_NAME {
        Some(format!("is {} bytes long", name.len()))
    } else if name.chars().any(modeloci_spec::text::is_hostile) {
        Some("holds control characters".into())
    } else {
        None
    }
}

/// safetensors: (dtype, element count) per tensor.
fn safetensors(mut file: impl Read, size: u64) -> Result<Vec<(String, u64)>, String> {
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| "too short for a safetensors header".to_owned())?;
    let len = u64::from_le_bytes(len);
    if len > MAX_SAFETENSORS_HEADER || len > size.saturating_sub(8) {
        return Err(format!("safetensors header claims {len} bytes"));
    }
    let mut header = vec![0u8; usize::try_from(len).map_err(|e| e.to_string())?];
    file.read_exact(&mut header).map_err(|e| e.to_string())?;
    let doc: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| format!("safetensors header is not a JSON object: {e}"))?;
    let mut out = Vec::with_capacity(doc.len());
    for (name, tensor) in &doc {
        if name == "__metadata__" {
            continue;
        }
        let bad = || format!("tensor {name:?} has no valid dtype and shape");
        let dtype = tensor
            .get("dtype")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(bad)?;
        let shape = tensor
            .get("shape")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(bad)?;
        let mut count = 1u64;
        for dim in shape {
            let d = dim.as_u64().ok_or_else(bad)?;
            count = count
                .checked_mul(d)
                .ok_or_else(|| format!("tensor {name:?} has a shape whose size overflows"))?;
        }
        out.push((normalize_dtype(dtype), count));
    }
    Ok(out)
}

fn normalize_dtype(dtype: &str) -> String {
    match dtype.to_ascii_uppercase().as_str() {
        "BF16" | "BFLOAT16" => "bf16",
        "F16" | "FLOAT16" | "HALF" => "f16",
        "F32" | "FLOAT32" | "FLOAT" => "f32",
        "F64" | "FLOAT64" => "f64",
        "F8_E4M3" => "f8_e4m3",
        "F8_E5M2" => "f8_e5m2",
        "I8" | "INT8" => "i8",
        "U8" | "UINT8" => "u8",
        "I16" => "i16",
        "I32" => "i32",
        "I64" => "i64",
        "BOOL" => "bool",
        other => return other.to_ascii_lowercase(),
    }
    .to_owned()
}

struct Gguf {
    parameters: u64,
    architecture: Option<String>,
    file_type: Option<String>,
    quantization: Option<String>,
    /// Elements per ggml tensor type name.
    tensor_types: BTreeMap<&'static str, u64>,
}

/// A reader that refuses to go past the end of the file.
struct Bounded<R> {
    inner: R,
    pos: u64,
    size: u64,
}

impl<R: Read> Bounded<R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|_| "ends early".to_owned())?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.size.saturating_sub(self.pos) {
            return Err(format!("claims {n} bytes past the end of the file"));
        }
        let skipped = io::copy(&mut self.inner.by_ref().take(n), &mut io::sink())
            .map_err(|e| e.to_string())?;
        if skipped < n {
            return Err("ends early".into());
        }
        self.pos += n;
        Ok(())
    }

    /// A GGUF string: u64 length, then bytes; kept only when `keep` and short.
    fn string(&mut self, cap: u64, keep: bool) -> Result<Option<String>, String> {
        let len = self.u64()?;
        if len > cap {
            return Err(format!("has a string of {len} bytes"));
        }
        if !keep {
            self.skip(len)?;
            return Ok(None);
        }
        if len > self.size.saturating_sub(self.pos) {
            return Err("ends early".into());
        }
        let mut buf = vec![0u8; usize::try_from(len).map_err(|e| e.to_string())?];
        self.inner
            .read_exact(&mut buf)
            .map_err(|_| "ends early".to_owned())?;
        self.pos += len;
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }
}

/// The byte size of a fixed-size GGUF value type.
fn gguf_scalar_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),     // u16, i16
        4..=6 => Some(4),     // u32, i32, f32
        10..=12 => Some(8),   // u64, i64, f64
        _ => None,
    }
}

/// A GGUF file's architecture, file type and parameter count.
fn gguf(file: impl Read, size: u64) -> Result<Gguf, String> {
    let mut r = Bounded {
        inner: BufReader::with_capacity(64 << 10, file),
        pos: 0,
        size,
    };
    if &r.bytes::<4>()? != b"GGUF" {
        return Err("not a GGUF file (no GGUF magic)".into());
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(format!("GGUF version {version} is not supported"));
    }
    let tensors = r.u64()?;
    let kvs = r.u64()?;
    if tensors > MAX_GGUF_COUNT || kvs > MAX_GGUF_COUNT {
        return Err(format!(
            "GGUF header claims {tensors} tensors and {kvs} metadata entries"
        ));
    }
    let (architecture, file_type) = gguf_metadata(&mut r, kvs)?;
    let tensor_types = gguf_tensor_types(&mut r, tensors)?;
    let parameters = tensor_types.values().try_fold(0u64, |sum, n| {
        sum.checked_add(*n).ok_or("the parameter count overflows")
    })?;
    let (file_type, quantization) = match file_type.map(gguf_file_type) {
        Some((name, quantized)) => (Some(name.to_owned()), quantized.then(|| name.to_owned())),
        // Without a file type, the quantized tensor type with the most elements.
        None => (None, most_quantized(&tensor_types)),
    };
    Ok(Gguf {
        parameters,
        architecture,
        file_type,
        quantization,
        tensor_types,
    })
}

/// The `kvs` metadata entries of a GGUF header: `general.architecture` and
/// `general.file_type` kept, the rest skipped.
fn gguf_metadata<R: Read>(
    r: &mut Bounded<R>,
    kvs: u64,
) -> Result<(Option<String>, Option<u32>), String> {
    let (mut architecture, mut file_type) = (None, None);
    for _ in 0..kvs {
        let key = r.string(MAX_GGUF_KEY, true)?.unwrap_or_default();
        let kind = r.u32()?;
        match (key.as_str(), kind) {
            ("general.architecture", 8) => architecture = r.string(MAX_GGUF_STRING, true)?,
            ("general.file_type", 4) => file_type = Some(r.u32()?),
            (_, 8) => {
                r.string(MAX_GGUF_STRING, false)?;
            }
            (_, 9) => gguf_skip_array(r, &key)?,
            (_, k) => match gguf_scalar_size(k) {
                Some(n) => r.skip(n)?,
                None => return Err(format!("metadata {key:?} has unknown type {k}")),
            },
        }
    }
    Ok((architecture, file_type))
}

/// Skips a GGUF array value (after its type): item type, count, items.
fn gguf_skip_array<R: Read>(r: &mut Bounded<R>, key: &str) -> Result<(), String> {
    let item = r.u32()?;
    let count = r.u64()?;
    if count > MAX_GGUF_COUNT {
        return Err(format!("metadata {key:?} claims {count} items"));
    }
    match (item, gguf_scalar_size(item)) {
        (_, Some(n)) => r.skip(count.checked_mul(n).ok_or("an array size overflows")?),
        (8, None) => {
            for _ in 0..count {
                r.string(MAX_GGUF_STRING, false)?;
            }
            Ok(())
        }
        _ => Err(format!("metadata {key:?} is an array of type {item}")),
    }
}

/// The quantized type among `types` (elements per ggml type name) with the most elements
/// (ties to the first name).
fn most_quantized(types: &BTreeMap<&'static str, u64>) -> Option<String> {
    types
        .iter()
        .filter(|(name, _)| ggml_is_quantized(name))
        .max_by_key(|(name, n)| (**n, std::cmp::Reverse(**name)))
        .map(|(name, _)| (*name).to_owned())
}

/// Elements per ggml type in a GGUF file's `tensors` tensor infos.
fn gguf_tensor_types<R: Read>(
    r: &mut Bounded<R>,
    tensors: u64,
) -> Result<BTreeMap<&'static str, u64>, String> {
    let mut types = BTreeMap::new();
    for _ in 0..tensors {
        r.string(MAX_GGUF_KEY, false)?;
        let dims = r.u32()?;
        if dims > MAX_GGUF_DIMS {
            return Err(format!("a tensor claims {dims} dimensions"));
        }
        let mut count = 1u64;
        for _ in 0..dims {
            count = count
                .checked_mul(r.u64()?)
                .ok_or("a tensor's size overflows")?;
        }
        let kind = ggml_type(r.u32()?);
        r.u64()?; // offset
        let n: &mut u64 = types.entry(kind).or_default();
        *n = n
            .checked_add(count)
            .ok_or("the parameter count overflows")?;
    }
    Ok(types)
}

/// The name of a ggml tensor type id (ggml.h's `enum ggml_type`), lower-cased.
fn ggml_type(id: u32) -> &'static str {
    match id {
        0 => "f32",
        1 => "f16",
        2 => "q4_0",
        3 => "q4_1",
        6 => "q5_0",
        7 => "q5_1",
        8 => "q8_0",
        9 => "q8_1",
        10 => "q2_k",
        11 => "q3_k",
        12 => "q4_k",
        13 => "q5_k",
        14 => "q6_k",
        15 => "q8_k",
        16 => "iq2_xxs",
        17 => "iq2_xs",
        18 => "iq3_xxs",
        19 => "iq1_s",
        20 => "iq4_nl",
        21 => "iq3_s",
        22 => "iq2_s",
        23 => "iq4_xs",
        24 => "i8",
        25 => "i16",
        26 => "i32",
        27 => "i64",
        28 => "f64",
        29 => "iq1_m",
        30 => "bf16",
        34 => "tq1_0",
        35 => "tq2_0",
        39 => "mxfp4",
        _ => "unknown",
    }
}

/// Whether a [`ggml_type`] name is a quantized (block) type rather than a plain float or
/// integer one; an unknown type counts as quantized, as an unknown file type does.
fn ggml_is_quantized(name: &str) -> bool {
    !matches!(
        name,
        "f32" | "f16" | "bf16" | "f64" | "i8" | "i16" | "i32" | "i64"
    )
}

/// llama.cpp's `general.file_type` values: (name, whether it is a quantization).
fn gguf_file_type(t: u32) -> (&'static str, bool) {
    match t {
        0 => ("f32", false),
        1 => ("f16", false),
        32 => ("bf16", false),
        2 => ("q4_0", true),
        3 => ("q4_1", true),
        7 => ("q8_0", true),
        8 => ("q5_0", true),
        9 => ("q5_1", true),
        10 => ("q2_k", true),
        11 => ("q3_k_s", true),
        12 => ("q3_k_m", true),
        13 => ("q3_k_l", true),
        14 => ("q4_k_s", true),
        15 => ("q4_k_m", true),
        16 => ("q5_k_s", true),
        17 => ("q5_k_m", true),
        18 => ("q6_k", true),
        19 => ("iq2_xxs", true),
        20 => ("iq2_xs", true),
        21 => ("q2_k_s", true),
        22 => ("iq3_xs", true),
        23 => ("iq3_xxs", true),
        24 => ("iq1_s", true),
        25 => ("iq4_nl", true),
        26 => ("iq3_s", true),
        27 => ("iq3_m", true),
        28 => ("iq2_s", true),
        29 => ("iq2_m", true),
        30 => ("iq4_xs", true),
        31 => ("iq1_m", true),
        _ => ("unknown", true),
    }
}

struct HfConfig {
    architecture: Option<String>,
    dtype: Option<String>,
    quantization: Option<String>,
}

fn hf_config(file: impl Read, size: u64) -> Result<HfConfig, String> {
    if size > MAX_CONFIG_JSON {
        return Err(format!("{size} bytes is more than a config.json needs"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_JSON)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let text =
        |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).map(str::to_owned);
    Ok(HfConfig {
        architecture: doc
            .get("architectures")
            .and_then(serde_json::Value::as_array)
            .and_then(|a| text(a.first()))
            .or_else(|| text(doc.get("model_type"))),
        dtype: text(doc.get("torch_dtype")).map(|d| {
            normalize_dtype(
                &d.replace("bfloat16", "bf16")
                    .replace("float16", "f16")
                    .replace("float32", "f32"),
            )
        }),
        quantization: doc
            .get("quantization_config")
            .and_then(|q| text(q.get("quant_method"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frameworks_of_formats() {
        let of = |format: Option<&str>| ModelFacts {
            format: format.map(str::to_owned),
            ..ModelFacts::default()
        };
        for (format, framework) in [
            ("safetensors", Some("pytorch")),
            ("pytorch", Some("pytorch")),
            ("gguf,pytorch", Some("llama.cpp")),
            ("onnx", Some("onnx")),
            ("keras", Some("keras")),
            ("tflite", Some("tensorflow")),
            ("flax", Some("jax")),
            ("mystery", None),
        ] {
            assert_eq!(of(Some(format)).framework(), framework, "{format}");
        }
        assert_eq!(of(None).framework(), None);
        assert_eq!(of(Some("gguf,pytorch")).main_format(), Some("gguf"));
    }

    #[test]
    fn the_most_common_quantized_tensor_type() {
        let types = |t: &[(&'static str, u64)]| t.iter().copied().collect::<BTreeMap<_, _>>();
        assert_eq!(
            most_quantized(&types(&[("f32", 900), ("q4_k", 100), ("q6_k", 50)])).as_deref(),
            Some("q4_k")
        );
        assert_eq!(
            most_quantized(&types(&[("q8_0", 10), ("q4_0", 10)])).as_deref(),
            Some("q4_0"),
            "a tie goes to the first name"
        );
        assert_eq!(most_quantized(&types(&[("f16", 10), ("bf16", 5)])), None);
        assert_eq!(
            [0, 1, 8, 12, 30, 39, 4, 99].map(ggml_type),
            [
                "f32", "f16", "q8_0", "q4_k", "bf16", "mxfp4", "unknown", "unknown"
            ]
        );
    }
}
