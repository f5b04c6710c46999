//! The many-files rows of `cargo xtask bench`: a model of 100,000 small files (group layers,
//! `docs/format.md`), packed against `tar | sha256sum`, verified against `sha256sum` of the
//! archive, unpacked against `tar -xf`.

use std::path::Path;

use anyhow::{Context, Result};

use super::{Case, Row, measure, run_cases};

/// Files in the generated model.
const FILES: usize = 100_000;

/// Generates the model (once: kept under `scratch` between runs), packs `many-fixed.tar`
/// and a plain tar of the tree untimed, then times the rows.
pub(super) fn rows(bin: &str, scratch: &Path, runs: usize) -> Result<Vec<Row>> {
    let model = scratch.join("many-files");
    let done = scratch.join("many-files.done");
    if !done.exists() {
        eprintln!("many-files rows: generating {FILES} files");
        if model.exists() {
            std::fs::remove_dir_all(&model)?;
        }
        generate(&model)?;
        std::fs::write(&done, b"")?;
    }
    let m = model.display().to_string();
    measure(
        &format!(
            "{bin} pack -q --model-dir {m} --name many --version 1 --compression none --output many-fixed.tar \
             && tar -cf many-tree.tar -C {m} ."
        ),
        scratch,
    )?;
    let rows = run_cases(&cases(bin, &m), scratch, runs)?;
    measure("rm -f many-fixed.tar many-tree.tar", scratch)?;
    Ok(rows)
}

/// 100,000 files in 50 x 40 nested directories, 0 to 4,095 bytes each (about 200 MiB),
/// the same bytes every time.
fn generate(model: &Path) -> Result<()> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..FILES {
        let dir = model.join(format!("d{:02}/s{:02}", i % 50, (i / 50) % 40));
        if i < 2000 {
            std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
        }
        let size = (next() % 4096) as usize;
        // Text-like bytes: compressible, as configs, code and docs are.
        let data: Vec<u8> = (0..size)
            .map(|_| b"abcdefgh \n{}:,0123"[(next() % 18) as usize])
            .collect();
        std::fs::write(dir.join(format!("f{i:06}.txt")), data)?;
    }
    Ok(())
}

fn cases(b: &str, m: &str) -> Vec<Case> {
    let pack = |c: &str| {
        format!(
            "{b} pack -q --model-dir {m} --name many --version 1 --compression {c} --output many.tar"
        )
    };
    vec![
        Case {
            name: "pack 100,000 files (gzip, the default)",
            ours: pack("gzip"),
            baseline: format!("tar -cf - -C {m} . | sha256sum > /dev/null"),
            baseline_name: "tar -cf - | sha256sum",
            cleanup: "rm -f many.tar".into(),
            target: Some(2.0),
        },
        Case {
            name: "pack 100,000 files --compression none",
            ours: pack("none"),
            baseline: format!("tar -cf - -C {m} . | sha256sum > /dev/null"),
            baseline_name: "tar -cf - | sha256sum",
            cleanup: "rm -f many.tar".into(),
            target: Some(2.0),
        },
        Case {
            name: "verify 100,000 files (a none archive)",
            ours: format!("{b} verify -q --archive many-fixed.tar"),
            baseline: "sha256sum many-fixed.tar > /dev/null".into(),
            baseline_name: "sha256sum",
            cleanup: String::new(),
            target: None,
        },
        Case {
            name: "unpack 100,000 files (a none archive)",
            ours: format!("{b} unpack -q --archive many-fixed.tar --output many-ours"),
            // The same 100,000 files from a plain tar of the tree.
            baseline: "mkdir many-theirs && tar -xf many-tree.tar -C many-theirs".into(),
            baseline_name: "tar -xf (a tar of the tree)",
            cleanup: "rm -rf many-ours many-theirs".into(),
            target: Some(1.5),
        },
    ]
}
