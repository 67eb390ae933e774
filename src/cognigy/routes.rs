//! Route templates of the resource routes the jobs use (metric labels and request paths).

use super::client::Route;

pub const PROJECTS: &str = "/new/v2.0/projects";
pub const FLOWS: &str = "/new/v2.0/flows";
pub const ENDPOINTS: &str = "/new/v2.0/endpoints";
pub const LEXICONS: &str = "/new/v2.0/lexicons";
pub const SNAPSHOTS: &str = "/new/v2.0/snapshots";
pub const EXTENSIONS: &str = "/new/v2.0/extensions";
pub const LOCALES: &str = "/new/v2.0/locales";
pub const PLAYBOOKS: &str = "/new/v2.0/playbooks";
pub const KNOWLEDGE_STORES: &str = "/new/v2.0/knowledgestores";
pub const AI_AGENTS: &str = "/new/v2.0/aiagents";
pub const USERS: &str = "/new/v2.0/users";
pub const USER: &str = "/new/v2.0/users/{userId}";
pub const MEMBERS: &str = "/new/v2.0/projects/{projectId}/members";
pub const AUDIT_EVENTS: &str = "/new/v2.0/auditevents";

pub fn user(user_id: &str) -> Route {
    Route::with_path(USER, format!("/new/v2.0/users/{user_id}"))
}

pub fn members(project_id: &str) -> Route {
    Route::with_path(MEMBERS, format!("/new/v2.0/projects/{project_id}/members"))
}

/// `?projectId=P` for the per-project list routes.
pub fn in_project(project_id: &str) -> Vec<(String, String)> {
    vec![("projectId".to_string(), project_id.to_string())]
}
