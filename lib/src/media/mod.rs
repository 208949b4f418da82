//! Understanding media files: recognising images and videos from their bytes, reading what they are without
//! reading all of them ([`probe`]), and making renditions that fit a platform ([`fit`]).
//!
//! Nothing here does I/O of its own: probing reads from a `Read + Seek` it is given, and rendering works on bytes in
//! memory. What a platform accepts is decided in `domain::media_rules`; this module only measures and makes.

mod boxes;
pub mod clean;
mod codec;
mod errors;
pub mod fit;
mod images;
mod metadata;
pub mod probe;
pub mod sniff;
mod video;

use std::io::{Read, Seek, SeekFrom};

pub use errors::ProbeError;
pub use fit::{render, FitError, Rendered, RenditionSpec};
pub use probe::probe;
pub use sniff::recognise;

/// Most pixels (width times height) an original image may have. A header that claims more is refused before
/// anything is decoded: 50 megapixels holds the largest photos phones and cameras make (8160 × 6120).
pub const MAX_PIXELS: u64 = 50_000_000;

/// Longest side an original image may have, in pixels (room for panoramas).
pub const MAX_SIDE: u32 = 20_000;

/// Largest original image file Postora reads, in bytes.
pub const MAX_IMAGE_BYTES: u64 = 100 * 1024 * 1024;

/// Largest video index (`moov` box) Postora reads, in bytes: a few hours of video at 60 frames a second.
pub const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;

/// A reader that counts the bytes read through it and the seeks made, to show how little of a file probing reads.
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    bytes_read: u64,
    seeks: u64,
}

impl<R> CountingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            bytes_read: 0,
            seeks: 0,
        }
    }

    /// Bytes handed out by `read` so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Calls to `seek` that moved the position (asking where it is does not count).
    pub fn seeks(&self) -> u64 {
        self.seeks
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes_read += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for CountingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        if pos != SeekFrom::Current(0) {
            self.seeks += 1;
        }
        self.inner.seek(pos)
    }
}

#[cfg(test)]
mod tests;
