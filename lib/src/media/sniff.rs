//! Recognising a file's format from its first bytes (magic numbers, and for ISO base media files the brands of their
//! `ftyp` box), never from a name or a declared type.

use crate::domain::MediaFormat;

/// How many bytes from the start of a file [`recognise`] looks at (an `ftyp` box with a dozen brands fits).
pub const HEAD_BYTES: usize = 128;

/// HEIF brands for HEVC-coded still images (and image sequences).
const HEIC_BRANDS: &[&[u8; 4]] = &[
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
];
/// Generic HEIF brands: HEIC unless an AVIF brand says otherwise.
const HEIF_BRANDS: &[&[u8; 4]] = &[b"mif1", b"msf1", b"mif2", b"miaf"];
/// AV1-coded HEIF (AVIF), which Postora does not take.
const AVIF_BRANDS: &[&[u8; 4]] = &[b"avif", b"avis"];
const MP4_BRANDS: &[&[u8; 4]] = &[
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41",
    b"mp42", b"mp71", b"avc1", b"M4V ", b"M4VH", b"M4VP", b"M4A ", b"dash", b"msdh", b"msix",
    b"mmp4", b"MSNV", b"XAVC", b"f4v ",
];
/// Top-level boxes an old QuickTime movie (without `ftyp`) may start with.
const QUICKTIME_FIRST_BOXES: &[&[u8; 4]] = &[b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"];

/// The format `head` (the first [`HEAD_BYTES`] of a file, or all of it if shorter) starts like, if it is one
/// Postora recognises.
pub fn recognise(head: &[u8]) -> Option<MediaFormat> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(MediaFormat::Jpeg);
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(MediaFormat::Png);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some(MediaFormat::Gif);
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some(MediaFormat::Webp);
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return from_brands(head);
    }
    if head.len() >= 8 && QUICKTIME_FIRST_BOXES.iter().any(|b| &head[4..8] == *b) {
        return Some(MediaFormat::Mov);
    }
    None
}

/// Classifies an `ftyp` box by its major brand, then by its compatible brands.
fn from_brands(head: &[u8]) -> Option<MediaFormat> {
    let declared = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let end = declared.clamp(12, head.len());
    let major: &[u8] = &head[8..12];
    let compatible: Vec<&[u8]> = head
        .get(16..end)
        .unwrap_or_default()
        .chunks_exact(4)
        .collect();
    let is = |brand: &[u8], set: &[&[u8; 4]]| set.iter().any(|b| brand == *b);
    let any = |set: &[&[u8; 4]]| compatible.iter().any(|b| is(b, set));
    if is(major, AVIF_BRANDS) {
        return None;
    }
    if is(major, HEIC_BRANDS) {
        return Some(MediaFormat::Heic);
    }
    if major == b"qt  " {
        return Some(MediaFormat::Mov);
    }
    if is(major, MP4_BRANDS) {
        return Some(MediaFormat::Mp4);
    }
    if is(major, HEIF_BRANDS) {
        return (!any(AVIF_BRANDS)).then_some(MediaFormat::Heic);
    }
    // An unknown major brand: go by what it says it is compatible with.
    if compatible.iter().any(|b| *b == b"qt  ") {
        Some(MediaFormat::Mov)
    } else if any(AVIF_BRANDS) {
        None
    } else if any(HEIC_BRANDS) || any(HEIF_BRANDS) {
        Some(MediaFormat::Heic)
    } else if any(MP4_BRANDS) {
        Some(MediaFormat::Mp4)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut b = (size as u32).to_be_bytes().to_vec();
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0, 0, 0, 0]);
        for c in compatible {
            b.extend_from_slice(*c);
        }
        b
    }

    #[test]
    fn magic_numbers() {
        assert_eq!(
            recognise(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(MediaFormat::Jpeg)
        );
        assert_eq!(
            recognise(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"),
            Some(MediaFormat::Png)
        );
        assert_eq!(recognise(b"GIF89a\x01\x00"), Some(MediaFormat::Gif));
        assert_eq!(recognise(b"GIF87a\x01\x00"), Some(MediaFormat::Gif));
        assert_eq!(
            recognise(b"RIFF\x10\0\0\0WEBPVP8 "),
            Some(MediaFormat::Webp)
        );
        assert_eq!(recognise(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(recognise(b"%PDF-1.7"), None);
        assert_eq!(recognise(b"<svg xmlns="), None);
        assert_eq!(recognise(b""), None);
        assert_eq!(recognise(&[0xFF, 0xD8]), None);
    }

    #[test]
    fn iso_brands() {
        assert_eq!(
            recognise(&ftyp(b"heic", &[b"mif1", b"heic"])),
            Some(MediaFormat::Heic)
        );
        assert_eq!(
            recognise(&ftyp(b"mif1", &[b"heic"])),
            Some(MediaFormat::Heic)
        );
        assert_eq!(
            recognise(&ftyp(b"msf1", &[b"msf1"])),
            Some(MediaFormat::Heic)
        );
        assert_eq!(recognise(&ftyp(b"heix", &[])), Some(MediaFormat::Heic));
        assert_eq!(
            recognise(&ftyp(b"qt  ", &[b"qt  "])),
            Some(MediaFormat::Mov)
        );
        assert_eq!(
            recognise(&ftyp(b"isom", &[b"isom", b"avc1"])),
            Some(MediaFormat::Mp4)
        );
        assert_eq!(recognise(&ftyp(b"mp42", &[])), Some(MediaFormat::Mp4));
        assert_eq!(
            recognise(&ftyp(b"iso5", &[b"dash"])),
            Some(MediaFormat::Mp4)
        );
        assert_eq!(recognise(&ftyp(b"M4V ", &[])), Some(MediaFormat::Mp4));
        assert_eq!(recognise(&ftyp(b"dash", &[])), Some(MediaFormat::Mp4));
        // An unknown major brand that lists a known one.
        assert_eq!(
            recognise(&ftyp(b"abcd", &[b"isom"])),
            Some(MediaFormat::Mp4)
        );
        assert_eq!(
            recognise(&ftyp(b"abcd", &[b"qt  "])),
            Some(MediaFormat::Mov)
        );
        // AVIF and unknown brands are not ours.
        assert_eq!(recognise(&ftyp(b"avif", &[b"mif1", b"miaf"])), None);
        assert_eq!(recognise(&ftyp(b"mif1", &[b"avif", b"miaf"])), None);
        assert_eq!(recognise(&ftyp(b"crx ", &[])), None);
        // An old QuickTime movie without ftyp.
        assert_eq!(
            recognise(b"\0\0\0\x08wide\0\0\0\x10mdat"),
            Some(MediaFormat::Mov)
        );
    }
}
