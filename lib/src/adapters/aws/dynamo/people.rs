//! People, sessions, links, sign-ins, attempt counters, memberships and invitations on DynamoDB.
//!
//! A person's partition `PERSON#<id>` holds their profile, sessions, sign-ins, references to their links and the
//! mirrors of their memberships; their address is claimed by an item of its own (`EMAIL#<lookup key>`), written in
//! the same transaction as the person. A membership lives in its workspace's partition (`WS#<ws>` / `MEMBER#<person>`),
//! so checking a session in a workspace is one BatchGetItem of the session, the membership and the workspace. Links,
//! sessions, sign-ins, counters and invitations carry the table's time to live; reads compare the exact expiry, since
//! the time to live removes items within days, not at the second.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use chrono::{DateTime, Utc};

use super::items::{self, Item, EXPIRES_NS};
use super::{
    backoff, build_error, failure, is_condition_failure, keys, Condition, DynamoStore, Query,
    SortRange, TransactionError, BATCH_ROUNDS,
};
use crate::adapters::aws::table::{DATA, TABLE};
use crate::domain::{
    EmailAddress, Invitation, InvitationId, Membership, OneTimeLink, Person, PersonId, Session,
    SessionFlags, SignIn, Workspace, WorkspaceId,
};
use crate::ports::{MemberStore, PeopleStore, SessionLookup, StoreError, StoreResult};

/// How often a counter update is tried again when another writer moved its window in between.
const COUNTER_ROUNDS: u32 = 5;

fn prefix_range(prefix: &str) -> SortRange {
    SortRange::Between(prefix.to_owned(), keys::prefix_end(prefix))
}

fn person_key(id: &PersonId) -> Item {
    items::key(keys::person_pk(id), keys::PERSON_SK)
}

fn session_key(person: &PersonId, token_hash: &str) -> Item {
    items::key(keys::person_pk(person), keys::session_sk(token_hash))
}

fn member_key(ws: &WorkspaceId, person: &PersonId) -> Item {
    items::key(keys::workspace_pk(ws), keys::member_sk(person))
}

fn mirror_key(ws: &WorkspaceId, person: &PersonId) -> Item {
    items::key(keys::person_pk(person), keys::membership_sk(ws))
}

fn attempt_key(key: &str) -> Item {
    items::key(keys::attempt_pk(key), keys::ATTEMPT_SK)
}

/// The condition that an address claim names `person` (or that there is none).
fn claim_free_or_mine(person: &PersonId) -> Condition {
    Condition {
        expression: "attribute_not_exists(pk) OR #person = :person".into(),
        names: Some([("#person".to_owned(), items::REF_PERSON.to_owned())].into()),
        values: Some([(":person".to_owned(), items::s(person.as_str()))].into()),
    }
}

fn claim_mine(person: &PersonId) -> Condition {
    Condition {
        expression: "#person = :person".into(),
        names: Some([("#person".to_owned(), items::REF_PERSON.to_owned())].into()),
        values: Some([(":person".to_owned(), items::s(person.as_str()))].into()),
    }
}

impl DynamoStore {
    /// Deletes an item if it exists and has not expired at `now`, and returns what it held.
    async fn take_live(&self, key: Item, now: DateTime<Utc>) -> StoreResult<Option<Item>> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("attribute_exists(pk) AND #exp > :now")
            .expression_attribute_names("#exp", EXPIRES_NS)
            .expression_attribute_values(":now", items::n(keys::nanos(now)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes.filter(|a| !a.is_empty())),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(failure("DeleteItem", &e)),
        }
    }

    /// Reads items by key in one BatchGetItem (sending back only what it left unprocessed), strongly consistent,
    /// with only the attributes named: a workspace's wrapped key is never read to check a session.
    async fn batch_get_projected(
        &self,
        keys: Vec<Item>,
        attributes: &[&str],
    ) -> StoreResult<Vec<Item>> {
        let mut names = HashMap::new();
        let mut projection = Vec::new();
        for (i, a) in attributes.iter().enumerate() {
            names.insert(format!("#a{i}"), (*a).to_owned());
            projection.push(format!("#a{i}"));
        }
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .projection_expression(projection.join(", "))
                .set_expression_attribute_names(Some(names))
                .build()
                .map_err(build_error)?,
        );
        let mut found = Vec::new();
        let mut round = 0;
        while let Some(request) = pending.take() {
            if round > 0 {
                backoff(round).await;
            }
            round += 1;
            if round > BATCH_ROUNDS {
                return Err(StoreError::Throttled(
                    "BatchGetItem: keys left unprocessed".into(),
                ));
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| failure("BatchGetItem", &e))?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
        }
        Ok(found)
    }

    /// Keys of the items in `partition` whose sort key begins with `prefix`.
    async fn keys_with_prefix(&self, partition: String, prefix: &str) -> StoreResult<Vec<Item>> {
        let found = self
            .query_all(
                &Query::table(partition)
                    .range(prefix_range(prefix))
                    .keys_only(),
            )
            .await?;
        Ok(found.iter().map(items::key_of).collect())
    }

    /// After a transaction on versioned items failed its conditions: `NotFound` if one of them is gone, otherwise
    /// `Conflict`.
    async fn missing_or_conflict(&self, keys: Vec<Item>) -> StoreError {
        for key in keys {
            match self.get(key).await {
                Ok(None) => return StoreError::NotFound,
                Ok(Some(_)) => {}
                Err(e) => return e,
            }
        }
        StoreError::Conflict
    }

    /// The writes that store a membership and its mirror, the first conditioned on `condition`.
    fn membership_writes(
        &self,
        m: &Membership,
        condition: Condition,
    ) -> StoreResult<Vec<aws_sdk_dynamodb::types::TransactWriteItem>> {
        Ok(vec![
            self.tx_put(items::membership_item(m)?, Some(condition))?,
            self.tx_put(items::membership_mirror_item(m)?, None)?,
        ])
    }

    /// Removes every membership (with its mirror) and invitation of a workspace: part of erasing it.
    pub(super) async fn erase_people_of_workspace(&self, ws: &WorkspaceId) -> StoreResult<()> {
        let mut doomed = Vec::new();
        for key in self
            .keys_with_prefix(keys::workspace_pk(ws), keys::MEMBER_PREFIX)
            .await?
        {
            if let Some(person) =
                items::sort_key(&key).and_then(|sk| sk.strip_prefix(keys::MEMBER_PREFIX))
            {
                doomed.push(mirror_key(ws, &PersonId::from_trusted(person)));
            }
            doomed.push(key);
        }
        let invitations = self
            .query_all(
                &Query::table(keys::workspace_pk(ws))
                    .range(prefix_range(keys::INVITATION_REF_PREFIX)),
            )
            .await?;
        for item in invitations {
            if let Some(hash) = items::get_s(&item, items::REF_TOKEN_HASH) {
                doomed.push(items::key(keys::invitation_pk(hash), keys::INVITATION_SK));
            }
            doomed.push(items::key_of(&item));
        }
        self.batch_delete(doomed).await
    }
}

#[async_trait]
impl PeopleStore for DynamoStore {
    async fn create_person(&self, person: &Person) -> StoreResult<()> {
        let writes = vec![
            self.tx_put(items::person_item(person)?, Some(Condition::absent()))?,
            self.tx_put(items::email_claim_item(person), Some(Condition::absent()))?,
        ];
        self.transact(writes).await.map_err(StoreError::from)
    }

    async fn get_person(&self, id: &PersonId) -> StoreResult<Option<Person>> {
        self.get(person_key(id))
            .await?
            .map(|item| items::person_from(&item))
            .transpose()
    }

    async fn find_person_by_email(&self, email: &EmailAddress) -> StoreResult<Option<Person>> {
        let lookup = email.lookup_key();
        let Some(claim) = self
            .get(items::key(keys::email_pk(&lookup), keys::EMAIL_SK))
            .await?
        else {
            return Ok(None);
        };
        let Some(id) = items::get_s(&claim, items::REF_PERSON) else {
            return Err(items::unreadable("address claim"));
        };
        // A claim whose person has moved to another address (or is gone) finds no one.
        Ok(self
            .get_person(&PersonId::from_trusted(id))
            .await?
            .filter(|p| p.email.lookup_key() == lookup))
    }

    async fn update_person(&self, person: &Person, expected_version: u64) -> StoreResult<()> {
        let stored = self
            .get_person(&person.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if stored.version != expected_version {
            return Err(StoreError::Conflict);
        }
        let (old, new) = (stored.email.lookup_key(), person.email.lookup_key());
        if old == new {
            return self
                .put_versioned(items::person_item(person)?, expected_version)
                .await;
        }
        // The claim moves with the address: the old one is released only if it names this person, the new one is
        // taken only if no one else holds it, and the person is written only at the version read.
        let writes = vec![
            self.tx_put(
                items::person_item(person)?,
                Some(Condition::at_version(expected_version)),
            )?,
            self.tx_delete(
                items::key(keys::email_pk(&old), keys::EMAIL_SK),
                Some(claim_mine(&person.id)),
            )?,
            self.tx_put(
                items::email_claim_item(person),
                Some(claim_free_or_mine(&person.id)),
            )?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactionError::Condition(failed)) if failed.contains(&0) => {
                Err(self.missing_or_conflict(vec![person_key(&person.id)]).await)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_person(&self, id: &PersonId) -> StoreResult<()> {
        let person = self.get_person(id).await?;
        let partition = self
            .query_all(&Query::table(keys::person_pk(id)).keys_only())
            .await?;
        let mut doomed = Vec::new();
        for key in partition {
            let sk = items::sort_key(&key).unwrap_or_default().to_owned();
            // Memberships are the member store's; the profile goes last, so a delete cut short can run again.
            if sk == keys::PERSON_SK || sk.starts_with(keys::MEMBERSHIP_PREFIX) {
                continue;
            }
            if let Some(hash) = sk.strip_prefix(keys::LINK_REF_PREFIX) {
                doomed.push(items::key(keys::link_pk(hash), keys::LINK_SK));
            }
            doomed.push(key);
        }
        self.batch_delete(doomed).await?;
        if let Some(person) = person {
            let claim = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(items::key(
                    keys::email_pk(&person.email.lookup_key()),
                    keys::EMAIL_SK,
                )))
                .condition_expression("#person = :person")
                .expression_attribute_names("#person", items::REF_PERSON)
                .expression_attribute_values(":person", items::s(id.as_str()))
                .send()
                .await;
            match claim {
                Ok(_) => {}
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(failure("DeleteItem", &e)),
            }
            self.delete(person_key(id)).await?;
        }
        Ok(())
    }

    async fn put_session(&self, session: &Session) -> StoreResult<()> {
        self.put_new(items::session_item(session)?).await
    }

    async fn session_in_workspace(
        &self,
        token_hash: &str,
        person: &PersonId,
        workspace: Option<&WorkspaceId>,
    ) -> StoreResult<SessionLookup> {
        let mut wanted = vec![session_key(person, token_hash)];
        if let Some(ws) = workspace {
            wanted.push(member_key(ws, person));
            wanted.push(items::key(keys::workspace_pk(ws), keys::WORKSPACE_SK));
        }
        let found = self
            .batch_get_projected(
                wanted,
                &[
                    TABLE.partition_key.name,
                    TABLE.sort_key.name,
                    DATA,
                    items::VERSION,
                    items::LAST_SEEN,
                    items::FLAG_EMAIL_VERIFIED,
                    items::FLAG_TWO_FACTOR,
                ],
            )
            .await?;
        let mut lookup = SessionLookup::default();
        for item in &found {
            let sk = items::sort_key(item).unwrap_or_default();
            if sk.starts_with(keys::SESSION_PREFIX) {
                lookup.session = Some(items::session_from(item)?);
            } else if sk.starts_with(keys::MEMBER_PREFIX) {
                lookup.membership = Some(items::membership_from(item)?);
            } else if sk == keys::WORKSPACE_SK {
                lookup.settings = Some(items::workspace_settings_from(item)?);
            }
        }
        if lookup.session.is_none() {
            return Ok(SessionLookup::default());
        }
        Ok(lookup)
    }

    async fn set_session_flags(&self, person: &PersonId, flags: SessionFlags) -> StoreResult<()> {
        let sessions = self
            .keys_with_prefix(keys::person_pk(person), keys::SESSION_PREFIX)
            .await?;
        for key in sessions {
            // Only the flag attributes change, so a touch at the same moment is not lost; a session ended meanwhile
            // stays ended.
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("SET #ev = :ev, #tf = :tf")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#ev", items::FLAG_EMAIL_VERIFIED)
                .expression_attribute_names("#tf", items::FLAG_TWO_FACTOR)
                .expression_attribute_values(":ev", AttributeValue::Bool(flags.email_verified))
                .expression_attribute_values(":tf", AttributeValue::Bool(flags.two_factor))
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(failure("UpdateItem", &e)),
            }
        }
        Ok(())
    }

    async fn touch_session(
        &self,
        person: &PersonId,
        token_hash: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(session_key(person, token_hash)))
            .update_expression("SET #seen = :at")
            .condition_expression("attribute_exists(pk) AND #seen < :stale")
            .expression_attribute_names("#seen", items::LAST_SEEN)
            .expression_attribute_values(":at", items::n(at.timestamp_millis()))
            .expression_attribute_values(":stale", items::n(stale_before.timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(failure("UpdateItem", &e)),
        }
    }

    async fn list_sessions(&self, person: &PersonId) -> StoreResult<Vec<Session>> {
        let found = self
            .query_all(
                &Query::table(keys::person_pk(person)).range(prefix_range(keys::SESSION_PREFIX)),
            )
            .await?;
        let mut sessions = found
            .iter()
            .map(items::session_from)
            .collect::<StoreResult<Vec<_>>>()?;
        sessions.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.token_hash.cmp(&b.token_hash))
        });
        Ok(sessions)
    }

    async fn delete_session(&self, person: &PersonId, token_hash: &str) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(session_key(person, token_hash)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::NotFound),
            Err(e) => Err(failure("DeleteItem", &e)),
        }
    }

    async fn delete_sessions(&self, person: &PersonId, except: Option<&str>) -> StoreResult<u64> {
        let kept = except.map(keys::session_sk);
        let doomed: Vec<Item> = self
            .keys_with_prefix(keys::person_pk(person), keys::SESSION_PREFIX)
            .await?
            .into_iter()
            .filter(|k| items::sort_key(k) != kept.as_deref())
            .collect();
        let n = doomed.len() as u64;
        self.batch_delete(doomed).await?;
        Ok(n)
    }

    async fn put_link(&self, link: &OneTimeLink) -> StoreResult<()> {
        let writes = vec![
            self.tx_put(items::link_item(link)?, Some(Condition::absent()))?,
            self.tx_put(items::link_ref_item(link), None)?,
        ];
        self.transact(writes).await.map_err(StoreError::from)
    }

    /// A conditional delete that returns the deleted item: of two uses racing, exactly one gets it.
    async fn take_link(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OneTimeLink>> {
        let Some(item) = self
            .take_live(items::key(keys::link_pk(token_hash), keys::LINK_SK), now)
            .await?
        else {
            return Ok(None);
        };
        let link: OneTimeLink = items::data(&item, "link")?;
        // The link is used up: a reference left behind (it expires with the link) must not fail its use.
        if let Err(e) = self
            .delete(items::key(
                keys::person_pk(&link.person_id),
                keys::link_ref_sk(token_hash),
            ))
            .await
        {
            tracing::warn!(error = %e, "a used link's reference could not be removed; it expires by itself");
        }
        Ok(Some(link))
    }

    async fn delete_links(&self, person: &PersonId) -> StoreResult<()> {
        let mut doomed = Vec::new();
        for key in self
            .keys_with_prefix(keys::person_pk(person), keys::LINK_REF_PREFIX)
            .await?
        {
            if let Some(hash) =
                items::sort_key(&key).and_then(|sk| sk.strip_prefix(keys::LINK_REF_PREFIX))
            {
                doomed.push(items::key(keys::link_pk(hash), keys::LINK_SK));
            }
            doomed.push(key);
        }
        self.batch_delete(doomed).await
    }

    async fn record_sign_in(&self, entry: &SignIn) -> StoreResult<()> {
        self.put_new(items::sign_in_item(entry)?).await
    }

    async fn list_sign_ins(&self, person: &PersonId, limit: usize) -> StoreResult<Vec<SignIn>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let q = Query::table(keys::person_pk(person))
            .range(prefix_range(keys::SIGN_IN_PREFIX))
            .newest_first()
            .page_size(limit);
        let mut found = Vec::new();
        let mut start = None;
        // Sign-ins past their retention may wait for the time to live: they are skipped, so read on until `limit`.
        let now = Utc::now();
        loop {
            let (page, next) = self.query_page(&q, start).await?;
            for item in page {
                if !items::expired(&item, now) {
                    found.push(items::data::<SignIn>(&item, "sign-in")?);
                }
            }
            match next {
                Some(n) if found.len() < limit => start = Some(n),
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    /// One UpdateItem adds to a counter of the same window (or creates it); a counter of another window is replaced
    /// with a count of one, on condition that it still holds that other window. Either write may lose to another
    /// writer's, and is then tried again: every attempt is counted once, whatever runs at the same time.
    async fn count_attempt(
        &self,
        key: &str,
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<u32> {
        let window = window_start.timestamp_millis();
        let ttl_secs = expires_at.timestamp() + i64::from(expires_at.timestamp_subsec_nanos() > 0);
        for _ in 0..COUNTER_ROUNDS {
            let added = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(attempt_key(key)))
                .update_expression("SET #w = :w, #ttl = :ttl, #kind = :kind ADD #c :one")
                .condition_expression("attribute_not_exists(pk) OR #w = :w")
                .expression_attribute_names("#w", items::WINDOW)
                .expression_attribute_names("#c", items::COUNT)
                .expression_attribute_names("#ttl", TABLE.ttl_attribute)
                .expression_attribute_names("#kind", items::KIND)
                .expression_attribute_values(":kind", items::s("attempts"))
                .expression_attribute_values(":w", items::n(window))
                .expression_attribute_values(":ttl", items::n(ttl_secs))
                .expression_attribute_values(":one", items::n(1))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match added {
                Ok(out) => {
                    let count = out
                        .attributes
                        .as_ref()
                        .and_then(|a| items::get_n::<u64>(a, items::COUNT))
                        .unwrap_or(1);
                    return Ok(u32::try_from(count).unwrap_or(u32::MAX));
                }
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(failure("UpdateItem", &e)),
            }
            // The stored counter is of another window: start this one at one, unless someone already has.
            let restarted = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some({
                    let mut item = attempt_key(key);
                    item.insert(items::KIND.into(), items::s("attempts"));
                    item.insert(items::WINDOW.into(), items::n(window));
                    item.insert(items::COUNT.into(), items::n(1));
                    item.insert(TABLE.ttl_attribute.into(), items::n(ttl_secs));
                    item
                }))
                .condition_expression("attribute_exists(pk) AND #w <> :w")
                .expression_attribute_names("#w", items::WINDOW)
                .expression_attribute_values(":w", items::n(window))
                .send()
                .await;
            match restarted {
                Ok(_) => return Ok(1),
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(failure("PutItem", &e)),
            }
        }
        Err(StoreError::Throttled(
            "an attempt counter kept changing under its update".into(),
        ))
    }

    async fn attempts(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32> {
        let item = self.get(attempt_key(key)).await?;
        Ok(item
            .filter(|i| {
                items::get_n::<i64>(i, items::WINDOW) == Some(window_start.timestamp_millis())
            })
            .and_then(|i| items::get_n::<u64>(&i, items::COUNT))
            .map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)))
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        self.delete(attempt_key(key)).await
    }
}

#[async_trait]
impl MemberStore for DynamoStore {
    async fn create_workspace_with_owner(
        &self,
        workspace: &Workspace,
        owner: &Membership,
    ) -> StoreResult<()> {
        let owner = Membership {
            workspace_id: workspace.id.clone(),
            ..owner.clone()
        };
        let mut writes =
            vec![self.tx_put(items::workspace_item(workspace)?, Some(Condition::absent()))?];
        writes.extend(self.membership_writes(&owner, Condition::absent())?);
        self.transact(writes).await.map_err(StoreError::from)
    }

    async fn add_membership(&self, membership: &Membership) -> StoreResult<()> {
        let writes = self.membership_writes(membership, Condition::absent())?;
        self.transact(writes).await.map_err(StoreError::from)
    }

    async fn get_membership(
        &self,
        ws: &WorkspaceId,
        person: &PersonId,
    ) -> StoreResult<Option<Membership>> {
        self.get(member_key(ws, person))
            .await?
            .map(|item| items::membership_from(&item))
            .transpose()
    }

    async fn list_members(&self, ws: &WorkspaceId) -> StoreResult<Vec<Membership>> {
        let found = self
            .query_all(
                &Query::table(keys::workspace_pk(ws)).range(prefix_range(keys::MEMBER_PREFIX)),
            )
            .await?;
        let mut members = found
            .iter()
            .map(items::membership_from)
            .collect::<StoreResult<Vec<_>>>()?;
        members.sort_by(|a, b| (a.joined_at, &a.person_id).cmp(&(b.joined_at, &b.person_id)));
        Ok(members)
    }

    async fn memberships_of(&self, person: &PersonId) -> StoreResult<Vec<Membership>> {
        let found = self
            .query_all(
                &Query::table(keys::person_pk(person)).range(prefix_range(keys::MEMBERSHIP_PREFIX)),
            )
            .await?;
        let mut memberships = found
            .iter()
            .map(items::membership_from)
            .collect::<StoreResult<Vec<_>>>()?;
        memberships
            .sort_by(|a, b| (a.joined_at, &a.workspace_id).cmp(&(b.joined_at, &b.workspace_id)));
        Ok(memberships)
    }

    async fn update_membership(
        &self,
        membership: &Membership,
        expected_version: u64,
    ) -> StoreResult<()> {
        self.update_memberships(&[(membership.clone(), expected_version)])
            .await
    }

    async fn update_memberships(&self, changes: &[(Membership, u64)]) -> StoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut writes = Vec::with_capacity(changes.len() * 2);
        for (m, expected) in changes {
            writes.extend(self.membership_writes(m, Condition::at_version(*expected))?);
        }
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactionError::Condition(_)) => Err(self
                .missing_or_conflict(
                    changes
                        .iter()
                        .map(|(m, _)| member_key(&m.workspace_id, &m.person_id))
                        .collect(),
                )
                .await),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_membership(&self, ws: &WorkspaceId, person: &PersonId) -> StoreResult<()> {
        let writes = vec![
            self.tx_delete(member_key(ws, person), Some(Condition::present()))?,
            self.tx_delete(mirror_key(ws, person), None)?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactionError::Condition(_)) => Err(StoreError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    async fn put_invitation(&self, invitation: &Invitation) -> StoreResult<()> {
        let writes = vec![
            self.tx_put(
                items::invitation_item(invitation)?,
                Some(Condition::absent()),
            )?,
            self.tx_put(
                items::invitation_ref_item(invitation)?,
                Some(Condition::absent()),
            )?,
        ];
        self.transact(writes).await.map_err(StoreError::from)
    }

    async fn find_invitation(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        self.get(items::key(
            keys::invitation_pk(token_hash),
            keys::INVITATION_SK,
        ))
        .await?
        .filter(|item| !items::expired(item, now))
        .map(|item| items::data(&item, "invitation"))
        .transpose()
    }

    async fn take_invitation(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Invitation>> {
        let Some(item) = self
            .take_live(
                items::key(keys::invitation_pk(token_hash), keys::INVITATION_SK),
                now,
            )
            .await?
        else {
            return Ok(None);
        };
        let invitation: Invitation = items::data(&item, "invitation")?;
        // The invitation is used up: its listing item left behind (it expires with it) must not fail its use.
        if let Err(e) = self
            .delete(items::key(
                keys::workspace_pk(&invitation.workspace_id),
                keys::invitation_ref_sk(&invitation.id),
            ))
            .await
        {
            tracing::warn!(error = %e, "a used invitation's listing item could not be removed; it expires by itself");
        }
        Ok(Some(invitation))
    }

    async fn list_invitations(
        &self,
        ws: &WorkspaceId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        let found = self
            .query_all(
                &Query::table(keys::workspace_pk(ws))
                    .range(prefix_range(keys::INVITATION_REF_PREFIX)),
            )
            .await?;
        let mut open = found
            .iter()
            .filter(|item| !items::expired(item, now))
            .map(|item| items::data::<Invitation>(item, "invitation"))
            .collect::<StoreResult<Vec<_>>>()?;
        // A listing item outlives its invitation only if removing it failed after the invitation was used: the
        // invitations themselves, read in one request, say which are still open.
        if !open.is_empty() {
            let live: std::collections::HashSet<String> = self
                .batch_get(
                    open.iter()
                        .map(|i| {
                            items::key(keys::invitation_pk(&i.token_hash), keys::INVITATION_SK)
                        })
                        .collect(),
                )
                .await?
                .iter()
                .filter_map(|item| items::get_s(item, TABLE.partition_key.name))
                .map(str::to_owned)
                .collect();
            open.retain(|i| live.contains(&keys::invitation_pk(&i.token_hash)));
        }
        open.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(open)
    }

    async fn delete_invitation(&self, ws: &WorkspaceId, id: &InvitationId) -> StoreResult<()> {
        let listing = items::key(keys::workspace_pk(ws), keys::invitation_ref_sk(id));
        let item = self
            .get(listing.clone())
            .await?
            .ok_or(StoreError::NotFound)?;
        let hash = items::get_s(&item, items::REF_TOKEN_HASH)
            .ok_or_else(|| items::unreadable("invitation"))?
            .to_owned();
        let writes = vec![
            self.tx_delete(listing, Some(Condition::present()))?,
            self.tx_delete(
                items::key(keys::invitation_pk(&hash), keys::INVITATION_SK),
                None,
            )?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactionError::Condition(_)) => Err(StoreError::NotFound),
            Err(e) => Err(e.into()),
        }
    }
}
