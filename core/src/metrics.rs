//! In-process counters and gauges, rendered in the Prometheus text format by `/metrics`
//! together with gauges read from the store at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    transitions: Mutex<BTreeMap<&'static str, u64>>,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    notices: Mutex<BTreeMap<&'static str, u64>>,
    scheduler_ticks: AtomicU64,
    /// How late the last expiry ran, in milliseconds after `expires_at`.
    scheduler_lag_ms: AtomicI64,
}

impl Metrics {
    pub fn transition(&self, action: &'static str) {
        *self
            .transitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(action)
            .or_default() += 1;
    }

    pub fn refusal(&self, code: &'static str) {
        *self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    /// An outbox delivery outcome: `delivered`, `rate_limited`, `retried`, `failed`.
    pub fn notice(&self, outcome: &'static str) {
        *self
            .notices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(outcome)
            .or_default() += 1;
    }

    pub fn scheduler_tick(&self, lag_ms: Option<i64>) {
        self.scheduler_ticks.fetch_add(1, Ordering::Relaxed);
        if let Some(lag) = lag_ms {
            self.scheduler_lag_ms.store(lag.max(0), Ordering::Relaxed);
        }
    }

    /// Outbox deliveries that ended with `outcome` so far.
    pub fn notices_total(&self, outcome: &str) -> u64 {
        self.notices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(outcome)
            .copied()
            .unwrap_or(0)
    }

    pub fn transitions_total(&self, action: &str) -> u64 {
        self.transitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(action)
            .copied()
            .unwrap_or(0)
    }

    /// Renders everything, plus the store-derived gauges passed in.
    pub fn render(
        &self,
        requests_by_state: &[(String, i64)],
        queue_depth: &[crate::store::QueueDepth],
    ) -> String {
        let mut out = String::new();
        out.push_str("# HELP janus_requests Access requests in the live tables, by state.\n");
        out.push_str("# TYPE janus_requests gauge\n");
        for state in crate::domain::RequestState::ALL {
            let count = requests_by_state
                .iter()
                .find(|(name, _)| name == state.as_str())
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "janus_requests{{state=\"{state}\"}} {count}");
        }
        out.push_str("# HELP janus_transitions_total Accepted workflow commands, by audit action.\n");
        out.push_str("# TYPE janus_transitions_total counter\n");
        for (action, count) in self.transitions.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "janus_transitions_total{{action=\"{action}\"}} {count}");
        }
        out.push_str("# HELP janus_refusals_total Refused workflow commands, by reason code.\n");
        out.push_str("# TYPE janus_refusals_total counter\n");
        for (code, count) in self.refusals.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "janus_refusals_total{{code=\"{code}\"}} {count}");
        }
        out.push_str("# HELP janus_notices_total Chat notice delivery attempts, by outcome.\n");
        out.push_str("# TYPE janus_notices_total counter\n");
        for (outcome, count) in self.notices.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "janus_notices_total{{outcome=\"{outcome}\"}} {count}");
        }
        out.push_str("# HELP janus_work_queue_depth Unfinished agent work, by cluster, kind and status.\n");
        out.push_str("# TYPE janus_work_queue_depth gauge\n");
        for depth in queue_depth {
            let _ = writeln!(
                out,
                "janus_work_queue_depth{{cluster=\"{}\",kind=\"{}\",status=\"{}\"}} {}",
                escape(&depth.cluster),
                escape(&depth.kind),
                escape(&depth.status),
                depth.count
            );
        }
        out.push_str("# HELP janus_scheduler_ticks_total Scheduler passes run by this process.\n");
        out.push_str("# TYPE janus_scheduler_ticks_total counter\n");
        let _ = writeln!(
            out,
            "janus_scheduler_ticks_total {}",
            self.scheduler_ticks.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP janus_scheduler_lag_seconds How late the most recent expiry ran after expires_at.\n",
        );
        out.push_str("# TYPE janus_scheduler_lag_seconds gauge\n");
        let lag = self.scheduler_lag_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(out, "janus_scheduler_lag_seconds {lag}");
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
