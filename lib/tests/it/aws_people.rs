//! People on DynamoDB beyond the conformance scenarios: checking a session is one request (no KMS call, no second
//! read), every item that should expire carries the table's time to live, and the items holding a
//! password hash or a second-factor secret are in no index.

use chrono::{Duration, DurationRound, Utc};

use postora::adapters::aws::table::{DUE_INDEX, LOOKUP_INDEX, TABLE};
use postora::domain::ids::random_token;
use postora::domain::people::hash_token;
use postora::domain::{
    EmailAddress, Invitation, InvitationId, LinkPurpose, Membership, OneTimeLink, Person, PersonId,
    Role, Session, SessionFlags, SignIn, SignInOutcome, Workspace, WorkspaceId,
};
use postora::ports::{MemberStore, PeopleStore};
use postora_test_support::aws::Emulator;

fn now() -> chrono::DateTime<Utc> {
    Utc::now()
        .duration_trunc(Duration::milliseconds(1))
        .unwrap()
}

fn person() -> Person {
    Person {
        id: PersonId::generate(),
        email: EmailAddress::parse(&format!("ann-{}@example.com", random_token(4))).unwrap(),
        name: "Ann".into(),
        email_verified_at: Some(now()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        password_changed_at: now(),
        two_factor: Some(postora::domain::TwoFactor {
            secret: "sealed-secret".into(),
            last_step: 1,
            recovery_codes: vec!["h".into()],
            enabled_at: now(),
        }),
        pending_two_factor: None,
        known_devices: Vec::new(),
        created_at: now(),
        version: 1,
    }
}

struct Fixture {
    env: Emulator,
    ann: Person,
    workspace: Workspace,
    session: Session,
}

async fn fixture() -> Fixture {
    let env = Emulator::fresh().await;
    let store = env.adapters.store.clone();
    let ann = person();
    store.create_person(&ann).await.unwrap();
    let workspace = Workspace {
        id: WorkspaceId::generate(),
        name: "acme".into(),
        wrapped_key: b"wrapped-data-key".to_vec(),
        created_at: now(),
        settings: Default::default(),
    };
    store
        .create_workspace_with_owner(
            &workspace,
            &Membership {
                workspace_id: workspace.id.clone(),
                person_id: ann.id.clone(),
                role: Role::Owner,
                joined_at: now(),
                version: 1,
            },
        )
        .await
        .unwrap();
    let hash = hash_token(&random_token(32));
    let session = Session {
        id: hash[..12].to_owned(),
        token_hash: hash,
        person_id: ann.id.clone(),
        created_at: now(),
        last_seen_at: now(),
        expires_at: now() + Duration::days(14),
        user_agent: "Firefox".into(),
        ip: "192.0.2.1".into(),
        flags: SessionFlags {
            email_verified: true,
            two_factor: true,
        },
    };
    store.put_session(&session).await.unwrap();
    Fixture {
        env,
        ann,
        workspace,
        session,
    }
}

#[tokio::test]
async fn checking_a_session_in_a_workspace_is_one_batch_get_and_nothing_else() {
    let f = fixture().await;
    f.env.metrics.reset();
    let found = f
        .env
        .adapters
        .store
        .session_in_workspace(&f.session.token_hash, &f.ann.id, Some(&f.workspace.id))
        .await
        .unwrap();
    assert_eq!(found.session.as_ref(), Some(&f.session));
    assert_eq!(found.membership.unwrap().role, Role::Owner);
    assert!(found.settings.is_some());
    let counts = f.env.metrics.snapshot();
    assert_eq!(counts.operation("DynamoDB", "BatchGetItem"), 1);
    assert_eq!(counts.total(), 1, "one request, no KMS call");

    // Without a workspace, the same single request reads the session alone.
    f.env.metrics.reset();
    f.env
        .adapters
        .store
        .session_in_workspace(&f.session.token_hash, &f.ann.id, None)
        .await
        .unwrap();
    assert_eq!(f.env.metrics.snapshot().total(), 1);
}

/// Every item of a person, as stored.
async fn raw_items(
    env: &Emulator,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    env.clients
        .dynamodb
        .scan()
        .table_name(&env.config.table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

#[tokio::test]
async fn expiring_items_carry_the_time_to_live_and_secret_holding_items_are_in_no_index() {
    let f = fixture().await;
    let store = f.env.adapters.store.clone();
    let t = now();
    store
        .put_link(&OneTimeLink {
            token_hash: hash_token("link"),
            person_id: f.ann.id.clone(),
            purpose: LinkPurpose::ResetPassword,
            created_at: t,
            expires_at: t + Duration::hours(1),
        })
        .await
        .unwrap();
    store
        .record_sign_in(&SignIn {
            person_id: f.ann.id.clone(),
            at: t,
            ip: "192.0.2.1".into(),
            user_agent: "Firefox".into(),
            outcome: SignInOutcome::Succeeded,
        })
        .await
        .unwrap();
    store
        .count_attempt("signin:ip:192.0.2.1", t, t + Duration::minutes(15))
        .await
        .unwrap();
    store
        .put_invitation(&Invitation {
            id: InvitationId::generate(),
            token_hash: hash_token("invite"),
            workspace_id: f.workspace.id.clone(),
            email: EmailAddress::parse("bob@example.com").unwrap(),
            role: Role::Editor,
            invited_by: f.ann.id.clone(),
            created_at: t,
            expires_at: t + Duration::days(7),
        })
        .await
        .unwrap();

    let items = raw_items(&f.env).await;
    let kind = |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>| {
        i.get("kind")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let expiring = [
        "session",
        "link",
        "link_ref",
        "sign_in",
        "attempts",
        "invitation",
        "invitation_ref",
    ];
    for k in expiring {
        let found: Vec<_> = items.iter().filter(|i| kind(i) == k).collect();
        assert!(!found.is_empty(), "no {k} item stored");
        for item in found {
            let ttl = item
                .get(TABLE.ttl_attribute)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or_else(|| panic!("{k} has no {}", TABLE.ttl_attribute));
            assert!(ttl > t.timestamp(), "{k} expires in the future");
        }
    }
    let sign_in = items.iter().find(|i| kind(i) == "sign_in").unwrap();
    let ttl: i64 = sign_in[TABLE.ttl_attribute]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    let kept = t + Duration::days(90);
    assert_eq!(
        ttl,
        kept.timestamp() + i64::from(kept.timestamp_subsec_nanos() > 0),
        "a sign-in is kept 90 days"
    );

    for k in [
        "person",
        "email_claim",
        "session",
        "membership",
        "membership_mirror",
    ] {
        let item = items
            .iter()
            .find(|i| kind(i) == k)
            .unwrap_or_else(|| panic!("no {k}"));
        assert!(
            !item.contains_key(TABLE.ttl_attribute) || k == "session",
            "{k} must not expire"
        );
        for index in [DUE_INDEX, LOOKUP_INDEX] {
            assert!(
                !item.contains_key(index.partition_key.name),
                "{k} is in {}",
                index.name
            );
        }
    }
    // The address claim is keyed by a hash: no address in any key.
    for item in &items {
        for key in [TABLE.partition_key.name, TABLE.sort_key.name] {
            let v = item[key].as_s().unwrap();
            assert!(!v.contains('@'), "{v}");
        }
    }
}

/// A used invitation whose listing item could not be removed (the second write after the conditional delete failed)
/// is not listed as open.
#[tokio::test]
async fn a_listing_item_left_behind_by_a_used_invitation_is_not_listed() {
    let f = fixture().await;
    let store = f.env.adapters.store.clone();
    let t = now();
    let invitation = |hash: &str| Invitation {
        id: InvitationId::generate(),
        token_hash: hash_token(hash),
        workspace_id: f.workspace.id.clone(),
        email: EmailAddress::parse("bob@example.com").unwrap(),
        role: Role::Viewer,
        invited_by: f.ann.id.clone(),
        created_at: t,
        expires_at: t + Duration::days(7),
    };
    let (used, open) = (invitation("used"), invitation("open"));
    store.put_invitation(&used).await.unwrap();
    store.put_invitation(&open).await.unwrap();
    // The invitation item alone goes, as a use does before removing the listing item.
    f.env
        .clients
        .dynamodb
        .delete_item()
        .table_name(&f.env.config.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("INVITE#{}", used.token_hash)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("INVITE".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        store.list_invitations(&f.workspace.id, t).await.unwrap(),
        vec![open]
    );
}
