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

use support::AckSettings;

use janus_fixtures::slack::FakeSlack;
use janus_fixtures::slack::load::{LoadConfig, LoadKind, run};

const SECRET: &str = "bench-signing-secret";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let settings = AckSettings::from_env("slack");
    let slack = FakeSlack::builder()
        .channel("C0APPROVALS")
        .channel("C0123456")
        .user("U0LOADTEST", Some("load@example.com"), "Load")
        .start()
        .await;
    let yaml = format!(
        "janus: {{ {} }}\n\
         slack: {{ enabled: true, botToken: xoxb-test, signingSecret: {SECRET}, apiBaseUrl: \"{}\" }}\n\
         links: {{ keys: [{{ kid: k1, secret: 0123456789abcdef0123456789abcdef }}] }}\n\
         clusters: [{{ name: bench, approvers: [bob@example.com], slackChannel: C0APPROVALS }}]",
        support::NO_LIMITS,
        slack.api_url()
    );
    let (_central, url, request) = settings.central_with_request(&yaml).await;

    let (rate, seconds) = (settings.rate, settings.seconds);
    println!("slack_ack: {rate} requests/s for {seconds} s each, 2 cores shared with the server");
    let loads = vec![
        ("/janus help", LoadKind::Help),
        (
            "Approve click (refused)",
            LoadKind::Click {
                action_id: "janus_approve".into(),
                request_id: request.to_string(),
            },
        ),
    ];
    settings
        .run_each(loads, |kind, rate_per_sec, duration| {
            run(LoadConfig {
                url: url.clone(),
                signing_secret: SECRET.into(),
                rate_per_sec,
                duration,
                kind,
            })
        })
        .await;
    let posted = slack.calls_to("response_url").len();
    println!("refusals delivered to response URLs: {posted}");
}
