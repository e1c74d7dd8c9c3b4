//! `run -it` on a real pseudo-terminal: the CLI's stdio is the slave side of
//! a pty this test drives. Checks that the shell is interactive (a real tty
//! inside, window size passed), Ctrl-C interrupts the container's
//! foreground command, Ctrl-P Ctrl-Q detaches leaving the container
//! running, and the container's exit code comes back.

mod runner_support;

use rbuild::runner::tty::open_pty;
use runner_support::{can_run, Env};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Term {
    master: std::fs::File,
    seen: Arc<Mutex<String>>,
}

impl Term {
    fn spawn(env: &Env, args: &[&str]) -> (Term, std::process::Child) {
        let (master, slave) = open_pty().expect("openpty");
        // 40 rows x 100 columns, visible to `stty size` inside.
        let ws = libc::winsize {
            ws_row: 40,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ with a valid winsize on our pty.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        let mut cmd = env.cmd();
        cmd.args(args)
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid + TIOCSCTTY make the pty the CLI's controlling terminal.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn rbuild");
        let master = std::fs::File::from(master);
        let seen = Arc::new(Mutex::new(String::new()));
        let mut reader = master.try_clone().expect("dup master");
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        (Term { master, seen }, child)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
    }

    fn expect(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.seen.lock().map(|s| s.contains(text)).unwrap_or(false) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "never saw {text:?}; terminal shows:\n{}",
            self.seen.lock().map(|s| s.clone()).unwrap_or_default()
        );
    }
}

fn wait_exit(child: &mut std::process::Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code().unwrap_or(-1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("rbuild did not exit");
}

#[test]
fn interactive_shell_ctrl_c_and_exit_code() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let (mut term, mut child) = Term::spawn(&env, &["run", "-it", "--rm", "bb:1", "sh"]);
    // Expected texts are computed inside, so the typed line's echo never matches.
    term.send(b"[ -t 0 ] && echo tty-$((6*7)); stty size\r");
    term.expect("tty-42");
    term.expect("40 100");
    term.send(b"sleep 100\r");
    std::thread::sleep(Duration::from_millis(500));
    // Ctrl-C reaches sleep (the shell's foreground job) through the pty.
    term.send(b"\x03");
    term.send(b"echo status-$(( $? + 1000 ))\r");
    term.expect("status-1130");
    term.send(b"exit 7\r");
    assert_eq!(wait_exit(&mut child), 7);
}

#[test]
fn detach_keys_leave_the_container_running() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let (mut term, mut child) = Term::spawn(&env, &["run", "-it", "--name", "det", "bb:1", "sh"]);
    term.send(b"echo ready-$((20+22))\r");
    term.expect("ready-42");
    term.send(b"\x10\x11");
    assert_eq!(wait_exit(&mut child), 0);
    let ps = env.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert!(ps.contains("det running"), "{ps}");
    env.ok(&["rm", "-f", "det"]);
}

#[test]
fn exec_it_gets_a_shell_that_sees_the_env() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "-e",
        "MYSQL_USER=user1",
        "bb:1",
        "sleep",
        "300",
    ]);
    let (mut term, mut child) = Term::spawn(&env, &["exec", "-it", "svc", "sh"]);
    term.send(b"[ -t 1 ] && echo got-$MYSQL_USER-$((2*3))\r");
    term.expect("got-user1-6");
    term.send(b"exit 5\r");
    assert_eq!(wait_exit(&mut child), 5);
    env.ok(&["rm", "-f", "svc"]);
}

#[test]
fn start_ai_reattaches_a_tty_container() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let (mut term, mut child) = Term::spawn(&env, &["run", "-it", "--name", "again", "bb:1", "sh"]);
    term.send(b"echo first-$((1+1))\r");
    term.expect("first-2");
    term.send(b"exit 3\r");
    assert_eq!(wait_exit(&mut child), 3);
    let (mut term, mut child) = Term::spawn(&env, &["start", "-ai", "again"]);
    term.send(b"echo second-$((2+2))\r");
    term.expect("second-4");
    term.send(b"exit 4\r");
    assert_eq!(wait_exit(&mut child), 4);
    env.ok(&["rm", "again"]);
}
