//! The `asset-audit` job (being built: see its issue). Until then a run fails clearly.

use super::{JobDeps, RunOutput};
use crate::config::JobConfig;
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the asset-audit job kind is not available in this build")]
    Unavailable,
}

pub async fn run(
    _deps: &JobDeps,
    _job: &str,
    _config: &JobConfig,
    _started: DateTime<Utc>,
) -> Result<RunOutput, AuditError> {
    Err(AuditError::Unavailable)
}

/// Sets `cognigy_warden_audit_findings` from a successful run's counts.
pub fn record_findings_metric(_metrics: &Metrics, _job: &str, _counts: &BTreeMap<String, u64>) {}
