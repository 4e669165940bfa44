//! One `.dockerignore` pattern, matched as moby/patternmatcher matches it:
//! Go's `filepath.Match` syntax (checked the way `filepath.Match` checks
//! it), where `*` and `?` stop at `/` and a `[...]` class is one character
//! (`^` negates; `!` is an ordinary member), plus `**`: `**/` (or `**` in
//! the middle) is any number of leading directories including none, a
//! trailing `**` is anything. A pattern that begins with `**` and has no
//! other wildcard is patternmatcher's suffix match: the path need only end
//! with the rest (`**foo` matches `xfoo`).

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pattern {
    Suffix(String),
    Tokens(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Char(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any run of characters without `/`.
    Star,
    /// `[...]`: one character, `/` included.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**/` or an inner `**`: nothing, or anything ending in `/`.
    Dirs,
    /// A trailing `**`: anything.
    Rest,
}

impl Pattern {
    /// Compiles a cleaned pattern; errors as Docker does for a bad one
    /// (Go's `ErrBadPattern`, or a class range Go's regexp refuses).
    pub(super) fn compile(pattern: &str) -> Result<Pattern, String> {
        let bad = || format!("syntax error in pattern: {pattern:?}");
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        let mut literal_after_leading_stars = true;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    let leading = i <= 3 && tokens.is_empty();
                    tokens.push(if i == chars.len() && !leading {
                        Token::Rest
                    } else {
                        Token::Dirs
                    });
                    if !leading {
                        literal_after_leading_stars = false;
                    }
                }
                '*' => {
                    tokens.push(Token::Star);
                    literal_after_leading_stars = false;
                }
                '?' => {
                    tokens.push(Token::One);
                    literal_after_leading_stars = false;
                }
                '\\' => {
                    let escaped = *chars.get(i).ok_or_else(bad)?;
                    i += 1;
                    tokens.push(Token::Char(escaped));
                    literal_after_leading_stars = false;
                }
                '[' => {
                    let (class, next) = class(&chars, i).ok_or_else(bad)?;
                    tokens.push(class);
                    i = next;
                    literal_after_leading_stars = false;
                }
                _ => {
                    // patternmatcher treats a lone `]` as regexp syntax too.
                    if c == ']' {
                        literal_after_leading_stars = false;
                    }
                    tokens.push(Token::Char(c));
                }
            }
        }
        if tokens.first() == Some(&Token::Dirs)
            && pattern.starts_with("**")
            && literal_after_leading_stars
        {
            return Ok(Pattern::Suffix(pattern[2..].to_string()));
        }
        Ok(Pattern::Tokens(tokens))
    }

    /// Whether the pattern matches all of `path`.
    pub(super) fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Pattern::Tokens(tokens) => {
                let end = path
                    .chars()
                    .fold(start(tokens), |states, c| step(tokens, &states, c));
                end.contains(&State::At(tokens.len()))
            }
        }
    }

    /// Whether some path that begins with `prefix` could match.
    pub(super) fn may_match_below(&self, prefix: &str) -> bool {
        match self {
            Pattern::Suffix(_) => true,
            Pattern::Tokens(tokens) => {
                let states = prefix
                    .chars()
                    .fold(start(tokens), |states, c| step(tokens, &states, c));
                !states.is_empty()
            }
        }
    }
}

/// Parses a class after its `[`, with Go's `filepath.Match` rules: an
/// optional `^`, then at least one character or range (`\` escapes; an
/// unescaped `-` or `]` cannot start one), then `]`. Returns the token
/// and the index after the `]`.
fn class(chars: &[char], mut i: usize) -> Option<(Token, usize)> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        let (lo, next) = class_char(chars, i)?;
        i = next;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            (hi, i) = class_char(chars, i + 1)?;
        }
        // Go's Match accepts a backwards range; the regexp Docker builds
        // from the pattern does not, so Docker fails on it.
        if hi < lo {
            return None;
        }
        ranges.push((lo, hi));
    }
}

fn class_char(chars: &[char], mut i: usize) -> Option<(char, usize)> {
    let c = *chars.get(i)?;
    if c == '-' || c == ']' {
        return None;
    }
    if c == '\\' {
        i += 1;
    }
    let c = *chars.get(i)?;
    // The class must still be closed after this character.
    chars.get(i + 1)?;
    Some((c, i + 1))
}

/// NFA states: before token n, or inside the `Dirs` token n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    At(usize),
    InDirs(usize),
}

/// Adds `s` and the states reachable from it without input.
fn close(tokens: &[Token], states: &mut Vec<State>, s: State) {
    if states.contains(&s) {
        return;
    }
    states.push(s);
    if let State::At(n) = s {
        if matches!(tokens.get(n), Some(Token::Star | Token::Dirs | Token::Rest)) {
            close(tokens, states, State::At(n + 1));
        }
    }
}

fn start(tokens: &[Token]) -> Vec<State> {
    let mut states = Vec::new();
    close(tokens, &mut states, State::At(0));
    states
}

fn step(tokens: &[Token], states: &[State], c: char) -> Vec<State> {
    let mut next = Vec::new();
    for &s in states {
        match s {
            State::InDirs(n) => {
                close(tokens, &mut next, State::InDirs(n));
                if c == '/' {
                    close(tokens, &mut next, State::At(n + 1));
                }
            }
            State::At(n) => match tokens.get(n) {
                None => {}
                Some(Token::Char(t)) if *t == c => close(tokens, &mut next, State::At(n + 1)),
                Some(Token::Char(_)) => {}
                Some(Token::One) if c != '/' => close(tokens, &mut next, State::At(n + 1)),
                Some(Token::One) => {}
                Some(Token::Star) if c != '/' => close(tokens, &mut next, State::At(n)),
                Some(Token::Star) => {}
                Some(Token::Class { negated, ranges }) => {
                    let hit = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                    if hit != *negated {
                        close(tokens, &mut next, State::At(n + 1));
                    }
                }
                Some(Token::Dirs) => {
                    close(tokens, &mut next, State::InDirs(n));
                    if c == '/' {
                        close(tokens, &mut next, State::At(n + 1));
                    }
                }
                Some(Token::Rest) => close(tokens, &mut next, State::At(n)),
            },
        }
    }
    next
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub(super) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Pattern::compile(pattern).unwrap().matches(path)
    }

    #[test]
    fn go_clean() {
        for (input, want) in [
            ("", "."),
            ("./foo", "foo"),
            ("foo/", "foo"),
            ("/foo/../..", "/"),
            ("a//b/./c/..", "a/b"),
            ("../a", "../a"),
            ("a/../../b", "../b"),
            ("/", "/"),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn suffix_quirk_and_double_star_forms() {
        assert_eq!(
            Pattern::compile("**").unwrap(),
            Pattern::Suffix(String::new())
        );
        assert_eq!(
            Pattern::compile("**/dir").unwrap(),
            Pattern::Suffix("/dir".into())
        );
        assert!(m("**foo", "a/xfoo"), "suffix match needs no separator");
        assert!(!m("**/foo", "a/xfoo"));
        assert!(m("**/foo", "foo"));
        // An inner `**` must end at a `/`: `a**b` is `a(.*/)?b`.
        assert!(m("a**b", "ab") && m("a**b", "ax/b") && !m("a**b", "axb"));
        assert!(m("a/**", "a/b/c") && !m("a/**", "a"));
    }

    #[test]
    fn classes() {
        assert!(
            m("[!a]", "!") && !m("[!a]", "b"),
            "! is a member, not negation"
        );
        assert!(m("a[^x]b", "a/b"), "a class matches /");
        assert!(m("[\\]a]", "]") && m("[\\-x]", "-"));
        for bad in [
            "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "[z-a]",
        ] {
            assert!(Pattern::compile(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn may_match_below() {
        let p = Pattern::compile("a/*/keep").unwrap();
        assert!(p.may_match_below("a/"));
        assert!(p.may_match_below("a/x/"));
        assert!(!p.may_match_below("b/"));
        assert!(!p.may_match_below("a/x/y/"));
        assert!(Pattern::compile("**/keep").unwrap().may_match_below("z/"));
        assert!(Pattern::compile("x/**/keep")
            .unwrap()
            .may_match_below("x/a/b/"));
    }
}
