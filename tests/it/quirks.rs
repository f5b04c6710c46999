//! Registry quirks found at run time, not hard-coded: a proxy in front of the real registry
//! refuses PATCH bodies over a size (as GHCR does past 4 MiB) or every PATCH (as GAR does),
//! and the push still succeeds, saying how. Tags: push and pull agree on the default tag,
//! and a tag outside the grammar is refused before a single request.

use std::path::Path;

use modeloci_archive::{Archive, Compression, ModelPackager, PackOptions};
use modeloci_registry::{
    BlobOutcome, ChunkFallback, Client, ClientOptions, Error, PullOptions, PullTarget, PushOptions,
    Reference, pull, push,
};
use modeloci_spec::OciConfig;
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;

use crate::pack;

const MIB: usize = 1 << 20;

fn reference(addr: &str, repo: &str) -> Reference {
    format!("{addr}/{repo}").parse().unwrap()
}

fn client(addr: &str) -> Client {
    Client::new(addr, ClientOptions::default())
}

/// An archive with one incompressible 9 MiB weight file, stored as it is (its layer blob is
/// the file and a tar header: a little over 9 MiB).
fn big_archive(dir: &Path) -> std::path::PathBuf {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), br#"{"model_type": "test"}"#).unwrap();
    let mut data = vec![0u8; 9 * MIB];
    modeloci_tests::fixtures::Normal::new(7).fill_bf16(0.02, &mut data);
    std::fs::write(model.join("w.safetensors"), data).unwrap();
    let out = dir.join("m.tar");
    pack(&model, &out, Compression::None);
    out
}

/// Pushes through a proxy with `behaviour` in 8 MiB chunks, pulls straight from the
/// registry, and checks the archive came back byte for byte; returns the report and the
/// requests the proxy saw.
fn push_through(behaviour: Behaviour) -> (modeloci_registry::PushReport, Vec<String>) {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let archive_path = big_archive(dir.path());
    let archive = Archive::open(&archive_path).unwrap();
    let proxy = Proxy::start(&registry.addr, behaviour);
    let options = PushOptions::default().with_chunk_size(8 * MIB as u64);
    let report = push(
        &client(&proxy.addr),
        &archive,
        &reference(&proxy.addr, "quirks/m:1.0.0"),
        &options,
    )
    .expect("the push gets around the refusal");
    let pulled = dir.path().join("pulled.tar");
    pull(
        &client(&registry.addr),
        &reference(&registry.addr, "quirks/m:1.0.0"),
        &PullTarget::Archive(pulled.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&archive_path).unwrap()
    );
    (report, proxy.requests())
}

#[test]
fn chunks_refused_for_their_size_are_halved_until_they_pass() {
    let (report, requests) = push_through(Behaviour {
        max_patch: Some(2 * MIB),
        ..Behaviour::default()
    });
    assert_eq!(report.fallback, Some(ChunkFallback::SmallerChunks));
    assert_eq!(report.chunk_size, 2 * MIB as u64, "8 → 4 → 2 MiB");
    assert_eq!(report.count(BlobOutcome::UploadedInChunks), 1);
    let patches = requests.iter().filter(|r| r.starts_with("PATCH ")).count();
    // Two refused (8 and 4 MiB), then 9 MiB in five chunks of at most 2 MiB.
    assert_eq!(patches, 2 + 5, "{requests:#?}");
}

#[test]
fn a_registry_that_keeps_part_of_each_chunk_gets_chunks_of_that_size() {
    let (report, requests) = push_through(Behaviour {
        truncate_patch: Some(3 * MIB),
        ..Behaviour::default()
    });
    assert_eq!(report.fallback, Some(ChunkFallback::SmallerChunks));
    assert_eq!(report.chunk_size, 3 * MIB as u64);
    let patches = requests.iter().filter(|r| r.starts_with("PATCH ")).count();
    // 8 MiB sent, 3 kept; then 3 MiB chunks for the remaining 6 MiB and the tar header.
    assert_eq!(patches, 1 + 3, "{requests:#?}");
}

#[test]
fn a_registry_that_refuses_every_patch_gets_one_put() {
    let (report, requests) = push_through(Behaviour {
        refuse_patch: true,
        ..Behaviour::default()
    });
    assert_eq!(report.fallback, Some(ChunkFallback::SinglePut));
    assert_eq!(report.count(BlobOutcome::UploadedInChunks), 0);
    let patches = requests.iter().filter(|r| r.starts_with("PATCH ")).count();
    assert_eq!(
        patches, 1,
        "one refusal, then no more chunks: {requests:#?}"
    );
}

#[test]
fn push_and_pull_without_a_tag_meet_at_latest() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let archive_path = dir.path().join("m.tar");
    pack(&crate::tiny_model(), &archive_path, Compression::Gzip);
    let archive = Archive::open(&archive_path).unwrap();
    let bare = reference(&registry.addr, "tags/m");
    let report = push(
        &client(&registry.addr),
        &archive,
        &bare,
        &PushOptions::default(),
    )
    .unwrap();
    assert_eq!(report.tags, ["latest"]);
    let pulled = dir.path().join("pulled.tar");
    let back = pull(
        &client(&registry.addr),
        &bare,
        &PullTarget::Archive(pulled.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert_eq!(back.manifest_digest, report.manifest_digest);
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&archive_path).unwrap(),
        "the pulled archive keeps the name it was packed with"
    );
}

#[test]
fn a_tag_outside_the_grammar_is_refused_before_any_request() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let archive_path = dir.path().join("m.tar");
    pack(&crate::tiny_model(), &archive_path, Compression::Gzip);
    let archive = Archive::open(&archive_path).unwrap();
    let options = PushOptions::default().with_extra_tags(["ok", "1.0.0+cu121"]);
    let err = push(
        &client(&proxy.addr),
        &archive,
        &reference(&proxy.addr, "tags/m:1.0.0"),
        &options,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTag { tag, suggestion }
            if tag == "1.0.0+cu121" && suggestion == "1.0.0_cu121"),
        "{err:?}"
    );
    assert_eq!(proxy.requests(), Vec::<String>::new());
}

#[test]
fn a_named_archive_keeps_its_name_through_add_and_pull() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let archive_path = dir.path().join("m.tar");
    let config = OciConfig::new("m", "1.0.0+cu121", "pytorch", "transformer");
    let refused = ModelPackager::with_options(PackOptions::default().with_output(&archive_path))
        .pack(&crate::tiny_model(), &config)
        .unwrap_err();
    assert!(
        matches!(&refused, modeloci_archive::Error::VersionNotATag { suggestion, .. }
            if suggestion == "1.0.0_cu121"),
        "{refused:?}"
    );
    assert!(!archive_path.exists(), "nothing written");
    let options = PackOptions::default()
        .with_output(&archive_path)
        .with_tag("1.0.0_cu121");
    let packer = ModelPackager::with_options(options);
    packer.pack(&crate::tiny_model(), &config).unwrap();
    let extra = dir.path().join("NOTES.md");
    std::fs::write(&extra, "notes").unwrap();
    packer
        .add(
            &archive_path,
            &extra,
            &modeloci_archive::AddOptions::default(),
        )
        .unwrap();
    let archive = Archive::open(&archive_path).unwrap();
    assert_eq!(archive.reference_name(), Some("1.0.0_cu121"), "add kept it");
    let tagged = reference(&registry.addr, "named/m:1.0.0_cu121");
    push(
        &client(&registry.addr),
        &archive,
        &tagged,
        &PushOptions::default(),
    )
    .unwrap();
    let pulled = dir.path().join("pulled.tar");
    pull(
        &client(&registry.addr),
        &tagged,
        &PullTarget::Archive(pulled.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert_eq!(
        Archive::open(&pulled).unwrap().reference_name(),
        Some("1.0.0_cu121")
    );
}

#[test]
fn an_archive_named_apart_from_its_version_pulls_back_byte_for_byte() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let archive_path = dir.path().join("m.tar");
    let options = PackOptions::default()
        .with_output(&archive_path)
        .with_tag("stable");
    let report = ModelPackager::with_options(options)
        .pack(&crate::tiny_model(), &crate::config("m"))
        .unwrap();
    assert_eq!(
        report.manifest.annotations["org.opencontainers.image.ref.name"], "stable",
        "the name travels in the manifest"
    );
    let archive = Archive::open(&archive_path).unwrap();
    assert_eq!(archive.reference_name(), Some("stable"));
    let bare = reference(&registry.addr, "named/m");
    push(
        &client(&registry.addr),
        &archive,
        &bare,
        &PushOptions::default(),
    )
    .unwrap();
    let pulled = dir.path().join("pulled.tar");
    pull(
        &client(&registry.addr),
        &bare,
        &PullTarget::Archive(pulled.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&archive_path).unwrap(),
        "pulled by latest, still named stable"
    );
}
