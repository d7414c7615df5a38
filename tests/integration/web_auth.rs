//! Sign-in against real protocols: a real OpenID provider (npm `oidc-provider`, started by the
//! harness) and a fake GitHub. Every refusal is a page, no session, and an `auth.refused` event.

use std::collections::BTreeMap;

use janus_core::clock::{Clock, ManualClock, SystemClock};
use janus_fixtures::browser::Browser;
use janus_fixtures::github::{FakeGithub, GithubEmail, GithubUser};
use janus_fixtures::oidc::{OidcAccount, OidcClient, OidcProvider};
use reqwest::StatusCode;
use tokio::net::TcpListener;

use crate::support::Backend;
use crate::support::TestApp;
use crate::support::web::web;

const CLIENT_ID: &str = "janus";
const CLIENT_SECRET: &str = "janus-client-secret";

/// ID tokens are checked on Janus's clock, so it starts at the real time.
fn real_time_clock() -> ManualClock {
    ManualClock::new(SystemClock.now())
}

/// A provider that knows alice (verified, group prod-approvers), unverified and outsider; and
/// Janus in oidc mode allowing example.com only.
async fn oidc_app(backend: Backend) -> Option<(TestApp, OidcProvider)> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accounts = BTreeMap::from([
        (
            "alice".to_owned(),
            OidcAccount {
                groups: vec!["prod-approvers".into(), "staff".into()],
                ..OidcAccount::verified("Alice@Example.com")
            },
        ),
        (
            "unverified".to_owned(),
            OidcAccount {
                email_verified: false,
                ..OidcAccount::verified("unverified@example.com")
            },
        ),
        ("outsider".to_owned(), OidcAccount::verified("mallory@evil.test")),
    ]);
    let clients = [OidcClient {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![format!("{base}/auth/callback")],
    }];
    let provider = OidcProvider::start(&clients, &accounts).await.unwrap();
    let yaml = format!(
        "auth:\n  mode: oidc\n  oidc:\n    provider: custom\n    issuerUrl: {}\n    clientId: {CLIENT_ID}\n    clientSecret: {CLIENT_SECRET}\n    allowedDomains: [example.com]\n",
        provider.issuer
    );
    let app = TestApp::builder()
        .backend(backend)
        .listener(listener)
        .config(web(&yaml))
        .clock(real_time_clock())
        .try_start()
        .await?;
    Some((app, provider))
}

/// `GET /auth/login?next=…` → the provider's authorization URL (and the login cookie).
async fn begin(app: &TestApp, browser: &Browser, next: &str) -> String {
    let page = browser
        .get(&app.url(&format!("/auth/login?next={next}")))
        .await
        .unwrap();
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(
        browser.cookie(&app.base, "janus_login").is_some(),
        "login cookie set"
    );
    page.location().unwrap().to_string()
}

async fn me(app: &TestApp, browser: &Browser) -> (StatusCode, serde_json::Value) {
    let page = browser.get(&app.url("/api/v1/me")).await.unwrap();
    (page.status, serde_json::from_str(&page.body).unwrap_or_default())
}

mod oidc_full_login {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::full_login(crate::support::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::full_login(crate::support::Backend::Postgres).await;
    }
}

async fn full_login(backend: Backend) {
    let Some((app, provider)) = oidc_app(backend).await else {
        return;
    };
    let browser = Browser::new();
    let authorize = begin(&app, &browser, "/admin%3Fstate%3Dpending").await;
    assert!(authorize.starts_with(&provider.issuer), "{authorize}");
    for parameter in ["code_challenge_method=S256", "nonce=", "state=", "scope=openid"] {
        assert!(authorize.contains(parameter), "{parameter} in {authorize}");
    }
    let callback = provider.login(&browser, &authorize, "alice").await.unwrap();
    assert!(callback.starts_with(&app.url("/auth/callback?")), "{callback}");
    let page = browser.get(&callback).await.unwrap();
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location().unwrap().as_str(), app.url("/admin?state=pending"));
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session = cookie
        .iter()
        .find(|c| c.starts_with("janus_session="))
        .expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "plain-http base URL: no Secure");

    let (status, me) = me(&app, &browser).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["principal"], "alice@example.com", "canonical lower-case email");
    assert_eq!(me["groups"], serde_json::json!(["prod-approvers", "staff"]));
    assert_eq!(
        me["approverOf"],
        serde_json::json!(["prod"]),
        "approver of prod through the group"
    );
    let signed_in = app.audit("auth.signed_in").await;
    assert_eq!(signed_in.len(), 1);
    assert_eq!(signed_in[0].0, "alice@example.com");
    assert_eq!(signed_in[0].1["method"], "oidc");

    // The callback cannot be replayed: the sign-in it belonged to is spent.
    let again = browser.get(&callback).await.unwrap();
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("start again"), "{}", again.body);
    assert_eq!(app.audit("auth.signed_in").await.len(), 1, "no second session");
    assert!(app.refusals().await.contains(&"no_pending_login".to_owned()));
    provider.stop().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_refuses_an_unverified_email() {
    let (app, provider) = oidc_app(Backend::Sqlite).await.unwrap();
    let browser = Browser::new();
    let authorize = begin(&app, &browser, "/").await;
    let callback = provider.login(&browser, &authorize, "unverified").await.unwrap();
    let page = browser.get(&callback).await.unwrap();
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("not verified"), "{}", page.body);
    assert!(browser.cookie(&app.base, "janus_session").is_none());
    assert_eq!(me(&app, &browser).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refusals().await, vec!["email_not_verified"]);
    assert!(app.audit("auth.signed_in").await.is_empty());
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_refuses_a_domain_outside_allowed_domains() {
    let (app, provider) = oidc_app(Backend::Sqlite).await.unwrap();
    let browser = Browser::new();
    let authorize = begin(&app, &browser, "/").await;
    let callback = provider.login(&browser, &authorize, "outsider").await.unwrap();
    let page = browser.get(&callback).await.unwrap();
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("evil.test"), "{}", page.body);
    assert!(browser.cookie(&app.base, "janus_session").is_none());
    assert_eq!(app.refusals().await, vec!["domain_not_allowed"]);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_refuses_a_bad_state() {
    let (app, provider) = oidc_app(Backend::Sqlite).await.unwrap();
    let browser = Browser::new();
    let authorize = begin(&app, &browser, "/").await;
    let callback = provider.login(&browser, &authorize, "alice").await.unwrap();
    let mut tampered = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .map(|(key, value)| {
            let value = if key == "state" {
                format!("{value}x")
            } else {
                value.into_owned()
            };
            (key.into_owned(), value)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let page = browser.get(tampered.as_str()).await.unwrap();
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(browser.cookie(&app.base, "janus_session").is_none());
    assert_eq!(app.refusals().await, vec!["bad_state"]);

    // A callback in a browser that never started a sign-in is refused too (login CSRF).
    let stranger = Browser::new();
    let page = stranger.get(&callback).await.unwrap();
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(stranger.cookie(&app.base, "janus_session").is_none());
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_refuses_a_replayed_code() {
    let (app, provider) = oidc_app(Backend::Sqlite).await.unwrap();
    let browser = Browser::new();
    let authorize = begin(&app, &browser, "/").await;
    let callback = provider.login(&browser, &authorize, "alice").await.unwrap();
    assert_eq!(
        browser.get(&callback).await.unwrap().status,
        StatusCode::SEE_OTHER
    );
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == "code")
        .map(|(_, value)| value.into_owned())
        .unwrap();

    // An attacker starts their own sign-in and feeds it the used code: the provider refuses it.
    let attacker = Browser::new();
    let attacker_authorize = begin(&app, &attacker, "/").await;
    let state = url::Url::parse(&attacker_authorize)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let forged = format!(
        "{}?code={code}&state={state}&iss={}",
        app.url("/auth/callback"),
        provider.issuer
    );
    let page = attacker.get(&forged).await.unwrap();
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(attacker.cookie(&app.base, "janus_session").is_none());
    assert_eq!(app.refusals().await, vec!["code_rejected"]);
    assert_eq!(app.audit("auth.signed_in").await.len(), 1);
    app.finish().await;
}

/// Central signing in with a fake GitHub that knows only `login` (its `id`, and its `emails` as
/// (address, primary, verified)), and a browser that followed Janus → GitHub → Janus's callback
/// as `login`: the callback's answer. The fake GitHub lives as long as the returned handle.
async fn github_sign_in(
    login: &str,
    id: u64,
    emails: &[(&str, bool, bool)],
) -> (TestApp, FakeGithub, Browser, janus_fixtures::browser::Page) {
    let user = GithubUser {
        id,
        login: login.into(),
        emails: emails
            .iter()
            .map(|(email, primary, verified)| GithubEmail {
                email: (*email).into(),
                primary: *primary,
                verified: *verified,
            })
            .collect(),
    };
    let github = FakeGithub::start("gh-client", "gh-secret", vec![user])
        .await
        .unwrap();
    let yaml = format!(
        "auth:\n  mode: github\n  github:\n    clientId: gh-client\n    clientSecret: gh-secret\n    webBaseUrl: {0}\n    apiBaseUrl: {0}\n",
        github.url
    );
    let app = TestApp::builder().config(web(&yaml)).start().await;
    let browser = Browser::new();
    let authorize = begin(&app, &browser, "/").await;
    let page = browser.get(&format!("{authorize}&login={login}")).await.unwrap();
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = browser.get(page.location().unwrap().as_str()).await.unwrap();
    (app, github, browser, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_signs_in_with_the_primary_verified_email() {
    let emails = [
        ("octo@users.noreply.github.com", false, true),
        ("Octo@Example.com", true, true),
    ];
    let (app, _github, browser, page) = github_sign_in("octo", 7, &emails).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (status, me) = me(&app, &browser).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["principal"], "octo@example.com");
    assert_eq!(app.audit("auth.signed_in").await[0].1["method"], "github");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_refuses_an_unverified_primary_email() {
    // A verified secondary address does not help: the primary one must be verified.
    let emails = [
        ("ceo@example.com", true, false),
        ("sneaky@example.com", false, true),
    ];
    let (app, _github, browser, page) = github_sign_in("sneaky", 8, &emails).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("not verified"), "{}", page.body);
    assert!(browser.cookie(&app.base, "janus_session").is_none());
    assert_eq!(me(&app, &browser).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refusals().await, vec!["email_not_verified"]);
    app.finish().await;
}
