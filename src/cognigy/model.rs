//! Typed items of the Cognigy API, deserialised leniently: every field but `_id` may be
//! missing, unknown fields are ignored, and wrongly typed optional fields become `None`
//! rather than failing a whole page (the contract marks field shapes as best effort).

use serde::{Deserialize, Deserializer, Serialize};

/// The page envelope shared by every list route.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    #[serde(default, deserialize_with = "lenient")]
    pub total: Option<u64>,
    /// Newer installs say `nextCursor`, older ones `next`.
    #[serde(default, alias = "next", deserialize_with = "lenient")]
    pub next_cursor: Option<String>,
    #[serde(default, alias = "previous", deserialize_with = "lenient")]
    pub previous_cursor: Option<String>,
}

/// Answer of the Super API-Key creation route. `api_key` is deliberately not `Debug`-printable.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    #[serde(rename = "_id", default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    /// Unix seconds (server clock).
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<i64>,
    pub api_key: secrecy::SecretString,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

macro_rules! item {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(rename = "_id")]
            pub id: String,
            $(
                $(#[$fmeta])*
                #[serde(default, deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
    };
}

item!(
    /// `GET /new/management/v2.0/organisations`.
    Organisation {
        name: String,
        disabled: bool,
        quota_max_projects: f64,
        quota_max_users: f64,
        quota_max_channels_per_project: f64,
        quota_max_messages_per_day: f64,
    }
);

item!(
    /// `GET /new/v2.0/projects`.
    Project {
        name: String,
        color: String,
        primary_locale_reference: String,
        created_at: i64,
        last_changed: i64,
        created_by: String,
        last_changed_by: String,
    }
);

item!(
    /// `GET /new/v2.0/flows?projectId=P` (the item carries no project id).
    Flow {
        reference_id: String,
        name: String,
        description: String,
        is_training_out_of_date: bool,
        created_at: i64,
        last_changed: i64,
        created_by: String,
        last_changed_by: String,
    }
);

item!(
    /// `GET /new/v2.0/endpoints?projectId=P`.
    Endpoint {
        name: String,
        channel: String,
        flow_id: String,
        locale_id: String,
        created_at: i64,
        last_changed: i64,
    }
);

item!(
    /// `GET /new/v2.0/snapshots?projectId=P`.
    Snapshot {
        name: String,
        description: String,
        hash: String,
        created_at: i64,
        created_by: String,
        is_packaged: bool,
        package_expires_at: i64,
        last_changed: i64,
    }
);

item!(
    /// `GET /new/v2.0/extensions?projectId=P`.
    Extension {
        name: String,
        label: String,
        version: String,
        description: String,
        trusted_code: bool,
        created_at: i64,
        last_changed: i64,
    }
);

item!(
    /// `GET /new/v2.0/locales?projectId=P`.
    Locale {
        reference_id: String,
        name: String,
        primary: bool,
        nlu_language: String,
        fallback_locale_reference: String,
        created_at: i64,
        last_changed: i64,
    }
);

item!(
    /// Lexicons, playbooks, knowledge stores, AI agents: the fields the audit needs.
    GenericAsset {
        name: String,
        description: String,
        reference_id: String,
        created_at: i64,
        last_changed: i64,
        created_by: String,
        last_changed_by: String,
    }
);

item!(
    /// `GET /new/v2.0/users` and `GET /new/v2.0/users/{userId}` (the latter adds roles,
    /// projects and `disabled`).
    User {
        #[serde(rename = "id")]
        email: String,
        name: String,
        last_active: i64,
        created_at: i64,
        last_changed: i64,
        roles: Vec<String>,
        projects: Vec<String>,
        disabled: bool,
    }
);

item!(
    /// `GET /new/v2.0/projects/{projectId}/members`.
    Member {
        #[serde(rename = "id")]
        email: String,
        name: String,
        roles: Vec<String>,
    }
);

item!(
    /// `GET /new/v2.0/auditevents?projectId=P`.
    AuditEvent {
        timestamp: i64,
        #[serde(rename = "type")]
        event_type: String,
        action_type: String,
        user_reference: String,
        project_reference: String,
    }
);

/// An RFC 7807 problem body as Cognigy sends it. Every field may be missing; `code` may be a
/// number or a string.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(default, deserialize_with = "lenient")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<u16>,
    #[serde(default, deserialize_with = "lenient")]
    pub detail: Option<String>,
    #[serde(default, deserialize_with = "lenient_code")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub trace_id: Option<String>,
}

/// Deserialise an optional field, turning `null` or a value of the wrong type into `None`.
pub(crate) fn lenient<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(de)?;
    Ok(serde_json::from_value(value).ok())
}

fn lenient_code<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(de)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_accepts_both_cursor_spellings_and_missing_fields() {
        let new: Page<Flow> = serde_json::from_str(
            r#"{"items":[{"_id":"a","name":"Main","isTrainingOutOfDate":"yes"}],"nextCursor":"c1"}"#,
        )
        .unwrap();
        assert_eq!(new.next_cursor.as_deref(), Some("c1"));
        assert_eq!(new.items[0].name.as_deref(), Some("Main"));
        assert_eq!(new.items[0].is_training_out_of_date, None, "wrong type becomes None");
        let old: Page<Flow> = serde_json::from_str(r#"{"items":[],"next":"c2","total":0}"#).unwrap();
        assert_eq!(old.next_cursor.as_deref(), Some("c2"));
        let null: Page<Flow> = serde_json::from_str(r#"{"items":[],"nextCursor":null}"#).unwrap();
        assert_eq!(null.next_cursor, None);
    }

    #[test]
    fn problem_code_may_be_number_or_string() {
        let p: Problem = serde_json::from_str(r#"{"status":401,"code":401,"traceId":"t-1"}"#).unwrap();
        assert_eq!(p.code.as_deref(), Some("401"));
        let p: Problem = serde_json::from_str(r#"{"code":"1002"}"#).unwrap();
        assert_eq!(p.code.as_deref(), Some("1002"));
    }

    #[test]
    fn created_key_debug_hides_the_key() {
        let k: CreatedApiKey =
            serde_json::from_str(r#"{"_id":"x","createdAt":1,"apiKey":"sbx_secret"}"#).unwrap();
        assert!(!format!("{k:?}").contains("sbx_secret"));
    }
}
