//! Path patterns for `--include` (and the ModelPack profile's dataset patterns).
//!
//! The syntax is deliberately small: `*` matches any run of characters, `/` included, `?`
//! any one character, and every other character only itself (`[`, `]`, `{`, `}`, `\` and
//! `!` too). `globset` does the matching; a pattern is translated into globset syntax with
//! everything but `*` and `?` escaped, so globset's classes, alternations and `**` rules
//! never apply. Every string is therefore a valid pattern: there is nothing to reject.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use globset::{Candidate, GlobBuilder, GlobSet};

/// Whether `path` matches `pattern`, as `huggingface-cli download --include` matches: against
/// the whole relative path, `*` matching any run of characters (`/` included), `?` any one
/// character, any other character itself (case-sensitively). `*.json` therefore matches
/// `config.json` and `nested/extra.json`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    // Callers test every path of an archive against the same few patterns: compile once.
    const MAX_CACHED: usize = 256;
    thread_local! {
        static COMPILED: RefCell<HashMap<String, Pattern>> = RefCell::new(HashMap::new());
    }
    COMPILED.with(|compiled| {
        let mut compiled = compiled.borrow_mut();
        if !compiled.contains_key(pattern) {
            if compiled.len() >= MAX_CACHED {
                compiled.clear();
            }
            compiled.insert(pattern.to_owned(), Pattern::new(pattern));
        }
        compiled[pattern].is_match(path)
    })
}

/// A compiled pattern.
#[derive(Debug)]
struct Pattern {
    /// Matches paths as they are. globset matches bytes, so this is exact unless `?` meets a
    /// character of several UTF-8 bytes (a literal or `*` cannot split one: UTF-8 is
    /// self-synchronising).
    bytes: Option<GlobSet>,
    /// Whether the pattern has a `?`.
    any: bool,
    /// For patterns with `?`: matches paths spelled by [`spell_wide`], every character in
    /// [`WIDE`] bytes, so that `?` is one character whatever its encoding.
    wide: Option<GlobSet>,
    /// The pattern, for the only case globset refuses it (see [`Pattern::is_match`]).
    source: String,
}

impl Pattern {
    fn new(pattern: &str) -> Self {
        let any = pattern.contains('?');
        Self {
            bytes: compile(&translate(pattern, false)),
            any,
            wide: if any {
                compile(&translate(pattern, true))
            } else {
                None
            },
            source: pattern.to_owned(),
        }
    }

    fn is_match(&self, path: &str) -> bool {
        let (matcher, spelled) = if self.any && !path.is_ascii() {
            (&self.wide, Cow::Owned(spell_wide(path)))
        } else {
            (&self.bytes, Cow::Borrowed(path))
        };
        match matcher {
            Some(m) => m.is_match_candidate(&Candidate::from_bytes(spelled.as_bytes())),
            // globset refuses a translated pattern only when its automaton is over its
            // 10 MiB limit: patterns far longer than any path (4 KiB ones compile, a
            // 128 KiB one with `?` does not). Such a pattern then matches only the path that
            // is exactly its text: never more than the user wrote.
            None => self.source == path,
        }
    }
}

/// The glob compiled, or `None` when globset refuses it. (A set of one: `GlobSet` reports
/// an automaton over the size limit as an error, where `Glob::compile_matcher` panics.)
fn compile(glob: &str) -> Option<GlobSet> {
    let glob = GlobBuilder::new(glob)
        // `*` and `?` cross `/` (the default, spelled out: it is the point).
        .literal_separator(false)
        // `\` is an ordinary character, as in the reference.
        .backslash_escape(false)
        .build()
        .ok()?;
    GlobSet::builder().add(glob).build().ok()
}

/// The pattern in globset syntax: runs of `*` become one `*` (the same thing here, and it
/// keeps globset from reading `**` as "any directories, or none"), `?` stays, globset's
/// other special characters are escaped as one-character classes. With `wide`, characters
/// are spelled as [`spell_wide`] spells them and `?` becomes [`WIDE`] `?`s.
fn translate(pattern: &str, wide: bool) -> String {
    let mut out = String::with_capacity(pattern.len() * if wide { WIDE } else { 1 });
    let mut prev_star = false;
    for c in pattern.chars() {
        match c {
            '*' if prev_star => {}
            '*' => out.push('*'),
            '?' if wide => out.extend(std::iter::repeat_n('?', WIDE)),
            '?' => out.push('?'),
            c if wide => out.push_str(&wide_char(c)),
            '[' | ']' | '{' | '}' => out.extend(['[', c, ']']),
            c => out.push(c),
        }
        prev_star = c == '*';
    }
    out
}

/// Bytes per character in the wide spelling: a marker and four base-64 digits of the code
/// point (24 bits hold all 21).
const WIDE: usize = 5;

/// The marker that starts every wide character; the digits never include it, so a wide
/// literal can only match at a character boundary.
const WIDE_MARK: char = '#';

/// The digits of the wide spelling: none is special to globset.
const WIDE_DIGITS: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-";

fn wide_char(c: char) -> String {
    let code = u32::from(c);
    let mut out = String::with_capacity(WIDE);
    out.push(WIDE_MARK);
    for shift in [18, 12, 6, 0] {
        out.push(char::from(WIDE_DIGITS[(code >> shift & 63) as usize]));
    }
    out
}

fn spell_wide(path: &str) -> String {
    path.chars().map(wide_char).collect()
}

#[cfg(test)]
mod tests {
    use super::{Pattern, glob_match};

    #[test]
    fn patterns() {
        for (pattern, path, expected) in [
            ("*.safetensors", "model-00001-of-00002.safetensors", true),
            ("*.json", "nested/deep/config.json", true),
            ("*.json", "config.json.bak", false),
            ("tokenizer*", "tokenizer_config.json", true),
            (
                "model-0000?-of-*.safetensors",
                "model-00002-of-00002.safetensors",
                true,
            ),
            ("configs/*", "configs/a/b.yaml", true),
            ("configs/*", "other/configs/a", false),
            ("README.md", "README.md", true),
            ("README.md", "docs/README.md", false),
            ("*", "anything/at/all", true),
            ("", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
        ] {
            assert_eq!(glob_match(pattern, path), expected, "{pattern} vs {path}");
        }
    }

    /// Each row: a pattern, then paths it matches and paths it does not.
    fn check(rows: &[(&str, &[&str], &[&str])]) {
        for (pattern, yes, no) in rows {
            for path in *yes {
                assert!(
                    glob_match(pattern, path),
                    "{pattern:?} should match {path:?}"
                );
            }
            for path in *no {
                assert!(
                    !glob_match(pattern, path),
                    "{pattern:?} should not match {path:?}"
                );
            }
        }
    }

    #[test]
    fn star_crosses_slashes() {
        check(&[
            (
                "*.json",
                &["a.json", "a/b.json", "a/b/c.json", ".json"],
                &["a.jsonl"],
            ),
            ("a/*/c", &["a/b/c", "a/b/x/c", "a//c"], &["a/c", "b/a/b/c"]),
            ("*/x", &["a/x", "/x", "a/b/x"], &["x"]),
        ]);
    }

    #[test]
    fn question_mark_is_one_character_slash_and_non_ascii_included() {
        check(&[
            (
                "a?c",
                &["abc", "a/c", "a.c", "aéc", "a😀c"],
                &["ac", "abbc", "aébc"],
            ),
            ("??", &["ab", "é😀", "éa"], &["é", "a", "abc", "ééé"]),
            ("*?", &["a", "é", "ab"], &[""]),
            ("é?", &["éé", "éa"], &["é", "ééé"]),
            ("?é*", &["aé", "ééx"], &["é", "e"]),
        ]);
    }

    #[test]
    fn brackets_braces_backslashes_and_bangs_are_literal() {
        check(&[
            ("[abc].bin", &["[abc].bin"], &["a.bin", "b.bin"]),
            ("model[1].bin", &["model[1].bin"], &["model1.bin"]),
            ("[!a]", &["[!a]"], &["b"]),
            ("[", &["["], &[""]),
            ("]", &["]"], &[]),
            ("{a,b}.txt", &["{a,b}.txt"], &["a.txt", "b.txt"]),
            ("a,b", &["a,b"], &["a"]),
            ("{", &["{"], &[]),
            ("}", &["}"], &[]),
            ("a\\*", &["a\\", "a\\b/c"], &["a*", "a"]),
            ("\\", &["\\"], &[""]),
            ("!x", &["!x"], &["y"]),
        ]);
    }

    #[test]
    fn double_star_is_just_a_star() {
        check(&[
            ("**", &["", "a", "a/b/c"], &[]),
            ("**/x", &["a/x", "a/b/x", "/x"], &["x"]),
            ("a/**/b", &["a/x/b", "a/x/y/b", "a//b"], &["a/b"]),
            ("a/**", &["a/", "a/b", "a/b/c"], &["a", "b/a/c"]),
            ("a**b", &["ab", "a/b", "axb"], &["a"]),
        ]);
    }

    #[test]
    fn leading_dot_slash_case_and_dots_are_literal() {
        check(&[
            ("./config.json", &["./config.json"], &["config.json"]),
            (
                "config.json",
                &["config.json"],
                &["./config.json", "Config.json"],
            ),
            ("*.JSON", &["a.JSON"], &["a.json"]),
            ("README*", &["README.md"], &["readme.md"]),
            ("a.b", &["a.b"], &["axb", "a/b"]),
            (".*", &[".gitattributes", ".a/b"], &["a.b"]),
            ("*.", &["a."], &["a"]),
        ]);
    }

    #[test]
    fn the_wide_spelling_cannot_be_fooled_by_the_marker() {
        check(&[
            ("#?", &["#é", "##"], &["é", "#"]),
            ("?#", &["é#"], &["#"]),
            ("é#?", &["é#a"], &["é#"]),
        ]);
    }

    #[test]
    fn long_patterns_compile_and_match() {
        let pattern = format!("*{}", "a?[".repeat(300));
        let p = Pattern::new(&pattern);
        assert!(p.bytes.is_some() && p.wide.is_some());
        assert!(p.is_match(&format!("x/{}", "a?[".repeat(300))));
        assert!(p.is_match(&"a/[".repeat(300)));
        assert!(p.is_match(&"aé[".repeat(300)));
        assert!(!p.is_match(&"a?]".repeat(300)));
    }

    /// The matcher globset replaced: the reference semantics, on characters.
    fn reference(pattern: &str, path: &str) -> bool {
        let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
        let (mut pi, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
                pi += 1;
                si += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, si));
                pi += 1;
            } else if let Some((sp, ss)) = star {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }

    /// Every string of up to `len` characters from `alphabet`.
    fn strings(alphabet: &[char], len: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |&c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn agrees_with_the_reference_matcher_on_every_short_pattern_and_path() {
        let patterns = strings(&['*', '?', 'a', '/', '[', ']', '{', ',', '\\', 'é', '#'], 3);
        let paths = strings(&['a', 'b', '/', '[', '{', 'é', '#', '😀'], 3);
        for pattern in &patterns {
            let compiled = Pattern::new(pattern);
            for path in &paths {
                assert_eq!(
                    compiled.is_match(path),
                    reference(pattern, path),
                    "{pattern:?} vs {path:?}"
                );
            }
        }
    }
}
