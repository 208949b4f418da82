//! A small stand-in for the public Lambda Runtime API (`GET .../invocation/next`, `POST .../response`,
//! `POST .../error`, `POST .../init/error`), which runs a real function binary as Lambda would and collects its
//! answers to the sample events in `events/`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

/// One event to hand to a function, named after the file it came from.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub payload: serde_json::Value,
}

/// Every `*.json` file of a directory, sorted by name.
///
/// A sample callback whose `signed_request` is signed with one of the [`SAMPLE_CALLBACK_SECRETS`] is signed again as
/// issued now, as Meta would send it today: Postora refuses a callback issued more than
/// [`MAX_AGE`](postora::crypto::signed_request::MAX_AGE) ago, and a file cannot stay that fresh. A sample signed with
/// any other secret is left as it is, so it still fails verification.
pub fn samples(dir: &Path) -> Result<Vec<Sample>, String> {
    let now = chrono::Utc::now().timestamp();
    let mut found = read_samples(dir)?;
    for sample in &mut found {
        reissue_signed_request(&mut sample.payload, now);
    }
    Ok(found)
}

/// The app secrets the sample callbacks in `events/data-deletion/` are signed with (see `events/README.md`).
pub const SAMPLE_CALLBACK_SECRETS: [&str; 2] = [
    "postora-sample-meta-app-secret",
    "postora-sample-threads-app-secret",
];

/// If `event`'s body is a form whose `signed_request` one of the sample secrets signed, gives it `issued_at` `now`
/// and signs it again with the same secret.
fn reissue_signed_request(event: &mut serde_json::Value, now: i64) {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mac = |secret: &str, data: &str| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes any key");
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    let Some(body) = event.get("body").and_then(|b| b.as_str()) else {
        return;
    };
    let Ok(mut fields) = serde_urlencoded::from_str::<Vec<(String, String)>>(body) else {
        return;
    };
    let mut changed = false;
    for (name, value) in &mut fields {
        if name != "signed_request" {
            continue;
        }
        let Some((sig, payload)) = value.split_once('.') else {
            continue;
        };
        let Ok(sig) = b64.decode(sig) else {
            continue;
        };
        let Some(secret) = SAMPLE_CALLBACK_SECRETS
            .into_iter()
            .find(|secret| mac(secret, payload) == sig)
        else {
            continue;
        };
        let Some(mut claims) = b64
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        else {
            continue;
        };
        claims["issued_at"] = now.into();
        let payload = b64.encode(claims.to_string());
        *value = format!("{}.{payload}", b64.encode(mac(secret, &payload)));
        changed = true;
    }
    if changed {
        if let Ok(body) = serde_urlencoded::to_string(&fields) {
            event["body"] = body.into();
        }
    }
}

/// Every `*.json` file of a directory, sorted by name, exactly as stored.
pub fn read_samples(dir: &Path) -> Result<Vec<Sample>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let payload = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", p.display()))?;
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(Sample { name, payload })
        })
        .collect()
}

/// How the function answered one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `POST .../invocation/{id}/response`, with the body.
    Response(serde_json::Value),
    /// `POST .../invocation/{id}/error`, with the error document.
    Error(serde_json::Value),
}

/// How long an invocation may run unless a test says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct StubState {
    /// How long after handing an event out its invocation's deadline is (`lambda-runtime-deadline-ms`).
    deadline: Duration,
    pending: VecDeque<(String, Sample)>,
    answers: Vec<(String, Answer)>,
    init_error: Option<serde_json::Value>,
    names: Vec<(String, String)>,
    first_poll: Option<Instant>,
    handed_out: Vec<(String, Instant)>,
    answered: Vec<(String, Instant)>,
}

/// When the function first asked for an event, and how long each invocation took (from handing the event out to
/// receiving the answer), by sample name.
#[derive(Debug, Clone)]
pub struct Timings {
    pub first_poll: Option<Instant>,
    pub invocations: Vec<(String, Duration)>,
}

type Shared = Arc<Mutex<StubState>>;

/// The Lambda Runtime API, served on a loopback port, handing out the given events in order. Once they are all
/// handed out, `next` waits forever, as the real API does between invocations.
pub struct RuntimeApiStub {
    addr: SocketAddr,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApiStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, StubState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

async fn next(State(state): State<Shared>) -> Response {
    let next = {
        let mut state = lock(&state);
        let now = Instant::now();
        state.first_poll.get_or_insert(now);
        let next = state.pending.pop_front();
        if let Some((id, _)) = &next {
            state.handed_out.push((id.clone(), now));
        }
        next
    };
    let Some((id, sample)) = next else {
        std::future::pending::<()>().await;
        return StatusCode::NO_CONTENT.into_response();
    };
    let allowed = i64::try_from(lock(&state).deadline.as_millis()).unwrap_or(i64::MAX);
    let deadline = chrono::Utc::now()
        .timestamp_millis()
        .saturating_add(allowed);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", id.clone());
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:postora-test".into(),
    );
    put(
        "lambda-runtime-trace-id",
        format!("Root=1-00000000-{};Sampled=0", &id[..24.min(id.len())]),
    );
    put("content-type", "application/json".into());
    (headers, sample.payload.to_string()).into_response()
}

fn parse_body(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|_| serde_json::Value::String(body.to_owned()))
}

async fn respond(
    State(state): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let mut state = lock(&state);
    state.answered.push((id.clone(), Instant::now()));
    state
        .answers
        .push((id, Answer::Response(parse_body(&body))));
    StatusCode::ACCEPTED
}

async fn fail(
    State(state): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let mut state = lock(&state);
    state.answered.push((id.clone(), Instant::now()));
    state.answers.push((id, Answer::Error(parse_body(&body))));
    StatusCode::ACCEPTED
}

async fn init_error(State(state): State<Shared>, body: String) -> StatusCode {
    lock(&state).init_error = Some(parse_body(&body));
    StatusCode::ACCEPTED
}

impl RuntimeApiStub {
    pub async fn start(samples: Vec<Sample>) -> std::io::Result<Self> {
        Self::start_with_deadline(samples, DEFAULT_DEADLINE).await
    }

    /// Like [`start`](Self::start), with each invocation's deadline `deadline` after its event is handed out.
    pub async fn start_with_deadline(
        samples: Vec<Sample>,
        deadline: Duration,
    ) -> std::io::Result<Self> {
        let mut state = StubState {
            deadline,
            ..StubState::default()
        };
        for sample in samples {
            let id = uuid::Uuid::new_v4().simple().to_string();
            state.names.push((id.clone(), sample.name.clone()));
            state.pending.push_back((id, sample));
        }
        let state: Shared = Arc::new(Mutex::new(state));
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            addr,
            state,
            server,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`: host and port, no scheme.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// The answers so far, by sample name, in the order they came.
    pub fn answers(&self) -> Vec<(String, Answer)> {
        let state = lock(&self.state);
        state
            .answers
            .iter()
            .map(|(id, a)| {
                let name = state
                    .names
                    .iter()
                    .find(|(i, _)| i == id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_else(|| id.clone());
                (name, a.clone())
            })
            .collect()
    }

    /// When the function first polled, and each invocation's duration.
    pub fn timings(&self) -> Timings {
        let state = lock(&self.state);
        let name = |id: &str| {
            state
                .names
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| id.to_owned())
        };
        let invocations = state
            .answered
            .iter()
            .filter_map(|(id, at)| {
                let (_, out) = state.handed_out.iter().find(|(i, _)| i == id)?;
                Some((name(id), at.saturating_duration_since(*out)))
            })
            .collect();
        Timings {
            first_poll: state.first_poll,
            invocations,
        }
    }

    /// Whether every event was answered, or the function reported an init error.
    pub fn finished(&self) -> bool {
        let state = lock(&self.state);
        state.init_error.is_some() || state.answers.len() == state.names.len()
    }

    pub fn init_error(&self) -> Option<serde_json::Value> {
        lock(&self.state).init_error.clone()
    }
}

/// Kills the child when dropped, so a failing test leaves no function running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The command that runs a function binary as Lambda would, against `stub`, with `env` added to this process's
/// own environment and the variables Lambda sets for every function.
pub fn lambda_command(
    binary: &Path,
    function_name: &str,
    env: &[(String, String)],
    stub: &RuntimeApiStub,
) -> Command {
    let mut command = Command::new(binary);
    command
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", stub.endpoint())
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function_name}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test");
    command
}

/// Runs a function binary against a [`RuntimeApiStub`] serving `samples`, with `env` added to the test's own
/// environment, until every sample is answered (or the function stops, reports an init error, or `timeout` passes).
/// Returns the answers by sample name; the error names what went wrong and ends with the function's own output.
pub async fn invoke_binary(
    binary: &Path,
    function_name: &str,
    env: &[(String, String)],
    samples: Vec<Sample>,
    timeout: Duration,
) -> Result<Vec<(String, Answer)>, String> {
    invoke_binary_with_deadline(
        binary,
        function_name,
        env,
        samples,
        timeout,
        DEFAULT_DEADLINE,
    )
    .await
    .map(|(answers, _)| answers)
}

/// [`invoke_binary`], with each invocation's deadline `deadline` after its event is handed out (Lambda's function
/// timeout); also returns how long each invocation took.
pub async fn invoke_binary_with_deadline(
    binary: &Path,
    function_name: &str,
    env: &[(String, String)],
    samples: Vec<Sample>,
    timeout: Duration,
    deadline: Duration,
) -> Result<(Vec<(String, Answer)>, Timings), String> {
    let expected = samples.len();
    let stub = RuntimeApiStub::start_with_deadline(samples, deadline)
        .await
        .map_err(|e| format!("the runtime stub could not start: {e}"))?;
    let log = std::env::temp_dir().join(format!(
        "postora-{function_name}-{}.log",
        uuid::Uuid::new_v4().simple()
    ));
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
    let child = lambda_command(binary, function_name, env, &stub)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let mut running = Running(child);
    let started = Instant::now();
    let outcome = loop {
        if stub.finished() {
            break Ok(());
        }
        if let Ok(Some(status)) = running.0.try_wait() {
            break Err(format!(
                "the function exited ({status}) before answering every event"
            ));
        }
        if started.elapsed() > timeout {
            break Err(format!(
                "the function answered {} of {expected} events within {timeout:?}",
                stub.answers().len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(running);
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let tail: String = output
        .lines()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(e) = stub.init_error() {
        return Err(format!("the function reported an init error: {e}\n{tail}"));
    }
    outcome.map_err(|e| format!("{e}\n--- function output ---\n{tail}"))?;
    Ok((stub.answers(), stub.timings()))
}
