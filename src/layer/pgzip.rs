//! Parallel gzip for layer blobs: the tar stream is cut into fixed-size
//! chunks, each compressed as its own gzip member on a worker thread, and the
//! members are written in order (a multi-member gzip stream, which every
//! gzip reader, Go's included, reads as one). The output depends only on the
//! input and [`CHUNK`], never on the number of threads, so layers stay
//! reproducible. A stream shorter than one chunk is compressed inline.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

/// Bytes per gzip member.
pub const CHUNK: usize = 4 << 20;

/// A gzip writer that compresses [`CHUNK`]s on all cores.
pub struct ParallelGzWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    pending: VecDeque<JoinHandle<io::Result<Vec<u8>>>>,
    max_pending: usize,
}

fn compress(data: &[u8]) -> io::Result<Vec<u8>> {
    // No file name and mtime 0 in the header: the same bytes every time.
    let mut enc = flate2::GzBuilder::new().write(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::fast(),
    );
    enc.write_all(data)?;
    enc.finish()
}

impl<W: Write> ParallelGzWriter<W> {
    pub fn new(out: W) -> ParallelGzWriter<W> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        ParallelGzWriter {
            out,
            buf: Vec::with_capacity(CHUNK),
            pending: VecDeque::new(),
            max_pending: threads * 2,
        }
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(h) = self.pending.pop_front() {
            let member = h
                .join()
                .map_err(|_| io::Error::other("a gzip worker thread panicked"))??;
            self.out.write_all(&member)?;
        }
        Ok(())
    }

    fn spawn_chunk(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        if self.pending.len() >= self.max_pending {
            self.write_oldest()?;
        }
        let handle = std::thread::Builder::new()
            .name("gzip".into())
            .spawn(move || compress(&chunk))?;
        self.pending.push_back(handle);
        Ok(())
    }

    /// Compresses what is left, writes every member in order, returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        let rest = std::mem::take(&mut self.buf);
        if self.pending.is_empty() {
            let member = compress(&rest)?;
            self.out.write_all(&member)?;
        } else if !rest.is_empty() {
            self.spawn_chunk(rest)?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ParallelGzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let take = data.len().min(room);
        self.buf
            .extend_from_slice(data.get(..take).unwrap_or_default());
        if self.buf.len() == CHUNK {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.spawn_chunk(chunk)?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Members are only complete at chunk boundaries; `finish` writes the rest.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn multi_member_output_round_trips_and_is_deterministic() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut w = ParallelGzWriter::new(Vec::new());
        for part in data.chunks(100_000) {
            w.write_all(part).unwrap_or_default();
        }
        let gz = w.finish().unwrap_or_default();
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap_or_default();
        assert_eq!(back, data);
        let mut again = ParallelGzWriter::new(Vec::new());
        again.write_all(&data).unwrap_or_default();
        assert_eq!(again.finish().unwrap_or_default(), gz);
        let small = ParallelGzWriter::new(Vec::new())
            .finish()
            .unwrap_or_default();
        let mut empty = Vec::new();
        flate2::read::MultiGzDecoder::new(&small[..])
            .read_to_end(&mut empty)
            .unwrap_or_default();
        assert!(empty.is_empty() && small.len() > 10);
    }
}
