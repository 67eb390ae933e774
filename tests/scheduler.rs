//! The job scheduler: overlap, timeout, jitter, run_on_start, panics, history, shutdown.
//!
//! All tests but the last run on paused tokio time and start runs with `trigger`; their jobs
//! are scheduled for 1 January (`0 0 0 1 1 *`) so the cron timer stays out of the way. The last
//! test waits for one real cron activation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cognigy_warden::jobs::cron::Schedule;
use cognigy_warden::jobs::scheduler::{
    JobObserver, JobRunner, JobSpec, NoopObserver, Outcome, Overlap, RunContext, RunError,
    RunFuture, RunRecord, RunReport, Scheduler, SchedulerError, Trigger, TriggerResult,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const YEARLY: &str = "0 0 0 1 1 *";

fn spec(name: &str) -> JobSpec {
    JobSpec {
        name: name.to_string(),
        kind: "test".to_string(),
        schedule: Schedule::parse(YEARLY, chrono_tz::UTC).expect("valid schedule"),
        overlap: Overlap::Skip,
        timeout: Duration::from_secs(3600),
        jitter: Duration::ZERO,
        run_on_start: false,
        enabled: true,
    }
}

/// What a [`SleepRunner`] saw.
#[derive(Default)]
struct RunLog {
    calls: AtomicUsize,
    completed: AtomicUsize,
    /// Runs whose future was dropped before it finished.
    dropped_unfinished: AtomicUsize,
    started_at: Mutex<Vec<Instant>>,
    triggers: Mutex<Vec<Trigger>>,
    tokens: Mutex<Vec<CancellationToken>>,
}

/// Counts a run's future as dropped unless it finished.
struct DropProbe {
    log: Arc<RunLog>,
    finished: bool,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        if !self.finished {
            self.log.dropped_unfinished.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Sleeps for `sleep`, then succeeds with `counts.call` = its call number.
struct SleepRunner {
    sleep: Duration,
    log: Arc<RunLog>,
}

impl SleepRunner {
    fn new(sleep: Duration) -> (Arc<Self>, Arc<RunLog>) {
        let log = Arc::new(RunLog::default());
        (
            Arc::new(SleepRunner {
                sleep,
                log: Arc::clone(&log),
            }),
            log,
        )
    }
}

impl JobRunner for SleepRunner {
    fn run(&self, ctx: RunContext) -> RunFuture {
        let log = Arc::clone(&self.log);
        let call = log.calls.fetch_add(1, Ordering::SeqCst) + 1;
        log.started_at.lock().unwrap().push(Instant::now());
        log.triggers.lock().unwrap().push(ctx.trigger);
        log.tokens.lock().unwrap().push(ctx.cancel.clone());
        let sleep = self.sleep;
        Box::pin(async move {
            let mut probe = DropProbe {
                log: Arc::clone(&log),
                finished: false,
            };
            tokio::time::sleep(sleep).await;
            probe.finished = true;
            log.completed.fetch_add(1, Ordering::SeqCst);
            let mut report = RunReport::default();
            report.counts.insert("call".into(), call as u64);
            Ok(report)
        })
    }
}

#[derive(Default)]
struct RecordingObserver {
    started: Mutex<Vec<String>>,
    finished: Mutex<Vec<RunRecord>>,
    skipped: Mutex<Vec<String>>,
}

impl JobObserver for RecordingObserver {
    fn run_started(&self, job: &str) {
        self.started.lock().unwrap().push(job.to_string());
    }
    fn run_finished(&self, record: &RunRecord) {
        self.finished.lock().unwrap().push(record.clone());
    }
    fn run_skipped(&self, job: &str) {
        self.skipped.lock().unwrap().push(job.to_string());
    }
}

async fn start(
    jobs: Vec<(JobSpec, Arc<dyn JobRunner>)>,
    observer: Arc<dyn JobObserver>,
) -> Scheduler {
    Scheduler::start(jobs, observer, 10)
        .await
        .expect("scheduler starts")
}

#[tokio::test(start_paused = true)]
async fn skip_policy_skips_triggers_while_running() {
    let (runner, log) = SleepRunner::new(Duration::from_secs(10));
    let observer = Arc::new(RecordingObserver::default());
    let sched = start(vec![(spec("audit"), runner)], observer.clone()).await;

    assert_eq!(sched.trigger("audit").unwrap(), TriggerResult::Started);
    assert_eq!(sched.trigger("audit").unwrap(), TriggerResult::Skipped);
    assert_eq!(sched.trigger("audit").unwrap(), TriggerResult::Skipped);
    let status = &sched.status()[0];
    assert!(status.running_since.is_some());
    assert_eq!(status.running_trigger, Some(Trigger::Manual));
    assert!(!status.queued);
    assert_eq!(status.skipped_total, 2);
    assert!(status.last_skipped.is_some());
    assert_eq!(*observer.skipped.lock().unwrap(), vec!["audit", "audit"]);

    sched.wait_idle().await;
    assert_eq!(log.calls.load(Ordering::SeqCst), 1);
    assert_eq!(log.completed.load(Ordering::SeqCst), 1);
    let history = sched.history("audit");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, Outcome::Success);
    assert_eq!(history[0].duration, Duration::from_secs(10));
    assert_eq!(sched.status()[0].running_since, None);

    // Once idle, a trigger starts a run again.
    assert_eq!(sched.trigger("audit").unwrap(), TriggerResult::Started);
    sched.wait_idle().await;
    assert_eq!(sched.history("audit").len(), 2);
    assert_eq!(observer.finished.lock().unwrap().len(), 2);
    assert_eq!(*observer.started.lock().unwrap(), vec!["audit", "audit"]);
}

#[tokio::test(start_paused = true)]
async fn queue_one_runs_one_waiting_run_after_the_current_one() {
    let (runner, log) = SleepRunner::new(Duration::from_secs(10));
    let observer = Arc::new(RecordingObserver::default());
    let job = JobSpec {
        overlap: Overlap::QueueOne,
        ..spec("inventory")
    };
    let sched = start(vec![(job, runner)], observer.clone()).await;

    assert_eq!(sched.trigger("inventory").unwrap(), TriggerResult::Started);
    assert_eq!(sched.trigger("inventory").unwrap(), TriggerResult::Queued);
    assert_eq!(sched.trigger("inventory").unwrap(), TriggerResult::Skipped);
    assert_eq!(sched.trigger("inventory").unwrap(), TriggerResult::Skipped);
    let status = &sched.status()[0];
    assert!(status.queued);
    assert_eq!(status.skipped_total, 2);
    assert_eq!(observer.skipped.lock().unwrap().len(), 2);

    sched.wait_idle().await;
    assert_eq!(
        log.calls.load(Ordering::SeqCst),
        2,
        "the queued run ran, the skipped ones not"
    );
    let started = log.started_at.lock().unwrap().clone();
    assert!(
        started[1] - started[0] >= Duration::from_secs(10),
        "the queued run starts after the first finished"
    );
    let history = sched.history("inventory");
    assert_eq!(history.len(), 2);
    // Newest first.
    assert_eq!(history[0].report.as_ref().unwrap().counts["call"], 2);
    assert_eq!(history[1].report.as_ref().unwrap().counts["call"], 1);
    assert!(history.iter().all(|r| r.outcome == Outcome::Success));
    assert!(!sched.status()[0].queued);
}

#[tokio::test(start_paused = true)]
async fn a_run_past_its_timeout_is_cancelled_and_recorded_as_timed_out() {
    let (runner, log) = SleepRunner::new(Duration::from_secs(3600));
    let job = JobSpec {
        timeout: Duration::from_secs(30),
        ..spec("slow")
    };
    let sched = start(vec![(job, runner)], Arc::new(NoopObserver)).await;
    let t0 = Instant::now();
    sched.trigger("slow").unwrap();
    sched.wait_idle().await;

    assert_eq!(t0.elapsed(), Duration::from_secs(30));
    let record = &sched.history("slow")[0];
    assert_eq!(record.outcome, Outcome::TimedOut);
    assert_eq!(record.error.as_deref(), Some("timed out after 30s"));
    assert!(record.report.is_none());
    assert_eq!(record.duration, Duration::from_secs(30));
    let tokens = log.tokens.lock().unwrap().clone();
    assert!(tokens[0].is_cancelled(), "the run's cancel token fired");
    assert_eq!(
        log.dropped_unfinished.load(Ordering::SeqCst),
        1,
        "the run's future was dropped"
    );
    assert_eq!(log.completed.load(Ordering::SeqCst), 0);
}

/// Panics on its first call, fails on its second, succeeds after.
struct FlakyRunner {
    calls: AtomicUsize,
}

impl JobRunner for FlakyRunner {
    fn run(&self, _ctx: RunContext) -> RunFuture {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match call {
                1 => panic!("flow list was not an array"),
                2 => Err(RunError::from(std::io::Error::other("sandbox unreachable"))),
                _ => Ok(RunReport::default()),
            }
        })
    }
}

/// Panics before returning a future at all.
struct PanicBeforeFuture;

impl JobRunner for PanicBeforeFuture {
    fn run(&self, _ctx: RunContext) -> RunFuture {
        panic!("runner set-up failed")
    }
}

#[tokio::test(start_paused = true)]
async fn panics_and_failures_are_recorded_and_do_not_stop_the_scheduler() {
    let (steady, steady_log) = SleepRunner::new(Duration::from_secs(5));
    let sched = start(
        vec![
            (
                spec("flaky"),
                Arc::new(FlakyRunner {
                    calls: AtomicUsize::new(0),
                }),
            ),
            (spec("broken"), Arc::new(PanicBeforeFuture)),
            (spec("steady"), steady),
        ],
        Arc::new(NoopObserver),
    )
    .await;

    sched.trigger("steady").unwrap();
    sched.trigger("flaky").unwrap();
    sched.trigger("broken").unwrap();
    sched.wait_idle().await;
    let panicked = &sched.history("flaky")[0];
    assert_eq!(panicked.outcome, Outcome::Failed);
    assert_eq!(
        panicked.error.as_deref(),
        Some("run panicked: flow list was not an array")
    );
    let broken = &sched.history("broken")[0];
    assert_eq!(broken.outcome, Outcome::Failed);
    assert_eq!(
        broken.error.as_deref(),
        Some("run panicked: runner set-up failed")
    );
    assert_eq!(sched.history("steady")[0].outcome, Outcome::Success);
    assert_eq!(steady_log.completed.load(Ordering::SeqCst), 1);

    // The job can run again after a panic.
    assert_eq!(sched.trigger("flaky").unwrap(), TriggerResult::Started);
    sched.wait_idle().await;
    let failed = &sched.history("flaky")[0];
    assert_eq!(failed.outcome, Outcome::Failed);
    assert_eq!(failed.error.as_deref(), Some("sandbox unreachable"));

    assert_eq!(sched.trigger("flaky").unwrap(), TriggerResult::Started);
    sched.wait_idle().await;
    assert_eq!(sched.history("flaky")[0].outcome, Outcome::Success);
    assert_eq!(sched.history("flaky").len(), 3);
    assert_eq!(sched.trigger("broken").unwrap(), TriggerResult::Started);
    sched.wait_idle().await;
    assert_eq!(sched.history("broken").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn jitter_delays_the_start_and_counts_as_running() {
    let (runner, log) = SleepRunner::new(Duration::ZERO);
    let observer = Arc::new(RecordingObserver::default());
    let jitter = Duration::from_secs(60);
    let job = JobSpec {
        jitter,
        ..spec("jittery")
    };
    let sched = start(vec![(job, runner)], observer.clone()).await;

    let mut delays = Vec::new();
    for i in 0..20 {
        let dispatched = Instant::now();
        assert_eq!(sched.trigger("jittery").unwrap(), TriggerResult::Started);
        // Waiting for the jitter counts as running: an overlapping trigger is skipped.
        assert_eq!(sched.trigger("jittery").unwrap(), TriggerResult::Skipped);
        assert!(sched.status()[0].running_since.is_some());
        sched.wait_idle().await;
        let started = log.started_at.lock().unwrap()[i];
        delays.push(started - dispatched);
    }
    assert!(delays.iter().all(|d| *d <= jitter), "{delays:?}");
    assert!(
        delays.iter().any(|d| *d != delays[0]),
        "delays are random: {delays:?}"
    );
    assert_eq!(observer.skipped.lock().unwrap().len(), 20);
    assert_eq!(observer.started.lock().unwrap().len(), 20);
}

#[tokio::test(start_paused = true)]
async fn run_on_start_fires_once_for_enabled_jobs_only() {
    let (on_start, on_start_log) = SleepRunner::new(Duration::from_secs(1));
    let (plain, plain_log) = SleepRunner::new(Duration::from_secs(1));
    let (disabled, disabled_log) = SleepRunner::new(Duration::from_secs(1));
    let sched = start(
        vec![
            (
                JobSpec {
                    run_on_start: true,
                    ..spec("on-start")
                },
                on_start,
            ),
            (spec("plain"), plain),
            (
                JobSpec {
                    run_on_start: true,
                    enabled: false,
                    ..spec("disabled")
                },
                disabled,
            ),
        ],
        Arc::new(NoopObserver),
    )
    .await;
    sched.wait_idle().await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    sched.wait_idle().await;

    assert_eq!(
        *on_start_log.triggers.lock().unwrap(),
        vec![Trigger::Startup]
    );
    assert_eq!(plain_log.calls.load(Ordering::SeqCst), 0);
    assert_eq!(disabled_log.calls.load(Ordering::SeqCst), 0);
    let history = sched.history("on-start");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].trigger, Trigger::Startup);
}

#[tokio::test(start_paused = true)]
async fn disabled_jobs_are_listed_unscheduled_and_can_be_triggered() {
    let (runner, log) = SleepRunner::new(Duration::from_secs(1));
    let (enabled, _) = SleepRunner::new(Duration::from_secs(1));
    let sched = start(
        vec![
            (
                JobSpec {
                    enabled: false,
                    kind: "asset-audit".into(),
                    ..spec("off")
                },
                runner,
            ),
            (spec("on"), enabled),
        ],
        Arc::new(NoopObserver),
    )
    .await;

    let status = sched.status();
    assert_eq!(status.len(), 2);
    assert_eq!(status[0].name, "off");
    assert_eq!(status[0].kind, "asset-audit");
    assert_eq!(status[0].schedule, YEARLY);
    assert_eq!(status[0].timezone, "UTC");
    assert!(!status[0].enabled);
    assert_eq!(status[0].next_run, None);
    assert!(status[1].enabled);
    let next = status[1].next_run.expect("enabled job has a next run");
    assert_eq!(next.format("%m-%d %H:%M:%S").to_string(), "01-01 00:00:00");

    assert_eq!(sched.trigger("off").unwrap(), TriggerResult::Started);
    sched.wait_idle().await;
    assert_eq!(*log.triggers.lock().unwrap(), vec![Trigger::Manual]);
    assert_eq!(sched.status()[0].last_runs[0].trigger, Trigger::Manual);
}

#[tokio::test(start_paused = true)]
async fn history_keeps_the_last_runs_newest_first() {
    let (runner, _) = SleepRunner::new(Duration::from_secs(1));
    let sched = Scheduler::start(vec![(spec("audit"), runner)], Arc::new(NoopObserver), 3)
        .await
        .unwrap();
    for _ in 0..5 {
        sched.trigger("audit").unwrap();
        sched.wait_idle().await;
    }
    let calls: Vec<u64> = sched
        .history("audit")
        .iter()
        .map(|r| r.report.as_ref().unwrap().counts["call"])
        .collect();
    assert_eq!(calls, vec![5, 4, 3]);
    assert_eq!(sched.status()[0].last_runs.len(), 3);
    let json = serde_json::to_value(&sched.history("audit")[0]).unwrap();
    assert_eq!(json["outcome"], "success");
    assert_eq!(json["trigger"], "manual");
    assert_eq!(json["duration_seconds"], 1.0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_short_runs_and_cancels_long_ones_after_the_grace() {
    let (short, short_log) = SleepRunner::new(Duration::from_secs(2));
    let (long, long_log) = SleepRunner::new(Duration::from_secs(3600));
    let observer = Arc::new(RecordingObserver::default());
    let sched = start(
        vec![(spec("short"), short), (spec("long"), long)],
        observer.clone(),
    )
    .await;
    sched.trigger("short").unwrap();
    sched.trigger("long").unwrap();

    let t0 = Instant::now();
    sched.shutdown(Duration::from_secs(10)).await;
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(10),
        "waited the grace, no longer"
    );

    assert_eq!(sched.history("short")[0].outcome, Outcome::Success);
    assert_eq!(short_log.completed.load(Ordering::SeqCst), 1);
    let long_record = &sched.history("long")[0];
    assert_eq!(long_record.outcome, Outcome::Cancelled);
    assert!(long_log.tokens.lock().unwrap()[0].is_cancelled());
    assert_eq!(long_log.dropped_unfinished.load(Ordering::SeqCst), 1);
    assert_eq!(short_log.dropped_unfinished.load(Ordering::SeqCst), 0);
    assert_eq!(observer.finished.lock().unwrap().len(), 2);

    // No run starts after shutdown; the next run is no longer shown.
    assert!(matches!(
        sched.trigger("short"),
        Err(SchedulerError::ShuttingDown { .. })
    ));
    assert!(sched.status().iter().all(|s| s.next_run.is_none()));
    // A second shutdown returns at once.
    sched.shutdown(Duration::from_secs(10)).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_at_once_when_idle_and_drops_queued_runs() {
    let (runner, log) = SleepRunner::new(Duration::from_secs(5));
    let job = JobSpec {
        overlap: Overlap::QueueOne,
        ..spec("queued")
    };
    let sched = start(vec![(job, runner)], Arc::new(NoopObserver)).await;
    sched.trigger("queued").unwrap();
    assert_eq!(sched.trigger("queued").unwrap(), TriggerResult::Queued);
    let t0 = Instant::now();
    sched.shutdown(Duration::from_secs(60)).await;
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(5),
        "waited for the running run only"
    );
    assert_eq!(
        log.calls.load(Ordering::SeqCst),
        1,
        "the queued run was dropped"
    );
    assert!(!sched.status()[0].queued);
}

#[tokio::test(start_paused = true)]
async fn unknown_and_duplicate_jobs_are_errors() {
    let (a, _) = SleepRunner::new(Duration::ZERO);
    let (b, _) = SleepRunner::new(Duration::ZERO);
    let sched = start(
        vec![(spec("inventory"), a.clone()), (spec("audit"), b)],
        Arc::new(NoopObserver),
    )
    .await;
    let err = sched.trigger("nope").unwrap_err();
    assert!(matches!(err, SchedulerError::UnknownJob { .. }));
    assert_eq!(
        err.to_string(),
        "unknown job \"nope\"; configured jobs: inventory, audit"
    );
    assert!(sched.history("nope").is_empty());

    let err = Scheduler::start(
        vec![(spec("x"), a.clone()), (spec("x"), a.clone())],
        Arc::new(NoopObserver),
        5,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SchedulerError::DuplicateJob { .. }), "{err}");
    let err = Scheduler::start(
        vec![(
            JobSpec {
                timeout: Duration::ZERO,
                ..spec("y")
            },
            a,
        )],
        Arc::new(NoopObserver),
        5,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("timeout"), "{err}");
}

/// A `MakeWriter` that appends everything to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct LoggingRunner;

impl JobRunner for LoggingRunner {
    fn run(&self, _ctx: RunContext) -> RunFuture {
        Box::pin(async {
            tracing::info!("listing projects");
            Ok(RunReport::default())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn runs_log_inside_a_job_run_span() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded, so a thread-local subscriber sees every task.
    let _guard = tracing::subscriber::set_default(subscriber);

    let sched = start(
        vec![(spec("traced"), Arc::new(LoggingRunner))],
        Arc::new(NoopObserver),
    )
    .await;
    sched.trigger("traced").unwrap();
    sched.wait_idle().await;

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = output
        .lines()
        .find(|l| l.contains("listing projects"))
        .unwrap_or_else(|| panic!("runner's event missing in:\n{output}"));
    assert!(
        line.contains("job_run{job=traced trigger=manual}"),
        "{line}"
    );
    assert!(
        output
            .lines()
            .any(|l| l.contains("job_run{job=traced trigger=manual}")
                && l.contains("job run succeeded")),
        "{output}"
    );
}

/// The only real-time test: the cron timer fires an every-second schedule.
#[tokio::test]
async fn a_cron_activation_starts_a_scheduled_run() {
    let (runner, log) = SleepRunner::new(Duration::ZERO);
    let observer = Arc::new(RecordingObserver::default());
    let job = JobSpec {
        schedule: Schedule::parse("*/1 * * * * *", chrono_tz::Europe::Berlin).unwrap(),
        ..spec("every-second")
    };
    let before = chrono::Utc::now();
    let sched = start(vec![(job, runner)], observer.clone()).await;
    let next = sched.status()[0].next_run.expect("armed");
    assert!(
        next > before && next - before <= chrono::Duration::seconds(2),
        "{next}"
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    while log.calls.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no cron activation within 4 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sched.shutdown(Duration::from_secs(5)).await;
    let triggers = log.triggers.lock().unwrap().clone();
    assert_eq!(triggers[0], Trigger::Schedule);
    let history = sched.history("every-second");
    assert!(
        history
            .iter()
            .all(|r| r.trigger == Trigger::Schedule && r.outcome == Outcome::Success)
    );
    assert!(!history.is_empty());
    assert!(
        history.last().unwrap().started >= next,
        "not before the armed time: {next} {history:?}"
    );
}
