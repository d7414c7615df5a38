//! The CLI's side of the JSON API: where `janus login` keeps the URL and token, and a small
//! client that turns API errors into one readable line.
//!
//! Credentials live in `$JANUS_CLI_CONFIG`, else `$XDG_CONFIG_HOME/janus/credentials.json`, else
//! `~/.config/janus/credentials.json`, written with mode 0600. `JANUS_URL` and `JANUS_TOKEN`
//! override the file (for CI and scripts).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub url: String,
    pub token: String,
}

pub fn credentials_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("JANUS_CLI_CONFIG").filter(|path| !path.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .ok_or_else(|| anyhow!("cannot find your config directory; set JANUS_CLI_CONFIG to a file path"))?;
    Ok(base.join("janus").join("credentials.json"))
}

/// Writes the credentials file, readable by its owner only.
pub fn save(credentials: &Credentials) -> anyhow::Result<PathBuf> {
    let path = credentials_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(credentials)?;
    write_private(&path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Writes `bytes` to `path` with mode 0600 (also when the file existed with a wider mode).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let mut file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(bytes)
    }
}

/// The saved credentials, with `JANUS_URL` / `JANUS_TOKEN` taking precedence.
pub fn load() -> anyhow::Result<Credentials> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let saved: Option<Credentials> = match credentials_path() {
        Ok(path) if path.exists() => {
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not valid; run `janus login` again", path.display()))?,
            )
        }
        _ => None,
    };
    let url = env("JANUS_URL").or_else(|| saved.as_ref().map(|saved| saved.url.clone()));
    let token = env("JANUS_TOKEN").or_else(|| saved.as_ref().map(|saved| saved.token.clone()));
    match (url, token) {
        (Some(url), Some(token)) => Ok(Credentials { url, token }),
        _ => bail!("not logged in; run `janus login --url https://janus.example.com --token jat_…` first"),
    }
}

/// A client for one Janus, authenticated with a personal API token.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(credentials: &Credentials) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("janus-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Api {
            base: credentials.url.trim_end_matches('/').to_owned(),
            token: credentials.token.clone(),
            http,
        })
    }

    pub fn from_saved() -> anyhow::Result<Api> {
        Api::new(&load()?)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// Sends `request` with the saved token and reads the answer.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        answer(
            request
                .bearer_auth(&self.token)
                .send()
                .await
                .with_context(|| format!("cannot reach {}", self.base))?,
        )
        .await
    }
}

/// The JSON body of a success, or the API's error sentence.
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("no explanation given");
    let code = body["error"]["code"].as_str().unwrap_or("error");
    bail!("{message} ({code}, HTTP {})", status.as_u16())
}
