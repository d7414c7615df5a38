//! The fake Kubernetes API server, driven through the real `kube` client: if kube-rs accepts
//! every answer (objects, lists, watch events, `Status` errors, TokenRequest, exec frames),
//! the wire format is right; the RBAC table holds what a real cluster would decide.

use std::sync::Arc;

use futures::{AsyncBufReadExt as _, StreamExt as _, TryStreamExt as _};
use janus_core::clock::{Clock, ManualClock};
use janus_fixtures::kube::{FakeKube, RequestMatcher};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenReview};
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
use kube::api::{
    Api, AttachParams, DeleteParams, ListParams, LogParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Client, Config};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::install_crypto;

const EXAMPLE_SEED: &str = include_str!("../../fixtures/kube/example-seed.yaml");

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

struct Cluster {
    kube: FakeKube,
    clock: ManualClock,
}

impl Cluster {
    /// The example seed, an admin (`admin`, in system:masters) and the agent (`agent`).
    async fn start() -> Cluster {
        install_crypto();
        let clock = ManualClock::at_epoch();
        let kube = FakeKube::builder()
            .clock(Arc::new(clock.clone()))
            .start()
            .await
            .unwrap();
        kube.seed_yaml(EXAMPLE_SEED).unwrap();
        kube.add_token("admin", "admin", &["system:masters"]);
        kube.add_token("agent", "system:serviceaccount:janus:janus-agent", &[]);
        Cluster { kube, clock }
    }

    fn client(&self, token: &str) -> Client {
        let mut config = Config::new(self.kube.url().parse().unwrap());
        config.default_namespace = "default".into();
        config.auth_info.token = Some(token.to_string().into());
        Client::try_from(config).unwrap()
    }

    fn anonymous(&self) -> Client {
        Client::try_from(Config::new(self.kube.url().parse().unwrap())).unwrap()
    }

    fn api<K>(&self, token: &str, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client(token), namespace)
    }
}

fn object<K: DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).unwrap()
}

/// The reason, code and message of the `Status` an API call failed with.
fn api_error<T>(result: Result<T, kube::Error>) -> (String, u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.reason.clone(), status.code, status.message.clone()),
        Err(other) => panic!("expected a Kubernetes API error, got {other:?}"),
        Ok(_) => panic!("expected a Kubernetes API error, got success"),
    }
}

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
    reviews
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
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

fn token_request(seconds: i64, audiences: Option<Vec<&str>>) -> TokenRequest {
    object(json!({"spec": {
        "expirationSeconds": seconds,
        "audiences": audiences.map(|a| a.into_iter().map(str::to_string).collect::<Vec<_>>()),
    }}))
}

/// What a grant creates (DESIGN §5.3), through the agent's own credentials.
async fn grant(cluster: &Cluster, namespace: &str, name: &str) {
    let post = PostParams::default();
    let account: ServiceAccount = object(json!({
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "janus", "janus.dev/request": name}},
        "automountServiceAccountToken": false,
    }));
    cluster
        .api::<ServiceAccount>("agent", namespace)
        .create(&post, &account)
        .await
        .unwrap();
    let binding: RoleBinding = object(json!({
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "janus"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "janus-exec"},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }));
    cluster
        .api::<RoleBinding>("agent", namespace)
        .create(&post, &binding)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_carry_the_service_account_and_expire() {
    let cluster = Cluster::start().await;
    grant(&cluster, "payments", "janus-jr-abc").await;
    let accounts: Api<ServiceAccount> = cluster.api("agent", "payments");
    let post = PostParams::default();

    let (reason, code, message) = api_error(
        accounts
            .create_token_request("janus-jr-abc", &post, &token_request(599, None))
            .await,
    );
    assert_eq!((reason.as_str(), code), ("Invalid", 422));
    assert!(
        message.contains("may not specify a duration less than 10 minutes"),
        "{message}"
    );

    let issued = accounts
        .create_token_request("janus-jr-abc", &post, &token_request(900, None))
        .await
        .unwrap();
    let status = issued.status.unwrap();
    let token = status.token.unwrap();
    let expires = status.expiration_timestamp.unwrap().0.as_second();
    assert_eq!(expires, cluster.clock.now().timestamp() + 900);
    assert_eq!(
        issued.spec.unwrap().audiences.unwrap(),
        vec![cluster.kube.issuer()]
    );
    let recorded = cluster.kube.issued_tokens();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (
            recorded[0].namespace.as_str(),
            recorded[0].service_account.as_str()
        ),
        ("payments", "janus-jr-abc")
    );
    assert_eq!(recorded[0].expires_at.timestamp(), expires);

    // Good for what the binding grants, and nothing else.
    let pods: Api<Pod> = cluster.api(&token, "payments");
    assert_eq!(pods.list(&ListParams::default()).await.unwrap().items.len(), 2);
    let (reason, _, message) = api_error(
        cluster
            .api::<Pod>(&token, "checkout")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(reason, "Forbidden");
    assert_eq!(
        message,
        "pods is forbidden: User \"system:serviceaccount:payments:janus-jr-abc\" cannot list resource \"pods\" in API group \"\" in the namespace \"checkout\""
    );
    assert_eq!(
        api_error(cluster.api::<Secret>(&token, "payments").get("db").await).1,
        403
    );

    // Expiry (after the API server's 60 s leeway) turns it into 401.
    cluster.clock.advance_secs(900 + 60);
    pods.get("web-1").await.unwrap();
    cluster.clock.advance_secs(1);
    let (reason, code, _) = api_error(pods.get("web-1").await);
    assert_eq!((reason.as_str(), code), ("Unauthorized", 401));

    // Deleting the ServiceAccount invalidates its tokens, also when it is recreated.
    let fresh = accounts
        .create_token_request("janus-jr-abc", &post, &token_request(3600, None))
        .await
        .unwrap();
    let fresh = fresh.status.unwrap().token.unwrap();
    let fresh_pods: Api<Pod> = cluster.api(&fresh, "payments");
    fresh_pods.get("web-1").await.unwrap();
    accounts
        .delete("janus-jr-abc", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(fresh_pods.get("web-1").await).1, 401);
    accounts
        .create(&post, &object(json!({"metadata": {"name": "janus-jr-abc"}})))
        .await
        .unwrap();
    assert_eq!(api_error(fresh_pods.get("web-1").await).1, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_review_and_jwks_verify_issued_tokens() {
    let cluster = Cluster::start().await;
    let accounts: Api<ServiceAccount> = cluster.api("admin", "janus");
    let issued = accounts
        .create_token_request(
            "janus-agent",
            &PostParams::default(),
            &token_request(3600, Some(vec!["janus"])),
        )
        .await
        .unwrap();
    let token = issued.status.unwrap().token.unwrap();
    let reviews: Api<TokenReview> = Api::all(cluster.client("admin"));
    let review = |audiences: Option<Vec<&str>>| -> TokenReview {
        object(json!({"spec": {"token": token, "audiences": audiences}}))
    };

    let answer = reviews
        .create(&PostParams::default(), &review(Some(vec!["janus"])))
        .await
        .unwrap();
    let status = answer.status.unwrap();
    assert_eq!(status.authenticated, Some(true));
    assert_eq!(status.audiences.unwrap(), vec!["janus"]);
    let user = status.user.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:janus:janus-agent")
    );
    assert_eq!(
        user.groups.unwrap(),
        vec![
            "system:serviceaccounts",
            "system:serviceaccounts:janus",
            "system:authenticated"
        ]
    );
    let other = reviews
        .create(&PostParams::default(), &review(Some(vec!["elsewhere"])))
        .await
        .unwrap();
    let other = other.status.unwrap();
    assert_ne!(other.authenticated, Some(true));
    assert!(other.error.unwrap().contains("invalid for the target audiences"));
    // A token for audience `janus` is not good for the API server itself.
    assert_ne!(
        reviews
            .create(&PostParams::default(), &review(None))
            .await
            .unwrap()
            .status
            .unwrap()
            .authenticated,
        Some(true)
    );
    assert_eq!(
        api_error(
            cluster
                .api::<Pod>(&token, "janus")
                .list(&ListParams::default())
                .await
        )
        .1,
        401
    );

    // Verify the JWT as central would: OIDC discovery, JWKS, signature and claims.
    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(format!("{}/.well-known/openid-configuration", cluster.kube.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], cluster.kube.issuer());
    let jwks: JwkSet = http
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["janus"]);
    validation.set_issuer(&[cluster.kube.issuer()]);
    validation.validate_exp = false; // checked below against the fake's clock
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "system:serviceaccount:janus:janus-agent");
    assert_eq!(
        claims["exp"].as_i64().unwrap(),
        cluster.clock.now().timestamp() + 3600
    );
    let account = cluster
        .kube
        .object("ServiceAccount", Some("janus"), "janus-agent")
        .unwrap();
    assert_eq!(
        claims["kubernetes.io"],
        json!({"namespace": "janus", "serviceaccount": {"name": "janus-agent", "uid": account["metadata"]["uid"]}})
    );
}

/// Runs a command without a terminal; returns stdout and the final status.
async fn run(
    pods: &Api<Pod>,
    pod: &str,
    command: &[&str],
) -> (String, k8s_openapi::apimachinery::pkg::apis::meta::v1::Status) {
    let parameters = AttachParams::default().stdin(true).stdout(true).stderr(false);
    let mut attached = pods.exec(pod, command.to_vec(), &parameters).await.unwrap();
    drop(attached.stdin());
    let mut stdout = attached.stdout().unwrap();
    let status = attached.take_status().unwrap();
    let mut output = String::new();
    stdout.read_to_string(&mut output).await.unwrap();
    let status = status.await.unwrap();
    attached.join().await.unwrap();
    (output, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_a_real_shell_per_pod() {
    let cluster = Cluster::start().await;
    eprintln!("STEP 1");
    grant(&cluster, "payments", "janus-jr-exec").await;
    eprintln!("STEP 2");
    let issued = cluster
        .api::<ServiceAccount>("agent", "payments")
        .create_token_request(
            "janus-jr-exec",
            &PostParams::default(),
            &token_request(3600, None),
        )
        .await
        .unwrap();
    let token = issued.status.unwrap().token.unwrap();
    eprintln!("STEP 3");
    let pods: Api<Pod> = cluster.api(&token, "payments");
    eprintln!("STEP 4");

    let (output, status) = run(&pods, "web-1", &["echo", "ok"]).await;
    eprintln!("STEP 5");
    assert_eq!(
        (output.as_str(), status.status.as_deref()),
        ("ok\n", Some("Success"))
    );
    eprintln!("STEP 6");
    let (output, _) = run(&pods, "web-1", &["sh", "-c", "echo $((1+2))"]).await;
    eprintln!("STEP 7");
    assert_eq!(output, "3\n");
    eprintln!("STEP 8");
    let (_, status) = run(&pods, "web-1", &["sh", "-c", "exit 3"]).await;
    eprintln!("STEP 9");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    eprintln!("STEP 10");
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    eprintln!("STEP 11");
    let cause = &status.details.unwrap().causes.unwrap()[0];
    eprintln!("STEP 12");
    assert_eq!(
        (cause.reason.as_deref(), cause.message.as_deref()),
        (Some("ExitCode"), Some("3"))
    );
    eprintln!("STEP 13");

    // The pod's scratch directory keeps state between sessions, and pods do not share it.
    run(&pods, "web-1", &["touch", "f"]).await;
    eprintln!("STEP 14");
    assert_eq!(run(&pods, "web-1", &["ls"]).await.0, "f\n");
    eprintln!("STEP 15");
    let checkout: Api<Pod> = cluster.api("admin", "checkout");
    eprintln!("STEP 16");
    assert_eq!(run(&checkout, "cart-1", &["ls"]).await.0, "");
    eprintln!("STEP 17");
    assert!(cluster.kube.scratch_dir("payments", "web-1").join("f").exists());
    eprintln!("STEP 18");

    // stdin reaches the process; closing it (v5 close frame) ends `cat`.
    let mut attached = pods
        .exec(
            "web-1",
            ["cat"],
            &AttachParams::default().stdin(true).stdout(true).stderr(false),
        )
        .await
        .unwrap();
    let mut stdin = attached.stdin().unwrap();
    eprintln!("STEP 19");
    stdin.write_all(b"hello\n").await.unwrap();
    eprintln!("STEP 20");
    drop(stdin);
    eprintln!("STEP 21");
    let mut output = String::new();
    eprintln!("STEP 22");
    attached
        .stdout()
        .unwrap()
        .read_to_string(&mut output)
        .await
        .unwrap();
    assert_eq!(output, "hello\n");
    eprintln!("STEP 23");

    // With a TTY the shell is interactive: a prompt, echoed input, the exit code.
    let mut shell = pods
        .exec("web-1", ["sh"], &AttachParams::interactive_tty())
        .await
        .unwrap();
    let mut stdin = shell.stdin().unwrap();
    eprintln!("STEP 24");
    let mut stdout = shell.stdout().unwrap();
    eprintln!("STEP 25");
    let status = shell.take_status().unwrap();
    eprintln!("STEP 26");
    stdin.write_all(b"echo $((6*7))\nexit 5\n").await.unwrap();
    eprintln!("STEP 27");
    let mut output = String::new();
    eprintln!("STEP 28");
    stdout.read_to_string(&mut output).await.unwrap();
    eprintln!("STEP 29");
    assert!(output.contains("42"), "{output:?}");
    eprintln!("STEP 30");
    assert!(
        output.contains("$ ") || output.contains("# "),
        "no prompt in {output:?}"
    );
    eprintln!("STEP 31");
    let cause = &status.await.unwrap().details.unwrap().causes.unwrap()[0];
    eprintln!("STEP 32");
    assert_eq!(cause.message.as_deref(), Some("5"));
    eprintln!("STEP 33");

    // Refusals: an unknown container, a missing pod, a pod outside the grant.
    let (reason, code, message) = api_error(pods.exec("worker-1", ["true"], &AttachParams::default()).await);
    eprintln!("STEP 34");
    assert_eq!((reason.as_str(), code), ("BadRequest", 400));
    eprintln!("STEP 35");
    assert_eq!(
        message,
        "a container name must be specified for pod worker-1, choose one of: [worker sidecar]"
    );
    eprintln!("STEP 36");
    assert_eq!(
        api_error(pods.exec("nope", ["true"], &AttachParams::default()).await).0,
        "NotFound"
    );
    eprintln!("STEP 37");
    let elsewhere: Api<Pod> = cluster.api(&token, "checkout");
    eprintln!("STEP 38");
    assert_eq!(
        api_error(elsewhere.exec("cart-1", ["true"], &AttachParams::default()).await).1,
        403
    );
    eprintln!("STEP 39");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_events_and_namespace_watches() {
    let cluster = Cluster::start().await;
    let kube = &cluster.kube;
    kube.append_log("payments", "web-1", "app", "line 1\nline 2\nline 3");
    let pods: Api<Pod> = cluster.api("admin", "payments");
    let tail = LogParams {
        tail_lines: Some(2),
        ..LogParams::default()
    };
    assert_eq!(pods.logs("web-1", &tail).await.unwrap(), "line 2\nline 3\n");
    assert_eq!(
        api_error(pods.logs("worker-1", &LogParams::default()).await).0,
        "BadRequest"
    );
    let sidecar = LogParams {
        container: Some("sidecar".into()),
        ..LogParams::default()
    };
    assert_eq!(pods.logs("worker-1", &sidecar).await.unwrap(), "");

    let follow = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let mut lines = pods.log_stream("web-1", &follow).await.unwrap().lines();
    for expected in ["line 1", "line 2", "line 3"] {
        assert_eq!(lines.try_next().await.unwrap().as_deref(), Some(expected));
    }
    kube.append_log("payments", "web-1", "app", "line 4");
    assert_eq!(lines.try_next().await.unwrap().as_deref(), Some("line 4"));
    drop(lines);

    kube.add_event(
        "payments",
        "Pod",
        "web-1",
        "Warning",
        "BackOff",
        "Back-off restarting failed container",
    )
    .unwrap();
    kube.add_event(
        "payments",
        "Pod",
        "worker-1",
        "Normal",
        "Pulled",
        "Container image pulled",
    )
    .unwrap();
    let events: Api<Event> = cluster.api("admin", "payments");
    let about_web = ListParams::default().fields("involvedObject.name=web-1");
    let listed = events.list(&about_web).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].reason.as_deref(), Some("BackOff"));
    assert_eq!(events.list(&ListParams::default()).await.unwrap().items.len(), 2);
    assert_eq!(
        api_error(events.list(&ListParams::default().fields("spec.nope=1")).await).0,
        "BadRequest"
    );

    // The agent lists namespaces and watches from the list's resourceVersion.
    let namespaces: Api<Namespace> = Api::all(cluster.client("agent"));
    let list = namespaces.list(&ListParams::default()).await.unwrap();
    let names: Vec<String> = list
        .items
        .iter()
        .filter_map(|ns| ns.metadata.name.clone())
        .collect();
    for expected in ["checkout", "default", "janus", "kube-system", "payments"] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }
    let version = list.metadata.resource_version.unwrap();
    let mut watch = namespaces
        .watch(&WatchParams::default(), &version)
        .await
        .unwrap()
        .boxed();
    kube.add_namespace("new-team").unwrap();
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Added(namespace)) => {
            assert_eq!(namespace.metadata.name.as_deref(), Some("new-team"))
        }
        other => panic!("expected ADDED new-team, got {other:?}"),
    }
    kube.delete("Namespace", None, "new-team").unwrap();
    assert!(matches!(
        watch.try_next().await.unwrap(),
        Some(WatchEvent::Deleted(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_status_objects() {
    let cluster = Cluster::start().await;
    let post = PostParams::default();
    let accounts: Api<ServiceAccount> = cluster.api("agent", "payments");

    let (reason, code, message) = api_error(accounts.get("janus-x").await);
    assert_eq!(
        (reason.as_str(), code, message.as_str()),
        ("NotFound", 404, "serviceaccounts \"janus-x\" not found")
    );
    let labelled = |name: &str| -> ServiceAccount {
        object(json!({"metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "janus"}}}))
    };
    accounts.create(&post, &labelled("janus-x")).await.unwrap();
    let (reason, code, _) = api_error(accounts.create(&post, &labelled("janus-x")).await);
    assert_eq!((reason.as_str(), code), ("AlreadyExists", 409));
    let (reason, code, message) = api_error(
        cluster
            .api::<ServiceAccount>("agent", "nope")
            .create(&post, &labelled("a"))
            .await,
    );
    assert_eq!(
        (reason.as_str(), code, message.as_str()),
        ("NotFound", 404, "namespaces \"nope\" not found")
    );
    let (reason, code, _) = api_error(
        cluster
            .api::<ServiceAccount>("nobody", "payments")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!((reason.as_str(), code), ("Unauthorized", 401));
    let (reason, code, _) = api_error(
        Api::<Pod>::namespaced(cluster.anonymous(), "payments")
            .list(&ListParams::default())
            .await,
    );
    assert_eq!((reason.as_str(), code), ("Unauthorized", 401));

    // Label selectors, deletes returning the object or a Status, deletecollection.
    accounts.create(&post, &labelled("janus-y")).await.unwrap();
    accounts
        .create(&post, &object(json!({"metadata": {"name": "unmanaged"}})))
        .await
        .unwrap();
    let managed = ListParams::default().labels("app.kubernetes.io/managed-by=janus");
    assert_eq!(accounts.list(&managed).await.unwrap().items.len(), 2);
    let unmanaged = ListParams::default().labels("!app.kubernetes.io/managed-by");
    assert_eq!(accounts.list(&unmanaged).await.unwrap().items.len(), 1);
    let deleted = accounts
        .delete("janus-x", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(deleted.left().unwrap().metadata.name.as_deref(), Some("janus-x"));
    grant(&cluster, "payments", "janus-jr-z").await;
    let bindings: Api<RoleBinding> = cluster.api("agent", "payments");
    let status = bindings
        .delete("janus-jr-z", &DeleteParams::default())
        .await
        .unwrap()
        .right()
        .unwrap();
    assert_eq!(status.status, Some(kube::core::response::StatusSummary::Success));
    assert_eq!(
        api_error(bindings.delete("janus-jr-z", &DeleteParams::default()).await).0,
        "NotFound"
    );
    let removed = cluster
        .api::<ServiceAccount>("admin", "payments")
        .delete_collection(&DeleteParams::default(), &managed)
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(removed.items.len(), 2);
    assert_eq!(accounts.list(&managed).await.unwrap().items.len(), 0);

    // Discovery answers what kube-rs (and kubectl) ask.
    let admin = cluster.client("admin");
    assert_eq!(admin.apiserver_version().await.unwrap().git_version, "v1.35.0");
    let core = admin.list_core_api_resources("v1").await.unwrap();
    assert!(core.resources.iter().any(|resource| resource.name == "pods/exec"));
    let groups = admin.list_api_groups().await.unwrap();
    assert!(
        groups
            .groups
            .iter()
            .any(|group| group.name == "rbac.authorization.k8s.io")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_fail_requests_and_take_the_server_down() {
    let cluster = Cluster::start().await;
    let post = PostParams::default();
    cluster
        .kube
        .faults()
        .fail_next(RequestMatcher::new("create", "rolebindings"), 1, 500);
    let binding = |name: &str| -> RoleBinding {
        object(json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "janus-exec"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "payments"}],
        }))
    };
    let bindings: Api<RoleBinding> = cluster.api("agent", "payments");
    let (reason, code, _) = api_error(bindings.create(&post, &binding("janus-jr-f")).await);
    assert_eq!((reason.as_str(), code), ("InternalError", 500));
    assert!(
        cluster
            .kube
            .object("RoleBinding", Some("payments"), "janus-jr-f")
            .is_none()
    );
    bindings.create(&post, &binding("janus-jr-f")).await.unwrap();

    let pods: Api<Pod> = cluster.api("agent", "payments");
    cluster.kube.faults().go_down();
    let error = pods.list(&ListParams::default()).await.unwrap_err();
    assert!(
        !matches!(error, kube::Error::Api(_)),
        "a down server answers nothing, got {error:?}"
    );
    cluster.kube.faults().come_back();
    let namespaces: Api<Namespace> = Api::all(cluster.client("agent"));
    namespaces.list(&ListParams::default()).await.unwrap();

    let log = cluster.kube.request_log();
    let failed = log
        .iter()
        .filter(|request| request.verb == "create" && request.resource == "rolebindings")
        .map(|request| request.status)
        .collect::<Vec<_>>();
    assert_eq!(failed, vec![500, 201]);
    assert!(log.iter().all(|request| !request.uri.contains("Bearer")));
}
