//! Shutdown of the real binary (`cognigy-warden run`) against an in-process sandbox: SIGTERM
//! during a job flips readiness to 503, waits for the job up to `admin.shutdown_grace`, then
//! cancels it without leaving a partial run and exits 0; a second signal exits at once.

mod common;

use cognigy_warden::sandbox::{FaultsPatch, Sandbox, SandboxOptions};
use common::*;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "shutdown-trigger-token-41f2";

struct Warden {
    child: Child,
    admin: String,
    logs: Arc<Mutex<String>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    reports: PathBuf,
}

impl Warden {
    /// Starts `cognigy-warden run` with a config file for `sandbox` and waits for its admin
    /// address (from the JSON start-up log line).
    fn start(sandbox: &Sandbox, grace: &str, run_on_start: bool) -> Warden {
        let dir = tempfile::tempdir().unwrap();
        let reports = dir.path().join("reports");
        std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        let config = format!(
            r#"
[cognigy]
base_url = "{base}"
management_username = "{USER}"
management_password_file = "{dir}/password"
request_timeout = "30s"

[superkey]
ttl = "10m"

[log]
format = "json"
level = "info"

[reports]
dir = "{reports}"
keep_runs = 5

[admin]
listen = "127.0.0.1:0"
trigger_token_file = "{dir}/token"
shutdown_grace = "{grace}"

[jobs.flows]
kind = "flows-inventory"
schedule = "0 0 0 1 1 *"
timeout = "5m"
run_on_start = {run_on_start}
"#,
            base = sandbox.base_url(),
            dir = dir.path().display(),
            reports = reports.display(),
        );
        let config_path = dir.path().join("warden.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cognigy-warden"))
            .arg("--config")
            .arg(&config_path)
            .arg("run")
            .env_remove("RUST_LOG")
            .env_remove("WARDEN_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "cognigy-warden started"
                    && let Some(addr) = v["admin"].as_str()
                {
                    let _ = addr_tx.send(addr.to_string());
                }
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "no start-up line with the admin address; logs:\n{}",
                    logs.lock().unwrap()
                );
            }
        };
        Warden {
            child,
            admin: format!("http://{addr}"),
            logs,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            _dir: dir,
            reports,
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let resp = self
            .http
            .get(format!("{}{path}", self.admin))
            .send()
            .await
            .ok()?;
        Some((resp.status().as_u16(), resp.text().await.ok()?))
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.get("/readyz").await.map(|r| r.0) != Some(200) {
            assert!(Instant::now() < deadline, "not ready:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for `/readyz` to answer `shutting down`.
    async fn wait_draining(&self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if let Some((503, body)) = self.get("/readyz").await
                && body == "shutting down\n"
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "readiness did not flip:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn trigger(&self) -> u16 {
        self.http
            .post(format!("{}/jobs/flows/run", self.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits for the process to exit, at most `within`.
    async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("still running after {within:?}; logs:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    fn job_dir(&self) -> PathBuf {
        self.reports.join("flows")
    }
}

impl Drop for Warden {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for_path(what: &str, within: Duration, check: impl Fn() -> bool, w: &Warden) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}; logs:\n{}", w.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        projects: 4,
        flows_per_project: 3,
        ..sandbox_options(Duration::from_secs(600))
    })
    .await
    .unwrap()
}

/// Starts the binary, lets the start-up run complete, then triggers a second run that hangs
/// on a slow sandbox and has written into its temporary directory.
async fn warden_in_a_slow_run(sandbox: &Sandbox, grace: &str) -> (Warden, String, Vec<String>) {
    let w = Warden::start(sandbox, grace, true);
    w.wait_ready().await;
    let latest = w.job_dir().join("latest");
    wait_for_path(
        "the start-up run did not complete",
        Duration::from_secs(15),
        || latest.is_file(),
        &w,
    )
    .await;
    // The start-up run is done once `latest` exists; its history entry follows at once.
    let before_latest = std::fs::read_to_string(&latest).unwrap();
    let before = entries(&w.job_dir());
    sandbox.set_faults(FaultsPatch {
        extra_latency_ms: Some(30_000),
        ..Default::default()
    });
    // `latest` is written just before the start-up run ends: until it has ended, a trigger is
    // skipped by the overlap policy (409). Retry briefly until it is accepted.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match w.trigger().await {
            202 => break,
            409 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("trigger answered {other}; logs:\n{}", w.logs()),
        }
    }
    let job_dir = w.job_dir();
    wait_for_path(
        "the slow run has no temporary directory",
        Duration::from_secs(10),
        || entries(&job_dir).iter().any(|n| n.starts_with(".tmp-")),
        &w,
    )
    .await;
    (w, before_latest, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_job_drains_cancels_after_the_grace_and_exits_0_without_a_partial_run() {
    let sandbox = sandbox().await;
    let (mut w, before_latest, before) = warden_in_a_slow_run(&sandbox, "2s").await;

    let signalled = Instant::now();
    w.signal(libc::SIGTERM);
    w.wait_draining().await;
    let status = w.wait_exit(Duration::from_secs(12)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "logs:\n{}", w.logs());
    // It waited for the run (which would take 30 s more) for the grace period, then cancelled it.
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(12),
        "{took:?}"
    );

    let job_dir = w.job_dir();
    assert_eq!(
        entries(&job_dir),
        before,
        "a run directory was added or left"
    );
    assert_eq!(
        std::fs::read_to_string(job_dir.join("latest")).unwrap(),
        before_latest
    );
    let logs = w.logs();
    assert!(
        logs.contains("shutdown grace period over: cancelling running jobs"),
        "{logs}"
    );
    assert!(logs.contains("\"outcome\":\"cancelled\""), "{logs}");
    assert_no_secrets("logs", &logs);
    assert!(!logs.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_during_the_grace_exits_at_once_with_a_failure_status() {
    let sandbox = sandbox().await;
    let (mut w, before_latest, _) = warden_in_a_slow_run(&sandbox, "60s").await;

    w.signal(libc::SIGTERM);
    w.wait_draining().await;
    let second = Instant::now();
    w.signal(libc::SIGINT);
    // "At once": far inside the 60 s grace.
    let status = w.wait_exit(Duration::from_secs(10)).await;
    assert!(second.elapsed() < Duration::from_secs(10));
    assert!(!status.success(), "{status:?}");
    assert_eq!(status.code(), Some(130), "logs:\n{}", w.logs());
    // Cut short: the run never completed, so `latest` still names the start-up run.
    assert_eq!(
        std::fs::read_to_string(w.job_dir().join("latest")).unwrap(),
        before_latest
    );
    assert!(w.logs().contains("second signal: exiting at once"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_finishes_within_the_grace_is_committed_before_exit() {
    let sandbox = sandbox().await;
    let w = Warden::start(&sandbox, "20s", false);
    w.wait_ready().await;
    // Two request rounds of 1.5 s: about 3 s of work.
    sandbox.set_faults(FaultsPatch {
        extra_latency_ms: Some(1500),
        ..Default::default()
    });
    assert_eq!(w.trigger().await, 202);
    let mut w = w;
    let signalled = Instant::now();
    w.signal(libc::SIGTERM);
    w.wait_draining().await;
    // No new run starts while draining.
    assert_eq!(w.trigger().await, 503);
    let status = w.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "logs:\n{}", w.logs());
    assert!(signalled.elapsed() < Duration::from_secs(15));
    let job_dir = w.job_dir();
    let latest = std::fs::read_to_string(job_dir.join("latest")).unwrap();
    let run = job_dir.join(latest.trim());
    for file in ["flows.jsonl", "flows.csv", "summary.json"] {
        assert!(run.join(file).is_file(), "{file} missing in {run:?}");
    }
    assert!(
        !entries(&job_dir).iter().any(|n| n.starts_with(".tmp-")),
        "{:?}",
        entries(&job_dir)
    );
    assert!(w.logs().contains("job run succeeded"), "{}", w.logs());
}
