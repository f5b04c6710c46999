//! Archives as the reference implementation (Python, `tarfile` and pydantic) writes them,
//! built from the description in `docs/format.md` §1.4 and what CPython 3.11's `tarfile`
//! does byte for byte: PAX-format headers each preceded by a `././@PaxHeader` holding a
//! fractional mtime, owner `root`, a root directory entry named `/`, archives padded to 10 KiB
//! records, gzip level 9 layers with a time stamp in their header, a root `manifest.json` with
//! snake_case keys, a root `config.json`, and no `oci-layout` or `index.json`.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use modeloci_digest::Hasher;
use modeloci_spec::OciConfig;

/// The time stamp the emulated Python wrote its files at.
pub const MTIME: u64 = 1_700_000_000;

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// One member as `tarfile` writes it in PAX format for a file with a float mtime.
fn member(out: &mut Vec<u8>, name: &str, typeflag: u8, mode: u32, data: &[u8]) {
    let record = format!(" mtime={MTIME}.25\n");
    let len = record.len() + 2;
    let pax = format!("{len}{record}");
    header(out, "././@PaxHeader", b'x', 0, pax.len() as u64);
    out.extend_from_slice(pax.as_bytes());
    pad(out);
    header(out, name, typeflag, mode, data.len() as u64);
    out.extend_from_slice(data);
    pad(out);
}

fn header(out: &mut Vec<u8>, name: &str, typeflag: u8, mode: u32, size: u64) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], if typeflag == b'x' { 0 } else { MTIME });
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    if typeflag != b'x' {
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
    }
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    out.extend_from_slice(&h);
}

fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn finish(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0; 1024]);
    out.resize(out.len().div_ceil(10_240) * 10_240, 0);
}

/// A layer as the reference makes it: `tarfile.open(mode="w:gz")` of the one file.
pub fn layer(rel: &str, data: &[u8], executable: bool) -> Vec<u8> {
    let mut tar = Vec::new();
    member(
        &mut tar,
        rel,
        b'0',
        if executable { 0o755 } else { 0o644 },
        data,
    );
    finish(&mut tar);
    let mut gz = flate2::GzBuilder::new()
        .mtime(MTIME as u32)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).expect("writes to memory");
    gz.finish().expect("writes to memory")
}

/// The files of `model_dir` as (relative path, content, executable), sorted.
pub fn model_files(model_dir: &Path) -> io::Result<Vec<(String, Vec<u8>, bool)>> {
    let mut files = Vec::new();
    let mut stack = vec![model_dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let meta = std::fs::metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(model_dir)
                    .expect("below the root")
                    .to_string_lossy()
                    .into_owned();
                files.push((
                    rel,
                    std::fs::read(&path)?,
                    meta.permissions().mode() & 0o111 != 0,
                ));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Writes the archive the reference implementation would write for `model_dir`.
pub fn write_archive(model_dir: &Path, config: &OciConfig, out: &Path) -> io::Result<()> {
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    for (rel, data, executable) in model_files(model_dir)? {
        let blob = layer(&rel, &data, executable);
        let measured = Hasher::digest_bytes(&blob);
        layers.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": measured.digest.as_str(),
            "size": measured.size,
            "annotations": {"org.opencontainers.image.title": rel},
        }));
        blobs.push((measured.digest.hex().to_owned(), blob));
    }
    let config_bytes = config.to_json();
    let config_blob = Hasher::digest_bytes(&config_bytes);
    let manifest = serde_json::json!({
        "schema_version": 2,
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_blob.digest.as_str(),
            "size": config_blob.size,
        },
        "layers": layers,
    });
    let mut tar = Vec::new();
    member(&mut tar, "/", b'5', 0o755, b"");
    member(&mut tar, "blobs/", b'5', 0o755, b"");
    member(&mut tar, "blobs/sha256/", b'5', 0o755, b"");
    blobs.sort();
    for (hex, blob) in &blobs {
        member(&mut tar, &format!("blobs/sha256/{hex}"), b'0', 0o644, blob);
    }
    member(&mut tar, "config.json", b'0', 0o644, &config_bytes);
    member(
        &mut tar,
        "manifest.json",
        b'0',
        0o644,
        manifest.to_string().as_bytes(),
    );
    finish(&mut tar);
    std::fs::write(out, tar)
}
