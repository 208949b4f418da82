//! Meta's token answers. They are not RFC 6749 token responses (no `token_type` on some, a `data` array on
//! Instagram's code exchange, `user_id` as a number on Threads), so they are read here rather than by the oauth2
//! crate.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::TokenSet;
use crate::ports::PlatformError;

/// One token answer. Deliberately without `Debug`: it holds a token.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    access_token: SecretString,
    #[serde(default, deserialize_with = "lifetime")]
    expires_in: Option<Lifetime>,
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

/// `expires_in` as Meta sent it: a number of seconds (however large, or a string of digits), or something else.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lifetime {
    Seconds(i128),
    Unreadable,
}

fn lifetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Lifetime>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => Some(
            n.as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                // A number beyond 64 bits, or with a fraction: only its size matters (a float's `as` saturates).
                .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i128))
                .map_or(Lifetime::Unreadable, Lifetime::Seconds),
        ),
        Some(serde_json::Value::String(s)) => Some(
            s.trim()
                .parse::<i128>()
                .map_or(Lifetime::Unreadable, Lifetime::Seconds),
        ),
        Some(_) => Some(Lifetime::Unreadable),
    })
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

    /// The token set this answer grants, issued `now`. Without `expires_in` (or with zero or less) the lifetime is
    /// `fallback_lifetime` (Meta documents 1 hour for short-lived and 60 days for long-lived tokens), or unknown when
    /// that is `None`. An `expires_in` that is not a number, or above ten years, makes the answer an error.
    pub(crate) fn into_tokens(
        self,
        now: DateTime<Utc>,
        fallback_lifetime: Option<chrono::Duration>,
    ) -> Result<TokenSet, PlatformError> {
        let broken = |why: String| PlatformError::Transient(format!("Meta's token answer: {why}"));
        let expires_at = match self.expires_in {
            Some(Lifetime::Seconds(s)) if s > 0 => Some(
                crate::domain::bounds::token_expiry(now, s).map_err(|e| broken(e.to_string()))?,
            ),
            Some(Lifetime::Unreadable) => {
                return Err(broken("expires_in is not a number of seconds".to_owned()))
            }
            _ => fallback_lifetime.and_then(|l| now.checked_add_signed(l)),
        };
        Ok(TokenSet {
            access_token: self.access_token,
            refresh_token: None,
            expires_at,
            refresh_expires_at: None,
            scope: self.permissions.map(|p| match p {
                Permissions::Text(s) => s.replace(',', " "),
                Permissions::List(l) => l.join(" "),
            }),
            issued_at: now,
            dpop_key: None,
        })
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
) -> Result<TokenSet, PlatformError> {
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
    let mut fresh = answer.into_tokens(now, long_lived())?;
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
        let t = a.into_tokens(now, short_lived()).unwrap();
        assert_eq!(t.access_token.expose_secret(), "T1");
        assert_eq!(t.expires_at, Some(now + chrono::Duration::hours(1)));

        let ig: CodeAnswer = serde_json::from_str(
            r#"{"data":[{"access_token":"I1","user_id":"178","permissions":"instagram_business_basic,instagram_business_content_publish"}]}"#,
        )
        .unwrap();
        let a = ig.into_answer().unwrap();
        assert_eq!(a.user_id(), Some("178"));
        let t = a.into_tokens(now, None).unwrap();
        assert_eq!(
            t.scope.as_deref(),
            Some("instagram_business_basic instagram_business_content_publish")
        );

        let long: TokenAnswer = serde_json::from_str(
            r#"{"access_token":"L","token_type":"bearer","expires_in":5183944}"#,
        )
        .unwrap();
        let t = long.into_tokens(now, long_lived()).unwrap();
        assert_eq!(
            t.expires_at,
            Some(now + chrono::Duration::seconds(5_183_944))
        );
    }

    #[test]
    fn absurd_lifetimes_are_errors_not_panics() {
        let now = Utc::now();
        for expires_in in [
            "9223372036854775807",
            "10000000000000",
            "18446744073709551616",
            "1e300",
            r#""NaN""#,
            r#""soon""#,
            "[1]",
        ] {
            let a: TokenAnswer = serde_json::from_str(&format!(
                r#"{{"access_token":"EAAsecret","expires_in":{expires_in}}}"#
            ))
            .unwrap();
            match a.into_tokens(now, long_lived()) {
                Err(PlatformError::Transient(m)) => {
                    assert!(m.starts_with("Meta's token answer"), "{m}");
                    assert!(!m.contains("EAAsecret"), "{m}");
                }
                Err(other) => panic!("{expires_in}: {other:?}"),
                Ok(_) => panic!("{expires_in} was taken as a lifetime"),
            }
        }
        // Zero, negative or absent: Meta's documented lifetime.
        for expires_in in ["0", "-5", "-9223372036854775808", "null"] {
            let a: TokenAnswer = serde_json::from_str(&format!(
                r#"{{"access_token":"T","expires_in":{expires_in}}}"#
            ))
            .unwrap();
            let t = a.into_tokens(now, short_lived()).unwrap();
            assert_eq!(
                t.expires_at,
                Some(now + chrono::Duration::hours(1)),
                "{expires_in}"
            );
        }
        let a: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"T","expires_in":"3600"}"#).unwrap();
        assert_eq!(
            a.into_tokens(now, None).unwrap().expires_at,
            Some(now + chrono::Duration::hours(1))
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|f| format!("{f:e}")),
                "[0-9]{1,60}",
                "-[0-9]{1,60}",
                ".{0,20}".prop_map(|s| serde_json::Value::String(s).to_string()),
                Just("NaN".to_owned()),
                Just("null".to_owned()),
                Just("true".to_owned()),
                Just("{}".to_owned()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn token_answers_of_any_shape_never_panic(expires_in in value(), user_id in value(), permissions in value(), wrapped in any::<bool>()) {
                let now = Utc::now();
                let one = format!(
                    r#"{{"access_token":"T","expires_in":{expires_in},"user_id":{user_id},"permissions":{permissions}}}"#
                );
                let body = if wrapped { format!(r#"{{"data":[{one}]}}"#) } else { one };
                let Ok(answer) = serde_json::from_str::<CodeAnswer>(&body) else {
                    return Ok(());
                };
                let Some(answer) = answer.into_answer() else {
                    return Ok(());
                };
                match answer.into_tokens(now, long_lived()) {
                    Ok(t) => {
                        let expires = t.expires_at.unwrap();
                        prop_assert!(expires >= now);
                        prop_assert!(expires <= now + chrono::Duration::seconds(crate::domain::bounds::MAX_TOKEN_LIFETIME_SECS));
                    }
                    Err(e) => prop_assert_eq!(e.code(), "transient"),
                }
            }
        }
    }
}
