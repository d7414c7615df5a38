//! The Helm chart (`charts/janus`), rendered by a real helm (`JANUS_HELM`):
//! - every manifest of every `ci/*.yaml` values file parses into its k8s-openapi type and serializes
//!   back to the same JSON (nothing unknown, nothing dropped);
//! - the configuration the chart renders is accepted by Janus's own loader, and every file it names is
//!   mounted;
//! - workloads are hardened, and no role reads Secrets, escalates or uses wildcards;
//! - every `ci/invalid/*.yaml` values file is refused, naming the problem (`# expect:` line);
//! - the chart's agent RBAC is the agent's identity in the end-to-end journey (grant → exec → extend →
//!   expire) against the fake API server, and every rule of it is needed: without it some step gets a 403.
//!
//! Without `JANUS_HELM` these tests are skipped with a note, unless `JANUS_REQUIRE_HELM=1` (as `.ci/run`
//! sets), which turns a missing helm into a failure. `charts/janus/ci/check.sh` installs helm and prints
//! its path.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use janus_core::config::Config;
use janus_core::domain::{AccessRequest, Command, CredentialsStatus, RequestState};
use janus_core::scheduler::Scheduler;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::support::TestApp;
use crate::support::agent_client::ENROLLMENT;
use crate::support::cluster::is_rbac;

const RELEASE: &str = "janus";
const NAMESPACE: &str = "janus";

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/janus")
}

/// The helm binary named by `JANUS_HELM`; `None` (with a note) when unset and not required.
fn helm() -> Option<PathBuf> {
    let required = std::env::var("JANUS_REQUIRE_HELM").is_ok_and(|value| value == "1" || value == "true");
    match std::env::var_os("JANUS_HELM").filter(|path| !path.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "JANUS_HELM={} is not a file", path.display());
            Some(path)
        }
        None if required => panic!(
            "JANUS_REQUIRE_HELM is set but JANUS_HELM is not: run charts/janus/ci/check.sh and export \
             JANUS_HELM=<the path it prints>"
        ),
        None => {
            eprintln!(
                "JANUS_HELM is not set; skipping a chart test (charts/janus/ci/check.sh installs helm and \
                 prints its path)"
            );
            None
        }
    }
}

/// Values files in `dir` of the chart, sorted.
fn values_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart_dir().join(dir))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no values files in charts/janus/{dir}");
    files
}

/// `helm template` with a values file: the objects, or helm's stderr.
fn render(helm: &Path, values: &Path) -> Result<Vec<Value>, String> {
    let output = std::process::Command::new(helm)
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--namespace", NAMESPACE, "-f"])
        .arg(values)
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8(output.stdout).unwrap();
    Ok(serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            use serde::Deserialize as _;
            Value::deserialize(document).unwrap()
        })
        .filter(|object| !object.is_null())
        .collect())
}

fn render_ok(helm: &Path, values: &Path) -> Vec<Value> {
    render(helm, values).unwrap_or_else(|error| panic!("helm template -f {}: {error}", values.display()))
}

fn name(values: &Path) -> String {
    values.file_name().unwrap().to_string_lossy().into_owned()
}

fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

fn typed<K: DeserializeOwned>(object: &Value) -> K {
    serde_json::from_value(object.clone()).unwrap()
}

/// Drops nulls, empty lists and empty maps, which a round trip may add or leave out.
fn normalize(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Array(items) => {
            let items: Vec<Value> = items.iter().filter_map(normalize).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(map) => {
            let map: serde_json::Map<String, Value> = map
                .iter()
                .filter_map(|(key, value)| normalize(value).map(|value| (key.clone(), value)))
                .collect();
            (!map.is_empty()).then_some(Value::Object(map))
        }
        other => Some(other.clone()),
    }
}

/// The paths where `original` and `back` differ.
fn differences(path: &str, original: Option<&Value>, back: Option<&Value>, out: &mut Vec<String>) {
    match (original, back) {
        (Some(Value::Object(left)), Some(Value::Object(right))) => {
            let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
            for key in keys {
                differences(&format!("{path}.{key}"), left.get(key), right.get(key), out);
            }
        }
        (Some(Value::Array(left)), Some(Value::Array(right))) if left.len() == right.len() => {
            for (index, (left, right)) in left.iter().zip(right).enumerate() {
                differences(&format!("{path}[{index}]"), Some(left), Some(right), out);
            }
        }
        (Some(left), Some(right)) if left == right => {}
        (Some(_), None) => out.push(format!("{path}: unknown to the type (dropped)")),
        (None, Some(_)) => out.push(format!("{path}: added by the type")),
        (left, right) => out.push(format!("{path}: {left:?} became {right:?}")),
    }
}

/// Parses `object` as `K` and serializes it back; any difference is an unknown or misspelt field.
fn round_trip<K: DeserializeOwned + Serialize>(object: &Value) -> Result<(), String> {
    let parsed: K = serde_json::from_value(object.clone()).map_err(|error| error.to_string())?;
    let back = serde_json::to_value(&parsed).map_err(|error| error.to_string())?;
    let (original, back) = (normalize(object), normalize(&back));
    let mut out = Vec::new();
    differences("", original.as_ref(), back.as_ref(), &mut out);
    if out.is_empty() {
        Ok(())
    } else {
        Err(out.join("; "))
    }
}

/// Checks one rendered object against the type of its kind.
fn check_object(object: &Value) -> Result<(), String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    match (api_version, kind(object)) {
        ("v1", "Namespace") => round_trip::<Namespace>(object),
        ("v1", "ServiceAccount") => round_trip::<ServiceAccount>(object),
        ("v1", "ConfigMap") => round_trip::<ConfigMap>(object),
        ("v1", "Secret") => round_trip::<Secret>(object),
        ("v1", "Service") => round_trip::<Service>(object),
        ("v1", "PersistentVolumeClaim") => round_trip::<PersistentVolumeClaim>(object),
        ("apps/v1", "Deployment") => round_trip::<Deployment>(object),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => round_trip::<ClusterRole>(object),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => round_trip::<ClusterRoleBinding>(object),
        ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<Role>(object),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => round_trip::<RoleBinding>(object),
        ("networking.k8s.io/v1", "NetworkPolicy") => round_trip::<NetworkPolicy>(object),
        ("networking.k8s.io/v1", "Ingress") => round_trip::<Ingress>(object),
        ("policy/v1", "PodDisruptionBudget") => round_trip::<PodDisruptionBudget>(object),
        // Custom resources: no k8s-openapi type; the envelope must be right.
        ("gateway.networking.k8s.io/v1", "HTTPRoute")
        | ("monitoring.coreos.com/v1", "ServiceMonitor")
        | ("external-secrets.io/v1", "ExternalSecret") => {
            let metadata = &object["metadata"];
            if metadata["name"].as_str().is_some_and(|name| !name.is_empty())
                && metadata["namespace"] == NAMESPACE
                && object["spec"].is_object()
            {
                Ok(())
            } else {
                Err("a custom resource without name, namespace or spec".to_owned())
            }
        }
        (api_version, kind) => Err(format!("unexpected {api_version} {kind}: add it to check_object")),
    }
}

#[test]
fn every_ci_values_file_renders_objects_that_parse_into_their_kubernetes_types() {
    let Some(helm) = helm() else { return };
    let mut kinds = BTreeSet::new();
    let mut problems = Vec::new();
    for values in values_files("ci") {
        let objects = render_ok(&helm, &values);
        assert!(!objects.is_empty(), "{} renders nothing", name(&values));
        for object in &objects {
            kinds.insert(kind(object).to_owned());
            if let Err(problem) = check_object(object) {
                let object_name = object["metadata"]["name"].as_str().unwrap_or("?");
                problems.push(format!(
                    "{}: {} {object_name}: {problem}",
                    name(&values),
                    kind(object)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for expected in [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Service",
        "PersistentVolumeClaim",
        "Deployment",
        "ClusterRole",
        "ClusterRoleBinding",
        "NetworkPolicy",
        "Ingress",
        "PodDisruptionBudget",
        "HTTPRoute",
        "ServiceMonitor",
        "ExternalSecret",
    ] {
        assert!(
            kinds.contains(expected),
            "no ci values file renders a {expected}: {kinds:?}"
        );
    }
}

#[test]
fn wrong_values_are_refused_naming_the_problem() {
    let Some(helm) = helm() else { return };
    for values in values_files("ci/invalid") {
        let text = std::fs::read_to_string(&values).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` first line", name(&values)));
        match render(&helm, &values) {
            Ok(_) => panic!("{} was accepted", name(&values)),
            Err(message) => assert!(
                message.contains(expected),
                "{} was refused without naming the problem ({expected}): {message}",
                name(&values)
            ),
        }
    }
}

/// The Deployment's container environment with `$(VAR)` references expanded like the kubelet does
/// (values from Secrets become `from-secret`).
fn container_env(deployment: &Deployment) -> Vec<(String, String)> {
    let container = &deployment.spec.template.spec.as_ref().unwrap().containers[0];
    let mut env: Vec<(String, String)> = Vec::new();
    for variable in container.env.clone().unwrap_or_default() {
        let mut value = variable.value.unwrap_or_else(|| "from-secret".to_owned());
        for (name, earlier) in &env {
            value = value.replace(&format!("$({name})"), earlier);
        }
        env.push((variable.name, value));
    }
    env
}

fn mount_paths(deployment: &Deployment) -> Vec<String> {
    let container = &deployment.spec.template.spec.as_ref().unwrap().containers[0];
    container
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|mount| mount.mount_path)
        .collect()
}

/// Every `…File` path (and the agent's key file, the SQLite file) the configuration names.
fn file_paths(tree: &serde_norway::Value, out: &mut Vec<String>) {
    if let serde_norway::Value::Mapping(map) = tree {
        for (key, value) in map {
            let key = key.as_str().unwrap_or_default();
            match value {
                serde_norway::Value::String(path) if key.ends_with("File") && !path.is_empty() => {
                    out.push(path.clone());
                }
                serde_norway::Value::String(url) if key == "url" => {
                    if let Some(path) = url.strip_prefix("sqlite://") {
                        out.push(path.to_owned());
                    }
                }
                serde_norway::Value::Sequence(items) => items.iter().for_each(|item| file_paths(item, out)),
                other => file_paths(other, out),
            }
        }
    }
}

#[test]
fn the_rendered_configuration_loads_and_every_file_it_names_is_mounted() {
    let Some(helm) = helm() else { return };
    for values in values_files("ci") {
        let objects = render_ok(&helm, &values);
        let Some(config_map) = objects.iter().find(|object| kind(object) == "ConfigMap") else {
            continue;
        };
        let deployment: Deployment = typed(
            objects
                .iter()
                .find(|object| kind(object) == "Deployment")
                .expect("a ConfigMap comes with a Deployment"),
        );
        let yaml = config_map["data"]["janus.yaml"].as_str().unwrap();
        let env = container_env(&deployment);
        let config = Config::load(Some(yaml), &env, &|_path: &Path| {
            Ok("from-a-mounted-secret\n".to_owned())
        })
        .unwrap_or_else(|errors| {
            panic!(
                "{}: the rendered configuration is refused:\n{errors}",
                name(&values)
            )
        });

        let mounts = mount_paths(&deployment);
        let mut paths = Vec::new();
        file_paths(&serde_norway::from_str(yaml).unwrap(), &mut paths);
        if !config.agent.central_url.is_empty() {
            paths.push(config.agent.key_file.clone());
        }
        for path in paths {
            assert!(
                mounts.iter().any(|mount| path.starts_with(mount.as_str())),
                "{}: {path} is named by the configuration but not mounted ({mounts:?})",
                name(&values)
            );
        }
        if config.agent.central_url.is_empty() {
            // Central: listens on all interfaces at the container port, the database is outside the image.
            assert!(config.webui.listen.starts_with("0.0.0.0:"), "{}", name(&values));
            let url = env
                .iter()
                .find(|(name, _)| name == "JANUS_DATABASE__URL")
                .map_or(config.database.url.clone(), |(_, url)| url.clone());
            assert!(
                url.starts_with("sqlite:///var/lib/janus/") || url.starts_with("postgres://"),
                "{}: {url}",
                name(&values)
            );
        } else {
            assert!(!config.agent.cluster_name.is_empty(), "{}", name(&values));
        }
    }
}

#[test]
fn every_workload_is_hardened_and_probed() {
    let Some(helm) = helm() else { return };
    for values in values_files("ci") {
        let objects = render_ok(&helm, &values);
        let file = name(&values);
        for object in objects.iter().filter(|object| kind(object) == "Deployment") {
            let deployment: Deployment = typed(object);
            let spec = deployment.spec;
            let pod = spec.template.spec.unwrap();
            let pod_security = pod.security_context.unwrap();
            assert_eq!(pod_security.run_as_non_root, Some(true), "{file}");
            assert_eq!(pod_security.run_as_user, Some(1000), "{file}");
            assert_eq!(
                pod_security.seccomp_profile.map(|profile| profile.type_),
                Some("RuntimeDefault".to_owned()),
                "{file}"
            );
            for container in &pod.containers {
                let security = container.security_context.clone().unwrap();
                assert_eq!(security.read_only_root_filesystem, Some(true), "{file}");
                assert_eq!(security.allow_privilege_escalation, Some(false), "{file}");
                assert_eq!(security.run_as_non_root, Some(true), "{file}");
                let dropped = security.capabilities.and_then(|capabilities| capabilities.drop);
                assert_eq!(dropped, Some(vec!["ALL".to_owned()]), "{file}");
                assert!(container.resources.is_some(), "{file}");
                let central = container.args.as_ref().unwrap().contains(&"serve".to_owned());
                if central {
                    let liveness = container.liveness_probe.clone().unwrap().http_get.unwrap();
                    let readiness = container.readiness_probe.clone().unwrap().http_get.unwrap();
                    assert_eq!(liveness.path.as_deref(), Some("/healthz"), "{file}");
                    assert_eq!(readiness.path.as_deref(), Some("/readyz"), "{file}");
                }
            }
            let replicas = spec.replicas.unwrap_or(1);
            let pdb = objects.iter().any(|object| kind(object) == "PodDisruptionBudget");
            assert_eq!(
                pdb,
                replicas > 1,
                "{file}: a PodDisruptionBudget exactly when replicas > 1"
            );
        }
        let network_policy = objects.iter().any(|object| kind(object) == "NetworkPolicy");
        let workload = objects.iter().any(|object| kind(object) == "Deployment");
        assert_eq!(
            network_policy,
            workload && file != "networkpolicy-off.yaml",
            "{file}: a NetworkPolicy for every workload unless turned off"
        );
    }
}

fn rules(object: &Value) -> Vec<PolicyRule> {
    match kind(object) {
        "ClusterRole" => typed::<ClusterRole>(object).rules.unwrap_or_default(),
        "Role" => typed::<Role>(object).rules.unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[test]
fn no_role_reads_secrets_escalates_impersonates_or_uses_wildcards() {
    let Some(helm) = helm() else { return };
    for values in values_files("ci") {
        let file = name(&values);
        let objects = render_ok(&helm, &values);
        for object in &objects {
            let role = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            for rule in rules(object) {
                let resources = rule.resources.clone().unwrap_or_default();
                let groups = rule.api_groups.clone().unwrap_or_default();
                assert!(
                    rule.non_resource_urls.is_none(),
                    "{file}: {role}: non-resource URLs"
                );
                for verb in &rule.verbs {
                    assert!(
                        !["*", "escalate", "impersonate", "deletecollection"].contains(&verb.as_str()),
                        "{file}: {role} has verb {verb}"
                    );
                }
                for resource in resources.iter().chain(&groups) {
                    assert!(!resource.contains('*'), "{file}: {role} uses a wildcard");
                }
                assert!(
                    !resources.iter().any(|resource| resource.starts_with("secrets")),
                    "{file}: {role} touches Secrets"
                );
                if rule.verbs.iter().any(|verb| verb == "bind") {
                    let names = rule.resource_names.clone().unwrap_or_default();
                    assert!(
                        !names.is_empty() && names.iter().all(|name| name.starts_with("janus-")),
                        "{file}: {role} may bind {names:?}"
                    );
                    assert_eq!(rule.verbs, vec!["bind".to_owned()], "{file}: {role}");
                }
            }
        }
        // Profile roles are bound per namespace by the agent, never cluster-wide by the chart.
        for object in objects
            .iter()
            .filter(|object| kind(object) == "ClusterRoleBinding")
        {
            assert_ne!(object["roleRef"]["name"], "janus-exec", "{file}");
        }
    }
}

// ---- The chart's RBAC is the agent's RBAC --------------------------------------------------------

/// The RBAC objects of the agent-only chart and the Kubernetes user of its ServiceAccount.
fn agent_chart_rbac(helm: &Path) -> (Vec<Value>, String) {
    let objects = render_ok(helm, &chart_dir().join("ci/agent-join-token.yaml"));
    let rbac: Vec<Value> = objects.into_iter().filter(is_rbac).collect();
    let binding = rbac
        .iter()
        .find(|object| kind(object) == "ClusterRoleBinding" && object["roleRef"]["name"] == "janus-agent")
        .expect("the agent's ClusterRoleBinding");
    let subject = &binding["subjects"][0];
    assert_eq!(subject["kind"], "ServiceAccount");
    let (namespace, account) = (
        subject["namespace"].as_str().unwrap().to_owned(),
        subject["name"].as_str().unwrap().to_owned(),
    );
    assert!(
        rbac.iter()
            .any(|object| kind(object) == "ServiceAccount" && object["metadata"]["name"] == account),
        "the chart creates the agent's ServiceAccount"
    );
    (rbac, format!("system:serviceaccount:{namespace}:{account}"))
}

/// What happened on the journey.
#[derive(Debug, Default)]
struct Journey {
    namespaces_reported: bool,
    active: bool,
    exec_output: Option<String>,
    extended: bool,
    final_state: Option<RequestState>,
    final_credentials: Option<CredentialsStatus>,
    objects_left: usize,
    /// `verb resource` of every request of the agent that the API server refused with 403.
    forbidden: BTreeSet<String>,
}

async fn wait_for(
    app: &TestApp,
    request: &AccessRequest,
    done: impl Fn(&AccessRequest) -> bool,
) -> AccessRequest {
    match app.settle(request, done, Duration::from_secs(20)).await {
        Ok(settled) => settled,
        Err(current) => {
            let log: Vec<String> = app
                .kube()
                .request_log()
                .iter()
                .map(|logged| {
                    format!(
                        "{} {} {} {}",
                        logged.verb, logged.resource, logged.namespace, logged.status
                    )
                })
                .collect();
            panic!(
                "the request never settled: {:?}/{:?}, {:?}; API requests: {log:?}",
                current.state, current.credentials, current.end_reason
            )
        }
    }
}

/// Namespaces → request → approve → grant → exec → extend → expire → cleanup, carrying on past
/// failures so that every step is tried.
async fn journey(app: &mut TestApp, agent_user: &str, strict: bool) -> Journey {
    let mut journey = Journey {
        namespaces_reported: app.agent().report_namespaces().await.is_ok(),
        ..Journey::default()
    };
    let request = app.submit("alice@example.com", &["payments"]).await;
    app.approve(&request, "bob@example.com").await;
    let granted = wait_for(app, &request, |r| r.state != RequestState::Approved).await;
    journey.active = granted.state == RequestState::Active;
    if journey.active {
        let token = app.grant_token(&request, "payments");
        journey.exec_output = app.exec(&token, "payments", "web-1", "echo ok").await.ok();
        app.act(
            &request,
            Command::RequestExtension {
                ttl_seconds: 1_800,
                reason: "still investigating".into(),
            },
            "alice@example.com",
        )
        .await;
        let approved = app
            .act(&request, Command::ApproveExtension, "bob@example.com")
            .await;
        // The agent re-grants (moving the expiry annotation, re-minting the token) and reports.
        let after = wait_for(app, &request, |r| r.version > approved.version).await;
        journey.extended = after.state == RequestState::Active && after.expires_at == approved.expires_at;
        if after.state == RequestState::Active {
            // Time jumps only while the agent is stopped: a signed request in flight across the jump
            // would be refused as stale, and its backoff waits on the manual clock.
            app.stop_agent().await;
            app.clock.advance_secs(3_600 + 1_800);
            Scheduler::new(app.workflow.clone()).tick().await.unwrap();
            app.restart_agent().await;
        }
    }
    let cleaned_up = |r: &AccessRequest| {
        matches!(
            r.credentials,
            CredentialsStatus::Cleaned | CredentialsStatus::CleanupFailed
        )
    };
    let ended = if strict {
        wait_for(app, &request, cleaned_up).await
    } else {
        // With a permission taken away, cleanup may never finish; what was refused is what counts.
        app.settle(&request, cleaned_up, Duration::from_secs(5))
            .await
            .unwrap_or_else(|current| current)
    };
    journey.final_state = Some(ended.state);
    journey.final_credentials = Some(ended.credentials);
    journey.objects_left = app.grant_objects(&request);
    journey.forbidden = app
        .kube()
        .request_log()
        .into_iter()
        .filter(|logged| logged.user == agent_user && logged.status == 403)
        .map(|logged| format!("{} {}", logged.verb, logged.resource))
        .collect();
    journey
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chart_rbac_alone_carries_the_agent_from_grant_to_expiry() {
    let Some(helm) = helm() else { return };
    let (rbac, agent_user) = agent_chart_rbac(&helm);
    assert_eq!(agent_user, "system:serviceaccount:janus:janus-agent");
    let mut app = TestApp::builder()
        .config(ENROLLMENT)
        .agent_with_rbac(&rbac, &agent_user)
        .start()
        .await;
    let journey = journey(&mut app, &agent_user, true).await;
    assert!(journey.forbidden.is_empty(), "refused: {:?}", journey.forbidden);
    assert!(journey.namespaces_reported, "{journey:?}");
    assert!(journey.active, "{journey:?}");
    assert_eq!(journey.exec_output.as_deref(), Some("ok\n"), "{journey:?}");
    assert!(journey.extended, "{journey:?}");
    assert_eq!(journey.final_state, Some(RequestState::Expired), "{journey:?}");
    assert_eq!(
        journey.final_credentials,
        Some(CredentialsStatus::Cleaned),
        "{journey:?}"
    );
    assert_eq!(journey.objects_left, 0, "{journey:?}");
    app.finish().await;
}

/// One way to take permission away from the agent's ClusterRole.
struct Removal {
    what: String,
    rule: usize,
    /// `None` removes the whole rule.
    verb: Option<String>,
    /// The refusals that show it is needed (any one of them).
    expect: Vec<String>,
}

/// The request a permission is checked on: `bind` is checked when a RoleBinding is created.
fn checked_as(verb: &str, resource: &str) -> String {
    if verb == "bind" && resource == "clusterroles" {
        "create rolebindings".to_owned()
    } else {
        format!("{verb} {resource}")
    }
}

fn removals(agent_role: &ClusterRole) -> Vec<Removal> {
    let mut removals = Vec::new();
    for (index, rule) in agent_role.rules.clone().unwrap_or_default().iter().enumerate() {
        let resource = rule.resources.clone().unwrap_or_default().join(",");
        let expect: Vec<String> = rule
            .verbs
            .iter()
            .map(|verb| checked_as(verb, &resource))
            .collect();
        removals.push(Removal {
            what: format!("rule {index} ({} {resource})", rule.verbs.join(",")),
            rule: index,
            verb: None,
            expect,
        });
        if rule.verbs.len() > 1 {
            for verb in &rule.verbs {
                removals.push(Removal {
                    what: format!("verb {verb} of rule {index} ({resource})"),
                    rule: index,
                    verb: Some(verb.clone()),
                    expect: vec![checked_as(verb, &resource)],
                });
            }
        }
    }
    removals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rule_of_the_chart_agent_role_is_needed() {
    let Some(helm) = helm() else { return };
    let (rbac, agent_user) = agent_chart_rbac(&helm);
    let role_index = rbac
        .iter()
        .position(|object| kind(object) == "ClusterRole" && object["metadata"]["name"] == "janus-agent")
        .expect("the agent's ClusterRole");
    let role: ClusterRole = typed(&rbac[role_index]);
    let table = removals(&role);
    assert!(table.len() >= 5, "{} removals", table.len());
    let mut unneeded = Vec::new();
    for removal in table {
        let mut reduced = role.clone();
        let mut rules = reduced.rules.take().unwrap_or_default();
        match &removal.verb {
            None => {
                rules.remove(removal.rule);
            }
            Some(verb) => rules[removal.rule].verbs.retain(|kept| kept != verb),
        }
        reduced.rules = Some(rules);
        let mut objects = rbac.clone();
        objects[role_index] = serde_json::to_value(&reduced).unwrap();

        eprintln!("the journey without {}", removal.what);
        let mut app = TestApp::builder()
            .config(ENROLLMENT)
            .agent_with_rbac(&objects, &agent_user)
            .start()
            .await;
        let journey = journey(&mut app, &agent_user, false).await;
        app.finish().await;
        if !removal
            .expect
            .iter()
            .any(|refusal| journey.forbidden.contains(refusal))
        {
            unneeded.push(format!(
                "without {}: no 403 on {:?} (refused: {:?})",
                removal.what, removal.expect, journey.forbidden
            ));
        }
    }
    assert!(
        unneeded.is_empty(),
        "rules the journey does not need:\n{}",
        unneeded.join("\n")
    );
}
