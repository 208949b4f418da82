//! [`KmsKeyService`]: per-workspace data keys from AWS KMS. Each key is generated with the encryption context
//! `{"workspace": <id>}`, which KMS binds into the wrapped key: unwrapping it for another workspace fails, so a wrapped
//! key copied onto another workspace's row is useless. The clear key is copied out of the SDK's buffer into a
//! zeroizing array and the buffer is wiped.

use async_trait::async_trait;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;
use aws_smithy_types::Blob;
use zeroize::{Zeroize, Zeroizing};

use crate::domain::WorkspaceId;
use crate::ports::{KeyError, KeyService};

/// The encryption-context key that names the workspace a data key belongs to.
pub const CONTEXT_KEY: &str = "workspace";

/// Errors that mean "this key may not be used so", as opposed to "KMS could not be reached".
const REFUSALS: [&str; 8] = [
    "InvalidCiphertextException",
    "IncorrectKeyException",
    "AccessDeniedException",
    "NotFoundException",
    "DisabledException",
    "KMSInvalidStateException",
    "InvalidKeyUsageException",
    "KeyUnavailableException",
];

/// Wraps and unwraps data keys with one KMS key (an id, ARN or `alias/...`).
#[derive(Clone, Debug)]
pub struct KmsKeyService {
    client: Client,
    key_id: String,
}

impl KmsKeyService {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// Names the operation and KMS's error code, never a key or ciphertext.
fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &str,
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> KeyError {
    match err.code() {
        Some(code) if REFUSALS.contains(&code) => KeyError::Refused(format!("{op}: {code}")),
        Some(code) => KeyError::Unavailable(format!("{op}: {code}")),
        None => KeyError::Unavailable(format!("{op}: {}", DisplayErrorContext(err))),
    }
}

/// Moves a 32-byte key out of the SDK's blob, wiping the blob's buffer.
fn take_key(blob: Option<Blob>, op: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut bytes = blob.map(Blob::into_inner).unwrap_or_default();
    let mut key = Zeroizing::new([0u8; 32]);
    let ok = bytes.len() == key.len();
    if ok {
        key.copy_from_slice(&bytes);
    }
    bytes.zeroize();
    if ok {
        Ok(key)
    } else {
        Err(KeyError::Refused(format!(
            "{op}: KMS returned a key that is not 256 bits"
        )))
    }
}

#[async_trait]
impl KeyService for KmsKeyService {
    async fn generate_data_key(
        &self,
        ws: &WorkspaceId,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>), KeyError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, ws.as_str())
            .send()
            .await
            .map_err(|e| failure("GenerateDataKey", &e))?;
        let wrapped = out
            .ciphertext_blob
            .map(Blob::into_inner)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| KeyError::Refused("GenerateDataKey: no wrapped key returned".into()))?;
        let key = take_key(out.plaintext, "GenerateDataKey")?;
        Ok((key, wrapped))
    }

    async fn decrypt_data_key(
        &self,
        ws: &WorkspaceId,
        wrapped: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(CONTEXT_KEY, ws.as_str())
            .send()
            .await
            .map_err(|e| failure("Decrypt", &e))?;
        take_key(out.plaintext, "Decrypt")
    }
}
