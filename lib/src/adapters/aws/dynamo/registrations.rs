//! Client registrations: one item per platform and server at `REG#<platform>#<server>`, written only if absent, so
//! of two first connections to one instance the first registration wins and the other reads it back. The sealed
//! secret and its wrapped key are Binary attributes of their own.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::Blob;
use chrono::{DateTime, Utc};

use super::items::{self, Item, KIND};
use super::{failure, is_condition_failure, keys, DynamoStore};
use crate::domain::PlatformKind;
use crate::ports::{ClientRegistrationStore, StoreError, StoreResult, StoredRegistration};

const CLIENT_ID: &str = "client_id";
const REDIRECT_URI: &str = "redirect_uri";
const SEALED_SECRET: &str = "sealed_secret";
const WRAPPED_KEY: &str = "wrapped_key";
const CREATED_AT: &str = "created_at";

fn key(platform: PlatformKind, server: &str) -> Item {
    items::key(
        keys::registration_pk(platform, server),
        keys::REGISTRATION_SK,
    )
}

fn item(r: &StoredRegistration) -> Item {
    let mut item: Item = key(r.platform, &r.server);
    item.insert(KIND.into(), items::s("client_registration"));
    item.insert(CLIENT_ID.into(), items::s(r.client_id.as_str()));
    item.insert(REDIRECT_URI.into(), items::s(r.redirect_uri.as_str()));
    item.insert(
        SEALED_SECRET.into(),
        AttributeValue::B(Blob::new(r.sealed_secret.clone())),
    );
    item.insert(
        WRAPPED_KEY.into(),
        AttributeValue::B(Blob::new(r.wrapped_key.clone())),
    );
    item.insert(CREATED_AT.into(), items::s(r.created_at.to_rfc3339()));
    item
}

fn from_item(
    platform: PlatformKind,
    server: &str,
    item: &HashMap<String, AttributeValue>,
) -> StoreResult<StoredRegistration> {
    let bad = || items::unreadable("client registration");
    let binary = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(bad)
    };
    Ok(StoredRegistration {
        platform,
        server: server.to_owned(),
        client_id: items::get_s(item, CLIENT_ID).ok_or_else(bad)?.to_owned(),
        redirect_uri: items::get_s(item, REDIRECT_URI).ok_or_else(bad)?.to_owned(),
        sealed_secret: binary(SEALED_SECRET)?,
        wrapped_key: binary(WRAPPED_KEY)?,
        created_at: items::get_s(item, CREATED_AT)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(bad)?,
    })
}

#[async_trait]
impl ClientRegistrationStore for DynamoStore {
    async fn get_registration(
        &self,
        platform: PlatformKind,
        server: &str,
    ) -> StoreResult<Option<StoredRegistration>> {
        self.get(key(platform, server))
            .await?
            .map(|i| from_item(platform, server, &i))
            .transpose()
    }

    async fn put_registration_if_absent(
        &self,
        registration: &StoredRegistration,
    ) -> StoreResult<StoredRegistration> {
        match self.put_new(item(registration)).await {
            Ok(()) => Ok(registration.clone()),
            Err(StoreError::Conflict) => self
                .get_registration(registration.platform, &registration.server)
                .await?
                .ok_or(StoreError::Conflict),
            Err(e) => Err(e),
        }
    }

    async fn remove_registration(
        &self,
        platform: PlatformKind,
        server: &str,
        client_id: &str,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(platform, server)))
            .condition_expression("#c = :id")
            .expression_attribute_names("#c", CLIENT_ID)
            .expression_attribute_values(":id", items::s(client_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(failure("DeleteItem", &e)),
        }
    }
}
