//! A scripted, in-memory OCI registry on 127.0.0.0/8 that can be told to lie: to send upload
//! sessions to another listener, to misreport upload progress, to ignore `Range`, to cut or
//! stall downloads, or never to answer. Every request is logged with the `Authorization` it
//! carried. One request per connection (`Connection: close`).
//!
//! [`FakeRegistry::start`] binds the registry on 127.0.0.1; [`FakeRegistry::storage`] is a
//! second listener on 127.0.0.2 sharing its store (like blob storage behind a registry),
//! which demands no credentials and completes whatever uploads reach it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use modeloci_digest::Hasher;

use crate::proxy::respond;

/// What the registry asks of clients.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    /// Nothing.
    #[default]
    None,
    /// `Authorization: Basic` for this user and password.
    Basic(String, String),
    /// `Authorization: Bearer`, issued at `/token` on the registry to this user and password.
    Bearer(String, String),
}

/// How the registry (the 127.0.0.1 listener) behaves. The storage listener follows the same
/// script for blob downloads.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// Credentials demanded by the registry listener.
    pub auth: Auth,
    /// Answer `POST .../blobs/uploads/` with `Location: <this>/upload/<id>` (an origin such as
    /// `http://127.0.0.2:PORT`) instead of a path on the registry.
    pub upload_origin: Option<String>,
    /// Answer `POST .../blobs/uploads/` with exactly this `Location`.
    pub raw_location: Option<String>,
    /// Answer every PATCH with `202` and this `Range`, storing nothing.
    pub patch_range: Option<String>,
    /// Answer every PATCH with `500`, storing nothing.
    pub fail_patches: bool,
    /// Answer every upload status GET with `204` and this `Range`.
    pub status_range: Option<String>,
    /// Answer blob GETs with a `307` to the same path on this origin.
    pub redirect_blobs: Option<String>,
    /// Ignore `Range` on blob GETs: always `200` with the whole blob.
    pub ignore_range: bool,
    /// How to answer a blob GET for a closed range (`Range: bytes=a-b`) other than honestly.
    pub part_lie: Option<PartLie>,
    /// Answer `503` to every GET for a closed range starting at or after this byte.
    pub fail_parts_from: Option<u64>,
    /// Close blob downloads after this many bytes of their body.
    pub cut_after: Option<usize>,
    /// Stop sending blob downloads (and parts of blobs) after this many bytes of their body,
    /// keeping the connection open.
    pub stall_after: Option<usize>,
    /// Announce this `Content-Length` for blob downloads, whatever is sent.
    pub blob_length: Option<u64>,
    /// Read every request and never answer it.
    pub silent: bool,
    /// Have the referrers API: answer `GET /v2/<repo>/referrers/<digest>` with the index of
    /// the stored manifests whose `subject` is that digest (filtered by an `artifactType`
    /// query, saying so in `OCI-Filters-Applied`), and a manifest PUT with a subject with
    /// `OCI-Subject`. Without it, the referrers API answers 404, as Distribution 2.8 does.
    pub referrers_api: bool,
    /// With `referrers_api`: never send `OCI-Subject`, as some registries with the API do.
    pub no_oci_subject: bool,
    /// Answer this many PUTs to a `sha256-<hex>` tag with `201` and store nothing, as if
    /// another writer had replaced the index at once.
    pub lose_index_puts: usize,
}

/// A lie told in answer to a request for a closed range of a blob (`bytes=a-b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartLie {
    /// `206` with the bytes asked for, but a `Content-Range` one byte off (`a+1-b+1`).
    ShiftedRange,
    /// `206` with the bytes asked for, but a `Content-Range` whose total is one byte more.
    WrongTotal,
    /// `206` and honest headers, then half the bytes, and the connection closed.
    Short,
    /// `206` and honest headers, `Content-Length` and all, but the first byte of every part
    /// that does not begin the blob flipped.
    WrongBytes,
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `127.0.0.1:PORT` or `127.0.0.2:PORT`: which listener got it.
    pub listener: String,
    /// The method.
    pub method: String,
    /// The request target.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body's length.
    pub body_len: usize,
    /// The `Range` header, if any.
    pub range: Option<String>,
}

#[derive(Default)]
struct Store {
    blobs: HashMap<String, Vec<u8>>,
    /// By reference (tag or digest): media type and bytes.
    manifests: HashMap<String, (String, Vec<u8>)>,
    uploads: HashMap<String, Vec<u8>>,
}

struct Shared {
    script: Mutex<Script>,
    store: Mutex<Store>,
    log: Mutex<Vec<Seen>>,
    next_upload: AtomicUsize,
    lost_index_puts: AtomicUsize,
    stop: AtomicBool,
}

/// A running fake registry; stops on drop.
pub struct FakeRegistry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// `127.0.0.2:PORT`, the storage listener.
    pub storage: String,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRegistry")
            .field("addr", &self.addr)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

const TOKEN: &str = "fake-registry-token";

impl FakeRegistry {
    /// Starts the registry on 127.0.0.1 and its storage on 127.0.0.2, free ports each.
    pub fn start(script: Script) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            store: Mutex::new(Store::default()),
            log: Mutex::new(Vec::new()),
            next_upload: AtomicUsize::new(0),
            lost_index_puts: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let registry = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let storage = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
        let addr = registry.local_addr().expect("addr").to_string();
        let storage_addr = storage.local_addr().expect("addr").to_string();
        let threads = vec![
            serve(registry, &shared, true),
            serve(storage, &shared, false),
        ];
        Self {
            addr,
            storage: storage_addr,
            shared,
            threads,
        }
    }

    /// Changes the script.
    pub fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.shared.script.lock().expect("not poisoned"));
    }

    /// The requests seen so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared.log.lock().expect("not poisoned").clone()
    }

    /// The requests one listener saw.
    pub fn requests_to(&self, listener: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.listener == listener)
            .collect()
    }

    /// Forgets every blob, so that the next push uploads them again.
    pub fn forget_blobs(&self) {
        self.shared
            .store
            .lock()
            .expect("not poisoned")
            .blobs
            .clear();
    }

    /// Flips the last byte of a stored blob (`sha256:...`), which then no longer matches
    /// the digest it is served under.
    pub fn corrupt_blob(&self, digest: &str) {
        let mut store = self.shared.store.lock().expect("not poisoned");
        let blob = store.blobs.get_mut(digest).expect("the blob is stored");
        if let Some(last) = blob.last_mut() {
            *last ^= 1;
        }
    }

    /// Whether the store holds this blob (`sha256:...`).
    pub fn has_blob(&self, digest: &str) -> bool {
        self.shared
            .store
            .lock()
            .expect("not poisoned")
            .blobs
            .contains_key(digest)
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, shared: &Arc<Shared>, is_registry: bool) -> JoinHandle<()> {
    listener.set_nonblocking(true).expect("nonblocking");
    let shared = Arc::clone(shared);
    std::thread::spawn(move || {
        let name = listener.local_addr().expect("addr").to_string();
        while !shared.stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    let name = name.clone();
                    std::thread::spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        let _ = handle(stream, &shared, &name, is_registry);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    })
}

struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let length: u64 = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    reader.take(length).read_to_end(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(Request {
        method,
        path: path.to_owned(),
        query,
        headers,
        body,
    })
}

/// Keeps the connection open, saying nothing, until the server stops.
fn hold(shared: &Shared) {
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[allow(clippy::too_many_lines)]
fn handle(
    mut stream: TcpStream,
    shared: &Shared,
    listener: &str,
    is_registry: bool,
) -> std::io::Result<()> {
    let req = read_request(&stream)?;
    shared.log.lock().expect("not poisoned").push(Seen {
        listener: listener.to_owned(),
        method: req.method.clone(),
        path: if req.query.is_empty() {
            req.path.clone()
        } else {
            let mut q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            q.sort();
            format!("{}?{}", req.path, q.join("&"))
        },
        authorization: req.header("authorization").map(str::to_owned),
        body_len: req.body.len(),
        range: req.header("range").map(str::to_owned),
    });
    let script = shared.script.lock().expect("not poisoned").clone();
    if script.silent {
        hold(shared);
        return Ok(());
    }

    if is_registry {
        match &script.auth {
            Auth::None => {}
            Auth::Basic(user, password) => {
                if req.header("authorization") != Some(basic(user, password).as_str()) {
                    return respond(
                        &mut stream,
                        "401 Unauthorized",
                        &[("WWW-Authenticate", "Basic realm=\"fake\"".into())],
                        b"{}",
                    );
                }
            }
            Auth::Bearer(user, password) => {
                if req.path == "/token" {
                    return if req.header("authorization") == Some(basic(user, password).as_str()) {
                        respond(
                            &mut stream,
                            "200 OK",
                            &[("Content-Type", "application/json".into())],
                            format!("{{\"token\":\"{TOKEN}\"}}").as_bytes(),
                        )
                    } else {
                        respond(&mut stream, "401 Unauthorized", &[], b"{}")
                    };
                }
                if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
                    let challenge =
                        format!("Bearer realm=\"http://{listener}/token\",service=\"fake\"");
                    return respond(
                        &mut stream,
                        "401 Unauthorized",
                        &[("WWW-Authenticate", challenge)],
                        b"{}",
                    );
                }
            }
        }
    }

    let path = req.path.as_str();
    let method = req.method.as_str();
    if path == "/v2/" || path == "/v2" {
        return respond(&mut stream, "200 OK", &[], b"{}");
    }
    // Upload sessions: /v2/<repo>/blobs/uploads/<id> or /upload/<id>.
    let upload_id = path
        .split_once("/blobs/uploads/")
        .map(|(_, id)| id)
        .or_else(|| path.strip_prefix("/upload/"))
        .filter(|id| !id.is_empty());
    if method == "POST" && path.ends_with("/blobs/uploads/") {
        let repo = path
            .trim_start_matches("/v2/")
            .trim_end_matches("/blobs/uploads/");
        let id = format!("u{}", shared.next_upload.fetch_add(1, Ordering::Relaxed));
        shared
            .store
            .lock()
            .expect("not poisoned")
            .uploads
            .insert(id.clone(), Vec::new());
        let location = match (&script.raw_location, &script.upload_origin) {
            (Some(raw), _) => raw.replace("{id}", &id),
            (None, Some(origin)) => format!("{origin}/upload/{id}"),
            (None, None) => format!("/v2/{repo}/blobs/uploads/{id}"),
        };
        return respond(
            &mut stream,
            "202 Accepted",
            &[("Location", location), ("Range", "0-0".into())],
            b"",
        );
    }
    if let Some(id) = upload_id {
        let mut store = shared.store.lock().expect("not poisoned");
        // Sessions another listener opened are taken too, as shared blob storage would.
        let upload = store.uploads.entry(id.to_owned()).or_default();
        let range = |len: usize| format!("0-{}", len.saturating_sub(1));
        // Storage names itself in full; the registry answers with a path.
        let here = if is_registry {
            req.path.clone()
        } else {
            format!("http://{listener}{}", req.path)
        };
        match method {
            "PATCH" => {
                if script.fail_patches {
                    drop(store);
                    return respond(&mut stream, "500 Internal Server Error", &[], b"{}");
                }
                if let Some(lie) = &script.patch_range {
                    let lie = lie.clone();
                    drop(store);
                    return respond(
                        &mut stream,
                        "202 Accepted",
                        &[("Location", here.clone()), ("Range", lie)],
                        b"",
                    );
                }
                upload.extend_from_slice(&req.body);
                let r = range(upload.len());
                drop(store);
                return respond(
                    &mut stream,
                    "202 Accepted",
                    &[("Location", here.clone()), ("Range", r)],
                    b"",
                );
            }
            "GET" => {
                let r = script
                    .status_range
                    .clone()
                    .unwrap_or_else(|| range(upload.len()));
                drop(store);
                return respond(
                    &mut stream,
                    "204 No Content",
                    &[("Location", here.clone()), ("Range", r)],
                    b"",
                );
            }
            "PUT" => {
                upload.extend_from_slice(&req.body);
                let bytes = store.uploads.remove(id).unwrap_or_default();
                let digest = Hasher::digest_bytes(&bytes).digest.to_string();
                if req.query.get("digest").map(String::as_str) != Some(digest.as_str()) {
                    drop(store);
                    return respond(
                        &mut stream,
                        "400 Bad Request",
                        &[],
                        br#"{"errors":[{"code":"DIGEST_INVALID","message":"digest mismatch"}]}"#,
                    );
                }
                store.blobs.insert(digest.clone(), bytes);
                drop(store);
                return respond(
                    &mut stream,
                    "201 Created",
                    &[("Docker-Content-Digest", digest)],
                    b"",
                );
            }
            "DELETE" => {
                store.uploads.remove(id);
                drop(store);
                return respond(&mut stream, "204 No Content", &[], b"");
            }
            _ => {
                drop(store);
                return respond(&mut stream, "405 Method Not Allowed", &[], b"");
            }
        }
    }
    if let Some((_, subject)) = path.split_once("/referrers/") {
        if !script.referrers_api || method != "GET" {
            return respond(&mut stream, "404 Not Found", &[], b"{}");
        }
        let wanted = req.query.get("artifactType").map(|t| unescape(t));
        let store = shared.store.lock().expect("not poisoned");
        let index = referrers_of(&store, subject, wanted.as_deref());
        drop(store);
        let mut headers = vec![(
            "Content-Type",
            "application/vnd.oci.image.index.v1+json".into(),
        )];
        if wanted.is_some() {
            headers.push(("OCI-Filters-Applied", "artifactType".into()));
        }
        return respond(&mut stream, "200 OK", &headers, &index);
    }
    if let Some((_, reference)) = path.split_once("/manifests/") {
        let mut store = shared.store.lock().expect("not poisoned");
        return match method {
            "PUT"
                if reference.starts_with("sha256-")
                    && shared.lost_index_puts.fetch_add(1, Ordering::Relaxed)
                        < script.lose_index_puts =>
            {
                drop(store);
                let digest = Hasher::digest_bytes(&req.body).digest.to_string();
                respond(
                    &mut stream,
                    "201 Created",
                    &[("Docker-Content-Digest", digest)],
                    b"",
                )
            }
            "PUT" => {
                let digest = Hasher::digest_bytes(&req.body).digest.to_string();
                let media_type = req.header("content-type").unwrap_or("").to_owned();
                store
                    .manifests
                    .insert(reference.to_owned(), (media_type.clone(), req.body.clone()));
                store
                    .manifests
                    .insert(digest.clone(), (media_type, req.body.clone()));
                drop(store);
                let mut headers = vec![("Docker-Content-Digest", digest)];
                if script.referrers_api
                    && !script.no_oci_subject
                    && let Some(subject) = subject_of(&req.body)
                {
                    headers.push(("OCI-Subject", subject));
                }
                respond(&mut stream, "201 Created", &headers, b"")
            }
            "GET" | "HEAD" => match store.manifests.get(reference).cloned() {
                Some((media_type, bytes)) => {
                    drop(store);
                    let digest = Hasher::digest_bytes(&bytes).digest.to_string();
                    respond(
                        &mut stream,
                        "200 OK",
                        &[
                            ("Content-Type", media_type),
                            ("Docker-Content-Digest", digest),
                        ],
                        &bytes,
                    )
                }
                None => {
                    drop(store);
                    respond(&mut stream, "404 Not Found", &[], b"{}")
                }
            },
            _ => {
                drop(store);
                respond(&mut stream, "405 Method Not Allowed", &[], b"")
            }
        };
    }
    if let Some((_, digest)) = path.split_once("/blobs/") {
        let blob = shared
            .store
            .lock()
            .expect("not poisoned")
            .blobs
            .get(digest)
            .cloned();
        let Some(blob) = blob else {
            return respond(&mut stream, "404 Not Found", &[], b"{}");
        };
        if method == "HEAD" {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                blob.len()
            );
            return stream.write_all(head.as_bytes());
        }
        if let Some(origin) = script.redirect_blobs.as_ref().filter(|_| is_registry) {
            return respond(
                &mut stream,
                "307 Temporary Redirect",
                &[("Location", format!("{origin}{path}"))],
                b"",
            );
        }
        if let Some(part) = req
            .header("range")
            .and_then(closed_range)
            .filter(|_| !script.ignore_range)
        {
            return send_part(&mut stream, &script, &blob, part);
        }
        let from = req
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|r| r.parse::<usize>().ok())
            .filter(|_| !script.ignore_range)
            .map(|f| f.min(blob.len()));
        let (status, extra, body) = match from {
            Some(from) => (
                "206 Partial Content",
                vec![(
                    "Content-Range",
                    format!(
                        "bytes {from}-{}/{}",
                        blob.len().saturating_sub(1),
                        blob.len()
                    ),
                )],
                &blob[from..],
            ),
            None => ("200 OK", Vec::new(), &blob[..]),
        };
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            script.blob_length.unwrap_or(body.len() as u64)
        );
        for (k, v) in &extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if let Some(n) = script.stall_after {
            stream.write_all(&body[..n.min(body.len())])?;
            stream.flush()?;
            hold(shared);
            return Ok(());
        }
        if let Some(n) = script.cut_after
            && body.len() > n
        {
            stream.write_all(&body[..n])?;
            stream.flush()?;
            return stream.shutdown(std::net::Shutdown::Both);
        }
        return stream.write_all(body);
    }
    respond(&mut stream, "404 Not Found", &[], b"{}")
}

/// The first and last byte of a `bytes=a-b` range.
fn closed_range(range: &str) -> Option<(usize, usize)> {
    let (a, b) = range.strip_prefix("bytes=")?.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Answers a request for bytes `first..=last` of `blob` as the script says.
fn send_part(
    stream: &mut TcpStream,
    script: &Script,
    blob: &[u8],
    (first, last): (usize, usize),
) -> std::io::Result<()> {
    if first > last || last >= blob.len() {
        return respond(stream, "416 Range Not Satisfiable", &[], b"");
    }
    if script.fail_parts_from.is_some_and(|f| first as u64 >= f) {
        return respond(stream, "503 Service Unavailable", &[], b"");
    }
    let total = blob.len();
    let mut body = blob[first..=last].to_vec();
    let range = match script.part_lie {
        Some(PartLie::ShiftedRange) => format!("bytes {}-{}/{total}", first + 1, last + 1),
        Some(PartLie::WrongTotal) => format!("bytes {first}-{last}/{}", total + 1),
        _ => format!("bytes {first}-{last}/{total}"),
    };
    if script.part_lie == Some(PartLie::WrongBytes) && first > 0 {
        body[0] ^= 1;
    }
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: {range}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if let Some(n) = script.stall_after {
        stream.write_all(&body[..n.min(body.len())])?;
        stream.flush()?;
        std::thread::sleep(Duration::from_secs(30));
        return Ok(());
    }
    if script.part_lie == Some(PartLie::Short) {
        stream.write_all(&body[..body.len() / 2])?;
        stream.flush()?;
        return stream.shutdown(std::net::Shutdown::Both);
    }
    stream.write_all(&body)
}

/// The `subject` digest a manifest names, if any.
fn subject_of(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value["subject"]["digest"].as_str().map(str::to_owned)
}

/// `%XX` escapes decoded.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The referrers API's answer: an index of the stored manifests (by digest) whose subject is
/// `subject`, each with its `artifactType` (else its config's media type) and annotations,
/// sorted by digest.
fn referrers_of(store: &Store, subject: &str, artifact_type: Option<&str>) -> Vec<u8> {
    let mut entries: Vec<(String, serde_json::Value)> = Vec::new();
    for (key, (media_type, bytes)) in &store.manifests {
        if !key.starts_with("sha256:") || subject_of(bytes).as_deref() != Some(subject) {
            continue;
        }
        let manifest: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        let kind = manifest["artifactType"]
            .as_str()
            .or_else(|| manifest["config"]["mediaType"].as_str())
            .unwrap_or_default()
            .to_owned();
        if artifact_type.is_some_and(|t| t != kind) {
            continue;
        }
        let mut entry = serde_json::json!({
            "mediaType": media_type,
            "digest": key,
            "size": bytes.len(),
            "artifactType": kind,
        });
        if let Some(annotations) = manifest.get("annotations") {
            entry["annotations"] = annotations.clone();
        }
        entries.push((key.clone(), entry));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let manifests: Vec<serde_json::Value> = entries.into_iter().map(|(_, e)| e).collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .expect("JSON")
}
