//! The port conformance suite: one set of behaviours every adapter must show, run against the local adapters and,
//! on an AWS wire-protocol emulator, against the AWS ones. Each function panics with a message on the first
//! behaviour that differs.

use std::time::Duration;

use chrono::{DurationRound, Utc};

use postora::domain::options::BlueskyOptions;
use postora::domain::{
    Account, AccountId, AccountStatus, ApiKeyRecord, AuditEntry, DeletionRequest, DeletionStatus,
    Delivery, DeliveryError, DeliveryStatus, IdempotencyRecord, Media, MediaId, MediaKind,
    OAuthState, PlatformKind, Post, PostId, Profile, SealedTokens, TargetOptions, ThreadPart,
    Workspace, WorkspaceId,
};
use postora::ports::{
    KeyService, Outgoing, PostFilter, PostRecord, Queue, QueueMessage, StoreError, Stores,
};

pub mod media;
pub mod people;

fn now() -> chrono::DateTime<Utc> {
    // Stores keep milliseconds.
    Utc::now()
        .duration_trunc(chrono::Duration::milliseconds(1))
        .unwrap()
}

/// What a store keeps of an API key whose SHA-256 is `hash`, created now, with an id taken from the hash.
pub fn key_record(ws: &WorkspaceId, hash: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        workspace_id: ws.clone(),
        id: postora::domain::workspace::legacy_api_key_id(
            &postora::domain::workspace::hash_api_key(hash),
        ),
        hash: hash.to_owned(),
        label: None,
        role: postora::domain::Role::Owner,
        created_at: Some(now()),
        last_used_at: None,
        legacy: false,
    }
}

fn workspace(name: &str) -> Workspace {
    Workspace {
        id: WorkspaceId::generate(),
        name: name.to_owned(),
        wrapped_key: vec![1, 2, 3],
        created_at: now(),
        settings: Default::default(),
    }
}

fn account(ws: &WorkspaceId, platform: PlatformKind, user: &str) -> Account {
    Account {
        id: AccountId::generate(),
        workspace_id: ws.clone(),
        platform,
        profile: Profile {
            platform_user_id: user.to_owned(),
            username: Some(format!("{user}-name")),
            display_name: Some("A Person".into()),
            picture_url: None,
            biography: Some("bio".into()),
            granted_by: None,
        },
        status: AccountStatus::Active,
        settings: serde_json::json!({"k": "v"}),
        token_expires_at: None,
        created_at: now(),
        updated_at: now(),
        connected_at: Some(now()),
        version: 1,
    }
}

fn post(ws: &WorkspaceId, at: chrono::DateTime<Utc>, accounts: &[&AccountId]) -> PostRecord {
    let post = Post {
        approval: None,
        id: PostId::generate(),
        workspace_id: ws.clone(),
        text: "hello".into(),
        media: vec![Media {
            media_id: MediaId::generate(),
            alt: Some("alt".into()),
            kind: MediaKind::Image,
        }],
        thread: vec![ThreadPart {
            text: "and a reply".into(),
            media: Vec::new(),
        }],
        scheduled_at: at,
        created_at: now(),
        updated_at: now(),
        version: 1,
    };
    let deliveries = accounts
        .iter()
        .map(|a| Delivery {
            options: Some(TargetOptions::Bluesky(BlueskyOptions {
                langs: vec!["en".into()],
            })),
            ..Delivery::new(
                ws.clone(),
                post.id.clone(),
                (*a).clone(),
                PlatformKind::Sandbox,
                None,
                at,
                now(),
            )
        })
        .collect();
    PostRecord { post, deliveries }
}

/// Every store port.
pub async fn stores(s: &Stores) {
    workspaces(s).await;
    api_keys(s).await;
    accounts_and_tokens(s).await;
    posts_and_deliveries(s).await;
    publishing(s).await;
    listing_posts(s).await;
    ephemeral_records(s).await;
    deletion_and_audit(s).await;
    media::records(s).await;
    client_registrations(s).await;
    people::people(s).await;
}

/// Client registrations: one per platform and server, the first kept, the loser of a race handed the winner's,
/// removed only by the client id that was seen, and the sealed secret and wrapped key kept byte for byte.
pub async fn client_registrations(s: &Stores) {
    use postora::ports::StoredRegistration;
    let r = &s.registrations;
    let server = format!(
        "https://{}.example",
        WorkspaceId::generate().as_str().replace('_', "-")
    );
    let made = |client_id: &str| StoredRegistration {
        platform: PlatformKind::Mastodon,
        server: server.clone(),
        client_id: client_id.to_owned(),
        redirect_uri: "https://postora.example/oauth/callback/mastodon".into(),
        sealed_secret: vec![1, 0, 255, 7, client_id.len() as u8],
        wrapped_key: vec![9, 8, 7, 0, 1],
        created_at: now(),
    };
    assert_eq!(
        r.get_registration(PlatformKind::Mastodon, &server)
            .await
            .unwrap(),
        None
    );
    let first = made("client-a");
    assert_eq!(r.put_registration_if_absent(&first).await.unwrap(), first);
    assert_eq!(
        r.get_registration(PlatformKind::Mastodon, &server)
            .await
            .unwrap(),
        Some(first.clone()),
        "a registration reads back byte for byte"
    );
    // Another platform's registration with the same server is another record.
    assert_eq!(
        r.get_registration(PlatformKind::Bluesky, &server)
            .await
            .unwrap(),
        None
    );
    // A second registration loses and is handed the first.
    assert_eq!(
        r.put_registration_if_absent(&made("client-b"))
            .await
            .unwrap(),
        first
    );
    // Two at once: both end with the same one.
    let other = format!("{server}.two");
    let (x, y) = (
        StoredRegistration {
            server: other.clone(),
            ..made("client-x")
        },
        StoredRegistration {
            server: other.clone(),
            ..made("client-y")
        },
    );
    let (kx, ky) = tokio::join!(
        r.put_registration_if_absent(&x),
        r.put_registration_if_absent(&y)
    );
    let (kx, ky) = (kx.unwrap(), ky.unwrap());
    assert_eq!(kx, ky, "racing registrations end with one winner");
    assert!(kx == x || kx == y);
    // Removing names the client id seen: a stale id removes nothing.
    assert!(!r
        .remove_registration(PlatformKind::Mastodon, &server, "client-b")
        .await
        .unwrap());
    assert!(r
        .remove_registration(PlatformKind::Mastodon, &server, "client-a")
        .await
        .unwrap());
    assert_eq!(
        r.get_registration(PlatformKind::Mastodon, &server)
            .await
            .unwrap(),
        None
    );
    let again = made("client-c");
    assert_eq!(r.put_registration_if_absent(&again).await.unwrap(), again);
}

pub async fn workspaces(s: &Stores) {
    let w = workspace("acme");
    s.workspaces
        .create_workspace(&w, &key_record(&w.id, "hash-acme"))
        .await
        .unwrap();
    assert!(
        matches!(
            s.workspaces
                .create_workspace(&w, &key_record(&w.id, "hash-other"))
                .await,
            Err(StoreError::Conflict)
        ),
        "creating a workspace twice must conflict"
    );
    assert_eq!(
        s.workspaces.get_workspace(&w.id).await.unwrap(),
        Some(w.clone())
    );
    assert_eq!(
        s.workspaces.workspace_for_key("hash-acme").await.unwrap(),
        Some(w.id.clone())
    );
    assert_eq!(
        s.workspaces.workspace_for_key("hash-nobody").await.unwrap(),
        None
    );
    s.workspaces
        .add_api_key(&key_record(&w.id, "hash-acme-2"))
        .await
        .unwrap();
    assert_eq!(
        s.workspaces.workspace_for_key("hash-acme-2").await.unwrap(),
        Some(w.id.clone())
    );
    assert!(s
        .workspaces
        .list_workspaces()
        .await
        .unwrap()
        .iter()
        .any(|x| x.id == w.id));

    let acc = account(&w.id, PlatformKind::Sandbox, "erase-me");
    s.accounts.upsert_account(&acc).await.unwrap();
    let sealed = SealedTokens {
        ciphertext: vec![9; 40],
        version: 1,
        expires_at: None,
    };
    s.accounts
        .put_tokens(&w.id, &acc.id, &sealed, None)
        .await
        .unwrap();
    let rec = post(&w.id, now(), &[&acc.id]);
    s.posts.create_post(&rec).await.unwrap();
    s.records
        .append_audit(&AuditEntry::new(
            w.id.clone(),
            now(),
            "test.entry",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    s.workspaces.erase_workspace(&w.id).await.unwrap();
    assert_eq!(s.workspaces.get_workspace(&w.id).await.unwrap(), None);
    assert_eq!(
        s.workspaces.workspace_for_key("hash-acme").await.unwrap(),
        None,
        "erase removes API keys"
    );
    assert_eq!(
        s.accounts.get_account(&w.id, &acc.id).await.unwrap(),
        None,
        "erase removes accounts"
    );
    assert_eq!(
        s.accounts.get_tokens(&w.id, &acc.id).await.unwrap(),
        None,
        "erase removes tokens"
    );
    assert_eq!(
        s.posts.get_post(&w.id, &rec.post.id).await.unwrap(),
        None,
        "erase removes posts"
    );
    assert!(
        s.posts
            .get_delivery(&rec.deliveries[0].key())
            .await
            .unwrap()
            .is_none(),
        "erase removes deliveries"
    );
    assert!(
        s.records
            .list_audit(&w.id, 10, None)
            .await
            .unwrap()
            .items
            .is_empty(),
        "erase removes the audit log"
    );
}

/// API keys: listed with their ids, labels and times, revoked by id (at once, and only in their workspace), their
/// use recorded by a conditional write that never brings a revoked key back.
pub async fn api_keys(s: &Stores) {
    let w = workspace("keys");
    let first = key_record(&w.id, &format!("k1-{}", w.id));
    s.workspaces.create_workspace(&w, &first).await.unwrap();
    let second = ApiKeyRecord {
        label: Some("ci".into()),
        created_at: Some(now() + chrono::Duration::seconds(1)),
        ..key_record(&w.id, &format!("k2-{}", w.id))
    };
    s.workspaces.add_api_key(&second).await.unwrap();
    assert!(
        matches!(
            s.workspaces.add_api_key(&second).await,
            Err(StoreError::Conflict)
        ),
        "a key's hash is stored once"
    );
    assert!(
        matches!(
            s.workspaces
                .add_api_key(&key_record(&WorkspaceId::generate(), "k-nowhere"))
                .await,
            Err(StoreError::NotFound)
        ),
        "a key needs its workspace"
    );
    assert_eq!(
        s.workspaces.list_api_keys(&w.id).await.unwrap(),
        vec![first.clone(), second.clone()],
        "keys are listed oldest first, with id, label and creation time"
    );
    assert_eq!(
        s.workspaces.find_api_key(&second.hash).await.unwrap(),
        Some(second.clone())
    );

    // Last used: one conditional write while the stored time is stale, none while it is fresh.
    let t1 = now();
    let every = chrono::Duration::minutes(15);
    assert!(s
        .workspaces
        .touch_api_key(&first.hash, t1, t1 - every)
        .await
        .unwrap());
    let t2 = t1 + chrono::Duration::seconds(5);
    assert!(
        !s.workspaces
            .touch_api_key(&first.hash, t2, t2 - every)
            .await
            .unwrap(),
        "a fresh last-used time is not written again"
    );
    let found = s
        .workspaces
        .find_api_key(&first.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.last_used_at, Some(t1));
    let t3 = t1 + every + chrono::Duration::seconds(1);
    assert!(s
        .workspaces
        .touch_api_key(&first.hash, t3, t3 - every)
        .await
        .unwrap());
    assert_eq!(
        s.workspaces.list_api_keys(&w.id).await.unwrap()[0].last_used_at,
        Some(t3)
    );

    // Revoking: by id, only in the key's workspace, at once.
    let other = workspace("not-keys");
    s.workspaces
        .create_workspace(&other, &key_record(&other.id, &format!("k3-{}", other.id)))
        .await
        .unwrap();
    assert!(
        matches!(
            s.workspaces.revoke_api_key(&other.id, &second.id).await,
            Err(StoreError::NotFound)
        ),
        "another workspace cannot revoke a key"
    );
    assert_eq!(
        s.workspaces
            .revoke_api_key(&w.id, &second.id)
            .await
            .unwrap(),
        second
    );
    assert_eq!(
        s.workspaces.find_api_key(&second.hash).await.unwrap(),
        None,
        "a revoked key is gone at once"
    );
    assert!(matches!(
        s.workspaces.revoke_api_key(&w.id, &second.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !s.workspaces
            .touch_api_key(&second.hash, t3, t3)
            .await
            .unwrap(),
        "touching a revoked key writes nothing"
    );
    assert_eq!(
        s.workspaces.find_api_key(&second.hash).await.unwrap(),
        None,
        "and does not bring it back"
    );
    assert_eq!(
        s.workspaces.list_api_keys(&w.id).await.unwrap(),
        vec![ApiKeyRecord {
            last_used_at: Some(t3),
            ..first.clone()
        }]
    );

    // A key stored before keys had ids: named by the start of its hash, and revocable by it.
    let old_hash = postora::domain::workspace::hash_api_key(&format!("old-{}", w.id));
    let legacy = ApiKeyRecord {
        id: postora::domain::workspace::legacy_api_key_id(&old_hash),
        hash: old_hash,
        created_at: None,
        legacy: true,
        ..key_record(&w.id, "unused")
    };
    s.workspaces.add_api_key(&legacy).await.unwrap();
    assert_eq!(
        s.workspaces.list_api_keys(&w.id).await.unwrap()[0],
        legacy,
        "a legacy key, without a creation time, comes first"
    );
    assert_eq!(
        s.workspaces
            .revoke_api_key(&w.id, &legacy.id)
            .await
            .unwrap(),
        legacy
    );

    s.workspaces.erase_workspace(&w.id).await.unwrap();
    assert!(s.workspaces.list_api_keys(&w.id).await.unwrap().is_empty());
    assert_eq!(s.workspaces.find_api_key(&first.hash).await.unwrap(), None);
}

pub async fn accounts_and_tokens(s: &Stores) {
    let w1 = workspace("one");
    let w2 = workspace("two");
    s.workspaces
        .create_workspace(&w1, &key_record(&w1.id, &format!("h-{}", w1.id)))
        .await
        .unwrap();
    s.workspaces
        .create_workspace(&w2, &key_record(&w2.id, &format!("h-{}", w2.id)))
        .await
        .unwrap();
    let user = format!("user-{}", uuid::Uuid::new_v4().simple());

    let a = account(&w1.id, PlatformKind::Threads, &user);
    let stored = s.accounts.upsert_account(&a).await.unwrap();
    assert_eq!(stored, a);
    // Reconnecting the same platform user in the same workspace keeps the account id.
    let mut again = account(&w1.id, PlatformKind::Threads, &user);
    again.profile.display_name = Some("New Name".into());
    let merged = s.accounts.upsert_account(&again).await.unwrap();
    assert_eq!(merged.id, a.id, "a reconnect keeps the account id");
    assert_eq!(
        merged.created_at, a.created_at,
        "a reconnect keeps the creation time"
    );
    assert_eq!(
        merged.connected_at, again.connected_at,
        "a reconnect records when the new grant began"
    );
    assert_eq!(merged.profile.display_name.as_deref(), Some("New Name"));
    assert!(merged.version > a.version);
    assert_eq!(
        s.accounts.get_account(&w1.id, &a.id).await.unwrap(),
        Some(merged.clone())
    );

    let b = account(&w2.id, PlatformKind::Threads, &user);
    s.accounts.upsert_account(&b).await.unwrap();
    let other = account(&w2.id, PlatformKind::Instagram, &user);
    s.accounts.upsert_account(&other).await.unwrap();
    let mut by_user = s
        .accounts
        .accounts_by_platform_user(PlatformKind::Threads, &user)
        .await
        .unwrap();
    by_user.sort_by(|x, y| x.id.cmp(&y.id));
    let mut ids: Vec<_> = by_user.iter().map(|x| x.id.clone()).collect();
    ids.sort();
    let mut want = vec![a.id.clone(), b.id.clone()];
    want.sort();
    assert_eq!(
        ids, want,
        "the platform-user lookup spans workspaces and only that platform"
    );
    // A Page reached through the person's login is found by the person, not by the Page's own id.
    let mut page = account(&w2.id, PlatformKind::Facebook, &format!("page-{user}"));
    page.profile.granted_by = Some(user.clone());
    let page = s.accounts.upsert_account(&page).await.unwrap();
    let found = s
        .accounts
        .accounts_by_platform_user(PlatformKind::Facebook, &user)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|x| &x.id).collect::<Vec<_>>(),
        vec![&page.id],
        "accounts are found by the user who granted access"
    );
    assert!(s
        .accounts
        .accounts_by_platform_user(PlatformKind::Facebook, &page.profile.platform_user_id)
        .await
        .unwrap()
        .is_empty());
    let scrubbed = page.scrubbed(AccountStatus::Deleted, now());
    s.accounts
        .update_account(&scrubbed, page.version)
        .await
        .unwrap();
    assert_eq!(
        s.accounts
            .accounts_by_platform_user(PlatformKind::Facebook, &user)
            .await
            .unwrap(),
        vec![scrubbed],
        "a scrubbed account is still found, so a repeated deletion request finds what it emptied"
    );

    assert_eq!(s.accounts.list_accounts(&w2.id).await.unwrap().len(), 3);
    assert_eq!(
        s.accounts.get_account(&w2.id, &a.id).await.unwrap(),
        None,
        "another workspace's account is invisible"
    );

    // Conditional update.
    let mut changed = merged.clone();
    changed.status = AccountStatus::NeedsReauth;
    changed.version += 1;
    s.accounts
        .update_account(&changed, merged.version)
        .await
        .unwrap();
    assert!(
        matches!(
            s.accounts.update_account(&changed, merged.version).await,
            Err(StoreError::Conflict)
        ),
        "a stale account version must conflict"
    );

    // Tokens, with serialized refresh.
    let t1 = SealedTokens {
        ciphertext: vec![1; 48],
        version: 1,
        expires_at: Some(now()),
    };
    s.accounts
        .put_tokens(&w1.id, &a.id, &t1, None)
        .await
        .unwrap();
    assert_eq!(
        s.accounts.get_tokens(&w1.id, &a.id).await.unwrap(),
        Some(t1.clone())
    );
    let t2 = SealedTokens {
        ciphertext: vec![2; 48],
        version: 2,
        expires_at: None,
    };
    s.accounts
        .put_tokens(&w1.id, &a.id, &t2, Some(1))
        .await
        .unwrap();
    let t3 = SealedTokens {
        ciphertext: vec![3; 48],
        version: 2,
        expires_at: None,
    };
    assert!(
        matches!(
            s.accounts.put_tokens(&w1.id, &a.id, &t3, Some(1)).await,
            Err(StoreError::Conflict)
        ),
        "a refresh that lost the race must conflict"
    );
    assert_eq!(
        s.accounts.get_tokens(&w1.id, &a.id).await.unwrap(),
        Some(t2)
    );
    s.accounts.delete_tokens(&w1.id, &a.id).await.unwrap();
    assert_eq!(s.accounts.get_tokens(&w1.id, &a.id).await.unwrap(), None);

    // Expiry listing.
    let mut expiring = account(&w2.id, PlatformKind::Bluesky, &user);
    expiring.token_expires_at = Some(now() + chrono::Duration::hours(1));
    s.accounts.upsert_account(&expiring).await.unwrap();
    let soon = s
        .accounts
        .accounts_expiring_before(now() + chrono::Duration::hours(2), 1000, None)
        .await
        .unwrap();
    assert!(soon.items.iter().any(|x| x.id == expiring.id));
    let later = s
        .accounts
        .accounts_expiring_before(now(), 1000, None)
        .await
        .unwrap();
    assert!(!later.items.iter().any(|x| x.id == expiring.id));

    // Paged: every account due exactly once, soonest first, whatever the page size; a cursor not issued is refused.
    let base = now() + chrono::Duration::days(3000);
    let mut due = Vec::new();
    for i in 0..7i64 {
        let mut a = account(&w2.id, PlatformKind::Sandbox, &format!("{user}-exp-{i}"));
        // Two share an expiry: the listing orders them by workspace and id.
        a.token_expires_at = Some(base + chrono::Duration::minutes(i.min(5)));
        due.push(s.accounts.upsert_account(&a).await.unwrap());
    }
    let mut not_yet = account(&w2.id, PlatformKind::Sandbox, &format!("{user}-exp-late"));
    not_yet.token_expires_at = Some(base + chrono::Duration::hours(1));
    s.accounts.upsert_account(&not_yet).await.unwrap();
    let until = base + chrono::Duration::minutes(30);
    for page_size in [1, 3, 7, 50] {
        let mut listed = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = s
                .accounts
                .accounts_expiring_before(until, page_size, cursor.as_deref())
                .await
                .unwrap();
            assert!(page.items.len() <= page_size);
            listed.extend(page.items);
            pages += 1;
            assert!(pages < 100, "the listing ends");
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let ours: Vec<AccountId> = listed
            .iter()
            .filter(|a| a.workspace_id == w2.id && a.token_expires_at >= Some(base))
            .map(|a| a.id.clone())
            .collect();
        let mut expected: Vec<&Account> = due.iter().collect();
        expected.sort_by(|a, b| {
            (a.token_expires_at, &a.workspace_id, &a.id).cmp(&(
                b.token_expires_at,
                &b.workspace_id,
                &b.id,
            ))
        });
        assert_eq!(
            ours,
            expected.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
            "page size {page_size}: every account due once, soonest first"
        );
        assert!(listed
            .windows(2)
            .all(|w| w[0].token_expires_at <= w[1].token_expires_at));
    }
    assert!(matches!(
        s.accounts
            .accounts_expiring_before(until, 10, Some("not a cursor \u{1F4A5}"))
            .await,
        Err(StoreError::NotFound)
    ));
    for a in due.iter().chain([&not_yet]) {
        s.accounts.delete_account(&w2.id, &a.id).await.unwrap();
    }

    s.accounts.delete_account(&w2.id, &b.id).await.unwrap();
    assert_eq!(s.accounts.get_account(&w2.id, &b.id).await.unwrap(), None);
}

pub async fn posts_and_deliveries(s: &Stores) {
    let w = workspace("posts");
    s.workspaces
        .create_workspace(&w, &key_record(&w.id, &format!("h-{}", w.id)))
        .await
        .unwrap();
    let (a1, a2) = (AccountId::generate(), AccountId::generate());
    let t0 = now() + chrono::Duration::days(3650);
    let rec = post(&w.id, t0, &[&a1, &a2]);
    s.posts.create_post(&rec).await.unwrap();
    assert!(matches!(
        s.posts.create_post(&rec).await,
        Err(StoreError::Conflict)
    ));
    let got = s
        .posts
        .get_post(&w.id, &rec.post.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.post, rec.post);
    assert_eq!(got.deliveries.len(), 2);
    let other = workspace("other");
    assert_eq!(
        s.posts.get_post(&other.id, &rec.post.id).await.unwrap(),
        None
    );

    // Due index: only deliveries whose timer has passed, earliest first.
    let due = s
        .posts
        .due_deliveries(t0 - chrono::Duration::seconds(1), 10_000)
        .await
        .unwrap();
    assert!(!due.iter().any(|d| d.post_id == rec.post.id), "not due yet");
    let due = s.posts.due_deliveries(t0, 10_000).await.unwrap();
    assert_eq!(due.iter().filter(|d| d.post_id == rec.post.id).count(), 2);
    assert!(
        due.windows(2).all(|p| p[0].wake_at <= p[1].wake_at),
        "due deliveries come earliest first"
    );

    // A delivery held for approval is in neither the due nor the timer listing, however late it is, yet it is live;
    // once approved it is due.
    let a3 = AccountId::generate();
    let mut held = post(&w.id, t0, &[&a3]);
    held.deliveries = held
        .deliveries
        .iter()
        .map(|d| d.hold_for_approval(now()).unwrap())
        .collect();
    s.posts.create_post(&held).await.unwrap();
    let late = t0 + chrono::Duration::days(30);
    let due = s.posts.due_deliveries(late, 10_000).await.unwrap();
    assert!(
        !due.iter().any(|d| d.post_id == held.post.id),
        "a delivery pending approval is never due"
    );
    let expired = s.posts.expired_deliveries(late, 10_000).await.unwrap();
    assert!(!expired.iter().any(|d| d.post_id == held.post.id));
    let live = s
        .posts
        .live_deliveries_for_account(&w.id, &a3)
        .await
        .unwrap();
    assert_eq!(
        live.len(),
        1,
        "a held delivery is live (a disconnect cancels it)"
    );
    let h = &held.deliveries[0];
    let approved = h.approve(now()).unwrap();
    s.posts.save_delivery(&approved, h.version).await.unwrap();
    let due = s.posts.due_deliveries(t0, 10_000).await.unwrap();
    assert!(
        due.iter().any(|d| d.key() == approved.key()),
        "approved, it is due"
    );
    s.posts.delete_post(&w.id, &held.post.id).await.unwrap();

    // Conditional transitions.
    let d = got.deliveries[0].clone();
    let queued = d.queue(t0, chrono::Duration::seconds(120)).unwrap();
    s.posts.save_delivery(&queued, d.version).await.unwrap();
    assert!(
        matches!(
            s.posts.save_delivery(&queued, d.version).await,
            Err(StoreError::Conflict)
        ),
        "two dispatchers cannot queue the same delivery"
    );
    assert_eq!(
        s.posts.get_delivery(&d.key()).await.unwrap(),
        Some(queued.clone())
    );
    let (claimed, _) = queued
        .claim(t0, "attempt-1", chrono::Duration::seconds(60))
        .unwrap();
    s.posts
        .save_delivery(&claimed, queued.version)
        .await
        .unwrap();
    let done = claimed
        .published("attempt-1", "p1".into(), Some("https://x/p1".into()), t0)
        .unwrap();
    s.posts.save_delivery(&done, claimed.version).await.unwrap();
    let far = s
        .posts
        .due_deliveries(t0 + chrono::Duration::days(1), 10_000)
        .await
        .unwrap();
    assert!(
        !far.iter().any(|x| x.key() == done.key()),
        "a published delivery leaves the due index"
    );
    let live = s
        .posts
        .live_deliveries_for_account(&w.id, &a2)
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    assert!(s
        .posts
        .live_deliveries_for_account(&w.id, &a1)
        .await
        .unwrap()
        .is_empty());

    // An edit is all or nothing.
    let fresh = s
        .posts
        .get_post(&w.id, &rec.post.id)
        .await
        .unwrap()
        .unwrap();
    let mut edited = fresh.post.clone();
    edited.text = "edited".into();
    edited.version += 1;
    let d2 = fresh
        .deliveries
        .iter()
        .find(|x| x.account_id == a2)
        .unwrap()
        .clone();
    let moved = d2
        .reschedule(t0 + chrono::Duration::hours(1), None, now())
        .unwrap();
    let a3 = AccountId::generate();
    let added = Delivery::new(
        w.id.clone(),
        rec.post.id.clone(),
        a3.clone(),
        PlatformKind::Sandbox,
        None,
        t0,
        now(),
    );
    // Stale version for d2: nothing may change.
    let stale = s
        .posts
        .update_post(
            &edited,
            fresh.post.version,
            &[(moved.clone(), Some(d2.version - 1)), (added.clone(), None)],
            &[],
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    let unchanged = s
        .posts
        .get_post(&w.id, &rec.post.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, fresh, "a failed edit changes nothing");
    s.posts
        .update_post(
            &edited,
            fresh.post.version,
            &[(moved.clone(), Some(d2.version)), (added.clone(), None)],
            &[],
        )
        .await
        .unwrap();
    let after = s
        .posts
        .get_post(&w.id, &rec.post.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.post.text, "edited");
    assert_eq!(after.deliveries.len(), 3);
    s.posts
        .update_post(
            &{
                let mut p = edited.clone();
                p.version += 1;
                p
            },
            edited.version,
            &[],
            &[(a3.clone(), added.version)],
        )
        .await
        .unwrap();
    assert_eq!(
        s.posts
            .get_post(&w.id, &rec.post.id)
            .await
            .unwrap()
            .unwrap()
            .deliveries
            .len(),
        2
    );

    // Cancel keeps the row but leaves the due index.
    let d2now = s.posts.get_delivery(&moved.key()).await.unwrap().unwrap();
    let canceled = d2now
        .cancel(DeliveryError::new("canceled", "by test"), now())
        .unwrap();
    s.posts
        .save_delivery(&canceled, d2now.version)
        .await
        .unwrap();
    assert_eq!(
        s.posts
            .get_delivery(&moved.key())
            .await
            .unwrap()
            .unwrap()
            .status,
        DeliveryStatus::Canceled
    );

    s.posts.delete_post(&w.id, &rec.post.id).await.unwrap();
    assert_eq!(s.posts.get_post(&w.id, &rec.post.id).await.unwrap(), None);
    assert_eq!(s.posts.get_delivery(&moved.key()).await.unwrap(), None);
}

/// What the publisher and the dispatcher read and write in one request each.
pub async fn publishing(s: &Stores) {
    let w = workspace("publishing");
    s.workspaces
        .create_workspace(&w, &key_record(&w.id, &format!("h-{}", w.id)))
        .await
        .unwrap();
    let acc = s
        .accounts
        .upsert_account(&account(&w.id, PlatformKind::Sandbox, "pub-user"))
        .await
        .unwrap();
    let sealed = SealedTokens {
        ciphertext: vec![7; 40],
        version: 3,
        expires_at: Some(now() + chrono::Duration::hours(1)),
    };
    s.accounts
        .put_tokens(&w.id, &acc.id, &sealed, None)
        .await
        .unwrap();
    let other = AccountId::generate();
    let rec = post(&w.id, now(), &[&acc.id, &other]);
    s.posts.create_post(&rec).await.unwrap();

    // One read: the delivery, the post alone, the account and its tokens.
    let mine = rec
        .deliveries
        .iter()
        .find(|d| d.account_id == acc.id)
        .unwrap()
        .clone();
    let inputs = s
        .posts
        .publish_inputs(&mine.key())
        .await
        .unwrap()
        .expect("the delivery exists");
    assert_eq!(inputs.delivery, mine);
    assert_eq!(inputs.post, Some(rec.post.clone()));
    assert_eq!(inputs.account, Some(acc.clone()));
    assert_eq!(inputs.tokens, Some(sealed.clone()));
    // The other delivery's account was never connected: it comes without account or tokens.
    let theirs = rec
        .deliveries
        .iter()
        .find(|d| d.account_id == other)
        .unwrap()
        .clone();
    let inputs = s
        .posts
        .publish_inputs(&theirs.key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inputs.delivery, theirs);
    assert_eq!(inputs.post, Some(rec.post.clone()));
    assert_eq!((inputs.account, inputs.tokens), (None, None));
    // Reads see the latest write.
    let queued = mine.queue(now(), chrono::Duration::seconds(120)).unwrap();
    s.posts.save_delivery(&queued, mine.version).await.unwrap();
    let inputs = s.posts.publish_inputs(&mine.key()).await.unwrap().unwrap();
    assert_eq!(inputs.delivery, queued);
    let mut gone = mine.key();
    gone.post_id = PostId::generate();
    assert_eq!(s.posts.publish_inputs(&gone).await.unwrap(), None);

    // The result and its audit entry: one write, all or nothing, conditional as `save_delivery`.
    let t = now();
    let (claimed, _) = queued
        .claim(t, "attempt-p", chrono::Duration::seconds(60))
        .unwrap();
    s.posts
        .save_delivery(&claimed, queued.version)
        .await
        .unwrap();
    let done = claimed
        .published("attempt-p", "pp1".into(), None, t)
        .unwrap();
    let entry = |action: &str| {
        AuditEntry::new(
            w.id.clone(),
            t,
            action,
            serde_json::json!({"status": "published"}),
        )
        .post(&done.post_id)
        .account(&done.account_id)
    };
    let stale = entry("delivery.stale");
    assert!(
        matches!(
            s.posts
                .save_delivery_with_audit(&done, queued.version, &stale)
                .await,
            Err(StoreError::Conflict)
        ),
        "a result on an old version conflicts"
    );
    assert_eq!(
        s.posts.get_delivery(&done.key()).await.unwrap(),
        Some(claimed.clone()),
        "and writes nothing"
    );
    let logged = entry("delivery.published");
    s.posts
        .save_delivery_with_audit(&done, claimed.version, &logged)
        .await
        .unwrap();
    assert_eq!(
        s.posts.get_delivery(&done.key()).await.unwrap(),
        Some(done.clone())
    );
    let log = s.records.list_audit(&w.id, 10, None).await.unwrap().items;
    assert_eq!(log, vec![logged], "only the committed result is logged");

    // Queuing in batches: all or nothing.
    let others: Vec<AccountId> = (0..3).map(|_| AccountId::generate()).collect();
    let batch = post(&w.id, now(), &others.iter().collect::<Vec<_>>());
    s.posts.create_post(&batch).await.unwrap();
    let queue = |d: &Delivery| {
        (
            d.queue(now(), chrono::Duration::seconds(120)).unwrap(),
            d.version,
        )
    };
    let mut changes: Vec<(Delivery, u64)> = batch.deliveries.iter().map(queue).collect();
    // One delivery moved on meanwhile: the whole batch conflicts and writes nothing.
    let (first, first_version) = changes[0].clone();
    s.posts.save_delivery(&first, first_version).await.unwrap();
    assert!(
        matches!(
            s.posts.save_deliveries(&changes).await,
            Err(StoreError::Conflict)
        ),
        "a batch with one stale delivery conflicts"
    );
    for d in &batch.deliveries[1..] {
        assert_eq!(
            s.posts.get_delivery(&d.key()).await.unwrap(),
            Some(d.clone()),
            "a conflicting batch writes nothing"
        );
    }
    changes.remove(0);
    s.posts.save_deliveries(&changes).await.unwrap();
    for (d, _) in &changes {
        assert_eq!(
            s.posts.get_delivery(&d.key()).await.unwrap(),
            Some(d.clone())
        );
    }
    s.posts.save_deliveries(&[]).await.unwrap();
}

pub async fn listing_posts(s: &Stores) {
    let w = workspace("listing");
    s.workspaces
        .create_workspace(&w, &key_record(&w.id, &format!("h-{}", w.id)))
        .await
        .unwrap();
    let acc = AccountId::generate();
    let base = now() + chrono::Duration::days(1);
    let mut ids = Vec::new();
    for i in 0..7 {
        let rec = post(&w.id, base + chrono::Duration::minutes(i), &[&acc]);
        s.posts.create_post(&rec).await.unwrap();
        ids.push(rec.post.id.clone());
    }
    // Pages of 3, newest first, no gaps or repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = s
            .posts
            .list_posts(&w.id, &PostFilter::default(), 3, cursor.as_deref())
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|r| r.post.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    assert!(
        matches!(
            s.posts
                .list_posts(&w.id, &PostFilter::default(), 3, Some("not a cursor !"))
                .await,
            Err(StoreError::NotFound)
        ),
        "a cursor the store never issued is the caller's mistake, not an outage"
    );

    let window = PostFilter {
        from: Some(base + chrono::Duration::minutes(2)),
        to: Some(base + chrono::Duration::minutes(4)),
        status: None,
    };
    let page = s.posts.list_posts(&w.id, &window, 50, None).await.unwrap();
    assert_eq!(page.items.len(), 3, "from and to are inclusive");

    // Status filter: cancel one delivery.
    let rec = s.posts.get_post(&w.id, &ids[0]).await.unwrap().unwrap();
    let d = rec.deliveries[0].clone();
    let c = d
        .cancel(DeliveryError::new("canceled", "x"), now())
        .unwrap();
    s.posts.save_delivery(&c, d.version).await.unwrap();
    let canceled = PostFilter {
        status: Some(DeliveryStatus::Canceled),
        ..Default::default()
    };
    let page = s
        .posts
        .list_posts(&w.id, &canceled, 50, None)
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|r| r.post.id.clone())
            .collect::<Vec<_>>(),
        vec![ids[0].clone()]
    );
    let other = workspace("nobody");
    assert!(s
        .posts
        .list_posts(&other.id, &PostFilter::default(), 50, None)
        .await
        .unwrap()
        .items
        .is_empty());
}

pub async fn ephemeral_records(s: &Stores) {
    let ws = WorkspaceId::generate();
    let st = OAuthState {
        state: format!("state-{}", uuid::Uuid::new_v4().simple()),
        workspace_id: ws.clone(),
        platform: PlatformKind::Sandbox,
        pkce_verifier: Some("verifier".into()),
        redirect_uri: "http://localhost/cb".into(),
        return_url: None,
        expires_at: now() + chrono::Duration::minutes(10),
        pending: None,
        started_by: Some(postora::domain::ConnectStarter::Person {
            person_id: postora::domain::PersonId::generate(),
            session_hash: "ab".repeat(32),
        }),
        context: Some(serde_json::json!({"instance": "https://social.example"})),
    };
    s.ephemeral.put_oauth_state(&st).await.unwrap();
    assert_eq!(
        s.ephemeral
            .take_oauth_state(&st.state, now())
            .await
            .unwrap(),
        Some(st.clone())
    );
    assert_eq!(
        s.ephemeral
            .take_oauth_state(&st.state, now())
            .await
            .unwrap(),
        None,
        "a state is consumed once"
    );
    let old = OAuthState {
        state: format!("old-{}", uuid::Uuid::new_v4().simple()),
        expires_at: now() - chrono::Duration::seconds(1),
        ..st.clone()
    };
    s.ephemeral.put_oauth_state(&old).await.unwrap();
    assert_eq!(
        s.ephemeral
            .take_oauth_state(&old.state, now())
            .await
            .unwrap(),
        None,
        "an expired state is refused"
    );

    let rec = IdempotencyRecord {
        workspace_id: ws.clone(),
        key: "key-1".into(),
        request_hash: "h1".into(),
        post_id: PostId::generate(),
        expires_at: now() + chrono::Duration::hours(24),
    };
    assert_eq!(
        s.ephemeral.put_idempotency(&rec, now()).await.unwrap(),
        None
    );
    let second = IdempotencyRecord {
        request_hash: "h2".into(),
        post_id: PostId::generate(),
        ..rec.clone()
    };
    assert_eq!(
        s.ephemeral.put_idempotency(&second, now()).await.unwrap(),
        Some(rec.clone())
    );
    // After expiry the key is free again.
    let later = now() + chrono::Duration::hours(25);
    assert_eq!(
        s.ephemeral.put_idempotency(&second, later).await.unwrap(),
        None
    );
    s.ephemeral.delete_idempotency(&ws, "key-1").await.unwrap();
    assert_eq!(
        s.ephemeral.put_idempotency(&rec, now()).await.unwrap(),
        None
    );
}

pub async fn deletion_and_audit(s: &Stores) {
    let user = format!("fb-{}", uuid::Uuid::new_v4().simple());
    let req = DeletionRequest {
        confirmation_code: format!("code{}", uuid::Uuid::new_v4().simple()),
        platform: PlatformKind::Facebook,
        platform_user_id: user.clone(),
        status: DeletionStatus::Received,
        received_at: now(),
        completed_at: None,
        accounts_deleted: 0,
        deliveries_canceled: 0,
    };
    assert_eq!(s.records.put_deletion_request(&req).await.unwrap(), req);
    let dup = DeletionRequest {
        confirmation_code: "another".into(),
        ..req.clone()
    };
    assert_eq!(
        s.records.put_deletion_request(&dup).await.unwrap(),
        req,
        "the same user's request is answered once"
    );
    let done = DeletionRequest {
        status: DeletionStatus::Completed,
        completed_at: Some(now()),
        accounts_deleted: 2,
        ..req.clone()
    };
    s.records.update_deletion_request(&done).await.unwrap();
    assert_eq!(
        s.records
            .get_deletion_request(&req.confirmation_code)
            .await
            .unwrap(),
        Some(done)
    );
    assert_eq!(s.records.get_deletion_request("nope").await.unwrap(), None);

    let ws = WorkspaceId::generate();
    let mut ids = Vec::new();
    for i in 0..5 {
        let e = AuditEntry::new(
            ws.clone(),
            now(),
            "test.step",
            serde_json::json!({ "i": i }),
        );
        ids.push(e.id.clone());
        s.records.append_audit(&e).await.unwrap();
    }
    let first = s.records.list_audit(&ws, 3, None).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.items[0].id, ids[4], "newest first");
    let second = s
        .records
        .list_audit(&ws, 3, first.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.items[1].id, ids[0]);
    assert!(second.next_cursor.is_none());
    assert!(
        matches!(
            s.records.list_audit(&ws, 3, Some("not a cursor !")).await,
            Err(StoreError::NotFound)
        ),
        "a cursor the store never issued is the caller's mistake"
    );

    // Redaction keeps what happened and when, and drops the detail, for one account only.
    let acc = AccountId::generate();
    let about = AuditEntry::new(
        ws.clone(),
        now(),
        "delivery.published",
        serde_json::json!({"permalink": "https://example.com/@pat/1"}),
    )
    .account(&acc);
    s.records.append_audit(&about).await.unwrap();
    let minimal = serde_json::json!({"redacted": "data_deletion"});
    assert_eq!(
        s.records.redact_audit(&ws, &acc, &minimal).await.unwrap(),
        1
    );
    assert_eq!(
        s.records.redact_audit(&ws, &acc, &minimal).await.unwrap(),
        0,
        "a rerun finds nothing left to redact"
    );
    let all = s.records.list_audit(&ws, 10, None).await.unwrap().items;
    assert_eq!(all.len(), 6, "redaction removes no entry");
    let redacted = all.iter().find(|e| e.id == about.id).unwrap();
    assert_eq!(
        (redacted.action.as_str(), redacted.at, &redacted.detail),
        ("delivery.published", about.at, &minimal)
    );
    assert!(
        all.iter()
            .filter(|e| e.id != about.id)
            .all(|e| e.detail != minimal),
        "entries about other accounts keep their detail"
    );
}

/// A key service: data keys round-trip and are bound to their workspace.
pub async fn keys(k: &dyn KeyService) {
    let ws = WorkspaceId::generate();
    let (plain, wrapped) = k.generate_data_key(&ws).await.unwrap();
    assert!(
        !wrapped.windows(32).any(|w| w == plain.as_ref()),
        "the wrapped key must not contain the key"
    );
    let back = k.decrypt_data_key(&ws, &wrapped).await.unwrap();
    assert_eq!(back.as_ref(), plain.as_ref());
    assert!(
        k.decrypt_data_key(&WorkspaceId::generate(), &wrapped)
            .await
            .is_err(),
        "a key is bound to its workspace"
    );
    let mut tampered = wrapped.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x55;
    assert!(k.decrypt_data_key(&ws, &tampered).await.is_err());
}

fn msg() -> QueueMessage {
    QueueMessage {
        workspace_id: WorkspaceId::generate(),
        post_id: PostId::generate(),
        account_id: AccountId::generate(),
    }
}

async fn receive_one(q: &dyn Queue, wait: Duration) -> Vec<postora::ports::Received> {
    q.receive(10, wait).await.unwrap()
}

/// A queue that must be empty, whose visibility timeout is `visibility` and which dead-letters a message on its
/// `max_receives + 1`-th receive.
pub async fn queue(q: &dyn Queue, visibility: Duration, max_receives: u32) {
    // Immediate messages arrive, and an ack removes them.
    let m = msg();
    q.send(&[Outgoing {
        message: m.clone(),
        delay: Duration::ZERO,
    }])
    .await
    .unwrap();
    let got = receive_one(q, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        serde_json::from_str::<QueueMessage>(&got[0].body).unwrap(),
        m
    );
    assert_eq!(got[0].receive_count, 1);
    q.ack(&got[0].receipt).await.unwrap();

    // A delayed message is not visible before its delay.
    let m = msg();
    q.send(&[Outgoing {
        message: m.clone(),
        delay: Duration::from_secs(2),
    }])
    .await
    .unwrap();
    assert!(
        receive_one(q, Duration::ZERO).await.is_empty(),
        "a delayed message is hidden"
    );
    let got = receive_one(q, Duration::from_secs(6)).await;
    assert_eq!(got.len(), 1, "the delayed message arrives");
    // While in flight it is invisible; retry_later brings it back after its delay with a higher count.
    assert!(
        receive_one(q, Duration::ZERO).await.is_empty(),
        "a received message is invisible"
    );
    q.retry_later(&got[0].receipt, Duration::from_secs(1))
        .await
        .unwrap();
    let again = receive_one(q, Duration::from_secs(6)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    q.ack(&again[0].receipt).await.unwrap();

    // Many messages in one send, more than one SQS batch.
    let many: Vec<_> = (0..23)
        .map(|_| Outgoing {
            message: msg(),
            delay: Duration::ZERO,
        })
        .collect();
    q.send(&many).await.unwrap();
    let mut total = 0;
    for _ in 0..20 {
        let got = receive_one(q, Duration::from_secs(2)).await;
        for r in &got {
            q.ack(&r.receipt).await.unwrap();
        }
        total += got.len();
        if total >= 23 {
            break;
        }
    }
    assert_eq!(total, 23);

    // A message never settled goes to the dead-letter queue, and redrive brings it back.
    let m = msg();
    q.send(&[Outgoing {
        message: m.clone(),
        delay: Duration::ZERO,
    }])
    .await
    .unwrap();
    for i in 0..max_receives {
        let got = receive_one(q, visibility + Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1, "receive {} of the unsettled message", i + 1);
        q.retry_later(&got[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }
    let mut dead = Vec::new();
    for _ in 0..10 {
        let _ = receive_one(q, Duration::from_secs(1)).await;
        dead = q.dead_letters(10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
    }
    assert_eq!(dead.len(), 1, "the message was dead-lettered");
    assert_eq!(
        serde_json::from_str::<QueueMessage>(&dead[0].body).unwrap(),
        m
    );
    assert_eq!(q.redrive().await.unwrap(), 1);
    assert!(q.dead_letters(10).await.unwrap().is_empty());
    let back = receive_one(q, Duration::from_secs(5)).await;
    assert_eq!(back.len(), 1, "a redriven message is delivered again");
    q.ack(&back[0].receipt).await.unwrap();
}
