//! The signed statement: an in-toto Statement v1 whose predicate lists every file of the
//! model with its SHA-256, and whose subject is the root digest over that list.

use modeloci_spec::{Algorithm, Digest};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::json::Obj;
use crate::{Error, Result};

/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of an OpenSSF model signature, as `model_signing` 1.x writes it.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The legacy predicate type of `model_signing` 0.2, refused.
pub const LEGACY_PREDICATE_TYPE: &str = "https://model_signing/Digests/v0.1";
/// The paths `model_signing` ignores by default, sorted: they are written into every
/// statement this crate makes.
pub const DEFAULT_IGNORE_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// One signed file: its path relative to the model root, `/`-separated, and the SHA-256 of
/// its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// The path, checked by [`check_name`].
    pub name: String,
    /// The SHA-256 digest of the file's content.
    pub digest: Digest,
}

/// What a model signature signs: the model's name, the root digest, and the files in
/// `model_signing`'s order (by path components).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    name: String,
    root: Digest,
    resources: Vec<Resource>,
    ignore_paths: Vec<String>,
}

impl Statement {
    /// The statement for a model's files, in any order: checks every name (see
    /// [`check_name`]) and that each is listed once, sorts them as `model_signing` does
    /// ([`sort_key`]) and computes the root digest. `model_name` is informational (the
    /// verifier never compares it). Files under [`DEFAULT_IGNORE_PATHS`] are left out, as
    /// `model_signing` leaves them out of a directory it signs or verifies.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] or [`Error::DuplicateName`]; [`Error::InvalidStatement`] for a
    /// digest that is not SHA-256.
    pub fn for_files(
        model_name: &str,
        files: impl IntoIterator<Item = (String, Digest)>,
    ) -> Result<Self> {
        let mut resources = Vec::new();
        for (name, digest) in files {
            if is_ignored(&name, DEFAULT_IGNORE_PATHS) {
                continue;
            }
            check_name(&name)?;
            check_sha256(&digest)?;
            resources.push(Resource { name, digest });
        }
        resources.sort_by(|a, b| sort_key(&a.name).cmp(&sort_key(&b.name)));
        check_unique(&resources)?;
        Ok(Self {
            name: model_name.to_owned(),
            root: root_digest(&resources),
            resources,
            ignore_paths: DEFAULT_IGNORE_PATHS.map(str::to_owned).to_vec(),
        })
    }

    /// The subject's name: the model's name as the signer gave it (untrusted, informational).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The root digest: SHA-256 over the raw digests of the resources, in their order.
    pub fn root(&self) -> &Digest {
        &self.root
    }

    /// The signed files, in the order listed.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The paths the signer ignored (the git defaults, and for signatures made by
    /// `model_signing`, whatever else it was told to ignore).
    pub fn ignore_paths(&self) -> &[String] {
        &self.ignore_paths
    }

    /// The files as `(name, digest)` pairs, in the order listed.
    pub fn files(&self) -> Vec<(String, Digest)> {
        self.resources
            .iter()
            .map(|r| (r.name.clone(), r.digest.clone()))
            .collect()
    }

    /// The statement's JSON, the DSSE payload: one fixed serialization (compact, keys
    /// sorted), so the same files always give the same bytes.
    pub fn to_payload(&self) -> Vec<u8> {
        let json = StatementOut {
            type_: STATEMENT_TYPE,
            predicate: PredicateOut {
                resources: self
                    .resources
                    .iter()
                    .map(|r| ResourceOut {
                        algorithm: "sha256",
                        digest: r.digest.hex(),
                        name: &r.name,
                    })
                    .collect(),
                serialization: SerializationOut {
                    allow_symlinks: false,
                    hash_type: "sha256",
                    ignore_paths: &self.ignore_paths,
                    method: "files",
                },
            },
            predicate_type: PREDICATE_TYPE,
            subject: [SubjectOut {
                digest: Sha256Out {
                    sha256: self.root.hex(),
                },
                name: &self.name,
            }],
        };
        serde_json::to_vec(&json).expect("statement types always serialize")
    }

    /// Parses and checks a statement (a DSSE payload): Statement v1, the v1.0 predicate, one
    /// subject, method `files`, SHA-256 everywhere, valid unique names, and a root digest
    /// that matches the resources in their listed order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStatement`], [`Error::LegacyStatement`], [`Error::InvalidName`],
    /// [`Error::DuplicateName`] or [`Error::RootMismatch`].
    pub fn from_payload(payload: &[u8]) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_slice(payload)
            .map_err(|e| invalid_statement(format!("not JSON: {e}")))?;
        check_types(&value)?;
        let Obj(json): Obj<StatementIn> = serde_json::from_value(value)
            .map_err(|e| invalid_statement(format!("not an OpenSSF model statement: {e}")))?;
        let [Obj(subject)] = <[Obj<SubjectIn>; 1]>::try_from(json.subject).map_err(|subjects| {
            invalid_statement(format!("{} subjects, not exactly one", subjects.len()))
        })?;
        let Obj(predicate) = json.predicate;
        let Obj(serialization) = predicate.serialization;
        check_serialization(&serialization)?;
        let resources = parse_resources(predicate.resources)?;
        let signed = parse_hex_digest(&subject.digest.0.sha256, "the subject's digest")?;
        let computed = root_digest(&resources);
        if signed != computed {
            return Err(Error::RootMismatch {
                signed: signed.hex().to_owned(),
                computed: computed.hex().to_owned(),
            });
        }
        Ok(Self {
            name: subject.name,
            root: computed,
            resources,
            ignore_paths: serialization.ignore_paths.unwrap_or_default(),
        })
    }
}

fn invalid_statement(reason: String) -> Error {
    Error::InvalidStatement { reason }
}

/// `_type` and `predicateType`, checked before the rest so that a legacy statement is named.
fn check_types(value: &serde_json::Value) -> Result<()> {
    let Some(object) = value.as_object() else {
        return Err(invalid_statement("not a JSON object".into()));
    };
    match object.get("predicateType").and_then(|t| t.as_str()) {
        Some(PREDICATE_TYPE) => {}
        Some(LEGACY_PREDICATE_TYPE) => return Err(Error::LegacyStatement),
        Some(other) => {
            return Err(invalid_statement(format!(
                "predicateType is {other:?}, not {PREDICATE_TYPE}"
            )));
        }
        None => return Err(invalid_statement("no predicateType string".into())),
    }
    match object.get("_type").and_then(|t| t.as_str()) {
        Some(STATEMENT_TYPE) => Ok(()),
        other => Err(invalid_statement(format!(
            "_type is {other:?}, not {STATEMENT_TYPE}"
        ))),
    }
}

fn check_serialization(s: &SerializationIn) -> Result<()> {
    if s.method != "files" {
        return Err(invalid_statement(format!(
            "serialization method {:?}; only \"files\" is supported",
            s.method
        )));
    }
    if s.hash_type != "sha256" {
        return Err(invalid_statement(format!(
            "hash type {:?}; only \"sha256\" is supported",
            s.hash_type
        )));
    }
    Ok(())
}

fn parse_resources(resources: Vec<Obj<ResourceIn>>) -> Result<Vec<Resource>> {
    let mut out = Vec::with_capacity(resources.len());
    for Obj(r) in resources {
        check_name(&r.name)?;
        if r.algorithm != "sha256" {
            return Err(invalid_statement(format!(
                "{:?} is hashed with {:?}; only \"sha256\" is supported",
                r.name, r.algorithm
            )));
        }
        let digest = parse_hex_digest(&r.digest, "a resource digest")?;
        out.push(Resource {
            name: r.name,
            digest,
        });
    }
    let mut sorted: Vec<&Resource> = out.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = sorted.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(Error::DuplicateName {
            name: pair[0].name.clone(),
        });
    }
    Ok(out)
}

fn parse_hex_digest(hex: &str, what: &str) -> Result<Digest> {
    let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !valid {
        return Err(invalid_statement(format!(
            "{what} is not 64 lowercase hexadecimal digits"
        )));
    }
    format!("sha256:{hex}")
        .parse()
        .map_err(|e| invalid_statement(format!("{what}: {e}")))
}

fn check_sha256(digest: &Digest) -> Result<()> {
    if digest.algorithm() == Algorithm::Sha256 {
        Ok(())
    } else {
        Err(invalid_statement(format!(
            "the digest {digest} is not SHA-256"
        )))
    }
}

fn check_unique(sorted: &[Resource]) -> Result<()> {
    match sorted.windows(2).find(|w| w[0].name == w[1].name) {
        Some(pair) => Err(Error::DuplicateName {
            name: pair[0].name.clone(),
        }),
        None => Ok(()),
    }
}

/// The order `model_signing` lists files in: Python's `PurePosixPath` order, comparing the
/// `/`-separated components one by one (so `a/b` sorts before `a-b`).
pub fn sort_key(name: &str) -> Vec<&str> {
    name.split('/').collect()
}

/// The root digest: SHA-256 over the concatenated raw 32-byte digests, in order.
pub fn root_digest(resources: &[Resource]) -> Digest {
    let mut hasher = Sha256::new();
    for r in resources {
        let mut raw = [0u8; 32];
        hex::decode_to_slice(r.digest.hex(), &mut raw).expect("a sha256 digest is 64 hex digits");
        hasher.update(raw);
    }
    Digest::from_sha256_bytes(&hasher.finalize().into())
}

/// Whether `name` is one of `ignore_paths` or below one (whole components: `a` ignores
/// `a/b`, not `ab`), as `model_signing` ignores paths.
pub(crate) fn is_ignored<'a>(name: &str, ignore_paths: impl IntoIterator<Item = &'a str>) -> bool {
    ignore_paths.into_iter().any(|ignored| {
        name.strip_prefix(ignored)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Checks a signed file name: a relative `/`-separated path of non-empty components, none
/// `.` or `..`, with no backslash and no control character (NUL included). `model_signing`
/// never writes another kind of name for a directory.
///
/// # Errors
///
/// [`Error::InvalidName`] saying why.
pub fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.starts_with('/') {
        Some("absolute")
    } else if name.ends_with('/') {
        Some("ends with '/'")
    } else if name.contains('\\') {
        Some("contains a backslash")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else if name.split('/').any(str::is_empty) {
        Some("has an empty component")
    } else if name.split('/').any(|c| c == "." || c == "..") {
        Some("has a '.' or '..' component")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[derive(Serialize)]
struct StatementOut<'a> {
    #[serde(rename = "_type")]
    type_: &'static str,
    predicate: PredicateOut<'a>,
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    subject: [SubjectOut<'a>; 1],
}

#[derive(Serialize)]
struct PredicateOut<'a> {
    resources: Vec<ResourceOut<'a>>,
    serialization: SerializationOut<'a>,
}

#[derive(Serialize)]
struct ResourceOut<'a> {
    algorithm: &'static str,
    digest: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct SerializationOut<'a> {
    allow_symlinks: bool,
    hash_type: &'static str,
    ignore_paths: &'a [String],
    method: &'static str,
}

#[derive(Serialize)]
struct SubjectOut<'a> {
    digest: Sha256Out<'a>,
    name: &'a str,
}

#[derive(Serialize)]
struct Sha256Out<'a> {
    sha256: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementIn {
    #[serde(rename = "_type")]
    _type: String,
    subject: Vec<Obj<SubjectIn>>,
    #[serde(rename = "predicateType")]
    _predicate_type: String,
    predicate: Obj<PredicateIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectIn {
    name: String,
    digest: Obj<Sha256In>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sha256In {
    sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredicateIn {
    serialization: Obj<SerializationIn>,
    resources: Vec<Obj<ResourceIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SerializationIn {
    method: String,
    hash_type: String,
    #[serde(rename = "allow_symlinks")]
    _allow_symlinks: bool,
    #[serde(default)]
    ignore_paths: Option<Vec<String>>,
    /// Only with method `shards`, which is refused by name.
    #[serde(default, rename = "shard_size")]
    _shard_size: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceIn {
    name: String,
    algorithm: String,
    digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(hex: &str) -> Digest {
        format!("sha256:{hex}").parse().unwrap()
    }

    /// The sample of the format notes: five files, their digests and the root.
    pub(crate) fn sample_files() -> Vec<(String, Digest)> {
        [
            (
                "weights.bin",
                "faa973de574a315e743173ee5ca8d24a785b15f0cffbaa7bee21240780f8ef51",
            ),
            (
                "sub/tok.txt",
                "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
            ),
            (
                "README.md",
                "c0cde77fa8fef97d476c10aad3d2d54fcc2f336140d073651c2dcccf1e379fd6",
            ),
            (
                "sub/deeper/empty",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                "config.json",
                "e346432021b04179518d9614f3560ccd71354a4ee101ddcb893d6959a9d6301c",
            ),
        ]
        .into_iter()
        .map(|(n, h)| (n.to_owned(), d(h)))
        .collect()
    }

    #[test]
    fn files_sort_by_path_components_as_purepath_does() {
        let names = ["é", "a0", "a.b/c", "a-b", "a/b", "_z", "B"];
        let digest = d(&"0".repeat(64));
        let s = Statement::for_files("m", names.map(|n| (n.to_owned(), digest.clone()))).unwrap();
        let sorted: Vec<&str> = s.resources().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(sorted, ["B", "_z", "a/b", "a-b", "a.b/c", "a0", "é"]);
    }

    #[test]
    fn the_root_of_the_sample_is_model_signings() {
        let s = Statement::for_files("model", sample_files()).unwrap();
        assert_eq!(
            s.root().hex(),
            "0418c171ec5f0a568d38a94d094de111efe528c5dbd5cf981a6f35c530bb8ed3"
        );
        let names: Vec<&str> = s.resources().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "README.md",
                "config.json",
                "sub/deeper/empty",
                "sub/tok.txt",
                "weights.bin"
            ]
        );
    }

    #[test]
    fn the_payload_is_fixed_and_reads_back() {
        let s = Statement::for_files("model", sample_files()).unwrap();
        let payload = s.to_payload();
        assert!(payload.starts_with(
            br#"{"_type":"https://in-toto.io/Statement/v1","predicate":{"resources":[{"algorithm":"sha256","digest":"c0cde77fa8fef97d476c10aad3d2d54fcc2f336140d073651c2dcccf1e379fd6","name":"README.md"}"#
        ));
        assert!(payload.ends_with(
            br#""serialization":{"allow_symlinks":false,"hash_type":"sha256","ignore_paths":[".git",".gitattributes",".github",".gitignore"],"method":"files"}},"predicateType":"https://model_signing/signature/v1.0","subject":[{"digest":{"sha256":"0418c171ec5f0a568d38a94d094de111efe528c5dbd5cf981a6f35c530bb8ed3"},"name":"model"}]}"#
        ));
        assert_eq!(Statement::from_payload(&payload).unwrap(), s);
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let cases = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("a/", "ends with '/'"),
            ("a\\b", "contains a backslash"),
            ("a\0b", "contains a control character"),
            ("a\nb", "contains a control character"),
            ("a//b", "has an empty component"),
            ("./a", "has a '.' or '..' component"),
            ("a/../b", "has a '.' or '..' component"),
            ("..", "has a '.' or '..' component"),
            (".", "has a '.' or '..' component"),
        ];
        for (name, want) in cases {
            match check_name(name) {
                Err(Error::InvalidName { reason, .. }) => assert_eq!(reason, want, "{name:?}"),
                other => panic!("{name:?}: {other:?}"),
            }
        }
        for ok in ["a", ".hidden", "a/b.c/..d", "é/x", "a b"] {
            check_name(ok).unwrap();
        }
    }

    #[test]
    fn duplicates_are_refused() {
        let digest = d(&"0".repeat(64));
        let err = Statement::for_files(
            "m",
            [("a".to_owned(), digest.clone()), ("a".to_owned(), digest)],
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "the file \"a\" is listed twice");
    }
}
