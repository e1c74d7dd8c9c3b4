//! rbuild's images run under other engines: `rbuild save` output (docker
//! archive) is accepted by `docker load` (a dockerd of the test's own) and
//! by `podman load`, both see the same image ID as rbuild (the config
//! digest), and `docker run` / `podman run --network none` run it and print
//! what the build put in it.

mod build_support;
mod common_cg;

use build_support::dockerd::{self, Dockerd};
use build_support::{has_tool, World};
use std::path::{Path, PathBuf};
use std::process::Command;

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const DOCKERFILE: &str = "FROM localhost/busybox\n\
    WORKDIR /site\n\
    COPY page.txt .\n\
    RUN echo \"built by $(id -un)\" >> page.txt && chmod 0640 page.txt\n\
    ENV GREETING=hi\n\
    CMD [\"/bin/sh\", \"-c\", \"cat /site/page.txt; echo $GREETING; stat -c %a /site/page.txt\"]\n";

/// What the image's CMD prints.
const EXPECTED: &str = "from the context\nbuilt by root\nhi\n640\n";

/// Builds the test image as `name`, saves it with `rbuild save`; returns
/// (archive path, image ID).
fn build_and_save(w: &World, name: &str) -> (PathBuf, String) {
    w.file("page.txt", "from the context\n");
    let iid = w.dir.path().join("iid");
    w.build(
        DOCKERFILE,
        &["-t", name, "--iidfile", iid.to_str().expect("utf-8 path")],
    );
    let archive = w.dir.path().join("saved.tar");
    ok(w.rbuild().args(["save", "-o"]).arg(&archive).arg(name));
    let id = std::fs::read_to_string(&iid).expect("iidfile");
    (archive, id)
}

#[test]
fn saved_image_loads_and_runs_in_docker() {
    let test = "saved_image_loads_and_runs_in_docker";
    if !build_support::ready(test) || !dockerd::available(test) {
        return;
    }
    let w = World::new();
    let (archive, id) = build_and_save(&w, "localhost/rbuild-docker:t1");
    let d = Dockerd::start();
    let loaded = ok(d.docker().arg("load").arg("-i").arg(&archive));
    assert!(loaded.contains("rbuild-docker:t1"), "{loaded}");
    let listed = ok(d
        .docker()
        .args(["images", "--no-trunc", "-q", "localhost/rbuild-docker:t1"]));
    assert_eq!(listed.trim(), id, "docker sees the same image ID");
    let out = ok(d.docker().args([
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/rbuild-docker:t1",
    ]));
    assert_eq!(out, EXPECTED);
}

/// A containers.conf whose default ulimits stay within this process's hard
/// limits (podman's defaults are above them here, and raising a hard limit
/// needs CAP_SYS_RESOURCE).
fn containers_conf(dir: &Path) -> PathBuf {
    let hard = |res| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we pass.
        if unsafe { libc::getrlimit(res, &mut lim) } == 0 {
            lim.rlim_max
        } else {
            1024
        }
    };
    let nofile = hard(libc::RLIMIT_NOFILE).min(1 << 20);
    // conmon's hard NPROC on this kind of host is 32768.
    let nproc = hard(libc::RLIMIT_NPROC).min(32768);
    let path = dir.join("containers.conf");
    std::fs::write(
        &path,
        format!(
            "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n"
        ),
    )
    .expect("containers.conf");
    path
}

#[test]
fn saved_image_loads_and_runs_in_podman() {
    let test = "saved_image_loads_and_runs_in_podman";
    if !build_support::ready(test) || !has_tool(test, "podman") || !has_tool(test, "crun") {
        return;
    }
    common_cg::fix_hybrid_cgroups_for_crun();
    let w = World::new();
    let (archive, id) = build_and_save(&w, "localhost/rbuild-podman:t1");
    let storage = w.dir.path().join("podman");
    let conf = containers_conf(w.dir.path());
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &conf)
            .arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .args(["--storage-driver", "vfs", "--runtime", "crun"])
            .args(args);
        c
    };
    let loaded = ok(&mut podman(&[
        "load",
        "-i",
        archive.to_str().expect("utf-8"),
    ]));
    assert!(loaded.contains("rbuild-podman:t1"), "{loaded}");
    let listed = ok(&mut podman(&[
        "images",
        "--no-trunc",
        "-q",
        "localhost/rbuild-podman:t1",
    ]));
    assert_eq!(listed.trim(), id, "podman sees the same image ID");
    let out = ok(&mut podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/rbuild-podman:t1",
    ]));
    assert_eq!(out, EXPECTED);
}
