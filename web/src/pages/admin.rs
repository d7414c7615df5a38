//! `/admin`: the approver's page. Approvers see the requests of the clusters they approve, admins
//! all of them: pending, active (and approved), history; filters by cluster, requester, state and
//! creation date; approve, deny, revoke per request and bulk deny / revoke (each item goes through
//! the workflow on its own, and each result is reported).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{NaiveDate, TimeDelta};
use janus_core::domain::{Command, RequestState};
use janus_core::store::search::RequestSearch;
use serde::{Deserialize, Serialize};

use super::actions::{Flash, execute};
use super::display::{RequestView, state_label, ttl_menu};
use super::shell::{Nav, Shell, zone};
use super::{Fields, Htmx, PageError, refuse, render};
use crate::AppState;
use crate::auth::{CsrfForm, Viewer, local_redirect};

const HISTORY: i64 = 100;
const MAX_BULK: usize = 200;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(page))
        .route("/partials/admin", get(partial))
        .route("/admin/bulk", post(bulk))
}

/// The filters, as typed (query string).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub(crate) struct AdminQuery {
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub requester: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    pub id: &'static str,
    pub title: String,
    pub empty: &'static str,
    pub requests: Vec<RequestView>,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub(crate) struct AdminPage {
    pub shell: Shell,
    pub filters: AdminQuery,
    /// The filters as a query string, for the live refresh.
    pub query: String,
    pub clusters: Vec<String>,
    pub states: Vec<(&'static str, &'static str)>,
    pub filter_error: Option<String>,
    pub sections: Vec<Section>,
    pub back: String,
    pub bulk: bool,
    pub ttl_options: Vec<(u64, String)>,
}

#[derive(Template)]
#[template(path = "partials/admin_lists.html")]
pub(crate) struct AdminLists {
    pub shell: Shell,
    pub sections: Vec<Section>,
    pub back: String,
    pub bulk: bool,
    pub ttl_options: Vec<(u64, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BulkItem {
    pub id: String,
    pub ok: bool,
    pub message: String,
}

#[derive(Template)]
#[template(path = "partials/bulk_results.html")]
pub(crate) struct BulkResults {
    pub items: Vec<BulkItem>,
}

#[derive(Template)]
#[template(path = "bulk.html")]
pub(crate) struct BulkPage {
    pub shell: Shell,
    pub items: Vec<BulkItem>,
    pub back: String,
}

/// Approvers and admins only; anyone else gets a 403 (audited).
async fn require_approver(state: &AppState, viewer: &Viewer) -> Result<(), PageError> {
    if state.workflow.policy().approves_anything(&viewer.actor()) {
        return Ok(());
    }
    let message = "Only approvers and admins may open the approvals page.";
    Err(refuse(
        state,
        viewer,
        "not_an_approver",
        "/admin",
        PageError::Forbidden(message),
    )
    .await)
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(filters): Query<AdminQuery>,
) -> Result<Response, PageError> {
    require_approver(&state, &viewer).await?;
    let (sections, filter_error) = sections(&state, &viewer, &filters).await?;
    let clusters = viewer.approver_of.iter().cloned().collect();
    let page = AdminPage {
        shell: Shell::new(&state, &viewer, "Approvals", Nav::Admin),
        query: serde_urlencoded::to_string(&filters).unwrap_or_default(),
        filters,
        clusters,
        states: RequestState::ALL
            .into_iter()
            .map(|state| (state.as_str(), state_label(state)))
            .collect(),
        filter_error,
        sections,
        back: "/admin".to_owned(),
        bulk: true,
        ttl_options: ttl_menu(state.workflow.policy().approval_ttl_choices()),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn partial(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(filters): Query<AdminQuery>,
) -> Result<Response, PageError> {
    require_approver(&state, &viewer).await?;
    let (sections, _) = sections(&state, &viewer, &filters).await?;
    let lists = AdminLists {
        shell: Shell::new(&state, &viewer, "Approvals", Nav::Admin),
        sections,
        back: format!(
            "/admin?{}",
            serde_urlencoded::to_string(&filters).unwrap_or_default()
        ),
        bulk: true,
        ttl_options: ttl_menu(state.workflow.policy().approval_ttl_choices()),
    };
    Ok(render(StatusCode::OK, &lists))
}

/// The lists the filters ask for, and a message when a filter could not be read.
async fn sections(
    state: &AppState,
    viewer: &Viewer,
    filters: &AdminQuery,
) -> Result<(Vec<Section>, Option<String>), PageError> {
    let zone = zone(state);
    let mut filter_error = None;
    let mut date = |text: &str, label: &str| {
        if text.is_empty() {
            return None;
        }
        let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
        if parsed.is_none() {
            filter_error = Some(format!(
                "The {label} date must look like 2030-01-31; it was ignored."
            ));
        }
        parsed
    };
    let from = date(&filters.from, "from").and_then(|day| zone.start_of(day));
    let to = date(&filters.to, "to")
        .and_then(|day| day.checked_add_signed(TimeDelta::days(1)))
        .and_then(|day| zone.start_of(day));
    let clusters = Some(filters.cluster.clone())
        .filter(|cluster| !cluster.is_empty())
        .map(|cluster| vec![cluster]);
    let base = RequestSearch {
        clusters,
        requester: Some(filters.requester.trim().to_lowercase()).filter(|text| !text.is_empty()),
        created_from: from,
        created_to: to,
        ..RequestSearch::default()
    };
    let wanted: Vec<(&'static str, String, &'static str, Vec<RequestState>, i64)> =
        match RequestState::parse(&filters.state) {
            Some(only) => vec![(
                "results",
                format!("{} requests", state_label(only)),
                "No request matches.",
                vec![only],
                500,
            )],
            None => vec![
                (
                    "pending",
                    "Waiting for approval".to_owned(),
                    "Nothing waits for approval.",
                    vec![RequestState::Pending],
                    500,
                ),
                (
                    "active",
                    "Active and being granted".to_owned(),
                    "No access is live.",
                    vec![RequestState::Approved, RequestState::Active],
                    500,
                ),
                (
                    "history",
                    "History".to_owned(),
                    "No finished requests.",
                    RequestState::ALL
                        .into_iter()
                        .filter(|s| s.is_terminal())
                        .collect(),
                    HISTORY,
                ),
            ],
        };
    let policy = state.workflow.policy();
    let now = state.workflow.clock().now();
    let mut sections = Vec::new();
    for (id, title, empty, states, limit) in wanted {
        let search = RequestSearch {
            states,
            limit,
            ..base.clone()
        };
        let requests = state.workflow.search_approvable(&viewer.actor(), search).await?;
        sections.push(Section {
            id,
            title,
            empty,
            requests: requests
                .iter()
                .map(|request| RequestView::new(request, viewer, policy, zone, now))
                .collect(),
        });
    }
    Ok((sections, filter_error))
}

/// `POST /admin/bulk`: `action` (deny | revoke), `reason`, and `ids` as `<id>:<state shown>`.
async fn bulk(
    State(state): State<AppState>,
    Htmx(htmx): Htmx,
    viewer: Viewer,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    require_approver(&state, &viewer).await?;
    let fields = Fields(fields);
    let reason = fields.get("reason").map(str::to_owned);
    let action = fields.get("action").unwrap_or_default();
    let selected = fields.all("ids");
    let message = match (action, selected.len()) {
        ("deny" | "revoke", 0) => Some("Select at least one request first."),
        ("deny" | "revoke", count) if count > MAX_BULK => Some("Select at most 200 requests at a time."),
        ("deny" | "revoke", _) => None,
        _ => Some("Choose deny or revoke."),
    };
    if let Some(message) = message {
        let flash = Flash {
            ok: false,
            message: message.to_owned(),
        };
        return Ok(render(StatusCode::BAD_REQUEST, &flash));
    }
    let mut items = Vec::with_capacity(selected.len());
    for entry in selected {
        let (id, shown) = entry.split_once(':').unwrap_or((entry, ""));
        let command = if action == "deny" {
            Command::Deny {
                reason: reason.clone(),
            }
        } else {
            Command::Revoke {
                reason: reason.clone(),
            }
        };
        let item_fields = Fields(vec![("state".to_owned(), shown.to_owned())]);
        let result = execute(&state, &viewer, id, &item_fields, command).await;
        items.push(match result {
            Ok(message) => BulkItem {
                id: id.to_owned(),
                ok: true,
                message,
            },
            Err((_, message)) => BulkItem {
                id: id.to_owned(),
                ok: false,
                message,
            },
        });
    }
    if htmx {
        let mut response = render(StatusCode::OK, &BulkResults { items });
        response.headers_mut().insert(
            "HX-Trigger",
            axum::http::HeaderValue::from_static("janus-changed"),
        );
        return Ok(response);
    }
    let page = BulkPage {
        shell: Shell::new(&state, &viewer, "Bulk results", Nav::Admin),
        items,
        back: local_redirect(fields.get("back")),
    };
    Ok(render(StatusCode::OK, &page))
}
