//! Turns a [`Spec`] into a [`Plan`]: every string, path, file content and
//! fd the sandbox child needs, prepared in the parent before clone(2) so
//! the child never allocates (see sys.rs for why). Also names the setup
//! steps, so an errno reported by the child becomes a readable error.
//!
//! It does not mount or start anything.

use super::etc_files;
use super::process::ProcessPlan;
use super::spec::{MountKind, Spec};
use super::SandboxError;
use crate::sandbox::network::NetworkMode;
use std::ffi::CString;
use std::path::Path;

/// Fixed indices into [`Plan::targets`].
pub const TARGET_PROC: usize = 0;
pub const TARGET_DEV: usize = 1;
pub const TARGET_SYS: usize = 2;

/// How the root filesystem is mounted at the shared mount point.
pub enum RootPlan {
    /// `chdir` first when the options use paths relative to it (long
    /// lowerdir lists).
    Overlay {
        chdir: Option<CString>,
        data: CString,
    },
    Bind(CString),
}

/// A file written into the private staging tmpfs and bind-mounted.
pub struct StagedFile {
    /// Name inside the staging tmpfs.
    pub name: CString,
    pub contents: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub readonly: bool,
    /// Index into [`Plan::targets`].
    pub target: usize,
}

pub enum MountPlan {
    Bind {
        /// Opened in the child: an fd opened here would refer to the
        /// host's mount namespace, which bind mounts refuse.
        source: CString,
        is_dir: bool,
        readonly: bool,
        target: usize,
    },
    Tmpfs {
        data: CString,
        target: usize,
    },
    File(StagedFile),
}

/// Everything the sandbox init needs, ready to use without allocating.
pub struct Plan {
    pub user_ns: bool,
    pub mount_point: CString,
    pub staging: CString,
    pub root: RootPlan,
    pub readonly_root: bool,
    /// /etc/hosts, /etc/hostname, /etc/resolv.conf (in that order).
    pub etc: Vec<StagedFile>,
    /// resolv.conf comes with the go message (private networking).
    pub resolv_from_go: bool,
    pub mounts: Vec<MountPlan>,
    /// Mount targets, relative to the root ("etc/hosts"); CREATED messages
    /// refer to a prefix of one of these.
    pub targets: Vec<CString>,
    pub cwd: CString,
    pub hostname: Vec<u8>,
    pub new_netns: bool,
    pub devpts_data: CString,
    pub process: ProcessPlan,
    /// The sandbox's own cgroup directories to show read-only under
    /// /sys/fs/cgroup: (name, host dir); a single "" name means cgroup v2,
    /// bound on /sys/fs/cgroup itself.
    pub cgroup_view: Vec<(CString, CString)>,
    /// v1 `tasks` files the init writes "0" into to join its cgroup itself
    /// (see `Cgroup::v1_task_files`).
    pub cgroup_join: Vec<CString>,
}

/// A setup step of the child, as reported in an ERROR message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    Go = 1,
    Cgroupns,
    Private,
    Root,
    Staging,
    Proc,
    Mask,
    ReadonlyPath,
    Dev,
    DevNode,
    Sys,
    EtcFile,
    Mount,
    Cwd,
    ReadonlyRoot,
    Pivot,
    Hostname,
    Loopback,
    Pty,
    Fork,
    Stdio,
    Credentials,
    Capabilities,
    NoNewPrivs,
    Seccomp,
    Setns,
    Cgroup,
    Network,
}

impl Step {
    pub fn from_u32(value: u32) -> Option<Step> {
        use Step::*;
        [
            Go,
            Cgroupns,
            Private,
            Root,
            Staging,
            Proc,
            Mask,
            ReadonlyPath,
            Dev,
            DevNode,
            Sys,
            EtcFile,
            Mount,
            Cwd,
            ReadonlyRoot,
            Pivot,
            Hostname,
            Loopback,
            Pty,
            Fork,
            Stdio,
            Credentials,
            Capabilities,
            NoNewPrivs,
            Seccomp,
            Setns,
            Cgroup,
            Network,
        ]
        .into_iter()
        .find(|s| *s as u32 == value)
    }
}

impl Plan {
    pub fn prepare(
        spec: &Spec,
        user_ns: bool,
        set_groups: bool,
        mount_point: &Path,
        staging: &Path,
    ) -> Result<Plan, SandboxError> {
        if !etc_files::valid_hostname(&spec.hostname) {
            return Err(SandboxError::InvalidSpec(format!(
                "hostname {:?}: use 1-64 letters, digits, '-', '_' or '.'",
                spec.hostname
            )));
        }
        // The first targets are fixed: see TARGET_PROC, TARGET_DEV, TARGET_SYS.
        let mut targets = vec![cstring("proc")?, cstring("dev")?, cstring("sys")?];
        let mut add_target = |path: &str| -> Result<usize, SandboxError> {
            targets.push(cstring(clean_inside(path)?)?);
            Ok(targets.len() - 1)
        };
        let resolv = match spec.network {
            NetworkMode::Host => std::fs::read_to_string("/etc/resolv.conf")
                .map(|text| etc_files::host_resolv_conf(&text, true))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let etc_text = [
            (
                "/etc/hosts",
                etc_files::hosts(&spec.hostname, spec.network, &spec.hosts),
            ),
            ("/etc/hostname", etc_files::hostname(&spec.hostname)),
            ("/etc/resolv.conf", resolv),
        ];
        let mut etc = Vec::new();
        for (index, (path, text)) in etc_text.into_iter().enumerate() {
            etc.push(StagedFile {
                name: cstring(format!("etc{index}"))?,
                contents: text.into_bytes(),
                mode: 0o644,
                uid: 0,
                gid: 0,
                readonly: false,
                target: add_target(path)?,
            });
        }
        let mut mounts = Vec::new();
        for (index, mount) in spec.mounts.iter().enumerate() {
            let target = add_target(&mount.target)?;
            mounts.push(match &mount.kind {
                MountKind::Bind { source, readonly } => {
                    let is_dir = std::fs::metadata(source)
                        .map_err(|e| SandboxError::io("stat bind source", source, e))?
                        .is_dir();
                    MountPlan::Bind {
                        source: path_cstring(source)?,
                        is_dir,
                        readonly: *readonly,
                        target,
                    }
                }
                MountKind::Tmpfs { size } => {
                    let mut data = String::from("mode=1777");
                    if let Some(size) = size {
                        data.push_str(&format!(",size={size}"));
                    }
                    MountPlan::Tmpfs {
                        data: cstring(data)?,
                        target,
                    }
                }
                MountKind::File {
                    contents,
                    mode,
                    uid,
                    gid,
                } => MountPlan::File(StagedFile {
                    name: cstring(format!("file{index}"))?,
                    contents: contents.clone(),
                    mode: *mode & 0o7777,
                    uid: *uid,
                    gid: *gid,
                    readonly: true,
                    target,
                }),
            });
        }
        let cwd = cstring(clean_inside(&spec.cwd)?)?;
        let mut process = ProcessPlan::prepare(
            &spec.args,
            &spec.env,
            &spec.user,
            spec.stdio,
            spec.no_new_privileges,
            set_groups,
        )?;
        if spec.seccomp_unconfined {
            process.unconfined();
        }
        Ok(Plan {
            user_ns,
            mount_point: path_cstring(mount_point)?,
            staging: path_cstring(staging)?,
            root: super::overlay::root_plan(&spec.root, user_ns, spec.volatile_upper)?,
            readonly_root: spec.readonly_rootfs,
            etc,
            resolv_from_go: spec.network == NetworkMode::Private,
            mounts,
            targets,
            cwd,
            hostname: spec.hostname.clone().into_bytes(),
            new_netns: spec.network.needs_netns(),
            // gid 5 (tty) only exists when more than one id is mapped.
            devpts_data: cstring(if user_ns {
                "newinstance,ptmxmode=0666,mode=0620"
            } else {
                "newinstance,ptmxmode=0666,mode=0620,gid=5"
            })?,
            process,
            cgroup_view: Vec::new(),
            cgroup_join: Vec::new(),
        })
    }

    /// The `tasks` files the init joins by itself (`Cgroup::v1_task_files`).
    pub fn set_cgroup_join(&mut self, files: &[std::path::PathBuf]) -> Result<(), SandboxError> {
        self.cgroup_join = files
            .iter()
            .map(|f| path_cstring(f))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Shows the sandbox's cgroup (from `Cgroup::hierarchy_dirs`) inside.
    pub fn set_cgroup_view(
        &mut self,
        dirs: &[(String, std::path::PathBuf)],
    ) -> Result<(), SandboxError> {
        let pure_v2 = dirs.len() == 1 && dirs.iter().all(|(name, _)| name == "unified");
        self.cgroup_view = dirs
            .iter()
            .map(|(name, dir)| {
                let name = if pure_v2 { "" } else { name.as_str() };
                Ok((cstring(name)?, path_cstring(dir)?))
            })
            .collect::<Result<_, SandboxError>>()?;
        Ok(())
    }

    /// "/etc/hosts" for a target index.
    pub fn target_path(&self, index: usize) -> String {
        let bytes = self
            .targets
            .get(index)
            .map(|t| t.as_bytes())
            .unwrap_or_default();
        format!("/{}", String::from_utf8_lossy(bytes))
    }

    /// Human description of a failed child step.
    pub fn describe(&self, step: Step, index: u32) -> String {
        let index = index as usize;
        match step {
            Step::Go => "waiting for the parent's go".into(),
            Step::Cgroupns => "unshare the cgroup namespace".into(),
            Step::Private => "make the mount namespace private".into(),
            Step::Root => match &self.root {
                RootPlan::Overlay { data, .. } => format!(
                    "mount the overlay root ({}) on {}",
                    data.to_string_lossy(),
                    self.mount_point.to_string_lossy()
                ),
                RootPlan::Bind(dir) => format!(
                    "bind the root {} on {}",
                    dir.to_string_lossy(),
                    self.mount_point.to_string_lossy()
                ),
            },
            Step::Staging => format!(
                "prepare private files in a tmpfs on {}",
                self.staging.to_string_lossy()
            ),
            Step::Proc => "mount proc on /proc".into(),
            Step::Mask => format!(
                "mask /{}",
                super::mounts::MASKED_PATHS
                    .get(index)
                    .map(|p| p.to_string_lossy())
                    .unwrap_or_default()
            ),
            Step::ReadonlyPath => format!(
                "make /{} read-only",
                super::mounts::READONLY_PATHS
                    .get(index)
                    .map(|p| p.to_string_lossy())
                    .unwrap_or_default()
            ),
            Step::Dev => "mount a tmpfs on /dev".into(),
            Step::DevNode => format!(
                "create /dev/{}",
                super::mounts::DEVICES
                    .get(index)
                    .map(|d| d.0.to_string_lossy())
                    .unwrap_or_default()
            ),
            Step::Sys => "mount sysfs on /sys".into(),
            Step::EtcFile | Step::Mount => {
                format!("mount on {}", self.target_path(index))
            }
            Step::Cwd => format!(
                "create the working directory /{}",
                self.cwd.to_string_lossy()
            ),
            Step::ReadonlyRoot => "make the root read-only".into(),
            Step::Pivot => "pivot_root into the new root".into(),
            Step::Hostname => "set the hostname".into(),
            Step::Loopback => "bring up the loopback interface".into(),
            Step::Pty => "allocate a pseudo-terminal".into(),
            Step::Fork => "fork the main process".into(),
            Step::Stdio => "set up stdin/stdout/stderr".into(),
            Step::Credentials => format!(
                "switch to uid {} gid {} (groups {:?})",
                self.process.uid, self.process.gid, self.process.groups
            ),
            Step::Capabilities => "drop capabilities".into(),
            Step::NoNewPrivs => "set no_new_privs".into(),
            Step::Seccomp => "install the seccomp filter".into(),
            Step::Setns => "enter the sandbox namespaces".into(),
            Step::Network => {
                "start: the network helper exited before configuring the namespace".into()
            }
            Step::Cgroup => match self.cgroup_join.get(index) {
                Some(file) => format!(
                    "join the sandbox cgroup (write 0 to {})",
                    file.to_string_lossy()
                ),
                None => "join the sandbox cgroup".into(),
            },
        }
    }
}

/// An absolute path inside the sandbox, lexically cleaned and made
/// relative ("/a/./b/../c" -> "a/c"); ".." never goes above the root.
pub fn clean_inside(path: &str) -> Result<String, SandboxError> {
    if !path.starts_with('/') {
        return Err(SandboxError::InvalidSpec(format!(
            "path {path:?} inside the sandbox must be absolute"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

pub(crate) fn cstring(text: impl Into<Vec<u8>>) -> Result<CString, SandboxError> {
    let bytes = text.into();
    CString::new(bytes).map_err(|e| {
        SandboxError::InvalidSpec(format!(
            "{:?} contains a NUL byte",
            String::from_utf8_lossy(&e.into_vec())
        ))
    })
}

pub(crate) fn path_cstring(path: &Path) -> Result<CString, SandboxError> {
    cstring(path.as_os_str().as_encoded_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_are_cleaned_and_relative() {
        assert_eq!(clean_inside("/").expect("root"), "");
        assert_eq!(clean_inside("/a/./b/../c/").expect("p"), "a/c");
        assert_eq!(clean_inside("/../../etc/passwd").expect("p"), "etc/passwd");
        assert!(clean_inside("relative").is_err());
    }

    #[test]
    fn steps_round_trip() {
        for value in 1..=28 {
            let step = Step::from_u32(value).expect("step");
            assert_eq!(step as u32, value);
        }
        assert_eq!(Step::from_u32(0), None);
    }
}
