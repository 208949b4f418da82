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
    Youtube(YoutubeOptions),
    Tiktok(TiktokOptions),
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

/// Who may watch a YouTube video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum YoutubePrivacy {
    Public,
    Unlisted,
    Private,
}

impl YoutubePrivacy {
    pub fn as_str(self) -> &'static str {
        match self {
            YoutubePrivacy::Public => "public",
            YoutubePrivacy::Unlisted => "unlisted",
            YoutubePrivacy::Private => "private",
        }
    }
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

/// Who may see a TikTok post: one of the creator's `privacy_level_options`, chosen by the person (never defaulted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TiktokPrivacy {
    PublicToEveryone,
    MutualFollowFriends,
    FollowerOfCreator,
    SelfOnly,
}

impl TiktokPrivacy {
    pub fn as_str(self) -> &'static str {
        match self {
            TiktokPrivacy::PublicToEveryone => "PUBLIC_TO_EVERYONE",
            TiktokPrivacy::MutualFollowFriends => "MUTUAL_FOLLOW_FRIENDS",
            TiktokPrivacy::FollowerOfCreator => "FOLLOWER_OF_CREATOR",
            TiktokPrivacy::SelfOnly => "SELF_ONLY",
        }
    }
}

/// Options for a YouTube target. `title` and `self_declared_made_for_kids` are required: YouTube asks every
/// upload for them, and Postora never guesses whether a video is made for children.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YoutubeOptions {
    /// The video's title: 1 to 100 characters, without `<` or `>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 100)]
    pub title: Option<String>,
    /// The video's description, at most 5000 characters, without `<` or `>`; the post's text when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    /// Keywords (YouTube counts at most 500 characters over all tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Who may watch it; `public` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<YoutubePrivacy>,
    /// Whether the video is made for children (YouTube's `status.selfDeclaredMadeForKids`). Required.
    #[serde(
        default,
        rename = "self_declared_made_for_kids",
        alias = "selfDeclaredMadeForKids",
        skip_serializing_if = "Option::is_none"
    )]
    pub self_declared_made_for_kids: Option<bool>,
    /// A YouTube video category id, such as `22` (People & Blogs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{1,4}$")]
    pub category_id: Option<String>,
    /// When YouTube makes the video public (RFC 3339). Requires `privacy: private`: the video stays private until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The media id of an image (JPEG or PNG, at most 2 MB) set as the custom thumbnail after the upload. The channel
    /// must be allowed custom thumbnails (a verified channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
    /// A YouTube Short: the video must be vertical or square and at most three minutes long (checked when posting).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub short: bool,
}

/// The longest YouTube title and description, in characters.
pub const MAX_YOUTUBE_TITLE: usize = 100;
pub const MAX_YOUTUBE_DESCRIPTION: usize = 5000;
/// The most characters YouTube takes over all tags (each tag with a space counts its quotes too).
pub const MAX_YOUTUBE_TAG_CHARS: usize = 500;
/// The longest YouTube Short, in milliseconds.
pub const MAX_YOUTUBE_SHORT_MS: u64 = 180_000;
/// How a TikTok post is made: published directly, or sent to the creator's TikTok inbox to finish in the app.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TiktokMode {
    #[default]
    Direct,
    Inbox,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Options for a TikTok target. TikTok's review asks that the person choose the privacy level from the creator's
/// options (`GET /v1/accounts/{id}/options`) and that interactions stay off unless the person turns them on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TiktokOptions {
    /// Who may see the post: required for a direct post (no default), one of the creator's
    /// `privacy_level_options`. Not used in `inbox` mode, where the person chooses in the TikTok app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_level: Option<TiktokPrivacy>,
    /// Comments off; true unless the person turns comments on.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    #[schema(default = true)]
    pub disable_comment: bool,
    /// Duets off; true unless the person turns them on.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    #[schema(default = true)]
    pub disable_duet: bool,
    /// Stitches off; true unless the person turns them on.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    #[schema(default = true)]
    pub disable_stitch: bool,
    /// The post promotes a third party (branded content: "Paid partnership"). Not with `SELF_ONLY`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub brand_content_toggle: bool,
    /// The post promotes the creator's own business ("Promotional content").
    #[serde(default, skip_serializing_if = "is_false")]
    pub brand_organic_toggle: bool,
    /// `direct` (the default) publishes; `inbox` uploads to the creator's TikTok inbox to finish in the app.
    #[serde(default, skip_serializing_if = "is_direct")]
    pub mode: TiktokMode,
}

fn is_direct(m: &TiktokMode) -> bool {
    *m == TiktokMode::Direct
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
            PlatformKind::Youtube => TargetOptions::Youtube(typed(raw)?),
            PlatformKind::Tiktok => TargetOptions::Tiktok(typed(raw)?),
            PlatformKind::Linkedin => TargetOptions::Linkedin(typed(raw)?),
            other => return Err(format!("{other} takes no options")),
        };
        options.check()?;
        Ok(options)
    }

    /// Reads a target's options, where it has any: for a platform whose options include required ones (YouTube),
    /// a target without options is refused naming them.
    pub fn read(
        platform: PlatformKind,
        raw: Option<&serde_json::Value>,
    ) -> Result<Option<Self>, String> {
        match raw {
            Some(raw) => Self::parse(platform, raw).map(Some),
            None if platform == PlatformKind::Youtube => {
                Self::parse(platform, &serde_json::json!({})).map(Some)
            }
            None => Ok(None),
        }
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
            TargetOptions::X(_) => {}
            TargetOptions::Youtube(y) => y.check()?,
            TargetOptions::Tiktok(t) => {
                if t.mode == TiktokMode::Direct && t.privacy_level.is_none() {
                    return Err("privacy_level is required: the person chooses it from the creator's options".into());
                }
                if t.brand_content_toggle && t.privacy_level == Some(TiktokPrivacy::SelfOnly) {
                    return Err(
                        "branded content (brand_content_toggle) cannot be private (SELF_ONLY)"
                            .into(),
                    );
                }
            }
            TargetOptions::Linkedin(_) => {}
        }
        Ok(())
    }

    /// The option a target on `platform` must carry and does not (`raw` is what the client sent, if anything): its
    /// name, for a 422 naming `targets[i].options.<name>`. TikTok's privacy level is chosen by the person, never
    /// defaulted.
    pub fn missing_required(
        platform: PlatformKind,
        raw: Option<&serde_json::Value>,
    ) -> Option<&'static str> {
        match platform {
            PlatformKind::Tiktok => {
                let inbox =
                    raw.and_then(|r| r.get("mode")).and_then(|m| m.as_str()) == Some("inbox");
                let chosen = raw
                    .and_then(|r| r.get("privacy_level"))
                    .is_some_and(|p| !p.is_null());
                (!inbox && !chosen).then_some("privacy_level")
            }
            _ => None,
        }
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
            TargetOptions::Youtube(_) => PlatformKind::Youtube,
            TargetOptions::Tiktok(_) => PlatformKind::Tiktok,
            TargetOptions::Linkedin(_) => PlatformKind::Linkedin,
        }
    }
}

impl YoutubeOptions {
    fn check(&self) -> Result<(), String> {
        let mut missing = Vec::new();
        match self.title.as_deref().map(str::trim) {
            None | Some("") => missing.push("title"),
            Some(_) => {}
        }
        if self.self_declared_made_for_kids.is_none() {
            missing.push("self_declared_made_for_kids");
        }
        if !missing.is_empty() {
            return Err(format!(
                "YouTube requires {} (no default: say whether the video is made for children)",
                missing.join(" and ")
            ));
        }
        let angle = |s: &str| s.contains('<') || s.contains('>');
        if let Some(t) = &self.title {
            if t.chars().count() > MAX_YOUTUBE_TITLE {
                return Err(format!(
                    "title is longer than {MAX_YOUTUBE_TITLE} characters"
                ));
            }
            if angle(t) {
                return Err("title may not contain `<` or `>`".into());
            }
        }
        if let Some(d) = &self.description {
            if d.chars().count() > MAX_YOUTUBE_DESCRIPTION {
                return Err(format!(
                    "description is longer than {MAX_YOUTUBE_DESCRIPTION} characters"
                ));
            }
            if angle(d) {
                return Err("description may not contain `<` or `>`".into());
            }
        }
        let tag_chars: usize = self
            .tags
            .iter()
            .map(|t| t.chars().count() + if t.contains(' ') { 2 } else { 0 })
            .sum::<usize>()
            + self.tags.len().saturating_sub(1);
        if tag_chars > MAX_YOUTUBE_TAG_CHARS {
            return Err(format!(
                "tags count more than {MAX_YOUTUBE_TAG_CHARS} characters together"
            ));
        }
        if self.tags.iter().any(|t| t.trim().is_empty() || angle(t)) {
            return Err("tags may not be empty or contain `<` or `>`".into());
        }
        if let Some(c) = &self.category_id {
            if c.is_empty() || c.len() > 4 || !c.bytes().all(|b| b.is_ascii_digit()) {
                return Err("category_id must be a YouTube category id such as `22`".into());
            }
        }
        if self.publish_at.is_some() && self.privacy != Some(YoutubePrivacy::Private) {
            return Err(
                "publish_at requires privacy `private` (YouTube makes the video public at that time)".into(),
            );
        }
        if let Some(t) = &self.thumbnail {
            if crate::domain::MediaId::parse(t).is_none() {
                return Err("thumbnail must be the media id of an image".into());
            }
        }
        Ok(())
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
    fn tiktok_options_need_a_privacy_level_and_keep_interactions_off() {
        let t = TargetOptions::parse(PlatformKind::Tiktok, &json!({"privacy_level": "SELF_ONLY"}))
            .unwrap();
        let TargetOptions::Tiktok(o) = &t else {
            panic!("{t:?}")
        };
        assert!(o.disable_comment && o.disable_duet && o.disable_stitch);
        assert_eq!(o.mode, TiktokMode::Direct);
        assert!(TargetOptions::parse(PlatformKind::Tiktok, &json!({})).is_err());
        assert!(TargetOptions::parse(PlatformKind::Tiktok, &json!({"mode": "inbox"})).is_ok());
        assert!(TargetOptions::parse(
            PlatformKind::Tiktok,
            &json!({"privacy_level": "SELF_ONLY", "brand_content_toggle": true})
        )
        .is_err());
        assert!(
            TargetOptions::parse(PlatformKind::Tiktok, &json!({"privacy_level": "friends"}))
                .is_err()
        );
        assert_eq!(
            TargetOptions::missing_required(PlatformKind::Tiktok, None),
            Some("privacy_level")
        );
        assert_eq!(
            TargetOptions::missing_required(PlatformKind::Tiktok, Some(&json!({"mode": "inbox"}))),
            None
        );
        assert_eq!(TargetOptions::missing_required(PlatformKind::X, None), None);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(
            v,
            json!({"platform": "tiktok", "privacy_level": "SELF_ONLY"})
        );
        assert_eq!(serde_json::from_value::<TargetOptions>(v).unwrap(), t);
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
