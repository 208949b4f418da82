//! Content rules: measuring a text the way each platform measures it, and checking a post against a platform's limits.

use unicode_segmentation::UnicodeSegmentation;

use super::media_rules::{self, ItemShape};
use super::platform::{ContentLimits, PlatformKind, TextMeasure};
use super::post::Media;

/// Length of `text` as the platform with this measure counts it.
pub fn measure(text: &str, how: TextMeasure) -> usize {
    match how {
        TextMeasure::Chars => text.chars().count(),
        TextMeasure::Graphemes => text.graphemes(true).count(),
        TextMeasure::Utf16Units => text.encode_utf16().count(),
        TextMeasure::XWeighted => x_weighted_length(text),
    }
}

/// X counts every URL as 23, a grapheme that is an emoji as 2, and other characters 1 or 2 by code point range
/// (the twitter-text v3 configuration: weight 100 for the listed ranges, 200 for everything else, scale 100).
pub fn x_weighted_length(text: &str) -> usize {
    const URL_WEIGHT: usize = 23;
    let mut total = 0;
    for word in split_keeping_whitespace(text) {
        if is_url(word) {
            total += URL_WEIGHT;
            continue;
        }
        for g in word.graphemes(true) {
            if is_emoji_grapheme(g) {
                total += 2;
            } else {
                total += g.chars().map(x_char_weight).sum::<usize>();
            }
        }
    }
    total
}

fn split_keeping_whitespace(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|s| s != space) {
            parts.push(&text[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < text.len() {
        parts.push(&text[start..]);
    }
    parts
}

fn is_url(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")) && word.len() > 8
}

fn x_char_weight(c: char) -> usize {
    let cp = c as u32;
    let light = matches!(cp, 0..=4351 | 8192..=8205 | 8208..=8223 | 8242..=8247);
    if light {
        1
    } else {
        2
    }
}

fn is_emoji_grapheme(g: &str) -> bool {
    g.chars().any(|c| {
        let cp = c as u32;
        matches!(cp, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0xFE0F | 0x200D)
    }) && g.chars().any(|c| c as u32 >= 0x2600)
}

/// One rule a text or its media breaks, for a person to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// Checks a text against a platform's limits and a media list against its media rules (how many, which kinds,
/// whether required: [`media_rules`]); `field` names the text's place in the request.
pub fn check(
    limits: &ContentLimits,
    platform: PlatformKind,
    text: &str,
    media: &[Media],
    field: &str,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let len = measure(text, limits.measure);
    if len > limits.max_text {
        out.push(Violation {
            field: field.to_owned(),
            message: format!(
                "{platform} allows {} characters and this text has {len}",
                limits.max_text
            ),
        });
    }
    if let Some(max_bytes) = limits.max_bytes {
        if text.len() > max_bytes {
            out.push(Violation {
                field: field.to_owned(),
                message: format!(
                    "{platform} allows {max_bytes} bytes and this text has {}",
                    text.len()
                ),
            });
        }
    }
    if let Some(c) = text.chars().find(|c| limits.forbidden_chars.contains(c)) {
        out.push(Violation {
            field: field.to_owned(),
            message: format!("{platform} does not accept the character `{c}`"),
        });
    }
    if text.trim().is_empty() && media.is_empty() {
        out.push(Violation {
            field: field.to_owned(),
            message: "a post needs text or media".to_owned(),
        });
    }
    let kinds: Vec<_> = media.iter().map(|m| m.kind).collect();
    let shapes: Vec<_> = kinds
        .iter()
        .map(|&kind| ItemShape { kind, gif: false })
        .collect();
    let broken = media_rules::check_shape(platform, &shapes)
        .into_iter()
        .chain(media_rules::check_kinds(platform, &kinds));
    out.extend(broken.map(|(_, message)| Violation {
        field: "media".to_owned(),
        message,
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MediaKind;
    use proptest::prelude::*;

    #[test]
    fn bluesky_counts_graphemes_not_chars() {
        let family = "👨‍👩‍👧‍👦"; // one grapheme, seven scalar values
        assert_eq!(measure(family, TextMeasure::Graphemes), 1);
        assert_eq!(measure(family, TextMeasure::Chars), 7);
        let text = family.repeat(300);
        let limits = PlatformKind::Bluesky.limits();
        let v = check(&limits, PlatformKind::Bluesky, &text, &[], "text");
        // 300 graphemes is within the grapheme limit but far over 3000 bytes.
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("bytes"));
    }

    #[test]
    fn x_counts_urls_as_23_and_cjk_as_2() {
        assert_eq!(x_weighted_length("hello"), 5);
        assert_eq!(
            x_weighted_length("see https://example.com/a/very/long/path/indeed"),
            4 + 23
        );
        assert_eq!(x_weighted_length("日本語"), 6);
        assert_eq!(x_weighted_length("🙂"), 2);
        assert_eq!(x_weighted_length("é"), 1);
    }

    #[test]
    fn tiktok_counts_utf16_units() {
        assert_eq!(measure("𝄞", TextMeasure::Utf16Units), 2);
    }

    #[test]
    fn instagram_refuses_text_only_posts_and_youtube_angle_brackets() {
        let v = check(
            &PlatformKind::Instagram.limits(),
            PlatformKind::Instagram,
            "hi",
            &[],
            "text",
        );
        assert!(v.iter().any(|v| v.field == "media"));
        let v = check(
            &PlatformKind::Youtube.limits(),
            PlatformKind::Youtube,
            "a <b>",
            &[],
            "text",
        );
        assert!(v.iter().any(|v| v.message.contains('<')));
    }

    #[test]
    fn media_count_kind_and_mixing_come_from_the_media_rules() {
        let media = |kind| Media {
            media_id: crate::domain::MediaId::generate(),
            alt: None,
            kind,
        };
        let image = media(MediaKind::Image);
        let video = media(MediaKind::Video);
        let check_media = |p: PlatformKind, m: &[Media]| {
            check(&p.limits(), p, "hi", m, "text")
                .into_iter()
                .map(|v| v.message)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            check_media(PlatformKind::Tiktok, std::slice::from_ref(&image)),
            ["tiktok accepts only video"]
        );
        assert!(check_media(PlatformKind::Tiktok, std::slice::from_ref(&video)).is_empty());
        let v = check_media(PlatformKind::X, &vec![image.clone(); 5]);
        assert_eq!(v, ["x takes at most 4 media items and this post has 5"]);
        let v = check_media(PlatformKind::Bluesky, &[image.clone(), video.clone()]);
        assert_eq!(
            v,
            ["bluesky does not take images and video in the same post"]
        );
        assert!(check_media(PlatformKind::Threads, &[image, video]).is_empty());
    }

    proptest! {
        #[test]
        fn texts_within_the_limit_pass_and_longer_ones_fail(n in 1usize..700) {
            let text = "a".repeat(n);
            let v = check(&PlatformKind::Threads.limits(), PlatformKind::Threads, &text, &[], "text");
            prop_assert_eq!(v.is_empty(), n <= 500);
        }

        #[test]
        fn x_weight_is_at_least_the_char_count_for_plain_text(s in "[a-zA-Z0-9 ]{0,300}") {
            prop_assert_eq!(x_weighted_length(&s), s.chars().count());
        }

        #[test]
        fn measures_never_panic(s in any::<String>()) {
            for how in [TextMeasure::Chars, TextMeasure::Graphemes, TextMeasure::Utf16Units, TextMeasure::XWeighted] {
                let _ = measure(&s, how);
            }
        }
    }
}
