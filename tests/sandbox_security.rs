//! Privileges inside the sandbox on the real kernel: docker's default
//! capability set, no_new_privs off by default and on when asked, the
//! seccomp filter (a syscall only the filter forbids fails with EPERM),
//! USER resolution and supplementary groups, and rlimits inherited.

mod common_cg;
mod sandbox_support;

use rbuild::sandbox::user;
use sandbox_support::{output_of, ready, rootfs, run, shell};

fn status_field(text: &str, field: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{field} missing in {text}"))
}

#[test]
fn root_gets_exactly_dockers_default_capabilities() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let out = output_of(&shell(&root, "cat /proc/self/status"));
    assert_eq!(status_field(&out, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&out, "CapPrm"), "00000000a80425fb");
    assert_eq!(status_field(&out, "CapBnd"), "00000000a80425fb");
    assert_eq!(status_field(&out, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000000");
}

#[test]
fn other_users_get_no_effective_capabilities_and_their_groups() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    let group = std::fs::read_to_string(root.join("etc/group")).expect("group");
    let mut spec = shell(&root, "id; cat /proc/self/status");
    spec.user = user::resolve("app", Some(&passwd), Some(&group)).expect("resolve app");
    let out = output_of(&spec);
    assert!(
        out.starts_with("uid=1000(app) gid=1000(app) groups=2000(extra)\n"),
        "{out}"
    );
    assert_eq!(status_field(&out, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&out, "CapBnd"), "00000000a80425fb");
}

#[test]
fn no_new_privs_only_when_asked() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "cat /proc/self/status");
    assert_eq!(status_field(&output_of(&spec), "NoNewPrivs"), "0");
    spec.no_new_privileges = true;
    assert_eq!(status_field(&output_of(&spec), "NoNewPrivs"), "1");
}

#[test]
fn seccomp_filter_blocks_with_eperm() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    // unshare(CLONE_NEWUSER) needs no capability, so only the filter can
    // refuse it; personality(PER_LINUX32) is on docker's allowlist.
    let ran = run(&shell(
        &root,
        "grep -E '^Seccomp(_filters)?:' /proc/self/status; unshare -U true; echo unshare=$?; linux32 true; echo linux32=$?",
    ));
    assert!(
        ran.stdout.contains("Seccomp:\t2\nSeccomp_filters:\t2\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("unshare=1\n"),
        "{}{}",
        ran.stdout,
        ran.stderr
    );
    assert!(
        ran.stderr.contains("Operation not permitted"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stdout.contains("linux32=0\n"),
        "{}{}",
        ran.stdout,
        ran.stderr
    );
    // The host allows the same call: the EPERM above is the filter's.
    let host = std::process::Command::new("/bin/busybox")
        .args(["unshare", "-U", "true"])
        .status()
        .expect("host unshare");
    assert!(host.success(), "user namespaces are disabled on this host");
}

#[test]
fn rlimits_are_inherited() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let out = output_of(&shell(&root, "ulimit -n; ulimit -Hn"));
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    assert_eq!(out, format!("{}\n{}\n", limit.rlim_cur, limit.rlim_max));
}
