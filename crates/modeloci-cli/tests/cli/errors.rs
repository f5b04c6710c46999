//! Bad input: one line naming what is wrong, a hint where one helps, exit 2; failed
//! verification: exit 1.

use insta::assert_snapshot;

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
            "hint": "Usage: modeloci verify [OPTIONS] --archive <PATH>",
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
            "error": "'modeloci' requires a subcommand but one was not provided\n  [subcommands: pack, inspect, verify, unpack, add, push, pull, login, logout, completions, help]",
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
