//! What a fake keeps of a large upload when it must not keep the bytes: how many arrived, a running SHA-256 of the
//! file they make up, which ranges arrived more than once, and when the first and last bytes came. A chunk's body is
//! read as it streams in (never gathered whole), so a fake in this mode holds a few frames of a chunk at a time,
//! whatever the size of the chunk or the file; its protocol checks run on the chunk's length as before.

use std::time::Instant;

use axum::body::Body;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// One upload's bytes as the fake saw them.
#[derive(Debug, Clone)]
pub struct Received {
    /// The size the upload announced.
    pub total: u64,
    /// How many bytes of the file the fake holds, from its start.
    pub held: u64,
    hasher: Sha256,
    /// The SHA-256 of the file (lowercase hex), once every byte arrived.
    pub sha256: Option<String>,
    /// Ranges `[start, end)` that arrived again after the fake already held them.
    pub twice: Vec<(u64, u64)>,
    /// Bytes that arrived in chunks the fake did not keep (refused, or cut off before their end).
    pub not_kept: u64,
    /// When the first byte the fake kept arrived, and the last.
    pub first_byte: Option<Instant>,
    pub last_byte: Option<Instant>,
}

impl Received {
    pub fn new(total: u64) -> Self {
        Self {
            total,
            held: 0,
            hasher: Sha256::new(),
            sha256: None,
            twice: Vec::new(),
            not_kept: 0,
            first_byte: None,
            last_byte: None,
        }
    }

    /// Bytes that arrived more than once and were kept again.
    pub fn twice_bytes(&self) -> u64 {
        self.twice.iter().map(|(s, e)| e - s).sum()
    }

    /// Whether every byte arrived.
    pub fn complete(&self) -> bool {
        self.held == self.total
    }

    /// Records a chunk the fake kept.
    pub fn keep(&mut self, chunk: Chunk) {
        if chunk.len == 0 {
            return;
        }
        let end = chunk.first + chunk.len;
        if chunk.first < self.held {
            self.twice.push((chunk.first, end.min(self.held)));
        }
        if end > self.held && chunk.first <= self.held {
            self.hasher = chunk.hasher;
            self.held = end;
        }
        if self.first_byte.is_none() {
            self.first_byte = chunk.started;
        }
        if chunk.ended.is_some() {
            self.last_byte = chunk.ended;
        }
        if self.complete() && self.sha256.is_none() {
            self.sha256 = Some(
                self.hasher
                    .clone()
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            );
        }
    }

    /// Records a chunk the fake refused.
    pub fn refuse(&mut self, chunk: &Chunk) {
        self.not_kept += chunk.len;
    }
}

/// A chunk's body as it streamed in: its length, and the running hash carried on with the bytes past those held.
pub struct Chunk {
    pub first: u64,
    pub len: u64,
    hasher: Sha256,
    started: Option<Instant>,
    ended: Option<Instant>,
}

/// The first byte's offset in `Content-Range: bytes FIRST-LAST/TOTAL`.
pub fn first_of(content_range: &str) -> Option<u64> {
    content_range
        .strip_prefix("bytes ")?
        .split_once('-')?
        .0
        .parse()
        .ok()
}

/// Reads `body`, a chunk starting at byte `first` of an upload standing as `upload`, without keeping it: only its
/// length and the hash of the file carried on with its new bytes. A body that breaks off ends the chunk there (the
/// fake then refuses it for its length).
pub async fn read_chunk(body: Body, first: u64, upload: &Received) -> Chunk {
    let mut chunk = Chunk {
        first,
        len: 0,
        hasher: upload.hasher.clone(),
        started: None,
        ended: None,
    };
    // Bytes before `held` are already in the hash; a chunk starting past `held` leaves a gap and is refused anyway.
    let hashing = first <= upload.held;
    let mut frames = body.into_data_stream();
    while let Some(frame) = frames.next().await {
        let Ok(bytes) = frame else { break };
        if bytes.is_empty() {
            continue;
        }
        let now = Instant::now();
        chunk.started.get_or_insert(now);
        chunk.ended = Some(now);
        let at = first + chunk.len;
        if hashing {
            let skip = upload.held.saturating_sub(at).min(bytes.len() as u64) as usize;
            chunk.hasher.update(&bytes[skip..]);
        }
        chunk.len += bytes.len() as u64;
    }
    chunk
}
