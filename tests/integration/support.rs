//! Test environments: a workflow on a fresh database with a manual clock, and data builders.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Once};

use janus_core::clock::{Clock, ManualClock};
use janus_core::domain::{
    AccessRequest, Actor, ClusterPolicy, Command, Draft, Limits, Origin, Policy, Principal, RequestState,
};
use janus_core::store::Store;
use janus_core::workflow::Workflow;
use janus_fixtures::postgres::TestDatabase;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name_of_async_fn_taking_TestEnv);`
macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let env = crate::support::TestEnv::new(crate::support::Backend::Sqlite).await.unwrap();
                    super::$test(&env).await;
                    env.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some(env) = crate::support::TestEnv::new(crate::support::Backend::Postgres).await else {
                        return;
                    };
                    super::$test(&env).await;
                    env.finish().await;
                }
            }
        )*
    };
}
pub(crate) use both_backends;

pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Where a test database lives; removed by `finish`.
#[derive(Debug)]
pub enum Database {
    Sqlite(TempDir),
    Postgres(TestDatabase),
}

impl Database {
    /// A fresh database, or `None` for PostgreSQL when no server answers (and none is required).
    pub async fn create(backend: Backend) -> Option<(Database, String)> {
        match backend {
            Backend::Sqlite => {
                let dir = TempDir::new();
                let url = format!("sqlite://{}", dir.path().join("janus.db").display());
                Some((Database::Sqlite(dir), url))
            }
            Backend::Postgres => {
                let database = TestDatabase::create().await?;
                let url = database.url.clone();
                Some((Database::Postgres(database), url))
            }
        }
    }

    pub async fn remove(self) {
        match self {
            Database::Sqlite(dir) => drop(dir),
            Database::Postgres(database) => database.drop_database().await,
        }
    }
}

/// A workflow on a fresh, migrated database, driven by a manual clock.
#[derive(Debug)]
pub struct TestEnv {
    pub url: String,
    pub store: Store,
    pub clock: ManualClock,
    pub workflow: Workflow,
    database: Database,
}

impl TestEnv {
    pub async fn new(backend: Backend) -> Option<TestEnv> {
        Self::with_policy(backend, policy()).await
    }

    pub async fn with_policy(backend: Backend, policy: Policy) -> Option<TestEnv> {
        install_crypto();
        let (database, url) = Database::create(backend).await?;
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let clock = ManualClock::at_epoch();
        let workflow = Workflow::new(store.clone(), policy, Arc::new(clock.clone()) as Arc<dyn Clock>);
        Some(TestEnv {
            url,
            store,
            clock,
            workflow,
            database,
        })
    }

    /// Another workflow (own pool, same database, same clock): a second replica.
    pub async fn replica(&self) -> Workflow {
        self.replica_with_store().await.0
    }

    /// A second replica and the handle to its own pool (to step down or close it).
    pub async fn replica_with_store(&self) -> (Workflow, Store) {
        let store = Store::connect(&self.url).await.expect("connect replica");
        let workflow = Workflow::new(
            store.clone(),
            self.workflow.policy().clone(),
            Arc::new(self.clock.clone()) as Arc<dyn Clock>,
        );
        (workflow, store)
    }

    pub async fn finish(self) {
        self.store.close().await;
        self.database.remove().await;
    }

    pub async fn submit(&self, requester: &str, namespaces: &[&str]) -> AccessRequest {
        self.workflow
            .submit(&person(requester), draft("prod", namespaces))
            .await
            .expect("submit")
    }

    pub async fn approve(&self, request: &AccessRequest, approver: &str) -> AccessRequest {
        let command = Command::Approve {
            ttl_seconds: None,
            reason: None,
        };
        self.workflow
            .execute(
                &request.id,
                Some(request.state),
                command,
                &Actor::Person(person(approver)),
            )
            .await
            .expect("approve")
    }

    /// Submit, approve, and have the agent grant it: an Active request. Work queued
    /// before it (cleanups of earlier requests) is completed on the way.
    pub async fn active(&self, requester: &str, namespaces: &[&str]) -> AccessRequest {
        let request = self.submit(requester, namespaces).await;
        self.approve(&request, "bob@example.com").await;
        while self.grant_next("prod").await.request_id != request.id {}
        let request = self.workflow.get(&request.id).await.unwrap();
        assert_eq!(request.state, RequestState::Active);
        request
    }

    /// Claims the next work item of `cluster` (it must exist) and reports success.
    pub async fn grant_next(&self, cluster: &str) -> janus_core::queue::WorkItem {
        let item = self.claim(cluster).await.expect("work to claim");
        self.workflow
            .complete_work(
                cluster,
                item.id,
                &item.lease_token,
                janus_core::queue::WorkOutcome::Succeeded,
            )
            .await
            .expect("complete");
        item
    }

    /// Claims without waiting.
    pub async fn claim(&self, cluster: &str) -> Option<janus_core::queue::WorkItem> {
        let now = self.clock.now();
        self.store
            .claim_work(cluster, now, now + chrono::TimeDelta::seconds(60))
            .await
            .expect("claim")
    }

    pub async fn audit_actions(&self, request: &AccessRequest) -> Vec<String> {
        self.store
            .audit_for_request(&request.id)
            .await
            .unwrap()
            .into_iter()
            .map(|event| event.action)
            .collect()
    }

    /// Verifies the whole chain through the store API.
    pub async fn verify_chain(&self) -> Result<u64, janus_core::audit::ChainBreak> {
        let (head_seq, head_hash) = self.store.audit_head().await.unwrap();
        let mut verifier = janus_core::audit::ChainVerifier::default();
        for record in self.store.audit_page(0, i64::MAX).await.unwrap() {
            verifier.push(&record)?;
        }
        verifier.finish(head_seq, &head_hash)
    }
}

pub fn person(email: &str) -> Principal {
    Principal::parse(email).unwrap()
}

pub fn draft(cluster: &str, namespaces: &[&str]) -> Draft {
    Draft {
        cluster: cluster.to_owned(),
        namespaces: namespaces
            .iter()
            .map(|namespace| (*namespace).to_owned())
            .collect(),
        ttl_seconds: Some(3_600),
        reason: "investigating 500s on /pay".to_owned(),
        profile: None,
        origin: Origin::web(),
    }
}

/// Cluster `prod` (approvers bob, carol, dave; one approval) and `quorum` (the same
/// approvers, two approvals); admin@example.com is an admin.
pub fn policy() -> Policy {
    let approvers: BTreeSet<Principal> = ["bob@example.com", "carol@example.com", "dave@example.com"]
        .into_iter()
        .map(person)
        .collect();
    Policy {
        admins: BTreeSet::from([person("admin@example.com")]),
        clusters: BTreeMap::from([
            (
                "prod".to_owned(),
                ClusterPolicy {
                    approvers: approvers.clone(),
                    approvals_required: 1,
                },
            ),
            (
                "quorum".to_owned(),
                ClusterPolicy {
                    approvers,
                    approvals_required: 2,
                },
            ),
        ]),
        limits: Limits {
            requests_per_hour: 1_000,
            live_requests_per_user: 100,
        },
        ..Policy::default()
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let suffix: u64 = rand::random();
        let path = std::env::temp_dir().join(format!("janus-test-{suffix:016x}"));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
