//! Path patterns for `--include`.

/// Whether `path` matches `pattern`, as `huggingface-cli download --include` matches: against
/// the whole relative path, `*` matching any run of characters (`/` included), `?` any one
/// character. `*.json` therefore matches `config.json` and `nested/extra.json`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    // Iterative wildcard matching with backtracking to the last `*`.
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

#[cfg(test)]
mod tests {
    use super::glob_match;

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
}
