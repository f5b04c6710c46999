//! `cargo xtask fixtures`: rewrites fixtures/ from the builders the tests check it against.

use anyhow::{Result, anyhow};
use modeloci_tests::fixtures::{TINY_MODEL, build_golden, write_tiny_model};

use crate::util::root;

pub(crate) fn run() -> Result<()> {
    let fixtures = root().join("fixtures");
    let model = fixtures.join(TINY_MODEL);
    if model.exists() {
        std::fs::remove_dir_all(&model)?;
    }
    write_tiny_model(&model)?;
    build_golden(&model, &fixtures.join("golden")).map_err(|e| anyhow!("{e}"))?;
    println!(
        "wrote {} and fixtures/golden/",
        model.strip_prefix(root())?.display()
    );
    Ok(())
}
