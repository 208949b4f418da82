//! The 1 GiB movie the media benchmarks use: an index (`moov`) describing an hour of 1080p video at 30 frames a
//! second with AAC sound (a sample size for every frame, a chunk offset for every second), and a media-data box of
//! filler bytes, the index at the end or at the front.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;
use mp4_atom::{
    Audio, Avc1, Avcc, Codec, Encode, Esds, FixedPoint, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Minf, Moov,
    Mp4a, Mvhd, Stbl, Stco, Stsc, StscEntry, Stsd, Stsz, StszSamples, Stts, SttsEntry, Tkhd, Trak,
    Visual,
};

/// The movie's length by default (an hour), in seconds, and its frame rate.
pub const SECONDS: u32 = 3600;
pub const FPS: u32 = 30;
const AUDIO_RATE: u32 = 48_000;
/// AAC frames carry 1024 samples each.
const AUDIO_FRAME: u32 = 1024;

/// Writes the movie with `payload` bytes of media data; returns the file's size and its index's.
pub fn write_movie(path: &Path, payload: u64, index_first: bool) -> Result<(u64, u64)> {
    write_movie_lasting(path, payload, index_first, SECONDS)
}

/// Writes a movie of `seconds` with `payload` bytes of media data; returns the file's size and its index's.
pub fn write_movie_lasting(
    path: &Path,
    payload: u64,
    index_first: bool,
    seconds: u32,
) -> Result<(u64, u64)> {
    let mut ftyp = Vec::new();
    Ftyp {
        major_brand: FourCC::new(b"isom"),
        minor_version: 512,
        compatible_brands: vec![
            FourCC::new(b"isom"),
            FourCC::new(b"avc1"),
            FourCC::new(b"mp41"),
        ],
    }
    .encode(&mut ftyp)?;
    // The index's size does not depend on the offsets it holds, so measure it once, then place the media data.
    let index_len = index(0, payload, seconds)?.len() as u64;
    let mdat_header: u64 = 16;
    let mdat_at = ftyp.len() as u64 + if index_first { index_len } else { 0 };
    let index = index(mdat_at + mdat_header, payload, seconds)?;
    let mut out = BufWriter::with_capacity(8 << 20, File::create(path)?);
    out.write_all(&ftyp)?;
    if index_first {
        out.write_all(&index)?;
    }
    // A 64-bit size: `1`, `mdat`, then the size.
    out.write_all(&1u32.to_be_bytes())?;
    out.write_all(b"mdat")?;
    out.write_all(&(mdat_header + payload).to_be_bytes())?;
    let block: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut left = payload;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    if !index_first {
        out.write_all(&index)?;
    }
    out.flush()?;
    Ok((std::fs::metadata(path)?.len(), index.len() as u64))
}

/// The index of `seconds` of video and sound whose samples fill `payload` bytes from `data_at`, one chunk a second.
fn index(data_at: u64, payload: u64, seconds: u32) -> Result<Vec<u8>> {
    let frames = seconds * FPS;
    let audio_frames = seconds * AUDIO_RATE / AUDIO_FRAME;
    let per_second = payload / u64::from(seconds);
    let audio_share = per_second / 40;
    let video_share = per_second - audio_share;
    // Every second: a chunk of video frames (a key frame each two seconds, larger), then a chunk of sound.
    let mut video_sizes = Vec::with_capacity(frames as usize);
    let mut video_chunks = Vec::with_capacity(seconds as usize);
    let mut audio_chunks = Vec::with_capacity(seconds as usize);
    let audio_per_chunk = AUDIO_RATE / AUDIO_FRAME;
    for s in 0..u64::from(seconds) {
        let at = data_at + s * per_second;
        video_chunks.push(u32::try_from(at).unwrap_or(u32::MAX));
        audio_chunks.push(u32::try_from(at + video_share).unwrap_or(u32::MAX));
        let key = if s % 2 == 0 { video_share / 5 } else { 0 };
        let rest = (video_share - key) / u64::from(FPS);
        for f in 0..FPS {
            let size = if f == 0 { key + rest } else { rest };
            video_sizes.push(u32::try_from(size).unwrap_or(u32::MAX));
        }
    }
    let audio_size = u32::try_from(audio_share / u64::from(audio_per_chunk)).unwrap_or(u32::MAX);
    let video = Trak {
        tkhd: Tkhd {
            track_id: 1,
            duration: u64::from(seconds) * 1000,
            width: FixedPoint::new(1920, 0),
            height: FixedPoint::new(1080, 0),
            enabled: true,
            in_movie: true,
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: 90_000,
                duration: u64::from(seconds) * 90_000,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(b"vide"),
                name: "VideoHandler".into(),
            },
            minf: Minf {
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![Codec::Avc1(Avc1 {
                            visual: Visual {
                                data_reference_index: 1,
                                width: 1920,
                                height: 1080,
                                ..Default::default()
                            },
                            avcc: Avcc {
                                configuration_version: 1,
                                avc_profile_indication: 100,
                                avc_level_indication: 40,
                                length_size: 4,
                                sequence_parameter_sets: vec![vec![
                                    0x67, 0x64, 0x00, 0x28, 0xAC, 0xD9, 0x40,
                                ]],
                                picture_parameter_sets: vec![vec![0x68, 0xEB, 0xE3, 0xCB]],
                                ..Default::default()
                            },
                            ..Default::default()
                        })],
                    },
                    stts: Stts {
                        entries: vec![SttsEntry {
                            sample_count: frames,
                            sample_delta: 90_000 / FPS,
                        }],
                    },
                    stsc: Stsc {
                        entries: vec![StscEntry {
                            first_chunk: 1,
                            samples_per_chunk: FPS,
                            sample_description_index: 1,
                        }],
                    },
                    stsz: Stsz {
                        samples: StszSamples::Different { sizes: video_sizes },
                    },
                    stco: Some(Stco {
                        entries: video_chunks,
                    }),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    };
    let sound = Trak {
        tkhd: Tkhd {
            track_id: 2,
            duration: u64::from(seconds) * 1000,
            enabled: true,
            in_movie: true,
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: AUDIO_RATE,
                duration: u64::from(audio_frames) * u64::from(AUDIO_FRAME),
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(b"soun"),
                name: "SoundHandler".into(),
            },
            minf: Minf {
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![Codec::Mp4a(Mp4a {
                            audio: Audio {
                                data_reference_index: 1,
                                channel_count: 2,
                                sample_size: 16,
                                sample_rate: FixedPoint::new(AUDIO_RATE as u16, 0),
                            },
                            esds: Esds::default(),
                            btrt: None,
                            taic: None,
                        })],
                    },
                    stts: Stts {
                        entries: vec![SttsEntry {
                            sample_count: audio_frames,
                            sample_delta: AUDIO_FRAME,
                        }],
                    },
                    stsc: Stsc {
                        entries: vec![StscEntry {
                            first_chunk: 1,
                            samples_per_chunk: audio_per_chunk,
                            sample_description_index: 1,
                        }],
                    },
                    stsz: Stsz {
                        samples: StszSamples::Different {
                            sizes: vec![audio_size; audio_frames as usize],
                        },
                    },
                    stco: Some(Stco {
                        entries: audio_chunks,
                    }),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    };
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            duration: u64::from(seconds) * 1000,
            next_track_id: 3,
            ..Default::default()
        },
        trak: vec![video, sound],
        ..Default::default()
    };
    let mut out = Vec::new();
    moov.encode(&mut out)?;
    Ok(out)
}
