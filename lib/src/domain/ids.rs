//! Identifiers. Each is a prefixed, time-ordered UUID (v7) so that ids sort by creation time and say what they name.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new, unique id.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Accepts an id from outside (a path, a body, a row) if it has the right shape.
            pub fn parse(raw: &str) -> Option<Self> {
                let rest = raw.strip_prefix($prefix)?.strip_prefix('_')?;
                let ok = !rest.is_empty()
                    && rest.len() <= 64
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                ok.then(|| Self(raw.to_owned()))
            }

            /// Wraps a value that is already known to be valid (read back from our own store).
            pub fn from_trusted(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A workspace: one customer's space, with its own API keys, accounts and posts.
    WorkspaceId,
    "ws"
);
id_type!(
    /// A connected social account.
    AccountId,
    "acc"
);
id_type!(
    /// A post: one piece of content aimed at one or more accounts.
    PostId,
    "post"
);
id_type!(
    /// An image or video in a workspace's media library.
    MediaId,
    "med"
);
id_type!(
    /// A person who signs in to Postora.
    PersonId,
    "per"
);
id_type!(
    /// An invitation to join a workspace.
    InvitationId,
    "inv"
);
id_type!(
    /// A resumable upload of a media item's bytes, sent in parts.
    UploadId,
    "upl"
);

/// Identifies one delivery: one post going to one account.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct DeliveryKey {
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
    pub account_id: AccountId,
}

impl DeliveryKey {
    /// The key a platform sees when it honours idempotency keys: stable for the life of the delivery.
    pub fn idempotency_key(&self) -> String {
        format!("{}.{}", self.post_id, self.account_id)
    }
}

impl fmt::Display for DeliveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.post_id, self.account_id)
    }
}

/// A random, URL-safe secret of `bytes` bytes of entropy (OAuth states, confirmation codes, API keys).
pub fn random_token(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_sort_by_time() {
        let a = PostId::generate();
        let b = PostId::generate();
        assert_eq!(PostId::parse(a.as_str()), Some(a.clone()));
        assert!(a < b);
    }

    #[test]
    fn ids_of_another_kind_or_shape_are_refused() {
        let acc = AccountId::generate();
        assert_eq!(PostId::parse(acc.as_str()), None);
        assert_eq!(PostId::parse("post_"), None);
        assert_eq!(PostId::parse("post_a/b"), None);
        assert_eq!(PostId::parse("post_a b"), None);
    }
}
