//! `/admin/clusters` (admins): each configured cluster with its agent — connected or not, last
//! seen, version, enrollment, the namespaces it reported — and join-token creation. A join token is
//! shown once, on the answer to the form that created it (`Cache-Control: no-store`); only its
//! SHA-256 is stored.

use std::collections::BTreeMap;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, TimeDelta, Utc};
use janus_core::config::AgentAuthMode;

use super::display::Moment;
use super::shell::{Nav, Shell, zone};
use super::{Fields, PageError, render, require_admin};
use crate::AppState;
use crate::auth::{CsrfForm, Viewer};

/// An agent heard from this recently counts as connected (it long-polls every 25 s).
const CONNECTED_WITHIN_SECONDS: i64 = 90;
/// Join tokens made here are valid this long.
const JOIN_TOKEN_VALIDITY: Duration = Duration::from_secs(3_600);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/clusters", get(page))
        .route("/admin/clusters/join-token", post(join_token))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterRow {
    pub name: String,
    pub display_name: String,
    pub configured: bool,
    pub auth: &'static str,
    pub approvers: String,
    pub connected: bool,
    /// "Connected", "Not connected" or "Never seen".
    pub status: &'static str,
    pub last_seen: Option<Moment>,
    pub version: String,
    pub enrolled: Option<Moment>,
    pub namespaces: Vec<String>,
    pub namespaces_reported: Option<Moment>,
}

impl ClusterRow {
    pub fn namespaces_text(&self) -> String {
        self.namespaces.join(", ")
    }
}

#[derive(Template)]
#[template(path = "clusters.html")]
pub(crate) struct ClustersPage {
    pub shell: Shell,
    pub clusters: Vec<ClusterRow>,
}

#[derive(Template)]
#[template(path = "join_token.html")]
pub(crate) struct JoinTokenPage {
    pub shell: Shell,
    pub cluster: String,
    pub token: String,
    pub expires: Moment,
}

async fn page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    require_admin(&state, &viewer, "/admin/clusters").await?;
    let zone = zone(&state);
    let now = state.workflow.clock().now();
    let workflow = &state.workflow;
    let agents: BTreeMap<String, _> = workflow
        .agents()
        .await?
        .into_iter()
        .map(|agent| (agent.cluster.clone(), agent))
        .collect();
    let reports: BTreeMap<String, _> = workflow
        .namespace_reports()
        .await?
        .into_iter()
        .map(|report| (report.cluster.clone(), report))
        .collect();
    let mut names: Vec<String> = state.config.clusters.iter().map(|c| c.name.clone()).collect();
    for name in agents.keys().chain(reports.keys()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let clusters = names
        .into_iter()
        .map(|name| {
            let config = state.config.cluster(&name);
            let agent = agents.get(&name);
            let report = reports.get(&name);
            let last_seen: Option<DateTime<Utc>> = [
                agent.map(|agent| agent.last_seen_at),
                report.map(|report| report.reported_at),
            ]
            .into_iter()
            .flatten()
            .max();
            let connected =
                last_seen.is_some_and(|seen| now - seen <= TimeDelta::seconds(CONNECTED_WITHIN_SECONDS));
            ClusterRow {
                display_name: config.map(|c| c.display_name.clone()).unwrap_or_default(),
                configured: config.is_some(),
                auth: match config.map(|c| c.agent.auth) {
                    Some(AgentAuthMode::Enrollment) => "enrollment (join token)",
                    Some(AgentAuthMode::Tokenreview) => "ServiceAccount token (TokenReview)",
                    Some(AgentAuthMode::Issuer) => "ServiceAccount token (issuer)",
                    None => "not configured",
                },
                approvers: config.map(|c| c.approvers.join(", ")).unwrap_or_default(),
                connected,
                status: match (connected, last_seen) {
                    (true, _) => "Connected",
                    (false, Some(_)) => "Not connected",
                    (false, None) => "Never seen",
                },
                last_seen: last_seen.map(|at| zone.moment(at)),
                version: agent.map(|agent| agent.agent_version.clone()).unwrap_or_default(),
                enrolled: agent.map(|agent| zone.moment(agent.enrolled_at)),
                namespaces: report.map(|report| report.namespaces.clone()).unwrap_or_default(),
                namespaces_reported: report.map(|report| zone.moment(report.reported_at)),
                name,
            }
        })
        .collect();
    let page = ClustersPage {
        shell: Shell::new(&state, &viewer, "Clusters", Nav::Clusters),
        clusters,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /admin/clusters/join-token` with `cluster`: a single-use token, shown once.
async fn join_token(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    require_admin(&state, &viewer, "/admin/clusters/join-token").await?;
    let fields = Fields(fields);
    let cluster = fields.get("cluster").unwrap_or_default().to_owned();
    if state.config.cluster(&cluster).is_none() {
        return Err(PageError::BadRequest(format!(
            "Cluster `{cluster}` is not configured; add it under `clusters` first."
        )));
    }
    let token = state
        .workflow
        .create_join_token(&cluster, viewer.principal.as_str(), JOIN_TOKEN_VALIDITY)
        .await?;
    let expires_at = state.workflow.clock().now()
        + TimeDelta::from_std(JOIN_TOKEN_VALIDITY).unwrap_or(TimeDelta::hours(1));
    let page = JoinTokenPage {
        shell: Shell::new(
            &state,
            &viewer,
            format!("Join token for {cluster}"),
            Nav::Clusters,
        ),
        expires: zone(&state).moment(expires_at),
        cluster,
        token,
    };
    Ok(render(StatusCode::OK, &page))
}
