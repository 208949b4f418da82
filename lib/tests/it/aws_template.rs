//! template.yaml agrees with the code: the table, the queues and the publisher's timeout are the ones
//! `postora aws bootstrap` creates, every function is built the same way and has sample events, and only the functions
//! that must open tokens may use the KMS key; a webhook, when set, goes through an EventBridge API destination.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use postora::adapters::aws::sqs::DELIVERY_QUEUE;
use postora::adapters::aws::table::TABLE;
use postora::domain::PlatformKind;
use postora::runtime::secrets::{credentials_var, Function};
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

/// The publisher's timeout, batch size, batching window and the queue's visibility timeout are set together: the
/// visibility timeout is at least six times the timeout plus the batching window (AWS's advice for SQS event
/// sources), and the timeout fits a batch's worst case under the attempts' deadline.
#[test]
fn the_publishers_timeout_batch_and_the_queues_visibility_are_set_together() {
    let t = template();
    let publisher = at(&t, &["Resources", "PublisherFunction", "Properties"]);
    let number = |v: &Value| -> u64 { text(v).parse().expect("a number") };
    let timeout = number(at(publisher, &["Timeout"]));
    let source = at(publisher, &["Events", "Deliveries", "Properties"]);
    let batch = number(at(source, &["BatchSize"]));
    let window = number(at(source, &["MaximumBatchingWindowInSeconds"]));
    let visibility = number(at(
        &t,
        &[
            "Resources",
            "DeliveryQueue",
            "Properties",
            "VisibilityTimeout",
        ],
    ));
    assert_eq!(batch, u64::from(DELIVERY_QUEUE.publisher_batch_size));
    assert_eq!(
        window,
        u64::from(DELIVERY_QUEUE.publisher_batching_window_secs)
    );

    assert!(
        visibility >= 6 * timeout + window,
        "the visibility timeout ({visibility} s) must be at least six times the timeout ({timeout} s) plus the \
         batching window ({window} s)"
    );
    assert!(
        (1..=10).contains(&batch),
        "without a batching window SQS hands at most 10 records"
    );
    assert_eq!(window, 0, "a delivery is handed over the second it is due");

    // A batch's records run at once, so the batch takes as long as one attempt. Of an attempt, only a token refresh
    // is not cut off at its deadline; after one, a whole platform call still fits before the deadline, which is the
    // time to record the outcome before the invocation ends.
    let connect = postora::runtime::platforms::DEFAULT_HTTP_CONNECT_TIMEOUT_SECS;
    let request = postora::runtime::platforms::DEFAULT_HTTP_TIMEOUT_SECS;
    let record = postora::app::lease::RECORD_MARGIN.as_secs()
        + postora::app::publish::MIN_ATTEMPT_TIME.as_secs();
    let worst = (connect + request) + request + record;
    assert!(
        timeout >= worst,
        "the timeout ({timeout} s) must fit a refresh and a platform call and recording ({worst} s)"
    );
    // Lambda never stops an invocation before its attempts' deadline logic does.
    assert!(timeout > record);
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

/// A statement list's entries, each `!If [condition, statement, !Ref AWS::NoValue]` taken as its statement.
fn statements(list_value: &Value) -> Vec<&Value> {
    list(list_value)
        .iter()
        .map(|s| match s {
            Value::Tagged(t) if t.tag == "If" => &list(&t.value)[1],
            plain => plain,
        })
        .collect()
}

/// Every statement of a function's inline policies.
fn policy_statements(function: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    if let Some(policies) = function.get("Properties").and_then(|p| p.get("Policies")) {
        for policy in list(policies) {
            if let Some(s) = policy.get("Statement") {
                all.extend(statements(s));
            }
        }
    }
    all
}

fn statement_actions(s: &Value) -> BTreeSet<String> {
    match at(s, &["Action"]) {
        Value::Sequence(xs) => xs.iter().map(text).collect(),
        one => BTreeSet::from([text(one)]),
    }
}

/// Every action a function's inline policies allow.
fn actions(function: &Value) -> BTreeSet<String> {
    policy_statements(function)
        .into_iter()
        .flat_map(statement_actions)
        .collect()
}

fn yaml(v: &Value) -> String {
    serde_yaml::to_string(v).expect("serializable")
}

/// The function a template resource runs.
fn function_of(f: &Value) -> Function {
    let bin = binary(f);
    Function::ALL
        .into_iter()
        .find(|x| x.binary() == bin)
        .unwrap_or_else(|| panic!("{bin} is no Function"))
}

/// The parameter naming a platform's secret: `ThreadsCredentials`, `XCredentials`, ...
fn credentials_parameter(p: PlatformKind) -> String {
    let name = p.as_str();
    format!("{}{}Credentials", name[..1].to_uppercase(), &name[1..])
}

const ENCRYPTION_CONTEXT: &str = "ForAllValues:StringEquals:\n  kms:EncryptionContextKeys:\n  - workspace\n'Null':\n  kms:EncryptionContextKeys: 'false'\n";

#[test]
fn the_key_policy_lets_the_account_administer_three_functions_unwrap_and_the_oauth_function_seal_registrations(
) {
    let t = template();
    let policy = statements(at(
        &t,
        &[
            "Resources",
            "DataKey",
            "Properties",
            "KeyPolicy",
            "Statement",
        ],
    ));
    let by_sid = |sid: &str| {
        *policy
            .iter()
            .find(|s| text(at(s, &["Sid"])) == sid)
            .unwrap_or_else(|| panic!("the key policy has no {sid}"))
    };
    assert_eq!(
        policy.len(),
        6,
        "administration, functions, registrations, the API's workspace keys and two-factor secrets, operators"
    );
    for s in &policy {
        assert_eq!(text(at(s, &["Effect"])), "Allow");
    }

    let admin = by_sid("AccountAdministers");
    assert!(
        yaml(at(admin, &["Principal", "AWS"])).contains(":root"),
        "the account administers the key"
    );
    let admin_actions = statement_actions(admin);
    for needed in [
        "kms:DescribeKey",
        "kms:PutKeyPolicy",
        "kms:EnableKeyRotation",
        "kms:DisableKey",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "kms:TagResource",
    ] {
        assert!(admin_actions.contains(needed), "the account lacks {needed}");
    }
    for a in &admin_actions {
        assert!(!a.contains('*'), "a wildcard in the administration: {a}");
        for use_of_key in [
            "Encrypt",
            "Decrypt",
            "GenerateDataKey",
            "CreateGrant",
            "Sign",
        ] {
            assert!(
                !a.contains(use_of_key),
                "the account may use the key through {a}"
            );
        }
    }

    let functions_use = by_sid("FunctionsUnwrapWorkspaceKeys");
    assert_eq!(
        statement_actions(functions_use),
        BTreeSet::from(["kms:Decrypt".to_owned()])
    );
    assert_eq!(yaml(at(functions_use, &["Condition"])), ENCRYPTION_CONTEXT);
    let principals: BTreeSet<String> = list(at(functions_use, &["Principal", "AWS"]))
        .iter()
        .map(yaml)
        .collect();
    let wanted: BTreeSet<String> = functions(&t)
        .into_iter()
        .filter(|(_, f)| {
            matches!(
                binary(f).as_str(),
                "publisher" | "oauth-callback" | "token-refresher"
            )
        })
        .map(|(name, _)| format!("!GetAtt {name}Role.Arn\n"))
        .collect();
    assert_eq!(principals, wanted);

    // The OAuth function makes data keys only in the service's own scope, for instance registrations.
    let registrations = by_sid("OAuthSealsRegistrations");
    assert_eq!(
        statement_actions(registrations),
        BTreeSet::from(["kms:GenerateDataKey".to_owned()])
    );
    assert_eq!(
        yaml(at(registrations, &["Condition"])),
        format!(
            "StringEquals:\n  kms:EncryptionContext:workspace: {}\n",
            postora::crypto::registrations::SERVICE_SCOPE
        )
    );
    assert_eq!(
        yaml(at(registrations, &["Principal", "AWS"])),
        "!GetAtt OAuthCallbackFunctionRole.Arn\n"
    );

    // The API function makes new workspaces' keys (sign-up) and seals and opens two-factor secrets in the service's
    // scope; it unwraps no workspace's key.
    let api_keys = by_sid("ApiCreatesWorkspaceKeys");
    assert_eq!(
        statement_actions(api_keys),
        BTreeSet::from(["kms:GenerateDataKey".to_owned()])
    );
    assert_eq!(yaml(at(api_keys, &["Condition"])), ENCRYPTION_CONTEXT);
    assert_eq!(
        yaml(at(api_keys, &["Principal", "AWS"])),
        "!GetAtt PostApiFunctionRole.Arn\n"
    );
    let api_secrets = by_sid("ApiSealsTwoFactorSecrets");
    assert_eq!(
        statement_actions(api_secrets),
        BTreeSet::from(["kms:GenerateDataKey".to_owned(), "kms:Decrypt".to_owned()])
    );
    assert_eq!(
        yaml(at(api_secrets, &["Condition"])),
        format!(
            "StringEquals:\n  kms:EncryptionContext:workspace: {}\n",
            postora::app::people::two_factor::PEOPLE_SCOPE
        )
    );
    assert_eq!(
        yaml(at(api_secrets, &["Principal", "AWS"])),
        "!GetAtt PostApiFunctionRole.Arn\n"
    );

    let operators = by_sid("OperatorsCreateWorkspaceKeys");
    assert_eq!(
        statement_actions(operators),
        BTreeSet::from(["kms:GenerateDataKey".to_owned()])
    );
    assert_eq!(yaml(at(operators, &["Condition"])), ENCRYPTION_CONTEXT);
    assert_eq!(
        yaml(at(operators, &["Principal", "AWS"])),
        "!Ref KeyUsers\n"
    );
}

#[test]
fn no_function_may_use_the_key_through_its_own_policy_nor_a_wildcard() {
    let t = template();
    for (_, f) in functions(&t) {
        let bin = binary(f);
        let all = actions(f);
        assert!(
            !all.iter().any(|a| a.starts_with("kms:")),
            "{bin}: the key policy alone says who may use the key: {all:?}"
        );
        assert!(!all.iter().any(|a| a.contains('*')), "{bin}: {all:?}");
    }
}

/// A function's environment as deployed: the globals, then its own variables.
fn environment(t: &Value, f: &Value) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for scope in [at(t, &["Globals", "Function"]), at(f, &["Properties"])] {
        if let Some(v) = scope.get("Environment").and_then(|e| e.get("Variables")) {
            for (k, v) in v.as_mapping().expect("Variables is a map") {
                vars.insert(text(k), yaml(v));
            }
        }
    }
    vars
}

#[test]
fn no_secret_is_in_any_environment_and_each_function_names_only_the_secrets_it_reads() {
    let t = template();
    for (_, f) in functions(&t) {
        let function = function_of(f);
        let bin = function.binary();
        let env = environment(&t, f);
        for (name, value) in &env {
            assert!(
                !value.contains("resolve:secretsmanager") && !value.contains("{{resolve"),
                "{bin}: {name} holds a resolved secret: {value}"
            );
            assert!(
                !name.ends_with("_CLIENT_SECRET") && !name.ends_with("_CLIENT_ID"),
                "{bin}: {name} is read from Secrets Manager at cold start, never set"
            );
        }
        let named: BTreeSet<&String> = env.keys().filter(|k| k.ends_with("_CREDENTIALS")).collect();
        let wanted: BTreeSet<String> = function
            .secrets()
            .iter()
            .map(|p| credentials_var(*p))
            .collect();
        assert_eq!(
            named,
            wanted.iter().collect::<BTreeSet<_>>(),
            "{bin} names the secrets it reads, and no other"
        );
        for p in function.secrets() {
            let value = &env[&credentials_var(*p)];
            assert!(
                value.contains(&format!("!Ref {}", credentials_parameter(*p))),
                "{bin}: {} carries the secret's name: {value}",
                credentials_var(*p)
            );
        }
    }
}

#[test]
fn each_function_may_read_only_the_secrets_it_uses() {
    let t = template();
    for (_, f) in functions(&t) {
        let function = function_of(f);
        let bin = function.binary();
        let reading: Vec<&Value> = policy_statements(f)
            .into_iter()
            .filter(|s| {
                statement_actions(s)
                    .iter()
                    .any(|a| a.starts_with("secretsmanager:"))
            })
            .collect();
        if function.secrets().is_empty() {
            assert!(reading.is_empty(), "{bin} reads no secret");
            continue;
        }
        assert_eq!(reading.len(), 1, "{bin}: one statement for its secrets");
        let s = reading[0];
        assert_eq!(
            statement_actions(s),
            BTreeSet::from(["secretsmanager:GetSecretValue".to_owned()]),
            "{bin}"
        );
        let resources = list(at(s, &["Resource"]));
        assert_eq!(resources.len(), function.secrets().len(), "{bin}");
        let all = yaml(at(s, &["Resource"]));
        assert!(!all.contains("secret:*"), "{bin}: {all}");
        for p in PlatformKind::ALL {
            let parameter = format!("${{{}}}", credentials_parameter(p));
            assert_eq!(
                all.contains(&parameter),
                function.secrets().contains(&p),
                "{bin} and the {p:?} secret: {all}"
            );
        }
        for r in resources {
            let r = yaml(r);
            assert!(
                r.contains(":secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:")
                    && r.contains("Credentials}-??????"),
                "{bin}: a grant on one secret by its name: {r}"
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
        // A `{name}` segment matches any one segment.
        None => {
            let (ours, theirs): (Vec<_>, Vec<_>) =
                (route.split('/').collect(), path.split('/').collect());
            ours.len() == theirs.len()
                && ours.iter().zip(&theirs).all(|(o, t)| {
                    o == t || (o.starts_with('{') && o.ends_with('}') && !t.is_empty())
                })
        }
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

/// The media bucket is the one `postora aws bootstrap` makes, from the same constants: private, encrypted, owned by
/// its account, reachable over TLS only, with the lifecycle rules the tags of `adapters::aws::s3` rely on, and CORS
/// for the app's origin alone; the functions find it by `POSTORA_MEDIA_BUCKET`.
#[test]
fn the_media_bucket_in_the_template_is_the_one_in_the_code() {
    use postora::adapters::aws::s3::{
        ABORT_UPLOADS_RULE, ATTACHED_TAG, EXPIRE_UNATTACHED_RULE, LIFECYCLE_DAYS, UNATTACHED,
    };

    let t = template();
    let bucket = at(&t, &["Resources", "MediaBucket"]);
    assert_eq!(text(at(bucket, &["Type"])), "AWS::S3::Bucket");
    assert_eq!(text(at(bucket, &["DeletionPolicy"])), "Retain");
    let p = at(bucket, &["Properties"]);
    let sse = &list(at(
        p,
        &["BucketEncryption", "ServerSideEncryptionConfiguration"],
    ))[0];
    assert_eq!(
        text(at(sse, &["ServerSideEncryptionByDefault", "SSEAlgorithm"])),
        "AES256"
    );
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            text(at(p, &["PublicAccessBlockConfiguration", setting])),
            "true",
            "{setting}"
        );
    }
    assert_eq!(
        text(at(
            &list(at(p, &["OwnershipControls", "Rules"]))[0],
            &["ObjectOwnership"]
        )),
        "BucketOwnerEnforced"
    );

    let rules = list(at(p, &["LifecycleConfiguration", "Rules"]));
    let rule = |id: &str| -> &Value {
        rules
            .iter()
            .find(|r| text(at(r, &["Id"])) == id)
            .unwrap_or_else(|| panic!("no lifecycle rule {id}"))
    };
    let abort = rule(ABORT_UPLOADS_RULE);
    assert_eq!(text(at(abort, &["Status"])), "Enabled");
    assert_eq!(
        text(at(
            abort,
            &["AbortIncompleteMultipartUpload", "DaysAfterInitiation"]
        )),
        LIFECYCLE_DAYS.to_string()
    );
    let expire = rule(EXPIRE_UNATTACHED_RULE);
    assert_eq!(text(at(expire, &["Status"])), "Enabled");
    assert_eq!(
        text(at(expire, &["ExpirationInDays"])),
        LIFECYCLE_DAYS.to_string()
    );
    let filters = list(at(expire, &["TagFilters"]));
    assert_eq!(filters.len(), 1);
    assert_eq!(
        (
            text(at(&filters[0], &["Key"])),
            text(at(&filters[0], &["Value"]))
        ),
        (ATTACHED_TAG.to_owned(), UNATTACHED.to_owned())
    );

    let cors = yaml(at(p, &["CorsConfiguration"]));
    for needed in ["ETag", "PUT", "GET", "AppOrigin", "PublicUrl"] {
        assert!(cors.contains(needed), "CORS lacks {needed}: {cors}");
    }
    assert!(!cors.contains("'*'"), "no origin but the app's: {cors}");

    let policy = at(
        &t,
        &[
            "Resources",
            "MediaBucketPolicy",
            "Properties",
            "PolicyDocument",
        ],
    );
    let deny = &list(at(policy, &["Statement"]))[0];
    assert_eq!(text(at(deny, &["Effect"])), "Deny");
    assert_eq!(
        text(at(deny, &["Condition", "Bool", "aws:SecureTransport"])),
        "false"
    );
    let resources = yaml(at(deny, &["Resource"]));
    assert!(
        resources.contains("MediaBucket.Arn}/*") && resources.contains("!GetAtt MediaBucket.Arn"),
        "the bucket and its objects: {resources}"
    );

    for (_, f) in functions(&t) {
        assert_eq!(
            environment(&t, f)
                .get(postora::adapters::aws::ENV_MEDIA_BUCKET)
                .map(String::as_str),
            Some("!Ref MediaBucket\n")
        );
    }
}

/// Each function may do on the media bucket what it needs and nothing else: the API writes, reads, uploads in parts,
/// retags and erases; the publisher reads; the daily sweeps read, delete and abort; the others touch no object.
#[test]
fn each_function_may_do_only_what_it_needs_on_the_media_bucket() {
    let t = template();
    for (_, f) in functions(&t) {
        let bin = binary(f);
        let s3: BTreeSet<String> = actions(f)
            .into_iter()
            .filter(|a| a.starts_with("s3:"))
            .collect();
        let wanted: BTreeSet<String> = match bin.as_str() {
            "post-api" => [
                "s3:PutObject",
                "s3:PutObjectTagging",
                "s3:GetObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
            ]
            .map(String::from)
            .into(),
            "publisher" => ["s3:GetObject", "s3:ListBucket"].map(String::from).into(),
            "token-refresher" => ["s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
                .map(String::from)
                .into(),
            _ => BTreeSet::new(),
        };
        assert_eq!(s3, wanted, "{bin}");
        for s in policy_statements(f) {
            if statement_actions(s).iter().any(|a| a.starts_with("s3:")) {
                let resource = yaml(at(s, &["Resource"]));
                assert!(
                    resource.contains("MediaBucket.Arn"),
                    "{bin}: only the media bucket: {resource}"
                );
            }
        }
    }
}
