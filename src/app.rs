//! Wiring: builds the keeper, the client, the jobs and the admin server from a [`Config`], and
//! runs them until a signal asks to stop.

use crate::cognigy::{Api, ClientSettings, Http, Management, ManagementKeySource};
use crate::config::{Config, Severity};
use crate::jobs::{self, JobDeps};
use crate::metrics::Metrics;
use crate::report::ReportRoot;
use crate::superkey::{self, KeeperSettings, KeyHandle};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The long-lived parts every command that talks to Cognigy needs.
pub struct Core {
    pub metrics: Arc<Metrics>,
    pub management: Arc<Management>,
    pub keys: KeyHandle,
    pub api: Api,
    pub keeper: JoinHandle<()>,
}

pub fn keeper_settings(config: &Config) -> KeeperSettings {
    let s = &config.superkey;
    KeeperSettings {
        ttl: s.ttl,
        renew_at: s.renew_at,
        jitter: s.jitter,
        margin: s.margin,
        backoff_base: Duration::from_secs(1).min(s.backoff_max),
        backoff_max: s.backoff_max,
    }
}

pub fn client_settings(config: &Config) -> ClientSettings {
    let c = &config.cognigy;
    let mut settings = ClientSettings::new(c.base_url.clone());
    settings.request_timeout = c.request_timeout;
    settings.max_in_flight = c.max_in_flight;
    settings.ca_file = c.ca_file.clone();
    settings
}

/// Starts the keeper (it begins creating the first key at once) and the clients.
pub fn start_core(
    config: &Config,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<Core> {
    let http = Http::new(client_settings(config), metrics.clone())?;
    let management = Arc::new(Management::new(
        http.clone(),
        config.cognigy.management_username.clone(),
        config.cognigy.management_password.clone(),
    ));
    // One management client: the keeper creates keys with it, the audit reads the
    // organisation's quotas with it, and the key-route form it learnt is shared.
    let source =
        ManagementKeySource::new(management.clone(), config.cognigy.organisation_id.clone());
    let (keys, keeper) = superkey::spawn(
        Arc::new(source),
        keeper_settings(config),
        metrics.clone(),
        shutdown,
    );
    let api = Api::new(http, keys.clone());
    Ok(Core {
        metrics,
        management,
        keys,
        api,
        keeper,
    })
}

fn job_deps(config: &Config, core: &Core, reports: ReportRoot) -> JobDeps {
    JobDeps {
        api: core.api.clone(),
        management: core.management.clone(),
        organisation_id: config.cognigy.organisation_id.clone(),
        reports,
        max_in_flight: config.cognigy.max_in_flight,
        metrics: core.metrics.clone(),
    }
}

/// Prepares the report directory when jobs will write to it; names the path on failure.
fn prepare_reports(config: &Config) -> anyhow::Result<ReportRoot> {
    let reports = ReportRoot::new(config.reports.dir.clone(), config.reports.keep_runs);
    if !config.jobs.is_empty() {
        reports
            .prepare()
            .context("the report directory (reports.dir) is not usable")?;
    }
    Ok(reports)
}

/// A running daemon: keeper, scheduler and admin server.
pub struct Daemon {
    config: Config,
    keys: KeyHandle,
    /// Ends after the keeper task; a keeper that ends on its own is reported by `/livez`.
    keeper: JoinHandle<()>,
    scheduler: jobs::Scheduler,
    admin: crate::admin::AdminServer,
    keeper_stop: CancellationToken,
    draining: CancellationToken,
}

/// How long the admin server may take to close its connections on stop.
const ADMIN_STOP_TIMEOUT: Duration = Duration::from_secs(5);

impl Daemon {
    /// Starts everything; `observer` sees job runs (the demo prints them).
    pub async fn start(
        config: Config,
        observer: Option<Arc<dyn jobs::scheduler::JobObserver>>,
    ) -> anyhow::Result<Daemon> {
        let reports = prepare_reports(&config)?;
        let metrics = Arc::new(Metrics::new());
        // Every job's series exist from the first scrape, before any run (and before
        // `run_on_start` runs begin, so that nothing is overwritten).
        for name in config.jobs.keys() {
            metrics.precreate_job(name);
        }
        let keeper_stop = CancellationToken::new();
        let core = start_core(&config, metrics.clone(), keeper_stop.clone())?;
        let deps = job_deps(&config, &core, reports);
        let scheduler = jobs::start(&config, deps, observer)
            .await
            .context("cannot start the job scheduler")?;
        let liveness = crate::admin::Liveness::new();
        let keeper = liveness.watch("keeper", core.keeper, keeper_stop.clone());
        let keys = core.keys;
        let draining = CancellationToken::new();
        let admin = crate::admin::serve(
            &config.admin,
            crate::admin::AdminState::new(
                keys.clone(),
                scheduler.clone(),
                metrics.clone(),
                draining.clone(),
            )
            .with_liveness(liveness),
        )
        .await?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            jobs = config.jobs.len(),
            admin = %admin.local_addr(),
            "cognigy-warden started"
        );
        Ok(Daemon {
            config,
            keys,
            keeper,
            scheduler,
            admin,
            keeper_stop,
            draining,
        })
    }

    pub fn keys(&self) -> &KeyHandle {
        &self.keys
    }

    pub fn scheduler(&self) -> &jobs::Scheduler {
        &self.scheduler
    }

    pub fn admin_addr(&self) -> std::net::SocketAddr {
        self.admin.local_addr()
    }

    /// Graceful stop: readiness goes 503 at once, no new runs start, running jobs get
    /// `shutdown_grace` and are then cancelled (their reports discarded); the admin server
    /// answers (503 on `/readyz`) until the end.
    pub async fn stop(self) {
        self.draining.cancel();
        let grace = self.config.admin.shutdown_grace;
        let running: Vec<String> = self
            .scheduler
            .status()
            .into_iter()
            .filter(|j| j.running_since.is_some())
            .map(|j| j.name)
            .collect();
        tracing::info!(
            grace_s = grace.as_secs_f64(),
            running = %running.join(", "),
            "shutting down: readiness is 503, no new runs start, running jobs get the grace period"
        );
        self.scheduler.shutdown(grace).await;
        self.keeper_stop.cancel();
        let _ = self.keeper.await;
        if tokio::time::timeout(ADMIN_STOP_TIMEOUT, self.admin.stop())
            .await
            .is_err()
        {
            tracing::warn!("the admin server did not stop in time; leaving it");
        }
        tracing::info!("stopped");
    }
}

/// The daemon until SIGTERM/SIGINT; a second signal exits at once.
pub async fn run_daemon(config: Config) -> anyhow::Result<()> {
    // Signals are caught from the start, so that one arriving during start-up still stops
    // gracefully.
    let signal = CancellationToken::new();
    crate::signals::spawn(signal.clone());
    let daemon = Daemon::start(config, None).await?;
    signal.cancelled().await;
    daemon.stop().await;
    Ok(())
}

/// Options of `jobs run`.
#[derive(Debug, clap::Args)]
pub struct JobsRunOptions {
    /// The job's name (its `[jobs.NAME]` table).
    pub name: String,
    /// Exit 3 when the audit found something at or above this severity.
    #[arg(long, value_name = "SEVERITY", value_parser = ["critical", "warning", "info"])]
    pub fail_on: Option<String>,
}

/// `jobs run NAME`: one run now. Exit 0 on success, 1 on failure, 3 for `--fail-on` findings.
pub async fn run_job_once(config: Config, opts: JobsRunOptions) -> anyhow::Result<u8> {
    let Some(job) = config.jobs.get(&opts.name).cloned() else {
        let known: Vec<&str> = config.jobs.keys().map(String::as_str).collect();
        anyhow::bail!(
            "no job named `{}` in the configuration (configured: {})",
            opts.name,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let reports = prepare_reports(&config)?;
    let keeper_stop = CancellationToken::new();
    let core = start_core(&config, Arc::new(Metrics::new()), keeper_stop.clone())?;
    let deps = job_deps(&config, &core, reports);
    let cancel = CancellationToken::new();
    crate::signals::spawn(cancel.clone());
    let outcome = jobs::run_now(&opts.name, &job, deps, cancel).await;
    keeper_stop.cancel();
    let _ = core.keeper.await;
    match outcome {
        Ok(out) => {
            println!("{}", out.summary_line());
            println!("report: {}", out.path.display());
            let threshold = opts.fail_on.as_deref().and_then(parse_severity);
            if let Some(threshold) = threshold
                && out.findings_at_or_above(threshold) > 0
            {
                return Ok(3);
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("job `{}` failed: {e}", opts.name);
            Ok(1)
        }
    }
}

fn parse_severity(s: &str) -> Option<Severity> {
    match s {
        "critical" => Some(Severity::Critical),
        "warning" => Some(Severity::Warning),
        "info" => Some(Severity::Info),
        _ => None,
    }
}

/// `jobs list`: name, kind, schedule, timezone, state and the next three run times.
pub fn list_jobs(config: &Config) -> anyhow::Result<()> {
    if config.jobs.is_empty() {
        println!("no jobs configured (add a [jobs.NAME] table)");
        return Ok(());
    }
    let now = chrono::Utc::now();
    for (name, job) in &config.jobs {
        let schedule = jobs::cron::Schedule::parse(&job.schedule, job.timezone)?;
        println!(
            "{name}: {kind}, schedule `{expr}` ({tz}){state}",
            kind = job.kind,
            expr = job.schedule,
            tz = job.timezone,
            state = if job.enabled { "" } else { ", disabled" }
        );
        for t in schedule.upcoming(now, 3) {
            let local = t.with_timezone(&job.timezone);
            println!(
                "  next: {}  ({})",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                local.format("%Y-%m-%d %H:%M:%S %Z")
            );
        }
    }
    Ok(())
}
