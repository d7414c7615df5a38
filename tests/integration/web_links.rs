//! `/t/{id}`: signed terminal links in `sso` and `link` mode, and every refusal (each a page and a
//! `link.rejected` event). Also: no path approves anything through a link or a GET.

use janus_core::domain::RequestState;
use janus_fixtures::browser::Browser;
use reqwest::StatusCode;

use crate::support::TestApp;
use crate::support::web::{ADMIN, ALICE, BOB, web};

const LINK_KEYS: &str = "links:\n  keys: [{ kid: k1, secret: first-secret-0123456789 }, { kid: k0, secret: old-secret-0123456789 }]\n";

/// A link for `principal` to `request`, signed with `links.keys` like Janus signs them.
fn link(app: &TestApp, id: &str, principal: &str, exp: i64) -> String {
    link_with(app, "", id, principal, exp)
}

/// The same, signed with key `kid` (empty: the first, active key).
fn link_with(app: &TestApp, kid: &str, id: &str, principal: &str, exp: i64) -> String {
    let keys = app
        .config
        .links
        .keys
        .iter()
        .map(|key| (key.kid.clone(), key.secret.clone()))
        .collect();
    let signer = janus_core::links::LinkSigner::new(keys, kid.to_owned()).unwrap();
    signer.sign(id, principal, exp).url(&app.base)
}

/// Alice's active request on `prod` (payments) and a link to it signed for her, valid until the
/// request expires.
async fn active_with_link(app: &TestApp) -> (janus_core::domain::AccessRequest, String) {
    let request = app.active_on(ALICE, "prod", &["payments"]).await;
    let url = link(
        app,
        request.id.as_str(),
        ALICE,
        request.expires_at.unwrap().timestamp(),
    );
    (request, url)
}

async fn rejected_codes(app: &TestApp) -> Vec<String> {
    app.audit("link.rejected")
        .await
        .into_iter()
        .map(|(actor, details)| format!("{actor} {}", details["code"].as_str().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_links_open_only_for_their_signed_in_principal() {
    let app = TestApp::builder().config(web(LINK_KEYS)).start().await;
    let request = app.active_on(ALICE, "prod", &["payments", "checkout"]).await;
    let exp = request.expires_at.unwrap().timestamp();
    let url = link(&app, request.id.as_str(), ALICE, exp);

    // Anonymous: sign in first, then come back to the link.
    let page = Browser::new().get(&url).await.unwrap();
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let location = page.headers.get("location").unwrap().to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("/auth/login?next=/t/{}%3Fp%3Dalice", request.id)),
        "{location}"
    );

    let alice = app.browser_as(ALICE, &[]).await;
    let page = alice.get(&url).await.unwrap();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // The terminal page: one tab per granted namespace, in order, and the grant's end.
    let payments = page
        .body
        .find("data-namespace=\"payments\"")
        .expect("a payments tab");
    let checkout = page
        .body
        .find("data-namespace=\"checkout\"")
        .expect("a checkout tab");
    assert!(payments < checkout, "{}", page.body);
    assert!(page.body.contains(&format!("data-request=\"{}\"", request.id)));
    assert!(page.body.contains("datetime=\"2030-01-01T01:00:00.000000Z\""));
    let policy = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        policy.contains("script-src 'self';") && !policy.contains("unsafe-eval"),
        "{policy}"
    );
    assert_eq!(page.headers.get("referrer-policy").unwrap(), "no-referrer");

    // Links from the API are the same links.
    let (_, body) = crate::support::web::api(
        reqwest::Method::GET,
        &app.url(&format!("/api/v1/requests/{}", request.id)),
        Some(&app.api_token(ALICE).await),
        None,
    )
    .await;
    assert_eq!(
        alice.get(body["link"].as_str().unwrap()).await.unwrap().status,
        StatusCode::OK
    );

    // Another signed-in person, even an approver, is refused.
    let bob = app.browser_as(BOB, &[]).await;
    let page = bob.get(&url).await.unwrap();
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("issued to someone else"));

    // Tampered, expired, unknown key, not active.
    let tampered = url.replace("sig=", "sig=A");
    assert_eq!(alice.get(&tampered).await.unwrap().status, StatusCode::FORBIDDEN);
    let for_bob = url.replace("p=alice%40example.com", "p=bob%40example.com");
    assert_eq!(
        bob.get(&for_bob).await.unwrap().status,
        StatusCode::FORBIDDEN,
        "re-addressed link"
    );
    let unknown_kid = url.replace("kid=k1", "kid=k9");
    assert_eq!(
        alice.get(&unknown_kid).await.unwrap().status,
        StatusCode::FORBIDDEN
    );
    let old_key = link_with(&app, "k0", request.id.as_str(), ALICE, exp);
    assert!(old_key.contains("kid=k0"));
    assert_eq!(
        alice.get(&old_key).await.unwrap().status,
        StatusCode::OK,
        "rotated-out keys still verify"
    );
    app.clock.advance_secs(3_600);
    let expired = alice.get(&url).await.unwrap();
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.body.contains("expired"));
    let malformed = alice
        .get(&app.url(&format!("/t/{}?p=x", request.id)))
        .await
        .unwrap();
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);

    assert_eq!(
        rejected_codes(&app).await,
        [
            "bob@example.com wrong_principal",
            "alice@example.com bad_signature",
            "bob@example.com bad_signature",
            "alice@example.com unknown_kid",
            "alice@example.com expired",
            "alice@example.com malformed",
        ]
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_for_an_ended_request_opens_nothing() {
    let app = TestApp::builder().config(web(LINK_KEYS)).start().await;
    let (request, url) = active_with_link(&app).await;
    let bob = crate::support::person(BOB);
    app.workflow
        .execute(
            &request.id,
            None,
            janus_core::domain::Command::Revoke { reason: None },
            &janus_core::domain::Actor::Person(bob),
        )
        .await
        .unwrap();
    let alice = app.browser_as(ALICE, &[]).await;
    let page = alice.get(&url).await.unwrap();
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("revoked"), "{}", page.body);
    // A validly signed link to a request that does not exist.
    let ghost = link(
        &app,
        "jr-zzzzzzzz",
        ALICE,
        request.expires_at.unwrap().timestamp(),
    );
    assert_eq!(alice.get(&ghost).await.unwrap().status, StatusCode::NOT_FOUND);
    assert_eq!(
        rejected_codes(&app).await,
        [
            "alice@example.com not_active",
            "alice@example.com unknown_request"
        ]
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_mode_signs_the_holder_in_once() {
    let yaml = format!("{LINK_KEYS}  mode: link\n");
    let app = TestApp::builder().config(web(&yaml)).start().await;
    let (_, url) = active_with_link(&app).await;

    let holder = Browser::new();
    let page = holder.get(&url).await.unwrap();
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(
        holder.cookie(&app.base, "janus_session").is_some(),
        "exchanged for a session"
    );
    let cookie = page.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.contains("Max-Age=3600"),
        "the session ends with the grant: {cookie}"
    );
    let page = holder.get(page.location().unwrap().as_str()).await.unwrap();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let redeemed = app.audit("link.redeemed").await;
    assert_eq!(redeemed.len(), 1);
    assert_eq!(redeemed[0].0, ALICE);
    let signed_in = app.audit("auth.signed_in").await;
    assert_eq!(signed_in[0].1["method"], "link");
    // The link's session cannot be turned into lasting access.
    let token = holder
        .send(reqwest::Method::POST, &app.url("/api/v1/tokens"), |request| {
            request.json(&serde_json::json!({ "name": "keep" }))
        })
        .await
        .unwrap();
    assert_eq!(token.status, StatusCode::FORBIDDEN);
    assert!(token.body.contains("link_session_cannot_create_tokens"));

    // Single use: the same link in another browser is refused.
    let thief = Browser::new();
    let page = thief.get(&url).await.unwrap();
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("already used"));
    assert!(thief.cookie(&app.base, "janus_session").is_none());
    // Signed in as someone else: refused, not switched.
    let bob = app.browser_as(BOB, &[]).await;
    assert_eq!(bob.get(&url).await.unwrap().status, StatusCode::FORBIDDEN);
    assert_eq!(
        rejected_codes(&app).await,
        ["anonymous already_used", "bob@example.com wrong_principal"]
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_approved_through_a_link_or_a_get() {
    // The Python original approved on `GET /callback?action=approve&name=…`; Janus has no such
    // path, and its commands are POST-only behind the workflow's authorization.
    let app = TestApp::builder().config(web(LINK_KEYS)).start().await;
    let request = app.submit_on(ALICE, "prod", &["payments"]).await;
    let alice = app.browser_as(ALICE, &[]).await;
    for path in [
        format!("/callback?action=approve&name={}&cluster=prod", request.id),
        format!("/approve/{}", request.id),
        format!("/api/v1/requests/{}/approve", request.id),
        format!("/t/{}?action=approve", request.id),
    ] {
        let page = alice.get(&app.url(&path)).await.unwrap();
        assert!(
            matches!(
                page.status,
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST
            ),
            "GET {path} answered {}",
            page.status
        );
    }
    // A link signed for the requester of a Pending request opens nothing and approves nothing.
    let url = link(&app, request.id.as_str(), ALICE, 1_893_459_600);
    assert_eq!(alice.get(&url).await.unwrap().status, StatusCode::GONE);
    // Self-approval with the requester's own session through the API: refused.
    let approve = alice
        .send(
            reqwest::Method::POST,
            &app.url(&format!("/api/v1/requests/{}/approve", request.id)),
            |request| request.json(&serde_json::json!({})),
        )
        .await
        .unwrap();
    assert_eq!(approve.status, StatusCode::FORBIDDEN);
    assert!(approve.body.contains("self_approval"));
    assert_eq!(
        app.workflow.get(&request.id).await.unwrap().state,
        RequestState::Pending
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_watch_a_session_read_only() {
    let app = TestApp::builder().config(web(LINK_KEYS)).start().await;
    let request = app.active_on(ALICE, "prod", &["payments"]).await;
    let url = app.url(&format!("/t/{}?watch=ts-abc_123", request.id));

    let anonymous = Browser::new().get(&url).await.unwrap();
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location().unwrap().path(), "/auth/login");

    let admin = app.browser_as(ADMIN, &[]).await;
    let page = admin.get(&url).await.unwrap();
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("data-watch=\"ts-abc_123\""), "{}", page.body);
    assert!(page.body.contains("Watching read-only"));
    assert!(!page.body.contains("id=\"split\""), "nothing to type into");
    assert!(!page.body.contains("id=\"quick-commands\""));

    // The requester herself and an approver of the cluster may not watch.
    for email in [ALICE, BOB] {
        let browser = app.browser_as(email, &[]).await;
        let page = browser.get(&url).await.unwrap();
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{email}");
        assert!(page.body.contains("Only Janus admins may watch"), "{}", page.body);
    }
    let malformed = admin
        .get(&app.url(&format!("/t/{}?watch=ts%22%3E%3Cscript%3E", request.id)))
        .await
        .unwrap();
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let unknown = admin.get(&app.url("/t/jr-aaaaaaaa?watch=ts-1")).await.unwrap();
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        rejected_codes(&app).await,
        [
            format!("{ALICE} watch_not_admin"),
            format!("{BOB} watch_not_admin"),
            format!("{ADMIN} malformed"),
            format!("{ADMIN} unknown_request"),
        ]
    );
    app.finish().await;
}
