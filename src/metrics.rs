//! Prometheus metric families (OpenMetrics text via `prometheus-client`). One registry for the
//! process; every component records into the families it owns. Labels never carry ids or secrets:
//! routes are templates such as `/new/v2.0/flows`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::superkey::KeyState;

/// Every value of the `outcome` label of `job_runs_total`.
pub const JOB_OUTCOMES: [&str; 5] = ["success", "failed", "timed_out", "cancelled", "skipped"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RotationLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabels {
    pub route: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobOutcomeLabels {
    pub job: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    pub job: String,
    pub rule: String,
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn api_histogram() -> Histogram {
    // 5 ms .. ~40 s
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn job_histogram() -> Histogram {
    // 1 s .. ~9 h
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

/// All metric families of the process.
pub struct Metrics {
    registry: Registry,
    pub superkey_expiration: Gauge<f64, AtomicU64>,
    pub superkey_created: Gauge<f64, AtomicU64>,
    pub superkey_usable: Gauge,
    pub superkey_rotations: Family<RotationLabels, Counter>,
    pub superkey_generation: Gauge,
    pub api_requests: Family<RequestLabels, Counter>,
    pub api_duration: HistogramFamily<RouteLabels>,
    pub api_retries: Family<RetryLabels, Counter>,
    pub job_runs: Family<JobOutcomeLabels, Counter>,
    pub job_duration: HistogramFamily<JobLabels>,
    pub job_last_success: Family<JobLabels, Gauge<f64, AtomicU64>>,
    pub job_running: Family<JobLabels, Gauge>,
    pub audit_findings: Family<FindingLabels, Gauge>,
    pub start_time: Gauge<f64, AtomicU64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("cognigy_warden"),
            superkey_expiration: Gauge::default(),
            superkey_created: Gauge::default(),
            superkey_usable: Gauge::default(),
            superkey_rotations: Family::default(),
            superkey_generation: Gauge::default(),
            api_requests: Family::default(),
            api_duration: Family::new_with_constructor(api_histogram),
            api_retries: Family::default(),
            job_runs: Family::default(),
            job_duration: Family::new_with_constructor(job_histogram),
            job_last_success: Family::default(),
            job_running: Family::default(),
            audit_findings: Family::default(),
            start_time: Gauge::default(),
        };
        m.start_time
            .set(crate::superkey::unix(std::time::SystemTime::now()));
        let r = &mut m.registry;
        r.register(
            "build",
            "Build information of this cognigy-warden",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        r.register(
            "superkey_expiration_timestamp_seconds",
            "Unix time at which the current Super API-Key expires (0 before the first key)",
            m.superkey_expiration.clone(),
        );
        r.register(
            "superkey_created_timestamp_seconds",
            "Unix time at which the current Super API-Key was requested",
            m.superkey_created.clone(),
        );
        r.register(
            "superkey_usable",
            "1 while a Super API-Key is held that may still be sent, else 0",
            m.superkey_usable.clone(),
        );
        r.register(
            "superkey_rotations",
            "Super API-Key creation attempts by result",
            m.superkey_rotations.clone(),
        );
        r.register(
            "superkey_generation",
            "Generation number of the current Super API-Key (increments per new key)",
            m.superkey_generation.clone(),
        );
        r.register(
            "api_requests",
            "Requests sent to the Cognigy API by route template and HTTP status (or `error`)",
            m.api_requests.clone(),
        );
        r.register(
            "api_request_duration_seconds",
            "Duration of Cognigy API requests by route template",
            m.api_duration.clone(),
        );
        r.register(
            "api_retries",
            "Retried Cognigy API requests by route template and reason",
            m.api_retries.clone(),
        );
        r.register(
            "job_runs",
            "Finished job runs by outcome (success, failed, timed_out, cancelled, skipped)",
            m.job_runs.clone(),
        );
        r.register(
            "job_duration_seconds",
            "Duration of finished job runs",
            m.job_duration.clone(),
        );
        r.register(
            "job_last_success_timestamp_seconds",
            "Unix time at which the job last finished successfully",
            m.job_last_success.clone(),
        );
        r.register(
            "job_running",
            "1 while a run of the job is in progress",
            m.job_running.clone(),
        );
        r.register(
            "audit_findings",
            "Findings of the latest successful asset-audit run by rule and severity",
            m.audit_findings.clone(),
        );
        r.register(
            "start_time_seconds",
            "Unix time at which this process started",
            m.start_time.clone(),
        );
        m
    }

    /// Creates the series of `job` that dashboards and alerts expect before its first run:
    /// `job_running` and `job_runs_total` for every outcome, at 0. Existing values are kept.
    pub fn precreate_job(&self, job: &str) {
        // The guards only hold the family's read lock: release them at once.
        drop(self.job_running.get_or_create(&JobLabels {
            job: job.to_string(),
        }));
        for outcome in JOB_OUTCOMES {
            drop(self.job_runs.get_or_create(&JobOutcomeLabels {
                job: job.to_string(),
                outcome: outcome.to_string(),
            }));
        }
    }

    /// Sets the key gauges from a keeper snapshot. Called at scrape time, so that
    /// `superkey_usable` drops to 0 when a key lapses even if nothing else happened.
    pub fn set_key_state(&self, state: &KeyState) {
        self.superkey_usable.set(i64::from(state.usable));
        self.superkey_generation
            .set(i64::try_from(state.generation).unwrap_or(i64::MAX));
        self.superkey_created.set(state.created_unix);
        self.superkey_expiration.set(state.expires_unix);
    }

    /// OpenMetrics text exposition of every family.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Records one answered (or failed) request.
    pub fn observe_request(&self, route: &'static str, status: Option<u16>, seconds: f64) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.api_requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.api_duration
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    pub fn observe_retry(&self, route: &'static str, reason: &'static str) {
        self.api_retries
            .get_or_create(&RetryLabels { route, reason })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_match_the_documented_ones() {
        let m = Metrics::new();
        m.observe_request("/new/v2.0/flows", Some(200), 0.01);
        m.observe_retry("/new/v2.0/flows", "status_503");
        m.superkey_rotations
            .get_or_create(&RotationLabels { result: "success" })
            .inc();
        let text = m.encode();
        for name in [
            "cognigy_warden_build_info{version=",
            "cognigy_warden_superkey_expiration_timestamp_seconds ",
            "cognigy_warden_superkey_usable ",
            "cognigy_warden_superkey_rotations_total{result=\"success\"} 1",
            "cognigy_warden_api_requests_total{route=\"/new/v2.0/flows\",status=\"200\"} 1",
            "cognigy_warden_api_request_duration_seconds_bucket{",
            "cognigy_warden_api_retries_total{route=\"/new/v2.0/flows\",reason=\"status_503\"} 1",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn precreated_job_series_start_at_zero_and_keep_existing_values() {
        let m = Metrics::new();
        m.job_runs
            .get_or_create(&JobOutcomeLabels {
                job: "flows".into(),
                outcome: "success".into(),
            })
            .inc();
        m.precreate_job("flows");
        m.precreate_job("audit");
        let text = m.encode();
        for line in [
            "cognigy_warden_job_runs_total{job=\"flows\",outcome=\"success\"} 1",
            "cognigy_warden_job_runs_total{job=\"flows\",outcome=\"skipped\"} 0",
            "cognigy_warden_job_runs_total{job=\"audit\",outcome=\"timed_out\"} 0",
            "cognigy_warden_job_running{job=\"audit\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn key_gauges_follow_the_key_state() {
        let m = Metrics::new();
        m.superkey_usable.set(1);
        m.set_key_state(&KeyState {
            generation: 7,
            usable: false,
            created_at: None,
            expires_at: None,
            usable_until: None,
            next_rotation: None,
            consecutive_failures: 2,
            rotations_succeeded: 7,
            rotations_failed: 2,
            last_error: None,
            created_unix: 1_800_000_000.5,
            expires_unix: 1_800_000_900.5,
            next_rotation_unix: 1_800_000_600.5,
        });
        let text = m.encode();
        for line in [
            "cognigy_warden_superkey_usable 0\n",
            "cognigy_warden_superkey_generation 7\n",
            "cognigy_warden_superkey_created_timestamp_seconds 1800000000.5\n",
            "cognigy_warden_superkey_expiration_timestamp_seconds 1800000900.5\n",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
