//! `pull --unpack` straight into files: each layer's blob read from its GET through the
//! unpacker's verifying reader, decoder and tar walker into the pull's staging directory
//! (`layers/<hex>/`), never staged as a blob. A layer whose blob verified is recorded there,
//! and a rerun after an interruption fetches only the layers not recorded (the unpacker
//! re-hashes the kept files first: `ModelUnpackager::extract_streamed`); a layer cut midway
//! is fetched again whole, a raw layer too (no ranged resume of a partial file). A GET that
//! breaks off is resumed from the byte it stopped at (`Range: bytes=<n>-`) under the client's
//! retry policy; the unpacker checks every blob against its digest and size, and publishes
//! nothing unless all matched and the unpack check passed.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use modeloci_archive::{ModelUnpackager, UnpackedFile};
use modeloci_spec::{Descriptor, Digest};

use crate::client::{Client, Tries, is_io_timeout};
use crate::{Error, Result};

/// Unpacks the layers of `manifest` into `dir` with `unpacker`, each blob read from the
/// registry once, the verified layers' files kept in `keep` until published (a rerun skips
/// the layers kept there); returns the files, the bytes received and the sizes of the blobs
/// asked for (the layers not kept). An error of the registry
/// (rather than of the bytes) is returned as such.
pub(crate) fn unpack_streamed(
    client: &Client,
    repo: &str,
    manifest: &modeloci_spec::OciManifest,
    unpacker: &ModelUnpackager,
    dir: &Path,
    keep: &Path,
) -> Result<(Vec<UnpackedFile>, u64, u64)> {
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let received = AtomicU64::new(0);
    let asked = AtomicU64::new(0);
    let open = |descriptor: &Descriptor| -> io::Result<Box<dyn Read + '_>> {
        asked.fetch_add(descriptor.size, Ordering::Relaxed);
        Ok(Box::new(RemoteBlob {
            client,
            repo,
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            body: None,
            offset: 0,
            furthest: 0,
            tries: Tries::capped(client, descriptor.size),
            failure: &failure,
            received: &received,
        }))
    };
    let source = Path::new(client.registry());
    let unpacked = unpacker.extract_streamed(manifest, &open, source, dir, keep);
    match (unpacked, failure.into_inner().expect("not poisoned")) {
        (Ok(files), _) => Ok((files, received.into_inner(), asked.into_inner())),
        (Err(_), Some(registry)) => Err(registry),
        (Err(e), None) => Err(e.into()),
    }
}

/// A blob read from the registry, resumed after breaks from where it stopped.
struct RemoteBlob<'a> {
    client: &'a Client,
    repo: &'a str,
    digest: Digest,
    size: u64,
    body: Option<ureq::BodyReader<'static>>,
    /// The bytes handed out so far.
    offset: u64,
    /// The furthest offset at a break, to tell a try that brought nothing.
    furthest: u64,
    tries: Tries<'a>,
    /// Where the registry's own error is kept for the caller.
    failure: &'a Mutex<Option<Error>>,
    /// The bytes received, of every blob.
    received: &'a AtomicU64,
}

impl RemoteBlob<'_> {
    /// Keeps `e` for the caller; the unpacker gets an I/O error that says the same.
    fn fail(&self, e: Error) -> io::Error {
        let io = io::Error::other(e.to_string());
        self.failure.lock().expect("not poisoned").get_or_insert(e);
        io
    }

    /// Asks for the blob from `offset` on; a registry that sends it all from the start has
    /// what was handed out already skipped.
    fn open(&mut self) -> io::Result<()> {
        let mut body = self
            .client
            .get_blob(self.repo, &self.digest, self.offset)
            .map_err(|e| self.fail(e))?;
        if body.start != self.offset {
            let skip = self.offset - body.start;
            let skipped = io::copy(&mut (&mut body.reader).take(skip), &mut io::sink())?;
            if skipped < skip {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the blob ended early",
                ));
            }
        }
        self.body = Some(body.reader);
        Ok(())
    }

    /// After a break: the wait before the next try, or the error when the tries are spent.
    fn broke(&mut self, stalled: bool) -> io::Result<()> {
        self.body = None;
        let progressed = self.offset > self.furthest;
        self.furthest = self.furthest.max(self.offset);
        let Some(wait) = self.tries.failed(progressed) else {
            let digest = &self.digest;
            let attempts = self.tries.attempts();
            let e = if stalled {
                self.client
                    .stalled(format!("downloading blob {digest}"), attempts)
            } else {
                Error::Unreachable {
                    registry: self.client.registry().to_owned(),
                    reason: format!(
                        "the download of blob {digest} kept breaking off, at best after {} of {} bytes; gave up after {attempts} attempts",
                        self.furthest, self.size
                    ),
                }
            };
            return Err(self.fail(e));
        };
        std::thread::sleep(wait);
        Ok(())
    }
}

impl Read for RemoteBlob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.body.is_none() {
                match self.open() {
                    Ok(()) => {}
                    Err(_) if self.failure.lock().expect("not poisoned").is_some() => {
                        return Err(io::Error::other("the registry failed"));
                    }
                    Err(e) => {
                        self.broke(is_io_timeout(&e))?;
                        continue;
                    }
                }
            }
            let body = self.body.as_mut().expect("opened above");
            match body.read(buf) {
                Ok(0) if self.offset < self.size => self.broke(false)?,
                Ok(n) => {
                    self.offset += n as u64;
                    self.received.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.broke(is_io_timeout(&e))?,
            }
        }
    }
}
