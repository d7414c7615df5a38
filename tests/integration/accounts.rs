//! Sign-in storage on both backends: sessions, API tokens, the local admin's credential, spent
//! links and sign-ins in progress (core `accounts` over `store/accounts.rs`).

use std::time::Duration;

use janus_core::accounts::{Accounts, ClientInfo, SESSION_LIFETIME};
use janus_core::domain::RequestId;

use crate::support::{TestApp, both_backends, person};

both_backends!(
    sessions_live_until_revoked_or_expired,
    sessions_are_revoked_only_by_their_owner,
    api_tokens_are_found_by_secret_and_end,
    the_local_credential_is_set_once_unless_replaced,
    links_and_login_flows_are_single_use,
    purge_removes_only_what_ended_long_ago,
);

fn now(env: &TestApp) -> chrono::DateTime<chrono::Utc> {
    use janus_core::clock::Clock as _;
    env.clock.now()
}

fn accounts(env: &TestApp) -> Accounts {
    Accounts::for_workflow(&env.workflow)
}

fn client() -> ClientInfo {
    ClientInfo {
        user_agent: "test-agent/1.0".into(),
        ip: "192.0.2.7".into(),
    }
}

async fn sessions_live_until_revoked_or_expired(env: &TestApp) {
    let accounts = accounts(env);
    let alice = person("alice@example.com");
    let groups = vec!["sre".to_owned()];
    let (secret, created) = accounts
        .sign_in(&alice, &groups, "oidc", &client(), None)
        .await
        .unwrap();
    assert_eq!(
        created.expires_at - created.created_at,
        chrono::TimeDelta::from_std(SESSION_LIFETIME).unwrap()
    );
    let found = accounts
        .session(secret.expose())
        .await
        .unwrap()
        .expect("live session");
    assert_eq!(found, created);
    assert_eq!(found.groups, groups);
    assert_eq!(found.ip, "192.0.2.7");
    assert!(accounts.session("not-the-secret").await.unwrap().is_none());
    assert!(accounts.session("").await.unwrap().is_none());

    // last_seen moves, at most once a minute.
    env.clock.advance_secs(30);
    assert_eq!(
        accounts
            .session(secret.expose())
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        created.created_at
    );
    env.clock.advance_secs(31);
    let seen = accounts.session(secret.expose()).await.unwrap().unwrap();
    assert_eq!(seen.last_seen_at, now(env));

    // A shorter lifetime is honoured; the session is gone at its end.
    let (short, _) = accounts
        .sign_in(&alice, &[], "link", &client(), Some(Duration::from_secs(600)))
        .await
        .unwrap();
    env.clock.advance_secs(599);
    assert!(accounts.session(short.expose()).await.unwrap().is_some());
    env.clock.advance_secs(1);
    assert!(accounts.session(short.expose()).await.unwrap().is_none());

    env.clock.advance(SESSION_LIFETIME);
    assert!(
        accounts.session(secret.expose()).await.unwrap().is_none(),
        "expired after 12 h"
    );
    let listed = accounts.sessions(&alice).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|session| !session.is_live(now(env))));
    assert_eq!(env.audited("auth.signed_in").await, 2);
    env.verify_chain().await.unwrap();
}

async fn sessions_are_revoked_only_by_their_owner(env: &TestApp) {
    let accounts = accounts(env);
    let alice = person("alice@example.com");
    let bob = person("bob@example.com");
    let (first, first_record) = accounts
        .sign_in(&alice, &[], "oidc", &client(), None)
        .await
        .unwrap();
    let (second, _) = accounts
        .sign_in(&alice, &[], "oidc", &client(), None)
        .await
        .unwrap();
    let (bobs, _) = accounts
        .sign_in(&bob, &[], "oidc", &client(), None)
        .await
        .unwrap();

    assert!(
        !accounts.sign_out(&bob, &first_record.id).await.unwrap(),
        "not bob's session"
    );
    assert!(accounts.session(first.expose()).await.unwrap().is_some());
    assert!(accounts.sign_out(&alice, &first_record.id).await.unwrap());
    assert!(
        !accounts.sign_out(&alice, &first_record.id).await.unwrap(),
        "already ended"
    );
    assert!(accounts.session(first.expose()).await.unwrap().is_none());
    assert!(accounts.session(second.expose()).await.unwrap().is_some());

    let (third, _) = accounts
        .sign_in(&alice, &[], "local", &client(), None)
        .await
        .unwrap();
    assert_eq!(accounts.sign_out_everywhere(&alice).await.unwrap(), 2);
    assert!(accounts.session(second.expose()).await.unwrap().is_none());
    assert!(accounts.session(third.expose()).await.unwrap().is_none());
    assert!(
        accounts.session(bobs.expose()).await.unwrap().is_some(),
        "other people keep theirs"
    );
    assert_eq!(accounts.sign_out_everywhere(&alice).await.unwrap(), 0);
    assert_eq!(env.audited("auth.signed_out").await, 1);
    assert_eq!(env.audited("auth.signed_out_everywhere").await, 1);
    env.verify_chain().await.unwrap();
}

async fn api_tokens_are_found_by_secret_and_end(env: &TestApp) {
    let accounts = accounts(env);
    let alice = person("alice@example.com");
    let (secret, record) = accounts
        .create_api_token(&alice, "laptop", Some(Duration::from_secs(3_600)))
        .await
        .unwrap();
    assert!(secret.expose().starts_with("jat_"));
    let found = accounts
        .api_token(secret.expose())
        .await
        .unwrap()
        .expect("live token");
    assert_eq!(found.id, record.id);
    assert_eq!(found.last_used_at, Some(now(env)));
    assert!(accounts.api_token("jat_wrong").await.unwrap().is_none());
    assert!(accounts.api_token("no-prefix").await.unwrap().is_none());

    for (name, lifetime) in [
        ("", None),
        ("   ", None),
        ("x", Some(Duration::from_secs(1))),
        ("y", Some(Duration::from_secs(400 * 86_400))),
    ] {
        assert!(
            accounts.create_api_token(&alice, name, lifetime).await.is_err(),
            "{name:?} {lifetime:?}"
        );
    }

    let listed = accounts.api_tokens(&alice).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "laptop");
    assert!(
        !accounts
            .revoke_api_token(&person("bob@example.com"), &record.id)
            .await
            .unwrap()
    );
    assert!(accounts.revoke_api_token(&alice, &record.id).await.unwrap());
    assert!(
        accounts.api_token(secret.expose()).await.unwrap().is_none(),
        "revoked"
    );

    let (expiring, _) = accounts
        .create_api_token(&alice, "ci", Some(Duration::from_secs(120)))
        .await
        .unwrap();
    env.clock.advance_secs(120);
    assert!(
        accounts.api_token(expiring.expose()).await.unwrap().is_none(),
        "expired"
    );
    assert_eq!(env.audited("api_token.created").await, 2);
    assert_eq!(env.audited("api_token.revoked").await, 1);
}

async fn the_local_credential_is_set_once_unless_replaced(env: &TestApp) {
    let accounts = accounts(env);
    let admin = person("admin@localhost");
    assert_eq!(accounts.local_password_hash(&admin).await.unwrap(), None);
    // (hash, replace, whether it is set, the hash afterwards): the first is kept unless the
    // new one replaces it.
    for (hash, replace, set, kept) in [
        ("$argon2id$first", false, true, "$argon2id$first"),
        ("$argon2id$second", false, false, "$argon2id$first"),
        ("$argon2id$third", true, true, "$argon2id$third"),
    ] {
        assert_eq!(
            accounts
                .set_local_password_hash(&admin, hash, replace)
                .await
                .unwrap(),
            set,
            "{hash}"
        );
        assert_eq!(
            accounts.local_password_hash(&admin).await.unwrap().as_deref(),
            Some(kept)
        );
    }
    assert_eq!(env.audited("auth.local_password_set").await, 2);
}

async fn links_and_login_flows_are_single_use(env: &TestApp) {
    let accounts = accounts(env);
    let alice = person("alice@example.com");
    let id = RequestId::parse("jr-abcdefgh").unwrap();
    let until = now(env) + chrono::TimeDelta::hours(1);
    assert!(
        accounts
            .redeem_link("signature-1", &id, &alice, until)
            .await
            .unwrap()
    );
    assert!(
        !accounts
            .redeem_link("signature-1", &id, &alice, until)
            .await
            .unwrap()
    );
    assert!(
        accounts
            .redeem_link("signature-2", &id, &alice, until)
            .await
            .unwrap()
    );
    assert_eq!(env.audited("link.redeemed").await, 2);

    let flow = accounts.begin_login("{\"state\":\"s\"}").await.unwrap();
    assert_eq!(
        accounts.finish_login(flow.expose()).await.unwrap().as_deref(),
        Some("{\"state\":\"s\"}")
    );
    assert_eq!(
        accounts.finish_login(flow.expose()).await.unwrap(),
        None,
        "taken once"
    );
    assert_eq!(accounts.finish_login("unknown").await.unwrap(), None);

    let late = accounts.begin_login("late").await.unwrap();
    env.clock.advance(janus_core::accounts::LOGIN_FLOW_LIFETIME);
    assert_eq!(
        accounts.finish_login(late.expose()).await.unwrap(),
        None,
        "expired"
    );
}

async fn purge_removes_only_what_ended_long_ago(env: &TestApp) {
    let accounts = accounts(env);
    let alice = person("alice@example.com");
    let (old, old_record) = accounts
        .sign_in(&alice, &[], "oidc", &client(), None)
        .await
        .unwrap();
    accounts.sign_out(&alice, &old_record.id).await.unwrap();
    let _ = old;
    accounts.begin_login("pending").await.unwrap();
    env.clock.advance(Duration::from_secs(8 * 86_400));
    let (live, _) = accounts
        .sign_in(&alice, &[], "oidc", &client(), None)
        .await
        .unwrap();
    let purged = accounts.purge().await.unwrap();
    assert_eq!(purged, 2, "the old session and the stale login flow");
    let sessions = accounts.sessions(&alice).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(accounts.session(live.expose()).await.unwrap().is_some());
}
