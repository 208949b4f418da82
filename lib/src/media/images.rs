//! Probing still images: dimensions from the header (checked before anything else is read), then a walk over the
//! file's structure that finds its end (so a cut-off file is noticed) and its metadata blocks (EXIF, XMP, IPTC),
//! without decoding a pixel.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use super::boxes::walk_top_level;
use super::errors::{truncated, ProbeError};
use super::metadata::{self, Facts};
use super::{MAX_IMAGE_BYTES, MAX_PIXELS, MAX_SIDE};
use crate::domain::{MediaFormat, MediaInfo};

/// Largest EXIF or text chunk read to look inside it; a larger one counts as private without being read.
const MAX_BLOCK: u64 = 1024 * 1024;

pub(crate) fn probe<R: Read + Seek>(
    reader: R,
    format: MediaFormat,
    size: u64,
) -> Result<MediaInfo, ProbeError> {
    if size > MAX_IMAGE_BYTES {
        return Err(ProbeError::ImageFileTooLarge { bytes: size });
    }
    let mut r = BufReader::new(reader);
    r.seek(SeekFrom::Start(0))?;
    let dims = imagesize::reader_size(&mut r).map_err(|e| match e {
        imagesize::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ProbeError::Truncated("the end of its header".to_owned())
        }
        imagesize::ImageError::IoError(io) if io.kind() != std::io::ErrorKind::InvalidData => {
            ProbeError::Io(io)
        }
        _ => ProbeError::Malformed("its header cannot be read".to_owned()),
    })?;
    let (width, height) = (dims.width as u64, dims.height as u64);
    if width == 0 || height == 0 {
        return Err(ProbeError::Malformed(format!(
            "its header says it is {width}×{height} pixels"
        )));
    }
    if width.saturating_mul(height) > MAX_PIXELS || width.max(height) > u64::from(MAX_SIDE) {
        return Err(ProbeError::TooManyPixels { width, height });
    }
    let facts = match format {
        MediaFormat::Jpeg => {
            r.seek(SeekFrom::Start(0))?;
            walk_jpeg(&mut r)?.0
        }
        MediaFormat::Png => walk_png(&mut r, size)?,
        MediaFormat::Webp => walk_webp(&mut r, size)?,
        MediaFormat::Gif => check_gif_end(&mut r, size)?,
        MediaFormat::Heic => {
            walk_top_level(r.get_mut(), size, |_| true)?;
            r.seek(SeekFrom::Start(0))?;
            let mut facts = Facts::default();
            metadata::read_heif_exif(&mut r, &mut facts);
            facts
        }
        MediaFormat::Mp4 | MediaFormat::Mov => {
            return Err(ProbeError::Malformed("it is a video".to_owned()))
        }
    };
    // Dimensions as the picture is shown: a photo taken upright is often stored sideways with an orientation.
    let (width, height) = if facts.turns_sideways() {
        (height, width)
    } else {
        (width, height)
    };
    Ok(MediaInfo {
        format,
        width: width as u32,
        height: height as u32,
        duration_ms: None,
        frame_rate: None,
        video_codec: None,
        audio_codec: None,
        private_metadata: facts.private,
    })
}

fn read_byte<R: Read>(r: &mut R) -> Result<u8, ProbeError> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)
        .map_err(|e| truncated(e, "the end of its image data"))?;
    Ok(b[0])
}

fn read_block<R: Read>(r: &mut R, len: u64) -> Result<Vec<u8>, ProbeError> {
    let mut buf = Vec::new();
    r.by_ref().take(len).read_to_end(&mut buf)?;
    if (buf.len() as u64) < len {
        return Err(ProbeError::Truncated(
            "the end of its image data".to_owned(),
        ));
    }
    Ok(buf)
}

/// The marker after `FF` (and any fill bytes).
fn next_marker<R: Read>(r: &mut R) -> Result<u8, ProbeError> {
    if read_byte(r)? != 0xFF {
        return Err(ProbeError::Malformed(
            "its JPEG structure is broken (a marker was expected)".to_owned(),
        ));
    }
    loop {
        match read_byte(r)? {
            0xFF => continue,
            0x00 => {
                return Err(ProbeError::Malformed(
                    "its JPEG structure is broken (an empty marker)".to_owned(),
                ))
            }
            m => return Ok(m),
        }
    }
}

/// Reads entropy-coded data up to the next marker and returns it. Within the data `FF` is followed by `00` (a
/// stuffed byte), a restart marker or more `FF` fill bytes.
fn skip_entropy<R: BufRead>(r: &mut R) -> Result<u8, ProbeError> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(ProbeError::Truncated(
                "the end of its image data".to_owned(),
            ));
        }
        match buf.iter().position(|&b| b == 0xFF) {
            None => {
                let n = buf.len();
                r.consume(n);
            }
            Some(i) => {
                r.consume(i + 1);
                loop {
                    match read_byte(r)? {
                        0xFF => continue,
                        0x00 | 0xD0..=0xD7 => break,
                        m => return Ok(m),
                    }
                }
            }
        }
    }
}

/// Walks a JPEG's segments and entropy-coded data to its end-of-image marker. Returns its metadata facts and the
/// offset just past the end-of-image marker (anything after it is not part of the picture).
pub(crate) fn walk_jpeg<R: BufRead + Seek>(r: &mut R) -> Result<(Facts, u64), ProbeError> {
    let mut facts = Facts::default();
    let mut soi = [0u8; 2];
    r.read_exact(&mut soi)
        .map_err(|e| truncated(e, "its header ends"))?;
    if soi != [0xFF, 0xD8] {
        return Err(ProbeError::Malformed(
            "it does not start like a JPEG".to_owned(),
        ));
    }
    let mut marker = next_marker(r)?;
    loop {
        match marker {
            0xD9 => return Ok((facts, r.stream_position()?)),
            0x01 | 0xD0..=0xD7 => {
                marker = next_marker(r)?;
                continue;
            }
            0xD8 => {
                return Err(ProbeError::Malformed(
                    "its JPEG structure is broken (a second start of image)".to_owned(),
                ))
            }
            _ => {}
        }
        let mut len = [0u8; 2];
        r.read_exact(&mut len)
            .map_err(|e| truncated(e, "the end of its image data"))?;
        let payload = u64::from(u16::from_be_bytes(len))
            .checked_sub(2)
            .ok_or_else(|| {
                ProbeError::Malformed("a JPEG segment is shorter than its header".to_owned())
            })?;
        match marker {
            // APP1: EXIF or XMP.
            0xE1 => {
                let block = read_block(r, payload)?;
                if let Some(tiff) = block.strip_prefix(b"Exif\0\0") {
                    metadata::read_exif(tiff.to_vec(), &mut facts);
                } else if block.starts_with(b"http://ns.adobe.com/") {
                    facts.private = true;
                }
            }
            // APP13: Photoshop resources, where IPTC (places, people, bylines) lives.
            0xED => {
                read_block(r, payload)?;
                facts.private = true;
            }
            _ => {
                read_block(r, payload)?;
            }
        }
        marker = if marker == 0xDA {
            skip_entropy(r)?
        } else {
            next_marker(r)?
        };
    }
}

/// Walks a PNG's chunks (seeking past their data) to `IEND`.
fn walk_png<R: Read + Seek>(r: &mut BufReader<R>, size: u64) -> Result<Facts, ProbeError> {
    let mut facts = Facts::default();
    let mut pos = 8u64;
    loop {
        if pos + 12 > size {
            return Err(ProbeError::Truncated(
                "the end of its image data".to_owned(),
            ));
        }
        r.seek(SeekFrom::Start(pos))?;
        let mut head = [0u8; 8];
        r.read_exact(&mut head)
            .map_err(|e| truncated(e, "the end of its image data"))?;
        let len = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = [head[4], head[5], head[6], head[7]];
        let end = pos + 12 + len;
        if end > size {
            return Err(ProbeError::Truncated(
                "the end of its image data".to_owned(),
            ));
        }
        match &kind {
            b"IEND" => return Ok(facts),
            b"eXIf" if len <= MAX_BLOCK => {
                let block = read_block(r, len)?;
                metadata::read_exif(block, &mut facts);
            }
            b"eXIf" => facts.private = true,
            b"iTXt" | b"tEXt" | b"zTXt" => {
                let keyword = read_block(r, len.min(80))?;
                let keyword = keyword.split(|&b| b == 0).next().unwrap_or_default();
                // XMP, and the EXIF, IPTC and XMP blocks some tools write as text.
                if keyword == b"XML:com.adobe.xmp" || keyword.starts_with(b"Raw profile type") {
                    facts.private = true;
                }
            }
            _ => {}
        }
        pos = end;
    }
}

/// Walks a WebP's RIFF chunks to the end the RIFF header announces.
fn walk_webp<R: Read + Seek>(r: &mut BufReader<R>, size: u64) -> Result<Facts, ProbeError> {
    let mut facts = Facts::default();
    r.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 12];
    r.read_exact(&mut head)
        .map_err(|e| truncated(e, "its header ends"))?;
    let end = 8 + u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
    if end > size {
        return Err(ProbeError::Truncated(
            "the end of its image data".to_owned(),
        ));
    }
    let mut pos = 12u64;
    while pos + 8 <= end {
        r.seek(SeekFrom::Start(pos))?;
        let mut chunk = [0u8; 8];
        r.read_exact(&mut chunk)
            .map_err(|e| truncated(e, "the end of its image data"))?;
        let len = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        if pos + 8 + len > end {
            return Err(ProbeError::Truncated(
                "the end of its image data".to_owned(),
            ));
        }
        match &chunk[0..4] {
            b"EXIF" if len <= MAX_BLOCK => {
                let block = read_block(r, len)?;
                let tiff = block.strip_prefix(b"Exif\0\0").unwrap_or(&block).to_vec();
                metadata::read_exif(tiff, &mut facts);
            }
            b"EXIF" | b"XMP " => facts.private = true,
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    Ok(facts)
}

/// A GIF ends with its trailer byte, `;`.
fn check_gif_end<R: Read + Seek>(r: &mut BufReader<R>, size: u64) -> Result<Facts, ProbeError> {
    r.seek(SeekFrom::Start(size.saturating_sub(1)))?;
    if read_byte(r)? != 0x3B {
        return Err(ProbeError::Truncated(
            "the end of its image data".to_owned(),
        ));
    }
    Ok(Facts::default())
}
