//! The AWS adapters on an AWS wire-protocol emulator (moto server): the store on DynamoDB, data keys on KMS, the
//! delivery queue on SQS, events on EventBridge, and bootstrap. Run through `scripts/test`, which starts the
//! emulator and sets `AWS_ENDPOINT_URL`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, DurationRound, Utc};
use postora::adapters::aws::bootstrap::{bootstrap, Outcome};
use postora::adapters::aws::sqs::DELIVERY_QUEUE;
use postora::crypto::Vault;
use postora::domain::{
    Account, AccountId, AccountStatus, AuditEntry, DeletionRequest, DeletionStatus, Delivery,
    DeliveryError, DeliveryStatus, Event, EventKind, IdempotencyRecord, OAuthState, PlatformKind,
    Post, PostId, Profile, SealedTokens, TokenSet, Workspace, WorkspaceId,
};
use postora::ports::{
    AccountStore, EphemeralStore, EventBus, KeyError, KeyService, Outgoing, PostFilter, PostRecord,
    PostStore, Queue, QueueMessage, RecordStore, StoreError, WorkspaceStore,
};
use postora_test_support::aws::Emulator;
use secrecy::ExposeSecret;

/// A time with millisecond precision, as the tests compare stored times exactly.
fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(Duration::milliseconds(1))
        .expect("truncate")
}

fn workspace() -> Workspace {
    Workspace {
        id: WorkspaceId::generate(),
        name: "Acme".into(),
        wrapped_key: vec![9, 8, 7, 6],
        created_at: now(),
        settings: Default::default(),
    }
}

fn account(ws: &WorkspaceId, user: &str) -> Account {
    Account {
        id: AccountId::generate(),
        workspace_id: ws.clone(),
        platform: PlatformKind::Sandbox,
        profile: Profile {
            platform_user_id: user.into(),
            username: Some(format!("{user}-name")),
            ..Profile::default()
        },
        status: AccountStatus::Active,
        settings: serde_json::json!({"instance": "example"}),
        token_expires_at: Some(now() + Duration::days(30)),
        created_at: now(),
        updated_at: now(),
        connected_at: Some(now()),
        version: 1,
    }
}

fn post(ws: &WorkspaceId, accounts: &[AccountId], at: DateTime<Utc>) -> PostRecord {
    let p = Post {
        approval: None,
        id: PostId::generate(),
        workspace_id: ws.clone(),
        text: "Hello".into(),
        media: vec![],
        thread: vec![],
        scheduled_at: at,
        created_at: now(),
        updated_at: now(),
        version: 1,
    };
    let deliveries = accounts
        .iter()
        .map(|a| {
            Delivery::new(
                ws.clone(),
                p.id.clone(),
                a.clone(),
                PlatformKind::Sandbox,
                None,
                at,
                now(),
            )
        })
        .collect();
    PostRecord {
        post: p,
        deliveries,
    }
}

async fn raw_item(
    env: &Emulator,
    pk: &str,
    sk: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    env.clients
        .dynamodb
        .get_item()
        .table_name(&env.config.table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .send()
        .await
        .expect("get item")
        .item
        .expect("item exists")
}

#[tokio::test]
async fn workspaces_are_found_by_id_and_by_api_key_hash() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = workspace();
    store
        .create_workspace(
            &ws,
            &postora_test_support::conformance::key_record(&ws.id, "hash-1"),
        )
        .await
        .unwrap();
    assert_eq!(store.get_workspace(&ws.id).await.unwrap(), Some(ws.clone()));
    assert_eq!(
        store.workspace_for_key("hash-1").await.unwrap(),
        Some(ws.id.clone())
    );
    assert_eq!(store.workspace_for_key("hash-2").await.unwrap(), None);

    assert!(matches!(
        store
            .create_workspace(
                &ws,
                &postora_test_support::conformance::key_record(&ws.id, "hash-3")
            )
            .await,
        Err(StoreError::Conflict)
    ));
    store
        .add_api_key(&postora_test_support::conformance::key_record(
            &ws.id, "hash-2",
        ))
        .await
        .unwrap();
    assert_eq!(
        store.workspace_for_key("hash-2").await.unwrap(),
        Some(ws.id.clone())
    );
    assert!(matches!(
        store
            .add_api_key(&postora_test_support::conformance::key_record(
                &ws.id, "hash-2"
            ))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .add_api_key(&postora_test_support::conformance::key_record(
                &WorkspaceId::generate(),
                "hash-9"
            ))
            .await,
        Err(StoreError::NotFound)
    ));

    let other = workspace();
    store
        .create_workspace(
            &other,
            &postora_test_support::conformance::key_record(&other.id, "hash-4"),
        )
        .await
        .unwrap();
    let listed = store.list_workspaces().await.unwrap();
    assert_eq!(listed, vec![ws, other]);
}

#[tokio::test]
async fn reconnecting_an_account_updates_the_one_already_there() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = workspace();
    store
        .create_workspace(
            &ws,
            &postora_test_support::conformance::key_record(&ws.id, "h"),
        )
        .await
        .unwrap();
    let first = account(&ws.id, "u1");
    assert_eq!(store.upsert_account(&first).await.unwrap(), first);

    let mut again = account(&ws.id, "u1");
    again.profile.username = Some("renamed".into());
    let stored = store.upsert_account(&again).await.unwrap();
    assert_eq!(stored.id, first.id);
    assert_eq!(stored.version, first.version + 1);
    assert_eq!(stored.created_at, first.created_at);
    assert_eq!(
        store.get_account(&ws.id, &first.id).await.unwrap(),
        Some(stored.clone())
    );

    let second = account(&ws.id, "u2");
    store.upsert_account(&second).await.unwrap();
    let elsewhere = workspace();
    store
        .create_workspace(
            &elsewhere,
            &postora_test_support::conformance::key_record(&elsewhere.id, "h2"),
        )
        .await
        .unwrap();
    let same_user_elsewhere = account(&elsewhere.id, "u1");
    store.upsert_account(&same_user_elsewhere).await.unwrap();

    let mut listed = store.list_accounts(&ws.id).await.unwrap();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed, vec![stored.clone(), second]);
    let by_user = store
        .accounts_by_platform_user(PlatformKind::Sandbox, "u1")
        .await
        .unwrap();
    let ids: HashSet<_> = by_user.iter().map(|a| a.id.clone()).collect();
    assert_eq!(
        ids,
        HashSet::from([first.id.clone(), same_user_elsewhere.id])
    );

    let mut changed = stored.clone();
    changed.status = AccountStatus::NeedsReauth;
    changed.version += 1;
    assert!(matches!(
        store.update_account(&changed, stored.version + 5).await,
        Err(StoreError::Conflict)
    ));
    store
        .update_account(&changed, stored.version)
        .await
        .unwrap();
    let mut ghost = account(&ws.id, "u3");
    ghost.version = 2;
    assert!(matches!(
        store.update_account(&ghost, 1).await,
        Err(StoreError::NotFound)
    ));

    store.delete_account(&ws.id, &first.id).await.unwrap();
    assert_eq!(store.get_account(&ws.id, &first.id).await.unwrap(), None);
    // The platform user can connect again afresh.
    let fresh = account(&ws.id, "u1");
    assert_eq!(store.upsert_account(&fresh).await.unwrap().id, fresh.id);
}

#[tokio::test]
async fn tokens_are_binary_apart_from_the_account_and_never_indexed_or_expired_by_ttl() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = workspace();
    store
        .create_workspace(
            &ws,
            &postora_test_support::conformance::key_record(&ws.id, "h"),
        )
        .await
        .unwrap();
    let acc = account(&ws.id, "u1");
    store.upsert_account(&acc).await.unwrap();
    let sealed = SealedTokens {
        ciphertext: vec![0, 255, 1, 254, 42],
        version: 1,
        expires_at: Some(now() + Duration::hours(1)),
    };
    store
        .put_tokens(&ws.id, &acc.id, &sealed, None)
        .await
        .unwrap();
    assert_eq!(
        store.get_tokens(&ws.id, &acc.id).await.unwrap(),
        Some(sealed.clone())
    );

    let raw = raw_item(&env, &format!("WS#{}", ws.id), &format!("TOKEN#{}", acc.id)).await;
    assert!(matches!(raw.get("ciphertext"), Some(AttributeValue::B(_))));
    assert!(
        !raw.contains_key("expires_at"),
        "the TTL would delete the refresh token"
    );
    assert!(
        !raw.keys().any(|k| k.starts_with("gsi")),
        "tokens must not reach an index"
    );

    let next = SealedTokens {
        version: 2,
        ..sealed.clone()
    };
    store
        .put_tokens(&ws.id, &acc.id, &next, Some(1))
        .await
        .unwrap();
    assert!(matches!(
        store.put_tokens(&ws.id, &acc.id, &next, Some(1)).await,
        Err(StoreError::Conflict)
    ));
    store.delete_tokens(&ws.id, &acc.id).await.unwrap();
    assert_eq!(store.get_tokens(&ws.id, &acc.id).await.unwrap(), None);
}

#[tokio::test]
async fn the_refresher_finds_active_accounts_whose_tokens_expire_soon() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = workspace();
    store
        .create_workspace(
            &ws,
            &postora_test_support::conformance::key_record(&ws.id, "h"),
        )
        .await
        .unwrap();
    let mut soon = account(&ws.id, "soon");
    soon.token_expires_at = Some(now() + Duration::hours(2));
    let mut later = account(&ws.id, "later");
    later.token_expires_at = Some(now() + Duration::days(20));
    let mut revoked = account(&ws.id, "revoked");
    revoked.token_expires_at = Some(now() + Duration::hours(1));
    revoked.status = AccountStatus::Revoked;
    for a in [&soon, &later, &revoked] {
        store.upsert_account(a).await.unwrap();
    }
    let due = store
        .accounts_expiring_before(now() + Duration::days(1), 10, None)
        .await
        .unwrap();
    assert_eq!(due.items, vec![soon]);
    assert_eq!(due.next_cursor, None);
}

#[tokio::test]
async fn a_post_is_written_and_read_whole_with_its_deliveries() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = WorkspaceId::generate();
    let accounts = [AccountId::generate(), AccountId::generate()];
    let record = post(&ws, &accounts, now() + Duration::hours(1));
    store.create_post(&record).await.unwrap();
    let mut read = store.get_post(&ws, &record.post.id).await.unwrap().unwrap();
    read.deliveries
        .sort_by(|a, b| a.account_id.cmp(&b.account_id));
    let mut want = record.clone();
    want.deliveries
        .sort_by(|a, b| a.account_id.cmp(&b.account_id));
    assert_eq!(read, want);
    assert!(matches!(
        store.create_post(&record).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.get_post(&ws, &PostId::generate()).await.unwrap(),
        None
    );

    store.delete_post(&ws, &record.post.id).await.unwrap();
    assert_eq!(store.get_post(&ws, &record.post.id).await.unwrap(), None);
    assert_eq!(
        store
            .get_delivery(&record.deliveries[0].key())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn every_delivery_status_change_is_conditional_on_its_version() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = WorkspaceId::generate();
    let record = post(&ws, &[AccountId::generate()], now());
    store.create_post(&record).await.unwrap();
    let d = &record.deliveries[0];
    let queued = d.queue(now(), Duration::seconds(120)).unwrap();
    store.save_delivery(&queued, d.version).await.unwrap();
    assert!(matches!(
        store.save_delivery(&queued, d.version).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.get_delivery(&d.key()).await.unwrap(),
        Some(queued.clone())
    );

    let mut ghost = d.clone();
    ghost.account_id = AccountId::generate();
    assert!(matches!(
        store.save_delivery(&ghost, 1).await,
        Err(StoreError::NotFound)
    ));

    // Ten publishers race to claim the same delivery: exactly one wins.
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = env.adapters.store.clone();
        let queued = queued.clone();
        racers.spawn(async move {
            let (claimed, _) = queued
                .claim(now(), &format!("attempt-{i}"), Duration::seconds(60))
                .unwrap();
            store.save_delivery(&claimed, queued.version).await
        });
    }
    let mut wins = 0;
    while let Some(r) = racers.join_next().await {
        match r.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn due_deliveries_come_from_every_shard_earliest_first_and_expired_timers_apart() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = WorkspaceId::generate();
    let base = now();
    let mut all = Vec::new();
    for i in 0..24 {
        let record = post(&ws, &[AccountId::generate()], base + Duration::seconds(i));
        store.create_post(&record).await.unwrap();
        all.push(record.deliveries[0].clone());
    }
    let cut = base + Duration::seconds(15);
    let due = store.due_deliveries(cut, 100).await.unwrap();
    assert_eq!(due.len(), 16, "due at or before the cut, inclusive");
    let times: Vec<_> = due.iter().map(|d| d.wake_at).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert_eq!(due[0], all[0]);

    let first_five = store.due_deliveries(cut, 5).await.unwrap();
    assert_eq!(first_five, all[..5].to_vec());

    // Published deliveries leave the due index; queued ones move to the timer listing at their requeue deadline.
    let d = &all[0];
    let queued = d.queue(base, Duration::seconds(600)).unwrap();
    store.save_delivery(&queued, d.version).await.unwrap();
    let (publishing, _) = queued.claim(base, "a1", Duration::seconds(60)).unwrap();
    store
        .save_delivery(&publishing, queued.version)
        .await
        .unwrap();
    let done = publishing.published("a1", "p1".into(), None, base).unwrap();
    store
        .save_delivery(&done, publishing.version)
        .await
        .unwrap();
    let d2 = &all[1];
    let queued2 = d2.queue(base, Duration::seconds(600)).unwrap();
    store.save_delivery(&queued2, d2.version).await.unwrap();
    let due = store.due_deliveries(cut, 100).await.unwrap();
    assert_eq!(due.len(), 14);
    assert!(due
        .iter()
        .all(|x| x.key() != d.key() && x.key() != d2.key()));
    let much_later = store
        .due_deliveries(base + Duration::seconds(700), 100)
        .await
        .unwrap();
    assert_eq!(much_later.len(), 22, "only scheduled deliveries are due");

    // The queued one (due at base + 1 s) waits in the timer listing until its requeue deadline.
    assert!(store
        .expired_deliveries(base + Duration::seconds(599), 100)
        .await
        .unwrap()
        .is_empty());
    let expired = store
        .expired_deliveries(base + Duration::seconds(601), 100)
        .await
        .unwrap();
    assert_eq!(expired, vec![queued2]);
}

#[tokio::test]
async fn an_accounts_live_deliveries_are_listed_until_they_end() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = WorkspaceId::generate();
    let acc = AccountId::generate();
    let other = AccountId::generate();
    let a = post(&ws, &[acc.clone(), other.clone()], now());
    let b = post(&ws, std::slice::from_ref(&acc), now() + Duration::hours(1));
    store.create_post(&a).await.unwrap();
    store.create_post(&b).await.unwrap();
    let live = store.live_deliveries_for_account(&ws, &acc).await.unwrap();
    assert_eq!(live.len(), 2);
    assert!(live.iter().all(|d| d.account_id == acc));

    let d = live[0].clone();
    let canceled = d
        .cancel(DeliveryError::new("data_deletion", "gone"), now())
        .unwrap();
    store.save_delivery(&canceled, d.version).await.unwrap();
    let live = store.live_deliveries_for_account(&ws, &acc).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0].key(), d.key());
}

#[tokio::test]
async fn editing_a_post_is_all_or_nothing() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = WorkspaceId::generate();
    let (keep, drop) = (AccountId::generate(), AccountId::generate());
    let record = post(
        &ws,
        &[keep.clone(), drop.clone()],
        now() + Duration::hours(1),
    );
    store.create_post(&record).await.unwrap();
    let kept = record
        .deliveries
        .iter()
        .find(|d| d.account_id == keep)
        .unwrap()
        .clone();
    let dropped = record
        .deliveries
        .iter()
        .find(|d| d.account_id == drop)
        .unwrap()
        .clone();
    let later = now() + Duration::hours(2);
    let mut edited = record.post.clone();
    edited.text = "Edited".into();
    edited.scheduled_at = later;
    edited.version += 1;
    let moved = kept.reschedule(later, None, now()).unwrap();
    let added = Delivery::new(
        ws.clone(),
        record.post.id.clone(),
        AccountId::generate(),
        PlatformKind::Sandbox,
        None,
        later,
        now(),
    );

    // A stale delivery version spoils the whole edit.
    let stale = store
        .update_post(
            &edited,
            record.post.version,
            &[
                (moved.clone(), Some(kept.version + 1)),
                (added.clone(), None),
            ],
            &[(drop.clone(), dropped.version)],
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)));
    assert_eq!(
        store
            .get_post(&ws, &record.post.id)
            .await
            .unwrap()
            .unwrap()
            .post,
        record.post
    );

    store
        .update_post(
            &edited,
            record.post.version,
            &[(moved.clone(), Some(kept.version)), (added.clone(), None)],
            &[(drop.clone(), dropped.version)],
        )
        .await
        .unwrap();
    let read = store.get_post(&ws, &record.post.id).await.unwrap().unwrap();
    assert_eq!(read.post, edited);
    let accounts: HashSet<_> = read
        .deliveries
        .iter()
        .map(|d| d.account_id.clone())
        .collect();
    assert_eq!(accounts, HashSet::from([keep, added.account_id.clone()]));
    assert!(matches!(
        store
            .update_post(&edited, record.post.version, &[], &[])
            .await,
        Err(StoreError::Conflict)
    ));
}

#[tokio::test]
async fn posts_are_listed_newest_first_by_pages_and_filters() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = WorkspaceId::generate();
    let base = now();
    let mut created = Vec::new();
    for i in 0..7 {
        let accounts: Vec<_> = (0..=(i % 3)).map(|_| AccountId::generate()).collect();
        let record = post(&ws, &accounts, base + Duration::hours(i));
        store.create_post(&record).await.unwrap();
        created.push(record.post.id.clone());
    }
    // Another workspace's posts never show up.
    store
        .create_post(&post(
            &WorkspaceId::generate(),
            &[AccountId::generate()],
            base,
        ))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list_posts(&ws, &PostFilter::default(), 3, cursor.as_deref())
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        for r in &page.items {
            assert_eq!(
                r.deliveries.len(),
                r.deliveries
                    .iter()
                    .filter(|d| d.post_id == r.post.id)
                    .count()
            );
            assert!(!r.deliveries.is_empty());
        }
        seen.extend(page.items.into_iter().map(|r| r.post.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let exact = store
        .list_posts(&ws, &PostFilter::default(), 7, None)
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 7);
    assert!(exact.next_cursor.is_none(), "the last page has no cursor");

    let window = PostFilter {
        from: Some(base + Duration::hours(2)),
        to: Some(base + Duration::hours(4)),
        ..PostFilter::default()
    };
    let page = store.list_posts(&ws, &window, 10, None).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|r| r.post.id.clone()).collect();
    assert_eq!(
        ids,
        vec![created[4].clone(), created[3].clone(), created[2].clone()]
    );

    let canceled = PostFilter {
        status: Some(DeliveryStatus::Canceled),
        ..PostFilter::default()
    };
    assert!(store
        .list_posts(&ws, &canceled, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn an_oauth_state_is_taken_exactly_once_and_only_before_it_expires() {
    let env = Emulator::fresh().await;
    let store = env.adapters.store.clone();
    let state = OAuthState {
        state: "s-1".into(),
        workspace_id: WorkspaceId::generate(),
        platform: PlatformKind::Sandbox,
        pkce_verifier: Some("verifier".into()),
        redirect_uri: "https://postora.example/oauth/sandbox/callback".into(),
        return_url: None,
        expires_at: now() + Duration::minutes(10),
        pending: None,
        started_by: Some(postora::domain::ConnectStarter::ApiKey {
            key_id: "k1".into(),
        }),
        context: None,
    };
    store.put_oauth_state(&state).await.unwrap();
    let raw = raw_item(&env, "STATE#s-1", "STATE").await;
    assert!(matches!(raw.get("expires_at"), Some(AttributeValue::N(_))));

    let mut takers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        takers.spawn(async move { store.take_oauth_state("s-1", now()).await.unwrap() });
    }
    let mut taken = Vec::new();
    while let Some(r) = takers.join_next().await {
        taken.extend(r.unwrap());
    }
    assert_eq!(taken, vec![state.clone()]);

    let old = OAuthState {
        state: "s-2".into(),
        expires_at: now() - Duration::seconds(1),
        ..state
    };
    store.put_oauth_state(&old).await.unwrap();
    assert_eq!(store.take_oauth_state("s-2", now()).await.unwrap(), None);
    assert_eq!(
        store.take_oauth_state("missing", now()).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_request_until_it_expires() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = WorkspaceId::generate();
    let first = IdempotencyRecord {
        workspace_id: ws.clone(),
        key: "key-1".into(),
        request_hash: "h1".into(),
        post_id: PostId::generate(),
        expires_at: now() + Duration::hours(24),
    };
    assert_eq!(store.put_idempotency(&first, now()).await.unwrap(), None);
    let second = IdempotencyRecord {
        request_hash: "h2".into(),
        post_id: PostId::generate(),
        ..first.clone()
    };
    assert_eq!(
        store.put_idempotency(&second, now()).await.unwrap(),
        Some(first.clone())
    );
    let after_expiry = now() + Duration::hours(25);
    assert_eq!(
        store.put_idempotency(&second, after_expiry).await.unwrap(),
        None
    );
    store.delete_idempotency(&ws, "key-1").await.unwrap();
    assert_eq!(store.put_idempotency(&first, now()).await.unwrap(), None);
}

#[tokio::test]
async fn a_platform_user_has_one_deletion_request() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let request = DeletionRequest {
        confirmation_code: "c-1".into(),
        platform: PlatformKind::Threads,
        platform_user_id: "u-1".into(),
        status: DeletionStatus::Received,
        received_at: now(),
        completed_at: None,
        accounts_deleted: 0,
        deliveries_canceled: 0,
    };
    assert_eq!(store.put_deletion_request(&request).await.unwrap(), request);
    let again = DeletionRequest {
        confirmation_code: "c-2".into(),
        ..request.clone()
    };
    assert_eq!(store.put_deletion_request(&again).await.unwrap(), request);
    assert_eq!(store.get_deletion_request("c-2").await.unwrap(), None);

    let done = DeletionRequest {
        status: DeletionStatus::Completed,
        completed_at: Some(now()),
        accounts_deleted: 2,
        ..request.clone()
    };
    store.update_deletion_request(&done).await.unwrap();
    assert_eq!(store.get_deletion_request("c-1").await.unwrap(), Some(done));
    assert!(matches!(
        store.update_deletion_request(&again).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn the_audit_log_pages_newest_first() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = WorkspaceId::generate();
    let base = now();
    let mut written = Vec::new();
    for i in 0..5 {
        let e = AuditEntry::new(
            ws.clone(),
            base + Duration::seconds(i),
            "token.refreshed",
            serde_json::json!({"n": i}),
        );
        store.append_audit(&e).await.unwrap();
        written.push(e);
    }
    let first = store.list_audit(&ws, 2, None).await.unwrap();
    assert_eq!(first.items, vec![written[4].clone(), written[3].clone()]);
    let second = store
        .list_audit(&ws, 2, first.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(second.items, vec![written[2].clone(), written[1].clone()]);
    let last = store
        .list_audit(&ws, 2, second.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(last.items, vec![written[0].clone()]);
    assert!(last.next_cursor.is_none());
}

#[tokio::test]
async fn erasing_a_workspace_leaves_nothing_of_it() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = workspace();
    let keep = workspace();
    store
        .create_workspace(
            &ws,
            &postora_test_support::conformance::key_record(&ws.id, "gone-key"),
        )
        .await
        .unwrap();
    store
        .add_api_key(&postora_test_support::conformance::key_record(
            &ws.id,
            "gone-key-2",
        ))
        .await
        .unwrap();
    store
        .create_workspace(
            &keep,
            &postora_test_support::conformance::key_record(&keep.id, "kept-key"),
        )
        .await
        .unwrap();
    let acc = account(&ws.id, "u1");
    store.upsert_account(&acc).await.unwrap();
    let sealed = SealedTokens {
        ciphertext: vec![1, 2, 3],
        version: 1,
        expires_at: None,
    };
    store
        .put_tokens(&ws.id, &acc.id, &sealed, None)
        .await
        .unwrap();
    let record = post(&ws.id, std::slice::from_ref(&acc.id), now());
    store.create_post(&record).await.unwrap();
    store
        .append_audit(&AuditEntry::new(
            ws.id.clone(),
            now(),
            "account.connected",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    store
        .put_idempotency(
            &IdempotencyRecord {
                workspace_id: ws.id.clone(),
                key: "k".into(),
                request_hash: "h".into(),
                post_id: record.post.id.clone(),
                expires_at: now() + Duration::hours(1),
            },
            now(),
        )
        .await
        .unwrap();

    store.erase_workspace(&ws.id).await.unwrap();
    assert_eq!(store.get_workspace(&ws.id).await.unwrap(), None);
    assert_eq!(store.workspace_for_key("gone-key").await.unwrap(), None);
    assert_eq!(store.workspace_for_key("gone-key-2").await.unwrap(), None);
    assert!(store.list_accounts(&ws.id).await.unwrap().is_empty());
    assert_eq!(store.get_tokens(&ws.id, &acc.id).await.unwrap(), None);
    assert_eq!(store.get_post(&ws.id, &record.post.id).await.unwrap(), None);
    assert!(store
        .list_audit(&ws.id, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(store.due_deliveries(now(), 10).await.unwrap().is_empty());
    assert!(store
        .accounts_by_platform_user(PlatformKind::Sandbox, "u1")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.list_workspaces().await.unwrap(), vec![keep.clone()]);
    assert_eq!(
        store.workspace_for_key("kept-key").await.unwrap(),
        Some(keep.id)
    );
}

#[tokio::test]
async fn kms_data_keys_open_only_for_their_workspace() {
    let env = Emulator::fresh().await;
    let keys = &env.adapters.keys;
    let ws = WorkspaceId::generate();
    let (clear, wrapped) = keys.generate_data_key(&ws).await.unwrap();
    assert_ne!(wrapped.as_slice(), clear.as_slice());
    let opened = keys.decrypt_data_key(&ws, &wrapped).await.unwrap();
    assert_eq!(*opened, *clear);
    let err = keys
        .decrypt_data_key(&WorkspaceId::generate(), &wrapped)
        .await
        .unwrap_err();
    assert!(matches!(err, KeyError::Refused(_)), "{err}");
    assert!(!err.to_string().contains(&format!("{wrapped:?}")));
}

#[tokio::test]
async fn tokens_sealed_with_a_kms_data_key_open_only_on_their_own_row() {
    let env = Emulator::fresh().await;
    let store = env.adapters.store.clone();
    let vault = Vault::new(env.adapters.keys.clone(), store.clone());
    let mut ws = workspace();
    ws.wrapped_key = vault.new_workspace_key(&ws.id).await.unwrap();
    store
        .create_workspace(
            &ws,
            &postora_test_support::conformance::key_record(&ws.id, "h"),
        )
        .await
        .unwrap();
    let acc = AccountId::generate();
    let tokens = TokenSet::new("access-secret", now());
    let sealed = vault.seal(&ws.id, &acc, &tokens).await.unwrap();

    // A cold vault (another Lambda instance) unwraps the key through KMS once, then from its cache.
    let cold = Vault::new(env.adapters.keys.clone(), store.clone());
    let opened = cold.open(&ws.id, &acc, &sealed).await.unwrap();
    assert_eq!(opened.access_token.expose_secret(), "access-secret");
    cold.open(&ws.id, &acc, &sealed).await.unwrap();
    assert_eq!(cold.unwrap_count(), 1);
    assert!(cold
        .open(&ws.id, &AccountId::generate(), &sealed)
        .await
        .is_err());
}

fn message() -> QueueMessage {
    QueueMessage {
        workspace_id: WorkspaceId::generate(),
        post_id: PostId::generate(),
        account_id: AccountId::generate(),
    }
}

#[tokio::test]
async fn each_message_waits_for_its_own_delay() {
    let env = Emulator::fresh().await;
    let queue = &env.adapters.queue;
    let (now_msg, later_msg) = (message(), message());
    queue
        .send(&[
            Outgoing {
                message: now_msg.clone(),
                delay: StdDuration::ZERO,
            },
            Outgoing {
                message: later_msg.clone(),
                delay: StdDuration::from_secs(2),
            },
        ])
        .await
        .unwrap();
    let first = queue.receive(10, StdDuration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    let body: QueueMessage = serde_json::from_str(&first[0].body).unwrap();
    assert_eq!(body, now_msg);
    assert_eq!(first[0].receive_count, 1);
    queue.ack(&first[0].receipt).await.unwrap();

    tokio::time::sleep(StdDuration::from_millis(2200)).await;
    let second = queue.receive(10, StdDuration::from_secs(2)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(
        serde_json::from_str::<QueueMessage>(&second[0].body).unwrap(),
        later_msg
    );
}

#[tokio::test]
async fn sending_many_messages_goes_out_in_batches_of_ten() {
    let env = Emulator::fresh().await;
    let queue = &env.adapters.queue;
    let outgoing: Vec<_> = (0..25)
        .map(|_| Outgoing {
            message: message(),
            delay: StdDuration::ZERO,
        })
        .collect();
    queue.send(&outgoing).await.unwrap();
    assert_eq!(
        env.metrics.snapshot().operation("SQS", "SendMessageBatch"),
        3
    );
    let mut got = HashSet::new();
    for _ in 0..10 {
        for r in queue.receive(10, StdDuration::from_secs(1)).await.unwrap() {
            got.insert(r.body.clone());
            queue.ack(&r.receipt).await.unwrap();
        }
        if got.len() == 25 {
            break;
        }
    }
    assert_eq!(got.len(), 25);
}

#[tokio::test]
async fn a_message_retried_too_often_is_parked_and_can_be_redriven() {
    let env = Emulator::fresh().await;
    let queue = &env.adapters.queue;
    let m = message();
    queue
        .send(&[Outgoing {
            message: m.clone(),
            delay: StdDuration::ZERO,
        }])
        .await
        .unwrap();
    for attempt in 1..=DELIVERY_QUEUE.max_receive_count {
        let got = queue.receive(1, StdDuration::from_secs(1)).await.unwrap();
        assert_eq!(got.len(), 1, "receive {attempt}");
        assert_eq!(got[0].receive_count, attempt);
        queue
            .retry_later(&got[0].receipt, StdDuration::ZERO)
            .await
            .unwrap();
    }
    assert!(queue
        .receive(1, StdDuration::from_secs(1))
        .await
        .unwrap()
        .is_empty());

    let parked = queue.dead_letters(10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        serde_json::from_str::<QueueMessage>(&parked[0].body).unwrap(),
        m
    );
    // Looking does not remove.
    assert_eq!(queue.dead_letters(10).await.unwrap().len(), 1);

    assert_eq!(queue.redrive().await.unwrap(), 1);
    assert!(queue.dead_letters(10).await.unwrap().is_empty());
    let back = queue.receive(1, StdDuration::from_secs(1)).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(
        serde_json::from_str::<QueueMessage>(&back[0].body).unwrap(),
        m
    );
}

#[tokio::test]
async fn events_reach_rules_on_postoras_bus() {
    let env = Emulator::fresh().await;
    let sqs = &env.clients.sqs;
    let eb = &env.clients.eventbridge;
    let target = sqs
        .create_queue()
        .queue_name(format!("{}-events", env.config.table))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let target_arn = sqs
        .get_queue_attributes()
        .queue_url(&target)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .unwrap();
    eb.put_rule()
        .name("published")
        .event_bus_name(&env.config.event_bus)
        .event_pattern(r#"{"source":["postora"],"detail-type":["post.published"]}"#)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("published")
        .event_bus_name(&env.config.event_bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(target_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let ws = WorkspaceId::generate();
    let mut events: Vec<_> = (0..12)
        .map(|i| {
            Event::new(
                EventKind::PostPublished,
                Some(ws.clone()),
                now(),
                serde_json::json!({"n": i}),
            )
        })
        .collect();
    events.push(Event::new(
        EventKind::PostFailed,
        Some(ws),
        now(),
        serde_json::json!({}),
    ));
    env.adapters.bus.publish(&events).await.unwrap();
    assert_eq!(
        env.metrics.snapshot().operation("EventBridge", "PutEvents"),
        2
    );

    let mut seen = Vec::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&target)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            let envelope: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(envelope["source"], "postora");
            assert_eq!(envelope["detail-type"], "post.published");
            seen.push(envelope["detail"]["id"].as_str().unwrap().to_owned());
        }
        if seen.len() >= 12 {
            break;
        }
    }
    let want: HashSet<_> = events[..12].iter().map(|e| e.id.clone()).collect();
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), want);
}

#[tokio::test]
async fn bootstrap_twice_changes_nothing() {
    let env = Emulator::fresh().await;
    assert!(env.bootstrap.changed());
    assert!(env
        .bootstrap
        .steps
        .iter()
        .any(|s| s.resource.starts_with("table") && s.outcome == Outcome::Created));
    let again = bootstrap(&env.clients, &env.config).await.unwrap();
    assert!(!again.changed(), "{again}");
    assert_eq!(again.queue_url, env.bootstrap.queue_url);
    // The same key, found by its alias, not a second one (other tests make keys of their own in the same emulator, so
    // the emulator's count of keys says nothing).
    assert_eq!(again.key_arn, env.bootstrap.key_arn);

    let ttl = env
        .clients
        .dynamodb
        .describe_time_to_live()
        .table_name(&env.config.table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description.unwrap().attribute_name(),
        Some("expires_at")
    );
    let attrs = env
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&again.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let redrive = &attrs[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy];
    assert!(redrive.contains("deadLetterTargetArn"), "{redrive}");
}

#[tokio::test]
async fn requests_are_counted_by_service_and_operation() {
    let env = Emulator::fresh().await;
    let store = &env.adapters.store;
    let ws = workspace();
    store
        .create_workspace(
            &ws,
            &postora_test_support::conformance::key_record(&ws.id, "h"),
        )
        .await
        .unwrap();
    store.get_workspace(&ws.id).await.unwrap();
    store.get_workspace(&ws.id).await.unwrap();
    env.adapters.keys.generate_data_key(&ws.id).await.unwrap();
    let counts = env.metrics.snapshot();
    assert_eq!(counts.operation("DynamoDB", "GetItem"), 2);
    assert_eq!(counts.operation("DynamoDB", "TransactWriteItems"), 1);
    assert_eq!(counts.service("KMS"), 1);
    assert_eq!(counts.total(), 4);
}

#[tokio::test]
async fn store_errors_never_carry_item_contents() {
    let env = Emulator::fresh().await;
    let wrong = Arc::new(postora::adapters::aws::DynamoStore::new(
        env.clients.dynamodb.clone(),
        "no-such-table",
    ));
    let err = wrong
        .put_tokens(
            &WorkspaceId::generate(),
            &AccountId::generate(),
            &SealedTokens {
                ciphertext: b"very-secret-ciphertext".to_vec(),
                version: 1,
                expires_at: None,
            },
            None,
        )
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, StoreError::Unavailable(_)), "{shown}");
    assert!(!shown.contains("very-secret"), "{shown}");
}
