//! ECDSA keys on P-256 and P-384, read from PEM: the curves and formats `model_signing`
//! signs with. All the ASN.1 and the curve arithmetic are RustCrypto's.

use std::fmt;

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{
    AssociatedOid, DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _, LineEnding,
    ObjectIdentifier, PrivateKeyInfoRef, SubjectPublicKeyInfoRef, der::pem,
};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// `id-ecPublicKey`, the algorithm of EC keys in PKCS#8 and SPKI.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// A private ECDSA signing key. Its `Debug` shows the curve only.
#[derive(Clone)]
pub struct PrivateKey(Signing);

#[derive(Clone)]
enum Signing {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

/// A public ECDSA key, to verify signatures with.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(Verifying);

#[derive(Clone, PartialEq, Eq)]
enum Verifying {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.public_key().curve())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, hint {})", self.curve(), self.hint())
    }
}

impl PrivateKey {
    /// Reads a private key from PEM: SEC1 (`EC PRIVATE KEY`), PKCS#8 (`PRIVATE KEY`) or
    /// encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, PBES2, decrypted with `password`), on
    /// P-256 or P-384.
    ///
    /// # Errors
    ///
    /// [`Error::LegacyEncryptedKey`] for OpenSSL's `Proc-Type: 4,ENCRYPTED` form,
    /// [`Error::PasswordNeeded`], [`Error::WrongPassword`], [`Error::UnsupportedKey`] for
    /// another curve or kind of key, [`Error::KeyNotPem`], [`Error::WrongPemLabel`].
    pub fn from_pem(pem: &[u8], password: Option<&[u8]>) -> Result<Self> {
        if is_legacy_encrypted(pem) {
            return Err(Error::LegacyEncryptedKey);
        }
        let (label, der) = decode_pem(pem)?;
        match label.as_str() {
            "EC PRIVATE KEY" => from_sec1(&der),
            "PRIVATE KEY" => from_pkcs8(&der),
            "ENCRYPTED PRIVATE KEY" => {
                let password = password.ok_or(Error::PasswordNeeded)?;
                let info = p256::pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
                    .map_err(|e| unsupported(format!("a damaged encrypted key ({e})")))?;
                let doc = info.decrypt(password).map_err(|_| Error::WrongPassword)?;
                from_pkcs8(doc.as_bytes())
            }
            _ => Err(Error::WrongPemLabel {
                label,
                expected: "private key",
            }),
        }
    }

    /// Whether `pem` is an encrypted PKCS#8 private key, so that a caller knows to ask for a
    /// password before [`PrivateKey::from_pem`]. OpenSSL's legacy encrypted form is not one:
    /// it is refused whatever the password, so asking for one would be in vain.
    pub fn is_encrypted_pem(pem: &[u8]) -> bool {
        !is_legacy_encrypted(pem)
            && find_pem(pem)
                .and_then(|p| pem::decode_label(p).ok())
                .is_some_and(|label| label == "ENCRYPTED PRIVATE KEY")
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(match &self.0 {
            Signing::P256(k) => Verifying::P256(*k.verifying_key()),
            Signing::P384(k) => Verifying::P384(*k.verifying_key()),
        })
    }

    /// The DER ECDSA signature of `message`, hashed with SHA-256 on P-256 and SHA-384 on
    /// P-384. Deterministic (RFC 6979): the same key and message give the same bytes.
    pub(crate) fn sign_der(&self, message: &[u8]) -> Vec<u8> {
        match &self.0 {
            Signing::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            Signing::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

/// The most a key file may be: PEM keys are a few hundred bytes.
pub const MAX_KEY_FILE: u64 = 64 << 10;

impl PublicKey {
    /// Reads a public key from a PEM file (see [`PublicKey::from_pem`]), at most
    /// [`MAX_KEY_FILE`] bytes of it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read, [`Error::KeyNotPem`] when it is larger, and those
    /// of [`PublicKey::from_pem`].
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        use std::io::Read as _;
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let mut pem = Vec::new();
        std::fs::File::open(path)
            .map_err(io)?
            .take(MAX_KEY_FILE + 1)
            .read_to_end(&mut pem)
            .map_err(io)?;
        if pem.len() as u64 > MAX_KEY_FILE {
            return Err(Error::KeyNotPem {
                reason: format!("{} is larger than {MAX_KEY_FILE} bytes", path.display()),
            });
        }
        Self::from_pem(&pem)
    }

    /// Reads a public key from SPKI PEM (`PUBLIC KEY`), as `openssl ec -pubout` writes it,
    /// on P-256 or P-384. Text before the PEM section (as `certtool` writes) is skipped.
    ///
    /// # Errors
    ///
    /// [`Error::PrivateKeyNotPublic`] for a private key, [`Error::UnsupportedKey`],
    /// [`Error::KeyNotPem`], [`Error::WrongPemLabel`].
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let (label, der) = decode_pem(pem)?;
        match label.as_str() {
            "PUBLIC KEY" => {}
            "EC PRIVATE KEY" | "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
                return Err(Error::PrivateKeyNotPublic);
            }
            _ => {
                return Err(Error::WrongPemLabel {
                    label,
                    expected: "public key",
                });
            }
        }
        let spki = SubjectPublicKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| unsupported(format!("a damaged public key ({e})")))?;
        let curve = ec_curve(spki.algorithm.oid, spki.algorithm.parameters_oid().ok())?;
        let damaged =
            |e: p256::pkcs8::spki::Error| unsupported(format!("a damaged {curve} key ({e})"));
        Ok(Self(if curve == Curve::P256 {
            Verifying::P256(p256::ecdsa::VerifyingKey::from_public_key_der(&der).map_err(damaged)?)
        } else {
            Verifying::P384(p384::ecdsa::VerifyingKey::from_public_key_der(&der).map_err(damaged)?)
        }))
    }

    /// The key's curve, for messages: `P-256` or `P-384`.
    pub fn curve(&self) -> &'static str {
        match self.0 {
            Verifying::P256(_) => "P-256",
            Verifying::P384(_) => "P-384",
        }
    }

    /// The key hint `model_signing` writes into a bundle: the lowercase hex SHA-256 of the
    /// key's canonical SPKI PEM (uncompressed point, 64-character lines, `\n` endings).
    pub fn hint(&self) -> String {
        hex::encode(Sha256::digest(self.to_pem().as_bytes()))
    }

    /// The canonical SPKI PEM of the key, as `openssl ec -pubout` writes it.
    pub fn to_pem(&self) -> String {
        match &self.0 {
            Verifying::P256(k) => k.to_public_key_pem(LineEnding::LF),
            Verifying::P384(k) => k.to_public_key_pem(LineEnding::LF),
        }
        .expect("an EC public key always encodes")
    }

    /// Verifies the DER ECDSA signature `sig` of `message`.
    ///
    /// # Errors
    ///
    /// [`Error::SignatureNotDer`] when `sig` is not DER for this curve,
    /// [`Error::BadSignature`] when it does not verify.
    pub(crate) fn verify_der(&self, message: &[u8], sig: &[u8]) -> Result<()> {
        let not_der = Error::SignatureNotDer {
            curve: self.curve(),
        };
        let ok = match &self.0 {
            Verifying::P256(k) => {
                let sig = p256::ecdsa::Signature::from_der(sig).map_err(|_| not_der)?;
                k.verify(message, &sig).is_ok()
            }
            Verifying::P384(k) => {
                let sig = p384::ecdsa::Signature::from_der(sig).map_err(|_| not_der)?;
                k.verify(message, &sig).is_ok()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::BadSignature { keys: 1 })
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Curve {
    P256,
    P384,
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
        })
    }
}

/// The curve of an EC key from its PKCS#8/SPKI algorithm identifier.
fn ec_curve(algorithm: ObjectIdentifier, curve: Option<ObjectIdentifier>) -> Result<Curve> {
    if algorithm != EC_PUBLIC_KEY {
        return Err(unsupported(format!(
            "a key of algorithm {algorithm}, not EC"
        )));
    }
    match curve {
        Some(oid) if oid == p256::NistP256::OID => Ok(Curve::P256),
        Some(oid) if oid == p384::NistP384::OID => Ok(Curve::P384),
        Some(oid) => Err(unsupported(format!("an EC key on the curve {oid}"))),
        None => Err(unsupported("an EC key without a named curve".into())),
    }
}

fn from_pkcs8(der: &[u8]) -> Result<PrivateKey> {
    let info = PrivateKeyInfoRef::try_from(der)
        .map_err(|e| unsupported(format!("a damaged PKCS#8 key ({e})")))?;
    let curve = ec_curve(info.algorithm.oid, info.algorithm.parameters_oid().ok())?;
    let damaged = |e: p256::pkcs8::Error| unsupported(format!("a damaged {curve} key ({e})"));
    Ok(PrivateKey(if curve == Curve::P256 {
        Signing::P256(p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(damaged)?)
    } else {
        Signing::P384(p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(damaged)?)
    }))
}

/// A SEC1 key names its curve inside; the key is tried on each curve supported.
fn from_sec1(der: &[u8]) -> Result<PrivateKey> {
    if let Ok(key) = p256::SecretKey::from_sec1_der(der) {
        return Ok(PrivateKey(Signing::P256(key.into())));
    }
    if let Ok(key) = p384::SecretKey::from_sec1_der(der) {
        return Ok(PrivateKey(Signing::P384(key.into())));
    }
    Err(unsupported(
        "an EC private key on neither P-256 nor P-384, or a damaged one".into(),
    ))
}

fn unsupported(what: String) -> Error {
    Error::UnsupportedKey { what }
}

fn is_legacy_encrypted(pem: &[u8]) -> bool {
    pem.windows(b"Proc-Type: 4,ENCRYPTED".len())
        .any(|w| w == b"Proc-Type: 4,ENCRYPTED")
}

/// The five dashes of PEM armor lines (kept apart from the words so that no literal here
/// looks like a command-line flag).
const DASHES: &[u8] = b"-----";

/// Where the first armor line `-----<word>` starts.
fn find_armor(text: &[u8], word: &[u8]) -> Option<usize> {
    (0..text.len())
        .find(|&i| text[i..].starts_with(DASHES) && text[i + DASHES.len()..].starts_with(word))
}

/// The text from the first PEM begin line on.
fn find_pem(pem: &[u8]) -> Option<&[u8]> {
    Some(&pem[find_armor(pem, b"BEGIN ")?..])
}

/// The label and DER of the first PEM section; text before it is skipped, and so is text
/// after its end line.
fn decode_pem(pem: &[u8]) -> Result<(String, Vec<u8>)> {
    let not_pem = |reason: String| Error::KeyNotPem { reason };
    let section = find_pem(pem).ok_or_else(|| not_pem("no PEM BEGIN line".into()))?;
    let section = match find_armor(section, b"END ") {
        Some(end) => {
            let rest = &section[end..];
            let line_end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            &section[..end + line_end]
        }
        None => section,
    };
    // The decoder's messages name the armor's fault, never the key's bytes.
    let (label, der) = pem::decode_vec(section).map_err(|e| not_pem(e.to_string()))?;
    Ok((label.to_owned(), der))
}
