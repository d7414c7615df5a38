//! The Discord REST calls Janus makes, as JSON over reqwest against `discord.apiBaseUrl`
//! (`https://discord.com`, or the fake in tests): `/api/v10/…`, `Authorization: Bot …`.
//!
//! A 429 becomes [`DiscordError::RateLimited`] with Discord's `retry_after` (seconds, in
//! the body; the `Retry-After` header as a fallback), which the outbox honours exactly.

use std::time::Duration;

use janus_core::outbox::DeliveryError;
use janus_core::secret::Secret;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Discord's error code for "a thread has already been created for this message".
pub const THREAD_ALREADY_CREATED: i64 = 160_004;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscordError {
    #[error("Discord rate-limited the call; retry after {0:?}")]
    RateLimited(Duration),
    /// A 4xx other than 429: Discord's JSON error code and message.
    #[error("Discord refused {route}: HTTP {status}, code {code}: {message}")]
    Refused {
        route: String,
        status: u16,
        code: i64,
        message: String,
    },
    #[error("Discord failed {route}: {problem}")]
    Unavailable { route: String, problem: String },
}

impl From<DiscordError> for DeliveryError {
    fn from(error: DiscordError) -> DeliveryError {
        match error {
            DiscordError::RateLimited(wait) => DeliveryError::RetryAfter(wait),
            // An expired token or a missing channel does not fix itself by retrying.
            refused @ DiscordError::Refused { .. } => DeliveryError::Permanent(refused.to_string()),
            unavailable @ DiscordError::Unavailable { .. } => {
                DeliveryError::Transient(unavailable.to_string())
            }
        }
    }
}

/// A client for one application.
#[derive(Clone)]
pub struct DiscordApi {
    http: reqwest::Client,
    base: String,
    token: Secret,
    application_id: String,
}

impl std::fmt::Debug for DiscordApi {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DiscordApi")
            .field("base", &self.base)
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}

impl DiscordApi {
    pub fn new(api_base_url: &str, token: Secret, application_id: &str) -> DiscordApi {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .user_agent("DiscordBot (https://github.com/janus-access/janus, 0.1)")
            .build()
            .unwrap_or_default();
        DiscordApi {
            http,
            base: format!("{}/api/v10", api_base_url.trim_end_matches('/')),
            token,
            application_id: application_id.to_owned(),
        }
    }

    async fn call(
        &self,
        method: Method,
        route: &str,
        body: Option<&Value>,
        bot: bool,
    ) -> Result<Value, DiscordError> {
        let mut request = self.http.request(method, format!("{}{route}", self.base));
        if bot {
            request = request.header("authorization", format!("Bot {}", self.token.expose()));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        // Interaction tokens are part of webhook routes: name the route without them.
        let shown = if route.starts_with("/webhooks/") {
            "/webhooks/{application}/{token}".to_owned()
        } else {
            route.to_owned()
        };
        let unavailable = |problem: String| DiscordError::Unavailable {
            route: shown.clone(),
            problem,
        };
        let response = request
            .send()
            .await
            .map_err(|error| unavailable(format!("no answer ({})", error.without_url())))?;
        let status = response.status();
        let header_wait = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<f64>().ok());
        let text = response.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let seconds = json["retry_after"].as_f64().or(header_wait).unwrap_or(1.0);
            let seconds = if seconds.is_finite() {
                seconds.clamp(0.0, 3_600.0)
            } else {
                1.0
            };
            return Err(DiscordError::RateLimited(Duration::from_secs_f64(seconds)));
        }
        if status.is_server_error() {
            return Err(unavailable(format!("HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            return Err(DiscordError::Refused {
                route: shown,
                status: status.as_u16(),
                code: json["code"].as_i64().unwrap_or(0),
                message: json["message"].as_str().unwrap_or("").chars().take(200).collect(),
            });
        }
        Ok(json)
    }

    fn id_of(json: &Value, route: &str) -> Result<String, DiscordError> {
        json["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DiscordError::Unavailable {
                route: route.to_owned(),
                problem: "the answer has no id".to_owned(),
            })
    }

    /// `POST /channels/{channel}/messages`; the new message's id.
    pub async fn create_message(&self, channel: &str, message: &Value) -> Result<String, DiscordError> {
        let route = format!("/channels/{channel}/messages");
        let json = self.call(Method::POST, &route, Some(message), true).await?;
        Self::id_of(&json, &route)
    }

    /// `PATCH /channels/{channel}/messages/{message}`.
    pub async fn edit_message(&self, channel: &str, message: &str, body: &Value) -> Result<(), DiscordError> {
        let route = format!("/channels/{channel}/messages/{message}");
        self.call(Method::PATCH, &route, Some(body), true).await.map(drop)
    }

    /// `POST /channels/{channel}/messages/{message}/threads`: the thread's id (which Discord
    /// makes equal to the message's). A thread that already exists is found, not an error.
    pub async fn start_thread(
        &self,
        channel: &str,
        message: &str,
        name: &str,
    ) -> Result<String, DiscordError> {
        let route = format!("/channels/{channel}/messages/{message}/threads");
        let body = serde_json::json!({ "name": name, "auto_archive_duration": 1440 });
        match self.call(Method::POST, &route, Some(&body), true).await {
            Ok(json) => Self::id_of(&json, &route),
            Err(DiscordError::Refused { code, .. }) if code == THREAD_ALREADY_CREATED => {
                Ok(message.to_owned())
            }
            Err(error) => Err(error),
        }
    }

    /// `POST /users/@me/channels`: the direct-message channel with `user`.
    pub async fn open_dm(&self, user: &str) -> Result<String, DiscordError> {
        let route = "/users/@me/channels";
        let body = serde_json::json!({ "recipient_id": user });
        let json = self.call(Method::POST, route, Some(&body), true).await?;
        Self::id_of(&json, route)
    }

    /// `PATCH /webhooks/{application}/{token}/messages/@original`: the answer to a deferred
    /// interaction.
    pub async fn edit_original(&self, token: &str, body: &Value) -> Result<(), DiscordError> {
        let route = format!("/webhooks/{}/{token}/messages/@original", self.application_id);
        self.call(Method::PATCH, &route, Some(body), false)
            .await
            .map(drop)
    }

    /// `POST /webhooks/{application}/{token}`: a follow-up message to an interaction.
    pub async fn follow_up(&self, token: &str, body: &Value) -> Result<(), DiscordError> {
        let route = format!("/webhooks/{}/{token}", self.application_id);
        self.call(Method::POST, &route, Some(body), false).await.map(drop)
    }

    /// `PUT /applications/{application}/commands` (or the guild's): replaces every command
    /// with `commands`, so registering twice is the same as once. Answers the registered list.
    pub async fn overwrite_commands(
        &self,
        guild: Option<&str>,
        commands: &Value,
    ) -> Result<Value, DiscordError> {
        let route = match guild {
            Some(guild) => format!("/applications/{}/guilds/{guild}/commands", self.application_id),
            None => format!("/applications/{}/commands", self.application_id),
        };
        self.call(Method::PUT, &route, Some(commands), true).await
    }
}
