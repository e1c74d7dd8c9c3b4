//! Parallel gzip for layer blobs: the tar stream is cut into fixed-size
//! chunks, each compressed as its own gzip member on a worker thread, and the
//! members are written in order by one sink thread (a multi-member gzip
//! stream, which every gzip reader, Go's included, reads as one). The sink
//! owns the output, so hashing and writing the compressed bytes overlaps with
//! producing and hashing the tar on the caller's thread.
//!
//! A chunk whose samples do not shrink at level 1 (random data, media, already
//! compressed files) is written as stored deflate blocks: compressing it would
//! burn a core for nothing. Both choices depend only on the input and
//! [`CHUNK`], never on the number of threads or timing, so layers stay
//! reproducible. A stream shorter than one chunk is compressed inline.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// Bytes per gzip member.
pub const CHUNK: usize = 4 << 20;
/// Bytes per compressibility sample; three are taken from a full chunk.
const SAMPLE: usize = 64 << 10;

type Member = JoinHandle<io::Result<Vec<u8>>>;

/// A gzip writer that compresses [`CHUNK`]s on all cores.
pub struct ParallelGzWriter<W: Write + Send + 'static> {
    /// The output until the first full chunk starts the sink thread.
    out: Option<W>,
    buf: Vec<u8>,
    to_sink: Option<SyncSender<Member>>,
    sink: Option<JoinHandle<io::Result<W>>>,
    max_pending: usize,
}

/// Whether level-1 deflate would gain (almost) nothing on `data`, judged from
/// samples at its start, middle and end.
fn looks_incompressible(data: &[u8]) -> bool {
    if data.len() < 4 * SAMPLE {
        return false;
    }
    let starts = [0, data.len() / 2 - SAMPLE / 2, data.len() - SAMPLE];
    starts.iter().all(|&start| {
        let sample = data.get(start..start + SAMPLE).unwrap_or_default();
        let mut enc = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(SAMPLE + 1024),
            flate2::Compression::fast(),
        );
        match enc.write_all(sample).and_then(|()| enc.finish()) {
            // Saving under 2% is not worth the CPU.
            Ok(out) => out.len() * 100 >= sample.len() * 98,
            Err(_) => false,
        }
    })
}

fn compress(data: &[u8]) -> io::Result<Vec<u8>> {
    if looks_incompressible(data) {
        return Ok(stored_member(data));
    }
    // No file name and mtime 0 in the header: the same bytes every time.
    let mut enc = flate2::GzBuilder::new().write(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::fast(),
    );
    enc.write_all(data)?;
    enc.finish()
}

/// A gzip member holding `data` in stored deflate blocks (RFC 1951 3.2.4),
/// written directly: miniz_oxide's level 0 copies byte by byte and costs
/// more than the hashing around it.
fn stored_member(data: &[u8]) -> Vec<u8> {
    const MAX_BLOCK: usize = 0xffff;
    let blocks = data.len().div_ceil(MAX_BLOCK).max(1);
    let mut out = Vec::with_capacity(data.len() + blocks * 5 + 18);
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=unknown.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut rest = data;
    loop {
        let (block, tail) = rest.split_at(rest.len().min(MAX_BLOCK));
        let len = block.len() as u16;
        out.push(u8::from(tail.is_empty())); // BFINAL, BTYPE=00
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
        if tail.is_empty() {
            break;
        }
        rest = tail;
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Writes the members it receives, in order, to `out`.
fn sink<W: Write>(mut out: W, members: std::sync::mpsc::Receiver<Member>) -> io::Result<W> {
    for member in members {
        let bytes = member
            .join()
            .map_err(|_| io::Error::other("a gzip worker thread panicked"))??;
        out.write_all(&bytes)?;
    }
    out.flush()?;
    Ok(out)
}

impl<W: Write + Send + 'static> ParallelGzWriter<W> {
    pub fn new(out: W) -> ParallelGzWriter<W> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        ParallelGzWriter {
            out: Some(out),
            buf: Vec::with_capacity(CHUNK),
            to_sink: None,
            sink: None,
            max_pending: threads * 2,
        }
    }

    fn spawn_chunk(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        if self.to_sink.is_none() {
            let out = self.out.take().ok_or_else(sink_gone)?;
            let (tx, rx) = sync_channel(self.max_pending);
            let handle = std::thread::Builder::new()
                .name("gzip-sink".into())
                .spawn(move || sink(out, rx))?;
            self.to_sink = Some(tx);
            self.sink = Some(handle);
        }
        let handle = std::thread::Builder::new()
            .name("gzip".into())
            .spawn(move || compress(&chunk))?;
        let sent = self.to_sink.as_ref().map(|tx| tx.send(handle));
        match sent {
            Some(Ok(())) => Ok(()),
            // The sink stopped on an error: report that error.
            _ => Err(self.join_sink().err().unwrap_or_else(sink_gone)),
        }
    }

    fn join_sink(&mut self) -> io::Result<W> {
        self.to_sink = None;
        match self.sink.take() {
            Some(h) => h
                .join()
                .map_err(|_| io::Error::other("the gzip writer thread panicked"))?,
            None => Err(sink_gone()),
        }
    }

    /// Compresses what is left, writes every member in order, returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        let rest = std::mem::take(&mut self.buf);
        if let Some(mut out) = self.out.take() {
            out.write_all(&compress(&rest)?)?;
            out.flush()?;
            return Ok(out);
        }
        if !rest.is_empty() {
            self.spawn_chunk(rest)?;
        }
        self.join_sink()
    }
}

fn sink_gone() -> io::Error {
    io::Error::other("the gzip writer thread stopped")
}

impl<W: Write + Send + 'static> Write for ParallelGzWriter<W> {
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

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        let read = flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut back);
        assert!(read.is_ok(), "not valid gzip: {read:?}");
        back
    }

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
        assert_eq!(gunzip(&gz), data);
        assert!(gz.len() < data.len() / 10, "compressible data shrinks");
        let mut again = ParallelGzWriter::new(Vec::new());
        again.write_all(&data).unwrap_or_default();
        assert_eq!(again.finish().unwrap_or_default(), gz);
        let small = ParallelGzWriter::new(Vec::new())
            .finish()
            .unwrap_or_default();
        assert!(gunzip(&small).is_empty() && small.len() > 10);
    }

    #[test]
    fn incompressible_chunks_are_stored_and_round_trip() {
        // xorshift: incompressible, but the same bytes every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut data: Vec<u8> = (0..CHUNK * 2)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        // A compressible third chunk after two random ones.
        data.extend(std::iter::repeat_n(b'a', CHUNK));
        assert!(looks_incompressible(data.get(..CHUNK).unwrap_or_default()));
        assert!(!looks_incompressible(
            data.get(2 * CHUNK..).unwrap_or_default()
        ));
        let mut w = ParallelGzWriter::new(Vec::new());
        w.write_all(&data).unwrap_or_default();
        let gz = w.finish().unwrap_or_default();
        assert_eq!(gunzip(&gz), data);
        // Stored blocks cost a few bytes per 64 KiB; the 'a's almost nothing.
        assert!(gz.len() > 2 * CHUNK && gz.len() < 2 * CHUNK + CHUNK / 100);
    }

    #[test]
    fn stored_members_decode_at_block_edges() {
        for len in [0, 1, 0xffff, 0x10000, 3 * 0xffff + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            assert_eq!(gunzip(&stored_member(&data)), data, "length {len}");
        }
    }
}
