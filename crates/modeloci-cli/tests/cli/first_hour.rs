//! What a new user trips on in the first hour: options that would do nothing, `-` as a path,
//! a missing output directory, counts in words, and one JSON shape for a layer and the facts
//! in every document.

use std::path::Path;

use modeloci_tests::gguf::{Value, gguf};

use crate::{client_env, modeloci, pack_args, transcript, transcript_json, workspace};

fn usage(message: &str, usage: &str) -> String {
    format!(
        "exit: 2\n--- stdout\n--- stderr\nerror: {message}\n\nUsage: {usage}\n\nFor more information, try '--help'.\n"
    )
}

const PACK_USAGE: &str =
    "modeloci pack [OPTIONS] --model-dir <DIR> --name <NAME> --version <VERSION>";

#[test]
fn options_that_would_do_nothing_are_refused() {
    let dir = workspace();
    let tmp = dir.path();
    let run = |args: &[&str]| transcript(modeloci(tmp).args(args), tmp);
    assert_eq!(
        run(&pack_args(
            "a.tar",
            &["--compression", "none", "--level", "3"]
        )),
        usage(
            "--level does nothing with --compression none: nothing is compressed",
            PACK_USAGE
        )
    );
    assert_eq!(
        run(&pack_args("a.tar", &["--plain-http"])),
        usage(
            "--plain-http does nothing without --push: pack writes an archive file; give --push HOST/REPO:TAG to pack into a registry, or `modeloci push` the archive",
            PACK_USAGE
        )
    );
    assert_eq!(
        run(&pack_args("a.tar", &["--timeout", "5"])).lines().nth(3),
        Some(
            "error: --timeout does nothing without --push: pack writes an archive file; give --push HOST/REPO:TAG to pack into a registry, or `modeloci push` the archive"
        )
    );
    assert_eq!(
        run(&["completions", "bash", "--quiet"]),
        usage(
            "--quiet does nothing for completions: the script is the output",
            "modeloci completions [OPTIONS] <SHELL>"
        )
    );
    let both = run(&["--json", "inspect", "a.tar", "--quiet"]);
    let refusal =
        "--json and --quiet together: --json prints one document, --quiet nothing; pick one";
    assert_eq!(transcript_json(&both)["error"], refusal);
    assert!(
        both.ends_with(
            &usage(refusal, "modeloci inspect [OPTIONS] [ARCHIVE]")
                ["exit: 2\n--- stdout\n--- stderr\n".len()..]
        ),
        "{both}"
    );
    // The JSON error of a refused option is the one every usage error prints.
    let doc = transcript_json(&run(&["completions", "bash", "--json"]));
    assert_eq!(
        doc["error"],
        "--json does nothing for completions: the script is the output"
    );
    assert_eq!(doc["exitCode"], 2);
    // Given by the environment rather than typed, a registry option is no mistake.
    modeloci(tmp)
        .env("MODELOCI_CA_FILE", "ca.pem")
        .args(pack_args("a.tar", &["--level", "3"]))
        .assert()
        .success();
    assert!(!tmp.join("-").exists());
}

#[test]
fn a_dash_is_no_path_and_a_missing_directory_is_named() {
    let dir = workspace();
    let tmp = dir.path();
    let run = |args: &[&str]| transcript(modeloci(tmp).args(args), tmp);
    let dash = "modeloci neither reads standard input nor writes standard output (archives are written whole, then renamed into place); name a file, or ./- for one named -";
    assert_eq!(
        run(&pack_args("-", &[])),
        usage(&format!("--output -: {dash}"), PACK_USAGE)
    );
    assert_eq!(
        run(&["pull", "127.0.0.1:9/m:1", "-o", "-"]),
        usage(
            &format!("--output -: {dash}"),
            "modeloci pull [OPTIONS] <--output <PATH>|--unpack <DIR>> <REF>"
        )
    );
    assert_eq!(
        run(&["add", "--archive", "a.tar", "--file", "-"])
            .lines()
            .nth(3),
        Some(format!("error: --file -: {dash}").as_str())
    );
    assert!(!tmp.join("-").exists());

    assert_eq!(
        run(&pack_args("missing/dir/a.tar", &[])),
        "exit: 2\n--- stdout\n--- stderr\nerror: cannot write missing/dir/a.tar: the directory missing/dir does not exist\n"
    );
    assert_eq!(
        transcript(
            modeloci(tmp).envs(client_env(tmp)).args([
                "pull",
                "127.0.0.1:9/m:1",
                "-o",
                "missing/a.tar",
                "--plain-http"
            ]),
            tmp
        ),
        "exit: 2\n--- stdout\n--- stderr\nerror: missing/a.tar: the directory missing does not exist\n"
    );
    assert!(!tmp.join("missing").exists());
    // What pack names it does: `./-` is a file named `-`.
    modeloci(tmp).args(pack_args("./-", &[])).assert().success();
    assert!(tmp.join("-").is_file());
}

/// A model of one GGUF file whose header names its file type (Q8_0) and architecture.
fn one_gguf(tmp: &Path) {
    let model = tmp.join("one");
    std::fs::create_dir_all(&model).unwrap();
    let file = gguf(
        &[
            ("general.architecture", Value::Str("llama".into())),
            ("general.file_type", Value::U32(7)),
        ],
        &[("w", &[1000, 1000], 8)],
        64,
    );
    std::fs::write(model.join("m.gguf"), file).unwrap();
}

#[test]
fn counts_and_facts_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    one_gguf(tmp);
    let run = |args: &[&str]| transcript(modeloci(tmp).args(args), tmp);
    let pack = [
        "pack",
        "--model-dir",
        "one",
        "--name",
        "one",
        "--version",
        "1",
    ];
    // No --framework or --architecture: the weights' are recorded.
    let packed = run(&pack);
    let lines: Vec<&str> = packed.lines().collect();
    assert_eq!(lines[2], "Packaged model to [TMP]/one-1.tar", "{packed}");
    assert!(
        lines[3].starts_with("  one 1 (llama.cpp, llama): 1 file, "),
        "{packed}"
    );
    assert_eq!(
        lines[4], "  weights: 1m parameters, quantized q8_0, gguf",
        "{packed}"
    );

    let inspected = run(&["inspect", "one-1.tar"]);
    for line in [
        "Archive:       one-1.tar (an OCI image layout)\n",
        "Framework:     llama.cpp\n",
        "Architecture:  llama\n",
        "Weights:       1m parameters, quantized q8_0, gguf\n",
        "Layers (1):\n",
        "Verification: OK (config and 1 layer)\n",
    ] {
        assert!(inspected.contains(line), "{line}: {inspected}");
    }
    assert!(!inspected.contains("org.modeloci"), "{inspected}");
    let verified = run(&["verify", "one-1.tar"]);
    assert!(
        verified.contains("\nAll 5 checks passed (1 layer).\n"),
        "{verified}"
    );
    let unpacked = run(&["unpack", "one-1.tar", "-o", "out"]);
    assert!(
        unpacked.contains("\n  one 1 (llama.cpp, llama): 1 file, "),
        "{unpacked}"
    );

    // A flag the weights disagree with is kept, and both are shown.
    let mut flagged = pack.to_vec();
    flagged.extend(["--architecture", "transformer", "-o", "t.tar"]);
    let packed = run(&flagged);
    assert!(
        packed.contains("\n  one 1 (llama.cpp, transformer; the weights say llama): 1 file, "),
        "{packed}"
    );
    let inspected = run(&["inspect", "t.tar"]);
    assert!(
        inspected.contains("\nArchitecture:  transformer (the weights say llama)\n"),
        "{inspected}"
    );
    let unpacked = run(&["unpack", "t.tar", "-o", "out2"]);
    assert!(
        unpacked.contains("\n  one 1 (llama.cpp, transformer; the weights say llama): 1 file, "),
        "{unpacked}"
    );
    let doc = transcript_json(&run(&["--json", "inspect", "t.tar"]));
    assert_eq!(doc["config"]["architecture"], "transformer");
    assert_eq!(doc["facts"]["architecture"], "llama");
    assert_eq!(doc["facts"]["quantization"], "q8_0");
}

#[test]
fn a_layer_and_the_facts_have_one_shape_in_every_document() {
    let dir = workspace();
    let tmp = dir.path();
    let json = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        transcript_json(&transcript(modeloci(tmp).args(&all), tmp))
    };
    let packed = json(&pack_args("a.tar", &[]));
    let inspected = json(&["inspect", "a.tar"]);
    let verified = json(&["verify", "a.tar"]);
    assert_eq!(inspected["facts"], packed["facts"]);
    assert_eq!(packed["facts"]["parameters"], 2048);
    let without_status = |doc: &serde_json::Value| -> Vec<serde_json::Value> {
        doc["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let mut l = l.clone();
                assert_eq!(l["status"], "ok", "{l}");
                l.as_object_mut().unwrap().remove("status");
                l
            })
            .collect()
    };
    let layers = packed["layers"].as_array().unwrap().clone();
    assert_eq!(layers.len(), 7);
    assert_eq!(
        layers[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["path", "mediaType", "digest", "size"]
    );
    assert_eq!(without_status(&inspected), layers);
    assert_eq!(without_status(&verified), layers);
    assert!(verified["config"].get("path").is_none(), "{verified}");
    assert_eq!(verified["config"]["status"], "ok");

    let unpacked = json(&["unpack", "a.tar", "-o", "out"]);
    assert_eq!(
        unpacked["files"][0],
        serde_json::json!({"path": "README.md", "size": 89, "mode": "0644"})
    );
}

/// A model directory of `files` from `fixtures/weights/` (and `extra` written here).
fn weights_model(tmp: &Path, files: &[&str], extra: &[(&str, Vec<u8>)]) {
    let model = tmp.join("w");
    std::fs::create_dir_all(&model).unwrap();
    for name in files {
        std::fs::copy(
            crate::fixtures().join("weights").join(name),
            model.join(name),
        )
        .unwrap();
    }
    for (name, data) in extra {
        std::fs::write(model.join(name), data).unwrap();
    }
}

/// Pack's transcript for the model at `w/`, default framework and architecture.
fn pack_text(tmp: &Path) -> String {
    transcript(
        modeloci(tmp).args(["pack", "--model-dir", "w", "--name", "w", "--version", "1"]),
        tmp,
    )
}

#[test]
fn facts_of_files_the_formats_own_libraries_wrote() {
    // A GGUF without general.file_type (F32 and Q8_0 tensors), as the gguf package writes it.
    let dir = tempfile::tempdir().unwrap();
    weights_model(dir.path(), &["tiny-q8_0.gguf"], &[]);
    insta::assert_snapshot!("facts-gguf-tensor-types", pack_text(dir.path()));

    // safetensors and GGUF in one directory: both formats named.
    let dir = tempfile::tempdir().unwrap();
    weights_model(dir.path(), &["tiny-q8_0.gguf", "tiny.safetensors"], &[]);
    insta::assert_snapshot!("facts-two-formats", pack_text(dir.path()));

    // A `.bin` of random bytes is no PyTorch checkpoint: no format, no framework from it.
    let dir = tempfile::tempdir().unwrap();
    let noise: Vec<u8> = (0..64u32 << 10)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    weights_model(dir.path(), &[], &[("big.bin", noise)]);
    insta::assert_snapshot!("facts-random-bin", pack_text(dir.path()));
    let doc = transcript_json(&transcript(
        modeloci(dir.path()).args(["--json", "inspect", "w-1.tar"]),
        dir.path(),
    ));
    assert_eq!(
        doc["facts"],
        serde_json::json!({
            "parameters": null, "dtype": null, "format": null,
            "quantization": null, "architecture": null,
        })
    );
    assert_eq!(doc["config"]["framework"], "pytorch");
}
