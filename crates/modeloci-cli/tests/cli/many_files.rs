//! A model of many small files as a user packs, inspects and unpacks it: group layers
//! (`docs/format.md`, 3.3).

use std::path::Path;

use crate::{modeloci, pack_args, transcript};

/// 1,200 small files in nested directories: more than 1,000, so they are grouped.
fn many(dir: &Path) {
    for i in 0..1200 {
        let path = dir.join(format!("model/d{}/f{i:04}.txt", i % 3));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("file {i}\n").repeat(i % 7)).unwrap();
    }
}

#[test]
fn a_grouped_model_packs_inspects_and_unpacks_what_include_names() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    many(tmp);
    let text = transcript(modeloci(tmp).args(pack_args("m.tar", &[])), tmp);
    insta::assert_snapshot!("pack", text);
    let text = transcript(modeloci(tmp).args(["inspect", "--archive", "m.tar"]), tmp);
    insta::assert_snapshot!("inspect", text);
    let text = transcript(
        modeloci(tmp).args([
            "unpack",
            "--archive",
            "m.tar",
            "--output",
            "out",
            "--include",
            "d1/f0004.txt",
            "--include",
            "d2/f011*",
        ]),
        tmp,
    );
    insta::assert_snapshot!("unpack_include", text);
    let mut names: Vec<String> = walk(&tmp.join("out"));
    names.sort();
    assert_eq!(
        names,
        [
            "d1/f0004.txt",
            "d2/f0110.txt",
            "d2/f0113.txt",
            "d2/f0116.txt",
            "d2/f0119.txt"
        ]
    );
    assert_eq!(
        std::fs::read(tmp.join("out/d1/f0004.txt")).unwrap(),
        b"file 4\n".repeat(4)
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            out.extend(
                walk(&entry.path())
                    .into_iter()
                    .map(|n| format!("{name}/{n}")),
            );
        } else {
            out.push(name);
        }
    }
    out
}
