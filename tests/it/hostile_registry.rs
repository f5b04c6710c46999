//! Push and pull against a registry that lies: upload sessions on other hosts, progress that
//! never advances, downloads that ignore `Range`, break off, stall or never start. Each test
//! checks what the other side received, and that the work ends, in bounded time, with an error
//! that is not a verification failure (exit code 2) and names what the registry did.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use modeloci_archive::{Archive, Compression};
use modeloci_registry::{
    BlobOutcome, Client, ClientOptions, Credentials, PullOptions, PullTarget, PushOptions,
    Reference, pull, push,
};
use modeloci_tests::fake_registry::{Auth, FakeRegistry, Script};
use modeloci_tests::fixtures::Normal;

use crate::{fixtures, pack};

const MIB: usize = 1 << 20;

fn reference(addr: &str, repo: &str) -> Reference {
    format!("{addr}/{repo}").parse().unwrap()
}

/// Few, quick retries, and a stall timeout of `timeout` seconds.
fn options(timeout: u64) -> ClientOptions {
    ClientOptions::default()
        .with_retries(2)
        .with_backoff(Duration::from_millis(50))
        .with_timeout(Duration::from_secs(timeout))
}

/// Runs `f` on its own thread; panics if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

/// An uncompressed archive whose weights are one blob of `size` bytes.
fn archive_with_weights(dir: &Path, size: usize) -> std::path::PathBuf {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), br#"{"model_type": "test"}"#).unwrap();
    let mut data = vec![0u8; size];
    Normal::new(11).fill_bf16(0.02, &mut data);
    std::fs::write(model.join("w.safetensors"), data).unwrap();
    let out = dir.join("m.tar");
    pack(&model, &out, Compression::None);
    out
}

/// The digest of the largest blob of an archive.
fn largest_blob(archive: &Archive) -> String {
    archive
        .manifest()
        .layers
        .iter()
        .max_by_key(|d| d.size)
        .unwrap()
        .digest
        .to_string()
}

fn golden() -> Archive {
    Archive::open(&fixtures().join("golden/tiny-1.0.0.tar")).unwrap()
}

/// Pushes small blobs (one PUT each) and a 3 MiB blob in 1 MiB chunks (PATCH, PATCH, PATCH,
/// PUT) to a registry whose upload sessions live on its storage listener, then pulls through
/// blob redirects to the storage: the storage gets every upload and download, never a
/// credential, and everything arrives intact.
fn uploads_elsewhere_get_no_credentials(auth: Auth, credentials: Credentials) {
    let fake = FakeRegistry::start(Script {
        auth,
        ..Script::default()
    });
    let storage = format!("http://{}", fake.storage);
    fake.script(|s| s.upload_origin = Some(storage.clone()));
    let dir = tempfile::tempdir().unwrap();
    let path = archive_with_weights(dir.path(), 3 * MIB);
    let client = Client::new(
        &fake.addr,
        options(10).with_credentials(Some(credentials.clone())),
    );
    let archive = Archive::open(&path).unwrap();
    let r = reference(&fake.addr, "models/m:1");
    let report = push(
        &client,
        &archive,
        &r,
        &PushOptions::default().with_chunk_size(MIB as u64),
    )
    .unwrap();
    assert_eq!(report.count(BlobOutcome::UploadedInChunks), 1);
    assert_eq!(
        report.count(BlobOutcome::Uploaded),
        2,
        "config and config.json"
    );
    assert!(fake.has_blob(&largest_blob(&archive)));

    let at_storage = fake.requests_to(&fake.storage);
    let methods: Vec<&str> = at_storage.iter().map(|s| s.method.as_str()).collect();
    let chunks = archive
        .manifest()
        .layers
        .iter()
        .map(|d| d.size)
        .max()
        .unwrap()
        .div_ceil(MIB as u64);
    assert_eq!(
        methods.iter().filter(|m| **m == "PATCH").count() as u64,
        chunks,
        "{at_storage:?}"
    );
    assert_eq!(methods.iter().filter(|m| **m == "PUT").count(), 3);
    assert!(
        at_storage.iter().all(|s| s.authorization.is_none()),
        "credentials reached the storage: {at_storage:?}"
    );
    // The registry itself did get them.
    assert!(
        fake.requests_to(&fake.addr)
            .iter()
            .any(|s| s.method == "PUT" && s.authorization.is_some())
    );

    // Downloads redirected (by ureq) to the storage lose the credentials too.
    fake.script(|s| s.redirect_blobs = Some(storage.clone()));
    let out = dir.path().join("pulled.tar");
    pull(
        &client,
        &r,
        &PullTarget::Archive(out.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&path).unwrap());
    let gets: Vec<_> = fake
        .requests_to(&fake.storage)
        .into_iter()
        .filter(|s| s.method == "GET")
        .collect();
    assert_eq!(gets.len(), 3, "three blobs downloaded from the storage");
    assert!(gets.iter().all(|s| s.authorization.is_none()), "{gets:?}");
}

#[test]
fn basic_credentials_never_follow_a_location_or_redirect_to_another_host() {
    uploads_elsewhere_get_no_credentials(
        Auth::Basic("alice".into(), "wonderland".into()),
        Credentials::new("alice", "wonderland"),
    );
}

#[test]
fn bearer_tokens_never_follow_a_location_or_redirect_to_another_host() {
    uploads_elsewhere_get_no_credentials(
        Auth::Bearer("bob".into(), "builder".into()),
        Credentials::new("bob", "builder"),
    );
}

#[test]
fn another_port_on_the_same_host_is_another_origin() {
    let fake = FakeRegistry::start(Script {
        auth: Auth::Basic("alice".into(), "wonderland".into()),
        ..Script::default()
    });
    let other = FakeRegistry::start(Script::default());
    fake.script(|s| s.upload_origin = Some(format!("http://{}", other.addr)));
    let client = Client::new(
        &fake.addr,
        options(10).with_credentials(Some(Credentials::new("alice", "wonderland"))),
    );
    push(
        &client,
        &golden(),
        &reference(&fake.addr, "tiny:1"),
        &PushOptions::default(),
    )
    .unwrap();
    let seen = other.requests();
    assert_eq!(seen.iter().filter(|s| s.method == "PUT").count(), 8);
    assert!(seen.iter().all(|s| s.authorization.is_none()), "{seen:?}");

    // A scheme-relative `//host/path` names another host too.
    fake.script(|s| s.raw_location = Some(format!("//{}/upload/{{id}}", fake.storage)));
    fake.forget_blobs();
    push(
        &client,
        &golden(),
        &reference(&fake.addr, "relative:1"),
        &PushOptions::default(),
    )
    .unwrap();
    let seen = fake.requests_to(&fake.storage);
    assert_eq!(seen.iter().filter(|s| s.method == "PUT").count(), 8);
    assert!(seen.iter().all(|s| s.authorization.is_none()), "{seen:?}");

    // The same origin spelled otherwise (upper-case scheme, relative paths) keeps them.
    for location in [
        format!("HTTP://{}/upload/{{id}}", fake.addr),
        "upload/{id}".to_owned(),
        "/v2/tiny/blobs/uploads/{id}".to_owned(),
    ] {
        fake.script(|s| s.raw_location = Some(location.clone()));
        fake.forget_blobs();
        let before = fake.requests().len();
        push(
            &client,
            &golden(),
            &reference(&fake.addr, "again:1"),
            &PushOptions::default(),
        )
        .unwrap();
        let puts: Vec<_> = fake.requests()[before..]
            .iter()
            .filter(|s| s.method == "PUT" && s.path.contains("digest="))
            .cloned()
            .collect();
        assert!(!puts.is_empty(), "{location}");
        assert!(
            puts.iter().all(|s| s.authorization.is_some()),
            "{location}: {puts:?}"
        );
    }
}

#[test]
fn locations_with_user_names_or_control_characters_are_refused() {
    let fake = FakeRegistry::start(Script {
        auth: Auth::Basic("alice".into(), "wonderland".into()),
        ..Script::default()
    });
    let client = Client::new(
        &fake.addr,
        options(10).with_credentials(Some(Credentials::new("alice", "wonderland"))),
    );
    for (location, says) in [
        (
            format!("http://alice@{}/upload/{{id}}", fake.storage),
            "user name",
        ),
        (
            format!("http://{}/upload/\t{{id}}", fake.storage),
            "Location",
        ),
        (
            format!("http://{}/upload/{}{{id}}", fake.storage, "x".repeat(9000)),
            "Location",
        ),
    ] {
        fake.script(|s| s.raw_location = Some(location.clone()));
        let err = push(
            &client,
            &golden(),
            &reference(&fake.addr, "tiny:1"),
            &PushOptions::default(),
        )
        .unwrap_err();
        assert!(!err.is_verification_failure());
        assert!(err.to_string().contains(says), "{location}: {err}");
    }
    assert_eq!(fake.requests_to(&fake.storage).len(), 0);
}

/// Every PATCH answered `202` with a `Range` that does not move, or that wraps `end + 1`.
#[test]
fn a_registry_that_lies_about_upload_progress_fails_the_push_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let path = archive_with_weights(dir.path(), 3 * MIB);
    let blob = largest_blob(&Archive::open(&path).unwrap());
    for lie in ["0-0", "0-18446744073709551615", "0-99999999"] {
        let fake = FakeRegistry::start(Script {
            patch_range: Some(lie.into()),
            ..Script::default()
        });
        let addr = fake.addr.clone();
        let path = path.clone();
        let started = Instant::now();
        let err = within(Duration::from_secs(20), move || {
            let client = Client::new(&addr, options(5));
            push(
                &client,
                &Archive::open(&path).unwrap(),
                &reference(&addr, "m:1"),
                &PushOptions::default().with_chunk_size(MIB as u64),
            )
            .unwrap_err()
        });
        assert!(started.elapsed() < Duration::from_secs(10), "{lie}");
        assert!(!err.is_verification_failure(), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&blob) && message.contains(&format!("Range {lie:?}")),
            "{lie}: {message}"
        );
        let patches = fake
            .requests()
            .iter()
            .filter(|s| s.method == "PATCH")
            .count();
        assert!((1..=10).contains(&patches), "{lie}: {patches} PATCHes");
    }
}

/// PATCHes that keep failing are retried as often as the client's options say, with their
/// backoff, resuming from the upload's status, which must lie within the blob.
#[test]
fn failing_chunks_are_retried_by_the_client_policy_and_the_status_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = archive_with_weights(dir.path(), 3 * MIB);
    let blob = largest_blob(&Archive::open(&path).unwrap());
    for status in [None, Some("0-18446744073709551615")] {
        let fake = FakeRegistry::start(Script {
            fail_patches: true,
            status_range: status.map(str::to_owned),
            ..Script::default()
        });
        let addr = fake.addr.clone();
        let path = path.clone();
        let started = Instant::now();
        let err = within(Duration::from_secs(20), move || {
            push(
                &Client::new(&addr, options(5)),
                &Archive::open(&path).unwrap(),
                &reference(&addr, "m:1"),
                &PushOptions::default().with_chunk_size(MIB as u64),
            )
            .unwrap_err()
        });
        assert!(started.elapsed() < Duration::from_secs(5), "{status:?}");
        assert!(!err.is_verification_failure());
        let patches = fake
            .requests()
            .iter()
            .filter(|s| s.method == "PATCH")
            .count();
        let message = err.to_string();
        match status {
            None => {
                assert_eq!(patches, 3, "the first try and two retries");
                assert!(
                    message.contains("PATCH") && message.contains("500"),
                    "{message}"
                );
            }
            Some(lie) => {
                assert_eq!(patches, 1);
                assert!(
                    message.contains(&blob)
                        && message.contains(&format!(
                            "the upload's status was answered with Range {lie:?}, past the blob's"
                        )),
                    "{message}"
                );
            }
        }
    }
}

/// Pushes the 3 MiB archive to an honest fake, then lets `script` change it.
fn fake_with_archive(dir: &Path, script: impl FnOnce(&mut Script)) -> (FakeRegistry, Archive) {
    let fake = FakeRegistry::start(Script::default());
    let path = archive_with_weights(dir, 3 * MIB);
    let archive = Archive::open(&path).unwrap();
    push(
        &Client::new(&fake.addr, options(5)),
        &archive,
        &reference(&fake.addr, "m:1"),
        &PushOptions::default(),
    )
    .unwrap();
    fake.script(script);
    (fake, archive)
}

fn blob_gets(fake: &FakeRegistry) -> usize {
    fake.requests()
        .iter()
        .filter(|s| s.method == "GET" && s.path.contains("/blobs/"))
        .count()
}

/// Pulls `m:1` from `addr` into `out` on another thread with the given stall timeout.
fn pull_within(
    limit: Duration,
    addr: &str,
    timeout: u64,
    out: &Path,
) -> modeloci_registry::Result<modeloci_registry::PullReport> {
    let addr = addr.to_owned();
    let out = out.to_owned();
    within(limit, move || {
        pull(
            &Client::new(&addr, options(timeout)),
            &reference(&addr, "m:1"),
            &PullTarget::Archive(out),
            &PullOptions::default().with_concurrency(1),
        )
    })
}

#[test]
fn a_download_that_ignores_range_and_keeps_breaking_off_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with_archive(dir.path(), |s| {
        s.ignore_range = true;
        s.cut_after = Some(MIB);
    });
    let before = blob_gets(&fake);
    let started = Instant::now();
    let err = pull_within(
        Duration::from_secs(30),
        &fake.addr,
        5,
        &dir.path().join("out.tar"),
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15));
    let gets = blob_gets(&fake) - before;
    assert!(gets <= 12, "{gets} GETs");
    assert!(!err.is_verification_failure());
    let message = err.to_string();
    assert!(
        message.contains(&largest_blob(&archive)) && message.contains("attempts"),
        "{message}"
    );
}

/// A resumed download whose `Content-Length` is absurd is a size mismatch, not an overflow.
#[test]
fn an_absurd_content_length_on_a_resumed_download_is_a_size_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with_archive(dir.path(), |s| s.cut_after = Some(MIB));
    let size = archive
        .manifest()
        .layers
        .iter()
        .map(|d| d.size)
        .max()
        .unwrap();
    let out = dir.path().join("out.tar");
    // The first pull gives up quickly, keeping 1 MiB of the weights.
    fake.script(|s| s.ignore_range = true);
    pull_within(Duration::from_secs(30), &fake.addr, 5, &out).unwrap_err();
    fake.script(|s| {
        s.ignore_range = false;
        s.cut_after = None;
        s.blob_length = Some(u64::MAX);
    });
    let err = pull_within(Duration::from_secs(30), &fake.addr, 5, &out).unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("size mismatch: expected {size}")),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn a_download_that_stalls_gives_up_after_the_stall_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with_archive(dir.path(), |s| s.stall_after = Some(64 << 10));
    let started = Instant::now();
    let err = pull_within(
        Duration::from_secs(40),
        &fake.addr,
        1,
        &dir.path().join("out.tar"),
    )
    .unwrap_err();
    let took = started.elapsed();
    // Each attempt brings 64 KiB, so each counts as progress: the cap on attempts ends it.
    assert!(took < Duration::from_secs(25), "{took:?}");
    assert!(blob_gets(&fake) <= 2 + 12);
    assert!(!err.is_verification_failure());
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "{} sent no data for 1 s while downloading blob {}",
            fake.addr,
            largest_blob(&archive)
        )) && message.contains("gave up after"),
        "{message}"
    );
}

#[test]
fn a_registry_that_never_answers_fails_within_seconds() {
    let fake = FakeRegistry::start(Script {
        silent: true,
        ..Script::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = pull_within(
        Duration::from_secs(20),
        &fake.addr,
        1,
        &dir.path().join("out.tar"),
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(!err.is_verification_failure());
    assert!(
        err.to_string()
            .starts_with(&format!("{} sent no data for 1 s", fake.addr)),
        "{err}"
    );
    // Three tries: the first and two retries.
    assert_eq!(fake.requests().len(), 3);

    let addr = fake.addr.clone();
    let err = within(Duration::from_secs(20), move || {
        push(
            &Client::new(&addr, options(1)),
            &golden(),
            &reference(&addr, "tiny:1"),
            &PushOptions::default(),
        )
        .unwrap_err()
    });
    assert!(err.to_string().contains("sent no data for 1 s"), "{err}");
}

#[test]
fn an_honest_registry_that_breaks_off_but_honours_range_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with_archive(dir.path(), |s| s.cut_after = Some(MIB));
    let out = dir.path().join("out.tar");
    let report = pull_within(Duration::from_secs(30), &fake.addr, 5, &out).unwrap();
    assert_eq!(report.manifest_digest, *archive.manifest_digest());
    assert!(std::fs::read(&out).unwrap() == std::fs::read(archive.path()).unwrap());
}
