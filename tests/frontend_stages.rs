//! The stage graph: bases (images after meta-ARG expansion, or earlier
//! stages), dependencies through FROM, `COPY --from` (name or index) and
//! `RUN --mount from=`, the needed set for a target, and the errors for bad
//! indexes, forward references, cycles, unknown targets and duplicate names.

mod frontend_support;

use frontend_support::file;
use rbuild::parser::args::{BuildArgs, Platform};
use rbuild::parser::stages::{stage_graph, stage_graph_of, BuildOptions, StageGraph};

fn graph(src: &str, target: Option<&str>) -> Result<StageGraph, String> {
    let opts = BuildOptions {
        target: target.map(str::to_string),
        ..BuildOptions::default()
    };
    stage_graph_of(&file(src), &opts).map_err(|d| d.to_string())
}

fn needed(g: &StageGraph) -> Vec<usize> {
    g.needed().map(|s| s.index).collect()
}

const MULTI: &str = "\
ARG GO=1.22
FROM golang:$GO AS build
RUN --mount=type=cache,target=/root/.cache go build
FROM build AS test
RUN go test
FROM alpine:3.19 AS assets
RUN touch /a
FROM scratch AS final
COPY --from=build /out/app /app
COPY --from=2 /a /a
COPY --from=nginx:latest /etc/nginx /etc/nginx
RUN --mount=type=bind,from=assets,target=/x true
";

#[test]
fn bases_dependencies_and_needed_set() {
    let g = graph(MULTI, None).unwrap();
    assert_eq!(g.target, 3);
    let s = &g.stages;
    assert_eq!((s[0].base.as_str(), s[0].base_stage), ("golang:1.22", None));
    assert_eq!((s[1].base.as_str(), s[1].base_stage), ("build", Some(0)));
    assert_eq!(s[1].depends_on, vec![0]);
    assert_eq!(s[3].depends_on, vec![0, 2]);
    assert_eq!(s[3].images, vec!["nginx:latest"]);
    assert_eq!(needed(&g), vec![0, 2, 3]);
    assert_eq!(s[1].display_name(), "test");
    assert_eq!(s[0].line, 2);

    let g = graph(MULTI, Some("test")).unwrap();
    assert_eq!((g.target, needed(&g)), (1, vec![0, 1]));
    let g = graph(MULTI, Some("ASSETS")).unwrap();
    assert_eq!(needed(&g), vec![2]);
}

#[test]
fn build_args_and_platform_reach_from() {
    let mut build_args = BuildArgs::new();
    build_args.set("GO", "1.23");
    let opts = BuildOptions {
        build_args,
        target: None,
        platform: Some(Platform::parse("linux/arm64").unwrap()),
    };
    let df = file("ARG GO=1.22\nFROM --platform=$TARGETPLATFORM golang:$GO-$TARGETARCH\n");
    let g = stage_graph_of(&df, &opts).unwrap();
    assert_eq!(g.stages[0].base, "golang:1.23-arm64");
    assert_eq!(g.stages[0].platform.as_deref(), Some("linux/arm64"));
    let e = graph("FROM --platform=linux/a/b/c alpine\n", None).unwrap_err();
    assert!(e.contains("failed to parse platform"), "{e}");
    // A stage-local ARG is not visible in FROM.
    let e = graph("FROM alpine\nARG B=x\nFROM $B\n", None).unwrap_err();
    assert!(
        e.contains("3:1") && e.contains("base name ($B) should not be blank"),
        "{e}"
    );
}

#[test]
fn from_matches_only_earlier_stages() {
    // `FROM later` before `later` exists is an image named "later".
    let g = graph("FROM later AS first\nFROM alpine AS later\n", None).unwrap();
    assert_eq!(
        (g.stages[0].base_stage, g.stages[0].depends_on.clone()),
        (None, vec![])
    );
    assert_eq!(needed(&g), vec![1]);
}

#[test]
fn unknown_from_names_are_images_but_bad_indexes_are_errors() {
    let g = graph(
        "FROM alpine\nCOPY --from=busybox:1.36 /bin/busybox /bin/\n",
        None,
    )
    .unwrap();
    assert_eq!(g.stages[0].images, vec!["busybox:1.36"]);
    let e = graph("FROM alpine\nFROM alpine\nCOPY --from=5 /a /b\n", None).unwrap_err();
    assert!(
        e.contains("3:1") && e.contains("invalid stage index 5"),
        "{e}"
    );
    let e = graph("FROM alpine\nRUN --mount=from=9,target=/x true\n", None).unwrap_err();
    assert!(e.contains("invalid stage index 9"), "{e}");
}

#[test]
fn self_references_and_cycles_are_errors() {
    let e = graph("FROM alpine AS a\nCOPY --from=a /x /y\n", None).unwrap_err();
    assert!(
        e.contains("circular dependency detected on stage: a"),
        "{e}"
    );
    let e = graph(
        "FROM alpine AS a\nCOPY --from=b /x /y\nFROM alpine AS b\nCOPY --from=a /x /y\n",
        None,
    )
    .unwrap_err();
    assert!(e.contains("circular dependency detected"), "{e}");
    let e = graph("FROM alpine\nCOPY --from=0 /x /y\n", None).unwrap_err();
    assert!(
        e.contains("circular dependency detected on stage: stage-0"),
        "{e}"
    );
}

#[test]
fn forward_references_fail_only_when_needed() {
    let src = "FROM alpine AS a\nCOPY --from=b /x /y\nFROM alpine AS b\nFROM alpine AS c\n";
    let e = graph(src, Some("a")).unwrap_err();
    assert!(
        e.contains("2:1") && e.contains("cannot use stage \"b\" from stage \"a\""),
        "{e}"
    );
    // The default target (c) does not need a: BuildKit never dispatches it.
    let g = graph(src, None).unwrap();
    assert_eq!(needed(&g), vec![2]);
    assert_eq!(g.stages[0].depends_on, vec![1]);
}

#[test]
fn target_errors_list_the_stages() {
    let e = graph(MULTI, Some("tset")).unwrap_err();
    assert!(
        e.contains("target stage \"tset\" could not be found (did you mean test?)"),
        "{e}"
    );
    assert!(
        e.contains("available stages: build, test, assets, final"),
        "{e}"
    );
    let e = graph("FROM alpine\n", Some("x")).unwrap_err();
    assert!(e.contains("the stages have no names"), "{e}");
}

#[test]
fn duplicate_stage_names_are_errors() {
    let e = graph("FROM alpine AS builder\nFROM debian AS Builder\n", None).unwrap_err();
    assert!(
        e.contains("2:1") && e.contains("duplicate stage name \"builder\": also defined on line 1"),
        "{e}"
    );
}

#[test]
fn graph_serializes_to_json_with_indices() {
    let raw = rbuild::parser::parse(MULTI.as_bytes()).unwrap();
    let g = stage_graph(&raw, &BuildOptions::default()).unwrap();
    let json = serde_json::to_value(&g).unwrap();
    assert_eq!(json["target"], 3);
    let last = &json["stages"][3];
    assert_eq!(last["name"], "final");
    assert_eq!(last["index"], 3);
    assert_eq!(last["base"], "scratch");
    assert_eq!(last["depends_on"], serde_json::json!([0, 2]));
    assert_eq!(last["needed"], true);
    assert_eq!(json["stages"][1]["needed"], false);
    assert_eq!(json["stages"][1]["base_stage"], 0);
}

#[test]
fn typing_errors_become_diagnostics_with_lines() {
    let raw = rbuild::parser::parse(b"FROM alpine\nCOPY --chwon=1 a b\n").unwrap();
    let d = stage_graph(&raw, &BuildOptions::default()).unwrap_err();
    assert_eq!((d.line, d.column), (2, 6));
    assert!(d.message.contains("did you mean --chown?"));
}
