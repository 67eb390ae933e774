//! The API routes under `/new`: management (HTTP Basic) and resource lists (API key).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::Value;

use super::KeyRoutes;
use super::lists::to_json;
use super::model::{AssetKind, MemberView, Organisation, UserListView};
use super::paging::{PageQuery, Pageable, QueryParams, select};
use super::problem::Problem;
use super::state::{InFlight, InjectedFault, KeyCheck, Shared, Stats};

/// Largest JSON request body the API accepts (the contract's limit).
pub(crate) const MAX_BODY_BYTES: usize = 60 * 1024;

const ORGANISATIONS: &str = "/new/management/v2.0/organisations";

pub(crate) fn api_router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new().route(ORGANISATIONS, get(list_organisations));
    if matches!(shared.key_routes, KeyRoutes::Both | KeyRoutes::Path) {
        router = router.route(
            "/new/management/v2.0/organisations/{organisation_id}/apikeys",
            post(create_key_path_form),
        );
    }
    if matches!(shared.key_routes, KeyRoutes::Both | KeyRoutes::Body) {
        router = router.route(
            "/new/management/v2.0/organisations/apikeys",
            post(create_key_body_form),
        );
    }
    router
        .route("/new/v2.0/projects", get(list_projects))
        .route("/new/v2.0/users", get(list_users))
        .route("/new/v2.0/users/{user_id}", get(get_user))
        .route("/new/v2.0/projects/{project_id}/members", get(list_members))
        .route("/new/v2.0/{list}", get(list_assets))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            count_and_delay,
        ))
        .with_state(shared)
}

/// Counts every API request, tracks concurrency, adds the configured latency and answers
/// management routes with 503 during an injected outage.
async fn count_and_delay(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    Stats::bump(&s.stats.requests_total);
    let management = req.uri().path().starts_with("/new/management/");
    if management {
        Stats::bump(&s.stats.management_requests);
    }
    let _in_flight = InFlight::enter(&s.stats);
    let faults = s.faults();
    let delay = s.latency + Duration::from_millis(faults.extra_latency_ms);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if management && faults.management_outage {
        Stats::bump(&s.stats.failed_injected);
        return Problem::status(
            StatusCode::SERVICE_UNAVAILABLE,
            "the management API is unavailable (injected outage)",
            req.uri().path(),
        )
        .into_response();
    }
    next.run(req).await
}

async fn route_not_found(uri: Uri) -> Problem {
    Problem::status(
        StatusCode::NOT_FOUND,
        format!("no route {} on this install", uri.path()),
        uri.path(),
    )
}

async fn method_not_allowed(uri: Uri) -> Problem {
    Problem::status(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed on {}", uri.path()),
        uri.path(),
    )
}

pub(crate) fn json_ok(bytes: Vec<u8>) -> Response {
    super::json_bytes_response(StatusCode::OK, bytes)
}

// ---------------------------------------------------------------------------------------------
// Management routes

fn check_basic_auth(s: &Shared, headers: &HeaderMap, path: &str) -> Result<(), Problem> {
    let unauthorized =
        |detail: &str| Problem::status(StatusCode::UNAUTHORIZED, detail.to_string(), path);
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("management routes need HTTP Basic credentials"))?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .ok_or_else(|| unauthorized("management routes need HTTP Basic credentials"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| unauthorized("the Basic credentials are not valid base64"))?;
    let (user, pass) = decoded.split_once(':').unwrap_or((&decoded, ""));
    if s.credentials_match(user, pass) {
        Ok(())
    } else {
        Err(unauthorized("wrong management username or password"))
    }
}

async fn list_organisations(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    check_basic_auth(&s, &headers, uri.path())?;
    let q = page_query(&QueryParams::parse(query.as_deref()), uri.path())?;
    let data = s.data();
    let organisations = std::slice::from_ref(&data.organisation);
    let page =
        select(organisations, &q).map_err(|e| Problem::bad_argument(e.to_string(), uri.path()))?;
    Ok(json_ok(to_json(&page.envelope(|o| o))))
}

async fn create_key_path_form(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    Path(organisation_id): Path<String>,
) -> Result<Response, Problem> {
    check_basic_auth(&s, &headers, uri.path())?;
    issue_key_for(&s, &organisation_id, uri.path())
}

async fn create_key_body_form(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, Problem> {
    check_basic_auth(&s, &headers, uri.path())?;
    let body = read_json_object(body, uri.path()).await?;
    let organisation_id = body
        .get("organisationId")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Problem::bad_argument(
                "the body must name the organisation: {\"organisationId\": \"<24-hex id>\"}",
                uri.path(),
            )
        })?;
    issue_key_for(&s, organisation_id, uri.path())
}

fn issue_key_for(s: &Shared, organisation_id: &str, path: &str) -> Result<Response, Problem> {
    if organisation_id != s.organisation_id {
        return Err(Problem::not_found(
            format!("organisation '{organisation_id}' does not exist"),
            path,
        ));
    }
    let key = s.issue_key();
    Ok(json_ok(to_json(&key)))
}

/// Reads a request body of at most [`MAX_BODY_BYTES`] as a JSON object.
pub(crate) async fn read_json_object(
    body: Body,
    path: &str,
) -> Result<serde_json::Map<String, Value>, Problem> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                413,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                path,
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Problem::bad_argument(
            "the request body must be a JSON object",
            path,
        )),
        Err(e) => Err(Problem::bad_argument(
            format!("the request body is not valid JSON: {e}"),
            path,
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Resource routes

/// Everything a resource request must pass before its route runs: the route must exist on this
/// install, the API key must be valid, and no injected fault may hit it.
fn admit(
    s: &Shared,
    route: &str,
    headers: &HeaderMap,
    params: &QueryParams,
    path: &str,
) -> Result<(), Problem> {
    if s.disabled_routes.contains(route) {
        return Err(Problem::status(
            StatusCode::NOT_FOUND,
            format!("no route {path} on this install"),
            path,
        ));
    }
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| params.get("api_key"))
        .filter(|k| !k.is_empty());
    let verdict = key.map_or(KeyCheck::Unknown, |k| s.check_key(k));
    match verdict {
        KeyCheck::Valid => {}
        KeyCheck::Expired => {
            Stats::bump(&s.stats.rejected_expired);
            return Err(Problem::status(
                StatusCode::UNAUTHORIZED,
                "the API key has expired; create a new one",
                path,
            ));
        }
        KeyCheck::Unknown => {
            Stats::bump(&s.stats.rejected_invalid);
            let detail = if key.is_none() {
                "no API key: send it in the X-API-Key header"
            } else {
                "the API key is not valid"
            };
            return Err(Problem::status(StatusCode::UNAUTHORIZED, detail, path));
        }
    }
    match s.roll_fault() {
        None => Ok(()),
        Some(InjectedFault::RateLimited { retry_after_s }) => {
            Stats::bump(&s.stats.rate_limited);
            Err(Problem::status(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests (injected)",
                path,
            )
            .with_retry_after(retry_after_s))
        }
        Some(InjectedFault::Error { status }) => {
            Stats::bump(&s.stats.failed_injected);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Err(Problem::status(status, "injected failure", path))
        }
    }
}

fn page_query(params: &QueryParams, path: &str) -> Result<PageQuery, Problem> {
    PageQuery::from_params(params).map_err(|e| Problem::bad_argument(e.to_string(), path))
}

/// The `projectId` a per-project route needs (any value that names no project is a 404).
fn project_id_param<'a>(params: &'a QueryParams, path: &str) -> Result<&'a str, Problem> {
    params
        .get("projectId")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            Problem::bad_argument(
                "query parameter 'projectId' is required for this list",
                path,
            )
        })
}

fn unknown_project(project_id: &str, path: &str) -> Problem {
    Problem::not_found(format!("project '{project_id}' does not exist"), path)
}

async fn list_projects(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let path = uri.path();
    let params = QueryParams::parse(query.as_deref());
    admit(&s, "projects", &headers, &params, path)?;
    let q = page_query(&params, path)?;
    let data = s.data();
    let page = select(data.projects.as_slice(), &q)
        .map_err(|e| Problem::bad_argument(e.to_string(), path))?;
    Ok(json_ok(to_json(&page.envelope(|p| p))))
}

async fn list_users(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let path = uri.path();
    let params = QueryParams::parse(query.as_deref());
    admit(&s, "users", &headers, &params, path)?;
    let q = page_query(&params, path)?;
    let data = s.data();
    let page = select(data.users.as_slice(), &q)
        .map_err(|e| Problem::bad_argument(e.to_string(), path))?;
    Ok(json_ok(to_json(&page.envelope(UserListView::from))))
}

async fn get_user(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
    Path(user_id): Path<String>,
) -> Result<Response, Problem> {
    let path = uri.path();
    let params = QueryParams::parse(query.as_deref());
    admit(&s, "users", &headers, &params, path)?;
    let data = s.data();
    let user = data
        .users
        .get(&user_id)
        .ok_or_else(|| Problem::not_found(format!("user '{user_id}' does not exist"), path))?;
    Ok(json_ok(to_json(user)))
}

impl Pageable for Organisation {
    fn page_id(&self) -> &str {
        &self.id
    }
    fn page_name(&self) -> Option<&str> {
        Some(&self.name)
    }
    fn sort_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Pageable for MemberView<'_> {
    fn page_id(&self) -> &str {
        self.user_id
    }
    fn page_name(&self) -> Option<&str> {
        Some(self.name)
    }
    fn sort_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

async fn list_members(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
    Path(project_id): Path<String>,
) -> Result<Response, Problem> {
    let path = uri.path();
    let params = QueryParams::parse(query.as_deref());
    admit(&s, "members", &headers, &params, path)?;
    let q = page_query(&params, path)?;
    let data = s.data();
    let assets = data
        .assets
        .get(&project_id)
        .ok_or_else(|| unknown_project(&project_id, path))?;
    // Members lists are short (a handful per project): joining them with users is cheap.
    let views: Vec<MemberView<'_>> = assets
        .members
        .iter()
        .map(|m| {
            let user = data.users.get(&m.user_id);
            MemberView {
                user_id: &m.user_id,
                email: user.map_or("", |u| u.email.as_str()),
                name: user.map_or("", |u| u.name.as_str()),
                roles: &m.roles,
            }
        })
        .collect();
    let page = select(&views, &q).map_err(|e| Problem::bad_argument(e.to_string(), path))?;
    Ok(json_ok(to_json(&page.envelope(|v| v))))
}

async fn list_assets(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
    Path(list): Path<String>,
) -> Result<Response, Problem> {
    let path = uri.path();
    let Some(kind) = AssetKind::from_route_name(&list) else {
        return Err(route_not_found(uri.clone()).await);
    };
    let params = QueryParams::parse(query.as_deref());
    admit(&s, kind.route_name(), &headers, &params, path)?;
    let project_id = project_id_param(&params, path)?;
    let q = page_query(&params, path)?;
    let data = s.data();
    let assets = data
        .assets
        .get(project_id)
        .ok_or_else(|| unknown_project(project_id, path))?;
    let bytes = assets
        .list(kind)
        .page_json(&q)
        .map_err(|e| Problem::bad_argument(e.to_string(), path))?;
    Ok(json_ok(bytes))
}
