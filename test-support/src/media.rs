//! Media files for tests, made here rather than kept as binaries: photos encoded with the `image` crate, EXIF blocks
//! written byte by byte (orientation, camera make, GPS position), PNG headers that claim any size, HEIF headers, and
//! MP4 and MOV indexes of any length and codec.

use std::io::Cursor;

use image::{DynamicImage, ImageEncoder, Rgb, RgbImage};
use mp4_atom::{
    Audio, Avc1, Avcc, Codec, Dinf, Encode, Esds, FixedPoint, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Minf,
    Moov, Mp4a, Mvhd, Stbl, Stsd, Stts, SttsEntry, Tkhd, Trak, Visual,
};

/// A picture with smooth gradients and some noise, so that it compresses like a photo.
pub fn photo(width: u32, height: u32, seed: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 48) as i32 - 24;
        let r = (x * 255 / width.max(1)) as i32 + noise;
        let g = (y * 255 / height.max(1)) as i32 + noise;
        let b = (((x + y) / 8) % 256) as i32 + noise;
        Rgb([
            r.clamp(0, 255) as u8,
            g.clamp(0, 255) as u8,
            b.clamp(0, 255) as u8,
        ])
    })
}

pub fn jpeg_of(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("jpeg");
    out
}

pub fn encoded(image: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

/// An EXIF block (little-endian TIFF) with an orientation, a camera make and a GPS position, as asked.
pub fn exif_tiff(orientation: Option<u16>, make: Option<&str>, gps: bool) -> Vec<u8> {
    let mut entries: Vec<(u16, u16, u32, Vec<u8>)> = Vec::new(); // tag, type, count, value (inline or data)
    if let Some(make) = make {
        let mut s = make.as_bytes().to_vec();
        s.push(0);
        entries.push((0x010F, 2, s.len() as u32, s));
    }
    if let Some(o) = orientation {
        entries.push((0x0112, 3, 1, o.to_le_bytes().to_vec()));
    }
    let gps_pointer = gps.then_some(entries.len());
    if gps {
        entries.push((0x8825, 4, 1, vec![0; 4]));
    }
    let ifd0_len = 2 + entries.len() * 12 + 4;
    let mut data_at = 8 + ifd0_len;
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let mut data = Vec::new();
    tiff.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (i, (tag, kind, count, value)) in entries.iter().enumerate() {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        if Some(i) == gps_pointer {
            // The GPS IFD goes after the other data; patched below.
            tiff.extend_from_slice(&[0xEE; 4]);
        } else if value.len() <= 4 {
            let mut v = value.clone();
            v.resize(4, 0);
            tiff.extend_from_slice(&v);
        } else {
            tiff.extend_from_slice(&(data_at as u32).to_le_bytes());
            data.extend_from_slice(value);
            data_at += value.len();
        }
    }
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&data);
    if gps {
        let gps_at = tiff.len() as u32;
        let at = tiff
            .windows(4)
            .position(|w| w == [0xEE; 4])
            .expect("pointer");
        tiff[at..at + 4].copy_from_slice(&gps_at.to_le_bytes());
        // GPSLatitudeRef "N", GPSLatitude 52/1 31/1 0/1.
        let rationals_at = gps_at + 2 + 2 * 12 + 4;
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&[1, 0, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
        tiff.extend_from_slice(&[2, 0, 5, 0, 3, 0, 0, 0]);
        tiff.extend_from_slice(&rationals_at.to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes());
        for (n, d) in [(52u32, 1u32), (31, 1), (0, 1)] {
            tiff.extend_from_slice(&n.to_le_bytes());
            tiff.extend_from_slice(&d.to_le_bytes());
        }
    }
    tiff
}

/// `jpeg` with an APP1 EXIF segment right after its start-of-image marker.
pub fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A PNG signature and header claiming `width` × `height`, and nothing else.
pub fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&13u32.to_be_bytes());
    bytes.extend_from_slice(b"IHDR");
    bytes.extend_from_slice(&ihdr);
    let mut crc = crc32(b"IHDR");
    crc = crc32_update(crc, &ihdr);
    bytes.extend_from_slice(&(!crc).to_be_bytes());
    bytes
}

pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(0xFFFF_FFFF, data)
}

pub fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// What the made-up movie holds.
#[derive(Clone, Copy)]
pub struct Movie {
    pub brand: &'static [u8; 4],
    pub width: u16,
    pub height: u16,
    pub seconds: u32,
    pub fps: u32,
    pub video: bool,
    pub audio: bool,
    pub location: bool,
}

impl Default for Movie {
    fn default() -> Self {
        Movie {
            brand: b"isom",
            width: 1920,
            height: 1080,
            seconds: 60,
            fps: 30,
            video: true,
            audio: true,
            location: false,
        }
    }
}

pub fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    Ftyp {
        major_brand: FourCC::new(brand),
        minor_version: 0,
        compatible_brands: vec![FourCC::new(brand), FourCC::new(b"mp41")],
    }
    .encode(&mut out)
    .expect("ftyp");
    out
}

pub fn moov(m: &Movie) -> Vec<u8> {
    let timescale = 90_000u32;
    let mut trak = Vec::new();
    if m.video {
        trak.push(Trak {
            tkhd: Tkhd {
                track_id: 1,
                duration: u64::from(m.seconds) * 1000,
                width: FixedPoint::new(m.width, 0),
                height: FixedPoint::new(m.height, 0),
                enabled: true,
                ..Default::default()
            },
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale,
                    duration: u64::from(m.seconds) * u64::from(timescale),
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: FourCC::new(b"vide"),
                    name: "video".into(),
                },
                minf: Minf {
                    dinf: Dinf::default(),
                    stbl: Stbl {
                        stsd: Stsd {
                            codecs: vec![Codec::Avc1(Avc1 {
                                visual: Visual {
                                    width: m.width,
                                    height: m.height,
                                    ..Default::default()
                                },
                                avcc: Avcc {
                                    configuration_version: 1,
                                    avc_profile_indication: 66,
                                    avc_level_indication: 31,
                                    length_size: 4,
                                    sequence_parameter_sets: vec![vec![0x67, 0x42, 0, 31]],
                                    picture_parameter_sets: vec![vec![0x68, 0xce, 0x3c, 0x80]],
                                    ..Default::default()
                                },
                                ..Default::default()
                            })],
                        },
                        stts: Stts {
                            entries: vec![SttsEntry {
                                sample_count: m.seconds * m.fps,
                                sample_delta: timescale / m.fps,
                            }],
                        },
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        });
    }
    if m.audio {
        trak.push(Trak {
            tkhd: Tkhd {
                track_id: 2,
                enabled: true,
                ..Default::default()
            },
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale: 48_000,
                    duration: u64::from(m.seconds) * 48_000,
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: FourCC::new(b"soun"),
                    name: "sound".into(),
                },
                minf: Minf {
                    stbl: Stbl {
                        stsd: Stsd {
                            codecs: vec![Codec::Mp4a(Mp4a {
                                audio: Audio {
                                    data_reference_index: 1,
                                    channel_count: 2,
                                    sample_size: 16,
                                    sample_rate: FixedPoint::new(48_000, 0),
                                },
                                esds: Esds::default(),
                                btrt: None,
                                taic: None,
                            })],
                        },
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        });
    }
    let movie = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            duration: u64::from(m.seconds) * 1000,
            ..Default::default()
        },
        trak,
        ..Default::default()
    };
    let mut out = Vec::new();
    movie.encode(&mut out).expect("moov");
    if m.location {
        // QuickTime user data with a position, as phones write it.
        let xyz = b"\0\x12\x15\xc7+52.5200+013.4050/";
        let mut item = ((8 + xyz.len()) as u32).to_be_bytes().to_vec();
        item.extend_from_slice(b"\xA9xyz");
        item.extend_from_slice(xyz);
        let mut udta = ((8 + item.len()) as u32).to_be_bytes().to_vec();
        udta.extend_from_slice(b"udta");
        udta.extend_from_slice(&item);
        out.extend_from_slice(&udta);
        let size = out.len() as u32;
        out[0..4].copy_from_slice(&size.to_be_bytes());
    }
    out
}

/// An ISO box: size, kind, body.
pub fn iso_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((8 + body.len()) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// The smallest HEIF still image header that says how large the picture is: `ftyp`, and `meta` with a handler and
/// an image size property.
pub fn heic(width: u32, height: u32) -> Vec<u8> {
    let mut ispe = vec![0, 0, 0, 0];
    ispe.extend_from_slice(&width.to_be_bytes());
    ispe.extend_from_slice(&height.to_be_bytes());
    let ipco = iso_box(b"ipco", &iso_box(b"ispe", &ispe));
    let iprp = iso_box(b"iprp", &ipco);
    let mut hdlr = vec![0u8; 8];
    hdlr.extend_from_slice(b"pict");
    hdlr.extend_from_slice(&[0; 13]);
    let mut meta = vec![0, 0, 0, 0];
    meta.extend_from_slice(&iso_box(b"hdlr", &hdlr));
    meta.extend_from_slice(&iprp);
    let mut out = iso_box(b"ftyp", b"heic\0\0\0\0mif1heic");
    out.extend_from_slice(&iso_box(b"meta", &meta));
    out.extend_from_slice(&iso_box(b"mdat", &[0u8; 64]));
    out
}

/// A whole small movie: `ftyp`, a `mdat` of `payload` zero bytes, then the index (as a camera writes it, index last).
pub fn mp4(movie: &Movie, payload: usize) -> Vec<u8> {
    let mut out = ftyp(movie.brand);
    out.extend_from_slice(&((8 + payload) as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.resize(out.len() + payload, 0);
    out.extend_from_slice(&moov(movie));
    out
}

/// A JPEG photo of `width` × `height` whose EXIF holds a GPS position and a camera make, as phones write them.
pub fn jpeg_with_location(width: u32, height: u32) -> Vec<u8> {
    with_exif(
        &jpeg_of(&photo(width, height, 7), 90),
        &exif_tiff(Some(1), Some("PhoneMaker"), true),
    )
}

/// A plain JPEG photo, without metadata.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    jpeg_of(&photo(width, height, 3), 85)
}

/// Whether `bytes` carry an EXIF block that can be read.
pub fn has_exif(bytes: &[u8]) -> bool {
    exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .is_ok()
}

/// A web server on 127.0.0.1 that answers every GET with `bytes`, counting the requests it gets: a public host of
/// files to import, for a Postora that allows loopback imports.
pub struct FileHost {
    pub origin: String,
    pub hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FileHost {
    pub async fn start(bytes: Vec<u8>, content_type: &'static str) -> FileHost {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let body = bytes::Bytes::from(bytes);
        let app = axum::Router::new().fallback(move || {
            let body = body.clone();
            counter.fetch_add(1, Ordering::SeqCst);
            async move { ([(axum::http::header::CONTENT_TYPE, content_type)], body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FileHost { origin, hits, task }
    }

    /// A URL on this host.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}
