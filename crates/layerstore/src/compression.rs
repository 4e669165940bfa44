//! Layer and archive compression, detected from magic bytes rather than
//! trusted from media types or file names.

use std::io::{self, BufRead, BufReader, Read, Write};

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

/// Compression level for [`encoder`]: fixed, because a layer's compressed
/// digest must not depend on who pushes it or when.
const GZIP_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;

/// A deterministic compressor writing to `w`: the same input always gives
/// the same bytes (gzip without name or time, fixed levels, single
/// thread). `finish` must be called to write the trailer.
pub fn encoder<'a, W: Write + 'a>(c: Compression, w: W) -> io::Result<Encoder<'a, W>> {
    Ok(match c {
        Compression::None => Encoder::None(w),
        Compression::Gzip => Encoder::Gzip(
            flate2::GzBuilder::new()
                .mtime(0)
                .write(w, flate2::Compression::new(GZIP_LEVEL)),
        ),
        Compression::Zstd => {
            let mut z = zstd::Encoder::new(w, ZSTD_LEVEL)?;
            z.include_checksum(false)?;
            z.include_contentsize(false)?;
            Encoder::Zstd(z)
        }
    })
}

/// See [`encoder`].
pub enum Encoder<'a, W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::Encoder<'a, W>),
}

impl<W: Write> Encoder<'_, W> {
    /// Writes the trailer and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(g) => g.finish(),
            Encoder::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(g) => g.write(buf),
            Encoder::Zstd(z) => z.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(g) => g.flush(),
            Encoder::Zstd(z) => z.flush(),
        }
    }
}
