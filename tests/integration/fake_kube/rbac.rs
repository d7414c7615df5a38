//! The RBAC table and the escalation checks, on real requests and SelfSubjectAccessReviews.

use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
use kube::Client;
use kube::api::{Api, AttachParams, ListParams, PostParams};
use serde_json::json;

use super::{Cluster, api_error, created, object};

/// Roles and bindings for the RBAC table (on top of the example seed).
const RBAC_SEED: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: payments}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads-pods, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-exec, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: janus-exec}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: bob}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: namespace-viewer}
rules:
  - {apiGroups: [""], resources: [namespaces], verbs: [list, watch]}
  - {apiGroups: [""], resources: [pods], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: carol-views}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: namespace-viewer}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: carol}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: web-only, namespace: payments}
rules: [{apiGroups: [""], resources: [pods], resourceNames: [web-1], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dave-web-only, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web-only}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: dave}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: apps-pods, namespace: payments}
rules: [{apiGroups: [apps], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: erin-apps-pods, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: apps-pods}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: erin}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: everything, namespace: checkout}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: frank-everything, namespace: checkout}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: everything}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: frank}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: oncall-exec, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: janus-exec}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: oncall}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ci-reads-pods, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects: [{kind: ServiceAccount, name: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: exec-create-only, namespace: payments}
rules: [{apiGroups: [""], resources: [pods/exec], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: judy-exec-create-only, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: exec-create-only}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: judy}]
"#;

async fn can(client: &Client, verb: &str, resource: &str, namespace: &str, name: &str) -> bool {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    let group = if matches!(
        resource,
        "rolebindings" | "roles" | "clusterroles" | "clusterrolebindings"
    ) {
        "rbac.authorization.k8s.io"
    } else {
        ""
    };
    let review: SelfSubjectAccessReview = object(json!({"spec": {"resourceAttributes": {
        "verb": verb, "group": group, "resource": resource, "subresource": subresource,
        "namespace": namespace, "name": name,
    }}}));
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    created(&reviews, &review).await.status.unwrap().allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_decides_as_a_real_cluster_would() {
    let cluster = Cluster::start().await;
    cluster.kube.seed_yaml(RBAC_SEED).unwrap();
    for user in ["alice", "bob", "carol", "dave", "erin", "frank", "judy"] {
        cluster.kube.add_token(user, user, &[]);
    }
    cluster.kube.add_token("grace", "grace", &["oncall"]);
    cluster
        .kube
        .add_token("ci", "system:serviceaccount:payments:ci", &[]);
    cluster
        .kube
        .add_token("other-ci", "system:serviceaccount:checkout:ci", &[]);
    #[rustfmt::skip]
    let table: &[(&str, &str, &str, &str, &str, bool, &str)] = &[
        ("alice", "get", "pods", "payments", "web-1", true, "a Role grants in its namespace"),
        ("alice", "list", "pods", "payments", "", true, "list is its own verb"),
        ("alice", "get", "pods", "checkout", "web-1", false, "a Role grants nothing elsewhere"),
        ("alice", "delete", "pods", "payments", "web-1", false, "verb mismatch"),
        ("alice", "create", "pods/exec", "payments", "web-1", false, "pods does not grant pods/exec"),
        ("alice", "get", "pods/log", "payments", "web-1", false, "pods does not grant pods/log"),
        ("bob", "create", "pods/exec", "payments", "web-1", true, "ClusterRole through a RoleBinding"),
        ("bob", "get", "pods/log", "payments", "web-1", true, "janus-exec grants logs"),
        ("bob", "create", "pods/exec", "checkout", "cart-1", false, "only in the RoleBinding's namespace"),
        ("bob", "list", "pods", "", "", false, "not cluster-wide"),
        ("bob", "delete", "pods", "payments", "web-1", false, "janus-exec cannot delete"),
        ("carol", "get", "pods", "checkout", "cart-1", true, "ClusterRoleBinding grants everywhere"),
        ("carol", "list", "namespaces", "", "", true, "cluster-scoped resource"),
        ("carol", "list", "pods", "payments", "", false, "verb not granted"),
        ("dave", "get", "pods", "payments", "web-1", true, "resourceNames match"),
        ("dave", "get", "pods", "payments", "worker-1", false, "resourceNames exclude others"),
        ("dave", "list", "pods", "payments", "", false, "resourceNames never grant list"),
        ("erin", "get", "pods", "payments", "web-1", false, "apiGroup mismatch"),
        ("frank", "delete", "secrets", "checkout", "db", true, "wildcards"),
        ("frank", "create", "pods/exec", "checkout", "cart-1", true, "* covers subresources"),
        ("frank", "get", "pods", "payments", "web-1", false, "wildcards stay in the namespace"),
        ("grace", "create", "pods/exec", "payments", "web-1", true, "Group subject"),
        ("ci", "list", "pods", "payments", "", true, "ServiceAccount subject defaults to the binding namespace"),
        ("other-ci", "list", "pods", "payments", "", false, "same name, other namespace"),
        ("agent", "bind", "clusterroles", "payments", "janus-exec", true, "the agent may bind janus-exec"),
        ("agent", "bind", "clusterroles", "payments", "cluster-admin", false, "but nothing else"),
        ("agent", "create", "serviceaccounts/token", "payments", "x", true, "the agent mints tokens"),
        ("agent", "get", "secrets", "payments", "x", false, "the agent reads no secrets"),
        ("admin", "delete", "namespaces", "", "payments", true, "system:masters"),
    ];
    for (user, verb, resource, namespace, name, expected, why) in table {
        let client = cluster.client(user);
        assert_eq!(
            can(&client, verb, resource, namespace, name).await,
            *expected,
            "{user} {verb} {resource} {namespace}/{name}: {why}"
        );
    }

    // The same decisions on real requests, with the real refusal.
    let alice_pods: Api<Pod> = cluster.api("alice", "payments");
    assert_eq!(
        alice_pods.get("web-1").await.unwrap().metadata.name.as_deref(),
        Some("web-1")
    );
    let (reason, code, message) = api_error(
        cluster
            .api::<Pod>("alice", "checkout")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!((reason.as_str(), code), ("Forbidden", 403));
    assert_eq!(
        message,
        "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"checkout\""
    );
    let (reason, code, message) =
        api_error(alice_pods.exec("web-1", ["true"], &AttachParams::default()).await);
    assert_eq!((reason.as_str(), code), ("Forbidden", 403));
    assert_eq!(
        message,
        "pods \"web-1\" is forbidden: User \"alice\" cannot get resource \"pods/exec\" in API group \"\" in the namespace \"payments\""
    );
    // A WebSocket exec is a GET: it needs `get` on pods/exec as well as `create`.
    let judy_pods: Api<Pod> = cluster.api("judy", "payments");
    let (_, code, message) = api_error(judy_pods.exec("web-1", ["true"], &AttachParams::default()).await);
    assert_eq!(code, 403);
    assert!(message.contains("cannot get resource \"pods/exec\""), "{message}");
    let (_, code, _) = api_error(cluster.api::<Pod>("erin", "payments").get("web-1").await);
    assert_eq!(code, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_and_roles_cannot_escalate() {
    let cluster = Cluster::start().await;
    cluster.kube.seed_yaml(RBAC_SEED).unwrap();
    cluster
        .kube
        .seed_yaml(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: binding-writer, namespace: payments}
rules:
  - {apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings, roles], verbs: [create]}
  - {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: heidi-writes-bindings, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: binding-writer}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: heidi}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: role-escalator, namespace: payments}
rules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [create, escalate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ivan-escalates, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-escalator}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: ivan}]
"#,
        )
        .unwrap();
    cluster.kube.add_token("heidi", "heidi", &[]);
    cluster.kube.add_token("ivan", "ivan", &[]);
    let binding = |name: &str, kind: &str, role: &str| -> RoleBinding {
        object(json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "payments"}],
        }))
    };
    let post = PostParams::default();

    // The agent holds `bind` on janus-exec only.
    let agent_bindings: Api<RoleBinding> = cluster.api("agent", "payments");
    agent_bindings
        .create(&post, &binding("janus-jr-1", "ClusterRole", "janus-exec"))
        .await
        .unwrap();
    let (reason, code, message) = api_error(
        agent_bindings
            .create(&post, &binding("janus-jr-2", "ClusterRole", "cluster-admin"))
            .await,
    );
    assert_eq!((reason.as_str(), code), ("Forbidden", 403));
    assert_eq!(
        message,
        "rolebindings.rbac.authorization.k8s.io \"janus-jr-2\" is forbidden: user \"system:serviceaccount:janus:janus-agent\" \
         (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}\n{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}"
    );
    let agent_cluster_bindings: Api<ClusterRoleBinding> = Api::all(cluster.client("agent"));
    let cluster_binding: ClusterRoleBinding = object(json!({
        "metadata": {"name": "sneaky"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "janus-exec"},
    }));
    assert_eq!(
        api_error(agent_cluster_bindings.create(&post, &cluster_binding).await).1,
        403
    );

    // Without `bind`, a binding is allowed only to a role whose permissions one holds.
    let heidi_bindings: Api<RoleBinding> = cluster.api("heidi", "payments");
    let (reason, _, message) = api_error(
        heidi_bindings
            .create(&post, &binding("heidi-exec", "ClusterRole", "janus-exec"))
            .await,
    );
    assert_eq!(reason, "Forbidden");
    assert!(
        message.contains("Resources:[\"pods/exec\"], Verbs:[\"create\" \"get\"]"),
        "{message}"
    );
    heidi_bindings
        .create(&post, &binding("heidi-reader", "Role", "pod-reader"))
        .await
        .unwrap();
    let (reason, code, _) = api_error(
        heidi_bindings
            .create(&post, &binding("missing", "Role", "no-such-role"))
            .await,
    );
    assert_eq!((reason.as_str(), code), ("NotFound", 404));

    // Roles: `escalate`, or hold every permission in them.
    let secret_reader = |name: &str| -> Role {
        object(
            json!({"metadata": {"name": name}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
        )
    };
    let heidi_roles: Api<Role> = cluster.api("heidi", "payments");
    assert_eq!(
        api_error(heidi_roles.create(&post, &secret_reader("secrets")).await).0,
        "Forbidden"
    );
    let pod_getter: Role = object(
        json!({"metadata": {"name": "getter"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    );
    heidi_roles.create(&post, &pod_getter).await.unwrap();
    let ivan_roles: Api<Role> = cluster.api("ivan", "payments");
    ivan_roles.create(&post, &secret_reader("secrets")).await.unwrap();

    // A binding's roleRef cannot change.
    let mut moved = agent_bindings.get("janus-jr-1").await.unwrap();
    moved.role_ref.name = "cluster-admin".into();
    let (reason, code, _) = api_error(
        cluster
            .api::<RoleBinding>("admin", "payments")
            .replace("janus-jr-1", &PostParams::default(), &moved)
            .await,
    );
    assert_eq!((reason.as_str(), code), ("Invalid", 422));
}
