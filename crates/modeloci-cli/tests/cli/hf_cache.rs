//! `pack` of a Hugging Face cache as `huggingface_hub` lays it out, built by hand: blobs
//! named by their SHA-256, each snapshot's files relative links into `../../blobs/`,
//! `refs/main`, a tag and a pull request's ref, and `.no_exist/`. The repository folder
//! packs the snapshot `refs/main` (or `--revision`) names, and nothing else; a snapshot's
//! archive goes to the current directory, not into the cache; each choice is a `note:`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use insta::assert_snapshot;
use modeloci_tests::registry::Registry;

use crate::{fixtures, modeloci, transcript, transcript_json, workspace};

/// The commit `refs/main` names.
const MAIN: &str = "2439f60ef33a0d46d85da5001d52aeda5b00ce9f";
/// An older commit, tagged `v1` (and the head of pull request 1).
const V1: &str = "bbc77c8132af1cc5cf678da3f1ddf2de43606d48";
const REPO: &str = "hub/models--org--tiny";

/// The files of a snapshot: path in the model, content.
type Files = BTreeMap<String, Vec<u8>>;

/// `<tmp>/hub/models--org--tiny` with the snapshots `MAIN` (the tiny model) and `V1` (an
/// older config, no tokenizer, the same weights), and an empty working directory
/// `<tmp>/cwd`. Returns each snapshot's files.
fn cache(tmp: &Path) -> (Files, Files) {
    let repo = tmp.join(REPO);
    let tiny = fixtures().join("models/tiny");
    let read = |name: &str| std::fs::read(tiny.join(name)).unwrap();
    let main: Files = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), read(name)))
    .chain([("onnx/README.md".to_owned(), b"no onnx yet\n".to_vec())])
    .collect();
    let mut v1 = Files::new();
    v1.insert("config.json".into(), br#"{"hidden_size": 4}"#.to_vec());
    v1.insert("model.safetensors".into(), read("model.safetensors"));
    snapshot(&repo, MAIN, &main);
    snapshot(&repo, V1, &v1);
    std::fs::create_dir_all(repo.join("refs/refs/pr")).unwrap();
    std::fs::write(repo.join("refs/main"), MAIN).unwrap();
    std::fs::write(repo.join("refs/v1"), V1).unwrap();
    std::fs::write(repo.join("refs/refs/pr/1"), V1).unwrap();
    // A file the hub said does not exist at MAIN.
    std::fs::create_dir_all(repo.join(".no_exist").join(MAIN)).unwrap();
    std::fs::write(
        repo.join(".no_exist")
            .join(MAIN)
            .join("generation_config.json"),
        b"",
    )
    .unwrap();
    std::fs::create_dir(tmp.join("cwd")).unwrap();
    (main, v1)
}

/// `snapshots/<commit>/` of `repo`: each file a relative link to its blob.
fn snapshot(repo: &Path, commit: &str, files: &Files) {
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    for (path, content) in files {
        let sha = sha256(content);
        let blob = repo.join("blobs").join(&sha);
        if !blob.exists() {
            std::fs::write(&blob, content).unwrap();
        }
        let link = repo.join("snapshots").join(commit).join(path);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let up = "../".repeat(path.matches('/').count() + 2);
        std::os::unix::fs::symlink(format!("{up}blobs/{sha}"), &link).unwrap();
    }
}

/// The SHA-256 of `bytes` in hex, as `sha256sum` prints it.
fn sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// Every file under `dir` (links as their target), with its content.
fn files_under(dir: &Path) -> Files {
    fn walk(root: &Path, dir: &Path, out: &mut Files) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = Files::new();
    walk(dir, dir, &mut out);
    out
}

/// Every path under `dir`, links not followed: what the cache holds.
fn paths_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
            out.push(entry.path());
        }
    }
    out.sort();
    out
}

/// `modeloci` in `<tmp>/cwd`, Docker's config and the digest cache inside `tmp`.
fn command(tmp: &Path) -> assert_cmd::Command {
    let mut cmd = modeloci(&tmp.join("cwd"));
    cmd.env("MODELOCI_CACHE_DIR", tmp.join("modeloci-cache"))
        .env("DOCKER_CONFIG", tmp.join("docker"));
    cmd
}

/// The transcript of `modeloci args` in `<tmp>/cwd`.
fn run(tmp: &Path, args: &[&str]) -> String {
    transcript(command(tmp).args(args), tmp)
}

/// `pack` of `dir` (relative to `<tmp>/cwd`) as `tiny` 1.0, then `extra`.
fn pack(tmp: &Path, dir: &str, extra: &[&str]) -> String {
    let args = [
        &[
            "pack",
            "--model-dir",
            dir,
            "--name",
            "tiny",
            "--version",
            "1.0",
        ][..],
        extra,
    ]
    .concat();
    run(tmp, &args)
}

/// The files of `archive` (in `<tmp>/cwd`), unpacked.
fn unpacked(tmp: &Path, archive: &str) -> Files {
    let out = tmp.join("unpacked").join(archive);
    modeloci(&tmp.join("cwd"))
        .args(["unpack", "--archive", archive, "--output"])
        .arg(&out)
        .assert()
        .success();
    files_under(&out)
}

#[test]
fn the_repository_folder_packs_the_snapshot_refs_main_names() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let (main, _) = cache(tmp);
    let before = paths_under(&tmp.join("hub"));
    assert_snapshot!("repo-folder", pack(tmp, "../hub/models--org--tiny", &[]));
    assert_eq!(
        paths_under(&tmp.join("hub")),
        before,
        "nothing written in the cache"
    );
    // The snapshot's files, once each: no blobs/, refs/, snapshots/ or .no_exist/.
    assert_eq!(unpacked(tmp, "tiny-1.0.tar"), main);
}

#[test]
fn a_revision_names_a_tag_a_pull_request_or_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let (main, v1) = cache(tmp);
    let repo = "../hub/models--org--tiny";
    assert_snapshot!(
        "revision-tag",
        pack(tmp, repo, &["--revision", "v1", "-o", "v1.tar"])
    );
    assert_eq!(unpacked(tmp, "v1.tar"), v1);
    let text = pack(tmp, repo, &["--revision", "refs/pr/1", "-o", "pr.tar"]);
    assert!(text.starts_with("exit: 0\n"), "{text}");
    assert!(
        text.ends_with(&format!(
            "--- stderr\nnote: packing snapshot {V1} of the Hugging Face cache folder \
             models--org--tiny (refs/refs/pr/1)\n"
        )),
        "{text}"
    );
    assert_eq!(unpacked(tmp, "pr.tar"), v1);
    assert_snapshot!(
        "revision-commit",
        pack(tmp, repo, &["--revision", MAIN, "-o", "main.tar"])
    );
    assert_eq!(unpacked(tmp, "main.tar"), main);
    // The first seven digits are enough.
    let text = pack(tmp, repo, &["--revision", &V1[..7], "-o", "short.tar"]);
    assert!(
        text.contains(&format!("(revision {})\n", &V1[..7])),
        "{text}"
    );
    assert_eq!(unpacked(tmp, "short.tar"), v1);
}

#[test]
fn an_unknown_revision_names_the_refs_and_snapshots_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    cache(tmp);
    let repo = "../hub/models--org--tiny";
    assert_snapshot!("unknown-revision", pack(tmp, repo, &["--revision", "v2"]));
    assert_snapshot!(
        "escaping-revision",
        pack(tmp, repo, &["--revision", "../../x"])
    );
    assert_eq!(std::fs::read_dir(tmp.join("cwd")).unwrap().count(), 0);
}

#[test]
fn a_snapshot_packs_into_the_current_directory_not_into_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let (main, _) = cache(tmp);
    let before = paths_under(&tmp.join("hub"));
    let snapshot = format!("../{REPO}/snapshots/{MAIN}");
    assert_snapshot!("snapshot", pack(tmp, &snapshot, &[]));
    assert_eq!(
        paths_under(&tmp.join("hub")),
        before,
        "nothing written in the cache"
    );
    assert_eq!(unpacked(tmp, "tiny-1.0.tar"), main);
    // A directory in a snapshot too; with --quiet, no note.
    let onnx = format!("{snapshot}/onnx");
    let text = pack(tmp, &onnx, &["--quiet"]);
    assert_eq!(text, "exit: 0\n--- stdout\n--- stderr\n");
    assert!(tmp.join("cwd/tiny-1.0.tar").exists());
    assert_eq!(
        paths_under(&tmp.join("hub")),
        before,
        "nothing written in the cache"
    );
}

#[test]
fn the_notes_are_in_the_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    cache(tmp);
    let text = run(
        tmp,
        &[
            "--json",
            "pack",
            "--model-dir",
            "../hub/models--org--tiny",
            "--name",
            "tiny",
            "--version",
            "1.0",
        ],
    );
    let json = transcript_json(&text);
    assert_eq!(
        json["notes"],
        serde_json::json!([
            format!(
                "packing snapshot {MAIN} of the Hugging Face cache folder models--org--tiny (refs/main)"
            ),
            "the model directory is inside a Hugging Face cache: writing the archive to the current directory",
        ])
    );
    assert_eq!(json["archive"], "[TMP]/cwd/tiny-1.0.tar");
    // The notes are on stderr as well, the document alone on stdout.
    assert!(
        text.contains("--- stderr\nnote: packing snapshot"),
        "{text}"
    );
}

#[test]
fn a_revision_for_a_plain_directory_is_refused() {
    let dir = workspace();
    let tmp = dir.path();
    std::fs::create_dir(tmp.join("cwd")).unwrap();
    assert_snapshot!(
        "revision-plain-directory",
        pack(tmp, "../model", &["--revision", "main"])
    );
    assert_eq!(std::fs::read_dir(tmp.join("cwd")).unwrap().count(), 0);
}

#[test]
fn pack_push_of_the_repository_folder_pushes_the_snapshot_and_says_which() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let (_, v1) = cache(tmp);
    let target = format!("{}/tiny:1.0", registry.addr);
    let text = run(
        tmp,
        &[
            "pack",
            "--model-dir",
            "../hub/models--org--tiny",
            "--revision",
            "v1",
            "--name",
            "tiny",
            "--version",
            "1.0",
            "--push",
            &target,
        ],
    );
    assert!(text.starts_with("exit: 0\n"), "{text}");
    assert!(
        text.ends_with(&format!(
            "--- stderr\nnote: packing snapshot {V1} of the Hugging Face cache folder \
             models--org--tiny (refs/v1)\n"
        )),
        "{text}"
    );
    let out = tmp.join("pulled");
    command(tmp)
        .args(["pull", &target, "--unpack"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(files_under(&out), v1);
}
