//! The agent API over real HTTP: enrollment, signed requests, the long-poll, results,
//! and every way an agent is refused (each one audited).

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use janus_core::agent_protocol::{
    self, Enrollment, HEADER_CLUSTER, HEADER_SIGNATURE, HEADER_TIMESTAMP, ReportOutcome, WorkAssignment,
    WorkReport,
};
use janus_core::clock::{Clock, ManualClock};
use janus_core::config::Config;
use janus_core::domain::{Actor, Command, CredentialsStatus, RequestState};
use janus_core::queue::WorkKind;
use janus_core::store::Store;
use janus_core::workflow::Workflow;
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{Backend, Database, install_crypto, person, policy};

/// Central on port 0 with clusters `prod` and `quorum` (enrollment), on SQLite.
pub struct Central {
    pub base: String,
    pub workflow: Workflow,
    pub clock: ManualClock,
    pub store: Store,
    /// The database's URL (SQLite), for tests that act on it from outside like another process.
    pub database_url: String,
    stop: Option<oneshot::Sender<()>>,
    database: Option<Database>,
}

impl Central {
    pub async fn start(config: Config) -> Central {
        Self::start_with_clock(config, ManualClock::at_epoch()).await
    }

    pub async fn start_with_clock(config: Config, clock: ManualClock) -> Central {
        Self::start_full(config, clock, None).await
    }

    /// Central like `janus serve` with `agent.embedded`: `public_key` is the embedded agent of
    /// `cluster` (accepted on the session routes only).
    pub async fn start_with_embedded_agent(
        config: Config,
        cluster: &str,
        public_key: VerifyingKey,
    ) -> Central {
        Self::start_full(config, ManualClock::at_epoch(), Some((cluster, public_key))).await
    }

    async fn start_full(
        config: Config,
        clock: ManualClock,
        embedded: Option<(&str, VerifyingKey)>,
    ) -> Central {
        install_crypto();
        let (database, url) = Database::create(Backend::Sqlite).await.unwrap();
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        // The test policy, with the chat channels and pending expiry the configuration sets.
        let configured = janus_core::domain::Policy::from_config(&config);
        let policy = janus_core::domain::Policy {
            notify_channels: configured.notify_channels,
            pending_expiry_seconds: configured.pending_expiry_seconds,
            ..policy()
        };
        let workflow = Workflow::new(store.clone(), policy, Arc::new(clock.clone()) as Arc<dyn Clock>);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // Left at its default, the base URL is where this central really serves (links, and the
        // Origin a browser's form posts must carry).
        let mut config = config;
        if config.webui.base_url == janus_core::config::WebUiConfig::default().base_url {
            config.webui.base_url = base.clone();
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let mut state = janus_web::AppState::new(workflow.clone(), config);
        if let Some((cluster, public_key)) = embedded {
            state = state.with_embedded_agent(cluster, public_key);
        }
        tokio::spawn(janus_web::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Central {
            base,
            workflow,
            clock,
            store,
            database_url: url,
            stop: Some(stop),
            database: Some(database),
        }
    }

    /// Stops the web server: agents find central unreachable.
    pub fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn finish(mut self) {
        self.stop_server();
        self.store.close().await;
        if let Some(database) = self.database.take() {
            database.remove().await;
        }
    }

    pub async fn audit_reasons(&self, action: &str) -> Vec<String> {
        let events = self.store.audit_page(0, 10_000).await.unwrap();
        events
            .into_iter()
            .filter(|event| event.action == action)
            .map(|event| {
                event.details["reason"]
                    .as_str()
                    .or(event.details["code"].as_str())
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }
}

pub fn enrollment_config() -> Config {
    let yaml = "clusters:\n  - name: prod\n    approvers: [bob@example.com]\n  - name: quorum\n    approvers: [bob@example.com]\n    approvalsRequired: 2\n";
    Config::load(Some(yaml), &[], &|_| Err(std::io::Error::other("no files"))).unwrap()
}

/// A hand-rolled agent client: enough to test the wire contract byte for byte.
pub struct SignedClient {
    pub base: String,
    pub cluster: String,
    pub key: SigningKey,
    pub clock: ManualClock,
    pub http: reqwest::Client,
}

impl SignedClient {
    pub fn new(central: &Central, cluster: &str, seed: u8) -> SignedClient {
        SignedClient {
            base: central.base.clone(),
            cluster: cluster.to_owned(),
            key: SigningKey::from_bytes(&[seed; 32]),
            clock: central.clock.clone(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn enroll(&self, token: &str) -> reqwest::Response {
        let body = Enrollment {
            cluster: self.cluster.clone(),
            public_key: agent_protocol::encode_public_key(&self.key.verifying_key()),
            agent_version: "test".into(),
        };
        self.http
            .post(format!("{}/agent/v1/enroll", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn send(&self, method: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.send_as(method, path, body, &self.cluster, self.clock.now().timestamp())
            .await
    }

    pub async fn send_as(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        cluster: &str,
        timestamp: i64,
    ) -> reqwest::Response {
        let input = agent_protocol::signing_input(method, path, cluster, timestamp, &body);
        let signature = agent_protocol::sign(&self.key, &input);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(HEADER_CLUSTER, cluster)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn next_work(&self, wait: u64) -> Option<WorkAssignment> {
        let response = self
            .send("GET", &format!("/agent/v1/work?wait={wait}"), Vec::new())
            .await;
        match response.status() {
            StatusCode::NO_CONTENT => None,
            StatusCode::OK => Some(response.json().await.unwrap()),
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }

    pub async fn report(&self, work: &WorkAssignment, outcome: ReportOutcome) -> reqwest::Response {
        let body = serde_json::to_vec(&WorkReport {
            lease_token: work.lease_token.clone(),
            outcome,
            error: None,
        })
        .unwrap();
        self.send("POST", &format!("/agent/v1/work/{}/result", work.id), body)
            .await
    }
}

async fn enrolled(central: &Central, cluster: &str, seed: u8) -> SignedClient {
    let token = central
        .workflow
        .create_join_token(cluster, "admin@example.com", Duration::from_secs(3_600))
        .await
        .unwrap();
    let client = SignedClient::new(central, cluster, seed);
    assert_eq!(client.enroll(&token).await.status(), StatusCode::OK);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiting_long_poll_gets_work_the_moment_it_is_approved() {
    let central = Central::start(enrollment_config()).await;
    let agent = enrolled(&central, "prod", 1).await;
    let request = central
        .workflow
        .submit(
            &person("alice@example.com"),
            crate::support::draft("prod", &["payments"]),
        )
        .await
        .unwrap();

    let poll = tokio::spawn(async move {
        let work = agent.next_work(50).await;
        (agent, work)
    });
    // Approve while the poll waits (the poll's own 50 s are on the manual clock, which does
    // not move: only the approval can answer it).
    central
        .workflow
        .execute(
            &request.id,
            Some(RequestState::Pending),
            Command::Approve {
                ttl_seconds: None,
                reason: None,
            },
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();
    let (agent, work) = poll.await.unwrap();
    let work = work.expect("the approval answers the poll");
    assert_eq!(work.kind, WorkKind::Grant);
    assert_eq!(work.grant.request_id, request.id.to_string());
    assert_eq!(work.grant.namespaces, ["payments"]);
    assert_eq!(work.grant.cluster_role, "janus-exec");
    assert_eq!(
        work.grant.expires_at,
        central.clock.now() + chrono::TimeDelta::seconds(3_600)
    );

    let ack = agent.report(&work, ReportOutcome::Succeeded).await;
    assert_eq!(ack.status(), StatusCode::OK);
    let ack: serde_json::Value = ack.json().await.unwrap();
    assert_eq!(ack["status"], "recorded");
    let active = central.workflow.get(&request.id).await.unwrap();
    assert_eq!(
        (active.state, active.credentials),
        (RequestState::Active, CredentialsStatus::Live)
    );
    // A repeated report changes nothing.
    let again: serde_json::Value = agent
        .report(&work, ReportOutcome::Succeeded)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "already_done");

    // Namespaces reported by the agent gate later submissions.
    let body = serde_json::to_vec(&serde_json::json!({ "namespaces": ["payments", "checkout"] })).unwrap();
    assert_eq!(
        agent.send("PUT", "/agent/v1/namespaces", body).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        central.store.namespaces("prod").await.unwrap().unwrap(),
        ["checkout", "payments"]
    );
    central.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn join_tokens_are_single_use_expiring_and_per_cluster() {
    let central = Central::start(enrollment_config()).await;
    let token = central
        .workflow
        .create_join_token("prod", "admin@example.com", Duration::from_secs(600))
        .await
        .unwrap();
    let first = SignedClient::new(&central, "prod", 1);
    assert_eq!(first.enroll(&token).await.status(), StatusCode::OK);
    let reused = SignedClient::new(&central, "prod", 2);
    assert_eq!(
        reused.enroll(&token).await.status(),
        StatusCode::UNAUTHORIZED,
        "a join token works once"
    );

    let for_prod = central
        .workflow
        .create_join_token("prod", "admin@example.com", Duration::from_secs(600))
        .await
        .unwrap();
    let other_cluster = SignedClient::new(&central, "quorum", 3);
    assert_eq!(
        other_cluster.enroll(&for_prod).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let expiring = central
        .workflow
        .create_join_token("quorum", "admin@example.com", Duration::from_secs(600))
        .await
        .unwrap();
    central.clock.advance_secs(600);
    assert_eq!(
        other_cluster.enroll(&expiring).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        other_cluster.enroll("jjt_made-up").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown = SignedClient::new(&central, "staging", 4);
    assert_eq!(unknown.enroll(&for_prod).await.status(), StatusCode::UNAUTHORIZED);

    // The reused token's key was not pinned: the first agent still works, the second cannot sign in.
    assert!(first.next_work(0).await.is_none());
    assert_eq!(
        reused
            .send("GET", "/agent/v1/work?wait=0", Vec::new())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let reasons = central.audit_reasons("agent.rejected").await;
    for reason in [
        "join_token_used",
        "join_token_wrong_cluster",
        "join_token_expired",
        "unknown_join_token",
        "unknown_cluster",
        "bad_signature",
    ] {
        assert!(
            reasons.iter().any(|candidate| candidate == reason),
            "{reason} not audited: {reasons:?}"
        );
    }
    central.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_only_ever_acts_for_its_own_cluster() {
    let central = Central::start(enrollment_config()).await;
    let prod = enrolled(&central, "prod", 1).await;
    let quorum = enrolled(&central, "quorum", 2).await;
    let request = central
        .workflow
        .submit(
            &person("alice@example.com"),
            crate::support::draft("prod", &["payments"]),
        )
        .await
        .unwrap();
    central
        .workflow
        .execute(
            &request.id,
            None,
            Command::Approve {
                ttl_seconds: None,
                reason: None,
            },
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();

    // quorum's agent sees none of prod's work…
    assert!(quorum.next_work(0).await.is_none());
    // …cannot pass itself off as prod (its signature does not match prod's pinned key)…
    let now = central.clock.now().timestamp();
    let spoofed = quorum
        .send_as("GET", "/agent/v1/work?wait=0", Vec::new(), "prod", now)
        .await;
    assert_eq!(spoofed.status(), StatusCode::UNAUTHORIZED);
    // …and cannot complete prod's work even with the lease token.
    let work = prod.next_work(0).await.unwrap();
    let stolen = quorum.report(&work, ReportOutcome::Succeeded).await;
    assert_eq!(stolen.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = stolen.json().await.unwrap();
    assert_eq!(body["error"]["code"], "wrong_agent");
    assert_eq!(
        central.workflow.get(&request.id).await.unwrap().state,
        RequestState::Approved
    );

    // Replays outside the clock window and tampered bodies are refused.
    let stale = prod
        .send_as("GET", "/agent/v1/work?wait=0", Vec::new(), "prod", now - 301)
        .await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let report = serde_json::to_vec(&WorkReport {
        lease_token: work.lease_token.clone(),
        outcome: ReportOutcome::Succeeded,
        error: None,
    })
    .unwrap();
    let input = agent_protocol::signing_input(
        "POST",
        &format!("/agent/v1/work/{}/result", work.id),
        "prod",
        now,
        &report,
    );
    let signature = agent_protocol::sign(&prod.key, &input);
    let tampered = prod
        .http
        .post(format!("{}/agent/v1/work/{}/result", prod.base, work.id))
        .header(HEADER_CLUSTER, "prod")
        .header(HEADER_TIMESTAMP, now.to_string())
        .header(HEADER_SIGNATURE, signature)
        .body(
            String::from_utf8(report.clone())
                .unwrap()
                .replace("succeeded", "failed"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        tampered.status(),
        StatusCode::UNAUTHORIZED,
        "the signature covers the body"
    );
    assert_eq!(
        central.workflow.get(&request.id).await.unwrap().state,
        RequestState::Approved
    );
    let unsigned = reqwest::get(format!("{}/agent/v1/work?wait=0", central.base))
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);

    let reasons = central.audit_reasons("agent.rejected").await;
    for reason in ["bad_signature", "stale_timestamp", "no_cluster"] {
        assert!(
            reasons.iter().any(|candidate| candidate == reason),
            "{reason} not audited: {reasons:?}"
        );
    }
    let refusals = central.audit_reasons("command.refused").await;
    assert!(refusals.iter().any(|code| code == "wrong_agent"), "{refusals:?}");
    central.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_agent_input_gets_a_clear_4xx() {
    let central = Central::start(enrollment_config()).await;
    let prod = enrolled(&central, "prod", 1).await;
    let response = prod
        .send("PUT", "/agent/v1/namespaces", b"{not json".to_vec())
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_body");
    let bad_name = serde_json::to_vec(&serde_json::json!({ "namespaces": ["Not_A_Namespace"] })).unwrap();
    assert_eq!(
        prod.send("PUT", "/agent/v1/namespaces", bad_name).await.status(),
        StatusCode::BAD_REQUEST
    );
    let huge = vec![b' '; 300 * 1024];
    assert_eq!(
        prod.send("PUT", "/agent/v1/namespaces", huge).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let missing = prod
        .send(
            "POST",
            "/agent/v1/work/999999/result",
            serde_json::to_vec(&serde_json::json!({"leaseToken": "x", "outcome": "succeeded"})).unwrap(),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    central.finish().await;
}
