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
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{
    Api, AttachParams, DeleteParams, ListParams, LogParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Client, Config};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::install_crypto;

mod rbac;

const EXAMPLE_SEED: &str = include_str!("../../fixtures/kube/example-seed.yaml");

pub(super) struct Cluster {
    pub(super) kube: FakeKube,
    clock: ManualClock,
}

impl Cluster {
    /// The example seed, an admin (`admin`, in system:masters) and the agent (`agent`).
    pub(super) async fn start() -> Cluster {
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

    pub(super) fn client(&self, token: &str) -> Client {
        let mut config = Config::new(self.kube.url().parse().unwrap());
        config.default_namespace = "default".into();
        config.auth_info.token = Some(token.to_string().into());
        Client::try_from(config).unwrap()
    }

    fn anonymous(&self) -> Client {
        Client::try_from(Config::new(self.kube.url().parse().unwrap())).unwrap()
    }

    pub(super) fn api<K>(&self, token: &str, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client(token), namespace)
    }
}

pub(super) fn object<K: DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).unwrap()
}

/// A plain GET of `url` answered with JSON: the document.
async fn get_json<T: DeserializeOwned>(url: &str) -> T {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Creates `object` (e.g. a review) through `api`: the server's answer.
pub(super) async fn created<K>(api: &Api<K>, object: &K) -> K
where
    K: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), object).await.unwrap()
}

/// The reason, code and message of the `Status` an API call failed with.
pub(super) fn api_error<T>(result: Result<T, kube::Error>) -> (String, u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.reason.clone(), status.code, status.message.clone()),
        Err(other) => panic!("expected a Kubernetes API error, got {other:?}"),
        Ok(_) => panic!("expected a Kubernetes API error, got success"),
    }
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
    // The status of a review of `token` for `audiences`.
    let review = async |audiences: Option<Vec<&str>>| {
        let review: TokenReview = object(json!({"spec": {"token": token, "audiences": audiences}}));
        created(&reviews, &review).await.status.unwrap()
    };

    let status = review(Some(vec!["janus"])).await;
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
    let other = review(Some(vec!["elsewhere"])).await;
    assert_ne!(other.authenticated, Some(true));
    assert!(other.error.unwrap().contains("invalid for the target audiences"));
    // A token for audience `janus` is not good for the API server itself.
    assert_ne!(review(None).await.authenticated, Some(true));
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
    let discovery: Value = get_json(&format!(
        "{}/.well-known/openid-configuration",
        cluster.kube.url()
    ))
    .await;
    assert_eq!(discovery["issuer"], cluster.kube.issuer());
    let jwks: JwkSet = get_json(discovery["jwks_uri"].as_str().unwrap()).await;
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
    attached.stdin().unwrap().shutdown().await.unwrap();
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
    grant(&cluster, "payments", "janus-jr-exec").await;
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
    let pods: Api<Pod> = cluster.api(&token, "payments");

    let (output, status) = run(&pods, "web-1", &["echo", "ok"]).await;
    assert_eq!(
        (output.as_str(), status.status.as_deref()),
        ("ok\n", Some("Success"))
    );
    let (output, _) = run(&pods, "web-1", &["sh", "-c", "echo $((1+2))"]).await;
    assert_eq!(output, "3\n");
    let (_, status) = run(&pods, "web-1", &["sh", "-c", "exit 3"]).await;
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let cause = &status.details.unwrap().causes.unwrap()[0];
    assert_eq!(
        (cause.reason.as_deref(), cause.message.as_deref()),
        (Some("ExitCode"), Some("3"))
    );

    // The pod's scratch directory keeps state between sessions, and pods do not share it.
    run(&pods, "web-1", &["touch", "f"]).await;
    assert_eq!(run(&pods, "web-1", &["ls"]).await.0, "f\n");
    let checkout: Api<Pod> = cluster.api("admin", "checkout");
    assert_eq!(run(&checkout, "cart-1", &["ls"]).await.0, "");
    assert!(cluster.kube.scratch_dir("payments", "web-1").join("f").exists());

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
    stdin.write_all(b"hello\n").await.unwrap();
    // Dropping the writer is not enough: `shutdown` is what kube turns into the close frame.
    stdin.shutdown().await.unwrap();
    let mut output = String::new();
    attached
        .stdout()
        .unwrap()
        .read_to_string(&mut output)
        .await
        .unwrap();
    assert_eq!(output, "hello\n");

    // With a TTY the shell is interactive: a prompt, echoed input, the exit code.
    let mut shell = pods
        .exec("web-1", ["sh"], &AttachParams::interactive_tty())
        .await
        .unwrap();
    let mut stdin = shell.stdin().unwrap();
    let mut stdout = shell.stdout().unwrap();
    let status = shell.take_status().unwrap();
    stdin.write_all(b"echo $((6*7))\nexit 5\n").await.unwrap();
    let mut output = String::new();
    stdout.read_to_string(&mut output).await.unwrap();
    assert!(output.contains("42"), "{output:?}");
    assert!(
        output.contains("$ ") || output.contains("# "),
        "no prompt in {output:?}"
    );
    let cause = &status.await.unwrap().details.unwrap().causes.unwrap()[0];
    assert_eq!(cause.message.as_deref(), Some("5"));

    // Closing the WebSocket kills the process: a second session waits for it to be gone.
    let mut sleeper = pods
        .exec(
            "web-1",
            ["sh", "-c", "echo $$; exec sleep 600"],
            &AttachParams::default().stderr(false),
        )
        .await
        .unwrap();
    let mut pid = String::new();
    let mut stdout = sleeper.stdout().unwrap();
    let mut byte = [0_u8; 1];
    while stdout.read_exact(&mut byte).await.is_ok() && byte[0] != b'\n' {
        pid.push(char::from(byte[0]));
    }
    sleeper.abort();
    drop(sleeper);
    // The fake waits for the process it killed (no zombie answers `kill -0`), so this holds
    // every run: the shell is gone once the session is.
    let wait = format!("while kill -0 {pid} 2>/dev/null; do sleep 0.05; done; echo gone");
    let command = ["sh", "-c", wait.as_str()];
    let gone = tokio::time::timeout(std::time::Duration::from_secs(60), run(&pods, "web-1", &command));
    assert_eq!(gone.await.expect("the process outlived its session").0, "gone\n");

    // Refusals: an unknown container, a missing pod, a pod outside the grant.
    let (reason, code, message) = api_error(pods.exec("worker-1", ["true"], &AttachParams::default()).await);
    assert_eq!((reason.as_str(), code), ("BadRequest", 400));
    assert_eq!(
        message,
        "a container name must be specified for pod worker-1, choose one of: [worker sidecar]"
    );
    assert_eq!(
        api_error(pods.exec("nope", ["true"], &AttachParams::default()).await).0,
        "NotFound"
    );
    let elsewhere: Api<Pod> = cluster.api(&token, "checkout");
    assert_eq!(
        api_error(elsewhere.exec("cart-1", ["true"], &AttachParams::default()).await).1,
        403
    );
}

/// Reads from an exec's stdout until `needle` appears; returns everything read.
async fn read_until(stdout: &mut (impl tokio::io::AsyncRead + Unpin), needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let read = tokio::time::timeout(std::time::Duration::from_secs(30), stdout.read(&mut buffer))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "nothing for 30 s before {needle:?}: {:?}",
                    String::from_utf8_lossy(&seen)
                )
            })
            .unwrap();
        assert!(
            read > 0,
            "end of output before {needle:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_tty_resizes_and_an_aborted_session_takes_its_jobs_along() {
    let cluster = Cluster::start().await;
    let pods: Api<Pod> = cluster.api("admin", "payments");
    assert!(cluster.kube.open_execs().is_empty());
    let mut shell = pods
        .exec("web-1", ["sh", "-i"], &AttachParams::interactive_tty())
        .await
        .unwrap();
    let mut stdin = shell.stdin().unwrap();
    let mut stdout = shell.stdout().unwrap();
    let mut resize = shell.terminal_size().unwrap();
    // The shell runs on a terminal: `stty size` answers rows and columns, and follows a resize.
    stdin.write_all(b"echo size=$(stty size)=\n").await.unwrap();
    assert!(
        read_until(&mut stdout, "size=24 80=")
            .await
            .contains("size=24 80=")
    );
    futures::SinkExt::send(
        &mut resize,
        kube::api::TerminalSize {
            width: 132,
            height: 43,
        },
    )
    .await
    .unwrap();
    // The resize travels on its own channel, which the client may deliver after the next stdin
    // bytes: the shell itself waits for the new size (bounded by `read_until`'s patience).
    stdin
        .write_all(
            b"while [ \"$(stty size)\" != \"43 132\" ]; do sleep 0.05; done; echo resized=$((40+3))=\n",
        )
        .await
        .unwrap();
    read_until(&mut stdout, "resized=43=").await;
    let open = cluster.kube.open_execs();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].pod.as_str(), open[0].tty), ("web-1", true));

    // A background job has a process group of its own (job control); it must die with the
    // session all the same.
    stdin.write_all(b"sleep 600 & echo job=$!=\n").await.unwrap();
    let seen = read_until(&mut stdout, "=\r\n").await;
    let seen = read_until_job(seen, &mut stdout).await;
    shell.abort();
    drop(shell);
    cluster.kube.until_execs(<[_]>::is_empty).await;
    // The job was killed with the session (a zombie of init's counts as gone; SIGKILL takes
    // effect when the job is next scheduled, so wait for it inside the pod's shell).
    let wait = format!(
        "while [ -e /proc/{seen} ] && ! grep -q ') [ZX]' /proc/{seen}/stat; do sleep 0.05; done; echo gone"
    );
    let command = ["sh", "-c", wait.as_str()];
    let gone = tokio::time::timeout(std::time::Duration::from_secs(60), run(&pods, "web-1", &command));
    assert_eq!(gone.await.expect("the job outlived its session").0, "gone\n");
}

/// The pid printed as `job=<pid>=`.
async fn read_until_job(mut seen: String, stdout: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    loop {
        if let Some(pid) = seen.split("job=").skip(1).find_map(|rest| {
            rest.split('=')
                .next()
                .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()) && !pid.is_empty())
        }) {
            return pid.to_string();
        }
        seen.push_str(&read_until(stdout, "=").await);
    }
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

    // Namespaces are listed, then watched from the list's resourceVersion (the agent itself
    // only lists, so an admin watches here).
    let namespaces: Api<Namespace> = Api::all(cluster.client("admin"));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_for_kubectl() {
    install_crypto();
    let kube = FakeKube::builder().tls().start().await.unwrap();
    kube.add_token("admin", "admin", &["system:masters"]);
    assert!(kube.url().starts_with("https://127.0.0.1:"));
    assert!(
        kube.certificate_pem()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let mut config = Config::new(kube.url().parse().unwrap());
    config.accept_invalid_certs = true;
    config.auth_info.token = Some("admin".to_string().into());
    let namespaces: Api<Namespace> = Api::all(Client::try_from(config).unwrap());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|namespace| namespace.metadata.name)
        .collect();
    assert_eq!(
        names,
        vec!["default", "kube-node-lease", "kube-public", "kube-system"]
    );
}
