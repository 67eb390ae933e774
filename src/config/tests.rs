// figment::Jail closures must return figment::Result, whose error is large; that is its API.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;
use tempfile::TempDir;

use super::*;

const PASSWORD: &str = "inline-pass-1234";

const MINIMAL: &str = r#"
[cognigy]
base_url = "https://api.cognigy.example.com"
management_username = "warden@example.com"
management_password = "inline-pass-1234"
"#;

/// A temporary directory holding `config.toml` (and any secret files a test writes).
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write scratch file");
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn load(&self, toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let path = self.write("config.toml", toml);
        Config::load_with_env(
            Some(&path),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }
}

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Scratch::new().load(toml, env)
}

fn ok(toml: &str, env: &[(&str, &str)]) -> Config {
    match load(toml, env) {
        Ok(config) => config,
        Err(e) => panic!("expected a valid configuration, got:\n{e}"),
    }
}

fn problems(toml: &str, env: &[(&str, &str)]) -> Vec<ConfigProblem> {
    match load(toml, env) {
        Ok(config) => panic!("expected problems, got a valid configuration: {config:?}"),
        Err(e) => e.problems,
    }
}

/// The one problem at `key`; fails listing every problem otherwise.
fn problem<'a>(problems: &'a [ConfigProblem], key: &str) -> &'a ConfigProblem {
    let found: Vec<_> = problems.iter().filter(|p| p.key == key).collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!("expected exactly one problem at `{key}`, got: {problems:#?}"),
    }
}

fn with(extra: &str) -> String {
    format!("{MINIMAL}\n{extra}")
}

fn job(extra: &str) -> String {
    with(&format!(
        "[jobs.audit]\nkind = \"asset-audit\"\nschedule = \"0 30 6 * * *\"\n{extra}"
    ))
}

fn flows_job(extra: &str) -> String {
    with(&format!(
        "[jobs.flows]\nkind = \"flows-inventory\"\nschedule = \"0 0 * * * *\"\n{extra}"
    ))
}

// ---- defaults, example, precedence -------------------------------------------------------

#[test]
fn minimal_file_gets_every_default() {
    let config = ok(MINIMAL, &[]);
    assert_eq!(
        config.cognigy.base_url.as_str(),
        "https://api.cognigy.example.com/"
    );
    assert_eq!(config.cognigy.organisation_id, None);
    assert_eq!(config.cognigy.management_username, "warden@example.com");
    assert_eq!(config.cognigy.management_password.expose_secret(), PASSWORD);
    assert_eq!(config.cognigy.request_timeout, Duration::from_secs(30));
    assert_eq!(config.cognigy.max_in_flight, 8);
    assert_eq!(config.cognigy.ca_file, None);
    assert_eq!(config.superkey, SuperkeyConfig::default());
    assert_eq!(config.superkey.ttl, Duration::from_secs(900));
    assert_eq!(config.superkey.renew_at, 0.667);
    assert_eq!(config.superkey.jitter, 0.05);
    assert_eq!(config.superkey.margin, Duration::from_secs(30));
    assert_eq!(config.superkey.backoff_max, Duration::from_secs(30));
    assert_eq!(
        config.log,
        LogConfig {
            format: None,
            level: "info".to_owned()
        }
    );
    assert_eq!(config.reports, ReportsConfig::default());
    assert_eq!(
        config.reports.dir,
        PathBuf::from("/var/lib/cognigy-warden/reports")
    );
    assert_eq!(config.reports.keep_runs, 30);
    assert_eq!(config.admin.listen, "0.0.0.0:9464".parse().unwrap());
    assert!(config.admin.trigger_token.is_none());
    assert!(config.admin.trigger_token_file.is_none());
    assert_eq!(config.admin.shutdown_grace, Duration::from_secs(25));
    assert!(config.jobs.is_empty());
}

#[test]
fn job_defaults_apply() {
    let config = ok(&flows_job(""), &[]);
    let job = &config.jobs["flows"];
    assert_eq!(job.kind, JobKind::FlowsInventory);
    assert_eq!(job.schedule, "0 0 * * * *");
    assert_eq!(job.timezone, chrono_tz::Tz::UTC);
    assert_eq!(job.overlap, Overlap::Skip);
    assert_eq!(job.timeout, Duration::from_secs(1800));
    assert_eq!(job.jitter, Duration::ZERO);
    assert!(!job.run_on_start);
    assert!(job.enabled);
    assert_eq!(job.window, Duration::from_secs(86_400));
    assert!(job.rules.is_empty());
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/config.example.toml")
}

#[test]
fn example_file_validates() {
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("management-password", "from-a-mounted-secret\n")?;
        let password_file = jail.directory().join("management-password");
        jail.set_env(
            "WARDEN_COGNIGY__MANAGEMENT_PASSWORD_FILE",
            password_file.display(),
        );
        let config = match Config::load(Some(&example_path())) {
            Ok(config) => config,
            Err(e) => panic!("deploy/config.example.toml does not validate:\n{e}"),
        };
        assert_eq!(
            config.cognigy.management_password.expose_secret(),
            "from-a-mounted-secret"
        );
        assert_eq!(config.jobs.len(), 2);
        let flows = &config.jobs["flows"];
        assert_eq!(flows.kind, JobKind::FlowsInventory);
        let audit = &config.jobs["audit"];
        assert_eq!(audit.kind, JobKind::AssetAudit);
        assert_eq!(audit.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(audit.overlap, Overlap::QueueOne);
        // Every audit rule is shown in the example.
        let shown: Vec<&str> = audit.rules.keys().map(String::as_str).collect();
        let mut all: Vec<&str> = AUDIT_RULES.iter().map(|r| r.name).collect();
        all.sort_unstable();
        assert_eq!(shown, all);
        assert_eq!(
            audit.rules["stale-flow"].max_age,
            Some(Duration::from_secs(180 * 86_400))
        );
        assert_eq!(audit.rules["quota-near-limit"].threshold, Some(0.9));
        assert_eq!(audit.rules["unauthorized-events"].min_count, Some(5));
        assert_eq!(
            audit.rules["trusted-code-extension"].severity,
            Some(Severity::Critical)
        );
        Ok(())
    });
}

/// The commented-out keys of the example are real keys with valid example values.
#[test]
fn example_file_commented_keys_are_valid() {
    let text = std::fs::read_to_string(example_path()).expect("read example");
    let mut uncommented = 0;
    let text: String = text
        .lines()
        .map(|line| {
            let key = line
                .strip_prefix("# ")
                .and_then(|rest| rest.split(" = ").next());
            match key {
                // Uncommenting the inline password would give it twice.
                Some(key)
                    if key != "management_password"
                        && line.contains(" = ")
                        && !key.contains(' ') =>
                {
                    uncommented += 1;
                    line[2..].to_owned()
                }
                _ => line.to_owned(),
            }
        })
        .map(|line| line + "\n")
        .collect();
    assert_eq!(
        uncommented, 4,
        "organisation_id, ca_file, format, trigger_token_file"
    );
    let scratch = Scratch::new();
    let password = scratch.write("password", "pw\n");
    let token = scratch.write("token", "tok\n");
    let ca = scratch.write(
        "ca.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    let env = [
        (
            "WARDEN_COGNIGY__MANAGEMENT_PASSWORD_FILE",
            password.to_str().unwrap(),
        ),
        ("WARDEN_ADMIN__TRIGGER_TOKEN_FILE", token.to_str().unwrap()),
        ("WARDEN_COGNIGY__CA_FILE", ca.to_str().unwrap()),
    ];
    let config = match scratch.load(&text, &env) {
        Ok(config) => config,
        Err(e) => panic!("uncommented example does not validate:\n{e}"),
    };
    assert_eq!(
        config.cognigy.organisation_id.as_deref(),
        Some("5f8a1c2b3d4e5f6a7b8c9d0e")
    );
    assert_eq!(config.log.format, Some(LogFormat::Json));
    assert_eq!(
        config
            .admin
            .trigger_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some("tok".to_owned())
    );
}

const LAYERED_FILE: &str = r#"
[cognigy]
base_url = "https://api.cognigy.example.com"
management_username = "warden@example.com"
management_password = "pw-from-file"

[superkey]
ttl = "20m"
backoff_max = "20s"

[jobs.flows-daily]
kind = "flows-inventory"
schedule = "0 0 3 * * *"

[jobs.audit]
kind = "asset-audit"
schedule = "0 30 6 * * *"
[jobs.audit.rules.stale-flow]
max_age = "180d"
severity = "info"
"#;

#[test]
fn precedence_default_then_file_then_environment() {
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("config.toml", LAYERED_FILE)?;
        jail.set_env("WARDEN_SUPERKEY__TTL", "25m");
        jail.set_env("WARDEN_JOBS__AUDIT__SCHEDULE", "0 0 7 * * *");
        jail.set_env("WARDEN_JOBS__AUDIT__RULES__STALE_FLOW__MAX_AGE", "90d");
        jail.set_env(
            "WARDEN_JOBS__AUDIT__RULES__QUOTA_NEAR_LIMIT__THRESHOLD",
            "0.8",
        );
        jail.set_env("WARDEN_JOBS__FLOWS_DAILY__TIMEOUT", "1h");
        jail.set_env("WARDEN_JOBS__NIGHTLY__KIND", "flows-inventory");
        jail.set_env("WARDEN_JOBS__NIGHTLY__SCHEDULE", "30 2 * * *");
        jail.set_env("WARDEN_JOBS__NIGHTLY__ENABLED", "false");
        jail.set_env("WARDEN_CONFIG", "ignored: the command line reads it");
        let config = match Config::load(Some(Path::new("config.toml"))) {
            Ok(config) => config,
            Err(e) => panic!("{e}"),
        };
        // env beats file
        assert_eq!(config.superkey.ttl, Duration::from_secs(25 * 60));
        // file beats default
        assert_eq!(config.superkey.backoff_max, Duration::from_secs(20));
        // default where neither sets it
        assert_eq!(config.superkey.margin, Duration::from_secs(30));
        assert_eq!(
            config.cognigy.management_password.expose_secret(),
            "pw-from-file"
        );

        let audit = &config.jobs["audit"];
        assert_eq!(audit.schedule, "0 0 7 * * *");
        let stale = &audit.rules["stale-flow"];
        assert_eq!(stale.max_age, Some(Duration::from_secs(90 * 86_400)));
        assert_eq!(
            stale.severity,
            Some(Severity::Info),
            "file keys beside the env one stay"
        );
        assert_eq!(audit.rules["quota-near-limit"].threshold, Some(0.8));
        // `_` in the variable addresses the job the file names with `-`.
        assert_eq!(
            config.jobs["flows-daily"].timeout,
            Duration::from_secs(3600)
        );
        assert!(!config.jobs.contains_key("flows_daily"));
        let nightly = &config.jobs["nightly"];
        assert_eq!(nightly.schedule, "30 2 * * *");
        assert!(!nightly.enabled);
        assert_eq!(config.jobs.len(), 3);
        Ok(())
    });
}

#[test]
fn environment_alone_can_configure_everything_required() {
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("WARDEN_COGNIGY__BASE_URL", "http://127.0.0.1:8080");
        jail.set_env("WARDEN_COGNIGY__MANAGEMENT_USERNAME", "ops");
        jail.set_env("WARDEN_COGNIGY__MANAGEMENT_PASSWORD", "env-pass");
        // All digits: must stay a string, not become a number.
        jail.set_env(
            "WARDEN_COGNIGY__ORGANISATION_ID",
            "123456789012345678901234",
        );
        jail.set_env("WARDEN_COGNIGY__MAX_IN_FLIGHT", "16");
        jail.set_env("WARDEN_SUPERKEY__RENEW_AT", "0.6");
        jail.set_env("WARDEN_LOG__FORMAT", "json");
        jail.set_env("WARDEN_ADMIN__TRIGGER_TOKEN", "env-token");
        let config = match Config::load(None) {
            Ok(config) => config,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(config.cognigy.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            config.cognigy.organisation_id.as_deref(),
            Some("123456789012345678901234")
        );
        assert_eq!(config.cognigy.max_in_flight, 16);
        assert_eq!(config.superkey.renew_at, 0.6);
        assert_eq!(config.log.format, Some(LogFormat::Json));
        assert_eq!(
            config
                .admin
                .trigger_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("env-token".into())
        );
        Ok(())
    });
}

#[test]
fn env_error_names_the_variable_and_file_error_names_the_file() {
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("config.toml", &with("[reports]\nkeep_runs = 0\n"))?;
        jail.set_env("WARDEN_SUPERKEY__TTL", "fifteen minutes");
        jail.set_env("WARDEN_COGNIGY__MAX_IN_FLIGHT", "many");
        let err = Config::load(Some(Path::new("config.toml"))).expect_err("invalid");
        let ttl = problem(&err.problems, "superkey.ttl");
        assert_eq!(ttl.source, "environment variable WARDEN_SUPERKEY__TTL");
        assert!(
            ttl.message
                .starts_with("bad duration `fifteen minutes` for superkey.ttl"),
            "{}",
            ttl.message
        );
        assert!(
            ttl.message.ends_with("use e.g. \"15m\" or \"30s\""),
            "{}",
            ttl.message
        );
        let inflight = problem(&err.problems, "cognigy.max_in_flight");
        assert_eq!(
            inflight.source,
            "environment variable WARDEN_COGNIGY__MAX_IN_FLIGHT"
        );
        assert_eq!(
            inflight.message,
            "expected a whole number, found the string `many`"
        );
        let keep = problem(&err.problems, "reports.keep_runs");
        assert_eq!(keep.source, "file config.toml");
        let text = err.to_string();
        assert!(
            text.starts_with("invalid configuration (3 problems):\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n  superkey.ttl (environment variable WARDEN_SUPERKEY__TTL): bad duration"
            ),
            "{text}"
        );
        assert_eq!(text.lines().count(), 4, "{text}");
        Ok(())
    });
}

#[test]
fn env_rule_and_job_names_are_named_by_their_real_variable() {
    let scratch = Scratch::new();
    let err = scratch
        .load(
            LAYERED_FILE,
            &[
                ("WARDEN_JOBS__FLOWS_DAILY__TIMEOUT", "soon"),
                ("WARDEN_JOBS__AUDIT__RULES__STALE_FLOW__MAX_AGE", "old"),
            ],
        )
        .expect_err("invalid");
    assert_eq!(
        problem(&err.problems, "jobs.flows-daily.timeout").source,
        "environment variable WARDEN_JOBS__FLOWS_DAILY__TIMEOUT"
    );
    assert_eq!(
        problem(&err.problems, "jobs.audit.rules.stale-flow.max_age").source,
        "environment variable WARDEN_JOBS__AUDIT__RULES__STALE_FLOW__MAX_AGE"
    );
}

#[test]
fn default_values_are_named_as_defaults() {
    // A renew_at from the file that leaves no room with the default ttl and margin.
    let p = problems(&with("[superkey]\nrenew_at = 0.95\n"), &[]);
    let room = problem(&p, "superkey");
    assert!(room.source.contains("ttl from default"), "{}", room.source);
    assert!(
        room.source.contains("margin from default"),
        "{}",
        room.source
    );
    assert!(
        room.source.contains("renew_at from file "),
        "{}",
        room.source
    );
}

// ---- environment variable names ------------------------------------------------------------

#[test]
fn single_underscore_variable_is_reported_and_unrelated_ones_are_ignored() {
    let p = problems(
        MINIMAL,
        &[
            ("WARDEN_COGNIGY_MAX_IN_FLIGHT", "4"),
            ("WARDEN_PORT", "tcp://10.0.0.1:9464"),
            ("WARDEN_CONFIG", "/etc/x.toml"),
            ("OTHER__THING", "1"),
        ],
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(
        p[0].source,
        "environment variable WARDEN_COGNIGY_MAX_IN_FLIGHT"
    );
    assert!(
        p[0].message.contains("use WARDEN_COGNIGY__MAX_IN_FLIGHT"),
        "{}",
        p[0].message
    );
}

#[test]
fn malformed_and_conflicting_variables_are_reported() {
    let p = problems(
        MINIMAL,
        &[
            ("WARDEN_COGNIGY____X", "1"),
            ("WARDEN_JOBS__A", "x"),
            ("WARDEN_JOBS__A__KIND", "asset-audit"),
        ],
    );
    assert!(
        p.iter()
            .any(|p| p.source == "environment variable WARDEN_COGNIGY____X"
                && p.message.contains("malformed")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|p| p.message.contains("conflicts with WARDEN_JOBS__A")),
        "{p:#?}"
    );
}

#[test]
fn unknown_env_key_names_the_variable() {
    let p = problems(
        MINIMAL,
        &[("WARDEN_COGNIGY__BASE_UR", "https://x.example.com")],
    );
    let unknown = problem(&p, "cognigy.base_ur");
    assert_eq!(
        unknown.source,
        "environment variable WARDEN_COGNIGY__BASE_UR"
    );
    assert_eq!(unknown.message, "unknown key; did you mean `base_url`?");
}

// ---- missing, unknown, types -------------------------------------------------------------

#[test]
fn missing_required_keys_are_all_reported() {
    let p = problems("", &[]);
    assert_eq!(p.len(), 3, "{p:#?}");
    let url = problem(&p, "cognigy.base_url");
    assert_eq!(url.source, "not set");
    assert!(
        url.message.contains("WARDEN_COGNIGY__BASE_URL"),
        "{}",
        url.message
    );
    assert!(
        problem(&p, "cognigy.management_username")
            .message
            .starts_with("required")
    );
    let pw = problem(&p, "cognigy.management_password");
    assert!(
        pw.message.contains("management_password_file"),
        "{}",
        pw.message
    );
    assert!(
        pw.message.contains("WARDEN_COGNIGY__MANAGEMENT_PASSWORD"),
        "{}",
        pw.message
    );
}

#[test]
fn missing_job_keys_are_reported() {
    let p = problems(&with("[jobs.flows]\ntimeout = \"5m\"\n"), &[]);
    assert!(
        problem(&p, "jobs.flows.kind")
            .message
            .contains("WARDEN_JOBS__FLOWS__KIND")
    );
    assert!(
        problem(&p, "jobs.flows.schedule")
            .message
            .starts_with("required")
    );
}

#[test]
fn unknown_keys_anywhere_suggest_the_closest() {
    let toml = r#"
[cognigy]
base_ur = "https://api.cognigy.example.com"
base_url = "https://api.cognigy.example.com"
management_username = "warden@example.com"
management_password = "pw"

[cognigi]
x = 1

[superkey]
time_to_live = "15m"

[jobs.flows]
kind = "flows-inventory"
schedul = "0 0 * * * *"
schedule = "0 0 * * * *"
"#;
    let p = problems(toml, &[]);
    assert_eq!(
        problem(&p, "cognigy.base_ur").message,
        "unknown key; did you mean `base_url`?"
    );
    assert!(problem(&p, "cognigy.base_ur").source.starts_with("file "));
    assert_eq!(
        problem(&p, "cognigi").message,
        "unknown key; did you mean `cognigy`?"
    );
    assert_eq!(
        problem(&p, "superkey.time_to_live").message,
        "unknown key; the keys here are: ttl, renew_at, jitter, margin, backoff_max"
    );
    assert_eq!(
        problem(&p, "jobs.flows.schedul").message,
        "unknown key; did you mean `schedule`?"
    );
    assert_eq!(p.len(), 4, "{p:#?}");
}

#[test]
fn wrong_types_are_reported() {
    let toml = with(
        r#"
[superkey]
ttl = 900
renew_at = "most"
[reports]
keep_runs = 1.5
[log]
level = 3
[jobs.flows]
kind = "flows-inventory"
schedule = "0 0 * * * *"
run_on_start = "yes"
"#,
    );
    let p = problems(&toml, &[]);
    assert_eq!(
        problem(&p, "superkey.ttl").message,
        "expected a duration string such as \"15m\" or \"30s\", found the number 900"
    );
    assert_eq!(
        problem(&p, "superkey.renew_at").message,
        "expected a number, found the string `most`"
    );
    assert_eq!(
        problem(&p, "reports.keep_runs").message,
        "expected a whole number, found the number 1.5"
    );
    assert_eq!(
        problem(&p, "log.level").message,
        "expected a string, found the number 3"
    );
    assert_eq!(
        problem(&p, "jobs.flows.run_on_start").message,
        "expected true or false, found the string `yes`"
    );
}

#[test]
fn a_section_of_the_wrong_type_is_reported() {
    let p = problems(&format!("admin = 5\n{MINIMAL}"), &[]);
    assert_eq!(
        problem(&p, "admin").message,
        "expected a table ([admin]), found the number 5"
    );
}

#[test]
fn a_wrongly_typed_password_is_not_echoed() {
    let toml = MINIMAL.replace(
        "management_password = \"inline-pass-1234\"",
        "management_password = 918273645",
    );
    let p = problems(&toml, &[]);
    let pw = problem(&p, "cognigy.management_password");
    assert_eq!(pw.message, "expected a string, found a number");
}

// ---- values -------------------------------------------------------------------------------

#[test]
fn bad_durations() {
    let p = problems(
        &with("[superkey]\nmargin = \"30\"\nttl = \"15 minuts\"\n"),
        &[],
    );
    assert_eq!(
        problem(&p, "superkey.margin").message,
        "bad duration `30` for superkey.margin (a unit is missing): use e.g. \"15m\" or \"30s\""
    );
    assert_eq!(
        problem(&p, "superkey.ttl").message,
        "bad duration `15 minuts` for superkey.ttl (unknown unit `minuts`): use e.g. \"15m\" or \"30s\""
    );
    let p = problems(&flows_job("timeout = \"0s\"\n"), &[]);
    assert!(
        problem(&p, "jobs.flows.timeout")
            .message
            .starts_with("must be longer than 0s")
    );
}

#[test]
fn renew_at_must_be_inside_zero_and_one() {
    for bad in ["0", "1", "1.5", "-0.1"] {
        let p = problems(&with(&format!("[superkey]\nrenew_at = {bad}\n")), &[]);
        let renew = problem(&p, "superkey.renew_at");
        assert!(
            renew.message.contains("out of range"),
            "{bad}: {}",
            renew.message
        );
    }
    ok(&with("[superkey]\nrenew_at = 0.5\n"), &[]);
}

#[test]
fn jitter_must_be_in_zero_to_half() {
    for bad in ["0.5", "-0.01", "0.7"] {
        let p = problems(&with(&format!("[superkey]\njitter = {bad}\n")), &[]);
        assert!(
            problem(&p, "superkey.jitter")
                .message
                .contains("out of range"),
            "{bad}"
        );
    }
    ok(&with("[superkey]\njitter = 0\n"), &[]);
    ok(&with("[superkey]\njitter = 0.2\n"), &[]);
}

#[test]
fn jitter_must_stay_below_renew_at() {
    let p = problems(&with("[superkey]\nrenew_at = 0.1\njitter = 0.2\n"), &[]);
    assert!(
        problem(&p, "superkey.jitter")
            .message
            .contains("must be smaller than renew_at")
    );
}

#[test]
fn lifecycle_room_rule() {
    let p = problems(&with("[superkey]\nrenew_at = 0.9\njitter = 0.1\n"), &[]);
    let room = problem(&p, "superkey");
    assert_eq!(
        room.message,
        "no room to renew a key before it stops being usable: (renew_at 0.9 + jitter 0.1) x ttl 15m = 15m is not before ttl - margin = 14m 30s; lower renew_at or jitter, lower margin, or raise ttl"
    );
    // A short ttl with a large margin leaves no room either; raising ttl fixes it.
    problems(&with("[superkey]\nttl = \"1m\"\nmargin = \"30s\"\n"), &[]);
    ok(&with("[superkey]\nttl = \"2m\"\nmargin = \"30s\"\n"), &[]);
    // Exactly at the edge is not enough: (0.45 + 0.05) x 1m = 30s = 1m - 30s.
    problems(
        &with("[superkey]\nttl = \"1m\"\nrenew_at = 0.45\nmargin = \"30s\"\n"),
        &[],
    );
}

#[test]
fn backoff_max_at_least_one_second() {
    let p = problems(&with("[superkey]\nbackoff_max = \"500ms\"\n"), &[]);
    assert!(
        problem(&p, "superkey.backoff_max")
            .message
            .starts_with("must be at least 1s")
    );
    ok(&with("[superkey]\nbackoff_max = \"1s\"\n"), &[]);
}

#[test]
fn base_url_must_be_http_or_https_with_a_host() {
    let url = |u: &str| MINIMAL.replace("https://api.cognigy.example.com", u);
    let p = problems(&url("ftp://files.example.com"), &[]);
    assert_eq!(
        problem(&p, "cognigy.base_url").message,
        "scheme `ftp` is not supported: use an http:// or https:// URL"
    );
    let p = problems(&url("api.cognigy.example.com"), &[]);
    assert!(
        problem(&p, "cognigy.base_url")
            .message
            .contains("is not a URL")
    );
    let p = problems(&url("https://admin:hunter2@api.example.com"), &[]);
    let creds = problem(&p, "cognigy.base_url");
    assert!(creds.message.contains("must not contain credentials"));
    assert!(!creds.to_string().contains("hunter2"));
    ok(&url("http://localhost:3000/base/"), &[]);
}

#[test]
fn organisation_id_must_be_24_lowercase_hex() {
    let org = |id: &str| {
        with("").replace(
            "[cognigy]\n",
            &format!("[cognigy]\norganisation_id = \"{id}\"\n"),
        )
    };
    for bad in [
        "5F8A1C2B3D4E5F6A7B8C9D0E",
        "5f8a1c2b3d4e5f6a7b8c9d0",
        "5f8a1c2b3d4e5f6a7b8c9d0g",
        "",
    ] {
        let p = problems(&org(bad), &[]);
        let problem = problem(&p, "cognigy.organisation_id");
        assert!(
            problem.message.contains("24 lowercase hex"),
            "{bad}: {}",
            problem.message
        );
    }
    let config = ok(&org("5f8a1c2b3d4e5f6a7b8c9d0e"), &[]);
    assert_eq!(
        config.cognigy.organisation_id.as_deref(),
        Some("5f8a1c2b3d4e5f6a7b8c9d0e")
    );
}

#[test]
fn max_in_flight_between_1_and_256() {
    for bad in ["0", "257", "-3"] {
        let p = problems(
            &with("").replace(
                "[cognigy]\n",
                &format!("[cognigy]\nmax_in_flight = {bad}\n"),
            ),
            &[],
        );
        assert!(
            problem(&p, "cognigy.max_in_flight")
                .message
                .contains("use 1 to 256"),
            "{bad}"
        );
    }
    for good in ["1", "256"] {
        ok(
            &with("").replace(
                "[cognigy]\n",
                &format!("[cognigy]\nmax_in_flight = {good}\n"),
            ),
            &[],
        );
    }
}

#[test]
fn keep_runs_at_least_one() {
    let p = problems(&with("[reports]\nkeep_runs = 0\n"), &[]);
    assert_eq!(
        problem(&p, "reports.keep_runs").message,
        "0 is out of range: keep at least 1 run per job"
    );
}

#[test]
fn log_format_and_level() {
    let p = problems(
        &with("[log]\nformat = \"jsonl\"\nlevel = \"info,cognigy_warden=loud\"\n"),
        &[],
    );
    assert_eq!(
        problem(&p, "log.format").message,
        "unknown value `jsonl`; did you mean \"json\"? (one of \"json\", \"pretty\")"
    );
    assert!(
        problem(&p, "log.level")
            .message
            .contains("is not a log filter")
    );
    let p = problems(&with("[log]\nformat = \"jsno\"\n"), &[]);
    assert!(
        problem(&p, "log.format")
            .message
            .contains("did you mean \"json\"?")
    );
    let config = ok(
        &with("[log]\nformat = \"pretty\"\nlevel = \"warn,cognigy_warden=debug\"\n"),
        &[],
    );
    assert_eq!(config.log.format, Some(LogFormat::Pretty));
    assert_eq!(config.log.level, "warn,cognigy_warden=debug");
}

#[test]
fn admin_listen_must_be_an_address() {
    let p = problems(&with("[admin]\nlisten = \"localhost:9464\"\n"), &[]);
    assert!(
        problem(&p, "admin.listen")
            .message
            .contains("use e.g. \"0.0.0.0:9464\"")
    );
    let config = ok(
        &with("[admin]\nlisten = \"[::1]:0\"\nshutdown_grace = \"5s\"\n"),
        &[],
    );
    assert_eq!(config.admin.listen, "[::1]:0".parse().unwrap());
    assert_eq!(config.admin.shutdown_grace, Duration::from_secs(5));
}

// ---- secrets and files --------------------------------------------------------------------

fn with_password_file(path: &Path) -> String {
    MINIMAL.replace(
        "management_password = \"inline-pass-1234\"",
        &format!("management_password_file = \"{}\"", path.display()),
    )
}

#[test]
fn password_file_is_read_and_trailing_newline_trimmed() {
    let scratch = Scratch::new();
    let file = scratch.write("password", "s3cret with spaces \n");
    let config = scratch
        .load(&with_password_file(&file), &[])
        .expect("valid");
    assert_eq!(
        config.cognigy.management_password.expose_secret(),
        "s3cret with spaces "
    );
    let file = scratch.write("password-crlf", "s3cret\r\n");
    let config = scratch
        .load(&with_password_file(&file), &[])
        .expect("valid");
    assert_eq!(config.cognigy.management_password.expose_secret(), "s3cret");
}

#[test]
fn password_both_inline_and_file_is_an_error() {
    let scratch = Scratch::new();
    let file = scratch.write("password", "pw\n");
    let err = scratch
        .load(
            &with_password_file(&file),
            &[("WARDEN_COGNIGY__MANAGEMENT_PASSWORD", "also-inline")],
        )
        .expect_err("both");
    let both = problem(&err.problems, "cognigy.management_password");
    assert!(
        both.source
            .starts_with("environment variable WARDEN_COGNIGY__MANAGEMENT_PASSWORD and file "),
        "{}",
        both.source
    );
    assert!(
        both.message
            .contains("both inline and as `management_password_file`")
    );
    assert!(!err.to_string().contains("also-inline"));
}

#[test]
fn password_file_unreadable_or_empty() {
    let scratch = Scratch::new();
    let missing = scratch.path("no-such-password");
    let err = scratch
        .load(&with_password_file(&missing), &[])
        .expect_err("unreadable");
    let unreadable = problem(&err.problems, "cognigy.management_password_file");
    assert!(
        unreadable
            .message
            .contains(&format!("cannot read `{}`", missing.display()))
    );
    assert!(
        unreadable.message.contains("No such file or directory"),
        "{}",
        unreadable.message
    );

    let empty = scratch.write("empty", "\n");
    let err = scratch
        .load(&with_password_file(&empty), &[])
        .expect_err("empty");
    assert!(
        problem(&err.problems, "cognigy.management_password_file")
            .message
            .contains("is empty")
    );

    let p = problems(&MINIMAL.replace(PASSWORD, ""), &[]);
    assert!(
        problem(&p, "cognigy.management_password")
            .message
            .contains("is empty")
    );
}

#[test]
fn ca_file_must_be_readable_pem() {
    let scratch = Scratch::new();
    let ca = |path: &Path| {
        with("").replace(
            "[cognigy]\n",
            &format!("[cognigy]\nca_file = \"{}\"\n", path.display()),
        )
    };
    let err = scratch
        .load(&ca(&scratch.path("missing.pem")), &[])
        .expect_err("missing");
    assert!(
        problem(&err.problems, "cognigy.ca_file")
            .message
            .contains("cannot read")
    );
    let junk = scratch.write("junk.pem", "not a certificate");
    let err = scratch.load(&ca(&junk), &[]).expect_err("junk");
    assert!(
        problem(&err.problems, "cognigy.ca_file")
            .message
            .contains("holds no PEM certificate")
    );
    let pem = scratch.write(
        "ca.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    let config = scratch.load(&ca(&pem), &[]).expect("valid");
    assert_eq!(config.cognigy.ca_file, Some(pem));
}

#[test]
fn trigger_token_from_file_inline_both_or_unreadable() {
    let scratch = Scratch::new();
    let token = scratch.write("token", "t0ken-value\n");
    let admin = |path: &Path| {
        with(&format!(
            "[admin]\ntrigger_token_file = \"{}\"\n",
            path.display()
        ))
    };
    let config = scratch.load(&admin(&token), &[]).expect("valid");
    assert_eq!(
        config
            .admin
            .trigger_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some("t0ken-value".into())
    );
    assert_eq!(config.admin.trigger_token_file, Some(token.clone()));

    let err = scratch
        .load(&admin(&scratch.path("nope")), &[])
        .expect_err("unreadable");
    assert!(
        problem(&err.problems, "admin.trigger_token_file")
            .message
            .contains("cannot read")
    );

    let err = scratch
        .load(&admin(&token), &[("WARDEN_ADMIN__TRIGGER_TOKEN", "inline")])
        .expect_err("both");
    assert!(
        problem(&err.problems, "admin.trigger_token")
            .message
            .contains("both inline and as")
    );

    let p = problems(&with("[admin]\ntrigger_token = \"\"\n"), &[]);
    assert!(
        problem(&p, "admin.trigger_token")
            .message
            .contains("is empty")
    );
}

// ---- jobs ---------------------------------------------------------------------------------

#[test]
fn unknown_job_kind_and_bad_names() {
    let toml = with(
        r#"
[jobs.Flows]
kind = "flows-inventory"
schedule = "0 0 * * * *"
[jobs.-x]
kind = "flow-inventory"
schedule = "0 0 * * * *"
"#,
    );
    let p = problems(&toml, &[]);
    assert!(
        problem(&p, "jobs.Flows")
            .message
            .starts_with("bad job name `Flows`")
    );
    let kind = problem(&p, "jobs.-x.kind");
    assert_eq!(
        kind.message,
        "unknown value `flow-inventory`; did you mean \"flows-inventory\"? (one of \"flows-inventory\", \"asset-audit\")"
    );
    assert!(
        p.iter()
            .any(|p| p.key == "jobs.-x" && p.message.starts_with("bad job name"))
    );
    ok(
        &with("[jobs.a_b-9]\nkind = \"asset-audit\"\nschedule = \"0 0 * * * *\"\n"),
        &[],
    );
}

#[test]
fn cron_with_five_or_six_fields() {
    for good in [
        "0 * * * *",
        "*/15 * * * *",
        "0 0 * * * *",
        "0 30 6 * * MON-FRI",
    ] {
        let config = ok(&flows_job("").replace("0 0 * * * *", good), &[]);
        assert_eq!(config.jobs["flows"].schedule, good);
    }
    for (bad, expect) in [
        ("* * *", "has 3 fields"),
        ("0 0 0 * * * 2030", "has 7 fields"),
        ("61 * * * *", "bad cron `61 * * * *`"),
        ("0 0 25 * * *", "bad cron"),
        ("@hourly", "has 1 fields"),
    ] {
        let p = problems(&flows_job("").replace("0 0 * * * *", bad), &[]);
        let cron = problem(&p, "jobs.flows.schedule");
        assert!(cron.message.contains(expect), "{bad}: {}", cron.message);
        assert!(
            cron.message.contains("use 6 fields with seconds"),
            "{bad}: {}",
            cron.message
        );
    }
}

#[test]
fn timezone_must_be_iana() {
    let p = problems(&flows_job("timezone = \"Europe/Berlim\"\n"), &[]);
    assert_eq!(
        problem(&p, "jobs.flows.timezone").message,
        "unknown timezone `Europe/Berlim`; use an IANA name such as \"Europe/Berlin\" or \"UTC\""
    );
    let p = problems(&flows_job("timezone = \"europe/berlin\"\n"), &[]);
    assert_eq!(
        problem(&p, "jobs.flows.timezone").message,
        "unknown timezone `europe/berlin`; did you mean \"Europe/Berlin\"?"
    );
    let p = problems(&flows_job("timezone = \"Berlin\"\n"), &[]);
    assert_eq!(
        problem(&p, "jobs.flows.timezone").message,
        "unknown timezone `Berlin`; did you mean \"Europe/Berlin\"?"
    );
    let config = ok(&flows_job("timezone = \"America/New_York\"\n"), &[]);
    assert_eq!(config.jobs["flows"].timezone, chrono_tz::America::New_York);
}

#[test]
fn overlap_values() {
    let p = problems(&flows_job("overlap = \"queue_one\"\n"), &[]);
    assert_eq!(
        problem(&p, "jobs.flows.overlap").message,
        "unknown value `queue_one`; did you mean \"queue-one\"? (one of \"skip\", \"queue-one\")"
    );
    let config = ok(
        &flows_job(
            "overlap = \"queue-one\"\njitter = \"90s\"\nrun_on_start = true\nenabled = false\n",
        ),
        &[],
    );
    let job = &config.jobs["flows"];
    assert_eq!(job.overlap, Overlap::QueueOne);
    assert_eq!(job.jitter, Duration::from_secs(90));
    assert!(job.run_on_start);
    assert!(!job.enabled);
}

#[test]
fn window_and_rules_only_on_asset_audit() {
    let p = problems(
        &flows_job("window = \"24h\"\n[jobs.flows.rules.stale-flow]\nenabled = true\n"),
        &[],
    );
    assert_eq!(
        problem(&p, "jobs.flows.window").message,
        "`window` applies only to asset-audit jobs; remove it (this job's kind is flows-inventory)"
    );
    assert!(
        problem(&p, "jobs.flows.rules")
            .message
            .starts_with("`rules` applies only to asset-audit jobs")
    );
    let config = ok(&job("window = \"7d\"\n"), &[]);
    assert_eq!(config.jobs["audit"].window, Duration::from_secs(7 * 86_400));
}

#[test]
fn audit_rules_are_checked() {
    let toml = job(r#"
[jobs.audit.rules.stale-flows]
enabled = true
[jobs.audit.rules.dangling-endpoint]
max_age = "10d"
[jobs.audit.rules.unauthorized-events]
min_count = 0
[jobs.audit.rules.quota-near-limit]
threshold = 0
severity = "warn"
[jobs.audit.rules.old-snapshot]
max_age = "forever"
enabled = "true"
"#);
    let p = problems(&toml, &[]);
    assert_eq!(
        problem(&p, "jobs.audit.rules.stale-flows").message,
        "unknown audit rule `stale-flows`; did you mean `stale-flow`?"
    );
    assert_eq!(
        problem(&p, "jobs.audit.rules.dangling-endpoint.max_age").message,
        "unknown key; the keys here are: enabled, severity"
    );
    assert_eq!(
        problem(&p, "jobs.audit.rules.unauthorized-events.min_count").message,
        "0 is out of range: use a count of at least 1"
    );
    assert!(
        problem(&p, "jobs.audit.rules.quota-near-limit.threshold")
            .message
            .starts_with("0 is out of range")
    );
    assert_eq!(
        problem(&p, "jobs.audit.rules.quota-near-limit.severity").message,
        "unknown value `warn`; did you mean \"warning\"? (one of \"info\", \"warning\", \"critical\")"
    );
    assert!(
        problem(&p, "jobs.audit.rules.old-snapshot.max_age")
            .message
            .starts_with("bad duration `forever`")
    );
    assert!(
        problem(&p, "jobs.audit.rules.old-snapshot.enabled")
            .message
            .starts_with("expected true or false")
    );
    assert_eq!(p.len(), 7, "{p:#?}");
}

#[test]
fn audit_rule_values_are_stored_as_given() {
    let toml = job(r#"
[jobs.audit.rules.quota-near-limit]
threshold = 1
[jobs.audit.rules.unauthorized-events]
min_count = 3
severity = "critical"
[jobs.audit.rules.flow-without-description]
enabled = false
"#);
    let rules = &ok(&toml, &[]).jobs["audit"].rules;
    assert_eq!(
        rules["quota-near-limit"],
        RuleConfig {
            threshold: Some(1.0),
            ..RuleConfig::default()
        }
    );
    assert_eq!(
        rules["unauthorized-events"],
        RuleConfig {
            min_count: Some(3),
            severity: Some(Severity::Critical),
            ..RuleConfig::default()
        }
    );
    assert_eq!(
        rules["flow-without-description"],
        RuleConfig {
            enabled: Some(false),
            ..RuleConfig::default()
        }
    );
    assert_eq!(rules.len(), 3);
}

// ---- collection, file errors ------------------------------------------------------------------

#[test]
fn all_problems_are_collected() {
    let toml = r#"
[cognigy]
base_url = "gopher://x"
management_username = "u"
management_password = "p"
max_in_flight = 0
[superkey]
ttl = "soon"
jitter = 0.9
[reports]
keep_runs = 0
[admin]
listen = "everywhere"
[jobs.audit]
kind = "asset-audit"
schedule = "nope"
timezone = "Mars/Olympus"
"#;
    let p = problems(toml, &[]);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "cognigy.base_url",
        "cognigy.max_in_flight",
        "superkey.ttl",
        "superkey.jitter",
        "reports.keep_runs",
        "admin.listen",
        "jobs.audit.schedule",
        "jobs.audit.timezone",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(p.len(), 8, "{p:#?}");
}

#[test]
fn missing_config_file_is_one_problem_naming_it() {
    let scratch = Scratch::new();
    let path = scratch.path("absent.toml");
    let err =
        Config::load_with_env(Some(&path), Vec::<(String, String)>::new()).expect_err("missing");
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].source, format!("file {}", path.display()));
    assert!(
        err.problems[0]
            .message
            .contains("No such file or directory"),
        "{}",
        err.problems[0].message
    );
    assert!(err.problems[0].message.contains("WARDEN_CONFIG"));
}

#[test]
fn toml_syntax_error_names_line_and_column() {
    let p = problems(
        "[cognigy]\nbase_url = \"https://x\"\nmax_in_flight = = 3\n",
        &[],
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].message.starts_with("not valid TOML at line 3, column"),
        "{}",
        p[0].message
    );
    assert!(!p[0].message.contains('\n'), "{}", p[0].message);
}

// ---- output -----------------------------------------------------------------------------------

#[test]
fn redacted_toml_hides_secrets_and_round_trips() {
    let scratch = Scratch::new();
    let token = scratch.write("token", "tr1gger-t0ken-secret\n");
    let password = scratch.write("password", "m4nagement-secret\n");
    let toml = format!(
        "{}\n[admin]\ntrigger_token_file = \"{}\"\n",
        job("[jobs.audit.rules.stale-flow]\nmax_age = \"30d\"\n"),
        token.display()
    )
    .replace(
        "management_password = \"inline-pass-1234\"",
        &format!("management_password_file = \"{}\"", password.display()),
    );
    let config = scratch.load(&toml, &[]).expect("valid");
    let text = config.to_redacted_toml();
    assert!(!text.contains("m4nagement-secret"), "{text}");
    assert!(!text.contains("tr1gger-t0ken-secret"), "{text}");
    // The password's file is shown (so the output loads again); its content never is.
    assert!(
        text.contains(&format!(
            "management_password_file = \"{}\"",
            password.display()
        )),
        "{text}"
    );
    assert!(!text.contains("management_password ="), "{text}");
    assert!(
        text.contains(&format!("trigger_token_file = \"{}\"", token.display())),
        "{text}"
    );
    assert!(text.contains("[jobs.audit.rules.stale-flow]"), "{text}");
    assert!(text.contains("ttl = \"15m\""), "{text}");

    // The output is itself a valid configuration with the same values.
    let again = scratch.load(&text, &[]).expect("redacted output loads");
    assert_eq!(again.superkey, config.superkey);
    assert_eq!(again.jobs["audit"].rules, config.jobs["audit"].rules);
    assert_eq!(again.jobs["audit"].window, config.jobs["audit"].window);
    assert_eq!(again.cognigy.base_url, config.cognigy.base_url);
    assert_eq!(
        again.admin.trigger_token_file,
        config.admin.trigger_token_file
    );

    // An inline token is redacted too.
    let config = scratch
        .load(MINIMAL, &[("WARDEN_ADMIN__TRIGGER_TOKEN", "inline-tok3n")])
        .expect("valid");
    let text = config.to_redacted_toml();
    assert!(
        !text.contains("inline-tok3n") && !text.contains(PASSWORD),
        "{text}"
    );
    assert!(text.contains("trigger_token = \"[redacted]\""), "{text}");
}

#[test]
fn debug_output_hides_secrets() {
    let config = ok(MINIMAL, &[("WARDEN_ADMIN__TRIGGER_TOKEN", "inline-tok3n")]);
    let debug = format!("{config:?}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(!debug.contains("inline-tok3n"), "{debug}");
}

#[test]
fn enums_display_and_order() {
    assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    assert_eq!(Severity::Warning.to_string(), "warning");
    assert_eq!(JobKind::FlowsInventory.to_string(), "flows-inventory");
    assert_eq!(JobKind::AssetAudit.to_string(), "asset-audit");
    assert_eq!(Overlap::QueueOne.to_string(), "queue-one");
    assert_eq!(
        serde_json::to_string(&Severity::Critical).unwrap(),
        "\"critical\""
    );
    assert_eq!(
        serde_json::to_string(&JobKind::AssetAudit).unwrap(),
        "\"asset-audit\""
    );
}

#[test]
fn problem_display_is_one_line_each() {
    let err = load("", &[]).expect_err("missing keys");
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "invalid configuration (3 problems):");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("  cognigy.base_url (not set): required: set `base_url = \"https://api.cognigy.example.com\"` under [cognigy]"), "{}", lines[1]);
}

#[test]
fn unknown_section_from_env_names_its_variable() {
    let p = problems(MINIMAL, &[("WARDEN_SUPERKY__TTL", "15m")]);
    let unknown = problem(&p, "superky");
    assert_eq!(unknown.source, "environment variable WARDEN_SUPERKY__TTL");
    assert_eq!(unknown.message, "unknown key; did you mean `superkey`?");
}
