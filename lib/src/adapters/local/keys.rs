//! The local key service: a 256-bit master key in a file (created on first run, mode 0600) wraps each workspace's
//! data key with AES-256-GCM, bound to the workspace id as associated data, as KMS binds it to an encryption context.

use std::fs;
use std::io::Write;
use std::path::Path;

use async_trait::async_trait;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::crypto::vault::{open_with, seal_with};
use crate::domain::WorkspaceId;
use crate::ports::{KeyError, KeyService};

/// Loads the 256-bit key in the file at `path`, creating the file (mode 0600, readable by the owner only) with a
/// random key if it does not exist. Two processes creating it at once end up with the same key.
pub(crate) fn load_or_create_key_file(path: &Path) -> std::io::Result<Zeroizing<[u8; 32]>> {
    match fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a 32-byte key file", path.display()),
                )
            })?;
            Ok(Zeroizing::new(arr))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(key.as_mut());
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            match opts.open(path) {
                Ok(mut f) => {
                    f.write_all(key.as_ref())?;
                    f.sync_all()?;
                    Ok(key)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create_key_file(path)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

pub struct MasterKeyFile {
    master: Zeroizing<[u8; 32]>,
}

impl MasterKeyFile {
    /// Loads the master key at `path`, creating it (readable by the owner only) if it does not exist.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            master: load_or_create_key_file(path)?,
        })
    }

    /// A key held only in memory (tests).
    pub fn ephemeral() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self { master: key }
    }

    fn aad(ws: &WorkspaceId) -> Vec<u8> {
        format!("postora/datakey/v1|{ws}").into_bytes()
    }
}

#[async_trait]
impl KeyService for MasterKeyFile {
    async fn generate_data_key(
        &self,
        ws: &WorkspaceId,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>), KeyError> {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        let wrapped = seal_with(&self.master, &Self::aad(ws), key.as_ref())
            .map_err(|_| KeyError::Refused("could not wrap a data key".into()))?;
        Ok((key, wrapped))
    }

    async fn decrypt_data_key(
        &self,
        ws: &WorkspaceId,
        wrapped: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let plain = open_with(&self.master, &Self::aad(ws), wrapped).map_err(|_| {
            KeyError::Refused("the data key does not belong to this workspace or master key".into())
        })?;
        let arr: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Refused("the data key has the wrong length".into()))?;
        Ok(Zeroizing::new(arr))
    }
}
