//! The example Dockerfiles in testdata/Dockerfiles build and give what they
//! promise, and scripts/demo.sh (the README's main job) runs end to end.

mod build_support;

use build_support::{has_tool, read, stat, World};
use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/Dockerfiles")
        .join(name)
}

fn build_example(w: &World, name: &str, tag: &str) -> PathBuf {
    let out = w.dir.path().join(format!("fs-{name}"));
    let res = w
        .rbuild()
        .args(["build", "--progress", "plain", "-t", tag, "-o"])
        .arg(format!("type=local,dest={}", out.display()))
        .arg(example(name))
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

#[test]
fn examples_build() {
    if !build_support::ready("examples_build") {
        return;
    }
    let w = World::new();
    let hello = build_example(&w, "hello", "hello");
    assert_eq!(read(&hello.join("hello.txt")), "Hello from rbuild!\n");

    let small = build_example(&w, "multi-stage", "greet");
    let mut top: Vec<String> = std::fs::read_dir(&small)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["bin"], "only the result goes into the final stage");
    assert_eq!(stat(&small.join("bin/greet")).0, 0o755);
    assert!(read(&small.join("bin/greet")).starts_with("#!/bin/sh\n"));
    let cfg = w.raw_config("greet");
    assert_eq!(
        cfg["config"]["Entrypoint"],
        serde_json::json!(["/bin/greet"])
    );
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["world"]));

    let web = build_example(&w, "wordpress-custom", "wordpress:custom");
    let plugin = web.join("var/www/wp-content/plugins/custom-hello");
    assert!(read(&plugin.join("MANIFEST")).contains("./plugin.php"));
    assert_eq!(read(&plugin.join("VERSION")), "version=1.0.0\n");
    assert_eq!(stat(&plugin.join("plugin.php")).1, 1, "--chown=daemon");
    assert!(read(&web.join("var/www/index.html")).contains("wordpress:custom"));
    let cfg = w.raw_config("wordpress:custom");
    assert!(cfg["config"]["ExposedPorts"]["80/tcp"].is_object());
    assert_eq!(cfg["config"]["WorkingDir"], "/var/www");
    assert!(cfg["config"]["Healthcheck"]["Test"]
        .to_string()
        .contains("wget"));
}

#[test]
fn demo_script_runs_the_main_job() {
    if !build_support::ready("demo_script_runs_the_main_job") {
        return;
    }
    if !["umoci", "crun", "jq", "tar"]
        .iter()
        .all(|t| has_tool("demo_script_runs_the_main_job", t))
    {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let out = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/demo.sh"))
        .arg(env!("CARGO_BIN_EXE_rbuild"))
        .env("RBUILD_ROOT", store.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "demo failed:\n{text}");
    assert!(
        text.contains("Hello from the custom-hello extension."),
        "{text}"
    );
    assert!(text.contains("demo OK"), "{text}");
}
