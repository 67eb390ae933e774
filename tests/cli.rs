//! The real binary: configuration errors exit 2 and name the key, `check-config` redacts
//! secrets, `jobs list`/`jobs run` work, and `run` against `cognigy-warden sandbox` keeps a
//! fresh key without logging it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cognigy-warden");
const PASSWORD: &str = "cli-test-password-7d1e";

fn warden(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run cognigy-warden")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A valid configuration (apart from what a test changes) and its password file.
fn write_config(dir: &Path, base_url: &str, extra: &str) -> std::path::PathBuf {
    let password = dir.join("password");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[cognigy]
base_url = "{base_url}"
management_username = "warden"
management_password_file = "{}"

[reports]
dir = "{}"
{extra}"#,
            password.display(),
            dir.join("reports").display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn each_invalid_input_exits_2_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "https://api.example.com", "");
    let c = config.to_str().unwrap();
    // (what, environment, text the error must contain)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "missing base URL",
            vec![("WARDEN_COGNIGY__BASE_URL", "")],
            "cognigy.base_url",
        ),
        (
            "bad duration",
            vec![("WARDEN_SUPERKEY__TTL", "15 minuts")],
            "superkey.ttl",
        ),
        (
            "renew_at outside (0,1)",
            vec![("WARDEN_SUPERKEY__RENEW_AT", "1.2")],
            "superkey.renew_at",
        ),
        (
            "unreadable password file",
            vec![(
                "WARDEN_COGNIGY__MANAGEMENT_PASSWORD_FILE",
                "/nonexistent/password",
            )],
            "/nonexistent/password",
        ),
        (
            "both password forms",
            vec![("WARDEN_COGNIGY__MANAGEMENT_PASSWORD", "inline")],
            "both inline and as",
        ),
        (
            "no room to renew",
            vec![("WARDEN_SUPERKEY__MARGIN", "6m")],
            "lower renew_at or jitter",
        ),
    ];
    for (what, env, needle) in cases {
        let mut env = env;
        env.push(("WARDEN_CONFIG", c));
        let out = warden(dir.path(), &["check-config"], &env);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out));
        assert!(
            text(&out).contains(needle),
            "{what}: `{needle}` not in:\n{}",
            text(&out)
        );
        assert!(!text(&out).contains(PASSWORD), "{what}: password printed");
    }
    // All problems are reported together.
    let out = warden(
        dir.path(),
        &["--config", c, "check-config"],
        &[
            ("WARDEN_SUPERKEY__TTL", "x"),
            ("WARDEN_COGNIGY__MAX_IN_FLIGHT", "0"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(
        t.contains("superkey.ttl") && t.contains("cognigy.max_in_flight"),
        "{t}"
    );
    assert!(
        t.contains("WARDEN_SUPERKEY__TTL"),
        "the source is named: {t}"
    );
}

#[test]
fn check_config_prints_the_effective_configuration_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "https://api.example.com", "");
    let out = warden(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
        &[("WARDEN_SUPERKEY__TTL", "10m")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("ttl = \"10m\""), "{t}");
    assert!(t.contains("management_password_file = "), "{t}");
    assert!(!text(&out).contains(PASSWORD));
    // An inline password is shown as redacted.
    let out = warden(
        dir.path(),
        &["check-config"],
        &[
            ("WARDEN_COGNIGY__BASE_URL", "https://api.example.com"),
            ("WARDEN_COGNIGY__MANAGEMENT_USERNAME", "warden"),
            ("WARDEN_COGNIGY__MANAGEMENT_PASSWORD", PASSWORD),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("management_password = \"[redacted]\""),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(PASSWORD));
}

#[test]
fn jobs_list_shows_the_next_three_runs_in_the_job_timezone() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "https://api.example.com",
        "[jobs.nightly]\nkind = \"flows-inventory\"\nschedule = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"\n",
    );
    let out = warden(
        dir.path(),
        &["--config", config.to_str().unwrap(), "jobs", "list"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("nightly: flows-inventory, schedule `30 2 * * *` (Europe/Berlin)"),
        "{t}"
    );
    let next: Vec<&str> = t
        .lines()
        .filter(|l| l.trim_start().starts_with("next:"))
        .collect();
    assert_eq!(next.len(), 3, "{t}");
    assert!(next.iter().all(|l| l.contains("02:30:00 CE")), "{t}");
}

/// `cognigy-warden sandbox` as a child process; returns it and its base URL.
fn spawn_sandbox(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--username",
            "warden",
            "--password",
            PASSWORD,
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.contains(PASSWORD), "{line}");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in `{line}`"))
        .to_string();
    (child, url)
}

fn stats(url: &str) -> serde_json::Value {
    let body = reqwest::blocking::get(format!("{url}/_sandbox/stats"))
        .unwrap()
        .text()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn run_for_30_seconds_against_a_6s_sandbox_makes_7_to_9_keys_and_logs_none() {
    let (sandbox, url) = spawn_sandbox(&["--ttl", "6s"]);
    let _sandbox = Kill(sandbox);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &url, "[admin]\nlisten = \"127.0.0.1:0\"\n");
    let mut daemon = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("WARDEN_SUPERKEY__TTL", "6s")
        .env("WARDEN_SUPERKEY__MARGIN", "1s")
        .env("WARDEN_LOG__LEVEL", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(30));
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    let started = Instant::now();
    let status = daemon.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let mut log = String::new();
    daemon
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    daemon
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let s = stats(&url);
    let keys = s["keys_issued"].as_u64().unwrap();
    assert!((7..=9).contains(&keys), "{keys} keys in 30 s: {s}");
    assert!(log.contains("Super API-Key created"), "{log}");
    // JSON lines when not on a terminal.
    assert!(log.lines().next().unwrap_or("").starts_with('{'), "{log}");
    assert!(!log.contains("sbx_"), "a key was logged:\n{log}");
    assert!(!log.contains(PASSWORD), "the password was logged:\n{log}");
}

#[test]
fn jobs_run_flows_writes_5000_rows_and_prints_the_path() {
    let (sandbox, url) = spawn_sandbox(&["--projects", "200", "--flows-per-project", "25"]);
    let _sandbox = Kill(sandbox);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &url,
        "[jobs.flows]\nkind = \"flows-inventory\"\nschedule = \"0 0 * * * *\"\n",
    );
    let out = warden(
        dir.path(),
        &["--config", config.to_str().unwrap(), "jobs", "run", "flows"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report path in {stdout}"));
    let rows = std::fs::read_to_string(Path::new(path).join("flows.jsonl")).unwrap();
    assert_eq!(rows.lines().count(), 5000);
    let csv = std::fs::read_to_string(Path::new(path).join("flows.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5001);
    assert!(stdout.contains("flows=5000"), "{stdout}");
    assert!(!text(&out).contains("sbx_"));

    // An unknown job name is an error that lists the configured ones.
    let out = warden(
        dir.path(),
        &["--config", config.to_str().unwrap(), "jobs", "run", "nope"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("configured: flows"), "{}", text(&out));

    // A failing run exits 1 and leaves no run directory behind.
    let before = std::fs::read_dir(dir.path().join("reports/flows"))
        .unwrap()
        .count();
    let out = warden(
        dir.path(),
        &["--config", config.to_str().unwrap(), "jobs", "run", "flows"],
        &[
            (
                "WARDEN_COGNIGY__MANAGEMENT_PASSWORD_FILE",
                dir.path().join("config.toml").to_str().unwrap(),
            ),
            ("WARDEN_JOBS__FLOWS__TIMEOUT", "3s"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("timed out"), "{}", text(&out));
    let after = std::fs::read_dir(dir.path().join("reports/flows"))
        .unwrap()
        .count();
    assert_eq!(before, after);
}
