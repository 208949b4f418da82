//! Facebook Login, shared by Facebook Pages and Instagram's Facebook-login variant: the code exchange (a GET, not
//! the RFC 6749 POST), the exchange for a long-lived user token, and the Pages the person manages.

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::config::MetaApp;
use super::graph::{Failure, Graph};
use super::token::{self, TokenAnswer};
use crate::domain::TokenSet;
use crate::platforms::http::endpoint;
use crate::ports::PlatformError;

/// Where Facebook Login lives for one adapter.
pub(crate) struct FacebookLogin<'a> {
    pub graph: &'a Graph,
    pub app: &'a MetaApp,
    /// The host of `/{version}/oauth/access_token`.
    pub token_origin: &'a url::Url,
    /// The host of `/me` and `/me/accounts`.
    pub graph_origin: &'a url::Url,
    pub version: &'a str,
}

/// A token endpoint that refuses what we sent means the person has to go through consent again.
fn refused(f: Failure) -> PlatformError {
    match PlatformError::from(f) {
        PlatformError::TokenExpired => {
            PlatformError::Reauth("the Facebook token expired before it could be exchanged".into())
        }
        other => other,
    }
}

impl FacebookLogin<'_> {
    fn token_url(&self, params: &[(&str, &str)]) -> url::Url {
        let mut url = endpoint(
            self.token_origin,
            &format!("/{}/oauth/access_token", self.version),
        );
        url.query_pairs_mut().extend_pairs(params);
        url
    }

    /// Exchanges a consent code for a long-lived (about 60 days) user token.
    pub(crate) async fn long_lived_user_token(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, PlatformError> {
        let secret = self.app.client_secret.expose_secret();
        let url = self.token_url(&[
            ("client_id", &self.app.client_id),
            ("redirect_uri", redirect_uri),
            ("client_secret", secret),
            ("code", code),
        ]);
        let short: TokenAnswer = self
            .graph
            .exchange(
                self.graph.http().get(url),
                &[secret, code],
                "exchanging the Facebook code",
            )
            .await
            .map_err(refused)?;
        let short = short.into_tokens(Utc::now(), token::short_lived())?;
        let short_token = short.access_token.expose_secret();
        let url = self.token_url(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", &self.app.client_id),
            ("client_secret", secret),
            ("fb_exchange_token", short_token),
        ]);
        let long: TokenAnswer = self
            .graph
            .exchange(
                self.graph.http().get(url),
                &[secret, short_token],
                "exchanging for a long-lived Facebook token",
            )
            .await
            .map_err(refused)?;
        long.into_tokens(Utc::now(), token::long_lived())
    }

    /// The person's app-scoped Facebook user id (what Meta's deletion callbacks name).
    pub(crate) async fn user_id(&self, user_token: &SecretString) -> Result<String, PlatformError> {
        #[derive(Deserialize)]
        struct Me {
            id: String,
        }
        let me: Me = self
            .graph
            .get(
                endpoint(self.graph_origin, &format!("/{}/me", self.version)),
                user_token,
                &[("fields", "id")],
                "reading the Facebook user",
            )
            .await?;
        Ok(me.id)
    }

    /// The Pages the person manages, following Meta's cursors (at most `MAX_PAGES` pages of results).
    pub(crate) async fn pages(
        &self,
        user_token: &SecretString,
        fields: &str,
    ) -> Result<Vec<Page>, PlatformError> {
        const MAX_PAGES: usize = 10;
        let url = endpoint(self.graph_origin, &format!("/{}/me/accounts", self.version));
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut params = vec![("fields", fields), ("limit", "100")];
            if let Some(cursor) = after.as_deref() {
                params.push(("after", cursor));
            }
            let batch: Accounts = self
                .graph
                .get(url.clone(), user_token, &params, "listing Facebook Pages")
                .await?;
            all.extend(batch.data);
            // Meta's `paging.next` is a full URL on its own host; only its cursor is used, so the configured origin
            // stays in charge.
            match batch.paging {
                Some(Paging {
                    next: Some(_),
                    cursors: Some(Cursors { after: Some(a) }),
                }) => after = Some(a),
                _ => break,
            }
        }
        Ok(all)
    }
}

#[derive(Deserialize)]
struct Accounts {
    #[serde(default)]
    data: Vec<Page>,
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<String>,
    cursors: Option<Cursors>,
}

#[derive(Deserialize)]
struct Cursors {
    after: Option<String>,
}

/// A Page from `/me/accounts`. Holds the Page token, so it has no `Debug`.
#[derive(Deserialize)]
pub(crate) struct Page {
    pub id: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub about: Option<String>,
    pub access_token: Option<SecretString>,
    pub picture: Option<Picture>,
    /// What the person may do on the Page; absent when the token cannot see it.
    pub tasks: Option<Vec<String>>,
    pub instagram_business_account: Option<InstagramAccount>,
}

#[derive(Deserialize)]
pub(crate) struct Picture {
    pub data: Option<PictureData>,
}

#[derive(Deserialize)]
pub(crate) struct PictureData {
    pub url: Option<String>,
}

impl Page {
    pub(crate) fn picture_url(&self) -> Option<String> {
        self.picture.as_ref()?.data.as_ref()?.url.clone()
    }

    /// Whether the person may publish on the Page (the CREATE_CONTENT task), when Meta says.
    pub(crate) fn can_publish(&self) -> bool {
        self.tasks
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == "CREATE_CONTENT"))
    }
}

/// The Instagram professional account linked to a Page.
#[derive(Debug, Deserialize)]
pub(crate) struct InstagramAccount {
    pub id: String,
    pub username: Option<String>,
    pub name: Option<String>,
    pub profile_picture_url: Option<String>,
    pub biography: Option<String>,
}
