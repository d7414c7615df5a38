//! The web terminal of a [`TestApp`] with an agent: browser sockets to `/ws/terminal` and a
//! client of the browser protocol (docs/terminal-protocol.md §1).

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use janus_core::domain::AccessRequest;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use super::TestApp;

/// The terminal stories' configuration: admin@example.com is an admin; `prod` (approver bob)
/// and `quorum` (bob, two approvals); with `extra` YAML laid over it (e.g.
/// `janus:\n  idleTimeoutSeconds: 600\n`).
pub fn terminal_config(extra: &str) -> String {
    super::app::merge_yaml(
        "janus:\n  adminEmails: [admin@example.com]\nclusters:\n  - name: prod\n    approvers: [bob@example.com]\n  \
         - name: quorum\n    approvers: [bob@example.com]\n    approvalsRequired: 2\n",
        extra,
    )
}

/// Waits at most this long for anything the tests expect (a hang fails instead of blocking).
pub const PATIENCE: Duration = Duration::from_secs(30);

impl TestApp {
    /// Opens `/ws/terminal?<query>` as `email`: the socket, or the HTTP status of the refusal.
    pub async fn connect(&self, email: &str, query: &str) -> Result<TermClient, u16> {
        let cookie = self.cookie(email).await;
        self.connect_with(&cookie, query).await
    }

    pub async fn connect_with(&self, cookie: &str, query: &str) -> Result<TermClient, u16> {
        let url = format!(
            "{}/ws/terminal?{query}",
            self.base.replacen("http://", "ws://", 1)
        );
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("cookie", cookie.parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(TermClient {
                socket,
                output: Vec::new(),
                controls: Vec::new(),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(error) => panic!("the terminal socket failed: {error}"),
        }
    }

    /// `email`'s active request on `prod` (payments) and a shell on it.
    pub async fn active_shell(&self, email: &str) -> (AccessRequest, TermClient) {
        let request = self.active(email, &["payments"]).await;
        let shell = self.shell(&request, email).await;
        (request, shell)
    }

    /// Opens `email`'s shell in payments/web-1 and waits for `ready`.
    pub async fn shell(&self, request: &AccessRequest, email: &str) -> TermClient {
        let query = format!(
            "request={}&namespace=payments&pod=web-1&cols=80&rows=24",
            request.id
        );
        let mut client = self.connect(email, &query).await.expect("the socket opens");
        let ready = client.control("ready").await;
        assert!(ready["session"].as_str().unwrap().starts_with("ts-"));
        client
    }
}

/// A client of the browser protocol: binary frames are terminal bytes, text frames controls.
pub struct TermClient {
    pub socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    /// Every terminal byte received so far.
    pub output: Vec<u8>,
    /// Every control message received so far.
    pub controls: Vec<Value>,
}

impl TermClient {
    pub async fn send(&mut self, bytes: &[u8]) {
        self.socket.send(Message::binary(bytes.to_vec())).await.unwrap();
    }

    pub async fn send_control(&mut self, control: &Value) {
        self.socket
            .send(Message::text(control.to_string()))
            .await
            .unwrap();
    }

    /// Reads one frame; false when the socket ended.
    async fn read_one(&mut self) -> bool {
        match tokio::time::timeout(PATIENCE, self.socket.next()).await {
            Ok(Some(Ok(Message::Binary(bytes)))) => {
                self.output.extend_from_slice(&bytes);
                true
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                self.controls
                    .push(serde_json::from_str(&text).expect("control frames are JSON"));
                true
            }
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => false,
            Ok(Some(Ok(_))) => true,
            Err(_) => panic!(
                "nothing came for {PATIENCE:?}; output so far: {:?}; controls: {:?}",
                String::from_utf8_lossy(&self.output),
                self.controls
            ),
        }
    }

    /// Runs `echo <word>` and waits for its output on a line of its own (not the echo of the
    /// input); returns the output so far as text.
    pub async fn echo(&mut self, word: &str) -> String {
        self.send(format!("echo {word}\r").as_bytes()).await;
        self.read_until(&format!("\r{word}\r\n")).await
    }

    /// Reads until the output contains `needle`; returns the output as text.
    pub async fn read_until(&mut self, needle: &str) -> String {
        while !String::from_utf8_lossy(&self.output).contains(needle) {
            assert!(
                self.read_one().await,
                "the socket ended before {needle:?}; output: {:?}; controls: {:?}",
                String::from_utf8_lossy(&self.output),
                self.controls
            );
        }
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// Reads until a control message of `kind` arrives (or was already received) and returns it.
    pub async fn control(&mut self, kind: &str) -> Value {
        loop {
            if let Some(found) = self.controls.iter().find(|control| control["type"] == kind) {
                return found.clone();
            }
            assert!(
                self.read_one().await,
                "the socket ended before a {kind:?} message; controls: {:?}",
                self.controls
            );
        }
    }

    /// Reads to the end of the socket (after `closed`).
    pub async fn drain(&mut self) {
        while self.read_one().await {}
    }
}
