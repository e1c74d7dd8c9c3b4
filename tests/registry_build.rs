//! The registry wired into the rest, against a real plain-HTTP distribution
//! 2.8 server on 127.0.0.1 (tests/registry_support): `FROM` of an image only
//! in the registry (pushed from another store), `--pull` after the tag
//! moved, `FROM name@sha256:`, `build --push` seen by skopeo, the registry
//! build cache (exported from store A, all hits in a fresh store B with the
//! same image digest), `run` of an image only in the registry, and `FROM` of
//! an unknown tag failing with the Dockerfile line. Builds need root.

mod registry_support;

use registry_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A registry, a Docker config dir and stores under one temp dir.
struct Env {
    t: tempfile::TempDir,
    reg: Registry,
}

impl Env {
    fn new(test: &str, extra: &[&str]) -> Option<Env> {
        let mut tools = vec!["docker-registry", "busybox", "tar"];
        tools.extend_from_slice(extra);
        if !need_tools(test, &tools) {
            return None;
        }
        if !nix::unistd::geteuid().is_root() {
            assert!(!ci(), "{test}: needs root (CI=true)");
            eprintln!("SKIP {test}: needs root");
            return None;
        }
        let t = tempfile::tempdir().unwrap();
        let reg = Registry::start(&t.path().join("reg"), Auth::None);
        Some(Env { t, reg })
    }

    fn rb(&self, store: &str) -> Command {
        let mut c = rbuild(&self.t.path().join(store), &self.t.path().join("docker"));
        c.env("RBUILD_RUNTIME_DIR", self.t.path().join("run"));
        c
    }

    /// `REGISTRY/path`.
    fn at(&self, path: &str) -> String {
        format!("{}/{path}", self.reg.host())
    }

    /// Imports busybox (plus `/marker` = `marker`) into `store` and pushes it
    /// to `dest`; returns the pushed manifest digest.
    fn push_base(&self, store: &str, dest: &str, marker: &str) -> String {
        let dir = self.t.path().join(format!("base-{marker}"));
        std::fs::create_dir_all(&dir).unwrap();
        let tar = busybox_tar(&dir);
        let root = dir.join("rootfs");
        std::fs::write(root.join("marker"), marker).unwrap();
        run(Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        let local = format!("local/base:{marker}");
        run(self
            .rb(store)
            .args(["import", "-c", "CMD [\"/bin/sh\"]"])
            .arg(&tar)
            .arg(&local));
        run(self.rb(store).args(["push", "-q", &local, dest]))
            .trim()
            .to_string()
    }

    /// Writes `dockerfile` (and a file) into a fresh context dir.
    fn context(&self, name: &str, dockerfile: &str) -> PathBuf {
        let ctx = self.t.path().join(name);
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        std::fs::write(ctx.join("app.txt"), "app\n").unwrap();
        ctx
    }

    /// `rbuild build --progress plain ARGS CTX` in `store`: (ok, stdout+stderr).
    fn build(&self, store: &str, ctx: &Path, args: &[&str]) -> (bool, String) {
        let out = self
            .rb(store)
            .args(["build", "--progress", "plain"])
            .args(args)
            .arg(ctx)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn build_ok(&self, store: &str, ctx: &Path, args: &[&str]) -> String {
        let (ok, text) = self.build(store, ctx, args);
        assert!(ok, "build in {store} failed:\n{text}");
        text
    }

    fn manifest_digest(&self, store: &str, name: &str) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&run(self.rb(store).args(["inspect", name]))).unwrap();
        let digests = v[0]["RepoDigests"].as_array().cloned().unwrap_or_default();
        let first = digests
            .first()
            .and_then(|d| d.as_str())
            .unwrap_or_else(|| panic!("{name} has no RepoDigests: {v}"));
        first.rsplit('@').next().unwrap().to_string()
    }
}

/// The `#N` ids of the steps that make layers (plain progress output).
fn layer_step_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| {
            ["] RUN ", "] COPY ", "] WORKDIR "]
                .iter()
                .any(|k| l.contains(k))
        })
        .filter_map(|l| l.split_whitespace().next())
        .map(|id| id.trim_start_matches('#').to_string())
        .collect()
}

fn metadata(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn from_image_only_in_the_registry_is_pulled_and_pinned() {
    let Some(env) = Env::new("from_image_only_in_the_registry_is_pulled_and_pinned", &[]) else {
        return;
    };
    let base = env.at("lib/bb:1");
    let pushed = env.push_base("a", &base, "one");
    let ctx = env.context(
        "ctx",
        &format!("FROM {base}\nRUN cat /marker > /copy\nCOPY app.txt /\n"),
    );
    let meta = env.t.path().join("meta.json");
    let out = env.build_ok(
        "b",
        &ctx,
        &["-t", "app:1", "--metadata-file", meta.to_str().unwrap()],
    );
    assert!(out.contains(&format!("pulling {base}@{pushed}")), "{out}");
    assert!(out.contains(&format!("pulled {pushed}")), "{out}");
    let bases = metadata(&meta)["rbuild.base-images"].clone();
    assert_eq!(bases, serde_json::json!([format!("{base}@{pushed}")]));
    // The base is now in store b under its name, with the registry's digest.
    assert_eq!(env.manifest_digest("b", &base), pushed);
    let copy = run(env.rb("b").args(["run", "--rm", "app:1", "cat", "/copy"]));
    assert_eq!(copy, "one");

    // By digest: verified and pulled into a third store; COPY --from of a
    // registry image is pulled too (its own step).
    let by_digest = format!("{}@{pushed}", env.at("lib/bb"));
    let other = env.at("lib/other:1");
    env.push_base("a", &other, "other");
    let ctx2 = env.context(
        "ctx2",
        &format!("FROM {by_digest}\nRUN cat /marker\nCOPY --from={other} /marker /other\n"),
    );
    let out = env.build_ok("c", &ctx2, &["-t", "app:2"]);
    assert!(out.contains(&format!("pulling {by_digest}")), "{out}");
    assert!(out.contains(&format!("load image {other}")), "{out}");
    let copied = run(env.rb("c").args(["run", "--rm", "app:2", "cat", "/other"]));
    assert_eq!(copied, "other");
}

#[test]
fn pull_flag_re_resolves_a_moved_tag() {
    let Some(env) = Env::new("pull_flag_re_resolves_a_moved_tag", &[]) else {
        return;
    };
    let base = env.at("lib/moving:1");
    let first = env.push_base("a", &base, "one");
    let ctx = env.context("ctx", &format!("FROM {base}\nRUN cat /marker > /copy\n"));
    env.build_ok("b", &ctx, &["-t", "app:1"]);
    let second = env.push_base("a", &base, "two");
    assert_ne!(first, second);
    // Without --pull the stored base is used: no registry request.
    let out = env.build_ok("b", &ctx, &["-t", "app:1"]);
    assert!(!out.contains("pulling"), "{out}");
    let copy = run(env.rb("b").args(["run", "--rm", "app:1", "cat", "/copy"]));
    assert_eq!(copy, "one");
    // --pull sees the new digest, pulls it, and the RUN step is not a hit.
    let out = env.build_ok("b", &ctx, &["-t", "app:1", "--pull"]);
    assert!(out.contains(&format!("pulling {base}@{second}")), "{out}");
    let copy = run(env.rb("b").args(["run", "--rm", "app:1", "cat", "/copy"]));
    assert_eq!(copy, "two");
    // Unchanged since: --pull only checks.
    let out = env.build_ok("b", &ctx, &["-t", "app:1", "--pull"]);
    assert!(out.contains("is up to date"), "{out}");
    assert!(!out.contains("pulling"), "{out}");
}

#[test]
fn build_push_is_seen_by_skopeo() {
    let Some(env) = Env::new("build_push_is_seen_by_skopeo", &["skopeo"]) else {
        return;
    };
    let base = env.at("lib/bb:1");
    env.push_base("a", &base, "one");
    let ctx = env.context("ctx", &format!("FROM {base}\nCOPY app.txt /app.txt\n"));
    let (t1, t2) = (env.at("app/pushed:1"), env.at("app/pushed:latest"));
    let out = env.build_ok("a", &ctx, &["--push", "-t", &t1, "-t", &t2]);
    assert!(out.contains(&format!("pushing {t1}")), "{out}");
    let local = env.manifest_digest("a", &t1);
    for t in [&t1, &t2] {
        let inspect: serde_json::Value = serde_json::from_str(&run(Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{t}"))))
        .unwrap();
        assert_eq!(
            inspect["Digest"],
            serde_json::json!(local),
            "{t}: {inspect}"
        );
        assert_eq!(
            inspect["Layers"].as_array().map(Vec::len),
            Some(2),
            "{inspect}"
        );
    }
    // buildx's spelling: -o type=registry,name=REF.
    let t3 = env.at("app/by-output:1");
    let out = env.build_ok("a", &ctx, &["-o", &format!("type=registry,name={t3}")]);
    assert!(out.contains(&format!("pushing {t3}")), "{out}");
    run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{t3}")));
    // --push without a tag is refused before anything is built.
    let (ok, text) = env.build("a", &ctx, &["--push"]);
    assert!(!ok && text.contains("tag is needed"), "{text}");
}

#[test]
fn registry_cache_from_store_a_hits_in_fresh_store_b() {
    let Some(env) = Env::new("registry_cache_from_store_a_hits_in_fresh_store_b", &[]) else {
        return;
    };
    let base = env.at("lib/bb:1");
    env.push_base("seed", &base, "one");
    let ctx = env.context(
        "ctx",
        &format!(
            "FROM {base} AS build\nRUN echo built > /out\n\
             FROM {base}\nWORKDIR /app\nCOPY app.txt .\nCOPY --from=build /out /app/out\nRUN cat /app/out /app/app.txt > /app/all\n"
        ),
    );
    let cache = env.at("cache/app:cache");
    let epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1700000000"];
    let to = format!("type=registry,ref={cache},mode=max");
    let out = env.build_ok(
        "a",
        &ctx,
        &[&epoch[..], &["-t", "app:1", "--cache-to", &to]].concat(),
    );
    assert!(!out.contains("CACHED"), "a cold build: {out}");
    let from = format!("type=registry,ref={cache}");
    let out = env.build_ok(
        "b",
        &ctx,
        &[&epoch[..], &["-t", "app:1", "--cache-from", &from]].concat(),
    );
    let layer_steps = layer_step_ids(&out);
    assert_eq!(
        layer_steps.len(),
        5,
        "RUN, WORKDIR, COPY, COPY, RUN:\n{out}"
    );
    for id in &layer_steps {
        assert!(
            out.lines().any(|l| l == format!("#{id} CACHED")),
            "step #{id} not CACHED in the fresh store:\n{out}"
        );
    }
    let (da, db) = (
        run(env
            .rb("a")
            .args(["inspect", "--format", "{{.Id}}", "app:1"])),
        run(env
            .rb("b")
            .args(["inspect", "--format", "{{.Id}}", "app:1"])),
    );
    assert_eq!(da, db, "same image from the cache");
    let all = run(env
        .rb("b")
        .args(["run", "--rm", "app:1", "cat", "/app/all"]));
    assert_eq!(all, "built\napp\n");
}

#[test]
fn run_pulls_an_image_only_in_the_registry() {
    let Some(env) = Env::new("run_pulls_an_image_only_in_the_registry", &[]) else {
        return;
    };
    let base = env.at("lib/runme:1");
    let pushed = env.push_base("a", &base, "from-registry");
    let out = env
        .rb("b")
        .args(["run", "--rm", &base, "cat", "/marker"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, "from-registry", "stdout is the container's alone");
    assert!(
        stderr.contains(&format!("Unable to find image '{base}' locally")),
        "{stderr}"
    );
    assert_eq!(env.manifest_digest("b", &base), pushed);
    // --pull never refuses what is only in the registry.
    let other = env.at("lib/runme:2");
    env.push_base("a", &other, "two");
    let text = run_fail(
        env.rb("b")
            .args(["run", "--rm", "--pull", "never", &other, "true"]),
    );
    assert!(text.contains(&format!("No such image: {other}")), "{text}");
}

#[test]
fn from_an_unknown_tag_fails_naming_the_line() {
    let Some(env) = Env::new("from_an_unknown_tag_fails_naming_the_line", &[]) else {
        return;
    };
    env.push_base("a", &env.at("lib/bb:1"), "one");
    let missing = env.at("lib/bb:nope");
    let ctx = env.context(
        "ctx",
        &format!("# syntax check\nFROM {missing}\nRUN true\n"),
    );
    let (ok, text) = env.build("b", &ctx, &[]);
    assert!(!ok, "{text}");
    let err = text
        .lines()
        .find(|l| l.starts_with("ERROR"))
        .unwrap_or_else(|| panic!("no ERROR line:\n{text}"));
    assert!(err.contains("Dockerfile:2"), "{err}");
    assert!(err.contains(&missing), "{err}");
    assert!(err.contains("not found"), "{err}");
    assert!(
        !std::fs::read_to_string(env.t.path().join("b/index.json"))
            .unwrap_or_default()
            .contains("bb"),
        "nothing named after a failed pull"
    );
}

#[test]
fn build_through_a_tls_registry_with_login() {
    let test = "build_through_a_tls_registry_with_login";
    let tools = ["docker-registry", "openssl", "htpasswd", "busybox", "tar"];
    if !need_tools(test, &tools) {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        assert!(!ci(), "{test}: needs root (CI=true)");
        eprintln!("SKIP {test}: needs root");
        return;
    }
    let (user, pass) = ("bob", "Build-Pw-0815");
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(
        &t.path().join("reg"),
        Auth::TlsBasic {
            user: user.into(),
            pass: pass.into(),
        },
    );
    let ca = reg.ca_dir();
    let ca = ca.to_str().unwrap();
    let cfg = t.path().join("docker");
    // Certificates verified for real: no registry is treated as insecure.
    let rb = |store: &str| {
        let mut c = rbuild(&t.path().join(store), &cfg);
        c.env("RBUILD_INSECURE_REGISTRIES", "");
        c
    };
    let base = format!("{}/private/bb:1", reg.host());
    let tar = busybox_tar(t.path());
    run(rb("a").arg("import").arg(&tar).arg("bb:1"));
    let creds = format!("{user}:{pass}");
    run(rb("a").args(["push", "--cert-dir", ca, "--creds", &creds, "bb:1", &base]));
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {base}\nRUN echo ok > /ok\n"),
    )
    .unwrap();
    let pushed = format!("{}/private/app:1", reg.host());
    let build = |extra: &[&str]| {
        rb("b")
            .args(["build", "--progress", "plain", "--cert-dir", ca])
            .args(extra)
            .args(["--push", "-t", &pushed])
            .arg(&ctx)
            .output()
            .unwrap()
    };
    // Anonymous: the pull is refused, naming the base and the line.
    let out = build(&[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Dockerfile:1") && text.contains(&base),
        "{text}"
    );
    assert!(text.contains("rbuild login"), "{text}");
    // After a login the same build pulls, builds and pushes.
    let mut login = rb("b")
        .args(["login", "-u", user, "--password-stdin", "--cert-dir", ca])
        .arg(reg.host())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    login
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{pass}\n").as_bytes())
        .unwrap();
    assert!(login.wait().unwrap().success());
    let out = build(&[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("pushing {pushed}")), "{text}");
    assert!(!text.contains(pass), "the password is never shown");
    // The pushed image pulls into a third store.
    run(rb("c").args(["pull", "--cert-dir", ca, &pushed]));
}

/// An image built by buildah (from scratch, the busybox tar added, a CMD)
/// and pushed by skopeo is pulled by rbuild and used in `FROM`.
#[test]
fn buildah_image_pushed_by_skopeo_is_used_in_from() {
    let Some(env) = Env::new(
        "buildah_image_pushed_by_skopeo_is_used_in_from",
        &["buildah", "skopeo"],
    ) else {
        return;
    };
    let dir = env.t.path().join("buildah");
    std::fs::create_dir_all(&dir).unwrap();
    let tar = busybox_tar(&dir);
    std::fs::write(dir.join("rootfs/marker"), "from-buildah").unwrap();
    run(Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(dir.join("rootfs"))
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    // buildah with a store of its own (vfs: no mounts to leak), committed
    // to an OCI layout that skopeo then pushes.
    let buildah = |args: &[&str]| {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(dir.join("storage"))
            .arg("--runroot")
            .arg(dir.join("runroot"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        run(&mut c).trim().to_string()
    };
    let ctr = buildah(&["from", "scratch"]);
    buildah(&["add", &ctr, tar.to_str().unwrap(), "/"]);
    buildah(&[
        "config",
        "--cmd",
        "/bin/sh",
        "--env",
        "FROM_BUILDAH=yes",
        &ctr,
    ]);
    let layout = format!("oci:{}:bb", dir.join("layout").display());
    buildah(&["commit", "--rm", &ctr, &layout]);
    let dest = env.at("lib/from-buildah:1");
    run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &layout,
        &format!("docker://{dest}"),
    ]));

    let ctx = env.context(
        "ctx-buildah",
        &format!("FROM {dest}\nRUN cat /marker > /seen && echo \"$FROM_BUILDAH\" >> /seen\n"),
    );
    let out_dir = env.t.path().join("out-buildah");
    let text = env.build_ok(
        "store",
        &ctx,
        &[
            "-t",
            "built:1",
            "-o",
            &format!("type=local,dest={}", out_dir.display()),
        ],
    );
    assert!(text.contains("pulling"), "the base was pulled:\n{text}");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("seen")).unwrap(),
        "from-buildahyes\n"
    );
}
