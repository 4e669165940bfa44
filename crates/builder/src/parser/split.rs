//! Splitting a logical line as Docker's parser does: the instruction word,
//! the `--flags` before the arguments, whitespace-separated words, and
//! quote-aware words for ENV, LABEL and ARG (quotes kept: substitution
//! removes them later).

/// The characters Docker's parser splits arguments on (`[\t\v\f\r ]+`).
pub(super) fn is_split_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// Splits on runs of [`is_split_space`]; empty input gives no words.
pub(super) fn split_whitespace(rest: &str) -> Vec<String> {
    rest.split(is_split_space)
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// A logical line cut into the instruction word, its raw flag words
/// (`--name=value`, quotes and `\` escapes processed) and the rest.
pub(super) struct CommandLine<'a> {
    pub(super) word: &'a str,
    pub(super) flags: Vec<String>,
    pub(super) rest: String,
}

pub(super) fn split_command(line: &str) -> CommandLine<'_> {
    let line = line.trim();
    let (word, after) = match line.find(is_split_space) {
        Some(i) => (&line[..i], line[i..].trim_start_matches(is_split_space)),
        None => (line, ""),
    };
    let (rest, flags) = extract_flags(after);
    CommandLine {
        word,
        flags,
        rest: rest.trim().to_string(),
    }
}

#[derive(PartialEq)]
enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Reads leading words that start with `--` as flags; the first other word
/// (or a lone `--`) starts the arguments. Flags always use `\` as escape.
fn extract_flags(line: &str) -> (&str, Vec<String>) {
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut chars = line.char_indices().peekable();
    while let Some((pos, c)) = chars.next() {
        match phase {
            Phase::Spaces => {
                if c.is_whitespace() {
                    continue;
                }
                if !line[pos..].starts_with("--") {
                    return (&line[pos..], flags);
                }
                phase = Phase::Word;
                word.push(c);
            }
            Phase::Word => {
                if c.is_whitespace() {
                    if word == "--" {
                        return (&line[pos..], flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                } else if c == '\'' || c == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(c);
                } else if c == '\\' {
                    if let Some((_, e)) = chars.next() {
                        word.push(e);
                    }
                } else {
                    word.push(c);
                }
            }
            Phase::Quote(q) => {
                if c == q {
                    phase = Phase::Word;
                } else if c == '\\' {
                    match chars.next() {
                        Some((_, e)) => word.push(e),
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(c);
                }
            }
        }
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push(word);
    }
    ("", flags)
}

/// Words separated by whitespace, where quotes group and the escape
/// character protects the next character; quotes and escapes stay in the
/// words (Docker's `parseWords`, used by ENV, LABEL and ARG).
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if phase == Phase::Spaces {
            if c.is_whitespace() {
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word => {
                if c.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                    continue;
                }
                if c == '\'' || c == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(c);
                }
                if c == escape {
                    // An escape at the very end is dropped.
                    let Some(e) = chars.next() else { continue };
                    word.push(c);
                    word.push(e);
                    continue;
                }
                word.push(c);
            }
            Phase::Quote(q) => {
                if c == q {
                    phase = Phase::Word;
                }
                if c == escape && q != '\'' {
                    let Some(e) = chars.next() else {
                        phase = Phase::Word;
                        continue;
                    };
                    word.push(c);
                    word.push(e);
                    continue;
                }
                word.push(c);
            }
            Phase::Spaces => unreachable!("left above"),
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_words_keeps_quotes_and_escapes() {
        // Docker's TestParseWords table.
        let cases: &[(&str, &[&str])] = &[
            ("foo", &["foo"]),
            ("foo bar", &["foo", "bar"]),
            ("foo\\ bar", &["foo\\ bar"]),
            ("foo=bar", &["foo=bar"]),
            ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
            ("foo bar \"abc xyz\"", &["foo", "bar", "\"abc xyz\""]),
            ("àöû", &["àöû"]),
            ("föo bàr \"âbc xÿz\"", &["föo", "bàr", "\"âbc xÿz\""]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_words(input, '\\'), *want, "{input:?}");
        }
        assert_eq!(
            parse_words("a=\"x \\\" y\" b=''", '\\'),
            ["a=\"x \\\" y\"", "b=''"]
        );
        assert_eq!(parse_words("a='x \\' b", '\\'), ["a='x \\'", "b"]);
        // The backtick escapes the first space only.
        assert_eq!(parse_words("k=v`  x", '`'), ["k=v` ", "x"]);
    }

    #[test]
    fn flags_stop_at_the_first_other_word() {
        let c = split_command("COPY --from=build --chown=\"a b\" --link src dst");
        assert_eq!(c.word, "COPY");
        assert_eq!(c.flags, ["--from=build", "--chown=a b", "--link"]);
        assert_eq!(c.rest, "src dst");

        let c = split_command("  run   --mount=type=cache,target=/x -- --not-a-flag");
        assert_eq!(c.word, "run");
        assert_eq!(c.flags, ["--mount=type=cache,target=/x"]);
        // A lone `--` ends the flags and is dropped.
        assert_eq!(c.rest, "--not-a-flag");

        let c = split_command("RUN -x --y");
        assert!(c.flags.is_empty());
        assert_eq!(c.rest, "-x --y");

        let c = split_command("COPY --from=a");
        assert_eq!(c.flags, ["--from=a"]);
        assert_eq!(c.rest, "");

        let c = split_command("FROM");
        assert_eq!((c.word, c.rest.as_str()), ("FROM", ""));
    }

    #[test]
    fn whitespace_split_ignores_runs() {
        assert_eq!(split_whitespace("a \t b\x0bc"), ["a", "b", "c"]);
        assert!(split_whitespace("").is_empty());
    }
}
