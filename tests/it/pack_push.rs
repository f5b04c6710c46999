//! Packing straight into a registry (`pack_and_push`) against the real registry: the
//! artifact is the one pack then push gives, byte for byte, whatever the profile and codec;
//! nothing is written beside the model; a registry that refuses PATCH gets spooled blobs;
//! a failure part way leaves no tag; each blob's bytes go up once; and the digest cache lets
//! a re-push read only the files that changed.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use modeloci_archive::{
    Archive, Compression, Format, ModelPackager, PackOptions, Progress, ProgressHandle,
};
use modeloci_registry::{
    BlobOutcome, ChunkFallback, Client, ClientOptions, PackPushOptions, PackPushReport,
    PullOptions, PullTarget, PushOptions, Reference, TagsOptions, list_tags, pack_and_push, pull,
    push,
};
use modeloci_spec::OciConfig;
use modeloci_tests::fake_registry::{FakeRegistry, Script};
use modeloci_tests::fixtures::Normal;
use modeloci_tests::proxy::{Behaviour, Gate, Proxy};
use modeloci_tests::registry::Registry;

const MIB: usize = 1 << 20;

fn reference(addr: &str, repo: &str) -> Reference {
    format!("{addr}/{repo}").parse().unwrap()
}

fn client(addr: &str) -> Client {
    Client::new(addr, ClientOptions::default())
}

/// A model with a 3 MiB bf16 weight file (several 1 MiB chunks, compressed or not), a
/// config, a tokenizer and a copy of the config under another name (one blob, two layers
/// in ModelPack's raw form only when the names match: here they differ, so two blobs).
fn model(dir: &Path, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), br#"{"model_type": "test"}"#).unwrap();
    std::fs::write(dir.join("tokenizer.json"), vec![b'{'; 70_000]).unwrap();
    let mut data = vec![0u8; 3 * MIB];
    Normal::new(seed).fill_bf16(0.02, &mut data);
    std::fs::write(dir.join("model.safetensors"), data).unwrap();
}

fn config(format: Format) -> OciConfig {
    match format {
        Format::ModelPack => modeloci_tests::fixtures::modelpack_config(),
        _ => OciConfig::new("m", "1.0.0", "pytorch", "transformer"),
    }
}

fn options(format: Format, compression: Compression) -> PackOptions {
    PackOptions::default()
        .with_format(format)
        .with_compression(compression)
        .with_raw_weights(compression == Compression::None)
}

/// 1 MiB chunks: a 3 MiB blob goes up in PATCHes.
fn chunked() -> PackPushOptions {
    PackPushOptions::default().with_chunk_size(MIB as u64)
}

/// Pulls `r` from `addr` as an archive into `dir`; its bytes.
fn pulled(addr: &str, r: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("pulled-{}.tar", r.replace(['/', ':'], "-")));
    pull(
        &client(addr),
        &reference(addr, r),
        &PullTarget::Archive(out.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    std::fs::read(out).unwrap()
}

/// Bytes sent in upload bodies (POST, PATCH, PUT to `/blobs/uploads/`), by the proxy's count.
fn upload_bytes(proxy: &Proxy) -> usize {
    proxy
        .bodies()
        .iter()
        .filter(|(r, _)| r.contains("/blobs/uploads/"))
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn pack_push_stores_the_artifact_pack_then_push_stores_in_both_profiles_and_codecs() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("work/model");
    model(&model_dir, 1);
    let cases = [
        (Format::Modeloci, Compression::Gzip),
        (Format::Modeloci, Compression::Zstd),
        (Format::ModelPack, Compression::Gzip),
        (Format::ModelPack, Compression::Zstd),
        (Format::ModelPack, Compression::None),
    ];
    for (i, (format, compression)) in cases.into_iter().enumerate() {
        let archive_path = dir.path().join(format!("a{i}.tar"));
        let packed =
            ModelPackager::with_options(options(format, compression).with_output(&archive_path))
                .pack(&model_dir, &config(format))
                .unwrap();
        let archive = Archive::open(&archive_path).unwrap();
        let classic = format!("classic/m{i}:1.0.0");
        push(
            &client(&registry.addr),
            &archive,
            &reference(&registry.addr, &classic),
            &PushOptions::default(),
        )
        .unwrap();

        let streamed = format!("streamed/m{i}:1.0.0");
        let before = upload_bytes(&proxy);
        let report = pack_and_push(
            &client(&proxy.addr),
            &ModelPackager::with_options(options(format, compression)),
            &model_dir,
            &config(format),
            &reference(&proxy.addr, &streamed),
            &chunked(),
        )
        .unwrap();
        assert_eq!(
            report.manifest_digest, packed.manifest_digest,
            "{format:?} {compression:?}"
        );
        assert_eq!(report.artifact.manifest_bytes, archive.manifest_bytes());
        assert_eq!(report.tags, ["1.0.0"]);
        // Every blob's bytes went up once: the config and the distinct layer blobs.
        let mut sizes: Vec<_> = report
            .blobs
            .iter()
            .map(|(d, _)| (d.digest.clone(), d.size))
            .collect();
        sizes.sort();
        sizes.dedup();
        let expected: u64 = sizes.iter().map(|(_, s)| s).sum();
        assert_eq!(
            (upload_bytes(&proxy) - before) as u64,
            expected,
            "{format:?} {compression:?}"
        );
        assert!(
            report.count(BlobOutcome::UploadedInChunks) >= 1,
            "{:?}",
            report.blobs
        );
        // Pulled, each is the packed archive byte for byte.
        let bytes = std::fs::read(&archive_path).unwrap();
        assert_eq!(pulled(&registry.addr, &streamed, dir.path()), bytes);
        assert_eq!(pulled(&registry.addr, &classic, dir.path()), bytes);
    }
    // Nothing was written beside the model.
    modeloci_tests::only_entry(&dir.path().join("work"), "model");
}

#[test]
fn a_registry_that_refuses_patch_gets_each_large_blob_spooled_then_one_put() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(
        &registry.addr,
        Behaviour {
            refuse_patch: true,
            ..Behaviour::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    model(&model_dir, 2);
    // Another weight, so that the refusal is remembered for the second large blob.
    let mut data = vec![0u8; 2 * MIB];
    Normal::new(9).fill_bf16(0.02, &mut data);
    std::fs::write(model_dir.join("more.safetensors"), data).unwrap();
    let opts = options(Format::Modeloci, Compression::None);
    let archive_path = dir.path().join("m.tar");
    let packed = ModelPackager::with_options(opts.clone().with_output(&archive_path))
        .pack(&model_dir, &config(Format::Modeloci))
        .unwrap();
    let report = pack_and_push(
        &client(&proxy.addr),
        &ModelPackager::with_options(opts),
        &model_dir,
        &config(Format::Modeloci),
        &reference(&proxy.addr, "quirks/spooled:1"),
        &chunked(),
    )
    .unwrap();
    assert_eq!(report.fallback, Some(ChunkFallback::SinglePut));
    assert_eq!(report.manifest_digest, packed.manifest_digest);
    assert_eq!(report.count(BlobOutcome::UploadedInChunks), 0);
    let requests = proxy.requests();
    let patches = requests.iter().filter(|r| r.starts_with("PATCH ")).count();
    assert_eq!(
        patches, 1,
        "one refusal, then no more chunks: {requests:#?}"
    );
    assert_eq!(
        pulled(&registry.addr, "quirks/spooled:1", dir.path()),
        std::fs::read(&archive_path).unwrap()
    );
}

#[test]
fn a_registry_failing_part_way_leaves_no_tag() {
    let fake = FakeRegistry::start(Script {
        fail_patches: true,
        ..Script::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    model(&model_dir, 3);
    let client = Client::new(
        &fake.addr,
        ClientOptions::default()
            .with_retries(1)
            .with_backoff(std::time::Duration::from_millis(10)),
    );
    let err = pack_and_push(
        &client,
        &ModelPackager::with_options(options(Format::Modeloci, Compression::None)),
        &model_dir,
        &config(Format::Modeloci),
        &reference(&fake.addr, "broken/m:1"),
        &chunked(),
    )
    .unwrap_err();
    assert!(
        matches!(err, modeloci_registry::Error::Status { status: 500, .. }),
        "the registry's own error comes back: {err:?}"
    );
    let requests = fake.requests();
    // Small blobs went up before the large one failed; no manifest was stored.
    assert!(
        requests
            .iter()
            .any(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/")),
        "{requests:#?}"
    );
    assert!(
        !requests.iter().any(|r| r.path.contains("/manifests/")),
        "{requests:#?}"
    );
    // The session of the failed blob was cancelled.
    assert!(
        requests.iter().any(|r| r.method == "DELETE"),
        "{requests:#?}"
    );
    modeloci_tests::only_entry(dir.path(), "model");
}

/// Packs and pushes `model_dir` through `proxy` with a digest cache in `cache`.
fn cached_push(proxy: &Proxy, model_dir: &Path, cache: &Path, repo: &str) -> PackPushReport {
    let opts =
        options(Format::Modeloci, Compression::Gzip).with_digest_cache(Some(cache.to_owned()));
    pack_and_push(
        &client(&proxy.addr),
        &ModelPackager::with_options(opts),
        model_dir,
        &config(Format::Modeloci),
        &reference(&proxy.addr, repo),
        &chunked(),
    )
    .unwrap()
}

#[test]
fn a_re_push_after_one_small_change_reads_and_uploads_only_that_file() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    model(&model_dir, 4);
    let cache = dir.path().join("cache/digests.json");
    // The change time cannot be set back; wait until the files' are old enough.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let first = cached_push(&proxy, &model_dir, &cache, "cached/m:1");
    assert_eq!(first.artifact.reused, 0);
    assert_eq!(first.artifact.bytes_read, first.artifact.input_bytes);

    let changed_config = br#"{"model_type": "changed"}"#;
    std::fs::write(model_dir.join("config.json"), changed_config).unwrap();
    let log_start = proxy.bodies().len();
    let second = cached_push(&proxy, &model_dir, &cache, "cached/m:2");
    assert_eq!(
        second.artifact.reused, 2,
        "the weight and the tokenizer were remembered"
    );
    assert_eq!(
        second.artifact.bytes_read,
        changed_config.len() as u64,
        "only the changed config.json was read"
    );
    // Uploaded: that file's layer and the manifest, nothing else (the config blob holds the
    // user's input only, unchanged, so the registry had it).
    let sent: Vec<_> = proxy.bodies()[log_start..]
        .iter()
        .filter(|(r, n)| *n > 0 && (r.starts_with("PUT ") || r.starts_with("PATCH ")))
        .cloned()
        .collect();
    let changed = second
        .artifact
        .layers
        .iter()
        .find(|l| l.title() == Some("config.json"))
        .unwrap();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(sent[0].0.contains(changed.digest.as_str()), "{sent:#?}");
    assert_eq!(sent[0].1 as u64, changed.size);
    assert!(sent[1].0.ends_with("/manifests/2"), "{sent:#?}");
    assert_eq!(second.blobs[0].1, BlobOutcome::Existed, "the config blob");
    assert_eq!(second.count(BlobOutcome::Existed), 3);
    // The artifact is the one a fresh pack gives.
    let fresh = dir.path().join("fresh.tar");
    let packed = ModelPackager::with_options(
        options(Format::Modeloci, Compression::Gzip).with_output(&fresh),
    )
    .pack(&model_dir, &config(Format::Modeloci))
    .unwrap();
    assert_eq!(second.manifest_digest, packed.manifest_digest);
    // The cache is one file and its lock, in its own directory, and names no path outside
    // the model.
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".digests.json.lock", "digests.json"]);
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(!text.contains(&*dir.path().to_string_lossy()), "{text}");
}

/// Packs `model_dir` into `out` with a digest cache in `cache`.
fn cached_pack(model_dir: &Path, out: &Path, cache: &Path) -> modeloci_archive::PackReport {
    let opts = options(Format::Modeloci, Compression::Gzip)
        .with_output(out)
        .with_digest_cache(Some(cache.to_owned()));
    ModelPackager::with_options(opts)
        .pack(model_dir, &config(Format::Modeloci))
        .unwrap()
}

/// A model whose files are old enough for the cache, packed once into `out` with the cache
/// at `cache`; the bytes of a pack without any cache.
fn packed_once(dir: &Path, out: &Path, cache: &Path) -> Vec<u8> {
    let model_dir = dir.join("model");
    model(&model_dir, 5);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let first = cached_pack(&model_dir, out, cache);
    assert_eq!(first.reused, 0);
    let fresh = dir.join("fresh.tar");
    ModelPackager::with_options(options(Format::Modeloci, Compression::Gzip).with_output(&fresh))
        .pack(&model_dir, &config(Format::Modeloci))
        .unwrap();
    std::fs::read(fresh).unwrap()
}

#[test]
fn a_re_pack_to_the_same_archive_copies_the_unchanged_blobs_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let (out, cache) = (
        dir.path().join("m.tar"),
        dir.path().join("cache/digests.json"),
    );
    let fresh = packed_once(dir.path(), &out, &cache);
    let again = cached_pack(&dir.path().join("model"), &out, &cache);
    assert_eq!((again.reused, again.bytes_read), (3, 0), "nothing read");
    assert_eq!(std::fs::read(&out).unwrap(), fresh);

    // A corrupt blob in the archive being replaced is found by the verifying copy, and the
    // file is read instead.
    let mut bytes = std::fs::read(&out).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&out, &bytes).unwrap();
    let repaired = cached_pack(&dir.path().join("model"), &out, &cache);
    assert_eq!(repaired.reused, 2, "the weight's blob was corrupt");
    assert_eq!(repaired.bytes_read, 3 * MIB as u64);
    assert_eq!(std::fs::read(&out).unwrap(), fresh);
}

#[test]
fn a_corrupt_cache_file_costs_reading_never_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let (out, cache) = (
        dir.path().join("m.tar"),
        dir.path().join("cache/digests.json"),
    );
    let fresh = packed_once(dir.path(), &out, &cache);
    let good = std::fs::read(&cache).unwrap();
    // One hex digit of the first digest in the file changed, its entry's checksum not.
    let mut flipped = good.clone();
    let at = String::from_utf8_lossy(&good).find("sha256:").unwrap() + 7;
    flipped[at] = if flipped[at] == b'0' { b'1' } else { b'0' };
    let damaged = [
        (b"\x00\xffnot json".to_vec(), 0),
        (good[..good.len() / 2].to_vec(), 0),
        (flipped, 2),
    ];
    for (bytes, reused) in damaged {
        std::fs::write(&cache, &bytes).unwrap();
        let report = cached_pack(&dir.path().join("model"), &out, &cache);
        assert_eq!(report.reused, reused);
        assert!(report.bytes_read > 0);
        assert_eq!(std::fs::read(&out).unwrap(), fresh);
    }
    // Rewritten whole once read: the next pack reads nothing again.
    let report = cached_pack(&dir.path().join("model"), &out, &cache);
    assert_eq!((report.reused, report.bytes_read), (3, 0));
}

/// The cache at `path` with every layer digest replaced by another blob's digest that no
/// one has, each entry's checksum made again: a well-formed cache that remembers wrongly.
fn lying_cache(path: &Path) {
    let mut root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let entries = root["entries"].as_object_mut().unwrap();
    for (i, (key, entry)) in entries.iter_mut().enumerate() {
        let wrong = modeloci_digest::Hasher::digest_bytes(format!("nobody has {i}").as_bytes());
        entry["layer"]["digest"] = wrong.digest.to_string().into();
        let text = format!("{key}\0{}\0{}", entry["layer"], entry["diffId"]);
        let check = modeloci_digest::Hasher::digest_bytes(text.as_bytes()).digest;
        entry["check"] = check.hex().into();
    }
    std::fs::write(path, serde_json::to_vec(&root).unwrap()).unwrap();
}

#[test]
fn a_cache_of_wrong_digests_costs_reading_never_the_artifact() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let (out, cache) = (
        dir.path().join("m.tar"),
        dir.path().join("cache/digests.json"),
    );
    let fresh = packed_once(dir.path(), &out, &cache);
    let model_dir = dir.path().join("model");
    lying_cache(&cache);
    // An archive: the wrong layers are none of the old manifest's, so the files are read.
    let report = cached_pack(&model_dir, &out, &cache);
    assert_eq!(report.reused, 0);
    assert_eq!(std::fs::read(&out).unwrap(), fresh);
    // A registry: it has none of the wrong digests (HEAD), so the files are read.
    lying_cache(&cache);
    let pushed = cached_push(&proxy, &model_dir, &cache, "lying/m:1");
    assert_eq!(pushed.artifact.reused, 0);
    assert_eq!(pushed.artifact.bytes_read, pushed.artifact.input_bytes);
    assert_eq!(pulled(&registry.addr, "lying/m:1", dir.path()), fresh);
}

/// Counts the bytes pack reads and, once they pass `threshold`, notes it at the gate and
/// opens it.
struct Watch {
    gate: Gate,
    read: AtomicU64,
    threshold: u64,
    passed: AtomicBool,
}

impl Progress for Watch {
    fn start(&self, _what: &str, _total: u64) {}

    fn advance(&self, bytes: u64) {
        let read = self.read.fetch_add(bytes, Ordering::SeqCst) + bytes;
        if read > self.threshold && !self.passed.swap(true, Ordering::SeqCst) {
            // Pack may get here before the first PATCH reaches the proxy: it waits for it
            // (a serial pack, whose PATCH was answered already, does not).
            let held = || {
                self.gate
                    .events
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|e| e == "PATCH held")
            };
            for _ in 0..6000 {
                if held() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            self.gate.note("the next chunk was produced");
            self.gate.open();
        }
    }

    fn finish(&self) {}
}

#[test]
fn pack_makes_the_next_chunk_while_a_patch_is_outstanding() {
    let registry = Registry::start(None);
    let gate = Gate::new("PATCH");
    let proxy = Proxy::start(
        &registry.addr,
        Behaviour {
            hold: Some(gate.clone()),
            ..Behaviour::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    model(&model_dir, 4);
    // The weight is read (raw) in blocks of 1 MiB, each written before the next is read:
    // past 2 MiB (and the small files, under 100 KiB), the weight's second chunk of 1 MiB
    // has gone to the sink. The first chunk's PATCH answer is held until then.
    let watch = Watch {
        gate: gate.clone(),
        read: AtomicU64::new(0),
        threshold: 2 * MIB as u64 + 200 * 1024,
        passed: AtomicBool::new(false),
    };
    let opts = options(Format::Modeloci, Compression::None)
        .with_progress(Some(ProgressHandle::new(watch)));
    let report = pack_and_push(
        &client(&proxy.addr),
        &ModelPackager::with_options(opts.clone()),
        &model_dir,
        &config(Format::Modeloci),
        &reference(&proxy.addr, "overlap/m:1"),
        &chunked(),
    )
    .unwrap();
    let events = gate.events.lock().unwrap().clone();
    assert_eq!(
        events[..3],
        [
            "PATCH held",
            "the next chunk was produced",
            "PATCH answered"
        ],
        "{events:#?}"
    );
    assert_eq!(report.count(BlobOutcome::UploadedInChunks), 1);
    let archive_path = dir.path().join("m.tar");
    let packed = ModelPackager::with_options(opts.with_progress(None).with_output(&archive_path))
        .pack(&model_dir, &config(Format::Modeloci))
        .unwrap();
    assert_eq!(report.manifest_digest, packed.manifest_digest);
    assert_eq!(
        pulled(&registry.addr, "overlap/m:1", dir.path()),
        std::fs::read(&archive_path).unwrap()
    );
}

#[test]
fn an_upload_failing_mid_blob_comes_back_as_the_registrys_error_with_no_tag() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(
        &registry.addr,
        Behaviour {
            fail_patches_after: Some(1),
            ..Behaviour::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    model(&model_dir, 5);
    let client = Client::new(
        &proxy.addr,
        ClientOptions::default()
            .with_retries(1)
            .with_backoff(std::time::Duration::from_millis(10)),
    );
    let err = pack_and_push(
        &client,
        &ModelPackager::with_options(options(Format::Modeloci, Compression::None)),
        &model_dir,
        &config(Format::Modeloci),
        &reference(&proxy.addr, "midway/m:1"),
        &chunked(),
    )
    .unwrap_err();
    assert!(
        matches!(err, modeloci_registry::Error::Status { status: 500, .. }),
        "the registry's own error comes back: {err:?}"
    );
    assert!(err.to_string().contains("storage is full"), "{err}");
    let requests = proxy.requests();
    let patches = requests.iter().filter(|r| r.starts_with("PATCH ")).count();
    assert!(patches >= 2, "one chunk went up before: {requests:#?}");
    assert!(
        !requests.iter().any(|r| r.contains("/manifests/")),
        "{requests:#?}"
    );
    assert!(
        requests.iter().any(|r| r.starts_with("DELETE ")),
        "the session was cancelled: {requests:#?}"
    );
    // The registry has no such tag.
    let direct = Client::new(&registry.addr, ClientOptions::default());
    match list_tags(&direct, "midway/m", &TagsOptions::default()) {
        Ok(tags) => assert!(tags.is_empty(), "{tags:?}"),
        Err(e) => assert!(
            matches!(e, modeloci_registry::Error::NotFound { .. }),
            "{e:?}"
        ),
    }
}

/// Notes at the gate when pack reads its second file's bytes, once the gate holds a PUT, and
/// opens it.
struct SecondFile {
    gate: Gate,
    files: AtomicU64,
    noted: AtomicBool,
}

impl Progress for SecondFile {
    fn start(&self, _what: &str, _total: u64) {}

    fn advance(&self, _bytes: u64) {
        if self.files.load(Ordering::SeqCst) < 2 || self.noted.swap(true, Ordering::SeqCst) {
            return;
        }
        // Pack may get here before the first layer's PUT reaches the proxy: it waits for it
        // (a pack that waits for each upload, whose PUT was answered already, does not).
        let held = || {
            self.gate
                .events
                .lock()
                .unwrap()
                .iter()
                .any(|e| e == "PUT held")
        };
        for _ in 0..6000 {
            if held() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.gate.note("the next layer was read");
        self.gate.open();
    }

    fn file_started(&self, _name: &str, _size: u64) {
        self.files.fetch_add(1, Ordering::SeqCst);
    }

    fn finish(&self) {}
}

#[test]
fn the_next_layer_is_packed_while_the_last_ones_upload_is_outstanding() {
    let registry = Registry::start(None);
    let gate = Gate::new("PUT");
    let proxy = Proxy::start(
        &registry.addr,
        Behaviour {
            hold: Some(gate.clone()),
            ..Behaviour::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    model(&model_dir, 6);
    let watch = SecondFile {
        gate: gate.clone(),
        files: AtomicU64::new(0),
        noted: AtomicBool::new(false),
    };
    let opts = options(Format::Modeloci, Compression::Gzip)
        .with_progress(Some(ProgressHandle::new(watch)));
    let report = pack_and_push(
        &client(&proxy.addr),
        &ModelPackager::with_options(opts.clone()),
        &model_dir,
        &config(Format::Modeloci),
        &reference(&proxy.addr, "lanes/m:1"),
        &chunked().with_concurrency(2),
    )
    .unwrap();
    let events = gate.events.lock().unwrap().clone();
    assert_eq!(
        events[..3],
        ["PUT held", "the next layer was read", "PUT answered"],
        "{events:#?}"
    );
    // Every blob went up in one PUT each, all before the manifest.
    let requests = proxy.requests();
    let is_blob_put = |r: &String| r.starts_with("PUT ") && r.contains("/blobs/uploads/");
    let manifest = requests
        .iter()
        .position(|r| r.starts_with("PUT ") && r.contains("/manifests/"))
        .unwrap();
    assert!(
        requests.iter().rposition(is_blob_put).unwrap() < manifest,
        "{requests:#?}"
    );
    let held = events.iter().filter(|e| *e == "PUT held").count();
    assert_eq!(held, requests.iter().filter(|r| is_blob_put(r)).count());
    assert_eq!(
        held,
        report.blobs.len() - report.count(BlobOutcome::Existed)
    );
    let archive_path = dir.path().join("m.tar");
    let packed = ModelPackager::with_options(opts.with_progress(None).with_output(&archive_path))
        .pack(&model_dir, &config(Format::Modeloci))
        .unwrap();
    assert_eq!(report.manifest_digest, packed.manifest_digest);
    assert_eq!(
        pulled(&registry.addr, "lanes/m:1", dir.path()),
        std::fs::read(&archive_path).unwrap()
    );
}
