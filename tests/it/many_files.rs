//! Models of many small files: group layers (`docs/format.md`, "Group layers"). A tree of
//! 100,000 files packs into a manifest readers and registries accept, verifies, unpacks to
//! the same tree, in both profiles and reproducibly; hostile group layers are refused; pack
//! never writes a manifest over the limit.

use std::path::Path;

use modeloci_archive::{
    AddOptions, Archive, Compression, Error, Format, MAX_DOCUMENT_SIZE, ModelPackager,
    ModelUnpackager, PackOptions, UnpackOptions, layers_for,
};
use modeloci_registry::{Client, ClientOptions, PullOptions, PullTarget, PushOptions, pull, push};
use modeloci_spec::{Descriptor, MediaType, OciManifest, annotations};
use modeloci_tests::layout::{Artifact, Layer, kitops_artifact};
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::rawtar::{Raw, gzip, tar};
use modeloci_tests::registry::Registry;

use crate::{assert_verifies, config, names, tree};

/// The extensions the files get, so that the ModelPack profile sees several kinds.
const EXTENSIONS: [&str; 5] = ["txt", "py", "json", "md", "bin"];

/// The relative path and content of file `i` of a generated tree: nested directories,
/// sizes from 0 to 1,199 bytes, deterministic.
fn generated(i: usize) -> (String, Vec<u8>) {
    let path = format!(
        "d{:02}/s{:02}/f{i:06}.{}",
        i % 50,
        (i / 50) % 40,
        EXTENSIONS[i % EXTENSIONS.len()]
    );
    let size = (i * 7919) % 1200;
    let data = (0..size)
        .map(|j| (((i * 31) ^ (j * 7)) % 251) as u8)
        .collect();
    (path, data)
}

/// Writes `files` generated files below `dir`.
fn generate(dir: &Path, files: usize) {
    for i in 0..files {
        let (rel, data) = generated(i);
        let path = dir.join(rel);
        if i < 2000 {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        std::fs::write(path, data).unwrap();
    }
}

fn pack_with(model: &Path, out: &Path, options: PackOptions) -> modeloci_archive::PackReport {
    ModelPackager::with_options(options.with_output(out))
        .pack(model, &config("many"))
        .unwrap()
}

fn group_files(layer: &Descriptor) -> Option<usize> {
    layer
        .annotations
        .get(annotations::GROUP_FILES)
        .map(|n| n.parse().unwrap())
}

/// Packs the tree of `files` generated files in `format` with one thread, checks the
/// manifest and what it lists, verifies and unpacks it; returns the archive's bytes.
fn pack_and_check(dir: &Path, model: &Path, format: Format, files: usize) -> Vec<u8> {
    let out = dir.join(format!("{format:?}.tar"));
    let options = PackOptions::default().with_format(format).with_threads(1);
    let report = pack_with(model, &out, options);
    let archive = Archive::open(&out).unwrap();
    let manifest_size = archive.manifest_bytes().len() as u64;
    assert!(manifest_size < MAX_DOCUMENT_SIZE, "{manifest_size}");
    let counts: Vec<usize> = report
        .manifest
        .layers
        .iter()
        .filter_map(group_files)
        .collect();
    assert_eq!(
        counts.len(),
        report.manifest.layers.len(),
        "every layer a group"
    );
    assert_eq!(counts.iter().sum::<usize>(), files);
    assert!(counts.iter().all(|&n| n <= 4096), "{counts:?}");
    for layer in &report.manifest.layers {
        assert_eq!(layer.title(), None);
        let expected = match format {
            Format::Modeloci => "application/vnd.oci.image.layer.v1.tar+gzip",
            _ => "application/vnd.cncf.model.",
        };
        assert!(
            layer.media_type.to_string().starts_with(expected),
            "{}",
            layer.media_type
        );
    }
    assert_verifies(&archive);
    let restored = dir.join(format!("{format:?}-out"));
    ModelUnpackager::new().extract(&out, &restored).unwrap();
    assert_eq!(tree(&restored), tree(model));
    std::fs::remove_dir_all(&restored).unwrap();
    std::fs::read(&out).unwrap()
}

/// Packs `files` generated files in `format` with one thread and with two: the same bytes.
fn round_trip_reproducibly(format: Format, files: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    generate(&model, files);
    let one_thread = pack_and_check(dir.path(), &model, format, files);
    // Elsewhere, with two threads: the same bytes.
    let again = dir.path().join("again.tar");
    let options = PackOptions::default().with_format(format).with_threads(2);
    pack_with(&model, &again, options);
    assert!(
        std::fs::read(&again).unwrap() == one_thread,
        "{format:?} differs"
    );
    dir
}

#[test]
fn a_hundred_thousand_small_files_round_trip_in_groups_reproducibly() {
    round_trip_reproducibly(Format::Modeloci, 100_000);
}

/// 20,000 files: the tree whose one-layer-per-file manifest (4.5 MB) readers refused.
#[test]
fn twenty_thousand_small_files_round_trip_in_modelpack_tar_groups_of_each_kind() {
    let dir = round_trip_reproducibly(Format::ModelPack, 20_000);
    let kinds: Vec<String> = {
        let archive = Archive::open(&dir.path().join("ModelPack.tar")).unwrap();
        let mut kinds: Vec<String> = archive
            .manifest()
            .layers
            .iter()
            .map(|l| l.media_type.to_string())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    };
    assert_eq!(
        kinds,
        [
            "application/vnd.cncf.model.code.v1.tar+gzip",
            "application/vnd.cncf.model.doc.v1.tar+gzip",
            "application/vnd.cncf.model.weight.config.v1.tar+gzip",
            "application/vnd.cncf.model.weight.v1.tar+gzip",
        ]
    );
}

#[test]
fn a_thousand_files_keep_one_layer_each_and_one_more_groups_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    generate(&model, 1000);
    let report = pack_with(&model, &dir.path().join("a.tar"), PackOptions::default());
    let titles: Vec<&str> = report
        .manifest
        .layers
        .iter()
        .filter_map(Descriptor::title)
        .collect();
    assert_eq!(titles.len(), 1000);
    assert!(
        report
            .manifest
            .layers
            .iter()
            .all(|l| group_files(l).is_none())
    );
    std::fs::write(model.join("one-more"), b"x").unwrap();
    let report = pack_with(&model, &dir.path().join("b.tar"), PackOptions::default());
    assert_eq!(report.manifest.layers.len(), 1);
    let layer = &report.manifest.layers[0];
    assert_eq!(group_files(layer), Some(1001));
    assert_eq!(layer.annotations[annotations::GROUP_FIRST], generated(0).0);
    assert_eq!(layer.annotations[annotations::GROUP_LAST], "one-more");
}

/// A model of `files` files of one byte whose paths are about `len` bytes long.
fn long_paths(dir: &Path, files: usize, len: usize) {
    let mut rel = String::new();
    let mut c = 0u8;
    while rel.len() + 200 < len {
        rel.push_str(&format!(
            "{}/",
            char::from(b'a' + c % 26).to_string().repeat(199)
        ));
        c += 1;
    }
    std::fs::create_dir_all(dir.join(&rel)).unwrap();
    for i in 0..files {
        std::fs::write(dir.join(format!("{rel}f{i:04}")), b"x").unwrap();
    }
}

#[test]
fn pack_never_writes_a_manifest_readers_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let (model, out) = (dir.path().join("model"), dir.path().join("out"));
    std::fs::create_dir(&out).unwrap();
    long_paths(&model, 1000, 2200);
    let options = PackOptions::default().with_format(Format::ModelPack);
    let err = ModelPackager::with_options(options.clone().with_output(out.join("a.tar")))
        .pack(&model, &config("long"))
        .unwrap_err();
    let Error::ManifestTooLarge {
        layers,
        bytes,
        limit,
    } = err
    else {
        panic!("{err}");
    };
    assert_eq!((layers, limit), (1000, MAX_DOCUMENT_SIZE));
    assert!(bytes > MAX_DOCUMENT_SIZE, "{bytes}");
    assert_eq!(names(&out), Vec::<String>::new(), "nothing written");
    // Just under: as many files as the estimate allows.
    let fit = (MAX_DOCUMENT_SIZE * 1000 / bytes) as usize;
    std::fs::remove_dir_all(&model).unwrap();
    long_paths(&model, fit, 2200);
    pack_with(&model, &out.join("b.tar"), options);
    let archive = Archive::open(&out.join("b.tar")).unwrap();
    let size = archive.manifest_bytes().len() as u64;
    assert!(
        size <= MAX_DOCUMENT_SIZE && size > MAX_DOCUMENT_SIZE - 64 * 1024,
        "{size}"
    );
    assert_verifies(&archive);
}

/// A group layer (gzip, modeloci) over `entries`, claiming `first`, `last` and `files`.
fn group(entries: &[Raw], first: &str, last: &str, files: &str) -> Layer {
    Layer::new(MediaType::ImageLayerGzip, gzip(&tar(entries)))
        .annotate(annotations::GROUP_FIRST, first)
        .annotate(annotations::GROUP_LAST, last)
        .annotate(annotations::GROUP_FILES, files)
}

fn unpack_err(dir: &Path, layers: Vec<Layer>) -> String {
    let artifact = Artifact::new(
        MediaType::ModelociConfig,
        &modeloci_tests::fixtures::tiny_config().to_json(),
        layers,
    )
    .artifact_type(MediaType::ModelociArtifact);
    let archive = dir.join("hostile.tar");
    std::fs::write(&archive, artifact.to_tar()).unwrap();
    let target = dir.join("out");
    let err = ModelUnpackager::with_options(UnpackOptions::default())
        .extract(&archive, &target)
        .unwrap_err();
    assert!(!target.exists());
    err.to_string()
}

#[test]
fn hostile_group_layers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        Raw::file("a/1", b"1"),
        Raw::file("a/2", b"2"),
        Raw::file("b/9", b"9"),
    );
    let label = "layer \"#0 (group a/1 .. a/3)\"";
    let cases: Vec<(&str, Layer, String)> = vec![
        (
            "outside",
            group(&[a.clone(), c.clone()], "a/1", "a/3", "2"),
            format!("{label}: its entry \"b/9\" lies outside the group's range \"a/1\" .. \"a/3\""),
        ),
        (
            "count",
            group(&[a.clone(), b.clone()], "a/1", "a/3", "3"),
            format!(
                "{label}: it holds 2 files where its org.modeloci.group.files annotation says 3"
            ),
        ),
        (
            "dir",
            group(&[Raw::dir("a/2/"), a.clone()], "a/1", "a/3", "2"),
            format!(
                "{label}: its entry \"a/2\" is not a regular file, as group layers hold only files"
            ),
        ),
        (
            "symlink",
            group(
                &[a.clone(), Raw::special("a/2", b'2', "/etc/passwd")],
                "a/1",
                "a/3",
                "2",
            ),
            "refusing entry \"a/2\": symbolic link (to \"/etc/passwd\")".into(),
        ),
        (
            "hardlink",
            group(
                &[a.clone(), Raw::special("a/2", b'1', "a/1")],
                "a/1",
                "a/3",
                "2",
            ),
            "refusing entry \"a/2\": hard link (to \"a/1\")".into(),
        ),
        (
            "bad first",
            group(std::slice::from_ref(&a), "../a", "a/3", "1"),
            "refusing entry \"../a\": path has a '..' component".into(),
        ),
        (
            "empty range",
            group(std::slice::from_ref(&a), "a/3", "a/1", "1"),
            "layer \"#0\": its group range \"a/3\" .. \"a/1\" is empty".into(),
        ),
        (
            "count text",
            group(std::slice::from_ref(&a), "a/1", "a/3", "+1"),
            "layer \"#0\": its org.modeloci.group.files \"+1\" is not a count from 1 to 1048576"
                .into(),
        ),
        (
            "count huge",
            group(std::slice::from_ref(&a), "a/1", "a/3", "99999999999"),
            "layer \"#0\": its org.modeloci.group.files \"99999999999\" is not a count from 1 to \
             1048576"
                .into(),
        ),
    ];
    for (case, layer, expected) in cases {
        let case_dir = dir.path().join(case);
        std::fs::create_dir(&case_dir).unwrap();
        assert_eq!(unpack_err(&case_dir, vec![layer]), expected, "{case}");
    }
}

#[test]
fn layers_for_selects_only_the_groups_that_can_hold_a_match() {
    let layer = |first: &str, last: &str| {
        let mut d = Descriptor::new(
            MediaType::ImageLayerGzip,
            modeloci_digest::Hasher::digest_bytes(format!("{first}{last}").as_bytes()).digest,
            1,
        );
        for (k, v) in [
            (annotations::GROUP_FIRST, first),
            (annotations::GROUP_LAST, last),
            (annotations::GROUP_FILES, "2"),
        ] {
            d.annotations.insert(k.into(), v.into());
        }
        d
    };
    let config = Descriptor::new(
        MediaType::ModelociConfig,
        modeloci_digest::Hasher::digest_bytes(b"{}").digest,
        2,
    );
    let groups = vec![
        layer("a/1", "a/5"),
        layer("a/6", "c/2"),
        layer("d/1", "d/9"),
    ];
    let manifest = OciManifest::new(config, groups);
    let firsts = |include: &[&str]| -> Vec<String> {
        let include: Vec<String> = include.iter().map(|s| (*s).to_owned()).collect();
        layers_for(&manifest, &include)
            .unwrap()
            .iter()
            .map(|l| l.annotations[annotations::GROUP_FIRST].clone())
            .collect()
    };
    assert_eq!(firsts(&["a/3"]), ["a/1"]);
    assert_eq!(firsts(&["b/7"]), ["a/6"]);
    assert_eq!(firsts(&["c/3"]), Vec::<String>::new());
    assert_eq!(firsts(&["a/*"]), ["a/1", "a/6"]);
    assert_eq!(firsts(&["b*"]), ["a/6"]);
    assert_eq!(firsts(&["d/?"]), ["d/1"]);
    assert_eq!(firsts(&["*.json"]), ["a/1", "a/6", "d/1"]);
    // `a` selects no file below it, as glob_match says: it is a literal.
    assert_eq!(firsts(&["a"]), Vec::<String>::new());
    assert_eq!(firsts(&[]), ["a/1", "a/6", "d/1"]);
    // A tree without group annotations (KitOps) is always read.
    let kit = OciManifest::from_slice(&kitops_artifact().manifest()).unwrap();
    let all = layers_for(&kit, &[]).unwrap();
    assert!(!all.is_empty());
    assert_eq!(layers_for(&kit, &["nothing-matches".into()]).unwrap(), all);
}

#[test]
fn add_gives_a_new_file_its_own_layer_and_replaces_one_held_in_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    generate(&model, 1500);
    for format in [Format::Modeloci, Format::ModelPack] {
        let archive = dir.path().join(format!("{format:?}.tar"));
        pack_with(&model, &archive, PackOptions::default().with_format(format));
        let new = dir.path().join("new.txt");
        std::fs::write(&new, b"new file").unwrap();
        let packager = ModelPackager::with_options(PackOptions::default());
        let report = packager
            .add(
                &archive,
                &new,
                &AddOptions::default().with_path("d07/new.txt"),
            )
            .unwrap();
        assert_eq!(report.layer.title(), Some("d07/new.txt"));
        let (replaced, _) = generated(123);
        let err = packager
            .add(
                &archive,
                &new,
                &AddOptions::default().with_path(replaced.as_str()),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the model already has {replaced:?}")
        );
        let options = AddOptions::default()
            .with_path(replaced.as_str())
            .with_force(true);
        let report = packager.add(&archive, &new, &options).unwrap();
        assert!(report.replaced.as_ref().and_then(group_of).is_some());
        let opened = Archive::open(&archive).unwrap();
        assert_verifies(&opened);
        let out = dir.path().join(format!("{format:?}-out"));
        ModelUnpackager::new().extract(&archive, &out).unwrap();
        let mut expected = tree(&model);
        let mode = expected[0].2;
        for (rel, data, _) in &mut expected {
            if *rel == replaced {
                *data = b"new file".to_vec();
            }
        }
        expected.push(("d07/new.txt".into(), b"new file".to_vec(), mode));
        expected.sort();
        assert_eq!(tree(&out), expected, "{format:?}");
    }
}

fn group_of(layer: &modeloci_spec::ModelLayer) -> Option<&String> {
    layer.annotations.get(annotations::GROUP_FILES)
}

#[test]
fn a_registry_takes_the_grouped_archive_and_a_pull_of_one_file_gets_only_its_group() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    generate(&model, 20_000);
    let archive_path = dir.path().join("many.tar");
    let options = PackOptions::default().with_compression(Compression::Gzip);
    pack_with(&model, &archive_path, options);
    let archive = Archive::open(&archive_path).unwrap();
    let reference = format!("{}/many:1.0.0", registry.addr).parse().unwrap();
    push(
        &Client::new(&registry.addr, ClientOptions::default()),
        &archive,
        &reference,
        &PushOptions::default(),
    )
    .unwrap();
    let proxy = Proxy::start(&registry.addr, Behaviour::default());
    let via = format!("{}/many:1.0.0", proxy.addr).parse().unwrap();
    let (wanted, data) = generated(14_321);
    let out = dir.path().join("out");
    let options = PullOptions::default().with_include([wanted.as_str()]);
    let client = Client::new(&proxy.addr, ClientOptions::default());
    pull(&client, &via, &PullTarget::Unpack(out.clone()), &options).unwrap();
    assert_eq!(tree(&out), [(wanted.clone(), data, 0o644)]);
    let holding: Vec<&Descriptor> = archive
        .manifest()
        .layers
        .iter()
        .filter(|l| {
            let a = &l.annotations;
            a[annotations::GROUP_FIRST] <= wanted && wanted <= a[annotations::GROUP_LAST]
        })
        .collect();
    assert_eq!(holding.len(), 1);
    let mut blob_gets: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/blobs/"))
        .collect();
    blob_gets.sort();
    let mut expected = [
        format!("GET /v2/many/blobs/{}", archive.manifest().config.digest),
        format!("GET /v2/many/blobs/{}", holding[0].digest),
    ];
    expected.sort();
    assert_eq!(blob_gets, expected, "the config and the one group");
}

#[test]
fn skopeo_and_umoci_read_a_grouped_archive() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    generate(&model, 3000);
    let archive_path = dir.path().join("g.tar");
    pack_with(&model, &archive_path, PackOptions::default());
    let ours = Archive::open(&archive_path).unwrap();
    let run = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let source = format!("oci-archive:{}:1.0.0", archive_path.display());
    assert_eq!(
        run("skopeo", &["inspect", "--raw", &source]),
        ours.manifest_bytes()
    );
    let copy = dir.path().join("copy");
    run(
        "skopeo",
        &[
            "copy",
            "--quiet",
            &source,
            &format!("oci:{}:copied", copy.display()),
        ],
    );
    let copied = Archive::open_with(&copy, Some("copied")).unwrap();
    assert_verifies(&copied);
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    run(
        "tar",
        &[
            "-xf",
            archive_path.to_str().unwrap(),
            "-C",
            layout.to_str().unwrap(),
        ],
    );
    assert_eq!(
        run("umoci", &["ls", "--layout", layout.to_str().unwrap()]),
        b"1.0.0\n"
    );
}
