//! Meta's Threads and Instagram as peers of the platform suite: the fake Graph API, following Meta's documentation,
//! with one person each (the suite's users are all that one).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use postora::domain::PlatformKind;

use super::{Capabilities, LostAnswer, PeerMedia, PeerPost, PlatformPeer, Refresh};
use crate::fakes::meta::{FakeMeta, Family, Fault, Op, IG_USER, THREADS_USER};

pub struct ThreadsPeer {
    fake: FakeMeta,
}

/// Instagram with Instagram login: professional accounts, media containers, and a post needs an image or a video.
pub struct InstagramPeer {
    fake: FakeMeta,
}

impl InstagramPeer {
    pub async fn start() -> Arc<dyn PlatformPeer> {
        Arc::new(InstagramPeer {
            fake: FakeMeta::start().await,
        })
    }
}

impl ThreadsPeer {
    pub async fn start() -> Arc<dyn PlatformPeer> {
        Arc::new(ThreadsPeer {
            fake: FakeMeta::start().await,
        })
    }
}

#[async_trait]
impl PlatformPeer for ThreadsPeer {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Threads
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // Long-lived tokens are renewed while they still work; there is no refresh token.
            refresh: Refresh::Renews,
            pkce: false,
            images: true,
            video: true,
            threads: true,
            // Nothing is published before its container is checkpointed, and the container tells.
            lost_answer: LostAnswer::Recovered,
            needs_media: false,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        self.fake.threads_env()
    }

    async fn consent(&self, authorize_url: &str, _user: &str) -> String {
        let url = url::Url::parse(authorize_url).unwrap();
        self.fake.consent(&url).await.to_string()
    }

    async fn user_id(&self, _user: &str) -> String {
        THREADS_USER.to_owned()
    }

    async fn posts(&self, _user: &str) -> Vec<PeerPost> {
        posts_of(&self.fake, Family::Threads)
    }

    async fn revoke(&self, _user: &str) {
        self.fake.revoke_all();
    }

    /// Threads renews a long-lived token only once it is a day old: the fake's clock moves on two days.
    async fn expire_access(&self, _user: &str) {
        self.fake.advance(chrono::Duration::days(2));
    }

    async fn rate_limit_next(&self, wait: Duration) {
        rate_limit(&self.fake, THREADS_USER, "threads", wait);
    }

    async fn reject_next(&self, message: &str) {
        reject(&self.fake, message);
    }

    async fn lose_next_answer(&self) {
        self.fake.fail_next(Op::Publish, Fault::AcceptThenDrop);
    }

    async fn refreshes(&self, _user: &str) -> (usize, usize) {
        (self.fake.calls(Op::Refresh), 0)
    }
}

/// The posts of one Meta family, as the suite sees them.
fn posts_of(fake: &FakeMeta, family: Family) -> Vec<PeerPost> {
    fake.posts()
        .into_iter()
        .filter(|p| p.family == family)
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

/// Meta states a rate limit's wait in whole minutes (`estimated_time_to_regain_access`), so any wait is at least one.
fn rate_limit(fake: &FakeMeta, owner: &str, usage: &str, wait: Duration) {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    fake.fail_next(
        Op::CreateContainer,
        Fault::graph(17).header(
            "X-Business-Use-Case-Usage",
            &format!(
                r#"{{"{owner}":[{{"type":"{usage}","call_count":100,"estimated_time_to_regain_access":{minutes}}}]}}"#
            ),
        ),
    );
}

fn reject(fake: &FakeMeta, message: &str) {
    let mut fault = Fault::graph(100);
    fault.message = message.to_owned();
    fake.fail_next(Op::CreateContainer, fault);
}

#[async_trait]
impl PlatformPeer for InstagramPeer {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Instagram
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            refresh: Refresh::Renews,
            pkce: false,
            images: true,
            video: true,
            threads: false,
            lost_answer: LostAnswer::Recovered,
            needs_media: true,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        self.fake.instagram_env()
    }

    async fn consent(&self, authorize_url: &str, _user: &str) -> String {
        let url = url::Url::parse(authorize_url).unwrap();
        self.fake.consent(&url).await.to_string()
    }

    async fn user_id(&self, _user: &str) -> String {
        IG_USER.to_owned()
    }

    async fn posts(&self, _user: &str) -> Vec<PeerPost> {
        posts_of(&self.fake, Family::Instagram)
    }

    async fn revoke(&self, _user: &str) {
        self.fake.revoke_all();
    }

    /// Instagram renews a long-lived token only once it is a day old: the fake's clock moves on two days.
    async fn expire_access(&self, _user: &str) {
        self.fake.advance(chrono::Duration::days(2));
    }

    async fn rate_limit_next(&self, wait: Duration) {
        rate_limit(&self.fake, IG_USER, "instagram", wait);
    }

    async fn reject_next(&self, message: &str) {
        reject(&self.fake, message);
    }

    async fn lose_next_answer(&self) {
        self.fake.fail_next(Op::Publish, Fault::AcceptThenDrop);
    }

    async fn refreshes(&self, _user: &str) -> (usize, usize) {
        (self.fake.calls(Op::Refresh), 0)
    }
}
