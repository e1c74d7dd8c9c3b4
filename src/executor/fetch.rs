//! `ADD <http(s) URL>`: downloads into the step's scratch space with the
//! sha256 computed on the way, checks `--checksum`, and keeps the server's
//! Last-Modified as the file's mtime (docker does). Downloads are never
//! extracted. The file name is the URL path's last segment.

use super::ExecError;
use crate::image::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A downloaded ADD source.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub file: PathBuf,
    /// The name it gets in the image.
    pub name: String,
    pub digest: Digest,
    pub mtime: Option<SystemTime>,
}

/// True for the sources ADD downloads.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Downloads `url` into `dir`; with `checksum` (`sha256:<hex>`) the content must match it.
pub fn fetch(url: &str, dir: &Path, checksum: Option<&str>) -> Result<Fetched, ExecError> {
    let fail = |why: String| ExecError::Copy(format!("downloading {url}: {why}"));
    let want = checksum
        .map(|c| Digest::from_hex(c.strip_prefix("sha256:").unwrap_or(c)))
        .transpose()
        .map_err(|e| {
            fail(format!(
                "invalid --checksum: {e} (use sha256:<64 hex digits>)"
            ))
        })?;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(300))
        .build();
    let resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let mtime = resp.header("Last-Modified").and_then(parse_http_date);
    let name = url_file_name(url);
    std::fs::create_dir_all(dir).map_err(|e| ExecError::io(dir, e))?;
    let file = dir.join(format!(
        "download-{}",
        hex::encode(Sha256::digest(url.as_bytes()))
    ));
    let mut out = std::fs::File::create(&file).map_err(|e| ExecError::io(&file, e))?;
    let mut body = resp.into_reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| fail(format!("reading the body: {e}")))?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        out.write_all(chunk).map_err(|e| ExecError::io(&file, e))?;
    }
    let digest = Digest::from_sha256(hasher.finalize().into());
    if let Some(w) = want {
        if w != digest {
            return Err(fail(format!(
                "content digest {digest} does not match --checksum {w}"
            )));
        }
    }
    Ok(Fetched {
        file,
        name,
        digest,
        mtime,
    })
}

/// The last non-empty path segment of a URL (`index.html` when there is none).
fn url_file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let path = path.split_once('/').map_or("", |(_, p)| p);
    path.rsplit('/')
        .find(|s| !s.is_empty() && *s != "." && *s != "..")
        .unwrap_or("index.html")
        .to_string()
}

/// Parses an IMF-fixdate (`Tue, 15 Nov 1994 08:12:31 GMT`).
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, _] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let text = format!("{year}-{month:02}-{:02}T{time}Z", day.parse::<u32>().ok()?);
    humantime::parse_rfc3339(&text).ok()
}

/// Seconds since the epoch of `t`.
pub fn epoch_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_dates() {
        assert_eq!(url_file_name("http://h/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(url_file_name("https://h/"), "index.html");
        assert_eq!(url_file_name("http://h/dir/"), "dir");
        let t = parse_http_date("Tue, 15 Nov 1994 08:12:31 GMT").map(epoch_secs);
        assert_eq!(t, Some(784887151));
    }
}
