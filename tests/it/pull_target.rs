//! What a pull may do to the disk: its staging directory trusts nothing planted in it, its
//! target is its own while it runs, and a target it cannot use is refused before the first
//! request. Against the real registry, with a proxy to count requests.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use modeloci_archive::{Archive, Compression, TargetLock};
use modeloci_registry::{
    Client, ClientOptions, PullOptions, PullTarget, PushOptions, Reference, pull, push, staging_dir,
};
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;

use crate::{pack, tiny_model};

/// Packs the tiny model, pushes it to `registry` as `models/tiny:1.0.0`; returns the
/// archive's bytes.
fn push_tiny(dir: &Path, registry: &str) -> Vec<u8> {
    let archive_path = dir.join("pushed.tar");
    pack(&tiny_model(), &archive_path, Compression::Gzip);
    let archive = Archive::open(&archive_path).unwrap();
    let r: Reference = format!("{registry}/models/tiny:1.0.0").parse().unwrap();
    push(
        &Client::new(registry, ClientOptions::default()),
        &archive,
        &r,
        &PushOptions::default(),
    )
    .unwrap();
    fs::read(&archive_path).unwrap()
}

/// Takes the lock on `path` in a thread of its own, until told to let go.
fn hold_lock(path: &Path) -> (std::thread::JoinHandle<()>, std::sync::mpsc::Sender<()>) {
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let path = path.to_owned();
    let thread = std::thread::spawn(move || {
        let lock = TargetLock::acquire(&path).unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv();
        drop(lock);
    });
    locked_rx.recv().unwrap();
    (thread, release_tx)
}

fn pull_to(registry: &str, target: &PullTarget) -> modeloci_registry::Result<()> {
    let r: Reference = format!("{registry}/models/tiny:1.0.0").parse().unwrap();
    pull(
        &Client::new(registry, ClientOptions::default()),
        &r,
        target,
        &PullOptions::default(),
    )
    .map(drop)
}

#[test]
fn links_planted_in_the_staging_directory_are_never_written_through() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let pushed = push_tiny(dir.path(), &registry.addr);
    let victim = dir.path().join("victim.txt");
    fs::write(&victim, b"precious").unwrap();

    let target = dir.path().join("out.tar");
    let staging = staging_dir(&target);
    fs::create_dir_all(staging.join("blobs/sha256")).unwrap();
    for name in ["index.json", "oci-layout"] {
        symlink(&victim, staging.join(name)).unwrap();
    }
    // A partial download that is a link to the victim, for the config blob.
    let archive = Archive::open(&dir.path().join("pushed.tar")).unwrap();
    let config = &archive.manifest().config.digest;
    symlink(
        &victim,
        staging.join(format!("{}.partial", config.blob_path())),
    )
    .unwrap();
    symlink(&victim, staging.join(archive.manifest_digest().blob_path())).unwrap();

    pull_to(&registry.addr, &PullTarget::Archive(target.clone())).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert_eq!(fs::read(&target).unwrap(), pushed, "the archive pushed");
    assert!(!staging.exists());
}

#[test]
fn a_staging_directory_that_is_a_link_is_refused() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    push_tiny(dir.path(), &registry.addr);
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let target = dir.path().join("out.tar");
    symlink(&elsewhere, staging_dir(&target)).unwrap();

    let err = pull_to(&registry.addr, &PullTarget::Archive(target.clone())).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("not a staging directory this tool made (it is a symbolic link); remove it, or pull elsewhere"),
        "{err}"
    );
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert!(!target.exists());
}

#[test]
fn a_target_another_process_holds_is_refused_before_any_request() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    push_tiny(dir.path(), &registry.addr);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());

    for target in [
        PullTarget::Archive(dir.path().join("out.tar")),
        PullTarget::Unpack(dir.path().join("out")),
    ] {
        let path = match &target {
            PullTarget::Archive(p) | PullTarget::Unpack(p) => p.clone(),
            _ => unreachable!(),
        };
        // Held by another thread: this one's own locks are re-entrant.
        let (held, release) = hold_lock(&path);
        let err = pull_to(&proxy.addr, &target).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: in use by process {}",
                path.display(),
                std::process::id()
            )
        );
        release.send(()).unwrap();
        held.join().unwrap();
        assert!(!path.exists());
        assert!(!staging_dir(&path).exists());
    }
    assert_eq!(proxy.requests(), Vec::<String>::new());
}

#[test]
fn pull_unpack_into_a_non_empty_directory_is_refused_before_any_request() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    push_tiny(dir.path(), &registry.addr);
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("mine.txt"), b"keep").unwrap();

    let err = pull_to(&proxy.addr, &PullTarget::Unpack(out.clone())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("output directory {} is not empty", out.display())
    );
    fs::write(dir.path().join("file"), b"").unwrap();
    let err = pull_to(&proxy.addr, &PullTarget::Unpack(dir.path().join("file"))).unwrap_err();
    assert!(err.to_string().ends_with("it is not a directory"), "{err}");
    assert_eq!(proxy.requests(), Vec::<String>::new());
    assert_eq!(fs::read(out.join("mine.txt")).unwrap(), b"keep");

    // With force, the same pull writes the model beside the user's file.
    let r: Reference = format!("{}/models/tiny:1.0.0", registry.addr)
        .parse()
        .unwrap();
    pull(
        &Client::new(&registry.addr, ClientOptions::default()),
        &r,
        &PullTarget::Unpack(out.clone()),
        &PullOptions::default().with_force(true),
    )
    .unwrap();
    assert!(out.join("config.json").is_file());
    assert_eq!(fs::read(out.join("mine.txt")).unwrap(), b"keep");
}

#[test]
fn pull_unpack_include_selects_foreign_layers_as_unpack_does() {
    use modeloci_tests::layout::{kitops_artifact, modctl_artifact};

    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(&registry.addr, ClientOptions::default());
    // ModelPack as modctl writes it (filepath only, no title), and a KitOps ModelKit whose
    // layers are trees.
    let modelpack = modctl_artifact();
    let kit = kitops_artifact();
    for (name, artifact, include, expected) in [
        (
            "mp",
            &modelpack,
            "*.json",
            vec![
                ("config.json", &b"{}"[..]),
                ("nested/tokenizer.json", b"{\"t\": 1}"),
            ],
        ),
        ("kit", &kit, "src/*", vec![("src/x.py", &b"1"[..])]),
    ] {
        let path = dir.path().join(format!("{name}.tar"));
        fs::write(&path, artifact.to_tar()).unwrap();
        let r: Reference = format!("{}/models/{name}:1", registry.addr)
            .parse()
            .unwrap();
        push(
            &client,
            &Archive::open(&path).unwrap(),
            &r,
            &PushOptions::default(),
        )
        .unwrap();

        let out = dir.path().join(format!("{name}-out"));
        let report = pull(
            &client,
            &r,
            &PullTarget::Unpack(out.clone()),
            &PullOptions::default().with_include([include]),
        )
        .unwrap();
        let files: Vec<(String, Vec<u8>)> = report
            .files
            .iter()
            .map(|f| (f.path.clone(), fs::read(out.join(&f.path)).unwrap()))
            .collect();
        let expected: Vec<(String, Vec<u8>)> = expected
            .iter()
            .map(|(p, d)| ((*p).to_owned(), d.to_vec()))
            .collect();
        assert_eq!(files, expected, "{name}");
        // The ModelPack pull fetched only the two JSON layers and the config.
        if name == "mp" {
            assert_eq!(report.blobs.len(), 3, "{:?}", report.blobs);
        }
    }
}
