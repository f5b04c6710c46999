//! `cargo xtask <command>`: the project's automation, in Rust so that it runs wherever cargo
//! does.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod fixtures;
mod fuzz;
mod python;
mod release;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "modeloci project automation")]
struct Xtask {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything CI checks: installs the third-party tools the tests use, then formatting,
    /// clippy, docs and all tests.
    Ci(ci::Args),
    /// Regenerates fixtures/: the tiny model and the golden archives.
    Fixtures,
    /// Benchmarks against the baselines a user would otherwise script (see README).
    Bench(bench::Args),
    /// Runs the fuzz targets (cargo fuzz) from a seed corpus built from the fixtures.
    Fuzz(fuzz::Args),
    /// Builds the Python wheel reproducibly, installs it with no compiler, and runs pytest.
    Python(python::Args),
    /// Checks versions and CHANGELOG.md, then writes `target/dist/modeloci-<version>-<target>.tar.gz`
    /// and SHA256SUMS, reproducibly.
    Release(release::Args),
    /// Writes the man pages (target/man by default).
    Man(release::ManArgs),
}

fn main() -> Result<()> {
    match Xtask::parse().command {
        Command::Ci(args) => ci::run(&args),
        Command::Fixtures => fixtures::run(),
        Command::Bench(args) => bench::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Python(args) => python::run(&args),
        Command::Release(args) => release::run(&args),
        Command::Man(args) => release::man(&args),
    }
}
