//! Grant and cleanup against the fake API server.

use janus_fixtures::kube::RequestMatcher;
use janus_wire::agent_protocol::WorkKind;
use janus_wire::agent_protocol::{ANNOTATION_EXPIRES_AT, LABEL_MANAGED_BY, LABEL_REQUEST, ReportOutcome};
use serde_json::json;

use super::{Env, assignment, failure, hours, spec};

#[tokio::test]
async fn a_grant_creates_labelled_objects_and_a_token_for_its_namespaces_only() {
    let env = Env::new().await;
    let agent = env.offline_agent().await;
    let expires_at = env.now() + hours(2);
    let report = agent
        .handle(&assignment(
            1,
            WorkKind::Grant,
            spec("jr-4k2m9x7a", &["payments", "checkout"], expires_at),
        ))
        .await;
    assert_eq!(report.outcome, ReportOutcome::Succeeded, "{report:?}");
    assert_eq!(report.error, None);
    assert_eq!(report.lease_token, "lease-1");

    for kind in ["serviceaccounts", "rolebindings"] {
        assert_eq!(
            env.grant_names(kind),
            ["checkout/janus-jr-4k2m9x7a", "payments/janus-jr-4k2m9x7a"],
            "{kind}"
        );
        for object in env
            .objects(kind)
            .iter()
            .filter(|object| object["metadata"]["name"] == "janus-jr-4k2m9x7a")
        {
            let metadata = &object["metadata"];
            assert_eq!(metadata["labels"][LABEL_MANAGED_BY], "janus");
            assert_eq!(metadata["labels"][LABEL_REQUEST], "jr-4k2m9x7a");
            assert_eq!(
                metadata["annotations"][ANNOTATION_EXPIRES_AT],
                "2030-01-01T02:00:00Z"
            );
        }
    }
    let account = env
        .kube
        .object("serviceaccounts", Some("payments"), "janus-jr-4k2m9x7a")
        .unwrap();
    assert_eq!(account["automountServiceAccountToken"], json!(false));
    let binding = env
        .kube
        .object("rolebindings", Some("checkout"), "janus-jr-4k2m9x7a")
        .unwrap();
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "janus-exec"})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "janus-jr-4k2m9x7a", "namespace": "checkout"}])
    );

    // One token per namespace, for the rest of the grant, with the API server's audience.
    let issued = env.kube.issued_tokens();
    assert_eq!(issued.len(), 2);
    for token in &issued {
        assert_eq!(token.service_account, "janus-jr-4k2m9x7a");
        assert_eq!(token.expires_at, expires_at);
    }

    let (payments_token, until) = agent.token_for("jr-4k2m9x7a", "payments").unwrap();
    assert_eq!(until, expires_at);
    let (checkout_token, _) = agent.token_for("jr-4k2m9x7a", "checkout").unwrap();
    assert!(agent.token_for("jr-4k2m9x7a", "search").is_none());
    for token in [&payments_token, &checkout_token] {
        assert!(issued.iter().any(|issued| issued.token == token.expose()));
    }

    // Kubernetes itself enforces the grant: exec and list pods in its namespace only.
    assert!(env.may_exec(payments_token.expose(), "payments").await);
    assert!(!env.may_exec(payments_token.expose(), "checkout").await);
    assert!(!env.may_exec(payments_token.expose(), "search").await);
    assert!(env.may_exec(checkout_token.expose(), "checkout").await);
    assert_eq!(
        env.list_pods_status(payments_token.expose(), "payments").await,
        200
    );
    assert_eq!(env.list_pods_status(payments_token.expose(), "search").await, 403);
    assert_eq!(env.list_pods_status(checkout_token.expose(), "search").await, 403);

    // The token appears nowhere but the vault: not in the report, not in any object.
    let report_text = serde_json::to_string(&report).unwrap();
    let all_objects =
        serde_json::to_string(&[env.objects("serviceaccounts"), env.objects("secrets")]).unwrap();
    for token in &issued {
        assert!(!report_text.contains(&token.token));
        assert!(!all_objects.contains(&token.token));
    }
    assert!(env.objects("secrets").is_empty());
}

#[tokio::test]
async fn a_repeated_grant_creates_nothing_new_and_an_extension_moves_the_expiry() {
    let env = Env::new().await;
    let agent = env.offline_agent().await;
    let first_end = env.now() + hours(1);
    let grant = spec("jr-aaaabbbb", &["payments", "checkout"], first_end);
    assert_eq!(
        agent
            .handle(&assignment(1, WorkKind::Grant, grant.clone()))
            .await
            .outcome,
        ReportOutcome::Succeeded
    );
    let objects_before = (env.objects("serviceaccounts"), env.objects("rolebindings"));
    let (first_token, _) = agent.token_for("jr-aaaabbbb", "payments").unwrap();

    // The same work again (a re-claimed lease): no create, no change, a fresh token.
    env.kube.clear_request_log();
    assert_eq!(
        agent
            .handle(&assignment(2, WorkKind::Grant, grant.clone()))
            .await
            .outcome,
        ReportOutcome::Succeeded
    );
    assert_eq!(
        (env.objects("serviceaccounts"), env.objects("rolebindings")),
        objects_before
    );
    let writes: Vec<String> = env
        .kube
        .request_log()
        .into_iter()
        .filter(|request| {
            request.status < 300 && ["create", "patch", "update", "delete"].contains(&request.verb.as_str())
        })
        .map(|request| format!("{} {}", request.verb, request.resource))
        .collect();
    assert_eq!(
        writes,
        ["create serviceaccounts/token", "create serviceaccounts/token"]
    );
    let (second_token, _) = agent.token_for("jr-aaaabbbb", "payments").unwrap();
    assert_ne!(first_token, second_token);

    // An extension: same objects, `expires-at` moved, tokens re-minted for the new end.
    env.clock.advance_secs(600);
    let extended_end = first_end + hours(2);
    let extended = spec("jr-aaaabbbb", &["payments", "checkout"], extended_end);
    assert_eq!(
        agent
            .handle(&assignment(3, WorkKind::Grant, extended))
            .await
            .outcome,
        ReportOutcome::Succeeded
    );
    assert_eq!(env.grant_names("serviceaccounts").len(), 2);
    assert_eq!(env.grant_names("rolebindings").len(), 2);
    for kind in ["serviceaccounts", "rolebindings"] {
        for object in env
            .objects(kind)
            .iter()
            .filter(|object| object["metadata"]["name"] == "janus-jr-aaaabbbb")
        {
            assert_eq!(
                object["metadata"]["annotations"][ANNOTATION_EXPIRES_AT],
                "2030-01-01T03:00:00Z"
            );
        }
    }
    let (_, until) = agent.token_for("jr-aaaabbbb", "checkout").unwrap();
    assert_eq!(until, extended_end);
    let latest = env.kube.issued_tokens().pop().unwrap();
    assert_eq!(latest.expires_at, extended_end);
}

#[tokio::test]
async fn a_failure_in_the_second_of_three_namespaces_rolls_back_everything() {
    let env = Env::new().await;
    let agent = env.offline_agent().await;
    env.kube.faults().fail_next(
        RequestMatcher::new("create", "rolebindings").in_namespace("checkout"),
        1,
        500,
    );
    let grant = spec(
        "jr-ccccdddd",
        &["payments", "checkout", "search"],
        env.now() + hours(1),
    );
    env.kube.clear_request_log();
    let report = agent.handle(&assignment(7, WorkKind::Grant, grant)).await;

    let error = failure(report);
    assert!(
        error.starts_with("create rolebinding in checkout: 500 InternalError: "),
        "{error}"
    );
    assert!(
        env.grant_names("serviceaccounts").is_empty(),
        "{:?}",
        env.grant_names("serviceaccounts")
    );
    assert!(env.grant_names("rolebindings").is_empty());
    assert!(agent.vault().is_empty());
    assert!(agent.token_for("jr-ccccdddd", "payments").is_none());

    // Nothing was created in the third namespace, and the rollback deleted the RoleBindings
    // before the ServiceAccounts.
    let log = env.kube.request_log();
    assert!(
        !log.iter()
            .any(|request| request.namespace == "search" && request.verb == "create")
    );
    let deletes: Vec<String> = log
        .iter()
        .filter(|request| request.verb == "delete")
        .map(|request| format!("{} {}", request.resource, request.namespace))
        .collect();
    assert_eq!(
        deletes,
        [
            "rolebindings payments",
            "serviceaccounts checkout",
            "serviceaccounts payments"
        ]
    );
}

#[tokio::test]
async fn a_forbidden_binding_reports_what_kubernetes_said_and_leaves_nothing() {
    let env = Env::new().await;
    // Take `bind` away from the agent: binding janus-exec is now an escalation.
    env.kube
        .apply(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "janus-agent"},
            "rules": [
                {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "create", "patch", "delete"]},
                {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["get", "list", "create", "patch", "delete"]},
            ],
        }))
        .unwrap();
    let agent = env.offline_agent().await;
    let report = agent
        .handle(&assignment(
            1,
            WorkKind::Grant,
            spec("jr-eeeeffff", &["payments"], env.now() + hours(1)),
        ))
        .await;
    let error = failure(report);
    assert!(
        error.contains("rolebindings.rbac.authorization.k8s.io \"janus-jr-eeeeffff\" is forbidden"),
        "{error}"
    );
    assert!(
        error.starts_with("create rolebinding in payments: 403 Forbidden: "),
        "{error}"
    );
    assert!(env.grant_names("serviceaccounts").is_empty());
    assert!(agent.vault().is_empty());
}

#[tokio::test]
async fn an_object_janus_did_not_create_is_neither_adopted_nor_deleted() {
    let env = Env::new().await;
    env.kube
        .apply(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "janus-jr-gggghhhh", "namespace": "checkout"},
        }))
        .unwrap();
    let agent = env.offline_agent().await;
    let report = agent
        .handle(&assignment(
            1,
            WorkKind::Grant,
            spec("jr-gggghhhh", &["payments", "checkout"], env.now() + hours(1)),
        ))
        .await;
    let error = failure(report);
    assert!(
        error.contains("already exists and is not managed by Janus"),
        "{error}"
    );
    // The grant's own objects in payments were rolled back; the foreign one is untouched.
    assert_eq!(env.grant_names("serviceaccounts"), ["checkout/janus-jr-gggghhhh"]);
    assert!(env.grant_names("rolebindings").is_empty());
}

#[tokio::test]
async fn cleanup_deletes_everything_ends_the_tokens_and_may_run_twice() {
    let env = Env::new().await;
    let agent = env.offline_agent().await;
    let grant = spec("jr-iiiijjjj", &["payments", "checkout"], env.now() + hours(1));
    let other = spec("jr-kkkkllll", &["payments"], env.now() + hours(1));
    assert_eq!(
        agent
            .handle(&assignment(1, WorkKind::Grant, grant.clone()))
            .await
            .outcome,
        ReportOutcome::Succeeded
    );
    assert_eq!(
        agent.handle(&assignment(2, WorkKind::Grant, other)).await.outcome,
        ReportOutcome::Succeeded
    );
    let (token, _) = agent.token_for("jr-iiiijjjj", "payments").unwrap();

    env.kube.clear_request_log();
    let report = agent
        .handle(&assignment(3, WorkKind::Cleanup, grant.clone()))
        .await;
    assert_eq!(report.outcome, ReportOutcome::Succeeded, "{report:?}");
    assert_eq!(env.grant_names("serviceaccounts"), ["payments/janus-jr-kkkkllll"]);
    assert_eq!(env.grant_names("rolebindings"), ["payments/janus-jr-kkkkllll"]);
    assert!(agent.token_for("jr-iiiijjjj", "payments").is_none());
    assert!(agent.token_for("jr-kkkkllll", "payments").is_some());
    assert_eq!(env.list_pods_status(token.expose(), "payments").await, 401);

    // RoleBindings went first: authorization ended before the accounts were touched.
    assert_eq!(
        env.deleted_resources(),
        [
            "rolebindings",
            "rolebindings",
            "serviceaccounts",
            "serviceaccounts"
        ]
    );

    let again = agent.handle(&assignment(4, WorkKind::Cleanup, grant)).await;
    assert_eq!(again.outcome, ReportOutcome::Succeeded, "{again:?}");
}

#[tokio::test]
async fn a_failed_cleanup_reports_the_reason_and_a_retry_finishes_it() {
    let env = Env::new().await;
    let agent = env.offline_agent().await;
    let grant = spec("jr-mmmmnnnn", &["payments", "checkout"], env.now() + hours(1));
    assert_eq!(
        agent
            .handle(&assignment(1, WorkKind::Grant, grant.clone()))
            .await
            .outcome,
        ReportOutcome::Succeeded
    );
    env.kube.faults().fail_next(
        RequestMatcher::new("delete", "rolebindings").in_namespace("checkout"),
        1,
        500,
    );
    let report = agent
        .handle(&assignment(2, WorkKind::Cleanup, grant.clone()))
        .await;
    let error = failure(report);
    assert!(
        error.starts_with("delete rolebinding in checkout: 500 "),
        "{error}"
    );
    // Everything else is gone already; the binding that failed is left for the retry.
    assert_eq!(env.grant_names("rolebindings"), ["checkout/janus-jr-mmmmnnnn"]);
    assert!(env.grant_names("serviceaccounts").is_empty());

    let retry = agent.handle(&assignment(3, WorkKind::Cleanup, grant)).await;
    assert_eq!(retry.outcome, ReportOutcome::Succeeded);
    assert!(env.grant_names("rolebindings").is_empty());
}

#[tokio::test]
async fn work_for_another_cluster_or_with_a_bad_id_is_refused_without_touching_kubernetes() {
    let env = Env::new().await;
    let agent = env.offline_agent().await;
    env.kube.clear_request_log();
    let mut foreign = spec("jr-oooopppp", &["payments"], env.now() + hours(1));
    foreign.cluster = "dev".to_owned();
    let report = agent.handle(&assignment(1, WorkKind::Grant, foreign)).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);
    assert!(report.error.unwrap().contains("was sent to the agent of cluster"));

    let sneaky = spec("jr-x,app=other", &["payments"], env.now() + hours(1));
    let report = agent.handle(&assignment(2, WorkKind::Cleanup, sneaky)).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);

    let mut admin = spec("jr-ssssuuuu", &["payments"], env.now() + hours(1));
    admin.cluster_role = "cluster-admin".to_owned();
    let report = agent.handle(&assignment(4, WorkKind::Grant, admin)).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);
    assert!(
        report
            .error
            .unwrap()
            .contains("only binds profile roles named janus-*")
    );

    let ended = spec("jr-qqqqrrrr", &["payments"], env.now());
    let report = agent.handle(&assignment(3, WorkKind::Grant, ended)).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);
    assert!(report.error.unwrap().contains("already ended"));
    assert!(env.kube.request_log().is_empty());
}
