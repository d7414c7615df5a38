//! Quick commands: `/admin/commands` (admins only, CSRF, validation with a sentence, every change
//! audited) and `GET /api/v1/requests/{id}/terminal/commands` (the requester of an Active request
//! or an admin; per cluster).

use janus_core::quick_commands::QuickCommand;
use reqwest::StatusCode;
use serde_json::Value;

use super::{ADMIN, ALICE, BOB, Browser, ERIN, TestApp, dashboard, on_both_backends};
use crate::support::Backend;

on_both_backends!(
    only_admins_manage_quick_commands_and_refusals_are_audited,
    quick_command_forms_need_this_sessions_csrf_token,
    admins_add_edit_and_delete_quick_commands_and_each_change_is_audited,
    bad_quick_commands_are_refused_with_a_sentence,
    a_terminal_lists_the_quick_commands_of_its_own_cluster,
);

async fn commands(app: &TestApp) -> Vec<QuickCommand> {
    app.store.quick_commands(None).await.unwrap()
}

/// Audit events whose action starts with `prefix`: (action, actor, details).
async fn audited(app: &TestApp, prefix: &str) -> Vec<(String, String, Value)> {
    app.store
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.action.starts_with(prefix))
        .map(|event| (event.action, event.actor, event.details))
        .collect()
}

async fn add(admin: &Browser, cluster: &str, name: &str, command: &str) -> super::Page {
    admin
        .post(
            "/admin/commands",
            &[("cluster", cluster), ("name", name), ("command", command)],
        )
        .await
}

async fn get_json(browser: &Browser, path: &str) -> (StatusCode, Value) {
    let page = browser.get(path).await;
    (
        page.status,
        serde_json::from_str(&page.body).unwrap_or(Value::Null),
    )
}

async fn only_admins_manage_quick_commands_and_refusals_are_audited(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let admin = app.sign_in(ADMIN).await;
    assert_eq!(
        add(&admin, "prod", "Disk", "df -h").await.status,
        StatusCode::SEE_OTHER
    );
    let id = commands(&app).await[0].id.clone();

    for email in [BOB, ALICE] {
        let person = app.sign_in(email).await;
        let page = person.get("/admin/commands").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{email}");
        assert!(page.body.contains("Only Janus admins"), "{}", page.body);
        assert!(!page.body.contains("df -h"));
        assert_eq!(
            add(&person, "prod", "Mine", "rm -rf /").await.status,
            StatusCode::FORBIDDEN
        );
        let edit = person
            .post(
                &format!("/admin/commands/{id}"),
                &[("name", "Disk"), ("command", "id")],
            )
            .await;
        assert_eq!(edit.status, StatusCode::FORBIDDEN);
        let delete = person.post(&format!("/admin/commands/{id}/delete"), &[]).await;
        assert_eq!(delete.status, StatusCode::FORBIDDEN);
        let nav = person.get("/").await;
        assert!(
            !nav.body.contains("href=\"/admin/commands\""),
            "no link for {email}"
        );
    }
    assert_eq!(app.audit_codes("auth.refused").await, ["not_admin"; 8]);
    let refused = audited(&app, "auth.refused").await;
    assert_eq!(
        refused
            .iter()
            .map(|(_, actor, _)| actor.as_str())
            .collect::<Vec<_>>(),
        [BOB, BOB, BOB, BOB, ALICE, ALICE, ALICE, ALICE]
    );
    let stored = commands(&app).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].name.as_str(), stored[0].command.as_str()),
        ("Disk", "df -h")
    );
    assert_eq!(
        audited(&app, "quick_command.").await.len(),
        1,
        "only the admin's change"
    );
    let page = admin.get("/admin/commands").await;
    assert!(
        page.body
            .contains("href=\"/admin/commands\" aria-current=\"page\"")
    );
    app.finish().await;
}

async fn quick_command_forms_need_this_sessions_csrf_token(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let admin = app.sign_in(ADMIN).await;
    let other = app.sign_in(ADMIN).await;
    let fields = [("cluster", "prod"), ("name", "Disk"), ("command", "df -h")];
    let missing = admin.post_raw("/admin/commands", &fields, false).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let mut foreign: Vec<(&str, &str)> = vec![("_csrf", &other.csrf)];
    foreign.extend_from_slice(&fields);
    assert_eq!(
        admin.post_raw("/admin/commands", &foreign, false).await.status,
        StatusCode::FORBIDDEN,
        "another session's token"
    );
    assert!(commands(&app).await.is_empty());

    assert_eq!(
        add(&admin, "prod", "Disk", "df -h").await.status,
        StatusCode::SEE_OTHER
    );
    let id = commands(&app).await[0].id.clone();
    let edit = admin
        .post_raw(
            &format!("/admin/commands/{id}"),
            &[("name", "Gone"), ("command", "id")],
            false,
        )
        .await;
    assert_eq!(edit.status, StatusCode::FORBIDDEN);
    let delete = admin
        .post_raw(&format!("/admin/commands/{id}/delete"), &[], false)
        .await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    assert_eq!(commands(&app).await[0].name, "Disk", "unchanged");
    assert_eq!(app.audit_codes("auth.refused").await, ["csrf"; 4]);
    app.finish().await;
}

async fn admins_add_edit_and_delete_quick_commands_and_each_change_is_audited(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let admin = app.sign_in(ADMIN).await;
    let created = add(&admin, "prod", "  Disk usage ", "df -h").await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(created.location(), "/admin/commands#cluster-prod");
    assert_eq!(
        add(&admin, "prod", "Who", "id -un").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        add(&admin, "quorum", "Disk usage", "du -sh .").await.status,
        StatusCode::SEE_OTHER
    );

    let page = admin.get("/admin/commands").await;
    assert_eq!(page.status, StatusCode::OK);
    let prod = page.body.find("id=\"cluster-prod\"").unwrap();
    let quorum = page.body.find("id=\"cluster-quorum\"").unwrap();
    let in_prod = &page.body[prod..quorum];
    let in_quorum = &page.body[quorum..];
    assert!(in_prod.contains("value=\"df -h\"") && in_prod.contains("value=\"id -un\""));
    assert!(!in_prod.contains("du -sh"));
    assert!(in_quorum.contains("value=\"du -sh .\"") && !in_quorum.contains("value=\"df -h\""));

    let duplicate = add(&admin, "prod", "Disk usage", "df -i").await;
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
    assert!(
        duplicate
            .body
            .contains("Cluster `prod` already has a quick command named `Disk usage`; choose another name."),
        "{}",
        duplicate.body
    );

    let stored = commands(&app).await;
    let disk = stored
        .iter()
        .find(|c| c.cluster == "prod" && c.name == "Disk usage")
        .unwrap()
        .clone();
    assert_eq!(disk.created_by, ADMIN);
    let renamed = admin
        .post(
            &format!("/admin/commands/{}", disk.id),
            &[("name", "Who"), ("command", "whoami")],
        )
        .await;
    assert_eq!(
        renamed.status,
        StatusCode::BAD_REQUEST,
        "the name is taken in prod"
    );
    app.clock.advance(std::time::Duration::from_secs(60));
    let edited = admin
        .post(
            &format!("/admin/commands/{}", disk.id),
            &[("name", "Disk (inodes)"), ("command", "df -i")],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
    let now = app.store.quick_command(&disk.id).await.unwrap().unwrap();
    assert_eq!(
        (now.name.as_str(), now.command.as_str()),
        ("Disk (inodes)", "df -i")
    );
    assert_eq!(now.created_at, disk.created_at);
    assert_eq!(now.updated_at, disk.created_at + chrono::TimeDelta::seconds(60));

    let deleted = admin
        .post(&format!("/admin/commands/{}/delete", disk.id), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(app.store.quick_command(&disk.id).await.unwrap().is_none());
    let again = admin
        .post(&format!("/admin/commands/{}/delete", disk.id), &[])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let unknown = admin
        .post(
            "/admin/commands/qc-aaaaaaaaaa",
            &[("name", "x"), ("command", "y")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let remaining: Vec<(String, String)> = commands(&app)
        .await
        .into_iter()
        .map(|c| (c.cluster, c.name))
        .collect();
    assert_eq!(
        remaining,
        [
            ("prod".to_owned(), "Who".to_owned()),
            ("quorum".to_owned(), "Disk usage".to_owned())
        ]
    );

    let audited = audited(&app, "quick_command.").await;
    let actions: Vec<&str> = audited.iter().map(|(action, _, _)| action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "quick_command.created",
            "quick_command.created",
            "quick_command.created",
            "quick_command.updated",
            "quick_command.deleted"
        ]
    );
    assert!(audited.iter().all(|(_, actor, _)| actor == ADMIN));
    let (_, _, update) = &audited[3];
    assert_eq!(update["id"], disk.id.as_str());
    assert_eq!(update["name"], "Disk (inodes)");
    assert_eq!(update["command"], "df -i");
    assert_eq!(update["before"]["name"], "Disk usage");
    assert_eq!(update["before"]["command"], "df -h");
    assert_eq!(audited[4].2["command"], "df -i");
    app.finish().await;
}

async fn bad_quick_commands_are_refused_with_a_sentence(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let admin = app.sign_in(ADMIN).await;
    let long_name = "n".repeat(61);
    let long_command = "x".repeat(1_001);
    let cases: [(&str, &str, &str, &str); 7] = [
        ("prod", "  ", "ls", "Give the quick command a name."),
        ("prod", "List", "   ", "Give the quick command a command to run."),
        ("staging", "List", "ls", "Cluster `staging` is not configured"),
        ("", "List", "ls", "Cluster `` is not configured"),
        (
            "prod",
            &long_name,
            "ls",
            "The name is 61 characters long; keep it to 60.",
        ),
        (
            "prod",
            "List",
            &long_command,
            "The command is 1001 characters long; keep it to 1000.",
        ),
        (
            "prod",
            "List",
            "ls\nrm -rf /",
            "The command contains a control character (a line break)",
        ),
    ];
    for (cluster, name, command, sentence) in cases {
        let page = add(&admin, cluster, name, command).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{name:?} {command:?}");
        assert!(page.body.contains(sentence), "{sentence}: {}", page.body);
    }
    for command in ["echo \u{1b}[2J", "echo \u{202E}gnp.exe", "ls\r"] {
        let page = add(&admin, "prod", "List", command).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{command:?}");
        assert!(page.body.contains("control character"), "{}", page.body);
    }
    assert!(commands(&app).await.is_empty());
    assert!(audited(&app, "quick_command.").await.is_empty());

    assert_eq!(
        add(&admin, "prod", "List", "ls").await.status,
        StatusCode::SEE_OTHER
    );
    let id = commands(&app).await[0].id.clone();
    let edit = admin
        .post(
            &format!("/admin/commands/{id}"),
            &[("name", "List"), ("command", "ls\t-l")],
        )
        .await;
    assert_eq!(edit.status, StatusCode::BAD_REQUEST);
    assert!(edit.body.contains("control character (a tab)"), "{}", edit.body);
    assert_eq!(commands(&app).await[0].command, "ls");
    app.finish().await;
}

async fn a_terminal_lists_the_quick_commands_of_its_own_cluster(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let admin = app.sign_in(ADMIN).await;
    add(&admin, "prod", "Who", "id -un").await;
    add(&admin, "prod", "Disk", "df -h").await;
    add(&admin, "quorum", "Elsewhere", "uptime").await;
    let pending = app.submit(ALICE, &["checkout"]).await;
    let active = app.active(ALICE, &["payments"]).await;
    let path = format!("/api/v1/requests/{}/terminal/commands", active.id);

    let alice = app.sign_in(ALICE).await;
    let (status, body) = get_json(&alice, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    let names: Vec<(&str, &str)> = items
        .iter()
        .map(|item| (item["name"].as_str().unwrap(), item["command"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("Disk", "df -h"), ("Who", "id -un")], "prod's, by name");
    assert!(
        items
            .iter()
            .all(|item| item["id"].as_str().unwrap().starts_with("qc-"))
    );

    let (status, body) = get_json(&admin, &path).await;
    assert_eq!(
        (status, body["items"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );

    let bob = app.sign_in(BOB).await;
    let (status, body) = get_json(&bob, &path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an approver is not the requester");
    assert_eq!(body["error"]["code"], "not_the_requester");
    assert_eq!(app.audit_codes("auth.refused").await, ["not_the_requester"]);

    let erin = app.sign_in(ERIN).await;
    let (status, _) = get_json(&erin, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a request erin may not see");
    let (status, _) = get_json(&app.anonymous(), &path).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = get_json(
        &alice,
        &format!("/api/v1/requests/{}/terminal/commands", pending.id),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "not_active");
    app.finish().await;
}
