//! Parser directives (`# syntax=…`, `# escape=…`, `# check=…`) with
//! BuildKit's rules for where they stop: the first line that is not a
//! known directive — an instruction, an empty line, any other comment, an
//! unknown directive — ends them, and later lines of that form are comments.

/// The directives a Dockerfile set at its top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape character: `\` unless `# escape=` set a backtick.
    pub escape: char,
    /// `# syntax=` as written (strata has one frontend; kept for reports).
    pub syntax: Option<String>,
    /// `# check=` as written (build checks; kept for reports).
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// Reads directives line by line until they stop.
#[derive(Debug, Default)]
pub(super) struct DirectiveReader {
    pub(super) directives: Directives,
    escape_seen: bool,
    done: bool,
}

impl DirectiveReader {
    /// Looks at one line (its newline removed). Errors for a repeated
    /// directive or an escape character other than `\` or a backtick.
    pub(super) fn line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = line.strip_prefix('#').and_then(split_directive) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        let slot = match key.as_str() {
            "syntax" => &mut self.directives.syntax,
            "check" => &mut self.directives.check,
            "escape" => {
                if self.escape_seen {
                    return Err("only one escape parser directive can be used".to_string());
                }
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        ))
                    }
                };
                self.escape_seen = true;
                return Ok(());
            }
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        if slot.is_some() {
            return Err(format!("only one {key} parser directive can be used"));
        }
        *slot = Some(value.to_string());
        Ok(())
    }
}

/// `key = value` after the `#`: BuildKit's
/// `^\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`.
fn split_directive(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start();
    let key_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, after) = rest.split_at(key_len);
    let value = after
        .trim_start_matches(is_regex_space)
        .strip_prefix('=')?
        .trim_matches(is_regex_space);
    (!value.is_empty()).then_some((key, value))
}

/// Go's regexp `\s`: ASCII space, tab, newline, form feed, carriage return.
fn is_regex_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lines: &[&str]) -> Result<Directives, String> {
        let mut r = DirectiveReader::default();
        for l in lines {
            r.line(l)?;
        }
        Ok(r.directives)
    }

    #[test]
    fn whitespace_and_case_are_allowed_as_documented() {
        for l in [
            "#escape=`",
            "# escape =`",
            "#\tescape= `",
            "# escape = `",
            "#\t  eScApE=`",
            "# escape=`  ",
        ] {
            assert_eq!(read(&[l]).unwrap().escape, '`', "{l:?}");
        }
    }

    #[test]
    fn directives_stop_at_the_first_other_line() {
        // After an unknown directive, a comment, an empty line or an
        // instruction, a directive is a comment.
        for first in [
            "# unknowndirective=value",
            "# About my dockerfile",
            "",
            "FROM x",
        ] {
            let d = read(&[first, "# escape=`"]).unwrap();
            assert_eq!(d.escape, '\\', "after {first:?}");
        }
        let d = read(&[
            "# syntax=docker/dockerfile:1",
            "# escape=`",
            "# check=skip=all",
        ])
        .unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
        assert_eq!(d.check.as_deref(), Some("skip=all"));
    }

    #[test]
    fn repeats_and_bad_escapes_are_errors() {
        assert_eq!(
            read(&["# directive=v"]).unwrap(),
            Directives::default(),
            "unknown directive is a comment"
        );
        assert_eq!(
            read(&["# syntax=a", "# SYNTAX=b"]).unwrap_err(),
            "only one syntax parser directive can be used"
        );
        assert_eq!(
            read(&["# escape=`", "# escape=\\"]).unwrap_err(),
            "only one escape parser directive can be used"
        );
        assert!(read(&["# escape=x"])
            .unwrap_err()
            .contains("invalid escape token 'x'"));
        // An empty value is no directive at all.
        assert_eq!(read(&["# escape=", "# escape=`"]).unwrap().escape, '\\');
    }
}
