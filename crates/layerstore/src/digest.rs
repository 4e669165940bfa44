//! sha256 digests and readers/writers that compute them on the fly, so data
//! is hashed exactly once, while it streams.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// A validated `sha256:<64 lowercase hex>` content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Digest of an in-memory byte string.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest of everything fed to `h`.
    pub fn from_hasher(h: Sha256) -> Digest {
        Digest {
            hex: hex::encode(h.finalize()),
        }
    }

    /// Parses bare 64-digit hex (no algorithm prefix).
    pub fn from_hex(hex: &str) -> Result<Digest, Error> {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest {
                hex: hex.to_string(),
            })
        } else {
            Err(Error::InvalidDigest(hex.to_string()))
        }
    }

    /// The 64 hex digits, without `sha256:`.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest, Error> {
        match s.strip_prefix("sha256:") {
            Some(hex) => Digest::from_hex(hex).map_err(|_| Error::InvalidDigest(s.to_string())),
            None => Err(Error::InvalidDigest(s.to_string())),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Serialised as bare hex: the algorithm is always sha256 here.
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.hex())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads the rest of the stream (so trailing bytes count too) and returns
    /// the digest and byte count of everything that passed through.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_hasher(self.hasher), self.count))
    }

    /// Digest and count of what has passed through so far.
    pub fn digest_so_far(&self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher.clone()), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Reader that counts what is read through it and hashes it only when
/// asked to, for streams whose digest is often already known.
pub struct MaybeHashingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    count: u64,
}

impl<R: Read> MaybeHashingReader<R> {
    pub fn new(inner: R, hash: bool) -> Self {
        MaybeHashingReader {
            inner,
            hasher: hash.then(Sha256::new),
            count: 0,
        }
    }

    /// Reads to the end; returns the digest (if hashing) and byte count.
    pub fn finish(mut self) -> io::Result<(Option<Digest>, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher.map(Digest::from_hasher), self.count))
    }
}

impl<R: Read> Read for MaybeHashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes a stream on a helper thread, so hashing a whole layer overlaps
/// with hashing and writing its files on the caller's thread. Memory is
/// bounded by the channel: at most `QUEUE` chunks of `CHUNK` bytes.
pub struct BackgroundHasher {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    handle: Option<std::thread::JoinHandle<Sha256>>,
    buf: Vec<u8>,
}

impl BackgroundHasher {
    const CHUNK: usize = 256 << 10;
    const QUEUE: usize = 16;

    pub fn new() -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(Self::QUEUE);
        let handle = std::thread::spawn(move || {
            let mut h = Sha256::new();
            for chunk in rx {
                h.update(&chunk);
            }
            h
        });
        BackgroundHasher {
            tx: Some(tx),
            handle: Some(handle),
            buf: Vec::with_capacity(Self::CHUNK),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= Self::CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(Self::CHUNK));
        if let Some(tx) = &self.tx {
            // The receiver lives until the sender is dropped.
            tx.send(full).expect("hashing thread alive");
        }
    }

    pub fn finish(mut self) -> Digest {
        self.flush();
        self.tx = None;
        let h = self
            .handle
            .take()
            .expect("finished once")
            .join()
            .expect("hashing thread does not panic");
        Digest::from_hasher(h)
    }
}

impl Default for BackgroundHasher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!(
            "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse::<Digest>()
                .is_err()
        );
        assert!(Digest::from_hex(&"E".repeat(64)).is_err());
    }
}
