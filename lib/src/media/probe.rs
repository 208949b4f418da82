//! [`probe`]: what a file is, read from its bytes. The format comes from the first bytes alone ([`recognise`]);
//! then images are measured from their headers and walked for their end and their metadata
//! (`media::images`), and videos are read from their index (`media::video`). Nothing is decoded.

use std::io::{Read, Seek, SeekFrom};

pub use super::errors::ProbeError;
use super::sniff::{recognise, HEAD_BYTES};
use super::{images, video};
use crate::domain::{MediaInfo, MediaKind};

/// What the `size` bytes behind `reader` are: format, dimensions (as shown, orientation applied), and for video
/// duration, frame rate and codecs; whether it carries location or camera metadata. Reads headers, metadata
/// blocks and a video's index, seeking past everything else. Refuses what it does not recognise, what is cut off
/// or broken, and images whose header claims more than [`MAX_PIXELS`].
pub fn probe<R: Read + Seek>(mut reader: R, size: u64) -> Result<MediaInfo, ProbeError> {
    reader.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    reader
        .by_ref()
        .take(HEAD_BYTES.min(usize::try_from(size).unwrap_or(HEAD_BYTES)) as u64)
        .read_to_end(&mut head)?;
    let format = recognise(&head).ok_or(ProbeError::Unrecognised)?;
    match format.kind() {
        MediaKind::Image => images::probe(reader, format, size),
        MediaKind::Video => video::probe(reader, format, size),
    }
}
