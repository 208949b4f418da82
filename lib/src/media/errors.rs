//! Why a file is refused: what probing found wrong with it, for a person to read.

use super::{MAX_IMAGE_BYTES, MAX_INDEX_BYTES, MAX_PIXELS, MAX_SIDE};

/// Why a file is not one Postora can take, for a person to read.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "the file is not an image or video Postora recognises (JPEG, PNG, GIF, WebP, HEIC, MP4, MOV)"
    )]
    Unrecognised,
    /// The file is cut off; the text says before what.
    #[error("the file ends before {0}")]
    Truncated(String),
    /// The header claims more pixels than [`MAX_PIXELS`] or a side longer than [`MAX_SIDE`].
    #[error(
        "the image claims {width}×{height} pixels, more than the {mp} megapixels ({side} pixels a side) Postora \
         accepts",
        mp = MAX_PIXELS / 1_000_000,
        side = MAX_SIDE
    )]
    TooManyPixels { width: u64, height: u64 },
    #[error(
        "the image is {bytes} bytes, more than the {max} Postora accepts for an image",
        max = MAX_IMAGE_BYTES
    )]
    ImageFileTooLarge { bytes: u64 },
    #[error("the video has no video track")]
    NoVideoTrack,
    #[error(
        "the video has no index (`moov` box), so how long it is and what it holds cannot be known"
    )]
    MissingIndex,
    #[error(
        "the video's index (`moov` box) is {bytes} bytes, more than the {max} Postora reads",
        max = MAX_INDEX_BYTES
    )]
    IndexTooLarge { bytes: u64 },
    #[error("the video does not say how long it is")]
    NoDuration,
    /// The structure is broken in some other way; the text says how.
    #[error("the file is damaged: {0}")]
    Malformed(String),
    #[error("the file could not be read: {0}")]
    Io(#[source] std::io::Error),
}

impl From<std::io::Error> for ProbeError {
    fn from(e: std::io::Error) -> Self {
        truncated(e, "its end")
    }
}

/// An end of file while reading is a cut-off file; other read errors are read errors.
pub(crate) fn truncated(e: std::io::Error, before: &str) -> ProbeError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ProbeError::Truncated(before.to_owned())
    } else {
        ProbeError::Io(e)
    }
}
