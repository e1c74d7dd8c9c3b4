//! Each build check fires on a minimal Dockerfile that breaks it and stays
//! silent on one that does not; the `# check=` directive and the
//! `BUILDKIT_DOCKERFILE_CHECK` build arg turn rules off or into errors.

use rbuild::context::DockerIgnore;
use rbuild::lint::{lint, LintOptions, RULES};
use rbuild::parser::args::BuildArgs;
use rbuild::parser::diagnostic::{Diagnostic, Severity};
use rbuild::parser::instructions::parse_dockerfile;
use rbuild::parser::parse;

fn run(src: &str, build_args: &[(&str, &str)], ignore: Option<&DockerIgnore>) -> Vec<Diagnostic> {
    let df = parse(src.as_bytes()).expect("test Dockerfile parses");
    let parsed = parse_dockerfile(&df).expect("test Dockerfile types");
    let opts = LintOptions {
        file: "Dockerfile".into(),
        build_args: {
            let mut args = BuildArgs::new();
            for (k, v) in build_args {
                args.set(k, *v);
            }
            args
        },
        ignore,
    };
    lint(&df, &parsed, &opts)
}

fn rules_of(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().filter_map(|d| d.rule.clone()).collect()
}

/// (rule, Dockerfile that triggers it, Dockerfile that does not).
const CASES: &[(&str, &str, &str)] = &[
    (
        "JSONArgsRecommended",
        "FROM alpine\nCMD echo hi\n",
        "FROM alpine\nCMD [\"echo\", \"hi\"]\nFROM alpine\nSHELL [\"/bin/sh\", \"-c\"]\nENTRYPOINT echo hi\n",
    ),
    (
        "StageNameCasing",
        "FROM alpine AS Build\n",
        "FROM alpine AS build\n",
    ),
    (
        "FromAsCasing",
        "FROM alpine as build\n",
        "FROM alpine AS build\nfrom alpine as other\n",
    ),
    (
        "DuplicateStageName",
        "FROM alpine AS a\nFROM alpine AS a\n",
        "FROM alpine AS a\nFROM alpine AS b\n",
    ),
    (
        "ReservedStageName",
        "FROM alpine AS scratch\n",
        "FROM alpine AS base\n",
    ),
    (
        "MultipleInstructionsDisallowed",
        "FROM alpine\nENTRYPOINT [\"a\"]\nENTRYPOINT [\"b\"]\n",
        "FROM alpine\nENTRYPOINT [\"a\"]\nFROM alpine\nENTRYPOINT [\"b\"]\n",
    ),
    (
        "MaintainerDeprecated",
        "FROM alpine\nMAINTAINER me@example.com\n",
        "FROM alpine\nLABEL org.opencontainers.image.authors=me@example.com\n",
    ),
    (
        "UndefinedVar",
        "FROM alpine\nCOPY $SRC /dst\n",
        "FROM alpine\nARG SRC\nENV DEST=/dst\nCOPY $SRC $DEST\nENV PATH=$PATH:/x\n",
    ),
    (
        "UndefinedArgInFrom",
        "FROM alpine:$VERSION\n",
        "ARG VERSION=3.20\nFROM alpine:$VERSION\nFROM --platform=$BUILDPLATFORM alpine\n",
    ),
    (
        "InvalidDefaultArgInFrom",
        "ARG IMAGE\nFROM $IMAGE\n",
        "ARG IMAGE=alpine\nFROM $IMAGE\n",
    ),
    (
        "WorkdirRelativePath",
        "FROM alpine\nWORKDIR app\n",
        "FROM alpine\nWORKDIR /app\nWORKDIR sub\n",
    ),
    (
        "ConsistentInstructionCasing",
        "FROM alpine\nRUN true\nrun true\n",
        "from alpine\nrun true\n",
    ),
    (
        "LegacyKeyValueFormat",
        "FROM alpine\nENV key value\n",
        "FROM alpine\nENV key=value\nLABEL a=b\n",
    ),
    (
        "SecretsUsedInArgOrEnv",
        "FROM alpine\nARG GITHUB_TOKEN\n",
        "FROM alpine\nARG PUBLIC_KEY\nENV KEY_FILE=/k\n",
    ),
    (
        "NoEmptyContinuation",
        "FROM alpine\nRUN echo a \\\n\n  echo b\n",
        "FROM alpine\nRUN echo a \\\n  echo b\n",
    ),
];

#[test]
fn every_rule_fires_on_positive_and_not_on_negative() {
    for (rule, positive, negative) in CASES {
        let hits = rules_of(&run(positive, &[], None));
        assert!(
            hits.iter().any(|r| r == rule),
            "{rule} did not fire on {positive:?}; got {hits:?}"
        );
        let hits = rules_of(&run(negative, &[], None));
        assert!(
            !hits.iter().any(|r| r == rule),
            "{rule} fired on {negative:?}; got {hits:?}"
        );
    }
    // Every implemented rule except the experimental one is covered above.
    for r in RULES.iter().filter(|r| !r.experimental) {
        assert!(
            CASES.iter().any(|(name, _, _)| name == &r.name),
            "{} untested",
            r.name
        );
    }
}

#[test]
fn messages_match_buildkit_wording() {
    let diags = run("FROM alpine AS Build\nCMD echo hi\n", &[], None);
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert!(messages.contains(&"Stage name 'Build' should be lowercase"));
    assert!(messages.contains(
        &"JSON arguments recommended for CMD to prevent unintended behavior related to OS signals"
    ));
    let diags = run("FROM alpine\nENV FOO=1\nCOPY $FO0 /\n", &[], None);
    assert_eq!(
        diags.iter().map(|d| d.message.as_str()).collect::<Vec<_>>(),
        ["Usage of undefined variable '$FO0' (did you mean $FOO?)"]
    );
    assert_eq!(
        (diags[0].line, diags[0].column, diags[0].file.as_str()),
        (3, 1, "Dockerfile")
    );
}

#[test]
fn multiple_instructions_reports_the_earlier_one() {
    let diags = run("FROM alpine\nCMD [\"a\"]\nCMD [\"b\"]\n", &[], None);
    let hit = diags
        .iter()
        .find(|d| d.rule.as_deref() == Some("MultipleInstructionsDisallowed"))
        .expect("rule fires");
    assert_eq!(hit.line, 2);
}

#[test]
fn stage_inherits_env_and_shell_from_its_base_stage() {
    let src = "FROM alpine AS base\nENV DIR=/srv\nSHELL [\"/bin/bash\", \"-c\"]\nWORKDIR /w\n\
               FROM base\nWORKDIR $DIR\nWORKDIR rel\nCMD echo hi\n";
    let hits = rules_of(&run(src, &[], None));
    assert!(hits.is_empty(), "{hits:?}");
    // The base's WORKDIR does not count as set by the child stage.
    let src = "FROM alpine AS base\nWORKDIR /w\nFROM base\nWORKDIR rel\n";
    assert_eq!(rules_of(&run(src, &[], None)), ["WorkdirRelativePath"]);
}

#[test]
fn global_args_need_redeclaring_inside_a_stage() {
    let src = "ARG V=1\nFROM alpine\nRUN true\nLABEL v=$V\n";
    assert_eq!(rules_of(&run(src, &[], None)), ["UndefinedVar"]);
    let src = "ARG V=1\nFROM alpine\nARG V\nLABEL v=$V\n";
    assert!(rules_of(&run(src, &[], None)).is_empty());
}

#[test]
fn build_args_feed_from_checks() {
    // The default is invalid, so the lint warns even when a build arg fixes it.
    let src = "ARG IMAGE\nFROM $IMAGE\n";
    assert_eq!(
        rules_of(&run(src, &[("IMAGE", "alpine")], None)),
        ["InvalidDefaultArgInFrom"]
    );
}

#[test]
fn copy_ignored_file_is_experimental_and_skips_from_copies() {
    let ignore = DockerIgnore::from_patterns(["secret.txt", "build"]).unwrap();
    let src = "FROM alpine\nCOPY secret.txt /\n";
    assert!(rules_of(&run(src, &[], Some(&ignore))).is_empty());
    let src =
        "# check=experimental=CopyIgnoredFile\nFROM alpine AS b\nCOPY ./secret.txt build/out /\n\
               COPY --from=b secret.txt /\nADD ok.txt /\n";
    let diags = run(src, &[], Some(&ignore));
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Attempting to Copy file \"secret.txt\" that is excluded by .dockerignore",
            "Attempting to Copy file \"build/out\" that is excluded by .dockerignore",
        ]
    );
    // With `!` exceptions BuildKit does not judge at all.
    let with_exception = DockerIgnore::from_patterns(["secret.txt", "!keep"]).unwrap();
    assert!(rules_of(&run(src, &[], Some(&with_exception))).is_empty());
}

#[test]
fn check_directive_skips_and_raises_to_errors() {
    let src = "# check=skip=MaintainerDeprecated\nFROM alpine\nMAINTAINER me\nCMD echo\n";
    assert_eq!(rules_of(&run(src, &[], None)), ["JSONArgsRecommended"]);

    let src = "# check=skip=all\nFROM alpine\nMAINTAINER me\nCMD echo\n";
    assert!(run(src, &[], None).is_empty());

    let src = "# check=error=true\nFROM alpine\nMAINTAINER me\n";
    let diags = run(src, &[], None);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].severity, Severity::Error);

    // The build arg replaces the directive.
    let diags = run(
        src,
        &[("BUILDKIT_DOCKERFILE_CHECK", "skip=MaintainerDeprecated")],
        None,
    );
    assert!(diags.is_empty(), "{diags:?}");

    let diags = run("# check=bogus\nFROM alpine\n", &[], None);
    assert_eq!(diags.len(), 1);
    assert!(diags[0].is_error(), "{diags:?}");
}
