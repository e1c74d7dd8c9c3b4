//! COPY and ADD through `rbuild build`, checked on the exported filesystem:
//! docker's rules for sources, destinations, ownership and modes, the
//! context's .dockerignore, --from, --link, --parents, --exclude, heredocs,
//! ADD of local archives, and the errors for bad sources.

mod build_support;

use build_support::{read, stat, World};
use std::fs;
use std::process::Command;

#[test]
fn copy_sources_destinations_and_wildcards() {
    if !build_support::ready("copy_sources_destinations_and_wildcards") {
        return;
    }
    let w = World::new();
    w.file("a.txt", "A");
    w.file("b.txt", "B");
    w.file("c.md", "C");
    w.file("dir/x", "X");
    w.file("dir/sub/y", "Y");
    fs::set_permissions(
        w.ctx().join("dir/x"),
        std::os::unix::fs::PermissionsExt::from_mode(0o751),
    )
    .unwrap();
    let out = w.build_fs(
        "FROM localhost/busybox\n\
         WORKDIR /work\n\
         COPY a.txt b.txt /multi/\n\
         COPY *.txt /glob/\n\
         COPY dir /contents\n\
         COPY dir/ /contents2/\n\
         COPY a.txt /renamed\n\
         COPY a.txt rel/\n\
         COPY a.txt relfile\n\
         COPY c.md /deep/new/parents/\n\
         COPY a.txt /etc/\n",
        &[],
    );
    assert_eq!(read(&out.join("multi/a.txt")), "A");
    assert_eq!(read(&out.join("multi/b.txt")), "B");
    assert_eq!(read(&out.join("glob/a.txt")), "A");
    assert_eq!(read(&out.join("glob/b.txt")), "B");
    assert!(!out.join("glob/c.md").exists(), "wildcard took c.md");
    // A directory source copies its contents, not itself.
    assert_eq!(read(&out.join("contents/x")), "X");
    assert_eq!(read(&out.join("contents/sub/y")), "Y");
    assert!(!out.join("contents/dir").exists());
    assert_eq!(read(&out.join("contents2/sub/y")), "Y");
    assert_eq!(
        stat(&out.join("contents/x")),
        (0o751, 0, 0),
        "mode kept, owner 0:0"
    );
    assert_eq!(read(&out.join("renamed")), "A");
    // Relative destinations are under WORKDIR.
    assert_eq!(read(&out.join("work/rel/a.txt")), "A");
    assert_eq!(read(&out.join("work/relfile")), "A");
    assert_eq!(stat(&out.join("deep/new/parents")), (0o755, 0, 0));
    assert_eq!(read(&out.join("deep/new/parents/c.md")), "C");
    // Copying into an existing dir keeps what was there.
    assert!(out.join("etc/passwd").is_file());
    assert_eq!(read(&out.join("etc/a.txt")), "A");
}

#[test]
fn chown_chmod_parents_exclude_heredoc() {
    if !build_support::ready("chown_chmod_parents_exclude_heredoc") {
        return;
    }
    let w = World::new();
    w.file("f", "F");
    w.file("src/a/keep.go", "k");
    w.file("src/a/skip.log", "s");
    w.file("src/b/keep.go", "k2");
    let out = w.build_fs(
        "FROM localhost/busybox\n\
         ARG WHO=app\n\
         COPY --chown=app:staff f /owned/f\n\
         COPY --chown=${WHO} f /owned/byarg\n\
         COPY --chown=1234:5678 f /numeric/\n\
         COPY --chmod=0600 f /mode/octal\n\
         COPY --chmod=u+x,g-r f /mode/symbolic\n\
         COPY --parents src/*/keep.go /p/\n\
         COPY --exclude=**/*.log src /ex/\n\
         COPY <<EOF /here/doc.txt\n\
         hello $WHO\n\
         EOF\n\
         COPY <<'EOF' /here/raw.txt\n\
         hello $WHO\n\
         EOF\n",
        &[],
    );
    assert_eq!(stat(&out.join("owned/f")), (0o644, 1000, 50));
    assert_eq!(stat(&out.join("owned/byarg")), (0o644, 1000, 1000));
    assert_eq!(
        stat(&out.join("owned")).1,
        1000,
        "created parent owned by --chown"
    );
    assert_eq!(stat(&out.join("numeric/f")), (0o644, 1234, 5678));
    assert_eq!(stat(&out.join("mode/octal")).0, 0o600);
    assert_eq!(stat(&out.join("mode/symbolic")).0, 0o704);
    assert_eq!(read(&out.join("p/src/a/keep.go")), "k");
    assert_eq!(read(&out.join("p/src/b/keep.go")), "k2");
    assert!(!out.join("p/src/a/skip.log").exists());
    assert!(out.join("ex/a/keep.go").is_file());
    assert!(!out.join("ex/a/skip.log").exists(), "--exclude ignored");
    assert_eq!(read(&out.join("here/doc.txt")), "hello app\n");
    assert_eq!(read(&out.join("here/raw.txt")), "hello $WHO\n");
}

#[test]
fn dockerignore_rules_and_source_errors() {
    if !build_support::ready("dockerignore_rules_and_source_errors") {
        return;
    }
    let w = World::new();
    w.file(
        ".dockerignore",
        "secret.txt\nlogs\n!logs/keep.log\n**/*.tmp\n",
    );
    w.file("secret.txt", "S");
    w.file("logs/a.log", "a");
    w.file("logs/keep.log", "k");
    w.file("d/x.tmp", "t");
    w.file("d/y", "y");
    let out = w.build_fs("FROM localhost/busybox\nCOPY . /ctx/\n", &[]);
    assert!(!out.join("ctx/secret.txt").exists());
    assert!(!out.join("ctx/logs/a.log").exists());
    assert_eq!(read(&out.join("ctx/logs/keep.log")), "k", "! exception");
    assert!(!out.join("ctx/d/x.tmp").exists());
    assert!(out.join("ctx/d/y").exists());

    let err = w.build_fails("FROM localhost/busybox\nCOPY secret.txt /\n", &[]);
    assert!(
        err.contains("secret.txt") && err.contains(".dockerignore"),
        "{err}"
    );
    assert!(err.contains("Dockerfile:2"), "line number missing: {err}");
    let err = w.build_fails("FROM localhost/busybox\nCOPY ../outside /\n", &[]);
    assert!(
        err.contains("../outside") && err.contains("outside the build context"),
        "{err}"
    );
    let err = w.build_fails("FROM localhost/busybox\nCOPY nothere /\n", &[]);
    assert!(
        err.contains("nothere") && err.contains("not found"),
        "{err}"
    );
    let err = w.build_fails("FROM localhost/busybox\nCOPY *.nomatch /\n", &[]);
    assert!(err.contains("*.nomatch"), "{err}");
    let err = w.build_fails(
        "FROM localhost/busybox\nCOPY d/y logs/keep.log /nodir\n",
        &[],
    );
    assert!(
        err.contains("must be a directory and end with a /"),
        "{err}"
    );
    let err = w.build_fails("FROM localhost/busybox\nCOPY --chown=nobody d/y /\n", &[]);
    assert!(err.contains("unable to find user nobody"), "{err}");
}

#[test]
fn symlinks_in_the_context_stay_inside() {
    if !build_support::ready("symlinks_in_the_context_stay_inside") {
        return;
    }
    let w = World::new();
    w.file("real/f", "inside");
    std::os::unix::fs::symlink("/etc", w.ctx().join("abs")).unwrap();
    std::os::unix::fs::symlink("real", w.ctx().join("rel")).unwrap();
    let out = w.build_fs(
        "FROM localhost/busybox\nCOPY rel/f /via-link\nCOPY real /r/\nCOPY rel /l\n",
        &[],
    );
    assert_eq!(read(&out.join("via-link")), "inside");
    // `abs` -> /etc resolves inside the context, where there is no etc/passwd.
    let err = w.build_fails("FROM localhost/busybox\nCOPY abs/passwd /stolen\n", &[]);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn multi_stage_from_link_and_add_archives() {
    if !build_support::ready("multi_stage_from_link_and_add_archives") {
        return;
    }
    let w = World::new();
    w.file("app/main", "binary");
    let tree = w.dir.path().join("tree");
    fs::create_dir_all(tree.join("pkg")).unwrap();
    fs::write(tree.join("pkg/data"), "D").unwrap();
    let st = Command::new("tar")
        .arg("-czf")
        .arg(w.ctx().join("pkg.tar.gz"))
        .arg("-C")
        .arg(&tree)
        .arg("pkg")
        .status()
        .unwrap();
    assert!(st.success());
    fs::copy(w.ctx().join("pkg.tar.gz"), w.ctx().join("copied.tar.gz")).unwrap();
    for (flag, name) in [
        ("-cjf", "pkg.tar.bz2"),
        ("-cJf", "pkg.tar.xz"),
        ("-cf", "pkg.tar"),
    ] {
        let st = Command::new("tar")
            .arg(flag)
            .arg(w.ctx().join(name))
            .arg("-C")
            .arg(&tree)
            .arg("pkg")
            .status()
            .unwrap();
        assert!(st.success(), "tar {flag}");
    }
    let out = w.build_fs(
        "FROM localhost/busybox AS build\n\
         COPY --chown=1:1 app /out/\n\
         FROM scratch AS other\n\
         COPY app/main /only\n\
         FROM localhost/busybox\n\
         COPY --from=build /out/main /bin/main\n\
         COPY --from=1 /only /from-index\n\
         COPY --link app/main /linked/main\n\
         COPY --link --chown=app app/main /linked/owned\n\
         ADD pkg.tar.gz /opt/\n\
         ADD pkg.tar.bz2 /bz2/\n\
         ADD pkg.tar.xz /xz/\n\
         ADD pkg.tar /plain/\n\
         COPY copied.tar.gz /opt/\n",
        &[],
    );
    assert_eq!(read(&out.join("bin/main")), "binary");
    assert_eq!(
        stat(&out.join("bin/main")).1,
        1,
        "COPY --from keeps the owner"
    );
    assert_eq!(read(&out.join("from-index")), "binary");
    assert_eq!(read(&out.join("linked/main")), "binary");
    assert_eq!(
        stat(&out.join("linked/owned")).1,
        1000,
        "--link --chown resolves names in the base image"
    );
    assert_eq!(
        read(&out.join("opt/pkg/data")),
        "D",
        "ADD extracts local tars"
    );
    assert!(
        out.join("opt/copied.tar.gz").is_file(),
        "COPY does not extract"
    );
    assert!(out.join("bin/busybox").is_file());
}

/// A one-file HTTP server on 127.0.0.1 for ADD URL tests; serves `body` for
/// every request, with a fixed Last-Modified.
fn serve(body: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Tue, 15 Nov 1994 08:12:31 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn add_url_with_checksum() {
    if !build_support::ready("add_url_with_checksum") {
        return;
    }
    let w = World::new();
    let base = serve(b"remote content\n");
    use sha2::Digest as _;
    let sum = hex::encode(sha2::Sha256::digest(b"remote content\n"));
    let out = w.build_fs(
        &format!(
            "FROM localhost/busybox\nADD {base}/files/page.txt /srv/\nADD --checksum=sha256:{sum} {base}/x/y.bin /checked\n"
        ),
        &[],
    );
    assert_eq!(read(&out.join("srv/page.txt")), "remote content\n");
    assert_eq!(
        stat(&out.join("srv/page.txt")).0,
        0o600,
        "downloads are 0600"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(out.join("srv/page.txt")).unwrap().mtime(),
        784887151,
        "Last-Modified kept"
    );
    assert_eq!(read(&out.join("checked")), "remote content\n");
    let bad = "0".repeat(64);
    let err = w.build_fails(
        &format!("FROM localhost/busybox\nADD --checksum=sha256:{bad} {base}/z /z\n"),
        &[],
    );
    assert!(err.contains("does not match --checksum"), "{err}");
    let err = w.build_fails(&format!("FROM localhost/busybox\nCOPY {base}/z /z\n"), &[]);
    assert!(err.contains("use ADD"), "{err}");
}

#[test]
fn copy_parents_keeps_the_path_below_the_pivot() {
    if !build_support::ready("copy_parents_keeps_the_path_below_the_pivot") {
        return;
    }
    let w = World::new();
    w.file("app/src/a/main.go", "a");
    w.file("app/src/b/main.go", "b");
    w.file("app/README", "r");
    w.file("lib/x/y.txt", "y");
    let out = w.build_fs(
        "FROM localhost/busybox\n\
         COPY --parents app/./src/*/main.go /out/\n\
         COPY --parents ./lib/./x /dirs/\n\
         COPY --parents ./app/README /full/\n\
         COPY --parents app/src/./a /pivot-dir/\n\
         COPY --parents ./app/./README /top/\n",
        &[],
    );
    assert_eq!(read(&out.join("out/src/a/main.go")), "a");
    assert_eq!(read(&out.join("out/src/b/main.go")), "b");
    assert!(!out.join("out/app").exists(), "path above the pivot kept");
    assert_eq!(read(&out.join("dirs/x/y.txt")), "y");
    assert!(!out.join("dirs/lib").exists());
    assert_eq!(read(&out.join("full/app/README")), "r");
    assert_eq!(read(&out.join("pivot-dir/a/main.go")), "a");
    assert_eq!(read(&out.join("top/README")), "r");
}
