//! Round trips over awkward trees, reproducibility, add, and the unpack target rules.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::{Duration, SystemTime};

use modeloci_archive::{
    AddOptions, Compression, ModelPackager, ModelUnpackager, PackOptions, UnpackOptions,
};
use modeloci_spec::MediaType;
use modeloci_tests::fixtures::Normal;

use crate::{config, names, pack, tree};

/// Writes `data` at `rel` below `dir` with `mode`.
fn put(dir: &Path, rel: &str, data: &[u8], mode: u32) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, data).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The files of the awkward tree: (path, content, mode).
fn awkward_files() -> Vec<(String, Vec<u8>, u32)> {
    let mut weights = vec![0u8; 3 << 20];
    Normal::new(7).fill_bf16(0.02, &mut weights[..2 << 20]);
    let mut random = vec![0u8; 3 << 19];
    let mut x = 0x1234_5678_9abc_def0_u64;
    for b in &mut random {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 32) as u8;
    }
    vec![
        (
            "config.json".into(),
            br#"{"hidden_size": 8}"#.to_vec(),
            0o644,
        ),
        ("empty.bin".into(), Vec::new(), 0o644),
        ("run me.sh".into(), b"#!/bin/sh\necho hi\n".to_vec(), 0o755),
        (
            "\u{fc}n\u{ef}c\u{f8}d\u{e9}/\u{444}\u{430}\u{439}\u{43b}.txt".into(),
            "h\u{e9}llo".as_bytes().to_vec(),
            0o644,
        ),
        ("nested/a/b/c/d/deep.txt".into(), b"deep".to_vec(), 0o644),
        (
            format!("long/{}/file.bin", "x".repeat(120)),
            b"prefix split".to_vec(),
            0o644,
        ),
        (
            format!("long2/{}", "n".repeat(150)),
            b"pax path".to_vec(),
            0o644,
        ),
        ("weights.bin".into(), weights, 0o644),
        ("random.bin".into(), random, 0o644),
    ]
}

/// Writes the awkward tree: nested folders, an empty file, an executable, spaces, non-ASCII
/// names, paths beyond ustar's 100 bytes, multi-MB files.
pub(crate) fn awkward_tree(dir: &Path) {
    for (rel, data, mode) in awkward_files() {
        put(dir, &rel, &data, mode);
    }
}

#[test]
fn awkward_trees_round_trip_with_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    awkward_tree(&model);
    for compression in [
        Compression::Gzip,
        Compression::Zstd,
        Compression::None,
        Compression::Auto,
    ] {
        let archive = dir.path().join(format!("{compression:?}.tar"));
        let report = pack(&model, &archive, compression);
        let out = dir.path().join(format!("out-{compression:?}"));
        let restored = ModelUnpackager::new().unpack(&archive, &out).unwrap();
        assert_eq!(restored, modeloci_tests::fixtures::tiny_config());
        assert_eq!(tree(&out), tree(&model), "{compression:?}");
        if compression == Compression::Auto {
            let type_of = |title: &str| {
                report
                    .layers
                    .iter()
                    .find(|l| l.title() == Some(title))
                    .unwrap()
                    .media_type
                    .clone()
            };
            assert_eq!(
                type_of("random.bin"),
                MediaType::ImageLayer,
                "random data is stored"
            );
            assert_eq!(
                type_of("weights.bin"),
                MediaType::ImageLayerGzip,
                "bf16 weights compress"
            );
            assert_eq!(type_of("config.json"), MediaType::ImageLayerGzip);
        }
    }
}

#[test]
fn archives_are_byte_identical_whatever_the_path_order_times_and_modes() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first/model");
    awkward_tree(&first);

    // The same content, created in reverse order, with other permission bits and times.
    let second = dir.path().join("elsewhere/deeper/other-name");
    let mut files = awkward_files();
    files.reverse();
    for (i, (rel, data, mode)) in files.iter().enumerate() {
        let mode = if *mode == 0o755 { 0o700 } else { 0o600 };
        put(&second, rel, data, mode);
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + i as u64 * 86_400);
        fs::File::options()
            .write(true)
            .open(second.join(rel))
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let a = dir.path().join("a.tar");
        let b = dir.path().join("b/b.tar");
        fs::create_dir_all(dir.path().join("b")).unwrap();
        pack(&first, &a, compression);
        std::thread::sleep(Duration::from_millis(1100));
        let options = PackOptions::default()
            .with_compression(compression)
            .with_output(&b)
            .with_threads(1);
        ModelPackager::with_options(options)
            .pack(&second, &modeloci_tests::fixtures::tiny_config())
            .unwrap();
        assert!(
            fs::read(&a).unwrap() == fs::read(&b).unwrap(),
            "{compression:?} archives differ"
        );
    }
}

#[test]
fn source_date_epoch_sets_times_and_the_created_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dated.tar");
    let options = PackOptions::default()
        .with_source_date_epoch(1_718_914_617)
        .with_output(&out);
    let report = ModelPackager::with_options(options)
        .pack(&crate::tiny_model(), &config("dated"))
        .unwrap();
    assert_eq!(
        report
            .manifest
            .annotations
            .get("org.opencontainers.image.created")
            .map(String::as_str),
        Some("2024-06-20T20:16:57Z")
    );
    let mut tar = tar::Archive::new(fs::File::open(&out).unwrap());
    for entry in tar.entries().unwrap() {
        assert_eq!(entry.unwrap().header().mtime().unwrap(), 1_718_914_617);
    }
}

#[test]
fn add_gives_the_bytes_packing_gives() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    awkward_tree(&base);
    let extra = dir.path().join("tokenizer_extra.json");
    fs::write(&extra, br#"{"added": true}"#).unwrap();
    let with = dir.path().join("with");
    awkward_tree(&with);
    put(
        &with,
        "extra/tokenizer_extra.json",
        br#"{"added": true}"#,
        0o644,
    );

    for compression in [Compression::Gzip, Compression::None] {
        let archive = dir.path().join(format!("add-{compression:?}.tar"));
        pack(&base, &archive, compression);
        let report = ModelPackager::new()
            .add(
                &archive,
                &extra,
                &AddOptions::default().with_path("extra/tokenizer_extra.json"),
            )
            .unwrap();
        assert_eq!(report.replaced, None);
        let expected = dir.path().join(format!("pack-{compression:?}.tar"));
        pack(&with, &expected, compression);
        assert!(
            fs::read(&archive).unwrap() == fs::read(&expected).unwrap(),
            "{compression:?}"
        );

        // Adding again is refused, replacing with --force gives the packed bytes again.
        let err = ModelPackager::new()
            .add(
                &archive,
                &extra,
                &AddOptions::default().with_path("extra/tokenizer_extra.json"),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the model already has \"extra/tokenizer_extra.json\""
        );
        fs::write(&extra, br#"{"added": "twice"}"#).unwrap();
        put(
            &with,
            "extra/tokenizer_extra.json",
            br#"{"added": "twice"}"#,
            0o644,
        );
        let report = ModelPackager::new()
            .add(
                &archive,
                &extra,
                &AddOptions::default()
                    .with_path("extra/tokenizer_extra.json")
                    .with_force(true),
            )
            .unwrap();
        assert_eq!(
            report.replaced.unwrap().title(),
            Some("extra/tokenizer_extra.json")
        );
        pack(&with, &expected, compression);
        assert!(
            fs::read(&archive).unwrap() == fs::read(&expected).unwrap(),
            "{compression:?} after --force"
        );
        fs::write(&extra, br#"{"added": true}"#).unwrap();
        put(
            &with,
            "extra/tokenizer_extra.json",
            br#"{"added": true}"#,
            0o644,
        );
        assert_eq!(
            names(dir.path())
                .iter()
                .filter(|n| n.contains(".modeloci-tmp-"))
                .count(),
            0
        );
    }
}

#[test]
fn add_to_a_reference_archive_makes_a_layout_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("ref.tar");
    fs::copy(
        crate::fixtures().join("golden/tiny-1.0.0-reference.tar"),
        &archive,
    )
    .unwrap();
    let extra = dir.path().join("NOTICE");
    fs::write(&extra, b"notice").unwrap();
    let layer = ModelPackager::new().add_layer(&archive, &extra).unwrap();
    assert_eq!(layer.title(), Some("NOTICE"));
    let opened = modeloci_archive::Archive::open(&archive).unwrap();
    assert_eq!(opened.format(), modeloci_archive::ArchiveFormat::Layout);
    let report = crate::assert_verifies(&opened);
    let titles: Vec<&str> = report.layers.iter().map(|l| l.what.as_str()).collect();
    let mut expected_titles: Vec<String> = tree(&crate::tiny_model())
        .into_iter()
        .map(|(path, _, _)| path)
        .chain(["NOTICE".to_owned()])
        .collect();
    expected_titles.sort();
    assert_eq!(
        titles, expected_titles,
        "the new layer takes its sorted place"
    );
    let out = dir.path().join("out");
    ModelUnpackager::new().unpack(&archive, &out).unwrap();
    let mut expected = tree(&crate::tiny_model());
    expected.push(("NOTICE".into(), b"notice".to_vec(), 0o644));
    expected.sort();
    assert_eq!(tree(&out), expected);
}

#[test]
fn unpack_refuses_a_non_empty_target_and_overlays_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let archive = crate::fixtures().join("golden/tiny-1.0.0.tar");
    let target = dir.path().join("target");
    put(&target, "keep.txt", b"mine", 0o644);
    put(&target, "config.json", b"old", 0o644);
    let err = ModelUnpackager::new()
        .unpack(&archive, &target)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("output directory {} is not empty", target.display())
    );
    assert_eq!(names(&target), ["config.json", "keep.txt"]);
    assert_eq!(fs::read(target.join("config.json")).unwrap(), b"old");

    ModelUnpackager::with_options(UnpackOptions::default().with_force(true))
        .unpack(&archive, &target)
        .unwrap();
    let mut expected = tree(&crate::tiny_model());
    expected.push(("keep.txt".into(), b"mine".to_vec(), 0o644));
    expected.sort();
    assert_eq!(tree(&target), expected);

    // An existing empty directory is fine without --force.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    ModelUnpackager::new().unpack(&archive, &empty).unwrap();
    assert_eq!(tree(&empty), tree(&crate::tiny_model()));
}

#[test]
fn force_never_writes_through_a_symlink_in_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let target = dir.path().join("target");
    fs::create_dir(&target).unwrap();
    symlink(&outside, target.join("scripts")).unwrap();
    let err = ModelUnpackager::with_options(UnpackOptions::default().with_force(true))
        .unpack(&crate::fixtures().join("golden/tiny-1.0.0.tar"), &target)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot write {}: it is a symbolic link; refusing to write through it",
            target.join("scripts").display()
        )
    );
    assert_eq!(names(&outside), Vec::<String>::new());
    assert_eq!(names(&target), ["scripts"]);
}

#[test]
fn layout_unpack_gives_what_tar_extracts() {
    let dir = tempfile::tempdir().unwrap();
    let archive = crate::fixtures().join("golden/tiny-1.0.0.tar");
    let ours = dir.path().join("ours");
    ModelUnpackager::with_options(UnpackOptions::default().with_layout(true))
        .extract(&archive, &ours)
        .unwrap();
    let theirs = dir.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    let status = std::process::Command::new("tar")
        .args(["-xf"])
        .arg(&archive)
        .arg("-C")
        .arg(&theirs)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(tree(&ours), tree(&theirs));
}

#[track_caller]
fn check_pack_error(model: &Path, expected: &str) {
    let out = model.parent().unwrap().join("out.tar");
    let err = ModelPackager::with_options(PackOptions::default().with_output(&out))
        .pack(model, &config("m"))
        .unwrap_err();
    assert_eq!(err.to_string(), expected);
    assert!(!out.exists());
    assert_eq!(
        names(model.parent().unwrap())
            .iter()
            .filter(|n| n.contains("modeloci-tmp"))
            .count(),
        0
    );
}

#[test]
fn pack_refuses_what_it_cannot_pack_with_the_path_named() {
    let dir = tempfile::tempdir().unwrap();
    let m = |name: &str| {
        let p = dir.path().join(name).join("model");
        fs::create_dir_all(&p).unwrap();
        p
    };
    let empty = m("empty");
    fs::create_dir(empty.join("only-dirs")).unwrap();
    check_pack_error(
        &empty,
        &format!("model directory {} holds no files to pack", empty.display()),
    );

    let missing = dir.path().join("missing");
    check_pack_error(
        &missing,
        &format!(
            "model directory {} does not exist or is not a directory",
            missing.display()
        ),
    );

    let fifo = m("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(fifo.join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    check_pack_error(
        &fifo,
        &format!(
            "cannot pack {}: it is a FIFO, not a regular file",
            fifo.join("pipe").display()
        ),
    );

    let dangling = m("dangling");
    symlink("nowhere", dangling.join("weights.bin")).unwrap();
    check_pack_error(
        &dangling,
        &format!(
            "cannot pack {}: dangling symlink",
            dangling.join("weights.bin").display()
        ),
    );

    let looped = m("loop");
    symlink(".", looped.join("up")).unwrap();
    fs::write(looped.join("a.txt"), b"a").unwrap();
    check_pack_error(
        &looped,
        &format!(
            "cannot pack {}: symlink loop back to {}",
            looped.join("up").display(),
            looped.display()
        ),
    );

    let cases = m("cases");
    fs::write(cases.join("README.md"), b"a").unwrap();
    fs::write(cases.join("readme.md"), b"b").unwrap();
    check_pack_error(
        &cases,
        &format!(
            "cannot pack {}: differs only in case from \"README.md\"",
            cases.join("readme.md").display()
        ),
    );

    let backslash = m("backslash");
    fs::write(backslash.join("a\\b.txt"), b"a").unwrap();
    check_pack_error(
        &backslash,
        &format!(
            "cannot pack {}: Windows drive, UNC or backslash path",
            backslash.join("a\\b.txt").display()
        ),
    );
}

#[test]
fn symlinked_files_pack_as_regular_files_as_in_a_hugging_face_cache() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("cache/blobs");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(blobs.join("0123abcd"), br#"{"model_type": "bert"}"#).unwrap();
    let snapshot = dir.path().join("cache/snapshots/main");
    fs::create_dir_all(&snapshot).unwrap();
    symlink("../../blobs/0123abcd", snapshot.join("config.json")).unwrap();
    let archive = dir.path().join("hf.tar");
    pack(&snapshot, &archive, Compression::Gzip);
    let out = dir.path().join("out");
    ModelUnpackager::new().unpack(&archive, &out).unwrap();
    assert_eq!(
        tree(&out),
        [(
            "config.json".to_owned(),
            br#"{"model_type": "bert"}"#.to_vec(),
            0o644
        )]
    );
}
