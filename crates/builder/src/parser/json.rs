//! The exec (JSON) form: Docker reads arguments that start with `[` as a
//! JSON array of strings, and falls back to the shell form when they are
//! not valid JSON. Like Go's `json.Decoder`, only the first JSON value is
//! read: text after the closing `]` is ignored.

use serde_json::Value;

/// What the arguments turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum MaybeJson {
    Json(Vec<String>),
    NotJson,
}

pub(super) const NOT_STRINGS: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Errors only for valid JSON that is not an array of strings, as Docker.
pub(super) fn parse(rest: &str) -> Result<MaybeJson, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(MaybeJson::NotJson);
    }
    let first = serde_json::Deserializer::from_str(rest)
        .into_iter::<Value>()
        .next();
    let Some(Ok(Value::Array(items))) = first else {
        return Ok(MaybeJson::NotJson);
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(NOT_STRINGS.to_string()),
        })
        .collect::<Result<_, _>>()
        .map(MaybeJson::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_json_tables() {
        // Docker's validJSONArraysOfStrings.
        let valid: &[(&str, &[&str])] = &[
            ("[]", &[]),
            ("[\"\"]", &[""]),
            ("[\"a\"]", &["a"]),
            ("[\"a\",\"b\"]", &["a", "b"]),
            ("[ \"a\", \"b\" ]", &["a", "b"]),
            ("[\t\"a\",\t\"b\"\t]", &["a", "b"]),
            ("\t[\t\"a\",\t\"b\"\t]\t", &["a", "b"]),
            (
                "[\"abc 123\", \"♥\", \"☃\", \"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000\"]",
                &["abc 123", "♥", "☃", "\" \\ / \u{8} \u{c} \n \r \t \u{0}"],
            ),
        ];
        for (text, want) in valid {
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!(parse(text).unwrap(), MaybeJson::Json(want), "{text:?}");
        }
        // Docker's invalidJSONArraysOfStrings: valid JSON, not all strings.
        for text in [
            "[\"a\",42,\"b\"]",
            "[\"a\",123.456,\"b\"]",
            "[\"a\",{},\"b\"]",
            "[\"a\",{\"c\": \"d\"},\"b\"]",
            "[\"a\",[\"c\"],\"b\"]",
            "[\"a\",true,\"b\"]",
            "[\"a\",false,\"b\"]",
            "[\"a\",null,\"b\"]",
        ] {
            assert_eq!(parse(text).unwrap_err(), NOT_STRINGS, "{text:?}");
        }
    }

    #[test]
    fn invalid_json_falls_back_and_trailing_text_is_ignored() {
        for text in [
            "[\"c:\\windows\"]",
            "['a']",
            "[\"a\" \"b\"]",
            "[",
            "echo [x]",
            "",
        ] {
            assert_eq!(parse(text).unwrap(), MaybeJson::NotJson, "{text:?}");
        }
        assert_eq!(
            parse("[\"a\"] trailing").unwrap(),
            MaybeJson::Json(vec!["a".to_string()])
        );
        assert_eq!(
            parse("[\"a\"]x").unwrap(),
            MaybeJson::Json(vec!["a".to_string()])
        );
    }
}
