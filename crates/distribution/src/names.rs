//! The distribution spec's grammar for repository names, tags and
//! digests, in one place: the server refuses anything else before it
//! touches the store, and the client checks what it is about to send.

use layerstore::Digest;

/// Longest repository name accepted (the spec leaves room for a host
/// name within 255 characters).
const MAX_NAME: usize = 255;

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
pub fn valid_repository(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && name.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// A `sha256:<64 lowercase hex>` digest; nothing else is accepted.
pub fn parse_digest(s: &str) -> Option<Digest> {
    s.parse().ok()
}

/// A manifest reference: a digest if it parses as one, else a tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestRef {
    Digest(Digest),
    Tag(String),
}

impl ManifestRef {
    pub fn parse(s: &str) -> Option<ManifestRef> {
        if s.contains(':') {
            parse_digest(s).map(ManifestRef::Digest)
        } else if valid_tag(s) {
            Some(ManifestRef::Tag(s.to_string()))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_grammar() {
        for ok in [
            "busybox",
            "library/busybox",
            "a/b/c",
            "a.b",
            "a_b",
            "a__b",
            "a---b",
            "0",
        ] {
            assert!(valid_repository(ok), "{ok}");
        }
        for bad in [
            "",
            "A",
            "a/",
            "/a",
            "a//b",
            "..",
            "a/../b",
            "a.",
            "-a",
            "a._b",
            "a___b",
            "a b",
            "a/./b",
            "/etc/passwd",
        ] {
            assert!(!valid_repository(bad), "{bad}");
        }
        assert!(!valid_repository(&"a".repeat(256)));
    }

    #[test]
    fn tags_and_digests() {
        assert!(valid_tag("latest") && valid_tag("_x") && valid_tag("v1.2-rc_3"));
        assert!(
            !valid_tag(".x") && !valid_tag("-x") && !valid_tag("") && !valid_tag(&"a".repeat(129))
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(
            ManifestRef::parse(&d),
            Some(ManifestRef::Digest(_))
        ));
        assert_eq!(ManifestRef::parse("sha256:AB"), None);
        assert_eq!(ManifestRef::parse("sha512:ab"), None);
        assert_eq!(
            ManifestRef::parse("v1"),
            Some(ManifestRef::Tag("v1".into()))
        );
    }
}
