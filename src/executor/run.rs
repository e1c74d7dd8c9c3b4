//! RUN steps: the command (shell form through SHELL, exec form as is, heredoc
//! scripts), its environment (image ENV plus the ARGs in scope; never written
//! to the config), USER and WORKDIR, and `--mount`s, run by
//! [`crate::sandbox::run`] on an overlay of the image's unpacked layers with a
//! fresh upper dir that then becomes the layer. The sandbox's own mount
//! points are deleted from the upper dir before the commit. A failure shows
//! the last lines of output.

use super::run_mounts::{prepare_mounts, PreparedMounts};
use super::sources::resolve_in_root;
use super::stage::{finish_step, StageRunner};
use super::workspace::Workspace;
use super::ExecError;
use crate::parser::instructions::{Command, Run};
use crate::progress::Stream;
use crate::sandbox::network::NetworkMode;
use crate::sandbox::{self, Mount, MountKind, OutputStream, RootFs, Spec, StdioMode};
use std::collections::VecDeque;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Output lines kept for the error message of a failed RUN.
const TAIL_LINES: usize = 20;

/// Runs one RUN instruction (already expanded).
pub(super) fn run_step(
    r: &mut StageRunner<'_, '_>,
    command: &Command,
    run: &Run,
) -> Result<(), ExecError> {
    let mut step = r.b.progress.step(r.step_name(command));
    let result = run_inner(r, run, &mut step);
    finish_step(step, result)
}

fn run_inner(
    r: &mut StageRunner<'_, '_>,
    run: &Run,
    step: &mut crate::progress::Step,
) -> Result<(), ExecError> {
    if run.security == Some(crate::parser::instructions::SecurityMode::Insecure) {
        return Err(ExecError::Run(
            "RUN --security=insecure needs the security.insecure entitlement, which rbuild does not grant".into(),
        ));
    }
    let args = command_args(r, run);
    let shown_args = args.join(" ");
    let history_args = r.scope.history_args();
    let created_by = if history_args.is_empty() {
        format!("RUN {shown_args} # buildkit")
    } else {
        let pairs: Vec<String> = history_args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "RUN |{} {} {shown_args} # buildkit",
            pairs.len(),
            pairs.join(" ")
        )
    };

    let ws = Workspace::new(r.b.store.tmp_dir())?;
    let lowers = r.lower_dirs()?;
    let mut lower = lowers.clone();
    if lower.is_empty() {
        lower.push(ws.empty());
    }
    let mut env: Vec<String> = r
        .scope
        .run_env()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={}", sandbox::DEFAULT_PATH));
    }
    let user_spec = r.state.runtime_ref().user().clone().unwrap_or_default();
    let passwd = read_from_layers(&lowers, "/etc/passwd");
    let group = read_from_layers(&lowers, "/etc/group");
    let user = sandbox::user::resolve(&user_spec, passwd.as_deref(), group.as_deref())
        .map_err(|e| ExecError::Run(e.to_string()))?;

    let prepared: PreparedMounts = prepare_mounts(r, run, &ws)?;
    env.extend(prepared.env.iter().cloned());

    let mut spec = Spec::new(
        RootFs::Overlay {
            lower,
            upper: ws.upper(),
            work: ws.work(),
        },
        args.clone(),
    );
    spec.env = env;
    spec.cwd = r.state.workdir();
    spec.user = user;
    spec.mounts = prepared.mounts.clone();
    spec.mounts.extend(script_mount(run));
    spec.stdio = StdioMode::Piped;
    // The upper dir is not mounted again after the step: it becomes a layer,
    // made durable by the commit (blob fsynced, dir synced before it is
    // marked complete), so the unmount need not flush the whole filesystem.
    spec.volatile_upper = true;
    spec.network = match run.network.map(|n| format!("{n:?}").to_ascii_lowercase()) {
        Some(n) if n != "default" => n,
        _ => r.b.req.network.clone(),
    }
    .parse::<NetworkMode>()
    .map_err(|e| ExecError::Run(e.to_string()))?;
    spec.limits.memory = r.b.req.memory;
    spec.limits.cpus = r.b.req.cpus;
    spec.limits.pids = r.b.req.pids_limit;

    let mut tail: VecDeque<String> = VecDeque::new();
    let mut partial: Vec<u8> = Vec::new();
    let secrets: Vec<Vec<u8>> = prepared.secret_values.clone();
    let mut on_output = |stream: OutputStream, bytes: &[u8]| {
        let s = match stream {
            OutputStream::Stdout => Stream::Stdout,
            OutputStream::Stderr => Stream::Stderr,
        };
        // Secrets never reach the logs, even when a command prints them.
        let bytes = redact(bytes, &secrets);
        step.output(s, &bytes);
        partial.extend_from_slice(&bytes);
        while let Some(pos) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=pos).collect();
            tail.push_back(String::from_utf8_lossy(&line).trim_end().to_string());
            if tail.len() > TAIL_LINES {
                tail.pop_front();
            }
        }
    };
    let started = std::time::Instant::now();
    let outcome = sandbox::run(&spec, &mut on_output);
    drop(prepared);
    log::debug!("ran {shown_args:?} in {:?}", started.elapsed());
    let outcome = outcome.map_err(|e| ExecError::Run(format!("running {shown_args:?}: {e}")))?;
    if !partial.is_empty() {
        tail.push_back(String::from_utf8_lossy(&partial).trim_end().to_string());
    }
    if !outcome.status.success() {
        let mut msg = format!(
            "process \"{shown_args}\" did not complete successfully: {}",
            outcome.status
        );
        if !tail.is_empty() {
            msg.push_str("\n------ last output ------\n");
            msg.push_str(&Vec::from(tail).join("\n"));
            msg.push_str("\n-------------------------");
        }
        return Err(ExecError::Run(msg));
    }
    let upper = ws.upper();
    // BuildKit (docker 20.10) keeps the /dev, /proc and /sys directories its
    // runtime creates in a RUN layer; every other mount point goes.
    for p in outcome.created_mountpoints.iter().rev() {
        if !matches!(p.as_str(), "/dev" | "/proc" | "/sys") {
            remove_mountpoint(&upper, p);
        }
    }
    for p in &outcome.created_mountpoints {
        drop_unchanged_parents(&upper, &lowers, p);
    }
    r.commit_run(ws, &created_by)
}

/// argv of the RUN: exec form as is; shell form (and heredoc scripts) through SHELL.
fn command_args(r: &StageRunner<'_, '_>, run: &Run) -> Vec<String> {
    let cmd = &run.command;
    if !cmd.prepend_shell {
        return cmd.args.clone();
    }
    let mut args = r.state.shell();
    let line = cmd.args.join(" ");
    let script = match cmd.heredocs.as_slice() {
        [] => line,
        // A script with its own interpreter runs as a file (see `script_mount`).
        [only] if is_heredoc_marker(line.trim(), &only.name) && only.content.starts_with("#!") => {
            // Run its interpreter as the kernel would (the sandbox's file
            // mounts may be noexec): `#!interp [one arg]` then the script.
            let first = only.content.lines().next().unwrap_or_default();
            let shebang = first.trim_start_matches("#!").trim();
            let mut argv: Vec<String> = match shebang.split_once(char::is_whitespace) {
                Some((interp, arg)) => vec![interp.to_string(), arg.trim().to_string()],
                None => vec![shebang.to_string()],
            };
            argv.push(format!("{SCRIPT_DIR}/{}", only.name));
            return argv;
        }
        [only] if is_heredoc_marker(line.trim(), &only.name) => only.content.clone(),
        docs => {
            // The shell reads the heredocs itself: give it the whole text.
            let mut s = line;
            s.push('\n');
            for d in docs {
                s.push_str(&d.content);
                if !d.content.ends_with('\n') {
                    s.push('\n');
                }
                s.push_str(&d.name);
                s.push('\n');
            }
            s
        }
    };
    args.push(script);
    args
}

/// Where a `RUN <<EOF` script starting with `#!` is mounted, executable (as BuildKit does).
const SCRIPT_DIR: &str = "/dev/pipes";

/// The mount holding a `#!` heredoc script, when the RUN is one.
fn script_mount(run: &Run) -> Option<Mount> {
    let cmd = &run.command;
    let line = cmd.args.join(" ");
    match cmd.heredocs.as_slice() {
        [only]
            if cmd.prepend_shell
                && is_heredoc_marker(line.trim(), &only.name)
                && only.content.starts_with("#!") =>
        {
            Some(Mount {
                target: format!("{SCRIPT_DIR}/{}", only.name),
                kind: MountKind::File {
                    contents: only.content.clone().into_bytes(),
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                },
            })
        }
        _ => None,
    }
}

fn is_heredoc_marker(word: &str, name: &str) -> bool {
    let w = word.trim_start_matches("<<").trim_start_matches('-');
    w.trim_matches(|c| c == '"' || c == '\'') == name
}

/// Replaces every secret value in `bytes` by `****`.
fn redact(bytes: &[u8], secrets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        let mut i = 0;
        while i + s.len() <= out.len() {
            if out.get(i..i + s.len()) == Some(s.as_slice()) {
                out.splice(i..i + s.len(), b"****".iter().copied());
                i += 4;
            } else {
                i += 1;
            }
        }
    }
    out
}

/// Deletes a mount point the sandbox created in the upper dir (an empty
/// dir or file), never anything else.
fn remove_mountpoint(upper: &Path, inside: &str) {
    let path: PathBuf = upper.join(inside.trim_start_matches('/'));
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return;
    };
    let res = if meta.is_dir() {
        std::fs::remove_dir(&path)
    } else {
        std::fs::remove_file(&path)
    };
    if let Err(e) = res {
        log::debug!("mount point {inside} left in the layer: {e}");
    }
}

/// After the sandbox's mount points are gone, their parent dirs may be left
/// in the upper dir only because overlayfs copied them up to create the mount
/// points. Such a dir that is now empty and has the lower dir's mode and
/// owner is removed, so the layer does not carry it (BuildKit's layers do
/// not either).
fn drop_unchanged_parents(upper: &Path, lowers: &[PathBuf], inside: &str) {
    use std::os::unix::fs::MetadataExt;
    let mut rel = Path::new(inside.trim_start_matches('/')).parent();
    while let Some(dir) = rel.filter(|d| !d.as_os_str().is_empty()) {
        let up = upper.join(dir);
        let Ok(meta) = std::fs::symlink_metadata(&up) else {
            rel = dir.parent();
            continue;
        };
        let lower_meta = lowers
            .iter()
            .find_map(|l| std::fs::symlink_metadata(l.join(dir)).ok());
        let same = lower_meta.is_some_and(|l| {
            l.is_dir() && l.mode() == meta.mode() && l.uid() == meta.uid() && l.gid() == meta.gid()
        });
        let opaque = crate::layer::is_overlay_opaque(&up);
        if !meta.is_dir() || !same || opaque || !super::workspace::is_empty_dir(&up) {
            return;
        }
        if std::fs::remove_dir(&up).is_err() {
            return;
        }
        rel = dir.parent();
    }
}

/// Reads a small file of the image from its unpacked layers (top-most
/// first); a whiteout hides it.
pub(super) fn read_from_layers(lowers: &[PathBuf], path: &str) -> Option<String> {
    for dir in lowers {
        let Ok(p) = resolve_in_root(dir, path, true) else {
            continue;
        };
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_char_device() => return None,
            Ok(m) if m.is_file() => return std::fs::read_to_string(&p).ok(),
            _ => {}
        }
    }
    None
}
