//! `RUN --mount`: every mount type with its options and defaults, and the
//! validation errors BuildKit gives (unknown keys with suggestions, options
//! not allowed for a type, bad values, secret rules, variables in `from`).

mod frontend_support;

use frontend_support::{error, instr};
use rbuild::parser::instructions::{parse_mount, Instruction, Mount, MountType, Sharing};

fn mounts(src: &str) -> Vec<Mount> {
    match instr(src) {
        Instruction::Run(r) => r.mounts,
        other => panic!("not a RUN: {other:?}"),
    }
}

fn mount(spec: &str) -> Mount {
    parse_mount(spec, None).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn mount_err(spec: &str) -> String {
    match parse_mount(spec, None) {
        Ok(m) => panic!("{spec} should fail, got {m:?}"),
        Err(e) => e,
    }
}

#[test]
fn bind_is_the_default_and_read_only() {
    let m = mount("target=/src,from=build,source=/out");
    assert_eq!(m.kind, MountType::Bind);
    assert_eq!(
        (m.target.as_deref(), m.from.as_deref(), m.source.as_deref()),
        (Some("/src"), Some("build"), Some("/out"))
    );
    assert!(m.read_only);
    assert!(!mount("type=bind,dst=/a,rw").read_only);
    assert!(!mount("type=bind,destination=/a,readwrite=true").read_only);
    assert!(!mount("type=bind,target=/a,ro=false").read_only);
    // No target: BuildKit mounts at the working directory.
    assert_eq!(mount("type=bind").target, None);
}

#[test]
fn cache_tmpfs_secret_ssh_options() {
    let m = mount("type=cache,target=/root/.cache,id=go,sharing=locked,mode=0755,uid=1000,gid=1000,from=base,source=/c");
    assert_eq!(m.kind, MountType::Cache);
    assert!(!m.read_only, "cache mounts are writable by default");
    assert_eq!(
        (m.id.as_deref(), m.sharing),
        (Some("go"), Some(Sharing::Locked))
    );
    assert_eq!(
        (m.mode, m.uid, m.gid),
        (Some(0o755), Some(1000), Some(1000))
    );
    let m = mount("type=tmpfs,target=/tmp,size=64m");
    assert_eq!(
        (m.kind, m.size, m.read_only),
        (MountType::Tmpfs, Some(64 << 20), false)
    );
    let m = mount("type=secret,id=npmrc,target=/root/.npmrc,required,mode=0400");
    assert_eq!(
        (m.kind, m.required, m.read_only),
        (MountType::Secret, true, true)
    );
    let m = mount("type=secret,id=token,env=TOKEN");
    assert_eq!(m.env.as_deref(), Some("TOKEN"));
    let m = mount("type=ssh,id=default,required=true");
    assert_eq!(
        (m.kind, m.required, m.id.as_deref()),
        (MountType::Ssh, true, Some("default"))
    );
    // The type may come after options that depend on it.
    assert!(mount("required,type=secret,id=a").required);
    // Several mounts on one RUN.
    let ms = mounts("RUN --mount=type=cache,target=/a --mount=type=secret,id=s true");
    assert_eq!(ms.len(), 2);
}

#[test]
fn unknown_keys_and_types_get_suggestions() {
    assert_eq!(
        mount_err("type=bind,tagret=/a"),
        "unexpected key 'tagret' in 'tagret=/a' (did you mean target?)"
    );
    assert_eq!(
        mount_err("type=cahce,target=/a"),
        "unsupported mount type \"cahce\" (did you mean cache?)"
    );
    assert_eq!(
        mount_err("type=cache,target=/a,sharing=lockd"),
        "unsupported sharing value \"lockd\" (did you mean locked?)"
    );
    assert_eq!(
        mount_err("type=bind,target=/a,foo"),
        "invalid field 'foo' must be a key=value pair"
    );
}

#[test]
fn options_not_allowed_for_the_type() {
    assert_eq!(
        mount_err("type=bind,target=/a,mode=0700"),
        "mode not allowed for \"bind\" type mounts"
    );
    assert_eq!(
        mount_err("type=tmpfs,target=/a,uid=1"),
        "uid not allowed for \"tmpfs\" type mounts"
    );
    assert_eq!(
        mount_err("type=bind,target=/a,size=1m"),
        "unexpected key 'size' for mount type 'bind'"
    );
    assert_eq!(
        mount_err("type=cache,target=/a,required"),
        "unexpected key 'required' for mount type 'cache'"
    );
    assert_eq!(
        mount_err("type=bind,target=/a,env=X"),
        "unexpected key 'env' for mount type 'bind'"
    );
    assert_eq!(
        mount_err("type=tmpfs,target=/a,sharing=shared"),
        "invalid cache sharing set for tmpfs mount"
    );
}

#[test]
fn bad_values() {
    assert_eq!(
        mount_err("type=cache,target=/a,mode=999"),
        "invalid value 999 for mode"
    );
    assert_eq!(
        mount_err("type=cache,target=/a,uid=-1"),
        "invalid value -1 for uid"
    );
    assert_eq!(
        mount_err("type=tmpfs,target=/a,size=lots"),
        "invalid value for size: lots"
    );
    assert_eq!(
        mount_err("type=bind,target=/a,ro=maybe"),
        "invalid value for ro: maybe"
    );
    assert_eq!(
        mount_err("type=bind,target="),
        "mount type bind: target= must not be empty"
    );
    assert!(mount_err("type=bind,\"target=/a").contains("failed to parse csv mounts"));
}

#[test]
fn secret_rules() {
    assert_eq!(
        mount_err("type=secret,id=a,from=x"),
        "secret mount should not have a from"
    );
    assert_eq!(
        mount_err("type=secret,id=a,sharing=shared"),
        "secret mount should not define sharing"
    );
    assert_eq!(
        mount_err("type=secret"),
        "invalid secret mount. one of source, target required"
    );
    assert_eq!(
        mount_err("type=secret,source=a,id=b"),
        "both source and id can't be set"
    );
}

#[test]
fn variables_wait_for_expansion_except_in_from() {
    let m = mount("type=cache,target=$HOME/.cache,mode=$MODE");
    assert_eq!((m.target.as_deref(), m.mode), (Some("$HOME/.cache"), None));
    assert_eq!(
        mount_err("type=bind,from=$STAGE,target=/a"),
        "'from' doesn't support variable expansion, define alias stage instead"
    );
    let e = error("RUN --mount=type=bind,from=$X,target=/a true");
    assert!(
        e.to_string()
            .contains("invalid --mount: 'from' doesn't support variable expansion"),
        "{e}"
    );
    assert_eq!(e.line, 1);
}
