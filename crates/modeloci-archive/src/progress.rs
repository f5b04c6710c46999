//! Progress of long work, for whoever wants to show it (the CLI draws bars with it).

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

/// Receives the progress of long work: packing, verifying, unpacking, pushing, pulling.
/// Calls come from several threads.
pub trait Progress: Send + Sync {
    /// Work of `total` bytes begins; `what` names it (`packing`, `verifying`, `unpacking`,
    /// `uploading`, `downloading`). One run may hold several pieces of work in turn.
    fn start(&self, what: &str, total: u64);
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
    /// Work on a file begins (for display only).
    fn file(&self, _name: &str) {}
    /// The work is done.
    fn finish(&self);
}

/// A shared [`Progress`], as options hold it.
#[derive(Clone)]
pub struct ProgressHandle(pub Arc<dyn Progress>);

impl fmt::Debug for ProgressHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressHandle")
    }
}

impl ProgressHandle {
    /// Wraps a progress receiver.
    pub fn new(progress: impl Progress + 'static) -> Self {
        Self(Arc::new(progress))
    }
}

/// Reports the bytes read through it, up to a budget: a layer tar reports its file's size,
/// not its headers and padding, so the work's total is the sum of the file sizes.
pub(crate) struct Counting<'a, R> {
    pub(crate) inner: R,
    progress: Option<&'a dyn Progress>,
    budget: u64,
}

impl<'a, R> Counting<'a, R> {
    pub(crate) fn new(inner: R, progress: Option<&'a dyn Progress>) -> Self {
        Self::capped(inner, progress, u64::MAX)
    }

    pub(crate) fn capped(inner: R, progress: Option<&'a dyn Progress>, budget: u64) -> Self {
        Self {
            inner,
            progress,
            budget,
        }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = self.progress {
            let counted = (n as u64).min(self.budget);
            if counted > 0 {
                self.budget -= counted;
                p.advance(counted);
            }
        }
        Ok(n)
    }
}

/// Starts and finishes a piece of work on an optional receiver.
pub(crate) struct Reporter<'a>(pub(crate) Option<&'a dyn Progress>);

impl<'a> Reporter<'a> {
    pub(crate) fn start(handle: Option<&'a ProgressHandle>, what: &str, total: u64) -> Self {
        let progress = handle.map(|h| &*h.0);
        if let Some(p) = progress {
            p.start(what, total);
        }
        Self(progress)
    }

    pub(crate) fn file(&self, name: &str) {
        if let Some(p) = self.0 {
            p.file(name);
        }
    }
}

impl Drop for Reporter<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            p.finish();
        }
    }
}
