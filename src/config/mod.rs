//! Configuration: built-in defaults < TOML file < `WARDEN_*` environment variables.
//!
//! Loading merges the three layers with figment, then walks the merged, source-tagged value tree
//! key by key (see [`validate`]) so that one bad value never hides another: every problem is
//! reported at once, each naming the key, where its value came from and what to do.

mod layers;
mod redact;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Prefix of every configuration environment variable; `__` nests (`WARDEN_COGNIGY__BASE_URL`).
pub const ENV_PREFIX: &str = "WARDEN_";
/// Names the configuration file; read by the command line, not a configuration key.
pub const CONFIG_PATH_ENV: &str = "WARDEN_CONFIG";
/// What [`Config::to_redacted_toml`] prints in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// Built-in defaults; the defaults layer and the job defaults are built from these.
pub mod defaults {
    use std::time::Duration;

    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const MAX_IN_FLIGHT: usize = 8;
    pub const SUPERKEY_TTL: Duration = Duration::from_secs(15 * 60);
    pub const SUPERKEY_RENEW_AT: f64 = 0.667;
    pub const SUPERKEY_JITTER: f64 = 0.05;
    pub const SUPERKEY_MARGIN: Duration = Duration::from_secs(30);
    pub const SUPERKEY_BACKOFF_MAX: Duration = Duration::from_secs(30);
    pub const LOG_LEVEL: &str = "info";
    pub const REPORTS_DIR: &str = "/var/lib/cognigy-warden/reports";
    pub const KEEP_RUNS: usize = 30;
    pub const ADMIN_LISTEN: &str = "0.0.0.0:9464";
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
    pub const JOB_TIMEZONE: chrono_tz::Tz = chrono_tz::Tz::UTC;
    pub const JOB_OVERLAP: super::Overlap = super::Overlap::Skip;
    pub const JOB_TIMEOUT: Duration = Duration::from_secs(30 * 60);
    pub const JOB_JITTER: Duration = Duration::ZERO;
    pub const JOB_RUN_ON_START: bool = false;
    pub const JOB_ENABLED: bool = true;
    pub const AUDIT_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
}

/// An audit rule the configuration accepts, with the tunables it takes besides
/// `enabled` and `severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRuleSpec {
    pub name: &'static str,
    pub tunables: &'static [&'static str],
}

/// Every audit rule; `[jobs.<name>.rules.<rule>]` must name one of these.
pub const AUDIT_RULES: &[AuditRuleSpec] = &[
    AuditRuleSpec {
        name: "stale-flow",
        tunables: &["max_age"],
    },
    AuditRuleSpec {
        name: "flow-without-description",
        tunables: &[],
    },
    AuditRuleSpec {
        name: "dangling-endpoint",
        tunables: &[],
    },
    AuditRuleSpec {
        name: "trusted-code-extension",
        tunables: &[],
    },
    AuditRuleSpec {
        name: "old-snapshot",
        tunables: &["max_age"],
    },
    AuditRuleSpec {
        name: "project-without-members",
        tunables: &[],
    },
    AuditRuleSpec {
        name: "disabled-user-still-member",
        tunables: &[],
    },
    AuditRuleSpec {
        name: "unauthorized-events",
        tunables: &["min_count"],
    },
    AuditRuleSpec {
        name: "quota-near-limit",
        tunables: &["threshold"],
    },
];

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub cognigy: CognigyConfig,
    pub superkey: SuperkeyConfig,
    pub log: LogConfig,
    pub reports: ReportsConfig,
    pub admin: AdminConfig,
    /// Keyed by job name (`[a-z0-9][a-z0-9_-]*`).
    pub jobs: BTreeMap<String, JobConfig>,
}

#[derive(Debug, Clone)]
pub struct CognigyConfig {
    /// http or https, with a host.
    pub base_url: url::Url,
    /// 24 lowercase hex characters; `None` means discover it at run time.
    pub organisation_id: Option<String>,
    pub management_username: String,
    /// Read from `management_password_file` (trailing newlines trimmed) or given inline; never empty.
    pub management_password: SecretString,
    /// The file the password was read from (`None` when it was given inline).
    pub management_password_file: Option<PathBuf>,
    pub request_timeout: Duration,
    /// 1..=256.
    pub max_in_flight: usize,
    /// An extra CA bundle (PEM), checked readable at load time.
    pub ca_file: Option<PathBuf>,
}

/// Key lifecycle; validated so that `(renew_at + jitter) * ttl < ttl - margin`.
#[derive(Debug, Clone, PartialEq)]
pub struct SuperkeyConfig {
    pub ttl: Duration,
    /// Fraction of `ttl` after creation at which to renew, in (0, 1).
    pub renew_at: f64,
    /// Random +- fraction of `ttl` added to the renewal point, in [0, 0.5).
    pub jitter: f64,
    /// A key is never sent after `expiry - margin`.
    pub margin: Duration,
    /// Cap of the retry backoff after a failed creation, >= 1s.
    pub backoff_max: Duration,
}

impl Default for SuperkeyConfig {
    fn default() -> Self {
        SuperkeyConfig {
            ttl: defaults::SUPERKEY_TTL,
            renew_at: defaults::SUPERKEY_RENEW_AT,
            jitter: defaults::SUPERKEY_JITTER,
            margin: defaults::SUPERKEY_MARGIN,
            backoff_max: defaults::SUPERKEY_BACKOFF_MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `None`: pretty on a terminal, JSON otherwise.
    pub format: Option<LogFormat>,
    /// An `EnvFilter` directive; `RUST_LOG` overrides it at run time.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: None,
            level: defaults::LOG_LEVEL.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportsConfig {
    pub dir: PathBuf,
    /// Completed runs kept per job, >= 1.
    pub keep_runs: usize,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            dir: PathBuf::from(defaults::REPORTS_DIR),
            keep_runs: defaults::KEEP_RUNS,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// The bearer token for `POST /jobs/{name}/run`; `None` disables the trigger.
    /// Read from `trigger_token_file` when that is set.
    pub trigger_token: Option<SecretString>,
    pub trigger_token_file: Option<PathBuf>,
    pub shutdown_grace: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 9464)),
            trigger_token: None,
            trigger_token_file: None,
            shutdown_grace: defaults::SHUTDOWN_GRACE,
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobConfig {
    pub kind: JobKind,
    /// Cron with 6 fields (seconds first) or 5 fields, as written.
    pub schedule: String,
    pub timezone: chrono_tz::Tz,
    pub overlap: Overlap,
    pub timeout: Duration,
    /// Random start delay up to this.
    pub jitter: Duration,
    pub run_on_start: bool,
    pub enabled: bool,
    /// Asset-audit only: the audit-event window (the default for other kinds, unused).
    pub window: Duration,
    /// Asset-audit only: per-rule settings as given; the audit applies its own defaults.
    pub rules: BTreeMap<String, RuleConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    FlowsInventory,
    AssetAudit,
}

impl JobKind {
    pub const ALL: [JobKind; 2] = [JobKind::FlowsInventory, JobKind::AssetAudit];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::FlowsInventory => "flows-inventory",
            JobKind::AssetAudit => "asset-audit",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// A run that comes due while the previous one still runs is skipped.
    Skip,
    /// At most one run waits for the running one; further ones are skipped.
    QueueOne,
}

impl Overlap {
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::QueueOne => "queue-one",
        }
    }
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit rule's settings, as given; `None` leaves the audit's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleConfig {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub max_age: Option<Duration>,
    /// A fraction in (0, 1].
    pub threshold: Option<f64>,
    /// >= 1.
    pub min_count: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every problem found while loading; `Display` prints a count, then one problem per line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_problems(&self.problems))]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The dotted key, e.g. `superkey.ttl` or `jobs.audit.rules.stale-flow.max_age`.
    pub key: String,
    /// Where the value came from: `file /etc/x.toml`, `environment variable WARDEN_SUPERKEY__TTL`,
    /// `default`, or `not set` for a missing key.
    pub source: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.key, self.source, self.message)
    }
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    let mut out = match problems.len() {
        1 => "invalid configuration (1 problem):".to_owned(),
        n => format!("invalid configuration ({n} problems):"),
    };
    for problem in problems {
        out.push_str("\n  ");
        out.push_str(&problem.to_string());
    }
    out
}

impl Config {
    /// Loads defaults < file < process environment. `path` None means no file.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(path, std::env::vars_os())
    }

    /// Like [`Config::load`], with the given variables in place of the process environment
    /// (only `WARDEN_*` names are read; `WARDEN_CONFIG` is skipped).
    pub fn load_with_env<I, K, V>(path: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut problems = Vec::new();
        let mut figment = Figment::from(layers::defaults());
        let mut file_failed = false;
        if let Some(path) = path {
            match layers::file(path) {
                Ok(layer) => figment = figment.merge(layer),
                Err(problem) => {
                    problems.push(problem);
                    file_failed = true;
                }
            }
        }
        let job_names = layers::job_names(&figment);
        let vars = env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let env_layer = layers::environment(vars, &job_names);
        problems.extend(env_layer.problems);
        if file_failed {
            // Without the file every other finding ("missing key") would be noise.
            return Err(ConfigError { problems });
        }
        figment = figment.merge(env_layer.layer);
        match validate::check(&figment) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(ConfigError { problems }),
            Err(found) => {
                problems.extend(found);
                Err(ConfigError { problems })
            }
        }
    }

    /// The effective configuration as TOML with every secret replaced by "[redacted]" (the
    /// password and token values; file paths are shown). For `check-config`.
    pub fn to_redacted_toml(&self) -> String {
        redact::to_toml(self)
    }
}
