//! The tar format, both ways: the headers we write (`header`) and the walker that reads
//! untrusted tars (`reader`). Used by writing and reading alike.

pub(crate) mod header;
pub(crate) mod reader;
