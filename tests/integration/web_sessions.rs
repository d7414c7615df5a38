//! Local sign-in, the trusted header, sessions, CSRF on forms, and local-only redirects.

use std::net::IpAddr;

use janus_fixtures::browser::Browser;
use reqwest::StatusCode;

use crate::support::TestApp;
use crate::support::web::{ADMIN, ALICE, BOB, web};

/// The local form's `_csrf` value from its HTML.
fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

/// `/api/v1/me` as `browser`: OK while its session lives, UNAUTHORIZED once it has ended.
async fn me(app: &TestApp, browser: &Browser) -> StatusCode {
    browser.get(&app.url("/api/v1/me")).await.unwrap().status
}

/// The CSRF token the sessions page carries for `browser`'s session.
async fn csrf_of(app: &TestApp, browser: &Browser) -> String {
    let page = browser.get(&app.url("/auth/sessions")).await.unwrap();
    hidden(&page.body, "_csrf")
}

async fn local_app() -> (TestApp, String) {
    let app = TestApp::builder()
        .config(web("janus:\n  adminEmails: [admin@example.com]\n"))
        .start()
        .await;
    let password = janus_web::auth::local::ensure_admin(&app.accounts, &app.config)
        .await
        .unwrap()
        .expect("created at first start");
    assert!(
        janus_web::auth::local::ensure_admin(&app.accounts, &app.config)
            .await
            .unwrap()
            .is_none(),
        "the password is made (and shown) only once"
    );
    (app, password.expose().to_owned())
}

async fn local_login(
    app: &TestApp,
    browser: &Browser,
    password: &str,
    next: &str,
) -> janus_fixtures::browser::Page {
    let form = browser
        .get(&app.url(&format!("/auth/login?next={next}")))
        .await
        .unwrap();
    assert_eq!(form.status, StatusCode::OK);
    let csrf = hidden(&form.body, "_csrf");
    let next = hidden(&form.body, "next");
    browser
        .post_form(
            &app.url("/auth/login"),
            &[
                ("email", ADMIN),
                ("password", password),
                ("next", &next),
                ("_csrf", &csrf),
            ],
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_admin_signs_in_with_the_printed_password_only() {
    let (app, password) = local_app().await;
    let browser = Browser::new();
    let wrong = local_login(&app, &browser, "not-the-password", "/").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("not correct"));
    assert!(browser.cookie(&app.base, "janus_session").is_none());
    assert_eq!(app.refusals().await, vec!["bad_password"]);

    let page = local_login(&app, &browser, &password, "/admin").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location().unwrap().path(), "/admin");
    let me = browser.get(&app.url("/api/v1/me")).await.unwrap();
    let me: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(me["principal"], ADMIN);
    assert_eq!(me["isAdmin"], true);

    // A login form posted without this browser's login cookie (another site) is refused.
    let forged = Browser::new()
        .post_form(
            &app.url("/auth/login"),
            &[("email", ADMIN), ("password", &password), ("_csrf", "guess")],
        )
        .await
        .unwrap();
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_redirects_only_to_local_paths() {
    let (app, password) = local_app().await;
    for (next, expected) in [
        ("https%3A%2F%2Fevil.example%2F", "/"),
        ("%2F%2Fevil.example", "/"),
        ("%2F%5Cevil.example", "/"),
        ("%2Fadmin%2Faudit", "/admin/audit"),
    ] {
        let browser = Browser::new();
        let page = local_login(&app, &browser, &password, next).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let location = page.headers.get("location").unwrap().to_str().unwrap();
        assert_eq!(location, expected, "next={next}");
        // Already signed in: /auth/login?next= redirects the same way.
        let again = browser
            .get(&app.url(&format!("/auth/login?next={next}")))
            .await
            .unwrap();
        assert_eq!(again.headers.get("location").unwrap().to_str().unwrap(), expected);
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_send_anonymous_visitors_to_sign_in_and_the_api_answers_401() {
    let app = TestApp::builder().config(web("{}")).start().await;
    let page = Browser::new().get(&app.url("/auth/sessions")).await.unwrap();
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers.get("location").unwrap(),
        "/auth/login?next=/auth/sessions"
    );
    let api = Browser::new().get(&app.url("/api/v1/requests")).await.unwrap();
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_mode_trusts_only_the_proxy_address() {
    // The proxy is 127.0.0.1; a client connecting from 127.0.0.2 is someone else on the network.
    let app = TestApp::builder()
        .config(web(
            "auth:\n  mode: header\n  header:\n    trustedProxyCidrs: [127.0.0.1/32]\n",
        ))
        .start()
        .await;
    let proxy = Browser::bound_to(IpAddr::from([127, 0, 0, 1]));
    let me = proxy
        .send(reqwest::Method::GET, &app.url("/api/v1/me"), |request| {
            request.header("X-Forwarded-Email", "Alice@Example.com")
        })
        .await
        .unwrap();
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert!(me.body.contains("\"principal\":\"alice@example.com\""));
    assert!(me.body.contains("\"credential\":\"header\""));

    let intruder = Browser::bound_to(IpAddr::from([127, 0, 0, 2]));
    let spoofed = intruder
        .send(reqwest::Method::GET, &app.url("/api/v1/me"), |request| {
            request
                .header("X-Forwarded-Email", ADMIN)
                .header("X-Forwarded-For", "127.0.0.1")
                .header("X-Real-IP", "127.0.0.1")
        })
        .await
        .unwrap();
    assert_eq!(spoofed.status, StatusCode::UNAUTHORIZED, "{}", spoofed.body);
    let refusals = app.audit("auth.refused").await;
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].1["code"], "untrusted_header");
    assert_eq!(refusals[0].1["ip"], "127.0.0.2");
    assert_eq!(refusals[0].1["claimed"], ADMIN);

    // Submitting through the API with the spoofed header creates nothing.
    let submit = intruder
        .send(reqwest::Method::POST, &app.url("/api/v1/requests"), |request| {
            request
                .header("X-Forwarded-Email", ALICE)
                .json(&serde_json::json!({
                    "cluster": "prod", "namespaces": ["payments"], "reason": "spoof"
                }))
        })
        .await
        .unwrap();
    assert_eq!(submit.status, StatusCode::UNAUTHORIZED);
    let listed = app.requests().await;
    assert!(listed.is_empty());

    // Pages in header mode: the proxy's header is the sign-in; forms carry a CSRF token too.
    let page = proxy
        .send(reqwest::Method::GET, &app.url("/auth/sessions"), |request| {
            request.header("X-Forwarded-Email", ALICE)
        })
        .await
        .unwrap();
    assert_eq!(page.status, StatusCode::OK);
    let csrf = hidden(&page.body, "_csrf");
    assert!(!csrf.is_empty());
    let forged = proxy
        .send(reqwest::Method::POST, &app.url("/auth/tokens"), |request| {
            request.header("X-Forwarded-Email", ALICE).form(&[("name", "x")])
        })
        .await
        .unwrap();
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let created = proxy
        .send(reqwest::Method::POST, &app.url("/auth/tokens"), |request| {
            request
                .header("X-Forwarded-Email", ALICE)
                .form(&[("name", "laptop"), ("_csrf", csrf.as_str())])
        })
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body.contains("jat_"));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_this_sessions_csrf_token_are_refused() {
    let app = TestApp::builder().config(web("{}")).start().await;
    let alice = app.browser_as(ALICE, &[]).await;
    let bob = app.browser_as(BOB, &[]).await;
    let alice_token = csrf_of(&app, &alice).await;
    let bob_token = csrf_of(&app, &bob).await;
    assert_ne!(alice_token, bob_token);

    for (label, fields) in [
        ("missing token", vec![]),
        ("another session's token", vec![("_csrf", bob_token.as_str())]),
        ("empty token", vec![("_csrf", "")]),
    ] {
        let refused = alice.post_form(&app.url("/auth/logout"), &fields).await.unwrap();
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{label}");
        let me = alice.get(&app.url("/api/v1/me")).await.unwrap();
        assert_eq!(me.status, StatusCode::OK, "{label}: still signed in");
    }
    // A cross-site post with the right token but a foreign Origin is refused as well.
    let cross_site = alice
        .send(reqwest::Method::POST, &app.url("/auth/logout"), |request| {
            request
                .header("Origin", "https://evil.example")
                .form(&[("_csrf", alice_token.as_str())])
        })
        .await
        .unwrap();
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    let codes: Vec<String> = app
        .audit("auth.refused")
        .await
        .into_iter()
        .map(|(actor, details)| {
            format!(
                "{actor} {} {}",
                details["code"].as_str().unwrap(),
                details["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            "alice@example.com csrf missing_token",
            "alice@example.com csrf wrong_token",
            "alice@example.com csrf wrong_token",
            "alice@example.com csrf foreign_origin",
        ]
    );

    // The header carries the token as well as the field does (htmx).
    let out = alice
        .send(reqwest::Method::POST, &app.url("/auth/logout"), |request| {
            request
                .header("X-CSRF-Token", alice_token.as_str())
                .form(&[("x", "1")])
        })
        .await
        .unwrap();
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_eq!(me(&app, &alice).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &bob).await, StatusCode::OK);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_revoked_one_by_one_or_everywhere() {
    let app = TestApp::builder().config(web("{}")).start().await;
    let laptop = app.browser_as(ALICE, &[]).await;
    let phone_secret = app.session_secret(ALICE, &[]).await;
    let phone = Browser::new();
    phone.set_cookie(&app.base, "janus_session", Some(&phone_secret));
    let phone_id = app.accounts.session(&phone_secret).await.unwrap().unwrap().id;
    let page = laptop.get(&app.url("/auth/sessions")).await.unwrap();
    assert_eq!(page.body.matches("<tr id=\"session-").count(), 2);
    assert_eq!(page.body.matches("this browser").count(), 1);
    let csrf = hidden(&page.body, "_csrf");

    // The laptop ends the phone's session.
    let revoked = laptop
        .post_form(
            &app.url(&format!("/auth/sessions/{phone_id}/revoke")),
            &[("_csrf", &csrf)],
        )
        .await
        .unwrap();
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(me(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &laptop).await, StatusCode::OK);

    // Bob cannot end Alice's sessions, even with his own valid token.
    let bob = app.browser_as(BOB, &[]).await;
    let bob_csrf = csrf_of(&app, &bob).await;
    let sessions = app
        .accounts
        .sessions(&crate::support::person(ALICE))
        .await
        .unwrap();
    let laptop_id = sessions
        .iter()
        .find(|session| session.id != phone_id)
        .unwrap()
        .id
        .clone();
    bob.post_form(
        &app.url(&format!("/auth/sessions/{laptop_id}/revoke")),
        &[("_csrf", &bob_csrf)],
    )
    .await
    .unwrap();
    assert_eq!(me(&app, &laptop).await, StatusCode::OK);

    // Sign out everywhere.
    let third = app.browser_as(ALICE, &[]).await;
    let out = laptop
        .post_form(&app.url("/auth/logout-everywhere"), &[("_csrf", &csrf)])
        .await
        .unwrap();
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.body.contains("2 sessions ended"), "{}", out.body);
    for browser in [&laptop, &third] {
        assert_eq!(me(&app, browser).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(me(&app, &bob).await, StatusCode::OK);
    app.finish().await;
}

/// `janus serve` with `auth.mode: local` and no admins configured: `admin@localhost`, whose
/// password is printed once at first start, signs in and is an admin; a restart prints nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn janus_serve_prints_the_local_admin_password_once() {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};

    let dir = crate::support::TempDir::new();
    let start = || {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_janus"));
        command
            .args(["--log-format", "json", "serve"])
            .current_dir(dir.path())
            .env_remove("JANUS_CONFIG")
            .env("JANUS_WEBUI__LISTEN", "127.0.0.1:0")
            .env("JANUS_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        command.spawn().unwrap()
    };
    async fn listening(child: &mut tokio::process::Child) -> String {
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            loop {
                let line = lines
                    .next_line()
                    .await
                    .unwrap()
                    .expect("janus exited before listening");
                let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if entry["message"] == "janus central listening" {
                    return entry["address"].as_str().unwrap().to_owned();
                }
            }
        })
        .await
        .expect("janus never said it was listening");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        format!("http://{address}")
    }
    async fn stop(mut child: tokio::process::Child) -> String {
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.id().unwrap().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut stdout = String::new();
        if let Some(mut pipe) = child.stdout.take() {
            pipe.read_to_string(&mut stdout).await.unwrap();
        }
        assert!(child.wait().await.unwrap().success());
        stdout
    }

    let mut first = start();
    let base = listening(&mut first).await;
    let mut stdout = BufReader::new(first.stdout.take().unwrap()).lines();
    // A deadline, not a wait: a binary that never prints must fail the test, not hang it.
    let printed = crate::support::rest_of_line(
        &mut stdout,
        "Local sign-in (development only): admin@localhost / ",
        "the password is printed",
    );
    let password = tokio::time::timeout(std::time::Duration::from_secs(60), printed)
        .await
        .expect("janus serve printed no password within a minute")
        .trim()
        .to_owned();
    assert!(password.len() >= 20, "{password}");

    let browser = Browser::new();
    let form = browser.get(&format!("{base}/auth/login")).await.unwrap();
    let csrf = hidden(&form.body, "_csrf");
    assert_eq!(hidden(&form.body, "email"), "admin@localhost");
    let signed_in = browser
        .post_form(
            &format!("{base}/auth/login"),
            &[
                ("email", "admin@localhost"),
                ("password", &password),
                ("_csrf", &csrf),
            ],
        )
        .await
        .unwrap();
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    let me = browser.get(&format!("{base}/api/v1/me")).await.unwrap();
    let me: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(
        (me["principal"].as_str(), me["isAdmin"].as_bool()),
        (Some("admin@localhost"), Some(true))
    );
    first.stdout = None;
    let _ = stop(first).await;

    let mut second = start();
    let base = listening(&mut second).await;
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let printed = stop(second).await;
    assert!(!printed.contains("Local sign-in"), "printed again: {printed}");
}
