//! Kubernetes probes.
//!
//! - `/livez` answers 200 while the process's long-lived tasks are alive: the keeper task has
//!   not ended (unless it was told to stop) and no job's cron timer has stalled. A 503 here
//!   means "restart me": waiting will not fix it.
//! - `/readyz` answers 200 only while a usable Super API-Key is held and the daemon is not
//!   draining; otherwise 503 with a one-line reason. It starts at 503.

use super::AdminState;
use crate::superkey::KeyState;
use axum::extract::State;
use axum::http::StatusCode;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How far past its armed activation a job's timer may be before `/livez` calls it stalled.
/// The timer polls every 500 ms; anything near this means it no longer runs.
pub const TIMER_STALL_TOLERANCE: Duration = Duration::from_secs(120);

/// The long-lived tasks whose end makes the process unhealthy.
#[derive(Clone, Default)]
pub struct Liveness {
    /// Task name -> why it is dead.
    dead: Arc<Mutex<BTreeMap<&'static str, String>>>,
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Liveness")
            .field("dead", &self.dead_tasks())
            .finish()
    }
}

impl Liveness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `task` is dead.
    pub fn mark_dead(&self, task: &'static str, reason: impl Into<String>) {
        self.lock().insert(task, reason.into());
    }

    /// The dead tasks with their reasons (empty while healthy).
    pub fn dead_tasks(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .map(|(task, reason)| ((*task).to_string(), reason.clone()))
            .collect()
    }

    /// Watches `task`: if it ends before `stopping` is cancelled it is recorded as dead (and
    /// logged). Await the returned handle in place of `task`.
    pub fn watch(
        &self,
        name: &'static str,
        task: JoinHandle<()>,
        stopping: CancellationToken,
    ) -> JoinHandle<()> {
        let liveness = self.clone();
        tokio::spawn(async move {
            let ended = task.await;
            if stopping.is_cancelled() {
                return;
            }
            let reason = match ended {
                Ok(()) => "ended unexpectedly".to_string(),
                Err(e) if e.is_panic() => format!(
                    "panicked: {}",
                    crate::jobs::scheduler::panic_message(e.into_panic())
                ),
                Err(_) => "was cancelled".to_string(),
            };
            tracing::error!(
                task = name,
                reason = %reason,
                "a long-lived task ended; /livez now answers 503 so that the process is restarted"
            );
            liveness.mark_dead(name, reason);
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, String>> {
        // Inserts cannot panic half-way, so a poisoned map is still consistent.
        self.dead.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `Ok(())` when the daemon is ready, else the one-line reason `/readyz` answers.
pub fn readiness(key: &KeyState, draining: bool) -> Result<(), String> {
    if draining {
        return Err("shutting down".to_string());
    }
    if key.usable {
        return Ok(());
    }
    // `last_error` is kept after a success; only a failure since then explains the state.
    let failing = key
        .last_error
        .as_ref()
        .filter(|_| key.consecutive_failures > 0);
    match (failing, key.generation) {
        (Some(error), _) => Err(format!("no usable Super API-Key: {}", error.message)),
        (None, 0) => Err("starting: no Super API-Key yet".to_string()),
        (None, generation) => Err(format!(
            "no usable Super API-Key: key generation {generation} is past its end of use or was refused; a new one is being created"
        )),
    }
}

/// Why the process is not alive, if it is not.
pub(super) fn liveness_problem(state: &AdminState) -> Option<String> {
    let mut problems: Vec<String> = state
        .liveness
        .dead_tasks()
        .into_iter()
        .map(|(task, reason)| format!("task `{task}` {reason}"))
        .collect();
    let stalled = state.scheduler.stalled_jobs(TIMER_STALL_TOLERANCE);
    if !stalled.is_empty() {
        problems.push(format!(
            "the cron timer no longer fires for job(s) {}",
            stalled.join(", ")
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

pub(super) async fn livez(State(state): State<AdminState>) -> (StatusCode, String) {
    match liveness_problem(&state) {
        None => (StatusCode::OK, "ok\n".to_string()),
        Some(problem) => (StatusCode::SERVICE_UNAVAILABLE, format!("{problem}\n")),
    }
}

pub(super) async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    match readiness(&state.keys.state(), state.is_draining()) {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::superkey::KeyError;

    fn key(generation: u64, usable: bool, error: Option<&str>) -> KeyState {
        KeyState {
            generation,
            usable,
            created_at: None,
            expires_at: None,
            usable_until: None,
            next_rotation: None,
            consecutive_failures: u32::from(error.is_some()),
            rotations_succeeded: generation,
            rotations_failed: u64::from(error.is_some()),
            last_error: error.map(|m| KeyError {
                message: m.to_string(),
                status: Some(503),
                trace_id: None,
                at: "2026-01-01T00:00:00Z".to_string(),
            }),
            created_unix: 0.0,
            expires_unix: 0.0,
            next_rotation_unix: 0.0,
        }
    }

    #[test]
    fn readiness_names_the_reason() {
        assert_eq!(
            readiness(&key(0, false, None), false),
            Err("starting: no Super API-Key yet".to_string())
        );
        assert_eq!(
            readiness(&key(0, false, Some("management API answered 503")), false),
            Err("no usable Super API-Key: management API answered 503".to_string())
        );
        assert_eq!(readiness(&key(3, true, Some("old failure")), false), Ok(()));
        // A failure before the last success does not explain a lapse.
        let mut lapsed = key(3, false, Some("old failure"));
        lapsed.consecutive_failures = 0;
        assert!(
            readiness(&lapsed, false)
                .unwrap_err()
                .contains("past its end of use")
        );
        assert!(
            readiness(&key(3, false, None), false)
                .unwrap_err()
                .starts_with("no usable Super API-Key: key generation 3")
        );
        assert_eq!(
            readiness(&key(3, true, None), true),
            Err("shutting down".to_string())
        );
    }

    #[tokio::test]
    async fn a_watched_task_that_ends_before_its_stop_is_dead_and_one_told_to_stop_is_not() {
        let liveness = Liveness::new();
        let stop = CancellationToken::new();
        let crashed = liveness.watch(
            "keeper",
            tokio::spawn(async { panic!("boom") }),
            stop.clone(),
        );
        crashed.await.unwrap();
        assert_eq!(
            liveness.dead_tasks(),
            vec![("keeper".to_string(), "panicked: boom".to_string())]
        );

        let healthy = Liveness::new();
        let stop = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let watcher = healthy.watch(
            "keeper",
            tokio::spawn(async move {
                let _ = rx.await;
            }),
            stop.clone(),
        );
        stop.cancel();
        tx.send(()).unwrap();
        watcher.await.unwrap();
        assert!(healthy.dead_tasks().is_empty());
    }
}
