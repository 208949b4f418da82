//! Envelope encryption: each workspace has one data key, generated and wrapped by the [`KeyService`]; each token set
//! is sealed with AES-256-GCM under it, with a fresh nonce and associated data naming the workspace and account, so a
//! ciphertext copied onto another row fails to open. Unwrapped data keys are cached for a few minutes, bounded in
//! count, and zeroized when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::domain::{AccountId, TokenSet, WorkspaceId};
use crate::ports::{KeyError, KeyService, StoreError, WorkspaceStore};

/// The first byte of every ciphertext: the format, so it can change later.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the workspace does not exist")]
    NoWorkspace,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ciphertext was tampered with, belongs to another row, or the key is wrong.
    #[error("the sealed tokens could not be opened")]
    Corrupt,
}

type DataKey = Arc<Zeroizing<[u8; 32]>>;

/// Seals and opens token sets.
pub struct Vault {
    keys: Arc<dyn KeyService>,
    workspaces: Arc<dyn WorkspaceStore>,
    cache: Mutex<HashMap<WorkspaceId, (Instant, DataKey)>>,
    /// One gate per workspace whose key is being unwrapped, so that a burst of opens for a cold workspace (a batch of
    /// ten deliveries on a fresh Lambda instance) makes one key-service call, not ten.
    unwrapping: Mutex<HashMap<WorkspaceId, Arc<tokio::sync::Mutex<()>>>>,
    ttl: Duration,
    max_cached: usize,
    unwraps: AtomicU64,
}

impl Vault {
    pub fn new(keys: Arc<dyn KeyService>, workspaces: Arc<dyn WorkspaceStore>) -> Self {
        Self::with_cache(keys, workspaces, Duration::from_secs(300), 1024)
    }

    pub fn with_cache(
        keys: Arc<dyn KeyService>,
        workspaces: Arc<dyn WorkspaceStore>,
        ttl: Duration,
        max_cached: usize,
    ) -> Self {
        Self {
            keys,
            workspaces,
            cache: Mutex::new(HashMap::new()),
            unwrapping: Mutex::new(HashMap::new()),
            ttl,
            max_cached: max_cached.max(1),
            unwraps: AtomicU64::new(0),
        }
    }

    /// The key service behind the vault, for secrets that belong to no workspace (sealed under the service scope).
    pub(crate) fn key_service(&self) -> &dyn KeyService {
        self.keys.as_ref()
    }

    /// How many times a data key was unwrapped by the key service (cache misses).
    pub fn unwrap_count(&self) -> u64 {
        self.unwraps.load(Ordering::Relaxed)
    }

    /// Generates a new workspace's data key: returns the wrapped form to store, and caches the clear one.
    pub async fn new_workspace_key(&self, ws: &WorkspaceId) -> Result<Vec<u8>, VaultError> {
        let (plain, wrapped) = self.keys.generate_data_key(ws).await?;
        self.remember(ws, Arc::new(plain));
        Ok(wrapped)
    }

    fn cached(&self, ws: &WorkspaceId) -> Option<DataKey> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.get(ws) {
            Some((at, key)) if at.elapsed() < self.ttl => Some(key.clone()),
            Some(_) => {
                cache.remove(ws);
                None
            }
            None => None,
        }
    }

    fn remember(&self, ws: &WorkspaceId, key: DataKey) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= self.max_cached && !cache.contains_key(ws) {
            let ttl = self.ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= self.max_cached {
                if let Some(oldest) = cache
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
                {
                    cache.remove(&oldest);
                }
            }
        }
        cache.insert(ws.clone(), (Instant::now(), key));
    }

    /// Forgets a workspace's key (the workspace was erased).
    pub fn forget(&self, ws: &WorkspaceId) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(ws);
    }

    async fn data_key(&self, ws: &WorkspaceId) -> Result<DataKey, VaultError> {
        if let Some(k) = self.cached(ws) {
            return Ok(k);
        }
        let gate = self
            .unwrapping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(ws.clone())
            .or_default()
            .clone();
        let _held = gate.lock().await;
        // Whoever held the gate before us may have unwrapped the key already.
        if let Some(k) = self.cached(ws) {
            return Ok(k);
        }
        let unwrapped = self.unwrap_key(ws).await;
        self.unwrapping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(ws);
        unwrapped
    }

    async fn unwrap_key(&self, ws: &WorkspaceId) -> Result<DataKey, VaultError> {
        let workspace = self
            .workspaces
            .get_workspace(ws)
            .await?
            .ok_or(VaultError::NoWorkspace)?;
        let plain = self
            .keys
            .decrypt_data_key(ws, &workspace.wrapped_key)
            .await?;
        self.unwraps.fetch_add(1, Ordering::Relaxed);
        let key = Arc::new(plain);
        self.remember(ws, key.clone());
        Ok(key)
    }

    fn aad(ws: &WorkspaceId, acc: &AccountId) -> Vec<u8> {
        format!("postora/tokens/v1|{ws}|{acc}").into_bytes()
    }

    pub async fn seal(
        &self,
        ws: &WorkspaceId,
        acc: &AccountId,
        tokens: &TokenSet,
    ) -> Result<Vec<u8>, VaultError> {
        let key = self.data_key(ws).await?;
        seal_with(&key, &Self::aad(ws, acc), &tokens.to_plaintext())
    }

    /// Seals other short-lived secrets of a workspace; `context` names their purpose and must match when opened.
    pub async fn seal_for(
        &self,
        ws: &WorkspaceId,
        context: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        let key = self.data_key(ws).await?;
        seal_with(
            &key,
            format!("postora/{context}/v1|{ws}").as_bytes(),
            plaintext,
        )
    }

    pub async fn open_for(
        &self,
        ws: &WorkspaceId,
        context: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let key = self.data_key(ws).await?;
        open_with(
            &key,
            format!("postora/{context}/v1|{ws}").as_bytes(),
            sealed,
        )
    }

    pub async fn open(
        &self,
        ws: &WorkspaceId,
        acc: &AccountId,
        ciphertext: &[u8],
    ) -> Result<TokenSet, VaultError> {
        let key = self.data_key(ws).await?;
        let plain = open_with(&key, &Self::aad(ws, acc), ciphertext)?;
        TokenSet::from_plaintext(&plain).ok_or(VaultError::Corrupt)
    }
}

/// AES-256-GCM with a random nonce: `version || nonce || ciphertext+tag`.
pub fn seal_with(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| VaultError::Corrupt)?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| VaultError::Corrupt)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub fn open_with(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != FORMAT_V1 {
        return Err(VaultError::Corrupt);
    }
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| VaultError::Corrupt)?;
    let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ciphertext_opens_only_with_its_own_associated_data() {
        let key = [7u8; 32];
        let sealed = seal_with(&key, b"ws_a|acc_a", b"secret").unwrap();
        assert_eq!(
            &open_with(&key, b"ws_a|acc_a", &sealed).unwrap()[..],
            b"secret"
        );
        assert!(open_with(&key, b"ws_a|acc_b", &sealed).is_err());
        assert!(open_with(&[8u8; 32], b"ws_a|acc_a", &sealed).is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open_with(&key, b"ws_a|acc_a", &flipped).is_err());
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let key = [1u8; 32];
        assert_ne!(
            seal_with(&key, b"", b"x").unwrap(),
            seal_with(&key, b"", b"x").unwrap()
        );
    }
}
