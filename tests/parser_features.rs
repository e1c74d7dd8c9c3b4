//! Parser behaviour the BuildKit data files do not cover: heredocs, parser
//! directives, CRLF/BOM input, empty-continuation warnings, ONBUILD triggers,
//! spans and raw keywords, and the errors (with their lines) for bad input.

use rbuild::parser::ast::{Dockerfile, Heredoc};
use rbuild::parser::{dump, parse, ParseError};

fn ok(src: &str) -> Dockerfile {
    parse(src.as_bytes()).unwrap_or_else(|e| panic!("parse failed: {e}\n--- input:\n{src}"))
}

fn err(src: &str) -> ParseError {
    match parse(src.as_bytes()) {
        Ok(df) => panic!("parse must fail, got:\n{}", dump(&df)),
        Err(e) => e,
    }
}

fn doc(name: &str, content: &str, expand: bool, chomp: bool) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        expand,
        chomp,
    }
}

#[test]
fn heredoc_basic_body_and_span() {
    let df = ok("FROM a\nRUN <<EOF\necho hi\n# not a comment\n\nEOF\nRUN true\n");
    let run = &df.nodes[1];
    assert_eq!(
        run.heredocs,
        vec![doc("EOF", "echo hi\n# not a comment\n\n", true, false)]
    );
    assert_eq!((run.span.start_line, run.span.end_line), (2, 6));
    assert_eq!(run.args, vec!["<<EOF"]);
    assert_eq!((df.nodes[2].span.start_line, df.span.end_line), (7, 7));
    // Bodies do not show in the dump.
    assert_eq!(dump(&df), "(from \"a\")\n(run \"<<EOF\")\n(run \"true\")\n");
}

#[test]
fn heredoc_chomp_strips_tabs_of_body_and_delimiter() {
    let df = ok("FROM a\nRUN <<-EOF\n\techo a\n\t\techo b\n\tEOF\n");
    assert_eq!(
        df.nodes[1].heredocs,
        vec![doc("EOF", "echo a\necho b\n", true, true)]
    );
    // Without `-`, a tab-indented delimiter does not close the heredoc.
    let e = err("FROM a\nRUN <<EOF\n\techo a\n\tEOF\n");
    assert!(
        matches!(e, ParseError::UnterminatedHeredoc { line: 2, .. }),
        "{e:?}"
    );
}

#[test]
fn heredoc_quoted_delimiters_disable_expansion() {
    let df = ok("FROM a\nRUN <<'EOF'\n$X\nEOF\nRUN <<\"EOT\"\n$X\nEOT\nRUN <<-'E'\n\t$X\nE\n");
    assert_eq!(df.nodes[1].heredocs, vec![doc("EOF", "$X\n", false, false)]);
    assert_eq!(df.nodes[2].heredocs, vec![doc("EOT", "$X\n", false, false)]);
    assert_eq!(df.nodes[3].heredocs, vec![doc("E", "$X\n", false, true)]);
}

#[test]
fn heredoc_several_on_one_line_are_read_in_order() {
    let df = ok("FROM a\nCOPY <<X <<Y /dest\nY\nX\nX\nY\nRUN done\n");
    assert_eq!(
        df.nodes[1].heredocs,
        vec![doc("X", "Y\n", true, false), doc("Y", "X\n", true, false)]
    );
    assert_eq!(df.nodes[1].args, vec!["<<X", "<<Y", "/dest"]);
    assert_eq!(
        (df.nodes[1].span.start_line, df.nodes[1].span.end_line),
        (2, 6)
    );
    assert_eq!(df.nodes[2].keyword, "run");
}

#[test]
fn heredoc_with_command_flags_and_instructions() {
    let df = ok(concat!(
        "FROM a\n",
        "RUN --mount=type=cache,target=/c <<EOF bash -e\nset -x\nEOF\n",
        "COPY --chmod=755 <<EOF /dst\nfile\nEOF\n",
        "ADD <<EOF /add\nadded\nEOF\n",
        "ONBUILD RUN <<EOF\nlater\nEOF\n",
    ));
    let run = &df.nodes[1];
    assert_eq!(run.flags, vec!["--mount=type=cache,target=/c"]);
    assert_eq!(run.args, vec!["<<EOF bash -e"]);
    assert_eq!(run.heredocs, vec![doc("EOF", "set -x\n", true, false)]);
    assert_eq!(
        df.nodes[2].heredocs,
        vec![doc("EOF", "file\n", true, false)]
    );
    assert_eq!(
        df.nodes[3].heredocs,
        vec![doc("EOF", "added\n", true, false)]
    );
    let onbuild = &df.nodes[4];
    assert_eq!(onbuild.heredocs, vec![doc("EOF", "later\n", true, false)]);
    let nested = onbuild.nested.as_ref().expect("nested trigger");
    assert_eq!(nested.heredocs, onbuild.heredocs);
    assert_eq!(dump(&df).lines().last(), Some("(onbuild (run \"<<EOF\"))"));
}

#[test]
fn no_heredoc_in_json_form_quotes_or_other_instructions() {
    let df = ok(
        "FROM a\nRUN [\"<<EOF\"]\nRUN \"<<EOF\"\nUSER <<INVALID\nCMD <<EOF\nRUN a<<b \"x<<y\"\n",
    );
    assert!(df.nodes.iter().all(|n| n.heredocs.is_empty()));
    assert_eq!(df.nodes.len(), 6);
    assert!(df.nodes[1].json_form);
}

#[test]
fn heredoc_body_keeps_crlf_and_closes_on_crlf_delimiter() {
    let df = ok("FROM a\r\nRUN <<EOF\r\nline\r\nEOF\r\nRUN x\r\n");
    assert_eq!(
        df.nodes[1].heredocs,
        vec![doc("EOF", "line\r\n", true, false)]
    );
    assert_eq!(df.nodes[2].args, vec!["x"]);
}

#[test]
fn unterminated_heredoc_names_the_line() {
    let e = err("FROM a\n\nRUN <<EOF\nno end\n");
    assert_eq!(e.line(), 3);
    assert!(e.to_string().contains("unterminated heredoc"), "{e}");
    let e = err("FROM a\nRUN <<A <<B\nA\n");
    assert!(
        matches!(e, ParseError::UnterminatedHeredoc { line: 2, ref name } if name == "B"),
        "{e:?}"
    );
}

#[test]
fn directives_case_order_and_values() {
    let df = ok("# CHECK=skip=JSONArgsRecommended\n#Syntax = docker/dockerfile:1\n# Escape=`\nFROM a\nRUN a `\n  b\n");
    assert_eq!(df.directives.escape, '`');
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(
        df.directives.check.as_deref(),
        Some("skip=JSONArgsRecommended")
    );
    assert_eq!(dump(&df), "(from \"a\")\n(run \"a   b\")\n");
    let df = ok("FROM a\nRUN a \\\n  b\n");
    assert_eq!(df.directives.escape, '\\');
    assert_eq!(df.directives.syntax, None);
}

#[test]
fn escape_backtick_changes_continuation_and_words() {
    let df = ok("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\nENV A=b`=c`\n D=e\n");
    assert_eq!(df.nodes[1].args, vec!["dir c:\\   && echo"]);
    assert_eq!(df.nodes[2].args, vec!["A", "b`=c", "=", "D", "e", "="]);
}

#[test]
fn duplicate_and_invalid_directives_are_errors_with_lines() {
    let e = err("# escape=`\n# syntax=x\n# ESCAPE=`\nFROM a\n");
    assert!(matches!(e, ParseError::Directive { line: 3, .. }), "{e:?}");
    assert!(
        e.to_string().contains("only one escape parser directive"),
        "{e}"
    );
    let e = err("# syntax=a\n# syntax=b\nFROM a\n");
    assert_eq!(e.line(), 2);
    let e = err("# escape=x\nFROM a\n");
    assert_eq!(e.line(), 1);
    assert!(e.to_string().contains("invalid escape token"), "{e}");
}

#[test]
fn directives_end_at_the_first_other_line() {
    // After a comment, a blank line or an unknown key, `# escape=` is a comment.
    for src in [
        "# hello\n# escape=`\nFROM a\n",
        "\n# escape=`\nFROM a\n",
        "# foo=bar\n# escape=`\nFROM a\n",
    ] {
        assert_eq!(ok(src).directives.escape, '\\', "{src:?}");
    }
    // ... and so is a repeated one: no duplicate error.
    let df = ok("# escape=`\n# hi\n# escape=\\\nFROM a\n");
    assert_eq!(df.directives.escape, '`');
    // A directive after an instruction is a comment too.
    assert_eq!(
        ok("FROM a\n# escape=`\nRUN a `\n").nodes[1].args,
        vec!["a `"]
    );
}

#[test]
fn crlf_bom_leading_whitespace_and_case() {
    let lf = "FROM a\nrun echo \\\n  hi\n  Copy --chown=1 x /y\n";
    let crlf = lf.replace('\n', "\r\n");
    let with_bom = format!("\u{feff}{crlf}");
    let expected = "(from \"a\")\n(run \"echo   hi\")\n(copy [\"--chown=1\"] \"x\" \"/y\")\n";
    for src in [lf.to_string(), crlf, with_bom] {
        let df = ok(&src);
        assert_eq!(dump(&df), expected, "{src:?}");
        assert_eq!(df.nodes[1].keyword_raw, "run");
        assert_eq!(df.nodes[2].keyword_raw, "Copy");
        assert_eq!(df.nodes[2].keyword, "copy");
        assert_eq!(df.nodes[2].span.column, 3);
        assert_eq!(df.nodes[1].original, "run echo   hi");
    }
    // A BOM followed by a directive still counts as a directive.
    assert_eq!(ok("\u{feff}# escape=`\nFROM a\n").directives.escape, '`');
}

#[test]
fn empty_continuation_line_warns() {
    let df = ok("FROM a\nRUN a \\\n\n  b \\\n   \n  c\nRUN d \\\n# comment\n  e\n");
    assert_eq!(df.warnings.len(), 1, "{:?}", df.warnings);
    let warning = &df.warnings[0];
    assert_eq!(warning.rule, "NoEmptyContinuation");
    assert_eq!(warning.line, 6);
    assert_eq!(df.nodes[1].args, vec!["a   b   c"]);
    assert_eq!(df.nodes[2].args, vec!["d   e"]);
}

#[test]
fn onbuild_triggers() {
    let df = ok("FROM a\nONBUILD --x=y copy [\"a\", \"b\"]\nONBUILD\n");
    let nested = df.nodes[1].nested.as_ref().expect("nested");
    assert_eq!((nested.keyword.as_str(), nested.json_form), ("copy", true));
    assert_eq!(
        dump(&df),
        "(from \"a\")\n(onbuild [\"--x=y\"] (copy \"a\" \"b\"))\n(onbuild)\n"
    );
    for (src, needle) in [
        ("FROM a\n\nONBUILD ONBUILD RUN x\n", "ONBUILD ONBUILD"),
        ("FROM a\n\nonbuild from b\n", "FROM isn't allowed"),
        (
            "FROM a\n\nONBUILD maintainer me\n",
            "MAINTAINER isn't allowed",
        ),
    ] {
        let e = err(src);
        assert_eq!(e.line(), 3, "{src:?}");
        assert!(e.to_string().contains(needle), "{e}");
    }
}

#[test]
fn argument_errors_name_the_line() {
    let e = err("FROM a\nLABEL a=b c\n");
    assert_eq!(e.line(), 2);
    assert!(e.to_string().contains("can't find = in \"c\""), "{e}");
    let e = err("FROM a\nRUN x\nCMD [\"a\", 1]\n");
    assert_eq!(e.line(), 3);
    let e = err("FROM a\nENV \\\n  ONLYKEY\n");
    assert_eq!(e.line(), 2);
}

#[test]
fn non_utf8_input_is_a_clear_error() {
    let e = parse(b"FROM a\nRUN echo \xff\xfe\n").expect_err("must fail");
    assert!(
        matches!(
            e,
            ParseError::InvalidUtf8 {
                line: 2,
                offset: 16
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("UTF-8"), "{e}");
}

#[test]
fn unknown_keywords_and_odd_lines_dump_like_buildkit() {
    let df = ok("FROM a\nFOO bar baz\nCMD\nHEALTHCHECK NONE\nEXPOSE 80/tcp  443\n");
    assert_eq!(
        dump(&df),
        "(from \"a\")\n(foo \"\")\n(cmd)\n(healthcheck \"NONE\")\n(expose \"80/tcp\" \"443\")\n"
    );
    // Trailing JSON text is ignored like Go's json.Decoder does.
    assert_eq!(ok("CMD [\"a\"] tail\n").nodes[0].args, vec!["a"]);
    // A lone continuation at the end of the file ends the instruction.
    assert_eq!(ok("FROM a\nRUN x \\").nodes[1].args, vec!["x"]);
    // `<< word` (blank after <<) is a heredoc too, as in sh and BuildKit.
    assert_eq!(
        ok("FROM a\nRUN cat << END\nhi\nEND\n").nodes[1]
            .heredocs
            .len(),
        1
    );
}
