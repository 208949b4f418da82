//! A blocking `Read + Seek` over an object in the blob store, for the probes, which parse files the way their
//! crates read them: a box header here, a seek past a gigabyte of frames there. It reads the object a range at a
//! time, so probing a long video reads its headers, not its frames.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use futures_util::StreamExt;

use crate::ports::{BlobStore, ObjectKey};

/// How much one read asks the store for: box headers are small, and a round trip to S3 costs more than the bytes.
const WINDOW: u64 = 64 * 1024;

/// Reads an object through the blob store from a blocking thread (it must run inside a Tokio runtime, on a thread
/// where blocking is allowed, such as `spawn_blocking`'s).
pub struct BlobReader {
    blobs: Arc<dyn BlobStore>,
    key: ObjectKey,
    size: u64,
    pos: u64,
    window_start: u64,
    window: Vec<u8>,
    runtime: Option<tokio::runtime::Handle>,
}

impl BlobReader {
    pub fn new(blobs: Arc<dyn BlobStore>, key: ObjectKey, size: u64) -> Self {
        Self {
            blobs,
            key,
            size,
            pos: 0,
            window_start: 0,
            window: Vec::new(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let end = (self.pos + WINDOW).min(self.size);
        let runtime = self
            .runtime
            .clone()
            .ok_or_else(|| io::Error::other("no async runtime to read the object with"))?;
        let blobs = self.blobs.clone();
        let key = self.key.clone();
        let start = self.pos;
        let bytes = runtime.block_on(async move {
            let mut body = blobs
                .read(&key, start..end)
                .await
                .map_err(|e| io::Error::other(e.to_string()))?;
            let mut out = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
            while let Some(chunk) = body.next().await {
                out.extend_from_slice(&chunk?);
            }
            Ok::<_, io::Error>(out)
        })?;
        self.window_start = start;
        self.window = bytes;
        Ok(())
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let in_window = self.pos >= self.window_start
            && self.pos < self.window_start + self.window.len() as u64;
        if !in_window {
            self.fill()?;
            if self.window.is_empty() {
                return Ok(0);
            }
        }
        let offset = usize::try_from(self.pos - self.window_start).unwrap_or(usize::MAX);
        let available = &self.window[offset.min(self.window.len())..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        self.pos = target;
        Ok(target)
    }
}
