//! Hostile bundles, each refused with what is wrong: not JSON, not an object, an unknown
//! field, the wrong mediaType, no dsseEnvelope, another payloadType, no signatures, a
//! signature not base64 / raw `r||s` / garbage DER, a payload not base64 / not JSON / not a
//! statement, the wrong or legacy predicateType, 0 or 2 subjects, a root mismatch, names
//! with `..`, absolute, `./`, `//`, duplicates, `.` (a single-file model), method `shards`,
//! hash type `blake3`, another resource algorithm, uppercase or short digests, a 100 MB
//! bundle (refused after reading at most the limit plus one byte) and deep nesting.
//! Bundles `model_signing` itself wrote with such names (`tests/data/oms-*.sig`) are among
//! them.

use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use modeloci_sign::{Bundle, Error, MAX_BUNDLE_SIZE, PrivateKey, PublicKey, Statement, sign};
use modeloci_spec::Digest;
use serde_json::{Value, json};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

fn key() -> PrivateKey {
    PrivateKey::from_pem(&data("p256.pem"), None).unwrap()
}

fn files() -> Vec<(String, Digest)> {
    ["a.txt", "b/c.bin"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                (*n).to_owned(),
                format!("sha256:{}", i.to_string().repeat(64))
                    .parse()
                    .unwrap(),
            )
        })
        .collect()
}

/// A good bundle of ours, as JSON.
fn good() -> Value {
    let statement = Statement::for_files("m", files()).unwrap();
    serde_json::from_slice(&sign(&statement, &key())).unwrap()
}

fn payload_of(bundle: &Value) -> Value {
    let b64 = bundle["dsseEnvelope"]["payload"].as_str().unwrap();
    serde_json::from_slice(&STANDARD.decode(b64).unwrap()).unwrap()
}

/// `good()` with its statement changed by `f` (the signature then no longer matches, but
/// parsing refuses before any signature is checked).
fn with_statement(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut bundle = good();
    let mut statement = payload_of(&bundle);
    f(&mut statement);
    bundle["dsseEnvelope"]["payload"] = STANDARD
        .encode(serde_json::to_vec(&statement).unwrap())
        .into();
    serde_json::to_vec(&bundle).unwrap()
}

fn with_bundle(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut bundle = good();
    f(&mut bundle);
    serde_json::to_vec(&bundle).unwrap()
}

#[track_caller]
fn refused(bytes: &[u8]) -> String {
    Bundle::parse(bytes).unwrap_err().to_string()
}

#[track_caller]
fn assert_refused(bytes: &[u8], want: &str) {
    let got = refused(bytes);
    assert!(got.contains(want), "{got:?} does not say {want:?}");
}

#[test]
fn our_good_bundle_verifies() {
    let bytes = serde_json::to_vec(&good()).unwrap();
    Bundle::parse(&bytes)
        .unwrap()
        .verify(&[key().public_key()])
        .unwrap();
}

#[test]
fn not_json_or_not_an_object() {
    assert_refused(
        b"garbage",
        "the signature bundle is not valid: expected value",
    );
    assert_refused(
        b"[1,2]",
        "the signature bundle is not valid: invalid type: sequence, expected a JSON object",
    );
    // Nor an array of the fields in order, which serde would otherwise take for the object.
    let array = with_bundle(|b| {
        let m = b["verificationMaterial"].clone();
        b["verificationMaterial"] = json!([m["publicKey"], null, null, m["tlogEntries"]]);
    });
    assert_refused(&array, "invalid type: sequence, expected a JSON object");
    let array = with_statement(|s| {
        let r = s["predicate"]["resources"][0].clone();
        s["predicate"]["resources"][0] = json!([r["name"], r["algorithm"], r["digest"]]);
    });
    assert_refused(&array, "invalid type: sequence, expected a JSON object");
    assert_refused(b"", "the signature bundle is not valid: EOF");
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    assert_refused(
        &with_bundle(|b| b["extra"] = json!(1)),
        "unknown field `extra`",
    );
    assert_refused(
        &with_bundle(|b| b["dsseEnvelope"]["x"] = json!(1)),
        "unknown field `x`",
    );
    assert_refused(
        &with_bundle(|b| b["verificationMaterial"]["publicKey"]["x"] = json!(1)),
        "unknown field `x`",
    );
    assert_refused(
        &with_bundle(|b| b["dsseEnvelope"]["signatures"][0]["x"] = json!(1)),
        "unknown field `x`",
    );
    assert_refused(
        &with_statement(|s| s["extra"] = json!(1)),
        "unknown field `extra`",
    );
    assert_refused(
        &with_statement(|s| s["predicate"]["x"] = json!(1)),
        "unknown field `x`",
    );
}

#[test]
fn tolerated_as_model_signing_tolerates() {
    let public = key().public_key();
    for bytes in [
        with_bundle(|b| b["verificationMaterial"]["publicKey"]["rawBytes"] = json!("AAAA")),
        with_bundle(|b| b["verificationMaterial"]["publicKey"]["keyDetails"] = json!("PKIX")),
        with_bundle(|b| {
            drop(
                b["verificationMaterial"]
                    .as_object_mut()
                    .unwrap()
                    .remove("tlogEntries"),
            );
        }),
        with_bundle(|b| {
            drop(
                b["dsseEnvelope"]["signatures"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("keyid"),
            );
        }),
        with_bundle(|b| b["verificationMaterial"]["publicKey"] = json!({})),
        with_bundle(|b| b["verificationMaterial"]["publicKey"]["hint"] = json!(null)),
        // Only the first signature counts.
        with_bundle(|b| {
            let first = b["dsseEnvelope"]["signatures"][0].clone();
            b["dsseEnvelope"]["signatures"] = json!([first, {"sig": "AAAA"}]);
        }),
    ] {
        Bundle::parse(&bytes)
            .unwrap()
            .verify(std::slice::from_ref(&public))
            .unwrap();
    }
}

#[test]
fn the_envelope_is_checked() {
    assert_refused(
        &with_bundle(|b| {
            b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.3");
        }),
        "mediaType is \"application/vnd.dev.sigstore.bundle+json;version=0.3\", not application/vnd.dev.sigstore.bundle.v0.3+json",
    );
    assert_refused(
        &with_bundle(|b| drop(b.as_object_mut().unwrap().remove("dsseEnvelope"))),
        "no dsseEnvelope",
    );
    assert_refused(
        &with_bundle(|b| b["dsseEnvelope"]["payloadType"] = json!("application/json")),
        "payloadType is \"application/json\"",
    );
    assert_refused(
        &with_bundle(|b| b["dsseEnvelope"]["signatures"] = json!([])),
        "no signature in the envelope",
    );
    assert_refused(
        &with_bundle(|b| {
            b["verificationMaterial"] = json!({"x509CertificateChain": {"certificates": []}});
        }),
        "signed with a certificate; only public-key signatures are supported",
    );
    assert_refused(
        &with_bundle(|b| b["verificationMaterial"] = json!({"tlogEntries": []})),
        "no publicKey",
    );
}

#[test]
fn signatures_must_be_der_and_good() {
    let public = key().public_key();
    assert_refused(
        &with_bundle(|b| b["dsseEnvelope"]["signatures"][0]["sig"] = json!("not base64!")),
        "the signature is not base64",
    );
    let good = good();
    let der = STANDARD
        .decode(
            good["dsseEnvelope"]["signatures"][0]["sig"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
    let raw = STANDARD.encode(sig.to_bytes());
    let cases = [
        (
            raw,
            "the signature is not a DER-encoded ECDSA signature for P-256",
        ),
        (
            STANDARD.encode(b"\x30\x03\x02\x01"),
            "the signature is not a DER-encoded ECDSA signature for P-256",
        ),
        (
            STANDARD.encode(b"\x30\x06\x02\x01\x01\x02\x01\x01"),
            "the signature does not verify with the key",
        ),
    ];
    for (sig, want) in cases {
        let bytes = with_bundle(|b| b["dsseEnvelope"]["signatures"][0]["sig"] = json!(sig));
        let err = Bundle::parse(&bytes)
            .unwrap()
            .verify(std::slice::from_ref(&public))
            .unwrap_err();
        assert!(err.to_string().starts_with(want), "{err}");
    }
    // One byte of a signed name changed (names are not under the root): a bad signature.
    let mut statement = STANDARD
        .decode(good["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let at = statement.windows(5).position(|w| w == b"a.txt").unwrap();
    statement[at + 4] = b'u';
    let bytes = with_bundle(|b| b["dsseEnvelope"]["payload"] = json!(STANDARD.encode(&statement)));
    let bundle = Bundle::parse(&bytes).unwrap();
    assert_eq!(bundle.statement().resources()[0].name, "a.txu");
    let err = bundle.verify(&[public]).unwrap_err();
    assert!(matches!(err, Error::BadSignature { keys: 1 }), "{err}");
}

#[test]
fn the_payload_must_be_a_model_statement() {
    assert_refused(
        &with_bundle(|b| b["dsseEnvelope"]["payload"] = json!("%%%")),
        "the payload is not base64",
    );
    assert_refused(
        &with_bundle(|b| b["dsseEnvelope"]["payload"] = json!(STANDARD.encode("not json"))),
        "the signed statement is not valid: not JSON",
    );
    assert_refused(
        &with_bundle(|b| b["dsseEnvelope"]["payload"] = json!(STANDARD.encode("[]"))),
        "the signed statement is not valid: not a JSON object",
    );
    assert_refused(
        &with_statement(|s| s["_type"] = json!("https://in-toto.io/Statement/v0.1")),
        "_type is Some(\"https://in-toto.io/Statement/v0.1\")",
    );
    assert_refused(
        &with_statement(|s| s["predicateType"] = json!("https://slsa.dev/provenance/v1")),
        "predicateType is \"https://slsa.dev/provenance/v1\", not https://model_signing/signature/v1.0",
    );
    let legacy = refused(&with_statement(|s| {
        s["predicateType"] = json!("https://model_signing/Digests/v0.1");
    }));
    assert!(
        legacy.contains("legacy statement format https://model_signing/Digests/v0.1"),
        "{legacy}"
    );
    assert_refused(
        &with_statement(|s| s["subject"] = json!([])),
        "0 subjects, not exactly one",
    );
    assert_refused(
        &with_statement(|s| {
            let one = s["subject"][0].clone();
            s["subject"] = json!([one.clone(), one]);
        }),
        "2 subjects, not exactly one",
    );
    assert_refused(
        &with_statement(|s| s["predicate"]["serialization"]["method"] = json!("shards")),
        "serialization method \"shards\"; only \"files\" is supported",
    );
    assert_refused(
        &with_statement(|s| s["predicate"]["serialization"]["hash_type"] = json!("blake3")),
        "hash type \"blake3\"; only \"sha256\" is supported",
    );
    assert_refused(
        &with_statement(|s| s["predicate"]["resources"][0]["algorithm"] = json!("blake2")),
        "\"a.txt\" is hashed with \"blake2\"",
    );
    assert_refused(
        &with_statement(|s| s["predicate"]["resources"][0]["digest"] = json!("A".repeat(64))),
        "a resource digest is not 64 lowercase hexadecimal digits",
    );
    assert_refused(
        &with_statement(|s| s["predicate"]["resources"][0]["digest"] = json!("00")),
        "a resource digest is not 64 lowercase hexadecimal digits",
    );
}

#[test]
fn the_root_must_match_the_listed_files() {
    let msg = refused(&with_statement(|s| {
        s["subject"][0]["digest"]["sha256"] = json!("0".repeat(64));
    }));
    assert!(
        msg.starts_with(&format!(
            "the signed root digest {} is not that of the signed file list",
            "0".repeat(64)
        )),
        "{msg}"
    );
    // A resource dropped: the root no longer covers the list.
    assert_refused(
        &with_statement(|s| drop(s["predicate"]["resources"].as_array_mut().unwrap().pop())),
        "is not that of the signed file list",
    );
}

#[test]
fn hostile_names_are_refused() {
    let cases = [
        ("../outside.txt", "has a '.' or '..' component"),
        ("/etc/passwd", "absolute"),
        ("./a.txt", "has a '.' or '..' component"),
        ("b//c.bin", "has an empty component"),
        ("b/", "ends with '/'"),
        ("b\\c", "contains a backslash"),
        ("", "empty"),
    ];
    for (name, want) in cases {
        let bytes = with_statement(|s| s["predicate"]["resources"][0]["name"] = json!(name));
        let got = refused(&bytes);
        assert_eq!(
            got,
            format!("invalid file name {name:?} in a signed file list: {want}")
        );
    }
    let dup = with_statement(|s| s["predicate"]["resources"][1]["name"] = json!("a.txt"));
    assert_eq!(refused(&dup), "the file \"a.txt\" is listed twice");
}

#[test]
fn model_signings_own_odd_bundles_are_refused_or_read() {
    let cases = [
        ("oms-dotdot.sig", "invalid file name \"../outside.txt\""),
        ("oms-abs.sig", "invalid file name \"/tmp/oms/outside.txt\""),
        ("oms-dotslash.sig", "invalid file name \"./README.md\""),
        ("oms-dslash.sig", "invalid file name \"sub//deeper//empty\""),
        ("oms-dup.sig", "the file \"README.md\" is listed twice"),
        ("oms-single.sig", "invalid file name \".\""),
        ("oms-shard.sig", "serialization method \"shards\""),
        (
            "oms-cert.sig",
            "signed with a certificate; only public-key signatures are supported",
        ),
    ];
    for (file, want) in cases {
        let got = refused(&data(file));
        assert!(got.contains(want), "{file}: {got}");
    }
    // A P-521 signature reads, but no P-256 key made it.
    let p521 = Bundle::parse(&data("oms-p521.sig")).unwrap();
    let public = PublicKey::from_pem(&data("oms-p256.pub")).unwrap();
    assert!(matches!(
        p521.verify(&[public]),
        Err(Error::SignedByAnotherKey { .. })
    ));
    // Unsorted resources with the root over that order: accepted, as model_signing does.
    let unsorted = Bundle::parse(&data("oms-unsorted.sig")).unwrap();
    assert_eq!(unsorted.statement().resources()[0].name, "weights.bin");
    let public = PublicKey::from_pem(&data("oms-p256.pub")).unwrap();
    assert_eq!(unsorted.hint(), None);
    assert_eq!(unsorted.verify(&[public]).unwrap(), 0);
}

/// Gives `len` bytes of `[` without holding them.
struct Brackets(u64);

impl Read for Brackets {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.0).unwrap_or(usize::MAX));
        buf[..n].fill(b'[');
        self.0 -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_100_mb_bundle_is_refused_unparsed() {
    let mut reader = Brackets(100_000_000);
    let err = Bundle::parse_reader(&mut reader, MAX_BUNDLE_SIZE).unwrap_err();
    assert!(
        matches!(err, Error::BundleTooLarge { limit } if limit == MAX_BUNDLE_SIZE),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the signature bundle is larger than 33554432 bytes"
    );
    // It read the limit and one byte more, no further.
    assert_eq!(reader.0, 100_000_000 - MAX_BUNDLE_SIZE - 1);
    // A smaller limit is honoured; the slice form checks the same bound.
    let small = Bundle::parse_reader(Brackets(1001), 1000).unwrap_err();
    assert!(matches!(small, Error::BundleTooLarge { limit: 1000 }));
    let ok = serde_json::to_vec(&good()).unwrap();
    Bundle::parse_reader(&ok[..], ok.len() as u64).unwrap();
}

#[test]
fn deep_nesting_is_refused() {
    // serde_json stops at 128 levels: deep documents fail fast, in the bundle and the payload.
    let deep = "[".repeat(100_000);
    assert_refused(
        deep.as_bytes(),
        "invalid type: sequence, expected a JSON object",
    );
    let bytes = with_bundle(|b| b["dsseEnvelope"]["payload"] = json!(STANDARD.encode(&deep)));
    assert_refused(
        &bytes,
        "the signed statement is not valid: not JSON: recursion limit exceeded",
    );
    // Where a value is skipped unread (publicKey.rawBytes), serde_json skips it without
    // recursing, on the heap: a million levels are no danger, and the bundle still reads.
    let mut doc = with_bundle(|b| b["verificationMaterial"]["publicKey"]["rawBytes"] = json!("X"));
    let at = doc.windows(3).position(|w| w == b"\"X\"").unwrap();
    let deep = format!("{}1{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    doc.splice(at..at + 3, deep.bytes());
    Bundle::parse(&doc)
        .unwrap()
        .verify(&[key().public_key()])
        .unwrap();
}

#[test]
fn a_key_hint_that_is_not_a_sha256_is_refused() {
    for hint in ["é".repeat(40), "ABC".into(), "g".repeat(64), "A".repeat(64)] {
        let bytes = with_bundle(|b| {
            b["verificationMaterial"]["publicKey"]["hint"] = json!(hint);
        });
        assert_refused(
            &bytes,
            &format!(
                "the signature bundle is not valid: the key hint {hint:?} is not the lowercase \
                 hex SHA-256 of a public key"
            ),
        );
    }
}
