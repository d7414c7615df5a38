//! `/admin/commands` (admins): the quick commands of each cluster — list, add, edit, delete. A
//! terminal of that cluster shows them as buttons (`GET /api/v1/requests/{id}/terminal/commands`).
//!
//! Every change is a [`CsrfForm`], checked by `janus_core::quick_commands::check` (a 400 page with
//! the sentence otherwise) and audited by the store in its transaction (`quick_command.*`). On
//! success the browser is sent back to the list (303).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use janus_core::quick_commands::{self, MAX_COMMAND_CHARS, MAX_NAME_CHARS, QuickCommandProblem};

use super::display::Moment;
use super::shell::{Nav, Shell, zone};
use super::{Fields, PageError, render, require_admin};
use crate::AppState;
use crate::auth::{CsrfForm, Viewer};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/commands", get(page).post(create))
        .route("/admin/commands/{id}", post(update))
        .route("/admin/commands/{id}/delete", post(delete))
}

/// One command as the page shows it.
#[derive(Debug, Clone)]
pub(crate) struct CommandRow {
    pub id: String,
    pub name: String,
    pub command: String,
    pub updated_by: String,
    pub updated: Moment,
}

/// A cluster and its commands.
#[derive(Debug, Clone)]
pub(crate) struct ClusterCommands {
    pub name: String,
    /// False for a cluster that was removed from the configuration but still has commands.
    pub configured: bool,
    pub commands: Vec<CommandRow>,
}

#[derive(Template)]
#[template(path = "commands.html")]
pub(crate) struct CommandsPage {
    pub shell: Shell,
    pub clusters: Vec<ClusterCommands>,
    pub max_name: usize,
    pub max_command: usize,
}

async fn page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    require_admin(&state, &viewer, "/admin/commands").await?;
    let zone = zone(&state);
    let stored = state.workflow.quick_commands(None).await?;
    let mut clusters: Vec<ClusterCommands> = state
        .config
        .clusters
        .iter()
        .map(|cluster| ClusterCommands {
            name: cluster.name.clone(),
            configured: true,
            commands: Vec::new(),
        })
        .collect();
    for command in stored {
        let index = match clusters
            .iter()
            .position(|cluster| cluster.name == command.cluster)
        {
            Some(index) => index,
            None => {
                clusters.push(ClusterCommands {
                    name: command.cluster.clone(),
                    configured: false,
                    commands: Vec::new(),
                });
                clusters.len() - 1
            }
        };
        clusters[index].commands.push(CommandRow {
            updated: zone.moment(command.updated_at),
            id: command.id,
            name: command.name,
            command: command.command,
            updated_by: command.updated_by,
        });
    }
    let page = CommandsPage {
        shell: Shell::new(&state, &viewer, "Quick commands", Nav::Commands),
        clusters,
        max_name: MAX_NAME_CHARS,
        max_command: MAX_COMMAND_CHARS,
    };
    Ok(render(StatusCode::OK, &page))
}

fn problem(problem: &QuickCommandProblem) -> PageError {
    PageError::BadRequest(problem.to_string())
}

fn back_to(cluster: &str) -> Response {
    Redirect::to(&format!(
        "/admin/commands#cluster-{}",
        urlencoding_fragment(cluster)
    ))
    .into_response()
}

/// Cluster names are DNS-like, but keep the fragment safe whatever they are.
fn urlencoding_fragment(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

/// `POST /admin/commands` with `cluster`, `name`, `command`.
async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    require_admin(&state, &viewer, "/admin/commands").await?;
    let fields = Fields(fields);
    let cluster = fields.get("cluster").unwrap_or_default().to_owned();
    if state.config.cluster(&cluster).is_none() {
        return Err(problem(&QuickCommandProblem::UnknownCluster(
            cluster.chars().take(100).collect(),
        )));
    }
    let (name, command) = raw(&fields, "name", "command");
    let new = state
        .workflow
        .create_quick_command(&cluster, name, command, &viewer.principal)
        .await?
        .map_err(|p| problem(&p))?;
    tracing::info!(actor = %viewer.principal, cluster = %cluster, id = %new.id, "quick command created");
    Ok(back_to(&cluster))
}

/// Admins only, on a well-formed quick-command id (anything else is a 404).
async fn require_admin_on(state: &AppState, viewer: &Viewer, id: &str) -> Result<(), PageError> {
    require_admin(state, viewer, "/admin/commands").await?;
    if !quick_commands::is_id(id) {
        return Err(PageError::NotFound);
    }
    Ok(())
}

/// `POST /admin/commands/{id}` with `name`, `command`.
async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    require_admin_on(&state, &viewer, &id).await?;
    let fields = Fields(fields);
    let (name, command) = raw(&fields, "name", "command");
    let updated = state
        .workflow
        .update_quick_command(&id, name, command, &viewer.principal)
        .await?
        .map_err(|p| match p {
            QuickCommandProblem::NotFound => PageError::NotFound,
            other => problem(&other),
        })?;
    tracing::info!(actor = %viewer.principal, cluster = %updated.cluster, id = %id, "quick command updated");
    Ok(back_to(&updated.cluster))
}

/// `POST /admin/commands/{id}/delete`.
async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    CsrfForm(_fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    require_admin_on(&state, &viewer, &id).await?;
    let deleted = state
        .workflow
        .delete_quick_command(&id, &viewer.principal)
        .await?
        .map_err(|_| PageError::NotFound)?;
    tracing::info!(actor = %viewer.principal, cluster = %deleted.cluster, id = %id, "quick command deleted");
    Ok(back_to(&deleted.cluster))
}

/// The name and command exactly as sent (the check trims and reports what is wrong; `Fields::get`
/// would hide a command made only of blanks).
fn raw<'a>(fields: &'a Fields, name: &str, command: &str) -> (&'a str, &'a str) {
    let value = |key: &str| {
        fields
            .0
            .iter()
            .find(|(field, _)| field == key)
            .map_or("", |(_, value)| value.as_str())
    };
    (value(name), value(command))
}
