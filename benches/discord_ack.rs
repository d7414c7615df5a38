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

use support::{NO_LIMITS, env};

use std::sync::Arc;
use std::time::Duration;

use janus_core::clock::{Clock, SystemClock};
use janus_core::domain::{Draft, Principal};
use janus_fixtures::discord::load::{LoadConfig, LoadKind, run};
use janus_fixtures::discord::{APPLICATION_ID, BOT_TOKEN, DiscordSigner, FakeDiscord};

const LOAD_USER: &str = "1300000000000000999";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rate = env("JANUS_BENCH_RATE", 500_u32);
    let seconds = env("JANUS_BENCH_SECONDS", 10_u64);
    let (dir, url) = support::sqlite("discord");

    let discord = FakeDiscord::start(&["1300000000000000100"]).await;
    let signer = DiscordSigner::fixed();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let yaml = format!(
        "janus: {{ {NO_LIMITS} }}\n\
         discord: {{ enabled: true, applicationId: \"{APPLICATION_ID}\", publicKey: {}, botToken: {BOT_TOKEN}, \
         apiBaseUrl: \"{}\", users: {{ \"{LOAD_USER}\": load@example.com }} }}\n\
         links: {{ keys: [{{ kid: k1, secret: 0123456789abcdef0123456789abcdef }}] }}\n\
         clusters: [{{ name: bench, approvers: [bob@example.com], discordChannel: \"1300000000000000100\" }}]",
        signer.public_key_hex(),
        discord.url()
    );
    let central = support::central(&yaml, &url, clock).await;
    let (workflow, base) = (central.workflow.clone(), central.url().unwrap());
    let store = central.store.clone();
    let alice = Principal::parse("alice@example.com").unwrap();
    let draft = Draft::test("bench", &["payments"]);
    let request = workflow.submit(&alice, draft).await.unwrap();

    println!("discord_ack: {rate} requests/s for {seconds} s each, cores shared with the server");
    for (name, kind) in [
        ("PING", LoadKind::Ping),
        ("/janus help", LoadKind::Help),
        (
            "Approve click (refused)",
            LoadKind::Click {
                user: LOAD_USER.into(),
                custom_id: format!("janus_approve:{}", request.id),
            },
        ),
    ] {
        let report = run(LoadConfig {
            url: base.clone(),
            signer: signer.clone(),
            rate_per_sec: rate,
            duration: Duration::from_secs(seconds),
            kind,
        })
        .await
        .unwrap();
        println!("{name:<26} {report}");
    }
    let refused = store
        .audit_page(0, 1_000_000)
        .await
        .unwrap()
        .iter()
        .filter(|event| event.action == "command.refused")
        .count();
    let deferred =
        discord.inspect(|state| state.calls_to(janus_fixtures::discord::Route::EditOriginal).len());
    println!("refusals audited: {refused}; answered deferred, then by editing @original: {deferred}");
    let _ = std::fs::remove_dir_all(&dir);
}
