//! `cargo xtask fuzz [--seconds N] [--target T]`: runs each libFuzzer target (cargo fuzz, no
//! sanitizer, so it builds with the stable toolchain) from a seed corpus built from the
//! fixtures, after replaying the inputs in `fuzz/regressions/<target>/` (each once crashed the
//! target and is fixed). A crash fails the run and leaves its input in `fuzz/artifacts/<target>/`.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use modeloci_tests::rawtar::{Raw, gzip, tar};

use crate::util::{cargo, have, root, sh, timed};

const TARGETS: [&str; 3] = ["documents", "archive", "layer"];

#[derive(clap::Args)]
pub(crate) struct Args {
    /// How long to run each target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Run only this target.
    #[arg(long)]
    target: Option<String>,
}

/// Installs cargo-fuzz when it is missing.
pub(crate) fn ensure_cargo_fuzz() -> Result<()> {
    if have("cargo-fuzz") {
        return Ok(());
    }
    sh(cargo().args(["install", "--locked", "cargo-fuzz"])).context("installing cargo-fuzz")
}

pub(crate) fn run(args: &Args) -> Result<()> {
    ensure_cargo_fuzz()?;
    let targets: Vec<&str> = match &args.target {
        Some(t) if TARGETS.contains(&t.as_str()) => vec![t.as_str()],
        Some(t) => bail!(
            "unknown fuzz target {t:?} (targets: {})",
            TARGETS.join(", ")
        ),
        None => TARGETS.to_vec(),
    };
    let fuzz = root().join("fuzz");
    let mut failed = Vec::new();
    for target in targets {
        // Inputs that once crashed a target run first: each is a regression test.
        let regressions: Vec<_> = fs::read_dir(fuzz.join("regressions").join(target))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        if !regressions.is_empty() {
            let replay = timed(
                &format!("fuzz {target}: replay {} regressions", regressions.len()),
                || {
                    sh(cargo()
                        .args(["fuzz", "run", "-s", "none", target])
                        .args(&regressions))
                },
            );
            if replay.is_err() {
                failed.push(format!("{target} (a regression input crashes it again)"));
                continue;
            }
        }
        let corpus = fuzz.join("corpus").join(target);
        seed(target, &corpus)?;
        let run = timed(&format!("fuzz {target} for {} s", args.seconds), || {
            sh(cargo()
                .args(["fuzz", "run", "-s", "none", target])
                .arg(&corpus)
                .arg("--")
                .arg(format!("-max_total_time={}", args.seconds))
                .args(["-rss_limit_mb=2048", "-print_final_stats=1"]))
        });
        if run.is_err() {
            failed.push(format!(
                "{target} (the crashing input is in fuzz/artifacts/{target}/)"
            ));
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzzing found crashes in {}; make each a test and copy its input to fuzz/regressions/<target>/",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Writes the seed corpus of a target (the fuzzer adds to it as it goes).
fn seed(target: &str, corpus: &Path) -> Result<()> {
    fs::create_dir_all(corpus)?;
    let golden = root().join("fixtures/golden");
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    let archives: Vec<_> = fs::read_dir(&golden)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    match target {
        "archive" => {
            for path in &archives {
                seeds.push((
                    path.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                    fs::read(path)?,
                ));
            }
        }
        "documents" => {
            for path in &archives {
                let mut tar = tar::Archive::new(fs::File::open(path)?);
                for entry in tar.entries()? {
                    let mut entry = entry?;
                    let name = entry.path()?.to_string_lossy().into_owned();
                    if name.ends_with(".json") || name == "oci-layout" {
                        let mut data = Vec::new();
                        entry.read_to_end(&mut data)?;
                        seeds.push((
                            format!(
                                "{}-{}",
                                path.file_stem().unwrap_or_default().to_string_lossy(),
                                name.replace('/', "_")
                            ),
                            data,
                        ));
                    }
                }
            }
            for spec in [
                "oci-image-manifest",
                "modelpack-manifest",
                "reference-manifest",
            ] {
                seeds.push((
                    spec.into(),
                    fs::read(root().join(format!("crates/modeloci-spec/tests/data/{spec}.json")))?,
                ));
            }
        }
        _ => {
            let one = tar(&[Raw::file("model.bin", b"weights")]);
            let tree = tar(&[
                Raw::dir("models/"),
                Raw::file("models/model.bin", b"weights"),
                Raw::file("README.md", b"hi"),
            ]);
            for (name, selector, bytes) in [
                ("one-tar", 0u8, one.clone()),
                ("one-gzip", 1, gzip(&one)),
                ("tree-tar", 0x80, tree.clone()),
                ("tree-gzip", 0x81, gzip(&tree)),
            ] {
                let mut data = vec![selector];
                data.extend(bytes);
                seeds.push((name.into(), data));
            }
        }
    }
    for (name, data) in seeds {
        fs::write(corpus.join(format!("seed-{name}")), data)?;
    }
    Ok(())
}
