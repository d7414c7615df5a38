//! What entry points read through the workflow: the requests a person may see and the
//! namespaces that may be requested. The rules are the policy's (`domain/questions.rs`);
//! these only fetch what the rules are applied to.

use std::collections::BTreeMap;

use super::{Workflow, WorkflowError};
use crate::domain::{AccessRequest, Actor, RequestId};
use crate::store::RequestFilter;
use crate::store::search::RequestSearch;

impl Workflow {
    /// The request `id` if `actor` may see it; a request they may not see is `NotFound`, as
    /// if it did not exist.
    pub async fn visible(&self, actor: &Actor, id: &RequestId) -> Result<AccessRequest, WorkflowError> {
        let request = self.get(id).await?;
        if self.policy.may_see(actor, &request) {
            Ok(request)
        } else {
            Err(WorkflowError::NotFound(id.to_string()))
        }
    }

    /// Up to `filter.limit` requests matching `filter` that `actor` may see, newest first:
    /// an admin's search runs as it is; anyone else's is narrowed to their own requests and
    /// those of the clusters they approve.
    pub async fn visible_requests(
        &self,
        actor: &Actor,
        filter: &RequestFilter,
    ) -> Result<Vec<AccessRequest>, WorkflowError> {
        let is_admin = actor.person().is_some_and(|person| self.policy.is_admin(person));
        let mut scopes = Vec::new();
        if is_admin {
            scopes.push(filter.clone());
        } else if let Some(person) = actor.person() {
            let me = person.to_string();
            if filter.requester.as_ref().is_none_or(|wanted| *wanted == me) {
                scopes.push(RequestFilter {
                    requester: Some(me),
                    ..filter.clone()
                });
            }
            for cluster in self.policy.approvable_clusters(actor) {
                if filter.cluster.as_ref().is_none_or(|wanted| *wanted == cluster) {
                    scopes.push(RequestFilter {
                        cluster: Some(cluster),
                        ..filter.clone()
                    });
                }
            }
        }
        let mut merged = BTreeMap::new();
        for scope in scopes {
            for request in self.store.list_requests(&scope).await? {
                merged.insert(request.id.to_string(), request);
            }
        }
        let mut found: Vec<AccessRequest> = merged
            .into_values()
            .filter(|request| self.policy.may_see(actor, request))
            .collect();
        found.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.as_str().cmp(b.id.as_str()))
        });
        if let Some(limit) = filter.limit {
            found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(found)
    }

    /// An approver's search (the approvals page): `search` narrowed to the clusters `actor`
    /// approves (admins: every cluster), and to what they may see.
    pub async fn search_approvable(
        &self,
        actor: &Actor,
        mut search: RequestSearch,
    ) -> Result<Vec<AccessRequest>, WorkflowError> {
        let is_admin = actor.person().is_some_and(|person| self.policy.is_admin(person));
        if !is_admin {
            let approvable = self.policy.approvable_clusters(actor);
            let clusters = match search.clusters.take() {
                None => approvable.into_iter().collect(),
                Some(wanted) => wanted
                    .into_iter()
                    .filter(|cluster| approvable.contains(cluster))
                    .collect(),
            };
            search.clusters = Some(clusters);
        }
        let found = self.store.search_requests(&search).await?;
        Ok(found
            .into_iter()
            .filter(|request| self.policy.may_see(actor, request))
            .collect())
    }

    /// The namespaces of `cluster` that may be requested: what its agent last reported,
    /// minus `excludedNamespaces`. `None` when no agent has reported yet.
    pub async fn requestable_namespaces(&self, cluster: &str) -> Result<Option<Vec<String>>, WorkflowError> {
        let reported = self.store.namespaces(cluster).await?;
        Ok(reported.map(|names| self.policy.requestable_namespaces(names)))
    }
}
