//! The `asset-audit` job: an inventory of every asset of the organisation, findings of the
//! configured rules, and the changes since the previous complete run (see `docs/audit.md`).
//!
//! The run reads the organisation (management API) and its users first: the rules need the
//! quotas and which users are disabled. Then projects are walked page by page; each project's
//! lists are fetched by one future, up to `window` of which run at once through an *ordered*
//! buffer, so the files come out in project order while requests overlap (the client's
//! semaphore bounds them). Every project's rows and findings go through a bounded channel to a
//! blocking writer thread, which also compares each row with the previous inventory. Memory
//! holds a few projects, the users and the previous run's key map, never the whole inventory.
//! The run directory is committed only when every file is written.

mod changes;
mod html;
mod inventory;
mod rules;

pub use changes::{Change, ChangeKind};
pub use inventory::{AssetRow, AssetType};
pub use rules::{
    Finding, OLD_SNAPSHOT_MAX_AGE, QUOTA_THRESHOLD, Rule, RuleSet, STALE_FLOW_MAX_AGE,
    UNAUTHORIZED_MIN_COUNT,
};

use super::JobDeps;
use super::output::{RunOutput, RunSummary, SUMMARY_FILE};
use crate::cognigy::model::{Organisation, Project, User};
use crate::cognigy::{ApiError, Route, routes};
use crate::config::{JobConfig, Severity};
use crate::metrics::{FindingLabels, Metrics};
use crate::report::{ReportError, RunWriter};
use changes::{BaselineLoad, ChangeTracker};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use inventory::{Gaps, OrganisationLookup};
use rules::{Context, Quota, UnauthorizedTally};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::mpsc;

pub const INVENTORY_FILE: &str = "inventory.jsonl";
pub const FINDINGS_FILE: &str = "findings.jsonl";
pub const FINDINGS_CSV_FILE: &str = "findings.csv";
pub const CHANGES_FILE: &str = "changes.jsonl";
pub const HTML_FILE: &str = "report.html";

/// Column order of `findings.csv`.
pub const FINDING_COLUMNS: [&str; 8] = rules::FINDING_COLUMNS;

const KIND: &str = "asset-audit";

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(
        "cannot write {file} in {dir}: {source}. Check free disk space and permissions of the report directory"
    )]
    Page {
        file: &'static str,
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the report writer stopped unexpectedly: {0}")]
    Writer(String),
}

/// One project's line in `summary.json` (`per_project`) and the page's project table.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectSummary {
    pub project_id: String,
    pub project_name: Option<String>,
    /// Assets per type (the types the install could list).
    pub assets: BTreeMap<String, u64>,
    /// Findings per severity (`critical`, `warning`, `info`).
    pub findings: BTreeMap<String, u64>,
    /// Audit events in the window (absent without the audit-events route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_events_in_window: Option<u64>,
}

/// What travels from the walk to the writer thread.
enum Batch {
    Rows {
        rows: Vec<AssetRow>,
        findings: Vec<Finding>,
        project: Option<ProjectSummary>,
    },
    /// The organisation-wide findings; the walk is complete.
    Finish {
        findings: Vec<Finding>,
        not_inventoried: BTreeSet<AssetType>,
    },
}

/// Runs the audit into a new run directory of `job` and commits it.
pub async fn run(
    deps: &JobDeps,
    job: &str,
    config: &JobConfig,
    started: DateTime<Utc>,
) -> Result<RunOutput, AuditError> {
    let api = deps.api.scoped();
    let concurrency = deps.max_in_flight.max(1);
    let now = started.timestamp();
    let window_secs = i64::try_from(config.window.as_secs()).unwrap_or(i64::MAX);
    let window = (now.saturating_sub(window_secs), now);
    let rule_set = RuleSet::from_config(&config.rules);

    let reports = deps.reports.clone();
    let job_name = job.to_string();
    let (baseline, writer) = tokio::task::spawn_blocking(move || {
        // The baseline is read before this run's directory exists: `latest` is the previous run.
        let baseline = BaselineLoad::load(&reports, &job_name);
        reports.begin_run(&job_name, started).map(|w| (baseline, w))
    })
    .await
    .map_err(|e| AuditError::Writer(e.to_string()))??;
    let run_id = writer.run_id().to_string();

    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let (baseline_id, tracker) = use_baseline(baseline, &mut notes, &mut warnings);

    // The organisation and the users first: the rules need quotas and disabled users.
    let gaps = Arc::new(Gaps::default());
    let (org, users) = tokio::try_join!(
        inventory::fetch_organisation(&deps.management, deps.organisation_id.as_deref(), &gaps),
        inventory::fetch_users(&api, &gaps, concurrency),
    )?;
    let organisation = match org {
        OrganisationLookup::Found(o) => Some(o),
        OrganisationLookup::Ambiguous(n) => {
            warnings.push(format!(
                "the management user sees {n} organisations, so the one audited is not known: the organisation's quotas are not checked"
            ));
            None
        }
        OrganisationLookup::Missing => None,
    };
    let mut ctx = Context::new(
        rule_set.clone(),
        now,
        config.window,
        users.as_deref().unwrap_or_default(),
    );
    if let Some(o) = &organisation {
        ctx.quota = Quota::of(o);
    }
    let ctx = Arc::new(ctx);

    let (tx, rx) = mpsc::channel::<Batch>(4);
    let writer_task = tokio::task::spawn_blocking(move || write_files(writer, tracker, rx));

    let walked = walk(
        &api,
        &gaps,
        &ctx,
        organisation.as_ref(),
        users.as_deref(),
        window,
        concurrency,
        &tx,
    )
    .await;
    drop(tx);
    let written = writer_task
        .await
        .map_err(|e| AuditError::Writer(e.to_string()))?;
    // A writer error is the cause of a walk that stopped because the writer went away.
    let written = written?;
    let walk = walked?;
    let Some(written) = written else {
        return Err(AuditError::Writer(
            "the writer ended before the last row".into(),
        ));
    };

    // Gaps become warnings: once per route, naming what is missing from the report.
    let missing = gaps.missing_routes();
    for (route, status) in &missing {
        warnings.push(gap_warning(route, *status, &rule_set));
    }
    for (id, name) in gaps.vanished_projects() {
        warnings.push(format!(
            "project {name} ({id}) was deleted while the audit ran: its lists are partly or wholly missing"
        ));
    }

    let stats = api.stats();
    let finished = Utc::now();
    let counts = counts(&written, &rule_set);
    let per_type: BTreeMap<String, u64> = written
        .per_type
        .iter()
        .map(|(t, n)| (t.as_str().to_string(), *n))
        .collect();
    let mut per_rule: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for ((rule, sev), n) in &written.per_rule {
        per_rule
            .entry(rule.as_str().to_string())
            .or_default()
            .insert(sev.as_str().to_string(), *n);
    }
    let not_inventoried: Vec<&str> = walk.not_inventoried.iter().map(|t| t.as_str()).collect();
    let summary = RunSummary::new(job, KIND, &run_id, started, finished, stats)
        .with_counts(counts.clone())
        .with_warnings(warnings.clone())
        .with_detail("baseline", &baseline_id)
        .with_detail("notes", &notes)
        .with_detail("per_asset_type", &per_type)
        .with_detail("per_rule", &per_rule)
        .with_detail("per_project", &written.projects)
        .with_detail(
            "missing_routes",
            &missing.keys().copied().collect::<Vec<&str>>(),
        )
        .with_detail("asset_types_not_inventoried", &not_inventoried)
        .with_detail("rules", &rules_detail(&rule_set))
        .with_detail(
            "audit_events",
            &serde_json::json!({
                "window": rules::duration_label(config.window),
                "from": super::output::rfc3339(
                    chrono::TimeDelta::from_std(config.window)
                        .ok()
                        .and_then(|w| started.checked_sub_signed(w))
                        .unwrap_or(DateTime::<Utc>::MIN_UTC)
                ),
                "to": super::output::rfc3339(started),
                "by_type": walk.events_by_type,
            }),
        )
        .with_detail(
            "organisation",
            &organisation.as_ref().map(|o| {
                serde_json::json!({
                    "id": o.id,
                    "name": o.name,
                    "quota_max_projects": inventory::number(o.quota_max_projects),
                    "quota_max_users": inventory::number(o.quota_max_users),
                    "quota_max_channels_per_project": inventory::number(o.quota_max_channels_per_project),
                })
            }),
        );

    let page = PageInputs {
        organisation: organisation.and_then(|o| o.name),
        baseline: baseline_id,
        window: config.window,
        rules: rule_set,
        notes,
    };
    let commit = tokio::task::spawn_blocking(move || finish(written, summary, page));
    let path = commit
        .await
        .map_err(|e| AuditError::Writer(e.to_string()))??;
    tracing::info!(
        job,
        run_id = %run_id,
        critical = counts.get("findings_critical").copied().unwrap_or(0),
        warning = counts.get("findings_warning").copied().unwrap_or(0),
        info = counts.get("findings_info").copied().unwrap_or(0),
        "asset audit written"
    );
    Ok(RunOutput {
        run_id,
        path,
        counts,
        warnings,
        stats,
    })
}

/// The baseline's run id and change tracker; a first run gets a note, an unusable baseline a
/// warning.
fn use_baseline(
    load: BaselineLoad,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> (Option<String>, Option<ChangeTracker>) {
    match load {
        BaselineLoad::None => {
            notes.push(
                "first run: no earlier complete run of this job to compare with, so changes.jsonl is empty"
                    .to_string(),
            );
            (None, None)
        }
        BaselineLoad::Loaded(b) => (Some(b.run_id.clone()), Some(ChangeTracker::new(b))),
        BaselineLoad::Unusable { run_id, reason } => {
            warnings.push(format!(
                "the previous run {run_id} cannot serve as a baseline ({reason}); changes are reported again from the next run"
            ));
            (None, None)
        }
    }
}

/// What the page needs besides the summary and the written files.
struct PageInputs {
    organisation: Option<String>,
    baseline: Option<String>,
    window: std::time::Duration,
    rules: RuleSet,
    notes: Vec<String>,
}

/// Writes `report.html` and `summary.json` next to the streamed files and commits the run
/// (blocking: file I/O).
fn finish(
    written: Written,
    summary: RunSummary,
    inputs: PageInputs,
) -> Result<std::path::PathBuf, AuditError> {
    let page = html::Page {
        job: &summary.job,
        run_id: &summary.run_id,
        started: &summary.started,
        finished: &summary.finished,
        organisation: inputs.organisation.as_deref(),
        baseline: inputs.baseline.as_deref(),
        window: inputs.window,
        counts: &summary.counts,
        per_type: &written.per_type,
        findings: &written.per_rule,
        projects: &written.projects,
        rules: &inputs.rules,
        warnings: &summary.warnings,
        notes: &inputs.notes,
        dir: written.writer.path(),
    };
    let mut out = written.writer.create(HTML_FILE)?;
    html::render(&mut out, &page).map_err(|source| AuditError::Page {
        file: HTML_FILE,
        dir: written.writer.path().display().to_string(),
        source,
    })?;
    drop(out);
    written.writer.write_json(SUMMARY_FILE, &summary)?;
    Ok(written.writer.commit()?)
}

/// What the walk gathered besides the rows it sent.
struct Walked {
    not_inventoried: BTreeSet<AssetType>,
    events_by_type: BTreeMap<String, u64>,
}

#[allow(clippy::too_many_arguments)]
async fn walk(
    api: &crate::cognigy::Api,
    gaps: &Arc<Gaps>,
    ctx: &Arc<Context>,
    organisation: Option<&Organisation>,
    users: Option<&[User]>,
    window: (i64, i64),
    concurrency: usize,
    tx: &mpsc::Sender<Batch>,
) -> Result<Walked, AuditError> {
    let stopped = || AuditError::Writer("the report writer stopped before the walk ended".into());
    // The organisation and its users lead the inventory.
    let mut rows: Vec<AssetRow> = organisation
        .map(AssetRow::organisation)
        .into_iter()
        .collect();
    rows.extend(users.unwrap_or_default().iter().map(AssetRow::user));
    tx.send(Batch::Rows {
        rows,
        findings: Vec::new(),
        project: None,
    })
    .await
    .map_err(|_| stopped())?;

    let mut projects = 0u64;
    let mut unauthorized: BTreeMap<String, UnauthorizedTally> = BTreeMap::new();
    let mut events_by_type: BTreeMap<String, u64> = BTreeMap::new();
    let batches = api
        .walk::<Project>(Route::fixed(routes::PROJECTS), Vec::new())
        .map_err(AuditError::from)
        .map_ok(|project| {
            let (api, gaps, ctx) = (api.clone(), gaps.clone(), ctx.clone());
            async move {
                let lists = inventory::fetch_project(&api, &gaps, &project, window).await?;
                let findings = rules::project_findings(&ctx, &project, &lists);
                let rows = inventory::project_rows(&project, &lists);
                Ok::<_, AuditError>((project, lists, rows, findings))
            }
        })
        .try_buffered(concurrency);
    let mut batches = std::pin::pin!(batches);
    while let Some((project, lists, rows, findings)) = batches.try_next().await? {
        projects += 1;
        if let Some(events) = &lists.events {
            for (user, n) in &events.unauthorized_by_user {
                let t = unauthorized.entry(user.clone()).or_default();
                t.events += n;
                t.projects += 1;
            }
            for (kind, n) in &events.by_type {
                *events_by_type.entry(kind.clone()).or_default() += n;
            }
        }
        let mut by_severity: BTreeMap<String, u64> = Severity::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        for f in &findings {
            *by_severity
                .entry(f.severity.as_str().to_string())
                .or_default() += 1;
        }
        let summary = ProjectSummary {
            project_id: project.id.clone(),
            project_name: project.name.clone(),
            assets: lists
                .counts()
                .into_iter()
                .map(|(t, n)| (t.as_str().to_string(), n))
                .collect(),
            findings: by_severity,
            audit_events_in_window: lists.events.as_ref().map(|e| e.in_window),
        };
        tx.send(Batch::Rows {
            rows,
            findings,
            project: Some(summary),
        })
        .await
        .map_err(|_| stopped())?;
    }

    let not_inventoried: BTreeSet<AssetType> = gaps
        .missing_routes()
        .keys()
        .flat_map(|r| AssetType::of_route(r).iter().copied())
        .collect();
    let findings = rules::organisation_findings(
        ctx,
        organisation,
        projects,
        users.map(|u| u.len() as u64),
        &unauthorized,
    );
    tx.send(Batch::Finish {
        findings,
        not_inventoried: not_inventoried.clone(),
    })
    .await
    .map_err(|_| stopped())?;
    Ok(Walked {
        not_inventoried,
        events_by_type,
    })
}

/// What the writer thread hands back for the summary, the page and the commit.
struct Written {
    writer: RunWriter,
    per_type: BTreeMap<AssetType, u64>,
    per_rule: BTreeMap<(Rule, Severity), u64>,
    changes: BTreeMap<ChangeKind, u64>,
    projects: Vec<ProjectSummary>,
}

/// The blocking side: writes batches as they come. Returns the writer (for the page and the
/// commit) only when `Finish` arrived; otherwise it is dropped and its directory removed.
fn write_files(
    writer: RunWriter,
    mut tracker: Option<ChangeTracker>,
    mut rx: mpsc::Receiver<Batch>,
) -> Result<Option<Written>, AuditError> {
    let mut inventory = writer.jsonl(INVENTORY_FILE)?;
    let mut findings_jsonl = writer.jsonl(FINDINGS_FILE)?;
    let mut findings_csv = writer.csv(FINDINGS_CSV_FILE, &FINDING_COLUMNS)?;
    let mut changes = writer.jsonl(CHANGES_FILE)?;
    let mut per_type: BTreeMap<AssetType, u64> = BTreeMap::new();
    let mut per_rule: BTreeMap<(Rule, Severity), u64> = BTreeMap::new();
    let mut change_counts: BTreeMap<ChangeKind, u64> = BTreeMap::new();
    let mut projects = Vec::new();

    while let Some(batch) = rx.blocking_recv() {
        match batch {
            Batch::Rows {
                rows,
                findings,
                project,
            } => {
                for row in &rows {
                    inventory.write(row)?;
                    *per_type.entry(row.asset_type).or_default() += 1;
                    if let Some(change) = tracker.as_mut().and_then(|t| t.observe(row)) {
                        changes.write(&change)?;
                        *change_counts.entry(change.change).or_default() += 1;
                    }
                }
                write_findings(
                    &findings,
                    &mut findings_jsonl,
                    &mut findings_csv,
                    &mut per_rule,
                )?;
                projects.extend(project);
            }
            Batch::Finish {
                findings,
                not_inventoried,
            } => {
                write_findings(
                    &findings,
                    &mut findings_jsonl,
                    &mut findings_csv,
                    &mut per_rule,
                )?;
                if let Some(t) = tracker.take() {
                    for change in t.deleted(&not_inventoried) {
                        changes.write(&change)?;
                        *change_counts.entry(change.change).or_default() += 1;
                    }
                }
                inventory.finish()?;
                findings_jsonl.finish()?;
                findings_csv.finish()?;
                changes.finish()?;
                return Ok(Some(Written {
                    writer,
                    per_type,
                    per_rule,
                    changes: change_counts,
                    projects,
                }));
            }
        }
    }
    // The walk failed or was cancelled: dropping the writer discards the run.
    Ok(None)
}

fn write_findings<W: std::io::Write>(
    list: &[Finding],
    jsonl: &mut crate::report::JsonLinesWriter<W>,
    csv: &mut crate::report::CsvWriter<W>,
    per_rule: &mut BTreeMap<(Rule, Severity), u64>,
) -> Result<(), AuditError> {
    for f in list {
        jsonl.write(f)?;
        csv.serialize(f)?;
        *per_rule.entry((f.rule, f.severity)).or_default() += 1;
    }
    Ok(())
}

/// The run's counts: assets, projects and users (per type in `per_asset_type`), findings per
/// rule and severity (zero for every series an
/// enabled rule can report, so the metric drops back to 0), severity totals, changes.
fn counts(w: &Written, rules: &RuleSet) -> BTreeMap<String, u64> {
    let mut c = BTreeMap::new();
    c.insert("assets".to_string(), w.per_type.values().sum());
    for (key, t) in [("projects", AssetType::Project), ("users", AssetType::User)] {
        c.insert(key.to_string(), w.per_type.get(&t).copied().unwrap_or(0));
    }
    for (rule, sev) in rules.possible() {
        c.insert(finding_key(rule.as_str(), sev), 0);
    }
    let mut total = 0;
    let mut by_severity: BTreeMap<Severity, u64> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
    for ((rule, sev), n) in &w.per_rule {
        c.insert(finding_key(rule.as_str(), *sev), *n);
        *by_severity.entry(*sev).or_default() += n;
        total += n;
    }
    for (sev, n) in by_severity {
        c.insert(format!("findings_{}", sev.as_str()), n);
    }
    c.insert("findings".to_string(), total);
    for kind in ChangeKind::ALL {
        c.insert(
            format!("changes_{}", kind.as_str()),
            w.changes.get(&kind).copied().unwrap_or(0),
        );
    }
    c
}

fn finding_key(rule: &str, severity: Severity) -> String {
    format!("finding:{rule}:{}", severity.as_str())
}

/// The effective rule settings, as the summary records them.
fn rules_detail(rules: &RuleSet) -> BTreeMap<&'static str, serde_json::Value> {
    Rule::ALL
        .iter()
        .map(|r| {
            let s = rules.get(*r);
            let mut v = serde_json::json!({
                "enabled": s.enabled,
                "severity": rules.severity(*r, false).as_str(),
            });
            match r {
                Rule::StaleFlow | Rule::OldSnapshot => {
                    v["max_age"] = rules::duration_label(s.max_age).into();
                }
                Rule::UnauthorizedEvents => v["min_count"] = s.min_count.into(),
                Rule::QuotaNearLimit => v["threshold"] = s.threshold.into(),
                _ => {}
            }
            if *r == Rule::OldSnapshot && s.severity.is_none() {
                v["severity_expired_package"] = Severity::Warning.as_str().into();
            }
            (r.as_str(), v)
        })
        .collect()
}

/// One warning per missing route: what the report lacks and which enabled rules it affects.
fn gap_warning(route: &str, status: u16, rules: &RuleSet) -> String {
    let affected: &[Rule] = match route {
        routes::FLOWS => &[
            Rule::StaleFlow,
            Rule::FlowWithoutDescription,
            Rule::DanglingEndpoint,
        ],
        routes::ENDPOINTS => &[Rule::DanglingEndpoint, Rule::QuotaNearLimit],
        routes::SNAPSHOTS => &[Rule::OldSnapshot],
        routes::EXTENSIONS => &[Rule::TrustedCodeExtension],
        routes::MEMBERS => &[Rule::ProjectWithoutMembers],
        routes::USERS => &[Rule::DisabledUserStillMember, Rule::QuotaNearLimit],
        routes::USER => &[Rule::DisabledUserStillMember],
        routes::AUDIT_EVENTS => &[Rule::UnauthorizedEvents],
        inventory::ORGANISATIONS => &[Rule::QuotaNearLimit],
        _ => &[],
    };
    let what = match route {
        routes::USER => "user details (roles, projects, disabled)".to_string(),
        routes::AUDIT_EVENTS => "audit events".to_string(),
        inventory::ORGANISATIONS => "the organisation and its quotas".to_string(),
        other => AssetType::of_route(other)
            .iter()
            .map(|t| t.plural())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut msg = format!(
        "the install has no route {route} (it answered {status}): {what} are not part of this audit"
    );
    let skipped: Vec<&str> = affected
        .iter()
        .filter(|r| rules.enabled(**r))
        .map(|r| r.as_str())
        .collect();
    if !skipped.is_empty() {
        msg.push_str(&format!(
            "; checks skipped or partial: {}",
            skipped.join(", ")
        ));
    }
    if route == routes::MEMBERS {
        msg.push_str("; disabled-user-still-member uses the projects of each user record instead");
    }
    msg
}

/// Sets `cognigy_warden_audit_findings{job,rule,severity}` from a successful run's counts
/// (`finding:<rule>:<severity>` keys; other jobs' counts have none and change nothing).
pub fn record_findings_metric(metrics: &Metrics, job: &str, counts: &BTreeMap<String, u64>) {
    for (key, n) in counts {
        let Some(rest) = key.strip_prefix("finding:") else {
            continue;
        };
        let Some((rule, severity)) = rest.rsplit_once(':') else {
            continue;
        };
        metrics
            .audit_findings
            .get_or_create(&FindingLabels {
                job: job.to_string(),
                rule: rule.to_string(),
                severity: severity.to_string(),
            })
            .set(i64::try_from(*n).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_follows_the_finding_counts_only() {
        let metrics = Metrics::new();
        let counts = BTreeMap::from([
            ("finding:stale-flow:warning".to_string(), 4),
            ("finding:old-snapshot:info".to_string(), 0),
            ("findings_warning".to_string(), 4),
            ("flows".to_string(), 10),
        ]);
        record_findings_metric(&metrics, "audit", &counts);
        let get = |rule: &str, severity: &str| {
            metrics
                .audit_findings
                .get_or_create(&FindingLabels {
                    job: "audit".into(),
                    rule: rule.into(),
                    severity: severity.into(),
                })
                .get()
        };
        assert_eq!(get("stale-flow", "warning"), 4);
        assert_eq!(get("old-snapshot", "info"), 0);
    }

    #[test]
    fn a_missing_route_warning_names_route_assets_and_rules() {
        let rules = RuleSet::from_config(&BTreeMap::new());
        let w = gap_warning(routes::AI_AGENTS, 404, &rules);
        assert_eq!(
            w,
            "the install has no route /new/v2.0/aiagents (it answered 404): AI agents are not part of this audit"
        );
        let w = gap_warning(routes::EXTENSIONS, 405, &rules);
        assert!(
            w.ends_with("checks skipped or partial: trusted-code-extension"),
            "{w}"
        );
    }
}
