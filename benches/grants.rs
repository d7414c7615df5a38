//! Grant latency through the real path: central's HTTP agent API (axum on loopback), the
//! agent (signed long-poll), and the fake Kubernetes API server with RBAC on loopback.
//!
//! For each of N requests: approve → credentials `live` (the agent created the
//! ServiceAccount and RoleBinding in every namespace and minted the tokens), then revoke →
//! credentials `cleaned` (everything deleted). Reports p50/p99/max of both.
//!
//! Run: `cargo bench --bench grants` (env: JANUS_BENCH_REQUESTS, default 1000;
//! JANUS_BENCH_DATABASE = sqlite | postgres, default sqlite).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark binary")]

mod support;

use support::{NO_LIMITS, now, report};

use std::sync::Arc;
use std::time::Duration;

use janus_core::clock::{Clock, SystemClock};
use janus_core::domain::{AccessRequest, Actor, Command, CredentialsStatus, Draft, Origin, Principal};
use janus_core::workflow::Workflow;
use janus_fixtures::kube::FakeKube;

const SEED: &str = include_str!("../fixtures/kube/example-seed.yaml");

async fn wait_for(workflow: &Workflow, request: &AccessRequest, credentials: CredentialsStatus) {
    let mut changes = workflow.subscribe();
    loop {
        if workflow.get(&request.id).await.unwrap().credentials == credentials {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await;
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let requests: usize = std::env::var("JANUS_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let backend = std::env::var("JANUS_BENCH_DATABASE").unwrap_or_else(|_| "sqlite".into());
    let dir = std::env::temp_dir().join(format!("janus-bench-grants-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let pg = if backend == "postgres" {
        janus_fixtures::postgres::TestDatabase::create().await
    } else {
        None
    };
    let url = match &pg {
        Some(database) => database.url.clone(),
        None => format!("sqlite://{}", dir.join("janus.db").display()),
    };

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let kube = FakeKube::builder().clock(clock.clone()).start().await.unwrap();
    kube.seed_yaml(SEED).unwrap();
    kube.add_token("agent", "system:serviceaccount:janus:janus-agent", &[]);

    let yaml =
        format!("janus: {{ {NO_LIMITS} }}\nclusters: [{{ name: bench, approvers: [bob@example.com] }}]");
    let janus = support::central(&yaml, &url, clock.clone()).await;
    let workflow = janus.workflow.clone();
    let bob = Principal::parse("bob@example.com").unwrap();

    support::agent(&janus, kube.url(), &dir, std::future::pending()).await;

    println!(
        "grants benchmark: {requests} requests, 2 namespaces each, {backend}, fake API server on loopback"
    );
    let (mut to_live, mut to_cleaned) = (Vec::with_capacity(requests), Vec::with_capacity(requests));
    let started = now();
    for index in 0..requests {
        let requester = Principal::parse(&format!("user{index}@example.com")).unwrap();
        let draft = Draft {
            cluster: "bench".into(),
            namespaces: vec!["payments".into(), "checkout".into()],
            ttl_seconds: Some(3_600),
            reason: "benchmark".into(),
            profile: None,
            origin: Origin::web(),
        };
        let request = workflow.submit(&requester, draft).await.unwrap();
        let approve = Command::Approve {
            ttl_seconds: None,
            reason: None,
        };
        let t0 = now();
        workflow
            .execute(&request.id, None, approve, &Actor::Person(bob.clone()))
            .await
            .unwrap();
        wait_for(&workflow, &request, CredentialsStatus::Live).await;
        to_live.push(t0.elapsed().as_secs_f64() * 1000.0);
        let t1 = now();
        workflow
            .execute(
                &request.id,
                None,
                Command::Revoke { reason: None },
                &Actor::Person(bob.clone()),
            )
            .await
            .unwrap();
        wait_for(&workflow, &request, CredentialsStatus::Cleaned).await;
        to_cleaned.push(t1.elapsed().as_secs_f64() * 1000.0);
    }
    let elapsed = started.elapsed().as_secs_f64();
    report("approve → credentials live", to_live);
    report("revoke → credentials deleted", to_cleaned);
    let left = ["ServiceAccount", "RoleBinding"]
        .iter()
        .flat_map(|kind| kube.objects(kind, None))
        .filter(|object| {
            object["metadata"]["name"]
                .as_str()
                .is_some_and(|name| name.starts_with("janus-jr-"))
        })
        .count();
    println!("total {elapsed:.2} s; grant objects left in the fake: {left}");
    janus.shutdown().await.unwrap();
    if let Some(database) = pg {
        database.drop_database().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
