//! Typed instruction parsing: every instruction's forms, flag validation
//! (unknown/duplicate/valueless flags with suggestions, line and column),
//! argument-count errors, ONBUILD rules, HEALTHCHECK, and which words
//! expansion touches. Dockerfile text goes through the real raw parser.

mod frontend_support;

use frontend_support::{arg_pairs, error, file, instr, pairs};
use rbuild::parser::ast::Node;
use rbuild::parser::instructions::{
    parse_instruction, parse_signal, ErrorKind, Healthcheck, Instruction, NetworkMode, SecurityMode,
};
use std::time::Duration;

#[test]
fn from_forms() {
    let Instruction::From(f) = instr("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build") else {
        panic!()
    };
    assert_eq!(f.image, "golang:1.22");
    assert_eq!(f.name.as_deref(), Some("build"));
    assert_eq!(f.name_raw.as_deref(), Some("Build"));
    assert_eq!(f.platform.as_deref(), Some("$BUILDPLATFORM"));
    let Instruction::From(f) = instr("FROM scratch") else {
        panic!()
    };
    assert_eq!((f.image.as_str(), f.name), ("scratch", None));
    assert!(error("FROM a AS")
        .to_string()
        .contains("FROM requires either one or three arguments"));
    assert!(error("FROM a b c").to_string().contains("one or three"));
    let e = error("FROM alpine AS 1st");
    assert!(
        e.to_string()
            .contains("invalid name for build stage: \"1st\""),
        "{e}"
    );
    let e = error("FROM --platfrom=linux/amd64 alpine");
    assert_eq!(
        e.kind.to_string(),
        "unknown flag --platfrom for FROM (did you mean --platform?)"
    );
}

#[test]
fn unknown_flag_names_line_column_and_suggestion() {
    let raw = rbuild::parser::parse(b"FROM alpine\n  COPY --chwon=1:1 a /b\n").unwrap();
    let e = parse_instruction(&raw.nodes[1]).unwrap_err();
    assert_eq!(
        e.kind.to_string(),
        "unknown flag --chwon for COPY (did you mean --chown?)"
    );
    assert_eq!((e.line, e.column), (2, 8));
    // A flag that belongs to another instruction: no close suggestion.
    let e = error("RUN --chown=1 true");
    assert_eq!(e.kind.to_string(), "unknown flag --chown for RUN");
    let e = error("COPY --link --link a b");
    assert_eq!(e.kind, ErrorKind::DuplicateFlag("link".into()));
    assert_eq!(
        error("COPY --from a b").kind,
        ErrorKind::MissingFlagValue("from".into())
    );
    assert!(matches!(
        error("COPY --link=maybe a b").kind,
        ErrorKind::BadBoolFlag { .. }
    ));
    assert!(matches!(
        error("CMD --doit=true [\"a\"]").kind,
        ErrorKind::UnknownFlag { .. }
    ));
}

#[test]
fn unknown_instruction_names_it_and_its_line() {
    let raw = rbuild::parser::parse(b"FROM alpine\nRUN true\nWORKDIRR /x\n").unwrap();
    let e = parse_instruction(&raw.nodes[2]).unwrap_err();
    assert_eq!(e.line, 3);
    assert_eq!(
        e.kind.to_string(),
        "unknown instruction: WORKDIRR (did you mean WORKDIR?)"
    );
    assert!(e.to_string().contains("line 3"));
    let e = parse_instruction(&rbuild::parser::parse(b"FOO bar").unwrap().nodes[0]).unwrap_err();
    assert_eq!(e.kind.to_string(), "unknown instruction: FOO");
}

#[test]
fn run_cmd_entrypoint_shell() {
    let Instruction::Run(r) = instr("RUN --network=none --security=insecure echo $HOME") else {
        panic!()
    };
    assert_eq!(r.command.args, vec!["echo $HOME"]);
    assert!(r.command.prepend_shell);
    assert_eq!(r.network, Some(NetworkMode::None));
    assert_eq!(r.security, Some(SecurityMode::Insecure));
    let Instruction::Run(r) = instr("RUN [\"/bin/echo\", \"a b\"]") else {
        panic!()
    };
    assert_eq!(
        (r.command.args.clone(), r.command.prepend_shell),
        (vec!["/bin/echo".into(), "a b".into()], false)
    );
    let Instruction::Run(r) = instr("RUN <<EOF\necho hi\nEOF\n") else {
        panic!()
    };
    assert_eq!(r.command.heredocs.len(), 1);
    assert_eq!(r.command.heredocs[0].content, "echo hi\n");
    let e = error("RUN --network=hots true");
    assert!(
        e.kind
            .to_string()
            .contains("unsupported network mode \"hots\" (did you mean host?)"),
        "{e}"
    );
    assert!(error("RUN --security=open true")
        .kind
        .to_string()
        .contains("allowed: sandbox, insecure"));

    let Instruction::Cmd(c) = instr("CMD [\"nginx\", \"-g\", \"daemon off;\"]") else {
        panic!()
    };
    assert_eq!(c.args.len(), 3);
    let Instruction::Cmd(c) = instr("CMD") else {
        panic!()
    };
    assert!(c.args.is_empty());
    let Instruction::Entrypoint(e) = instr("ENTRYPOINT exec top -b") else {
        panic!()
    };
    assert_eq!(
        (e.args, e.prepend_shell),
        (vec!["exec top -b".to_string()], true)
    );

    let Instruction::Shell(s) = instr("SHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]")
    else {
        panic!()
    };
    assert_eq!(s, vec!["/bin/bash", "-eo", "pipefail", "-c"]);
    assert!(error("SHELL /bin/bash -c")
        .kind
        .to_string()
        .contains("JSON form"));
}

#[test]
fn env_label_maintainer_expose_user_workdir_volume_stopsignal() {
    let Instruction::Env(kv) = instr("ENV A=1 B=\"two words\"") else {
        panic!()
    };
    assert_eq!(kv.len(), 2);
    assert_eq!(
        (kv[1].key.as_str(), kv[1].value.as_str(), kv[1].legacy),
        ("B", "\"two words\"", false)
    );
    let Instruction::Env(kv) = instr("ENV PATH /usr/bin:$PATH") else {
        panic!()
    };
    assert_eq!(
        (kv[0].key.as_str(), kv[0].value.as_str(), kv[0].legacy),
        ("PATH", "/usr/bin:$PATH", true)
    );
    let Instruction::Label(kv) = instr("LABEL org.opencontainers.image.title=x version=\"1.0\"")
    else {
        panic!()
    };
    assert_eq!(kv[0].key, "org.opencontainers.image.title");
    let Instruction::Label(kv) = instr("LABEL description This is a test") else {
        panic!()
    };
    assert_eq!(
        (kv[0].value.as_str(), kv[0].legacy),
        ("This is a test", true)
    );
    assert_eq!(
        instr("MAINTAINER Jane <j@example.com>"),
        Instruction::Maintainer("Jane <j@example.com>".into())
    );
    assert_eq!(
        instr("EXPOSE 8080 443/tcp 53/udp"),
        Instruction::Expose(vec!["443/tcp".into(), "53/udp".into(), "8080".into()])
    );
    assert_eq!(instr("USER app:app"), Instruction::User("app:app".into()));
    assert_eq!(
        instr("WORKDIR /srv/app"),
        Instruction::Workdir("/srv/app".into())
    );
    assert_eq!(
        instr("VOLUME [\"/data\", \"/logs\"]"),
        Instruction::Volume(vec!["/data".into(), "/logs".into()])
    );
    assert_eq!(
        instr("VOLUME /a /b"),
        Instruction::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        instr("STOPSIGNAL SIGTERM"),
        Instruction::StopSignal("SIGTERM".into())
    );
    assert!(error("VOLUME [\"\"]")
        .kind
        .to_string()
        .contains("can not be an empty string"));
    assert!(error("USER")
        .kind
        .to_string()
        .contains("USER requires exactly one argument"));
    assert!(error("EXPOSE")
        .kind
        .to_string()
        .contains("EXPOSE requires at least one argument"));
    assert!(error("WORKDIR --x=1 /a")
        .kind
        .to_string()
        .contains("unknown flag --x for WORKDIR"));
}

#[test]
fn arg_declarations() {
    assert_eq!(
        arg_pairs(&instr("ARG A B=2 C=\"x y\" D=")),
        pairs(&[
            ("A", None),
            ("B", Some("2")),
            ("C", Some("\"x y\"")),
            ("D", Some(""))
        ])
    );
    assert!(error("ARG =x")
        .kind
        .to_string()
        .contains("ARG names can not be blank"));
}

#[test]
fn copy_and_add_flags() {
    let Instruction::Copy(c) = instr(
        "COPY --from=build --chown=1000:1000 --chmod=0755 --link --parents --exclude=*.md --exclude=.git src/ lib/ /app/",
    ) else {
        panic!()
    };
    assert_eq!(c.sources, vec!["src/", "lib/"]);
    assert_eq!(c.dest, "/app/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(
        (c.chown.as_deref(), c.chmod.as_deref()),
        (Some("1000:1000"), Some("0755"))
    );
    assert!(c.link && c.parents);
    assert_eq!(c.exclude, vec!["*.md", ".git"]);
    let Instruction::Copy(c) = instr("COPY [\"a b\", \"/dst dir/\"]") else {
        panic!()
    };
    assert_eq!(
        (c.sources, c.dest),
        (vec!["a b".to_string()], "/dst dir/".to_string())
    );
    let Instruction::Copy(c) = instr("COPY <<EOF /etc/motd\nhello\nEOF\n") else {
        panic!()
    };
    assert!(c.sources.is_empty());
    assert_eq!(
        (c.contents[0].path.as_str(), c.contents[0].data.as_str()),
        ("EOF", "hello\n")
    );
    let e = error("COPY onlyone");
    assert_eq!(
        e.kind.to_string(),
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    let Instruction::Add(a) = instr(
        "ADD --checksum=sha256:abc --keep-git-dir=true --chown=app https://example.com/x.tgz /opt/",
    ) else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert!(a.keep_git_dir);
    assert_eq!(a.copy.chown.as_deref(), Some("app"));
    assert!(error("ADD --from=x a b")
        .kind
        .to_string()
        .starts_with("unknown flag --from for ADD"));
    assert!(error("COPY --checksum=x a b")
        .kind
        .to_string()
        .starts_with("unknown flag --checksum for COPY"));
}

#[test]
fn onbuild_nests_a_parsed_instruction() {
    let Instruction::Onbuild(o) = instr("ONBUILD RUN --mount=type=cache,target=/c make") else {
        panic!()
    };
    assert_eq!(o.expression, "RUN --mount=type=cache,target=/c make");
    assert!(matches!(o.trigger.instruction, Instruction::Run(ref r) if r.mounts.len() == 1));
    // The trigger is validated like any instruction.
    assert!(matches!(
        error("ONBUILD COPY --chwon=1 a b").kind,
        ErrorKind::UnknownFlag { .. }
    ));
    // ONBUILD ONBUILD / FROM / MAINTAINER: the raw parser may already refuse
    // them; the typed layer refuses them on its own too.
    for trigger in ["ONBUILD", "FROM", "MAINTAINER"] {
        let nested = Node {
            keyword: trigger.to_ascii_lowercase(),
            keyword_raw: trigger.into(),
            original: format!("{trigger} x"),
            flags: vec![],
            args: vec!["x".into()],
            nested: None,
            json_form: false,
            heredocs: vec![],
            span: Default::default(),
        };
        let node = Node {
            keyword: "onbuild".into(),
            keyword_raw: "ONBUILD".into(),
            original: format!("ONBUILD {trigger} x"),
            args: vec![],
            nested: Some(Box::new(nested)),
            ..Node::clone(&rbuild::parser::parse(b"ONBUILD RUN x").unwrap().nodes[0])
        };
        let e = parse_instruction(&node).unwrap_err().kind.to_string();
        assert!(
            e.contains("ONBUILD") || e.contains("isn't allowed"),
            "{trigger}: {e}"
        );
        assert!(e.contains("isn't allowed"), "{e}");
    }
}

#[test]
fn healthcheck_forms_and_validation() {
    assert_eq!(
        instr("HEALTHCHECK NONE"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    let Instruction::Healthcheck(Healthcheck::Cmd(h)) = instr(
        "HEALTHCHECK --interval=1m30s --timeout=10s --start-period=0 --start-interval=500ms --retries=3 CMD curl -f http://localhost/ || exit 1",
    ) else {
        panic!()
    };
    assert_eq!(
        h.test,
        vec!["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
    );
    assert_eq!(h.interval, Some(Duration::from_secs(90)));
    assert_eq!(h.timeout, Some(Duration::from_secs(10)));
    assert_eq!(h.start_period, Some(Duration::ZERO));
    assert_eq!(h.start_interval, Some(Duration::from_millis(500)));
    assert_eq!(h.retries, Some(3));
    let Instruction::Healthcheck(Healthcheck::Cmd(h)) =
        instr("HEALTHCHECK CMD [\"/bin/check\", \"-q\"]")
    else {
        panic!()
    };
    assert_eq!(h.test, vec!["CMD", "/bin/check", "-q"]);
    assert_eq!(h.interval, None);
    let e = error("HEALTHCHECK --interval=500us CMD true");
    assert!(
        e.kind.to_string().contains("cannot be less than 1ms"),
        "{e}"
    );
    assert!(error("HEALTHCHECK --timeout=10 CMD true")
        .kind
        .to_string()
        .contains("missing unit"));
    assert!(error("HEALTHCHECK --retries=-1 CMD true")
        .kind
        .to_string()
        .contains("cannot be negative"));
    assert!(error("HEALTHCHECK NONE extra")
        .kind
        .to_string()
        .contains("takes no arguments"));
    assert!(error("HEALTHCHECK CMD")
        .kind
        .to_string()
        .contains("Missing command"));
    assert!(error("HEALTHCHECK RUN true")
        .kind
        .to_string()
        .contains("Unknown type \"RUN\""));
    assert!(matches!(
        error("HEALTHCHECK --intervall=5s CMD true").kind,
        ErrorKind::UnknownFlag { hint: Some(_), .. }
    ));
}

#[test]
fn instructions_before_the_first_from() {
    let df = file("ARG A=1\nARG B\nFROM alpine\nRUN true\n");
    assert_eq!(df.meta_args.len(), 2);
    assert_eq!(df.stages[0].commands.len(), 1);
    let raw = rbuild::parser::parse(b"RUN true\nFROM alpine\n").unwrap();
    let e = rbuild::parser::instructions::parse_dockerfile(&raw).unwrap_err();
    assert!(
        e.to_string().contains("no build stage in current context"),
        "{e}"
    );
}

#[test]
fn signals_and_chmod() {
    assert_eq!(parse_signal("SIGTERM"), Ok(15));
    assert_eq!(parse_signal("quit"), Ok(3));
    assert_eq!(parse_signal("9"), Ok(9));
    assert_eq!(parse_signal("SIGRTMAX-1"), Ok(63));
    assert!(parse_signal("0").is_err() && parse_signal("SIGRTMIN+16").is_err());
    let e = error("COPY --chmod=8888 a b");
    assert!(
        e.kind
            .to_string()
            .contains("invalid chmod parameter: '8888'"),
        "{e}"
    );
    assert!(
        matches!(instr("COPY --chmod=u+x a b"), Instruction::Copy(c) if c.chmod.as_deref() == Some("u+x"))
    );
}
