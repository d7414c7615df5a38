//! The expiry sweeper and token restore after a restart, with no central at all.

use janus_wire::agent_protocol::WorkKind;
use janus_wire::agent_protocol::{ANNOTATION_EXPIRES_AT, LABEL_MANAGED_BY, LABEL_REQUEST, ReportOutcome};
use serde_json::json;

use super::{Env, assignment, hours, spec};
use crate::SweepSummary;

#[tokio::test]
async fn the_sweeper_deletes_expired_grants_without_central() {
    let env = Env::new().await;
    let agent = env.offline_agent().await;
    let short = spec("jr-short000", &["payments", "checkout"], env.now() + hours(1));
    let long = spec("jr-long0000", &["payments"], env.now() + hours(3));
    for (id, grant) in [(1, short), (2, long)] {
        assert_eq!(
            agent
                .handle(&assignment(id, WorkKind::Grant, grant))
                .await
                .outcome,
            ReportOutcome::Succeeded
        );
    }
    // A managed object nobody can date: fail closed.
    env.kube
        .apply(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "janus-jr-broken00", "namespace": "search",
                "labels": {LABEL_MANAGED_BY: "janus", LABEL_REQUEST: "jr-broken00"},
                "annotations": {ANNOTATION_EXPIRES_AT: "soon"},
            },
        }))
        .unwrap();
    // An object Janus does not manage is never swept.
    env.kube
        .apply(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "janus-lookalike", "namespace": "search",
                         "annotations": {ANNOTATION_EXPIRES_AT: "2000-01-01T00:00:00Z"}},
        }))
        .unwrap();

    let summary = agent.sweep_once().await.unwrap();
    assert_eq!(
        summary,
        SweepSummary {
            role_bindings_deleted: 0,
            service_accounts_deleted: 1,
            tokens_dropped: 0
        }
    );
    assert_eq!(
        env.grant_names("serviceaccounts"),
        [
            "checkout/janus-jr-short000",
            "payments/janus-jr-long0000",
            "payments/janus-jr-short000",
            "search/janus-lookalike"
        ]
    );

    env.clock.advance_secs(3600);
    env.kube.clear_request_log();
    let summary = agent.sweep_once().await.unwrap();
    assert_eq!(summary.role_bindings_deleted, 2);
    assert_eq!(summary.service_accounts_deleted, 2);
    assert_eq!(summary.tokens_dropped, 2);
    assert_eq!(
        env.grant_names("serviceaccounts"),
        ["payments/janus-jr-long0000", "search/janus-lookalike"]
    );
    assert_eq!(env.grant_names("rolebindings"), ["payments/janus-jr-long0000"]);
    assert!(agent.token_for("jr-short000", "payments").is_none());
    assert!(agent.token_for("jr-long0000", "payments").is_some());
    assert_eq!(
        env.deleted_resources(),
        [
            "rolebindings",
            "rolebindings",
            "serviceaccounts",
            "serviceaccounts"
        ]
    );

    env.clock.advance_secs(2 * 3600);
    agent.sweep_once().await.unwrap();
    assert_eq!(env.grant_names("serviceaccounts"), ["search/janus-lookalike"]);
    assert!(env.grant_names("rolebindings").is_empty());
    assert!(agent.vault().is_empty());
}

#[tokio::test]
async fn after_a_restart_tokens_are_minted_again_for_live_grants_only() {
    let env = Env::new().await;
    let first = env.offline_agent().await;
    let live = spec("jr-live0000", &["payments", "checkout"], env.now() + hours(2));
    let ending = spec("jr-ending00", &["search"], env.now() + hours(1));
    for (id, grant) in [(1, live), (2, ending)] {
        assert_eq!(
            first
                .handle(&assignment(id, WorkKind::Grant, grant))
                .await
                .outcome,
            ReportOutcome::Succeeded
        );
    }
    drop(first);
    // The ending grant ends while the agent is away (nobody swept it yet).
    env.clock.advance_secs(3600);
    let objects_before = (env.objects("serviceaccounts"), env.objects("rolebindings"));

    let restarted = env.offline_agent().await;
    assert!(restarted.vault().is_empty());
    env.kube.clear_request_log();
    assert_eq!(restarted.restore_tokens().await.unwrap(), 2);
    let (payments, until) = restarted.token_for("jr-live0000", "payments").unwrap();
    assert_eq!(until, env.now() + hours(1));
    assert!(restarted.token_for("jr-live0000", "checkout").is_some());
    assert!(restarted.token_for("jr-ending00", "search").is_none());
    assert!(env.may_exec(payments.expose(), "payments").await);
    // Only tokens were requested: no object was created or changed.
    assert_eq!(
        (env.objects("serviceaccounts"), env.objects("rolebindings")),
        objects_before
    );
    let writes: Vec<String> = env
        .kube
        .request_log()
        .into_iter()
        .filter(|request| request.user == "janus-agent" && request.verb != "list" && request.verb != "get")
        .map(|request| format!("{} {} {}", request.verb, request.resource, request.namespace))
        .collect();
    assert_eq!(
        writes,
        [
            "create serviceaccounts/token checkout",
            "create serviceaccounts/token payments"
        ]
    );
    let latest = env.kube.issued_tokens().pop().unwrap();
    assert_eq!(latest.expires_at, env.now() + hours(1));

    // A second restore finds every token in place.
    assert_eq!(restarted.restore_tokens().await.unwrap(), 0);
}
