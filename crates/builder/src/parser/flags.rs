//! Instruction flags (`--from=stage`, `--link`), kept raw, checked as
//! Docker's `BFlags` checks them at parse time: unknown names, repeats,
//! a missing value, a bad boolean.

use crate::keyword::Keyword;

/// One `--name[=value]` flag as written. `value` is `None` when there was
/// no `=` (a boolean flag such as `--link`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `--name` or `--name=true|false`.
    Bool,
    /// `--name=value`, once.
    String,
    /// `--name=value`, any number of times.
    Strings,
}

/// The flags Docker accepts on an instruction; `None` when Docker does not
/// look at the flags at all (ARG, STOPSIGNAL, HEALTHCHECK NONE), so any
/// flag passes unread.
fn accepted(keyword: Keyword) -> Option<&'static [(&'static str, Kind)]> {
    Some(match keyword {
        Keyword::From => &[("platform", Kind::String)],
        Keyword::Run => &[
            ("mount", Kind::Strings),
            ("network", Kind::String),
            ("security", Kind::String),
        ],
        Keyword::Copy => &[
            ("from", Kind::String),
            ("chown", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("parents", Kind::Bool),
            ("exclude", Kind::Strings),
        ],
        Keyword::Add => &[
            ("chown", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("checksum", Kind::String),
            ("keep-git-dir", Kind::Bool),
            ("exclude", Kind::Strings),
        ],
        Keyword::Healthcheck => &[
            ("interval", Kind::String),
            ("timeout", Kind::String),
            ("start-period", Kind::String),
            ("start-interval", Kind::String),
            ("retries", Kind::String),
        ],
        Keyword::Arg | Keyword::StopSignal => return None,
        _ => &[],
    })
}

/// Parses the raw flag words of an instruction. `unread` is for the forms
/// where Docker never parses the flags (HEALTHCHECK NONE).
pub(super) fn parse(keyword: Keyword, words: &[String], unread: bool) -> Result<Vec<Flag>, String> {
    let spec = if unread { None } else { accepted(keyword) };
    let mut flags: Vec<Flag> = Vec::new();
    for word in words {
        let body = word.strip_prefix("--").unwrap_or(word);
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let flag = Flag {
            name: name.to_string(),
            value,
        };
        let Some(spec) = spec else {
            flags.push(flag);
            continue;
        };
        let Some(&(_, kind)) = spec.iter().find(|(n, _)| *n == name) else {
            return Err(format!("unknown flag: {name}"));
        };
        if kind != Kind::Strings && flags.iter().any(|f| f.name == name) {
            return Err(format!("duplicate flag specified: {name}"));
        }
        match (kind, flag.value.as_deref()) {
            (Kind::Bool, Some("")) | (Kind::String | Kind::Strings, None) => {
                return Err(format!("missing a value on flag: {name}"))
            }
            (Kind::Bool, Some(v))
                if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") =>
            {
                return Err(format!("expecting boolean value for flag {name}, not: {v}"))
            }
            _ => {}
        }
        flags.push(flag);
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<String> {
        ws.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn raw_values_are_kept() {
        let f = parse(
            Keyword::Copy,
            &words(&["--from=a=b", "--link", "--chmod=755"]),
            false,
        )
        .unwrap();
        assert_eq!(
            f[0],
            Flag {
                name: "from".into(),
                value: Some("a=b".into())
            }
        );
        assert_eq!(
            f[1],
            Flag {
                name: "link".into(),
                value: None
            }
        );
        assert_eq!(f[2].value.as_deref(), Some("755"));
        let f = parse(Keyword::Run, &words(&["--mount=a", "--mount=b"]), false).unwrap();
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn docker_flag_errors() {
        let err = |k, ws: &[&str]| parse(k, &words(ws), false).unwrap_err();
        assert_eq!(err(Keyword::Copy, &["--form=a"]), "unknown flag: form");
        assert_eq!(err(Keyword::Env, &["--x=1"]), "unknown flag: x");
        assert_eq!(
            err(Keyword::Copy, &["--from=a", "--from=b"]),
            "duplicate flag specified: from"
        );
        assert_eq!(
            err(Keyword::Copy, &["--chown"]),
            "missing a value on flag: chown"
        );
        assert_eq!(
            err(Keyword::Copy, &["--link="]),
            "missing a value on flag: link"
        );
        assert_eq!(
            err(Keyword::Add, &["--link=yes"]),
            "expecting boolean value for flag link, not: yes"
        );
        assert!(parse(Keyword::Copy, &words(&["--link=FALSE"]), false).is_ok());
        // Docker never reads ARG's or STOPSIGNAL's flags.
        assert!(parse(Keyword::Arg, &words(&["--anything"]), false).is_ok());
        assert!(parse(Keyword::Healthcheck, &words(&["--bogus"]), true).is_ok());
    }
}
