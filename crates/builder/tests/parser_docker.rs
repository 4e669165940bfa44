//! The parser against Docker's documented answers (the Dockerfile
//! reference) and the expectations of BuildKit's and moby's parser tests.

use builder::parser::{self, ArgDef, Command, Form, KeyValue, Source};
use builder::Keyword;

fn parse(text: &str) -> parser::Dockerfile {
    parser::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn shell(i: &parser::Instruction) -> &str {
    match &i.command {
        Command::Run {
            form: Form::Shell(s),
            ..
        } => s,
        other => panic!("not a shell RUN: {other:?}"),
    }
}

fn err(text: &str) -> String {
    parser::parse(text).unwrap_err().to_string()
}

#[test]
fn continuations_as_moby_continue_indent() {
    // moby's testfiles/continueIndent; the last case follows current
    // Docker, which drops a comment line inside a continuation.
    let f = parse(
        "FROM ubuntu:14.04\n\nRUN echo hello\\\n  world\\\n  goodnight  \\\n  moon\\\n  light\\\nning\n\
         RUN echo hello  \\\n  world\nRUN echo hello  \\\nworld\nRUN echo hello \\\ngoodbye\\\nfrog\n\
         RUN echo hi \\\n \\\n world \\\n\\\n good\\\n\\\nnight\nRUN echo goodbye\\\nfrog\n\
         RUN echo good\\\nbye\\\nfrog\n\nRUN echo hello \\\n# this is a comment that breaks escape continuation\n\
         RUN echo this is some more useful stuff\n",
    );
    let runs: Vec<&str> = f.instructions[1..].iter().map(shell).collect();
    assert_eq!(
        runs,
        [
            "echo hello  world  goodnight    moon  lightning",
            "echo hello    world",
            "echo hello  world",
            "echo hello goodbyefrog",
            "echo hi   world  goodnight",
            "echo goodbyefrog",
            "echo goodbyefrog",
            "echo hello RUN echo this is some more useful stuff",
        ]
    );
}

#[test]
fn reference_comment_and_whitespace_examples() {
    let a = parse("FROM x\nRUN echo hello \\\n# comment\nworld\n");
    let b = parse("FROM x\nRUN echo hello \\\nworld\n");
    assert_eq!(shell(&a.instructions[1]), shell(&b.instructions[1]));
    assert_eq!(shell(&a.instructions[1]), "echo hello world");

    let f = parse("        # this is a comment-line\n    RUN echo hello\nRUN echo world\n");
    assert_eq!(f.instructions.len(), 2);
    assert_eq!(shell(&f.instructions[0]), "echo hello");

    // Whitespace in arguments is kept.
    let f = parse("RUN echo \"\\\n     hello\\\n     world\"\n");
    assert_eq!(shell(&f.instructions[0]), "echo \"     hello     world\"");

    // A `#` that does not start the line is an argument.
    let f = parse("RUN echo 'we are running some # of cool things'\n");
    assert_eq!(
        shell(&f.instructions[0]),
        "echo 'we are running some # of cool things'"
    );
}

#[test]
fn reference_escape_directive_examples() {
    // Without the directive, `\\` at the end of the COPY line escapes the
    // escape, and `c:\` on the RUN line continues it into nothing.
    let f = parse("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\\\nRUN dir c:\\\n");
    assert_eq!(f.instructions.len(), 3);
    let f = parse("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    assert_eq!(f.instructions.len(), 2);
    assert_eq!(f.instructions[1].original, "COPY testfile.txt c:RUN dir c:");

    let f =
        parse("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    assert_eq!(f.directives.escape, '`');
    assert_eq!(f.instructions.len(), 3);
    match &f.instructions[1].command {
        Command::Copy(t) => assert_eq!(t.dest, "c:\\"),
        other => panic!("{other:?}"),
    }
    assert_eq!(shell(&f.instructions[2]), "dir c:\\");

    // Backtick continuations.
    let f = parse("# escape=`\nFROM x\nRUN a `\n  b\n");
    assert_eq!(shell(&f.instructions[1]), "a   b");
}

#[test]
fn reference_directive_placement_examples() {
    // Treated as comments: after an instruction, after a comment, after an
    // unknown directive. A line continuation does not join directives.
    for text in [
        "FROM ImageName\n# escape=`\nRUN a `\nRUN b\n",
        "# About my dockerfile\n# escape=`\nFROM ImageName\nRUN a `\nRUN b\n",
        "# unknowndirective=value\n# escape=`\nFROM ImageName\nRUN a `\nRUN b\n",
        "# direc \\\n# escape=`\nFROM ImageName\nRUN a `\nRUN b\n",
    ] {
        let f = parse(text);
        assert_eq!(f.directives.escape, '\\', "{text}");
        assert_eq!(f.instructions.last().map(shell), Some("b"), "{text}");
    }
    assert_eq!(
        err("# escape=`\n# escape=`\n\nFROM ImageName\n"),
        "Dockerfile line 2: only one escape parser directive can be used"
    );
    let f = parse("# syntax=docker/dockerfile:1\nFROM a\n");
    assert_eq!(f.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
}

#[test]
fn buildkit_line_numbers_and_empty_continuation_warnings() {
    let f = parse(
        "\nFROM alpine:3.6\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN another \\\n\n    thing\n\
         RUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t",
    );
    let spans: Vec<(usize, usize)> = f
        .instructions
        .iter()
        .map(|i| (i.line, i.end_line))
        .collect();
    assert_eq!(spans, [(2, 2), (4, 8), (10, 12), (13, 15), (17, 19)]);
    assert_eq!(
        shell(&f.instructions[1]),
        "something     following     more"
    );
    assert_eq!(shell(&f.instructions[3]), "non-indented    after-comment");
    assert_eq!(shell(&f.instructions[4]), "indented     comment");
    let w: Vec<&str> = f.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(w.len(), 2);
    assert!(w[0].contains("Empty continuation line found in: RUN something     following     more"));
    assert!(w[1].contains("RUN another     thing"));
}

#[test]
fn buildkit_heredoc_extraction() {
    // BuildKit's TestParseExtractsHeredoc (bodies of `<<-` shown chomped;
    // its USER case is below, as an error here).
    let f = parse(concat!(
        "\nFROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n\n",
        "RUN <<EMPTY\nEMPTY\n\nRUN 3<<EMPTY2\nEMPTY2\n\nRUN \"<<NOHEREDOC\"\n\n",
        "RUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\nRUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\n",
        "RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\nRUN <<-EXPAND\n\texpand $NAME\nEXPAND\n\n",
        "RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\n",
        "RUN <<COPY\necho hello world\necho foo bar\nCOPY\n\n",
        "RUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT\n\n",
        "RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\n",
        "COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\n",
        "COPY <<X <<Y /dest\nY\nX\nX\nY\n\t"
    ));
    let docs = |i: &parser::Instruction| -> Vec<(String, u32, bool, bool, String)> {
        let list = match &i.command {
            Command::Run { heredocs, .. } => heredocs.clone(),
            Command::Copy(t) => t
                .sources
                .iter()
                .filter_map(|s| match s {
                    Source::Heredoc(h) => Some(h.clone()),
                    Source::Path(_) => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        list.into_iter()
            .map(|h| (h.name, h.fd, h.expand, h.chomp, h.content))
            .collect()
    };
    let d = |n: &str, fd, e, c, body: &str| (n.to_string(), fd, e, c, body.to_string());
    // BuildKit's `USER <<INVALID` case: USER reads no heredoc, so the
    // "body" line is an instruction of its own, unknown to Docker.
    let e = parser::parse("FROM a\nUSER <<INVALID\nINVALID\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile line 3: unknown instruction: INVALID"
    );
    let f_ok = f;
    let got: Vec<_> = f_ok.instructions.iter().map(docs).collect();
    assert_eq!(got[3], [d("EMPTY", 0, true, false, "")]);
    assert_eq!(got[4], [d("EMPTY2", 3, true, false, "")]);
    assert_eq!(got[5], []);
    assert_eq!(got[6], [d("INDENT", 0, true, false, "\tfoo\n\tbar\n")]);
    assert_eq!(got[7], [d("UNINDENT", 0, true, true, "baz\nquux\n")]);
    assert_eq!(got[8], [d("UNINDENT2", 0, true, true, "baz\nquux\n")]);
    assert_eq!(got[9], [d("EXPAND", 0, true, true, "expand $NAME\n")]);
    assert_eq!(
        got[10],
        [d("NOEXPAND", 0, false, true, "don't expand $NAME\n")]
    );
    assert_eq!(
        got[11],
        [d(
            "COPY",
            0,
            true,
            false,
            "echo hello world\necho foo bar\n"
        )]
    );
    assert_eq!(
        got[12],
        [d(
            "COMMENT",
            0,
            true,
            false,
            "# internal comment\necho hello world\necho foo bar # trailing comment\n"
        )]
    );
    assert_eq!(got[13], [d("MOUNT", 0, true, false, "echo hello\n")]);
    assert_eq!(
        got[14],
        [
            d("FILE1", 0, true, false, "content 1\n"),
            d("FILE2", 0, true, false, "content 2\n")
        ]
    );
    assert_eq!(
        got[15],
        [d("X", 0, true, false, "Y\n"), d("Y", 0, true, false, "X\n")]
    );
    assert_eq!(
        f_ok.instructions[13].flag("mount"),
        Some("type=cache,target=/foo")
    );
    match &f_ok.instructions[14].command {
        Command::Copy(t) => assert_eq!(t.dest, "/dest"),
        other => panic!("{other:?}"),
    }
    // Line spans cover the bodies.
    assert_eq!(
        (f_ok.instructions[6].line, f_ok.instructions[6].end_line),
        (16, 19)
    );
}

#[test]
fn buildkit_json_forms_open_no_heredocs() {
    let f = parse("\nFROM alpine:3.6\n\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n\t");
    for i in &f.instructions[1..] {
        match &i.command {
            Command::Run {
                form: Form::Exec(_),
                heredocs,
            } => assert!(heredocs.is_empty()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        err("FROM a\nRUN <<EOF\nno end\n"),
        "Dockerfile line 2: unterminated heredoc"
    );
    assert_eq!(
        err("FROM a\nCOPY a <<EOF\nx\nEOF\n"),
        "Dockerfile line 2: COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn exec_and_shell_forms() {
    let f = parse(concat!(
        "FROM a\n",
        "CMD [\"echo\", \"hi\"]\n",
        "ENTRYPOINT [\"c:\\windows\\system32\\tasklist.exe\"]\n",
        "RUN ['single', 'quotes']\n",
        "CMD [\"a\"] trailing text\n",
        "SHELL [\"/bin/bash\", \"-c\"]\n",
        "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\n",
        "HEALTHCHECK CMD [\"/bin/check\", \"x\"]\n",
        "HEALTHCHECK NONE\n",
        "ENTRYPOINT\n",
    ));
    let c: Vec<&Command> = f.instructions.iter().map(|i| &i.command).collect();
    assert_eq!(
        *c[1],
        Command::Cmd(Form::Exec(vec!["echo".into(), "hi".into()]))
    );
    // Invalid JSON (unescaped backslashes, single quotes) is the shell form.
    assert_eq!(
        *c[2],
        Command::Entrypoint(Form::Shell(
            "[\"c:\\windows\\system32\\tasklist.exe\"]".into()
        ))
    );
    assert_eq!(shell(&f.instructions[3]), "['single', 'quotes']");
    assert_eq!(*c[4], Command::Cmd(Form::Exec(vec!["a".into()])));
    assert_eq!(*c[5], Command::Shell(vec!["/bin/bash".into(), "-c".into()]));
    assert_eq!(
        *c[6],
        Command::Healthcheck(Some(Form::Shell("curl -f http://localhost/".into())))
    );
    assert_eq!(f.instructions[6].flag("interval"), Some("5s"));
    assert_eq!(f.instructions[6].flag("retries"), Some("3"));
    assert_eq!(
        *c[7],
        Command::Healthcheck(Some(Form::Exec(vec!["/bin/check".into(), "x".into()])))
    );
    assert_eq!(*c[8], Command::Healthcheck(None));
    assert_eq!(*c[9], Command::Entrypoint(Form::Shell(String::new())));
}

#[test]
fn env_label_arg_forms() {
    let f = parse(concat!(
        "FROM a\n",
        "ENV k v  w\n",
        "ENV k=v k2=\"v 2\" k3='x y' k4=a\\ b\n",
        "LABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0\n",
        "LABEL multi.line=\"a \\\n  b\"\n",
        "ARG A B=1 C=\"two words\" D=\n",
        "MAINTAINER Jane Doe <jane@example.com>\n",
    ));
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: v.into(),
    };
    assert_eq!(
        f.instructions[1].command,
        Command::Env(vec![kv("k", "v  w")])
    );
    assert_eq!(
        f.instructions[2].command,
        Command::Env(vec![
            kv("k", "v"),
            kv("k2", "\"v 2\""),
            kv("k3", "'x y'"),
            kv("k4", "a\\ b")
        ])
    );
    assert_eq!(
        f.instructions[3].command,
        Command::Label(vec![
            kv("\"com.example.vendor\"", "\"ACME Inc\""),
            kv("version", "1.0")
        ])
    );
    assert_eq!(
        f.instructions[4].command,
        Command::Label(vec![kv("multi.line", "\"a   b\"")])
    );
    let arg = |n: &str, d: Option<&str>| ArgDef {
        name: n.into(),
        default: d.map(String::from),
    };
    assert_eq!(
        f.instructions[5].command,
        Command::Arg(vec![
            arg("A", None),
            arg("B", Some("1")),
            arg("C", Some("\"two words\"")),
            arg("D", Some(""))
        ])
    );
    assert_eq!(
        f.instructions[6].command,
        Command::Maintainer("Jane Doe <jane@example.com>".into())
    );

    assert_eq!(
        err("FROM a\nENV k\n"),
        "Dockerfile line 2: ENV must have two arguments"
    );
    assert_eq!(
        err("FROM a\nENV a=b c\n"),
        "Dockerfile line 2: Syntax error - can't find = in \"c\". Must be of the form: name=value"
    );
    assert_eq!(
        err("FROM a\nLABEL =x\n"),
        "Dockerfile line 2: LABEL names can not be blank"
    );
    assert_eq!(
        err("FROM a\nENV\n"),
        "Dockerfile line 2: ENV requires at least one argument"
    );
    assert_eq!(
        err("ARG =x\n"),
        "Dockerfile line 1: ARG names can not be blank"
    );
}

#[test]
fn from_expose_volume_and_simple_instructions() {
    let f = parse(concat!(
        "ARG BASE=busybox\n",
        "FROM --platform=linux/amd64 ${BASE} AS Build-1\n",
        "from scratch\n",
        "EXPOSE 80 80/udp 8000-8010/tcp $P\n",
        "VOLUME [\"/data\", \"/logs\"]\n",
        "VOLUME /a /b\n",
        "USER app:staff\n",
        "WORKDIR /srv/$APP\n",
        "STOPSIGNAL SIGKILL\n",
        "ADD --chown=1:2 --chmod=640 a.tar.gz https://example.com/x /dst/\n",
        "COPY --from=build [\"a b\", \"/c d/\"]\n",
    ));
    let c: Vec<&Command> = f.instructions.iter().map(|i| &i.command).collect();
    assert_eq!(
        *c[1],
        Command::From {
            image: "${BASE}".into(),
            stage: Some("build-1".into())
        }
    );
    assert_eq!(f.instructions[1].flag("platform"), Some("linux/amd64"));
    assert_eq!(
        *c[2],
        Command::From {
            image: "scratch".into(),
            stage: None
        }
    );
    assert_eq!(f.instructions[2].keyword, Keyword::From);
    assert_eq!(
        *c[3],
        Command::Expose(vec![
            "80".into(),
            "80/udp".into(),
            "8000-8010/tcp".into(),
            "$P".into()
        ])
    );
    assert_eq!(*c[4], Command::Volume(vec!["/data".into(), "/logs".into()]));
    assert_eq!(*c[5], Command::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(*c[6], Command::User("app:staff".into()));
    assert_eq!(*c[7], Command::Workdir("/srv/$APP".into()));
    assert_eq!(*c[8], Command::StopSignal("SIGKILL".into()));
    match c[9] {
        Command::Add(t) => {
            let paths: Vec<_> = t
                .sources
                .iter()
                .map(|s| match s {
                    Source::Path(p) => p.as_str(),
                    Source::Heredoc(_) => "heredoc",
                })
                .collect();
            assert_eq!(paths, ["a.tar.gz", "https://example.com/x"]);
            assert_eq!(t.dest, "/dst/");
        }
        other => panic!("{other:?}"),
    }
    match c[10] {
        Command::Copy(t) => {
            assert_eq!(t.sources, [Source::Path("a b".into())]);
            assert_eq!(t.dest, "/c d/");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn onbuild_triggers() {
    let f =
        parse("FROM a\nONBUILD ADD . /app/src\nonbuild RUN <<EOF\necho $X\nEOF\nONBUILD FOO bar\n");
    assert_eq!(
        f.instructions[1].command,
        Command::Onbuild {
            trigger: "ADD".into(),
            expression: "ADD . /app/src".into()
        }
    );
    let Command::Onbuild { expression, .. } = &f.instructions[2].command else {
        panic!()
    };
    assert_eq!(expression, "RUN <<EOF\necho $X\nEOF");
    assert_eq!(f.instructions[2].end_line, 5);
    // The stored trigger parses back to its instruction, heredoc included.
    let t = parser::parse_trigger(expression).unwrap();
    match t.command {
        Command::Run { heredocs, .. } => assert_eq!(heredocs[0].content, "echo $X\n"),
        other => panic!("{other:?}"),
    }
    // Docker checks an unknown trigger only when a child build runs it.
    assert_eq!(
        f.instructions[3].command,
        Command::Onbuild {
            trigger: "FOO".into(),
            expression: "FOO bar".into()
        }
    );
    assert_eq!(
        parser::parse_trigger("FOO bar").unwrap_err().to_string(),
        "Dockerfile line 1: unknown instruction: FOO"
    );
    assert_eq!(
        err("FROM a\nONBUILD ONBUILD RUN x\n"),
        "Dockerfile line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        err("FROM a\nONBUILD from b\n"),
        "Dockerfile line 2: FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("FROM a\nONBUILD MAINTAINER me\n"),
        "Dockerfile line 2: MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("FROM a\nONBUILD\n"),
        "Dockerfile line 2: ONBUILD requires at least one argument"
    );
}

#[test]
fn errors_name_the_line() {
    let cases = [
        ("FROM a\n\nFOO bar\n", "Dockerfile line 3: unknown instruction: FOO"),
        ("FROM a\nRUN a \\\n  b\nBAR\n", "Dockerfile line 4: unknown instruction: BAR"),
        ("FROM a\nCMD [\"a\", 1]\n", "Dockerfile line 2: when using JSON array syntax, arrays must be comprised of strings only"),
        ("FROM a b\n", "Dockerfile line 1: FROM requires either one or three arguments"),
        ("FROM a AS 1x\n", "Dockerfile line 1: invalid name for build stage: \"1x\", name can't start with a number or contain symbols"),
        ("FROM a\nCOPY x\n", "Dockerfile line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM a\nCOPY --chwon=1 x y\n", "Dockerfile line 2: unknown flag: chwon"),
        ("FROM a\nENV --x=1 a=b\n", "Dockerfile line 2: unknown flag: x"),
        ("FROM a\nSHELL /bin/sh -c\n", "Dockerfile line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM a\nSHELL []\n", "Dockerfile line 2: SHELL requires at least one argument"),
        ("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile line 2: HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK CMD\n", "Dockerfile line 2: Missing command after HEALTHCHECK CMD"),
        ("FROM a\nHEALTHCHECK RUN x\n", "Dockerfile line 2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
        ("FROM a\nVOLUME [\"\"]\n", "Dockerfile line 2: VOLUME specified can not be an empty string"),
        ("FROM a\nUSER\n", "Dockerfile line 2: USER requires exactly one argument"),
        ("FROM a\nEXPOSE\n", "Dockerfile line 2: EXPOSE requires at least one argument"),
        ("# escape=x\nFROM a\n", "Dockerfile line 1: invalid escape token 'x' does not match ` or \\"),
        ("\n# just a comment\n\n", "Dockerfile line 3: file with no instructions"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "{text:?}");
    }
}

#[test]
fn bom_crlf_and_case() {
    let f = parse("\u{feff}# escape=`\r\nfrom a\r\nrun echo `\r\n  hi\r\n");
    assert_eq!(f.directives.escape, '`');
    assert_eq!(f.instructions[1].keyword, Keyword::Run);
    assert_eq!(shell(&f.instructions[1]), "echo   hi");
}
