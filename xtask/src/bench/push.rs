//! The `pack --push` rows of `cargo xtask bench`: packing straight into the local registry
//! against `pack` then `push` (and the disk each uses), and a re-push after one small file
//! changed, with the digest cache, against the first push (and the bytes it read).

use std::path::Path;

use anyhow::{Context, Result};

use super::{Row, Samples, measure};

/// Times the rows against a registry of their own; every run pushes to a repository of its
/// own, so nothing an earlier run uploaded is skipped. The model is read, never changed: the
/// re-push changes a file in a hard-linked copy in `scratch`.
pub(super) fn rows(bin: &str, model: &Path, scratch: &Path, runs: usize) -> Result<Vec<Row>> {
    let registry = modeloci_tests::registry::Registry::start(None);
    let reg = &registry.addr;
    let env = "DOCKER_CONFIG=/nonexistent MODELOCI_CACHE_DIR=push-cache";
    let pack =
        |dir: &str| format!("{env} {bin} pack -q --model-dir {dir} --name bench --version 1");
    let m = model.display().to_string();
    let (mut direct, mut staged) = (Samples::default(), Samples::default());
    let mut staged_bytes = 0;
    for run in 0..runs {
        measure("rm -f staged.tar; sync", scratch)?;
        direct.run(
            &format!("{} --no-cache --push {reg}/direct{run}/m:1", pack(&m)),
            scratch,
        )?;
        measure("sync", scratch)?;
        staged.run(
            &format!(
                "{} --no-cache -o staged.tar && {env} {bin} push -q --archive staged.tar {reg}/staged{run}/m:1",
                pack(&m)
            ),
            scratch,
        )?;
        staged_bytes = std::fs::metadata(scratch.join("staged.tar"))?.len();
    }
    measure("rm -f staged.tar", scratch)?;
    eprintln!(
        "pack --push: no disk; pack then push: a {} MiB archive",
        staged_bytes >> 20
    );
    let mut rows = vec![Row::new(
        "pack --push (gzip, local registry)",
        "pack -o A && push --archive A",
        direct,
        staged,
        Some(1.0),
    )];
    rows.push(re_push(&pack("push-model"), &m, reg, scratch, runs)?);
    Ok(rows)
}

/// A re-push after one small file changed, with the cache, against the first push.
fn re_push(pack: &str, model: &str, reg: &str, scratch: &Path, runs: usize) -> Result<Row> {
    // Hard links keep each file's identity; the change of their link count is a change the
    // cache sees once, before the first push, which the wait makes old enough to trust.
    measure(
        &format!(
            "rm -rf push-model && (cp -al {model} push-model || cp -a {model} push-model) && sleep 3"
        ),
        scratch,
    )?;
    let (mut again, mut first) = (Samples::default(), Samples::default());
    let mut read = String::new();
    for run in 0..runs {
        measure("rm -rf push-cache; sync", scratch)?;
        first.run(&format!("{pack} --push {reg}/cached{run}/m:1"), scratch)?;
        measure(
            &format!(
                "rm -f push-model/config.json && echo '{{\"run\": {run}}}' > push-model/config.json; sync"
            ),
            scratch,
        )?;
        again.run(
            &format!("{pack} --push {reg}/cached{run}/m:2 --json > re-push.json"),
            scratch,
        )?;
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(scratch.join("re-push.json"))?)?;
        read = format!(
            "{} of {} bytes read, {} layers remembered, {} bytes uploaded",
            json["bytesRead"], json["inputBytes"], json["layersRemembered"], json["bytesUploaded"]
        );
    }
    eprintln!("re-push after one small change: {read}");
    measure("rm -rf push-model push-cache re-push.json", scratch).context("cleaning up")?;
    Ok(Row::new(
        "re-push, one small file changed (digest cache)",
        "the first pack --push",
        again,
        first,
        None,
    ))
}
