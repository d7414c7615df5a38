//! Terminal sessions at the agent (docs/terminal-protocol.md §4).
//!
//! Central offers a session on the `/agent/v1/sessions` long-poll; the agent dials back a
//! WebSocket to `/agent/v1/sessions/{sid}` and serves it with **the grant's own token**:
//! an interactive shell (`pods/exec`), the namespace's pods, a container's log, a pod's
//! events. Before it touches Kubernetes it checks that the offer is for its cluster and
//! that its vault holds a live token for that request and namespace (the vault only holds
//! tokens of Active grants: cleanup and the sweeper drop them). The token never leaves
//! the agent.
//!
//! Every open session is registered by request; cleanup (revoke, withdraw, expiry by
//! central) and the grant's own end close them from here, so the exec stream to
//! Kubernetes ends even if central or the browser never says so.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::{SinkExt as _, StreamExt as _};
use janus_wire::agent_protocol::{SessionKind, SessionOffer};
use janus_wire::secret::Secret;
use janus_wire::terminal::{
    ClientControl, CloseReason, Diagnostic, DiagnosticCode, ServerControl, parse_client_control,
};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, AttachParams, ListParams, LogParams, TerminalSize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::Agent;
use crate::central::SessionSocket;

/// The shell an exec session starts: bash with the user's own rc files and then the Janus
/// prompt (set by `PROMPT_COMMAND` once, before the first prompt, so rc files load as usual);
/// `sh` with a plain prompt when there is no bash.
pub const SHELL_SCRIPT: &str = r#"if command -v bash >/dev/null 2>&1; then
export PROMPT_COMMAND='PS1="\[\e[36m\]\u@\h\[\e[0m\]:\[\e[34m\]\w\[\e[0m\]\\$ "; unset PROMPT_COMMAND'
exec bash -i
fi
PS1="$(id -un 2>/dev/null || echo user)@$(hostname 2>/dev/null || echo pod):\$PWD \$ "
export PS1
exec sh -i"#;

/// Session id → (request id, the session's close signal).
type OpenSessions = HashMap<String, (String, watch::Sender<Option<CloseReason>>)>;

/// The open sessions of this agent, by session id.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<OpenSessions>,
}

/// Removes a session from [`Sessions`] when it ends.
struct Registered<'a> {
    sessions: &'a Sessions,
    sid: String,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.sid);
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, OpenSessions> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(
        &self,
        sid: &str,
        request_id: &str,
    ) -> (Registered<'_>, watch::Receiver<Option<CloseReason>>) {
        let (sender, receiver) = watch::channel(None);
        self.lock()
            .insert(sid.to_owned(), (request_id.to_owned(), sender));
        (
            Registered {
                sessions: self,
                sid: sid.to_owned(),
            },
            receiver,
        )
    }

    /// Closes every open session of a request; returns how many there were.
    pub fn close_request(&self, request_id: &str, reason: CloseReason) -> usize {
        let open = self.lock();
        let mut closed = 0;
        for (request, sender) in open.values() {
            if request == request_id {
                let _ = sender.send(Some(reason));
                closed += 1;
            }
        }
        closed
    }

    /// How many sessions are open (all requests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Maps a kube error to the diagnostic code of docs/terminal-protocol.md §3.
pub fn classify(error: &kube::Error) -> (DiagnosticCode, String) {
    match error {
        kube::Error::Api(status) => {
            let code = match status.code {
                403 => DiagnosticCode::RbacDenied,
                401 => DiagnosticCode::TokenNotReady,
                404 => DiagnosticCode::NotFound,
                408 | 504 => DiagnosticCode::Timeout,
                _ => DiagnosticCode::Internal,
            };
            (code, status.message.clone())
        }
        other => {
            let text = crate::error_chain(other);
            let lower = text.to_lowercase();
            let code =
                if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
                    DiagnosticCode::Tls
                } else if lower.contains("timed out") || lower.contains("timeout") {
                    DiagnosticCode::Timeout
                } else if lower.contains("connect") || lower.contains("dns") || lower.contains("refused") {
                    DiagnosticCode::Unreachable
                } else {
                    DiagnosticCode::Internal
                };
            (code, text)
        }
    }
}

fn text(control: &ServerControl) -> Message {
    Message::text(control.to_text())
}

impl Agent {
    /// Serves one offered session to its end. Never fails: problems go to central as a
    /// diagnostic and into the agent's log with the same fields.
    pub async fn serve_session(&self, offer: SessionOffer) {
        let cluster = self.cluster().to_owned();
        if offer.cluster != cluster {
            tracing::warn!(session_cluster = %offer.cluster, cluster = %cluster, "session offered for another cluster; refused");
            return;
        }
        let (_registered, mut closing) = self.sessions().register(&offer.session, &offer.request_id);
        // The checks come before any call to Kubernetes (and before the dial, which only
        // reports their outcome).
        let token = self.token_for(&offer.request_id, &offer.namespace);
        let mut socket = match self.central().dial_session(&offer.session).await {
            Ok(socket) => socket,
            Err(error) => {
                tracing::warn!(cluster = %cluster, request_id = %offer.request_id, error = %error, "could not dial the session back to central");
                return;
            }
        };
        let Some((token, usable_until)) = token else {
            let diagnostic = Diagnostic::new(
                offer.kind.as_str(),
                &cluster,
                &offer.namespace,
                &offer.pod,
                DiagnosticCode::TokenNotReady,
                format!(
                    "The agent holds no live token of request {} for namespace {}: the grant is not active here.",
                    offer.request_id, offer.namespace
                ),
            );
            fail(&mut socket, &diagnostic, &offer.request_id).await;
            return;
        };
        tracing::info!(cluster = %cluster, request_id = %offer.request_id, namespace = %offer.namespace,
            pod = %offer.pod, kind = offer.kind.as_str(), "terminal session opened");
        let client = match self.grant_client(&token) {
            Ok(client) => client,
            Err(message) => {
                let diagnostic = Diagnostic::new(
                    offer.kind.as_str(),
                    &cluster,
                    &offer.namespace,
                    &offer.pod,
                    DiagnosticCode::Internal,
                    message,
                );
                fail(&mut socket, &diagnostic, &offer.request_id).await;
                return;
            }
        };
        let _ = usable_until;
        // Ends when the grant does (an extension replaces the token and moves the end).
        let deadline = async {
            while let Some((_, until)) = self.token_for(&offer.request_id, &offer.namespace) {
                self.clock().sleep_until(until).await;
            }
        };
        let work = async {
            match offer.kind {
                SessionKind::Exec => exec(&client, &offer, &mut socket, &mut closing, &cluster).await,
                SessionKind::Pods => pods(&client, &offer, &cluster).await,
                SessionKind::Events => events(&client, &offer, &cluster).await,
                SessionKind::Logs => logs(&client, &offer, &mut socket, &mut closing, &cluster).await,
            }
        };
        let ended = tokio::select! {
            ended = work => ended,
            () = deadline => Ended::Closed(CloseReason::Expired),
        };
        let ended = match ended {
            // A close ordered by cleanup wins over whatever the stream saw meanwhile.
            Ended::Closed(_) if closing.borrow().is_some() => {
                Ended::Closed(closing.borrow().unwrap_or(CloseReason::Revoked))
            }
            other => other,
        };
        match ended {
            Ended::Result(body) => {
                let _ = socket.send(text(&ServerControl::Result { body })).await;
                let _ = socket.send(text(&closed(CloseReason::Exit))).await;
            }
            Ended::Exit(code) => {
                let _ = socket.send(text(&ServerControl::Exit { code })).await;
                let _ = socket.send(text(&closed(CloseReason::Exit))).await;
            }
            Ended::Failed(diagnostic) => {
                log_diagnostic(&diagnostic, &offer.request_id);
                let _ = socket.send(text(&ServerControl::Error { diagnostic })).await;
                let _ = socket.send(text(&closed(CloseReason::Error))).await;
            }
            Ended::Closed(reason) => {
                let _ = socket.send(text(&closed(reason))).await;
            }
        }
        let _ = socket.close(None).await;
        tracing::info!(cluster = %cluster, request_id = %offer.request_id, "terminal session closed");
    }

    /// A Kubernetes client that authenticates with the grant's token (same server and TLS
    /// settings as the agent's own client).
    fn grant_client(&self, token: &Secret) -> Result<kube::Client, String> {
        let mut config = self
            .kube_config()
            .ok_or_else(|| "the agent has no Kubernetes configuration for grant tokens".to_owned())?;
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.expose().to_owned().into()),
            ..kube::config::AuthInfo::default()
        };
        kube::Client::try_from(config).map_err(|error| format!("could not build the grant's client: {error}"))
    }
}

fn closed(reason: CloseReason) -> ServerControl {
    let message = match reason {
        CloseReason::Revoked => "Access was revoked; the session is closed.",
        CloseReason::Expired => "Access expired; the session is closed.",
        CloseReason::Exit => "The shell exited.",
        CloseReason::Idle => "Closed after a period without input; access is still active.",
        CloseReason::User => "The session was closed.",
        CloseReason::Error => "The session failed.",
    };
    ServerControl::Closed {
        reason,
        message: message.to_owned(),
    }
}

fn log_diagnostic(diagnostic: &Diagnostic, request_id: &str) {
    tracing::warn!(
        action = %diagnostic.action, cluster = %diagnostic.cluster, namespace = %diagnostic.namespace,
        pod = %diagnostic.pod, code = diagnostic.code.as_str(), retryable = diagnostic.retryable,
        message = %diagnostic.message, request_id, "kubernetes failure"
    );
}

async fn fail(socket: &mut SessionSocket, diagnostic: &Diagnostic, request_id: &str) {
    log_diagnostic(diagnostic, request_id);
    let _ = socket
        .send(text(&ServerControl::Error {
            diagnostic: diagnostic.clone(),
        }))
        .await;
    let _ = socket.send(text(&closed(CloseReason::Error))).await;
    let _ = socket.close(None).await;
}

enum Ended {
    Exit(i32),
    Result(Value),
    Failed(Diagnostic),
    Closed(CloseReason),
}

fn failed(offer: &SessionOffer, cluster: &str, error: &kube::Error) -> Ended {
    let (code, message) = classify(error);
    Ended::Failed(Diagnostic::new(
        offer.kind.as_str(),
        cluster,
        &offer.namespace,
        &offer.pod,
        code,
        message,
    ))
}

/// The exit code in the exec's final Status (`Success` is 0).
fn exit_code(status: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> i32 {
    let Some(status) = status else {
        return 0;
    };
    if status.status.as_deref() == Some("Success") {
        return 0;
    }
    status
        .details
        .and_then(|details| details.causes)
        .unwrap_or_default()
        .into_iter()
        .find(|cause| cause.reason.as_deref() == Some("ExitCode"))
        .and_then(|cause| cause.message)
        .and_then(|message| message.parse().ok())
        .unwrap_or(1)
}

async fn exec(
    client: &kube::Client,
    offer: &SessionOffer,
    socket: &mut SessionSocket,
    closing: &mut watch::Receiver<Option<CloseReason>>,
    cluster: &str,
) -> Ended {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &offer.namespace);
    let mut params = AttachParams::interactive_tty();
    if !offer.container.is_empty() {
        params = params.container(offer.container.clone());
    }
    let mut attached = match pods.exec(&offer.pod, ["sh", "-c", SHELL_SCRIPT], &params).await {
        Ok(attached) => attached,
        Err(error) => return failed(offer, cluster, &error),
    };
    let (Some(mut stdin), Some(mut stdout), Some(mut resize), Some(status)) = (
        attached.stdin(),
        attached.stdout(),
        attached.terminal_size(),
        attached.take_status(),
    ) else {
        attached.abort();
        return Ended::Failed(Diagnostic::new(
            "exec",
            cluster,
            &offer.namespace,
            &offer.pod,
            DiagnosticCode::Internal,
            "the exec stream lacks a channel",
        ));
    };
    if offer.cols > 0 && offer.rows > 0 {
        let _ = resize
            .send(TerminalSize {
                width: offer.cols,
                height: offer.rows,
            })
            .await;
    }
    let _ = socket
        .send(text(&ServerControl::Ready {
            session: offer.session.clone(),
            shell: "auto".to_owned(),
        }))
        .await;
    let mut buffer = vec![0_u8; 32 * 1024];
    let ended = loop {
        tokio::select! {
            read = stdout.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break None,
                Ok(read) => {
                    if socket.send(Message::binary(buffer[..read].to_vec())).await.is_err() {
                        break Some(Ended::Closed(CloseReason::User));
                    }
                }
            },
            message = socket.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if stdin.write_all(&bytes).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Text(control))) => {
                    if let Ok(ClientControl::Resize { cols, rows }) = parse_client_control(&control) {
                        let _ = resize.send(TerminalSize { width: cols, height: rows }).await;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break Some(Ended::Closed(CloseReason::User)),
                Some(Ok(_)) => {}
            },
            changed = closing.changed() => {
                let reason = if changed.is_ok() { *closing.borrow() } else { None };
                break Some(Ended::Closed(reason.unwrap_or(CloseReason::Revoked)));
            }
        }
    };
    match ended {
        Some(ended) => {
            // The agent ends the exec stream itself: the WebSocket to Kubernetes closes here.
            attached.abort();
            ended
        }
        None => {
            let code = exit_code(status.await);
            attached.abort();
            Ended::Exit(code)
        }
    }
}

fn container_state(status: &k8s_openapi::api::core::v1::ContainerStatus) -> (String, String) {
    let Some(state) = &status.state else {
        return ("unknown".to_owned(), String::new());
    };
    if let Some(waiting) = &state.waiting {
        return ("waiting".to_owned(), waiting.reason.clone().unwrap_or_default());
    }
    if let Some(terminated) = &state.terminated {
        return (
            "terminated".to_owned(),
            terminated.reason.clone().unwrap_or_default(),
        );
    }
    ("running".to_owned(), String::new())
}

/// A pod as the picker shows it: phase, readiness, restarts, and health badges.
pub fn pod_summary(pod: &Pod) -> Value {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let statuses = status.container_statuses.clone().unwrap_or_default();
    let mut badges: Vec<String> = Vec::new();
    let mut containers = Vec::new();
    let declared: Vec<String> = pod
        .spec
        .as_ref()
        .map(|spec| {
            spec.containers
                .iter()
                .map(|container| container.name.clone())
                .collect()
        })
        .unwrap_or_default();
    for container in &declared {
        let found = statuses.iter().find(|status| &status.name == container);
        let (state, reason) = found.map_or(("unknown".to_owned(), String::new()), container_state);
        let restarts = found.map_or(0, |status| status.restart_count);
        let ready = found.is_some_and(|status| status.ready);
        let last_oom = found
            .and_then(|status| status.last_state.as_ref())
            .and_then(|last| last.terminated.as_ref())
            .and_then(|terminated| terminated.reason.as_deref())
            == Some("OOMKilled");
        if !reason.is_empty() && !badges.contains(&reason) {
            badges.push(reason.clone());
        }
        if last_oom && !badges.iter().any(|badge| badge == "OOMKilled") {
            badges.push("OOMKilled".to_owned());
        }
        containers.push(json!({"name": container, "ready": ready, "restarts": restarts, "state": state, "reason": reason}));
    }
    let restarts: i32 = statuses.iter().map(|status| status.restart_count).sum();
    if restarts > 0 {
        badges.push(format!("Restarts: {restarts}"));
    }
    let ready = !declared.is_empty()
        && statuses.iter().all(|status| status.ready)
        && statuses.len() == declared.len();
    json!({
        "name": name,
        "phase": status.phase.unwrap_or_default(),
        "ready": ready,
        "restarts": restarts,
        "containers": containers,
        "badges": badges,
    })
}

async fn pods(client: &kube::Client, offer: &SessionOffer, cluster: &str) -> Ended {
    let api: Api<Pod> = Api::namespaced(client.clone(), &offer.namespace);
    match api.list(&ListParams::default()).await {
        Ok(list) => {
            let mut items: Vec<Value> = list.items.iter().map(pod_summary).collect();
            items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            Ended::Result(json!({ "items": items }))
        }
        Err(error) => failed(offer, cluster, &error),
    }
}

async fn events(client: &kube::Client, offer: &SessionOffer, cluster: &str) -> Ended {
    let api: Api<Event> = Api::namespaced(client.clone(), &offer.namespace);
    let mut params = ListParams::default();
    if !offer.pod.is_empty() {
        params = params.fields(&format!("involvedObject.name={}", offer.pod));
    }
    match api.list(&params).await {
        Ok(list) => {
            let mut items: Vec<Value> = list
                .items
                .iter()
                .map(|event| {
                    let last_seen = event
                        .last_timestamp
                        .as_ref()
                        .map(|time| time.0.to_string())
                        .or_else(|| event.event_time.as_ref().map(|time| time.0.to_string()))
                        .or_else(|| {
                            event
                                .metadata
                                .creation_timestamp
                                .as_ref()
                                .map(|time| time.0.to_string())
                        })
                        .unwrap_or_default();
                    json!({
                        "type": event.type_.clone().unwrap_or_default(),
                        "reason": event.reason.clone().unwrap_or_default(),
                        "message": event.message.clone().unwrap_or_default(),
                        "count": event.count.unwrap_or(1),
                        "lastSeen": last_seen,
                    })
                })
                .collect();
            items.sort_by(|a, b| b["lastSeen"].as_str().cmp(&a["lastSeen"].as_str()));
            Ended::Result(json!({ "items": items }))
        }
        Err(error) => failed(offer, cluster, &error),
    }
}

async fn logs(
    client: &kube::Client,
    offer: &SessionOffer,
    socket: &mut SessionSocket,
    closing: &mut watch::Receiver<Option<CloseReason>>,
    cluster: &str,
) -> Ended {
    let api: Api<Pod> = Api::namespaced(client.clone(), &offer.namespace);
    let params = LogParams {
        container: (!offer.container.is_empty()).then(|| offer.container.clone()),
        tail_lines: offer.tail_lines,
        follow: offer.follow,
        ..LogParams::default()
    };
    let stream = match api.log_stream(&offer.pod, &params).await {
        Ok(stream) => stream,
        Err(error) => return failed(offer, cluster, &error),
    };
    let mut stream = std::pin::pin!(stream);
    let mut buffer = vec![0_u8; 32 * 1024];
    loop {
        tokio::select! {
            read = futures::AsyncReadExt::read(&mut stream, &mut buffer) => match read {
                Ok(0) => return Ended::Exit(0),
                Ok(read) => {
                    if socket.send(Message::binary(buffer[..read].to_vec())).await.is_err() {
                        return Ended::Closed(CloseReason::User);
                    }
                }
                Err(error) => {
                    return Ended::Failed(Diagnostic::new("logs", cluster, &offer.namespace, &offer.pod,
                        DiagnosticCode::Unreachable, error.to_string()));
                }
            },
            message = socket.next() => match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Ended::Closed(CloseReason::User),
                Some(Ok(_)) => {}
            },
            changed = closing.changed() => {
                let reason = if changed.is_ok() { *closing.borrow() } else { None };
                return Ended::Closed(reason.unwrap_or(CloseReason::Revoked));
            }
        }
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn kube_errors_map_to_diagnostic_codes() {
        let api = |code: u16| {
            kube::Error::Api(
                kube::core::Status {
                    code,
                    message: format!("m{code}"),
                    ..kube::core::Status::default()
                }
                .boxed(),
            )
        };
        assert_eq!(classify(&api(403)).0, DiagnosticCode::RbacDenied);
        assert_eq!(classify(&api(404)), (DiagnosticCode::NotFound, "m404".to_owned()));
        assert_eq!(classify(&api(401)).0, DiagnosticCode::TokenNotReady);
        assert_eq!(classify(&api(504)).0, DiagnosticCode::Timeout);
        assert_eq!(classify(&api(500)).0, DiagnosticCode::Internal);
    }

    /// Runs `sh -c SHELL_SCRIPT` with only `programs` on the PATH (symlinked into a directory)
    /// and `input` on stdin; returns stdout.
    fn run_script(programs: &[(&str, &str)], home_rc: Option<&str>, input: &str) -> String {
        use std::io::Write as _;
        let bin = tempfile::tempdir().unwrap();
        for (program, name) in programs {
            std::os::unix::fs::symlink(program, bin.path().join(name)).unwrap();
        }
        let home = tempfile::tempdir().unwrap();
        if let Some(rc) = home_rc {
            std::fs::write(home.path().join(".bashrc"), rc).unwrap();
        }
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(SHELL_SCRIPT)
            .env_clear()
            .env("PATH", bin.path())
            .env("HOME", home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    #[test]
    fn bash_gets_the_coloured_prompt_after_its_rc_files() {
        let output = run_script(
            &[("/bin/bash", "bash")],
            Some("export FROM_RC=loaded\nPS1='rc-prompt '\n"),
            "echo \"rc=$FROM_RC\"; echo \"ps1=$PS1\"; exit\n",
        );
        // The rc file ran (its environment is there) and our prompt replaced its PS1.
        assert!(output.contains("rc=loaded"), "{output}");
        assert!(
            output.contains(r"ps1=\[\e[36m\]\u@\h\[\e[0m\]:\[\e[34m\]\w\[\e[0m\]\$ "),
            "{output}"
        );
    }

    #[test]
    fn without_bash_sh_gets_a_plain_prompt() {
        // No bash, no `id`, no `hostname`: sh with the plain fallback prompt.
        let output = run_script(&[("/usr/bin/dash", "sh")], None, "echo \"ps1=$PS1\"; exit\n");
        assert!(output.contains("ps1=user@pod:$PWD $ "), "{output}");
    }

    #[test]
    fn sessions_close_by_request() {
        let sessions = Sessions::default();
        let (first, mut a) = sessions.register("s1", "jr-a");
        let (_second, b) = sessions.register("s2", "jr-b");
        assert_eq!(sessions.close_request("jr-a", CloseReason::Revoked), 1);
        assert!(a.has_changed().unwrap());
        assert_eq!(*a.borrow_and_update(), Some(CloseReason::Revoked));
        assert_eq!(*b.borrow(), None);
        drop(first);
        assert_eq!(sessions.len(), 1);
    }
}
