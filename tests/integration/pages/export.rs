//! `/admin/audit`: search, and the JSON Lines and CSV exports (streamed in pages, filtered, ending
//! at the chain head as it was when the export began).

use janus_core::domain::NewEvent;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{ADMIN, ALICE, BOB, dashboard, on_both_backends};
use crate::support::Backend;

on_both_backends!(audit_search_and_exports_return_the_right_rows);

async fn audit_search_and_exports_return_the_right_rows(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let request = app.submit(ALICE, &["payments"]).await;
    app.approve(&request, BOB).await;
    // Enough other events that the export needs more than one page (500 per round trip).
    for index in 0..520 {
        let event = NewEvent {
            action: janus_core::domain::AuditAction::AgentRejected,
            actor: format!("agent:edge-{index}"),
            request_id: None,
            cluster: Some("edge".into()),
            details: json!({ "reason": "=1+1, \"quoted\"" }),
        };
        app.workflow.audit(event).await.unwrap();
    }
    let other = app.submit("erin@example.com", &["checkout"]).await;
    let admin = app.sign_in(ADMIN).await;

    let page = admin.get(&format!("/admin/audit?request={}", request.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<tr><td>").count(), 2, "submitted and approved");
    assert!(page.body.contains("request.approved") && !page.body.contains(other.id.as_str()));
    let newest = admin.get("/admin/audit").await;
    assert_eq!(newest.body.matches("<tr><td>").count(), 100, "one page");
    assert!(newest.body.contains("Older events"));
    let by_actor = admin
        .get("/admin/audit?actor=BOB%40example.com&action=request.")
        .await;
    assert_eq!(by_actor.body.matches("<tr><td>").count(), 1, "{}", by_actor.body);
    let bad_time = admin.get("/admin/audit?from=yesterday").await;
    assert!(bad_time.body.contains("is not a time"));

    // JSON Lines: exactly the request's events, whole records with their hashes.
    let jsonl = admin
        .get(&format!("/admin/audit/export.jsonl?request={}", request.id))
        .await;
    assert_eq!(jsonl.status, StatusCode::OK);
    assert_eq!(jsonl.header("content-type"), "application/x-ndjson");
    assert!(jsonl.header("content-disposition").contains("janus-audit.jsonl"));
    let lines: Vec<Value> = jsonl
        .body
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let stored = app.store.audit_for_request(&request.id).await.unwrap();
    assert_eq!(lines.len(), stored.len());
    for (line, record) in lines.iter().zip(&stored) {
        assert_eq!(line, &serde_json::to_value(record).unwrap());
    }
    // The whole log, across pages: every event up to the head, in order, ending with the export's
    // own audit event.
    let all = admin.get("/admin/audit/export.jsonl").await;
    let seqs: Vec<i64> = all
        .body
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let (head, _) = app.store.audit_head().await.unwrap();
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>());
    assert!(all.body.lines().last().unwrap().contains("audit.exported"));

    // CSV: a header, one row per event of cluster `edge`, quoted and defused.
    let csv = admin
        .get("/admin/audit/export.csv?cluster=edge&action=agent.rejected")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-type").starts_with("text/csv"));
    let rows: Vec<&str> = csv.body.split("\r\n").filter(|row| !row.is_empty()).collect();
    assert_eq!(
        rows[0],
        "seq,at,actor,action,request_id,cluster,details,prev_hash,hash"
    );
    assert_eq!(rows.len(), 521);
    assert!(
        rows[1].contains(",agent:edge-0,agent.rejected,,edge,"),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains("\"{\"\"reason\"\":\"\"=1+1, \\\"\"quoted\\\"\"\"\"}\""),
        "{}",
        rows[1]
    );

    // Exports are audited, and refused to non-admins.
    let exported = app.store.audit_page(0, 100_000).await.unwrap();
    assert_eq!(
        exported
            .iter()
            .filter(|event| event.action == "audit.exported")
            .count(),
        3
    );
    let bob = app.sign_in(BOB).await;
    assert_eq!(
        bob.get("/admin/audit/export.jsonl").await.status,
        StatusCode::FORBIDDEN
    );
    app.finish().await;
}
