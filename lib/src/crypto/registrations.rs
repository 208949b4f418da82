//! Sealing client registrations (a Mastodon instance's client secret).
//!
//! A registration belongs to no workspace: every workspace connecting accounts on one instance shares it. So it is
//! not sealed under a workspace's data key (erasing that workspace would lose the secret every other workspace
//! uses). Each registration gets a data key of its own from the [`KeyService`], bound to the service scope
//! [`SERVICE_SCOPE`] instead of a workspace (KMS's encryption context names it; the local key file binds it the
//! same way), and the secret is sealed with AES-256-GCM under that key with the platform and server as associated
//! data, so a ciphertext copied onto another server's row does not open. The wrapped key is stored beside the
//! sealed secret; opening it is a key-service call, made once per registration and process (cached).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::vault::{open_with, seal_with};
use crate::domain::{PlatformKind, WorkspaceId};
use crate::ports::{
    ClientRegistration, ClientRegistrationStore, ClientRegistrations, KeyService,
    RegistrationError, StoredRegistration,
};

/// The scope service-level data keys are bound to, in place of a workspace id. Generated workspace ids are `ws_`
/// and 32 hex digits, so no workspace can ever be this one.
pub const SERVICE_SCOPE: &str = "ws_service";

fn scope() -> WorkspaceId {
    WorkspaceId::from_trusted(SERVICE_SCOPE)
}

fn aad(platform: PlatformKind, server: &str, client_id: &str) -> Vec<u8> {
    format!("postora/client-registration/v1|{platform}|{server}|{client_id}").into_bytes()
}

type Key = (PlatformKind, String, String);

/// [`ClientRegistrations`] over a [`ClientRegistrationStore`], sealing each secret under its own service-level data
/// key. Opened registrations are cached in memory for the life of the process (a registration never changes; a
/// removed one is dropped from the cache).
pub struct SealedRegistrations {
    store: Arc<dyn ClientRegistrationStore>,
    keys: Arc<dyn KeyService>,
    opened: Mutex<HashMap<Key, ClientRegistration>>,
}

impl SealedRegistrations {
    pub fn new(store: Arc<dyn ClientRegistrationStore>, keys: Arc<dyn KeyService>) -> Self {
        Self {
            store,
            keys,
            opened: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, platform: PlatformKind, server: &str) -> Option<ClientRegistration> {
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|r| r.platform == platform && r.server == server)
            .cloned()
    }

    fn remember(&self, r: &ClientRegistration) {
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (r.platform, r.server.clone(), r.client_id.clone()),
                r.clone(),
            );
    }

    async fn open(
        &self,
        stored: &StoredRegistration,
    ) -> Result<ClientRegistration, RegistrationError> {
        let key = self
            .keys
            .decrypt_data_key(&scope(), &stored.wrapped_key)
            .await
            .map_err(|e| RegistrationError::Key(e.to_string()))?;
        let plain = open_with(
            &key,
            &aad(stored.platform, &stored.server, &stored.client_id),
            &stored.sealed_secret,
        )
        .map_err(|_| RegistrationError::Corrupt)?;
        let secret = String::from_utf8(plain.to_vec()).map_err(|_| RegistrationError::Corrupt)?;
        let opened = ClientRegistration {
            platform: stored.platform,
            server: stored.server.clone(),
            client_id: stored.client_id.clone(),
            client_secret: SecretString::from(secret),
            redirect_uri: stored.redirect_uri.clone(),
            created_at: stored.created_at,
        };
        self.remember(&opened);
        Ok(opened)
    }

    async fn seal(&self, r: &ClientRegistration) -> Result<StoredRegistration, RegistrationError> {
        let (key, wrapped) = self
            .keys
            .generate_data_key(&scope())
            .await
            .map_err(|e| RegistrationError::Key(e.to_string()))?;
        let sealed = seal_with(
            &key,
            &aad(r.platform, &r.server, &r.client_id),
            r.client_secret.expose_secret().as_bytes(),
        )
        .map_err(|_| RegistrationError::Corrupt)?;
        Ok(StoredRegistration {
            platform: r.platform,
            server: r.server.clone(),
            client_id: r.client_id.clone(),
            redirect_uri: r.redirect_uri.clone(),
            sealed_secret: sealed,
            wrapped_key: wrapped,
            created_at: r.created_at,
        })
    }
}

#[async_trait]
impl ClientRegistrations for SealedRegistrations {
    async fn get(
        &self,
        platform: PlatformKind,
        server: &str,
    ) -> Result<Option<ClientRegistration>, RegistrationError> {
        if let Some(r) = self.cached(platform, server) {
            return Ok(Some(r));
        }
        match self.store.get_registration(platform, server).await? {
            Some(stored) => self.open(&stored).await.map(Some),
            None => Ok(None),
        }
    }

    async fn put_if_absent(
        &self,
        registration: ClientRegistration,
    ) -> Result<ClientRegistration, RegistrationError> {
        let sealed = self.seal(&registration).await?;
        let kept = self.store.put_registration_if_absent(&sealed).await?;
        if kept == sealed {
            self.remember(&registration);
            Ok(registration)
        } else {
            self.open(&kept).await
        }
    }

    async fn remove(
        &self,
        platform: PlatformKind,
        server: &str,
        client_id: &str,
    ) -> Result<bool, RegistrationError> {
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(platform, server.to_owned(), client_id.to_owned()));
        Ok(self
            .store
            .remove_registration(platform, server, client_id)
            .await?)
    }
}
