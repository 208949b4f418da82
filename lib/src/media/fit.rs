//! Renditions: making a version of an image that fits a platform. [`Recipe::Fit`] decodes the original (within
//! limits set from what probing found, so a file that lies about its size cannot make the decoder allocate more),
//! turns it upright, scales it down to the recipe's side and pixel limits, and encodes it again (JPEG, stepping the
//! quality down until it is under the recipe's byte limit). [`Recipe::Clean`] removes the metadata and keeps the
//! rest (`media::clean`). Either way the output carries no location or camera metadata: a fitted image has no
//! EXIF or XMP at all.
//!
//! HEIC cannot be decoded without a C library, which Postora does not link: HEIC originals are published as they
//! are where a platform takes HEIC and they carry no private metadata, and are refused everywhere else with a
//! request to export them as JPEG (`domain::media_rules`).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};

pub use crate::domain::media::{Recipe, RenditionSpec};
use crate::domain::{MediaFormat, MediaInfo};

use super::MAX_PIXELS;

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

/// JPEG qualities tried in turn until the rendition is under its byte limit.
const QUALITIES: [u8; 8] = [90, 85, 80, 75, 70, 65, 60, 50];
/// Quality of a clean JPEG that had to be turned upright (encoded once, so kept high).
pub(crate) const UPRIGHT_QUALITY: u8 = 92;
/// Times the picture is made smaller again when even the lowest quality is over the byte limit.
const SHRINK_STEPS: usize = 6;

/// Makes the rendition `spec` describes of `original`, which probing found to be `info`.
pub fn render(
    original: &[u8],
    info: &MediaInfo,
    spec: &RenditionSpec,
) -> Result<Rendered, FitError> {
    match spec.recipe {
        Recipe::Clean => super::clean::clean(original, info),
        Recipe::Fit => fit(original, info, spec),
    }
}

fn fit(original: &[u8], info: &MediaInfo, spec: &RenditionSpec) -> Result<Rendered, FitError> {
    if !matches!(spec.format, MediaFormat::Jpeg | MediaFormat::Png) {
        return Err(FitError::Unsupported(spec.format));
    }
    let decoded = decode(original, info)?;
    let (w, h) = spec.target_size(decoded.image.width(), decoded.image.height());
    let mut image = scale(decoded.image, w, h);
    for _ in 0..=SHRINK_STEPS {
        let (bytes, over_by) = encode_within(&image, spec, decoded.icc.as_deref())?;
        if let Some(bytes) = bytes {
            return Ok(Rendered {
                bytes,
                format: spec.format,
                width: image.width(),
                height: image.height(),
            });
        }
        // Smaller by about the share it was over, and a little more.
        let factor = (1.0 / over_by).sqrt() * 0.9;
        let (nw, nh) = (
            ((f64::from(image.width()) * factor) as u32).max(1),
            ((f64::from(image.height()) * factor) as u32).max(1),
        );
        if (nw, nh) == (image.width(), image.height()) {
            break;
        }
        image = scale(image, nw, nh);
    }
    Err(FitError::CannotFit {
        format: spec.format,
        max_bytes: spec.max_bytes.unwrap_or(0),
    })
}

/// Encodes `image` as the spec's format; `None` and how far over (actual over allowed) when no quality fits.
fn encode_within(
    image: &DynamicImage,
    spec: &RenditionSpec,
    icc: Option<&[u8]>,
) -> Result<(Option<Vec<u8>>, f64), FitError> {
    let limit = spec.max_bytes.unwrap_or(u64::MAX);
    let mut last = 0usize;
    match spec.format {
        MediaFormat::Png => {
            let bytes = encode_png(image, icc)?;
            if bytes.len() as u64 <= limit {
                return Ok((Some(bytes), 1.0));
            }
            last = bytes.len();
        }
        _ => {
            for quality in QUALITIES {
                let bytes = encode_jpeg(image, quality, icc)?;
                if bytes.len() as u64 <= limit {
                    return Ok((Some(bytes), 1.0));
                }
                last = bytes.len();
            }
        }
    }
    Ok((None, last as f64 / limit.max(1) as f64))
}

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

fn scale(image: DynamicImage, width: u32, height: u32) -> DynamicImage {
    if (width, height) == (image.width(), image.height()) {
        image
    } else {
        image.resize_exact(width, height, FilterType::CatmullRom)
    }
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
