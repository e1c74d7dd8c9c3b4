//! rbuild against a real plain-HTTP distribution 2.8 registry on 127.0.0.1:
//! push/rmi/pull round trip with the same digest, interop with skopeo (both
//! ways), a multi-platform index with --platform, Docker v2s2 push, chunked
//! upload, catalog search, and the bad cases (unknown repository or tag,
//! corrupt blob, registry killed mid-pull, manifest that is not JSON), each
//! with a clear error and nothing partial in the store.

mod registry_support;

use registry_support::*;
use std::path::Path;
use std::process::Command;

const TOOLS: &[&str] = &["docker-registry", "busybox", "tar"];

struct Env {
    t: tempfile::TempDir,
    reg: Registry,
}

impl Env {
    fn new(test: &str, extra: &[&str]) -> Option<Env> {
        let mut tools = TOOLS.to_vec();
        tools.extend_from_slice(extra);
        if !need_tools(test, &tools) {
            return None;
        }
        let t = tempfile::tempdir().unwrap();
        let reg = Registry::start(&t.path().join("reg"), Auth::None);
        Some(Env { t, reg })
    }

    fn store(&self, name: &str) -> std::path::PathBuf {
        self.t.path().join(name)
    }

    fn rb(&self, store: &str) -> Command {
        rbuild(&self.store(store), &self.t.path().join("docker"))
    }

    /// Imports busybox into store `s` as `bb:1` and pushes it to `repo:tag`.
    fn push_busybox(&self, s: &str, dest: &str) -> String {
        let tar = busybox_tar(self.t.path());
        run(self.rb(s).arg("import").arg(&tar).arg("bb:1"));
        run(self.rb(s).args(["push", "-q", "bb:1", dest]))
            .trim()
            .to_string()
    }
}

fn images_digests(rb: &mut Command) -> String {
    run(rb.args(["images", "--digests", "--no-trunc"]))
}

#[test]
fn push_remove_pull_same_digest() {
    let Some(env) = Env::new("push_remove_pull_same_digest", &[]) else {
        return;
    };
    let dest = format!("{}/test/bb:1", env.reg.host());
    let pushed = env.push_busybox("s1", &dest);
    assert!(
        pushed.starts_with("sha256:"),
        "push -q prints the digest: {pushed}"
    );
    let local = run(env
        .rb("s1")
        .args(["inspect", "--format", "{{.Id}}", "bb:1"]));
    run(env.rb("s1").args(["rmi", "bb:1"]));
    let out = run(env.rb("s1").args(["pull", &dest]));
    assert!(out.contains(&dest), "{out}");
    let listing = images_digests(&mut env.rb("s1"));
    assert!(
        listing.contains(&pushed),
        "pulled digest {pushed} not in:\n{listing}"
    );
    let id = run(env.rb("s1").args(["inspect", "--format", "{{.Id}}", &dest]));
    assert_eq!(id, local, "same image ID after the round trip");
    // Pull by digest is verified and, with everything present, local.
    let by_digest = format!("{}/test/bb@{pushed}", env.reg.host());
    run(env.rb("s1").args(["pull", "-q", &by_digest]));
    // A second store pulls everything; a second pull skips every blob.
    run(env.rb("s2").args(["pull", &dest]));
    let again = run(env.rb("s2").args(["pull", &dest]));
    assert!(again.contains(&dest));
    // A wrong digest for an existing repository is an error, not a silent pull.
    let wrong = format!("{}/test/bb@sha256:{}", env.reg.host(), "0".repeat(64));
    let err = run_fail(env.rb("s3").args(["pull", &wrong]));
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn skopeo_interop_both_ways() {
    let Some(env) = Env::new("skopeo_interop_both_ways", &["skopeo"]) else {
        return;
    };
    let host = env.reg.host();
    let pushed = env.push_busybox("s1", &format!("{host}/interop/bb:1"));
    // rbuild -> skopeo: the image skopeo copies out has our manifest digest.
    let oci = env.t.path().join("oci");
    run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{host}/interop/bb:1"),
        &format!("oci:{}:bb", oci.display()),
    ]));
    let inspect = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{host}/interop/bb:1"),
    ]));
    assert!(inspect.contains(&pushed), "{inspect}");
    // skopeo -> rbuild: push that layout under a new name as Docker v2s2.
    run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &format!("oci:{}:bb", oci.display()),
        &format!("docker://{host}/fromskopeo/bb:v2"),
    ]));
    let digest = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{host}/fromskopeo/bb:v2"),
    ]));
    run(env
        .rb("s2")
        .args(["pull", &format!("{host}/fromskopeo/bb:v2")]));
    let listing = images_digests(&mut env.rb("s2"));
    assert!(listing.contains(digest.trim()), "{listing}");
}

#[test]
fn podman_pulls_and_runs_what_rbuild_pushed() {
    let Some(env) = Env::new(
        "podman_pulls_and_runs_what_rbuild_pushed",
        &["podman", "runc"],
    ) else {
        return;
    };
    let host = env.reg.host();
    env.push_busybox("s1", &format!("{host}/pod/bb:1"));
    let pod = env.t.path().join("podman");
    let conf = env.t.path().join("containers.conf");
    // Podman's default rlimits exceed this VM's hard limits (see peers/common.sh):
    // ask for the current hard limits instead.
    let hard = |res| {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit(2) fills the struct we own.
        unsafe { libc::getrlimit(res, &mut l) };
        l.rlim_max.min(32768)
    };
    let (nofile, nproc) = (hard(libc::RLIMIT_NOFILE), hard(libc::RLIMIT_NPROC));
    std::fs::write(
        &conf,
        format!(
            "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n"
        ),
    )
    .unwrap();
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &conf)
            .arg("--root")
            .arg(pod.join("root"))
            .arg("--runroot")
            .arg(pod.join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(args);
        c
    };
    let image = format!("{host}/pod/bb:1");
    run(&mut podman(&["pull", "--tls-verify=false", &image]));
    let out = run(&mut podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "/bin/busybox",
        "echo",
        "hello-from-rbuild",
    ]));
    assert!(out.contains("hello-from-rbuild"), "{out}");
}

/// PUTs a raw manifest with curl (independent of rbuild's client).
fn put_manifest(host: &str, repo: &str, tag: &str, media_type: &str, body: &str) {
    run(Command::new("curl").args([
        "-fsS",
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {media_type}"),
        "--data-binary",
        body,
        &format!("http://{host}/v2/{repo}/manifests/{tag}"),
    ]));
}

#[test]
fn multi_platform_index_honours_platform() {
    let Some(env) = Env::new("multi_platform_index_honours_platform", &["curl", "skopeo"]) else {
        return;
    };
    let host = env.reg.host();
    let amd = env.push_busybox("s1", &format!("{host}/multi/bb:amd64"));
    // A second image: Docker v2s2 of the same content, so its digest differs.
    let arm_out = run(env.rb("s1").args([
        "push",
        "-q",
        "--format",
        "docker",
        "bb:1",
        &format!("{host}/multi/bb:arm64"),
    ]));
    let arm = arm_out.trim().to_string();
    assert_ne!(amd, arm);
    let raw = |tag: &str| {
        run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{host}/multi/bb:{tag}"),
        ]))
    };
    let (amd_len, arm_len) = (raw("amd64").len(), raw("arm64").len());
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{amd}","size":{amd_len},"platform":{{"os":"linux","architecture":"amd64"}}}},
{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{arm}","size":{arm_len},"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
    );
    put_manifest(
        &host,
        "multi/bb",
        "multi",
        "application/vnd.oci.image.index.v1+json",
        &index,
    );
    let name = format!("{host}/multi/bb:multi");
    let index_digest = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]));
    let index_digest = rbuild::image::Digest::of_bytes(index_digest.as_bytes()).to_string();
    run(env
        .rb("a")
        .args(["pull", "--platform", "linux/arm64", &name]));
    assert!(images_digests(&mut env.rb("a")).contains(&arm));
    run(env
        .rb("b")
        .args(["pull", "--platform", "linux/amd64", &name]));
    assert!(images_digests(&mut env.rb("b")).contains(&amd));
    // Pulling by the index digest picks the platform from the index too.
    let by_index = format!("{host}/multi/bb@{index_digest}");
    run(env
        .rb("b2")
        .args(["pull", "--platform", "linux/arm64", &by_index]));
    assert!(images_digests(&mut env.rb("b2")).contains(&arm));
    // ...and, with everything stored, without the registry.
    run(env.rb("b2").args([
        "pull",
        "--platform",
        "linux/arm64",
        "--tls-verify=false",
        &by_index,
    ]));
    let err = run_fail(
        env.rb("c")
            .args(["pull", "--platform", "linux/s390x", &name]),
    );
    assert!(
        err.contains("no image for platform linux/s390x") && err.contains("linux/arm64/v8"),
        "{err}"
    );
    assert!(run(env.rb("c").args(["images", "-q"])).trim().is_empty());
    // A single-platform image must match an explicit --platform.
    let err = run_fail(env.rb("d").args([
        "pull",
        "--platform",
        "linux/s390x",
        &format!("{host}/multi/bb:amd64"),
    ]));
    assert!(err.contains("no image for platform linux/s390x"), "{err}");
    assert!(run(env.rb("d").args(["images", "-q"])).trim().is_empty());
}

#[test]
fn chunked_push_and_catalog_search() {
    let Some(env) = Env::new("chunked_push_and_catalog_search", &[]) else {
        return;
    };
    let host = env.reg.host();
    let tar = busybox_tar(env.t.path());
    run(env.rb("s1").arg("import").arg(&tar).arg("bb:1"));
    let d = run(env.rb("s1").args([
        "push",
        "-q",
        "--chunked",
        "bb:1",
        &format!("{host}/chunk/bb:1"),
    ]));
    // The 1.2 MB busybox layer went up in more than one PATCH of 1 MiB.
    let patches = env
        .reg
        .log()
        .lines()
        .filter(|l| l.contains("\"PATCH /v2/chunk/bb/blobs/uploads/"))
        .count();
    assert!(patches >= 2, "chunked upload used {patches} PATCH requests");
    run(env.rb("s2").args(["pull", &format!("{host}/chunk/bb:1")]));
    assert!(images_digests(&mut env.rb("s2")).contains(d.trim()));
    // Same blobs to another repository: mounted or found, not uploaded again.
    let out = run(env.rb("s2").args([
        "push",
        &format!("{host}/chunk/bb:1"),
        &format!("{host}/other/bb:1"),
    ]));
    assert!(!out.contains("error"), "{out}");
    let mounted = env
        .reg
        .log()
        .lines()
        .filter(|l| {
            l.contains("\"POST /v2/other/bb/blobs/uploads/?mount=")
                && l.contains("from=chunk%2Fbb")
                && l.contains("\" 201 ")
        })
        .count();
    assert_eq!(
        mounted,
        2,
        "config and layer mounted from chunk/bb:\n{}",
        env.reg.log()
    );
    let found = run(env.rb("s2").args(["search", &format!("{host}/chunk")]));
    assert!(found.contains(&format!("{host}/chunk/bb")), "{found}");
    assert!(!found.contains("other/bb"), "{found}");
}

/// Runs a command that must succeed; returns stdout+stderr.
fn run_ok_with_stderr(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

fn assert_nothing_stored(store: &Path, layer_hex: Option<&str>) {
    let images = run(Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(store)
        .args(["images", "-q"]));
    assert!(
        images.trim().is_empty(),
        "no image may be indexed: {images}"
    );
    if let Some(hex) = layer_hex {
        assert!(
            !blob_names(store).iter().any(|b| b == hex),
            "the damaged blob must not be stored"
        );
    }
    assert!(
        temp_files(store).is_empty(),
        "temp files left: {:?}",
        temp_files(store)
    );
}

#[test]
fn bad_cases_fail_clearly_and_store_nothing() {
    let Some(mut env) = Env::new("bad_cases_fail_clearly_and_store_nothing", &[]) else {
        return;
    };
    let host = env.reg.host();
    env.push_busybox("src", &format!("{host}/bad/bb:1"));

    let err = run_fail(
        env.rb("e1")
            .args(["pull", &format!("{host}/nosuchrepo/x:1")]),
    );
    assert!(err.contains("not found"), "unknown repository: {err}");
    let err = run_fail(
        env.rb("e1")
            .args(["pull", &format!("{host}/bad/bb:nosuchtag")]),
    );
    assert!(
        err.contains("not found") && err.contains("nosuchtag"),
        "unknown tag: {err}"
    );
    assert_nothing_stored(&env.store("e1"), None);

    let proxy = Proxy::start(env.reg.port, Damage::CorruptBlobs);
    let err = run_fail(
        env.rb("e2")
            .args(["pull", &format!("{}/bad/bb:1", proxy.host())]),
    );
    assert!(
        err.contains("does not match its digest"),
        "corrupt blob: {err}"
    );
    assert_nothing_stored(&env.store("e2"), None);
    assert!(
        blob_names(&env.store("e2")).is_empty(),
        "no corrupt blob kept"
    );
    drop(proxy);

    let proxy = Proxy::start(env.reg.port, Damage::NotJsonManifests);
    let err = run_fail(
        env.rb("e3")
            .args(["pull", &format!("{}/bad/bb:1", proxy.host())]),
    );
    assert!(
        err.contains("invalid manifest") && err.contains("not JSON"),
        "{err}"
    );
    assert_nothing_stored(&env.store("e3"), None);
    drop(proxy);

    let proxy = Proxy::start(env.reg.port, Damage::Schema1Manifests);
    let err = run_fail(
        env.rb("e5")
            .args(["pull", &format!("{}/bad/bb:1", proxy.host())]),
    );
    assert!(
        err.contains("schema 1") && err.contains("not supported"),
        "{err}"
    );
    assert_nothing_stored(&env.store("e5"), None);
    drop(proxy);

    // 503 and a cut connection are retried (with backoff) and the pull succeeds.
    let proxy = Proxy::start(env.reg.port, Damage::FlakyBlobs);
    let out = run_ok_with_stderr(
        env.rb("e6")
            .args(["pull", &format!("{}/bad/bb:1", proxy.host())]),
    );
    assert!(out.contains("retrying"), "{out}");
    drop(proxy);

    let proxy = Proxy::start(env.reg.port, Damage::KillRegistryMidBlob(env.reg.pid()));
    let err = run_fail(
        env.rb("e4")
            .args(["pull", &format!("{}/bad/bb:1", proxy.host())]),
    );
    assert!(
        err.contains("try again later"),
        "registry gone mid-pull: {err}"
    );
    assert_nothing_stored(&env.store("e4"), None);
    drop(proxy);
    // The interrupted pull restarts cleanly once the registry is back.
    env.reg.restart();
    run(env.rb("e4").args(["pull", &format!("{host}/bad/bb:1")]));
    let id_src = run(env
        .rb("src")
        .args(["inspect", "--format", "{{.Id}}", "bb:1"]));
    let id = run(env.rb("e4").args([
        "inspect",
        "--format",
        "{{.Id}}",
        &format!("{host}/bad/bb:1"),
    ]));
    assert_eq!(id, id_src);
}
