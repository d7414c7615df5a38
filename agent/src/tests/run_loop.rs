//! `Agent::run`: backoff through the clock, report retries, namespace reports, the sweeper
//! without central, shutdown, and the embedded agent on a real workflow.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use janus_core::agent_protocol::ReportOutcome;
use janus_core::clock::Clock;
use janus_core::domain::{
    Actor, ClusterPolicy, Command, CredentialsStatus, Draft, Limits, Origin, Policy, Principal, RequestState,
};
use janus_core::queue::WorkKind;
use janus_core::store::Store;
use janus_core::workflow::Workflow;
use tokio::sync::oneshot;

use super::{CLUSTER, Env, ScriptedCentral, assignment, hours, spec};
use crate::{CentralError, InProcessCentral};

/// Runs the agent in the background; `stop()` ends it and waits until `run` returned.
struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(agent: crate::Agent) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            agent
                .run(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Running {
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the agent stops promptly")
            .unwrap();
    }
}

/// Moves the manual clock forward by `step` until `done` holds. Between steps it waits for
/// the agent to call the fake API server (or 20 ms at most), so the clock only runs ahead of
/// an agent that is waiting on it. Fails after `max_steps`.
async fn drive_until(env: &Env, step: Duration, max_steps: usize, mut done: impl FnMut() -> bool) {
    for _ in 0..max_steps {
        if done() {
            return;
        }
        let calls = env.kube.request_log().len();
        for _ in 0..20 {
            tokio::task::yield_now().await;
            if env.kube.request_log().len() != calls {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
        }
        env.clock.advance(step);
    }
    assert!(done(), "condition not reached after {max_steps} steps");
}

/// How many times the agent listed the cluster's namespaces.
fn namespace_lists(env: &Env) -> usize {
    env.kube
        .request_log()
        .iter()
        .filter(|request| request.verb == "list" && request.resource == "namespaces")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_backs_off_through_the_clock_retries_the_report_and_reports_namespaces() {
    let env = Env::new().await;
    let central = Arc::new(ScriptedCentral::new());
    let unreachable = || Err(CentralError::Unreachable("connection refused".to_owned()));
    central.push_work(unreachable());
    central.push_work(unreachable());
    let grant = spec("jr-runloop0", &["payments"], env.now() + hours(2));
    central.push_work(Ok(Some(assignment(9, WorkKind::Grant, grant))));
    central.push_report_answer(Err(CentralError::Rejected {
        status: 502,
        message: "bad gateway".to_owned(),
    }));
    let agent = env.agent(central.clone()).await;
    let running = Running::start(agent.clone());

    drive_until(&env, Duration::from_secs(1), 500, || {
        central.reports.lock().unwrap().len() >= 2
    })
    .await;
    let reports = central.reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 2, "one failed delivery, one retry: {reports:?}");
    for (work_id, report) in &reports {
        assert_eq!(*work_id, 9);
        assert_eq!(report.outcome, ReportOutcome::Succeeded);
        assert_eq!(report.lease_token, "lease-9");
    }
    assert_eq!(
        *central.work_calls.lock().unwrap(),
        4,
        "two failures, the work, then a waiting poll"
    );
    assert!(agent.token_for("jr-runloop0", "payments").is_some());
    assert_eq!(env.grant_names("rolebindings"), ["payments/janus-jr-runloop0"]);

    // Namespaces: reported at start, again only when they change.
    let reports = central.namespace_reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains(&"payments".to_owned()) && reports[0].contains(&"checkout".to_owned()));
    env.kube.add_namespace("orders").unwrap();
    drive_until(&env, Duration::from_secs(1), 500, || {
        central.namespace_reports.lock().unwrap().len() >= 2
    })
    .await;
    let reports = central.namespace_reports.lock().unwrap().clone();
    assert!(reports[1].contains(&"orders".to_owned()));
    let lists = namespace_lists(&env);
    drive_until(&env, Duration::from_secs(5), 500, || {
        namespace_lists(&env) >= lists + 2
    })
    .await;
    assert_eq!(
        central.namespace_reports.lock().unwrap().len(),
        2,
        "no change, no report"
    );

    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_in_the_loop_ends_grants_while_central_is_unreachable() {
    let env = Env::new().await;
    let agent = env.offline_agent().await;
    let grant = spec("jr-offline0", &["payments", "checkout"], env.now() + hours(1));
    assert_eq!(
        agent.handle(&assignment(1, WorkKind::Grant, grant)).await.outcome,
        ReportOutcome::Succeeded
    );
    let running = Running::start(agent.clone());
    drive_until(&env, Duration::from_secs(60), 200, || {
        env.grant_names("serviceaccounts").is_empty() && env.grant_names("rolebindings").is_empty()
    })
    .await;
    assert!(agent.vault().is_empty());
    running.stop().await;
}

fn person(email: &str) -> Principal {
    Principal::parse(email).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_agent_grants_and_cleans_up_through_the_workflow() {
    let env = Env::new().await;
    let database = env.dir.path().join("janus.db");
    let store = Store::connect(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let policy = Policy {
        clusters: BTreeMap::from([(
            CLUSTER.to_owned(),
            ClusterPolicy {
                approvers: BTreeSet::from([person("bob@example.com")]),
                approvals_required: 1,
            },
        )]),
        limits: Limits {
            requests_per_hour: 100,
            live_requests_per_user: 100,
        },
        ..Policy::default()
    };
    let workflow = Workflow::new(
        store.clone(),
        policy,
        Arc::new(env.clock.clone()) as Arc<dyn Clock>,
    );
    let client = crate::build_kube_client(&env.config).await.unwrap();
    let agent = crate::Agent::new(
        client,
        Arc::new(InProcessCentral::new(workflow.clone(), CLUSTER)),
        CLUSTER,
        Arc::new(env.clock.clone()),
        Duration::from_secs(5),
    );
    let mut changes = workflow.subscribe();
    let running = Running::start(agent.clone());

    // The agent's first namespace report lets central check the request's namespaces.
    let known = loop {
        if let Some(known) = store.namespaces(CLUSTER).await.unwrap() {
            break known;
        }
        let _ = tokio::time::timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
    };
    assert!(known.contains(&"payments".to_owned()));

    let request = workflow
        .submit(
            &person("alice@example.com"),
            Draft {
                cluster: CLUSTER.to_owned(),
                namespaces: vec!["payments".to_owned(), "checkout".to_owned()],
                ttl_seconds: Some(3600),
                reason: "investigating 500s on /pay".to_owned(),
                profile: None,
                origin: Origin::web(),
            },
        )
        .await
        .unwrap();
    let approve = Command::Approve {
        ttl_seconds: None,
        reason: None,
    };
    workflow
        .execute(
            &request.id,
            Some(RequestState::Pending),
            approve,
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();

    let active = loop {
        let current = workflow.get(&request.id).await.unwrap();
        if current.state == RequestState::Active {
            break current;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await;
    };
    assert_eq!(active.credentials, CredentialsStatus::Live);
    assert_eq!(
        env.grant_names("rolebindings"),
        [
            format!("checkout/janus-{}", request.id),
            format!("payments/janus-{}", request.id)
        ]
    );
    let (token, until) = agent.token_for(request.id.as_str(), "payments").unwrap();
    assert_eq!(Some(until), active.expires_at);
    assert!(env.may_exec(token.expose(), "payments").await);

    let revoke = Command::Revoke { reason: None };
    workflow
        .execute(
            &request.id,
            Some(RequestState::Active),
            revoke,
            &Actor::Person(person("bob@example.com")),
        )
        .await
        .unwrap();
    loop {
        let current = workflow.get(&request.id).await.unwrap();
        if current.credentials == CredentialsStatus::Cleaned {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await;
    }
    assert!(env.grant_names("rolebindings").is_empty());
    assert!(env.grant_names("serviceaccounts").is_empty());
    assert!(agent.token_for(request.id.as_str(), "payments").is_none());

    running.stop().await;
    store.close().await;
}
