//! The agent API over real HTTP: enrollment, signed requests, the long-poll, results,
//! and every way an agent is refused (each one audited).

use std::time::Duration;

use janus_core::agent_protocol::{
    self, HEADER_CLUSTER, HEADER_SIGNATURE, HEADER_TIMESTAMP, ReportOutcome, WorkReport,
};
use janus_core::clock::Clock;
use janus_core::domain::{CredentialsStatus, RequestState};
use janus_core::queue::WorkKind;
use reqwest::StatusCode;

use crate::support::TestApp;
use crate::support::agent_client::{ENROLLMENT, SignedClient};

async fn central() -> TestApp {
    TestApp::builder().config(ENROLLMENT).start().await
}

/// A join token for `cluster` made by the admin, valid for `ttl`.
async fn join_token(central: &TestApp, cluster: &str, ttl: Duration) -> String {
    central
        .workflow
        .create_join_token(cluster, "admin@example.com", ttl)
        .await
        .unwrap()
}

async fn enrolled(central: &TestApp, cluster: &str, seed: u8) -> SignedClient {
    let token = join_token(central, cluster, Duration::from_secs(3_600)).await;
    let client = SignedClient::new(central, cluster, seed);
    assert_eq!(client.enroll(&token).await.status(), StatusCode::OK);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiting_long_poll_gets_work_the_moment_it_is_approved() {
    let central = central().await;
    let agent = enrolled(&central, "prod", 1).await;
    let request = central
        .submit_on("alice@example.com", "prod", &["payments"])
        .await;

    let poll = tokio::spawn(async move {
        let work = agent.next_work(50).await;
        (agent, work)
    });
    // Approve while the poll waits (the poll's own 50 s are on the manual clock, which does
    // not move: only the approval can answer it).
    central.approve(&request, "bob@example.com").await;
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
    let central = central().await;
    let token = join_token(&central, "prod", Duration::from_secs(600)).await;
    let first = SignedClient::new(&central, "prod", 1);
    assert_eq!(first.enroll(&token).await.status(), StatusCode::OK);
    let reused = SignedClient::new(&central, "prod", 2);
    assert_eq!(
        reused.enroll(&token).await.status(),
        StatusCode::UNAUTHORIZED,
        "a join token works once"
    );

    let for_prod = join_token(&central, "prod", Duration::from_secs(600)).await;
    let other_cluster = SignedClient::new(&central, "quorum", 3);
    assert_eq!(
        other_cluster.enroll(&for_prod).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let expiring = join_token(&central, "quorum", Duration::from_secs(600)).await;
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

    central
        .assert_audited_reasons(
            "agent.rejected",
            &[
                "join_token_used",
                "join_token_wrong_cluster",
                "join_token_expired",
                "unknown_join_token",
                "unknown_cluster",
                "bad_signature",
            ],
        )
        .await;
    central.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_only_ever_acts_for_its_own_cluster() {
    let central = central().await;
    let prod = enrolled(&central, "prod", 1).await;
    let quorum = enrolled(&central, "quorum", 2).await;
    let request = central
        .submit_on("alice@example.com", "prod", &["payments"])
        .await;
    central.approve(&request, "bob@example.com").await;

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

    central
        .assert_audited_reasons(
            "agent.rejected",
            &["bad_signature", "stale_timestamp", "no_cluster"],
        )
        .await;
    let refusals = central.audit_reasons("command.refused").await;
    assert!(refusals.iter().any(|code| code == "wrong_agent"), "{refusals:?}");
    central.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_agent_input_gets_a_clear_4xx() {
    let central = central().await;
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
