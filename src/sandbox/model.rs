//! The sandbox's in-memory organisation: item types with the contract's field names, and an
//! ordered [`Collection`] that keeps every lookup and page O(page size + log n).
//!
//! Items serialise exactly as the API answers them (camelCase, `_id`, Unix seconds). Fields a
//! mutation adds that the type does not know are kept in `extra` and answered as well.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// Everything one list item needs to be stored in a [`Collection`] and created by a mutation.
pub trait Item: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The route name of the collection (`flows`, `users`, ...), used in error messages.
    const KIND: &'static str;
    /// The item's `_id` (24 lowercase hex digits).
    fn id(&self) -> &str;
    /// The name the `filter` parameter searches.
    fn name(&self) -> Option<&str>;
    /// A complete item with default values, used as the base a created item's fields merge into.
    fn template(t: &Template) -> Self;
}

/// Fresh values for a [`Item::template`]: a new id, a new reference id, the sandbox clock.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: String,
    pub reference_id: String,
    pub now: i64,
    /// The user named as `createdBy` / `lastChangedBy` when a mutation does not say.
    pub author: String,
}

/// A list of items ordered by `_id`. Generated ids grow in creation order, so this is also the
/// creation order; it lets cursors and single-item lookups use binary search.
#[derive(Debug, Clone)]
pub struct Collection<T> {
    items: Vec<T>,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<T: Item> Collection<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// The items in `_id` order.
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.position(id).map(|i| &self.items[i])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.position(id).map(move |i| &mut self.items[i])
    }

    pub fn contains(&self, id: &str) -> bool {
        self.position(id).is_some()
    }

    /// Index of the item with this `_id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.items.binary_search_by(|it| it.id().cmp(id)).ok()
    }

    /// Inserts in `_id` order; gives the item back when its `_id` is already taken.
    pub fn insert(&mut self, item: T) -> Result<(), T> {
        // Fast path: generated ids only grow, so almost every insert is an append.
        if self.items.last().is_none_or(|last| last.id() < item.id()) {
            self.items.push(item);
            return Ok(());
        }
        match self.items.binary_search_by(|it| it.id().cmp(item.id())) {
            Ok(_) => Err(item),
            Err(at) => {
                self.items.insert(at, item);
                Ok(())
            }
        }
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        self.position(id).map(|i| self.items.remove(i))
    }
}

impl<T: Item> FromIterator<T> for Collection<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut items: Vec<T> = iter.into_iter().collect();
        items.sort_by(|a, b| a.id().cmp(b.id()));
        items.dedup_by(|a, b| a.id() == b.id());
        Self { items }
    }
}

impl<'a, T: Item> IntoIterator for &'a Collection<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<T: Serialize> Serialize for Collection<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(s)
    }
}

/// The per-project lists served with `?projectId=P`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssetKind {
    Flows,
    Endpoints,
    Lexicons,
    Snapshots,
    Extensions,
    Locales,
    Playbooks,
    KnowledgeStores,
    AiAgents,
    AuditEvents,
}

impl AssetKind {
    pub const ALL: [AssetKind; 10] = [
        AssetKind::Flows,
        AssetKind::Endpoints,
        AssetKind::Lexicons,
        AssetKind::Snapshots,
        AssetKind::Extensions,
        AssetKind::Locales,
        AssetKind::Playbooks,
        AssetKind::KnowledgeStores,
        AssetKind::AiAgents,
        AssetKind::AuditEvents,
    ];

    /// The last segment of the list route (`/new/v2.0/<name>?projectId=P`).
    pub fn route_name(self) -> &'static str {
        match self {
            AssetKind::Flows => "flows",
            AssetKind::Endpoints => "endpoints",
            AssetKind::Lexicons => "lexicons",
            AssetKind::Snapshots => "snapshots",
            AssetKind::Extensions => "extensions",
            AssetKind::Locales => "locales",
            AssetKind::Playbooks => "playbooks",
            AssetKind::KnowledgeStores => "knowledgestores",
            AssetKind::AiAgents => "aiagents",
            AssetKind::AuditEvents => "auditevents",
        }
    }

    pub fn from_route_name(name: &str) -> Option<AssetKind> {
        AssetKind::ALL.into_iter().find(|k| k.route_name() == name)
    }
}

/// Names accepted by `--disable-route`: every list route of the contract's table.
pub const ROUTE_NAMES: [&str; 13] = [
    "projects",
    "users",
    "members",
    "flows",
    "endpoints",
    "lexicons",
    "snapshots",
    "extensions",
    "locales",
    "playbooks",
    "knowledgestores",
    "aiagents",
    "auditevents",
];

/// The whole organisation. Serialises deterministically (ordered collections and maps), so the
/// same generation options give byte-identical JSON.
#[derive(Debug, Clone, Serialize)]
pub struct OrganisationData {
    pub organisation: Organisation,
    /// The Unix second generated timestamps are relative to.
    pub now: i64,
    pub projects: Collection<Project>,
    /// Per-project assets, keyed by project `_id`.
    pub assets: BTreeMap<String, ProjectAssets>,
    pub users: Collection<User>,
    /// Hands out the ids of items created later, continuing the generated sequence.
    #[serde(skip)]
    pub(crate) ids: IdGen,
}

impl OrganisationData {
    pub fn project_assets(&self, project_id: &str) -> Option<&ProjectAssets> {
        self.assets.get(project_id)
    }

    pub fn user(&self, user_id: &str) -> Option<&User> {
        self.users.get(user_id)
    }

    /// Every flow of the organisation with its project id, in project then flow order.
    pub fn flows(&self) -> impl Iterator<Item = (&str, &Flow)> + '_ {
        self.assets
            .iter()
            .flat_map(|(pid, a)| a.flows.iter().map(move |f| (pid.as_str(), f)))
    }

    /// Total number of flows across all projects.
    pub fn flow_count(&self) -> usize {
        self.assets.values().map(|a| a.flows.len()).sum()
    }
}

/// The per-project lists of one project.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProjectAssets {
    pub flows: Collection<Flow>,
    pub endpoints: Collection<Endpoint>,
    pub lexicons: Collection<Lexicon>,
    pub snapshots: Collection<Snapshot>,
    pub extensions: Collection<Extension>,
    pub locales: Collection<Locale>,
    pub playbooks: Collection<Playbook>,
    #[serde(rename = "knowledgestores")]
    pub knowledge_stores: Collection<KnowledgeStore>,
    #[serde(rename = "aiagents")]
    pub ai_agents: Collection<AiAgent>,
    pub members: Collection<Member>,
    #[serde(rename = "auditevents")]
    pub audit_events: Collection<AuditEvent>,
}

/// Produces ObjectId-shaped ids (8 hex timestamp, 10 hex "machine", 6 hex counter) that grow
/// strictly, so collections stay in creation order by `_id`.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdGen {
    timestamp: u32,
    machine: u64,
    counter: u32,
}

impl IdGen {
    pub(crate) fn new(timestamp: u32, machine: u64) -> Self {
        Self {
            timestamp,
            machine: machine & 0xff_ffff_ffff,
            counter: 0,
        }
    }

    pub(crate) fn next_id(&mut self) -> String {
        let id = format!(
            "{:08x}{:010x}{:06x}",
            self.timestamp, self.machine, self.counter
        );
        self.counter += 1;
        // Advance the timestamp now and then so ids look like they were made over time; on
        // counter overflow it must advance to keep ids growing.
        if self.counter.is_multiple_of(16) || self.counter > 0xff_ffff {
            self.timestamp = self.timestamp.wrapping_add(1);
            if self.counter > 0xff_ffff {
                self.counter = 0;
            }
        }
        id
    }
}

/// True for a 24-character lowercase hex id.
pub fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `GET /new/management/v2.0/organisations` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organisation {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub disabled: bool,
    pub quota_max_projects: u64,
    pub quota_max_users: u64,
    pub quota_max_channels_per_project: u64,
    pub quota_max_messages_per_day: u64,
    pub created_at: i64,
    pub last_changed: i64,
}

macro_rules! impl_item {
    ($ty:ty, $kind:literal, |$t:ident| $template:expr) => {
        impl Item for $ty {
            const KIND: &'static str = $kind;
            fn id(&self) -> &str {
                &self.id
            }
            fn name(&self) -> Option<&str> {
                Some(&self.name)
            }
            fn template($t: &Template) -> Self {
                $template
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub color: String,
    pub primary_locale_reference: String,
    pub created_at: i64,
    pub last_changed: i64,
    pub created_by: String,
    pub last_changed_by: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(Project, "projects", |t| Project {
    id: t.id.clone(),
    name: "New Project".into(),
    color: "#0073e6".into(),
    primary_locale_reference: t.reference_id.clone(),
    created_at: t.now,
    last_changed: t.now,
    created_by: t.author.clone(),
    last_changed_by: t.author.clone(),
    extra: Map::new(),
});

/// A flow. The item carries no project id: flows are listed per project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    #[serde(rename = "_id")]
    pub id: String,
    pub reference_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub is_training_out_of_date: bool,
    pub created_at: i64,
    pub last_changed: i64,
    pub created_by: String,
    pub last_changed_by: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(Flow, "flows", |t| Flow {
    id: t.id.clone(),
    reference_id: t.reference_id.clone(),
    name: "New Flow".into(),
    description: None,
    is_training_out_of_date: true,
    created_at: t.now,
    last_changed: t.now,
    created_by: t.author.clone(),
    last_changed_by: t.author.clone(),
    extra: Map::new(),
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    #[serde(rename = "_id")]
    pub id: String,
    pub reference_id: String,
    pub name: String,
    pub channel: String,
    #[serde(rename = "URLToken")]
    pub url_token: String,
    /// The flow the endpoint starts; may name a flow that no longer exists.
    pub flow_id: String,
    pub locale_id: String,
    pub active: bool,
    pub created_at: i64,
    pub last_changed: i64,
    pub created_by: String,
    pub last_changed_by: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(Endpoint, "endpoints", |t| Endpoint {
    id: t.id.clone(),
    reference_id: t.reference_id.clone(),
    name: "New Endpoint".into(),
    channel: "rest".into(),
    url_token: t.reference_id.replace('-', ""),
    flow_id: String::new(),
    locale_id: String::new(),
    active: true,
    created_at: t.now,
    last_changed: t.now,
    created_by: t.author.clone(),
    last_changed_by: t.author.clone(),
    extra: Map::new(),
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lexicon {
    #[serde(rename = "_id")]
    pub id: String,
    pub reference_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: i64,
    pub last_changed: i64,
    pub created_by: String,
    pub last_changed_by: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(Lexicon, "lexicons", |t| Lexicon {
    id: t.id.clone(),
    reference_id: t.reference_id.clone(),
    name: "New Lexicon".into(),
    description: None,
    created_at: t.now,
    last_changed: t.now,
    created_by: t.author.clone(),
    last_changed_by: t.author.clone(),
    extra: Map::new(),
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub description: String,
    pub hash: String,
    pub is_packaged: bool,
    /// Only packaged snapshots have a package expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_expires_at: Option<i64>,
    pub created_at: i64,
    pub last_changed: i64,
    pub created_by: String,
    pub last_changed_by: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(Snapshot, "snapshots", |t| Snapshot {
    id: t.id.clone(),
    name: "New Snapshot".into(),
    description: String::new(),
    hash: t.reference_id.replace('-', ""),
    is_packaged: false,
    package_expires_at: None,
    created_at: t.now,
    last_changed: t.now,
    created_by: t.author.clone(),
    last_changed_by: t.author.clone(),
    extra: Map::new(),
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub version: String,
    pub description: String,
    pub trusted_code: bool,
    pub created_at: i64,
    pub last_changed: i64,
    pub created_by: String,
    pub last_changed_by: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(Extension, "extensions", |t| Extension {
    id: t.id.clone(),
    name: "new-extension".into(),
    label: None,
    version: "1.0.0".into(),
    description: String::new(),
    trusted_code: false,
    created_at: t.now,
    last_changed: t.now,
    created_by: t.author.clone(),
    last_changed_by: t.author.clone(),
    extra: Map::new(),
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Locale {
    #[serde(rename = "_id")]
    pub id: String,
    pub reference_id: String,
    pub name: String,
    pub primary: bool,
    pub nlu_language: String,
    /// `null` for the primary locale.
    #[serde(default)]
    pub fallback_locale_reference: Option<String>,
    pub created_at: i64,
    pub last_changed: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(Locale, "locales", |t| Locale {
    id: t.id.clone(),
    reference_id: t.reference_id.clone(),
    name: "en-US".into(),
    primary: false,
    nlu_language: "en-US".into(),
    fallback_locale_reference: None,
    created_at: t.now,
    last_changed: t.now,
    extra: Map::new(),
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Playbook {
    #[serde(rename = "_id")]
    pub id: String,
    pub reference_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: i64,
    pub last_changed: i64,
    pub created_by: String,
    pub last_changed_by: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(Playbook, "playbooks", |t| Playbook {
    id: t.id.clone(),
    reference_id: t.reference_id.clone(),
    name: "New Playbook".into(),
    description: None,
    created_at: t.now,
    last_changed: t.now,
    created_by: t.author.clone(),
    last_changed_by: t.author.clone(),
    extra: Map::new(),
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgeStore {
    #[serde(rename = "_id")]
    pub id: String,
    pub reference_id: String,
    pub name: String,
    pub description: String,
    pub language: String,
    pub created_at: i64,
    pub last_changed: i64,
    pub created_by: String,
    pub last_changed_by: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(KnowledgeStore, "knowledgestores", |t| KnowledgeStore {
    id: t.id.clone(),
    reference_id: t.reference_id.clone(),
    name: "New Knowledge Store".into(),
    description: String::new(),
    language: "en-US".into(),
    created_at: t.now,
    last_changed: t.now,
    created_by: t.author.clone(),
    last_changed_by: t.author.clone(),
    extra: Map::new(),
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiAgent {
    #[serde(rename = "_id")]
    pub id: String,
    pub reference_id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub last_changed: i64,
    pub created_by: String,
    pub last_changed_by: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(AiAgent, "aiagents", |t| AiAgent {
    id: t.id.clone(),
    reference_id: t.reference_id.clone(),
    name: "New AI Agent".into(),
    description: String::new(),
    created_at: t.now,
    last_changed: t.now,
    created_by: t.author.clone(),
    last_changed_by: t.author.clone(),
    extra: Map::new(),
});

/// A user of the organisation. The list route answers only [`UserListView`]'s fields; the
/// single-user route answers everything, including `projects` (the projects the user is a member
/// of, kept in step with the members lists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(rename = "_id")]
    pub id: String,
    /// The login e-mail address (field `id` in the API).
    #[serde(rename = "id")]
    pub email: String,
    pub name: String,
    pub last_active: i64,
    pub created_at: i64,
    pub last_changed: i64,
    pub roles: Vec<String>,
    pub projects: Vec<String>,
    pub disabled: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl_item!(User, "users", |t| User {
    id: t.id.clone(),
    email: format!("user.{}@example.com", &t.id[18..]),
    name: "New User".into(),
    last_active: t.now,
    created_at: t.now,
    last_changed: t.now,
    roles: vec!["base_role".into()],
    projects: Vec::new(),
    disabled: false,
    extra: Map::new(),
});

/// What `GET /new/v2.0/users` answers per user.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserListView<'a> {
    #[serde(rename = "_id")]
    pub id: &'a str,
    #[serde(rename = "id")]
    pub email: &'a str,
    pub name: &'a str,
    pub last_active: i64,
    pub created_at: i64,
    pub last_changed: i64,
}

impl<'a> From<&'a User> for UserListView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: &u.id,
            email: &u.email,
            name: &u.name,
            last_active: u.last_active,
            created_at: u.created_at,
            last_changed: u.last_changed,
        }
    }
}

/// A project membership as stored: the member's user id and project roles. The members route
/// joins the user's e-mail and name (see [`MemberView`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    #[serde(rename = "_id")]
    pub user_id: String,
    pub roles: Vec<String>,
}

impl Item for Member {
    const KIND: &'static str = "members";
    fn id(&self) -> &str {
        &self.user_id
    }
    fn name(&self) -> Option<&str> {
        None
    }
    fn template(t: &Template) -> Self {
        Member {
            user_id: t.id.clone(),
            roles: vec!["projectViewer".into()],
        }
    }
}

/// What `GET /new/v2.0/projects/{projectId}/members` answers per member.
#[derive(Debug, Serialize)]
pub struct MemberView<'a> {
    #[serde(rename = "_id")]
    pub user_id: &'a str,
    #[serde(rename = "id")]
    pub email: &'a str,
    pub name: &'a str,
    pub roles: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    #[serde(rename = "_id")]
    pub id: String,
    pub timestamp: i64,
    /// One of `action, create, replace, patch, delete, unauthorized`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub action_type: String,
    pub user_reference: String,
    pub project_reference: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for AuditEvent {
    const KIND: &'static str = "auditevents";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> Option<&str> {
        Some(&self.action_type)
    }
    fn template(t: &Template) -> Self {
        AuditEvent {
            id: t.id.clone(),
            timestamp: t.now,
            event_type: "action".into(),
            action_type: "executeFlow".into(),
            user_reference: t.author.clone(),
            project_reference: String::new(),
            extra: Map::new(),
        }
    }
}

/// The audit event types of the contract.
pub const AUDIT_EVENT_TYPES: [&str; 6] = [
    "action",
    "create",
    "replace",
    "patch",
    "delete",
    "unauthorized",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(id: &str) -> Flow {
        let mut f = Flow::template(&Template {
            id: id.into(),
            reference_id: "r".into(),
            now: 0,
            author: "a".into(),
        });
        f.name = format!("flow {id}");
        f
    }

    #[test]
    fn collection_keeps_id_order_and_rejects_duplicates() {
        let mut c = Collection::new();
        for id in ["b", "d", "a", "c"] {
            assert!(c.insert(flow(id)).is_ok());
        }
        let ids: Vec<&str> = c.iter().map(|f| f.id()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert!(c.insert(flow("c")).is_err());
        assert_eq!(c.get("c").map(|f| f.name.as_str()), Some("flow c"));
        assert!(c.remove("b").is_some());
        assert!(!c.contains("b"));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn id_generator_ids_grow_strictly_and_look_like_object_ids() {
        let mut g = IdGen::new(0x6000_0000, 0xabcdef0123);
        let mut last = String::new();
        for _ in 0..10_000 {
            let id = g.next_id();
            assert!(is_object_id(&id), "{id}");
            assert!(id > last, "{id} after {last}");
            last = id;
        }
    }

    #[test]
    fn member_view_uses_contract_field_names() {
        let roles = vec!["projectAdmin".to_string()];
        let v = MemberView {
            user_id: "u1",
            email: "a@example.com",
            name: "A",
            roles: &roles,
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"_id": "u1", "id": "a@example.com", "name": "A", "roles": ["projectAdmin"]})
        );
    }

    #[test]
    fn flow_serialises_contract_fields_and_no_project_id() {
        let json = serde_json::to_value(flow("a")).unwrap();
        for key in [
            "_id",
            "referenceId",
            "name",
            "isTrainingOutOfDate",
            "createdAt",
            "lastChanged",
            "createdBy",
            "lastChangedBy",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert!(json.get("description").is_none());
        assert!(json.get("projectId").is_none());
    }
}
