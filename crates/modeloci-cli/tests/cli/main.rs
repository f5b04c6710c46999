//! The `modeloci` command as a user runs it: exit codes, stdout and stderr.

mod attack;
mod commands;
mod crash;
mod credentials;
mod errors;
mod faults;
mod first_hour;
mod hf_cache;
mod many_files;
mod pack_push;
mod quirks;
mod races;
mod readme;
mod registry;
mod remote;
mod signing;
mod signing_registry;
mod space;
mod terminal;
mod tls;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The command with a scrubbed environment: no inherited SOURCE_DATE_EPOCH, locale or
/// terminal settings change its output.
pub(crate) fn modeloci(cwd: &Path) -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("modeloci");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(cwd);
    cmd
}

/// Exit code, stdout and stderr, with the temporary directory written as `[TMP]`.
pub(crate) fn transcript(cmd: &mut Command, tmp: &Path) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.replace(&tmp.display().to_string(), "[TMP]")
}

/// `pack` of the model at `model/` as `m`, version 1, into `output`, then `extra`.
/// The JSON document a [`transcript`] printed on stdout.
pub(crate) fn transcript_json(text: &str) -> serde_json::Value {
    let stdout = text
        .split("--- stdout\n")
        .nth(1)
        .and_then(|s| s.split("--- stderr\n").next())
        .unwrap();
    serde_json::from_str(stdout).unwrap()
}

pub(crate) fn pack_args<'a>(output: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "pack",
        "--model-dir",
        "model",
        "--name",
        "m",
        "--version",
        "1",
        "-o",
        output,
    ];
    args.extend_from_slice(extra);
    args
}

/// A registry client's environment kept inside `tmp`: Docker's config and modeloci's cache.
pub(crate) fn client_env(tmp: &Path) -> [(&'static str, PathBuf); 2] {
    [
        ("DOCKER_CONFIG", tmp.join("docker")),
        ("XDG_CACHE_HOME", tmp.join("cache")),
    ]
}

/// Packs `model/` in `tmp` into `m.tar` (with `extra` arguments) and pushes it to `target`.
pub(crate) fn pack_and_push(tmp: &Path, extra: &[&str], target: &str) {
    modeloci(tmp)
        .args(pack_args("m.tar", extra))
        .assert()
        .success();
    modeloci(tmp)
        .envs(client_env(tmp))
        .args(["push", "--archive", "m.tar", target])
        .assert()
        .success();
}

/// The repository's fixtures.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A temporary directory holding a copy of the tiny model at `model/`.
pub(crate) fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("models/tiny"), &dir.path().join("model"));
    dir
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
