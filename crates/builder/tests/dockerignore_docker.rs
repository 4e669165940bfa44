//! `.dockerignore` against Docker's documented answers (the ".dockerignore
//! files" section of the build context docs) and the tables of
//! moby/patternmatcher's tests.

use builder::dockerignore::DockerIgnore;

fn ignore(patterns: &[&str]) -> DockerIgnore {
    DockerIgnore::parse(&patterns.join("\n")).unwrap_or_else(|e| panic!("{e}: {patterns:?}"))
}

#[test]
fn patternmatcher_single_pattern_table() {
    // moby/patternmatcher TestMatches, as MatchesOrParentMatches answers
    // (a pattern matching a parent directory excludes the path). Paths
    // are cleaned first, as Docker's context walk gives them; the "/"
    // rows (the context root, never excluded) are left out.
    let table: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a\\\\", "a\\", true),
        ("a\\*b", "a*b", true),
    ];
    for &(pattern, path, want) in table {
        assert_eq!(
            ignore(&[pattern]).is_excluded(path),
            want,
            "pattern {pattern:?} path {path:?}"
        );
    }
}

#[test]
fn patternmatcher_multi_pattern_table() {
    let table: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (
            &[
                "**",
                "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            ],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        // patternmatcher's small cases.
        (&["*"], "fileutils.go", true),
        (&["*.go"], "fileutils.go", true),
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["*.go"], ".", false),
        (&[], "any/path/there", false),
    ];
    for &(patterns, path, want) in table {
        assert_eq!(
            ignore(patterns).is_excluded(path),
            want,
            "{patterns:?} {path:?}"
        );
    }
}

#[test]
fn go_filepath_match_table() {
    // Go's filepath.Match tests as patternmatcher runs them (one pattern,
    // parent directories matching too); `None` is ErrBadPattern.
    let table: &[(&str, &str, Option<bool>)] = &[
        ("abc", "abc", Some(true)),
        ("*", "abc", Some(true)),
        ("*c", "abc", Some(true)),
        ("a*", "a", Some(true)),
        ("a*", "abc", Some(true)),
        ("a*", "ab/c", Some(true)),
        ("a*/b", "abc/b", Some(true)),
        ("a*/b", "a/c/b", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
        ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
        ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
        ("ab[c]", "abc", Some(true)),
        ("ab[b-d]", "abc", Some(true)),
        ("ab[e-g]", "abc", Some(false)),
        ("ab[^c]", "abc", Some(false)),
        ("ab[^b-d]", "abc", Some(false)),
        ("ab[^e-g]", "abc", Some(true)),
        ("a\\*b", "a*b", Some(true)),
        ("a\\*b", "ab", Some(false)),
        ("a?b", "a☺b", Some(true)),
        ("a[^a]b", "a☺b", Some(true)),
        ("a???b", "a☺b", Some(false)),
        ("a[^a][^a][^a]b", "a☺b", Some(false)),
        ("[a-ζ]*", "α", Some(true)),
        ("*[a-ζ]", "A", Some(false)),
        ("a?b", "a/b", Some(false)),
        ("a*b", "a/b", Some(false)),
        ("[\\]a]", "]", Some(true)),
        ("[\\-]", "-", Some(true)),
        ("[x\\-]", "x", Some(true)),
        ("[x\\-]", "-", Some(true)),
        ("[x\\-]", "z", Some(false)),
        ("[\\-x]", "x", Some(true)),
        ("[\\-x]", "-", Some(true)),
        ("[\\-x]", "a", Some(false)),
        ("[]a]", "]", None),
        ("[-]", "-", None),
        ("[x-]", "x", None),
        ("[x-]", "-", None),
        ("[x-]", "z", None),
        ("[-x]", "x", None),
        ("[-x]", "-", None),
        ("[-x]", "a", None),
        ("\\", "a", None),
        ("[a-b-c]", "a", None),
        ("[", "a", None),
        ("[^", "a", None),
        ("[^bc", "a", None),
        ("a[", "a", None),
        ("a[", "ab", None),
        ("*x", "xxx", Some(true)),
    ];
    for &(pattern, path, want) in table {
        let got = DockerIgnore::parse(pattern)
            .map(|ig| ig.is_excluded(path))
            .ok();
        assert_eq!(got, want, "pattern {pattern:?} path {path:?}");
    }
}

#[test]
fn documented_examples() {
    // "# comment / */temp* / */*/temp* / temp?" and what each line does.
    let ig = DockerIgnore::parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n").unwrap();
    assert_eq!(ig.patterns().count(), 3);
    for (path, want) in [
        ("somedir/temporary.txt", true),
        ("somedir/temp", true),
        ("somedir/subdir/temporary.txt", true),
        ("tempa", true),
        ("tempb", true),
        ("temp", false),
        ("temporary.txt", false),
        ("a/b/c/temp", false),
        ("a/b/c/tempa", false),
        ("# comment", false),
    ] {
        assert_eq!(ig.is_excluded(path), want, "{path}");
    }

    // `/foo/bar` and `foo/bar` both exclude foo/bar, and nothing else.
    for p in ["/foo/bar", "foo/bar", "./foo/bar/", "foo//bar"] {
        let ig = ignore(&[p]);
        assert!(
            ig.is_excluded("foo/bar") && ig.is_excluded("foo/bar/x"),
            "{p}"
        );
        assert!(
            !ig.is_excluded("foo") && !ig.is_excluded("x/foo/bar") && !ig.is_excluded("foo/barx"),
            "{p}"
        );
    }

    // `**/*.go` excludes .go files in every directory, the root included.
    let ig = ignore(&["**/*.go"]);
    assert!(ig.is_excluded("main.go") && ig.is_excluded("a/b/c.go"));
    assert!(!ig.is_excluded("a/b/c.go2"));

    // Exceptions.
    let ig = ignore(&["*.md", "!README.md"]);
    assert!(ig.is_excluded("CHANGES.md") && !ig.is_excluded("README.md"));
    assert!(!ig.is_excluded("docs/x.md"), "*.md is the root only");

    let ig = ignore(&["*.md", "!README*.md", "README-secret.md"]);
    assert!(ig.is_excluded("CHANGES.md") && ig.is_excluded("README-secret.md"));
    assert!(!ig.is_excluded("README.md") && !ig.is_excluded("README-x.md"));

    let ig = ignore(&["*.md", "README-secret.md", "!README*.md"]);
    assert!(!ig.is_excluded("README-secret.md") && !ig.is_excluded("README.md"));
    assert!(ig.is_excluded("CHANGES.md"));

    // "*" then exceptions: name what goes in.
    let ig = ignore(&["*", "!src", "!Dockerfile"]);
    assert!(ig.is_excluded("target") && ig.is_excluded("notes.txt"));
    assert!(!ig.is_excluded("src/main.rs") && !ig.is_excluded("Dockerfile"));
}

#[test]
fn walker_may_skip_only_directories_with_nothing_to_reinclude() {
    let ig = ignore(&[
        "node_modules",
        "docs",
        "!docs/README.md",
        "build",
        "!**/keep",
    ]);
    assert!(
        !ig.can_skip_dir("node_modules"),
        "!**/keep may match below anything"
    );
    let ig = ignore(&["node_modules", "docs", "!docs/README.md"]);
    assert!(ig.can_skip_dir("node_modules"));
    assert!(!ig.can_skip_dir("docs"));
    assert!(ig.can_skip_dir("docs/sub"));
    assert!(!ig.can_skip_dir("src"), "not excluded");
    let ig = ignore(&["*", "!a/*/keep"]);
    assert!(!ig.can_skip_dir("a") && !ig.can_skip_dir("a/x") && ig.can_skip_dir("b"));
    assert!(ig.can_skip_dir("a/x/keep2") && !ig.is_excluded("a/x/keep"));

    // For every pattern set and directory: when a walker may skip it,
    // everything below it is excluded.
    let sets: &[&[&str]] = &[
        &["a", "!a/b/c"],
        &["*", "!*/b"],
        &["**/b", "!a/b/c*"],
        &["a/**", "!a/x[bc]/d"],
        &["a", "!**c", "a/b"],
        &["*/b", "!a/b/c", "a/b/c/d"],
        &["a?", "!ab/?/z"],
    ];
    let dirs = ["a", "a/b", "a/b/c", "ab", "ab/c", "a/xb", "x", "x/b"];
    let leaves = ["c", "d", "z", "b/c", "c/d", "xb/d", "q/z"];
    for set in sets {
        let ig = ignore(set);
        for dir in dirs {
            if !ig.can_skip_dir(dir) {
                continue;
            }
            for leaf in leaves {
                let path = format!("{dir}/{leaf}");
                assert!(
                    ig.is_excluded(&path),
                    "{set:?}: skipped {dir} but {path} is included"
                );
            }
        }
    }
}
