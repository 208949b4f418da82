//! The sandbox network as a peer of the platform suite: the one Postora runs beside itself, told to misbehave
//! through its own faults.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use postora::domain::PlatformKind;
use postora::sandbox::{Fault, FaultKind, Sandbox};

use super::{Capabilities, LostAnswer, NeedsMedia, PeerMedia, PeerPost, PlatformPeer, Refresh};
use crate::app::TestApp;

#[derive(Default)]
pub struct SandboxPeer {
    sandbox: OnceLock<Sandbox>,
    http: reqwest::Client,
}

impl SandboxPeer {
    pub fn start() -> Arc<dyn PlatformPeer> {
        Arc::new(SandboxPeer {
            sandbox: OnceLock::new(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        })
    }

    fn sandbox(&self) -> &Sandbox {
        self.sandbox.get().expect("the sandbox is attached")
    }

    /// A fault for the next publish call of `user`, or of anyone.
    fn fault(&self, kind: FaultKind, user: Option<&str>) -> Fault {
        Fault {
            kind,
            count: 1,
            user: user.map(|u| format!("sbx-{u}")),
            retry_after_secs: None,
            scope: None,
            delay_ms: None,
            after: 0,
            message: None,
        }
    }
}

#[async_trait]
impl PlatformPeer for SandboxPeer {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Sandbox
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            refresh: Refresh::Rotates,
            pkce: true,
            images: true,
            video: true,
            threads: true,
            lost_answer: LostAnswer::Recovered,
            needs_media: NeedsMedia::Nothing,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        // The sandbox fetches videos from their links; on the emulator those are loopback addresses.
        vec![("POSTORA_MEDIA_IMPORT_ALLOW_LOOPBACK".into(), "true".into())]
    }

    async fn attach(&self, postora: &TestApp) {
        let sandbox = postora.sandbox.clone().expect("the sandbox is on");
        let _ = self.sandbox.set(sandbox);
    }

    async fn consent(&self, authorize_url: &str, user: &str) -> String {
        let resp = self
            .http
            .get(format!("{authorize_url}&user={user}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "the sandbox approves and redirects");
        resp.headers()["location"].to_str().unwrap().to_owned()
    }

    async fn user_id(&self, user: &str) -> String {
        format!("sbx-{user}")
    }

    async fn posts(&self, user: &str) -> Vec<PeerPost> {
        let account = format!("sbx-{user}");
        self.sandbox()
            .posts()
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.account == account)
            .map(|p| PeerPost {
                id: p.id,
                text: p.text,
                reply_to: p.reply_to,
                media: p
                    .media
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|m| PeerMedia {
                                kind: if m["content_type"]
                                    .as_str()
                                    .is_some_and(|t| t.starts_with("video/"))
                                {
                                    "video".into()
                                } else {
                                    "image".into()
                                },
                                alt: m["alt"].as_str().map(str::to_owned),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }

    async fn revoke(&self, user: &str) {
        self.sandbox()
            .add_faults([self.fault(FaultKind::Revoke, Some(user))]);
    }

    async fn expire_access(&self, user: &str) {
        self.sandbox()
            .add_faults([self.fault(FaultKind::ExpireToken, Some(user))]);
    }

    async fn rate_limit_next(&self, wait: Duration) {
        self.sandbox().add_faults([Fault {
            retry_after_secs: Some(wait.as_secs().max(1)),
            ..self.fault(FaultKind::RateLimit, None)
        }]);
    }

    async fn reject_next(&self, message: &str) {
        self.sandbox().add_faults([Fault {
            message: Some(message.to_owned()),
            ..self.fault(FaultKind::Reject, None)
        }]);
    }

    async fn lose_next_answer(&self) {
        self.sandbox()
            .add_faults([self.fault(FaultKind::AcceptThenDrop, None)]);
    }

    async fn refreshes(&self, user: &str) -> (usize, usize) {
        self.sandbox().refreshes(&format!("sbx-{user}"))
    }
}
