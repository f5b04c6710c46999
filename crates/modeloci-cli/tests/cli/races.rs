//! Two processes on one target: the second is refused with the first one's process id, and
//! nothing either of them wrote is lost.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use modeloci_archive::TargetLock;

use crate::{modeloci, pack_args, workspace};

/// The paths of the files in the archive's model, from `inspect --json`.
fn model_paths(tmp: &Path, archive: &str) -> Vec<String> {
    let out = modeloci(tmp)
        .args(["--json", "inspect", "--archive", archive])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap().to_owned())
        .collect()
}

fn in_use_message() -> String {
    format!("in use by process {}", std::process::id())
}

#[test]
fn every_writer_refuses_a_target_another_process_holds() {
    let dir = workspace();
    let tmp = dir.path();
    modeloci(tmp)
        .args(pack_args("m.tar", &[]))
        .assert()
        .success();
    fs::write(tmp.join("extra.txt"), b"extra\n").unwrap();
    let before = fs::read(tmp.join("m.tar")).unwrap();

    let held = TargetLock::acquire(&tmp.join("m.tar")).unwrap();
    for args in [
        vec!["add", "--archive", "m.tar", "--file", "extra.txt"],
        pack_args("m.tar", &[]),
    ] {
        let out = modeloci(tmp).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains(&format!("m.tar: {}", in_use_message())),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("hint: another modeloci run is writing it"));
    }
    assert_eq!(fs::read(tmp.join("m.tar")).unwrap(), before, "untouched");
    drop(held);

    let held = TargetLock::acquire(&tmp.join("out")).unwrap();
    let out = modeloci(tmp)
        .args(["unpack", "--archive", "m.tar", "--output", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&in_use_message()));
    assert!(!tmp.join("out").exists(), "nothing written");
    drop(held);

    // Released: the same commands now work, and leave no lock file behind.
    modeloci(tmp)
        .args(["add", "--archive", "m.tar", "--file", "extra.txt"])
        .assert()
        .success();
    modeloci(tmp)
        .args(["unpack", "--archive", "m.tar", "--output", "out"])
        .assert()
        .success();
    assert_eq!(fs::read(tmp.join("out/extra.txt")).unwrap(), b"extra\n");
    let locks: Vec<_> = fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".modeloci-lock"))
        .collect();
    assert!(locks.is_empty(), "{locks:?}");
}

#[test]
fn two_adds_at_once_never_lose_a_file() {
    let dir = workspace();
    let tmp = dir.path();
    // Large enough that the two runs overlap: add rewrites every blob.
    fs::write(tmp.join("model/big.bin"), vec![7u8; 24 << 20]).unwrap();
    modeloci(tmp)
        .args(pack_args("m.tar", &["--compression", "none"]))
        .assert()
        .success();
    let base = model_paths(tmp, "m.tar");
    for round in 0..3 {
        let names = [format!("a{round}.txt"), format!("b{round}.txt")];
        for name in &names {
            fs::write(tmp.join(name), name.as_bytes()).unwrap();
        }
        let children: Vec<_> = names
            .iter()
            .map(|name| {
                Command::new(assert_cmd::cargo::cargo_bin!("modeloci"))
                    .args(["add", "--archive", "m.tar", "--file", name])
                    .current_dir(tmp)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outcomes: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let paths = model_paths(tmp, "m.tar");
        for (name, out) in names.iter().zip(&outcomes) {
            if out.status.success() {
                assert!(paths.contains(name), "round {round}: {name} was lost");
            } else {
                assert_eq!(out.status.code(), Some(2));
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains("m.tar: in use by process "), "{stderr}");
                assert!(!paths.contains(name));
            }
        }
        assert!(base.iter().all(|p| paths.contains(p)), "round {round}");
    }
}
