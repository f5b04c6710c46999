//! Workspace invariants, read from `cargo metadata`: dependencies point down the layers and
//! nothing depends on the binary crate,
//! modeloci-spec stays serde-only, libraries never use anyhow.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// The layers, bottom first. A crate may depend only on crates before it.
const LAYERS: [&str; 5] = [
    "modeloci-spec",
    "modeloci-digest",
    "modeloci-archive",
    "modeloci-registry",
    "modeloci-cli",
];
const LIBRARIES: [&str; 4] = [
    "modeloci-spec",
    "modeloci-digest",
    "modeloci-archive",
    "modeloci-registry",
];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Package name -> (dependency name, kind) for every workspace member.
fn dependencies() -> BTreeMap<String, Vec<(String, String)>> {
    metadata()["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    (
                        d["name"].as_str().unwrap().to_owned(),
                        d["kind"].as_str().unwrap_or("normal").to_owned(),
                    )
                })
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn dependencies_point_down_the_layers() {
    let mut upward = Vec::new();
    for (package, deps) in dependencies() {
        let Some(rank) = LAYERS.iter().position(|l| *l == package) else {
            continue;
        };
        for (dep, kind) in deps {
            if LAYERS
                .iter()
                .position(|l| *l == dep)
                .is_some_and(|dep_rank| dep_rank >= rank)
            {
                upward.push(format!("{package} -> {dep} ({kind})"));
            }
            // The test support crate sits on top: only tests may use it, and the libraries
            // not even in their tests.
            let test_only = dep == "xtask" || dep == "modeloci-tests";
            // Nothing depends on the binary crate (xtask includes its clap types instead).
            if dep == "modeloci-cli" {
                upward.push(format!("{package} -> {dep} ({kind})"));
            }
            if test_only && (kind != "dev" || LIBRARIES.contains(&package.as_str())) {
                upward.push(format!("{package} -> {dep} ({kind})"));
            }
        }
    }
    assert_eq!(
        upward,
        Vec::<String>::new(),
        "dependencies that point up (see ARCHITECTURE.md)"
    );
}

#[test]
fn spec_depends_on_serde_serde_json_and_thiserror_only() {
    let deps = dependencies();
    let normal: Vec<&str> = deps["modeloci-spec"]
        .iter()
        .filter(|(_, kind)| kind == "normal")
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(normal, ["serde", "serde_json", "thiserror"]);
}

#[test]
fn libraries_do_not_use_anyhow() {
    let deps = dependencies();
    let offenders: Vec<&str> = LIBRARIES
        .iter()
        .filter(|lib| {
            deps.get(**lib).is_some_and(|d| {
                d.iter()
                    .any(|(name, kind)| name == "anyhow" && kind == "normal")
            })
        })
        .copied()
        .collect();
    assert_eq!(offenders, Vec::<&str>::new());
}

#[test]
fn every_crate_states_a_license_and_the_msrv() {
    let meta = metadata();
    let mut missing = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        if p["license"].as_str() != Some("MIT OR Apache-2.0") {
            missing.push(format!("{name}: license"));
        }
        if p["rust_version"].as_str().is_none() {
            missing.push(format!("{name}: rust-version"));
        }
    }
    assert_eq!(missing, Vec::<String>::new());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in ["rust-toolchain", "rust-toolchain.toml"] {
        assert!(
            !root.join(file).exists(),
            "{file}: the machines have one toolchain; state the MSRV as rust-version"
        );
    }
    for file in [
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "README.md",
        "ARCHITECTURE.md",
        "CHANGELOG.md",
        "deny.toml",
    ] {
        assert!(root.join(file).is_file(), "{file} is missing");
    }
}
