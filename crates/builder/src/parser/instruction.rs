//! One logical line to one typed instruction, with Docker's argument rules
//! and parse-time errors for each instruction.

use super::heredoc::{self, Heredoc};
use super::json::{self, MaybeJson};
use super::split::{self, parse_words, split_whitespace};
use super::{flags, ArgDef, Command, Form, KeyValue, Source, Transfer};
use crate::keyword::Keyword;

/// A parsed line waiting for its heredoc bodies, if it opens any.
pub(super) struct Parsed {
    pub(super) keyword: Keyword,
    pub(super) flags: Vec<flags::Flag>,
    pub(super) command: Command,
    /// Whether Docker reads heredocs for this line (RUN, COPY, ADD and
    /// ONBUILD of one of those, not in exec form).
    pub(super) heredocs: bool,
}

pub(super) fn parse(line: &str, escape: char) -> Result<Parsed, String> {
    let parts = split::split_command(line);
    let keyword = Keyword::lookup(parts.word)
        .ok_or_else(|| format!("unknown instruction: {}", parts.word.to_uppercase()))?;
    let rest = parts.rest.as_str();
    let mut unread_flags = false;
    let mut heredocs = false;
    let command = match keyword {
        Keyword::From => from(rest)?,
        Keyword::Arg => arg(rest, escape)?,
        Keyword::Run => {
            let form = form(rest)?;
            heredocs = matches!(form, Form::Shell(_));
            Command::Run {
                form,
                heredocs: Vec::new(),
            }
        }
        Keyword::Cmd => Command::Cmd(form(rest)?),
        Keyword::Entrypoint => Command::Entrypoint(form(rest)?),
        Keyword::Shell => match json::parse(rest)? {
            MaybeJson::Json(v) if !v.is_empty() => Command::Shell(v),
            MaybeJson::NotJson if !rest.is_empty() => {
                return Err("SHELL requires the arguments to be in JSON form".to_string())
            }
            _ => return Err(at_least_one(keyword)),
        },
        Keyword::Env => Command::Env(name_values(keyword, rest, escape)?),
        Keyword::Label => Command::Label(name_values(keyword, rest, escape)?),
        Keyword::Maintainer => Command::Maintainer(exactly_one(keyword, rest)?),
        Keyword::User => Command::User(exactly_one(keyword, rest)?),
        Keyword::Workdir => Command::Workdir(exactly_one(keyword, rest)?),
        Keyword::StopSignal => Command::StopSignal(exactly_one(keyword, rest)?),
        Keyword::Expose => {
            let ports = split_whitespace(rest);
            if ports.is_empty() {
                return Err(at_least_one(keyword));
            }
            Command::Expose(ports)
        }
        Keyword::Volume => {
            let (list, _) = list(rest)?;
            if list.is_empty() {
                return Err(at_least_one(keyword));
            }
            let list: Vec<String> = list.iter().map(|v| v.trim().to_string()).collect();
            if list.iter().any(String::is_empty) {
                return Err("VOLUME specified can not be an empty string".to_string());
            }
            Command::Volume(list)
        }
        Keyword::Healthcheck => {
            let (check, none) = healthcheck(rest)?;
            unread_flags = none;
            check
        }
        Keyword::Onbuild => {
            let (command, reads_heredocs) = onbuild(line, rest)?;
            heredocs = reads_heredocs;
            command
        }
        Keyword::Add | Keyword::Copy => {
            let (transfer, json) = transfer(keyword, rest)?;
            heredocs = !json;
            if keyword == Keyword::Add {
                Command::Add(transfer)
            } else {
                Command::Copy(transfer)
            }
        }
    };
    let flags = flags::parse(keyword, &parts.flags, unread_flags)?;
    Ok(Parsed {
        keyword,
        flags,
        command,
        heredocs,
    })
}

/// Gives the instruction the bodies of the heredocs its line opened.
pub(super) fn attach_heredocs(command: &mut Command, docs: Vec<Heredoc>) {
    let chomped = |mut d: Heredoc| {
        if d.chomp {
            d.content = heredoc::chomp(&d.content);
        }
        d
    };
    match command {
        Command::Run { heredocs, .. } => *heredocs = docs.into_iter().map(chomped).collect(),
        Command::Add(t) | Command::Copy(t) => {
            for source in &mut t.sources {
                if let Source::Heredoc(word) = source {
                    // The word's own `-` decides the chomping, as Docker.
                    if let Some(doc) = docs.iter().rev().find(|d| d.name == word.name) {
                        word.content = doc.content.clone();
                    }
                    if word.chomp {
                        word.content = heredoc::chomp(&word.content);
                    }
                }
            }
        }
        // The trigger keeps its heredocs as text, to be parsed again when
        // a child build runs it.
        Command::Onbuild { expression, .. } => {
            for d in docs {
                expression.push('\n');
                expression.push_str(&d.content);
                expression.push_str(&d.name);
            }
        }
        _ => {}
    }
}

fn at_least_one(keyword: Keyword) -> String {
    format!("{keyword} requires at least one argument")
}

fn exactly_one(keyword: Keyword, rest: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Err(format!("{keyword} requires exactly one argument"));
    }
    Ok(rest.to_string())
}

/// RUN, CMD, ENTRYPOINT: exec form when the arguments are a JSON array of
/// strings, otherwise the shell form, the text as written.
fn form(rest: &str) -> Result<Form, String> {
    Ok(match json::parse(rest)? {
        MaybeJson::Json(v) => Form::Exec(v),
        MaybeJson::NotJson => Form::Shell(rest.to_string()),
    })
}

/// VOLUME, COPY, ADD: a JSON array, or whitespace-separated words. The
/// flag says which.
fn list(rest: &str) -> Result<(Vec<String>, bool), String> {
    Ok(match json::parse(rest)? {
        MaybeJson::Json(v) => (v, true),
        MaybeJson::NotJson => (split_whitespace(rest), false),
    })
}

fn from(rest: &str) -> Result<Command, String> {
    let args = split_whitespace(rest);
    match args.as_slice() {
        [image] => Ok(Command::From {
            image: image.clone(),
            stage: None,
        }),
        [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let stage = name.to_lowercase();
            let valid = stage.starts_with(|c: char| c.is_ascii_lowercase())
                && stage
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Ok(Command::From {
                image: image.clone(),
                stage: Some(stage),
            })
        }
        _ => Err("FROM requires either one or three arguments".to_string()),
    }
}

fn arg(rest: &str, escape: char) -> Result<Command, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Err(at_least_one(Keyword::Arg));
    }
    words
        .into_iter()
        .map(|w| {
            let (name, default) = match w.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (w, None),
            };
            if name.is_empty() {
                return Err("ARG names can not be blank".to_string());
            }
            Ok(ArgDef { name, default })
        })
        .collect::<Result<_, _>>()
        .map(Command::Arg)
}

/// ENV and LABEL: `KEY value…` (the legacy form: everything after the
/// first whitespace is the value) when the first word has no `=`,
/// otherwise `k=v k2="v 2"` pairs. Quotes stay for substitution to remove.
fn name_values(keyword: Keyword, rest: &str, escape: char) -> Result<Vec<KeyValue>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(at_least_one(keyword));
    };
    let pairs = if !first.contains('=') {
        let Some(i) = rest.find(split::is_split_space) else {
            return Err(format!("{keyword} must have two arguments"));
        };
        vec![KeyValue {
            key: rest[..i].to_string(),
            value: rest[i..]
                .trim_start_matches(split::is_split_space)
                .to_string(),
        }]
    } else {
        words
            .iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) => Ok(KeyValue {
                    key: k.to_string(),
                    value: v.to_string(),
                }),
                None => Err(format!(
                    "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if pairs.iter().any(|p| p.key.is_empty()) {
        return Err(format!("{keyword} names can not be blank"));
    }
    Ok(pairs)
}

/// HEALTHCHECK NONE or HEALTHCHECK CMD …; the flag is true for NONE,
/// whose flags Docker never reads.
fn healthcheck(rest: &str) -> Result<(Command, bool), String> {
    let (kind, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim_start()),
        None => (rest, ""),
    };
    if kind.is_empty() {
        return Err(at_least_one(Keyword::Healthcheck));
    }
    let kind = kind.to_uppercase();
    match kind.as_str() {
        "NONE" if args.is_empty() => Ok((Command::Healthcheck(None), true)),
        "NONE" => Err("HEALTHCHECK NONE takes no arguments".to_string()),
        "CMD" => match form(args)? {
            Form::Exec(v) if v.is_empty() => Err("Missing command after HEALTHCHECK CMD".into()),
            Form::Shell(s) if s.is_empty() => Err("Missing command after HEALTHCHECK CMD".into()),
            f => Ok((Command::Healthcheck(Some(f)), false)),
        },
        _ => Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)")),
    }
}

/// ONBUILD: the trigger is kept as text (Docker stores it so in the image
/// and parses it when a child build runs it); a few triggers are refused.
/// The flag says whether the trigger reads heredocs.
fn onbuild(line: &str, rest: &str) -> Result<(Command, bool), String> {
    if rest.is_empty() {
        return Err(at_least_one(Keyword::Onbuild));
    }
    let trigger = split::split_command(rest);
    let name = trigger.word.to_uppercase();
    match name.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => return Err(format!("{name} isn't allowed as an ONBUILD trigger")),
        _ => {}
    }
    let heredocs = matches!(name.as_str(), "RUN" | "COPY" | "ADD")
        && json::parse(&trigger.rest)? == MaybeJson::NotJson;
    // The line without its leading `ONBUILD` and the spaces after it.
    let expression = line.trim_start()["ONBUILD".len()..]
        .trim_start()
        .to_string();
    Ok((
        Command::Onbuild {
            trigger: name,
            expression,
        },
        heredocs,
    ))
}

/// COPY/ADD sources and destination; the flag says whether it was the
/// JSON form (which opens no heredocs).
fn transfer(keyword: Keyword, rest: &str) -> Result<(Transfer, bool), String> {
    let (mut args, json) = list(rest)?;
    if args.len() < 2 {
        return Err(format!(
            "{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let dest = args.pop().unwrap_or_default();
    if matches!(heredoc::parse_word(&dest), Ok(Some(_))) {
        return Err(format!(
            "{keyword} cannot accept a heredoc as a destination"
        ));
    }
    let sources = args
        .into_iter()
        .map(|a| match heredoc::parse_word(&a) {
            Ok(Some(doc)) => Source::Heredoc(doc),
            _ => Source::Path(a),
        })
        .collect();
    Ok((Transfer { sources, dest }, json))
}
