//! Bad input: one line naming what is wrong, a hint where one helps, exit 2; failed
//! verification: exit 1.

use insta::assert_snapshot;
use modeloci_tests::layout::{modeloci_artifact, one_file_layer};
use modeloci_tests::rawtar::{Raw, entries};

use crate::{fixtures, modeloci, pack_args, transcript, workspace};

#[test]
fn usage_and_input_errors_exit_2() {
    let dir = workspace();
    let tmp = dir.path();
    let run = |args: &[&str]| transcript(modeloci(tmp).args(args), tmp);
    assert_snapshot!(
        "missing-model-dir",
        run(&[
            "pack",
            "--model-dir",
            "nope",
            "--name",
            "m",
            "--version",
            "1"
        ])
    );
    assert_snapshot!(
        "bad-metadata",
        run(&pack_args("m.tar", &["--metadata", "[1]"]))
    );
    assert_snapshot!(
        "bad-metadata-json",
        run(&pack_args("m.tar", &["--metadata", "{x"]))
    );
    assert_snapshot!("bad-level", run(&pack_args("m.tar", &["--level", "12"])));
    assert_snapshot!(
        "bad-created",
        run(&pack_args("m.tar", &["--created", "yesterday"]))
    );
    assert_snapshot!("missing-argument", run(&["pack", "--model-dir", "model"]));
    assert_snapshot!(
        "not-an-archive",
        run(&["inspect", "--archive", "model/config.json"])
    );
    assert_snapshot!(
        "missing-archive",
        run(&["verify", "--archive", "missing.tar"])
    );
    let out = tmp.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "mine").unwrap();
    let golden = fixtures().join("golden/tiny-1.0.0.tar");
    assert_snapshot!(
        "unpack-not-empty",
        transcript(
            modeloci(tmp)
                .arg("unpack")
                .arg("--archive")
                .arg(&golden)
                .args(["--output", "out"]),
            tmp
        )
    );
    assert_snapshot!(
        "add-existing",
        transcript(
            modeloci(tmp)
                .arg("add")
                .arg("--archive")
                .arg(&golden)
                .args(["--file", "model/config.json"]),
            tmp
        )
    );
}

#[test]
fn corruption_exits_1_from_inspect_verify_and_unpack() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let mut bytes = std::fs::read(fixtures().join("golden/tiny-1.0.0-none.tar")).unwrap();
    // A byte inside model.safetensors's layer blob.
    let needle = b"lm_head.weight";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(tmp.join("bad.tar"), &bytes).unwrap();
    assert_snapshot!(
        "inspect-corrupt",
        transcript(modeloci(tmp).args(["inspect", "--archive", "bad.tar"]), tmp)
    );
    assert_snapshot!(
        "verify-corrupt",
        transcript(modeloci(tmp).args(["verify", "--archive", "bad.tar"]), tmp)
    );
    assert_snapshot!(
        "verify-corrupt-json",
        transcript(
            modeloci(tmp).args(["--json", "verify", "--archive", "bad.tar"]),
            tmp
        )
    );
    assert_snapshot!(
        "unpack-corrupt",
        transcript(
            modeloci(tmp).args(["unpack", "--archive", "bad.tar", "--output", "out"]),
            tmp
        )
    );
    assert!(!tmp.join("out").exists());
}

#[test]
fn json_errors_are_documents_too() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    assert_snapshot!(
        "json-error",
        transcript(
            modeloci(tmp).args(["--json", "verify", "--archive", "missing.tar"]),
            tmp
        )
    );
}

/// A modeloci archive of one file, `model.bin`, plus `extra` outer entries, at `tmp/name`.
fn archive_with(tmp: &std::path::Path, name: &str, extra: Vec<Raw>) {
    let mut artifact = modeloci_artifact(vec![one_file_layer("model.bin", b"weights")]);
    artifact.extra = extra;
    std::fs::write(tmp.join(name), artifact.to_tar()).unwrap();
}

/// `modeloci args...` in `tmp`: (exit code, stdout, stderr).
fn run(tmp: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = modeloci(tmp)
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).replace(&tmp.display().to_string(), "[TMP]");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn outer_entries_unpack_refuses_fail_verify_and_inspect_too() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    for (entry, why) in [
        (
            Raw::file("../escaped.txt", b"outside"),
            "refusing entry \"../escaped.txt\": path has a '..' component",
        ),
        (
            Raw::special("blobs/evil", b'2', "/tmp"),
            "refusing entry \"blobs/evil\": symbolic link (to \"/tmp\")",
        ),
        (
            Raw::special("blobs/hard", b'1', "index.json"),
            "refusing entry \"blobs/hard\": hard link (to \"index.json\")",
        ),
        (
            Raw::file("blobs/sha256/readme.txt", b"not a blob"),
            "refusing entry \"blobs/sha256/readme.txt\": under blobs/ an OCI layout holds only blobs/<algorithm>/<hex digest>",
        ),
    ] {
        archive_with(tmp, "a.tar", vec![entry]);
        let (code, stdout, stderr) = run(tmp, &["verify", "--archive", "a.tar"]);
        assert_eq!((code, stderr.as_str()), (1, ""), "verify: {why}\n{stdout}");
        assert!(
            stdout.contains(&format!("\nFAIL  archive   {why}\n")),
            "verify names the entry: {stdout}"
        );
        assert!(stdout.ends_with("1 of 4 checks failed.\n"), "{stdout}");
        let (code, stdout, _) = run(tmp, &["--json", "verify", "--archive", "a.tar"]);
        assert_eq!(code, 1);
        let escaped = why.replace('\\', "\\\\").replace('"', "\\\"");
        assert!(
            stdout.contains(&format!("\n  \"refused\": \"{escaped}\",\n")),
            "{stdout}"
        );

        let (code, stdout, _) = run(tmp, &["inspect", "--archive", "a.tar"]);
        assert_eq!(code, 1, "inspect: {why}\n{stdout}");
        assert!(
            stdout.contains(&format!("\nVerification: FAILED ({why})\n")),
            "{stdout}"
        );

        // unpack refuses it as it refuses every entry its policy forbids: exit 2.
        let (code, stdout, stderr) = run(tmp, &["unpack", "--archive", "a.tar", "--output", "out"]);
        assert_eq!(
            (code, stdout.as_str(), stderr),
            (2, "", format!("error: {why}\n")),
            "unpack"
        );
        assert!(!tmp.join("out").exists());
        assert!(!tmp.parent().unwrap().join("escaped.txt").exists());
    }
}

#[test]
fn entries_refused_while_reading_the_tar_fail_verify_and_inspect_too() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    for (entry, why) in [
        (
            Raw::file("oci-layout", b"{}"),
            "refusing entry \"oci-layout\": duplicate path",
        ),
        (
            Raw::dir("x/").with_size(1024),
            "refusing entry \"x/\": entry that holds no data declares 1024 bytes of it",
        ),
    ] {
        archive_with(tmp, "a.tar", vec![entry]);
        assert_eq!(
            run(tmp, &["verify", "--archive", "a.tar"]),
            (
                1,
                format!("FAIL  archive   {why}\n1 check failed.\n"),
                String::new()
            ),
        );
        assert_eq!(
            run(tmp, &["inspect", "--archive", "a.tar"]),
            (
                1,
                format!("Archive:       a.tar\nVerification: FAILED ({why})\n"),
                String::new()
            ),
        );
        let (code, stdout, _) = run(tmp, &["--json", "verify", "--archive", "a.tar"]);
        assert_eq!(code, 1);
        assert!(stdout.contains("\"ok\": false"), "{stdout}");
        assert_eq!(
            run(tmp, &["unpack", "--archive", "a.tar", "--output", "out"]),
            (2, String::new(), format!("error: {why}\n")),
        );
        assert!(!tmp.join("out").exists());
    }
}

#[test]
fn manifests_unpack_refuses_fail_verify_and_inspect_too() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let a = one_file_layer("a.bin", b"weights");
    let digest = a.digest();
    let mut b = one_file_layer("b.bin", b"other");
    b.blob = a.blob.clone();
    let mut config_is_a_layer = modeloci_artifact(vec![a.clone()]);
    config_is_a_layer.config = a.blob.clone();
    for (artifact, why) in [
        (
            modeloci_artifact(vec![a.clone(), a.clone()]),
            "refusing entry \"a.bin\": duplicate path".to_owned(),
        ),
        (
            modeloci_artifact(vec![a.clone(), b]),
            format!(
                "layer \"b.bin\": its blob {digest} is also layer \"a.bin\"'s; only raw layers may share a blob"
            ),
        ),
        (
            config_is_a_layer,
            format!("layer \"a.bin\": its blob {digest} is the config blob"),
        ),
    ] {
        std::fs::write(tmp.join("m.tar"), artifact.to_tar()).unwrap();
        let (code, stdout, stderr) = run(tmp, &["verify", "--archive", "m.tar"]);
        assert_eq!((code, stderr.as_str()), (1, ""), "verify: {why}\n{stdout}");
        assert!(
            stdout.contains(&format!("\nFAIL  archive   {why}\n")),
            "verify names the layer: {stdout}"
        );
        let (code, stdout, _) = run(tmp, &["inspect", "--archive", "m.tar"]);
        assert_eq!(code, 1, "inspect: {why}\n{stdout}");
        assert!(
            stdout.contains(&format!("\nVerification: FAILED ({why})\n")),
            "{stdout}"
        );
        assert_eq!(
            run(tmp, &["unpack", "--archive", "m.tar", "--output", "out"]),
            (2, String::new(), format!("error: {why}\n")),
            "unpack"
        );
        assert!(!tmp.join("out").exists());
    }
}

#[test]
fn a_truncated_archive_exits_1_from_verify_inspect_and_unpack() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let golden = std::fs::read(fixtures().join("golden/tiny-1.0.0-none.tar")).unwrap();
    let (name, offset, size) = entries(&golden)
        .into_iter()
        .find(|(name, _, size)| name.starts_with("blobs/") && *size > 1024)
        .unwrap();
    // Cut in the middle of that blob, as an interrupted download is.
    let cut = usize::try_from(offset + size / 2).unwrap();
    std::fs::write(tmp.join("cut.tar"), &golden[..cut]).unwrap();
    let expected = format!(
        "error: cut.tar: the archive is truncated at byte {cut}: entry {name:?} of {size} bytes runs past the end of the file ({cut} bytes)\n\
         hint: the archive is truncated (an interrupted download or copy?); fetch it again\n"
    );
    for args in [
        &["verify", "--archive", "cut.tar"][..],
        &["inspect", "--archive", "cut.tar"],
        &["unpack", "--archive", "cut.tar", "--output", "out"],
    ] {
        assert_eq!(
            run(tmp, args),
            (1, String::new(), expected.clone()),
            "{args:?}"
        );
    }
    assert!(!tmp.join("out").exists());

    // Cut between two entries: the end-of-archive marker is missing.
    let (last, next, _) = entries(&golden)
        .into_iter()
        .find(|(_, offset, _)| *offset > 4096)
        .unwrap();
    let cut = usize::try_from(next - 512).unwrap();
    let previous = entries(&golden)
        .into_iter()
        .take_while(|(name, _, _)| *name != last)
        .last()
        .unwrap()
        .0;
    std::fs::write(tmp.join("cut.tar"), &golden[..cut]).unwrap();
    assert_eq!(
        run(tmp, &["verify", "--archive", "cut.tar"]),
        (
            1,
            String::new(),
            format!(
                "error: cut.tar: the archive is truncated at byte {cut}: the archive ends without an end-of-archive marker, after entry {previous:?}\n\
                 hint: the archive is truncated (an interrupted download or copy?); fetch it again\n"
            )
        )
    );

    // A size of 2^64 - 1 would wrap around the end of the file.
    archive_with(
        tmp,
        "huge.tar",
        vec![Raw::file("blobs/huge", b"").with_size(u64::MAX)],
    );
    let (code, stdout, stderr) = run(tmp, &["verify", "--archive", "huge.tar"]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "entry \"blobs/huge\" declares {} bytes, more than any stream holds\n",
            u64::MAX
        )),
        "{stderr}"
    );
}

#[test]
fn a_blob_shorter_than_its_descriptor_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let mut layer = one_file_layer("model.bin", b"weights");
    let digest = layer.digest();
    let size = layer.blob.len() as u64;
    layer.claim = Some((digest.clone(), size + 10));
    std::fs::write(
        tmp.join("short.tar"),
        modeloci_artifact(vec![layer]).to_tar(),
    )
    .unwrap();
    let (code, stdout, _) = run(tmp, &["verify", "--archive", "short.tar"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "model.bin: size mismatch, the blob is {size} bytes\n"
        )),
        "{stdout}"
    );
    assert_eq!(
        run(
            tmp,
            &["unpack", "--archive", "short.tar", "--output", "out"]
        ),
        (
            1,
            String::new(),
            format!(
                "error: layer model.bin blob {digest}: size mismatch: expected {} bytes, got {size}\n\
                 hint: the archive is corrupt or was tampered with; fetch it again\n",
                size + 10
            )
        )
    );
}

#[test]
fn an_archive_that_is_a_fifo_or_a_device_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let status = std::process::Command::new("mkfifo")
        .arg(tmp.join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("pipe", tmp.join("link")).unwrap();
    for (path, what) in [
        ("pipe", "a FIFO (named pipe)"),
        ("link", "a FIFO (named pipe)"),
        ("/dev/zero", "a character device"),
    ] {
        let shown = path;
        for command in ["verify", "inspect"] {
            assert_eq!(
                run(tmp, &[command, "--archive", path]),
                (
                    2,
                    String::new(),
                    format!(
                        "error: {shown}: not a model archive: it is {what}, not a regular file or a directory\n"
                    )
                ),
                "{command} {path}"
            );
        }
        let (code, _, stderr) = run(tmp, &["unpack", "--archive", path, "--output", "out"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(!tmp.join("out").exists());
    }
}

#[test]
fn json_usage_errors_are_documents_too() {
    let dir = workspace();
    let tmp = dir.path();
    let out = modeloci(tmp)
        .args(["--json", "pack", "--model-dir", "model"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        r#"{
  "error": "the following required arguments were not provided:\n  --name <NAME>\n  --version <VERSION>",
  "hint": "Usage: modeloci pack --model-dir <DIR> --name <NAME> --version <VERSION>",
  "exitCode": 2
}
"#
    );
    // clap's own message on stderr, as without --json.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error: the following required arguments were not provided:\n")
            && stderr.ends_with("For more information, try '--help'.\n"),
        "{stderr}"
    );

    // The flag after the command, and an unknown argument.
    let out = modeloci(tmp)
        .args(["verify", "--bogus", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "error": "unexpected argument '--bogus' found",
            "hint": "Usage: modeloci verify [OPTIONS] [ARCHIVE]",
            "exitCode": 2
        })
    );

    // No command at all.
    let out = modeloci(tmp).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "error": "'modeloci' requires a subcommand but one was not provided\n  [subcommands: pack, inspect, verify, unpack, add, sign, push, pull, tags, copy, tag, login, logout, completions, help]",
            "hint": "Usage: modeloci [OPTIONS] <COMMAND>",
            "exitCode": 2
        })
    );

    // Help and version still print as usual, and succeed.
    let out = modeloci(tmp)
        .args(["--json", "--version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("modeloci {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = modeloci(tmp)
        .args(["--json", "pack", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("Package a model directory into an OCI archive\n"),
    );
    assert!(out.stderr.is_empty());

    // Without --json, nothing on stdout.
    let out = modeloci(tmp)
        .args(["pack", "--model-dir", "model"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_config_blob_exits_1_whatever_root_config_json_holds() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let mut artifact = modeloci_artifact(vec![one_file_layer("model.bin", b"weights")]);
    artifact.config_stored = false;
    artifact.extra = vec![Raw::file("config.json", &artifact.config)];
    let digest = modeloci_tests::layout::Layer::new(
        modeloci_spec::MediaType::ModelociConfig,
        artifact.config.clone(),
    )
    .digest();
    std::fs::write(tmp.join("a.tar"), artifact.to_tar()).unwrap();
    let (code, stdout, stderr) = run(tmp, &["verify", "--archive", "a.tar"]);
    assert_eq!((code, stderr.as_str()), (1, ""), "{stdout}");
    assert!(
        stdout.contains(&format!("\nFAIL  config    {digest}  ")),
        "{stdout}"
    );
    assert!(stdout.contains(": missing from the archive\n"), "{stdout}");
    let (code, stdout, _) = run(tmp, &["inspect", "--archive", "a.tar"]);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(
        run(tmp, &["unpack", "--archive", "a.tar", "--output", "out"]),
        (
            1,
            String::new(),
            format!(
                "error: config blob {digest} is missing from the archive\n\
                 hint: the archive is corrupt or was tampered with; fetch it again\n"
            )
        )
    );
    assert!(!tmp.join("out").exists());
}

/// Errors the libraries describe in their own terms, which the command renders naming its
/// flags: the wording and the hints users see stay the command's.
#[test]
fn library_errors_are_worded_in_the_commands_flags() {
    let dir = workspace();
    let tmp = dir.path();
    let run = |args: &[&str]| transcript(modeloci(tmp).args(args), tmp);
    assert_snapshot!(
        "pack-bad-exclude",
        run(&pack_args("m.tar", &["--exclude", "a{b"]))
    );
    assert_snapshot!(
        "pack-everything-excluded",
        run(&pack_args("m.tar", &["--exclude", "*"]))
    );
    assert_snapshot!(
        "pack-modelpack-wrong-type",
        run(&pack_args(
            "m.tar",
            &["--format", "modelpack", "--metadata", r#"{"title": 1}"#]
        ))
    );
    let golden = fixtures().join("golden/tiny-1.0.0.tar");
    let unpack = |extra: &[&str]| {
        transcript(
            modeloci(tmp)
                .arg("unpack")
                .arg("--archive")
                .arg(&golden)
                .args(extra),
            tmp,
        )
    };
    assert_snapshot!(
        "unpack-include-matches-nothing",
        unpack(&[
            "--output",
            "out",
            "--include",
            "*.gguf",
            "--include",
            "*.bin"
        ])
    );
    assert_snapshot!(
        "unpack-include-matches-nothing-json",
        transcript(
            modeloci(tmp)
                .args(["--json", "unpack", "--archive"])
                .arg(&golden)
                .args(["--output", "out", "--include", "*.gguf"]),
            tmp
        )
    );
    modeloci(tmp)
        .arg("unpack")
        .arg("--archive")
        .arg(&golden)
        .args(["--output", "layout", "--layout"])
        .assert()
        .success();
    assert_snapshot!(
        "unpack-layout-of-a-layout",
        run(&[
            "unpack",
            "--archive",
            "layout",
            "--output",
            "again",
            "--layout"
        ])
    );
    std::os::unix::fs::symlink("config.json", tmp.join("model/link.json")).unwrap();
    assert_snapshot!(
        "pack-symlink-refused",
        run(&pack_args("m.tar", &["--symlinks", "error"]))
    );
}
