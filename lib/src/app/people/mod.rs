//! Accounts of people: signing up, verifying an address, signing in and out, sessions, passwords and their reset,
//! changing address, two-factor authentication, a person's export of their own data, and deleting their account.
//!
//! Nothing here tells a stranger whether an address has an account: sign-up and password reset answer the same
//! either way (the owner of a taken address is mailed instead), and a sign-in with an unknown address is refused
//! like a wrong password, after the same Argon2 work.

pub mod limits;
pub mod passwords;
pub mod two_factor;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::mail::Message;
use super::sessions::{ClientInfo, SessionCheck};
use super::App;
use crate::domain::people::{hash_token, MAX_KNOWN_DEVICES, RESET_LINK_TTL, VERIFY_LINK_TTL};
use crate::domain::{
    AuditEntry, EmailAddress, LinkPurpose, Membership, OneTimeLink, Person, PersonId, Role,
    Session, SessionFlags, SessionToken, SignIn, SignInOutcome, TwoFactor, Workspace, WorkspaceId,
    WorkspaceSettings,
};
use crate::error::{Error, Result};
use crate::ports::StoreError;
use limits::{
    CONFIRM_PERSON, MAIL_ACCOUNT, MAIL_ADDRESS, RESET_ACCOUNT, RESET_ADDRESS, SIGN_IN_ACCOUNT,
    SIGN_IN_ADDRESS, TOKEN_ADDRESS,
};

/// The longest name a person may go by.
pub const MAX_NAME: usize = 100;
/// Sign-ins listed for a person.
pub const SIGN_INS_LISTED: usize = 50;

/// The page of the dashboard a verification link opens (it posts the token to `POST /v1/email/verify`).
pub const VERIFY_PATH: &str = "/verify-email";
/// The page a reset link opens (it posts the token and the new password to `POST /v1/password/reset`).
pub const RESET_PATH: &str = "/reset-password";
/// The page where a person asks for a reset link.
pub const FORGOT_PATH: &str = "/forgot-password";

/// What a person signing up gives (no `Debug`: it holds a password).
#[derive(Clone)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: String,
    /// The token of an invitation they came with: no workspace of their own is made; they accept the invitation
    /// once signed in.
    pub invitation: Option<String>,
}

/// What a person signing in gives (no `Debug`: it holds a password).
#[derive(Clone)]
pub struct Credentials {
    pub email: String,
    pub password: String,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

/// A successful sign-in (no `Debug`: it holds the new device cookie).
pub struct SignedIn {
    pub person: Person,
    pub token: SessionToken,
    pub session: Session,
    /// A new device cookie to set, when the browser came without one.
    pub new_device: Option<String>,
}

/// A person's membership with the workspace's name.
#[derive(Debug, Clone)]
pub struct MembershipOf {
    pub membership: Membership,
    pub workspace_name: String,
}

/// Everything Postora keeps about a person, for their own export (never a hash or a secret).
#[derive(Debug)]
pub struct PersonExport {
    pub person: Person,
    pub memberships: Vec<MembershipOf>,
    pub sessions: Vec<Session>,
    pub sign_ins: Vec<SignIn>,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            format!("a name has 1 to {MAX_NAME} characters and no control characters"),
        ));
    }
    Ok(name.to_owned())
}

fn parse_email(field: &str, raw: &str) -> Result<EmailAddress> {
    EmailAddress::parse(raw).ok_or_else(|| Error::invalid(field, "not a valid email address"))
}

fn invalid_credentials() -> Error {
    Error::unauthenticated(
        "invalid_credentials",
        "the email address or the password is not right",
    )
}

fn invalid_link() -> Error {
    Error::bad_request(
        "invalid_link",
        "this link is not valid: it was used already, has expired, or was never issued; ask for a new one",
    )
}

fn wrong_password(field: &str) -> Error {
    Error::invalid(field, "the password is not right")
}

fn flags_of(person: &Person) -> SessionFlags {
    SessionFlags {
        email_verified: person.email_verified_at.is_some(),
        two_factor: person.two_factor.is_some(),
    }
}

/// The subject an address is counted under in limits: its lookup key (never the address itself).
fn account_subject(raw: &str) -> String {
    match EmailAddress::parse(raw) {
        Some(e) => e.lookup_key(),
        None => hash_token(&raw.to_lowercase()),
    }
}

fn unix(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp()).unwrap_or(0)
}

impl App {
    /// A link to one of Postora's own pages, without a token.
    fn page_link(&self, path: &str) -> String {
        let mut url = self.settings.public_url.clone();
        url.set_path(path);
        url.set_query(None);
        url.to_string()
    }

    /// The person with this id; a session whose person is gone is a session that ended.
    pub async fn person(&self, id: &PersonId) -> Result<Person> {
        self.stores.people.get_person(id).await?.ok_or_else(|| {
            Error::unauthenticated(
                "session_expired",
                "your session has ended or is not valid; sign in again",
            )
        })
    }

    /// Writes a changed person (one version on), keeping every session's flags in step when they moved.
    async fn save_person(&self, before: &Person, mut after: Person) -> Result<Person> {
        after.version = before.version + 1;
        self.stores
            .people
            .update_person(&after, before.version)
            .await?;
        if flags_of(before) != flags_of(&after) {
            self.stores
                .people
                .set_session_flags(&after.id, flags_of(&after))
                .await?;
        }
        Ok(after)
    }

    /// Signs a person up. Answers the same whether or not the address is taken: a new address gets a person, their
    /// own workspace (unless they came with an invitation) and a verification mail; a taken one gets a mail to its
    /// owner and nothing else.
    pub async fn sign_up(&self, input: SignUp, client: &ClientInfo) -> Result<()> {
        let email = parse_email("email", &input.email)?;
        passwords::check_new("password", &input.password)?;
        let name = check_name(&input.name)?;
        if let Some(token) = &input.invitation {
            if self
                .stores
                .members
                .find_invitation(&hash_token(token), self.now())
                .await?
                .is_none()
            {
                return Err(Error::invalid(
                    "invitation",
                    "this invitation is not valid: it was used already, has expired, or was withdrawn",
                ));
            }
        }
        self.spend_limit(MAIL_ADDRESS, &client.ip).await?;
        self.spend_limit(MAIL_ACCOUNT, &email.lookup_key()).await?;
        // Hashed before the address is looked at, so a taken address answers after the same work.
        let password_hash = passwords::hash_blocking(&input.password).await?;
        let now = self.now();
        let person = Person {
            id: PersonId::generate(),
            email: email.clone(),
            name,
            email_verified_at: None,
            password_hash,
            password_changed_at: now,
            two_factor: None,
            pending_two_factor: None,
            known_devices: Vec::new(),
            created_at: now,
            version: 1,
        };
        match self.stores.people.create_person(&person).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                if let Some(owner) = self.stores.people.find_person_by_email(&email).await? {
                    self.send_mail(
                        &owner.email,
                        Message::AccountExists {
                            name: &owner.name,
                            link: &self.page_link(FORGOT_PATH),
                        },
                    )
                    .await?;
                }
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        if input.invitation.is_none() {
            self.create_own_workspace(&person).await?;
        }
        self.send_verification(&person, &person.email).await
    }

    /// A new person's own workspace, with them as its owner.
    async fn create_own_workspace(&self, person: &Person) -> Result<Workspace> {
        let id = WorkspaceId::generate();
        let wrapped_key = self.vault.new_workspace_key(&id).await?;
        let now = self.now();
        let name: String = format!("{}'s workspace", person.name)
            .chars()
            .take(crate::domain::workspace::MAX_WORKSPACE_NAME)
            .collect();
        let workspace = Workspace {
            id: id.clone(),
            name,
            wrapped_key,
            created_at: now,
            settings: WorkspaceSettings::default(),
        };
        let owner = Membership {
            workspace_id: id.clone(),
            person_id: person.id.clone(),
            role: Role::Owner,
            joined_at: now,
            version: 1,
        };
        self.stores
            .members
            .create_workspace_with_owner(&workspace, &owner)
            .await?;
        self.audit(AuditEntry::new(
            id,
            now,
            "workspace.created",
            serde_json::json!({"by": "sign_up"}),
        ))
        .await;
        Ok(workspace)
    }

    /// Mails a verification link for `email` (the person's address, or the one they are changing to).
    async fn send_verification(&self, person: &Person, email: &EmailAddress) -> Result<()> {
        let token = crate::domain::ids::random_token(32);
        let now = self.now();
        self.stores
            .people
            .put_link(&OneTimeLink {
                token_hash: hash_token(&token),
                person_id: person.id.clone(),
                purpose: LinkPurpose::VerifyEmail {
                    email: email.clone(),
                },
                created_at: now,
                expires_at: now + VERIFY_LINK_TTL,
            })
            .await?;
        let link = self.token_link(VERIFY_PATH, &token);
        self.send_mail(
            email,
            Message::VerifyEmail {
                name: &person.name,
                link: &link,
            },
        )
        .await
    }

    /// Sends a new verification link to a signed-in person whose address is not verified yet.
    pub async fn resend_verification(&self, id: &PersonId, client: &ClientInfo) -> Result<()> {
        let person = self.person(id).await?;
        if person.email_verified_at.is_some() {
            return Err(Error::conflict(
                "already_verified",
                "your email address is verified already",
            ));
        }
        self.spend_limit(MAIL_ADDRESS, &client.ip).await?;
        self.spend_limit(MAIL_ACCOUNT, &person.email.lookup_key())
            .await?;
        self.send_verification(&person, &person.email).await
    }

    /// Uses a verification link: verifies the person's address, or, for a link to another address, completes their
    /// change to it (the claim on the address moves with it).
    pub async fn verify_email(&self, token: &str, client: &ClientInfo) -> Result<Person> {
        self.spend_limit(TOKEN_ADDRESS, &client.ip).await?;
        let link = self
            .stores
            .people
            .take_link(&hash_token(token), self.now())
            .await?
            .ok_or_else(invalid_link)?;
        let LinkPurpose::VerifyEmail { email } = link.purpose else {
            return Err(invalid_link());
        };
        let Some(person) = self.stores.people.get_person(&link.person_id).await? else {
            return Err(invalid_link());
        };
        let mut after = person.clone();
        // A link to another address than the person's completes their change to it: the claim moves.
        let changing = after.email != email;
        after.email = email;
        after.email_verified_at = Some(self.now());
        let saved = self
            .save_person(&person, after)
            .await
            .map_err(|e| match e {
                Error::Conflict { .. } if changing => Error::conflict(
                    "email_taken",
                    "another account took this address in the meantime; nothing changed",
                ),
                e => e,
            })?;
        Ok(saved)
    }

    /// Signs a person in: a new session (and session id) every time.
    pub async fn sign_in(
        &self,
        input: Credentials,
        client: &ClientInfo,
        device: Option<&str>,
    ) -> Result<SignedIn> {
        let account = account_subject(&input.email);
        self.check_limit(SIGN_IN_ADDRESS, &client.ip).await?;
        self.check_limit(SIGN_IN_ACCOUNT, &account).await?;
        let found = match EmailAddress::parse(&input.email) {
            Some(email) => self.stores.people.find_person_by_email(&email).await?,
            None => None,
        };
        let right = input.password.chars().count() <= passwords::MAX_CHARS
            && passwords::verify_blocking(
                &input.password,
                found.as_ref().map(|p| p.password_hash.as_str()),
            )
            .await;
        let person = match found {
            Some(person) if right => person,
            other => {
                self.count_failure(SIGN_IN_ADDRESS, &client.ip).await;
                self.count_failure(SIGN_IN_ACCOUNT, &account).await;
                if let Some(p) = other {
                    self.record_sign_in(&p.id, client, SignInOutcome::WrongPassword)
                        .await;
                }
                return Err(invalid_credentials());
            }
        };
        let mut after = person.clone();
        if let Some(tf) = &person.two_factor {
            let mut tf = tf.clone();
            let ok = match (&input.code, &input.recovery_code) {
                (None, None) => {
                    return Err(Error::unauthenticated(
                        "two_factor_required",
                        "enter the code from your authenticator app (`code`) or a recovery code (`recovery_code`)",
                    ))
                }
                (Some(code), _) => {
                    let secret = two_factor::open(
                        self.vault.key_service(),
                        &person.id,
                        &tf.secret,
                    )
                    .await?;
                    match two_factor::accept(&secret, code, unix(self.now()), tf.last_step) {
                        Some(step) => {
                            tf.last_step = step;
                            true
                        }
                        None => false,
                    }
                }
                (None, Some(recovery)) => {
                    two_factor::use_recovery_code(&mut tf.recovery_codes, recovery)
                }
            };
            if !ok {
                self.count_failure(SIGN_IN_ADDRESS, &client.ip).await;
                self.count_failure(SIGN_IN_ACCOUNT, &account).await;
                self.record_sign_in(&person.id, client, SignInOutcome::WrongSecondFactor)
                    .await;
                return Err(Error::unauthenticated(
                    "invalid_code",
                    "the code is not right, or was used already",
                ));
            }
            after.two_factor = Some(tf);
        }
        if passwords::needs_rehash(&person.password_hash) {
            after.password_hash = passwords::hash_blocking(&input.password).await?;
        }
        let device_hash = device.map(hash_token);
        let known = device_hash
            .as_ref()
            .is_some_and(|d| person.known_devices.contains(d));
        let first_ever = person.known_devices.is_empty();
        let new_device = device_hash
            .is_none()
            .then(|| crate::domain::ids::random_token(32));
        if !known {
            let remembered = device_hash
                .clone()
                .or_else(|| new_device.as_deref().map(hash_token));
            if let Some(d) = remembered {
                after.known_devices.retain(|k| k != &d);
                after.known_devices.push(d);
                let over = after.known_devices.len().saturating_sub(MAX_KNOWN_DEVICES);
                after.known_devices.drain(..over);
            }
        }
        let person = if after != person {
            self.save_person(&person, after).await?
        } else {
            person
        };
        let (token, session) = self.start_session(&person, client).await?;
        self.clear_limit(SIGN_IN_ACCOUNT, &account).await;
        self.record_sign_in(&person.id, client, SignInOutcome::Succeeded)
            .await;
        if !known && !first_ever {
            // The session exists: a mail service that is down must not undo the sign-in.
            let _ = self
                .send_mail(
                    &person.email,
                    Message::NewSignIn {
                        name: &person.name,
                        at: session.created_at,
                        ip: &client.ip,
                        user_agent: &client.user_agent,
                    },
                )
                .await;
        }
        Ok(SignedIn {
            person,
            token,
            session,
            new_device,
        })
    }

    async fn record_sign_in(&self, person: &PersonId, client: &ClientInfo, outcome: SignInOutcome) {
        let entry = SignIn {
            person_id: person.clone(),
            at: self.now(),
            ip: client.ip.chars().take(64).collect(),
            user_agent: client.user_agent.chars().take(300).collect(),
            outcome,
        };
        if let Err(e) = self.stores.people.record_sign_in(&entry).await {
            tracing::warn!(person = %person, error = %e, "could not record a sign-in");
        }
    }

    /// Ends the session a request came with.
    pub async fn sign_out(&self, check: &SessionCheck) -> Result<()> {
        match self
            .stores
            .people
            .delete_session(check.person(), &check.session.token_hash)
            .await
        {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Ends the session a browser presented when it signs in again, so the token it held is useless once replaced.
    /// A session that is already gone is no error.
    pub async fn replace_session(&self, presented: &SessionToken) {
        if let Err(e) = self
            .stores
            .people
            .delete_session(&presented.person(), &presented.hash())
            .await
        {
            if !matches!(e, StoreError::NotFound) {
                tracing::warn!(error = %e, "could not end the session a sign-in replaced");
            }
        }
    }

    /// Ends every session of the person; returns how many ended.
    pub async fn sign_out_everywhere(&self, person: &PersonId) -> Result<u64> {
        Ok(self.stores.people.delete_sessions(person, None).await?)
    }

    /// The person's live sessions, newest first.
    pub async fn list_sessions(&self, person: &PersonId) -> Result<Vec<Session>> {
        let now = self.now();
        let idle = self.settings.people.session_idle;
        Ok(self
            .stores
            .people
            .list_sessions(person)
            .await?
            .into_iter()
            .filter(|s| s.is_live(now, idle))
            .collect())
    }

    /// Ends the person's session with public id `id`; returns it.
    pub async fn end_session(&self, person: &PersonId, id: &str) -> Result<Session> {
        let session = self
            .list_sessions(person)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(Error::NotFound("session"))?;
        match self
            .stores
            .people
            .delete_session(person, &session.token_hash)
            .await
        {
            Ok(()) | Err(StoreError::NotFound) => Ok(session),
            Err(e) => Err(e.into()),
        }
    }

    /// The person's memberships, each with its workspace's name (a workspace gone since is left out).
    pub async fn memberships_with_names(&self, person: &PersonId) -> Result<Vec<MembershipOf>> {
        let mut out = Vec::new();
        for membership in self.stores.members.memberships_of(person).await? {
            if let Some(ws) = self
                .stores
                .workspaces
                .get_workspace(&membership.workspace_id)
                .await?
            {
                out.push(MembershipOf {
                    membership,
                    workspace_name: ws.name,
                });
            }
        }
        Ok(out)
    }

    /// Changes the name a person goes by.
    pub async fn rename_person(&self, id: &PersonId, name: &str) -> Result<Person> {
        let name = check_name(name)?;
        let person = self.person(id).await?;
        let mut after = person.clone();
        after.name = name;
        self.save_person(&person, after).await
    }

    /// The person's recent sign-ins, newest first.
    pub async fn sign_ins(&self, id: &PersonId) -> Result<Vec<SignIn>> {
        Ok(self
            .stores
            .people
            .list_sign_ins(id, SIGN_INS_LISTED)
            .await?)
    }

    /// Mails a reset link if the address has an account; answers the same either way.
    pub async fn forgot_password(&self, email: &str, client: &ClientInfo) -> Result<()> {
        let email = parse_email("email", email)?;
        self.spend_limit(RESET_ADDRESS, &client.ip).await?;
        self.spend_limit(RESET_ACCOUNT, &email.lookup_key()).await?;
        let Some(person) = self.stores.people.find_person_by_email(&email).await? else {
            return Ok(());
        };
        let token = crate::domain::ids::random_token(32);
        let now = self.now();
        self.stores
            .people
            .put_link(&OneTimeLink {
                token_hash: hash_token(&token),
                person_id: person.id.clone(),
                purpose: LinkPurpose::ResetPassword,
                created_at: now,
                expires_at: now + RESET_LINK_TTL,
            })
            .await?;
        let link = self.token_link(RESET_PATH, &token);
        self.send_mail(
            &person.email,
            Message::ResetPassword {
                name: &person.name,
                link: &link,
            },
        )
        .await
    }

    /// Uses a reset link: sets the new password and ends every session and every other link of the person. The
    /// link proves the person reads mail at their address, so it verifies it too.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        passwords::check_new("password", password)?;
        self.spend_limit(TOKEN_ADDRESS, &client.ip).await?;
        let link = self
            .stores
            .people
            .take_link(&hash_token(token), self.now())
            .await?
            .ok_or_else(invalid_link)?;
        if link.purpose != LinkPurpose::ResetPassword {
            return Err(invalid_link());
        }
        let Some(person) = self.stores.people.get_person(&link.person_id).await? else {
            return Err(invalid_link());
        };
        let mut after = person.clone();
        after.password_hash = passwords::hash_blocking(password).await?;
        after.password_changed_at = self.now();
        after.email_verified_at = after.email_verified_at.or(Some(self.now()));
        let person = self.save_person(&person, after).await?;
        self.stores.people.delete_sessions(&person.id, None).await?;
        self.stores.people.delete_links(&person.id).await?;
        let _ = self
            .send_mail(
                &person.email,
                Message::PasswordChanged { name: &person.name },
            )
            .await;
        Ok(())
    }

    /// Checks a signed-in person's password before a sensitive change; failures count towards a limit.
    async fn confirm_password(&self, person: &Person, password: &str, field: &str) -> Result<()> {
        let subject = person.id.to_string();
        self.check_limit(CONFIRM_PERSON, &subject).await?;
        let right = password.chars().count() <= passwords::MAX_CHARS
            && passwords::verify_blocking(password, Some(&person.password_hash)).await;
        if !right {
            self.count_failure(CONFIRM_PERSON, &subject).await;
            return Err(wrong_password(field));
        }
        Ok(())
    }

    /// Checks a code from the person's authenticator (or one of their recovery codes, used up) and returns the
    /// second factor as it is after; failures count towards a limit.
    async fn confirm_code(&self, person: &Person, code: &str) -> Result<TwoFactor> {
        let subject = person.id.to_string();
        self.check_limit(CONFIRM_PERSON, &subject).await?;
        let Some(mut tf) = person.two_factor.clone() else {
            return Err(Error::conflict(
                "two_factor_off",
                "two-factor authentication is not on",
            ));
        };
        let secret = two_factor::open(self.vault.key_service(), &person.id, &tf.secret).await?;
        let ok = match two_factor::accept(&secret, code, unix(self.now()), tf.last_step) {
            Some(step) => {
                tf.last_step = step;
                true
            }
            None => two_factor::use_recovery_code(&mut tf.recovery_codes, code),
        };
        if !ok {
            self.count_failure(CONFIRM_PERSON, &subject).await;
            return Err(Error::invalid(
                "code",
                "the code is not right, or was used already",
            ));
        }
        Ok(tf)
    }

    /// Changes a signed-in person's password and ends their other sessions.
    pub async fn change_password(
        &self,
        id: &PersonId,
        keep_session: &str,
        current: &str,
        new: &str,
    ) -> Result<()> {
        let person = self.person(id).await?;
        self.confirm_password(&person, current, "current_password")
            .await?;
        passwords::check_new("new_password", new)?;
        let mut after = person.clone();
        after.password_hash = passwords::hash_blocking(new).await?;
        after.password_changed_at = self.now();
        let person = self.save_person(&person, after).await?;
        self.stores
            .people
            .delete_sessions(&person.id, Some(keep_session))
            .await?;
        self.stores.people.delete_links(&person.id).await?;
        let _ = self
            .send_mail(
                &person.email,
                Message::PasswordChanged { name: &person.name },
            )
            .await;
        Ok(())
    }

    /// Starts changing a person's address: a verification link to the new one (the change happens when it is
    /// opened) and a word to the old one. A new address that already has an account gets a mail to its owner
    /// instead, and the answer is the same.
    pub async fn change_email(
        &self,
        id: &PersonId,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let person = self.person(id).await?;
        let email = parse_email("email", email)?;
        self.confirm_password(&person, password, "password").await?;
        if email.lookup_key() == person.email.lookup_key() {
            return Err(Error::invalid("email", "this is your address already"));
        }
        self.spend_limit(MAIL_ADDRESS, &client.ip).await?;
        self.spend_limit(MAIL_ACCOUNT, &email.lookup_key()).await?;
        if let Some(owner) = self.stores.people.find_person_by_email(&email).await? {
            self.send_mail(
                &owner.email,
                Message::AccountExists {
                    name: &owner.name,
                    link: &self.page_link(FORGOT_PATH),
                },
            )
            .await?;
            return Ok(());
        }
        self.send_verification(&person, &email).await?;
        self.send_mail(
            &person.email,
            Message::EmailChanging {
                name: &person.name,
                new_email: &email,
            },
        )
        .await
    }

    /// Starts turning two-factor authentication on: a new secret, kept sealed as pending until a code from it is
    /// confirmed. Returns the secret in base32 and its `otpauth://` URI, shown once.
    pub async fn start_two_factor(
        &self,
        id: &PersonId,
        password: &str,
    ) -> Result<(String, String)> {
        let person = self.person(id).await?;
        self.confirm_password(&person, password, "password").await?;
        if person.two_factor.is_some() {
            return Err(Error::conflict(
                "two_factor_on",
                "two-factor authentication is on already; turn it off first to change the secret",
            ));
        }
        let secret = two_factor::new_secret();
        let sealed = two_factor::seal(self.vault.key_service(), &person.id, &secret).await?;
        let mut after = person.clone();
        after.pending_two_factor = Some(sealed);
        let person = self.save_person(&person, after).await?;
        Ok(two_factor::enrolment(
            &secret,
            person.email.as_str(),
            &self.settings.operator.name,
        ))
    }

    /// Confirms the pending secret with a code from it: two-factor authentication is on, every session of the
    /// person knows, and a new set of recovery codes is returned (shown once).
    pub async fn confirm_two_factor(&self, id: &PersonId, code: &str) -> Result<Vec<String>> {
        let person = self.person(id).await?;
        let Some(pending) = person.pending_two_factor.clone() else {
            return Err(Error::conflict(
                "no_pending_two_factor",
                "start with POST /v1/me/two-factor to get a secret first",
            ));
        };
        let subject = person.id.to_string();
        self.check_limit(CONFIRM_PERSON, &subject).await?;
        let secret = two_factor::open(self.vault.key_service(), &person.id, &pending).await?;
        let Some(step) = two_factor::accept(&secret, code, unix(self.now()), 0) else {
            self.count_failure(CONFIRM_PERSON, &subject).await;
            return Err(Error::invalid("code", "the code is not right"));
        };
        let (codes, hashes) = two_factor::new_recovery_codes();
        let mut after = person.clone();
        after.pending_two_factor = None;
        after.two_factor = Some(TwoFactor {
            secret: pending,
            last_step: step,
            recovery_codes: hashes,
            enabled_at: self.now(),
        });
        let person = self.save_person(&person, after).await?;
        let _ = self
            .send_mail(
                &person.email,
                Message::TwoFactorChanged {
                    name: &person.name,
                    enabled: true,
                },
            )
            .await;
        Ok(codes)
    }

    /// Turns two-factor authentication off, confirmed by the password and a code.
    pub async fn disable_two_factor(
        &self,
        id: &PersonId,
        password: &str,
        code: &str,
    ) -> Result<()> {
        let person = self.person(id).await?;
        self.confirm_password(&person, password, "password").await?;
        self.confirm_code(&person, code).await?;
        let mut after = person.clone();
        after.two_factor = None;
        after.pending_two_factor = None;
        let person = self.save_person(&person, after).await?;
        let _ = self
            .send_mail(
                &person.email,
                Message::TwoFactorChanged {
                    name: &person.name,
                    enabled: false,
                },
            )
            .await;
        Ok(())
    }

    /// Replaces the person's recovery codes with a new set (shown once), confirmed by the password and a code.
    pub async fn new_recovery_codes(
        &self,
        id: &PersonId,
        password: &str,
        code: &str,
    ) -> Result<Vec<String>> {
        let person = self.person(id).await?;
        self.confirm_password(&person, password, "password").await?;
        let mut tf = self.confirm_code(&person, code).await?;
        let (codes, hashes) = two_factor::new_recovery_codes();
        tf.recovery_codes = hashes;
        let mut after = person.clone();
        after.two_factor = Some(tf);
        self.save_person(&person, after).await?;
        Ok(codes)
    }

    /// Everything Postora keeps about the person (the caller leaves out hashes and secrets).
    pub async fn export_person(&self, id: &PersonId) -> Result<PersonExport> {
        Ok(PersonExport {
            person: self.person(id).await?,
            memberships: self.memberships_with_names(id).await?,
            sessions: self.list_sessions(id).await?,
            sign_ins: self.sign_ins(id).await?,
        })
    }

    /// The workspaces the person alone owns: deleting their account erases them.
    pub async fn sole_owned_workspaces(&self, id: &PersonId) -> Result<Vec<WorkspaceId>> {
        let mut out = Vec::new();
        for m in self.stores.members.memberships_of(id).await? {
            if m.role != Role::Owner {
                continue;
            }
            let owners = self
                .stores
                .members
                .list_members(&m.workspace_id)
                .await?
                .into_iter()
                .filter(|o| o.role == Role::Owner)
                .count();
            if owners <= 1 {
                out.push(m.workspace_id);
            }
        }
        Ok(out)
    }

    /// Deletes a person's account, confirmed by their password: every workspace they alone own is erased, but only
    /// when `erase` names exactly those (otherwise a 409 names them); they leave every other workspace, which keeps
    /// a tombstone in its audit log; their sessions, links, sign-ins and the person go. Returns the workspaces
    /// erased.
    pub async fn delete_account(
        &self,
        id: &PersonId,
        password: &str,
        erase: &[String],
    ) -> Result<Vec<WorkspaceId>> {
        let person = self.person(id).await?;
        self.confirm_password(&person, password, "password").await?;
        let sole = self.sole_owned_workspaces(id).await?;
        let wanted: BTreeSet<&str> = erase.iter().map(String::as_str).collect();
        let needed: BTreeSet<&str> = sole.iter().map(WorkspaceId::as_str).collect();
        if wanted != needed {
            let names = if sole.is_empty() {
                "none".to_owned()
            } else {
                sole.iter()
                    .map(|w| w.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::conflict(
                "confirm_workspaces",
                format!(
                    "you alone own these workspaces, which are erased with your account: {names}; list exactly \
                     these in `erase_workspaces` to confirm"
                ),
            ));
        }
        for ws in &sole {
            self.erase_workspace(ws).await?;
            for m in self.stores.members.list_members(ws).await? {
                match self
                    .stores
                    .members
                    .delete_membership(ws, &m.person_id)
                    .await
                {
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for m in self.stores.members.memberships_of(id).await? {
            match self
                .stores
                .members
                .delete_membership(&m.workspace_id, id)
                .await
            {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            self.audit(AuditEntry::new(
                m.workspace_id.clone(),
                self.now(),
                "person.deleted",
                serde_json::json!({"role": m.role}),
            ))
            .await;
        }
        self.stores.people.delete_person(id).await?;
        Ok(sole)
    }
}
