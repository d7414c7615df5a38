//! The audit chain (both backends): append-only in the database, and any tampering by
//! someone who gets past that is detected at the row it happened, by the store walk and
//! by `janus audit verify`.

use std::process::Command as Process;

use janus_core::audit::ChainBreak;
use janus_core::store::{Backend, PgStore, SqliteStore};

use crate::support::{TestApp, both_backends};

both_backends!(
    the_database_refuses_changes_to_events,
    an_updated_row_is_named,
    a_deleted_row_is_named,
    swapped_rows_are_named,
    a_removed_tail_is_detected,
);

async fn execute(env: &TestApp, sql: &'static str) -> Result<u64, sqlx::Error> {
    if let Some(store) = env.store.downcast_ref::<SqliteStore>() {
        return sqlx::query(sql)
            .execute(store.pool())
            .await
            .map(|done| done.rows_affected());
    }
    let store = env
        .store
        .downcast_ref::<PgStore>()
        .expect("the test store is SQLite or PostgreSQL");
    sqlx::query(sql)
        .execute(store.pool())
        .await
        .map(|done| done.rows_affected())
}

/// An attacker with database rights removes the append-only triggers first.
async fn drop_triggers(env: &TestApp) {
    match env.store.backend() {
        Backend::Sqlite => {
            execute(env, "DROP TRIGGER audit_events_no_update").await.unwrap();
            execute(env, "DROP TRIGGER audit_events_no_delete").await.unwrap();
        }
        Backend::Postgres => {
            execute(env, "DROP TRIGGER audit_events_no_change ON audit_events")
                .await
                .unwrap();
        }
    }
}

/// Five events: submitted, approved, grant.succeeded for one request; submitted, withdrawn for another.
async fn some_history(env: &TestApp) {
    env.active("alice@example.com", &["payments"]).await;
    let other = env.submit("erin@example.com", &["checkout"]).await;
    env.workflow
        .execute(
            &other.id,
            None,
            janus_core::domain::Command::Withdraw,
            &janus_core::domain::Actor::Person(crate::support::person("erin@example.com")),
        )
        .await
        .unwrap();
    assert_eq!(env.verify_chain().await, Ok(5));
}

/// [`some_history`] with the append-only triggers dropped, then `statements` run on it.
async fn tampered(env: &TestApp, statements: &[&'static str]) {
    some_history(env).await;
    drop_triggers(env).await;
    for statement in statements {
        execute(env, statement).await.unwrap();
    }
}

/// `janus audit verify` fails and its report contains `broken`.
fn assert_cli_names(env: &TestApp, broken: &str) {
    let (code, stdout) = cli_verify(env);
    assert_eq!(code, 1);
    assert!(stdout.contains(broken), "{stdout}");
}

/// Runs the real binary against the test database.
fn cli_verify(env: &TestApp) -> (i32, String) {
    let output = Process::new(env!("CARGO_BIN_EXE_janus"))
        .args(["audit", "verify", "--database-url", &env.database_url])
        .env_remove("JANUS_CONFIG")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

async fn the_database_refuses_changes_to_events(env: &TestApp) {
    some_history(env).await;
    let update = execute(
        env,
        "UPDATE audit_events SET actor = 'mallory@example.com' WHERE seq = 2",
    )
    .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = execute(env, "DELETE FROM audit_events WHERE seq = 2").await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    let (code, stdout) = cli_verify(env);
    assert_eq!(
        (code, stdout.trim()),
        (0, "audit chain intact: 5 events verified")
    );
}

async fn an_updated_row_is_named(env: &TestApp) {
    some_history(env).await;
    drop_triggers(env).await;
    assert_eq!(
        execute(
            env,
            "UPDATE audit_events SET actor = 'mallory@example.com' WHERE seq = 2"
        )
        .await
        .unwrap(),
        1
    );
    assert_eq!(env.verify_chain().await, Err(ChainBreak::Altered { seq: 2 }));
    assert_cli_names(env, "BROKEN at event 2");

    // Changing the details is caught as well.
    assert_eq!(
        execute(
            env,
            "UPDATE audit_events SET actor = 'alice@example.com' WHERE seq = 2"
        )
        .await
        .unwrap(),
        1
    );
    execute(
        env,
        "UPDATE audit_events SET details = '{\"ttlSeconds\":28800}' WHERE seq = 4",
    )
    .await
    .unwrap();
    assert_cli_names(env, "BROKEN at event");
}

async fn a_deleted_row_is_named(env: &TestApp) {
    tampered(env, &["DELETE FROM audit_events WHERE seq = 3"]).await;
    assert_eq!(env.verify_chain().await.map_err(|broken| broken.seq()), Err(3));
    assert_cli_names(env, "BROKEN at event 3");
}

async fn swapped_rows_are_named(env: &TestApp) {
    // Move row 2 out of the way, put row 3 in its place, and row 2 in row 3's.
    tampered(
        env,
        &[
            "UPDATE audit_events SET seq = 1000 WHERE seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 1000",
        ],
    )
    .await;
    assert_eq!(env.verify_chain().await.map_err(|broken| broken.seq()), Err(2));
    assert_cli_names(env, "BROKEN at event 2");
}

async fn a_removed_tail_is_detected(env: &TestApp) {
    tampered(env, &["DELETE FROM audit_events WHERE seq = 5"]).await;
    assert_eq!(
        env.verify_chain().await,
        Err(ChainBreak::Truncated { last: 4, head: 5 })
    );
    assert_cli_names(env, "BROKEN at event 5");
}
