//! Each command's output, for people and as JSON.

use insta::assert_snapshot;

use crate::{fixtures, modeloci, transcript, workspace};

#[test]
fn help_names_the_commands_and_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    assert_snapshot!(transcript(modeloci(dir.path()).arg("--help"), dir.path()));
    let version = transcript(modeloci(dir.path()).arg("--version"), dir.path());
    assert_eq!(
        version,
        format!(
            "exit: 0\n--- stdout\nmodeloci {}\n--- stderr\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn pack_inspect_verify_unpack_add() {
    let dir = workspace();
    let tmp = dir.path();
    let pack = transcript(
        modeloci(tmp).args(["pack", "--model-dir", "model", "--name", "tiny", "--version", "1.0.0"]).args([
            // The golden archive's config, as given (by default the weights' architecture).
            "--architecture",
            "transformer",
            "--metadata",
            r#"{"license": "apache-2.0", "base_model": "none", "eval_accuracy": 0.5, "datasets": ["synthetic"]}"#,
        ]),
        tmp,
    );
    assert_snapshot!("pack", pack);
    // The default output is beside the model directory, and is the golden archive.
    let archive = tmp.join("tiny-1.0.0.tar");
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        std::fs::read(fixtures().join("golden/tiny-1.0.0.tar")).unwrap()
    );

    assert_snapshot!(
        "inspect",
        transcript(
            modeloci(tmp).args(["inspect", "--archive", "tiny-1.0.0.tar"]),
            tmp
        )
    );
    assert_snapshot!(
        "verify",
        transcript(
            modeloci(tmp).args(["verify", "--archive", "tiny-1.0.0.tar"]),
            tmp
        )
    );
    assert_snapshot!(
        "unpack",
        transcript(
            modeloci(tmp).args(["unpack", "--archive", "tiny-1.0.0.tar", "--output", "out"]),
            tmp
        )
    );
    std::fs::write(tmp.join("NOTICE"), "notice\n").unwrap();
    assert_snapshot!(
        "add",
        transcript(
            modeloci(tmp).args(["add", "--archive", "tiny-1.0.0.tar", "--file", "NOTICE"]),
            tmp
        )
    );
    assert_snapshot!(
        "add-again",
        transcript(
            modeloci(tmp).args([
                "add",
                "--archive",
                "tiny-1.0.0.tar",
                "--file",
                "NOTICE",
                "--path",
                "docs/NOTICE.txt"
            ]),
            tmp
        )
    );
}

#[test]
fn json_output_of_every_command() {
    let dir = workspace();
    let tmp = dir.path();
    let run = |args: &[&str]| transcript(modeloci(tmp).arg("--json").args(args), tmp);
    assert_snapshot!(
        "pack-json",
        run(&[
            "pack",
            "--model-dir",
            "model",
            "--name",
            "tiny",
            "--version",
            "1.0.0",
            "--compression",
            "zstd",
            "-o",
            "t.tar"
        ])
    );
    assert_snapshot!("inspect-json", run(&["inspect", "--archive", "t.tar"]));
    assert_snapshot!("verify-json", run(&["verify", "--archive", "t.tar"]));
    assert_snapshot!(
        "unpack-json",
        run(&["unpack", "--archive", "t.tar", "--output", "out"])
    );
    std::fs::write(tmp.join("NOTICE"), "notice\n").unwrap();
    assert_snapshot!(
        "add-json",
        run(&["add", "--archive", "t.tar", "--file", "NOTICE"])
    );
}

#[test]
fn quiet_prints_nothing_on_success() {
    let dir = workspace();
    let tmp = dir.path();
    let out = transcript(
        modeloci(tmp).args([
            "pack",
            "-q",
            "--model-dir",
            "model",
            "--name",
            "m",
            "--version",
            "2",
        ]),
        tmp,
    );
    assert_eq!(out, "exit: 0\n--- stdout\n--- stderr\n");
}

#[test]
fn source_date_epoch_is_honoured() {
    let dir = workspace();
    let tmp = dir.path();
    let out = modeloci(tmp)
        .env("SOURCE_DATE_EPOCH", "1718914617")
        .args([
            "--json",
            "pack",
            "--model-dir",
            "model",
            "--name",
            "m",
            "--version",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let inspect = modeloci(tmp)
        .args(["--json", "inspect", "--archive", "m-2.tar"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(
        doc["annotations"]["org.opencontainers.image.created"],
        "2024-06-20T20:16:57Z"
    );
}

#[test]
fn reads_reference_archives() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let archive = fixtures().join("golden/tiny-1.0.0-reference.tar");
    let out = transcript(
        modeloci(tmp).arg("inspect").arg("--archive").arg(&archive),
        tmp,
    );
    assert_snapshot!(
        "inspect-reference",
        out.replace(&fixtures().display().to_string(), "[FIXTURES]")
    );
}

#[test]
fn modelpack_format() {
    let dir = workspace();
    let tmp = dir.path();
    let pack = transcript(
        modeloci(tmp)
            .args([
                "pack",
                "--model-dir",
                "model",
                "--name",
                "tiny",
                "--version",
                "1.0.0",
                "--format",
                "modelpack",
            ])
            .args([
                "--metadata",
                r#"{"licenses": ["apache-2.0"], "authors": ["modeloci"]}"#,
                "-o",
                "mp.tar",
            ]),
        tmp,
    );
    assert_snapshot!("pack-modelpack", pack);
    assert_eq!(
        std::fs::read(tmp.join("mp.tar")).unwrap(),
        std::fs::read(fixtures().join("golden/tiny-1.0.0-modelpack.tar")).unwrap()
    );
    assert_snapshot!(
        "inspect-modelpack",
        transcript(modeloci(tmp).args(["inspect", "--archive", "mp.tar"]), tmp)
    );
    let refused = transcript(
        modeloci(tmp).args([
            "pack",
            "--model-dir",
            "model",
            "--name",
            "t",
            "--version",
            "1",
            "--format",
            "modelpack",
            "--metadata",
            r#"{"x": 1}"#,
        ]),
        tmp,
    );
    assert_snapshot!("pack-modelpack-bad-metadata", refused);
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("many");
    std::fs::create_dir(&model).unwrap();
    for i in 0..400 {
        std::fs::write(model.join(format!("file-{i:04}.txt")), format!("{i}")).unwrap();
    }
    let archive = dir.path().join("many.tar");
    let status = modeloci(dir.path())
        .args([
            "pack",
            "-q",
            "--model-dir",
            "many",
            "--name",
            "many",
            "--version",
            "1",
            "--compression",
            "none",
            "-o",
            "many.tar",
        ])
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    // The JSON is far larger than a pipe's buffer: the command is writing when the reader goes.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_modeloci"))
        .args(["--json", "inspect", "--archive"])
        .arg(&archive)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(&first[..1], b"{");
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned()
        ),
        (Some(0), String::new())
    );
}

#[test]
fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = modeloci(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["pack", "unpack", "model-dir", "symlinks", "exclude"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    // bash runs the script: `modeloci pa<TAB>` gives `pack`, `modeloci pack --sym<TAB>`
    // gives `--symlinks`.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(
            r#"source <("$0" completions bash) || exit 9
            complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=();
                _modeloci modeloci "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}";
                echo "${COMPREPLY[*]}"; }
            complete_words modeloci pa
            complete_words modeloci pack --sym"#,
        )
        .arg(assert_cmd::cargo::cargo_bin!("modeloci"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pack\n--symlinks\n");
}
