//! `/`: my requests (live and recent) and the request form, with inline validation messages from
//! the domain's own errors.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use janus_core::domain::{DomainError, Draft, MIN_TTL_SECONDS, Origin, RequestState};
use janus_core::duration::{format_duration, parse_duration};
use janus_core::store::search::RequestSearch;
use janus_core::workflow::WorkflowError;
use serde::Deserialize;

use super::display::RequestView;
use super::shell::{Nav, Shell};
use super::{Fields, Htmx, PageError, render};
use crate::AppState;
use crate::auth::{CsrfForm, Viewer};

/// How many finished requests "Recent" shows.
const RECENT: i64 = 20;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/partials/mine", get(mine_partial))
        .route("/partials/request-form", get(form_partial))
        .route("/requests", post(submit))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterOption {
    pub name: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamespaceChoice {
    pub name: String,
    pub checked: bool,
}

/// Messages next to the fields they are about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FormErrors {
    pub cluster: Option<String>,
    pub namespaces: Option<String>,
    pub ttl: Option<String>,
    pub reason: Option<String>,
    pub general: Option<String>,
}

/// The request form as shown: choices, what was typed, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestForm {
    pub clusters: Vec<ClusterOption>,
    pub cluster: String,
    /// The reported namespaces minus the excluded ones; `None` when the agent has not reported.
    pub namespaces: Option<Vec<NamespaceChoice>>,
    pub namespaces_text: String,
    pub ttl: String,
    pub reason: String,
    pub min_ttl: String,
    pub max_ttl: String,
    pub errors: FormErrors,
    /// The id of the request just submitted.
    pub submitted: Option<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage {
    pub shell: Shell,
    pub form: RequestForm,
    pub live: Vec<RequestView>,
    pub recent: Vec<RequestView>,
    pub back: String,
    pub bulk: bool,
    pub ttl_options: Vec<(u64, String)>,
}

#[derive(Template)]
#[template(path = "partials/my_requests.html")]
pub(crate) struct MyRequestsPartial {
    pub shell: Shell,
    pub live: Vec<RequestView>,
    pub recent: Vec<RequestView>,
    pub back: String,
    pub bulk: bool,
    pub ttl_options: Vec<(u64, String)>,
}

#[derive(Template)]
#[template(path = "partials/request_form.html")]
pub(crate) struct RequestFormPartial {
    pub shell: Shell,
    pub form: RequestForm,
}

#[derive(Debug, Deserialize)]
struct ClusterQuery {
    cluster: Option<String>,
}

async fn home(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ClusterQuery>,
) -> Result<Response, PageError> {
    let form = blank_form(&state, query.cluster.as_deref()).await?;
    Ok(render(StatusCode::OK, &home_page(&state, &viewer, form).await?))
}

async fn home_page(state: &AppState, viewer: &Viewer, form: RequestForm) -> Result<HomePage, PageError> {
    let (live, recent) = my_requests(state, viewer).await?;
    Ok(HomePage {
        shell: Shell::new(state, viewer, "My requests", Nav::Home),
        form,
        live,
        recent,
        back: "/".to_owned(),
        bulk: false,
        ttl_options: Vec::new(),
    })
}

async fn mine_partial(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let (live, recent) = my_requests(&state, &viewer).await?;
    let partial = MyRequestsPartial {
        shell: Shell::new(&state, &viewer, "My requests", Nav::Home),
        live,
        recent,
        back: "/".to_owned(),
        bulk: false,
        ttl_options: Vec::new(),
    };
    Ok(render(StatusCode::OK, &partial))
}

async fn form_partial(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ClusterQuery>,
) -> Result<Response, PageError> {
    let form = blank_form(&state, query.cluster.as_deref()).await?;
    let shell = Shell::new(&state, &viewer, "My requests", Nav::Home);
    Ok(render(StatusCode::OK, &RequestFormPartial { shell, form }))
}

/// The viewer's live requests, and their finished ones (newest first).
async fn my_requests(
    state: &AppState,
    viewer: &Viewer,
) -> Result<(Vec<RequestView>, Vec<RequestView>), PageError> {
    let workflow = &state.workflow;
    let policy = state.workflow.policy();
    let zone = super::shell::zone(state);
    let now = state.workflow.clock().now();
    let search = |states: Vec<RequestState>, limit| RequestSearch {
        states,
        requester: Some(viewer.principal.to_string()),
        limit,
        ..RequestSearch::default()
    };
    let live_states = vec![
        RequestState::Pending,
        RequestState::Approved,
        RequestState::Active,
    ];
    let ended_states = RequestState::ALL
        .into_iter()
        .filter(|state| state.is_terminal())
        .collect();
    let view = |request: &_| RequestView::new(request, viewer, policy, zone, now);
    let live = workflow.search_requests(&search(live_states, 200)).await?;
    let recent = workflow.search_requests(&search(ended_states, RECENT)).await?;
    Ok((live.iter().map(view).collect(), recent.iter().map(view).collect()))
}

/// The form for `cluster` (or the first configured one), nothing typed yet.
async fn blank_form(state: &AppState, cluster: Option<&str>) -> Result<RequestForm, PageError> {
    let policy = state.workflow.policy();
    let ttl = format_duration(policy.default_ttl_seconds);
    form_for(state, cluster, &[], String::new(), ttl, String::new()).await
}

async fn form_for(
    state: &AppState,
    cluster: Option<&str>,
    chosen: &[String],
    namespaces_text: String,
    ttl: String,
    reason: String,
) -> Result<RequestForm, PageError> {
    let policy = state.workflow.policy();
    let clusters: Vec<ClusterOption> = state
        .config
        .clusters
        .iter()
        .map(|cluster| ClusterOption {
            name: cluster.name.clone(),
            label: if cluster.display_name.is_empty() {
                cluster.name.clone()
            } else {
                format!("{} ({})", cluster.display_name, cluster.name)
            },
        })
        .collect();
    let selected = cluster
        .filter(|name| clusters.iter().any(|option| option.name == *name))
        .map(str::to_owned)
        .or_else(|| clusters.first().map(|option| option.name.clone()))
        .unwrap_or_default();
    let requestable = if selected.is_empty() {
        None
    } else {
        state.workflow.requestable_namespaces(&selected).await?
    };
    let namespaces = requestable.map(|names| {
        names
            .into_iter()
            .map(|name| NamespaceChoice {
                checked: chosen.contains(&name),
                name,
            })
            .collect()
    });
    Ok(RequestForm {
        clusters,
        cluster: selected,
        namespaces,
        namespaces_text,
        ttl,
        reason,
        min_ttl: format_duration(MIN_TTL_SECONDS),
        max_ttl: format_duration(policy.max_ttl_seconds),
        errors: FormErrors::default(),
        submitted: None,
    })
}

/// `POST /requests`: submit through the workflow. Errors come back inline, next to their field.
async fn submit(
    State(state): State<AppState>,
    Htmx(htmx): Htmx,
    viewer: Viewer,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let cluster = fields.get("cluster").unwrap_or_default().to_owned();
    let namespaces: Vec<String> = fields
        .all("namespaces")
        .into_iter()
        .flat_map(|value| value.split([',', ' ', '\n']))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    let ttl_text = fields.get("ttl").unwrap_or_default().to_owned();
    let reason = fields.get("reason").unwrap_or_default().to_owned();
    let mut form = form_for(
        &state,
        Some(&cluster),
        &namespaces,
        namespaces.join(", "),
        ttl_text.clone(),
        reason.clone(),
    )
    .await?;

    let ttl_seconds = if ttl_text.is_empty() {
        Ok(None)
    } else {
        parse_duration(&ttl_text).map(Some)
    };
    let outcome = match ttl_seconds {
        Err(error) => Err(FormErrors {
            ttl: Some(error.to_string()),
            ..FormErrors::default()
        }),
        Ok(ttl_seconds) => {
            let draft = Draft {
                cluster,
                namespaces,
                ttl_seconds,
                reason,
                profile: None,
                origin: Origin::web(),
            };
            state
                .workflow
                .submit(&viewer.principal, draft)
                .await
                .map_err(errors_for)
        }
    };
    match outcome {
        Ok(request) => {
            let id = request.id.to_string();
            if !htmx {
                let mut response = StatusCode::SEE_OTHER.into_response();
                if let Ok(location) = HeaderValue::from_str(&format!("/requests/{id}")) {
                    response.headers_mut().insert(LOCATION, location);
                }
                return Ok(response);
            }
            let mut form = blank_form(&state, Some(&request.cluster)).await?;
            form.submitted = Some(id);
            let shell = Shell::new(&state, &viewer, "My requests", Nav::Home);
            let mut response = render(StatusCode::OK, &RequestFormPartial { shell, form });
            response
                .headers_mut()
                .insert("HX-Trigger", HeaderValue::from_static("janus-changed"));
            Ok(response)
        }
        Err(errors) => {
            if matches!(errors.general.as_deref(), Some(UNAVAILABLE)) {
                return Err(PageError::Unavailable);
            }
            form.errors = errors;
            if htmx {
                let shell = Shell::new(&state, &viewer, "My requests", Nav::Home);
                Ok(render(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &RequestFormPartial { shell, form },
                ))
            } else {
                let page = home_page(&state, &viewer, form).await?;
                Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
            }
        }
    }
}

const UNAVAILABLE: &str = "unavailable";

/// Puts the domain's reason next to the field it is about.
fn errors_for(error: WorkflowError) -> FormErrors {
    let mut errors = FormErrors::default();
    let WorkflowError::Refused(refusal) = &error else {
        tracing::error!(%error, "submission failed");
        errors.general = Some(UNAVAILABLE.to_owned());
        return errors;
    };
    let message = Some(refusal.to_string());
    match refusal {
        DomainError::UnknownCluster { .. } => errors.cluster = message,
        DomainError::ExcludedNamespace { .. }
        | DomainError::UnknownNamespace { .. }
        | DomainError::InvalidNamespace { .. }
        | DomainError::NoNamespaces
        | DomainError::DuplicateNamespace { .. }
        | DomainError::AlreadyLive { .. } => errors.namespaces = message,
        DomainError::TtlOutOfBounds { .. } | DomainError::TtlNotAnOption { .. } => errors.ttl = message,
        DomainError::ReasonRequired | DomainError::ReasonTooLong { .. } => errors.reason = message,
        _ => errors.general = message,
    }
    errors
}
