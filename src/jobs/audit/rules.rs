//! The audit rules: their defaults, their settings from `[jobs.<name>.rules.<rule>]`, and the
//! checks themselves. Per-project checks see one project's lists at a time; organisation-wide
//! checks run once the walk is done, on counts gathered along the way.

use super::inventory::{AssetType, ProjectLists};
use crate::cognigy::model::{Organisation, Project, User};
use crate::config::{RuleConfig, Severity};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

const DAY: i64 = 86_400;

/// Default `max_age` of `stale-flow`.
pub const STALE_FLOW_MAX_AGE: Duration = Duration::from_secs(180 * DAY as u64);
/// Default `max_age` of `old-snapshot`.
pub const OLD_SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(365 * DAY as u64);
/// Default `min_count` of `unauthorized-events`.
pub const UNAUTHORIZED_MIN_COUNT: u32 = 1;
/// Default `threshold` of `quota-near-limit`.
pub const QUOTA_THRESHOLD: f64 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    StaleFlow,
    FlowWithoutDescription,
    DanglingEndpoint,
    TrustedCodeExtension,
    OldSnapshot,
    ProjectWithoutMembers,
    DisabledUserStillMember,
    UnauthorizedEvents,
    QuotaNearLimit,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::StaleFlow,
        Rule::FlowWithoutDescription,
        Rule::DanglingEndpoint,
        Rule::TrustedCodeExtension,
        Rule::OldSnapshot,
        Rule::ProjectWithoutMembers,
        Rule::DisabledUserStillMember,
        Rule::UnauthorizedEvents,
        Rule::QuotaNearLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::StaleFlow => "stale-flow",
            Rule::FlowWithoutDescription => "flow-without-description",
            Rule::DanglingEndpoint => "dangling-endpoint",
            Rule::TrustedCodeExtension => "trusted-code-extension",
            Rule::OldSnapshot => "old-snapshot",
            Rule::ProjectWithoutMembers => "project-without-members",
            Rule::DisabledUserStillMember => "disabled-user-still-member",
            Rule::UnauthorizedEvents => "unauthorized-events",
            Rule::QuotaNearLimit => "quota-near-limit",
        }
    }

    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The severity a finding gets when the configuration does not set one. `old-snapshot`
    /// raises an expired package to warning (see [`RuleSet::severity`]).
    pub fn default_severity(self) -> Severity {
        match self {
            Rule::FlowWithoutDescription | Rule::OldSnapshot => Severity::Info,
            Rule::TrustedCodeExtension => Severity::Critical,
            _ => Severity::Warning,
        }
    }

    /// One line for the report page.
    pub fn description(self) -> &'static str {
        match self {
            Rule::StaleFlow => "Flows unchanged for longer than max_age.",
            Rule::FlowWithoutDescription => "Flows without a description.",
            Rule::DanglingEndpoint => "Endpoints whose flow is not a flow of their project.",
            Rule::TrustedCodeExtension => {
                "Extensions that run as trusted code, outside the extension sandbox."
            }
            Rule::OldSnapshot => {
                "Snapshots older than max_age, and packaged snapshots whose package expired."
            }
            Rule::ProjectWithoutMembers => "Projects nobody is a member of.",
            Rule::DisabledUserStillMember => "Disabled users still listed as project members.",
            Rule::UnauthorizedEvents => {
                "Users with unauthorized audit events in the window (at least min_count)."
            }
            Rule::QuotaNearLimit => {
                "Projects, users and endpoints per project at or above threshold of the organisation's quota."
            }
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One rule's effective settings: the configuration over the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSettings {
    pub enabled: bool,
    /// As configured; `None` uses the rule's default.
    pub severity: Option<Severity>,
    pub max_age: Duration,
    pub threshold: f64,
    pub min_count: u32,
}

/// The settings of every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    settings: BTreeMap<Rule, RuleSettings>,
}

impl RuleSet {
    /// Applies `[jobs.<name>.rules.*]` (already validated) over the defaults; unknown names
    /// cannot reach here (the configuration rejects them).
    pub fn from_config(config: &BTreeMap<String, RuleConfig>) -> RuleSet {
        let settings = Rule::ALL
            .into_iter()
            .map(|rule| {
                let c = config.get(rule.as_str()).cloned().unwrap_or_default();
                let default_age = match rule {
                    Rule::OldSnapshot => OLD_SNAPSHOT_MAX_AGE,
                    _ => STALE_FLOW_MAX_AGE,
                };
                let s = RuleSettings {
                    enabled: c.enabled.unwrap_or(true),
                    severity: c.severity,
                    max_age: c.max_age.unwrap_or(default_age),
                    threshold: c.threshold.unwrap_or(QUOTA_THRESHOLD),
                    min_count: c.min_count.unwrap_or(UNAUTHORIZED_MIN_COUNT).max(1),
                };
                (rule, s)
            })
            .collect();
        RuleSet { settings }
    }

    pub fn get(&self, rule: Rule) -> &RuleSettings {
        // Built from Rule::ALL, so every rule has an entry.
        &self.settings[&rule]
    }

    pub fn enabled(&self, rule: Rule) -> bool {
        self.get(rule).enabled
    }

    /// The severity of a finding of `rule`; `raised` is `old-snapshot`'s expired package.
    pub fn severity(&self, rule: Rule, raised: bool) -> Severity {
        match self.get(rule).severity {
            Some(s) => s,
            None if raised && rule == Rule::OldSnapshot => Severity::Warning,
            None => rule.default_severity(),
        }
    }

    /// Every (rule, severity) an enabled rule can report: the metric series of a run.
    pub fn possible(&self) -> Vec<(Rule, Severity)> {
        let mut out = Vec::new();
        for (rule, s) in &self.settings {
            if !s.enabled {
                continue;
            }
            out.push((*rule, self.severity(*rule, false)));
            let raised = self.severity(*rule, true);
            if raised != self.severity(*rule, false) {
                out.push((*rule, raised));
            }
        }
        out
    }

    /// Rules that are enabled, in name order.
    pub fn enabled_rules(&self) -> Vec<Rule> {
        let mut v: Vec<Rule> = self
            .settings
            .iter()
            .filter(|(_, s)| s.enabled)
            .map(|(r, _)| *r)
            .collect();
        v.sort_by_key(|r| r.as_str());
        v
    }
}

/// One finding: a line of `findings.jsonl` and `findings.csv` (same columns, same order).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    pub asset_type: AssetType,
    pub asset_id: String,
    pub asset_name: Option<String>,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub message: String,
}

/// Column order of `findings.csv`.
pub const FINDING_COLUMNS: [&str; 8] = [
    "rule",
    "severity",
    "asset_type",
    "asset_id",
    "asset_name",
    "project_id",
    "project_name",
    "message",
];

/// A finding as read back from `findings.jsonl` (for the report page).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredFinding {
    pub rule: String,
    pub severity: Severity,
    pub asset_type: String,
    pub asset_id: String,
    pub asset_name: Option<String>,
    pub project_name: Option<String>,
    pub message: String,
}

/// Findings of one batch in report order: rule name, then asset id, then message.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.rule.as_str(), &a.asset_id, &a.message).cmp(&(b.rule.as_str(), &b.asset_id, &b.message))
    });
}

/// A user as the rules need it.
#[derive(Debug, Clone)]
pub struct UserRef {
    pub name: Option<String>,
    pub email: Option<String>,
}

impl UserRef {
    fn label(&self, id: &str) -> String {
        self.email
            .clone()
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| id.to_string())
    }
}

/// The quota fields of the organisation (a missing or non-positive one skips its check).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quota {
    pub max_projects: Option<f64>,
    pub max_users: Option<f64>,
    pub max_channels_per_project: Option<f64>,
}

impl Quota {
    pub fn of(org: &Organisation) -> Quota {
        let positive = |v: Option<f64>| v.filter(|q| *q > 0.0);
        Quota {
            max_projects: positive(org.quota_max_projects),
            max_users: positive(org.quota_max_users),
            max_channels_per_project: positive(org.quota_max_channels_per_project),
        }
    }
}

/// Everything the checks need besides the lists they look at.
#[derive(Debug, Clone)]
pub struct Context {
    pub rules: RuleSet,
    /// The run's start (Unix seconds): ages are measured from it.
    pub now: i64,
    /// The audit-event window, for messages (`24h`).
    pub window_label: String,
    pub quota: Quota,
    /// Every known user by id (empty without the users route).
    pub users: HashMap<String, UserRef>,
    /// Ids of disabled users (empty when the install does not tell).
    pub disabled: HashSet<String>,
    /// Disabled users by the projects their user record lists: used for projects whose members
    /// route is missing.
    pub disabled_by_project: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn new(rules: RuleSet, now: i64, window: Duration, users: &[User]) -> Context {
        let mut ctx = Context {
            rules,
            now,
            window_label: duration_label(window),
            quota: Quota::default(),
            users: HashMap::new(),
            disabled: HashSet::new(),
            disabled_by_project: HashMap::new(),
        };
        for u in users {
            ctx.users.insert(
                u.id.clone(),
                UserRef {
                    name: u.name.clone(),
                    email: u.email.clone(),
                },
            );
            if u.disabled == Some(true) {
                ctx.disabled.insert(u.id.clone());
                for p in u.projects.iter().flatten() {
                    ctx.disabled_by_project
                        .entry(p.clone())
                        .or_default()
                        .push(u.id.clone());
                }
            }
        }
        ctx
    }

    fn finding(
        &self,
        rule: Rule,
        raised: bool,
        row: (AssetType, &str, Option<&String>),
        project: Option<&Project>,
        message: String,
    ) -> Finding {
        Finding {
            rule,
            severity: self.rules.severity(rule, raised),
            asset_type: row.0,
            asset_id: row.1.to_string(),
            asset_name: row.2.cloned(),
            project_id: project.map(|p| p.id.clone()),
            project_name: project.and_then(|p| p.name.clone()),
            message,
        }
    }

    fn age_days(&self, t: i64) -> i64 {
        (self.now - t).div_euclid(DAY)
    }
}

/// `180d`, `24h` (one day reads better in hours), `90m`, else humantime's form.
pub fn duration_label(d: Duration) -> String {
    let s = d.as_secs();
    if s > DAY as u64 && s.is_multiple_of(DAY as u64) {
        format!("{}d", s / DAY as u64)
    } else if s > 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// `2025-06-15` for Unix seconds.
fn date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// True when `t` lies more than `max_age` before `now`.
fn older_than(now: i64, t: i64, max_age: Duration) -> bool {
    let max = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    now.saturating_sub(t) > max
}

fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

fn percent(r: f64) -> String {
    format!("{:.0}%", r * 100.0)
}

/// The findings of one project, in report order.
pub fn project_findings(ctx: &Context, p: &Project, lists: &ProjectLists) -> Vec<Finding> {
    let mut out = Vec::new();
    let rules = &ctx.rules;

    if let Some(flows) = &lists.flows {
        let stale = rules.get(Rule::StaleFlow);
        for f in flows {
            let row = (AssetType::Flow, f.id.as_str(), f.name.as_ref());
            if stale.enabled
                && let Some(t) = f.last_changed
                && older_than(ctx.now, t, stale.max_age)
            {
                out.push(ctx.finding(
                    Rule::StaleFlow,
                    false,
                    row,
                    Some(p),
                    format!(
                        "unchanged for {} days (since {}), longer than max_age {}",
                        ctx.age_days(t),
                        date(t),
                        duration_label(stale.max_age)
                    ),
                ));
            }
            if rules.enabled(Rule::FlowWithoutDescription) && blank(&f.description) {
                out.push(ctx.finding(
                    Rule::FlowWithoutDescription,
                    false,
                    row,
                    Some(p),
                    "the flow has no description".into(),
                ));
            }
        }
    }

    if rules.enabled(Rule::DanglingEndpoint)
        && let (Some(flows), Some(endpoints)) = (&lists.flows, &lists.endpoints)
    {
        let ids: HashSet<&str> = flows.iter().map(|f| f.id.as_str()).collect();
        for e in endpoints {
            let message = match e.flow_id.as_deref().filter(|f| !f.is_empty()) {
                None => "the endpoint names no flow".to_string(),
                Some(f) if !ids.contains(f) => {
                    format!("the endpoint starts flow {f}, which is not a flow of this project")
                }
                Some(_) => continue,
            };
            out.push(ctx.finding(
                Rule::DanglingEndpoint,
                false,
                (AssetType::Endpoint, &e.id, e.name.as_ref()),
                Some(p),
                message,
            ));
        }
    }

    if rules.enabled(Rule::TrustedCodeExtension) {
        for x in lists.extensions.iter().flatten() {
            if x.trusted_code == Some(true) {
                out.push(ctx.finding(
                    Rule::TrustedCodeExtension,
                    false,
                    (AssetType::Extension, &x.id, x.name.as_ref()),
                    Some(p),
                    format!(
                        "the extension{} runs as trusted code (trustedCode: true), outside the extension sandbox",
                        x.version.as_ref().map(|v| format!(" (version {v})")).unwrap_or_default()
                    ),
                ));
            }
        }
    }

    if rules.enabled(Rule::OldSnapshot) {
        let max_age = rules.get(Rule::OldSnapshot).max_age;
        for s in lists.snapshots.iter().flatten() {
            let mut reasons = Vec::new();
            if let Some(t) = s.created_at
                && older_than(ctx.now, t, max_age)
            {
                reasons.push(format!(
                    "created {} days ago ({}), older than max_age {}",
                    ctx.age_days(t),
                    date(t),
                    duration_label(max_age)
                ));
            }
            let expired =
                s.is_packaged == Some(true) && s.package_expires_at.is_some_and(|t| t < ctx.now);
            if let (true, Some(t)) = (expired, s.package_expires_at) {
                reasons.push(format!(
                    "its package expired {} days ago ({})",
                    ctx.age_days(t),
                    date(t)
                ));
            }
            if !reasons.is_empty() {
                out.push(ctx.finding(
                    Rule::OldSnapshot,
                    expired,
                    (AssetType::Snapshot, &s.id, s.name.as_ref()),
                    Some(p),
                    reasons.join("; "),
                ));
            }
        }
    }

    let project_row = (AssetType::Project, p.id.as_str(), p.name.as_ref());
    if rules.enabled(Rule::ProjectWithoutMembers)
        && let Some(members) = &lists.members
        && members.is_empty()
    {
        out.push(ctx.finding(
            Rule::ProjectWithoutMembers,
            false,
            project_row,
            Some(p),
            "the project has no members".into(),
        ));
    }

    if rules.enabled(Rule::DisabledUserStillMember) {
        // The members list when there is one, else what the user records say.
        let disabled_members: Vec<(String, Option<Vec<String>>)> = match &lists.members {
            Some(members) => members
                .iter()
                .filter(|m| ctx.disabled.contains(&m.id))
                .map(|m| (m.id.clone(), m.roles.clone()))
                .collect(),
            None => ctx
                .disabled_by_project
                .get(&p.id)
                .into_iter()
                .flatten()
                .map(|id| (id.clone(), None))
                .collect(),
        };
        for (id, roles) in disabled_members {
            let user = ctx.users.get(&id);
            let name = user.and_then(|u| u.name.clone());
            let label = user.map(|u| u.label(&id)).unwrap_or_else(|| id.clone());
            let roles = roles
                .filter(|r| !r.is_empty())
                .map(|r| format!(" (roles: {})", r.join(", ")))
                .unwrap_or_default();
            out.push(ctx.finding(
                Rule::DisabledUserStillMember,
                false,
                (AssetType::User, &id, name.as_ref()),
                Some(p),
                format!("{label} is disabled but still a member of this project{roles}"),
            ));
        }
    }

    let quota = rules.get(Rule::QuotaNearLimit);
    if quota.enabled
        && let (Some(max), Some(endpoints)) = (ctx.quota.max_channels_per_project, &lists.endpoints)
    {
        let ratio = endpoints.len() as f64 / max;
        if ratio >= quota.threshold {
            out.push(ctx.finding(
                Rule::QuotaNearLimit,
                false,
                project_row,
                Some(p),
                format!(
                    "{} endpoints of a quota of {} per project (quotaMaxChannelsPerProject): {}, threshold {}",
                    endpoints.len(),
                    max,
                    percent(ratio),
                    percent(quota.threshold)
                ),
            ));
        }
    }

    sort(&mut out);
    out
}

/// Unauthorized audit events of one user over all projects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnauthorizedTally {
    pub events: u64,
    pub projects: u64,
}

/// The organisation-wide findings, in report order (they come after every project's).
pub fn organisation_findings(
    ctx: &Context,
    org: Option<&Organisation>,
    projects: u64,
    users: Option<u64>,
    unauthorized: &BTreeMap<String, UnauthorizedTally>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let rules = &ctx.rules;
    let unauth = rules.get(Rule::UnauthorizedEvents);
    if unauth.enabled {
        for (id, tally) in unauthorized {
            if tally.events < u64::from(unauth.min_count) {
                continue;
            }
            let user = ctx.users.get(id);
            let (asset_id, label) = if id.is_empty() {
                ("unknown".to_string(), "events naming no user".to_string())
            } else {
                (
                    id.clone(),
                    user.map(|u| u.label(id)).unwrap_or_else(|| id.clone()),
                )
            };
            out.push(ctx.finding(
                Rule::UnauthorizedEvents,
                false,
                (
                    AssetType::User,
                    &asset_id,
                    user.and_then(|u| u.name.as_ref()),
                ),
                None,
                format!(
                    "{label}: {} unauthorized audit event{} in the last {} in {} project{}",
                    tally.events,
                    if tally.events == 1 { "" } else { "s" },
                    ctx.window_label,
                    tally.projects,
                    if tally.projects == 1 { "" } else { "s" },
                ),
            ));
        }
    }
    let quota = rules.get(Rule::QuotaNearLimit);
    if quota.enabled
        && let Some(org) = org
    {
        let row = (AssetType::Organisation, org.id.as_str(), org.name.as_ref());
        let checks = [
            (
                "projects",
                Some(projects),
                ctx.quota.max_projects,
                "quotaMaxProjects",
            ),
            ("users", users, ctx.quota.max_users, "quotaMaxUsers"),
        ];
        for (what, count, max, field) in checks {
            let (Some(count), Some(max)) = (count, max) else {
                continue;
            };
            let ratio = count as f64 / max;
            if ratio >= quota.threshold {
                out.push(ctx.finding(
                    Rule::QuotaNearLimit,
                    false,
                    row,
                    None,
                    format!(
                        "{count} {what} of a quota of {max} ({field}): {}, threshold {}",
                        percent(ratio),
                        percent(quota.threshold)
                    ),
                ));
            }
        }
    }
    sort(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cognigy::model::{Endpoint, Extension, Flow, Member, Snapshot};
    use crate::config::AUDIT_RULES;

    const NOW: i64 = 1_750_000_000;

    fn ctx(config: BTreeMap<String, RuleConfig>) -> Context {
        Context::new(
            RuleSet::from_config(&config),
            NOW,
            Duration::from_secs(86_400),
            &[],
        )
    }

    fn project() -> Project {
        Project {
            id: "p1".into(),
            name: Some("Project <1>".into()),
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_the_configuration_names() {
        let ours: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
        let config: Vec<&str> = AUDIT_RULES.iter().map(|r| r.name).collect();
        assert_eq!(ours, config);
        for r in Rule::ALL {
            assert_eq!(Rule::from_name(r.as_str()), Some(r));
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let rules = RuleSet::from_config(&BTreeMap::new());
        assert!(Rule::ALL.iter().all(|r| rules.enabled(*r)));
        assert_eq!(rules.get(Rule::StaleFlow).max_age, STALE_FLOW_MAX_AGE);
        assert_eq!(rules.get(Rule::OldSnapshot).max_age, OLD_SNAPSHOT_MAX_AGE);
        assert_eq!(
            rules.severity(Rule::TrustedCodeExtension, false),
            Severity::Critical
        );
        assert_eq!(rules.severity(Rule::OldSnapshot, false), Severity::Info);
        assert_eq!(rules.severity(Rule::OldSnapshot, true), Severity::Warning);
        assert!(
            rules
                .possible()
                .contains(&(Rule::OldSnapshot, Severity::Warning))
        );

        let tuned = RuleSet::from_config(&BTreeMap::from([
            (
                "old-snapshot".to_string(),
                RuleConfig {
                    severity: Some(Severity::Critical),
                    ..Default::default()
                },
            ),
            (
                "stale-flow".to_string(),
                RuleConfig {
                    enabled: Some(false),
                    ..Default::default()
                },
            ),
        ]));
        assert_eq!(tuned.severity(Rule::OldSnapshot, true), Severity::Critical);
        assert_eq!(tuned.severity(Rule::OldSnapshot, false), Severity::Critical);
        assert!(!tuned.enabled(Rule::StaleFlow));
        assert!(!tuned.possible().iter().any(|(r, _)| *r == Rule::StaleFlow));
    }

    #[test]
    fn project_checks_flag_exactly_the_bad_assets() {
        let c = ctx(BTreeMap::new());
        let flow = |id: &str, age_days: i64, description: Option<&str>| Flow {
            id: id.into(),
            name: Some(format!("flow {id}")),
            description: description.map(str::to_string),
            last_changed: Some(NOW - age_days * DAY),
            ..Default::default()
        };
        let lists = ProjectLists {
            flows: Some(vec![
                flow("f1", 10, Some("fine")),
                flow("f2", 181, Some("old")),
                flow("f3", 5, Some("  ")),
            ]),
            endpoints: Some(vec![
                Endpoint {
                    id: "e1".into(),
                    flow_id: Some("f1".into()),
                    ..Default::default()
                },
                Endpoint {
                    id: "e2".into(),
                    flow_id: Some("gone".into()),
                    ..Default::default()
                },
                Endpoint {
                    id: "e3".into(),
                    ..Default::default()
                },
            ]),
            extensions: Some(vec![
                Extension {
                    id: "x1".into(),
                    trusted_code: Some(true),
                    ..Default::default()
                },
                Extension {
                    id: "x2".into(),
                    trusted_code: Some(false),
                    ..Default::default()
                },
            ]),
            snapshots: Some(vec![
                Snapshot {
                    id: "s1".into(),
                    created_at: Some(NOW - 400 * DAY),
                    ..Default::default()
                },
                Snapshot {
                    id: "s2".into(),
                    created_at: Some(NOW - 10 * DAY),
                    is_packaged: Some(true),
                    package_expires_at: Some(NOW - DAY),
                    ..Default::default()
                },
                Snapshot {
                    id: "s3".into(),
                    created_at: Some(NOW - 10 * DAY),
                    is_packaged: Some(true),
                    package_expires_at: Some(NOW + DAY),
                    ..Default::default()
                },
            ]),
            members: Some(vec![]),
            ..Default::default()
        };
        let found = project_findings(&c, &project(), &lists);
        let got: Vec<(&str, Severity, &str)> = found
            .iter()
            .map(|f| (f.rule.as_str(), f.severity, f.asset_id.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("dangling-endpoint", Severity::Warning, "e2"),
                ("dangling-endpoint", Severity::Warning, "e3"),
                ("flow-without-description", Severity::Info, "f3"),
                ("old-snapshot", Severity::Info, "s1"),
                ("old-snapshot", Severity::Warning, "s2"),
                ("project-without-members", Severity::Warning, "p1"),
                ("stale-flow", Severity::Warning, "f2"),
                ("trusted-code-extension", Severity::Critical, "x1"),
            ]
        );
    }

    #[test]
    fn disabled_members_use_the_members_list_or_else_the_user_records() {
        let users = vec![
            User {
                id: "u1".into(),
                email: Some("a@example.com".into()),
                disabled: Some(true),
                projects: Some(vec!["p1".into()]),
                ..Default::default()
            },
            User {
                id: "u2".into(),
                disabled: Some(false),
                projects: Some(vec!["p1".into()]),
                ..Default::default()
            },
        ];
        let c = Context::new(
            RuleSet::from_config(&BTreeMap::new()),
            NOW,
            Duration::from_secs(3600),
            &users,
        );
        let with_members = ProjectLists {
            members: Some(vec![
                Member {
                    id: "u1".into(),
                    roles: Some(vec!["projectAdmin".into()]),
                    ..Default::default()
                },
                Member {
                    id: "u2".into(),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let f = project_findings(&c, &project(), &with_members);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].asset_id, "u1");
        assert!(f[0].message.contains("a@example.com") && f[0].message.contains("projectAdmin"));
        let without = ProjectLists::default();
        let f = project_findings(&c, &project(), &without);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, Rule::DisabledUserStillMember);
    }

    #[test]
    fn quota_checks_need_the_field_and_meet_the_threshold() {
        let mut c = ctx(BTreeMap::new());
        let org = Organisation {
            id: "o".into(),
            quota_max_projects: Some(10.0),
            quota_max_users: None,
            ..Default::default()
        };
        c.quota = Quota::of(&org);
        let f = organisation_findings(&c, Some(&org), 9, Some(1000), &BTreeMap::new());
        assert_eq!(f.len(), 1, "90% of the project quota, users unchecked");
        assert!(f[0].message.starts_with("9 projects of a quota of 10"));
        let f = organisation_findings(&c, Some(&org), 8, Some(1000), &BTreeMap::new());
        assert!(f.is_empty());
    }

    #[test]
    fn unauthorized_events_respect_min_count() {
        let c = ctx(BTreeMap::from([(
            "unauthorized-events".to_string(),
            RuleConfig {
                min_count: Some(3),
                ..Default::default()
            },
        )]));
        let tallies = BTreeMap::from([
            (
                "u1".to_string(),
                UnauthorizedTally {
                    events: 3,
                    projects: 2,
                },
            ),
            (
                "u2".to_string(),
                UnauthorizedTally {
                    events: 2,
                    projects: 1,
                },
            ),
        ]);
        let f = organisation_findings(&c, None, 0, None, &tallies);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].asset_id, "u1");
        assert_eq!(
            f[0].message,
            "u1: 3 unauthorized audit events in the last 24h in 2 projects"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_label(Duration::from_secs(180 * 86_400)), "180d");
        assert_eq!(duration_label(Duration::from_secs(86_400 / 2)), "12h");
        assert_eq!(duration_label(Duration::from_secs(86_400)), "24h");
        assert_eq!(duration_label(Duration::from_secs(90)), "1m 30s");
    }
}
