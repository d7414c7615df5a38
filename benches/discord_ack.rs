//! Discord acknowledgement latency: Ed25519-signed interactions at a fixed rate (open loop)
//! against central on loopback, with the fake Discord REST API behind it.
//!
//! Each latency is measured from the request's scheduled send time to its answer, so a server
//! that falls behind shows in the numbers. Three runs: PING (verify, parse, PONG), `/janus help`
//! (verify, parse the strict command model, answer), and an Approve click by someone who is not
//! an approver (verify, parse, identity from `discord.users`, the workflow's refusal written to
//! the audit log, the ephemeral refusal as the answer when it is ready within the answer budget,
//! else a deferred answer at once and an `@original` edit later — counted below). Goal
//! (DESIGN §11): p99 < 25 ms at 500/s.
//!
//! Run: `cargo bench --bench discord_ack` (env: JANUS_BENCH_RATE, default 500;
//! JANUS_BENCH_SECONDS, default 10).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark binary")]

mod support;

use support::AckSettings;

use janus_fixtures::discord::load::{LoadConfig, LoadKind, run};
use janus_fixtures::discord::{APPLICATION_ID, BOT_TOKEN, DiscordSigner, FakeDiscord};

const LOAD_USER: &str = "1300000000000000999";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let settings = AckSettings::from_env("discord");
    let discord = FakeDiscord::start(&["1300000000000000100"]).await;
    let signer = DiscordSigner::fixed();
    let yaml = format!(
        "janus: {{ {} }}\n\
         discord: {{ enabled: true, applicationId: \"{APPLICATION_ID}\", publicKey: {}, botToken: {BOT_TOKEN}, \
         apiBaseUrl: \"{}\", users: {{ \"{LOAD_USER}\": load@example.com }} }}\n\
         links: {{ keys: [{{ kid: k1, secret: 0123456789abcdef0123456789abcdef }}] }}\n\
         clusters: [{{ name: bench, approvers: [bob@example.com], discordChannel: \"1300000000000000100\" }}]",
        support::NO_LIMITS,
        signer.public_key_hex(),
        discord.url()
    );
    let (central, url, request) = settings.central_with_request(&yaml).await;

    let (rate, seconds) = (settings.rate, settings.seconds);
    println!("discord_ack: {rate} requests/s for {seconds} s each, cores shared with the server");
    let loads = vec![
        ("PING", LoadKind::Ping),
        ("/janus help", LoadKind::Help),
        (
            "Approve click (refused)",
            LoadKind::Click {
                user: LOAD_USER.into(),
                custom_id: format!("janus_approve:{request}"),
            },
        ),
    ];
    settings
        .run_each(loads, |kind, rate_per_sec, duration| {
            run(LoadConfig {
                url: url.clone(),
                signer: signer.clone(),
                rate_per_sec,
                duration,
                kind,
            })
        })
        .await;
    let refused = central
        .store
        .audit_page(0, 1_000_000)
        .await
        .unwrap()
        .iter()
        .filter(|event| event.action == "command.refused")
        .count();
    let deferred =
        discord.inspect(|state| state.calls_to(janus_fixtures::discord::Route::EditOriginal).len());
    println!("refusals audited: {refused}; answered deferred, then by editing @original: {deferred}");
}
