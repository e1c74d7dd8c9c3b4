//! Named and anonymous volumes: `STORE/volumes/<name>/_data` plus a
//! `meta.json` (created time, labels, anonymous flag). A new volume is
//! seeded with the image's content at its mount path, as docker does, by
//! replaying the image's layer dirs bottom to top (overlay whiteouts delete).
//! Whether a volume is in use is decided by the caller from container records.

use super::{id, time, RunnerError};
use crate::store::fsutil;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub name: String,
    pub created: String,
    pub labels: BTreeMap<String, String>,
    pub anonymous: bool,
}

/// The volumes of one store root.
#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn open(store_root: &Path) -> Result<Volumes, RunnerError> {
        let dir = store_root.join("volumes");
        fs::create_dir_all(&dir).map_err(|e| RunnerError::io(&dir, e))?;
        Ok(Volumes { dir })
    }

    /// Host path of a volume's data.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Creates `name` (a random 64-hex name when empty) unless it exists;
    /// returns its metadata and whether it was new.
    pub fn create(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<(VolumeMeta, bool), RunnerError> {
        let (name, anonymous) = if name.is_empty() {
            (id::new_id()?, true)
        } else {
            (id::validate_name(name)?, false)
        };
        if let Ok(meta) = self.get(&name) {
            return Ok((meta, false));
        }
        let vdir = self.dir.join(&name);
        let data = vdir.join("_data");
        fs::create_dir_all(&data).map_err(|e| RunnerError::io(&data, e))?;
        let meta = VolumeMeta {
            name,
            created: time::now_rfc3339(),
            labels,
            anonymous,
        };
        let bytes = serde_json::to_vec_pretty(&meta).map_err(RunnerError::Json)?;
        fsutil::write_atomic(&vdir, &vdir.join("meta.json"), &bytes)?;
        Ok((meta, true))
    }

    pub fn get(&self, name: &str) -> Result<VolumeMeta, RunnerError> {
        let p = self.dir.join(name).join("meta.json");
        if name.contains('/') || name.starts_with('.') {
            return Err(RunnerError::NoSuchVolume(name.to_string()));
        }
        let bytes = fs::read(&p).map_err(|_| RunnerError::NoSuchVolume(name.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| RunnerError::Corrupt {
            path: p.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// All volumes, by name.
    pub fn list(&self) -> Result<Vec<VolumeMeta>, RunnerError> {
        let rd = fs::read_dir(&self.dir).map_err(|e| RunnerError::io(&self.dir, e))?;
        let mut out: Vec<VolumeMeta> = rd
            .flatten()
            .filter_map(|e| self.get(&e.file_name().to_string_lossy()).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes a volume; `users` are the containers using it (refused if any).
    pub fn remove(&self, name: &str, users: &[String]) -> Result<(), RunnerError> {
        self.get(name)?;
        if !users.is_empty() {
            return Err(RunnerError::VolumeInUse {
                name: name.to_string(),
                users: users.join(", "),
            });
        }
        let d = self.dir.join(name);
        // meta.json first: a crash leaves data that no longer lists as a volume.
        let _ = fs::remove_file(d.join("meta.json"));
        fs::remove_dir_all(&d).map_err(|e| RunnerError::io(&d, e))
    }

    /// docker's `volume inspect` object.
    pub fn inspect_json(&self, m: &VolumeMeta) -> Value {
        json!({
            "CreatedAt": m.created,
            "Driver": "local",
            "Labels": m.labels,
            "Mountpoint": self.data_dir(&m.name).display().to_string(),
            "Name": m.name,
            "Options": null,
            "Scope": "local",
        })
    }
}

/// Copies the image's content at `path` (from `layers`, bottom first, in
/// overlay-lower form) into the empty `dest`.
pub fn seed(layers: &[PathBuf], path: &str, dest: &Path) -> Result<(), RunnerError> {
    let rel = path.trim_start_matches('/');
    for layer in layers {
        let src = layer.join(rel);
        match fs::symlink_metadata(&src) {
            Ok(m) if m.is_dir() => {
                if is_opaque(&src) {
                    clear_dir(dest)?;
                }
                copy_tree(&src, dest)?;
            }
            Ok(m) if m.file_type().is_char_device() && m.rdev() == 0 => clear_dir(dest)?,
            _ => {}
        }
    }
    Ok(())
}

fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, "trusted.overlay.opaque"), Ok(Some(v)) if v == b"y")
}

fn clear_dir(dir: &Path) -> Result<(), RunnerError> {
    let rd = fs::read_dir(dir).map_err(|e| RunnerError::io(dir, e))?;
    for e in rd.flatten() {
        let p = e.path();
        let r = if p.is_dir() && !p.is_symlink() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        r.map_err(|e| RunnerError::io(&p, e))?;
    }
    Ok(())
}

/// Merges `src` into `dst` (existing dir): files and links replace,
/// whiteouts delete, ownership and modes kept. Never follows symlinks.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<(), RunnerError> {
    let rd = fs::read_dir(src).map_err(|e| RunnerError::io(src, e))?;
    for e in rd.flatten() {
        let from = e.path();
        let to = dst.join(e.file_name());
        let m = fs::symlink_metadata(&from).map_err(|e| RunnerError::io(&from, e))?;
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            if to.is_dir() && !to.is_symlink() {
                let _ = fs::remove_dir_all(&to);
            } else {
                let _ = fs::remove_file(&to);
            }
            continue;
        }
        if ft.is_dir() {
            if !to.is_dir() || to.is_symlink() {
                let _ = fs::remove_file(&to);
                fs::create_dir(&to).map_err(|e| RunnerError::io(&to, e))?;
            } else if is_opaque(&from) {
                clear_dir(&to)?;
            }
            copy_tree(&from, &to)?;
        } else {
            if to.is_dir() && !to.is_symlink() {
                let _ = fs::remove_dir_all(&to);
            } else {
                let _ = fs::remove_file(&to);
            }
            if ft.is_symlink() {
                let target = fs::read_link(&from).map_err(|e| RunnerError::io(&from, e))?;
                std::os::unix::fs::symlink(target, &to).map_err(|e| RunnerError::io(&to, e))?;
            } else if ft.is_file() {
                fs::copy(&from, &to).map_err(|e| RunnerError::io(&to, e))?;
            } else {
                continue; // devices, fifos, sockets: not volume content
            }
        }
        let _ = std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()));
        if !ft.is_symlink() {
            let _ = fs::set_permissions(&to, fs::Permissions::from_mode(m.mode() & 0o7777));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_list_remove_and_seed() {
        let d = tempfile::tempdir().expect("tmp");
        let v = Volumes::open(d.path()).expect("open");
        let (m, new) = v.create("data", BTreeMap::new()).expect("create");
        assert!(new && !m.anonymous);
        let (_, again) = v.create("data", BTreeMap::new()).expect("create");
        assert!(!again);
        let (anon, _) = v.create("", BTreeMap::new()).expect("anon");
        assert!(anon.anonymous && anon.name.len() == 64);
        assert_eq!(v.list().expect("list").len(), 2);
        assert!(v.remove("data", &["web".into()]).is_err());
        assert!(v.remove("data", &[]).is_ok());
        assert!(matches!(v.get("data"), Err(RunnerError::NoSuchVolume(_))));
        assert!(v.create("bad/name", BTreeMap::new()).is_err());

        let l1 = d.path().join("l1");
        let l2 = d.path().join("l2");
        fs::create_dir_all(l1.join("srv/sub")).expect("mk");
        fs::write(l1.join("srv/a"), "1").expect("w");
        fs::write(l1.join("srv/sub/b"), "2").expect("w");
        fs::create_dir_all(l2.join("srv")).expect("mk");
        fs::write(l2.join("srv/a"), "new").expect("w");
        let dest = v.data_dir(&anon.name);
        seed(&[l1, l2], "/srv", &dest).expect("seed");
        assert_eq!(
            fs::read_to_string(dest.join("a")).ok().as_deref(),
            Some("new")
        );
        assert_eq!(
            fs::read_to_string(dest.join("sub/b")).ok().as_deref(),
            Some("2")
        );
    }
}
