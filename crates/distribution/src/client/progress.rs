//! What a pull or push prints, in Docker's words: on a terminal one live
//! line per layer (`a1b2c3d4e5f6: Downloading [====>   ] 1.2MB/3.4MB`),
//! otherwise one line per layer when it is done; `-q` prints nothing here.

use std::io::{IsTerminal, Write};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

enum Mode {
    Quiet,
    Lines,
    Bars(MultiProgress),
}

/// The output of one command.
pub struct Progress {
    mode: Mode,
}

/// One layer's line.
pub struct LayerLine<'a> {
    progress: &'a Progress,
    id: String,
    bar: Option<ProgressBar>,
}

/// The 12 hex digits Docker shows for a layer.
pub fn short(digest: &layerstore::Digest) -> String {
    digest.hex()[..12].to_string()
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stdout()))
        } else {
            Mode::Lines
        };
        Progress { mode }
    }

    /// A status line (`latest: Pulling from library/busybox`).
    pub fn line(&self, s: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{s}");
            }
            Mode::Bars(m) => {
                let _ = m.println(s);
            }
        }
    }

    /// A line for layer `id` that starts as `status`.
    pub fn layer(&self, id: String, status: &str) -> LayerLine<'_> {
        let bar = match &self.mode {
            Mode::Bars(m) => {
                let b = m.add(ProgressBar::new(0).with_style(plain()));
                b.set_prefix(id.clone());
                b.set_message(status.to_string());
                b.tick();
                Some(b)
            }
            _ => None,
        };
        LayerLine {
            progress: self,
            id,
            bar,
        }
    }
}

fn plain() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").expect("valid template")
}

impl LayerLine<'_> {
    /// Starts counting `total` bytes under `status` (`Downloading`).
    pub fn start(&self, status: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(0);
            b.set_style(
                ProgressStyle::with_template("{prefix}: {msg} [{bar:50}] {bytes}/{total_bytes}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b.set_message(status.to_string());
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Ends the line as `status` (`Pull complete`, `Already exists`).
    pub fn done(&self, status: &str) {
        match &self.bar {
            Some(b) => {
                b.set_style(plain());
                b.finish_with_message(status.to_string());
            }
            None => self.progress.line(&format!("{}: {status}", self.id)),
        }
    }
}
