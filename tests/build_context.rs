//! How the context and the Dockerfile reach the build: a directory in place,
//! a tar on stdin (`-`), the Dockerfile on stdin (`-f -`), `-f` with its own
//! `<name>.dockerignore`; ADD of a hostile archive stays inside the image;
//! `--platform` is recorded; parallel stages with `--jobs`.

mod build_support;

use build_support::{read, World};
use std::io::Write;
use std::process::{Command, Stdio};

fn build_with_stdin(w: &World, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = w
        .rbuild()
        .args(["build", "--progress", "plain"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rbuild");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait rbuild")
}

#[test]
fn tar_context_and_dockerfile_from_stdin() {
    if !build_support::ready("tar_context_and_dockerfile_from_stdin") {
        return;
    }
    let w = World::new();
    w.file(
        "Dockerfile",
        "FROM localhost/busybox\nCOPY data.txt /from-tar\n",
    );
    w.file("data.txt", "tarred");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(w.ctx())
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let out = build_with_stdin(&w, &["-t", "fromtar", "-"], &tar.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fs = w.dir.path().join("fs1");
    let dest = format!("type=local,dest={}", fs.display());
    let out = build_with_stdin(
        &w,
        &["-f", "-", "-o", &dest, w.ctx().to_str().unwrap()],
        b"FROM localhost/busybox\nCOPY data.txt /from-stdin-dockerfile\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read(&fs.join("from-stdin-dockerfile")), "tarred");
}

#[test]
fn dockerfile_specific_dockerignore() {
    if !build_support::ready("dockerfile_specific_dockerignore") {
        return;
    }
    let w = World::new();
    w.file("a", "a");
    w.file("b", "b");
    w.file(".dockerignore", "a\n");
    let df = w.dir.path().join("Other.Dockerfile");
    std::fs::write(&df, "FROM localhost/busybox\nCOPY . /c/\n").unwrap();
    std::fs::write(w.dir.path().join("Other.Dockerfile.dockerignore"), "b\n").unwrap();
    let fs = w.dir.path().join("fs");
    let out = w
        .rbuild()
        .args(["build", "--progress", "quiet", "-f"])
        .arg(&df)
        .arg("-o")
        .arg(format!("type=local,dest={}", fs.display()))
        .arg(w.ctx())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        fs.join("c/a").exists(),
        "the Dockerfile's own ignore file replaces .dockerignore"
    );
    assert!(!fs.join("c/b").exists());
}

#[test]
fn add_of_a_hostile_tar_stays_inside() {
    if !build_support::ready("add_of_a_hostile_tar_stays_inside") {
        return;
    }
    let w = World::new();
    // ../escape, an absolute path, and a symlink pointing out then written through.
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        let name = h.as_old_mut().name.as_mut();
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add("../../escape.txt", b"x");
    add("/abs.txt", b"y");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_link(&mut h, "out", "/").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "out/tmp/through-link.txt", &b"z"[..])
        .unwrap();
    let bytes = b.into_inner().unwrap();
    std::fs::write(w.ctx().join("evil.tar"), bytes).unwrap();
    let marker = w.dir.path().join("escape.txt");
    let fs = w.build_fs("FROM localhost/busybox\nADD evil.tar /x/\n", &[]);
    assert!(!marker.exists());
    assert!(!std::path::Path::new("/abs.txt").exists());
    assert!(!std::path::Path::new("/tmp/through-link.txt").exists());
    assert!(fs.join("x/escape.txt").is_file());
    assert!(fs.join("x/abs.txt").is_file());
    assert!(
        fs.join("tmp/through-link.txt").is_file() || fs.join("x/tmp/through-link.txt").is_file()
    );
}

#[test]
fn platform_is_recorded_and_stages_run_in_parallel() {
    if !build_support::ready("platform_is_recorded_and_stages_run_in_parallel") {
        return;
    }
    let w = World::new();
    w.file("a", "A");
    w.file("b", "B");
    w.build(
        "FROM localhost/busybox AS one\nCOPY a /a\n\
         FROM localhost/busybox AS two\nCOPY b /b\n\
         FROM localhost/busybox AS unused\nCOPY missing /\n\
         FROM scratch\nCOPY --from=one /a /a\nCOPY --from=two /b /b\n",
        &["-t", "par", "--jobs", "2", "--platform", "linux/arm64"],
    );
    let c = w.raw_config("par");
    assert_eq!(c["architecture"], "arm64");
    assert_eq!(c["os"], "linux");
}
