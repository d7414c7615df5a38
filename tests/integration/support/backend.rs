//! Where a test's data lives: SQLite in a temporary directory or a throw-away PostgreSQL
//! database, and the macro that runs a story on both.

use std::path::PathBuf;
use std::sync::Once;

use janus_fixtures::postgres::TestDatabase;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a story once per backend. `both_backends!(story, …)` starts the standard
/// [`TestApp`](crate::support::TestApp) and passes `&TestApp`; `both_backends!(with <builder>;
/// story, …)` starts the one `<builder>` (a `TestAppBuilder` expression) describes. The
/// PostgreSQL variant is skipped (with a note) when no server answers and none is required.
macro_rules! both_backends {
    (with $builder:expr; $($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let app = ($builder).backend(crate::support::Backend::Sqlite).start().await;
                    super::$test(&app).await;
                    app.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some(app) = ($builder).backend(crate::support::Backend::Postgres).try_start().await else {
                        return;
                    };
                    super::$test(&app).await;
                    app.finish().await;
                }
            }
        )*
    };
    ($($test:ident),* $(,)?) => {
        crate::support::both_backends!(with crate::support::TestApp::builder(); $($test),*);
    };
}
pub(crate) use both_backends;

/// Runs `async fn story(backend: Backend)` once per backend, for stories that start their own
/// [`TestApp`](crate::support::TestApp) (PostgreSQL as [`Database::create`] decides).
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$test(crate::support::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$test(crate::support::Backend::Postgres).await;
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Where a test database lives; removed by `remove`.
#[derive(Debug)]
pub enum Database {
    Sqlite(TempDir),
    Postgres(TestDatabase),
}

impl Database {
    /// A fresh database, or `None` for PostgreSQL when no server answers (and none is required).
    pub async fn create(backend: Backend) -> Option<(Database, String)> {
        match backend {
            Backend::Sqlite => {
                let dir = TempDir::new();
                let url = format!("sqlite://{}", dir.path().join("janus.db").display());
                Some((Database::Sqlite(dir), url))
            }
            Backend::Postgres => {
                let database = TestDatabase::create().await?;
                let url = database.url.clone();
                Some((Database::Postgres(database), url))
            }
        }
    }

    pub async fn remove(self) {
        match self {
            Database::Sqlite(dir) => drop(dir),
            Database::Postgres(database) => database.drop_database().await,
        }
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let suffix: u64 = rand::random();
        let path = std::env::temp_dir().join(format!("janus-test-{suffix:016x}"));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
