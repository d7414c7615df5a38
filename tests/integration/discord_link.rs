//! Discord account linking through SSO: `/janus link` → sign-in at a real OpenID provider →
//! the binding → the next command acts as that principal; refusals of spent and forged
//! links; removal on the user's page. And `janus discord register-commands`.

use std::collections::BTreeMap;
use std::process::Command;

use janus_core::clock::{Clock, ManualClock, SystemClock};
use janus_fixtures::browser::Browser;
use janus_fixtures::discord::payloads::{User, command};
use janus_fixtures::discord::{APPLICATION_ID, BOT_TOKEN, DiscordSigner, FakeDiscord, GUILD_ID, Route};
use janus_fixtures::oidc::{OidcAccount, OidcClient, OidcProvider};
use reqwest::StatusCode;
use tokio::net::TcpListener;

use crate::support::TestApp;
use crate::support::discord::TEAM;
use crate::support::web::web;
use crate::support::{Backend, TempDir};

const NEWCOMER: &str = "1000000000000000042";

struct LinkTest {
    app: TestApp,
    provider: OidcProvider,
}

impl LinkTest {
    async fn start() -> LinkTest {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let accounts = BTreeMap::from([("alice".to_owned(), OidcAccount::verified("Alice@Example.com"))]);
        let clients = [OidcClient {
            client_id: "janus".into(),
            client_secret: "janus-client-secret".into(),
            redirect_uris: vec![format!("{base}/auth/callback")],
        }];
        let provider = OidcProvider::start(&clients, &accounts).await.unwrap();
        // The fake Discord's address and the test key come from the environment (`.discord()`).
        let yaml = format!(
            "auth:\n  mode: oidc\n  oidc:\n    provider: custom\n    issuerUrl: {}\n    clientId: janus\n    \
             clientSecret: janus-client-secret\n    allowedDomains: [example.com]\n\
             discord:\n  enabled: true\n  applicationId: \"{APPLICATION_ID}\"\n  botToken: {BOT_TOKEN}\n",
            provider.issuer,
        );
        // ID tokens and Discord timestamps are checked on Janus's clock: start at the real time.
        let clock = ManualClock::new(SystemClock.now());
        let app = TestApp::builder()
            .backend(Backend::Sqlite)
            .listener(listener)
            .config(web(&yaml))
            .clock(clock)
            .discord()
            .start()
            .await;
        LinkTest { app, provider }
    }

    async fn command(&self, subcommand: &str, options: &[(&str, &str)]) -> String {
        let interaction = command(&User::new(NEWCOMER, "newcomer"), TEAM, subcommand, options);
        self.app.discord().ephemeral(&interaction).await
    }
}

/// The form's fields (`name="…" value="…"`), in order.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    page.split("<input ")
        .skip(1)
        .filter_map(|input| {
            let attribute = |name: &str| {
                let start = input.find(&format!("{name}=\""))? + name.len() + 2;
                let end = input[start..].find('"')? + start;
                Some(input[start..end].replace("&amp;", "&"))
            };
            Some((attribute("name")?, attribute("value")?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn janus_link_binds_a_discord_user_through_sso() {
    let test = LinkTest::start().await;
    let app = &test.app;
    // Unlinked: refused with the hint, nothing created.
    let answer = test.command("list", &[]).await;
    assert!(answer.contains("Run `/janus link`"), "{answer}");

    let answer = test.command("link", &[]).await;
    let url = answer
        .split_whitespace()
        .find(|word| word.starts_with(&app.base))
        .unwrap_or_else(|| panic!("no link in {answer:?}"))
        .to_owned();
    assert!(url.starts_with(&app.url("/discord/link?")), "{url}");

    // Opening it asks for sign-in, through the provider, and comes back to the link.
    let browser = Browser::new();
    let page = browser.get(&url).await.unwrap();
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let login = page.location().unwrap();
    assert_eq!(login.path(), "/auth/login");
    let page = browser.get(login.as_str()).await.unwrap();
    let authorize = page.location().unwrap().to_string();
    assert!(authorize.starts_with(&test.provider.issuer), "{authorize}");
    let callback = test.provider.login(&browser, &authorize, "alice").await.unwrap();
    let page = browser.get(&callback).await.unwrap();
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location().unwrap().as_str(), url, "back to the link");
    let confirm = browser.get(&url).await.unwrap();
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(confirm.body.contains(NEWCOMER) && confirm.body.contains("alice@example.com"));
    assert!(
        confirm.body.contains("@newcomer"),
        "the Discord username, signed: {}",
        confirm.body
    );
    assert!(
        confirm
            .body
            .contains("If someone sent you this link, close this page")
    );
    assert_eq!(confirm.headers["x-frame-options"], "DENY");
    assert!(
        app.audit("discord.linked").await.is_empty(),
        "viewing links nothing"
    );

    // Confirming binds; a POST without the CSRF token is refused first.
    let fields = hidden_fields(&confirm.body);
    let without_csrf: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(name, _)| name != "_csrf")
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let refused = browser
        .post_form(&app.url("/discord/link"), &without_csrf)
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let linked = browser.post_form(&app.url("/discord/link"), &form).await.unwrap();
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
    assert!(linked.body.contains("Discord account connected"));
    let events = app.audit("discord.linked").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "alice@example.com");
    assert_eq!(events[0].1["discord_user_id"], NEWCOMER);

    // The next command from that Discord user acts as Alice.
    assert_eq!(test.command("list", &[]).await, "You have no requests.");
    let answer = test
        .command(
            "request",
            &[
                ("cluster", "prod"),
                ("namespaces", "payments"),
                ("ttl", "3600"),
                ("reason", "linked"),
            ],
        )
        .await;
    let id = answer
        .split_whitespace()
        .find_map(janus_core::domain::RequestId::parse)
        .unwrap_or_else(|| panic!("{answer}"));
    let request = app.workflow.get(&id).await.unwrap();
    assert_eq!(request.requester.as_str(), "alice@example.com");

    // The link works once; a changed one never.
    let again = browser.post_form(&app.url("/discord/link"), &form).await.unwrap();
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("used already"), "{}", again.body);
    let forged = url.replace(&format!("u={NEWCOMER}"), "u=1000000000000000666");
    let page = browser.get(&forged).await.unwrap();
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("not valid"), "{}", page.body);
    let renamed = url.replace("name=newcomer", "name=admin");
    assert_ne!(renamed, url);
    assert_eq!(
        browser.get(&renamed).await.unwrap().status,
        StatusCode::BAD_REQUEST
    );
    let damaged = url.replace("exp=", "exp=soon");
    let page = browser.get(&damaged).await.unwrap();
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("incomplete or damaged"), "{}", page.body);
    let rejected = app.audit("discord.link_rejected").await;
    let codes: Vec<&str> = rejected
        .iter()
        .map(|(_, details)| details["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["spent", "bad_signature", "bad_signature", "malformed"]);
    assert_eq!(app.audit("discord.linked").await.len(), 1);

    // The binding is on Alice's page, and removable there.
    let page = browser.get(&app.url("/auth/sessions")).await.unwrap();
    assert!(
        page.body.contains(&format!("discord-{NEWCOMER}")),
        "{}",
        page.body
    );
    let csrf = hidden_fields(&page.body)
        .into_iter()
        .find(|(name, _)| name == "_csrf")
        .unwrap()
        .1;
    let removed = browser
        .post_form(
            &app.url(&format!("/discord/accounts/{NEWCOMER}/unlink")),
            &[("_csrf", &csrf)],
        )
        .await
        .unwrap();
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(app.audit("discord.unlinked").await.len(), 1);
    let answer = test.command("list", &[]).await;
    assert!(answer.contains("Run `/janus link`"), "unlinked again: {answer}");
    test.provider.stop().await;
    test.app.finish().await;
}

fn janus(args: &[&str], config: &std::path::Path) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_janus"));
    command.args(args).env("JANUS_CONFIG", config);
    for (key, _) in std::env::vars() {
        if key.starts_with("JANUS_") && key.contains("__") {
            command.env_remove(key);
        }
    }
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_commands_overwrites_the_commands_idempotently() {
    let discord = FakeDiscord::start(&[]).await;
    let dir = TempDir::new();
    let path = dir.path().join("janus.yaml");
    std::fs::write(
        &path,
        format!(
            "janus:\n  approvalTtlOptions: [1800, 3600, 7200]\n\
             discord:\n  enabled: true\n  applicationId: \"{APPLICATION_ID}\"\n  publicKey: {}\n  botToken: {BOT_TOKEN}\n  apiBaseUrl: {}\n",
            DiscordSigner::fixed().public_key_hex(),
            discord.url()
        ),
    )
    .unwrap();
    for _ in 0..2 {
        let path = path.clone();
        let output = tokio::task::spawn_blocking(move || {
            janus(&["discord", "register-commands", "--guild", GUILD_ID], &path)
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("registered /janus"), "{stdout}");
    }
    let path_global = path.clone();
    let output = tokio::task::spawn_blocking(move || janus(&["discord", "register-commands"], &path_global))
        .await
        .unwrap();
    assert!(output.status.success());
    let (calls, guild, global) = discord.inspect(|state| {
        (
            state
                .calls_to(Route::OverwriteCommands)
                .iter()
                .map(|call| (call.path.clone(), call.body.clone()))
                .collect::<Vec<_>>(),
            state.commands(Some(GUILD_ID)).cloned(),
            state.commands(None).cloned(),
        )
    });
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[0].1, calls[1].1,
        "the same body each time: a bulk overwrite"
    );
    assert_eq!(
        calls[0].0,
        format!("/applications/{APPLICATION_ID}/guilds/{GUILD_ID}/commands")
    );
    assert_eq!(calls[2].0, format!("/applications/{APPLICATION_ID}/commands"));
    let guild = guild.unwrap();
    assert_eq!(guild.as_array().unwrap().len(), 1, "one /janus command");
    let janus_command = &guild[0];
    assert_eq!(janus_command["name"], "janus");
    let subcommands: Vec<&str> = janus_command["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        subcommands,
        [
            "request", "list", "status", "withdraw", "revoke", "extend", "link", "help"
        ]
    );
    let request = &janus_command["options"][0]["options"];
    assert_eq!(request[0]["autocomplete"], true, "cluster autocompletes");
    assert_eq!(request[1]["autocomplete"], true, "namespaces autocomplete");
    let ttls: Vec<&str> = request[2]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|choice| choice["value"].as_str().unwrap())
        .collect();
    assert!(ttls.contains(&"1800") && ttls.contains(&"7200"), "{ttls:?}");
    assert!(global.is_some());

    // Without the application's credentials, a sentence and a failure.
    let bare = dir.path().join("bare.yaml");
    std::fs::write(&bare, "discord:\n  enabled: false\n").unwrap();
    let output = tokio::task::spawn_blocking(move || janus(&["discord", "register-commands"], &bare))
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("discord.applicationId"));
}
