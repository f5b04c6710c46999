//! The public keys a caller names by path.

use std::path::PathBuf;

use modeloci_sign::PublicKey;

use crate::errors::Failure;

/// Each PEM file's public key.
pub(crate) fn load(paths: &[PathBuf]) -> Result<Vec<PublicKey>, Failure> {
    paths
        .iter()
        .map(|p| PublicKey::from_file(p).map_err(Failure::from))
        .collect()
}
