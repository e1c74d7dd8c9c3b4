//! Transfer progress: one indicatif bar per blob on a terminal (Docker's
//! `Downloading` / `Pull complete` lines), one plain line per finished blob
//! otherwise, nothing in quiet mode. Only the display; no transfer logic.

use super::ProgressMode;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// The bars of one pull or push.
pub(crate) struct Transfers {
    multi: Option<MultiProgress>,
    plain: bool,
}

/// The bar (or line printer) of one blob.
#[derive(Clone)]
pub(crate) struct BlobBar {
    bar: Option<ProgressBar>,
    plain: bool,
    label: String,
}

impl Transfers {
    pub fn new(mode: ProgressMode) -> Transfers {
        match mode {
            ProgressMode::Quiet => Transfers {
                multi: None,
                plain: false,
            },
            ProgressMode::Auto if std::io::stderr().is_terminal() => Transfers {
                multi: Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
                plain: false,
            },
            ProgressMode::Auto => Transfers {
                multi: None,
                plain: true,
            },
        }
    }

    /// A bar for the blob `short` (12 hex digits) of `size` bytes.
    pub fn blob(&self, short: &str, size: u64, verb: &str) -> BlobBar {
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new(size));
            let style = ProgressStyle::with_template(
                "{prefix}: {msg:<12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(short.to_string());
            b.set_message(verb.to_string());
            b
        });
        BlobBar {
            bar,
            plain: self.plain,
            label: short.to_string(),
        }
    }

    /// A message line above the bars (or on stderr).
    pub fn line(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None if self.plain => eprintln!("{msg}"),
            None => {}
        }
    }
}

impl BlobBar {
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Starts over (a retried transfer).
    pub fn reset(&self) {
        if let Some(b) = &self.bar {
            b.set_position(0);
        }
    }

    /// Ends the bar with `msg` ("Pull complete", "Already exists", "Pushed").
    pub fn finish(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.finish_with_message(msg.to_string()),
            None if self.plain => eprintln!("{}: {msg}", self.label),
            None => {}
        }
    }

    pub fn fail(&self) {
        if let Some(b) = &self.bar {
            b.abandon_with_message("failed");
        }
    }
}
