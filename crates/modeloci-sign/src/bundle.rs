//! The signature file: a Sigstore bundle v0.3 holding a DSSE envelope whose payload is the
//! statement, written and read exactly as `model_signing` 1.1.1 does.

use std::io::Read;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::{Deserialize, Serialize};

use crate::json::Obj;
use crate::{Error, PrivateKey, PublicKey, Result, Statement};

/// The bundle's `mediaType`, the only one `model_signing` verifies.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The largest bundle read: far above any model's (a bundle lists one line per file, about
/// 150 bytes each), far below what would strain memory. Larger ones are refused unread.
pub const MAX_BUNDLE_SIZE: u64 = 32 << 20;

/// Standard base64, padding optional, as the Python reader accepts.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The DSSE pre-authentication encoding of an in-toto payload: what the signature signs.
pub fn pae(payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {PAYLOAD_TYPE} {} ",
        PAYLOAD_TYPE.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Signs `statement` with `key`: the bundle's bytes, compact JSON, exactly the fields
/// `model_signing` writes. Deterministic: the same statement and key give the same bytes.
pub fn sign(statement: &Statement, key: &PrivateKey) -> Vec<u8> {
    let payload = statement.to_payload();
    let sig = key.sign_der(&pae(&payload));
    let bundle = BundleOut {
        media_type: BUNDLE_MEDIA_TYPE,
        verification_material: MaterialOut {
            public_key: HintOut {
                hint: key.public_key().hint(),
            },
            tlog_entries: [],
        },
        dsse_envelope: EnvelopeOut {
            payload: STANDARD.encode(&payload),
            payload_type: PAYLOAD_TYPE,
            signatures: [SignatureOut {
                sig: STANDARD.encode(sig),
                keyid: "",
            }],
        },
    };
    serde_json::to_vec(&bundle).expect("bundle types always serialize")
}

/// A parsed and checked signature bundle. Parsing checks the form and the statement (its
/// root digest included); [`Bundle::verify`] checks the signature.
#[derive(Clone)]
pub struct Bundle {
    bytes: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
    hint: Option<String>,
    statement: Statement,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("size", &self.bytes.len())
            .field("hint", &self.hint)
            .field("root", self.statement.root())
            .field("files", &self.statement.resources().len())
            .finish_non_exhaustive()
    }
}

impl Bundle {
    /// Parses a bundle of at most [`MAX_BUNDLE_SIZE`] bytes (see [`Bundle::parse_reader`]).
    ///
    /// # Errors
    ///
    /// [`Error::BundleTooLarge`] (before parsing), [`Error::InvalidBundle`], and the
    /// statement's errors ([`Statement::from_payload`]).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() as u64 > MAX_BUNDLE_SIZE {
            return Err(Error::BundleTooLarge {
                limit: MAX_BUNDLE_SIZE,
            });
        }
        Self::parse_owned(bytes.to_vec())
    }

    /// Reads at most `limit + 1` bytes of `reader` and parses them as a bundle; more than
    /// `limit` is refused before parsing. `limit` is capped at [`MAX_BUNDLE_SIZE`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when reading fails, then as [`Bundle::parse`].
    pub fn parse_reader(reader: impl Read, limit: u64) -> Result<Self> {
        let limit = limit.min(MAX_BUNDLE_SIZE);
        let mut bytes = Vec::new();
        reader
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Io {
                path: "signature bundle".into(),
                source,
            })?;
        if bytes.len() as u64 > limit {
            return Err(Error::BundleTooLarge { limit });
        }
        Self::parse_owned(bytes)
    }

    fn parse_owned(bytes: Vec<u8>) -> Result<Self> {
        // serde_json refuses nesting deeper than 128 levels, so hostile depth is bounded.
        let Obj(json): Obj<BundleIn> =
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{e}")))?;
        if json.media_type != BUNDLE_MEDIA_TYPE {
            return Err(invalid(format!(
                "mediaType is {:?}, not {BUNDLE_MEDIA_TYPE}",
                json.media_type
            )));
        }
        let hint = check_material(json.verification_material.0)?;
        let Obj(envelope) = json.dsse_envelope.ok_or_else(|| {
            invalid("no dsseEnvelope (a message signature is not a model signature)".into())
        })?;
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(invalid(format!(
                "payloadType is {:?}, not {PAYLOAD_TYPE}",
                envelope.payload_type
            )));
        }
        let Obj(first) = envelope
            .signatures
            .into_iter()
            .next()
            .ok_or_else(|| invalid("no signature in the envelope".into()))?;
        let signature = LENIENT
            .decode(first.sig)
            .map_err(|e| invalid(format!("the signature is not base64: {e}")))?;
        let payload = LENIENT
            .decode(envelope.payload)
            .map_err(|e| invalid(format!("the payload is not base64: {e}")))?;
        let statement = Statement::from_payload(&payload)?;
        Ok(Self {
            bytes,
            payload,
            signature,
            hint,
            statement,
        })
    }

    /// The signed statement (checked, but trusted only once [`Bundle::verify`] succeeded).
    pub fn statement(&self) -> &Statement {
        &self.statement
    }

    /// The bundle's bytes, as read.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The statement's bytes, as signed.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The key hint the signer wrote (see [`PublicKey::hint`]), when there is one.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Verifies the first signature, as `model_signing` does, with each key in turn whose
    /// hint matches the bundle's (every key when the bundle has no hint). Returns the index
    /// of the key that verified.
    ///
    /// # Errors
    ///
    /// [`Error::NoKeys`]; [`Error::SignedByAnotherKey`] when no key has the bundle's hint;
    /// [`Error::SignatureNotDer`] or [`Error::BadSignature`] when the keys tried do not
    /// verify it.
    pub fn verify(&self, keys: &[PublicKey]) -> Result<usize> {
        if keys.is_empty() {
            return Err(Error::NoKeys);
        }
        let message = pae(&self.payload);
        let mut tried = 0;
        let mut last = None;
        for (i, key) in keys.iter().enumerate() {
            if self.hint.as_ref().is_some_and(|h| *h != key.hint()) {
                continue;
            }
            tried += 1;
            match key.verify_der(&message, &self.signature) {
                Ok(()) => return Ok(i),
                Err(e) => last = Some(e),
            }
        }
        match last {
            None => Err(Error::SignedByAnotherKey {
                hint: self.hint.clone().unwrap_or_default(),
                key_hints: keys.iter().map(PublicKey::hint).collect(),
            }),
            Some(Error::BadSignature { .. }) => Err(Error::BadSignature { keys: tried }),
            Some(e) => Err(e),
        }
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidBundle { reason }
}

/// The key hint of a public-key bundle; certificate bundles are refused.
fn check_material(material: MaterialIn) -> Result<Option<String>> {
    if material.x509_certificate_chain.is_some() || material.certificate.is_some() {
        return Err(invalid(
            "signed with a certificate; only public-key signatures are supported".into(),
        ));
    }
    let Obj(key) = material
        .public_key
        .ok_or_else(|| invalid("no publicKey in verificationMaterial".into()))?;
    let hint = key.hint.filter(|h| !h.is_empty());
    // A hint is the hex SHA-256 of a public key; anything else matches no key (and is shown
    // to people, cut to its first characters).
    if let Some(h) = &hint
        && !(h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err(invalid(format!(
            "the key hint {:?} is not the lowercase hex SHA-256 of a public key",
            h.chars().take(80).collect::<String>()
        )));
    }
    Ok(hint)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BundleOut {
    media_type: &'static str,
    verification_material: MaterialOut,
    dsse_envelope: EnvelopeOut,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MaterialOut {
    public_key: HintOut,
    tlog_entries: [(); 0],
}

#[derive(Serialize)]
struct HintOut {
    hint: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeOut {
    payload: String,
    payload_type: &'static str,
    signatures: [SignatureOut; 1],
}

#[derive(Serialize)]
struct SignatureOut {
    sig: String,
    keyid: &'static str,
}

/// The bundle as read: every level refuses unknown fields, as the Python models do.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BundleIn {
    media_type: String,
    verification_material: Obj<MaterialIn>,
    #[serde(default)]
    dsse_envelope: Option<Obj<EnvelopeIn>>,
    /// Present in message-signature bundles, which are refused by name.
    #[serde(default, rename = "messageSignature")]
    _message_signature: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MaterialIn {
    #[serde(default)]
    public_key: Option<Obj<PublicKeyIn>>,
    #[serde(default)]
    x509_certificate_chain: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    certificate: Option<serde::de::IgnoredAny>,
    /// Not written for key signatures, and not needed to verify one.
    #[serde(default, rename = "tlogEntries")]
    _tlog_entries: Option<Vec<serde::de::IgnoredAny>>,
}

/// `rawBytes` and `keyDetails` come from older `model_signing` bundles, which the Python
/// reader drops too.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PublicKeyIn {
    #[serde(default)]
    hint: Option<String>,
    #[serde(default, rename = "rawBytes")]
    _raw_bytes: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "keyDetails")]
    _key_details: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnvelopeIn {
    payload: String,
    payload_type: String,
    signatures: Vec<Obj<SignatureIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureIn {
    sig: String,
    #[serde(default, rename = "keyid")]
    _keyid: Option<serde::de::IgnoredAny>,
}
