//! Meta's Threads, Instagram and Facebook Pages as peers of the platform suite: the fake Graph API, following Meta's
//! documentation, with one person on each (the suite's users are all that one; on Facebook, they post as the
//! bakery's Page, which the person chooses after the consent).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use postora::domain::PlatformKind;

use super::{Capabilities, LostAnswer, NeedsMedia, PeerMedia, PeerPost, PlatformPeer, Refresh};
use crate::fakes::meta::{FakeMeta, Family, Fault, Op, IG_USER, PAGE_BAKERY, THREADS_USER};

/// A Meta product behind the fake Graph API.
pub struct MetaPeer {
    fake: FakeMeta,
    family: Family,
}

/// Threads: people, media containers, replies for threads.
pub struct ThreadsPeer;

/// Instagram with Instagram login: professional accounts, media containers, and a post needs an image or a video.
pub struct InstagramPeer;

/// Facebook Pages: the person chooses which of their Pages to connect; each Page posts with its own token.
pub struct FacebookPeer;

impl FacebookPeer {
    pub async fn start() -> Arc<dyn PlatformPeer> {
        MetaPeer::start(Family::Facebook).await
    }
}

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

    /// The account the suite's users post as.
    fn owner(&self) -> &'static str {
        match self.family {
            Family::Threads => THREADS_USER,
            Family::Instagram => IG_USER,
            Family::Facebook => PAGE_BAKERY,
        }
    }

    /// The call a text post fails at, when told to fail.
    fn publishing_call(&self) -> Op {
        if self.family == Family::Facebook {
            Op::PageFeed
        } else {
            Op::CreateContainer
        }
    }
}

#[async_trait]
impl PlatformPeer for MetaPeer {
    fn kind(&self) -> PlatformKind {
        match self.family {
            Family::Threads => PlatformKind::Threads,
            Family::Instagram => PlatformKind::Instagram,
            Family::Facebook => PlatformKind::Facebook,
        }
    }

    fn capabilities(&self) -> Capabilities {
        let facebook = self.family == Family::Facebook;
        Capabilities {
            // Long-lived tokens are renewed while they still work; there is no refresh token. A Page's token from a
            // long-lived user token does not expire.
            refresh: if facebook {
                Refresh::Never
            } else {
                Refresh::Renews
            },
            pkce: false,
            images: true,
            video: true,
            threads: self.threads(),
            // Threads and Instagram publish nothing before the container is checkpointed, and the container tells;
            // a Page post is looked for among the Page's posts.
            lost_answer: if facebook {
                LostAnswer::Searched
            } else {
                LostAnswer::Recovered
            },
            needs_media: if self.family == Family::Instagram {
                NeedsMedia::Image
            } else {
                NeedsMedia::Nothing
            },
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        match self.family {
            Family::Threads => self.fake.threads_env(),
            Family::Instagram => self.fake.instagram_env(),
            Family::Facebook => self.fake.facebook_env(),
        }
    }

    /// Chooses the bakery's Page on the choice page.
    async fn choose(&self, page: &str, _user: &str) -> Option<Vec<(String, String)>> {
        if self.family != Family::Facebook {
            return None;
        }
        let token = page
            .split("name=\"choice\" value=\"")
            .nth(1)?
            .split('"')
            .next()?
            .to_owned();
        let index = page
            .split("name=\"account\" value=\"")
            .skip(1)
            .find(|option| option.contains("Postora Bakery"))?
            .split('"')
            .next()?
            .to_owned();
        Some(vec![("choice".into(), token), ("account".into(), index)])
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
            .filter(|p| p.family == self.family && p.owner == self.owner())
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
            self.publishing_call(),
            Fault::graph(if self.family == Family::Facebook { 32 } else { 17 }).header(
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
        self.fake.fail_next(self.publishing_call(), fault);
    }

    async fn lose_next_answer(&self) {
        let call = if self.family == Family::Facebook {
            Op::PageFeed
        } else {
            Op::Publish
        };
        self.fake.fail_next(call, Fault::AcceptThenDrop);
    }

    async fn refreshes(&self, _user: &str) -> (usize, usize) {
        (self.fake.calls(Op::Refresh), 0)
    }
}
