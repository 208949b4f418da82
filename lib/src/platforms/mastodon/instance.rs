//! The instance a person names: its address made into an origin (or refused), the guarded client every call to an
//! instance goes through, and what the instance says about itself (`GET /api/v2/instance`): that it is a Mastodon
//! server at all, and its limits.
//!
//! An instance address is untrusted input. It becomes an `https` origin with no path, query, fragment or user
//! info; an IP literal is checked against the [`AddressPolicy`] at once, and a name is checked when it is resolved,
//! on every connection, by the [`GuardedResolver`] the client connects through (so a name that resolves to a
//! private address is refused, and a rebinding DNS answer cannot slip one in later). The client follows no redirect
//! and uses no proxy.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::domain::platform::MASTODON_URL_CHARS;
use crate::net::{AddressPolicy, FetchError, GuardedResolver};
use crate::ports::PlatformError;

/// The longest instance address accepted.
const MAX_ADDRESS_LEN: usize = 253 + 8 + 6;

/// An instance's origin, normalised: `https://host[:port]` (or `http://` where loopback is allowed, for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    origin: Url,
}

impl Instance {
    /// Makes an address a person typed (`mastodon.social`, `https://mastodon.social/`, `Mastodon.Social:443`) an
    /// origin, or says what is wrong with it. Only `https` unless `policy` allows loopback (tests).
    pub fn parse(raw: &str, policy: AddressPolicy) -> Result<Instance, PlatformError> {
        let refuse = |why: &str| PlatformError::Rejected(why.to_owned());
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(refuse("is empty"));
        }
        if raw.len() > MAX_ADDRESS_LEN || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse("is not a host name or an https address"));
        }
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let url = Url::parse(&with_scheme)
            .map_err(|_| refuse("is not a host name or an https address"))?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_loopback => {}
            _ => return Err(refuse("must be an https address")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry a user name or password"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(refuse("must be the instance itself, with no path or query"));
        }
        let host = url.host().ok_or_else(|| refuse("has no host"))?;
        let ip = match host {
            Host::Domain(name) => {
                if !(name.contains('.') || policy.allow_loopback && name == "localhost") {
                    return Err(refuse("is not a public host name"));
                }
                None
            }
            Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        };
        if let Some(ip) = ip {
            policy.check(ip).map_err(|reason| {
                PlatformError::Rejected(format!(
                    "is {}, which Postora does not connect to",
                    reason.describe()
                ))
            })?;
        }
        let mut origin = url;
        origin.set_path("/");
        Ok(Instance { origin })
    }

    /// The origin as text without the trailing slash (`https://mastodon.social`): the key registrations and
    /// accounts keep.
    pub fn as_str(&self) -> &str {
        self.origin.as_str().trim_end_matches('/')
    }

    /// The host (and port, where not the default), for ids and messages.
    pub fn host(&self) -> String {
        let host = self.origin.host_str().unwrap_or_default();
        match self.origin.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// A documented path on the instance.
    pub fn endpoint(&self, path: &str) -> Url {
        let mut u = self.origin.clone();
        u.set_path(path);
        u
    }
}

/// The client calls to instances go through: names resolved and checked by the guard on every connection, no
/// proxy, no redirects. If it cannot be built, `None`: the adapter then refuses every instance rather than calling
/// one unguarded.
pub fn guarded_client(
    policy: AddressPolicy,
    connect: Duration,
    request: Duration,
) -> Option<reqwest::Client> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::new(policy)))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .connect_timeout(connect)
        .timeout(request)
        .user_agent(concat!("postora/", env!("CARGO_PKG_VERSION")))
        .build()
        .ok()
}

/// Why a call reached no answer, naming a refusal by the guard as what it is. `may_have_landed` is whether the
/// request could have changed something (then a lost answer is an unknown outcome).
pub fn transport_error(
    e: &reqwest::Error,
    instance: &Instance,
    may_have_landed: bool,
) -> PlatformError {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<FetchError>() {
            return PlatformError::Rejected(match refused {
                FetchError::NotFound { host } => format!("{host} could not be found"),
                other => other.to_string(),
            });
        }
        source = cause.source();
    }
    let what = format!("calling {}", instance.host());
    if may_have_landed {
        crate::platforms::http::transport_error(e, &what)
    } else {
        crate::platforms::http::read_transport_error(e, &what)
    }
}

/// What an instance allows, read from `GET /api/v2/instance` when an account connects and kept in its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceLimits {
    pub max_characters: usize,
    pub characters_reserved_per_url: usize,
    pub max_media_attachments: usize,
    /// Bytes, where the instance says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_size_limit: Option<u64>,
}

impl Default for InstanceLimits {
    /// Mastodon's own defaults.
    fn default() -> Self {
        Self {
            max_characters: 500,
            characters_reserved_per_url: MASTODON_URL_CHARS,
            max_media_attachments: 4,
            image_size_limit: None,
            video_size_limit: None,
        }
    }
}

/// The most characters an instance is believed to allow: far above any real instance, so a huge number from an
/// instance cannot make Postora accept what nobody could read.
const MAX_CHARACTERS: u64 = 100_000;
/// The most a URL is believed to count.
const MAX_URL_CHARS: u64 = 1000;
/// The most attachments a status is believed to take.
const MAX_ATTACHMENTS: u64 = 20;
/// The largest media size limit believed (1 TiB).
const MAX_MEDIA_BYTES: u64 = 1 << 40;

#[derive(Deserialize)]
struct V2Instance {
    /// Present on every Mastodon 4 instance (and the software that copies its API); `uri` in `/api/v1/instance`.
    #[serde(alias = "uri")]
    domain: Option<String>,
    #[serde(default)]
    configuration: Option<Configuration>,
}

#[derive(Deserialize, Default)]
struct Configuration {
    #[serde(default)]
    statuses: Option<Statuses>,
    #[serde(default)]
    media_attachments: Option<MediaAttachments>,
}

#[derive(Deserialize, Default)]
struct Statuses {
    max_characters: Option<serde_json::Value>,
    characters_reserved_per_url: Option<serde_json::Value>,
    max_media_attachments: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct MediaAttachments {
    image_size_limit: Option<serde_json::Value>,
    video_size_limit: Option<serde_json::Value>,
}

/// A positive whole number from an instance's answer, held to `1..=max`; anything else (absent, negative, a string,
/// a fraction) is `None`.
fn count(v: Option<&serde_json::Value>, max: u64) -> Option<u64> {
    v?.as_u64().filter(|n| *n > 0).map(|n| n.min(max))
}

/// Reads an instance's `/api/v2/instance` answer: its limits, or `None` when it is not a Mastodon instance's answer.
pub fn limits_from(body: &[u8]) -> Option<InstanceLimits> {
    let answer: V2Instance = serde_json::from_slice(body).ok()?;
    answer.domain.filter(|d| !d.is_empty())?;
    let config = answer.configuration.unwrap_or_default();
    let statuses = config.statuses.unwrap_or_default();
    let media = config.media_attachments.unwrap_or_default();
    let d = InstanceLimits::default();
    let usize_of = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Some(InstanceLimits {
        max_characters: count(statuses.max_characters.as_ref(), MAX_CHARACTERS)
            .map_or(d.max_characters, usize_of),
        characters_reserved_per_url: count(
            statuses.characters_reserved_per_url.as_ref(),
            MAX_URL_CHARS,
        )
        .map_or(d.characters_reserved_per_url, usize_of),
        max_media_attachments: count(statuses.max_media_attachments.as_ref(), MAX_ATTACHMENTS)
            .map_or(d.max_media_attachments, usize_of),
        image_size_limit: count(media.image_size_limit.as_ref(), MAX_MEDIA_BYTES),
        video_size_limit: count(media.video_size_limit.as_ref(), MAX_MEDIA_BYTES),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public() -> AddressPolicy {
        AddressPolicy::default()
    }

    #[test]
    fn addresses_become_https_origins() {
        for (raw, want) in [
            ("mastodon.social", "https://mastodon.social"),
            ("  Mastodon.Social ", "https://mastodon.social"),
            ("https://mastodon.social/", "https://mastodon.social"),
            ("https://mastodon.social", "https://mastodon.social"),
            ("fosstodon.org:8443", "https://fosstodon.org:8443"),
            ("https://fosstodon.org:443", "https://fosstodon.org"),
        ] {
            assert_eq!(
                Instance::parse(raw, public()).unwrap().as_str(),
                want,
                "{raw}"
            );
        }
    }

    #[test]
    fn anything_but_an_instance_is_refused_with_a_reason() {
        for raw in [
            "",
            "http://mastodon.social",
            "ftp://mastodon.social",
            "https://user:pw@mastodon.social",
            "https://mastodon.social/@alice",
            "https://mastodon.social/?x=1",
            "https://mastodon.social/#top",
            "localhost",
            "intranet",
            "127.0.0.1",
            "https://[::1]/",
            "10.1.2.3",
            "169.254.169.254",
            "https://[fd00:ec2::254]",
            "2130706433",
            "mastodon social",
        ] {
            let e = Instance::parse(raw, public()).unwrap_err();
            assert_eq!(e.code(), "rejected", "{raw}");
        }
        // Loopback and http, only where allowed (tests).
        let allowed = AddressPolicy::allowing_loopback();
        assert_eq!(
            Instance::parse("http://127.0.0.1:3000", allowed)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:3000"
        );
        assert!(Instance::parse("10.0.0.1", allowed).is_err());
    }

    #[test]
    fn limits_come_from_the_instance_and_default_to_mastodons() {
        let full = br#"{"domain":"big.example","configuration":{"statuses":{"max_characters":1000,
            "characters_reserved_per_url":30,"max_media_attachments":8},
            "media_attachments":{"image_size_limit":16777216,"video_size_limit":103809024}}}"#;
        assert_eq!(
            limits_from(full),
            Some(InstanceLimits {
                max_characters: 1000,
                characters_reserved_per_url: 30,
                max_media_attachments: 8,
                image_size_limit: Some(16_777_216),
                video_size_limit: Some(103_809_024),
            })
        );
        assert_eq!(
            limits_from(br#"{"domain":"small.example"}"#),
            Some(InstanceLimits::default())
        );
        let odd = br#"{"domain":"odd.example","configuration":{"statuses":{"max_characters":-4,
            "characters_reserved_per_url":"23","max_media_attachments":1e99}}}"#;
        assert_eq!(limits_from(odd), Some(InstanceLimits::default()));
        let huge = br#"{"domain":"h.example","configuration":{"statuses":{"max_characters":18446744073709551615}}}"#;
        assert_eq!(limits_from(huge).unwrap().max_characters, 100_000);
        for not_mastodon in [&b"<html>"[..], b"{}", br#"{"title":"x"}"#, b"[]"] {
            assert_eq!(limits_from(not_mastodon), None);
        }
    }
}
