//! The signing rows of `cargo xtask bench`: `modeloci sign`, `verify --key` and
//! `verify --dir` against `model_signing` 1.1.1 (the OpenSSF tool) on the same model
//! directory, and `unpack --key` against `tar -xf`.

use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};

use super::{Case, Row, files, measure, run_cases};

/// Makes a P-256 key pair (`k.pem`, `k.pub`), a signed copy of `fixed.tar` (`signed.tar`)
/// and `model_signing`'s bundle for the model directory (`s.sig`) in `scratch`, untimed;
/// then times the rows. Every file the commands write is in `scratch`, outside the model
/// directory, which is checked to hold the same files afterwards.
pub(super) fn rows(bin: &str, model: &Path, scratch: &Path, runs: usize) -> Result<Vec<Row>> {
    let oms = modeloci_tests::oms::model_signing().display().to_string();
    let before = model_files(model)?;
    let m = model.display().to_string();
    eprintln!("signing rows: keys, a signed archive and model_signing's bundle");
    measure(
        "openssl ecparam -name prime256v1 -genkey -noout -out k.pem && \
         openssl ec -in k.pem -pubout -out k.pub 2>/dev/null",
        scratch,
    )?;
    measure(
        &format!("cp fixed.tar signed.tar && {bin} sign -q signed.tar --key k.pem"),
        scratch,
    )?;
    measure(&oms_sign(&oms, &m, "s.sig"), scratch)?;
    let rows = run_cases(&cases(bin, &oms, &m), scratch, runs)?;
    ensure!(
        model_files(model)? == before,
        "the signing rows changed the files of {m}"
    );
    measure("rm -f k.pem k.pub signed.tar fresh.tar s.sig", scratch)?;
    Ok(rows)
}

fn oms_sign(oms: &str, model: &str, signature: &str) -> String {
    format!("{oms} sign key --private_key k.pem --signature {signature} {model} > /dev/null")
}

fn cases(bin: &str, oms: &str, m: &str) -> Vec<Case> {
    let oms_verify =
        format!("{oms} verify key --signature s.sig --public_key k.pub {m} > /dev/null");
    vec![
        Case {
            name: "sign (a none archive)",
            // Each run signs a fresh copy of the unsigned archive, copied untimed by the
            // clean-up (once a run: the baseline's clean-up copies for the next run) and
            // renamed into place (a rename) by the timed command.
            ours: format!("mv fresh.tar sign.tar && {bin} sign -q sign.tar --key k.pem"),
            baseline: oms_sign(oms, m, "theirs.sig"),
            baseline_name: "model_signing sign key DIR",
            cleanup: "rm -f theirs.sig sign.tar && { [ -e fresh.tar ] || cp fixed.tar fresh.tar; }"
                .into(),
            target: Some(1.0),
        },
        Case {
            name: "verify --key (a signed none archive)",
            ours: format!("{bin} verify -q signed.tar --key k.pub"),
            baseline: oms_verify.clone(),
            baseline_name: "model_signing verify key DIR",
            cleanup: String::new(),
            target: Some(1.0),
        },
        Case {
            name: "verify --dir DIR --signature (model_signing's bundle)",
            ours: format!("{bin} verify -q --dir {m} --signature s.sig --key k.pub"),
            baseline: oms_verify,
            baseline_name: "model_signing verify key DIR",
            cleanup: String::new(),
            target: Some(1.0),
        },
        Case {
            name: "unpack --key --signature-out (a signed none archive)",
            ours: format!(
                "{bin} unpack -q signed.tar --output ours-out --key k.pub --signature-out ours.sig"
            ),
            baseline: "mkdir theirs-out && tar -xf signed.tar -C theirs-out".into(),
            baseline_name: "tar -xf (no signature check)",
            cleanup: "rm -rf ours-out theirs-out ours.sig".into(),
            target: None,
        },
    ]
}

/// The model directory's files and sizes, sorted, to prove no command left anything there.
fn model_files(model: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let mut out = files(model)?
        .into_iter()
        .map(|f| {
            let len = std::fs::metadata(&f)?.len();
            Ok((f, len))
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    Ok(out)
}
