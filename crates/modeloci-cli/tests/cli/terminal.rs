//! Progress bars: drawn on stderr when it is a terminal (here a pseudo-terminal from
//! util-linux `script`), never with `--quiet` or `--json`, never into a pipe.

use std::path::{Path, PathBuf};
use std::process::Command;

use modeloci_tests::registry::Registry;

use crate::{client_env, modeloci, pack_args, workspace};

/// Runs the built binary with `args` on a 100-column pseudo-terminal; returns what the
/// terminal showed (stdout and stderr together) and the exit code.
fn in_terminal(cwd: &Path, env: &[(&str, PathBuf)], args: &[&str]) -> (String, i32) {
    in_columns(100, cwd, env, args)
}

/// [`in_terminal`] on a terminal `columns` wide.
fn in_columns(columns: u16, cwd: &Path, env: &[(&str, PathBuf)], args: &[&str]) -> (String, i32) {
    let bin = assert_cmd::cargo::cargo_bin!("modeloci");
    let mut line = format!("stty cols {columns} rows 30; exec {}", bin.display());
    for arg in args {
        assert!(
            arg.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=*".contains(c)),
            "{arg:?} needs no quoting"
        );
        line.push(' ');
        line.push_str(arg);
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("util-linux script runs");
    let code = out.status.code().unwrap_or(-1);
    (String::from_utf8_lossy(&out.stdout).into_owned(), code)
}

/// A model with one 24 MiB file, large enough for a bar with a rate to be drawn.
fn sized_model(dir: &Path) {
    let weights: Vec<u8> = (0..24u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("model/weights.bin"), weights).unwrap();
}

/// The stages a bar names.
const STAGES: [&str; 6] = [
    "packing",
    "verifying",
    "unpacking",
    "uploading",
    "downloading",
    "writing",
];

/// Each frame of a bar the terminal showed, as the screen had it: escape sequences taken
/// out, one line per carriage return or newline, the last frame before the bar was
/// cleared included.
fn frames(screen: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut chars = screen.chars();
    while let Some(c) = chars.next() {
        match c {
            // A control sequence: `ESC [`, parameters, then a final byte in `@`..=`~`.
            '\x1b' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' | '\n' => lines.push(String::new()),
            c => lines.last_mut().expect("one at least").push(c),
        }
    }
    lines.retain(|l| {
        let words = l.trim_start();
        STAGES.iter().any(|s| words.starts_with(s))
    });
    lines
}

/// The frames of the `stage` bar, each checked to fit in `columns`; at least one.
fn fitted(screen: &str, stage: &str, columns: usize) -> Vec<String> {
    let frames = frames(screen);
    for frame in &frames {
        assert!(
            frame.chars().count() <= columns,
            "wider than {columns} columns: {frame:?} in {screen:?}"
        );
    }
    let of_stage: Vec<String> = frames
        .into_iter()
        .filter(|f| f.trim_start().starts_with(stage))
        .collect();
    assert!(!of_stage.is_empty(), "no {stage} bar: {screen:?}");
    of_stage
}

/// Whether a frame names `file`, whole or cut from its front (`…ts.bin`, three characters
/// at least).
fn names(frames: &[String], file: &str) -> bool {
    frames.iter().any(|f| {
        let last = f.trim_end().rsplit(' ').next().unwrap_or_default();
        last == file
            || last
                .strip_prefix('…')
                .is_some_and(|end| end.chars().count() >= 3 && file.ends_with(end))
    })
}

#[test]
fn bars_fit_narrow_terminals_and_name_the_largest_file() {
    let dir = workspace();
    let tmp = dir.path();
    sized_model(tmp);
    for columns in [60u16, 40] {
        let width = usize::from(columns);
        let archive = format!("a{columns}.tar");
        let (screen, code) = in_columns(columns, tmp, &[], &pack_args(&archive, &[]));
        assert_eq!(code, 0, "{screen}");
        let packing = fitted(&screen, "packing", width);
        assert!(names(&packing, "weights.bin"), "{packing:#?}");

        let (screen, code) = in_columns(columns, tmp, &[], &["verify", "--archive", &archive]);
        assert_eq!(code, 0, "{screen}");
        let verifying = fitted(&screen, "verifying", width);
        assert!(names(&verifying, "weights.bin"), "{verifying:#?}");

        // Unpack works on several files at once: the bar names the 24 MiB one, not the
        // config.json begun after it.
        let out = format!("out{columns}");
        let args = ["unpack", "--archive", &archive, "--output", &out];
        let (screen, code) = in_columns(columns, tmp, &[], &args);
        assert_eq!(code, 0, "{screen}");
        let unpacking = fitted(&screen, "unpacking", width);
        assert!(names(&unpacking, "weights.bin"), "{unpacking:#?}");
    }
}

#[test]
fn bars_on_a_terminal_and_nowhere_else() {
    let dir = workspace();
    let tmp = dir.path();
    sized_model(tmp);

    let (screen, code) = in_terminal(tmp, &[], &pack_args("a.tar", &[]));
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("packing"), "{screen}");
    assert!(
        screen.contains("/24.01 MiB"),
        "the total in bytes: {screen}"
    );
    assert!(
        screen.contains("Packaged model to a.tar"),
        "the summary follows: {screen}"
    );

    let (screen, code) = in_terminal(tmp, &[], &["verify", "--archive", "a.tar"]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("verifying"), "{screen}");

    let (screen, code) = in_terminal(
        tmp,
        &[],
        &["unpack", "--archive", "a.tar", "--output", "out"],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("unpacking"), "{screen}");
    assert_eq!(
        std::fs::read(tmp.join("out/weights.bin")).unwrap(),
        std::fs::read(tmp.join("model/weights.bin")).unwrap()
    );

    // --quiet and --json draw nothing, even on a terminal.
    let (screen, code) = in_terminal(tmp, &[], &["--quiet", "verify", "--archive", "a.tar"]);
    assert_eq!((code, screen.as_str()), (0, ""));
    let (screen, code) = in_terminal(tmp, &[], &["--json", "verify", "--archive", "a.tar"]);
    assert_eq!(code, 0);
    assert!(!screen.contains("verifying"), "{screen}");
    assert!(screen.trim_start().starts_with('{'), "{screen}");

    // Into a pipe: no bar, not even a cleared one.
    let out = modeloci(tmp)
        .args(pack_args("b.tar", &[]))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\r'));
}

#[test]
fn push_and_pull_draw_bars() {
    let registry = Registry::start(None);
    let dir = workspace();
    let tmp = dir.path();
    sized_model(tmp);
    let env = client_env(tmp);
    modeloci(tmp)
        .args(pack_args("a.tar", &[]))
        .assert()
        .success();
    let target = format!("{}/bars/tiny:1", registry.addr);

    let (screen, code) = in_terminal(tmp, &env, &["push", "--archive", "a.tar", &target]);
    assert_eq!(code, 0, "{screen}");
    let uploading = fitted(&screen, "uploading", 100);
    assert!(names(&uploading, "weights.bin"), "{uploading:#?}");

    let (screen, code) = in_columns(60, tmp, &env, &["verify", &target]);
    assert_eq!(code, 0, "{screen}");
    let verifying = fitted(&screen, "verifying", 60);
    assert!(names(&verifying, "weights.bin"), "{verifying:#?}");

    let (screen, code) = in_terminal(tmp, &env, &["pull", &target, "--unpack", "pulled"]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("downloading"), "{screen}");
    let unpacking = fitted(&screen, "unpacking", 100);
    assert!(names(&unpacking, "weights.bin"), "{unpacking:#?}");
    assert_eq!(
        std::fs::read(tmp.join("pulled/weights.bin")).unwrap(),
        std::fs::read(tmp.join("model/weights.bin")).unwrap()
    );
    let (screen, code) = in_columns(40, tmp, &env, &["pull", &target, "--output", "pulled.tar"]);
    assert_eq!(code, 0, "{screen}");
    let downloading = fitted(&screen, "downloading", 40);
    assert!(names(&downloading, "weights.bin"), "{downloading:#?}");
    let writing = fitted(&screen, "writing", 40);
    assert!(names(&writing, "weights.bin"), "{writing:#?}");
    assert_eq!(
        std::fs::read(tmp.join("pulled.tar")).unwrap(),
        std::fs::read(tmp.join("a.tar")).unwrap()
    );
}
