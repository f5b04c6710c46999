//! Every JSON document modeloci reads: never a panic; what parses writes back and re-parses
//! to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| modeloci_tests::fuzz::documents(data));
