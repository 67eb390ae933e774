//! The admin surface of an in-process daemon against the sandbox, over real HTTP: probes
//! across the key's life, metric values after known scenarios, `/status`, the trigger's
//! authentication and overlap answers, draining, API error logs, and a slow client.

mod common;

use cognigy_warden::admin::{self, AdminState, ServerLimits};
use cognigy_warden::app::Daemon;
use cognigy_warden::config::{
    AdminConfig, CognigyConfig, Config, JobConfig, JobKind, LogConfig, Overlap, ReportsConfig,
    SuperkeyConfig,
};
use cognigy_warden::jobs::Scheduler;
use cognigy_warden::jobs::scheduler::NoopObserver;
use cognigy_warden::sandbox::{FaultsPatch, Sandbox, SandboxOptions};
use common::*;
use secrecy::SecretString;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "trigger-token-7c1e55d0";
/// A schedule that does not fire during a test (1 January, midnight).
const YEARLY: &str = "0 0 0 1 1 *";

fn config(sandbox: &Sandbox, reports: &Path, ttl: Duration, token: Option<&str>) -> Config {
    let mut jobs = BTreeMap::new();
    jobs.insert(
        "flows".to_string(),
        JobConfig {
            kind: JobKind::FlowsInventory,
            schedule: YEARLY.to_string(),
            timezone: chrono_tz::UTC,
            overlap: Overlap::Skip,
            timeout: Duration::from_secs(60),
            jitter: Duration::ZERO,
            run_on_start: false,
            enabled: true,
            window: Duration::from_secs(24 * 3600),
            rules: BTreeMap::new(),
        },
    );
    Config {
        cognigy: CognigyConfig {
            base_url: sandbox.base_url().parse().unwrap(),
            organisation_id: None,
            management_username: USER.to_string(),
            management_password: SecretString::from(PASSWORD.to_string()),
            management_password_file: None,
            request_timeout: Duration::from_secs(10),
            max_in_flight: 8,
            ca_file: None,
        },
        // No jitter, so that the rotation times are known.
        superkey: SuperkeyConfig {
            ttl,
            renew_at: 0.6,
            jitter: 0.0,
            margin: ttl / 6,
            backoff_max: Duration::from_secs(1),
        },
        log: LogConfig::default(),
        reports: ReportsConfig {
            dir: reports.to_path_buf(),
            keep_runs: 5,
        },
        admin: AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            trigger_token: token.map(|t| SecretString::from(t.to_string())),
            trigger_token_file: None,
            shutdown_grace: Duration::from_secs(10),
        },
        jobs,
    }
}

async fn sandbox(ttl: Duration) -> Sandbox {
    Sandbox::start(SandboxOptions {
        projects: 4,
        flows_per_project: 3,
        ..sandbox_options(ttl)
    })
    .await
    .unwrap()
}

/// An HTTP client of the admin server that remembers every answer body.
struct Admin {
    base: String,
    http: reqwest::Client,
    seen: std::sync::Mutex<String>,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Admin {
    fn new(addr: std::net::SocketAddr) -> Admin {
        Admin {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            seen: Default::default(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("the admin server answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        let mut seen = self.seen.lock().unwrap();
        seen.push_str(&format!("{headers:?}\n{body}\n"));
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn trigger(&self, job: &str, authorization: Option<&str>) -> Answer {
        let mut req = self.http.post(format!("{}/jobs/{job}/run", self.base));
        if let Some(auth) = authorization {
            req = req.header("authorization", auth);
        }
        self.send(req).await
    }

    async fn metrics(&self) -> String {
        let answer = self.get("/metrics").await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.headers["content-type"],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        answer.body
    }

    async fn status(&self) -> Value {
        let answer = self.get("/status").await;
        assert_eq!(answer.status, 200);
        answer.json()
    }

    /// Polls `path` until it answers `status`, for at most `within`.
    async fn wait_for(&self, path: &str, status: u16, within: Duration) -> Answer {
        let deadline = Instant::now() + within;
        loop {
            let answer = self.get(path).await;
            if answer.status == status {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "{path} still answers {} {:?} after {within:?}",
                answer.status,
                answer.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every header and body answered so far.
    fn everything_seen(&self) -> String {
        self.seen.lock().unwrap().clone()
    }
}

/// The value of the sample `series` (name with labels, exactly as exposed).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no sample {series} in\n{metrics}"))
        .parse()
        .unwrap()
}

fn rfc3339_unix(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp()
}

async fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_key_metrics_follow_the_key_life() {
    // Keys live 3 s: renewal at 1.8 s, end of use at 2.5 s, retries within 0.5..1 s.
    let ttl = Duration::from_secs(3);
    let sandbox = sandbox(ttl).await;
    let reports = tempfile::tempdir().unwrap();
    // The first key takes a moment, so that the start is observable.
    sandbox.set_faults(FaultsPatch {
        extra_latency_ms: Some(400),
        ..Default::default()
    });
    let daemon = Daemon::start(config(&sandbox, reports.path(), ttl, None), None)
        .await
        .unwrap();
    let admin = Admin::new(daemon.admin_addr());

    // Before the first key.
    let ready = admin.get("/readyz").await;
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (503, "starting: no Super API-Key yet\n")
    );
    let live = admin.get("/livez").await;
    assert_eq!((live.status, live.body.as_str()), (200, "ok\n"));
    let m = admin.metrics().await;
    assert_eq!(sample(&m, "cognigy_warden_superkey_usable"), 0.0);
    assert_eq!(sample(&m, "cognigy_warden_superkey_generation"), 0.0);
    // Every job's series exist before its first run.
    assert_eq!(sample(&m, "cognigy_warden_job_running{job=\"flows\"}"), 0.0);
    for outcome in ["success", "failed", "timed_out", "cancelled", "skipped"] {
        assert_eq!(
            sample(
                &m,
                &format!("cognigy_warden_job_runs_total{{job=\"flows\",outcome=\"{outcome}\"}}")
            ),
            0.0
        );
    }
    assert!(m.contains("cognigy_warden_build_info{version=\""), "{m}");
    assert!(sample(&m, "cognigy_warden_start_time_seconds") > 1.6e9);
    sandbox.set_faults(FaultsPatch {
        extra_latency_ms: Some(0),
        ..Default::default()
    });

    // Usable.
    admin.wait_for("/readyz", 200, Duration::from_secs(5)).await;
    let key = daemon.keys().state();
    assert_eq!(key.generation, 1);
    let m = admin.metrics().await;
    assert_eq!(sample(&m, "cognigy_warden_superkey_usable"), 1.0);
    assert_eq!(sample(&m, "cognigy_warden_superkey_generation"), 1.0);
    let expiration = sample(&m, "cognigy_warden_superkey_expiration_timestamp_seconds");
    let created = sample(&m, "cognigy_warden_superkey_created_timestamp_seconds");
    assert!(
        (expiration - key.expires_unix).abs() < 1e-3,
        "{expiration} vs {key:?}"
    );
    assert!(
        (created - key.created_unix).abs() < 1e-3,
        "{created} vs {key:?}"
    );
    assert!((expiration - created - 3.0).abs() < 1e-3);
    let status = admin.status().await;
    assert_eq!(
        expiration.floor() as i64,
        rfc3339_unix(&status["superkey"]["expires_at"])
    );

    // One failed renewal, then a good one: exactly 2 successes and 1 failure.
    sandbox.set_faults(FaultsPatch {
        management_outage: Some(true),
        ..Default::default()
    });
    let keys = daemon.keys().clone();
    wait_until("a failed renewal", Duration::from_secs(4), || {
        keys.state().rotations_failed == 1
    })
    .await;
    sandbox.set_faults(FaultsPatch {
        management_outage: Some(false),
        ..Default::default()
    });
    wait_until("the second key", Duration::from_secs(3), || {
        keys.state().generation == 2
    })
    .await;
    let m = admin.metrics().await;
    assert_eq!(
        sample(
            &m,
            "cognigy_warden_superkey_rotations_total{result=\"success\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &m,
            "cognigy_warden_superkey_rotations_total{result=\"failure\"}"
        ),
        1.0
    );
    assert_eq!(sample(&m, "cognigy_warden_superkey_generation"), 2.0);
    let key = keys.state();
    assert_eq!(
        sample(&m, "cognigy_warden_superkey_expiration_timestamp_seconds"),
        key.expires_unix
    );
    assert_eq!(admin.get("/readyz").await.status, 200);

    // A long outage: the key lapses, readiness says why, liveness is unaffected.
    sandbox.set_faults(FaultsPatch {
        management_outage: Some(true),
        ..Default::default()
    });
    let lapsed = admin.wait_for("/readyz", 503, Duration::from_secs(4)).await;
    assert!(
        lapsed.body.starts_with("no usable Super API-Key: ") && lapsed.body.len() > 30,
        "{}",
        lapsed.body
    );
    let m = admin.metrics().await;
    assert_eq!(sample(&m, "cognigy_warden_superkey_usable"), 0.0);
    assert_eq!(admin.get("/livez").await.status, 200);
    // Once the renewal has failed (the client retries first), the reason is its error.
    wait_until("a failed renewal", Duration::from_secs(5), || {
        keys.state().consecutive_failures >= 1
    })
    .await;
    // Each failed attempt has its own traceId in the message: compare answers taken between
    // two attempts (retries are 0.5 s or more apart).
    let mut agreed = false;
    for _ in 0..5 {
        let status = admin.status().await;
        assert_eq!(status["ready"], false);
        assert_eq!(status["superkey"]["usable"], false);
        assert_eq!(status["superkey"]["last_error"]["status"], 503);
        let message = status["superkey"]["last_error"]["message"]
            .as_str()
            .unwrap();
        assert!(message.contains("503"), "{message}");
        let reason = format!("no usable Super API-Key: {message}");
        assert_eq!(status["not_ready_reason"], reason.as_str());
        if admin.get("/readyz").await.body == format!("{reason}\n") {
            agreed = true;
            break;
        }
    }
    assert!(agreed, "/readyz does not give the last error as its reason");

    // Recovered.
    sandbox.set_faults(FaultsPatch {
        management_outage: Some(false),
        ..Default::default()
    });
    admin.wait_for("/readyz", 200, Duration::from_secs(3)).await;
    let m = admin.metrics().await;
    assert_eq!(sample(&m, "cognigy_warden_superkey_usable"), 1.0);
    assert_eq!(sandbox.stats().requests_rejected_expired_key, 0);

    daemon.stop().await;
    assert_no_secrets("admin answers", &admin.everything_seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_needs_the_token_follows_the_overlap_policy_and_status_tells_the_run() {
    let ttl = Duration::from_secs(600);
    let sandbox = sandbox(ttl).await;
    let reports = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(config(&sandbox, reports.path(), ttl, Some(TOKEN)), None)
        .await
        .unwrap();
    let admin = Admin::new(daemon.admin_addr());
    admin.wait_for("/readyz", 200, Duration::from_secs(5)).await;
    let bearer = format!("Bearer {TOKEN}");

    // Authentication.
    for wrong in [
        None,
        Some("Bearer not-the-token"),
        Some(&format!("Bearer {TOKEN}x")),
        Some(&format!("Basic {TOKEN}")),
    ] {
        let refused = admin.trigger("flows", wrong).await;
        assert_eq!(refused.status, 401, "{wrong:?}: {}", refused.body);
        assert!(
            refused.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{:?}",
            refused.headers
        );
    }
    let unknown = admin.trigger("nope", Some(&bearer)).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(
        unknown.json()["message"]
            .as_str()
            .unwrap()
            .contains("flows")
    );

    // A run that takes a while: the second trigger is skipped.
    sandbox.set_faults(FaultsPatch {
        extra_latency_ms: Some(700),
        ..Default::default()
    });
    let started = admin.trigger("flows", Some(&bearer)).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let started = started.json();
    assert_eq!(started["result"], "started");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    assert!(!run_id.is_empty());
    let skipped = admin.trigger("flows", Some(&bearer)).await;
    assert_eq!(skipped.status, 409, "{}", skipped.body);
    assert_eq!(skipped.json()["result"], "skipped");
    assert!(skipped.json().get("run_id").is_none());

    let status = admin.status().await;
    let job = &status["jobs"][0];
    assert_eq!(job["name"], "flows");
    assert_eq!(job["running_id"], run_id.as_str());
    assert!(job["running_since"].is_string());
    assert_eq!(job["running_trigger"], "manual");
    assert_eq!(job["skipped_total"], 1);
    let m = admin.metrics().await;
    assert_eq!(sample(&m, "cognigy_warden_job_running{job=\"flows\"}"), 1.0);

    sandbox.set_faults(FaultsPatch {
        extra_latency_ms: Some(0),
        ..Default::default()
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        let status = admin.status().await;
        if !status["jobs"][0]["last_runs"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not finish: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The shape of /status.
    for field in [
        "version",
        "started_at",
        "draining",
        "ready",
        "live",
        "superkey",
        "jobs",
    ] {
        assert!(status.get(field).is_some(), "no {field} in {status}");
    }
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["draining"], false);
    assert_eq!(status["live"], true);
    let key = status["superkey"].as_object().unwrap();
    for field in [
        "generation",
        "usable",
        "created_at",
        "expires_at",
        "usable_until",
        "next_rotation",
        "consecutive_failures",
        "last_error",
    ] {
        assert!(key.contains_key(field), "no superkey.{field} in {status}");
    }
    assert!(!key.contains_key("key"));
    assert_eq!(key["usable"], true);
    let job = &status["jobs"][0];
    assert_eq!(job["schedule"], YEARLY);
    assert_eq!(job["timezone"], "UTC");
    assert_eq!(job["kind"], "flows-inventory");
    assert!(
        job["next_run"]
            .as_str()
            .unwrap()
            .contains("-01-01T00:00:00")
    );
    assert!(job["running_since"].is_null());
    let run = &job["last_runs"][0];
    assert_eq!(run["id"], run_id.as_str());
    assert_eq!(run["outcome"], "success", "{run}");
    assert_eq!(run["trigger"], "manual");
    let report_path = Path::new(run["report"]["report_path"].as_str().unwrap());
    assert!(report_path.starts_with(reports.path()), "{report_path:?}");
    assert!(report_path.join("flows.jsonl").is_file());
    assert_eq!(run["report"]["counts"]["flows"], 12);

    let m = admin.metrics().await;
    assert_eq!(sample(&m, "cognigy_warden_job_running{job=\"flows\"}"), 0.0);
    assert_eq!(
        sample(
            &m,
            "cognigy_warden_job_runs_total{job=\"flows\",outcome=\"success\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "cognigy_warden_job_runs_total{job=\"flows\",outcome=\"skipped\"}"
        ),
        1.0
    );
    assert!(
        sample(
            &m,
            "cognigy_warden_job_last_success_timestamp_seconds{job=\"flows\"}"
        ) >= rfc3339_unix(&run["started"]) as f64
    );
    assert!(m.contains("cognigy_warden_job_duration_seconds_count{job=\"flows\"} 1"));
    assert!(
        m.contains("cognigy_warden_api_requests_total{route=\"/new/v2.0/flows\",status=\"200\"}")
    );

    daemon.stop().await;
    let seen = admin.everything_seen();
    assert_no_secrets("admin answers", &seen);
    assert!(!seen.contains(TOKEN), "an answer holds the trigger token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_trigger_route_does_not_exist() {
    let ttl = Duration::from_secs(600);
    let sandbox = sandbox(ttl).await;
    let reports = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(config(&sandbox, reports.path(), ttl, None), None)
        .await
        .unwrap();
    let admin = Admin::new(daemon.admin_addr());
    for auth in [None, Some("Bearer anything")] {
        let answer = admin.trigger("flows", auth).await;
        assert_eq!(answer.status, 404, "{}", answer.body);
    }
    assert_eq!(admin.get("/jobs/flows/run").await.status, 404);
    assert_eq!(admin.get("/nothing-here").await.status, 404);
    daemon.stop().await;
    // Nothing ran: only management requests (the key) reached the sandbox.
    let stats = sandbox.stats();
    assert_eq!(stats.requests_total, stats.management_requests, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_answers_503_while_a_running_job_gets_its_grace_and_finishes() {
    let ttl = Duration::from_secs(600);
    let sandbox = sandbox(ttl).await;
    let reports = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(config(&sandbox, reports.path(), ttl, Some(TOKEN)), None)
        .await
        .unwrap();
    let admin = Admin::new(daemon.admin_addr());
    admin.wait_for("/readyz", 200, Duration::from_secs(5)).await;
    let bearer = format!("Bearer {TOKEN}");
    sandbox.set_faults(FaultsPatch {
        extra_latency_ms: Some(800),
        ..Default::default()
    });
    assert_eq!(admin.trigger("flows", Some(&bearer)).await.status, 202);

    let stopping = tokio::spawn(daemon.stop());
    let draining = admin.wait_for("/readyz", 503, Duration::from_secs(2)).await;
    assert_eq!(draining.body, "shutting down\n");
    let refused = admin.trigger("flows", Some(&bearer)).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    let status = admin.status().await;
    assert_eq!(status["draining"], true);
    assert!(status["jobs"][0]["next_run"].is_null());
    assert!(status["jobs"][0]["running_since"].is_string());
    assert_eq!(admin.get("/livez").await.status, 200);

    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the daemon stops once the run is done")
        .unwrap();
    // The run finished inside the grace period and was committed.
    let job_dir = reports.path().join("flows");
    let latest = std::fs::read_to_string(job_dir.join("latest")).unwrap();
    assert!(job_dir.join(latest.trim()).join("summary.json").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(&job_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// One log line per API error, with route, status and trace id (current-thread runtime: the
/// log capture is the thread's subscriber).
#[tokio::test]
async fn an_api_error_is_logged_once_with_route_status_and_trace_id() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let ttl = Duration::from_secs(600);
    let sandbox = sandbox(ttl).await;
    let reports = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(config(&sandbox, reports.path(), ttl, Some(TOKEN)), None)
        .await
        .unwrap();
    let admin = Admin::new(daemon.admin_addr());
    admin.wait_for("/readyz", 200, Duration::from_secs(5)).await;
    // 404 is not retried: exactly one error answer.
    sandbox.set_faults(FaultsPatch {
        error_rate: Some(1.0),
        error_status: Some(404),
        ..Default::default()
    });
    let triggered = admin
        .trigger("flows", Some(&format!("Bearer {TOKEN}")))
        .await;
    assert_eq!(triggered.status, 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = admin.status().await;
        if !status["jobs"][0]["last_runs"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            break status;
        }
        assert!(Instant::now() < deadline, "the run did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status["jobs"][0]["last_runs"][0]["outcome"], "failed");
    daemon.stop().await;

    let logs = capture.text();
    let errors: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "Cognigy API error")
        .collect();
    assert_eq!(errors.len(), 1, "{logs}");
    let fields = &errors[0]["fields"];
    assert_eq!(fields["route"], "/new/v2.0/projects");
    assert_eq!(fields["status"], 404);
    assert!(
        fields["trace_id"].as_str().unwrap().starts_with("api--"),
        "{fields}"
    );
    // The error line sits in the run's span, so it names the job too.
    assert_eq!(errors[0]["span"]["job"], "flows", "{}", errors[0]);
    assert!(logs.contains("job run did not succeed"), "{logs}");
    assert_no_secrets("logs", &logs);
    assert!(!logs.contains(TOKEN));
}

/// A bare admin server (no jobs) with the given limits and task registry.
async fn bare_admin(
    limits: ServerLimits,
    liveness: admin::Liveness,
) -> (admin::AdminServer, Stack, Sandbox) {
    let sandbox = sandbox(Duration::from_secs(600)).await;
    let stack = stack(&sandbox, short_settings(Duration::from_secs(600)));
    let scheduler = Scheduler::start(Vec::new(), Arc::new(NoopObserver), 5)
        .await
        .unwrap();
    let state = AdminState::new(
        stack.keys.clone(),
        scheduler,
        stack.metrics.clone(),
        Default::default(),
    )
    .with_liveness(liveness);
    let config = AdminConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..AdminConfig::default()
    };
    let server = admin::serve_with(&config, state, limits).await.unwrap();
    (server, stack, sandbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_half_a_request_neither_blocks_livez_nor_keeps_its_connection() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_secs(2),
        ..ServerLimits::default()
    };
    let (server, _stack, _sandbox) = bare_admin(limits, admin::Liveness::new()).await;
    let addr = server.local_addr();

    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /livez HT").await.unwrap();
    let opened = Instant::now();
    // A few more that send nothing at all.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }

    let admin = Admin::new(addr);
    for _ in 0..3 {
        let live = admin.get("/livez").await;
        assert_eq!((live.status, live.body.as_str()), (200, "ok\n"));
    }
    // Those answers came while the half request was still pending: its connection is open
    // and has received nothing.
    let mut probe = [0u8; 64];
    match slow.try_read(&mut probe) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the half request's connection is not pending: {other:?}"),
    }

    // The server closes it once the header read timeout has passed.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the half-sent request kept its connection");
    assert!(opened.elapsed() >= Duration::from_millis(1900));

    // Too large a body, too large a head.
    let big = admin
        .send(
            admin
                .http
                .post(format!("{}/status", admin.base))
                .body(vec![b'x'; 8 * 1024]),
        )
        .await;
    assert_eq!(big.status, 413);
    let mut huge_head = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /livez HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "y".repeat(64 * 1024)
    );
    let _ = huge_head.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(4), huge_head.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    // 431, or a reset that swallowed it (the server closes with our excess bytes unread):
    // never an answer to the request.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert_eq!(admin.get("/livez").await.status, 200);

    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("stop does not wait for idle connections");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livez_answers_503_once_a_watched_task_dies_but_not_when_it_was_told_to_stop() {
    let liveness = admin::Liveness::new();
    let (server, _stack, _sandbox) = bare_admin(ServerLimits::default(), liveness.clone()).await;
    let admin = Admin::new(server.local_addr());
    assert_eq!(admin.get("/livez").await.status, 200);

    // A task stopped on purpose is not a problem.
    let stop = tokio_util::sync::CancellationToken::new();
    stop.cancel();
    liveness
        .watch("sender", tokio::spawn(async {}), stop)
        .await
        .unwrap();
    assert_eq!(admin.get("/livez").await.status, 200);

    // One that dies on its own is.
    let (die, dies) = tokio::sync::oneshot::channel::<()>();
    let watcher = liveness.watch(
        "keeper",
        tokio::spawn(async move {
            let _ = dies.await;
            panic!("keeper bug");
        }),
        tokio_util::sync::CancellationToken::new(),
    );
    die.send(()).unwrap();
    watcher.await.unwrap();
    let dead = admin.get("/livez").await;
    assert_eq!(dead.status, 503);
    assert_eq!(dead.body, "task `keeper` panicked: keeper bug\n");
    let status = admin.status().await;
    assert_eq!(status["live"], false);
    assert_eq!(
        status["not_live_reason"],
        "task `keeper` panicked: keeper bug"
    );
    server.stop().await;
}
