//! `cargo xtask ci`: what CI runs, and what a contributor runs before pushing.

use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::util::{cargo, ensure_debian_tools, ensure_python_venv, have, sh, timed};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Skip formatting, clippy and docs: only the tests.
    #[arg(long)]
    tests_only: bool,
}

/// The third-party programs the tests drive, and the Debian packages that bring them.
pub(crate) const TEST_TOOLS: &[(&str, &str)] = &[
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("oci-image-tool", "oci-image-tool"),
    ("gzip", "gzip"),
    ("docker-registry", "docker-registry"),
    ("htpasswd", "apache2-utils"),
    ("openssl", "openssl"),
];

pub(crate) fn run(args: &Args) -> Result<()> {
    let start = Instant::now();
    timed("tools", || {
        ensure_debian_tools(TEST_TOOLS)?;
        ensure_python_venv()
    })?;
    if !args.tests_only {
        timed("fmt", || {
            sh(cargo().args(["fmt", "--all", "--", "--check"]))?;
            // The fuzz targets are their own workspace, which `cargo fmt --all` skips.
            let targets: Vec<_> = std::fs::read_dir(crate::util::root().join("fuzz/fuzz_targets"))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            sh(Command::new("rustfmt")
                .args(["--check", "--edition", "2024"])
                .args(targets))
        })?;
        timed("clippy", || {
            sh(cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
        timed("doc", || {
            sh(cargo()
                .args(["doc", "--workspace", "--no-deps"])
                .env("RUSTDOCFLAGS", "-D warnings"))
        })?;
    }
    timed("test", || {
        sh(cargo().args(["test", "--workspace"]).env("CI", "true"))
    })?;
    if !args.tests_only {
        // The fuzz targets' bodies replay their regressions and seeds in `cargo test`
        // (tests/it/fuzz_replay.rs); the libFuzzer runs, which need a build of their own
        // (five minutes here), are `cargo xtask fuzz`.
        timed("release", release_is_reproducible)?;
    }
    // After the release build: the wheel shares its build directory and flags.
    timed("python", || {
        crate::python::run(&crate::python::Args::default())
    })?;
    if have("cargo-deny") {
        timed("deny", || {
            sh(cargo().args(["deny", "check", "bans", "licenses", "sources"]))
        })?;
    } else {
        eprintln!(
            "--- deny: cargo-deny is not installed; skipped (cargo install cargo-deny --locked)"
        );
    }
    eprintln!("--- ci passed in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// `cargo xtask release` twice: the second run must write the same bytes.
fn release_is_reproducible() -> Result<()> {
    let sums = crate::util::root().join("target/dist/SHA256SUMS");
    crate::release::run(&crate::release::Args::default())?;
    let first = std::fs::read_to_string(&sums)?;
    crate::release::run(&crate::release::Args { no_package: true })?;
    let second = std::fs::read_to_string(&sums)?;
    anyhow::ensure!(
        first == second,
        "two release runs gave different archives:\n{first}{second}"
    );
    eprintln!("--- release: two runs gave the same bytes");
    Ok(())
}
