//! Referrers (signatures) inside archives, and the per-file digests signing needs: attached
//! to both profiles and to a reference archive, listed, carried by repack, refused or dropped
//! by add, checked by verify; file digests recorded at pack agree with what unpack hashes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use modeloci_archive::{
    AddOptions, Archive, ArchiveFormat, Error, FileDigest, Format, ModelPackager, ModelUnpackager,
    NewReferrer, PackOptions, UnpackOptions, attach_referrers, recorded_file_digests,
    remove_referrers, repack, verify,
};
use modeloci_digest::Hasher;
use modeloci_spec::{Descriptor, MediaType, OciIndex, OciManifest, annotations};
use modeloci_tests::fixtures::{modelpack_config, tiny_config};
use modeloci_tests::only_entry;

use crate::tiny_model;

/// A referrer as a signer would make it: the empty `{}` config, one bundle layer,
/// `artifactType` Sigstore bundle, `subject` the archive's model manifest.
pub(crate) fn fake_referrer(archive: &Archive, bundle: &[u8]) -> NewReferrer {
    let empty = Hasher::digest_bytes(b"{}");
    let layer = Hasher::digest_bytes(bundle);
    let mut manifest = OciManifest::new(
        Descriptor::new(MediaType::Empty, empty.digest, empty.size),
        vec![
            Descriptor::new(MediaType::SigstoreBundle, layer.digest, layer.size)
                .with_annotation(annotations::TITLE, "bundle.sigstore.json"),
        ],
    )
    .with_artifact_type(MediaType::SigstoreBundle)
    .with_annotation(annotations::SIGSTORE_BUNDLE_CONTENT, "dsse-envelope");
    manifest.subject = Some(Descriptor::new(
        MediaType::ImageManifest,
        archive.manifest_digest().clone(),
        archive.manifest_bytes().len() as u64,
    ));
    NewReferrer {
        manifest_bytes: manifest.to_json(),
        blobs: vec![b"{}".to_vec(), bundle.to_vec()],
    }
}

/// Packs the tiny model in `format` to `dir/name`.
fn packed(dir: &Path, name: &str, format: Format) -> PathBuf {
    let out = dir.join(name);
    let config = match format {
        Format::ModelPack => modelpack_config(),
        _ => tiny_config(),
    };
    ModelPackager::with_options(PackOptions::default().with_format(format).with_output(&out))
        .pack(&tiny_model(), &config)
        .unwrap();
    out
}

/// `archive` signed with one fake bundle holding `bundle`: its path.
pub(crate) fn signed(archive: &Path, bundle: &[u8]) -> PathBuf {
    let new = fake_referrer(&Archive::open(archive).unwrap(), bundle);
    attach_referrers(archive, &[new]).unwrap();
    archive.to_owned()
}

fn digest_of(bytes: &[u8]) -> modeloci_spec::Digest {
    Hasher::digest_bytes(bytes).digest
}

#[test]
fn referrers_attach_to_both_profiles_and_the_model_is_still_chosen() {
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in [("a.tar", Format::Modeloci), ("b.tar", Format::ModelPack)] {
        let path = packed(dir.path(), name, format);
        let before = std::fs::read(&path).unwrap();
        let opened = Archive::open(&path).unwrap();
        let new = fake_referrer(&opened, b"{\"bundle\":1}");
        let model = opened.manifest_digest().clone();
        drop(opened);
        let report = attach_referrers(&path, std::slice::from_ref(&new)).unwrap();
        let referrer = digest_of(&new.manifest_bytes);
        assert_eq!(report.changed, std::slice::from_ref(&referrer));
        assert_eq!(report.referrers, std::slice::from_ref(&referrer));
        assert_eq!(report.manifest_digest, model);

        let archive = Archive::open(&path).unwrap();
        assert_eq!(archive.manifest_digest(), &model);
        assert_eq!(archive.reference_name(), Some("1.0.0"));
        let index = archive.index().unwrap();
        assert_eq!(index.manifests.len(), 2);
        assert_eq!(index.manifests[0].digest, model);
        let listed = &index.manifests[1];
        assert_eq!(listed.digest, referrer);
        assert_eq!(listed.media_type, MediaType::ImageManifest);
        assert_eq!(listed.size, new.manifest_bytes.len() as u64);
        assert_eq!(listed.artifact_type, Some(MediaType::SigstoreBundle));
        assert!(listed.annotations.is_empty());
        let referrers = archive.referrers().unwrap();
        assert_eq!(referrers.len(), 1);
        assert_eq!(referrers[0].bytes, new.manifest_bytes);
        assert!(referrers[0].is_sigstore_bundle());
        let bundle = archive
            .read_blob(&referrers[0].manifest.layers[0], 1024)
            .unwrap();
        assert_eq!(bundle, b"{\"bundle\":1}");
        let report = crate::assert_verifies(&archive);
        assert_eq!(report.referrers.len(), 2);
        assert_eq!(report.failures(), 0);
        drop(archive);

        // Attaching it again changes nothing; removing it gives back what pack wrote.
        let signed = std::fs::read(&path).unwrap();
        let again = attach_referrers(&path, &[new]).unwrap();
        assert!(again.changed.is_empty());
        assert_eq!(std::fs::read(&path).unwrap(), signed);
        let removed = remove_referrers(&path, |_| false).unwrap();
        assert_eq!(removed.changed, [referrer]);
        assert_eq!(std::fs::read(&path).unwrap(), before, "{name}");
    }
    only_entry_pair(dir.path());
}

fn only_entry_pair(dir: &Path) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.tar", "b.tar"]);
}

#[test]
fn signed_archives_are_reproducible_whatever_the_order_of_attaching() {
    let dir = tempfile::tempdir().unwrap();
    let one = packed(dir.path(), "one.tar", Format::Modeloci);
    let two = packed(dir.path(), "two.tar", Format::Modeloci);
    let archive = Archive::open(&one).unwrap();
    let (a, b) = (
        fake_referrer(&archive, b"{\"sig\":\"a\"}"),
        fake_referrer(&archive, b"{\"sig\":\"b\"}"),
    );
    drop(archive);
    attach_referrers(&one, &[a.clone(), b.clone()]).unwrap();
    attach_referrers(&two, std::slice::from_ref(&b)).unwrap();
    attach_referrers(&two, std::slice::from_ref(&a)).unwrap();
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
    let index = Archive::open(&one).unwrap();
    let digests: Vec<_> = index.index().unwrap().manifests[1..]
        .iter()
        .map(|d| d.digest.clone())
        .collect();
    let mut sorted = vec![digest_of(&a.manifest_bytes), digest_of(&b.manifest_bytes)];
    sorted.sort();
    assert_eq!(digests, sorted);
    // The empty config both name is stored once.
    let empty = digest_of(b"{}").blob_path();
    let listing = modeloci_tests::fixtures::listing(&one).unwrap();
    assert_eq!(
        listing.matches(&format!(" {empty}\n")).count(),
        1,
        "{listing}"
    );
}

#[test]
fn a_reference_archive_gains_an_index_listing_model_and_referrer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ref.tar");
    modeloci_tests::reference::write_archive(&tiny_model(), &tiny_config(), &path).unwrap();
    let model = Archive::open(&path).unwrap().manifest_digest().clone();
    signed(&path, b"{\"bundle\":\"ref\"}");
    let archive = Archive::open(&path).unwrap();
    assert_eq!(archive.format(), ArchiveFormat::Layout);
    assert_eq!(archive.manifest_digest(), &model);
    assert_eq!(archive.reference_name(), Some("1.0.0"));
    assert_eq!(archive.referrers().unwrap().len(), 1);
    assert_eq!(crate::assert_verifies(&archive).failures(), 0);
    let listing = modeloci_tests::fixtures::listing(&path).unwrap();
    assert!(listing.contains(" manifest.json\n") && listing.contains(" config.json\n"));
    let out = dir.path().join("out");
    ModelUnpackager::new().unpack(&path, &out).unwrap();
    assert_eq!(crate::tree(&out), crate::tree(&tiny_model()));
}

#[test]
fn a_referrer_that_does_not_fit_leaves_the_archive_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = packed(dir.path(), "a.tar", Format::Modeloci);
    let before = std::fs::read(&path).unwrap();
    let archive = Archive::open(&path).unwrap();
    let good = fake_referrer(&archive, b"{}x");

    let mut other = OciManifest::from_slice(&good.manifest_bytes).unwrap();
    let wrong = digest_of(b"another model");
    other.subject = Some(Descriptor::new(MediaType::ImageManifest, wrong.clone(), 9));
    let mismatch = NewReferrer {
        manifest_bytes: other.to_json(),
        blobs: good.blobs.clone(),
    };
    let missing = NewReferrer {
        manifest_bytes: good.manifest_bytes.clone(),
        blobs: vec![b"{}".to_vec()],
    };
    let mut bare = OciManifest::from_slice(&good.manifest_bytes).unwrap();
    bare.subject = None;
    let no_subject = NewReferrer {
        manifest_bytes: bare.to_json(),
        blobs: good.blobs.clone(),
    };
    drop(archive);
    let model = Archive::open(&path).unwrap().manifest_digest().clone();
    let bundle = digest_of(b"{}x");
    for (new, reason) in [
        (
            &mismatch,
            format!("its subject is {wrong}, not the archive's model manifest {model}"),
        ),
        (
            &missing,
            format!("blob {bundle} is neither given nor in the archive"),
        ),
        (&no_subject, "it has no subject".to_owned()),
    ] {
        // The good one first: nothing is written unless all of them fit.
        let err = attach_referrers(&path, &[good.clone(), new.clone()]).unwrap_err();
        let Error::BadReferrer {
            digest,
            reason: got,
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(*digest, digest_of(&new.manifest_bytes));
        assert_eq!(*got, reason);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        only_entry(dir.path(), "a.tar");
    }
}

#[test]
fn repack_carries_referrers_and_add_refuses_or_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = signed(&packed(dir.path(), "a.tar", Format::Modeloci), b"{\"s\":1}");
    let signed_bytes = std::fs::read(&path).unwrap();
    let referrer = Archive::open(&path).unwrap().referrers().unwrap()[0]
        .descriptor
        .digest
        .clone();

    let copy = dir.path().join("copy.tar");
    repack(&Archive::open(&path).unwrap(), &copy, 0).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), signed_bytes);

    let extra = dir.path().join("extra.txt");
    std::fs::write(&extra, b"more").unwrap();
    let packager = ModelPackager::new();
    let err = packager
        .add(&path, &extra, &AddOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} holds 1 referrer(s) of its model (signatures); adding a file would leave them \
             stale",
            path.display()
        )
    );
    assert!(matches!(err, Error::HasReferrers { count: 1, .. }));
    assert_eq!(std::fs::read(&path).unwrap(), signed_bytes);

    let report = packager
        .add(
            &path,
            &extra,
            &AddOptions::default().with_drop_referrers(true),
        )
        .unwrap();
    assert_eq!(report.dropped_referrers, [referrer]);
    let archive = Archive::open(&path).unwrap();
    assert!(archive.referrers().unwrap().is_empty());
    assert_eq!(archive.index().unwrap().manifests.len(), 1);
    assert!(
        archive
            .layers()
            .iter()
            .any(|l| l.title() == Some("extra.txt"))
    );
}

#[test]
fn verify_names_a_corrupt_bundle_blob() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = b"{\"bundle\":\"find-me-0123456789\"}";
    let path = signed(&packed(dir.path(), "a.tar", Format::Modeloci), bundle);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(bundle.len())
        .position(|w| w == bundle)
        .unwrap();
    bytes[at + 12] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let archive = Archive::open(&path).unwrap();
    let report = verify(&archive, 2).unwrap();
    // The bundle blob's check, and the refusal that names it.
    assert_eq!(report.failures(), 2);
    let digest = digest_of(bundle);
    let failed: Vec<_> = report
        .referrers
        .iter()
        .filter(|c| !c.status.is_ok())
        .map(|c| c.digest.clone())
        .collect();
    assert_eq!(failed, std::slice::from_ref(&digest));
    let refused = report.refused.unwrap();
    assert!(refused.contains(&digest.to_string()), "{refused}");
}

#[test]
fn an_index_with_too_many_referrers_is_refused_when_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = packed(dir.path(), "a.tar", Format::Modeloci);
    let layout = dir.path().join("layout");
    ModelUnpackager::with_options(UnpackOptions::default().with_layout(true))
        .extract(&path, &layout)
        .unwrap();
    let index_path = layout.join("index.json");
    let mut index = OciIndex::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    for i in 0..1001u32 {
        let d = digest_of(&i.to_le_bytes());
        index.manifests.push(
            Descriptor::new(MediaType::ImageManifest, d, 10)
                .with_artifact_type(MediaType::SigstoreBundle),
        );
    }
    let unsigned = Archive::open(&layout).unwrap();
    let err = attach_referrers(&layout, &[fake_referrer(&unsigned, b"{}")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a layout directory; referrers are attached to archive files",
            layout.display()
        )
    );
    drop(unsigned);
    std::fs::write(&index_path, index.to_json()).unwrap();
    let archive = Archive::open(&layout).unwrap();
    let err = archive.referrers().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} lists 1001 referrers of its model, more than the 1000 read",
            layout.display()
        )
    );
}

/// The tiny model's files and the SHA-256 of each, sorted by path.
fn expected_digests() -> Vec<FileDigest> {
    crate::tree(&tiny_model())
        .into_iter()
        .map(|(path, bytes, _)| FileDigest {
            path,
            digest: digest_of(&bytes),
        })
        .collect()
}

fn sorted(mut files: Vec<FileDigest>) -> Vec<FileDigest> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

#[test]
fn file_digests_from_the_manifest_agree_with_what_unpack_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let expected = expected_digests();
    for (name, format) in [("a.tar", Format::Modeloci), ("b.tar", Format::ModelPack)] {
        let path = packed(dir.path(), name, format);
        let archive = Archive::open(&path).unwrap();
        let recorded = recorded_file_digests(archive.manifest()).unwrap().unwrap();
        assert_eq!(sorted(recorded), expected, "{name}");
        let hashed = ModelUnpackager::new().file_digests(&archive).unwrap();
        assert_eq!(sorted(hashed), expected, "{name}");
        let out = dir.path().join(format!("{name}.out"));
        let report = ModelUnpackager::new().extract_from(&archive, &out).unwrap();
        let written = report
            .files
            .into_iter()
            .map(|f| FileDigest {
                path: f.path,
                digest: f.digest,
            })
            .collect();
        assert_eq!(sorted(written), expected, "{name}");
    }
    // The reference's archives record no file digests; hashing still tells them.
    let path = dir.path().join("ref.tar");
    modeloci_tests::reference::write_archive(&tiny_model(), &tiny_config(), &path).unwrap();
    let archive = Archive::open(&path).unwrap();
    assert_eq!(recorded_file_digests(archive.manifest()).unwrap(), None);
    let hashed = ModelUnpackager::new().file_digests(&archive).unwrap();
    assert_eq!(sorted(hashed), expected);
}

#[test]
fn a_file_digest_annotation_that_is_not_a_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = packed(dir.path(), "a.tar", Format::Modeloci);
    let mut manifest = Archive::open(&path).unwrap().manifest().clone();
    manifest.layers[0]
        .annotations
        .insert(annotations::FILE_DIGEST.to_owned(), "sha256:nothex".into());
    let title = manifest.layers[0].title().unwrap().to_owned();
    let err = recorded_file_digests(&manifest).unwrap_err();
    assert!(
        matches!(&err, Error::BadLayer { title: t, .. } if *t == title),
        "{err}"
    );
}

#[derive(Debug)]
struct Unsigned(usize);

impl std::fmt::Display for Unsigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} files are not signed", self.0)
    }
}

impl std::error::Error for Unsigned {}

#[test]
fn a_failed_check_publishes_nothing_and_carries_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = packed(dir.path(), "a.tar", Format::Modeloci);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let options = UnpackOptions::default()
        .with_include(["*.json"])
        .with_check(Arc::new(move |files| {
            record.lock().unwrap().extend(
                files
                    .iter()
                    .map(|f| (f.path.clone(), f.size, f.digest.clone())),
            );
            Err(Box::new(Unsigned(files.len())))
        }));
    let out = dir.path().join("out");
    let err = ModelUnpackager::with_options(options)
        .extract(&path, &out)
        .unwrap_err();
    let Error::CheckFailed { source } = &err else {
        panic!("{err}");
    };
    let unsigned = source.downcast_ref::<Unsigned>().unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let mut json: Vec<_> = crate::tree(&tiny_model())
        .into_iter()
        .filter(|(p, _, _)| p.ends_with(".json") && !p.contains('/'))
        .map(|(p, b, _)| (p, b.len() as u64, digest_of(&b)))
        .collect();
    json.sort();
    assert_eq!(seen, json);
    assert_eq!(unsigned.0, json.len());
    assert_eq!(
        err.to_string(),
        format!(
            "the unpacked files failed the check: {} files are not signed",
            json.len()
        )
    );
    assert!(!out.exists());
    only_entry(dir.path(), "a.tar");

    // A target holding files already (--force) is left as it was too.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    let options = UnpackOptions::default()
        .with_force(true)
        .with_check(Arc::new(|_| Err("no".into())));
    ModelUnpackager::with_options(options)
        .extract(&path, &out)
        .unwrap_err();
    only_entry(&out, "keep.txt");
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"mine");
}

#[test]
fn a_referrer_listed_without_an_artifact_type_is_still_not_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = signed(&packed(dir.path(), "a.tar", Format::Modeloci), b"{\"s\":2}");
    let layout = dir.path().join("layout");
    ModelUnpackager::with_options(UnpackOptions::default().with_layout(true))
        .extract(&path, &layout)
        .unwrap();
    let index_path = layout.join("index.json");
    let mut index = OciIndex::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index.manifests[1].artifact_type = None;
    std::fs::write(&index_path, index.to_json()).unwrap();
    let archive = Archive::open(&layout).unwrap();
    assert_eq!(archive.manifest_digest(), &index.manifests[0].digest);
    let referrers = archive.referrers().unwrap();
    assert_eq!(referrers.len(), 1);
    assert!(referrers[0].is_sigstore_bundle());
    assert_eq!(crate::assert_verifies(&archive).failures(), 0);
}

#[test]
fn a_referrer_over_the_document_cap_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = packed(dir.path(), "a.tar", Format::Modeloci);
    let layout = dir.path().join("layout");
    ModelUnpackager::with_options(UnpackOptions::default().with_layout(true))
        .extract(&path, &layout)
        .unwrap();
    let index_path = layout.join("index.json");
    let mut index = OciIndex::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let huge = digest_of(b"a 100 MB manifest");
    index.manifests.push(
        Descriptor::new(MediaType::ImageManifest, huge.clone(), 100 << 20)
            .with_artifact_type(MediaType::SigstoreBundle),
    );
    std::fs::write(&index_path, index.to_json()).unwrap();
    let archive = Archive::open(&layout).unwrap();
    let expected = format!(
        "referrer manifest blob {huge} is 104857600 bytes, more than the 4194304-byte limit \
         for such documents"
    );
    assert_eq!(archive.referrers().unwrap_err().to_string(), expected);
    let report = verify(&archive, 2).unwrap();
    assert_eq!(report.refused.as_deref(), Some(expected.as_str()));
    assert_eq!(report.failures(), 1);
    // Unpack refuses what verify refuses, and writes nothing.
    let out = dir.path().join("out");
    let err = ModelUnpackager::new()
        .extract_from(&archive, &out)
        .unwrap_err();
    assert_eq!(err.to_string(), expected);
    assert!(!out.exists());
}

#[test]
fn attaching_for_files_hashes_every_layer_once_and_refuses_a_corrupt_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = packed(dir.path(), "a.tar", Format::Modeloci);
    let unsigned = std::fs::read(&path).unwrap();
    // The files `make` sees are the model's, hashed from the layers; what it returns is
    // attached as `attach_referrers` would, to the same bytes.
    let mut seen = Vec::new();
    modeloci_archive::attach_referrers_for_files(
        &path,
        &ModelUnpackager::new(),
        |archive, files| {
            seen = sorted(files);
            Ok(vec![fake_referrer(archive, b"bundle")])
        },
    )
    .unwrap();
    assert_eq!(seen, sorted(expected_digests()));
    let once = std::fs::read(&path).unwrap();
    std::fs::write(&path, &unsigned).unwrap();
    signed(&path, b"bundle");
    assert_eq!(std::fs::read(&path).unwrap(), once);

    // A refusal by `make` and a corrupt layer each leave the archive as it was.
    std::fs::write(&path, &unsigned).unwrap();
    let err =
        modeloci_archive::attach_referrers_for_files(&path, &ModelUnpackager::new(), |_, _| {
            Err("no signature today".into())
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::CheckFailed { source } if source.to_string() == "no signature today"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), unsigned);
    // Flip a byte in the middle of the first layer's blob (its entry's data follows the
    // header that names it).
    let mut corrupt = unsigned.clone();
    let first_layer = Archive::open(&path).unwrap().manifest().layers[0].clone();
    let name = first_layer.digest.hex().to_owned();
    let header = corrupt
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .unwrap();
    let data = (header / 512 + 1) * 512;
    corrupt[data + first_layer.size as usize / 2] ^= 0x40;
    std::fs::write(&path, &corrupt).unwrap();
    let err =
        modeloci_archive::attach_referrers_for_files(&path, &ModelUnpackager::new(), |_, _| {
            panic!("make must not run on a corrupt archive")
        })
        .unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), corrupt);
    only_entry(dir.path(), "a.tar");
}
