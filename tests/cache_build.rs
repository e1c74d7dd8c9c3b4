//! The build cache through the binary: `--cache-to` / `--cache-from` between
//! two fresh stores, and which steps a rebuild takes from the cache (read
//! from the plain progress output, step by step) after no change, a changed
//! file, a Dockerfile comment, `--no-cache`, `--no-cache-filter` and a build
//! arg used late. Needs root and busybox (see tests/build_support).

mod build_support;

use build_support::{ready, World};
use std::collections::BTreeMap;

const EPOCH: &str = "1700000000";

/// How each step of a build ended, by its progress name (`[build 2/4] RUN make`).
fn steps(progress: &str) -> BTreeMap<String, String> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for line in progress.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((id, text)) = rest.split_once(' ') else {
            continue;
        };
        if text == "CACHED" || text.starts_with("DONE") || text.starts_with("ERROR") {
            if let Some(name) = names.get(id) {
                let status = text.split(' ').next().unwrap_or_default().to_string();
                out.insert(name.clone(), status);
            }
        } else if text.starts_with('[') && !names.contains_key(id) {
            names.insert(id.to_string(), text.to_string());
        }
    }
    out
}

/// The steps that ran (not CACHED), FROM lines aside (they always resolve).
fn ran(progress: &str) -> Vec<String> {
    steps(progress)
        .into_iter()
        .filter(|(name, status)| status != "CACHED" && !name.contains("] FROM "))
        .map(|(name, _)| name)
        .collect()
}

/// The steps taken from the cache.
fn cached(progress: &str) -> Vec<String> {
    steps(progress)
        .into_iter()
        .filter(|(_, status)| status == "CACHED")
        .map(|(name, _)| name)
        .collect()
}

/// The manifest digest of the build (from `--metadata-file`).
fn build_digest(w: &World, dockerfile: &str, args: &[&str]) -> (String, String) {
    let meta = w.dir.path().join("meta.json");
    let meta_arg = meta.display().to_string();
    let mut all = vec!["--metadata-file", meta_arg.as_str()];
    all.extend_from_slice(args);
    let progress = w.build(dockerfile, &all);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).expect("metadata file")).expect("JSON");
    let digest = v["containerimage.digest"]
        .as_str()
        .expect("containerimage.digest")
        .to_string();
    (digest, progress)
}

const MULTI_STAGE: &str = "\
FROM localhost/busybox AS build
WORKDIR /src
COPY app/ ./
RUN cat a.txt b.txt > out.txt && echo built >> out.txt
ENV STAGE=build

FROM localhost/busybox
ENV GREETING=hello
LABEL org.example.name=demo
HEALTHCHECK --interval=5s CMD true
SHELL [\"/bin/sh\", \"-ec\"]
COPY --from=build /src/out.txt /out.txt
RUN cp /out.txt /copy.txt
CMD [\"cat\", \"/copy.txt\"]
";

fn write_app(w: &World) {
    w.file("app/a.txt", "alpha\n");
    w.file("app/b.txt", "beta\n");
    w.file("other.txt", "not copied\n");
}

#[test]
fn cache_to_and_from_local_hit_every_step_in_a_fresh_store() {
    if !ready("cache_to_and_from_local_hit_every_step_in_a_fresh_store") {
        return;
    }
    let a = World::with_epoch(EPOCH);
    write_app(&a);
    let cache_dir = a.dir.path().join("ci-cache");
    let to = format!("type=local,dest={},mode=max", cache_dir.display());
    let epoch_arg = format!("SOURCE_DATE_EPOCH={EPOCH}");
    let (digest_a, progress_a) = build_digest(
        &a,
        MULTI_STAGE,
        &["--cache-to", &to, "--build-arg", &epoch_arg],
    );
    assert!(cached(&progress_a).is_empty(), "fresh store:\n{progress_a}");
    assert!(cache_dir.join("index.json").is_file(), "no cache export");

    let b = World::with_base(&a.base_tar(), Some(EPOCH));
    write_app(&b);
    let from = format!("type=local,src={}", cache_dir.display());
    // Repeatable: a source without an export yet is skipped, the next used.
    let none = format!("type=local,src={}", b.dir.path().join("none").display());
    let (digest_b, progress_b) = build_digest(
        &b,
        MULTI_STAGE,
        &[
            "--cache-from",
            &none,
            "--cache-from",
            &from,
            "--build-arg",
            &epoch_arg,
        ],
    );
    assert_eq!(ran(&progress_b), Vec::<String>::new(), "{progress_b}");
    assert_eq!(cached(&progress_b).len(), 5, "{progress_b}");
    assert_eq!(digest_a, digest_b, "same image from the imported cache");
    // The metadata the cache must carry (fields oci-spec lacks) survived.
    let cfg = b.raw_config(&built_config_id(&b));
    assert_eq!(
        cfg["config"]["Shell"],
        serde_json::json!(["/bin/sh", "-ec"])
    );
    assert_eq!(
        cfg["config"]["Healthcheck"]["Interval"],
        serde_json::json!(5_000_000_000u64)
    );
}

/// The config digest (image id) of the last build in `w` with a metadata file.
fn built_config_id(w: &World) -> String {
    let meta = w.dir.path().join("meta.json");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(meta).expect("metadata file")).expect("JSON");
    v["containerimage.config.digest"]
        .as_str()
        .expect("config digest")
        .to_string()
}

#[test]
fn cache_to_mode_min_exports_only_the_final_stage() {
    if !ready("cache_to_mode_min_exports_only_the_final_stage") {
        return;
    }
    let a = World::with_epoch(EPOCH);
    write_app(&a);
    let cache_dir = a.dir.path().join("ci-cache");
    let to = format!("type=local,dest={}", cache_dir.display());
    a.build(MULTI_STAGE, &["--cache-to", &to]);

    let b = World::with_base(&a.base_tar(), Some(EPOCH));
    write_app(&b);
    let from = format!("type=local,src={}", cache_dir.display());
    let progress = b.build(MULTI_STAGE, &["--cache-from", &from]);
    // The build stage was not exported: it runs again; the final stage's
    // keys depend on the build stage's keys, not its output, so they hit.
    assert_eq!(
        ran(&progress),
        vec![
            "[build 2/5] WORKDIR /src".to_string(),
            "[build 3/5] COPY app/ ./".to_string(),
            "[build 4/5] RUN cat a.txt b.txt > out.txt && echo built >> out.txt".to_string(),
        ],
        "{progress}"
    );
    assert_eq!(cached(&progress).len(), 2, "{progress}");
}

#[test]
fn cache_from_a_missing_dir_builds_and_bad_options_fail_clearly() {
    if !ready("cache_from_a_missing_dir_builds_and_bad_options_fail_clearly") {
        return;
    }
    let w = World::new();
    write_app(&w);
    let missing = format!("type=local,src={}", w.dir.path().join("none").display());
    let progress = w.build(MULTI_STAGE, &["--cache-from", &missing]);
    assert!(cached(&progress).is_empty(), "{progress}");
    for (flag, spec, want) in [
        ("--cache-from", "type=gha", "not supported yet"),
        ("--cache-to", "type=registry,mode=max", "needs ref="),
        ("--cache-to", "type=local,src=/tmp/x", "give dest=DIR"),
        ("--cache-to", "type=local,dest=/tmp/x,mode=all", "mode=all"),
    ] {
        let out = w.build_output(MULTI_STAGE, &[flag, spec]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} {spec} accepted");
        assert!(err.contains(want), "{flag} {spec}: {err}");
    }
}

/// Waits until the wall clock's second changes, so a step that reran
/// would record a different history time than the build before.
fn next_second() {
    let secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let start = secs();
    while secs() == start {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

const METADATA: &str = "\
FROM localhost/busybox
ENV A=1
HEALTHCHECK --interval=7s --retries=2 CMD true
SHELL [\"/bin/sh\", \"-ec\"]
ONBUILD RUN echo child
LABEL version=1
RUN echo hi > /hi
EXPOSE 8080
";

#[test]
fn metadata_steps_hit_and_keep_healthcheck_shell_onbuild() {
    if !ready("metadata_steps_hit_and_keep_healthcheck_shell_onbuild") {
        return;
    }
    let w = World::new();
    w.build(METADATA, &["-t", "localhost/meta:1"]);
    let first = w.raw_config("localhost/meta:1");
    next_second();
    let progress = w.build(METADATA, &["-t", "localhost/meta:2"]);
    assert_eq!(ran(&progress), Vec::<String>::new(), "{progress}");
    let second = w.raw_config("localhost/meta:2");
    // Every history entry (metadata steps too) came from the cache: a rerun
    // would have stamped this build's time.
    assert_eq!(first["history"], second["history"]);
    for field in [
        "Healthcheck",
        "Shell",
        "OnBuild",
        "Env",
        "Labels",
        "ExposedPorts",
    ] {
        assert_eq!(first["config"][field], second["config"][field], "{field}");
        assert!(!second["config"][field].is_null(), "{field} lost");
    }
    assert_eq!(second["config"]["Healthcheck"]["Retries"], 2);

    // A changed LABEL reruns itself and what follows, not what precedes it.
    next_second();
    let changed = METADATA.replace("version=1", "version=2");
    let progress = w.build(&changed, &["-t", "localhost/meta:3"]);
    assert_eq!(
        ran(&progress),
        vec!["[7/8] RUN echo hi > /hi".to_string()],
        "{progress}"
    );
    let third = w.raw_config("localhost/meta:3");
    let history = |v: &serde_json::Value, i: usize| v["history"][i]["created"].clone();
    let base = first["history"].as_array().map_or(0, Vec::len) - 7;
    for i in 0..base + 4 {
        assert_eq!(history(&first, i), history(&third, i), "entry {i}");
    }
    for i in base + 4..base + 7 {
        assert_ne!(history(&first, i), history(&third, i), "entry {i}");
    }
    assert_eq!(third["config"]["Labels"]["version"], "2");
}

const STEPS: &str = "\
FROM localhost/busybox AS deps
WORKDIR /deps
COPY deps.txt ./
RUN cat deps.txt > deps.out

FROM localhost/busybox AS final
WORKDIR /app
COPY --from=deps /deps/deps.out ./
COPY src/ ./src/
RUN ls src > listing
ARG VERSION=1
RUN echo $VERSION > version
COPY last.txt ./
";

const DEPS: [&str; 3] = [
    "[deps 2/4] WORKDIR /deps",
    "[deps 3/4] COPY deps.txt ./",
    "[deps 4/4] RUN cat deps.txt > deps.out",
];
const FINAL: [&str; 6] = [
    "[final 2/8] WORKDIR /app",
    "[final 3/8] COPY --from=deps /deps/deps.out ./",
    "[final 4/8] COPY src/ ./src/",
    "[final 5/8] RUN ls src > listing",
    "[final 7/8] RUN echo $VERSION > version",
    "[final 8/8] COPY last.txt ./",
];

fn names(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn rebuilds_rerun_exactly_the_steps_whose_inputs_changed() {
    if !ready("rebuilds_rerun_exactly_the_steps_whose_inputs_changed") {
        return;
    }
    let w = World::new();
    w.file("deps.txt", "deps v1\n");
    w.file("src/main.c", "int main(void) { return 0; }\n");
    w.file("src/util.c", "int util;\n");
    w.file("last.txt", "last\n");
    w.file("unused.txt", "not copied\n");
    let all: Vec<String> = names(&[&DEPS[..], &FINAL[..]].concat());

    let first = w.build(STEPS, &[]);
    assert_eq!(ran(&first), all, "cold build:\n{first}");

    let noop = w.build(STEPS, &[]);
    assert_eq!(ran(&noop), Vec::<String>::new(), "no-op rebuild:\n{noop}");
    assert_eq!(cached(&noop), all);

    // A file nobody copies: nothing reruns.
    w.file("unused.txt", "changed\n");
    let p = w.build(STEPS, &[]);
    assert_eq!(ran(&p), Vec::<String>::new(), "unused file:\n{p}");

    // One copied file: its COPY and everything after it in that stage.
    w.file("src/util.c", "int util = 2;\n");
    let p = w.build(STEPS, &[]);
    assert_eq!(ran(&p), names(&FINAL[2..]), "changed src/util.c:\n{p}");
    assert_eq!(cached(&p), names(&[&DEPS[..], &FINAL[..2]].concat()));

    // The last COPY's file: only that step.
    w.file("last.txt", "last v2\n");
    let p = w.build(STEPS, &[]);
    assert_eq!(ran(&p), names(&FINAL[5..]), "changed last.txt:\n{p}");

    // Comments, blank lines and indentation elsewhere: all hits.
    let reformatted = format!(
        "# a comment\n\n{}",
        STEPS
            .replace("WORKDIR /app\n", "WORKDIR /app\n# why we copy\n\n")
            .replace("COPY last.txt ./", "   COPY last.txt ./   ")
    );
    let p = w.build(&reformatted, &[]);
    assert_eq!(ran(&p), Vec::<String>::new(), "reformatted:\n{p}");

    // A build arg first used late: the steps before its ARG keep their hits.
    let p = w.build(STEPS, &["--build-arg", "VERSION=2"]);
    assert_eq!(ran(&p), names(&FINAL[4..]), "--build-arg VERSION=2:\n{p}");
    // An arg no stage declares changes nothing.
    let p = w.build(
        STEPS,
        &["--build-arg", "VERSION=2", "--build-arg", "OTHER=x"],
    );
    assert_eq!(ran(&p), Vec::<String>::new(), "undeclared arg:\n{p}");

    // --no-cache: everything runs.
    let p = w.build(STEPS, &["--no-cache"]);
    assert_eq!(ran(&p), all, "--no-cache:\n{p}");
    assert!(cached(&p).is_empty());
    // ... and still records what it ran, as BuildKit does: the next build
    // of new inputs built only under --no-cache hits every step.
    let p = w.build(STEPS, &["--no-cache", "--build-arg", "VERSION=3"]);
    assert_eq!(ran(&p), all, "--no-cache VERSION=3:\n{p}");
    let p = w.build(STEPS, &["--build-arg", "VERSION=3"]);
    assert_eq!(ran(&p), Vec::<String>::new(), "after --no-cache:\n{p}");

    // --no-cache-filter deps: the deps stage runs again; the final stage's
    // keys do not depend on how deps ran, so it still hits.
    let p = w.build(STEPS, &["--no-cache-filter", "deps"]);
    assert_eq!(ran(&p), names(&DEPS), "--no-cache-filter deps:\n{p}");
    assert_eq!(cached(&p), names(&FINAL));
    let p = w.build(STEPS, &["--no-cache-filter", "final"]);
    assert_eq!(ran(&p), names(&FINAL), "--no-cache-filter final:\n{p}");
}
