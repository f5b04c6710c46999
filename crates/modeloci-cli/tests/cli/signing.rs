//! `sign`, `verify --key`, `verify --dir`, `unpack --key`, `inspect --key` and `add` on signed
//! archives, as a user runs them: against the real `model_signing` 1.1.1 both ways, with keys
//! made by `openssl`, and with what an attacker or a mistake hands them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use insta::assert_snapshot;
use modeloci_archive::{Archive, NewReferrer, attach_referrers};
use modeloci_sign::{HashOptions, PrivateKey, PublicKey, Statement, referrer_manifest};
use modeloci_tests::oms::{self, Curve, KeyFormat, key_pair};
use modeloci_tests::only_entry;

use crate::{modeloci, workspace};

/// What a run printed and how it ended, the temporary directory written as `[TMP]`.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(cmd: &mut Command, tmp: &Path) -> Self {
        let out = cmd.timeout(Duration::from_secs(120)).output().unwrap();
        let text =
            |b: &[u8]| String::from_utf8_lossy(b).replace(&tmp.display().to_string(), "[TMP]");
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
        }
    }

    /// Asserts exit 0 and returns stdout.
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "{self:?}");
        self.stdout
    }

    /// Asserts this exit code, nothing on stdout, and this stderr.
    fn fails(&self, code: i32, stderr: &str) {
        assert_eq!(
            (self.code, self.stdout.as_str(), self.stderr.as_str()),
            (code, "", stderr),
            "{self:?}"
        );
    }
}

/// `modeloci args...` in `tmp`.
fn run(tmp: &Path, args: &[&str]) -> Run {
    Run::of(modeloci(tmp).args(args), tmp)
}

/// `modeloci args...` in `tmp`, `stdin` on its standard input.
fn run_stdin(tmp: &Path, args: &[&str], stdin: &str) -> Run {
    Run::of(modeloci(tmp).args(args).write_stdin(stdin), tmp)
}

/// A key pair made by `openssl` in `tmp`: `<name>.pem` and `<name>.pub`.
struct Key {
    private: PathBuf,
    public: PathBuf,
    /// The SHA-256 of the public key's PEM, as the bundle names it.
    hint: String,
    /// How the commands name it: `P-256 key <the hint's first 16 digits>`.
    name: String,
}

fn key(tmp: &Path, name: &str, curve: Curve, format: KeyFormat) -> Key {
    let (private, public) = key_pair(tmp, name, curve, format);
    let public_key = PublicKey::from_pem(&std::fs::read(&public).unwrap()).unwrap();
    let hint = public_key.hint().to_owned();
    let name = format!("{} key {}", public_key.curve(), &hint[..16]);
    Key {
        private,
        public,
        hint,
        name,
    }
}

/// The file names of a path in `tmp`, for arguments.
fn arg(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

const HINT_FILES_DIFFER: &str =
    "hint: the files are not those that were signed: fetch the model again, or sign it anew\n";
const HINT_UNSIGNED: &str = "hint: sign it with `modeloci sign ... --key KEY.pem`, or attach a model_signing signature with --signature\n";
const HINT_ANOTHER_KEY: &str =
    "hint: pass the signer's public key with --key (repeatable: any one of them may have signed)\n";

/// Packs `dir` (relative to `tmp`) as `m` version 1 into `output` in `format`, with `extra`.
fn pack(tmp: &Path, dir: &str, output: &str, format: &str, extra: &[&str]) {
    let mut args = vec![
        "pack",
        "--model-dir",
        dir,
        "--name",
        "m",
        "--version",
        "1",
        "-o",
        output,
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    run(tmp, &args).ok();
}

/// The tiny model at `model/`, with the `.gitattributes` every Hugging Face checkout has,
/// which both tools leave out of a signature.
fn hf_workspace() -> tempfile::TempDir {
    let dir = workspace();
    std::fs::write(
        dir.path().join("model/.gitattributes"),
        "*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    )
    .unwrap();
    dir
}

/// The digest of the model manifest of the archive at `path`.
fn manifest_digest(path: &Path) -> String {
    Archive::open(path).unwrap().manifest_digest().to_string()
}

/// The referrer digests of the signatures stored in the archive at `path`, and the bundles.
fn stored_signatures(path: &Path) -> Vec<(String, Vec<u8>)> {
    let archive = Archive::open(path).unwrap();
    modeloci_sign::archive_signatures(&archive)
        .unwrap()
        .into_iter()
        .map(|s| (s.referrer.to_string(), s.bundle.unwrap().bytes().to_vec()))
        .collect()
}

/// Flips one bit of the file at `path`, at `at`.
fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn model_signing_verifies_what_sign_stores_and_unpack_writes_out() {
    for format in ["modeloci", "modelpack"] {
        for (curve, key_format) in [
            (Curve::P256, KeyFormat::Sec1),
            (Curve::P384, KeyFormat::Pkcs8),
        ] {
            let dir = hf_workspace();
            let tmp = dir.path();
            let k = key(tmp, "key", curve, key_format);
            pack(tmp, "model", "a.tar", format, &[]);
            let manifest = manifest_digest(&tmp.join("a.tar"));
            let signed = run(tmp, &["sign", "a.tar", "--key", arg(&k.private)]).ok();
            let [(referrer, bundle)] =
                <[_; 1]>::try_from(stored_signatures(&tmp.join("a.tar"))).unwrap();
            assert_eq!(
                signed,
                format!(
                    "Signed a.tar: 7 files, by {}\n  signature {referrer} (a referrer of manifest {manifest})\n",
                    k.name
                ),
                "{format} {curve:?}"
            );

            let unpacked = run(
                tmp,
                &[
                    "unpack",
                    "a.tar",
                    "-o",
                    "out",
                    "--key",
                    arg(&k.public),
                    "--signature-out",
                    "out.sig",
                ],
            )
            .ok();
            assert!(
                unpacked.ends_with(&format!(
                    "OK    signature  signed by {}; 7 files match the files written\n",
                    k.name
                )),
                "{unpacked}"
            );
            // What --signature-out wrote is the stored bundle, byte for byte.
            assert_eq!(std::fs::read(tmp.join("out.sig")).unwrap(), bundle);
            assert!(tmp.join("out/.gitattributes").is_file());

            let out = oms::verify(&tmp.join("out"), &k.public, &tmp.join("out.sig"));
            assert_eq!(
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).trim()
                ),
                (Some(0), "Verification succeeded"),
                "{format} {curve:?}: {}",
                oms::text(&out)
            );
            let verify_dir = [
                "verify",
                "--dir",
                "out",
                "--signature",
                "out.sig",
                "--key",
                arg(&k.public),
            ];
            assert_eq!(
                run(tmp, &verify_dir).ok(),
                format!("OK    signature  signed by {}; 7 files match out\n", k.name)
            );
            let doc: serde_json::Value =
                serde_json::from_str(&run(tmp, &[&["--json"][..], &verify_dir].concat()).ok())
                    .unwrap();
            let statement = modeloci_sign::Bundle::parse(&bundle).unwrap();
            assert_eq!(
                doc,
                serde_json::json!({
                    "ok": true,
                    "referrer": null,
                    "keyHint": k.hint,
                    "curve": if curve == Curve::P256 { "P-256" } else { "P-384" },
                    "files": 7,
                    "root": statement.statement().root().to_string(),
                    "dir": "out",
                })
            );

            // One changed byte in one unpacked file: both tools refuse, naming it.
            flip(&tmp.join("out/tokenizer.json"), 100);
            let out = oms::verify(&tmp.join("out"), &k.public, &tmp.join("out.sig"));
            assert_eq!(out.status.code(), Some(1), "{}", oms::text(&out));
            // (Python quotes the name in a list's repr, escaped or not by what the digests hold.)
            let text = oms::text(&out);
            assert!(
                text.contains("Signature mismatch: ")
                    && text.contains("Hash mismatch for ")
                    && text.contains("tokenizer.json"),
                "{text}"
            );
            run(tmp, &verify_dir).fails(
                1,
                &format!(
                    "error: the model's files differ from the signed ones: 1 changed (tokenizer.json)\n{HINT_FILES_DIFFER}"
                ),
            );
        }
    }
}

/// `model_signing sign key` on `model/` in `tmp`, into `name`.
fn sign_with_model_signing(tmp: &Path, k: &Key, name: &str) {
    let out = oms::sign(&tmp.join("model"), &k.private, &tmp.join(name));
    assert!(out.status.success(), "{}", oms::text(&out));
}

#[test]
fn we_attach_and_verify_what_model_signing_signs() {
    for (format, curve, key_format) in [
        ("modeloci", Curve::P256, KeyFormat::Sec1),
        ("modelpack", Curve::P384, KeyFormat::Pkcs8),
    ] {
        let dir = hf_workspace();
        let tmp = dir.path();
        let k = key(tmp, "key", curve, key_format);
        let other = key(tmp, "other", curve, key_format);
        sign_with_model_signing(tmp, &k, "model.sig");
        // Uncompressed, so that a flipped byte of the weights is a flipped byte of a blob.
        pack(tmp, "model", "a.tar", format, &["--compression", "none"]);
        let manifest = manifest_digest(&tmp.join("a.tar"));
        let attached = run(
            tmp,
            &["sign", "--archive", "a.tar", "--signature", "model.sig"],
        )
        .ok();
        let [(referrer, bundle)] =
            <[_; 1]>::try_from(stored_signatures(&tmp.join("a.tar"))).unwrap();
        assert_eq!(bundle, std::fs::read(tmp.join("model.sig")).unwrap());
        assert_eq!(
            attached,
            format!(
                "Signed a.tar: 7 files, by key {} (the signature's key hint)\n  signature {referrer} (a referrer of manifest {manifest})\n",
                &k.hint[..16]
            )
        );
        let verified = run(
            tmp,
            &["verify", "--archive", "a.tar", "--key", arg(&k.public)],
        )
        .ok();
        assert!(
            verified.ends_with(&format!(
                "OK    signature  signed by {}; 7 files match the archive's, hashed from its layers\n",
                k.name
            )),
            "{verified}"
        );
        // Any one of the keys given may have signed.
        run(
            tmp,
            &[
                "verify",
                "--archive",
                "a.tar",
                "--key",
                arg(&other.public),
                "--key",
                arg(&k.public),
            ],
        )
        .ok();

        run(tmp, &["verify", "--archive", "a.tar", "--key", arg(&other.public)]).fails(
            1,
            &format!(
                "error: the signature was signed by another key: its key hint is {}, not that of the key given ({})\n{HINT_ANOTHER_KEY}",
                k.hint, other.hint
            ),
        );

        // A flipped byte in the weights' blob: the blob check fails, naming the file.
        let mut bytes = std::fs::read(tmp.join("a.tar")).unwrap();
        let needle = b"lm_head.weight";
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        bytes[at] ^= 0x20;
        std::fs::write(tmp.join("bad.tar"), &bytes).unwrap();
        let bad = run(
            tmp,
            &["verify", "--archive", "bad.tar", "--key", arg(&k.public)],
        );
        assert_eq!((bad.code, bad.stderr.as_str()), (1, ""), "{bad:?}");
        let line = bad
            .stdout
            .lines()
            .find(|l| l.starts_with("FAIL"))
            .unwrap_or_else(|| panic!("{bad:?}"));
        assert!(
            line.contains("  model.safetensors: digest mismatch, the blob hashes to sha256:"),
            "{line}"
        );
        assert!(!bad.stdout.contains("OK    signature"), "{bad:?}");
    }
}

#[test]
fn a_signature_of_other_files_is_not_attached() {
    let dir = hf_workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    sign_with_model_signing(tmp, &k, "model.sig");
    let refused = |archive: &str, stderr: &str| {
        let before = std::fs::read(tmp.join(archive)).unwrap();
        run(
            tmp,
            &["sign", "--archive", archive, "--signature", "model.sig"],
        )
        .fails(1, stderr);
        assert_eq!(
            std::fs::read(tmp.join(archive)).unwrap(),
            before,
            "{archive} was rewritten"
        );
    };
    // A file the signature does not list.
    std::fs::write(tmp.join("model/extra.txt"), "added after signing\n").unwrap();
    pack(tmp, "model", "extra.tar", "modeloci", &[]);
    refused(
        "extra.tar",
        &format!(
            "error: the model's files differ from the signed ones: 1 extra (extra.txt)\n{HINT_FILES_DIFFER}"
        ),
    );
    // One changed byte, one renamed file, one missing.
    std::fs::remove_file(tmp.join("model/extra.txt")).unwrap();
    flip(&tmp.join("model/config.json"), 10);
    std::fs::rename(tmp.join("model/README.md"), tmp.join("model/README.txt")).unwrap();
    std::fs::remove_file(tmp.join("model/generation_config.json")).unwrap();
    pack(tmp, "model", "changed.tar", "modelpack", &[]);
    refused(
        "changed.tar",
        &format!(
            "error: the model's files differ from the signed ones: 1 changed (config.json), 1 extra (README.txt), 2 missing (README.md, generation_config.json)\n{HINT_FILES_DIFFER}"
        ),
    );
}

#[test]
fn signing_is_reproducible_idempotent_and_skopeo_still_reads_the_model() {
    let dir = workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    let other = key(tmp, "other", Curve::P384, KeyFormat::Sec1);
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    let unsigned = std::fs::read(tmp.join("a.tar")).unwrap();
    std::fs::copy(tmp.join("a.tar"), tmp.join("b.tar")).unwrap();
    run(tmp, &["sign", "a.tar", "--key", arg(&k.private)]).ok();
    run(tmp, &["sign", "b.tar", "--key", arg(&k.private)]).ok();
    let signed = std::fs::read(tmp.join("a.tar")).unwrap();
    assert_ne!(signed, unsigned);
    assert_eq!(
        std::fs::read(tmp.join("b.tar")).unwrap(),
        signed,
        "ECDSA here is deterministic"
    );
    // Signing a signed archive again with the same key changes nothing.
    let [(referrer, _)] = <[_; 1]>::try_from(stored_signatures(&tmp.join("a.tar"))).unwrap();
    let again = run(tmp, &["--json", "sign", "a.tar", "--key", arg(&k.private)]).ok();
    assert_eq!(std::fs::read(tmp.join("a.tar")).unwrap(), signed);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap(),
        serde_json::json!({
            "archive": "a.tar",
            "manifestDigest": manifest_digest(&tmp.join("a.tar")),
            "referrer": referrer,
            "files": 7,
            "keyHint": k.hint,
        })
    );
    // A second key adds a second signature; either verifies.
    run(tmp, &["sign", "a.tar", "--key", arg(&other.private)]).ok();
    assert_eq!(stored_signatures(&tmp.join("a.tar")).len(), 2);
    for key in [&k, &other] {
        run(tmp, &["verify", "a.tar", "--key", arg(&key.public)]).ok();
    }
    // skopeo opens the archive by its tag and finds the model, not a signature.
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "oci-archive:a.tar:1"])
        .current_dir(tmp)
        .output()
        .expect("skopeo is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let archive = Archive::open(&tmp.join("a.tar")).unwrap();
    assert_eq!(out.stdout, archive.manifest_bytes());
    assert_eq!(archive.referrers().unwrap().len(), 2);
}

/// Signs, with the private key at `key`, the files of the archive at `signed_for` and stores
/// that signature in the archive at `archive`, as a referrer of its model: a signature made
/// for other content than the archive holds, as only a mistake or an attacker makes one.
fn attach_signature_of(archive: &Path, signed_for: &Path, key: &Path) {
    let referrer = signature_of(archive, signed_for, key, "m");
    attach(archive, &referrer);
}

/// The referrer of the model of `archive` that [`attach_signature_of`] attaches, the model
/// named `name` in its statement.
fn signature_of(
    archive: &Path,
    signed_for: &Path,
    key: &Path,
    name: &str,
) -> modeloci_sign::Referrer {
    let key = PrivateKey::from_pem(&std::fs::read(key).unwrap(), None).unwrap();
    let files =
        modeloci_sign::archive_files(&Archive::open(signed_for).unwrap(), &HashOptions::default())
            .unwrap();
    let bundle = modeloci_sign::sign(&Statement::for_files(name, files).unwrap(), &key);
    let subject = Archive::open(archive)
        .unwrap()
        .manifest_descriptor()
        .cloned()
        .unwrap();
    referrer_manifest(&subject, &bundle)
}

fn attach(archive: &Path, referrer: &modeloci_sign::Referrer) {
    attach_referrers(
        archive,
        &[NewReferrer {
            manifest_bytes: referrer.manifest_bytes.clone(),
            blobs: referrer.blobs.iter().map(|(_, b)| b.clone()).collect(),
        }],
    )
    .unwrap();
}

/// `unpack ARCHIVE -o land/out ARGS...` refused with `code` and `stderr`, leaving `land/`
/// as it was (holding only `keep`).
fn unpack_refused(tmp: &Path, archive: &str, args: &[&str], code: i32, stderr: &str) {
    std::fs::create_dir_all(tmp.join("land")).unwrap();
    std::fs::write(tmp.join("land/keep"), "").unwrap();
    let mut all = vec![
        "unpack",
        archive,
        "-o",
        "land/out",
        "--signature-out",
        "land/out.sig",
    ];
    all.extend_from_slice(args);
    run(tmp, &all).fails(code, stderr);
    only_entry(&tmp.join("land"), "keep");
}

#[test]
fn unpack_with_a_key_refuses_before_anything_lands() {
    let dir = workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    let other = key(tmp, "other", Curve::P256, KeyFormat::Pkcs8);
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    unpack_refused(
        tmp,
        "a.tar",
        &["--key", arg(&k.public)],
        1,
        &format!(
            "error: the model is not signed: no signature is stored beside it\n{HINT_UNSIGNED}"
        ),
    );
    run(tmp, &["sign", "a.tar", "--key", arg(&k.private)]).ok();
    unpack_refused(
        tmp,
        "a.tar",
        &["--key", arg(&other.public)],
        1,
        &format!(
            "error: the signature was signed by another key: its key hint is {}, not that of the key given ({})\n{HINT_ANOTHER_KEY}",
            k.hint, other.hint
        ),
    );
    // B: the same names, one changed byte in the weights, and A's signature, made and
    // attached by hand (`sign --signature` refuses it, see below).
    flip(&tmp.join("model/model.safetensors"), 4000);
    pack(tmp, "model", "b.tar", "modeloci", &[]);
    attach_signature_of(&tmp.join("b.tar"), &tmp.join("a.tar"), &k.private);
    let mismatch = format!(
        "error: the model's files differ from the signed ones: 1 changed (model.safetensors)\n{HINT_FILES_DIFFER}"
    );
    unpack_refused(tmp, "b.tar", &["--key", arg(&k.public)], 1, &mismatch);
    unpack_refused(
        tmp,
        "b.tar",
        &["--key", arg(&k.public), "--include", "*.safetensors"],
        1,
        &mismatch,
    );
    run(tmp, &["verify", "b.tar", "--key", arg(&k.public)]).fails(1, &mismatch);
    // A signature file that cannot be written is refused before a file lands.
    let refused = run(
        tmp,
        &[
            "unpack",
            "a.tar",
            "-o",
            "land/out",
            "--key",
            arg(&k.public),
            "--signature-out",
            "nowhere/out.sig",
        ],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.starts_with(
            "error: cannot write the signature into nowhere: No such file or directory (os error 2)"
        ),
        "{refused:?}"
    );
    only_entry(&tmp.join("land"), "keep");
    // Inside the output directory, the signature is written once the files are there, and
    // the directory checks against it (the signature file is not a model file).
    run(
        tmp,
        &[
            "unpack",
            "a.tar",
            "-o",
            "inside",
            "--key",
            arg(&k.public),
            "--signature-out",
            "inside/model.sig",
        ],
    )
    .ok();
    run(
        tmp,
        &[
            "verify",
            "--dir",
            "inside",
            "--signature",
            "inside/model.sig",
            "--key",
            arg(&k.public),
        ],
    )
    .ok();
    // However the two paths are spelt.
    let within = [
        "verify",
        "--dir",
        "../inside",
        "--signature",
        "./model.sig",
        "--key",
        "../key.pub",
    ];
    Run::of(modeloci(&tmp.join("inside")).args(within), tmp).ok();
}

#[test]
fn unpack_with_a_key_and_include_checks_the_files_it_restores() {
    let dir = workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P384, KeyFormat::Pkcs8);
    pack(tmp, "model", "a.tar", "modelpack", &[]);
    run(tmp, &["sign", "a.tar", "--key", arg(&k.private)]).ok();
    let out = run(
        tmp,
        &[
            "unpack",
            "a.tar",
            "-o",
            "part",
            "--key",
            arg(&k.public),
            "--include",
            "config.json",
            "--include",
            "scripts/*",
        ],
    )
    .ok();
    assert!(
        out.ends_with(&format!(
            "OK    signature  signed by {}; 2 of its 7 files match the files written\n",
            k.name
        )),
        "{out}"
    );
    let mut written: Vec<String> = walk(&tmp.join("part"));
    written.sort();
    assert_eq!(written, ["config.json", "scripts/serve.sh"]);
    assert_eq!(
        std::fs::read(tmp.join("part/config.json")).unwrap(),
        std::fs::read(tmp.join("model/config.json")).unwrap()
    );
    // The part of a model whose other files differ from the signature is restored.
    flip(&tmp.join("model/model.safetensors"), 4000);
    pack(tmp, "model", "b.tar", "modelpack", &[]);
    attach_signature_of(&tmp.join("b.tar"), &tmp.join("a.tar"), &k.private);
    run(
        tmp,
        &[
            "unpack",
            "b.tar",
            "-o",
            "part2",
            "--key",
            arg(&k.public),
            "--include",
            "config.json",
        ],
    )
    .ok();
    assert_eq!(walk(&tmp.join("part2")), ["config.json"]);
}

/// The files below `dir`, by `/` path.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
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

#[test]
fn inspect_lists_the_signatures_and_checks_them_with_a_key() {
    let dir = workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    let other = key(tmp, "other", Curve::P256, KeyFormat::Sec1);
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    let unsigned = run(tmp, &["inspect", "a.tar"]).ok();
    assert!(!unsigned.contains("Signatures"), "{unsigned}");
    let unsigned = run(tmp, &["inspect", "a.tar", "--key", arg(&k.public)]);
    assert_eq!((unsigned.code, unsigned.stderr.as_str()), (1, ""));
    assert!(
        unsigned.stdout.ends_with(
            "Signatures:    none\nVerification: FAILED (config and 7 layers OK, but no signature verifies with the key given)\n"
        ),
        "{unsigned:?}"
    );
    run(tmp, &["sign", "a.tar", "--key", arg(&k.private)]).ok();
    let [(referrer, bundle)] = <[_; 1]>::try_from(stored_signatures(&tmp.join("a.tar"))).unwrap();
    let scrub = |text: String| {
        text.replace(&referrer, "[REFERRER]")
            .replace(&k.hint, "[HINT]")
            .replace(&k.hint[..16], "[HINT16]")
            .replace(&other.hint, "[OTHER]")
    };
    let human = run(tmp, &["inspect", "a.tar"]);
    assert_eq!(human.code, 0);
    assert_snapshot!("inspect-signed", scrub(human.stdout));
    let verified = run(tmp, &["inspect", "a.tar", "--key", arg(&k.public)]);
    assert_eq!(verified.code, 0);
    assert_snapshot!("inspect-signed-key", scrub(verified.stdout));
    let failed = run(tmp, &["inspect", "a.tar", "--key", arg(&other.public)]);
    assert_eq!((failed.code, failed.stderr.as_str()), (1, ""));
    assert_snapshot!("inspect-signed-other-key", scrub(failed.stdout));

    let json = |key: Option<&Key>| -> serde_json::Value {
        let mut args = vec!["--json", "inspect", "a.tar"];
        if let Some(key) = key {
            args.extend(["--key", arg(&key.public)]);
        }
        let out = run(tmp, &args);
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()["signatures"].clone()
    };
    let bundle_digest = Archive::open(&tmp.join("a.tar"))
        .unwrap()
        .referrers()
        .unwrap()[0]
        .manifest
        .layers[0]
        .digest
        .to_string();
    assert_eq!(
        modeloci_sign::Bundle::parse(&bundle).unwrap().hint(),
        Some(k.hint.as_str())
    );
    let entry = |status: &str| {
        serde_json::json!([{
            "referrer": referrer,
            "bundle": bundle_digest,
            "keyHint": k.hint,
            "files": 7,
            "status": status,
        }])
    };
    assert_eq!(json(None), entry("unchecked"));
    assert_eq!(json(Some(&k)), entry("verified"));
    let mut failed = entry("failed");
    failed[0]["problem"] = format!(
        "the signature was signed by another key: its key hint is {}, not that of the key given ({})",
        k.hint, other.hint
    )
    .into();
    assert_eq!(json(Some(&other)), failed);
}

#[test]
fn inspect_with_a_key_fails_a_signature_of_other_files() {
    let dir = workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    flip(&tmp.join("model/model.safetensors"), 4000);
    pack(tmp, "model", "b.tar", "modeloci", &[]);
    attach_signature_of(&tmp.join("b.tar"), &tmp.join("a.tar"), &k.private);
    let out = run(
        tmp,
        &["--json", "inspect", "b.tar", "--key", arg(&k.public)],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true, "the blobs are fine");
    assert_eq!(doc["signatures"][0]["status"], "failed");
    assert_eq!(
        doc["signatures"][0]["problem"],
        "the model's files differ from the signed ones: 1 changed (model.safetensors)"
    );
}

#[test]
fn add_to_a_signed_archive_needs_force_and_drops_the_signature() {
    let dir = workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    run(tmp, &["sign", "a.tar", "--key", arg(&k.private)]).ok();
    let [(referrer, _)] = <[_; 1]>::try_from(stored_signatures(&tmp.join("a.tar"))).unwrap();
    let signed = std::fs::read(tmp.join("a.tar")).unwrap();
    std::fs::write(tmp.join("notes.txt"), "late notes\n").unwrap();
    let add = ["add", "--archive", "a.tar", "--file", "notes.txt"];
    run(tmp, &add).fails(
        2,
        "error: a.tar holds 1 referrer(s) of its model (signatures); adding a file would leave them stale\n\
         hint: pass --force to drop the signatures (they would not cover the new file), then sign the archive again\n",
    );
    assert_eq!(std::fs::read(tmp.join("a.tar")).unwrap(), signed);

    let forced = run(tmp, &[&add[..], &["--force"]].concat()).ok();
    let manifest = manifest_digest(&tmp.join("a.tar"));
    assert!(
        forced.ends_with(&format!(
            "  manifest {manifest}\n  dropped 1 signature: it covered the old files (sign the archive again)\n"
        )),
        "{forced}"
    );
    assert!(stored_signatures(&tmp.join("a.tar")).is_empty());
    run(tmp, &["verify", "a.tar", "--key", arg(&k.public)]).fails(
        1,
        &format!(
            "error: the model is not signed: no signature is stored beside it\n{HINT_UNSIGNED}"
        ),
    );
    // As JSON, the dropped signature is named.
    run(tmp, &["sign", "a.tar", "--key", arg(&k.private)]).ok();
    let [(again, _)] = <[_; 1]>::try_from(stored_signatures(&tmp.join("a.tar"))).unwrap();
    assert_ne!(
        again, referrer,
        "the new signature covers the new file list"
    );
    std::fs::write(tmp.join("notes.txt"), "later notes\n").unwrap();
    let out = run(tmp, &[&["--json"][..], &add, &["--force"]].concat()).ok();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["droppedSignatures"], serde_json::json!([again]));
}

fn openssl(tmp: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(tmp)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The base64 lines of a PEM file: the key material.
fn pem_body(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.contains(':') && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

const PASSWORD: &str = "c0rrect-h0rse";

#[test]
fn encrypted_keys_are_read_with_their_password_from_stdin_and_never_echoed() {
    let dir = workspace();
    let tmp = dir.path();
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    let pass = format!("pass:{PASSWORD}");
    openssl(
        tmp,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes-256-cbc",
            "-pass",
            &pass,
            "-out",
            "enc.pem",
        ],
    );
    openssl(
        tmp,
        &[
            "pkey", "-in", "enc.pem", "-passin", &pass, "-pubout", "-out", "enc.pub",
        ],
    );
    let plain = key(tmp, "plain", Curve::P384, KeyFormat::Sec1);
    // And a PKCS#8 re-encryption of a SEC1 key, the conversion the legacy refusal names.
    openssl(
        tmp,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "plain.pem",
            "-passout",
            &pass,
            "-out",
            "plain-enc.pem",
        ],
    );
    let mut seen = Vec::new();
    let mut check = |r: Run| {
        seen.push(format!("{}{}", r.stdout, r.stderr));
        r
    };

    let sign = ["sign", "a.tar", "--key", "enc.pem", "--key-password-stdin"];
    let out = check(run_stdin(tmp, &sign, &format!("{PASSWORD}\n"))).ok();
    assert!(
        out.starts_with("Signed a.tar: 7 files, by P-256 key "),
        "{out}"
    );
    let out = check(run_stdin(
        tmp,
        &[
            "sign",
            "a.tar",
            "--key",
            "plain-enc.pem",
            "--key-password-stdin",
        ],
        PASSWORD,
    ))
    .ok();
    assert!(
        out.starts_with(&format!("Signed a.tar: 7 files, by {}", plain.name)),
        "{out}"
    );
    for public in ["enc.pub", "plain.pub"] {
        check(run(tmp, &["verify", "a.tar", "--key", public])).ok();
    }

    check(run(tmp, &["sign", "a.tar", "--key", "enc.pem"])).fails(
        2,
        "error: the private key enc.pem is encrypted: give its password on standard input with --key-password-stdin\n",
    );
    check(run_stdin(tmp, &sign, "not-the-password\n")).fails(
        2,
        "error: cannot use the private key enc.pem: the private key could not be decrypted: wrong password, or a damaged key\n\
         hint: check the password given on standard input (a line break at its end is not part of it)\n",
    );
    check(run_stdin(tmp, &sign, "")).fails(2, "error: no password on standard input\n");

    for output in &seen {
        for secret in [PASSWORD, "not-the-password"] {
            assert!(
                !output.contains(secret),
                "the password was printed: {output}"
            );
        }
        for line in pem_body(&tmp.join("enc.pem"))
            .iter()
            .chain(&pem_body(&tmp.join("plain.pem")))
        {
            assert!(
                !output.contains(line.as_str()),
                "key material was printed: {output}"
            );
        }
    }
}

#[test]
fn keys_that_cannot_be_used_are_refused_clearly() {
    let dir = workspace();
    let tmp = dir.path();
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    run(tmp, &["sign", "a.tar", "--key", arg(&k.private)]).ok();
    openssl(
        tmp,
        &[
            "ec",
            "-in",
            "key.pem",
            "-aes256",
            "-passout",
            &format!("pass:{PASSWORD}"),
            "-out",
            "legacy.pem",
        ],
    );
    let legacy = "error: cannot use the private key legacy.pem: the private key is encrypted in OpenSSL's legacy PEM format (Proc-Type: 4,ENCRYPTED), which is not supported; convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8`\n";
    let before = std::fs::read(tmp.join("a.tar")).unwrap();
    run(tmp, &["sign", "a.tar", "--key", "legacy.pem"]).fails(2, legacy);
    run_stdin(
        tmp,
        &[
            "sign",
            "a.tar",
            "--key",
            "legacy.pem",
            "--key-password-stdin",
        ],
        PASSWORD,
    )
    .fails(2, legacy);
    for body in pem_body(&tmp.join("legacy.pem")) {
        assert!(!legacy.contains(&body));
    }

    // A private key where a public one belongs.
    run(tmp, &["verify", "a.tar", "--key", "key.pem"]).fails(
        2,
        "error: cannot use the public key key.pem: a private key was given where a public key is expected; derive the public key with `openssl ec -pubout`\n\
         hint: verify with the public key: `openssl ec -in KEY.pem -pubout`\n",
    );
    // And a public one where the private one belongs.
    let public = run(tmp, &["sign", "a.tar", "--key", "key.pub"]);
    assert_eq!(public.code, 2, "{public:?}");
    assert!(
        public
            .stderr
            .starts_with("error: cannot use the private key key.pub: "),
        "{public:?}"
    );

    // A huge "key" is refused after reading at most 64 KiB of it.
    let mut big = b"-----BEGIN PUBLIC KEY-----\n".to_vec();
    big.resize(10 << 20, b'A');
    std::fs::write(tmp.join("big.pem"), &big).unwrap();
    for args in [
        &["verify", "a.tar", "--key", "big.pem"][..],
        &["sign", "a.tar", "--key", "big.pem"],
        &["unpack", "a.tar", "-o", "out", "--key", "big.pem"],
    ] {
        let started = Instant::now();
        run(tmp, args).fails(2, "error: big.pem is larger than 64 KiB: not a PEM key\n");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
    assert_eq!(std::fs::read(tmp.join("a.tar")).unwrap(), before);
    assert!(!tmp.join("out").exists());
}

/// `good`'s bundle with its statement's resources changed by `edit`.
fn with_resources(good: &serde_json::Value, edit: impl Fn(&mut Vec<serde_json::Value>)) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bundle = good.clone();
    let payload = b64
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let mut statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    edit(statement["predicate"]["resources"].as_array_mut().unwrap());
    bundle["dsseEnvelope"]["payload"] = b64.encode(serde_json::to_vec(&statement).unwrap()).into();
    serde_json::to_vec(&bundle).unwrap()
}

/// `good`'s bundle with this payload.
fn with_payload(good: &serde_json::Value, payload: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let mut bundle = good.clone();
    bundle["dsseEnvelope"]["payload"] = base64::engine::general_purpose::STANDARD
        .encode(payload)
        .into();
    serde_json::to_vec(&bundle).unwrap()
}

fn rename_first(name: &'static str) -> impl Fn(&mut Vec<serde_json::Value>) {
    move |resources| resources[0]["name"] = name.into()
}

#[test]
fn hostile_signature_files_are_refused_by_sign_and_verify_dir() {
    let dir = workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    std::fs::copy(tmp.join("a.tar"), tmp.join("unsigned.tar")).unwrap();
    run(tmp, &["sign", "a.tar", "--key", arg(&k.private)]).ok();
    run(
        tmp,
        &[
            "unpack",
            "a.tar",
            "-o",
            "out",
            "--key",
            arg(&k.public),
            "--signature-out",
            "good.sig",
        ],
    )
    .ok();
    let good: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.join("good.sig")).unwrap()).unwrap();
    let unsigned = std::fs::read(tmp.join("unsigned.tar")).unwrap();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not-json.sig",
            b"not json".to_vec(),
            "the signature bundle is not valid: expected ident at line 1 column 2",
        ),
        (
            "not-a-statement.sig",
            with_payload(&good, b"[1, 2]"),
            "the signed statement is not valid: not a JSON object",
        ),
        (
            "dotdot.sig",
            with_resources(&good, rename_first("../x")),
            "invalid file name \"../x\" in a signed file list: has a '.' or '..' component",
        ),
        (
            "absolute.sig",
            with_resources(&good, rename_first("/etc/passwd")),
            "invalid file name \"/etc/passwd\" in a signed file list: absolute",
        ),
        (
            "duplicate.sig",
            with_resources(&good, |r| r.insert(1, r[1].clone())),
            "the file \"config.json\" is listed twice",
        ),
        (
            "control.sig",
            with_resources(&good, rename_first("a\u{1b}[31mred")),
            "invalid file name \"a\\u{1b}[31mred\" in a signed file list: contains a control character",
        ),
    ];
    for (name, bytes, message) in &cases {
        std::fs::write(tmp.join(name), bytes).unwrap();
        let expected = format!("error: cannot use the signature {name}: {message}\n");
        let sign = run(
            tmp,
            &["sign", "--archive", "unsigned.tar", "--signature", name],
        );
        sign.fails(1, &expected);
        let verify = run(
            tmp,
            &[
                "verify",
                "--dir",
                "out",
                "--signature",
                name,
                "--key",
                "key.pub",
            ],
        );
        verify.fails(1, &expected);
        assert!(!sign.stderr.contains('\u{1b}') && !verify.stderr.contains('\u{1b}'));
    }
    assert_eq!(std::fs::read(tmp.join("unsigned.tar")).unwrap(), unsigned);

    // Well formed, but the signature does not verify (its last bits changed).
    let mut flipped = good.clone();
    let sig = good["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .unwrap();
    let mut chars: Vec<char> = sig.chars().collect();
    let at = chars.iter().rposition(|&c| c != '=').unwrap() - 1;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    flipped["dsseEnvelope"]["signatures"][0]["sig"] = chars.into_iter().collect::<String>().into();
    std::fs::write(
        tmp.join("flipped.sig"),
        serde_json::to_vec(&flipped).unwrap(),
    )
    .unwrap();
    run(tmp, &["verify", "--dir", "out", "--signature", "flipped.sig", "--key", "key.pub"]).fails(
        1,
        "error: the signature does not verify with the key: the signed content was changed, or another key signed it\n",
    );

    // 100 MB: refused having read 32 MiB and a byte, without parsing (a sparse file).
    let big = std::fs::File::create(tmp.join("big.sig")).unwrap();
    big.set_len(100_000_000).unwrap();
    let expected = "error: cannot use the signature big.sig: the signature bundle is larger than 33554432 bytes\n";
    for args in [
        &[
            "sign",
            "--archive",
            "unsigned.tar",
            "--signature",
            "big.sig",
        ][..],
        &[
            "verify",
            "--dir",
            "out",
            "--signature",
            "big.sig",
            "--key",
            "key.pub",
        ],
    ] {
        let started = Instant::now();
        run(tmp, args).fails(1, expected);
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?}");
    }
    assert_eq!(std::fs::read(tmp.join("unsigned.tar")).unwrap(), unsigned);

    // As JSON too.
    let out = run(
        tmp,
        &[
            "--json",
            "verify",
            "--dir",
            "out",
            "--signature",
            "not-json.sig",
            "--key",
            "key.pub",
        ],
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!({
            "error": "cannot use the signature not-json.sig: the signature bundle is not valid: expected ident at line 1 column 2",
            "hint": null,
            "exitCode": 1,
        })
    );
}

#[test]
fn a_stale_signature_by_the_same_key_does_not_hide_the_good_one() {
    let dir = workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    flip(&tmp.join("model/model.safetensors"), 4000);
    pack(tmp, "model", "b.tar", "modeloci", &[]);
    run(tmp, &["sign", "b.tar", "--key", arg(&k.private)]).ok();
    let [(good, good_bundle)] = <[_; 1]>::try_from(stored_signatures(&tmp.join("b.tar"))).unwrap();
    // A's signature by the same key, replayed onto B, listed before the good one (referrers
    // are listed by digest: the statement's model name picks one that sorts first).
    let stale = (0..)
        .map(|i| {
            signature_of(
                &tmp.join("b.tar"),
                &tmp.join("a.tar"),
                &k.private,
                &format!("m{i}"),
            )
        })
        .find(|r| r.descriptor().digest.to_string() < good)
        .unwrap();
    attach(&tmp.join("b.tar"), &stale);
    let listed: Vec<String> = stored_signatures(&tmp.join("b.tar"))
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(
        listed,
        [stale.descriptor().digest.to_string(), good.clone()]
    );

    let verified = run(tmp, &["--json", "verify", "b.tar", "--key", arg(&k.public)]).ok();
    let doc: serde_json::Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(doc["signature"]["referrer"], good.as_str());
    run(
        tmp,
        &[
            "unpack",
            "b.tar",
            "-o",
            "out",
            "--key",
            arg(&k.public),
            "--signature-out",
            "out.sig",
        ],
    )
    .ok();
    assert_eq!(std::fs::read(tmp.join("out.sig")).unwrap(), good_bundle);
    let part = run(
        tmp,
        &[
            "--json",
            "unpack",
            "b.tar",
            "-o",
            "part",
            "--key",
            arg(&k.public),
            "--include",
            "model.*",
        ],
    )
    .ok();
    let doc: serde_json::Value = serde_json::from_str(&part).unwrap();
    assert_eq!(doc["signature"]["referrer"], good.as_str());
    // inspect says which one fails, and passes: one verifies.
    let out = run(
        tmp,
        &["--json", "inspect", "b.tar", "--key", arg(&k.public)],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let statuses: Vec<&str> = doc["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "verified"]);
}

/// The SHA-256 of the file at `path`, by `openssl dgst`.
fn sha256_hex(path: &Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// Stores `bytes` as a blob of the layout at `layout`; its descriptor's digest and size.
fn put_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let temp = layout.join("blob.tmp");
    std::fs::write(&temp, bytes).unwrap();
    let hex = sha256_hex(&temp);
    std::fs::rename(&temp, layout.join("blobs/sha256").join(&hex)).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

#[test]
fn inspect_with_a_key_hashes_the_files_and_never_trusts_the_recorded_digests() {
    let dir = workspace();
    let tmp = dir.path();
    let k = key(tmp, "key", Curve::P256, KeyFormat::Sec1);
    pack(tmp, "model", "a.tar", "modeloci", &[]);
    let signed_files = modeloci_sign::archive_files(
        &Archive::open(&tmp.join("a.tar")).unwrap(),
        &HashOptions::default(),
    )
    .unwrap();
    let weights = signed_files
        .iter()
        .find(|(n, _)| n == "model.safetensors")
        .unwrap()
        .1
        .clone();
    flip(&tmp.join("model/model.safetensors"), 4000);
    pack(tmp, "model", "b.tar", "modeloci", &[]);
    // B as a layout directory whose manifest claims A's digest for the changed weights, with
    // A's signature attached to that manifest: every blob matches its descriptor.
    let layout = tmp.join("layout");
    std::fs::create_dir(&layout).unwrap();
    let tar = std::process::Command::new("tar")
        .arg("xf")
        .arg(tmp.join("b.tar"))
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap();
    assert!(tar.success());
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let old = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let blob = layout
        .join("blobs/sha256")
        .join(old.strip_prefix("sha256:").unwrap());
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&blob).unwrap()).unwrap();
    for layer in manifest["layers"].as_array_mut().unwrap() {
        if layer["annotations"]["org.opencontainers.image.title"] == "model.safetensors" {
            layer["annotations"]["org.modeloci.file.digest"] = weights.to_string().into();
        }
    }
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let (digest, size) = put_blob(&layout, &manifest_bytes);
    std::fs::write(layout.join("manifest.json"), &manifest_bytes).unwrap();
    index["manifests"][0]["digest"] = digest.clone().into();
    index["manifests"][0]["size"] = size.into();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let subject = Archive::open(&layout)
        .unwrap()
        .manifest_descriptor()
        .cloned()
        .unwrap();
    let bundle = modeloci_sign::sign(
        &Statement::for_files("m", signed_files).unwrap(),
        &PrivateKey::from_pem(&std::fs::read(&k.private).unwrap(), None).unwrap(),
    );
    let referrer = referrer_manifest(&subject, &bundle);
    for (_, bytes) in &referrer.blobs {
        put_blob(&layout, bytes);
    }
    put_blob(&layout, &referrer.manifest_bytes);
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::to_value(referrer.descriptor()).unwrap());
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();

    let plain = run(tmp, &["--json", "inspect", "layout"]);
    let doc: serde_json::Value = serde_json::from_str(&plain.stdout).unwrap();
    assert_eq!(
        (plain.code, &doc["ok"]),
        (0, &serde_json::json!(true)),
        "{plain:?}"
    );
    let out = run(
        tmp,
        &["--json", "inspect", "layout", "--key", arg(&k.public)],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["signatures"][0]["status"], "failed");
    assert_eq!(
        doc["signatures"][0]["problem"],
        "the model's files differ from the signed ones: 1 changed (model.safetensors)"
    );
    run(tmp, &["verify", "layout", "--key", arg(&k.public)]).fails(
        1,
        &format!(
            "error: the model's files differ from the signed ones: 1 changed (model.safetensors)\n{HINT_FILES_DIFFER}"
        ),
    );
}
