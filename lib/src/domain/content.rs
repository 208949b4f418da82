//! Content rules: measuring a text the way each platform measures it, and checking a post against a platform's limits.

use unicode_segmentation::UnicodeSegmentation;

use super::platform::{ContentLimits, PlatformKind, TextMeasure};

/// Length of `text` as the platform with this measure counts it.
pub fn measure(text: &str, how: TextMeasure) -> usize {
    match how {
        TextMeasure::Chars => text.chars().count(),
        TextMeasure::Graphemes => text.graphemes(true).count(),
        TextMeasure::Utf16Units => text.encode_utf16().count(),
        TextMeasure::XWeighted => x_weighted_length(text),
        TextMeasure::Mastodon { url_chars } => mastodon_length(text, url_chars),
    }
}

/// Mastodon counts grapheme clusters, after replacing every URL with `url_chars` characters and every mention of a
/// remote account (`@name@domain`) with its local part `@name` (Mastodon's `StatusLengthValidator`).
pub fn mastodon_length(text: &str, url_chars: usize) -> usize {
    split_keeping_whitespace(text)
        .into_iter()
        .map(|word| {
            if is_url(word) {
                url_chars
            } else if let Some(local) = remote_mention(word) {
                local.graphemes(true).count()
            } else {
                word.graphemes(true).count()
            }
        })
        .fold(0usize, usize::saturating_add)
}

/// The `@name` of a word that is a mention of a remote account, `@name@domain`.
fn remote_mention(word: &str) -> Option<&str> {
    let rest = word.strip_prefix('@')?;
    let at = rest.find('@')?;
    let (name, domain) = (&rest[..at], &rest[at + 1..]);
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    let domain_ok = domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    (name_ok && domain_ok).then(|| &word[..at + 1])
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Violation {
    pub field: String,
    pub message: String,
    /// The target account the rule belongs to, when it is one platform's rule.
    pub target: Option<String>,
    /// The media item at fault, when it is one item.
    pub media_id: Option<String>,
    /// The platform rule broken, as a stable code (`format`, `bytes`, `count`, `duration`, …).
    pub rule: Option<String>,
}

impl Violation {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            field: field.into(),
            message: message.into(),
            ..Violation::default()
        }
    }
}

/// Checks a text against a platform's limits; `field` names the text's place in the request. Whether the post has
/// media matters only to the rule that a post needs text or media: the media themselves are checked against the
/// platform's media rules ([`media_rules::check_post`](super::media_rules::check_post)).
pub fn check(
    limits: &ContentLimits,
    platform: PlatformKind,
    text: &str,
    has_media: bool,
    field: &str,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let len = measure(text, limits.measure);
    if len > limits.max_text {
        out.push(Violation::new(
            field,
            format!(
                "{platform} allows {} characters and this text has {len}",
                limits.max_text
            ),
        ));
    }
    if let Some(max_bytes) = limits.max_bytes {
        if text.len() > max_bytes {
            out.push(Violation::new(
                field.to_owned(),
                format!(
                    "{platform} allows {max_bytes} bytes and this text has {}",
                    text.len()
                ),
            ));
        }
    }
    if let Some(c) = text.chars().find(|c| limits.forbidden_chars.contains(c)) {
        out.push(Violation::new(
            field.to_owned(),
            format!("{platform} does not accept the character `{c}`"),
        ));
    }
    if text.trim().is_empty() && !has_media {
        out.push(Violation::new(
            field.to_owned(),
            "a post needs text or media".to_owned(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bluesky_counts_graphemes_not_chars() {
        let family = "👨‍👩‍👧‍👦"; // one grapheme, seven scalar values
        assert_eq!(measure(family, TextMeasure::Graphemes), 1);
        assert_eq!(measure(family, TextMeasure::Chars), 7);
        let text = family.repeat(300);
        let limits = PlatformKind::Bluesky.limits();
        let v = check(&limits, PlatformKind::Bluesky, &text, false, "text");
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
    fn mastodon_counts_urls_as_the_instance_says_and_remote_mentions_by_their_name() {
        let m = |t: &str| measure(t, TextMeasure::Mastodon { url_chars: 23 });
        assert_eq!(m("hello"), 5);
        assert_eq!(m("see https://example.com/a/very/long/path/indeed"), 4 + 23);
        assert_eq!(
            measure(
                "https://example.com/a/b",
                TextMeasure::Mastodon { url_chars: 30 }
            ),
            30
        );
        assert_eq!(m("hi @alice@mastodon.social"), 3 + 6);
        assert_eq!(m("hi @alice"), 9);
        assert_eq!(m("👨‍👩‍👧‍👦"), 1);
        let limits = PlatformKind::Mastodon.limits();
        let long = format!(
            "{} https://example.com/{}",
            "a".repeat(470),
            "x".repeat(200)
        );
        assert!(check(&limits, PlatformKind::Mastodon, &long, false, "text").is_empty());
        assert!(!check(
            &limits,
            PlatformKind::Mastodon,
            &"a".repeat(501),
            false,
            "text"
        )
        .is_empty());
    }

    #[test]
    fn tiktok_counts_utf16_units() {
        assert_eq!(measure("𝄞", TextMeasure::Utf16Units), 2);
    }

    #[test]
    fn empty_posts_and_youtube_angle_brackets_are_refused() {
        let v = check(
            &PlatformKind::Instagram.limits(),
            PlatformKind::Instagram,
            "",
            false,
            "text",
        );
        assert!(v.iter().any(|v| v.message == "a post needs text or media"));
        let v = check(
            &PlatformKind::Youtube.limits(),
            PlatformKind::Youtube,
            "a <b>",
            false,
            "text",
        );
        assert!(v.iter().any(|v| v.message.contains('<')));
    }

    proptest! {
        #[test]
        fn texts_within_the_limit_pass_and_longer_ones_fail(n in 1usize..700) {
            let text = "a".repeat(n);
            let v = check(&PlatformKind::Threads.limits(), PlatformKind::Threads, &text, false, "text");
            prop_assert_eq!(v.is_empty(), n <= 500);
        }

        #[test]
        fn x_weight_is_at_least_the_char_count_for_plain_text(s in "[a-zA-Z0-9 ]{0,300}") {
            prop_assert_eq!(x_weighted_length(&s), s.chars().count());
        }

        #[test]
        fn measures_never_panic(s in any::<String>()) {
            for how in [TextMeasure::Chars, TextMeasure::Graphemes, TextMeasure::Utf16Units, TextMeasure::XWeighted, TextMeasure::Mastodon { url_chars: 23 }] {
                let _ = measure(&s, how);
            }
        }
    }
}
