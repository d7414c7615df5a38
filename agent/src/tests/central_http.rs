//! `HttpCentral` against a stub central that checks every request the way central must:
//! the join token on enrollment, then `agent_protocol::verify` on each signed request.

use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ed25519_dalek::{SigningKey, VerifyingKey};
use janus_wire::agent_config::{AgentConfig, AgentIdentityMode};
use janus_wire::agent_protocol::WorkKind;
use janus_wire::agent_protocol::{
    self, Enrollment, HEADER_CLUSTER, HEADER_SIGNATURE, HEADER_TIMESTAMP, ReportOutcome, WorkReport,
};
use janus_wire::clock::{Clock, ManualClock};

use super::{CLUSTER, assignment, hours, spec};
use crate::{Central, CentralError, HttpCentral, install_crypto_provider};

const JOIN_TOKEN: &str = "jt-one-time-secret";

/// What the stub saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    cluster: Option<String>,
    timestamp: Option<i64>,
    /// `Some(true)` when signed and the signature verified against the pinned key.
    signature_valid: Option<bool>,
    bearer: Option<String>,
}

#[derive(Debug, Default)]
struct Stub {
    pinned: Mutex<Option<VerifyingKey>>,
    enroll_status: Mutex<Option<u16>>,
    enrollments: Mutex<Vec<Enrollment>>,
    work_answers: Mutex<VecDeque<(u16, String)>>,
    report_answers: Mutex<VecDeque<(u16, String)>>,
    seen: Mutex<Vec<Seen>>,
    bodies: Mutex<Vec<String>>,
}

async fn handle(State(stub): State<Arc<Stub>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|value| value.as_str().to_owned())
        .unwrap_or_default();
    let cluster = header(HEADER_CLUSTER);
    let timestamp = header(HEADER_TIMESTAMP).and_then(|value| value.parse::<i64>().ok());
    let bearer = header("authorization").and_then(|value| value.strip_prefix("Bearer ").map(str::to_owned));
    let signature_valid = header(HEADER_SIGNATURE).map(|signature| {
        let pinned = *stub.pinned.lock().unwrap();
        let input = agent_protocol::signing_input(
            parts.method.as_str(),
            &path_and_query,
            cluster.as_deref().unwrap_or_default(),
            timestamp.unwrap_or_default(),
            &body,
        );
        pinned.is_some_and(|key| agent_protocol::verify(&key, &input, &signature))
    });
    stub.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path_and_query: path_and_query.clone(),
        cluster,
        timestamp,
        signature_valid,
        bearer: bearer.clone(),
    });
    stub.bodies
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&body).into_owned());

    let answer = |status: u16, body: String| {
        (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json")],
            body,
        )
            .into_response()
    };
    if parts.uri.path() == "/agent/v1/enroll" {
        let status = stub.enroll_status.lock().unwrap().unwrap_or(200);
        if bearer.as_deref() != Some(JOIN_TOKEN) || status != 200 {
            return answer(
                401,
                r#"{"error":"the join token is unknown, used or expired"}"#.to_owned(),
            );
        }
        let enrollment: Enrollment = serde_json::from_slice(&body).unwrap();
        *stub.pinned.lock().unwrap() = agent_protocol::decode_public_key(&enrollment.public_key);
        stub.enrollments.lock().unwrap().push(enrollment);
        return answer(200, "{}".to_owned());
    }
    if signature_valid == Some(false) {
        return answer(401, r#"{"error":"bad signature"}"#.to_owned());
    }
    match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/agent/v1/work") => {
            let (status, body) = stub
                .work_answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or((204, String::new()));
            answer(status, body)
        }
        ("POST", path) if path.starts_with("/agent/v1/work/") && path.ends_with("/result") => {
            let (status, body) = stub
                .report_answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or((200, r#"{"status":"recorded"}"#.to_owned()));
            answer(status, body)
        }
        ("PUT", "/agent/v1/namespaces") => answer(204, String::new()),
        _ => answer(404, r#"{"error":"no such route"}"#.to_owned()),
    }
}

struct StubCentral {
    url: String,
    stub: Arc<Stub>,
    clock: ManualClock,
    dir: tempfile::TempDir,
}

impl StubCentral {
    async fn start() -> StubCentral {
        install_crypto_provider();
        let stub = Arc::new(Stub::default());
        let router = axum::Router::new().fallback(handle).with_state(stub.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        StubCentral {
            url,
            stub,
            clock: ManualClock::at_epoch(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn enrollment_config(&self) -> AgentConfig {
        let join_token_file = self.dir.path().join("join-token");
        std::fs::write(&join_token_file, format!("{JOIN_TOKEN}\n")).unwrap();
        AgentConfig {
            central_url: format!("{}/", self.url),
            cluster_name: CLUSTER.to_owned(),
            join_token_file: join_token_file.display().to_string(),
            key_file: self.dir.path().join("keys/agent.key").display().to_string(),
            auth: AgentIdentityMode::Enrollment,
            ..AgentConfig::default()
        }
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(self.clock.clone())
    }

    fn seen(&self) -> Vec<Seen> {
        self.stub.seen.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn enrollment_pins_a_new_key_and_every_later_request_is_signed() {
    let central = StubCentral::start().await;
    let config = central.enrollment_config();
    let client = HttpCentral::connect(&config, central.clock()).await.unwrap();

    // Enrolled once, with the join token and the key now on disk (0600).
    let enrollments = central.stub.enrollments.lock().unwrap().clone();
    assert_eq!(enrollments.len(), 1);
    assert_eq!(enrollments[0].cluster, CLUSTER);
    assert_eq!(enrollments[0].agent_version, env!("CARGO_PKG_VERSION"));
    let key_file = std::path::PathBuf::from(&config.key_file);
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!key_file.with_extension("key.enrolling").exists());

    // Long-poll: nothing, then an assignment.
    assert_eq!(client.next_work(Duration::from_secs(25)).await.unwrap(), None);
    let work = assignment(
        42,
        WorkKind::Grant,
        spec("jr-4k2m9x7a", &["payments"], central.clock.now() + hours(1)),
    );
    central
        .stub
        .work_answers
        .lock()
        .unwrap()
        .push_back((200, serde_json::to_string(&work).unwrap()));
    central.clock.advance_secs(7);
    assert_eq!(
        client.next_work(Duration::from_secs(25)).await.unwrap(),
        Some(work)
    );

    // Reports: recorded, then a lost lease (409 and 410), then a refusal.
    let report = WorkReport {
        lease_token: "lease-42".to_owned(),
        outcome: ReportOutcome::Failed,
        error: Some("create rolebinding in payments: 500 InternalError: boom".to_owned()),
    };
    assert_eq!(client.report(42, &report).await.unwrap().status, "recorded");
    let lease_lost = r#"{"error":{"code":"lease_lost","message":"The lease expired."}}"#;
    for (status, body) in [(409, lease_lost), (410, "gone")] {
        central
            .stub
            .report_answers
            .lock()
            .unwrap()
            .push_back((status, body.to_owned()));
        assert_eq!(client.report(42, &report).await, Err(CentralError::LeaseLost));
    }
    // A racing change is not a lost lease: retry it.
    let conflict = r#"{"error":{"code":"conflict","message":"try again"}}"#;
    central
        .stub
        .report_answers
        .lock()
        .unwrap()
        .push_back((409, conflict.to_owned()));
    let busy = client.report(42, &report).await.unwrap_err();
    assert_eq!(busy, CentralError::Busy("try again".to_owned()));
    assert!(busy.is_transient());
    central
        .stub
        .report_answers
        .lock()
        .unwrap()
        .push_back((400, r#"{"error":"malformed report"}"#.to_owned()));
    assert_eq!(
        client.report(42, &report).await,
        Err(CentralError::Rejected {
            status: 400,
            message: "malformed report".to_owned()
        })
    );
    client
        .report_namespaces(&["checkout".to_owned(), "payments".to_owned()])
        .await
        .unwrap();

    let seen = central.seen();
    let signed: Vec<&Seen> = seen.iter().skip(1).collect();
    assert_eq!(signed.len(), 8);
    for request in &signed {
        assert_eq!(request.signature_valid, Some(true), "{request:?}");
        assert_eq!(request.cluster.as_deref(), Some(CLUSTER));
        assert_eq!(request.bearer, None);
    }
    assert_eq!(signed[0].path_and_query, "/agent/v1/work?wait=25");
    assert_eq!(signed[0].timestamp, Some(1_893_456_000));
    assert_eq!(signed[1].timestamp, Some(1_893_456_007));
    assert_eq!(signed[2].method, "POST");
    assert_eq!(signed[2].path_and_query, "/agent/v1/work/42/result");
    assert_eq!(signed[7].method, "PUT");
    let bodies = central.stub.bodies.lock().unwrap().clone();
    assert_eq!(
        bodies.last().unwrap(),
        r#"{"namespaces":["checkout","payments"]}"#
    );
    assert!(!bodies.iter().skip(1).any(|body| body.contains(JOIN_TOKEN)));

    // A restart finds the key: no second enrollment, even with the join token gone.
    std::fs::remove_file(&config.join_token_file).unwrap();
    let again = HttpCentral::connect(&config, central.clock()).await.unwrap();
    assert_eq!(again.next_work(Duration::from_secs(5)).await.unwrap(), None);
    assert_eq!(central.stub.enrollments.lock().unwrap().len(), 1);
    assert_eq!(central.seen().last().unwrap().signature_valid, Some(true));
}

#[tokio::test]
async fn a_refused_join_token_leaves_no_key_behind_and_is_not_echoed() {
    let central = StubCentral::start().await;
    *central.stub.enroll_status.lock().unwrap() = Some(401);
    let config = central.enrollment_config();
    let error = HttpCentral::connect(&config, central.clock()).await.unwrap_err();
    let CentralError::Unauthorized(message) = &error else {
        panic!("expected Unauthorized, got {error:?}");
    };
    assert!(message.contains("join token was refused"), "{message}");
    assert!(!error.to_string().contains(JOIN_TOKEN));
    assert!(!format!("{error:?}").contains(JOIN_TOKEN));
    let key_dir = std::path::Path::new(&config.key_file).parent().unwrap();
    assert_eq!(
        std::fs::read_dir(key_dir).unwrap().count(),
        0,
        "no key, no staged key"
    );
}

#[tokio::test]
async fn missing_identity_material_is_a_clear_error() {
    let central = StubCentral::start().await;
    let mut config = central.enrollment_config();
    config.join_token_file = central.dir.path().join("absent").display().to_string();
    let error = HttpCentral::connect(&config, central.clock()).await.unwrap_err();
    assert!(matches!(error, CentralError::Identity(_)), "{error:?}");
    assert!(error.to_string().contains("agent.joinTokenFile"), "{error}");

    std::fs::create_dir_all(std::path::Path::new(&config.key_file).parent().unwrap()).unwrap();
    std::fs::write(&config.key_file, "garbage").unwrap();
    let error = HttpCentral::connect(&config, central.clock()).await.unwrap_err();
    assert!(
        error.to_string().contains("does not hold an agent key"),
        "{error}"
    );
    assert!(central.stub.enrollments.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_key_central_did_not_pin_is_refused() {
    let central = StubCentral::start().await;
    *central.stub.pinned.lock().unwrap() = Some(SigningKey::from_bytes(&[1; 32]).verifying_key());
    let client = HttpCentral::with_key(
        &central.url,
        CLUSTER,
        SigningKey::from_bytes(&[2; 32]),
        central.clock(),
    )
    .unwrap();
    assert_eq!(
        client.next_work(Duration::from_secs(1)).await,
        Err(CentralError::Unauthorized("bad signature".to_owned()))
    );
}

#[tokio::test]
async fn service_account_mode_sends_the_current_projected_token() {
    let central = StubCentral::start().await;
    let token_file = central.dir.path().join("sa-token");
    std::fs::write(&token_file, "projected-1\n").unwrap();
    let config = AgentConfig {
        central_url: central.url.clone(),
        cluster_name: CLUSTER.to_owned(),
        auth: AgentIdentityMode::Serviceaccount,
        service_account_token_file: token_file.display().to_string(),
        ..AgentConfig::default()
    };
    let client = HttpCentral::connect(&config, central.clock()).await.unwrap();
    assert_eq!(client.next_work(Duration::from_secs(25)).await.unwrap(), None);
    std::fs::write(&token_file, "projected-2\n").unwrap();
    client.report_namespaces(&["payments".to_owned()]).await.unwrap();

    let seen = central.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].bearer.as_deref(), Some("projected-1"));
    assert_eq!(seen[1].bearer.as_deref(), Some("projected-2"));
    for request in &seen {
        assert_eq!(request.cluster.as_deref(), Some(CLUSTER));
        assert_eq!(request.signature_valid, None);
    }

    std::fs::remove_file(&token_file).unwrap();
    let error = client.next_work(Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(error, CentralError::Identity(_)), "{error:?}");
}

#[tokio::test]
async fn an_absent_central_is_unreachable_and_transient() {
    install_crypto_provider();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = HttpCentral::with_key(
        &url,
        CLUSTER,
        SigningKey::from_bytes(&[3; 32]),
        Arc::new(ManualClock::at_epoch()),
    )
    .unwrap();
    let error = client.next_work(Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(error, CentralError::Unreachable(_)), "{error:?}");
    assert!(error.is_transient());
}
