//! Media rules: which images and videos each platform takes, and what Postora makes of an item for it. The rules
//! themselves are listed per platform in [`PlatformKind::media_rules`]; this module applies them.
//!
//! An image that breaks a size rule (bytes, pixels, longest side) or comes in a format the platform does not take is
//! *fitted* when Postora can decode and encode it again (JPEG, PNG, WebP): a JPEG rendition is made within the
//! limits. An image that carries location or camera metadata is fitted with the `clean` recipe, so that no
//! published image carries it. GIFs (they may be animated) and HEIC images (Postora cannot decode them) are refused
//! when they break a rule, with what to do about it. Videos are never transcoded: a video that breaks a rule is
//! refused.

use serde::Serialize;

use super::ids::MediaId;
use super::media::{MediaFormat, MediaInfo, MediaKind, RenditionSpec};
use super::platform::PlatformKind;
pub use super::platform::{AspectRange, ImageRules, MediaRules, VideoRules};

/// What a platform would make of one item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Assessment {
    /// Published as it is.
    Accepted,
    /// Published as a rendition Postora makes to this recipe.
    Fitted { rendition: RenditionSpec },
    /// Not publishable there. `rule` is a stable code (`kind`, `format`, `bytes`, `pixels`, `aspect_ratio`,
    /// `duration`, `frame_rate`, `metadata`); `message` says why and what to do, for a person.
    Refused { rule: &'static str, message: String },
}

impl Assessment {
    fn refused(rule: &'static str, message: String) -> Self {
        Assessment::Refused { rule, message }
    }
}

/// One rule a post's media breaks on a platform, for a person to read. `media_id` names the item when the rule is
/// about one item, and is absent when it is about the post (how many items, which kinds together).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MediaViolation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_id: Option<MediaId>,
    pub rule: &'static str,
    pub message: String,
}

/// What `platform` would make of one item of `bytes` bytes that probing found to be `info`.
pub fn assess(platform: PlatformKind, info: &MediaInfo, bytes: u64) -> Assessment {
    assess_under(platform, &platform.media_rules(), info, bytes)
}

/// [`assess`] under `rules`: the platform's own, or an account's where its server sets narrower ones.
pub fn assess_under(
    platform: PlatformKind,
    rules: &MediaRules,
    info: &MediaInfo,
    bytes: u64,
) -> Assessment {
    match info.kind() {
        MediaKind::Image => assess_image(platform, rules, info, bytes),
        MediaKind::Video => assess_video(platform, rules, info, bytes),
    }
}

fn assess_image(
    platform: PlatformKind,
    rules: &MediaRules,
    info: &MediaInfo,
    bytes: u64,
) -> Assessment {
    let Some(images) = &rules.images else {
        return Assessment::refused("kind", format!("{platform} takes only video"));
    };
    let (w, h) = (info.width, info.height);
    if let Some(aspect) = images.aspect {
        if !aspect.contains(w, h) {
            return Assessment::refused(
                "aspect_ratio",
                format!(
                    "{platform} takes images from {aspect} (width to height) and this one is {w}×{h}; \
                     crop it to fit and upload it again"
                ),
            );
        }
    }
    let accepted = images.formats.contains(&info.format);
    let over_bytes = |limit: Option<u64>| limit.filter(|&max| bytes > max);
    let over_side = images.max_side.filter(|&max| info.longest_side() > max);
    let over_pixels = images.max_pixels.filter(|&max| info.pixels() > max);
    match info.format {
        MediaFormat::Heic => {
            if !accepted {
                return Assessment::refused(
                    "format",
                    format!(
                        "{platform} does not take HEIC images and Postora cannot convert them; export the photo as \
                         JPEG (on an iPhone, Settings › Camera › Formats › Most Compatible) and upload it again"
                    ),
                );
            }
            if info.private_metadata {
                return Assessment::refused(
                    "metadata",
                    "this HEIC photo carries location or camera data, which Postora removes from every image it \
                     publishes but cannot remove from HEIC; export the photo as JPEG and upload it again"
                        .to_owned(),
                );
            }
            if let Some(max) = over_bytes(images.max_bytes) {
                return too_many_bytes(platform, "HEIC image", bytes, max, "export it as JPEG");
            }
            if over_side.is_some() || over_pixels.is_some() {
                return too_many_pixels(platform, images, info, "export it as JPEG");
            }
            Assessment::Accepted
        }
        MediaFormat::Gif => {
            if !accepted {
                return Assessment::refused(
                    "format",
                    format!(
                        "{platform} does not take GIF images; convert it to a video (MP4) or, for a still \
                         picture, to JPEG or PNG, and upload it again"
                    ),
                );
            }
            if let Some(max) = over_bytes(images.max_gif_bytes.or(images.max_bytes)) {
                return too_many_bytes(
                    platform,
                    "GIF",
                    bytes,
                    max,
                    "make it shorter, smaller or with fewer colours",
                );
            }
            if over_side.is_some() || over_pixels.is_some() {
                return too_many_pixels(
                    platform,
                    images,
                    info,
                    "make it smaller (Postora does not resize GIFs)",
                );
            }
            Assessment::Accepted
        }
        MediaFormat::Jpeg | MediaFormat::Png | MediaFormat::Webp => {
            let fit = !accepted
                || over_bytes(images.max_bytes).is_some()
                || over_side.is_some()
                || over_pixels.is_some();
            if fit {
                if !images.formats.contains(&MediaFormat::Jpeg) {
                    return Assessment::refused(
                        "format",
                        format!(
                            "{platform} does not take {} images and Postora makes renditions as JPEG, which it \
                             does not take either",
                            info.format.as_str().to_ascii_uppercase()
                        ),
                    );
                }
                return Assessment::Fitted {
                    rendition: RenditionSpec::fit(
                        MediaFormat::Jpeg,
                        images.max_side,
                        images.max_pixels,
                        images.max_bytes,
                    ),
                };
            }
            if info.private_metadata {
                return Assessment::Fitted {
                    rendition: RenditionSpec::clean(info.format),
                };
            }
            Assessment::Accepted
        }
        MediaFormat::Mp4 | MediaFormat::Mov => {
            Assessment::refused("kind", "the item is a video, not an image".to_owned())
        }
    }
}

fn too_many_bytes(
    platform: PlatformKind,
    what: &str,
    bytes: u64,
    max: u64,
    fix: &str,
) -> Assessment {
    Assessment::refused(
        "bytes",
        format!(
            "{platform} takes a {what} of at most {} and this one is {}; {fix} and upload it again",
            size(max),
            size(bytes)
        ),
    )
}

fn too_many_pixels(
    platform: PlatformKind,
    images: &ImageRules,
    info: &MediaInfo,
    fix: &str,
) -> Assessment {
    Assessment::refused(
        "pixels",
        format!(
            "{platform} takes images of at most {} and this one is {}×{}; {fix} and upload it again",
            pixel_limits(images.max_side, images.max_pixels),
            info.width,
            info.height
        ),
    )
}

fn pixel_limits(side: Option<u32>, pixels: Option<u64>) -> String {
    match (side, pixels) {
        (Some(s), Some(p)) => format!("{s} pixels a side and {} megapixels", megapixels(p)),
        (Some(s), None) => format!("{s} pixels a side"),
        (None, Some(p)) => format!("{} megapixels", megapixels(p)),
        (None, None) => "any size".to_owned(),
    }
}

fn assess_video(
    platform: PlatformKind,
    rules: &MediaRules,
    info: &MediaInfo,
    bytes: u64,
) -> Assessment {
    let Some(video) = &rules.video else {
        return Assessment::refused("kind", format!("{platform} takes only images"));
    };
    if !video.formats.contains(&info.format) {
        let takes = video
            .formats
            .iter()
            .map(|f| f.as_str().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(" or ");
        return Assessment::refused(
            "format",
            format!(
                "{platform} takes {takes} video and this one is {}; export it as {takes} and upload it again",
                info.format.as_str().to_ascii_uppercase()
            ),
        );
    }
    if let Some(max) = video.max_bytes.filter(|&max| bytes > max) {
        return Assessment::refused(
            "bytes",
            format!(
                "{platform} takes videos of at most {} and this one is {}; Postora does not re-encode video, so \
                 export a smaller one and upload it again",
                size(max),
                size(bytes)
            ),
        );
    }
    if video.min_duration_ms.is_some() || video.max_duration_ms.is_some() {
        let Some(ms) = info.duration_ms else {
            return Assessment::refused(
                "duration",
                format!("{platform} limits how long a video may be and this one does not say how long it is"),
            );
        };
        if let Some(min) = video.min_duration_ms.filter(|&min| ms < min) {
            return Assessment::refused(
                "duration",
                format!(
                    "{platform} takes videos of at least {} and this one is {}",
                    duration(min),
                    duration(ms)
                ),
            );
        }
        if let Some(max) = video.max_duration_ms.filter(|&max| ms > max) {
            return Assessment::refused(
                "duration",
                format!(
                    "{platform} takes videos of at most {} and this one is {}; trim it and upload it again",
                    duration(max),
                    duration(ms)
                ),
            );
        }
    }
    if let (Some(max), Some(fps)) = (video.max_frame_rate, info.frame_rate) {
        if fps > max + 0.01 {
            return Assessment::refused(
                "frame_rate",
                format!("{platform} takes videos of at most {max} frames a second and this one has {fps:.2}"),
            );
        }
    }
    let over_side = video.max_side.filter(|&max| info.longest_side() > max);
    let over_pixels = video.max_pixels.filter(|&max| info.pixels() > max);
    if over_side.is_some() || over_pixels.is_some() {
        return Assessment::refused(
            "pixels",
            format!(
                "{platform} takes videos of at most {} and this one is {}×{}; export a smaller one and upload it \
                 again",
                pixel_limits(video.max_side, video.max_pixels),
                info.width,
                info.height
            ),
        );
    }
    if let Some(aspect) = video.aspect {
        if !aspect.contains(info.width, info.height) {
            return Assessment::refused(
                "aspect_ratio",
                format!(
                    "{platform} takes videos from {aspect} (width to height) and this one is {}×{}",
                    info.width, info.height
                ),
            );
        }
    }
    Assessment::Accepted
}

/// What the post-level rules need to know of one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemShape {
    pub kind: MediaKind,
    pub gif: bool,
}

/// The rules about a post's media as a whole: how many items, how many videos, images and video together, a GIF
/// alone, media required. Each broken rule as `(rule, message)`.
pub fn check_shape(platform: PlatformKind, shapes: &[ItemShape]) -> Vec<(&'static str, String)> {
    check_shape_under(platform, &platform.media_rules(), shapes)
}

/// [`check_shape`] under `rules`.
pub fn check_shape_under(
    platform: PlatformKind,
    rules: &MediaRules,
    shapes: &[ItemShape],
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if shapes.is_empty() {
        if rules.requires_media {
            out.push((
                "requires_media",
                format!("{platform} does not accept posts without media"),
            ));
        }
        return out;
    }
    if shapes.len() > rules.max_items {
        out.push((
            "count",
            format!(
                "{platform} takes at most {} media items and this post has {}",
                rules.max_items,
                shapes.len()
            ),
        ));
    }
    let videos = shapes.iter().filter(|s| s.kind == MediaKind::Video).count();
    let images = shapes.len() - videos;
    if videos > rules.max_videos && rules.video.is_some() {
        out.push((
            "count",
            format!(
                "{platform} takes at most {} video{} in a post and this post has {videos}",
                rules.max_videos,
                if rules.max_videos == 1 { "" } else { "s" }
            ),
        ));
    }
    if !rules.mixing && videos > 0 && images > 0 && rules.video.is_some() && rules.images.is_some()
    {
        out.push((
            "mixing",
            format!("{platform} does not take images and video in the same post"),
        ));
    }
    if rules.gif_alone && shapes.len() > 1 && shapes.iter().any(|s| s.gif) {
        out.push((
            "gif_alone",
            format!("{platform} takes a GIF only on its own, not with other media"),
        ));
    }
    out
}

/// Checks a post's media from the library against `platform`: each item (naming it), then the post as a whole.
/// Fitted items are fine: Postora makes their renditions before publishing.
pub fn check_post(
    platform: PlatformKind,
    items: &[(&MediaId, &MediaInfo, u64)],
) -> Vec<MediaViolation> {
    check_post_under(platform, &platform.media_rules(), items)
}

/// [`check_post`] under `rules`: an account's, where its server sets narrower ones than the platform's.
pub fn check_post_under(
    platform: PlatformKind,
    rules: &MediaRules,
    items: &[(&MediaId, &MediaInfo, u64)],
) -> Vec<MediaViolation> {
    let mut out = Vec::new();
    for (id, info, bytes) in items {
        if let Assessment::Refused { rule, message } = assess_under(platform, rules, info, *bytes) {
            out.push(MediaViolation {
                media_id: Some((*id).clone()),
                rule,
                message: format!("media {id}: {message}"),
            });
        }
    }
    let shapes: Vec<ItemShape> = items
        .iter()
        .map(|(_, info, _)| ItemShape {
            kind: info.kind(),
            gif: info.format == MediaFormat::Gif,
        })
        .collect();
    out.extend(
        check_shape_under(platform, rules, &shapes)
            .into_iter()
            .map(|(rule, message)| MediaViolation {
                media_id: None,
                rule,
                message,
            }),
    );
    out
}

/// A size for a person: `1.2 MB`, `512 KB`, `8.0 GB` (decimal units, as the platforms state their limits).
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", b / 1e9)
    } else if bytes >= 1_000_000 {
        format!("{:.1} MB", b / 1e6)
    } else if bytes >= 1_000 {
        format!("{:.0} KB", b / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

fn megapixels(pixels: u64) -> String {
    format!("{:.1}", pixels as f64 / 1e6)
}

/// A duration for a person: `0.5 s`, `45 s`, `3 min`, `2 min 20 s`, `12 h`.
fn duration(ms: u64) -> String {
    if ms < 60_000 {
        if ms.is_multiple_of(1000) {
            format!("{} s", ms / 1000)
        } else {
            format!("{:.1} s", ms as f64 / 1000.0)
        }
    } else if ms < 3_600_000 {
        let (m, s) = (ms / 60_000, (ms % 60_000) / 1000);
        if s == 0 {
            format!("{m} min")
        } else {
            format!("{m} min {s} s")
        }
    } else {
        let (h, m) = (ms / 3_600_000, (ms % 3_600_000) / 60_000);
        if m == 0 {
            format!("{h} h")
        } else {
            format!("{h} h {m} min")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(format: MediaFormat, width: u32, height: u32) -> MediaInfo {
        MediaInfo {
            format,
            width,
            height,
            duration_ms: None,
            frame_rate: None,
            video_codec: None,
            audio_codec: None,
            private_metadata: false,
        }
    }

    fn video(seconds: u64) -> MediaInfo {
        MediaInfo {
            duration_ms: Some(seconds * 1000),
            frame_rate: Some(30.0),
            video_codec: Some("avc1".into()),
            ..image(MediaFormat::Mp4, 1920, 1080)
        }
    }

    fn refused_for(a: Assessment) -> &'static str {
        match a {
            Assessment::Refused { rule, .. } => rule,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn bluesky_fits_a_large_jpeg_to_a_million_bytes_and_2000_pixels() {
        let photo = image(MediaFormat::Jpeg, 4000, 3000);
        let a = assess(PlatformKind::Bluesky, &photo, 1_200_000);
        let Assessment::Fitted { rendition } = a else {
            panic!("{a:?}")
        };
        assert_eq!(rendition.format, MediaFormat::Jpeg);
        assert_eq!(rendition.max_bytes, Some(1_000_000));
        assert_eq!(rendition.max_side, Some(2000));
        assert_eq!(rendition.target_size(4000, 3000), (2000, 1500));
        // Small enough, nothing private: published as it is.
        let small = image(MediaFormat::Jpeg, 1600, 1200);
        assert_eq!(
            assess(PlatformKind::Bluesky, &small, 400_000),
            Assessment::Accepted
        );
        // Only metadata to remove: the clean recipe.
        let located = MediaInfo {
            private_metadata: true,
            ..small
        };
        assert_eq!(
            assess(PlatformKind::Bluesky, &located, 400_000),
            Assessment::Fitted {
                rendition: RenditionSpec::clean(MediaFormat::Jpeg)
            }
        );
    }

    #[test]
    fn a_format_the_platform_does_not_take_is_converted_when_it_can_be() {
        // Instagram takes JPEG only: a PNG or WebP becomes a JPEG rendition.
        for format in [MediaFormat::Png, MediaFormat::Webp] {
            let a = assess(PlatformKind::Instagram, &image(format, 1080, 1080), 500_000);
            assert!(
                matches!(a, Assessment::Fitted { rendition } if rendition.format == MediaFormat::Jpeg),
                "{format}"
            );
        }
        // Facebook takes no WebP.
        assert!(matches!(
            assess(
                PlatformKind::Facebook,
                &image(MediaFormat::Webp, 800, 600),
                100_000
            ),
            Assessment::Fitted { .. }
        ));
        // A GIF where GIFs are not taken, and HEIC where it is not taken, are refused with what to do.
        let a = assess(
            PlatformKind::Instagram,
            &image(MediaFormat::Gif, 500, 500),
            1000,
        );
        assert_eq!(refused_for(a.clone()), "format");
        let Assessment::Refused { message, .. } = a else {
            unreachable!()
        };
        assert!(message.contains("instagram does not take GIF"), "{message}");
        let heic = image(MediaFormat::Heic, 4032, 3024);
        assert_eq!(
            refused_for(assess(PlatformKind::X, &heic, 2_000_000)),
            "format"
        );
        // Mastodon takes HEIC, as it is, unless it carries a location Postora cannot remove.
        assert_eq!(
            assess(PlatformKind::Mastodon, &heic, 2_000_000),
            Assessment::Accepted
        );
        let located = MediaInfo {
            private_metadata: true,
            ..heic
        };
        assert_eq!(
            refused_for(assess(PlatformKind::Mastodon, &located, 2_000_000)),
            "metadata"
        );
    }

    #[test]
    fn gifs_over_the_limit_are_refused_not_resized() {
        let gif = image(MediaFormat::Gif, 480, 270);
        assert_eq!(
            assess(PlatformKind::X, &gif, 14_000_000),
            Assessment::Accepted
        );
        let a = assess(PlatformKind::X, &gif, 16_000_000);
        assert_eq!(refused_for(a.clone()), "bytes");
        let Assessment::Refused { message, .. } = a else {
            unreachable!()
        };
        assert!(
            message.contains("15.0 MB") && message.contains("16.0 MB"),
            "{message}"
        );
        // A still image over 5 MB on X is fitted instead.
        assert!(matches!(
            assess(
                PlatformKind::X,
                &image(MediaFormat::Jpeg, 4000, 3000),
                6_000_000
            ),
            Assessment::Fitted { .. }
        ));
        let big = image(MediaFormat::Gif, 3000, 2000);
        assert_eq!(
            refused_for(assess(PlatformKind::Bluesky, &big, 900_000)),
            "pixels"
        );
    }

    #[test]
    fn instagram_refuses_an_image_outside_4_5_to_1_91_1() {
        let wide = image(MediaFormat::Jpeg, 3000, 1000);
        let a = assess(PlatformKind::Instagram, &wide, 500_000);
        assert_eq!(refused_for(a.clone()), "aspect_ratio");
        let Assessment::Refused { message, .. } = a else {
            unreachable!()
        };
        assert!(message.contains("4:5 to 1.91:1"), "{message}");
        assert!(matches!(
            assess(
                PlatformKind::Instagram,
                &image(MediaFormat::Jpeg, 1080, 1350),
                500_000
            ),
            Assessment::Accepted
        ));
        assert!(matches!(
            assess(
                PlatformKind::Instagram,
                &image(MediaFormat::Jpeg, 1910, 1000),
                500_000
            ),
            Assessment::Accepted
        ));
        assert_eq!(
            refused_for(assess(
                PlatformKind::Instagram,
                &image(MediaFormat::Jpeg, 1000, 1300),
                1
            )),
            "aspect_ratio"
        );
    }

    #[test]
    fn youtube_refuses_images_and_tiktok_takes_photos_or_a_video() {
        let photo = image(MediaFormat::Jpeg, 1080, 1920);
        assert_eq!(
            assess(PlatformKind::Tiktok, &photo, 100_000),
            Assessment::Accepted
        );
        assert_eq!(
            refused_for(assess(PlatformKind::Youtube, &photo, 100_000)),
            "kind"
        );
        assert_eq!(
            assess(PlatformKind::Tiktok, &video(60), 50_000_000),
            Assessment::Accepted
        );
    }

    #[test]
    fn videos_over_a_limit_are_refused() {
        assert_eq!(
            refused_for(assess(PlatformKind::Bluesky, &video(181), 10_000_000)),
            "duration"
        );
        assert_eq!(
            refused_for(assess(PlatformKind::Instagram, &video(2), 10_000_000)),
            "duration"
        );
        assert_eq!(
            refused_for(assess(PlatformKind::Bluesky, &video(60), 120_000_000)),
            "bytes"
        );
        let mov = MediaInfo {
            format: MediaFormat::Mov,
            ..video(60)
        };
        assert_eq!(
            refused_for(assess(PlatformKind::Linkedin, &mov, 10_000_000)),
            "format"
        );
        assert_eq!(
            refused_for(assess(PlatformKind::Bluesky, &mov, 10_000_000)),
            "format"
        );
        let fast = MediaInfo {
            frame_rate: Some(120.0),
            ..video(60)
        };
        assert_eq!(
            refused_for(assess(PlatformKind::X, &fast, 10_000_000)),
            "frame_rate"
        );
        let tall = MediaInfo {
            width: 500,
            height: 2000,
            ..video(60)
        };
        assert_eq!(
            refused_for(assess(PlatformKind::X, &tall, 10_000_000)),
            "aspect_ratio"
        );
        let uhd = MediaInfo {
            width: 7680,
            height: 4320,
            ..video(60)
        };
        assert_eq!(
            refused_for(assess(PlatformKind::Mastodon, &uhd, 10_000_000)),
            "pixels"
        );
    }

    fn ids(n: usize) -> Vec<MediaId> {
        (0..n).map(|_| MediaId::generate()).collect()
    }

    #[test]
    fn x_takes_four_images_or_one_video_or_one_gif() {
        let photo = image(MediaFormat::Jpeg, 1200, 800);
        let ids = ids(5);
        let four: Vec<_> = ids[..4].iter().map(|id| (id, &photo, 300_000u64)).collect();
        assert_eq!(check_post(PlatformKind::X, &four), vec![]);
        let five: Vec<_> = ids.iter().map(|id| (id, &photo, 300_000u64)).collect();
        let v = check_post(PlatformKind::X, &five);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].rule, "count");
        assert_eq!(v[0].media_id, None);
        assert!(
            v[0].message.contains("x takes at most 4"),
            "{}",
            v[0].message
        );

        let clip = video(30);
        let mixed = [(&ids[0], &photo, 300_000u64), (&ids[1], &clip, 5_000_000)];
        let v = check_post(PlatformKind::X, &mixed);
        assert_eq!(v.iter().map(|v| v.rule).collect::<Vec<_>>(), ["mixing"]);
        // Threads and the sandbox take both kinds together.
        assert_eq!(check_post(PlatformKind::Threads, &mixed), vec![]);
        assert_eq!(check_post(PlatformKind::Sandbox, &mixed), vec![]);

        let gif = image(MediaFormat::Gif, 400, 300);
        let with_gif = [(&ids[0], &photo, 300_000u64), (&ids[1], &gif, 1_000_000)];
        let v = check_post(PlatformKind::X, &with_gif);
        assert_eq!(v.iter().map(|v| v.rule).collect::<Vec<_>>(), ["gif_alone"]);
        let two_videos = [(&ids[0], &clip, 1u64), (&ids[1], &clip, 1)];
        assert_eq!(
            check_post(PlatformKind::X, &two_videos)
                .iter()
                .map(|v| v.rule)
                .collect::<Vec<_>>(),
            ["count"]
        );
    }

    #[test]
    fn per_item_refusals_name_the_item_and_the_rule() {
        let ids = ids(2);
        let photo = image(MediaFormat::Jpeg, 1080, 1920);
        let v = check_post(PlatformKind::Youtube, &[(&ids[0], &photo, 1000)]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].media_id.as_ref(), Some(&ids[0]));
        assert_eq!(v[0].rule, "kind");
        assert!(
            v[0].message.contains(ids[0].as_str()) && v[0].message.contains("youtube"),
            "{}",
            v[0].message
        );
        // Instagram needs media; an empty post is refused once, for the post.
        let v = check_post(PlatformKind::Instagram, &[]);
        assert_eq!(
            v.iter().map(|v| v.rule).collect::<Vec<_>>(),
            ["requires_media"]
        );
        assert_eq!(check_post(PlatformKind::Threads, &[]), vec![]);
    }

    #[test]
    fn every_platform_has_rules_that_hold_together() {
        for p in PlatformKind::ALL {
            let r = p.media_rules();
            assert!(r.max_items >= 1, "{p}");
            assert!(r.images.is_some() || r.video.is_some(), "{p}");
            assert!(r.max_videos <= r.max_items, "{p}");
            if let Some(images) = &r.images {
                // Renditions are JPEG: wherever images are taken, JPEG is.
                assert!(images.formats.contains(&MediaFormat::Jpeg), "{p}");
            }
            assert_eq!(r.video_only(), r.images.is_none(), "{p}");
        }
        assert!(PlatformKind::Youtube.media_rules().video_only());
        assert!(PlatformKind::Instagram.media_rules().requires_media);
    }

    #[test]
    fn assessments_serialize_for_the_api() {
        let a = Assessment::Fitted {
            rendition: RenditionSpec::fit(MediaFormat::Jpeg, Some(2000), None, Some(1_000_000)),
        };
        let json = serde_json::to_value(&a).expect("json");
        assert_eq!(json["outcome"], "fitted");
        assert_eq!(json["rendition"]["recipe"], "fit");
        assert_eq!(json["rendition"]["max_side"], 2000);
        let json = serde_json::to_value(Assessment::Refused {
            rule: "bytes",
            message: "too big".into(),
        })
        .expect("json");
        assert_eq!(
            json,
            serde_json::json!({"outcome": "refused", "rule": "bytes", "message": "too big"})
        );
    }
}
