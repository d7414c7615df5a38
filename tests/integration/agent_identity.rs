//! Agent identity without shared secrets: a projected ServiceAccount token checked by
//! TokenReview against central's own cluster, or against the cluster's published issuer
//! (JWKS). Everything that is not exactly the configured agent is refused and audited.

use std::sync::Arc;

use janus_core::clock::Clock;
use janus_fixtures::kube::FakeKube;
use reqwest::StatusCode;

use crate::support::{TempDir, TestApp};

const SEED: &str = include_str!("../../fixtures/kube/example-seed.yaml");

struct Setup {
    central: TestApp,
    kube: FakeKube,
    _dir: TempDir,
}

async fn setup() -> Setup {
    // The fake must exist before central's config can name it; central's clock is made
    // first so both share it.
    let clock = janus_core::clock::ManualClock::at_epoch();
    let kube = FakeKube::builder()
        .clock(Arc::new(clock.clone()) as Arc<dyn Clock>)
        .start()
        .await
        .unwrap();
    kube.seed_yaml(SEED).unwrap();
    kube.add_token("admin-token", "admin", &["system:masters"]);
    kube.add_token("central-token", "janus-central", &["system:masters"]);
    let dir = TempDir::new();
    let token_file = dir.path().join("central-token");
    std::fs::write(&token_file, "central-token").unwrap();
    let yaml = format!(
        "clusters:\n\
         - name: home\n  agent: {{ auth: tokenreview, apiServerUrl: \"{url}\", tokenFile: \"{file}\" }}\n\
         - name: remote\n  agent: {{ auth: issuer, issuerUrl: \"{issuer}\" }}\n",
        url = kube.url(),
        file = token_file.display(),
        issuer = kube.issuer(),
    );
    let central = TestApp::builder().config(yaml).clock(clock).start().await;
    Setup {
        central,
        kube,
        _dir: dir,
    }
}

/// A projected-style token for `namespace/name` with `audiences`, minted by the fake.
async fn mint(kube: &FakeKube, namespace: &str, name: &str, audiences: &[&str], seconds: i64) -> String {
    let body = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": { "audiences": audiences, "expirationSeconds": seconds },
    });
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            kube.url()
        ))
        .bearer_auth("admin-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    let answer: serde_json::Value = response.json().await.unwrap();
    answer["status"]["token"].as_str().unwrap().to_owned()
}

async fn poll(central: &TestApp, cluster: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/agent/v1/work?wait=0", central.base))
        .header("x-janus-cluster", cluster)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn service_account_tokens_identify_agents() {
    let Setup { central, kube, _dir } = setup().await;
    kube.apply(serde_json::json!({
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "intruder", "namespace": "janus" }
    }))
    .unwrap();
    let agent = mint(&kube, "janus", "janus-agent", &["janus"], 3_600).await;
    let wrong_audience = mint(&kube, "janus", "janus-agent", &["vault"], 3_600).await;
    let intruder = mint(&kube, "janus", "intruder", &["janus"], 3_600).await;

    for cluster in ["home", "remote"] {
        assert_eq!(
            poll(&central, cluster, &agent).await,
            StatusCode::NO_CONTENT,
            "{cluster}: the agent is let in"
        );
        assert_eq!(
            poll(&central, cluster, &wrong_audience).await,
            StatusCode::UNAUTHORIZED,
            "{cluster}: audience"
        );
        assert_eq!(
            poll(&central, cluster, &intruder).await,
            StatusCode::UNAUTHORIZED,
            "{cluster}: another account"
        );
        assert_eq!(
            poll(&central, cluster, "not-a-token").await,
            StatusCode::UNAUTHORIZED,
            "{cluster}: garbage"
        );
    }
    // A token for one cluster is not an identity for another that is not configured for it.
    assert_eq!(poll(&central, "nowhere", &agent).await, StatusCode::UNAUTHORIZED);

    // Expired tokens stop working, by the shared manual clock (past the API server's
    // 60 s leeway too).
    central.clock.advance_secs(3_661);
    assert_eq!(
        poll(&central, "remote", &agent).await,
        StatusCode::UNAUTHORIZED,
        "expired, by the JWT"
    );
    assert_eq!(
        poll(&central, "home", &agent).await,
        StatusCode::UNAUTHORIZED,
        "expired, by TokenReview"
    );

    // Deleting the ServiceAccount revokes its tokens at TokenReview.
    let fresh = mint(&kube, "janus", "janus-agent", &["janus"], 3_600).await;
    assert_eq!(poll(&central, "home", &fresh).await, StatusCode::NO_CONTENT);
    kube.delete("ServiceAccount", Some("janus"), "janus-agent")
        .unwrap();
    assert_eq!(poll(&central, "home", &fresh).await, StatusCode::UNAUTHORIZED);

    central
        .assert_audited_reasons(
            "agent.rejected",
            &[
                "wrong_service_account",
                "token_invalid",
                "token_expired",
                "unknown_cluster",
            ],
        )
        .await;
    // Tokens never reach the audit log.
    let everything = serde_json::to_string(&central.store.audit_page(0, 10_000).await.unwrap()).unwrap();
    assert!(!everything.contains(&agent) && !everything.contains(&intruder));
    central.finish().await;
}

/// The embedded agent's key (made in memory by `janus serve`) is accepted for its own cluster on
/// the two session routes, and nowhere else; anything else signed with it, or a forged
/// signature, is a 401 and an `agent.rejected` event.
#[tokio::test]
async fn the_embedded_agent_key_is_only_for_its_cluster_and_the_session_routes() {
    use crate::support::agent_client::{ENROLLMENT, SignedClient};

    let embedded = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let central = TestApp::builder()
        .config(ENROLLMENT)
        .embedded_agent_key(embedded.verifying_key())
        .start()
        .await;
    let now = central.clock.now().timestamp();
    let agent = SignedClient::new(&central, "prod", 7);
    assert_eq!(agent.key.verifying_key(), embedded.verifying_key());

    // Accepted: the session long-poll of its own cluster (nothing offered).
    let response = agent.send("GET", "/agent/v1/sessions?wait=0", Vec::new()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(central.audit_reasons("agent.rejected").await.is_empty());
    // And the dial is authenticated (then refused because no such session is pending).
    assert_eq!(dial(&central, &embedded, "prod", "ts-none").await, 403);

    // Another cluster: refused, audited.
    let response = agent
        .send_as("GET", "/agent/v1/sessions?wait=0", Vec::new(), "quorum", now)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Its own cluster, but a work route: the embedded agent works in-process, never over HTTP.
    let response = agent.send("GET", "/agent/v1/work?wait=0", Vec::new()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = agent
        .send("PUT", "/agent/v1/namespaces", br#"{"namespaces":["x"]}"#.to_vec())
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(central.store.namespaces("prod").await.unwrap(), None);

    // A forged signature: another key claiming the embedded cluster, on both session routes.
    let forger = SignedClient::new(&central, "prod", 8);
    let response = forger.send("GET", "/agent/v1/sessions?wait=0", Vec::new()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(dial(&central, &forger.key, "prod", "ts-none").await, 401);
    // A real signature moved to another request: signed for one query, sent with another.
    let input =
        janus_core::agent_protocol::signing_input("GET", "/agent/v1/sessions?wait=0", "prod", now, &[]);
    let response = reqwest::Client::new()
        .get(format!("{}/agent/v1/sessions?wait=1", central.base))
        .header(janus_core::agent_protocol::HEADER_CLUSTER, "prod")
        .header(janus_core::agent_protocol::HEADER_TIMESTAMP, now.to_string())
        .header(
            janus_core::agent_protocol::HEADER_SIGNATURE,
            janus_core::agent_protocol::sign(&embedded, &input),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A stale timestamp, correctly signed.
    let response = agent
        .send_as("GET", "/agent/v1/sessions?wait=0", Vec::new(), "prod", now - 3600)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Every refusal was audited, saying what failed. Quorum and the work routes know no
    // embedded agent (and nobody enrolled); on the session routes of prod the embedded key
    // was tried and did not verify.
    assert_eq!(
        central.audit_reasons("agent.rejected").await,
        [
            "not_enrolled",
            "not_enrolled",
            "not_enrolled",
            "bad_signature",
            "bad_signature",
            "bad_signature",
            "stale_timestamp",
        ]
    );
    central.finish().await;
}

#[test]
fn the_embedded_agent_dials_its_own_listener_on_loopback() {
    assert_eq!(
        janus_web::own_url("0.0.0.0:8080".parse().unwrap()),
        "http://127.0.0.1:8080"
    );
    assert_eq!(
        janus_web::own_url("[::]:8080".parse().unwrap()),
        "http://[::1]:8080"
    );
    assert_eq!(
        janus_web::own_url("10.0.0.5:9000".parse().unwrap()),
        "http://10.0.0.5:9000"
    );
}

/// Dials `/agent/v1/sessions/{sid}` as a WebSocket signed with `key` for `cluster`: the HTTP
/// status of the refusal (101 when it upgraded).
async fn dial(central: &TestApp, key: &ed25519_dalek::SigningKey, cluster: &str, sid: &str) -> u16 {
    use janus_core::agent_protocol::{
        HEADER_CLUSTER, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign, signing_input,
    };
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let path = format!("/agent/v1/sessions/{sid}");
    let timestamp = central.clock.now().timestamp();
    let signature = sign(key, &signing_input("GET", &path, cluster, timestamp, &[]));
    let mut request = format!("{}{path}", central.base.replacen("http://", "ws://", 1))
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert(HEADER_CLUSTER, cluster.parse().unwrap());
    headers.insert(HEADER_TIMESTAMP, timestamp.to_string().parse().unwrap());
    headers.insert(HEADER_SIGNATURE, signature.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(error) => panic!("the dial failed: {error}"),
    }
}
