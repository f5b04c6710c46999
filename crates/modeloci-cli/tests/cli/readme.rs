//! The README shows what the first command prints: the session in its `text` block, run
//! command by command from a copy of the repository's tiny model, prints exactly that.

use crate::{copy_dir, fixtures, modeloci};

#[test]
fn the_readme_session_is_what_the_commands_print() {
    let readme = std::fs::read_to_string(fixtures().join("../README.md")).unwrap();
    let start = readme
        .find("```text\n$ modeloci pack")
        .expect("the README shows a session");
    let block = &readme[start + "```text\n".len()..];
    let block = &block[..block.find("```").unwrap()];

    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    copy_dir(
        &fixtures().join("models/tiny"),
        &tmp.join("fixtures/models/tiny"),
    );
    let mut commands = 0;
    for session in block.split("$ modeloci ").skip(1) {
        let (line, expected) = session.split_once('\n').unwrap();
        let out = modeloci(tmp)
            .args(line.split_whitespace())
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {out:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected, "{line}");
        commands += 1;
    }
    assert_eq!(commands, 2);
}
