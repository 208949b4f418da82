//! Looking for a post whose answer was lost among the account's own recent posts (`GET /2/users/{id}/tweets`): X
//! has no idempotency key, so this is the only way to learn that a `POST /2/tweets` landed.
//!
//! A post matches when its text is the same as what was sent, compared as X shows it: X escapes `&`, `<` and `>`
//! as HTML entities, and replaces every link with a `t.co` one (and adds one for attached media), so both texts are
//! compared with entities decoded, every link removed and runs of white space made one space; the found post must
//! hold at least as many links as the sent text. A thread's later part must moreover reply to the part before it
//! (`referenced_tweets` of type `replied_to`, or failing that the conversation of the thread's first part), and a
//! single post or a first part must reply to nothing. Only posts made from a little before the call are listed.
//!
//! Not finding it proves nothing (X's timelines can lag, and an answer can be lost after the post landed), so a
//! search that finds nothing is never taken to mean the post is not there.

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::SecretString;
use serde::Deserialize;

use super::api::{call, CallKind};
use crate::platforms::http::endpoint;
use crate::ports::{PlatformError, Published};

/// How far before the call the listing starts, for clocks that disagree.
pub const LOOK_BACK: chrono::Duration = chrono::Duration::minutes(10);
/// The fields asked for, under the name X's documentation gives, then under its OpenAPI document's.
const FIELDS: [(&str, &str); 2] = [
    (
        "tweet.fields",
        "created_at,conversation_id,referenced_tweets",
    ),
    ("post.fields", "created_at,conversation_id,referenced_posts"),
];
/// Pages of 100 posts read at most.
const MAX_PAGES: usize = 5;

#[derive(Debug, Deserialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Listed {
    pub id: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    conversation_id: Option<String>,
    /// `referenced_tweets` in X's documentation; `referenced_posts` in later versions of its OpenAPI document.
    #[serde(default, alias = "referenced_posts")]
    referenced_tweets: Option<Vec<Reference>>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    data: Vec<Listed>,
    #[serde(default)]
    meta: Option<Meta>,
}

/// The text as compared: entities decoded, links removed, white space collapsed; and the number of links.
pub fn normalize(text: &str) -> (String, usize) {
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let mut links = 0;
    let words: Vec<&str> = decoded
        .split_whitespace()
        .filter(|w| {
            let lower = w.to_ascii_lowercase();
            let link = lower.starts_with("http://") || lower.starts_with("https://");
            links += usize::from(link);
            !link
        })
        .collect();
    (words.join(" "), links)
}

/// Whether `found` is the post sent as `text`, replying to `parent` (and in the conversation of `root`) if any.
pub(crate) fn matches(
    found: &Listed,
    text: &str,
    parent: Option<&str>,
    root: Option<&str>,
    since: DateTime<Utc>,
) -> bool {
    if found.created_at.is_some_and(|at| at < since) {
        return false;
    }
    let (want, want_links) = normalize(text);
    let (got, got_links) = normalize(&found.text);
    if want != got || got_links < want_links {
        return false;
    }
    let replied_to = found.referenced_tweets.as_ref().map(|refs| {
        refs.iter()
            .find(|r| r.kind == "replied_to")
            .map(|r| r.id.as_str())
    });
    match (parent, replied_to) {
        (Some(p), Some(Some(r))) => p == r,
        (Some(_), Some(None)) => false,
        // X said nothing of references: the conversation, if it said that.
        (Some(_), None) => match (&found.conversation_id, root) {
            (Some(c), Some(r)) => c == r,
            _ => true,
        },
        (None, Some(Some(_))) => false,
        (None, _) => true,
    }
}

/// Lists the user's posts since `since` and returns the earliest that matches.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn find(
    http: &reqwest::Client,
    origin: &url::Url,
    token: &SecretString,
    user_id: &str,
    text: &str,
    parent: Option<&str>,
    root: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Option<Published>, PlatformError> {
    let mut next: Option<String> = None;
    let mut best: Option<Listed> = None;
    // X's documentation names the fields `tweet.fields`; later versions of its OpenAPI document `post.fields`. A
    // refusal of the one is answered by asking once with the other.
    let mut fields = FIELDS[0];
    let mut pages = 0;
    while pages < MAX_PAGES {
        let mut url = endpoint(origin, &format!("/2/users/{user_id}/tweets"));
        {
            let mut q = url.query_pairs_mut();
            q.append_pair(
                "start_time",
                &since.to_rfc3339_opts(SecondsFormat::Secs, true),
            )
            .append_pair("max_results", "100")
            .append_pair(fields.0, fields.1);
            if let Some(p) = parent {
                // A reply is newer than what it replies to; X's ids grow with time.
                q.append_pair("since_id", p);
            }
            if let Some(t) = &next {
                q.append_pair("pagination_token", t);
            }
        }
        let page = match call::<Page>(
            http.get(url),
            token,
            CallKind::Read,
            "looking for the post among the account's recent posts",
        )
        .await
        {
            Ok(a) => a.value,
            Err(PlatformError::Rejected(_)) if pages == 0 && fields == FIELDS[0] => {
                fields = FIELDS[1];
                continue;
            }
            Err(e) => return Err(e),
        };
        pages += 1;
        for post in page.data {
            if matches(&post, text, parent, root, since)
                && best.as_ref().is_none_or(|b| post.created_at < b.created_at)
            {
                best = Some(post);
            }
        }
        next = page.meta.and_then(|m| m.next_token);
        if next.is_none() {
            break;
        }
    }
    Ok(best.map(|p| Published::new(p.id, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(text: &str, reply_to: Option<&str>) -> Listed {
        Listed {
            id: "1".into(),
            text: text.into(),
            created_at: Some(Utc::now()),
            conversation_id: None,
            referenced_tweets: Some(
                reply_to
                    .map(|r| {
                        vec![Reference {
                            kind: "replied_to".into(),
                            id: r.into(),
                        }]
                    })
                    .unwrap_or_default(),
            ),
        }
    }

    #[test]
    fn texts_match_as_x_shows_them() {
        let since = Utc::now() - chrono::Duration::minutes(1);
        let sent = "Fish & chips <3 at https://example.com/menu?a=1&b=2 today";
        let shown = "Fish &amp; chips &lt;3 at https://t.co/AbC123 today https://t.co/media99";
        assert!(matches(&listed(shown, None), sent, None, None, since));
        assert!(!matches(
            &listed("Fish &amp; chips today", None),
            sent,
            None,
            None,
            since
        ));
        assert!(
            !matches(&listed(shown, Some("9")), sent, None, None, since),
            "a reply is not the single post"
        );
        assert!(matches(
            &listed("part two", Some("9")),
            "part two",
            Some("9"),
            Some("8"),
            since
        ));
        assert!(!matches(
            &listed("part two", Some("7")),
            "part two",
            Some("9"),
            Some("8"),
            since
        ));
        let mut old = listed("part two", None);
        old.created_at = Some(since - chrono::Duration::seconds(1));
        assert!(!matches(&old, "part two", None, None, since));
        assert_eq!(normalize("  a \n\n b  "), ("a b".into(), 0));
    }
}
