//! Cron scheduling ([`cron`], [`scheduler`]) and the organisation-wide jobs it runs
//! ([`flows`]; the asset audit in [`audit`]). This module turns the `[jobs.*]` configuration
//! into scheduled runners and records their runs in the metrics.

pub mod audit;
pub mod cron;
pub mod flows;
pub mod output;
pub mod scheduler;

pub use output::RunOutput;
pub use scheduler::Scheduler;

use crate::cognigy::{Api, Management};
use crate::config::{Config, JobConfig, JobKind, Severity};
use crate::metrics::{JobLabels, JobOutcomeLabels, Metrics};
use crate::report::ReportRoot;
use scheduler::{
    JobObserver, JobRunner, JobSpec, Outcome, RunContext, RunError, RunFuture, RunRecord,
    RunReport, SchedulerError,
};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Runs kept in memory per job (shown by `/status`).
const HISTORY_LEN: usize = 20;

/// What every job needs.
#[derive(Clone)]
pub struct JobDeps {
    pub api: Api,
    pub management: Arc<Management>,
    /// `cognigy.organisation_id` when configured (else the only organisation is used).
    pub organisation_id: Option<String>,
    pub reports: ReportRoot,
    pub max_in_flight: usize,
    pub metrics: Arc<Metrics>,
}

/// One configured job, ready to run.
struct Runner {
    name: String,
    job: JobConfig,
    deps: JobDeps,
}

impl Runner {
    async fn execute(&self, ctx: RunContext) -> Result<RunOutput, RunError> {
        // Jobs wait for a usable key rather than fail at start-up (bounded by the job timeout).
        let keys = self.deps.api.keys().clone();
        tokio::select! {
            _ = keys.lease() => {}
            _ = ctx.cancel.cancelled() => return Err(RunError::new("cancelled while waiting for a Super API-Key")),
        }
        // Flow pages are fetched for several projects at once; the client's semaphore is what
        // bounds requests in flight, the window only keeps it busy without buffering far ahead.
        let window = self.deps.max_in_flight.saturating_mul(2).max(1);
        match self.job.kind {
            JobKind::FlowsInventory => Ok(flows::run(
                &self.deps.api,
                &self.deps.reports,
                &self.name,
                ctx.started,
                window,
            )
            .await?),
            JobKind::AssetAudit => {
                Ok(audit::run(&self.deps, &self.name, &self.job, ctx.started).await?)
            }
        }
    }
}

impl JobRunner for Arc<Runner> {
    fn run(&self, ctx: RunContext) -> RunFuture {
        let runner = self.clone();
        Box::pin(async move {
            let out = runner.execute(ctx).await?;
            Ok(RunReport {
                run_id: Some(out.run_id),
                report_path: Some(out.path),
                counts: out.counts,
                warnings: out.warnings,
            })
        })
    }
}

/// Keeps the job metrics current and passes events on to an optional extra observer.
struct MetricsObserver {
    metrics: Arc<Metrics>,
    next: Option<Arc<dyn JobObserver>>,
}

impl JobObserver for MetricsObserver {
    fn run_started(&self, job: &str) {
        self.metrics
            .job_running
            .get_or_create(&JobLabels {
                job: job.to_string(),
            })
            .set(1);
        if let Some(next) = &self.next {
            next.run_started(job);
        }
    }

    fn run_finished(&self, record: &RunRecord) {
        let job = JobLabels {
            job: record.job.clone(),
        };
        self.metrics.job_running.get_or_create(&job).set(0);
        self.metrics
            .job_runs
            .get_or_create(&JobOutcomeLabels {
                job: record.job.clone(),
                outcome: outcome_label(record.outcome).to_string(),
            })
            .inc();
        self.metrics
            .job_duration
            .get_or_create(&job)
            .observe(record.duration.as_secs_f64());
        if record.outcome == Outcome::Success {
            self.metrics
                .job_last_success
                .get_or_create(&job)
                .set(record.finished.timestamp_millis() as f64 / 1000.0);
            if let Some(report) = &record.report {
                audit::record_findings_metric(&self.metrics, &record.job, &report.counts);
            }
        }
        if let Some(next) = &self.next {
            next.run_finished(record);
        }
    }

    fn run_skipped(&self, job: &str) {
        self.metrics
            .job_runs
            .get_or_create(&JobOutcomeLabels {
                job: job.to_string(),
                outcome: "skipped".to_string(),
            })
            .inc();
        if let Some(next) = &self.next {
            next.run_skipped(job);
        }
    }
}

fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Failed => "failed",
        Outcome::TimedOut => "timed_out",
        Outcome::Cancelled => "cancelled",
    }
}

fn spec(name: &str, job: &JobConfig) -> Result<JobSpec, SchedulerError> {
    Ok(JobSpec {
        name: name.to_string(),
        kind: job.kind.to_string(),
        schedule: cron::Schedule::parse(&job.schedule, job.timezone).map_err(|e| {
            SchedulerError::InvalidJob {
                name: name.to_string(),
                reason: e.to_string(),
            }
        })?,
        overlap: match job.overlap {
            crate::config::Overlap::Skip => scheduler::Overlap::Skip,
            crate::config::Overlap::QueueOne => scheduler::Overlap::QueueOne,
        },
        timeout: job.timeout,
        jitter: job.jitter,
        run_on_start: job.run_on_start,
        enabled: job.enabled,
    })
}

/// Starts the scheduler with every configured job.
pub async fn start(
    config: &Config,
    deps: JobDeps,
    observer: Option<Arc<dyn JobObserver>>,
) -> Result<Scheduler, SchedulerError> {
    let mut jobs: Vec<(JobSpec, Arc<dyn JobRunner>)> = Vec::new();
    for (name, job) in &config.jobs {
        let runner = Arc::new(Runner {
            name: name.clone(),
            job: job.clone(),
            deps: deps.clone(),
        });
        jobs.push((spec(name, job)?, Arc::new(runner)));
    }
    let observer = Arc::new(MetricsObserver {
        metrics: deps.metrics.clone(),
        next: observer,
    });
    Scheduler::start(jobs, observer, HISTORY_LEN).await
}

/// One run now, outside the scheduler (`jobs run`), bounded by the job's timeout.
pub async fn run_now(
    name: &str,
    job: &JobConfig,
    deps: JobDeps,
    cancel: CancellationToken,
) -> Result<RunOutput, RunError> {
    let runner = Runner {
        name: name.to_string(),
        job: job.clone(),
        deps,
    };
    let ctx = RunContext {
        job: name.to_string(),
        trigger: scheduler::Trigger::Manual,
        started: chrono::Utc::now(),
        cancel: cancel.clone(),
    };
    tokio::select! {
        r = tokio::time::timeout(job.timeout, runner.execute(ctx)) => match r {
            Ok(result) => result,
            Err(_) => Err(RunError::new(format!(
                "timed out after {} (jobs.{name}.timeout); the run was discarded",
                humantime::format_duration(job.timeout)
            ))),
        },
        _ = cancel.cancelled() => Err(RunError::new("interrupted; the run was discarded")),
    }
}

impl RunOutput {
    /// One line for the terminal: counts, requests, retries, keys.
    pub fn summary_line(&self) -> String {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "run {}: {}; requests={} retries={} keys_used={}{}",
            self.run_id,
            counts.join(" "),
            self.stats.requests,
            self.stats.retries,
            self.stats.keys_used,
            if self.warnings.is_empty() {
                String::new()
            } else {
                format!("; warnings: {}", self.warnings.join("; "))
            }
        )
    }

    /// Findings at `severity` or above (0 for jobs without findings).
    pub fn findings_at_or_above(&self, severity: Severity) -> u64 {
        Severity::ALL
            .iter()
            .filter(|s| **s >= severity)
            .map(|s| {
                self.counts
                    .get(&format!("findings_{}", s.as_str()))
                    .copied()
                    .unwrap_or(0)
            })
            .sum()
    }
}
