//! `janus serve`: health, readiness that follows the database, metrics, and the real
//! binary starting with no configuration and stopping cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use janus_core::clock::{Clock, ManualClock};
use janus_core::store::Store;
use janus_fixtures::postgres::TestDatabase;
use janus_fixtures::tcp_proxy::TcpProxy;
use tokio::net::TcpListener;

use janus::central::Central;

use crate::support::{STANDARD, TempDir, draft, install_crypto, parse_config, person};

/// Splits `scheme://user@host:port/db` into (`host:port`, the URL with `{}` in its place).
fn split_authority(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let (credentials, host) = match authority.rsplit_once('@') {
        Some((credentials, host)) => (format!("{credentials}@"), host),
        None => (String::new(), authority),
    };
    (host.to_owned(), format!("{scheme}://{credentials}{{}}/{path}"))
}

struct Server {
    base: String,
    central: Central,
}

/// Central as `janus serve` starts it (the standard configuration, a manual clock, no
/// scheduler) on the database at `url`, listening on 127.0.0.1 port 0.
async fn start(url: &str) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let central = Central::builder(parse_config(STANDARD, &[]))
        .store_url(url)
        .clock(Arc::new(ManualClock::at_epoch()) as Arc<dyn Clock>)
        .listener(listener)
        .scheduler(false)
        .start()
        .await
        .unwrap();
    Server {
        base: central.url().unwrap(),
        central,
    }
}

impl Server {
    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn stop(self) {
        self.central.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_follows_the_database() {
    install_crypto();
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let (host, template) = split_authority(&database.url);
    let upstream = tokio::net::lookup_host(&host).await.unwrap().next().unwrap();
    let proxy = TcpProxy::start(upstream).await.unwrap();
    let url = template.replace("{}", &proxy.address().to_string());
    let server = start(&url).await;

    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(server.get("/readyz").await.0, 200);

    proxy.go_down();
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("database"), "{body}");
    assert_eq!(
        server.get("/healthz").await.0,
        200,
        "liveness does not depend on the database"
    );

    proxy.come_back();
    assert_eq!(server.get("/readyz").await.0, 200);

    server.stop().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_show_requests_transitions_and_queue() {
    install_crypto();
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("janus.db").display());
    let server = start(&url).await;
    let workflow = server.central.workflow.clone();
    let request = workflow
        .submit(&person("alice@example.com"), draft("prod", &["payments"]))
        .await
        .unwrap();
    let approve = janus_core::domain::Command::Approve {
        ttl_seconds: None,
        reason: None,
    };
    let bob = janus_core::domain::Actor::Person(person("bob@example.com"));
    workflow.execute(&request.id, None, approve, &bob).await.unwrap();
    let (status, body) = server.get("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "janus_requests{state=\"approved\"} 1",
        "janus_requests{state=\"pending\"} 0",
        "janus_transitions_total{action=\"request.submitted\"} 1",
        "janus_transitions_total{action=\"request.approved\"} 1",
        "janus_work_queue_depth{cluster=\"prod\",kind=\"grant\",status=\"queued\"} 1",
        "janus_scheduler_lag_seconds 0",
    ] {
        assert!(
            body.lines().any(|candidate| candidate == line),
            "missing `{line}` in:\n{body}"
        );
    }
    server.stop().await;
}

/// The newcomer's command: `janus serve` with no configuration file at all.
#[test]
fn the_binary_serves_with_no_configuration_and_stops_on_sigterm() {
    let dir = TempDir::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_janus"))
        .args(["--log-format", "json", "serve"])
        .current_dir(dir.path())
        .env_remove("JANUS_CONFIG")
        .env("JANUS_WEBUI__LISTEN", "127.0.0.1:0")
        .env("JANUS_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("janus exited before listening").unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["message"] == "janus central listening" {
            break entry["address"].as_str().unwrap().to_owned();
        }
    };
    assert!(
        dir.path().join("janus.db").exists(),
        "the SQLite database is created next to it"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (health, ready) = runtime.block_on(async {
        let health = reqwest::get(format!("http://{address}/healthz")).await.unwrap();
        let ready = reqwest::get(format!("http://{address}/readyz")).await.unwrap();
        (health.status().as_u16(), ready.status().as_u16())
    });
    assert_eq!((health, ready), (200, 200));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|line| line.contains("shutting down")), "{rest:?}");
}

#[test]
fn authority_splitting() {
    assert_eq!(
        split_authority("postgres://postgres@127.0.0.1:5432/janus_x"),
        (
            "127.0.0.1:5432".to_owned(),
            "postgres://postgres@{}/janus_x".to_owned()
        )
    );
}

/// The chart's default: `janus serve` with `agent.embedded: true`. The real binary's embedded agent
/// grants through the workflow and serves the browser's terminal through the server's own
/// session routes (loopback, in-memory key); a revoke closes the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_with_the_embedded_agent_serves_a_terminal() {
    use janus_core::accounts::{Accounts, ClientInfo};
    use janus_core::clock::SystemClock;
    use reqwest::Method;
    use serde_json::json;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    use crate::support::cluster::{AGENT_KUBE_TOKEN, AGENT_USER, fake_cluster, seed_rbac};
    use crate::support::terminal::{PATIENCE, TermClient};
    use crate::support::web::api;

    install_crypto();
    let kube = fake_cluster(Arc::new(SystemClock), &seed_rbac(), AGENT_USER).await;
    let dir = TempDir::new();
    let token_file = dir.path().join("kube-token");
    std::fs::write(&token_file, AGENT_KUBE_TOKEN).unwrap();
    let yaml = format!(
        "webui:\n  listen: 127.0.0.1:0\nclusters:\n  - name: prod\n    approvers: [bob@example.com]\n\
         agent:\n  embedded: true\n  clusterName: prod\n  apiServerUrl: \"{}\"\n  tokenFile: \"{}\"\n",
        kube.url(),
        token_file.display()
    );
    std::fs::write(dir.path().join("janus.yaml"), yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_janus"))
        .args(["--log-format", "json", "serve"])
        .current_dir(dir.path())
        .env_remove("JANUS_CONFIG")
        .env("JANUS_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log is drained by a thread of its own (a full pipe would stall the server).
    let stderr = child.stderr.take().unwrap();
    let (lines, log) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let address = loop {
        let line = log.recv_timeout(PATIENCE).expect("janus exited before listening");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["message"] == "janus central listening" {
            break entry["address"].as_str().unwrap().to_owned();
        }
    };
    let base = format!("http://{address}");

    // Alice and bob, through the database the binary uses (as sign-in would).
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("janus.db").display()))
        .await
        .unwrap();
    let accounts = Accounts::new(store.clone(), Arc::new(SystemClock));
    let token = |email: &'static str| {
        let accounts = accounts.clone();
        async move {
            let (secret, _) = accounts
                .create_api_token(&person(email), "test", None)
                .await
                .unwrap();
            secret.expose().to_owned()
        }
    };
    let (alice, bob) = (token("alice@example.com").await, token("bob@example.com").await);
    let (cookie, _) = accounts
        .sign_in(
            &person("alice@example.com"),
            &[],
            "test",
            &ClientInfo::default(),
            None,
        )
        .await
        .unwrap();

    let (status, created) = api(
        Method::POST,
        &format!("{base}/api/v1/requests"),
        Some(&alice),
        Some(json!({"cluster": "prod", "namespaces": ["payments"], "reason": "embedded terminal"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, approved) = api(
        Method::POST,
        &format!("{base}/api/v1/requests/{id}/approve"),
        Some(&bob),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    let (status, active) = api(
        Method::GET,
        &format!("{base}/api/v1/requests/{id}?waitFor=active&timeout=60s"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        (status.as_u16(), active["state"].as_str()),
        (200, Some("active")),
        "{active}"
    );

    let mut request =
        format!("ws://{address}/ws/terminal?request={id}&namespace=payments&pod=web-1&cols=80&rows=24")
            .into_client_request()
            .unwrap();
    request.headers_mut().insert(
        "cookie",
        format!("janus_session={}", cookie.expose()).parse().unwrap(),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut shell = TermClient {
        socket,
        output: Vec::new(),
        controls: Vec::new(),
    };
    shell.control("ready").await;
    shell.echo("hello").await;

    let (status, revoked) = api(
        Method::POST,
        &format!("{base}/api/v1/requests/{id}/revoke"),
        Some(&bob),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(shell.control("closed").await["reason"], "revoked");
    shell.drain().await;
    tokio::time::timeout(PATIENCE, kube.until_execs(<[_]>::is_empty))
        .await
        .expect("the exec stream stayed open at the API server");
    let rejected = store
        .audit_page(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.action == "agent.rejected")
        .count();
    assert_eq!(rejected, 0);
    store.close().await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let rest: Vec<String> = log.iter().collect();
    reader.join().unwrap();
    assert!(
        !rest.iter().any(|line| line.contains("no sessions from central")),
        "{rest:?}"
    );
}
