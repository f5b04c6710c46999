//! Content digests: <https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests>.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, clip};

/// A digest algorithm this crate can verify.
///
/// The OCI grammar allows any algorithm name; those other than the registered SHA-2 ones parse
/// into [`Error::UnsupportedAlgorithm`], since nothing downstream could check such a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-256, encoded as 64 lowercase hexadecimal characters. The only one modeloci writes.
    Sha256,
    /// SHA-512, encoded as 128 lowercase hexadecimal characters. Accepted when reading.
    Sha512,
}

impl Algorithm {
    /// The name used in digest strings and in `blobs/<name>/` paths.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// The length of the encoded (hexadecimal) part of a digest.
    pub const fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest such as `sha256:e3b0c442...b855`.
///
/// A `Digest` can only be built by parsing, or from the raw bytes of a hash, so it always holds
/// a supported algorithm and exactly the right number of lowercase hexadecimal characters. That
/// makes [`Digest::blob_path`] safe to join onto a directory even when the digest came from an
/// untrusted manifest.
///
/// ```
/// use modeloci_spec::{Algorithm, Digest};
///
/// let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
///     .parse()?;
/// assert_eq!(d.algorithm(), Algorithm::Sha256);
/// assert_eq!(d.blob_path(), "blobs/sha256/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// assert!("sha256:E3B0".parse::<Digest>().is_err());
/// # Ok::<(), modeloci_spec::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    /// The whole digest string, `algorithm:hex`.
    value: Box<str>,
}

impl Digest {
    /// Builds the digest of a SHA-256 hash from its 32 raw bytes.
    pub fn from_sha256_bytes(bytes: &[u8; 32]) -> Self {
        Self::from_raw(Algorithm::Sha256, bytes)
    }

    /// Builds the digest of a SHA-512 hash from its 64 raw bytes.
    pub fn from_sha512_bytes(bytes: &[u8; 64]) -> Self {
        Self::from_raw(Algorithm::Sha512, bytes)
    }

    fn from_raw(algorithm: Algorithm, bytes: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut value = String::with_capacity(algorithm.as_str().len() + 1 + bytes.len() * 2);
        value.push_str(algorithm.as_str());
        value.push(':');
        for b in bytes {
            value.push(char::from(HEX[usize::from(b >> 4)]));
            value.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Self {
            algorithm,
            value: value.into_boxed_str(),
        }
    }

    /// The hash algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded hash: lowercase hexadecimal, without the `algorithm:` prefix.
    pub fn hex(&self) -> &str {
        &self.value[self.algorithm.as_str().len() + 1..]
    }

    /// The whole digest string, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Where the blob lives in an OCI image layout: `blobs/<algorithm>/<hex>`.
    pub fn blob_path(&self) -> String {
        format!("blobs/{}/{}", self.algorithm, self.hex())
    }

    /// The first `n` hexadecimal characters, for compact human output.
    pub fn short_hex(&self, n: usize) -> &str {
        let hex = self.hex();
        &hex[..n.min(hex.len())]
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidDigest {
            input: clip(s),
            reason,
        };
        let (algorithm, encoded) = s.split_once(':').ok_or_else(|| invalid("missing ':'"))?;
        // algorithm ::= component (separator component)*; component ::= [a-z0-9]+
        let well_formed_algorithm = algorithm.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if !well_formed_algorithm {
            return Err(invalid(
                "the algorithm must match [a-z0-9]+([+._-][a-z0-9]+)*",
            ));
        }
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    algorithm: clip(other),
                });
            }
        };
        if encoded.len() != algorithm.hex_len() {
            return Err(invalid(match algorithm {
                Algorithm::Sha256 => "a sha256 digest has 64 hexadecimal characters",
                Algorithm::Sha512 => "a sha512 digest has 128 hexadecimal characters",
            }));
        }
        if !encoded
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid("the hash must be lowercase hexadecimal"));
        }
        Ok(Self {
            algorithm,
            value: s.into(),
        })
    }
}

impl TryFrom<&str> for Digest {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Error> {
        s.parse()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.value)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[track_caller]
    fn check_err(input: &str, expected: &str) {
        let err = input.parse::<Digest>().unwrap_err();
        assert_eq!(err.to_string(), expected, "input {input:?}");
    }

    #[test]
    fn parses_sha256_and_sha512() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(d.to_string(), EMPTY);
        let long = format!("sha512:{}", "ab".repeat(64));
        let d: Digest = long.parse().unwrap();
        assert_eq!((d.algorithm(), d.hex().len()), (Algorithm::Sha512, 128));
        assert_eq!(d.blob_path(), format!("blobs/sha512/{}", "ab".repeat(64)));
    }

    #[test]
    fn rejects_every_malformed_form() {
        check_err("", "invalid digest \"\": missing ':'");
        check_err("sha256", "invalid digest \"sha256\": missing ':'");
        check_err(
            "SHA256:00",
            "invalid digest \"SHA256:00\": the algorithm must match [a-z0-9]+([+._-][a-z0-9]+)*",
        );
        check_err(
            "sha256+:00",
            "invalid digest \"sha256+:00\": the algorithm must match [a-z0-9]+([+._-][a-z0-9]+)*",
        );
        check_err(
            "blake3:abcd",
            "unsupported digest algorithm \"blake3\" (supported: sha256, sha512)",
        );
        check_err(
            "sha256:abc",
            "invalid digest \"sha256:abc\": a sha256 digest has 64 hexadecimal characters",
        );
        check_err(
            &EMPTY.to_uppercase().replace("SHA256", "sha256"),
            "invalid digest \"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\": \
             the hash must be lowercase hexadecimal",
        );
        check_err(
            "sha256:../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "invalid digest \"sha256:../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": \
             the hash must be lowercase hexadecimal",
        );
    }

    #[test]
    fn hostile_input_is_clipped_in_messages() {
        let long = format!("x{}", ":".repeat(10_000));
        let msg = long.parse::<Digest>().unwrap_err().to_string();
        assert!(msg.len() < 200, "{msg}");
        // Multi-byte characters are never cut in half.
        let wide = format!("sha256:{}", "é".repeat(200));
        let msg = wide.parse::<Digest>().unwrap_err().to_string();
        assert!(
            msg.ends_with("...\": a sha256 digest has 64 hexadecimal characters"),
            "{msg}"
        );
    }

    #[test]
    fn from_raw_bytes_matches_the_parser() {
        let bytes = [
            0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
            0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
            0x78, 0x52, 0xb8, 0x55,
        ];
        assert_eq!(Digest::from_sha256_bytes(&bytes), EMPTY.parse().unwrap());
    }

    #[test]
    fn serde_goes_through_the_parser() {
        let d: Digest = serde_json::from_str(&format!("\"{EMPTY}\"")).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{EMPTY}\""));
        let err = serde_json::from_str::<Digest>("\"md5:abc\"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported digest algorithm \"md5\" (supported: sha256, sha512)"
        );
    }
}
