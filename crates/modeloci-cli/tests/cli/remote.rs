//! `inspect REF`, `tags`, `copy` and `tag` against real registries, archives as operands, and
//! the exact messages for operands these commands refuse.

use std::path::Path;

use modeloci_tests::fake_registry::{FakeRegistry, Script};
use modeloci_tests::registry::Registry;

use crate::{client_env, fixtures, modeloci, transcript};

/// Runs `modeloci` in `tmp` with the registry client's environment there.
fn run(tmp: &Path, args: &[&str], registries: &[&Registry]) -> String {
    let mut cmd = modeloci(tmp);
    cmd.envs(client_env(tmp)).args(args);
    let mut text = transcript(&mut cmd, tmp);
    for (i, registry) in registries.iter().enumerate() {
        text = text.replace(&registry.addr, &format!("[REGISTRY{}]", i + 1));
    }
    text
}

#[test]
fn inspect_tag_tags_and_copy_a_pushed_model() {
    let one = Registry::start(None);
    let two = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let golden = fixtures().join("golden/tiny-1.0.0.tar");
    std::fs::copy(&golden, tmp.join("tiny.tar")).unwrap();
    let manifest = modeloci_archive::Archive::open(&golden)
        .unwrap()
        .manifest_bytes()
        .to_vec();
    let regs = [&one, &two];
    let src = format!("{}/models/tiny", one.addr);
    let tagged = format!("{src}:1.0.0");
    let push = run(tmp, &["push", "--archive", "tiny.tar", &tagged], &regs);
    assert!(push.starts_with("exit: 0\n"), "{push}");

    let local = run(tmp, &["inspect", "tiny.tar"], &regs);
    let remote = run(tmp, &["inspect", &tagged], &regs);
    assert!(remote.starts_with("exit: 0\n"), "{remote}");
    // The archive and the registry tell of the same model, manifest and facts.
    for line in [
        "Model:         tiny",
        "Architecture:  ",
        "Weights:       ",
        "Manifest:      sha256:",
        "Artifact type: ",
    ] {
        let pick = |t: &str| t.lines().find(|l| l.starts_with(line)).map(str::to_owned);
        assert_eq!(pick(&local), pick(&remote), "{line}");
    }
    let d = "sha256:95d0121306a32c8d607557fa6e48099755855796cedf301e6b62e8e803efa2cb";
    assert_eq!(
        remote,
        format!(
            "exit: 0
--- stdout
Reference:     [REGISTRY1]/models/tiny:1.0.0@{d}
Model:         tiny
Version:       1.0.0
Framework:     pytorch
Architecture:  transformer (the weights say LlamaForCausalLM)
Weights:       2k parameters, bf16, safetensors
Metadata:      {{\"license\":\"apache-2.0\",\"base_model\":\"none\",\"eval_accuracy\":0.5,\"datasets\":[\"synthetic\"]}}
Manifest:      {d}
Artifact type: application/vnd.modeloci.model.v1
Layers (7, 4.8 KiB in all, not downloaded):
  sha256:fd59a7999df21132bfbaf4d108683680d0b391d2832eb5340c4097f72d51c881       187 B  README.md
  sha256:d254f4f70977fc158877a15b099d6b6adbea0b9e5de5236a6334122d863e2cf5       240 B  config.json
  sha256:0e2a89f7191b83eef4f822b15269dfcf21e1d49f5bd05041e8aec9ef02064292       170 B  generation_config.json
  sha256:fa84bb69567ff94ecb7db09357802b57d49b19afd9180836a9211ca3fcb038e8     3.5 KiB  model.safetensors
  sha256:a669729911780686990f08c6903abf291e6bbfbdfdafe7c6eb2f659e82adb105       152 B  scripts/serve.sh
  sha256:d98199a6570306fb2344573d30a62f9c5e14a44177219ad99c7e42800ce7101d       471 B  tokenizer.json
  sha256:68f5973fddbb9113c98d9163ca1194d8747ddc0eff90bf01ed40381c758b2107       162 B  tokenizer_config.json
--- stderr
"
        )
    );
    let doc = crate::transcript_json(&run(tmp, &["inspect", &tagged, "--json"], &regs));
    assert_eq!(doc["config"]["model_name"], "tiny", "{doc}");
    assert_eq!(doc["layers"].as_array().unwrap().len(), 7, "{doc}");

    assert_eq!(
        run(tmp, &["tag", &tagged, "stable"], &regs),
        format!(
            "exit: 0\n--- stdout\nTagged [REGISTRY1]/models/tiny:stable@{}\n--- stderr\n",
            doc["manifestDigest"].as_str().unwrap()
        )
    );
    assert_eq!(
        modeloci_tests::registry::skopeo_raw(&format!("{src}:stable")),
        manifest
    );
    let tags = run(tmp, &["tags", &src], &regs);
    let mut lines: Vec<&str> = tags.lines().skip(2).take(2).collect();
    lines.sort_unstable();
    assert_eq!(lines, ["1.0.0", "stable"], "{tags}");
    let doc = crate::transcript_json(&run(
        tmp,
        &["tags", &src, "--json", "--page-size", "1"],
        &regs,
    ));
    assert_eq!(doc["repository"], "[REGISTRY1]/models/tiny");
    assert_eq!(doc["tags"].as_array().unwrap().len(), 2, "{doc}");

    let mirrored = crate::transcript_json(&run(
        tmp,
        &[
            "copy",
            &tagged,
            &format!("{}/mirror/tiny", one.addr),
            "--json",
        ],
        &regs,
    ));
    let outcomes: Vec<&str> = mirrored["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["mounted"; 8], "{mirrored}");
    assert_eq!(
        modeloci_tests::registry::skopeo_raw(&format!("{}/mirror/tiny:1.0.0", one.addr)),
        manifest
    );

    let copied = run(
        tmp,
        &[
            "copy",
            &tagged,
            &format!("{}/copied/tiny:v1", two.addr),
            "--tag",
            "latest",
        ],
        &regs,
    );
    assert!(
        copied.starts_with("exit: 0\n--- stdout\nCopied [REGISTRY1]/models/tiny:1.0.0@sha256:"),
        "{copied}"
    );
    assert!(copied.contains("  8 blobs: 8 copied ("), "{copied}");
    assert!(
        copied.contains(&format!(" -> [REGISTRY2]/copied/tiny:v1@{d}\n")),
        "{copied}"
    );
    assert!(
        copied.contains("; 1 manifest, 0 referrers; tags v1, latest\n"),
        "{copied}"
    );
    for t in ["v1", "latest"] {
        assert_eq!(
            modeloci_tests::registry::skopeo_raw(&format!("{}/copied/tiny:{t}", two.addr)),
            manifest
        );
    }
    // The positional archive and -o, as with --archive and --output.
    let out = run(tmp, &["unpack", "tiny.tar", "-o", "files"], &regs);
    assert!(out.starts_with("exit: 0\n"), "{out}");
    assert!(tmp.join("files/config.json").is_file());
    let out = run(tmp, &["verify", "tiny.tar"], &regs);
    assert!(out.starts_with("exit: 0\n"), "{out}");
}

#[test]
fn operands_these_commands_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    // Nothing listens on port 1: each refusal comes before any request.
    let r = "127.0.0.1:1/models/tiny:1.0.0";
    let cases: [(&[&str], &str); 7] = [
        (
            &["tag", r, ".bad"],
            "error: invalid tag \".bad\": a tag is up to 128 letters, digits, _ . and -, not starting with . or -\n",
        ),
        (
            &["copy", r, "127.0.0.1:1/other", "--tag", "no/slash"],
            "error: invalid tag \"no/slash\": a tag is up to 128 letters, digits, _ . and -, not starting with . or -\n",
        ),
        (
            &["verify", r, "--ref", "x"],
            "error: --ref picks a manifest in an archive's index; for a registry, name the tag or digest in the reference\n",
        ),
        (
            &["unpack", r, "-o", "out"],
            "error: 127.0.0.1:1/models/tiny:1.0.0 is a registry reference, not an archive here: `modeloci pull 127.0.0.1:1/models/tiny:1.0.0 --unpack DIR` fetches it, verifying every blob\n",
        ),
        (
            &["tags", r],
            "error: 127.0.0.1:1/models/tiny:1.0.0 names a tag or digest; tags lists a repository: 127.0.0.1:1/models/tiny\n",
        ),
        (
            &["inspect", r, "--ref", "x"],
            "error: --ref picks a manifest in an archive's index; for a registry, name the tag or digest in the reference\n",
        ),
        (
            &["inspect", "missing.tar"],
            "error: missing.tar: No such file or directory (os error 2)\n",
        ),
    ];
    for (args, stderr) in cases {
        assert_eq!(
            run(tmp, args, &[]),
            format!("exit: 2\n--- stdout\n--- stderr\n{stderr}"),
            "{args:?}"
        );
    }
}

#[test]
fn verify_of_a_reference_streams_every_blob_and_names_the_one_that_lies() {
    let fake = FakeRegistry::start(Script::default());
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    std::fs::copy(
        fixtures().join("golden/tiny-1.0.0.tar"),
        tmp.join("tiny.tar"),
    )
    .unwrap();
    let r = format!("{}/models/tiny:1.0.0", fake.addr);
    let push = run(tmp, &["push", "--archive", "tiny.tar", &r], &[]);
    assert!(push.starts_with("exit: 0\n"), "{push}");
    let d = "sha256:95d0121306a32c8d607557fa6e48099755855796cedf301e6b62e8e803efa2cb";
    let weights = "sha256:fa84bb69567ff94ecb7db09357802b57d49b19afd9180836a9211ca3fcb038e8";
    let expected = |weights_line: &str, verdict: &str, code: u8| {
        format!(
            "exit: {code}
--- stdout
OK    manifest  {d}  2.8 KiB  ([FAKE]/models/tiny:1.0.0@{d})
OK    config    sha256:1dd6c83bcd97eaa0fcfe14075c6af956c599b4a1ab4943f99586a9bb5041d2fc  251 B
OK    layer     sha256:fd59a7999df21132bfbaf4d108683680d0b391d2832eb5340c4097f72d51c881  187 B  README.md
OK    layer     sha256:d254f4f70977fc158877a15b099d6b6adbea0b9e5de5236a6334122d863e2cf5  240 B  config.json
OK    layer     sha256:0e2a89f7191b83eef4f822b15269dfcf21e1d49f5bd05041e8aec9ef02064292  170 B  generation_config.json
{weights_line}
OK    layer     sha256:a669729911780686990f08c6903abf291e6bbfbdfdafe7c6eb2f659e82adb105  152 B  scripts/serve.sh
OK    layer     sha256:d98199a6570306fb2344573d30a62f9c5e14a44177219ad99c7e42800ce7101d  471 B  tokenizer.json
OK    layer     sha256:68f5973fddbb9113c98d9163ca1194d8747ddc0eff90bf01ed40381c758b2107  162 B  tokenizer_config.json
{verdict}
--- stderr
"
        )
    };
    let verify = || run(tmp, &["verify", &r], &[]).replace(&fake.addr, "[FAKE]");
    assert_eq!(
        verify(),
        expected(
            &format!("OK    layer     {weights}  3.5 KiB  model.safetensors"),
            "All 9 checks passed (7 layers, downloaded and not kept).",
            0
        )
    );
    fake.corrupt_blob(weights);
    let failed = verify();
    assert!(failed.starts_with("exit: 1\n"), "{failed}");
    assert!(
        failed.contains(&format!(
            "FAIL  layer     {weights}  3.5 KiB  model.safetensors: digest mismatch, the blob hashes to sha256:"
        )),
        "{failed}"
    );
    assert!(failed.contains("\n1 of 9 checks failed.\n"), "{failed}");
    let mut names: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["cache", "tiny.tar"], "verify keeps nothing");
}

#[test]
fn inspect_of_an_index_lists_its_manifests() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let golden = fixtures().join("golden/tiny-1.0.0.tar");
    std::fs::copy(&golden, tmp.join("tiny.tar")).unwrap();
    let src = format!("{}/models/tiny", registry.addr);
    let push = run(tmp, &["push", "--archive", "tiny.tar", &src], &[&registry]);
    assert!(push.starts_with("exit: 0\n"), "{push}");
    let archive = modeloci_archive::Archive::open(&golden).unwrap();
    let child = modeloci_spec::Descriptor::new(
        modeloci_spec::MediaType::ImageManifest,
        archive.manifest_digest().clone(),
        archive.manifest_bytes().len() as u64,
    )
    .with_artifact_type(modeloci_spec::MediaType::ModelociArtifact);
    let index = modeloci_spec::OciIndex::new(vec![child]).to_json();
    let client = modeloci_registry::Client::new(&registry.addr, Default::default());
    let digest = client
        .put_manifest(
            "models/tiny",
            "multi",
            &modeloci_spec::MediaType::ImageIndex,
            &index,
        )
        .unwrap();
    assert_eq!(
        run(tmp, &["inspect", &format!("{src}:multi")], &[&registry]),
        format!(
            "exit: 0
--- stdout
Reference:     [REGISTRY1]/models/tiny:multi@{digest}
Index:         {digest} (1 manifest)
  {}     2.8 KiB  application/vnd.modeloci.model.v1
--- stderr
",
            archive.manifest_digest()
        )
    );
}

#[test]
fn a_reference_without_a_tag_and_no_latest_names_the_tags() {
    let registry = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    std::fs::copy(
        fixtures().join("golden/tiny-1.0.0.tar"),
        tmp.join("tiny.tar"),
    )
    .unwrap();
    let src = format!("{}/models/tiny", registry.addr);
    let regs = [&registry];
    for tag in (0..12).map(|i| format!("{src}:v{i:02}")) {
        let push = run(tmp, &["push", "--archive", "tiny.tar", &tag], &regs);
        assert!(push.starts_with("exit: 0\n"), "{push}");
    }
    let tags = "v00, v01, v02, v03, v04, v05, v06, v07, v08, v09 and 2 more";
    for args in [
        &["inspect", src.as_str()][..],
        &["pull", src.as_str(), "-o", "x.tar"][..],
    ] {
        assert_eq!(
            run(tmp, args, &regs),
            format!(
                "exit: 2\n--- stdout\n--- stderr\nerror: models/tiny has no tag latest in [REGISTRY1]; its tags: {tags}\nhint: name a tag: [REGISTRY1]/models/tiny:v00\n"
            ),
            "{args:?}"
        );
    }
}
