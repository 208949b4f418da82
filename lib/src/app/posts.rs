//! Posts: compose once for many accounts, check each target's limits, schedule, edit while nothing is queued,
//! cancel, and retry a delivery.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::approval::Author;
use super::App;
use crate::domain::approval::{Approval, ApprovalState};
use crate::domain::content::{self, Violation};
use crate::domain::media_rules;
use crate::domain::options::{
    BlueskyOptions, LinkedinOptions, MastodonOptions, TiktokOptions, XOptions, YoutubeOptions,
};
use crate::domain::post::{
    MAX_FUTURE_SCHEDULE, MAX_PAST_SCHEDULE, MAX_POST_MEDIA, MAX_TARGETS, MAX_TEXT_BYTES,
    MAX_THREAD_PARTS,
};
use crate::domain::records::IDEMPOTENCY_TTL;
use crate::domain::{
    Account, AccountId, AuditEntry, Delivery, DeliveryError, DeliveryStatus, IdempotencyRecord,
    Media, MediaId, MediaItem, MediaKind, Post, PostId, TargetOptions, ThreadPart, WorkspaceId,
};
use crate::error::{Error, Result};
use crate::ports::{Page, PostFilter, PostRecord, StoreError};

/// How many times [`App::cancel_post`] reads the post again after a delivery changed under it before it answers 409.
pub const CANCEL_ROUNDS: usize = 3;

/// One media item as a client sends it: an item of the workspace's library by id, or a URL that Postora imports
/// into the library first (exactly one of the two).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaInput {
    /// An item of this workspace's media library (`id` in `GET /v1/media`).
    #[serde(default)]
    #[schema(pattern = "^med_[0-9a-zA-Z-]{1,64}$")]
    pub media_id: Option<String>,
    /// An http(s) URL of an image or video: Postora fetches it into the library (as `POST /v1/media/import`).
    #[serde(default)]
    #[schema(max_length = 2048, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$")]
    pub url: Option<String>,
    /// Alternative text for people who cannot see the image, at most 1500 characters; the item's own when absent.
    #[serde(default)]
    #[schema(max_length = 1500)]
    pub alt: Option<String>,
    /// Ignored: the kind is read from the file's bytes. Accepted so that clients written for media URLs keep working.
    #[serde(default)]
    pub kind: Option<MediaKind>,
}

/// One account a post goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    /// The id of a connected account of this workspace (`id` in `GET /v1/accounts`).
    #[schema(pattern = "^acc_[0-9a-zA-Z-]{1,64}$")]
    pub account_id: String,
    /// Replaces the post's text (a thread's first part's) for this account. At most 256 KiB of UTF-8, and within
    /// the account's platform limits.
    #[serde(default)]
    #[schema(max_length = 262144)]
    pub text: Option<String>,
    /// Options for the account's platform (Mastodon, Bluesky, X and TikTok take some; the others none; TikTok requires `privacy_level`).
    #[serde(default)]
    #[schema(value_type = Option<OptionsDoc>)]
    pub options: Option<serde_json::Value>,
}

/// The options a target may carry, by the platform of its account.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum OptionsDoc {
    Mastodon(MastodonOptions),
    Bluesky(BlueskyOptions),
    X(XOptions),
    Youtube(YoutubeOptions),
    Tiktok(TiktokOptions),
    Linkedin(LinkedinOptions),
}

/// One part of a thread: its own text and media, published as a reply to the part before it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartInput {
    /// At most 256 KiB of UTF-8, and within each target's platform limits.
    #[serde(default)]
    #[schema(max_length = 262144)]
    pub text: String,
    #[serde(default)]
    pub media: Vec<MediaInput>,
}

/// A new post. Besides what the schema states, each target must be a connected account of this workspace, named
/// once, and the text and media must fit each target's platform limits; a post that breaks a rule is refused with
/// a 422 whose `field` names the rule's field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// The text every target gets unless it has its own. At most 256 KiB of UTF-8, and within each target's
    /// platform limits (counted the way that platform counts).
    #[serde(default)]
    #[schema(max_length = 262144)]
    pub text: String,
    #[serde(default)]
    pub media: Vec<MediaInput>,
    /// A thread instead of one post: 1 to 25 parts, published in order, each a reply to the one before (on X,
    /// Bluesky, Mastodon, Threads and the sandbox; a target on another platform is refused). With `parts`, leave
    /// `text` and `media` out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 25)]
    pub parts: Vec<PartInput>,
    /// The accounts to publish to: 1 to 50, each named once.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 50)]
    pub targets: Vec<TargetInput>,
    /// RFC 3339 with an offset, for example `2026-12-01T09:00:00+01:00`, from 5 minutes ago to two years ahead.
    /// Absent or null means now.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub scheduled_at: Option<String>,
}

/// Changes to a post that has not started publishing; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostPatch {
    /// At most 256 KiB of UTF-8, and within each target's platform limits.
    #[serde(default)]
    #[schema(max_length = 262144)]
    pub text: Option<String>,
    #[serde(default)]
    pub media: Option<Vec<MediaInput>>,
    /// Replaces the whole content with a thread of 1 to 25 parts (then leave `text` and `media` out).
    #[serde(default)]
    #[schema(max_items = 25)]
    pub parts: Option<Vec<PartInput>>,
    /// Replaces the targets: 1 to 50 connected accounts, each named once.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 50)]
    pub targets: Option<Vec<TargetInput>>,
    /// RFC 3339 with an offset, from 5 minutes ago to two years ahead.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub scheduled_at: Option<String>,
}

/// A post that passed every rule.
struct Checked {
    /// Each part's text and media: one part for a single post.
    parts: Vec<(String, Vec<Media>)>,
    /// Every media item of every part, fitted to the targets.
    items: Vec<MediaItem>,
    targets: Vec<CheckedTarget>,
    scheduled_at: DateTime<Utc>,
}

struct CheckedTarget {
    account: Account,
    text: Option<String>,
    options: Option<TargetOptions>,
}

impl Checked {
    /// Sets the post's content to what was checked.
    fn fill(&mut self, post: &mut Post) {
        let mut parts = std::mem::take(&mut self.parts).into_iter();
        let (text, media) = parts.next().unwrap_or_default();
        post.text = text;
        post.media = media;
        post.thread = parts
            .map(|(text, media)| ThreadPart { text, media })
            .collect();
    }
}

/// The content of a request as parts: `parts` when given, otherwise one part of `text` and `media`. Giving both is
/// a violation.
fn content_parts(
    text: &str,
    media: &[MediaInput],
    parts: &[PartInput],
    v: &mut Vec<Violation>,
) -> Vec<PartInput> {
    if parts.is_empty() {
        return vec![PartInput {
            text: text.to_owned(),
            media: media.to_vec(),
        }];
    }
    if !text.is_empty() || !media.is_empty() {
        v.push(violation(
            "parts",
            "replaces `text` and `media`: give either `parts` or `text` and `media`",
        ));
    }
    if parts.len() > MAX_THREAD_PARTS {
        v.push(violation(
            "parts",
            &format!("has more than the {MAX_THREAD_PARTS} parts a thread may have"),
        ));
    }
    parts.iter().take(MAX_THREAD_PARTS).cloned().collect()
}

/// The name of a field of part `k`: the top-level field for a single post, `parts[k].field` in a thread.
fn part_field(threaded: bool, k: usize, field: &str) -> String {
    if threaded {
        format!("parts[{k}].{field}")
    } else {
        field.to_owned()
    }
}

fn parse_time(raw: Option<&str>, now: DateTime<Utc>, v: &mut Vec<Violation>) -> DateTime<Utc> {
    let Some(raw) = raw else { return now };
    match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            if t < now - MAX_PAST_SCHEDULE {
                v.push(violation(
                    "scheduled_at",
                    "is more than 5 minutes in the past",
                ));
            } else if t > now + MAX_FUTURE_SCHEDULE {
                v.push(violation("scheduled_at", "is more than two years ahead"));
            }
            t.max(now)
        }
        Err(_) => {
            v.push(violation(
                "scheduled_at",
                "must be an RFC 3339 time with an offset, for example 2026-12-01T09:00:00Z",
            ));
            now
        }
    }
}

fn violation(field: &str, message: &str) -> Violation {
    Violation::new(field, message)
}

/// The field a violation found while importing `media[i]` belongs to.
fn media_field(i: usize, inner: &str) -> String {
    match inner {
        "url" | "alt" => format!("media[{i}].{inner}"),
        _ => format!("media[{i}].url"),
    }
}

/// A stored post's content as the parts a request would give.
fn current_parts(post: &Post) -> Vec<PartInput> {
    let as_input = |media: &[Media]| {
        media
            .iter()
            .map(|m| MediaInput {
                media_id: Some(m.media_id.to_string()),
                alt: m.alt.clone(),
                ..MediaInput::default()
            })
            .collect()
    };
    std::iter::once(PartInput {
        text: post.text.clone(),
        media: as_input(&post.media),
    })
    .chain(post.thread.iter().map(|p| PartInput {
        text: p.text.clone(),
        media: as_input(&p.media),
    }))
    .collect()
}

fn request_hash<T: Serialize>(input: &T) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(input).unwrap_or_default(),
    ))
}

impl App {
    /// A post's media as items of the library: ids looked up, URLs imported (only for a request that is fine so
    /// far, so a refused post fetches nothing). What is wrong becomes a violation naming `media[i]`.
    async fn resolve_media(
        &self,
        ws: &WorkspaceId,
        input: &[MediaInput],
        prefix: &str,
        v: &mut Vec<Violation>,
    ) -> Result<Vec<(Media, MediaItem)>> {
        if input.len() > MAX_POST_MEDIA {
            v.push(violation(
                &format!("{prefix}media"),
                &format!(
                    "has {} items, more than the {MAX_POST_MEDIA} a post may have",
                    input.len()
                ),
            ));
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(input.len());
        for (i, m) in input.iter().enumerate() {
            let alt =
                match super::media::check_alt(&format!("{prefix}media[{i}].alt"), m.alt.as_deref())
                {
                    Ok(alt) => alt,
                    Err(Error::Validation(x)) => {
                        v.extend(x);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
            let item = match (&m.media_id, &m.url) {
                (Some(raw), None) => {
                    let field = format!("{prefix}media[{i}].media_id");
                    let Some(id) = MediaId::parse(raw) else {
                        v.push(violation(&field, "is not a media id"));
                        continue;
                    };
                    match self.stores.media.get_media(ws, &id).await? {
                        Some(item) => item,
                        None => {
                            v.push(violation(&field, "is not a media item of this workspace"));
                            continue;
                        }
                    }
                }
                (None, Some(url)) => {
                    if crate::domain::post::parse_media_url(url).is_none() {
                        v.push(violation(
                            &format!("{prefix}media[{i}].url"),
                            "must be a public http(s) URL of at most 2048 characters",
                        ));
                        continue;
                    }
                    if !v.is_empty() {
                        continue;
                    }
                    match self.import_media(ws, url, None).await {
                        Ok(item) => item,
                        Err(Error::Validation(x)) => {
                            v.extend(x.into_iter().map(|x| {
                                Violation::new(
                                    format!("{prefix}{}", media_field(i, &x.field)),
                                    x.message,
                                )
                            }));
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                _ => {
                    v.push(violation(
                        &format!("{prefix}media[{i}]"),
                        "needs either `media_id` or `url`, and not both",
                    ));
                    continue;
                }
            };
            out.push((
                Media {
                    media_id: item.id.clone(),
                    kind: item.kind(),
                    alt,
                },
                item,
            ));
        }
        Ok(out)
    }

    async fn check_post(
        &self,
        ws: &WorkspaceId,
        content: &[PartInput],
        targets: &[TargetInput],
        scheduled_at: Option<&str>,
    ) -> Result<Checked> {
        let now = self.now();
        let mut v = Vec::new();
        let threaded = content.len() > 1;
        let scheduled_at = parse_time(scheduled_at, now, &mut v);
        let mut parts = Vec::with_capacity(content.len());
        let mut items: Vec<MediaItem> = Vec::new();
        // Each part's media as the rules see them, and where each item sits in the request.
        let mut part_items: Vec<Vec<MediaItem>> = Vec::with_capacity(content.len());
        for (k, part) in content.iter().enumerate() {
            if part.text.len() > MAX_TEXT_BYTES {
                v.push(violation(&part_field(threaded, k, "text"), "is too long"));
            }
            let prefix = if threaded {
                format!("parts[{k}].")
            } else {
                String::new()
            };
            let resolved = self.resolve_media(ws, &part.media, &prefix, &mut v).await?;
            let (media, these): (Vec<Media>, Vec<MediaItem>) = resolved.into_iter().unzip();
            parts.push((part.text.clone(), media));
            for item in &these {
                if !items.iter().any(|i| i.id == item.id) {
                    items.push(item.clone());
                }
            }
            part_items.push(these);
        }
        if targets.is_empty() {
            v.push(violation("targets", "needs at least one account"));
        }
        if targets.len() > MAX_TARGETS {
            v.push(violation(
                "targets",
                &format!("has more than {MAX_TARGETS} accounts"),
            ));
        }
        let mut seen = HashSet::new();
        let mut checked = Vec::new();
        for (i, t) in targets.iter().enumerate().take(MAX_TARGETS) {
            let field = format!("targets[{i}].account_id");
            let Some(id) = AccountId::parse(&t.account_id) else {
                v.push(violation(&field, "is not an account id"));
                continue;
            };
            if !seen.insert(id.clone()) {
                v.push(violation(&field, "names the same account twice"));
                continue;
            }
            let account = match self.get_account(ws, &id).await {
                Ok(a) => a,
                Err(Error::NotFound(_)) => {
                    v.push(violation(&field, "is not an account of this workspace"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !account.can_publish() {
                v.push(violation(
                    &field,
                    &format!("is {} and cannot publish", account.status.as_str()),
                ));
                continue;
            }
            let Some(platform) = self.platforms.get(account.platform) else {
                v.push(violation(
                    &field,
                    &format!("is on {}, which is not enabled", account.platform),
                ));
                continue;
            };
            if let Some(name) =
                TargetOptions::missing_required(account.platform, t.options.as_ref())
            {
                v.push(Violation {
                    target: Some(account.id.to_string()),
                    rule: Some("options".to_owned()),
                    ..violation(
                        &format!("targets[{i}].options.{name}"),
                        &format!(
                            "{} ({}): {name} is required, chosen by the person",
                            account.platform, account.id
                        ),
                    )
                });
                continue;
            }
            let options = match TargetOptions::read(account.platform, t.options.as_ref()) {
                Ok(o) => o,
                Err(why) => {
                    v.push(Violation {
                        target: Some(account.id.to_string()),
                        rule: Some("options".to_owned()),
                        ..violation(
                            &format!("targets[{i}].options"),
                            &format!("{} ({}): {why}", account.platform, account.id),
                        )
                    });
                    continue;
                }
            };
            if threaded && !account.platform.takes_threads() {
                v.push(Violation {
                    target: Some(account.id.to_string()),
                    rule: Some("threads".to_owned()),
                    ..violation(
                        &field,
                        &format!(
                            "{} ({}): {} does not publish threads; post the parts separately",
                            account.platform, account.id, account.platform
                        ),
                    )
                });
                continue;
            }
            if t.text
                .as_ref()
                .is_some_and(|own| own.len() > MAX_TEXT_BYTES)
            {
                v.push(violation(&format!("targets[{i}].text"), "is too long"));
                continue;
            }
            let limits = platform.limits_for(&account);
            let media_rules = platform.media_rules_for(&account);
            // A content warning counts toward the text's length where the platform counts it (Mastodon).
            let counted_before = options.as_ref().and_then(TargetOptions::counted_with_text);
            for (k, ((part_text, media), these)) in parts.iter().zip(&part_items).enumerate() {
                let (body, text_field) = match (&t.text, k) {
                    (Some(own), 0) => (own.as_str(), format!("targets[{i}].text")),
                    _ => (part_text.as_str(), part_field(threaded, k, "text")),
                };
                let counted;
                let body = match counted_before {
                    Some(warning) => {
                        counted = format!("{warning}{body}");
                        counted.as_str()
                    }
                    None => body,
                };
                v.extend(
                    content::check(
                        &limits,
                        account.platform,
                        body,
                        !media.is_empty(),
                        &text_field,
                    )
                    .into_iter()
                    .map(|x| Violation {
                        target: Some(account.id.to_string()),
                        ..x
                    }),
                );
                let probed: Vec<_> = these.iter().map(|m| (&m.id, &m.info, m.bytes)).collect();
                v.extend(
                    media_rules::check_post_under(account.platform, &media_rules, &probed)
                        .into_iter()
                        .map(|x| {
                            // An item's own rule is about `media[j]`; a rule about the part's media as a whole is
                            // about `media`. Either way the target and the rule are named.
                            let field = x
                                .media_id
                                .as_ref()
                                .and_then(|id| these.iter().position(|m| &m.id == id))
                                .map_or_else(|| "media".to_owned(), |j| format!("media[{j}]"));
                            Violation {
                                field: part_field(threaded, k, &field),
                                message: format!(
                                    "{} ({}): {}",
                                    account.platform, account.id, x.message
                                ),
                                target: Some(account.id.to_string()),
                                media_id: x.media_id.map(|m| m.to_string()),
                                rule: Some(x.rule.to_owned()),
                            }
                        }),
                );
            }
            checked.push(CheckedTarget {
                account,
                text: t.text.clone(),
                options,
            });
        }
        if !v.is_empty() {
            // One message per field and rule, in request order.
            let mut unique = Vec::new();
            for x in v {
                if !unique.contains(&x) {
                    unique.push(x);
                }
            }
            return Err(Error::Validation(unique));
        }
        // The renditions the targets need are made now, once, so publishing only sends them.
        let platforms: Vec<_> = checked.iter().map(|t| t.account.platform).collect();
        let mut fitted = Vec::with_capacity(items.len());
        for item in items {
            fitted.push(self.fit_media(item, &platforms).await?);
        }
        Ok(Checked {
            parts,
            items: fitted,
            targets: checked,
            scheduled_at,
        })
    }

    /// Creates a post and a delivery per target. With an idempotency key, a repeat of the same request returns the
    /// post it created (`false` in the second field) and a different request under the same key is refused. An
    /// editor's post in a workspace that requires approval waits for it (its deliveries `pending_approval`).
    pub async fn create_post(
        &self,
        ws: &WorkspaceId,
        input: &NewPost,
        idempotency_key: Option<&str>,
        author: &Author,
    ) -> Result<(PostRecord, bool)> {
        let mut v = Vec::new();
        let content = content_parts(&input.text, &input.media, &input.parts, &mut v);
        if !v.is_empty() {
            return Err(Error::Validation(v));
        }
        let mut checked = self
            .check_post(ws, &content, &input.targets, input.scheduled_at.as_deref())
            .await?;
        let now = self.now();
        let mut post = Post {
            id: PostId::generate(),
            workspace_id: ws.clone(),
            text: String::new(),
            media: Vec::new(),
            thread: Vec::new(),
            scheduled_at: checked.scheduled_at,
            created_at: now,
            updated_at: now,
            version: 1,
            approval: None,
        };
        checked.fill(&mut post);
        let held = self.needs_approval(ws, author).await?;
        if held {
            post.approval = Some(Approval::request(author.by.clone(), now));
        }
        if let Some(key) = idempotency_key {
            let record = IdempotencyRecord {
                workspace_id: ws.clone(),
                key: key.to_owned(),
                request_hash: request_hash(input),
                post_id: post.id.clone(),
                expires_at: now + IDEMPOTENCY_TTL,
            };
            if let Some(existing) = self.stores.ephemeral.put_idempotency(&record, now).await? {
                if existing.request_hash != record.request_hash {
                    return Err(Error::conflict(
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request",
                    ));
                }
                return match self.stores.posts.get_post(ws, &existing.post_id).await? {
                    Some(rec) => Ok((rec, false)),
                    None => Err(Error::conflict(
                        "idempotency_in_progress",
                        "a request with this Idempotency-Key is still being processed; try again shortly",
                    )),
                };
            }
        }
        let deliveries: Vec<Delivery> = checked
            .targets
            .iter()
            .map(|t| {
                let d = Delivery {
                    options: t.options.clone(),
                    ..Delivery::new(
                        ws.clone(),
                        post.id.clone(),
                        t.account.id.clone(),
                        t.account.platform,
                        t.text.clone(),
                        post.scheduled_at,
                        now,
                    )
                };
                if held {
                    d.hold_for_approval(now).unwrap_or(d)
                } else {
                    d
                }
            })
            .collect();
        let record = PostRecord { post, deliveries };
        if let Err(e) = self.stores.posts.create_post(&record).await {
            if let Some(key) = idempotency_key {
                let _ = self.stores.ephemeral.delete_idempotency(ws, key).await;
            }
            return Err(e.into());
        }
        self.attach_media(&record.post, &checked.items).await?;
        self.audit(
            AuditEntry::new(ws.clone(), now, "post.created", serde_json::json!({"targets": record.deliveries.len(), "scheduled_at": record.post.scheduled_at}))
                .post(&record.post.id),
        )
        .await;
        if held {
            self.approval_requested(&record.post, &author.by).await;
        }
        // A post due now or within the dispatcher's horizon is queued at once rather than on the next tick.
        self.dispatch_soon(&record.deliveries).await;
        let fresh = self
            .stores
            .posts
            .get_post(ws, &record.post.id)
            .await?
            .unwrap_or(record);
        Ok((fresh, true))
    }

    /// Records that the post uses its media, so they are kept (and not deleted while it may still publish): on
    /// their records, and on their objects for the object store's own clean-up.
    async fn attach_media(&self, post: &Post, items: &[MediaItem]) -> Result<()> {
        let mut ids: Vec<MediaId> = Vec::new();
        for m in post.all_media() {
            if !ids.contains(&m.media_id) {
                ids.push(m.media_id.clone());
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        self.stores
            .media
            .attach_media(&post.workspace_id, &ids, &post.id, self.now())
            .await?;
        for item in items.iter().filter(|i| i.attached_at.is_none()) {
            self.mark_objects_attached(item).await?;
        }
        Ok(())
    }

    pub async fn get_post(&self, ws: &WorkspaceId, id: &PostId) -> Result<PostRecord> {
        self.stores
            .posts
            .get_post(ws, id)
            .await?
            .ok_or(Error::NotFound("post"))
    }

    pub async fn list_posts(
        &self,
        ws: &WorkspaceId,
        filter: &PostFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<PostRecord>> {
        match self
            .stores
            .posts
            .list_posts(ws, filter, limit, cursor)
            .await
        {
            Err(StoreError::NotFound) => Err(Error::invalid(
                "cursor",
                "is not a cursor this API returned",
            )),
            other => Ok(other?),
        }
    }

    /// Edits a post while none of its deliveries has been queued. An editor's change, where the workspace requires
    /// approval, is a new request for approval (an approved or rejected post waits again); anyone else's leaves the
    /// post's approval as it was, and a post that is not approved keeps every delivery held.
    pub async fn update_post(
        &self,
        ws: &WorkspaceId,
        id: &PostId,
        patch: &PostPatch,
        author: &Author,
    ) -> Result<PostRecord> {
        let current = self.get_post(ws, id).await?;
        let live: Vec<&Delivery> = current
            .deliveries
            .iter()
            .filter(|d| d.status != DeliveryStatus::Canceled)
            .collect();
        if live.is_empty() || !live.iter().all(|d| d.is_untouched()) {
            return Err(Error::conflict(
                "post_not_editable",
                "a post can be changed only while none of its deliveries has been queued or canceled",
            ));
        }
        let mut v = Vec::new();
        let content = match (&patch.parts, &patch.text, &patch.media) {
            (Some(parts), text, media) => content_parts(
                text.as_deref().unwrap_or_default(),
                media.as_deref().unwrap_or_default(),
                parts,
                &mut v,
            ),
            (None, text, media) => {
                let mut parts = current_parts(&current.post);
                if let Some(first) = parts.first_mut() {
                    if let Some(text) = text {
                        first.text = text.clone();
                    }
                    if let Some(media) = media {
                        first.media = media.clone();
                    }
                }
                parts
            }
        };
        if !v.is_empty() {
            return Err(Error::Validation(v));
        }
        let targets: Vec<TargetInput> = match &patch.targets {
            Some(t) => t.clone(),
            None => live
                .iter()
                .map(|d| TargetInput {
                    account_id: d.account_id.to_string(),
                    text: d.text.clone(),
                    options: d
                        .options
                        .as_ref()
                        .and_then(|o| serde_json::to_value(o).ok())
                        .map(|mut o| {
                            if let Some(map) = o.as_object_mut() {
                                map.remove("platform");
                            }
                            o
                        }),
                })
                .collect(),
        };
        let scheduled = patch
            .scheduled_at
            .clone()
            .unwrap_or_else(|| current.post.scheduled_at.to_rfc3339());
        // An unchanged time in the past is fine: it stays as it was.
        let mut checked = if patch.scheduled_at.is_none() && current.post.scheduled_at < self.now()
        {
            let mut c = self.check_post(ws, &content, &targets, None).await?;
            c.scheduled_at = current.post.scheduled_at;
            c
        } else {
            self.check_post(ws, &content, &targets, Some(&scheduled))
                .await?
        };
        let now = self.now();
        let mut post = current.post.clone();
        checked.fill(&mut post);
        post.scheduled_at = checked.scheduled_at;
        post.updated_at = now;
        post.version += 1;
        let requested = self.needs_approval(ws, author).await?;
        if requested {
            post.approval = Some(Approval::request(author.by.clone(), now));
        }
        let held = post
            .approval
            .as_ref()
            .is_some_and(|a| a.state != ApprovalState::Approved);
        let mut upsert = Vec::new();
        let mut keep = HashSet::new();
        for CheckedTarget {
            account,
            text: own_text,
            options,
        } in &checked.targets
        {
            keep.insert(account.id.clone());
            match current
                .deliveries
                .iter()
                .find(|d| d.account_id == account.id)
            {
                Some(d) if d.status == DeliveryStatus::Canceled => {
                    return Err(Error::invalid(
                        "targets",
                        "a canceled delivery cannot be targeted again; create a new post",
                    ));
                }
                Some(d) => {
                    let mut next = d
                        .reschedule(post.scheduled_at, own_text.clone(), now)
                        .map_err(|_| {
                            Error::conflict(
                                "post_not_editable",
                                "a delivery of this post has started",
                            )
                        })?;
                    next.options = options.clone();
                    upsert.push((next, Some(d.version)));
                }
                None => upsert.push((
                    Delivery {
                        options: options.clone(),
                        ..Delivery::new(
                            ws.clone(),
                            post.id.clone(),
                            account.id.clone(),
                            account.platform,
                            own_text.clone(),
                            post.scheduled_at,
                            now,
                        )
                    },
                    None,
                )),
            }
        }
        if held {
            for (d, _) in &mut upsert {
                if d.status != DeliveryStatus::PendingApproval {
                    *d = d.hold_for_approval(now).map_err(|_| {
                        Error::conflict("post_not_editable", "a delivery of this post has started")
                    })?;
                }
            }
        }
        let remove: Vec<(AccountId, u64)> = live
            .iter()
            .filter(|d| !keep.contains(&d.account_id))
            .map(|d| (d.account_id.clone(), d.version))
            .collect();
        match self
            .stores
            .posts
            .update_post(&post, current.post.version, &upsert, &remove)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(Error::conflict(
                    "post_not_editable",
                    "the post changed or started publishing meanwhile",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        self.attach_media(&post, &checked.items).await?;
        self.audit(
            AuditEntry::new(ws.clone(), now, "post.updated", serde_json::json!({})).post(id),
        )
        .await;
        if requested {
            self.approval_requested(&post, &author.by).await;
        }
        let updated: Vec<Delivery> = upsert.into_iter().map(|(d, _)| d).collect();
        self.dispatch_soon(&updated).await;
        self.get_post(ws, id).await
    }

    /// Cancels every delivery of a post that has not started publishing. A delivery that changes while it is being
    /// canceled is read again and canceled if it still can be; one that keeps changing for [`CANCEL_ROUNDS`] rounds
    /// is a 409 `cancel_conflict` (the deliveries canceled meanwhile stay canceled, and asking again is safe).
    pub async fn cancel_post(&self, ws: &WorkspaceId, id: &PostId) -> Result<PostRecord> {
        let mut settled = false;
        for _ in 0..CANCEL_ROUNDS {
            let current = self.get_post(ws, id).await?;
            let mut conflicts = 0;
            for d in &current.deliveries {
                let Ok(next) = d.cancel(
                    DeliveryError::new("canceled", "canceled by the user"),
                    self.now(),
                ) else {
                    continue;
                };
                match self.stores.posts.save_delivery(&next, d.version).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict) => conflicts += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            if conflicts == 0 {
                settled = true;
                break;
            }
        }
        if !settled {
            tracing::info!(workspace_id = %ws, post_id = %id, "a cancel kept meeting concurrent changes");
            return Err(Error::conflict(
                "cancel_conflict",
                "the post's deliveries kept changing while they were being canceled; some may not be canceled yet: \
                 get the post to see which, or cancel again",
            ));
        }
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "post.canceled",
                serde_json::json!({}),
            )
            .post(id),
        )
        .await;
        self.get_post(ws, id).await
    }

    /// A person retries a failed delivery, or an in-doubt one with `confirm`.
    pub async fn retry_delivery(
        &self,
        ws: &WorkspaceId,
        post: &PostId,
        account: &AccountId,
        confirm: bool,
    ) -> Result<PostRecord> {
        let current = self.get_post(ws, post).await?;
        let d = current
            .deliveries
            .iter()
            .find(|d| &d.account_id == account)
            .ok_or(Error::NotFound("delivery"))?;
        let next = match (d.status, confirm) {
            (DeliveryStatus::InDoubt, false) => {
                return Err(Error::conflict(
                    "confirmation_required",
                    "this delivery may already be on the platform; retry with {\"confirm\": true} to publish it again",
                ))
            }
            (DeliveryStatus::Failed | DeliveryStatus::InDoubt, _) => d
                .retry_by_person(confirm, self.now())
                .map_err(|e| Error::conflict("not_retryable", e.to_string()))?,
            (status, _) => {
                return Err(Error::conflict(
                    "not_retryable",
                    format!("only failed or in-doubt deliveries can be retried; this one is {}", status.as_str()),
                ))
            }
        };
        let account_row = self.get_account(ws, account).await?;
        if !account_row.can_publish() {
            return Err(Error::conflict(
                "account_cannot_publish",
                format!("the account is {}", account_row.status.as_str()),
            ));
        }
        match self.stores.posts.save_delivery(&next, d.version).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(Error::conflict(
                    "conflict",
                    "the delivery changed meanwhile",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        self.audit(
            AuditEntry::new(
                ws.clone(),
                self.now(),
                "delivery.retried",
                serde_json::json!({"confirmed": confirm}),
            )
            .post(post)
            .account(account),
        )
        .await;
        self.dispatch_soon(&[next]).await;
        self.get_post(ws, post).await
    }
}
