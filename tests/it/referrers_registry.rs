//! Referrers in registries: attached, listed, fetched and carried by push, pull and copy,
//! against the real registry (Distribution 2.8, no referrers API: the `sha256-<hex>` tag
//! schema) and the scripted registry with the referrers API and `OCI-Subject`.

use std::sync::{Arc, Mutex};

use modeloci_archive::Archive;
use modeloci_digest::Hasher;
use modeloci_registry::{
    Client, ClientOptions, CopyOptions, Error, FetchedReferrer, PullCheck, PullOptions, PullTarget,
    PushOptions, Reference, attach, copy, fetch_referrer, pull, push, referrers,
};
use modeloci_spec::{Descriptor, Digest, MediaType, OciIndex, OciManifest, annotations};
use modeloci_tests::fake_registry::{FakeRegistry, Script};
use modeloci_tests::registry::Registry;

use crate::fixtures;

const REPO: &str = "models/tiny";

fn client(addr: &str) -> Client {
    Client::new(addr, ClientOptions::default().with_retries(0))
}

fn golden(name: &str) -> Archive {
    Archive::open(&fixtures().join("golden").join(name)).unwrap()
}

fn reference(addr: &str, repo: &str) -> Reference {
    format!("{addr}/{repo}").parse().unwrap()
}

/// Pushes the golden tiny archive (or `name`) to `addr` under `REPO:tag`.
fn push_golden(addr: &str, name: &str, tag: &str) -> Archive {
    let archive = golden(name);
    push(
        &client(addr),
        &archive,
        &reference(addr, &format!("{REPO}:{tag}")),
        &PushOptions::default(),
    )
    .unwrap();
    archive
}

/// A signature referrer of `subject` as the Cosign bundle specification lays it out: the
/// empty config, one layer holding `bundle`, `artifactType` the bundle's; its manifest bytes
/// and blobs.
fn signature(subject: &Archive, bundle: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    referrer_of(subject, bundle, MediaType::SigstoreBundle)
}

fn referrer_of(subject: &Archive, blob: &[u8], kind: MediaType) -> (Vec<u8>, Vec<Vec<u8>>) {
    let empty = Hasher::digest_bytes(b"{}");
    let layer = Hasher::digest_bytes(blob);
    let mut manifest = OciManifest::new(
        Descriptor::new(MediaType::Empty, empty.digest, empty.size),
        vec![Descriptor::new(kind.clone(), layer.digest, layer.size)],
    )
    .with_artifact_type(kind)
    .with_annotation("dev.sigstore.bundle.content", "dsse-envelope");
    manifest.subject = Some(Descriptor::new(
        MediaType::ImageManifest,
        subject.manifest_digest().clone(),
        subject.manifest_bytes().len() as u64,
    ));
    (manifest.to_json(), vec![b"{}".to_vec(), blob.to_vec()])
}

/// `attach` with the blobs described by their digests.
fn attach_signature(client: &Client, (bytes, blobs): &(Vec<u8>, Vec<Vec<u8>>)) -> Digest {
    let described: Vec<(Descriptor, &[u8])> = blobs
        .iter()
        .map(|b| {
            let m = Hasher::digest_bytes(b);
            (
                Descriptor::new(MediaType::SigstoreBundle, m.digest, m.size),
                b.as_slice(),
            )
        })
        .collect();
    attach(client, REPO, bytes, &described).unwrap()
}

/// The index entry a referrer manifest gets: its digest, size, artifact type and
/// annotations.
fn entry(bytes: &[u8]) -> Descriptor {
    let manifest = OciManifest::from_slice(bytes).unwrap();
    let measured = Hasher::digest_bytes(bytes);
    let mut d = Descriptor::new(MediaType::ImageManifest, measured.digest, measured.size);
    d.artifact_type = manifest.artifact_type.clone();
    d.annotations = manifest.annotations.clone();
    d
}

fn fallback_tag(subject: &Archive) -> String {
    format!("sha256-{}", subject.manifest_digest().hex())
}

#[test]
fn attach_on_distribution_writes_the_tag_schema_keeping_foreign_entries_and_is_idempotent() {
    let registry = Registry::start(None);
    let archive = push_golden(&registry.addr, "tiny-1.0.0.tar", "1.0.0");
    let c = client(&registry.addr);
    let subject = archive.manifest_digest();
    assert_eq!(referrers(&c, REPO, subject, None).unwrap(), []);

    // Someone else's entry is already in the fallback index.
    let sbom = referrer_of(&archive, b"sbom", MediaType::from("application/spdx+json"));
    let foreign = entry(&sbom.0);
    let sbom_digest = attach_signature(&c, &sbom);
    assert_eq!(sbom_digest, foreign.digest);

    let sig = signature(&archive, br#"{"bundle":1}"#);
    let digest = attach_signature(&c, &sig);
    let ours = entry(&sig.0);
    assert_eq!(digest, ours.digest);
    let index_at = format!("{}/{REPO}:{}", registry.addr, fallback_tag(&archive));
    let raw = modeloci_tests::registry::skopeo_raw(&index_at);
    let index = OciIndex::from_slice(&raw).unwrap();
    assert_eq!(index.manifests, [foreign.clone(), ours.clone()]);
    assert_eq!(
        modeloci_tests::registry::skopeo_raw(&format!("{}/{REPO}@{digest}", registry.addr)),
        sig.0
    );

    assert_eq!(
        referrers(&c, REPO, subject, None).unwrap(),
        [foreign, ours.clone()]
    );
    assert_eq!(
        referrers(&c, REPO, subject, Some(&MediaType::SigstoreBundle)).unwrap(),
        [ours]
    );
    assert_eq!(
        referrers(&c, REPO, subject, Some(&MediaType::from("x/y"))).unwrap(),
        []
    );

    // Again: the same digest, and the index keeps its bytes.
    assert_eq!(attach_signature(&c, &sig), digest);
    assert_eq!(modeloci_tests::registry::skopeo_raw(&index_at), raw);
}

#[test]
fn attach_uses_the_referrers_api_where_there_is_one() {
    let fake = FakeRegistry::start(Script {
        referrers_api: true,
        ..Script::default()
    });
    let archive = push_golden(&fake.addr, "tiny-1.0.0.tar", "1.0.0");
    let c = client(&fake.addr);
    let sig = signature(&archive, br#"{"bundle":2}"#);
    let digest = attach_signature(&c, &sig);
    let subject = archive.manifest_digest();
    let tag_puts: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|s| s.method == "PUT" && s.path.contains("/manifests/sha256-"))
        .map(|s| s.path)
        .collect();
    assert_eq!(
        tag_puts,
        Vec::<String>::new(),
        "no fallback index is written"
    );
    let before = fake.requests().len();
    assert_eq!(
        referrers(&c, REPO, subject, Some(&MediaType::SigstoreBundle)).unwrap(),
        [entry(&sig.0)]
    );
    let asked: Vec<String> = fake.requests()[before..]
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        asked,
        [format!(
            "GET /v2/{REPO}/referrers/{subject}?artifactType=application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"
        )]
    );
    assert_eq!(attach_signature(&c, &sig), digest);
    assert_eq!(referrers(&c, REPO, subject, None).unwrap().len(), 1);
}

#[test]
fn fetch_referrer_checks_the_manifest_the_subject_and_every_blob() {
    let fake = FakeRegistry::start(Script::default());
    let archive = push_golden(&fake.addr, "tiny-1.0.0.tar", "1.0.0");
    let stranger = push_golden(&fake.addr, "tiny-1.0.0-modelpack.tar", "other");
    let c = client(&fake.addr);
    let bundle = br#"{"bundle":3}"#;
    let sig = signature(&archive, bundle);
    attach_signature(&c, &sig);
    let subject = archive.manifest_digest();
    let [listed] = &referrers(&c, REPO, subject, None).unwrap()[..] else {
        panic!("one referrer expected");
    };
    let fetched = fetch_referrer(&c, REPO, subject, listed, 1 << 20).unwrap();
    assert_eq!(fetched.bytes, sig.0);
    assert_eq!(&fetched.descriptor, listed);
    assert_eq!(fetched.manifest, OciManifest::from_slice(&sig.0).unwrap());
    let blobs: Vec<(Digest, Vec<u8>)> = fetched
        .blobs
        .iter()
        .map(|(d, b)| (d.digest.clone(), b.clone()))
        .collect();
    let bundle_digest = Hasher::digest_bytes(bundle).digest;
    assert_eq!(
        blobs,
        [
            (Hasher::digest_bytes(b"{}").digest, b"{}".to_vec()),
            (bundle_digest.clone(), bundle.to_vec())
        ]
    );

    // Over the limit: refused before a blob is asked for.
    let before = fake.requests().len();
    let err = fetch_referrer(&c, REPO, subject, listed, bundle.len() as u64 - 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "blob {bundle_digest} of referrer {} from {} is {} bytes, over the {}-byte limit",
            listed.digest,
            fake.addr,
            bundle.len(),
            bundle.len() - 1
        )
    );
    let asked: Vec<String> = fake.requests()[before..]
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        asked,
        [format!("GET /v2/{REPO}/manifests/{}", listed.digest)]
    );

    // A referrer listed for this subject that names another.
    let elsewhere = signature(&stranger, b"elsewhere");
    let other = attach_signature(&c, &elsewhere);
    let err = fetch_referrer(&c, REPO, subject, &entry(&elsewhere.0), 1 << 20).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: it lists {other} among the referrers of {subject}, but that manifest's subject is {}",
            fake.addr,
            stranger.manifest_digest()
        )
    );

    // A blob that lies.
    fake.corrupt_blob(bundle_digest.as_str());
    let mut flipped = bundle.to_vec();
    *flipped.last_mut().unwrap() ^= 1;
    let err = fetch_referrer(&c, REPO, subject, listed, 1 << 20).unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "referrer {} blob {bundle_digest} from {}: digest mismatch: expected {bundle_digest}, got {}",
            listed.digest,
            fake.addr,
            Hasher::digest_bytes(&flipped).digest
        )
    );
}

#[test]
fn attach_refuses_a_manifest_without_a_subject_and_missing_blobs_before_sending_them() {
    let fake = FakeRegistry::start(Script::default());
    let archive = push_golden(&fake.addr, "tiny-1.0.0.tar", "1.0.0");
    let c = client(&fake.addr);
    let (bytes, _) = signature(&archive, b"b");
    let mut orphan = OciManifest::from_slice(&bytes).unwrap();
    orphan.subject = None;
    let before = fake.requests().len();
    let err = attach(&c, REPO, &orphan.to_json(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the manifest to attach has no subject: it refers to no manifest"
    );
    assert_eq!(fake.requests().len(), before);
    let err = attach(&c, REPO, &bytes, &[]).unwrap_err();
    let manifest = OciManifest::from_slice(&bytes).unwrap();
    let layer = &manifest.layers[0].digest;
    assert_eq!(
        err.to_string(),
        format!(
            "the manifest to attach needs blob {layer}, which was not given and {} does not have",
            fake.addr
        )
    );
    let asked: Vec<String> = fake.requests()[before..]
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        asked,
        [
            format!("HEAD /v2/{REPO}/blobs/{}", manifest.config.digest),
            format!("HEAD /v2/{REPO}/blobs/{layer}")
        ],
        "nothing is sent before every blob is known to be at hand"
    );
}

#[test]
fn push_attaches_referrers_by_the_tag_schema_and_refuses_one_for_another_manifest() {
    let registry = Registry::start(None);
    let archive = golden("tiny-1.0.0.tar");
    let c = client(&registry.addr);
    let sig = signature(&archive, br#"{"bundle":4}"#);
    let report = push(
        &c,
        &archive,
        &reference(&registry.addr, &format!("{REPO}:1.0.0")),
        &PushOptions::default().with_referrers(vec![sig.clone()]),
    )
    .unwrap();
    let ours = entry(&sig.0);
    assert_eq!(report.referrers, std::slice::from_ref(&ours.digest));
    let index = modeloci_tests::registry::skopeo_raw(&format!(
        "{}/{REPO}:{}",
        registry.addr,
        fallback_tag(&archive)
    ));
    assert_eq!(OciIndex::from_slice(&index).unwrap().manifests, [ours]);

    let stranger = golden("tiny-1.0.0-modelpack.tar");
    let wrong = signature(&stranger, b"x");
    let err = push(
        &c,
        &archive,
        &reference(&registry.addr, "models/never:1.0.0"),
        &PushOptions::default().with_referrers(vec![wrong.clone()]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "referrer {} refers to {}, not to the pushed manifest {}",
            Hasher::digest_bytes(&wrong.0).digest,
            stranger.manifest_digest(),
            archive.manifest_digest()
        )
    );
    assert!(
        !registry.log().contains("models/never"),
        "nothing was sent for the refused push"
    );
}

/// What a pull's check saw of the staged layout: `index.json` and each referrer's files.
type Seen = Arc<Mutex<Option<(OciIndex, Vec<Vec<u8>>)>>>;

fn recording_check(seen: &Seen, refuse: bool) -> PullCheck {
    let seen = Arc::clone(seen);
    PullCheck(Arc::new(
        move |layout: &Archive, fetched: &[FetchedReferrer]| {
            let root = layout.path();
            let index = OciIndex::from_slice(&std::fs::read(root.join("index.json"))?)?;
            let mut files = Vec::new();
            for r in fetched {
                files.push(std::fs::read(root.join(r.descriptor.digest.blob_path()))?);
                for (d, _) in &r.blobs {
                    files.push(std::fs::read(root.join(d.digest.blob_path()))?);
                }
            }
            *seen.lock().unwrap() = Some((index, files));
            if refuse {
                return Err("no signature by a trusted key".into());
            }
            Ok(())
        },
    ))
}

#[test]
fn pull_brings_the_signatures_into_the_staged_layout_and_a_check_can_stop_it() {
    let registry = Registry::start(None);
    let archive = golden("tiny-1.0.0.tar");
    let c = client(&registry.addr);
    let bundle = br#"{"bundle":5}"#;
    let sig = signature(&archive, bundle);
    let sbom = referrer_of(&archive, b"sbom", MediaType::from("application/spdx+json"));
    push(
        &c,
        &archive,
        &reference(&registry.addr, &format!("{REPO}:1.0.0")),
        &PushOptions::default().with_referrers(vec![sbom, sig.clone()]),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.tar");
    let seen: Seen = Arc::default();
    let report = pull(
        &c,
        &reference(&registry.addr, &format!("{REPO}:1.0.0")),
        &PullTarget::Archive(out.clone()),
        &PullOptions::default().with_check(Some(recording_check(&seen, false))),
    )
    .unwrap();
    let mut staged = entry(&sig.0);
    staged.annotations.clear();
    assert_eq!(report.referrers, std::slice::from_ref(&staged));
    let (index, files) = seen.lock().unwrap().take().expect("the check ran");
    let [model, referrer] = &index.manifests[..] else {
        panic!("two entries expected: {:?}", index.manifests);
    };
    assert_eq!(&model.digest, archive.manifest_digest());
    assert_eq!(model.annotations[annotations::REF_NAME], "1.0.0");
    assert_eq!(referrer, &staged);
    assert_eq!(files, [sig.0.clone(), b"{}".to_vec(), bundle.to_vec()]);
    assert_eq!(
        Archive::open(&out).unwrap().manifest_digest(),
        archive.manifest_digest()
    );
    assert_eq!(crate::names(dir.path()), ["tiny.tar"]);

    // Without referrers, none come; a check that refuses leaves nothing at the target.
    let none = pull(
        &c,
        &reference(&registry.addr, &format!("{REPO}:1.0.0")),
        &PullTarget::Archive(dir.path().join("plain.tar")),
        &PullOptions::default().with_referrers(false),
    )
    .unwrap();
    assert_eq!(none.referrers, []);
    let refused = dir.path().join("refused.tar");
    let err = pull(
        &c,
        &reference(&registry.addr, &format!("{REPO}:1.0.0")),
        &PullTarget::Archive(refused.clone()),
        &PullOptions::default().with_check(Some(recording_check(&seen, true))),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Check(_)), "{err:?}");
    assert_eq!(err.to_string(), "no signature by a trusted key");
    assert!(err.is_verification_failure());
    assert!(!refused.exists());
}

#[test]
fn copy_to_a_registry_with_the_api_writes_no_fallback_index() {
    let registry = Registry::start(None);
    let fake = FakeRegistry::start(Script {
        referrers_api: true,
        ..Script::default()
    });
    let archive = push_golden(&registry.addr, "tiny-1.0.0.tar", "1.0.0");
    let src = client(&registry.addr);
    let sig = signature(&archive, br#"{"bundle":6}"#);
    let digest = attach_signature(&src, &sig);
    let dst = client(&fake.addr);
    let report = copy(
        &src,
        &reference(&registry.addr, &format!("{REPO}:1.0.0")),
        &dst,
        &reference(&fake.addr, REPO),
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(report.referrers, std::slice::from_ref(&digest));
    assert!(
        !fake
            .requests()
            .iter()
            .any(|s| s.path.contains("/manifests/sha256-")),
        "the target has the API: no fallback tag is read or written"
    );
    let listed = referrers(&dst, REPO, archive.manifest_digest(), None).unwrap();
    assert_eq!(listed, [entry(&sig.0)]);
}

#[test]
fn a_registry_with_the_api_but_no_oci_subject_is_asked_before_a_fallback_is_written() {
    let fake = FakeRegistry::start(Script {
        referrers_api: true,
        no_oci_subject: true,
        ..Script::default()
    });
    let archive = push_golden(&fake.addr, "tiny-1.0.0.tar", "1.0.0");
    let c = client(&fake.addr);
    let sig = signature(&archive, br#"{"bundle":7}"#);
    let before = fake.requests().len();
    let digest = attach_signature(&c, &sig);
    let asked: Vec<String> = fake.requests()[before..]
        .iter()
        .filter(|s| s.path.contains("/manifests/") || s.path.contains("/referrers/"))
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        asked,
        [
            format!("PUT /v2/{REPO}/manifests/{digest}"),
            format!("GET /v2/{REPO}/referrers/{}", archive.manifest_digest()),
        ],
        "the listing confirmed it: no fallback index"
    );
}

#[test]
fn an_index_replaced_by_another_writer_is_written_again_until_it_keeps_our_entry() {
    let fake = FakeRegistry::start(Script {
        lose_index_puts: 2,
        ..Script::default()
    });
    let archive = push_golden(&fake.addr, "tiny-1.0.0.tar", "1.0.0");
    let c = client(&fake.addr);
    let sig = signature(&archive, br#"{"bundle":8}"#);
    let digest = attach_signature(&c, &sig);
    let tag = fallback_tag(&archive);
    let puts = fake
        .requests()
        .iter()
        .filter(|s| s.method == "PUT" && s.path.ends_with(&tag))
        .count();
    assert_eq!(puts, 3, "two writes lost, the third kept");
    let listed = referrers(&c, REPO, archive.manifest_digest(), None).unwrap();
    assert_eq!(
        listed.iter().map(|d| &d.digest).collect::<Vec<_>>(),
        [&digest]
    );

    fake.script(|s| s.lose_index_puts = 100);
    let other = signature(&archive, br#"{"bundle":9}"#);
    let err = attach(
        &c,
        REPO,
        &other.0,
        &[(
            Descriptor::new(
                MediaType::SigstoreBundle,
                Hasher::digest_bytes(&other.1[1]).digest,
                other.1[1].len() as u64,
            ),
            &other.1[1],
        )],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the referrers index under tag {tag} lost our entry to other writers 5 times",
            fake.addr
        )
    );
}

#[test]
fn pull_recognises_a_signature_listed_without_its_artifact_type() {
    let registry = Registry::start(None);
    let archive = golden("tiny-1.0.0.tar");
    let c = client(&registry.addr);
    // As some cosign versions wrote it: no artifactType, so the listing says the config's
    // empty type; the layer still says what it holds.
    let (bytes, blobs) = signature(&archive, br#"{"bundle":10}"#);
    let mut manifest = OciManifest::from_slice(&bytes).unwrap();
    manifest.artifact_type = None;
    let bytes = manifest.to_json();
    push(
        &c,
        &archive,
        &reference(&registry.addr, &format!("{REPO}:1.0.0")),
        &PushOptions::default().with_referrers(vec![(bytes.clone(), blobs)]),
    )
    .unwrap();
    let listed = referrers(&c, REPO, archive.manifest_digest(), None).unwrap();
    assert_eq!(
        listed.iter().map(|d| &d.artifact_type).collect::<Vec<_>>(),
        [&Some(MediaType::Empty)]
    );
    let dir = tempfile::tempdir().unwrap();
    let report = pull(
        &c,
        &reference(&registry.addr, &format!("{REPO}:1.0.0")),
        &PullTarget::Archive(dir.path().join("tiny.tar")),
        &PullOptions::default(),
    )
    .unwrap();
    let digests: Vec<&Digest> = report.referrers.iter().map(|d| &d.digest).collect();
    assert_eq!(digests, [&Hasher::digest_bytes(&bytes).digest]);
    // The staged index says what it is.
    assert_eq!(
        report.referrers[0].artifact_type,
        Some(MediaType::SigstoreBundle)
    );

    // A check runs before an unpack too, and when it refuses no directory appears.
    let seen: Seen = Arc::default();
    let target = dir.path().join("model");
    let err = pull(
        &c,
        &reference(&registry.addr, &format!("{REPO}:1.0.0")),
        &PullTarget::Unpack(target.clone()),
        &PullOptions::default().with_check(Some(recording_check(&seen, true))),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "no signature by a trusted key");
    let (index, files) = seen.lock().unwrap().take().expect("the check ran");
    assert_eq!(index.manifests.len(), 2);
    assert_eq!(files[0], bytes);
    assert!(!target.exists());
}
