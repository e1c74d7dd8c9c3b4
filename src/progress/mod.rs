//! Build progress reporting: the steps of a build (BuildKit calls them
//! vertices) announce start, output, cache hits, completion and failure here,
//! and the chosen [`Mode`] renders them: live indicatif lines on a terminal,
//! BuildKit-style numbered `#N` lines for CI (`plain`), JSON lines (`rawjson`)
//! or nothing (`quiet`). It does not decide what a step is or run anything.

mod plain;
mod tty;

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Quiet,
    RawJson,
}

/// An unknown `--progress` value.
#[derive(Debug, thiserror::Error)]
#[error("invalid progress mode {0:?}: use auto, tty, plain, quiet or rawjson")]
pub struct ModeError(String);

impl Mode {
    /// Parses `--progress`; `auto` picks `tty` when stderr is a terminal.
    pub fn from_flag(value: &str) -> Result<Mode, ModeError> {
        match value {
            "auto" => Ok(if std::io::stderr().is_terminal() {
                Mode::Tty
            } else {
                Mode::Plain
            }),
            "tty" => Ok(Mode::Tty),
            "plain" => Ok(Mode::Plain),
            "quiet" => Ok(Mode::Quiet),
            "rawjson" => Ok(Mode::RawJson),
            other => Err(ModeError(other.to_string())),
        }
    }
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What happened to a step; sent to the renderer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event<'a> {
    Started,
    Log(Stream, &'a str),
    Cached,
    Done,
    Error(&'a str),
}

/// A renderer for one [`Mode`].
pub(crate) trait Render: Send {
    fn event(&mut self, id: usize, name: &str, elapsed: Duration, event: &Event<'_>);
    fn finish(&mut self) {}
}

struct Quiet;
impl Render for Quiet {
    fn event(&mut self, _: usize, _: &str, _: Duration, _: &Event<'_>) {}
}

struct RawJson;
impl Render for RawJson {
    fn event(&mut self, id: usize, name: &str, elapsed: Duration, event: &Event<'_>) {
        let (kind, text, stream) = match event {
            Event::Started => ("started", None, None),
            Event::Log(s, t) => (
                "log",
                Some(*t),
                Some(if *s == Stream::Stdout { 1 } else { 2 }),
            ),
            Event::Cached => ("cached", None, None),
            Event::Done => ("completed", None, None),
            Event::Error(t) => ("error", Some(*t), None),
        };
        let v = serde_json::json!({
            "vertex": id, "name": name, "event": kind, "text": text,
            "stream": stream, "elapsed": elapsed.as_secs_f64(),
        });
        eprintln!("{v}");
    }
}

struct Shared {
    render: Box<dyn Render>,
    next_id: usize,
}

/// The progress reporter of one build; cheap to clone and share across threads.
#[derive(Clone)]
pub struct Progress {
    shared: Arc<Mutex<Shared>>,
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        let render: Box<dyn Render> = match mode {
            Mode::Tty => Box::new(tty::Tty::new()),
            Mode::Plain => Box::new(plain::Plain::new(std::io::stderr())),
            Mode::Quiet => Box::new(Quiet),
            Mode::RawJson => Box::new(RawJson),
        };
        Progress {
            shared: Arc::new(Mutex::new(Shared { render, next_id: 1 })),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_renderer(render: Box<dyn Render>) -> Progress {
        Progress {
            shared: Arc::new(Mutex::new(Shared { render, next_id: 1 })),
        }
    }

    /// Announces a step, e.g. `[build 2/4] RUN make`, and starts its clock.
    pub fn step(&self, name: impl Into<String>) -> Step {
        let name = name.into();
        let id = {
            let mut s = self.lock();
            let id = s.next_id;
            s.next_id += 1;
            s.render.event(id, &name, Duration::ZERO, &Event::Started);
            id
        };
        Step {
            progress: self.clone(),
            id,
            name,
            start: Instant::now(),
            pending: Vec::new(),
            ended: false,
        }
    }

    /// Ends the display (clears live lines on a terminal).
    pub fn finish(&self) {
        self.lock().render.finish();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A renderer that panicked leaves plain data behind; keep reporting.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, id: usize, name: &str, elapsed: Duration, event: Event<'_>) {
        self.lock().render.event(id, name, elapsed, &event);
    }
}

/// One running step. Dropping it without [`Step::done`], [`Step::cached`] or
/// [`Step::error`] reports it as cancelled.
pub struct Step {
    progress: Progress,
    id: usize,
    name: String,
    start: Instant,
    /// Bytes of an unfinished output line, kept until its newline arrives.
    pending: Vec<u8>,
    ended: bool,
}

impl Step {
    /// Adds raw process output; complete lines are shown, a partial last line
    /// waits for more (or for the end of the step).
    pub fn output(&mut self, stream: Stream, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            let text = text.trim_end_matches('\r');
            self.progress.emit(
                self.id,
                &self.name,
                self.start.elapsed(),
                Event::Log(stream, text),
            );
        }
    }

    /// Shows a status line of the step's own (not process output).
    pub fn log(&mut self, text: &str) {
        self.progress.emit(
            self.id,
            &self.name,
            self.start.elapsed(),
            Event::Log(Stream::Stderr, text),
        );
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.progress.emit(
                self.id,
                &self.name,
                self.start.elapsed(),
                Event::Log(Stream::Stdout, &text),
            );
        }
    }

    fn end(mut self, event: Event<'_>) {
        self.flush();
        self.ended = true;
        self.progress
            .emit(self.id, &self.name, self.start.elapsed(), event);
    }

    /// The step was satisfied from the cache.
    pub fn cached(self) {
        self.end(Event::Cached);
    }

    /// The step finished.
    pub fn done(self) {
        self.end(Event::Done);
    }

    /// The step failed with `message`.
    pub fn error(self, message: &str) {
        self.end(Event::Error(message));
    }

    /// Time since the step started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.ended {
            self.flush();
            self.progress.emit(
                self.id,
                &self.name,
                self.start.elapsed(),
                Event::Error("CANCELED"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_output_is_buildkit_style() {
        let buf = Buf::default();
        let p = Progress::with_renderer(Box::new(plain::Plain::new(buf.clone())));
        let mut s = p.step("[build 2/4] RUN make");
        s.output(Stream::Stdout, b"hello\nwor");
        s.output(Stream::Stdout, b"ld\npartial");
        s.done();
        p.step("[2/3] COPY . .").cached();
        p.step("[3/3] RUN false").error("exit code: 1");
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "#1 [build 2/4] RUN make");
        assert!(
            lines[1].starts_with("#1 0.") && lines[1].ends_with(" hello"),
            "{out}"
        );
        assert!(lines[2].ends_with(" world"), "{out}");
        assert!(lines[3].ends_with(" partial"), "{out}");
        assert!(
            lines[4].starts_with("#1 DONE ") && lines[4].ends_with('s'),
            "{out}"
        );
        assert_eq!(lines[5], "");
        assert_eq!(lines[6], "#2 [2/3] COPY . .");
        assert_eq!(lines[7], "#2 CACHED");
        assert!(out.contains("#3 ERROR: exit code: 1"), "{out}");
    }

    #[test]
    fn mode_flags() {
        assert_eq!(Mode::from_flag("plain").unwrap(), Mode::Plain);
        assert_eq!(Mode::from_flag("rawjson").unwrap(), Mode::RawJson);
        assert!(Mode::from_flag("fancy").is_err());
    }
}
