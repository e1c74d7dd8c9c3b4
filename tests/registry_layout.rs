//! The library side used by the registry-backed build cache:
//! `registry::push_layout` / `pull_layout` move OCI layouts (one manifest,
//! or an index of several) through a real distribution 2.8 registry; skopeo
//! makes the source layouts and reads the results back. Also the library
//! `pull` / `resolve_digest` API the executor calls for `FROM`.

mod registry_support;

use rbuild::image::Reference;
use rbuild::registry::{self, ProgressMode, PullOptions, PushOptions, RegistryOptions};
use rbuild::store::Store;
use registry_support::*;
use std::process::Command;

fn quiet() -> RegistryOptions {
    RegistryOptions {
        progress: ProgressMode::Quiet,
        ..RegistryOptions::default()
    }
}

#[test]
fn layouts_round_trip_and_library_pull() {
    let test = "layouts_round_trip_and_library_pull";
    if !need_tools(test, &["docker-registry", "skopeo", "busybox", "tar"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // The library reads credentials like the CLI: keep it off the real config.
    std::env::set_var("DOCKER_CONFIG", t.path().join("docker"));
    std::env::remove_var("RBUILD_INSECURE_REGISTRIES");
    let reg = Registry::start(&t.path().join("reg"), Auth::None);
    let host = reg.host();
    let tar = busybox_tar(t.path());
    let cfg = t.path().join("docker");
    run(rbuild(&t.path().join("s1"), &cfg)
        .arg("import")
        .arg(&tar)
        .arg("bb:1"));
    run(rbuild(&t.path().join("s1"), &cfg).args(["push", "bb:1", &format!("{host}/src/bb:1")]));

    // A one-manifest layout made by skopeo.
    let layout = t.path().join("layout");
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{host}/src/bb:1"),
        &format!("oci:{}:one", layout.display()),
    ]));
    let dest = Reference::parse(&format!("{host}/cache/bb:c1")).unwrap();
    let push_opts = PushOptions {
        registry: quiet(),
        ..PushOptions::default()
    };
    let pushed = registry::push_layout(&layout, &dest, &push_opts).unwrap();
    let remote = registry::resolve_digest(&dest, &quiet()).unwrap();
    assert_eq!(pushed.digest, remote);

    let pull_opts = PullOptions {
        registry: quiet(),
        ..PullOptions::default()
    };
    let back = t.path().join("back");
    let pulled = registry::pull_layout(&dest, &back, &pull_opts).unwrap();
    assert_eq!(pulled, pushed.digest);
    let inspect = run(Command::new("skopeo").args([
        "inspect",
        "--format",
        "{{.Digest}}",
        &format!("oci:{}:c1", back.display()),
    ]));
    assert_eq!(inspect.trim(), pushed.digest.as_str());

    // Two manifests in the layout: pushed as an index, pulled back whole.
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--format",
        "v2s2",
        &format!("docker://{host}/src/bb:1"),
        &format!("oci:{}:two", layout.display()),
    ]));
    let idx_dest = Reference::parse(&format!("{host}/cache/bb:idx")).unwrap();
    let pushed_idx = registry::push_layout(&layout, &idx_dest, &push_opts).unwrap();
    assert!(pushed_idx.media_type.contains("index"), "{pushed_idx:?}");
    let back2 = t.path().join("back2");
    let pulled_idx = registry::pull_layout(&idx_dest, &back2, &pull_opts).unwrap();
    assert_eq!(pulled_idx, pushed_idx.digest);
    let raw = std::fs::read(back2.join("blobs/sha256").join(pulled_idx.hex())).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let children = index["manifests"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    for c in children {
        let d: rbuild::image::Digest = c["digest"].as_str().unwrap().parse().unwrap();
        assert!(back2.join("blobs/sha256").join(d.hex()).is_file());
    }

    // The executor's entry point: pull into a store, record the digest,
    // and serve name@digest from the store afterwards.
    let store = Store::open(&t.path().join("s2")).unwrap();
    let name = Reference::parse(&format!("{host}/src/bb:1")).unwrap();
    let rec = registry::pull(&store, &name, &pull_opts).unwrap();
    assert_eq!(rec.names, vec![name.clone()]);
    let by_digest = name.with_digest(rec.manifest_digest.clone());
    drop(reg);
    let again = registry::pull(&store, &by_digest, &pull_opts).unwrap();
    assert_eq!(
        again.id, rec.id,
        "served from the store with the registry gone"
    );
}
