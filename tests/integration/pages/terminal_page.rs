//! The terminal page's way in from the dashboard: "Open terminal" on the requester's own Active
//! request signs a fresh link and sends the browser to it; nobody else gets one.

use reqwest::StatusCode;

use super::{ADMIN, ALICE, BOB, dashboard, on_both_backends};
use crate::support::Backend;

on_both_backends!(only_the_requester_opens_the_terminal_from_the_dashboard);

async fn only_the_requester_opens_the_terminal_from_the_dashboard(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let pending = app.submit(ALICE, &["checkout"]).await;
    let active = app.active(ALICE, &["payments"]).await;
    let alice = app.sign_in(ALICE).await;

    let home = alice.get("/").await;
    assert!(
        home.body
            .contains(&format!("href=\"/requests/{}/terminal\"", active.id))
    );
    assert!(
        !home
            .body
            .contains(&format!("href=\"/requests/{}/terminal\"", pending.id))
    );

    let open = alice.get(&format!("/requests/{}/terminal", active.id)).await;
    assert_eq!(open.status, StatusCode::SEE_OTHER, "{}", open.body);
    let link = reqwest::Url::parse(open.location()).unwrap();
    assert_eq!(link.path(), format!("/t/{}", active.id));
    assert!(link.query().unwrap().contains("sig="), "a signed link");
    let page = alice
        .get(&format!("{}?{}", link.path(), link.query().unwrap()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&format!("data-request=\"{}\"", active.id)));
    assert!(page.body.contains("data-namespace=\"payments\""));

    let not_active = alice.get(&format!("/requests/{}/terminal", pending.id)).await;
    assert_eq!(not_active.status, StatusCode::BAD_REQUEST);
    assert!(not_active.body.contains("not active"), "{}", not_active.body);

    for email in [BOB, ADMIN] {
        let other = app.sign_in(email).await;
        let page = other.get(&format!("/requests/{}/terminal", active.id)).await;
        assert_eq!(
            page.status,
            StatusCode::NOT_FOUND,
            "{email} gets no link to alice's terminal"
        );
    }
    assert_eq!(app.audit_codes("auth.refused").await, ["not_the_requester"; 2]);
    app.finish().await;
}
