//! Who a handle is and where their data lives: the handle resolved to a DID (the configured resolver's
//! `com.atproto.identity.resolveHandle`, then the handle's own `https://<handle>/.well-known/atproto-did`), the
//! DID document fetched (`did:plc` from the PLC directory, `did:web` from its domain), its `#atproto_pds` service
//! read as the PDS, and the document checked to claim the handle back. Nothing assumes bsky.social.

use serde::Deserialize;
use serde_json::Value;

use super::record::is_handle;
use super::xrpc::{method_url, Auth, Body, Effect, Failure, Xrpc};
use crate::ports::PlatformError;

/// A resolved identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub did: String,
    /// The handle the DID document claims and that resolves back to the DID; `None` when it does not.
    pub handle: Option<String>,
    pub pds: url::Url,
}

/// Where identities are looked up.
#[derive(Debug, Clone)]
pub struct Directory {
    /// The PLC directory (`POSTORA_BLUESKY_PLC_URL`, `https://plc.directory`).
    pub plc: url::Url,
    /// A service answering `com.atproto.identity.resolveHandle` (`POSTORA_BLUESKY_HANDLE_RESOLVER_URL`,
    /// `https://public.api.bsky.app`).
    pub handle_resolver: url::Url,
}

#[derive(Deserialize)]
struct Resolved {
    did: String,
}

/// Whether `s` looks like a DID of a method atproto uses.
pub fn is_did(s: &str) -> bool {
    (s.starts_with("did:plc:") || s.starts_with("did:web:"))
        && s.len() <= 2048
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":._-%".contains(&b))
}

/// A handle or DID as a person typed it: without `@`, `at://` or spaces, lower-case for handles.
pub fn normalize(input: &str) -> Result<String, PlatformError> {
    let s = input.trim();
    let s = s.strip_prefix("at://").unwrap_or(s);
    let s = s.strip_prefix('@').unwrap_or(s);
    if is_did(s) {
        return Ok(s.to_owned());
    }
    let h = s.to_ascii_lowercase();
    if is_handle(&h) {
        Ok(h)
    } else {
        Err(PlatformError::Rejected(
            "this is not a Bluesky handle (such as alice.bsky.social) or a DID".into(),
        ))
    }
}

impl Directory {
    /// Resolves a handle or DID to its identity.
    pub async fn resolve(&self, xrpc: &Xrpc, input: &str) -> Result<Identity, PlatformError> {
        let name = normalize(input)?;
        if is_did(&name) {
            let (pds, handles) = self.document(xrpc, &name).await?;
            // A handle is only trusted when it resolves back to the DID.
            let mut handle = None;
            for h in handles {
                if self.resolve_handle(xrpc, &h).await.ok().as_deref() == Some(name.as_str()) {
                    handle = Some(h);
                    break;
                }
            }
            return Ok(Identity {
                did: name,
                handle,
                pds,
            });
        }
        let did = self.resolve_handle(xrpc, &name).await?;
        let (pds, handles) = self.document(xrpc, &did).await?;
        if !handles.iter().any(|h| h == &name) {
            return Err(PlatformError::Rejected(format!(
                "the DID document of {name} does not claim that handle"
            )));
        }
        Ok(Identity {
            did,
            handle: Some(name),
            pds,
        })
    }

    /// A handle's DID: asked of the configured resolver, then of the handle's own domain.
    pub async fn resolve_handle(&self, xrpc: &Xrpc, handle: &str) -> Result<String, PlatformError> {
        let url = method_url(
            &self.handle_resolver,
            "com.atproto.identity.resolveHandle",
            &[("handle", handle)],
        );
        let asked = xrpc
            .send(
                reqwest::Method::GET,
                url,
                Auth::None,
                Body::Empty,
                Effect::Read,
                "resolving the handle",
            )
            .await;
        match asked {
            Ok(reply) => {
                if let Ok(r) = reply.json::<Resolved>("resolving the handle") {
                    if is_did(&r.did) {
                        return Ok(r.did);
                    }
                }
            }
            Err(Failure::Xrpc(_)) | Err(Failure::Platform(_)) => {}
        }
        self.well_known(xrpc, handle).await
    }

    async fn well_known(&self, xrpc: &Xrpc, handle: &str) -> Result<String, PlatformError> {
        let not_found = || {
            PlatformError::Rejected(format!(
                "the handle {handle} does not resolve to a Bluesky identity"
            ))
        };
        let url = url::Url::parse(&format!("https://{handle}/.well-known/atproto-did"))
            .map_err(|_| not_found())?;
        let reply = xrpc
            .send(
                reqwest::Method::GET,
                url,
                Auth::None,
                Body::Empty,
                Effect::Read,
                "resolving the handle",
            )
            .await
            .map_err(|_| not_found())?;
        let did = String::from_utf8_lossy(&reply.body).trim().to_owned();
        if is_did(&did) {
            Ok(did)
        } else {
            Err(not_found())
        }
    }

    /// The DID document's PDS and the handles it claims.
    pub async fn document(
        &self,
        xrpc: &Xrpc,
        did: &str,
    ) -> Result<(url::Url, Vec<String>), PlatformError> {
        let url = if let Some(host) = did.strip_prefix("did:web:") {
            let host = host.replace("%3A", ":").replace("%3a", ":");
            if host.contains(':') && !xrpc.policy().allow_loopback {
                return Err(PlatformError::Rejected(
                    "a did:web with a port is not resolved".into(),
                ));
            }
            let scheme = if xrpc.policy().allow_loopback && host.starts_with("localhost") {
                "http"
            } else {
                "https"
            };
            url::Url::parse(&format!("{scheme}://{host}/.well-known/did.json"))
        } else {
            self.plc.join(&format!("/{did}"))
        }
        .map_err(|_| PlatformError::Rejected(format!("the DID {did} cannot be resolved")))?;
        let reply = xrpc
            .send(
                reqwest::Method::GET,
                url,
                Auth::None,
                Body::Empty,
                Effect::Read,
                "reading the DID document",
            )
            .await
            .map_err(|f| match f {
                Failure::Xrpc(e) if e.status == 404 || e.status == 410 => {
                    PlatformError::Rejected(format!("the DID {did} has no document"))
                }
                other => other.classify(Effect::Read),
            })?;
        let doc: Value = reply.json("reading the DID document")?;
        parse_document(did, &doc)
    }
}

/// The PDS and claimed handles of a DID document.
pub fn parse_document(did: &str, doc: &Value) -> Result<(url::Url, Vec<String>), PlatformError> {
    if doc.get("id").and_then(Value::as_str) != Some(did) {
        return Err(PlatformError::Rejected(format!(
            "the DID document is not the document of {did}"
        )));
    }
    let pds = doc
        .get("service")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| {
            s.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id == "#atproto_pds" || id == format!("{did}#atproto_pds"))
                && s.get("type").and_then(Value::as_str) == Some("AtprotoPersonalDataServer")
        })
        .and_then(|s| s.get("serviceEndpoint")?.as_str())
        .and_then(|e| url::Url::parse(e).ok())
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
        .ok_or_else(|| {
            PlatformError::Rejected(format!("the DID document of {did} names no PDS"))
        })?;
    let handles = doc
        .get("alsoKnownAs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str()?.strip_prefix("at://"))
        .map(str::to_ascii_lowercase)
        .filter(|h| is_handle(h))
        .collect();
    Ok((pds, handles))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_name_their_pds_and_handles() {
        let doc = json!({
            "id": "did:plc:abc",
            "alsoKnownAs": ["at://Alice.example.com"],
            "service": [
                {"id": "#other", "type": "X", "serviceEndpoint": "https://x.example"},
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://pds.example.com"}
            ]
        });
        let (pds, handles) = parse_document("did:plc:abc", &doc).unwrap();
        assert_eq!(pds.as_str(), "https://pds.example.com/");
        assert_eq!(handles, vec!["alice.example.com".to_owned()]);
        assert!(parse_document("did:plc:other", &doc).is_err());
        assert!(parse_document("did:plc:abc", &json!({"id": "did:plc:abc"})).is_err());
    }

    #[test]
    fn handles_and_dids_are_normalized() {
        assert_eq!(
            normalize(" @Alice.bsky.social ").unwrap(),
            "alice.bsky.social"
        );
        assert_eq!(normalize("did:plc:abc123").unwrap(), "did:plc:abc123");
        assert!(normalize("not a handle").is_err());
        assert!(normalize("localhost").is_err());
    }
}
