//! Publishing exactly once under faults: duplicate and reordered messages, overlapping dispatchers, a publisher
//! crashed at each step, store writes that lose their condition or meet load, every sandbox platform fault, rate
//! limits, attempts used up, and dead letters.
//!
//! Every case counts what the platform accepted (`GET /sandbox/posts`, grouped by idempotency key), never Postora's
//! own records: after recovery each delivery is on the platform exactly once and published, or in doubt. The sandbox
//! never deduplicates here: in `lookup` mode it makes a new post for every request (so a publisher that repeated
//! itself shows two posts) and answers whether a key landed; in `none` mode it cannot be asked, as X.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use postora::domain::{Delivery, DeliveryStatus, PlatformKind, PostId, WorkspaceId};
use postora::ports::{ManualClock, QueueMessage};
use postora::sandbox::Idempotency;
use postora_test_support::faults::{
    put_raw_message, Failure, Ledger, Node, NodeOptions, PlatformServer, ProbeSettings, Step,
    StoreFaults, Tally, Tripwire, Write, PATIENCE,
};
use serde_json::json;
use tempfile::TempDir;

const SANDBOX: PlatformKind = PlatformKind::Sandbox;

/// A data directory and a sandbox platform that outlives the Postora nodes started on it.
struct World {
    dir: TempDir,
    platform: PlatformServer,
}

impl World {
    async fn new(mode: Idempotency) -> World {
        let dir = tempfile::tempdir().unwrap();
        let platform = PlatformServer::start(dir.path(), mode).await;
        World { dir, platform }
    }

    async fn node(&self, options: NodeOptions) -> Node {
        Node::start(self.dir.path(), &self.platform, options).await
    }

    async fn ledger(&self) -> Ledger {
        self.platform.ledger().await
    }
}

/// One delivery on one account, due now, under `options`; returns the world, the node and the delivery's handles.
async fn one_delivery(
    mode: Idempotency,
    options: NodeOptions,
) -> (World, Node, WorkspaceId, PostId) {
    let world = World::new(mode).await;
    let node = world.node(options).await;
    let (ws, key) = node.workspace().await;
    let ada = node.connect(&key, SANDBOX, "ada").await;
    let post = node.post(&key, "hello", &[&ada]).await;
    (world, node, ws, post)
}

fn body_of(d: &Delivery) -> String {
    serde_json::to_string(&QueueMessage::from(d.key())).unwrap()
}

// ---------------------------------------------------------------------------------------------------------------
// Duplicates, reordering, overlapping dispatchers

#[tokio::test]
async fn duplicated_and_reordered_messages_publish_each_delivery_once() {
    let world = World::new(Idempotency::Lookup).await;
    let node = world
        .node(NodeOptions {
            copies: Some(3),
            ..Default::default()
        })
        .await;
    let (ws, key) = node.workspace().await;
    let mut accounts = Vec::new();
    for user in ["ada", "bo", "cy"] {
        accounts.push(node.connect(&key, SANDBOX, user).await);
    }
    let targets: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let mut posts = Vec::new();
    for i in 0..4 {
        posts.push(node.post(&key, &format!("post {i}"), &targets).await);
    }
    let settled = node.settled(&ws, &posts).await;
    let tally = world.ledger().await.assert_exactly_once(&settled);
    assert_eq!(tally.published, 12);
    assert_eq!(
        node.probe.calls().len(),
        12,
        "three copies of every message, and one platform call per delivery"
    );

    // Every message again after the fact, three times over and all at once: nothing more reaches the platform.
    let mut copies = tokio::task::JoinSet::new();
    for d in settled.iter().chain(&settled).chain(&settled) {
        let (app, body) = (node.app.clone(), body_of(d));
        copies.spawn(async move { app.handle_message(&body).await });
    }
    while let Some(settle) = copies.join_next().await {
        assert_eq!(settle.unwrap(), postora::app::publish::Settle::Done);
    }
    assert_eq!(world.platform.accepted().await.len(), 12);
}

#[tokio::test]
async fn concurrent_copies_of_one_message_make_one_claim_and_one_post() {
    let (world, node, ws, post) = one_delivery(
        Idempotency::Lookup,
        NodeOptions {
            idle: true,
            ..Default::default()
        },
    )
    .await;
    // No publishers run: the API queued the delivery and its message waits.
    let queued = node
        .deliveries(&ws, std::slice::from_ref(&post))
        .await
        .remove(0);
    assert_eq!(queued.status, DeliveryStatus::Queued);
    let mut copies = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (app, body) = (node.app.clone(), body_of(&queued));
        copies.spawn(async move { app.handle_message(&body).await });
    }
    while let Some(settle) = copies.join_next().await {
        assert_eq!(settle.unwrap(), postora::app::publish::Settle::Done);
    }
    let settled = node.deliveries(&ws, &[post]).await;
    assert_eq!(
        world.ledger().await.assert_exactly_once(&settled).published,
        1
    );
    assert_eq!(
        settled[0].attempts, 1,
        "one claim won, the others stood back"
    );
    assert_eq!(node.probe.calls().len(), 1);
}

#[tokio::test]
async fn overlapping_dispatcher_runs_queue_each_delivery_once() {
    let world = World::new(Idempotency::Lookup).await;
    let api = world
        .node(NodeOptions {
            idle: true,
            ..Default::default()
        })
        .await;
    let (ws, key) = api.workspace().await;
    let mut accounts = Vec::new();
    for user in ["ada", "bo", "cy"] {
        accounts.push(api.connect(&key, SANDBOX, user).await);
    }
    let targets: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let due = Utc::now() + chrono::Duration::minutes(10);
    let mut posts = Vec::new();
    for i in 0..10 {
        posts.push(
            api.post_with(
                &key,
                json!({"text": format!("post {i}"), "scheduled_at": due.to_rfc3339()}),
                &targets,
            )
            .await,
        );
    }
    // Three dispatchers on the same data, ten minutes later, running at the same time.
    let later = Arc::new(ManualClock::new(due + chrono::Duration::seconds(1)));
    let mut dispatchers: Vec<Node> = Vec::new();
    for _ in 0..3 {
        dispatchers.push(
            world
                .node(NodeOptions {
                    idle: true,
                    clock: Some(later.clone()),
                    ..Default::default()
                })
                .await,
        );
    }
    let (a, b, c) = tokio::join!(
        dispatchers[0].app.dispatch_tick(),
        dispatchers[1].app.dispatch_tick(),
        dispatchers[2].app.dispatch_tick()
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(a.queued + b.queued + c.queued, 30, "{a:?} {b:?} {c:?}");
    assert_eq!(
        api.queue.depth().await.unwrap(),
        30,
        "one message per delivery"
    );
    let again = dispatchers[0].app.dispatch_tick().await.unwrap();
    assert_eq!(again.queued + again.requeued, 0);

    // Drain the queue with one of them as the publisher.
    let publisher = &dispatchers[0].app;
    loop {
        let batch = publisher
            .queue
            .receive(10, Duration::from_millis(100))
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            publisher.handle_message(&m.body).await;
            publisher.queue.ack(&m.receipt).await.unwrap();
        }
    }
    let settled = api.deliveries(&ws, &posts).await;
    assert_eq!(
        world.ledger().await.assert_exactly_once(&settled).published,
        30
    );
}

// ---------------------------------------------------------------------------------------------------------------
// A publisher crashed at each step, then a new one on the same data

/// Runs one delivery until the publisher reaches `step`, crashes the node there, starts a new node on the same
/// data, and returns the delivery once it settled (checked against the platform).
async fn crash_at(step: Step, mode: Idempotency) -> (Delivery, Ledger) {
    let tripwire = Tripwire::armed_at(step);
    let (world, first, ws, post) = one_delivery(
        mode,
        NodeOptions {
            tripwire: Some(tripwire.clone()),
            ..Default::default()
        },
    )
    .await;
    tripwire.wait().await;
    first.crash();
    let second = world.node(NodeOptions::default()).await;
    let settled = second.settled(&ws, &[post]).await;
    let ledger = world.ledger().await;
    ledger.assert_exactly_once(&settled);
    (settled[0].clone(), ledger)
}

#[tokio::test]
async fn a_crash_before_the_claim_publishes_once_after_a_restart() {
    let (lookup, none) = tokio::join!(
        crash_at(Step::BeforeClaim, Idempotency::Lookup),
        crash_at(Step::BeforeClaim, Idempotency::None)
    );
    assert_eq!(lookup.0.status, DeliveryStatus::Published);
    assert_eq!(none.0.status, DeliveryStatus::Published);
}

#[tokio::test]
async fn a_crash_after_the_claim_publishes_once_even_where_the_platform_cannot_be_asked() {
    let (lookup, none) = tokio::join!(
        crash_at(Step::AfterClaim, Idempotency::Lookup),
        crash_at(Step::AfterClaim, Idempotency::None)
    );
    assert_eq!(lookup.0.status, DeliveryStatus::Published);
    // Nothing had been sent when the first publisher died, so there is nothing to be in doubt about.
    assert_eq!(none.0.status, DeliveryStatus::Published, "{:?}", none.0);
}

#[tokio::test]
async fn a_crash_after_the_platform_accepted_is_recovered_or_in_doubt_never_repeated() {
    let (lookup, none) = tokio::join!(
        crash_at(Step::AfterAccept, Idempotency::Lookup),
        crash_at(Step::AfterAccept, Idempotency::None)
    );
    assert_eq!(lookup.0.status, DeliveryStatus::Published);
    assert_eq!(none.0.status, DeliveryStatus::InDoubt);
    assert_eq!(none.0.error.as_ref().unwrap().code, "outcome_unknown");
    assert_eq!(
        none.1.count(&none.0.idempotency_key()),
        1,
        "the post the crashed publisher sent is there, once"
    );
}

#[tokio::test]
async fn a_crash_before_the_result_is_written_is_recovered_or_in_doubt_never_repeated() {
    let (lookup, none) = tokio::join!(
        crash_at(Step::BeforeResult, Idempotency::Lookup),
        crash_at(Step::BeforeResult, Idempotency::None)
    );
    assert_eq!(lookup.0.status, DeliveryStatus::Published);
    assert_eq!(none.0.status, DeliveryStatus::InDoubt);
    assert_eq!(none.1.count(&none.0.idempotency_key()), 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Store writes that lose their condition or meet load

struct StoreCase {
    delivery: Delivery,
    tally: Tally,
    calls: usize,
    injected: Vec<(Write, Failure)>,
}

async fn under_store_fault(
    write: Write,
    failure: Failure,
    count: u32,
    mode: Idempotency,
) -> StoreCase {
    let faults = StoreFaults::new();
    faults.fail(write, failure, count);
    let (world, node, ws, post) = one_delivery(
        mode,
        NodeOptions {
            store_faults: Some(faults.clone()),
            ..Default::default()
        },
    )
    .await;
    let settled = node.settled(&ws, &[post]).await;
    let tally = world.ledger().await.assert_exactly_once(&settled);
    StoreCase {
        delivery: settled[0].clone(),
        tally,
        calls: node.probe.calls().len(),
        injected: faults.injected(),
    }
}

#[tokio::test]
async fn a_claim_that_loses_its_condition_or_meets_load_is_published_once_later() {
    let (lost_race, busy, answer_lost) = tokio::join!(
        // The claim loses its race: the message is settled, and the delivery, queued without one, is queued again
        // once its deadline passes.
        under_store_fault(Write::Claim, Failure::Conflict, 1, Idempotency::Lookup),
        under_store_fault(Write::Claim, Failure::Throttled, 3, Idempotency::Lookup),
        // The claim is written but its answer is lost: the lease runs out with nothing sent, and the next claim
        // starts afresh even on a platform that cannot be asked.
        under_store_fault(
            Write::Claim,
            Failure::AppliedButThrottled,
            1,
            Idempotency::None
        ),
    );
    for case in [&lost_race, &busy, &answer_lost] {
        assert_eq!(case.delivery.status, DeliveryStatus::Published);
        assert_eq!(case.calls, 1, "one platform call");
        assert!(!case.injected.is_empty(), "the fault happened");
    }
    assert_eq!(busy.injected.len(), 3);
}

#[tokio::test]
async fn a_result_that_cannot_be_written_is_recovered_never_published_again() {
    let (conflict, busy_briefly, busy_long, answer_lost, busy_long_unaskable) = tokio::join!(
        under_store_fault(Write::Result, Failure::Conflict, 1, Idempotency::Lookup),
        // Load on the result write is retried at once: the result is written even where the platform could not be
        // asked afterwards.
        under_store_fault(Write::Result, Failure::Throttled, 2, Idempotency::None),
        // Load that outlasts the retries: the lease runs out and the next claim finds the post on the platform.
        under_store_fault(Write::Result, Failure::Throttled, 8, Idempotency::Lookup),
        under_store_fault(
            Write::Result,
            Failure::AppliedButThrottled,
            1,
            Idempotency::Lookup
        ),
        // The same where the platform cannot be asked: in doubt, never published a second time.
        under_store_fault(Write::Result, Failure::Throttled, 8, Idempotency::None),
    );
    for case in [&conflict, &busy_briefly, &busy_long, &answer_lost] {
        assert_eq!(case.delivery.status, DeliveryStatus::Published);
        assert_eq!(case.calls, 1, "never sent twice");
        assert!(!case.injected.is_empty());
    }
    assert_eq!(busy_long.injected.len(), 8);
    assert_eq!(busy_long_unaskable.delivery.status, DeliveryStatus::InDoubt);
    assert_eq!(busy_long_unaskable.calls, 1);
    assert_eq!(busy_long_unaskable.tally.in_doubt, 1);
}

#[tokio::test]
async fn a_call_that_cannot_be_marked_as_sent_is_never_made() {
    let (busy, conflict, dispatch_busy) = tokio::join!(
        // More load than the retries absorb: the attempt refuses to call, and a later one publishes.
        under_store_fault(Write::Progress, Failure::Throttled, 7, Idempotency::None),
        under_store_fault(Write::Progress, Failure::Conflict, 1, Idempotency::None),
        under_store_fault(Write::Dispatch, Failure::Throttled, 3, Idempotency::None),
    );
    for case in [&busy, &conflict, &dispatch_busy] {
        assert_eq!(case.delivery.status, DeliveryStatus::Published);
        assert_eq!(case.calls, 1);
        assert!(!case.injected.is_empty());
    }
    assert_eq!(busy.injected.len(), 7);
    assert!(
        busy.delivery.attempts >= 2,
        "the refused attempt counted: {:?}",
        busy.delivery
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Every sandbox platform fault

/// One delivery with `fault` set on the sandbox first; returns the settled delivery and the node.
async fn under_platform_fault(
    fault: serde_json::Value,
    mode: Idempotency,
) -> (Delivery, Node, World) {
    let world = World::new(mode).await;
    world.platform.fault(fault).await;
    let node = world.node(NodeOptions::default()).await;
    let (ws, key) = node.workspace().await;
    let ada = node.connect(&key, SANDBOX, "ada").await;
    let post = node.post(&key, "hello", &[&ada]).await;
    let settled = node.settled(&ws, &[post]).await;
    world.ledger().await.assert_exactly_once(&settled);
    assert_eq!(
        world.platform.pending_faults().await,
        0,
        "the fault was used"
    );
    (settled[0].clone(), node, world)
}

fn results(node: &Node) -> Vec<String> {
    node.probe.calls().into_iter().map(|c| c.result).collect()
}

#[tokio::test]
async fn a_platform_that_fails_before_accepting_is_tried_again() {
    let (d, node, _w) = under_platform_fault(
        json!({"kind": "fail_before_accept", "count": 2}),
        Idempotency::None,
    )
    .await;
    assert_eq!(d.status, DeliveryStatus::Published);
    assert_eq!(results(&node), ["transient", "transient", "ok"]);
    assert_eq!(d.attempts, 3);
}

#[tokio::test]
async fn an_answer_lost_after_the_platform_accepted_is_recovered_or_in_doubt() {
    let (dropped, dropped_unaskable, slow, slow_unaskable) = tokio::join!(
        under_platform_fault(json!({"kind": "accept_then_drop"}), Idempotency::Lookup),
        under_platform_fault(json!({"kind": "accept_then_drop"}), Idempotency::None),
        // Slower than the HTTP timeout: the post is stored and the answer never arrives in time.
        under_platform_fault(
            json!({"kind": "slow", "delay_ms": 4000}),
            Idempotency::Lookup
        ),
        under_platform_fault(json!({"kind": "slow", "delay_ms": 4000}), Idempotency::None),
    );
    for (d, node, _) in [&dropped, &slow] {
        assert_eq!(d.status, DeliveryStatus::Published);
        assert_eq!(results(node), ["unknown_outcome"], "found, not sent again");
    }
    for (d, node, w) in [&dropped_unaskable, &slow_unaskable] {
        assert_eq!(d.status, DeliveryStatus::InDoubt);
        assert_eq!(results(node), ["unknown_outcome"]);
        assert_eq!(w.ledger().await.count(&d.idempotency_key()), 1);
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_post_published_once() {
    let (d, node, _w) =
        under_platform_fault(json!({"kind": "expire_token"}), Idempotency::None).await;
    assert_eq!(d.status, DeliveryStatus::Published);
    assert_eq!(results(&node), ["token_expired", "ok"]);
    assert_eq!(d.attempts, 1, "refreshed within the attempt");

    // Expired again right after the refresh: nothing was accepted, so it is tried again later, not failed.
    let (d, node, _w) = under_platform_fault(
        json!({"kind": "expire_token", "count": 2}),
        Idempotency::None,
    )
    .await;
    assert_eq!(d.status, DeliveryStatus::Published);
    assert_eq!(results(&node).last().map(String::as_str), Some("ok"));
    assert!(results(&node)
        .iter()
        .rev()
        .skip(1)
        .all(|r| r == "token_expired"));
    assert_eq!(d.attempts, 2);
    let account = node
        .app
        .stores
        .accounts
        .get_account(&d.workspace_id, &d.account_id)
        .await
        .unwrap()
        .unwrap();
    assert!(account.can_publish(), "the refreshed account stays usable");
}

#[tokio::test]
async fn publishes_that_refresh_one_account_at_once_spend_its_refresh_token_once() {
    // The sandbox rotates refresh tokens: the first refresh spends the one stored. Six publishes of one account start
    // together, each finding the token due for a refresh (the margin is longer than its life), and the platform's
    // refresh is slow enough for them all to overlap. Presenting the spent token again would read as a lost grant
    // and fail the account's deliveries.
    let world = World::new(Idempotency::Lookup).await;
    let options = NodeOptions {
        probe: ProbeSettings {
            refresh_pause: Some(Duration::from_millis(500)),
            ..Default::default()
        },
        ..Default::default()
    }
    .env("POSTORA_REFRESH_MARGIN_SECS", "7200");
    let api = world
        .node(NodeOptions {
            idle: true,
            ..options.clone()
        })
        .await;
    let (ws, key) = api.workspace().await;
    let ada = api.connect(&key, SANDBOX, "ada").await;
    let mut posts = Vec::new();
    for i in 0..6 {
        posts.push(api.post(&key, &format!("post {i}"), &[&ada]).await);
    }
    // Every message is waiting; now the publishers start and take them all at once.
    api.crash();
    let node = world.node(options).await;
    let settled = node.settled(&ws, &posts).await;
    assert_eq!(
        world.ledger().await.assert_exactly_once(&settled).published,
        6,
        "{settled:?}"
    );
    assert_eq!(
        node.probe.refreshes(),
        1,
        "the others used the tokens it stored"
    );
    let account = node
        .app
        .stores
        .accounts
        .get_account(&ws, &settled[0].account_id)
        .await
        .unwrap()
        .unwrap();
    assert!(account.can_publish());
}

#[tokio::test]
async fn a_rate_limit_hint_is_waited_out_before_the_next_call() {
    let (d, node, _w) = under_platform_fault(
        json!({"kind": "rate_limit", "retry_after_secs": 2}),
        Idempotency::None,
    )
    .await;
    assert_eq!(d.status, DeliveryStatus::Published);
    let calls = node.probe.calls();
    assert_eq!(results(&node), ["rate_limited", "ok"]);
    assert!(
        calls[1].at - calls[0].at >= chrono::Duration::seconds(2),
        "called again before the hint: {calls:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The publishing lease

#[tokio::test]
async fn a_platform_call_slower_than_its_lease_is_cut_off_and_recovered_never_repeated() {
    // The first call stalls past the lease before it reaches the platform. Left running, it would land after
    // another publisher had found nothing and published: two posts.
    let (world, node, ws, post) = one_delivery(
        Idempotency::Lookup,
        NodeOptions {
            probe: ProbeSettings {
                stall_first: Some(Duration::from_secs(5)),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    let settled = node.settled(&ws, &[post]).await;
    assert_eq!(
        world.ledger().await.assert_exactly_once(&settled).published,
        1
    );
    // Let the stalled call's time pass: nothing else arrives.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.platform.accepted().await.len(), 1);
    assert!(settled[0].attempts >= 2, "the cut attempt was recovered");
}

#[tokio::test]
async fn a_slow_publish_that_keeps_checkpointing_keeps_its_claim() {
    // Four checkpoints a second apart: longer than the three-second lease, renewed at each step.
    let (world, node, ws, post) = one_delivery(
        Idempotency::Lookup,
        NodeOptions {
            probe: ProbeSettings {
                stretch: Some((4, Duration::from_secs(1))),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    let settled = node.settled(&ws, &[post]).await;
    assert_eq!(
        world.ledger().await.assert_exactly_once(&settled).published,
        1
    );
    assert_eq!(settled[0].attempts, 1, "nobody else claimed it meanwhile");
    assert_eq!(node.probe.calls().len(), 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Rate limits

#[tokio::test]
async fn a_rate_limited_account_waits_while_other_accounts_keep_publishing() {
    let world = World::new(Idempotency::Lookup).await;
    world
        .platform
        .fault(json!({"kind": "rate_limit", "user": "sbx-ada", "retry_after_secs": 600}))
        .await;
    let node = world.node(NodeOptions::default()).await;
    let (ws, key) = node.workspace().await;
    let ada = node.connect(&key, SANDBOX, "ada").await;
    let bo = node.connect(&key, SANDBOX, "bo").await;
    let first = node.post(&key, "first", &[&ada]).await;
    node.until(&ws, std::slice::from_ref(&first), "the 429", |d| {
        d[0].error
            .as_ref()
            .is_some_and(|e| e.code == "rate_limited")
    })
    .await;
    let second = node.post(&key, "second", &[&ada]).await;
    let other = node.post(&key, "other", &[&bo]).await;
    let published = node.settled(&ws, std::slice::from_ref(&other)).await;
    assert_eq!(published[0].status, DeliveryStatus::Published);
    // The account's next delivery was held without a call, and gave its attempt back.
    let held = node
        .until(&ws, std::slice::from_ref(&second), "the hold", |d| {
            d[0].error
                .as_ref()
                .is_some_and(|e| e.code == "rate_limited")
        })
        .await;
    assert!(matches!(
        held[0].status,
        DeliveryStatus::Scheduled | DeliveryStatus::Queued
    ));
    assert_eq!(held[0].attempts, 0);
    assert_eq!(
        node.probe.calls_for("ada").len(),
        1,
        "only the call that met the 429"
    );
    assert_eq!(node.probe.calls_for("bo").len(), 1);
    let ledger = world.ledger().await;
    ledger.assert_exactly_once(&published);
    assert_eq!(
        ledger.by_key.len(),
        1,
        "nothing of the limited account landed"
    );
}

#[tokio::test]
async fn an_app_wide_limit_holds_that_platform_and_not_the_others() {
    let world = World::new(Idempotency::Lookup).await;
    world
        .platform
        .fault(json!({"kind": "rate_limit", "user": "sbx-ada", "scope": "app", "retry_after_secs": 600}))
        .await;
    // The same network also serves as a second platform, with its own app limits.
    let node = world
        .node(NodeOptions {
            also_as: Some(PlatformKind::Mastodon),
            ..Default::default()
        })
        .await;
    let (ws, key) = node.workspace().await;
    let ada = node.connect(&key, SANDBOX, "ada").await;
    let bo = node.connect(&key, SANDBOX, "bo").await;
    let cy = node.connect(&key, PlatformKind::Mastodon, "cy").await;
    let first = node.post(&key, "first", &[&ada]).await;
    node.until(&ws, &[first], "the 429", |d| {
        d[0].error
            .as_ref()
            .is_some_and(|e| e.code == "app_rate_limited")
    })
    .await;
    let same_platform = node.post(&key, "same platform", &[&bo]).await;
    let other_platform = node.post(&key, "other platform", &[&cy]).await;
    let published = node.settled(&ws, &[other_platform]).await;
    assert_eq!(published[0].status, DeliveryStatus::Published);
    node.until(&ws, &[same_platform], "the hold", |d| {
        d[0].error
            .as_ref()
            .is_some_and(|e| e.code == "app_rate_limited")
    })
    .await;
    assert_eq!(
        node.probe.calls_for("bo").len(),
        0,
        "another account on the limited platform made no call"
    );
    assert_eq!(node.other.as_ref().unwrap().calls_for("cy").len(), 1);
    world.ledger().await.assert_exactly_once(&published);
}

// ---------------------------------------------------------------------------------------------------------------
// Attempts used up

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_failed_after_its_attempts_with_the_last_error_kept() {
    let world = World::new(Idempotency::None).await;
    world
        .platform
        .fault(json!({"kind": "fail_before_accept", "count": 10, "user": "sbx-ada"}))
        .await;
    let node = world
        .node(NodeOptions::default().env("POSTORA_MAX_ATTEMPTS", "3"))
        .await;
    let (ws, key) = node.workspace().await;
    let ada = node.connect(&key, SANDBOX, "ada").await;
    let post = node.post(&key, "doomed", &[&ada]).await;
    let settled = node.settled(&ws, &[post]).await;
    assert_eq!(world.ledger().await.assert_exactly_once(&settled).failed, 1);
    let d = &settled[0];
    assert_eq!(d.attempts, 3);
    let error = d.error.as_ref().unwrap();
    assert_eq!(error.code, "transient");
    assert!(
        error.message.contains("gave up after 3 attempts")
            && error.message.contains("failing on purpose"),
        "{error:?}"
    );
    assert_eq!(node.probe.calls_for("ada").len(), 3);
    assert_eq!(world.platform.pending_faults().await, 1, "7 of 10 left");
}

// ---------------------------------------------------------------------------------------------------------------
// Dead letters

#[tokio::test]
async fn an_unreadable_message_goes_to_the_dead_letter_queue_and_redrive_brings_it_back() {
    let world = World::new(Idempotency::Lookup).await;
    let node = world
        .node(NodeOptions::default().env("POSTORA_QUEUE_MAX_RECEIVES", "2"))
        .await;
    put_raw_message(world.dir.path(), "{not a delivery").await;
    let dead = wait_for_dead_letters(&node, 1).await;
    assert_eq!(dead[0].body, "{not a delivery");
    assert_eq!(node.app.queue.redrive().await.unwrap(), 1);
    assert_eq!(node.app.queue.dead_letters(10).await.unwrap().len(), 0);
    // Back on the queue, received again, and parked again: still unreadable, still not lost.
    let dead = wait_for_dead_letters(&node, 1).await;
    assert_eq!(dead[0].body, "{not a delivery");
}

#[tokio::test]
async fn a_dead_lettered_delivery_is_published_once_after_a_redrive() {
    let faults = StoreFaults::new();
    // The publisher cannot read the delivery when its message arrives, and the deadline to queue it again is far
    // away: only a redrive brings it back.
    faults.throttle_reads(1);
    let (world, node, ws, post) = one_delivery(
        Idempotency::Lookup,
        NodeOptions {
            store_faults: Some(faults),
            ..Default::default()
        }
        .env("POSTORA_QUEUE_MAX_RECEIVES", "1")
        .env("POSTORA_REQUEUE_AFTER_SECS", "600"),
    )
    .await;
    let dead = wait_for_dead_letters(&node, 1).await;
    let stuck = node.deliveries(&ws, std::slice::from_ref(&post)).await;
    assert_eq!(stuck[0].status, DeliveryStatus::Queued);
    assert_eq!(dead[0].body, body_of(&stuck[0]));
    assert!(world.platform.accepted().await.is_empty());
    assert_eq!(node.app.queue.redrive().await.unwrap(), 1);
    let settled = node.settled(&ws, &[post]).await;
    assert_eq!(
        world.ledger().await.assert_exactly_once(&settled).published,
        1
    );
}

async fn wait_for_dead_letters(node: &Node, n: usize) -> Vec<postora::ports::DeadLetter> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let dead = node.app.queue.dead_letters(10).await.unwrap();
        if dead.len() >= n {
            return dead;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing reached the dead-letter queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
