//! Crash safety: `kill -9` in the middle of pack, add, unpack or pull leaves nothing at the
//! final path, and the next run succeeds and removes what the killed one left.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use modeloci_tests::fixtures::Normal;
use modeloci_tests::registry::Registry;

use crate::{client_env, modeloci, pack_and_push, pack_args, workspace};

/// The binary under test, started with `args` in `cwd`, its output discarded.
fn spawn(cwd: &Path, env: &[(&str, PathBuf)], args: &[&str]) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("modeloci"));
    cmd.args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.spawn().unwrap()
}

/// Waits until `ready` holds, then kills the child with SIGKILL and reaps it. Fails when the
/// child ends first: the work was too short to be interrupted.
fn kill_when(mut child: Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if ready() {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(
                !status.success(),
                "{what}: the child was killed, not finished"
            );
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} ended ({status}) before it could be killed midway");
        }
        assert!(Instant::now() < deadline, "{what} never got midway");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Entries of `dir` whose names contain `marker`.
fn leftovers(dir: &Path, marker: &str) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(marker))
        .collect()
}

/// The total size of the files below `path`.
fn bytes_below(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| bytes_below(&e.path())).sum())
        .unwrap_or(0)
}

/// A temporary of `target` with more than `bytes` in it, or none.
fn temp_with_data(dir: &Path, bytes: u64) -> bool {
    leftovers(dir, ".modeloci-tmp-")
        .iter()
        .any(|p| bytes_below(p) > bytes)
}

/// bf16 weights large enough that packing them at gzip level 9 takes seconds, and
/// unpacking them most of a second.
fn big_model(tmp: &Path, mib: usize) {
    let mut weights = vec![0u8; mib << 20];
    Normal::new(7).fill_bf16(0.02, &mut weights);
    fs::write(tmp.join("model/weights.bin"), &weights).unwrap();
}

#[test]
fn kill_during_pack_and_add_leaves_no_archive_and_the_next_run_cleans_up() {
    let dir = workspace();
    let tmp = dir.path();
    big_model(tmp, 48);
    let pack = pack_args("m.tar", &["--compression", "gzip", "--level", "9"]);
    kill_when(spawn(tmp, &[], &pack), "pack", || {
        temp_with_data(tmp, 1 << 20)
    });
    assert!(!tmp.join("m.tar").exists(), "nothing at the final path");
    assert_eq!(
        leftovers(tmp, ".modeloci-tmp-").len(),
        1,
        "the killed run's temporary"
    );

    modeloci(tmp).args(&pack).assert().success();
    assert!(
        leftovers(tmp, ".modeloci-tmp-").is_empty(),
        "the next run removed the stale temporary"
    );
    modeloci(tmp)
        .args(["verify", "--archive", "m.tar"])
        .assert()
        .success();

    // add rewrites the archive: killed midway, the archive is as it was.
    let before = fs::read(tmp.join("m.tar")).unwrap();
    fs::copy(tmp.join("model/weights.bin"), tmp.join("extra.bin")).unwrap();
    let add = [
        "add",
        "--archive",
        "m.tar",
        "--file",
        "extra.bin",
        "--compression",
        "gzip",
    ];
    kill_when(spawn(tmp, &[], &add), "add", || {
        temp_with_data(tmp, before.len() as u64 + (1 << 20))
    });
    assert_eq!(
        fs::read(tmp.join("m.tar")).unwrap(),
        before,
        "the archive is untouched"
    );
    modeloci(tmp).args(add).assert().success();
    assert!(leftovers(tmp, ".modeloci-tmp-").is_empty());
    modeloci(tmp)
        .args(["verify", "--archive", "m.tar"])
        .assert()
        .success();
}

#[test]
fn kill_during_unpack_leaves_no_model_and_the_next_run_cleans_up() {
    let dir = workspace();
    let tmp = dir.path();
    big_model(tmp, 160);
    modeloci(tmp)
        .args(pack_args("m.tar", &[]))
        .assert()
        .success();
    let unpack = ["unpack", "--archive", "m.tar", "--output", "out"];
    kill_when(spawn(tmp, &[], &unpack), "unpack", || {
        temp_with_data(tmp, 1 << 20)
    });
    assert!(!tmp.join("out").exists(), "no half-restored model");
    assert_eq!(leftovers(tmp, ".modeloci-tmp-").len(), 1);

    modeloci(tmp).args(unpack).assert().success();
    assert!(leftovers(tmp, ".modeloci-tmp-").is_empty());
    assert_eq!(
        fs::read(tmp.join("out/tokenizer.json")).unwrap(),
        fs::read(tmp.join("model/tokenizer.json")).unwrap()
    );
}

#[test]
fn kill_during_pull_leaves_no_target_and_the_next_run_resumes() {
    let registry = Registry::start(None);
    let dir = workspace();
    let tmp = dir.path();
    let mut weights = vec![0u8; 192 << 20];
    Normal::new(9).fill_bf16(0.02, &mut weights);
    fs::write(tmp.join("model/weights.bin"), &weights).unwrap();
    let env = client_env(tmp);
    let target = format!("{}/crash/m:1", registry.addr);
    pack_and_push(tmp, &["--compression", "none"], &target);

    for (what, args) in [
        ("pull --output", ["pull", &target, "--output", "pulled.tar"]),
        ("pull --unpack", ["pull", &target, "--unpack", "pulled"]),
    ] {
        let final_path = tmp.join(args[3]);
        let staging = tmp.join(format!(".{}.modeloci-pull", args[3]));
        let child = spawn(
            tmp,
            &env,
            &["pull", args[1], "--concurrency", "1", args[2], args[3]],
        );
        kill_when(child, what, || bytes_below(&staging) > 16 << 20);
        assert!(!final_path.exists(), "{what}: nothing at the final path");
        let kept = bytes_below(&staging);
        assert!(kept > 16 << 20, "{what}: the download so far is kept");

        let out = modeloci(tmp)
            .envs(env.clone())
            .args(["--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{what}: {out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            report["bytesResumed"].as_u64().unwrap() > 0,
            "{what} resumed: {report}"
        );
        assert!(!staging.exists(), "{what}: staging removed once done");
    }
    assert_eq!(
        fs::read(tmp.join("pulled.tar")).unwrap(),
        fs::read(tmp.join("m.tar")).unwrap()
    );
    assert_eq!(fs::read(tmp.join("pulled/weights.bin")).unwrap(), weights);
}
