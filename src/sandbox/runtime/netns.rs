//! A network namespace kept alive by a tiny holder process, so an external
//! OCI runtime can join it by path and slirp4netns can serve it before the
//! container starts (the runtime's `run` gives us no pid to attach to).

use super::RuntimeError;
use crate::sandbox::network::{loopback_up, NetworkAttachment, NetworkMode, PortForward};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The holder process and the network helper serving its namespace.
pub struct PrivateNetns {
    // Declared first so it is dropped (slirp4netns stopped) before the holder.
    attachment: NetworkAttachment,
    holder: Child,
    pub warning: Option<String>,
}

impl PrivateNetns {
    pub fn create(forwards: &[PortForward]) -> Result<PrivateNetns, RuntimeError> {
        let sleep = ["/bin/sleep", "/usr/bin/sleep"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                RuntimeError::Network(
                    "no sleep binary on the host to hold the network namespace".into(),
                )
            })?;
        let mut command = Command::new(sleep);
        command
            .arg("infinity")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: unshare and loopback_up are plain syscalls on stack data.
        unsafe {
            command.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                loopback_up().map_err(|_| std::io::Error::other("bringing up lo"))
            });
        }
        let mut holder = command
            .spawn()
            .map_err(|e| RuntimeError::Network(format!("creating a network namespace: {e}")))?;
        let attached =
            NetworkAttachment::attach_with(NetworkMode::Private, holder.id() as i32, forwards);
        match attached {
            Ok((attachment, warning)) => Ok(PrivateNetns {
                attachment,
                holder,
                warning,
            }),
            Err(e) => {
                let _ = holder.kill();
                let _ = holder.wait();
                Err(RuntimeError::Network(e.to_string()))
            }
        }
    }

    /// /proc path of the namespace for config.json.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.holder.id()))
    }

    pub fn resolv_conf(&self) -> String {
        self.attachment.resolv_conf()
    }
}

impl Drop for PrivateNetns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
