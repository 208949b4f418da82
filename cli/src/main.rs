//! `postora`: run Postora on one machine, and administer its data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use postora::adapters::aws::bootstrap::bootstrap;
use postora::adapters::aws::{load_sdk_config, AwsAdapters, AwsClients, AwsConfig};
use postora::app::App;
use postora::config::Env;
use postora::http::views::ApiKeyView;
use postora::ports::{Clock, SystemClock};
use postora::runtime::{self, local::LocalBackend};

#[derive(Parser)]
#[command(
    name = "postora",
    version,
    about = "Schedule a post once; publish it exactly once to many social accounts."
)]
struct Cli {
    /// Where the embedded store, master key and sandbox live.
    #[arg(
        long,
        global = true,
        env = "POSTORA_DATA_DIR",
        default_value = "./.postora"
    )]
    data_dir: PathBuf,
    /// Where Postora keeps its data: `local` (SQLite, a master key file and an in-process queue in the data
    /// directory) or `aws` (DynamoDB, KMS, SQS, EventBridge and S3, as named by POSTORA_TABLE, POSTORA_KMS_KEY,
    /// POSTORA_QUEUE_URL, POSTORA_DLQ_URL, POSTORA_EVENT_BUS and POSTORA_MEDIA_BUCKET, or `postora aws bootstrap`'s
    /// defaults).
    #[arg(long, global = true, env = "POSTORA_BACKEND", default_value = "local")]
    backend: BackendKind,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendKind {
    Local,
    Aws,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, OAuth callback, dispatcher, publisher and the sandbox platform in one process.
    Serve {
        #[arg(long, env = "POSTORA_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Publishes in flight at once.
        #[arg(long, env = "POSTORA_WORKERS", default_value_t = 32)]
        workers: usize,
    },
    /// Workspaces and their API keys.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// The dead-letter queue: messages the publisher could not process.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Webhook deliveries (local backend): those that used every attempt, and putting them back.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// Run the dispatcher once.
    Dispatch,
    /// Print the OpenAPI document.
    Openapi,
    /// Postora's AWS resources.
    Aws {
        #[command(subcommand)]
        command: AwsCommand,
    },
}

#[derive(Subcommand)]
enum AwsCommand {
    /// Create the table, the KMS key and its alias, the delivery queue with its dead-letter queue, the event bus and
    /// the media bucket, as template.yaml declares them. Creates only what is missing: running it again changes
    /// nothing.
    Bootstrap,
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace; prints its id and an API key (shown once).
    Create { name: String },
    /// List workspaces.
    List,
    /// Add an API key to a workspace (shown once).
    AddKey {
        workspace_id: String,
        /// What the key is for (1 to 100 characters).
        #[arg(long)]
        label: Option<String>,
        /// The role the key acts in: owner, admin, editor, viewer or client.
        #[arg(long, default_value = "owner", value_parser = role_arg)]
        role: postora::domain::Role,
    },
    /// List a workspace's API keys: id, prefix, label, created, last used (never a key).
    Keys { workspace_id: String },
    /// Revoke one of a workspace's API keys by its id; any key may be revoked, the last one too (add another with
    /// `add-key`).
    RevokeKey {
        workspace_id: String,
        key_id: String,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Show dead letters.
    List {
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Move every dead letter back onto the queue.
    Redrive,
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Show the events the webhook never accepted, after every attempt (one JSON line each).
    Failed {
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Try failed deliveries again, with their attempts reset: one event's, or every one with --all.
    Retry {
        /// The event id, as `postora webhooks failed` shows it.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        event_id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// How many deliveries wait for their next attempt.
    Pending,
}

fn init_tracing() {
    use tracing_subscriber::prelude::*;
    let filter = postora::logging::filter(std::env::var("POSTORA_LOG").ok().as_deref());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = if std::env::var("POSTORA_LOG_FORMAT").as_deref() == Ok("json") {
        lines.json().boxed()
    } else {
        lines.boxed()
    };
    tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .init();
}

/// The ports of the chosen backend: the data directory's, or AWS resources named by the environment (or
/// bootstrap's defaults).
async fn open_backend(
    kind: BackendKind,
    data_dir: &std::path::Path,
    env: &Env,
) -> anyhow::Result<runtime::Backend> {
    Ok(match kind {
        BackendKind::Local => LocalBackend::open(data_dir, env)?.backend,
        BackendKind::Aws => {
            let sdk = load_sdk_config().await;
            AwsAdapters::connect(&sdk, &AwsConfig::from_env(), None)
                .await?
                .backend()
        }
    })
}

/// The app for an administration command on the chosen backend.
async fn open_app(
    kind: BackendKind,
    data_dir: &std::path::Path,
    env: &Env,
    public_url: &str,
) -> anyhow::Result<Arc<App>> {
    let backend = open_backend(kind, data_dir, env).await?;
    Ok(runtime::build_app(backend, env, public_url)?)
}

/// A role named on the command line.
fn role_arg(raw: &str) -> Result<postora::domain::Role, String> {
    postora::domain::Role::parse(raw.trim())
        .ok_or_else(|| "a role is one of owner, admin, editor, viewer, client".to_owned())
}

fn workspace_id_arg(raw: &str) -> anyhow::Result<postora::domain::WorkspaceId> {
    postora::domain::WorkspaceId::parse(raw).context("that is not a workspace id")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let cli = Cli::parse();
    let env = Env::from_process();
    match cli.command {
        Command::Serve { addr, workers } => {
            let default_url = format!("http://{addr}");
            // Locally, webhooks are delivered by a loop of their own from the outbox in the data directory; on AWS,
            // events go to EventBridge and the template's API destination delivers them.
            // Local media objects are files in the data directory, served by this process at their signed links;
            // on AWS they are in S3 and their links are presigned.
            let (backend, local_bus, local_blobs) = match cli.backend {
                BackendKind::Local => {
                    let local = LocalBackend::open_at(&cli.data_dir, &env, &default_url)?;
                    (local.backend, Some(local.bus), Some(local.blobs))
                }
                kind => (open_backend(kind, &cli.data_dir, &env).await?, None, None),
            };
            let (app, sandbox) =
                runtime::local::app_with_sandbox(backend, &env, &default_url, &cli.data_dir)
                    .await?;
            let router =
                runtime::local::router(app.clone(), sandbox.as_ref(), local_blobs.as_deref());
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let bound = listener.local_addr()?;
            println!(
                "Postora is listening on http://{bound} (public URL {})",
                app.settings.public_url.as_str().trim_end_matches('/')
            );
            match cli.backend {
                BackendKind::Local => println!("Data directory: {}", cli.data_dir.display()),
                BackendKind::Aws => {
                    let aws = AwsConfig::from_env();
                    println!(
                        "AWS: table {}, key {}, queue {}, bus {}, media bucket {}",
                        aws.table, aws.kms_key, aws.queue, aws.event_bus, aws.media_bucket
                    );
                }
            }
            println!(
                "Platforms: {}",
                app.platforms
                    .enabled()
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            match cli.backend {
                BackendKind::Local => println!(
                    "Get an API key:  postora workspace create <name> --data-dir {}",
                    cli.data_dir.display()
                ),
                BackendKind::Aws => {
                    println!("Get an API key:  postora --backend aws workspace create <name>")
                }
            }
            let (stop_webhooks, webhooks_shutdown) = runtime::Shutdown::new();
            let webhooks = local_bus.map(|bus| {
                tokio::spawn(runtime::local::webhook_loop(
                    bus,
                    std::time::Duration::from_secs(1),
                    webhooks_shutdown,
                ))
            });
            let served = runtime::serve(app, router, listener, workers, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await;
            let _ = stop_webhooks.send(true);
            if let Some(webhooks) = webhooks {
                let _ = webhooks.await;
            }
            served?;
        }
        Command::Workspace { command } => {
            let app = open_app(cli.backend, &cli.data_dir, &env, "http://127.0.0.1:8080").await?;
            match command {
                WorkspaceCommand::Create { name } => {
                    let (ws, key) = app.create_workspace(&name).await?;
                    println!(
                        "{}",
                        serde_json::json!({"workspace_id": ws.id, "name": ws.name, "api_key": key.reveal()})
                    );
                }
                WorkspaceCommand::List => {
                    for ws in app.stores.workspaces.list_workspaces().await? {
                        println!(
                            "{}",
                            serde_json::json!({"workspace_id": ws.id, "name": ws.name, "created_at": ws.created_at})
                        );
                    }
                }
                WorkspaceCommand::AddKey {
                    workspace_id,
                    label,
                    role,
                } => {
                    let id = workspace_id_arg(&workspace_id)?;
                    let (record, key) = app.add_api_key(&id, label.as_deref(), role).await?;
                    let mut shown = serde_json::to_value(ApiKeyView::from(&record))?;
                    shown["workspace_id"] = serde_json::json!(id);
                    shown["api_key"] = serde_json::json!(key.reveal());
                    println!("{shown}");
                }
                WorkspaceCommand::Keys { workspace_id } => {
                    let id = workspace_id_arg(&workspace_id)?;
                    if app.stores.workspaces.get_workspace(&id).await?.is_none() {
                        anyhow::bail!("there is no workspace {id}");
                    }
                    for key in app.list_api_keys(&id).await? {
                        println!("{}", serde_json::to_string(&ApiKeyView::from(&key))?);
                    }
                }
                WorkspaceCommand::RevokeKey {
                    workspace_id,
                    key_id,
                } => {
                    let id = workspace_id_arg(&workspace_id)?;
                    let revoked = app.revoke_api_key(&id, &key_id, None).await?;
                    let mut shown = serde_json::to_value(ApiKeyView::from(&revoked))?;
                    shown["revoked"] = serde_json::json!(true);
                    println!("{shown}");
                    let left = app.list_api_keys(&id).await?.len();
                    if left == 0 {
                        eprintln!(
                            "The workspace has no API key left: `postora workspace add-key {id}` makes one."
                        );
                    }
                }
            }
        }
        Command::Dlq { command } => {
            let app = open_app(cli.backend, &cli.data_dir, &env, "http://127.0.0.1:8080").await?;
            match command {
                DlqCommand::List { max } => {
                    for letter in app.queue.dead_letters(max).await? {
                        println!("{}", serde_json::to_string(&letter)?);
                    }
                }
                DlqCommand::Redrive => {
                    let moved = app.queue.redrive().await?;
                    println!("{}", serde_json::json!({"redriven": moved}));
                }
            }
        }
        Command::Webhooks { command } => {
            anyhow::ensure!(
                cli.backend == BackendKind::Local,
                "on AWS, webhooks are delivered by an EventBridge API destination: undelivered events are in its \
                 dead-letter queue (the stack's WebhookDeadLetterQueueUrl output)"
            );
            let bus = LocalBackend::open(&cli.data_dir, &env)?.bus;
            match command {
                WebhooksCommand::Failed { max } => {
                    for failed in bus.failed_webhooks(max).await? {
                        println!("{}", serde_json::to_string(&failed)?);
                    }
                }
                WebhooksCommand::Retry { event_id, all: _ } => {
                    let n = bus
                        .retry_failed(event_id.as_deref(), SystemClock.now())
                        .await?;
                    println!("{}", serde_json::json!({"retrying": n}));
                }
                WebhooksCommand::Pending => {
                    println!(
                        "{}",
                        serde_json::json!({"pending": bus.pending_webhooks().await?})
                    );
                }
            }
        }
        Command::Dispatch => {
            let app = open_app(cli.backend, &cli.data_dir, &env, "http://127.0.0.1:8080").await?;
            println!("{}", serde_json::to_string(&app.dispatch_tick().await?)?);
        }
        Command::Openapi => println!("{}", postora::http::openapi::document()),
        Command::Aws {
            command: AwsCommand::Bootstrap,
        } => {
            let sdk = load_sdk_config().await;
            let report = bootstrap(&AwsClients::new(&sdk, None), &AwsConfig::from_env()).await?;
            println!("{report}");
        }
    }
    Ok(())
}
