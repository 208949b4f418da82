//! Decoding and encoding pictures for renditions: decoded within limits set from what probing found, turned
//! upright, and encoded with the colour profile kept and no other metadata.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};

use super::MAX_PIXELS;
use crate::domain::{MediaFormat, MediaInfo};

/// A rendition's bytes and what they are.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub format: MediaFormat,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("bytes", &self.bytes.len())
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// Why a rendition could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("Postora cannot make renditions of {0} files")]
    Unsupported(MediaFormat),
    #[error("the image cannot be decoded: {0}")]
    Decode(String),
    #[error("the rendition cannot be encoded: {0}")]
    Encode(String),
    #[error("no {format} rendition of this image fits in {max_bytes} bytes")]
    CannotFit { format: MediaFormat, max_bytes: u64 },
    #[error("the image's metadata cannot be removed: {0}")]
    Clean(String),
}

/// Quality of a clean JPEG that had to be turned upright (encoded once, so kept high).
pub(crate) const UPRIGHT_QUALITY: u8 = 92;
/// A decoded picture, upright, and its colour profile.
pub(crate) struct Decoded {
    pub image: DynamicImage,
    pub icc: Option<Vec<u8>>,
}

fn image_format(format: MediaFormat) -> Result<ImageFormat, FitError> {
    match format {
        MediaFormat::Jpeg => Ok(ImageFormat::Jpeg),
        MediaFormat::Png => Ok(ImageFormat::Png),
        MediaFormat::Gif => Ok(ImageFormat::Gif),
        MediaFormat::Webp => Ok(ImageFormat::WebP),
        other => Err(FitError::Unsupported(other)),
    }
}

/// Decodes `original` as the format probing found, allowing no more than its probed dimensions (in either
/// orientation) and the memory a picture of that size needs, and applies its EXIF orientation.
pub(crate) fn decode(original: &[u8], info: &MediaInfo) -> Result<Decoded, FitError> {
    let format = image_format(info.format)?;
    if info.pixels() > MAX_PIXELS {
        return Err(FitError::Decode(format!(
            "{}×{} is more pixels than Postora decodes",
            info.width, info.height
        )));
    }
    let side = info.longest_side();
    let mut limits = Limits::default();
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    // Eight bytes a pixel (16-bit RGBA, the widest these formats decode to) and room for the decoder's tables.
    limits.max_alloc = Some(info.pixels() * 8 + 16 * 1024 * 1024);
    let mut reader = ImageReader::with_format(Cursor::new(original), format);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| FitError::Decode(e.to_string()))?;
    let orientation = decoder
        .orientation()
        .map_err(|e| FitError::Decode(e.to_string()))?;
    let icc = decoder.icc_profile().ok().flatten();
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| FitError::Decode(e.to_string()))?;
    image.apply_orientation(orientation);
    Ok(Decoded { image, icc })
}

/// Baseline JPEG with the colour profile kept and nothing else: transparency is laid on white.
pub(crate) fn encode_jpeg(
    image: &DynamicImage,
    quality: u8,
    icc: Option<&[u8]>,
) -> Result<Vec<u8>, FitError> {
    let rgb = if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
        for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
            let a = u16::from(px[3]);
            for c in 0..3 {
                out[c] = ((u16::from(px[c]) * a + 255 * (255 - a)) / 255) as u8;
            }
        }
        rgb
    } else {
        image.to_rgb8()
    };
    let mut bytes = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut bytes, quality);
    if let Some(icc) = icc {
        // A profile the encoder cannot embed is left out; the picture is still right in sRGB viewers.
        let _ = encoder.set_icc_profile(icc.to_vec());
    }
    encoder
        .write_image(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| FitError::Encode(e.to_string()))?;
    Ok(bytes)
}

/// PNG, 8 bits a channel, with the colour profile kept and nothing else.
pub(crate) fn encode_png(image: &DynamicImage, icc: Option<&[u8]>) -> Result<Vec<u8>, FitError> {
    let (raw, color) = if image.color().has_alpha() {
        (image.to_rgba8().into_raw(), image::ExtendedColorType::Rgba8)
    } else {
        (image.to_rgb8().into_raw(), image::ExtendedColorType::Rgb8)
    };
    let mut bytes = Vec::new();
    let mut encoder = PngEncoder::new(&mut bytes);
    if let Some(icc) = icc {
        let _ = encoder.set_icc_profile(icc.to_vec());
    }
    encoder
        .write_image(&raw, image.width(), image.height(), color)
        .map_err(|e| FitError::Encode(e.to_string()))?;
    Ok(bytes)
}
