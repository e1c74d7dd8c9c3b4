//! Build outputs read by other tools: the OCI layout (`-o type=oci,dest=DIR`)
//! passes `umoci ls/stat/unpack`, `skopeo inspect oci:DIR:TAG` and
//! `oci-image-tool validate --type image`; the unpacked bundle runs under
//! crun; `-o type=docker` loads into podman; `-o type=tar` is the final
//! filesystem.

mod build_support;

use build_support::{has_tool, World};
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

const DOCKERFILE: &str = "FROM localhost/busybox\n\
    WORKDIR /site\n\
    COPY index.html .\n\
    RUN head -c 9000000 /dev/urandom > /big.bin && cd / && sha256sum big.bin > /big.sum\n\
    ENV GREETING=hi\n\
    CMD [\"/bin/cat\", \"/site/index.html\"]\n";

#[test]
fn oci_layout_passes_umoci_skopeo_oci_image_tool_and_runs_in_crun() {
    let test = "oci_layout_passes_umoci_skopeo_oci_image_tool_and_runs_in_crun";
    if !build_support::ready(test) {
        return;
    }
    let tools = ["umoci", "skopeo", "oci-image-tool", "crun"];
    if !tools.iter().all(|t| has_tool(test, t)) {
        return;
    }
    let w = World::new();
    w.file("index.html", "<h1>rbuild</h1>\n");
    let layout = w.dir.path().join("layout");
    w.build(
        DOCKERFILE,
        &[
            "-t",
            "web:v1",
            "-o",
            &format!("type=oci,dest={}", layout.display()),
        ],
    );
    let ls = ok(Command::new("umoci").args(["ls", "--layout"]).arg(&layout));
    assert!(ls.contains("v1"), "{ls}");
    let image = format!("{}:v1", layout.display());
    let stat = ok(Command::new("umoci").args(["stat", "--image", &image]));
    assert!(stat.contains("COPY index.html"), "{stat}");
    ok(Command::new("oci-image-tool")
        .args(["validate", "--type", "image"])
        .arg(&layout));
    let inspect = ok(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{image}")));
    let v: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo JSON");
    assert_eq!(v["Layers"].as_array().map(Vec::len), Some(4), "{inspect}");
    let bundle = w.dir.path().join("bundle");
    ok(Command::new("umoci")
        .args(["unpack", "--image", &image])
        .arg(&bundle));
    // A layer bigger than one gzip chunk (several members) reads back whole in Go tools.
    ok(Command::new("sha256sum")
        .arg("-c")
        .arg("big.sum")
        .current_dir(bundle.join("rootfs")));
    // The bundle's config.json runs the image's CMD; no terminal, no network needed.
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = serde_json::json!(false);
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let name = format!("rbuild-test-{}", std::process::id());
    let out = ok(Command::new("crun")
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&name));
    assert!(out.contains("<h1>rbuild</h1>"), "{out}");
}

#[test]
fn docker_archive_loads_into_podman_and_tar_output_is_the_filesystem() {
    let test = "docker_archive_loads_into_podman_and_tar_output_is_the_filesystem";
    if !build_support::ready(test) || !has_tool(test, "podman") {
        return;
    }
    let w = World::new();
    w.file("index.html", "<h1>podman</h1>\n");
    let archive = w.dir.path().join("img.tar");
    let fs_tar = w.dir.path().join("fs.tar");
    w.build(
        DOCKERFILE,
        &[
            "-t",
            "localhost/rbuild-interop:t1",
            "-o",
            &format!("type=docker,dest={}", archive.display()),
            "-o",
            &format!("type=tar,dest={}", fs_tar.display()),
        ],
    );
    let list = ok(Command::new("tar").arg("-tf").arg(&fs_tar));
    assert!(
        list.lines()
            .any(|l| l.trim_start_matches("./") == "site/index.html"),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox"),
        "{list}"
    );
    let storage = w.dir.path().join("podman");
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"));
        c.args(["--storage-driver", "vfs"]).args(args);
        c
    };
    let loaded = ok(&mut podman(&["load", "-i", archive.to_str().unwrap()]));
    assert!(loaded.contains("rbuild-interop"), "{loaded}");
    let inspect = ok(&mut podman(&[
        "image",
        "inspect",
        "localhost/rbuild-interop:t1",
    ]));
    assert!(inspect.contains("GREETING=hi"), "{inspect}");
}
