//! Small helpers shared by the layer writer and reader: reading a file's
//! xattrs (minus overlayfs-internal ones), the PAX key for xattrs, and
//! device-number arithmetic.

use std::path::Path;

/// PAX record prefix carrying xattrs (GNU tar / Docker / BuildKit convention).
pub const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// True for xattrs overlayfs uses internally; they never go into a layer.
pub fn is_overlay_xattr(name: &str) -> bool {
    name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")
}

/// The xattrs of `path` (not following a final symlink), sorted by name,
/// without overlayfs-internal ones. Names that are not UTF-8 are skipped.
pub fn read_xattrs(path: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let names = match xattr::list(path) {
        Ok(n) => n,
        // Filesystems without xattr support simply have none.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(e),
    };
    for name in names {
        let Some(name) = name.to_str().map(str::to_string) else {
            log::warn!("{}: skipping xattr with a non-UTF-8 name", path.display());
            continue;
        };
        if is_overlay_xattr(&name) {
            continue;
        }
        if let Some(value) = xattr::get(path, &name)? {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}

/// Whether `path` is marked opaque by overlayfs (either xattr namespace).
pub fn is_overlay_opaque(path: &Path) -> bool {
    [
        super::OVERLAY_OPAQUE_XATTR,
        super::USER_OVERLAY_OPAQUE_XATTR,
    ]
    .iter()
    .any(|name| matches!(xattr::get(path, name), Ok(Some(v)) if v == b"y"))
}

pub fn major(dev: u64) -> u32 {
    libc::major(dev as libc::dev_t)
}

pub fn minor(dev: u64) -> u32 {
    libc::minor(dev as libc::dev_t)
}
