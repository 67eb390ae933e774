//! The three configuration layers as figment providers. Each layer's metadata interpolates a
//! key path into the human description of where that value came from ("default",
//! "file /etc/x.toml", "environment variable WARDEN_SUPERKEY__TTL"), which the validator quotes.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::{CONFIG_PATH_ENV, ConfigProblem, ENV_PREFIX, defaults};

/// Metadata name of the environment layer; the validator uses it to accept strings for numbers
/// and booleans (environment variables have no types).
pub(super) const ENV_LAYER_NAME: &str = "environment variables";

/// Top-level sections; also used to spot `WARDEN_COGNIGY_BASE_URL` (single underscore).
pub(super) const SECTIONS: &[&str] = &["cognigy", "superkey", "log", "reports", "admin", "jobs"];

/// A ready-made dictionary with metadata.
pub(super) struct Layer {
    metadata: Metadata,
    dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

fn duration(d: std::time::Duration) -> Value {
    Value::from(humantime::format_duration(d).to_string())
}

fn table(entries: Vec<(&str, Value)>) -> Value {
    Value::from(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Dict>(),
    )
}

/// The built-in defaults of every key that has one (job defaults are applied per job).
pub(super) fn defaults() -> Layer {
    let dict: Dict = [
        (
            "cognigy",
            table(vec![
                ("request_timeout", duration(defaults::REQUEST_TIMEOUT)),
                ("max_in_flight", Value::from(defaults::MAX_IN_FLIGHT as u64)),
            ]),
        ),
        (
            "superkey",
            table(vec![
                ("ttl", duration(defaults::SUPERKEY_TTL)),
                ("renew_at", Value::from(defaults::SUPERKEY_RENEW_AT)),
                ("jitter", Value::from(defaults::SUPERKEY_JITTER)),
                ("margin", duration(defaults::SUPERKEY_MARGIN)),
                ("backoff_max", duration(defaults::SUPERKEY_BACKOFF_MAX)),
            ]),
        ),
        (
            "log",
            table(vec![("level", Value::from(defaults::LOG_LEVEL))]),
        ),
        (
            "reports",
            table(vec![
                ("dir", Value::from(defaults::REPORTS_DIR)),
                ("keep_runs", Value::from(defaults::KEEP_RUNS as u64)),
            ]),
        ),
        (
            "admin",
            table(vec![
                ("listen", Value::from(defaults::ADMIN_LISTEN)),
                ("shutdown_grace", duration(defaults::SHUTDOWN_GRACE)),
            ]),
        ),
        ("jobs", Value::from(Dict::new())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Layer {
        metadata: Metadata::named("default")
            .interpolater(|_: &Profile, _: &[&str]| "default".to_owned()),
        dict,
    }
}

/// The TOML file. A file that cannot be read or parsed is one problem that stops loading.
pub(super) fn file(path: &Path) -> Result<Layer, ConfigProblem> {
    let source = format!("file {}", path.display());
    let problem = |message: String| ConfigProblem {
        key: "(configuration file)".to_owned(),
        source: source.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        problem(format!(
            "cannot read it: {e}; check the path given with --config or {CONFIG_PATH_ENV}"
        ))
    })?;
    let dict: Dict = toml::from_str(&text).map_err(|e| {
        let at = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!(" at line {line}, column {column}")
        });
        problem(format!(
            "not valid TOML{}: {}; fix the syntax",
            at.unwrap_or_default(),
            e.message().split_whitespace().collect::<Vec<_>>().join(" ")
        ))
    })?;
    let described = source.clone();
    Ok(Layer {
        metadata: Metadata::from("file", path)
            .interpolater(move |_: &Profile, _: &[&str]| described.clone()),
        dict,
    })
}

/// The job names defined so far, so that `WARDEN_JOBS__FLOWS_DAILY__...` can address
/// `[jobs.flows-daily]` (environment variable names cannot hold `-`).
pub(super) fn job_names(figment: &Figment) -> Vec<String> {
    figment
        .find_value("jobs")
        .ok()
        .and_then(|jobs| jobs.into_dict())
        .map(|jobs| jobs.into_keys().collect())
        .unwrap_or_default()
}

/// The environment layer and the problems found in variable names.
pub(super) struct EnvLayer {
    pub layer: Layer,
    pub problems: Vec<ConfigProblem>,
}

/// Reads `WARDEN_<SECTION>__<KEY>` variables: `__` nests, names are lowercased, `_` stands for
/// `-` in audit rule names and in job names the file defines with `-`. Values stay strings; the
/// validator converts them by the key's type.
pub(super) fn environment(vars: Vec<(OsString, OsString)>, job_names: &[String]) -> EnvLayer {
    let mut vars: Vec<(String, OsString)> = vars
        .into_iter()
        // A name that is not UTF-8 cannot be one of ours.
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k != CONFIG_PATH_ENV)
        .collect();
    vars.sort();

    let mut problems = Vec::new();
    let mut root = Dict::new();
    let mut names: BTreeMap<Vec<String>, String> = BTreeMap::new();
    for (name, value) in vars {
        let rest = &name[ENV_PREFIX.len()..];
        let source = format!("environment variable {name}");
        if !rest.contains("__") {
            // Not a configuration variable (e.g. a Kubernetes service link such as WARDEN_PORT),
            // unless it looks like a section key written with a single underscore.
            let lower = rest.to_ascii_lowercase();
            if let Some(section) = SECTIONS
                .iter()
                .find(|s| lower.starts_with(&format!("{s}_")))
            {
                let key = &rest[section.len() + 1..];
                problems.push(ConfigProblem {
                    key: format!("{section}.{}", key.to_ascii_lowercase()),
                    source,
                    message: format!(
                        "nest keys with a double underscore: use {ENV_PREFIX}{}__{key}",
                        section.to_ascii_uppercase()
                    ),
                });
            }
            continue;
        }
        let mut path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(String::is_empty) {
            problems.push(ConfigProblem {
                key: path.join("."),
                source,
                message: format!(
                    "malformed name (empty part between `__`); write e.g. {ENV_PREFIX}COGNIGY__BASE_URL"
                ),
            });
            continue;
        }
        normalise_job_path(&mut path, job_names);
        let Ok(value) = value.into_string() else {
            problems.push(ConfigProblem {
                key: path.join("."),
                source,
                message: "the value is not valid UTF-8".to_owned(),
            });
            continue;
        };
        if let Err(conflict) = insert(&mut root, &path, value) {
            let other = names
                .iter()
                .find(|(p, _)| p.starts_with(&conflict) || conflict.starts_with(p))
                .map_or_else(|| "another variable".to_owned(), |(_, n)| n.clone());
            let message = if conflict == path {
                format!("sets the same key as {other}; keep one")
            } else {
                format!(
                    "conflicts with {other}: one sets `{}` to a value, the other a key inside it; drop one",
                    conflict.join(".")
                )
            };
            problems.push(ConfigProblem {
                key: path.join("."),
                source,
                message,
            });
            continue;
        }
        names.insert(path, name);
    }

    let names = Arc::new(names);
    let metadata =
        Metadata::named(ENV_LAYER_NAME).interpolater(move |_: &Profile, keys: &[&str]| {
            let exact = names.iter().find(|(path, _)| path.iter().eq(keys.iter()));
            // A table (e.g. an unknown section) is named by the first variable inside it.
            let inside = || {
                names.iter().find(|(path, _)| {
                    path.len() > keys.len() && path.iter().zip(keys).all(|(a, b)| a == b)
                })
            };
            match exact.or_else(inside) {
                Some((_, name)) => format!("environment variable {name}"),
                None => format!("environment variable {}", env_name(keys)),
            }
        });
    EnvLayer {
        layer: Layer {
            metadata,
            dict: root,
        },
        problems,
    }
}

/// `jobs.<job>...`: map `flows_daily` to a defined `flows-daily`; `jobs.<job>.rules.<rule>...`:
/// rule names always use `-`.
fn normalise_job_path(path: &mut [String], job_names: &[String]) {
    if path.first().map(String::as_str) != Some("jobs") {
        return;
    }
    if let Some(job) = path.get(1)
        && !job_names.contains(job)
        && let Some(defined) = job_names.iter().find(|n| n.replace('-', "_") == *job)
    {
        path[1] = defined.clone();
    }
    if path.get(2).map(String::as_str) == Some("rules")
        && let Some(rule) = path.get_mut(3)
    {
        *rule = rule.replace('_', "-");
    }
}

/// Inserts a string at `path`, creating tables on the way; on a clash between a value and a
/// table returns the path where they clash.
fn insert(root: &mut Dict, path: &[String], value: String) -> Result<(), Vec<String>> {
    let mut dict = root;
    for (i, part) in path.iter().enumerate() {
        if i + 1 == path.len() {
            if dict.contains_key(part) {
                return Err(path.to_vec());
            }
            dict.insert(part.clone(), Value::from(value));
            return Ok(());
        }
        let entry = dict
            .entry(part.clone())
            .or_insert_with(|| Value::from(Dict::new()));
        match entry {
            Value::Dict(_, inner) => dict = inner,
            _ => return Err(path[..=i].to_vec()),
        }
    }
    Ok(())
}

/// The environment variable that sets the key at `path`.
pub(super) fn env_name<S: AsRef<str>>(path: &[S]) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|p| p.as_ref().to_ascii_uppercase().replace('-', "_"))
        .collect();
    format!("{ENV_PREFIX}{}", parts.join("__"))
}
