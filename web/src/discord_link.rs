//! Linking a Discord account to a principal (DESIGN §7): the page `/janus link` points at.
//!
//! `GET /discord/link?u=…&n=…&exp=…&kid=…&sig=…` needs a signed-in person (sign-in goes
//! through the configured SSO and comes back here); it checks the link's signature (made for
//! the `discord-link` purpose only, so no other signed value passes) and asks to confirm.
//! `POST /discord/link` (CSRF-protected) checks it again, spends the link's nonce and binds
//! the Discord user to the signed-in principal, with a `discord.linked` audit event, all in
//! one transaction: a link works once. `POST /discord/accounts/{id}/unlink` removes a
//! binding of the viewer's (`discord.unlinked`). Refusals are `discord.link_rejected`.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::DateTime;
use janus_bot::discord::{LINK_PURPOSE, LINK_TTL_SECONDS};
use janus_core::domain::AuditAction;
use janus_core::domain::NewEvent;
use janus_core::links::PurposeSignature;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{CSRF_FIELD, CsrfForm, NoFields, Viewer};
use crate::{AppState, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/discord/link", get(confirm).post(link))
        .route("/discord/accounts/{id}/unlink", post(unlink))
        // No framing (the confirmation is a form), no referrer (the link is in the URL).
        .layer(axum::middleware::map_response(crate::pages::security_headers))
}

/// The link's parameters as received.
#[derive(Clone, Deserialize)]
struct LinkQuery {
    #[serde(default)]
    u: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    n: String,
    /// Read as text, so a damaged value is refused with a sentence (and audited) like any other.
    #[serde(default)]
    exp: String,
    #[serde(default)]
    kid: String,
    #[serde(default)]
    sig: String,
}

impl std::fmt::Debug for LinkQuery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LinkQuery")
            .field("u", &self.u)
            .field("name", &self.name)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

fn snowflake(id: &str) -> bool {
    (1..=20).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_digit())
}

async fn rejected(state: &AppState, viewer: &Viewer, code: &'static str, message: &str) -> Response {
    let event = NewEvent {
        action: AuditAction::DiscordLinkRejected,
        actor: viewer.principal.to_string(),
        request_id: None,
        cluster: None,
        details: json!({ "code": code }),
    };
    crate::audit::record(state, event, "a refused Discord link").await;
    html::refusal(StatusCode::BAD_REQUEST, "Discord account not linked", message)
}

/// Checks the link; its expiry (Unix seconds), or the refusal for the person.
async fn check(state: &AppState, viewer: &Viewer, query: &LinkQuery) -> Result<i64, Response> {
    if state.discord.is_none() {
        return Err(html::refusal(
            StatusCode::NOT_FOUND,
            "Discord is not enabled",
            "This Janus does not use Discord.",
        ));
    }
    let exp = query
        .exp
        .parse::<i64>()
        .ok()
        .filter(|_| query.exp.bytes().all(|byte| byte.is_ascii_digit()));
    let well_formed = exp.is_some()
        && snowflake(&query.u)
        && janus_bot::discord::link_name(&query.name) == query.name
        && (16..=64).contains(&query.n.len())
        && query
            .n
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !well_formed {
        return Err(rejected(
            state,
            viewer,
            "malformed",
            "This link is incomplete or damaged; run /janus link again.",
        )
        .await);
    }
    let signature = PurposeSignature {
        kid: query.kid.clone(),
        sig: query.sig.clone(),
    };
    let now = state.workflow.clock().now().timestamp();
    // A longer-lived link than Janus issues is not one Janus issued.
    let exp = exp.unwrap_or_default();
    if exp > now + LINK_TTL_SECONDS {
        return Err(rejected(
            state,
            viewer,
            "malformed",
            "This link is not valid; run /janus link again.",
        )
        .await);
    }
    let subject = janus_bot::discord::link_subject(&query.u, &query.n, &query.name);
    if let Err(rejection) = state
        .links
        .verify_for(LINK_PURPOSE, &subject, exp, &signature, now)
    {
        let message = match rejection {
            janus_core::links::LinkRejection::Expired => "This link has expired; run /janus link again.",
            _ => "This link is not valid; open it exactly as Janus sent it, or run /janus link again.",
        };
        return Err(rejected(state, viewer, rejection.code(), message).await);
    }
    Ok(exp)
}

async fn confirm(State(state): State<AppState>, viewer: Viewer, Query(query): Query<LinkQuery>) -> Response {
    if let Err(refusal) = check(&state, &viewer, &query).await {
        return refusal;
    }
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            html::escape(value)
        )
    };
    let body = format!(
        "<p>Connect the Discord user <strong>@{name}</strong> (id {user}) to <strong>{principal}</strong>? From \
         then on, what this Discord user does with <code>/janus</code> is done as {principal}.</p>\n\
         <p role=\"alert\">Only continue if you ran <code>/janus link</code> in Discord yourself just now. \
         If someone sent you this link, close this page: connecting would let their Discord account act \
         as you.</p>\n\
         <form method=\"post\" action=\"/discord/link\">{csrf}{u}{name_field}{n}{exp}{kid}{sig}\
         <button type=\"submit\">Connect</button></form>\n<p><a href=\"/\">Cancel</a></p>",
        user = html::escape(&query.u),
        name = html::escape(&query.name),
        principal = html::escape(viewer.principal.as_str()),
        csrf = hidden(CSRF_FIELD, viewer.csrf_token()),
        u = hidden("u", &query.u),
        name_field = hidden("name", &query.name),
        n = hidden("n", &query.n),
        exp = hidden("exp", &query.exp),
        kid = hidden("kid", &query.kid),
        sig = hidden("sig", &query.sig),
    );
    html::page(StatusCode::OK, "Connect your Discord account", &body)
}

async fn link(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(query): CsrfForm<LinkQuery>,
) -> Response {
    let exp = match check(&state, &viewer, &query).await {
        Ok(exp) => exp,
        Err(refusal) => return refusal,
    };
    let now = state.workflow.clock().now();
    let expires_at = DateTime::from_timestamp(exp, 0).unwrap_or(now);
    match state
        .workflow
        .link_discord(&query.n, &query.u, &viewer.principal, expires_at)
        .await
    {
        Ok(true) => html::page(
            StatusCode::OK,
            "Discord account connected",
            &format!(
                "<p>The Discord user <strong>{}</strong> now acts as <strong>{}</strong>. Go back to Discord and \
                 run your command again.</p>\n<p><a href=\"/auth/sessions\">Your linked accounts</a></p>",
                html::escape(&query.u),
                html::escape(viewer.principal.as_str())
            ),
        ),
        Ok(false) => {
            rejected(
                &state,
                &viewer,
                "spent",
                "This link was used already; run /janus link again.",
            )
            .await
        }
        Err(error) => {
            tracing::error!(%error, "could not link a Discord account");
            html::refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Discord account not linked",
                "The database is unavailable; try again shortly.",
            )
        }
    }
}

async fn unlink(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Response {
    match state.workflow.unlink_discord(&id, &viewer.principal).await {
        Ok(_) => crate::auth::see_other("/auth/sessions"),
        Err(error) => {
            tracing::error!(%error, "could not unlink a Discord account");
            html::refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Discord account not removed",
                "The database is unavailable; try again shortly.",
            )
        }
    }
}

/// The "Discord accounts" section of the user's page.
pub(crate) async fn section(state: &AppState, viewer: &Viewer) -> String {
    let accounts = match state.workflow.discord_accounts_of(&viewer.principal).await {
        Ok(accounts) => accounts,
        Err(error) => {
            tracing::warn!(%error, "could not list Discord accounts");
            return String::new();
        }
    };
    if state.discord.is_none() && accounts.is_empty() {
        return String::new();
    }
    let mut body = String::from(
        "\n<h2>Discord accounts</h2>\n<p>Discord users that act as you (connect one with <code>/janus link</code>).</p>\n\
         <table><thead><tr><th>Discord user id</th><th>Linked</th><th></th></tr></thead><tbody>\n",
    );
    for account in &accounts {
        body.push_str(&format!(
            "<tr id=\"discord-{id}\"><td>{id}</td><td>{}</td><td><form method=\"post\" action=\"/discord/accounts/{id}/unlink\">\
             <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\"><button type=\"submit\">Remove</button></form></td></tr>\n",
            janus_core::time::format_rfc3339(account.linked_at),
            html::escape(viewer.csrf_token()),
            id = html::escape(&account.discord_user_id),
        ));
    }
    body.push_str("</tbody></table>\n");
    body
}
