//! `cognigy-warden demo`: the built-in sandbox plus the daemon against it, with readable
//! progress lines. Nothing to install, nothing to configure.

use crate::app::Daemon;
use crate::config::{
    AdminConfig, CognigyConfig, Config, JobConfig, JobKind, LogConfig, Overlap, ReportsConfig,
    SuperkeyConfig,
};
use crate::jobs::scheduler::{JobObserver, Outcome, RunRecord};
use crate::sandbox::{Sandbox, SandboxOptions};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Key lifetime in the demo: long enough to watch, short enough to see rotations.
const DEMO_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// Stop after this long (e.g. "3m"); default: until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Where the reports go.
    #[arg(long, default_value = "./warden-reports")]
    pub reports: PathBuf,
    /// Size of the sandbox organisation.
    #[arg(long, default_value_t = 20)]
    pub projects: usize,
    #[arg(long, default_value_t = 10)]
    pub flows_per_project: usize,
    /// Admin server address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub admin: std::net::SocketAddr,
}

/// The configuration the demo runs with: the sandbox, a 60 s key life with the lifecycle
/// numbers scaled to it, a flow inventory every minute and an asset audit every 5 minutes.
pub fn demo_config(sandbox: &Sandbox, password: &str, opts: &DemoOptions) -> Config {
    let job = |kind: JobKind, schedule: &str| JobConfig {
        kind,
        schedule: schedule.to_string(),
        timezone: chrono_tz::UTC,
        overlap: Overlap::Skip,
        timeout: Duration::from_secs(120),
        jitter: Duration::ZERO,
        run_on_start: true,
        enabled: true,
        window: Duration::from_secs(24 * 3600),
        rules: BTreeMap::new(),
    };
    let mut jobs = BTreeMap::new();
    jobs.insert(
        "flows".to_string(),
        job(JobKind::FlowsInventory, "0 * * * * *"),
    );
    jobs.insert(
        "audit".to_string(),
        job(JobKind::AssetAudit, "0 */5 * * * *"),
    );
    Config {
        cognigy: CognigyConfig {
            base_url: sandbox
                .base_url()
                .parse()
                .expect("the sandbox URL is valid"),
            organisation_id: None,
            management_username: "warden".to_string(),
            management_password: SecretString::from(password.to_string()),
            management_password_file: None,
            request_timeout: Duration::from_secs(10),
            max_in_flight: 8,
            ca_file: None,
        },
        superkey: SuperkeyConfig {
            ttl: DEMO_TTL,
            renew_at: 0.667,
            jitter: 0.05,
            margin: Duration::from_secs(5),
            backoff_max: Duration::from_secs(5),
        },
        log: LogConfig {
            format: None,
            level: "warn".to_string(),
        },
        reports: ReportsConfig {
            dir: opts.reports.clone(),
            keep_runs: 10,
        },
        admin: AdminConfig {
            listen: opts.admin,
            trigger_token: None,
            trigger_token_file: None,
            shutdown_grace: Duration::from_secs(10),
        },
        jobs,
    }
}

/// Prints each finished run.
struct PrintRuns;

impl JobObserver for PrintRuns {
    fn run_finished(&self, record: &RunRecord) {
        let secs = record.duration.as_secs_f64();
        match (&record.outcome, &record.report) {
            (Outcome::Success, Some(report)) => {
                // Per-rule counters (`finding:<rule>:<severity>`) are in the report itself.
                let counts: Vec<String> = report
                    .counts
                    .iter()
                    .filter(|(k, _)| !k.contains(':'))
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                let path = report
                    .report_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                println!(
                    "[job {}] done in {secs:.1} s: {} -> {path}",
                    record.job,
                    counts.join(", ")
                );
            }
            (outcome, _) => println!(
                "[job {}] {outcome:?} after {secs:.1} s: {}",
                record.job,
                record.error.as_deref().unwrap_or("")
            ),
        }
    }
    fn run_skipped(&self, job: &str) {
        println!("[job {job}] skipped: the previous run is still going");
    }
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let password = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let sandbox = Sandbox::start(SandboxOptions {
        ttl: DEMO_TTL,
        projects: opts.projects,
        flows_per_project: opts.flows_per_project,
        password: password.clone(),
        username: "warden".to_string(),
        ..SandboxOptions::default()
    })
    .await?;
    println!(
        "sandbox: {} (organisation {}, {} projects x {} flows, keys live {} s)",
        sandbox.base_url(),
        sandbox.organisation_id(),
        opts.projects,
        opts.flows_per_project,
        DEMO_TTL.as_secs()
    );
    let config = demo_config(&sandbox, &password, &opts);
    let daemon = Daemon::start(config, Some(Arc::new(PrintRuns))).await?;
    let admin = daemon.admin_addr();
    println!("admin: http://{admin}/status  http://{admin}/metrics  http://{admin}/readyz");
    println!(
        "reports: {} (a flow inventory every minute, an asset audit every 5 minutes)",
        opts.reports.display()
    );
    println!(
        "{}",
        match opts.duration {
            Some(d) => format!(
                "running for {}; Ctrl-C stops earlier",
                humantime::format_duration(d)
            ),
            None => "running until Ctrl-C".to_string(),
        }
    );

    let stop = CancellationToken::new();
    crate::signals::spawn(stop.clone());
    let keys = daemon.keys().clone();
    let printer = tokio::spawn(async move {
        let mut watch = keys.watch();
        let mut last_failures = 0;
        let mut printed_generation = 0;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let alive = tokio::select! {
                alive = watch.changed() => alive,
                _ = tick.tick() => true,
            };
            if !alive {
                return;
            }
            let s = keys.state();
            if s.generation > printed_generation {
                printed_generation = s.generation;
                let now = crate::superkey::unix(std::time::SystemTime::now());
                println!(
                    "[key] generation {} created: expires in {:.0} s ({}), next rotation in {:.0} s; {} rotations, {} failed attempts so far",
                    s.generation,
                    (s.expires_unix - now).max(0.0),
                    s.expires_at.as_deref().unwrap_or("?"),
                    (s.next_rotation_unix - now).max(0.0),
                    s.rotations_succeeded.saturating_sub(1),
                    s.rotations_failed,
                );
            }
            if s.consecutive_failures > last_failures
                && let Some(e) = &s.last_error
            {
                println!(
                    "[key] creation failed ({} in a row): {}",
                    s.consecutive_failures, e.message
                );
            }
            last_failures = s.consecutive_failures;
        }
    });
    match opts.duration {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = stop.cancelled() => {}
            }
        }
        None => stop.cancelled().await,
    }
    println!("stopping...");
    let keys = daemon.keys().state();
    daemon.stop().await;
    printer.abort();
    let stats = sandbox.stats();
    println!(
        "done: {} keys issued by the sandbox, {} requests, {} rejected for an expired key; last generation {}",
        stats.keys_issued,
        stats.requests_total,
        stats.requests_rejected_expired_key,
        keys.generation
    );
    sandbox.shutdown().await;
    Ok(())
}
