//! Security headers on every answer.
//!
//! The pages (the OAuth callback and choice pages, the deletion status page, the privacy and data-deletion pages, the
//! sandbox's error pages) are plain HTML with no script and one inline stylesheet, so the policy is as strict as a
//! policy gets: nothing loads by default (`default-src 'none'`), the one stylesheet is allowed by its hash, forms go
//! only to Postora (and, after the choice form, to the configured return URL, which a redirect may reach), and no
//! page may be framed (`frame-ancestors 'none'` and `X-Frame-Options: DENY` for browsers that predate it).
//! `Referrer-Policy: no-referrer` keeps the OAuth callback's query (a code and a state) out of any later request, and
//! `X-Content-Type-Options: nosniff` makes browsers take every answer, JSON included, for what it says it is.
//!
//! The same headers go on JSON answers: they cost nothing there and cover any answer a browser might be led to.

use axum::http::header::{self, HeaderName, HeaderValue};
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::html::PAGE_STYLE;

/// The headers every answer carries, built once per router.
#[derive(Clone, Debug)]
pub struct SecurityHeaders {
    csp: HeaderValue,
}

impl SecurityHeaders {
    /// The policy for a Postora whose people may be sent on to `return_url` after connecting an account.
    pub fn new(return_url: Option<&url::Url>) -> Self {
        let mut form_action = "'self'".to_owned();
        if let Some(origin) = return_url.map(|u| u.origin()).filter(url::Origin::is_tuple) {
            form_action.push(' ');
            form_action.push_str(&origin.ascii_serialization());
        }
        let csp = format!(
            "default-src 'none'; style-src '{}'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
            style_hash()
        );
        SecurityHeaders {
            // An origin serializes to ASCII without control characters, so this cannot fail; a policy without the
            // return URL is the fallback all the same.
            csp: HeaderValue::from_str(&csp).unwrap_or_else(|_| {
                HeaderValue::from_static(
                    "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                )
            }),
        }
    }

    /// Adds the headers a handler did not set itself.
    pub fn apply(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        let mut set = |name: HeaderName, value: HeaderValue| {
            headers.entry(name).or_insert(value);
        };
        set(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        set(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        set(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        response
    }
}

/// The CSP source that allows [`PAGE_STYLE`] and nothing else: `sha256-<base64 of its SHA-256>`.
pub fn style_hash() -> String {
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PAGE_STYLE.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csp(headers: &SecurityHeaders) -> String {
        headers.csp.to_str().unwrap().to_owned()
    }

    #[test]
    fn the_policy_allows_only_the_page_style() {
        let policy = csp(&SecurityHeaders::new(None));
        assert!(policy.starts_with("default-src 'none'; "), "{policy}");
        assert!(policy.contains(&format!("style-src '{}'", style_hash())));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("form-action 'self';"));
        assert!(!policy.contains("unsafe"), "{policy}");
        assert!(
            !policy.contains("script-src"),
            "scripts fall back to 'none'"
        );
    }

    #[test]
    fn the_style_hash_is_the_sha256_of_the_style_element() {
        // Computed apart: printf '%s' "$PAGE_STYLE" | openssl dgst -sha256 -binary | base64
        assert_eq!(
            style_hash(),
            "sha256-jA47ey4jHr+15RRzKALagrFkvsAnAYr0ldbK8bkuyBs="
        );
    }

    #[test]
    fn a_return_url_adds_its_origin_to_form_action_only() {
        let url = url::Url::parse("https://app.example.com:8443/after?x=1").unwrap();
        let policy = csp(&SecurityHeaders::new(Some(&url)));
        assert!(
            policy.contains("form-action 'self' https://app.example.com:8443;"),
            "{policy}"
        );
        assert!(!policy.contains("/after"));
    }

    #[test]
    fn headers_a_handler_set_are_kept() {
        let mut response = Response::new(axum::body::Body::empty());
        response
            .headers_mut()
            .insert(header::REFERRER_POLICY, HeaderValue::from_static("origin"));
        let response = SecurityHeaders::new(None).apply(response);
        assert_eq!(response.headers()[header::REFERRER_POLICY], "origin");
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
    }
}
