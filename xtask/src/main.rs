//! `cargo xtask <command>`: the project's automation, in Rust so that it runs wherever cargo
//! does.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod fixtures;
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
}

fn main() -> Result<()> {
    match Xtask::parse().command {
        Command::Ci(args) => ci::run(&args),
        Command::Fixtures => fixtures::run(),
        Command::Bench(args) => bench::run(&args),
    }
}
