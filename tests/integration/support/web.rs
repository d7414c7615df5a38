//! Web sign-in for a [`TestApp`]: sessions and API tokens made as a sign-in would make them,
//! browsers that carry them (with the CSRF token the pages carry), and JSON API calls.

use janus_core::accounts::{ClientInfo, csrf_token};
use reqwest::StatusCode;

use super::{TestApp, person};

pub const ALICE: &str = "alice@example.com";
pub const MALLORY: &str = "mallory@example.com";
pub const BOB: &str = "bob@example.com";
pub const ERIN: &str = "erin@example.com";
pub const ADMIN: &str = "admin@example.com";
/// Approves `prod` through the `prod-approvers` group only (in [`WEB`]).
pub const GRACE: &str = "grace@example.com";

/// The web suites' configuration: `prod` (approver bob, and the group `prod-approvers`) and
/// `staging` (approver erin); admin@example.com is the admin; limits out of the way; local
/// sign-in, `sso` links.
pub const WEB: &str = "\
janus:
  adminEmails: [admin@example.com]
  limits: { requestsPerHour: 10000, liveRequestsPerUser: 10000 }
clusters:
  - name: prod
    approvers: [bob@example.com]
    approverGroups: [prod-approvers]
  - name: staging
    approvers: [erin@example.com]
";

/// [`WEB`] with `extra` (YAML) laid over it.
pub fn web(extra: &str) -> String {
    super::app::merge_yaml(WEB, extra)
}

impl TestApp {
    /// A new session's cookie secret for `email` in `groups`.
    pub async fn session_secret(&self, email: &str, groups: &[&str]) -> String {
        let groups: Vec<String> = groups.iter().map(|group| (*group).to_owned()).collect();
        let (secret, _) = self
            .accounts
            .sign_in(&person(email), &groups, "test", &ClientInfo::default(), None)
            .await
            .unwrap();
        secret.expose().to_owned()
    }

    /// The `Cookie` header of a new dashboard session of `email`.
    pub async fn cookie(&self, email: &str) -> String {
        format!("janus_session={}", self.session_secret(email, &[]).await)
    }

    /// A cookie-keeping browser (`janus_fixtures::browser`) signed in as `email`.
    pub async fn browser_as(&self, email: &str, groups: &[&str]) -> janus_fixtures::browser::Browser {
        let browser = janus_fixtures::browser::Browser::new();
        let secret = self.session_secret(email, groups).await;
        browser.set_cookie(&self.base, "janus_session", Some(&secret));
        browser
    }

    /// A personal API token of `email`.
    pub async fn api_token(&self, email: &str) -> String {
        let (secret, _) = self
            .accounts
            .create_api_token(&person(email), "test", None)
            .await
            .unwrap();
        secret.expose().to_owned()
    }

    /// A browser signed in as `email` (a real session row, as sign-in would make), posting
    /// forms with its CSRF token.
    pub async fn sign_in(&self, email: &str) -> Browser {
        let (secret, _) = self
            .accounts
            .sign_in(&person(email), &[], "local", &ClientInfo::default(), None)
            .await
            .unwrap();
        let secret = secret.expose().to_owned();
        Browser {
            base: self.base.clone(),
            client: client(),
            cookie: Some(format!("janus_session={secret}")),
            csrf: csrf_token(&secret),
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

    /// GET `path` on central with `cookie`: status and body.
    pub async fn get(&self, cookie: &str, path: &str) -> (u16, String) {
        let response = reqwest::Client::new()
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

/// A JSON API call with a bearer token (or none).
pub async fn api(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A signed-in (or anonymous) browser of the dashboard: its session cookie and the CSRF token
/// its pages carry. Redirects are not followed.
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
