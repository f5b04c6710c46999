//! Remote operations against the real registry (Distribution 2.8): inspect reads the manifest
//! and config only, tags follow `Link` pages, tag re-puts the manifest bytes, copy mounts
//! within a registry and streams across two, carrying referrers by the tag schema; and
//! against the scripted registry: a source that lies about a blob, and credentials that
//! stay with their own registry.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use modeloci_archive::{Archive, Progress, ProgressHandle};
use modeloci_registry::{
    BlobOutcome, Client, ClientOptions, CopyOptions, Credentials, Error, Inspected, PullOptions,
    PullTarget, PushOptions, Reference, TagsOptions, copy, inspect, list_tags, pull, push, tag,
};
use modeloci_spec::{Descriptor, MediaType, OciIndex, OciManifest};
use modeloci_tests::fake_registry::{Auth, FakeRegistry, Script};
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;

use crate::fixtures;

fn reference(addr: &str, repo: &str) -> Reference {
    format!("{addr}/{repo}").parse().unwrap()
}

fn client(addr: &str) -> Client {
    Client::new(addr, ClientOptions::default())
}

fn golden(name: &str) -> Archive {
    Archive::open(&fixtures().join("golden").join(name)).unwrap()
}

/// Pushes a golden archive to `repo` (tagged with its version, `1.0.0`, when `repo` names no
/// tag); returns the archive.
fn push_golden(addr: &str, name: &str, repo: &str) -> Archive {
    let archive = golden(name);
    let tagged = if repo
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        repo.to_owned()
    } else {
        format!("{repo}:1.0.0")
    };
    push(
        &client(addr),
        &archive,
        &reference(addr, &tagged),
        &PushOptions::default(),
    )
    .unwrap();
    archive
}

#[test]
fn inspect_reads_the_manifest_and_the_config_and_nothing_else() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    for (name, repo) in [
        ("tiny-1.0.0.tar", "models/tiny"),
        ("tiny-1.0.0-modelpack.tar", "models/tiny-mp"),
    ] {
        let archive = push_golden(&registry.addr, name, repo);
        let before = proxy.requests().len();
        let found = inspect(
            &client(&proxy.addr),
            &reference(&proxy.addr, &format!("{repo}:1.0.0")),
        )
        .unwrap();
        assert_eq!(&found.resolved.digest, archive.manifest_digest());
        let Inspected::Manifest { manifest, config } = &found.inspected else {
            panic!("{name}: not a manifest");
        };
        assert_eq!(**manifest, *archive.manifest());
        assert_eq!(*config, archive.config_bytes().unwrap());
        assert_eq!(
            proxy.requests()[before..],
            [
                format!("GET /v2/{repo}/manifests/1.0.0"),
                format!("GET /v2/{repo}/blobs/{}", manifest.config.digest),
            ],
            "{name}"
        );
    }
}

#[test]
fn inspect_lists_an_index_and_tag_adds_a_tag_with_the_same_bytes() {
    let registry = Registry::start(None);
    let a = push_golden(&registry.addr, "tiny-1.0.0.tar", "models/tiny");
    let b = push_golden(&registry.addr, "tiny-1.0.0-zstd.tar", "models/tiny:zstd");
    let c = client(&registry.addr);
    let index = OciIndex::new(vec![
        Descriptor::new(
            MediaType::ImageManifest,
            a.manifest_digest().clone(),
            a.manifest_bytes().len() as u64,
        ),
        Descriptor::new(
            MediaType::ImageManifest,
            b.manifest_digest().clone(),
            b.manifest_bytes().len() as u64,
        ),
    ]);
    c.put_manifest(
        "models/tiny",
        "multi",
        &MediaType::ImageIndex,
        &index.to_json(),
    )
    .unwrap();
    let found = inspect(&c, &reference(&registry.addr, "models/tiny:multi")).unwrap();
    let Inspected::Index(listed) = found.inspected else {
        panic!("not an index");
    };
    assert_eq!(listed, index);

    let r = reference(&registry.addr, "models/tiny:1.0.0");
    let digest = tag(&c, &r, "stable").unwrap();
    assert_eq!(&digest, a.manifest_digest());
    assert_eq!(
        modeloci_tests::registry::skopeo_raw(&format!("{}/models/tiny:stable", registry.addr)),
        a.manifest_bytes()
    );
    let err = tag(&c, &r, "-bad").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tag \"-bad\": a tag is up to 128 letters, digits, _ . and -, not starting with . or -"
    );
}

/// What a scripted listener saw: the request target and its `Authorization`.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A listener on 127.0.0.1 answering each GET with what `answer` gives for its target and
/// `Authorization` (status line, headers, body), recording both.
fn listen(
    answer: impl Fn(&str, Option<&str>) -> (&'static str, Vec<(String, String)>, String)
    + Send
    + 'static,
) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut authorization = None;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':')
                    && k.eq_ignore_ascii_case("authorization")
                {
                    authorization = Some(v.trim().to_owned());
                }
            }
            let (status, headers, body) = answer(&target, authorization.as_deref());
            log.lock().unwrap().push((target, authorization));
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            let _ = stream.write_all(format!("{head}\r\n{body}").as_bytes());
        }
    });
    (addr, seen)
}

#[test]
fn tags_follow_the_link_header_and_keep_credentials_at_home() {
    // The last page lives on another port: another origin, which gets no credentials.
    let (elsewhere, seen_elsewhere) =
        listen(|_, _| ("200 OK", Vec::new(), r#"{"tags":["e"]}"#.into()));
    let (home, seen_home) = listen(move |target, authorization| {
        let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        let link = |to: String| vec![("Link".to_owned(), format!("<{to}>; rel=\"next\""))];
        if authorization != Some("Basic YWxpY2U6d29uZGVybGFuZA==") {
            let challenge = (
                "WWW-Authenticate".to_owned(),
                "Basic realm=\"t\"".to_owned(),
            );
            return ("401 Unauthorized", vec![challenge], "{}".into());
        }
        match target {
            "/v2/m/tags/list?n=2" => (
                "200 OK",
                [json, link("/v2/m/tags/list?last=b&n=2".into())].concat(),
                r#"{"name":"m","tags":["a","b"]}"#.into(),
            ),
            "/v2/m/tags/list?last=b&n=2" => (
                "200 OK",
                link(format!("http://{elsewhere}/v2/m/tags/list?last=d&n=2")),
                r#"{"name":"m","tags":["c","d"]}"#.into(),
            ),
            _ => ("404 Not Found", Vec::new(), "{}".into()),
        }
    });
    let alice = Credentials::new("alice", "wonderland");
    let c = Client::new(
        &home,
        ClientOptions::default().with_credentials(Some(alice)),
    );
    let options = TagsOptions::default().with_page_size(Some(2));
    let tags = list_tags(&c, "m", &options).unwrap();
    assert_eq!(tags, ["a", "b", "c", "d", "e"]);
    let home_pages: Vec<_> = seen_home
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, a)| a.is_some())
        .map(|(t, _)| t.clone())
        .collect();
    assert_eq!(
        home_pages,
        ["/v2/m/tags/list?n=2", "/v2/m/tags/list?last=b&n=2"]
    );
    assert_eq!(
        *seen_elsewhere.lock().unwrap(),
        [("/v2/m/tags/list?last=d&n=2".to_owned(), None)],
        "the other origin got no Authorization"
    );
    let err = list_tags(&c, "m", &options.with_max_pages(2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{home}: the tag list of m runs past 2 pages")
    );
}

#[test]
fn a_tag_listing_is_capped_in_all_pages_together() {
    // Every page just under the page cap, each linking to the next, without end.
    let page = format!(
        r#"{{"name":"m","tags":["{}"]}}"#,
        "t".repeat((4 << 20) - 64)
    );
    let (addr, seen) = listen(move |target, _| {
        let n: u64 = target
            .rsplit('=')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let link = format!("</v2/m/tags/list?page={}>; rel=\"next\"", n + 1);
        ("200 OK", vec![("Link".to_owned(), link)], page.clone())
    });
    let c = Client::new(&addr, ClientOptions::default());
    let err = list_tags(&c, "m", &TagsOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{addr}: the tag list of m holds more than {} bytes of tags",
            modeloci_registry::MAX_TAG_BYTES
        )
    );
    // 16 pages of just under 4 MiB fit in 64 MiB; the 17th is one too many.
    assert_eq!(seen.lock().unwrap().len(), 17);
}

#[test]
fn tags_of_a_real_registry() {
    let registry = Registry::start(None);
    push_golden(&registry.addr, "tiny-1.0.0.tar", "models/tiny");
    let c = client(&registry.addr);
    let r = reference(&registry.addr, "models/tiny:1.0.0");
    for t in ["a", "b", "c"] {
        tag(&c, &r, t).unwrap();
    }
    let mut tags = list_tags(&c, "models/tiny", &TagsOptions::default()).unwrap();
    tags.sort();
    assert_eq!(tags, ["1.0.0", "a", "b", "c"]);
    let err = list_tags(&c, "models/none", &TagsOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn pull_without_a_tag_names_the_tags_when_latest_is_absent() {
    let registry = Registry::start(None);
    push_golden(&registry.addr, "tiny-1.0.0.tar", "models/tiny");
    let dir = tempfile::tempdir().unwrap();
    let err = pull(
        &client(&registry.addr),
        &reference(&registry.addr, "models/tiny"),
        &PullTarget::Archive(dir.path().join("x.tar")),
        &PullOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "models/tiny has no tag latest in {}; its tags: 1.0.0",
            registry.addr
        )
    );
}

/// Records what progress a copy reports.
#[derive(Default)]
struct Recorder {
    started: Mutex<Vec<(String, u64)>>,
    advanced: AtomicU64,
}

impl Progress for Recorder {
    fn start(&self, what: &str, total: u64) {
        self.started.lock().unwrap().push((what.to_owned(), total));
    }
    fn advance(&self, bytes: u64) {
        self.advanced.fetch_add(bytes, Ordering::Relaxed);
    }
    fn finish(&self) {}
}

#[test]
fn copy_mounts_within_a_registry_and_streams_to_another() {
    let one = Registry::start(None);
    let two = Registry::start(None);
    let archive = push_golden(&one.addr, "tiny-1.0.0.tar", "models/tiny");
    let blobs = archive.manifest().layers.len() + 1;
    let src = client(&one.addr);
    let source = reference(&one.addr, "models/tiny:1.0.0");

    let report = copy(
        &src,
        &source,
        &src,
        &reference(&one.addr, "mirror/tiny"),
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(report.count(BlobOutcome::Mounted), blobs);
    assert_eq!(report.tags, ["1.0.0"]);
    assert_eq!(
        modeloci_tests::registry::skopeo_raw(&format!("{}/mirror/tiny:1.0.0", one.addr)),
        archive.manifest_bytes()
    );

    let dst = client(&two.addr);
    let target = reference(&two.addr, "copied/tiny:v1");
    let recorder = Arc::new(Recorder::default());
    let options = CopyOptions::default().with_progress(Some(ProgressHandle(recorder.clone())));
    let report = copy(&src, &source, &dst, &target, &options).unwrap();
    assert_eq!(report.count(BlobOutcome::Uploaded), blobs);
    let total = report.bytes_copied();
    assert_eq!(
        *recorder.started.lock().unwrap(),
        [("copying".to_owned(), total)]
    );
    assert_eq!(
        recorder.advanced.load(Ordering::Relaxed),
        total,
        "each byte once"
    );
    assert_eq!(&report.manifest_digest, archive.manifest_digest());
    let again = copy(&src, &source, &dst, &target, &CopyOptions::default()).unwrap();
    assert_eq!(again.count(BlobOutcome::Existed), blobs);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled.tar");
    pull(
        &dst,
        &target,
        &PullTarget::Archive(out.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert!(
        std::fs::read(&out).unwrap()
            == std::fs::read(fixtures().join("golden/tiny-1.0.0.tar")).unwrap(),
        "the copy pulls back as the golden archive"
    );
    assert_eq!(
        modeloci_tests::registry::skopeo_raw(&format!("{}/copied/tiny:v1", two.addr)),
        archive.manifest_bytes()
    );
}

#[test]
fn copy_of_an_index_copies_its_manifests() {
    let one = Registry::start(None);
    let two = Registry::start(None);
    let a = push_golden(&one.addr, "tiny-1.0.0.tar", "models/tiny");
    let b = push_golden(&one.addr, "tiny-1.0.0-modelpack.tar", "models/tiny:mp");
    let src = client(&one.addr);
    let children = [&a, &b].map(|x| {
        Descriptor::new(
            MediaType::ImageManifest,
            x.manifest_digest().clone(),
            x.manifest_bytes().len() as u64,
        )
    });
    let index = OciIndex::new(children.to_vec()).to_json();
    src.put_manifest("models/tiny", "multi", &MediaType::ImageIndex, &index)
        .unwrap();
    let dst = client(&two.addr);
    let report = copy(
        &src,
        &reference(&one.addr, "models/tiny:multi"),
        &dst,
        &reference(&two.addr, "copied/multi"),
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(report.manifests.len(), 3, "two children and the index");
    assert_eq!(
        modeloci_tests::registry::skopeo_raw(&format!("{}/copied/multi:multi", two.addr)),
        index
    );
    for child in [&a, &b] {
        assert_eq!(
            modeloci_tests::registry::skopeo_raw(&format!(
                "{}/copied/multi@{}",
                two.addr,
                child.manifest_digest()
            )),
            child.manifest_bytes()
        );
    }
}

/// Pushes a second artifact into `repo` and stores it by digest with `subject` set, listed
/// under the subject's fallback tag as Distribution 2.8 would need; returns its digest.
fn push_referrer(addr: &str, repo: &str, subject: &Archive) -> modeloci_spec::Digest {
    let c = client(addr);
    let other = push_golden(
        addr,
        "tiny-1.0.0-modelpack.tar",
        &format!("{repo}:sig-source"),
    );
    let mut manifest: OciManifest = other.manifest().clone();
    manifest.subject = Some(Descriptor::new(
        MediaType::ImageManifest,
        subject.manifest_digest().clone(),
        subject.manifest_bytes().len() as u64,
    ));
    manifest.artifact_type = Some(MediaType::from("application/vnd.example.signature"));
    let bytes = manifest.to_json();
    let digest = modeloci_digest::Hasher::digest_bytes(&bytes).digest;
    c.put_manifest(repo, digest.as_str(), &MediaType::ImageManifest, &bytes)
        .unwrap();
    let listed = Descriptor::new(MediaType::ImageManifest, digest.clone(), bytes.len() as u64)
        .with_artifact_type(MediaType::from("application/vnd.example.signature"));
    let fallback = format!("sha256-{}", subject.manifest_digest().hex());
    c.put_manifest(
        repo,
        &fallback,
        &MediaType::ImageIndex,
        &OciIndex::new(vec![listed]).to_json(),
    )
    .unwrap();
    digest
}

#[test]
fn copy_carries_referrers_by_the_tag_schema() {
    let one = Registry::start(None);
    let two = Registry::start(None);
    let archive = push_golden(&one.addr, "tiny-1.0.0.tar", "models/tiny");
    let referrer = push_referrer(&one.addr, "models/tiny", &archive);
    let src = client(&one.addr);
    let dst = client(&two.addr);
    let report = copy(
        &src,
        &reference(&one.addr, "models/tiny:1.0.0"),
        &dst,
        &reference(&two.addr, "copied/tiny"),
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(report.referrers, std::slice::from_ref(&referrer));
    let fallback = format!("sha256-{}", archive.manifest_digest().hex());
    let listed: OciIndex = OciIndex::from_slice(&modeloci_tests::registry::skopeo_raw(&format!(
        "{}/copied/tiny:{fallback}",
        two.addr
    )))
    .unwrap();
    assert_eq!(
        listed
            .manifests
            .iter()
            .map(|d| &d.digest)
            .collect::<Vec<_>>(),
        [&referrer]
    );
    // The referrer and every blob it names are there: it pulls, verified.
    let dir = tempfile::tempdir().unwrap();
    pull(
        &dst,
        &format!("{}/copied/tiny@{referrer}", two.addr)
            .parse()
            .unwrap(),
        &PullTarget::Archive(dir.path().join("sig.tar")),
        &PullOptions::default(),
    )
    .unwrap();
    let raw = modeloci_tests::registry::skopeo_raw(&format!("{}/copied/tiny@{referrer}", two.addr));
    let copied = OciManifest::from_slice(&raw).unwrap();
    assert_eq!(&copied.subject.unwrap().digest, archive.manifest_digest());
}

#[test]
fn a_source_that_lies_about_a_blob_leaves_no_tag_at_the_target() {
    let fake = FakeRegistry::start(Script::default());
    let archive = golden("tiny-1.0.0.tar");
    let src = Client::new(&fake.addr, ClientOptions::default().with_retries(0));
    push(
        &src,
        &archive,
        &reference(&fake.addr, "models/tiny:1.0.0"),
        &PushOptions::default(),
    )
    .unwrap();
    let layer = archive.manifest().layers[0].digest.clone();
    fake.corrupt_blob(layer.as_str());
    let two = Registry::start(None);
    // Retries as by default, each after a long wait: a wrong body is not sent again.
    let dst = Client::new(
        &two.addr,
        ClientOptions::default().with_backoff(std::time::Duration::from_secs(20)),
    );
    let err = copy(
        &src,
        &reference(&fake.addr, "models/tiny:1.0.0"),
        &dst,
        &reference(&two.addr, "copied/tiny"),
        &CopyOptions::default(),
    )
    .unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("blob {layer} from {}: ", fake.addr)),
        "{err}"
    );
    let tags = list_tags(&dst, "copied/tiny", &TagsOptions::default());
    assert!(
        matches!(&tags, Err(Error::NotFound { .. })) || tags.as_ref().is_ok_and(Vec::is_empty),
        "{tags:?}"
    );
    assert!(
        dst.get_manifest("copied/tiny", "1.0.0").is_err(),
        "no manifest at the target"
    );
}

#[test]
fn each_side_of_a_copy_gets_its_own_credentials_only() {
    let source = FakeRegistry::start(Script {
        auth: Auth::Basic("alice".into(), "wonderland".into()),
        ..Script::default()
    });
    let target = FakeRegistry::start(Script::default());
    let alice =
        ClientOptions::default().with_credentials(Some(Credentials::new("alice", "wonderland")));
    let src = Client::new(&source.addr, alice);
    push(
        &src,
        &golden("tiny-1.0.0.tar"),
        &reference(&source.addr, "models/tiny:1.0.0"),
        &PushOptions::default(),
    )
    .unwrap();
    let dst = client(&target.addr);
    copy(
        &src,
        &reference(&source.addr, "models/tiny:1.0.0"),
        &dst,
        &reference(&target.addr, "copied/tiny"),
        &CopyOptions::default(),
    )
    .unwrap();
    let seen = target.requests();
    assert!(
        seen.iter()
            .any(|s| s.method == "PUT" && s.path.contains("/manifests/1.0.0"))
    );
    assert!(seen.iter().all(|s| s.authorization.is_none()), "{seen:?}");
    assert!(
        source
            .requests()
            .iter()
            .any(|s| s.authorization.is_some() && s.path.contains("/blobs/")),
        "the source got its own credentials"
    );
}

#[test]
fn a_listed_referrer_that_refers_elsewhere_is_refused() {
    let one = Registry::start(None);
    let two = Registry::start(None);
    let archive = push_golden(&one.addr, "tiny-1.0.0.tar", "models/tiny");
    let stranger = push_golden(&one.addr, "tiny-1.0.0-modelpack.tar", "models/tiny:other");
    let src = client(&one.addr);
    let listed = Descriptor::new(
        MediaType::ImageManifest,
        stranger.manifest_digest().clone(),
        stranger.manifest_bytes().len() as u64,
    );
    let fallback = format!("sha256-{}", archive.manifest_digest().hex());
    src.put_manifest(
        "models/tiny",
        &fallback,
        &MediaType::ImageIndex,
        &OciIndex::new(vec![listed]).to_json(),
    )
    .unwrap();
    let err = copy(
        &src,
        &reference(&one.addr, "models/tiny:1.0.0"),
        &client(&two.addr),
        &reference(&two.addr, "copied/tiny"),
        &CopyOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: it lists {} among the referrers of {}, but that manifest's subject is absent",
            one.addr,
            stranger.manifest_digest(),
            archive.manifest_digest()
        )
    );
}

#[test]
fn an_untagged_copy_keeps_latest_and_a_bad_extra_tag_sends_nothing() {
    let one = Registry::start(None);
    let archive = push_golden(&one.addr, "tiny-1.0.0.tar", "models/tiny:latest");
    let c = client(&one.addr);
    let report = copy(
        &c,
        &reference(&one.addr, "models/tiny"),
        &c,
        &reference(&one.addr, "mirror/tiny"),
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(report.tags, ["latest"]);
    assert_eq!(
        modeloci_tests::registry::skopeo_raw(&format!("{}/mirror/tiny:latest", one.addr)),
        archive.manifest_bytes()
    );
    // Nothing listens on port 1: the refusal comes before any request.
    let nowhere = client("127.0.0.1:1");
    let err = copy(
        &nowhere,
        &reference("127.0.0.1:1", "m:1"),
        &nowhere,
        &reference("127.0.0.1:1", "n"),
        &CopyOptions::default().with_extra_tags(["ok", "no/slash"]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tag \"no/slash\": a tag is up to 128 letters, digits, _ . and -, not starting with . or -"
    );
}
