//! Variable substitution against Docker's documented answers (the
//! Dockerfile reference's "Environment replacement") and the table of
//! moby's shell lexer test (`envVarTest`), plus word splitting.

use std::collections::HashMap;

use builder::expand::{self, Lookup};

/// moby's `builder/dockerfile/shell/envVarTest` (the Unix and all-platform
/// rows), with its environment PWD=/home SHELL=bash KOREAN=한국어.
const ENV_VAR_TABLE: &str = r#"
A|hello                    |     hello
A|he'll'o                  |     hello
A|he'llo                   |     error
A|he\'llo                  |     he'llo
A|he\\'llo                 |     error
A|abc\tdef                 |     abctdef
A|"abc\tdef"               |     abc\tdef
A|"abc\\tdef"              |     abc\tdef
A|'abc\tdef'               |     abc\tdef
A|hello\                   |     hello
A|hello\\                  |     hello\
A|"hello                   |     error
A|"hello\"                 |     error
A|"hel'lo"                 |     hel'lo
A|'hello                   |     error
A|'hello\'                 |     hello\
A|'hello\there'            |     hello\there
A|'hello\\there'           |     hello\\there
A|"''"                     |     ''
A|$.                       |     $.
A|$1                       |
A|he$1x                    |     hex
A|he$.x                    |     he$.x
U|he$pwd.                  |     he.
A|he$PWD                   |     he/home
A|he\$PWD                  |     he$PWD
A|he\\$PWD                 |     he\/home
A|"he\$PWD"                |     he$PWD
A|"he\\$PWD"               |     he\/home
A|\${}                     |     ${}
A|\${}aaa                  |     ${}aaa
A|he\${}                   |     he${}
A|he\${}xx                 |     he${}xx
A|${}                      |     error
A|${}aaa                   |     error
A|he${}                    |     error
A|he${}xx                  |     error
A|he${hi}                  |     he
A|he${hi}xx                |     hexx
A|he${PWD}                 |     he/home
A|he${.}                   |     error
A|he${XXX:-000}xx          |     he000xx
A|he${PWD:-000}xx          |     he/homexx
A|he${XXX:-$PWD}xx         |     he/homexx
A|he${XXX:-${PWD:-yyy}}xx  |     he/homexx
A|he${XXX:-${YYY:-yyy}}xx  |     heyyyxx
A|he${XXX:YYY}             |     error
A|he${XXX:+${PWD}}xx       |     hexx
A|he${PWD:+${XXX}}xx       |     hexx
A|he${PWD:+${SHELL}}xx     |     hebashxx
A|he${XXX:+000}xx          |     hexx
A|he${PWD:+000}xx          |     he000xx
A|'he${XX}'                |     he${XX}
A|"he${PWD}"               |     he/home
A|"he'$PWD'"               |     he'/home'
A|"$PWD"                   |     /home
A|'$PWD'                   |     $PWD
A|'\$PWD'                  |     \$PWD
A|'"hello"'                |     "hello"
A|he\$PWD                  |     he$PWD
A|"he\$PWD"                |     he$PWD
A|'he\$PWD'                |     he\$PWD
A|he${PWD                  |     error
A|he${PWD:=000}xx          |     error
A|he${PWD:+${PWD}:}xx      |     he/home:xx
A|he${XXX:-\$PWD:}xx       |     he$PWD:xx
A|he${XXX:-\${PWD}z}xx     |     he${PWDz}xx
A|안녕하세요                 |     안녕하세요
A|안'녕'하세요               |     안녕하세요
A|안'녕하세요                |     error
A|안녕\'하세요               |     안녕'하세요
A|안\\'녕하세요              |     error
A|안녕\t하세요               |     안녕t하세요
A|"안녕\t하세요"             |     안녕\t하세요
A|'안녕\t하세요              |     error
A|안녕하세요\                |     안녕하세요
A|안녕하세요\\               |     안녕하세요\
A|"안녕하세요                |     error
A|"안녕하세요\"              |     error
A|"안녕'하세요"              |     안녕'하세요
A|'안녕하세요                |     error
A|'안녕하세요\'              |     안녕하세요\
A|안녕$1x                    |     안녕x
A|안녕$.x                    |     안녕$.x
A|안녕$PWD                   |     안녕/home
A|안녕${XXX:-${YYY:-yyy}}xx  |     안녕yyyxx
A|$KOREAN                    |     한국어
A|안녕$KOREAN                |     안녕한국어
A|${{aaa}                   |     error
A|${aaa}}                   |     }
A|${aaa                     |     error
A|${{aaa:-bbb}              |     error
A|${aaa:-bbb}}              |     bbb}
A|${aaa:-bbb                |     error
A|${aaa:-bbb}               |     bbb
A|${aaa:-${bbb:-ccc}}       |     ccc
A|${aaa:-bbb ${foo}         |     error
A|${aaa:-bbb {foo}          |     bbb {foo
A|${:}                      |     error
A|${:-bbb}                  |     error
A|${:+bbb}                  |     error
"#;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn moby_env_var_table() {
    let env = vars(&[("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어")]);
    let lookup = |k: &str| env.get(k).cloned();
    let mut rows = 0;
    for line in ENV_VAR_TABLE.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('|').collect();
        assert_eq!(cols.len(), 3, "{line}");
        let (source, want) = (cols[1].trim(), cols[2].trim());
        let got = expand::word(source, '\\', &lookup);
        if want == "error" {
            assert!(got.is_err(), "{source:?} gave {got:?}");
        } else {
            assert_eq!(got.as_deref(), Ok(want), "{source:?}");
        }
        rows += 1;
    }
    assert_eq!(rows, 101);
}

fn word(text: &str, env: Lookup) -> String {
    expand::word(text, '\\', env).unwrap()
}

#[test]
fn reference_environment_replacement_examples() {
    let env = vars(&[("FOO", "/bar")]);
    let lookup = |k: &str| env.get(k).cloned();
    assert_eq!(word("${FOO}", &lookup), "/bar"); // WORKDIR ${FOO}
    assert_eq!(word("$FOO", &lookup), "/bar"); // ADD . $FOO
    assert_eq!(word("\\$FOO", &lookup), "$FOO"); // COPY \$FOO /quux
    assert_eq!(word("\\${FOO}", &lookup), "${FOO}");
    assert_eq!(word("${FOO}_bar", &lookup), "/bar_bar");

    // The documented modifiers, with `variable` unset, empty and set.
    let env = vars(&[("empty", ""), ("set", "v")]);
    let lookup = |k: &str| env.get(k).cloned();
    let table = [
        ("${unset:-word}", "word"),
        ("${empty:-word}", "word"),
        ("${set:-word}", "v"),
        ("${unset-word}", "word"),
        ("${empty-word}", ""),
        ("${set-word}", "v"),
        ("${unset:+word}", ""),
        ("${empty:+word}", ""),
        ("${set:+word}", "word"),
        ("${unset+word}", ""),
        ("${empty+word}", "word"),
        ("${set+word}", "word"),
        // `word` can be any string, including more variables.
        ("${unset:-$set and ${set}}", "v and v"),
    ];
    for (text, want) in table {
        assert_eq!(word(text, &lookup), want, "{text}");
    }

    // ENV abc=bye def=$abc: every word of one instruction sees the values
    // from before it.
    let env = vars(&[("abc", "hello")]);
    let lookup = |k: &str| env.get(k).cloned();
    assert_eq!(word("bye", &lookup), "bye");
    assert_eq!(word("$abc", &lookup), "hello");
}

#[test]
fn env_and_label_values_lose_their_quotes() {
    // What the parser keeps for `ENV k2="v 2" k3='x y' k4=a\ b` becomes the
    // values Docker stores.
    let none = |_: &str| None;
    assert_eq!(word("\"v 2\"", &none), "v 2");
    assert_eq!(word("'x y'", &none), "x y");
    assert_eq!(word("a\\ b", &none), "a b");
    assert_eq!(word("\"ACME Inc\"", &none), "ACME Inc");
    let env = vars(&[("name", "world")]);
    let lookup = |k: &str| env.get(k).cloned();
    assert_eq!(word("\"hello $name\"", &lookup), "hello world");
    assert_eq!(word("'hello $name'", &lookup), "hello $name");
}

#[test]
fn words_for_expose_and_friends() {
    let env = vars(&[
        ("PORTS", "80 443/udp"),
        ("ONE", "8080"),
        ("SPACED", " a  b "),
    ]);
    let lookup = |k: &str| env.get(k).cloned();
    let w = |t: &str| expand::words(t, '\\', &lookup).unwrap();
    assert_eq!(w("$PORTS"), ["80", "443/udp"]);
    assert_eq!(w("${ONE}/tcp 9000-9010"), ["8080/tcp", "9000-9010"]);
    assert_eq!(w("\"$PORTS\""), ["80 443/udp"]);
    assert_eq!(w("x${SPACED}y"), ["x", "a", "b", "y"]);
    assert_eq!(w("'a b' c\\ d e"), ["a b", "c d", "e"]);
    assert_eq!(w("${UNSET}"), Vec::<String>::new());
    assert!(expand::words("${X:?}", '\\', &lookup).is_err());
}
