//! `cargo xtask release`: checks that the release is consistent, builds the binary, and writes
//! `target/dist/modeloci-<version>-<target>.tar.gz` (binary, README, changelog, licenses,
//! completions, man pages) and `SHA256SUMS`, byte for byte the same on every run of the same
//! commit. `cargo xtask man` writes only the man pages.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap_complete::Shell;
use flate2::{Compression, GzBuilder};

use crate::util::{cargo, root, sh, timed};

/// The CLI's clap types, included from its source rather than depended on (nothing depends on
/// the binary crate): the man pages and completions come from the one definition. Their
/// version is the workspace's, which every crate shares (`check_versions`).
#[path = "../../crates/modeloci-cli/src/cli.rs"]
// Its doc comments are `--help` text, where `host[:port]` is no link.
#[allow(dead_code, unreachable_pub, rustdoc::broken_intra_doc_links)]
mod cli;

fn clap_command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}

#[derive(clap::Args, Default)]
pub(crate) struct Args {
    /// Skip `cargo package` (it builds every published crate from its package).
    #[arg(long)]
    pub(crate) no_package: bool,
}

#[derive(clap::Args)]
pub(crate) struct ManArgs {
    /// Where to write the pages.
    #[arg(long, default_value = "target/man")]
    out: PathBuf,
}

/// The workspace members that are not published (`publish = false`).
/// The Python package's native crate is published as a wheel (`cargo xtask python`).
const UNPUBLISHED: [&str; 3] = ["xtask", "modeloci-tests", "modeloci-python"];

/// Where the release binary is built, apart from `target/release` so that benchmarks and
/// releases (built with other flags) do not rebuild each other.
pub(crate) const BUILD_DIR: &str = "target/dist-build";

pub(crate) fn man(args: &ManArgs) -> Result<()> {
    let out = root().join(&args.out);
    let pages = write_man_pages(&out)?;
    eprintln!("wrote {pages} man pages to {}", out.display());
    Ok(())
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let version = check_versions()?;
    check_changelog(&version)?;
    if !args.no_package {
        // Every published crate packs and builds from its package alone, lowest layer
        // first (cargo orders them by their dependencies, through a local registry).
        clear_stale_packages(&version)?;
        let mut cmd = cargo();
        cmd.args(["package", "--workspace", "--locked", "--allow-dirty"]);
        for name in UNPUBLISHED {
            cmd.args(["--exclude", name]);
        }
        timed("cargo package", || sh(&mut cmd))?;
    }
    let target = host_target()?;
    let flags = remap_flags();
    timed("release build", || {
        sh(cargo()
            .args(["build", "--release", "--locked", "-p", "modeloci-cli"])
            .args(["--target-dir", BUILD_DIR])
            .env("CARGO_ENCODED_RUSTFLAGS", flags))
    })?;
    let binary = root().join(BUILD_DIR).join("release/modeloci");
    let dist = root().join("target/dist");
    fs::create_dir_all(&dist)?;
    let name = format!("modeloci-{version}-{target}");
    let tarball = dist.join(format!("{name}.tar.gz"));
    let files = release_files(&binary)?;
    write_tarball(&tarball, &name, &files, source_date_epoch())?;
    let sum = modeloci_digest::hash_file(&tarball)
        .with_context(|| format!("hashing {}", tarball.display()))?;
    let sums = format!("{}  {name}.tar.gz\n", sum.digest.hex());
    fs::write(dist.join("SHA256SUMS"), &sums)?;
    eprintln!("wrote {} ({} bytes)", tarball.display(), sum.size);
    eprint!("{sums}");
    Ok(())
}

/// The rustc flags of a reproducible build, as `CARGO_ENCODED_RUSTFLAGS`: no path of this
/// machine in the binary (panic locations name the sources as they would be anywhere).
pub(crate) fn remap_flags() -> String {
    [
        format!("--remap-path-prefix={}=/modeloci", root().display()),
        format!("--remap-path-prefix={}=/cargo", cargo_home().display()),
    ]
    .join("\x1f")
}

fn cargo_home() -> PathBuf {
    std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|_| PathBuf::from(".cargo"))
}

/// Forgets what an earlier `cargo package` unpacked and built of our crates. Cargo treats a
/// registry crate as immutable: it unpacks `name-version` from its temporary local registry
/// once, and reuses the build of it, so while the version stays the same a crate would be
/// verified against its dependencies' code of the last run rather than this one.
fn clear_stale_packages(version: &str) -> Result<()> {
    let src = cargo_home().join("registry/src");
    for registry in fs::read_dir(&src).into_iter().flatten().flatten() {
        // crates.io's and other named registries' copies are real downloads: keep them.
        if registry.file_name().to_string_lossy().starts_with("index.") {
            continue;
        }
        for entry in fs::read_dir(registry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("modeloci-") && name.ends_with(&format!("-{version}")) {
                fs::remove_dir_all(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
            }
        }
    }
    // And the builds of those copies: their dep-info names the registry's sources.
    let debug = root().join("target/debug");
    for entry in fs::read_dir(debug.join("deps"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(unit) = name
            .strip_suffix(".d")
            .filter(|u| u.starts_with("modeloci_"))
        else {
            continue;
        };
        if !fs::read_to_string(entry.path()).is_ok_and(|t| t.contains("/registry/src/")) {
            continue;
        }
        let _ = fs::remove_dir_all(debug.join(".fingerprint").join(unit.replace('_', "-")));
        for stale in [
            format!("lib{unit}.rlib"),
            format!("lib{unit}.rmeta"),
            name.clone(),
        ] {
            let _ = fs::remove_file(debug.join("deps").join(stale));
        }
    }
    Ok(())
}

/// The version every published crate carries; fails when they disagree, or when the
/// workspace's own dependency requirements name another.
fn check_versions() -> Result<String> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .current_dir(root())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let packages = meta["packages"].as_array().context("no packages")?;
    let mut versions = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        let publish = package["publish"].as_array().is_none_or(|r| !r.is_empty());
        if !publish {
            continue;
        }
        let version = package["version"].as_str().unwrap_or_default().to_owned();
        versions.push((name.to_owned(), version.clone()));
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if dep["path"].is_string() && dep["kind"].is_null() {
                let req = dep["req"].as_str().unwrap_or_default();
                if req.trim_start_matches(['^', '=']) != version {
                    bail!("{name} {version} depends on {dep_name} {req}: the versions disagree");
                }
            }
        }
    }
    let Some((_, first)) = versions.first().cloned() else {
        bail!("no publishable crates in the workspace");
    };
    if let Some((name, other)) = versions.iter().find(|(_, v)| *v != first) {
        bail!("{name} is at {other}, the others at {first}: the crates' versions disagree");
    }
    eprintln!(
        "--- {} crates at version {first}: {}",
        versions.len(),
        versions
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(first)
}

/// CHANGELOG.md must have a `## [<version>]` section with something in it.
fn check_changelog(version: &str) -> Result<()> {
    let text = fs::read_to_string(root().join("CHANGELOG.md")).context("reading CHANGELOG.md")?;
    let heading = format!("## [{version}]");
    let Some(start) = text.find(&heading) else {
        bail!("CHANGELOG.md has no `{heading}` section: say what {version} changes");
    };
    let body = &text[start + heading.len()..];
    let body = body.split("\n## ").next().unwrap_or_default();
    if !body
        .lines()
        .skip(1)
        .any(|l| l.trim_start().starts_with("- "))
    {
        bail!("CHANGELOG.md's `{heading}` section lists no changes");
    }
    Ok(())
}

fn host_target() -> Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV names no host")
}

/// The commit's time: the same tarball for the same commit, whenever it is built.
pub(crate) fn source_date_epoch() -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return epoch;
    }
    Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root())
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A file of the release: its path in the tarball, its bytes, whether it is executable.
struct ReleaseFile {
    path: String,
    bytes: Vec<u8>,
    executable: bool,
}

fn release_files(binary: &Path) -> Result<Vec<ReleaseFile>> {
    let mut files = vec![ReleaseFile {
        path: "modeloci".into(),
        bytes: fs::read(binary).with_context(|| format!("reading {}", binary.display()))?,
        executable: true,
    }];
    for doc in ["README.md", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"] {
        files.push(ReleaseFile {
            path: doc.into(),
            bytes: fs::read(root().join(doc)).with_context(|| format!("reading {doc}"))?,
            executable: false,
        });
    }
    for (shell, file) in [
        (Shell::Bash, "modeloci.bash"),
        (Shell::Zsh, "_modeloci"),
        (Shell::Fish, "modeloci.fish"),
        (Shell::PowerShell, "_modeloci.ps1"),
    ] {
        let mut bytes = Vec::new();
        clap_complete::generate(shell, &mut clap_command(), "modeloci", &mut bytes);
        files.push(ReleaseFile {
            path: format!("completions/{file}"),
            bytes,
            executable: false,
        });
    }
    for (name, bytes) in man_pages()? {
        files.push(ReleaseFile {
            path: format!("man/{name}"),
            bytes,
            executable: false,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// `modeloci.1` and one page per command (`modeloci-pack.1`, ...), as `man` finds them.
fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut command = clap_command();
    // Propagates the global options (--json, --quiet) and the version to every command.
    command.build();
    let version = command.get_version().unwrap_or_default().to_owned();
    let mut pages = Vec::new();
    let mut render = |cmd: clap::Command, name: String| -> Result<()> {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(cmd.name(name.clone()).version(version.clone()))
            .date("")
            .render(&mut bytes)?;
        pages.push((format!("{name}.1"), bytes));
        Ok(())
    };
    render(command.clone(), "modeloci".into())?;
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        render(sub.clone(), format!("modeloci-{}", sub.get_name()))?;
    }
    Ok(pages)
}

fn write_man_pages(out: &Path) -> Result<usize> {
    fs::create_dir_all(out)?;
    let pages = man_pages()?;
    for (name, bytes) in &pages {
        fs::write(out.join(name), bytes)?;
    }
    Ok(pages.len())
}

/// A tar.gz that depends only on the files: sorted, owned by root, one time, no gzip name
/// or time.
fn write_tarball(path: &Path, top: &str, files: &[ReleaseFile], mtime: u64) -> Result<()> {
    let tmp = path.with_extension("gz.tmp");
    let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let gz = GzBuilder::new().mtime(0).write(file, Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dirs: Vec<String> = vec![top.to_owned()];
    for f in files {
        if let Some((dir, _)) = f.path.rsplit_once('/') {
            let dir = format!("{top}/{dir}");
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for dir in &dirs {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        tar.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
    }
    for f in files {
        let mode = if f.executable { 0o755 } else { 0o644 };
        let mut h = header(tar::EntryType::Regular, mode, f.bytes.len() as u64);
        tar.append_data(&mut h, format!("{top}/{}", f.path), f.bytes.as_slice())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()?.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
