//! Progress bars for long loads, imports and saves: drawn on stderr only
//! when it is a terminal, so scripts and tests see nothing.

use std::io::{IsTerminal, Read};

use indicatif::{ProgressBar, ProgressStyle};

use crate::escape::escape;

/// A byte-count bar for one layer.
pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar labelled `msg` (escaped: it names archive members), of `total`
    /// bytes when known.
    pub(crate) fn bytes(msg: String, total: Option<u64>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = match total {
            Some(t) => ProgressBar::new(t).with_style(
                ProgressStyle::with_template(
                    "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg:30!} {bytes} {bytes_per_sec}")
                    .expect("valid template"),
            ),
        };
        Progress {
            bar: bar.with_message(escape(msg)),
        }
    }

    /// Counts everything read through `r` on the bar.
    pub(crate) fn wrap<R: Read>(&self, r: R) -> impl Read {
        self.bar.wrap_read(r)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
