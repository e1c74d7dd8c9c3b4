//! The image commands end to end through the `rbuild` binary: import a
//! busybox rootfs tarball, list, inspect, history, tag, rmi, save (loaded
//! back by `rbuild load` and by `podman load`), and clear errors for URLs.

mod layer_support;

use layer_support::{need_tool, run};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn rbuild(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rbuild"));
    c.arg("--root").arg(root);
    c
}

/// A busybox rootfs tar (as /work/shared/peers/make-busybox-base.sh makes it).
fn busybox_tar(dir: &Path) -> Option<PathBuf> {
    if !need_tool("busybox rootfs", "busybox") || !need_tool("busybox rootfs", "tar") {
        return None;
    }
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "root"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|p| p.join("busybox"))
        .find(|p| p.is_file())?;
    fs::copy(&bb, root.join("bin/busybox")).unwrap();
    for app in ["sh", "ls", "cat", "echo"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(app)).unwrap();
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let out = dir.join("busybox.tar");
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--numeric-owner",
            "--owner=0",
            "--group=0",
            "-C",
        ])
        .arg(&root)
        .args(["-cf"])
        .arg(&out)
        .arg("."));
    Some(out)
}

#[test]
fn import_list_inspect_tag_rmi_save_load() {
    let t = tempfile::tempdir().unwrap();
    let Some(tarball) = busybox_tar(t.path()) else {
        return;
    };
    let root = t.path().join("store");
    let id = run(rbuild(&root)
        .arg("import")
        .args([
            "-c",
            "CMD [\"/bin/sh\"]",
            "-c",
            "ENV A=b",
            "-m",
            "my busybox",
        ])
        .arg(&tarball)
        .arg("localhost/busybox:test"));
    let id = id.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let short = &id[7..19];

    let images = run(rbuild(&root).arg("images"));
    let mut lines = images.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("localhost/busybox") && row.contains(" test ") && row.contains(short),
        "{images}"
    );
    assert!(row.contains("ago"), "{row}");
    assert_eq!(run(rbuild(&root).args(["images", "-q"])).trim(), short);
    assert!(run(rbuild(&root).args(["images", "--no-trunc", "--digests"])).contains(&id));

    let inspect: serde_json::Value = serde_json::from_str(&run(
        rbuild(&root).args(["inspect", "localhost/busybox:test"])
    ))
    .unwrap();
    let img = &inspect[0];
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(
        img["RepoTags"],
        serde_json::json!(["localhost/busybox:test"])
    );
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(img["Config"]["Env"], serde_json::json!(["A=b"]));
    assert_eq!(img["Os"], "linux");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(run(rbuild(&root).args(["history", short])).contains("my busybox"));
    let f = run(rbuild(&root).args([
        "inspect",
        "-f",
        "{{.Id}} {{json .Config.Cmd}}",
        "localhost/busybox:test",
    ]));
    assert_eq!(f.trim(), format!("{id} [\"/bin/sh\"]"));

    // The stored layer holds busybox intact.
    let store = rbuild::store::Store::open(&root).unwrap();
    let rec = store.resolve("localhost/busybox:test").unwrap();
    let dirs = store.unpack_image_layers(&rec).unwrap();
    let bb = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|p| p.join("busybox"))
        .find(|p| p.is_file())
        .unwrap();
    assert_eq!(
        fs::read(dirs[0].join("bin/busybox")).unwrap(),
        fs::read(bb).unwrap()
    );
    drop(store);

    run(rbuild(&root).args(["tag", "localhost/busybox:test", "bb:2"]));
    assert_eq!(run(rbuild(&root).args(["images", "bb"])).lines().count(), 2);
    let archive = t.path().join("save.tar");
    run(rbuild(&root).args(["save", "-o"]).arg(&archive).arg("bb:2"));
    let oci = t.path().join("save-oci.tar");
    run(rbuild(&root)
        .args(["save", "--format", "oci-archive", "-o"])
        .arg(&oci)
        .arg("bb:2"));
    let rmi = run(rbuild(&root).args(["rmi", "bb:2"]));
    assert_eq!(rmi.trim(), "Untagged: bb:2");
    let rmi = run(rbuild(&root).args(["rmi", short]));
    assert!(rmi.contains(&format!("Deleted: {id}")), "{rmi}");
    assert_eq!(run(rbuild(&root).args(["images", "-q"])).trim(), "");

    for (file, what) in [(&archive, "docker-archive"), (&oci, "oci-archive")] {
        let fresh = t.path().join(format!("loaded-{what}"));
        let out = run(rbuild(&fresh).arg("load").arg("-i").arg(file));
        assert!(out.contains("Loaded image: bb:2"), "{what}: {out}");
        let ids = run(rbuild(&fresh).args(["images", "-q", "--no-trunc"]));
        assert_eq!(ids.trim(), id, "{what}: image ID survives save/load");
    }
    if need_tool("podman load", "podman") {
        let out = run(Command::new("podman").args(["load", "-i"]).arg(&archive));
        assert!(out.contains("bb:2"), "{out}");
        let listed =
            run(Command::new("podman").args(["images", "--no-trunc", "-q", "localhost/bb:2"]));
        let _ = Command::new("podman")
            .args(["rmi", "localhost/bb:2"])
            .output();
        assert!(
            listed.contains(&id[7..]),
            "podman sees the same image ID: {listed}"
        );
    }
}

#[test]
fn import_errors_are_clear() {
    let t = tempfile::tempdir().unwrap();
    // A port nobody listens on: the error names the URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/rootfs.tar");
    let out = rbuild(t.path()).args(["import", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&url), "{err}");
    let out = rbuild(t.path())
        .args(["import", "ftp://127.0.0.1/rootfs.tar"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only http:// and https://"), "{err}");
    let out = rbuild(t.path())
        .args(["import", "/nonexistent.tar", "Bad:Name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lowercase"), "{err}");
    let out = rbuild(t.path())
        .args(["inspect", "nosuch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// `rbuild import URL` downloads the tar from a real HTTP server on
/// loopback and imports it as `docker import URL` does.
#[test]
fn import_from_a_url() {
    let t = tempfile::tempdir().unwrap();
    let Some(tarball) = busybox_tar(t.path()) else {
        return;
    };
    let body = fs::read(&tarball).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/rootfs.tar", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let (mut conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        conn.write_all(&body).unwrap();
    });
    let root = t.path().join("store");
    let id = run(rbuild(&root).args(["import", &url, "fromurl:1"]));
    server.join().unwrap();
    let id = id.trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let history = run(rbuild(&root).args(["history", "--no-trunc", "fromurl:1"]));
    assert!(
        history.contains(&format!("Imported from {url}")),
        "{history}"
    );
    let listed = run(rbuild(&root).args(["images", "fromurl"]));
    assert!(listed.contains(&id[7..19]), "{listed}");
    // Nothing of the download is left behind.
    let leftovers: Vec<_> = walk_files(&root.join("tmp"));
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
