//! RFC 7807 problem answers, shaped like Cognigy's:
//! `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"...",
//!   "instance":"/v2.0/flows","code":401,"traceId":"api--<uuid>","details":{}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Cognigy's code for "bad argument".
pub const CODE_BAD_ARGUMENT: u32 = 1000;
/// Cognigy's code for "resource not found".
pub const CODE_NOT_FOUND: u32 = 1002;

/// A problem answer under construction. Every one gets a fresh `traceId` when it is sent.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: u32,
    pub detail: String,
    /// The request path without the `/new` prefix.
    pub instance: String,
    pub retry_after_s: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: u32, detail: impl Into<String>, path: &str) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            instance: instance_of(path),
            retry_after_s: None,
        }
    }

    /// A problem whose `code` repeats the HTTP status.
    pub fn status(status: StatusCode, detail: impl Into<String>, path: &str) -> Self {
        Self::new(status, u32::from(status.as_u16()), detail, path)
    }

    pub fn bad_argument(detail: impl Into<String>, path: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, CODE_BAD_ARGUMENT, detail, path)
    }

    pub fn not_found(detail: impl Into<String>, path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, CODE_NOT_FOUND, detail, path)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }
}

/// `/new/v2.0/flows` -> `/v2.0/flows` (what Cognigy puts in `instance`).
fn instance_of(path: &str) -> String {
    path.strip_prefix("/new").unwrap_or(path).to_string()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    instance: &'a str,
    code: u32,
    trace_id: String,
    details: serde_json::Map<String, serde_json::Value>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Body {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            instance: &self.instance,
            code: self.code,
            trace_id: format!("api--{}", uuid::Uuid::new_v4()),
            details: serde_json::Map::new(),
        };
        let mut response = super::json_response(self.status, &body);
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn problem_body_has_every_field_and_a_fresh_trace_id() {
        let body = |p: Problem| async move {
            let r = p.into_response();
            let bytes = axum::body::to_bytes(r.into_body(), 10_000).await.unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        let p = Problem::status(StatusCode::UNAUTHORIZED, "no key", "/new/v2.0/flows");
        let a = body(p.clone()).await;
        let b = body(p).await;
        assert_eq!(a["type"], "about:blank");
        assert_eq!(a["title"], "Unauthorized");
        assert_eq!(a["status"], 401);
        assert_eq!(a["code"], 401);
        assert_eq!(a["detail"], "no key");
        assert_eq!(a["instance"], "/v2.0/flows");
        assert_eq!(a["details"], serde_json::json!({}));
        assert!(a["traceId"].as_str().unwrap().starts_with("api--"));
        assert_ne!(a["traceId"], b["traceId"]);
    }

    #[test]
    fn retry_after_header_is_set() {
        let r = Problem::status(StatusCode::TOO_MANY_REQUESTS, "slow down", "/x")
            .with_retry_after(3)
            .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
    }
}
