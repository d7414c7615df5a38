//! What the benchmark binaries share: the wall clock, settings from the environment, and the
//! p50/p99 line each latency is reported with. Each bench uses the part it needs.

#![allow(dead_code, reason = "each benchmark binary uses only some of these")]

/// The wall clock (benchmarks measure real time; the code under test uses its `Clock`).
#[expect(clippy::disallowed_methods, reason = "the benchmark measures wall-clock time")]
pub fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// A setting from the environment, or `default` when it is unset or does not parse.
pub fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The nearest-rank percentile `p` (0..=1) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Prints one latency line (milliseconds) and returns its p50 and p99.
pub fn report(name: &str, mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    println!(
        "{name:<40} n={:<5} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms",
        samples.len(),
        p50,
        p99,
        samples.last().copied().unwrap_or_default()
    );
    (p50, p99)
}

/// Limits out of the way, as YAML under `janus:`: a benchmark submits far more than people do.
pub const NO_LIMITS: &str = "limits: { requestsPerHour: 4294967295, liveRequestsPerUser: 4294967295 }";

/// Central as `janus serve` starts it (`janus::central::Central::builder`), from the YAML the
/// benchmark shows (the policy is derived from it), on the database at `url`, on `clock`,
/// listening on 127.0.0.1 port 0; no scheduler (the benchmarks measure the request path).
#[expect(clippy::panic, reason = "a benchmark that cannot start stops with the reason")]
pub async fn central(
    yaml: &str,
    url: &str,
    clock: std::sync::Arc<dyn janus_core::clock::Clock>,
) -> janus::central::Central {
    let config =
        janus_core::config::Config::load(Some(yaml), &[], &|_| Err(std::io::Error::other("no files")))
            .unwrap_or_else(|errors| panic!("the benchmark's configuration is invalid:\n{errors}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|error| panic!("cannot listen on loopback: {error}"));
    janus::central::Central::builder(config)
        .clock(clock)
        .store_url(url)
        .listener(listener)
        .scheduler(false)
        .start()
        .await
        .unwrap_or_else(|error| panic!("central did not start: {error}"))
}

/// The agent of the `bench` cluster as `janus agent` builds it: enrolled at `central` with a
/// join token, talking to the fake API server at `kube_url` as `agent` (its files in `dir`),
/// running until `stop` resolves. Returns its configuration.
#[expect(clippy::panic, reason = "a benchmark that cannot start stops with the reason")]
pub async fn agent(
    central: &janus::central::Central,
    kube_url: String,
    dir: &std::path::Path,
    stop: impl Future<Output = ()> + Send + 'static,
) -> janus_core::config::AgentConfig {
    let fail = |what: &str, error: &dyn std::fmt::Display| -> ! { panic!("{what}: {error}") };
    let clock = central.workflow.clock().clone();
    let token = central
        .workflow
        .create_join_token("bench", "bench", std::time::Duration::from_secs(600))
        .await
        .unwrap_or_else(|error| fail("no join token", &error));
    std::fs::write(dir.join("join-token"), token).unwrap_or_else(|error| fail("write", &error));
    std::fs::write(dir.join("kube-token"), "agent").unwrap_or_else(|error| fail("write", &error));
    let config = janus_core::config::AgentConfig {
        central_url: central.url().unwrap_or_default(),
        cluster_name: "bench".into(),
        join_token_file: dir.join("join-token").display().to_string(),
        key_file: dir.join("agent.key").display().to_string(),
        api_server_url: kube_url,
        token_file: dir.join("kube-token").display().to_string(),
        sweep_interval_seconds: 5,
        ..janus_core::config::AgentConfig::default()
    };
    let http = janus_agent::HttpCentral::connect(&config, clock.clone())
        .await
        .unwrap_or_else(|error| fail("the agent did not enroll", &error));
    let kube_config = janus_agent::build_kube_config(&config)
        .await
        .unwrap_or_else(|error| fail("no Kubernetes configuration", &error));
    let agent = janus_agent::agent_with(&config, kube_config, std::sync::Arc::new(http), clock)
        .unwrap_or_else(|error| fail("no agent", &error));
    tokio::spawn(async move { agent.run(stop).await });
    config
}

/// A fresh directory for the benchmark `name` and the URL of a SQLite database in it.
#[expect(clippy::panic, reason = "a benchmark that cannot start stops with the reason")]
pub fn sqlite(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("janus-bench-{name}-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
    let url = format!("sqlite://{}", dir.join("janus.db").display());
    (dir, url)
}

/// What the acknowledgement benchmarks share before they load central: the TLS provider, the
/// rate and duration (`JANUS_BENCH_RATE`, default 500/s; `JANUS_BENCH_SECONDS`, default 10)
/// and a fresh SQLite database for the benchmark `name` (its directory and URL).
#[derive(Debug)]
pub struct AckSettings {
    pub rate: u32,
    pub seconds: u64,
    pub dir: std::path::PathBuf,
    pub url: String,
}

impl AckSettings {
    pub fn from_env(name: &str) -> AckSettings {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (dir, url) = sqlite(name);
        AckSettings {
            rate: env("JANUS_BENCH_RATE", 500_u32),
            seconds: env("JANUS_BENCH_SECONDS", 10_u64),
            dir,
            url,
        }
    }

    /// Central from `yaml` on the wall clock, with one pending request of alice's on the
    /// `bench` cluster (the target of the refused Approve clicks): central, its URL, the id.
    pub async fn central_with_request(
        &self,
        yaml: &str,
    ) -> (janus::central::Central, String, janus_core::domain::RequestId) {
        let clock: std::sync::Arc<dyn janus_core::clock::Clock> =
            std::sync::Arc::new(janus_core::clock::SystemClock);
        let central = central(yaml, &self.url, clock).await;
        let base = central.url().unwrap();
        let alice = janus_core::domain::Principal::parse("alice@example.com").unwrap();
        let draft = janus_core::domain::Draft::test("bench", &["payments"]);
        let request = central.workflow.submit(&alice, draft).await.unwrap();
        (central, base, request.id)
    }

    /// Runs each named load in turn (`load` runs one for the configured rate and duration)
    /// and prints its report line.
    pub async fn run_each<K, R, E, F>(
        &self,
        loads: Vec<(&str, K)>,
        load: impl Fn(K, u32, std::time::Duration) -> F,
    ) where
        R: std::fmt::Display,
        E: std::fmt::Debug,
        F: Future<Output = Result<R, E>>,
    {
        for (name, kind) in loads {
            let report = load(kind, self.rate, std::time::Duration::from_secs(self.seconds))
                .await
                .unwrap();
            println!("{name:<26} {report}");
        }
    }
}

impl Drop for AckSettings {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
