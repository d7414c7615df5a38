//! [`Agent`]: the run loop that ties central, Kubernetes and the sweeper together.
//!
//! Two loops run side by side until shutdown:
//! - **work**: long-poll [`Central::next_work`], handle the item (grant or cleanup), report
//!   the result; one item at a time, so an item is never handled twice at once. Central
//!   errors are retried with capped exponential backoff and jitter (0.5 s doubling to 30 s,
//!   ±20 %), waiting through the [`Clock`].
//! - **maintenance**, every `sweep_interval`: the expiry sweeper (needs no central), the
//!   namespace list (reported when it changed), and token restore until it has succeeded.
//!
//! On shutdown the loops stop taking new work; an item already being handled is finished
//! and its report attempted, but report retries stop (central hands the item out again when
//! its lease ends, and the work is idempotent).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use janus_wire::agent_protocol::WorkKind;
use janus_wire::agent_protocol::{ReportOutcome, WorkAssignment, WorkReport};
use janus_wire::clock::Clock;
use janus_wire::secret::Secret;
use tokio::sync::watch;
use tracing::Instrument as _;

use crate::AgentError;
use crate::backoff::Backoff;
use crate::central::{Central, CentralError};
use crate::kubernetes::{KubeFailure, Kubernetes, SweepSummary, format_expires_at};
use crate::vault::TokenVault;

/// How long one long-poll asks central to wait.
pub const LONG_POLL_WAIT: Duration = Duration::from_secs(25);
/// At most this much of an error goes into a report.
const MAX_REPORTED_ERROR: usize = 2000;

/// The in-cluster agent. Cheap to clone; clones share the vault and state.
#[derive(Debug, Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    kubernetes: Kubernetes,
    central: Arc<dyn Central>,
    cluster: String,
    clock: Arc<dyn Clock>,
    sweep_interval: Duration,
    /// The namespaces central last accepted; `None` until the first report succeeded.
    reported_namespaces: Mutex<Option<Vec<String>>>,
    tokens_restored: AtomicBool,
    /// Open terminal sessions, closed by cleanup of their request.
    sessions: crate::terminal::Sessions,
    /// The agent's own Kubernetes configuration, from which grant-token clients are made.
    kube_config: Mutex<Option<kube::Config>>,
}

impl Agent {
    pub fn new(
        client: kube::Client,
        central: Arc<dyn Central>,
        cluster: impl Into<String>,
        clock: Arc<dyn Clock>,
        sweep_interval: Duration,
    ) -> Self {
        let vault = Arc::new(TokenVault::new());
        Agent {
            inner: Arc::new(Inner {
                kubernetes: Kubernetes::new(client, vault, clock.clone()),
                central,
                cluster: cluster.into(),
                clock,
                sweep_interval: sweep_interval.max(Duration::from_secs(1)),
                reported_namespaces: Mutex::new(None),
                tokens_restored: AtomicBool::new(false),
                sessions: crate::terminal::Sessions::default(),
                kube_config: Mutex::new(None),
            }),
        }
    }

    pub fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    /// Sets the Kubernetes configuration terminal sessions copy (server, TLS) and
    /// authenticate with the grant's token instead of the agent's own.
    pub fn set_kube_config(&self, config: kube::Config) {
        *self
            .inner
            .kube_config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(config);
    }

    pub(crate) fn kube_config(&self) -> Option<kube::Config> {
        self.inner
            .kube_config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The open terminal sessions.
    pub fn sessions(&self) -> &crate::terminal::Sessions {
        &self.inner.sessions
    }

    pub(crate) fn central(&self) -> &Arc<dyn Central> {
        &self.inner.central
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The grant tokens this agent holds.
    pub fn vault(&self) -> &Arc<TokenVault> {
        self.inner.kubernetes.vault()
    }

    pub fn kubernetes(&self) -> &Kubernetes {
        &self.inner.kubernetes
    }

    /// The token of a grant's namespace and until when it may be used, if it may be now
    /// (for exec with the grant's own token).
    pub fn token_for(&self, request_id: &str, namespace: &str) -> Option<(Secret, DateTime<Utc>)> {
        self.vault()
            .token_for(request_id, namespace, self.inner.clock.now())
    }

    /// Handles one work item and returns the report for central. Never fails: a failure is
    /// a `Failed` report carrying what Kubernetes said.
    pub async fn handle(&self, assignment: &WorkAssignment) -> WorkReport {
        let grant = &assignment.grant;
        let span = tracing::info_span!(
            "work", work_id = assignment.id, kind = %assignment.kind,
            request_id = %grant.request_id, cluster = %self.inner.cluster
        );
        async {
            let result = if grant.cluster != self.inner.cluster {
                Err(format!(
                    "work for cluster {:?} was sent to the agent of cluster {:?}; nothing was done",
                    grant.cluster, self.inner.cluster
                ))
            } else {
                match assignment.kind {
                    WorkKind::Grant => self.inner.kubernetes.grant(grant).await.map(|()| {
                        tracing::info!(
                            namespaces = ?grant.namespaces, expires_at = %format_expires_at(grant.expires_at),
                            "grant in place"
                        );
                    }),
                    WorkKind::Cleanup => {
                        // Open terminals of the request end first: the agent closes their
                        // exec streams itself.
                        let closed = self
                            .inner
                            .sessions
                            .close_request(&grant.request_id, janus_wire::terminal::CloseReason::Revoked);
                        if closed > 0 {
                            tracing::info!(sessions = closed, "terminal sessions of the request closed");
                        }
                        self.inner
                            .kubernetes
                            .cleanup(&grant.request_id)
                            .await
                            .map(|deleted| {
                                tracing::info!(
                                    role_bindings = deleted.role_bindings,
                                    service_accounts = deleted.service_accounts,
                                    "grant cleaned up"
                                );
                            })
                    }
                }
                .map_err(|error| error.to_string())
            };
            match result {
                Ok(()) => WorkReport {
                    lease_token: assignment.lease_token.clone(),
                    outcome: ReportOutcome::Succeeded,
                    error: None,
                },
                Err(error) => {
                    tracing::warn!(error = %error, "work failed");
                    WorkReport {
                        lease_token: assignment.lease_token.clone(),
                        outcome: ReportOutcome::Failed,
                        error: Some(shorten(error)),
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// One pass of the expiry sweeper, at the clock's current time.
    pub async fn sweep_once(&self) -> Result<SweepSummary, KubeFailure> {
        self.inner.kubernetes.sweep(self.inner.clock.now()).await
    }

    /// Mints new tokens for the live grants found in the cluster (after a restart).
    pub async fn restore_tokens(&self) -> Result<usize, KubeFailure> {
        let minted = self
            .inner
            .kubernetes
            .restore_tokens(self.inner.clock.now())
            .await?;
        self.inner.tokens_restored.store(true, Ordering::SeqCst);
        Ok(minted)
    }

    /// Lists the cluster's namespaces and reports them to central when they differ from
    /// the last report. Returns whether a report was sent.
    pub async fn report_namespaces(&self) -> Result<bool, AgentError> {
        let namespaces = self.inner.kubernetes.namespaces().await?;
        if self.last_reported().as_ref() == Some(&namespaces) {
            return Ok(false);
        }
        self.inner.central.report_namespaces(&namespaces).await?;
        tracing::info!(cluster = %self.inner.cluster, count = namespaces.len(), "namespaces reported");
        *self.lock_reported() = Some(namespaces);
        Ok(true)
    }

    fn lock_reported(&self) -> std::sync::MutexGuard<'_, Option<Vec<String>>> {
        self.inner
            .reported_namespaces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn last_reported(&self) -> Option<Vec<String>> {
        self.lock_reported().clone()
    }

    /// Runs until `shutdown` resolves: restores tokens, then the work and maintenance loops.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        tracing::info!(cluster = %self.inner.cluster, "agent started");
        let signal = async move {
            shutdown.await;
            tracing::info!("agent stopping");
            let _ = stop.send(true);
        };
        let loops = async {
            self.restore_at_start().await;
            tokio::join!(
                self.work_loop(stopped.clone()),
                self.maintenance_loop(stopped.clone()),
                self.session_loop(stopped.clone())
            );
        };
        tokio::join!(signal, loops);
        tracing::info!(cluster = %self.inner.cluster, "agent stopped");
    }

    async fn restore_at_start(&self) {
        match self.restore_tokens().await {
            Ok(minted) => {
                tracing::info!(cluster = %self.inner.cluster, minted, "tokens of live grants restored")
            }
            Err(error) => tracing::warn!(
                cluster = %self.inner.cluster, error = %error, "could not restore tokens; will retry"
            ),
        }
    }

    async fn work_loop(&self, mut stopped: watch::Receiver<bool>) {
        let cluster = self.inner.cluster.as_str();
        let mut backoff = Backoff::default();
        let mut failing = false;
        loop {
            if *stopped.borrow() {
                return;
            }
            let next = tokio::select! {
                next = self.inner.central.next_work(LONG_POLL_WAIT) => next,
                _ = stopped.wait_for(|stop| *stop) => return,
            };
            match next {
                Ok(next) => {
                    if failing {
                        tracing::info!(cluster, "connected to central again");
                        failing = false;
                    }
                    backoff.reset();
                    if let Some(assignment) = next {
                        let report = self.handle(&assignment).await;
                        self.deliver(&assignment, &report, &mut stopped).await;
                    }
                }
                Err(error) => {
                    failing = true;
                    let delay = backoff.next_delay();
                    if error.is_transient() {
                        tracing::warn!(cluster, error = %error, retry_in_ms = delay.as_millis(), "no work from central");
                    } else {
                        tracing::error!(cluster, error = %error, retry_in_ms = delay.as_millis(), "central refused the agent");
                    }
                    tokio::select! {
                        () = self.inner.clock.sleep(delay) => {}
                        _ = stopped.wait_for(|stop| *stop) => return,
                    }
                }
            }
        }
    }

    /// Reports a result until central takes it, the lease is lost, central refuses it for
    /// good, or the agent stops.
    async fn deliver(
        &self,
        assignment: &WorkAssignment,
        report: &WorkReport,
        stopped: &mut watch::Receiver<bool>,
    ) {
        let cluster = self.inner.cluster.as_str();
        let request_id = assignment.grant.request_id.as_str();
        let work_id = assignment.id;
        let mut backoff = Backoff::default();
        loop {
            let error = match self.inner.central.report(work_id, report).await {
                Ok(ack) => {
                    tracing::info!(cluster, request_id, work_id, status = %ack.status, "result reported");
                    return;
                }
                Err(CentralError::LeaseLost) => {
                    tracing::warn!(
                        cluster,
                        request_id,
                        work_id,
                        "lease lost before the result was reported; central hands the item out again"
                    );
                    return;
                }
                Err(error) if !error.is_transient() => {
                    tracing::error!(cluster, request_id, work_id, error = %error, "central refused the result; dropping it");
                    return;
                }
                Err(error) => error,
            };
            if *stopped.borrow() {
                tracing::warn!(
                    cluster, request_id, work_id, error = %error,
                    "stopping with a result not reported; central hands the item out again after its lease"
                );
                return;
            }
            let delay = backoff.next_delay();
            tracing::warn!(
                cluster, request_id, work_id, error = %error, retry_in_ms = delay.as_millis(),
                "could not report a result; retrying"
            );
            tokio::select! {
                () = self.inner.clock.sleep(delay) => {}
                _ = stopped.wait_for(|stop| *stop) => {}
            }
        }
    }

    /// Long-polls central for terminal sessions and serves each in a task of its own.
    async fn session_loop(&self, mut stopped: watch::Receiver<bool>) {
        let cluster = self.inner.cluster.as_str();
        let mut backoff = Backoff::default();
        loop {
            if *stopped.borrow() {
                return;
            }
            let next = tokio::select! {
                next = self.inner.central.next_sessions(LONG_POLL_WAIT) => next,
                _ = stopped.wait_for(|stop| *stop) => return,
            };
            match next {
                Ok(offers) => {
                    backoff.reset();
                    for offer in offers {
                        let agent = self.clone();
                        tokio::spawn(async move { agent.serve_session(offer).await });
                    }
                }
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(cluster, error = %error, retry_in_ms = delay.as_millis(), "no sessions from central");
                    tokio::select! {
                        () = self.inner.clock.sleep(delay) => {}
                        _ = stopped.wait_for(|stop| *stop) => return,
                    }
                }
            }
        }
    }

    async fn maintenance_loop(&self, mut stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            self.maintain().await;
            tokio::select! {
                () = self.inner.clock.sleep(self.inner.sweep_interval) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One maintenance tick: token restore (until it worked once), sweep, namespaces.
    async fn maintain(&self) {
        let cluster = self.inner.cluster.as_str();
        if !self.inner.tokens_restored.load(Ordering::SeqCst) {
            self.restore_at_start().await;
        }
        match self.sweep_once().await {
            Ok(summary) if summary != SweepSummary::default() => tracing::info!(
                cluster,
                role_bindings = summary.role_bindings_deleted,
                service_accounts = summary.service_accounts_deleted,
                tokens = summary.tokens_dropped,
                "sweeper removed expired grants"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(cluster, error = %error, "sweep failed; will retry"),
        }
        if let Err(error) = self.report_namespaces().await {
            tracing::warn!(cluster, error = %error, "could not report namespaces; will retry");
        }
    }
}

fn shorten(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_REPORTED_ERROR) {
        text.truncate(cut);
        text.push('…');
    }
    text
}
