//! The web terminal in a real browser, over the whole path: Chromium (playwright-core) ⇄ central
//! (`/t/{id}`, `/ws/terminal`, the side panels) ⇄ the real agent ⇄ the fake Kubernetes API's
//! `pods/exec` (a real `/bin/sh` per pod), with the grant's own token.
//!
//! `tests/browser/terminal.mjs` does the clicking: the admin adds a quick command on
//! `/admin/commands`; alice opens her signed link, types `echo hi` and reads `hi` from the rendered
//! xterm rows, reads the pod's logs, events and health badges, splits the pane and types in the
//! second one, runs the quick command; the admin watches her first session read-only, then
//! revokes the request in another browser context and both panes show the close message; alice
//! replays the recording on the request page. Screenshot: `target/artifacts/terminal.png`.
//!
//! Needs `/usr/bin/chromium` and Node, like `pages/browser.rs` (skipped with a note unless
//! `JANUS_REQUIRE_BROWSER=1`).

use janus_core::domain::RequestState;

use super::browser::{ready, run_script};
use crate::support::TestApp;
use crate::support::terminal::terminal_config;

const LINK_KEY: &str = "terminal-browser-link-key-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_runs_a_shell_splits_sends_a_quick_command_and_is_closed_by_revoke() {
    let Some(dir) = ready().await else { return };
    let extra = format!("links:\n  keys: [{{ kid: k1, secret: {LINK_KEY} }}]\n");
    let terminal = TestApp::builder()
        .config(terminal_config(&extra))
        .agent()
        .start()
        .await;
    let request = terminal.active("alice@example.com", &["payments"]).await;
    let app = &terminal;
    let signer = janus_core::links::LinkSigner::new(
        vec![(
            "k1".to_owned(),
            janus_core::secret::Secret::new(LINK_KEY.to_owned()),
        )],
        String::new(),
    )
    .unwrap();
    let link = signer
        .sign(
            request.id.as_str(),
            "alice@example.com",
            request.expires_at.unwrap().timestamp(),
        )
        .url(&app.base);
    // Something for the sidebar and the badges: logs and an event of web-1, a crash-looping
    // worker-1 that was OOM-killed.
    let kube = app.kube();
    kube.append_log("payments", "web-1", "app", "started, listening on :8080");
    kube.append_log("payments", "worker-1", "worker", "fatal: out of memory");
    kube.add_event(
        "payments",
        "Pod",
        "web-1",
        "Normal",
        "Pulled",
        "Container image pulled",
    )
    .unwrap();
    kube.add_event(
        "payments",
        "Pod",
        "worker-1",
        "Warning",
        "BackOff",
        "Back-off restarting failed container",
    )
    .unwrap();
    let mut worker = kube.object("Pod", Some("payments"), "worker-1").unwrap();
    worker["status"] = serde_json::json!({
        "phase": "Running",
        "containerStatuses": [
            {"name": "worker", "ready": false, "restartCount": 5,
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
             "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}},
            {"name": "sidecar", "ready": true, "restartCount": 0,
             "state": {"running": {"startedAt": "2030-01-01T00:00:00Z"}}}
        ],
    });
    kube.apply(worker).unwrap();
    // Its first log read is refused by Kubernetes: the sidebar shows the diagnostic.
    kube.faults().fail_next(
        janus_fixtures::kube::RequestMatcher::new("get", "pods/log")
            .in_namespace("payments")
            .named("worker-1"),
        1,
        403,
    );
    let alice = terminal.cookie("alice@example.com").await;
    let admin = terminal.cookie("admin@example.com").await;

    let (stdout, screenshot) = run_script(
        &dir,
        "terminal.mjs",
        &[&app.base, &link, &alice, &admin, request.id.as_str()],
        "terminal.png",
    )
    .await;
    let latency: u64 = stdout
        .lines()
        .find_map(|line| line.strip_prefix("terminal ok "))
        .unwrap_or_else(|| panic!("no result line:\n{stdout}"))
        .trim()
        .parse()
        .unwrap();
    eprintln!("{stdout}both panes showed the close message {latency} ms after the admin clicked Revoke");

    // What the browser did went through the workflow and is in the audit log.
    let ended = app.workflow.get(&request.id).await.unwrap();
    assert_eq!(ended.state, RequestState::Revoked);
    let events = app.store.audit_page(0, 100_000).await.unwrap();
    let revoked = events
        .iter()
        .find(|event| event.action == "request.revoked")
        .expect("a revocation");
    assert_eq!(revoked.actor, "admin@example.com");
    let created = events
        .iter()
        .find(|event| event.action == "quick_command.created")
        .expect("the quick command was added through the page");
    assert_eq!(created.details["command"], "echo quick-$((6*7))");
    let stored = app.store.quick_commands(Some("prod")).await.unwrap();
    assert_eq!(stored.len(), 1);
    // Both sessions were recorded, ended by the revocation, with what each pane showed.
    let recordings = app.store.recordings(request.id.as_str()).await.unwrap();
    assert_eq!(recordings.len(), 2, "one recording per pane");
    let mut casts = Vec::new();
    for recording in &recordings {
        assert_eq!(recording.end_reason, "revoked");
        let (_, cast) = app.store.recording(&recording.session).await.unwrap().unwrap();
        casts.push(output_of(&cast));
    }
    assert!(
        casts.iter().any(|shown| shown.contains("echo hi\r\n")
            && shown.contains("\rhi\r\n")
            && !shown.contains("quick-42")),
        "{casts:?}"
    );
    assert!(
        casts
            .iter()
            .any(|shown| shown.contains("\rquick-42\r\n") && !shown.contains("echo hi")),
        "{casts:?}"
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "a PNG screenshot at {}",
        screenshot.display()
    );
    terminal.finish().await;
}

/// The terminal output of an asciicast v2 recording: its `"o"` events, joined.
fn output_of(cast: &str) -> String {
    cast.lines()
        .skip(1)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event[1] == "o")
        .filter_map(|event| event[2].as_str().map(str::to_owned))
        .collect()
}
