//! Heredocs (`RUN <<EOF`, `COPY <<A <<B /dest`) as BuildKit reads them: a
//! word of the line of the form `[n]<<[-]NAME`, outside quotes, starts one;
//! its body is the following lines up to a line that is exactly NAME (after
//! removing leading tabs for `<<-`). A quoted NAME (`<<'EOF'`, `<<"EOF"`,
//! or any part quoted) turns off variable expansion of the body.

use crate::expand::Lexer;

/// One heredoc of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The file descriptor before `<<` (`3<<EOF`); 0 when none is written.
    pub fd: u32,
    /// Whether variables in the body are expanded (the name was unquoted).
    pub expand: bool,
    /// Whether it was written `<<-`: leading tabs are already removed from
    /// `content` and were ignored before the delimiter line.
    pub chomp: bool,
    /// The body, each line with its newline.
    pub content: String,
}

/// The heredoc a word starts, if it is one (`<<EOF`, `3<<-'EOF'`); errors
/// for a half-quoted name such as `<<'EOF`.
pub(super) fn parse_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match after.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, after),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let none = |_: &str| None;
    let mut lexer = Lexer::new('\\');
    lexer.skip_unset = true;
    let err = |e: crate::expand::ExpandError| e.to_string();
    let (_, words) = lexer.process(rest, &none).map_err(err)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    lexer.raw_quotes = true;
    let (_, raw) = lexer.process(rest, &none).map_err(err)?;
    if raw.len() != 1 {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Ok(Some(Heredoc {
        name: name.clone(),
        fd: word[..digits].parse().unwrap_or(0),
        expand: quotes(name) == quotes(&raw[0]),
        chomp,
        content: String::new(),
    }))
}

/// The heredocs a logical line opens, in order. The line is split into
/// words without substituting anything (quotes and escapes kept), so a
/// quoted `"<<EOF"` is no heredoc; a line the lexer cannot split opens none.
pub(super) fn in_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lexer = Lexer::new('\\');
    lexer.raw_quotes = true;
    lexer.raw_escapes = true;
    lexer.skip_unset = true;
    let Ok((_, words)) = lexer.process(line, &|_| None) else {
        return Ok(Vec::new());
    };
    let mut docs = Vec::new();
    for w in &words {
        if let Some(doc) = parse_word(w)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Whether `line` (a raw line, newline included) ends heredoc `doc`.
pub(super) fn is_terminator(doc: &Heredoc, line: &str) -> bool {
    let line = line.trim_end_matches(['\r', '\n']);
    let line = if doc.chomp {
        line.trim_start_matches('\t')
    } else {
        line
    };
    line == doc.name
}

/// Removes the leading tabs of every line (`<<-`).
pub(super) fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_heredoc_word_tables() {
        // BuildKit's TestParseHeredocHelpers.
        for w in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
        ] {
            assert_eq!(parse_word(w).unwrap().unwrap().name, "EOF", "{w}");
        }
        for w in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_word(w).is_err(), "{w}");
        }
        for w in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF"] {
            assert_eq!(parse_word(w).unwrap(), None, "{w}");
        }
    }

    #[test]
    fn quoting_any_part_disables_expansion() {
        let d = parse_word("<<EOF").unwrap().unwrap();
        assert!(d.expand && !d.chomp && d.fd == 0);
        assert!(!parse_word("<<'EOF'").unwrap().unwrap().expand);
        assert!(!parse_word("<<E\"O\"F").unwrap().unwrap().expand);
        assert_eq!(parse_word("<<E\"O\"F").unwrap().unwrap().name, "EOF");
        let d = parse_word("3<<-X").unwrap().unwrap();
        assert!(d.chomp && d.fd == 3);
    }

    #[test]
    fn docker_heredocs_from_line() {
        // BuildKit's TestHeredocsFromLine.
        let cases: &[(&str, &[&str])] = &[
            ("RUN <<EOF", &["EOF"]),
            ("RUN <<-EOF", &["EOF"]),
            ("RUN <<'EOF'", &["EOF"]),
            ("RUN 4<<EOF", &["EOF"]),
            ("RUN <<EOF <<EOF2", &["EOF", "EOF2"]),
            ("RUN '<<EOF'", &[]),
            ("RUN \"<<EOF\"", &[]),
            ("RUN cat<<EOF", &[]),
            ("RUN python3 <<EOF | tee out", &["EOF"]),
        ];
        for (line, names) in cases {
            let got: Vec<String> = in_line(line).unwrap().into_iter().map(|d| d.name).collect();
            assert_eq!(got, *names, "{line}");
        }
    }

    #[test]
    fn chomp_and_terminators() {
        assert_eq!(chomp("\thello\n\t\tworld\n x\t\n"), "hello\nworld\n x\t\n");
        let mut d = parse_word("<<-END").unwrap().unwrap();
        assert!(is_terminator(&d, "\t\tEND\r\n"));
        d.chomp = false;
        assert!(!is_terminator(&d, "\tEND\n"));
        assert!(is_terminator(&d, "END"));
        assert!(!is_terminator(&d, "END "));
    }
}
