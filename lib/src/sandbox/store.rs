//! The sandbox network's own data, in its own SQLite file: the registered client, authorization codes, tokens (only
//! their hashes) and the posts it accepted.

use std::path::Path;

use rusqlite::{params, OptionalExtension};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::SandboxPost;
use crate::adapters::local::db::Db;
use crate::domain::ids::random_token;
use crate::ports::StoreResult;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS sandbox_clients (
    client_id TEXT PRIMARY KEY, secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sandbox_redirects (
    client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL, PRIMARY KEY (client_id, redirect_uri)
);
CREATE TABLE IF NOT EXISTS sandbox_codes (
    code TEXT PRIMARY KEY, user_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    challenge TEXT, expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sandbox_tokens (
    hash TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL,
    expires_at INTEGER, revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sandbox_posts (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, idempotency_key TEXT,
    text TEXT NOT NULL, media TEXT NOT NULL, accepted_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sandbox_posts_by_key ON sandbox_posts (user_id, idempotency_key);
CREATE TABLE IF NOT EXISTS sandbox_replies (
    post_id TEXT PRIMARY KEY, reply_to TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sandbox_media (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL,
    content_type TEXT NOT NULL, via TEXT NOT NULL, received_at INTEGER NOT NULL
);
"#;

/// A post's columns, with the post it replies to (`p` is the post, `r` its reply record).
const POST_COLUMNS: &str =
    "p.id, p.user_id, p.idempotency_key, p.text, p.media, p.accepted_at, r.reply_to";
const POSTS: &str = "sandbox_posts p LEFT JOIN sandbox_replies r ON r.post_id = p.id";

/// A post to store: its idempotency key, text, media (as JSON) and the post it replies to.
pub struct NewPost {
    pub key: Option<String>,
    pub text: String,
    pub media: String,
    pub reply_to: Option<String>,
}

/// A client registered with the sandbox, and its secret.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client_id: String,
    pub secret: SecretString,
}

/// What an authorization code stood for, read once as it is spent.
pub struct SpentCode {
    pub user: String,
    pub redirect_uri: String,
    pub challenge: Option<String>,
    pub expires_at_ms: i64,
}

/// What a presented access token is.
pub enum Bearer {
    Valid(String),
    Expired,
    Invalid,
}

/// The sandbox's database.
#[derive(Clone)]
pub struct SandboxStore {
    db: Db,
    /// Origin of the sandbox's own pages, for the permalinks of its posts.
    base: String,
}

impl SandboxStore {
    pub fn open(path: &Path, base: &str) -> StoreResult<Self> {
        Ok(Self {
            db: Db::open_with_schema(path, SCHEMA)?,
            base: base.to_owned(),
        })
    }

    pub fn in_memory(base: &str) -> StoreResult<Self> {
        Ok(Self {
            db: Db::in_memory_with_schema(SCHEMA)?,
            base: base.to_owned(),
        })
    }

    /// Registers `client_id` (if it is new) and adds `redirect_uri` to the URIs its consents may return to, as a
    /// platform's app settings list them. The secret is made at random the first time, so every data directory
    /// has its own, and kept after that.
    pub async fn register_client(
        &self,
        client_id: &str,
        redirect_uri: &str,
    ) -> StoreResult<RegisteredClient> {
        let (id, uri) = (client_id.to_owned(), redirect_uri.to_owned());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO sandbox_clients (client_id, secret) VALUES (?1, ?2) ON CONFLICT (client_id) DO NOTHING",
                    params![id, format!("sbx_cs_{}", random_token(24))],
                )?;
                tx.execute(
                    "INSERT INTO sandbox_redirects (client_id, redirect_uri) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![id, uri],
                )?;
                let secret: String = tx.query_row(
                    "SELECT secret FROM sandbox_clients WHERE client_id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                tx.commit()?;
                Ok(RegisteredClient {
                    client_id: id,
                    secret: SecretString::from(secret),
                })
            })
            .await
    }

    /// The registered client with this id, if any.
    pub async fn client(&self, client_id: &str) -> StoreResult<Option<RegisteredClient>> {
        let id = client_id.to_owned();
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT secret FROM sandbox_clients WHERE client_id = ?1",
                    [&id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(|secret| RegisteredClient {
                    client_id: id.clone(),
                    secret: SecretString::from(secret),
                }))
            })
            .await
    }

    /// Whether `redirect_uri` is one of those registered for `client_id`.
    pub async fn redirect_registered(
        &self,
        client_id: &str,
        redirect_uri: &str,
    ) -> StoreResult<bool> {
        let (id, uri) = (client_id.to_owned(), redirect_uri.to_owned());
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT 1 FROM sandbox_redirects WHERE client_id = ?1 AND redirect_uri = ?2",
                    [id, uri],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
            })
            .await
    }

    pub async fn save_code(
        &self,
        code: &str,
        user: &str,
        redirect_uri: &str,
        challenge: Option<String>,
        expires_at_ms: i64,
    ) -> StoreResult<()> {
        let (h, u, r) = (hash(code), user.to_owned(), redirect_uri.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO sandbox_codes (code, user_id, redirect_uri, challenge, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![h, u, r, challenge, expires_at_ms],
                )?;
                Ok(())
            })
            .await
    }

    /// Spends an authorization code: it can be read only once, whatever happens next.
    pub async fn spend_code(&self, code: &str) -> StoreResult<Option<SpentCode>> {
        let h = hash(code);
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let row = tx
                    .query_row(
                        "SELECT user_id, redirect_uri, challenge, expires_at FROM sandbox_codes WHERE code = ?1",
                        [&h],
                        |r| {
                            Ok(SpentCode {
                                user: r.get(0)?,
                                redirect_uri: r.get(1)?,
                                challenge: r.get(2)?,
                                expires_at_ms: r.get(3)?,
                            })
                        },
                    )
                    .optional()?;
                tx.execute("DELETE FROM sandbox_codes WHERE code = ?1", [&h])?;
                tx.commit()?;
                Ok(row)
            })
            .await
    }

    /// Stores a new access and refresh token for `user`.
    pub async fn issue_tokens(
        &self,
        user: &str,
        access: &str,
        refresh: &str,
        access_expires_at_ms: i64,
    ) -> StoreResult<()> {
        let (a, r, u) = (hash(access), hash(refresh), user.to_owned());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO sandbox_tokens (hash, kind, user_id, expires_at) VALUES (?1, 'access', ?2, ?3)",
                    params![a, u, access_expires_at_ms],
                )?;
                tx.execute(
                    "INSERT INTO sandbox_tokens (hash, kind, user_id, expires_at) VALUES (?1, 'refresh', ?2, NULL)",
                    params![r, u],
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Spends a refresh token (rotation: it works once) and answers whose it was.
    pub async fn spend_refresh_token(&self, token: &str) -> StoreResult<Option<String>> {
        let h = hash(token);
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let user: Option<String> = tx
                    .query_row(
                        "SELECT user_id FROM sandbox_tokens WHERE hash = ?1 AND kind = 'refresh' AND revoked = 0",
                        [&h],
                        |r| r.get(0),
                    )
                    .optional()?;
                tx.execute("UPDATE sandbox_tokens SET revoked = 1 WHERE hash = ?1", [&h])?;
                tx.commit()?;
                Ok(user)
            })
            .await
    }

    /// Revokes every token of the user the presented token belongs to.
    pub async fn revoke_owner_of(&self, token: &str) -> StoreResult<()> {
        let h = hash(token);
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE sandbox_tokens SET revoked = 1 WHERE user_id = (SELECT user_id FROM sandbox_tokens WHERE hash = ?1)",
                    [h],
                )?;
                Ok(())
            })
            .await
    }

    /// Revokes every token of `user`.
    pub async fn revoke_user(&self, user: &str) -> StoreResult<()> {
        let u = user.to_owned();
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE sandbox_tokens SET revoked = 1 WHERE user_id = ?1",
                    [u],
                )?;
                Ok(())
            })
            .await
    }

    /// Makes an access token expire at `at_ms`.
    pub async fn expire_access_token(&self, token: &str, at_ms: i64) -> StoreResult<()> {
        let h = hash(token);
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE sandbox_tokens SET expires_at = ?2 WHERE hash = ?1",
                    params![h, at_ms],
                )?;
                Ok(())
            })
            .await
    }

    /// What the presented access token is, at `now_ms`.
    pub async fn bearer(&self, token: &str, now_ms: i64) -> StoreResult<Bearer> {
        let h = hash(token);
        let row = self
            .db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT user_id, expires_at, revoked FROM sandbox_tokens WHERE hash = ?1 AND kind = 'access'",
                    [h],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, i64>(2)?)),
                )
                .optional()?)
            })
            .await?;
        Ok(match row {
            Some((_, _, revoked)) if revoked != 0 => Bearer::Invalid,
            Some((_, Some(exp), _)) if exp <= now_ms => Bearer::Expired,
            Some((user, _, _)) => Bearer::Valid(user),
            None => Bearer::Invalid,
        })
    }

    /// The first post `user` published under `key`.
    pub async fn find_by_key(&self, user: &str, key: &str) -> StoreResult<Option<SandboxPost>> {
        let (u, k, base) = (user.to_owned(), key.to_owned(), self.base.clone());
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {POST_COLUMNS} FROM {POSTS} WHERE p.user_id = ?1 AND p.idempotency_key = ?2 ORDER BY p.accepted_at, p.id LIMIT 1"),
                    [u, k],
                    |r| read_post(r, &base),
                )
                .optional()?)
            })
            .await
    }

    /// Stores a post. With `dedupe`, a post already stored under the same user and key is the answer instead: the
    /// check and the insert share one transaction, so concurrent requests with one key store one post.
    pub async fn insert_post(
        &self,
        user: &str,
        post: NewPost,
        dedupe: bool,
        now_ms: i64,
    ) -> StoreResult<SandboxPost> {
        let id = format!("sbxpost_{}", uuid::Uuid::now_v7().simple());
        let NewPost {
            key,
            text: t,
            media,
            reply_to,
        } = post;
        let (u, base) = (user.to_owned(), self.base.clone());
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let existing = match (&key, dedupe) {
                    (Some(k), true) => tx
                        .query_row(
                            &format!("SELECT {POST_COLUMNS} FROM {POSTS} WHERE p.user_id = ?1 AND p.idempotency_key = ?2 ORDER BY p.accepted_at, p.id LIMIT 1"),
                            params![u, k],
                            |r| read_post(r, &base),
                        )
                        .optional()?,
                    _ => None,
                };
                let post = match existing {
                    Some(p) => p,
                    None => {
                        tx.execute(
                            "INSERT INTO sandbox_posts (id, user_id, idempotency_key, text, media, accepted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            params![id, u, key, t, media, now_ms],
                        )?;
                        if let Some(parent) = &reply_to {
                            tx.execute(
                                "INSERT INTO sandbox_replies (post_id, reply_to) VALUES (?1, ?2)",
                                params![id, parent],
                            )?;
                        }
                        tx.query_row(
                            &format!("SELECT {POST_COLUMNS} FROM {POSTS} WHERE p.id = ?1"),
                            [&id],
                            |r| read_post(r, &base),
                        )?
                    }
                };
                tx.commit()?;
                Ok(post)
            })
            .await
    }

    /// One post, by its id.
    pub async fn post(&self, id: &str) -> StoreResult<Option<SandboxPost>> {
        let (id, base) = (id.to_owned(), self.base.clone());
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {POST_COLUMNS} FROM {POSTS} WHERE p.id = ?1"),
                    [&id],
                    |r| read_post(r, &base),
                )
                .optional()?)
            })
            .await
    }

    /// Every post the sandbox accepted, oldest first.
    pub async fn posts(&self) -> StoreResult<Vec<SandboxPost>> {
        let base = self.base.clone();
        self.db
            .call(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {POST_COLUMNS} FROM {POSTS} ORDER BY p.accepted_at, p.id"
                ))?;
                let rows = st.query_map([], |r| read_post(r, &base))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }
}

impl SandboxStore {
    /// Records a file the sandbox received (its checksum and size: the bytes themselves are not kept).
    pub async fn insert_media(
        &self,
        media: &SandboxMedia,
        user: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        let (m, u) = (media.clone(), user.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO sandbox_media (id, user_id, sha256, bytes, content_type, via, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![m.id, u, m.sha256, i64::try_from(m.bytes).unwrap_or(i64::MAX), m.content_type, m.via, now_ms],
                )?;
                Ok(())
            })
            .await
    }

    /// A file this user sent, by its sandbox id.
    pub async fn get_media(&self, user: &str, id: &str) -> StoreResult<Option<SandboxMedia>> {
        let (u, i) = (user.to_owned(), id.to_owned());
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT id, sha256, bytes, content_type, via FROM sandbox_media WHERE user_id = ?1 AND id = ?2",
                    params![u, i],
                    |r| {
                        Ok(SandboxMedia {
                            id: r.get(0)?,
                            sha256: r.get(1)?,
                            bytes: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                            content_type: r.get(3)?,
                            via: r.get(4)?,
                        })
                    },
                )
                .optional()?)
            })
            .await
    }
}

/// A file the sandbox received: by upload or by fetching a URL, with the checksum of what arrived.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SandboxMedia {
    pub id: String,
    pub sha256: String,
    pub bytes: u64,
    pub content_type: String,
    /// `upload` or `url`.
    pub via: String,
}

fn read_post(r: &rusqlite::Row<'_>, base: &str) -> rusqlite::Result<SandboxPost> {
    let id: String = r.get(0)?;
    Ok(SandboxPost {
        url: format!("{base}/sandbox/posts/{id}"),
        id,
        account: r.get(1)?,
        idempotency_key: r.get(2)?,
        text: r.get(3)?,
        media: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
        accepted_at: chrono::DateTime::from_timestamp_millis(r.get(5)?).unwrap_or_default(),
        reply_to: r.get(6)?,
    })
}

/// Tokens and codes are kept only as hashes.
fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
