//! The keeper task: the only place that creates keys (single flight by construction).

use super::{
    ActiveKey, IssuedKey, KeeperSettings, KeyError, KeyHandle, KeySource, Progress, Shared,
};
use crate::cognigy::ApiError;
use crate::metrics::{Metrics, RotationLabels};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

/// Server and local clocks further apart than this earn a warning.
const SKEW_WARNING_SECS: i64 = 60;

/// Starts the keeper. It runs until `shutdown` is cancelled and never gives up on failures.
pub fn spawn(
    source: Arc<dyn KeySource>,
    settings: KeeperSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> (KeyHandle, JoinHandle<()>) {
    let (current, _) = watch::channel(None);
    let shared = Arc::new(Shared {
        current,
        progress: Mutex::new(Progress::default()),
        rejected: AtomicU64::new(0),
        rejection: Notify::new(),
    });
    let handle = KeyHandle::new(shared.clone());
    let keeper = Keeper {
        source,
        settings,
        metrics,
        shared,
        handle: handle.clone(),
        rng: StdRng::from_entropy(),
        generation: 0,
        log_gate: LogGate::default(),
    };
    let task = tokio::spawn(keeper.run(shutdown));
    (handle, task)
}

struct Keeper {
    source: Arc<dyn KeySource>,
    settings: KeeperSettings,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    handle: KeyHandle,
    rng: StdRng,
    generation: u64,
    log_gate: LogGate,
}

/// Why the keeper is about to create a key.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reason {
    Startup,
    Scheduled,
    Rejected,
    Retry,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::Scheduled => "scheduled",
            Reason::Rejected => "rejected",
            Reason::Retry => "retry",
        }
    }
}

impl Keeper {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut reason = Reason::Startup;
        let mut failures: u32 = 0;
        // Keys refused by the API one after another: the second and later refreshes back off
        // so that a misbehaving install cannot make us create keys in a tight loop.
        let mut rejections_in_row: u32 = 0;
        loop {
            let span = info_span!(
                "key_rotation",
                generation = self.generation + 1,
                reason = reason.as_str()
            );
            let sent_at = Instant::now();
            let sent_wall = SystemTime::now();
            let result = tokio::select! {
                r = self.source.create().instrument(span.clone()) => r,
                _ = shutdown.cancelled() => return,
            };
            let wait = match result {
                Ok(issued) => {
                    failures = 0;
                    let renew_in = self.settings.renew_after(&mut self.rng);
                    span.in_scope(|| self.install(issued, sent_at, sent_wall, renew_in));
                    WaitFor::Renewal(sent_at + renew_in)
                }
                Err(err) => {
                    failures += 1;
                    let delay = self.settings.backoff(failures, &mut self.rng);
                    span.in_scope(|| self.record_failure(&err, failures, delay));
                    WaitFor::Retry(Instant::now() + delay)
                }
            };
            reason = match wait {
                WaitFor::Renewal(at) => {
                    let generation = self.generation;
                    tokio::select! {
                        _ = sleep_until(at) => { rejections_in_row = 0; Reason::Scheduled }
                        _ = self.rejected(generation) => {
                            rejections_in_row += 1;
                            warn!(generation, "the API refused the current Super API-Key; creating a new one");
                            if rejections_in_row > 1 {
                                let delay = self.settings.backoff(rejections_in_row - 1, &mut self.rng);
                                tokio::select! {
                                    _ = tokio::time::sleep(delay) => {}
                                    _ = shutdown.cancelled() => return,
                                }
                            }
                            Reason::Rejected
                        }
                        _ = shutdown.cancelled() => return,
                    }
                }
                WaitFor::Retry(at) => {
                    self.wait_retry(at, &shutdown).await;
                    if shutdown.is_cancelled() {
                        return;
                    }
                    Reason::Retry
                }
            };
        }
    }

    /// Waits for a rejection report about `generation`.
    async fn rejected(&self, generation: u64) {
        loop {
            let notified = self.shared.rejection.notified();
            if self.shared.rejected.load(Ordering::Acquire) >= generation {
                return;
            }
            notified.await;
        }
    }

    /// Sleeps until `at`, logging once if the held key stops being usable meanwhile.
    async fn wait_retry(&self, at: Instant, shutdown: &CancellationToken) {
        let lapse = self
            .shared
            .current
            .borrow()
            .as_ref()
            .map(|k| k.usable_until)
            .filter(|u| *u > Instant::now() && *u < at);
        if let Some(lapse) = lapse {
            tokio::select! {
                _ = sleep_until(lapse) => {
                    error!(generation = self.generation, "no usable Super API-Key: the last one reached its end of use and no new one could be created yet; requests wait");
                }
                _ = shutdown.cancelled() => return,
            }
        }
        tokio::select! {
            _ = sleep_until(at) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    fn install(
        &mut self,
        issued: IssuedKey,
        sent_at: Instant,
        sent_wall: SystemTime,
        renew_in: Duration,
    ) {
        self.generation += 1;
        let generation = self.generation;
        let ttl = self.settings.ttl;
        let usable_for = self.settings.usable_for();
        let active = ActiveKey {
            generation,
            key: issued.key,
            usable_until: sent_at + usable_for,
            created_wall: sent_wall,
            usable_until_wall: sent_wall + usable_for,
            expires_wall: sent_wall + ttl,
        };
        // The key gauges are derived from `KeyHandle::state()` at scrape time
        // (`Metrics::set_key_state`); only the rotation counter is recorded here.
        self.metrics
            .superkey_rotations
            .get_or_create(&RotationLabels { result: "success" })
            .inc();
        {
            let mut p = self.progress();
            p.consecutive_failures = 0;
            p.rotations_succeeded += 1;
            p.next_rotation = Some(sent_wall + renew_in);
        }
        self.shared.current.send_replace(Some(Arc::new(active)));
        self.log_gate = LogGate::default();
        info!(
            generation,
            expires_in_s = ttl.as_secs(),
            next_rotation_in_s = renew_in.as_secs(),
            "Super API-Key created"
        );
        if let Some(created) = issued.server_created_at {
            let local = super::unix(SystemTime::now()) as i64;
            let skew = created - local;
            if skew.abs() > SKEW_WARNING_SECS {
                warn!(
                    skew_s = skew,
                    "the Cognigy server's clock and this host's clock differ by more than {SKEW_WARNING_SECS} s; \
                     key lifetimes are counted on this host's monotonic clock, but check NTP on both sides"
                );
            }
        }
    }

    fn record_failure(&mut self, err: &ApiError, failures: u32, delay: Duration) {
        self.metrics
            .superkey_rotations
            .get_or_create(&RotationLabels { result: "failure" })
            .inc();
        {
            let mut p = self.progress();
            p.consecutive_failures = failures;
            p.rotations_failed += 1;
            p.next_rotation = Some(SystemTime::now() + delay);
            p.last_error = Some(KeyError {
                message: err.to_string(),
                status: err.status(),
                trace_id: err.trace_id().map(str::to_owned),
                at: super::rfc3339(SystemTime::now()),
            });
        }
        let usable = self.handle.is_usable();
        if let Some(suppressed) = self.log_gate.admit(self.settings.backoff_max) {
            error!(
                error = %err,
                trace_id = err.trace_id(),
                consecutive_failures = failures,
                retry_in_ms = delay.as_millis() as u64,
                still_usable = usable,
                suppressed_since_last_log = suppressed,
                "cannot create a Super API-Key; retrying"
            );
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.shared
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

enum WaitFor {
    Renewal(Instant),
    Retry(Instant),
}

/// Rate limit for repeated failure logs: the first failure always logs, then at most one line
/// per interval, counting what was left out.
#[derive(Default)]
struct LogGate {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogGate {
    fn admit(&mut self, interval: Duration) -> Option<u64> {
        let now = Instant::now();
        let interval = interval.max(Duration::from_secs(10));
        match self.last {
            Some(last) if now.duration_since(last) < interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}
