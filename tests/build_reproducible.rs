//! Reproducible builds through the binary: two fresh stores import the same
//! base tar and build the same Dockerfile and context (COPY, RUN writing
//! files, ENV, WORKDIR, multi-stage) with the same SOURCE_DATE_EPOCH; the
//! images are identical bit for bit (manifest, config, every layer, RUN
//! layers included). A different epoch gives a different image. Needs root
//! and busybox (see tests/build_support).

mod build_support;

use build_support::{ready, World};
use std::path::Path;

const DOCKERFILE: &str = "\
FROM localhost/busybox AS build
WORKDIR /src
COPY app/ ./
RUN mkdir -p out/sub && cat a.txt b.txt > out/all.txt \\
 && echo built > out/sub/flag && chmod 0640 out/sub/flag \\
 && ln -s all.txt out/link && ln out/all.txt out/hard
ENV STAGE=build

FROM localhost/busybox
ENV GREETING=hello PATH=/app/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /app
COPY --from=build /src/out ./out
COPY top.txt ./
RUN echo \"$GREETING\" > greeting && touch -d '2001-02-03 04:05:06' old
USER 1000
CMD [\"cat\", \"/app/greeting\"]
";

fn write_context(w: &World) {
    w.file("app/a.txt", "alpha\n");
    w.file("app/b.txt", "beta\n");
    w.file("top.txt", "top\n");
}

/// What to compare: (manifest digest, config digest, manifest bytes, config bytes).
struct Built {
    manifest_digest: String,
    config_digest: String,
    manifest: Vec<u8>,
    config: Vec<u8>,
}

fn blob(store: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.trim_start_matches("sha256:");
    std::fs::read(store.join("blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("blob {digest}: {e}"))
}

/// Builds with `args` (fresh cache or not) and reads the result's blobs.
fn build(w: &World, args: &[&str], env_epoch: Option<&str>) -> Built {
    std::fs::write(w.ctx().join("Dockerfile"), DOCKERFILE).expect("Dockerfile");
    let meta = w.dir.path().join("meta.json");
    let mut cmd = w.rbuild();
    cmd.args(["build", "--progress", "plain", "--metadata-file"])
        .arg(&meta)
        .args(args)
        .arg(w.ctx());
    match env_epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    let out = cmd.output().expect("rbuild build");
    assert!(
        out.status.success(),
        "build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).expect("metadata file")).expect("JSON");
    let manifest_digest = v["containerimage.digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let config_digest = v["containerimage.config.digest"]
        .as_str()
        .expect("config digest")
        .to_string();
    Built {
        manifest: blob(&w.store(), &manifest_digest),
        config: blob(&w.store(), &config_digest),
        manifest_digest,
        config_digest,
    }
}

fn layers(manifest: &[u8]) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(manifest).expect("manifest JSON");
    m["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("layer digest").to_string())
        .collect()
}

fn base_digest(w: &World) -> String {
    w.inspect("localhost/busybox:latest")["Id"]
        .as_str()
        .expect("Id")
        .to_string()
}

#[test]
fn same_inputs_and_epoch_give_the_same_image_bit_for_bit() {
    if !ready("same_inputs_and_epoch_give_the_same_image_bit_for_bit") {
        return;
    }
    let epoch = "1700000000";
    let a = World::with_epoch(epoch);
    // Written later, so every context mtime differs between the two worlds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = World::with_base(&a.base_tar(), Some(epoch));
    assert_eq!(
        base_digest(&a),
        base_digest(&b),
        "imported base images differ"
    );
    let base = a.raw_config("localhost/busybox:latest");
    assert_eq!(base["created"], "2023-11-14T22:13:20Z");
    assert_eq!(base["history"][0]["created"], "2023-11-14T22:13:20Z");

    write_context(&a);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write_context(&b);
    // One from the environment, one as a build arg: the same epoch either way.
    let x = build(&a, &[], Some(epoch));
    let arg = format!("SOURCE_DATE_EPOCH={epoch}");
    let y = build(&b, &["--build-arg", &arg], None);
    assert_eq!(
        String::from_utf8_lossy(&x.config),
        String::from_utf8_lossy(&y.config),
        "configs differ"
    );
    assert_eq!(layers(&x.manifest), layers(&y.manifest), "layers differ");
    assert_eq!(x.manifest, y.manifest, "manifests differ");
    assert_eq!(x.manifest_digest, y.manifest_digest);
    assert_eq!(x.config_digest, y.config_digest);
    let cfg: serde_json::Value = serde_json::from_slice(&x.config).expect("config JSON");
    assert_eq!(cfg["created"], "2023-11-14T22:13:20Z");
    for h in cfg["history"].as_array().expect("history") {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z", "{h}");
    }
    // base + WORKDIR + COPY --from + COPY + RUN: RUN layers are compared too.
    assert_eq!(layers(&x.manifest).len(), 5);

    // Another epoch: another image (created, history, clamped file times).
    let later = build(&b, &["--no-cache"], Some("1700000999"));
    assert_ne!(later.manifest_digest, x.manifest_digest);
    assert_ne!(later.config_digest, x.config_digest);
    // And the same epoch again without the cache rebuilds the same bytes.
    let again = build(&b, &["--no-cache"], Some(epoch));
    assert_eq!(again.manifest_digest, x.manifest_digest, "rebuild differs");
}

#[test]
fn a_different_epoch_does_not_reuse_cached_steps() {
    if !ready("a_different_epoch_does_not_reuse_cached_steps") {
        return;
    }
    let w = World::with_epoch("1700000000");
    write_context(&w);
    let first = build(&w, &[], Some("1700000000"));
    // Cached steps carry their layers' clamped times: a new epoch must rebuild
    // them rather than mix times; the same epoch hits and gives the same image.
    let other = build(&w, &[], Some("1800000000"));
    assert_ne!(other.manifest_digest, first.manifest_digest);
    let cfg: serde_json::Value = serde_json::from_slice(&other.config).expect("config JSON");
    for h in cfg["history"].as_array().expect("history").iter().skip(1) {
        assert_eq!(h["created"], "2027-01-15T08:00:00Z", "{h}");
    }
    let same = build(&w, &[], Some("1700000000"));
    assert_eq!(same.manifest_digest, first.manifest_digest);
}
