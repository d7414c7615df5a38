//! The web terminal through the real path: a browser-protocol client → central (`/ws/terminal`,
//! axum on loopback) → the agent (session dial-back) → the fake API server's exec (a real PTY).
//!
//! 1. Keystroke echo round trip: one byte to `cat` on a raw terminal and back, through central
//!    and the agent, against a client talking to the fake exec directly (p50/p99).
//! 2. Bulk output throughput (MB/s) through central, and directly.
//! 3. 1 000 concurrent idle sessions on one central: the process's RSS before and after (an
//!    upper bound for central: the benchmark's own 1 000 browser clients and 1 000 agent ends —
//!    a minimal agent that dials back and holds the socket, no Kubernetes — live in the same
//!    process).
//!
//! Run: `cargo bench --bench terminal` (env: JANUS_BENCH_ECHOES, default 2000;
//! JANUS_BENCH_BULK_MIB, default 64; JANUS_BENCH_IDLE, default 1000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark binary"
)]

mod support;

use support::{NO_LIMITS, env, now, report};

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use janus_agent::{Central as _, HttpCentral};
use janus_core::accounts::{Accounts, ClientInfo};
use janus_core::clock::{Clock, SystemClock};
use janus_core::config::AgentConfig;
use janus_core::domain::{Actor, Command, CredentialsStatus, Draft, Principal};
use janus_core::store::Store;
use janus_core::terminal::ServerControl;
use janus_fixtures::kube::FakeKube;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const SEED: &str = include_str!("../fixtures/kube/example-seed.yaml");

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Reads binary frames until the accumulated output contains `needle`.
async fn socket_until(socket: &mut Socket, needle: &[u8]) -> usize {
    let mut seen = Vec::new();
    let mut total = 0;
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                total += bytes.len();
                seen.extend_from_slice(&bytes);
                if seen.windows(needle.len()).any(|window| window == needle) {
                    return total;
                }
                if seen.len() > 4 * needle.len() + 65536 {
                    seen.drain(..seen.len() - needle.len());
                }
            }
            Some(Ok(_)) => {}
            other => panic!("the terminal socket ended: {other:?}"),
        }
    }
}

async fn pipe_until(reader: &mut (impl tokio::io::AsyncRead + Unpin), needle: &[u8]) -> usize {
    let mut seen = Vec::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut total = 0;
    loop {
        let read = reader.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the exec stream ended");
        total += read;
        seen.extend_from_slice(&buffer[..read]);
        if seen.windows(needle.len()).any(|window| window == needle) {
            return total;
        }
        if seen.len() > 4 * needle.len() + 65536 {
            seen.drain(..seen.len() - needle.len());
        }
    }
}

/// Times `transfer` (which returns how many bytes it received) and prints its throughput.
async fn throughput(name: &str, transfer: impl Future<Output = usize>) {
    let t0 = now();
    let received = transfer.await;
    let seconds = t0.elapsed().as_secs_f64();
    println!(
        "{name:<40} {:>8.1} MB/s ({received} bytes in {seconds:.2} s)",
        received as f64 / seconds / 1e6
    );
}

struct Setup {
    base: String,
    cookie: String,
    request: String,
    kube: FakeKube,
    agent_config: AgentConfig,
    state: janus_web::AppState,
    /// Central runs as long as the benchmark holds it.
    _central: janus::central::Central,
    store: Store,
    stop_agent: tokio::sync::oneshot::Sender<()>,
}

async fn setup(dir: &std::path::Path) -> Setup {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let kube = FakeKube::builder().clock(clock.clone()).start().await.unwrap();
    kube.seed_yaml(SEED).unwrap();
    kube.add_token("agent", "system:serviceaccount:janus:janus-agent", &[]);
    kube.add_token("admin", "admin", &["system:masters"]);
    let url = format!("sqlite://{}", dir.join("janus.db").display());
    let yaml = format!(
        "janus: {{ idleTimeoutSeconds: 0, {NO_LIMITS} }}\nclusters: [{{ name: bench, approvers: [bob@example.com] }}]"
    );
    let janus = support::central(&yaml, &url, clock.clone()).await;
    let (workflow, base) = (janus.workflow.clone(), janus.url().unwrap());
    let (state, store) = (janus.state.clone(), janus.store.clone());
    let bob = Principal::parse("bob@example.com").unwrap();

    let (stop_agent, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent_config = support::agent(&janus, kube.url(), dir, async move {
        let _ = stopped.await;
    })
    .await;

    let alice = Principal::parse("alice@example.com").unwrap();
    let draft = Draft {
        ttl_seconds: Some(28_800),
        ..Draft::test("bench", &["payments"])
    };
    let request = workflow.submit(&alice, draft).await.unwrap();
    let approve = Command::Approve {
        ttl_seconds: None,
        reason: None,
    };
    workflow
        .execute(&request.id, None, approve, &Actor::Person(bob))
        .await
        .unwrap();
    let mut changes = workflow.subscribe();
    while workflow.get(&request.id).await.unwrap().credentials != CredentialsStatus::Live {
        let _ = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await;
    }
    let (secret, _) = Accounts::for_workflow(&workflow)
        .sign_in(&alice, &[], "bench", &ClientInfo::default(), None)
        .await
        .unwrap();
    Setup {
        _central: janus,
        base,
        cookie: format!("janus_session={}", secret.expose()),
        request: request.id.to_string(),
        kube,
        agent_config,
        state,
        store,
        stop_agent,
    }
}

async fn open(setup: &Setup) -> Socket {
    try_open(setup).await.expect("the session opens")
}

async fn try_open(setup: &Setup) -> Option<Socket> {
    let url = format!(
        "{}/ws/terminal?request={}&namespace=payments&pod=web-1&cols=120&rows=40",
        setup.base.replacen("http://", "ws://", 1),
        setup.request
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", setup.cookie.parse().unwrap());
    let config =
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .unwrap();
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"ready\"") => return Some(socket),
            Some(Ok(Message::Text(text))) if text.contains("\"closed\"") => return None,
            Some(Ok(_)) => {}
            _ => return None,
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let echoes = env("JANUS_BENCH_ECHOES", 2000_usize);
    let bulk_mib = env("JANUS_BENCH_BULK_MIB", 64_usize);
    let idle = env("JANUS_BENCH_IDLE", 1000_usize);
    let dir = std::env::temp_dir().join(format!("janus-bench-terminal-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut setup = setup(&dir).await;
    println!(
        "terminal benchmark: {echoes} echoes, {bulk_mib} MiB bulk, {idle} idle sessions; all on loopback"
    );

    // 1. Echo round trip: `cat` on a raw terminal echoes each byte once.
    let mut relayed = open(&setup).await;
    relayed
        .send(Message::binary(b"stty raw -echo; exec cat\r".to_vec()))
        .await
        .unwrap();
    relayed.send(Message::binary(b"READY".to_vec())).await.unwrap();
    socket_until(&mut relayed, b"READY").await;
    let mut through_central = Vec::with_capacity(echoes);
    for _ in 0..echoes {
        let t0 = now();
        relayed.send(Message::binary(b"x".to_vec())).await.unwrap();
        socket_until(&mut relayed, b"x").await;
        through_central.push(t0.elapsed().as_secs_f64() * 1000.0);
    }

    let mut config = kube::Config::new(setup.kube.url().parse().unwrap());
    config.auth_info.token = Some("admin".to_owned().into());
    let pods: Api<Pod> = Api::namespaced(kube::Client::try_from(config).unwrap(), "payments");
    let mut direct = pods
        .exec(
            "web-1",
            ["sh", "-c", "stty raw -echo; exec cat"],
            &AttachParams::interactive_tty(),
        )
        .await
        .unwrap();
    let mut stdin = direct.stdin().unwrap();
    let mut stdout = direct.stdout().unwrap();
    stdin.write_all(b"READY").await.unwrap();
    pipe_until(&mut stdout, b"READY").await;
    let mut straight = Vec::with_capacity(echoes);
    for _ in 0..echoes {
        let t0 = now();
        stdin.write_all(b"x").await.unwrap();
        pipe_until(&mut stdout, b"x").await;
        straight.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let (relayed_p50, relayed_p99) = report("echo via central + agent", through_central);
    let (direct_p50, direct_p99) = report("echo direct to the fake exec", straight);
    println!(
        "{:<40} p50={:>8.3} ms  p99={:>8.3} ms",
        "added by central + agent",
        relayed_p50 - direct_p50,
        relayed_p99 - direct_p99
    );
    drop(relayed);
    direct.abort();

    // 2. Bulk output.
    let bytes = bulk_mib * 1024 * 1024;
    let command = format!("stty -echo; head -c {bytes} /dev/zero | tr '\\000' x; echo; echo EN''D\r");
    let mut relayed = open(&setup).await;
    throughput("bulk output via central + agent", async {
        relayed.send(Message::binary(command.into_bytes())).await.unwrap();
        socket_until(&mut relayed, b"END").await
    })
    .await;
    drop(relayed);
    let script = format!("head -c {bytes} /dev/zero | tr '\\000' x; echo; echo EN''D");
    let mut direct = pods
        .exec(
            "web-1",
            ["sh", "-c", script.as_str()],
            &AttachParams::interactive_tty(),
        )
        .await
        .unwrap();
    let mut stdout = direct.stdout().unwrap();
    throughput(
        "bulk output direct to the fake exec",
        pipe_until(&mut stdout, b"END"),
    )
    .await;
    direct.abort();

    // 3. Idle sessions: the real agent stops, and a stand-in dials each offered session back
    //    and holds it (sends `ready`, then nothing), so only central's side is real.
    let (stop_agent, _) = tokio::sync::oneshot::channel();
    let _ = std::mem::replace(&mut setup.stop_agent, stop_agent).send(());
    let holder = Arc::new(
        HttpCentral::connect(&setup.agent_config, Arc::new(SystemClock))
            .await
            .unwrap(),
    );
    let baseline = rss_mib();
    let live_before = setup.state.terminals.live_sessions();
    let poller = {
        let holder = holder.clone();
        tokio::spawn(async move {
            loop {
                let Ok(offers) = holder.next_sessions(Duration::from_secs(25)).await else {
                    continue;
                };
                for offer in offers {
                    let holder = holder.clone();
                    tokio::spawn(async move {
                        let Ok(mut socket) = holder.dial_session(&offer.session).await else {
                            return;
                        };
                        let ready = ServerControl::Ready {
                            session: offer.session.clone(),
                            shell: "held".to_owned(),
                        };
                        let _ = socket.send(Message::text(ready.to_text())).await;
                        while let Some(Ok(_)) = socket.next().await {}
                    });
                }
            }
        })
    };
    let t0 = now();
    let mut sockets = Vec::with_capacity(idle);
    let mut failed = 0;
    for _ in 0..idle {
        match try_open(&setup).await {
            Some(socket) => sockets.push(socket),
            None => failed += 1,
        }
    }
    let opened_in = t0.elapsed().as_secs_f64();
    let live = setup.state.terminals.live_sessions() - live_before;
    let after = rss_mib();
    println!(
        "{:<40} {live} live; RSS {baseline:.1} → {after:.1} MiB (+{:.1} MiB, {:.1} KiB/session); opened in {opened_in:.1} s; {failed} failed",
        "idle sessions on one central",
        after - baseline,
        (after - baseline) * 1024.0 / live.max(1) as f64
    );
    drop(sockets);
    poller.abort();
    setup.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
