//! The Graph API as the three Meta platforms share it: how calls carry the token, what their errors look like, and
//! which of the publisher's error classes each one belongs to (docs/platforms/facebook.md, "How Graph errors are classified").
//!
//! Meta puts `access_token` (and, in token exchanges, `client_secret`) in query strings. So nothing here logs a URL,
//! no error message is built from a `reqwest::Error` (whose Display carries the URL), and every message taken from
//! a Meta answer is scrubbed of the token that was sent with the request.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::platforms::http::{
    read_body, read_transport_error, retry_after, transport_error, BodyError,
};
use crate::ports::PlatformError;

/// What a call does, which decides what an ambiguous failure (5xx, a cut connection, "unknown error") means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Reads or token exchanges: nothing changes, retrying is always safe.
    Read,
    /// Creates something nobody sees (a media container, an unpublished photo): retrying leaves a spare behind at
    /// worst, so failures are transient.
    Prepare,
    /// Makes a post visible (`threads_publish`, `media_publish`, a Page's `/feed`): a failure after the request went
    /// out may hide a post that landed, so it is `Unknown` and recovery decides.
    Publish,
}

/// A failed Graph call, with the two facts the container flow acts on before the publisher sees a class.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// One of the publisher's classes.
    Platform(PlatformError),
    /// The container is unusable (expired, or Meta asks for a new one): create a fresh one. Nothing was published.
    RecreateContainer(String),
    /// The object named in the path does not exist (Graph code 100, subcode 33).
    Missing(String),
}

impl From<Failure> for PlatformError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Platform(e) => e,
            // Nothing was published; the next attempt reads the container's status and starts afresh.
            Failure::RecreateContainer(m) => PlatformError::Transient(m),
            Failure::Missing(m) => PlatformError::Rejected(m),
        }
    }
}

impl From<PlatformError> for Failure {
    fn from(e: PlatformError) -> Self {
        Failure::Platform(e)
    }
}

/// Meta's error object. Graph hosts wrap it as `{"error":{...}}`; api.instagram.com's token endpoint answers flat
/// `{"error_type","code","error_message"}`. Both land here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphError {
    pub message: String,
    pub kind: String,
    pub code: i64,
    pub subcode: Option<i64>,
    pub is_transient: bool,
}

#[derive(Deserialize)]
struct Envelope {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    message: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: i64,
    error_subcode: Option<i64>,
    #[serde(default)]
    is_transient: bool,
    error_user_msg: Option<String>,
}

#[derive(Deserialize)]
struct FlatError {
    #[serde(default)]
    error_type: String,
    #[serde(default)]
    code: i64,
    error_message: String,
}

impl GraphError {
    /// Reads a Meta error body, if that is what `body` is.
    pub fn parse(body: &[u8]) -> Option<GraphError> {
        if let Ok(Envelope { error }) = serde_json::from_slice::<Envelope>(body) {
            let message = match error.error_user_msg {
                Some(user) if !user.is_empty() => format!("{} ({user})", error.message),
                _ => error.message,
            };
            return Some(GraphError {
                message,
                kind: error.kind,
                code: error.code,
                subcode: error.error_subcode,
                is_transient: error.is_transient,
            });
        }
        let flat: FlatError = serde_json::from_slice(body).ok()?;
        Some(GraphError {
            message: flat.error_message,
            kind: flat.error_type,
            code: flat.code,
            subcode: None,
            is_transient: false,
        })
    }

    fn describe(&self) -> String {
        let mut s = if self.message.is_empty() {
            "no message".to_owned()
        } else {
            self.message.clone()
        };
        match self.subcode {
            Some(sub) => s.push_str(&format!(" (code {}, subcode {sub})", self.code)),
            None => s.push_str(&format!(" (code {})", self.code)),
        }
        s
    }
}

/// Classifies a non-success Graph answer. `body` is the raw body (it may be empty or not JSON at all).
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8], call: CallKind) -> Failure {
    let Some(error) = GraphError::parse(body) else {
        return classify_bare_status(status, headers, call);
    };
    let what = error.describe();
    let wait = rate_limit_wait(headers);
    let limited = |message: String| {
        Failure::Platform(PlatformError::RateLimited {
            retry_after: wait,
            message,
        })
    };
    match (error.code, error.subcode) {
        (190, Some(463)) => PlatformError::TokenExpired.into(),
        (190, _) | (102, _) => {
            PlatformError::Reauth(format!("Meta refused the token: {what}")).into()
        }
        (100, Some(33)) => Failure::Missing(what),
        (_, Some(2_207_001)) => ambiguous(call, format!("Meta server error: {what}")),
        (_, Some(2_207_003)) => {
            PlatformError::Transient(format!("Meta timed out downloading the media: {what}")).into()
        }
        (_, Some(2_207_020 | 2_207_032 | 2_207_053)) => {
            Failure::RecreateContainer(format!("the media container must be created again: {what}"))
        }
        (_, Some(2_207_042)) => limited(format!(
            "the account reached its daily publishing limit: {what}"
        )),
        (_, Some(2_207_050)) => {
            PlatformError::Rejected(format!("the account is restricted: {what}")).into()
        }
        (_, Some(2_207_051)) => {
            PlatformError::Rejected(format!("Meta blocked this action: {what}")).into()
        }
        // Code 4 is the application's own request limit: every account of the app waits.
        (4, _) => Failure::Platform(PlatformError::AppRateLimited {
            retry_after: wait,
            message: format!("the app is rate limited: {what}"),
        }),
        (17 | 32 | 613 | 80_000..=80_009 | 80_014, _) => limited(format!("rate limited: {what}")),
        (368, _) => PlatformError::Transient(format!("temporarily blocked: {what}")).into(),
        (1 | 2, _) => ambiguous(call, format!("Meta had a temporary problem: {what}")),
        _ if error.is_transient => ambiguous(call, format!("Meta had a temporary problem: {what}")),
        (506, _) => PlatformError::Rejected(format!("a duplicate post: {what}")).into(),
        (10 | 200..=299, _) => {
            PlatformError::Rejected(format!("missing permission: {what}")).into()
        }
        _ if status.is_server_error() => ambiguous(call, format!("Meta failed: {what}")),
        _ => PlatformError::Rejected(what).into(),
    }
}

/// An answer with no Meta error body (a proxy's page, an empty 5xx).
fn classify_bare_status(status: StatusCode, headers: &HeaderMap, call: CallKind) -> Failure {
    let what = format!("HTTP {}", status.as_u16());
    if status == StatusCode::TOO_MANY_REQUESTS {
        return PlatformError::RateLimited {
            retry_after: rate_limit_wait(headers),
            message: format!("rate limited ({what})"),
        }
        .into();
    }
    if status.is_server_error() {
        return ambiguous(call, format!("Meta failed with {what}"));
    }
    if status == StatusCode::UNAUTHORIZED {
        return PlatformError::Reauth(format!("Meta refused the token ({what})")).into();
    }
    PlatformError::Rejected(format!("Meta refused the request ({what})")).into()
}

/// A failure that means "try again" for calls that create nothing visible, and "maybe it landed" for a publish.
fn ambiguous(call: CallKind, message: String) -> Failure {
    match call {
        CallKind::Read | CallKind::Prepare => PlatformError::Transient(message).into(),
        CallKind::Publish => PlatformError::Unknown(message).into(),
    }
}

/// How long Meta asks us to wait: the largest `estimated_time_to_regain_access` (minutes) in
/// `X-Business-Use-Case-Usage`, else `Retry-After` (seconds); at most a day ([`crate::domain::bounds::MAX_WAIT_HINT`]). A
/// header that does not read as Meta documents it gives no hint.
pub fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Usage {
        #[serde(default, deserialize_with = "minutes")]
        estimated_time_to_regain_access: u64,
    }
    /// Whole minutes, however large (a number beyond 64 bits is as many as there can be); anything else is none.
    fn minutes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        Ok(match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite() && *f > 0.0)
                        .map(|f| f as u64)
                })
                .unwrap_or(0),
            _ => 0,
        })
    }
    let from_buc = headers
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str::<std::collections::HashMap<String, Vec<Usage>>>(v).ok())
        .and_then(|by_business| {
            by_business
                .values()
                .flatten()
                .map(|u| u.estimated_time_to_regain_access)
                .max()
        })
        .filter(|minutes| *minutes > 0)
        .map(|minutes| crate::domain::bounds::wait_hint_secs(minutes.saturating_mul(60)));
    from_buc.or_else(|| retry_after(headers))
}

/// Removes `secrets` (and anything shaped like `access_token=...`) from a message taken from a Meta answer, and
/// bounds its length, so a platform that echoes a request cannot leak a token into our errors.
pub fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    for key in [
        "access_token=",
        "client_secret=",
        "fb_exchange_token=",
        "code=",
    ] {
        let mut searched = 0;
        while let Some(found) = out[searched..].find(key) {
            let start = searched + found + key.len();
            let end = out[start..]
                .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace())
                .map_or(out.len(), |n| start + n);
            out.replace_range(start..end, "[redacted]");
            searched = start + "[redacted]".len();
        }
    }
    if out.chars().count() > 300 {
        out = out.chars().take(300).collect::<String>() + "…";
    }
    out
}

fn scrub_failure(failure: Failure, secrets: &[&str]) -> Failure {
    let s = |m: String| scrub(&m, secrets);
    match failure {
        Failure::Platform(e) => Failure::Platform(match e {
            PlatformError::Reauth(m) => PlatformError::Reauth(s(m)),
            PlatformError::RateLimited {
                retry_after,
                message,
            } => PlatformError::RateLimited {
                retry_after,
                message: s(message),
            },
            PlatformError::AppRateLimited {
                retry_after,
                message,
            } => PlatformError::AppRateLimited {
                retry_after,
                message: s(message),
            },
            PlatformError::Transient(m) => PlatformError::Transient(s(m)),
            PlatformError::Rejected(m) => PlatformError::Rejected(s(m)),
            PlatformError::Unknown(m) => PlatformError::Unknown(s(m)),
            other => other,
        }),
        Failure::RecreateContainer(m) => Failure::RecreateContainer(s(m)),
        Failure::Missing(m) => Failure::Missing(s(m)),
    }
}

/// Reads Meta's timestamps (`2024-07-01T12:34:56+0000`, or RFC 3339).
pub(crate) fn parse_time(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(raw))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Graph calls as the adapters make them: the token as the documented `access_token` parameter, answers parsed as
/// JSON, failures classified and scrubbed.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    http: reqwest::Client,
}

impl Graph {
    pub(crate) fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// `GET url?params&access_token=...`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        mut url: url::Url,
        token: &SecretString,
        params: &[(&str, &str)],
        what: &str,
    ) -> Result<T, Failure> {
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
            q.append_pair("access_token", token.expose_secret());
        }
        let sent = self.http.get(url).send().await;
        self.answer(sent, CallKind::Read, &[token.expose_secret()], what)
            .await
    }

    /// `POST url` with the parameters and the token in a form body (Graph reads either place; the body keeps the
    /// token out of URLs that proxies might log).
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        url: url::Url,
        token: &SecretString,
        params: &[(&str, String)],
        call: CallKind,
        what: &str,
    ) -> Result<T, Failure> {
        let mut form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("access_token", token.expose_secret()));
        let sent = self.http.post(url).form(&form).send().await;
        self.answer(sent, call, &[token.expose_secret()], what)
            .await
    }

    /// A token endpoint, called as documented (a GET with query parameters or a form POST): `secrets` are the
    /// codes, tokens and app secret the request carried, to scrub from any message.
    pub(crate) async fn exchange<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
        what: &str,
    ) -> Result<T, Failure> {
        let sent = request.send().await;
        self.answer(sent, CallKind::Read, secrets, what).await
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
        call: CallKind,
        secrets: &[&str],
        what: &str,
    ) -> Result<T, Failure> {
        let resp = sent.map_err(|e| {
            Failure::Platform(match call {
                CallKind::Publish => transport_error(&e, what),
                CallKind::Read | CallKind::Prepare => read_transport_error(&e, what),
            })
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = match read_body(resp).await {
            Ok(body) => body,
            // An error answer too large to read is classified by its status alone.
            Err(BodyError::TooLarge { .. }) if !status.is_success() => Vec::new(),
            Err(e) => return Err(ambiguous(call, format!("{what}: {e}"))),
        };
        if !status.is_success() {
            return Err(scrub_failure(
                classify(status, &headers, &body, call),
                secrets,
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|_| ambiguous(call, format!("{what}: Meta answered something unreadable")))
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn graph(code: i64, subcode: Option<i64>, transient: bool) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"error": {
            "message": "m", "type": "OAuthException", "code": code,
            "error_subcode": subcode, "is_transient": transient, "fbtrace_id": "A1"
        }}))
        .unwrap()
    }

    fn class(code: i64, subcode: Option<i64>, call: CallKind) -> Failure {
        classify(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            &graph(code, subcode, false),
            call,
        )
    }

    fn platform(f: Failure) -> PlatformError {
        match f {
            Failure::Platform(e) => e,
            other => panic!("expected a platform error, got {other:?}"),
        }
    }

    #[test]
    fn token_errors() {
        assert_eq!(
            platform(class(190, Some(463), CallKind::Read)),
            PlatformError::TokenExpired
        );
        for sub in [None, Some(458), Some(459), Some(460), Some(464), Some(467)] {
            assert_eq!(
                platform(class(190, sub, CallKind::Read)).code(),
                "needs_reauth"
            );
        }
        assert_eq!(
            platform(class(102, None, CallKind::Read)).code(),
            "needs_reauth"
        );
    }

    #[test]
    fn permission_and_duplicate_errors_are_rejections() {
        for code in [10, 200, 250, 299, 506] {
            assert_eq!(
                platform(class(code, None, CallKind::Publish)).code(),
                "rejected"
            );
        }
        for sub in [2_207_050, 2_207_051] {
            assert_eq!(
                platform(class(9004, Some(sub), CallKind::Publish)).code(),
                "rejected"
            );
        }
    }

    #[test]
    fn rate_limits_carry_metas_wait() {
        for code in [17, 32, 613, 80_000, 80_004, 80_009, 80_014] {
            assert_eq!(
                platform(class(code, None, CallKind::Read)).code(),
                "rate_limited"
            );
        }
        assert_eq!(
            platform(class(4, None, CallKind::Read)).code(),
            "app_rate_limited",
            "code 4 is the app's own limit"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"123":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":7},{"estimated_time_to_regain_access":2}]}"#,
            ),
        );
        headers.insert("retry-after", HeaderValue::from_static("30"));
        let e = classify(
            StatusCode::BAD_REQUEST,
            &headers,
            &graph(80_001, None, false),
            CallKind::Read,
        );
        assert!(matches!(
            platform(e),
            PlatformError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(420)
        ));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("30"));
        let e = classify(
            StatusCode::BAD_REQUEST,
            &headers,
            &graph(4, None, false),
            CallKind::Read,
        );
        assert!(matches!(
            platform(e),
            PlatformError::AppRateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(30)
        ));
        assert_eq!(
            platform(class(9, Some(2_207_042), CallKind::Publish)).code(),
            "rate_limited"
        );
    }

    #[test]
    fn transient_errors_are_unknown_when_publishing() {
        for (code, sub) in [(1, None), (2, None), (-1, Some(2_207_001))] {
            assert_eq!(
                platform(class(code, sub, CallKind::Prepare)).code(),
                "transient"
            );
            assert_eq!(
                platform(class(code, sub, CallKind::Publish)).code(),
                "unknown_outcome"
            );
        }
        let flagged = classify(
            StatusCode::INTERNAL_SERVER_ERROR,
            &HeaderMap::new(),
            &graph(9999, None, true),
            CallKind::Read,
        );
        assert_eq!(platform(flagged).code(), "transient");
        // Blocked for a while: refused, so never accepted.
        assert_eq!(
            platform(class(368, None, CallKind::Publish)).code(),
            "transient"
        );
    }

    #[test]
    fn bare_server_errors_depend_on_the_call() {
        let e = |call| classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>", call);
        assert_eq!(platform(e(CallKind::Prepare)).code(), "transient");
        assert_eq!(platform(e(CallKind::Publish)).code(), "unknown_outcome");
        let limited = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            b"",
            CallKind::Read,
        );
        assert_eq!(platform(limited).code(), "rate_limited");
    }

    #[test]
    fn containers_to_recreate_and_missing_objects() {
        for sub in [2_207_020, 2_207_032, 2_207_053] {
            assert!(matches!(
                class(-2, Some(sub), CallKind::Publish),
                Failure::RecreateContainer(_)
            ));
        }
        assert!(matches!(
            class(100, Some(33), CallKind::Read),
            Failure::Missing(_)
        ));
    }

    #[test]
    fn instagrams_flat_token_errors_parse() {
        let body = br#"{"error_type":"OAuthException","code":400,"error_message":"Invalid authorization code"}"#;
        let e = GraphError::parse(body).unwrap();
        assert_eq!(e.code, 400);
        assert_eq!(e.message, "Invalid authorization code");
    }

    #[test]
    fn parses_meta_timestamps() {
        let t = parse_time("2024-07-01T12:34:56+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-07-01T12:34:56+00:00");
        assert!(parse_time("2024-07-01T12:34:56Z").is_some());
    }

    #[test]
    fn metas_wait_is_at_most_a_day_however_large() {
        let day = Duration::from_secs(24 * 3600);
        for minutes in [
            "1441",
            "18446744073709551615",
            "1e300",
            "99999999999999999999999",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                "x-business-use-case-usage",
                HeaderValue::from_str(&format!(
                    r#"{{"1":[{{"estimated_time_to_regain_access":{minutes}}}]}}"#
                ))
                .unwrap(),
            );
            assert_eq!(rate_limit_wait(&headers), Some(day), "{minutes}");
        }
        for odd in [r#""NaN""#, "-5", "null", r#"{"a":1}"#, "0.5"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                "x-business-use-case-usage",
                HeaderValue::from_str(&format!(
                    r#"{{"1":[{{"estimated_time_to_regain_access":{odd}}}]}}"#
                ))
                .unwrap(),
            );
            headers.insert(
                "retry-after",
                HeaderValue::from_static("99999999999999999999999"),
            );
            assert_eq!(
                rate_limit_wait(&headers),
                Some(day),
                "{odd} falls back to Retry-After"
            );
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        const DAY: Duration = Duration::from_secs(24 * 3600);

        /// Numbers and number-like strings of every kind: huge, negative, fractional, NaN-ish, overflowing.
        fn number() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|f| format!("{f:e}")),
                "[0-9]{1,60}",
                Just("NaN".to_owned()),
                Just("-Infinity".to_owned()),
                Just("\"1e400\"".to_owned()),
                Just("null".to_owned()),
                Just("1e400".to_owned()),
                Just("-0".to_owned()),
            ]
        }

        fn status() -> impl Strategy<Value = StatusCode> {
            (100u16..1000).prop_map(|c| StatusCode::from_u16(c).unwrap())
        }

        fn call() -> impl Strategy<Value = CallKind> {
            prop_oneof![
                Just(CallKind::Read),
                Just(CallKind::Prepare),
                Just(CallKind::Publish)
            ]
        }

        fn headers(minutes: &str, retry: &str) -> HeaderMap {
            let mut h = HeaderMap::new();
            let usage = format!(r#"{{"1":[{{"estimated_time_to_regain_access":{minutes}}}]}}"#);
            if let Ok(v) = HeaderValue::from_str(&usage) {
                h.insert("x-business-use-case-usage", v);
            }
            if let Ok(v) = HeaderValue::from_str(retry) {
                h.insert("retry-after", v);
            }
            h
        }

        fn wait_of(f: &Failure) -> Option<Duration> {
            match f {
                Failure::Platform(
                    PlatformError::RateLimited { retry_after, .. }
                    | PlatformError::AppRateLimited { retry_after, .. },
                ) => *retry_after,
                _ => None,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn error_bodies_of_any_shape_classify_without_panicking(
                code in number(), subcode in number(), message in ".{0,400}", transient in any::<bool>(),
                status in status(), call in call(), minutes in number(), retry in number(),
            ) {
                let body = format!(
                    r#"{{"error":{{"message":{},"type":"OAuthException","code":{code},"error_subcode":{subcode},"is_transient":{transient}}}}}"#,
                    serde_json::Value::String(message.clone()),
                );
                let flat = format!(
                    r#"{{"error_type":"x","code":{code},"error_message":{}}}"#,
                    serde_json::Value::String(message),
                );
                for body in [body.as_bytes(), flat.as_bytes()] {
                    let _ = GraphError::parse(body);
                    let f = classify(status, &headers(&minutes, &retry), body, call);
                    prop_assert!(wait_of(&f).is_none_or(|w| w <= DAY), "{f:?}");
                }
            }

            #[test]
            fn raw_bytes_classify_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..512), status in status(), call in call()) {
                let f = classify(status, &HeaderMap::new(), &body, call);
                prop_assert!(wait_of(&f).is_none_or(|w| w <= DAY));
            }

            #[test]
            fn rate_limit_headers_give_at_most_a_day(minutes in number(), retry in number()) {
                let wait = rate_limit_wait(&headers(&minutes, &retry));
                prop_assert!(wait.is_none_or(|w| w <= DAY), "{wait:?}");
            }

            #[test]
            fn timestamps_of_any_shape_parse_or_not(raw in ".{0,64}", secs in any::<i64>()) {
                let _ = parse_time(&raw);
                let _ = parse_time(&format!("{secs}-01-01T00:00:00+0000"));
            }
        }
    }

    #[test]
    fn scrub_removes_tokens() {
        let m = scrub(
            "bad token EAAB123secret in https://x/?access_token=EAAB123secret&b=1 and client_secret=abc",
            &["EAAB123secret"],
        );
        assert!(!m.contains("EAAB123secret"), "{m}");
        assert!(!m.contains("abc"), "{m}");
        assert!(m.contains("access_token=[redacted]&b=1"), "{m}");
        assert!(scrub(&"x".repeat(1000), &[]).chars().count() <= 301);
    }
}
