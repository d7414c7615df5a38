//! `/requests/{id}`: one request and its timeline from the audit log (who did what, when).
//! Visible to its requester, the approvers of its cluster and admins; anyone else gets the same
//! 404 as for a request that does not exist (and the refusal is audited). The requester and admins
//! also see the request's terminal sessions, replayed in the page with asciinema-player
//! (`replay.js`, which reads `/api/v1/requests/{id}/recordings`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use janus_core::audit::AuditRecord;
use janus_core::domain::{AccessRequest, RequestId};
use janus_core::duration::format_duration;
use serde_json::Value;

use super::display::{Moment, RequestView, Zone, ttl_menu};
use super::shell::{Nav, Shell, zone};
use super::{PageError, refuse, render};
use crate::AppState;
use crate::auth::Viewer;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/requests/{id}", get(page))
        .route("/partials/requests/{id}", get(partial))
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimelineEntry {
    pub at: Moment,
    pub actor: String,
    pub label: String,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "detail.html")]
pub(crate) struct DetailPage {
    pub shell: Shell,
    pub request: RequestView,
    pub timeline: Vec<TimelineEntry>,
    pub back: String,
    pub bulk: bool,
    pub ttl_options: Vec<(u64, String)>,
    /// The requester and admins see the request's terminal sessions and replay them.
    pub recordings: bool,
    /// For admins: the request's terminal sessions open now, to watch read-only.
    pub live: Vec<LiveSession>,
}

/// A terminal session opened and not yet closed, as the audit log tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveSession {
    pub session: String,
    pub by: String,
    pub target: String,
    pub opened: Moment,
}

/// The sessions of `events` (one request's audit log) with `terminal.opened` and no
/// `terminal.closed` yet, oldest first.
pub(crate) fn live_sessions(events: &[AuditRecord], zone: Zone) -> Vec<LiveSession> {
    let text = |event: &AuditRecord, key: &str| {
        event
            .details
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let closed: Vec<String> = events
        .iter()
        .filter(|event| event.action == janus_core::domain::AuditAction::TerminalClosed.as_str())
        .map(|event| text(event, "session"))
        .collect();
    events
        .iter()
        .filter(|event| event.action == janus_core::domain::AuditAction::TerminalOpened.as_str())
        .filter(|event| {
            let session = text(event, "session");
            !session.is_empty() && !closed.contains(&session)
        })
        .map(|event| {
            let container = text(event, "container");
            LiveSession {
                session: text(event, "session"),
                by: event.actor.clone(),
                target: format!(
                    "{}/{}{}",
                    text(event, "namespace"),
                    text(event, "pod"),
                    if container.is_empty() {
                        String::new()
                    } else {
                        format!(" · {container}")
                    }
                ),
                opened: Moment {
                    iso: janus_core::time::format_rfc3339(event.at),
                    text: zone.format_long(event.at),
                },
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "partials/request_detail.html")]
pub(crate) struct DetailPartial {
    pub shell: Shell,
    pub request: RequestView,
    pub timeline: Vec<TimelineEntry>,
    pub back: String,
    pub bulk: bool,
    pub ttl_options: Vec<(u64, String)>,
}

async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let (request, timeline) = load(&state, &viewer, &id).await?;
    let recordings = viewer.is_admin || request.requester == viewer.principal.as_str();
    let live = match RequestId::parse(&request.id) {
        Some(request_id) if viewer.is_admin && request.state == "active" => {
            let events = state.workflow.audit_for_request(&request_id).await?;
            live_sessions(&events, zone(&state))
        }
        _ => Vec::new(),
    };
    let page = DetailPage {
        shell: Shell::new(&state, &viewer, format!("Request {id}"), Nav::None),
        back: format!("/requests/{}", request.id),
        request,
        timeline,
        bulk: false,
        ttl_options: ttl_menu(state.workflow.policy().approval_ttl_choices()),
        recordings,
        live,
    };
    let mut response = render(StatusCode::OK, &page);
    if recordings {
        // asciinema-player runs its terminal emulator as WebAssembly, which needs
        // 'wasm-unsafe-eval' (WebAssembly compilation only; JavaScript eval stays refused).
        let policy = super::CONTENT_SECURITY_POLICY_VALUE.replacen(
            "script-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            1,
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            response.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
        }
    }
    Ok(response)
}

async fn partial(
    State(state): State<AppState>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let (request, timeline) = load(&state, &viewer, &id).await?;
    let partial = DetailPartial {
        shell: Shell::new(&state, &viewer, format!("Request {id}"), Nav::None),
        back: format!("/requests/{}", request.id),
        request,
        timeline,
        bulk: false,
        ttl_options: ttl_menu(state.workflow.policy().approval_ttl_choices()),
    };
    Ok(render(StatusCode::OK, &partial))
}

async fn load(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<(RequestView, Vec<TimelineEntry>), PageError> {
    let Some(request_id) = RequestId::parse(id) else {
        return Err(PageError::NotFound);
    };
    let Some(request) = state.workflow.get_request(&request_id).await? else {
        return Err(PageError::NotFound);
    };
    if !viewer.can_see(state.workflow.policy(), &request) {
        let path = format!("/requests/{request_id}");
        return Err(refuse(state, viewer, "not_visible", &path, PageError::NotFound).await);
    }
    let zone = zone(state);
    let events = state.workflow.audit_for_request(&request_id).await?;
    let timeline = events.iter().map(|event| timeline_entry(event, zone)).collect();
    Ok((view(state, viewer, &request, zone), timeline))
}

fn view(state: &AppState, viewer: &Viewer, request: &AccessRequest, zone: Zone) -> RequestView {
    let now = state.workflow.clock().now();
    RequestView::new(request, viewer, state.workflow.policy(), zone, now)
}

/// `request.approved` → "approved"; details condensed to what a person reads.
pub(crate) fn timeline_entry(event: &AuditRecord, zone: Zone) -> TimelineEntry {
    let label = event
        .action
        .rsplit_once('.')
        .map_or(event.action.as_str(), |(_, verb)| verb)
        .replace('_', " ");
    TimelineEntry {
        at: Moment {
            iso: janus_core::time::format_rfc3339(event.at),
            text: zone.format_long(event.at),
        },
        actor: event.actor.clone(),
        label,
        summary: summary(&event.details),
    }
}

/// A few well-known detail fields, in a fixed order: `reason: …; duration: 2h; error: …`.
fn summary(details: &Value) -> String {
    let mut parts = Vec::new();
    let text = |key: &str| {
        details
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    };
    if let Some(reason) = text("reason") {
        parts.push(format!("reason: {reason}"));
    }
    if let Some(seconds) = details.get("ttlSeconds").and_then(Value::as_u64) {
        parts.push(format!("duration: {}", format_duration(seconds)));
    }
    for key in ["error", "code", "command", "endReason"] {
        if let Some(value) = text(key) {
            parts.push(format!("{key}: {value}"));
        }
    }
    parts.join("; ")
}
