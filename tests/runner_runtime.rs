//! `run --security-opt` and `run --runtime`: NoNewPrivs and Seccomp as the
//! container sees them in /proc/self/status, with the built-in sandbox and
//! with runc/crun; exit codes through an external runtime; a missing
//! runtime, unsupported options and `-d --runtime` refused clearly; nothing
//! left mounted or stored after `--rm`.

mod common_cg;
mod runner_support;

use common_cg::{fix_hybrid_cgroups_for_crun, require_tool};
use runner_support::{can_run, Env};

/// The value of `field` in the container's /proc/self/status.
fn status_field(env: &Env, extra: &[&str], field: &str) -> String {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["bb:1", "cat", "/proc/self/status"]);
    let out = env.ok(&args);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {out}"))
        .trim()
        .to_string()
}

fn no_leftovers(env: &Env) {
    assert!(env.ok(&["ps", "-aq"]).trim().is_empty());
    let store = env.root().display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(&store), "leftover mounts:\n{mounts}");
}

#[test]
fn security_opt_no_new_privileges_and_seccomp() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &[]);
    assert_eq!(status_field(&env, &[], "NoNewPrivs"), "0");
    for opt in [
        "no-new-privileges",
        "no-new-privileges=true",
        "no-new-privileges:true",
    ] {
        assert_eq!(
            status_field(&env, &["--security-opt", opt], "NoNewPrivs"),
            "1",
            "{opt}"
        );
    }
    assert_eq!(
        status_field(
            &env,
            &["--security-opt", "no-new-privileges=false"],
            "NoNewPrivs"
        ),
        "0"
    );
    // 2 = SECCOMP_MODE_FILTER by default; 0 when unconfined.
    assert_eq!(status_field(&env, &[], "Seccomp"), "2");
    assert_eq!(
        status_field(&env, &["--security-opt", "seccomp=unconfined"], "Seccomp"),
        "0"
    );
    let (code, _, err) = env.run(&[
        "run",
        "--rm",
        "--security-opt",
        "apparmor=x",
        "bb:1",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("unsupported --security-opt \"apparmor=x\""),
        "{err}"
    );
    no_leftovers(&env);
}

fn exercise_runtime(name: &str) {
    if !can_run() || require_tool(name).is_none() {
        return;
    }
    if name == "crun" {
        fix_hybrid_cgroups_for_crun();
    }
    let env = Env::new();
    env.image("bb:1", &[], &[]);
    let (code, out, err) = env.run(&[
        "run",
        "--rm",
        "--runtime",
        name,
        "-h",
        "oci-host",
        "bb:1",
        "sh",
        "-c",
        "hostname; cat /proc/self/status; echo changed > /tmp/f; exit 7",
    ]);
    assert_eq!(code, 7, "stdout: {out}\nstderr: {err}");
    assert!(out.starts_with("oci-host\n"), "{out}");
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
    let (code, out, err) = env.run(&[
        "run",
        "--rm",
        "--runtime",
        name,
        "--security-opt",
        "no-new-privileges",
        "--network",
        "none",
        "bb:1",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    // Without --rm the container stays, exited with its code.
    let (code, _, err) = env.run(&[
        "run",
        "--name",
        "kept",
        "--runtime",
        name,
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(code, 3, "{err}");
    let state = env.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "kept",
    ]);
    assert_eq!(state.trim(), "exited 3");
    env.ok(&["rm", "kept"]);
    no_leftovers(&env);
}

#[test]
fn runtime_runc_runs_the_image_and_returns_its_code() {
    exercise_runtime("runc");
}

#[test]
fn runtime_crun_runs_the_image_and_returns_its_code() {
    exercise_runtime("crun");
}

#[test]
fn runtime_errors_are_clear() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &[]);
    let (code, _, err) = env.run(&[
        "run",
        "--rm",
        "--runtime",
        "no-such-runtime",
        "bb:1",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("OCI runtime \"no-such-runtime\" not found"),
        "{err}"
    );
    let (code, _, err) = env.run(&["run", "-d", "--runtime", "runc", "bb:1", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("not supported with --runtime"), "{err}");
    no_leftovers(&env);
}
