//! `janus login`, `janus request [--wait]`, `janus requests list`, `janus approve|deny|revoke|
//! withdraw|extend <id>`: the JSON API from a terminal.

use std::process::ExitCode;

use anyhow::{Context, bail};
use janus_core::duration::{format_duration, parse_duration};
use serde_json::{Value, json};

use super::client::{self, Api, Credentials};

/// `janus login --url URL [--token T]`: checks the token against `/api/v1/me` and saves both.
/// Without `--token`, reads it from standard input (create one on your Janus page).
pub async fn login(url: &str, token: Option<String>) -> anyhow::Result<ExitCode> {
    let url = url.trim().trim_end_matches('/').to_owned();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("--url must start with https:// (or http:// for a local Janus)");
    }
    let token = match token {
        Some(token) => token,
        None => {
            eprintln!("Create an API token at {url}/auth/sessions and paste it here:");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the token")?;
            line
        }
    };
    let credentials = Credentials {
        url,
        token: token.trim().to_owned(),
    };
    let me = Api::new(&credentials)?.get("/api/v1/me").await?;
    let path = client::save(&credentials)?;
    println!(
        "Logged in to {} as {} (saved in {}).",
        credentials.url,
        me["principal"].as_str().unwrap_or("?"),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What `janus request` asks for.
#[derive(Debug)]
pub struct NewRequest {
    pub cluster: String,
    pub namespaces: String,
    pub ttl: Option<String>,
    pub reason: String,
    pub wait: bool,
}

/// `janus request …`: submits; with `--wait`, long-polls until the request is Active (prints the
/// terminal link, exit 0) or ends (prints why, exit 1).
pub async fn request(ask: NewRequest) -> anyhow::Result<ExitCode> {
    let api = Api::from_saved()?;
    let namespaces: Vec<&str> = ask
        .namespaces
        .split(',')
        .map(str::trim)
        .filter(|namespace| !namespace.is_empty())
        .collect();
    let mut body = json!({ "cluster": ask.cluster, "namespaces": namespaces, "reason": ask.reason });
    if let Some(ttl) = &ask.ttl {
        body["ttlSeconds"] = json!(parse_duration(ttl)?);
    }
    let created = api.post("/api/v1/requests", &body).await?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let ttl = created["ttlSeconds"]
        .as_u64()
        .map(format_duration)
        .unwrap_or_default();
    eprintln!(
        "Request {id} submitted ({}, {ttl}).",
        created["state"].as_str().unwrap_or("?")
    );
    if !ask.wait {
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("Waiting for approval…");
    let mut last_state = created["state"].as_str().unwrap_or_default().to_owned();
    loop {
        let request = api
            .get(&format!("/api/v1/requests/{id}?waitFor=active&timeout=25s"))
            .await?;
        let state = request["state"].as_str().unwrap_or_default().to_owned();
        if state != last_state {
            eprintln!("Request {id} is {state}.");
            last_state.clone_from(&state);
        }
        match state.as_str() {
            "pending" | "approved" => continue,
            "active" => {
                let until = request["expiresAt"].as_str().unwrap_or("?");
                match request["link"].as_str() {
                    Some(link) => {
                        eprintln!("Access is active until {until}. Open the terminal:");
                        println!("{link}");
                    }
                    None => println!("Access is active until {until}."),
                }
                return Ok(ExitCode::SUCCESS);
            }
            _ => {
                eprintln!("{}", ended(&request));
                return Ok(ExitCode::FAILURE);
            }
        }
    }
}

/// One sentence on why a request ended.
fn ended(request: &Value) -> String {
    let id = request["id"].as_str().unwrap_or("?");
    let state = request["state"].as_str().unwrap_or("?");
    let reason = request["denyReason"]
        .as_str()
        .or(request["endReason"].as_str())
        .filter(|reason| !reason.is_empty());
    match (state, reason) {
        ("denied", Some(reason)) => format!("Request {id} was denied: {reason}."),
        ("failed", Some(reason)) => format!("Request {id} failed: {reason}."),
        (_, Some(reason)) => format!("Request {id} is {state} ({reason})."),
        _ => format!("Request {id} is {state}."),
    }
}

/// `janus requests list [--state S] [--cluster C] [--requester E]`.
pub async fn list(
    state: Option<String>,
    cluster: Option<String>,
    requester: Option<String>,
) -> anyhow::Result<ExitCode> {
    let api = Api::from_saved()?;
    let mut query = Vec::new();
    for (name, value) in [("state", state), ("cluster", cluster), ("requester", requester)] {
        if let Some(value) = value {
            query.push(format!("{name}={}", encode(&value)));
        }
    }
    let path = if query.is_empty() {
        "/api/v1/requests".to_owned()
    } else {
        format!("/api/v1/requests?{}", query.join("&"))
    };
    let answer = api.get(&path).await?;
    let items = answer["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("No requests.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<12}  {:<9}  {:<16}  {:<28}  {:<28}  CREATED",
        "ID", "STATE", "CLUSTER", "NAMESPACES", "REQUESTER"
    );
    for item in items {
        let namespaces: Vec<&str> = item["namespaces"]
            .as_array()
            .map(|list| list.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!(
            "{:<12}  {:<9}  {:<16}  {:<28}  {:<28}  {}",
            item["id"].as_str().unwrap_or(""),
            item["state"].as_str().unwrap_or(""),
            item["cluster"].as_str().unwrap_or(""),
            namespaces.join(","),
            item["requester"].as_str().unwrap_or(""),
            item["createdAt"].as_str().unwrap_or(""),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// A command on one request: `approve`, `deny`, `revoke`, `withdraw` or `extend`.
pub async fn act(
    verb: &str,
    id: &str,
    ttl: Option<String>,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    let api = Api::from_saved()?;
    let mut body = json!({});
    if let Some(ttl) = ttl {
        body["ttlSeconds"] = json!(parse_duration(&ttl)?);
    }
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    let request = api
        .post(&format!("/api/v1/requests/{}/{verb}", encode(id.trim())), &body)
        .await?;
    println!(
        "Request {} is {}.",
        request["id"].as_str().unwrap_or(id),
        request["state"].as_str().unwrap_or("?")
    );
    Ok(ExitCode::SUCCESS)
}
