//! The `clean` recipe: an image without its location and camera metadata, its pixels untouched. JPEG keeps only
//! what draws the picture (its JFIF header, colour profile and Adobe colour marker, tables and scans) and ends at its
//! end-of-image marker, so what phones append after it (a motion photo's video, extra pictures) goes too. PNG and
//! WebP lose their EXIF, XMP and text chunks. A JPEG, PNG or WebP whose EXIF turns the picture is decoded, turned
//! upright and encoded again instead, since without its EXIF it would show turned.

use std::io::Cursor;

use bytes::Bytes;
use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::png::Png;
use img_parts::webp::WebP;
use img_parts::ImageEXIF;

use super::codec::{decode, encode_jpeg, encode_png, FitError, Rendered, UPRIGHT_QUALITY};
use super::images::walk_jpeg;
use super::metadata::orientation_of;
use crate::domain::{MediaFormat, MediaInfo};

/// PNG chunks that carry metadata rather than picture.
const PNG_METADATA: &[[u8; 4]] = &[*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"];

/// `original` without its metadata; see the module documentation.
pub fn clean(original: &[u8], info: &MediaInfo) -> Result<Rendered, FitError> {
    let bytes = Bytes::copy_from_slice(original);
    let exif = match info.format {
        MediaFormat::Jpeg => Jpeg::from_bytes(bytes.clone()).ok().and_then(|j| j.exif()),
        MediaFormat::Png => Png::from_bytes(bytes.clone()).ok().and_then(|p| p.exif()),
        MediaFormat::Webp => WebP::from_bytes(bytes.clone()).ok().and_then(|w| w.exif()),
        MediaFormat::Gif => None,
        other => return Err(FitError::Unsupported(other)),
    };
    if orientation_of(exif.as_deref()) != 1 {
        return upright(original, info);
    }
    let cleaned = match info.format {
        MediaFormat::Jpeg => clean_jpeg(bytes)?,
        MediaFormat::Png => {
            let mut png = Png::from_bytes(bytes).map_err(|e| FitError::Clean(e.to_string()))?;
            png.chunks_mut()
                .retain(|c| !PNG_METADATA.contains(&c.kind()));
            png.encoder().bytes().to_vec()
        }
        MediaFormat::Webp => {
            let mut webp = WebP::from_bytes(bytes).map_err(|e| FitError::Clean(e.to_string()))?;
            webp.remove_chunks_by_id(*b"XMP ");
            // Also sets the header's flags to what is left.
            webp.set_exif(None);
            webp.encoder().bytes().to_vec()
        }
        // Postora finds no private metadata in GIFs; the file is kept as it is.
        _ => original.to_vec(),
    };
    Ok(Rendered {
        bytes: cleaned,
        format: info.format,
        width: info.width,
        height: info.height,
    })
}

fn keep_jpeg_segment(segment: &JpegSegment) -> bool {
    let contents = segment.contents();
    match segment.marker() {
        markers::APP0 => true,
        markers::APP2 => contents.starts_with(b"ICC_PROFILE\0"),
        markers::APP14 => contents.starts_with(b"Adobe"),
        markers::COM => false,
        m => !(markers::APP0..=markers::APP15).contains(&m),
    }
}

fn clean_jpeg(bytes: Bytes) -> Result<Vec<u8>, FitError> {
    let mut jpeg = Jpeg::from_bytes(bytes).map_err(|e| FitError::Clean(e.to_string()))?;
    jpeg.segments_mut().retain(keep_jpeg_segment);
    let mut out = jpeg.encoder().bytes().to_vec();
    // Drop whatever follows the end-of-image marker.
    let mut reader = std::io::BufReader::new(Cursor::new(&out[..]));
    let (_, end) = walk_jpeg(&mut reader).map_err(|e| FitError::Clean(e.to_string()))?;
    out.truncate(usize::try_from(end).unwrap_or(out.len()));
    Ok(out)
}

/// The picture turned upright by its EXIF orientation, encoded again in its own format with nothing but its colour
/// profile (WebP as lossless WebP, since that is the WebP Postora can encode).
fn upright(original: &[u8], info: &MediaInfo) -> Result<Rendered, FitError> {
    let decoded = decode(original, info)?;
    let image = decoded.image;
    let bytes = match info.format {
        MediaFormat::Jpeg => encode_jpeg(&image, UPRIGHT_QUALITY, decoded.icc.as_deref())?,
        MediaFormat::Png => encode_png(&image, decoded.icc.as_deref())?,
        MediaFormat::Webp => {
            let mut bytes = Vec::new();
            image
                .to_rgba8()
                .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut bytes))
                .map_err(|e| FitError::Encode(e.to_string()))?;
            bytes
        }
        other => return Err(FitError::Unsupported(other)),
    };
    Ok(Rendered {
        bytes,
        format: info.format,
        width: image.width(),
        height: image.height(),
    })
}
