//! Files swapped between the walk and the read: an attacker who can write in the model
//! directory while it is packed replaces a file the walk saw by a link of the same size.
//! The swap happens when the packager announces the file to its progress receiver, after the
//! walk and before the file is opened: deterministic, through the public API.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use modeloci_archive::{ModelPackager, PackOptions, Progress, ProgressHandle, Symlinks};

use crate::config;

/// Swaps `victim` for what `swap` makes of it when packing reaches it.
struct Swapper {
    victim: PathBuf,
    swap: Box<dyn Fn(&Path) + Send + Sync>,
    done: Mutex<bool>,
}

impl Progress for Swapper {
    fn start(&self, _what: &str, _total: u64) {}
    fn advance(&self, _bytes: u64) {}
    fn file_started(&self, name: &str, _size: u64) {
        if self.victim.ends_with(name) {
            (self.swap)(&self.victim);
            *self.done.lock().unwrap() = true;
        }
    }
    fn finish(&self) {}
}

/// A model of two files (`a.txt`, `w.bin`, 5 bytes each) beside a 5-byte `secret`; packs it
/// under `symlinks` with `w.bin` swapped by `swap` when its turn comes.
fn pack_swapped(
    symlinks: Symlinks,
    swap: impl Fn(&Path) + Send + Sync + 'static,
) -> (
    tempfile::TempDir,
    modeloci_archive::Result<modeloci_archive::PackReport>,
) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("a.txt"), b"hello").unwrap();
    std::fs::write(model.join("w.bin"), b"12345").unwrap();
    std::fs::write(dir.path().join("secret"), b"S3CR3").unwrap();
    let swapper = std::sync::Arc::new(Swapper {
        victim: model.join("w.bin"),
        swap: Box::new(swap),
        done: Mutex::new(false),
    });
    let options = PackOptions::default()
        .with_symlinks(symlinks)
        .with_output(dir.path().join("m.tar"))
        .with_progress(Some(ProgressHandle(swapper.clone())));
    let result = ModelPackager::with_options(options).pack(&model, &config("m"));
    assert!(*swapper.done.lock().unwrap(), "the swap happened");
    (dir, result)
}

fn to_secret(victim: &Path) {
    std::fs::remove_file(victim).unwrap();
    let secret = victim.parent().unwrap().parent().unwrap().join("secret");
    std::os::unix::fs::symlink(secret, victim).unwrap();
}

#[test]
fn a_file_swapped_for_a_link_while_packing_is_refused() {
    for symlinks in [Symlinks::Error, Symlinks::Skip] {
        let (dir, result) = pack_swapped(symlinks, to_secret);
        let err = result.expect_err("packed the link's target");
        assert_eq!(
            err.to_string(),
            format!(
                "cannot pack {}: it changed while packing: it is a symbolic link now",
                dir.path().join("model/w.bin").display()
            )
        );
        assert!(!dir.path().join("m.tar").exists());
        crate::names(dir.path())
            .iter()
            .for_each(|n| assert!(!n.contains(".modeloci-tmp-"), "left {n}"));
    }
    // Following links, the target must still be the file the walk saw.
    let (dir, result) = pack_swapped(Symlinks::Follow, to_secret);
    assert_eq!(
        result.expect_err("packed another file").to_string(),
        format!(
            "cannot pack {}: it changed while packing: another file is at its path now",
            dir.path().join("model/w.bin").display()
        )
    );
}

#[test]
fn a_file_that_changes_size_while_packing_is_refused() {
    for (content, symlinks) in [
        (&b"123"[..], Symlinks::Follow),
        (b"1234567", Symlinks::Error),
    ] {
        let (dir, result) = pack_swapped(symlinks, move |victim| {
            std::fs::write(victim, content).unwrap();
        });
        assert_eq!(
            result.expect_err("packed a changed file").to_string(),
            format!(
                "{} changed while it was being packed (expected 5 bytes)",
                dir.path().join("model/w.bin").display()
            )
        );
        assert!(!dir.path().join("m.tar").exists());
    }
}

#[test]
fn a_file_swapped_for_a_fifo_while_packing_is_refused_at_once() {
    let (dir, result) = pack_swapped(Symlinks::Follow, |victim| {
        std::fs::remove_file(victim).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(victim)
            .status()
            .unwrap();
        assert!(status.success());
    });
    assert_eq!(
        result.expect_err("packed a FIFO").to_string(),
        format!(
            "cannot pack {}: it changed while packing: it is not a regular file now",
            dir.path().join("model/w.bin").display()
        )
    );
}
