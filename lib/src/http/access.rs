//! Who may call each `/v1` route: one row per route (its method and its path as the router matches it) naming what
//! it takes. [`Caller`](super::auth::Caller) looks the matched route up here on every request, so a handler cannot
//! forget to check a role, and a route without a row is refused. `docs/roles.md` is generated from this table
//! ([`document`]); a test checks that every route of the API is in it, and that the file is up to date.

use axum::http::Method;

use crate::domain::{Action, Role};

/// What a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A member of the workspace (by session and `Postora-Workspace`) or one of its API keys, whose role may do the
    /// action.
    Member(Action),
    /// A signed-in person, on their own behalf (the session cookie; API keys are refused).
    Person,
    /// Anyone: no credentials.
    Public,
}

use Access::{Member, Person, Public};
use Action::*;

/// Every `/v1` route: method, path (as axum matches it), what it takes.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/v1/accounts", Member(ReadAccounts)),
    ("GET", "/v1/accounts/{id}", Member(ReadAccounts)),
    ("DELETE", "/v1/accounts/{id}", Member(DisconnectAccounts)),
    ("GET", "/v1/accounts/{id}/options", Member(ReadAccounts)),
    (
        "POST",
        "/v1/accounts/connect/{platform}",
        Member(ConnectAccounts),
    ),
    (
        "POST",
        "/v1/accounts/connect/bluesky/app-password",
        Member(ConnectAccounts),
    ),
    ("GET", "/v1/posts", Member(ReadPosts)),
    ("POST", "/v1/posts", Member(WritePosts)),
    ("GET", "/v1/posts/{id}", Member(ReadPosts)),
    ("PATCH", "/v1/posts/{id}", Member(WritePosts)),
    ("DELETE", "/v1/posts/{id}", Member(WritePosts)),
    (
        "POST",
        "/v1/posts/{id}/deliveries/{account_id}/retry",
        Member(WritePosts),
    ),
    ("POST", "/v1/posts/{id}/approve", Member(ApprovePosts)),
    ("POST", "/v1/posts/{id}/reject", Member(ApprovePosts)),
    ("GET", "/v1/media", Member(ReadMedia)),
    ("POST", "/v1/media", Member(WriteMedia)),
    ("POST", "/v1/media/import", Member(WriteMedia)),
    ("POST", "/v1/media/uploads", Member(WriteMedia)),
    ("GET", "/v1/media/uploads/{id}", Member(WriteMedia)),
    ("DELETE", "/v1/media/uploads/{id}", Member(WriteMedia)),
    (
        "POST",
        "/v1/media/uploads/{id}/complete",
        Member(WriteMedia),
    ),
    ("GET", "/v1/media/{id}", Member(ReadMedia)),
    ("PATCH", "/v1/media/{id}", Member(WriteMedia)),
    ("DELETE", "/v1/media/{id}", Member(WriteMedia)),
    ("GET", "/v1/media/{id}/content", Member(ReadMedia)),
    ("GET", "/v1/workspaces", Person),
    ("POST", "/v1/workspaces", Person),
    ("GET", "/v1/workspace", Member(ReadWorkspace)),
    ("PATCH", "/v1/workspace", Member(ManageSettings)),
    ("DELETE", "/v1/workspace", Member(EraseWorkspace)),
    ("POST", "/v1/workspace/leave", Member(LeaveWorkspace)),
    ("POST", "/v1/workspace/transfer", Member(TransferOwnership)),
    ("GET", "/v1/members", Member(ReadMembers)),
    ("PATCH", "/v1/members/{person_id}", Member(ManageMembers)),
    ("DELETE", "/v1/members/{person_id}", Member(ManageMembers)),
    ("GET", "/v1/invitations", Member(ManageMembers)),
    ("POST", "/v1/invitations", Member(ManageMembers)),
    ("DELETE", "/v1/invitations/{id}", Member(ManageMembers)),
    ("POST", "/v1/invitations/accept", Person),
    ("GET", "/v1/api-keys", Member(ManageApiKeys)),
    ("POST", "/v1/api-keys", Member(ManageApiKeys)),
    ("DELETE", "/v1/api-keys/{id}", Member(ManageApiKeys)),
    ("GET", "/v1/audit", Member(ReadAudit)),
    ("GET", "/v1/export", Member(Export)),
    // A person's own account (`http::people`).
    ("POST", "/v1/signup", Public),
    ("POST", "/v1/email/verify", Public),
    ("POST", "/v1/email/verification", Person),
    ("POST", "/v1/session", Public),
    ("DELETE", "/v1/session", Person),
    ("GET", "/v1/sessions", Person),
    ("DELETE", "/v1/sessions", Person),
    ("DELETE", "/v1/sessions/{id}", Person),
    ("GET", "/v1/me", Person),
    ("PATCH", "/v1/me", Person),
    ("DELETE", "/v1/me", Person),
    ("GET", "/v1/me/sign-ins", Person),
    ("GET", "/v1/me/export", Person),
    ("PUT", "/v1/me/password", Person),
    ("PUT", "/v1/me/email", Person),
    ("POST", "/v1/me/two-factor", Person),
    ("DELETE", "/v1/me/two-factor", Person),
    ("POST", "/v1/me/two-factor/confirm", Person),
    ("POST", "/v1/me/two-factor/recovery-codes", Person),
    ("POST", "/v1/password/forgot", Public),
    ("POST", "/v1/password/reset", Public),
];

/// What the route `method path` takes; `None` if it has no row. A HEAD request is a GET's.
pub fn required(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, access)| *access)
}

/// `docs/roles.md`: the roles, what each may do, and the table of routes, generated from [`ROUTES`] and
/// [`Role::may`].
pub fn document() -> String {
    let mut out = String::from(
        "# Roles\n\n\
         <!-- Generated from lib/src/http/access.rs and lib/src/domain/roles.rs: do not edit by hand. Regenerate with\n\
         `POSTORA_WRITE_ROLES_DOC=1 cargo test -p postora --test it roles::the_roles_page_is_generated_from_the_table`. -->\n\n\
         Every member of a workspace has one role in it, and so does every API key. Postora checks the role on every\n\
         `/v1` request, whether it comes with a session cookie (and the `Postora-Workspace` header naming the\n\
         workspace) or with an API key, against one table: a route that is not in it is refused. A caller whose role\n\
         may not call a route gets `403` with the code `forbidden` and a message naming the role and what it may not\n\
         do.\n\n\
         - **owner**: everything, erasing the workspace and transferring its ownership included.\n\
         - **admin**: members, accounts, settings and API keys, besides what an editor may; not erasing or transferring.\n\
         - **editor**: posts and media; reads the rest.\n\
         - **viewer**: reads, changes nothing.\n\
         - **client** (an agency's client): reads posts and the accounts and media they show, and approves or rejects\n\
           posts; nothing else.\n\n\
         Roles rank owner > admin > editor > viewer. Nobody hands out a role above their own (to an API key, an\n\
         invitation or a member); an admin may not make owners or touch an owner; client roles are handed out by owners\n\
         and admins only. A workspace always keeps an owner: its last owner cannot leave, be removed or be demoted.\n\n\
         A few workspace routes are a person's act and take a session, not an API key (401 `session_required`):\n\
         leaving, transferring ownership and inviting. An API key's role is chosen when it is made\n\
         (`POST /v1/api-keys` `{\"role\"}`, `editor` when absent; `postora workspace add-key --role`).\n\n\
         Invitations are mailed with a single-use link good for 7 days, accepted (`POST /v1/invitations/accept`) by a\n\
         signed-in person whose verified address is the one invited. Every change to members, invitations, settings\n\
         and API keys is in the audit log with who made it (`actor`), and joining, role changes and removals are\n\
         events (`member.joined`, `member.role_changed`, `member.removed`).\n\n\
         ## What each role may do\n\n",
    );
    out.push_str("| Action | owner | admin | editor | viewer | client |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for action in Action::ALL {
        out.push_str(&format!("| {} |", action.describe()));
        for role in Role::ALL {
            out.push_str(if role.may(action) { " yes |" } else { " — |" });
        }
        out.push('\n');
    }
    out.push_str(
        "\n## Routes\n\n\
         \"person\": a signed-in person on their own behalf (the session cookie; API keys are refused). \"anyone\": no\n\
         credentials.\n\n",
    );
    out.push_str("| Method | Route | owner | admin | editor | viewer | client |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for (method, path, access) in ROUTES {
        out.push_str(&format!("| {method} | `{path}` |"));
        match access {
            Access::Member(action) => {
                for role in Role::ALL {
                    out.push_str(if role.may(*action) {
                        " yes |"
                    } else {
                        " — |"
                    });
                }
            }
            Access::Person => out.push_str(" person | person | person | person | person |"),
            Access::Public => out.push_str(" anyone | anyone | anyone | anyone | anyone |"),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_has_one_row() {
        let mut seen = std::collections::HashSet::new();
        for (m, p, _) in ROUTES {
            assert!(seen.insert((m, p)), "{m} {p} twice");
            assert!(p.starts_with("/v1/"), "{p}");
        }
    }

    #[test]
    fn a_head_is_a_get_and_an_unknown_route_has_no_row() {
        assert_eq!(
            required(&Method::HEAD, "/v1/posts"),
            Some(Access::Member(ReadPosts))
        );
        assert_eq!(required(&Method::PUT, "/v1/posts"), None);
        assert_eq!(required(&Method::GET, "/v1/nowhere"), None);
    }
}
