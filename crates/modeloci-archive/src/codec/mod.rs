//! Layer compression: parallel gzip blocks, literals-only deflate for weights, zstd, and the
//! decoders and sniffing used when reading.

pub(crate) mod compress;
pub(crate) mod huffman;
