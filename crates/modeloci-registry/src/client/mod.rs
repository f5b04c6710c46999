//! The HTTP side of the OCI distribution API: one registry, authenticated on demand. Every
//! request the crate makes, and every URL it formats, is here; push and pull orchestrate.
//!
//! - this file: options, origins and `Location`s, sending with one challenge and retries;
//! - `auth_flow`: answering a `WWW-Authenticate` challenge (basic, or a bearer token);
//! - `manifests`: fetching (capped) and storing manifests;
//! - `blobs`: HEAD, ranged GET, and the upload session (POST, mount, PATCH, PUT, status);
//! - `retry`: the one retry policy (what is transient, waits, attempt caps, progress).

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Mutex;
use std::time::Duration;

use ureq::config::RedirectAuthHeaders;
use ureq::http::{self, Response, Uri};
use ureq::{Agent, SendBody};

use crate::auth::Credentials;
use crate::error::TlsFailure;
use crate::reference::Scheme;
use crate::{Error, Result};

mod auth_flow;
mod blobs;
mod manifests;
mod proxy;
mod retry;
mod tls;

pub use tls::{MAX_TLS_FILE, TlsOptions};

pub(crate) use blobs::RangeAnswer;
pub(crate) use blobs::{Access, BlobBody, ChunkAnswer, Mount, Refusal, UploadSession};
pub(crate) use retry::{Advance, Tries};
use retry::{transient_error, transient_status};

/// The largest manifest this client reads (OCI registries cap them at 4 MiB too).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// The longest `Location` followed.
const MAX_LOCATION: usize = 8 << 10;

/// How to reach a registry.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Use plain HTTP even for a host that is not local.
    pub plain_http: bool,
    /// Credentials for basic auth and token requests.
    pub credentials: Option<Credentials>,
    /// How many times a request is retried after a broken connection or a 5xx / 429 answer.
    pub retries: u32,
    /// The first wait before a retry; it doubles each time.
    pub backoff: Duration,
    /// How long the registry may send nothing (while connecting, before its answer, and
    /// within the body) before the request is given up.
    pub timeout: Duration,
    /// The scheme to use whatever the host: `Https` speaks TLS even to a loopback host,
    /// `Http` plain HTTP even to another machine (as `plain_http`). `None`: plain HTTP
    /// for loopback hosts, HTTPS elsewhere.
    pub scheme: Option<Scheme>,
    /// Trust, client certificate and verification for HTTPS.
    pub tls: TlsOptions,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            plain_http: false,
            credentials: None,
            retries: 4,
            backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(30),
            scheme: None,
            tls: TlsOptions::default(),
        }
    }
}

impl ClientOptions {
    /// Sets the credentials.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.credentials = credentials;
        self
    }

    /// Allows plain HTTP to any host.
    pub fn with_plain_http(mut self, plain_http: bool) -> Self {
        self.plain_http = plain_http;
        self
    }

    /// Sets the scheme, whatever the host (`None`: by the host, see [`ClientOptions::scheme`]).
    pub fn with_scheme(mut self, scheme: Option<Scheme>) -> Self {
        self.scheme = scheme;
        self
    }

    /// Sets the TLS options.
    pub fn with_tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the number of retries.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets the first wait before a retry.
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets how long the registry may send nothing before a request is given up
    /// (at least one millisecond).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }
}

/// A request body, re-creatable for retries.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Opens a fresh reader of `len` bytes.
    Stream {
        open: &'a (dyn Fn() -> io::Result<Box<dyn Read + 'a>> + Sync),
        len: u64,
    },
}

impl Body<'_> {
    /// The length sent.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Stream { len, .. } => *len,
        }
    }
}

/// Whether a failed request may be sent again as it is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    Yes,
    No,
}

#[derive(Default)]
struct AuthState {
    /// The registry asked for basic auth.
    basic: bool,
    /// Bearer tokens by scope set.
    tokens: HashMap<String, String>,
}

/// A client for one registry.
pub struct Client {
    agent: Agent,
    registry: String,
    base: String,
    credentials: Option<Credentials>,
    auth: Mutex<AuthState>,
    retries: u32,
    backoff: Duration,
    timeout: Duration,
    plain_http: bool,
}

/// Where credentials may go: scheme, lower-case host, and port (explicit or the scheme's).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an absolute `http` or `https` URL without user information.
    fn of(uri: &Uri) -> Option<Self> {
        let https = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        Some(Self {
            https,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        })
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Whether `host[:port]` names this machine: `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_local(host: &str) -> bool {
    if let Ok(ip) = host.parse::<std::net::Ipv6Addr>() {
        return ip.is_loopback();
    }
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    /// A client for `registry` (`host[:port]`): plain HTTP for local hosts or with
    /// `plain_http`, HTTPS with rustls and the system's trusted roots otherwise.
    ///
    /// # Panics
    ///
    /// When the TLS options name files that cannot be used: use [`Client::try_new`] then.
    pub fn new(registry: &str, options: ClientOptions) -> Self {
        match Self::try_new(registry, options) {
            Ok(client) => client,
            Err(e) => panic!("{e}"),
        }
    }

    /// A client for `registry` (`host[:port]`). The scheme is the options' (or plain HTTP
    /// with `plain_http`), else plain HTTP for a loopback host and HTTPS elsewhere. HTTPS
    /// trusts the system's roots and the options' authorities; a proxy is taken from the
    /// environment as curl does (see `client/proxy.rs`), never for a loopback host.
    ///
    /// # Errors
    ///
    /// [`Error::TlsFile`] or [`Error::Io`] for a CA bundle, certificate or key that cannot
    /// be read or used.
    pub fn try_new(registry: &str, options: ClientOptions) -> Result<Self> {
        let scheme = match (options.scheme, options.plain_http) {
            (Some(scheme), _) => scheme,
            (None, true) => Scheme::Http,
            (None, false) if is_local(registry) => Scheme::Http,
            (None, false) => Scheme::Https,
        };
        let https = scheme == Scheme::Https;
        let tls = if https {
            options.tls.config(registry)?
        } else {
            ureq::tls::TlsConfig::default()
        };
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            // A stall anywhere (connecting, sending, awaiting the answer, each read or write
            // of a body) ends the request after the same time without a byte.
            .timeout_connect(Some(options.timeout))
            .timeout_send_request(Some(options.timeout))
            .timeout_recv_response(Some(options.timeout))
            .timeout_per_read(Some(options.timeout))
            .timeout_per_write(Some(options.timeout))
            // Redirects ureq follows never carry our Authorization, whatever host they name.
            .redirect_auth_headers(RedirectAuthHeaders::Never)
            .user_agent(concat!("modeloci/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .proxy(proxy::from_env(https, registry))
            .build()
            .into();
        Ok(Self {
            agent,
            registry: registry.to_owned(),
            base: format!("{}://{registry}", scheme.as_str()),
            credentials: options.credentials,
            auth: Mutex::new(AuthState::default()),
            retries: options.retries,
            backoff: options.backoff,
            timeout: options.timeout,
            plain_http: options.plain_http || options.scheme == Some(Scheme::Http),
        })
    }

    /// The registry's own origin.
    fn origin(&self) -> Option<Origin> {
        self.base.parse::<Uri>().ok().as_ref().and_then(Origin::of)
    }

    /// Whether `url` is on the registry's own origin, where credentials may go.
    fn is_own(&self, url: &str) -> bool {
        let theirs = url.parse::<Uri>().ok().as_ref().and_then(Origin::of);
        theirs.is_some() && theirs == self.origin()
    }

    pub(crate) fn protocol(&self, reason: String) -> Error {
        Error::Protocol {
            registry: self.registry.clone(),
            reason,
        }
    }

    /// The absolute URL a `Location` header names: relative ones (`/v2/...`, `upload/x`,
    /// `//host/path`) are resolved against the registry; the fragment is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a `Location` that is too long, holds control characters or a
    /// user name, is not `http` or `https`, or leads from HTTPS to plain HTTP.
    pub(crate) fn location(&self, location: &str) -> Result<String> {
        if location.len() > MAX_LOCATION {
            return Err(self.protocol(format!(
                "it sent a Location of {} bytes, over the {MAX_LOCATION}-byte limit",
                location.len()
            )));
        }
        if location.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(self.protocol(format!(
                "it sent a Location holding spaces or control characters: {location:?}"
            )));
        }
        let location = location.split('#').next().unwrap_or_default();
        let (scheme, _) = self.base.split_once("://").unwrap_or(("https", ""));
        let has_scheme = location.split_once("://").is_some_and(|(s, _)| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        });
        let url = if has_scheme {
            location.to_owned()
        } else if location.starts_with("//") {
            format!("{scheme}:{location}")
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        };
        let uri = url
            .parse::<Uri>()
            .map_err(|e| self.protocol(format!("it sent an invalid Location {location:?}: {e}")))?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(self.protocol(format!(
                "it sent a Location with a user name in it: {location:?}"
            )));
        }
        let Some(theirs) = Origin::of(&uri) else {
            return Err(self.protocol(format!(
                "it sent a Location that is not an http(s) URL: {location:?}"
            )));
        };
        if self.origin().is_some_and(|ours| ours.https) && !theirs.https {
            return Err(self.protocol(format!(
                "it sent a Location leading from HTTPS to plain HTTP: {location:?}"
            )));
        }
        Ok(url)
    }

    /// `host[:port]`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The full URL of an API path (`/v2/...`) on the registry. `Location`s the registry
    /// gives go through [`Client::location`].
    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{path}", self.base)
        }
    }

    /// Checks that the registry speaks the distribution API and accepts our credentials.
    ///
    /// # Errors
    ///
    /// [`Error::Unauthorized`], [`Error::Unreachable`], [`Error::Status`].
    pub fn ping(&self) -> Result<()> {
        let url = self.url("/v2/");
        let resp = self.request("GET", &url, &[], &Body::Empty, &[], Retry::Yes)?;
        let status = resp.status().as_u16();
        drain(resp);
        if status == 200 {
            Ok(())
        } else {
            Err(self.status_error("GET", &url, status, None))
        }
    }

    pub(crate) fn unauthorized(&self, status: u16) -> Error {
        Error::Unauthorized {
            registry: self.registry.clone(),
            status,
            with_credentials: self.credentials.is_some(),
        }
    }

    /// Sends a request, answering an auth challenge once and retrying transient failures.
    /// Credentials go only to the registry's own origin: a URL elsewhere (an upload
    /// `Location` on blob storage) gets none, and its challenges are not answered.
    pub(crate) fn request(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
        scopes: &[String],
        retry: Retry,
    ) -> Result<Response<ureq::Body>> {
        let own = self.is_own(url);
        let theirs = url.parse::<Uri>().ok().as_ref().and_then(Origin::of);
        if !own && self.origin().is_some_and(|o| o.https) && !theirs.is_some_and(|o| o.https) {
            return Err(self.protocol(format!(
                "refusing {method} {url}: it leads from HTTPS to plain HTTP"
            )));
        }
        let mut attempt = 0;
        let mut challenged = false;
        loop {
            let authorization = if own {
                self.authorization(scopes)
            } else {
                None
            };
            match self.send_once(method, url, headers, body, authorization.as_deref()) {
                Ok(resp) if resp.status() == 401 && !challenged && own => {
                    challenged = true;
                    self.answer_challenge(resp, scopes)?;
                }
                Ok(resp) if matches!(resp.status().as_u16(), 401 | 403) => {
                    let status = resp.status().as_u16();
                    drain(resp);
                    return Err(self.unauthorized(status));
                }
                Ok(resp)
                    if retry == Retry::Yes
                        && attempt < self.retries
                        && transient_status(resp.status().as_u16()) =>
                {
                    drain(resp);
                    attempt += 1;
                    std::thread::sleep(self.backoff_delay(attempt));
                }
                Ok(resp) if resp.status() == 400 && self.base.starts_with("http:") => {
                    return self.unless_plain_to_tls(resp);
                }
                Ok(resp) => return Ok(resp),
                Err(e) if retry == Retry::Yes && attempt < self.retries && transient_error(&e) => {
                    attempt += 1;
                    std::thread::sleep(self.backoff_delay(attempt));
                }
                Err(e) if is_timeout(&e) => {
                    let path = url.strip_prefix(&self.base).unwrap_or(url);
                    return Err(self.stalled(format!("answering {method} {path}"), attempt + 1));
                }
                Err(e) => return Err(self.transport_error(&e)),
            }
        }
    }

    /// The registry sent nothing for the stall timeout while `doing`, `attempts` times.
    pub(crate) fn stalled(&self, doing: String, attempts: u32) -> Error {
        Error::Stalled {
            registry: self.registry.clone(),
            timeout: self.timeout,
            doing,
            attempts,
        }
    }

    /// A `400` to plain HTTP with no header at all is how Go's TLS servers (Distribution
    /// among them) answer a plain request: their text says so.
    fn unless_plain_to_tls(&self, resp: Response<ureq::Body>) -> Result<Response<ureq::Body>> {
        if !resp.headers().is_empty() {
            return Ok(resp);
        }
        let (parts, mut body) = resp.into_parts();
        let mut text = Vec::new();
        let _ = body.as_reader().take(512).read_to_end(&mut text);
        if String::from_utf8_lossy(&text).contains("HTTP request to an HTTPS server") {
            return Err(Error::Tls {
                registry: self.registry.clone(),
                failure: TlsFailure::PlainToTls,
            });
        }
        let body = ureq::Body::builder().data(text);
        Ok(Response::from_parts(parts, body))
    }

    pub(crate) fn transport_error(&self, e: &ureq::Error) -> Error {
        if let Some(failure) = tls::failure(e) {
            return Error::Tls {
                registry: self.registry.clone(),
                failure,
            };
        }
        Error::Unreachable {
            registry: self.registry.clone(),
            reason: e.to_string(),
        }
    }

    fn send_once(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
        authorization: Option<&str>,
    ) -> Result<Response<ureq::Body>, ureq::Error> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(auth) = authorization {
            builder = builder.header("authorization", auth);
        }
        if matches!(method, "GET" | "HEAD" | "DELETE") {
            let request = builder
                .body(())
                .map_err(|e| ureq::Error::Io(io::Error::other(e.to_string())))?;
            return self.agent.run(request);
        }
        let mut reader: Box<dyn Read + '_> = match body {
            Body::Empty => Box::new(io::empty()),
            Body::Bytes(b) => Box::new(*b),
            Body::Stream { open, .. } => open().map_err(ureq::Error::Io)?,
        };
        let len = body.len();
        // An explicit length: ureq then streams the reader without chunked encoding.
        builder = builder.header("content-length", len.to_string());
        let request = builder
            .body(SendBody::from_reader(&mut reader))
            .map_err(|e| ureq::Error::Io(io::Error::other(e.to_string())))?;
        self.agent.run(request)
    }

    pub(crate) fn status_error(
        &self,
        method: &'static str,
        url: &str,
        status: u16,
        detail: Option<String>,
    ) -> Error {
        // Without the query: upload locations carry session state and, for blob storage,
        // signatures, which have no place in a message or a CI log.
        let path = url.strip_prefix(&self.base).unwrap_or(url);
        let path = match path.split_once('?') {
            Some((path, _)) => format!("{path}?…"),
            None => path.to_owned(),
        };
        Error::Status {
            registry: self.registry.clone(),
            method,
            path,
            status,
            detail,
        }
    }

    /// The error for a 404 answer about `what` (`manifest repo:tag`, `blob D in repo`).
    pub(crate) fn not_found(&self, resp: Response<ureq::Body>, what: String) -> Error {
        drain(resp);
        Error::NotFound {
            registry: self.registry.clone(),
            what,
        }
    }

    /// An error for an unexpected answer, with the registry's own description.
    pub(crate) fn unexpected(
        &self,
        method: &'static str,
        url: &str,
        resp: Response<ureq::Body>,
    ) -> Error {
        let status = resp.status().as_u16();
        let detail = read_limited(resp, 64 << 10)
            .ok()
            .and_then(|b| error_detail(&b));
        self.status_error(method, url, status, detail)
    }
}

/// Whether the transport gave up because nothing arrived (or could be sent) in time.
pub(crate) fn is_timeout(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => is_io_timeout(io),
        _ => false,
    }
}

/// The same, for an error from a body reader.
pub(crate) fn is_io_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) || e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(is_timeout)
}

/// A response header as a string.
pub(crate) fn header(resp: &Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads a small body to its end, so the connection can be reused.
pub(crate) fn drain(resp: Response<ureq::Body>) {
    let _ = read_limited(resp, 64 << 10);
}

/// Reads at most `limit` bytes of a body.
pub(crate) fn read_limited(resp: Response<ureq::Body>, limit: u64) -> Result<Vec<u8>, ureq::Error> {
    let mut out = Vec::new();
    resp.into_body()
        .into_reader()
        .take(limit)
        .read_to_end(&mut out)
        .map_err(ureq::Error::Io)?;
    Ok(out)
}

/// `CODE: message` from a registry's error document.
fn error_detail(body: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let first = doc.get("errors")?.as_array()?.first()?;
    let code = first
        .get("code")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("ERROR");
    let message = first
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    Some(format!("{code}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.3.2.1:80",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_local(host), "{host}");
        }
        for host in [
            "ghcr.io",
            "10.0.0.1:5000",
            "128.0.0.1",
            "localhost.example.com",
        ] {
            assert!(!is_local(host), "{host}");
        }
    }

    #[test]
    fn status_errors_leave_query_strings_out() {
        let client = Client::new("127.0.0.1:5000", ClientOptions::default());
        let err = client.status_error(
            "PUT",
            "http://127.0.0.1:5000/v2/m/blobs/uploads/u1?_state=SECRET&digest=sha256:00",
            500,
            None,
        );
        assert_eq!(
            err.to_string(),
            "127.0.0.1:5000: PUT /v2/m/blobs/uploads/u1?… answered 500"
        );
        let err = client.status_error("GET", "https://cdn.example/b?X-Amz-Signature=S", 403, None);
        assert_eq!(
            err.to_string(),
            "127.0.0.1:5000: GET https://cdn.example/b?… answered 403"
        );
    }

    #[test]
    fn https_unless_local_or_asked() {
        let remote = Client::new("registry.example.com:5000", ClientOptions::default());
        assert_eq!(remote.url("/v2/"), "https://registry.example.com:5000/v2/");
        let plain = Client::new(
            "registry.example.com:5000",
            ClientOptions::default().with_plain_http(true),
        );
        assert_eq!(plain.url("/v2/"), "http://registry.example.com:5000/v2/");
        assert_eq!(
            Client::new("localhost:5000", ClientOptions::default()).url("/v2/x"),
            "http://localhost:5000/v2/x"
        );
    }

    #[test]
    fn locations_resolve_against_the_registry_and_never_downgrade() {
        let remote = Client::new("registry.example.com:5000", ClientOptions::default());
        let ok = |c: &Client, l: &str| c.location(l).unwrap();
        assert_eq!(
            ok(&remote, "https://cdn.example.com/blob?sig=1#frag"),
            "https://cdn.example.com/blob?sig=1"
        );
        assert_eq!(
            ok(&remote, "/v2/a/blobs/uploads/x"),
            "https://registry.example.com:5000/v2/a/blobs/uploads/x"
        );
        assert_eq!(
            ok(&remote, "upload/x"),
            "https://registry.example.com:5000/upload/x"
        );
        assert_eq!(
            ok(&remote, "//storage.example.com/p"),
            "https://storage.example.com/p"
        );
        for bad in [
            "http://registry.example.com:5000/v2/x",
            "HTTP://registry.example.com:5000/v2/x",
            "http://cdn.example.com/blob",
            "https://user@registry.example.com:5000/v2/x",
            "https://registry.example.com:5000@evil.example.com/v2/x",
            "ftp://registry.example.com/x",
            "/v2/a b",
            "/v2/a\x01b",
            "/v2/\u{e9}",
        ] {
            let err = remote.location(bad).unwrap_err();
            assert!(matches!(err, Error::Protocol { .. }), "{bad}: {err}");
        }
        let long = format!("/v2/{}", "x".repeat(MAX_LOCATION));
        assert!(remote.location(&long).is_err());
    }

    #[test]
    fn only_the_registrys_own_origin_gets_credentials() {
        let local = Client::new("LocalHost:5000", ClientOptions::default());
        for own in [
            "http://localhost:5000/v2/",
            "HTTP://LOCALHOST:5000/upload/x",
        ] {
            assert!(local.is_own(own), "{own}");
        }
        for other in [
            "http://localhost:5001/v2/",
            "https://localhost:5000/v2/",
            "http://127.0.0.1:5000/v2/",
            "http://user@localhost:5000/v2/",
            "http://localhost:5000@evil.example.com/v2/",
            "//localhost:5000/v2/",
        ] {
            assert!(!local.is_own(other), "{other}");
        }
        let remote = Client::new("registry.example.com", ClientOptions::default());
        assert!(remote.is_own("https://registry.example.com:443/v2/"));
        assert!(!remote.is_own("http://registry.example.com:443/v2/"));
        let err = remote
            .request(
                "GET",
                "http://registry.example.com/v2/",
                &[],
                &Body::Empty,
                &[],
                Retry::No,
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("from HTTPS to plain HTTP"),
            "{err}"
        );
    }

    #[test]
    fn credentials_go_to_a_plain_http_token_realm_only_on_this_machine() {
        let client = Client::new(
            "registry.example.com",
            ClientOptions::default().with_credentials(Some(Credentials::new("u", "p"))),
        );
        // Each is refused before anything is sent: no connection is attempted.
        for realm in [
            "http://auth.example.com/token",
            "HTTP://auth.example.com/token",
            "http://localhost:80@auth.example.com/token",
            "http://127.0.0.1@auth.example.com/token",
        ] {
            let err = client.fetch_token(realm, None, &[], None).unwrap_err();
            assert!(
                matches!(err, Error::Insecure { .. } | Error::Protocol { .. }),
                "{realm}: {err}"
            );
        }
        let err = client
            .fetch_token(
                "http://localhost:80@auth.example.com/token",
                None,
                &[],
                None,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "registry.example.com: its token realm \"http://localhost:80@auth.example.com/token\" is not an http(s) URL without a user name"
        );
    }
}
