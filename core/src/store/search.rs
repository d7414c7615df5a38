//! Searches for the dashboard: requests by several states, clusters, requester and creation time
//! (the admin page), and audit events by actor, request, cluster, action and time (the audit page
//! and its streamed export). Stamped once per backend by [`search_impl!`] (in `store/sqlite.rs`
//! and `store/postgres.rs`) as the [`SearchStore`] role.
//!
//! The SQL is built with `sqlx::QueryBuilder`, so only the conditions a search uses are sent and
//! every value is a bound parameter; placeholders come out right for each backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::audit::AuditRecord;
use crate::domain::{AccessRequest, RequestState};

/// Dashboard searches.
#[async_trait]
pub trait SearchStore: Send + Sync {
    /// Requests matching `search`, newest first.
    async fn search_requests(&self, search: &RequestSearch) -> Result<Vec<AccessRequest>, StoreError>;

    /// Up to `limit` audit events matching `filter`, from `cursor` on (see [`AuditCursor`]).
    async fn search_audit(
        &self,
        filter: &AuditFilter,
        cursor: AuditCursor,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}

/// The most rows one search returns.
pub const MAX_SEARCH_ROWS: i64 = 1_000;

/// Which requests to list; empty or `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestSearch {
    /// Any of these states; empty = every state.
    pub states: Vec<RequestState>,
    /// Only these clusters (an approver's); `None` = every cluster, `Some(empty)` = none.
    pub clusters: Option<Vec<String>>,
    pub requester: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// At most this many, newest first (capped at [`MAX_SEARCH_ROWS`]).
    pub limit: i64,
}

/// Which audit events to list; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this actor (`alice@example.com`, `agent:prod`, `system`).
    pub actor: Option<String>,
    pub request_id: Option<String>,
    pub cluster: Option<String>,
    /// Exactly this action (`request.approved`), or every action under a prefix that ends in `.`
    /// (`request.`).
    pub action: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
}

/// Where a page of audit events starts, and in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditCursor {
    /// Oldest first, events with `seq > after` (0 = from the start). For exports.
    After(i64),
    /// Newest first, events with `seq < before` (`None` = from the newest). For the page.
    Before(Option<i64>),
}

/// `%`, `_` and `\` escaped for `LIKE … ESCAPE '\'`.
pub(super) fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

macro_rules! search_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl crate::store::SearchStore for $store {
            async fn search_requests(
                &self,
                search: &crate::store::search::RequestSearch,
            ) -> Result<Vec<crate::domain::AccessRequest>, crate::store::StoreError> {
                use crate::time::Timestamp;
                if search.clusters.as_ref().is_some_and(Vec::is_empty) {
                    return Ok(Vec::new());
                }
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, requester, origin, cluster, namespaces, profile, requested_ttl_seconds, \
                     ttl_seconds, reason, state, credentials, approvals, deny_reason, extension, extensions, \
                     created_at, decided_at, activated_at, expires_at, ended_at, end_reason, ended_by, version \
                     FROM requests WHERE 1 = 1",
                );
                if !search.states.is_empty() {
                    query.push(" AND state IN (");
                    let mut states = query.separated(", ");
                    for state in &search.states {
                        states.push_bind(state.as_str());
                    }
                    query.push(")");
                }
                if let Some(clusters) = &search.clusters {
                    query.push(" AND cluster IN (");
                    let mut list = query.separated(", ");
                    for cluster in clusters {
                        list.push_bind(cluster.clone());
                    }
                    query.push(")");
                }
                if let Some(requester) = &search.requester {
                    query.push(" AND requester = ").push_bind(requester.clone());
                }
                if let Some(from) = search.created_from {
                    query.push(" AND created_at >= ").push_bind(Timestamp::from(from));
                }
                if let Some(to) = search.created_to {
                    query.push(" AND created_at < ").push_bind(Timestamp::from(to));
                }
                let limit = search.limit.clamp(1, crate::store::search::MAX_SEARCH_ROWS);
                query.push(" ORDER BY created_at DESC, id LIMIT ").push_bind(limit);
                let rows: Vec<crate::store::rows::RequestRow> =
                    query.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map(crate::store::rows::RequestRow::into_domain).collect()
            }

            async fn search_audit(
                &self,
                filter: &crate::store::search::AuditFilter,
                cursor: crate::store::search::AuditCursor,
                limit: i64,
            ) -> Result<Vec<crate::audit::AuditRecord>, crate::store::StoreError> {
                use crate::store::search::AuditCursor;
                use crate::time::Timestamp;
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT seq, at, actor, action, request_id, cluster, details, prev_hash, hash \
                     FROM audit_events WHERE 1 = 1",
                );
                if let Some(actor) = &filter.actor {
                    query.push(" AND actor = ").push_bind(actor.clone());
                }
                if let Some(request_id) = &filter.request_id {
                    query.push(" AND request_id = ").push_bind(request_id.clone());
                }
                if let Some(cluster) = &filter.cluster {
                    query.push(" AND cluster = ").push_bind(cluster.clone());
                }
                match filter.action.as_deref() {
                    Some(prefix) if prefix.ends_with('.') => {
                        query
                            .push(" AND action LIKE ")
                            .push_bind(crate::store::search::like_prefix(prefix))
                            .push(" ESCAPE '\\'");
                    }
                    Some(action) => {
                        query.push(" AND action = ").push_bind(action.to_owned());
                    }
                    None => {}
                }
                if let Some(from) = filter.from {
                    query.push(" AND at >= ").push_bind(Timestamp::from(from));
                }
                if let Some(to) = filter.to {
                    query.push(" AND at < ").push_bind(Timestamp::from(to));
                }
                match cursor {
                    AuditCursor::After(after) => {
                        query.push(" AND seq > ").push_bind(after).push(" ORDER BY seq ASC");
                    }
                    AuditCursor::Before(before) => {
                        if let Some(before) = before {
                            query.push(" AND seq < ").push_bind(before);
                        }
                        query.push(" ORDER BY seq DESC");
                    }
                }
                let limit = limit.clamp(1, crate::store::search::MAX_SEARCH_ROWS);
                query.push(" LIMIT ").push_bind(limit);
                let rows: Vec<crate::store::rows::AuditRow> =
                    query.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(crate::store::rows::AuditRow::into_record).collect())
            }
        }
    };
}

pub(super) use search_impl;

#[cfg(test)]
mod tests {
    #[test]
    fn like_prefixes_escape_wildcards() {
        assert_eq!(super::like_prefix("request."), "request.%");
        assert_eq!(super::like_prefix("a_b%c\\."), "a\\_b\\%c\\\\.%");
    }
}
