//! Digest adapters against known vectors, and the verifying reader's refusals.

use std::io::{self, Read, Write};

use modeloci_digest::{
    DigestReader, DigestWriter, Error, Hasher, Measured, VerifyingReader, hash_file, hash_reader,
};
use modeloci_spec::{Algorithm, Digest};

const EMPTY_SHA256: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ABC_SHA256: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const ABC_SHA512: &str = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

fn measured(digest: &str, size: u64) -> Measured {
    Measured::new(digest.parse().unwrap(), size)
}

/// Gives its bytes a few at a time, and counts how many were asked of it.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    handed_out: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.handed_out += n;
        Ok(n)
    }
}

#[test]
fn known_vectors() {
    assert_eq!(Hasher::digest_bytes(b""), measured(EMPTY_SHA256, 0));
    assert_eq!(Hasher::digest_bytes(b"abc"), measured(ABC_SHA256, 3));
    let mut sha512 = Hasher::new(Algorithm::Sha512);
    sha512.update(b"a");
    sha512.update(b"bc");
    assert_eq!(sha512.finish(), measured(ABC_SHA512, 3));
}

#[test]
fn reader_and_writer_hash_what_passes() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let expected = Hasher::digest_bytes(&data);

    let mut reader = DigestReader::new(Trickle {
        data: &data,
        step: 4093,
        handed_out: 0,
    });
    let mut copy = Vec::new();
    reader.read_to_end(&mut copy).unwrap();
    assert_eq!(copy, data);
    assert_eq!(reader.finish(), expected);

    let mut writer = DigestWriter::new(Vec::new());
    for chunk in data.chunks(65_537) {
        writer.write_all(chunk).unwrap();
    }
    let (written, measured) = writer.finish();
    assert_eq!(written, data);
    assert_eq!(measured, expected);
    assert_eq!(hash_reader(&data[..]).unwrap(), expected);
}

#[test]
fn hash_file_streams_and_names_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.bin");
    let data = vec![0x5au8; 5 << 20];
    std::fs::write(&path, &data).unwrap();
    assert_eq!(hash_file(&path).unwrap(), Hasher::digest_bytes(&data));

    let missing = dir.path().join("missing.bin");
    let err = hash_file(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { ref path, .. } if *path == missing));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

#[track_caller]
fn check_refusal(data: &[u8], expected: Measured, message: &str, max_read: usize) {
    let mut source = Trickle {
        data,
        step: 7,
        handed_out: 0,
    };
    let mut reader = VerifyingReader::new(&mut source, expected);
    let mut sink = Vec::new();
    let err = reader.read_to_end(&mut sink).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(
        Error::from_io(&err).map(ToString::to_string).as_deref(),
        Some(message)
    );
    assert!(!reader.is_verified());
    assert!(
        sink.len() <= reader.expected().size as usize,
        "handed out {} bytes",
        sink.len()
    );
    assert!(
        source.handed_out <= max_read,
        "read {} bytes of the source",
        source.handed_out
    );
}

#[test]
fn verifying_reader_passes_matching_content() {
    let mut reader = VerifyingReader::new(&b"abc"[..], measured(ABC_SHA256, 3));
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    assert_eq!((out.as_slice(), reader.is_verified()), (&b"abc"[..], true));
    // Reading on after the end stays at the end.
    assert_eq!(reader.read(&mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn verifying_reader_refuses_every_mismatch() {
    let abc = measured(ABC_SHA256, 3);
    check_refusal(
        b"abd",
        abc.clone(),
        &format!(
            "digest mismatch: expected {ABC_SHA256}, got {}",
            Hasher::digest_bytes(b"abd").digest
        ),
        3,
    );
    check_refusal(
        b"ab",
        abc.clone(),
        "size mismatch: expected 3 bytes, got 2",
        2,
    );
    // A longer stream is refused after reading one byte more than expected, never all of it.
    let long = vec![b'a'; 1 << 20];
    check_refusal(
        &long,
        abc.clone(),
        "size mismatch: expected 3 bytes, got 4 or more",
        4,
    );
    check_refusal(b"", abc, "size mismatch: expected 3 bytes, got 0", 0);
    // The algorithm comes from the expected digest.
    let mut reader = VerifyingReader::new(&b"abc"[..], measured(ABC_SHA512, 3));
    reader.read_to_end(&mut Vec::new()).unwrap();
    assert!(reader.is_verified());
}

#[test]
fn verification_errors_come_back_out_of_io_errors() {
    let err = VerifyingReader::new(&b"x"[..], measured(EMPTY_SHA256, 0))
        .finish()
        .unwrap_err();
    let inner = Error::try_from_io(err).unwrap();
    assert!(matches!(
        inner,
        Error::SizeMismatch {
            expected: 0,
            actual: 1,
            at_least: true
        }
    ));
    let plain = io::Error::other("disk on fire");
    assert_eq!(
        Error::try_from_io(plain).unwrap_err().to_string(),
        "disk on fire"
    );
    let _: Digest = EMPTY_SHA256.parse().unwrap();
}
