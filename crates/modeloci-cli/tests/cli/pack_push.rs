//! `pack --push REF` as a user runs it against the real registry: the manifest `pack` then
//! `push` stores, nothing written in the working directory or beside the model, human and
//! JSON output, a registry that refuses PATCH, and `--push` with `--output` refused.

use std::path::Path;

use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;

use crate::{copy_dir, fixtures, modeloci, transcript, transcript_json};

const MIB: usize = 1 << 20;

/// The tiny model at `<dir>/models/model` with a 3 MiB weight, and an empty `<dir>/cwd`.
fn layout(dir: &Path) {
    copy_dir(&fixtures().join("models/tiny"), &dir.join("models/model"));
    let mut data = vec![0u8; 3 * MIB];
    modeloci_tests::fixtures::Normal::new(11).fill_bf16(0.02, &mut data);
    std::fs::write(dir.join("models/model/weights.bin"), data).unwrap();
    std::fs::create_dir(dir.join("cwd")).unwrap();
}

/// `modeloci` in `<dir>/cwd` with Docker's config and the caches in `<dir>/home`.
fn run(dir: &Path, args: &[&str]) -> String {
    let mut cmd = modeloci(&dir.join("cwd"));
    cmd.env("DOCKER_CONFIG", dir.join("home/docker"))
        .env("MODELOCI_CACHE_DIR", dir.join("home/cache"))
        .args(args);
    transcript(&mut cmd, dir)
}

fn pack_push_args<'a>(target: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "pack",
        "--model-dir",
        "../models/model",
        "--name",
        "m",
        "--version",
        "1.0.0",
        "--push",
        target,
        "--chunk-size",
        "1",
    ];
    args.extend_from_slice(extra);
    args
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn pack_push_stores_what_pack_then_push_stores_and_writes_no_file() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    layout(tmp);
    // Files changed in the last two seconds are not remembered (their times could hide a
    // change within the same tick).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let reg = &registry.addr;
    for compression in ["gzip", "zstd"] {
        let streamed = format!("{reg}/streamed/{compression}:1.0.0");
        let text = run(
            tmp,
            &[
                &["--json"][..],
                &pack_push_args(&streamed, &["--compression", compression]),
            ]
            .concat(),
        );
        assert!(text.starts_with("exit: 0\n"), "{text}");
        let json = transcript_json(&text);
        assert_eq!(
            json["reference"]
                .as_str()
                .unwrap()
                .split('@')
                .next()
                .unwrap(),
            streamed
        );
        assert_eq!(json["tags"], serde_json::json!(["1.0.0"]));
        assert_eq!(json["bytesRead"], json["inputBytes"]);
        // Nothing in the working directory, nothing beside the model.
        assert!(names(&tmp.join("cwd")).is_empty());
        assert_eq!(names(&tmp.join("models")), ["model"]);

        let archive = format!("../m-{compression}.tar");
        let packed = run(
            tmp,
            &[
                "--json",
                "pack",
                "--model-dir",
                "../models/model",
                "--name",
                "m",
                "--version",
                "1.0.0",
                "--compression",
                compression,
                "-o",
                &archive,
            ],
        );
        let packed = transcript_json(&packed);
        assert_eq!(
            json["manifestDigest"], packed["manifestDigest"],
            "{compression}"
        );
        let classic = format!("{reg}/classic/{compression}:1.0.0");
        let pushed = transcript_json(&run(
            tmp,
            &["--json", "push", "--archive", &archive, &classic],
        ));
        assert_eq!(pushed["manifestDigest"], packed["manifestDigest"]);
        // Pulled back, the streamed artifact is the archive pack wrote, byte for byte.
        let pulled = format!("../pulled-{compression}.tar");
        assert!(run(tmp, &["pull", &streamed, "-o", &pulled]).starts_with("exit: 0\n"));
        assert_eq!(
            std::fs::read(tmp.join(format!("pulled-{compression}.tar"))).unwrap(),
            std::fs::read(tmp.join(format!("m-{compression}.tar"))).unwrap()
        );
    }
    // Pushed again unchanged: every layer is remembered and found in the registry.
    let again = run(
        tmp,
        &pack_push_args(
            &format!("{reg}/streamed/gzip:again"),
            &["--compression", "gzip"],
        ),
    );
    let stdout = again.replace(reg.as_str(), "[REGISTRY]");
    assert!(
        stdout.contains("Packed and pushed [REGISTRY]/streamed/gzip:again@sha256:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("8 files, 3.0 MiB (0 B read, 8 layers from the digest cache)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("9 blobs: 0 uploaded (0 B), 9 already there; tag again"),
        "{stdout}"
    );
    // --no-cache reads every file again.
    let json = transcript_json(&run(
        tmp,
        &[
            &["--json"][..],
            &pack_push_args(
                &format!("{reg}/streamed/gzip:fresh"),
                &["--compression", "gzip", "--no-cache"],
            ),
        ]
        .concat(),
    ));
    assert_eq!(json["bytesRead"], json["inputBytes"]);
    assert_eq!(json["layersRemembered"], 0);
}

#[test]
fn pack_push_spools_for_a_registry_that_refuses_patch() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(
        &registry.addr,
        Behaviour {
            refuse_patch: true,
            ..Behaviour::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    layout(dir.path());
    let target = format!("{}/quirks/m:1", proxy.addr);
    let text = run(
        dir.path(),
        &[
            &["--json"][..],
            &pack_push_args(&target, &["--compression", "none", "--no-cache"]),
        ]
        .concat(),
    );
    let json = transcript_json(&text);
    assert_eq!(json["fallback"], "spooled", "{text}");
    let human = run(
        dir.path(),
        &pack_push_args(
            &format!("{}/quirks/m:2", proxy.addr),
            &["--compression", "none", "--no-cache"],
        ),
    );
    assert!(
        human.contains("the registry refused chunks: each blob over the chunk size was spooled to a temporary file, then sent in one PUT"),
        "{human}"
    );
}

#[test]
fn push_and_output_together_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    layout(dir.path());
    let text = run(
        dir.path(),
        &pack_push_args("127.0.0.1:1/m", &["-o", "m.tar"]),
    );
    assert!(text.starts_with("exit: 2\n"), "{text}");
    assert!(
        text.contains("'--push <REF>' cannot be used with '--output <PATH>'"),
        "{text}"
    );
    assert!(names(&dir.path().join("cwd")).is_empty());
}
