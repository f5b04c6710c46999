//! Push, pull and auth against a real registry (Debian's docker-registry, CNCF Distribution
//! 2.8) started on 127.0.0.1, and a proxy in front of it for bearer tokens and faults.

use std::path::Path;
use std::process::Command;

use modeloci_archive::{Archive, Compression};
use modeloci_registry::{
    BlobOutcome, Client, ClientOptions, Credentials, PullOptions, PullTarget, PushOptions,
    Reference, pull, push, staging_dir,
};
use modeloci_tests::fixtures::Normal;
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::{Registry, free_port};

use crate::{fixtures, names, pack, tree};

fn reference(addr: &str, repo: &str) -> Reference {
    format!("{addr}/{repo}").parse().unwrap()
}

fn client(addr: &str) -> Client {
    Client::new(addr, ClientOptions::default())
}

/// A model with two multi-MB weight files, to exercise chunks and resumes.
fn model_with_weights(dir: &Path, seed: u64, size: usize) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), br#"{"model_type": "test"}"#).unwrap();
    for (i, name) in ["a.safetensors", "b.safetensors"].iter().enumerate() {
        let mut data = vec![0u8; size];
        Normal::new(seed + i as u64).fill_bf16(0.02, &mut data);
        std::fs::write(dir.join(name), data).unwrap();
    }
}

/// Pushes a golden archive (`fixtures/golden/<golden>`) to `repo`, tagged `latest` and
/// `1.0.0`; returns the reference pushed to.
fn push_golden(addr: &str, golden: &str, repo: &str) -> Reference {
    let r = reference(addr, repo);
    let archive = Archive::open(&fixtures().join("golden").join(golden)).unwrap();
    let options = PushOptions::default().with_extra_tags(["1.0.0"]);
    push(&client(addr), &archive, &r, &options).unwrap();
    r
}

#[test]
fn push_then_pull_gives_identical_bytes_and_files_and_a_second_push_uploads_nothing() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    model_with_weights(&model, 1, 3 << 20);
    let archive_path = dir.path().join("m.tar");
    pack(&model, &archive_path, Compression::Gzip);
    let archive = Archive::open(&archive_path).unwrap();
    let client = client(&registry.addr);
    let r = reference(&registry.addr, "models/m");

    let first = push(&client, &archive, &r, &PushOptions::default()).unwrap();
    assert_eq!(
        first.count(BlobOutcome::Uploaded),
        4,
        "config and three layers"
    );
    assert_eq!(
        first.tags,
        ["latest"],
        "the tag defaults to latest, the tag a pull without one asks for"
    );
    assert_eq!(&first.manifest_digest, archive.manifest_digest());
    let second = push(&client, &archive, &r, &PushOptions::default()).unwrap();
    assert_eq!(
        (second.count(BlobOutcome::Existed), second.bytes_uploaded()),
        (4, 0)
    );

    let pulled = dir.path().join("pulled.tar");
    let report = pull(
        &client,
        &r.with_tag("latest"),
        &PullTarget::Archive(pulled.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert_eq!(report.manifest_digest, first.manifest_digest);
    assert!(
        std::fs::read(&pulled).unwrap() == std::fs::read(&archive_path).unwrap(),
        "pulled archive differs"
    );
    let out = dir.path().join("files");
    let report = pull(
        &client,
        &r.with_tag("latest"),
        &PullTarget::Unpack(out.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert_eq!(report.config.unwrap().model_name, "tiny");
    assert_eq!(tree(&out), tree(&model));
    assert_eq!(
        names(dir.path()),
        ["files", "m.tar", "model", "pulled.tar"],
        "no staging left behind"
    );
}

#[test]
fn modelpack_archives_push_and_pull_byte_for_byte() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let golden = fixtures().join("golden/tiny-1.0.0-modelpack.tar");
    let client = client(&registry.addr);
    let r = push_golden(
        &registry.addr,
        "tiny-1.0.0-modelpack.tar",
        "models/tiny-modelpack",
    );
    let out = dir.path().join("pulled.tar");
    pull(
        &client,
        &r.with_tag("latest"),
        &PullTarget::Archive(out.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&golden).unwrap());
    let files = dir.path().join("files");
    pull(
        &client,
        &r.with_tag("latest"),
        &PullTarget::Unpack(files.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert_eq!(tree(&files), tree(&crate::tiny_model()));
}

#[test]
fn pull_unpack_fetches_only_the_included_layers() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let client = client(&registry.addr);
    let r = push_golden(&registry.addr, "tiny-1.0.0.tar", "tiny:1.0.0");
    let out = dir.path().join("out");
    let options = PullOptions::default().with_include(["*.json"]);
    let report = pull(&client, &r, &PullTarget::Unpack(out.clone()), &options).unwrap();
    let files: Vec<String> = tree(&out).into_iter().map(|(p, _, _)| p).collect();
    assert_eq!(
        files,
        [
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json"
        ]
    );
    assert_eq!(
        report.blobs.len(),
        5,
        "the config and four layers, not the weights"
    );
    let err = pull(
        &client,
        &r,
        &PullTarget::Unpack(dir.path().join("none")),
        &PullOptions::default().with_include(["*.gguf"]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no file of the model matches the include patterns *.gguf"
    );
    assert!(!dir.path().join("none").exists());
}

#[test]
fn skopeo_reads_what_we_pushed() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(&fixtures().join("golden/tiny-1.0.0-zstd.tar")).unwrap();
    let r = push_golden(&registry.addr, "tiny-1.0.0-zstd.tar", "models/tiny:zstd");
    let layout = dir.path().join("layout");
    let status = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{r}"),
            &format!("oci:{}:copied", layout.display()),
        ])
        .status()
        .expect("skopeo is installed by `cargo xtask ci`");
    assert!(status.success());
    let copied = Archive::open_with(&layout, Some("copied")).unwrap();
    assert_eq!(copied.manifest_digest(), archive.manifest_digest());
    crate::assert_verifies(&copied);
}

#[test]
fn a_new_version_uploads_only_the_changed_layer_and_the_config() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    model_with_weights(&model, 1, 1 << 20);
    let client = client(&registry.addr);
    let r = reference(&registry.addr, "models/m");
    let pack_version = |version: &str| {
        let out = dir.path().join(format!("{version}.tar"));
        let options = modeloci_archive::PackOptions::default().with_output(&out);
        let config = modeloci_spec::OciConfig::new("m", version, "pytorch", "transformer");
        modeloci_archive::ModelPackager::with_options(options)
            .pack(&model, &config)
            .unwrap();
        Archive::open(&out).unwrap()
    };
    push(&client, &pack_version("1"), &r, &PushOptions::default()).unwrap();
    std::fs::write(
        model.join("config.json"),
        br#"{"model_type": "test", "fixed": true}"#,
    )
    .unwrap();
    let v2 = pack_version("2");
    let report = push(&client, &v2, &r, &PushOptions::default()).unwrap();
    let uploaded: Vec<_> = report
        .blobs
        .iter()
        .filter(|(_, o)| *o == BlobOutcome::Uploaded)
        .map(|(d, _)| d.title().unwrap_or("config").to_owned())
        .collect();
    assert_eq!(uploaded, ["config", "config.json"]);
    assert_eq!(report.count(BlobOutcome::Existed), 2);
}

#[test]
fn pushing_to_another_repository_mounts_instead_of_uploading() {
    let registry = Registry::start(None);
    let archive = Archive::open(&fixtures().join("golden/tiny-1.0.0.tar")).unwrap();
    let client = client(&registry.addr);
    push(
        &client,
        &archive,
        &reference(&registry.addr, "team-a/tiny"),
        &PushOptions::default(),
    )
    .unwrap();
    let options = PushOptions::default().with_mount_from(["team-a/tiny"]);
    let report = push(
        &client,
        &archive,
        &reference(&registry.addr, "team-b/tiny"),
        &options,
    )
    .unwrap();
    assert_eq!(
        (report.count(BlobOutcome::Mounted), report.bytes_uploaded()),
        (8, 0)
    );

    // Without --mount-from, the blob locations remembered from the first push are used.
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("blob-locations.json");
    let remember = PushOptions::default().with_cache(Some(cache.clone()));
    push(
        &client,
        &archive,
        &reference(&registry.addr, "team-c/tiny"),
        &remember,
    )
    .unwrap();
    let report = push(
        &client,
        &archive,
        &reference(&registry.addr, "team-d/tiny"),
        &remember,
    )
    .unwrap();
    assert_eq!(report.count(BlobOutcome::Mounted), 8);
}

#[test]
fn missing_tags_and_repositories_fail_cleanly() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let client = client(&registry.addr);
    let r = reference(&registry.addr, "models/absent:1.0.0");
    let target = dir.path().join("out.tar");
    let err = pull(
        &client,
        &r,
        &PullTarget::Archive(target.clone()),
        &PullOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "manifest models/absent:1.0.0 not found in {}",
            registry.addr
        )
    );
    push_golden(&registry.addr, "tiny-1.0.0.tar", "models/tiny");
    let err = pull(
        &client,
        &reference(&registry.addr, "models/tiny:2.0.0"),
        &PullTarget::Archive(target.clone()),
        &PullOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("manifest models/tiny:2.0.0 not found in {}", registry.addr)
    );
    assert_eq!(names(dir.path()), Vec::<String>::new());

    let nobody = format!("127.0.0.1:{}", free_port());
    let quick = Client::new(&nobody, ClientOptions::default().with_retries(0));
    let err = pull(
        &quick,
        &reference(&nobody, "x:1"),
        &PullTarget::Archive(target),
        &PullOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach {nobody}: ")),
        "{err}"
    );
    assert!(
        matches!(err, modeloci_registry::Error::Unreachable { .. }),
        "{err:?}"
    );
}

#[test]
fn basic_auth_refuses_anonymous_pushes_and_accepts_credentials() {
    let registry = Registry::start(Some(("alice", "wonderland")));
    let archive = Archive::open(&fixtures().join("golden/tiny-1.0.0.tar")).unwrap();
    let r = reference(&registry.addr, "private/tiny");
    let err = push(
        &client(&registry.addr),
        &archive,
        &r,
        &PushOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} refused access (401, without credentials)",
            registry.addr
        )
    );
    assert!(
        matches!(
            err,
            modeloci_registry::Error::Unauthorized {
                with_credentials: false,
                ..
            }
        ),
        "{err:?}"
    );
    let wrong = Client::new(
        &registry.addr,
        ClientOptions::default().with_credentials(Some(Credentials::new("alice", "nope"))),
    );
    assert_eq!(
        wrong.ping().unwrap_err().to_string(),
        format!("{} refused access (401, with credentials)", registry.addr)
    );
    let right = Client::new(
        &registry.addr,
        ClientOptions::default().with_credentials(Some(Credentials::new("alice", "wonderland"))),
    );
    right.ping().unwrap();
    push(&right, &archive, &r, &PushOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    pull(
        &right,
        &r.with_tag("latest"),
        &PullTarget::Archive(dir.path().join("a.tar")),
        &PullOptions::default(),
    )
    .unwrap();
}

#[test]
fn the_bearer_token_flow() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(
        &registry.addr,
        Behaviour {
            bearer: Some(Some(("bob".into(), "builder".into()))),
            ..Behaviour::default()
        },
    );
    let archive = Archive::open(&fixtures().join("golden/tiny-1.0.0.tar")).unwrap();
    let r = reference(&proxy.addr, "models/tiny");
    let err = push(&client(&proxy.addr), &archive, &r, &PushOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} refused access (401, without credentials)", proxy.addr)
    );
    let authed = Client::new(
        &proxy.addr,
        ClientOptions::default().with_credentials(Some(Credentials::new("bob", "builder"))),
    );
    push(&authed, &archive, &r, &PushOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.tar");
    pull(
        &authed,
        &r.with_tag("latest"),
        &PullTarget::Archive(out.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(archive.path()).unwrap());
    let requests = proxy.requests();
    assert!(
        requests.iter().any(|r| r.starts_with(
            "GET /token?service=modeloci-test&scope=repository:models/tiny:pull%2Cpush"
        )),
        "{requests:?}"
    );

    // An anonymous token service works without credentials.
    let open = Proxy::start(
        &registry.addr,
        Behaviour {
            bearer: Some(None),
            ..Behaviour::default()
        },
    );
    pull(
        &client(&open.addr),
        &r.with_tag("latest").with_registry(&open.addr),
        &PullTarget::Archive(dir.path().join("b.tar")),
        &PullOptions::default(),
    )
    .unwrap();
}

trait WithRegistry {
    fn with_registry(&self, addr: &str) -> Reference;
}

impl WithRegistry for Reference {
    fn with_registry(&self, addr: &str) -> Reference {
        Reference {
            registry: addr.to_owned(),
            ..self.clone()
        }
    }
}

#[test]
fn chunked_uploads_fall_back_to_one_put_and_retries_ride_out_503s() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    model_with_weights(&model, 3, 3 << 20);
    let archive_path = dir.path().join("m.tar");
    pack(&model, &archive_path, Compression::None);
    let archive = Archive::open(&archive_path).unwrap();
    let chunked = PushOptions::default().with_chunk_size(1 << 20);

    let report = push(
        &client(&registry.addr),
        &archive,
        &reference(&registry.addr, "chunks/m"),
        &chunked,
    )
    .unwrap();
    assert_eq!(
        report.count(BlobOutcome::UploadedInChunks),
        2,
        "the two weight layers"
    );

    let refusing = Proxy::start(
        &registry.addr,
        Behaviour {
            refuse_patch: true,
            ..Behaviour::default()
        },
    );
    let report = push(
        &client(&refusing.addr),
        &archive,
        &reference(&refusing.addr, "fallback/m"),
        &chunked,
    )
    .unwrap();
    assert_eq!(report.count(BlobOutcome::UploadedInChunks), 0);
    assert_eq!(report.count(BlobOutcome::Uploaded), 4);
    assert!(
        refusing.requests().iter().any(|r| r.starts_with("PATCH ")),
        "chunks were tried first"
    );

    let flaky = Proxy::start(
        &registry.addr,
        Behaviour {
            fail_uploads: 3,
            ..Behaviour::default()
        },
    );
    let report = push(
        &client(&flaky.addr),
        &archive,
        &reference(&flaky.addr, "flaky/m"),
        &PushOptions::default(),
    )
    .unwrap();
    assert_eq!(report.count(BlobOutcome::Uploaded), 4);

    for repo in ["chunks/m", "fallback/m", "flaky/m"] {
        let out = dir.path().join(format!("{}.tar", repo.replace('/', "-")));
        pull(
            &client(&registry.addr),
            &reference(&registry.addr, repo).with_tag("latest"),
            &PullTarget::Archive(out.clone()),
            &PullOptions::default(),
        )
        .unwrap();
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&archive_path).unwrap(),
            "{repo}"
        );
    }
}

#[test]
fn an_interrupted_pull_resumes_with_range_and_verifies() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    model_with_weights(&model, 5, 4 << 20);
    let archive_path = dir.path().join("m.tar");
    pack(&model, &archive_path, Compression::None);
    let archive = Archive::open(&archive_path).unwrap();
    push(
        &client(&registry.addr),
        &archive,
        &reference(&registry.addr, "models/m:1.0.0"),
        &PushOptions::default(),
    )
    .unwrap();

    // Every download breaks off after 1 MiB and the registry then fails every Range request:
    // the pull gives up, keeping what arrived.
    let breaking = Proxy::start(
        &registry.addr,
        Behaviour {
            cut_downloads: Some((1 << 20, usize::MAX)),
            refuse_ranges: true,
            ..Behaviour::default()
        },
    );
    let target = dir.path().join("pulled.tar");
    let r = reference(&breaking.addr, "models/m:1.0.0");
    let err = pull(
        &client(&breaking.addr),
        &r,
        &PullTarget::Archive(target.clone()),
        &PullOptions::default().with_concurrency(1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("answered 503"), "{err}");
    assert!(!target.exists());
    let staged = staging_dir(&target);
    assert!(
        staged.is_dir(),
        "the partial download is kept for the next run"
    );

    // The next run checks what it has and asks for the rest.
    let report = pull(
        &client(&registry.addr),
        &r.with_registry(&registry.addr),
        &PullTarget::Archive(target.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert!(
        report.bytes_resumed >= 1 << 20,
        "resumed {} bytes",
        report.bytes_resumed
    );
    assert!(std::fs::read(&target).unwrap() == std::fs::read(&archive_path).unwrap());
    assert!(!staged.exists());

    // Within one run, a connection that breaks once is resumed with a Range request.
    let once = Proxy::start(
        &registry.addr,
        Behaviour {
            cut_downloads: Some((1 << 20, 1)),
            ..Behaviour::default()
        },
    );
    let target = dir.path().join("again.tar");
    pull(
        &client(&once.addr),
        &r.with_registry(&once.addr),
        &PullTarget::Archive(target.clone()),
        &PullOptions::default().with_concurrency(1),
    )
    .unwrap();
    assert!(std::fs::read(&target).unwrap() == std::fs::read(&archive_path).unwrap());
    let gets: Vec<String> = once
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/blobs/"))
        .collect();
    assert_eq!(
        gets.len(),
        5,
        "three layers and the config, one of them twice: {gets:?}"
    );
}

#[test]
fn a_registry_that_lies_is_caught() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(&fixtures().join("golden/tiny-1.0.0.tar")).unwrap();
    push(
        &client(&registry.addr),
        &archive,
        &reference(&registry.addr, "models/tiny:1.0.0"),
        &PushOptions::default(),
    )
    .unwrap();

    let padding = Proxy::start(
        &registry.addr,
        Behaviour {
            pad_blobs: 7,
            ..Behaviour::default()
        },
    );
    let target = dir.path().join("out.tar");
    let r = reference(&padding.addr, "models/tiny:1.0.0");
    let err = pull(
        &client(&padding.addr),
        &r,
        &PullTarget::Archive(target.clone()),
        &PullOptions::default(),
    )
    .unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    assert!(
        err.to_string().contains(": size mismatch: expected "),
        "{err}"
    );
    assert!(!target.exists());

    let huge = Proxy::start(
        &registry.addr,
        Behaviour {
            manifest_override: Some(vec![b' '; 5 << 20]),
            ..Behaviour::default()
        },
    );
    let err = pull(
        &client(&huge.addr),
        &r.with_registry(&huge.addr),
        &PullTarget::Archive(target.clone()),
        &PullOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "manifest models/tiny:1.0.0 from {} is 5242880 bytes, over the 4194304-byte limit",
            huge.addr
        )
    );

    let other = br#"{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let swapped = Proxy::start(
        &registry.addr,
        Behaviour {
            manifest_override: Some(other.to_vec()),
            ..Behaviour::default()
        },
    );
    let by_digest: Reference =
        format!("{}/models/tiny@{}", swapped.addr, archive.manifest_digest())
            .parse()
            .unwrap();
    let err = pull(
        &client(&swapped.addr),
        &by_digest,
        &PullTarget::Archive(target.clone()),
        &PullOptions::default(),
    )
    .unwrap_err();
    assert!(err.is_verification_failure());
    assert!(
        err.to_string().starts_with(&format!(
            "manifest {} from {}: digest mismatch",
            archive.manifest_digest(),
            swapped.addr
        )),
        "{err}"
    );
    assert!(!target.exists());
}
