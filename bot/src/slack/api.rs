//! The Slack Web API calls Janus makes, over HTTPS with the bot token.
//!
//! Every method is a POST to `{apiBaseUrl}/{method}` (JSON, or a form for the read methods)
//! with `Authorization: Bearer`. Slack answers HTTP 200 with `{"ok": false, "error": …}`
//! for most failures and HTTP 429 with `Retry-After` when rate-limited; both become a
//! [`SlackError`] that says whether retrying can help.

use std::time::Duration;

use janus_core::outbox::DeliveryError;
use janus_core::secret::Secret;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    #[error("Slack rate-limited the call; retry after {0:?}")]
    RateLimited(Duration),
    #[error("Slack answered HTTP {0}")]
    Http(u16),
    #[error("Slack refused the call: {0}")]
    Api(String),
    #[error("could not reach Slack: {0}")]
    Transport(String),
}

impl SlackError {
    /// Slack error codes that a later attempt may not meet.
    fn is_transient_code(code: &str) -> bool {
        matches!(
            code,
            "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout"
        )
    }
}

impl From<SlackError> for DeliveryError {
    fn from(error: SlackError) -> Self {
        match error {
            SlackError::RateLimited(wait) => DeliveryError::RetryAfter(wait),
            SlackError::Http(status) if status >= 500 || status == 408 => {
                DeliveryError::Transient(error.to_string())
            }
            SlackError::Transport(_) => DeliveryError::Transient(error.to_string()),
            SlackError::Api(ref code) if SlackError::is_transient_code(code) => {
                DeliveryError::Transient(error.to_string())
            }
            SlackError::Http(_) | SlackError::Api(_) => DeliveryError::Permanent(error.to_string()),
        }
    }
}

/// A message Slack accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, Clone)]
pub struct SlackApi {
    http: reqwest::Client,
    base_url: String,
    token: Secret,
}

impl SlackApi {
    pub fn new(base_url: &str, token: Secret) -> SlackApi {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        SlackApi {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        }
    }

    async fn call(&self, method: &str, body: Body<'_>) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base_url);
        let request = self.http.post(&url).bearer_auth(self.token.expose());
        let request = match body {
            Body::Json(value) => request.json(value),
            Body::Form(fields) => request.form(fields),
        };
        let response = request
            .send()
            .await
            .map_err(|error| SlackError::Transport(without_url(&error)))?;
        let status = response.status();
        if status.as_u16() == 429 {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or(1);
            return Err(SlackError::RateLimited(Duration::from_secs(wait)));
        }
        if !status.is_success() {
            return Err(SlackError::Http(status.as_u16()));
        }
        let value: Value = response
            .json()
            .await
            .map_err(|error| SlackError::Transport(without_url(&error)))?;
        if value["ok"].as_bool() == Some(true) {
            Ok(value)
        } else {
            let code = value["error"].as_str().unwrap_or("unknown_error");
            Err(SlackError::Api(code.to_owned()))
        }
    }

    /// Posts `message` (`text` + `blocks`) in `channel`, in a thread when `thread_ts` is set.
    pub async fn post_message(
        &self,
        channel: &str,
        message: &Value,
        thread_ts: Option<&str>,
    ) -> Result<Posted, SlackError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["unfurl_links"] = json!(false);
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", Body::Json(&body)).await?;
        Ok(Posted {
            channel: answer["channel"].as_str().unwrap_or(channel).to_owned(),
            ts: answer["ts"]
                .as_str()
                .ok_or_else(|| SlackError::Api("no ts in chat.postMessage answer".into()))?
                .to_owned(),
        })
    }

    pub async fn update_message(&self, channel: &str, ts: &str, message: &Value) -> Result<(), SlackError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        self.call("chat.update", Body::Json(&body)).await.map(drop)
    }

    pub async fn post_ephemeral(&self, channel: &str, user: &str, message: &Value) -> Result<(), SlackError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["user"] = json!(user);
        self.call("chat.postEphemeral", Body::Json(&body)).await.map(drop)
    }

    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        let body = json!({ "trigger_id": trigger_id, "view": view });
        self.call("views.open", Body::Json(&body)).await.map(drop)
    }

    /// The user's profile email, if Slack has one for them.
    pub async fn user_email(&self, user: &str) -> Result<Option<String>, SlackError> {
        let answer = self.call("users.info", Body::Form(&[("user", user)])).await?;
        Ok(answer["user"]["profile"]["email"]
            .as_str()
            .filter(|email| !email.is_empty())
            .map(str::to_owned))
    }

    /// Opens (or finds) the direct-message conversation with `user`.
    pub async fn open_dm(&self, user: &str) -> Result<String, SlackError> {
        let answer = self
            .call("conversations.open", Body::Json(&json!({ "users": user })))
            .await?;
        answer["channel"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SlackError::Api("no channel in conversations.open answer".into()))
    }

    /// Posts to an interaction's `response_url` (no token: the URL is the credential).
    pub async fn respond(&self, response_url: &str, message: &Value) -> Result<(), SlackError> {
        if !response_url.starts_with("https://") && !response_url.starts_with(&self.base_origin()) {
            return Err(SlackError::Api("response_url is not a Slack URL".into()));
        }
        let response = self
            .http
            .post(response_url)
            .json(message)
            .send()
            .await
            .map_err(|error| SlackError::Transport(without_url(&error)))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            429 => Err(SlackError::RateLimited(Duration::from_secs(1))),
            status => Err(SlackError::Http(status)),
        }
    }

    /// `scheme://host[:port]` of the API base, the one non-https origin trusted for
    /// `response_url` (the fake in tests).
    fn base_origin(&self) -> String {
        match url_origin(&self.base_url) {
            Some(origin) => origin,
            None => "https://".to_owned(),
        }
    }
}

enum Body<'a> {
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

fn url_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}/"))
}

/// A reqwest error without the URL (response URLs are credentials).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_decode() {
        "the answer was not JSON"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_whether_retrying_helps() {
        let kind = |error: SlackError| match DeliveryError::from(error) {
            DeliveryError::RetryAfter(_) => "wait",
            DeliveryError::Transient(_) => "retry",
            DeliveryError::Permanent(_) => "give up",
        };
        assert_eq!(kind(SlackError::RateLimited(Duration::from_secs(3))), "wait");
        assert_eq!(kind(SlackError::Http(503)), "retry");
        assert_eq!(kind(SlackError::Transport("timed out".into())), "retry");
        assert_eq!(kind(SlackError::Api("internal_error".into())), "retry");
        assert_eq!(kind(SlackError::Api("channel_not_found".into())), "give up");
        assert_eq!(kind(SlackError::Http(404)), "give up");
    }

    #[test]
    fn only_https_or_the_api_origin_receive_responses() {
        let api = SlackApi::new("http://127.0.0.1:9/api", Secret::new("xoxb"));
        assert_eq!(api.base_origin(), "http://127.0.0.1:9/");
        let real = SlackApi::new("https://slack.com/api", Secret::new("xoxb"));
        assert_eq!(real.base_origin(), "https://slack.com/");
    }
}
