//! Formatting for people and for scripts.

use std::borrow::Cow;
use std::fmt::{self, Display, Write as _};

use serde::Serialize;

/// Text from an archive, a registry or a weight header, made safe to print for people (see
/// [`modeloci_spec::text::escape`]).
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    modeloci_spec::text::escape(text)
}

/// Displays a value (a string, a path's `display()`, an error) with [`escape`] applied to
/// everything it writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printable<T>(pub(crate) T);

/// Wraps untrusted text for printing: `outln!("{}", printable(&title))`.
pub(crate) fn printable<T: Display>(value: T) -> Printable<T> {
    Printable(value)
}

impl<T: Display> Display for Printable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Escaping<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                match escape(s) {
                    Cow::Borrowed(s) => self.0.write_str(s),
                    Cow::Owned(s) => self.0.write_str(&s),
                }
            }
        }
        write!(Escaping(f), "{}", self.0)
    }
}

/// Sizes as people read them: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A count with its noun, singular for one: `1 file`, `3 files`; `many` is the plural.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Names as a sentence lists them: `a`, `a and b`, `a, b and c`.
pub(crate) fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The tags a push or copy set: `tag 1.0.0`, `tags latest, 1.0.0`, `no tag`; escaped.
pub(crate) fn tags_phrase(tags: &[String]) -> String {
    let list = printable(tags.join(", ")).to_string();
    match tags.len() {
        0 => "no tag".to_owned(),
        1 => format!("tag {list}"),
        _ => format!("tags {list}"),
    }
}

/// `println!` that returns the write error instead of panicking, so that a closed pipe
/// (`modeloci inspect | head`) ends the command quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}
pub(crate) use outln;

/// Prints a JSON document on stdout.
pub(crate) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    outln!("{text}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{and_list, count, escape, human_size, printable};

    #[test]
    fn counts_and_lists() {
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(2, "copy", "copies"), "2 copies");
        assert_eq!(and_list(&["safetensors"]), "safetensors");
        assert_eq!(and_list(&["safetensors", "gguf"]), "safetensors and gguf");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("model.safetensors"), "model.safetensors");
        assert!(matches!(escape("plain é ü"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(
            escape("\x1b[2K\rOK    layer\x1b[8m"),
            "\\u{1b}[2K\\u{d}OK    layer\\u{1b}[8m"
        );
        assert_eq!(escape("a\nb\tc\0d\x7f"), "a\\u{a}b\\u{9}c\\u{0}d\\u{7f}");
        assert_eq!(escape("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        assert_eq!(
            escape("evil\u{202e}txt.exe\u{2066}\u{200f}"),
            "evil\\u{202e}txt.exe\\u{2066}\\u{200f}"
        );
        assert_eq!(
            printable(std::path::Path::new("dir/\x1bx").display()).to_string(),
            "dir/\\u{1b}x"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }
}
