//! Probing MP4 and MOV files (ISO base media files). Postora walks the top-level boxes itself, reading only each
//! box's header and seeking past its body (the media data, `mdat`, is never read), then reads the index (`moov`),
//! at most [`MAX_INDEX_BYTES`], into memory and decodes it with `mp4-atom`. So a file's size costs nothing: what is
//! read is a few bytes per top-level box and the index, wherever the index is.

use std::io::{Read, Seek, SeekFrom};

use mp4_atom::{Codec, Decode, Encode, FourCC, Moov, Trak};

use super::boxes::walk_top_level;
use super::errors::{truncated, ProbeError};
use super::MAX_INDEX_BYTES;
use crate::domain::{MediaFormat, MediaInfo};

pub(crate) fn probe<R: Read + Seek>(
    mut r: R,
    format: MediaFormat,
    size: u64,
) -> Result<MediaInfo, ProbeError> {
    // A fragmented file (its samples in `moof` boxes after the index) is walked no further than its first fragment.
    let boxes = walk_top_level(&mut r, size, |seen| {
        let has = |k: &[u8; 4]| seen.iter().any(|b| &b.kind == k);
        !(has(b"moov") && has(b"moof"))
    })?;
    let moov = boxes
        .iter()
        .find(|b| &b.kind == b"moov")
        .ok_or(ProbeError::MissingIndex)?;
    if moov.size > MAX_INDEX_BYTES {
        return Err(ProbeError::IndexTooLarge { bytes: moov.size });
    }
    r.seek(SeekFrom::Start(moov.offset))?;
    let mut index = vec![0u8; moov.size as usize];
    r.read_exact(&mut index)
        .map_err(|e| truncated(e, "the end of its `moov` box"))?;
    let moov_box = Moov::decode(&mut index.as_slice())
        .map_err(|e| ProbeError::Malformed(format!("its index (`moov`) cannot be read: {e}")))?;
    describe(&moov_box, &index, format)
}

fn handled_as(trak: &Trak, handler: &[u8; 4]) -> bool {
    trak.mdia.hdlr.handler == FourCC::new(handler)
}

/// The four-character code of a sample entry (`avc1`, `hvc1`, `mp4a`, …), from its encoding's box header.
fn codec_name(codec: &Codec) -> Option<String> {
    let mut buf = Vec::new();
    codec.encode(&mut buf).ok()?;
    let code = buf.get(4..8)?;
    Some(String::from_utf8_lossy(code).trim().to_owned())
}

fn describe(moov: &Moov, index: &[u8], format: MediaFormat) -> Result<MediaInfo, ProbeError> {
    let video = moov
        .trak
        .iter()
        .find(|t| handled_as(t, b"vide"))
        .ok_or(ProbeError::NoVideoTrack)?;
    let audio = moov.trak.iter().find(|t| handled_as(t, b"soun"));

    let duration_ms = duration_ms(moov).ok_or(ProbeError::NoDuration)?;
    let codec = video.mdia.minf.stbl.stsd.codecs.first();
    let (mut width, mut height) = (
        u32::from(video.tkhd.width.integer()),
        u32::from(video.tkhd.height.integer()),
    );
    if width == 0 || height == 0 || video.tkhd.size_is_aspect_ratio {
        let visual = codec.and_then(Codec::visual);
        width = visual.map_or(0, |v| u32::from(v.width));
        height = visual.map_or(0, |v| u32::from(v.height));
    }
    if width == 0 || height == 0 {
        return Err(ProbeError::Malformed(
            "its video track does not say how large its picture is".to_owned(),
        ));
    }
    // A quarter turn in the track's matrix (how phones store a video filmed upright): shown with sides swapped.
    let m = &video.tkhd.matrix;
    if m.a == 0 && m.d == 0 && m.b != 0 && m.c != 0 {
        std::mem::swap(&mut width, &mut height);
    }
    Ok(MediaInfo {
        format,
        width,
        height,
        duration_ms: Some(duration_ms),
        frame_rate: frame_rate(video),
        video_codec: codec.and_then(codec_name),
        audio_codec: audio
            .and_then(|t| t.mdia.minf.stbl.stsd.codecs.first())
            .and_then(codec_name),
        private_metadata: private_metadata(moov, index),
    })
}

/// The movie's duration, from its header, else the fragments' declared total, else its longest track.
fn duration_ms(moov: &Moov) -> Option<u64> {
    let to_ms = |units: u64, timescale: u32| -> Option<u64> {
        if timescale == 0 || units == 0 || units == u64::from(u32::MAX) || units == u64::MAX {
            return None;
        }
        u64::try_from(u128::from(units) * 1000 / u128::from(timescale)).ok()
    };
    let movie = to_ms(moov.mvhd.duration, moov.mvhd.timescale);
    let fragments = moov
        .mvex
        .as_ref()
        .and_then(|mvex| mvex.mehd.as_ref())
        .and_then(|mehd| to_ms(mehd.fragment_duration, moov.mvhd.timescale));
    let tracks = moov
        .trak
        .iter()
        .filter_map(|t| to_ms(t.mdia.mdhd.duration, t.mdia.mdhd.timescale))
        .max();
    movie.or(fragments).or(tracks)
}

/// Frames per second: samples over their total duration, to three decimals. `None` when the index holds no samples
/// (a fragmented file).
fn frame_rate(video: &Trak) -> Option<f64> {
    let (mut samples, mut units) = (0u64, 0u64);
    for e in &video.mdia.minf.stbl.stts.entries {
        samples = samples.saturating_add(u64::from(e.sample_count));
        units = units.saturating_add(u64::from(e.sample_count) * u64::from(e.sample_delta));
    }
    let timescale = video.mdia.mdhd.timescale;
    if samples == 0 || units == 0 || timescale == 0 {
        return None;
    }
    let fps = samples as f64 * f64::from(timescale) / units as f64;
    Some((fps * 1000.0).round() / 1000.0)
}

/// Children of a box body, as (kind, body).
fn children(mut body: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while body.len() >= 8 {
        let size = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
        let kind = [body[4], body[5], body[6], body[7]];
        let (start, len) = match size {
            0 => (8, body.len()),
            1 if body.len() >= 16 => {
                let mut large = [0u8; 8];
                large.copy_from_slice(&body[8..16]);
                (
                    16,
                    usize::try_from(u64::from_be_bytes(large)).unwrap_or(usize::MAX),
                )
            }
            n => (8, n),
        };
        if len < start || len > body.len() {
            break;
        }
        out.push((kind, &body[start..len]));
        body = &body[len..];
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether the index carries a location or the camera's make and model: QuickTime user data (`©xyz`, `©mak`,
/// `©mod`), Apple's metadata keys (`com.apple.quicktime.location.ISO6709`, `.make`, `.model`), or a GoPro GPS track.
fn private_metadata(moov: &Moov, index: &[u8]) -> bool {
    const USER_DATA: &[&[u8; 4]] = &[b"\xA9xyz", b"\xA9mak", b"\xA9mod"];
    const KEYS: &[&[u8]] = &[
        b"com.apple.quicktime.location",
        b"com.apple.quicktime.make",
        b"com.apple.quicktime.model",
        b"\xA9xyz",
    ];
    let Some((_, moov_body)) = children(index).into_iter().find(|(k, _)| k == b"moov") else {
        return false;
    };
    let mut found = false;
    for (kind, body) in children(moov_body) {
        match &kind {
            b"udta" => {
                for (child, inner) in children(body) {
                    if USER_DATA.contains(&&child) {
                        found = true;
                    }
                    if &child == b"meta" && KEYS.iter().any(|k| contains(inner, k)) {
                        found = true;
                    }
                }
            }
            b"meta" if KEYS.iter().any(|k| contains(body, k)) => found = true,
            _ => {}
        }
    }
    let gps_track = moov.trak.iter().any(|t| {
        t.mdia
            .minf
            .stbl
            .stsd
            .codecs
            .iter()
            .filter_map(codec_name)
            .any(|c| c == "gpmd")
    });
    found || gps_track
}
