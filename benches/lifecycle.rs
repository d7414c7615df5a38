//! Lifecycle benchmark: full request lifecycles per second through `janus-core`, on a
//! SQLite file and on PostgreSQL, in one process.
//!
//! One lifecycle is: submit → approve → activate (the "agent" claims the grant work with
//! `Workflow::wait_for_work` and reports success with `Workflow::complete_work`) → expire
//! (`Scheduler::tick` after the manual clock moves past `expires_at`) → cleaned (the agent
//! claims the cleanup work and reports success).
//!
//! Expiry is a scheduler tick over every due request, so lifecycles run in batches:
//! 1. grant phase: `concurrency` tasks take lifecycles of the batch one at a time and do
//!    submit, approve, claim grant, complete grant;
//! 2. expire phase: the manual clock advances past the TTL and `tick()` runs once; its time
//!    is reported per tick and amortized per expired request;
//! 3. cleanup phase: `concurrency` tasks claim and complete the batch's cleanup work.
//!
//! Every requester (`user{i}@example.com`) and namespace (`ns-{i}`) is distinct, and the
//! limits are `u32::MAX`, so per-user limits and the one-live-request-per-namespace rule
//! never interfere. At the end the run is verified: every request `expired` with
//! credentials `cleaned`, the work queue drained, and the audit chain intact with exactly
//! five events per lifecycle. A failed verification exits non-zero.
//!
//! Run: `cargo bench --bench lifecycle`. Parameters (environment):
//! - `JANUS_BENCH_LIFECYCLES` (default 2000)
//! - `JANUS_BENCH_CONCURRENCY` (default 8 tasks)
//! - `JANUS_BENCH_BATCH` (default 200 lifecycles per expiry tick)
//! - `JANUS_BENCH_BACKENDS` (default `sqlite,postgres`)
//! - PostgreSQL comes from `JANUS_TEST_POSTGRES_URL` (see `janus_fixtures::postgres`); it is
//!   skipped with a note when no server answers.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use janus::central::Central;
use janus_core::audit::ChainVerifier;
use janus_core::clock::ManualClock;
use janus_core::config::Config;
use janus_core::domain::{Actor, Command, CredentialsStatus, Draft, Origin, Principal, RequestState};
use janus_core::queue::{Completion, WorkKind, WorkOutcome};
use janus_core::scheduler::Scheduler;
use janus_core::store::{RequestFilter, Store};
use janus_core::workflow::Workflow;
use janus_fixtures::postgres::TestDatabase;

const CLUSTER: &str = "bench";
const APPROVER: &str = "approver@example.com";
/// The minimum TTL (the Kubernetes TokenRequest minimum).
const TTL_SECONDS: u64 = 600;
/// Long-poll wait and lease, on the manual clock (which does not move during a phase).
const POLL_WAIT: Duration = Duration::from_secs(25);
const LEASE: Duration = Duration::from_secs(60);
/// Real-time guard: a claim that finds nothing would otherwise wait forever on the manual clock.
const CLAIM_GUARD: Duration = Duration::from_secs(30);
/// Events per lifecycle: submitted, approved, grant.succeeded, expired, cleanup.succeeded.
const EXPECTED_ACTIONS: [&str; 5] = [
    "request.submitted",
    "request.approved",
    "grant.succeeded",
    "request.expired",
    "cleanup.succeeded",
];

#[expect(clippy::disallowed_methods, reason = "the benchmark measures wall-clock time")]
fn stopwatch() -> Instant {
    Instant::now()
}

#[derive(Debug, Clone)]
struct Params {
    lifecycles: usize,
    concurrency: usize,
    batch: usize,
    backends: Vec<String>,
}

impl Params {
    fn from_env() -> Result<Params> {
        fn number(name: &str, default: usize) -> Result<usize> {
            match std::env::var(name) {
                Ok(raw) => {
                    let value: usize = raw
                        .trim()
                        .parse()
                        .with_context(|| format!("{name}={raw:?} is not a number"))?;
                    ensure!(value > 0, "{name} must be at least 1");
                    Ok(value)
                }
                Err(_) => Ok(default),
            }
        }
        let backends = std::env::var("JANUS_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".to_owned());
        let backends: Vec<String> = backends
            .split(',')
            .map(|name| name.trim().to_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        for backend in &backends {
            ensure!(
                backend == "sqlite" || backend == "postgres",
                "JANUS_BENCH_BACKENDS: unknown backend {backend:?} (use sqlite, postgres)"
            );
        }
        Ok(Params {
            lifecycles: number("JANUS_BENCH_LIFECYCLES", 2000)?,
            concurrency: number("JANUS_BENCH_CONCURRENCY", 8)?,
            batch: number("JANUS_BENCH_BATCH", 200)?,
            backends,
        })
    }
}

/// Latency samples per transition.
#[derive(Debug, Default)]
struct Samples {
    submit: Vec<Duration>,
    approve: Vec<Duration>,
    grant_claim: Vec<Duration>,
    grant_complete: Vec<Duration>,
    expire_tick: Vec<Duration>,
    expire_amortized: Vec<Duration>,
    cleanup_claim: Vec<Duration>,
    cleanup_complete: Vec<Duration>,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.submit.extend(other.submit);
        self.approve.extend(other.approve);
        self.grant_claim.extend(other.grant_claim);
        self.grant_complete.extend(other.grant_complete);
        self.expire_tick.extend(other.expire_tick);
        self.expire_amortized.extend(other.expire_amortized);
        self.cleanup_claim.extend(other.cleanup_claim);
        self.cleanup_complete.extend(other.cleanup_complete);
    }
}

/// Wall time spent in each phase, summed over batches.
#[derive(Debug, Default)]
struct Phases {
    grant: Duration,
    expire: Duration,
    cleanup: Duration,
}

/// What every task shares: the workflow and the approver.
#[derive(Debug)]
struct Bench {
    workflow: Workflow,
    approver: Actor,
}

type Shared = Arc<Bench>;

/// The configuration the benchmark runs: one cluster with one approver, limits out of the way,
/// and a retention far beyond the clock advance of a long run, so nothing is purged before it
/// is verified.
fn config() -> String {
    format!(
        "janus:\n  limits: {{ requestsPerHour: 4294967295, liveRequestsPerUser: 4294967295 }}\n  \
         retentionSeconds: {}\nclusters:\n  - name: {CLUSTER}\n    approvers: [{APPROVER}]\n",
        10 * 365 * 86_400
    )
}

/// Claims one work item of the bench cluster, which must be of `kind`.
async fn claim(workflow: &Workflow, kind: WorkKind) -> Result<(i64, String)> {
    let claimed = tokio::time::timeout(CLAIM_GUARD, workflow.wait_for_work(CLUSTER, POLL_WAIT, LEASE))
        .await
        .with_context(|| format!("no {kind} work was claimable within {CLAIM_GUARD:?}"))??;
    let item = claimed.with_context(|| format!("the long-poll for {kind} work returned nothing"))?;
    ensure!(
        item.kind == kind,
        "expected {kind} work, claimed {} work {}",
        item.kind,
        item.id
    );
    Ok((item.id, item.lease_token))
}

async fn complete(workflow: &Workflow, id: i64, lease_token: &str) -> Result<()> {
    let completion = workflow
        .complete_work(CLUSTER, id, lease_token, WorkOutcome::Succeeded)
        .await?;
    ensure!(
        completion == Completion::Recorded,
        "work {id}: completion was {completion:?}, not Recorded"
    );
    Ok(())
}

/// Claims one work item of `kind` and completes it, as the agent does: how long each took.
async fn claim_and_complete(workflow: &Workflow, kind: WorkKind) -> Result<(Duration, Duration)> {
    let started = stopwatch();
    let (work_id, lease_token) = claim(workflow, kind).await?;
    let claimed = started.elapsed();

    let started = stopwatch();
    complete(workflow, work_id, &lease_token)
        .await
        .with_context(|| format!("complete {kind} work {work_id}"))?;
    Ok((claimed, started.elapsed()))
}

/// Takes lifecycles from `next` until `end`: submit, approve, claim grant, complete grant.
async fn grant_worker(shared: Shared, next: Arc<AtomicUsize>, end: usize) -> Result<Samples> {
    let workflow = &shared.workflow;
    let mut samples = Samples::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= end {
            return Ok(samples);
        }
        let requester = Principal::parse(&format!("user{i}@example.com"))?;
        let draft = Draft {
            cluster: CLUSTER.to_owned(),
            namespaces: vec![format!("ns-{i}")],
            ttl_seconds: Some(TTL_SECONDS),
            reason: format!("benchmark lifecycle {i}"),
            profile: None,
            origin: Origin::web(),
        };

        let started = stopwatch();
        let request = workflow
            .submit(&requester, draft)
            .await
            .with_context(|| format!("submit {i}"))?;
        samples.submit.push(started.elapsed());

        let approve = Command::Approve {
            ttl_seconds: None,
            reason: None,
        };
        let started = stopwatch();
        let approved = workflow
            .execute(
                &request.id,
                Some(RequestState::Pending),
                approve,
                &shared.approver,
            )
            .await
            .with_context(|| format!("approve {}", request.id))?;
        samples.approve.push(started.elapsed());
        ensure!(
            approved.state == RequestState::Approved,
            "{} is {} after approval",
            request.id,
            approved.state
        );

        // The agent takes the oldest claimable grant, which may be another task's request;
        // each task queues one grant before it claims one, so one is always there.
        let (claimed, completed) = claim_and_complete(workflow, WorkKind::Grant).await?;
        samples.grant_claim.push(claimed);
        samples.grant_complete.push(completed);
    }
}

/// Claims and completes cleanup work while `remaining` tickets are left.
async fn cleanup_worker(shared: Shared, remaining: Arc<AtomicUsize>) -> Result<Samples> {
    let workflow = &shared.workflow;
    let mut samples = Samples::default();
    while remaining
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1))
        .is_ok()
    {
        let (claimed, completed) = claim_and_complete(workflow, WorkKind::Cleanup).await?;
        samples.cleanup_claim.push(claimed);
        samples.cleanup_complete.push(completed);
    }
    Ok(samples)
}

async fn join_all(tasks: Vec<tokio::task::JoinHandle<Result<Samples>>>, into: &mut Samples) -> Result<()> {
    for result in futures::future::join_all(tasks).await {
        into.merge(result.context("a benchmark task panicked")??);
    }
    Ok(())
}

/// What a backend run measured and whether its verification passed.
#[derive(Debug)]
struct Outcome {
    samples: Samples,
    phases: Phases,
    wall: Duration,
    batches: usize,
    verification: Result<String>,
}

/// Runs the lifecycles on central's engine (started as `janus serve` starts it, without the web)
/// over the database at `url`.
async fn run_lifecycles(url: &str, params: &Params) -> Result<Outcome> {
    let config = Config::load(Some(&config()), &[], &|_| Err(std::io::Error::other("no files")))
        .map_err(|errors| anyhow::anyhow!("invalid configuration:\n{errors}"))?;
    let clock = ManualClock::at_epoch();
    let central = Central::builder(config)
        .clock(Arc::new(clock.clone()))
        .store_url(url)
        .web(false)
        .scheduler(false)
        .start()
        .await
        .context("start central")?;
    let (store, workflow) = (central.store.clone(), central.workflow.clone());
    let outcome = lifecycles(store, workflow, clock, params).await;
    close(central).await;
    outcome
}

async fn lifecycles(
    store: Store,
    workflow: Workflow,
    clock: ManualClock,
    params: &Params,
) -> Result<Outcome> {
    let scheduler = Scheduler::new(workflow.clone());
    let shared = Arc::new(Bench {
        workflow,
        approver: Actor::Person(Principal::parse(APPROVER)?),
    });

    let mut samples = Samples::default();
    let mut phases = Phases::default();
    let mut batches = 0;
    let run_started = stopwatch();
    let mut start = 0;
    while start < params.lifecycles {
        let end = (start + params.batch).min(params.lifecycles);
        let size = end - start;
        let workers = params.concurrency.min(size);
        batches += 1;

        let phase = stopwatch();
        let next = Arc::new(AtomicUsize::new(start));
        let tasks = (0..workers)
            .map(|_| tokio::spawn(grant_worker(shared.clone(), next.clone(), end)))
            .collect();
        join_all(tasks, &mut samples).await?;
        phases.grant += phase.elapsed();

        let phase = stopwatch();
        clock.advance_secs(TTL_SECONDS + 1);
        let started = stopwatch();
        let report = scheduler.tick().await.context("scheduler tick")?;
        let tick = started.elapsed();
        ensure!(report.leader, "the scheduler did not get the lead");
        ensure!(
            report.expired == size as u64,
            "batch {batches}: the tick expired {} requests, expected {size}",
            report.expired
        );
        samples.expire_tick.push(tick);
        samples
            .expire_amortized
            .push(tick / u32::try_from(size).unwrap_or(u32::MAX));
        phases.expire += phase.elapsed();

        let phase = stopwatch();
        let remaining = Arc::new(AtomicUsize::new(size));
        let tasks = (0..workers)
            .map(|_| tokio::spawn(cleanup_worker(shared.clone(), remaining.clone())))
            .collect();
        join_all(tasks, &mut samples).await?;
        phases.cleanup += phase.elapsed();

        start = end;
    }
    let wall = run_started.elapsed();
    let verification = verify(&store, params.lifecycles).await;
    store.step_down().await;
    Ok(Outcome {
        samples,
        phases,
        wall,
        batches,
        verification,
    })
}

/// Every request expired with credentials cleaned, no work left, and an intact audit chain
/// of exactly the five expected events per lifecycle.
async fn verify(store: &Store, lifecycles: usize) -> Result<String> {
    let expected = i64::try_from(lifecycles)?;
    let by_state = store.count_by_state().await?;
    ensure!(
        by_state == vec![("expired".to_owned(), expected)],
        "requests by state: {by_state:?}, expected {lifecycles} expired"
    );
    let requests = store
        .list_requests(&RequestFilter {
            limit: Some(expected),
            ..RequestFilter::default()
        })
        .await?;
    ensure!(
        requests.len() == lifecycles,
        "listed {} requests, expected {lifecycles}",
        requests.len()
    );
    if let Some(bad) = requests.iter().find(|request| {
        request.state != RequestState::Expired || request.credentials != CredentialsStatus::Cleaned
    }) {
        bail!(
            "{} is {} with credentials {}, expected expired/cleaned",
            bad.id,
            bad.state,
            bad.credentials
        );
    }
    let depth = store.queue_depth().await?;
    ensure!(depth.is_empty(), "work left on the queue: {depth:?}");

    let (head_seq, head_hash) = store.audit_head().await?;
    let expected_events = expected * i64::try_from(EXPECTED_ACTIONS.len())?;
    ensure!(
        head_seq == expected_events,
        "audit chain head seq is {head_seq}, expected {expected_events} (5 per lifecycle)"
    );
    let mut verifier = ChainVerifier::default();
    let mut actions: BTreeMap<String, i64> = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, 1_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for record in &page {
            verifier
                .push(record)
                .with_context(|| format!("audit chain broken at event {}", record.seq))?;
            *actions.entry(record.action.clone()).or_default() += 1;
        }
    }
    let verified = verifier
        .finish(head_seq, &head_hash)
        .context("audit chain does not end at its head")?;
    let wanted: BTreeMap<String, i64> = EXPECTED_ACTIONS
        .iter()
        .map(|action| ((*action).to_owned(), expected))
        .collect();
    ensure!(
        actions == wanted,
        "audit actions {actions:?}, expected {expected} of each of {EXPECTED_ACTIONS:?}"
    );
    Ok(format!(
        "{lifecycles} requests expired with credentials cleaned; work queue empty; \
         audit head seq {head_seq} = expected {expected_events}; chain intact ({verified} events, \
         {expected} of each action)"
    ))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(params: &Params, outcome: &Outcome) {
    let Outcome {
        samples,
        phases,
        wall,
        batches,
        verification,
    } = outcome;
    let rate = params.lifecycles as f64 / wall.as_secs_f64();
    println!(
        "lifecycles {}  concurrency {}  batch {}  batches (ticks) {batches}",
        params.lifecycles, params.concurrency, params.batch
    );
    println!(
        "wall time {:.3} s  →  {rate:.1} lifecycles/s   (phases: grant {:.3} s, expire {:.3} s, cleanup {:.3} s)",
        wall.as_secs_f64(),
        phases.grant.as_secs_f64(),
        phases.expire.as_secs_f64(),
        phases.cleanup.as_secs_f64()
    );
    println!();
    println!(
        "  {:<34} {:>8} {:>11} {:>11} {:>11}",
        "transition", "samples", "p50 ms", "p99 ms", "max ms"
    );
    println!("  {}", "-".repeat(34 + 8 + 11 * 3 + 4));
    let rows: [(&str, &Vec<Duration>); 8] = [
        ("submit", &samples.submit),
        ("approve", &samples.approve),
        ("grant claim (wait_for_work)", &samples.grant_claim),
        ("grant complete (→ active)", &samples.grant_complete),
        ("expire: whole tick", &samples.expire_tick),
        ("expire: per request (tick / n)", &samples.expire_amortized),
        ("cleanup claim (wait_for_work)", &samples.cleanup_claim),
        ("cleanup complete (→ cleaned)", &samples.cleanup_complete),
    ];
    for (name, values) in rows {
        let mut sorted = values.clone();
        sorted.sort_unstable();
        println!(
            "  {:<34} {:>8} {:>11.3} {:>11.3} {:>11.3}",
            name,
            sorted.len(),
            ms(percentile(&sorted, 50.0)),
            ms(percentile(&sorted, 99.0)),
            ms(sorted.last().copied().unwrap_or_default()),
        );
    }
    println!();
    match verification {
        Ok(summary) => println!("verify: OK: {summary}"),
        Err(error) => println!("verify: FAILED: {error:#}"),
    }
}

fn random_suffix() -> u64 {
    RandomState::new().hash_one(std::process::id())
}

async fn close(central: Central) {
    if tokio::time::timeout(Duration::from_secs(10), central.shutdown())
        .await
        .is_err()
    {
        println!("note: closing the store's pool did not finish within 10 s; continuing");
    }
}

async fn bench_sqlite(params: &Params) -> Result<bool> {
    let dir: PathBuf = std::env::temp_dir().join(format!("janus-bench-{:016x}", random_suffix()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let result = bench_sqlite_in(&dir, params).await;
    if let Err(error) = std::fs::remove_dir_all(&dir) {
        println!("note: could not delete {}: {error}", dir.display());
    }
    result
}

async fn bench_sqlite_in(dir: &Path, params: &Params) -> Result<bool> {
    let path = dir.join("janus.db");
    println!("== SQLite (file {}, WAL) ==", path.display());
    let outcome = run_lifecycles(&format!("sqlite://{}", path.display()), params).await?;
    report(params, &outcome);
    Ok(outcome.verification.is_ok())
}

async fn bench_postgres(params: &Params) -> Result<bool> {
    let Some(database) = TestDatabase::create().await else {
        println!("== PostgreSQL ==");
        println!("skipped: no PostgreSQL server answered (set JANUS_TEST_POSTGRES_URL)");
        return Ok(true);
    };
    println!(
        "== PostgreSQL ({}) ==",
        janus_core::store::redact_url(&database.url)
    );
    let result = run_lifecycles(&database.url, params).await;
    database.drop_database().await;
    let outcome = result?;
    report(params, &outcome);
    Ok(outcome.verification.is_ok())
}

fn main() -> ExitCode {
    let params = match Params::from_env() {
        Ok(params) => params,
        Err(error) => {
            eprintln!("lifecycle bench: {error:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lifecycle bench: cannot start the tokio runtime: {error}");
            return ExitCode::from(2);
        }
    };
    println!(
        "Janus lifecycle benchmark: submit → approve → grant → expire → cleanup \
         ({} lifecycles, {} concurrent tasks, {} per expiry tick, backends {})",
        params.lifecycles,
        params.concurrency,
        params.batch,
        params.backends.join(",")
    );
    println!(
        "{} CPU(s) available; wall-clock numbers on a small shared machine are noisy.",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!();
    let mut ok = true;
    for backend in &params.backends {
        let result = runtime.block_on(async {
            match backend.as_str() {
                "sqlite" => bench_sqlite(&params).await,
                _ => bench_postgres(&params).await,
            }
        });
        match result {
            Ok(passed) => ok &= passed,
            Err(error) => {
                println!("{backend}: FAILED: {error:#}");
                ok = false;
            }
        }
        println!();
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
