//! Errors of the Cognigy client. They carry the route, the HTTP status and Cognigy's `traceId`
//! (what Cognigy support asks for), never a key or a password.

use super::model::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered with a non-success status (problem body parsed when present).
    #[error("{method} {path} answered {status}{}", problem_suffix(.problem))]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        problem: Box<Problem>,
    },
    /// The management route refused the Basic credentials.
    #[error(
        "the Cognigy management API rejected the credentials of user `{username}` ({status}{}) on {path}: \
         check cognigy.management_username and the management password",
        trace_suffix(.trace_id)
    )]
    Credentials {
        username: String,
        path: String,
        status: u16,
        trace_id: Option<String>,
    },
    /// No answer: connection refused, DNS, TLS, timeout.
    #[error("{method} {path} failed: {message}")]
    Transport {
        method: &'static str,
        path: String,
        message: String,
    },
    /// The answer was not what the contract describes.
    #[error("{method} {path}: unexpected answer: {message}")]
    Decode {
        method: &'static str,
        path: String,
        message: String,
    },
    /// Neither form of the Super API-Key route exists on this install.
    #[error(
        "the install has no Super API-Key route (both POST /new/management/v2.0/organisations/{{id}}/apikeys \
         and POST /new/management/v2.0/organisations/apikeys answered {status}): enable \
         FEATURE_USE_SUPERAPIKEY_API in the Cognigy install's cognigyEnv"
    )]
    SuperKeyUnavailable { status: u16 },
    /// The organisation id could not be discovered.
    #[error(
        "cannot choose an organisation: the management user sees {count} organisations; \
         set cognigy.organisation_id"
    )]
    Organisation { count: usize },
    /// The client could not be built (for example an unreadable CA file).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

impl ApiError {
    /// Cognigy's trace id, when the answer carried one.
    pub fn trace_id(&self) -> Option<&str> {
        match self {
            ApiError::Status { problem, .. } => problem.trace_id.as_deref(),
            ApiError::Credentials { trace_id, .. } => trace_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. }
            | ApiError::Credentials { status, .. }
            | ApiError::SuperKeyUnavailable { status } => Some(*status),
            _ => None,
        }
    }

    /// True when the whole route is missing on this install (404/405 without an item id).
    pub fn is_route_missing(&self) -> bool {
        matches!(
            self,
            ApiError::Status {
                status: 404 | 405,
                ..
            }
        )
    }
}

fn trace_suffix(trace_id: &Option<String>) -> String {
    trace_id
        .as_ref()
        .map(|t| format!(", traceId {t}"))
        .unwrap_or_default()
}

fn problem_suffix(p: &Problem) -> String {
    let mut s = String::new();
    if let Some(title) = &p.title {
        s.push(' ');
        s.push_str(title);
    }
    let mut extra = Vec::new();
    if let Some(code) = &p.code {
        extra.push(format!("code {code}"));
    }
    if let Some(t) = &p.trace_id {
        extra.push(format!("traceId {t}"));
    }
    if !extra.is_empty() {
        s.push_str(&format!(" ({})", extra.join(", ")));
    }
    if let Some(d) = &p.detail {
        s.push_str(": ");
        s.push_str(d);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_error_keeps_code_detail_and_trace_id() {
        let e = ApiError::Status {
            method: "GET",
            path: "/new/v2.0/flows".into(),
            status: 401,
            problem: Box::new(Problem {
                title: Some("Unauthorized".into()),
                status: Some(401),
                detail: Some("key expired".into()),
                code: Some("401".into()),
                trace_id: Some("api--abc".into()),
            }),
        };
        assert_eq!(
            e.to_string(),
            "GET /new/v2.0/flows answered 401 Unauthorized (code 401, traceId api--abc): key expired"
        );
        assert_eq!(e.trace_id(), Some("api--abc"));
    }
}
