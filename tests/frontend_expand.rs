//! Variable expansion of typed instructions: which words of which
//! instruction BuildKit expands (and which it leaves to the shell), EXPOSE
//! splitting, heredoc bodies, `${X:?}` errors, and STOPSIGNAL checking.

mod frontend_support;

use frontend_support::{instr, typed};
use rbuild::parser::instructions::{expand, exposed_ports, Instruction, ShellExpander};

#[test]
fn expansion_touches_only_what_buildkit_expands() {
    let env: Vec<(String, String)> = [("V", "x"), ("P", "80 443"), ("U", "app")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let run = |src: &str| {
        let mut ex = ShellExpander::new('\\', &env);
        let out = expand(&typed(src).unwrap(), &mut ex).unwrap().instruction;
        (out, ex.matches.unmatched)
    };
    let (Instruction::Copy(c), _) = run("COPY --from=$V --chown=$U --chmod=$V /$V \"/a/$V\"")
    else {
        panic!()
    };
    assert_eq!(
        (c.sources, c.dest),
        (vec!["/x".to_string()], "/a/x".to_string())
    );
    assert_eq!(
        (c.from.as_deref(), c.chown.as_deref(), c.chmod.as_deref()),
        (Some("$V"), Some("app"), Some("$V"))
    );
    assert_eq!(
        run("EXPOSE $P").0,
        Instruction::Expose(vec!["80".into(), "443".into()])
    );
    assert_eq!(
        run("WORKDIR /$V/$MISSING").0,
        Instruction::Workdir("/x/".into())
    );
    assert!(run("WORKDIR /$V/$MISSING").1.contains("MISSING"));
    let (Instruction::Env(kv), _) = run("ENV K=\"$V y\"") else {
        panic!()
    };
    assert_eq!(kv[0].value, "x y");
    assert_eq!(run("RUN echo $V").0, instr("RUN echo $V"));
    assert_eq!(run("CMD echo $V").0, instr("CMD echo $V"));
    let (Instruction::Run(r), _) = run("RUN --mount=type=cache,target=/$V,id=$V,mode=0700 true")
    else {
        panic!()
    };
    assert_eq!(
        (r.mounts[0].target.as_deref(), r.mounts[0].id.as_deref()),
        (Some("/x"), Some("x"))
    );
    let e = expand(
        &typed("USER ${NOPE:?must be set}").unwrap(),
        &mut ShellExpander::new('\\', &env),
    );
    assert!(e.unwrap_err().to_string().contains("must be set"));
    // COPY heredoc bodies: expanded (quotes kept) unless the delimiter was quoted.
    let (Instruction::Copy(c), _) = run("COPY <<EOF /f\nv=\"$V\"\nEOF\n") else {
        panic!()
    };
    assert_eq!(c.contents[0].data, "v=\"x\"\n");
    let (Instruction::Copy(c), _) = run("COPY <<'EOF' /f\nv=$V\nEOF\n") else {
        panic!()
    };
    assert_eq!(c.contents[0].data, "v=$V\n");
    // EXPOSE is checked once expanded; exposed_ports gives the config keys.
    let e = expand(
        &typed("EXPOSE $V").unwrap(),
        &mut ShellExpander::new('\\', &env),
    );
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("invalid containerPort: x"));
    let words: Vec<String> = ["80", "53/UDP", "127.0.0.1:8080:9000-9001/tcp"]
        .map(String::from)
        .to_vec();
    assert_eq!(
        exposed_ports(&words).unwrap(),
        vec!["53/udp", "80/tcp", "9000/tcp", "9001/tcp"]
    );
    assert!(exposed_ports(&["80/icmp".to_string()])
        .unwrap_err()
        .contains("invalid proto"));
    assert!(exposed_ports(&["90-80".to_string()]).is_err());
    // STOPSIGNAL is checked once expanded.
    assert_eq!(
        run("STOPSIGNAL SIGRTMIN+3").0,
        Instruction::StopSignal("SIGRTMIN+3".into())
    );
    let e = expand(
        &typed("STOPSIGNAL SIGNOPE").unwrap(),
        &mut ShellExpander::new('\\', &env),
    );
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("Invalid signal: SIGNOPE"));
}
