//! `Agent::run`: backoff through the clock, report retries, namespace reports, the sweeper
//! without central, shutdown. (The embedded agent on a real workflow is an integration test:
//! `grants::the_embedded_agent_grants_and_cleans_up_through_the_workflow`.)

use std::sync::Arc;
use std::time::Duration;

use janus_wire::agent_protocol::{ReportOutcome, WorkKind};
use tokio::sync::oneshot;

use super::{Env, ScriptedCentral, assignment, hours, spec};
use crate::CentralError;

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
