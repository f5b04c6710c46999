//! Third-party OCI readers read what we write: skopeo, umoci, oci-image-tool (Debian's).
//! `cargo xtask ci` installs them; without them these tests fail, saying so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use modeloci_archive::{Archive, Compression, ModelUnpackager};

use crate::{fixtures, pack, tiny_model, tree};

fn tool(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}): run `cargo xtask ci`, which installs it, or `apt-get install {program}`")
    });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn archives(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut list: Vec<_> = [
        "tiny-1.0.0.tar",
        "tiny-1.0.0-zstd.tar",
        "tiny-1.0.0-none.tar",
    ]
    .iter()
    .map(|n| fixtures().join("golden").join(n))
    .collect();
    // And one with long paths, an executable and non-ASCII names, packed now.
    let model = dir.join("awkward");
    crate::roundtrip::awkward_tree(&model);
    let out = dir.join("awkward.tar");
    pack(&model, &out, Compression::Auto);
    list.push(out);
    list
}

#[test]
fn skopeo_inspects_and_copies_our_archives() {
    let dir = tempfile::tempdir().unwrap();
    for (i, archive) in archives(dir.path()).iter().enumerate() {
        let ours = Archive::open(archive).unwrap();
        let source = format!("oci-archive:{}:1.0.0", archive.display());
        let raw = tool("skopeo", &["inspect", "--raw", &source]);
        assert_eq!(raw.stdout, ours.manifest_bytes(), "{}", archive.display());

        let copy = dir.path().join(format!("copy{i}"));
        tool(
            "skopeo",
            &[
                "copy",
                "--quiet",
                &source,
                &format!("oci:{}:copied", copy.display()),
            ],
        );
        // What skopeo wrote is a layout directory we read back: same manifest, every blob
        // verifies, the model unpacks.
        let copied = Archive::open_with(&copy, Some("copied")).unwrap();
        assert_eq!(copied.manifest_digest(), ours.manifest_digest());
        crate::assert_verifies(&copied);
        if i == 0 {
            let out = dir.path().join("from-skopeo");
            let unpacker = ModelUnpackager::with_options(
                modeloci_archive::UnpackOptions::default().with_reference("copied"),
            );
            unpacker.extract(&copy, &out).unwrap();
            assert_eq!(tree(&out), tree(&tiny_model()));
        }
    }
}

/// Extracts `archive` into `layout` with GNU tar, as a user would before pointing a tool at it.
fn extract_with_tar(archive: &Path, layout: &Path) -> PathBuf {
    std::fs::create_dir(layout).unwrap();
    tool(
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            layout.to_str().unwrap(),
        ],
    );
    layout.to_owned()
}

#[test]
fn umoci_lists_the_extracted_layout() {
    let dir = tempfile::tempdir().unwrap();
    for (i, archive) in archives(dir.path()).iter().enumerate() {
        let layout = extract_with_tar(archive, &dir.path().join(format!("layout{i}")));
        let out = tool("umoci", &["ls", "--layout", layout.to_str().unwrap()]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "1.0.0\n",
            "{}",
            archive.display()
        );
    }
}

#[test]
fn oci_image_tool_validates_manifest_and_index() {
    let dir = tempfile::tempdir().unwrap();
    for (i, archive) in archives(dir.path()).iter().enumerate() {
        let layout = extract_with_tar(archive, &dir.path().join(format!("layout{i}")));
        for (kind, file) in [("manifest", "manifest.json"), ("imageIndex", "index.json")] {
            let path = layout.join(file);
            let out = tool(
                "oci-image-tool",
                &["validate", "--type", kind, path.to_str().unwrap()],
            );
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("Validation succeeded"),
                "{kind} of {}",
                archive.display()
            );
        }
    }
}

#[test]
fn gnu_tar_and_python_list_the_archive_as_we_do() {
    let archive = fixtures().join("golden/tiny-1.0.0.tar");
    let gnu = tool("tar", &["-tf", archive.to_str().unwrap()]);
    let python = tool(
        "python3",
        &[
            "-c",
            "import sys, tarfile; print('\\n'.join(m.name + ('/' if m.isdir() else '') for m in tarfile.open(sys.argv[1])))",
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&gnu.stdout),
        String::from_utf8_lossy(&python.stdout)
    );
    let names: Vec<String> = String::from_utf8_lossy(&gnu.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(&names[..3], ["oci-layout", "blobs/", "blobs/sha256/"]);
    assert_eq!(
        &names[names.len() - 3..],
        ["index.json", "manifest.json", "config.json"]
    );
}

/// A signed archive (the model plus a bundle referrer listed beside it in `index.json`)
/// is read by skopeo, umoci and oci-image-tool by its version, as an unsigned one is.
#[test]
fn signed_archives_are_read_by_skopeo_umoci_and_oci_image_tool_by_their_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.tar");
    std::fs::copy(fixtures().join("golden/tiny-1.0.0.tar"), &path).unwrap();
    crate::referrers::signed(&path, b"{\"mediaType\":\"fake bundle\"}");
    let ours = Archive::open(&path).unwrap();
    assert_eq!(ours.index().unwrap().manifests.len(), 2);

    let source = format!("oci-archive:{}:1.0.0", path.display());
    let raw = tool("skopeo", &["inspect", "--raw", &source]);
    assert_eq!(raw.stdout, ours.manifest_bytes());
    let copy = dir.path().join("copy");
    tool(
        "skopeo",
        &[
            "copy",
            "--quiet",
            &source,
            &format!("oci:{}:copied", copy.display()),
        ],
    );
    let copied = Archive::open_with(&copy, Some("copied")).unwrap();
    assert_eq!(copied.manifest_digest(), ours.manifest_digest());

    let layout = extract_with_tar(&path, &dir.path().join("layout"));
    let out = tool("umoci", &["ls", "--layout", layout.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.0.0\n");
    let referrer = &ours.referrers().unwrap()[0].descriptor.digest;
    let referrer_path = layout.join(referrer.blob_path());
    for (kind, file) in [
        ("manifest", layout.join("manifest.json")),
        ("imageIndex", layout.join("index.json")),
        ("manifest", referrer_path),
    ] {
        let out = tool(
            "oci-image-tool",
            &["validate", "--type", kind, file.to_str().unwrap()],
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Validation succeeded"),
            "{kind} {}",
            file.display()
        );
    }
}
