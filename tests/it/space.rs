//! The free-space preflight: pack, unpack and pull onto an 8 MiB tmpfs of a model bigger than
//! it are refused before anything is written, naming both figures; one that fits works.
//! The real registry serves the pulls.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use modeloci_archive::{
    Archive, Compression, Error, ModelPackager, ModelUnpackager, PackOptions, UnpackOptions,
};
use modeloci_registry::{
    Client, ClientOptions, PullOptions, PullTarget, PushOptions, Reference, pull, push,
};
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;

use crate::{config, pack};

/// An 8 MiB tmpfs mounted in a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (outside CI) when this machine cannot mount one.
    #[allow(clippy::print_stderr)] // says why the test checked nothing
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to mount a tmpfs: {why}"
            );
            eprintln!("note: cannot mount a tmpfs here, space tests not run: {why}");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// What it holds, one relative path per entry.
    fn left(&self) -> Vec<PathBuf> {
        fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A model of one `size`-byte file that does not compress.
fn model(dir: &Path, size: usize) -> PathBuf {
    let model = dir.join(format!("model-{size}"));
    fs::create_dir_all(&model).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    fs::write(model.join("weights.bin"), data).unwrap();
    model
}

/// The refusal's figures: what it needed, what was available.
fn no_space(err: &Error, what: &str) -> (u64, u64) {
    match err {
        Error::NoSpace {
            needed, available, ..
        } => {
            let message = err.to_string();
            assert!(
                message.contains(&format!("({needed} bytes)"))
                    && message.contains(&format!("({available} bytes)"))
                    && message.contains("MiB"),
                "{what}: {message}"
            );
            (*needed, *available)
        }
        other => panic!("{what}: not a space refusal: {other}"),
    }
}

fn pack_none(model: &Path, out: &Path) -> modeloci_archive::Result<modeloci_archive::PackReport> {
    let options = PackOptions::default()
        .with_compression(Compression::None)
        .with_output(out);
    ModelPackager::with_options(options).pack(model, &config("big"))
}

#[test]
fn pack_and_unpack_that_do_not_fit_are_refused_before_writing() {
    let Some(disk) = Tmpfs::mount() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let big = model(work.path(), 10 << 20);

    let err = pack_none(&big, &disk.path().join("big.tar")).unwrap_err();
    let (needed, available) = no_space(&err, "pack");
    assert!(needed > 10 << 20 && available <= 8 << 20, "{err}");
    assert_eq!(disk.left(), Vec::<PathBuf>::new(), "pack wrote nothing");

    for compression in [Compression::None, Compression::Gzip] {
        let archive = work
            .path()
            .join(format!("big-{}.tar", compression.as_str()));
        pack(&big, &archive, compression);
        let unpacker = ModelUnpackager::with_options(UnpackOptions::default());
        let err = unpacker
            .unpack(&archive, &disk.path().join("out"))
            .unwrap_err();
        let (needed, _) = no_space(&err, "unpack");
        assert!(needed > 8 << 20, "{compression:?}: {err}");
        assert_eq!(disk.left(), Vec::<PathBuf>::new(), "unpack wrote nothing");
    }

    let small = model(work.path(), 1 << 20);
    let report = pack_none(&small, &disk.path().join("small.tar")).unwrap();
    ModelUnpackager::new()
        .unpack(&report.path, &disk.path().join("small"))
        .unwrap();
    assert_eq!(
        fs::read(disk.path().join("small/weights.bin")).unwrap(),
        fs::read(small.join("weights.bin")).unwrap()
    );
}

/// Pushes `model` as `models/<name>:1` and returns the reference.
fn pushed(registry: &str, work: &Path, model: &Path, name: &str) -> Reference {
    let archive = work.join(format!("{name}.tar"));
    pack(model, &archive, Compression::None);
    let r: Reference = format!("{registry}/models/{name}:1").parse().unwrap();
    push(
        &Client::new(registry, ClientOptions::default()),
        &Archive::open(&archive).unwrap(),
        &r,
        &PushOptions::default(),
    )
    .unwrap();
    r
}

#[test]
fn pulls_that_do_not_fit_are_refused_before_the_first_blob() {
    let Some(disk) = Tmpfs::mount() else {
        return;
    };
    let registry = Registry::start(None);
    let work = tempfile::tempdir().unwrap();
    let big = pushed(
        &registry.addr,
        work.path(),
        &model(work.path(), 6 << 20),
        "big",
    );
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let client = Client::new(&proxy.addr, ClientOptions::default());
    let big: Reference = big
        .to_string()
        .replace(&registry.addr, &proxy.addr)
        .parse()
        .unwrap();

    for target in [
        PullTarget::Archive(disk.path().join("big.tar")),
        PullTarget::Unpack(disk.path().join("big")),
    ] {
        let err = pull(&client, &big, &target, &PullOptions::default()).unwrap_err();
        let modeloci_registry::Error::Archive(err) = &err else {
            panic!("{target:?}: {err}");
        };
        let (needed, _) = no_space(err, "pull");
        assert!(needed > 11 << 20, "the blobs and what they become: {err}");
        assert_eq!(
            disk.left(),
            Vec::<PathBuf>::new(),
            "{target:?} wrote nothing"
        );
    }
    let blob_requests = || {
        proxy
            .requests()
            .iter()
            .filter(|r| r.contains("/blobs/"))
            .count()
    };
    assert_eq!(blob_requests(), 0, "no blob was asked for");

    let small_model = model(work.path(), 1 << 20);
    let small = pushed(&registry.addr, work.path(), &small_model, "small");
    let small: Reference = small
        .to_string()
        .replace(&registry.addr, &proxy.addr)
        .parse()
        .unwrap();
    let target = PullTarget::Unpack(disk.path().join("small"));
    pull(&client, &small, &target, &PullOptions::default()).unwrap();
    assert_eq!(
        fs::read(disk.path().join("small/weights.bin")).unwrap(),
        fs::read(small_model.join("weights.bin")).unwrap()
    );
    assert!(blob_requests() > 0, "the proxy sees blob requests");
}
