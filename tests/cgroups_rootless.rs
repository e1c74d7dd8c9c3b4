//! Rootless behaviour, tested for real by re-running this test binary as
//! uid/gid 65534: v1 hosts give the "cannot apply limits rootless" error the
//! caller turns into a warning, and on v2 the delegated subtree (owned by
//! the user, like systemd's user@UID.service) is found.

mod common_cg;

use common_cg::require_root;
use rbuild::sandbox::cgroups::layout::{self, Layout};
use rbuild::sandbox::cgroups::{delegated_v2_base, Cgroup, CgroupError, Limits};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const NOBODY: u32 = 65534;
const CHILD_ENV: &str = "RBUILD_ROOTLESS_CHILD";

/// Runs the test `name` of this binary as nobody with `CHILD_ENV=arg`.
fn run_as_nobody(name: &str, arg: &str) -> (bool, String) {
    common_cg::run_test_as(NOBODY, NOBODY, name, (CHILD_ENV, arg.as_ref()))
}

#[test]
fn rootless_on_v1_is_a_clear_error() {
    if !require_root() {
        return;
    }
    let legacy = matches!(layout::detect_current(), Ok(Some(Layout::Legacy { .. })));
    if !legacy {
        eprintln!("skipping: this host is not cgroup v1/hybrid");
        return;
    }
    let (passed, output) = run_as_nobody("child_create_as_nobody", "v1");
    assert!(passed, "child failed:\n{output}");
}

#[test]
fn delegated_v2_subtree_is_found() {
    if !require_root() {
        return;
    }
    let tree = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(tree.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let own = tree
        .path()
        .join("user.slice/user-65534.slice/user@65534.service/app.slice/term.scope");
    std::fs::create_dir_all(&own).expect("mkdir tree");
    for dir in own.ancestors().take_while(|d| *d != tree.path()) {
        std::fs::write(dir.join("cgroup.subtree_control"), "").expect("write");
        std::fs::set_permissions(
            dir.join("cgroup.subtree_control"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
    }
    // Nothing delegated yet: a clear rootless error.
    let (passed, output) = run_as_nobody(
        "child_delegated_base",
        &format!("none:{}", tree.path().display()),
    );
    assert!(passed, "child failed:\n{output}");
    // systemd delegates user@UID.service by chown'ing it and its files.
    let delegated = tree
        .path()
        .join("user.slice/user-65534.slice/user@65534.service");
    chown_tree(&delegated);
    let (passed, output) = run_as_nobody(
        "child_delegated_base",
        &format!("delegated:{}", tree.path().display()),
    );
    assert!(passed, "child failed:\n{output}");
}

fn chown_tree(dir: &Path) {
    std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).expect("chown");
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            chown_tree(&entry.path());
        } else {
            std::os::unix::fs::chown(entry.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
        }
    }
}

/// Child half: only does something when started by run_as_nobody.
#[test]
fn child_create_as_nobody() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("v1") {
        return;
    }
    let limits = Limits {
        memory: Some(64 << 20),
        ..Limits::default()
    };
    let err = Cgroup::create("rootless", &limits).expect_err("nobody cannot write v1");
    assert!(
        matches!(err, CgroupError::RootlessUnsupported { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("cannot apply resource limits rootless"),
        "{err}"
    );
}

#[test]
fn child_delegated_base() {
    let Ok(arg) = std::env::var(CHILD_ENV) else {
        return;
    };
    let Some((expect, root)) = arg.split_once(':') else {
        return;
    };
    let root = PathBuf::from(root);
    let own = root.join("user.slice/user-65534.slice/user@65534.service/app.slice/term.scope");
    let found = delegated_v2_base(&root, &own);
    match expect {
        "none" => assert!(
            matches!(found, Err(CgroupError::RootlessUnsupported { .. })),
            "{found:?}"
        ),
        _ => assert_eq!(
            found.expect("delegated base"),
            root.join("user.slice/user-65534.slice/user@65534.service")
        ),
    }
}
