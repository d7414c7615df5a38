//! The workflow engine: the one way requests change.
//!
//! Every entry point (chat, dashboard, API, scheduler, agent) calls [`Workflow`], which
//! runs the pure domain function inside a store transaction, then wakes the cluster's
//! agent and announces the change to in-process subscribers (live pages, terminal relay).
//! Authorization refusals are audited.

use crate::domain::AuditAction;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde_json::json;
use tokio::sync::broadcast;

use crate::agent_protocol::{GrantSpec, ReportAck, WorkAssignment, WorkReport, cluster_role_for};
use crate::clock::Clock;
use crate::domain::{
    self, AccessRequest, Actor, Command, DomainError, Draft, Effect, NewEvent, Policy, Principal, RequestId,
    RequestState, Transition, UserActivity,
};
use crate::metrics::Metrics;
use crate::queue::{Completion, WorkItem, WorkKind, WorkOutcome, WorkSignal};
use crate::store::{Store, StoreError};

mod changes;
mod queries;
mod reads;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("Request {0} was not found.")]
    NotFound(String),
    #[error(transparent)]
    Refused(DomainError),
    #[error("The request changed at the same moment; try again.")]
    Conflict,
    #[error("The work item's lease expired and it was handed to someone else.")]
    LeaseLost,
    #[error("The database is unavailable; try again shortly.")]
    Store(#[source] StoreError),
}

impl From<StoreError> for WorkflowError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(id) => WorkflowError::NotFound(id),
            StoreError::Refused(refusal) => WorkflowError::Refused(refusal),
            StoreError::Conflict => WorkflowError::Conflict,
            StoreError::LeaseLost => WorkflowError::LeaseLost,
            other => WorkflowError::Store(other),
        }
    }
}

/// Announced after every committed change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub request: AccessRequest,
    /// What happened (every accepted command records exactly one event).
    pub action: Option<AuditAction>,
    /// True when open terminals of this request must close now.
    pub close_terminals: bool,
}

#[derive(Debug, Clone)]
pub struct Workflow {
    store: Store,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    signal: WorkSignal,
    changes: broadcast::Sender<Change>,
    metrics: Arc<Metrics>,
    /// Wakes the outbox worker when a change queued notices.
    outbox: Arc<tokio::sync::Notify>,
}

impl Workflow {
    pub fn new(store: Store, policy: Policy, clock: Arc<dyn Clock>) -> Self {
        let (changes, _) = broadcast::channel(1024);
        let signal = WorkSignal::default();
        store.forward_notifications(signal.clone());
        Workflow {
            store,
            policy: Arc::new(policy),
            clock,
            signal,
            changes,
            metrics: Arc::default(),
            outbox: Arc::default(),
        }
    }

    /// The store, for core's own services (scheduler, outbox worker, accounts). Adapters call
    /// the workflow's verbs and queries instead.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
    pub fn signal(&self) -> &WorkSignal {
        &self.signal
    }
    /// Notified when a committed change queued chat notices.
    pub fn outbox_signal(&self) -> &tokio::sync::Notify {
        &self.outbox
    }

    /// Where a request's card lives on `channel`, once posted.
    pub async fn chat_message(
        &self,
        id: &RequestId,
        channel: &str,
    ) -> Result<Option<crate::outbox::ChatMessageRef>, WorkflowError> {
        Ok(self.store.chat_message(id.as_str(), channel).await?)
    }

    /// Records that a chat account acts as `principal` (after the platform vouched for the email).
    pub async fn remember_chat_identity(
        &self,
        channel: &str,
        external_id: &str,
        principal: &Principal,
    ) -> Result<(), WorkflowError> {
        Ok(self
            .store
            .remember_chat_identity(channel, external_id, principal.as_str(), self.clock.now())
            .await?)
    }

    /// The chat account last seen acting as `principal` on `channel`.
    pub async fn chat_identity_of(
        &self,
        channel: &str,
        principal: &Principal,
    ) -> Result<Option<String>, WorkflowError> {
        Ok(self.store.chat_identity_of(channel, principal.as_str()).await?)
    }

    /// Remembers where a request's card was posted (the first one stays).
    pub async fn save_chat_message(
        &self,
        id: &RequestId,
        channel: &str,
        message: &crate::outbox::ChatMessageRef,
    ) -> Result<(), WorkflowError> {
        Ok(self
            .store
            .save_chat_message(id.as_str(), channel, message, self.clock.now())
            .await?)
    }

    /// Every committed change, for live pages and the terminal relay.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Submits a new request. A random id that collides is retried with another.
    pub async fn submit(&self, requester: &Principal, draft: Draft) -> Result<AccessRequest, WorkflowError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let now = self.clock.now();
            let id = RequestId::generate(&mut rand::thread_rng());
            let draft = draft.clone();
            let result = self
                .store
                .insert_request(
                    requester.as_str(),
                    &draft.cluster.clone(),
                    now,
                    Box::new(|activity: &UserActivity, known: Option<&[String]>| {
                        domain::submit(id, draft, requester, &self.policy, known, activity, now)
                    }),
                )
                .await;
            match result {
                Err(StoreError::Conflict) if attempts < 5 => continue,
                Err(error) => {
                    return Err(self
                        .refused(error, &Actor::Person(requester.clone()), None, "submit")
                        .await);
                }
                Ok(transition) => return Ok(self.committed(transition)),
            }
        }
    }

    /// Applies `command` by `actor`. With `expected`, the command only applies while the
    /// request is still in that state (a click on a stale card is refused, not replayed).
    pub async fn execute(
        &self,
        id: &RequestId,
        expected: Option<RequestState>,
        command: Command,
        actor: &Actor,
    ) -> Result<AccessRequest, WorkflowError> {
        let now = self.clock.now();
        let result = self
            .store
            .update_request(
                id,
                expected,
                now,
                Box::new(|request: &AccessRequest| {
                    domain::transition(request, &command, actor, &self.policy, now)
                }),
            )
            .await;
        match result {
            Ok(transition) => Ok(self.committed(transition)),
            Err(error) => Err(self.refused(error, actor, Some(id), command.verb()).await),
        }
    }

    /// Applies one system command to many requests in one transaction (the scheduler's
    /// batches); those no longer in `expected`, or not yet due, are skipped. Returns the
    /// requests that changed.
    pub async fn execute_batch(
        &self,
        ids: &[RequestId],
        expected: RequestState,
        command: Command,
    ) -> Result<Vec<AccessRequest>, WorkflowError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let transitions = self
            .store
            .update_requests(
                ids,
                expected,
                now,
                Box::new(|request: &AccessRequest| {
                    domain::transition(request, &command, &Actor::System, &self.policy, now)
                }),
            )
            .await?;
        Ok(transitions
            .into_iter()
            .map(|transition| self.committed(transition))
            .collect())
    }

    pub async fn get(&self, id: &RequestId) -> Result<AccessRequest, WorkflowError> {
        self.store
            .get_request(id)
            .await?
            .ok_or_else(|| WorkflowError::NotFound(id.to_string()))
    }

    /// Waits up to `wait` for work of `cluster` and claims it with a lease. Returns at
    /// once when work is (or becomes) available: no polling interval.
    pub async fn wait_for_work(
        &self,
        cluster: &str,
        wait: Duration,
        lease: Duration,
    ) -> Result<Option<WorkItem>, WorkflowError> {
        let deadline = self.clock.sleep(wait);
        tokio::pin!(deadline);
        let mut wake = self.signal.subscribe(cluster);
        loop {
            wake.borrow_and_update();
            let now = self.clock.now();
            let lease_until = now + TimeDelta::from_std(lease).unwrap_or(TimeDelta::seconds(60));
            if let Some(item) = self.store.claim_work(cluster, now, lease_until).await? {
                return Ok(Some(item));
            }
            tokio::select! {
                changed = wake.changed() => if changed.is_err() { return Ok(None) },
                () = &mut deadline => return Ok(None),
            }
        }
    }

    /// Describes a claimed item for its agent: the request's namespaces, profile, and when
    /// the grant ends — the `expires_at` the claim fixed (`domain::fix_grant_end`), which the
    /// report keeps, so the credentials and central end at the same instant.
    pub fn assignment(&self, item: &WorkItem) -> WorkAssignment {
        let request = &item.request;
        let expires_at = match request.expires_at {
            Some(expires_at) => expires_at,
            None => domain::later(self.clock.now(), request.ttl_seconds),
        };
        WorkAssignment {
            id: item.id,
            kind: item.kind,
            lease_token: item.lease_token.clone(),
            lease_until: item.lease_until,
            grant: GrantSpec {
                request_id: request.id.to_string(),
                cluster: request.cluster.clone(),
                namespaces: request.namespaces.clone(),
                cluster_role: cluster_role_for(&request.profile),
                profile: request.profile.clone(),
                requester: request.requester.to_string(),
                expires_at,
            },
        }
    }

    /// Records an agent's result for a claimed item. `cluster` is the agent's verified
    /// identity; it may only complete its own cluster's work.
    pub async fn complete_work(
        &self,
        cluster: &str,
        item_id: i64,
        lease_token: &str,
        outcome: WorkOutcome,
    ) -> Result<Completion, WorkflowError> {
        let actor = Actor::Agent {
            cluster: cluster.to_owned(),
        };
        let now = self.clock.now();
        let result = self
            .store
            .complete_work(
                item_id,
                cluster,
                lease_token,
                &outcome,
                now,
                Box::new(|request: &AccessRequest, kind: WorkKind| {
                    let command = match (kind, &outcome) {
                        (WorkKind::Grant, WorkOutcome::Succeeded) => Command::GrantSucceeded,
                        (WorkKind::Grant, WorkOutcome::Failed { error }) => {
                            Command::GrantFailed { error: error.clone() }
                        }
                        (WorkKind::Cleanup, WorkOutcome::Succeeded) => Command::CleanupSucceeded,
                        (WorkKind::Cleanup, WorkOutcome::Failed { error }) => {
                            Command::CleanupFailed { error: error.clone() }
                        }
                    };
                    domain::transition(request, &command, &actor, &self.policy, now)
                }),
            )
            .await;
        let (completion, transition) = match result {
            Ok(done) => done,
            Err(error) => return Err(self.refused(error, &actor, None, "complete").await),
        };
        if let Some(transition) = transition {
            self.committed(transition);
        }
        if completion == Completion::RetryScheduled {
            tracing::warn!(cluster, work_id = item_id, "cleanup failed; retry scheduled");
        }
        Ok(completion)
    }

    /// Records an agent's report as it came over the wire and answers with the
    /// acknowledgement the agent reads: the one translation for every way an agent reaches
    /// central (the HTTP agent API and the embedded agent of `janus serve`).
    pub async fn report_work(
        &self,
        cluster: &str,
        item_id: i64,
        report: &WorkReport,
    ) -> Result<ReportAck, WorkflowError> {
        let outcome = WorkOutcome::from_report(report);
        let completion = self
            .complete_work(cluster, item_id, &report.lease_token, outcome)
            .await?;
        Ok(completion.ack())
    }

    /// Creates a single-use join token for enrolling `cluster`'s agent. Only its SHA-256
    /// is stored; the token itself is returned once.
    pub async fn create_join_token(
        &self,
        cluster: &str,
        created_by: &str,
        valid_for: Duration,
    ) -> Result<String, WorkflowError> {
        use base64::Engine as _;
        use rand::RngCore as _;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = format!(
            "jjt_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let now = self.clock.now();
        let expires_at = now + TimeDelta::from_std(valid_for).unwrap_or(TimeDelta::hours(1));
        self.store
            .create_join_token(&join_token_hash(&token), cluster, created_by, expires_at, now)
            .await?;
        Ok(token)
    }

    /// Stores the namespaces an agent reported for its cluster.
    pub async fn report_namespaces(&self, cluster: &str, namespaces: &[String]) -> Result<(), WorkflowError> {
        Ok(self
            .store
            .set_namespaces(cluster, namespaces, self.clock.now())
            .await?)
    }

    /// Appends an event that changes no request (agent, link and session events).
    pub async fn audit(&self, event: NewEvent) -> Result<(), WorkflowError> {
        Ok(self.store.append_audit(&[event], self.clock.now()).await?)
    }

    fn committed(&self, transition: Transition) -> AccessRequest {
        let Transition {
            request,
            events,
            effects,
            notices,
        } = transition;
        let mut action = None;
        for event in &events {
            self.metrics.transition(event.action.as_str());
            action = Some(event.action);
            tracing::info!(
                request_id = %request.id, cluster = %request.cluster, actor = %event.actor,
                action = event.action.as_str(), state = %request.state, "request changed"
            );
        }
        if effects
            .iter()
            .any(|effect| matches!(effect, Effect::QueueGrant | Effect::QueueCleanup))
        {
            self.signal.notify(&request.cluster);
        }
        if !notices.is_empty() {
            self.outbox.notify_one();
        }
        let close_terminals = effects.contains(&Effect::CloseTerminals);
        let _ = self.changes.send(Change {
            request: request.clone(),
            action,
            close_terminals,
        });
        request
    }

    /// Turns a store error into the caller's error; authorization refusals are audited.
    async fn refused(
        &self,
        error: StoreError,
        actor: &Actor,
        id: Option<&RequestId>,
        command: &'static str,
    ) -> WorkflowError {
        if let StoreError::Refused(refusal) = &error {
            self.metrics.refusal(refusal.code());
            if refusal.is_authorization_refusal() {
                tracing::warn!(actor = %actor.audit_name(), request_id = ?id.map(RequestId::as_str),
                    code = refusal.code(), "command refused");
                let event = NewEvent {
                    action: AuditAction::CommandRefused,
                    actor: actor.audit_name(),
                    request_id: id.cloned(),
                    cluster: None,
                    details: json!({ "command": command, "code": refusal.code() }),
                };
                if let Err(audit_error) = self.store.append_audit(&[event], self.clock.now()).await {
                    tracing::error!(error = %audit_error, "could not audit a refusal");
                }
            }
        }
        error.into()
    }
}

/// How join tokens are stored and looked up.
pub fn join_token_hash(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}
