//! A disk that fills up: pack, unpack and pull onto a 4 MiB tmpfs, mounted in a private
//! mount namespace (`unshare`), so nothing outlives the test. Each run must fail with a
//! clear error and leave nothing at its final path. The runs are those the free-space
//! preflight lets through (its lower bound fits; `space.rs` tests those it refuses): a
//! compressed pack, and an unpack of files that compressed well.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use modeloci_tests::registry::Registry;

use crate::{client_env, modeloci, pack_and_push, pack_args, workspace};

/// What a run on the full disk did.
pub(crate) struct Outcome {
    pub(crate) code: i32,
    pub(crate) stderr: String,
    /// What the tmpfs held afterwards, one path per line.
    pub(crate) left: Vec<String>,
}

/// Runs the binary with `args` in `cwd`, with a 4 MiB tmpfs mounted at `cwd/full`.
/// Returns `None` when this machine cannot mount one (no root, no user namespaces) outside
/// CI; in CI that fails the test.
#[allow(clippy::print_stderr)] // says why the test checked nothing
pub(crate) fn on_full_disk(cwd: &Path, env: &[(&str, PathBuf)], args: &[&str]) -> Option<Outcome> {
    let mnt = cwd.join("full");
    fs::create_dir_all(&mnt).unwrap();
    let script = r#"
        mnt=$1; shift
        mount -t tmpfs -o size=4m tmpfs "$mnt" || exit 97
        "$@"
        echo "exit=$?"
        cd "$mnt" && find . -mindepth 1 | sort
    "#;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private"]);
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        cmd.arg("--map-root-user");
    }
    cmd.args(["sh", "-c", script, "sh"])
        .arg(&mnt)
        .arg(assert_cmd::cargo::cargo_bin!("modeloci"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("unshare (util-linux) runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some(rest) = stdout.split("exit=").nth(1) else {
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs: {why}"
        );
        eprintln!("note: cannot mount a tmpfs here, disk-full tests not run: {why}");
        return None;
    };
    let mut lines = rest.lines();
    let code = lines.next().unwrap().trim().parse().unwrap();
    Some(Outcome {
        code,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        left: lines.map(str::to_owned).collect(),
    })
}

/// 6 MiB that do not compress: more than the disk holds.
pub(crate) fn incompressible(tmp: &Path) {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let data: Vec<u8> = (0..6 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    fs::write(tmp.join("model/weights.bin"), data).unwrap();
}

/// 6 MiB of zeros: a small blob that unpacks to more than the disk holds.
fn compressible(tmp: &Path) {
    fs::write(tmp.join("model/weights.bin"), vec![0; 6 << 20]).unwrap();
}

fn assert_disk_full(outcome: &Outcome, what: &str) {
    assert_eq!(outcome.code, 2, "{what}: {}", outcome.stderr);
    assert!(
        outcome.stderr.starts_with("error: ") && outcome.stderr.contains("No space left on device"),
        "{what}: {}",
        outcome.stderr
    );
    assert_eq!(
        outcome.stderr.matches("error: ").count(),
        1,
        "{what}: one error: {}",
        outcome.stderr
    );
}

#[test]
fn pack_and_unpack_on_a_full_disk_fail_cleanly() {
    let dir = workspace();
    let tmp = dir.path();
    incompressible(tmp);

    let pack = pack_args("full/m.tar", &["--compression", "gzip"]);
    let Some(outcome) = on_full_disk(tmp, &[], &pack) else {
        return;
    };
    assert_disk_full(&outcome, "pack");
    assert_eq!(
        outcome.stderr,
        "error: full/m.tar: No space left on device (os error 28)\n\
         hint: the disk is full: free some space or write elsewhere (nothing was left behind)\n"
    );
    assert_eq!(outcome.left, Vec::<String>::new(), "pack leaves nothing");

    compressible(tmp);
    modeloci(tmp)
        .args(pack_args("m.tar", &["--compression", "gzip"]))
        .assert()
        .success();
    let outcome = on_full_disk(
        tmp,
        &[],
        &["unpack", "--archive", "m.tar", "--output", "full/out"],
    )
    .unwrap();
    assert_disk_full(&outcome, "unpack");
    assert!(
        outcome.stderr.starts_with("error: full/out/"),
        "the error names the file the user asked for: {}",
        outcome.stderr
    );
    assert_eq!(outcome.left, Vec::<String>::new(), "unpack leaves nothing");
}

#[test]
fn pull_on_a_full_disk_fails_cleanly() {
    let registry = Registry::start(None);
    let dir = workspace();
    let tmp = dir.path();
    compressible(tmp);
    let env = client_env(tmp);
    let target = format!("{}/full/m:1", registry.addr);
    pack_and_push(tmp, &[], &target);

    // The blobs fit; the files they unpack to do not. (An archive is its blobs: a pull
    // --output that does not fit is refused before its first blob.)
    let Some(outcome) = on_full_disk(tmp, &env, &["pull", &target, "--unpack", "full/p"]) else {
        return;
    };
    assert_disk_full(&outcome, "pull --unpack");
    assert!(
        outcome
            .stderr
            .contains("run the same pull again; it resumes"),
        "{}",
        outcome.stderr
    );
    // The download stays in the staging directory, to resume once there is room; nothing
    // is at the final path.
    assert!(
        outcome
            .left
            .iter()
            .all(|p| p.starts_with("./.p.modeloci-pull")),
        "{:?}",
        outcome.left
    );
}
