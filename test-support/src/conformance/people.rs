//! The people ports' conformance: what every [`PeopleStore`] and [`MemberStore`] (SQLite, DynamoDB) must do with
//! persons, sessions, single-use links, sign-ins, attempt counters, memberships and invitations.

use chrono::{DateTime, Duration, Utc};

use postora::domain::ids::random_token;
use postora::domain::people::{hash_token, SIGN_IN_RETENTION};
use postora::domain::{
    EmailAddress, Invitation, InvitationId, LinkPurpose, Membership, OneTimeLink, Person, PersonId,
    Role, Session, SessionFlags, SignIn, SignInOutcome, Workspace, WorkspaceId, WorkspaceSettings,
};
use postora::ports::{SessionLookup, StoreError, Stores};

use super::now;

/// Every scenario of the people ports.
pub async fn people(s: &Stores) {
    persons(s).await;
    addresses(s).await;
    sessions(s).await;
    session_lookup(s).await;
    links(s).await;
    sign_ins(s).await;
    attempts(s).await;
    deleting_a_person(s).await;
    memberships(s).await;
    invitations(s).await;
    erasing_a_workspace(s).await;
}

/// An address no other scenario (or earlier run on the same store) uses.
fn address(name: &str) -> EmailAddress {
    EmailAddress::parse(&format!("{name}-{}@Example.COM", random_token(6))).unwrap()
}

fn person(email: &EmailAddress) -> Person {
    Person {
        id: PersonId::generate(),
        email: email.clone(),
        name: "Ann".into(),
        email_verified_at: None,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        password_changed_at: now(),
        two_factor: None,
        pending_two_factor: None,
        known_devices: vec!["device".into()],
        created_at: now(),
        version: 1,
    }
}

fn session(person: &PersonId, created_at: DateTime<Utc>) -> Session {
    let token_hash = hash_token(&random_token(32));
    Session {
        id: token_hash[..12].to_owned(),
        token_hash,
        person_id: person.clone(),
        created_at,
        last_seen_at: created_at,
        expires_at: created_at + Duration::days(14),
        user_agent: "Firefox".into(),
        ip: "192.0.2.1".into(),
        flags: SessionFlags::default(),
    }
}

fn link(person: &PersonId, purpose: LinkPurpose, expires_at: DateTime<Utc>) -> OneTimeLink {
    OneTimeLink {
        token_hash: hash_token(&random_token(32)),
        person_id: person.clone(),
        purpose,
        created_at: now(),
        expires_at,
    }
}

fn workspace(name: &str, settings: WorkspaceSettings) -> Workspace {
    Workspace {
        id: WorkspaceId::generate(),
        name: name.to_owned(),
        wrapped_key: vec![7, 8, 9],
        created_at: now(),
        settings,
    }
}

fn membership(
    ws: &WorkspaceId,
    person: &PersonId,
    role: Role,
    joined_at: DateTime<Utc>,
) -> Membership {
    Membership {
        workspace_id: ws.clone(),
        person_id: person.clone(),
        role,
        joined_at,
        version: 1,
    }
}

fn invitation(
    ws: &WorkspaceId,
    by: &PersonId,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Invitation {
    Invitation {
        id: InvitationId::generate(),
        token_hash: hash_token(&random_token(32)),
        workspace_id: ws.clone(),
        email: address("invitee"),
        role: Role::Editor,
        invited_by: by.clone(),
        created_at,
        expires_at,
    }
}

/// A person is stored whole, found by id and by address whatever its case, written only at the version read.
pub async fn persons(s: &Stores) {
    let p = s.people.as_ref();
    let email = address("Ann");
    let mut ann = person(&email);
    ann.email_verified_at = Some(now());
    ann.two_factor = Some(postora::domain::TwoFactor {
        secret: "sealed".into(),
        last_step: 42,
        recovery_codes: vec!["h1".into(), "h2".into()],
        enabled_at: now(),
    });
    p.create_person(&ann).await.unwrap();
    assert_eq!(p.get_person(&ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(p.get_person(&PersonId::generate()).await.unwrap(), None);
    let folded = EmailAddress::parse(&email.as_str().to_uppercase()).unwrap();
    assert_eq!(
        p.find_person_by_email(&folded).await.unwrap(),
        Some(ann.clone()),
        "an address is found whatever the case of its local part"
    );
    assert_eq!(
        p.find_person_by_email(&address("nobody")).await.unwrap(),
        None
    );

    // The same address in another case is the same mailbox: one account.
    let twin = person(&folded);
    assert!(
        matches!(p.create_person(&twin).await, Err(StoreError::Conflict)),
        "a second person with the same address (case folded) must conflict"
    );
    assert_eq!(
        p.get_person(&twin.id).await.unwrap(),
        None,
        "nothing of the loser is stored"
    );
    assert!(matches!(
        p.create_person(&ann).await,
        Err(StoreError::Conflict)
    ));

    // Versions.
    let mut renamed = Person {
        name: "Ann B.".into(),
        version: 2,
        ..ann.clone()
    };
    p.update_person(&renamed, 1).await.unwrap();
    assert_eq!(p.get_person(&ann.id).await.unwrap(), Some(renamed.clone()));
    let stale = Person {
        name: "lost".into(),
        version: 2,
        ..ann.clone()
    };
    assert!(
        matches!(p.update_person(&stale, 1).await, Err(StoreError::Conflict)),
        "a write at a version that moved on must conflict"
    );
    assert_eq!(p.get_person(&ann.id).await.unwrap(), Some(renamed.clone()));
    let ghost = person(&address("ghost"));
    assert!(
        matches!(p.update_person(&ghost, 1).await, Err(StoreError::NotFound)),
        "updating a person who does not exist is NotFound"
    );
    assert_eq!(p.find_person_by_email(&ghost.email).await.unwrap(), None);
    renamed.version = 3;
    p.update_person(&renamed, 2).await.unwrap();
    assert_eq!(p.get_person(&ann.id).await.unwrap().unwrap().version, 3);
}

/// An address moves with its person in one write, and never onto another person's.
pub async fn addresses(s: &Stores) {
    let p = s.people.as_ref();
    let ann = person(&address("ann"));
    let bob = person(&address("bob"));
    p.create_person(&ann).await.unwrap();
    p.create_person(&bob).await.unwrap();

    // Onto Bob's address (in another case): refused, nothing changed.
    let taken = EmailAddress::parse(&bob.email.as_str().to_uppercase()).unwrap();
    let onto_bob = Person {
        email: taken,
        version: 2,
        ..ann.clone()
    };
    assert!(
        matches!(
            p.update_person(&onto_bob, 1).await,
            Err(StoreError::Conflict)
        ),
        "moving onto another person's address must conflict"
    );
    assert_eq!(p.get_person(&ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(
        p.find_person_by_email(&ann.email).await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(
        p.find_person_by_email(&bob.email).await.unwrap(),
        Some(bob.clone())
    );

    // A new address at a stale version: refused, the old address still Ann's.
    let fresh = address("ann-new");
    let stale_move = Person {
        email: fresh.clone(),
        version: 5,
        ..ann.clone()
    };
    assert!(matches!(
        p.update_person(&stale_move, 4).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(p.find_person_by_email(&fresh).await.unwrap(), None);
    assert_eq!(
        p.find_person_by_email(&ann.email).await.unwrap(),
        Some(ann.clone())
    );

    // A free address: the claim moves, and the old address is free for someone else.
    let moved = Person {
        email: fresh.clone(),
        version: 2,
        ..ann.clone()
    };
    p.update_person(&moved, 1).await.unwrap();
    assert_eq!(
        p.find_person_by_email(&fresh).await.unwrap(),
        Some(moved.clone())
    );
    assert_eq!(p.find_person_by_email(&ann.email).await.unwrap(), None);
    let newcomer = person(&ann.email);
    p.create_person(&newcomer).await.unwrap();
    assert_eq!(
        p.find_person_by_email(&ann.email).await.unwrap(),
        Some(newcomer.clone())
    );
    // Ann changing only the case of her address keeps her claim.
    let recased = Person {
        email: EmailAddress::parse(&fresh.as_str().to_uppercase()).unwrap(),
        version: 3,
        ..moved.clone()
    };
    p.update_person(&recased, 2).await.unwrap();
    assert_eq!(p.find_person_by_email(&fresh).await.unwrap(), Some(recased));
}

/// Sessions: stored once, listed newest first, touched only when stale, flags rewritten on all, ended one by one or
/// all but one.
pub async fn sessions(s: &Stores) {
    let p = s.people.as_ref();
    let ann = person(&address("ann"));
    let bob = person(&address("bob"));
    p.create_person(&ann).await.unwrap();
    p.create_person(&bob).await.unwrap();
    let t0 = now();
    let first = session(&ann.id, t0 - Duration::minutes(30));
    let second = session(&ann.id, t0 - Duration::minutes(20));
    let third = session(&ann.id, t0 - Duration::minutes(10));
    let bobs = session(&bob.id, t0);
    for x in [&first, &second, &third, &bobs] {
        p.put_session(x).await.unwrap();
    }
    assert!(
        matches!(p.put_session(&first).await, Err(StoreError::Conflict)),
        "a session is stored once"
    );
    assert_eq!(
        p.list_sessions(&ann.id).await.unwrap(),
        vec![third.clone(), second.clone(), first.clone()],
        "sessions are listed newest first"
    );
    assert!(p
        .list_sessions(&PersonId::generate())
        .await
        .unwrap()
        .is_empty());

    // Touch: only while the stored last activity is before `stale_before`.
    let at = t0 + Duration::minutes(1);
    assert!(
        !p.touch_session(&ann.id, &third.token_hash, at, third.last_seen_at)
            .await
            .unwrap(),
        "a fresh session is not touched"
    );
    assert!(p
        .touch_session(&ann.id, &third.token_hash, at, t0)
        .await
        .unwrap());
    assert!(
        !p.touch_session(&ann.id, &third.token_hash, at + Duration::seconds(1), t0)
            .await
            .unwrap(),
        "the touch moved the last activity past the condition"
    );
    assert!(
        !p.touch_session(&bob.id, &third.token_hash, at, at + Duration::hours(1))
            .await
            .unwrap(),
        "another person's id touches nothing"
    );
    assert!(!p
        .touch_session(&ann.id, &hash_token("nothing"), at, at + Duration::hours(1))
        .await
        .unwrap());
    let listed = p.list_sessions(&ann.id).await.unwrap();
    assert_eq!(listed[0].last_seen_at, at);
    assert_eq!(listed[1].last_seen_at, second.last_seen_at);

    // Flags: rewritten on every session of the person, and theirs only; a touch keeps them.
    let flags = SessionFlags {
        email_verified: true,
        two_factor: true,
    };
    p.set_session_flags(&ann.id, flags).await.unwrap();
    assert!(p
        .list_sessions(&ann.id)
        .await
        .unwrap()
        .iter()
        .all(|x| x.flags == flags));
    assert_eq!(
        p.list_sessions(&bob.id).await.unwrap()[0].flags,
        SessionFlags::default()
    );
    assert!(p
        .touch_session(&ann.id, &first.token_hash, at, at)
        .await
        .unwrap());
    let after_touch = p
        .session_in_workspace(&first.token_hash, &ann.id, None)
        .await
        .unwrap()
        .session
        .unwrap();
    assert_eq!((after_touch.flags, after_touch.last_seen_at), (flags, at));
    p.set_session_flags(&PersonId::generate(), flags)
        .await
        .unwrap();

    // Ending one: NotFound when the person has no such session (someone else's included).
    assert!(matches!(
        p.delete_session(&bob.id, &first.token_hash).await,
        Err(StoreError::NotFound)
    ));
    p.delete_session(&ann.id, &first.token_hash).await.unwrap();
    assert!(matches!(
        p.delete_session(&ann.id, &first.token_hash).await,
        Err(StoreError::NotFound)
    ));

    // Ending all but one.
    let fourth = session(&ann.id, t0);
    p.put_session(&fourth).await.unwrap();
    assert_eq!(
        p.delete_sessions(&ann.id, Some(&third.token_hash))
            .await
            .unwrap(),
        2
    );
    let left: Vec<String> = p
        .list_sessions(&ann.id)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.token_hash)
        .collect();
    assert_eq!(left, vec![third.token_hash.clone()]);
    assert_eq!(p.delete_sessions(&ann.id, None).await.unwrap(), 1);
    assert!(p.list_sessions(&ann.id).await.unwrap().is_empty());
    assert_eq!(p.delete_sessions(&ann.id, None).await.unwrap(), 0);
    assert_eq!(
        p.list_sessions(&bob.id).await.unwrap().len(),
        1,
        "another person's sessions stay"
    );
}

/// One read answers a request's session, membership and workspace settings.
pub async fn session_lookup(s: &Stores) {
    let (p, m) = (s.people.as_ref(), s.members.as_ref());
    let ann = person(&address("ann"));
    let bob = person(&address("bob"));
    p.create_person(&ann).await.unwrap();
    p.create_person(&bob).await.unwrap();
    let settings = WorkspaceSettings {
        time_zone: "Europe/Paris".into(),
        approval_required: true,
        two_factor_required: true,
    };
    let w = workspace("acme", settings.clone());
    let owner = membership(&w.id, &ann.id, Role::Owner, now());
    m.create_workspace_with_owner(&w, &owner).await.unwrap();
    let mut anns = session(&ann.id, now());
    anns.flags.email_verified = true;
    let bobs = session(&bob.id, now());
    p.put_session(&anns).await.unwrap();
    p.put_session(&bobs).await.unwrap();

    assert_eq!(
        p.session_in_workspace(&anns.token_hash, &ann.id, None)
            .await
            .unwrap(),
        SessionLookup {
            session: Some(anns.clone()),
            membership: None,
            settings: None,
        },
        "without a workspace, the session alone"
    );
    assert_eq!(
        p.session_in_workspace(&anns.token_hash, &ann.id, Some(&w.id))
            .await
            .unwrap(),
        SessionLookup {
            session: Some(anns.clone()),
            membership: Some(owner.clone()),
            settings: Some(settings.clone()),
        }
    );
    // Settings changed later are what the next check reads.
    let relaxed = WorkspaceSettings {
        two_factor_required: false,
        ..settings.clone()
    };
    s.workspaces
        .update_workspace(&Workspace {
            settings: relaxed.clone(),
            ..w.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        p.session_in_workspace(&anns.token_hash, &ann.id, Some(&w.id))
            .await
            .unwrap()
            .settings,
        Some(relaxed.clone())
    );
    let settings = relaxed;
    assert_eq!(
        p.session_in_workspace(&bobs.token_hash, &bob.id, Some(&w.id))
            .await
            .unwrap(),
        SessionLookup {
            session: Some(bobs.clone()),
            membership: None,
            settings: Some(settings.clone()),
        },
        "a non-member: the session and the settings, no membership"
    );
    assert_eq!(
        p.session_in_workspace(&anns.token_hash, &ann.id, Some(&WorkspaceId::generate()))
            .await
            .unwrap(),
        SessionLookup {
            session: Some(anns.clone()),
            membership: None,
            settings: None,
        },
        "a workspace that does not exist has no settings"
    );
    assert_eq!(
        p.session_in_workspace(&anns.token_hash, &bob.id, Some(&w.id))
            .await
            .unwrap(),
        SessionLookup::default(),
        "a session is found only for its own person"
    );
    assert_eq!(
        p.session_in_workspace(&hash_token("forged"), &ann.id, Some(&w.id))
            .await
            .unwrap(),
        SessionLookup::default(),
        "no session, nothing else either"
    );
    // An expired session may still be returned: the caller checks the time.
    let mut old = session(&ann.id, now() - Duration::days(20));
    old.expires_at = now() - Duration::days(6);
    p.put_session(&old).await.unwrap();
    if let Some(found) = p
        .session_in_workspace(&old.token_hash, &ann.id, None)
        .await
        .unwrap()
        .session
    {
        assert_eq!(found.expires_at, old.expires_at);
    }
}

/// A single-use link is taken once, never after it expired, and a new password removes all of a person's.
pub async fn links(s: &Stores) {
    let p = s.people.as_ref();
    let ann = person(&address("ann"));
    p.create_person(&ann).await.unwrap();
    let t = now();
    let verify = link(
        &ann.id,
        LinkPurpose::VerifyEmail {
            email: ann.email.clone(),
        },
        t + Duration::hours(24),
    );
    p.put_link(&verify).await.unwrap();
    assert!(matches!(
        p.put_link(&verify).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        p.take_link(&verify.token_hash, t).await.unwrap(),
        Some(verify.clone())
    );
    assert_eq!(
        p.take_link(&verify.token_hash, t).await.unwrap(),
        None,
        "a link is used once"
    );
    assert_eq!(p.take_link(&hash_token("forged"), t).await.unwrap(), None);

    let reset = link(&ann.id, LinkPurpose::ResetPassword, t + Duration::hours(1));
    p.put_link(&reset).await.unwrap();
    assert_eq!(
        p.take_link(&reset.token_hash, reset.expires_at)
            .await
            .unwrap(),
        None,
        "a link is dead at its expiry"
    );

    // Two racing uses: exactly one gets it.
    let raced = link(&ann.id, LinkPurpose::ResetPassword, t + Duration::hours(1));
    p.put_link(&raced).await.unwrap();
    let (a, b) = tokio::join!(
        p.take_link(&raced.token_hash, t),
        p.take_link(&raced.token_hash, t)
    );
    assert_eq!(
        usize::from(a.unwrap().is_some()) + usize::from(b.unwrap().is_some()),
        1
    );

    // delete_links: every link of the person, no one else's.
    let bob = person(&address("bob"));
    p.create_person(&bob).await.unwrap();
    let r1 = link(&ann.id, LinkPurpose::ResetPassword, t + Duration::hours(1));
    let r2 = link(
        &ann.id,
        LinkPurpose::VerifyEmail {
            email: address("new"),
        },
        t + Duration::hours(24),
    );
    let bobs = link(&bob.id, LinkPurpose::ResetPassword, t + Duration::hours(1));
    for l in [&r1, &r2, &bobs] {
        p.put_link(l).await.unwrap();
    }
    p.delete_links(&ann.id).await.unwrap();
    assert_eq!(p.take_link(&r1.token_hash, t).await.unwrap(), None);
    assert_eq!(p.take_link(&r2.token_hash, t).await.unwrap(), None);
    assert_eq!(p.take_link(&bobs.token_hash, t).await.unwrap(), Some(bobs));
    p.delete_links(&PersonId::generate()).await.unwrap();
}

/// Sign-ins are listed newest first, at most as many as asked, each person's alone.
pub async fn sign_ins(s: &Stores) {
    let p = s.people.as_ref();
    let ann = person(&address("ann"));
    let bob = person(&address("bob"));
    let t = now();
    let entry = |who: &PersonId, at: DateTime<Utc>, outcome| SignIn {
        person_id: who.clone(),
        at,
        ip: "192.0.2.7".into(),
        user_agent: "Safari".into(),
        outcome,
    };
    let e1 = entry(
        &ann.id,
        t - Duration::hours(3),
        SignInOutcome::WrongPassword,
    );
    let e2 = entry(
        &ann.id,
        t - Duration::hours(2),
        SignInOutcome::WrongSecondFactor,
    );
    let e3 = entry(&ann.id, t - Duration::hours(1), SignInOutcome::Succeeded);
    // Two in the same millisecond both stay.
    let e4 = entry(&ann.id, t, SignInOutcome::Succeeded);
    let e5 = SignIn {
        ip: "192.0.2.8".into(),
        ..e4.clone()
    };
    for e in [
        &e2,
        &e1,
        &e3,
        &e4,
        &e5,
        &entry(&bob.id, t, SignInOutcome::Succeeded),
    ] {
        p.record_sign_in(e).await.unwrap();
    }
    let all = p.list_sign_ins(&ann.id, 10).await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(
        &all[2..],
        &[e3.clone(), e2.clone(), e1.clone()],
        "newest first"
    );
    assert!(all[..2].contains(&e4) && all[..2].contains(&e5));
    let two = p.list_sign_ins(&ann.id, 3).await.unwrap();
    assert_eq!(two.len(), 3);
    assert_eq!(two[2], e3);
    assert!(p.list_sign_ins(&ann.id, 0).await.unwrap().is_empty());
    assert_eq!(p.list_sign_ins(&bob.id, 10).await.unwrap().len(), 1);
    assert!(p
        .list_sign_ins(&PersonId::generate(), 10)
        .await
        .unwrap()
        .is_empty());
    // One past its retention is not listed.
    let carol = PersonId::generate();
    p.record_sign_in(&entry(
        &carol,
        t - SIGN_IN_RETENTION - Duration::days(1),
        SignInOutcome::Succeeded,
    ))
    .await
    .unwrap();
    let recent = entry(&carol, t, SignInOutcome::Succeeded);
    p.record_sign_in(&recent).await.unwrap();
    assert_eq!(p.list_sign_ins(&carol, 10).await.unwrap(), vec![recent]);
}

/// Attempt counters count per window, start again in a new one, are cleared on demand, and lose no attempt to a race.
pub async fn attempts(s: &Stores) {
    let p = s.people.as_ref();
    let key = format!("signin:email:{}", random_token(8));
    let w1 = now() - Duration::minutes(5);
    let w2 = w1 + Duration::minutes(15);
    let exp = |w: DateTime<Utc>| w + Duration::minutes(15);
    assert_eq!(p.attempts(&key, w1).await.unwrap(), 0);
    for expected in 1..=3 {
        assert_eq!(p.count_attempt(&key, w1, exp(w1)).await.unwrap(), expected);
    }
    assert_eq!(p.attempts(&key, w1).await.unwrap(), 3);
    assert_eq!(
        p.attempts(&key, w2).await.unwrap(),
        0,
        "another window's count is not this one's"
    );
    assert_eq!(
        p.count_attempt(&key, w2, exp(w2)).await.unwrap(),
        1,
        "a new window starts again from one"
    );
    assert_eq!(p.count_attempt(&key, w2, exp(w2)).await.unwrap(), 2);
    assert_eq!(p.attempts(&key, w1).await.unwrap(), 0);
    assert_eq!(p.attempts(&key, w2).await.unwrap(), 2);

    let other = format!("signin:ip:{}", random_token(8));
    assert_eq!(p.count_attempt(&other, w2, exp(w2)).await.unwrap(), 1);
    p.clear_attempts(&key).await.unwrap();
    assert_eq!(p.attempts(&key, w2).await.unwrap(), 0);
    assert_eq!(
        p.attempts(&other, w2).await.unwrap(),
        1,
        "clearing one key leaves the others"
    );
    assert_eq!(p.count_attempt(&key, w2, exp(w2)).await.unwrap(), 1);
    p.clear_attempts(&format!("never:{}", random_token(4)))
        .await
        .unwrap();

    // Concurrent attempts are each counted once.
    let raced = format!("reset:email:{}", random_token(8));
    let counts =
        futures_util::future::join_all((0..8).map(|_| p.count_attempt(&raced, w2, exp(w2)))).await;
    let mut counts: Vec<u32> = counts.into_iter().map(Result::unwrap).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=8).collect::<Vec<_>>());
    assert_eq!(p.attempts(&raced, w2).await.unwrap(), 8);
}

/// Deleting a person removes them, their address claim, sessions, links and sign-ins, and leaves their memberships to
/// the member store; it can run again.
pub async fn deleting_a_person(s: &Stores) {
    let (p, m) = (s.people.as_ref(), s.members.as_ref());
    let ann = person(&address("ann"));
    let bob = person(&address("bob"));
    p.create_person(&ann).await.unwrap();
    p.create_person(&bob).await.unwrap();
    let anns = session(&ann.id, now());
    let bobs = session(&bob.id, now());
    p.put_session(&anns).await.unwrap();
    p.put_session(&bobs).await.unwrap();
    let l = link(
        &ann.id,
        LinkPurpose::ResetPassword,
        now() + Duration::hours(1),
    );
    p.put_link(&l).await.unwrap();
    p.record_sign_in(&SignIn {
        person_id: ann.id.clone(),
        at: now(),
        ip: "192.0.2.1".into(),
        user_agent: "Firefox".into(),
        outcome: SignInOutcome::Succeeded,
    })
    .await
    .unwrap();
    let w = workspace("team", WorkspaceSettings::default());
    let owner = membership(&w.id, &bob.id, Role::Owner, now());
    m.create_workspace_with_owner(&w, &owner).await.unwrap();
    let member = membership(&w.id, &ann.id, Role::Editor, now());
    m.add_membership(&member).await.unwrap();

    p.delete_person(&ann.id).await.unwrap();
    assert_eq!(p.get_person(&ann.id).await.unwrap(), None);
    assert_eq!(p.find_person_by_email(&ann.email).await.unwrap(), None);
    assert!(p.list_sessions(&ann.id).await.unwrap().is_empty());
    assert_eq!(
        p.session_in_workspace(&anns.token_hash, &ann.id, None)
            .await
            .unwrap(),
        SessionLookup::default()
    );
    assert_eq!(p.take_link(&l.token_hash, now()).await.unwrap(), None);
    assert!(p.list_sign_ins(&ann.id, 10).await.unwrap().is_empty());
    assert_eq!(
        m.get_membership(&w.id, &ann.id).await.unwrap(),
        Some(member.clone()),
        "memberships are the member store's to remove"
    );
    // Bob is untouched, and the address is free again.
    assert_eq!(p.get_person(&bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(p.list_sessions(&bob.id).await.unwrap(), vec![bobs]);
    p.create_person(&person(&ann.email)).await.unwrap();
    p.delete_person(&ann.id).await.unwrap();
    p.delete_person(&PersonId::generate()).await.unwrap();
    m.delete_membership(&w.id, &ann.id).await.unwrap();
}

/// Memberships: listed both ways oldest first, added once, changed at their version (several all or nothing),
/// removed once.
pub async fn memberships(s: &Stores) {
    let m = s.members.as_ref();
    let (ann, bob, carol) = (
        PersonId::generate(),
        PersonId::generate(),
        PersonId::generate(),
    );
    let t = now();
    let w1 = workspace("first", WorkspaceSettings::default());
    let w2 = workspace("second", WorkspaceSettings::default());
    let ann1 = membership(&w1.id, &ann, Role::Owner, t - Duration::hours(2));
    let ann2 = membership(&w2.id, &ann, Role::Owner, t - Duration::hours(1));
    m.create_workspace_with_owner(&w1, &ann1).await.unwrap();
    m.create_workspace_with_owner(&w2, &ann2).await.unwrap();
    assert_eq!(
        s.workspaces.get_workspace(&w1.id).await.unwrap(),
        Some(w1.clone()),
        "the workspace is created with its owner"
    );
    assert!(
        matches!(
            m.create_workspace_with_owner(&w1, &membership(&w1.id, &bob, Role::Owner, t))
                .await,
            Err(StoreError::Conflict)
        ),
        "a workspace is created once"
    );
    assert_eq!(
        m.get_membership(&w1.id, &bob).await.unwrap(),
        None,
        "nothing of the loser"
    );

    let bob1 = membership(&w1.id, &bob, Role::Editor, t);
    let carol1 = membership(&w1.id, &carol, Role::Client, t + Duration::seconds(1));
    m.add_membership(&carol1).await.unwrap();
    m.add_membership(&bob1).await.unwrap();
    assert!(
        matches!(m.add_membership(&bob1).await, Err(StoreError::Conflict)),
        "a person is a member once"
    );
    assert_eq!(
        m.get_membership(&w1.id, &bob).await.unwrap(),
        Some(bob1.clone())
    );
    assert_eq!(m.get_membership(&w2.id, &bob).await.unwrap(), None);
    assert_eq!(
        m.list_members(&w1.id).await.unwrap(),
        vec![ann1.clone(), bob1.clone(), carol1.clone()],
        "members oldest first"
    );
    assert_eq!(
        m.memberships_of(&ann).await.unwrap(),
        vec![ann1.clone(), ann2.clone()],
        "a person's memberships oldest first"
    );
    assert!(m
        .memberships_of(&PersonId::generate())
        .await
        .unwrap()
        .is_empty());
    assert!(m
        .list_members(&WorkspaceId::generate())
        .await
        .unwrap()
        .is_empty());

    // One change at its version; a stale one conflicts; a missing one is NotFound.
    let bob_admin = Membership {
        role: Role::Admin,
        version: 2,
        ..bob1.clone()
    };
    m.update_membership(&bob_admin, 1).await.unwrap();
    assert_eq!(
        m.get_membership(&w1.id, &bob).await.unwrap(),
        Some(bob_admin.clone())
    );
    assert_eq!(
        m.memberships_of(&bob).await.unwrap(),
        vec![bob_admin.clone()],
        "the person's listing shows the change"
    );
    assert!(matches!(
        m.update_membership(
            &Membership {
                role: Role::Viewer,
                version: 2,
                ..bob1.clone()
            },
            1
        )
        .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        m.update_membership(&membership(&w2.id, &bob, Role::Viewer, t), 1)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        m.memberships_of(&bob).await.unwrap().len() == 1,
        "a refused change adds nothing"
    );

    // Several at once: all or nothing.
    let ann_admin = Membership {
        role: Role::Admin,
        version: 2,
        ..ann1.clone()
    };
    let bob_owner = Membership {
        role: Role::Owner,
        version: 3,
        ..bob_admin.clone()
    };
    assert!(matches!(
        m.update_memberships(&[(ann_admin.clone(), 1), (bob_owner.clone(), 1)])
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        m.get_membership(&w1.id, &ann).await.unwrap(),
        Some(ann1.clone())
    );
    assert_eq!(m.memberships_of(&ann).await.unwrap()[0], ann1);
    assert!(matches!(
        m.update_memberships(&[
            (ann_admin.clone(), 1),
            (membership(&w1.id, &PersonId::generate(), Role::Owner, t), 1)
        ])
        .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        m.get_membership(&w1.id, &ann).await.unwrap(),
        Some(ann1.clone())
    );
    m.update_memberships(&[(ann_admin.clone(), 1), (bob_owner.clone(), 2)])
        .await
        .unwrap();
    assert_eq!(
        m.get_membership(&w1.id, &ann).await.unwrap(),
        Some(ann_admin.clone())
    );
    assert_eq!(
        m.get_membership(&w1.id, &bob).await.unwrap(),
        Some(bob_owner.clone())
    );
    assert_eq!(
        m.memberships_of(&ann).await.unwrap(),
        vec![ann_admin.clone(), ann2.clone()]
    );

    // Removing.
    m.delete_membership(&w1.id, &carol).await.unwrap();
    assert!(matches!(
        m.delete_membership(&w1.id, &carol).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(m.get_membership(&w1.id, &carol).await.unwrap(), None);
    assert!(m.memberships_of(&carol).await.unwrap().is_empty());
    assert_eq!(
        m.list_members(&w1.id).await.unwrap(),
        vec![ann_admin, bob_owner]
    );
    // A person removed can be added again.
    m.add_membership(&carol1).await.unwrap();
    assert_eq!(m.memberships_of(&carol).await.unwrap(), vec![carol1]);
}

/// Invitations: found without being used up, taken once, never after they expired, listed while open, withdrawn by id.
pub async fn invitations(s: &Stores) {
    let m = s.members.as_ref();
    let owner = PersonId::generate();
    let w = workspace("agency", WorkspaceSettings::default());
    m.create_workspace_with_owner(&w, &membership(&w.id, &owner, Role::Owner, now()))
        .await
        .unwrap();
    let t = now();
    let first = invitation(&w.id, &owner, t - Duration::hours(2), t + Duration::days(7));
    let second = invitation(&w.id, &owner, t - Duration::hours(1), t + Duration::days(7));
    let lapsed = invitation(&w.id, &owner, t - Duration::days(8), t - Duration::days(1));
    let elsewhere = invitation(&WorkspaceId::generate(), &owner, t, t + Duration::days(7));
    for i in [&second, &first, &lapsed, &elsewhere] {
        m.put_invitation(i).await.unwrap();
    }
    assert!(matches!(
        m.put_invitation(&first).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        m.list_invitations(&w.id, t).await.unwrap(),
        vec![first.clone(), second.clone()],
        "open invitations oldest first, expired ones left out"
    );
    assert_eq!(
        m.find_invitation(&first.token_hash, t).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        m.find_invitation(&first.token_hash, t).await.unwrap(),
        Some(first.clone()),
        "finding does not use it up"
    );
    assert_eq!(
        m.find_invitation(&lapsed.token_hash, t).await.unwrap(),
        None
    );
    assert_eq!(
        m.take_invitation(&lapsed.token_hash, t).await.unwrap(),
        None
    );
    assert_eq!(
        m.find_invitation(&first.token_hash, first.expires_at)
            .await
            .unwrap(),
        None,
        "an invitation is dead at its expiry"
    );
    assert_eq!(
        m.find_invitation(&hash_token("forged"), t).await.unwrap(),
        None
    );

    assert_eq!(
        m.take_invitation(&first.token_hash, t).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        m.take_invitation(&first.token_hash, t).await.unwrap(),
        None,
        "an invitation is used once"
    );
    assert_eq!(m.find_invitation(&first.token_hash, t).await.unwrap(), None);
    assert_eq!(
        m.list_invitations(&w.id, t).await.unwrap(),
        vec![second.clone()]
    );

    // Withdrawing: by id, in its own workspace only.
    assert!(matches!(
        m.delete_invitation(&w.id, &elsewhere.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        m.delete_invitation(&w.id, &first.id).await,
        Err(StoreError::NotFound)
    ));
    m.delete_invitation(&w.id, &second.id).await.unwrap();
    assert_eq!(
        m.find_invitation(&second.token_hash, t).await.unwrap(),
        None
    );
    assert_eq!(
        m.take_invitation(&second.token_hash, t).await.unwrap(),
        None
    );
    assert!(m.list_invitations(&w.id, t).await.unwrap().is_empty());
    assert_eq!(
        m.find_invitation(&elsewhere.token_hash, t).await.unwrap(),
        Some(elsewhere)
    );
}

/// Erasing a workspace removes its memberships (from both listings) and its invitations, and no other workspace's.
pub async fn erasing_a_workspace(s: &Stores) {
    let m = s.members.as_ref();
    let (ann, bob) = (PersonId::generate(), PersonId::generate());
    let t = now();
    let doomed = workspace("doomed", WorkspaceSettings::default());
    let kept = workspace("kept", WorkspaceSettings::default());
    m.create_workspace_with_owner(&doomed, &membership(&doomed.id, &ann, Role::Owner, t))
        .await
        .unwrap();
    let anns_kept = membership(&kept.id, &ann, Role::Owner, t);
    m.create_workspace_with_owner(&kept, &anns_kept)
        .await
        .unwrap();
    m.add_membership(&membership(&doomed.id, &bob, Role::Viewer, t))
        .await
        .unwrap();
    let invited = invitation(&doomed.id, &ann, t, t + Duration::days(7));
    let other = invitation(&kept.id, &ann, t, t + Duration::days(7));
    m.put_invitation(&invited).await.unwrap();
    m.put_invitation(&other).await.unwrap();

    s.workspaces.erase_workspace(&doomed.id).await.unwrap();
    assert_eq!(s.workspaces.get_workspace(&doomed.id).await.unwrap(), None);
    assert!(m.list_members(&doomed.id).await.unwrap().is_empty());
    assert_eq!(m.get_membership(&doomed.id, &ann).await.unwrap(), None);
    assert_eq!(
        m.memberships_of(&ann).await.unwrap(),
        vec![anns_kept.clone()]
    );
    assert!(m.memberships_of(&bob).await.unwrap().is_empty());
    assert!(m.list_invitations(&doomed.id, t).await.unwrap().is_empty());
    assert_eq!(
        m.find_invitation(&invited.token_hash, t).await.unwrap(),
        None
    );
    assert_eq!(
        m.take_invitation(&invited.token_hash, t).await.unwrap(),
        None
    );
    assert_eq!(
        m.find_invitation(&other.token_hash, t).await.unwrap(),
        Some(other.clone())
    );
    assert_eq!(m.list_members(&kept.id).await.unwrap(), vec![anns_kept]);
}
