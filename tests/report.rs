//! Report run directories on a real filesystem (tempfile).

use std::fs;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use cognigy_warden::report::{
    CsvWriter, JsonLinesWriter, ReportError, ReportRoot, write_json_pretty,
};
use serde::Serialize;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("valid RFC 3339 time")
}

/// Names in `dir` that start with `.tmp-`.
fn temp_dirs(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("job dir readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

fn commit_run(root: &ReportRoot, job: &str, started: &str, body: &str) -> String {
    let run = root.begin_run(job, at(started)).expect("begin run");
    let mut f = run.create("rows.txt").expect("create file");
    f.write_all(body.as_bytes()).expect("write");
    f.flush().expect("flush");
    drop(f);
    let id = run.run_id().to_string();
    run.commit().expect("commit");
    id
}

#[test]
fn commit_moves_the_run_into_place_and_updates_latest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = ReportRoot::new(tmp.path().join("reports"), 5);
    root.prepare().expect("prepare");

    let run = root
        .begin_run("flow-inventory", at("2026-12-04T12:00:00Z"))
        .expect("begin run");
    assert_eq!(run.run_id(), "20261204T120000Z");
    let temp_path = run.path().to_path_buf();
    assert!(temp_path.is_dir());
    assert!(
        temp_path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .starts_with(".tmp-20261204T120000Z-"),
        "{}",
        temp_path.display()
    );
    let final_path = run.final_path();
    assert_eq!(
        final_path,
        tmp.path().join("reports/flow-inventory/20261204T120000Z")
    );
    assert!(!final_path.exists(), "nothing is visible before commit");
    assert_eq!(root.latest("flow-inventory"), None);

    let mut rows = run.jsonl("flows.jsonl").expect("jsonl");
    rows.write(&serde_json::json!({"flow": "a"})).expect("row");
    rows.finish().expect("finish");
    run.write_json("summary.json", &serde_json::json!({"flows": 1}))
        .expect("summary");

    let committed = run.commit().expect("commit");
    assert_eq!(committed, final_path);
    assert!(!temp_path.exists(), "temporary dir is gone after commit");
    assert_eq!(
        fs::read_to_string(final_path.join("flows.jsonl")).expect("read"),
        "{\"flow\":\"a\"}\n"
    );
    assert_eq!(
        fs::read_to_string(final_path.join("summary.json")).expect("read"),
        "{\n  \"flows\": 1\n}\n"
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("reports/flow-inventory/latest")).expect("latest"),
        "20261204T120000Z\n"
    );
    assert_eq!(
        root.latest("flow-inventory"),
        Some(("20261204T120000Z".to_string(), final_path))
    );
    assert_eq!(
        root.complete_runs("flow-inventory"),
        vec!["20261204T120000Z"]
    );
    assert!(temp_dirs(&tmp.path().join("reports/flow-inventory")).is_empty());
}

#[test]
fn aborted_and_dropped_runs_leave_nothing_and_keep_latest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = ReportRoot::new(tmp.path().to_path_buf(), 5);
    root.prepare().expect("prepare");
    let first = commit_run(&root, "audit", "2026-12-04T10:00:00Z", "one");
    let job_dir = tmp.path().join("audit");

    let aborted = root
        .begin_run("audit", at("2026-12-04T11:00:00Z"))
        .expect("begin");
    aborted.create("partial.csv").expect("create");
    let aborted_path = aborted.path().to_path_buf();
    assert!(aborted_path.is_dir());
    aborted.abort();
    assert!(!aborted_path.exists(), "abort removes the temporary dir");

    {
        let dropped = root
            .begin_run("audit", at("2026-12-04T12:00:00Z"))
            .expect("begin");
        let mut f = dropped.create("partial.csv").expect("create");
        f.write_all(b"half a row").expect("write");
        // Dropped without commit or abort, as when a run future is cancelled.
    }

    assert!(temp_dirs(&job_dir).is_empty(), "{:?}", temp_dirs(&job_dir));
    assert_eq!(root.latest("audit").map(|(id, _)| id), Some(first.clone()));
    assert_eq!(root.complete_runs("audit"), vec![first]);
}

#[test]
fn retention_keeps_the_newest_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = ReportRoot::new(tmp.path().to_path_buf(), 2);
    root.prepare().expect("prepare");
    let ids: Vec<String> = [
        "2026-12-01T00:00:00Z",
        "2026-12-02T00:00:00Z",
        "2026-12-03T00:00:00Z",
    ]
    .iter()
    .map(|t| commit_run(&root, "audit", t, t))
    .collect();
    assert_eq!(root.complete_runs("audit"), ids[1..].to_vec());
    assert!(!tmp.path().join("audit").join(&ids[0]).exists());
    assert_eq!(root.latest("audit").map(|(id, _)| id), Some(ids[2].clone()));
}

#[test]
fn retention_never_removes_the_run_latest_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = ReportRoot::new(tmp.path().to_path_buf(), 1);
    root.prepare().expect("prepare");
    // A run with a later start time committed first: when the earlier-started run commits,
    // `latest` names it although it sorts first.
    let later = commit_run(&root, "audit", "2026-12-05T00:00:00Z", "later");
    let earlier = commit_run(&root, "audit", "2026-12-04T00:00:00Z", "earlier");
    assert_eq!(
        root.latest("audit").map(|(id, _)| id),
        Some(earlier.clone())
    );
    assert!(
        tmp.path().join("audit").join(&earlier).is_dir(),
        "latest run kept"
    );
    assert_eq!(root.complete_runs("audit"), vec![earlier, later]);
}

#[test]
fn run_ids_are_unique_within_the_same_second() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = ReportRoot::new(tmp.path().to_path_buf(), 10);
    root.prepare().expect("prepare");
    let t = at("2026-12-04T12:00:00Z");

    // Two runs in progress at once, and a third after the first committed.
    let a = root.begin_run("audit", t).expect("a");
    let b = root.begin_run("audit", t).expect("b");
    assert_eq!(a.run_id(), "20261204T120000Z");
    assert_eq!(b.run_id(), "20261204T120000Z-2");
    a.commit().expect("commit a");
    let c = root.begin_run("audit", t).expect("c");
    assert_eq!(c.run_id(), "20261204T120000Z-3");
    c.commit().expect("commit c");
    b.commit().expect("commit b");
    // Another job has its own ids.
    let other = root.begin_run("inventory", t).expect("other");
    assert_eq!(other.run_id(), "20261204T120000Z");
    other.abort();

    assert_eq!(
        root.complete_runs("audit"),
        vec![
            "20261204T120000Z",
            "20261204T120000Z-2",
            "20261204T120000Z-3"
        ]
    );
}

#[test]
fn prepare_names_an_unwritable_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, "plain file").expect("write");
    let dir = file.join("reports");
    let err = ReportRoot::new(dir.clone(), 3)
        .prepare()
        .expect_err("a path under a regular file is not writable");
    assert!(matches!(err, ReportError::Io { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert!(msg.contains("os error"), "names the OS error: {msg}");
    assert!(msg.contains("writable"), "says what to do: {msg}");
}

#[test]
fn prepare_removes_stale_temporary_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = ReportRoot::new(tmp.path().to_path_buf(), 3);
    root.prepare().expect("prepare");
    let kept = commit_run(&root, "audit", "2026-12-04T10:00:00Z", "kept");
    let job_dir = tmp.path().join("audit");
    // What a crash in the middle of a run leaves behind.
    let stale = job_dir.join(".tmp-20261204T110000Z-00ff00ff00ff00ff");
    fs::create_dir(&stale).expect("stale dir");
    fs::write(stale.join("partial.jsonl"), "{}\n").expect("stale file");
    fs::write(job_dir.join(".latest.tmp-0123456789abcdef"), "x").expect("stale latest");

    root.prepare().expect("prepare again");

    assert!(!stale.exists());
    assert!(!job_dir.join(".latest.tmp-0123456789abcdef").exists());
    assert!(
        job_dir.join(&kept).join("rows.txt").is_file(),
        "complete runs untouched"
    );
    assert_eq!(root.latest("audit").map(|(id, _)| id), Some(kept));
}

#[test]
fn bad_job_and_file_names_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = ReportRoot::new(tmp.path().to_path_buf(), 3);
    let err = root
        .begin_run("../escape", at("2026-12-04T10:00:00Z"))
        .expect_err("path traversal");
    assert!(err.to_string().contains("../escape"), "{err}");
    let run = root
        .begin_run("audit", at("2026-12-04T10:00:00Z"))
        .expect("begin");
    let err = run.create("../outside.csv").expect_err("path traversal");
    assert!(err.to_string().contains("../outside.csv"), "{err}");
    assert!(!tmp.path().join("outside.csv").exists());
}

#[test]
fn csv_quotes_commas_quotes_and_newlines() {
    let mut out = Vec::new();
    let mut csv =
        CsvWriter::new(&mut out, "flows.csv", &["project", "flow", "note"]).expect("header");
    csv.write_record(&["p1", "plain", "no quoting"])
        .expect("row");
    csv.write_record(&["p,2", "say \"hi\"", "line one\nline two"])
        .expect("row");
    #[derive(Serialize)]
    struct Row<'a> {
        project: &'a str,
        flow: &'a str,
        note: &'a str,
    }
    csv.serialize(&Row {
        project: "p3",
        flow: "a,b",
        note: "",
    })
    .expect("serialized row");
    assert_eq!(csv.rows(), 3);
    let err = csv.write_record(&["too", "few"]).expect_err("field count");
    assert!(err.to_string().contains("flows.csv"), "{err}");
    csv.finish().expect("finish");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "project,flow,note\n\
         p1,plain,no quoting\n\
         \"p,2\",\"say \"\"hi\"\"\",\"line one\nline two\"\n\
         p3,\"a,b\",\n"
    );
}

#[test]
fn csv_fields_that_would_start_a_formula_are_made_inert() {
    let mut out = Vec::new();
    let mut csv = CsvWriter::new(&mut out, "findings.csv", &["name", "note"]).expect("header");
    csv.write_record(&["=HYPERLINK(\"http://x\")", "+1"])
        .expect("row");
    #[derive(Serialize)]
    struct Row<'a> {
        name: &'a str,
        note: Option<&'a str>,
    }
    csv.serialize(&Row {
        name: "@SUM(A1)",
        note: Some("-2 days"),
    })
    .expect("row");
    csv.serialize(&Row {
        name: "Order Status",
        note: None,
    })
    .expect("row");
    csv.finish().expect("finish");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "name,note\n\
         \"'=HYPERLINK(\"\"http://x\"\")\",'+1\n\
         '@SUM(A1),'-2 days\n\
         Order Status,\n"
    );
}

#[test]
fn json_lines_write_one_compact_object_per_line() {
    let mut out = Vec::new();
    let mut jsonl = JsonLinesWriter::new(&mut out, "findings.jsonl");
    jsonl
        .write(&serde_json::json!({"id": 1, "text": "multi\nline"}))
        .expect("row");
    jsonl.write(&serde_json::json!({"id": 2})).expect("row");
    assert_eq!(jsonl.rows(), 2);
    jsonl.finish().expect("finish");
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(text, "{\"id\":1,\"text\":\"multi\\nline\"}\n{\"id\":2}\n");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each line parses");
    }
}

#[test]
fn json_pretty_ends_with_a_newline() {
    let mut out = Vec::new();
    write_json_pretty(&mut out, "summary.json", &serde_json::json!({"a": [1, 2]})).expect("write");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n"
    );
}
