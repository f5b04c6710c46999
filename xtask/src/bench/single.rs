//! The single-file rows of `cargo xtask bench --single-file SIZE`: one bf16 file of SIZE
//! (20G in the published figures), each operation against its baseline in the same run,
//! medians and peak RSS: pack `none` against `tar -cf`, gzip against `pigz -H -p 2`
//! (Huffman only: the literals-only deflate our gzip uses for weights), zstd against
//! `zstd -1 -T2`, verify against `sha256sum` and `openssl dgst -sha256`, unpack against
//! `tar -x`.
//!
//! Disk: every output is removed before the next run (each case's clean-up), so at most the
//! model, the archive verify and unpack read, and one output exist at once: three times SIZE.
//! Free space is checked first.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Result, bail};

use super::{Case, Row, measure, run_cases, write_bf16};

/// The report of the single-file rows, as a table.
pub(super) fn report(size: u64, work: &Path, bin: &str, runs: usize) -> Result<String> {
    let dir = work.join(format!("single-{}M", size >> 20));
    check_space(work, &dir, size)?;
    synthetic_model_single(&dir, size)?;
    let scratch = work.join("scratch-single");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    fs::create_dir_all(&scratch)?;
    let d = dir.display().to_string();
    let mut rows = run_cases(&pack_cases(bin, &d), &scratch, runs)?;
    // The archive verify and unpack read, made once.
    measure(
        &format!(
            "{bin} pack -q --model-dir {d} --name big --version 1 --compression none --output fixed.tar"
        ),
        &scratch,
    )?;
    rows.extend(run_cases(&read_cases(bin), &scratch, runs)?);
    fs::remove_dir_all(&scratch)?;
    Ok(table(size, runs, &rows))
}

/// Refuses to start when the disk cannot hold the model and two copies of it.
fn check_space(work: &Path, dir: &Path, size: u64) -> Result<()> {
    fs::create_dir_all(work)?;
    let have_model = dir.with_extension("complete").exists();
    let needed = size * if have_model { 2 } else { 3 } + (256 << 20);
    let (_, available) = modeloci_archive::available_space(work)?;
    eprintln!(
        "single-file rows: a {} MiB file{} and up to two archives of it: {} MiB needed, {} MiB free",
        size >> 20,
        if have_model { " (made before)" } else { "" },
        needed >> 20,
        available >> 20
    );
    if available < needed {
        bail!(
            "{} has {} MiB free; the single-file rows need {} MiB (the file and two copies)",
            work.display(),
            available >> 20,
            needed >> 20
        );
    }
    Ok(())
}

fn pack_cases(bin: &str, d: &str) -> Vec<Case> {
    let pack = |c: &str| {
        format!(
            "{bin} pack -q --model-dir {d} --name big --version 1 --compression {c} --output ours.tar"
        )
    };
    vec![
        Case {
            name: "pack --compression none",
            ours: pack("none"),
            baseline: format!("tar -cf theirs.tar -C {d} ."),
            baseline_name: "tar -cf",
            cleanup: "rm -f ours.tar theirs.tar".into(),
            target: None,
        },
        Case {
            name: "pack (gzip, the default)",
            ours: pack("gzip"),
            baseline: format!("tar -cf - -C {d} . | pigz -H -p 2 > theirs.tar.gz"),
            baseline_name: "tar | pigz -H -p 2",
            cleanup: "rm -f ours.tar theirs.tar.gz".into(),
            target: None,
        },
        Case {
            name: "pack --compression zstd",
            ours: pack("zstd"),
            baseline: format!("tar -cf - -C {d} . | zstd -q -1 -T2 > theirs.tar.zst"),
            baseline_name: "tar | zstd -1 -T2",
            cleanup: "rm -f ours.tar theirs.tar.zst".into(),
            target: None,
        },
    ]
}

fn read_cases(bin: &str) -> Vec<Case> {
    vec![
        Case {
            name: "verify",
            ours: format!("{bin} verify -q --archive fixed.tar"),
            baseline: "sha256sum fixed.tar > /dev/null".into(),
            baseline_name: "sha256sum",
            cleanup: String::new(),
            target: None,
        },
        Case {
            name: "verify",
            ours: format!("{bin} verify -q --archive fixed.tar"),
            baseline: "openssl dgst -sha256 fixed.tar > /dev/null".into(),
            baseline_name: "openssl dgst -sha256",
            cleanup: String::new(),
            target: None,
        },
        Case {
            name: "unpack (a none archive)",
            ours: format!("{bin} unpack -q --archive fixed.tar --output ours-out"),
            baseline: "mkdir theirs-out && tar -xf fixed.tar -C theirs-out".into(),
            baseline_name: "tar -xf",
            cleanup: "rm -rf ours-out theirs-out".into(),
            target: None,
        },
    ]
}

fn table(size: u64, runs: usize, rows: &[Row]) -> String {
    let mut out = format!(
        "one file of {} MiB; {runs} run(s) each, medians\n\n\
         | operation | ours | MB/s | peak RSS | baseline | baseline time | MB/s | baseline RSS | ratio |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        size >> 20
    );
    let mbs = |secs: f64| size as f64 / secs / 1e6;
    for r in rows {
        let _ = writeln!(
            out,
            "| `{}` | {:.2} s | {:.0} | {} MiB | `{}` | {:.2} s | {:.0} | {} MiB | {:.2}x |",
            r.name,
            r.ours,
            mbs(r.ours),
            r.rss_ours / 1024,
            r.baseline_name,
            r.theirs,
            mbs(r.theirs),
            r.rss_theirs / 1024,
            r.ratio,
        );
    }
    out
}

fn synthetic_model_single(dir: &Path, size: u64) -> Result<()> {
    let marker = dir.with_extension("complete");
    if marker.exists() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    eprintln!(
        "generating one {} MiB file in {}",
        size >> 20,
        dir.display()
    );
    write_bf16(&dir.join("model.safetensors"), size, 99)?;
    fs::write(marker, "")?;
    Ok(())
}
