//! Progress reports to a Python callable: `callback(stage, done, total, file)`, called at
//! each start and finish and at most every 100 ms between them, from whichever thread does
//! the work (attached to the interpreter only for the call). `file` is the largest file in
//! flight (the work runs on several threads), or `None` between files. The first exception
//! the callback raises is kept, later reports are dropped, and the operation raises it when
//! it returns.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use modeloci_archive::{InFlight, Progress, ProgressHandle};
use pyo3::prelude::*;

/// The least time between two reports of the same work.
const EVERY: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Work {
    stage: String,
    total: u64,
    files: InFlight,
}

/// A [`Progress`] that calls back into Python.
pub(crate) struct PyProgress {
    callback: Py<PyAny>,
    work: Mutex<Work>,
    done: AtomicU64,
    last: Mutex<Option<Instant>>,
    error: Mutex<Option<PyErr>>,
}

impl PyProgress {
    /// Progress for `callback`, or none.
    pub(crate) fn new(callback: Option<Py<PyAny>>) -> Option<std::sync::Arc<Self>> {
        callback.map(|callback| {
            std::sync::Arc::new(Self {
                callback,
                work: Mutex::default(),
                done: AtomicU64::new(0),
                last: Mutex::new(None),
                error: Mutex::new(None),
            })
        })
    }

    /// The handle options take.
    pub(crate) fn handle(this: &Option<std::sync::Arc<Self>>) -> Option<ProgressHandle> {
        this.as_ref()
            .map(|p| ProgressHandle(p.clone() as std::sync::Arc<dyn Progress>))
    }

    /// The callback's first exception, if it raised one.
    pub(crate) fn take_error(this: &Option<std::sync::Arc<Self>>) -> PyResult<()> {
        match this.as_ref().and_then(|p| lock(&p.error).take()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Reports now, or (unless `force`) when the last report is old enough.
    fn report(&self, force: bool) {
        {
            let mut last = lock(&self.last);
            let now = Instant::now();
            if !force && last.is_some_and(|t| now.duration_since(t) < EVERY) {
                return;
            }
            *last = Some(now);
        }
        let (stage, total, file) = {
            let work = lock(&self.work);
            let file = work.files.largest().map(str::to_owned);
            (work.stage.clone(), work.total, file)
        };
        let done = self.done.load(Ordering::Relaxed).min(total);
        // No lock is held while Python runs: the callback may let another thread in.
        Python::attach(|py| {
            if lock(&self.error).is_some() {
                return;
            }
            if let Err(e) = self.callback.call1(py, (stage, done, total, file)) {
                lock(&self.error).get_or_insert(e);
            }
        });
    }
}

impl Progress for PyProgress {
    fn start(&self, what: &str, total: u64) {
        *lock(&self.work) = Work {
            stage: what.to_owned(),
            total,
            files: InFlight::default(),
        };
        self.done.store(0, Ordering::Relaxed);
        self.report(true);
    }

    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        self.report(false);
    }

    fn file_started(&self, name: &str, size: u64) {
        lock(&self.work).files.started(name, size);
    }

    fn file_finished(&self, name: &str) {
        lock(&self.work).files.finished(name);
    }

    fn finish(&self) {
        let total = {
            let mut work = lock(&self.work);
            work.files.clear();
            work.total
        };
        self.done.store(total, Ordering::Relaxed);
        self.report(true);
    }
}

/// A lock whose holder never panics while holding it; a poisoned one is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
