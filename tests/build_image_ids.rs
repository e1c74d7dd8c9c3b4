//! The image ID a build reports, everywhere, is docker's: the config blob's
//! digest. The final `Built` line, the plain progress line `writing image`,
//! `--iidfile`, `-q` and `rbuild images` agree; `--metadata-file` carries
//! the config digest and the manifest digest (`containerimage.digest`) as
//! buildx writes them.

mod build_support;

use build_support::{read, World};
use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of a file's bytes.
fn digest_of(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

#[test]
fn build_reports_the_config_digest_as_image_id() {
    if !build_support::ready("build_reports_the_config_digest_as_image_id") {
        return;
    }
    let w = World::new();
    let iid = w.dir.path().join("iid");
    let meta = w.dir.path().join("meta.json");
    let progress = w.build(
        "FROM localhost/busybox\nRUN echo hi > /greeting\nENV X=1\n",
        &[
            "-t",
            "ids:1",
            "--iidfile",
            iid.to_str().unwrap(),
            "--metadata-file",
            meta.to_str().unwrap(),
        ],
    );
    let id = read(&iid);
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id:?}");
    // The ID is the digest of the config blob in the store.
    let blob = w.store().join("blobs/sha256").join(&id["sha256:".len()..]);
    assert_eq!(digest_of(&blob), id);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&blob).unwrap()).expect("config JSON");
    assert!(config["rootfs"]["diff_ids"].is_array(), "{config}");
    assert_eq!(w.inspect("ids:1")["Id"], id.as_str());

    let built = progress
        .lines()
        .find(|l| l.starts_with("Built "))
        .unwrap_or_else(|| panic!("no Built line:\n{progress}"));
    assert!(built.starts_with(&format!("Built {id} ")), "{built}");
    assert!(
        progress.contains(&format!("writing image {id} done")),
        "{progress}"
    );

    let images = w
        .rbuild()
        .args(["images", "--no-trunc", "-q", "ids"])
        .output()
        .unwrap();
    assert!(images.status.success());
    assert_eq!(String::from_utf8_lossy(&images.stdout).trim(), id);
    let short = w.rbuild().args(["images", "ids"]).output().unwrap();
    let table = String::from_utf8_lossy(&short.stdout);
    assert!(
        table.contains(&id["sha256:".len().."sha256:".len() + 12]),
        "{table}"
    );

    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).unwrap()).expect("metadata JSON");
    assert_eq!(m["containerimage.config.digest"], id.as_str());
    let manifest_digest = m["containerimage.digest"].as_str().expect("digest");
    assert_ne!(manifest_digest, id);
    let desc = &m["containerimage.descriptor"];
    assert_eq!(desc["digest"], manifest_digest);
    assert_eq!(
        desc["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let manifest_blob = w
        .store()
        .join("blobs/sha256")
        .join(&manifest_digest["sha256:".len()..]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_blob).unwrap()).expect("manifest");
    assert_eq!(manifest["config"]["digest"], id.as_str());
    assert_eq!(digest_of(&manifest_blob), manifest_digest);
    let size = std::fs::metadata(&manifest_blob).unwrap().len();
    assert_eq!(desc["size"], size);
    // `images --digests` shows the manifest digest next to the image ID.
    let digests = w
        .rbuild()
        .args(["images", "--digests", "ids"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&digests.stdout).contains(manifest_digest));

    // -q prints nothing but the image ID on stdout.
    let out = w.build_output(
        "FROM localhost/busybox\nENV QUIET=1\n",
        &["-q", "-t", "ids:quiet"],
    );
    assert!(out.status.success());
    let quiet_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(quiet_id, w.inspect("ids:quiet")["Id"].as_str().unwrap());
    assert_ne!(quiet_id, id);
}
