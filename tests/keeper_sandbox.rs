//! The keeper and the client against the sandbox over real HTTP: rotations under traffic,
//! outages, revocation, wrong credentials, the key-route fallback, and no secret in any output.

mod common;

use cognigy_warden::cognigy::model::{Page, Project};
use cognigy_warden::cognigy::{ApiError, Route, routes};
use cognigy_warden::sandbox::{FaultsPatch, KeyRoutes, Sandbox};
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

async fn projects_page(stack: &Stack) -> Result<Page<Project>, ApiError> {
    stack
        .api
        .page(&Route::fixed(routes::PROJECTS), &[], None)
        .await
}

/// `workers` tasks sending requests back to back until `stop` is set; counts successes.
fn traffic(
    stack: &Stack,
    workers: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<u64>> {
    (0..workers)
        .map(|_| {
            let api = stack.api.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut ok = 0;
                while !stop.load(Ordering::Relaxed) {
                    let page: Page<Project> = api
                        .page(&Route::fixed(routes::PROJECTS), &[], None)
                        .await
                        .expect("request under steady traffic");
                    assert!(!page.items.is_empty());
                    ok += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                ok
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_traffic_over_short_lived_keys_never_sends_an_expired_key() {
    let ttl = Duration::from_secs(3);
    let sandbox = Sandbox::start(sandbox_options(ttl)).await.unwrap();
    let stack = stack(&sandbox, short_settings(ttl));
    let stop = Arc::new(AtomicBool::new(false));
    let workers = traffic(&stack, 4, stop.clone());
    let run_for = Duration::from_secs(60);
    tokio::time::sleep(run_for).await;
    stop.store(true, Ordering::Relaxed);
    let mut ok = 0;
    for w in workers {
        ok += w.await.unwrap();
    }
    let stats = sandbox.stats();
    assert_eq!(stats.requests_rejected_expired_key, 0, "{stats:?}");
    assert_eq!(stats.requests_rejected_invalid_key, 0, "{stats:?}");
    // A new key every 2 s (+-0.15 s): about 30 in a minute; no storm, no lapse.
    assert!(
        (26..=34).contains(&stats.keys_issued),
        "keys issued: {}",
        stats.keys_issued
    );
    assert!(ok > 1000, "only {ok} requests succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_management_outage_causes_no_lapse() {
    let ttl = Duration::from_secs(4);
    let sandbox = Sandbox::start(sandbox_options(ttl)).await.unwrap();
    let stack = stack(&sandbox, short_settings(ttl));
    stack.keys.lease().await;
    // Down from before the first renewal (~2.5 s) until past it, but short of the end of use (3.33 s).
    sandbox.set_faults(FaultsPatch {
        management_outage: Some(true),
        ..Default::default()
    });
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(3000) {
        assert!(
            stack.keys.is_usable(),
            "key lapsed after {:?}",
            started.elapsed()
        );
        projects_page(&stack)
            .await
            .expect("requests go on during a short outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sandbox.set_faults(FaultsPatch {
        management_outage: Some(false),
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let state = stack.keys.state();
    assert!(state.rotations_failed >= 1, "{state:?}");
    assert_eq!(state.generation, 2, "{state:?}");
    assert!(state.usable);
    assert_eq!(sandbox.stats().requests_rejected_expired_key, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_makes_callers_wait_and_a_key_returns_within_backoff_max() {
    let ttl = Duration::from_secs(3);
    let settings = short_settings(ttl);
    let sandbox = Sandbox::start(sandbox_options(ttl)).await.unwrap();
    let stack = stack(&sandbox, settings.clone());
    stack.keys.lease().await;
    sandbox.set_faults(FaultsPatch {
        management_outage: Some(true),
        ..Default::default()
    });
    tokio::time::sleep(ttl + Duration::from_millis(500)).await;
    let state = stack.keys.state();
    assert!(!state.usable, "{state:?}");
    assert!(
        state.last_error.as_ref().unwrap().status == Some(503),
        "{state:?}"
    );
    // A caller waits instead of sending a stale key.
    let waiting = {
        let api = stack.api.clone();
        tokio::spawn(async move {
            let p: Page<Project> = api
                .page(&Route::fixed(routes::PROJECTS), &[], None)
                .await
                .unwrap();
            (Instant::now(), p.items.len())
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !waiting.is_finished(),
        "a request went out without a usable key"
    );
    let ended = Instant::now();
    sandbox.set_faults(FaultsPatch {
        management_outage: Some(false),
        ..Default::default()
    });
    let (answered, items) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(items > 0);
    let recovery = answered - ended;
    assert!(
        recovery <= settings.backoff_max + Duration::from_millis(500),
        "key back after {recovery:?}"
    );
    let stats = sandbox.stats();
    assert_eq!(stats.requests_rejected_expired_key, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_keys_with_20_requests_in_flight_cause_exactly_one_new_key() {
    let ttl = Duration::from_secs(600);
    let sandbox = Sandbox::start(sandbox_options(ttl)).await.unwrap();
    let stack = stack(&sandbox, short_settings(ttl));
    let first = stack.keys.lease().await;
    assert_eq!(sandbox.stats().keys_issued, 1);
    sandbox.revoke_keys();
    sandbox.set_faults(FaultsPatch {
        extra_latency_ms: Some(100),
        ..Default::default()
    });
    let mut calls = Vec::new();
    for _ in 0..20 {
        let api = stack.api.clone();
        calls.push(tokio::spawn(async move {
            api.page::<Project>(&Route::fixed(routes::PROJECTS), &[], None)
                .await
        }));
    }
    for c in calls {
        assert!(!c.await.unwrap().unwrap().items.is_empty());
    }
    let stats = sandbox.stats();
    assert_eq!(stats.keys_issued, 2, "{stats:?}");
    assert_eq!(stats.requests_rejected_invalid_key, 20, "{stats:?}");
    assert_eq!(stack.keys.generation(), first.generation + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_named_and_retried_with_backoff() {
    let sandbox = Sandbox::start(sandbox_options(Duration::from_secs(60)))
        .await
        .unwrap();
    let mut settings = short_settings(Duration::from_secs(60));
    settings.backoff_base = Duration::from_millis(500);
    settings.backoff_max = Duration::from_secs(2);
    let stack = stack_with(&sandbox, settings, "not-the-password");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let state = stack.keys.state();
    assert!(!state.usable);
    let err = state.last_error.clone().expect("an error is recorded");
    assert!(err.message.contains("user `warden`"), "{}", err.message);
    assert!(
        err.message.contains("rejected the credentials"),
        "{}",
        err.message
    );
    assert_eq!(err.status, Some(401));
    // Delays drawn from [0.25,0.5], [0.5,1], [1,2], [1,2]...: 3 to 7 attempts in 6 s, not hundreds.
    let attempts = sandbox.stats().management_requests;
    assert!((3..=8).contains(&attempts), "{attempts} attempts in 6 s");
    assert_eq!(state.consecutive_failures as u64, attempts);
    assert_eq!(sandbox.stats().keys_issued, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_form_is_used_when_the_path_form_is_missing_and_remembered() {
    let ttl = Duration::from_secs(2);
    let mut opts = sandbox_options(ttl);
    opts.key_routes = KeyRoutes::Body;
    let sandbox = Sandbox::start(opts).await.unwrap();
    let stack = stack(&sandbox, short_settings(ttl));
    stack.keys.lease().await;
    // Two more keys (rotations at ~1.3 s).
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let stats = sandbox.stats();
    assert!(stats.keys_issued >= 3, "{stats:?}");
    // Organisation discovery + one path-form 404, then one body-form request per key.
    assert_eq!(
        stats.management_requests,
        stats.keys_issued + 2,
        "{stats:?}"
    );
    projects_page(&stack).await.unwrap();
}

#[tokio::test]
async fn nothing_logged_or_printed_holds_a_key_or_the_password() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let ttl = Duration::from_secs(2);
    let sandbox = Sandbox::start(sandbox_options(ttl)).await.unwrap();
    let stack = stack(&sandbox, short_settings(ttl));
    let lease = stack.keys.lease().await;
    let mut printed = format!(
        "{lease:?} {:?} {:?} {:?}",
        stack.keys,
        stack.keys.state(),
        stack.api
    );
    printed.push_str(&format!("{:?}", stack.management));
    // Errors of every kind: revoked key, injected 503, wrong password.
    sandbox.revoke_keys();
    sandbox.set_faults(FaultsPatch {
        error_rate: Some(1.0),
        error_status: Some(503),
        ..Default::default()
    });
    let err = projects_page(&stack).await.unwrap_err();
    printed.push_str(&format!("{err} {err:?}"));
    sandbox.set_faults(FaultsPatch {
        error_rate: Some(0.0),
        ..Default::default()
    });
    let wrong = stack_with(&sandbox, short_settings(ttl), "wrong-password");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    printed.push_str(&format!("{:?}", wrong.keys.state()));
    // The real key was used (it is in the lease), yet appears nowhere else.
    assert!(lease.expose().starts_with("sbx_"));
    assert_no_secrets("Debug/Display output", &printed);
    let logs = capture.text();
    assert!(
        logs.contains("Super API-Key created"),
        "logs were captured: {logs}"
    );
    assert!(logs.contains("rejected the credentials"), "{logs}");
    assert_no_secrets("logs", &logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_and_rate_limits_are_retried_and_counted() {
    let sandbox = Sandbox::start(sandbox_options(Duration::from_secs(600)))
        .await
        .unwrap();
    let stack = stack(&sandbox, short_settings(Duration::from_secs(600)));
    sandbox.set_faults(FaultsPatch {
        error_rate: Some(0.15),
        rate_limited_rate: Some(0.05),
        retry_after_s: Some(0),
        ..Default::default()
    });
    let scoped = stack.api.scoped();
    let done = AtomicU64::new(0);
    for _ in 0..40 {
        let p: Page<Project> = scoped
            .page(&Route::fixed(routes::PROJECTS), &[], None)
            .await
            .unwrap();
        assert!(!p.items.is_empty());
        done.fetch_add(1, Ordering::Relaxed);
    }
    let stats = scoped.stats();
    assert!(stats.retries > 0, "{stats:?}");
    assert_eq!(stats.requests, 40 + stats.retries);
    let text = stack.metrics.encode();
    assert!(
        text.contains(
            "cognigy_warden_api_retries_total{route=\"/new/v2.0/projects\",reason=\"status_503\"}"
        ),
        "{text}"
    );
}
