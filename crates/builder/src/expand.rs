//! Docker's variable substitution and word processing, as BuildKit's shell
//! lexer (`frontend/dockerfile/shell`) does it: `$V`, `${V}`, `${V:-w}`,
//! `${V-w}`, `${V:+w}`, `${V+w}`, `${V:?msg}`, `${V?msg}`, quotes, and the
//! Dockerfile's escape character. It is a pure function of the text and an
//! environment lookup: which variables are in scope (ARG, ENV, build args)
//! is the executor's business.
//!
//! Two entry points, as Docker has:
//! - [`word`] (`ProcessWord`): one string, quotes removed, spaces kept —
//!   ENV/LABEL keys and values, paths of COPY/ADD, USER, WORKDIR, …
//! - [`words`] (`ProcessWords`): split into words after substitution; a
//!   space that came from a variable splits, a quoted one does not (EXPOSE).
//!
//! Not supported, as in Docker's classic builder: the `#`, `%` and `/`
//! pattern modifiers (an error names the modifier).

use crate::keyword::Keyword;

/// A variable's value, or `None` when it is not set (set-but-empty is
/// `Some("")`: `${V-w}` and `${V:-w}` tell them apart).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {source_text:?}: {message}")]
pub struct ExpandError {
    pub source_text: String,
    pub message: String,
}

/// Substitutes variables in `text` and removes quotes (Docker's
/// `ProcessWord`).
pub fn word(text: &str, escape: char, env: Lookup) -> Result<String, ExpandError> {
    Lexer::new(escape).process(text, env).map(|(w, _)| w)
}

/// Substitutes variables in `text` and splits it into words (Docker's
/// `ProcessWords`). An empty quoted word (`""`) yields no word, as in Docker.
pub fn words(text: &str, escape: char, env: Lookup) -> Result<Vec<String>, ExpandError> {
    Lexer::new(escape).process(text, env).map(|(_, ws)| ws)
}

/// How Docker substitutes variables in an instruction's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expansion {
    /// Each argument through [`word`]: ADD COPY ENV FROM LABEL STOPSIGNAL
    /// USER VOLUME WORKDIR, and ARG defaults (`ARG B=$A`). For COPY/ADD
    /// this includes the sources, the destination and the `--from`,
    /// `--chown` and `--chmod` values; for FROM the `--platform` value.
    Word,
    /// Each argument through [`words`], the results concatenated: EXPOSE
    /// (`EXPOSE $PORTS` with `PORTS="80 443"` exposes two ports).
    Words,
}

/// The substitution table: `None` for the instructions whose text Docker
/// leaves alone (RUN, CMD, ENTRYPOINT and SHELL are the shell's business;
/// HEALTHCHECK and MAINTAINER are stored as written). ONBUILD itself is not
/// expanded: its trigger is, by the trigger's own rule, when a child build
/// runs it.
pub fn expansion(keyword: Keyword) -> Option<Expansion> {
    match keyword {
        Keyword::Add
        | Keyword::Arg
        | Keyword::Copy
        | Keyword::Env
        | Keyword::From
        | Keyword::Label
        | Keyword::StopSignal
        | Keyword::User
        | Keyword::Volume
        | Keyword::Workdir => Some(Expansion::Word),
        Keyword::Expose => Some(Expansion::Words),
        Keyword::Cmd
        | Keyword::Entrypoint
        | Keyword::Healthcheck
        | Keyword::Maintainer
        | Keyword::Onbuild
        | Keyword::Run
        | Keyword::Shell => None,
    }
}

/// The lexer with BuildKit's switches. The parser uses the raw modes to
/// find heredoc words in a line without substituting anything.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer {
    escape: char,
    /// Keep quote characters in the output.
    pub(crate) raw_quotes: bool,
    /// Keep escape characters in the output.
    pub(crate) raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub(crate) skip_unset: bool,
}

impl Lexer {
    pub(crate) fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    /// The processed string and its words.
    pub(crate) fn process(
        &self,
        text: &str,
        env: Lookup,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut run = Run {
            lexer: self,
            chars: text.chars().collect(),
            pos: 0,
            env,
        };
        run.until(None).map_err(|message| ExpandError {
            source_text: text.to_string(),
            message,
        })
    }
}

/// Words being collected: whitespace typed in the text or produced by a
/// variable splits; quoted or escaped characters never do.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Run<'a> {
    lexer: &'a Lexer,
    chars: Vec<char>,
    pos: usize,
    env: Lookup<'a>,
}

impl Run<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes up to `stop` (consumed) or the end of the text.
    fn until(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut out = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((out, words.finish()));
            }
            match c {
                '\'' => {
                    let s = self.single_quoted()?;
                    words.add_raw_string(&s);
                    out.push_str(&s);
                }
                '"' => {
                    let s = self.double_quoted()?;
                    words.add_raw_string(&s);
                    out.push_str(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    words.add_string(&s);
                    out.push_str(&s);
                }
                _ => {
                    self.pos += 1;
                    if c == self.lexer.escape {
                        if self.lexer.raw_escapes {
                            words.add_raw_char(c);
                            out.push(c);
                        }
                        // An escape at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        out.push(escaped);
                    } else {
                        words.add_char(c);
                        out.push(c);
                    }
                }
            }
        }
        match stop {
            Some('}') => Err("syntax error: missing '}'".to_string()),
            Some(s) => Err(format!(
                "unexpected end of statement while looking for matching {s}"
            )),
            None => Ok((out, words.finish())),
        }
    }

    /// Everything up to the next `'` as is: nothing escapes in single quotes.
    fn single_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut s = String::new();
        if self.lexer.raw_quotes {
            s.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    )
                }
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        s.push('\'');
                    }
                    return Ok(s);
                }
                Some(c) => s.push(c),
            }
        }
    }

    /// Up to the next unescaped `"`, substituting variables; the escape
    /// character only escapes `"`, `$` and itself, as in sh.
    fn double_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut s = String::new();
        if self.lexer.raw_quotes {
            s.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_string(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        s.push('"');
                    }
                    return Ok(s);
                }
                Some('$') => s.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    if c != self.lexer.escape {
                        s.push(c);
                        continue;
                    }
                    match self.peek() {
                        // An escape just before the end is dropped; the
                        // missing quote is reported next.
                        None => {}
                        Some(e) if e == '"' || e == '$' || e == self.lexer.escape => {
                            if self.lexer.raw_escapes {
                                s.push(c);
                            }
                            self.pos += 1;
                            s.push(e);
                        }
                        Some(_) => s.push(c),
                    }
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// A `$` reference, the `$` not yet consumed.
    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lexer.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        let (modifier, null_is_unset) = match self.next() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('}') => {
                return Ok(match self.lookup(&name) {
                    Some(v) => v,
                    None if self.lexer.skip_unset => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            Some(':') => (self.next(), true),
            Some(c @ ('+' | '-' | '?')) => (Some(c), false),
            Some(c) => return Err(format!("unsupported modifier ({c}) in substitution")),
        };
        let (word, _) = self.until(Some('}'))?;
        let spelled = format!(
            "{}{}",
            if null_is_unset { ":" } else { "" },
            modifier.map(String::from).unwrap_or_default()
        );
        let value = self.lookup(&name);
        if value.is_none() && self.lexer.skip_unset {
            return Ok(format!("${{{name}{spelled}{word}}}"));
        }
        let unset = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match modifier {
            Some('-') => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            Some('+') => Ok(if unset { String::new() } else { word }),
            Some('?') if unset => {
                let message = match (&value, word.is_empty()) {
                    (_, false) => word,
                    (None, true) => "is not allowed to be unset".to_string(),
                    (Some(_), true) => "is not allowed to be empty".to_string(),
                };
                Err(format!("{name}: {message}"))
            }
            Some('?') => Ok(value.unwrap_or_default()),
            _ => Err(format!("unsupported modifier ({spelled}) in substitution")),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits (a
    /// positional parameter); or one special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_numeric() {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphabetic() || c.is_numeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn w(text: &str, vars: &HashMap<String, String>) -> Result<String, ExpandError> {
        word(text, '\\', &|k| vars.get(k).cloned())
    }

    #[test]
    fn set_empty_and_unset_differ_only_without_colon() {
        let vars = env(&[("E", ""), ("S", "x")]);
        let cases = [
            ("${E-d}", ""),
            ("${E:-d}", "d"),
            ("${U-d}", "d"),
            ("${U:-d}", "d"),
            ("${S-d}", "x"),
            ("${E+a}", "a"),
            ("${E:+a}", ""),
            ("${U+a}", ""),
            ("${S:+a}", "a"),
            ("${E?}", ""),
            ("${S:?}", "x"),
        ];
        for (text, want) in cases {
            assert_eq!(w(text, &vars).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn question_mark_errors_name_the_variable() {
        let vars = env(&[("E", "")]);
        let e = w("${U?}", &vars).unwrap_err();
        assert_eq!(e.message, "U: is not allowed to be unset");
        let e = w("${E:?}", &vars).unwrap_err();
        assert_eq!(e.message, "E: is not allowed to be empty");
        let e = w("${U:?need U set}", &vars).unwrap_err();
        assert_eq!(e.message, "U: need U set");
        assert_eq!(
            e.to_string(),
            "failed to process \"${U:?need U set}\": U: need U set"
        );
    }

    #[test]
    fn unsupported_modifiers_are_errors() {
        let vars = env(&[("S", "foobar")]);
        for text in ["${S:=x}", "${S#foo}", "${S%bar}", "${S/o/0}", "${S:#x}"] {
            assert!(w(text, &vars).is_err(), "{text}");
        }
    }

    #[test]
    fn backtick_escape() {
        let vars = env(&[("P", "/home")]);
        let f = |k: &str| vars.get(k).cloned();
        assert_eq!(word("`$P", '`', &f).unwrap(), "$P");
        assert_eq!(word("\\$P", '`', &f).unwrap(), "\\/home");
        assert_eq!(word("\"a`\"b\"", '`', &f).unwrap(), "a\"b");
        assert_eq!(word("c:\\dir", '`', &f).unwrap(), "c:\\dir");
    }

    #[test]
    fn words_split_on_expanded_spaces_not_quoted_ones() {
        let vars = env(&[("PORTS", "80 443/udp"), ("Q", "a b")]);
        let f = |k: &str| vars.get(k).cloned();
        assert_eq!(
            words("$PORTS 8080", '\\', &f).unwrap(),
            ["80", "443/udp", "8080"]
        );
        assert_eq!(words("\"$Q\" c", '\\', &f).unwrap(), ["a b", "c"]);
        assert_eq!(words("x\\ y", '\\', &f).unwrap(), ["x y"]);
        assert_eq!(words("a \"\" b", '\\', &f).unwrap(), ["a", "b"]);
        assert_eq!(words("  ", '\\', &f).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn raw_modes_keep_quotes_escapes_and_unset_references() {
        let mut lx = Lexer::new('\\');
        lx.raw_quotes = true;
        lx.raw_escapes = true;
        lx.skip_unset = true;
        let none = |_: &str| None;
        let (out, ws) = lx
            .process("RUN '<<A' \"x\" \\$y $U ${V:-w} <<EOF", &none)
            .unwrap();
        assert_eq!(out, "RUN '<<A' \"x\" \\$y $U ${V:-w} <<EOF");
        assert_eq!(
            ws,
            ["RUN", "'<<A'", "\"x\"", "\\$y", "$U", "${V:-w}", "<<EOF"]
        );
    }

    #[test]
    fn table_covers_every_keyword() {
        let expanded: Vec<_> = Keyword::ALL
            .into_iter()
            .filter(|k| expansion(*k).is_some())
            .map(Keyword::name)
            .collect();
        assert_eq!(
            expanded,
            [
                "ADD",
                "ARG",
                "COPY",
                "ENV",
                "EXPOSE",
                "FROM",
                "LABEL",
                "STOPSIGNAL",
                "USER",
                "VOLUME",
                "WORKDIR"
            ]
        );
        assert_eq!(expansion(Keyword::Expose), Some(Expansion::Words));
    }
}
