//! The agent API (`/agent/v1/*`, DESIGN §5.1): enrollment, the work long-poll, results and
//! namespace reports. Every call except enrollment is authenticated by
//! [`agent_identity::authenticate`]; an agent only ever sees and completes its own
//! cluster's work.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use janus_core::agent_protocol::{
    Enrollment, MAX_WAIT_SECONDS, NamespaceReport, ReportAck, WorkReport, decode_public_key,
};
use janus_core::config::AgentAuthMode;
use janus_core::domain::is_dns_label;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::agent_identity::{self, AgentIdentity, Rejection, authenticate, bearer};
use crate::{ApiError, AppState};

/// Leases last this long; an agent that dies mid-item loses it after this.
const LEASE: Duration = Duration::from_secs(60);
const MAX_BODY: usize = 256 * 1024;
const MAX_NAMESPACES: usize = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/enroll", post(enroll))
        .route("/work", get(next_work))
        .route("/work/{id}/result", post(report))
        .route("/namespaces", put(namespaces))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(
            "malformed_body",
            format!("The request body is not valid: {error}."),
        )
    })
}

async fn enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let enrollment: Enrollment = parse(&body)?;
    let cluster = enrollment.cluster.clone();
    let refuse = |code, message: String| {
        agent_identity::audit_rejection(&state, &cluster, Rejection { code, message })
    };
    let Some(settings) = state.config.cluster(&cluster) else {
        return Err(refuse(
            "unknown_cluster",
            format!("Cluster `{cluster}` is not configured in Janus."),
        )
        .await);
    };
    if settings.agent.auth != AgentAuthMode::Enrollment {
        return Err(refuse(
            "enrollment_disabled",
            format!("Cluster `{cluster}` does not use enrollment."),
        )
        .await);
    }
    let Some(token) = bearer(&headers) else {
        return Err(refuse(
            "no_join_token",
            "Send the join token as a bearer token.".to_owned(),
        )
        .await);
    };
    if decode_public_key(&enrollment.public_key).is_none() {
        return Err(ApiError::bad_request(
            "bad_public_key",
            "publicKey must be a base64url Ed25519 public key.",
        ));
    }
    let version: String = enrollment.agent_version.chars().take(64).collect();
    let outcome = state
        .workflow
        .enroll(&token, &cluster, &enrollment.public_key, &version)
        .await?;
    match outcome {
        Ok(()) => {
            tracing::info!(cluster = %cluster, "agent enrolled");
            Ok((StatusCode::OK, Json(serde_json::json!({ "cluster": cluster }))).into_response())
        }
        Err(refusal) => Err(refuse(refusal.code(), format!("Enrollment refused: {refusal}.")).await),
    }
}

/// `?wait=N` of an agent's long poll (work or terminal sessions).
#[derive(Debug, Deserialize)]
pub(crate) struct WaitQuery {
    wait: Option<u64>,
}

impl WaitQuery {
    /// How long to hold the poll: the seconds asked (25 by default), at most `MAX_WAIT_SECONDS`.
    pub(crate) fn duration(&self) -> Duration {
        Duration::from_secs(self.wait.unwrap_or(25).min(MAX_WAIT_SECONDS))
    }
}

async fn next_work(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(query): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let AgentIdentity { cluster } = authenticate(&state, &method, &uri, &headers, &[]).await?;
    let _ = state.workflow.agent_seen(&cluster).await;
    let wait = query.duration();
    let claimed = tokio::select! {
        claimed = state.workflow.wait_for_work(&cluster, wait, LEASE) => claimed?,
        () = state.stopped() => None,
    };
    let Some(item) = claimed else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let assignment = state.workflow.assignment(&item);
    tracing::info!(cluster = %cluster, work_id = item.id, kind = %item.kind, request_id = %item.request_id, "work handed out");
    Ok(Json(assignment).into_response())
}

async fn report(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ReportAck>, ApiError> {
    let AgentIdentity { cluster } = authenticate(&state, &method, &uri, &headers, &body).await?;
    let report: WorkReport = parse(&body)?;
    let ack = state.workflow.report_work(&cluster, id, &report).await?;
    Ok(Json(ack))
}

async fn namespaces(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let AgentIdentity { cluster } = authenticate(&state, &method, &uri, &headers, &body).await?;
    let report: NamespaceReport = parse(&body)?;
    if report.namespaces.len() > MAX_NAMESPACES {
        return Err(ApiError::bad_request(
            "too_many_namespaces",
            format!("At most {MAX_NAMESPACES} namespaces."),
        ));
    }
    if let Some(bad) = report.namespaces.iter().find(|name| !is_dns_label(name)) {
        let shown: String = bad.chars().take(80).collect();
        return Err(ApiError::bad_request(
            "invalid_namespace",
            format!("`{shown}` is not a namespace name."),
        ));
    }
    let mut namespaces = report.namespaces;
    namespaces.sort();
    namespaces.dedup();
    state.workflow.report_namespaces(&cluster, &namespaces).await?;
    Ok(StatusCode::NO_CONTENT)
}
