//! Meta's token answers. They are not RFC 6749 token responses (no `token_type` on some, a `data` array on
//! Instagram's code exchange, `user_id` as a number on Threads), so they are read here rather than by the oauth2
//! crate.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::TokenSet;

/// One token answer. Deliberately without `Debug`: it holds a token.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<i64>,
    /// Threads and Instagram name the user the token is for; Threads sends a number, Instagram a string.
    #[serde(default, deserialize_with = "id_string")]
    user_id: Option<String>,
    #[serde(default)]
    permissions: Option<Permissions>,
}

/// Instagram's code exchange wraps its answer in `{"data":[...]}`; older answers were flat.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum CodeAnswer {
    Wrapped { data: Vec<TokenAnswer> },
    Flat(TokenAnswer),
}

impl CodeAnswer {
    pub(crate) fn into_answer(self) -> Option<TokenAnswer> {
        match self {
            CodeAnswer::Wrapped { data } => data.into_iter().next(),
            CodeAnswer::Flat(a) => Some(a),
        }
    }
}

/// Permissions come as a comma-separated string or a list, depending on the endpoint.
#[derive(Deserialize)]
#[serde(untagged)]
enum Permissions {
    Text(String),
    List(Vec<String>),
}

fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

impl TokenAnswer {
    pub(crate) fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The token set this answer grants, issued `now`. Without `expires_in` the lifetime is `fallback_lifetime`
    /// (Meta documents 1 hour for short-lived and 60 days for long-lived tokens), or unknown when that is `None`.
    pub(crate) fn into_tokens(
        self,
        now: DateTime<Utc>,
        fallback_lifetime: Option<chrono::Duration>,
    ) -> TokenSet {
        let lifetime = self
            .expires_in
            .filter(|s| *s > 0)
            .map(chrono::Duration::seconds)
            .or(fallback_lifetime);
        TokenSet {
            access_token: self.access_token,
            refresh_token: None,
            expires_at: lifetime.map(|l| now + l),
            refresh_expires_at: None,
            scope: self.permissions.map(|p| match p {
                Permissions::Text(s) => s.replace(',', " "),
                Permissions::List(l) => l.join(" "),
            }),
            issued_at: now,
        }
    }
}

/// A short-lived token lives an hour (documented for all three platforms).
pub(crate) fn short_lived() -> Option<chrono::Duration> {
    Some(chrono::Duration::hours(1))
}

/// A long-lived token lives 60 days (documented; `expires_in` normally says so).
pub(crate) fn long_lived() -> Option<chrono::Duration> {
    Some(chrono::Duration::days(60))
}

/// Meta refuses to refresh a token younger than a day (and such a token is far from expiry anyway).
const MIN_AGE_TO_REFRESH: chrono::Duration = chrono::Duration::hours(24);

/// Refreshes a long-lived Threads or Instagram token: `url` is the platform's refresh endpoint and `grant_type` its
/// grant (`th_refresh_token`, `ig_refresh_token`). An expired token cannot be refreshed: the account must be
/// connected again. A token younger than a day is kept as it is.
pub(crate) async fn refresh_long_lived(
    graph: &super::graph::Graph,
    mut url: url::Url,
    grant_type: &str,
    tokens: &TokenSet,
    platform: &str,
) -> Result<TokenSet, crate::ports::PlatformError> {
    use crate::ports::PlatformError;
    use secrecy::ExposeSecret;
    let expired = || {
        PlatformError::Reauth(format!(
            "the {platform} token expired; connect the account again"
        ))
    };
    let now = Utc::now();
    if tokens.expires_at.is_some_and(|e| e <= now) {
        return Err(expired());
    }
    if now - tokens.issued_at < MIN_AGE_TO_REFRESH {
        return Ok(tokens.clone());
    }
    let current = tokens.access_token.expose_secret();
    url.query_pairs_mut()
        .append_pair("grant_type", grant_type)
        .append_pair("access_token", current);
    let answer: TokenAnswer = graph
        .exchange(
            graph.http().get(url),
            &[current],
            &format!("refreshing the {platform} token"),
        )
        .await
        .map_err(|f| match PlatformError::from(f) {
            PlatformError::TokenExpired => expired(),
            other => other,
        })?;
    let mut fresh = answer.into_tokens(now, long_lived());
    fresh.scope = fresh.scope.or_else(|| tokens.scope.clone());
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn reads_threads_and_instagram_shapes() {
        let now = Utc::now();
        let threads: CodeAnswer =
            serde_json::from_str(r#"{"access_token":"T1","user_id":12345}"#).unwrap();
        let a = threads.into_answer().unwrap();
        assert_eq!(a.user_id(), Some("12345"));
        let t = a.into_tokens(now, short_lived());
        assert_eq!(t.access_token.expose_secret(), "T1");
        assert_eq!(t.expires_at, Some(now + chrono::Duration::hours(1)));

        let ig: CodeAnswer = serde_json::from_str(
            r#"{"data":[{"access_token":"I1","user_id":"178","permissions":"instagram_business_basic,instagram_business_content_publish"}]}"#,
        )
        .unwrap();
        let a = ig.into_answer().unwrap();
        assert_eq!(a.user_id(), Some("178"));
        let t = a.into_tokens(now, None);
        assert_eq!(
            t.scope.as_deref(),
            Some("instagram_business_basic instagram_business_content_publish")
        );

        let long: TokenAnswer = serde_json::from_str(
            r#"{"access_token":"L","token_type":"bearer","expires_in":5183944}"#,
        )
        .unwrap();
        let t = long.into_tokens(now, long_lived());
        assert_eq!(
            t.expires_at,
            Some(now + chrono::Duration::seconds(5_183_944))
        );
    }
}
