//! The web terminal's wire types (docs/terminal-protocol.md), shared by central and the agent:
//! control messages, close reasons, diagnostics, the asciicast v2 recorder and the command
//! line capture for the audit log.
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
/// The longest command line kept in the audit log (characters, after escaping).
pub const MAX_COMMAND_LINE: usize = 1024;

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

/// Records a session as asciicast v2 (header line, then `[time, "o"|"i"|"r", data]` lines),
/// at most `max_bytes`; past that, events are dropped and the recording is marked truncated.
#[derive(Debug, Clone)]
pub struct Recorder {
    text: String,
    max_bytes: usize,
    truncated: bool,
    /// An incomplete UTF-8 sequence at the end of the last output chunk.
    pending_output: Vec<u8>,
    pending_input: Vec<u8>,
}

impl Recorder {
    /// Starts a recording of a `cols`×`rows` terminal begun at `timestamp` (Unix seconds).
    pub fn new(cols: u16, rows: u16, timestamp: i64, title: &str, max_bytes: usize) -> Recorder {
        let header = json!({
            "version": 2,
            "width": cols,
            "height": rows,
            "timestamp": timestamp,
            "title": title,
            "env": {"TERM": "xterm-256color"},
        });
        let mut text = header.to_string();
        text.push('\n');
        Recorder {
            text,
            max_bytes,
            truncated: false,
            pending_output: Vec::new(),
            pending_input: Vec::new(),
        }
    }

    /// Output from the shell at `seconds` after the start.
    pub fn output(&mut self, seconds: f64, bytes: &[u8]) {
        let text = take_utf8(&mut self.pending_output, bytes);
        self.event(seconds, "o", &text);
    }

    /// Input from the user.
    pub fn input(&mut self, seconds: f64, bytes: &[u8]) {
        let text = take_utf8(&mut self.pending_input, bytes);
        self.event(seconds, "i", &text);
    }

    pub fn resize(&mut self, seconds: f64, cols: u16, rows: u16) {
        self.event(seconds, "r", &format!("{cols}x{rows}"));
    }

    fn event(&mut self, seconds: f64, code: &str, data: &str) {
        if data.is_empty() || self.truncated {
            return;
        }
        let line = format!("{}\n", json!([(seconds * 1e6).round() / 1e6, code, data]));
        if self.text.len() + line.len() > self.max_bytes {
            self.truncated = true;
            return;
        }
        self.text.push_str(&line);
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn finish(self) -> (String, bool) {
        (self.text, self.truncated)
    }
}

/// Appends `bytes` to `pending` and returns the longest valid UTF-8 prefix as text (invalid
/// bytes replaced); an incomplete sequence at the end stays pending for the next chunk.
fn take_utf8(pending: &mut Vec<u8>, bytes: &[u8]) -> String {
    pending.extend_from_slice(bytes);
    let mut out = String::new();
    let mut rest: &[u8] = pending;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                rest = &[];
                break;
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match error.error_len() {
                    Some(bad) => {
                        out.push('\u{fffd}');
                        rest = &after[bad..];
                    }
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let keep = rest.to_vec();
    *pending = keep;
    out
}

/// Replays an asciicast v2 recording: the concatenated output (for checks and previews).
pub fn replay_output(cast: &str) -> Option<String> {
    let mut lines = cast.lines();
    let header: Value = serde_json::from_str(lines.next()?).ok()?;
    if header.get("version").and_then(Value::as_u64) != Some(2) {
        return None;
    }
    let mut out = String::new();
    for line in lines {
        let event: Value = serde_json::from_str(line).ok()?;
        if event.get(1).and_then(Value::as_str) == Some("o") {
            out.push_str(event.get(2)?.as_str()?);
        }
    }
    Some(out)
}

/// Captures command lines for the audit log: the bytes the user sent since the last Enter,
/// as they were sent.
///
/// This is deliberately a plain line buffer, not a shell's line editor: a backspace, an
/// arrow key or a tab completion is written down as the escaped control byte it is
/// (`\x7f`, `\e[A`, `\t`), not applied. What the audit shows is therefore exactly what was
/// typed or pasted before Enter, which may differ from what the shell ran (history recall,
/// completion, editing); the session recording holds the shell's side.
#[derive(Debug, Clone, Default)]
pub struct LineCapture {
    line: String,
    truncated: bool,
    /// The previous byte was CR (a CR LF pair ends one line, not two).
    after_cr: bool,
}

impl LineCapture {
    /// Feeds input bytes; returns the lines completed by CR or LF.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let text = String::from_utf8_lossy(bytes);
        for character in text.chars() {
            let after_cr = std::mem::take(&mut self.after_cr);
            match character {
                '\r' => {
                    self.after_cr = true;
                    lines.push(self.take());
                }
                '\n' if after_cr => {}
                '\n' => lines.push(self.take()),
                _ => self.push(character),
            }
        }
        lines.retain(|line| !line.trim().is_empty());
        lines
    }

    fn push(&mut self, character: char) {
        if self.truncated {
            return;
        }
        let escaped = escape_char(character);
        if self.line.chars().count() + escaped.chars().count() > MAX_COMMAND_LINE {
            self.truncated = true;
            self.line.push('…');
            return;
        }
        self.line.push_str(&escaped);
    }

    fn take(&mut self) -> String {
        self.truncated = false;
        std::mem::take(&mut self.line)
    }
}

/// A control character as visible text (`\e`, `\t`, `\x7f`, `\u{9b}`); others unchanged.
fn escape_char(character: char) -> String {
    match character {
        '\u{1b}' => "\\e".to_owned(),
        '\t' => "\\t".to_owned(),
        '\\' => "\\\\".to_owned(),
        c if c.is_control() => {
            let code = u32::from(c);
            if code < 0x100 {
                format!("\\x{code:02x}")
            } else {
                format!("\\u{{{code:x}}}")
            }
        }
        c => c.to_string(),
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

    #[test]
    fn recordings_are_asciicast_v2_and_bounded() {
        let mut recorder = Recorder::new(80, 24, 1_700_000_000, "t", 10_000);
        recorder.input(0.5, b"echo h\xc3");
        recorder.output(0.25, "héllo\r\n".as_bytes());
        // A multi-byte character split across chunks is kept whole.
        recorder.output(0.5, &"ü".as_bytes()[..1]);
        recorder.output(0.75, &"ü".as_bytes()[1..]);
        recorder.resize(1.0, 100, 30);
        let (cast, truncated) = recorder.finish();
        assert!(!truncated);
        let lines: Vec<Value> = cast
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(lines[0]["width"], 80);
        assert_eq!(lines[1], json!([0.5, "i", "echo h"]));
        assert_eq!(lines[2], json!([0.25, "o", "héllo\r\n"]));
        assert_eq!(lines[3], json!([0.75, "o", "ü"]));
        assert_eq!(lines[4], json!([1.0, "r", "100x30"]));
        assert_eq!(replay_output(&cast).unwrap(), "héllo\r\nü");

        let mut small = Recorder::new(80, 24, 0, "t", 200);
        for _ in 0..100 {
            small.output(0.1, b"0123456789");
        }
        assert!(small.truncated());
        assert!(small.len() <= 200);
    }

    #[test]
    fn command_lines_are_what_was_sent_before_enter() {
        let mut capture = LineCapture::default();
        assert!(capture.feed(b"echo hel").is_empty());
        assert_eq!(capture.feed(b"lo\r"), vec!["echo hello"]);
        // No editing semantics: control bytes are written down, escaped.
        assert_eq!(capture.feed(b"ls -\x7fa\x1b[A\r\n"), vec!["ls -\\x7fa\\e[A"]);
        // A pasted JSON object is a line like any other; several lines give several entries.
        assert_eq!(
            capture.feed(b"{\"v\":1,\"type\":\"resize\"}\nid\n\n"),
            vec!["{\"v\":1,\"type\":\"resize\"}", "id"]
        );
        let long = vec![b'x'; MAX_COMMAND_LINE * 2];
        capture.feed(&long);
        let line = capture.feed(b"\r").remove(0);
        assert!(line.ends_with('…'));
        assert_eq!(line.chars().count(), MAX_COMMAND_LINE + 1);
    }
}
