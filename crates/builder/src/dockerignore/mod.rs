//! `.dockerignore`: which paths of the build context are left out, with
//! Docker's rules (moby/patternmatcher and its `ignorefile` reader). A line
//! starting with `#` is a comment; lines are trimmed, blank ones skipped;
//! `!` makes an exception; each pattern is cleaned as Go's
//! `filepath.Clean` and a leading `/` dropped, so `/foo`, `./foo` and
//! `foo/` all mean `foo`. A pattern excludes a path when it matches the
//! path or one of its parent directories; the last matching line decides.
//!
//! Where patternmatcher's regexp translation gives regexp meaning to an
//! escaped letter (`\d`, `\w`) or to `[[:alpha:]]`, this module keeps Go
//! `filepath.Match`'s literal meaning.

mod pattern;

use pattern::{clean, Pattern};

/// The parsed rules of one `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    exception: bool,
    text: String,
    pattern: Pattern,
}

/// A bad line of a `.dockerignore`, with its line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore line {line}: {message}")]
pub struct IgnoreError {
    pub line: usize,
    pub message: String,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<DockerIgnore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let Some(normalized) = normalize(line) else {
                continue;
            };
            let rule = Rule::new(&normalized).map_err(|message| IgnoreError {
                line: i + 1,
                message,
            })?;
            rules.push(rule);
        }
        Ok(DockerIgnore { rules })
    }

    /// The patterns as Docker keeps them (cleaned, `!` for exceptions).
    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.rules.iter().map(|r| {
            let bang = if r.exception { "!" } else { "" };
            format!("{bang}{}", r.text)
        })
    }

    /// Whether any line is an exception (`!pattern`).
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }

    /// Whether `path` (relative to the context root, `/`-separated; a
    /// leading `/` is ignored) is left out of the context. The root itself
    /// never is.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = relative(path);
        if path == "." {
            return false;
        }
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut excluded = false;
        for rule in &self.rules {
            // Only a rule that could change the answer is looked at.
            if rule.exception != excluded {
                continue;
            }
            if rule.pattern.matches(&path) || parents.iter().any(|p| rule.pattern.matches(p)) {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether a walker may skip directory `dir` without looking inside:
    /// it is excluded and no exception could re-include anything below it
    /// (so `!dir/keep` or `!**/keep` keep a walker going into an excluded
    /// `dir`; `!other/keep` does not).
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        if !self.is_excluded(dir) {
            return false;
        }
        let below = format!("{}/", relative(dir));
        !self
            .rules
            .iter()
            .any(|r| r.exception && r.pattern.may_match_below(&below))
    }
}

impl Rule {
    /// A pattern line as `ignorefile.ReadAll` left it, compiled as
    /// `patternmatcher.New` compiles it.
    fn new(line: &str) -> Result<Rule, String> {
        let cleaned = clean(line.trim());
        let (exception, text) = match cleaned.strip_prefix('!') {
            Some("") => return Err("illegal exclusion pattern: \"!\"".to_string()),
            Some(rest) => (true, rest),
            None => (false, cleaned.as_str()),
        };
        Ok(Rule {
            exception,
            text: text.to_string(),
            pattern: Pattern::compile(text)?,
        })
    }
}

/// One line of the file as Docker's reader normalizes it; `None` for a
/// comment (a `#` in the first column) or a blank line.
fn normalize(line: &str) -> Option<String> {
    if line.starts_with('#') {
        return None;
    }
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let (bang, pattern) = match line.strip_prefix('!') {
        Some(rest) => ("!", rest.trim()),
        None => ("", line),
    };
    let mut pattern = if pattern.is_empty() {
        String::new()
    } else {
        clean(pattern)
    };
    if pattern.len() > 1 && pattern.starts_with('/') {
        pattern.remove(0);
    }
    Some(format!("{bang}{pattern}"))
}

/// A context path cleaned, without a leading `/`.
fn relative(path: &str) -> String {
    let cleaned = clean(path);
    match cleaned.strip_prefix('/') {
        Some("") => ".".to_string(),
        Some(rest) => rest.to_string(),
        None => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_normalizes_as_ignorefile() {
        // moby/patternmatcher's ignorefile TestReadAll, minus the bare `!`
        // lines (which New refuses, below).
        let text =
            "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n";
        let ig = DockerIgnore::parse(text).unwrap();
        assert_eq!(
            ig.patterns().collect::<Vec<_>>(),
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path"
            ]
        );
        assert!(ig.has_exceptions());
        for bare in ["!", "! ", "a\n!\n"] {
            let e = DockerIgnore::parse(bare).unwrap_err();
            assert!(e.message.contains("illegal exclusion pattern"), "{bare:?}");
        }
        assert_eq!(DockerIgnore::parse("a\n[\n").unwrap_err().line, 2);
    }

    #[test]
    fn crlf_bom_and_indented_hash() {
        let ig = DockerIgnore::parse("\u{feff}a\r\n  # not a comment\r\n./b/\r\n").unwrap();
        assert_eq!(
            ig.patterns().collect::<Vec<_>>(),
            ["a", "# not a comment", "b"]
        );
        assert!(ig.is_excluded("# not a comment"));
        assert!(ig.is_excluded("b/x"));
    }

    #[test]
    fn root_and_leading_slash_paths() {
        let ig = DockerIgnore::parse("*\n").unwrap();
        assert!(!ig.is_excluded("."));
        assert!(!ig.is_excluded("/"));
        assert!(ig.is_excluded("/x"));
        assert!(ig.is_excluded("./x/"));
    }
}
