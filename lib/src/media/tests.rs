//! Probing and rendering, on files the tests make: images encoded here, EXIF blocks written byte by byte, and MP4
//! and MOV indexes with a media-data box of any size whose bytes are made up as they are read.

use std::io::{Cursor, Read, Seek, SeekFrom};

use image::{Rgb, RgbImage};
use postora_test_support::media::*;

use super::*;
use crate::domain::media_rules::{assess, Assessment};
use crate::domain::{MediaFormat, MediaInfo, PlatformKind, Recipe};

// ---------------------------------------------------------------------------------------------------------------
// Images

fn probe_bytes(bytes: &[u8]) -> Result<MediaInfo, ProbeError> {
    probe(Cursor::new(bytes), bytes.len() as u64)
}

#[test]
fn each_image_format_is_recognised_from_its_bytes() {
    let picture = photo(64, 48, 1);
    for (format, bytes) in [
        (MediaFormat::Jpeg, jpeg_of(&picture, 90)),
        (MediaFormat::Png, encoded(&picture, image::ImageFormat::Png)),
        (MediaFormat::Gif, encoded(&picture, image::ImageFormat::Gif)),
        (
            MediaFormat::Webp,
            encoded(&picture, image::ImageFormat::WebP),
        ),
    ] {
        let info = probe_bytes(&bytes).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(info.format, format);
        assert_eq!((info.width, info.height), (64, 48), "{format}");
        assert!(!info.private_metadata, "{format}");
        assert_eq!(info.duration_ms, None);
    }
}

#[test]
fn a_name_or_declared_type_plays_no_part_and_unknown_bytes_are_refused() {
    // Probing sees only bytes: a PNG is a PNG whatever it was called.
    let png = encoded(&photo(8, 8, 2), image::ImageFormat::Png);
    assert_eq!(probe_bytes(&png).expect("png").format, MediaFormat::Png);
    for bytes in [
        b"%PDF-1.7 not an image".to_vec(),
        b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
        Vec::new(),
        vec![0xFF, 0xD8],
    ] {
        let err = probe_bytes(&bytes).expect_err("refused");
        assert!(matches!(err, ProbeError::Unrecognised), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the file is not an image or video Postora recognises (JPEG, PNG, GIF, WebP, HEIC, MP4, MOV)"
        );
    }
}

#[test]
fn truncated_images_are_refused() {
    let picture = photo(200, 150, 3);
    for bytes in [
        jpeg_of(&picture, 90),
        encoded(&picture, image::ImageFormat::Png),
        encoded(&picture, image::ImageFormat::WebP),
        encoded(&picture, image::ImageFormat::Gif),
    ] {
        let cut = &bytes[..bytes.len() * 2 / 3];
        let err = probe_bytes(cut).expect_err("cut off");
        assert!(matches!(err, ProbeError::Truncated(_)), "{err:?}");
        assert!(err.to_string().starts_with("the file ends before"), "{err}");
    }
}

#[test]
fn an_image_claiming_too_many_pixels_is_refused_from_its_header() {
    // The header, then 50 MB that would be its pixel data.
    let file = MadeUp {
        head: png_header(100_000, 100_000),
        filler: 50_000_000,
        tail: Vec::new(),
        pos: 0,
    };
    let size = file.len();
    let mut reader = CountingReader::new(file);
    let err = probe(&mut reader, size).expect_err("refused");
    assert!(
        matches!(
            err,
            ProbeError::TooManyPixels {
                width: 100_000,
                height: 100_000
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("the image claims 100000×100000 pixels, more than"),
        "{err}"
    );
    // Refused from the header: not a pixel decoded, hardly a byte read past it.
    assert!(reader.bytes_read() < 32 * 1024, "{}", reader.bytes_read());

    // A side too long on its own is refused too; an ordinary header passes that check and is then cut off.
    assert!(matches!(
        probe_bytes(&png_header(30_000, 10)),
        Err(ProbeError::TooManyPixels { .. })
    ));
    assert!(matches!(
        probe_bytes(&png_header(4000, 3000)),
        Err(ProbeError::Truncated(_))
    ));
}

#[test]
fn location_and_camera_metadata_are_found() {
    let jpeg = jpeg_of(&photo(40, 30, 4), 90);
    let gps = with_exif(&jpeg, &exif_tiff(None, None, true));
    let camera = with_exif(&jpeg, &exif_tiff(None, Some("Phone Maker"), false));
    let upright_only = with_exif(&jpeg, &exif_tiff(Some(1), None, false));
    assert!(probe_bytes(&gps).expect("gps").private_metadata);
    assert!(probe_bytes(&camera).expect("camera").private_metadata);
    assert!(
        !probe_bytes(&upright_only)
            .expect("orientation")
            .private_metadata
    );
    assert!(!probe_bytes(&jpeg).expect("plain").private_metadata);
}

#[test]
fn a_sideways_photo_is_measured_as_shown() {
    let jpeg = with_exif(
        &jpeg_of(&photo(40, 20, 5), 90),
        &exif_tiff(Some(6), None, false),
    );
    let info = probe_bytes(&jpeg).expect("probe");
    assert_eq!((info.width, info.height), (20, 40));
}

#[test]
fn a_fitted_rendition_fits_and_carries_no_metadata() {
    // About 1.5 to 3 MB of JPEG, 2400 pixels wide, with a GPS position.
    let original = with_exif(
        &jpeg_of(&photo(2400, 1600, 6), 95),
        &exif_tiff(Some(1), Some("Phone Maker"), true),
    );
    assert!(original.len() > 1_200_000, "{}", original.len());
    let info = probe_bytes(&original).expect("probe");
    assert!(info.private_metadata);
    assert!(has_exif(&original));

    let Assessment::Fitted { rendition } =
        assess(PlatformKind::Bluesky, &info, original.len() as u64)
    else {
        panic!("bluesky should fit it");
    };
    assert_eq!(rendition.name(), "fit-jpeg-2000px-1000000b");
    let out = render(&original, &info, &rendition).expect("render");
    assert_eq!(out.format, MediaFormat::Jpeg);
    assert!(out.bytes.len() <= 1_000_000, "{}", out.bytes.len());
    assert!(out.width.max(out.height) <= 2000);
    assert_eq!((out.width, out.height), (2000, 1333));
    let decoded = image::load_from_memory(&out.bytes).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (out.width, out.height));
    assert!(!has_exif(&out.bytes), "the rendition carries EXIF");
    assert!(
        !contains(&out.bytes, b"http://ns.adobe.com/"),
        "the rendition carries XMP"
    );
    // And probing the rendition agrees.
    let again = probe_bytes(&out.bytes).expect("probe rendition");
    assert!(!again.private_metadata);
    assert_eq!(
        assess(PlatformKind::Bluesky, &again, out.bytes.len() as u64),
        Assessment::Accepted
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn is_red(p: image::Rgb<u8>) -> bool {
    p[0] > 150 && p[2] < 100
}

fn is_blue(p: image::Rgb<u8>) -> bool {
    p[2] > 150 && p[0] < 100
}

/// 40 × 20, red on the left, blue on the right.
fn halves() -> RgbImage {
    RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([230, 20, 20])
        } else {
            Rgb([20, 20, 230])
        }
    })
}

#[test]
fn a_sideways_jpeg_renders_upright() {
    // Orientation 6: shown turned a quarter clockwise, so the left half (red) ends up on top.
    let original = with_exif(&jpeg_of(&halves(), 95), &exif_tiff(Some(6), None, true));
    let info = probe_bytes(&original).expect("probe");
    for spec in [
        RenditionSpec::fit(MediaFormat::Jpeg, Some(2000), None, Some(1_000_000)),
        RenditionSpec::clean(MediaFormat::Jpeg),
    ] {
        let out = render(&original, &info, &spec).expect("render");
        assert_eq!((out.width, out.height), (20, 40), "{spec:?}");
        let shown = image::load_from_memory(&out.bytes)
            .expect("decodes")
            .to_rgb8();
        assert_eq!(shown.dimensions(), (20, 40));
        assert!(
            is_red(*shown.get_pixel(10, 5)),
            "{spec:?}: {:?}",
            shown.get_pixel(10, 5)
        );
        assert!(
            is_blue(*shown.get_pixel(10, 35)),
            "{spec:?}: {:?}",
            shown.get_pixel(10, 35)
        );
        assert!(!has_exif(&out.bytes));
    }
}

#[test]
fn cleaning_keeps_the_picture_and_drops_the_metadata() {
    let plain = jpeg_of(&photo(64, 48, 7), 90);
    let mut original = with_exif(&plain, &exif_tiff(Some(1), Some("Phone Maker"), true));
    // An XMP packet, and a motion photo's video after the end of the image.
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>";
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((xmp.len() + 2) as u16).to_be_bytes());
    app1.extend_from_slice(xmp);
    original.splice(2..2, app1);
    original.extend_from_slice(b"\0\0\0\x18ftypmp42 trailing video");
    let info = probe_bytes(&original).expect("probe");
    assert!(info.private_metadata);
    assert_eq!(
        assess(PlatformKind::Threads, &info, original.len() as u64),
        Assessment::Fitted {
            rendition: RenditionSpec::clean(MediaFormat::Jpeg)
        }
    );
    let out = render(&original, &info, &RenditionSpec::clean(MediaFormat::Jpeg)).expect("clean");
    assert!(!has_exif(&out.bytes));
    assert!(!contains(&out.bytes, b"ns.adobe.com"));
    assert!(!contains(&out.bytes, b"ftypmp42"));
    // The same scans: the same pixels.
    let before = image::load_from_memory(&plain).expect("plain").to_rgb8();
    let after = image::load_from_memory(&out.bytes)
        .expect("clean")
        .to_rgb8();
    assert_eq!(before, after);
    assert!(!probe_bytes(&out.bytes).expect("probe").private_metadata);
}

#[test]
fn cleaning_png_and_webp_drops_their_exif() {
    let picture = photo(32, 24, 8);
    let tiff = exif_tiff(Some(1), None, true);
    let mut png =
        img_parts::png::Png::from_bytes(encoded(&picture, image::ImageFormat::Png).into())
            .expect("png");
    img_parts::ImageEXIF::set_exif(&mut png, Some(tiff.clone().into()));
    let png = png.encoder().bytes().to_vec();
    let mut webp =
        img_parts::webp::WebP::from_bytes(encoded(&picture, image::ImageFormat::WebP).into())
            .expect("webp");
    img_parts::ImageEXIF::set_exif(&mut webp, Some(tiff.into()));
    let webp = webp.encoder().bytes().to_vec();
    for original in [png, webp] {
        let info = probe_bytes(&original).expect("probe");
        assert!(info.private_metadata, "{:?}", info.format);
        let out = render(&original, &info, &RenditionSpec::clean(info.format)).expect("clean");
        assert_eq!(out.format, info.format);
        assert!(!has_exif(&out.bytes), "{:?}", info.format);
        let again = probe_bytes(&out.bytes).expect("probe clean");
        assert!(!again.private_metadata);
        assert_eq!(
            image::load_from_memory(&out.bytes)
                .expect("decodes")
                .to_rgb8(),
            image::load_from_memory(&original)
                .expect("decodes")
                .to_rgb8()
        );
    }
}

#[test]
fn rendition_names_follow_the_recipe() {
    let spec = RenditionSpec::fit(MediaFormat::Jpeg, Some(2000), None, Some(1_000_000));
    assert_eq!(spec.name(), "fit-jpeg-2000px-1000000b");
    assert_eq!(spec.name(), spec.clone().name());
    assert_eq!(
        RenditionSpec::fit(MediaFormat::Jpeg, None, Some(33_177_600), Some(16 << 20)).name(),
        "fit-jpeg-33177600pixels-16777216b"
    );
    assert_eq!(RenditionSpec::clean(MediaFormat::Png).name(), "clean");
    assert_eq!(RenditionSpec::clean(MediaFormat::Png).recipe, Recipe::Clean);
    assert_eq!(spec.target_size(4000, 3000), (2000, 1500));
    assert_eq!(spec.target_size(1000, 500), (1000, 500));
    let pixels = RenditionSpec::fit(MediaFormat::Jpeg, None, Some(1_000_000), None);
    let (w, h) = pixels.target_size(4000, 3000);
    assert!(
        u64::from(w) * u64::from(h) <= 1_000_000 && w > 1100,
        "{w}×{h}"
    );
}

#[test]
fn renditions_of_what_cannot_be_decoded_are_refused() {
    let info = MediaInfo {
        format: MediaFormat::Heic,
        width: 100,
        height: 100,
        duration_ms: None,
        frame_rate: None,
        video_codec: None,
        audio_codec: None,
        private_metadata: true,
    };
    let spec = RenditionSpec::fit(MediaFormat::Jpeg, Some(100), None, None);
    assert!(matches!(
        render(b"whatever", &info, &spec),
        Err(FitError::Unsupported(MediaFormat::Heic))
    ));
    // A file that lies about its size is stopped by the decoder's limits.
    let big = jpeg_of(&photo(300, 200, 9), 80);
    let small_info = MediaInfo {
        format: MediaFormat::Jpeg,
        width: 30,
        height: 20,
        private_metadata: false,
        ..info
    };
    assert!(matches!(
        render(&big, &small_info, &spec),
        Err(FitError::Decode(_))
    ));
}

// ---------------------------------------------------------------------------------------------------------------
// Video

/// A file whose media data is `filler` bytes made up as they are read: `head`, the filler, then `tail`.
struct MadeUp {
    head: Vec<u8>,
    filler: u64,
    tail: Vec<u8>,
    pos: u64,
}

impl MadeUp {
    /// The movie with its index before or after `mdat_payload` bytes of media data.
    fn movie(m: &Movie, index_first: bool, mdat_payload: u64) -> Self {
        let index = moov(m);
        let mut mdat = ((8 + mdat_payload) as u32).to_be_bytes().to_vec();
        mdat.extend_from_slice(b"mdat");
        let mut head = ftyp(m.brand);
        if index_first {
            head.extend_from_slice(&index);
            head.extend_from_slice(&mdat);
            MadeUp {
                head,
                filler: mdat_payload,
                tail: Vec::new(),
                pos: 0,
            }
        } else {
            head.extend_from_slice(&mdat);
            MadeUp {
                head,
                filler: mdat_payload,
                tail: index,
                pos: 0,
            }
        }
    }

    fn len(&self) -> u64 {
        self.head.len() as u64 + self.filler + self.tail.len() as u64
    }

    fn bytes(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_to_end(&mut out).expect("read");
        out
    }
}

impl Read for MadeUp {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let head = self.head.len() as u64;
        let body_end = head + self.filler;
        let n = if self.pos < head {
            let from = &self.head[self.pos as usize..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            n
        } else if self.pos < body_end {
            let n = ((body_end - self.pos) as usize).min(buf.len());
            buf[..n]
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = (self.pos as usize + i) as u8);
            n
        } else {
            let at = (self.pos - body_end) as usize;
            let from = self.tail.get(at..).unwrap_or_default();
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            n
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for MadeUp {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.pos = match pos {
            SeekFrom::Start(n) => n,
            SeekFrom::End(d) => self.len().saturating_add_signed(d),
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

#[test]
fn a_large_video_is_probed_from_its_index_wherever_it_is() {
    const GIB: u64 = 1 << 30;
    let m = Movie {
        seconds: 3600,
        ..Movie::default()
    };
    for index_first in [false, true] {
        let file = MadeUp::movie(&m, index_first, GIB);
        let size = file.len();
        let mut reader = CountingReader::new(file);
        let info = probe(&mut reader, size).expect("probe");
        assert_eq!(info.format, MediaFormat::Mp4);
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.duration_ms, Some(3_600_000));
        assert_eq!(info.frame_rate, Some(30.0));
        assert_eq!(info.video_codec.as_deref(), Some("avc1"));
        assert_eq!(info.audio_codec.as_deref(), Some("mp4a"));
        assert!(!info.private_metadata);
        let read = reader.bytes_read();
        assert!(
            read * 100 < size,
            "read {read} of {size} bytes (index first: {index_first})"
        );
        assert!(
            read < 64 * 1024,
            "read {read} bytes (index first: {index_first})"
        );
    }
}

#[test]
fn mov_is_recognised_and_its_location_found() {
    let m = Movie {
        brand: b"qt  ",
        width: 1080,
        height: 1920,
        location: true,
        ..Movie::default()
    };
    let bytes = MadeUp::movie(&m, true, 4096).bytes();
    let info = probe_bytes(&bytes).expect("probe");
    assert_eq!(info.format, MediaFormat::Mov);
    assert_eq!((info.width, info.height), (1080, 1920));
    assert!(info.private_metadata);
}

#[test]
fn a_video_without_a_video_track_is_refused() {
    let m = Movie {
        video: false,
        ..Movie::default()
    };
    let bytes = MadeUp::movie(&m, true, 1024).bytes();
    let err = probe_bytes(&bytes).expect_err("refused");
    assert!(matches!(err, ProbeError::NoVideoTrack), "{err:?}");
    assert_eq!(err.to_string(), "the video has no video track");
}

#[test]
fn truncated_videos_are_refused() {
    let m = Movie::default();
    // Index at the end, cut off: the index runs past the end.
    let bytes = MadeUp::movie(&m, false, 100_000).bytes();
    let err = probe_bytes(&bytes[..bytes.len() - 100]).expect_err("cut off");
    assert_eq!(
        err.to_string(),
        "the file ends before the end of its `moov` box"
    );
    // Index first, cut off in the media data.
    let bytes = MadeUp::movie(&m, true, 100_000).bytes();
    let err = probe_bytes(&bytes[..bytes.len() - 1000]).expect_err("cut off");
    assert_eq!(
        err.to_string(),
        "the file ends before the end of its `mdat` box"
    );
    // Cut off before any index.
    let err = probe_bytes(&bytes[..40]).expect_err("cut off");
    assert!(matches!(err, ProbeError::Truncated(_)), "{err:?}");
}

#[test]
fn a_video_without_an_index_or_with_a_huge_one_is_refused() {
    let mut bytes = ftyp(b"isom");
    bytes.extend_from_slice(b"\0\0\0\x10mdat01234567");
    assert!(matches!(probe_bytes(&bytes), Err(ProbeError::MissingIndex)));
    // An index claiming more than Postora reads is refused before it is read.
    let mut file = MadeUp {
        head: ftyp(b"isom"),
        filler: 0,
        tail: Vec::new(),
        pos: 0,
    };
    let big = MAX_INDEX_BYTES + 16;
    file.head.extend_from_slice(&(big as u32).to_be_bytes());
    file.head.extend_from_slice(b"moov");
    file.filler = big - 8;
    let size = file.len();
    let mut reader = CountingReader::new(file);
    assert!(matches!(
        probe(&mut reader, size),
        Err(ProbeError::IndexTooLarge { .. })
    ));
    assert!(reader.bytes_read() < 64 * 1024);
}

#[test]
fn videos_are_assessed_never_fitted() {
    let m = Movie {
        seconds: 200,
        ..Movie::default()
    };
    let bytes = MadeUp::movie(&m, true, 10_000).bytes();
    let info = probe_bytes(&bytes).expect("probe");
    assert!(matches!(
        assess(PlatformKind::Bluesky, &info, bytes.len() as u64),
        Assessment::Refused {
            rule: "duration",
            ..
        }
    ));
    assert_eq!(
        assess(PlatformKind::Youtube, &info, bytes.len() as u64),
        Assessment::Accepted
    );
    assert!(matches!(
        assess(PlatformKind::Instagram, &info, 400_000_000),
        Assessment::Refused { rule: "bytes", .. }
    ));
}

#[test]
fn heic_is_recognised_and_measured() {
    let bytes = heic(4032, 3024);
    let info = probe_bytes(&bytes).expect("probe");
    assert_eq!(info.format, MediaFormat::Heic);
    assert_eq!((info.width, info.height), (4032, 3024));
    // No EXIF item: nothing private.
    assert!(!info.private_metadata);
    let err = probe_bytes(&bytes[..bytes.len() - 10]).expect_err("cut off");
    assert_eq!(
        err.to_string(),
        "the file ends before the end of its `mdat` box"
    );
    assert!(matches!(
        probe_bytes(&heic(100_000, 100_000)),
        Err(ProbeError::TooManyPixels { .. })
    ));
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    fn samples() -> Vec<Vec<u8>> {
        let picture = photo(48, 32, 11);
        vec![
            with_exif(
                &jpeg_of(&picture, 85),
                &exif_tiff(Some(6), Some("Maker"), true),
            ),
            encoded(&picture, image::ImageFormat::Png),
            encoded(&picture, image::ImageFormat::Gif),
            encoded(&picture, image::ImageFormat::WebP),
            heic(640, 480),
            MadeUp::movie(
                &Movie {
                    location: true,
                    ..Movie::default()
                },
                true,
                2048,
            )
            .bytes(),
            MadeUp::movie(&Movie::default(), false, 2048).bytes(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any file cut anywhere and with any bytes changed is probed to an answer, never a panic.
        #[test]
        fn damaged_files_are_answered(which in 0usize..7, cut in 0.0f64..1.0, flips in prop::collection::vec((0.0f64..1.0, any::<u8>()), 0..8)) {
            let mut bytes = samples().swap_remove(which);
            for (at, value) in flips {
                let i = ((bytes.len() as f64) * at) as usize;
                if let Some(b) = bytes.get_mut(i) {
                    *b = value;
                }
            }
            bytes.truncate(((bytes.len() as f64) * cut) as usize);
            let _ = probe_bytes(&bytes);
        }

        /// Random bytes after each known start are probed to an answer, never a panic.
        #[test]
        fn random_bodies_are_answered(start in 0usize..6, body in prop::collection::vec(any::<u8>(), 0..512)) {
            let starts: [&[u8]; 6] = [
                &[0xFF, 0xD8, 0xFF],
                b"\x89PNG\r\n\x1a\n",
                b"GIF89a",
                b"RIFF\0\0\0\0WEBP",
                b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
                b"\0\0\0\x14ftypisom\0\0\0\0isom",
            ];
            let mut bytes = starts[start].to_vec();
            bytes.extend_from_slice(&body);
            let _ = probe_bytes(&bytes);
        }
    }
}
