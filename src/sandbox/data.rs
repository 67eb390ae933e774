//! Deterministic generation of the sandbox organisation.
//!
//! The same `(seed, projects, flows_per_project, now)` always gives the same data, ids included:
//! one seeded `StdRng` drives every choice, in a fixed order. Ids are ObjectId-shaped 24-hex
//! strings that grow in creation order; reference ids are uuid-v4-shaped from the same RNG;
//! timestamps are Unix seconds relative to `now`.
//!
//! # Sizes
//! - users: `max(8, projects / 2)`; project `p` has exactly `flows_per_project` flows;
//! - endpoints per project: `max(1, flows / 4)` (project 0: at least 2);
//! - lexicons, snapshots, extensions, locales, playbooks, knowledge stores, AI agents:
//!   1-3 each per project (project 0: exactly 3 each);
//! - members: 0-4 per project, plus at most one disabled user added so that the disabled-member
//!   case exists (see below); audit events: 3-8 per project (project 0: 8).
//!
//! # Seeded audit cases
//! Indices count in generation order over the whole organisation: `p` = project index, `u` = user
//! index, `g` = flow index, `e` = endpoint index, `x` = extension index, `s` = snapshot index
//! (all from 0). `DAY` = 86 400 s.
//! - **Flows without description**: `g % 5 == 3` (no `description` field at all).
//! - **Stale flows**: `g % 7 == 2` have `lastChanged` 400-900 days before `now`; every other flow
//!   changed within the last 300 days.
//! - **Dangling endpoints**: `e % 6 == 1` have a `flowId` that is a fresh id naming no item at all;
//!   every other endpoint names a flow of its own project (unless the project has no flows).
//! - **Trusted-code extensions**: `x % 4 == 0` have `trustedCode: true`, all others `false`.
//! - **Old snapshots**: `s % 3 == 0` were created 400-800 days ago, all others within 300 days.
//! - **Expired packages**: `s % 4 == 1` are packaged with `packageExpiresAt` 1-90 days in the past;
//!   `s % 4 == 3` are packaged and expire 1-90 days in the future; the rest are not packaged and
//!   carry no `packageExpiresAt`.
//! - **Projects without members**: `p % 5 == 2`; every other project has 1-4 members.
//! - **Disabled users**: `u % 6 == 5`. Those with `u % 12 == 5` are members of at least one project
//!   (a finding); those with `u % 12 == 11` are members of none (not a finding).
//! - **Inactive users**: `u % 7 == 3` were last active 120-400 days ago, the rest within 30 days.
//! - **Audit events** (all within the last 30 days): project 0 has one event of every type
//!   (`action, create, replace, patch, delete, unauthorized`) within the last 24 h plus two that are
//!   2-29 days old; other projects have 3-8 events of random types, each within the last 24 h with
//!   probability 3/4, otherwise 2-29 days old. Events are listed oldest first.
//! - **Quotas**: `quotaMaxProjects = max(1, projects * 100 / 95)` (so the project count is at
//!   least 95% of it), `quotaMaxUsers = 2 * users` (50%), `quotaMaxChannelsPerProject = 10`,
//!   `quotaMaxMessagesPerDay = 1 000 000`.
//!
//! Every case is present once `projects >= 3` and `projects * flows_per_project >= 4` (the default
//! 12 x 8 is well above that).

use std::collections::BTreeMap;
use std::ops::Range;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Map;

use super::model::{
    AUDIT_EVENT_TYPES, AiAgent, AuditEvent, Collection, Endpoint, Extension, Flow, IdGen,
    KnowledgeStore, Lexicon, Locale, Member, Organisation, OrganisationData, Playbook, Project,
    ProjectAssets, Snapshot, User,
};

const DAY: i64 = 86_400;

const PROJECT_NAMES: [&str; 20] = [
    "Customer Service",
    "Order Status",
    "Billing Assistant",
    "Claims Intake",
    "Travel Booking",
    "IT Helpdesk",
    "HR Onboarding",
    "Appointment Scheduling",
    "Loyalty Program",
    "Returns and Refunds",
    "Roadside Assistance",
    "Energy Tariffs",
    "Mobile Contracts",
    "Banking Self-Service",
    "Insurance Quotes",
    "Parcel Tracking",
    "Hotel Concierge",
    "Patient Intake",
    "Car Rental",
    "Utility Outages",
];
const REGIONS: [&str; 6] = ["EU", "US", "UK", "DACH", "APAC", "LATAM"];
const COLORS: [&str; 8] = [
    "#0073e6", "#2e7d32", "#ef6c00", "#6a1b9a", "#c62828", "#00838f", "#f9a825", "#ad1457",
];
const FLOW_NAMES: [&str; 30] = [
    "Main",
    "Greeting",
    "Order Status",
    "Track Parcel",
    "Change Address",
    "Cancel Order",
    "Password Reset",
    "Opening Hours",
    "Talk To Agent",
    "Payment Methods",
    "Invoice Copy",
    "Book Appointment",
    "Reschedule Appointment",
    "Report Damage",
    "Contract Details",
    "Feedback Survey",
    "FAQ",
    "Small Talk",
    "Authentication",
    "Handover",
    "Store Locator",
    "Refund Request",
    "Product Search",
    "Warranty Check",
    "Update Payment Details",
    "Delivery Options",
    "Newsletter Signup",
    "Complaint",
    "Fallback",
    "Goodbye",
];
const CHANNELS: [(&str, &str); 8] = [
    ("webchat3", "Webchat"),
    ("voiceGateway2", "Voice Gateway"),
    ("rest", "REST"),
    ("whatsapp", "WhatsApp"),
    ("microsoftTeams", "Microsoft Teams"),
    ("slack", "Slack"),
    ("socket", "Socket"),
    ("genesysBotConnector", "Genesys"),
];
const LEXICONS: [&str; 8] = [
    "Products",
    "Cities",
    "Airports",
    "Countries",
    "Car Models",
    "Tariffs",
    "Store Locations",
    "Payment Methods",
];
const EXTENSIONS: [(&str, &str); 8] = [
    ("@cognigy/salesforce", "Salesforce"),
    ("@cognigy/zendesk", "Zendesk"),
    ("@cognigy/servicenow", "ServiceNow"),
    ("@cognigy/microsoft-teams", "Microsoft Teams"),
    ("@cognigy/google-sheets", "Google Sheets"),
    ("@cognigy/sap", "SAP"),
    ("@cognigy/hubspot", "HubSpot"),
    ("acme-crm-connector", "ACME CRM"),
];
const LOCALES: [&str; 6] = ["en-US", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL"];
const PLAYBOOKS: [&str; 6] = [
    "Smoke Test",
    "Regression Suite",
    "Order Journey",
    "Escalation Paths",
    "Authentication Tests",
    "Small Talk Checks",
];
const KNOWLEDGE_STORES: [(&str, &str); 5] = [
    ("Product Manuals", "Manuals of every product we sell"),
    ("FAQ Articles", "Answers from the public help centre"),
    ("Terms and Conditions", "Current contract terms"),
    ("Support Knowledge Base", "Internal support articles"),
    ("Policy Documents", "Company policies for agents"),
];
const AI_AGENTS: [(&str, &str); 5] = [
    ("Sophie", "Friendly customer service agent"),
    ("Max", "Technical support specialist"),
    ("Lena", "Booking assistant"),
    ("Noah", "Billing expert"),
    ("Mia", "Sales advisor"),
];
const FIRST_NAMES: [&str; 24] = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Klara",
    "Lukas", "Marie", "Niklas", "Olivia", "Paul", "Quentin", "Rosa", "Simon", "Tara", "Ulrich",
    "Vera", "Wim", "Yara",
];
const LAST_NAMES: [&str; 24] = [
    "Adams", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ivanova",
    "Jansen", "Keller", "Lopez", "Meyer", "Novak", "Olsen", "Peters", "Quinn", "Rossi", "Schmidt",
    "Tanaka", "Ueda", "Vogel", "Weber", "Young",
];
const MEMBER_ROLES: [&[&str]; 4] = [
    &["projectAdmin"],
    &["projectDeveloper"],
    &["projectViewer"],
    &["projectDeveloper", "projectTrainer"],
];
const AUDIT_OBJECTS: [&str; 8] = [
    "Flow",
    "Endpoint",
    "Lexicon",
    "Snapshot",
    "Extension",
    "Playbook",
    "KnowledgeStore",
    "AiAgent",
];
const AUDIT_ACTIONS: [&str; 5] = [
    "trainNlu",
    "packageSnapshot",
    "restoreSnapshot",
    "executePlaybook",
    "login",
];

impl OrganisationData {
    /// Generates the organisation; see the module documentation for what is seeded and how.
    pub fn generate(
        seed: u64,
        projects: usize,
        flows_per_project: usize,
        now: i64,
    ) -> OrganisationData {
        Generator::new(seed, now).organisation(projects, flows_per_project)
    }
}

struct Generator {
    rng: StdRng,
    ids: IdGen,
    now: i64,
    /// Users that may author changes (enabled ones).
    authors: Vec<String>,
    flow_no: usize,
    endpoint_no: usize,
    extension_no: usize,
    snapshot_no: usize,
}

impl Generator {
    fn new(seed: u64, now: i64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        // Ids carry a fixed ObjectId time (2023-09-12), not one derived from `now`: the same seed
        // then gives the same ids on every start, so an audit's baseline from an earlier sandbox
        // (e.g. a previous `demo`) still matches instead of showing everything as replaced.
        const ID_TIME: u32 = 0x6500_0000;
        let ids = IdGen::new(ID_TIME, rng.r#gen());
        Self {
            rng,
            ids,
            now,
            authors: Vec::new(),
            flow_no: 0,
            endpoint_no: 0,
            extension_no: 0,
            snapshot_no: 0,
        }
    }

    fn uuid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.rng.r#gen())
            .into_uuid()
            .to_string()
    }

    fn hex(&mut self, bytes: usize) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(bytes * 2);
        for _ in 0..bytes {
            let b: u8 = self.rng.r#gen();
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// A moment `days` days (plus a random part of a day) before `now`.
    fn days_ago(&mut self, days: Range<i64>) -> i64 {
        self.now - self.rng.gen_range(days) * DAY - self.rng.gen_range(0..DAY)
    }

    fn author(&mut self) -> String {
        self.authors
            .choose(&mut self.rng)
            .cloned()
            .unwrap_or_default()
    }

    fn one_to_three(&mut self, first_project: bool) -> usize {
        if first_project {
            3
        } else {
            self.rng.gen_range(1..=3)
        }
    }

    fn organisation(mut self, project_count: usize, flows_per_project: usize) -> OrganisationData {
        let org_id = self.ids.next_id();
        let org_created = self.days_ago(1500..1600);
        let mut users = self.users(project_count.div_euclid(2).max(8));
        self.authors = users
            .iter()
            .filter(|u| !u.disabled)
            .map(|u| u.id.clone())
            .collect();

        let mut projects = Collection::new();
        let mut assets = BTreeMap::new();
        for p in 0..project_count {
            let (project, project_assets) = self.project(p, flows_per_project);
            assets.insert(project.id.clone(), project_assets);
            // Ids grow, so this is an append.
            let _ = projects.insert(project);
        }

        self.memberships(&projects, &mut assets, &users);
        // `projects` of each user mirrors the members lists (project ids in id order).
        let mut user_projects: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (pid, a) in &assets {
            for m in &a.members {
                user_projects
                    .entry(m.user_id.as_str())
                    .or_default()
                    .push(pid.clone());
            }
        }
        for u in &mut users {
            u.projects = user_projects.remove(u.id.as_str()).unwrap_or_default();
        }
        let user_count = users.len() as u64;

        OrganisationData {
            organisation: Organisation {
                id: org_id,
                name: "Acme Contact Center".into(),
                disabled: false,
                quota_max_projects: (project_count as u64 * 100 / 95).max(1),
                quota_max_users: 2 * user_count,
                quota_max_channels_per_project: 10,
                quota_max_messages_per_day: 1_000_000,
                created_at: org_created,
                last_changed: org_created,
            },
            now: self.now,
            projects,
            assets,
            users: users.into_iter().collect(),
            ids: self.ids,
        }
    }

    fn users(&mut self, count: usize) -> Vec<User> {
        let first_offset = self.rng.gen_range(0..FIRST_NAMES.len());
        let last_offset = self.rng.gen_range(0..LAST_NAMES.len());
        (0..count)
            .map(|u| {
                // (u % F, u / F % L) is unique for u < F * L; beyond that a number keeps e-mails unique.
                let first = FIRST_NAMES[(u + first_offset) % FIRST_NAMES.len()];
                let last = LAST_NAMES[(u / FIRST_NAMES.len() + last_offset) % LAST_NAMES.len()];
                let round = u / (FIRST_NAMES.len() * LAST_NAMES.len());
                let number = if round == 0 {
                    String::new()
                } else {
                    round.to_string()
                };
                let created_at = self.days_ago(500..1400);
                let last_active = if u % 7 == 3 {
                    self.days_ago(120..400)
                } else {
                    self.days_ago(0..30)
                };
                let roles = match u {
                    0 => vec!["admin".to_string()],
                    u if u % 5 == 1 => vec!["projectManager".into(), "base_role".into()],
                    _ => vec!["base_role".into()],
                };
                User {
                    id: self.ids.next_id(),
                    email: format!(
                        "{}.{}{number}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase()
                    ),
                    name: format!("{first} {last}"),
                    last_active,
                    created_at,
                    last_changed: self.days_ago(0..120).max(created_at),
                    roles,
                    projects: Vec::new(),
                    disabled: u % 6 == 5,
                    extra: Map::new(),
                }
            })
            .collect()
    }

    fn project(&mut self, p: usize, flows_per_project: usize) -> (Project, ProjectAssets) {
        let first = p == 0;
        let id = self.ids.next_id();
        let base = PROJECT_NAMES[p % PROJECT_NAMES.len()];
        let round = p / PROJECT_NAMES.len();
        let name = match round {
            0 => base.to_string(),
            r if r <= REGIONS.len() => format!("{base} {}", REGIONS[r - 1]),
            r => format!("{base} {}", r + 1),
        };
        let created_at = self.days_ago(1250..1500);
        let mut assets = ProjectAssets::default();

        let locale_count = self.one_to_three(first);
        let primary_language = if self.rng.gen_bool(0.7) {
            "en-US"
        } else {
            "de-DE"
        };
        let mut primary: Option<(String, String)> = None; // (_id, referenceId)
        let mut others = LOCALES.iter().filter(|l| **l != primary_language);
        for k in 0..locale_count {
            let language = if k == 0 {
                primary_language
            } else {
                others.next().copied().unwrap_or("en-GB")
            };
            let locale = Locale {
                id: self.ids.next_id(),
                reference_id: self.uuid(),
                name: language.to_string(),
                primary: k == 0,
                nlu_language: language.to_string(),
                fallback_locale_reference: primary.as_ref().map(|(_, r)| r.clone()),
                created_at: created_at + DAY,
                last_changed: created_at + DAY,
                extra: Map::new(),
            };
            if k == 0 {
                primary = Some((locale.id.clone(), locale.reference_id.clone()));
            }
            let _ = assets.locales.insert(locale);
        }
        let (primary_locale_id, primary_locale_ref) = primary.unwrap_or_default();

        for j in 0..flows_per_project {
            let flow = self.flow(j);
            let _ = assets.flows.insert(flow);
        }

        let endpoint_count = (flows_per_project / 4).max(if first { 2 } else { 1 });
        for k in 0..endpoint_count {
            let endpoint = self.endpoint(k, &assets.flows, &primary_locale_id);
            let _ = assets.endpoints.insert(endpoint);
        }

        for k in 0..self.one_to_three(first) {
            let last_changed = self.days_ago(0..400);
            let lexicon = Lexicon {
                id: self.ids.next_id(),
                reference_id: self.uuid(),
                name: LEXICONS[(p + k) % LEXICONS.len()].to_string(),
                description: (k % 2 == 0).then(|| "Keyphrases with synonyms".to_string()),
                created_at: last_changed - self.rng.gen_range(0..300) * DAY,
                last_changed,
                created_by: self.author(),
                last_changed_by: self.author(),
                extra: Map::new(),
            };
            let _ = assets.lexicons.insert(lexicon);
        }

        for _ in 0..self.one_to_three(first) {
            let snapshot = self.snapshot();
            let _ = assets.snapshots.insert(snapshot);
        }

        for k in 0..self.one_to_three(first) {
            let x = self.extension_no;
            self.extension_no += 1;
            let (package, label) = EXTENSIONS[(p + k) % EXTENSIONS.len()];
            let last_changed = self.days_ago(0..500);
            let extension = Extension {
                id: self.ids.next_id(),
                name: package.to_string(),
                label: Some(label.to_string()),
                version: format!(
                    "{}.{}.{}",
                    self.rng.gen_range(1..5),
                    self.rng.gen_range(0..10),
                    self.rng.gen_range(0..20)
                ),
                description: format!("{label} integration"),
                trusted_code: x.is_multiple_of(4),
                created_at: last_changed - self.rng.gen_range(0..200) * DAY,
                last_changed,
                created_by: self.author(),
                last_changed_by: self.author(),
                extra: Map::new(),
            };
            let _ = assets.extensions.insert(extension);
        }

        for k in 0..self.one_to_three(first) {
            let last_changed = self.days_ago(0..300);
            let playbook = Playbook {
                id: self.ids.next_id(),
                reference_id: self.uuid(),
                name: PLAYBOOKS[(p + k) % PLAYBOOKS.len()].to_string(),
                description: (k != 1).then(|| "Automated conversation test".to_string()),
                created_at: last_changed - self.rng.gen_range(0..200) * DAY,
                last_changed,
                created_by: self.author(),
                last_changed_by: self.author(),
                extra: Map::new(),
            };
            let _ = assets.playbooks.insert(playbook);
        }

        for k in 0..self.one_to_three(first) {
            let (name, description) = KNOWLEDGE_STORES[(p + k) % KNOWLEDGE_STORES.len()];
            let last_changed = self.days_ago(0..200);
            let store = KnowledgeStore {
                id: self.ids.next_id(),
                reference_id: self.uuid(),
                name: name.to_string(),
                description: description.to_string(),
                language: primary_language.to_string(),
                created_at: last_changed - self.rng.gen_range(0..200) * DAY,
                last_changed,
                created_by: self.author(),
                last_changed_by: self.author(),
                extra: Map::new(),
            };
            let _ = assets.knowledge_stores.insert(store);
        }

        for k in 0..self.one_to_three(first) {
            let (name, description) = AI_AGENTS[(p + k) % AI_AGENTS.len()];
            let last_changed = self.days_ago(0..150);
            let agent = AiAgent {
                id: self.ids.next_id(),
                reference_id: self.uuid(),
                name: name.to_string(),
                description: description.to_string(),
                created_at: last_changed - self.rng.gen_range(0..100) * DAY,
                last_changed,
                created_by: self.author(),
                last_changed_by: self.author(),
                extra: Map::new(),
            };
            let _ = assets.ai_agents.insert(agent);
        }

        self.audit_events(first, &id, &mut assets);

        let project = Project {
            id,
            name,
            color: COLORS[p % COLORS.len()].to_string(),
            primary_locale_reference: primary_locale_ref,
            created_at,
            last_changed: self.days_ago(0..60),
            created_by: self.author(),
            last_changed_by: self.author(),
            extra: Map::new(),
        };
        (project, assets)
    }

    fn flow(&mut self, j: usize) -> Flow {
        let g = self.flow_no;
        self.flow_no += 1;
        let base = FLOW_NAMES[j % FLOW_NAMES.len()];
        let round = j / FLOW_NAMES.len();
        let name = if round == 0 {
            base.to_string()
        } else {
            format!("{base} {}", round + 1)
        };
        let last_changed = if g % 7 == 2 {
            self.days_ago(400..900)
        } else {
            self.days_ago(0..300)
        };
        Flow {
            id: self.ids.next_id(),
            reference_id: self.uuid(),
            description: (g % 5 != 3).then(|| format!("Handles \"{name}\" conversations")),
            name,
            is_training_out_of_date: self.rng.gen_bool(0.2),
            created_at: last_changed - self.rng.gen_range(0..300) * DAY,
            last_changed,
            created_by: self.author(),
            last_changed_by: self.author(),
            extra: Map::new(),
        }
    }

    fn endpoint(&mut self, k: usize, flows: &Collection<Flow>, locale_id: &str) -> Endpoint {
        let e = self.endpoint_no;
        self.endpoint_no += 1;
        let (channel, label) = CHANNELS[(e + k) % CHANNELS.len()];
        let flow_id = match flows.as_slice().choose(&mut self.rng) {
            Some(flow) if e % 6 != 1 => flow.id.clone(),
            // A fresh id is unique by construction, so it names no flow (nor anything else).
            _ => self.ids.next_id(),
        };
        let last_changed = self.days_ago(0..365);
        Endpoint {
            id: self.ids.next_id(),
            reference_id: self.uuid(),
            name: if k < CHANNELS.len() {
                label.to_string()
            } else {
                format!("{label} {}", k + 1)
            },
            channel: channel.to_string(),
            url_token: self.hex(32),
            flow_id,
            locale_id: locale_id.to_string(),
            active: self.rng.gen_bool(0.85),
            created_at: last_changed - self.rng.gen_range(0..300) * DAY,
            last_changed,
            created_by: self.author(),
            last_changed_by: self.author(),
            extra: Map::new(),
        }
    }

    fn snapshot(&mut self) -> Snapshot {
        let s = self.snapshot_no;
        self.snapshot_no += 1;
        let created_at = if s.is_multiple_of(3) {
            self.days_ago(400..800)
        } else {
            self.days_ago(1..300)
        };
        let (is_packaged, package_expires_at) = match s % 4 {
            1 => (true, Some(self.now - self.rng.gen_range(1..=90) * DAY)),
            3 => (true, Some(self.now + self.rng.gen_range(1..=90) * DAY)),
            _ => (false, None),
        };
        let date = chrono::DateTime::from_timestamp(created_at, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let author = self.author();
        Snapshot {
            id: self.ids.next_id(),
            name: format!("Release {date}"),
            description: format!("Snapshot taken before the release of {date}"),
            hash: self.hex(32),
            is_packaged,
            package_expires_at,
            created_at,
            last_changed: created_at,
            created_by: author.clone(),
            last_changed_by: author,
            extra: Map::new(),
        }
    }

    fn audit_events(&mut self, first: bool, project_id: &str, assets: &mut ProjectAssets) {
        // (timestamp, type) pairs, then ids in time order so the list reads oldest first.
        let mut events: Vec<(i64, &str)> = Vec::new();
        if first {
            for t in AUDIT_EVENT_TYPES {
                events.push((self.now - self.rng.gen_range(60..86_000), t));
            }
            for _ in 0..2 {
                let t = AUDIT_EVENT_TYPES[self.rng.gen_range(0..AUDIT_EVENT_TYPES.len())];
                events.push((self.days_ago(2..29), t));
            }
        } else {
            for _ in 0..self.rng.gen_range(3..=8) {
                let t = AUDIT_EVENT_TYPES[self.rng.gen_range(0..AUDIT_EVENT_TYPES.len())];
                let ts = if self.rng.gen_bool(0.75) {
                    self.now - self.rng.gen_range(60..86_000)
                } else {
                    self.days_ago(2..29)
                };
                events.push((ts, t));
            }
        }
        events.sort_by_key(|(ts, _)| *ts);
        for (timestamp, event_type) in events {
            let object = AUDIT_OBJECTS[self.rng.gen_range(0..AUDIT_OBJECTS.len())];
            let action_type = match event_type {
                "action" => AUDIT_ACTIONS[self.rng.gen_range(0..AUDIT_ACTIONS.len())].to_string(),
                "create" => format!("create{object}"),
                "replace" => format!("update{object}"),
                "patch" => format!("patch{object}"),
                "delete" => format!("delete{object}"),
                _ => format!("read{object}"),
            };
            let event = AuditEvent {
                id: self.ids.next_id(),
                timestamp,
                event_type: event_type.to_string(),
                action_type,
                user_reference: self.author(),
                project_reference: project_id.to_string(),
                extra: Map::new(),
            };
            let _ = assets.audit_events.insert(event);
        }
    }

    fn memberships(
        &mut self,
        projects: &Collection<Project>,
        assets: &mut BTreeMap<String, ProjectAssets>,
        users: &[User],
    ) {
        // Disabled users with u % 12 == 11 are never members.
        let eligible: Vec<&User> = users
            .iter()
            .enumerate()
            .filter(|(u, _)| u % 12 != 11)
            .map(|(_, user)| user)
            .collect();
        for (p, project) in projects.iter().enumerate() {
            if p % 5 == 2 {
                continue;
            }
            let Some(a) = assets.get_mut(&project.id) else {
                continue;
            };
            let count = self.rng.gen_range(1..=4).min(eligible.len());
            for i in rand::seq::index::sample(&mut self.rng, eligible.len(), count) {
                let roles = MEMBER_ROLES[self.rng.gen_range(0..MEMBER_ROLES.len())];
                let _ = a.members.insert(Member {
                    user_id: eligible[i].id.clone(),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                });
            }
        }
        // Disabled users with u % 12 == 5 must still be members somewhere.
        for (u, user) in users.iter().enumerate().filter(|(u, _)| u % 12 == 5) {
            let is_member = assets.values().any(|a| a.members.contains(&user.id));
            if is_member {
                continue;
            }
            let with_members = projects
                .iter()
                .enumerate()
                .filter(|(p, _)| p % 5 != 2)
                .map(|(_, project)| project.id.as_str())
                .collect::<Vec<_>>();
            if with_members.is_empty() {
                continue;
            }
            let target = with_members[u % with_members.len()];
            if let Some(a) = assets.get_mut(target) {
                let _ = a.members.insert(Member {
                    user_id: user.id.clone(),
                    roles: vec!["projectDeveloper".into()],
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::model::{Item, is_object_id};
    use std::collections::HashSet;

    const NOW: i64 = 1_750_000_000;

    fn default_org() -> OrganisationData {
        OrganisationData::generate(1, 12, 8, NOW)
    }

    #[test]
    fn same_options_give_identical_json_and_other_seeds_differ() {
        let a = serde_json::to_string(&default_org()).unwrap();
        let b = serde_json::to_string(&default_org()).unwrap();
        assert_eq!(a, b);
        let c = serde_json::to_string(&OrganisationData::generate(2, 12, 8, NOW)).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn sizes_follow_the_options() {
        let org = OrganisationData::generate(7, 30, 13, NOW);
        assert_eq!(org.projects.len(), 30);
        assert_eq!(org.assets.len(), 30);
        assert_eq!(org.users.len(), 15);
        for a in org.assets.values() {
            assert_eq!(a.flows.len(), 13);
            assert_eq!(a.endpoints.len(), 3);
            for n in [
                a.lexicons.len(),
                a.snapshots.len(),
                a.extensions.len(),
                a.locales.len(),
                a.playbooks.len(),
                a.knowledge_stores.len(),
                a.ai_agents.len(),
            ] {
                assert!((1..=3).contains(&n), "{n}");
            }
            assert!(a.members.len() <= 5);
        }
        assert_eq!(org.flow_count(), 30 * 13);
    }

    #[test]
    fn ids_are_unique_object_ids_and_names_unique_per_project() {
        let org = OrganisationData::generate(3, 40, 35, NOW);
        let mut seen = HashSet::new();
        let mut check = |id: &str| {
            assert!(is_object_id(id), "{id}");
            assert!(seen.insert(id.to_string()), "duplicate {id}");
        };
        check(&org.organisation.id);
        org.users.iter().for_each(|u| check(u.id()));
        for p in &org.projects {
            check(&p.id);
            let a = &org.assets[&p.id];
            a.flows.iter().for_each(|f| check(&f.id));
            a.endpoints.iter().for_each(|f| check(&f.id));
            a.snapshots.iter().for_each(|f| check(&f.id));
            a.audit_events.iter().for_each(|f| check(&f.id));
            let names: HashSet<&str> = a.flows.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names.len(), a.flows.len());
        }
        let emails: HashSet<&str> = org.users.iter().map(|u| u.email.as_str()).collect();
        assert_eq!(emails.len(), org.users.len());
        let names: HashSet<&str> = org.projects.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), org.projects.len());
    }

    #[test]
    fn every_seeded_audit_case_is_present_at_the_default_size() {
        let org = default_org();
        let year_ago = NOW - 365 * DAY;
        let flows: Vec<&Flow> = org.flows().map(|(_, f)| f).collect();
        assert!(flows.iter().any(|f| f.description.is_none()));
        assert!(flows.iter().any(|f| f.description.is_some()));
        assert!(flows.iter().any(|f| f.last_changed < year_ago));
        let mut dangling = 0;
        for a in org.assets.values() {
            for e in &a.endpoints {
                if !a.flows.contains(&e.flow_id) {
                    dangling += 1;
                }
            }
        }
        assert!(dangling > 0);
        let all = |f: &dyn Fn(&ProjectAssets) -> bool| org.assets.values().any(f);
        assert!(all(&|a| a.extensions.iter().any(|x| x.trusted_code)));
        assert!(all(&|a| a
            .snapshots
            .iter()
            .any(|s| s.created_at < year_ago)));
        assert!(all(&|a| a.snapshots.iter().any(
            |s| s.is_packaged && s.package_expires_at.is_some_and(|t| t < NOW)
        )));
        assert!(all(&|a| a.members.is_empty()));
        let disabled_member = org
            .users
            .iter()
            .any(|u| u.disabled && org.assets.values().any(|a| a.members.contains(&u.id)));
        assert!(disabled_member);
        for t in AUDIT_EVENT_TYPES {
            assert!(
                all(&|a| a
                    .audit_events
                    .iter()
                    .any(|e| e.event_type == t && e.timestamp > NOW - DAY)),
                "no recent {t} event"
            );
        }
        assert!(all(&|a| a
            .audit_events
            .iter()
            .any(|e| e.timestamp < NOW - DAY)));
        assert!(all(&|a| a
            .audit_events
            .iter()
            .all(|e| e.timestamp > NOW - 30 * DAY)));
        let q = &org.organisation;
        assert!(org.projects.len() as f64 >= 0.9 * q.quota_max_projects as f64);
        assert!((org.users.len() as f64) < 0.9 * q.quota_max_users as f64);
    }

    #[test]
    fn user_projects_mirror_the_members_lists() {
        let org = OrganisationData::generate(5, 25, 2, NOW);
        for u in &org.users {
            for (pid, a) in &org.assets {
                assert_eq!(u.projects.contains(pid), a.members.contains(&u.id));
            }
        }
    }

    #[test]
    fn references_point_to_existing_items() {
        let org = default_org();
        for p in &org.projects {
            let a = &org.assets[&p.id];
            assert!(
                a.locales
                    .iter()
                    .any(|l| l.primary && l.reference_id == p.primary_locale_reference)
            );
            for f in &a.flows {
                assert!(org.users.contains(&f.created_by));
                assert!(f.created_at <= f.last_changed);
                assert!(uuid::Uuid::parse_str(&f.reference_id).is_ok());
            }
            for e in &a.audit_events {
                assert_eq!(e.project_reference, p.id);
            }
        }
    }
}
