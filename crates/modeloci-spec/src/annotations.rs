//! Annotation keys: the OCI pre-defined ones and those modeloci and ModelPack define.
//!
//! Annotations are string-to-string maps on manifests, indexes and descriptors. The values
//! below are the keys; what each one holds is documented on it.

/// The human-readable title: on a manifest the model name, on a layer its file's path
/// relative to the model root (`/`-separated).
pub const TITLE: &str = "org.opencontainers.image.title";
/// The version of the packaged model.
pub const VERSION: &str = "org.opencontainers.image.version";
/// When the artifact was created, RFC 3339. Written only when the user asks for it.
pub const CREATED: &str = "org.opencontainers.image.created";
/// The name of a reference (a tag) in an image layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The number of parameters detected in the weights, as a decimal integer.
pub const MODEL_PARAMETERS: &str = "org.modeloci.model.parameters";
/// The dominant tensor data type detected in the weights (`bf16`, `f32`, `q4_k_m`, ...).
pub const MODEL_DTYPE: &str = "org.modeloci.model.dtype";
/// The weight file formats detected, the most specific first and comma-separated when the
/// model holds several (`safetensors`, `gguf`, `safetensors,gguf`, ...).
pub const MODEL_FORMAT: &str = "org.modeloci.model.format";
/// The quantization detected (`gptq`, `awq`, `q4_k_m`, ...).
pub const MODEL_QUANTIZATION: &str = "org.modeloci.model.quantization";
/// The architecture the weights name: a Hugging Face `config.json`'s first `architectures`
/// entry (`LlamaForCausalLM`), else its `model_type`, else a GGUF file's
/// `general.architecture` (`llama`).
pub const MODEL_ARCHITECTURE: &str = "org.modeloci.model.architecture";
/// The SHA-256 of the content of the one file a layer holds (`sha256:<hex>`), on layers
/// whose digest is not already the file's (every layer but a raw one). It lets a signature
/// be made and checked from the manifest alone; readers still hash what they read.
pub const FILE_DIGEST: &str = "org.modeloci.file.digest";

/// On a group layer (a tar holding many small files, written when a model has more files
/// than one layer each would fit in a manifest): the least path it holds, in byte order.
/// Every entry of the layer lies between this and [`GROUP_LAST`], so that `--include`
/// fetches only the groups whose range can hold what it selects.
pub const GROUP_FIRST: &str = "org.modeloci.group.first";
/// On a group layer: the greatest path it holds, in byte order.
pub const GROUP_LAST: &str = "org.modeloci.group.last";
/// On a group layer: how many files it holds, as a decimal integer.
pub const GROUP_FILES: &str = "org.modeloci.group.files";

/// Sigstore bundle referrers: what the bundle holds (`dsse-envelope`).
pub const SIGSTORE_BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
/// Sigstore bundle referrers: the in-toto predicate type of the signed statement.
pub const SIGSTORE_BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";

/// ModelPack: the file's path relative to the model root.
pub const MODELPACK_FILEPATH: &str = "org.cncf.model.filepath";
/// ModelPack: JSON with the file's name, mode, size and normalised owner and times.
pub const MODELPACK_FILE_METADATA: &str = "org.cncf.model.file.metadata+json";
/// ModelPack: `"true"` when the layer's media type was assigned without checking the content.
pub const MODELPACK_MEDIATYPE_UNTESTED: &str = "org.cncf.model.file.mediatype.untested";
