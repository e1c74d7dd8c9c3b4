//! Container logs in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`. Writing
//! splits output into lines (a partial line is flushed as is when large or
//! at the end); reading supports `--tail`, `--since`, `-t` and following.

use super::time;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// One log line as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Appends output of one stream to a log file, line by line.
pub struct LogWriter {
    file: File,
    pending: Vec<u8>,
    stream: &'static str,
}

/// A partial line longer than this is written without waiting for '\n' (docker's 16 KiB).
const MAX_PARTIAL: usize = 16 * 1024;

impl LogWriter {
    pub fn open(path: &Path, stream: &'static str) -> std::io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogWriter {
            file,
            pending: Vec::new(),
            stream,
        })
    }

    /// Adds bytes; every complete line becomes one entry.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        while let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            self.emit(&line)?;
        }
        if self.pending.len() >= MAX_PARTIAL {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line)?;
        }
        Ok(())
    }

    /// Writes a trailing partial line.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line)?;
        }
        Ok(())
    }

    fn emit(&mut self, line: &[u8]) -> std::io::Result<()> {
        let entry = LogEntry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: self.stream.to_string(),
            time: time::now_rfc3339(),
        };
        let mut bytes = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        // One write(2) per entry on an O_APPEND file: concurrent writers of
        // stdout and stderr never interleave inside a line.
        self.file.write_all(&bytes)
    }
}

/// What `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// `--tail N`: only the last N entries.
    pub tail: Option<usize>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    /// `-t`: prefix each line with its time.
    pub timestamps: bool,
}

impl LogQuery {
    fn wants(&self, e: &LogEntry) -> bool {
        let t = time::parse(&e.time);
        let after = match (self.since, t) {
            (Some(s), Some(t)) => t >= s,
            _ => true,
        };
        let before = match (self.until, t) {
            (Some(u), Some(t)) => t <= u,
            _ => true,
        };
        after && before
    }

    /// The bytes to print for one entry.
    pub fn render(&self, e: &LogEntry) -> String {
        if self.timestamps {
            format!("{} {}", e.time, e.log)
        } else {
            e.log.clone()
        }
    }
}

/// Reads the entries of `path` matching `q` (tail applied); also returns the
/// offset read up to, for following. A missing file has no entries.
pub fn read(path: &Path, q: &LogQuery) -> std::io::Result<(Vec<LogEntry>, u64)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut r = BufReader::new(file);
    let (entries, offset) = read_from(&mut r)?;
    let mut out: Vec<LogEntry> = entries.into_iter().filter(|e| q.wants(e)).collect();
    if let Some(n) = q.tail {
        let skip = out.len().saturating_sub(n);
        out.drain(..skip);
    }
    Ok((out, offset))
}

/// Complete lines from the reader's position; returns them and the offset
/// after the last complete line (a line still being written is left).
fn read_from<R: BufRead + Seek>(r: &mut R) -> std::io::Result<(Vec<LogEntry>, u64)> {
    let mut out = Vec::new();
    let mut offset = r.stream_position()?;
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        offset += n as u64;
        match serde_json::from_str::<LogEntry>(&line) {
            Ok(e) => out.push(e),
            Err(e) => log::warn!("skipping malformed log line: {e}"),
        }
    }
    Ok((out, offset))
}

/// Calls `emit` for entries appended after `offset` until `done()` says the
/// writer has finished (then drains what is left).
pub fn follow(
    path: &Path,
    mut offset: u64,
    q: &LogQuery,
    done: &mut dyn FnMut() -> bool,
    emit: &mut dyn FnMut(&LogEntry) -> std::io::Result<()>,
) -> std::io::Result<()> {
    loop {
        let finished = done();
        if let Ok(f) = File::open(path) {
            let mut r = BufReader::new(f);
            r.seek(SeekFrom::Start(offset))?;
            let (entries, next) = read_from(&mut r)?;
            offset = next;
            for e in entries.iter().filter(|e| q.wants(e)) {
                emit(e)?;
            }
        }
        if finished {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_with_tail_and_partial() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("log");
        let mut out = LogWriter::open(&p, "stdout").expect("open");
        let mut err = LogWriter::open(&p, "stderr").expect("open");
        out.write(b"one\ntw").expect("w");
        err.write(b"oops\n").expect("w");
        out.write(b"o\nthree").expect("w");
        out.flush().expect("f");
        let (all, end) = read(&p, &LogQuery::default()).expect("read");
        let logs: Vec<(&str, &str)> = all
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(
            logs,
            [
                ("stdout", "one\n"),
                ("stderr", "oops\n"),
                ("stdout", "two\n"),
                ("stdout", "three")
            ]
        );
        assert_eq!(end, std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0));
        let q = LogQuery {
            tail: Some(1),
            timestamps: true,
            ..Default::default()
        };
        let (last, _) = read(&p, &q).expect("read");
        assert_eq!(last.len(), 1);
        assert!(q.render(&last[0]).ends_with("Z three"));
        let mut seen = Vec::new();
        follow(&p, 0, &LogQuery::default(), &mut || true, &mut |e| {
            seen.push(e.log.clone());
            Ok(())
        })
        .expect("follow");
        assert_eq!(seen.len(), 4);
        let (none, _) = read(&d.path().join("missing"), &LogQuery::default()).expect("r");
        assert!(none.is_empty());
    }
}
