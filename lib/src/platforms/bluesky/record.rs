//! What a post becomes on Bluesky: its record key (a TID derived from the delivery, so a retried create collides
//! instead of posting twice), the rich-text facets the server does not detect itself (links, mentions, hashtags,
//! at UTF-8 byte offsets), and the `app.bsky.feed.post` record with its reply references.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::ports::Published;

/// The collection posts live in.
pub const POST_COLLECTION: &str = "app.bsky.feed.post";

/// The base32-sortable alphabet TIDs are written in.
const SORTABLE: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// A record key for `idempotency_key`: a valid TID (13 base32-sortable characters of a 64-bit number whose top
/// bit is 0: a 53-bit microsecond timestamp and a 10-bit clock id), every bit of it taken from a hash of the key.
/// The same delivery part always gets the same key, so a second create of it is refused by the repository instead
/// of making a second post.
pub fn record_key(idempotency_key: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"postora bluesky record key\0");
    hash.update(idempotency_key.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let timestamp = u64::from_be_bytes(first) >> 11; // 53 bits
    let clock_id = u64::from(digest[8]) << 2 | u64::from(digest[9] >> 6); // 10 bits
    encode_tid((timestamp << 10) | clock_id)
}

/// Writes a 63-bit number as a TID.
fn encode_tid(n: u64) -> String {
    let n = n & (u64::MAX >> 1);
    (0..13)
        .rev()
        .map(|i| char::from(SORTABLE[((n >> (5 * i)) & 31) as usize]))
        .collect()
}

/// Whether `s` is a syntactically valid TID (as the repository checks record keys of a `tid` collection).
pub fn is_tid(s: &str) -> bool {
    s.len() == 13
        && s.bytes().all(|b| SORTABLE.contains(&b))
        && s.as_bytes()
            .first()
            .is_some_and(|b| b"234567abcdefghij".contains(b))
}

/// The record key of an `at://did/collection/rkey` URI.
pub fn rkey_of(uri: &str) -> Option<&str> {
    uri.strip_prefix("at://")?.split('/').nth(2)
}

/// What a stretch of text links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature {
    Link(String),
    /// A handle, without the `@`; a facet only once it resolves to a DID.
    Mention(String),
    /// A hashtag, without the `#`.
    Tag(String),
}

/// A feature and where it is in the text, in UTF-8 bytes (end exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub feature: Feature,
}

/// Trailing characters that end a sentence rather than a link or a handle.
const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', '"', '\'', ')', ']', '}', '>'];

/// Finds links (`http://` and `https://`), mentions (`@` and a handle with a dot) and hashtags (`#` and up to 64
/// characters, not only digits) that start a word.
pub fn detect(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut at_word_start = true;
    let mut skip_to = 0;
    for (i, c) in text.char_indices() {
        if i < skip_to {
            continue;
        }
        let starts = at_word_start;
        at_word_start = c.is_whitespace() || c == '(' || c == '[';
        if !starts {
            continue;
        }
        let word_end = text[i..]
            .find(|ch: char| ch.is_whitespace())
            .map_or(text.len(), |n| i + n);
        let word = &text[i..word_end];
        let span = if word.starts_with("https://") || word.starts_with("http://") {
            link(word).map(|l| (l.len(), Feature::Link(l.to_owned())))
        } else if let Some(rest) = word.strip_prefix('@') {
            mention(rest).map(|h| (h.len() + 1, Feature::Mention(h.to_ascii_lowercase())))
        } else if let Some(rest) = word.strip_prefix('#').or_else(|| word.strip_prefix('＃')) {
            let mark = word.len() - rest.len();
            tag(rest).map(|t| (t.len() + mark, Feature::Tag(t.to_owned())))
        } else {
            None
        };
        if let Some((len, feature)) = span {
            spans.push(Span {
                start: i,
                end: i + len,
                feature,
            });
            skip_to = i + len;
        }
    }
    spans
}

fn link(word: &str) -> Option<&str> {
    let mut l = word;
    // Trailing punctuation is trimmed one character at a time; a closing parenthesis stays when the link opened
    // one (Wikipedia's addresses).
    while let Some(last) = l.chars().last().filter(|c| TRAILING.contains(c)) {
        if last == ')' && l.matches('(').count() >= l.matches(')').count() {
            break;
        }
        l = &l[..l.len() - last.len_utf8()];
    }
    let host = url::Url::parse(l).ok()?.host_str()?.to_owned();
    host.contains('.').then_some(l)
}

fn mention(rest: &str) -> Option<&str> {
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .unwrap_or(rest.len());
    let handle = rest[..end].trim_end_matches('.');
    is_handle(handle).then_some(handle)
}

/// Whether `s` is a syntactically valid handle: two or more DNS labels of letters, digits and hyphens, the last not
/// starting with a digit, 253 characters at most.
pub fn is_handle(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|l| l.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()))
}

fn tag(rest: &str) -> Option<&str> {
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    let t = rest[..end].trim_end_matches(['-', '_']);
    (!t.is_empty() && t.chars().count() <= 64 && !t.chars().all(|c| c.is_ascii_digit()))
        .then_some(t)
}

/// The facets of `spans`, mentions already resolved: `resolved(handle)` is the handle's DID, or `None` to leave
/// the mention as plain text.
pub fn facets(spans: &[Span], resolved: impl Fn(&str) -> Option<String>) -> Vec<Value> {
    spans
        .iter()
        .filter_map(|s| {
            let feature = match &s.feature {
                Feature::Link(uri) => json!({"$type": "app.bsky.richtext.facet#link", "uri": uri}),
                Feature::Mention(handle) => {
                    json!({"$type": "app.bsky.richtext.facet#mention", "did": resolved(handle)?})
                }
                Feature::Tag(tag) => json!({"$type": "app.bsky.richtext.facet#tag", "tag": tag}),
            };
            Some(json!({
                "index": {"byteStart": s.start, "byteEnd": s.end},
                "features": [feature],
            }))
        })
        .collect()
}

/// A strong reference (uri and cid) to a published part, as a reply names its root and parent.
fn strong_ref(part: &Published) -> Option<Value> {
    Some(json!({"uri": part.platform_post_id, "cid": part.reply_ref.as_deref()?}))
}

/// The `reply` of a thread's later part: the root is the first part, the parent the last one published. `None` for
/// a first part; an error when an earlier part lacks its content id.
pub fn reply(thread: &[Published]) -> Result<Option<Value>, String> {
    let (Some(root), Some(parent)) = (thread.first(), thread.last()) else {
        return Ok(None);
    };
    match (strong_ref(root), strong_ref(parent)) {
        (Some(root), Some(parent)) => Ok(Some(json!({"root": root, "parent": parent}))),
        _ => Err("an earlier part of the thread has no content id (cid) to reply to".into()),
    }
}

/// The post record.
pub fn post(
    text: &str,
    created_at: DateTime<Utc>,
    langs: &[String],
    facets: Vec<Value>,
    embed: Option<Value>,
    reply: Option<Value>,
) -> Value {
    let mut record = json!({
        "$type": POST_COLLECTION,
        "text": text,
        "createdAt": created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    if !langs.is_empty() {
        record["langs"] = json!(langs);
    }
    if !facets.is_empty() {
        record["facets"] = Value::Array(facets);
    }
    if let Some(e) = embed {
        record["embed"] = e;
    }
    if let Some(r) = reply {
        record["reply"] = r;
    }
    record
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn record_keys_are_stable_valid_tids() {
        let a = record_key("dlv_1:0");
        assert_eq!(a, record_key("dlv_1:0"));
        assert_ne!(a, record_key("dlv_1:1"));
        assert!(is_tid(&a), "{a}");
        assert!(!is_tid("zzzzzzzzzzzzz"));
        assert!(!is_tid("3jzfcijpj2z2"));
    }

    proptest! {
        #[test]
        fn every_key_gives_a_tid(key in ".{0,80}") {
            prop_assert!(is_tid(&record_key(&key)));
        }
    }

    #[test]
    fn links_mentions_and_tags_are_found_at_byte_offsets() {
        let text = "Café ☕ see https://example.com/a_(b). by @alice.test, #rust! #123 x@no.pe";
        let spans = detect(text);
        let found: Vec<(&str, &Feature)> = spans
            .iter()
            .map(|s| (&text[s.start..s.end], &s.feature))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "https://example.com/a_(b)",
                    &Feature::Link("https://example.com/a_(b)".into())
                ),
                ("@alice.test", &Feature::Mention("alice.test".into())),
                ("#rust", &Feature::Tag("rust".into())),
            ]
        );
    }

    #[test]
    fn unresolved_mentions_are_left_as_text() {
        let spans = detect("hi @bob.test and @carol.test");
        let f = facets(&spans, |h| {
            (h == "bob.test").then(|| "did:plc:bob".to_owned())
        });
        assert_eq!(f.len(), 1);
        assert_eq!(f[0]["features"][0]["did"], "did:plc:bob");
        assert_eq!(f[0]["index"]["byteStart"], 3);
        assert_eq!(f[0]["index"]["byteEnd"], 12);
    }

    #[test]
    fn replies_name_the_root_and_the_parent() {
        let part = |n: &str| Published {
            platform_post_id: format!("at://did:plc:a/app.bsky.feed.post/{n}"),
            permalink: None,
            reply_ref: Some(format!("cid{n}")),
            notice: None,
        };
        assert_eq!(reply(&[]).unwrap(), None);
        let r = reply(&[part("1"), part("2")]).unwrap().unwrap();
        assert_eq!(r["root"]["cid"], "cid1");
        assert_eq!(r["parent"]["uri"], "at://did:plc:a/app.bsky.feed.post/2");
        let mut broken = part("1");
        broken.reply_ref = None;
        assert!(reply(&[broken]).is_err());
        assert_eq!(
            rkey_of("at://did:plc:a/app.bsky.feed.post/3abc"),
            Some("3abc")
        );
    }
}
