//! Throughput of the Dockerfile word lexer (`rbuild::parser::shell`) on
//! large inputs, side by side with bash doing the same expansions (bash is
//! the reference shell; BuildKit's Go lexer cannot run here without Go).
//!
//! Run: `cargo bench --bench shell_lexer` (prints one line per case).
//! Not a correctness test: the results are only checked to have the
//! expected length so the work cannot be optimised away.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use rbuild::parser::shell::Lexer;

/// The big-word size for rbuild alone.
const BIG: usize = 10 * 1024 * 1024;
/// The size used side by side with bash: bash's pattern substitution is
/// quadratic on some of these cases and would not finish at 10 MiB.
const SMALL: usize = 64 * 1024;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("runs > 0"))
}

fn report(case: &str, tool: &str, size: usize, elapsed: Duration) {
    let mib_per_s = size as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64();
    println!(
        "{case:<20} {tool:<7} {:>6} KiB {:>10.2} ms {mib_per_s:>9.1} MiB/s",
        size / 1024,
        elapsed.as_secs_f64() * 1e3
    );
}

/// Times bash assigning the expansion `expr` with `V` holding `size` bytes
/// of "ab ab ab ...", measured inside bash around the assignment only.
fn bash_time(expr: &str, size: usize) -> Option<Duration> {
    let script = format!(
        "V=$(yes ab | head -c {size} | tr '\\n' ' '); \
         s=$(date +%s%N); R=\"{expr}\"; e=$(date +%s%N); echo $((e - s))"
    );
    let out = Command::new("timeout")
        .args(["120", "bash", "-c", &script])
        .output()
        .ok()?;
    let nanos: u64 = String::from_utf8(out.stdout).ok()?.trim().parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn env_with(value: String) -> HashMap<String, String> {
    [("V".to_string(), value)].into_iter().collect()
}

fn main() {
    let lexer = Lexer::new('\\');
    let big = "ab ".repeat(BIG / 3);
    let env = env_with(big.clone());
    let quoted = format!("\"{big}\"");

    let (t, out) = best_of(5, || lexer.process_word(&big, &env));
    assert_eq!(out.map(|w| w.len()), Ok(big.len()));
    report("literal word", "rbuild", big.len(), t);
    let (t, out) = best_of(5, || lexer.process_word(&quoted, &env));
    assert_eq!(out.map(|w| w.len()), Ok(big.len()));
    report("quoted word", "rbuild", big.len(), t);
    let (t, out) = best_of(5, || lexer.process_words("$V", &env));
    assert_eq!(out.map(|w| w.len()), Ok(big.len() / 3));
    report("$V field split", "rbuild", big.len(), t);

    let cases = [
        ("${V%% *}", "longest suffix %%"),
        ("${V#*b }", "shortest prefix #"),
        ("${V/b */-}", "replace first /"),
        ("${V//b /-}", "replace all //"),
    ];
    for (expr, case) in cases {
        let (t, out) = best_of(3, || lexer.process_word(expr, &env));
        assert!(out.is_ok(), "{expr}: {out:?}");
        report(case, "rbuild", big.len(), t);
    }
    let small = "ab ".repeat(SMALL / 3 + 1);
    let small = small.get(..SMALL).unwrap_or(&small).to_string();
    let env = env_with(small.clone());
    for (expr, case) in cases {
        let (t, out) = best_of(3, || lexer.process_word(expr, &env));
        assert!(out.is_ok(), "{expr}: {out:?}");
        report(case, "rbuild", small.len(), t);
        match bash_time(expr, small.len()) {
            Some(t) => report(case, "bash", small.len(), t),
            None => println!("{case:<20} bash    (failed or timed out)"),
        }
    }
}
