//! The flows-inventory job against the sandbox over HTTP: complete and correct files,
//! byte-identical reruns, runs longer than a key's life, retries, and all-or-nothing runs.

mod common;

use chrono::Utc;
use cognigy_warden::jobs::flows;
use cognigy_warden::report::ReportRoot;
use cognigy_warden::sandbox::{FaultsPatch, Sandbox, SandboxOptions};
use common::*;
use serde_json::Value;
use std::time::Duration;

async fn sandbox(projects: usize, flows: usize, ttl: Duration) -> Sandbox {
    Sandbox::start(SandboxOptions {
        projects,
        flows_per_project: flows,
        ..sandbox_options(ttl)
    })
    .await
    .unwrap()
}

/// The sandbox's whole organisation, as its control route answers it.
async fn organisation(sandbox: &Sandbox) -> Value {
    reqwest::get(format!("{}/_sandbox/organisation", sandbox.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn rfc3339(v: &Value) -> Value {
    match v.as_i64() {
        Some(secs) => Value::String(flows::unix_to_rfc3339(secs).unwrap()),
        None => Value::Null,
    }
}

/// The rows the inventory must hold, computed from the sandbox's data.
fn expected_rows(org: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for project in org["projects"].as_array().unwrap() {
        let pid = project["_id"].as_str().unwrap();
        for flow in org["assets"][pid]["flows"].as_array().unwrap() {
            rows.push(serde_json::json!({
                "project_id": pid,
                "project_name": project["name"],
                "flow_id": flow["_id"],
                "reference_id": flow["referenceId"],
                "name": flow["name"],
                "description": flow.get("description").cloned().unwrap_or(Value::Null),
                "is_training_out_of_date": flow["isTrainingOutOfDate"],
                "created_at": rfc3339(&flow["createdAt"]),
                "last_changed": rfc3339(&flow["lastChanged"]),
                "created_by": flow["createdBy"],
                "last_changed_by": flow["lastChangedBy"],
            }));
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_projects_of_twenty_flows_give_exactly_the_sandbox_flows_twice_identically() {
    let sandbox = sandbox(50, 20, Duration::from_secs(600)).await;
    let stack = stack(&sandbox, short_settings(Duration::from_secs(600)));
    let dir = tempfile::tempdir().unwrap();
    let reports = ReportRoot::new(dir.path().to_path_buf(), 5);
    reports.prepare().unwrap();

    let first = flows::run(&stack.api, &reports, "flows", Utc::now(), 8)
        .await
        .unwrap();
    assert_eq!(first.counts["flows"], 1000);
    assert_eq!(first.counts["projects"], 50);

    let expected = expected_rows(&organisation(&sandbox).await);
    assert_eq!(expected.len(), 1000);
    let jsonl = std::fs::read_to_string(first.path.join("flows.jsonl")).unwrap();
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows, expected,
        "JSON Lines rows differ from the sandbox data"
    );

    let mut csv = csv::Reader::from_path(first.path.join("flows.csv")).unwrap();
    assert_eq!(
        csv.headers().unwrap().iter().collect::<Vec<_>>(),
        flows::COLUMNS
    );
    let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1000);
    for (record, row) in records.iter().zip(&expected) {
        for (i, column) in flows::COLUMNS.iter().enumerate() {
            let want = match &row[column] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(&record[i], want, "column {column}");
        }
    }

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(first.path.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["counts"]["flows"], 1000);
    assert_eq!(summary["outcome"], "success");
    assert_eq!(summary["per_project"].as_array().unwrap().len(), 50);
    assert_eq!(summary["per_project"][0]["flows"], 20);
    assert!(summary["requests"].as_u64().unwrap() >= 51);

    let second = flows::run(&stack.api, &reports, "flows", Utc::now(), 3)
        .await
        .unwrap();
    assert_ne!(first.run_id, second.run_id);
    for file in ["flows.jsonl", "flows.csv"] {
        assert_eq!(
            std::fs::read(first.path.join(file)).unwrap(),
            std::fs::read(second.path.join(file)).unwrap(),
            "{file} differs between two runs over the same data"
        );
    }
    assert_eq!(reports.latest("flows").unwrap().0, second.run_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_several_key_lives_uses_fresh_keys_only() {
    let ttl = Duration::from_secs(2);
    let sandbox = sandbox(60, 10, ttl).await;
    sandbox.set_faults(FaultsPatch {
        extra_latency_ms: Some(60),
        ..Default::default()
    });
    let stack = stack(&sandbox, short_settings(ttl));
    let dir = tempfile::tempdir().unwrap();
    let reports = ReportRoot::new(dir.path().to_path_buf(), 5);
    // One request in flight at a time: 61+ requests x 60 ms > 3 key lives.
    let out = flows::run(&stack.api, &reports, "flows", Utc::now(), 1)
        .await
        .unwrap();
    assert_eq!(out.counts["flows"], 600);
    assert!(out.stats.keys_used >= 3, "{:?}", out.stats);
    let stats = sandbox.stats();
    assert_eq!(stats.requests_rejected_expired_key, 0, "{stats:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path.join("summary.json")).unwrap())
            .unwrap();
    assert!(summary["key_rotations"].as_u64().unwrap() >= 2, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_5xx_and_429_are_retried_and_counted_in_the_summary() {
    let sandbox = sandbox(30, 10, Duration::from_secs(600)).await;
    sandbox.set_faults(FaultsPatch {
        error_rate: Some(0.1),
        error_status: Some(502),
        rate_limited_rate: Some(0.05),
        retry_after_s: Some(1),
        ..Default::default()
    });
    let stack = stack(&sandbox, short_settings(Duration::from_secs(600)));
    let dir = tempfile::tempdir().unwrap();
    let reports = ReportRoot::new(dir.path().to_path_buf(), 5);
    let out = flows::run(&stack.api, &reports, "flows", Utc::now(), 8)
        .await
        .unwrap();
    assert_eq!(out.counts["flows"], 300);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path.join("summary.json")).unwrap())
            .unwrap();
    let retries = summary["retries"].as_u64().unwrap();
    assert!(retries > 0, "{summary}");
    let s = sandbox.stats();
    assert_eq!(
        retries,
        s.requests_failed_injected + s.requests_rate_limited,
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_cancelled_run_leaves_nothing_and_latest_unchanged() {
    let sandbox = sandbox(20, 10, Duration::from_secs(600)).await;
    let stack = stack(&sandbox, short_settings(Duration::from_secs(600)));
    let dir = tempfile::tempdir().unwrap();
    let reports = ReportRoot::new(dir.path().to_path_buf(), 5);
    let good = flows::run(&stack.api, &reports, "flows", Utc::now(), 4)
        .await
        .unwrap();
    let job_dir = dir.path().join("flows");
    let before = entries(&job_dir);

    // A persistent error: every resource request fails.
    sandbox.set_faults(FaultsPatch {
        error_rate: Some(1.0),
        error_status: Some(500),
        ..Default::default()
    });
    let err = flows::run(&stack.api, &reports, "flows", Utc::now(), 4)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("answered 500"), "{err}");
    assert_eq!(entries(&job_dir), before);

    // A run cut off by its timeout: the future is dropped half way.
    sandbox.set_faults(FaultsPatch {
        error_rate: Some(0.0),
        extra_latency_ms: Some(100),
        ..Default::default()
    });
    let cut = tokio::time::timeout(
        Duration::from_millis(350),
        flows::run(&stack.api, &reports, "flows", Utc::now(), 1),
    )
    .await;
    assert!(cut.is_err(), "the run should have been cut off");
    // The writer thread discards its temporary directory once it sees the run gone.
    let mut left = entries(&job_dir);
    for _ in 0..50 {
        if left == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = entries(&job_dir);
    }
    assert_eq!(left, before, "a partial run was left behind");
    assert_eq!(reports.latest("flows").unwrap().0, good.run_id);
}
