//! Hostile input meets the command line: what an archive, a registry or a weight header says
//! reaches a terminal escaped, and packing never destroys or misreads the model.

use std::path::Path;

use modeloci_spec::{MediaType, OciConfig, annotations};
use modeloci_tests::layout::{Artifact, Layer};
use modeloci_tests::rawtar::{Raw, gzip, tar};

use crate::{modeloci, pack_args, workspace};

/// A title that rewrites the line it is printed on and hides what follows.
const HOSTILE: &str = "\x1b[2K\rOK    layer  x\x1b[8m";
/// The same, as printed.
const HOSTILE_ESCAPED: &str = "\\u{1b}[2K\\u{d}OK    layer  x\\u{1b}[8m";

/// Fails when `bytes` hold a control character other than newline (C0, DEL, C1) or a bidi
/// control.
#[track_caller]
fn assert_printable(what: &str, bytes: &[u8]) {
    let text = String::from_utf8(bytes.to_vec()).expect("output is UTF-8");
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(bad.is_empty(), "{what} printed {bad:?}:\n{text}");
}

/// An archive whose config, annotations and layer titles hold terminal controls; the layer
/// titled [`HOSTILE`] lies about its digest, so that verify prints FAIL for it.
fn hostile_archive(path: &Path) {
    let serde_json::Value::Object(metadata) =
        serde_json::json!({ "license": "\u{202e}tim", "note": "\x1b]0;owned\x07" })
    else {
        unreachable!()
    };
    let config = OciConfig::new("evil\x1b[31m", "1\r2", "py\u{9b}torch", "arch\u{2066}x")
        .with_metadata(metadata);
    let layer = |title: &str, data: &[u8]| {
        Layer::new(
            MediaType::ImageLayerGzip,
            gzip(&tar(&[Raw::file(title, data)])),
        )
        .titled(title)
    };
    let mut liar = layer(HOSTILE, b"weights");
    liar.claim = Some((layer("other", b"other").digest(), liar.blob.len() as u64));
    let good =
        layer("ok\u{202e}txt.exe", b"fine").annotate("org.modeloci.model.dtype", "bf16\x1b[8m");
    let artifact = Artifact::new(
        MediaType::ModelociConfig,
        &config.to_json(),
        vec![liar, good],
    )
    .artifact_type(MediaType::ModelociArtifact);
    std::fs::write(path, artifact.to_tar()).unwrap();
}

#[test]
fn archive_text_reaches_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    hostile_archive(&tmp.join("evil.tar"));

    let out = modeloci(tmp)
        .args(["verify", "--archive", "evil.tar"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_printable("verify", &out.stdout);
    assert_printable("verify's stderr", &out.stderr);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let fail = stdout
        .lines()
        .find(|l| l.starts_with("FAIL  layer"))
        .expect("a FAIL line");
    assert!(
        fail.ends_with(&format!("  {HOSTILE_ESCAPED}: missing from the archive")),
        "{fail}"
    );
    assert!(stdout.contains("  ok\\u{202e}txt.exe\n"), "{stdout}");

    let out = modeloci(tmp)
        .args(["inspect", "--archive", "evil.tar"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_printable("inspect", &out.stdout);
    assert_printable("inspect's stderr", &out.stderr);
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in [
        "Model:         evil\\u{1b}[31m",
        "Version:       1\\u{d}2",
        "Framework:     py\\u{9b}torch",
        "Architecture:  arch\\u{2066}x",
        "Metadata:      {\"license\":\"\\u{202e}tim\",\"note\":\"\\u001b]0;owned\\u0007\"}",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no {line:?} in:\n{stdout}"
        );
    }
    assert!(stdout.contains(HOSTILE_ESCAPED), "{stdout}");

    // The JSON document is serde's escaping, unchanged: C0 controls as `\u001b`, `\r`; the
    // text as it was once parsed.
    let out = modeloci(tmp)
        .args(["--json", "verify", "--archive", "evil.tar"])
        .output()
        .unwrap();
    assert!(
        !out.stdout.iter().any(|&b| b < 0x20 && b != b'\n'),
        "{out:?}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(r#""path": "\u001b[2K\rOK    layer  x\u001b[8m","#),
        "{stdout}"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["layers"][0]["path"], HOSTILE);
    assert_eq!(doc["layers"][1]["path"], "ok\u{202e}txt.exe");

    // Unpack refuses the title; its error names it escaped.
    let out = modeloci(tmp)
        .args(["unpack", "--archive", "evil.tar", "--output", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_printable("unpack", &out.stdout);
    assert_printable("unpack's stderr", &out.stderr);
    assert!(!tmp.join("out").exists());
}

#[test]
fn a_file_name_with_escapes_is_named_escaped() {
    let dir = workspace();
    let tmp = dir.path();
    std::fs::write(tmp.join("model/evil\x1b[2Kname\u{202e}"), b"x").unwrap();
    let out = modeloci(tmp)
        .args(pack_args("m.tar", &[]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_printable("pack's stderr", &out.stderr);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error: cannot pack ")
            && stderr.contains(
                "model/evil\\u{1b}[2Kname\\u{202e}: path holds a NUL or control character"
            ),
        "{stderr}"
    );
    assert!(!tmp.join("m.tar").exists());
}

#[test]
fn unpack_and_inspect_name_bidi_titles_escaped() {
    // A title the path policy accepts (no C0/C1 control) but that reorders the line.
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let config = OciConfig::new("m\u{202e}", "1", "pytorch", "transformer");
    let title = "weights\u{202e}nib.exe";
    let layer = Layer::new(
        MediaType::ImageLayerGzip,
        gzip(&tar(&[Raw::file(title, b"w")])),
    )
    .titled(title)
    .annotate(annotations::TITLE, title);
    let artifact = Artifact::new(MediaType::ModelociConfig, &config.to_json(), vec![layer])
        .artifact_type(MediaType::ModelociArtifact);
    std::fs::write(tmp.join("bidi.tar"), artifact.to_tar()).unwrap();
    let out = modeloci(tmp)
        .args(["unpack", "--archive", "bidi.tar", "--output", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_printable("unpack", &out.stdout);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("  m\\u{202e} 1 (pytorch, transformer): 1 file"),
        "{stdout}"
    );
    assert_eq!(std::fs::read(tmp.join("out").join(title)).unwrap(), b"w");
}

/// Runs `pack` in `cwd` with `args`; returns the exit code and stderr.
fn pack_fails(cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = modeloci(cwd).args(args).output().unwrap();
    assert!(out.stdout.is_empty(), "{out:?}");
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn the_archive_is_never_written_into_the_model() {
    let dir = workspace();
    let tmp = dir.path();
    let model = tmp.join("model").canonicalize().unwrap();
    let weights = std::fs::read(model.join("model.safetensors")).unwrap();
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(&model)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = listing();

    // On a model file.
    let (code, stderr) = pack_fails(tmp, &pack_args("model/model.safetensors", &[]));
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: the archive model/model.safetensors would be written inside the model \
             directory model ({}): write it elsewhere\n",
            model.join("model.safetensors").display()
        )
    );
    // A new file in a subdirectory, through a path that leaves and comes back.
    let (code, stderr) = pack_fails(tmp, &pack_args("model/scripts/../../model/new.tar", &[]));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("would be written inside the model directory"),
        "{stderr}"
    );
    // The model directory is `.`.
    let (code, stderr) = pack_fails(
        &model,
        &[
            "pack",
            "--model-dir",
            ".",
            "--name",
            "m",
            "--version",
            "1",
            "-o",
            "m.tar",
        ],
    );
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: the archive m.tar would be written inside the model directory . ({}): \
             write it elsewhere\n",
            model.join("m.tar").display()
        )
    );
    // A directory symlink outside that leads into the model.
    std::os::unix::fs::symlink(&model, tmp.join("door")).unwrap();
    let (code, stderr) = pack_fails(tmp, &pack_args("door/model.safetensors", &[]));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("would be written inside the model directory"),
        "{stderr}"
    );

    // Outside, but a hard link to a model file: the file would be left out of the archive.
    std::fs::hard_link(model.join("model.safetensors"), tmp.join("hard.tar")).unwrap();
    let (code, stderr) = pack_fails(tmp, &pack_args("hard.tar", &[]));
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "error: the archive hard.tar is the model's file model/model.safetensors: write it \
         elsewhere\n"
    );
    // Outside, but a symbolic link to a model file.
    std::os::unix::fs::symlink(model.join("config.json"), tmp.join("soft.tar")).unwrap();
    let (code, stderr) = pack_fails(tmp, &pack_args("soft.tar", &[]));
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "error: the archive soft.tar is the model's file model/config.json: write it \
         elsewhere\n"
    );

    assert_eq!(
        std::fs::read(model.join("model.safetensors")).unwrap(),
        weights
    );
    assert_eq!(listing(), before, "something was written into the model");
    assert!(tmp.join("soft.tar").is_symlink());

    // Beside the model (the default, and any other directory) is fine.
    modeloci(tmp)
        .args(pack_args("m.tar", &[]))
        .assert()
        .success();
    modeloci(&model)
        .args(["pack", "--model-dir", ".", "--name", "m", "--version", "1"])
        .assert()
        .success();
    assert!(tmp.join("m-1.tar").is_file());
    assert_eq!(listing(), before);
}

#[test]
fn a_registry_that_never_answers_ends_the_pull_with_the_stall_timeout() {
    use modeloci_tests::fake_registry::{FakeRegistry, Script};
    let fake = FakeRegistry::start(Script {
        silent: true,
        ..Script::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let started = std::time::Instant::now();
    let out = modeloci(tmp)
        .envs(crate::client_env(tmp))
        .args(["pull", "--timeout", "1", &format!("{}/m:1", fake.addr)])
        .args(["--output", "out.tar"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let first = stderr.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("error: {} sent no data for 1 s", fake.addr)),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    assert!(stderr.contains("--timeout"), "{stderr}");
    assert!(!tmp.join("out.tar").exists());
}
