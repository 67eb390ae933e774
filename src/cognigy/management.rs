//! Management routes (HTTP Basic): organisations and Super API-Key creation.

use super::client::{Auth, Call, Http, RetryPolicy, Route};
use super::error::ApiError;
use super::model::{CreatedApiKey, Organisation, Page};
use crate::superkey::{IssuedKey, KeySource};
use futures::future::BoxFuture;
use reqwest::Method;
use secrecy::SecretString;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::sync::OnceCell;

const ORGANISATIONS: &str = "/new/management/v2.0/organisations";
const KEY_PATH_FORM: &str = "/new/management/v2.0/organisations/{organisationId}/apikeys";
const KEY_BODY_FORM: &str = "/new/management/v2.0/organisations/apikeys";

/// Which key-creation form the install answers: unknown, the documented path form, or the
/// body form of the official npm client.
const FORM_UNKNOWN: u8 = 0;
const FORM_PATH: u8 = 1;
const FORM_BODY: u8 = 2;

pub struct Management {
    http: Http,
    username: String,
    password: SecretString,
    key_form: AtomicU8,
}

impl std::fmt::Debug for Management {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Management")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl Management {
    pub fn new(http: Http, username: String, password: SecretString) -> Self {
        Management {
            http,
            username,
            password,
            key_form: AtomicU8::new(FORM_UNKNOWN),
        }
    }

    fn auth(&self) -> Auth<'_> {
        Auth::Basic {
            username: &self.username,
            password: &self.password,
        }
    }

    async fn call(
        &self,
        method: Method,
        route: &Route,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        policy: RetryPolicy,
    ) -> Result<bytes::Bytes, ApiError> {
        self.http
            .send(Call {
                method,
                route,
                query,
                body,
                auth: self.auth(),
                policy,
                stats: None,
            })
            .await
            .map_err(|e| match e {
                ApiError::Status {
                    status: 401,
                    path,
                    problem,
                    ..
                } => ApiError::Credentials {
                    username: self.username.clone(),
                    path,
                    status: 401,
                    trace_id: problem.trace_id,
                },
                other => other,
            })
    }

    /// Every organisation the management user sees (all pages).
    pub async fn organisations(&self) -> Result<Vec<Organisation>, ApiError> {
        let route = Route::fixed(ORGANISATIONS);
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "100")];
            if let Some(c) = &cursor {
                query.push(("next", c.as_str()));
            }
            let body = self
                .call(
                    Method::GET,
                    &route,
                    &query,
                    None,
                    self.http.default_policy(),
                )
                .await?;
            let page: Page<Organisation> = super::api::decode("GET", &route, &body)?;
            let next = super::api::next_cursor(&route, &page, cursor.as_deref())?;
            out.extend(page.items);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Creates a Super API-Key: the documented path form first; on 404/405 the body form,
    /// remembering which one this install answers.
    pub async fn create_super_key(&self, organisation_id: &str) -> Result<CreatedApiKey, ApiError> {
        // The key-creation POST is retried once by the client on 5xx/429/network errors;
        // the keeper's own backoff does the rest.
        let policy = RetryPolicy { max_attempts: 2 };
        let form = self.key_form.load(Ordering::Acquire);
        if form != FORM_BODY {
            let route = Route::with_path(
                KEY_PATH_FORM,
                format!("/new/management/v2.0/organisations/{organisation_id}/apikeys"),
            );
            match self.call(Method::POST, &route, &[], None, policy).await {
                Ok(body) => {
                    self.key_form.store(FORM_PATH, Ordering::Release);
                    return super::api::decode("POST", &route, &body);
                }
                Err(ApiError::Status {
                    status: s @ (404 | 405),
                    problem,
                    ..
                }) if form == FORM_UNKNOWN && !is_unknown_organisation(&problem) => {
                    tracing::info!(
                        status = s,
                        "the path form of the Super API-Key route is missing; trying the body form"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        let route = Route::fixed(KEY_BODY_FORM);
        let body = serde_json::json!({ "organisationId": organisation_id });
        match self
            .call(Method::POST, &route, &[], Some(&body), policy)
            .await
        {
            Ok(answer) => {
                self.key_form.store(FORM_BODY, Ordering::Release);
                super::api::decode("POST", &route, &answer)
            }
            Err(ApiError::Status {
                status: s @ (404 | 405),
                problem,
                ..
            }) if !is_unknown_organisation(&problem) => {
                Err(ApiError::SuperKeyUnavailable { status: s })
            }
            Err(e) => Err(e),
        }
    }
}

/// A 404 with code 1002 names a missing item (the organisation), not a missing route.
fn is_unknown_organisation(p: &super::model::Problem) -> bool {
    p.code.as_deref() == Some("1002")
}

/// The production [`KeySource`]: the management API, with the organisation id configured or
/// discovered once (when the management user sees exactly one organisation).
pub struct ManagementKeySource {
    management: Arc<Management>,
    organisation: OnceCell<String>,
}

impl ManagementKeySource {
    pub fn new(management: Arc<Management>, organisation_id: Option<String>) -> Self {
        let organisation = OnceCell::new();
        if let Some(id) = organisation_id {
            let _ = organisation.set(id);
        }
        ManagementKeySource {
            management,
            organisation,
        }
    }

    async fn organisation_id(&self) -> Result<&str, ApiError> {
        self.organisation
            .get_or_try_init(|| async {
                let orgs = self.management.organisations().await?;
                match orgs.as_slice() {
                    [only] => {
                        tracing::info!(organisation_id = %only.id, name = only.name.as_deref(), "discovered the organisation");
                        Ok(only.id.clone())
                    }
                    other => Err(ApiError::Organisation { count: other.len() }),
                }
            })
            .await
            .map(String::as_str)
    }
}

impl KeySource for ManagementKeySource {
    fn create(&self) -> BoxFuture<'_, Result<IssuedKey, ApiError>> {
        Box::pin(async move {
            let org = self.organisation_id().await?;
            let created = self.management.create_super_key(org).await?;
            Ok(IssuedKey {
                key: created.api_key,
                server_created_at: created.created_at,
            })
        })
    }
}
