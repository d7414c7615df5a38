//! The JSON API's contract (DESIGN §6.1): shapes, errors, input rules, tokens, the long-poll, the
//! OpenAPI document against the real routes, and `janus login` / `janus request --wait` end to end.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use janus_core::domain::RequestState;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use crate::support::TempDir;
use crate::support::TestApp;
use crate::support::both_backends;
use crate::support::web::{ADMIN, ALICE, BOB, api, web};

both_backends!(with crate::support::TestApp::builder().config(crate::support::web::web("{}")); the_request_contract_is_camel_case_lower_case_rfc3339);

async fn the_request_contract_is_camel_case_lower_case_rfc3339(app: &TestApp) {
    let alice = app.api_token(ALICE).await;
    let (status, created) = api(
        Method::POST,
        &app.url("/api/v1/requests"),
        Some(&alice),
        Some(json!({"cluster": "prod", "namespaces": ["payments", "checkout"], "ttlSeconds": 3600, "reason": "investigating 500s"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("jr-") && id.len() == 11);
    assert_eq!(created["state"], "pending");
    assert_eq!(created["requester"], ALICE);
    assert_eq!(created["namespaces"], json!(["payments", "checkout"]));
    assert_eq!(created["profile"], "exec");
    assert_eq!(created["ttlSeconds"], 3600);
    assert_eq!(created["credentials"], "none");
    assert_eq!(created["origin"], "api");
    assert_eq!(created["approvals"], json!([]));
    assert_eq!(created["createdAt"], "2030-01-01T00:00:00.000000Z");
    for key in ["activatedAt", "expiresAt", "endedAt", "endReason", "link"] {
        assert!(created[key].is_null(), "{key} is null while pending");
    }

    let bob = app.api_token(BOB).await;
    let (status, approved) = api(
        Method::POST,
        &app.url(&format!("/api/v1/requests/{id}/approve")),
        Some(&bob),
        Some(json!({"ttlSeconds": 7200, "reason": "ok"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["credentials"], "provisioning");
    assert_eq!(
        approved["approvals"],
        json!([{"by": BOB, "at": "2030-01-01T00:00:00.000000Z", "ttlSeconds": 7200, "reason": "ok"}])
    );
    assert_eq!(approved["ttlSeconds"], 7200);
    assert!(
        approved["link"].is_null(),
        "no link before Active, and never for others"
    );

    let request = app
        .workflow
        .get(&janus_core::domain::RequestId::parse(&id).unwrap())
        .await
        .unwrap();
    app.grant(&request).await;
    let (status, active) = api(
        Method::GET,
        &app.url(&format!("/api/v1/requests/{id}")),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(active["state"], "active");
    assert_eq!(active["activatedAt"], "2030-01-01T00:00:00.000000Z");
    assert_eq!(active["expiresAt"], "2030-01-01T02:00:00.000000Z");
    let link = active["link"]
        .as_str()
        .expect("the requester gets the terminal link");
    assert!(
        link.starts_with(&app.url(&format!("/t/{id}?p=alice%40example.com&exp="))),
        "{link}"
    );
    let (_, as_bob) = api(
        Method::GET,
        &app.url(&format!("/api/v1/requests/{id}")),
        Some(&bob),
        None,
    )
    .await;
    assert!(as_bob["link"].is_null(), "the link is the requester's alone");

    let (status, listed) = api(
        Method::GET,
        &app.url("/api/v1/requests?state=active&cluster=prod"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    let (_, none) = api(
        Method::GET,
        &app.url("/api/v1/requests?state=pending"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(none["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_with_a_code_and_a_sentence() {
    let app = TestApp::builder().config(web("{}")).start().await;
    let alice = app.api_token(ALICE).await;
    let url = app.url("/api/v1/requests");
    let client = reqwest::Client::new();

    // Not JSON: 415, nothing created.
    let form = client
        .post(&url)
        .bearer_auth(&alice)
        .form(&[("cluster", "prod"), ("namespaces", "payments"), ("reason", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: serde_json::Value = form.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    let text_plain = client
        .post(&url)
        .bearer_auth(&alice)
        .header("content-type", "text/plain")
        .body(r#"{"cluster":"prod","namespaces":["a"],"reason":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(text_plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Too large: 413.
    let huge = json!({"cluster": "prod", "namespaces": ["a"], "reason": "x".repeat(100_000)});
    let (status, body) = api(Method::POST, &url, Some(&alice), Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "too_large");

    // Malformed and unknown fields: 400 with a sentence.
    let malformed = client
        .post(&url)
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let (status, body) = api(
        Method::POST,
        &url,
        Some(&alice),
        Some(json!({"cluster": "prod", "namespaces": ["a"], "reason": "x", "approved": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "malformed_body");

    // Domain refusals keep their stable codes.
    for (draft, status, code) in [
        (
            json!({"cluster": "nope", "namespaces": ["a"], "reason": "x"}),
            StatusCode::BAD_REQUEST,
            "unknown_cluster",
        ),
        (
            json!({"cluster": "prod", "namespaces": ["kube-system"], "reason": "x"}),
            StatusCode::BAD_REQUEST,
            "excluded_namespace",
        ),
        (
            json!({"cluster": "prod", "namespaces": ["a"], "ttlSeconds": 60, "reason": "x"}),
            StatusCode::BAD_REQUEST,
            "ttl_out_of_bounds",
        ),
        (
            json!({"cluster": "prod", "namespaces": ["a"], "reason": ""}),
            StatusCode::BAD_REQUEST,
            "reason_required",
        ),
    ] {
        let (got, body) = api(Method::POST, &url, Some(&alice), Some(draft)).await;
        assert_eq!(
            (got, body["error"]["code"].as_str().unwrap()),
            (status, code),
            "{body}"
        );
        assert!(body["error"]["message"].as_str().unwrap().ends_with('.'));
    }
    assert!(app.requests().await.is_empty());

    // Self-approval through the API: 403 self_approval, audited, nothing changes.
    let request = app.submit_on(ALICE, "prod", &["payments"]).await;
    let (status, body) = api(
        Method::POST,
        &app.url(&format!("/api/v1/requests/{}/approve", request.id)),
        Some(&alice),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"],
        json!({"code": "self_approval", "message": "You cannot approve your own request; another approver must decide."})
    );
    assert_eq!(
        app.workflow.get(&request.id).await.unwrap().state,
        RequestState::Pending
    );
    let refused = app.audit("command.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, ALICE);
    assert_eq!(refused[0].1["code"], "self_approval");

    // Unknown ids, unknown routes, GET on a command.
    let (status, body) = api(
        Method::GET,
        &app.url("/api/v1/requests/jr-zzzzzzzz"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = api(Method::GET, &app.url("/api/v1/nothing-here"), Some(&alice), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = api(
        Method::GET,
        &app.url(&format!("/api/v1/requests/{}/approve", request.id)),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_sees_requests_they_neither_made_nor_approve() {
    let app = TestApp::builder().config(web("{}")).start().await;
    let mine = app.submit_on(ALICE, "prod", &["payments"]).await;
    let staging = app.submit_on(ALICE, "staging", &["payments"]).await;
    let others = app.submit_on("mallory@example.com", "staging", &["web"]).await;
    let ids = |body: &serde_json::Value| -> BTreeSet<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, alice) = api(
        Method::GET,
        &app.url("/api/v1/requests"),
        Some(&app.api_token(ALICE).await),
        None,
    )
    .await;
    assert_eq!(
        ids(&alice),
        BTreeSet::from([mine.id.to_string(), staging.id.to_string()])
    );
    let bob_token = app.api_token(BOB).await;
    let (_, bob) = api(Method::GET, &app.url("/api/v1/requests"), Some(&bob_token), None).await;
    assert_eq!(
        ids(&bob),
        BTreeSet::from([mine.id.to_string()]),
        "bob approves prod only"
    );
    let (_, admin) = api(
        Method::GET,
        &app.url("/api/v1/requests"),
        Some(&app.api_token(ADMIN).await),
        None,
    )
    .await;
    assert_eq!(ids(&admin).len(), 3);
    let (status, _) = api(
        Method::GET,
        &app.url(&format!("/api/v1/requests/{}", others.id)),
        Some(&bob_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not visible looks like absent");
    let (_, filtered) = api(
        Method::GET,
        &app.url("/api/v1/requests?requester=mallory%40example.com"),
        Some(&bob_token),
        None,
    )
    .await;
    assert!(ids(&filtered).is_empty());
    let (status, body) = api(
        Method::GET,
        &app.url("/api/v1/requests?state=bogus"),
        Some(&bob_token),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_state"))
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_shown_once_cannot_breed_and_end() {
    let app = TestApp::builder().config(web("{}")).start().await;
    let browser = app.browser_as(ALICE, &[]).await;
    let created = browser
        .send(Method::POST, &app.url("/api/v1/tokens"), |request| {
            request.json(&json!({"name": "laptop", "expiresInSeconds": 3600}))
        })
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("jat_"));
    assert_eq!(created["expiresAt"], "2030-01-01T01:00:00.000000Z");

    let (status, listed) = api(Method::GET, &app.url("/api/v1/tokens"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&token), "the secret is never listed");
    assert!(listed["items"][0]["lastUsedAt"].is_string());

    let (status, body) = api(
        Method::POST,
        &app.url("/api/v1/tokens"),
        Some(&token),
        Some(json!({"name": "child"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("token_cannot_create_tokens"))
    );

    // Tokens work only on the API; pages ignore them.
    let page = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/auth/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);

    app.clock.advance_secs(3_600);
    let (status, body) = api(Method::GET, &app.url("/api/v1/me"), Some(&token), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );

    let second = app.api_token(ALICE).await;
    let id = app.accounts.api_token(&second).await.unwrap().unwrap().id;
    let (status, _) = api(
        Method::DELETE,
        &app.url(&format!("/api/v1/tokens/{id}")),
        Some(&app.api_token(BOB).await),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "bob cannot revoke alice's token");
    let (status, _) = api(
        Method::DELETE,
        &app.url(&format!("/api/v1/tokens/{id}")),
        Some(&second),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api(Method::GET, &app.url("/api/v1/me"), Some(&second), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refusals().await, vec!["invalid_token", "invalid_token"]);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_active_answers_when_the_grant_lands() {
    let app = TestApp::builder().config(web("{}")).start().await;
    let alice = app.api_token(ALICE).await;
    let request = app.submit_on(ALICE, "prod", &["payments"]).await;
    let url = app.url(&format!(
        "/api/v1/requests/{}?waitFor=active&timeout=60s",
        request.id
    ));
    let waiting = tokio::spawn({
        let alice = alice.clone();
        async move { api(Method::GET, &url, Some(&alice), None).await }
    });
    // Approval alone does not end the wait; the grant does.
    let approved = app.approve(&request, BOB).await;
    assert_eq!(approved.state, RequestState::Approved);
    assert!(!waiting.is_finished());
    app.grant(&request).await;
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "active");
    assert!(body["link"].is_string());

    // A wait times out on Janus's clock with the current state.
    let pending = app.submit_on(ALICE, "prod", &["checkout"]).await;
    let url = app.url(&format!(
        "/api/v1/requests/{}?waitFor=decided&timeout=30s",
        pending.id
    ));
    let waiting = tokio::spawn(async move { api(Method::GET, &url, Some(&alice), None).await });
    while !waiting.is_finished() {
        app.clock.advance_secs(5);
        tokio::task::yield_now().await;
    }
    let (status, body) = waiting.await.unwrap();
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let app = TestApp::builder().config(web("{}")).start().await;
    let (status, document) = api(Method::GET, &app.url("/api/v1/openapi.json"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let routed: BTreeSet<(String, String)> = janus_web::api::route_table().into_iter().collect();
    assert_eq!(
        documented, routed,
        "every route documented and every documented route served"
    );
    // Every $ref resolves.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            document["components"]["schemas"][name].is_object(),
            "schema {name} is missing"
        );
    }
    // And the table is the router: each route answers (401 unauthenticated), not 404/405.
    for (method, path) in &routed {
        let path = path.replace("{id}", "jr-abcdefgh");
        let (status, _) = api(
            Method::from_bytes(method.as_bytes()).unwrap(),
            &app.url(&path),
            None,
            None,
        )
        .await;
        assert!(
            status == StatusCode::UNAUTHORIZED || path.ends_with("openapi.json"),
            "{method} {path} answered {status}"
        );
    }
    app.finish().await;
}

/// Runs `janus request … --wait` (`command`) until it names the request it submitted: the child,
/// the rest of its stderr, and the request's id.
async fn submitted_by(
    mut command: tokio::process::Command,
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    String,
) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let rest = crate::support::rest_of_line(&mut stderr, "Request ", "the CLI reports the submission").await;
    let id = rest.split(' ').next().unwrap().to_owned();
    (child, stderr, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn janus_request_wait_prints_the_terminal_link() {
    let app = TestApp::builder().config(web("{}")).start().await;
    let dir = TempDir::new();
    let credentials = dir.path().join("janus").join("credentials.json");
    let janus = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_janus"));
        command
            .args(args)
            .env("JANUS_CLI_CONFIG", &credentials)
            .env_remove("JANUS_URL")
            .env_remove("JANUS_TOKEN")
            .env_remove("JANUS_CONFIG")
            .kill_on_drop(true);
        command
    };
    let token = app.api_token(ALICE).await;
    let login = janus(&["login", "--url", &app.base, "--token", &token])
        .output()
        .await
        .unwrap();
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    assert!(String::from_utf8_lossy(&login.stdout).contains("as alice@example.com"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&credentials).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "credentials are private");
    }
    let bad = janus(&["login", "--url", &app.base, "--token", "jat_wrong"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid_token"));

    // The CLI says it is waiting once the request exists.
    let (child, _stderr, id) = submitted_by(janus(&[
        "request",
        "--cluster",
        "prod",
        "--namespaces",
        "payments,checkout",
        "--ttl",
        "2h",
        "--reason",
        "investigating 500s",
        "--wait",
    ]))
    .await;
    let request = app
        .workflow
        .get(&janus_core::domain::RequestId::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(request.ttl_seconds, 7_200);
    assert_eq!(request.namespaces, ["payments", "checkout"]);

    let bob = TempDir::new();
    let bob_credentials = bob.path().join("credentials.json");
    let approve = janus(&["approve", &id])
        .env("JANUS_CLI_CONFIG", &bob_credentials)
        .env("JANUS_URL", &app.base)
        .env("JANUS_TOKEN", app.api_token(BOB).await)
        .output()
        .await
        .unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&approve.stdout).trim(),
        format!("Request {id} is approved.")
    );
    app.grant(&request).await;
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success());
    let link = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        link.starts_with(&app.url(&format!("/t/{id}?p=alice%40example.com&exp="))),
        "{link}"
    );

    let list = janus(&["requests", "list", "--state", "active"])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&list.stdout);
    assert!(
        table.contains(&id) && table.contains("payments,checkout"),
        "{table}"
    );

    // A denied request: the CLI says so and exits 1.
    let (mut child, mut stderr, id) = submitted_by(janus(&[
        "request",
        "--cluster",
        "prod",
        "--namespaces",
        "search",
        "--reason",
        "r",
        "--wait",
    ]))
    .await;
    let deny = janus(&["deny", &id, "--reason", "use staging"])
        .env("JANUS_URL", &app.base)
        .env("JANUS_TOKEN", app.api_token(BOB).await)
        .output()
        .await
        .unwrap();
    assert!(deny.status.success(), "{}", String::from_utf8_lossy(&deny.stderr));
    let mut rest = String::new();
    while let Some(line) = stderr.next_line().await.unwrap() {
        rest.push_str(&line);
        rest.push('\n');
    }
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        rest.contains(&format!("Request {id} was denied: use staging.")),
        "{rest}"
    );
    app.finish().await;
}
