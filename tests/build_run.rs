//! RUN steps in the real sandbox: shell, exec and heredoc forms, SHELL, the
//! environment (ENV and ARGs in scope, ARGs never in the config), USER and
//! WORKDIR; layers from overlay upper dirs (whiteouts, opaque dirs,
//! hardlinks, no /etc/hosts); `--mount` cache/bind/tmpfs/secret; failures
//! with their output and Dockerfile line.

mod build_support;

use build_support::{read, stat, World};
use std::process::Command;

#[test]
fn run_forms_environment_user_and_workdir() {
    if !build_support::ready("run_forms_environment_user_and_workdir") {
        return;
    }
    let w = World::new();
    let fs = w.build_fs(
        "FROM localhost/busybox\n\
         ARG BUILD_ONLY=secretish\n\
         ENV IMG=img\n\
         RUN echo \"$BUILD_ONLY $IMG\" > /shell.txt\n\
         RUN [\"/bin/sh\", \"-c\", \"echo exec:$IMG > /exec.txt\"]\n\
         RUN <<EOF\n\
         echo heredoc-line1 > /heredoc.txt\n\
         echo heredoc-line2 >> /heredoc.txt\n\
         EOF\n\
         RUN <<EOF\n\
         #!/bin/busybox sh\n\
         echo \"shebang:$0\" > /shebang.txt\n\
         EOF\n\
         SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n\
         RUN echo \"$0 $-\" > /shell-opts.txt || true\n\
         USER app\n\
         WORKDIR /home/app/work\n\
         RUN id -u > uid.txt && pwd > pwd.txt\n",
        &["-t", "runs"],
    );
    assert_eq!(read(&fs.join("shell.txt")), "secretish img\n");
    assert_eq!(read(&fs.join("exec.txt")), "exec:img\n");
    assert_eq!(
        read(&fs.join("heredoc.txt")),
        "heredoc-line1\nheredoc-line2\n"
    );
    assert!(
        read(&fs.join("shell-opts.txt")).contains('e'),
        "SHELL flags not used"
    );
    assert_eq!(read(&fs.join("shebang.txt")), "shebang:/dev/pipes/EOF\n");
    assert!(!fs.join("dev/pipes/EOF").exists(), "script committed");
    assert_eq!(read(&fs.join("home/app/work/uid.txt")), "1000\n");
    assert_eq!(read(&fs.join("home/app/work/pwd.txt")), "/home/app/work\n");
    assert_eq!(stat(&fs.join("home/app/work/uid.txt")).1, 1000);
    let c = w.raw_config("runs");
    assert!(
        !c["config"]["Env"].to_string().contains("BUILD_ONLY"),
        "ARG leaked into the config"
    );
    let history = c["history"].to_string();
    assert!(
        history.contains("RUN |1 BUILD_ONLY=secretish /bin/sh -c echo"),
        "{history}"
    );
}

#[test]
fn layers_carry_whiteouts_opaque_dirs_and_hardlinks() {
    if !build_support::ready("layers_carry_whiteouts_opaque_dirs_and_hardlinks") {
        return;
    }
    let w = World::new();
    let dir = w.dir.path().join("oci");
    w.build(
        "FROM localhost/busybox\n\
         RUN mkdir -p /d/old && echo 1 > /d/old/f && echo keep > /k && echo gone > /g\n\
         RUN rm /g && rm -r /d && mkdir -p /d/new && echo n > /d/new/f && ln /k /k2 \
             && touch /tmp/created-and-deleted && rm /tmp/created-and-deleted\n",
        &[
            "-t",
            "wh:1",
            "-o",
            &format!("type=oci,dest={}", dir.display()),
        ],
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("blobs/sha256").join(manifest_digest)).unwrap(),
    )
    .unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let last = layers.last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let out = Command::new("tar")
        .arg("-tvzf")
        .arg(dir.join("blobs/sha256").join(last))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listing.contains(".wh.g"),
        "whiteout for /g missing:\n{listing}"
    );
    assert!(
        listing.contains("d/.wh..wh..opq"),
        "opaque marker for /d missing:\n{listing}"
    );
    assert!(
        listing.contains("k2 link to k"),
        "hardlink missing:\n{listing}"
    );
    assert!(!listing.contains("created-and-deleted"), "{listing}");
    for l in layers {
        let d = l["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_string();
        let out = Command::new("tar")
            .arg("-tzf")
            .arg(dir.join("blobs/sha256").join(d))
            .output()
            .unwrap();
        let names = String::from_utf8_lossy(&out.stdout).into_owned();
        for never in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
            assert!(
                !names.lines().any(|n| n.trim_start_matches("./") == never),
                "{never} committed:\n{names}"
            );
        }
    }
    let fs = w.build_fs("FROM wh:1\n", &[]);
    assert!(!fs.join("g").exists());
    assert!(
        !fs.join("d/old").exists(),
        "opaque dir let the old contents through"
    );
    assert_eq!(read(&fs.join("d/new/f")), "n\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(fs.join("k")).unwrap().ino(),
        std::fs::metadata(fs.join("k2")).unwrap().ino()
    );
}

#[test]
fn run_mounts_cache_bind_tmpfs_secret() {
    if !build_support::ready("run_mounts_cache_bind_tmpfs_secret") {
        return;
    }
    let w = World::new();
    w.file("src/input.txt", "from-context");
    let secret = w.dir.path().join("token");
    std::fs::write(&secret, "s3cr3t-value").unwrap();
    let df = "FROM localhost/busybox AS other\n\
              RUN echo from-stage > /stage.txt\n\
              FROM localhost/busybox\n\
              RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/count; wc -l < /cache/count > /count.txt'\n\
              RUN --mount=type=bind,source=src,target=/in cat /in/input.txt > /bound.txt && ! touch /in/new 2>/dev/null\n\
              RUN --mount=type=bind,source=src,target=/in,rw touch /in/new && ls /in > /rw.txt\n\
              RUN --mount=type=bind,from=other,source=/stage.txt,target=/s.txt cp /s.txt /from-stage.txt\n\
              RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/x && ls /scratch > /tmpfs.txt\n\
              RUN --mount=type=secret,id=token cat /run/secrets/token > /dev/null && echo printed:$(cat /run/secrets/token) && test ! -s /run/secrets/token || echo has-secret > /secret-ok.txt\n";
    let secret_arg = format!("id=token,src={}", secret.display());
    let out = w.dir.path().join("fs1");
    let err = w.build(
        df,
        &[
            "--secret",
            &secret_arg,
            "-t",
            "mounts",
            "-o",
            &format!("type=local,dest={}", out.display()),
        ],
    );
    assert_eq!(read(&out.join("count.txt")).trim(), "1");
    assert_eq!(read(&out.join("bound.txt")), "from-context");
    assert!(read(&out.join("rw.txt")).contains("new"));
    assert!(
        !w.ctx().join("src/new").exists(),
        "a rw bind wrote into the context"
    );
    assert_eq!(read(&out.join("from-stage.txt")), "from-stage\n");
    assert_eq!(read(&out.join("tmpfs.txt")), "x\n");
    assert!(!out.join("scratch/x").exists(), "tmpfs contents committed");
    assert!(
        !out.join("cache/count").exists(),
        "cache contents committed"
    );
    assert_eq!(read(&out.join("secret-ok.txt")), "has-secret\n");
    assert!(!out.join("run/secrets/token").exists(), "secret committed");
    assert!(
        !err.contains("s3cr3t-value"),
        "secret shown in the log:\n{err}"
    );
    assert!(err.contains("printed:****"), "{err}");
    // The cache mount persists: a rebuild without the build cache counts 2.
    let out2 = w.dir.path().join("fs2");
    w.build(
        df,
        &[
            "--no-cache",
            "--secret",
            &secret_arg,
            "-o",
            &format!("type=local,dest={}", out2.display()),
        ],
    );
    assert_eq!(read(&out2.join("count.txt")).trim(), "2");
    // Nothing of the secret is in any blob of the store.
    for e in std::fs::read_dir(w.store().join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let mut decoded = Vec::new();
        let mut d = flate2::read::GzDecoder::new(&bytes[..]);
        let _ = std::io::Read::read_to_end(&mut d, &mut decoded);
        let plain = if decoded.is_empty() {
            bytes.clone()
        } else {
            decoded
        };
        assert!(
            !plain.windows(12).any(|x| x == b"s3cr3t-value"),
            "secret in blob {}",
            p.display()
        );
    }
}

#[test]
fn failing_run_shows_output_and_line() {
    if !build_support::ready("failing_run_shows_output_and_line") {
        return;
    }
    let w = World::new();
    let err = w.build_fails(
        "FROM localhost/busybox\n\
         ENV X=1\n\
         RUN echo before-failure && echo to-stderr >&2 && exit 7\n",
        &[],
    );
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("exit code 7"), "{err}");
    assert!(
        err.contains("before-failure") && err.contains("to-stderr"),
        "{err}"
    );
}

#[test]
fn ssh_mount_forwards_the_agent_socket() {
    if !build_support::ready("ssh_mount_forwards_the_agent_socket")
        || !build_support::has_tool("ssh_mount_forwards_the_agent_socket", "ssh-agent")
    {
        return;
    }
    let w = World::new();
    let sock = w.dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let spec = format!("default={}", sock.display());
    let result = std::panic::catch_unwind(|| {
        w.build_fs(
            "FROM localhost/busybox\n\
             RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /ssh.txt\n",
            &["--ssh", &spec],
        )
    });
    let _ = agent.kill();
    let _ = agent.wait();
    let fs = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert_eq!(read(&fs.join("ssh.txt")), "/run/buildkit/ssh_agent.0\n");
    assert!(
        !fs.join("run/buildkit/ssh_agent.0").exists(),
        "socket committed"
    );
}
