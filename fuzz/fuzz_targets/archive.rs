//! Whole archives: open, inspect, verify and extract the layout. Never a panic, and nothing is
//! ever written outside the target.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| modeloci_tests::fuzz::archive(data));
