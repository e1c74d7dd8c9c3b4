//! The `plain` renderer: BuildKit's numbered lines (`#5 [build 2/4] RUN make`,
//! `#5 0.512 output`, `#5 DONE 3.1s`), meant for CI logs. Lines of steps that
//! run in parallel interleave, each tagged with its number, as BuildKit does.

use super::{Event, Render};
use std::io::Write;
use std::time::Duration;

pub(crate) struct Plain<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> Plain<W> {
    pub(crate) fn new(out: W) -> Self {
        Plain { out }
    }
}

impl<W: Write + Send> Render for Plain<W> {
    fn event(&mut self, id: usize, name: &str, elapsed: Duration, event: &Event<'_>) {
        // Progress output is best effort: a closed stderr must not fail a build.
        let _ = match event {
            Event::Started => writeln!(self.out, "#{id} {name}"),
            Event::Log(_, text) => {
                writeln!(self.out, "#{id} {:.3} {text}", elapsed.as_secs_f64())
            }
            Event::Cached => writeln!(self.out, "#{id} CACHED\n"),
            Event::Done => writeln!(self.out, "#{id} DONE {:.1}s\n", elapsed.as_secs_f64()),
            Event::Error(msg) => writeln!(self.out, "#{id} ERROR: {msg}\n"),
        };
        let _ = self.out.flush();
    }
}
