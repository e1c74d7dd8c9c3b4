//! Pull and push of a 10-layer, 200 MB image (incompressible data, gzip
//! layers) against a local distribution 2.8 registry: `rbuild pull` into an
//! empty store vs `skopeo copy docker://... oci:DIR`, and `rbuild push` vs
//! `skopeo copy oci:DIR docker://...`, interleaved run by run; prints the
//! medians and the ratio rbuild/skopeo (target <= 1.0).
//!
//! Every push goes to a fresh registry so neither tool can skip or mount
//! blobs it has seen before (skopeo keeps a blob-location cache).
//!
//! Run: `cargo bench --bench registry_pull` (needs docker-registry, skopeo).
//! RUNS=N overrides the number of runs per tool (default 5).

use rbuild::image::config::{empty_config, push_history};
use rbuild::layer::Compression;
use rbuild::store::Store;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const LAYERS: usize = 10;
const LAYER_BYTES: usize = 20 << 20;

fn main() {
    for tool in ["docker-registry", "skopeo"] {
        if Command::new(tool).arg("--help").output().is_err() {
            eprintln!("registry_pull bench needs {tool}; skipped");
            return;
        }
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let rbuild = env!("CARGO_BIN_EXE_rbuild");
    let t = tempfile::tempdir().expect("temp dir");
    let src_store = t.path().join("src-store");
    make_image(&src_store);

    // Pull: one registry holding the image.
    let reg = Registry::start(&t.path().join("reg-pull"));
    let image = format!("{}/bench/big:1", reg.host());
    run(Command::new(rbuild)
        .arg("--root")
        .arg(&src_store)
        .args(["push", "-q", "bench:1", &image]));
    // The same image as an OCI layout, the source for skopeo's pushes.
    let layout = t.path().join("layout");
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{image}"),
        &format!("oci:{}:big", layout.display()),
    ]));

    let (mut rb_pull, mut sk_pull) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let store = t.path().join(format!("pull-store-{i}"));
        rb_pull.push(time(
            Command::new(rbuild)
                .arg("--root")
                .arg(&store)
                .args(["pull", "-q", &image]),
        ));
        let dir = t.path().join(format!("pull-oci-{i}"));
        sk_pull.push(time(Command::new("skopeo").args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{image}"),
            &format!("oci:{}:big", dir.display()),
        ])));
        let _ = std::fs::remove_dir_all(&store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    drop(reg);

    let (mut rb_push, mut sk_push) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let r1 = Registry::start(&t.path().join(format!("reg-rb-{i}")));
        rb_push.push(time(
            Command::new(rbuild).arg("--root").arg(&src_store).args([
                "push",
                "-q",
                "bench:1",
                &format!("{}/bench/big:1", r1.host()),
            ]),
        ));
        drop(r1);
        let r2 = Registry::start(&t.path().join(format!("reg-sk-{i}")));
        sk_push.push(time(Command::new("skopeo").args([
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &format!("oci:{}:big", layout.display()),
            &format!("docker://{}/bench/big:1", r2.host()),
        ])));
        drop(r2);
    }

    println!(
        "registry bench: {LAYERS} layers x {} MiB, {runs} runs each",
        LAYER_BYTES >> 20
    );
    report("pull", &mut rb_pull, &mut sk_pull);
    report("push", &mut rb_push, &mut sk_push);
}

fn report(what: &str, rb: &mut [f64], sk: &mut [f64]) {
    let (m_rb, m_sk) = (median(rb), median(sk));
    println!(
        "{what}: rbuild median {m_rb:.3}s  skopeo median {m_sk:.3}s  ratio {:.2}x  (rbuild {:?}, skopeo {:?})",
        m_rb / m_sk,
        rb.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>(),
        sk.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>()
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time(cmd: &mut Command) -> f64 {
    let start = Instant::now();
    run(cmd);
    start.elapsed().as_secs_f64()
}

fn run(cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stores `bench:1`: LAYERS gzip layers, each one file of random bytes.
fn make_image(root: &Path) {
    let store = Store::open(root).expect("opening the bench store");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let now = SystemTime::now();
    let mut config = empty_config(now);
    let mut layers = Vec::new();
    for i in 0..LAYERS {
        let mut data = vec![0u8; LAYER_BYTES];
        for chunk in data.chunks_mut(8) {
            // xorshift64: fast, incompressible enough for gzip.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let bytes = seed.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("layer-{i}.bin"), &data[..])
            .expect("building a layer tar");
        let tar_bytes = tar.into_inner().expect("finishing a layer tar");
        let (desc, blob) = store
            .put_layer_from_tar(&tar_bytes[..], Compression::Gzip)
            .expect("storing a layer");
        push_history(&mut config, Some(&blob.diff_id), now, "bench layer", None).expect("history");
        layers.push(desc);
    }
    let name = rbuild::image::Reference::parse("bench:1").expect("name");
    store
        .put_image(&config, layers, &[name])
        .expect("committing the bench image");
}

struct Registry {
    port: u16,
    child: Child,
    dir: PathBuf,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        std::fs::create_dir_all(dir.join("data")).expect("registry dir");
        let cfg = dir.join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("data").display()
            ),
        )
        .expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            port,
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}
