//! `/admin/audit` (admins): search the audit log by actor, request, cluster, action and time, newest
//! first, 100 at a time; export what matches as JSON Lines or CSV, streamed page by page (never
//! held in memory) up to the chain head as it was when the export began. Every export is itself
//! audited (`audit.exported`).

use askama::Template;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use janus_core::audit::AuditRecord;
use janus_core::domain::AuditAction;
use janus_core::domain::NewEvent;
use janus_core::store::search::{AuditCursor, AuditFilter};
use janus_core::workflow::Workflow;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::display::{Moment, Zone};
use super::shell::{Nav, Shell, zone};
use super::{PageError, render, require_admin};
use crate::AppState;
use crate::auth::Viewer;

/// Events per page on screen.
const PAGE: i64 = 100;
/// Events per database round trip while exporting.
const EXPORT_PAGE: i64 = 500;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/audit", get(page))
        .route("/admin/audit/{file}", get(export))
}

/// The search, as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub request: String,
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default, skip_serializing)]
    pub before: Option<i64>,
}

impl AuditQuery {
    /// The store filter, and a message for each time that could not be read.
    fn filter(&self, zone: Zone) -> (AuditFilter, Option<String>) {
        let text = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
        let mut problem = None;
        let mut time = |value: &str| {
            let value = value.trim();
            if value.is_empty() {
                return None;
            }
            let parsed = zone.parse_local(value);
            if parsed.is_none() {
                problem = Some(format!(
                    "`{value}` is not a time; write 2030-01-31 or 2030-01-31T13:05. It was ignored."
                ));
            }
            parsed
        };
        let filter = AuditFilter {
            actor: text(&self.actor).map(|actor| actor.to_lowercase()),
            request_id: text(&self.request),
            cluster: text(&self.cluster),
            action: text(&self.action),
            from: time(&self.from),
            to: time(&self.to),
        };
        (filter, problem)
    }
}

/// One event as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventRow {
    pub seq: i64,
    pub at: Moment,
    pub actor: String,
    pub action: String,
    pub request_id: String,
    pub cluster: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub(crate) struct AuditPage {
    pub shell: Shell,
    pub query: AuditQuery,
    /// The search as a query string (for the export links and the next page).
    pub query_string: String,
    pub problem: Option<String>,
    pub events: Vec<EventRow>,
    /// `before` for the next (older) page, when there may be one.
    pub older: Option<i64>,
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    require_admin(&state, &viewer, "/admin/audit").await?;
    let zone = zone(&state);
    let (filter, problem) = query.filter(zone);
    let records = state
        .workflow
        .search_audit(&filter, AuditCursor::Before(query.before), PAGE)
        .await?;
    let older = (records.len() == usize::try_from(PAGE).unwrap_or(100))
        .then(|| records.last().map(|record| record.seq))
        .flatten();
    let events = records
        .iter()
        .map(|record| EventRow {
            seq: record.seq,
            at: Moment {
                iso: janus_core::time::format_rfc3339(record.at),
                text: zone.format_long(record.at),
            },
            actor: record.actor.clone(),
            action: record.action.clone(),
            request_id: record.request_id.clone().unwrap_or_default(),
            cluster: record.cluster.clone().unwrap_or_default(),
            details: janus_core::audit::canonical_json(&record.details),
        })
        .collect();
    let page = AuditPage {
        shell: Shell::new(&state, &viewer, "Audit log", Nav::Audit),
        query_string: serde_urlencoded::to_string(&query).unwrap_or_default(),
        query,
        problem,
        events,
        older,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    JsonLines,
    Csv,
}

/// `GET /admin/audit/export.jsonl` and `/admin/audit/export.csv`, with the page's search.
async fn export(
    State(state): State<AppState>,
    Path(file): Path<String>,
    viewer: Viewer,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    require_admin(&state, &viewer, "/admin/audit").await?;
    let (format, content_type) = match file.as_str() {
        "export.jsonl" => (Format::JsonLines, "application/x-ndjson"),
        "export.csv" => (Format::Csv, "text/csv; charset=utf-8"),
        _ => return Err(PageError::NotFound),
    };
    let (filter, problem) = query.filter(zone(&state));
    if let Some(problem) = problem {
        return Err(PageError::BadRequest(problem));
    }
    let workflow = state.workflow.clone();
    let event = NewEvent {
        action: AuditAction::AuditExported,
        actor: viewer.principal.to_string(),
        request_id: None,
        cluster: filter.cluster.clone(),
        details: json!({ "format": file, "filter": serde_json::to_value(&query).unwrap_or_default() }),
    };
    state.workflow.audit(event).await?;
    let (head, _) = workflow.audit_head().await?;
    let body = Body::from_stream(export_stream(workflow, filter, format, head));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let disposition = format!(
        "attachment; filename=\"janus-audit.{}\"",
        &file["export.".len()..]
    );
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        headers.insert(CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

const CSV_HEADER: &str = "seq,at,actor,action,request_id,cluster,details,prev_hash,hash\r\n";

/// Pages of [`EXPORT_PAGE`] events with `seq <= head`, each turned into one body chunk.
fn export_stream(
    workflow: Workflow,
    filter: AuditFilter,
    format: Format,
    head: i64,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let start = (0_i64, format == Format::Csv);
    futures::stream::unfold(Some(start), move |cursor| {
        let (workflow, filter) = (workflow.clone(), filter.clone());
        async move {
            let (after, header) = cursor?;
            let mut chunk = if header {
                CSV_HEADER.to_owned()
            } else {
                String::new()
            };
            let records = match workflow
                .search_audit(&filter, AuditCursor::After(after), EXPORT_PAGE)
                .await
            {
                Ok(records) => records,
                Err(error) => {
                    tracing::error!(%error, "audit export stopped: the database failed");
                    return Some((Err(std::io::Error::other("the audit export failed")), None));
                }
            };
            let full = records.len() == usize::try_from(EXPORT_PAGE).unwrap_or(500);
            let mut last = after;
            let mut done = !full;
            for record in records {
                if record.seq > head {
                    done = true;
                    break;
                }
                last = record.seq;
                match format {
                    Format::JsonLines => json_line(&mut chunk, &record),
                    Format::Csv => csv_row(&mut chunk, &record),
                }
            }
            let next = (!done).then_some((last, false));
            if chunk.is_empty() && next.is_none() {
                return None;
            }
            Some((Ok(Bytes::from(chunk)), next))
        }
    })
}

fn json_line(out: &mut String, record: &AuditRecord) {
    match serde_json::to_string(record) {
        Ok(line) => {
            out.push_str(&line);
            out.push('\n');
        }
        Err(error) => tracing::error!(%error, seq = record.seq, "an audit event could not be exported"),
    }
}

fn csv_row(out: &mut String, record: &AuditRecord) {
    let fields = [
        record.seq.to_string(),
        janus_core::time::format_rfc3339(record.at),
        record.actor.clone(),
        record.action.clone(),
        record.request_id.clone().unwrap_or_default(),
        record.cluster.clone().unwrap_or_default(),
        janus_core::audit::canonical_json(&record.details),
        record.prev_hash.clone(),
        record.hash.clone(),
    ];
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        csv_field(out, field);
    }
    out.push_str("\r\n");
}

/// RFC 4180 quoting; a field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR
/// first) is prefixed with `'`, since actors and reasons are typed by people.
fn csv_field(out: &mut String, field: &str) {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || field.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_defused() {
        let field = |text: &str| {
            let mut out = String::new();
            super::csv_field(&mut out, text);
            out
        };
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
    }
}
