//! Container output, kept in Docker's json-file format: one JSON object per
//! line with the text, the stream it came from and when.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{PathContext, Result};

pub const LOG_FILE: &str = "container.log";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    log: String,
    stream: Stream,
    time: String,
}

/// Appends output to a container's log, a line per record; a partial line
/// waits for its end (or for [`LogWriter::finish`]).
pub struct LogWriter {
    file: File,
    pending: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path) -> Result<LogWriter> {
        use std::os::unix::fs::OpenOptionsExt;
        // Explicit mode: the supervisor runs with umask 0.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)
            .at("open", path)?;
        Ok(LogWriter {
            file,
            pending: [Vec::new(), Vec::new()],
        })
    }

    fn record(&mut self, stream: Stream, bytes: &[u8]) {
        let entry = Entry {
            log: String::from_utf8_lossy(bytes).into_owned(),
            stream,
            time: crate::state::now(),
        };
        if let Ok(mut line) = serde_json::to_vec(&entry) {
            line.push(b'\n');
            // A full disk must not stop the container: the output is lost.
            let _ = self.file.write_all(&line);
        }
    }

    pub fn write(&mut self, stream: Stream, bytes: &[u8]) {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.pending[idx]);
        buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            self.record(stream, &buf[start..start + nl + 1]);
            start += nl + 1;
        }
        self.pending[idx] = buf.split_off(start);
    }

    /// Writes out any unterminated last lines.
    pub fn finish(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            if !rest.is_empty() {
                self.record(stream, &rest);
            }
        }
    }
}

/// Copies a log to `out`/`err`; with `follow`, keeps waiting for more until
/// `running()` says the container has ended and all is read.
pub fn copy(
    path: &Path,
    follow: bool,
    running: &dyn Fn() -> bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return Ok(()),
        Err(e) => return Err(e).at("open", path),
    };
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    loop {
        let was_running = running();
        let n = reader.read_line(&mut line).at("read", path)?;
        if n > 0 && line.ends_with('\n') {
            if let Ok(entry) = serde_json::from_str::<Entry>(&line) {
                let to: &mut dyn Write = if entry.stream == Stream::Stdout {
                    out
                } else {
                    err
                };
                to.write_all(entry.log.as_bytes())
                    .at("write", Path::new("-"))?;
                to.flush().at("write", Path::new("-"))?;
            }
            line.clear();
            continue;
        }
        // At the end (or mid-line while the writer finishes it).
        if !follow || !was_running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_per_stream() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join(LOG_FILE);
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, b"hel");
        w.write(Stream::Stderr, b"oops\n");
        w.write(Stream::Stdout, b"lo\nwor");
        w.write(Stream::Stdout, b"ld");
        w.finish();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        copy(&p, false, &|| false, &mut out, &mut err).unwrap();
        assert_eq!(out, b"hello\nworld");
        assert_eq!(err, b"oops\n");
    }
}
