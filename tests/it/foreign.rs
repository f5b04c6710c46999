//! Artifacts other tools write, built from their published descriptions: ModelPack (raw and
//! tar layers, and the legacy CNAI types), KitOps ModelKits (tars of whole directories) and
//! ORAS (files named by their title, directories as tar+gzip). Inspect, verify and unpack
//! read them all, under the same safety rules.

use modeloci_archive::{Archive, ModelUnpackager, UnpackOptions};
use modeloci_digest::Hasher;
use modeloci_spec::{MediaType, ModelFs, ModelPackConfig, annotations};
use modeloci_tests::layout::{Artifact, Layer};
use modeloci_tests::rawtar::{Raw, gzip, tar};

use crate::{names, tree};

/// Unpacks the artifact and gives the tree, after checking that it verifies.
fn unpack(artifact: &Artifact) -> Vec<(String, Vec<u8>, u32)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, artifact.to_tar()).unwrap();
    let archive = Archive::open(&path).unwrap();
    crate::assert_verifies(&archive);
    let out = dir.path().join("out");
    ModelUnpackager::new().extract_from(&archive, &out).unwrap();
    tree(&out)
}

fn refused(artifact: &Artifact) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, artifact.to_tar()).unwrap();
    let out = dir.path().join("out");
    let err = ModelUnpackager::new()
        .extract(&path, &out)
        .unwrap_err()
        .to_string();
    assert_eq!(names(dir.path()), ["a.tar"], "nothing left behind");
    err
}

fn file(path: &str, data: &[u8], mode: u32) -> (String, Vec<u8>, u32) {
    (path.to_owned(), data.to_vec(), mode)
}

/// A ModelPack artifact as modctl lays it out: raw weights, a tar of a config file, a
/// tar+gzip document, named by `org.cncf.model.filepath` only.
fn modelpack(weight_type: &str, config_type: &str) -> Artifact {
    let weights = b"\x08\0\0\0\0\0\0\0{}      ".to_vec();
    let config_tar = tar(&[Raw::file("config.json", b"{}")]);
    let readme_tar = tar(&[Raw::file("README.md", b"# hi")]);
    let layers = vec![
        Layer::new(weight_type, weights.clone())
            .annotate(annotations::MODELPACK_FILEPATH, "model.safetensors"),
        Layer::new(config_type, config_tar.clone())
            .annotate(annotations::MODELPACK_FILEPATH, "config.json"),
        Layer::new(
            "application/vnd.cncf.model.doc.v1.tar+gzip",
            gzip(&readme_tar),
        )
        .annotate(annotations::MODELPACK_FILEPATH, "README.md"),
    ];
    let config = ModelPackConfig {
        modelfs: ModelFs {
            diff_ids: [&weights, &config_tar, &readme_tar]
                .iter()
                .map(|b| Hasher::digest_bytes(b).digest)
                .collect(),
            ..ModelFs::default()
        },
        ..ModelPackConfig::default()
    };
    Artifact::new(MediaType::ModelPackConfig, &config.to_json(), layers)
        .artifact_type(MediaType::ModelPackArtifact)
}

#[test]
fn modelpack_artifacts_from_other_tools() {
    let expected = vec![
        file("README.md", b"# hi", 0o644),
        file("config.json", b"{}", 0o644),
        file("model.safetensors", b"\x08\0\0\0\0\0\0\0{}      ", 0o644),
    ];
    let current = modelpack(
        "application/vnd.cncf.model.weight.v1.raw",
        "application/vnd.cncf.model.weight.config.v1.tar",
    );
    assert_eq!(unpack(&current), expected);
    // The types of ModelPack's first drafts.
    let legacy = modelpack(
        "application/vnd.cnai.model.weight.v1.raw",
        "application/vnd.cnai.model.weight.config.v1.tar",
    );
    assert_eq!(unpack(&legacy), expected);
}

/// A KitOps ModelKit: a Kitfile config, layers that are tars of directories.
fn modelkit(model_entries: &[Raw]) -> Artifact {
    let kitfile = br#"{"manifestVersion":"1.0","package":{"name":"demo"},"model":{"path":"models/demo.gguf"},"code":[{"path":"src"}]}"#;
    Artifact::new(
        "application/vnd.kitops.modelkit.config.v1+json",
        kitfile,
        vec![
            Layer::new(
                "application/vnd.kitops.modelkit.model.v1.tar+gzip",
                gzip(&tar(model_entries)),
            ),
            Layer::new(
                "application/vnd.kitops.modelkit.code.v1.tar",
                tar(&[
                    Raw::dir("src/"),
                    Raw::file("src/train.py", b"print(1)\n"),
                    Raw::file("src/run.sh", b"#!/bin/sh\n").with_mode(0o755),
                ]),
            ),
            Layer::new(
                "application/vnd.kitops.modelkit.docs.v1.tar",
                tar(&[Raw::file("README.md", b"demo")]),
            ),
        ],
    )
}

#[test]
fn kitops_modelkits_with_directory_tars() {
    let kit = modelkit(&[
        Raw::dir("models/"),
        Raw::file("models/demo.gguf", b"GGUF...."),
        Raw::file("models/extra/LICENSE", b"MIT"),
    ]);
    assert_eq!(
        unpack(&kit),
        [
            file("README.md", b"demo", 0o644),
            file("models/demo.gguf", b"GGUF....", 0o644),
            file("models/extra/LICENSE", b"MIT", 0o644),
            file("src/run.sh", b"#!/bin/sh\n", 0o755),
            file("src/train.py", b"print(1)\n", 0o644),
        ]
    );
    let archive_dir = tempfile::tempdir().unwrap();
    let path = archive_dir.path().join("kit.tar");
    std::fs::write(&path, kit.to_tar()).unwrap();
    let out = archive_dir.path().join("only-code");
    let options = UnpackOptions::default().with_include(["src/*"]);
    let report = ModelUnpackager::with_options(options)
        .extract(&path, &out)
        .unwrap();
    let paths: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["src/train.py", "src/run.sh"]);
}

#[test]
fn every_entry_of_a_directory_tar_is_checked() {
    // Layers are extracted in parallel: when two layers collide, either may be the one
    // refused, so those cases accept the message from both sides.
    let cases: Vec<(Vec<Raw>, Vec<&str>)> = vec![
        (
            vec![Raw::file("models/../../escape", b"x")],
            vec!["refusing entry \"models/../../escape\": path has a '..' component"],
        ),
        (
            vec![Raw::file("/etc/cron.d/x", b"x")],
            vec!["refusing entry \"/etc/cron.d/x\": absolute path"],
        ),
        (
            vec![Raw::special("models/link", b'2', "/etc/shadow")],
            vec!["refusing entry \"models/link\": symbolic link (to \"/etc/shadow\")"],
        ),
        (
            vec![Raw::special("models/fifo", b'6', "")],
            vec!["refusing entry \"models/fifo\": FIFO"],
        ),
        (
            vec![Raw::file("src/train.py", b"shadowing the code layer")],
            vec!["refusing entry \"src/train.py\": duplicate path"],
        ),
        (
            vec![Raw::file("README.MD", b"case")],
            vec![
                "refusing entry \"README.md\": differs only in case from \"README.MD\"",
                "refusing entry \"README.MD\": differs only in case from \"README.md\"",
            ],
        ),
        (
            vec![Raw::file("src", b"a file where a directory is")],
            vec![
                "refusing entry \"src\": file and directory at once (with \"src\")",
                "refusing entry \"src\": file and directory at once (with \"src/run.sh\")",
                "refusing entry \"src\": file and directory at once (with \"src/train.py\")",
                "refusing entry \"src/train.py\": file and directory at once (with \"src\")",
                "refusing entry \"src/run.sh\": file and directory at once (with \"src\")",
            ],
        ),
    ];
    for (entries, expected) in cases {
        let err = refused(&modelkit(&entries));
        assert!(expected.contains(&err.as_str()), "{err}");
    }
}

#[test]
fn oras_files_and_directories() {
    let configs = tar(&[
        Raw::dir("configs/"),
        Raw::file("configs/a.yaml", b"a: 1"),
        Raw::file("configs/b.yaml", b"b: 2"),
    ]);
    let artifact = Artifact::new(
        MediaType::Empty,
        b"{}",
        vec![
            Layer::new("application/vnd.example.weights", b"raw weights".to_vec())
                .titled("weights.bin"),
            Layer::new(MediaType::ImageLayerGzip, gzip(&configs))
                .titled("configs")
                .annotate("io.deis.oras.content.unpack", "true"),
        ],
    )
    .artifact_type("application/vnd.example.model");
    assert_eq!(
        unpack(&artifact),
        [
            file("configs/a.yaml", b"a: 1", 0o644),
            file("configs/b.yaml", b"b: 2", 0o644),
            file("weights.bin", b"raw weights", 0o644)
        ]
    );
    let escaping = Artifact::new(
        MediaType::Empty,
        b"{}",
        vec![Layer::new("application/octet-stream", b"x".to_vec()).titled("../x")],
    );
    assert_eq!(
        refused(&escaping),
        "refusing entry \"../x\": path has a '..' component"
    );
    let untitled = Artifact::new(
        MediaType::Empty,
        b"{}",
        vec![Layer::new("application/octet-stream", b"x".to_vec())],
    );
    assert_eq!(
        refused(&untitled),
        "layer \"#0\" has media type application/octet-stream, which this tool cannot unpack"
    );
}

#[test]
fn identical_raw_files_share_one_blob_as_modctl_writes_them() {
    let weights = b"the same bytes twice".to_vec();
    let raw = |path: &str| {
        Layer::new("application/vnd.cncf.model.weight.v1.raw", weights.clone())
            .annotate(annotations::MODELPACK_FILEPATH, path)
            .titled(path.rsplit('/').next().unwrap())
    };
    let layers = vec![raw("a/model.bin"), raw("b/model.bin")];
    let config = ModelPackConfig {
        modelfs: ModelFs {
            diff_ids: vec![Hasher::digest_bytes(&weights).digest; 2],
            ..ModelFs::default()
        },
        ..ModelPackConfig::default()
    };
    let artifact = Artifact::new(MediaType::ModelPackConfig, &config.to_json(), layers)
        .artifact_type(MediaType::ModelPackArtifact);
    let bytes = artifact.to_tar();
    // The blob is stored once.
    let digest = Hasher::digest_bytes(&weights).digest;
    let stored = modeloci_tests::rawtar::entries(&bytes)
        .into_iter()
        .filter(|(name, _, _)| *name == digest.blob_path())
        .count();
    assert_eq!(stored, 1);
    // verify (inside `unpack`) and unpack accept it, and both files are written.
    assert_eq!(
        unpack(&artifact),
        [
            file("a/model.bin", &weights, 0o644),
            file("b/model.bin", &weights, 0o644),
        ]
    );
    // The same path twice stays refused.
    let twice = Artifact::new(
        MediaType::ModelPackConfig,
        &config.to_json(),
        vec![raw("a/model.bin"), raw("a/model.bin")],
    );
    assert_eq!(
        refused(&twice),
        "refusing entry \"a/model.bin\": duplicate path"
    );
}
