//! The asset-audit job against the sandbox over HTTP: findings computed independently from the
//! sandbox's data and compared exactly (default and tuned rules), changes between two runs, a
//! missing route, the HTML page, and the exit codes of `jobs run` through the real binary.

mod common;

use chrono::{DateTime, Utc};
use cognigy_warden::config::{JobConfig, JobKind, Overlap, RuleConfig, Severity};
use cognigy_warden::jobs::JobDeps;
use cognigy_warden::jobs::audit;
use cognigy_warden::report::ReportRoot;
use cognigy_warden::sandbox::{OrganisationData, Sandbox, SandboxOptions};
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

const DAY: i64 = 86_400;
const TTL: Duration = Duration::from_secs(600);

struct Env {
    sandbox: Sandbox,
    stack: Stack,
    reports: ReportRoot,
    _dir: tempfile::TempDir,
}

async fn env_with(opts: SandboxOptions) -> Env {
    let sandbox = Sandbox::start(opts).await.unwrap();
    let stack = stack(&sandbox, short_settings(TTL));
    let dir = tempfile::tempdir().unwrap();
    let reports = ReportRoot::new(dir.path().to_path_buf(), 5);
    reports.prepare().unwrap();
    Env {
        sandbox,
        stack,
        reports,
        _dir: dir,
    }
}

async fn env() -> Env {
    env_with(sandbox_options(TTL)).await
}

impl Env {
    fn deps(&self) -> JobDeps {
        JobDeps {
            api: self.stack.api.clone(),
            management: self.stack.management.clone(),
            // Named as a configured install would: the quota checks use this organisation.
            organisation_id: Some(self.sandbox.organisation_id()),
            reports: self.reports.clone(),
            max_in_flight: 8,
            metrics: self.stack.metrics.clone(),
        }
    }

    async fn run(&self, config: &JobConfig) -> (cognigy_warden::jobs::RunOutput, i64) {
        let started = Utc::now();
        let out = audit::run(&self.deps(), "audit", config, started)
            .await
            .unwrap_or_else(|e| panic!("the audit failed: {e}"));
        (out, started.timestamp())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    /// A control-route change; answers the item.
    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = reqwest::Client::new().request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }
}

fn job_config(rules: BTreeMap<String, RuleConfig>) -> JobConfig {
    JobConfig {
        kind: JobKind::AssetAudit,
        schedule: "0 30 6 * * *".into(),
        timezone: chrono_tz::UTC,
        overlap: Overlap::Skip,
        timeout: Duration::from_secs(120),
        jitter: Duration::ZERO,
        run_on_start: false,
        enabled: true,
        window: Duration::from_secs(DAY as u64),
        rules,
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lines(path: &Path) -> Vec<Value> {
    read(path)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&read(&dir.join("summary.json"))).unwrap()
}

/// The rule settings as the test applies them (the documented defaults unless tuned).
struct Tuning {
    disabled: BTreeSet<&'static str>,
    severity: BTreeMap<&'static str, &'static str>,
    stale_max_age: i64,
    snapshot_max_age: i64,
    min_count: u64,
    threshold: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            disabled: BTreeSet::new(),
            severity: BTreeMap::new(),
            stale_max_age: 180 * DAY,
            snapshot_max_age: 365 * DAY,
            min_count: 1,
            threshold: 0.9,
        }
    }
}

impl Tuning {
    fn on(&self, rule: &str) -> bool {
        !self.disabled.contains(rule)
    }
    fn sev(&self, rule: &str, default: &'static str) -> String {
        self.severity
            .get(rule)
            .copied()
            .unwrap_or(default)
            .to_string()
    }
}

/// A finding without its prose: what the comparison is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Expect {
    rule: String,
    severity: String,
    asset_type: String,
    asset_id: String,
    asset_name: Option<String>,
    project_id: Option<String>,
    project_name: Option<String>,
}

impl Expect {
    fn from_line(v: &Value) -> Expect {
        let s = |k: &str| v[k].as_str().map(str::to_string);
        Expect {
            rule: s("rule").unwrap(),
            severity: s("severity").unwrap(),
            asset_type: s("asset_type").unwrap(),
            asset_id: s("asset_id").unwrap(),
            asset_name: s("asset_name"),
            project_id: s("project_id"),
            project_name: s("project_name"),
        }
    }
}

/// The findings the documented rules give on the sandbox's data, computed from the data alone.
fn expected(org: &OrganisationData, now: i64, window: i64, t: &Tuning) -> Vec<Expect> {
    let mut out = Vec::new();
    let f = |rule: &str,
             severity: String,
             asset_type: &str,
             asset_id: &str,
             asset_name: Option<&str>,
             project: Option<(&str, &str)>| Expect {
        rule: rule.into(),
        severity,
        asset_type: asset_type.into(),
        asset_id: asset_id.into(),
        asset_name: asset_name.map(str::to_string),
        project_id: project.map(|p| p.0.to_string()),
        project_name: project.map(|p| p.1.to_string()),
    };
    let disabled: BTreeSet<&str> = org
        .users
        .iter()
        .filter(|u| u.disabled)
        .map(|u| u.id.as_str())
        .collect();
    for p in org.projects.iter() {
        let a = &org.assets[&p.id];
        let pr = Some((p.id.as_str(), p.name.as_str()));
        for flow in a.flows.iter() {
            if t.on("stale-flow") && now - flow.last_changed > t.stale_max_age {
                out.push(f(
                    "stale-flow",
                    t.sev("stale-flow", "warning"),
                    "flow",
                    &flow.id,
                    Some(&flow.name),
                    pr,
                ));
            }
            if t.on("flow-without-description")
                && flow
                    .description
                    .as_deref()
                    .is_none_or(|d| d.trim().is_empty())
            {
                out.push(f(
                    "flow-without-description",
                    t.sev("flow-without-description", "info"),
                    "flow",
                    &flow.id,
                    Some(&flow.name),
                    pr,
                ));
            }
        }
        for e in a.endpoints.iter() {
            if t.on("dangling-endpoint") && (e.flow_id.is_empty() || !a.flows.contains(&e.flow_id))
            {
                out.push(f(
                    "dangling-endpoint",
                    t.sev("dangling-endpoint", "warning"),
                    "endpoint",
                    &e.id,
                    Some(&e.name),
                    pr,
                ));
            }
        }
        for x in a.extensions.iter() {
            if t.on("trusted-code-extension") && x.trusted_code {
                out.push(f(
                    "trusted-code-extension",
                    t.sev("trusted-code-extension", "critical"),
                    "extension",
                    &x.id,
                    Some(&x.name),
                    pr,
                ));
            }
        }
        for s in a.snapshots.iter() {
            let old = now - s.created_at > t.snapshot_max_age;
            let expired = s.is_packaged && s.package_expires_at.is_some_and(|e| e < now);
            if t.on("old-snapshot") && (old || expired) {
                let default = if expired { "warning" } else { "info" };
                out.push(f(
                    "old-snapshot",
                    t.sev("old-snapshot", default),
                    "snapshot",
                    &s.id,
                    Some(&s.name),
                    pr,
                ));
            }
        }
        if t.on("project-without-members") && a.members.is_empty() {
            out.push(f(
                "project-without-members",
                t.sev("project-without-members", "warning"),
                "project",
                &p.id,
                Some(&p.name),
                pr,
            ));
        }
        for m in a.members.iter() {
            if t.on("disabled-user-still-member") && disabled.contains(m.user_id.as_str()) {
                let user = org.users.get(&m.user_id).unwrap();
                out.push(f(
                    "disabled-user-still-member",
                    t.sev("disabled-user-still-member", "warning"),
                    "user",
                    &user.id,
                    Some(&user.name),
                    pr,
                ));
            }
        }
        let quota = org.organisation.quota_max_channels_per_project as f64;
        if t.on("quota-near-limit") && a.endpoints.len() as f64 / quota >= t.threshold {
            out.push(f(
                "quota-near-limit",
                t.sev("quota-near-limit", "warning"),
                "project",
                &p.id,
                Some(&p.name),
                pr,
            ));
        }
    }
    // Organisation-wide.
    let mut unauthorized: BTreeMap<&str, u64> = BTreeMap::new();
    for a in org.assets.values() {
        for e in a.audit_events.iter() {
            if e.event_type == "unauthorized" && e.timestamp > now - window && e.timestamp <= now {
                *unauthorized.entry(e.user_reference.as_str()).or_default() += 1;
            }
        }
    }
    for (user, n) in unauthorized {
        if t.on("unauthorized-events") && n >= t.min_count {
            let name = org.users.get(user).map(|u| u.name.as_str());
            out.push(f(
                "unauthorized-events",
                t.sev("unauthorized-events", "warning"),
                "user",
                user,
                name,
                None,
            ));
        }
    }
    let q = &org.organisation;
    for (count, quota) in [
        (org.projects.len(), q.quota_max_projects),
        (org.users.len(), q.quota_max_users),
    ] {
        if t.on("quota-near-limit") && count as f64 / quota as f64 >= t.threshold {
            out.push(f(
                "quota-near-limit",
                t.sev("quota-near-limit", "warning"),
                "organisation",
                &q.id,
                Some(&q.name),
                None,
            ));
        }
    }
    out
}

/// Compares the run's findings with the expectation exactly and checks the file order.
fn assert_findings(run_dir: &Path, org: &OrganisationData, mut want: Vec<Expect>) {
    let found = lines(&run_dir.join("findings.jsonl"));
    let mut got: Vec<Expect> = found.iter().map(Expect::from_line).collect();
    // Order: project order, then rule, then asset id; organisation-wide findings last.
    let project_index = |pid: &Option<String>| {
        pid.as_ref()
            .map(|p| org.projects.position(p).unwrap())
            .unwrap_or(usize::MAX)
    };
    let keys: Vec<(usize, String, String)> = got
        .iter()
        .map(|e| {
            (
                project_index(&e.project_id),
                e.rule.clone(),
                e.asset_id.clone(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "findings are not in report order");
    for line in &found {
        assert!(!line["message"].as_str().unwrap().is_empty(), "{line}");
    }
    got.sort();
    want.sort();
    let missing: Vec<&Expect> = want.iter().filter(|e| !got.contains(e)).collect();
    let extra: Vec<&Expect> = got.iter().filter(|e| !want.contains(e)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing findings: {missing:#?}\nunexpected findings: {extra:#?}"
    );
    assert_eq!(got, want);
}

fn severity_totals(want: &[Expect]) -> BTreeMap<String, u64> {
    let mut m: BTreeMap<String, u64> = ["critical", "warning", "info"]
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    for e in want {
        *m.get_mut(&e.severity).unwrap() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_rules_find_exactly_the_seeded_cases_and_the_files_agree() {
    let env = env().await;
    let (out, now) = env.run(&job_config(BTreeMap::new())).await;
    let org = env.sandbox.organisation();
    let want = expected(&org, now, DAY, &Tuning::default());
    // Every rule has a seeded case at the default size.
    let rules: BTreeSet<&str> = want.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(rules.len(), 9, "{rules:?}");
    assert_findings(&out.path, &org, want.clone());

    // Counts: RunOutput, summary.json and the per-severity totals `--fail-on` reads.
    let totals = severity_totals(&want);
    let s = summary(&out.path);
    for sev in ["critical", "warning", "info"] {
        let key = format!("findings_{sev}");
        assert_eq!(out.counts[&key], totals[sev], "{key}");
        assert_eq!(s["counts"][&key], totals[sev], "{key}");
    }
    assert_eq!(out.counts["findings"], want.len() as u64);
    assert_eq!(
        out.findings_at_or_above(Severity::Critical),
        totals["critical"]
    );
    let mut per_rule: BTreeMap<String, u64> = BTreeMap::new();
    for e in &want {
        *per_rule
            .entry(format!("finding:{}:{}", e.rule, e.severity))
            .or_default() += 1;
    }
    for (k, n) in &per_rule {
        assert_eq!(out.counts[k], *n, "{k}");
        assert_eq!(s["counts"][k], *n, "{k}");
    }
    assert_eq!(s["kind"], "asset-audit");
    assert_eq!(s["outcome"], "success");
    assert_eq!(s["baseline"], Value::Null);
    assert!(s["notes"][0].as_str().unwrap().contains("first run"), "{s}");
    assert_eq!(s["warnings"], json!([]));
    assert_eq!(s["per_project"].as_array().unwrap().len(), 12);

    // Inventory: one line per asset, as many as the sandbox holds.
    let inventory = lines(&out.path.join("inventory.jsonl"));
    let count = |t: &str| inventory.iter().filter(|r| r["asset_type"] == t).count();
    let sum = |f: &dyn Fn(&cognigy_warden::sandbox::ProjectAssets) -> usize| {
        org.assets.values().map(f).sum::<usize>()
    };
    assert_eq!(count("organisation"), 1);
    assert_eq!(count("user"), org.users.len());
    assert_eq!(count("project"), 12);
    assert_eq!(count("flow"), 96);
    assert_eq!(count("endpoint"), sum(&|a| a.endpoints.len()));
    assert_eq!(count("lexicon"), sum(&|a| a.lexicons.len()));
    assert_eq!(count("snapshot"), sum(&|a| a.snapshots.len()));
    assert_eq!(count("extension"), sum(&|a| a.extensions.len()));
    assert_eq!(count("locale"), sum(&|a| a.locales.len()));
    assert_eq!(count("playbook"), sum(&|a| a.playbooks.len()));
    assert_eq!(count("knowledge_store"), sum(&|a| a.knowledge_stores.len()));
    assert_eq!(count("ai_agent"), sum(&|a| a.ai_agents.len()));
    assert_eq!(count("member"), sum(&|a| a.members.len()));
    assert_eq!(out.counts["assets"], inventory.len() as u64);
    assert_eq!(s["per_asset_type"]["flow"], 96);
    // A flow line carries the common columns and its own fields, times in RFC 3339.
    let (pid, flow) = org.flows().next().unwrap();
    let line = inventory
        .iter()
        .find(|r| r["asset_id"] == flow.id.as_str())
        .unwrap();
    assert_eq!(line["asset_type"], "flow");
    assert_eq!(line["name"], flow.name.as_str());
    assert_eq!(line["project_id"], pid);
    assert_eq!(
        line["last_changed"],
        DateTime::from_timestamp(flow.last_changed, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(line["reference_id"], flow.reference_id.as_str());
    let quota = inventory
        .iter()
        .find(|r| r["asset_type"] == "organisation")
        .unwrap();
    assert_eq!(
        quota["quota_max_projects"],
        org.organisation.quota_max_projects
    );

    // The CSV holds the same findings, in the same order, with a header row.
    let jsonl = lines(&out.path.join("findings.jsonl"));
    let mut csv = csv::Reader::from_path(out.path.join("findings.csv")).unwrap();
    assert_eq!(
        csv.headers().unwrap().iter().collect::<Vec<_>>(),
        audit::FINDING_COLUMNS
    );
    let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), jsonl.len());
    for (record, line) in records.iter().zip(&jsonl) {
        for (i, column) in audit::FINDING_COLUMNS.iter().enumerate() {
            // The CSV guards formula-like values (e.g. `@cognigy/...`) with a leading `'`.
            let want =
                cognigy_warden::report::neutralize_formula(line[column].as_str().unwrap_or(""));
            assert_eq!(&record[i], want.as_ref(), "{column}");
        }
    }
    // The first run has nothing to compare with.
    assert_eq!(read(&out.path.join("changes.jsonl")), "");
    assert_eq!(out.counts["changes_created"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuned_rules_change_exactly_what_they_should() {
    let env = env().await;
    let rule = |f: fn(&mut RuleConfig)| {
        let mut r = RuleConfig::default();
        f(&mut r);
        r
    };
    let config = job_config(BTreeMap::from([
        (
            "flow-without-description".to_string(),
            rule(|r| r.enabled = Some(false)),
        ),
        (
            "trusted-code-extension".to_string(),
            rule(|r| r.severity = Some(Severity::Warning)),
        ),
        (
            "old-snapshot".to_string(),
            rule(|r| r.severity = Some(Severity::Critical)),
        ),
        (
            "stale-flow".to_string(),
            rule(|r| r.max_age = Some(Duration::from_secs(365 * DAY as u64))),
        ),
        (
            "quota-near-limit".to_string(),
            rule(|r| r.threshold = Some(0.2)),
        ),
        (
            "unauthorized-events".to_string(),
            rule(|r| r.min_count = Some(2)),
        ),
    ]));
    let (out, now) = env.run(&config).await;
    let org = env.sandbox.organisation();
    let tuning = Tuning {
        disabled: BTreeSet::from(["flow-without-description"]),
        severity: BTreeMap::from([
            ("trusted-code-extension", "warning"),
            ("old-snapshot", "critical"),
        ]),
        stale_max_age: 365 * DAY,
        threshold: 0.2,
        min_count: 2,
        ..Tuning::default()
    };
    let want = expected(&org, now, DAY, &tuning);
    assert!(!want.iter().any(|e| e.rule == "flow-without-description"));
    // 2 endpoints of 10 per project reach a 20% threshold: every project is flagged.
    assert_eq!(
        want.iter()
            .filter(|e| e.rule == "quota-near-limit" && e.asset_type == "project")
            .count(),
        12
    );
    assert_findings(&out.path, &org, want.clone());
    let s = summary(&out.path);
    assert_eq!(s["rules"]["flow-without-description"]["enabled"], false);
    assert_eq!(s["rules"]["stale-flow"]["max_age"], "365d");
    assert_eq!(s["rules"]["quota-near-limit"]["threshold"], 0.2);
    // The severity override moved every old-snapshot finding to critical.
    assert_eq!(
        out.counts["findings_critical"],
        want.iter().filter(|e| e.severity == "critical").count() as u64
    );
    assert!(
        !out.counts
            .contains_key("finding:flow-without-description:info")
    );
    assert!(!out.counts.contains_key("finding:old-snapshot:info"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_reports_exactly_the_changes_made_in_between() {
    let env = env().await;
    let config = job_config(BTreeMap::new());
    let (first, _) = env.run(&config).await;
    let org = env.sandbox.organisation();
    let p1 = &org.projects.as_slice()[1];
    let p2 = &org.projects.as_slice()[2]; // p % 5 == 2: no members
    let a1 = &org.assets[&p1.id];
    let endpoint = &a1.endpoints.as_slice()[0];
    let lexicon = &a1.lexicons.as_slice()[0];
    let flow = &org.assets[&p2.id].flows.as_slice()[3];
    let user = &org.users.as_slice()[0];
    use reqwest::Method;

    let created = env
        .control(
            Method::POST,
            "/_sandbox/assets/flows",
            Some(json!({"projectId": p1.id, "name": "Brand New Flow", "description": "new"})),
        )
        .await;
    env.control(
        Method::DELETE,
        &format!("/_sandbox/assets/endpoints/{}", endpoint.id),
        None,
    )
    .await;
    env.control(
        Method::PATCH,
        &format!("/_sandbox/assets/lexicons/{}", lexicon.id),
        Some(json!({"name": "Renamed Lexicon"})),
    )
    .await;
    let touched = flow.last_changed + 3600;
    env.control(
        Method::PATCH,
        &format!("/_sandbox/assets/flows/{}", flow.id),
        Some(json!({"lastChanged": touched})),
    )
    .await;
    env.control(
        Method::POST,
        "/_sandbox/assets/members",
        Some(json!({"projectId": p2.id, "userId": user.id, "roles": ["projectViewer"]})),
    )
    .await;

    let (second, _) = env.run(&config).await;
    let s = summary(&second.path);
    assert_eq!(s["baseline"], first.run_id.as_str());
    assert_eq!(s["notes"], json!([]));
    let rfc = |t: i64| {
        DateTime::from_timestamp(t, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let got: BTreeSet<(String, String, String, String, String)> =
        lines(&second.path.join("changes.jsonl"))
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
                (
                    s("change"),
                    s("asset_type"),
                    s("asset_id"),
                    s("name"),
                    s("project_id"),
                )
            })
            .collect();
    let t = |c: &str, ty: &str, id: &str, name: &str, pid: &str| {
        (c.into(), ty.into(), id.into(), name.into(), pid.into())
    };
    let want = BTreeSet::from([
        t(
            "created",
            "flow",
            created["_id"].as_str().unwrap(),
            "Brand New Flow",
            &p1.id,
        ),
        t("deleted", "endpoint", &endpoint.id, &endpoint.name, &p1.id),
        t(
            "modified",
            "lexicon",
            &lexicon.id,
            "Renamed Lexicon",
            &p1.id,
        ),
        t("modified", "flow", &flow.id, &flow.name, &p2.id),
        t(
            "created",
            "member",
            &format!("{}:{}", p2.id, user.id),
            &user.name,
            &p2.id,
        ),
    ]);
    assert_eq!(got, want);
    // What changed is named, with the previous values.
    let changes = lines(&second.path.join("changes.jsonl"));
    let renamed = changes
        .iter()
        .find(|c| c["asset_id"] == lexicon.id.as_str())
        .unwrap();
    assert_eq!(renamed["changed"], json!(["name"]));
    assert_eq!(renamed["previous_name"], lexicon.name.as_str());
    let retouched = changes
        .iter()
        .find(|c| c["asset_id"] == flow.id.as_str())
        .unwrap();
    assert_eq!(retouched["changed"], json!(["last_changed"]));
    assert_eq!(retouched["previous_last_changed"], rfc(flow.last_changed));
    assert_eq!(retouched["last_changed"], rfc(touched));
    assert_eq!(second.counts["changes_created"], 2);
    assert_eq!(second.counts["changes_modified"], 2);
    assert_eq!(second.counts["changes_deleted"], 1);

    // A third run over unchanged data finds nothing new.
    let (third, _) = env.run(&config).await;
    assert_eq!(summary(&third.path)["baseline"], second.run_id.as_str());
    assert_eq!(read(&third.path.join("changes.jsonl")), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_route_is_one_warning_and_the_rest_of_the_report_is_complete() {
    let env = env_with(SandboxOptions {
        disabled_routes: vec!["aiagents".into()],
        ..sandbox_options(TTL)
    })
    .await;
    let (out, now) = env.run(&job_config(BTreeMap::new())).await;
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(
        out.warnings[0].contains("/new/v2.0/aiagents") && out.warnings[0].contains("AI agents"),
        "{}",
        out.warnings[0]
    );
    let s = summary(&out.path);
    assert_eq!(s["warnings"], json!(out.warnings));
    assert_eq!(s["missing_routes"], json!(["/new/v2.0/aiagents"]));
    assert_eq!(s["asset_types_not_inventoried"], json!(["ai_agent"]));
    let inventory = lines(&out.path.join("inventory.jsonl"));
    assert!(!inventory.iter().any(|r| r["asset_type"] == "ai_agent"));
    assert_eq!(
        inventory
            .iter()
            .filter(|r| r["asset_type"] == "flow")
            .count(),
        96
    );
    // Every rule still ran: the findings are exactly those of a complete install.
    let org = env.sandbox.organisation();
    assert_findings(
        &out.path,
        &org,
        expected(&org, now, DAY, &Tuning::default()),
    );
    let page = read(&out.path.join("report.html"));
    assert!(page.contains("/new/v2.0/aiagents") && page.trim_end().ends_with("</html>"));
    // Once the route is known missing, later projects do not ask again: at most the 8 projects
    // already in flight asked, not all 12.
    let asked = env
        .stack
        .metrics
        .api_requests
        .get_or_create(&cognigy_warden::metrics::RequestLabels {
            route: "/new/v2.0/aiagents",
            status: "404".into(),
        })
        .get();
    assert!((1..=8).contains(&asked), "{asked} AI-agent requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_page_matches_the_summary_escapes_names_and_references_nothing_outside() {
    let env = env().await;
    let config = job_config(BTreeMap::new());
    env.run(&config).await;
    let org = env.sandbox.organisation();
    let pid = org.projects.as_slice()[0].id.clone();
    use reqwest::Method;
    let hostile = "<script>alert(1)</script>";
    env.control(
        Method::POST,
        "/_sandbox/assets/flows",
        Some(json!({"projectId": pid, "name": hostile})),
    )
    .await;
    let attr = "\"><img src=x onerror=alert(2)>";
    env.control(
        Method::POST,
        "/_sandbox/assets/endpoints",
        Some(json!({"projectId": pid, "name": attr, "flowId": "0123456789abcdef01234567"})),
    )
    .await;
    let (out, _) = env.run(&config).await;
    let page = read(&out.path.join("report.html"));
    let s = summary(&out.path);

    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("@media print"));
    // Totals on the page are the summary's numbers.
    for key in [
        "findings_critical",
        "findings_warning",
        "findings_info",
        "assets",
        "projects",
        "users",
        "changes_created",
        "changes_modified",
        "changes_deleted",
    ] {
        let n = s["counts"][key].as_u64().unwrap();
        let needle = format!("data-total=\"{key}\">{n}<");
        assert!(page.contains(&needle), "{needle} not on the page");
    }
    assert_eq!(s["counts"]["changes_created"], 2);
    // The hostile names appear escaped only (as a finding and as a change each).
    assert_eq!(
        page.matches("&lt;script&gt;alert(1)&lt;/script&gt;")
            .count(),
        2,
        "the hostile flow name should appear as a finding and as a change"
    );
    assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    let lower = page.to_lowercase();
    assert!(!lower.contains("<script"), "a script element on the page");
    assert!(!lower.contains("<img"), "an image element on the page");
    // Self-contained: no references at all, no URL of any kind.
    for needle in [
        "src=\"", "href=", "url(", "@import", "http://", "https://", "<link", "<iframe",
    ] {
        assert!(!lower.contains(needle), "the page contains {needle}");
    }
    // Findings are grouped by severity: critical first.
    let crit = page.find("critical\">critical</span>").unwrap();
    let warn = page.find("warning\">warning</span>").unwrap();
    let info = page.find("info\">info</span>").unwrap();
    assert!(crit < warn && warn < info);
    // The projects table lists every project.
    for p in org.projects.iter() {
        assert!(page.contains(&format!("<div class=\"sub\">{}</div></td>", p.id)));
    }
    // No secret in any file of the run.
    for entry in std::fs::read_dir(&out.path).unwrap() {
        let path = entry.unwrap().path();
        assert_no_secrets(&path.display().to_string(), &read(&path));
    }

    // `AUDIT_KEEP_REPORT=/some/path.html` keeps the page to look at (e.g. a headless-Chromium
    // screenshot); not needed for the checks above.
    if let Ok(keep) = std::env::var("AUDIT_KEEP_REPORT") {
        std::fs::copy(out.path.join("report.html"), keep).unwrap();
    }
}

/// `jobs run` through the real binary: 0 without `--fail-on`, 3 with `--fail-on critical` when a
/// critical finding exists, 0 with `--fail-on critical` when none does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_exit_codes_follow_the_findings() {
    let sandbox = Sandbox::start(sandbox_options(TTL)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write_config = |name: &str, extra: &str| {
        let path = dir.path().join(name);
        let text = format!(
            r#"
[cognigy]
base_url = "{base}"
management_username = "{USER}"
management_password = "{PASSWORD}"
max_in_flight = 8

[log]
level = "warn"

[reports]
dir = "{reports}"

[jobs.audit]
kind = "asset-audit"
schedule = "0 30 6 * * *"
{extra}
"#,
            base = sandbox.base_url(),
            reports = dir.path().join("reports").display(),
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let plain = write_config("audit.toml", "");
    let no_critical = write_config(
        "quiet.toml",
        "[jobs.audit.rules.trusted-code-extension]\nenabled = false\n",
    );
    let run = |config: std::path::PathBuf, fail_on: Option<&'static str>| async move {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cognigy-warden"));
        cmd.arg("--config")
            .arg(&config)
            .args(["jobs", "run", "audit"]);
        if let Some(s) = fail_on {
            cmd.args(["--fail-on", s]);
        }
        cmd.env_remove("WARDEN_CONFIG");
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .expect("jobs run finished in time")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_no_secrets("jobs run output", &format!("{stdout}{stderr}"));
        (out.status.code(), stdout, stderr)
    };

    let (code, stdout, stderr) = run(plain.clone(), None).await;
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("findings_critical="), "{stdout}");
    assert!(stdout.contains("report: "), "{stdout}");
    let (code, stdout, stderr) = run(plain, Some("critical")).await;
    assert_eq!(code, Some(3), "stdout: {stdout}\nstderr: {stderr}");
    let (code, stdout, stderr) = run(no_critical.clone(), Some("critical")).await;
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("findings_critical=0"), "{stdout}");
    // Warnings exist (stale flows, dangling endpoints, ...): `--fail-on warning` trips.
    let (code, _, stderr) = run(no_critical, Some("warning")).await;
    assert_eq!(code, Some(3), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_leaves_nothing_behind_and_the_baseline_unchanged() {
    let env = env().await;
    let config = job_config(BTreeMap::new());
    let (good, _) = env.run(&config).await;
    let job_dir = good.path.parent().unwrap().to_path_buf();
    let before = entries(&job_dir);
    env.sandbox
        .set_faults(cognigy_warden::sandbox::FaultsPatch {
            error_rate: Some(1.0),
            error_status: Some(500),
            ..Default::default()
        });
    let err = audit::run(&env.deps(), "audit", &config, Utc::now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("answered 500"), "{err}");
    assert_eq!(entries(&job_dir), before, "a partial run was left behind");
    assert_eq!(env.reports.latest("audit").unwrap().0, good.run_id);
}
