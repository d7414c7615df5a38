//! The dashboard over real HTTP: central on port 0 with a manual clock, people signed in with real
//! server-side sessions, forms posted as a browser would (with and without htmx).

mod access;
mod browser;
mod commands;
mod export;
mod forms;
mod live;
mod terminal_browser;
mod terminal_page;

use std::sync::Arc;

use janus_core::accounts::{Accounts, ClientInfo, csrf_token};
use janus_core::clock::{Clock, ManualClock};
use janus_core::config::Config;
use janus_core::domain::{AccessRequest, Actor, Command};
use janus_core::store::Store;
use janus_core::workflow::Workflow;
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{Backend, Database, draft, install_crypto, person, policy};

/// Runs `async fn name(backend: Backend)` once per backend (PostgreSQL as `support` decides).
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

/// People in [`policy`]: alice and erin request; bob, carol and dave approve `prod` and `quorum`;
/// admin@example.com is an admin.
pub const ALICE: &str = "alice@example.com";
pub const BOB: &str = "bob@example.com";
pub const ERIN: &str = "erin@example.com";
pub const ADMIN: &str = "admin@example.com";

/// Central on port 0 serving the dashboard.
pub struct Dashboard {
    pub base: String,
    pub workflow: Workflow,
    pub clock: ManualClock,
    pub store: Store,
    stop: Option<oneshot::Sender<()>>,
    database: Option<Database>,
}

pub fn dashboard_config(extra: &str) -> Config {
    let yaml = format!(
        "janus:\n  adminEmails: [admin@example.com]\n  displayTimezone: Europe/Paris\n\
         clusters:\n  - name: prod\n    displayName: Production\n    approvers: [bob@example.com]\n\
         \x20 - name: quorum\n    approvers: [bob@example.com]\n    approvalsRequired: 2\n{extra}"
    );
    Config::load(Some(&yaml), &[], &|_| Err(std::io::Error::other("no files"))).unwrap()
}

impl Dashboard {
    pub async fn start(backend: Backend) -> Option<Dashboard> {
        Self::start_with(backend, dashboard_config("")).await
    }

    pub async fn start_with(backend: Backend, config: Config) -> Option<Dashboard> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(backend, listener, config, ManualClock::at_epoch()).await
    }

    /// Serves on `listener` (bound beforehand when its address must be known, e.g. for OIDC).
    pub async fn serve(
        backend: Backend,
        listener: TcpListener,
        config: Config,
        clock: ManualClock,
    ) -> Option<Dashboard> {
        install_crypto();
        let (database, url) = Database::create(backend).await?;
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let workflow = Workflow::new(store.clone(), policy(), Arc::new(clock.clone()) as Arc<dyn Clock>);
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let state = janus_web::AppState::new(workflow.clone(), config);
        tokio::spawn(janus_web::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Some(Dashboard {
            base,
            workflow,
            clock,
            store,
            stop: Some(stop),
            database: Some(database),
        })
    }

    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.store.close().await;
        if let Some(database) = self.database.take() {
            database.remove().await;
        }
    }

    /// A browser signed in as `email` (a real session row, as sign-in would make).
    pub async fn sign_in(&self, email: &str) -> Browser {
        let accounts = Accounts::for_workflow(&self.workflow);
        let (secret, _) = accounts
            .sign_in(&person(email), &[], "local", &ClientInfo::default(), None)
            .await
            .unwrap();
        Browser {
            base: self.base.clone(),
            client: client(),
            cookie: Some(format!("janus_session={}", secret.expose())),
            csrf: csrf_token(secret.expose()),
        }
    }

    /// A browser nobody signed in to.
    pub fn anonymous(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            client: client(),
            cookie: None,
            csrf: String::new(),
        }
    }

    /// `requester` submits a request for `prod` through the workflow.
    pub async fn submit(&self, requester: &str, namespaces: &[&str]) -> AccessRequest {
        self.workflow
            .submit(&person(requester), draft("prod", namespaces))
            .await
            .unwrap()
    }

    pub async fn approve(&self, request: &AccessRequest, approver: &str) -> AccessRequest {
        let command = Command::Approve {
            ttl_seconds: None,
            reason: None,
        };
        let actor = Actor::Person(person(approver));
        self.workflow
            .execute(&request.id, Some(request.state), command, &actor)
            .await
            .unwrap()
    }

    pub async fn audit_codes(&self, action: &str) -> Vec<String> {
        self.store
            .audit_page(0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|event| event.action == action)
            .map(|event| event.details["code"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A signed-in (or anonymous) browser: its session cookie and the CSRF token its pages carry.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .map_or("", |value| value.to_str().unwrap())
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |value| value.to_str().unwrap())
    }
}

impl Browser {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request
    }

    pub async fn get(&self, path: &str) -> Page {
        read(self.request(reqwest::Method::GET, path).send().await.unwrap()).await
    }

    pub async fn get_htmx(&self, path: &str) -> Page {
        let request = self
            .request(reqwest::Method::GET, path)
            .header("HX-Request", "true");
        read(request.send().await.unwrap()).await
    }

    /// Posts `fields` with this browser's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = vec![("_csrf", &self.csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, false).await
    }

    /// Posts `fields` as htmx does (with `HX-Request: true`), with this browser's CSRF token.
    pub async fn post_htmx(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = vec![("_csrf", &self.csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, true).await
    }

    /// Posts exactly `fields` (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)], htmx: bool) -> Page {
        let mut request = self.request(reqwest::Method::POST, path).form(fields);
        if htmx {
            request = request.header("HX-Request", "true");
        }
        read(request.send().await.unwrap()).await
    }
}

async fn read(response: reqwest::Response) -> Page {
    Page {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}
