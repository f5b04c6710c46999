//! Layer content: the fuzzer's bytes become a layer (a tar, or a gzip or zstd stream) of a
//! well-formed artifact whose digests match, so what is exercised is the decompressors, the
//! tar walker and the unpack policy. Never a panic; every file written stays in the target.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| modeloci_tests::fuzz::layer(data));
