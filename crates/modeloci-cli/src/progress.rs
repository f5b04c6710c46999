//! Progress bars on stderr, for people: only when stderr is a terminal, and not with
//! `--quiet` or `--json`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use modeloci_archive::{Progress, ProgressHandle};

/// Whether to draw bars, decided once per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bars(bool);

impl Bars {
    /// Bars are drawn when stderr is a terminal and output is not suppressed.
    pub(crate) fn wanted(suppressed: bool) -> Self {
        Self(!suppressed && std::io::stderr().is_terminal())
    }

    /// A progress receiver, or none when bars are not wanted.
    pub(crate) fn handle(self) -> Option<ProgressHandle> {
        self.0.then(|| ProgressHandle::new(Bar::default()))
    }
}

/// One bar per piece of work (a pull downloads, then unpacks), each cleared when done.
#[derive(Default)]
struct Bar {
    current: Mutex<Option<ProgressBar>>,
}

impl Bar {
    fn with(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = &*self.current.lock().expect("no panics holding it") {
            f(bar);
        }
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        // At most 80 columns, the file name included.
        let style = ProgressStyle::with_template(
            "{prefix:>11.bold} [{bar:20}] {binary_bytes:>10}/{binary_total_bytes:<10} \
             {binary_bytes_per_sec:>12} {eta:>3} {msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix(crate::output::escape(what).into_owned());
        // Drawn at once, then at least five times a second while bytes move or not.
        bar.tick();
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Some(old) = self
            .current
            .lock()
            .expect("no panics holding it")
            .replace(bar)
        {
            old.finish_and_clear();
        }
    }

    fn advance(&self, bytes: u64) {
        self.with(|bar| bar.inc(bytes));
    }

    fn file(&self, name: &str) {
        // File names come from archives and registries: escaped before they are cut.
        let name = shorten(&crate::output::escape(name), 12);
        self.with(move |bar| bar.set_message(name));
    }

    fn finish(&self) {
        if let Some(bar) = self.current.lock().expect("no panics holding it").take() {
            bar.finish_and_clear();
        }
    }
}

/// The end of a long name, marked as cut: `…ors.safetensors`.
fn shorten(name: &str, max: usize) -> String {
    let chars = name.chars().count();
    if chars <= max {
        return name.to_owned();
    }
    let tail: String = name.chars().skip(chars - (max - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn long_names_keep_their_end() {
        assert_eq!(shorten("config.json", 12), "config.json");
        assert_eq!(
            shorten("model-00001-of-00004.safetensors", 12),
            "…safetensors"
        );
        assert_eq!(shorten("ééééééééééééé", 12).chars().count(), 12);
    }
}
