//! The dashboard in a real browser: central (OIDC sign-in against the real provider fixture) on
//! port 0, a stand-in agent that completes grant work through the workflow as soon as it is queued,
//! and `node tests/browser/journey.mjs` driving Debian's Chromium (playwright-core, pinned in
//! `tests/browser/package-lock.json`). The script signs alice in, submits a request, approves it
//! as bob in a second browser context, waits for alice's page to show Active live, and saves a
//! screenshot of `/admin` to `target/artifacts/admin.png`.
//!
//! Needs `/usr/bin/chromium` and Node; skipped with a note when Chromium is missing unless
//! `JANUS_REQUIRE_BROWSER=1` (as `.ci/run` sets). `npm ci` runs once when the package is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use janus_core::clock::{Clock as _, ManualClock, SystemClock};
use janus_core::queue::WorkOutcome;
use janus_fixtures::oidc::{OidcAccount, OidcClient, OidcProvider};
use tokio::net::TcpListener;

use super::{TestApp, dashboard_yaml};

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `None` (skip) when Chromium is missing and not required; installs the npm package once.
pub(super) async fn ready() -> Option<PathBuf> {
    let required = std::env::var("JANUS_REQUIRE_BROWSER").is_ok_and(|value| value == "1");
    if !Path::new(CHROMIUM).exists() {
        assert!(
            !required,
            "{CHROMIUM} is missing; install it with `apt-get install -y chromium`"
        );
        eprintln!("note: skipping the browser test: {CHROMIUM} is missing (apt-get install -y chromium)");
        return None;
    }
    let dir = browser_dir();
    if !dir.join("node_modules/playwright-core/package.json").exists() {
        let status = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .await
            .expect("npm runs");
        assert!(status.success(), "`npm ci` failed in {}", dir.display());
    }
    Some(dir)
}

/// Runs `node <script> <args…> <screenshot>` in `dir` (the screenshot goes to
/// `target/artifacts/<screenshot>`); it must succeed within 3 minutes. Its standard output and
/// the screenshot's path.
pub(super) async fn run_script(
    dir: &Path,
    script: &str,
    args: &[&str],
    screenshot: &str,
) -> (String, PathBuf) {
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join(screenshot);
    let _ = std::fs::remove_file(&screenshot);
    let run = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .arg(&screenshot)
        .current_dir(dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .unwrap_or_else(|_| panic!("{script} finishes within 3 minutes"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    (stdout, screenshot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_sees_its_request_approved_live() {
    let Some(dir) = ready().await else { return };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accounts = BTreeMap::from([
        ("alice".to_owned(), OidcAccount::verified("alice@example.com")),
        ("bob".to_owned(), OidcAccount::verified("bob@example.com")),
    ]);
    let clients = [OidcClient {
        client_id: "janus".into(),
        client_secret: "browser-secret".into(),
        redirect_uris: vec![format!("{base}/auth/callback")],
    }];
    let provider = OidcProvider::start(&clients, &accounts).await.unwrap();
    let config = dashboard_yaml(&format!(
        "auth:\n  mode: oidc\n  oidc:\n    provider: custom\n    issuerUrl: {}\n    clientId: janus\n    \
         clientSecret: browser-secret\n    allowedDomains: [example.com]\n\
         webui:\n  baseUrl: {base}\n",
        provider.issuer
    ));
    // ID tokens are checked on Janus's clock: start it at the real time.
    let clock = ManualClock::new(SystemClock.now());
    let app = TestApp::builder()
        .listener(listener)
        .config(config)
        .clock(clock)
        .start()
        .await;
    app.workflow
        .report_namespaces("prod", &["payments".into(), "checkout".into()])
        .await
        .unwrap();

    // A stand-in agent: completes each grant the moment it is queued (long-poll, no interval).
    let workflow = app.workflow.clone();
    let agent = tokio::spawn(async move {
        loop {
            let claimed = workflow
                .wait_for_work("prod", Duration::from_secs(3_600), Duration::from_secs(60))
                .await
                .unwrap();
            if let Some(item) = claimed {
                workflow
                    .complete_work("prod", item.id, &item.lease_token, WorkOutcome::Succeeded)
                    .await
                    .unwrap();
            }
        }
    });

    let (stdout, screenshot) = run_script(&dir, "journey.mjs", &[&base], "admin.png").await;
    let id = stdout
        .lines()
        .find_map(|line| line.strip_prefix("journey ok "))
        .unwrap_or_else(|| panic!("no result line:\n{stdout}"));
    let request = app
        .workflow
        .get(&janus_core::domain::RequestId::parse(id.trim()).unwrap())
        .await
        .unwrap();
    assert_eq!(request.state, janus_core::domain::RequestState::Active);
    assert_eq!(request.requester.as_str(), "alice@example.com");
    assert_eq!(request.approvals[0].by.as_str(), "bob@example.com");
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "a PNG screenshot at {}",
        screenshot.display()
    );
    agent.abort();
    provider.stop().await;
    app.finish().await;
}
