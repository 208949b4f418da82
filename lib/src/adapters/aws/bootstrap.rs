//! `postora aws bootstrap`: creates what the AWS adapters need (the table with its time to live and point-in-time
//! recovery, a KMS key with rotation behind an alias, the delivery queue with its dead-letter queue, the event bus,
//! the media bucket with its public access blocked and its lifecycle rules) from the same definitions template.yaml
//! declares. Each step looks before it creates, so running it again changes
//! nothing; a resource that exists in another shape is reported, never replaced.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, Projection, ProjectionType,
    ScalarAttributeType, SseSpecification, SseType, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::s3::{
    ABORT_UPLOADS_RULE, ATTACHED_TAG, EXPIRE_UNATTACHED_RULE, LIFECYCLE_DAYS, UNATTACHED,
};
use super::sqs::DELIVERY_QUEUE;
use super::table::{IndexDefinition, Projection as TableProjection, TABLE};
use super::{queue_name, AwsClients, AwsConfig};

/// What bootstrap did to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// For example `table postora` or `queue postora-deliveries`.
    pub resource: String,
    pub outcome: Outcome,
}

/// Everything bootstrap did, and the URLs of the queues it made sure of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapReport {
    pub steps: Vec<Step>,
    pub queue_url: String,
    pub dead_letter_url: String,
    pub key_arn: String,
}

impl BootstrapReport {
    /// True if any resource was created or changed.
    pub fn changed(&self) -> bool {
        self.steps.iter().any(|s| s.outcome != Outcome::Unchanged)
    }

    fn push(&mut self, resource: String, outcome: Outcome) {
        self.steps.push(Step { resource, outcome });
    }
}

impl fmt::Display for BootstrapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            let what = match s.outcome {
                Outcome::Created => "created",
                Outcome::Updated => "updated",
                Outcome::Unchanged => "already in place",
            };
            writeln!(f, "{:<48} {what}", s.resource)?;
        }
        writeln!(f, "queue URL             {}", self.queue_url)?;
        write!(f, "dead-letter queue URL {}", self.dead_letter_url)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{op} failed: {message}")]
    Aws { op: &'static str, message: String },
    /// A resource exists but not in the shape Postora needs; bootstrap will not replace it.
    #[error("{0}")]
    Mismatch(String),
    #[error("the table {0} did not become active in time")]
    NotActive(String),
}

fn aws<E>(op: &'static str) -> impl FnOnce(E) -> BootstrapError
where
    E: std::error::Error + 'static,
{
    move |e| BootstrapError::Aws {
        op,
        message: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
    }
}

/// How long to wait for a new table to become active, and how often to look.
const TABLE_WAIT: Duration = Duration::from_secs(300);
const TABLE_POLL: Duration = Duration::from_secs(2);

/// Creates whatever is missing. Safe to run any number of times.
pub async fn bootstrap(
    clients: &AwsClients,
    config: &AwsConfig,
) -> Result<BootstrapReport, BootstrapError> {
    let mut report = BootstrapReport::default();
    ensure_table(clients, &config.table, &mut report).await?;
    report.key_arn = ensure_key(clients, &config.kms_key, &mut report).await?;
    let (dead_letter_url, dead_letter_arn) =
        ensure_dead_letter_queue(clients, queue_name(&config.dead_letter_queue), &mut report)
            .await?;
    report.queue_url = ensure_queue(
        clients,
        queue_name(&config.queue),
        &dead_letter_arn,
        &mut report,
    )
    .await?;
    report.dead_letter_url = dead_letter_url;
    ensure_bus(clients, &config.event_bus, &mut report).await?;
    ensure_bucket(clients, &config.media_bucket, &mut report).await?;
    Ok(report)
}

fn key_schema(partition: &str, sort: &str) -> Result<Vec<KeySchemaElement>, BootstrapError> {
    [(partition, KeyType::Hash), (sort, KeyType::Range)]
        .into_iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(aws("CreateTable"))
        })
        .collect()
}

fn index(def: &IndexDefinition) -> Result<GlobalSecondaryIndex, BootstrapError> {
    GlobalSecondaryIndex::builder()
        .index_name(def.name)
        .set_key_schema(Some(key_schema(def.partition_key.name, def.sort_key.name)?))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::from(def.projection.kind()))
                .set_non_key_attributes(match def.projection {
                    TableProjection::KeysOnly => None,
                    TableProjection::Include(attributes) => {
                        Some(attributes.iter().map(|a| (*a).to_owned()).collect())
                    }
                })
                .build(),
        )
        .build()
        .map_err(aws("CreateTable"))
}

async fn ensure_table(
    clients: &AwsClients,
    name: &str,
    report: &mut BootstrapReport,
) -> Result<(), BootstrapError> {
    let db = &clients.dynamodb;
    let described = db.describe_table().table_name(name).send().await;
    let outcome = match described {
        Ok(out) => {
            let table = out
                .table
                .unwrap_or_else(|| aws_sdk_dynamodb::types::TableDescription::builder().build());
            check_table_shape(name, &table)?;
            Outcome::Unchanged
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            let definitions = TABLE
                .attribute_definitions()
                .iter()
                .map(|a| {
                    AttributeDefinition::builder()
                        .attribute_name(a.name)
                        .attribute_type(ScalarAttributeType::from(a.kind.as_str()))
                        .build()
                        .map_err(aws("CreateTable"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            db.create_table()
                .table_name(name)
                .set_key_schema(Some(key_schema(
                    TABLE.partition_key.name,
                    TABLE.sort_key.name,
                )?))
                .set_attribute_definitions(Some(definitions))
                .set_global_secondary_indexes(Some(
                    TABLE.indexes.iter().map(index).collect::<Result<_, _>>()?,
                ))
                .billing_mode(BillingMode::from(TABLE.billing_mode))
                .sse_specification(
                    SseSpecification::builder()
                        .enabled(TABLE.kms_encryption)
                        .sse_type(SseType::Kms)
                        .build(),
                )
                .send()
                .await
                .map_err(aws("CreateTable"))?;
            Outcome::Created
        }
        Err(e) => return Err(aws("DescribeTable")(e)),
    };
    report.push(format!("table {name}"), outcome);
    wait_until_active(clients, name).await?;
    ensure_ttl(clients, name, report).await?;
    ensure_point_in_time_recovery(clients, name, report).await
}

/// Refuses a table that exists with other keys or indexes: the adapters would fail on it in confusing ways.
fn check_table_shape(
    name: &str,
    table: &aws_sdk_dynamodb::types::TableDescription,
) -> Result<(), BootstrapError> {
    let keys_of = |schema: &[KeySchemaElement]| -> Vec<String> {
        schema
            .iter()
            .map(|k| k.attribute_name().to_owned())
            .collect()
    };
    let want_keys = vec![
        TABLE.partition_key.name.to_owned(),
        TABLE.sort_key.name.to_owned(),
    ];
    if keys_of(table.key_schema()) != want_keys {
        return Err(BootstrapError::Mismatch(format!(
            "the table {name} exists with keys {:?}, not {want_keys:?}",
            keys_of(table.key_schema())
        )));
    }
    for want in &TABLE.indexes {
        let found = table
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(want.name));
        let ok = found.is_some_and(|i| {
            keys_of(i.key_schema()) == [want.partition_key.name, want.sort_key.name]
        });
        if !ok {
            return Err(BootstrapError::Mismatch(format!(
                "the table {name} lacks the index {} ({} / {})",
                want.name, want.partition_key.name, want.sort_key.name
            )));
        }
    }
    Ok(())
}

async fn wait_until_active(clients: &AwsClients, name: &str) -> Result<(), BootstrapError> {
    let deadline = tokio::time::Instant::now() + TABLE_WAIT;
    loop {
        let out = clients
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(aws("DescribeTable"))?;
        let table = out.table;
        let active = table.as_ref().is_some_and(|t| {
            t.table_status() == Some(&TableStatus::Active)
                && t.global_secondary_indexes().iter().all(|i| {
                    i.index_status()
                        .is_none_or(|s| *s == aws_sdk_dynamodb::types::IndexStatus::Active)
                })
        });
        if active {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(BootstrapError::NotActive(name.to_owned()));
        }
        tokio::time::sleep(TABLE_POLL).await;
    }
}

async fn ensure_ttl(
    clients: &AwsClients,
    name: &str,
    report: &mut BootstrapReport,
) -> Result<(), BootstrapError> {
    let out = clients
        .dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(aws("DescribeTimeToLive"))?;
    let current = out.time_to_live_description;
    let status = current
        .as_ref()
        .and_then(|d| d.time_to_live_status().cloned());
    let attribute = current.as_ref().and_then(|d| d.attribute_name());
    let outcome = match status {
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
            if attribute.is_some_and(|a| a != TABLE.ttl_attribute) {
                return Err(BootstrapError::Mismatch(format!(
                    "the table {name} expires items by {attribute:?}, not {}",
                    TABLE.ttl_attribute
                )));
            }
            Outcome::Unchanged
        }
        _ => {
            clients
                .dynamodb
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(TABLE.ttl_attribute)
                        .enabled(true)
                        .build()
                        .map_err(aws("UpdateTimeToLive"))?,
                )
                .send()
                .await
                .map_err(aws("UpdateTimeToLive"))?;
            Outcome::Updated
        }
    };
    report.push(
        format!("table {name}: time to live on {}", TABLE.ttl_attribute),
        outcome,
    );
    Ok(())
}

async fn ensure_point_in_time_recovery(
    clients: &AwsClients,
    name: &str,
    report: &mut BootstrapReport,
) -> Result<(), BootstrapError> {
    if !TABLE.point_in_time_recovery {
        return Ok(());
    }
    let out = clients
        .dynamodb
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .map_err(aws("DescribeContinuousBackups"))?;
    let enabled = out
        .continuous_backups_description
        .and_then(|d| d.point_in_time_recovery_description)
        .and_then(|p| p.point_in_time_recovery_status)
        == Some(PointInTimeRecoveryStatus::Enabled);
    let outcome = if enabled {
        Outcome::Unchanged
    } else {
        clients
            .dynamodb
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(aws("UpdateContinuousBackups"))?,
            )
            .send()
            .await
            .map_err(aws("UpdateContinuousBackups"))?;
        Outcome::Updated
    };
    report.push(format!("table {name}: point-in-time recovery"), outcome);
    Ok(())
}

/// Makes sure the key exists with rotation on. Only a key named by alias is created; a key id or ARN must exist.
async fn ensure_key(
    clients: &AwsClients,
    key: &str,
    report: &mut BootstrapReport,
) -> Result<String, BootstrapError> {
    let kms = &clients.kms;
    let described = kms.describe_key().key_id(key).send().await;
    let (key_id, arn) = match described {
        Ok(out) => {
            let meta = out.key_metadata.ok_or_else(|| BootstrapError::Aws {
                op: "DescribeKey",
                message: "no key metadata returned".into(),
            })?;
            report.push(format!("key {key}"), Outcome::Unchanged);
            (
                meta.key_id().to_owned(),
                meta.arn().unwrap_or_default().to_owned(),
            )
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            let Some(alias) = key.strip_prefix("alias/") else {
                return Err(BootstrapError::Mismatch(format!(
                    "the key {key} does not exist; bootstrap creates keys only when named by alias (alias/<name>)"
                )));
            };
            let created = kms
                .create_key()
                .description(format!("Postora data keys ({alias})"))
                .key_usage(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt)
                .key_spec(aws_sdk_kms::types::KeySpec::SymmetricDefault)
                .send()
                .await
                .map_err(aws("CreateKey"))?;
            let meta = created.key_metadata.ok_or_else(|| BootstrapError::Aws {
                op: "CreateKey",
                message: "no key metadata returned".into(),
            })?;
            kms.create_alias()
                .alias_name(key)
                .target_key_id(meta.key_id())
                .send()
                .await
                .map_err(aws("CreateAlias"))?;
            report.push(format!("key {key}"), Outcome::Created);
            (
                meta.key_id().to_owned(),
                meta.arn().unwrap_or_default().to_owned(),
            )
        }
        Err(e) => return Err(aws("DescribeKey")(e)),
    };
    let rotating = kms
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .map_err(aws("GetKeyRotationStatus"))?
        .key_rotation_enabled;
    let outcome = if rotating {
        Outcome::Unchanged
    } else {
        kms.enable_key_rotation()
            .key_id(&key_id)
            .send()
            .await
            .map_err(aws("EnableKeyRotation"))?;
        Outcome::Updated
    };
    report.push(format!("key {key}: automatic rotation"), outcome);
    Ok(arn)
}

/// The URL of a queue, or `None` if it does not exist.
async fn find_queue(clients: &AwsClients, name: &str) -> Result<Option<String>, BootstrapError> {
    match clients.sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws("GetQueueUrl")(e)),
    }
}

/// Creates the queue with `wanted` attributes, or brings an existing one's attributes in line.
async fn ensure_queue_attributes(
    clients: &AwsClients,
    name: &str,
    wanted: HashMap<QueueAttributeName, String>,
    report: &mut BootstrapReport,
) -> Result<String, BootstrapError> {
    let sqs = &clients.sqs;
    let Some(url) = find_queue(clients, name).await? else {
        let out = sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(wanted))
            .send()
            .await
            .map_err(aws("CreateQueue"))?;
        report.push(format!("queue {name}"), Outcome::Created);
        return out.queue_url.ok_or_else(|| BootstrapError::Aws {
            op: "CreateQueue",
            message: "no queue URL returned".into(),
        });
    };
    let current = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(aws("GetQueueAttributes"))?
        .attributes
        .unwrap_or_default();
    let differing: HashMap<_, _> = wanted
        .into_iter()
        .filter(|(k, v)| !same_attribute(k, current.get(k), v))
        .collect();
    let outcome = if differing.is_empty() {
        Outcome::Unchanged
    } else {
        sqs.set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(differing))
            .send()
            .await
            .map_err(aws("SetQueueAttributes"))?;
        Outcome::Updated
    };
    report.push(format!("queue {name}"), outcome);
    Ok(url)
}

/// Compares queue attributes by meaning: a redrive policy is JSON whose count may come back as a string.
fn same_attribute(name: &QueueAttributeName, current: Option<&String>, wanted: &str) -> bool {
    let Some(current) = current else {
        return false;
    };
    if *name != QueueAttributeName::RedrivePolicy {
        return current == wanted;
    }
    let parse = |s: &str| -> Option<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(s).ok()?;
        let arn = v.get("deadLetterTargetArn")?.as_str()?.to_owned();
        let count = match v.get("maxReceiveCount")? {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some((arn, count))
    };
    parse(current).is_some() && parse(current) == parse(wanted)
}

async fn ensure_dead_letter_queue(
    clients: &AwsClients,
    name: &str,
    report: &mut BootstrapReport,
) -> Result<(String, String), BootstrapError> {
    let wanted = HashMap::from([(
        QueueAttributeName::MessageRetentionPeriod,
        DELIVERY_QUEUE.dead_letter_retention_secs.to_string(),
    )]);
    let url = ensure_queue_attributes(clients, name, wanted, report).await?;
    let arn = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws("GetQueueAttributes"))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| BootstrapError::Aws {
            op: "GetQueueAttributes",
            message: "no queue ARN returned".into(),
        })?;
    Ok((url, arn))
}

async fn ensure_queue(
    clients: &AwsClients,
    name: &str,
    dead_letter_arn: &str,
    report: &mut BootstrapReport,
) -> Result<String, BootstrapError> {
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": DELIVERY_QUEUE.max_receive_count,
    });
    let wanted = HashMap::from([
        (
            QueueAttributeName::VisibilityTimeout,
            DELIVERY_QUEUE.visibility_timeout_secs.to_string(),
        ),
        (
            QueueAttributeName::MessageRetentionPeriod,
            DELIVERY_QUEUE.retention_secs.to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
    ]);
    ensure_queue_attributes(clients, name, wanted, report).await
}

async fn ensure_bus(
    clients: &AwsClients,
    name: &str,
    report: &mut BootstrapReport,
) -> Result<(), BootstrapError> {
    let eb = &clients.eventbridge;
    let outcome = match eb.describe_event_bus().name(name).send().await {
        Ok(_) => Outcome::Unchanged,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            eb.create_event_bus()
                .name(name)
                .send()
                .await
                .map_err(aws("CreateEventBus"))?;
            Outcome::Created
        }
        Err(e) => return Err(aws("DescribeEventBus")(e)),
    };
    report.push(format!("event bus {name}"), outcome);
    Ok(())
}

/// Makes sure the media bucket exists, with server-side encryption (SSE-S3) and every object owned by the bucket's
/// account, its public access blocked, and its lifecycle rules.
async fn ensure_bucket(
    clients: &AwsClients,
    name: &str,
    report: &mut BootstrapReport,
) -> Result<(), BootstrapError> {
    let s3 = &clients.s3;
    let outcome = match s3.head_bucket().bucket(name).send().await {
        Ok(_) => Outcome::Unchanged,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
            let mut create = s3.create_bucket().bucket(name);
            // us-east-1 takes no location constraint; every other region must be named.
            if let Some(region) = s3.config().region().map(|r| r.as_ref().to_owned()) {
                if region != "us-east-1" {
                    create = create.create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::from(region.as_str()))
                            .build(),
                    );
                }
            }
            create.send().await.map_err(aws("CreateBucket"))?;
            s3.put_bucket_encryption()
                .bucket(name)
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(
                            ServerSideEncryptionRule::builder()
                                .apply_server_side_encryption_by_default(
                                    ServerSideEncryptionByDefault::builder()
                                        .sse_algorithm(ServerSideEncryption::Aes256)
                                        .build()
                                        .map_err(aws("PutBucketEncryption"))?,
                                )
                                .build(),
                        )
                        .build()
                        .map_err(aws("PutBucketEncryption"))?,
                )
                .send()
                .await
                .map_err(aws("PutBucketEncryption"))?;
            s3.put_bucket_ownership_controls()
                .bucket(name)
                .ownership_controls(
                    OwnershipControls::builder()
                        .rules(
                            OwnershipControlsRule::builder()
                                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                                .build()
                                .map_err(aws("PutBucketOwnershipControls"))?,
                        )
                        .build()
                        .map_err(aws("PutBucketOwnershipControls"))?,
                )
                .send()
                .await
                .map_err(aws("PutBucketOwnershipControls"))?;
            Outcome::Created
        }
        Err(e) => return Err(aws("HeadBucket")(e)),
    };
    report.push(format!("bucket {name}"), outcome);
    ensure_public_access_block(clients, name, report).await?;
    ensure_lifecycle(clients, name, report).await
}

async fn ensure_public_access_block(
    clients: &AwsClients,
    name: &str,
    report: &mut BootstrapReport,
) -> Result<(), BootstrapError> {
    let s3 = &clients.s3;
    let blocked = match s3.get_public_access_block().bucket(name).send().await {
        Ok(out) => out.public_access_block_configuration().is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        }),
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => false,
        Err(e) => return Err(aws("GetPublicAccessBlock")(e)),
    };
    let outcome = if blocked {
        Outcome::Unchanged
    } else {
        s3.put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(aws("PutPublicAccessBlock"))?;
        Outcome::Updated
    };
    report.push(format!("bucket {name}: public access blocked"), outcome);
    Ok(())
}

/// The media bucket's lifecycle rules: abort multipart uploads left unfinished, and expire objects no post ever used
/// (tagged `postora-attached=false`), each after [`LIFECYCLE_DAYS`].
fn lifecycle_rules() -> Result<Vec<LifecycleRule>, BootstrapError> {
    let abort = LifecycleRule::builder()
        .id(ABORT_UPLOADS_RULE)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(LIFECYCLE_DAYS)
                .build(),
        )
        .build()
        .map_err(aws("PutBucketLifecycleConfiguration"))?;
    let expire = LifecycleRule::builder()
        .id(EXPIRE_UNATTACHED_RULE)
        .status(ExpirationStatus::Enabled)
        .filter(
            LifecycleRuleFilter::builder()
                .tag(
                    Tag::builder()
                        .key(ATTACHED_TAG)
                        .value(UNATTACHED)
                        .build()
                        .map_err(aws("PutBucketLifecycleConfiguration"))?,
                )
                .build(),
        )
        .expiration(LifecycleExpiration::builder().days(LIFECYCLE_DAYS).build())
        .build()
        .map_err(aws("PutBucketLifecycleConfiguration"))?;
    Ok(vec![abort, expire])
}

async fn ensure_lifecycle(
    clients: &AwsClients,
    name: &str,
    report: &mut BootstrapReport,
) -> Result<(), BootstrapError> {
    let s3 = &clients.s3;
    let present: Vec<String> = match s3
        .get_bucket_lifecycle_configuration()
        .bucket(name)
        .send()
        .await
    {
        Ok(out) => out
            .rules()
            .iter()
            .filter_map(|r| r.id().map(str::to_owned))
            .collect(),
        Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Vec::new(),
        Err(e) => return Err(aws("GetBucketLifecycleConfiguration")(e)),
    };
    let outcome = if [ABORT_UPLOADS_RULE, EXPIRE_UNATTACHED_RULE]
        .iter()
        .all(|id| present.iter().any(|p| p == id))
    {
        Outcome::Unchanged
    } else {
        s3.put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(lifecycle_rules()?))
                    .build()
                    .map_err(aws("PutBucketLifecycleConfiguration"))?,
            )
            .send()
            .await
            .map_err(aws("PutBucketLifecycleConfiguration"))?;
        Outcome::Updated
    };
    report.push(format!("bucket {name}: lifecycle rules"), outcome);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policies_compare_by_meaning() {
        let name = QueueAttributeName::RedrivePolicy;
        let wanted = r#"{"deadLetterTargetArn":"arn:q","maxReceiveCount":5}"#.to_owned();
        let same = r#"{"maxReceiveCount":"5","deadLetterTargetArn":"arn:q"}"#.to_owned();
        let other = r#"{"maxReceiveCount":"3","deadLetterTargetArn":"arn:q"}"#.to_owned();
        assert!(same_attribute(&name, Some(&same), &wanted));
        assert!(!same_attribute(&name, Some(&other), &wanted));
        assert!(!same_attribute(&name, None, &wanted));
    }
}
