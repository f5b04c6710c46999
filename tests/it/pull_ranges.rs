//! Pulls that bring large blobs in several ranged requests at once: against the real
//! registry (through the recording proxy, to see the ranges asked for), and against the
//! scripted registry for the answers a real one won't give (the whole blob, another range,
//! a short part, wrong bytes), and an interrupted ranged pull resumed.

use std::path::Path;
use std::time::Duration;

use modeloci_archive::{Archive, Compression};
use modeloci_registry::{
    Client, ClientOptions, PullOptions, PullReport, PullTarget, PushOptions, Reference, pull, push,
    staging_dir,
};
use modeloci_tests::fake_registry::{FakeRegistry, PartLie, Script};
use modeloci_tests::fixtures::Normal;
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;

use crate::{pack, tree};

const MIB: u64 = 1 << 20;

/// Blobs over 1 MiB come in parts of 256 KiB.
const ABOVE: u64 = MIB;

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

/// An uncompressed archive of a model with two weight files of `size` bytes.
fn archive(dir: &Path, size: usize) -> Archive {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), br#"{"model_type": "test"}"#).unwrap();
    for (i, name) in ["a.safetensors", "b.safetensors"].iter().enumerate() {
        let mut data = vec![0u8; size];
        Normal::new(40 + i as u64).fill_bf16(0.02, &mut data);
        std::fs::write(model.join(name), data).unwrap();
    }
    let out = dir.join("m.tar");
    pack(&model, &out, Compression::None);
    Archive::open(&out).unwrap()
}

/// The layers of `archive` over [`ABOVE`], by digest.
fn large_blobs(archive: &Archive) -> Vec<(String, u64)> {
    archive
        .manifest()
        .layers
        .iter()
        .filter(|d| d.size > ABOVE)
        .map(|d| (d.digest.to_string(), d.size))
        .collect()
}

fn options() -> PullOptions {
    PullOptions::default()
        .with_concurrency(4)
        .with_ranged_above(ABOVE)
}

/// The `bytes=a-b` ranges asked for blob `digest`, sorted.
fn closed_ranges<'a>(
    seen: impl Iterator<Item = (&'a str, &'a str)>,
    digest: &str,
) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = seen
        .filter(|(path, _)| path.contains(digest))
        .filter_map(|(_, range)| {
            let (a, b) = range.strip_prefix("bytes=")?.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    ranges.sort_unstable();
    ranges
}

/// The parts of a blob of `size` bytes: 256 KiB each, the last one shorter.
fn parts_of(size: u64) -> Vec<(u64, u64)> {
    let part = ABOVE / 4;
    (0..size.div_ceil(part))
        .map(|k| (k * part, ((k + 1) * part).min(size) - 1))
        .collect()
}

fn assert_no_staging(out: &Path) {
    assert!(!staging_dir(out).exists(), "staging left behind");
}

#[test]
fn distribution_serves_parts_and_the_pulled_archive_is_byte_identical() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), 3 * MIB as usize + 12_345);
    push(
        &client(&registry.addr),
        &archive,
        &reference(&registry.addr, "m:1"),
        &PushOptions::default(),
    )
    .unwrap();

    let out = dir.path().join("out.tar");
    let r = reference(&proxy.addr, "m:1");
    let report = pull(
        &client(&proxy.addr),
        &r,
        &PullTarget::Archive(out.clone()),
        &options(),
    )
    .unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(archive.path()).unwrap());
    assert_eq!(report.ranges_refused, None);
    let total: u64 = report.blobs.iter().map(|d| d.size).sum();
    assert_eq!((report.bytes_downloaded, report.bytes_resumed), (total, 0));
    assert_no_staging(&out);
    let seen = proxy.ranges.lock().unwrap().clone();
    let seen = || seen.iter().map(|(p, r)| (p.as_str(), r.as_str()));
    let large = large_blobs(&archive);
    assert_eq!(large.len(), 2);
    for (digest, size) in &large {
        // Every part asked for once, and the blob never in one stream.
        assert_eq!(closed_ranges(seen(), digest), parts_of(*size), "{digest}");
        let whole = proxy
            .requests()
            .iter()
            .filter(|l| l.starts_with("GET") && l.ends_with(digest.as_str()))
            .count();
        assert_eq!(whole, parts_of(*size).len(), "one GET per part");
    }

    // Into files, the same.
    let files = dir.path().join("files");
    pull(
        &client(&proxy.addr),
        &r,
        &PullTarget::Unpack(files.clone()),
        &options(),
    )
    .unwrap();
    assert_eq!(tree(&files), tree(&dir.path().join("model")));
    assert_no_staging(&files);
}

/// Pushes the archive to a fresh scripted registry, then sets its script.
fn fake_with(dir: &Path, script: impl FnOnce(&mut Script)) -> (FakeRegistry, Archive) {
    let fake = FakeRegistry::start(Script::default());
    let archive = archive(dir, 3 * MIB as usize);
    push(
        &client(&fake.addr),
        &archive,
        &reference(&fake.addr, "m:1"),
        &PushOptions::default(),
    )
    .unwrap();
    fake.script(script);
    (fake, archive)
}

fn pull_from(
    fake: &FakeRegistry,
    out: &Path,
    options: &PullOptions,
) -> modeloci_registry::Result<PullReport> {
    pull(
        &client(&fake.addr),
        &reference(&fake.addr, "m:1"),
        &PullTarget::Archive(out.to_owned()),
        options,
    )
}

/// The blob GETs the fake saw after the first `skip` requests: (path, closed range or not).
fn blob_gets(fake: &FakeRegistry, skip: usize) -> Vec<(String, Option<String>)> {
    fake.requests()
        .into_iter()
        .skip(skip)
        .filter(|s| s.method == "GET" && s.path.contains("/blobs/sha256:"))
        .map(|s| (s.path, s.range))
        .collect()
}

/// A change to a script.
type Scripted = fn(&mut Script);

/// A registry that does not honour a range gets no error: that blob, and every one after,
/// comes in one stream, and the archive is intact.
#[test]
fn ranges_not_honoured_fall_back_to_one_stream_for_the_rest_of_the_pull() {
    let cases: [(&str, Scripted); 4] = [
        ("it answered 200 with the whole blob", |s| {
            s.ignore_range = true;
        }),
        ("with Content-Range \"bytes ", |s| {
            s.part_lie = Some(PartLie::ShiftedRange);
        }),
        ("with Content-Range \"bytes ", |s| {
            s.part_lie = Some(PartLie::WrongTotal);
        }),
        ("of a part", |s| s.part_lie = Some(PartLie::Short)),
    ];
    for (why, script) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (fake, archive) = fake_with(dir.path(), script);
        let before = fake.requests().len();
        let out = dir.path().join("out.tar");
        let options = options().with_concurrency(2);
        let report = pull_from(&fake, &out, &options).unwrap();
        assert!(std::fs::read(&out).unwrap() == std::fs::read(archive.path()).unwrap());
        let refused = report.ranges_refused.expect("said why");
        assert!(refused.contains(why), "{why}: {refused}");
        assert_no_staging(&out);
        let gets = blob_gets(&fake, before);
        let parts = gets.iter().filter(|(_, r)| r.is_some()).count();
        // Only the parts begun before the first refusal was known: one per connection.
        assert!(parts <= 2, "{why}: {parts} ranged GETs");
        for (digest, _) in large_blobs(&archive) {
            let whole = gets
                .iter()
                .filter(|(p, r)| p.ends_with(&digest) && r.is_none())
                .count();
            assert_eq!(whole, 1, "{why}: {digest} in one stream");
        }
    }
}

/// Parts with the right headers but wrong bytes: the blob fails its digest check, the pull
/// fails as a verification failure, and nothing of the blob is kept.
#[test]
fn parts_with_wrong_bytes_fail_the_digest_check_and_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with(dir.path(), |s| s.part_lie = Some(PartLie::WrongBytes));
    let out = dir.path().join("out.tar");
    let err = pull_from(&fake, &out, &options()).unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    let message = err.to_string();
    let large = large_blobs(&archive);
    assert!(
        large.iter().any(|(d, _)| message.contains(d)) && message.contains("digest mismatch"),
        "{message}"
    );
    assert!(!out.exists());
    let blobs = staging_dir(&out).join("blobs/sha256");
    for entry in std::fs::read_dir(&blobs).into_iter().flatten() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !large.iter().any(|(d, _)| d.ends_with(&name)) && !name.contains(".ranged"),
            "kept {name}"
        );
    }
}

/// A ranged pull broken off part-way (the registry fails every part past 1.5 MiB) keeps the
/// parts it finished; the next pull asks only for the others, and the archive is intact.
#[test]
fn an_interrupted_ranged_pull_resumes_with_the_missing_parts_only() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with(dir.path(), |s| s.fail_parts_from = Some(3 * MIB / 2));
    let out = dir.path().join("out.tar");
    let options = options().with_concurrency(2);
    let err = pull_from(&fake, &out, &options).unwrap_err();
    assert!(!err.is_verification_failure(), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    assert!(!out.exists());

    fake.script(|s| s.fail_parts_from = None);
    let before = fake.requests().len();
    let report = pull_from(&fake, &out, &options).unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(archive.path()).unwrap());
    assert_no_staging(&out);
    assert!(
        report.bytes_resumed >= ABOVE / 4,
        "{}",
        report.bytes_resumed
    );
    let total: u64 = report.blobs.iter().map(|d| d.size).sum();
    assert_eq!(report.bytes_downloaded + report.bytes_resumed, total);
    let gets = blob_gets(&fake, before);
    let seen = || {
        gets.iter()
            .filter_map(|(p, r)| Some((p.as_str(), r.as_deref()?)))
    };
    let mut asked = 0;
    for (digest, size) in large_blobs(&archive) {
        let ranges = closed_ranges(seen(), &digest);
        asked += ranges.iter().map(|(a, b)| b - a + 1).sum::<u64>();
        let all = parts_of(size);
        assert!(ranges.iter().all(|r| all.contains(r)), "{ranges:?}");
    }
    let large: u64 = large_blobs(&archive).iter().map(|(_, s)| s).sum();
    assert!(asked < large, "asked again for {asked} of {large} bytes");
    assert!(asked <= report.bytes_downloaded);
}

/// A part that stalls is asked for again from where it stopped, under the client's retry
/// policy, and the pull gives up in bounded time with the stall named.
#[test]
fn a_stalling_part_is_retried_and_given_up_on_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, archive) = fake_with(dir.path(), |s| s.stall_after = Some(16 << 10));
    let out = dir.path().join("out.tar");
    let started = std::time::Instant::now();
    let stalling = Client::new(
        &fake.addr,
        ClientOptions::default()
            .with_retries(2)
            .with_backoff(Duration::from_millis(20))
            .with_timeout(Duration::from_secs(1)),
    );
    let err = pull(
        &stalling,
        &reference(&fake.addr, "m:1"),
        &PullTarget::Archive(out.clone()),
        &options().with_concurrency(2),
    )
    .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(!err.is_verification_failure());
    let message = err.to_string();
    assert!(
        message.contains("sent no data for 1 s while downloading blob")
            && large_blobs(&archive)
                .iter()
                .any(|(d, _)| message.contains(d)),
        "{message}"
    );
    // Each retry asked for the rest of the part, not the part again.
    let gets = blob_gets(&fake, 0);
    let first = gets
        .iter()
        .filter_map(|(_, r)| r.as_deref())
        .filter(|r| r.starts_with("bytes=0-") || r.starts_with("bytes=16384-"))
        .count();
    assert!(first >= 2, "{gets:?}");
    assert!(!out.exists());
}
