//! What the audit reads from Cognigy and how each asset becomes one `inventory.jsonl` line.
//!
//! A list route the install does not have (404/405 without Cognigy's "resource not found" code)
//! is a *gap*, not a failure: it is recorded once in [`Gaps`], later projects skip it, and the
//! summary says which asset types and rules are missing. A per-project list that answers
//! "resource not found" (code 1002) means the project was deleted while the audit ran: its lists
//! count as empty and the summary names it.

use crate::cognigy::model::{
    AuditEvent, Endpoint, Extension, Flow, GenericAsset, Locale, Member, Organisation, Project,
    Snapshot, User,
};
use crate::cognigy::routes;
use crate::cognigy::{Api, ApiError, Management, Route};
use crate::jobs::flows::unix_to_rfc3339;
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The kinds of asset in the inventory (the `asset_type` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssetType {
    Organisation,
    User,
    Project,
    Flow,
    Endpoint,
    Lexicon,
    Snapshot,
    Extension,
    Locale,
    Playbook,
    KnowledgeStore,
    AiAgent,
    Member,
}

impl AssetType {
    pub const ALL: [AssetType; 13] = [
        AssetType::Organisation,
        AssetType::User,
        AssetType::Project,
        AssetType::Flow,
        AssetType::Endpoint,
        AssetType::Lexicon,
        AssetType::Snapshot,
        AssetType::Extension,
        AssetType::Locale,
        AssetType::Playbook,
        AssetType::KnowledgeStore,
        AssetType::AiAgent,
        AssetType::Member,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetType::Organisation => "organisation",
            AssetType::User => "user",
            AssetType::Project => "project",
            AssetType::Flow => "flow",
            AssetType::Endpoint => "endpoint",
            AssetType::Lexicon => "lexicon",
            AssetType::Snapshot => "snapshot",
            AssetType::Extension => "extension",
            AssetType::Locale => "locale",
            AssetType::Playbook => "playbook",
            AssetType::KnowledgeStore => "knowledge_store",
            AssetType::AiAgent => "ai_agent",
            AssetType::Member => "member",
        }
    }

    /// Plural, for people (`knowledge stores`).
    pub fn plural(self) -> &'static str {
        match self {
            AssetType::Organisation => "organisations",
            AssetType::User => "users",
            AssetType::Project => "projects",
            AssetType::Flow => "flows",
            AssetType::Endpoint => "endpoints",
            AssetType::Lexicon => "lexicons",
            AssetType::Snapshot => "snapshots",
            AssetType::Extension => "extensions",
            AssetType::Locale => "locales",
            AssetType::Playbook => "playbooks",
            AssetType::KnowledgeStore => "knowledge stores",
            AssetType::AiAgent => "AI agents",
            AssetType::Member => "project members",
        }
    }

    /// The asset types a missing route takes out of the inventory.
    pub fn of_route(template: &str) -> &'static [AssetType] {
        match template {
            routes::FLOWS => &[AssetType::Flow],
            routes::ENDPOINTS => &[AssetType::Endpoint],
            routes::LEXICONS => &[AssetType::Lexicon],
            routes::SNAPSHOTS => &[AssetType::Snapshot],
            routes::EXTENSIONS => &[AssetType::Extension],
            routes::LOCALES => &[AssetType::Locale],
            routes::PLAYBOOKS => &[AssetType::Playbook],
            routes::KNOWLEDGE_STORES => &[AssetType::KnowledgeStore],
            routes::AI_AGENTS => &[AssetType::AiAgent],
            routes::MEMBERS => &[AssetType::Member],
            routes::USERS => &[AssetType::User],
            ORGANISATIONS => &[AssetType::Organisation],
            _ => &[],
        }
    }
}

impl Serialize for AssetType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The management route of the organisation (its template, for gap reporting).
pub const ORGANISATIONS: &str = "/new/management/v2.0/organisations";

/// One line of `inventory.jsonl`. Times are RFC 3339 UTC; `details` holds the fields particular
/// to the asset type (always the same keys per type, `null` when Cognigy did not send one).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssetRow {
    pub asset_type: AssetType,
    pub asset_id: String,
    pub name: Option<String>,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub created_at: Option<String>,
    pub last_changed: Option<String>,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

fn time(t: Option<i64>) -> Option<String> {
    t.and_then(unix_to_rfc3339)
}

/// A quota or other count as an integer when it is one (Cognigy sends numbers).
pub fn number(v: Option<f64>) -> Value {
    match v {
        Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => json!(n as i64),
        Some(n) => json!(n),
        None => Value::Null,
    }
}

fn details(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

impl AssetRow {
    fn new(
        asset_type: AssetType,
        asset_id: &str,
        name: Option<&String>,
        project: Option<&Project>,
        created_at: Option<i64>,
        last_changed: Option<i64>,
        details_: Vec<(&str, Value)>,
    ) -> AssetRow {
        AssetRow {
            asset_type,
            asset_id: asset_id.to_string(),
            name: name.cloned(),
            project_id: project.map(|p| p.id.clone()),
            project_name: project.and_then(|p| p.name.clone()),
            created_at: time(created_at),
            last_changed: time(last_changed),
            details: details(details_),
        }
    }

    pub fn organisation(o: &Organisation) -> AssetRow {
        AssetRow::new(
            AssetType::Organisation,
            &o.id,
            o.name.as_ref(),
            None,
            None,
            None,
            vec![
                ("disabled", json!(o.disabled)),
                ("quota_max_projects", number(o.quota_max_projects)),
                ("quota_max_users", number(o.quota_max_users)),
                (
                    "quota_max_channels_per_project",
                    number(o.quota_max_channels_per_project),
                ),
                (
                    "quota_max_messages_per_day",
                    number(o.quota_max_messages_per_day),
                ),
            ],
        )
    }

    pub fn user(u: &User) -> AssetRow {
        AssetRow::new(
            AssetType::User,
            &u.id,
            u.name.as_ref(),
            None,
            u.created_at,
            u.last_changed,
            vec![
                ("email", json!(u.email)),
                ("roles", json!(u.roles)),
                ("disabled", json!(u.disabled)),
                ("last_active", json!(time(u.last_active))),
                ("projects", json!(u.projects)),
            ],
        )
    }

    fn project(p: &Project) -> AssetRow {
        AssetRow::new(
            AssetType::Project,
            &p.id,
            p.name.as_ref(),
            Some(p),
            p.created_at,
            p.last_changed,
            vec![
                ("color", json!(p.color)),
                (
                    "primary_locale_reference",
                    json!(p.primary_locale_reference),
                ),
                ("created_by", json!(p.created_by)),
                ("last_changed_by", json!(p.last_changed_by)),
            ],
        )
    }

    fn generic(t: AssetType, p: &Project, a: &GenericAsset) -> AssetRow {
        AssetRow::new(
            t,
            &a.id,
            a.name.as_ref(),
            Some(p),
            a.created_at,
            a.last_changed,
            vec![
                ("reference_id", json!(a.reference_id)),
                ("description", json!(a.description)),
                ("created_by", json!(a.created_by)),
                ("last_changed_by", json!(a.last_changed_by)),
            ],
        )
    }

    /// Memberships have no id of their own: `<project id>:<user id>` names one.
    pub fn member_id(project_id: &str, user_id: &str) -> String {
        format!("{project_id}:{user_id}")
    }
}

/// The project row followed by every asset of the project, type by type, in API order.
pub fn project_rows(p: &Project, lists: &ProjectLists) -> Vec<AssetRow> {
    let mut rows = vec![AssetRow::project(p)];
    for f in lists.flows.iter().flatten() {
        rows.push(AssetRow::new(
            AssetType::Flow,
            &f.id,
            f.name.as_ref(),
            Some(p),
            f.created_at,
            f.last_changed,
            vec![
                ("reference_id", json!(f.reference_id)),
                ("description", json!(f.description)),
                ("is_training_out_of_date", json!(f.is_training_out_of_date)),
                ("created_by", json!(f.created_by)),
                ("last_changed_by", json!(f.last_changed_by)),
            ],
        ));
    }
    for e in lists.endpoints.iter().flatten() {
        rows.push(AssetRow::new(
            AssetType::Endpoint,
            &e.id,
            e.name.as_ref(),
            Some(p),
            e.created_at,
            e.last_changed,
            vec![
                ("channel", json!(e.channel)),
                ("flow_id", json!(e.flow_id)),
                ("locale_id", json!(e.locale_id)),
            ],
        ));
    }
    for a in lists.lexicons.iter().flatten() {
        rows.push(AssetRow::generic(AssetType::Lexicon, p, a));
    }
    for s in lists.snapshots.iter().flatten() {
        rows.push(AssetRow::new(
            AssetType::Snapshot,
            &s.id,
            s.name.as_ref(),
            Some(p),
            s.created_at,
            s.last_changed,
            vec![
                ("description", json!(s.description)),
                ("hash", json!(s.hash)),
                ("is_packaged", json!(s.is_packaged)),
                ("package_expires_at", json!(time(s.package_expires_at))),
                ("created_by", json!(s.created_by)),
            ],
        ));
    }
    for x in lists.extensions.iter().flatten() {
        rows.push(AssetRow::new(
            AssetType::Extension,
            &x.id,
            x.name.as_ref(),
            Some(p),
            x.created_at,
            x.last_changed,
            vec![
                ("label", json!(x.label)),
                ("version", json!(x.version)),
                ("description", json!(x.description)),
                ("trusted_code", json!(x.trusted_code)),
            ],
        ));
    }
    for l in lists.locales.iter().flatten() {
        rows.push(AssetRow::new(
            AssetType::Locale,
            &l.id,
            l.name.as_ref(),
            Some(p),
            l.created_at,
            l.last_changed,
            vec![
                ("reference_id", json!(l.reference_id)),
                ("primary", json!(l.primary)),
                ("nlu_language", json!(l.nlu_language)),
                (
                    "fallback_locale_reference",
                    json!(l.fallback_locale_reference),
                ),
            ],
        ));
    }
    for a in lists.playbooks.iter().flatten() {
        rows.push(AssetRow::generic(AssetType::Playbook, p, a));
    }
    for a in lists.knowledge_stores.iter().flatten() {
        rows.push(AssetRow::generic(AssetType::KnowledgeStore, p, a));
    }
    for a in lists.ai_agents.iter().flatten() {
        rows.push(AssetRow::generic(AssetType::AiAgent, p, a));
    }
    for m in lists.members.iter().flatten() {
        rows.push(AssetRow::new(
            AssetType::Member,
            &AssetRow::member_id(&p.id, &m.id),
            m.name.as_ref(),
            Some(p),
            None,
            None,
            vec![
                ("user_id", json!(m.id)),
                ("email", json!(m.email)),
                ("roles", json!(m.roles)),
            ],
        ));
    }
    rows
}

/// Routes the install lacks and projects that vanished mid-run (shared by the project futures).
#[derive(Debug, Default)]
pub struct Gaps {
    routes: Mutex<BTreeMap<&'static str, u16>>,
    vanished: Mutex<BTreeSet<(String, String)>>,
}

impl Gaps {
    pub fn is_missing(&self, template: &str) -> bool {
        lock(&self.routes).contains_key(template)
    }

    fn mark_route(&self, template: &'static str, status: u16) {
        let mut routes = lock(&self.routes);
        if !routes.contains_key(template) {
            tracing::warn!(
                route = template,
                status,
                "the install has no such route; the audit goes on without it"
            );
            routes.insert(template, status);
        }
    }

    fn mark_vanished(&self, project: &Project) {
        lock(&self.vanished).insert((project.id.clone(), project.name.clone().unwrap_or_default()));
    }

    /// Missing route templates with the status they answered.
    pub fn missing_routes(&self) -> BTreeMap<&'static str, u16> {
        lock(&self.routes).clone()
    }

    /// Projects (id, name) deleted while the audit ran.
    pub fn vanished_projects(&self) -> BTreeSet<(String, String)> {
        lock(&self.vanished).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The sets stay consistent even if a holder panicked: every update is a single insert.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a 404/405 came: the route is missing, or the item (project, user) is.
enum Absent {
    Route(u16),
    Item,
}

fn absence(e: &ApiError) -> Option<Absent> {
    if !e.is_route_missing() {
        return None;
    }
    match e {
        // Cognigy's "resource not found": the route exists, the project or user does not.
        ApiError::Status {
            status: 404,
            problem,
            ..
        } if problem.code.as_deref() == Some("1002") => Some(Absent::Item),
        other => Some(Absent::Route(other.status().unwrap_or(404))),
    }
}

/// Runs `fetch` unless `template` is known missing. A missing route gives `None` (and is
/// recorded); a vanished project gives `Some(empty)`.
async fn guarded<T, F>(
    gaps: &Gaps,
    template: &'static str,
    project: &Project,
    empty: T,
    fetch: F,
) -> Result<Option<T>, ApiError>
where
    F: Future<Output = Result<T, ApiError>>,
{
    if gaps.is_missing(template) {
        return Ok(None);
    }
    match fetch.await {
        Ok(v) => Ok(Some(v)),
        Err(e) => match absence(&e) {
            Some(Absent::Route(status)) => {
                gaps.mark_route(template, status);
                Ok(None)
            }
            Some(Absent::Item) => {
                gaps.mark_vanished(project);
                Ok(Some(empty))
            }
            None => Err(e),
        },
    }
}

/// Audit events of one project inside the window, counted (never held).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventTally {
    pub in_window: u64,
    pub by_type: BTreeMap<String, u64>,
    /// `unauthorized` events per `userReference` (`""` when the event names no user).
    pub unauthorized_by_user: BTreeMap<String, u64>,
}

impl EventTally {
    fn add(&mut self, e: &AuditEvent, window: (i64, i64)) {
        let Some(ts) = e.timestamp else { return };
        if ts <= window.0 || ts > window.1 {
            return;
        }
        self.in_window += 1;
        let kind = e.event_type.clone().unwrap_or_default();
        if kind == "unauthorized" {
            *self
                .unauthorized_by_user
                .entry(e.user_reference.clone().unwrap_or_default())
                .or_default() += 1;
        }
        *self.by_type.entry(kind).or_default() += 1;
    }
}

/// Every list of one project; `None` where the install lacks the route.
#[derive(Debug, Default)]
pub struct ProjectLists {
    pub flows: Option<Vec<Flow>>,
    pub endpoints: Option<Vec<Endpoint>>,
    pub lexicons: Option<Vec<GenericAsset>>,
    pub snapshots: Option<Vec<Snapshot>>,
    pub extensions: Option<Vec<Extension>>,
    pub locales: Option<Vec<Locale>>,
    pub playbooks: Option<Vec<GenericAsset>>,
    pub knowledge_stores: Option<Vec<GenericAsset>>,
    pub ai_agents: Option<Vec<GenericAsset>>,
    pub members: Option<Vec<Member>>,
    pub events: Option<EventTally>,
}

impl ProjectLists {
    /// Asset counts per type (the project itself included), for the summary.
    pub fn counts(&self) -> BTreeMap<AssetType, u64> {
        fn n<T>(v: &Option<Vec<T>>) -> Option<u64> {
            v.as_ref().map(|v| v.len() as u64)
        }
        let mut out = BTreeMap::new();
        out.insert(AssetType::Project, 1);
        for (t, count) in [
            (AssetType::Flow, n(&self.flows)),
            (AssetType::Endpoint, n(&self.endpoints)),
            (AssetType::Lexicon, n(&self.lexicons)),
            (AssetType::Snapshot, n(&self.snapshots)),
            (AssetType::Extension, n(&self.extensions)),
            (AssetType::Locale, n(&self.locales)),
            (AssetType::Playbook, n(&self.playbooks)),
            (AssetType::KnowledgeStore, n(&self.knowledge_stores)),
            (AssetType::AiAgent, n(&self.ai_agents)),
            (AssetType::Member, n(&self.members)),
        ] {
            if let Some(count) = count {
                out.insert(t, count);
            }
        }
        out
    }
}

async fn list<T: DeserializeOwned + Send + 'static>(
    api: &Api,
    gaps: &Gaps,
    template: &'static str,
    project: &Project,
) -> Result<Option<Vec<T>>, ApiError> {
    guarded(
        gaps,
        template,
        project,
        Vec::new(),
        api.list(Route::fixed(template), routes::in_project(&project.id)),
    )
    .await
}

/// Fetches every list of `project`; the requests overlap (the client's semaphore bounds them).
/// `window` is the audit-event window `(start, end]` in Unix seconds.
pub async fn fetch_project(
    api: &Api,
    gaps: &Gaps,
    project: &Project,
    window: (i64, i64),
) -> Result<ProjectLists, ApiError> {
    let members = guarded(
        gaps,
        routes::MEMBERS,
        project,
        Vec::new(),
        api.list::<Member>(routes::members(&project.id), Vec::new()),
    );
    let events = guarded(
        gaps,
        routes::AUDIT_EVENTS,
        project,
        EventTally::default(),
        api.walk::<AuditEvent>(
            Route::fixed(routes::AUDIT_EVENTS),
            routes::in_project(&project.id),
        )
        .try_fold(EventTally::default(), move |mut tally, e| async move {
            tally.add(&e, window);
            Ok(tally)
        }),
    );
    let (
        (flows, endpoints, lexicons, snapshots, extensions, locales),
        (playbooks, knowledge_stores, ai_agents, members, events),
    ) = futures::try_join!(
        async {
            futures::try_join!(
                list(api, gaps, routes::FLOWS, project),
                list(api, gaps, routes::ENDPOINTS, project),
                list(api, gaps, routes::LEXICONS, project),
                list(api, gaps, routes::SNAPSHOTS, project),
                list(api, gaps, routes::EXTENSIONS, project),
                list(api, gaps, routes::LOCALES, project),
            )
        },
        async {
            futures::try_join!(
                list(api, gaps, routes::PLAYBOOKS, project),
                list(api, gaps, routes::KNOWLEDGE_STORES, project),
                list(api, gaps, routes::AI_AGENTS, project),
                members,
                events,
            )
        },
    )?;
    Ok(ProjectLists {
        flows,
        endpoints,
        lexicons,
        snapshots,
        extensions,
        locales,
        playbooks,
        knowledge_stores,
        ai_agents,
        members,
        events,
    })
}

/// The organisation's users with their details (`roles`, `projects`, `disabled`), in list
/// order; `None` when the install has no users route. Details are fetched `concurrency` at a
/// time; without the single-user route the list fields are all there is.
pub async fn fetch_users(
    api: &Api,
    gaps: &Gaps,
    concurrency: usize,
) -> Result<Option<Vec<User>>, ApiError> {
    let listed: Vec<User> = match api
        .list(Route::fixed(routes::USERS), Vec::new())
        .await
        .map_err(|e| (absence(&e), e))
    {
        Ok(users) => users,
        Err((Some(Absent::Route(status)), _)) => {
            gaps.mark_route(routes::USERS, status);
            return Ok(None);
        }
        Err((_, e)) => return Err(e),
    };
    let users = futures::stream::iter(listed)
        .map(|user| async move {
            if gaps.is_missing(routes::USER) {
                return Ok(user);
            }
            match api.get::<User>(&routes::user(&user.id), &[]).await {
                Ok(detail) => Ok(merge_user(user, detail)),
                Err(e) => match absence(&e) {
                    Some(Absent::Route(status)) => {
                        gaps.mark_route(routes::USER, status);
                        Ok(user)
                    }
                    // Deleted since the list was read: keep what the list said.
                    Some(Absent::Item) => Ok(user),
                    None => Err(e),
                },
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(Some(users))
}

/// The single-user answer, with list fields filling what it left out.
fn merge_user(list: User, detail: User) -> User {
    User {
        id: list.id,
        email: detail.email.or(list.email),
        name: detail.name.or(list.name),
        last_active: detail.last_active.or(list.last_active),
        created_at: detail.created_at.or(list.created_at),
        last_changed: detail.last_changed.or(list.last_changed),
        roles: detail.roles.or(list.roles),
        projects: detail.projects.or(list.projects),
        disabled: detail.disabled.or(list.disabled),
    }
}

/// What the management API said about the organisation.
#[derive(Debug, Clone)]
pub enum OrganisationLookup {
    Found(Organisation),
    /// The management user sees this many organisations (not exactly one): which one the Super
    /// API-Key belongs to is not known here.
    Ambiguous(usize),
    /// The install lacks the route.
    Missing,
}

pub async fn fetch_organisation(
    management: &Management,
    organisation_id: Option<&str>,
    gaps: &Gaps,
) -> Result<OrganisationLookup, ApiError> {
    match management.organisations().await {
        // The configured organisation (the one the keys belong to), else the only one.
        Ok(mut orgs) if organisation_id.is_some() => {
            match orgs
                .iter()
                .position(|o| Some(o.id.as_str()) == organisation_id)
            {
                Some(i) => Ok(OrganisationLookup::Found(orgs.swap_remove(i))),
                None => Ok(OrganisationLookup::Ambiguous(orgs.len())),
            }
        }
        Ok(mut orgs) if orgs.len() == 1 => Ok(OrganisationLookup::Found(orgs.remove(0))),
        Ok(orgs) => Ok(OrganisationLookup::Ambiguous(orgs.len())),
        Err(e) => match absence(&e) {
            Some(Absent::Route(status)) => {
                gaps.mark_route(ORGANISATIONS, status);
                Ok(OrganisationLookup::Missing)
            }
            _ => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_only_inside_the_window() {
        let mut t = EventTally::default();
        let ev = |ts: i64, kind: &str, user: &str| AuditEvent {
            id: "e".into(),
            timestamp: Some(ts),
            event_type: Some(kind.into()),
            user_reference: Some(user.into()),
            ..Default::default()
        };
        for e in [
            ev(100, "unauthorized", "u1"), // on the window start: outside
            ev(101, "unauthorized", "u1"),
            ev(150, "create", "u2"),
            ev(200, "unauthorized", "u1"), // on the window end: inside
            ev(201, "unauthorized", "u2"), // after the run started: outside
        ] {
            t.add(&e, (100, 200));
        }
        assert_eq!(t.in_window, 3);
        assert_eq!(t.unauthorized_by_user, BTreeMap::from([("u1".into(), 2)]));
        assert_eq!(t.by_type["create"], 1);
    }

    #[test]
    fn quotas_print_as_integers_when_whole() {
        assert_eq!(number(Some(12.0)), json!(12));
        assert_eq!(number(Some(2.5)), json!(2.5));
        assert_eq!(number(None), Value::Null);
    }

    #[test]
    fn every_asset_type_has_a_distinct_name() {
        let names: BTreeSet<&str> = AssetType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), AssetType::ALL.len());
    }
}
