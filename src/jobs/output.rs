//! What every job run writes and returns: `summary.json` and the run's outcome.

use crate::cognigy::StatsSnapshot;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const SUMMARY_FILE: &str = "summary.json";

/// The result of a successful run, handed to the scheduler.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub run_id: String,
    pub path: PathBuf,
    pub counts: BTreeMap<String, u64>,
    pub warnings: Vec<String>,
    pub stats: StatsSnapshot,
}

/// `summary.json` of a complete run (a failed run has no directory, hence no summary).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub job: String,
    pub kind: String,
    pub run_id: String,
    pub started: String,
    pub finished: String,
    pub duration_s: f64,
    pub outcome: &'static str,
    pub counts: BTreeMap<String, u64>,
    pub requests: u64,
    pub retries: u64,
    /// New keys that took over while the run was going (keys used - 1).
    pub key_rotations: u64,
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub details: BTreeMap<String, serde_json::Value>,
}

impl RunSummary {
    pub fn new(
        job: &str,
        kind: &str,
        run_id: &str,
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
        stats: StatsSnapshot,
    ) -> Self {
        let duration = (finished - started).num_milliseconds().max(0) as f64 / 1000.0;
        RunSummary {
            job: job.to_string(),
            kind: kind.to_string(),
            run_id: run_id.to_string(),
            started: rfc3339(started),
            finished: rfc3339(finished),
            duration_s: duration,
            outcome: "success",
            counts: BTreeMap::new(),
            requests: stats.requests,
            retries: stats.retries,
            key_rotations: stats.keys_used.saturating_sub(1),
            warnings: Vec::new(),
            details: BTreeMap::new(),
        }
    }

    pub fn with_counts(mut self, counts: BTreeMap<String, u64>) -> Self {
        self.counts = counts;
        self
    }

    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    /// Adds a job-specific section (e.g. `per_project`).
    pub fn with_detail(mut self, name: &str, value: &impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.details.insert(name.to_string(), value);
        self
    }
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
