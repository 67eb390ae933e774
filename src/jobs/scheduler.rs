//! The job wrapper around tokio-cron-scheduler.
//!
//! tokio-cron-scheduler fires activations and nothing more. This module adds what a job needs:
//! an overlap policy (`skip` or `queue-one`), a timeout per run, start jitter, `run_on_start`,
//! manual triggers, an in-memory history of the last runs, and a graceful shutdown.
//!
//! Timing: every enabled job keeps exactly one tokio-cron-scheduler *one-shot* job armed for its
//! next activation, computed by [`Schedule::next_after`]; when it fires, the next one is armed.
//! We do not hand the cron expression to tokio-cron-scheduler's own cron jobs because 0.15
//! freezes the timezone's UTC offset when a job is created (`time_offset_seconds`, used as a
//! `FixedOffset` for every later tick in its `scheduler.rs`): a job in `Europe/Berlin` would run
//! an hour off after the next DST change. It also parses with day-of-month AND day-of-week, unlike
//! cron. Arming one-shots keeps [`Schedule`] the single truth for when a job runs, and the
//! `next run` in [`Scheduler::status`] is exactly the armed instant. Its timer polls every 500 ms
//! with one-second resolution, which is what cron needs.
//!
//! Runs: each run executes in its own task (a panic becomes a `Failed` record), under a tracing
//! span `job_run{job=..., trigger=...}`, with a [`CancellationToken`] that fires on timeout or
//! shutdown before the run's future is dropped.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use rand::Rng;
use serde::{Serialize, Serializer};
use tokio::sync::watch;
use tokio_cron_scheduler::{Job as CronJob, JobScheduler};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::cron::Schedule;

/// What a run returns on failure: a message, with the error's sources joined by `: `.
///
/// Any `std::error::Error` converts into it, so runners can use `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError(String);

impl RunError {
    pub fn new(message: impl fmt::Display) -> Self {
        RunError(message.to_string())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for RunError {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            // thiserror messages often already include their source's text.
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        RunError(message)
    }
}

/// The future a [`JobRunner`] returns for one run.
pub type RunFuture = BoxFuture<'static, Result<RunReport, RunError>>;

/// The work of one job kind. `run` is called once per run, inside the run's own task.
pub trait JobRunner: Send + Sync + 'static {
    fn run(&self, ctx: RunContext) -> RunFuture;
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// A cron activation.
    Schedule,
    /// `run_on_start` at scheduler start.
    Startup,
    /// [`Scheduler::trigger`] (admin HTTP, `jobs run`).
    Manual,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Schedule => "schedule",
            Trigger::Startup => "startup",
            Trigger::Manual => "manual",
        })
    }
}

/// Handed to each run.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub job: String,
    pub trigger: Trigger,
    /// When the run started (after its jitter delay).
    pub started: DateTime<Utc>,
    /// Fires when the run times out or the scheduler shuts down; the run's future is dropped
    /// right after, so long steps should watch it to stop cleanly.
    pub cancel: CancellationToken,
}

/// What a successful run produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    pub run_id: Option<String>,
    pub report_path: Option<PathBuf>,
    /// Named counters, e.g. `projects`, `flows`, `findings`.
    pub counts: BTreeMap<String, u64>,
    pub warnings: Vec<String>,
}

/// What happens to an activation or trigger while the job is still running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// It is skipped.
    #[default]
    Skip,
    /// It waits and runs after the current run; at most one waits, further ones are skipped.
    QueueOne,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Overlap::Skip => "skip",
            Overlap::QueueOne => "queue-one",
        })
    }
}

impl FromStr for Overlap {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "skip" => Ok(Overlap::Skip),
            "queue-one" => Ok(Overlap::QueueOne),
            other => Err(format!(
                "unknown overlap policy {other:?}; use \"skip\" or \"queue-one\""
            )),
        }
    }
}

/// A configured job.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Unique name, used in URLs, metrics and report paths.
    pub name: String,
    /// The job kind (e.g. `flow-inventory`), shown in status.
    pub kind: String,
    pub schedule: Schedule,
    pub overlap: Overlap,
    /// Longest a run may take (must be non-zero).
    pub timeout: Duration,
    /// Each run starts after a random delay in `[0, jitter]`.
    pub jitter: Duration,
    pub run_on_start: bool,
    /// Disabled jobs are listed and can be triggered manually, but are never scheduled.
    pub enabled: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failed,
    TimedOut,
    Cancelled,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Success => "success",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Cancelled => "cancelled",
        })
    }
}

/// One finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// The run identifier handed out when the run was started or queued (see
    /// [`Scheduler::trigger_run`]); unrelated to the report's own `run_id`.
    pub id: String,
    pub job: String,
    pub trigger: Trigger,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    #[serde(rename = "duration_seconds", serialize_with = "serialize_seconds")]
    pub duration: Duration,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub report: Option<RunReport>,
}

fn serialize_seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Hooks for metrics and logs. Called from the scheduler's tasks; keep them quick.
pub trait JobObserver: Send + Sync {
    /// A run starts (after its jitter delay).
    fn run_started(&self, _job: &str) {}
    /// A run finished, whatever the outcome.
    fn run_finished(&self, _record: &RunRecord) {}
    /// An activation or trigger was skipped because of the overlap policy.
    fn run_skipped(&self, _job: &str) {}
}

/// An observer that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl JobObserver for NoopObserver {}

/// What [`Scheduler::trigger`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerResult {
    Started,
    Queued,
    Skipped,
}

/// What [`Scheduler::trigger_run`] did, with the identifier of the run it started or queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Triggered {
    pub result: TriggerResult,
    /// The run's identifier (it reappears as [`RunRecord::id`]); `None` when skipped.
    pub run_id: Option<String>,
}

/// A fresh, unique run identifier.
fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A job's state as shown by `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub name: String,
    pub kind: String,
    pub schedule: String,
    pub timezone: String,
    pub enabled: bool,
    pub overlap: Overlap,
    /// The armed next activation (`None` when disabled or shut down).
    pub next_run: Option<DateTime<Utc>>,
    /// When the current run was dispatched (its jitter delay counts as running).
    pub running_since: Option<DateTime<Utc>>,
    pub running_trigger: Option<Trigger>,
    /// Identifier of the run in progress.
    pub running_id: Option<String>,
    pub queued: bool,
    /// Identifier of the run waiting behind it (`queue-one`).
    pub queued_id: Option<String>,
    /// Activations and triggers skipped because of the overlap policy, since start.
    pub skipped_total: u64,
    pub last_skipped: Option<DateTime<Utc>>,
    /// Newest first.
    pub last_runs: Vec<RunRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("unknown job {name:?}; configured jobs: {known}")]
    UnknownJob { name: String, known: String },
    #[error("the scheduler is shutting down; job {name:?} was not started")]
    ShuttingDown { name: String },
    #[error("job name {name:?} is configured twice; job names must be unique")]
    DuplicateJob { name: String },
    #[error("job {name:?}: {reason}")]
    InvalidJob { name: String, reason: String },
    #[error("cannot start the cron timer (tokio-cron-scheduler): {0}")]
    Cron(#[from] tokio_cron_scheduler::JobSchedulerError),
}

/// Handle to the running scheduler. Clones share it.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field(
                "jobs",
                &self
                    .inner
                    .jobs
                    .iter()
                    .map(|j| &j.spec.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

struct Inner {
    jobs: Vec<JobEntry>,
    observer: Arc<dyn JobObserver>,
    history_len: usize,
    /// Set by `shutdown`: no run starts after it.
    stopping: AtomicBool,
    /// Stops the per-job timer drivers.
    stop_drivers: CancellationToken,
    /// Parent of every run's token; cancelled when the shutdown grace ends.
    cancel_runs: CancellationToken,
    /// Number of jobs with a run in progress (a queued run implies one in progress).
    active: watch::Sender<usize>,
    cron: JobScheduler,
}

struct JobEntry {
    spec: JobSpec,
    runner: Arc<dyn JobRunner>,
    state: Mutex<JobState>,
}

#[derive(Default)]
struct JobState {
    running: Option<Running>,
    queued: Option<(Trigger, String)>,
    next_run: Option<DateTime<Utc>>,
    skipped_total: u64,
    last_skipped: Option<DateTime<Utc>>,
    /// Newest at the back.
    history: VecDeque<RunRecord>,
    /// The job's timer driver ended abnormally (see [`Scheduler::stalled_jobs`]).
    driver_died: bool,
}

struct Running {
    id: String,
    since: DateTime<Utc>,
    trigger: Trigger,
}

impl JobEntry {
    fn state(&self) -> MutexGuard<'_, JobState> {
        // State updates never panic half-way, so a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs an observer hook; a panicking observer must not wedge the job's state.
fn observe(what: &str, hook: impl FnOnce()) {
    if std::panic::catch_unwind(AssertUnwindSafe(hook)).is_err() {
        tracing::error!(hook = what, "job observer panicked");
    }
}

impl Scheduler {
    /// Validates the jobs, starts the cron timer for the enabled ones and fires `run_on_start`.
    pub async fn start(
        jobs: Vec<(JobSpec, Arc<dyn JobRunner>)>,
        observer: Arc<dyn JobObserver>,
        history_len: usize,
    ) -> Result<Scheduler, SchedulerError> {
        let mut entries: Vec<JobEntry> = Vec::with_capacity(jobs.len());
        for (spec, runner) in jobs {
            if entries.iter().any(|e| e.spec.name == spec.name) {
                return Err(SchedulerError::DuplicateJob { name: spec.name });
            }
            if spec.name.trim().is_empty() {
                return Err(SchedulerError::InvalidJob {
                    name: spec.name,
                    reason: "the job name is empty; give every job a name".into(),
                });
            }
            if spec.timeout.is_zero() {
                return Err(SchedulerError::InvalidJob {
                    name: spec.name,
                    reason: "timeout is zero; set a timeout longer than a run takes".into(),
                });
            }
            entries.push(JobEntry {
                spec,
                runner,
                state: Mutex::new(JobState::default()),
            });
        }

        let cron = JobScheduler::new().await?;
        cron.start().await?;
        let (active, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            jobs: entries,
            observer,
            history_len,
            stopping: AtomicBool::new(false),
            stop_drivers: CancellationToken::new(),
            cancel_runs: CancellationToken::new(),
            active,
            cron,
        });

        for entry in &inner.jobs {
            if entry.spec.enabled {
                // Shown by `status` at once; the driver keeps it current.
                entry.state().next_run = entry.spec.schedule.next_after(Utc::now());
            }
        }
        for (index, entry) in inner.jobs.iter().enumerate() {
            if !entry.spec.enabled {
                tracing::info!(job = %entry.spec.name, "job is disabled; it runs only when triggered manually");
                continue;
            }
            if entry.spec.run_on_start {
                Inner::dispatch(&inner, index, Trigger::Startup);
            }
            tokio::spawn(Inner::drive(Arc::clone(&inner), index));
        }
        Ok(Scheduler { inner })
    }

    /// Starts a run of `job` now (disabled jobs too), subject to its overlap policy.
    pub fn trigger(&self, job: &str) -> Result<TriggerResult, SchedulerError> {
        self.trigger_run(job).map(|t| t.result)
    }

    /// Like [`Scheduler::trigger`], also naming the run that was started or queued.
    pub fn trigger_run(&self, job: &str) -> Result<Triggered, SchedulerError> {
        let index = self.inner.index_of(job)?;
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(SchedulerError::ShuttingDown { name: job.into() });
        }
        Ok(Inner::dispatch(&self.inner, index, Trigger::Manual))
    }

    /// Jobs whose cron timer no longer fires: an enabled job whose armed activation is more
    /// than `tolerance` in the past, or whose timer driver ended without a shutdown. Empty
    /// while healthy and after `shutdown`. For the liveness probe.
    pub fn stalled_jobs(&self, tolerance: Duration) -> Vec<String> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let overdue_before = chrono::Duration::from_std(tolerance)
            .ok()
            .and_then(|t| Utc::now().checked_sub_signed(t));
        self.inner
            .jobs
            .iter()
            .filter(|entry| {
                let state = entry.state();
                let overdue = match (state.next_run, overdue_before) {
                    (Some(next), Some(before)) => next < before,
                    _ => false,
                };
                state.driver_died || overdue
            })
            .map(|entry| entry.spec.name.clone())
            .collect()
    }

    /// Every job, in configuration order.
    pub fn status(&self) -> Vec<JobStatus> {
        let stopping = self.inner.stopping.load(Ordering::SeqCst);
        self.inner
            .jobs
            .iter()
            .map(|entry| {
                let spec = &entry.spec;
                let state = entry.state();
                JobStatus {
                    name: spec.name.clone(),
                    kind: spec.kind.clone(),
                    schedule: spec.schedule.expression().to_string(),
                    timezone: spec.schedule.timezone().name().to_string(),
                    enabled: spec.enabled,
                    overlap: spec.overlap,
                    next_run: if stopping { None } else { state.next_run },
                    running_since: state.running.as_ref().map(|r| r.since),
                    running_trigger: state.running.as_ref().map(|r| r.trigger),
                    running_id: state.running.as_ref().map(|r| r.id.clone()),
                    queued: state.queued.is_some(),
                    queued_id: state.queued.as_ref().map(|(_, id)| id.clone()),
                    skipped_total: state.skipped_total,
                    last_skipped: state.last_skipped,
                    last_runs: state.history.iter().rev().cloned().collect(),
                }
            })
            .collect()
    }

    /// The last runs of `job`, newest first (empty for an unknown job).
    pub fn history(&self, job: &str) -> Vec<RunRecord> {
        match self.inner.index_of(job) {
            Ok(index) => self.inner.jobs[index]
                .state()
                .history
                .iter()
                .rev()
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Names of all configured jobs, in configuration order.
    pub fn job_names(&self) -> Vec<String> {
        self.inner
            .jobs
            .iter()
            .map(|j| j.spec.name.clone())
            .collect()
    }

    /// Stops starting runs and drops queued ones; waits up to `grace` for running ones, then
    /// cancels them (their token fires, their future is dropped) and waits for them to wind
    /// down; then stops the cron timer. Calling it again is harmless.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.stopping.store(true, Ordering::SeqCst);
        inner.stop_drivers.cancel();
        for entry in &inner.jobs {
            let mut state = entry.state();
            state.next_run = None;
            if let Some((trigger, _)) = state.queued.take() {
                tracing::info!(job = %entry.spec.name, %trigger, "shutting down: dropping queued run");
            }
        }
        if tokio::time::timeout(grace, self.wait_idle()).await.is_err() {
            let running: Vec<&str> = inner
                .jobs
                .iter()
                .filter(|e| e.state().running.is_some())
                .map(|e| e.spec.name.as_str())
                .collect();
            tracing::warn!(
                ?running,
                grace_seconds = grace.as_secs_f64(),
                "shutdown grace period over: cancelling running jobs"
            );
            inner.cancel_runs.cancel();
            self.wait_idle().await;
        }
        let mut cron = inner.cron.clone();
        if let Err(e) = cron.shutdown().await {
            tracing::warn!(error = %e, "cannot stop the cron timer");
        }
    }

    /// Waits until no run is in progress or queued.
    pub async fn wait_idle(&self) {
        let mut active = self.inner.active.subscribe();
        // The sender lives in `inner`, which `self` keeps alive, so this cannot fail.
        let _ = active.wait_for(|n| *n == 0).await;
    }
}

impl Inner {
    fn index_of(&self, job: &str) -> Result<usize, SchedulerError> {
        self.jobs
            .iter()
            .position(|e| e.spec.name == job)
            .ok_or_else(|| SchedulerError::UnknownJob {
                name: job.into(),
                known: self
                    .jobs
                    .iter()
                    .map(|e| e.spec.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Starts, queues or skips a run of job `index` according to its overlap policy.
    fn dispatch(this: &Arc<Inner>, index: usize, trigger: Trigger) -> Triggered {
        let skipped = Triggered {
            result: TriggerResult::Skipped,
            run_id: None,
        };
        let entry = &this.jobs[index];
        let name = &entry.spec.name;
        let mut state = entry.state();
        if this.stopping.load(Ordering::SeqCst) {
            return skipped;
        }
        if let Some(running) = &state.running {
            let running_since = running.since;
            if entry.spec.overlap == Overlap::QueueOne && state.queued.is_none() {
                let id = new_run_id();
                state.queued = Some((trigger, id.clone()));
                tracing::info!(job = %name, %trigger, run = %id, %running_since, "job is running: run queued");
                return Triggered {
                    result: TriggerResult::Queued,
                    run_id: Some(id),
                };
            }
            state.skipped_total += 1;
            state.last_skipped = Some(Utc::now());
            drop(state);
            tracing::warn!(job = %name, %trigger, %running_since, overlap = %entry.spec.overlap, "job is still running: run skipped");
            observe("run_skipped", || this.observer.run_skipped(name));
            return skipped;
        }
        let id = new_run_id();
        state.running = Some(Running {
            id: id.clone(),
            since: Utc::now(),
            trigger,
        });
        drop(state);
        this.active.send_modify(|n| *n += 1);
        tokio::spawn(Inner::run_loop(
            Arc::clone(this),
            index,
            trigger,
            id.clone(),
        ));
        Triggered {
            result: TriggerResult::Started,
            run_id: Some(id),
        }
    }

    /// Runs job `index` once, then its queued run if any; leaves the job idle.
    async fn run_loop(this: Arc<Inner>, index: usize, first: Trigger, first_id: String) {
        let entry = &this.jobs[index];
        let mut trigger = first;
        let mut id = first_id;
        loop {
            let record = Inner::run_once(&this, entry, trigger, id).await;
            let next = {
                let mut state = entry.state();
                if this.history_len > 0 {
                    while state.history.len() >= this.history_len {
                        state.history.pop_front();
                    }
                    state.history.push_back(record.clone());
                }
                match state.queued.take() {
                    Some((queued, queued_id)) if !this.stopping.load(Ordering::SeqCst) => {
                        state.running = Some(Running {
                            id: queued_id.clone(),
                            since: Utc::now(),
                            trigger: queued,
                        });
                        Some((queued, queued_id))
                    }
                    _ => {
                        state.running = None;
                        None
                    }
                }
            };
            observe("run_finished", || this.observer.run_finished(&record));
            match next {
                Some((queued, queued_id)) => {
                    trigger = queued;
                    id = queued_id;
                }
                None => break,
            }
        }
        this.active.send_modify(|n| *n -= 1);
    }

    /// One run: jitter, then the runner in its own task, bounded by the timeout and shutdown.
    async fn run_once(
        this: &Arc<Inner>,
        entry: &JobEntry,
        trigger: Trigger,
        id: String,
    ) -> RunRecord {
        let spec = &entry.spec;
        let span = tracing::info_span!("job_run", job = %spec.name, %trigger);
        let cancel = this.cancel_runs.child_token();

        let jitter = if spec.jitter.is_zero() {
            Duration::ZERO
        } else {
            rand::thread_rng().gen_range(Duration::ZERO..=spec.jitter)
        };
        if !jitter.is_zero() {
            tracing::debug!(parent: &span, jitter_ms = jitter.as_millis() as u64, "waiting for start jitter");
            tokio::select! {
                () = tokio::time::sleep(jitter) => {}
                () = cancel.cancelled() => {
                    let now = Utc::now();
                    tracing::info!(parent: &span, "cancelled before it started");
                    return RunRecord {
                        id,
                        job: spec.name.clone(),
                        trigger,
                        started: now,
                        finished: now,
                        duration: Duration::ZERO,
                        outcome: Outcome::Cancelled,
                        error: Some("cancelled by shutdown before the run started".into()),
                        report: None,
                    };
                }
            }
        }

        let started = Utc::now();
        let clock = tokio::time::Instant::now();
        observe("run_started", || this.observer.run_started(&spec.name));
        tracing::info!(parent: &span, run = %id, "job run started");
        let ctx = RunContext {
            job: spec.name.clone(),
            trigger,
            started,
            cancel: cancel.clone(),
        };
        let runner = Arc::clone(&entry.runner);
        // `run` itself is called inside the task, so a panic there is contained too.
        let mut handle =
            tokio::spawn(async move { runner.run(ctx).await }.instrument(span.clone()));

        let (outcome, error, report) = tokio::select! {
            biased;
            joined = &mut handle => match joined {
                Ok(Ok(report)) => (Outcome::Success, None, Some(report)),
                Ok(Err(e)) => (Outcome::Failed, Some(e.to_string()), None),
                Err(e) if e.is_panic() => (Outcome::Failed, Some(format!("run panicked: {}", panic_message(e.into_panic()))), None),
                Err(_) => (Outcome::Cancelled, Some("run task was cancelled".into()), None),
            },
            () = tokio::time::sleep(spec.timeout) => {
                cancel.cancel();
                handle.abort();
                let _ = handle.await;
                (Outcome::TimedOut, Some(format!("timed out after {}", humantime::format_duration(spec.timeout))), None)
            }
            () = cancel.cancelled() => {
                handle.abort();
                let _ = handle.await;
                (Outcome::Cancelled, Some("cancelled by shutdown".into()), None)
            }
        };
        let duration = clock.elapsed();
        let finished = Utc::now();
        match (&outcome, &error) {
            (Outcome::Success, _) => {
                tracing::info!(parent: &span, run = %id, duration_ms = duration.as_millis() as u64, "job run succeeded")
            }
            (_, error) => tracing::warn!(
                parent: &span,
                run = %id,
                %outcome,
                error = error.as_deref().unwrap_or(""),
                duration_ms = duration.as_millis() as u64,
                "job run did not succeed"
            ),
        }
        RunRecord {
            id,
            job: spec.name.clone(),
            trigger,
            started,
            finished,
            duration,
            outcome,
            error,
            report,
        }
    }

    /// Keeps one tokio-cron-scheduler one-shot armed for the job's next activation and
    /// dispatches a `Schedule` run each time it fires, until shutdown.
    async fn drive(this: Arc<Inner>, index: usize) {
        let driven = AssertUnwindSafe(Inner::drive_until_stopped(&this, index))
            .catch_unwind()
            .await;
        let entry = &this.jobs[index];
        if let Err(panic) = driven {
            // Reported by the liveness probe through `stalled_jobs`.
            entry.state().driver_died = true;
            tracing::error!(job = %entry.spec.name, panic = %panic_message(panic), "the job's timer driver panicked; the job is no longer scheduled");
        }
        entry.state().next_run = None;
    }

    async fn drive_until_stopped(this: &Arc<Inner>, index: usize) {
        let entry = &this.jobs[index];
        let name = &entry.spec.name;
        while !this.stop_drivers.is_cancelled() {
            let now = Utc::now();
            let Some(next) = entry.spec.schedule.next_after(now) else {
                tracing::warn!(job = %name, schedule = %entry.spec.schedule, "schedule has no further activation; the job is no longer scheduled");
                return;
            };
            entry.state().next_run = Some(next);
            // The one-shot's deadline is `now` in whole seconds plus this many seconds, i.e.
            // exactly `next` (cron activations fall on whole seconds).
            let delay =
                Duration::from_secs(u64::try_from(next.timestamp() - now.timestamp()).unwrap_or(0));
            let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
            let fired_tx = Mutex::new(Some(fired_tx));
            let one_shot = CronJob::new_one_shot_async(delay, move |_id, _scheduler| {
                let tx = fired_tx.lock().unwrap_or_else(|e| e.into_inner()).take();
                Box::pin(async move {
                    if let Some(tx) = tx {
                        let _ = tx.send(());
                    }
                })
            });
            let armed = match one_shot {
                Ok(job) => this.cron.add(job).await,
                Err(e) => Err(e),
            };
            let id = match armed {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(job = %name, error = %e, "cannot arm the cron timer; retrying in 5 s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(5)) => continue,
                        () = this.stop_drivers.cancelled() => return,
                    }
                }
            };
            tracing::debug!(job = %name, next_run = %next, "armed next activation");
            tokio::select! {
                fired = fired_rx => {
                    if fired.is_err() {
                        // The timer dropped the job without firing it: expected only while
                        // shutting down; otherwise the timer is gone and `/livez` says so.
                        if !this.stop_drivers.is_cancelled() {
                            entry.state().driver_died = true;
                            tracing::error!(job = %name, "the cron timer dropped the job's next activation; the job is no longer scheduled");
                        }
                        return;
                    }
                }
                () = this.stop_drivers.cancelled() => {
                    let _ = this.cron.remove(&id).await;
                    return;
                }
            }
            Inner::dispatch(this, index, Trigger::Schedule);
        }
    }
}

/// The text of a panic payload (a `&str` or `String` message), for logs and probes.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Idle;

    impl JobRunner for Idle {
        fn run(&self, _ctx: RunContext) -> RunFuture {
            Box::pin(async { Ok(RunReport::default()) })
        }
    }

    /// Real time: the cron timer needs a second or two to show it no longer fires.
    #[tokio::test]
    async fn a_job_whose_cron_timer_no_longer_fires_is_reported_stalled() {
        let spec = JobSpec {
            name: "every-second".into(),
            kind: "test".into(),
            schedule: Schedule::parse("* * * * * *", chrono_tz::UTC).unwrap(),
            overlap: Overlap::Skip,
            timeout: Duration::from_secs(60),
            jitter: Duration::ZERO,
            run_on_start: false,
            enabled: true,
        };
        let sched = Scheduler::start(vec![(spec, Arc::new(Idle))], Arc::new(NoopObserver), 5)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        // Firing every second, it is never overdue by more than a poll interval.
        assert!(sched.stalled_jobs(Duration::from_secs(2)).is_empty());
        assert!(!sched.history("every-second").is_empty());
        // The timer stops under the scheduler's feet (not through `shutdown`).
        let mut cron = sched.inner.cron.clone();
        cron.shutdown().await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(8);
        while sched.stalled_jobs(Duration::from_secs(2)).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "a timer that no longer fires went unnoticed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            sched.stalled_jobs(Duration::from_secs(2)),
            vec!["every-second".to_string()]
        );
        // Once shut down on purpose, nothing is reported.
        sched.shutdown(Duration::from_secs(1)).await;
        assert!(sched.stalled_jobs(Duration::from_secs(2)).is_empty());
    }
}
