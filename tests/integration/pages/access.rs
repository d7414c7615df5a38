//! Who sees which page: each role gets its pages, everyone else a 403, 404 or the sign-in page,
//! and every refusal is audited. Security headers and assets.

use reqwest::StatusCode;

use super::on_both_backends;
use super::{ADMIN, ALICE, BOB, ERIN, TestApp, dashboard, dashboard_yaml};
use crate::support::Backend;

on_both_backends!(
    pages_render_for_each_role_and_refuse_others,
    request_pages_are_visible_to_whom_they_concern
);

async fn pages_render_for_each_role_and_refuse_others(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let (alice, bob, admin) = (
        app.sign_in(ALICE).await,
        app.sign_in(BOB).await,
        app.sign_in(ADMIN).await,
    );

    let home = alice.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Request access"), "{}", home.body);
    assert!(
        home.body.contains(&alice.csrf),
        "forms carry the session's CSRF token"
    );
    assert!(
        !home.body.contains("href=\"/admin\""),
        "no approvals link for a requester"
    );
    assert!(home.body.contains("Europe/Paris"), "the display zone is named");

    // Requester: no approvals page, no admin pages; each refusal audited.
    for path in [
        "/admin",
        "/admin/audit",
        "/admin/clusters",
        "/admin/settings",
        "/admin/audit/export.jsonl",
    ] {
        let page = alice.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Approver: approvals yes, admin pages no.
    let approvals = bob.get("/admin").await;
    assert_eq!(approvals.status, StatusCode::OK);
    assert!(approvals.body.contains("Waiting for approval"));
    for path in [
        "/admin/audit",
        "/admin/clusters",
        "/admin/settings",
        "/admin/audit/export.csv",
    ] {
        assert_eq!(bob.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Admin: everything.
    for path in [
        "/",
        "/admin",
        "/admin/audit",
        "/admin/clusters",
        "/admin/settings",
    ] {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(
            page.body.contains("href=\"/admin/audit\""),
            "{path} links the admin pages"
        );
    }
    let codes = app.audit_codes("auth.refused").await;
    assert_eq!(
        codes.iter().filter(|code| *code == "not_admin").count(),
        8,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|code| *code == "not_an_approver").count(),
        1,
        "{codes:?}"
    );

    // Anonymous: pages send to sign-in (with the way back), htmx gets HX-Redirect.
    let anonymous = app.anonymous();
    for path in [
        "/",
        "/admin",
        "/admin/audit",
        "/requests/jr-abcdefgh",
        "/events",
        "/partials/mine",
    ] {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            page.location().starts_with("/auth/login?next="),
            "{path}: {}",
            page.location()
        );
    }
    let htmx = anonymous.get_htmx("/partials/mine").await;
    assert_eq!(htmx.status, StatusCode::UNAUTHORIZED);
    assert!(htmx.header("HX-Redirect").starts_with("/auth/login"));
    let post = anonymous
        .post_raw("/requests", &[("cluster", "prod")], false)
        .await;
    assert_eq!(post.status, StatusCode::SEE_OTHER);

    // Pages carry a CSP without inline scripts, and have none.
    let csp = home.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(home.header("x-frame-options"), "DENY");
    assert_eq!(home.header("cache-control"), "no-store");
    assert!(
        !home.body.contains("<script>") && !home.body.contains(" style=") && !home.body.contains(" onclick")
    );
    assert!(!home.body.contains("https://"), "no CDN");

    // Assets are embedded, hashed and cached for good; a stale hash still works, uncached.
    let script = home
        .body
        .split("<script src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let asset = alice.get(&script).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(
        asset.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(asset.header("content-type").starts_with("text/javascript"));
    let stale = format!(
        "/assets/0000000000000000/{}",
        script.splitn(4, '/').nth(3).unwrap()
    );
    let old = alice.get(&stale).await;
    assert_eq!(old.status, StatusCode::OK, "{stale}");
    assert_eq!(old.header("cache-control"), "no-cache");
    assert_eq!(
        alice.get("/assets/abc/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
    app.finish().await;
}

async fn request_pages_are_visible_to_whom_they_concern(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let request = app.submit(ALICE, &["payments"]).await;
    let path = format!("/requests/{}", request.id);
    for email in [ALICE, BOB, "carol@example.com", ADMIN] {
        let page = app.sign_in(email).await.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{email}");
        assert!(page.body.contains("Pending approval") && page.body.contains("payments"));
        assert!(
            page.body.contains("Timeline") && page.body.contains("submitted"),
            "{}",
            page.body
        );
    }
    let erin = app.sign_in(ERIN).await;
    let hidden = erin.get(&path).await;
    let missing = erin.get("/requests/jr-aaaaaaaa").await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        hidden.body, missing.body,
        "a hidden request looks like a missing one"
    );
    assert_eq!(
        erin.get(&format!("/partials{path}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.audit_codes("auth.refused").await,
        ["not_visible", "not_visible"]
    );
    // Erin's home page does not list Alice's request; Bob's approvals page does.
    assert!(!erin.get("/").await.body.contains(request.id.as_str()));
    assert!(
        app.sign_in(BOB)
            .await
            .get("/admin")
            .await
            .body
            .contains(request.id.as_str())
    );
    app.finish().await;
}

#[tokio::test]
async fn settings_show_the_configuration_with_secrets_redacted() {
    let app = TestApp::builder()
        .config(dashboard_yaml(
            "slack:\n  enabled: true\n  botToken: xoxb-very-secret\n  signingSecret: shh-signing\n",
        ))
        .start()
        .await;
    let page = app.sign_in(ADMIN).await.get("/admin/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("displayTimezone: Europe/Paris"),
        "{}",
        page.body
    );
    assert!(page.body.contains("***"));
    assert!(!page.body.contains("xoxb-very-secret") && !page.body.contains("shh-signing"));
    app.finish().await;
}
