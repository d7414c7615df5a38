//! Decisions that used to be made again in each adapter, and disagreed; each story shows that
//! every entry point now takes core's one answer:
//! - a terminal link delivered in chat lives no longer than `links.ttlSeconds`, like the API's;
//! - a grant ends when it was handed to the agent, not when the agent's report arrives;
//! - an open terminal follows an approved extension instead of closing at the old end;
//! - who ended a request is kept on it, and the card says so.

use chrono::TimeDelta;
use janus_core::clock::Clock;
use janus_core::domain::{AccessRequest, Command, RequestId, RequestState};
use janus_core::queue::WorkOutcome;

use crate::support::TestApp;
use crate::support::terminal::{PATIENCE, terminal_config};

/// Links may live 15 minutes; grants here last two hours.
const LINK_TTL_SECONDS: i64 = 900;

/// The link `url` of request `id` is Alice's, signed with the configured keys, and stops working
/// `links.ttlSeconds` after it was signed — before the grant ends.
async fn assert_capped(test: &TestApp, id: &RequestId, url: &str) {
    let now = test.clock.now().timestamp();
    let expiry = test.link_expiry_for_alice(id, url, now);
    let grant_end = test
        .workflow
        .get(id)
        .await
        .unwrap()
        .expires_at
        .unwrap()
        .timestamp();
    assert_eq!(expiry, now + LINK_TTL_SECONDS);
    assert!(expiry < grant_end, "the link outlived links.ttlSeconds");
}

mod chat_links {
    use janus_fixtures::discord::{APPLICATION_ID, BOT_TOKEN};

    use super::*;
    use crate::support::{discord, slack};

    /// The YAML both chat stories show: links live `LINK_TTL_SECONDS`, `prod` is approved by bob.
    fn config(chat: &str, channel: &str) -> String {
        format!(
            "webui:\n  baseUrl: https://janus.example.test\n\
             links:\n  mode: sso\n  ttlSeconds: {LINK_TTL_SECONDS}\n  \
             keys: [{{kid: k1, secret: 0123456789abcdef0123456789abcdef}}]\n\
             {chat}\
             clusters:\n  - name: prod\n    approvers: [bob@example.com]\n    {channel}\n"
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_link_posted_in_slack_lives_no_longer_than_links_ttl() {
        let chat = format!(
            "slack:\n  enabled: true\n  botToken: xoxb-test\n  signingSecret: {}\n",
            slack::SIGNING_SECRET
        );
        let yaml = config(&chat, &format!("slackChannel: {}", slack::APPROVALS));
        let test = TestApp::builder().config(yaml).slack().agent().start().await;
        let id = test
            .slack()
            .submit(
                slack::ALICE,
                "request prod payments 2h checking how long links live",
            )
            .await;
        test.slack().click(slack::BOB, "janus_approve", &id, None).await;
        test.slack().card_shows(&id, "Active").await;
        let url = test.slack().thread_link(&id).await;
        assert_capped(&test, &id, &url).await;
        test.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_link_posted_in_discord_lives_no_longer_than_links_ttl() {
        let chat = format!(
            "discord:\n  enabled: true\n  applicationId: \"{APPLICATION_ID}\"\n  botToken: {BOT_TOKEN}\n  \
             users:\n    \"{}\": alice@example.com\n    \"{}\": bob@example.com\n",
            discord::ALICE,
            discord::BOB
        );
        let yaml = config(&chat, &format!("discordChannel: \"{}\"", discord::APPROVALS));
        let test = TestApp::builder().config(yaml).discord().agent().start().await;
        let id = test
            .discord()
            .submit(discord::ALICE, "prod", "payments", "7200")
            .await;
        test.discord().click(discord::BOB, "janus_approve", &id).await;
        test.discord().card_shows(&id, "Active").await;
        let url = test.discord().thread_link(&id).await;
        assert_capped(&test, &id, &url).await;
        test.finish().await;
    }
}

/// `STANDARD` (the harness's default YAML): `prod` approved by bob, carol or dave; TTL 1 h.
#[tokio::test]
async fn a_grant_ends_when_it_was_handed_out_not_when_the_report_arrives() {
    let test = TestApp::builder().engine_only().start().await;
    let request = test.submit("alice@example.com", &["payments"]).await;
    test.approve(&request, "bob@example.com").await;

    test.clock.advance_secs(30);
    let item = test.claim("prod").await.expect("the grant to claim");
    let handed_out = test.workflow.assignment(&item).grant.expires_at;
    let ttl = TimeDelta::seconds(i64::try_from(request.ttl_seconds).unwrap());
    assert_eq!(handed_out, test.clock.now() + ttl);

    // The agent takes its time; central keeps the end the agent's credentials were made for.
    test.clock.advance_secs(45);
    test.workflow
        .complete_work("prod", item.id, &item.lease_token, WorkOutcome::Succeeded)
        .await
        .unwrap();
    let active = test.workflow.get(&request.id).await.unwrap();
    assert_eq!(active.state, RequestState::Active);
    assert_eq!(active.activated_at, Some(test.clock.now()));
    assert_eq!(active.expires_at, Some(handed_out));
    test.finish().await;
}

/// Ends `request` with `command` by `actor`; the request as stored then names `actor` and the
/// reason given.
async fn ended(
    test: &TestApp,
    request: &AccessRequest,
    command: Command,
    actor: &str,
    reason: &str,
) -> AccessRequest {
    test.act(request, command, actor).await;
    let stored = test.workflow.get(&request.id).await.unwrap();
    assert_eq!(stored.ended_by.as_deref(), Some(actor));
    assert_eq!(stored.deny_reason.as_deref(), Some(reason));
    stored
}

#[tokio::test]
async fn who_ended_a_request_is_kept_on_it() {
    let test = TestApp::builder().engine_only().start().await;
    let request = test.submit("alice@example.com", &["payments"]).await;
    let reason = Some("not during the freeze".to_owned());
    ended(
        &test,
        &request,
        Command::Deny { reason },
        "carol@example.com",
        "not during the freeze",
    )
    .await;

    let active = test.active("alice@example.com", &["checkout"]).await;
    let reason = Some("incident closed".to_owned());
    let revoked = ended(
        &test,
        &active,
        Command::Revoke { reason },
        "dave@example.com",
        "incident closed",
    )
    .await;
    let card = janus_bot::card::card(&revoked, test.workflow.policy());
    assert_eq!(card.headline, "Revoked by dave@example.com");
    test.finish().await;
}

/// `prod` approved by bob, no idle timeout (the clock jumps an hour); a real agent on the fake
/// cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_terminal_follows_an_approved_extension() {
    let term = TestApp::builder()
        .config(terminal_config("janus:\n  idleTimeoutSeconds: 0\n"))
        .agent()
        .start()
        .await;
    let request = term.active("alice@example.com", &["payments"]).await;
    let mut shell = term.shell(&request, "alice@example.com").await;
    let old_end = request.expires_at.unwrap();

    let asked = Command::RequestExtension {
        ttl_seconds: 1_800,
        reason: "the incident is still open".to_owned(),
    };
    term.act(&request, asked, "alice@example.com").await;
    let extended = term
        .act(&request, Command::ApproveExtension, "bob@example.com")
        .await;
    let new_end = extended.expires_at.unwrap();
    assert_eq!(new_end, old_end + TimeDelta::seconds(1_800));
    // The agent re-mints the tokens for the new end (a second `grant.succeeded`).
    term.wait_until(&request, |current| current.version > extended.version)
        .await;

    // The old end passes: the session stays open and answers.
    term.clock.set(old_end);
    shell.send(b"echo still-open\r").await;
    tokio::time::timeout(PATIENCE, shell.read_until("still-open"))
        .await
        .expect("the session closed at the old end");

    // The new end closes it.
    term.clock.set(new_end);
    let closed = shell.control("closed").await;
    assert_eq!(closed["reason"], "expired", "{closed}");
    shell.drain().await;
    term.finish().await;
}
