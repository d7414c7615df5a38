//! A hand-rolled agent client of a [`TestApp`]'s agent API: enough to test the wire contract
//! byte for byte.

use ed25519_dalek::SigningKey;
use janus_core::agent_protocol::{
    self, Enrollment, HEADER_CLUSTER, HEADER_SIGNATURE, HEADER_TIMESTAMP, ReportOutcome, WorkAssignment,
    WorkReport,
};
use janus_core::clock::{Clock, ManualClock};
use reqwest::StatusCode;

use super::TestApp;

/// `prod` (approver bob) and `quorum` (bob, two approvals): clusters agents enroll in.
pub const ENROLLMENT: &str = "\
clusters:
  - name: prod
    approvers: [bob@example.com]
  - name: quorum
    approvers: [bob@example.com]
    approvalsRequired: 2
";

/// A hand-rolled agent client: enough to test the wire contract byte for byte.
pub struct SignedClient {
    pub base: String,
    pub cluster: String,
    pub key: SigningKey,
    pub clock: ManualClock,
    pub http: reqwest::Client,
}

impl SignedClient {
    pub fn new(central: &TestApp, cluster: &str, seed: u8) -> SignedClient {
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
