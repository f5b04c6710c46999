//! Progress bars on stderr, for people: only when stderr is a terminal, and not with
//! `--quiet` or `--json`.
//!
//! One line per piece of work, fitted to the terminal's width at each draw: what is done,
//! a bar, bytes done of the total, rate, time left and the largest file in flight. A narrow
//! terminal drops the rate, then the time left, then the bar; the file name is cut from its
//! front.

use std::fmt;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use console::measure_text_width as columns;
use indicatif::ProgressStyle;
use indicatif::{BinaryBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState};
use modeloci_archive::{InFlight, Progress, ProgressHandle};

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
        self.0
            .then(|| ProgressHandle::new(Bar::new(ProgressDrawTarget::stderr)))
    }
}

/// One bar per piece of work (a pull downloads, then unpacks), each cleared when done.
struct Bar {
    current: Mutex<Option<Work>>,
    target: fn() -> ProgressDrawTarget,
}

/// A piece of work on the screen: its bar, and the files it has in flight.
struct Work {
    bar: ProgressBar,
    files: Arc<Mutex<Files>>,
}

impl Work {
    /// Draws the line again now (as often as the terminal's refresh rate allows), for the
    /// file it shows: the steady tick alone would miss a file shorter than its interval.
    /// The message is what the line shows of the files (the line reads them itself).
    fn redraw(&self, shown: Option<String>) {
        // Never with the files locked: drawing locks them.
        self.bar.set_message(shown.unwrap_or_default());
    }
}

/// The files in flight, and the widest name seen (so that the bar keeps its width).
#[derive(Default)]
struct Files {
    in_flight: InFlight,
    widest: usize,
}

impl Files {
    /// The name to show, escaped: the largest file in flight.
    fn shown(&self) -> Option<String> {
        // File names come from archives and registries: escaped before they are measured.
        self.in_flight
            .largest()
            .map(|name| crate::output::escape(name).into_owned())
    }
}

impl Bar {
    fn new(target: fn() -> ProgressDrawTarget) -> Self {
        Self {
            current: Mutex::new(None),
            target,
        }
    }

    fn with(&self, f: impl FnOnce(&Work)) {
        if let Some(work) = &*lock(&self.current) {
            f(work);
        }
    }

    /// The file the bar shows now, if any.
    #[cfg(test)]
    fn shown(&self) -> Option<String> {
        let mut shown = None;
        self.with(|work| shown = lock(&work.files).shown());
        shown
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        let what = crate::output::escape(what).into_owned();
        let files = Arc::new(Mutex::new(Files::default()));
        let drawn = Arc::clone(&files);
        let style = ProgressStyle::with_template("{line}")
            .expect("the template is valid")
            .with_key(
                "line",
                move |state: &ProgressState, w: &mut dyn fmt::Write| {
                    let files = lock(&drawn);
                    let file = files.shown();
                    let frame = Frame {
                        what: &what,
                        done: state.pos(),
                        total: state.len().unwrap_or(0),
                        per_sec: state.per_sec(),
                        eta: state.eta(),
                        file: file.as_deref(),
                        widest: files.widest,
                    };
                    drop(files);
                    let _ = w.write_str(&frame.line(terminal_width()));
                },
            );
        let bar = ProgressBar::with_draw_target(Some(total), (self.target)()).with_style(style);
        // Drawn at once, then at least five times a second while bytes move or not.
        bar.tick();
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Some(old) = lock(&self.current).replace(Work { bar, files }) {
            old.bar.finish_and_clear();
        }
    }

    fn advance(&self, bytes: u64) {
        self.with(|work| work.bar.inc(bytes));
    }

    fn file_started(&self, name: &str, size: u64) {
        self.with(|work| {
            let shown = {
                let mut files = lock(&work.files);
                files.in_flight.started(name, size);
                let width = columns(&crate::output::escape(name));
                files.widest = files.widest.max(width);
                files.shown()
            };
            work.redraw(shown);
        });
    }

    fn file_finished(&self, name: &str) {
        self.with(|work| {
            let shown = {
                let mut files = lock(&work.files);
                files.in_flight.finished(name);
                files.shown()
            };
            work.redraw(shown);
        });
    }

    fn finish(&self) {
        if let Some(work) = lock(&self.current).take() {
            work.bar.finish_and_clear();
        }
    }
}

/// The terminal's columns (80 when stderr is no terminal after all).
fn terminal_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, cols)| usize::from(cols))
}

/// The columns a bar's inside takes, at least and at most.
const BAR: (usize, usize) = (10, 40);
/// The columns a file name is given before parts are dropped, and at most.
const NAME: (usize, usize) = (12, 40);

/// The parts of a line that a narrow terminal drops, in that order.
#[derive(Clone, Copy)]
struct Parts {
    rate: bool,
    eta: bool,
    bar: bool,
    /// The label right-aligned in 11 columns and the bytes done in 10, so that the bars of
    /// one run line up and the line does not shift as the counts grow.
    padded: bool,
}

const LAYOUTS: [Parts; 5] = [
    Parts {
        rate: true,
        eta: true,
        bar: true,
        padded: true,
    },
    Parts {
        rate: false,
        eta: true,
        bar: true,
        padded: true,
    },
    Parts {
        rate: false,
        eta: false,
        bar: true,
        padded: true,
    },
    Parts {
        rate: false,
        eta: false,
        bar: false,
        padded: true,
    },
    Parts {
        rate: false,
        eta: false,
        bar: false,
        padded: false,
    },
];

/// What one line shows of a piece of work.
struct Frame<'a> {
    /// What is done, escaped.
    what: &'a str,
    done: u64,
    total: u64,
    per_sec: f64,
    eta: Duration,
    /// The file shown, escaped.
    file: Option<&'a str>,
    /// The widest file name of the work so far, in columns.
    widest: usize,
}

impl Frame<'_> {
    /// The line for a terminal `width` columns wide: never wider (indicatif fills the rest
    /// of the line with spaces and keeps the cursor in it).
    fn line(&self, width: usize) -> String {
        let room = width;
        let total = BinaryBytes(self.total).to_string();
        // `1023.99 KiB` is as wide as a count of bytes gets, but one column.
        let bytes = format!("{:>10}/{total}", BinaryBytes(self.done).to_string());
        let rate = format!("{:>12}", format!("{}/s", BinaryBytes(self.per_sec as u64)));
        let eta = format!("{:>3}", format!("{:#}", HumanDuration(self.eta)));
        let name = self.file.unwrap_or("");
        let widest = self.widest.max(columns(name)).max(NAME.0);
        for parts in LAYOUTS {
            let label = if parts.padded {
                format!("{:>11}", self.what)
            } else {
                self.what.to_owned()
            };
            // Unpadded, the counts too.
            let bytes = if parts.padded {
                &bytes
            } else {
                bytes.trim_start()
            };
            let mut fixed = columns(&label) + 1 + columns(bytes);
            fixed += if parts.rate { 1 + columns(&rate) } else { 0 };
            fixed += if parts.eta { 1 + columns(&eta) } else { 0 };
            let bar_min = if parts.bar { BAR.0 + 3 } else { 0 };
            // Room for a name even before the first, and the bar sized by the widest name so
            // far, not the one shown: the line keeps its layout while files come and go.
            let name_min = 1 + NAME.0;
            if fixed + bar_min + name_min > room {
                continue;
            }
            let spare = room - fixed;
            let bar = parts.bar.then(|| {
                let kept = 1 + widest.min(NAME.1);
                let inside = spare.saturating_sub(3 + kept).clamp(BAR.0, BAR.1);
                inside.min(spare - 3 - name_min)
            });
            let name_room = spare - bar.map_or(0, |b| b + 3);
            let name = shorten(name, name_room.saturating_sub(1).min(NAME.1));
            return self.assemble(&label, bar, bytes, parts, (&rate, &eta), &name);
        }
        // Narrower still: the label (if it fits) and the bytes, then what fits of the name.
        let bytes = bytes.trim_start();
        let line = format!("{} {bytes}", self.what);
        let line = if columns(&line) > room {
            bytes.to_owned()
        } else {
            line
        };
        let name_room = room.saturating_sub(columns(&line) + 1);
        let line = if name.is_empty() || name_room < 4 {
            line
        } else {
            format!("{line} {}", shorten(name, name_room))
        };
        console::truncate_str(&line, room, "").into_owned()
    }

    /// The parts joined: the label in bold.
    fn assemble(
        &self,
        label: &str,
        bar: Option<usize>,
        bytes: &str,
        parts: Parts,
        (rate, eta): (&str, &str),
        name: &str,
    ) -> String {
        let mut line = console::style(label).bold().for_stderr().to_string();
        if let Some(inside) = bar {
            line.push_str(" [");
            line.push_str(&bar_inside(self.done, self.total, inside));
            line.push(']');
        }
        line.push(' ');
        line.push_str(bytes);
        for (shown, part) in [(parts.rate, rate), (parts.eta, eta)] {
            if shown {
                line.push(' ');
                line.push_str(part);
            }
        }
        if !name.is_empty() {
            line.push(' ');
            line.push_str(name);
        }
        line
    }
}

/// `=====>    `: `width` columns, filled as far as `done` is of `total`.
fn bar_inside(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        width
    } else {
        let fraction = done.min(total) as f64 / total as f64;
        ((fraction * width as f64) as usize).min(width)
    };
    let mut inside = "=".repeat(filled);
    if filled < width {
        inside.push('>');
        inside.push_str(&" ".repeat(width - filled - 1));
    }
    inside
}

/// The end of a long name, marked as cut, in at most `max` columns: `…ors.safetensors`.
fn shorten(name: &str, max: usize) -> String {
    if columns(name) <= max {
        return name.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut tail = Vec::new();
    let mut used = 1;
    for c in name.chars().rev() {
        let mut buf = [0u8; 4];
        let width = columns(c.encode_utf8(&mut buf));
        if used + width > max {
            break;
        }
        used += width;
        tail.push(c);
    }
    std::iter::once('…').chain(tail.into_iter().rev()).collect()
}

/// A lock whose holder never panics while holding it; a poisoned one is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_keep_their_end() {
        assert_eq!(shorten("config.json", 12), "config.json");
        assert_eq!(
            shorten("model-00001-of-00004.safetensors", 12),
            "…safetensors"
        );
        assert_eq!(shorten("ééééééééééééé", 12).chars().count(), 12);
        // Wide characters take two columns each.
        assert_eq!(shorten("模型模型模型模型", 7), "…型模型");
        assert_eq!(shorten("abc", 0), "");
    }

    #[test]
    fn the_bar_names_the_largest_file_in_flight() {
        let bar = Bar::new(ProgressDrawTarget::hidden);
        bar.start("unpacking", 3 << 30);
        assert_eq!(bar.shown(), None);
        bar.file_started("config.json", 600);
        assert_eq!(bar.shown().as_deref(), Some("config.json"));
        bar.file_started("model.safetensors", 2 << 30);
        bar.file_started("tokenizer.json", 9 << 20);
        assert_eq!(bar.shown().as_deref(), Some("model.safetensors"));
        bar.file_finished("model.safetensors");
        assert_eq!(bar.shown().as_deref(), Some("tokenizer.json"));
        bar.file_finished("tokenizer.json");
        bar.file_finished("config.json");
        assert_eq!(bar.shown(), None);
        // Names from the input are escaped before they are shown.
        bar.file_started("evil\u{1b}[2J.bin", 1);
        assert_eq!(bar.shown().as_deref(), Some("evil\\u{1b}[2J.bin"));
        bar.finish();
        assert_eq!(bar.shown(), None);
    }

    fn frame(file: Option<&str>) -> Frame<'_> {
        Frame {
            what: "unpacking",
            done: 1_288_490_189,
            total: 2 << 30,
            per_sec: 123.45 * 1024.0 * 1024.0,
            eta: Duration::from_secs(75),
            file,
            widest: file.map_or(0, columns),
        }
    }

    #[test]
    fn lines_fit_every_width() {
        let long = "model-00001-of-00004.safetensors";
        for file in [
            None,
            Some("config.json"),
            Some(long),
            Some("模型模型模型模型模型.gguf"),
        ] {
            for width in 20..=200 {
                let line = frame(file).line(width);
                let shown = console::strip_ansi_codes(&line);
                assert!(columns(&shown) <= width, "{width}: {shown:?}");
                if width >= 40 {
                    assert!(shown.contains("1.20 GiB/2.00 GiB"), "{width}: {shown:?}");
                    if let Some(file) = file {
                        let end: String = file.chars().rev().take(4).collect();
                        let end: String = end.chars().rev().collect();
                        assert!(shown.ends_with(&end), "{width}: {shown:?}");
                    }
                }
                // The widest counts, an empty piece of work, a long label.
                let extremes = [
                    (1023 << 20, 1023 << 30, "downloading"),
                    (0, 0, "verifying"),
                    (u64::MAX, u64::MAX, "a-label-longer-than-eleven"),
                ];
                for (done, total, what) in extremes {
                    let line = Frame {
                        done,
                        total,
                        what,
                        per_sec: 1e15,
                        eta: Duration::from_secs(1 << 40),
                        ..frame(file)
                    }
                    .line(width);
                    let shown = console::strip_ansi_codes(&line);
                    assert!(columns(&shown) <= width, "{width}: {shown:?}");
                }
            }
        }
    }

    #[test]
    fn narrow_terminals_drop_the_rate_then_the_time_left_then_the_bar() {
        let line =
            |width, file| console::strip_ansi_codes(&frame(Some(file)).line(width)).into_owned();
        let short = "weights.bin";
        let long = "model-00001-of-00004.safetensors";
        let expected = [
            (
                100,
                short,
                "  unpacking [=====================>              ]   1.20 GiB/2.00 GiB 123.45 MiB/s 75s weights.bin",
            ),
            (
                100,
                long,
                "  unpacking [=========>      ]   1.20 GiB/2.00 GiB 123.45 MiB/s 75s model-00001-of-00004.safetensors",
            ),
            (
                80,
                long,
                "  unpacking [======>   ]   1.20 GiB/2.00 GiB 123.45 MiB/s 75s …00004.safetensors",
            ),
            (
                70,
                short,
                "  unpacking [===========>       ]   1.20 GiB/2.00 GiB 75s weights.bin",
            ),
            (
                60,
                short,
                "  unpacking [=======>     ]   1.20 GiB/2.00 GiB weights.bin",
            ),
            (
                60,
                long,
                "  unpacking [======>   ]   1.20 GiB/2.00 GiB …04.safetensors",
            ),
            (56, short, "  unpacking   1.20 GiB/2.00 GiB weights.bin"),
            (
                56,
                long,
                "  unpacking   1.20 GiB/2.00 GiB …01-of-00004.safetensors",
            ),
            (40, short, "unpacking 1.20 GiB/2.00 GiB weights.bin"),
            (40, long, "unpacking 1.20 GiB/2.00 GiB …safetensors"),
            (24, short, "1.20 GiB/2.00 GiB …s.bin"),
        ];
        for (width, file, want) in expected {
            assert_eq!(line(width, file), want, "{width} columns");
        }
    }
}
