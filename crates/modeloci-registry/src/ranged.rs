//! Large blobs in parts: several `Range: bytes=a-b` GETs at once, each written in place
//! into the staged blob file (`<hex>.ranged`, as long as the blob from the start), the
//! whole file hashed and checked against the digest before it is renamed to `<hex>`.
//!
//! A part counts only when the registry answered `206` with a `Content-Range` naming
//! exactly the bytes asked for and the blob's size, and sent that many bytes. A registry
//! that does anything else (`200` with the whole blob, another range, a short part) gets no
//! error: the blob's file is removed and the blob comes down in one stream, as do all blobs
//! after it in the same pull. Each finished part is appended to `<hex>.ranged.parts`; an
//! interrupted pull fetches only the parts not listed there (a part cut off is fetched again
//! whole), and the digest check at the end catches anything the record got wrong.
//!
//! The hash is taken in one pass of positioned reads once every part is in, rather than
//! part by part as they finish: parts finish out of order, so hashing them in order would
//! mean holding finished parts in memory or reading them back anyway, and the pass reads a
//! file that was just written, from the page cache, at the speed of SHA-256, small next to
//! the download.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use modeloci_archive::{FileGuard, Progress, blob_label};
use modeloci_digest::{BUFFER_SIZE, Hasher, Measured};
use modeloci_spec::{Descriptor, Digest};

use crate::client::{Client, RangeAnswer, Tries, is_io_timeout};
use crate::staging;
use crate::{Error, Result};

/// Blobs larger than this come down in parts, of a quarter of it each (64 MiB: parts of
/// 16 MiB), when more than one download may run at once.
pub const RANGED_ABOVE: u64 = 64 << 20;

/// The most parts of one blob: larger blobs get larger parts.
const MAX_PARTS: u64 = 4096;

/// The largest record of finished parts read back (a few lines per part).
const MAX_RECORD: u64 = MAX_PARTS * 48;

/// The parts of a blob of `size` bytes downloaded in parts above `above` bytes.
pub(crate) fn plan(size: u64, above: u64) -> Vec<Range<u64>> {
    let part = (above / 4).max(1).max(size.div_ceil(MAX_PARTS));
    let mut parts = Vec::new();
    let mut start = 0;
    while start < size {
        let end = start.saturating_add(part).min(size);
        parts.push(start..end);
        start = end;
    }
    parts
}

/// What one pull knows of the registry's way with ranges.
#[derive(Debug, Default)]
pub(crate) struct Ranges {
    /// It did not honour a range once: every blob not yet begun comes in one stream.
    refused: AtomicBool,
}

/// What the parts of a pull need besides the blob.
pub(crate) struct PartContext<'a> {
    pub(crate) client: &'a Client,
    pub(crate) repo: &'a str,
    pub(crate) progress: Option<&'a dyn Progress>,
    pub(crate) ranges: &'a Ranges,
}

/// How a ranged blob ended.
pub(crate) enum Finished {
    /// Verified and kept under its digest.
    Kept,
    /// The registry did not honour a range (why): nothing kept; fetch it in one stream.
    Refused(String),
}

/// One blob coming down in parts.
pub(crate) struct RangedBlob<'a> {
    pub(crate) descriptor: &'a Descriptor,
    file: File,
    path: PathBuf,
    done_path: PathBuf,
    record_path: PathBuf,
    record: Mutex<File>,
    parts: Vec<Range<u64>>,
    done: Vec<AtomicBool>,
    refused: Mutex<Option<String>>,
}

/// How one request for a part ended.
enum Once {
    /// The rest of the part is in (this many bytes).
    Complete(u64),
    /// The registry did not send the part asked for.
    Refused(String),
    /// The transfer broke after this many bytes; `stalled` when nothing came for the
    /// timeout.
    Broken { received: u64, stalled: bool },
}

impl<'a> RangedBlob<'a> {
    /// Opens (or resumes) the ranged download of `descriptor` into `staging`, where it is
    /// kept as `done_path` once verified, in the parts [`plan`] makes.
    pub(crate) fn open(
        descriptor: &'a Descriptor,
        staging: &Path,
        done_path: PathBuf,
        above: u64,
    ) -> Result<Self> {
        let blob_path = descriptor.digest.blob_path();
        let path = staging.join(format!("{blob_path}.ranged"));
        let record_path = staging.join(format!("{blob_path}.ranged.parts"));
        let (file, kept) = open_or_replace(&path, |p| staging::open_ranged(p, descriptor.size))?;
        if !kept {
            staging::remove(&record_path).map_err(Error::io(&record_path))?;
        }
        let parts = plan(descriptor.size, above);
        let finished = read_record(&record_path)?;
        let done = parts
            .iter()
            .map(|p| AtomicBool::new(finished.contains(&(p.start, p.end))))
            .collect();
        let record = open_or_replace(&record_path, staging::open_record)?;
        Ok(Self {
            descriptor,
            file,
            path,
            done_path,
            record_path,
            record: Mutex::new(record),
            parts,
            done,
            refused: Mutex::new(None),
        })
    }

    /// The bytes of the parts an earlier run finished.
    pub(crate) fn resumed(&self) -> u64 {
        self.missing_or_done(true).map(|k| self.len(k)).sum()
    }

    /// The parts still to fetch.
    pub(crate) fn missing(&self) -> Vec<usize> {
        self.missing_or_done(false).collect()
    }

    fn missing_or_done(&self, done: bool) -> impl Iterator<Item = usize> + '_ {
        (0..self.parts.len()).filter(move |&k| self.done[k].load(Ordering::Relaxed) == done)
    }

    fn len(&self, k: usize) -> u64 {
        self.parts[k].end - self.parts[k].start
    }

    /// Fetches part `k`, resuming it after breaks under the client's retry policy; returns
    /// the bytes received. Once the registry refuses a range, the part (and every part
    /// after it, of any blob) is left for the one-stream download.
    pub(crate) fn fetch_part(&self, cx: &PartContext<'_>, k: usize) -> Result<u64> {
        let part = self.parts[k].clone();
        let _file = FileGuard::start(
            cx.progress,
            &blob_label(self.descriptor),
            self.descriptor.size,
        );
        let mut tries = Tries::capped(cx.client, self.len(k));
        let (mut got, mut received) = (0u64, 0u64);
        loop {
            if cx.ranges.refused.load(Ordering::Relaxed) || self.is_refused() {
                self.refuse(cx.ranges, "the registry did not honour an earlier range");
                return Ok(received);
            }
            match self.once(cx, part.start + got..part.end)? {
                Once::Complete(n) => {
                    self.finish_part(k)?;
                    return Ok(received + n);
                }
                Once::Refused(why) => {
                    self.refuse(cx.ranges, &why);
                    return Ok(received);
                }
                Once::Broken {
                    received: n,
                    stalled,
                } => {
                    (got, received) = (got + n, received + n);
                    let Some(wait) = tries.failed(n > 0) else {
                        return Err(self.gave_up(cx.client, stalled, &part, tries.attempts()));
                    };
                    std::thread::sleep(wait);
                }
            }
        }
    }

    /// One request for bytes `range`, written in place.
    fn once(&self, cx: &PartContext<'_>, range: Range<u64>) -> Result<Once> {
        let digest = &self.descriptor.digest;
        let answer =
            cx.client
                .get_blob_part(cx.repo, digest, range.clone(), self.descriptor.size)?;
        let reader = match answer {
            RangeAnswer::Part(reader) => reader,
            RangeAnswer::Refused(why) => return Ok(Once::Refused(why)),
        };
        let want = range.end - range.start;
        // One byte more than asked for, to tell a part that is too long.
        let mut reader = reader.take(want + 1);
        let mut buf = vec![0u8; BUFFER_SIZE.min(usize::try_from(want + 1).unwrap_or(usize::MAX))];
        let mut received = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) if received < want => {
                    return Ok(Once::Refused(format!(
                        "it sent {received} of the {want} bytes of a part"
                    )));
                }
                Ok(0) => return Ok(Once::Complete(received)),
                Ok(n) => n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The connection closed before the part was in: a short part.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(Once::Refused(format!(
                        "it sent {} of the {want} bytes of a part",
                        received
                    )));
                }
                Err(e) => {
                    return Ok(Once::Broken {
                        received,
                        stalled: is_io_timeout(&e),
                    });
                }
            };
            if received + n > want {
                return Ok(Once::Refused(format!(
                    "it sent more than the {want} bytes of a part"
                )));
            }
            let chunk = &buf[..usize::try_from(n).expect("at most the buffer")];
            self.file
                .write_all_at(chunk, range.start + received)
                .map_err(Error::io(&self.path))?;
            received += n;
            if let Some(p) = cx.progress {
                p.advance(n);
            }
        }
    }

    /// Marks part `k` finished, in memory and in the record.
    fn finish_part(&self, k: usize) -> Result<()> {
        use std::io::Write as _;
        self.done[k].store(true, Ordering::Relaxed);
        let line = format!("{}-{}\n", self.parts[k].start, self.parts[k].end);
        let mut record = self.record.lock().expect("no thread panics holding it");
        record
            .write_all(line.as_bytes())
            .map_err(Error::io(&self.record_path))
    }

    fn is_refused(&self) -> bool {
        self.refused
            .lock()
            .expect("no thread panics holding it")
            .is_some()
    }

    /// Leaves this blob, and every one not yet begun, to one stream.
    fn refuse(&self, ranges: &Ranges, why: &str) {
        ranges.refused.store(true, Ordering::Relaxed);
        let mut refused = self.refused.lock().expect("no thread panics holding it");
        refused.get_or_insert_with(|| why.to_owned());
    }

    /// The error after the last try of a part.
    fn gave_up(&self, client: &Client, stalled: bool, part: &Range<u64>, attempts: u32) -> Error {
        let digest = &self.descriptor.digest;
        if stalled {
            return client.stalled(format!("downloading blob {digest}"), attempts);
        }
        Error::Unreachable {
            registry: client.registry().to_owned(),
            reason: format!(
                "the download of bytes {}-{} of blob {digest} kept breaking off; gave up after {attempts} attempts",
                part.start,
                part.end.saturating_sub(1)
            ),
        }
    }

    /// Once every part was asked for: the blob verified and kept, or, when the registry
    /// refused a range, its file removed. A blob that does not match its digest is removed
    /// with its record, and is an error.
    pub(crate) fn finish(self, client: &Client) -> Result<Finished> {
        let refused = self
            .refused
            .lock()
            .expect("no thread panics holding it")
            .take();
        if let Some(why) = refused {
            self.discard()?;
            return Ok(Finished::Refused(why));
        }
        if !self.missing().is_empty() {
            // Not reached: a part that failed fails the pull before this.
            return Err(
                client.protocol(format!("blob {} is missing parts", self.descriptor.digest))
            );
        }
        let actual = self.hash().map_err(Error::io(&self.path))?;
        let expected = Measured::new(self.descriptor.digest.clone(), self.descriptor.size);
        if actual != expected {
            self.discard()?;
            return Err(blob_mismatch(
                client,
                &self.descriptor.digest,
                modeloci_digest::Error::DigestMismatch {
                    expected: expected.digest,
                    actual: actual.digest,
                },
            ));
        }
        std::fs::rename(&self.path, &self.done_path).map_err(Error::io(&self.done_path))?;
        staging::remove(&self.record_path).map_err(Error::io(&self.record_path))?;
        Ok(Finished::Kept)
    }

    /// Removes the blob's file and its record.
    fn discard(&self) -> Result<()> {
        staging::remove(&self.path).map_err(Error::io(&self.path))?;
        staging::remove(&self.record_path).map_err(Error::io(&self.record_path))
    }

    /// The file's digest and size, by positioned reads.
    fn hash(&self) -> io::Result<Measured> {
        let mut hasher = Hasher::default();
        let mut buf = vec![0u8; BUFFER_SIZE];
        let mut at = 0u64;
        while at < self.descriptor.size {
            let want =
                usize::try_from(self.descriptor.size - at).map_or(buf.len(), |r| r.min(buf.len()));
            let n = self.file.read_at(&mut buf[..want], at)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        Ok(hasher.finish())
    }
}

/// Opens a staged file with `open`; what has the name but is not ours (a planted link,
/// not a regular file) is removed and the file made anew.
fn open_or_replace<T>(path: &Path, open: impl Fn(&Path) -> io::Result<T>) -> Result<T> {
    match open(path) {
        Err(e) if is_not_ours(&e) => {
            staging::remove(path).map_err(Error::io(path))?;
            open(path).map_err(Error::io(path))
        }
        other => other.map_err(Error::io(path)),
    }
}

/// The parts a record lists as finished, `(start, end)`; a missing, planted or oversized
/// record lists none (what it lists is checked by the digest in the end anyway).
fn read_record(path: &Path) -> Result<Vec<(u64, u64)>> {
    let file = match staging::open_existing(path) {
        Ok(Some(file)) => file,
        Ok(None) => return Ok(Vec::new()),
        Err(e) if is_not_ours(&e) => {
            staging::remove(path).map_err(Error::io(path))?;
            return Ok(Vec::new());
        }
        Err(e) => return Err(Error::io(path)(e)),
    };
    let mut text = String::new();
    if file.take(MAX_RECORD + 1).read_to_string(&mut text).is_err()
        || text.len() as u64 > MAX_RECORD
    {
        return Ok(Vec::new());
    }
    Ok(text
        .lines()
        .filter_map(|line| {
            let (a, b) = line.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect())
}

/// A link, or something else than a regular file, where a staged file should be.
pub(crate) fn is_not_ours(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP) || e.kind() == io::ErrorKind::InvalidInput
}

/// A blob from the registry that is not what its descriptor says.
pub(crate) fn blob_mismatch(
    client: &Client,
    digest: &Digest,
    source: modeloci_digest::Error,
) -> Error {
    Error::Verification {
        registry: client.registry().to_owned(),
        what: "blob".into(),
        digest: digest.clone(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_blob_in_bounded_parts() {
        assert_eq!(plan(10, 8), [0..2, 2..4, 4..6, 6..8, 8..10]);
        assert_eq!(plan(9, 16), [0..4, 4..8, 8..9]);
        assert!(plan(0, 8).is_empty());
        let huge = plan(u64::MAX, 8);
        assert!(huge.len() as u64 <= MAX_PARTS);
        assert_eq!(huge.last().unwrap().end, u64::MAX);
        let default = plan(1 << 30, RANGED_ABOVE);
        assert_eq!(default.len(), 64);
        assert!(default.iter().all(|p| p.end - p.start == 16 << 20));
    }
}
