//! `/status` (JSON for people and scripts) and `/metrics` (OpenMetrics for Prometheus).

use super::AdminState;
use super::probes::{liveness_problem, readiness};
use crate::jobs::scheduler::JobStatus;
use crate::superkey::KeyState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `/status` answer. Never holds the key, the password or the trigger token.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub started_at: DateTime<Utc>,
    pub draining: bool,
    /// What `/readyz` answers: `ready` and, when not ready, the reason.
    pub ready: bool,
    pub not_ready_reason: Option<String>,
    /// What `/livez` answers: `live` and, when not live, the problem.
    pub live: bool,
    pub not_live_reason: Option<String>,
    pub superkey: KeyState,
    /// In configuration order.
    pub jobs: Vec<JobStatus>,
}

pub(super) fn snapshot(state: &AdminState) -> Status {
    let key = state.keys.state();
    let draining = state.is_draining();
    let not_ready_reason = readiness(&key, draining).err();
    let not_live_reason = liveness_problem(state);
    Status {
        version: env!("CARGO_PKG_VERSION"),
        started_at: state.started_at,
        draining,
        ready: not_ready_reason.is_none(),
        not_ready_reason,
        live: not_live_reason.is_none(),
        not_live_reason,
        superkey: key,
        jobs: state.scheduler.status(),
    }
}

pub(super) async fn status(State(state): State<AdminState>) -> Json<Status> {
    Json(snapshot(&state))
}

pub(super) async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    // The key gauges follow the key's state at scrape time: a key that lapsed in silence
    // shows as unusable without waiting for the keeper to act.
    state.metrics.set_key_state(&state.keys.state());
    (
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    )
}
