//! `cargo xtask bench`.

use anyhow::Result;

#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: &Args) -> Result<()> {
    Ok(())
}
