//! What goes in: `.modelociignore`, `--exclude`, `.git/`, and `--symlinks`; what comes out:
//! the layers `--include` selects.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use modeloci_archive::{
    Archive, ModelPackager, ModelUnpackager, PackOptions, Symlinks, UnpackOptions, layers_for,
};
use modeloci_spec::{MediaType, ModelPackConfig, OciManifest, annotations};
use modeloci_tests::layout::{Artifact, Layer};

use crate::config;

fn write(dir: &Path, rel: &str, data: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// The layer titles of the archive packed from `model` with `options`.
fn packed(model: &Path, options: PackOptions) -> modeloci_archive::Result<Vec<String>> {
    let out = model.with_extension("tar");
    ModelPackager::with_options(options.with_output(&out)).pack(model, &config("m"))?;
    let archive = Archive::open(&out).unwrap();
    let titles = archive
        .manifest()
        .layers
        .iter()
        .map(|l| l.title().unwrap().to_owned())
        .collect();
    fs::remove_file(&out).unwrap();
    Ok(titles)
}

#[test]
fn ignore_file_and_excludes_leave_paths_out() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    for rel in [
        "config.json",
        "model.safetensors",
        "model.onnx",
        "keep.onnx",
        "runs/1/events.log",
        "notes/draft.md",
        "sub/runs/x.txt",
        ".git/HEAD",
        "sub/.git/config",
        "sub/.modelociignore",
        "checkpoints/step-100.pt",
        "checkpoints/final.pt",
    ] {
        write(&model, rel, rel);
    }
    // gitignore syntax: globs, a directory, an anchored path, a negation, a comment.
    write(
        &model,
        ".modelociignore",
        "# training leftovers\n*.onnx\n!keep.onnx\nruns/\n/notes/draft.md\ncheckpoints/step-*\n",
    );
    let titles = packed(&model, PackOptions::default()).unwrap();
    assert_eq!(
        titles,
        [
            "checkpoints/final.pt",
            "config.json",
            "keep.onnx",
            "model.safetensors",
            "sub/.modelociignore",
        ],
        "runs/ matches at any depth; .git/ and the root ignore file never go in"
    );

    // --exclude adds lines of the same syntax.
    let titles = packed(
        &model,
        PackOptions::default().with_exclude(["*.pt", "sub/"]),
    )
    .unwrap();
    assert_eq!(titles, ["config.json", "keep.onnx", "model.safetensors"]);

    // Excluding everything leaves an empty model: an error, and no archive.
    let err = packed(&model, PackOptions::default().with_exclude(["*"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("model directory {} holds no files to pack", model.display())
    );
    assert!(
        matches!(err, modeloci_archive::Error::EmptyModel { .. }),
        "{err:?}"
    );
    assert!(!model.with_extension("tar").exists());
}

#[test]
fn a_bad_pattern_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    write(&model, "a.bin", "a");
    let err = packed(&model, PackOptions::default().with_exclude(["a{b"])).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("exclude pattern \"a{b\": error parsing glob"),
        "{text}"
    );
    assert!(text.contains("unclosed alternate group"), "{text}");

    write(&model, ".modelociignore", "ok.txt\nb{.bin\n");
    let err = packed(&model, PackOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&model.join(".modelociignore").display().to_string()),
        "{text}"
    );
    assert!(text.contains("line 2"), "{text}");
    assert!(!model.with_extension("tar").exists());
}

#[test]
fn symlinks_follow_skip_or_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    write(&model, "config.json", "{}");
    write(dir.path(), "elsewhere/weights.bin", "weights");
    write(dir.path(), "elsewhere/shard/part-1.bin", "part");
    symlink("../elsewhere/weights.bin", model.join("weights.bin")).unwrap();
    symlink("../elsewhere/shard", model.join("shard")).unwrap();

    let follow = packed(&model, PackOptions::default()).unwrap();
    assert_eq!(follow, ["config.json", "shard/part-1.bin", "weights.bin"]);

    let skip = packed(&model, PackOptions::default().with_symlinks(Symlinks::Skip)).unwrap();
    assert_eq!(skip, ["config.json"]);

    let err = packed(
        &model,
        PackOptions::default().with_symlinks(Symlinks::Error),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text == format!(
            "cannot pack {}: it is a symbolic link, and the symlink policy refuses links",
            model.join("shard").display()
        ) || text
            == format!(
                "cannot pack {}: it is a symbolic link, and the symlink policy refuses links",
                model.join("weights.bin").display()
            ),
        "{text}"
    );
    assert!(!model.with_extension("tar").exists());
}

/// The paths a selection gives: each layer's file path, title, or `tree` for a tree layer.
fn chosen(manifest: &OciManifest, include: &[&str]) -> Vec<String> {
    let include: Vec<String> = include.iter().map(|&p| p.to_owned()).collect();
    layers_for(manifest, &include)
        .unwrap()
        .iter()
        .map(|d| {
            d.annotations
                .get(annotations::MODELPACK_FILEPATH)
                .map_or_else(|| d.title().unwrap_or("tree").to_owned(), Clone::clone)
        })
        .collect()
}

#[test]
fn include_selects_the_layers_unpack_needs() {
    // ModelPack as modctl writes it: layers named by org.cncf.model.filepath only.
    let raw = |path: &str, data: &[u8]| {
        Layer::new("application/vnd.cncf.model.weight.v1.raw", data.to_vec())
            .annotate(annotations::MODELPACK_FILEPATH, path)
    };
    let modelpack = modeloci_tests::layout::modctl_artifact();
    let manifest = OciManifest::from_slice(&modelpack.manifest()).unwrap();
    assert_eq!(
        chosen(&manifest, &["*.json"]),
        ["config.json", "nested/tokenizer.json"]
    );
    assert_eq!(chosen(&manifest, &["model.*"]), ["model.safetensors"]);
    assert_eq!(chosen(&manifest, &["*.gguf"]), Vec::<String>::new());
    assert_eq!(chosen(&manifest, &[]).len(), 3);

    // A filepath wins over a title, as in unpack.
    let titled = Artifact::new(
        MediaType::ModelPackConfig,
        b"{}",
        vec![raw("dir/real.bin", b"x").titled("real.bin")],
    );
    let manifest = OciManifest::from_slice(&titled.manifest()).unwrap();
    assert_eq!(chosen(&manifest, &["dir/*"]), ["dir/real.bin"]);
    assert_eq!(chosen(&manifest, &["real.bin"]), Vec::<String>::new());

    // KitOps: tree layers hold unknown paths, so they are always read.
    let kit = modeloci_tests::layout::kitops_artifact();
    let manifest = OciManifest::from_slice(&kit.manifest()).unwrap();
    assert_eq!(chosen(&manifest, &["src/*"]), ["tree", "tree"]);

    // Unpack reads exactly those layers: a pattern matching no layer's path is an error
    // naming the patterns, one matching a ModelPack filepath writes that file only.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mp.tar");
    fs::write(&path, modelpack.to_tar()).unwrap();
    let unpack = |include: &[&str]| {
        ModelUnpackager::with_options(UnpackOptions::default().with_include(include.to_vec()))
            .extract(&path, &dir.path().join("out"))
    };
    let report = unpack(&["*.json"]).unwrap();
    let paths: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["config.json", "nested/tokenizer.json"]);
    fs::remove_dir_all(dir.path().join("out")).unwrap();
    assert_eq!(
        unpack(&["*.gguf"]).unwrap_err().to_string(),
        "no file of the model matches the include patterns *.gguf"
    );

    // What unpack refuses, the selection refuses too.
    let refused = Artifact::new(MediaType::ModelPackConfig, b"{}", vec![raw("../x", b"x")]);
    let manifest = OciManifest::from_slice(&refused.manifest()).unwrap();
    assert_eq!(
        layers_for(&manifest, &[]).unwrap_err().to_string(),
        "refusing entry \"../x\": path has a '..' component"
    );
}

#[test]
fn include_patterns_have_only_star_and_question_mark() {
    // `*` and `?` cross `/`, `?` is one character however many bytes it takes, and every
    // other character is itself: brackets, braces and `**` are not glob syntax here.
    let raw = |path: &str| {
        Layer::new("application/vnd.cncf.model.weight.v1.raw", b"x".to_vec())
            .annotate(annotations::MODELPACK_FILEPATH, path)
    };
    let modelpack = Artifact::new(
        MediaType::ModelPackConfig,
        &ModelPackConfig::default().to_json(),
        vec![
            raw("model[1].bin"),
            raw("model1.bin"),
            raw("b.json"),
            raw("a/b.json"),
            raw("données/é.txt"),
            raw("{x,y}.txt"),
        ],
    );
    let manifest = OciManifest::from_slice(&modelpack.manifest()).unwrap();
    assert_eq!(chosen(&manifest, &["model[1].bin"]), ["model[1].bin"]);
    assert_eq!(chosen(&manifest, &["model?.bin"]), ["model1.bin"]);
    assert_eq!(chosen(&manifest, &["**/b.json"]), ["a/b.json"]);
    assert_eq!(chosen(&manifest, &["?/*.json"]), ["a/b.json"]);
    assert_eq!(chosen(&manifest, &["donn?es?*"]), ["données/é.txt"]);
    assert_eq!(chosen(&manifest, &["*/?.txt"]), ["données/é.txt"]);
    assert_eq!(chosen(&manifest, &["{x,y}.txt"]), ["{x,y}.txt"]);
    assert_eq!(chosen(&manifest, &["x.txt"]), Vec::<String>::new());
}
