//! Tags and registry quirks as a user meets them: a version that cannot be a tag, the
//! default tag, a bad `--tag`, and a registry that refuses large or all chunks.

use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;

use crate::{client_env, modeloci, pack_args, workspace};

const MIB: usize = 1 << 20;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_version_that_cannot_be_a_tag_is_refused_with_the_tag_to_pass() {
    let dir = workspace();
    let tmp = dir.path();
    let out = modeloci(tmp)
        .args(["pack", "--model-dir", "model", "--name", "m"])
        .args(["--version", "1.0.0+cu121", "-o", "m.tar"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: version \"1.0.0+cu121\" cannot be a registry tag (a tag is up to 128 letters, \
         digits, _ . and -, not starting with . or -); name the archive's reference, e.g. \
         1.0.0_cu121\nhint: pass --tag 1.0.0_cu121 to name the archive's reference (registry \
         tags allow only letters, digits, _ . and -)\n"
    );
    assert!(!tmp.join("m.tar").exists(), "nothing written");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 1, "only model/");

    modeloci(tmp)
        .args(["pack", "--model-dir", "model", "--name", "m"])
        .args([
            "--version",
            "1.0.0+cu121",
            "--tag",
            "1.0.0_cu121",
            "-o",
            "m.tar",
        ])
        .assert()
        .success();
    let archive = std::fs::read(tmp.join("m.tar")).unwrap();
    let named = br#""org.opencontainers.image.ref.name":"1.0.0_cu121""#;
    assert!(archive.windows(named.len()).any(|w| w == named));

    let out = modeloci(tmp)
        .args(pack_args("n.tar", &["--tag", "v1 beta"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: --tag \"v1 beta\" is not a valid tag: up to 128 letters, digits, _ . and -, not \
         starting with . or -\nhint: pass --tag v1_beta\n"
    );
}

#[test]
fn push_checks_every_tag_before_the_first_request_and_defaults_to_latest() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let dir = workspace();
    let tmp = dir.path();
    modeloci(tmp)
        .args(pack_args("m.tar", &[]))
        .assert()
        .success();
    let target = format!("{}/tags/m", proxy.addr);
    let out = modeloci(tmp)
        .envs(client_env(tmp))
        .args(["push", "--archive", "m.tar", &target, "--tag", "1.0+cu121"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: \"1.0+cu121\" is not a valid tag (up to 128 letters, digits, _ . and -, not \
         starting with . or -); nothing was pushed\nhint: tags allow only letters, digits, _ . \
         and -: use 1.0_cu121\n"
    );
    assert_eq!(proxy.requests(), Vec::<String>::new(), "no request sent");

    let out = modeloci(tmp)
        .envs(client_env(tmp))
        .args(["push", "--archive", "m.tar", &target])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("; tag latest\n"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "  the archive is named 1: push to {target}:1 to tag it so too\n"
        )),
        "{stdout}"
    );
    modeloci(tmp)
        .envs(client_env(tmp))
        .args(["pull", &target, "-o", "back.tar"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(tmp.join("back.tar")).unwrap(),
        std::fs::read(tmp.join("m.tar")).unwrap(),
        "pull without a tag finds what push without one set"
    );
}

/// Packs a model with a 9 MiB weight file stored as it is, pushes it in 4 MiB chunks
/// through a proxy with `behaviour`, and returns the `--json` report.
fn push_json(behaviour: Behaviour) -> String {
    let registry = Registry::start(None);
    let proxy = Proxy::start(&registry.addr, behaviour);
    let dir = workspace();
    let tmp = dir.path();
    let mut data = vec![0u8; 9 * MIB];
    modeloci_tests::fixtures::Normal::new(3).fill_bf16(0.02, &mut data);
    std::fs::write(tmp.join("model/w.safetensors"), data).unwrap();
    modeloci(tmp)
        .args(pack_args("m.tar", &["--compression", "none"]))
        .assert()
        .success();
    let target = format!("{}/quirks/m:1", proxy.addr);
    let out = modeloci(tmp)
        .envs(client_env(tmp))
        .args([
            "--json",
            "push",
            "--archive",
            "m.tar",
            &target,
            "--chunk-size",
            "4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn push_json_shows_the_chunk_fallback() {
    let smaller = push_json(Behaviour {
        max_patch: Some(2 * MIB),
        ..Behaviour::default()
    });
    assert!(smaller.contains("\"chunkSize\": 2097152,"), "{smaller}");
    assert!(
        smaller.contains("\"fallback\": \"smaller-chunks\""),
        "{smaller}"
    );
    let single = push_json(Behaviour {
        refuse_patch: true,
        ..Behaviour::default()
    });
    assert!(single.contains("\"fallback\": \"single-put\""), "{single}");
}

#[test]
fn pull_include_with_an_archive_output_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = modeloci(dir.path())
        .args([
            "pull",
            "127.0.0.1:1/m",
            "-o",
            "x.tar",
            "--include",
            "*.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "error: the argument '--output <PATH>' cannot be used with '--include <GLOB>'"
        ),
        "{err}"
    );
    assert!(!dir.path().join("x.tar").exists());
}
