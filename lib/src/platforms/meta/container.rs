//! The media container flow Threads and Instagram share: create a container (children first for a carousel), wait
//! until Meta has processed it, publish it, read its permalink.
//!
//! Containers are what make a Meta publish recoverable. The container id is checkpointed right after creation, so
//! an attempt that crashed or lost its answer can ask the container what happened: PUBLISHED means the post is up
//! (record it, publish nothing), FINISHED or IN_PROGRESS means it can still be published as is, EXPIRED or ERROR
//! means a fresh container is needed. A container can be published once only, so resuming one never doubles a post.
//!
//! Waiting for Meta to process a container never holds an attempt past its deadline: when the next status read
//! would not fit in the time the attempt has left ([`Progress::time_left`]), the publish ends with
//! [`PlatformError::Processing`], the container id already checkpointed, and the next attempt resumes that
//! container rather than creating another.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::graph::{parse_time, CallKind, Failure, Graph};
use crate::platforms::http::endpoint;
use crate::platforms::polling::{self, Poll};
use crate::ports::{PlatformError, Progress, PublishJob, Published, Recovery};

/// How patiently to wait for Meta to process a container. Meta suggests about 30 s for media and polling no more
/// than once a minute for five minutes; text and images are usually ready at once, so the wait starts short.
///
/// The wait is spread over as many attempts as it takes: an attempt polls while it has time left, then checkpoints
/// and comes back later (see the module's notes). `give_up_after` bounds the whole wait, counted from the
/// container's creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerPolling {
    /// The first pause after a container reports IN_PROGRESS; each further pause doubles.
    pub first_delay: Duration,
    /// The longest pause between two status reads.
    pub max_delay: Duration,
    /// Once a container has been processing this long, the attempt ends as transient and the delivery is retried
    /// with a fresh container.
    pub give_up_after: Duration,
}

impl Default for ContainerPolling {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(20),
            give_up_after: Duration::from_secs(300),
        }
    }
}

/// What differs between Threads and Instagram containers.
#[derive(Debug)]
pub(crate) struct Flavor {
    pub platform: &'static str,
    pub create_edge: &'static str,
    pub publish_edge: &'static str,
    pub status_fields: &'static str,
    pub list_edge: &'static str,
    pub list_fields: &'static str,
    /// The edge that reports the rolling 24-hour publishing quota.
    pub quota_edge: &'static str,
}

pub(crate) const THREADS: Flavor = Flavor {
    platform: "threads",
    create_edge: "threads",
    publish_edge: "threads_publish",
    status_fields: "status,error_message",
    list_edge: "threads",
    list_fields: "id,permalink,text,timestamp",
    quota_edge: "threads_publishing_limit",
};

pub(crate) const INSTAGRAM: Flavor = Flavor {
    platform: "instagram",
    create_edge: "media",
    publish_edge: "media_publish",
    status_fields: "status_code,status",
    list_edge: "media",
    list_fields: "id,permalink,caption,timestamp",
    quota_edge: "content_publishing_limit",
};

/// The parameters of one container, as Graph form fields.
pub(crate) type Params = Vec<(&'static str, String)>;

/// What to create: the children of a carousel (empty otherwise) and the container to publish.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub children: Vec<Params>,
    pub parent: Params,
}

/// What a checkpoint holds: the container to ask about after a crash.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    meta_container: Saved,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    id: String,
    created_at: DateTime<Utc>,
}

impl Saved {
    fn from_job(job: &PublishJob<'_>) -> Option<Saved> {
        let value = job.checkpoint?;
        match serde_json::from_value::<Checkpoint>(value.clone()) {
            Ok(c) => Some(c.meta_container),
            Err(_) => {
                tracing::warn!("ignoring a checkpoint that names no media container");
                None
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    InProgress,
    Finished,
    Published,
    Expired,
    Error(String),
}

#[derive(Deserialize)]
struct StatusAnswer {
    status: Option<String>,
    status_code: Option<String>,
    error_message: Option<String>,
}

impl StatusAnswer {
    /// Threads answers `status` (+ `error_message`); Instagram answers `status_code` (+ a descriptive `status`).
    fn status(self) -> Status {
        let (code, detail) = match self.status_code {
            Some(code) => (code, self.error_message.or(self.status)),
            None => (self.status.unwrap_or_default(), self.error_message),
        };
        match code.as_str() {
            "FINISHED" => Status::Finished,
            "PUBLISHED" => Status::Published,
            "EXPIRED" => Status::Expired,
            "ERROR" => Status::Error(detail.unwrap_or_else(|| "no detail".into())),
            // IN_PROGRESS, and anything new Meta may add: wait and ask again.
            _ => Status::InProgress,
        }
    }
}

#[derive(Deserialize)]
struct IdAnswer {
    id: String,
}

#[derive(Deserialize)]
struct PermalinkAnswer {
    permalink: Option<String>,
}

#[derive(Deserialize)]
struct QuotaAnswer {
    #[serde(default)]
    data: Vec<Quota>,
}

#[derive(Deserialize)]
struct Quota {
    #[serde(default)]
    quota_usage: u64,
    config: Option<QuotaConfig>,
}

#[derive(Deserialize)]
struct QuotaConfig {
    quota_total: u64,
    #[serde(default)]
    quota_duration: u64,
}

/// How long to wait when the quota is used up. Meta's window rolls and it does not say when a slot frees up, so
/// the publisher tries again after an hour rather than hammering a refusal.
const QUOTA_RETRY: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
struct MediaList {
    #[serde(default)]
    data: Vec<ListedMedia>,
}

#[derive(Deserialize)]
struct ListedMedia {
    id: String,
    permalink: Option<String>,
    text: Option<String>,
    caption: Option<String>,
    timestamp: Option<String>,
}

/// The container flow for one user's node.
pub(crate) struct Containers<'a> {
    pub graph: &'a Graph,
    pub origin: &'a url::Url,
    pub version: &'a str,
    pub flavor: &'static Flavor,
    pub user_id: &'a str,
    pub token: &'a SecretString,
    pub polling: ContainerPolling,
}

enum Ready {
    Finished,
    AlreadyPublished,
}

impl Containers<'_> {
    fn url(&self, path: &str) -> url::Url {
        endpoint(self.origin, &format!("/{}/{}", self.version, path))
    }

    /// Publishes `spec`, resuming the container an earlier attempt checkpointed when it is still usable.
    pub(crate) async fn publish(
        &self,
        spec: &Spec,
        job: &PublishJob<'_>,
        progress: &dyn Progress,
    ) -> Result<Published, PlatformError> {
        let mut container = match Saved::from_job(job) {
            None => self.create(spec, progress).await?,
            Some(saved) => match self.status(&saved.id).await {
                Ok(Status::Published) => return Ok(self.find_published(&saved, job.text).await),
                Ok(Status::InProgress | Status::Finished) => {
                    tracing::info!(platform = self.flavor.platform, container = %saved.id, "resuming a media container");
                    saved
                }
                Ok(Status::Expired | Status::Error(_)) | Err(Failure::Missing(_)) => {
                    self.create(spec, progress).await?
                }
                Err(e) => return Err(e.into()),
            },
        };
        let mut recreated = false;
        loop {
            match self.publish_container(&container, job.text, progress).await {
                Err(Failure::RecreateContainer(why)) if !recreated => {
                    tracing::info!(platform = self.flavor.platform, container = %container.id, reason = %why, "creating a fresh media container");
                    recreated = true;
                    container = self.create(spec, progress).await?;
                }
                other => return other.map_err(PlatformError::from),
            }
        }
    }

    /// What became of the container an earlier attempt checkpointed.
    pub(crate) async fn recover(&self, job: &PublishJob<'_>) -> Result<Recovery, PlatformError> {
        let Some(saved) = Saved::from_job(job) else {
            // No container was ever recorded, so nothing can have been published.
            return Ok(Recovery::NotPublished);
        };
        match self.status(&saved.id).await {
            Ok(Status::Published) => Ok(Recovery::Published(
                self.find_published(&saved, job.text).await,
            )),
            // FINISHED / IN_PROGRESS: `publish` resumes it; EXPIRED / ERROR / gone: `publish` makes a fresh one.
            Ok(_) | Err(Failure::Missing(_)) => Ok(Recovery::NotPublished),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the children (waiting until each is processed), then the container to publish, and checkpoints it.
    async fn create(&self, spec: &Spec, progress: &dyn Progress) -> Result<Saved, PlatformError> {
        let mut parent = spec.parent.clone();
        if !spec.children.is_empty() {
            let mut ids = Vec::with_capacity(spec.children.len());
            for child in &spec.children {
                ids.push(self.create_one(child).await?);
            }
            let started = Utc::now();
            for id in &ids {
                // The children are not checkpointed: an attempt out of time starts them again next time.
                self.wait_until_ready(id, started, false, progress).await?;
            }
            parent.push(("children", ids.join(",")));
        }
        let id = self.create_one(&parent).await?;
        let saved = Saved {
            id,
            created_at: Utc::now(),
        };
        let checkpoint = serde_json::to_value(Checkpoint {
            meta_container: saved.clone(),
        })
        .map_err(|_| PlatformError::Transient("could not record the media container".into()))?;
        progress.checkpoint(checkpoint).await?;
        tracing::info!(platform = self.flavor.platform, container = %saved.id, "media container created");
        Ok(saved)
    }

    async fn create_one(&self, params: &Params) -> Result<String, Failure> {
        let url = self.url(&format!("{}/{}", self.user_id, self.flavor.create_edge));
        let answer: IdAnswer = self
            .graph
            .post(
                url,
                self.token,
                params,
                CallKind::Prepare,
                "creating a media container",
            )
            .await?;
        Ok(answer.id)
    }

    async fn status(&self, container: &str) -> Result<Status, Failure> {
        let answer: StatusAnswer = self
            .graph
            .get(
                self.url(container),
                self.token,
                &[("fields", self.flavor.status_fields)],
                "reading a container's status",
            )
            .await?;
        Ok(answer.status())
    }

    /// Polls with a doubling pause until the container can be published. `since` is when it was created. When the
    /// attempt runs out of time, a `checkpointed` container ends it with [`PlatformError::Processing`] (to be
    /// resumed), any other as transient.
    async fn wait_until_ready(
        &self,
        container: &str,
        since: DateTime<Utc>,
        checkpointed: bool,
        progress: &dyn Progress,
    ) -> Result<Ready, Failure> {
        let mut delay = self.polling.first_delay;
        loop {
            match self.status(container).await? {
                Status::Finished => return Ok(Ready::Finished),
                Status::Published => return Ok(Ready::AlreadyPublished),
                Status::Expired => {
                    return Err(Failure::RecreateContainer(
                        "the media container expired".into(),
                    ))
                }
                Status::Error(detail) => {
                    return Err(PlatformError::Rejected(format!(
                        "Meta could not process the media: {}",
                        super::graph::scrub(&detail, &[])
                    ))
                    .into())
                }
                Status::InProgress => {}
            }
            let waited = (Utc::now() - since).to_std().unwrap_or(Duration::ZERO);
            match polling::next(waited, delay, self.polling.give_up_after, progress.time_left()) {
                Poll::Wait(_) => {}
                Poll::GiveUp => {
                    return Err(PlatformError::Transient(format!(
                        "Meta was still processing the media after {} s; trying again with a fresh container",
                        waited.as_secs()
                    ))
                    .into())
                }
                Poll::Later(_) => {
                    let error = if checkpointed {
                        PlatformError::Processing {
                            retry_after: delay,
                            message: format!(
                                "Meta is still processing the media after {} s; continuing with the same container",
                                waited.as_secs()
                            ),
                        }
                    } else {
                        PlatformError::Transient(format!(
                            "Meta was still processing a carousel item after {} s when the attempt ran out of time",
                            waited.as_secs()
                        ))
                    };
                    tracing::info!(platform = self.flavor.platform, container = %container, "media container still processing; the attempt ends here");
                    return Err(error.into());
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.polling.max_delay);
        }
    }

    async fn publish_container(
        &self,
        container: &Saved,
        text: &str,
        progress: &dyn Progress,
    ) -> Result<Published, Failure> {
        let ready = self
            .wait_until_ready(&container.id, container.created_at, true, progress)
            .await?;
        if let Ready::AlreadyPublished = ready {
            return Ok(self.find_published(container, text).await);
        }
        self.check_quota().await?;
        let url = self.url(&format!("{}/{}", self.user_id, self.flavor.publish_edge));
        let sent: Result<IdAnswer, Failure> = self
            .graph
            .post(
                url,
                self.token,
                &[("creation_id", container.id.clone())],
                CallKind::Publish,
                "publishing a media container",
            )
            .await;
        let answer = match sent {
            Ok(a) => a,
            // A container publishes once: a refusal may mean another attempt (one whose lease ran out while it
            // waited) published it first. Then that post is this delivery's post.
            Err(Failure::Platform(PlatformError::Rejected(why))) => {
                return match self.status(&container.id).await {
                    Ok(Status::Published) => Ok(self.find_published(container, text).await),
                    _ => Err(PlatformError::Rejected(why).into()),
                };
            }
            Err(e) => return Err(e),
        };
        tracing::info!(platform = self.flavor.platform, container = %container.id, media = %answer.id, "published");
        let permalink = self.permalink(&answer.id).await;
        Ok(Published::new(answer.id, permalink))
    }

    /// Refuses to publish when the account's rolling publishing quota is used up: Meta would refuse too, and
    /// asking first costs a read instead of a failed publish.
    async fn check_quota(&self) -> Result<(), Failure> {
        let answer: QuotaAnswer = self
            .graph
            .get(
                self.url(&format!("{}/{}", self.user_id, self.flavor.quota_edge)),
                self.token,
                &[("fields", "quota_usage,config")],
                "reading the publishing quota",
            )
            .await?;
        let Some(Quota {
            quota_usage,
            config: Some(config),
        }) = answer.data.into_iter().next()
        else {
            return Ok(());
        };
        if quota_usage >= config.quota_total {
            return Err(PlatformError::RateLimited {
                retry_after: Some(QUOTA_RETRY),
                message: format!(
                    "the account used its {} posts per {} h",
                    config.quota_total,
                    config.quota_duration / 3600
                ),
            }
            .into());
        }
        Ok(())
    }

    /// The post's link. The post is up whatever happens here, so a failure only costs the link.
    async fn permalink(&self, media_id: &str) -> Option<String> {
        let answer: Result<PermalinkAnswer, _> = self
            .graph
            .get(
                self.url(media_id),
                self.token,
                &[("fields", "permalink")],
                "reading a permalink",
            )
            .await;
        match answer {
            Ok(a) => a.permalink,
            Err(e) => {
                tracing::warn!(platform = self.flavor.platform, media = %media_id, error = %PlatformError::from(e), "no permalink");
                None
            }
        }
    }

    /// The post a PUBLISHED container became. Meta's container status does not name the media, so this looks for
    /// the earliest of the user's recent posts with the same text made after the container; failing that, the
    /// container id stands in for the post id (the post is up either way, and that is what must be recorded).
    async fn find_published(&self, container: &Saved, text: &str) -> Published {
        let since = container.created_at - chrono::Duration::minutes(5);
        let listed: Result<MediaList, _> = self
            .graph
            .get(
                self.url(&format!("{}/{}", self.user_id, self.flavor.list_edge)),
                self.token,
                &[("fields", self.flavor.list_fields), ("limit", "25")],
                "listing recent posts",
            )
            .await;
        let found = match listed {
            Ok(list) => list
                .data
                .into_iter()
                .filter_map(|m| {
                    let at = m.timestamp.as_deref().and_then(parse_time)?;
                    let body = m.text.as_deref().or(m.caption.as_deref()).unwrap_or("");
                    (at >= since && body.trim() == text.trim()).then_some((at, m))
                })
                .min_by_key(|(at, _)| *at)
                .map(|(_, m)| m),
            Err(e) => {
                tracing::warn!(platform = self.flavor.platform, error = %PlatformError::from(e), "could not list recent posts");
                None
            }
        };
        match found {
            Some(m) => Published::new(m.id, m.permalink),
            None => {
                tracing::warn!(platform = self.flavor.platform, container = %container.id, "published container not found among recent posts; recording the container id");
                Published::new(container.id.clone(), None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_status_shapes() {
        let threads: StatusAnswer = serde_json::from_str(
            r#"{"status":"ERROR","error_message":"FAILED_DOWNLOADING_VIDEO","id":"1"}"#,
        )
        .unwrap();
        assert_eq!(
            threads.status(),
            Status::Error("FAILED_DOWNLOADING_VIDEO".into())
        );
        let ig: StatusAnswer = serde_json::from_str(
            r#"{"status_code":"FINISHED","status":"Finished: Media has been uploaded","id":"1"}"#,
        )
        .unwrap();
        assert_eq!(ig.status(), Status::Finished);
        let odd: StatusAnswer = serde_json::from_str(r#"{"status":"SOMETHING_NEW"}"#).unwrap();
        assert_eq!(odd.status(), Status::InProgress);
    }
}
