//! The image config a build writes: metadata instructions (ENV, LABEL,
//! EXPOSE, VOLUME, USER, WORKDIR, ENTRYPOINT/CMD, STOPSIGNAL, HEALTHCHECK,
//! SHELL, ONBUILD) as docker/BuildKit record them, ARG/ENV scoping across
//! stages, build options (--build-arg, --label, --target, --iidfile, -q),
//! ONBUILD triggers and history entries.

mod build_support;

use build_support::{read, World};

#[test]
fn metadata_instructions_and_history() {
    if !build_support::ready("metadata_instructions_and_history") {
        return;
    }
    let w = World::new();
    let iid = w.dir.path().join("iid");
    w.build(
        "FROM localhost/busybox\n\
         ENV A=1 B=\"two words\"\n\
         ENV A=3\n\
         LABEL org.x=y other=\"z z\"\n\
         EXPOSE 80 53/udp\n\
         VOLUME /data\n\
         USER app\n\
         WORKDIR /srv\n\
         WORKDIR sub\n\
         STOPSIGNAL SIGTERM\n\
         HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost\n\
         SHELL [\"/bin/sh\", \"-ec\"]\n\
         ONBUILD COPY . /app\n\
         ENTRYPOINT [\"/bin/echo\"]\n\
         CMD hello\n",
        &[
            "-t",
            "meta:1",
            "--label",
            "cli=yes",
            "--iidfile",
            iid.to_str().unwrap(),
        ],
    );
    let c = w.raw_config("meta:1");
    let cfg = &c["config"];
    let env: Vec<&str> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"A=3") && env.contains(&"B=two words"),
        "{env:?}"
    );
    assert!(!env.contains(&"A=1"), "ENV A replaced: {env:?}");
    assert_eq!(cfg["Labels"]["org.x"], "y");
    assert_eq!(cfg["Labels"]["other"], "z z");
    assert_eq!(cfg["Labels"]["cli"], "yes");
    assert!(cfg["ExposedPorts"]["80/tcp"].is_object());
    assert!(cfg["ExposedPorts"]["53/udp"].is_object());
    assert!(cfg["Volumes"]["/data"].is_object());
    assert_eq!(cfg["User"], "app");
    assert_eq!(cfg["WorkingDir"], "/srv/sub");
    assert_eq!(cfg["StopSignal"], "SIGTERM");
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "wget -q localhost"])
    );
    assert_eq!(cfg["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(cfg["Healthcheck"]["Retries"], 2);
    assert_eq!(cfg["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(cfg["OnBuild"], serde_json::json!(["COPY . /app"]));
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/echo"]));
    // Shell-form CMD goes through the SHELL in effect.
    assert_eq!(cfg["Cmd"], serde_json::json!(["/bin/sh", "-ec", "hello"]));
    let history = c["history"].as_array().unwrap();
    let created_by: Vec<&str> = history
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or(""))
        .collect();
    assert!(created_by.contains(&"ENV A=3"), "{created_by:?}");
    assert!(created_by.contains(&"USER app"), "{created_by:?}");
    let env_entry = history
        .iter()
        .find(|h| h["created_by"] == "ENV A=3")
        .unwrap();
    assert_eq!(env_entry["empty_layer"], true);
    // WORKDIR /srv created a layer; diff_ids match the non-empty history entries.
    let layers = c["rootfs"]["diff_ids"].as_array().unwrap().len();
    let non_empty = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(layers, non_empty);
    assert_eq!(read(&iid), w.inspect("meta:1")["Id"].as_str().unwrap());
}

#[test]
fn entrypoint_resets_inherited_cmd_and_onbuild_triggers_run() {
    if !build_support::ready("entrypoint_resets_inherited_cmd_and_onbuild_triggers_run") {
        return;
    }
    let w = World::new();
    w.file("marker", "from-trigger");
    w.build(
        "FROM localhost/busybox\nONBUILD COPY marker /triggered\nONBUILD ENV T=1\n",
        &["-t", "parent"],
    );
    w.build(
        "FROM parent\nENTRYPOINT [\"/bin/true\"]\n",
        &["-t", "child"],
    );
    let c = w.raw_config("child");
    assert!(
        c["config"]["Cmd"].is_null(),
        "inherited CMD kept: {}",
        c["config"]
    );
    assert!(
        c["config"]["OnBuild"].is_null(),
        "triggers are not inherited"
    );
    let env = c["config"]["Env"].to_string();
    assert!(env.contains("T=1"), "ENV trigger did not run: {env}");
    let out = w.dir.path().join("child-fs");
    w.build(
        "FROM parent\n",
        &["-o", &format!("type=local,dest={}", out.display())],
    );
    assert_eq!(read(&out.join("triggered")), "from-trigger");
}

#[test]
fn args_scope_and_targets() {
    if !build_support::ready("args_scope_and_targets") {
        return;
    }
    let w = World::new();
    let df = "ARG BASE=localhost/busybox\n\
              ARG GLOBAL=g\n\
              FROM $BASE AS one\n\
              ARG GLOBAL\n\
              ARG LOCAL=l1\n\
              ENV FROM_ARG=${GLOBAL}-${LOCAL}\n\
              COPY <<EOF /one\n\
              ${GLOBAL} ${LOCAL} ${UNSET:-default}\n\
              EOF\n\
              FROM one AS two\n\
              ENV SEEN=${LOCAL}\n\
              FROM localhost/busybox AS three\n\
              ENV SEEN=x${LOCAL}x${GLOBAL}x\n";
    w.build(
        df,
        &["-t", "a:two", "--target", "two", "--build-arg", "LOCAL=cli"],
    );
    let c = w.raw_config("a:two");
    let env = c["config"]["Env"].to_string();
    assert!(env.contains("FROM_ARG=g-cli"), "{env}");
    // A stage built FROM another stage inherits its ARGs.
    assert!(env.contains("SEEN=cli"), "{env}");
    assert!(
        !env.contains("LOCAL="),
        "ARGs never go into the config: {env}"
    );
    w.build(df, &["-t", "a:three"]);
    let env = w.raw_config("a:three")["config"]["Env"].to_string();
    // Not declared in this stage: both empty.
    assert!(env.contains("SEEN=xxx"), "{env}");
    let out = w.dir.path().join("fs");
    w.build(
        df,
        &[
            "--target",
            "one",
            "-o",
            &format!("type=local,dest={}", out.display()),
        ],
    );
    assert_eq!(read(&out.join("one")), "g l1 default\n");
    let err = w.build_fails(df, &["--target", "nope"]);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn missing_base_image_is_named() {
    if !build_support::ready("missing_base_image_is_named") {
        return;
    }
    let w = World::new();
    let err = w.build_fails("FROM example.com/not/here:1\nCOPY x /\n", &[]);
    assert!(err.contains("example.com/not/here:1"), "{err}");
    assert!(err.contains("Dockerfile:1"), "{err}");
    w.build(
        "FROM localhost/busybox\nENV Y=1\n",
        &["-o", "type=image,name=named:by-output"],
    );
    assert!(w.inspect("named:by-output")["Config"]["Env"]
        .to_string()
        .contains("Y=1"));
    let out = w.build_output("FROM localhost/busybox\nENV X=1\n", &["-q"]);
    assert!(out.status.success());
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "-q prints the image ID: {id:?}"
    );
}
