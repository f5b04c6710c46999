//! Crash safety: `kill -9` in the middle of pack, add, unpack or pull leaves nothing at the
//! final path, and the next run succeeds and removes what the killed one left.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use modeloci_tests::fixtures::Normal;
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;
use modeloci_tests::shaping_proxy::{Shape, ShapingProxy};

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
        // `pull --unpack` streams: killed inside its one big layer, it keeps the staged
        // config and the layers that verified, and fetches the cut layer again whole (the
        // layer-level resume is shown by the streamed test below).
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

/// The streamed `pull --unpack` (the default), killed through a slow link after its first
/// layer verified: nothing at the target, that layer's files kept; the rerun does not ask
/// for it again (the proxy's log), fetches fewer bytes, and restores identical files.
#[test]
fn kill_during_streamed_pull_keeps_whole_layers_and_the_rerun_fetches_fewer_bytes() {
    let registry = Registry::start(None);
    let dir = workspace();
    let tmp = dir.path();
    let mut big = vec![0u8; 64 << 20];
    Normal::new(11).fill_bf16(0.02, &mut big);
    fs::write(tmp.join("model/weights.bin"), &big).unwrap();
    let mut small = vec![0u8; 24 << 20];
    Normal::new(12).fill_bf16(0.02, &mut small);
    fs::write(tmp.join("model/extra.bin"), &small).unwrap();
    let env = client_env(tmp);
    pack_and_push(
        tmp,
        &["--compression", "none"],
        &format!("{}/crash/s:1", registry.addr),
    );
    let logged = Proxy::start(&registry.addr, Behaviour::default());
    let slow = ShapingProxy::start(
        &logged.addr,
        Shape {
            delay: Duration::from_millis(1),
            rate: 24 << 20,
        },
    );
    let target = format!("{}/crash/s:1", slow.addr);
    let args = ["pull", &target, "--concurrency", "1", "--unpack", "pulled"];
    let layers = tmp.join(".pulled.modeloci-pull/layers");
    let done = || {
        fs::read_dir(&layers).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".done"))
        })
    };
    kill_when(spawn(tmp, &env, &args), "streamed pull", done);
    assert!(!tmp.join("pulled").exists(), "nothing at the final path");
    assert!(
        bytes_below(&layers) >= 64 << 20,
        "the verified layer is kept"
    );
    let kept: Vec<String> = fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".done").map(str::to_owned)
        })
        .collect();
    assert!(!kept.is_empty());

    let first = logged.requests().len();
    let out = modeloci(tmp)
        .envs(env.clone())
        .args(["--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let archive = fs::read(tmp.join("m.tar")).unwrap();
    let total = archive.len() as u64;
    let downloaded = report["bytesDownloaded"].as_u64().unwrap();
    assert!(downloaded < total - (64 << 20), "{report}");
    assert!(
        report["bytesResumed"].as_u64().unwrap() >= 64 << 20,
        "{report}"
    );
    let rerun = &logged.requests()[first..];
    for hex in &kept {
        assert!(
            !rerun
                .iter()
                .any(|r| r.starts_with("GET") && r.ends_with(hex.as_str())),
            "the kept layer {hex} was not asked for again: {rerun:?}"
        );
    }
    assert!(
        rerun
            .iter()
            .any(|r| r.starts_with("GET") && r.contains("/blobs/"))
    );
    assert_eq!(fs::read(tmp.join("pulled/weights.bin")).unwrap(), big);
    assert_eq!(fs::read(tmp.join("pulled/extra.bin")).unwrap(), small);
    assert!(!tmp.join(".pulled.modeloci-pull").exists());
}
