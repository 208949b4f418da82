//! ES256 keys and the JWTs they sign: DPoP proofs (RFC 9449) for atproto OAuth, and the client assertion
//! (`private_key_jwt`, RFC 7523) a confidential client authenticates with. Signed with the RustCrypto `p256` crate.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::Utc;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::ports::PlatformError;

/// A P-256 private key. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct DpopKey {
    key: SigningKey,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DpopKey([redacted])")
    }
}

impl DpopKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self {
            key: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// The key a consent's DPoP proofs are signed with, derived from the PKCE verifier kept (secretly) with the
    /// OAuth state: the authorization server binds the request to this key at PAR, and the code exchange must use
    /// the same one, without Postora keeping a second secret in the state.
    pub fn for_verifier(verifier: &str) -> Result<Self, PlatformError> {
        let mut counter = 0u8;
        loop {
            let mut h = Sha256::new();
            h.update(b"postora bluesky dpop key\0");
            h.update([counter]);
            h.update(verifier.as_bytes());
            if let Ok(key) = SigningKey::from_slice(&h.finalize()) {
                return Ok(Self { key });
            }
            counter = counter
                .checked_add(1)
                .ok_or_else(|| PlatformError::Transient("no DPoP key could be derived".into()))?;
        }
    }

    /// The key as kept sealed in a token set: its 32-byte scalar, base64url.
    pub fn to_secret(&self) -> SecretString {
        SecretString::from(B64.encode(self.key.to_bytes()))
    }

    pub fn from_secret(secret: &SecretString) -> Option<Self> {
        let bytes = zeroize::Zeroizing::new(B64.decode(secret.expose_secret()).ok()?);
        SigningKey::from_slice(&bytes).ok().map(|key| Self { key })
    }

    /// A key given as PKCS#8 PEM (`POSTORA_BLUESKY_CLIENT_KEY`).
    pub fn from_pkcs8_pem(pem: &str) -> Option<Self> {
        use p256::pkcs8::DecodePrivateKey;
        SigningKey::from_pkcs8_pem(pem).ok().map(|key| Self { key })
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> Value {
        let point = self.key.verifying_key().to_encoded_point(false);
        let coord = |c: Option<&p256::FieldBytes>| c.map(|c| B64.encode(c)).unwrap_or_default();
        json!({"kty": "EC", "crv": "P-256", "x": coord(point.x()), "y": coord(point.y())})
    }

    /// RFC 7638 thumbprint of the public key.
    pub fn thumbprint(&self) -> String {
        let jwk = self.public_jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap_or_default(),
            jwk["y"].as_str().unwrap_or_default()
        );
        B64.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// A compact JWS of `payload` under `header` (to which `alg: ES256` is added).
    pub fn sign(&self, mut header: Value, payload: &Value) -> String {
        header["alg"] = json!("ES256");
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload.to_string())
        );
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(signature.to_bytes()))
    }

    /// A DPoP proof for one request: `htm` and `htu` (without query or fragment), the server's nonce if it gave
    /// one, and the access token's hash when one is presented.
    pub fn proof(
        &self,
        method: &str,
        url: &url::Url,
        nonce: Option<&str>,
        access_token: Option<&SecretString>,
    ) -> Result<String, PlatformError> {
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut payload = json!({
            "jti": crate::domain::ids::random_token(16),
            "htm": method,
            "htu": htu.as_str(),
            "iat": Utc::now().timestamp(),
        });
        if let Some(n) = nonce {
            payload["nonce"] = json!(n);
        }
        if let Some(t) = access_token {
            payload["ath"] = json!(B64.encode(Sha256::digest(t.expose_secret().as_bytes())));
        }
        Ok(self.sign(
            json!({"typ": "dpop+jwt", "jwk": self.public_jwk()}),
            &payload,
        ))
    }
}

/// The `exp` claim of a JWT, read without checking its signature (the server that issued it checks it; Postora
/// only wants to know when to refresh).
pub fn jwt_expiry(jwt: &str) -> Option<chrono::DateTime<Utc>> {
    let payload = jwt.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    let now = Utc::now();
    let lifetime = i128::from(exp) - i128::from(now.timestamp());
    crate::domain::bounds::token_expiry(now, lifetime.max(0)).ok()
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    use super::*;

    #[test]
    fn proofs_verify_under_the_public_jwk_and_bind_the_token() {
        let key = DpopKey::generate();
        let url = url::Url::parse("https://pds.example.com/xrpc/x?y=1").unwrap();
        let token = SecretString::from("tok".to_owned());
        let proof = key.proof("POST", &url, Some("n1"), Some(&token)).unwrap();
        let parts: Vec<&str> = proof.split('.').collect();
        let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
        let payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(payload["htu"], "https://pds.example.com/xrpc/x");
        assert_eq!(payload["nonce"], "n1");
        assert_eq!(payload["ath"], B64.encode(Sha256::digest(b"tok")));
        let jwk = &header["jwk"];
        let mut sec1 = vec![4u8];
        sec1.extend(B64.decode(jwk["x"].as_str().unwrap()).unwrap());
        sec1.extend(B64.decode(jwk["y"].as_str().unwrap()).unwrap());
        let vk = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let sig = Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
        vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn keys_round_trip_and_never_show() {
        let key = DpopKey::for_verifier("v").unwrap();
        assert_eq!(
            DpopKey::for_verifier("v").unwrap().thumbprint(),
            key.thumbprint()
        );
        let back = DpopKey::from_secret(&key.to_secret()).unwrap();
        assert_eq!(back.thumbprint(), key.thumbprint());
        assert_eq!(format!("{key:?}"), "DpopKey([redacted])");
    }
}
