//! Writing big blobs around the page cache: a writer that gathers bytes in a
//! block-aligned buffer and writes whole buffers with `O_DIRECT`, the tail
//! buffered. A layer blob is written once and not read again by the build
//! that wrote it, so caching it only costs: on this kind of VM each new
//! page-cache page is a host page fault, and the dirty pages must still be
//! written out by the fsync that follows. Filesystems that refuse
//! `O_DIRECT` (tmpfs) get plain buffered writes; the bytes are the same.
//!
//! What it does not do: fsync or rename; the caller's commit does that.

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::io::{self, Write};
use std::os::fd::AsFd;

/// Alignment O_DIRECT needs for buffer address, file offset and length
/// (the logical block size; 4096 covers every disk in use).
const ALIGN: usize = 4096;
/// Bytes per direct write.
const BUF: usize = 4 << 20;

/// Wraps a freshly created, empty file.
pub struct DirectWriter<F: Write + AsFd> {
    file: F,
    /// Backing store; `start..start + BUF` is the aligned window.
    mem: Vec<u8>,
    start: usize,
    len: usize,
    direct: bool,
}

impl<F: Write + AsFd> DirectWriter<F> {
    pub fn new(file: F) -> DirectWriter<F> {
        let direct = set_direct(&file, true).is_ok();
        let mut mem = vec![0u8; BUF + ALIGN];
        let start = mem.as_mut_ptr().align_offset(ALIGN).min(ALIGN);
        DirectWriter {
            file,
            mem,
            start,
            len: 0,
            direct,
        }
    }

    /// Writes the first `n` buffered bytes (`n` a multiple of [`ALIGN`]
    /// unless direct I/O is off) and keeps the rest.
    fn write_out(&mut self, n: usize) -> io::Result<()> {
        let (start, len) = (self.start, self.len);
        let mut done = 0;
        while done < n {
            let chunk = self
                .mem
                .get(start + done..start + n)
                .ok_or_else(|| io::Error::other("direct write buffer out of range"))?;
            match self.file.write(chunk) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => done += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Some filesystems accept the flag but refuse the write (or
                // a partial write left the offset unaligned): go on buffered.
                Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                    set_direct(&self.file, false)?;
                    self.direct = false;
                }
                Err(e) => return Err(e),
            }
        }
        self.mem.copy_within(start + n..start + len, start);
        self.len -= n;
        Ok(())
    }

    /// Writes what is buffered and returns the file.
    pub fn finish(mut self) -> io::Result<F> {
        let whole = self.len / ALIGN * ALIGN;
        if whole > 0 {
            self.write_out(whole)?;
        }
        if self.len > 0 {
            // The tail is not a whole block: write it through the page cache.
            if self.direct {
                set_direct(&self.file, false)?;
                self.direct = false;
            }
            let n = self.len;
            self.write_out(n)?;
        }
        self.file.flush()?;
        Ok(self.file)
    }
}

fn set_direct(file: &impl AsFd, on: bool) -> io::Result<()> {
    let flags = fcntl(file.as_fd(), FcntlArg::F_GETFL)?;
    let mut flags = OFlag::from_bits_truncate(flags);
    flags.set(OFlag::O_DIRECT, on);
    fcntl(file.as_fd(), FcntlArg::F_SETFL(flags))?;
    Ok(())
}

impl<F: Write + AsFd> Write for DirectWriter<F> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let at = self.start + self.len;
        let take = data.len().min(BUF - self.len);
        let (Some(dst), Some(src)) = (self.mem.get_mut(at..at + take), data.get(..take)) else {
            return Err(io::Error::other("direct write buffer out of range"));
        };
        dst.copy_from_slice(src);
        self.len += take;
        if self.len == BUF {
            self.write_out(BUF)?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only whole buffers go out before `finish`.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_byte_in_order_with_an_unaligned_tail() {
        let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap_or_else(|e| panic!("{e}"));
        for len in [0, 1, ALIGN, BUF, BUF + 1, 2 * BUF + ALIGN + 17] {
            let path = dir.path().join(format!("blob-{len}"));
            let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut w = DirectWriter::new(file);
            for part in data.chunks(300_001) {
                w.write_all(part).unwrap_or_else(|e| panic!("{e}"));
            }
            w.finish().unwrap_or_else(|e| panic!("{e}"));
            let back = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(back == data, "length {len}: content differs");
        }
    }
}
