//! What a front end (the `modeloci` command, the Python package) uses when the user passes
//! nothing: credentials from `MODELOCI_USERNAME` and `MODELOCI_PASSWORD`, then Docker's
//! `config.json`; trust from `MODELOCI_CERTS_D` or Docker's `certs.d`; and the caches under
//! `MODELOCI_CACHE_DIR`, `$XDG_CACHE_HOME/modeloci` or `~/.cache/modeloci`. One place, so
//! that both front ends read the same places in the same order.

use std::path::PathBuf;

use crate::auth::{Credentials, DockerConfig};
use crate::error::{Error, Result};

/// The user name for CI.
pub const USERNAME_VAR: &str = "MODELOCI_USERNAME";
/// The password or token for CI.
pub const PASSWORD_VAR: &str = "MODELOCI_PASSWORD";

/// An environment variable; unset and empty are the same (CI sets a missing secret empty).
///
/// # Errors
///
/// [`Error::Environment`] when it is not valid UTF-8.
pub fn var(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) if value.is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Environment {
            variable: name.to_owned(),
            reason: format!("{name} is not valid UTF-8"),
        }),
    }
}

/// The credentials of `MODELOCI_USERNAME` and `MODELOCI_PASSWORD`: both, or neither.
///
/// # Errors
///
/// [`Error::Environment`] when one is set without the other.
pub fn env_credentials() -> Result<Option<Credentials>> {
    let missing = |set: &str, unset: &str| Error::Environment {
        variable: unset.to_owned(),
        reason: format!("{set} is set but {unset} is not (or is empty): set both, or neither"),
    };
    match (var(USERNAME_VAR)?, var(PASSWORD_VAR)?) {
        (Some(user), Some(password)) => Ok(Some(Credentials::new(user, password))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(missing(USERNAME_VAR, PASSWORD_VAR)),
        (None, Some(_)) => Err(missing(PASSWORD_VAR, USERNAME_VAR)),
    }
}

/// Docker's `config.json` (`$DOCKER_CONFIG`, else `~/.docker`); a missing file is empty.
///
/// # Errors
///
/// [`Error::Environment`] when neither `DOCKER_CONFIG` nor `HOME` is set, and those of
/// [`DockerConfig::load`].
pub fn docker_config() -> Result<DockerConfig> {
    let path = DockerConfig::default_path().ok_or_else(|| Error::Environment {
        variable: "HOME".to_owned(),
        reason: "neither DOCKER_CONFIG nor HOME is set: cannot find Docker's config.json"
            .to_owned(),
    })?;
    DockerConfig::load(&path)
}

/// The credentials for `registry` when the caller gives none: those of the environment, else
/// those Docker's config (or its credential helper) holds for that registry alone.
///
/// # Errors
///
/// Those of [`env_credentials`] and [`docker_config`], and a failing credential helper.
pub fn default_credentials(registry: &str) -> Result<Option<Credentials>> {
    if let Some(given) = env_credentials()? {
        return Ok(Some(given));
    }
    docker_config()?.credentials(registry)
}

/// The `certs.d` roots to trust per registry: those of `MODELOCI_CERTS_D` (a `:`-separated
/// list) when it is set, else Docker's.
pub fn certs_dirs() -> Vec<PathBuf> {
    match std::env::var_os("MODELOCI_CERTS_D") {
        Some(dirs) => std::env::split_paths(&dirs).collect(),
        None => crate::TlsOptions::docker_certs_dirs(),
    }
}

/// modeloci's cache directory: `MODELOCI_CACHE_DIR`, else `$XDG_CACHE_HOME/modeloci`, else
/// `~/.cache/modeloci`; `None` when none of them is set.
pub fn cache_dir() -> Option<PathBuf> {
    let set = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    set("MODELOCI_CACHE_DIR")
        .or_else(|| set("XDG_CACHE_HOME").map(|d| d.join("modeloci")))
        .or_else(|| set("HOME").map(|h| h.join(".cache/modeloci")))
}

/// Where pack remembers the layers of unchanged files (`digests.json` in [`cache_dir`]).
pub fn digest_cache_path() -> Option<PathBuf> {
    cache_dir().map(|d| d.join("digests.json"))
}

/// Where pushes remember which repositories hold which blobs, for mounts
/// (`blob-locations.json` in [`cache_dir`]).
pub fn blob_cache_path() -> Option<PathBuf> {
    cache_dir().map(|d| d.join("blob-locations.json"))
}

/// `SOURCE_DATE_EPOCH`, when set: the reproducible-builds convention for "the time of this
/// build", which pack writes into tar headers (0 otherwise).
///
/// # Errors
///
/// [`Error::Environment`] when it is not a number of seconds.
pub fn source_date_epoch() -> Result<Option<u64>> {
    let Some(value) = var("SOURCE_DATE_EPOCH")? else {
        return Ok(None);
    };
    match value.trim() {
        "" => Ok(None),
        text => text.parse().map(Some).map_err(|_| Error::Environment {
            variable: "SOURCE_DATE_EPOCH".to_owned(),
            reason: format!("SOURCE_DATE_EPOCH is {value:?}, not a number of seconds since 1970"),
        }),
    }
}
