//! PAX extended header records (the data of `x` and `g` entries), checked
//! as Go's archive/tar reads them: Docker, podman and containerd unpack
//! layers with it, and strata must never see a different layer than they
//! do.
//!
//! The tar crate underneath is more lenient. It splits records at line
//! breaks instead of by their length, skips records it cannot parse, takes
//! the first of a repeated key where Go takes the last, and falls back to
//! the ustar field when a number does not parse (where Go refuses the
//! archive). So a header is accepted only when it is well formed by Go's
//! rules *and* the tar crate cannot read it differently:
//!
//! - every record is `LEN KEY=VALUE\n`, LEN (plain decimal) counting the
//!   whole record, with no line break before its end;
//! - a key is non-empty and appears once; keys hold no NUL, nor do the
//!   values of `path`, `linkpath`, `uname` and `gname`;
//! - `size`, `uid` and `gid` are decimal numbers from 0 to 2^63-1;
//!   `mtime`, `atime` and `ctime` are such a number of seconds, optionally
//!   followed by `.` and decimal digits;
//! - `path` and `linkpath` are not empty (Go keeps the ustar name then, the
//!   tar crate takes the empty one);
//! - no `GNU.sparse.*` key: sparse files are not supported.
//!
//! An empty value for any other key means "keep the ustar field", as in Go
//! (an empty `SCHILY.xattr.` value is an empty attribute).

use std::collections::HashSet;

use crate::error::one_line;
use crate::escape::Escaped;

/// What strata takes from a valid extended header.
#[derive(Default)]
pub(crate) struct Pax<'a> {
    /// `SCHILY.xattr.NAME` records: extended attribute name and value.
    pub xattrs: Vec<(&'a [u8], &'a [u8])>,
    /// Whole seconds of the `mtime` record, which overrides the ustar field.
    pub mtime: Option<u64>,
}

/// Parses and checks the data of an extended header (module docs).
pub(crate) fn parse(data: &[u8]) -> Result<Pax<'_>, String> {
    let mut pax = Pax::default();
    let mut seen = HashSet::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Record {
            key,
            value,
            rest: after,
        } = record(rest)?;
        rest = after;
        let bad = |why: &str| format!("PAX record {}: {why}", show(key, value));
        if !seen.insert(key) {
            return Err(bad("key repeated in one header"));
        }
        if key.starts_with(b"GNU.sparse.") {
            return Err(bad("GNU sparse files are not supported"));
        }
        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
            // An empty value is an empty attribute, not "keep the field".
            pax.xattrs.push((name, value));
            continue;
        }
        if value.is_empty() {
            if key == b"path" || key == b"linkpath" {
                return Err(bad("empty name"));
            }
            continue;
        }
        match key {
            b"size" | b"uid" | b"gid" => {
                decimal(value).ok_or_else(|| bad(NOT_A_NUMBER))?;
            }
            b"mtime" => pax.mtime = Some(seconds(value).ok_or_else(|| bad(NOT_A_TIME))?),
            b"atime" | b"ctime" => {
                seconds(value).ok_or_else(|| bad(NOT_A_TIME))?;
            }
            _ => {}
        }
    }
    Ok(pax)
}

const NOT_A_NUMBER: &str = "not a decimal number from 0 to 9223372036854775807";
const NOT_A_TIME: &str =
    "not a time in seconds from 0 to 9223372036854775807 (with an optional .fraction)";

/// One record split off the front of a header's data.
struct Record<'a> {
    key: &'a [u8],
    value: &'a [u8],
    /// The records after it.
    rest: &'a [u8],
}

/// Splits the first record off `s`.
fn record(s: &[u8]) -> Result<Record<'_>, String> {
    let bad = |why: &str| format!("malformed PAX record {}: {why}", quoted(s));
    let space = s
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| bad("no length"))?;
    let len = decimal(&s[..space])
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad("the length is not a decimal number"))?;
    if len < 5 || len > s.len() || len <= space + 1 {
        return Err(bad(&format!(
            "length {len} out of range (the header has {} bytes left)",
            s.len()
        )));
    }
    let (body, newline) = (&s[space + 1..len - 1], s[len - 1]);
    if newline != b'\n' || body.contains(&b'\n') {
        return Err(bad(&format!(
            "the record does not end with its only line break at its length {len}"
        )));
    }
    let eq = body
        .iter()
        .position(|&b| b == b'=')
        .ok_or_else(|| bad("no '=' between key and value"))?;
    let (key, value) = (&body[..eq], &body[eq + 1..]);
    let nul_in = match key {
        b"path" | b"linkpath" | b"uname" | b"gname" => value,
        _ => key,
    };
    if key.is_empty() || nul_in.contains(&0) {
        return Err(bad("empty key or NUL byte"));
    }
    Ok(Record {
        key,
        value,
        rest: &s[len..],
    })
}

/// A plain decimal number (digits only) that fits Go's `int64`.
fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (n <= i64::MAX as u64).then_some(n)
}

/// Whole seconds of a PAX time, `SECONDS[.DIGITS]`. Go also accepts
/// negative times; strata keeps times unsigned and refuses them.
fn seconds(s: &[u8]) -> Option<u64> {
    let (secs, fraction) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, &[][..]),
    };
    fraction
        .iter()
        .all(u8::is_ascii_digit)
        .then(|| decimal(secs))
        .flatten()
}

/// A record for a message: quoted, escaped and cut short.
fn show(key: &[u8], value: &[u8]) -> String {
    quoted(&[key, b"=", value].concat())
}

/// Bytes for a message: quoted, escaped and cut short.
fn quoted(b: &[u8]) -> String {
    one_line(format_args!("\"{}\"", Escaped(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `LEN KEY=VALUE\n` with LEN computed as writers do.
    fn rec(kv: &str) -> String {
        let mut len = kv.len() + 3;
        while format!("{len} {kv}\n").len() != len {
            len += 1;
        }
        format!("{len} {kv}\n")
    }

    #[test]
    fn well_formed_headers_parse() {
        let data = [
            rec(&format!("path={}", "d/".repeat(100))),
            rec("uid=4294967296"),
            rec("gid=0"),
            rec("mtime=1700000000.123456789123"),
            rec("atime=1700000000."),
            rec("SCHILY.xattr.user.k=v=w"),
            rec("SCHILY.xattr.user.empty="),
            rec("uname="),
            rec("comment=anything goes \u{1b} here"),
        ]
        .concat();
        let pax = parse(data.as_bytes()).unwrap();
        assert_eq!(pax.mtime, Some(1_700_000_000));
        let want: Vec<(&[u8], &[u8])> = vec![(b"user.k", b"v=w"), (b"user.empty", b"")];
        assert_eq!(pax.xattrs, want);
        assert!(parse(b"").unwrap().mtime.is_none());
    }

    #[test]
    fn malformed_headers_are_refused() {
        let cases: Vec<(String, &str)> = vec![
            (rec("size=99999999999999999999999"), "decimal number"),
            (rec("size=9223372036854775808"), "decimal number"),
            (rec("size=-1"), "decimal number"),
            (rec("size=+1"), "decimal number"),
            (rec("size= 12"), "decimal number"),
            (rec("uid=1e3"), "decimal number"),
            (rec("gid=0x10"), "decimal number"),
            (rec("mtime=-1"), "time"),
            (rec("mtime=1.2.3"), "time"),
            (rec("mtime=.5"), "time"),
            (rec("ctime=12a"), "time"),
            (rec("path="), "empty name"),
            (rec("=v"), "empty key"),
            (rec("k\0=v"), "NUL"),
            (rec("path=a\0b"), "NUL"),
            (rec("GNU.sparse.major=1"), "sparse"),
            ([rec("uid=1"), rec("uid=2")].concat(), "repeated"),
            (rec("path=a\nb"), "line break"),
            ("10 path=ab\n".into(), "line break"),
            ("9 path=ab\n".into(), "line break"),
            ("99 path=ab\n".into(), "out of range"),
            ("4 a=\n".into(), "out of range"),
            ("+11 path=a\n".into(), "length"),
            ("path=a\n".into(), "no length"),
            ("7 path\n".into(), "'='"),
            ([rec("uid=1"), "\n".into()].concat(), "no length"),
            ([rec("uid=1"), "\0\0\0".into()].concat(), "no length"),
        ];
        for (data, want) in cases {
            let err = parse(data.as_bytes()).err().unwrap_or_else(|| {
                panic!("{data:?} was accepted");
            });
            assert!(err.contains(want), "{data:?}: {err:?} lacks {want:?}");
            assert!(!err.contains('\n') && !err.contains('\0'), "{err:?}");
        }
    }
}
