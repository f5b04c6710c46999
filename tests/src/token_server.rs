//! Bearer-token auth as Docker Hub and GHCR do it, with the real registry: a token server on
//! 127.0.0.1 that checks `Basic` credentials and issues RS256 JWTs (signed by `openssl`, the
//! certificate in the token's `x5c`), and a Debian `docker-registry` configured with
//! Distribution's `auth: token:` to trust that certificate. Every token request is recorded.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::proxy::respond;
use crate::registry::free_port;

const SERVICE: &str = "modeloci-tests";
const ISSUER: &str = "modeloci-token-server";

/// A token request as the token server saw it.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The `scope` parameters, decoded.
    pub scopes: Vec<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

struct Shared {
    user: String,
    password: String,
    key: PathBuf,
    cert_der: Vec<u8>,
    fail: AtomicBool,
    stop: AtomicBool,
    next_id: AtomicU64,
    log: Mutex<Vec<TokenRequest>>,
}

/// A registry demanding bearer tokens from its own token server; both stop on drop.
pub struct TokenRegistry {
    child: Child,
    dir: tempfile::TempDir,
    shared: Arc<Shared>,
    /// `127.0.0.1:port` of the registry.
    pub addr: String,
    /// `127.0.0.1:port` of the token server.
    pub token_addr: String,
}

impl std::fmt::Debug for TokenRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRegistry")
            .field("addr", &self.addr)
            .field("token_addr", &self.token_addr)
            .finish_non_exhaustive()
    }
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}): `cargo xtask ci` installs it"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An RSA key and a self-signed certificate for it, made by `openssl` in `dir`: the key's
/// path, the certificate's path (PEM) and its DER bytes.
fn key_and_cert(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=modeloci-token-server", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::piped()));
    let der = run(Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert));
    (key, cert, der)
}

impl TokenRegistry {
    /// Starts the token server (for `user` and `password`) and a registry trusting it.
    ///
    /// # Panics
    ///
    /// When `openssl` or `docker-registry` is missing, or the registry does not start.
    pub fn start(user: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (key, cert, cert_der) = key_and_cert(dir.path());
        let shared = Arc::new(Shared {
            user: user.to_owned(),
            password: password.to_owned(),
            key,
            cert_der,
            fail: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let token_addr = listener.local_addr().expect("addr").to_string();
        let serving = Arc::clone(&shared);
        std::thread::spawn(move || serve(&listener, &serving));
        let addr = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: modeloci-tests\nauth:\n  token:\n    realm: http://{token_addr}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            dir.path().join("data").display(),
            cert.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run docker-registry ({e})"));
        let registry = Self {
            child,
            dir,
            shared,
            addr,
            token_addr,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not listen (log: {})", self.log());
    }

    /// What the registry logged (at level info: why it refused a token).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The token requests seen so far.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.log.lock().expect("not poisoned").clone()
    }

    /// From now on, answer every token request with a 500 whose body echoes its
    /// `Authorization` header (as a careless server might).
    pub fn fail_tokens(&self) {
        self.shared.fail.store(true, Ordering::SeqCst);
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.token_addr);
    }
}

fn serve(listener: &TcpListener, shared: &Shared) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(stream) = stream {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = answer(stream, shared);
        }
    }
}

/// Percent-decodes a query value.
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn answer(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(decode)
        .collect();
    shared.log.lock().expect("not poisoned").push(TokenRequest {
        scopes: scopes.clone(),
        authorization: authorization.clone(),
    });
    if shared.fail.load(Ordering::SeqCst) {
        let body = format!("internal error; you sent {authorization:?}");
        return respond(
            &mut stream,
            "500 Internal Server Error",
            &[],
            body.as_bytes(),
        );
    }
    let wanted = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", shared.user, shared.password))
    );
    if authorization.as_deref() != Some(wanted.as_str()) {
        return respond(
            &mut stream,
            "401 Unauthorized",
            &[],
            b"{\"details\":\"no\"}",
        );
    }
    let token = shared.token(&scopes);
    let body = serde_json::json!({ "token": token, "expires_in": 300 }).to_string();
    respond(
        &mut stream,
        "200 OK",
        &[("Content-Type", "application/json".into())],
        body.as_bytes(),
    )?;
    stream.flush()
}

impl Shared {
    /// A JWT granting every action each `repository:NAME:ACTIONS` scope asks for.
    fn token(&self, scopes: &[String]) -> String {
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|s| {
                let (kind, rest) = s.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": kind,
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let header = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": self.user,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("token-{}", self.next_id.fetch_add(1, Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(self.sign(signing_input.as_bytes()))
        )
    }

    /// `openssl dgst -sha256 -sign` over `data`: an RS256 signature.
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(data)
            .expect("write to openssl");
        let out = child.wait_with_output().expect("openssl");
        assert!(
            out.status.success(),
            "openssl dgst: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}
