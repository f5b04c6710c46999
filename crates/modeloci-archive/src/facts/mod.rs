//! What the weights say: safetensors headers, GGUF metadata, the first bytes of pickles and
//! Hugging Face `config.json`, read through bounded readers, never loading a tensor.

pub(crate) mod files;
pub(crate) mod metadata;
pub(crate) mod pickles;
