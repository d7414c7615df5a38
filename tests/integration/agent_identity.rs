//! Agent identity without shared secrets: a projected ServiceAccount token checked by
//! TokenReview against central's own cluster, or against the cluster's published issuer
//! (JWKS). Everything that is not exactly the configured agent is refused and audited.

use std::sync::Arc;

use janus_core::clock::Clock;
use janus_core::config::Config;
use janus_fixtures::kube::FakeKube;
use reqwest::StatusCode;

use crate::agent_api::Central;
use crate::support::TempDir;

const SEED: &str = include_str!("../../fixtures/kube/example-seed.yaml");

struct Setup {
    central: Central,
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
    let config = Config::load(Some(&yaml), &[], &|_| Err(std::io::Error::other("no files"))).unwrap();
    let central = Central::start_with_clock(config, clock).await;
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

async fn poll(central: &Central, cluster: &str, token: &str) -> StatusCode {
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

    let reasons = central.audit_reasons("agent.rejected").await;
    for reason in [
        "wrong_service_account",
        "token_invalid",
        "token_expired",
        "unknown_cluster",
    ] {
        assert!(
            reasons.iter().any(|candidate| candidate == reason),
            "{reason} not audited: {reasons:?}"
        );
    }
    // Tokens never reach the audit log.
    let everything = serde_json::to_string(&central.store.audit_page(0, 10_000).await.unwrap()).unwrap();
    assert!(!everything.contains(&agent) && !everything.contains(&intruder));
    central.finish().await;
}
