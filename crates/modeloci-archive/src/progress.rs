//! Progress of long work, for whoever wants to show it (the CLI draws bars with it).

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use modeloci_spec::{Descriptor, MediaType};

/// Receives the progress of long work: packing, verifying, unpacking, pushing, pulling.
/// Calls come from several threads.
///
/// Within a piece of work (between [`start`](Self::start) and [`finish`](Self::finish)),
/// files and blobs are worked on, several at once when the work runs on several threads:
/// each [`file_started`](Self::file_started) is followed, from any thread, by one
/// [`file_finished`](Self::file_finished) of the same name, on every path (errors
/// included; [`FileGuard`] does it on drop). [`InFlight`] keeps the set for a receiver.
pub trait Progress: Send + Sync {
    /// Work of `total` bytes begins; `what` names it (`packing`, `verifying`, `unpacking`,
    /// `uploading`, `downloading`, `writing`, `copying`). One run may hold several pieces
    /// of work in turn.
    fn start(&self, what: &str, total: u64);
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
    /// Work on `name` (`size` bytes of the total) begins; for display only. The name comes
    /// from the input (an archive, a registry): escape it before showing it.
    fn file_started(&self, _name: &str, _size: u64) {}
    /// Work on `name` ends, done or not.
    fn file_finished(&self, _name: &str) {}
    /// The work is done.
    fn finish(&self);
}

/// Work on one file or blob, reported to an optional receiver: started when made, finished
/// when dropped, so on every way out (an error, a panic) too.
#[must_use = "the file is reported finished when this is dropped"]
pub struct FileGuard<'a> {
    progress: Option<&'a dyn Progress>,
    name: String,
}

impl<'a> FileGuard<'a> {
    /// Reports work on `name`, of `size` bytes, begun.
    pub fn start(progress: Option<&'a dyn Progress>, name: &str, size: u64) -> Self {
        let name = match progress {
            Some(p) => {
                p.file_started(name, size);
                name.to_owned()
            }
            None => String::new(),
        };
        Self { progress, name }
    }
}

impl Drop for FileGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.progress {
            p.file_finished(&self.name);
        }
    }
}

impl fmt::Debug for FileGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FileGuard").field(&self.name).finish()
    }
}

/// The files a piece of work has in flight, for a receiver that shows one: the largest.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    /// Name and size, in the order they started; a name twice is two files in flight.
    files: Vec<(String, u64)>,
}

impl InFlight {
    /// `name`, of `size` bytes, is in flight.
    pub fn started(&mut self, name: &str, size: u64) {
        self.files.push((name.to_owned(), size));
    }

    /// One file named `name` is no longer in flight (the first started, of several).
    pub fn finished(&mut self, name: &str) {
        if let Some(i) = self.files.iter().position(|(n, _)| n == name) {
            self.files.remove(i);
        }
    }

    /// None is in flight any more.
    pub fn clear(&mut self) {
        self.files.clear();
    }

    /// The largest file in flight; of equally large ones, the first started.
    pub fn largest(&self) -> Option<&str> {
        let mut largest: Option<&(String, u64)> = None;
        for file in &self.files {
            if largest.is_none_or(|l| file.1 > l.1) {
                largest = Some(file);
            }
        }
        largest.map(|(name, _)| name.as_str())
    }
}

/// What progress calls a blob: its title (a layer's file), `config` for a config blob,
/// else `blob ` and the start of its digest.
pub fn blob_label(descriptor: &Descriptor) -> Cow<'_, str> {
    if let Some(title) = descriptor.title() {
        return Cow::Borrowed(title);
    }
    match descriptor.media_type {
        MediaType::ModelociConfig
        | MediaType::ModelPackConfig
        | MediaType::ImageConfig
        | MediaType::Empty => Cow::Borrowed("config"),
        _ => Cow::Owned(format!("blob {}", descriptor.digest.short_hex(12))),
    }
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

    /// Work on `name`, of `size` bytes, until the guard is dropped.
    pub(crate) fn file(&self, name: &str, size: u64) -> FileGuard<'a> {
        FileGuard::start(self.0, name, size)
    }
}

impl Drop for Reporter<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            p.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn the_largest_in_flight_and_the_first_of_equals() {
        let mut files = InFlight::default();
        assert_eq!(files.largest(), None);
        files.started("config.json", 100);
        assert_eq!(files.largest(), Some("config.json"));
        files.started("model.safetensors", 2 << 30);
        files.started("tokenizer.json", 2 << 20);
        assert_eq!(files.largest(), Some("model.safetensors"));
        files.finished("model.safetensors");
        assert_eq!(files.largest(), Some("tokenizer.json"));
        files.started("b", 2 << 20);
        assert_eq!(
            files.largest(),
            Some("tokenizer.json"),
            "the first of equals"
        );
        // A name twice (parts of one blob) stays in flight until both are finished.
        files.started("part", 1 << 40);
        files.started("part", 1 << 40);
        files.finished("part");
        assert_eq!(files.largest(), Some("part"));
        files.finished("part");
        files.finished("never started");
        assert_eq!(files.largest(), Some("tokenizer.json"));
        files.clear();
        assert_eq!(files.largest(), None);
    }

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Progress for Log {
        fn start(&self, _: &str, _: u64) {}
        fn advance(&self, _: u64) {}
        fn file_started(&self, name: &str, size: u64) {
            self.0.lock().unwrap().push(format!("+{name} {size}"));
        }
        fn file_finished(&self, name: &str) {
            self.0.lock().unwrap().push(format!("-{name}"));
        }
        fn finish(&self) {}
    }

    #[test]
    fn a_guard_finishes_its_file_on_every_way_out() {
        let log = Log::default();
        let failing = || -> Result<(), ()> {
            let _file = FileGuard::start(Some(&log), "a.bin", 7);
            Err(())
        };
        assert!(failing().is_err());
        drop(FileGuard::start(None, "unseen", 1));
        assert_eq!(*log.0.lock().unwrap(), ["+a.bin 7", "-a.bin"]);
    }

    #[test]
    fn blobs_are_named_by_title_then_kind_then_digest() {
        let digest = modeloci_spec::Digest::from_sha256_bytes(&[0xab; 32]);
        let blob = |media_type| Descriptor::new(media_type, digest.clone(), 3);
        assert_eq!(blob_label(&blob(MediaType::ModelociConfig)), "config");
        assert_eq!(
            blob_label(
                &blob(MediaType::ImageLayer)
                    .with_annotation(modeloci_spec::annotations::TITLE, "model.safetensors")
            ),
            "model.safetensors"
        );
        assert_eq!(
            blob_label(&blob(MediaType::ImageLayer)),
            "blob abababababab"
        );
    }
}
