//! Big video: a 1 GiB MP4 published to TikTok and to YouTube (their fakes, on loopback) by a real `postora serve`.
//!
//! ```sh
//! cargo build --release -p postora-cli -p postora-bench --bin big_video --bin postora
//! target/release/big_video [--dir /tmp] [--gib 1] [--platform tiktok|youtube] [--no-kill] [--keep-movie]
//!     [--lease-secs 30] [--postora PATH]
//! ```
//!
//! Needs about twice the video's size free in `--dir` (the video, and the server's copy in its media library).
//!
//! 1. Writes (or reuses, in `--dir`) a 1 GiB MP4 with a realistic index (nine minutes of 1080p at 30 frames a second
//!    with AAC sound: TikTok takes up to ten), and takes its SHA-256.
//! 2. For each platform: starts the platform's fake in this process, keeping only a digest of what it receives (the
//!    count, a running SHA-256, the ranges that arrived twice), its protocol checks unchanged; starts the release
//!    `postora serve` on the local backend with a fresh data directory and the platform's variables pointing at the
//!    fake; connects an account through Postora's OAuth flow against the fake; uploads the video to Postora's media
//!    library; restarts the server (so that its peak memory is the publisher's alone) and posts the video to the
//!    account, due a few seconds later. Measures the time from due to published, the upload time as the fake saw it
//!    (first to last byte), and the server's peak resident memory (VmHWM), idle and after publishing.
//! 3. Sends the same bytes to the same fake with a bare HTTP client (reqwest, streaming the file): TikTok's init and
//!    the same chunks; YouTube's session and one `PUT` of the whole file, then again in Postora's chunk size.
//! 4. Unless `--no-kill`: posts the video again, kills the server with SIGKILL once the fake holds about half of it,
//!    starts it again on the same data directory, and reports what the fake received twice and whether the video was
//!    published exactly once with the file's SHA-256.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::Stream;
use postora::platforms::tiktok::upload::{ChunkPlan, DEFAULT_CHUNK_BYTES};
use postora_bench::movie::write_movie_lasting;
use postora_bench::{arg, create_workspace, free_port, postora_binary, vm_hwm_of, Server};
use postora_test_support::fakes::received::Received;
use postora_test_support::fakes::tiktok::FakeTiktok;
use postora_test_support::fakes::youtube::FakeYoutube;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Nine minutes: TikTok takes videos up to ten.
const MOVIE_SECONDS: u32 = 540;
/// Postora's YouTube chunk size by default.
const YOUTUBE_CHUNK: u64 = 8 << 20;
const MIB: f64 = 1024.0 * 1024.0;

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let gib: u64 = arg(&args, "--gib", 1);
    let lease: u64 = arg(&args, "--lease-secs", 30);
    let keep = args.iter().any(|a| a == "--keep-movie");
    let kill = !args.iter().any(|a| a == "--no-kill");
    let only: String = arg(&args, "--platform", String::new());
    let dir = match args.iter().position(|a| a == "--dir") {
        Some(i) => PathBuf::from(args.get(i + 1).context("--dir needs a path")?),
        None => std::env::temp_dir(),
    };
    let work = tempfile::tempdir_in(&dir)?;
    let movie = dir.join(format!("big-video-{gib}gib-{MOVIE_SECONDS}s.mp4"));
    let payload = gib << 30;
    let fresh = std::fs::metadata(&movie).map_or(true, |m| m.len() < payload);
    if fresh {
        let started = Instant::now();
        write_movie_lasting(&movie, payload, false, MOVIE_SECONDS)?;
        println!(
            "wrote {} in {:.1} s",
            movie.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&movie)?.len();
    let started = Instant::now();
    let sha = sha256_file(&movie)?;
    println!(
        "movie: {size} bytes, {MOVIE_SECONDS} s of 1080p30, sha256 {sha} (hashed in {:.1} s)\n",
        started.elapsed().as_secs_f64()
    );
    let bin = postora_binary(&args);
    let mut reports = Vec::new();
    for platform in [Platform::Tiktok, Platform::Youtube] {
        if !only.is_empty() && only != platform.name() {
            continue;
        }
        let stage = Stage {
            platform,
            bin: bin.clone(),
            data: work.path().join(platform.name()),
            movie: movie.clone(),
            size,
            sha: sha.clone(),
            lease,
        };
        reports.push(stage.run(kill).await?);
        // The server's copy of the video goes before the next platform's.
        std::fs::remove_dir_all(&stage.data)?;
    }
    print_reports(&reports, size);
    drop(work);
    if fresh && !keep {
        std::fs::remove_file(&movie)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Tiktok,
    Youtube,
}

impl Platform {
    fn name(self) -> &'static str {
        match self {
            Platform::Tiktok => "tiktok",
            Platform::Youtube => "youtube",
        }
    }
}

/// A platform's fake, keeping digests only.
enum Fake {
    Tiktok(FakeTiktok),
    Youtube(FakeYoutube),
}

impl Fake {
    async fn start(platform: Platform) -> Fake {
        match platform {
            Platform::Tiktok => {
                let f = FakeTiktok::start().await;
                f.keep_digests_only();
                Fake::Tiktok(f)
            }
            Platform::Youtube => {
                let f = FakeYoutube::start().await;
                f.keep_digests_only();
                Fake::Youtube(f)
            }
        }
    }

    /// The variables that point Postora at the fake; YouTube in Postora's default chunk size.
    fn env(&self) -> Vec<(String, String)> {
        match self {
            Fake::Tiktok(f) => f.env_pairs(),
            Fake::Youtube(f) => f
                .env_pairs()
                .into_iter()
                .map(|(k, v)| {
                    if k == "POSTORA_YOUTUBE_CHUNK_BYTES" {
                        (k, YOUTUBE_CHUNK.to_string())
                    } else {
                        (k, v)
                    }
                })
                .collect(),
        }
    }

    fn origin(&self) -> String {
        let o = match self {
            Fake::Tiktok(f) => f.origin(),
            Fake::Youtube(f) => f.origin(),
        };
        o.as_str().trim_end_matches('/').to_owned()
    }

    fn options(&self) -> Value {
        match self {
            Fake::Tiktok(_) => json!({ "privacy_level": "PUBLIC_TO_EVERYONE" }),
            Fake::Youtube(_) => {
                json!({ "title": "A big video", "self_declared_made_for_kids": false })
            }
        }
    }

    fn digests(&self) -> Vec<(String, Received)> {
        match self {
            Fake::Tiktok(f) => f.digests(),
            Fake::Youtube(f) => f.digests(),
        }
    }

    /// Posts the fake holds (published videos).
    fn published(&self) -> usize {
        match self {
            Fake::Tiktok(f) => f
                .publishes()
                .iter()
                .filter(|(_, p)| p.post_id.is_some() && p.video_size > 0)
                .count(),
            Fake::Youtube(f) => f.videos().len(),
        }
    }

    fn token(&self, user: &str) -> String {
        match self {
            Fake::Tiktok(f) => f.issue_token(user),
            Fake::Youtube(f) => f.issue_token(user),
        }
    }
}

struct Stage {
    platform: Platform,
    bin: PathBuf,
    data: PathBuf,
    movie: PathBuf,
    size: u64,
    sha: String,
    lease: u64,
}

/// What one publish measured.
#[derive(Debug, Default, Clone)]
struct Publish {
    status: String,
    due_to_published: f64,
    upload_secs: f64,
    idle_kib: u64,
    peak_kib: u64,
    sha_ok: bool,
}

#[derive(Debug, Default, Clone)]
struct Bare {
    what: String,
    total_secs: f64,
    upload_secs: f64,
    sha_ok: bool,
}

#[derive(Debug, Default, Clone)]
struct Killed {
    held_at_kill: u64,
    status: String,
    uploads: usize,
    abandoned_bytes: u64,
    twice_bytes: u64,
    not_kept: u64,
    published_once: bool,
    sha_ok: bool,
    restart_to_published: f64,
    resumed_peak_kib: u64,
}

struct Report {
    platform: Platform,
    media_upload_secs: f64,
    media_upload_peak_kib: u64,
    publish: Publish,
    bare: Vec<Bare>,
    killed: Option<Killed>,
}

impl Stage {
    async fn run(&self, kill: bool) -> Result<Report> {
        let name = self.platform.name();
        println!("## {name}");
        let fake = Fake::start(self.platform).await;
        std::fs::create_dir_all(&self.data)?;
        let key = create_workspace(&self.bin, &self.data)?;
        let port = free_port()?;
        let mut env = fake.env();
        let lease = self.lease.to_string();
        let visibility = (self.lease + 10).to_string();
        for (k, v) in [
            ("POSTORA_PUBLISH_LEASE_SECS", lease.as_str()),
            ("POSTORA_REQUEUE_AFTER_SECS", visibility.as_str()),
            ("POSTORA_QUEUE_VISIBILITY_SECS", visibility.as_str()),
            ("POSTORA_BACKOFF_BASE_SECS", "1"),
            ("POSTORA_BACKOFF_MAX_SECS", "5"),
        ] {
            env.push((k.into(), v.into()));
        }
        let env_refs: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let start = || {
            tokio::task::block_in_place(|| Server::start(&self.bin, &self.data, port, &env_refs))
        };
        let http = reqwest::Client::new();

        let server = start()?;
        let base = server.base.clone();
        let account = connect(&http, &base, &key, name).await?;
        println!("connected {name} account {account}");
        let started = Instant::now();
        let media = upload_media(&http, &base, &key, &self.movie, self.size).await?;
        let media_upload_secs = started.elapsed().as_secs_f64();
        let media_upload_peak_kib = vm_hwm_of(server.pid())?;
        println!(
            "uploaded to the media library in {media_upload_secs:.1} s (server peak {:.1} MiB)",
            media_upload_peak_kib as f64 / 1024.0
        );
        // A fresh process, so that its peak is the publisher's alone.
        drop(server);
        let server = start()?;
        let idle_kib = vm_hwm_of(server.pid())?;

        let known: Vec<String> = fake.digests().into_iter().map(|(id, _)| id).collect();
        let post = create_post(&http, &base, &key, &account, &media, &fake.options(), 3).await?;
        let delivery = settle(&http, &base, &key, &post, Duration::from_secs(600)).await?;
        let peak_kib = vm_hwm_of(server.pid())?;
        let digests = fake.digests();
        let done = digests
            .iter()
            .find(|(id, r)| !known.contains(id) && r.complete());
        let publish = Publish {
            status: delivery["status"].as_str().unwrap_or("").to_owned(),
            due_to_published: lag_secs(&delivery).unwrap_or(f64::NAN),
            upload_secs: done.map_or(f64::NAN, |(_, r)| upload_secs(r)),
            idle_kib,
            peak_kib,
            sha_ok: done.is_some_and(|(_, r)| r.sha256.as_deref() == Some(self.sha.as_str())),
        };
        println!("published: {publish:?}");
        if publish.status != "published" {
            bail!("the delivery did not publish: {delivery}");
        }

        let bare = self.bare(&fake).await?;
        for b in &bare {
            println!("bare: {b:?}");
        }

        let killed = if kill {
            let k = self
                .killed(&fake, server, &start, &http, &key, &account, &media)
                .await?;
            println!("kill -9: {k:?}");
            Some(k)
        } else {
            drop(server);
            None
        };
        println!();
        Ok(Report {
            platform: self.platform,
            media_upload_secs,
            media_upload_peak_kib,
            publish,
            bare,
            killed,
        })
    }

    /// The same bytes with a bare client, straight to the fake.
    async fn bare(&self, fake: &Fake) -> Result<Vec<Bare>> {
        let http = reqwest::Client::new();
        let origin = fake.origin();
        let token = fake.token("bare");
        let mut out = Vec::new();
        match self.platform {
            Platform::Tiktok => {
                let plan = ChunkPlan::new(self.size, DEFAULT_CHUNK_BYTES)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                let started = Instant::now();
                let init: Value = http
                    .post(format!("{origin}/v2/post/publish/video/init/"))
                    .bearer_auth(&token)
                    .json(&json!({
                        "post_info": { "title": "bare", "privacy_level": "PUBLIC_TO_EVERYONE" },
                        "source_info": {
                            "source": "FILE_UPLOAD", "video_size": plan.video_size,
                            "chunk_size": plan.chunk_size, "total_chunk_count": plan.total_chunk_count,
                        },
                    }))
                    .send()
                    .await?
                    .json()
                    .await?;
                let url = init["data"]["upload_url"]
                    .as_str()
                    .with_context(|| format!("no upload_url: {init}"))?
                    .to_owned();
                let id = init["data"]["publish_id"].as_str().unwrap_or("").to_owned();
                for i in 0..plan.total_chunk_count {
                    let (s, e) = plan.range(i);
                    let resp = http
                        .put(&url)
                        .header("content-type", "video/mp4")
                        .header("content-length", e - s)
                        .header(
                            "content-range",
                            format!("bytes {s}-{}/{}", e - 1, self.size),
                        )
                        .body(reqwest::Body::wrap_stream(
                            file_stream(&self.movie, s, e).await?,
                        ))
                        .send()
                        .await?;
                    if !resp.status().is_success() {
                        bail!("bare chunk {i} refused: {}", resp.text().await?);
                    }
                }
                let total_secs = started.elapsed().as_secs_f64();
                let r = digest_of(fake, &id)?;
                out.push(Bare {
                    what: format!(
                        "init + {} chunks of {} MiB",
                        plan.total_chunk_count,
                        plan.chunk_size >> 20
                    ),
                    total_secs,
                    upload_secs: upload_secs(&r),
                    sha_ok: r.sha256.as_deref() == Some(self.sha.as_str()),
                });
            }
            Platform::Youtube => {
                for chunk in [self.size, YOUTUBE_CHUNK] {
                    let started = Instant::now();
                    let resp = http
                        .post(format!(
                            "{origin}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status"
                        ))
                        .bearer_auth(&token)
                        .header("x-upload-content-length", self.size.to_string())
                        .header("x-upload-content-type", "video/mp4")
                        .json(&json!({ "snippet": { "title": "bare" }, "status": { "privacyStatus": "public" } }))
                        .send()
                        .await?;
                    let session = resp
                        .headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .context("no session URI")?
                        .to_owned();
                    let id = url::Url::parse(&session)?
                        .query_pairs()
                        .find(|(k, _)| k == "upload_id")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    let mut at = 0;
                    while at < self.size {
                        let end = (at + chunk).min(self.size);
                        let resp = http
                            .put(&session)
                            .bearer_auth(&token)
                            .header("content-type", "video/mp4")
                            .header("content-length", end - at)
                            .header(
                                "content-range",
                                format!("bytes {at}-{}/{}", end - 1, self.size),
                            )
                            .body(reqwest::Body::wrap_stream(
                                file_stream(&self.movie, at, end).await?,
                            ))
                            .send()
                            .await?;
                        let status = resp.status().as_u16();
                        if status != 308 && !(200..300).contains(&status) {
                            bail!("bare PUT refused: {status} {}", resp.text().await?);
                        }
                        at = end;
                    }
                    let total_secs = started.elapsed().as_secs_f64();
                    let r = digest_of(fake, &id)?;
                    out.push(Bare {
                        what: if chunk >= self.size {
                            "session + one PUT".into()
                        } else {
                            format!("session + PUTs of {} MiB", chunk >> 20)
                        },
                        total_secs,
                        upload_secs: upload_secs(&r),
                        sha_ok: r.sha256.as_deref() == Some(self.sha.as_str()),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Posts again, kills the server once the fake holds about half, starts it again, and counts.
    #[allow(clippy::too_many_arguments)]
    async fn killed(
        &self,
        fake: &Fake,
        server: Server,
        start: &dyn Fn() -> Result<Server>,
        http: &reqwest::Client,
        key: &str,
        account: &str,
        media: &str,
    ) -> Result<Killed> {
        let base = server.base.clone();
        let known: Vec<String> = fake.digests().into_iter().map(|(id, _)| id).collect();
        let published_before = fake.published();
        let post = create_post(http, &base, key, account, media, &fake.options(), 2).await?;
        let deadline = Instant::now() + Duration::from_secs(300);
        let held_at_kill = loop {
            let held = fake
                .digests()
                .into_iter()
                .filter(|(id, _)| !known.contains(id))
                .map(|(_, r)| r.held)
                .max()
                .unwrap_or(0);
            if held >= self.size / 2 {
                break held;
            }
            if Instant::now() > deadline {
                bail!("the upload never reached half");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        server.kill_9()?;
        let restarted = Instant::now();
        let server = start()?;
        let delivery = settle(http, &base, key, &post, Duration::from_secs(900)).await?;
        let restart_to_published = restarted.elapsed().as_secs_f64();
        let resumed_peak_kib = vm_hwm_of(server.pid())?;
        drop(server);
        let uploads: Vec<Received> = fake
            .digests()
            .into_iter()
            .filter(|(id, _)| !known.contains(id))
            .map(|(_, r)| r)
            .collect();
        let complete: Vec<&Received> = uploads.iter().filter(|r| r.complete()).collect();
        Ok(Killed {
            held_at_kill,
            status: delivery["status"].as_str().unwrap_or("").to_owned(),
            uploads: uploads.len(),
            abandoned_bytes: uploads
                .iter()
                .filter(|r| !r.complete())
                .map(|r| r.held)
                .sum(),
            twice_bytes: uploads.iter().map(Received::twice_bytes).sum(),
            not_kept: uploads.iter().map(|r| r.not_kept).sum(),
            published_once: complete.len() == 1 && fake.published() == published_before + 1,
            sha_ok: complete.len() == 1 && complete[0].sha256.as_deref() == Some(self.sha.as_str()),
            restart_to_published,
            resumed_peak_kib,
        })
    }
}

fn digest_of(fake: &Fake, id: &str) -> Result<Received> {
    fake.digests()
        .into_iter()
        .find(|(i, _)| i == id)
        .map(|(_, r)| r)
        .with_context(|| format!("the fake has no upload {id}"))
}

fn upload_secs(r: &Received) -> f64 {
    match (r.first_byte, r.last_byte) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => f64::NAN,
    }
}

fn lag_secs(delivery: &Value) -> Option<f64> {
    let s: chrono::DateTime<chrono::Utc> = delivery["scheduled_at"].as_str()?.parse().ok()?;
    let p: chrono::DateTime<chrono::Utc> = delivery["published_at"].as_str()?.parse().ok()?;
    Some((p - s).num_milliseconds() as f64 / 1000.0)
}

fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Bytes `[start, end)` of the file, read in 256 KiB pieces as the body asks for them.
async fn file_stream(
    path: &Path,
    start: u64,
    end: u64,
) -> Result<impl Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(start)).await?;
    Ok(futures_util::stream::unfold(
        (file, end - start),
        |(mut file, left)| async move {
            if left == 0 {
                return None;
            }
            let mut buf = vec![0u8; (256 << 10).min(left as usize)];
            match file.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::other("the file ended early")),
                    (file, 0),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(buf), (file, left - n as u64)))
                }
                Err(e) => Some((Err(e), (file, 0))),
            }
        },
    ))
}

/// Connects an account through Postora's OAuth flow: the consent page of the fake approves and sends the browser
/// back to Postora's callback. Returns the account's id.
async fn connect(http: &reqwest::Client, base: &str, key: &str, platform: &str) -> Result<String> {
    let resp = http
        .post(format!("{base}/v1/accounts/connect/{platform}"))
        .bearer_auth(key)
        .json(&json!({}))
        .send()
        .await?;
    let start: Value = resp.json().await?;
    let url = start["authorize_url"]
        .as_str()
        .with_context(|| format!("no authorize_url: {start}"))?;
    let page = reqwest::Client::new().get(url).send().await?;
    if !page.status().is_success() {
        bail!(
            "connecting failed: {} {}",
            page.status(),
            page.text().await?
        );
    }
    let accounts: Value = http
        .get(format!("{base}/v1/accounts"))
        .bearer_auth(key)
        .send()
        .await?
        .json()
        .await?;
    accounts["accounts"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|a| a["id"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("no account: {accounts}"))
}

/// Uploads the file to Postora's media library in one streamed request; the media id.
async fn upload_media(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    path: &Path,
    size: u64,
) -> Result<String> {
    let resp = http
        .post(format!("{base}/v1/media"))
        .bearer_auth(key)
        .header("content-length", size)
        .body(reqwest::Body::wrap_stream(
            file_stream(path, 0, size).await?,
        ))
        .send()
        .await?;
    let status = resp.status();
    let item: Value = resp.json().await?;
    if status != reqwest::StatusCode::CREATED {
        bail!("the upload was refused: {status} {item}");
    }
    item["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no media id: {item}"))
}

/// Creates a post of the video to the account, due at the whole second `lead` seconds on; its id.
async fn create_post(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    account: &str,
    media: &str,
    options: &Value,
    lead: i64,
) -> Result<String> {
    let now = chrono::Utc::now();
    let due = chrono::DateTime::from_timestamp(now.timestamp() + lead, 0).unwrap_or(now);
    let resp = http
        .post(format!("{base}/v1/posts"))
        .bearer_auth(key)
        .json(&json!({
            "text": "A big video",
            "media": [{ "media_id": media }],
            "targets": [{ "account_id": account, "options": options }],
            "scheduled_at": due.to_rfc3339(),
        }))
        .send()
        .await?;
    let status = resp.status();
    let post: Value = resp.json().await?;
    if status != reqwest::StatusCode::CREATED {
        bail!("creating the post failed: {status} {post}");
    }
    post["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no post id: {post}"))
}

/// Waits until the post's one delivery is published or failed; the delivery.
async fn settle(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    post: &str,
    within: Duration,
) -> Result<Value> {
    let deadline = Instant::now() + within;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = http
            .get(format!("{base}/v1/posts/{post}"))
            .bearer_auth(key)
            .send()
            .await;
        if let Ok(resp) = got {
            if let Ok(p) = resp.json::<Value>().await {
                let d = p["deliveries"][0].clone();
                if matches!(d["status"].as_str(), Some("published" | "failed")) {
                    return Ok(d);
                }
            }
        }
        if Instant::now() > deadline {
            bail!("the post did not settle within {within:?}");
        }
    }
}

fn print_reports(reports: &[Report], size: u64) {
    let mib = size as f64 / MIB;
    println!("## Publishing ({size} bytes)\n");
    println!("| platform | media library upload | server peak after it | publisher idle | publisher peak | due → published | upload (fake's first to last byte) | throughput | SHA-256 at the fake |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in reports {
        let p = &r.publish;
        println!(
            "| {} | {:.1} s | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2} s | {:.2} s | {:.0} MiB/s | {} |",
            r.platform.name(),
            r.media_upload_secs,
            r.media_upload_peak_kib as f64 / 1024.0,
            p.idle_kib as f64 / 1024.0,
            p.peak_kib as f64 / 1024.0,
            p.due_to_published,
            p.upload_secs,
            mib / p.upload_secs,
            if p.sha_ok { "matches" } else { "DIFFERS" }
        );
    }
    println!("\n## Bare client to the same fake\n");
    println!("| platform | what | whole exchange | upload (fake's first to last byte) | throughput | Postora's upload / this | SHA-256 at the fake |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for r in reports {
        for b in &r.bare {
            println!(
                "| {} | {} | {:.2} s | {:.2} s | {:.0} MiB/s | {:.2}x | {} |",
                r.platform.name(),
                b.what,
                b.total_secs,
                b.upload_secs,
                mib / b.upload_secs,
                r.publish.upload_secs / b.upload_secs,
                if b.sha_ok { "matches" } else { "DIFFERS" }
            );
        }
    }
    if reports.iter().any(|r| r.killed.is_some()) {
        println!("\n## kill -9 halfway\n");
        println!("| platform | fake held at the kill | uploads the fake saw | bytes of abandoned uploads | bytes received twice in an upload | bytes in chunks not kept | restart → published | resumed process peak | status | published once | SHA-256 |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for r in reports {
            if let Some(k) = &r.killed {
                println!(
                    "| {} | {:.0} MiB | {} | {:.0} MiB | {:.0} MiB | {:.1} MiB | {:.1} s | {:.1} MiB | {} | {} | {} |",
                    r.platform.name(),
                    k.held_at_kill as f64 / MIB,
                    k.uploads,
                    k.abandoned_bytes as f64 / MIB,
                    k.twice_bytes as f64 / MIB,
                    k.not_kept as f64 / MIB,
                    k.restart_to_published,
                    k.resumed_peak_kib as f64 / 1024.0,
                    k.status,
                    if k.published_once { "yes" } else { "NO" },
                    if k.sha_ok { "matches" } else { "DIFFERS" }
                );
            }
        }
    }
}
