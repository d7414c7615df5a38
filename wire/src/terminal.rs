//! The web terminal's wire types (docs/terminal-protocol.md), shared by central and the agent:
//! control messages, close reasons and diagnostics. (The recorder and the command line capture
//! are central's alone: `janus_core::terminal`.)
//!
//! The one rule of the protocol: **binary frames are terminal bytes, text frames are control
//! messages**. Nothing here ever looks inside a binary frame for control, so whatever a user
//! types or pastes (JSON included) reaches the shell verbatim.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The control envelope's version.
pub const VERSION: u64 = 1;
/// Terminal sizes outside 1..=MAX_SIZE are refused.
pub const MAX_SIZE: u16 = 1000;

/// A control message from the browser (or from central to the agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientControl {
    Resize { cols: u16, rows: u16 },
    Ping,
}

/// Why a text frame was not a control message this side understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("a control message must be a JSON object: {0}")]
    NotJson(String),
    #[error("control message version {0} is not supported (this side speaks {VERSION})")]
    Version(String),
    #[error("unknown control message type {0:?}")]
    UnknownType(String),
    #[error("resize needs cols and rows between 1 and {MAX_SIZE}")]
    BadSize,
}

/// Parses a text frame. Errors are for logging; the frame is then ignored, never treated as input.
pub fn parse_client_control(text: &str) -> Result<ClientControl, ControlError> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| ControlError::NotJson(error.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| ControlError::NotJson("not an object".to_owned()))?;
    match object.get("v") {
        Some(Value::Number(number)) if number.as_u64() == Some(VERSION) => {}
        other => {
            return Err(ControlError::Version(
                other.map_or_else(|| "none".to_owned(), Value::to_string),
            ));
        }
    }
    let kind = object.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "ping" => Ok(ClientControl::Ping),
        "resize" => {
            let size = |key: &str| {
                object
                    .get(key)
                    .and_then(Value::as_u64)
                    .and_then(|value| u16::try_from(value).ok())
                    .filter(|value| (1..=MAX_SIZE).contains(value))
            };
            match (size("cols"), size("rows")) {
                (Some(cols), Some(rows)) => Ok(ClientControl::Resize { cols, rows }),
                _ => Err(ControlError::BadSize),
            }
        }
        other => Err(ControlError::UnknownType(other.chars().take(40).collect())),
    }
}

impl ClientControl {
    pub fn to_text(self) -> String {
        match self {
            ClientControl::Resize { cols, rows } => {
                json!({"v": VERSION, "type": "resize", "cols": cols, "rows": rows}).to_string()
            }
            ClientControl::Ping => json!({"v": VERSION, "type": "ping"}).to_string(),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The user closed the terminal (or the browser went away).
    User,
    /// The shell exited.
    Exit,
    /// No input for `idleTimeoutSeconds`; the grant stays.
    Idle,
    Revoked,
    Expired,
    Error,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::User => "user",
            CloseReason::Exit => "exit",
            CloseReason::Idle => "idle",
            CloseReason::Revoked => "revoked",
            CloseReason::Expired => "expired",
            CloseReason::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<CloseReason> {
        [
            CloseReason::User,
            CloseReason::Exit,
            CloseReason::Idle,
            CloseReason::Revoked,
            CloseReason::Expired,
            CloseReason::Error,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What failed, in the vocabulary of docs/terminal-protocol.md §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiagnosticCode {
    RbacDenied,
    TokenNotReady,
    NotFound,
    Unreachable,
    Tls,
    Timeout,
    Internal,
}

impl DiagnosticCode {
    /// Whether trying again may help without anyone changing anything.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            DiagnosticCode::TokenNotReady | DiagnosticCode::Unreachable | DiagnosticCode::Timeout
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticCode::RbacDenied => "RBAC_DENIED",
            DiagnosticCode::TokenNotReady => "TOKEN_NOT_READY",
            DiagnosticCode::NotFound => "NOT_FOUND",
            DiagnosticCode::Unreachable => "UNREACHABLE",
            DiagnosticCode::Tls => "TLS",
            DiagnosticCode::Timeout => "TIMEOUT",
            DiagnosticCode::Internal => "INTERNAL",
        }
    }
}

/// A Kubernetes failure as the agent met it; the same fields go to central, the browser and
/// the agent's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    /// `exec`, `pods`, `logs` or `events`.
    pub action: String,
    pub cluster: String,
    pub namespace: String,
    #[serde(default)]
    pub pod: String,
    pub code: DiagnosticCode,
    pub retryable: bool,
    pub message: String,
}

impl Diagnostic {
    pub fn new(
        action: &str,
        cluster: &str,
        namespace: &str,
        pod: &str,
        code: DiagnosticCode,
        message: impl Into<String>,
    ) -> Diagnostic {
        let mut message: String = message.into();
        if let Some((cut, _)) = message.char_indices().nth(2000) {
            message.truncate(cut);
        }
        Diagnostic {
            action: action.to_owned(),
            cluster: cluster.to_owned(),
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            code,
            retryable: code.retryable(),
            message,
        }
    }
}

/// A control message to the browser (and, the same shapes, from the agent to central).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerControl {
    Ready {
        session: String,
        shell: String,
    },
    Pong,
    Exit {
        code: i32,
    },
    Closed {
        reason: CloseReason,
        message: String,
    },
    Error {
        diagnostic: Diagnostic,
    },
    /// The answer of a `pods` or `events` session (central → agent only; never to a browser).
    Result {
        body: Value,
    },
}

impl ServerControl {
    /// The envelope `{"v":1,"type":…}` as a text frame.
    pub fn to_text(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(object) = value.as_object_mut() {
            object.insert("v".to_owned(), json!(VERSION));
        }
        value.to_string()
    }

    /// Parses a text frame of this shape; `None` for anything else (ignored by the caller).
    pub fn parse(text: &str) -> Option<ServerControl> {
        let value: Value = serde_json::from_str(text).ok()?;
        if value.get("v").and_then(Value::as_u64) != Some(VERSION) {
            return None;
        }
        serde_json::from_value(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_are_typed_and_versioned() {
        assert_eq!(
            parse_client_control(r#"{"v":1,"type":"resize","cols":120,"rows":40}"#),
            Ok(ClientControl::Resize { cols: 120, rows: 40 })
        );
        assert_eq!(
            parse_client_control(r#"{"v":1,"type":"ping"}"#),
            Ok(ClientControl::Ping)
        );
        assert!(matches!(
            parse_client_control(r#"{"v":2,"type":"ping"}"#),
            Err(ControlError::Version(_))
        ));
        assert!(matches!(
            parse_client_control(r#"{"type":"ping"}"#),
            Err(ControlError::Version(_))
        ));
        assert_eq!(
            parse_client_control(r#"{"v":1,"type":"resize","cols":0,"rows":40}"#),
            Err(ControlError::BadSize)
        );
        assert_eq!(
            parse_client_control(r#"{"v":1,"type":"resize","cols":1001,"rows":40}"#),
            Err(ControlError::BadSize)
        );
        assert!(matches!(
            parse_client_control(r#"{"v":1,"type":"select_pod"}"#),
            Err(ControlError::UnknownType(_))
        ));
        assert!(matches!(
            parse_client_control("echo hi"),
            Err(ControlError::NotJson(_))
        ));
        let resize = ClientControl::Resize { cols: 7, rows: 9 };
        assert_eq!(parse_client_control(&resize.to_text()), Ok(resize));
    }

    #[test]
    fn server_messages_carry_the_envelope() {
        let closed = ServerControl::Closed {
            reason: CloseReason::Revoked,
            message: "Access was revoked.".into(),
        };
        let text = closed.to_text();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({"v":1,"type":"closed","reason":"revoked","message":"Access was revoked."})
        );
        assert_eq!(ServerControl::parse(&text), Some(closed));
        let diagnostic = Diagnostic::new(
            "exec",
            "prod",
            "payments",
            "web-1",
            DiagnosticCode::RbacDenied,
            "forbidden",
        );
        let value: Value = serde_json::from_str(&ServerControl::Error { diagnostic }.to_text()).unwrap();
        assert_eq!(
            value["diagnostic"],
            json!({"action":"exec","cluster":"prod","namespace":"payments","pod":"web-1",
                   "code":"RBAC_DENIED","retryable":false,"message":"forbidden"})
        );
        assert_eq!(ServerControl::parse(r#"{"type":"pong"}"#), None);
        assert_eq!(
            ServerControl::parse(r#"{"v":1,"type":"pong"}"#),
            Some(ServerControl::Pong)
        );
    }
}
