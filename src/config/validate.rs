//! Walks the merged, source-tagged value tree key by key and builds a [`Config`], collecting
//! every problem instead of stopping at the first. Each section builder returns `None` only after
//! recording at least one problem.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::value::{Dict, Num, Value};
use figment::{Figment, Profile};
use secrecy::SecretString;

use super::layers::{ENV_LAYER_NAME, SECTIONS, env_name};
use super::{
    AUDIT_RULES, AdminConfig, AuditRuleSpec, CognigyConfig, Config, ConfigProblem, JobConfig,
    JobKind, LogConfig, LogFormat, Overlap, ReportsConfig, RuleConfig, Severity, SuperkeyConfig,
    defaults,
};

const COGNIGY_KEYS: &[&str] = &[
    "base_url",
    "organisation_id",
    "management_username",
    "management_password",
    "management_password_file",
    "request_timeout",
    "max_in_flight",
    "ca_file",
];
const SUPERKEY_KEYS: &[&str] = &["ttl", "renew_at", "jitter", "margin", "backoff_max"];
const LOG_KEYS: &[&str] = &["format", "level"];
const REPORTS_KEYS: &[&str] = &["dir", "keep_runs"];
const ADMIN_KEYS: &[&str] = &[
    "listen",
    "trigger_token",
    "trigger_token_file",
    "shutdown_grace",
];
const JOB_KEYS: &[&str] = &[
    "kind",
    "schedule",
    "timezone",
    "overlap",
    "timeout",
    "jitter",
    "run_on_start",
    "enabled",
    "window",
    "rules",
];
const MAX_IN_FLIGHT_RANGE: std::ops::RangeInclusive<i128> = 1..=256;
const DURATION_HINT: &str = "use e.g. \"15m\" or \"30s\"";

/// Validates the merged configuration.
pub(super) fn check(figment: &Figment) -> Result<Config, Vec<ConfigProblem>> {
    let mut checker = Checker {
        figment,
        problems: Vec::new(),
    };
    let root = match figment.find_value("") {
        Ok(root) => root,
        Err(e) => {
            return Err(vec![ConfigProblem {
                key: "(configuration)".to_owned(),
                source: "figment".to_owned(),
                message: format!("cannot merge the configuration layers: {e}"),
            }]);
        }
    };
    let config = checker.config(&root);
    match config {
        Some(config) if checker.problems.is_empty() => Ok(config),
        _ => {
            if checker.problems.is_empty() {
                // Unreachable by construction (a builder fails only after recording a problem),
                // but an empty error list must never reach the user.
                checker.push("(configuration)", "validation", "invalid configuration");
            }
            Err(checker.problems)
        }
    }
}

/// A value found at a key, with where it came from.
struct Field<'v> {
    path: Vec<String>,
    value: &'v Value,
    source: String,
    /// Environment variables carry only strings; numbers and booleans are parsed from them.
    from_env: bool,
    /// Never echo the value in a message.
    secret: bool,
}

impl Field<'_> {
    fn key(&self) -> String {
        self.path.join(".")
    }

    fn name(&self) -> &str {
        self.path.last().map_or("", String::as_str)
    }
}

fn child(parent: &[String], name: &str) -> Vec<String> {
    let mut path = parent.to_vec();
    path.push(name.to_owned());
    path
}

fn path_of(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

struct Checker<'f> {
    figment: &'f Figment,
    problems: Vec<ConfigProblem>,
}

impl Checker<'_> {
    fn push(
        &mut self,
        key: impl Into<String>,
        source: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(ConfigProblem {
            key: key.into(),
            source: source.into(),
            message: message.into(),
        });
    }

    fn complain(&mut self, field: &Field, message: impl Into<String>) {
        self.push(field.key(), field.source.clone(), message);
    }

    /// Where the value at `path` came from, and whether that is the environment.
    fn source_of(&self, value: &Value, path: &[String]) -> (String, bool) {
        match self.figment.get_metadata(value.tag()) {
            Some(metadata) => {
                let keys: Vec<&str> = path.iter().map(String::as_str).collect();
                (
                    metadata.interpolate(&Profile::Default, &keys),
                    metadata.name == ENV_LAYER_NAME,
                )
            }
            None => ("unknown source".to_owned(), false),
        }
    }

    fn field<'v>(&self, table: &'v Dict, parent: &[String], name: &str) -> Option<Field<'v>> {
        let value = table.get(name)?;
        let path = child(parent, name);
        let (source, from_env) = self.source_of(value, &path);
        Some(Field {
            path,
            value,
            source,
            from_env,
            secret: false,
        })
    }

    /// The field, or a "required" problem with a hint of what to write.
    fn required<'v>(
        &mut self,
        table: &'v Dict,
        parent: &[String],
        name: &str,
        example: &str,
    ) -> Option<Field<'v>> {
        let field = self.field(table, parent, name);
        if field.is_none() {
            let path = child(parent, name);
            self.push(
                path.join("."),
                "not set",
                format!(
                    "required: set `{name} = {example}` under [{}] in the configuration file, or {}",
                    parent.join("."),
                    env_name(&path)
                ),
            );
        }
        field
    }

    /// Converts an optional field, or gives `default` when absent; `None` after a problem.
    fn or_default<T>(
        &mut self,
        field: Option<Field>,
        default: T,
        convert: impl FnOnce(&mut Self, &Field) -> Option<T>,
    ) -> Option<T> {
        match field {
            None => Some(default),
            Some(field) => convert(self, &field),
        }
    }

    /// Converts an optional field, keeping absence; `None` after a problem.
    fn optional<T>(
        &mut self,
        field: Option<Field>,
        convert: impl FnOnce(&mut Self, &Field) -> Option<T>,
    ) -> Option<Option<T>> {
        match field {
            None => Some(None),
            Some(field) => convert(self, &field).map(Some),
        }
    }

    fn table<'v>(&mut self, value: &'v Value, path: &[String]) -> Option<&'v Dict> {
        match value {
            Value::Dict(_, dict) => Some(dict),
            other => {
                let (source, _) = self.source_of(other, path);
                self.push(
                    path.join("."),
                    source,
                    format!(
                        "expected a table ([{}]), found {}",
                        path.join("."),
                        describe(other, false)
                    ),
                );
                None
            }
        }
    }

    /// Reports every key of `table` that is not in `known`, suggesting the closest known one.
    fn unknown_keys(&mut self, table: &Dict, parent: &[String], known: &[&str]) {
        for (name, value) in table {
            if known.contains(&name.as_str()) {
                continue;
            }
            let path = child(parent, name);
            let (source, _) = self.source_of(value, &path);
            let message = match closest(name, known) {
                Some(suggestion) => format!("unknown key; did you mean `{suggestion}`?"),
                None => format!("unknown key; the keys here are: {}", known.join(", ")),
            };
            self.push(path.join("."), source, message);
        }
    }

    fn wrong_type(&mut self, field: &Field, expected: &str) {
        let found = describe(field.value, field.secret);
        self.complain(field, format!("expected {expected}, found {found}"));
    }

    // ---- typed conversions -------------------------------------------------------------

    fn string(&mut self, field: &Field) -> Option<String> {
        match field.value {
            Value::String(_, s) => Some(s.clone()),
            _ => {
                self.wrong_type(field, "a string");
                None
            }
        }
    }

    fn non_empty_string(&mut self, field: &Field) -> Option<String> {
        let s = self.string(field)?;
        if s.trim().is_empty() {
            self.complain(
                field,
                "is empty; give a value or leave the key out where it is optional",
            );
            return None;
        }
        Some(s)
    }

    fn path(&mut self, field: &Field) -> Option<PathBuf> {
        self.non_empty_string(field).map(PathBuf::from)
    }

    fn duration(&mut self, field: &Field) -> Option<Duration> {
        let Value::String(_, s) = field.value else {
            self.wrong_type(field, "a duration string such as \"15m\" or \"30s\"");
            return None;
        };
        match humantime::parse_duration(s.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                let why = match e {
                    humantime::DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
                        "a unit is missing".to_owned()
                    }
                    humantime::DurationError::UnknownUnit { unit, .. } => {
                        format!("unknown unit `{unit}`")
                    }
                    other => other.to_string(),
                };
                self.complain(
                    field,
                    format!(
                        "bad duration `{s}` for {} ({why}): {DURATION_HINT}",
                        field.key()
                    ),
                );
                None
            }
        }
    }

    fn positive_duration(&mut self, field: &Field) -> Option<Duration> {
        let d = self.duration(field)?;
        if d.is_zero() {
            self.complain(field, format!("must be longer than 0s: {DURATION_HINT}"));
            return None;
        }
        Some(d)
    }

    fn float(&mut self, field: &Field) -> Option<f64> {
        let parsed = match field.value {
            Value::Num(_, n) => num_to_f64(*n),
            Value::String(_, s) if field.from_env => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match parsed {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                self.wrong_type(field, "a number");
                None
            }
        }
    }

    fn integer(&mut self, field: &Field) -> Option<i128> {
        let parsed = match field.value {
            Value::Num(_, n) => num_to_i128(*n),
            Value::String(_, s) if field.from_env => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.wrong_type(field, "a whole number");
        }
        parsed
    }

    fn boolean(&mut self, field: &Field) -> Option<bool> {
        let parsed = match field.value {
            Value::Bool(_, b) => Some(*b),
            Value::String(_, s) if field.from_env => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.wrong_type(field, "true or false");
        }
        parsed
    }

    /// One of a fixed set of strings.
    fn choice<T: Copy>(&mut self, field: &Field, options: &[(&str, T)]) -> Option<T> {
        let s = self.string(field)?;
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*value);
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let listed = names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let message = match closest(&s.to_ascii_lowercase(), &names) {
            Some(suggestion) => {
                format!("unknown value `{s}`; did you mean \"{suggestion}\"? (one of {listed})")
            }
            None => format!("unknown value `{s}`; use one of {listed}"),
        };
        self.complain(field, message);
        None
    }

    fn fraction(&mut self, field: &Field, ok: impl Fn(f64) -> bool, rule: &str) -> Option<f64> {
        let x = self.float(field)?;
        if !ok(x) {
            self.complain(field, format!("{x} is out of range: {rule}"));
            return None;
        }
        Some(x)
    }

    /// Reads a secret file, trimming trailing newlines (how `echo` and most tools write them).
    fn secret_file(
        &mut self,
        field: &Field,
        path: &std::path::Path,
        what: &str,
    ) -> Option<SecretString> {
        match std::fs::read_to_string(path) {
            Ok(mut text) => {
                let len = text.trim_end_matches(['\n', '\r']).len();
                text.truncate(len);
                if text.is_empty() {
                    self.complain(
                        field,
                        format!(
                            "the file `{}` is empty; put the {what} in it",
                            path.display()
                        ),
                    );
                    return None;
                }
                Some(SecretString::from(text))
            }
            Err(e) => {
                self.complain(
                    field,
                    format!(
                        "cannot read `{}`: {e}; mount the secret there or fix the path",
                        path.display()
                    ),
                );
                None
            }
        }
    }

    /// A secret given either inline (`inline`, typically from the environment) or as a file
    /// (`file`), never both. Returns the secret and the file path.
    fn secret_pair(
        &mut self,
        table: &Dict,
        parent: &[String],
        inline: &str,
        file: &str,
        what: &str,
        required: bool,
    ) -> Option<(Option<SecretString>, Option<PathBuf>)> {
        let inline_field = self
            .field(table, parent, inline)
            .map(|f| Field { secret: true, ..f });
        let file_field = self.field(table, parent, file);
        match (inline_field, file_field) {
            (Some(i), Some(f)) => {
                self.push(
                    i.key(),
                    format!("{} and {}", i.source, f.source),
                    format!(
                        "the {what} is given both inline and as `{file}`; keep one (prefer `{file}` with a mounted secret)"
                    ),
                );
                None
            }
            (None, None) if required => {
                self.push(
                    child(parent, inline).join("."),
                    "not set",
                    format!(
                        "required: set `{file}` under [{}] to a file holding the {what} (e.g. a mounted secret), or set {}",
                        parent.join("."),
                        env_name(&child(parent, inline))
                    ),
                );
                None
            }
            (None, None) => Some((None, None)),
            (Some(i), None) => {
                let Value::String(_, s) = i.value else {
                    self.wrong_type(&i, "a string");
                    return None;
                };
                if s.is_empty() {
                    self.complain(&i, format!("the {what} is empty; set it or use `{file}`"));
                    return None;
                }
                Some((Some(SecretString::from(s.clone())), None))
            }
            (None, Some(f)) => {
                let path = self.path(&f)?;
                let secret = self.secret_file(&f, &path, what)?;
                Some((Some(secret), Some(path)))
            }
        }
    }

    // ---- sections ----------------------------------------------------------------------

    fn config(&mut self, root: &Value) -> Option<Config> {
        let empty = Dict::new();
        let root = match root {
            Value::Dict(_, dict) => dict,
            _ => &empty,
        };
        self.unknown_keys(root, &[], SECTIONS);
        let cognigy = self
            .section(root, "cognigy", &empty)
            .and_then(|t| self.cognigy(t));
        let superkey = self
            .section(root, "superkey", &empty)
            .and_then(|t| self.superkey(t));
        let log = self.section(root, "log", &empty).and_then(|t| self.log(t));
        let reports = self
            .section(root, "reports", &empty)
            .and_then(|t| self.reports(t));
        let admin = self
            .section(root, "admin", &empty)
            .and_then(|t| self.admin(t));
        let jobs = self
            .section(root, "jobs", &empty)
            .and_then(|t| self.jobs(t));
        Some(Config {
            cognigy: cognigy?,
            superkey: superkey?,
            log: log?,
            reports: reports?,
            admin: admin?,
            jobs: jobs?,
        })
    }

    fn section<'v>(&mut self, root: &'v Dict, name: &str, empty: &'v Dict) -> Option<&'v Dict> {
        match root.get(name) {
            None => Some(empty),
            Some(value) => self.table(value, &path_of(&[name])),
        }
    }

    fn cognigy(&mut self, t: &Dict) -> Option<CognigyConfig> {
        let p = path_of(&["cognigy"]);
        self.unknown_keys(t, &p, COGNIGY_KEYS);
        let base_url = self
            .required(t, &p, "base_url", "\"https://api.cognigy.example.com\"")
            .and_then(|f| self.base_url(&f));
        let organisation_id = {
            let f = self.field(t, &p, "organisation_id");
            self.optional(f, |c, f| c.organisation_id(f))
        };
        let management_username = self
            .required(t, &p, "management_username", "\"warden@example.com\"")
            .and_then(|f| self.non_empty_string(&f));
        let password = self.secret_pair(
            t,
            &p,
            "management_password",
            "management_password_file",
            "management password",
            true,
        );
        let request_timeout = self
            .required(t, &p, "request_timeout", "\"30s\"")
            .and_then(|f| self.positive_duration(&f));
        let max_in_flight = self.required(t, &p, "max_in_flight", "8").and_then(|f| {
            let n = self.integer(&f)?;
            if !MAX_IN_FLIGHT_RANGE.contains(&n) {
                self.complain(
                    &f,
                    format!("{n} is out of range: use 1 to 256 concurrent requests"),
                );
                return None;
            }
            usize::try_from(n).ok()
        });
        let ca_file = {
            let f = self.field(t, &p, "ca_file");
            self.optional(f, |c, f| c.ca_file(f))
        };
        let (password, password_file) = password?;
        Some(CognigyConfig {
            base_url: base_url?,
            organisation_id: organisation_id?,
            management_username: management_username?,
            management_password: password?,
            management_password_file: password_file,
            request_timeout: request_timeout?,
            max_in_flight: max_in_flight?,
            ca_file: ca_file?,
        })
    }

    fn base_url(&mut self, field: &Field) -> Option<url::Url> {
        let s = self.string(field)?;
        let hint = "use e.g. \"https://api.cognigy.example.com\"";
        let url = match url::Url::parse(s.trim()) {
            Ok(url) => url,
            Err(e) => {
                self.complain(field, format!("`{s}` is not a URL ({e}): {hint}"));
                return None;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            self.complain(
                field,
                format!(
                    "scheme `{}` is not supported: use an http:// or https:// URL",
                    url.scheme()
                ),
            );
            return None;
        }
        if url.host_str().is_none_or(str::is_empty) {
            self.complain(field, format!("`{s}` has no host: {hint}"));
            return None;
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Do not echo the URL: it holds credentials.
            self.complain(
                field,
                "must not contain credentials; use management_username and management_password_file",
            );
            return None;
        }
        Some(url)
    }

    fn organisation_id(&mut self, field: &Field) -> Option<String> {
        let s = self.string(field)?;
        let is_id = s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !is_id {
            self.complain(
                field,
                format!(
                    "`{s}` is not an organisation id (24 lowercase hex characters, e.g. \"5f8a1c2b3d4e5f6a7b8c9d0e\"); leave the key out to discover it at run time"
                ),
            );
            return None;
        }
        Some(s)
    }

    fn ca_file(&mut self, field: &Field) -> Option<PathBuf> {
        let path = self.path(field)?;
        match std::fs::read(&path) {
            Ok(bytes)
                if bytes
                    .windows(27)
                    .any(|w| w == b"-----BEGIN CERTIFICATE-----") =>
            {
                Some(path)
            }
            Ok(_) => {
                self.complain(
                    field,
                    format!(
                        "`{}` holds no PEM certificate (no `-----BEGIN CERTIFICATE-----` line); give a PEM CA bundle",
                        path.display()
                    ),
                );
                None
            }
            Err(e) => {
                self.complain(
                    field,
                    format!(
                        "cannot read `{}`: {e}; mount the CA bundle there or remove the key",
                        path.display()
                    ),
                );
                None
            }
        }
    }

    fn superkey(&mut self, t: &Dict) -> Option<SuperkeyConfig> {
        let p = path_of(&["superkey"]);
        self.unknown_keys(t, &p, SUPERKEY_KEYS);
        let ttl_f = self.required(t, &p, "ttl", "\"15m\"");
        let renew_f = self.required(t, &p, "renew_at", "0.667");
        let jitter_f = self.required(t, &p, "jitter", "0.05");
        let margin_f = self.required(t, &p, "margin", "\"30s\"");
        let backoff_f = self.required(t, &p, "backoff_max", "\"30s\"");

        let ttl = ttl_f.as_ref().and_then(|f| self.positive_duration(f));
        let renew_at = renew_f.as_ref().and_then(|f| {
            self.fraction(
                f,
                |x| x > 0.0 && x < 1.0,
                "renew_at is a fraction of ttl strictly between 0 and 1 (e.g. 0.667)",
            )
        });
        let jitter = jitter_f.as_ref().and_then(|f| {
            self.fraction(
                f,
                |x| (0.0..0.5).contains(&x),
                "jitter is a +- fraction of ttl, at least 0 and below 0.5 (e.g. 0.05)",
            )
        });
        let margin = margin_f.as_ref().and_then(|f| self.duration(f));
        let backoff_max = backoff_f.as_ref().and_then(|f| {
            let d = self.duration(f)?;
            if d < Duration::from_secs(1) {
                self.complain(
                    f,
                    "must be at least 1s (retries start at 1s and double up to this cap)",
                );
                return None;
            }
            Some(d)
        });

        let (ttl, renew_at, jitter, margin) = (ttl?, renew_at?, jitter?, margin?);
        let sources = || {
            [
                (&renew_f, "renew_at"),
                (&jitter_f, "jitter"),
                (&ttl_f, "ttl"),
                (&margin_f, "margin"),
            ]
            .iter()
            .filter_map(|(f, name)| f.as_ref().map(|f| format!("{name} from {}", f.source)))
            .collect::<Vec<_>>()
            .join("; ")
        };
        let mut ok = true;
        if jitter >= renew_at {
            ok = false;
            self.push(
                "superkey.jitter",
                sources(),
                format!(
                    "jitter ({jitter}) must be smaller than renew_at ({renew_at}), or a key may be renewed right after it is created; lower jitter or raise renew_at"
                ),
            );
        }
        let latest_renewal = ttl.mul_f64(renew_at + jitter);
        let usable = ttl.saturating_sub(margin);
        if latest_renewal >= usable {
            ok = false;
            self.push(
                "superkey",
                sources(),
                format!(
                    "no room to renew a key before it stops being usable: (renew_at {renew_at} + jitter {jitter}) x ttl {} = {} is not before ttl - margin = {}; lower renew_at or jitter, lower margin, or raise ttl",
                    show(ttl),
                    show(latest_renewal),
                    show(usable)
                ),
            );
        }
        if !ok {
            return None;
        }
        Some(SuperkeyConfig {
            ttl,
            renew_at,
            jitter,
            margin,
            backoff_max: backoff_max?,
        })
    }

    fn log(&mut self, t: &Dict) -> Option<LogConfig> {
        let p = path_of(&["log"]);
        self.unknown_keys(t, &p, LOG_KEYS);
        let format = {
            let f = self.field(t, &p, "format");
            self.optional(f, |c, f| {
                c.choice(
                    f,
                    &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)],
                )
            })
        };
        let level = self.required(t, &p, "level", "\"info\"").and_then(|f| {
            let level = self.non_empty_string(&f)?;
            if let Err(e) = tracing_subscriber::EnvFilter::try_new(&level) {
                self.complain(
                    &f,
                    format!("`{level}` is not a log filter ({e}); use e.g. \"info\" or \"info,cognigy_warden=debug\""),
                );
                return None;
            }
            Some(level)
        });
        Some(LogConfig {
            format: format?,
            level: level?,
        })
    }

    fn reports(&mut self, t: &Dict) -> Option<ReportsConfig> {
        let p = path_of(&["reports"]);
        self.unknown_keys(t, &p, REPORTS_KEYS);
        let dir = self
            .required(t, &p, "dir", "\"/var/lib/cognigy-warden/reports\"")
            .and_then(|f| self.path(&f));
        let keep_runs = self.required(t, &p, "keep_runs", "30").and_then(|f| {
            let n = self.integer(&f)?;
            if n < 1 {
                self.complain(
                    &f,
                    format!("{n} is out of range: keep at least 1 run per job"),
                );
                return None;
            }
            let Ok(n) = usize::try_from(n) else {
                self.complain(&f, format!("{n} is too large"));
                return None;
            };
            Some(n)
        });
        Some(ReportsConfig {
            dir: dir?,
            keep_runs: keep_runs?,
        })
    }

    fn admin(&mut self, t: &Dict) -> Option<AdminConfig> {
        let p = path_of(&["admin"]);
        self.unknown_keys(t, &p, ADMIN_KEYS);
        let listen = self.required(t, &p, "listen", "\"0.0.0.0:9464\"").and_then(|f| {
            let s = self.string(&f)?;
            match s.trim().parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    self.complain(
                        &f,
                        format!("`{s}` is not an IP address and port; use e.g. \"0.0.0.0:9464\" (all interfaces) or \"127.0.0.1:9464\""),
                    );
                    None
                }
            }
        });
        let token = self.secret_pair(
            t,
            &p,
            "trigger_token",
            "trigger_token_file",
            "trigger token",
            false,
        );
        let shutdown_grace = self
            .required(t, &p, "shutdown_grace", "\"25s\"")
            .and_then(|f| self.duration(&f));
        let (trigger_token, trigger_token_file) = token?;
        Some(AdminConfig {
            listen: listen?,
            trigger_token,
            trigger_token_file,
            shutdown_grace: shutdown_grace?,
        })
    }

    fn jobs(&mut self, t: &Dict) -> Option<BTreeMap<String, JobConfig>> {
        let mut jobs = BTreeMap::new();
        let mut ok = true;
        for (name, value) in t {
            let path = path_of(&["jobs", name]);
            if !valid_job_name(name) {
                ok = false;
                let (source, _) = self.source_of(value, &path);
                self.push(
                    path.join("."),
                    source,
                    format!(
                        "bad job name `{name}`: use lowercase letters, digits, `_` and `-`, starting with a letter or digit (e.g. \"flows-daily\")"
                    ),
                );
            }
            match self
                .table(value, &path)
                .and_then(|job| self.job(&path, job))
            {
                Some(job) => {
                    jobs.insert(name.clone(), job);
                }
                None => ok = false,
            }
        }
        ok.then_some(jobs)
    }

    fn job(&mut self, p: &[String], t: &Dict) -> Option<JobConfig> {
        self.unknown_keys(t, p, JOB_KEYS);
        let kind = self
            .required(t, p, "kind", "\"flows-inventory\"")
            .and_then(|f| {
                let options = JobKind::ALL.map(|k| (k.as_str(), k));
                self.choice(&f, &options)
            });
        let schedule = self
            .required(t, p, "schedule", "\"0 0 * * * *\"")
            .and_then(|f| self.cron(&f));
        let f = self.field(t, p, "timezone");
        let timezone = self.or_default(f, defaults::JOB_TIMEZONE, |c, f| c.timezone(f));
        let f = self.field(t, p, "overlap");
        let overlap = self.or_default(f, defaults::JOB_OVERLAP, |c, f| {
            c.choice(
                f,
                &[("skip", Overlap::Skip), ("queue-one", Overlap::QueueOne)],
            )
        });
        let f = self.field(t, p, "timeout");
        let timeout = self.or_default(f, defaults::JOB_TIMEOUT, |c, f| c.positive_duration(f));
        let f = self.field(t, p, "jitter");
        let jitter = self.or_default(f, defaults::JOB_JITTER, |c, f| c.duration(f));
        let f = self.field(t, p, "run_on_start");
        let run_on_start = self.or_default(f, defaults::JOB_RUN_ON_START, |c, f| c.boolean(f));
        let f = self.field(t, p, "enabled");
        let enabled = self.or_default(f, defaults::JOB_ENABLED, |c, f| c.boolean(f));

        let window_f = self.field(t, p, "window");
        let rules_f = self.field(t, p, "rules");
        let (window, rules) = if kind == Some(JobKind::FlowsInventory) {
            for f in [&window_f, &rules_f].into_iter().flatten() {
                self.complain(
                    f,
                    format!("`{}` applies only to asset-audit jobs; remove it (this job's kind is flows-inventory)", f.name()),
                );
            }
            let clean = window_f.is_none() && rules_f.is_none();
            (
                clean.then_some(defaults::AUDIT_WINDOW),
                clean.then(BTreeMap::new),
            )
        } else {
            let window = self.or_default(window_f, defaults::AUDIT_WINDOW, |c, f| {
                c.positive_duration(f)
            });
            let rules = match rules_f {
                None => Some(BTreeMap::new()),
                Some(f) => self
                    .table(f.value, &f.path)
                    .and_then(|r| self.rules(&f.path, r)),
            };
            (window, rules)
        };
        Some(JobConfig {
            kind: kind?,
            schedule: schedule?,
            timezone: timezone?,
            overlap: overlap?,
            timeout: timeout?,
            jitter: jitter?,
            run_on_start: run_on_start?,
            enabled: enabled?,
            window: window?,
            rules: rules?,
        })
    }

    fn cron(&mut self, field: &Field) -> Option<String> {
        let expr = self.non_empty_string(field)?;
        let expr = expr.trim().to_owned();
        let examples =
            "use 6 fields with seconds (\"0 0 * * * *\" = hourly) or 5 without (\"0 * * * *\")";
        let fields = expr.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            self.complain(
                field,
                format!("cron `{expr}` has {fields} fields: {examples}"),
            );
            return None;
        }
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build();
        if let Err(e) = parser.parse(&expr) {
            self.complain(field, format!("bad cron `{expr}` ({e}); {examples}"));
            return None;
        }
        Some(expr)
    }

    fn timezone(&mut self, field: &Field) -> Option<chrono_tz::Tz> {
        let s = self.string(field)?;
        if let Ok(tz) = s.trim().parse::<chrono_tz::Tz>() {
            return Some(tz);
        }
        let wanted = s.trim().to_ascii_lowercase();
        // Same name in other case, or a city without its region ("Berlin").
        let suggestion = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(&wanted))
            .or_else(|| {
                chrono_tz::TZ_VARIANTS.iter().find(|tz| {
                    !wanted.is_empty()
                        && tz
                            .name()
                            .to_ascii_lowercase()
                            .ends_with(&format!("/{wanted}"))
                })
            });
        let message = match suggestion {
            Some(tz) => format!("unknown timezone `{s}`; did you mean \"{}\"?", tz.name()),
            None => format!(
                "unknown timezone `{s}`; use an IANA name such as \"Europe/Berlin\" or \"UTC\""
            ),
        };
        self.complain(field, message);
        None
    }

    fn rules(&mut self, p: &[String], t: &Dict) -> Option<BTreeMap<String, RuleConfig>> {
        let mut rules = BTreeMap::new();
        let mut ok = true;
        let names: Vec<&str> = AUDIT_RULES.iter().map(|r| r.name).collect();
        for (name, value) in t {
            let path = child(p, name);
            let Some(spec) = AUDIT_RULES.iter().find(|r| r.name == name) else {
                ok = false;
                let (source, _) = self.source_of(value, &path);
                let message = match closest(name, &names) {
                    Some(s) => format!("unknown audit rule `{name}`; did you mean `{s}`?"),
                    None => format!(
                        "unknown audit rule `{name}`; the rules are: {}",
                        names.join(", ")
                    ),
                };
                self.push(path.join("."), source, message);
                continue;
            };
            match self
                .table(value, &path)
                .and_then(|r| self.rule(spec, &path, r))
            {
                Some(rule) => {
                    rules.insert(name.clone(), rule);
                }
                None => ok = false,
            }
        }
        ok.then_some(rules)
    }

    fn rule(&mut self, spec: &AuditRuleSpec, p: &[String], t: &Dict) -> Option<RuleConfig> {
        let mut known = vec!["enabled", "severity"];
        known.extend_from_slice(spec.tunables);
        let before = self.problems.len();
        self.unknown_keys(t, p, &known);
        let unknown_found = self.problems.len() > before;

        let f = self.field(t, p, "enabled");
        let enabled = self.optional(f, |c, f| c.boolean(f));
        let f = self.field(t, p, "severity");
        let severity = self.optional(f, |c, f| {
            c.choice(
                f,
                &[
                    ("info", Severity::Info),
                    ("warning", Severity::Warning),
                    ("critical", Severity::Critical),
                ],
            )
        });
        let tunable = |name: &str| spec.tunables.contains(&name);
        let f = self.field(t, p, "max_age").filter(|_| tunable("max_age"));
        let max_age = self.optional(f, |c, f| c.positive_duration(f));
        let f = self
            .field(t, p, "threshold")
            .filter(|_| tunable("threshold"));
        let threshold = self.optional(f, |c, f| {
            c.fraction(
                f,
                |x| x > 0.0 && x <= 1.0,
                "threshold is a fraction of the quota above 0 and at most 1 (e.g. 0.9)",
            )
        });
        let f = self
            .field(t, p, "min_count")
            .filter(|_| tunable("min_count"));
        let min_count = self.optional(f, |c, f| {
            let n = c.integer(f)?;
            match u32::try_from(n) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    c.complain(f, format!("{n} is out of range: use a count of at least 1"));
                    None
                }
            }
        });
        if unknown_found {
            return None;
        }
        Some(RuleConfig {
            enabled: enabled?,
            severity: severity?,
            max_age: max_age?,
            threshold: threshold?,
            min_count: min_count?,
        })
    }
}

/// `[a-z0-9][a-z0-9_-]*`
fn valid_job_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn num_to_i128(n: Num) -> Option<i128> {
    n.to_u128_lossy()
        .and_then(|u| i128::try_from(u).ok())
        .or_else(|| n.to_i128())
}

fn num_to_f64(n: Num) -> Option<f64> {
    // Integers in the file (`renew_at = 1`) count as numbers too.
    n.to_f64().or_else(|| num_to_i128(n).map(|i| i as f64))
}

/// What a value is, for "expected X, found Y"; secrets are never shown.
fn describe(value: &Value, secret: bool) -> String {
    match value {
        Value::String(..) if secret => "a string".to_owned(),
        Value::String(_, s) => format!("the string `{s}`"),
        Value::Char(_, c) if !secret => format!("the character `{c}`"),
        Value::Bool(_, b) if !secret => format!("the boolean `{b}`"),
        Value::Num(_, n) if !secret => match (num_to_i128(*n), n.to_f64()) {
            (Some(i), _) => format!("the number {i}"),
            (None, Some(x)) => format!("the number {x}"),
            _ => "a number".to_owned(),
        },
        Value::Char(..) => "a character".to_owned(),
        Value::Bool(..) => "a boolean".to_owned(),
        Value::Num(..) => "a number".to_owned(),
        Value::Dict(..) => "a table".to_owned(),
        Value::Array(..) => "an array".to_owned(),
        Value::Empty(..) => "an empty value".to_owned(),
    }
}

/// A duration for messages, rounded to milliseconds.
fn show(d: Duration) -> String {
    let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    humantime::format_duration(Duration::from_millis(millis)).to_string()
}

/// The known name closest to `name`, if it is close enough to be a likely typo.
pub(super) fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    // An abbreviation (`warn` for `warning`) is a likely slip too.
    if name.len() >= 3
        && let Some(full) = known.iter().find(|k| k.starts_with(name))
    {
        return Some(full);
    }
    let (best, distance) = known
        .iter()
        .map(|k| (*k, edit_distance(name, k)))
        .min_by_key(|(_, d)| *d)?;
    let limit = (name.chars().count().max(best.chars().count()) / 3).max(1);
    (distance <= limit).then_some(best)
}

/// Edit distance counting an adjacent swap as one edit (optimal string alignment), with `-` and
/// `_` as the same character.
fn edit_distance(a: &str, b: &str) -> usize {
    let norm = |c: char| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_lowercase()
        }
    };
    let a: Vec<char> = a.chars().map(norm).collect();
    let b: Vec<char> = b.chars().map(norm).collect();
    // d[i][j]: distance between the first i chars of a and the first j chars of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}
