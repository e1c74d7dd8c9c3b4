//! The terminal renderer: one live indicatif line per running step (spinner,
//! elapsed time) with the last few output lines of that step beneath it; a
//! finished step collapses to one line (`=> CACHED`, `=> done 3.1s`).

use super::{Event, Render};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Output lines kept under a running step.
const TAIL_LINES: usize = 6;

struct Live {
    bar: ProgressBar,
    tail: VecDeque<String>,
}

pub(crate) struct Tty {
    multi: MultiProgress,
    live: HashMap<usize, Live>,
}

impl Tty {
    pub(crate) fn new() -> Self {
        Tty {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            live: HashMap::new(),
        }
    }

    fn style() -> ProgressStyle {
        ProgressStyle::with_template(" {spinner:.cyan} {prefix} {elapsed:>4}\n{wide_msg:.dim}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    fn close(&mut self, id: usize, line: String) {
        if let Some(l) = self.live.remove(&id) {
            l.bar.finish_and_clear();
            self.multi.remove(&l.bar);
        }
        let _ = self.multi.println(line);
    }
}

impl Render for Tty {
    fn event(&mut self, id: usize, name: &str, elapsed: Duration, event: &Event<'_>) {
        match event {
            Event::Started => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(Self::style());
                bar.set_prefix(format!("=> {name}"));
                bar.enable_steady_tick(Duration::from_millis(100));
                self.live.insert(
                    id,
                    Live {
                        bar,
                        tail: VecDeque::new(),
                    },
                );
            }
            Event::Log(_, text) => {
                if let Some(l) = self.live.get_mut(&id) {
                    if l.tail.len() == TAIL_LINES {
                        l.tail.pop_front();
                    }
                    l.tail.push_back(format!("   {text}"));
                    let msg: Vec<&str> = l.tail.iter().map(String::as_str).collect();
                    l.bar.set_message(msg.join("\n"));
                }
            }
            Event::Cached => self.close(id, format!(" => CACHED {name}")),
            Event::Done => self.close(id, format!(" => {name} {:.1}s", elapsed.as_secs_f64())),
            Event::Error(msg) => {
                let tail = self
                    .live
                    .get(&id)
                    .map(|l| l.tail.iter().cloned().collect::<Vec<_>>().join("\n"))
                    .unwrap_or_default();
                let mut line = format!(" => ERROR {name} {:.1}s", elapsed.as_secs_f64());
                if !tail.is_empty() {
                    line.push('\n');
                    line.push_str(&tail);
                }
                line.push_str(&format!("\n    {msg}"));
                self.close(id, line);
            }
        }
    }

    fn finish(&mut self) {
        for (_, l) in self.live.drain() {
            l.bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}
