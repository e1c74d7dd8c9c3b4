//! ARG/ENV scoping: global ARGs visible only in FROM unless redeclared,
//! build-arg overrides (explicit and from the environment), ENV shadowing,
//! predefined proxy and platform ARGs, and expansion at each instruction.

mod frontend_support;

use frontend_support::{arg_pairs, file, pairs};
use rbuild::parser::args::{BuildArgs, GlobalScope, Platform, Scope};
use rbuild::parser::instructions::{Instruction, ParsedDockerfile};
use rbuild::parser::shell::Env;
use std::collections::BTreeSet;

fn linux(arch: &str) -> Platform {
    Platform::parse(&format!("linux/{arch}")).unwrap()
}

fn global(df: &ParsedDockerfile, args: &BuildArgs) -> GlobalScope {
    GlobalScope::new(
        &df.meta_args,
        args,
        &linux("amd64"),
        &linux("arm64"),
        "",
        df.escape,
    )
    .unwrap()
}

/// Walks stage 0 and returns the WORKDIR values after expansion, and the
/// names each WORKDIR left undefined.
fn workdirs(src: &str, args: &BuildArgs) -> Vec<(String, BTreeSet<String>)> {
    let df = file(src);
    let g = global(&df, args);
    let mut scope = Scope::new(&g, args, Vec::new());
    let mut out = Vec::new();
    for command in &df.stages[0].commands {
        let step = scope.step(command).unwrap();
        if let Instruction::Workdir(w) = step.command.instruction {
            out.push((w, step.unmatched));
        }
    }
    out
}

fn dirs(src: &str, args: &BuildArgs) -> Vec<String> {
    workdirs(src, args).into_iter().map(|(w, _)| w).collect()
}

#[test]
fn global_args_reach_from_but_not_the_stage_unless_redeclared() {
    let src = "ARG V=3.19\nFROM alpine:$V\nWORKDIR /a$V\nARG V\nWORKDIR /b$V\n";
    let df = file(src);
    let g = global(&df, &BuildArgs::new());
    assert_eq!(g.get("V"), Some("3.19"));
    assert!(g.is_meta_arg("V"));
    let got = workdirs(src, &BuildArgs::new());
    assert_eq!(got[0].0, "/a");
    assert!(
        got[0].1.contains("V"),
        "undefined in the stage before ARG V"
    );
    assert_eq!(got[1], ("/b3.19".to_string(), BTreeSet::new()));
    // Declared without a value: empty, and not reported as undefined.
    let got = workdirs("FROM a\nARG U\nWORKDIR /x$U\n", &BuildArgs::new());
    assert_eq!(got[0], ("/x".to_string(), BTreeSet::new()));
    // History lists declared ARGs in order, ENV-shadowed values included.
    let df = file("FROM a\nARG B=1 A\nENV B=2\n");
    let args = BuildArgs::new();
    let g2 = global(&df, &args);
    let mut scope = Scope::new(&g2, &args, Vec::new());
    for c in &df.stages[0].commands {
        scope.step(c).unwrap();
    }
    let hist: Vec<String> = scope
        .history_args()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(hist, vec!["B=2", "A="]);
    // FROM words report names the global scope lacks.
    let (word, matches) = g.expand_from_word("$V-$NOPE").unwrap();
    assert_eq!(word, "3.19-");
    assert!(matches.unmatched.contains("NOPE") && matches.matched.contains("V"));
}

#[test]
fn meta_arg_defaults_see_earlier_meta_args() {
    let df = file("ARG A=1\nARG B=$A.2\nFROM x\n");
    assert_eq!(global(&df, &BuildArgs::new()).get("B"), Some("1.2"));
    let mut args = BuildArgs::new();
    args.set("A", "7");
    assert_eq!(global(&df, &args).get("B"), Some("7.2"));
}

#[test]
fn build_args_override_defaults() {
    let mut args = BuildArgs::new();
    args.set("X", "cli");
    assert_eq!(
        dirs("FROM a\nARG X=file\nWORKDIR /$X\n", &args),
        vec!["/cli"]
    );
    assert_eq!(
        dirs("FROM a\nARG X=file\nWORKDIR /$X\n", &BuildArgs::new()),
        vec!["/file"]
    );
    // A build arg that is never declared is not visible.
    assert_eq!(dirs("FROM a\nWORKDIR /$X\n", &args), vec!["/"]);
}

#[test]
fn build_arg_without_value_comes_from_the_environment() {
    let specs = vec![
        "FROM_ENV".to_string(),
        "UNSET".to_string(),
        "K=v=w".to_string(),
    ];
    let args = BuildArgs::from_cli(&specs, |k| {
        (k == "FROM_ENV").then(|| "env-value".to_string())
    })
    .unwrap();
    assert_eq!(args.get("FROM_ENV"), Some("env-value"));
    assert_eq!(args.get("UNSET"), None);
    assert_eq!(args.get("K"), Some("v=w"));
    assert!(BuildArgs::from_cli(&["=x".to_string()], |_| None).is_err());
}

#[test]
fn env_shadows_arg() {
    let mut args = BuildArgs::new();
    args.set("X", "cli");
    assert_eq!(
        dirs("FROM a\nARG X=1\nENV X=env\nWORKDIR /$X\n", &args),
        vec!["/env"]
    );
    // BuildKit applies ARG and ENV in order: a later ARG with a value wins.
    assert_eq!(
        dirs(
            "FROM a\nENV X=env\nARG X=2\nWORKDIR /$X\n",
            &BuildArgs::new()
        ),
        vec!["/2"]
    );
    // One ENV line expands all its values with the variables from before it.
    assert_eq!(
        dirs(
            "FROM a\nENV A=1\nENV A=2 B=$A\nWORKDIR /$A$B\n",
            &BuildArgs::new()
        ),
        vec!["/21"]
    );
    // ARG defaults see ENV.
    assert_eq!(
        dirs(
            "FROM a\nENV A=x\nARG B=$A-y\nWORKDIR /$B\n",
            &BuildArgs::new()
        ),
        vec!["/x-y"]
    );
}

#[test]
fn image_env_holds_env_only() {
    let df = file("FROM a\nARG A=1\nENV B=2\n");
    let args = BuildArgs::new();
    let g = global(&df, &args);
    let mut scope = Scope::new(&g, &args, vec![("PATH".into(), "/bin".into())]);
    for c in &df.stages[0].commands {
        scope.step(c).unwrap();
    }
    assert_eq!(
        scope.image_env(),
        &vec![
            ("PATH".to_string(), "/bin".to_string()),
            ("B".to_string(), "2".to_string())
        ]
    );
    assert_eq!(scope.env().lookup("A").as_deref(), Some("1"));
    assert!(scope.is_declared("A") && !scope.is_declared("B"));
    assert_eq!(
        scope.history_args(),
        vec![("A".to_string(), "1".to_string())]
    );
    let child = Scope::inherit(&scope);
    assert_eq!(child.env().lookup("B").as_deref(), Some("2"));
}

#[test]
fn proxy_args_reach_run_without_declaration_but_not_the_cache_key() {
    let df = file("FROM a\nRUN true\n");
    let mut args = BuildArgs::new();
    args.set("HTTP_PROXY", "http://proxy:3128");
    args.set("no_proxy", "localhost");
    let g = global(&df, &args);
    let scope = Scope::new(&g, &args, Vec::new());
    assert_eq!(scope.env().lookup("HTTP_PROXY"), None);
    let run = scope.run_env();
    assert_eq!(
        run.lookup("HTTP_PROXY").as_deref(),
        Some("http://proxy:3128")
    );
    assert_eq!(run.lookup("no_proxy").as_deref(), Some("localhost"));
    // Declared: it is an ordinary ARG (in env and the cache key).
    let df = file("FROM a\nARG HTTP_PROXY\n");
    let mut scope = Scope::new(&g, &args, Vec::new());
    scope.step(&df.stages[0].commands[0]).unwrap();
    assert_eq!(
        scope.env().lookup("HTTP_PROXY").as_deref(),
        Some("http://proxy:3128")
    );
    assert_eq!(
        scope
            .run_env()
            .iter()
            .filter(|(k, _)| k == "HTTP_PROXY")
            .count(),
        1
    );
}

#[test]
fn platform_args_are_global_and_need_declaring_in_a_stage() {
    let src = "FROM --platform=$BUILDPLATFORM golang AS b\nWORKDIR /$TARGETARCH\nARG TARGETARCH TARGETPLATFORM BUILDOS\nWORKDIR /$TARGETARCH/$BUILDOS/$TARGETPLATFORM\n";
    assert_eq!(
        dirs(src, &BuildArgs::new()),
        vec!["/", "/arm64/linux/linux/arm64"]
    );
    let df = file(src);
    let g = global(&df, &BuildArgs::new());
    assert_eq!(g.get("BUILDPLATFORM"), Some("linux/amd64"));
    assert_eq!(g.get("TARGETVARIANT"), Some(""));
    let arm = Platform::parse("linux/arm/v7").unwrap();
    let g = GlobalScope::new(&[], &BuildArgs::new(), &linux("amd64"), &arm, "b", '\\').unwrap();
    assert_eq!(
        (
            g.get("TARGETARCH"),
            g.get("TARGETVARIANT"),
            g.get("TARGETSTAGE")
        ),
        (Some("arm"), Some("v7"), Some("b"))
    );
    // A build arg overrides a predefined one, as in BuildKit.
    let mut args = BuildArgs::new();
    args.set("TARGETOS", "freebsd");
    let g = GlobalScope::new(&[], &args, &linux("amd64"), &arm, "", '\\').unwrap();
    assert_eq!(g.get("TARGETOS"), Some("freebsd"));
}

#[test]
fn host_and_parsed_platforms() {
    let host = Platform::host();
    assert_eq!(host.os, std::env::consts::OS);
    assert!(!host.arch.is_empty() && host.arch != "x86_64");
    assert_eq!(
        Platform::parse("linux/arm64/v8").unwrap().to_string(),
        "linux/arm64"
    );
    assert_eq!(
        Platform::parse("x86_64").unwrap().to_string(),
        "linux/amd64"
    );
    assert!(Platform::parse("linux/").is_err());
    assert!(Platform::parse("a/b/c/d").is_err());
}

#[test]
fn arg_step_reports_the_resolved_values() {
    let df = file("ARG G=global\nFROM a\nARG G L=$G local\n");
    let args = BuildArgs::new();
    let g = global(&df, &args);
    let mut scope = Scope::new(&g, &args, Vec::new());
    let step = scope.step(&df.stages[0].commands[0]).unwrap();
    assert_eq!(
        arg_pairs(&step.command.instruction),
        pairs(&[
            ("G", Some("global")),
            ("L", Some("global")),
            ("local", None)
        ])
    );
}
