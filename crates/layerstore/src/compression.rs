//! Layer and archive compression, detected from magic bytes rather than
//! trusted from media types or file names.

use std::io::{self, BufRead, BufReader, Read};

/// Compression of a stream, by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Compression of a stream that starts with `head`.
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// A reader of the decompressed stream. Decompression streams: memory
/// stays bounded whatever the ratio.
pub fn decoder<'a, R: BufRead + 'a>(c: Compression, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::Decoder::with_buffer(r)?),
    })
}

/// Peeks at the first bytes of `r` and returns a reader of the decompressed
/// stream.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut r = BufReader::with_capacity(128 << 10, r);
    let c = detect(r.fill_buf()?);
    Ok((c, decoder(c, r)?))
}
