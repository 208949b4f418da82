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

use image::imageops::FilterType;
use image::DynamicImage;

use super::codec::{decode, encode_jpeg, encode_png};
pub use super::codec::{FitError, Rendered};
pub use crate::domain::media::{Recipe, RenditionSpec};
use crate::domain::{MediaFormat, MediaInfo};

/// JPEG qualities tried in turn until the rendition is under its byte limit.
const QUALITIES: [u8; 8] = [90, 85, 80, 75, 70, 65, 60, 50];
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

fn scale(image: DynamicImage, width: u32, height: u32) -> DynamicImage {
    if (width, height) == (image.width(), image.height()) {
        image
    } else {
        image.resize_exact(width, height, FilterType::CatmullRom)
    }
}
