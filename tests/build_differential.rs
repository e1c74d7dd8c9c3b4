//! Differential tests against BuildKit: the same Dockerfiles and contexts
//! built by `DOCKER_BUILDKIT=1 docker build` (Debian's docker.io 20.10, a
//! dockerd this test starts with its own data root and socket) and by
//! `rbuild build` give the same final filesystem (paths, types, modes,
//! uid/gid, sizes, contents, link targets; mtimes aside) and the same config
//! fields. The busybox base reaches dockerd through `rbuild save` +
//! `docker load`. Heredocs, `--link`, `--parents` and `--exclude` need a
//! newer Dockerfile frontend than docker 20.10 embeds (no network to fetch
//! one), so they are covered by the other build tests only.

mod build_support;

use build_support::dockerd::{self, Dockerd};
use build_support::World;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// One path of a final filesystem, everything but mtimes.
type Entry = (char, u32, u64, u64, u64, String, String);

fn read_fs(tar_path: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(tar_path).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        // busybox applet links are many and identical on both sides.
        if name.is_empty() || name == "." || (name.starts_with("bin/") && name != "bin/busybox") {
            continue;
        }
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            other => format!("{other:?}").chars().next().unwrap_or('?'),
        };
        let mut content = Vec::new();
        if kind == 'f' {
            e.read_to_end(&mut content).unwrap();
        }
        let link = h
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.to_string_lossy().trim_start_matches("./").to_string())
            .unwrap_or_default();
        let size = if kind == 'f' { content.len() as u64 } else { 0 };
        let text = String::from_utf8_lossy(&content[..content.len().min(200)]).into_owned();
        out.insert(
            name,
            (
                kind,
                h.mode().unwrap() & 0o7777,
                h.uid().unwrap(),
                h.gid().unwrap(),
                size,
                text,
                link,
            ),
        );
    }
    out
}

/// The config fields both sides must agree on (null, absent and empty alike).
fn config_fields(cfg: &serde_json::Value) -> BTreeMap<String, String> {
    let keys = [
        "Env",
        "Cmd",
        "Entrypoint",
        "User",
        "WorkingDir",
        "Labels",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
        "Healthcheck",
        "OnBuild",
        "Shell",
    ];
    keys.iter()
        .map(|k| {
            let v = &cfg[*k];
            let empty = v.is_null()
                || v.as_str() == Some("")
                || v.as_array().is_some_and(|a| a.is_empty())
                || v.as_object().is_some_and(|o| o.is_empty());
            (
                k.to_string(),
                if empty { String::new() } else { v.to_string() },
            )
        })
        .collect()
}

struct Case {
    name: &'static str,
    dockerfile: &'static str,
    files: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "copy-rules",
        dockerfile: "FROM localhost/busybox\nWORKDIR /work\nCOPY a.txt b.txt /multi/\nCOPY *.txt /glob/\n\
                     COPY dir /contents\nCOPY dir/ /contents2/\nCOPY a.txt rel/\nCOPY a.txt relfile\n\
                     COPY --chown=app:staff dir /owned/\nCOPY --chown=1234:5678 a.txt /num/\n\
                     COPY --chmod=600 a.txt /mode\nCOPY a.txt /deep/new/parents/\nCOPY a.txt /etc/\n\
                     COPY link /followed\nCOPY dir/link-in-dir /dlink/\nCOPY --chmod=700 dir /cm/\n\
                     COPY --chown=app --chmod=640 a.txt /both/deeper/\nCOPY dir /etc/\nCOPY . /all/\n",
        files: &[("a.txt", "A\n"), ("b.txt", "B\n"), ("c.md", "C"), ("dir/x", "X"), ("dir/sub/y", "Y")],
    },
    Case {
        name: "whiteouts-hardlinks",
        dockerfile: "FROM localhost/busybox\n\
                     RUN mkdir -p /d/old && echo 1 > /d/old/f && echo keep > /k && echo gone > /g && echo x > /etc/extra\n\
                     RUN rm /g /etc/extra && rm -r /d && mkdir -p /d/new && echo n > /d/new/f && ln /k /k2 && ln -s /k /ks\n\
                     RUN touch /tmp/t && rm /tmp/t\n",
        files: &[],
    },
    Case {
        name: "dockerignore",
        dockerfile: "FROM localhost/busybox\nCOPY . /ctx/\n",
        files: &[
            (".dockerignore", "secret.txt\nlogs\n!logs/keep.log\n**/*.tmp\nDockerfile\n"),
            ("secret.txt", "S"),
            ("logs/a.log", "a"),
            ("logs/keep.log", "k"),
            ("d/x.tmp", "t"),
            ("d/y", "y"),
        ],
    },
    Case {
        name: "args-env",
        dockerfile: "ARG BASE=localhost/busybox\nARG GLOBAL=g\nFROM $BASE AS one\nARG GLOBAL\nARG LOCAL=l1\n\
                     ENV FROM_ARG=${GLOBAL}-${LOCAL} LOCAL=shadowed\nRUN echo \"$GLOBAL $LOCAL $FROM_ARG\" > /one\n\
                     FROM one\nARG LATE=${LOCAL:-unset}\nENV SEEN=${LOCAL}x${LATE}\nRUN echo \"$SEEN $LATE\" > /two\n\
                     LABEL l=${SEEN} other=\"a b\"\nEXPOSE 80 53/udp\nVOLUME /data\nSTOPSIGNAL SIGQUIT\n",
        files: &[],
    },
    Case {
        name: "user-workdir",
        dockerfile: "FROM localhost/busybox\nUSER app\nWORKDIR /home/app/w1\nRUN touch mine && id > id.txt\n\
                     USER root\nWORKDIR rel\nRUN pwd > /pwd.txt\nUSER 1000:50\nRUN id > /tmp/id2\n\
                     HEALTHCHECK --interval=5s CMD true\nSHELL [\"/bin/sh\", \"-ec\"]\nENTRYPOINT [\"/bin/echo\"]\nCMD hi\n",
        files: &[],
    },
    Case {
        name: "multi-stage",
        dockerfile: "FROM localhost/busybox AS build\nRUN mkdir /out && echo bin > /out/main && chown 1:1 /out/main \
                     && mkdir /h && echo k > /h/a && ln /h/a /h/b\n\
                     FROM localhost/busybox AS unused\nRUN exit 1\n\
                     FROM localhost/busybox\nCOPY --from=build /out/main /bin/main\nCOPY --from=0 /out /out2\n\
                     COPY --from=build /h /h\nCOPY --from=build --chown=app /out/main /owned\n",
        files: &[],
    },
    Case {
        name: "edges",
        dockerfile: "FROM localhost/busybox\n\
                     RUN mkdir -p /real/dir && ln -s /real/dir /linkdir && echo old > /real/dir/f && chmod 700 /real\n\
                     COPY f /linkdir/\nCOPY f /real/dir/f\nCOPY d* /globdirs/\nCOPY d1 /one-dir\n\
                     WORKDIR /tmp\nWORKDIR /\nRUN chmod 750 /root && chown 1:1 /home\n\
                     ENV A=1\nENV B=${A}2 C=\"$A $B\"\nRUN echo \"$A $B $C\" > /env.txt\n",
        files: &[("f", "new"), ("d1/x", "1"), ("d2/y", "2"), ("d2/sub/z", "3")],
    },
    Case {
        name: "add-archives",
        dockerfile: "FROM localhost/busybox\nADD pkg.tar.gz /opt/\nADD plain.tar /plain\nADD notatar.txt /n/\n\
                     ADD --chown=app pkg.tar.gz /owned-extract/\nADD --chown=app notatar.txt /owned-file\n\
                     COPY pkg.tar.gz /copied/\n",
        files: &[("notatar.txt", "text")],
    },
    Case {
        name: "onbuild",
        dockerfile: "FROM diff-onbuild-parent\nRUN cat /triggered > /seen\n",
        files: &[("marker", "from-trigger")],
    },
];

/// Extra context content a case needs (links, modes, archives) and, for
/// ONBUILD, the parent image built by both sides.
fn prepare(case: &Case, ctx: &Path, w: &World, d: &Dockerd) {
    match case.name {
        "copy-rules" => {
            std::os::unix::fs::symlink("a.txt", ctx.join("link")).unwrap();
            std::os::unix::fs::symlink("x", ctx.join("dir/link-in-dir")).unwrap();
            std::fs::set_permissions(
                ctx.join("dir/x"),
                std::os::unix::fs::PermissionsExt::from_mode(0o751),
            )
            .unwrap();
        }
        "add-archives" => {
            let tree = ctx.parent().unwrap().join("add-tree");
            std::fs::create_dir_all(tree.join("pkg/sub")).unwrap();
            std::fs::write(tree.join("pkg/sub/data"), "D").unwrap();
            std::os::unix::fs::symlink("sub/data", tree.join("pkg/ln")).unwrap();
            ok(Command::new("tar")
                .arg("--owner=7")
                .arg("--group=8")
                .arg("-czf")
                .arg(ctx.join("pkg.tar.gz"))
                .arg("-C")
                .arg(&tree)
                .arg("pkg"));
            ok(Command::new("tar")
                .arg("-cf")
                .arg(ctx.join("plain.tar"))
                .arg("-C")
                .arg(&tree)
                .arg("."));
        }
        "onbuild" => {
            let parent = ctx.parent().unwrap().join("onbuild-parent");
            std::fs::create_dir_all(&parent).unwrap();
            std::fs::write(
                parent.join("Dockerfile"),
                "FROM localhost/busybox\nONBUILD COPY marker /triggered\nONBUILD ENV T=1\nONBUILD RUN echo ran > /ran\n",
            )
            .unwrap();
            ok(d.docker()
                .args([
                    "build",
                    "-q",
                    "--network",
                    "none",
                    "-t",
                    "diff-onbuild-parent",
                ])
                .arg(&parent));
            ok(w.rbuild()
                .args(["build", "--progress", "quiet", "-t", "diff-onbuild-parent"])
                .arg(&parent));
        }
        _ => {}
    }
}

#[test]
fn rbuild_and_buildkit_agree() {
    let test = "rbuild_and_buildkit_agree";
    if !build_support::ready(test) || !dockerd::available(test) {
        return;
    }
    let w = World::new();
    let d = Dockerd::start();
    let base = w.dir.path().join("base.tar");
    ok(w.rbuild()
        .args(["save", "-o"])
        .arg(&base)
        .arg("localhost/busybox:latest"));
    ok(d.docker().arg("load").arg("-i").arg(&base));

    let mut failures = Vec::new();
    for case in CASES {
        let ctx = w.dir.path().join(format!("case-{}", case.name));
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("Dockerfile"), case.dockerfile).unwrap();
        for (path, data) in case.files {
            let p = ctx.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        prepare(case, &ctx, &w, &d);
        let tag = format!("diff-{}", case.name);
        let bk_tar = w.dir.path().join(format!("{}-buildkit.tar", case.name));
        let rb_tar = w.dir.path().join(format!("{}-rbuild.tar", case.name));
        ok(d.docker()
            .args(["build", "-q", "--network", "none", "-t", &tag])
            .arg(&ctx));
        ok(d.docker()
            .args(["build", "-q", "--network", "none", "-o"])
            .arg(format!("type=tar,dest={}", bk_tar.display()))
            .arg(&ctx));
        ok(w.rbuild()
            .args([
                "build",
                "--progress",
                "quiet",
                "--no-cache",
                "-t",
                &tag,
                "-o",
            ])
            .arg(format!("type=tar,dest={}", rb_tar.display()))
            .arg(&ctx));
        let bk = read_fs(&bk_tar);
        let rb = read_fs(&rb_tar);
        for k in bk
            .keys()
            .chain(rb.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            if bk.get(k) != rb.get(k) {
                failures.push(format!(
                    "{}: {k}\n  buildkit: {:?}\n  rbuild:   {:?}",
                    case.name,
                    bk.get(k),
                    rb.get(k)
                ));
            }
        }
        let inspect = ok(d.docker().args(["image", "inspect", &tag]));
        let bk_cfg: serde_json::Value = serde_json::from_str(&inspect).unwrap();
        let rb_cfg = w.raw_config(&tag);
        let (a, b) = (
            config_fields(&bk_cfg[0]["Config"]),
            config_fields(&rb_cfg["config"]),
        );
        for (k, v) in &a {
            if b.get(k) != Some(v) {
                failures.push(format!(
                    "{}: config {k}\n  buildkit: {v}\n  rbuild:   {}",
                    case.name,
                    b.get(k).cloned().unwrap_or_default()
                ));
            }
        }
        eprintln!("case {}: {} paths compared", case.name, bk.len());
    }
    assert!(
        failures.is_empty(),
        "differences from BuildKit:\n{}",
        failures.join("\n")
    );
}
