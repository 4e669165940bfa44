//! Untrusted text made safe to print on one terminal line.
//!
//! Error messages quote archive member names, tar entry names, parser
//! messages that embed header bytes, and references typed by users. Any of
//! these can hold line breaks, terminal escape sequences or bytes that are
//! not UTF-8; printed raw they split a message over several lines, rewrite
//! the terminal, or put binary garbage in logs. [`Escaped`] is the one
//! place that renders such text.
//!
//! Backslashes are left alone, so escaping is idempotent: a message built
//! from already escaped parts (or escaped once by the library and again by
//! the CLI) reads the same.

use std::fmt::{self, Write};

/// Displays bytes with control characters, line and paragraph separators,
/// invisible formatting characters (bidirectional overrides, zero-width
/// marks) and invalid UTF-8 written as `\n`, `\x1b`, `\u{202e}`, `\xff`.
pub struct Escaped<T: AsRef<[u8]>>(pub T);

impl<T: AsRef<[u8]>> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.as_ref().utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if c.is_ascii_control() => write!(f, "\\x{:02x}", c as u32)?,
                    c if hidden(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                    c => f.write_char(c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Non-ASCII characters a terminal does not show as themselves: C1
/// controls (U+0085 is a line break to some), line and paragraph
/// separators, and formatting characters that reorder or hide text.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// [`Escaped`] as a `String`.
pub fn escape(text: impl AsRef<[u8]>) -> String {
    Escaped(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(escape("plain text/path ok"), "plain text/path ok");
        assert_eq!(escape("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(
            escape("\x1b[31mred\x07\x0b\x0c\x7f"),
            "\\x1b[31mred\\x07\\x0b\\x0c\\x7f"
        );
        assert_eq!(escape(b"bin\xff\xfe\x00"), "bin\\xff\\xfe\\x00");
        assert_eq!(
            escape("\u{85}\u{2028}\u{202e}evil"),
            "\\u{85}\\u{2028}\\u{202e}evil"
        );
        assert_eq!(escape("caf\u{e9} \u{1f600}"), "caf\u{e9} \u{1f600}");
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        let nasty: &[u8] = b"x\n\x1b]0;title\x07\\n\xc3(\xe2\x80\xae";
        let once = escape(nasty);
        assert_eq!(escape(&once), once);
        assert!(once.chars().all(|c| !c.is_control()));
    }
}
