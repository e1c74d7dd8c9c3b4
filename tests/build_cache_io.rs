//! The build cache through `rbuild build`: a no-op rebuild is all CACHED, an
//! edited file re-runs only the steps that depend on it, `--no-cache` and
//! `--no-cache-filter` re-run, and `--cache-to`/`--cache-from` carry the
//! cache to another store.

mod build_support;

use build_support::World;

const DF: &str = "FROM localhost/busybox AS deps\n\
    COPY deps.txt /deps.txt\n\
    RUN cat /deps.txt > /deps.out\n\
    FROM deps\n\
    COPY app.txt /app.txt\n\
    RUN cat /app.txt > /app.out\n";

fn cached(progress: &str) -> usize {
    progress.lines().filter(|l| l.ends_with(" CACHED")).count()
}

#[test]
fn rebuilds_hit_the_cache_step_by_step() {
    if !build_support::ready("rebuilds_hit_the_cache_step_by_step") {
        return;
    }
    let w = World::new();
    w.file("deps.txt", "d1");
    w.file("app.txt", "a1");
    assert_eq!(cached(&w.build(DF, &["-t", "c"])), 0);
    let first = w.inspect("c");
    let index = w.store().join("index.json");
    let index_mtime = std::fs::metadata(&index).and_then(|m| m.modified()).ok();
    // A later second: a fully cached rebuild is still the same image (its
    // created time is its newest step's, as BuildKit) and writes nothing.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(cached(&w.build(DF, &["-t", "c"])), 4, "no-op rebuild");
    let again = w.inspect("c");
    assert_eq!(again["Id"], first["Id"], "no-op rebuild changed the image");
    assert_eq!(again["Created"], first["Created"]);
    let index_mtime_after = std::fs::metadata(&index).and_then(|m| m.modified()).ok();
    assert_eq!(
        index_mtime_after, index_mtime,
        "no-op rebuild rewrote index.json"
    );
    w.file("app.txt", "a2");
    let p = w.build(DF, &["-t", "c"]);
    assert_eq!(cached(&p), 2, "only the app steps re-run:\n{p}");
    assert_eq!(cached(&w.build(DF, &["--no-cache"])), 0);
    assert_eq!(cached(&w.build(DF, &["--no-cache-filter", "deps"])), 2);

    // Export from this store, import into a fresh one with the same base.
    let layout = w.dir.path().join("cache-layout");
    w.build(
        DF,
        &[
            "--cache-to",
            &format!("type=local,dest={},mode=max", layout.display()),
        ],
    );
    let base = w.dir.path().join("base.tar");
    let save = w
        .rbuild()
        .args(["save", "-o"])
        .arg(&base)
        .arg("localhost/busybox:latest")
        .output()
        .unwrap();
    assert!(save.status.success());
    let other = World {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(other.ctx()).unwrap();
    let load = other
        .rbuild()
        .args(["load", "-i"])
        .arg(&base)
        .output()
        .unwrap();
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    other.file("deps.txt", "d1");
    other.file("app.txt", "a2");
    let p = other.build(
        DF,
        &[
            "--cache-from",
            &format!("type=local,src={}", layout.display()),
        ],
    );
    assert_eq!(cached(&p), 4, "imported cache not used:\n{p}");
}

#[test]
fn a_failed_run_keeps_the_cache_of_the_run_before_it() {
    if !build_support::ready("a_failed_run_keeps_the_cache_of_the_run_before_it") {
        return;
    }
    let w = World::new();
    // The first RUN's layer is still being committed when the second fails.
    let broken = "FROM localhost/busybox\n\
        RUN head -c 3000000 /dev/zero > /big\n\
        RUN exit 3\n";
    let err = w.build_fails(broken, &[]);
    assert!(
        err.contains("exit 3") || err.contains("exit code: 3"),
        "{err}"
    );
    let fixed = broken.replace("RUN exit 3", "RUN test -s /big");
    let p = w.build(&fixed, &["-t", "fixed"]);
    assert_eq!(cached(&p), 1, "the first RUN hits after the failure:\n{p}");
}

#[test]
fn runs_on_top_of_layers_still_being_committed_see_them_whole() {
    if !build_support::ready("runs_on_top_of_layers_still_being_committed_see_them_whole") {
        return;
    }
    let w = World::new();
    // Each RUN starts while the layers before it are still being written;
    // later RUNs delete and change what earlier ones made.
    let df = "FROM localhost/busybox\n\
        RUN head -c 5000000 /dev/zero > /a && echo one > /keep\n\
        RUN rm /a && head -c 5000000 /dev/urandom > /b\n\
        RUN test ! -e /a && test -s /b && echo three >> /keep\n\
        ENV DONE=1\n";
    let fs = w.build_fs(df, &[]);
    assert!(!fs.join("a").exists(), "/a was deleted by the second RUN");
    let b = std::fs::metadata(fs.join("b")).map(|m| m.len()).ok();
    assert_eq!(b, Some(5_000_000));
    assert_eq!(build_support::read(&fs.join("keep")), "one\nthree\n");
    let p = w.build(df, &[]);
    assert_eq!(cached(&p), 3, "every RUN was recorded:\n{p}");
}
