//! `cargo xtask python`: the `modeloci` wheel, built reproducibly, installed from PyPI's
//! binary wheels alone into clean virtual environments with no compiler on the `PATH` (the
//! oldest and newest CPython found, and `python3`), then pytest against it: the reference's
//! API and examples, the differences, both directions of the round trip with the CLI, and
//! pulls from real registries.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

use crate::util::{cargo, root, sh, timed};

#[derive(clap::Args, Default)]
pub(crate) struct Args {
    /// Skip the second build that checks the wheel is byte for byte the same.
    #[arg(long)]
    pub(crate) no_reproducibility_check: bool,
}

/// The crate maturin builds.
const MANIFEST: &str = "crates/modeloci-python/Cargo.toml";
/// The tests' own pinned tools: maturin, pydantic, pytest.
const REQUIREMENTS: &str = "crates/modeloci-python/tests/requirements.txt";
/// The virtual environment of the build and the tests.
const VENV: &str = "target/py-venv";

pub(crate) fn run(args: &Args) -> Result<()> {
    let venv = timed("python venv", dev_venv)?;
    let wheel = timed("wheel build", || build_wheel(&venv, "a"))?;
    if !args.no_reproducibility_check {
        timed("wheel rebuild", || check_reproducible(&venv, &wheel))?;
    }
    let pythons = interpreters();
    timed("clean installs", || {
        for python in &pythons {
            clean_install(python, &wheel)?;
        }
        Ok(())
    })?;
    sh(cargo().args(["build", "-p", "modeloci-cli"]))?;
    timed("pytest", || pytest(&venv, &wheel))?;
    // The oldest CPython the wheel is for runs the whole suite too.
    match pythons.get(1) {
        Some(oldest) => timed("pytest (oldest CPython)", || {
            pytest(&test_venv(oldest)?, &wheel)
        }),
        None => Ok(()),
    }
}

/// A virtual environment of `python` with the test tools, beside the others under target/.
fn test_venv(python: &Path) -> Result<PathBuf> {
    let name = python.file_name().unwrap_or_default().to_string_lossy();
    let venv = root().join("target/py-test").join(&*name);
    with_tools(&venv, python)?;
    Ok(venv)
}

/// `target/py-venv` with the pinned build and test tools.
fn dev_venv() -> Result<PathBuf> {
    let venv = root().join(VENV);
    with_tools(&venv, Path::new("python3"))?;
    Ok(venv)
}

/// A virtual environment of `python` at `venv` with the pinned tools.
fn with_tools(venv: &Path, python: &Path) -> Result<()> {
    if !venv.join("bin/python").is_file() {
        sh(Command::new(python).args(["-m", "venv"]).arg(venv))?;
    }
    sh(pip(venv).arg("-r").arg(root().join(REQUIREMENTS)))
}

/// Builds the release wheel into `target/wheels/<slot>/`, beside the release binary's build
/// (same flags, so the shared crates are built once) with no path of this machine in it.
fn build_wheel(venv: &Path, slot: &str) -> Result<PathBuf> {
    let out = root().join("target/wheels").join(slot);
    let _ = fs::remove_dir_all(&out);
    sh(Command::new(venv.join("bin/maturin"))
        .args(["build", "--release", "--locked", "--quiet", "-m", MANIFEST])
        .arg("-o")
        .arg(&out)
        .args(["--target-dir", crate::release::BUILD_DIR])
        .env("CARGO_ENCODED_RUSTFLAGS", crate::release::remap_flags())
        .env(
            "SOURCE_DATE_EPOCH",
            crate::release::source_date_epoch().to_string(),
        ))?;
    let wheels: Vec<PathBuf> = fs::read_dir(&out)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    match wheels.as_slice() {
        [wheel] => Ok(wheel.clone()),
        other => bail!("expected one wheel in {}, found {other:?}", out.display()),
    }
}

/// A second build, the native crate compiled and linked again, must give the same bytes.
fn check_reproducible(venv: &Path, first: &Path) -> Result<()> {
    sh(cargo()
        .args([
            "clean",
            "--release",
            "-p",
            "modeloci-python",
            "--target-dir",
        ])
        .arg(crate::release::BUILD_DIR))?;
    let second = build_wheel(venv, "b")?;
    ensure!(
        first.file_name() == second.file_name() && fs::read(first)? == fs::read(&second)?,
        "two builds gave different wheels: {} and {}",
        first.display(),
        second.display()
    );
    eprintln!(
        "--- wheel: two builds gave the same bytes ({})",
        sha256(first)?
    );
    Ok(())
}

fn sha256(path: &Path) -> Result<String> {
    Ok(modeloci_digest::hash_file(path)
        .with_context(|| format!("hashing {}", path.display()))?
        .digest
        .to_string())
}

/// The interpreters to install on: `python3`, and through pyenv the oldest 3.9 and the
/// newest CPython it has.
fn interpreters() -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("python3")];
    let Some(pyenv_root) = Command::new("pyenv")
        .arg("root")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
    else {
        eprintln!("--- pyenv not found: the wheel is installed on python3 only");
        return found;
    };
    let versions = Path::new(pyenv_root.trim()).join("versions");
    let mut cpython: Vec<(u32, u32, PathBuf)> = fs::read_dir(&versions)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let mut parts = name.split('.');
            let (major, minor) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
            let python = e.path().join(format!("bin/python{major}.{minor}"));
            (major == 3 && minor >= 9 && python.is_file()).then_some((major, minor, python))
        })
        .collect();
    cpython.sort();
    found.extend(cpython.first().map(|v| v.2.clone()));
    found.extend(
        cpython
            .last()
            .filter(|_| cpython.len() > 1)
            .map(|v| v.2.clone()),
    );
    found
}

/// A fresh virtual environment of `python`: the wheel and its dependencies installed from
/// binary wheels only, with nothing but the environment on the `PATH` (no compiler, no
/// cargo), then a model packed, verified and unpacked with it.
fn clean_install(python: &Path, wheel: &Path) -> Result<()> {
    let name = python.file_name().unwrap_or_default().to_string_lossy();
    let venv = root().join("target/py-clean").join(&*name);
    let _ = fs::remove_dir_all(&venv);
    sh(Command::new(python).args(["-m", "venv"]).arg(&venv))?;
    let bin = venv.join("bin");
    let isolated = |cmd: &mut Command| -> Result<()> {
        sh(cmd
            .env_clear()
            .env("PATH", &bin)
            .env("HOME", venv.join("home"))
            .envs(std::env::vars().filter(|(k, _)| k.starts_with("PIP_") || k == "SSL_CERT_FILE"))
            .env("CC", "/nonexistent/cc")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"))
    };
    isolated(
        Command::new(bin.join("python"))
            .args(["-m", "pip", "install", "-q", "--only-binary", ":all:"])
            .arg(wheel),
    )?;
    let smoke = venv.join("smoke.py");
    fs::write(&smoke, SMOKE)?;
    isolated(
        Command::new(bin.join("python"))
            .arg(&smoke)
            .arg(root().join("fixtures/models/tiny"))
            .arg(venv.join("smoke")),
    )?;
    eprintln!("--- {name}: installed with no compiler; packed, verified and unpacked");
    Ok(())
}

/// Packs the tiny model, verifies and unpacks it, and checks the files.
const SMOKE: &str = r#"
import filecmp, pathlib, shutil, sys
import modeloci
from modeloci.core import ModelPackager, ModelUnpackager
from modeloci.models import OCIConfig
model, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
shutil.rmtree(work, ignore_errors=True)
shutil.copytree(model, work / "tiny")
config = OCIConfig(model_name="tiny", version="1.0.0", framework="pytorch", architecture="transformer")
archive = ModelPackager(cache=False).package(str(work / "tiny"), config)
assert modeloci.verify(archive).ok
assert ModelUnpackager().unpack(archive, str(work / "out")) == config
assert not filecmp.dircmp(model, work / "out").diff_files
print(sys.version.split()[0], modeloci.__version__, archive)
"#;

/// The tests' environment with a freshly built release wheel installed, for the benchmark.
pub(crate) fn installed_venv() -> Result<PathBuf> {
    let venv = dev_venv()?;
    let wheel = build_wheel(&venv, "bench")?;
    install(&venv, &wheel)?;
    Ok(venv)
}

/// `pip install -q` in `venv`.
fn pip(venv: &Path) -> Command {
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.args(["-m", "pip", "install", "-q", "--disable-pip-version-check"]);
    cmd
}

fn install(venv: &Path, wheel: &Path) -> Result<()> {
    sh(pip(venv)
        .args(["--force-reinstall", "--no-deps"])
        .arg(wheel))
}

/// The wheel in a tests' environment, then pytest (the CLI built for the round trips).
fn pytest(venv: &Path, wheel: &Path) -> Result<()> {
    install(venv, wheel)?;
    sh(Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root().join("crates/modeloci-python/tests"))
        .env("MODELOCI_BIN", root().join("target/debug/modeloci")))
}
