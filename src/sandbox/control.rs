//! Control routes under `/_sandbox/` (no authentication, not counted in the stats): counters,
//! fault injection, key revocation, the whole organisation, and item mutations.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use super::faults::{Faults, FaultsPatch};
use super::lists::to_json;
use super::mutate::{MutationError, MutationTarget};
use super::paging::QueryParams;
use super::problem::{CODE_BAD_ARGUMENT, CODE_NOT_FOUND, Problem};
use super::routes::{json_ok, read_json_object};
use super::state::Shared;

pub(crate) fn control_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sandbox/stats", get(stats))
        .route("/_sandbox/faults", get(get_faults).post(patch_faults))
        .route("/_sandbox/faults/reset", post(reset_faults))
        .route("/_sandbox/revoke-keys", post(revoke_keys))
        .route("/_sandbox/organisation", get(organisation))
        .route("/_sandbox/assets/{kind}", post(create_item))
        .route(
            "/_sandbox/assets/{kind}/{id}",
            patch(patch_item).delete(delete_item),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

async fn method_not_allowed(uri: Uri) -> Problem {
    Problem::status(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed on {}", uri.path()),
        uri.path(),
    )
}

async fn stats(State(s): State<Arc<Shared>>) -> Response {
    json_ok(to_json(&s.stats.snapshot()))
}

async fn get_faults(State(s): State<Arc<Shared>>) -> Response {
    json_ok(to_json(&s.faults()))
}

async fn patch_faults(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    body: Body,
) -> Result<Response, Problem> {
    let body = read_json_object(body, uri.path()).await?;
    let patch: FaultsPatch = serde_json::from_value(Value::Object(body))
        .map_err(|e| Problem::bad_argument(format!("invalid faults: {e}"), uri.path()))?;
    patch
        .validate()
        .map_err(|e| Problem::bad_argument(format!("invalid faults: {e}"), uri.path()))?;
    let mut faults = s.faults_mut();
    faults.apply(&patch);
    Ok(json_ok(to_json(&*faults)))
}

async fn reset_faults(State(s): State<Arc<Shared>>) -> Response {
    let mut faults = s.faults_mut();
    *faults = Faults::default();
    json_ok(to_json(&*faults))
}

async fn revoke_keys(State(s): State<Arc<Shared>>) -> Response {
    let revoked = s.revoke_keys();
    json_ok(to_json(&json!({ "revoked": revoked })))
}

async fn organisation(State(s): State<Arc<Shared>>) -> Response {
    let bytes = to_json(&*s.data());
    json_ok(bytes)
}

fn target(kind: &str, path: &str) -> Result<MutationTarget, Problem> {
    MutationTarget::from_type(kind)
        .ok_or_else(|| mutation_problem(MutationError::UnknownType(kind.to_string()), path))
}

fn mutation_problem(e: MutationError, path: &str) -> Problem {
    let (status, code) = match &e {
        MutationError::UnknownType(_)
        | MutationError::UnknownProject(_)
        | MutationError::UnknownUser(_)
        | MutationError::NotFound { .. } => (StatusCode::NOT_FOUND, CODE_NOT_FOUND),
        MutationError::Duplicate { .. } => (StatusCode::CONFLICT, 409),
        MutationError::MissingProjectId(_)
        | MutationError::MissingUserId
        | MutationError::InvalidId(_)
        | MutationError::IdChange
        | MutationError::Field { .. } => (StatusCode::BAD_REQUEST, CODE_BAD_ARGUMENT),
    };
    Problem::new(status, code, e.to_string(), path)
}

async fn create_item(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    Path(kind): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let path = uri.path();
    let target = target(&kind, path)?;
    let body = read_json_object(body, path).await?;
    let now = s.clock_now();
    let item = s
        .data_mut()
        .create_item(target, body, now)
        .map_err(|e| mutation_problem(e, path))?;
    Ok(json_ok(to_json(&item)))
}

async fn patch_item(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    Path((kind, id)): Path<(String, String)>,
    body: Body,
) -> Result<Response, Problem> {
    let path = uri.path();
    let target = target(&kind, path)?;
    let mut body = read_json_object(body, path).await?;
    let params = QueryParams::parse(query.as_deref());
    // `projectId` locates the item; it is not a field to merge.
    let from_body = match body.remove("projectId") {
        Some(Value::String(p)) => Some(p),
        _ => None,
    };
    let project_id = params.get("projectId").map(str::to_string).or(from_body);
    let item = s
        .data_mut()
        .patch_item(target, &id, project_id.as_deref(), body)
        .map_err(|e| mutation_problem(e, path))?;
    Ok(json_ok(to_json(&item)))
}

async fn delete_item(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let path = uri.path();
    let target = target(&kind, path)?;
    let params = QueryParams::parse(query.as_deref());
    let item = s
        .data_mut()
        .delete_item(target, &id, params.get("projectId"))
        .map_err(|e| mutation_problem(e, path))?;
    Ok(json_ok(to_json(&item)))
}
