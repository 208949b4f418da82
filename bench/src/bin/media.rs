//! Media: how little of a large video probing reads, and what making a platform's rendition of a phone photo costs.
//!
//! `cargo run --release -p postora-bench --bin media -- [--gib 1] [--dir /tmp]`
//!
//! 1. Writes a 1 GiB MP4 to a temporary directory: an index (`moov`) describing an hour of 1080p video at 30 frames a
//!    second with AAC sound (a sample size for every frame, a chunk offset for every second), and a media-data box
//!    of filler bytes. Once with the index at the end, once at the front. Probes each through a counting reader and
//!    prints the bytes read and their share of the file.
//! 2. Uploads the first of those files (1 GiB, index at the end) to a real `postora serve` on the local backend in
//!    one streamed request, and copies it on the same disk with a plain read-and-write loop, in the same run; prints
//!    both times and the server's peak resident memory (VmHWM of its process). Needs the release `postora` binary
//!    beside this one (`cargo build --release -p postora-cli`), or `--postora PATH`; `--no-upload` skips it.
//! 3. Makes a 12-megapixel JPEG (4000 × 3000, gradients and noise, quality 92, with an EXIF GPS position) and renders
//!    it to the Bluesky recipe (at most 2000 pixels a side and 1,000,000 bytes) in a child process of this binary,
//!    which prints the time taken and its peak resident memory (VmHWM) before and after.

use std::fs::File;
use std::io::{BufWriter, Cursor, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use image::{ImageEncoder, Rgb, RgbImage};
use postora::domain::media_rules::{assess, Assessment};
use postora::domain::PlatformKind;
use postora::media::{probe, render, CountingReader};
use postora_bench::movie::{write_movie, FPS, SECONDS};
use postora_bench::{arg, vm_hwm_of};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--render-child") {
        let path = args.get(i + 1).context("--render-child needs a path")?;
        return render_child(Path::new(path));
    }
    let gib: u64 = arg(&args, "--gib", 1);
    let dir = match args.iter().position(|a| a == "--dir") {
        Some(i) => tempfile::tempdir_in(args.get(i + 1).context("--dir needs a path")?)?,
        None => tempfile::tempdir()?,
    };

    println!("## Probing a {gib} GiB MP4\n");
    println!(
        "| index | file bytes | index bytes | bytes read | share of the file | seeks | time |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for index_first in [false, true] {
        let path = dir.path().join(format!("movie-{index_first}.mp4"));
        let (size, index) = write_movie(&path, gib << 30, index_first)?;
        let started = Instant::now();
        let mut reader = CountingReader::new(File::open(&path)?);
        let info = probe(&mut reader, size)?;
        let took = started.elapsed();
        if info.duration_ms != Some(u64::from(SECONDS) * 1000)
            || info.frame_rate != Some(f64::from(FPS))
        {
            bail!("probe read the wrong movie: {info:?}");
        }
        println!(
            "| {} | {size} | {index} | {} | {:.4}% | {} | {:.1} ms |",
            if index_first {
                "at the front"
            } else {
                "at the end"
            },
            reader.bytes_read(),
            reader.bytes_read() as f64 * 100.0 / size as f64,
            reader.seeks(),
            took.as_secs_f64() * 1000.0
        );
        if index_first || args.iter().any(|a| a == "--no-upload") {
            std::fs::remove_file(&path)?;
        }
    }

    if !args.iter().any(|a| a == "--no-upload") {
        let path = dir.path().join("movie-false.mp4");
        upload(&args, dir.path(), &path)?;
        std::fs::remove_file(&path)?;
    }

    println!("\n## Rendering a 12-megapixel JPEG for Bluesky\n");
    let photo = dir.path().join("photo.jpg");
    let bytes = write_photo(&photo)?;
    println!("original: 4000×3000, {bytes} bytes, with an EXIF GPS position\n");
    let exe = std::env::current_exe()?;
    let status = Command::new(exe)
        .arg("--render-child")
        .arg(&photo)
        .status()?;
    if !status.success() {
        bail!("the rendering child failed: {status}");
    }
    Ok(())
}

/// Copies `path` beside itself with a plain loop of 1 MiB reads and writes (no in-kernel copy, as a program that
/// receives a file would write it), then uploads it to `postora serve` in one streamed request, and reports both.
fn upload(args: &[String], dir: &Path, path: &Path) -> Result<()> {
    use std::io::Read;
    let size = std::fs::metadata(path)?.len();
    println!("\n## Uploading the {size}-byte MP4 to `postora serve` (local backend)\n");
    let copy = dir.join("copy.mp4");
    // Twice: as `cp` copies (into the page cache), and as Postora keeps an upload (synced to the disk before it
    // answers).
    let mut copies = Vec::new();
    for sync in [false, true] {
        let started = Instant::now();
        let mut from = File::open(path)?;
        let mut to = BufWriter::with_capacity(1 << 20, File::create(&copy)?);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = from.read(&mut buf)?;
            if n == 0 {
                break;
            }
            to.write_all(&buf[..n])?;
        }
        let file = to.into_inner().map_err(|e| e.into_error())?;
        if sync {
            file.sync_all()?;
        }
        copies.push(started.elapsed());
        std::fs::remove_file(&copy)?;
    }
    let (copied, synced) = (copies[0], copies[1]);

    let bin = postora_bench::postora_binary(args);
    let data = dir.join("serve");
    std::fs::create_dir_all(&data)?;
    let key = postora_bench::create_workspace(&bin, &data)?;
    let port = postora_bench::free_port()?;
    let server = postora_bench::Server::start(&bin, &data, port, &[])?;
    let idle = vm_hwm_of(server.pid())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (took, item) = runtime.block_on(async {
        let file = tokio::fs::File::open(path).await?;
        let chunks = futures_util::stream::unfold(file, |mut file| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 256 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(buf), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        });
        let started = Instant::now();
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/media", server.base))
            .bearer_auth(&key)
            .header("content-length", size)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await?;
        let status = resp.status();
        let item: serde_json::Value = resp.json().await?;
        if status != reqwest::StatusCode::CREATED {
            bail!("the upload was refused: {status} {item}");
        }
        Ok::<_, anyhow::Error>((started.elapsed(), item))
    })?;
    let peak = vm_hwm_of(server.pid())?;
    drop(server);
    println!("| what | time | throughput |");
    println!("| --- | --- | --- |");
    for (what, t) in [
        ("copy on the same disk", copied),
        ("copy on the same disk, synced", synced),
        ("upload to postora serve", took),
    ] {
        println!(
            "| {what} | {:.2} s | {:.0} MiB/s |",
            t.as_secs_f64(),
            size as f64 / 1048576.0 / t.as_secs_f64()
        );
    }
    println!(
        "\nupload / copy: {:.2}x; upload / synced copy: {:.2}x; `postora serve` peak resident memory: {:.1} MiB (idle before: {:.1} MiB); item: {} {}×{}, {} ms, sha256 {}",
        took.as_secs_f64() / copied.as_secs_f64(),
        took.as_secs_f64() / synced.as_secs_f64(),
        peak as f64 / 1024.0,
        idle as f64 / 1024.0,
        item["format"],
        item["width"],
        item["height"],
        item["duration_ms"],
        item["sha256"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// In a fresh process, so that its peak memory is the rendition's own: probe, assess, render, report.
fn render_child(path: &Path) -> Result<()> {
    let before = vm_hwm_kib()?;
    let original = std::fs::read(path)?;
    let info = probe(Cursor::new(&original), original.len() as u64)?;
    let Assessment::Fitted { rendition } =
        assess(PlatformKind::Bluesky, &info, original.len() as u64)
    else {
        bail!("Bluesky should fit this photo");
    };
    let read = vm_hwm_kib()?;
    let started = Instant::now();
    let out = render(&original, &info, &rendition)?;
    let took = started.elapsed();
    let after = vm_hwm_kib()?;
    println!("| recipe | rendition | render time | peak RSS before | peak RSS after reading | peak RSS after render |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| `{}` | {}×{}, {} bytes | {:.0} ms | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
        rendition.name(),
        out.width,
        out.height,
        out.bytes.len(),
        took.as_secs_f64() * 1000.0,
        before as f64 / 1024.0,
        read as f64 / 1024.0,
        after as f64 / 1024.0
    );
    Ok(())
}

/// The process's peak resident set size so far, in KiB, from `/proc/self/status`.
fn vm_hwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}

/// A 4000 × 3000 photo-like JPEG with an EXIF GPS position; returns its size in bytes.
fn write_photo(path: &Path) -> Result<u64> {
    let (w, h) = (4000u32, 3000u32);
    let mut state = 0x9E37_79B9u32;
    let picture = RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 40) as i32 - 20;
        let r = ((x * 255) / w) as i32 + noise;
        let g = ((y * 255) / h) as i32 + noise;
        let b =
            (128.0 + 100.0 * ((x as f32 / 90.0).sin() * (y as f32 / 70.0).cos())) as i32 + noise;
        Rgb([
            r.clamp(0, 255) as u8,
            g.clamp(0, 255) as u8,
            b.clamp(0, 255) as u8,
        ])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92).write_image(
        picture.as_raw(),
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )?;
    // EXIF: IFD0 with a GPS pointer, a GPS IFD with GPSLatitudeRef "N".
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0, 26, 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&[1, 0, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut file = jpeg[..2].to_vec();
    file.extend_from_slice(&[0xFF, 0xE1]);
    file.extend_from_slice(&u16::try_from(8 + tiff.len())?.to_be_bytes());
    file.extend_from_slice(b"Exif\0\0");
    file.extend_from_slice(&tiff);
    file.extend_from_slice(&jpeg[2..]);
    std::fs::write(path, &file)?;
    Ok(file.len() as u64)
}
