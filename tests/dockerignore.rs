//! `.dockerignore` matching: a table of (patterns, path, excluded?) cases
//! checked against Docker's patternmatcher semantics, plus file loading and
//! the `<Dockerfile>.dockerignore` precedence.

use rbuild::context::{DockerIgnore, ParentMatches};
use std::fs;

/// (patterns, path, excluded). Many rows are moby/patternmatcher's own
/// `TestMatches` cases; the rest cover parent-dir matching and exceptions.
const CASES: &[(&[&str], &str, bool)] = &[
    // `*` and `?` never cross a slash.
    (&["*"], "file", true),
    (&["*"], "dir/file", true), // parent "dir" matches
    (&["*.go"], "main.go", true),
    (&["*.go"], "cmd/main.go", false),
    (&["a/*.txt"], "a/file.txt", true),
    (&["a/*.txt"], "a/dir/file.txt", false),
    (&["abc?def"], "abcZdef", true),
    (&["abc?def"], "abcdef", false),
    (&["abc?def"], "abc/def", false),
    // `**` spans any number of directories (also none).
    (&["**"], "file", true),
    (&["**"], "dir/file", true),
    (&["**/"], "dir/file", true),
    (&["**/**"], "dir/file", true),
    (&["dir/**"], "dir/file", true),
    (&["dir/**"], "dir/dir2/file", true),
    (&["abc/**"], "abc", false),
    (&["abc/**"], "abc/def/ghi", true),
    (&["**/dir"], "dir", true),
    (&["**/dir"], "dir/file", true),
    (&["**/dir2/*"], "dir/dir2/file", true),
    (&["**/dir2/**"], "dir/dir2/dir3/file", true),
    (&["**file"], "file", true),
    (&["**file"], "dir/dir/file", true),
    (&["**/file"], "dir/dir/file", true),
    (&["**/file*"], "dir/dir/file.txt", true),
    (&["**/file*.txt*"], "dir/dir/file.txt", true),
    (&["**/**/*.txt"], "dir/dir/file.txt", true),
    (&["**/**/*.txt2"], "dir/dir/file.txt", false),
    (&["**/*.txt"], "file.txt", true),
    (&["**/*.go"], "a/b/c/main.go", true),
    (&["**/*.go"], "a/b/c/main.rs", false),
    (&["a**/*.txt"], "a/dir/dir/file.txt", true),
    (&["a/*.txt**"], "a/file.txt", true),
    (&["**/foo/bar"], "foo/bar", true),
    (&["**/foo/bar"], "dir/dir2/foo/bar", true),
    (&["**/.foo"], ".foo", true),
    (&["**/.foo"], "bar.foo", false),
    // Character classes, negated with `^`.
    (&["a[b-d]e"], "ace", true),
    (&["a[b-d]e"], "aae", false),
    (&["a[^b-d]e"], "aze", true),
    (&["a[^b-d]e"], "ace", false),
    (&["[a-c]*.log"], "b1.log", true),
    (&["[a-c]*.log"], "d1.log", false),
    // Regex metacharacters are literal; `\` escapes.
    (&[".*"], ".foo", true),
    (&[".*"], "foo", false),
    (&["abc.def"], "abcZdef", false),
    (&["abc.def"], "abc.def", true),
    (&["a(b)c/def"], "a(b)c/def", true),
    (&["a.|)$(}+{bc"], "a.|)$(}+{bc", true),
    (&["a\\\\"], "a\\", true),
    (&["\\*.txt"], "*.txt", true),
    (&["\\*.txt"], "a.txt", false),
    (
        &["dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    // A pattern matching a directory excludes everything in it.
    (&["node_modules"], "node_modules/a/b/index.js", true),
    (&["build"], "src/build", false),
    (&["*/build"], "src/build/out.o", true),
    // `!` exceptions and last-match-wins.
    (&["*.md", "!README.md"], "README.md", false),
    (&["*.md", "!README.md"], "CHANGES.md", true),
    (&["!README.md", "*.md"], "README.md", true),
    (&["docs", "!docs/keep.txt"], "docs/keep.txt", false),
    (&["docs", "!docs/keep.txt"], "docs/other.txt", true),
    (
        &["docs", "!docs/keep.txt", "docs/*.txt"],
        "docs/keep.txt",
        true,
    ),
    (
        &["**", "!src/**", "src/**/*_test.go"],
        "src/a/x_test.go",
        true,
    ),
    (&["**", "!src/**", "src/**/*_test.go"], "src/a/x.go", false),
    (&["**", "!src/**", "src/**/*_test.go"], "Makefile", true),
    (&["*", "!keep"], "keep", false),
    // Cleaning: leading `/`, `./`, `..` and repeated slashes.
    (&["/secret.txt"], "secret.txt", true),
    (&["./secret.txt"], "secret.txt", true),
    (&["a//b/../c"], "a/c", true),
    (&["tmp/"], "tmp/x", true),
    (&["../outside"], "outside", false),
    // Paths are cleaned too; the context root is never excluded.
    (&["a"], "./a/b", true),
    (&["a"], "/a", true),
    (&["**"], ".", false),
    // Surrounding whitespace of a pattern is ignored.
    (&["  spaced.txt  "], "spaced.txt", true),
];

#[test]
fn pattern_table() {
    let mut failures = Vec::new();
    for (patterns, path, want) in CASES {
        let ignore = DockerIgnore::from_patterns(patterns.iter()).expect("patterns compile");
        let got = ignore.is_excluded(path);
        if got != *want {
            failures.push(format!("{patterns:?} {path:?}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

/// Walking with per-directory results must agree with the one-shot check.
#[test]
fn incremental_matching_agrees_with_one_shot() {
    let cases: &[&[&str]] = &[
        &["docs", "!docs/keep.txt"],
        &["**", "!src/**", "src/**/*_test.go"],
        &["*.md", "!README.md", "a/b"],
        &["**/*.go"],
    ];
    let paths = [
        "docs",
        "docs/keep.txt",
        "docs/other.txt",
        "src",
        "src/a",
        "src/a/x_test.go",
        "src/a/x.go",
        "README.md",
        "a",
        "a/b",
        "a/b/c.go",
        "a/c.md",
    ];
    for patterns in cases {
        let ignore = DockerIgnore::from_patterns(patterns.iter()).unwrap();
        for path in paths {
            // Chain the parents' results like a walker would.
            let mut info = ParentMatches::default();
            let parts: Vec<&str> = path.split('/').collect();
            for depth in 1..parts.len() {
                let dir = parts[..depth].join("/");
                info = ignore.matches_with_parent(&dir, &info).1;
            }
            let (walked, _) = ignore.matches_with_parent(path, &info);
            assert_eq!(walked, ignore.is_excluded(path), "{patterns:?} {path}");
        }
    }
}

#[test]
fn file_syntax_comments_blank_lines_and_bom() {
    let text = "\u{feff}# comment\n\n  *.log  \n #not-a-comment\n!keep.log\r\n";
    let ignore = DockerIgnore::parse(text, None).unwrap();
    let patterns: Vec<_> = ignore.patterns().collect();
    assert_eq!(
        patterns,
        [
            ("*.log", false),
            ("#not-a-comment", false),
            ("keep.log", true)
        ]
    );
    assert!(ignore.is_excluded("a.log"));
    assert!(!ignore.is_excluded("keep.log"));
    assert!(ignore.is_excluded("#not-a-comment"));
}

#[test]
fn bad_patterns_are_errors_naming_the_line() {
    let err = DockerIgnore::parse("ok\n!\n", Some("ctx/.dockerignore".as_ref())).unwrap_err();
    assert!(err.to_string().contains("ctx/.dockerignore:2"), "{err}");
    let err = DockerIgnore::parse("a[b\n", None).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    // Go's filepath.Match rejects these; so does Docker.
    for bad in ["[]a]", "[a-]", "x\\", "[^]", "[-a]", "a[b-"] {
        assert!(
            DockerIgnore::from_patterns([bad]).is_err(),
            "{bad:?} accepted"
        );
    }
    for good in ["[\\]]", "[a-c]", "[^a]", "\\[x", "[!a]"] {
        assert!(
            DockerIgnore::from_patterns([good]).is_ok(),
            "{good:?} rejected"
        );
    }
}

#[test]
fn pruning_excluded_directories() {
    let plain = DockerIgnore::from_patterns(["node_modules"]).unwrap();
    assert!(!plain.dir_may_contain_included("node_modules"));
    let prefix = DockerIgnore::from_patterns(["docs", "!docs/keep/**"]).unwrap();
    assert!(prefix.dir_may_contain_included("docs"));
    assert!(prefix.dir_may_contain_included("docs/keep"));
    assert!(!prefix.dir_may_contain_included("other"));
    let wild = DockerIgnore::from_patterns(["vendor", "!**/*.go"]).unwrap();
    assert!(wild.dir_may_contain_included("vendor"));
}

#[test]
fn load_prefers_dockerfile_specific_ignore_file() {
    let ctx = tempfile::tempdir().unwrap();
    let root = ctx.path();
    fs::write(root.join(".dockerignore"), "from-context\n").unwrap();
    fs::create_dir(root.join("build")).unwrap();
    let dockerfile = root.join("build/app.Dockerfile");
    fs::write(&dockerfile, "FROM scratch\n").unwrap();

    // Without the specific file, the context's .dockerignore is used.
    let ignore = DockerIgnore::load(root, Some(&dockerfile)).unwrap();
    assert!(ignore.is_excluded("from-context"));
    assert_eq!(ignore.source(), Some(root.join(".dockerignore").as_path()));

    // `<Dockerfile name>.dockerignore` next to the Dockerfile wins.
    fs::write(
        root.join("build/app.Dockerfile.dockerignore"),
        "from-specific\n",
    )
    .unwrap();
    let ignore = DockerIgnore::load(root, Some(&dockerfile)).unwrap();
    assert!(ignore.is_excluded("from-specific"));
    assert!(!ignore.is_excluded("from-context"));

    // Stdin Dockerfile: only the context file counts.
    let ignore = DockerIgnore::load(root, None).unwrap();
    assert!(ignore.is_excluded("from-context"));
}

#[test]
fn load_without_file_excludes_nothing_and_rejects_bad_files() {
    let ctx = tempfile::tempdir().unwrap();
    let ignore = DockerIgnore::load(ctx.path(), None).unwrap();
    assert!(ignore.is_empty());
    assert!(!ignore.is_excluded("anything"));

    fs::write(ctx.path().join(".dockerignore"), b"\xff\xfe\n").unwrap();
    let err = DockerIgnore::load(ctx.path(), None).unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");

    fs::remove_file(ctx.path().join(".dockerignore")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", ctx.path().join(".dockerignore")).unwrap();
    let err = DockerIgnore::load(ctx.path(), None).unwrap_err();
    assert!(err.to_string().contains("regular file"), "{err}");

    // A symlink to a file inside the context is fine.
    fs::remove_file(ctx.path().join(".dockerignore")).unwrap();
    fs::write(ctx.path().join("patterns.txt"), "linked\n").unwrap();
    std::os::unix::fs::symlink("patterns.txt", ctx.path().join(".dockerignore")).unwrap();
    let ignore = DockerIgnore::load(ctx.path(), None).unwrap();
    assert!(ignore.is_excluded("linked"));
}
