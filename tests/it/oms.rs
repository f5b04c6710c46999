//! OpenSSF model signatures against the real `model_signing` 1.1.1, both ways, for P-256
//! and P-384 keys in SEC1 and PKCS#8 made with `openssl`: what we sign, it verifies, and
//! what it signs, we verify, and each refuses a changed model.

use std::path::Path;

use modeloci_sign::{Bundle, Error, PrivateKey, PublicKey, Statement, compare, hash_dir, sign};
use modeloci_tests::oms::{self, Curve, KeyFormat, key_pair, write_model};

const KEYS: [(Curve, KeyFormat); 4] = [
    (Curve::P256, KeyFormat::Sec1),
    (Curve::P384, KeyFormat::Pkcs8),
    (Curve::P256, KeyFormat::Pkcs8),
    (Curve::P384, KeyFormat::Sec1),
];

/// Signs `model` with our crate, as a caller would: walk, statement, bundle.
fn sign_ours(model: &Path, key: &Path, signature: &Path) {
    let key = PrivateKey::from_pem(&std::fs::read(key).unwrap(), None).unwrap();
    let files = hash_dir(model, 2, &[]).unwrap();
    let statement = Statement::for_files("model", files).unwrap();
    std::fs::write(signature, sign(&statement, &key)).unwrap();
}

#[test]
fn model_signing_verifies_what_we_sign() {
    for (curve, format) in KEYS {
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("model");
        write_model(&model);
        let (private, public) = key_pair(tmp.path(), "key", curve, format);
        let signature = tmp.path().join("model.sig");
        sign_ours(&model, &private, &signature);

        let out = oms::verify(&model, &public, &signature);
        assert!(
            out.status.success(),
            "{curve:?} {format:?}: {}",
            oms::text(&out)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "Verification succeeded"
        );

        // One flipped byte of a signed file: refused.
        let weights = model.join("weights.bin");
        let mut bytes = std::fs::read(&weights).unwrap();
        bytes[1234] ^= 1;
        std::fs::write(&weights, &bytes).unwrap();
        let out = oms::verify(&model, &public, &signature);
        assert_eq!(out.status.code(), Some(1), "{curve:?} {format:?}");
        let text = oms::text(&out);
        assert!(
            text.contains("Verification failed with error: Signature mismatch")
                && text.contains("Hash mismatch for 'weights.bin'"),
            "{text}"
        );
    }
}

#[test]
fn model_signing_refuses_our_bundle_with_a_flipped_signature_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_model(&model);
    let (private, public) = key_pair(tmp.path(), "key", Curve::P256, KeyFormat::Sec1);
    let signature = tmp.path().join("model.sig");
    sign_ours(&model, &private, &signature);
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&signature).unwrap()).unwrap();
    let sig = bundle["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .unwrap();
    // The last base64 digit before the padding holds the signature's last bits.
    let mut chars: Vec<char> = sig.chars().collect();
    let at = chars.iter().rposition(|&c| c != '=').unwrap() - 1;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = chars.into_iter().collect::<String>().into();
    std::fs::write(&signature, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let out = oms::verify(&model, &public, &signature);
    assert_eq!(out.status.code(), Some(1), "{}", oms::text(&out));
    assert!(oms::text(&out).contains("Verification failed with error"));
    // And so do we.
    let ours = Bundle::parse(&std::fs::read(&signature).unwrap()).unwrap();
    let key = PublicKey::from_pem(&std::fs::read(&public).unwrap()).unwrap();
    assert!(matches!(
        ours.verify(&[key]),
        Err(Error::BadSignature { keys: 1 })
    ));
}

/// Reads and verifies the bundle at `signature` with the key at `public`, then compares it
/// with the files of `model`.
fn verify_ours(model: &Path, public: &Path, signature: &Path) -> Result<(), String> {
    let bundle = Bundle::parse(&std::fs::read(signature).unwrap()).map_err(|e| e.to_string())?;
    let key = PublicKey::from_pem(&std::fs::read(public).unwrap()).unwrap();
    bundle.verify(&[key]).map_err(|e| e.to_string())?;
    let files = hash_dir(model, 2, bundle.statement().ignore_paths()).unwrap();
    compare(bundle.statement(), &files).map_err(|e| e.to_string())
}

#[test]
fn we_verify_what_model_signing_signs() {
    for (curve, format) in KEYS {
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("model");
        write_model(&model);
        let (private, public) = key_pair(tmp.path(), "key", curve, format);
        let signature = tmp.path().join("model.sig");
        let out = oms::sign(&model, &private, &signature);
        assert!(
            out.status.success(),
            "{curve:?} {format:?}: {}",
            oms::text(&out)
        );

        verify_ours(&model, &public, &signature).unwrap();
        let bundle = Bundle::parse(&std::fs::read(&signature).unwrap()).unwrap();
        let names: Vec<&str> = bundle
            .statement()
            .resources()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                ".hidden",
                "README.md",
                "config.json",
                "sub/deeper/empty",
                "sub/tok.txt",
                "weights.bin"
            ]
        );
        // The same files give our statement the same root.
        let ours = Statement::for_files("x", hash_dir(&model, 1, &[]).unwrap()).unwrap();
        assert_eq!(ours.root(), bundle.statement().root());

        // Another key: refused by its hint.
        let (_, other) = key_pair(tmp.path(), "other", curve, format);
        let err = verify_ours(&model, &other, &signature).unwrap_err();
        assert!(
            err.starts_with("the signature was signed by another key"),
            "{err}"
        );
    }
}

#[test]
fn we_refuse_a_model_changed_after_model_signing_signed_it() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_model(&model);
    let (private, public) = key_pair(tmp.path(), "key", Curve::P384, KeyFormat::Sec1);
    let signature = tmp.path().join("model.sig");
    let out = oms::sign(&model, &private, &signature);
    assert!(out.status.success(), "{}", oms::text(&out));

    std::fs::write(model.join("config.json"), b"{\"layers\": 3}\n").unwrap();
    assert_eq!(
        verify_ours(&model, &public, &signature).unwrap_err(),
        "the model's files differ from the signed ones: 1 changed (config.json)"
    );
    std::fs::write(model.join("sub/extra.txt"), b"x").unwrap();
    std::fs::remove_file(model.join("README.md")).unwrap();
    assert_eq!(
        verify_ours(&model, &public, &signature).unwrap_err(),
        "the model's files differ from the signed ones: 1 changed (config.json), 1 extra \
         (sub/extra.txt), 1 missing (README.md)"
    );
    // Clutter under the git paths and empty directories do not count, as for model_signing.
    std::fs::write(model.join("config.json"), b"{\"layers\": 2}\n").unwrap();
    std::fs::remove_file(model.join("sub/extra.txt")).unwrap();
    std::fs::write(model.join("README.md"), b"# a model\n").unwrap();
    std::fs::write(model.join(".git/new"), b"x").unwrap();
    std::fs::create_dir(model.join("empty-dir")).unwrap();
    verify_ours(&model, &public, &signature).unwrap();
    let out = oms::verify(&model, &public, &signature);
    assert!(out.status.success(), "{}", oms::text(&out));
}

#[test]
fn the_paths_model_signing_was_told_to_ignore_are_ignored_by_us_too() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_model(&model);
    std::fs::write(model.join("notes.tmp"), b"scratch").unwrap();
    std::fs::create_dir_all(model.join("cache/x")).unwrap();
    std::fs::write(model.join("cache/x/blob"), b"cached").unwrap();
    let (private, public) = key_pair(tmp.path(), "key", Curve::P256, KeyFormat::Pkcs8);
    let signature = tmp.path().join("model.sig");
    let ignore = [model.join("notes.tmp"), model.join("cache")];
    let ignore: Vec<&Path> = ignore.iter().map(|p| p.as_path()).collect();
    let out = oms::sign_ignoring(&model, &private, &signature, &ignore);
    assert!(out.status.success(), "{}", oms::text(&out));

    let bundle = Bundle::parse(&std::fs::read(&signature).unwrap()).unwrap();
    let mut ignored = bundle.statement().ignore_paths().to_vec();
    ignored.sort();
    assert_eq!(
        ignored,
        [
            ".git",
            ".gitattributes",
            ".github",
            ".gitignore",
            "cache",
            "notes.tmp"
        ]
    );
    // Changing an ignored file changes nothing; a signed one does.
    std::fs::write(model.join("cache/x/blob"), b"other").unwrap();
    verify_ours(&model, &public, &signature).unwrap();
    std::fs::write(model.join("sub/tok.txt"), b"other").unwrap();
    assert_eq!(
        verify_ours(&model, &public, &signature).unwrap_err(),
        "the model's files differ from the signed ones: 1 changed (sub/tok.txt)"
    );
}
