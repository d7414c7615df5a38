//! `/admin/settings` (admins): the effective configuration, as `janus config print` shows it —
//! every secret `***`, the database password hidden.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::shell::{Nav, Shell};
use super::{PageError, render, require_admin};
use crate::AppState;
use crate::auth::Viewer;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin/settings", get(page))
}

#[derive(Template)]
#[template(path = "settings.html")]
pub(crate) struct SettingsPage {
    pub shell: Shell,
    pub yaml: String,
}

async fn page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    require_admin(&state, &viewer, "/admin/settings").await?;
    let page = SettingsPage {
        shell: Shell::new(&state, &viewer, "Settings", Nav::Settings),
        yaml: state.config.to_redacted_yaml(),
    };
    Ok(render(StatusCode::OK, &page))
}
