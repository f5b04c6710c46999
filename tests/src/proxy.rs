//! An HTTP/1.1 proxy in front of a test registry, on 127.0.0.1: it can demand bearer tokens
//! (and issue them), and inject faults. One request per connection (`Connection: close`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// What the proxy does besides forwarding.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Demand `Authorization: Bearer <token>`, issued at `/token` to these basic credentials
    /// (`None`: to anyone).
    pub bearer: Option<Option<(String, String)>>,
    /// Answer `405` to every PATCH, as registries that take no chunked uploads do.
    pub refuse_patch: bool,
    /// Answer `413` to every PATCH whose body is over this many bytes, as GHCR does past
    /// 4 MiB.
    pub max_patch: Option<usize>,
    /// Pass on only the first this many bytes of every PATCH body (with `Content-Length` and
    /// `Content-Range` to match), so the registry confirms a shorter `Range` than was sent.
    pub truncate_patch: Option<usize>,
    /// Answer `503` to this many blob upload requests first.
    pub fail_uploads: usize,
    /// Cut blob downloads after this many bytes of their body, this many times.
    pub cut_downloads: Option<(usize, usize)>,
    /// Answer `503` to every GET that asks for a Range.
    pub refuse_ranges: bool,
    /// Answer every manifest GET with these bytes.
    pub manifest_override: Option<Vec<u8>>,
    /// Send this many extra bytes after every blob's body, and a Content-Length to match.
    pub pad_blobs: usize,
    /// Hold the answers to the blob upload requests of the gate's method (after forwarding
    /// them) until it is opened.
    pub hold: Option<Gate>,
    /// Answer `500` with a registry error to every PATCH after the first this many.
    pub fail_patches_after: Option<usize>,
}

/// A gate the proxy holds the answers to blob upload requests of one method at, and the
/// events of the test around it in order (the proxy notes `PATCH held` and `PATCH answered`,
/// say).
#[derive(Clone, Debug, Default)]
pub struct Gate {
    method: String,
    open: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    /// The events, in the order they happened.
    pub events: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Gate {
    /// A closed gate for the upload requests of `method` (`PATCH`, `PUT`).
    pub fn new(method: &str) -> Self {
        Self {
            method: method.to_owned(),
            ..Self::default()
        }
    }

    /// Notes an event.
    pub fn note(&self, event: &str) {
        self.events
            .lock()
            .expect("not poisoned")
            .push(event.to_owned());
    }

    /// Opens the gate for good.
    pub fn open(&self) {
        *self.open.0.lock().expect("not poisoned") = true;
        self.open.1.notify_all();
    }

    /// Waits until the gate is open, or 10 s have passed (so a test that never opens it
    /// fails on its events instead of hanging).
    fn wait(&self) {
        let guard = self.open.0.lock().expect("not poisoned");
        let limit = std::time::Duration::from_secs(10);
        let _ = self.open.1.wait_timeout_while(guard, limit, |open| !*open);
    }
}

/// A running proxy; stops accepting on drop.
#[derive(Debug)]
pub struct Proxy {
    /// `127.0.0.1:port`
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Requests seen, as `METHOD path`.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
    /// Requests seen with the length of the body they sent, as (`METHOD path`, bytes).
    pub bodies: Arc<std::sync::Mutex<Vec<(String, usize)>>>,
    /// The `Range` headers of the requests seen, as `METHOD path` and the range.
    pub ranges: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

const TOKEN: &str = "modeloci-test-token";

impl Proxy {
    /// Starts a proxy to `upstream` (`host:port`).
    pub fn start(upstream: &str, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ranges = Arc::new(std::sync::Mutex::new(Vec::new()));
        let state = Arc::new(State {
            upstream: upstream.to_owned(),
            addr: addr.clone(),
            behaviour,
            failures: AtomicUsize::new(0),
            cuts: AtomicUsize::new(0),
            patches: AtomicUsize::new(0),
            log: Arc::clone(&log),
            bodies: Arc::clone(&bodies),
            ranges: Arc::clone(&ranges),
        });
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let state = Arc::clone(&state);
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = handle(stream, &state);
                        });
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
            log,
            bodies,
            ranges,
        }
    }

    /// The requests seen.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("not poisoned").clone()
    }

    /// The requests seen, each with the length of its body.
    pub fn bodies(&self) -> Vec<(String, usize)> {
        self.bodies.lock().expect("not poisoned").clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct State {
    upstream: String,
    addr: String,
    behaviour: Behaviour,
    failures: AtomicUsize,
    cuts: AtomicUsize,
    patches: AtomicUsize,
    log: Arc<std::sync::Mutex<Vec<String>>>,
    bodies: Arc<std::sync::Mutex<Vec<(String, usize)>>>,
    ranges: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

/// Writes one HTTP/1.1 answer with a body and `Connection: close`.
pub(crate) fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

fn handle(mut client: TcpStream, state: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    state
        .log
        .lock()
        .expect("not poisoned")
        .push(format!("{method} {path}"));
    if let Some(range) = get("range") {
        state
            .ranges
            .lock()
            .expect("not poisoned")
            .push((format!("{method} {path}"), range));
    }
    let length: usize = get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    state
        .bodies
        .lock()
        .expect("not poisoned")
        .push((format!("{method} {path}"), length));
    let b = &state.behaviour;

    if let Some(users) = &b.bearer {
        if path.starts_with("/token") {
            let authorized = match users {
                None => true,
                Some((user, password)) => {
                    use base64::Engine as _;
                    let expected = base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{password}"));
                    get("authorization").as_deref() == Some(&format!("Basic {expected}"))
                }
            };
            return if authorized {
                respond(
                    &mut client,
                    "200 OK",
                    &[("Content-Type", "application/json".into())],
                    format!("{{\"token\":\"{TOKEN}\"}}").as_bytes(),
                )
            } else {
                respond(&mut client, "401 Unauthorized", &[], b"{}")
            };
        }
        if get("authorization").as_deref() != Some(&format!("Bearer {TOKEN}")) {
            let repo = path
                .strip_prefix("/v2/")
                .and_then(|p| p.split("/blobs/").next())
                .and_then(|p| p.split("/manifests/").next())
                .unwrap_or("");
            let challenge = format!(
                "Bearer realm=\"http://{}/token\",service=\"modeloci-test\",scope=\"repository:{repo}:pull,push\"",
                state.addr
            );
            drain(&mut reader, length)?;
            return respond(&mut client, "401 Unauthorized", &[("WWW-Authenticate", challenge)], b"{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}");
        }
    }
    if let Some(bytes) = &b.manifest_override
        && method == "GET"
        && path.contains("/manifests/")
    {
        return respond(
            &mut client,
            "200 OK",
            &[(
                "Content-Type",
                "application/vnd.oci.image.manifest.v1+json".into(),
            )],
            bytes,
        );
    }
    if b.refuse_ranges && method == "GET" && get("range").is_some() {
        return respond(&mut client, "503 Service Unavailable", &[], b"");
    }
    if b.refuse_patch && method == "PATCH" {
        drain(&mut reader, length)?;
        return respond(&mut client, "405 Method Not Allowed", &[], b"");
    }
    if let Some(max) = b.max_patch
        && method == "PATCH"
        && length > max
    {
        drain(&mut reader, length)?;
        return respond(
            &mut client,
            "413 Payload Too Large",
            &[("Content-Type", "application/json".into())],
            b"{\"errors\":[{\"code\":\"SIZE_INVALID\",\"message\":\"chunk too large\"}]}",
        );
    }
    if let Some(after) = b.fail_patches_after
        && method == "PATCH"
        && state.patches.fetch_add(1, Ordering::Relaxed) >= after
    {
        drain(&mut reader, length)?;
        return respond(
            &mut client,
            "500 Internal Server Error",
            &[("Content-Type", "application/json".into())],
            b"{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"storage is full\"}]}",
        );
    }
    if path.contains("/blobs/uploads/")
        && state.failures.fetch_add(1, Ordering::Relaxed) < b.fail_uploads
    {
        drain(&mut reader, length)?;
        return respond(&mut client, "503 Service Unavailable", &[], b"");
    }

    // Forward, one request per upstream connection.
    let mut upstream = TcpStream::connect(&state.upstream)?;
    let forwarded = match b.truncate_patch {
        Some(keep) if method == "PATCH" && length > keep => keep,
        _ => length,
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        if k == "connection" || (b.bearer.is_some() && k == "authorization") {
            continue;
        }
        let v = match k.as_str() {
            "content-length" if forwarded != length => forwarded.to_string(),
            "content-range" if forwarded != length => {
                let start: usize = v
                    .split('-')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                format!("{start}-{}", start + forwarded - 1)
            }
            _ => v.clone(),
        };
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes())?;
    std::io::copy(&mut (&mut reader).take(forwarded as u64), &mut upstream)?;
    drain(&mut reader, length - forwarded)?;

    let blob_get = method == "GET" && path.contains("/blobs/sha256:");
    let mut up = BufReader::new(upstream);
    if let Some(gate) = b
        .hold
        .as_ref()
        .filter(|g| g.method == method && path.contains("/blobs/uploads/"))
    {
        // The registry has the request; its answer waits at the gate.
        gate.note(&format!("{method} held"));
        gate.wait();
        std::io::copy(&mut up, &mut client)?;
        gate.note(&format!("{method} answered"));
        return Ok(());
    }
    if !blob_get || (b.cut_downloads.is_none() && b.pad_blobs == 0) {
        std::io::copy(&mut up, &mut client)?;
        return Ok(());
    }
    // A blob download to tamper with: read the head, then the body.
    let mut status_line = String::new();
    up.read_line(&mut status_line)?;
    let mut response_headers = Vec::new();
    loop {
        let mut line = String::new();
        up.read_line(&mut line)?;
        if line.trim_end().is_empty() {
            break;
        }
        response_headers.push(line.trim_end().to_owned());
    }
    let mut body = Vec::new();
    up.read_to_end(&mut body)?;
    let mut out = status_line.clone();
    for h in &response_headers {
        if b.pad_blobs > 0 && h.to_ascii_lowercase().starts_with("content-length") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len() + b.pad_blobs));
        } else {
            out.push_str(&format!("{h}\r\n"));
        }
    }
    out.push_str("\r\n");
    client.write_all(out.as_bytes())?;
    if let Some((cut, times)) = b.cut_downloads
        && body.len() > cut
        && state.cuts.fetch_add(1, Ordering::Relaxed) < times
    {
        client.write_all(&body[..cut])?;
        client.flush()?;
        return client.shutdown(std::net::Shutdown::Both);
    }
    client.write_all(&body)?;
    client.write_all(&vec![b'!'; b.pad_blobs])
}

fn drain(reader: &mut impl Read, length: usize) -> std::io::Result<()> {
    std::io::copy(&mut reader.take(length as u64), &mut std::io::sink()).map(drop)
}
