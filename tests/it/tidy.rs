//! Workspace invariants, read from `cargo metadata`: dependencies point down the layers and
//! nothing depends on the binary crate,
//! modeloci-spec stays serde-only, libraries never use anyhow. And one read from the
//! sources: the libraries' strings name no command-line flag.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The layers, bottom first. A crate may depend only on crates before it.
/// The two front ends, the command and the Python package's native module, share the top:
/// neither depends on the other (the rule below: nothing depends on the binary crate).
const LAYERS: [&str; 7] = [
    "modeloci-spec",
    "modeloci-digest",
    "modeloci-archive",
    "modeloci-registry",
    "modeloci-sign",
    "modeloci-cli",
    "modeloci-python",
];
/// The crates held to the library rules (the Python package's native module among them: its
/// messages reach Python users, who have no command-line flags).
const LIBRARIES: [&str; 6] = [
    "modeloci-spec",
    "modeloci-digest",
    "modeloci-archive",
    "modeloci-registry",
    "modeloci-sign",
    "modeloci-python",
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
fn libraries_use_neither_anyhow_nor_clap_nor_terminal_code() {
    let deps = dependencies();
    let mut offenders = Vec::new();
    for lib in LIBRARIES {
        for (name, kind) in deps.get(lib).into_iter().flatten() {
            if kind == "normal" && ["anyhow", "clap", "indicatif"].contains(&name.as_str()) {
                offenders.push(format!("{lib} -> {name}"));
            }
        }
    }
    assert_eq!(offenders, Vec::<String>::new());
}

#[test]
fn the_digest_crate_knows_nothing_of_archives_or_networks() {
    let normal: Vec<String> = dependencies()["modeloci-digest"]
        .iter()
        .filter(|(_, kind)| kind == "normal")
        .map(|(name, _)| name.clone())
        .collect();
    assert_eq!(normal, ["modeloci-spec", "sha2", "thiserror"]);
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
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

/// The library crates whose messages reach users of the API, not only of the command.
const FLAG_FREE: [&str; 4] = [
    "crates/modeloci-archive/src",
    "crates/modeloci-registry/src",
    "crates/modeloci-sign/src",
    "crates/modeloci-python/src",
];

/// The string literals of Rust source outside comments and `#[cfg(test)]` items, each with
/// the line it starts on. A lexer just good enough for this workspace: line and (nested)
/// block comments, strings with escapes, raw strings, byte strings, char literals and
/// lifetimes.
fn string_literals(source: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = source.chars().collect();
    let mut found = Vec::new();
    let (mut i, mut line) = (0, 1);
    // While inside a `#[cfg(test)]` item: the brace depth it began at, and whether its
    // body has opened.
    let mut depth = 0usize;
    let mut skip: Option<(usize, bool)> = None;
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        let c = chars[i];
        if at(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            let mut nested = 0;
            while i < chars.len() {
                if at(i, "/*") {
                    nested += 1;
                    i += 2;
                } else if at(i, "*/") {
                    nested -= 1;
                    i += 2;
                    if nested == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if at(i, "#[cfg(test)]") {
            skip = skip.or(Some((depth, false)));
            i += "#[cfg(test)]".len();
        } else if c == '"' || ((c == 'r' || at(i, "br")) && raw_string_start(&chars, i).is_some()) {
            let start = line;
            let mut text = String::new();
            if c == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        text.push(chars[i]);
                        i += 1;
                    }
                    line += usize::from(chars[i] == '\n');
                    text.push(chars[i]);
                    i += 1;
                }
                i += 1;
            } else {
                let (open, hashes) = raw_string_start(&chars, i).unwrap();
                i = open + 1;
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                while i < chars.len() && !at(i, &close) {
                    line += usize::from(chars[i] == '\n');
                    text.push(chars[i]);
                    i += 1;
                }
                i += close.chars().count();
            }
            if skip.is_none() {
                found.push((start, text));
            }
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1b}', '"'), else a lifetime or a label.
            if chars.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            // A whole identifier, so that the `r` or `b` ending one starts no literal.
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else {
            match c {
                '{' => {
                    depth += 1;
                    if let Some((_, opened)) = &mut skip {
                        *opened = true;
                    }
                }
                '}' => {
                    depth = depth.saturating_sub(1);
                    if skip.is_some_and(|(d, opened)| opened && depth == d) {
                        skip = None;
                    }
                }
                ';' if skip.is_some_and(|(d, opened)| !opened && depth == d) => skip = None,
                '\n' => line += 1,
                _ => {}
            }
            i += 1;
        }
    }
    found
}

/// Where a raw string starting at `i` (`r"`, `r#"`, `br##"`, ...) has its opening quote,
/// and how many `#` it has.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i + if chars[i] == 'b' { 2 } else { 1 };
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    j += hashes;
    (chars.get(j) == Some(&'"')).then_some((j, hashes))
}

/// Whether `text` names a command-line flag: `--` followed by a letter.
fn names_a_flag(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'-' && w[1] == b'-' && w[2].is_ascii_alphabetic())
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn the_lexer_finds_the_strings_outside_comments_and_tests() {
    let source = r###"
        /// Pass `--force` (a doc comment).
        // "--comment"
        /* "--block /* nested */ still" */
        const A: &str = "one --flag"; // "--trailing"
        const B: char = '"';
        fn f<'a>(x: &'a str) -> &'a str { x }
        const C: &str = r#"raw "--raw""#;
        const D: &[u8] = b"bytes";
        const E: &str = "multi
            line \" --escaped";
        #[cfg(test)]
        fn helper() -> &'static str { "--test-helper" }
        #[cfg(test)]
        use something::{a, b};
        const F: &str = "after";
        #[cfg(test)]
        mod tests {
            fn t() { let _ = "--in-tests"; let _ = '{'; }
        }
    "###;
    let found = string_literals(source);
    let texts: Vec<&str> = found.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        texts,
        [
            "one --flag",
            "raw \"--raw\"",
            "bytes",
            "multi\n            line \\\" --escaped",
            "after"
        ]
    );
    assert_eq!(found[0].0, 5);
    assert_eq!(found[4].0, 16);
    let flagged: Vec<&str> = texts.into_iter().filter(|t| names_a_flag(t)).collect();
    assert_eq!(
        flagged,
        [
            "one --flag",
            "raw \"--raw\"",
            "multi\n            line \\\" --escaped"
        ]
    );
    assert!(!names_a_flag("a -- b, --, ---, --1"));
}

/// A library user calling `ModelUnpackager` has no `--include` to pass: the libraries'
/// errors state facts, and the command words them in its flags (`modeloci-cli`'s `hints`).
#[test]
fn library_strings_name_no_command_line_flag() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut offenders = Vec::new();
    let mut scanned = 0;
    for dir in FLAG_FREE {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files);
        files.sort();
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            scanned += 1;
            for (line, text) in string_literals(&source) {
                if names_a_flag(&text) {
                    let name = file.strip_prefix(&root).unwrap_or(&file).display();
                    offenders.push(format!("{name}:{line}: {text:?}"));
                }
            }
        }
    }
    assert!(scanned > 10, "found only {scanned} source files");
    assert_eq!(
        offenders,
        Vec::<String>::new(),
        "library strings that name a command-line flag: state the fact in the error \
         variant and let modeloci-cli's hints name the flag"
    );
}

/// The code of a source file before its `#[cfg(test)]` module (which sits at the end).
fn non_test_code(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// `(name, first line, lines)` of each function in `code`, counted from the `fn` line to
/// its closing brace (braces in strings and comments are rare enough in this code base not
/// to matter; a miscount shows up as an absurd length).
fn function_lengths(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_start();
        let is_fn = !line.starts_with("//")
            && line
                .split_whitespace()
                .find(|w| !matches!(*w, "pub" | "pub(crate)" | "const" | "unsafe" | "async"))
                == Some("fn");
        if !is_fn {
            i += 1;
            continue;
        }
        let name = line
            .split("fn ")
            .nth(1)
            .and_then(|rest| rest.split(['(', '<']).next())
            .unwrap_or("?")
            .to_owned();
        let (mut depth, mut opened, mut j) = (0i32, false, i);
        while j < lines.len() {
            for c in lines[j].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (opened && depth == 0) || (!opened && lines[j].trim_end().ends_with(';')) {
                break;
            }
            j += 1;
        }
        out.push((name, i + 1, j - i + 1));
        i = j + 1;
    }
    out
}

/// The longest a library function may be: one job each, readable on one screen.
const MAX_FUNCTION_LINES: usize = 80;

#[test]
fn no_library_function_is_longer_than_a_screen() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut long = Vec::new();
    for library in LIBRARIES {
        let mut files = Vec::new();
        rust_files(&root.join("crates").join(library).join("src"), &mut files);
        files.sort();
        for file in files {
            for (name, line, lines) in function_lengths(&non_test_code(&file)) {
                if lines > MAX_FUNCTION_LINES {
                    let file = file.strip_prefix(&root).unwrap().display().to_string();
                    long.push(format!("{file}:{line} {name} ({lines} lines)"));
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines; split them by job:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_function_counter_counts() {
    let code = "fn a() {\n    if x {\n    }\n}\npub(crate) fn b(\n    y: u8,\n) -> u8 {\n    y\n}\nfn c();\n";
    assert_eq!(
        function_lengths(code),
        [
            ("a".to_owned(), 1, 4),
            ("b".to_owned(), 5, 5),
            ("c".to_owned(), 10, 1)
        ]
    );
}

/// modeloci-archive's modules, lowest first, as `lib.rs` lists them: a module may use only
/// modules before it.
const ARCHIVE_FLOORS: &[&str] = &[
    "entry_policy",
    "glob",
    "progress",
    "source",
    "error",
    "atomic",
    "tarfile",
    "codec",
    "options",
    "facts",
    "profile",
    "read",
    "write",
];

#[test]
fn archive_modules_use_only_lower_floors() {
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/modeloci-archive/src");
    let floor_of = |module: &str| ARCHIVE_FLOORS.iter().position(|m| *m == module);
    let mut upward = Vec::new();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let own = rel.split(['/', '.']).next().unwrap().to_owned();
        if own == "lib" {
            continue;
        }
        let own_floor =
            floor_of(&own).unwrap_or_else(|| panic!("{rel}: module {own} is on no floor"));
        let code = non_test_code(&file);
        for used in code.split("crate::").skip(1) {
            let module: String = used
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if let Some(floor) = floor_of(&module)
                && module != own
                && floor >= own_floor
            {
                upward.push(format!("{rel} uses crate::{module}"));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n{}",
        upward.join("\n")
    );
}
