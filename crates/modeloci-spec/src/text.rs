//! Untrusted text (from an archive, a registry, a weight header) made safe for a terminal,
//! for every front end that shows it to people: the command's output, a Python exception's
//! message.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is: C0 controls (newline and tab included),
/// DEL, C1 controls, and the Unicode bidirectional controls (embeddings, overrides, isolates,
/// marks), which reorder what follows them on the line.
pub fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every character [`is_hostile`] refuses written as Rust writes it escaped:
/// `\u{1b}` for ESC, `\u{d}` for CR, `\u{202e}` for RIGHT-TO-LEFT OVERRIDE. Other text,
/// backslashes included, is unchanged. JSON needs none of this: serde escapes it.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hostile) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hostile(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
