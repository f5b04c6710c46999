//! OpenSSF model signatures (OMS) for modeloci, in the format `model_signing` 1.1.1 writes and
//! verifies, so that either tool verifies what the other signed:
//!
//! - a [`Statement`] lists every file of the model (its `/` path and SHA-256) in
//!   `model_signing`'s order, under a root digest over them all ([`hash_dir`] finds and
//!   hashes the files of a directory as `model_signing` does);
//! - [`sign`] signs it with a [`PrivateKey`] (ECDSA on P-256 or P-384, deterministic) into a
//!   Sigstore bundle: a DSSE envelope with the statement as payload;
//! - [`Bundle::parse`] reads a bundle strictly and with bounded size, [`Bundle::verify`]
//!   checks its signature with [`PublicKey`]s, and [`compare`] checks the signed files
//!   against a model's;
//! - [`referrer_manifest`] stores a bundle as an OCI referrer of the model's manifest,
//!   [`is_signature`] and [`bundle_layer`] find it again;
//! - on top of the archive and registry crates: [`sign_archive`], [`attach_signature`] and
//!   [`verify_archive`] for a model in an archive (files hashed from its layers);
//!   [`sign_remote`] and [`verify_remote`] for a model in a registry, from the file digests
//!   its manifest records, without downloading a layer; [`unpack_check`] for unpack and pull
//!   to compare the files they write before any lands.
//!
//! The signature covers file names and contents, never the OCI manifest: a verifier always
//! compares the signed files with the model's.
//!
//! ```
//! use modeloci_sign::{Bundle, PrivateKey, Statement, compare, sign};
//!
//! # let pem = include_bytes!("../tests/data/p256.pem");
//! let key = PrivateKey::from_pem(pem, None)?;
//! let files = vec![(
//!     "config.json".to_owned(),
//!     "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".parse()?,
//! )];
//! let statement = Statement::for_files("model", files.clone())?;
//! let bytes = sign(&statement, &key);
//! let bundle = Bundle::parse(&bytes)?;
//! assert_eq!(bundle.verify(&[key.public_key()])?, 0);
//! compare(bundle.statement(), &files)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod archive;
mod bundle;
mod compare;
mod error;
mod json;
mod key;
mod referrer;
mod registry;
mod statement;
mod stored;
mod walk;

pub use archive::{
    HashOptions, Signed, archive_files, archive_signatures, attach_signature, sign_archive,
    verify_archive,
};
pub use bundle::{BUNDLE_MEDIA_TYPE, Bundle, MAX_BUNDLE_SIZE, PAYLOAD_TYPE, pae, sign};
pub use compare::{Mismatch, compare, compare_subset};
pub use error::{Error, Result};
pub use key::{MAX_KEY_FILE, PrivateKey, PublicKey};
pub use referrer::{EMPTY_CONFIG, Referrer, bundle_layer, is_signature, referrer_manifest};
pub use registry::{
    RemoteModel, RemoteVerified, SignedPull, attach_remote_signature, fetched_signature,
    remote_signatures, sign_remote, signed_pull, verify_remote,
};
pub use statement::{
    DEFAULT_IGNORE_PATHS, LEGACY_PREDICATE_TYPE, PREDICATE_TYPE, Resource, STATEMENT_TYPE,
    Statement, check_name, root_digest, sort_key,
};
pub use stored::{
    StoredSignature, Verified, check_files, choose, choose_all, matching, unpack_check,
    unpack_check_any,
};
pub use walk::hash_dir;
