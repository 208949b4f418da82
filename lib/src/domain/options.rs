//! Per-target options: what a person may choose for one platform beyond the text and media (Mastodon's visibility
//! and content warning, Bluesky's languages, who may reply on X). Typed per platform and checked when the post is
//! written, so a wrong option is a 422 naming it, never a failure at publishing time.

use serde::{Deserialize, Serialize};

use super::platform::PlatformKind;

/// The options of one target, for the platform of its account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "snake_case")]
pub enum TargetOptions {
    Mastodon(MastodonOptions),
    Bluesky(BlueskyOptions),
    X(XOptions),
    Linkedin(LinkedinOptions),
}

/// Who sees a Mastodon status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MastodonVisibility {
    Public,
    Unlisted,
    Private,
    Direct,
}

impl MastodonVisibility {
    pub fn as_str(self) -> &'static str {
        match self {
            MastodonVisibility::Public => "public",
            MastodonVisibility::Unlisted => "unlisted",
            MastodonVisibility::Private => "private",
            MastodonVisibility::Direct => "direct",
        }
    }
}

/// Options for a Mastodon target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MastodonOptions {
    /// Who sees the status; the account's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<MastodonVisibility>,
    /// A content warning shown before the text, at most 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub spoiler_text: Option<String>,
    /// The language of the text, an ISO 639-1 code such as `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z]{2}$")]
    pub language: Option<String>,
}

/// Options for a Bluesky target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlueskyOptions {
    /// The languages of the text, up to 3 BCP 47 tags such as `en` or `pt-BR`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 3)]
    pub langs: Vec<String>,
}

/// Who may reply to a post on X.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum XReplySettings {
    #[serde(rename = "following")]
    Following,
    #[serde(rename = "mentionedUsers")]
    MentionedUsers,
    #[serde(rename = "subscribers")]
    Subscribers,
    #[serde(rename = "verified")]
    Verified,
}

impl XReplySettings {
    pub fn as_str(self) -> &'static str {
        match self {
            XReplySettings::Following => "following",
            XReplySettings::MentionedUsers => "mentionedUsers",
            XReplySettings::Subscribers => "subscribers",
            XReplySettings::Verified => "verified",
        }
    }
}

/// Options for an X target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct XOptions {
    /// Who may reply; everyone when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_settings: Option<XReplySettings>,
}

/// Who sees a LinkedIn post.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkedinVisibility {
    /// Anyone, on or off LinkedIn.
    Public,
    /// The member's connections only (a member's posts; an organization's posts are public).
    Connections,
}

impl LinkedinVisibility {
    /// The Posts API's value.
    pub fn as_api(self) -> &'static str {
        match self {
            LinkedinVisibility::Public => "PUBLIC",
            LinkedinVisibility::Connections => "CONNECTIONS",
        }
    }
}

/// Options for a LinkedIn target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkedinOptions {
    /// Who sees the post; public when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<LinkedinVisibility>,
    /// Whether others may not reshare the post; they may when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_reshare: Option<bool>,
}

/// The longest content warning, in characters.
pub const MAX_SPOILER_CHARS: usize = 500;
/// Most languages a Bluesky post may name.
pub const MAX_BLUESKY_LANGS: usize = 3;

impl TargetOptions {
    /// Reads the options a client sent for a target on `platform`. The error says what is wrong, for a 422.
    pub fn parse(platform: PlatformKind, raw: &serde_json::Value) -> Result<Self, String> {
        fn typed<T: serde::de::DeserializeOwned>(raw: &serde_json::Value) -> Result<T, String> {
            T::deserialize(raw).map_err(|e| e.to_string())
        }
        let options = match platform {
            PlatformKind::Mastodon => TargetOptions::Mastodon(typed(raw)?),
            PlatformKind::Bluesky => TargetOptions::Bluesky(typed(raw)?),
            PlatformKind::X => TargetOptions::X(typed(raw)?),
            PlatformKind::Linkedin => TargetOptions::Linkedin(typed(raw)?),
            other => return Err(format!("{other} takes no options")),
        };
        options.check()?;
        Ok(options)
    }

    /// The rules serde cannot state.
    fn check(&self) -> Result<(), String> {
        match self {
            TargetOptions::Mastodon(m) => {
                if m.spoiler_text
                    .as_ref()
                    .is_some_and(|s| s.chars().count() > MAX_SPOILER_CHARS)
                {
                    return Err(format!(
                        "spoiler_text is longer than {MAX_SPOILER_CHARS} characters"
                    ));
                }
                if let Some(lang) = &m.language {
                    if !(lang.len() == 2 && lang.bytes().all(|b| b.is_ascii_lowercase())) {
                        return Err(
                            "language must be a two-letter ISO 639-1 code such as `en`".into()
                        );
                    }
                }
            }
            TargetOptions::Bluesky(b) => {
                if b.langs.len() > MAX_BLUESKY_LANGS {
                    return Err(format!(
                        "langs names more than {MAX_BLUESKY_LANGS} languages"
                    ));
                }
                if let Some(bad) = b.langs.iter().find(|l| !is_language_tag(l)) {
                    return Err(format!(
                        "langs: `{bad}` is not a language tag such as `en` or `pt-BR`"
                    ));
                }
            }
            TargetOptions::X(_) | TargetOptions::Linkedin(_) => {}
        }
        Ok(())
    }

    /// Text the platform counts together with the post's own toward its length (Mastodon's content warning).
    pub fn counted_with_text(&self) -> Option<&str> {
        match self {
            TargetOptions::Mastodon(m) => m.spoiler_text.as_deref(),
            _ => None,
        }
    }

    pub fn platform(&self) -> PlatformKind {
        match self {
            TargetOptions::Mastodon(_) => PlatformKind::Mastodon,
            TargetOptions::Bluesky(_) => PlatformKind::Bluesky,
            TargetOptions::X(_) => PlatformKind::X,
            TargetOptions::Linkedin(_) => PlatformKind::Linkedin,
        }
    }
}

/// A BCP 47 language tag in the simple form platforms take: a 2 or 3 letter language, then subtags of 2 to 8
/// letters or digits.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let Some(lang) = parts.next() else {
        return false;
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_are_read_for_the_targets_platform_and_checked() {
        let m = TargetOptions::parse(
            PlatformKind::Mastodon,
            &json!({"visibility": "unlisted", "spoiler_text": "cw", "language": "en"}),
        )
        .unwrap();
        assert_eq!(m.platform(), PlatformKind::Mastodon);
        assert!(
            TargetOptions::parse(PlatformKind::Mastodon, &json!({"visibility": "loud"})).is_err()
        );
        assert!(
            TargetOptions::parse(PlatformKind::Mastodon, &json!({"language": "english"})).is_err()
        );
        assert!(TargetOptions::parse(PlatformKind::Mastodon, &json!({"langs": ["en"]})).is_err());
        assert!(
            TargetOptions::parse(PlatformKind::Bluesky, &json!({"langs": ["en", "pt-BR"]})).is_ok()
        );
        assert!(TargetOptions::parse(
            PlatformKind::Bluesky,
            &json!({"langs": ["en", "de", "fr", "it"]})
        )
        .is_err());
        assert!(TargetOptions::parse(PlatformKind::Bluesky, &json!({"langs": ["e n"]})).is_err());
        assert!(TargetOptions::parse(
            PlatformKind::X,
            &json!({"reply_settings": "mentionedUsers"})
        )
        .is_ok());
        assert!(
            TargetOptions::parse(PlatformKind::X, &json!({"reply_settings": "everyone"})).is_err()
        );
        assert!(TargetOptions::parse(PlatformKind::Threads, &json!({})).is_err());
    }

    #[test]
    fn stored_options_name_their_platform() {
        let o = TargetOptions::X(XOptions {
            reply_settings: Some(XReplySettings::Following),
        });
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v, json!({"platform": "x", "reply_settings": "following"}));
        assert_eq!(serde_json::from_value::<TargetOptions>(v).unwrap(), o);
    }
}
