//! The top level of an ISO base media file (MP4, MOV, HEIF): each box's kind, offset and size, read from its header
//! and checked against the file, its body seeked past.

use std::io::{Read, Seek, SeekFrom};

use super::errors::{truncated, ProbeError};

/// Most top-level boxes walked: a fragmented file is read no further than its index and first fragment, and any
/// other file has a handful.
const MAX_TOP_LEVEL_BOXES: usize = 10_000;

/// A top-level box: where it starts and how long it is, header included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TopBox {
    pub kind: [u8; 4],
    pub offset: u64,
    pub size: u64,
}

fn kind_name(kind: &[u8; 4]) -> String {
    String::from_utf8_lossy(kind).into_owned()
}

/// Walks the top-level boxes from the start, checking each fits in the file, while `go_on` says so after each one.
pub(crate) fn walk_top_level<R: Read + Seek>(
    r: &mut R,
    size: u64,
    mut go_on: impl FnMut(&[TopBox]) -> bool,
) -> Result<Vec<TopBox>, ProbeError> {
    let mut boxes = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        if boxes.len() >= MAX_TOP_LEVEL_BOXES {
            return Err(ProbeError::Malformed(format!(
                "it has more than {MAX_TOP_LEVEL_BOXES} top-level boxes"
            )));
        }
        if pos + 8 > size {
            return Err(ProbeError::Truncated("the end of its last box".to_owned()));
        }
        r.seek(SeekFrom::Start(pos))?;
        let mut head = [0u8; 8];
        r.read_exact(&mut head)
            .map_err(|e| truncated(e, "the end of its last box"))?;
        let kind = [head[4], head[5], head[6], head[7]];
        let declared = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let (box_size, header) = match declared {
            0 => (size - pos, 8),
            1 => {
                let mut large = [0u8; 8];
                r.read_exact(&mut large)
                    .map_err(|e| truncated(e, "the end of its last box"))?;
                (u64::from_be_bytes(large), 16)
            }
            n => (n, 8),
        };
        if box_size < header {
            return Err(ProbeError::Malformed(format!(
                "its `{}` box is shorter than its header",
                kind_name(&kind)
            )));
        }
        if box_size > size - pos {
            return Err(ProbeError::Truncated(format!(
                "the end of its `{}` box",
                kind_name(&kind)
            )));
        }
        boxes.push(TopBox {
            kind,
            offset: pos,
            size: box_size,
        });
        pos += box_size;
        if !go_on(&boxes) {
            break;
        }
    }
    Ok(boxes)
}
