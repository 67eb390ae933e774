//! Changes made through the control routes (`/_sandbox/assets/...`), so that tests can make the
//! audit's change detection see created, changed and deleted items.
//!
//! A change merges the given top-level fields and nothing else (it does not touch
//! `lastChanged` unless told to). Memberships are kept consistent both ways: a user's
//! `projects` is derived from the members lists and cannot be set directly.

use serde_json::{Map, Value};

use super::lists::{merged, patched, to_value};
use super::model::{
    AssetKind, Item, Member, OrganisationData, Project, ProjectAssets, Template, User, is_object_id,
};

/// What `/_sandbox/assets/{type}` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutationTarget {
    Projects,
    Users,
    Members,
    Asset(AssetKind),
}

impl MutationTarget {
    pub fn from_type(name: &str) -> Option<Self> {
        match name {
            "projects" => Some(Self::Projects),
            "users" => Some(Self::Users),
            "members" => Some(Self::Members),
            other => AssetKind::from_route_name(other).map(Self::Asset),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Self::Projects => "projects",
            Self::Users => "users",
            Self::Members => "members",
            Self::Asset(k) => k.route_name(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MutationError {
    #[error(
        "unknown asset type '{0}'; use one of: projects, users, members, flows, endpoints, lexicons, snapshots, extensions, locales, playbooks, knowledgestores, aiagents, auditevents"
    )]
    UnknownType(String),
    #[error(
        "'projectId' is required for {0} (in the body, or as query parameter for PATCH/DELETE)"
    )]
    MissingProjectId(&'static str),
    #[error("'userId' is required to add a member")]
    MissingUserId,
    #[error("project '{0}' does not exist")]
    UnknownProject(String),
    #[error("user '{0}' does not exist")]
    UnknownUser(String),
    #[error("{kind} item '{id}' does not exist")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} item '{id}' already exists")]
    Duplicate { kind: &'static str, id: String },
    #[error("'_id' must be 24 lowercase hex digits, got '{0}'")]
    InvalidId(String),
    #[error("'_id' cannot be changed")]
    IdChange,
    #[error("a field has the wrong type for {kind}: {message}")]
    Field { kind: &'static str, message: String },
}

/// Removes a string field from a body (`projectId`, `userId`).
fn take_string(body: &mut Map<String, Value>, key: &str) -> Option<String> {
    match body.remove(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

impl OrganisationData {
    fn template(&mut self, now: i64) -> Template {
        let author = self
            .users
            .iter()
            .find(|u| !u.disabled)
            .map(|u| u.id.clone())
            .unwrap_or_default();
        Template {
            id: self.ids.next_id(),
            reference_id: uuid::Uuid::new_v4().to_string(),
            now,
            author,
        }
    }

    fn assets_mut(&mut self, project_id: &str) -> Result<&mut ProjectAssets, MutationError> {
        self.assets
            .get_mut(project_id)
            .ok_or_else(|| MutationError::UnknownProject(project_id.to_string()))
    }

    /// The project holding asset `id` of `kind`: the given one, or found by search.
    fn locate(
        &self,
        kind: AssetKind,
        id: &str,
        project_id: Option<&str>,
    ) -> Result<String, MutationError> {
        if let Some(pid) = project_id {
            return if self.assets.contains_key(pid) {
                Ok(pid.to_string())
            } else {
                Err(MutationError::UnknownProject(pid.to_string()))
            };
        }
        self.assets
            .iter()
            .find(|(_, a)| a.list(kind).contains(id))
            .map(|(pid, _)| pid.clone())
            .ok_or_else(|| MutationError::NotFound {
                kind: kind.route_name(),
                id: id.to_string(),
            })
    }

    /// Creates an item; `now` is the sandbox clock for default timestamps.
    pub fn create_item(
        &mut self,
        target: MutationTarget,
        mut body: Map<String, Value>,
        now: i64,
    ) -> Result<Value, MutationError> {
        if let Some(id) = body.get("_id")
            && !id.as_str().is_some_and(is_object_id)
        {
            return Err(MutationError::InvalidId(id.to_string()));
        }
        match target {
            MutationTarget::Projects => {
                let template = self.template(now);
                let project: Project = merged(Project::template(&template), body)?;
                if !is_object_id(&project.id) {
                    return Err(MutationError::InvalidId(project.id));
                }
                let json = to_value(&project);
                let id = project.id.clone();
                self.projects
                    .insert(project)
                    .map_err(|p| MutationError::Duplicate {
                        kind: "projects",
                        id: p.id,
                    })?;
                self.assets.insert(id, ProjectAssets::default());
                Ok(json)
            }
            MutationTarget::Users => {
                body.remove("projects");
                let template = self.template(now);
                let user: User = merged(User::template(&template), body)?;
                let json = to_value(&user);
                self.users
                    .insert(user)
                    .map_err(|u| MutationError::Duplicate {
                        kind: "users",
                        id: u.id,
                    })?;
                Ok(json)
            }
            MutationTarget::Members => {
                let pid = take_string(&mut body, "projectId")
                    .ok_or(MutationError::MissingProjectId("members"))?;
                let uid = take_string(&mut body, "userId")
                    .or_else(|| take_string(&mut body, "_id"))
                    .ok_or(MutationError::MissingUserId)?;
                if !self.users.contains(&uid) {
                    return Err(MutationError::UnknownUser(uid));
                }
                let template = Template {
                    id: uid.clone(),
                    ..self.template(now)
                };
                let member: Member = merged(Member::template(&template), body)?;
                let json = to_value(&member);
                self.assets_mut(&pid)?.members.insert(member).map_err(|m| {
                    MutationError::Duplicate {
                        kind: "members",
                        id: m.user_id,
                    }
                })?;
                if let Some(user) = self.users.get_mut(&uid)
                    && let Err(at) = user.projects.binary_search(&pid)
                {
                    user.projects.insert(at, pid);
                }
                Ok(json)
            }
            MutationTarget::Asset(kind) => {
                let pid = take_string(&mut body, "projectId")
                    .ok_or(MutationError::MissingProjectId(kind.route_name()))?;
                if !self.assets.contains_key(&pid) {
                    return Err(MutationError::UnknownProject(pid));
                }
                if kind == AssetKind::AuditEvents && !body.contains_key("projectReference") {
                    body.insert("projectReference".into(), Value::String(pid.clone()));
                }
                let template = self.template(now);
                self.assets_mut(&pid)?
                    .list_mut(kind)
                    .create(&template, body)
            }
        }
    }

    /// Merges `body` into an item. `project_id` names the project of a per-project item
    /// (required for members, otherwise searched when absent).
    pub fn patch_item(
        &mut self,
        target: MutationTarget,
        id: &str,
        project_id: Option<&str>,
        mut body: Map<String, Value>,
    ) -> Result<Value, MutationError> {
        let not_found = || MutationError::NotFound {
            kind: target.kind(),
            id: id.to_string(),
        };
        match target {
            MutationTarget::Projects => {
                let project = self.projects.get_mut(id).ok_or_else(not_found)?;
                *project = patched(project, body)?;
                Ok(to_value(&*project))
            }
            MutationTarget::Users => {
                body.remove("projects");
                let user = self.users.get_mut(id).ok_or_else(not_found)?;
                *user = patched(user, body)?;
                Ok(to_value(&*user))
            }
            MutationTarget::Members => {
                let pid = project_id.ok_or(MutationError::MissingProjectId("members"))?;
                body.remove("userId");
                let member = self
                    .assets_mut(pid)?
                    .members
                    .get_mut(id)
                    .ok_or_else(not_found)?;
                *member = patched(member, body)?;
                Ok(to_value(&*member))
            }
            MutationTarget::Asset(kind) => {
                let pid = self.locate(kind, id, project_id)?;
                self.assets_mut(&pid)?.list_mut(kind).patch(id, body)
            }
        }
    }

    /// Deletes an item and everything that depends on it (a project's assets, a user's
    /// memberships). Answers the deleted item.
    pub fn delete_item(
        &mut self,
        target: MutationTarget,
        id: &str,
        project_id: Option<&str>,
    ) -> Result<Value, MutationError> {
        let not_found = || MutationError::NotFound {
            kind: target.kind(),
            id: id.to_string(),
        };
        match target {
            MutationTarget::Projects => {
                let project = self.projects.remove(id).ok_or_else(not_found)?;
                if let Some(assets) = self.assets.remove(id) {
                    for m in &assets.members {
                        if let Some(user) = self.users.get_mut(&m.user_id) {
                            user.projects.retain(|p| p != id);
                        }
                    }
                }
                Ok(to_value(&project))
            }
            MutationTarget::Users => {
                let user = self.users.remove(id).ok_or_else(not_found)?;
                for pid in &user.projects {
                    if let Some(a) = self.assets.get_mut(pid) {
                        a.members.remove(id);
                    }
                }
                Ok(to_value(&user))
            }
            MutationTarget::Members => {
                let pid = project_id.ok_or(MutationError::MissingProjectId("members"))?;
                let member = self
                    .assets_mut(pid)?
                    .members
                    .remove(id)
                    .ok_or_else(not_found)?;
                if let Some(user) = self.users.get_mut(id) {
                    user.projects.retain(|p| p != pid);
                }
                Ok(to_value(&member))
            }
            MutationTarget::Asset(kind) => {
                let pid = self.locate(kind, id, project_id)?;
                self.assets_mut(&pid)?
                    .list_mut(kind)
                    .delete(id)
                    .ok_or_else(not_found)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn org() -> OrganisationData {
        OrganisationData::generate(9, 6, 4, NOW)
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn created_flow_gets_defaults_and_a_growing_id() {
        let mut o = org();
        let pid = o.projects.as_slice()[1].id.clone();
        let last = o.assets[&pid].flows.as_slice().last().unwrap().id.clone();
        let made = o
            .create_item(
                MutationTarget::Asset(AssetKind::Flows),
                obj(json!({"projectId": pid, "name": "Brand New", "owner": "team-a"})),
                NOW + 5,
            )
            .unwrap();
        let id = made["_id"].as_str().unwrap();
        assert!(is_object_id(id) && id > last.as_str());
        assert_eq!(made["name"], "Brand New");
        assert_eq!(made["createdAt"], NOW + 5);
        assert_eq!(made["owner"], "team-a", "unknown fields are kept");
        assert!(made.get("projectId").is_none());
        assert_eq!(o.assets[&pid].flows.as_slice().last().unwrap().id, id);
    }

    #[test]
    fn patch_merges_fields_and_keeps_the_id() {
        let mut o = org();
        let (pid, fid) = {
            let (pid, f) = o.flows().next().unwrap();
            (pid.to_string(), f.id.clone())
        };
        let target = MutationTarget::Asset(AssetKind::Flows);
        let v = o
            .patch_item(
                target,
                &fid,
                None,
                obj(json!({"name": "Renamed", "lastChanged": NOW})),
            )
            .unwrap();
        assert_eq!(v["name"], "Renamed");
        let flow = o.assets[&pid].flows.get(&fid).unwrap();
        assert_eq!((flow.name.as_str(), flow.last_changed), ("Renamed", NOW));
        assert_eq!(
            o.patch_item(target, &fid, None, obj(json!({"_id": "0".repeat(24)}))),
            Err(MutationError::IdChange)
        );
        assert!(matches!(
            o.patch_item(target, &fid, None, obj(json!({"name": 5}))),
            Err(MutationError::Field { .. })
        ));
    }

    #[test]
    fn members_and_user_projects_stay_consistent() {
        let mut o = org();
        let pid = o.projects.as_slice()[2].id.clone(); // p % 5 == 2: no members
        let uid = o.users.as_slice()[0].id.clone();
        o.create_item(
            MutationTarget::Members,
            obj(json!({"projectId": pid, "userId": uid, "roles": ["projectAdmin"]})),
            NOW,
        )
        .unwrap();
        assert!(o.users.get(&uid).unwrap().projects.contains(&pid));
        assert_eq!(
            o.assets[&pid].members.get(&uid).unwrap().roles,
            ["projectAdmin"]
        );
        o.delete_item(MutationTarget::Members, &uid, Some(&pid))
            .unwrap();
        assert!(!o.users.get(&uid).unwrap().projects.contains(&pid));

        // Deleting a user removes their memberships; deleting a project their projects entry.
        let member_pid = o.projects.as_slice()[0].id.clone();
        let member = o.assets[&member_pid].members.as_slice()[0].user_id.clone();
        o.delete_item(MutationTarget::Users, &member, None).unwrap();
        assert!(o.assets.values().all(|a| !a.members.contains(&member)));
        let other = o.assets[&member_pid]
            .members
            .as_slice()
            .first()
            .map(|m| m.user_id.clone());
        o.delete_item(MutationTarget::Projects, &member_pid, None)
            .unwrap();
        assert!(!o.assets.contains_key(&member_pid));
        if let Some(other) = other {
            assert!(!o.users.get(&other).unwrap().projects.contains(&member_pid));
        }
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let mut o = org();
        let flows = MutationTarget::Asset(AssetKind::Flows);
        assert_eq!(
            o.create_item(flows, Map::new(), NOW),
            Err(MutationError::MissingProjectId("flows"))
        );
        assert_eq!(
            o.create_item(flows, obj(json!({"projectId": "nope"})), NOW),
            Err(MutationError::UnknownProject("nope".into()))
        );
        assert!(matches!(
            o.create_item(flows, obj(json!({"_id": "xyz"})), NOW),
            Err(MutationError::InvalidId(_))
        ));
        assert!(matches!(
            o.delete_item(flows, &"f".repeat(24), None),
            Err(MutationError::NotFound { .. })
        ));
        let pid = o.projects.as_slice()[0].id.clone();
        let existing = o.assets[&pid].flows.as_slice()[0].id.clone();
        assert!(matches!(
            o.create_item(flows, obj(json!({"projectId": pid, "_id": existing})), NOW),
            Err(MutationError::Duplicate { .. })
        ));
        assert_eq!(MutationTarget::from_type("widgets"), None);
    }
}
