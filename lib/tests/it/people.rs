//! People's accounts over real HTTP on the local backend: signing up (the same answer for a taken address), verifying
//! by a single-use link, signing in and out with the session cookie and its CSRF token, sessions and sign-ins,
//! password reset and change, address change, two-factor authentication with TOTP and recovery codes, the limits
//! on guessing, the device mail, export and account deletion; every bad input named in the issue; and no token,
//! password, secret or link in any log line.

use std::path::Path;

use postora_test_support::app::{spawn_app, TestApp};
use postora_test_support::logs::Capturing;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// One mail from the outbox.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    pub(crate) to: String,
    subject: String,
    body: String,
}

impl Mail {
    pub(crate) fn token(&self) -> Option<String> {
        let at = self.body.find("token=")? + "token=".len();
        Some(self.body[at..at + 64].to_owned())
    }
}

pub(crate) fn outbox(dir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir.join("outbox")) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let (head, body) = text.split_once("\n\n").unwrap();
            let mut lines = head.lines();
            Mail {
                to: lines.next().unwrap().trim_start_matches("To: ").to_owned(),
                subject: lines
                    .next()
                    .unwrap()
                    .trim_start_matches("Subject: ")
                    .to_owned(),
                body: body.to_owned(),
            }
        })
        .collect()
}

fn mails_to(t: &TestApp, to: &str) -> Vec<Mail> {
    outbox(t.data_dir.path())
        .into_iter()
        .filter(|m| m.to == to)
        .collect()
}

fn last_token(t: &TestApp, to: &str, subject_has: &str) -> String {
    mails_to(t, to)
        .iter()
        .rev()
        .find(|m| m.subject.contains(subject_has))
        .and_then(Mail::token)
        .unwrap_or_else(|| panic!("no mail to {to} about {subject_has}"))
}

/// A browser: its cookies, and the CSRF token of its session.
#[derive(Clone, Default)]
pub(crate) struct Browser {
    pub(crate) session: Option<String>,
    pub(crate) device: Option<String>,
    pub(crate) csrf: Option<String>,
}

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap()[name.len() + 1..].to_owned())
}

impl Browser {
    pub(crate) async fn send(
        &self,
        t: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = t
            .http
            .request(method, t.url(path))
            .header("origin", &t.base_url)
            .header("user-agent", "PeopleTest/1.0");
        let mut cookies = Vec::new();
        if let Some(s) = &self.session {
            cookies.push(format!("postora_session={s}"));
        }
        if let Some(d) = &self.device {
            cookies.push(format!("postora_device={d}"));
        }
        if !cookies.is_empty() {
            req = req.header("cookie", cookies.join("; "));
        }
        if let Some(c) = &self.csrf {
            req = req.header("x-csrf-token", c);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn get(&self, t: &TestApp, path: &str) -> reqwest::Response {
        self.send(t, Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, t: &TestApp, path: &str, body: Value) -> reqwest::Response {
        self.send(t, Method::POST, path, Some(body)).await
    }

    /// Signs in; keeps the cookies and the CSRF token. Returns the response body.
    pub(crate) async fn sign_in(&mut self, t: &TestApp, body: Value) -> (StatusCode, Value) {
        let resp = self.post(t, "/v1/session", body).await;
        let status = resp.status();
        if status == StatusCode::OK {
            self.session = cookie_value(&resp, "postora_session");
            if let Some(d) = cookie_value(&resp, "postora_device") {
                self.device = Some(d);
            }
        }
        let body: Value = resp.json().await.unwrap();
        if status == StatusCode::OK {
            self.csrf = body["csrf_token"].as_str().map(str::to_owned);
        }
        (status, body)
    }
}

pub(crate) async fn expect(resp: reqwest::Response, status: StatusCode) -> Value {
    let got = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    body
}

pub(crate) async fn expect_error(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    let body = expect(resp, status).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    body
}

async fn sign_up(t: &TestApp, email: &str, password: &str) -> Value {
    let resp = Browser::default()
        .post(
            t,
            "/v1/signup",
            json!({"email": email, "password": password, "name": "Ann Example"}),
        )
        .await;
    assert!(cookie_value(&resp, "postora_session").is_none());
    expect(resp, StatusCode::ACCEPTED).await
}

/// Signs up, verifies and signs in: a browser with a session.
async fn person(t: &TestApp, email: &str) -> Browser {
    sign_up(t, email, PASSWORD).await;
    let token = last_token(t, email, "Confirm");
    expect(
        Browser::default()
            .post(t, "/v1/email/verify", json!({"token": token}))
            .await,
        StatusCode::OK,
    )
    .await;
    let mut b = Browser::default();
    let (status, body) = b
        .sign_in(t, json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    b
}

/// Limits count in fixed windows (15 minutes, or hours, from the epoch): a test that fills one starts at least half a
/// minute before the next window (ten times what it takes), so its counters cannot start again in its middle.
async fn away_from_a_window_edge() {
    let into = chrono::Utc::now().timestamp().rem_euclid(15 * 60);
    if into > 15 * 60 - 30 {
        tokio::time::sleep(std::time::Duration::from_secs((15 * 60 - into + 1) as u64)).await;
    }
}

pub(crate) fn current_step() -> u64 {
    postora::app::people::two_factor::step_at(chrono::Utc::now().timestamp() as u64)
}

pub(crate) fn totp_code(secret_b32: &str, step: u64) -> String {
    let secret = totp_rs::Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .unwrap();
    postora::app::people::two_factor::code_for_step(&secret, step)
}

#[tokio::test]
async fn sign_up_answers_the_same_for_a_taken_address_and_verification_is_single_use() {
    let t = spawn_app().await;
    let first = sign_up(&t, "ann@example.com", PASSWORD).await;
    assert_eq!(first["status"], "verification_sent");
    let verify = mails_to(&t, "ann@example.com");
    assert_eq!(verify.len(), 1);
    assert!(verify[0].subject.contains("Confirm"));
    // The verification link opens the dashboard's page with the token.
    assert!(verify[0]
        .body
        .contains(&format!("{}/verify-email?token=", t.base_url)));

    // The same address again (in another case): the same answer, and a word to the owner; nothing else changes.
    let again = sign_up(&t, "ANN@example.com", "another long passphrase here").await;
    assert_eq!(again, first);
    let mails = mails_to(&t, "ann@example.com");
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1].subject.contains("tried to use your address"),
        "{mails:?}"
    );
    assert!(mails[1].token().is_none());

    // Signing in before verifying works, but only GET /v1/me, verifying, re-sending and signing out do.
    let mut b = Browser::default();
    let (status, body) = b
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["person"]["email_verified"], false);
    // The second password never took.
    let (status, _) = Browser::default()
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": "another long passphrase here"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let me = expect(b.get(&t, "/v1/me").await, StatusCode::OK).await;
    assert_eq!(me["csrf_token"], b.csrf.clone().unwrap());
    let memberships = me["memberships"].as_array().unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0]["role"], "owner");
    assert_eq!(memberships[0]["workspace_name"], "Ann Example's workspace");
    let ws = memberships[0]["workspace_id"].as_str().unwrap().to_owned();
    expect_error(
        b.get(&t, "/v1/sessions").await,
        StatusCode::FORBIDDEN,
        "email_not_verified",
    )
    .await;
    expect_error(
        b.send(&t, Method::PATCH, "/v1/me", Some(json!({"name": "Ann"})))
            .await,
        StatusCode::FORBIDDEN,
        "email_not_verified",
    )
    .await;
    // A workspace route refuses an unverified person.
    let resp = t
        .http
        .get(t.url("/v1/accounts"))
        .header(
            "cookie",
            format!("postora_session={}", b.session.clone().unwrap()),
        )
        .header("postora-workspace", &ws)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "email_not_verified").await;

    // Re-sending: a second link; the first still works until used.
    expect(
        b.post(&t, "/v1/email/verification", json!({})).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let first_token = verify[0].token().unwrap();
    let verified = expect(
        Browser::default()
            .post(&t, "/v1/email/verify", json!({"token": first_token}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(verified["email_verified"], true);
    // Reused: refused.
    expect_error(
        Browser::default()
            .post(&t, "/v1/email/verify", json!({"token": first_token}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    // Forged: refused.
    expect_error(
        Browser::default()
            .post(&t, "/v1/email/verify", json!({"token": "0".repeat(64)}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    // The existing session learns at once: the workspace route and the person's routes work now.
    let resp = t
        .http
        .get(t.url("/v1/accounts"))
        .header(
            "cookie",
            format!("postora_session={}", b.session.clone().unwrap()),
        )
        .header("postora-workspace", &ws)
        .send()
        .await
        .unwrap();
    expect(resp, StatusCode::OK).await;
    expect(b.get(&t, "/v1/sessions").await, StatusCode::OK).await;
    expect_error(
        b.post(&t, "/v1/email/verification", json!({})).await,
        StatusCode::CONFLICT,
        "already_verified",
    )
    .await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
    let t = spawn_app().await;
    let b = Browser::default();
    for (body, field) in [
        (
            json!({"email": "not-an-address", "password": PASSWORD, "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@b", "password": PASSWORD, "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "too short", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "password1234", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "1qaz2wsx3edc", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(257), "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": ""}),
            "name",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "A", "invitation": "nope"}),
            "invitation",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "A", "admin": true}),
            "admin",
        ),
    ] {
        let body = expect(
            b.post(&t, "/v1/signup", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    assert!(
        outbox(t.data_dir.path()).is_empty(),
        "no mail for bad input"
    );
    // Nothing was created: the address signs up fine now.
    sign_up(&t, "a@example.com", PASSWORD).await;
    assert_eq!(mails_to(&t, "a@example.com").len(), 1);

    // Not JSON.
    let resp = t
        .http
        .post(t.url("/v1/session"))
        .header("content-type", "text/plain")
        .body("email=a")
        .send()
        .await
        .unwrap();
    expect_error(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // Forgot with a malformed address.
    let body = expect(
        b.post(&t, "/v1/password/forgot", json!({"email": "nope"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "email");
    // A person's routes without a session, and with an API key.
    expect(b.get(&t, "/v1/me").await, StatusCode::UNAUTHORIZED).await;
    let (_, key) = t.workspace("keys").await;
    expect_error(
        t.get(&key, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "session_required",
    )
    .await;
}

#[tokio::test]
async fn sign_in_refuses_the_same_way_for_a_wrong_password_and_an_unknown_address() {
    let t = spawn_app().await;
    let mut ann = person(&t, "ann@example.com").await;
    let mut other = Browser::default();
    let (s1, wrong) = other
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": "not the password at all"}),
        )
        .await;
    let (s2, unknown) = other
        .sign_in(
            &t,
            json!({"email": "bob@example.com", "password": "not the password at all"}),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"]["code"], "invalid_credentials");

    // A new session id at every sign-in, and the browser's earlier session ends.
    let replaced = ann.session.clone().unwrap();
    let (status, _) = ann
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(ann.session.clone().unwrap(), replaced);
    let stale = Browser {
        session: Some(replaced),
        ..Browser::default()
    };
    expect_error(
        stale.get(&t, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;

    // Sessions listed without tokens, the current one marked.
    let mut second = Browser::default();
    let (status, _) = second
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let list = expect(ann.get(&t, "/v1/sessions").await, StatusCode::OK).await;
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    assert_eq!(sessions[0]["user_agent"], "PeopleTest/1.0");
    let text = list.to_string();
    assert!(!text.contains(second.session.as_deref().unwrap()));
    assert!(!text.contains(ann.session.as_deref().unwrap()));

    // Ending the other session by id: its cookie stops working.
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    expect(
        ann.send(
            &t,
            Method::DELETE,
            &format!("/v1/sessions/{other_id}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        second.get(&t, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    expect(
        ann.send(
            &t,
            Method::DELETE,
            &format!("/v1/sessions/{other_id}"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // A change without the CSRF token, or from another origin, is refused.
    let no_csrf = Browser {
        csrf: None,
        ..ann.clone()
    };
    expect_error(
        no_csrf.send(&t, Method::DELETE, "/v1/session", None).await,
        StatusCode::FORBIDDEN,
        "csrf_token_invalid",
    )
    .await;

    // Sign-ins are recorded with their outcome.
    let list = expect(ann.get(&t, "/v1/me/sign-ins").await, StatusCode::OK).await;
    let outcomes: Vec<&str> = list["sign_ins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["succeeded", "succeeded", "wrong_password", "succeeded"]
    );

    // PATCH /v1/me renames.
    let me = expect(
        ann.send(&t, Method::PATCH, "/v1/me", Some(json!({"name": "Ann E."})))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["name"], "Ann E.");

    // Sign out: the cookie is cleared and the session ends.
    let resp = ann.send(&t, Method::DELETE, "/v1/session", None).await;
    assert_eq!(cookie_value(&resp, "postora_session").as_deref(), Some(""));
    expect(resp, StatusCode::OK).await;
    expect(ann.get(&t, "/v1/me").await, StatusCode::UNAUTHORIZED).await;

    // Sign out everywhere.
    let mut a1 = Browser::default();
    let mut a2 = Browser::default();
    a1.sign_in(
        &t,
        json!({"email": "ann@example.com", "password": PASSWORD}),
    )
    .await;
    a2.sign_in(
        &t,
        json!({"email": "ann@example.com", "password": PASSWORD}),
    )
    .await;
    expect(
        a1.send(&t, Method::DELETE, "/v1/sessions", None).await,
        StatusCode::OK,
    )
    .await;
    expect(a1.get(&t, "/v1/me").await, StatusCode::UNAUTHORIZED).await;
    expect(a2.get(&t, "/v1/me").await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn the_cookie_is_http_only_lax_and_secure_outside_plain_http() {
    let t = spawn_app().await;
    sign_up(&t, "ann@example.com", PASSWORD).await;
    let resp = Browser::default()
        .post(
            &t,
            "/v1/session",
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("postora_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    // The test server is plain http: no Secure.
    assert!(!session.contains("Secure"), "{session}");
    let device = cookies
        .iter()
        .find(|c| c.starts_with("postora_device="))
        .unwrap();
    assert!(device.contains("HttpOnly"), "{device}");
}

#[tokio::test]
async fn a_new_device_is_mailed_and_a_known_one_is_not() {
    let t = spawn_app().await;
    let mut first = person(&t, "ann@example.com").await;
    let count = |t: &TestApp| {
        mails_to(t, "ann@example.com")
            .iter()
            .filter(|m| m.subject.contains("New sign-in"))
            .count()
    };
    // The very first browser is not news.
    assert_eq!(count(&t), 0);
    first
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(count(&t), 0, "the same device again");
    let mut second = Browser::default();
    second
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(count(&t), 1);
    let mail = mails_to(&t, "ann@example.com").pop().unwrap();
    assert!(mail.body.contains("127.0.0.1") && mail.body.contains("PeopleTest/1.0"));
    second
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(count(&t), 1, "remembered");
}

#[tokio::test]
async fn guessing_is_limited_per_account_with_a_429_and_a_wait() {
    away_from_a_window_edge().await;
    let t = spawn_app().await;
    person(&t, "ann@example.com").await;
    let mut b = Browser::default();
    for _ in 0..10 {
        let (status, _) = b
            .sign_in(
                &t,
                json!({"email": "ann@example.com", "password": "wrong password here"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let resp = b
        .post(
            &t,
            "/v1/session",
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // An unknown address is limited the same way (its counter is its own).
    for _ in 0..10 {
        b.sign_in(
            &t,
            json!({"email": "nobody@example.com", "password": "wrong password here"}),
        )
        .await;
    }
    expect_error(
        b.post(
            &t,
            "/v1/session",
            json!({"email": "nobody@example.com", "password": "x"}),
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;

    // Reset requests per account: the sixth in an hour is refused.
    for _ in 0..5 {
        expect(
            b.post(
                &t,
                "/v1/password/forgot",
                json!({"email": "bob@example.com"}),
            )
            .await,
            StatusCode::ACCEPTED,
        )
        .await;
    }
    expect_error(
        b.post(
            &t,
            "/v1/password/forgot",
            json!({"email": "bob@example.com"}),
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;

    // Mail to one address: sign-ups naming it, taken or not, are limited, so no one floods a mailbox.
    for _ in 0..4 {
        sign_up(&t, "ann@example.com", PASSWORD).await;
    }
    let before = mails_to(&t, "ann@example.com").len();
    expect_error(
        b.post(
            &t,
            "/v1/signup",
            json!({"email": "ann@example.com", "password": PASSWORD, "name": "Ann"}),
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;
    assert_eq!(mails_to(&t, "ann@example.com").len(), before);

    // Link tokens per client address: after 30 guesses, even a real token waits.
    for _ in 0..30 {
        b.post(&t, "/v1/email/verify", json!({"token": "f".repeat(64)}))
            .await;
    }
    expect_error(
        b.post(&t, "/v1/email/verify", json!({"token": "f".repeat(64)}))
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn a_successful_sign_in_clears_the_account_counter() {
    away_from_a_window_edge().await;
    let t = spawn_app().await;
    person(&t, "ann@example.com").await;
    let mut b = Browser::default();
    for _ in 0..9 {
        b.sign_in(
            &t,
            json!({"email": "ann@example.com", "password": "wrong password here"}),
        )
        .await;
    }
    let (status, _) = b
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..9 {
        let (status, _) = b
            .sign_in(
                &t,
                json!({"email": "ann@example.com", "password": "wrong password here"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn password_reset_answers_the_same_and_ends_every_session() {
    let t = spawn_app().await;
    let ann = person(&t, "ann@example.com").await;
    let b = Browser::default();
    let known = expect(
        b.post(
            &t,
            "/v1/password/forgot",
            json!({"email": "ann@example.com"}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    let unknown = expect(
        b.post(
            &t,
            "/v1/password/forgot",
            json!({"email": "nobody@example.com"}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(known, unknown);
    assert!(mails_to(&t, "nobody@example.com").is_empty());
    let token = last_token(&t, "ann@example.com", "Reset");
    assert!(mails_to(&t, "ann@example.com")
        .last()
        .unwrap()
        .body
        .contains(&format!("{}/reset-password?token=", t.base_url)));

    // A weak password is refused and the link still works.
    let body = expect(
        b.post(
            &t,
            "/v1/password/reset",
            json!({"token": token, "password": "short"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "password");
    expect(
        b.post(
            &t,
            "/v1/password/reset",
            json!({"token": token, "password": "a brand new passphrase"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    // Every session ended; the link is used up; the new password works and the old does not.
    expect(ann.get(&t, "/v1/me").await, StatusCode::UNAUTHORIZED).await;
    expect_error(
        b.post(
            &t,
            "/v1/password/reset",
            json!({"token": token, "password": "another new passphrase"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
    let mut again = Browser::default();
    let (s, _) = again
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = again
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(mails_to(&t, "ann@example.com")
        .iter()
        .any(|m| m.subject.contains("password was changed")));
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    // A link whose expiry has passed: written straight to the store, as if mailed a day ago.
    let t = spawn_app().await;
    sign_up(&t, "ann@example.com", PASSWORD).await;
    let person = t
        .app
        .stores
        .people
        .find_person_by_email(&postora::domain::EmailAddress::parse("ann@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let token = "e".repeat(64);
    let now = chrono::Utc::now();
    t.app
        .stores
        .people
        .put_link(&postora::domain::OneTimeLink {
            token_hash: postora::domain::people::hash_token(&token),
            person_id: person.id.clone(),
            purpose: postora::domain::LinkPurpose::ResetPassword,
            created_at: now - chrono::Duration::hours(2),
            expires_at: now - chrono::Duration::hours(1),
        })
        .await
        .unwrap();
    expect_error(
        Browser::default()
            .post(
                &t,
                "/v1/password/reset",
                json!({"token": token, "password": "a brand new passphrase"}),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_link",
    )
    .await;
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let t = spawn_app().await;
    let ann = person(&t, "ann@example.com").await;
    let mut other = Browser::default();
    other
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    let body = expect(
        ann.send(
            &t,
            Method::PUT,
            "/v1/me/password",
            Some(json!({"current_password": "wrong one entirely", "new_password": "a brand new passphrase"})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "current_password");
    let body = expect(
        ann.send(
            &t,
            Method::PUT,
            "/v1/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": "qwertyuiop123"})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "new_password");
    expect(other.get(&t, "/v1/me").await, StatusCode::OK).await;
    expect(
        ann.send(
            &t,
            Method::PUT,
            "/v1/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect(ann.get(&t, "/v1/me").await, StatusCode::OK).await;
    expect(other.get(&t, "/v1/me").await, StatusCode::UNAUTHORIZED).await;
    assert!(mails_to(&t, "ann@example.com")
        .iter()
        .any(|m| m.subject.contains("password was changed")));
}

#[tokio::test]
async fn changing_the_address_verifies_the_new_one_and_tells_the_old_one() {
    let t = spawn_app().await;
    let ann = person(&t, "ann@example.com").await;
    person(&t, "taken@example.com").await;
    let change = |email: &str, password: &str| {
        ann.send(
            &t,
            Method::PUT,
            "/v1/me/email",
            Some(json!({"email": email, "password": password})),
        )
    };
    let body = expect(
        change("ann@new.example", "wrong one entirely").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "password");
    let body = expect(
        change("nope", PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "email");
    // A taken address: the same answer; its owner is told; nothing changes.
    let taken = expect(
        change("taken@example.com", PASSWORD).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let fresh = expect(
        change("ann@new.example", PASSWORD).await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(taken, fresh);
    assert!(mails_to(&t, "taken@example.com")
        .iter()
        .any(|m| m.subject.contains("tried to use your address")));
    assert!(mails_to(&t, "ann@example.com")
        .iter()
        .any(|m| m.subject.contains("is changing") && m.body.contains("ann@new.example")));
    let token = last_token(&t, "ann@new.example", "Confirm");
    let person = expect(
        Browser::default()
            .post(&t, "/v1/email/verify", json!({"token": token}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(person["email"], "ann@new.example");
    let mut b = Browser::default();
    let (s, _) = b
        .sign_in(
            &t,
            json!({"email": "ann@new.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = b
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // The old address is free again.
    sign_up(&t, "ann@example.com", PASSWORD).await;
    assert!(mails_to(&t, "ann@example.com")
        .last()
        .unwrap()
        .subject
        .contains("Confirm"));
}

#[tokio::test]
async fn two_factor_with_totp_and_recovery_codes() {
    let t = spawn_app().await;
    let ann = person(&t, "ann@example.com").await;
    let body = expect(
        ann.post(
            &t,
            "/v1/me/two-factor",
            json!({"password": "wrong one entirely"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "password");
    expect_error(
        ann.post(&t, "/v1/me/two-factor/confirm", json!({"code": "123456"}))
            .await,
        StatusCode::CONFLICT,
        "no_pending_two_factor",
    )
    .await;
    let started = expect(
        ann.post(&t, "/v1/me/two-factor", json!({"password": PASSWORD}))
            .await,
        StatusCode::OK,
    )
    .await;
    let secret = started["secret"].as_str().unwrap().to_owned();
    assert!(started["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    // The secret is sealed in the store, never in the clear.
    let stored = t
        .app
        .stores
        .people
        .find_person_by_email(&postora::domain::EmailAddress::parse("ann@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let pending = stored.pending_two_factor.clone().unwrap();
    assert!(pending.starts_with("v1.") && !pending.contains(&secret));

    // A wrong code: refused, nothing turned on.
    // The step the secret is confirmed in: its code is then used up, and the next step's is the one to sign in with.
    let step = current_step();
    let used = totp_code(&secret, step);
    let wrong = if used == "000000" { "111111" } else { "000000" };
    let body = expect(
        ann.post(&t, "/v1/me/two-factor/confirm", json!({"code": wrong}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "code");
    let codes = expect(
        ann.post(&t, "/v1/me/two-factor/confirm", json!({"code": used}))
            .await,
        StatusCode::OK,
    )
    .await;
    let codes: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let me = expect(ann.get(&t, "/v1/me").await, StatusCode::OK).await;
    assert_eq!(me["person"]["two_factor"], true);

    // Signing in: no code, a wrong code, the code already used, then a fresh one.
    let mut b = Browser::default();
    let creds = json!({"email": "ann@example.com", "password": PASSWORD});
    let (s, body) = b.sign_in(&t, creds.clone()).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("two_factor_required"))
    );
    let with = |code: &str| {
        let mut c = creds.clone();
        c["code"] = json!(code);
        c
    };
    let (s, body) = b.sign_in(&t, with(wrong)).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_code"))
    );
    let (s, body) = b.sign_in(&t, with(&used)).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_code")),
        "a code is good once"
    );
    let (s, _) = b.sign_in(&t, with(&totp_code(&secret, step + 1))).await;
    assert_eq!(s, StatusCode::OK);
    // A recovery code signs in once.
    let mut r = creds.clone();
    r["recovery_code"] = json!(codes[0]);
    let (s, _) = Browser::default().sign_in(&t, r.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = Browser::default().sign_in(&t, r).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_code"))
    );

    // New recovery codes (confirmed by a recovery code), then turning it off (another recovery code).
    let body = expect(
        b.post(
            &t,
            "/v1/me/two-factor/recovery-codes",
            json!({"password": PASSWORD, "code": "aaaaa-bbbbb"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "code");
    let fresh = expect(
        b.post(
            &t,
            "/v1/me/two-factor/recovery-codes",
            json!({"password": PASSWORD, "code": codes[1]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let fresh: Vec<String> = fresh["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    // The old set is gone.
    let body = expect(
        b.send(
            &t,
            Method::DELETE,
            "/v1/me/two-factor",
            Some(json!({"password": PASSWORD, "code": codes[2]})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "code");
    expect(
        b.send(
            &t,
            Method::DELETE,
            "/v1/me/two-factor",
            Some(json!({"password": PASSWORD, "code": fresh[0]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let (s, _) = Browser::default().sign_in(&t, creds).await;
    assert_eq!(s, StatusCode::OK);
    let subjects: Vec<String> = mails_to(&t, "ann@example.com")
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("turned on")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("turned off")),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn a_workspace_that_requires_two_factor_refuses_a_member_without_it() {
    let t = spawn_app().await;
    let ann = person(&t, "ann@example.com").await;
    let me = expect(ann.get(&t, "/v1/me").await, StatusCode::OK).await;
    let ws = me["memberships"][0]["workspace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = postora::domain::WorkspaceId::parse(&ws).unwrap();
    let mut workspace = t
        .app
        .stores
        .workspaces
        .get_workspace(&id)
        .await
        .unwrap()
        .unwrap();
    workspace.settings.two_factor_required = true;
    t.app
        .stores
        .workspaces
        .update_workspace(&workspace)
        .await
        .unwrap();
    let resp = t
        .http
        .get(t.url("/v1/accounts"))
        .header(
            "cookie",
            format!("postora_session={}", ann.session.clone().unwrap()),
        )
        .header("postora-workspace", &ws)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "two_factor_required").await;
}

#[tokio::test]
async fn export_holds_no_hash_or_secret_and_deletion_erases_what_the_person_alone_owns() {
    let t = spawn_app().await;
    let ann = person(&t, "ann@example.com").await;
    let started = expect(
        ann.post(&t, "/v1/me/two-factor", json!({"password": PASSWORD}))
            .await,
        StatusCode::OK,
    )
    .await;
    let secret = started["secret"].as_str().unwrap().to_owned();
    let resp = ann.get(&t, "/v1/me/export").await;
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let export = expect(resp, StatusCode::OK).await;
    assert_eq!(export["person"]["email"], "ann@example.com");
    assert_eq!(export["memberships"].as_array().unwrap().len(), 1);
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    assert!(!export["sign_ins"].as_array().unwrap().is_empty());
    let text = export.to_string();
    for secret_part in [
        "argon2",
        &secret,
        "password_hash",
        "v1.",
        ann.session.as_deref().unwrap(),
    ] {
        assert!(!text.contains(secret_part), "{secret_part} in {text}");
    }

    let ws = export["memberships"][0]["workspace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Deleting needs the password, and names the workspace erased with the account.
    let body = expect(
        ann.send(
            &t,
            Method::DELETE,
            "/v1/me",
            Some(json!({"password": "wrong one entirely"})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"]["field"], "password");
    let body = expect_error(
        ann.send(
            &t,
            Method::DELETE,
            "/v1/me",
            Some(json!({"password": PASSWORD})),
        )
        .await,
        StatusCode::CONFLICT,
        "confirm_workspaces",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains(&ws));
    expect(ann.get(&t, "/v1/me").await, StatusCode::OK).await;

    // Ann also belongs to Bob's workspace, which she leaves with a tombstone.
    let bob = person(&t, "bob@example.com").await;
    let bob_me = expect(bob.get(&t, "/v1/me").await, StatusCode::OK).await;
    let bob_ws = postora::domain::WorkspaceId::parse(
        bob_me["memberships"][0]["workspace_id"].as_str().unwrap(),
    )
    .unwrap();
    let ann_id =
        postora::domain::PersonId::parse(export["person"]["id"].as_str().unwrap()).unwrap();
    t.app
        .stores
        .members
        .add_membership(&postora::domain::Membership {
            workspace_id: bob_ws.clone(),
            person_id: ann_id.clone(),
            role: postora::domain::Role::Editor,
            joined_at: chrono::Utc::now(),
            version: 1,
        })
        .await
        .unwrap();

    let done = expect(
        ann.send(
            &t,
            Method::DELETE,
            "/v1/me",
            Some(json!({"password": PASSWORD, "erase_workspaces": [ws]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["erased_workspaces"], json!([ws]));
    expect(ann.get(&t, "/v1/me").await, StatusCode::UNAUTHORIZED).await;
    let (s, _) = Browser::default()
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(t
        .app
        .stores
        .people
        .get_person(&ann_id)
        .await
        .unwrap()
        .is_none());
    assert!(t
        .app
        .stores
        .members
        .memberships_of(&ann_id)
        .await
        .unwrap()
        .is_empty());
    let erased = postora::domain::WorkspaceId::parse(&ws).unwrap();
    assert!(t
        .app
        .stores
        .workspaces
        .get_workspace(&erased)
        .await
        .unwrap()
        .is_none());
    let audit = t
        .app
        .stores
        .records
        .list_audit(&bob_ws, 100, None)
        .await
        .unwrap()
        .items;
    let tomb = audit
        .iter()
        .find(|e| e.action == "person.deleted")
        .expect("a tombstone");
    let tomb = serde_json::to_string(tomb).unwrap();
    assert!(
        !tomb.contains("ann") && !tomb.contains(ann_id.as_str()),
        "{tomb}"
    );
    // Bob's workspace and membership are untouched.
    expect(bob.get(&t, "/v1/me").await, StatusCode::OK).await;
}

#[tokio::test]
async fn no_token_password_secret_or_link_in_the_logs() {
    let (buf, _guard) = Capturing::start();
    let t = spawn_app().await;
    let ann = person(&t, "ann@example.com").await;
    let started = expect(
        ann.post(&t, "/v1/me/two-factor", json!({"password": PASSWORD}))
            .await,
        StatusCode::OK,
    )
    .await;
    let secret = started["secret"].as_str().unwrap().to_owned();
    let codes = expect(
        ann.post(
            &t,
            "/v1/me/two-factor/confirm",
            json!({"code": totp_code(&secret, current_step())}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    Browser::default()
        .post(
            &t,
            "/v1/password/forgot",
            json!({"email": "ann@example.com"}),
        )
        .await;
    let reset = last_token(&t, "ann@example.com", "Reset");
    let verify_tokens: Vec<String> = mails_to(&t, "ann@example.com")
        .iter()
        .filter_map(Mail::token)
        .collect();
    let logs = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    // The capture saw this test's mail (by address and subject, as the outbox logs it).
    assert!(
        logs.contains("mail written to the outbox"),
        "nothing captured"
    );
    let session = ann.session.clone().unwrap();
    let mut forbidden = vec![
        PASSWORD.to_owned(),
        secret,
        session.clone(),
        ann.csrf.clone().unwrap(),
        reset,
    ];
    forbidden.extend(verify_tokens);
    forbidden.extend(
        codes["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned()),
    );
    // The session's secret part alone, too.
    forbidden.push(session.rsplit_once('.').unwrap().1.to_owned());
    for f in &forbidden {
        assert!(!logs.contains(f.as_str()), "a secret in the logs");
    }
}

#[tokio::test]
async fn an_invited_person_gets_no_workspace_of_their_own() {
    let t = spawn_app().await;
    let (ws, _) = t.workspace("agency").await;
    let token = "c".repeat(64);
    let now = chrono::Utc::now();
    t.app
        .stores
        .members
        .put_invitation(&postora::domain::Invitation {
            id: postora::domain::InvitationId::generate(),
            token_hash: postora::domain::people::hash_token(&token),
            workspace_id: postora::domain::WorkspaceId::parse(&ws).unwrap(),
            email: postora::domain::EmailAddress::parse("cat@example.com").unwrap(),
            role: postora::domain::Role::Client,
            invited_by: postora::domain::PersonId::generate(),
            created_at: now,
            expires_at: now + chrono::Duration::days(7),
        })
        .await
        .unwrap();
    expect(
        Browser::default()
            .post(
                &t,
                "/v1/signup",
                json!({"email": "cat@example.com", "password": PASSWORD, "name": "Cat", "invitation": token}),
            )
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    let mut b = Browser::default();
    let (s, _) = b
        .sign_in(
            &t,
            json!({"email": "cat@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let me = expect(b.get(&t, "/v1/me").await, StatusCode::OK).await;
    assert_eq!(me["memberships"], json!([]));
    // The invitation is still open, for the invitations route to accept.
    assert!(t
        .app
        .stores
        .members
        .find_invitation(
            &postora::domain::people::hash_token(&token),
            chrono::Utc::now()
        )
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn a_hash_with_lower_parameters_is_replaced_at_sign_in() {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let t = spawn_app().await;
    sign_up(&t, "ann@example.com", PASSWORD).await;
    let email = postora::domain::EmailAddress::parse("ann@example.com").unwrap();
    let mut person = t
        .app
        .stores
        .people
        .find_person_by_email(&email)
        .await
        .unwrap()
        .unwrap();
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8 * 1024, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
    .unwrap()
    .to_string();
    let before = person.version;
    person.password_hash = weak.clone();
    person.version += 1;
    t.app
        .stores
        .people
        .update_person(&person, before)
        .await
        .unwrap();
    let (s, _) = Browser::default()
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let after = t
        .app
        .stores
        .people
        .find_person_by_email(&email)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(after.password_hash, weak);
    assert!(after
        .password_hash
        .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    let (s, _) = Browser::default()
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

/// The pages the mailed links open: opening one changes nothing, its form does, once; a link cut short is a page that
/// says so; a refused form answers a page with the reason, never a raw error.
#[tokio::test]
async fn the_pages_mail_links_open_confirm_and_reset_with_a_form() {
    let t = spawn_app().await;
    sign_up(&t, "ann@example.com", PASSWORD).await;
    let token = last_token(&t, "ann@example.com", "Confirm");
    let page = |path: String| {
        let t = &t;
        async move { t.http.get(t.url(&path)).send().await.unwrap() }
    };
    let form = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let t = &t;
        async move { t.http.post(t.url(path)).form(&fields).send().await.unwrap() }
    };

    // Opening the link shows a form holding the token, and uses nothing up.
    let opened = page(format!("/verify-email?token={token}")).await;
    assert_eq!(opened.status(), StatusCode::OK);
    let html = opened.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/verify-email\">") && html.contains(&token)
    );
    let again = page(format!("/verify-email?token={token}")).await;
    assert_eq!(again.status(), StatusCode::OK);

    let confirmed = form("/verify-email", vec![("token", token.clone())]).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert!(confirmed
        .text()
        .await
        .unwrap()
        .contains("ann@example.com is confirmed"));
    let reused = form("/verify-email", vec![("token", token.clone())]).await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
    let text = reused.text().await.unwrap();
    assert!(
        text.contains("<h1>Your address could not be confirmed</h1>"),
        "{text}"
    );

    let cut = page("/verify-email?token=".into()).await;
    assert_eq!(cut.status(), StatusCode::BAD_REQUEST);
    assert!(cut
        .text()
        .await
        .unwrap()
        .contains("This link is incomplete"));

    // Forgot, then reset through the pages: a weak password is refused on the page and spends no link.
    let asked = form(
        "/forgot-password",
        vec![("email", "ann@example.com".into())],
    )
    .await;
    assert_eq!(asked.status(), StatusCode::OK);
    let reset = last_token(&t, "ann@example.com", "Reset");
    let opened = page(format!("/reset-password?token={reset}")).await;
    assert_eq!(opened.status(), StatusCode::OK);
    assert!(opened.text().await.unwrap().contains("type=\"password\""));
    let weak = form(
        "/reset-password",
        vec![("token", reset.clone()), ("password", "short".into())],
    )
    .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let done = form(
        "/reset-password",
        vec![
            ("token", reset.clone()),
            ("password", "a brand new long phrase".into()),
        ],
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    let (status, _) = Browser::default()
        .sign_in(
            &t,
            json!({"email": "ann@example.com", "password": "a brand new long phrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
