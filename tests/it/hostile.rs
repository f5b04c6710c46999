//! Hostile archives, one per case of `docs/format.md` §7: each gives its exact error, writes
//! nothing outside the target and leaves nothing inside it.

use std::path::Path;

use modeloci_archive::{ModelUnpackager, UnpackOptions};
use modeloci_digest::Hasher;
use modeloci_spec::{Descriptor, MediaType, OciIndex};
use modeloci_tests::layout::{Artifact, Layer};
use modeloci_tests::rawtar::{Raw, entries, gzip, tar};

use crate::names;

/// A gzip layer whose tar holds `entries`.
fn gz(title: &str, entries: &[Raw]) -> Layer {
    raw_gz(title, tar(entries))
}

fn raw_gz(title: &str, tar_bytes: Vec<u8>) -> Layer {
    Layer::new(MediaType::ImageLayerGzip, gzip(&tar_bytes)).titled(title)
}

/// A well-formed layer holding `data` at `title`.
fn good(title: &str, data: &[u8]) -> Layer {
    gz(title, &[Raw::file(title, data)])
}

/// An archive (as bytes) of these layers with a valid modeloci manifest and index, plus
/// `extra` outer entries.
fn archive(layers: &[Layer], extra: &[Raw]) -> Vec<u8> {
    let mut artifact = Artifact::new(
        MediaType::ModelociConfig,
        &modeloci_tests::fixtures::tiny_config().to_json(),
        layers.to_vec(),
    )
    .artifact_type(MediaType::ModelociArtifact);
    artifact.extra = extra.to_vec();
    artifact.to_tar()
}

/// Unpacks `bytes` and checks the error, and that the target and its parent are untouched.
#[track_caller]
fn check(case: &str, bytes: &[u8], layout: bool, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("hostile.tar");
    std::fs::write(&archive, bytes).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let target = work.join("out");
    let err = ModelUnpackager::with_options(UnpackOptions::default().with_layout(layout))
        .extract(&archive, &target)
        .expect_err(case);
    assert_eq!(err.to_string(), expected, "{case}");
    assert!(!target.exists(), "{case}: the target was created");
    assert_eq!(
        names(&work),
        Vec::<String>::new(),
        "{case}: left something beside the target"
    );
    assert_eq!(
        names(dir.path()),
        ["hostile.tar", "work"],
        "{case}: wrote outside the target"
    );
    assert!(
        !Path::new(&format!("/tmp/modeloci-evil-{}", std::process::id())).exists(),
        "{case}"
    );
}

/// Why an entry under `blobs/` that is not a blob is refused.
const NOT_A_BLOB: &str = "under blobs/ an OCI layout holds only blobs/<algorithm>/<hex digest>";

fn refused(entry: &str, why: &str) -> String {
    format!("refusing entry {entry:?}: {why}")
}

#[test]
fn hostile_layer_titles_and_entries() {
    let evil = format!("/tmp/modeloci-evil-{}", std::process::id());
    let config_layer = || good("config.json", b"{}");
    let cases: Vec<(&str, Vec<Layer>, String)> = vec![
        (
            "absolute title",
            vec![config_layer(), good(&evil, b"x")],
            refused(&evil, "absolute path"),
        ),
        (
            "dot-dot title",
            vec![good("../evil.txt", b"x")],
            refused("../evil.txt", "path has a '..' component"),
        ),
        (
            "nested dot-dot",
            vec![good("a/../../evil.txt", b"x")],
            refused("a/../../evil.txt", "path has a '..' component"),
        ),
        (
            "drive letter",
            vec![good("C:\\evil.txt", b"x")],
            refused("C:\\evil.txt", "Windows drive, UNC or backslash path"),
        ),
        (
            "UNC path",
            vec![good("\\\\host\\share\\x", b"x")],
            refused("\\\\host\\share\\x", "Windows drive, UNC or backslash path"),
        ),
        (
            "NUL in title",
            vec![good("a\0b", b"x")],
            refused("a\0b", "path holds a NUL or control character"),
        ),
        (
            "empty component",
            vec![good("a//b", b"x")],
            refused("a//b", "path has an empty or '.' component"),
        ),
        (
            "symlink entry",
            vec![
                config_layer(),
                gz(
                    "model.bin",
                    &[Raw::special("model.bin", b'2', "/etc/passwd")],
                ),
            ],
            refused("model.bin", "symbolic link (to \"/etc/passwd\")"),
        ),
        (
            "hardlink entry",
            vec![gz(
                "model.bin",
                &[Raw::special("model.bin", b'1', "config.json")],
            )],
            refused("model.bin", "hard link (to \"config.json\")"),
        ),
        (
            "char device",
            vec![gz("dev", &[Raw::special("dev", b'3', "")])],
            refused("dev", "character device"),
        ),
        (
            "block device",
            vec![gz("dev", &[Raw::special("dev", b'4', "")])],
            refused("dev", "block device"),
        ),
        (
            "fifo",
            vec![gz("pipe", &[Raw::special("pipe", b'6', "")])],
            refused("pipe", "FIFO"),
        ),
        (
            "gnu sparse",
            vec![gz(
                "model.bin",
                &[Raw {
                    typeflag: b'S',
                    ..Raw::file("model.bin", &[0; 512])
                }],
            )],
            refused("model.bin", "GNU sparse file"),
        ),
        (
            "pax sparse",
            vec![gz(
                "model.bin",
                &[
                    Raw::pax(&[("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0")]),
                    Raw::file("model.bin", b"x"),
                ],
            )],
            refused("model.bin", "GNU sparse file"),
        ),
        (
            "duplicate titles",
            vec![good("a.bin", b"1"), good("a.bin", b"2")],
            refused("a.bin", "duplicate path"),
        ),
        (
            "case collision",
            vec![good("Model.bin", b"1"), good("model.bin", b"2")],
            refused("model.bin", "differs only in case from \"Model.bin\""),
        ),
        (
            "file and directory",
            vec![good("a", b"1"), good("a/b", b"2")],
            refused("a/b", "file and directory at once (with \"a\")"),
        ),
        (
            "two entries",
            vec![gz(
                "model.bin",
                &[Raw::file("model.bin", b"x"), Raw::file("other.bin", b"y")],
            )],
            "layer \"model.bin\": the layer tar holds more than one entry (\"other.bin\" follows)"
                .into(),
        ),
        (
            "entry differs from title",
            vec![gz("model.bin", &[Raw::file("other.bin", b"x")])],
            "layer \"model.bin\": the layer tar holds \"other.bin\", not the file its title names"
                .into(),
        ),
        (
            "entry escapes though the title does not",
            vec![gz("model.bin", &[Raw::file("../model.bin", b"x")])],
            refused("../model.bin", "path has a '..' component"),
        ),
        (
            "empty layer tar",
            vec![gz("model.bin", &[])],
            "layer \"model.bin\": the layer tar holds no entry".into(),
        ),
        (
            "decompressed data beyond the tar",
            vec![raw_gz("model.bin", {
                let mut t = tar(&[Raw::file("model.bin", b"x")]);
                t.extend_from_slice(b"smuggled bytes after the end of the archive");
                t
            })],
            "layer \"model.bin\": decompressed data larger than the tar header declares".into(),
        ),
        (
            "decompression bomb of zeros",
            vec![raw_gz("model.bin", {
                let mut t = tar(&[Raw::file("model.bin", b"x")]);
                t.resize(t.len() + (64 << 20), 0);
                t
            })],
            "layer \"model.bin\": decompressed data larger than the tar header declares".into(),
        ),
        (
            "huge GNU long name",
            vec![gz(
                "model.bin",
                &[Raw {
                    typeflag: b'L',
                    ..Raw::file("././@LongLink", b"model.bin\0").with_size(512 << 20)
                }],
            )],
            refused(
                "././@LongLink",
                "GNU long name of 536870912 bytes is over the 65536-byte limit",
            ),
        ),
        (
            "huge PAX header",
            vec![gz(
                "model.bin",
                &[Raw {
                    typeflag: b'x',
                    ..Raw::file("././@PaxHeader", b"").with_size(100 << 20)
                }],
            )],
            refused(
                "././@PaxHeader",
                "PAX header of 104857600 bytes is over the 65536-byte limit",
            ),
        ),
        (
            "PAX size contradicts the header",
            vec![gz(
                "model.bin",
                &[
                    Raw::pax(&[("size", "5")]),
                    Raw::file("model.bin", b"0123456789"),
                ],
            )],
            refused(
                "model.bin",
                "PAX record \"size=5 (the header says 10)\" is not accepted",
            ),
        ),
        (
            "directory with data",
            vec![gz("model.bin", &[Raw::dir("model.bin").with_size(1024)])],
            refused(
                "model.bin",
                "entry that holds no data declares 1024 bytes of it",
            ),
        ),
        (
            "no title",
            vec![{
                let mut layer = good("x", b"x");
                layer.annotations.clear();
                layer
            }],
            format!(
                "layer \"#0\": layer {} has no org.opencontainers.image.title annotation",
                good("x", b"x").digest()
            ),
        ),
        (
            "unknown layer type",
            vec![Layer {
                media_type: MediaType::Other("application/x-mystery".into()),
                ..good("x", b"x")
            }],
            "layer \"x\" has media type application/x-mystery, which this tool cannot unpack"
                .into(),
        ),
    ];
    for (case, layers, expected) in cases {
        check(case, &archive(&layers, &[]), false, &expected);
    }
}

#[test]
fn blobs_that_do_not_match_their_descriptors() {
    let honest = good("model.bin", b"the real weights");
    let digest = honest.digest();
    let size = honest.blob.len() as u64;

    // The blob stored under the honest digest's name holds other bytes of the same length.
    let mut tampered = honest.blob.clone();
    let last = tampered.len() - 9;
    tampered[last] ^= 0x40;
    let bytes = archive(
        &[Layer {
            stored: false,
            ..good("model.bin", b"the real weights")
        }],
        &[Raw::file(&digest.blob_path(), &tampered)],
    );
    let actual = Hasher::digest_bytes(&tampered).digest;
    check(
        "digest mismatch",
        &bytes,
        false,
        &format!("layer model.bin blob {digest}: digest mismatch: expected {digest}, got {actual}"),
    );

    let mut lying_size = good("model.bin", b"the real weights");
    lying_size.claim = Some((digest.clone(), size + 1));
    check(
        "size mismatch",
        &archive(&[lying_size], &[]),
        false,
        &format!(
            "layer model.bin blob {digest}: size mismatch: expected {} bytes, got {size}",
            size + 1
        ),
    );

    let missing = Layer {
        stored: false,
        ..good("model.bin", b"x")
    };
    let missing_digest = missing.digest();
    check(
        "missing blob",
        &archive(&[missing], &[]),
        false,
        &format!("layer model.bin blob {missing_digest} is missing from the archive"),
    );
}

#[test]
fn hostile_outer_entries_in_layout_mode() {
    let config_layers = || vec![good("config.json", b"{}")];
    let evil = format!("/tmp/modeloci-evil-{}", std::process::id());
    let cases: Vec<(&str, Vec<Raw>, String)> = vec![
        (
            "absolute entry",
            vec![Raw::file(&evil, b"x")],
            refused(&evil, "absolute path"),
        ),
        (
            "dot-dot entry",
            vec![Raw::file("../evil", b"x")],
            refused("../evil", "path has a '..' component"),
        ),
        (
            "symlink entry",
            vec![Raw::special("blobs/link", b'2', "/etc")],
            refused("blobs/link", "symbolic link (to \"/etc\")"),
        ),
        (
            "device entry",
            vec![Raw::special("dev", b'3', "")],
            refused("dev", "character device"),
        ),
        (
            "blob named by another digest",
            vec![Raw::file(
                &format!("blobs/sha256/{}", "0".repeat(64)),
                b"not that",
            )],
            format!(
                "entry blobs/sha256/{zero} blob sha256:{zero}: digest mismatch: expected sha256:{zero}, got {}",
                Hasher::digest_bytes(b"not that").digest,
                zero = "0".repeat(64)
            ),
        ),
    ];
    for (case, extra, expected) in cases {
        check(case, &archive(&config_layers(), &extra), true, &expected);
    }
}

#[test]
fn broken_archives_fail_to_open_with_the_reason() {
    let valid = archive(&[good("config.json", b"{}")], &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    let open = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        modeloci_archive::Archive::open(&path)
            .unwrap_err()
            .to_string()
    };
    let p = path.display();
    // Cut where the index's header begins: the last whole entry is the manifest blob.
    let (index, index_data, _) = entries(&valid).pop().unwrap();
    assert_eq!(index, "index.json");
    let manifest_blob = entries(&valid).into_iter().nth_back(1).unwrap().0;
    let cut = usize::try_from(index_data - 512).unwrap();
    std::fs::write(&path, &valid[..cut]).unwrap();
    let err = modeloci_archive::Archive::open(&path).unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{p}: the archive is truncated at byte {cut}: the archive ends without an end-of-archive marker, after entry {manifest_blob:?}"
        )
    );
    assert!(
        matches!(err, modeloci_archive::Error::Truncated { .. }),
        "{err:?}"
    );
    // Cut inside the index's data.
    assert_eq!(
        open(&valid[..cut + 600]),
        format!(
            "{p}: the archive is truncated at byte {}: entry \"index.json\" of {} bytes runs past the end of the file ({} bytes)",
            cut + 600,
            entries(&valid).pop().unwrap().2,
            cut + 600
        )
    );
    let mut dup = valid.clone();
    dup.truncate(dup.len() - 1024);
    dup.extend(tar(&[Raw::file("index.json", b"{}")]));
    assert_eq!(open(&dup), refused("index.json", "duplicate path"));
    let mut flipped = valid.clone();
    flipped[100] ^= 1;
    assert!(open(&flipped).starts_with(&format!(
        "{p}: not a model archive: it is neither a tar file nor an OCI layout directory (bad header checksum"
    )));
    assert_eq!(
        open(b""),
        format!("{p}: the archive is truncated at byte 0: the file is empty")
    );
    assert_eq!(
        open(&[0; 10240]),
        format!("{p}: not a model archive: the tar is empty")
    );
    assert_eq!(
        open(&tar(&[Raw::file("hello.txt", b"hi")])),
        format!("{p}: not a model archive: no index.json or manifest.json at its root")
    );

    // A manifest naming a digest that is not a digest fails before any path is built.
    let manifest = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:../../../../etc/passwd","size":1}}"#;
    let m = Hasher::digest_bytes(manifest);
    let index = OciIndex::new(vec![Descriptor::new(
        MediaType::ImageManifest,
        m.digest.clone(),
        m.size,
    )])
    .to_json();
    let bytes = tar(&[
        Raw::file(&m.digest.blob_path(), manifest),
        Raw::file("index.json", &index),
    ]);
    assert_eq!(
        open(&bytes),
        format!(
            "manifest {}: invalid manifest JSON: invalid digest \"sha256:../../../../etc/passwd\": a sha256 digest has 64 hexadecimal characters at line 1 column 85",
            m.digest
        )
    );
}

/// What verify says of `bytes`: whether every check passed, and why unpack refuses them.
fn verified(bytes: &[u8]) -> (bool, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, bytes).unwrap();
    let archive = modeloci_archive::Archive::open(&path).unwrap();
    let report = modeloci_archive::verify(&archive, 2).unwrap();
    assert_eq!(
        archive.check_layout().err().map(|e| e.to_string()),
        report.refused
    );
    (report.is_ok(), report.refused)
}

#[test]
fn outer_entries_unpack_refuses_fail_verify_too() {
    let layers = || vec![good("config.json", b"{}")];
    let blob = good("config.json", b"{}").digest().blob_path();
    let upper = blob
        .to_uppercase()
        .replacen("BLOBS/SHA256", "blobs/sha256", 1);
    let evil = format!("/tmp/modeloci-evil-{}", std::process::id());
    let cases: Vec<(&str, Raw, String)> = vec![
        (
            "dot-dot file",
            Raw::file("../escaped.txt", b"x"),
            refused("../escaped.txt", "path has a '..' component"),
        ),
        (
            "absolute file",
            Raw::file(&evil, b"x"),
            refused(&evil, "absolute path"),
        ),
        (
            "symlink",
            Raw::special("blobs/evil", b'2', "/tmp"),
            refused("blobs/evil", "symbolic link (to \"/tmp\")"),
        ),
        (
            "hard link",
            Raw::special("blobs/hard", b'1', "index.json"),
            refused("blobs/hard", "hard link (to \"index.json\")"),
        ),
        (
            "fifo",
            Raw::special("pipe", b'6', ""),
            refused("pipe", "FIFO"),
        ),
        (
            "char device",
            Raw::special("zero", b'3', ""),
            refused("zero", "character device"),
        ),
        (
            "a blob path in other case",
            Raw::file(&upper, b"{}"),
            refused(&upper, &format!("differs only in case from {blob:?}")),
        ),
        (
            "a directory where a blob is",
            Raw::dir(&format!("{blob}/")),
            refused(
                &blob,
                &format!("file and directory at once (with {blob:?})"),
            ),
        ),
        (
            "an empty component",
            Raw::file("blobs//x", b"x"),
            refused("blobs//x", "path has an empty or '.' component"),
        ),
        (
            "a file under blobs/sha256 not named by a digest",
            Raw::file("blobs/sha256/readme.txt", b"x"),
            refused("blobs/sha256/readme.txt", NOT_A_BLOB),
        ),
        (
            "a file directly under blobs",
            Raw::file("blobs/notes", b"x"),
            refused("blobs/notes", NOT_A_BLOB),
        ),
        (
            "a blob of an unknown algorithm",
            Raw::file(&format!("blobs/md5/{}", "0".repeat(32)), b"x"),
            refused(&format!("blobs/md5/{}", "0".repeat(32)), NOT_A_BLOB),
        ),
        (
            "a directory below blobs/sha256",
            Raw::dir("blobs/sha256/nested/"),
            refused("blobs/sha256/nested", NOT_A_BLOB),
        ),
        (
            "a directory of an unknown algorithm",
            Raw::dir("blobs/md5/"),
            refused("blobs/md5", NOT_A_BLOB),
        ),
    ];
    for (case, extra, expected) in cases {
        let bytes = archive(&layers(), &[extra]);
        assert_eq!(verified(&bytes), (false, Some(expected.clone())), "{case}");
        check(case, &bytes, false, &expected);
        check(case, &bytes, true, &expected);
    }
}

#[test]
fn a_blob_entry_that_is_a_link_fails_verify_without_an_error() {
    let layer = good("config.json", b"{}");
    let target = layer.digest().blob_path();
    let bytes = archive(
        &[Layer {
            stored: false,
            ..layer
        }],
        &[Raw::special(&target, b'2', "/etc/passwd")],
    );
    let why = refused(&target, "symbolic link (to \"/etc/passwd\")");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, &bytes).unwrap();
    let archive = modeloci_archive::Archive::open(&path).unwrap();
    let report = modeloci_archive::verify(&archive, 2).unwrap();
    assert_eq!(report.refused.as_deref(), Some(why.as_str()));
    assert_eq!(
        report.layers[0].status,
        modeloci_archive::BlobStatus::Refused {
            refusal: modeloci_archive::Refusal::Symlink {
                target: "/etc/passwd".into()
            }
        }
    );
    check("link blob", &bytes, false, &why);
}

#[test]
fn manifests_unpack_refuses_fail_verify_too() {
    let a = good("a.bin", b"1");
    let a_digest = a.digest();
    let config = modeloci_tests::fixtures::tiny_config().to_json();
    let with_config = |config: &[u8], layers: Vec<Layer>| {
        Artifact::new(MediaType::ModelociConfig, config, layers)
            .artifact_type(MediaType::ModelociArtifact)
    };
    let mut shared_title = good("b.bin", b"2");
    shared_title.blob = a.blob.clone();
    let config_layer = Layer::new(MediaType::ImageLayerGzip, config.clone()).titled("config.bin");
    let config_digest = config_layer.digest();
    let mut index_to_layer = with_config(&config, vec![a.clone()]);
    index_to_layer.index_extra = vec![Descriptor::new(
        MediaType::ImageLayerGzip,
        a_digest.clone(),
        a.blob.len() as u64,
    )];
    let index_manifest = Hasher::digest_bytes(&index_to_layer.manifest()).digest;
    let cases: Vec<(&str, Artifact, String)> = vec![
        (
            "the same layer twice",
            with_config(&config, vec![a.clone(), a.clone()]),
            refused("a.bin", "duplicate path"),
        ),
        (
            "same title, other blobs",
            with_config(&config, vec![a.clone(), good("a.bin", b"2")]),
            refused("a.bin", "duplicate path"),
        ),
        (
            "titles differing in case",
            with_config(&config, vec![a.clone(), good("A.bin", b"2")]),
            refused("A.bin", "differs only in case from \"a.bin\""),
        ),
        (
            "one layer tar under two titles",
            with_config(&config, vec![a.clone(), shared_title]),
            format!(
                "layer \"b.bin\": its blob {a_digest} is also layer \"a.bin\"'s; only raw layers may share a blob"
            ),
        ),
        (
            "the config descriptor names a layer blob",
            with_config(&a.blob, vec![a.clone()]),
            format!("layer \"a.bin\": its blob {a_digest} is the config blob"),
        ),
        (
            "the config blob is also a layer",
            with_config(&config, vec![a.clone(), config_layer]),
            format!("layer \"config.bin\": its blob {config_digest} is the config blob"),
        ),
        (
            "an index entry names a layer blob",
            index_to_layer,
            format!(
                "manifest {index_manifest}: index.json entry {a_digest} names the blob of layer \"a.bin\""
            ),
        ),
    ];
    for (case, artifact, expected) in cases {
        let bytes = artifact.to_tar();
        let (ok, why) = verified(&bytes);
        assert_eq!(
            (ok, why.as_deref()),
            (false, Some(expected.as_str())),
            "{case}"
        );
        check(case, &bytes, false, &expected);
    }
}

#[test]
fn a_missing_config_blob_is_missing_whatever_root_config_json_holds() {
    let config = modeloci_tests::fixtures::tiny_config().to_json();
    let digest = Hasher::digest_bytes(&config).digest;
    let mut artifact = Artifact::new(
        MediaType::ModelociConfig,
        &config,
        vec![good("model.bin", b"weights")],
    )
    .artifact_type(MediaType::ModelociArtifact);
    artifact.config_stored = false;
    // The root copy holds exactly the config's bytes: still no config blob.
    artifact.extra = vec![Raw::file("config.json", &config)];
    let missing = format!("config blob {digest} is missing from the archive");
    check("no config blob", &artifact.to_tar(), false, &missing);

    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("a.tar");
    std::fs::write(&tar_path, artifact.to_tar()).unwrap();
    let layout = dir.path().join("layout");
    artifact.write_dir(&layout);
    for path in [&tar_path, &layout] {
        let archive = modeloci_archive::Archive::open(path).unwrap();
        let report = modeloci_archive::verify(&archive, 2).unwrap();
        assert_eq!(
            report.config.status,
            modeloci_archive::BlobStatus::Missing,
            "{path:?}"
        );
        assert!(!report.is_ok(), "{path:?}");
        assert_eq!(archive.config_bytes().unwrap_err().to_string(), missing);
        let out = dir.path().join("out");
        let err = ModelUnpackager::new().extract(path, &out).unwrap_err();
        assert!(err.is_verification_failure(), "{err}");
        assert_eq!(err.to_string(), missing, "{path:?}");
        assert!(!out.exists());
    }
}

/// The text of `path`'s link target.
fn link_to(path: &Path) -> String {
    std::fs::read_link(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_layout_directory_is_read_without_following_links() {
    let layer = good("model.bin", b"weights");
    let blob = layer.digest().blob_path();
    let artifact = modeloci_tests::layout::modeloci_artifact(vec![layer.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let layout = dir
            .path()
            .join(format!("layout-{}", name.replace('/', "-")));
        artifact.write_dir(&layout);
        layout
    };
    // Moves `entry` away and puts a link to where it went in its place.
    let relink = |layout: &Path, entry: &str| {
        let away = dir.path().join(format!("away-{}", entry.replace('/', "-")));
        std::fs::rename(layout.join(entry), &away).unwrap();
        std::os::unix::fs::symlink(&away, layout.join(entry)).unwrap();
        link_to(&layout.join(entry))
    };
    let open = |layout: &Path| modeloci_archive::Archive::open(layout);

    // A link on the way to every blob, or to the index: refused as the archive is opened.
    for (case, entry) in [
        ("blobs", "blobs"),
        ("blobs/sha256", "blobs/sha256"),
        ("index.json", "index.json"),
    ] {
        let layout = fresh(case);
        let target = relink(&layout, entry);
        assert_eq!(
            open(&layout).unwrap_err().to_string(),
            refused(entry, &format!("symbolic link (to {target:?})")),
            "{case}"
        );
    }

    // The blob itself: a link to the right bytes, a dangling link, a directory, a FIFO.
    let unpack_err = |layout: &Path| {
        let out = dir.path().join("out");
        let err = ModelUnpackager::new()
            .extract(layout, &out)
            .unwrap_err()
            .to_string();
        assert!(!out.exists());
        err
    };
    let layout = fresh("link");
    let target = relink(&layout, &blob);
    let dangling = fresh("dangling");
    std::fs::remove_file(dangling.join(&blob)).unwrap();
    std::os::unix::fs::symlink("nowhere", dangling.join(&blob)).unwrap();
    let directory = fresh("directory");
    std::fs::remove_file(directory.join(&blob)).unwrap();
    std::fs::create_dir(directory.join(&blob)).unwrap();
    let fifo = fresh("fifo");
    std::fs::remove_file(fifo.join(&blob)).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(fifo.join(&blob))
        .status()
        .unwrap();
    assert!(status.success());
    for (case, layout, why) in [
        ("link", &layout, format!("symbolic link (to {target:?})")),
        (
            "dangling link",
            &dangling,
            "symbolic link (to \"nowhere\")".into(),
        ),
        (
            "directory",
            &directory,
            "not a regular file (a directory)".into(),
        ),
        ("fifo", &fifo, "FIFO".into()),
    ] {
        let expected = refused(&blob, &why);
        let archive = open(layout).unwrap();
        // What is there is there, refused when read: not missing.
        assert!(archive.has_blob(&layer.digest()), "{case}");
        let report = modeloci_archive::verify(&archive, 2).unwrap();
        assert_eq!(report.refused.as_deref(), Some(expected.as_str()), "{case}");
        assert!(
            matches!(
                &report.layers[0].status,
                modeloci_archive::BlobStatus::Refused { refusal } if refusal.to_string() == why
            ),
            "{case}: {:?}",
            report.layers[0].status
        );
        assert_eq!(unpack_err(layout), expected, "{case}");
    }
}

#[test]
fn an_unreferenced_blob_is_checked_against_its_name_by_verify_and_unpack() {
    let zero = format!("blobs/sha256/{}", "0".repeat(64));
    let expected = format!(
        "entry {zero} blob sha256:{z}: digest mismatch: expected sha256:{z}, got {}",
        Hasher::digest_bytes(b"not that").digest,
        z = "0".repeat(64)
    );
    let bytes = archive(
        &[good("config.json", b"{}")],
        &[Raw::file(&zero, b"not that")],
    );
    assert_eq!(verified(&bytes), (false, Some(expected.clone())));
    check("unreferenced blob, model", &bytes, false, &expected);
    check("unreferenced blob, layout", &bytes, true, &expected);

    // One that matches its name is no problem.
    let hello = Hasher::digest_bytes(b"hello").digest.blob_path();
    let bytes = archive(
        &[good("config.json", b"{}")],
        &[Raw::file(&hello, b"hello")],
    );
    assert_eq!(verified(&bytes), (true, None));
}

/// Pack applies unpack's path policy: a model holding a name unpack would refuse is refused
/// when packing, with the same rule named, and no archive is written.
#[test]
fn pack_never_writes_what_unpack_would_refuse() {
    for (names, expected) in [
        (
            &["A.txt", "a.txt"][..],
            "cannot pack {model}/a.txt: differs only in case from \"A.txt\"",
        ),
        (
            &["a\\b"][..],
            "cannot pack {model}/a\\b: Windows drive, UNC or backslash path",
        ),
        (
            &["dir/x", "Dir/x"][..],
            "cannot pack {model}/dir/x: differs only in case from \"Dir/x\"",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        for name in names {
            let path = model.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, name.as_bytes()).unwrap();
        }
        let out = dir.path().join("m.tar");
        let options = modeloci_archive::PackOptions::default().with_output(&out);
        let err = modeloci_archive::ModelPackager::with_options(options)
            .pack(&model, &crate::config("m"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            expected.replace("{model}", &model.display().to_string()),
            "{names:?}"
        );
        assert!(!out.exists(), "{names:?}");
    }
}

/// Documents are read into memory, so they are capped: an index, manifest or config over
/// 4 MiB is refused by its declared size, before a byte of it is read.
#[test]
fn documents_over_four_mib_are_refused_before_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-index.tar");
    let index = vec![b' '; (4 << 20) + 1];
    std::fs::write(
        &path,
        tar(&[
            Raw::file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            Raw::file("index.json", &index),
        ]),
    )
    .unwrap();
    let err = modeloci_archive::Archive::open(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        "index.json is 4194305 bytes, more than the 4194304-byte limit for such documents"
    );
}
