//! `pull --unpack` straight into files: each layer's blob read once from its GET into the
//! unpacker, no copy of it staged; a layer that does not match its digest, or files the
//! unpack check refuses, leave nothing; a GET that breaks off resumes where it stopped; a
//! rerun after a failure fetches only the layers not kept, and re-hashes those kept.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use modeloci_archive::{Archive, Compression, Progress, ProgressHandle};
use modeloci_digest::Hasher;
use modeloci_registry::{
    Client, ClientOptions, PullOptions, PullTarget, PushOptions, Reference, pull, push, staging_dir,
};
use modeloci_spec::Descriptor;
use modeloci_tests::fake_registry::{FakeRegistry, Script};
use modeloci_tests::fixtures::Normal;
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;

use crate::{pack, tree};

const MIB: usize = 1 << 20;

fn reference(addr: &str, repo: &str) -> Reference {
    format!("{addr}/{repo}").parse().unwrap()
}

fn client(addr: &str) -> Client {
    Client::new(
        addr,
        ClientOptions::default()
            .with_retries(2)
            .with_backoff(Duration::from_millis(20))
            .with_timeout(Duration::from_secs(5)),
    )
}

/// A model with two weight files of `size` bytes, packed with `compression`.
fn archive(dir: &Path, size: usize, compression: Compression) -> Archive {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), br#"{"model_type": "test"}"#).unwrap();
    for (i, name) in ["a.safetensors", "b.safetensors"].iter().enumerate() {
        let mut data = vec![0u8; size];
        Normal::new(70 + i as u64).fill_bf16(0.02, &mut data);
        std::fs::write(model.join(name), data).unwrap();
    }
    let out = dir.join("m.tar");
    pack(&model, &out, compression);
    Archive::open(&out).unwrap()
}

/// Looks into the pull's staging directory at every progress step, and keeps the most it
/// ever held and the names of its blobs.
struct Watcher {
    staging: std::path::PathBuf,
    seen: Mutex<(u64, Vec<String>)>,
}

impl Watcher {
    fn look(&self) {
        let blobs = self.staging.join("blobs/sha256");
        let mut held = 0;
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&blobs).into_iter().flatten().flatten() {
            held += entry.metadata().map_or(0, |m| m.len());
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        let mut seen = self.seen.lock().unwrap();
        seen.0 = seen.0.max(held);
        for name in names {
            if !seen.1.contains(&name) {
                seen.1.push(name);
            }
        }
    }
}

impl Progress for Watcher {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {
        self.look();
    }
    fn finish(&self) {}
}

#[test]
fn unpack_reads_each_layer_once_and_stages_no_copy_of_a_blob() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 3 * MIB, Compression::Gzip);
    push(
        &client(&registry.addr),
        &archive,
        &reference(&registry.addr, "m:1"),
        &PushOptions::default(),
    )
    .unwrap();
    let out = dir.path().join("files");
    let watcher = Arc::new(Watcher {
        staging: staging_dir(&out),
        seen: Mutex::new((0, Vec::new())),
    });
    let options = PullOptions::default()
        .with_stream_unpack(true)
        .with_progress(Some(ProgressHandle(watcher.clone())));
    let report = pull(
        &client(&proxy.addr),
        &reference(&proxy.addr, "m:1"),
        &PullTarget::Unpack(out.clone()),
        &options,
    )
    .unwrap();
    assert_eq!(tree(&out), tree(&dir.path().join("model")));
    assert!(!staging_dir(&out).exists(), "staging left behind");
    let total: u64 = report.blobs.iter().map(|d| d.size).sum();
    assert_eq!(report.bytes_downloaded, total);

    let manifest = archive.manifest();
    let layers: Vec<String> = manifest
        .layers
        .iter()
        .map(|d| d.digest.to_string())
        .collect();
    let (most, names) = watcher.seen.lock().unwrap().clone();
    // Only documents were staged (the config and the manifest, a few KiB), never a
    // layer's blob (each over 1 MiB).
    assert!(most < 64 << 10, "the staging held {most} bytes");
    for name in &names {
        assert!(
            !layers
                .iter()
                .any(|l| l.ends_with(name.trim_end_matches(".partial"))),
            "{name}"
        );
    }
    assert!(!names.is_empty(), "the watcher saw the staging directory");
    // Each layer's blob asked for once, whole.
    let gets = proxy.requests();
    for layer in &layers {
        let n = gets
            .iter()
            .filter(|l| l.starts_with("GET") && l.ends_with(layer.as_str()))
            .count();
        assert_eq!(n, 1, "{layer}");
    }
    assert!(proxy.ranges.lock().unwrap().is_empty());
}

/// Pushes a 3 MiB-weights archive to a scripted registry.
fn fake_with(dir: &Path) -> (FakeRegistry, Archive) {
    let fake = FakeRegistry::start(Script::default());
    let archive = archive(dir, 3 * MIB, Compression::None);
    push(
        &client(&fake.addr),
        &archive,
        &reference(&fake.addr, "m:1"),
        &PushOptions::default(),
    )
    .unwrap();
    (fake, archive)
}

/// What is beside the target, but the archive and model the test made.
fn beside(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "m.tar" && n != "model")
        .collect();
    names.sort();
    names
}

#[test]
fn a_layer_that_does_not_match_its_digest_leaves_no_file_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with(dir.path());
    let largest = archive
        .manifest()
        .layers
        .iter()
        .max_by_key(|d| d.size)
        .unwrap()
        .digest
        .to_string();
    fake.corrupt_blob(&largest);
    let out = dir.path().join("files");
    let err = pull(
        &client(&fake.addr),
        &reference(&fake.addr, "m:1"),
        &PullTarget::Unpack(out.clone()),
        &PullOptions::default().with_stream_unpack(true),
    )
    .unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    assert!(err.to_string().contains(&largest), "{err}");
    assert!(!out.exists());
    // The unpack staging is gone; the pull's staging holds only documents.
    let left = beside(dir.path());
    assert_eq!(left, [".files.modeloci-pull"], "{left:?}");
    let blobs = staging_dir(&out).join("blobs/sha256");
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!largest.ends_with(&name), "{name}");
    }
}

#[test]
fn files_the_unpack_check_refuses_are_not_published_and_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, _) = fake_with(dir.path());
    let out = dir.path().join("files");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let saw = Arc::clone(&seen);
    let check: Arc<modeloci_archive::CheckFn> = Arc::new(move |files| {
        let mut saw = saw.lock().unwrap();
        saw.extend(files.iter().map(|f| (f.path.clone(), f.size)));
        Err("not signed by this key".into())
    });
    let err = pull(
        &client(&fake.addr),
        &reference(&fake.addr, "m:1"),
        &PullTarget::Unpack(out.clone()),
        &PullOptions::default()
            .with_stream_unpack(true)
            .with_unpack_check(Some(check)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not signed by this key"), "{err}");
    let mut saw = seen.lock().unwrap().clone();
    saw.sort();
    let size = 3 * MIB as u64;
    assert_eq!(
        saw,
        [
            ("a.safetensors".to_owned(), size),
            ("b.safetensors".to_owned(), size),
            ("config.json".to_owned(), 22)
        ]
    );
    assert!(!out.exists());
    assert!(beside(dir.path()).is_empty(), "{:?}", beside(dir.path()));
}

#[test]
fn a_layer_download_that_breaks_off_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, _) = fake_with(dir.path());
    fake.script(|s| s.cut_after = Some(MIB));
    let out = dir.path().join("files");
    let report = pull(
        &client(&fake.addr),
        &reference(&fake.addr, "m:1"),
        &PullTarget::Unpack(out.clone()),
        &PullOptions::default().with_stream_unpack(true),
    )
    .unwrap();
    assert_eq!(tree(&out), tree(&dir.path().join("model")));
    let ranges: Vec<String> = fake
        .requests()
        .into_iter()
        .filter_map(|s| s.range)
        .collect();
    assert!(ranges.iter().any(|r| r == "bytes=1048576-"), "{ranges:?}");
    assert!(ranges.iter().any(|r| r == "bytes=2097152-"), "{ranges:?}");
    let total: u64 = report.blobs.iter().map(|d| d.size).sum();
    assert_eq!(report.bytes_downloaded, total, "nothing fetched twice");
    assert_eq!(beside(dir.path()), ["files"]);
}

/// A registry that answers every request for the rest with the whole blob, and breaks off
/// each time: the bytes already handed to the unpacker are skipped, the tries are bounded,
/// and nothing lands.
#[test]
fn a_layer_download_that_ignores_range_and_keeps_breaking_off_ends_with_nothing_landed() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, _) = fake_with(dir.path());
    fake.script(|s| {
        s.cut_after = Some(MIB);
        s.ignore_range = true;
    });
    let out = dir.path().join("files");
    let started = std::time::Instant::now();
    let err = pull(
        &client(&fake.addr),
        &reference(&fake.addr, "m:1"),
        &PullTarget::Unpack(out.clone()),
        &PullOptions::default().with_stream_unpack(true),
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!err.is_verification_failure(), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("kept breaking off, at best after 1048576 of "),
        "{message}"
    );
    assert!(!out.exists());
    assert_eq!(beside(dir.path()), [".files.modeloci-pull"]);
}

/// The layer GETs a scripted registry received from its `from`th request on, as the digests
/// asked for, sorted.
fn layer_gets(fake: &FakeRegistry, from: usize, layers: &[String]) -> Vec<String> {
    let mut asked: Vec<String> = fake.requests()[from..]
        .iter()
        .filter(|s| s.method == "GET")
        .filter_map(|s| {
            layers
                .iter()
                .find(|l| s.path.ends_with(l.as_str()))
                .cloned()
        })
        .collect();
    asked.sort();
    asked
}

/// A pull that fails on one layer keeps the layers that verified; the next run asks only for
/// the missing one and restores identical files.
#[test]
fn a_rerun_fetches_only_the_layers_not_kept_and_gives_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with(dir.path());
    let layers: Vec<String> = archive
        .manifest()
        .layers
        .iter()
        .map(|d| d.digest.to_string())
        .collect();
    // The smallest layer, extracted last (the largest go first), fails.
    let smallest = archive
        .manifest()
        .layers
        .iter()
        .min_by_key(|d| d.size)
        .unwrap();
    let (bad, bad_size) = (smallest.digest.to_string(), smallest.size);
    fake.corrupt_blob(&bad);
    let out = dir.path().join("files");
    let target = PullTarget::Unpack(out.clone());
    let options = PullOptions::default().with_concurrency(1);
    let err = pull(
        &client(&fake.addr),
        &reference(&fake.addr, "m:1"),
        &target,
        &options,
    )
    .unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    assert!(!out.exists());
    let kept = staging_dir(&out).join("layers");
    let records = std::fs::read_dir(&kept)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".done")
        })
        .count();
    assert_eq!(
        records,
        layers.len() - 1,
        "every layer but the bad one recorded"
    );

    fake.corrupt_blob(&bad); // flipped back
    let before = fake.requests().len();
    let report = pull(
        &client(&fake.addr),
        &reference(&fake.addr, "m:1"),
        &target,
        &options,
    )
    .unwrap();
    let asked = layer_gets(&fake, before, &layers);
    assert_eq!(asked, [bad], "only the missing layer asked for");
    assert_eq!(tree(&out), tree(&dir.path().join("model")));
    // All but the missing layer kept: the other layers, and the config blob.
    let total: u64 = report.blobs.iter().map(|d| d.size).sum();
    assert_eq!(report.bytes_resumed, total - bad_size, "{report:?}");
    assert_eq!(report.bytes_downloaded, bad_size, "{report:?}");
    assert!(report.bytes_downloaded < total, "{report:?}");
    assert!(!staging_dir(&out).exists());
}

/// What is kept is not trusted: a kept file changed (its record made to agree), and a link
/// planted in a kept layer, each cost that layer a new GET, never a wrong file.
#[test]
fn kept_layers_whose_files_changed_or_gained_links_are_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with(dir.path());
    let manifest = archive.manifest();
    let layers: Vec<String> = manifest
        .layers
        .iter()
        .map(|d| d.digest.to_string())
        .collect();
    let config_layer = manifest
        .layers
        .iter()
        .min_by_key(|d| d.size)
        .unwrap()
        .digest
        .to_string();
    let mut weights: Vec<&Descriptor> = manifest
        .layers
        .iter()
        .filter(|d| d.size > 1 << 20)
        .collect();
    weights.sort_by_key(|d| d.digest.to_string());
    // Fail the pull on the config.json layer, so that both weight layers are kept.
    fake.corrupt_blob(&config_layer);
    let out = dir.path().join("files");
    let target = PullTarget::Unpack(out.clone());
    let options = PullOptions::default().with_concurrency(1);
    pull(
        &client(&fake.addr),
        &reference(&fake.addr, "m:1"),
        &target,
        &options,
    )
    .unwrap_err();
    fake.corrupt_blob(&config_layer);
    let kept = staging_dir(&out).join("layers");
    // One weight file's bytes changed (same size); a link planted beside the other.
    let changed = kept.join(weights[0].digest.hex());
    let file = std::fs::read_dir(&changed)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    // ... and its record made to agree (as only this user could): the manifest's annotated
    // file digest still refuses it.
    let record = kept.join(format!("{}.done", weights[0].digest.hex()));
    let was = Hasher::digest_bytes(&bytes[..]).digest.to_string();
    let text = std::fs::read_to_string(&record).unwrap();
    let old = text.split("\"digest\":\"").nth(1).unwrap()[..71].to_owned();
    std::fs::write(&record, text.replace(&old, &was)).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let linked = kept.join(weights[1].digest.hex());
    std::os::unix::fs::symlink(&victim, linked.join("extra.bin")).unwrap();

    let before = fake.requests().len();
    pull(
        &client(&fake.addr),
        &reference(&fake.addr, "m:1"),
        &target,
        &options,
    )
    .unwrap();
    let asked = layer_gets(&fake, before, &layers);
    let mut expected = vec![
        config_layer,
        weights[0].digest.to_string(),
        weights[1].digest.to_string(),
    ];
    expected.sort();
    assert_eq!(asked, expected);
    assert_eq!(tree(&out), tree(&dir.path().join("model")));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(!staging_dir(&out).exists());
}
