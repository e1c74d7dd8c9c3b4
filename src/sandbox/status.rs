//! How a sandboxed process ended: an exit code, a signal, or an OOM kill,
//! with docker's numeric codes (128+n for signals, 137 for OOM) and the
//! messages shown to users. Pure data; no process handling here.

use crate::sandbox::cgroups::format_bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
    OutOfMemory { limit: Option<u64> },
}

impl ExitStatus {
    /// The shell-style code: the exit code, 128+n for signal n, 137 for OOM.
    pub fn code(&self) -> i32 {
        match self {
            ExitStatus::Code(code) => *code,
            ExitStatus::Signal(signal) => 128 + signal,
            ExitStatus::OutOfMemory { .. } => 137,
        }
    }

    pub fn success(&self) -> bool {
        matches!(self, ExitStatus::Code(0))
    }

    /// Decodes a wait(2) status word.
    pub fn from_wait_status(status: i32) -> ExitStatus {
        if libc::WIFSIGNALED(status) {
            ExitStatus::Signal(libc::WTERMSIG(status))
        } else {
            ExitStatus::Code(libc::WEXITSTATUS(status))
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exit code {code}"),
            ExitStatus::Signal(signal) => match nix::sys::signal::Signal::try_from(*signal) {
                Ok(name) => write!(f, "killed by signal {signal} ({})", name.as_str()),
                Err(_) => write!(f, "killed by signal {signal}"),
            },
            ExitStatus::OutOfMemory { limit: Some(limit) } => {
                write!(f, "killed: out of memory (limit {})", format_bytes(*limit))
            }
            ExitStatus::OutOfMemory { limit: None } => write!(f, "killed: out of memory"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_follow_docker() {
        assert_eq!(ExitStatus::Code(2).code(), 2);
        assert_eq!(ExitStatus::Code(2).to_string(), "exit code 2");
        assert_eq!(ExitStatus::Signal(9).code(), 137);
        assert_eq!(
            ExitStatus::Signal(9).to_string(),
            "killed by signal 9 (SIGKILL)"
        );
        let oom = ExitStatus::OutOfMemory {
            limit: Some(64 << 20),
        };
        assert_eq!(oom.code(), 137);
        assert_eq!(oom.to_string(), "killed: out of memory (limit 64 MiB)");
        assert!(ExitStatus::Code(0).success());
        assert!(!ExitStatus::Signal(15).success());
        assert!(!oom.success());
    }

    #[test]
    fn wait_status_words() {
        assert_eq!(ExitStatus::from_wait_status(3 << 8), ExitStatus::Code(3));
        assert_eq!(ExitStatus::from_wait_status(9), ExitStatus::Signal(9));
    }
}
