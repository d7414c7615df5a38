//! Forms: CSRF, the request form's inline errors, approve / deny / revoke / withdraw / extend through
//! the workflow's own authorization (self-approval refused), bulk actions with per-item results,
//! and join tokens shown once.

use janus_core::clock::Clock as _;
use janus_core::domain::{RequestId, RequestState};
use janus_core::workflow::join_token_hash;
use reqwest::StatusCode;

use super::{ADMIN, ALICE, BOB, ERIN, dashboard, on_both_backends};
use crate::support::Backend;

on_both_backends!(
    forms_need_this_sessions_csrf_token,
    the_request_form_submits_and_explains_what_is_wrong,
    approvers_decide_through_the_workflow_and_never_on_their_own_requests,
    bulk_actions_report_each_request,
);

async fn forms_need_this_sessions_csrf_token(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let (alice, bob) = (app.sign_in(ALICE).await, app.sign_in(BOB).await);
    let fields = [
        ("cluster", "prod"),
        ("namespaces", "payments"),
        ("reason", "debugging"),
    ];
    let missing = alice.post_raw("/requests", &fields, false).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let mut foreign: Vec<(&str, &str)> = vec![("_csrf", &bob.csrf)];
    foreign.extend_from_slice(&fields);
    let stolen = alice.post_raw("/requests", &foreign, false).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN, "another session's token");
    let request = app.submit(ALICE, &["checkout"]).await;
    let approve = format!("/requests/{}/approve", request.id);
    let refused = bob
        .post_raw(&approve, &[("_csrf", &alice.csrf), ("state", "pending")], true)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.workflow.get(&request.id).await.unwrap().state,
        RequestState::Pending
    );
    let codes = app.audit_codes("auth.refused").await;
    assert_eq!(codes, ["csrf", "csrf", "csrf"]);
    assert!(app.requests().await.len() == 1, "nothing submitted");
    let ok = alice.post("/requests", &fields).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    app.finish().await;
}

async fn the_request_form_submits_and_explains_what_is_wrong(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    app.workflow
        .report_namespaces(
            "prod",
            &["payments".into(), "checkout".into(), "kube-system".into()],
        )
        .await
        .unwrap();
    let alice = app.sign_in(ALICE).await;
    let home = alice.get("/?cluster=prod").await;
    assert!(home.body.contains("value=\"payments\"") && home.body.contains("value=\"checkout\""));
    assert!(
        !home.body.contains("value=\"kube-system\""),
        "excluded namespaces are not offered"
    );

    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[
                ("cluster", "prod"),
                ("namespaces", "payments"),
                ("ttl", "5m"),
                ("reason", "x"),
            ],
            "id=\"ttl-error\"",
        ),
        (
            &[
                ("cluster", "prod"),
                ("namespaces", "payments"),
                ("ttl", "soon"),
                ("reason", "x"),
            ],
            "is not a duration",
        ),
        (
            &[
                ("cluster", "prod"),
                ("namespaces", "kube-system"),
                ("reason", "x"),
            ],
            "is excluded from Janus",
        ),
        (
            &[("cluster", "prod"), ("namespaces", "payments")],
            "A reason is required",
        ),
        (
            &[("cluster", "prod"), ("reason", "x")],
            "Name at least one namespace",
        ),
    ];
    for (fields, message) in cases {
        let page = alice.post("/requests", fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(page.body.contains(message), "{fields:?}: {}", page.body);
        assert!(
            page.body.contains("<html"),
            "without htmx, the whole page comes back"
        );
        let fragment = alice.post_htmx("/requests", fields).await;
        assert_eq!(fragment.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            fragment.body.starts_with("<div id=\"request-form\">"),
            "{}",
            fragment.body
        );
        assert!(fragment.body.contains(message));
    }
    // What was typed survives an error.
    let page = alice
        .post(
            "/requests",
            &[
                ("cluster", "prod"),
                ("namespaces", "checkout"),
                ("reason", "keep me"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "a valid one goes through: {}",
        page.body
    );
    let id = page.location().trim_start_matches("/requests/").to_owned();
    let request = app.workflow.get(&RequestId::parse(&id).unwrap()).await.unwrap();
    assert_eq!(
        (request.namespaces, request.ttl_seconds),
        (vec!["checkout".to_owned()], 3_600)
    );
    let again = alice
        .post(
            "/requests",
            &[
                ("cluster", "prod"),
                ("namespaces", "checkout"),
                ("reason", "keep me"),
            ],
        )
        .await;
    assert!(again.body.contains("already have a live request") && again.body.contains("keep me"));
    // With htmx: a fresh form saying what was submitted, and the lists told to refresh.
    let fields = [
        ("cluster", "prod"),
        ("namespaces", "payments"),
        ("ttl", "2h"),
        ("reason", "incident"),
    ];
    let fragment = alice.post_htmx("/requests", &fields).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(fragment.body.contains("submitted; it waits for an approver"));
    assert_eq!(fragment.header("HX-Trigger"), "janus-changed");
    let mine = alice.get("/partials/mine").await.body;
    assert!(mine.contains("incident") && mine.contains(&id) && mine.contains("2h"));
    app.finish().await;
}

async fn approvers_decide_through_the_workflow_and_never_on_their_own_requests(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let (alice, bob, erin) = (
        app.sign_in(ALICE).await,
        app.sign_in(BOB).await,
        app.sign_in(ERIN).await,
    );
    // Bob's own request: no Approve button for him, and the form is refused anyway.
    let own = app.submit(BOB, &["payments"]).await;
    let own_path = format!("/requests/{}", own.id);
    assert!(
        !bob.get(&own_path).await.body.contains("/approve\""),
        "no approve button on one's own request"
    );
    let refused = bob
        .post_htmx(&format!("{own_path}/approve"), &[("state", "pending")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("cannot approve your own request"),
        "{}",
        refused.body
    );
    let refused = bob
        .post(&format!("{own_path}/approve"), &[("state", "pending")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Erin approves nothing.
    let request = app.submit(ALICE, &["checkout"]).await;
    let path = format!("/requests/{}", request.id);
    let refused = erin
        .post(&format!("{path}/approve"), &[("state", "pending")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("not an approver"));
    assert_eq!(
        app.workflow.get(&own.id).await.unwrap().state,
        RequestState::Pending
    );
    let refusals: Vec<String> = app.audit_codes("command.refused").await;
    assert_eq!(refusals, ["self_approval", "self_approval", "not_an_approver"]);

    // Bob approves Alice's with a shorter TTL from the options; the page is told to refresh.
    let approved = bob
        .post_htmx(
            &format!("{path}/approve"),
            &[("state", "pending"), ("ttl", "3600"), ("reason", "ok")],
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert!(approved.body.contains("approved"));
    assert_eq!(approved.header("HX-Trigger"), "janus-changed");
    let now = app.workflow.get(&request.id).await.unwrap();
    assert_eq!(
        (now.state, now.approvals[0].reason.as_deref()),
        (RequestState::Approved, Some("ok"))
    );
    // A click on a stale page is refused, not replayed.
    let stale = bob
        .post(
            &format!("{path}/deny"),
            &[("state", "pending"), ("back", "/admin")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("approved now, not pending"), "{}", stale.body);
    // Without htmx a decision redirects back to a local page only.
    let revoke = bob
        .post(
            &format!("{path}/revoke"),
            &[("state", "approved"), ("back", "https://evil.example/")],
        )
        .await;
    assert_eq!((revoke.status, revoke.location()), (StatusCode::SEE_OTHER, "/"));
    assert_eq!(
        app.workflow.get(&request.id).await.unwrap().state,
        RequestState::Revoked
    );
    // Alice withdraws her own; the timeline names who did what.
    let mine = app.submit(ALICE, &["payments"]).await;
    let withdrawn = alice
        .post(
            &format!("/requests/{}/withdraw", mine.id),
            &[("state", "pending")],
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::SEE_OTHER);
    let timeline = alice.get(&format!("/requests/{}", request.id)).await.body;
    for text in ["submitted", "approved", "revoked", BOB, "reason: ok"] {
        assert!(timeline.contains(text), "{text}: {timeline}");
    }
    app.finish().await;
}

async fn bulk_actions_report_each_request(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let first = app.submit(ALICE, &["payments"]).await;
    let second = app.submit(ERIN, &["payments"]).await;
    let bobs = app.submit(BOB, &["checkout"]).await;
    let approved = app
        .approve(&app.submit(ALICE, &["checkout"]).await, "carol@example.com")
        .await;
    let bob = app.sign_in(BOB).await;
    let ids: Vec<String> = [&first, &second, &bobs]
        .iter()
        .map(|request| format!("{}:pending", request.id))
        .chain([format!("{}:pending", approved.id)])
        .collect();
    let mut fields: Vec<(&str, &str)> = vec![("action", "deny"), ("reason", "not now")];
    fields.extend(ids.iter().map(|id| ("ids", id.as_str())));
    let results = bob.post_htmx("/admin/bulk", &fields).await;
    assert_eq!(results.status, StatusCode::OK, "{}", results.body);
    let lines: Vec<&str> = results.body.lines().filter(|line| line.contains("<li")).collect();
    assert_eq!(lines.len(), 4, "{}", results.body);
    assert!(lines[0].contains(first.id.as_str()) && lines[0].contains("denied"));
    assert!(lines[1].contains(second.id.as_str()) && lines[1].contains("denied"));
    assert!(
        lines[3].contains("approved now, not pending"),
        "a stale item is reported: {}",
        lines[3]
    );
    for (request, state) in [
        (&first, RequestState::Denied),
        (&second, RequestState::Denied),
        (&approved, RequestState::Approved),
    ] {
        assert_eq!(app.workflow.get(&request.id).await.unwrap().state, state);
    }
    // Denying one's own request only reduces access, so the workflow allows it.
    assert!(lines[2].contains(bobs.id.as_str()));
    // Bulk revoke, without htmx: a results page.
    let revoke = format!("{}:approved", approved.id);
    let page = bob
        .post("/admin/bulk", &[("action", "revoke"), ("ids", &revoke)])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("revoked") && page.body.contains("<html"));
    assert_eq!(
        app.workflow.get(&approved.id).await.unwrap().state,
        RequestState::Revoked
    );
    let nothing = bob.post_htmx("/admin/bulk", &[("action", "deny")]).await;
    assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
    assert!(nothing.body.contains("Select at least one request"));
    // A requester cannot use the bulk form at all.
    let erin = app.sign_in(ERIN).await;
    assert_eq!(
        erin.post("/admin/bulk", &fields).await.status,
        StatusCode::FORBIDDEN
    );
    app.finish().await;
}

#[tokio::test]
async fn join_tokens_are_shown_once_and_enroll_once() {
    let app = dashboard(Backend::Sqlite).await.unwrap();
    let admin = app.sign_in(ADMIN).await;
    let clusters = admin.get("/admin/clusters").await;
    assert!(clusters.body.contains("Never seen") && clusters.body.contains("Production"));
    let page = admin
        .post("/admin/clusters/join-token", &[("cluster", "prod")])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.header("cache-control"), "no-store");
    let token = page
        .body
        .split("value=\"jjt_")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let token = format!("jjt_{token}");
    let later = admin.get("/admin/clusters").await;
    assert!(
        !later.body.contains(&token) && !later.body.contains("jjt_"),
        "shown once"
    );
    let now = app.clock.now();
    let hash = join_token_hash(&token);
    assert_eq!(
        app.store
            .enroll(&hash, "prod", "a2V5", "0.1.0", now)
            .await
            .unwrap(),
        Ok(())
    );
    assert!(
        app.store
            .enroll(&hash, "prod", "a2V5", "0.1.0", now)
            .await
            .unwrap()
            .is_err()
    );
    let enrolled = admin.get("/admin/clusters").await;
    assert!(
        enrolled.body.contains("Connected") && enrolled.body.contains("0.1.0"),
        "{}",
        enrolled.body
    );
    let unknown = admin
        .post("/admin/clusters/join-token", &[("cluster", "nope")])
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let bob = app.sign_in(BOB).await;
    assert_eq!(
        bob.post("/admin/clusters/join-token", &[("cluster", "prod")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    app.finish().await;
}

#[tokio::test]
async fn extensions_are_asked_for_and_decided_on_the_pages() {
    let app = dashboard(Backend::Sqlite).await.unwrap();
    let request = app.approve(&app.submit(ALICE, &["payments"]).await, BOB).await;
    let work = app
        .workflow
        .wait_for_work(
            "prod",
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap()
        .expect("grant work");
    let outcome = janus_core::queue::WorkOutcome::Succeeded;
    app.workflow
        .complete_work("prod", work.id, &work.lease_token, outcome)
        .await
        .unwrap();
    let (alice, bob) = (app.sign_in(ALICE).await, app.sign_in(BOB).await);
    let path = format!("/requests/{}", request.id);
    assert!(alice.get("/").await.body.contains("Ask to extend"));
    let bad = alice
        .post_htmx(
            &format!("{path}/extend"),
            &[("state", "active"), ("ttl", "later")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("is not a duration"), "{}", bad.body);
    let asked = alice
        .post_htmx(
            &format!("{path}/extend"),
            &[("state", "active"), ("ttl", "30m"), ("reason", "still digging")],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    let admin_page = bob.get("/admin").await.body;
    assert!(admin_page.contains("30m more: still digging") && admin_page.contains("Approve extension"));
    let self_approved = alice
        .post(&format!("{path}/extension/approve"), &[("state", "active")])
        .await;
    assert_eq!(
        self_approved.status,
        StatusCode::FORBIDDEN,
        "{}",
        self_approved.body
    );
    let approved = bob
        .post_htmx(&format!("{path}/extension/approve"), &[("state", "active")])
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    let now = app.workflow.get(&request.id).await.unwrap();
    assert!(now.extension.is_none());
    assert_eq!(now.extensions, 1);
    app.finish().await;
}
