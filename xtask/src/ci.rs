//! `cargo xtask ci`: what CI runs, and what a contributor runs before pushing.

use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::util::{ensure_debian_tools, have, sh, timed};

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
];

pub(crate) fn run(args: &Args) -> Result<()> {
    let start = Instant::now();
    timed("tools", || ensure_debian_tools(TEST_TOOLS))?;
    let cargo = || Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    if !args.tests_only {
        timed(
            "fmt",
            || sh(cargo().args(["fmt", "--all", "--", "--check"])),
        )?;
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
