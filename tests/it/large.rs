//! Entries of 8 GiB and more: GNU tar and Python read what we write, and we read it back.
//!
//! The model is one sparse file of 8 GiB + 1 byte, so the test writes (and hashes) 8 GiB
//! once; it takes about 15 s on a 2-core machine.

use std::os::unix::fs::FileExt;
use std::process::Command;

use modeloci_archive::{Archive, Compression};

#[test]
fn eight_gib_entries_round_trip_through_gnu_tar_and_python() {
    let size: u64 = (8 << 30) + 1;
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("big");
    std::fs::create_dir(&model).unwrap();
    let file = std::fs::File::create(model.join("weights.bin")).unwrap();
    file.set_len(size).unwrap();
    file.write_all_at(b"end", size - 3).unwrap();
    drop(file);
    let archive = dir.path().join("big.tar");
    let report = crate::pack(&model, &archive, Compression::None);
    let layer = &report.layers[0];
    // header + data + padding + end-of-archive, plus a PAX header for the size.
    assert_eq!(layer.size, 512 + 512 + 512 + size + 511 + 1024);

    let opened = Archive::open(&archive).unwrap();
    let report = crate::assert_verifies(&opened);
    assert_eq!(report.layers.len(), 1);
    assert_eq!(report.layers[0].size, layer.size);

    let gnu = Command::new("tar")
        .args(["-tvf"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        gnu.status.success(),
        "{}",
        String::from_utf8_lossy(&gnu.stderr)
    );
    let listing = String::from_utf8_lossy(&gnu.stdout);
    assert!(
        listing.contains(&format!(
            " {} 1970-01-01 00:00 {}",
            layer.size,
            layer.digest.blob_path()
        )),
        "{listing}"
    );

    // Python reads the outer GNU header and, streaming, the layer's PAX size.
    let script = "import sys, tarfile\n\
        t = tarfile.open(sys.argv[1])\n\
        m = t.getmember(sys.argv[2])\n\
        f = open(sys.argv[1], 'rb'); f.seek(m.offset_data)\n\
        inner = tarfile.open(fileobj=f, mode='r|')\n\
        e = inner.next()\n\
        print(m.size, e.name, e.size)";
    let python = Command::new("python3")
        .args(["-c", script])
        .arg(&archive)
        .arg(layer.digest.blob_path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).trim(),
        format!("{} weights.bin {size}", layer.size),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
}
