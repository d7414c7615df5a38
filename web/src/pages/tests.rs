//! Snapshots of rendered pages, from fixed data at a fixed time (no database, no clock): a change
//! to a template shows up as a reviewed diff (`cargo insta review`).

use askama::Template;
use chrono::{DateTime, TimeZone as _, Utc};
use janus_core::audit::AuditRecord;
use janus_core::domain::{AccessRequest, Approval, Policy, Principal, RequestState};
use serde_json::json;

use super::admin::{AdminLists, AdminPage, AdminQuery, Section};
use super::clusters::{ClusterRow, ClustersPage};
use super::commands::{ClusterCommands, CommandRow, CommandsPage};
use super::detail::{DetailPage, timeline_entry};
use super::display::{RequestView, Zone, state_label, ttl_menu};
use super::home::{ClusterOption, FormErrors, HomePage, NamespaceChoice, RequestForm};
use super::shell::{Nav, Shell};
use super::terminal_view::{TerminalPage, content_security_policy};
use crate::assets::AssetUrls;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 15, hour, minute, 0).unwrap()
}

fn person(email: &str) -> Principal {
    janus_core::test_support::person(email)
}

fn zone() -> Zone {
    Zone::from_name("Europe/Paris")
}

/// Fixed asset URLs, so a stylesheet change does not touch every snapshot.
fn assets() -> &'static AssetUrls {
    static ASSETS: std::sync::OnceLock<AssetUrls> = std::sync::OnceLock::new();
    ASSETS.get_or_init(|| AssetUrls {
        normalize_css: "/assets/h/vendor/modern-normalize.css".to_owned(),
        app_css: "/assets/h/janus.css".to_owned(),
        htmx_js: "/assets/h/vendor/htmx.min.js".to_owned(),
        sse_js: "/assets/h/vendor/htmx-ext-sse.min.js".to_owned(),
        app_js: "/assets/h/janus.js".to_owned(),
        xterm_js: "/assets/h/vendor/xterm.js".to_owned(),
        xterm_fit_js: "/assets/h/vendor/xterm-addon-fit.js".to_owned(),
        xterm_css: "/assets/h/vendor/xterm.css".to_owned(),
        terminal_js: "/assets/h/terminal.js".to_owned(),
        terminal_css: "/assets/h/terminal.css".to_owned(),
        player_js: "/assets/h/vendor/asciinema-player.min.js".to_owned(),
        player_css: "/assets/h/vendor/asciinema-player.css".to_owned(),
        replay_js: "/assets/h/replay.js".to_owned(),
    })
}

fn shell(email: &str, admin: bool, approver: bool, nav: Nav) -> Shell {
    Shell {
        title: "Snapshot".to_owned(),
        nav,
        email: email.to_owned(),
        is_admin: admin,
        is_approver: approver,
        csrf: "csrf-token".to_owned(),
        assets: assets(),
        zone: zone(),
    }
}

fn request(id: &str, requester: &str, state: RequestState) -> AccessRequest {
    let mut request = AccessRequest::test()
        .with_id(id)
        .requested_by(requester)
        .in_namespaces(&["payments", "checkout"])
        .lasting(7_200)
        .because("investigating 500s on /pay <script>")
        .created(at(9, 0));
    request.state = state;
    if state != RequestState::Pending {
        request = request.approval_with(Approval {
            by: person("bob@example.com"),
            at: at(9, 5),
            ttl_seconds: Some(3_600),
            reason: Some("ok".to_owned()),
        });
        request.decided_at = Some(at(9, 5));
    }
    if state == RequestState::Active {
        request = request
            .granted(at(9, 6), at(10, 6))
            .extension_asked(1_800, "still digging", at(9, 40));
    }
    if state == RequestState::Denied {
        request.approvals.clear();
        request.deny_reason = Some("not during the freeze".to_owned());
        request.ended_at = Some(at(9, 10));
        request.end_reason = Some("denied by bob@example.com".to_owned());
    }
    request
}

fn policy() -> Policy {
    Policy::default()
}

/// The view of `viewer`, who approves prod (listed by email) when `approver`.
fn view(request: &AccessRequest, viewer: &str, approver: bool) -> RequestView {
    let mut policy = policy();
    if approver {
        let approvers = std::collections::BTreeSet::from([person(viewer)]);
        let cluster = janus_core::domain::ClusterPolicy {
            approvers,
            approvals_required: 1,
        };
        policy.clusters.insert("prod".to_owned(), cluster);
    }
    let actor = janus_core::domain::Actor::Person(person(viewer));
    RequestView::for_actor(request, &actor, &policy, zone(), at(9, 45))
}

#[test]
fn home_page() {
    let alice = "alice@example.com";
    let page = HomePage {
        shell: shell(alice, false, false, Nav::Home),
        form: RequestForm {
            clusters: vec![
                ClusterOption {
                    name: "prod".to_owned(),
                    label: "Production (prod)".to_owned(),
                },
                ClusterOption {
                    name: "staging".to_owned(),
                    label: "staging".to_owned(),
                },
            ],
            cluster: "prod".to_owned(),
            namespaces: Some(vec![
                NamespaceChoice {
                    name: "checkout".to_owned(),
                    checked: false,
                },
                NamespaceChoice {
                    name: "payments".to_owned(),
                    checked: true,
                },
            ]),
            namespaces_text: "payments".to_owned(),
            ttl: "5m".to_owned(),
            reason: String::new(),
            min_ttl: "10m".to_owned(),
            max_ttl: "8h".to_owned(),
            errors: FormErrors {
                ttl: Some("The TTL must be between 600 and 28800 seconds; 300 was asked.".to_owned()),
                reason: Some("A reason is required: say why you need access.".to_owned()),
                ..FormErrors::default()
            },
            submitted: None,
        },
        live: vec![
            view(
                &request("jr-aaaaaaaa", alice, RequestState::Pending),
                alice,
                false,
            ),
            view(&request("jr-bbbbbbbb", alice, RequestState::Active), alice, false),
        ],
        recent: vec![view(
            &request("jr-cccccccc", alice, RequestState::Denied),
            alice,
            false,
        )],
        back: "/".to_owned(),
        bulk: false,
        ttl_options: Vec::new(),
    };
    insta::assert_snapshot!("home", page.render().unwrap());
}

#[test]
fn admin_page_for_an_approver() {
    let bob = "bob@example.com";
    let sections = vec![
        Section {
            id: "pending",
            title: "Waiting for approval".to_owned(),
            empty: "Nothing waits for approval.",
            requests: vec![view(
                &request("jr-aaaaaaaa", "alice@example.com", RequestState::Pending),
                bob,
                true,
            )],
        },
        Section {
            id: "active",
            title: "Active and being granted".to_owned(),
            empty: "No access is live.",
            requests: vec![view(
                &request("jr-bbbbbbbb", "erin@example.com", RequestState::Active),
                bob,
                true,
            )],
        },
        Section {
            id: "history",
            title: "History".to_owned(),
            empty: "No finished requests.",
            requests: Vec::new(),
        },
    ];
    let filters = AdminQuery {
        cluster: "prod".to_owned(),
        state: String::new(),
        ..AdminQuery::default()
    };
    let page = AdminPage {
        shell: shell(bob, false, true, Nav::Admin),
        query: "cluster=prod&requester=&state=&from=&to=".to_owned(),
        filters,
        clusters: vec!["prod".to_owned()],
        states: RequestState::ALL
            .into_iter()
            .map(|s| (s.as_str(), state_label(s)))
            .collect(),
        filter_error: Some("The from date must look like 2030-01-31; it was ignored.".to_owned()),
        sections: sections.clone(),
        back: "/admin".to_owned(),
        bulk: true,
        ttl_options: ttl_menu(policy().approval_ttl_choices()),
    };
    insta::assert_snapshot!("admin", page.render().unwrap());
    let lists = AdminLists {
        shell: shell(bob, false, true, Nav::Admin),
        sections,
        back: "/admin".to_owned(),
        bulk: true,
        ttl_options: ttl_menu(policy().approval_ttl_choices()),
    };
    let fragment = lists.render().unwrap();
    assert!(!fragment.contains("<html"), "the live refresh is a fragment");
    assert!(
        page.render().unwrap().contains(&fragment),
        "the page embeds the same fragment"
    );
}

#[test]
fn request_page_with_its_timeline() {
    let request = request("jr-bbbbbbbb", "alice@example.com", RequestState::Active);
    let record = |seq: i64, minute: u32, actor: &str, action: &str, details: serde_json::Value| AuditRecord {
        seq,
        at: at(9, minute),
        actor: actor.to_owned(),
        action: action.to_owned(),
        request_id: Some("jr-bbbbbbbb".to_owned()),
        cluster: Some("prod".to_owned()),
        details,
        prev_hash: String::new(),
        hash: String::new(),
    };
    let timeline = [
        record(
            1,
            0,
            "alice@example.com",
            "request.submitted",
            json!({"ttlSeconds": 7200, "reason": "500s"}),
        ),
        record(
            2,
            5,
            "bob@example.com",
            "request.approved",
            json!({"ttlSeconds": 3600, "reason": "ok"}),
        ),
        record(3, 6, "agent:prod", "grant.succeeded", json!({})),
    ]
    .iter()
    .map(|event| timeline_entry(event, zone()))
    .collect();
    let page = DetailPage {
        shell: shell("bob@example.com", false, true, Nav::None),
        request: view(&request, "bob@example.com", true),
        timeline,
        back: "/requests/jr-bbbbbbbb".to_owned(),
        bulk: false,
        ttl_options: ttl_menu(policy().approval_ttl_choices()),
        recordings: false,
        live: Vec::new(),
    };
    let html = page.render().unwrap();
    assert!(
        !html.contains("id=\"recordings\""),
        "an approver does not replay sessions"
    );
    insta::assert_snapshot!("request", html);
}

#[test]
fn clusters_page() {
    let page = ClustersPage {
        shell: shell("admin@example.com", true, true, Nav::Clusters),
        clusters: vec![
            ClusterRow {
                name: "prod".to_owned(),
                display_name: "Production".to_owned(),
                configured: true,
                auth: "enrollment (join token)",
                approvers: "bob@example.com".to_owned(),
                connected: true,
                status: "Connected",
                last_seen: Some(zone().moment(at(9, 44))),
                version: "0.1.0".to_owned(),
                enrolled: Some(zone().moment(at(8, 0))),
                namespaces: vec!["checkout".to_owned(), "payments".to_owned()],
                namespaces_reported: Some(zone().moment(at(9, 40))),
            },
            ClusterRow {
                name: "edge".to_owned(),
                display_name: String::new(),
                configured: true,
                auth: "ServiceAccount token (issuer)",
                approvers: String::new(),
                connected: false,
                status: "Never seen",
                last_seen: None,
                version: String::new(),
                enrolled: None,
                namespaces: Vec::new(),
                namespaces_reported: None,
            },
        ],
    };
    insta::assert_snapshot!("clusters", page.render().unwrap());
}

#[test]
fn commands_page() {
    let page = CommandsPage {
        shell: shell("admin@example.com", true, true, Nav::Commands),
        clusters: vec![
            ClusterCommands {
                name: "prod".to_owned(),
                configured: true,
                commands: vec![CommandRow {
                    id: "qc-abcdefghij".to_owned(),
                    name: "Big files".to_owned(),
                    command: "du -ah . | sort -rh | head -n 5 > /tmp/\"top\" <x>".to_owned(),
                    updated_by: "admin@example.com".to_owned(),
                    updated: zone().moment(at(9, 30)),
                }],
            },
            ClusterCommands {
                name: "edge".to_owned(),
                configured: true,
                commands: Vec::new(),
            },
            ClusterCommands {
                name: "old".to_owned(),
                configured: false,
                commands: vec![CommandRow {
                    id: "qc-bbbbbbbbbb".to_owned(),
                    name: "Uptime".to_owned(),
                    command: "uptime".to_owned(),
                    updated_by: "carol@example.com".to_owned(),
                    updated: zone().moment(at(8, 0)),
                }],
            },
        ],
        max_name: 60,
        max_command: 1_000,
    };
    let html = page.render().unwrap();
    assert!(!html.contains("<x>"), "commands are escaped");
    insta::assert_snapshot!("commands", html);
}

#[test]
fn text_is_escaped_and_states_are_words() {
    let alice = "alice@example.com";
    let html = view(&request("jr-aaaaaaaa", alice, RequestState::Denied), alice, false);
    let page = DetailPage {
        shell: shell(alice, false, false, Nav::None),
        request: html,
        timeline: Vec::new(),
        back: "/".to_owned(),
        bulk: false,
        ttl_options: Vec::new(),
        recordings: true,
        live: vec![super::detail::LiveSession {
            session: "ts-live1".to_owned(),
            by: alice.to_owned(),
            target: "payments/web-1 · app".to_owned(),
            opened: zone().moment(at(10, 0)),
        }],
    }
    .render()
    .unwrap();
    assert!(
        page.contains("/pay &#60;script&#62;") || page.contains("/pay &lt;script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"));
    assert!(page.contains("id=\"recordings\" class=\"recordings\" data-request=\"jr-aaaaaaaa\""));
    assert!(page.contains("/assets/h/vendor/asciinema-player.min.js"));
    assert!(
        page.contains(r#"href="/t/jr-aaaaaaaa?watch=ts-live1">Watch payments/web-1 · app read-only</a>"#)
    );
    assert!(page.contains(">Denied</span>") && page.contains("not during the freeze"));
    assert!(
        !page.contains("/withdraw\""),
        "a finished request has no withdraw button"
    );
}

fn terminal(watch: Option<&str>) -> TerminalPage {
    TerminalPage {
        request_id: "jr-aaaaaaaa".to_owned(),
        cluster: "prod".to_owned(),
        requester: "alice@example.com".to_owned(),
        email: "alice@example.com".to_owned(),
        namespaces: vec!["payments".to_owned(), "check\"out<x>".to_owned()],
        namespaces_json: r#"["payments","check\"out<x>"]"#.to_owned(),
        expires: Some(zone().moment(at(11, 0))),
        watch: watch.map(str::to_owned),
        nonce: "bm9uY2U".to_owned(),
        assets: assets(),
    }
}

#[test]
fn terminal_page() {
    let html = terminal(None).render().unwrap();
    assert!(!html.contains("<x>"), "namespaces are escaped");
    assert!(html.contains(r#"<script src="/assets/h/terminal.js" nonce="bm9uY2U" defer></script>"#));
    assert_eq!(
        html.matches("<script").count(),
        3,
        "xterm.js, its fit addon, terminal.js; nothing inline"
    );
    assert!(!html.contains("<style"), "no inline style element");
    insta::assert_snapshot!("terminal", html);
}

#[test]
fn terminal_page_watching() {
    let html = terminal(Some("ts-abc")).render().unwrap();
    assert!(html.contains(r#"data-watch="ts-abc""#));
    assert!(html.contains("Watching read-only"));
    for absent in ["id=\"split\"", "class=\"ns-tab\"", "id=\"quick-commands\""] {
        assert!(!html.contains(absent), "{absent} in watch mode");
    }
}

#[test]
fn the_terminal_policy_allows_only_nonced_style_elements() {
    let policy = content_security_policy("bm9uY2U");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(
        policy.contains("style-src-elem 'self' 'nonce-bm9uY2U';"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-eval") && !policy.contains("style-src 'unsafe-inline'"));
    assert!(policy.contains("connect-src 'self'") && policy.contains("frame-ancestors 'none'"));
}

#[test]
fn live_sessions_are_opened_and_not_closed() {
    let event = |seq: i64, action: &str, session: &str| AuditRecord {
        seq,
        at: at(10, 0),
        actor: "alice@example.com".to_owned(),
        action: action.to_owned(),
        request_id: Some("jr-aaaaaaaa".to_owned()),
        cluster: Some("prod".to_owned()),
        details: json!({ "session": session, "namespace": "payments", "pod": "web-1", "container": "" }),
        prev_hash: String::new(),
        hash: String::new(),
    };
    let events = [
        event(1, "terminal.opened", "ts-a"),
        event(2, "terminal.opened", "ts-b"),
        event(3, "terminal.command", "ts-a"),
        event(4, "terminal.closed", "ts-a"),
    ];
    let live = super::detail::live_sessions(&events, zone());
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].session.as_str(), live[0].target.as_str()),
        ("ts-b", "payments/web-1")
    );
}
