//! The effective configuration as TOML for `check-config`, secrets replaced by [`REDACTED`].
//! The output uses the same keys as the file, so it can serve as a starting point for one.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{Config, JobKind, LogFormat, Overlap, REDACTED, Severity};

#[derive(Serialize)]
struct File {
    cognigy: Cognigy,
    superkey: Superkey,
    log: Log,
    reports: Reports,
    admin: Admin,
    jobs: BTreeMap<String, Job>,
}

#[derive(Serialize)]
struct Cognigy {
    base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    organisation_id: Option<String>,
    management_username: String,
    /// The file is shown; the value, from a file or inline, is never printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    management_password_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    management_password: Option<&'static str>,
    request_timeout: String,
    max_in_flight: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<String>,
}

#[derive(Serialize)]
struct Superkey {
    ttl: String,
    renew_at: f64,
    jitter: f64,
    margin: String,
    backoff_max: String,
}

#[derive(Serialize)]
struct Log {
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<LogFormat>,
    level: String,
}

#[derive(Serialize)]
struct Reports {
    dir: String,
    keep_runs: usize,
}

#[derive(Serialize)]
struct Admin {
    listen: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_token: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_token_file: Option<String>,
    shutdown_grace: String,
}

#[derive(Serialize)]
struct Job {
    kind: JobKind,
    schedule: String,
    timezone: String,
    overlap: Overlap,
    timeout: String,
    jitter: String,
    run_on_start: bool,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    rules: BTreeMap<String, Rule>,
}

#[derive(Serialize)]
struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_count: Option<u32>,
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

pub(super) fn to_toml(config: &Config) -> String {
    let c = &config.cognigy;
    let a = &config.admin;
    let file = File {
        cognigy: Cognigy {
            base_url: c.base_url.to_string(),
            organisation_id: c.organisation_id.clone(),
            management_username: c.management_username.clone(),
            management_password_file: c
                .management_password_file
                .as_ref()
                .map(|p| p.display().to_string()),
            management_password: c.management_password_file.is_none().then_some(REDACTED),
            request_timeout: human(c.request_timeout),
            max_in_flight: c.max_in_flight,
            ca_file: c.ca_file.as_ref().map(|p| p.display().to_string()),
        },
        superkey: Superkey {
            ttl: human(config.superkey.ttl),
            renew_at: config.superkey.renew_at,
            jitter: config.superkey.jitter,
            margin: human(config.superkey.margin),
            backoff_max: human(config.superkey.backoff_max),
        },
        log: Log {
            format: config.log.format,
            level: config.log.level.clone(),
        },
        reports: Reports {
            dir: config.reports.dir.display().to_string(),
            keep_runs: config.reports.keep_runs,
        },
        admin: Admin {
            listen: a.listen.to_string(),
            // With a file the token came from it: show the path only.
            trigger_token: (a.trigger_token.is_some() && a.trigger_token_file.is_none())
                .then_some(REDACTED),
            trigger_token_file: a
                .trigger_token_file
                .as_ref()
                .map(|p| p.display().to_string()),
            shutdown_grace: human(a.shutdown_grace),
        },
        jobs: config
            .jobs
            .iter()
            .map(|(name, job)| {
                let audit = job.kind == JobKind::AssetAudit;
                let rules = job
                    .rules
                    .iter()
                    .map(|(rule, r)| {
                        (
                            rule.clone(),
                            Rule {
                                enabled: r.enabled,
                                severity: r.severity,
                                max_age: r.max_age.map(human),
                                threshold: r.threshold,
                                min_count: r.min_count,
                            },
                        )
                    })
                    .collect();
                let job = Job {
                    kind: job.kind,
                    schedule: job.schedule.clone(),
                    timezone: job.timezone.name().to_owned(),
                    overlap: job.overlap,
                    timeout: human(job.timeout),
                    jitter: human(job.jitter),
                    run_on_start: job.run_on_start,
                    enabled: job.enabled,
                    window: audit.then(|| human(job.window)),
                    rules,
                };
                (name.clone(), job)
            })
            .collect(),
    };
    match toml::to_string(&file) {
        Ok(text) => text,
        // Every field above is a plain string, number or table, which TOML always represents.
        Err(e) => format!("# cannot render the configuration as TOML: {e}\n"),
    }
}
