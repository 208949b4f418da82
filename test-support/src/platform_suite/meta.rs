//! Meta's Threads and Instagram as peers of the platform suite: the fake Graph API, following Meta's documentation,
//! with one person on each (the suite's users are all that one).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use postora::domain::PlatformKind;

use super::{Capabilities, LostAnswer, NeedsMedia, PeerMedia, PeerPost, PlatformPeer, Refresh};
use crate::fakes::meta::{FakeMeta, Family, Fault, Op, IG_USER, THREADS_USER};

/// A Meta product behind the fake Graph API.
pub struct MetaPeer {
    fake: FakeMeta,
    family: Family,
}

/// Threads: people, media containers, replies for threads.
pub struct ThreadsPeer;

/// Instagram with Instagram login: professional accounts, media containers, and a post needs an image or a video.
pub struct InstagramPeer;

impl ThreadsPeer {
    pub async fn start() -> Arc<dyn PlatformPeer> {
        MetaPeer::start(Family::Threads).await
    }
}

impl InstagramPeer {
    pub async fn start() -> Arc<dyn PlatformPeer> {
        MetaPeer::start(Family::Instagram).await
    }
}

impl MetaPeer {
    async fn start(family: Family) -> Arc<dyn PlatformPeer> {
        Arc::new(MetaPeer {
            fake: FakeMeta::start().await,
            family,
        })
    }

    fn threads(&self) -> bool {
        self.family == Family::Threads
    }

    /// The one person's id on the product.
    fn owner(&self) -> &'static str {
        if self.threads() {
            THREADS_USER
        } else {
            IG_USER
        }
    }
}

#[async_trait]
impl PlatformPeer for MetaPeer {
    fn kind(&self) -> PlatformKind {
        if self.threads() {
            PlatformKind::Threads
        } else {
            PlatformKind::Instagram
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // Long-lived tokens are renewed while they still work; there is no refresh token.
            refresh: Refresh::Renews,
            pkce: false,
            images: true,
            video: true,
            threads: self.threads(),
            // Nothing is published before its container is checkpointed, and the container tells.
            lost_answer: LostAnswer::Recovered,
            needs_media: if self.threads() {
                NeedsMedia::Nothing
            } else {
                NeedsMedia::Image
            },
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        if self.threads() {
            self.fake.threads_env()
        } else {
            self.fake.instagram_env()
        }
    }

    async fn consent(&self, authorize_url: &str, _user: &str) -> String {
        let url = url::Url::parse(authorize_url).unwrap();
        self.fake.consent(&url).await.to_string()
    }

    async fn user_id(&self, _user: &str) -> String {
        self.owner().to_owned()
    }

    async fn posts(&self, _user: &str) -> Vec<PeerPost> {
        self.fake
            .posts()
            .into_iter()
            .filter(|p| p.family == self.family)
            .map(|p| PeerPost {
                id: p.id,
                text: p.text,
                reply_to: p.reply_to,
                media: p
                    .items
                    .into_iter()
                    .map(|(kind, alt)| PeerMedia {
                        kind: if kind == "IMAGE" {
                            "image".into()
                        } else {
                            "video".into()
                        },
                        alt,
                    })
                    .collect(),
            })
            .collect()
    }

    async fn revoke(&self, _user: &str) {
        self.fake.revoke_all();
    }

    /// Meta renews a long-lived token only once it is a day old: the fake's clock moves on two days.
    async fn expire_access(&self, _user: &str) {
        self.fake.advance(chrono::Duration::days(2));
    }

    /// Meta states the wait in whole minutes (`estimated_time_to_regain_access`), so any wait is at least one.
    async fn rate_limit_next(&self, wait: Duration) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let (owner, usage) = (self.owner(), self.kind().as_str());
        self.fake.fail_next(
            Op::CreateContainer,
            Fault::graph(17).header(
                "X-Business-Use-Case-Usage",
                &format!(
                    r#"{{"{owner}":[{{"type":"{usage}","call_count":100,"estimated_time_to_regain_access":{minutes}}}]}}"#
                ),
            ),
        );
    }

    async fn reject_next(&self, message: &str) {
        let mut fault = Fault::graph(100);
        fault.message = message.to_owned();
        self.fake.fail_next(Op::CreateContainer, fault);
    }

    async fn lose_next_answer(&self) {
        self.fake.fail_next(Op::Publish, Fault::AcceptThenDrop);
    }

    async fn refreshes(&self, _user: &str) -> (usize, usize) {
        (self.fake.calls(Op::Refresh), 0)
    }
}
