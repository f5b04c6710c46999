//! TLS for one registry: which authorities are trusted, which client certificate is shown,
//! and what a failed handshake means.
//!
//! Trust: the system's roots, plus a CA file and the `*.crt` files of Docker's
//! `certs.d/<host[:port]>/` directories when there are any (both together: a private CA
//! never takes the public ones away). Mutual TLS: an explicit certificate and key, else a
//! `*.cert` with its `*.key` from those directories. Every file read is bounded.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rustls::{AlertDescription, CertificateError};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, parse_pem};

use crate::error::TlsFailure;
use crate::{Error, Result};

/// The largest certificate, bundle or key file read.
pub const MAX_TLS_FILE: u64 = 1 << 20;

/// The most files one `certs.d/<host>` directory may hold.
const MAX_CERTS_D_ENTRIES: usize = 256;

/// How to speak TLS to a registry.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// A PEM bundle of authorities trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate (chain) for mutual TLS, with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Accept any certificate: no verification of the chain or the name.
    pub insecure: bool,
    /// Roots of Docker-style `certs.d` trees: `<root>/<host[:port]>/` holds `*.crt`
    /// authorities and a `*.cert` + `*.key` client pair.
    pub certs_dirs: Vec<PathBuf>,
}

impl TlsOptions {
    /// The `certs.d` roots Docker reads: `$DOCKER_CONFIG/certs.d` (or `~/.docker/certs.d`),
    /// then `/etc/docker/certs.d`.
    pub fn docker_certs_dirs() -> Vec<PathBuf> {
        let user = std::env::var_os("DOCKER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".docker"))
            });
        user.map(|d| d.join("certs.d"))
            .into_iter()
            .chain([PathBuf::from("/etc/docker/certs.d")])
            .collect()
    }

    /// Sets the CA bundle.
    pub fn with_ca_file(mut self, path: Option<PathBuf>) -> Self {
        self.ca_file = path;
        self
    }

    /// Sets the client certificate and its key.
    pub fn with_client_cert(mut self, cert: PathBuf, key: PathBuf) -> Self {
        self.client_cert = Some(cert);
        self.client_key = Some(key);
        self
    }

    /// Skips verification of the registry's certificate.
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Sets the `certs.d` roots searched for `<host[:port]>/`.
    pub fn with_certs_dirs(mut self, dirs: Vec<PathBuf>) -> Self {
        self.certs_dirs = dirs;
        self
    }

    /// The TLS configuration for `registry` (`host[:port]`).
    pub(crate) fn config(&self, registry: &str) -> Result<TlsConfig> {
        let mut cas = Vec::new();
        if let Some(path) = &self.ca_file {
            cas.extend(certificates(path)?);
        }
        let mut client = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some(client_cert(cert, key)?),
            _ => None,
        };
        for dir in self.host_dirs(registry) {
            let (found, pair) = certs_d(&dir)?;
            cas.extend(found);
            if client.is_none() {
                client = pair;
            }
        }
        let roots = if cas.is_empty() {
            RootCerts::PlatformVerifier
        } else {
            cas.extend(system_roots());
            RootCerts::new_with_certs(&cas)
        };
        Ok(TlsConfig::builder()
            .root_certs(roots)
            .client_cert(client)
            .disable_verification(self.insecure)
            .build())
    }

    /// The existing `<root>/<host[:port]>/` directories. A name that could climb out of
    /// the root is never joined.
    fn host_dirs(&self, registry: &str) -> Vec<PathBuf> {
        if registry.is_empty() || registry.contains(['/', '\\']) || registry.starts_with('.') {
            return Vec::new();
        }
        self.certs_dirs
            .iter()
            .map(|root| root.join(registry))
            .filter(|d| d.is_dir())
            .collect()
    }
}

/// The system's trusted roots, as far as they can be read.
fn system_roots() -> Vec<Certificate<'static>> {
    rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect()
}

fn tls_file(path: &Path, reason: impl Into<String>) -> Error {
    Error::TlsFile {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// A whole file of at most [`MAX_TLS_FILE`] bytes.
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(Error::io(path))?;
    let mut bytes = Vec::new();
    file.take(MAX_TLS_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::io(path))?;
    if bytes.len() as u64 > MAX_TLS_FILE {
        return Err(tls_file(
            path,
            format!("it is over the {MAX_TLS_FILE}-byte limit for a certificate file"),
        ));
    }
    Ok(bytes)
}

/// The PEM items of a file.
fn pem_items(path: &Path) -> Result<Vec<PemItem<'static>>> {
    let bytes = read_bounded(path)?;
    parse_pem(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_file(path, format!("it is not valid PEM: {e}")))
}

/// Every certificate of a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let certs: Vec<_> = pem_items(path)?
        .into_iter()
        .filter_map(|item| match item {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(tls_file(path, "it holds no PEM certificate"));
    }
    Ok(certs)
}

/// A client certificate chain and its private key.
fn client_cert(cert: &Path, key: &Path) -> Result<ClientCert> {
    let chain = certificates(cert)?;
    let key: PrivateKey<'static> = pem_items(key)?
        .into_iter()
        .find_map(|item| match item {
            PemItem::PrivateKey(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| tls_file(key, "it holds no PEM private key"))?;
    Ok(ClientCert::new_with_certs(&chain, key))
}

type CertsD = (Vec<Certificate<'static>>, Option<ClientCert>);

/// What one `certs.d/<host>` directory holds, as Docker reads it: every `*.crt` is an
/// authority; a `*.cert` with the `*.key` of the same name is the client pair.
fn certs_d(dir: &Path) -> Result<CertsD> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .take(MAX_CERTS_D_ENTRIES + 1)
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    if names.len() > MAX_CERTS_D_ENTRIES {
        return Err(tls_file(
            dir,
            format!("it holds over {MAX_CERTS_D_ENTRIES} entries"),
        ));
    }
    names.sort();
    let ext = |p: &Path, e: &str| p.extension().is_some_and(|x| x == e) && p.is_file();
    let mut cas = Vec::new();
    let mut client = None;
    for path in &names {
        if ext(path, "crt") {
            cas.extend(certificates(path)?);
        } else if ext(path, "cert") && client.is_none() {
            let key = path.with_extension("key");
            if !key.is_file() {
                return Err(tls_file(
                    path,
                    "it has no private key beside it (a .key file)",
                ));
            }
            client = Some(client_cert(path, &key)?);
        }
    }
    Ok((cas, client))
}

/// What a failed request says about TLS, if it failed there.
pub(crate) fn failure(e: &ureq::Error) -> Option<TlsFailure> {
    match e {
        ureq::Error::Rustls(e) => rustls_failure(e),
        ureq::Error::Io(io) => {
            let inner = io.get_ref()?;
            if let Some(e) = inner.downcast_ref::<rustls::Error>() {
                return rustls_failure(e);
            }
            None
        }
        _ => None,
    }
}

/// `elsewhere.example` of rustls's `DnsName("elsewhere.example")`, and the like.
fn presented_name(name: &str) -> String {
    let inner = match (name.find('('), name.rfind(')')) {
        (Some(open), Some(close)) if open < close => &name[open + 1..close],
        _ => name,
    };
    inner.trim_matches('"').to_owned()
}

fn rustls_failure(e: &rustls::Error) -> Option<TlsFailure> {
    use CertificateError as C;
    Some(match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer | C::BadSignature => TlsFailure::UnknownIssuer,
            C::Expired | C::ExpiredContext { .. } => TlsFailure::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => TlsFailure::NotYetValid,
            C::NotValidForName => TlsFailure::WrongName { names: Vec::new() },
            C::NotValidForNameContext { presented, .. } => TlsFailure::WrongName {
                names: presented.iter().map(|n| presented_name(n)).collect(),
            },
            other => TlsFailure::Other(format!("{other:?}")),
        },
        rustls::Error::InvalidMessage(_) => TlsFailure::NotTls,
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown,
        ) => TlsFailure::ClientCertificate,
        other => TlsFailure::Other(other.to_string()),
    })
}
