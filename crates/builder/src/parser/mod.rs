//! Dockerfile text to instructions with their line numbers, following
//! BuildKit's parser (`frontend/dockerfile/parser`) and its instruction
//! rules (`frontend/dockerfile/instructions`): parser directives, comments,
//! line continuations with the escape character, empty continuation lines
//! (a warning), comment lines inside continuations (dropped), exec vs shell
//! form, heredocs and instruction flags. Variables are not substituted
//! here: arguments are kept as written, for `expand` at build time.

mod directives;
mod flags;
mod heredoc;
mod instruction;
mod json;
mod split;

use std::fmt;

pub use directives::Directives;
pub use flags::Flag;
pub use heredoc::Heredoc;

use crate::keyword::Keyword;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    pub instructions: Vec<Instruction>,
    /// Things Docker warns about and accepts (empty continuation lines).
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// One instruction, with the lines it spans (1-based, heredoc bodies
/// included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub end_line: usize,
    pub keyword: Keyword,
    /// The logical line: continuations joined, comment lines dropped.
    pub original: String,
    pub flags: Vec<Flag>,
    pub command: Command,
}

impl Instruction {
    /// The value of flag `name` (the last one, for repeatable flags); a
    /// boolean flag written without `=` (`--link`) reads `"true"`.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .map(|f| f.value.as_deref().unwrap_or("true"))
    }
}

/// An instruction's arguments, as written (variables not substituted,
/// quotes of ENV/LABEL/ARG values kept for substitution to remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From {
        image: String,
        /// The `AS` name, lower-cased as Docker does.
        stage: Option<String>,
    },
    Arg(Vec<ArgDef>),
    Run {
        form: Form,
        /// Bodies of the heredocs the line opened (`<<-` tabs removed).
        heredocs: Vec<Heredoc>,
    },
    Cmd(Form),
    Entrypoint(Form),
    Shell(Vec<String>),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Maintainer(String),
    /// Ports as written (`80`, `80/udp`, `8000-8010`, `$PORT`).
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    StopSignal(String),
    /// `None` for `HEALTHCHECK NONE`; the options are the instruction's
    /// flags. A shell form is Docker's `CMD-SHELL`.
    Healthcheck(Option<Form>),
    Onbuild {
        /// The trigger's instruction name, upper-cased (Docker checks
        /// only ONBUILD, FROM and MAINTAINER here; the rest when a child
        /// build runs it).
        trigger: String,
        /// The trigger as Docker stores it in the image's `OnBuild`;
        /// [`parse_trigger`] reads it back.
        expression: String,
    },
    Add(Transfer),
    Copy(Transfer),
}

/// Exec form (a JSON array) or shell form (the text as written; empty when
/// the instruction had no arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    Exec(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub name: String,
    pub default: Option<String>,
}

/// COPY/ADD arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub sources: Vec<Source>,
    pub dest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(String),
    /// `COPY <<EOF /dest`: a file named after the delimiter, with this
    /// content.
    Heredoc(Heredoc),
}

/// A parse error: one line, naming the Dockerfile line it applies to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dockerfile line {}: {}", self.line, self.message)
    }
}

fn error(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let mut reader = directives::DirectiveReader::default();
    let mut instructions = Vec::new();
    let mut warnings = Vec::new();
    let mut line_no = 0;
    while let Some(raw) = lines.next() {
        line_no += 1;
        let first = trim_newline(raw).trim_start();
        reader.line(first).map_err(|m| error(line_no, m))?;
        let escape = reader.directives.escape;
        let start = line_no;
        let (mut logical, mut ended) = trim_continuation(strip_comment(first), escape);
        if ended && logical.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !ended {
            let Some(raw) = lines.next() else { break };
            line_no += 1;
            let next = trim_newline(raw);
            reader.line(next).map_err(|m| error(line_no, m))?;
            if next.trim_start().starts_with('#') {
                continue;
            }
            if next.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, end) = trim_continuation(next, escape);
            logical.push_str(&part);
            ended = end;
        }
        if empty_continuation {
            warnings.push(Warning {
                line: start,
                message: format!("Empty continuation line found in: {logical}"),
            });
        }
        let mut parsed = instruction::parse(&logical, escape).map_err(|m| error(start, m))?;
        if parsed.heredocs && logical.contains("<<") {
            let mut docs = heredoc::in_line(&logical).map_err(|m| error(start, m))?;
            for doc in &mut docs {
                loop {
                    let Some(raw) = lines.next() else {
                        return Err(error(start, "unterminated heredoc"));
                    };
                    line_no += 1;
                    if heredoc::is_terminator(doc, raw) {
                        break;
                    }
                    doc.content.push_str(raw);
                }
            }
            instruction::attach_heredocs(&mut parsed.command, docs);
        }
        instructions.push(Instruction {
            line: start,
            end_line: line_no,
            keyword: parsed.keyword,
            original: logical,
            flags: parsed.flags,
            command: parsed.command,
        });
    }
    if instructions.is_empty() {
        return Err(error(line_no.max(1), "file with no instructions"));
    }
    Ok(Dockerfile {
        directives: reader.directives,
        instructions,
        warnings,
    })
}

/// Parses an ONBUILD trigger stored in a parent image, as Docker does when
/// a child build starts: as a Dockerfile of its own that must hold exactly
/// one instruction, which may not be ONBUILD, FROM or MAINTAINER.
pub fn parse_trigger(expression: &str) -> Result<Instruction, ParseError> {
    let mut file = parse(expression)?;
    if file.instructions.len() != 1 {
        return Err(error(1, "onbuild trigger should be a single expression"));
    }
    let trigger = file.instructions.remove(0);
    if matches!(
        trigger.keyword,
        Keyword::Onbuild | Keyword::From | Keyword::Maintainer
    ) {
        return Err(error(
            1,
            format!("{} isn't allowed as an ONBUILD trigger", trigger.keyword),
        ));
    }
    Ok(trigger)
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// A line that starts with `#` (after leading whitespace) is a comment.
fn strip_comment(line: &str) -> &str {
    if line.starts_with('#') {
        ""
    } else {
        line
    }
}

/// Removes a trailing escape character (and the spaces or tabs after it)
/// that continues the line; an escape preceded by another escape does not
/// continue it. Returns the text and whether the instruction ended.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    if let Some(before) = body.strip_suffix(escape) {
        if !before.ends_with(escape) {
            return (before.to_string(), false);
        }
    }
    (line.to_string(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ".to_string(), false));
        assert_eq!(trim_continuation("a\\ \t", '\\'), ("a".to_string(), false));
        assert_eq!(trim_continuation("\\", '\\'), (String::new(), false));
        assert_eq!(
            trim_continuation("a \\\\", '\\'),
            ("a \\\\".to_string(), true)
        );
        assert_eq!(trim_continuation("a \\", '`'), ("a \\".to_string(), true));
        assert_eq!(trim_continuation("a `", '`'), ("a ".to_string(), false));
    }

    #[test]
    fn flag_lookup_reads_booleans_as_true() {
        let f = parse("FROM a\nCOPY --link --chmod=644 x y\n").unwrap();
        let copy = &f.instructions[1];
        assert_eq!(copy.flag("link"), Some("true"));
        assert_eq!(copy.flag("chmod"), Some("644"));
        assert_eq!(copy.flag("from"), None);
    }
}
