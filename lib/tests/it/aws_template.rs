//! template.yaml agrees with the code: the table, the queues and the publisher's timeout are the ones
//! `postora aws bootstrap` creates, every function is built the same way and has sample events, and only the functions
//! that must open tokens may use the KMS key; a webhook, when set, goes through an EventBridge API destination.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use postora::adapters::aws::sqs::DELIVERY_QUEUE;
use postora::adapters::aws::table::TABLE;
use postora::domain::PlatformKind;
use serde_yaml::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the library lives in the repository")
        .to_path_buf()
}

fn template() -> Value {
    let text = std::fs::read_to_string(repo().join("template.yaml")).expect("read template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// The value under a path of keys, or a panic naming the path.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, key| {
        v.get(*key)
            .unwrap_or_else(|| panic!("template.yaml has no {}", path.join(".")))
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

fn list(v: &Value) -> &Vec<Value> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("expected a list, found {v:?}"))
}

/// `(name, type)` of every `AWS::Serverless::Function`.
fn functions(t: &Value) -> Vec<(String, &Value)> {
    at(t, &["Resources"])
        .as_mapping()
        .expect("Resources is a map")
        .iter()
        .filter(|(_, r)| r.get("Type").map(text).as_deref() == Some("AWS::Serverless::Function"))
        .map(|(k, r)| (text(k), r))
        .collect()
}

/// The recipe of one target of the repository's Makefile.
fn makefile_target(target: &str) -> String {
    let makefile = std::fs::read_to_string(repo().join("Makefile")).unwrap();
    let build = makefile
        .lines()
        .find(|l| l.starts_with("CARGO_LAMBDA_BUILD ?="))
        .unwrap_or_default()
        .to_owned();
    assert!(
        build.contains("cargo lambda build --profile lambda-release --arm64"),
        "{build}"
    );
    let recipe: Vec<&str> = makefile
        .lines()
        .skip_while(|l| *l != format!("{target}:"))
        .skip(1)
        .take_while(|l| l.starts_with('\t'))
        .collect();
    assert!(!recipe.is_empty(), "the Makefile has no target {target}");
    recipe.join("\n")
}

fn binary(function: &Value) -> String {
    text(at(function, &["Metadata", "BuildProperties", "Binary"]))
}

fn key_schema(v: &Value) -> Vec<(String, String)> {
    list(v)
        .iter()
        .map(|k| (text(at(k, &["AttributeName"])), text(at(k, &["KeyType"]))))
        .collect()
}

#[test]
fn the_table_in_the_template_is_the_one_in_the_code() {
    let t = template();
    let table = at(&t, &["Resources", "Table"]);
    assert_eq!(text(at(table, &["Type"])), "AWS::DynamoDB::Table");
    let p = at(table, &["Properties"]);
    assert_eq!(text(at(p, &["BillingMode"])), TABLE.billing_mode);

    let defined: BTreeSet<(String, String)> = list(at(p, &["AttributeDefinitions"]))
        .iter()
        .map(|a| {
            (
                text(at(a, &["AttributeName"])),
                text(at(a, &["AttributeType"])),
            )
        })
        .collect();
    let wanted: BTreeSet<(String, String)> = TABLE
        .attribute_definitions()
        .iter()
        .map(|a| (a.name.to_owned(), a.kind.as_str().to_owned()))
        .collect();
    assert_eq!(defined, wanted, "AttributeDefinitions");

    assert_eq!(
        key_schema(at(p, &["KeySchema"])),
        [
            (TABLE.partition_key.name.to_owned(), "HASH".to_owned()),
            (TABLE.sort_key.name.to_owned(), "RANGE".to_owned())
        ]
    );

    let indexes = list(at(p, &["GlobalSecondaryIndexes"]));
    assert_eq!(indexes.len(), TABLE.indexes.len(), "GlobalSecondaryIndexes");
    for want in &TABLE.indexes {
        let found = indexes
            .iter()
            .find(|i| text(at(i, &["IndexName"])) == want.name)
            .unwrap_or_else(|| panic!("template.yaml lacks the index {}", want.name));
        assert_eq!(
            key_schema(at(found, &["KeySchema"])),
            [
                (want.partition_key.name.to_owned(), "HASH".to_owned()),
                (want.sort_key.name.to_owned(), "RANGE".to_owned())
            ],
            "{} keys",
            want.name
        );
        assert_eq!(
            text(at(found, &["Projection", "ProjectionType"])),
            want.projection.kind(),
            "{} projection",
            want.name
        );
        let projected: Vec<String> = found["Projection"]
            .get("NonKeyAttributes")
            .map(|a| list(a).iter().map(text).collect())
            .unwrap_or_default();
        assert_eq!(
            projected,
            want.projection.non_key_attributes(),
            "{} projected attributes",
            want.name
        );
    }

    assert_eq!(
        text(at(p, &["TimeToLiveSpecification", "AttributeName"])),
        TABLE.ttl_attribute
    );
    assert_eq!(text(at(p, &["TimeToLiveSpecification", "Enabled"])), "true");
    assert_eq!(
        text(at(
            p,
            &[
                "PointInTimeRecoverySpecification",
                "PointInTimeRecoveryEnabled"
            ]
        )),
        TABLE.point_in_time_recovery.to_string()
    );
    assert_eq!(
        text(at(p, &["SSESpecification", "SSEEnabled"])),
        TABLE.kms_encryption.to_string()
    );
    assert_eq!(text(at(p, &["SSESpecification", "SSEType"])), "KMS");
}

#[test]
fn the_queues_in_the_template_are_the_ones_in_the_code() {
    let t = template();
    let q = at(&t, &["Resources", "DeliveryQueue", "Properties"]);
    assert_eq!(
        text(at(q, &["VisibilityTimeout"])),
        DELIVERY_QUEUE.visibility_timeout_secs.to_string()
    );
    assert_eq!(
        text(at(q, &["MessageRetentionPeriod"])),
        DELIVERY_QUEUE.retention_secs.to_string()
    );
    assert_eq!(
        text(at(q, &["RedrivePolicy", "maxReceiveCount"])),
        DELIVERY_QUEUE.max_receive_count.to_string()
    );
    let dlq = at(&t, &["Resources", "DeadLetterQueue", "Properties"]);
    assert_eq!(
        text(at(dlq, &["MessageRetentionPeriod"])),
        DELIVERY_QUEUE.dead_letter_retention_secs.to_string()
    );

    let publisher = at(&t, &["Resources", "PublisherFunction", "Properties"]);
    let timeout: u32 = text(at(publisher, &["Timeout"])).parse().expect("a number");
    assert_eq!(timeout, DELIVERY_QUEUE.publisher_timeout_secs);
    assert!(timeout < DELIVERY_QUEUE.visibility_timeout_secs);
    let lease: u32 = text(at(
        publisher,
        &["Environment", "Variables", "POSTORA_PUBLISH_LEASE_SECS"],
    ))
    .parse()
    .expect("a number");
    assert!(
        lease > timeout,
        "a lease must outlive the invocation holding it"
    );

    let source = at(publisher, &["Events", "Deliveries", "Properties"]);
    let queue = serde_yaml::to_string(at(source, &["Queue"])).expect("serializable");
    assert!(
        queue.contains("DeliveryQueue.Arn"),
        "the publisher reads {queue}"
    );
}

#[test]
fn the_publisher_reports_partial_failures_and_the_dispatcher_ticks_every_minute() {
    let t = template();
    let source = at(
        &t,
        &[
            "Resources",
            "PublisherFunction",
            "Properties",
            "Events",
            "Deliveries",
        ],
    );
    assert_eq!(text(at(source, &["Type"])), "SQS");
    let types: Vec<String> = list(at(source, &["Properties", "FunctionResponseTypes"]))
        .iter()
        .map(text)
        .collect();
    assert_eq!(types, ["ReportBatchItemFailures"]);
    at(
        source,
        &["Properties", "ScalingConfig", "MaximumConcurrency"],
    );

    let tick = at(
        &t,
        &[
            "Resources",
            "DispatcherFunction",
            "Properties",
            "Events",
            "Tick",
        ],
    );
    assert_eq!(text(at(tick, &["Type"])), "Schedule");
    assert_eq!(
        text(at(tick, &["Properties", "Schedule"])),
        "rate(1 minute)"
    );
}

#[test]
fn every_function_is_a_workspace_binary_built_with_cargo_lambda_for_arm64() {
    let t = template();
    let globals = at(&t, &["Globals", "Function"]);
    assert_eq!(text(at(globals, &["Runtime"])), "provided.al2023");
    let arch: Vec<String> = list(at(globals, &["Architectures"]))
        .iter()
        .map(text)
        .collect();
    assert_eq!(arch, ["arm64"]);

    let found: BTreeSet<String> = functions(&t)
        .iter()
        .map(|(name, f)| {
            assert_eq!(
                text(at(f, &["Metadata", "BuildMethod"])),
                "makefile",
                "{name}"
            );
            let bin = binary(f);
            // SAM runs `make build-<LogicalId>`: the target must build this binary with cargo-lambda for arm64 and
            // the Lambda profile, and hand it over as `bootstrap`.
            let target = makefile_target(&format!("build-{name}"));
            assert!(
                target.contains(&format!("$(call lambda_binary,{bin})")),
                "{name}: {target}"
            );
            assert!(
                repo()
                    .join("functions/src/bin")
                    .join(format!("{bin}.rs"))
                    .exists(),
                "{name} builds {bin}, which is not a binary under functions/src/bin/"
            );
            bin
        })
        .collect();
    let wanted: BTreeSet<String> = [
        "post-api",
        "oauth-callback",
        "data-deletion",
        "dispatcher",
        "publisher",
        "token-refresher",
    ]
    .map(String::from)
    .into();
    assert_eq!(found, wanted);
}

/// Every action a function's inline policies allow.
fn actions(function: &Value) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    if let Some(policies) = function.get("Properties").and_then(|p| p.get("Policies")) {
        for policy in list(policies) {
            let Some(statements) = policy.get("Statement") else {
                continue;
            };
            for s in list(statements) {
                match at(s, &["Action"]) {
                    Value::Sequence(xs) => all.extend(xs.iter().map(text)),
                    one => {
                        all.insert(text(one));
                    }
                }
            }
        }
    }
    all
}

#[test]
fn only_the_publisher_the_oauth_callback_and_the_refresher_may_use_the_key() {
    let t = template();
    let mut by_function: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, f) in functions(&t) {
        let kms: BTreeSet<String> = actions(f)
            .into_iter()
            .filter(|a| a.starts_with("kms:"))
            .collect();
        by_function.insert(binary(f), kms);
    }
    for (bin, kms) in &by_function {
        let may = matches!(
            bin.as_str(),
            "publisher" | "oauth-callback" | "token-refresher"
        );
        if may {
            assert_eq!(
                kms,
                &BTreeSet::from(["kms:Decrypt".to_owned()]),
                "{bin} needs to unwrap data keys and nothing more"
            );
        } else {
            assert!(kms.is_empty(), "{bin} must not use the key: {kms:?}");
        }
        assert!(
            !actions_have_wildcards(&t, bin),
            "{bin} has a wildcard action"
        );
    }
}

fn actions_have_wildcards(t: &Value, bin: &str) -> bool {
    functions(t)
        .iter()
        .filter(|(_, f)| binary(f) == bin)
        .any(|(_, f)| actions(f).iter().any(|a| a.contains('*')))
}

#[test]
fn every_platform_can_be_given_credentials_from_secrets_manager() {
    let t = template();
    let env = at(&t, &["Globals", "Function", "Environment", "Variables"]);
    for p in PlatformKind::ALL
        .into_iter()
        .filter(|p| *p != PlatformKind::Sandbox)
    {
        for part in ["CLIENT_ID", "CLIENT_SECRET"] {
            let name = format!("POSTORA_{}_{part}", p.env_name());
            let value = serde_yaml::to_string(at(env, &[&name])).expect("serializable");
            assert!(
                value.contains("{{resolve:secretsmanager:"),
                "{name} is not resolved from Secrets Manager: {value}"
            );
        }
    }
}

/// The routes of one function's HTTP API events, as `(method, path)`.
fn routes(function: &Value) -> Vec<(String, String)> {
    let Some(events) = function.get("Properties").and_then(|p| p.get("Events")) else {
        return Vec::new();
    };
    events
        .as_mapping()
        .expect("Events is a map")
        .values()
        .filter(|e| e.get("Type").map(text).as_deref() == Some("HttpApi"))
        .map(|e| {
            (
                text(at(e, &["Properties", "Method"])),
                text(at(e, &["Properties", "Path"])),
            )
        })
        .collect()
}

fn route_matches(method: &str, route: &str, event: &serde_json::Value) -> bool {
    let path = event["rawPath"].as_str().unwrap_or_default();
    let event_method = event["requestContext"]["http"]["method"]
        .as_str()
        .unwrap_or_default();
    let path_ok = match route.strip_suffix("{proxy+}") {
        Some(prefix) => path.starts_with(prefix) && path.len() > prefix.len(),
        None => path == route,
    };
    path_ok && (method == "ANY" || method == event_method)
}

#[test]
fn every_function_and_route_has_a_sample_event() {
    let t = template();
    for (name, f) in functions(&t) {
        let bin = binary(f);
        let dir = repo().join("events").join(&bin);
        let samples: Vec<serde_json::Value> = std::fs::read_dir(&dir)
            .unwrap_or_else(|_| panic!("{name} has no events/{bin}/"))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(&p).expect("readable"))
                    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
            })
            .collect();
        assert!(!samples.is_empty(), "events/{bin}/ has no sample");
        for (method, route) in routes(f) {
            assert!(
                samples.iter().any(|s| route_matches(&method, &route, s)),
                "no sample in events/{bin}/ for {method} {route}"
            );
        }
    }
}

/// With a `WebhookUrl`, and only then, EventBridge delivers Postora's events to it: an API-key connection whose key
/// comes from Secrets Manager, an API destination on that URL, and a rule on Postora's bus (its events' source) that
/// sends the event itself, retries for a day and dead-letters into a queue only that rule may write to.
#[test]
fn webhooks_go_through_an_api_destination_with_retries_and_a_dead_letter_queue() {
    use postora::adapters::aws::eventbridge::SOURCE;

    let t = template();
    assert_eq!(text(at(&t, &["Parameters", "WebhookUrl", "Default"])), "");
    let condition = at(&t, &["Conditions", "HasWebhook"]);
    assert!(
        format!("{condition:?}").contains("WebhookUrl"),
        "{condition:?}"
    );
    let resource = |name: &str| -> &Value {
        let r = at(&t, &["Resources", name]);
        assert_eq!(text(at(r, &["Condition"])), "HasWebhook", "{name}");
        r
    };
    let connection = resource("WebhookConnection");
    assert_eq!(text(at(connection, &["Type"])), "AWS::Events::Connection");
    assert_eq!(
        text(at(connection, &["Properties", "AuthorizationType"])),
        "API_KEY"
    );
    let key = at(
        connection,
        &["Properties", "AuthParameters", "ApiKeyAuthParameters"],
    );
    assert_eq!(text(at(key, &["ApiKeyName"])), "Postora-Webhook-Key");
    let value = format!("{:?}", at(key, &["ApiKeyValue"]));
    assert!(
        value.contains("{{resolve:secretsmanager:${WebhookSecret}}}"),
        "the key is resolved from Secrets Manager, never written in the template: {value}"
    );

    let destination = resource("WebhookDestination");
    assert_eq!(
        text(at(destination, &["Type"])),
        "AWS::Events::ApiDestination"
    );
    assert_eq!(text(at(destination, &["Properties", "HttpMethod"])), "POST");
    assert!(format!(
        "{:?}",
        at(destination, &["Properties", "InvocationEndpoint"])
    )
    .contains("WebhookUrl"));
    assert!(
        format!("{:?}", at(destination, &["Properties", "ConnectionArn"]))
            .contains("WebhookConnection")
    );

    let rule = resource("WebhookRule");
    assert_eq!(text(at(rule, &["Type"])), "AWS::Events::Rule");
    assert!(format!("{:?}", at(rule, &["Properties", "EventBusName"])).contains("EventBus"));
    let sources: Vec<String> = list(at(rule, &["Properties", "EventPattern", "source"]))
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        sources,
        [SOURCE],
        "the rule matches the source Postora puts events with"
    );
    let targets = list(at(rule, &["Properties", "Targets"]));
    assert_eq!(targets.len(), 1);
    let target = &targets[0];
    assert!(format!("{:?}", at(target, &["Arn"])).contains("WebhookDestination"));
    assert!(format!("{:?}", at(target, &["RoleArn"])).contains("WebhookRole"));
    assert_eq!(
        text(at(target, &["InputPath"])),
        "$.detail",
        "the body is the event, as locally"
    );
    let retry = at(target, &["RetryPolicy"]);
    let attempts: u64 = text(at(retry, &["MaximumRetryAttempts"])).parse().unwrap();
    let age: u64 = text(at(retry, &["MaximumEventAgeInSeconds"]))
        .parse()
        .unwrap();
    assert!(attempts > 0 && attempts <= 185, "{attempts}");
    assert!((60..=86_400).contains(&age), "{age}");
    assert!(format!("{:?}", at(target, &["DeadLetterConfig", "Arn"]))
        .contains("WebhookDeadLetterQueue"));

    let dlq = resource("WebhookDeadLetterQueue");
    assert_eq!(text(at(dlq, &["Type"])), "AWS::SQS::Queue");
    let policy = resource("WebhookDeadLetterQueuePolicy");
    let statement = &list(at(policy, &["Properties", "PolicyDocument", "Statement"]))[0];
    assert_eq!(
        text(at(statement, &["Principal", "Service"])),
        "events.amazonaws.com"
    );
    assert_eq!(text(at(statement, &["Action"])), "sqs:SendMessage");
    assert!(
        format!(
            "{:?}",
            at(statement, &["Condition", "ArnEquals", "aws:SourceArn"])
        )
        .contains("WebhookRule"),
        "only the webhook rule may dead-letter into it"
    );
    let role = resource("WebhookRole");
    let role_text = format!("{role:?}");
    assert!(
        role_text.contains("events:InvokeApiDestination")
            && role_text.contains("WebhookDestination")
    );
    assert!(
        !role_text.contains("\"*\""),
        "the role invokes this destination only"
    );
    resource("WebhookDeadLetterAlarm");
    assert_eq!(
        text(at(
            &t,
            &["Outputs", "WebhookDeadLetterQueueUrl", "Condition"]
        )),
        "HasWebhook"
    );
}
