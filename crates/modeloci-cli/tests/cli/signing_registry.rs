//! Signing and verifying models in a real registry (Debian's `docker-registry`, CNCF
//! Distribution 2.8, which has no referrers API): the tag schema it gets, what each command
//! downloads (seen through the recording proxy), what lands on disk, and tampering.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use modeloci_registry::{Client, ClientOptions};
use modeloci_spec::{Descriptor, MediaType, OciIndex, OciManifest};
use modeloci_tests::oms::{self, Curve, KeyFormat};
use modeloci_tests::proxy::{Behaviour, Proxy};
use modeloci_tests::registry::Registry;

use crate::{client_env, modeloci, pack_args, transcript, workspace};

/// A workspace with the tiny model at `model/`, a registry, and two key pairs (`k`, `other`).
struct World {
    dir: tempfile::TempDir,
    registry: Registry,
    key: PathBuf,
    public: PathBuf,
    other: PathBuf,
    other_public: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = workspace();
        let (key, public) = oms::key_pair(dir.path(), "k", Curve::P256, KeyFormat::Sec1);
        let (other, other_public) =
            oms::key_pair(dir.path(), "other", Curve::P256, KeyFormat::Pkcs8);
        Self {
            dir,
            registry: Registry::start(None),
            key,
            public,
            other,
            other_public,
        }
    }

    fn tmp(&self) -> &Path {
        self.dir.path()
    }

    /// `modeloci ARGS` in the workspace: its transcript, with the registry and the proxies
    /// at `hosts` written as `[REGISTRY]` and `[PROXY<n>]`.
    fn run(&self, args: &[&str], hosts: &[&str]) -> String {
        let mut cmd = modeloci(self.tmp());
        cmd.envs(client_env(self.tmp())).args(args);
        let mut text = transcript(&mut cmd, self.tmp());
        for (i, host) in hosts.iter().enumerate() {
            text = text.replace(host, &format!("[PROXY{}]", i + 1));
        }
        text.replace(&self.registry.addr, "[REGISTRY]")
    }

    /// Runs and requires exit 0.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, &[]);
        assert!(out.starts_with("exit: 0\n"), "{args:?}: {out}");
        out
    }

    /// The manifest `reference` names (as skopeo reads it), with its digest's hex (as
    /// `inspect` tells it).
    fn manifest_of(&self, reference: &str) -> (OciManifest, String) {
        let manifest =
            OciManifest::from_slice(&modeloci_tests::registry::skopeo_raw(reference)).unwrap();
        let doc = crate::transcript_json(&self.ok(&["--json", "inspect", reference]));
        let digest = doc["manifestDigest"].as_str().unwrap();
        (manifest, digest.strip_prefix("sha256:").unwrap().to_owned())
    }

    fn client(&self) -> Client {
        Client::try_new(
            &self.registry.addr,
            ClientOptions::default().with_plain_http(true),
        )
        .unwrap()
    }
}

/// The blob GETs among the proxy's requests.
fn blob_gets(proxy: &Proxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/blobs/"))
        .collect()
}

/// Requires that none of the proxy's requests fetched a blob of `manifest` (config or layer).
fn no_model_blob_fetched(proxy: &Proxy, manifest: &OciManifest) {
    let gets = blob_gets(proxy);
    for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
        assert!(
            !gets.iter().any(|g| g.contains(d.digest.as_str())),
            "{} was downloaded: {:?}",
            d.digest,
            proxy.requests()
        );
    }
}

/// The proxy's requests from the `from`th on, with each digest of `names` (hex, label)
/// written as its label, any other as `[DIGEST]`, and upload sessions as `[SESSION]`.
fn requests(proxy: &Proxy, from: usize, names: &[(&str, &str)]) -> Vec<String> {
    proxy.requests()[from..]
        .iter()
        .map(|r| {
            let mut r = match r.split_once("/uploads/") {
                Some((head, session)) if !session.is_empty() => format!("{head}/uploads/[SESSION]"),
                _ => r.clone(),
            };
            for (hex, label) in names {
                r = r.replace(hex, label);
            }
            label_digests(&r)
        })
        .collect()
}

/// `text` with each run of 64 hex digits written as `[DIGEST]`.
fn label_digests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let n = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        out.push_str(if n == 64 { "[DIGEST]" } else { &rest[..n] });
        rest = &rest[n..];
    }
    out + rest
}

/// The hex of the `{}` config every signature referrer names.
const EMPTY: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// The stderr of a transcript.
fn stderr(text: &str) -> &str {
    text.split("--- stderr\n").nth(1).unwrap()
}

#[test]
fn a_pushed_signed_archive_is_signed_in_the_registry_and_pull_key_verifies() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    w.ok(&["sign", "m.tar", "--key", key]);
    let reference = format!("{}/models/m:1", w.registry.addr);
    let pushed = w.ok(&["push", "--archive", "m.tar", &reference]);
    assert!(
        pushed.contains("\n  1 signature attached (referrers of the manifest)\n"),
        "{pushed}"
    );

    // Distribution 2.8 has no referrers API: the signature is listed under the tag schema.
    let (_, hex) = w.manifest_of(&reference);
    let index =
        modeloci_tests::registry::skopeo_raw(&format!("{}/models/m:sha256-{hex}", w.registry.addr));
    let index = OciIndex::from_slice(&index).unwrap();
    assert_eq!(index.manifests.len(), 1, "{index:?}");
    let entry = &index.manifests[0];
    assert_eq!(entry.media_type, MediaType::ImageManifest);
    assert_eq!(
        entry.artifact_type.as_ref().map(MediaType::as_str),
        Some("application/vnd.dev.sigstore.bundle.v0.3+json")
    );
    let referrer = modeloci_tests::registry::skopeo_raw(&format!(
        "{}/models/m@{}",
        w.registry.addr, entry.digest
    ));
    let referrer = OciManifest::from_slice(&referrer).unwrap();
    assert_eq!(
        referrer.subject.as_ref().map(|s| s.digest.hex()),
        Some(hex.as_str())
    );

    // pull --key --unpack, and the signature it writes verifies with model_signing.
    let unpacked = w.ok(&[
        "pull",
        &reference,
        "--key",
        public,
        "--unpack",
        "d",
        "--signature-out",
        "d.sig",
    ]);
    assert!(
        unpacked.contains("Pulled [REGISTRY]/models/m:1@sha256:"),
        "{unpacked}"
    );
    for file in ["config.json", "model.safetensors", "scripts/serve.sh"] {
        assert_eq!(
            std::fs::read(w.tmp().join("d").join(file)).unwrap(),
            std::fs::read(w.tmp().join("model").join(file)).unwrap()
        );
    }
    let theirs = oms::verify(&w.tmp().join("d"), &w.public, &w.tmp().join("d.sig"));
    assert!(theirs.status.success(), "{}", oms::text(&theirs));
    let other = oms::verify(&w.tmp().join("d"), &w.other_public, &w.tmp().join("d.sig"));
    assert!(!other.status.success(), "{}", oms::text(&other));

    // pull --output brings the signature into the archive, with or without --key.
    w.ok(&["pull", &reference, "--key", public, "--output", "keyed.tar"]);
    w.ok(&["pull", &reference, "--output", "plain.tar"]);
    for pulled in ["keyed.tar", "plain.tar"] {
        assert_eq!(
            std::fs::read(w.tmp().join(pulled)).unwrap(),
            std::fs::read(w.tmp().join("m.tar")).unwrap(),
            "{pulled} is the signed archive pushed, byte for byte"
        );
        let verified = w.ok(&["verify", pulled, "--key", public]);
        assert!(
            verified.contains("\nOK    signature  signed by "),
            "{verified}"
        );
        let inspected = w.ok(&["inspect", pulled, "--key", public]);
        assert!(
            inspected.contains(&format!("Signatures (1):\n  OK    {}  key ", entry.digest)),
            "{inspected}"
        );
    }
}

#[test]
fn pull_key_of_an_unsigned_model_or_by_another_key_writes_nothing_and_fetches_no_blob() {
    let w = World::new();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let unsigned = format!("{}/models/unsigned:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &unsigned]);
    let (_, hex) = w.manifest_of(&unsigned);
    w.ok(&["sign", "m.tar", "--key", w.other.to_str().unwrap()]);
    let other = format!("{}/models/other:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &other]);
    std::fs::create_dir(w.tmp().join("out")).unwrap();
    std::fs::write(w.tmp().join("out/keep"), "").unwrap();

    let proxy = Proxy::start(&w.registry.addr, Behaviour::default());
    let via = |reference: &str| reference.replace(&w.registry.addr, &proxy.addr);
    for target in ["--unpack", "--output"] {
        let before = proxy.requests().len();
        let out = w.run(
            &["pull", &via(&unsigned), "--key", public, target, "out/t"],
            &[&proxy.addr],
        );
        assert_eq!(
            out,
            "exit: 1\n--- stdout\n--- stderr\nerror: the model is not signed: no signature is stored beside it\nhint: sign it with `modeloci sign ... --key KEY.pem`, or attach a model_signing signature with --signature\n",
            "{target}"
        );
        modeloci_tests::only_entry(&w.tmp().join("out"), "keep");
        // The manifest, the referrers API (404) and the tag schema's index (404): no blob.
        assert_eq!(
            requests(&proxy, before, &[(&hex, "[M]")]),
            [
                "GET /v2/models/unsigned/manifests/1",
                "GET /v2/models/unsigned/referrers/sha256:[M]",
                "GET /v2/models/unsigned/manifests/sha256-[M]",
            ],
            "{target}"
        );
    }

    let (manifest, _) = w.manifest_of(&other);
    for target in ["--unpack", "--output"] {
        let out = w.run(
            &["pull", &via(&other), "--key", public, target, "out/t"],
            &[&proxy.addr],
        );
        let err = stderr(&out);
        assert!(
            out.starts_with("exit: 1\n--- stdout\n--- stderr\n"),
            "{out}"
        );
        assert!(
            err.starts_with("error: the signature was signed by another key: its key hint is "),
            "{err}"
        );
        assert!(
            err.ends_with("\nhint: pass the signer's public key with --key (repeatable: any one of them may have signed)\n"),
            "{err}"
        );
        modeloci_tests::only_entry(&w.tmp().join("out"), "keep");
    }
    no_model_blob_fetched(&proxy, &manifest);
}

#[test]
fn sign_ref_signs_from_the_manifest_and_verify_ref_downloads_no_layer() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let reference = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &reference]);
    let (manifest, hex) = w.manifest_of(&reference);
    let proxy = Proxy::start(&w.registry.addr, Behaviour::default());
    let via = reference.replace(&w.registry.addr, &proxy.addr);

    let signed = w.run(&["sign", &via, "--key", key], &[&proxy.addr]);
    let index =
        modeloci_tests::registry::skopeo_raw(&format!("{}/models/m:sha256-{hex}", w.registry.addr));
    let index = OciIndex::from_slice(&index).unwrap();
    assert_eq!(index.manifests.len(), 1, "{index:?}");
    let referrer = index.manifests[0].digest.clone();
    let names = [
        (hex.as_str(), "[M]"),
        (referrer.hex(), "[R]"),
        (EMPTY, "[EMPTY]"),
    ];
    assert_eq!(
        label_digests(&signed.replace(referrer.hex(), "[R]").replace(&hex, "[M]")),
        "exit: 0\n--- stdout\nSigned [PROXY1]/models/m:1: 7 files, by P-256 key [KEY]\n  signature sha256:[R] (a referrer of manifest sha256:[M])\n--- stderr\n"
            .replace("[KEY]", &signed[signed.find("P-256 key ").unwrap() + 10..][..16])
    );
    // Only the manifest is read; the referrer goes up, then its entry under the tag schema.
    assert_eq!(
        requests(&proxy, 0, &names),
        [
            "GET /v2/models/m/manifests/1",
            "HEAD /v2/models/m/blobs/sha256:[EMPTY]",
            "HEAD /v2/models/m/blobs/sha256:[DIGEST]",
            "POST /v2/models/m/blobs/uploads/",
            "PUT /v2/models/m/blobs/uploads/[SESSION]",
            "POST /v2/models/m/blobs/uploads/",
            "PUT /v2/models/m/blobs/uploads/[SESSION]",
            "PUT /v2/models/m/manifests/sha256:[R]",
            "GET /v2/models/m/referrers/sha256:[M]",
            "GET /v2/models/m/manifests/sha256-[M]",
            "PUT /v2/models/m/manifests/sha256-[M]",
            "GET /v2/models/m/manifests/sha256-[M]",
        ]
    );

    let before = proxy.requests().len();
    let verified = w.run(&["verify", &via, "--key", public], &[&proxy.addr]);
    assert!(
        verified.starts_with(
            "exit: 0\n--- stdout\nVerified [PROXY1]/models/m:1@sha256:"
        ) && verified.ends_with("; 7 files match the manifest's recorded digests (no layer downloaded; pull --key checks the bytes)\n--- stderr\n"),
        "{verified}"
    );
    // The manifest and the signature: no layer, not even the config.
    assert_eq!(
        requests(&proxy, before, &names),
        [
            "GET /v2/models/m/manifests/1",
            "GET /v2/models/m/referrers/sha256:[M]",
            "GET /v2/models/m/manifests/sha256-[M]",
            "GET /v2/models/m/manifests/sha256:[R]",
            "GET /v2/models/m/blobs/sha256:[EMPTY]",
            "GET /v2/models/m/blobs/sha256:[DIGEST]",
        ]
    );
    let refused = w.run(
        &["verify", &via, "--key", w.other_public.to_str().unwrap()],
        &[&proxy.addr],
    );
    assert!(
        stderr(&refused).starts_with("error: the signature was signed by another key: "),
        "{refused}"
    );
    assert!(
        refused.starts_with("exit: 1\n--- stdout\n--- stderr\n"),
        "{refused}"
    );
    no_model_blob_fetched(&proxy, &manifest);

    // The registry copy verifies where the bytes are read, too.
    w.ok(&[
        "pull",
        &reference,
        "--key",
        public,
        "--unpack",
        "d",
        "--signature-out",
        "d.sig",
    ]);
    let theirs = oms::verify(&w.tmp().join("d"), &w.public, &w.tmp().join("d.sig"));
    assert!(theirs.status.success(), "{}", oms::text(&theirs));
    w.ok(&["pull", &reference, "--key", public, "--output", "p.tar"]);
    w.ok(&["verify", "p.tar", "--key", public]);
}

#[test]
fn sign_ref_attaches_a_model_signing_bundle_made_on_the_model_directory() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let other = w.other_public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let reference = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &reference]);
    w.ok(&["sign", &reference, "--key", key]);
    let made = oms::sign(
        &w.tmp().join("model"),
        &w.other,
        &w.tmp().join("theirs.sig"),
    );
    assert!(made.status.success(), "{}", oms::text(&made));
    let attached = w.ok(&["sign", &reference, "--signature", "theirs.sig"]);
    assert!(
        attached.starts_with("exit: 0\n--- stdout\nSigned [REGISTRY]/models/m:1: 7 files, by key "),
        "{attached}"
    );
    assert!(
        attached.contains(" (the signature's key hint)\n"),
        "{attached}"
    );
    let (_, hex) = w.manifest_of(&reference);
    let index =
        modeloci_tests::registry::skopeo_raw(&format!("{}/models/m:sha256-{hex}", w.registry.addr));
    assert_eq!(OciIndex::from_slice(&index).unwrap().manifests.len(), 2);
    // Either key is one that signed: each verifies, and both together.
    w.ok(&["verify", &reference, "--key", other]);
    w.ok(&["verify", &reference, "--key", w.public.to_str().unwrap()]);
    w.ok(&["pull", &reference, "--key", other, "--unpack", "d"]);

    // A bundle made on other files is refused, naming them, and nothing is attached.
    std::fs::write(w.tmp().join("model/extra.txt"), "x").unwrap();
    let made = oms::sign(&w.tmp().join("model"), &w.other, &w.tmp().join("more.sig"));
    assert!(made.status.success(), "{}", oms::text(&made));
    assert_eq!(
        w.run(&["sign", &reference, "--signature", "more.sig"], &[]),
        "exit: 1\n--- stdout\n--- stderr\nerror: the model's files differ from the signed ones: 1 missing (extra.txt)\nhint: the files are not those that were signed: fetch the model again, or sign it anew\n"
    );
    let index =
        modeloci_tests::registry::skopeo_raw(&format!("{}/models/m:sha256-{hex}", w.registry.addr));
    assert_eq!(OciIndex::from_slice(&index).unwrap().manifests.len(), 2);
}

#[test]
fn a_modelpack_model_signs_from_its_manifest() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("mp.tar", &["--format", "modelpack"]));
    let reference = format!("{}/models/mp:1", w.registry.addr);
    w.ok(&["push", "--archive", "mp.tar", &reference]);
    let (manifest, _) = w.manifest_of(&reference);
    // The weights are a raw layer (the layer digest is the file's), the rest tar layers.
    let raw: Vec<&str> = manifest
        .layers
        .iter()
        .filter(|l| l.media_type.as_str().ends_with(".raw"))
        .map(|l| l.media_type.as_str())
        .collect();
    assert_eq!(raw, ["application/vnd.cncf.model.weight.v1.raw"]);
    assert_eq!(manifest.layers.len(), 7);
    let proxy = Proxy::start(&w.registry.addr, Behaviour::default());
    let via = reference.replace(&w.registry.addr, &proxy.addr);
    let signed = w.run(&["sign", &via, "--key", key], &[&proxy.addr]);
    assert!(
        signed.starts_with(
            "exit: 0\n--- stdout\nSigned [PROXY1]/models/mp:1: 7 files, by P-256 key "
        ),
        "{signed}"
    );
    let verified = w.run(&["verify", &via, "--key", public], &[&proxy.addr]);
    assert!(verified.starts_with("exit: 0\n"), "{verified}");
    no_model_blob_fetched(&proxy, &manifest);
    w.ok(&[
        "pull",
        &reference,
        "--key",
        public,
        "--unpack",
        "d",
        "--signature-out",
        "d.sig",
    ]);
    let theirs = oms::verify(&w.tmp().join("d"), &w.public, &w.tmp().join("d.sig"));
    assert!(theirs.status.success(), "{}", oms::text(&theirs));
}

/// An archive of another tool: a KitOps-style tree layer holding two files, and a code
/// layer; no layer records its files' digests.
fn foreign_archive() -> Vec<u8> {
    use modeloci_tests::layout::{Artifact, Layer};
    use modeloci_tests::rawtar::{Raw, gzip, tar};
    Artifact::new(
        "application/vnd.kitops.modelkit.config.v1+json",
        b"{}",
        vec![
            Layer::new(
                "application/vnd.kitops.modelkit.model.v1.tar+gzip",
                gzip(&tar(&[
                    Raw::file("models/a.gguf", b"GGUF weights"),
                    Raw::file("models/b.gguf", b"GGUF more weights"),
                ])),
            ),
            Layer::new(
                "application/vnd.kitops.modelkit.code.v1.tar",
                tar(&[Raw::file("src/x.py", b"print(1)\n")]),
            ),
        ],
    )
    .to_tar()
}

#[test]
fn a_model_without_recorded_digests_is_signed_as_an_archive_and_pull_hashes_its_files() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    std::fs::write(w.tmp().join("kit.tar"), foreign_archive()).unwrap();
    let reference = format!("{}/models/kit:1", w.registry.addr);
    w.ok(&["push", "--archive", "kit.tar", &reference]);
    let (_, hex) = w.manifest_of(&reference);
    assert_eq!(
        w.run(&["sign", &reference, "--key", key], &[]),
        format!(
            "exit: 1\n--- stdout\n--- stderr\nerror: the manifest of [REGISTRY]/models/kit:1@sha256:{hex} does not record the digest of every file (a layer holds files it does not list), so they cannot be known without downloading its layers\nhint: pull it with --output, sign the archive, and push it: its files are then hashed from the layers\n"
        )
    );
    assert_eq!(
        w.run(&["verify", &reference, "--key", public], &[]),
        "exit: 1\n--- stdout\n--- stderr\nerror: the model is not signed: no signature is stored beside it\nhint: sign it with `modeloci sign ... --key KEY.pem`, or attach a model_signing signature with --signature\n"
    );

    // What the hint says: pull the archive, sign it, push it back.
    w.ok(&["pull", &reference, "--output", "f.tar"]);
    w.ok(&["sign", "f.tar", "--key", key]);
    let pushed = w.ok(&["push", "--archive", "f.tar", &reference]);
    assert!(
        pushed.starts_with(&format!("exit: 0\n--- stdout\nPushed [REGISTRY]/models/kit:1@sha256:{hex}\n  3 blobs: 0 uploaded (0 B), 3 already there, 0 mounted; tag 1\n  1 signature attached (referrers of the manifest)\n")),
        "{pushed}"
    );
    // verify REF cannot tell the files from the manifest, and says how to check them.
    assert_eq!(
        w.run(&["verify", &reference, "--key", public], &[]),
        "exit: 2\n--- stdout\n--- stderr\nerror: [REGISTRY]/models/kit:1 is signed by P-256 key [KEY], but its manifest does not record every file's digest: `modeloci pull [REGISTRY]/models/kit:1 --key ... --unpack DIR` checks the files as it writes them\n"
            .replace("[KEY]", &key_hint(&w.public)[..16])
    );
    // pull --key checks the files as they are written.
    let pulled = w.ok(&[
        "pull",
        &reference,
        "--key",
        public,
        "--unpack",
        "d",
        "--signature-out",
        "d.sig",
    ]);
    assert!(pulled.contains(" -> 3 files into d\n"), "{pulled}");
    assert_eq!(
        std::fs::read(w.tmp().join("d/models/b.gguf")).unwrap(),
        b"GGUF more weights"
    );
    let theirs = oms::verify(&w.tmp().join("d"), &w.public, &w.tmp().join("d.sig"));
    assert!(theirs.status.success(), "{}", oms::text(&theirs));
    w.ok(&["pull", &reference, "--key", public, "--output", "g.tar"]);
    assert_eq!(
        std::fs::read(w.tmp().join("g.tar")).unwrap(),
        std::fs::read(w.tmp().join("f.tar")).unwrap()
    );
    let wrong = w.run(
        &[
            "pull",
            &reference,
            "--key",
            w.other_public.to_str().unwrap(),
            "--unpack",
            "e",
        ],
        &[],
    );
    assert!(
        wrong.starts_with(
            "exit: 1\n--- stdout\n--- stderr\nerror: the signature was signed by another key"
        ),
        "{wrong}"
    );
    assert!(!w.tmp().join("e").exists());
    assert!(!w.tmp().join(".e.modeloci-pull").exists());
}

/// The hint `model_signing` names a public key by: the SHA-256 of its PEM.
fn key_hint(public: &Path) -> String {
    let pem = std::fs::read(public).unwrap();
    modeloci_sign::PublicKey::from_pem(&pem)
        .unwrap()
        .hint()
        .to_owned()
}

/// Stores `bundle` in the registry as a signature referrer of the manifest `tag` names in
/// `repository` (blobs, manifest, and its entry in the `sha256-` index); returns the
/// referrer's index entry and the subject's fallback tag.
fn attach_by_hand(w: &World, repository: &str, tag: &str, bundle: &[u8]) -> (Descriptor, String) {
    let (_, hex) = w.manifest_of(&format!("{}/{repository}:{tag}", w.registry.addr));
    let bytes =
        modeloci_tests::registry::skopeo_raw(&format!("{}/{repository}:{tag}", w.registry.addr));
    let subject = Descriptor::new(
        MediaType::ImageManifest,
        format!("sha256:{hex}").parse().unwrap(),
        bytes.len() as u64,
    );
    let referrer = modeloci_sign::referrer_manifest(&subject, bundle);
    let blobs: Vec<(Descriptor, &[u8])> = referrer
        .blobs
        .iter()
        .map(|(d, b)| (d.clone(), b.as_slice()))
        .collect();
    modeloci_registry::attach(&w.client(), repository, &referrer.manifest_bytes, &blobs).unwrap();
    (referrer.descriptor(), format!("sha256-{hex}"))
}

#[test]
fn tampered_signatures_in_the_registry_are_refused_and_nothing_is_written() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let reference = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &reference]);
    w.ok(&["sign", &reference, "--key", key]);
    std::fs::create_dir(w.tmp().join("out")).unwrap();
    std::fs::write(w.tmp().join("out/keep"), "").unwrap();

    // The index under the tag now lists only a referrer whose bundle is garbage.
    let (garbage, tag) = attach_by_hand(&w, "models/m", "1", b"not a bundle");
    let index = OciIndex::new(vec![garbage]).to_json();
    w.client()
        .put_manifest("models/m", &tag, &MediaType::ImageIndex, &index)
        .unwrap();
    let not_a_bundle = "exit: 1\n--- stdout\n--- stderr\nerror: the signature bundle is not valid: expected ident at line 1 column 2\n";
    for target in ["--unpack", "--output"] {
        let out = w.run(&["pull", &reference, "--key", public, target, "out/t"], &[]);
        assert_eq!(out, not_a_bundle, "{target}");
        modeloci_tests::only_entry(&w.tmp().join("out"), "keep");
    }
    assert_eq!(
        w.run(&["verify", &reference, "--key", public], &[]),
        not_a_bundle
    );

    // A signature by the right key, listed for this manifest, made for other files.
    std::fs::write(w.tmp().join("model/README.md"), "changed\n").unwrap();
    std::fs::write(w.tmp().join("model/added.txt"), "added\n").unwrap();
    let made = oms::sign(&w.tmp().join("model"), &w.key, &w.tmp().join("other.sig"));
    assert!(made.status.success(), "{}", oms::text(&made));
    let other = std::fs::read(w.tmp().join("other.sig")).unwrap();
    let (listed, tag) = attach_by_hand(&w, "models/m", "1", &other);
    let index = OciIndex::new(vec![listed]).to_json();
    w.client()
        .put_manifest("models/m", &tag, &MediaType::ImageIndex, &index)
        .unwrap();
    let differ = "exit: 1\n--- stdout\n--- stderr\nerror: the model's files differ from the signed ones: 1 changed (README.md), 1 missing (added.txt)\nhint: the files are not those that were signed: fetch the model again, or sign it anew\n";
    for target in ["--unpack", "--output"] {
        let out = w.run(&["pull", &reference, "--key", public, target, "out/t"], &[]);
        assert_eq!(out, differ, "{target}");
        modeloci_tests::only_entry(&w.tmp().join("out"), "keep");
    }
    assert_eq!(w.run(&["verify", &reference, "--key", public], &[]), differ);
}

#[test]
fn a_valid_signature_listed_after_one_for_other_files_still_verifies() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let reference = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &reference]);
    std::fs::write(w.tmp().join("model/added.txt"), "added\n").unwrap();
    let made = oms::sign(&w.tmp().join("model"), &w.key, &w.tmp().join("other.sig"));
    assert!(made.status.success(), "{}", oms::text(&made));
    let other = std::fs::read(w.tmp().join("other.sig")).unwrap();
    attach_by_hand(&w, "models/m", "1", &other);
    // Alone, it is refused, naming what differs.
    assert_eq!(
        w.run(&["verify", &reference, "--key", public], &[]),
        "exit: 1\n--- stdout\n--- stderr\nerror: the model's files differ from the signed ones: 1 missing (added.txt)\nhint: the files are not those that were signed: fetch the model again, or sign it anew\n"
    );
    w.ok(&["sign", &reference, "--key", key]);
    let (_, hex) = w.manifest_of(&reference);
    let index =
        modeloci_tests::registry::skopeo_raw(&format!("{}/models/m:sha256-{hex}", w.registry.addr));
    assert_eq!(OciIndex::from_slice(&index).unwrap().manifests.len(), 2);
    let verified = w.ok(&["verify", &reference, "--key", public]);
    assert!(
        verified.contains("; 7 files match the manifest's recorded digests"),
        "{verified}"
    );
    w.ok(&[
        "pull",
        &reference,
        "--key",
        public,
        "--unpack",
        "d",
        "--signature-out",
        "d.sig",
    ]);
    w.ok(&["pull", &reference, "--key", public, "--output", "p.tar"]);
    let theirs = oms::verify(&w.tmp().join("d"), &w.public, &w.tmp().join("d.sig"));
    assert!(theirs.status.success(), "{}", oms::text(&theirs));
}

#[test]
fn copy_carries_the_signature_to_another_registry() {
    let w = World::new();
    let two = Registry::start(None);
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let source = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &source]);
    w.ok(&["sign", &source, "--key", key]);
    let (_, hex) = w.manifest_of(&source);
    let target = format!("{}/mirror/m:1", two.addr);
    let copied = w.run(&["copy", &source, &target], &[&two.addr]);
    assert!(
        copied.contains("\n  10 blobs: 10 copied (7.0 KiB), 0 already there, 0 mounted; 2 manifests, 1 referrer; tag 1\n"),
        "{copied}"
    );
    // The target registry has no referrers API either: the copy lists it under the tag.
    let index =
        modeloci_tests::registry::skopeo_raw(&format!("{}/mirror/m:sha256-{hex}", two.addr));
    assert_eq!(OciIndex::from_slice(&index).unwrap().manifests.len(), 1);
    let out = w.run(&["verify", &target, "--key", public], &[&two.addr]);
    assert!(
        out.starts_with(&format!(
            "exit: 0\n--- stdout\nVerified [PROXY1]/mirror/m:1@sha256:{hex}\n"
        )),
        "{out}"
    );
    w.ok(&["pull", &target, "--key", public, "--unpack", "d"]);
    let refused = w.run(
        &["verify", &target, "--key", w.other_public.to_str().unwrap()],
        &[&two.addr],
    );
    assert!(refused.starts_with("exit: 1\n"), "{refused}");
}

#[test]
fn a_signature_listed_without_its_artifact_type_is_found_by_every_command() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let reference = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &reference]);
    w.ok(&["sign", &reference, "--key", key]);
    let (_, hex) = w.manifest_of(&reference);
    let tag = format!("sha256-{hex}");
    let index =
        modeloci_tests::registry::skopeo_raw(&format!("{}/models/m:{tag}", w.registry.addr));
    let mut index = OciIndex::from_slice(&index).unwrap();
    // As a writer that leaves the listing's artifactType out writes it.
    index.manifests[0].artifact_type = None;
    w.client()
        .put_manifest("models/m", &tag, &MediaType::ImageIndex, &index.to_json())
        .unwrap();
    w.ok(&["pull", &reference, "--output", "p.tar"]);
    w.ok(&["verify", "p.tar", "--key", public]);
    w.ok(&["verify", &reference, "--key", public]);
    w.ok(&["pull", &reference, "--key", public, "--unpack", "d"]);
}

#[test]
fn inspect_ref_lists_the_signatures_and_checks_them_against_the_keys() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let reference = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &reference]);
    let unsigned = w.run(&["inspect", &reference, "--key", public], &[]);
    assert!(
        unsigned.starts_with("exit: 1\n")
            && unsigned.ends_with("\nSignatures:    none\n--- stderr\n"),
        "{unsigned}"
    );
    let plain = w.ok(&["inspect", &reference]);
    assert!(!plain.contains("Signatures"), "{plain}");

    w.ok(&["sign", &reference, "--key", key]);
    let (manifest, hex) = w.manifest_of(&reference);
    let index =
        modeloci_tests::registry::skopeo_raw(&format!("{}/models/m:sha256-{hex}", w.registry.addr));
    let referrer = OciIndex::from_slice(&index).unwrap().manifests[0]
        .digest
        .clone();
    let hint = key_hint(&w.public);
    let proxy = Proxy::start(&w.registry.addr, Behaviour::default());
    let via = reference.replace(&w.registry.addr, &proxy.addr);
    let line = |verdict: &str| {
        format!(
            "\nSignatures (1):\n  {verdict}  {referrer}  key {}, 7 files",
            &hint[..16]
        )
    };
    let listed = w.run(&["inspect", &via], &[&proxy.addr]);
    assert!(listed.starts_with("exit: 0\n"), "{listed}");
    assert!(
        listed.ends_with(&format!("{}\n--- stderr\n", line("    "))),
        "{listed}"
    );
    let checked = w.run(&["inspect", &via, "--key", public], &[&proxy.addr]);
    assert!(checked.starts_with("exit: 0\n"), "{checked}");
    assert!(
        checked.ends_with(&format!("{}\n--- stderr\n", line("OK  "))),
        "{checked}"
    );
    let other = w.run(
        &["inspect", &via, "--key", w.other_public.to_str().unwrap()],
        &[&proxy.addr],
    );
    assert!(other.starts_with("exit: 1\n"), "{other}");
    assert!(
        other.contains(&format!(
            "{}: the signature was signed by another key: ",
            line("FAIL")
        )),
        "{other}"
    );
    let doc = crate::transcript_json(&w.run(
        &["--json", "inspect", &via, "--key", public],
        &[&proxy.addr],
    ));
    assert_eq!(doc["signatures"][0]["status"], "verified", "{doc}");
    assert_eq!(doc["signatures"][0]["keyHint"], hint.as_str(), "{doc}");
    assert_eq!(doc["signatures"][0]["referrer"], referrer.as_str(), "{doc}");
    no_model_blob_fetched_but_config(&proxy, &manifest);
}

/// Requires that no layer of `manifest` was fetched (inspect reads the config).
fn no_model_blob_fetched_but_config(proxy: &Proxy, manifest: &OciManifest) {
    let gets = blob_gets(proxy);
    for d in &manifest.layers {
        assert!(
            !gets.iter().any(|g| g.contains(d.digest.as_str())),
            "{} was downloaded: {gets:?}",
            d.digest
        );
    }
}

/// `skopeo delete` of `docker://<reference>`.
fn skopeo_delete(reference: &str) {
    let out = Process::new("skopeo")
        .args(["delete", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is installed by `cargo xtask ci`");
    assert!(
        out.status.success(),
        "{reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_deleted_signature_still_listed_under_the_tag_is_skipped_and_signing_again_restores_it() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let reference = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &reference]);
    w.ok(&["sign", &reference, "--key", key]);
    // Signing twice with the same key gives the same referrer: listed once.
    w.ok(&["sign", &reference, "--key", key]);
    let (_, hex) = w.manifest_of(&reference);
    let tag = format!("{}/models/m:sha256-{hex}", w.registry.addr);
    let index = OciIndex::from_slice(&modeloci_tests::registry::skopeo_raw(&tag)).unwrap();
    assert_eq!(index.manifests.len(), 1);
    let referrer = &index.manifests[0].digest;
    // Deleted by a tool that leaves the tag schema's index as it was.
    skopeo_delete(&format!("{}/models/m@{referrer}", w.registry.addr));
    assert_eq!(
        OciIndex::from_slice(&modeloci_tests::registry::skopeo_raw(&tag)).unwrap(),
        index
    );

    let unsigned = "exit: 1\n--- stdout\n--- stderr\nerror: the model is not signed: no signature is stored beside it\nhint: sign it with `modeloci sign ... --key KEY.pem`, or attach a model_signing signature with --signature\n";
    assert_eq!(
        w.run(&["verify", &reference, "--key", public], &[]),
        unsigned
    );
    assert_eq!(
        w.run(&["pull", &reference, "--key", public, "--unpack", "d"], &[]),
        unsigned
    );
    assert!(!w.tmp().join("d").exists());
    // Without --key the model still comes down, without the signature that is gone.
    w.ok(&["pull", &reference, "--output", "p.tar"]);
    let inspected = w.ok(&["inspect", "p.tar"]);
    assert!(!inspected.contains("Signatures"), "{inspected}");
    let remote = w.ok(&["inspect", &reference]);
    assert!(!remote.contains("Signatures"), "{remote}");

    w.ok(&["sign", &reference, "--key", key]);
    assert_eq!(
        OciIndex::from_slice(&modeloci_tests::registry::skopeo_raw(&tag)).unwrap(),
        index
    );
    w.ok(&["verify", &reference, "--key", public]);
}

#[test]
fn a_referrer_of_another_manifest_listed_under_the_tag_is_refused() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("a.tar", &[]));
    let a = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "a.tar", &a]);
    std::fs::write(w.tmp().join("model/README.md"), "B\n").unwrap();
    w.ok(&pack_args("b.tar", &["--tag", "2"]));
    let b = format!("{}/models/m:2", w.registry.addr);
    w.ok(&["push", "--archive", "b.tar", &b]);
    w.ok(&["sign", &b, "--key", key]);
    let (_, a_hex) = w.manifest_of(&a);
    let (_, b_hex) = w.manifest_of(&b);
    // B's signature index, put under A's tag.
    let listing = modeloci_tests::registry::skopeo_raw(&format!(
        "{}/models/m:sha256-{b_hex}",
        w.registry.addr
    ));
    let referrer = OciIndex::from_slice(&listing).unwrap().manifests[0]
        .digest
        .clone();
    w.client()
        .put_manifest(
            "models/m",
            &format!("sha256-{a_hex}"),
            &MediaType::ImageIndex,
            &listing,
        )
        .unwrap();
    let refused = format!(
        "exit: 2\n--- stdout\n--- stderr\nerror: [REGISTRY]: it lists {referrer} among the referrers of sha256:{a_hex}, but that manifest's subject is sha256:{b_hex}\n"
    );
    assert_eq!(w.run(&["verify", &a, "--key", public], &[]), refused);
    std::fs::create_dir(w.tmp().join("out")).unwrap();
    std::fs::write(w.tmp().join("out/keep"), "").unwrap();
    for target in ["--unpack", "--output"] {
        let out = w.run(&["pull", &a, "--key", public, target, "out/t"], &[]);
        assert_eq!(out, refused, "{target}");
        modeloci_tests::only_entry(&w.tmp().join("out"), "keep");
    }
}

/// The archive `signed` with the layer titled `title` swapped for one holding `data`, its
/// annotations (the recorded file digest among them) kept: a manifest that lies about a file.
fn with_a_lying_layer(signed: &Path, title: &str, data: &[u8]) -> Vec<u8> {
    use modeloci_tests::layout::{Artifact, Layer, one_file_layer};
    let archive = modeloci_archive::Archive::open(signed).unwrap();
    let manifest = archive.manifest();
    let layers = manifest
        .layers
        .iter()
        .map(|d| {
            let blob = if d.title() == Some(title) {
                one_file_layer(title, data).blob
            } else {
                archive.read_blob(d, 1 << 20).unwrap()
            };
            let mut layer = Layer::new(d.media_type.clone(), blob);
            layer.annotations = d.annotations.clone();
            layer
        })
        .collect();
    let mut artifact = Artifact::new(
        manifest.config.media_type.clone(),
        &archive.config_bytes().unwrap(),
        layers,
    );
    artifact.artifact_type = manifest.artifact_type.clone();
    artifact.to_tar()
}

#[test]
fn a_manifest_that_lies_about_a_file_passes_verify_ref_but_pull_key_reads_the_bytes() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    w.ok(&["sign", "m.tar", "--key", key]);
    let honest = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &honest]);
    w.ok(&[
        "pull",
        &honest,
        "--key",
        public,
        "--unpack",
        "d",
        "--signature-out",
        "s.sig",
    ]);
    // The same recorded digests over other bytes, with the honest signature attached.
    let lying = with_a_lying_layer(&w.tmp().join("m.tar"), "README.md", b"# evil\n");
    std::fs::write(w.tmp().join("evil.tar"), lying).unwrap();
    let evil = format!("{}/models/m:evil", w.registry.addr);
    w.ok(&["push", "--archive", "evil.tar", &evil]);
    w.ok(&["sign", &evil, "--signature", "s.sig"]);
    // verify REF trusts the manifest's recorded digests, as documented.
    w.ok(&["verify", &evil, "--key", public]);
    std::fs::create_dir(w.tmp().join("out")).unwrap();
    std::fs::write(w.tmp().join("out/keep"), "").unwrap();
    // pull --key hashes the bytes: refused, and nothing is left, staging included.
    // Both ways, the signing error itself, with its hint.
    let differ = "the model's files differ from the signed ones: 1 changed (README.md)\n\
                  hint: the files are not those that were signed: fetch the model again, or sign it anew\n";
    for target in ["--unpack", "--output"] {
        let out = w.run(&["pull", &evil, "--key", public, target, "out/t"], &[]);
        assert_eq!(
            out,
            format!("exit: 1\n--- stdout\n--- stderr\nerror: {differ}"),
            "{target}"
        );
        modeloci_tests::only_entry(&w.tmp().join("out"), "keep");
    }
}

#[test]
fn a_signature_larger_than_a_bundle_may_be_is_refused_before_it_is_read() {
    let w = World::new();
    let public = w.public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    let reference = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &reference]);
    let huge = vec![b' '; (32 << 20) + 1];
    let big = modeloci_sign::referrer_manifest(
        &Descriptor::new(
            MediaType::ImageManifest,
            modeloci_spec::Digest::from_sha256_bytes(&[0; 32]),
            1,
        ),
        &huge,
    );
    let big_layer = big.blobs[1].0.digest.clone();
    let proxy = Proxy::start(&w.registry.addr, Behaviour::default());
    let via = reference.replace(&w.registry.addr, &proxy.addr);
    std::fs::create_dir(w.tmp().join("out")).unwrap();
    std::fs::write(w.tmp().join("out/keep"), "").unwrap();
    let (manifest, _) = w.manifest_of(&reference);
    let (referrer, _) = attach_by_hand(&w, "models/m", "1", &huge);
    let refused = |limit: u64| {
        format!(
            "exit: 2\n--- stdout\n--- stderr\nerror: blob {big_layer} of referrer {} from [PROXY1] is 33554433 bytes, over the {limit}-byte limit\n",
            referrer.digest
        )
    };
    for (args, limit) in [
        (vec!["verify", via.as_str(), "--key", public], 32 << 20),
        (
            vec!["pull", via.as_str(), "--key", public, "--unpack", "out/t"],
            32 << 20,
        ),
        // A pull brings signatures of at most 32 MiB too, before any layer.
        (vec!["pull", via.as_str(), "--output", "out/t"], 32 << 20),
    ] {
        assert_eq!(w.run(&args, &[&proxy.addr]), refused(limit), "{args:?}");
        modeloci_tests::only_entry(&w.tmp().join("out"), "keep");
    }
    let gets = blob_gets(&proxy);
    assert!(
        !gets.iter().any(|g| g.contains(big_layer.as_str())),
        "{gets:?}"
    );
    no_model_blob_fetched(&proxy, &manifest);
}

#[test]
fn pull_key_says_which_key_verified_and_signing_by_digest_or_an_index_is_as_asked() {
    let w = World::new();
    let key = w.key.to_str().unwrap();
    let public = w.public.to_str().unwrap();
    let other = w.other_public.to_str().unwrap();
    w.ok(&pack_args("m.tar", &[]));
    w.ok(&["sign", "m.tar", "--key", key]);
    let reference = format!("{}/models/m:1", w.registry.addr);
    w.ok(&["push", "--archive", "m.tar", &reference]);
    // Pushing the signed archive again lists its signature once.
    let again = w.ok(&["push", "--archive", "m.tar", &reference]);
    assert!(again.contains("\n  1 signature attached"), "{again}");
    let (_, hex) = w.manifest_of(&reference);
    let tag = format!("{}/models/m:sha256-{hex}", w.registry.addr);
    assert_eq!(
        OciIndex::from_slice(&modeloci_tests::registry::skopeo_raw(&tag))
            .unwrap()
            .manifests
            .len(),
        1
    );

    let hint = key_hint(&w.public);
    let pulled = w.ok(&[
        "pull", &reference, "--key", other, "--key", public, "--unpack", "d",
    ]);
    assert!(
        pulled.ends_with(&format!(
            "\nOK    signature  signed by P-256 key {}; 7 files match the files written\n--- stderr\n",
            &hint[..16]
        )),
        "{pulled}"
    );
    let doc = crate::transcript_json(&w.ok(&[
        "--json", "pull", &reference, "--key", public, "--output", "p.tar",
    ]));
    assert_eq!(doc["signature"]["keyHint"], hint.as_str(), "{doc}");
    assert_eq!(doc["signature"]["files"], 7, "{doc}");
    let plain = crate::transcript_json(&w.ok(&["--json", "pull", &reference, "--output", "q.tar"]));
    assert!(plain.get("signature").is_none(), "{plain}");
    // With --include, the files written must each be signed, with their signed digests.
    let some = w.ok(&[
        "pull",
        &reference,
        "--key",
        public,
        "--unpack",
        "t",
        "--include",
        "tokenizer*",
    ]);
    assert!(some.contains(" -> 2 files into t\n"), "{some}");

    let by_digest = format!("{}/models/m@sha256:{hex}", w.registry.addr);
    let signed = w.ok(&["sign", &by_digest, "--key", w.other.to_str().unwrap()]);
    assert!(
        signed.starts_with(&format!(
            "exit: 0\n--- stdout\nSigned [REGISTRY]/models/m@sha256:{hex}: 7 files, by P-256 key "
        )),
        "{signed}"
    );
    w.ok(&["verify", &by_digest, "--key", other]);
    assert_eq!(
        OciIndex::from_slice(&modeloci_tests::registry::skopeo_raw(&tag))
            .unwrap()
            .manifests
            .len(),
        2
    );
    let index = w.run(&["sign", &tag, "--key", key], &[]);
    assert!(
        index.starts_with(&format!(
            "exit: 2\n--- stdout\n--- stderr\nerror: [REGISTRY]/models/m:sha256-{hex}@sha256:"
        )) && index.ends_with(" is an image index; name one of its manifests by digest\n"),
        "{index}"
    );
    let inspected = w.run(&["inspect", &tag, "--key", public], &[]);
    assert_eq!(
        inspected,
        format!(
            "exit: 2\n--- stdout\n--- stderr\nerror: [REGISTRY]/models/m:sha256-{hex} is an image index; name one of its manifests by digest to check its signatures\n"
        )
    );
}
