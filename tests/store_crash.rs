//! Crash safety and concurrency with real processes: a child that keeps
//! committing and tagging images is killed with SIGKILL at random moments
//! (20 times); afterwards every indexed image must be whole and every blob
//! must match its digest. Two children tagging at once must not lose names.
//! The children are this test binary re-run on the ignored `child_writer`.

mod layer_support;

use layer_support::commit_one_layer;
use rbuild::image::{Digest, Reference};
use rbuild::layer::Compression;
use rbuild::store::Store;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, SystemTime};

const ROOT_ENV: &str = "RBUILD_TEST_STORE_ROOT";
const PREFIX_ENV: &str = "RBUILD_TEST_WRITER_PREFIX";
const COUNT_ENV: &str = "RBUILD_TEST_WRITER_COUNT";

/// Child entry point: commits COUNT images named localhost/PREFIX:N, each
/// with a fresh layer, then adds a second name to each.
#[test]
#[ignore = "helper process for the tests below"]
fn child_writer() {
    let (Some(root), Some(prefix)) = (std::env::var_os(ROOT_ENV), std::env::var(PREFIX_ENV).ok())
    else {
        return;
    };
    let count: u64 = std::env::var(COUNT_ENV)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(u64::MAX);
    let store = Store::open(Path::new(&root)).unwrap();
    for i in 0..count {
        let mut tar = tar::Builder::new(Vec::new());
        let data = format!("{prefix}-{i}-{:?}", SystemTime::now()).repeat(2000);
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, "data", data.as_bytes()).unwrap();
        let tar = tar.into_inner().unwrap();
        let (desc, blob) = store
            .put_layer_from_tar(&tar[..], Compression::Gzip)
            .unwrap();
        let rec = commit_one_layer(&store, (desc, blob), &[&format!("localhost/{prefix}:{i}")]);
        let second = Reference::parse(&format!("localhost/{prefix}-alias:{i}")).unwrap();
        store.tag(&second, &rec.manifest_desc).unwrap();
    }
}

fn spawn_writer(root: &Path, prefix: &str, count: Option<u64>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        "child_writer",
        "--test-threads=1",
        "-q",
    ])
    .env(ROOT_ENV, root)
    .env(PREFIX_ENV, prefix)
    .stdout(std::process::Stdio::null());
    if let Some(c) = count {
        cmd.env(COUNT_ENV, c.to_string());
    }
    cmd.spawn().unwrap()
}

/// Every blob matches its name; every indexed manifest's config and layers exist.
fn verify_store(root: &Path) -> usize {
    for e in std::fs::read_dir(root.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let (d, _) =
            rbuild::image::digest::digest_reader(std::fs::File::open(e.path()).unwrap()).unwrap();
        assert_eq!(d.hex(), name, "blob content does not match its name");
    }
    let index: serde_json::Value = match std::fs::read(root.join("index.json")) {
        Ok(b) => serde_json::from_slice(&b).expect("index.json is whole JSON"),
        Err(_) => return 0,
    };
    let manifests = index["manifests"].as_array().unwrap();
    for m in manifests {
        let d: Digest = m["digest"].as_str().unwrap().parse().unwrap();
        let bytes = std::fs::read(root.join("blobs/sha256").join(d.hex()))
            .expect("indexed manifest exists");
        let man: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut needed = vec![man["config"]["digest"].as_str().unwrap().to_string()];
        needed.extend(
            man["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_string()),
        );
        for n in needed {
            let d: Digest = n.parse().unwrap();
            assert!(
                root.join("blobs/sha256").join(d.hex()).is_file(),
                "image {d} is missing a blob"
            );
        }
    }
    manifests.len()
}

#[test]
fn kill_9_at_random_points_leaves_a_whole_store() {
    let t = tempfile::tempdir().unwrap();
    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    for round in 0..20 {
        let mut child = spawn_writer(t.path(), &format!("crash{round}"), None);
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(50 + (seed >> 33) % 250));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        verify_store(t.path());
    }
    // The store is still usable and lists what survived.
    let store = Store::open(t.path()).unwrap();
    let n = verify_store(t.path());
    assert!(
        n > 0,
        "the writer never got an image in; the test proved nothing"
    );
    assert!(!store.list().unwrap().is_empty());
}

#[test]
fn concurrent_writers_lose_no_names() {
    let t = tempfile::tempdir().unwrap();
    let mut a = spawn_writer(t.path(), "left", Some(15));
    let mut b = spawn_writer(t.path(), "right", Some(15));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    verify_store(t.path());
    let store = Store::open(t.path()).unwrap();
    let names: usize = store.list().unwrap().iter().map(|r| r.names.len()).sum();
    assert_eq!(names, 60, "every image keeps both of its names");
    for side in ["left", "right"] {
        for i in 0..15 {
            store.resolve(&format!("localhost/{side}:{i}")).unwrap();
            store
                .resolve(&format!("localhost/{side}-alias:{i}"))
                .unwrap();
        }
    }
}
