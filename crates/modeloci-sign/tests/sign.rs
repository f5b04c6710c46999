//! Keys, bundles written by `model_signing` 1.1.1 (in `tests/data`), deterministic signing,
//! the comparison's messages, the directory walk and the referrer layout.

use modeloci_sign::{
    Bundle, Error, PrivateKey, PublicKey, Statement, bundle_layer, compare, hash_dir, is_signature,
    referrer_manifest, sign,
};
use modeloci_spec::{Descriptor, Digest, MediaType, OciManifest};

/// The hint of the P-256 sample key of the format notes.
const SAMPLE_HINT: &str = "b1bbb8fb904d91cdde53fbb9e262d60129d7613d88dec3f32432631be19e9773";
/// The root digest of the sample model.
const SAMPLE_ROOT: &str = "0418c171ec5f0a568d38a94d094de111efe528c5dbd5cf981a6f35c530bb8ed3";

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

fn d(hex: &str) -> Digest {
    format!("sha256:{hex}").parse().unwrap()
}

fn sample_key() -> PublicKey {
    PublicKey::from_pem(&data("oms-p256.pub")).unwrap()
}

/// The sample model's files, as `model_signing` signed them.
fn sample_files() -> Vec<(String, Digest)> {
    [
        (
            "README.md",
            "c0cde77fa8fef97d476c10aad3d2d54fcc2f336140d073651c2dcccf1e379fd6",
        ),
        (
            "config.json",
            "e346432021b04179518d9614f3560ccd71354a4ee101ddcb893d6959a9d6301c",
        ),
        (
            "sub/deeper/empty",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            "sub/tok.txt",
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
        ),
        (
            "weights.bin",
            "faa973de574a315e743173ee5ca8d24a785b15f0cffbaa7bee21240780f8ef51",
        ),
    ]
    .into_iter()
    .map(|(n, h)| (n.to_owned(), d(h)))
    .collect()
}

#[test]
fn the_sample_keys_hint_is_model_signings() {
    let key = sample_key();
    assert_eq!(key.hint(), SAMPLE_HINT);
    assert_eq!(key.curve(), "P-256");
    assert_eq!(key.to_pem().as_bytes(), data("oms-p256.pub"));
    // Text before the PEM section, as certtool writes it, is skipped.
    let mut noisy = b"Public Key Info:\n\tPublic Key Algorithm: EC/ECDSA\n".to_vec();
    noisy.extend(data("oms-p256.pub"));
    assert_eq!(PublicKey::from_pem(&noisy).unwrap().hint(), SAMPLE_HINT);
}

#[test]
fn bundles_of_model_signing_parse_and_verify() {
    for name in ["oms-p256.sig", "oms-pk8.sig", "oms-mut.sig"] {
        let bundle = Bundle::parse(&data(name)).unwrap();
        assert_eq!(bundle.hint(), Some(SAMPLE_HINT), "{name}");
        assert_eq!(bundle.verify(&[sample_key()]).unwrap(), 0, "{name}");
        let s = bundle.statement();
        assert_eq!((s.name(), s.root().hex()), ("model", SAMPLE_ROOT), "{name}");
        assert_eq!(s.files(), sample_files(), "{name}");
        assert_eq!(s.ignore_paths().len(), 4, "{name}");
        compare(s, &sample_files()).unwrap();
        assert_eq!(bundle.bytes(), data(name));
    }
    // The P-384 one parses; its key is another, named by its hint.
    let p384 = Bundle::parse(&data("oms-p384.sig")).unwrap();
    assert_eq!(p384.statement().root().hex(), SAMPLE_ROOT);
    let err = p384.verify(&[sample_key()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the signature was signed by another key: its key hint is \
             ee744d58c13d1d5ba1da2b2e89ee6e520169e562deb51e320ce47f70612de6ba, not that of the \
             key given ({SAMPLE_HINT})"
        )
    );
}

#[test]
fn the_key_that_verifies_is_named_by_index() {
    let other = PrivateKey::from_pem(&data("p384-pkcs8.pem"), None)
        .unwrap()
        .public_key();
    let bundle = Bundle::parse(&data("oms-p256.sig")).unwrap();
    assert_eq!(bundle.verify(&[other.clone(), sample_key()]).unwrap(), 1);
    let err = bundle.verify(&[other.clone(), other]).unwrap_err();
    assert!(matches!(err, Error::SignedByAnotherKey { ref key_hints, .. } if key_hints.len() == 2));
    assert!(
        err.to_string().contains("not that of the 2 keys given"),
        "{err}"
    );
    assert!(matches!(bundle.verify(&[]), Err(Error::NoKeys)));
}

#[test]
fn signing_is_deterministic_and_verifies() {
    let key = PrivateKey::from_pem(&data("p256.pem"), None).unwrap();
    let statement = Statement::for_files("model", sample_files()).unwrap();
    let a = sign(&statement, &key);
    let b = sign(
        &statement,
        &PrivateKey::from_pem(&data("p256.pem"), None).unwrap(),
    );
    assert_eq!(a, b);
    let public = PublicKey::from_pem(&data("p256.pub")).unwrap();
    let bundle = Bundle::parse(&a).unwrap();
    assert_eq!(bundle.verify(std::slice::from_ref(&public)).unwrap(), 0);
    assert_eq!(bundle.statement(), &statement);
    assert_eq!(bundle.hint(), Some(public.hint().as_str()));
    let text = String::from_utf8(a).unwrap();
    let head = format!(
        "{{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\
         \"verificationMaterial\":{{\"publicKey\":{{\"hint\":\"{}\"}},\"tlogEntries\":[]}},\
         \"dsseEnvelope\":{{\"payload\":\"",
        public.hint()
    );
    assert!(text.starts_with(&head), "{text}");
    // The signature is DER: a SEQUENCE of about 70 bytes, "ME" in base64.
    let sig = "\"payloadType\":\"application/vnd.in-toto+json\",\"signatures\":[{\"sig\":\"ME";
    assert!(text.contains(sig), "{text}");
    assert!(text.ends_with("\",\"keyid\":\"\"}]}}"), "{text}");
}

#[test]
fn p384_pkcs8_keys_sign_with_sha384_der() {
    let key = PrivateKey::from_pem(&data("p384-pkcs8.pem"), None).unwrap();
    assert_eq!(format!("{key:?}"), "PrivateKey(P-384)");
    let public = PublicKey::from_pem(&data("p384.pub")).unwrap();
    assert_eq!(key.public_key(), public);
    let bytes = sign(&Statement::for_files("m", sample_files()).unwrap(), &key);
    assert_eq!(Bundle::parse(&bytes).unwrap().verify(&[public]).unwrap(), 0);
}

#[test]
fn encrypted_pkcs8_needs_the_right_password() {
    let pem = data("p256-encrypted.pem");
    assert!(PrivateKey::is_encrypted_pem(&pem));
    assert!(!PrivateKey::is_encrypted_pem(&data("p256.pem")));
    let key = PrivateKey::from_pem(&pem, Some(b"secret")).unwrap();
    assert_eq!(
        key.public_key(),
        PublicKey::from_pem(&data("p256.pub")).unwrap()
    );
    let wrong = PrivateKey::from_pem(&pem, Some(b"Secret")).unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "the private key could not be decrypted: wrong password, or a damaged key"
    );
    let none = PrivateKey::from_pem(&pem, None).unwrap_err();
    assert_eq!(
        none.to_string(),
        "the private key is encrypted and no password was given"
    );
}

#[test]
fn legacy_encrypted_sec1_is_refused_with_the_conversion() {
    let pem = data("p256-legacy-encrypted.pem");
    // No password is asked for: none would help.
    assert!(!PrivateKey::is_encrypted_pem(&pem));
    assert!(matches!(
        PrivateKey::from_pem(&pem, None),
        Err(Error::LegacyEncryptedKey)
    ));
    let err = PrivateKey::from_pem(&pem, Some(b"secret")).unwrap_err();
    assert!(matches!(err, Error::LegacyEncryptedKey));
    assert!(err.to_string().contains("`openssl pkcs8 -topk8`"), "{err}");
}

#[test]
fn other_keys_are_refused_by_kind() {
    let ed = PrivateKey::from_pem(&data("ed25519.pem"), None).unwrap_err();
    assert_eq!(
        ed.to_string(),
        "unsupported key: a key of algorithm 1.3.101.112, not EC; model signatures use ECDSA \
         keys on P-256 or P-384"
    );
    let k1 = PrivateKey::from_pem(&data("secp256k1.pem"), None).unwrap_err();
    assert!(matches!(k1, Error::UnsupportedKey { .. }), "{k1}");
    let public_as_private = PrivateKey::from_pem(&data("p256.pub"), None).unwrap_err();
    assert_eq!(
        public_as_private.to_string(),
        "the PEM file holds a PUBLIC KEY, not a private key"
    );
    let private_as_public = PublicKey::from_pem(&data("p256.pem")).unwrap_err();
    assert!(matches!(private_as_public, Error::PrivateKeyNotPublic));
    assert!(
        private_as_public
            .to_string()
            .starts_with("a private key was given")
    );
    let garbage = PublicKey::from_pem(b"hello").unwrap_err();
    assert!(matches!(garbage, Error::KeyNotPem { .. }), "{garbage}");
}

#[test]
fn key_material_never_shows_in_debug_or_errors() {
    let pem = data("p256.pem");
    let key = PrivateKey::from_pem(&pem, None).unwrap();
    let body: String = String::from_utf8(pem.clone())
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .into();
    let debug = format!("{key:?}");
    assert_eq!(debug, "PrivateKey(P-256)");
    // A damaged key: the error names the fault, not the bytes.
    let mut damaged = String::from_utf8(pem).unwrap();
    damaged = damaged.replacen(&body[..8], "AAAAAAAA", 1);
    let err = PrivateKey::from_pem(damaged.as_bytes(), None)
        .unwrap_err()
        .to_string();
    assert!(!err.contains(&body[8..24]), "{err}");
}

#[test]
fn compare_names_changed_extra_and_missing() {
    let signed = Statement::for_files("m", sample_files()).unwrap();
    let mut actual = sample_files();
    actual.retain(|(n, _)| n != "README.md");
    actual[0].1 = d(&"1".repeat(64)); // config.json
    actual.push(("extra.txt".into(), d(&"2".repeat(64))));
    let mismatch = compare(&signed, &actual).unwrap_err();
    assert_eq!(mismatch.changed, ["config.json"]);
    assert_eq!(mismatch.extra, ["extra.txt"]);
    assert_eq!(mismatch.missing, ["README.md"]);
    assert_eq!(
        mismatch.to_string(),
        "the model's files differ from the signed ones: 1 changed (config.json), 1 extra \
         (extra.txt), 1 missing (README.md)"
    );
    // A rename is one missing and one extra; long lists are cut.
    let mut renamed = sample_files();
    renamed[3].0 = "sub/tok2.txt".into();
    assert_eq!(
        compare(&signed, &renamed).unwrap_err().to_string(),
        "the model's files differ from the signed ones: 1 extra (sub/tok2.txt), 1 missing \
         (sub/tok.txt)"
    );
    assert_eq!(
        compare(&signed, &[]).unwrap_err().to_string(),
        "the model's files differ from the signed ones: 5 missing (README.md, config.json, \
         sub/deeper/empty, and 2 more)"
    );
    let mut odd = sample_files();
    odd.push(("bad\nname\u{1b}[31m".into(), d(&"2".repeat(64))));
    assert_eq!(
        compare(&signed, &odd).unwrap_err().to_string(),
        "the model's files differ from the signed ones: 1 extra (\"bad\\nname\\u{1b}[31m\")"
    );
    let mut reversed = sample_files();
    reversed.reverse();
    compare(&signed, &reversed).unwrap();
}

#[test]
fn hash_dir_lists_what_model_signing_signs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, content: &[u8]| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    };
    write("README.md", b"# m\n");
    write("config.json", b"{}\n");
    write("weights.bin", &[b'w'; 3000]);
    write("sub/tok.txt", b"tokens");
    write("sub/deeper/empty", b"");
    write(".git/HEAD", b"ref");
    write(".gitignore", b"x");
    write(".gitattributes", b"x");
    write(".github/workflows/ci.yml", b"x");
    write(".hidden", b"h");
    write("skip/me", b"s");
    write("skipped", b"kept: only whole components match");
    std::fs::create_dir_all(root.join("emptydir")).unwrap();
    let mut files = hash_dir(root, 2, &["skip".into()]).unwrap();
    files.sort();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            ".hidden",
            "README.md",
            "config.json",
            "skipped",
            "sub/deeper/empty",
            "sub/tok.txt",
            "weights.bin"
        ]
    );
    let weights = &files.iter().find(|(n, _)| n == "weights.bin").unwrap().1;
    assert_eq!(
        weights.hex(),
        "faa973de574a315e743173ee5ca8d24a785b15f0cffbaa7bee21240780f8ef51"
    );

    std::os::unix::fs::symlink("README.md", root.join("sub/link")).unwrap();
    let err = hash_dir(root, 2, &[]).unwrap_err();
    assert!(
        matches!(err, Error::Symlink { ref path } if path.ends_with("sub/link")),
        "{err}"
    );
    // An ignored symlink is no error; an ignore path that is no valid name ignores nothing.
    hash_dir(root, 1, &["sub/link".into()]).unwrap();
    for bad in ["/sub", "../x/sub", "sub/", ""] {
        assert!(
            matches!(hash_dir(root, 1, &[bad.into()]), Err(Error::Symlink { .. })),
            "{bad}"
        );
    }
    let file = root.join("README.md");
    let err = hash_dir(&file, 1, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} is not a directory", file.display())
    );
}

#[test]
fn hash_dir_refuses_special_files() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let err = hash_dir(dir.path(), 1, &[]).unwrap_err();
    assert!(
        matches!(err, Error::SpecialFile { ref path } if *path == sock),
        "{err}"
    );
}

#[test]
fn the_referrer_is_laid_out_as_the_cosign_bundle_spec() {
    let bundle = data("oms-p256.sig");
    let subject = Descriptor::new(MediaType::ImageManifest, d(&"a".repeat(64)), 1234)
        .with_annotation("org.opencontainers.image.ref.name", "latest");
    let referrer = referrer_manifest(&subject, &bundle);
    let bundle_hex = "9b583f9715822a693ca444fe26606b70f852af3068c98184d3b12b895d109498";
    let want = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"artifactType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\
         \"config\":{{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\
         \"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2}},\
         \"layers\":[{{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\
         \"digest\":\"sha256:{bundle_hex}\",\"size\":2227,\
         \"annotations\":{{\"org.opencontainers.image.title\":\"sha256-{bundle_hex}.sigstore.json\"}}}}],\
         \"subject\":{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"digest\":\"sha256:{}\",\"size\":1234}},\
         \"annotations\":{{\"dev.sigstore.bundle.content\":\"dsse-envelope\",\
         \"dev.sigstore.bundle.predicateType\":\"https://model_signing/signature/v1.0\"}}}}",
        "a".repeat(64)
    );
    assert_eq!(
        String::from_utf8(referrer.manifest_bytes.clone()).unwrap(),
        want
    );
    assert_eq!(
        OciManifest::from_slice(&referrer.manifest_bytes).unwrap(),
        referrer.manifest
    );
    assert_eq!(referrer.blobs.len(), 2);
    assert_eq!(referrer.blobs[0].1, b"{}");
    assert_eq!(referrer.blobs[1].1, bundle);
    assert_eq!(referrer.blobs[1].0.digest.hex(), bundle_hex);
    assert!(is_signature(&referrer.manifest));
    assert_eq!(bundle_layer(&referrer.manifest), Some(&referrer.blobs[1].0));
    assert_eq!(
        referrer.descriptor().size,
        referrer.manifest_bytes.len() as u64
    );
}

#[test]
fn signatures_are_recognised_by_any_of_the_three_types() {
    let subject = Descriptor::new(MediaType::ImageManifest, d(&"a".repeat(64)), 1);
    let full = referrer_manifest(&subject, b"{}").manifest;
    // No artifactType (cosign#4995).
    let mut m = full.clone();
    m.artifact_type = None;
    assert!(is_signature(&m));
    // Only the config says so, the layer typed otherwise: the sole layer is the bundle.
    let mut m = full.clone();
    m.artifact_type = None;
    m.config.media_type = MediaType::SigstoreBundle;
    m.layers[0].media_type = MediaType::Other("application/json".into());
    assert!(is_signature(&m));
    assert_eq!(bundle_layer(&m), Some(&m.layers[0]));
    // Only the artifactType.
    let mut m = full.clone();
    m.layers[0].media_type = MediaType::Other("application/json".into());
    assert!(is_signature(&m));
    // None of them: a model manifest.
    let mut m = full;
    m.artifact_type = Some(MediaType::ModelociArtifact);
    m.layers[0].media_type = MediaType::ImageLayer;
    assert!(!is_signature(&m));
    assert_eq!(bundle_layer(&m), None);
}
