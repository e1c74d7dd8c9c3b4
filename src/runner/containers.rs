//! The container store: one directory per container under the image store's
//! root, plus runtime files under /run.
//!
//! ```text
//! STORE/containers/<id>/config.json   ContainerConfig (atomic replace)
//! STORE/containers/<id>/state.json    ContainerState (atomic replace)
//! STORE/containers/<id>/container.log docker json-file lines
//! STORE/containers/<id>/upper, work   the overlay's writable layer
//! STORE/locks/containers.lock         held while names change (create, rename)
//! RUN/<id>/monitor.lock               flocked by the live monitor
//! ```
//! RUN is /run/rbuild/containers for root, else $XDG_RUNTIME_DIR/rbuild/containers.
//! A running state whose monitor lock is free and whose process is gone, or
//! that was written in another boot, reads as exited: nothing is lost when a
//! monitor is killed or the host reboots. This module does not start or
//! signal processes.

use super::id::{self, short};
use super::record::{Container, ContainerConfig, ContainerState, Status};
use super::{proc, RunnerError};
use crate::store::fsutil;
use std::fs;
use std::path::{Path, PathBuf};

/// Exit code recorded for a container whose monitor died with it.
pub const LOST_EXIT_CODE: i32 = 255;

/// Access to the containers of one store root.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    dir: PathBuf,
    lock: PathBuf,
    run_dir: PathBuf,
    /// Removed containers' directories on their way out (trash.rs).
    trash: PathBuf,
}

impl ContainerStore {
    /// Opens (creating) `STORE/containers` and the runtime directory.
    pub fn open(store_root: &Path) -> Result<ContainerStore, RunnerError> {
        let dir = store_root.join("containers");
        let locks = store_root.join("locks");
        let run_dir = runtime_root().join("containers");
        for d in [&dir, &locks, &run_dir] {
            fs::create_dir_all(d).map_err(|e| RunnerError::io(d, e))?;
        }
        let store = ContainerStore {
            dir,
            lock: locks.join("containers.lock"),
            run_dir,
            trash: store_root.join("trash"),
        };
        store.remove_unfinished();
        Ok(store)
    }

    /// Removes directories of creates that crashed before config.json was
    /// written, and exit codes of `--rm` containers nobody collected (both
    /// older than a minute, so work in progress is left alone).
    fn remove_unfinished(&self) {
        let now = std::time::SystemTime::now();
        let old = |e: &fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(60))
        };
        if let Ok(rd) = fs::read_dir(&self.run_dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().ends_with(".exit") && old(&e) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        super::trash::remove_stale(&self.trash);
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if old(&e) && !p.join("config.json").exists() && e.file_name().len() == 64 {
                let _ = fs::remove_dir_all(&p);
            }
        }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("container.log")
    }

    /// Runtime directory of one container (created on demand).
    pub fn run_dir(&self, id: &str) -> Result<PathBuf, RunnerError> {
        let d = self.run_dir.join(id);
        fs::create_dir_all(&d).map_err(|e| RunnerError::io(&d, e))?;
        Ok(d)
    }

    /// Where a `--rm` container's exit code is left for an attached client.
    pub fn exit_code_path(&self, id: &str) -> PathBuf {
        self.run_dir.join(format!("{id}.exit"))
    }

    /// The lock file a live monitor holds.
    pub fn monitor_lock_path(&self, id: &str) -> Result<PathBuf, RunnerError> {
        Ok(self.run_dir(id)?.join("monitor.lock"))
    }

    /// Takes the monitor lock for `id` (the caller becomes its monitor); the
    /// lock lasts as long as the returned file is open, even across exec.
    pub fn lock_monitor(&self, id: &str) -> Result<fs::File, RunnerError> {
        let p = self.monitor_lock_path(id)?;
        let f = fsutil::open_lock_file(&p)?;
        match fsutil::flock(&f, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(true) => Ok(f),
            Ok(false) => Err(RunnerError::AlreadyMonitored(short(id).to_string())),
            Err(e) => Err(RunnerError::io(&p, e)),
        }
    }

    /// True while some process holds the monitor lock of `id`.
    pub fn monitor_alive(&self, id: &str) -> bool {
        let p = self.run_dir.join(id).join("monitor.lock");
        let Ok(f) = fs::File::open(&p) else {
            return false;
        };
        !fsutil::flock(&f, libc::LOCK_SH | libc::LOCK_NB).unwrap_or(true)
    }

    /// docker's conflict error when `name` is taken (checked again, under
    /// the lock, by [`ContainerStore::create`]).
    pub fn check_name_free(&self, name: &str) -> Result<(), RunnerError> {
        match self.configs()?.into_iter().find(|c| c.name == name) {
            Some(owner) => Err(RunnerError::NameConflict {
                name: name.to_string(),
                id: owner.id,
            }),
            None => Ok(()),
        }
    }

    /// Stores a new container. An empty name gets a generated one; a taken
    /// name is docker's conflict error.
    pub fn create(&self, mut config: ContainerConfig) -> Result<Container, RunnerError> {
        let _names = fsutil::lock_exclusive(&self.lock)?;
        let taken: Vec<(String, String)> = self
            .configs()?
            .into_iter()
            .map(|c| (c.name, c.id))
            .collect();
        if config.name.is_empty() {
            let mut attempt = 0;
            loop {
                let n = id::generated_name(attempt)?;
                if !taken.iter().any(|(t, _)| *t == n) {
                    config.name = n;
                    break;
                }
                attempt += 1;
            }
        } else if let Some((_, owner)) = taken.iter().find(|(t, _)| *t == config.name) {
            return Err(RunnerError::NameConflict {
                name: config.name.clone(),
                id: owner.clone(),
            });
        }
        let dir = self.dir(&config.id);
        fs::create_dir(&dir).map_err(|e| RunnerError::io(&dir, e))?;
        let state = ContainerState {
            boot_id: proc::boot_id(),
            ephemeral: config.host.auto_remove,
            ..Default::default()
        };
        let durable = !state.ephemeral;
        self.write_json(&config.id, "state.json", &state, durable)?;
        // config.json last: a directory without it is an unfinished create.
        self.write_json(&config.id, "config.json", &config, durable)?;
        Ok(Container { config, state })
    }

    fn write_json<T: serde::Serialize>(
        &self,
        id: &str,
        file: &str,
        value: &T,
        durable: bool,
    ) -> Result<(), RunnerError> {
        let dir = self.dir(id);
        let bytes = serde_json::to_vec_pretty(value).map_err(RunnerError::Json)?;
        if durable {
            fsutil::write_atomic(&dir, &dir.join(file), &bytes)?;
            return Ok(());
        }
        // Still atomic (readers see old or new), just not synced: a `--rm`
        // container's record is worthless after a crash anyway.
        let mut tmp =
            tempfile::NamedTempFile::new_in(&dir).map_err(|e| RunnerError::io(&dir, e))?;
        std::io::Write::write_all(&mut tmp, &bytes).map_err(|e| RunnerError::io(tmp.path(), e))?;
        let target = dir.join(file);
        tmp.persist(&target)
            .map_err(|e| RunnerError::io(&target, e.error))?;
        Ok(())
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        file: &str,
    ) -> Result<T, RunnerError> {
        let p = self.dir(id).join(file);
        let bytes = fs::read(&p).map_err(|e| RunnerError::io(&p, e))?;
        serde_json::from_slice(&bytes).map_err(|e| RunnerError::Corrupt {
            path: p.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// All configs (unfinished or unreadable entries are skipped).
    fn configs(&self) -> Result<Vec<ContainerConfig>, RunnerError> {
        let rd = fs::read_dir(&self.dir).map_err(|e| RunnerError::io(&self.dir, e))?;
        let mut out = Vec::new();
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.len() != 64 || !entry.path().join("config.json").is_file() {
                continue;
            }
            match self.read_json::<ContainerConfig>(&name, "config.json") {
                Ok(c) => out.push(c),
                Err(e) => log::warn!("skipping container {name}: {e}"),
            }
        }
        Ok(out)
    }

    /// Loads one container by full ID, with its state reconciled.
    pub fn load(&self, id: &str) -> Result<Container, RunnerError> {
        let config: ContainerConfig = self.read_json(id, "config.json")?;
        let state: ContainerState = self.read_json(id, "state.json")?;
        let state = self.reconcile(id, state)?;
        Ok(Container { config, state })
    }

    /// All containers, newest first.
    pub fn list(&self) -> Result<Vec<Container>, RunnerError> {
        let mut out = Vec::new();
        for c in self.configs()? {
            match self.load(&c.id) {
                Ok(c) => out.push(c),
                Err(e) => log::warn!("skipping container {}: {e}", c.id),
            }
        }
        out.sort_by(|a, b| b.config.created.cmp(&a.config.created));
        Ok(out)
    }

    /// Finds a container by full ID, name, or unique ID prefix (docker's order).
    pub fn get(&self, what: &str) -> Result<Container, RunnerError> {
        let key = what.strip_prefix('/').unwrap_or(what);
        let configs = self.configs()?;
        let hit = configs
            .iter()
            .find(|c| c.id == key)
            .or_else(|| configs.iter().find(|c| c.name == key));
        if let Some(c) = hit {
            return self.load(&c.id);
        }
        let by_prefix: Vec<&ContainerConfig> = if key.is_empty() {
            Vec::new()
        } else {
            configs.iter().filter(|c| c.id.starts_with(key)).collect()
        };
        match by_prefix.as_slice() {
            [one] => self.load(&one.id),
            [] => Err(RunnerError::NoSuchContainer(what.to_string())),
            _ => Err(RunnerError::AmbiguousPrefix(what.to_string())),
        }
    }

    /// Replaces the state of `id` after applying `change` to the current one.
    pub fn update_state(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerState),
    ) -> Result<ContainerState, RunnerError> {
        let _g = fsutil::lock_exclusive(&self.dir(id).join("state.lock"))?;
        let mut state: ContainerState = self.read_json(id, "state.json")?;
        change(&mut state);
        state.boot_id = proc::boot_id();
        self.write_json(id, "state.json", &state, !state.ephemeral)?;
        Ok(state)
    }

    /// `rename`: docker's conflict error when the new name is taken.
    pub fn rename(&self, what: &str, new_name: &str) -> Result<(), RunnerError> {
        let new_name = id::validate_name(new_name)?;
        let c = self.get(what)?;
        let _names = fsutil::lock_exclusive(&self.lock)?;
        if let Some(owner) = self.configs()?.iter().find(|o| o.name == new_name) {
            return Err(RunnerError::NameConflict {
                name: new_name,
                id: owner.id.clone(),
            });
        }
        let mut config = c.config;
        config.name = new_name;
        self.write_json(&config.id, "config.json", &config, true)
    }

    /// Deletes a container's files (the caller has stopped it and unmounted
    /// its volumes): the directory leaves the store in one rename and is
    /// deleted in the background (trash.rs); config.json goes first when
    /// it has to be deleted here, so a crash leaves no half entry.
    pub fn remove(&self, id: &str) -> Result<(), RunnerError> {
        let dir = self.dir(id);
        let cfg = dir.join("config.json");
        let rd = self.run_dir.join(id);
        // The runtime dir goes along when it is on the same filesystem
        // (it is not when /run is a tmpfs, where deleting is cheap).
        if dir.is_dir() {
            let _ = fs::rename(&rd, dir.join("run"));
        }
        if let Err(e) = super::trash::remove_dir(&self.trash, &dir) {
            log::debug!("deferred removal of {}: {e}", dir.display());
        }
        match fs::remove_file(&cfg) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RunnerError::io(&cfg, e)),
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RunnerError::io(&dir, e)),
        }
        let _ = fs::remove_dir_all(rd);
        Ok(())
    }

    /// A running state is believed while its monitor or its process lives
    /// and it was written in this boot; otherwise it reads (and is saved) as
    /// exited.
    fn reconcile(&self, id: &str, state: ContainerState) -> Result<ContainerState, RunnerError> {
        if !matches!(state.status, Status::Running | Status::Restarting) {
            return Ok(state);
        }
        let same_boot = state.boot_id == proc::boot_id();
        if same_boot && (self.monitor_alive(id) || proc::is_alive(state.pid, state.pid_start_ticks))
        {
            return Ok(state);
        }
        let finished = super::time::now_rfc3339();
        self.update_state(id, |s| {
            if matches!(s.status, Status::Running | Status::Restarting) {
                s.status = Status::Exited;
                s.pid = 0;
                s.exit_code = LOST_EXIT_CODE;
                s.finished_at = finished;
                if s.error.is_empty() && !same_boot {
                    s.error = "the host rebooted while the container ran".into();
                }
            }
        })
    }
}

/// /run/rbuild for root, else `$XDG_RUNTIME_DIR/rbuild` (or /tmp/rbuild-UID).
pub fn runtime_root() -> PathBuf {
    if let Some(d) = std::env::var_os("RBUILD_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/rbuild");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("rbuild"),
        None => PathBuf::from(format!("/tmp/rbuild-{}", nix::unistd::geteuid())),
    }
}

/// Short IDs of the containers (any state) made from image `image_id`
/// (`sha256:...`), for `rmi`'s conflict check. Unreadable entries are skipped.
pub fn image_users(store_root: &Path, image_id: &str) -> Vec<String> {
    let dir = store_root.join("containers");
    let Ok(rd) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| fs::read(e.path().join("config.json")).ok())
        .filter_map(|b| serde_json::from_slice::<ContainerConfig>(&b).ok())
        .filter(|c| c.image_id == image_id)
        .map(|c| short(&c.id).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContainerStore) {
        let d = tempfile::tempdir().expect("tmp");
        std::env::set_var("RBUILD_RUNTIME_DIR", d.path().join("run"));
        let s = ContainerStore::open(&d.path().join("store")).expect("open");
        (d, s)
    }

    fn config(id: &str, name: &str) -> ContainerConfig {
        ContainerConfig {
            id: id.to_string(),
            name: name.to_string(),
            created: crate::runner::time::now_rfc3339(),
            ..Default::default()
        }
    }

    #[test]
    fn names_prefixes_and_conflicts() {
        let (_d, s) = store();
        let a = "ab".repeat(32);
        let b = "ac".repeat(32);
        s.create(config(&a, "web")).expect("create a");
        let err = s
            .create(config(&b, "web"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with(
                "Conflict. The container name \"/web\" is already in use by container \"abab"
            ),
            "{err}"
        );
        let gen = s.create(config(&b, "")).expect("create b");
        assert!(id::validate_name(gen.name()).is_ok());
        assert_eq!(s.get("web").map(|c| c.config.id).ok(), Some(a.clone()));
        assert_eq!(s.get("/web").map(|c| c.config.id).ok(), Some(a.clone()));
        assert_eq!(s.get("abab").map(|c| c.config.id).ok(), Some(a.clone()));
        assert!(matches!(s.get("a"), Err(RunnerError::AmbiguousPrefix(_))));
        assert!(matches!(s.get("zz"), Err(RunnerError::NoSuchContainer(_))));
        assert!(matches!(s.get(""), Err(RunnerError::NoSuchContainer(_))));
        s.rename("web", "api").expect("rename");
        assert!(s.get("web").is_err() && s.get("api").is_ok());
        assert!(s.rename("api", gen.name()).is_err());
        assert_eq!(image_users(&_d.path().join("store"), "").len(), 2);
        s.remove(&a).expect("remove");
        assert_eq!(s.list().expect("list").len(), 1);
    }

    #[test]
    fn running_state_from_another_boot_or_dead_monitor_reads_exited() {
        let (_d, s) = store();
        let id = "cd".repeat(32);
        s.create(config(&id, "x")).expect("create");
        // A live process of ours, but written in another boot.
        let me = std::process::id() as i32;
        s.update_state(&id, |st| {
            st.status = Status::Running;
            st.pid = me;
        })
        .expect("update");
        let p = s.dir(&id).join("state.json");
        let text = fs::read_to_string(&p).expect("read");
        fs::write(&p, text.replace(&proc::boot_id(), "another-boot")).expect("write");
        let c = s.load(&id).expect("load");
        assert_eq!(c.state.status, Status::Exited);
        assert_eq!(c.state.exit_code, LOST_EXIT_CODE);
        assert!(c.state.error.contains("rebooted"), "{}", c.state.error);
        // Same boot, no monitor, process gone (recycled start time).
        s.update_state(&id, |st| {
            st.status = Status::Running;
            st.pid = me;
            st.pid_start_ticks = 1;
        })
        .expect("update");
        assert_eq!(s.load(&id).expect("load").state.status, Status::Exited);
        // Same boot, our process alive: still running.
        let ticks = proc::start_ticks(me).unwrap_or(0);
        s.update_state(&id, |st| {
            st.status = Status::Running;
            st.pid = me;
            st.pid_start_ticks = ticks;
        })
        .expect("update");
        assert_eq!(s.load(&id).expect("load").state.status, Status::Running);
        // A held monitor lock keeps it running whatever the pid says.
        let _lock = s.lock_monitor(&id).expect("lock");
        assert!(s.monitor_alive(&id));
        assert!(matches!(
            s.lock_monitor(&id),
            Err(RunnerError::AlreadyMonitored(_))
        ));
    }
}
