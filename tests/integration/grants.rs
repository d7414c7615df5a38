//! End to end through real HTTP: central (axum on port 0) ⇄ agent (long-poll, signed
//! requests) ⇄ the fake Kubernetes API server with real RBAC. A grant's token may exec in
//! its namespaces and nowhere else, and everything is gone at expiry, revoke or withdraw.

use std::time::Duration;

use janus_core::domain::{AccessRequest, Command, CredentialsStatus, RequestState};
use janus_core::scheduler::Scheduler;
use janus_fixtures::kube::RequestMatcher;

use crate::support::TestApp;

/// `prod`, approved by bob.
const CONFIG: &str = "clusters:\n  - name: prod\n    approvers: [bob@example.com]\n";

async fn start() -> TestApp {
    TestApp::builder().config(CONFIG).agent().start().await
}

/// Asserts the grant works exactly where granted.
async fn assert_granted(app: &TestApp, request: &AccessRequest, granted: &[(&str, &str)]) {
    for (namespace, pod) in granted {
        let token = app.grant_token(request, namespace);
        assert_eq!(
            app.exec(&token, namespace, pod, "echo ok").await,
            Ok("ok\n".to_owned()),
            "exec in {namespace}"
        );
        // Not elsewhere, and never secrets.
        assert_eq!(
            app.exec(&token, "search", "api-0", "echo ok").await,
            Err(403),
            "no exec in an ungranted namespace"
        );
        let secrets = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/namespaces/{namespace}/secrets",
                app.kube().url()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(secrets.status().as_u16(), 403, "no secrets");
    }
}

async fn assert_all_gone(app: &TestApp, request: &AccessRequest, namespaces: &[(&str, &str)]) {
    assert_eq!(
        app.grant_objects(request),
        0,
        "no ServiceAccount or RoleBinding left"
    );
    for (namespace, pod) in namespaces {
        let token = app.grant_token(request, namespace);
        let status = app.exec(&token, namespace, pod, "echo ok").await;
        assert!(
            matches!(status, Err(401 | 403)),
            "the old token is refused: {status:?}"
        );
    }
}

const GRANTED: [(&str, &str); 2] = [("payments", "web-1"), ("checkout", "cart-1")];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_works_where_granted_and_is_gone_at_expiry() {
    let mut app = start().await;
    let request = app.active("alice@example.com", &["payments", "checkout"]).await;
    assert_eq!(app.grant_objects(&request), 4);
    let account = app
        .kube()
        .object(
            "ServiceAccount",
            Some("payments"),
            &format!("janus-{}", request.id),
        )
        .unwrap();
    assert_eq!(
        account["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "janus"
    );
    assert_eq!(
        account["metadata"]["labels"]["janus.dev/request"],
        request.id.to_string()
    );
    assert!(account["metadata"]["annotations"]["janus.dev/expires-at"].is_string());
    assert_granted(&app, &request, &GRANTED).await;

    // Jump the shared manual clock with the agent stopped: a signed request in flight across
    // a one-hour jump would be refused as stale, and its retry would wait on a clock nobody
    // moves. The restarted agent (same key, empty memory) finds the cleanup waiting.
    app.stop_agent().await;
    app.clock.advance_secs(3_600);
    Scheduler::new(app.workflow.clone()).tick().await.unwrap();
    app.restart_agent().await;
    let ended = app
        .wait_until(&request, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(ended.state, RequestState::Expired);
    assert_all_gone(&app, &request, &GRANTED).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoke_and_withdraw_remove_everything() {
    let app = start().await;
    let revoked = app.active("alice@example.com", &["payments", "checkout"]).await;
    let withdrawn = app.active("erin@example.com", &["payments"]).await;
    assert_granted(&app, &revoked, &GRANTED).await;

    app.act(
        &revoked,
        Command::Revoke {
            reason: Some("incident over".into()),
        },
        "bob@example.com",
    )
    .await;
    app.act(&withdrawn, Command::Withdraw, "erin@example.com").await;
    let revoked = app
        .wait_until(&revoked, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    let withdrawn = app
        .wait_until(&withdrawn, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(
        (revoked.state, withdrawn.state),
        (RequestState::Revoked, RequestState::Withdrawn)
    );
    assert_all_gone(&app, &revoked, &GRANTED).await;
    assert_all_gone(&app, &withdrawn, &[("payments", "web-1")]).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweeper_alone_cleans_up_when_central_is_unreachable() {
    let mut app = start().await;
    let request = app.active("alice@example.com", &["payments", "checkout"]).await;
    app.stop_agent().await;
    app.stop_serving();
    app.clock.advance_secs(3_600);
    // No scheduler, no central: only the agent's own sweeper.
    let swept = app.agent().sweep_once().await.unwrap();
    assert!(
        format!("{swept:?}").contains('4') || app.grant_objects(&request) == 0,
        "{swept:?}"
    );
    assert_all_gone(&app, &request, &GRANTED).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_restart_mints_a_new_token_and_duplicates_nothing() {
    let mut app = start().await;
    let request = app.active("alice@example.com", &["payments"]).await;
    let before = app.grant_token(&request, "payments");
    let objects =
        app.kube().objects("ServiceAccount", None).len() + app.kube().objects("RoleBinding", None).len();

    app.restart_agent().await;
    app.agent().restore_tokens().await.unwrap();
    let after = app.grant_token(&request, "payments");
    assert_ne!(before, after, "a fresh token was minted");
    assert!(
        app.agent().token_for(request.id.as_str(), "payments").is_some(),
        "and is held in memory"
    );
    assert_eq!(
        app.exec(&after, "payments", "web-1", "echo ok").await,
        Ok("ok\n".to_owned())
    );
    let now =
        app.kube().objects("ServiceAccount", None).len() + app.kube().objects("RoleBinding", None).len();
    assert_eq!(now, objects, "nothing duplicated");

    // The restarted agent still cleans up when the grant ends.
    app.act(&request, Command::Revoke { reason: None }, "bob@example.com")
        .await;
    app.wait_until(&request, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(app.grant_objects(&request), 0);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_in_the_second_of_three_namespaces_leaves_nothing() {
    let app = start().await;
    app.kube().faults().fail_next(
        RequestMatcher::new("create", "rolebindings").in_namespace("checkout"),
        1,
        500,
    );
    let request = app
        .submit("alice@example.com", &["payments", "checkout", "search"])
        .await;
    app.approve(&request, "bob@example.com").await;
    let failed = app
        .wait_until(&request, |r| r.state == RequestState::Failed)
        .await;
    let reason = failed.end_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("checkout"),
        "the failure names the namespace: {reason}"
    );
    let failed = app
        .wait_until(&request, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(failed.state, RequestState::Failed);
    assert_eq!(app.grant_objects(&request), 0, "rolled back in every namespace");
    let events = app.store.audit_for_request(&request.id).await.unwrap();
    assert!(events.iter().any(|event| event.action == "grant.failed"));
    app.finish().await;
}

/// `namespace/name` of the request's objects of `kind` (`janus-<id>`), sorted.
fn grant_names(app: &TestApp, kind: &str, request: &AccessRequest) -> Vec<String> {
    let name = format!("janus-{}", request.id);
    let mut names: Vec<String> = app
        .kube()
        .objects(kind, None)
        .iter()
        .filter(|object| object["metadata"]["name"] == name.as_str())
        .map(|object| {
            format!(
                "{}/{name}",
                object["metadata"]["namespace"].as_str().unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    names
}

/// The embedded agent of `janus serve` takes its work straight from the workflow
/// (`janus::embedded::InProcessCentral`, no HTTP, no enrollment): it reports the cluster's
/// namespaces, grants with the request's expiry, and cleans up on revoke.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_agent_grants_and_cleans_up_through_the_workflow() {
    let app = TestApp::builder().config(CONFIG).embedded_agent().start().await;
    // The agent's first namespace report reaches central through the workflow.
    let mut known = None;
    for _ in 0..2_000 {
        known = app.store.namespaces("prod").await.unwrap();
        if known.is_some() {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
    }
    let known = known.expect("the embedded agent reported the cluster's namespaces");
    assert!(known.contains(&"payments".to_owned()) && known.contains(&"checkout".to_owned()));

    let request = app.active("alice@example.com", &["payments", "checkout"]).await;
    assert_eq!(
        grant_names(&app, "RoleBinding", &request),
        [
            format!("checkout/janus-{}", request.id),
            format!("payments/janus-{}", request.id)
        ]
    );
    let (_, until) = app.agent().token_for(request.id.as_str(), "payments").unwrap();
    assert_eq!(Some(until), request.expires_at, "the token ends with the grant");
    assert_granted(&app, &request, &GRANTED).await;

    app.act(&request, Command::Revoke { reason: None }, "bob@example.com")
        .await;
    let ended = app
        .wait_until(&request, |r| r.credentials == CredentialsStatus::Cleaned)
        .await;
    assert_eq!(ended.state, RequestState::Revoked);
    assert!(grant_names(&app, "RoleBinding", &request).is_empty());
    assert!(grant_names(&app, "ServiceAccount", &request).is_empty());
    assert!(app.agent().token_for(request.id.as_str(), "payments").is_none());
    assert_all_gone(&app, &request, &GRANTED).await;
    app.finish().await;
}
