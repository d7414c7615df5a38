//! Slack acknowledgement latency: signed slash commands and button clicks at a fixed rate
//! (open loop) against central on loopback, with the fake Slack Web API behind it.
//!
//! Each latency is measured from the request's scheduled send time to its answer, so a
//! server that falls behind shows in the numbers. Two runs: `/janus help` (verify, parse,
//! answer) and an Approve click by someone who is not an approver (verify, parse, answer;
//! in the background: identity, a refused command written to the audit log, the ephemeral
//! refusal posted to the response URL). Goal (DESIGN §11): p99 < 25 ms at 500/s.
//!
//! Run: `cargo bench --bench slack_ack` (env: JANUS_BENCH_RATE, default 500;
//! JANUS_BENCH_SECONDS, default 10).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark binary")]

mod support;

use support::{NO_LIMITS, env};

use std::sync::Arc;
use std::time::Duration;

use janus_core::clock::{Clock, SystemClock};
use janus_core::domain::{Draft, Principal};
use janus_fixtures::slack::FakeSlack;
use janus_fixtures::slack::load::{LoadConfig, LoadKind, run};

const SECRET: &str = "bench-signing-secret";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rate = env("JANUS_BENCH_RATE", 500_u32);
    let seconds = env("JANUS_BENCH_SECONDS", 10_u64);
    let (dir, url) = support::sqlite("slack");

    let slack = FakeSlack::builder()
        .channel("C0APPROVALS")
        .channel("C0123456")
        .user("U0LOADTEST", Some("load@example.com"), "Load")
        .start()
        .await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let yaml = format!(
        "janus: {{ {NO_LIMITS} }}\n\
         slack: {{ enabled: true, botToken: xoxb-test, signingSecret: {SECRET}, apiBaseUrl: \"{}\" }}\n\
         links: {{ keys: [{{ kid: k1, secret: 0123456789abcdef0123456789abcdef }}] }}\n\
         clusters: [{{ name: bench, approvers: [bob@example.com], slackChannel: C0APPROVALS }}]",
        slack.api_url()
    );
    let central = support::central(&yaml, &url, clock).await;
    let (workflow, base) = (central.workflow.clone(), central.url().unwrap());
    let alice = Principal::parse("alice@example.com").unwrap();
    let draft = Draft::test("bench", &["payments"]);
    let request = workflow.submit(&alice, draft).await.unwrap();

    println!("slack_ack: {rate} requests/s for {seconds} s each, 2 cores shared with the server");
    for (name, kind) in [
        ("/janus help", LoadKind::Help),
        (
            "Approve click (refused)",
            LoadKind::Click {
                action_id: "janus_approve".into(),
                request_id: request.id.to_string(),
            },
        ),
    ] {
        let report = run(LoadConfig {
            url: base.clone(),
            signing_secret: SECRET.into(),
            rate_per_sec: rate,
            duration: Duration::from_secs(seconds),
            kind,
        })
        .await
        .unwrap();
        println!("{name:<26} {report}");
    }
    let posted = slack.calls_to("response_url").len();
    println!("refusals delivered to response URLs: {posted}");
    let _ = std::fs::remove_dir_all(&dir);
}
